"""The lane-group step with convex collider pairs (kernels/simt_collision.h's convex instance:
GJK/EPA, MuJoCo 4's multicontact, plane-mesh, height fields, the midphase box test) on the CPU
emulation, against the native CPU step:

* contacts bit for bit (count, order, every field) as the native forward's at every 10th state
  of a pile of meshes, cylinders, boxes and a capsule falling onto a floor and a height field;
* Simulator(backend="simt") over a trajectory with contacts, each step against the native step
  from the same start state: the contacts bit for bit (the bodies are free, so the kinematics
  hold no sin/cos and the frames are the native ones), the rows count, the state within
  STEP_*_TOL (the Newton solver's lane sums round differently from the native solver's, and the
  quaternion integration goes through simt::sincos: tests/test_simt_step.py);
* the recorded run (counting float, address recorder) writes the same bits, with no location
  shared by lanes within a phase;
* on CUDA (the kernels' convex instance, simt_step_kernel<N, true>), Simulator(backend="simt")
  stepping the pile in lockstep with the CPU emulation: contacts and state bit for bit;
* with PWS_MENAGERIE, Unitree G1 (mesh feet and body) the same way.
"""

import os

import mujoco
import numpy as np
import pytest
import torch

import oracle
import pywarp_sim as pws
from pywarp_sim import native, simt
from backends import simulator
from tolerances import FREE_TRAJ_QPOS_TOL, STEP_QPOS_TOL, STEP_QVEL_TOL

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))

GROUPS = simt.GROUP_SIZES
NWORLD = 4

_RNG = np.random.default_rng(5)
_HULL = " ".join(f"{v:.4f}" for v in (_RNG.normal(size=(24, 3)) * [.08, .06, .05]).ravel())
_BRICK = " ".join(f"{v:.4f}" for x in (-.06, .06) for y in (-.04, .04) for z in (-.03, .03) for v in (x, y, z))
_BUMPS = " ".join(f"{e:.3f}" for e in np.random.default_rng(7).uniform(0, 1, 5 * 6))
# A pile falling onto a floor and a height field: mesh hulls (an irregular one and a brick),
# cylinders, boxes and a capsule, free bodies; the dumbbell's three geoms give the midphase's box
# test (pair_obb) its pairs. Its contacts: plane-mesh, mesh-mesh, box-mesh, cylinder-mesh,
# capsule-mesh, cylinder-box, cylinder-cylinder, capsule-cylinder (GJK/EPA, multicontact), height
# field-mesh / -cylinder, and primitive pairs (plane-box, plane-cylinder, box-box, ...).
PILE = f"""
<mujoco model="convex_pile">
  <option timestep="0.004"/>
  <asset>
    <mesh name="hull" vertex="{_HULL}"/>
    <mesh name="brick" vertex="{_BRICK}"/>
    <hfield name="bumps" nrow="5" ncol="6" size=".4 .3 .05 .05" elevation="{_BUMPS}"/>
  </asset>
  <worldbody>
    <geom name="floor" type="plane" size="3 3 .1"/>
    <geom name="bumps" type="hfield" hfield="bumps" pos=".9 0 0"/>
    <body name="hull" pos="0 0 .25"><freejoint/><geom type="mesh" mesh="hull"/></body>
    <body name="brick" pos=".05 .1 .4" euler="20 10 0"><freejoint/><geom type="mesh" mesh="brick"/></body>
    <body name="drum" pos="-.05 -.08 .55" euler="70 0 20"><freejoint/><geom type="cylinder" size=".05 .07"/></body>
    <body name="crate" pos=".02 0 .7" euler="0 15 30"><freejoint/><geom type="box" size=".07 .05 .04"/></body>
    <body name="dumbbell" pos="0 .05 .9" euler="10 80 0"><freejoint/>
      <geom type="cylinder" size=".02 .08"/>
      <geom type="box" size=".05 .05 .02" pos="0 0 .1"/>
      <geom type="mesh" mesh="brick" pos="0 0 -.1"/>
    </body>
    <body name="pill" pos="-.03 .02 1.05" euler="80 0 0"><freejoint/><geom type="capsule" size=".03 .06"/></body>
    <body name="rock" pos=".85 .05 .2"><freejoint/><geom type="mesh" mesh="hull"/></body>
    <body name="can" pos=".95 -.1 .2" euler="30 40 0"><freejoint/><geom type="cylinder" size=".04 .05"/></body>
  </worldbody>
</mujoco>
"""

# what collision writes (Data.contact fields), per contact
CONTACT = ("dist", "pos", "frame", "includemargin", "friction", "solref", "solreffriction", "solimp", "dim", "geom",
           "exclude", "pair")
CONVEX_COLLIDER = 12  # collision_driver.Collider.CONVEX
MJ_MESH, MJ_HFIELD = int(mujoco.mjtGeom.mjGEOM_MESH), int(mujoco.mjtGeom.mjGEOM_HFIELD)
MJ_CYLINDER, MJ_BOX = int(mujoco.mjtGeom.mjGEOM_CYLINDER), int(mujoco.mjtGeom.mjGEOM_BOX)


def _bits(a: np.ndarray) -> np.ndarray:
  return a.view(np.uint32) if a.dtype == np.float32 else a


def _contacts(sim) -> dict:
  """Every contact field of every world (first ncon), as bit patterns."""
  c = sim.data.contact
  ncon = c.ncon.numpy().copy()
  out = {"ncon": ncon}
  for k in CONTACT:
    a = getattr(c, k).numpy()
    out[k] = [_bits(a[w, :ncon[w]]).copy() for w in range(sim.nworld)]
  return out


def _assert_same_contacts(ours: dict, ref: dict, label: str):
  np.testing.assert_array_equal(ours["ncon"], ref["ncon"], err_msg=f"{label}: ncon")
  for k in CONTACT:
    for w, (a, b) in enumerate(zip(ours[k], ref[k])):
      assert a.shape == b.shape and np.array_equal(a, b), f"{label} world {w}: contact {k} differs from native"


def _clear_contacts(sim):
  """NaN / -7 in everything collision writes, so a contact it leaves unwritten cannot pass."""
  c = sim.data.contact
  for k in CONTACT:
    a = getattr(c, k)
    a.fill_(float("nan") if a.numpy().dtype == np.float32 else -7)
  c.ncon.fill_(-7)
  c.overflow.fill_(0)


def _pair_kinds(mjm, contacts: dict) -> set:
  """The (type, type) geom pairs, sorted, that the contacts touch."""
  return {tuple(sorted(int(mjm.geom_type[g]) for g in pair)) for w in contacts["geom"] for pair in w}


def _pile(nworld=NWORLD, seed=1):
  """The pile's MjModel and a start state: qpos0 and small random velocities per world."""
  mjm = mujoco.MjModel.from_xml_string(PILE)
  rng = np.random.default_rng(seed)
  qpos = np.tile(mjm.qpos0, (nworld, 1))
  qvel = rng.normal(0, 0.3, (nworld, mjm.nv))
  return mjm, (qpos, qvel, np.zeros((nworld, 0)), np.zeros((nworld, 0)))


def _states(sim, nsteps, every):
  """The native states (qpos, qvel, qacc_warmstart) at every `every`-th of nsteps steps."""
  out = []
  for k in range(nsteps):
    if k % every == 0:
      out.append(tuple(getattr(sim.data, f).numpy().copy() for f in ("qpos", "qvel", "qacc_warmstart")))
    sim.step()
  return out


def _set(sim, qpos, qvel, warm):
  sim.data.qpos.assign(qpos)
  sim.data.qvel.assign(qvel)
  sim.data.qacc_warmstart.assign(warm)


def test_pile_has_the_convex_pairs_it_names():
  mjm, _ = _pile()
  pairs = simulator(mjm, 1, "native").model.collision
  assert pairs.nconvex > 0 and pairs.obb.numpy().sum() > 0, "no convex pairs or no midphase box test"


@pytest.mark.parametrize("group", GROUPS)
def test_collision_equals_native_bitwise_along_a_trajectory(group):
  """simt.collision from the native forward's frames at every 10th of 150 native steps (the pile
  lands from step ~25): the native contacts bit for bit, and every convex kind among them."""
  mjm, state = _pile()
  sim = simulator(mjm, NWORLD, "native")
  oracle.set_state(sim.data, *state)
  kinds, total = set(), 0
  for k, s in enumerate(_states(sim, 150, 10)):
    _set(sim, *s)
    sim.forward()
    ref = _contacts(sim)
    _clear_contacts(sim)
    simt.collision(sim, group_size=group)
    _assert_same_contacts(_contacts(sim), ref, f"state {10 * k}, group {group}")
    kinds |= _pair_kinds(mjm, ref)
    total += int(ref["ncon"].sum())
  for kind in ((0, MJ_MESH), (MJ_MESH, MJ_MESH), (MJ_BOX, MJ_MESH), (MJ_CYLINDER, MJ_BOX), (MJ_HFIELD, MJ_MESH)):
    assert tuple(sorted(kind)) in kinds, f"no {kind} contact in the trajectory: {sorted(kinds)}"
  assert total > 100, total


@pytest.mark.parametrize("group", GROUPS)
def test_simulator_steps_the_pile_as_the_native_step(group):
  """Simulator(backend="simt") for 100 steps (the pile lands from step ~25), each step against
  the native step from the same start state (a twin set to it): the contacts bit for bit (the
  bodies are free, so the frames are the native ones), the same rows count, qpos / qvel within
  STEP_*_TOL (the solver's lane sums and simt::sincos in the quaternion integration; measured
  worst 6.0e-8 / 1.9e-6 at every group size). Free running, a contact within rounding of its
  margin soon exists in one trajectory and not the other (measured here from step ~54): against
  backend="native" after 100 steps the state is held to FREE_TRAJ_QPOS_TOL (measured 8.6e-3), the
  one-step bounds are the test."""
  mjm, state = _pile()
  sim = simulator(mjm, NWORLD, "simt", group_size=group)
  ref = simulator(mjm, NWORLD, "native")
  twin = simulator(mjm, NWORLD, "native")
  for s in (sim, ref):
    oracle.set_state(s.data, *state)
  total = 0
  for k in range(100):
    _set(twin, *(getattr(sim.data, f).numpy().copy() for f in ("qpos", "qvel", "qacc_warmstart")))
    sim.step()
    twin.step()
    ref.step()
    _assert_same_contacts(_contacts(sim), _contacts(twin), f"step {k}, group {group}")
    np.testing.assert_array_equal(sim.data.efc.nefc.numpy(), twin.data.efc.nefc.numpy(), err_msg=f"step {k}: nefc")
    for field, tol in (("qpos", STEP_QPOS_TOL), ("qvel", STEP_QVEL_TOL)):
      err = oracle.rel_err(getattr(sim.data, field).numpy(), getattr(twin.data, field).numpy())
      assert err < tol, f"step {k}, group {group}: {field} vs the native step from the same state {err:.2e}"
    total += int(sim.ncon.numpy().sum())
  assert total > 500, total
  err = oracle.rel_err(sim.data.qpos.numpy(), ref.data.qpos.numpy())
  assert err < FREE_TRAJ_QPOS_TOL, f"group {group}: qpos vs backend='native' after 100 free steps {err:.2e}"
  assert torch.all(sim.health == 0) and torch.all(ref.health == 0)


def test_recorded_run_has_no_race_and_same_bits():
  """simt.step with the recorder (counting float, every access per lane) on the landed pile: the
  same bits as the plain run, no location shared by lanes within a phase (the recorder raises),
  collision counts recorded."""
  mjm, state = _pile()
  ref = simulator(mjm, NWORLD, "native")
  oracle.set_state(ref.data, *state)
  landed = _states(ref, 61, 60)[-1]
  fast, measured = (simulator(mjm, NWORLD, "native") for _ in range(2))
  for s in (fast, measured):
    _set(s, *landed)
    s.forward()
  simt.step(fast, nsteps=2, group_size=8)
  stats = simt.step(measured, nsteps=2, group_size=8, record=True)
  for field in ("qpos", "qvel", "qacc", "qacc_warmstart"):
    assert np.array_equal(_bits(getattr(fast.data, field).numpy()), _bits(getattr(measured.data, field).numpy())), field
  _assert_same_contacts(_contacts(measured), _contacts(fast), "recorded")
  assert fast.ncon.numpy().min() > 0
  col = stats["stages"]["collision"]
  assert col["phases"] > 0 and 0 < col["warp_instructions"] <= col["lane_instructions"] <= 8 * col["warp_instructions"]


# state the step writes, compared bit for bit between the CUDA kernel and the CPU emulation
STEPPED = ("qpos", "qvel", "time", "qacc", "qacc_warmstart", "qfrc_smooth", "qfrc_constraint", "xpos", "xquat")


@pytest.mark.gpu
@pytest.mark.parametrize("group", GROUPS)
def test_gpu_steps_the_pile_as_the_emulation_bitwise(group):
  """Simulator(backend="simt") on CUDA (the fused step's convex instance, simt_step_kernel<N,
  true>: ~40 KB of local memory per thread) and on the CPU (the emulation), from the same start
  state, 80 single steps and one call of 10 in lockstep (the pile lands from step ~25): after every
  call the contacts (count, order, every field), the rows count and the stepped state bit for bit,
  as tests/test_simt_backend.py's GPU tests hold the primitive instance (-fmad=false: kernels/simt.h
  rule 3); contacts present and convex pairs among them."""
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  mjm, state = _pile()
  cpu = simulator(mjm, NWORLD, "simt", group_size=group)
  gpu = pws.Simulator(pws.put_model(mjm, "cuda:0"), nworld=NWORLD, device="cuda:0", backend="simt", group_size=group)
  assert gpu.model.collision.nconvex > 0
  convex_pair = cpu.model.collision.collider.numpy() == CONVEX_COLLIDER
  for s in (cpu, gpu):
    oracle.set_state(s.data, *state)
  total = through_convex = 0
  for k, n in enumerate([1] * 80 + [10]):
    for s in (cpu, gpu):
      s.step(n)
    torch.cuda.synchronize()
    label = f"group {group}, call {k}"
    ours = _contacts(gpu)
    _assert_same_contacts(ours, _contacts(cpu), f"{label} (CUDA vs emulation)")
    np.testing.assert_array_equal(gpu.data.efc.nefc.numpy(), cpu.data.efc.nefc.numpy(), err_msg=f"{label}: nefc")
    for field in STEPPED:
      a, b = getattr(cpu.data, field).numpy(), getattr(gpu.data, field).numpy()
      assert np.array_equal(_bits(a), _bits(b)), (
        f"{label}: {field} CUDA vs emulation {np.nanmax(np.abs(a.astype(np.float64) - b)):.2e}")
    total += int(ours["ncon"].sum())
    through_convex += sum(int(convex_pair[w].sum()) for w in ours["pair"])
  np.testing.assert_array_equal(cpu.health.numpy(), gpu.health.cpu().numpy())
  assert total > 500 and through_convex > 0, (total, through_convex)


# ---- a Menagerie mesh robot ---------------------------------------------------------------------

MENAGERIE_ENV = "PWS_MENAGERIE"  # a mujoco_menagerie checkout (as tests/test_menagerie_mesh.py)
MENAGERIE = os.environ.get(MENAGERIE_ENV)


@pytest.mark.skipif(not MENAGERIE, reason=f"set {MENAGERIE_ENV} to a mujoco_menagerie checkout")
def test_unitree_g1_collision_and_steps_as_native():
  """Unitree G1 (scene.xml: 555 of its 615 pairs convex: mesh-mesh, sphere-mesh, cylinder-mesh,
  plane-mesh) in its stand keyframe's joint pose, laid on its side onto the floor. Its four
  sensors are disabled (mjDSBL_SENSOR): the lane-group step refused sensors when this test was
  written, and the subject here is the collision. simt.collision from the native frames every 10th of 60 steps: the native contacts bit for
  bit at 8 / 16 / 32 lanes, some from convex pairs; then from the landed state (step 50) 30 steps
  of Simulator(backend="simt"), each against the native step from the same start state: the same
  contact and row counts, qpos / qvel within STEP_*_TOL (hinges: simt::sincos, so the step's own
  frames are not bitwise)."""
  from bench import menagerie_mesh as mm

  mjm = mm.load(MENAGERIE, "unitree_g1")
  mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_SENSOR)
  key = mjm.key("stand")
  qpos = np.tile(key.qpos, (NWORLD, 1))
  qpos[:, 2] = 0.2  # lying on its side, its mesh hull touching the floor (plane-mesh, multicontact)
  qpos[:, 3:7] = (np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0)
  ctrl = np.tile(key.ctrl, (NWORLD, 1))
  qvel = np.random.default_rng(3).normal(0, 0.05, (NWORLD, mjm.nv))
  state = (qpos, qvel, ctrl, np.zeros((NWORLD, mjm.na)))
  sim = simulator(mjm, NWORLD, "native")
  assert sim.model.collision.nconvex > 0
  oracle.set_state(sim.data, *state)
  total = through_convex = 0
  convex_pair = sim.model.collision.collider.numpy() == CONVEX_COLLIDER
  states = _states(sim, 60, 10)
  for k, s in enumerate(states):
    _set(sim, *s)
    sim.forward()
    ref = _contacts(sim)
    total += int(ref["ncon"].sum())
    through_convex += sum(int(convex_pair[w].sum()) for w in ref["pair"])
    for group in GROUPS:
      _clear_contacts(sim)
      simt.collision(sim, group_size=group)
      _assert_same_contacts(_contacts(sim), ref, f"G1 state {10 * k}, group {group}")
  assert through_convex > 0, f"none of G1's {total} contacts came from a convex pair"
  lanes = simulator(mjm, NWORLD, "simt", group_size=8)
  twin = simulator(mjm, NWORLD, "native")
  for s in (lanes, twin):
    oracle.set_state(s.data, *state)  # the controls
  _set(lanes, *states[-1])  # landed: step 50
  for k in range(30):
    _set(twin, *(getattr(lanes.data, f).numpy().copy() for f in ("qpos", "qvel", "qacc_warmstart")))
    lanes.step()
    twin.step()
    np.testing.assert_array_equal(lanes.ncon.numpy(), twin.ncon.numpy(), err_msg=f"G1 step {k}: ncon")
    np.testing.assert_array_equal(lanes.data.efc.nefc.numpy(), twin.data.efc.nefc.numpy(), err_msg=f"G1 step {k}")
    for field, tol in (("qpos", STEP_QPOS_TOL), ("qvel", STEP_QVEL_TOL)):
      err = oracle.rel_err(getattr(lanes.data, field).numpy(), getattr(twin.data, field).numpy())
      assert err < tol, f"G1 step {k}: {field} vs the native step from the same state {err:.2e}"
  assert lanes.ncon.numpy().min() > 0 and torch.all(lanes.health == 0)
