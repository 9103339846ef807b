"""Elliptic friction cones on the lane-group step (kernels/simt_constraint.h, kernels/simt_solver.h),
lanes emulated on the CPU: the rows (efc_type kCnstrContactElliptic, efc_dim, efc_coef, R / D with
impratio, B of solreffriction, the cone directions' Jacobians) against the native CPU forward's
bit for bit; the Newton solve (cone states 0 / 1 / 3, the cone Hessian blocks) against the native
solver within the Newton bound, as the pyramidal rows (the lane sums round differently:
kernels/simt_solver.h); the fused step's trajectory against the native step and MuJoCo C within the
contact-trajectory bounds, and Simulator(backend="simt") against simt.step bit for bit; the
recording run's race check; with PWS_MENAGERIE, Menagerie's elliptic-cone quadrupeds on
Simulator(backend="simt") against backend="native"."""

import copy
import os

import mujoco
import numpy as np
import pytest

import oracle
from pywarp_sim import native, simt
from backends import assert_rows_equal, data_array, simulator
from tolerances import CONTACT_TRAJ_QPOS_TOL, CONTACT_TRAJ_QVEL_TOL, NEWTON_QACC_TOL

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))

GROUPS = (8, 16, 32)
ELLIPTIC = int(mujoco.mjtConstraint.mjCNSTR_CONTACT_ELLIPTIC)

# Bodies of condim 1, 3, 4 and 6 on a plane and on each other, an explicit pair with its own
# solreffriction (the friction rows' B) and condim 6, impratio 3 (friction rows' R = normal R / 3
# scaled by the friction ratios). Primitive colliders only (sphere, capsule, box against the plane;
# sphere-sphere, sphere-capsule): the lane-group collision runs them.
SCENE = """
<mujoco model="elliptic_scene">
  <option timestep="0.004" cone="elliptic" impratio="3"/>
  <worldbody>
    <geom name="floor" type="plane" size="3 3 0.1" friction="0.9 0.02 0.002"/>
    <body name="ball3" pos="0 0 0.12">
      <freejoint/>
      <geom name="ball3" type="sphere" size="0.1" condim="3" friction="0.7 0.01 0.001"/>
    </body>
    <body name="ball6" pos="0.05 0.02 0.34">
      <freejoint/>
      <geom name="ball6" type="sphere" size="0.1" condim="6" friction="0.8 0.03 0.004"/>
    </body>
    <body name="capsule4" pos="0.5 0 0.1">
      <freejoint/>
      <geom name="capsule4" type="capsule" size="0.06 0.2" euler="0 90 0" condim="4" friction="1.0 0.05 0.001"/>
    </body>
    <body name="box6" pos="-0.5 0 0.12">
      <freejoint/>
      <geom name="box6" type="box" size="0.1 0.08 0.06" condim="6" friction="0.6 0.02 0.003"/>
    </body>
    <body name="frictionless" pos="0 0.6 0.1">
      <freejoint/>
      <geom name="frictionless" type="sphere" size="0.08" condim="1"/>
    </body>
    <body name="arm" pos="0 -0.6 0.4">
      <joint name="hinge1" type="hinge" axis="1 0 0" range="-1 1" limited="true"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.25" size="0.04" condim="4"/>
      <body pos="0 0 -0.25">
        <joint name="hinge2" type="hinge" axis="0 1 0" frictionloss="0.05"/>
        <geom name="tip" type="sphere" pos="0 0 -0.1" size="0.06" condim="6" friction="0.9 0.04 0.002"/>
      </body>
    </body>
  </worldbody>
  <contact>
    <pair geom1="tip" geom2="floor" condim="6" friction="1.1 1.1 0.05 0.002 0.002" solreffriction="0.03 0.8"/>
  </contact>
</mujoco>
"""


def _scene():
  return mujoco.MjModel.from_xml_string(SCENE)


def _humanoid():
  """The bundled humanoid with elliptic cones, contacts of condim 1, 3, 4 and 6 and impratio 2."""
  mjm = oracle.mj_model("humanoid")
  mjm.opt.cone = int(mujoco.mjtCone.mjCONE_ELLIPTIC)
  mjm.opt.impratio = 2.0
  mjm.geom_condim[:] = np.resize(np.array([1, 3, 4, 6]), mjm.ngeom)
  mjm.geom_friction[:, 1:] = (0.02, 0.002)
  return mjm


def _models():
  return {"scene": _scene(), "humanoid": _humanoid()}


def _settled_states(mjm, n, nsteps, seed):
  """n states after nsteps of MuJoCo C from randomly perturbed initial positions and velocities
  (the bodies in contact with the floor and each other)."""
  rng = np.random.default_rng(seed)
  out = [[], [], [], []]
  for _ in range(n):
    mjd = mujoco.MjData(mjm)
    mjd.qvel[:] = rng.standard_normal(mjm.nv) * 0.5
    for _ in range(nsteps):
      mujoco.mj_step(mjm, mjd)
    for k, a in enumerate((mjd.qpos, mjd.qvel, mjd.ctrl, mjd.act)):
      out[k].append(np.array(a, np.float32))
  return tuple(np.stack(a) for a in out)


def _states(name, mjm, n, seed):
  if name == "scene":
    return _settled_states(mjm, n, 40, seed)
  half = n // 2
  falling, lying = oracle.falling_states(mjm, half, seed), oracle.lying_states(mjm, n - half, seed)
  return tuple(np.concatenate([a, b]) for a, b in zip(falling, lying))


# ---- the rows -------------------------------------------------------------------------------------

ROWS = ("efc_type", "efc_id", "efc_J", "efc_pos", "efc_margin", "efc_frictionloss", "efc_R", "efc_K", "efc_B",
        "efc_D")
CONE_ROWS = ("efc_dim", "efc_coef")  # written for the elliptic rows only (as constraint.h)


def _bits(a):
  return a.view(np.uint32) if a.dtype == np.float32 else a


def _rows(sim):
  e = sim.data.efc
  nefc, nv = e.nefc.numpy(), sim.model.mj_model.nv
  types = e.efc_type.numpy()
  out = {"nefc": nefc.copy(), "ne": e.ne.numpy().copy()}
  for k in ROWS + CONE_ROWS:
    a = getattr(e, k).numpy()
    rows = []
    for w in range(sim.nworld):
      v = a[w, :nefc[w], :nv] if k == "efc_J" else a[w, :nefc[w]]
      if k in CONE_ROWS:
        v = v[types[w, :nefc[w]] == ELLIPTIC]
      rows.append(_bits(v).copy())
    out[k] = rows
  return out


def _poison_rows(sim):
  e = sim.data.efc
  for k in ROWS + CONE_ROWS:
    a = getattr(e, k)
    a.fill_(float("nan") if a.numpy().dtype == np.float32 else -7)
  e.nefc.fill_(-7)
  e.ne.fill_(-7)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("name", ["scene", "humanoid"])
def test_rows_equal_native_bitwise(name, group):
  """make_constraint on lane groups from the native forward's contacts: every row the native
  forward writes, bit for bit, in its order; elliptic rows of condim 3, 4 and 6 present."""
  mjm = _models()[name]
  state = _states(name, mjm, 8, seed=4)
  sim = simulator(mjm, 8, "native")
  oracle.set_state(sim.data, *state)
  sim.forward()
  ref = _rows(sim)
  _poison_rows(sim)
  simt.make_constraint(sim, group_size=group)
  ours = _rows(sim)
  assert_rows_equal(ours, ref, f"{name} group {group}")
  dims = np.concatenate(ref["efc_dim"])
  assert {3, 4, 6} <= set(dims[dims > 0].tolist()), f"{name}: cone dims {sorted(set(dims.tolist()))}"
  if name == "scene":
    c = sim.data.contact
    assert any((c.solreffriction.numpy()[w, :c.ncon.numpy()[w], 0] != 0).any() for w in range(8)), (
      "no contact of the pair with solreffriction")


# ---- the solver -----------------------------------------------------------------------------------

OUTPUTS = ("qacc", "qfrc_constraint", "efc.efc_force", "efc.efc_aref")
INT_OUTPUTS = ("efc.efc_state", "efc.solver_niter", "efc.converged")


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("name", ["scene", "humanoid"])
def test_solver_matches_native_solver(name, group):
  """simt.solve from the native forward's rows: qacc, qfrc_constraint, efc_force and aref within
  NEWTON_QACC_TOL of the native solver, iterations within 1, the same cone states; cones on their
  surface (state 3) among the rows. The lane groups solve all rows together, so the native
  solver runs with constraint islands off (its island solve: tests/test_solver_islands.py)."""
  mjm = copy.copy(_models()[name])
  mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_ISLAND)
  state = _states(name, mjm, 12, seed=6)
  sim = simulator(mjm, 12, "native")
  oracle.set_state(sim.data, *state)
  sim.forward()
  ref = {p: data_array(sim, p).numpy().copy() for p in (*OUTPUTS, *INT_OUTPUTS)}
  for p in (*OUTPUTS, "efc.efc_jar", "efc.efc_jv", "efc.efc_cone_H"):
    data_array(sim, p).fill_(float("nan"))
  for p in INT_OUTPUTS:
    data_array(sim, p).fill_(-7)
  simt.solve(sim, group_size=group)
  nefc = sim.data.efc.nefc.numpy()
  types = sim.data.efc.efc_type.numpy()
  worst = 0.0
  cone_states = set()
  for w in range(sim.nworld):
    n = nefc[w]
    for p in ("qacc", "qfrc_constraint"):
      err = oracle.rel_err(data_array(sim, p).numpy()[w], ref[p][w])
      worst = max(worst, err)
      assert err < NEWTON_QACC_TOL, f"{name} group {group} world {w}: {p} {err:.2e}"
    for p in ("efc.efc_force", "efc.efc_aref"):
      err = oracle.rel_err(data_array(sim, p).numpy()[w, :n], ref[p][w, :n])
      assert err < NEWTON_QACC_TOL, f"{name} group {group} world {w}: {p} {err:.2e}"
    states = sim.data.efc.efc_state.numpy()[w, :n]
    np.testing.assert_array_equal(states, ref["efc.efc_state"][w, :n], err_msg=f"{name} world {w}: efc_state")
    cone_states |= set(states[types[w, :n] == ELLIPTIC].tolist())
    niter, niter_ref = int(sim.data.efc.solver_niter.numpy()[w]), int(ref["efc.solver_niter"][w])
    assert abs(niter - niter_ref) <= 1, f"{name} world {w}: {niter} iterations, native {niter_ref}"
  np.testing.assert_array_equal(sim.data.efc.converged.numpy(), ref["efc.converged"])
  assert 3 in cone_states, f"{name}: cone states {cone_states}"
  print(f"\n{name} group {group}: qacc vs the native solver worst {worst:.2e}, cone states {sorted(cone_states)}")


def test_recording_run_has_no_race_and_same_bits():
  """record=True (counting float, the address recorder's race check in every phase): the same
  qacc bits as the plain emulation, and counts of the solver's stages."""
  mjm = _scene()
  state = _states("scene", mjm, 4, seed=6)
  sims = [simulator(mjm, 4, "native") for _ in range(2)]
  for s in sims:
    oracle.set_state(s.data, *state)
    s.forward()
  simt.solve(sims[0], group_size=8)
  stats = simt.solve(sims[1], group_size=8, record=True)
  for p in ("qacc", "efc.efc_force"):
    assert np.array_equal(_bits(data_array(sims[0], p).numpy()), _bits(data_array(sims[1], p).numpy())), p
  assert stats["stages"]["hessian"]["warp_instructions"] > 0


# ---- the fused step -------------------------------------------------------------------------------


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("name", ["scene", "humanoid"])
def test_trajectory_matches_native_and_mujoco(name, group):
  """40 fused steps with contacts: the same contact and row counts as the native step every step,
  qpos / qvel within CONTACT_TRAJ_*_TOL of the native step and of MuJoCo C (float64)."""
  mjm = _models()[name]
  nworld, nsteps = 4, 40
  state = _states(name, mjm, nworld, seed=8)
  ref, emu = simulator(mjm, nworld, "native"), simulator(mjm, nworld, "native")
  for s in (ref, emu):
    oracle.set_state(s.data, *state)
    oracle.fill_nan(s.data)
  contacts = 0
  for _ in range(nsteps):
    ref.step()
    simt.step(emu, group_size=group)
    np.testing.assert_array_equal(emu.ncon.numpy(), ref.ncon.numpy())
    np.testing.assert_array_equal(emu.data.efc.nefc.numpy(), ref.data.efc.nefc.numpy())
    contacts += int(emu.ncon.numpy().sum())
  assert contacts > 0
  bounds = {"qpos": CONTACT_TRAJ_QPOS_TOL, "qvel": CONTACT_TRAJ_QVEL_TOL}
  for field, tol in bounds.items():
    err = oracle.rel_err(getattr(emu.data, field).numpy(), getattr(ref.data, field).numpy())
    assert err < tol, f"{name} group {group}: {field} vs the native step after {nsteps} steps {err:.2e}"
  for w in range(nworld):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    for _ in range(nsteps):
      mujoco.mj_step(mjm, mjd)
    for field, tol in bounds.items():
      err = oracle.rel_err(getattr(emu.data, field).numpy()[w], getattr(mjd, field))
      assert err < tol, f"{name} group {group} world {w}: {field} vs MuJoCo C after {nsteps} steps {err:.2e}"
  np.testing.assert_array_equal(emu.health.numpy(), 0)


STEPPED = ("qpos", "qvel", "act", "time", "qacc", "qacc_warmstart", "qfrc_constraint", "qfrc_smooth", "xpos")


@pytest.mark.parametrize("group", GROUPS)
def test_simulator_steps_as_simt_step_bitwise(group):
  """Simulator(backend="simt") with elliptic cones (no refusal): 30 steps bit for bit simt.step on a
  twin native Simulator."""
  mjm = _scene()
  state = _states("scene", mjm, 4, seed=9)
  sim, twin = simulator(mjm, 4, "simt", group_size=group), simulator(mjm, 4, "native")
  for s in (sim, twin):
    oracle.set_state(s.data, *state)
    s.forward()
  sim.step(30)
  simt.step(twin, 30, group_size=group)
  for field in STEPPED:
    a, b = getattr(sim.data, field).numpy(), getattr(twin.data, field).numpy()
    assert np.array_equal(_bits(a), _bits(b)), f"group {group}: {field}"
  assert (sim.ncon.numpy() > 0).all()


# ---- Menagerie robots with elliptic cones ---------------------------------------------------------

MENAGERIE_ENV = "PWS_MENAGERIE"  # a mujoco_menagerie checkout (as tests/test_menagerie_models.py)
MENAGERIE = os.environ.get(MENAGERIE_ENV)
# quadrupeds whose scenes set cone="elliptic" (impratio 100) and have no sensors
ROBOTS = ["anybotics_anymal_b", "anybotics_anymal_c", "boston_dynamics_spot"]


@pytest.mark.skipif(not MENAGERIE, reason=f"set {MENAGERIE_ENV} to a mujoco_menagerie checkout")
@pytest.mark.parametrize("robot", ROBOTS)
def test_menagerie_quadrupeds_step_on_simt(robot):
  """Simulator(backend="simt") on the robot's scene standing after 100 MuJoCo C steps from its
  first keyframe: 20 steps with the native step's contact and row counts every step, elliptic rows
  among them, qpos / qvel within CONTACT_TRAJ_*_TOL of backend="native", healthy."""
  mjm = mujoco.MjModel.from_xml_path(os.path.join(MENAGERIE, robot, "scene.xml"))
  assert int(mjm.opt.cone) == int(mujoco.mjtCone.mjCONE_ELLIPTIC)
  mjd = mujoco.MjData(mjm)
  if mjm.nkey:
    mujoco.mj_resetDataKeyframe(mjm, mjd, 0)
  for _ in range(100):
    mujoco.mj_step(mjm, mjd)
  state = [np.stack([np.array(a, np.float32)] * 2) for a in (mjd.qpos, mjd.qvel, mjd.ctrl, mjd.act)]
  sim, ref = simulator(mjm, 2, "simt", group_size=8), simulator(mjm, 2, "native")
  for s in (sim, ref):
    oracle.set_state(s.data, *state)
    s.forward()
  for _ in range(20):
    sim.step()
    ref.step()
    np.testing.assert_array_equal(sim.ncon.numpy(), ref.ncon.numpy())
    np.testing.assert_array_equal(sim.data.efc.nefc.numpy(), ref.data.efc.nefc.numpy())
  nefc = sim.data.efc.nefc.numpy()
  assert all((sim.data.efc.efc_type.numpy()[w, :nefc[w]] == ELLIPTIC).any() for w in range(2)), robot
  for field, tol in (("qpos", CONTACT_TRAJ_QPOS_TOL), ("qvel", CONTACT_TRAJ_QVEL_TOL)):
    err = oracle.rel_err(getattr(sim.data, field).numpy(), getattr(ref.data, field).numpy())
    assert err < tol, f"{robot}: {field} vs backend='native' after 20 steps {err:.2e}"
  np.testing.assert_array_equal(sim.health.numpy(), 0)
