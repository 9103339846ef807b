"""The lane-group collision and constraint rows (kernels/simt_collision.h,
kernels/simt_constraint.h): the CPU emulation against the native CPU forward bit for bit (the same
contacts in the same order, the same rows; the primitive colliders and, for models with convex
pairs, GJK/EPA and multicontact), contact overflow as the native driver flags it, the refusals by
name, the recording run's race check and counts; on a GPU, the CUDA kernels against
the emulation bit for bit."""

import mujoco
import numpy as np
import pytest
import torch

import assets
import oracle
import pywarp_sim as pws
from pywarp_sim import native, simt
from backends import assert_rows_equal, simulator

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))

GROUPS = (8, 16, 32)
NWORLD = 16

# what collision writes (Data.contact fields): per contact, then per world
CONTACT = ("dist", "pos", "frame", "includemargin", "friction", "solref", "solreffriction", "solimp", "dim", "geom",
           "exclude", "pair")
CONTACT_WORLD = ("ncon", "overflow")
# what make_constraint writes (Data.efc fields): per row, then per world
ROWS = ("efc_type", "efc_id", "efc_J", "efc_pos", "efc_margin", "efc_frictionloss", "efc_R", "efc_K", "efc_B",
        "efc_D")
ROWS_WORLD = ("nefc", "ne")


def _has_convex(mjm) -> bool:
  return simulator(mjm, 1, "native").model.collision.nconvex > 0


def _models():
  """(bit-identical models, models with convex pairs): the bundled humanoid and the test assets the
  native step runs without equality constraints (two_trees has neither limits nor contacts)."""
  plain, convex = [], []
  for name in ("humanoid", *assets.MODELS):
    mjm = oracle.mj_model(name)
    if mjm.neq > 0 or name == "two_trees":
      continue
    (convex if _has_convex(mjm) else plain).append(name)
  return plain, convex


PLAIN, CONVEX = _models()


def _bits(a: np.ndarray) -> np.ndarray:
  """Float arrays as their bit patterns (NaN and -0 compare exactly)."""
  return a.view(np.uint32) if a.dtype == np.float32 else a


def _native(sim, state):
  """The native CPU forward at `state`: its contacts and rows, per world (first ncon / nefc)."""
  oracle.set_state(sim.data, *state)
  sim.forward()
  return _contacts(sim), _rows(sim)


def _contacts(sim):
  c = sim.data.contact
  ncon = c.ncon.numpy()
  out = {k: getattr(c, k).numpy().copy() for k in CONTACT_WORLD}
  for k in CONTACT:
    a = getattr(c, k).numpy()
    out[k] = [_bits(a[w, :ncon[w]]).copy() for w in range(sim.nworld)]
  return out


def _rows(sim):
  e = sim.data.efc
  nefc = e.nefc.numpy()
  nv = sim.model.mj_model.nv
  out = {k: getattr(e, k).numpy().copy() for k in ROWS_WORLD}
  for k in ROWS:
    a = getattr(e, k).numpy()
    out[k] = [_bits(a[w, :nefc[w], :nv] if k == "efc_J" else a[w, :nefc[w]]).copy() for w in range(sim.nworld)]
  return out


def _poison(a):
  """NaN for a float array (of scalars, vectors or matrices), -7 for an int one."""
  return float("nan") if a.numpy().dtype == np.float32 else -7


def _clear_contacts(sim):
  """NaN / -7 in everything collision writes, so a contact it leaves unwritten cannot pass; the
  overflow flag 0, as a step begins (forward.h's begin_step)."""
  c = sim.data.contact
  for k in CONTACT:
    a = getattr(c, k)
    a.fill_(_poison(a))
  c.ncon.fill_(-7)
  c.overflow.fill_(0)


def _clear_rows(sim):
  e = sim.data.efc
  for k in ROWS:
    a = getattr(e, k)
    a.fill_(_poison(a))
  for k in ROWS_WORLD:
    getattr(e, k).fill_(-7)


def _check(sim, state, group, label):
  """collision then make_constraint on lane groups, each from the native forward's inputs, against
  the native forward's outputs bit for bit. Returns (ncon, nefc) per world."""
  ref_con, ref_rows = _native(sim, state)
  _clear_contacts(sim)
  simt.collision(sim, group_size=group)
  assert_rows_equal(_contacts(sim), ref_con, f"{label}, group {group}, collision")
  _clear_rows(sim)
  simt.make_constraint(sim, group_size=group)
  assert_rows_equal(_rows(sim), ref_rows, f"{label}, group {group}, rows")
  return ref_con["ncon"], ref_rows["nefc"]


# ---- the emulation against the native CPU forward ----------------------------------------------


@pytest.mark.parametrize("group", GROUPS)
def test_humanoid_dropped_and_lying_match_native_bitwise(group):
  mjm = oracle.mj_model("humanoid")
  falling = oracle.falling_states(mjm, NWORLD, seed=5)
  lying = oracle.lying_states(mjm, 4, seed=11)
  state = tuple(np.concatenate([a, b]) for a, b in zip(falling, lying))
  sim = simulator(mjm, len(state[0]), "native")
  ncon, nefc = _check(sim, state, group, "humanoid")
  assert ncon.max() >= 4 and (ncon >= 1).sum() >= NWORLD // 2, ncon
  assert nefc.max() >= 16, nefc


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("name", PLAIN)
def test_assets_tumbling_match_native_bitwise(name, group):
  """Random states of the test assets (hinge angles with a 1 rad spread: limits violated; bodies
  through the floor and each other: many pairs past the filter) and dropped ones."""
  mjm = oracle.mj_model(name)
  tumbling = oracle.random_state(mjm, NWORLD, seed=3, qpos_scale=1.0)
  sim = simulator(mjm, NWORLD, "native")
  ncon, nefc = _check(sim, tumbling, group, f"{name} tumbling")
  assert nefc.max() > 0, f"{name}: no rows in any world"
  if mjm.jnt_type[0] == int(mujoco.mjtJoint.mjJNT_FREE):
    dropped = oracle.falling_states(mjm, NWORLD, seed=7)
    _check(sim, dropped, group, f"{name} dropped")


def _equality_model(name):
  """A test asset with equality constraints, solimp powers 1 and 2 only (the lane-group rows have no
  powf: equality_zoo's hook has power 3, taken as 2 here)."""
  mjm = oracle.mj_model(name)
  mjm.eq_solimp[:, 4] = np.minimum(mjm.eq_solimp[:, 4], 2.0)
  return mjm


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("name", ["equality_zoo", "fourbar_biped"])
def test_equality_rows_match_native_bitwise(name, group):
  """Equality rows (connect and weld between bodies and between sites, joint and tendon
  polynomials, an inactive constraint) ahead of the limit and contact rows, at tumbling states
  with per-world eq_active (every constraint off in some world, the inactive one on in others):
  the rows, efc_ne and the equality rows' Jdot qvel (efc_jdotv) bit for bit as the native forward."""
  mjm = _equality_model(name)
  state = oracle.random_state(mjm, NWORLD, seed=9, qpos_scale=1.0)
  sim = simulator(mjm, NWORLD, "native")
  active = np.tile(mjm.eq_active0.astype(np.int32), (NWORLD, 1))
  rng = np.random.default_rng(9)
  active[NWORLD // 2:] = rng.integers(0, 2, (NWORLD - NWORLD // 2, mjm.neq))
  active[-1] = 0  # no equality rows at all
  sim.data.eq_active.assign(active)
  ncon, nefc = _check(sim, state, group, f"{name} tumbling")
  ne = sim.data.efc.ne.numpy()
  assert ne.max() > 0 and ne[-1] == 0 and len(set(ne.tolist())) > 1, ne
  assert (nefc > ne).any(), "no limit or contact rows after the equality rows"
  # efc_jdotv of the equality rows: the native forward's, then the lane group's from the same rows
  sim.forward()
  ref = sim.data.efc.efc_jdotv.numpy().copy()
  sim.data.efc.efc_jdotv.fill_(float("nan"))
  # measured (the recorder raises on a location shared by lanes within a phase): the same bits
  stats = simt.make_constraint(sim, group_size=group, record=True)
  assert stats["stages"]["equality"]["warp_instructions"] > 0
  ours = sim.data.efc.efc_jdotv.numpy()
  for w in range(NWORLD):
    assert np.array_equal(_bits(ours[w, :ne[w]]), _bits(ref[w, :ne[w]])), f"{name} world {w}: efc_jdotv"


def test_friction_loss_and_every_condim_match_native():
  """Dof friction-loss rows, and contacts of condim 1, 4 and 6 (frictionless and wider pyramids,
  torsional and rolling facets) next to the default 3."""
  mjm = oracle.mj_model("humanoid")
  mjm.dof_frictionloss[:] = 0.3
  mjm.geom_condim[:] = np.resize(np.array([1, 3, 4, 6]), mjm.ngeom)
  mjm.geom_friction[:, 1:] = (0.02, 0.002)
  state = oracle.lying_states(mjm, 3, seed=2)
  sim = simulator(mjm, 3, "native")
  _, nefc = _check(sim, state, 16, "humanoid condim 1/3/4/6")
  types = sim.data.efc.efc_type.numpy()
  for t in (1, 5, 6):  # friction dof, frictionless contact, pyramidal contact
    assert any((types[w, :nefc[w]] == t).any() for w in range(3)), f"no rows of type {t}"


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("name", CONVEX)
def test_convex_assets_tumbling_match_native_bitwise(name, group):
  """The test assets with convex pairs (cylinders against boxes, capsules and cylinders, the
  ellipsoid: GJK/EPA and multicontact in the collision's convex instance, the midphase box test
  of bodies with several geoms): tumbling and dropped states, contacts and rows bit for bit as
  the native forward."""
  mjm = oracle.mj_model(name)
  assert _has_convex(mjm)
  tumbling = oracle.random_state(mjm, NWORLD, seed=3, qpos_scale=1.0)
  sim = simulator(mjm, NWORLD, "native")
  ncon, nefc = _check(sim, tumbling, group, f"{name} tumbling")
  assert ncon.max() > 0 and nefc.max() > 0, f"{name}: no contacts in any world"
  dropped = oracle.falling_states(mjm, NWORLD, seed=7)
  _check(sim, dropped, group, f"{name} dropped")


@pytest.mark.parametrize("name", CONVEX)
def test_rows_from_convex_contacts_match_native(name):
  """The rows need no collider: make_constraint from the native contacts of the models with convex
  pairs."""
  mjm = oracle.mj_model(name)
  state = oracle.random_state(mjm, NWORLD, seed=4, qpos_scale=1.0)
  sim = simulator(mjm, NWORLD, "native")
  _, ref = _native(sim, state)
  assert ref["nefc"].max() > 0
  _clear_rows(sim)
  simt.make_constraint(sim, group_size=16)
  assert_rows_equal(_rows(sim), ref, f"{name} rows")


# Every primitive collider (plane with sphere / capsule / ellipsoid / cylinder / box, sphere with
# sphere / capsule / cylinder / box, capsule-capsule, capsule-box, box-box), explicit <pair>s with
# their own friction, solref, margin and gap (contacts in the gap: no rows), priority and solmix
# mixing, condim 1 / 3 / 4 / 6. Cylinders and the ellipsoid touch only the floor (contype 2) or the
# spheres (bit 8): their other pairs would need the convex collider.
PRIMITIVES_XML = """
<mujoco>
  <worldbody>
    <geom name="floor" type="plane" size="2 2 .1" friction="0.5 0.01 0.001" solref="0.03 1"
          solimp="0.8 0.9 0.002 0.5 2" conaffinity="3"/>
    <body name="b1" pos="0 0 .3"><freejoint/>
      <geom name="s1" type="sphere" size=".1" friction="1.2 0.02 0.003" solref="0.01 0.5"
            solimp="0.95 0.99 0.001 0.4 2" solmix="3" condim="6" margin="0.01" gap="0.005" conaffinity="9"/>
    </body>
    <body name="b2" pos="0 0 .3"><freejoint/>
      <geom name="c2" type="capsule" size=".05 .1" priority="1" friction="0.3 0.01 0.0001" condim="4"
            solref="-500 -20" solmix="0"/>
    </body>
    <body name="b3" pos="0 0 .3"><freejoint/>
      <geom name="x3" type="box" size=".08 .07 .06" margin="0.004"/>
      <body name="b3child" pos="0 0 0.15">
        <joint type="hinge" axis="1 0 0" range="-0.5 0.5" limited="true"/>
        <geom name="x3c" type="capsule" size=".04 .08"/>
      </body>
    </body>
    <body name="b4" pos="0 0 .3"><freejoint/>
      <geom name="x4" type="box" size=".1 .05 .04"/>
    </body>
    <body name="b5" pos="0 0 .3"><freejoint/>
      <geom name="s5" type="sphere" size=".09" condim="1" conaffinity="9"/>
    </body>
    <body name="b6" pos="0 0 .3"><freejoint/>
      <geom name="y6" type="cylinder" size=".06 .05" contype="2" conaffinity="0"/>
    </body>
    <body name="b7" pos="0 0 .3"><freejoint/>
      <geom name="e7" type="ellipsoid" size=".07 .05 .04" contype="2" conaffinity="0"/>
    </body>
    <body name="b8" pos="0 0 .3"><freejoint/>
      <geom name="y8" type="cylinder" size=".05 .06" contype="8" conaffinity="8"/>
    </body>
  </worldbody>
  <contact>
    <pair geom1="s1" geom2="c2" condim="3" friction="0.7 0.6 0.01 0.001 0.002" solref="0.02 1"
          solreffriction="0.05 0.8" margin="0.02" gap="0.01"/>
    <pair geom1="s5" geom2="floor" condim="1"/>
    <exclude body1="b4" body2="b5"/>
  </contact>
</mujoco>
"""


def _piled_states(mjm, n, seed):
  """Free bodies piled in a 0.3 m box above and through the floor, random orientations."""
  rng = np.random.default_rng(seed)
  qpos = np.tile(mjm.qpos0, (n, 1))
  for j in np.flatnonzero(mjm.jnt_type == int(mujoco.mjtJoint.mjJNT_FREE)):
    adr = mjm.jnt_qposadr[j]
    qpos[:, adr:adr + 2] = rng.normal(0, 0.1, (n, 2))
    qpos[:, adr + 2] = rng.uniform(-0.02, 0.25, n)
    q = rng.normal(size=(n, 4))
    qpos[:, adr + 3:adr + 7] = q / np.linalg.norm(q, axis=1, keepdims=True)
  qvel = rng.normal(0, 0.5, (n, mjm.nv))
  return qpos, qvel, np.zeros((n, mjm.nu)), np.zeros((n, mjm.na))


@pytest.mark.parametrize("group", (8, 32))
def test_every_primitive_collider_and_pair_parameters_match_native(group):
  mjm = mujoco.MjModel.from_xml_string(PRIMITIVES_XML)
  sim = simulator(mjm, 48, "native")
  assert sim.model.collision.nconvex == 0
  ncon, nefc = _check(sim, _piled_states(mjm, 48, seed=9), group, "primitives")
  pair = sim.data.contact.pair.numpy()
  exclude = sim.data.contact.exclude.numpy()
  geoms = sim.data.contact.geom.numpy()
  seen = {tuple(sorted(mjm.geom_type[g] for g in geoms[w, c])) for w in range(48) for c in range(ncon[w])}
  # mjtGeom: plane 0, sphere 2, capsule 3, ellipsoid 4, cylinder 5, box 6
  colliders = {(0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (2, 2), (2, 3), (2, 5), (2, 6), (3, 3), (3, 6), (6, 6)}
  assert colliders <= seen, f"colliders never exercised: {sorted(colliders - seen)}"
  assert max(ncon) >= 8 and (nefc > 0).all()
  assert any(exclude[w, :ncon[w]].any() for w in range(48)), "no contact in a pair's gap"
  assert len({int(p) for w in range(48) for p in pair[w, :ncon[w]]}) >= 10


def test_overflow_as_native():
  """More contacts than nconmax: the first nconmax in pair order, the flag set and one event
  counted per world, as the native driver."""
  mjm = oracle.mj_model("humanoid")
  state = oracle.lying_states(mjm, 4, seed=11)
  sim = simulator(mjm, 4, "native", nconmax=3)
  oracle.set_state(sim.data, *state)
  before = int(sim.data.contact.overflow_count.numpy()[0])
  sim.forward()
  native_events = int(sim.data.contact.overflow_count.numpy()[0]) - before
  ref = _contacts(sim)
  assert (ref["ncon"] == 3).all() and ref["overflow"].all(), (ref["ncon"], ref["overflow"])
  _clear_contacts(sim)
  before = int(sim.data.contact.overflow_count.numpy()[0])
  simt.collision(sim, group_size=8)
  assert int(sim.data.contact.overflow_count.numpy()[0]) - before == native_events == 4
  assert_rows_equal(_contacts(sim), ref, "overflow")
  # the flag is the step's: set already, a second pass counts no new event
  simt.collision(sim, group_size=8)
  assert int(sim.data.contact.overflow_count.numpy()[0]) - before == native_events


# ---- refusals -----------------------------------------------------------------------------------


def test_equality_solimp_powers_refused_by_name():
  """Elliptic cones run (tests/test_simt_elliptic.py); equality rows' solimp powers other than 1
  and 2 are refused."""
  mjm = oracle.mj_model("equality_zoo")  # the hook's solimp power is 3 (powf)
  with pytest.raises(ValueError, match="eq_solimp.*solimp power 3"):
    simt.make_constraint(simulator(mjm, 2, "native"))
  mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_EQUALITY)
  sim = simulator(mjm, 2, "native")
  sim.forward()
  simt.make_constraint(sim)  # no equality rows: their solimp is not read
  np.testing.assert_array_equal(sim.data.efc.ne.numpy(), 0)


def test_ball_limits_and_solimp_powers_refused_by_name():
  """atan2f (a ball joint's angle) and powf (solimp powers other than 1 and 2) round differently on
  CUDA and glibc: the lane-group rows refuse them."""
  mjm = oracle.mj_model("ball_humanoid")
  balls = np.flatnonzero(mjm.jnt_type == int(mujoco.mjtJoint.mjJNT_BALL))
  mjm.jnt_limited[balls[0]] = 1
  mjm.jnt_range[balls[0]] = (0.0, 0.3)
  with pytest.raises(ValueError, match="limited ball joint"):
    simt.make_constraint(simulator(mjm, 2, "native"))
  mjm = oracle.mj_model("humanoid")
  mjm.jnt_solimp[:, 4] = 3.0
  with pytest.raises(ValueError, match="solimp power 3"):
    simt.make_constraint(simulator(mjm, 2, "native"))


def test_group_size_refused():
  sim = simulator(oracle.mj_model("humanoid"), 2, "native")
  with pytest.raises(ValueError, match="group_size"):
    simt.collision(sim, group_size=4)


# ---- the recording run ----------------------------------------------------------------------------


def test_recording_run_same_bits_no_races_and_counts():
  """record=True (counting float, address recorder, race check in every phase): the same contacts
  and rows, and counts that describe the work."""
  mjm = oracle.mj_model("humanoid")
  state = oracle.falling_states(mjm, 8, seed=5)
  sim = simulator(mjm, 8, "native")
  ref_con, ref_rows = _native(sim, state)
  _clear_contacts(sim)
  coll = simt.collision_proxies(sim, group_size=32)
  assert_rows_equal(_contacts(sim), ref_con, "recorded collision")
  _clear_rows(sim)
  rows = simt.constraint_proxies(sim, group_size=32)
  assert_rows_equal(_rows(sim), ref_rows, "recorded rows")
  for p, stages in ((coll, simt.COLLISION_STAGES), (rows, simt.CONSTRAINT_STAGES)):
    assert set(p["stages"]) == set(stages)
    assert 0 < p["lane_efficiency"] <= 1 and p["instructions_per_world_step"] > 0
    assert p["sectors_per_request"] >= 1
  assert coll["contacts_per_world"] == ref_con["ncon"].mean()
  assert rows["rows_per_world"] == ref_rows["nefc"].mean()
  assert coll["stages"]["narrowphase"]["instructions_per_world_step"] > 0


# ---- on a GPU: the CUDA kernels against the emulation ------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("group", GROUPS)
def test_gpu_collision_and_rows_equal_the_emulation_bitwise(group):
  """The CUDA kernels (-fmad=false) and the CPU emulation from the same inputs (the CPU native
  forward's geom frames and smooth quantities, copied to the device): the same contacts and rows.
  The humanoid's rows call no libm transcendental (hinge limits, default solimp)."""
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  mjm = oracle.mj_model("humanoid")
  mjm.dof_frictionloss[:] = 0.3
  falling = oracle.falling_states(mjm, 40, seed=13)
  lying = oracle.lying_states(mjm, 4, seed=11)
  state = tuple(np.concatenate([a, b]) for a, b in zip(falling, lying))
  nworld = len(state[0])
  cpu = simulator(mjm, nworld, "native")
  _native(cpu, state)
  gpu = pws.Simulator(pws.put_model(mjm, "cuda:0"), nworld=nworld, device="cuda:0", backend="native")
  oracle.set_state(gpu.data, *state)
  gpu.forward()  # the device's own smooth quantities are replaced below by the CPU's
  for name in ("geom_xpos", "geom_xmat", "qpos", "cdof", "subtree_com"):
    getattr(gpu.data, name).assign(getattr(cpu.data, name).numpy())
  for sim in (cpu, gpu):
    _clear_contacts(sim)
    simt.collision(sim, group_size=group)
  torch.cuda.synchronize()
  assert_rows_equal(_contacts(gpu), _contacts(cpu), f"group {group}: GPU collision vs emulation")
  for sim in (cpu, gpu):
    _clear_rows(sim)
    simt.make_constraint(sim, group_size=group)
  torch.cuda.synchronize()
  assert_rows_equal(_rows(gpu), _rows(cpu), f"group {group}: GPU rows vs emulation")
