"""Simulator(backend="native"): the fused C++ step against MuJoCo C and the Warp backend.

The stage tests against MuJoCo C that both backends pass from one definition are parametrised
over the backend in their stage's file (test_smooth, test_integrators, test_constraint,
test_contact, test_collision; tests/backends.py). This file holds what is the native step's own: comparisons
with the Warp backend (the same float32 state to MuJoCo C, the Warp pipeline and the native
step; native vs Warp differences come from summation order only, tree-sparse products in the
solver, and are checked with the bounds of tests/tolerances.py), bitwise equality of its
execution modes (threads, lockstep lanes, per-thread workspace, staging, CUDA), its health,
API and errors. Outputs are filled with NaN before each call, so a stage that writes nothing
fails.
"""

import mujoco
import numpy as np
import pytest
import torch
import warp as wp

import pywarp_sim as pws
from pywarp_sim import native, native_backend

import oracle
import test_collision as tc
import test_contact as tcon
from assets import BALL_HUMANOID
from backends import simulator
from tolerances import (CONTACT_DIST_TOL, CONTACT_TRAJ_QPOS_TOL, CONTACT_TRAJ_QVEL_TOL,
                        CONVERGED_CONTACT_QACC_MAX_TOL, EFC_D_RTOL, FLOAT32_ROUNDING_TOL, FORCE_TOL,
                        ISSUE_CONTACT_QACC_MAX_TOL, ISSUE_CONTACT_QACC_MEDIAN_TOL, NATIVE_CUDA_CPU_QPOS_TOL,
                        NATIVE_CUDA_CPU_QVEL_TOL, NATIVE_WARP_CONVEX_TOL, NATIVE_WARP_FLAILING_QVEL_TOL,
                        NATIVE_WARP_QUAD_TIES_FRACTION_TOL, NATIVE_WARP_ROW_TOL,
                        NATIVE_WARP_STEPPED_FIELDS_TOL, NEWTON_QACC_TOL, POS_TOL, STEP_QPOS_TOL,
                        STEP_QVEL_TOL, TIME_TOL, VEL_TOL)

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))

INT = mujoco.mjtIntegrator
# fixed tendons: the walker (limits, frictionloss, spring deadband, damper, tendon actuators)
# and the tendon humanoid (limited hamstrings, frictionloss, spring, tendon motor; no damper)
TENDON_MODELS = ["tendon_walker", "tendon_humanoid"]


def _fill_contact_nan(d):
  c, e = d.contact, d.efc
  for name in ("dist", "pos", "frame", "friction"):
    getattr(c, name).fill_(float("nan"))
  c.ncon.fill_(-1)
  e.nefc.fill_(-1)
  e.efc_force.fill_(float("nan"))


def _forward(sim, state):
  oracle.set_state(sim.data, *state)
  oracle.fill_nan(sim.data)
  _fill_contact_nan(sim.data)
  sim.forward()


def _mj_forward(mjm, state, w):
  mjd = oracle.mj_data(mjm, *(s[w] for s in state))
  mujoco.mj_forward(mjm, mjd)
  return mjd


def _ours(sim, field, w, n=None):
  arr = getattr(sim.data, field).numpy()[w]
  return arr if n is None else arr.reshape(-1)[:n]


# ---------------------------------------------------------------------------------------------
# contacts: states of a falling, self-touching humanoid


_falling_states = oracle.falling_states


def _converged_humanoid(solver, cone=mujoco.mjtCone.mjCONE_PYRAMIDAL):
  mjm = oracle.mj_model("humanoid")
  mjm.opt.solver = solver
  mjm.opt.cone = cone
  mjm.opt.iterations = 200
  mjm.opt.ls_iterations = 50
  mjm.opt.tolerance = 1e-10
  return mjm


@pytest.mark.parametrize("solver,cone", [
  (mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtCone.mjCONE_PYRAMIDAL),
  (mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtCone.mjCONE_ELLIPTIC),
  (mujoco.mjtSolver.mjSOL_CG, mujoco.mjtCone.mjCONE_PYRAMIDAL),
  (mujoco.mjtSolver.mjSOL_CG, mujoco.mjtCone.mjCONE_ELLIPTIC),
  (mujoco.mjtSolver.mjSOL_PGS, mujoco.mjtCone.mjCONE_PYRAMIDAL),
  (mujoco.mjtSolver.mjSOL_PGS, mujoco.mjtCone.mjCONE_ELLIPTIC),
], ids=["newton-pyramidal", "newton-elliptic", "cg-pyramidal", "cg-elliptic", "pgs-pyramidal", "pgs-elliptic"])
def test_contact_states_match_mujoco_and_warp(solver, cone):
  newton = solver == mujoco.mjtSolver.mjSOL_NEWTON
  tol = NEWTON_QACC_TOL if newton else ISSUE_CONTACT_QACC_MAX_TOL
  mjm = _converged_humanoid(solver, cone)
  state = _falling_states(oracle.mj_model("humanoid"), 16, seed=5)
  n = len(state[0])
  nat, ref = simulator(mjm, n, "native"), simulator(mjm, n, "warp")
  _forward(nat, state)
  _forward(ref, state)
  ncon, nefc = nat.data.contact.ncon.numpy(), nat.data.efc.nefc.numpy()
  np.testing.assert_array_equal(ncon, ref.data.contact.ncon.numpy())
  np.testing.assert_array_equal(nefc, ref.data.efc.nefc.numpy())
  geom = nat.data.contact.geom.numpy()
  dist = nat.data.contact.dist.numpy()
  errs = []
  for w in range(n):
    mjd = _mj_forward(mjm, state, w)
    assert ncon[w] == mjd.ncon, f"world {w}: ncon {ncon[w]} vs MuJoCo {mjd.ncon}"
    assert nefc[w] == mjd.nefc, f"world {w}: nefc {nefc[w]} vs MuJoCo {mjd.nefc}"
    assert [tuple(g) for g in geom[w, :ncon[w]]] == [tuple(c.geom) for c in mjd.contact[:mjd.ncon]]
    np.testing.assert_allclose(dist[w, :ncon[w]], mjd.contact.dist[:mjd.ncon], atol=CONTACT_DIST_TOL)
    err = oracle.rel_err(_ours(nat, "qacc", w), mjd.qacc)
    errs.append(err)
    assert err < tol, f"world {w}: native qacc vs MuJoCo {err:.2e}"
    assert oracle.rel_err(_ours(nat, "qfrc_constraint", w), mjd.qfrc_constraint) < tol
    assert oracle.rel_err(_ours(nat, "qacc", w), _ours(ref, "qacc", w)) < tol
    e = nat.data.efc
    np.testing.assert_array_equal(e.efc_type.numpy()[w, :nefc[w]], mjd.efc_type)
    np.testing.assert_allclose(e.efc_D.numpy()[w, :nefc[w]], mjd.efc_D, rtol=EFC_D_RTOL)
  assert (ncon >= 1).all() and (ncon >= 2).sum() >= n // 4, ncon
  median, worst = np.median(errs), np.max(errs)
  print(f"\nnative {solver.name} {cone.name}: qacc rel err vs MuJoCo median {median:.2e} max {worst:.2e}")
  if not newton:
    assert median < ISSUE_CONTACT_QACC_MEDIAN_TOL


def test_limits_and_friction_match_mujoco():
  """Joint limits, dof friction and contacts together (test_constraint's setup)."""
  mjm = _converged_humanoid(mujoco.mjtSolver.mjSOL_NEWTON)
  mjm.dof_frictionloss[:] = 0.3
  state = _falling_states(oracle.mj_model("humanoid"), 8, seed=9)
  nat = simulator(mjm, len(state[0]), "native")
  _forward(nat, state)
  types = set()
  for w in range(len(state[0])):
    mjd = _mj_forward(mjm, state, w)
    assert nat.data.efc.nefc.numpy()[w] == mjd.nefc
    types |= set(mjd.efc_type.tolist())
    assert oracle.rel_err(_ours(nat, "qacc", w), mjd.qacc) < NEWTON_QACC_TOL
  assert {mujoco.mjtConstraint.mjCNSTR_FRICTION_DOF, mujoco.mjtConstraint.mjCNSTR_LIMIT_JOINT,
          mujoco.mjtConstraint.mjCNSTR_CONTACT_PYRAMIDAL} <= types


# ---------------------------------------------------------------------------------------------
# fixed tendons, PGS with elliptic cones: test_contact's converged contact states (MuJoCo's own
# trajectories, with its warm start)


def _sims_at_mujoco_states(name, solver, cone):
  mjm = oracle.mj_model(name)
  mjm.opt.solver = solver
  mjm.opt.cone = cone
  mjm.opt.iterations = 200
  mjm.opt.ls_iterations = 50
  mjm.opt.tolerance = 1e-10
  states = tcon._states(name, cone)
  nat, ref = _native_and_warp_at(mjm, states)
  return mjm, nat, ref, [_mj_forward_warm(mjm, states, w) for w in range(len(states[0]))]


def _native_and_warp_at(mjm, states):
  """(native, warp) Simulators after forward at the states (qpos, qvel, ctrl, act, warm start)."""
  qpos, qvel, ctrl, act, warm = states
  sims = []
  for backend in ("native", "warp"):
    sim = simulator(mjm, len(qpos), backend)
    sim.data.qacc_warmstart.assign(warm.astype(np.float32))
    _forward(sim, (qpos, qvel, ctrl, act))
    sims.append(sim)
  return tuple(sims)


def _mj_forward_warm(mjm, states, w):
  """MuJoCo C's mj_forward at world w of the states, with its warm start."""
  qpos, qvel, ctrl, act, warm = states
  mjd = oracle.mj_data(mjm, qpos[w], qvel[w], ctrl[w], act[w])
  mjd.qacc_warmstart[:] = warm[w]
  mujoco.mj_forward(mjm, mjd)
  return mjd


@pytest.mark.parametrize("name", TENDON_MODELS)
@pytest.mark.parametrize("solver,cone", [
  (mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtCone.mjCONE_PYRAMIDAL),
  (mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtCone.mjCONE_ELLIPTIC),
  (mujoco.mjtSolver.mjSOL_PGS, mujoco.mjtCone.mjCONE_PYRAMIDAL),
  (mujoco.mjtSolver.mjSOL_PGS, mujoco.mjtCone.mjCONE_ELLIPTIC),
], ids=["newton-pyramidal", "newton-elliptic", "pgs-pyramidal", "pgs-elliptic"])
def test_tendon_contact_states_match_mujoco_and_warp(name, solver, cone):
  """Tendon length/velocity, passive forces and actuator lengths vs MuJoCo; the rows (tendon
  frictionloss and limit rows in MuJoCo's order) identical to MuJoCo's and the Warp backend's;
  qacc with test_contact's bounds for these models (its test_fixed_tendons_match_mujoco)."""
  mjm, nat, ref, refs = _sims_at_mujoco_states(name, solver, cone)
  warp_tol = NEWTON_QACC_TOL if solver == mujoco.mjtSolver.mjSOL_NEWTON else ISSUE_CONTACT_QACC_MAX_TOL
  e, er = nat.data.efc, ref.data.efc
  nefc = e.nefc.numpy()
  np.testing.assert_array_equal(nefc, er.nefc.numpy())
  np.testing.assert_array_equal(nat.data.contact.ncon.numpy(), ref.data.contact.ncon.numpy())
  errs, types = [], set()
  for w, mjd in enumerate(refs):
    n = nefc[w]
    assert n == mjd.nefc, f"world {w}: nefc {n} vs MuJoCo {mjd.nefc}"
    np.testing.assert_array_equal(e.efc_type.numpy()[w, :n], mjd.efc_type)
    np.testing.assert_array_equal(e.efc_id.numpy()[w, :n], mjd.efc_id)
    # D follows the float32 distance through steep impedances (solimp widths of 1-10 mm on
    # contacts and joint limits here): compared with MuJoCo on the tendon rows, with Warp on all
    tendon = np.isin(mjd.efc_type, [int(mujoco.mjtConstraint.mjCNSTR_FRICTION_TENDON),
                                    int(mujoco.mjtConstraint.mjCNSTR_LIMIT_TENDON)])
    np.testing.assert_allclose(e.efc_D.numpy()[w, :n][tendon], mjd.efc_D[tendon], rtol=EFC_D_RTOL)
    np.testing.assert_allclose(e.efc_D.numpy()[w, :n], er.efc_D.numpy()[w, :n], rtol=EFC_D_RTOL)
    np.testing.assert_allclose(e.efc_J.numpy()[w, :n, :mjm.nv], er.efc_J.numpy()[w, :n, :mjm.nv], atol=NATIVE_WARP_ROW_TOL)
    np.testing.assert_allclose(e.efc_pos.numpy()[w, :n], er.efc_pos.numpy()[w, :n], atol=NATIVE_WARP_ROW_TOL)
    types |= set(mjd.efc_type.tolist())
    for field, tol in (("ten_length", POS_TOL), ("ten_velocity", VEL_TOL), ("qfrc_passive", FORCE_TOL),
                       ("actuator_length", POS_TOL)):
      err = oracle.rel_err(_ours(nat, field, w, getattr(mjd, field).size), getattr(mjd, field))
      assert err < tol, f"world {w}: native {field} vs MuJoCo {err:.2e}"
    errs.append(oracle.rel_err(_ours(nat, "qacc", w), mjd.qacc))
    assert errs[-1] < CONVERGED_CONTACT_QACC_MAX_TOL, f"world {w}: native qacc vs MuJoCo {errs[-1]:.2e}"
    err = oracle.rel_err(_ours(nat, "qacc", w), _ours(ref, "qacc", w))
    assert err < warp_tol, f"world {w}: native qacc vs Warp {err:.2e}"
  median, worst = np.median(errs), np.max(errs)
  print(f"\nnative {name} {solver.name} {cone.name}: qacc rel err vs MuJoCo median {median:.2e} max {worst:.2e}")
  assert median < NEWTON_QACC_TOL
  assert {mujoco.mjtConstraint.mjCNSTR_FRICTION_TENDON, mujoco.mjtConstraint.mjCNSTR_LIMIT_TENDON} <= types


@pytest.mark.parametrize("name", ["humanoid", "tendon_humanoid"])
def test_pgs_elliptic_matches_mujoco_and_warp(name):
  """test_contact.test_pgs_elliptic_matches_mujoco_pgs through the native step: MuJoCo's sweep
  (shuffled blocks, Nesterov momentum, warm-start forces; ray update and friction QCQP per
  elliptic block) reaches MuJoCo's optimum, with the Newton bounds per state (measured vs
  MuJoCo: median 2e-6, max 1.4e-5; vs Warp max 1e-5)."""
  mjm, nat, ref, refs = _sims_at_mujoco_states(name, mujoco.mjtSolver.mjSOL_PGS, mujoco.mjtCone.mjCONE_ELLIPTIC)
  nefc = nat.data.efc.nefc.numpy()
  errs = []
  for w, mjd in enumerate(refs):
    assert nefc[w] == mjd.nefc
    np.testing.assert_array_equal(nat.data.efc.efc_type.numpy()[w, :nefc[w]], mjd.efc_type)
    errs.append(oracle.rel_err(_ours(nat, "qacc", w), mjd.qacc))
    assert errs[-1] < NEWTON_QACC_TOL, f"world {w}: native qacc vs MuJoCo {errs[-1]:.2e}"
    err = oracle.rel_err(_ours(nat, "qacc", w), _ours(ref, "qacc", w))
    assert err < NEWTON_QACC_TOL, f"world {w}: native qacc vs Warp {err:.2e}"
  assert (nat.data.efc.efc_type.numpy() == mujoco.mjtConstraint.mjCNSTR_CONTACT_ELLIPTIC).any()
  assert nat.data.efc.converged.numpy().all()
  median, worst = np.median(errs), np.max(errs)
  print(f"\nnative {name} PGS elliptic: qacc rel err vs MuJoCo median {median:.2e} max {worst:.2e}")
  assert median < NEWTON_QACC_TOL


# ---------------------------------------------------------------------------------------------
# trajectories


def _landing_matches_mujoco_and_warp(mjm, z, nstep, label):
  """4 worlds dropped from root height z with small random qvel/ctrl: after nstep steps the
  native qpos/qvel match mj_step and the Warp backend (CONTACT_TRAJ_*_TOL), health equal.
  Returns (native sim, MuJoCo datas)."""
  nworld = 4
  rng = np.random.default_rng(3)
  qpos = np.tile(mjm.qpos0, (nworld, 1))
  qpos[:, 2] = z
  qvel = rng.normal(0, 0.1, (nworld, mjm.nv))
  ctrl = rng.uniform(-0.2, 0.2, (nworld, mjm.nu))
  state = (qpos, qvel, ctrl, np.zeros((nworld, 0)))
  nat, ref = simulator(mjm, nworld, "native"), simulator(mjm, nworld, "warp")
  for sim in (nat, ref):
    oracle.set_state(sim.data, *state)
  refs = [oracle.mj_data(mjm, *(s[w] for s in state)) for w in range(nworld)]
  nat.step(nstep)
  ref.step(nstep)
  for _ in range(nstep):
    for mjd in refs:
      mujoco.mj_step(mjm, mjd)
  assert (nat.data.contact.ncon.numpy() > 0).all(), f"{label}: the models must have landed"
  for w, mjd in enumerate(refs):
    for field, tol in (("qpos", CONTACT_TRAJ_QPOS_TOL), ("qvel", CONTACT_TRAJ_QVEL_TOL)):
      ours = _ours(nat, field, w)
      assert oracle.rel_err(ours, getattr(mjd, field)) < tol, f"{label} {field} vs MuJoCo"
      assert oracle.rel_err(ours, _ours(ref, field, w)) < tol, f"{label} {field} vs Warp"
  np.testing.assert_array_equal(nat.health.numpy(), ref.health.numpy())
  return nat, refs


@pytest.mark.parametrize("integrator,nstep", [(INT.mjINT_EULER, 100), (INT.mjINT_IMPLICITFAST, 100),
                                              (INT.mjINT_RK4, 50)])
def test_contact_trajectory_matches_mj_step_and_warp(integrator, nstep):
  # feet a few cm above the floor: landing within 50 steps
  _landing_matches_mujoco_and_warp(oracle.mj_model("humanoid", integrator=integrator), 1.35, nstep,
                                   integrator.name)


@pytest.mark.parametrize("name,z,integrator,nstep", [
  ("tendon_walker", 0.95, INT.mjINT_EULER, 100), ("tendon_walker", 0.95, INT.mjINT_RK4, 50),
  ("tendon_humanoid", 1.35, INT.mjINT_EULER, 100), ("tendon_humanoid", 1.35, INT.mjINT_IMPLICITFAST, 100),
  ("tendon_humanoid", 1.35, INT.mjINT_RK4, 50)])
def test_tendon_contact_trajectory_matches_mj_step_and_warp(name, z, integrator, nstep):
  """Landing with fixed tendons (rows of tendon limits and frictionloss on the way), the setup
  and bounds of test_contact_trajectory_matches_mj_step_and_warp (measured worst: qpos 3e-6,
  qvel 2e-5 vs MuJoCo, either backend)."""
  mjm = oracle.mj_model(name, integrator=integrator)
  nat, refs = _landing_matches_mujoco_and_warp(mjm, z, nstep, f"{name} {integrator.name}")
  for w, mjd in enumerate(refs):
    assert oracle.rel_err(_ours(nat, "ten_length", w, mjm.ntendon), mjd.ten_length) < CONTACT_TRAJ_QPOS_TOL


@pytest.mark.parametrize("name", ["humanoid", "tendon_humanoid", "tendon_walker"])
def test_pgs_elliptic_trajectory_matches_warp(name):
  """PGS with elliptic cones over 100 Euler steps at the model's own iteration count: PGS stops
  unconverged (health bit 4 on both backends), so the float32 trajectories part from MuJoCo's
  float64 one (~1e-2). PGS starts from the forces at the previous step's qacc (MuJoCo's warm
  start) and stops unconverged, so rounding carries over from step to step and grows:
  MuJoCo itself, its qvel perturbed by 1e-7, is 1.4e-4 away after 90 steps of the humanoid,
  and native and Warp (1e-6 apart per step) reach a different contact count there. The native
  step therefore restarts from the Warp state every 10 steps; within each stretch native and
  Warp run the same updates (measured 2e-5 in qvel, 2e-6 in qpos)."""
  mjm = oracle.mj_model(name)
  mjm.opt.solver = mujoco.mjtSolver.mjSOL_PGS
  mjm.opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
  nworld = 4
  rng = np.random.default_rng(3)
  qpos = np.tile(mjm.qpos0, (nworld, 1))
  qpos[:, 2] += 0.05
  state = (qpos, rng.normal(0, 0.1, (nworld, mjm.nv)), rng.uniform(-0.2, 0.2, (nworld, mjm.nu)),
           np.zeros((nworld, 0)))
  nat, ref = simulator(mjm, nworld, "native"), simulator(mjm, nworld, "warp")
  for sim in (nat, ref):
    oracle.set_state(sim.data, *state)
  for stretch in range(10):
    nat.step(10)
    ref.step(10)
    for field, tol in (("qpos", CONTACT_TRAJ_QPOS_TOL), ("qvel", CONTACT_TRAJ_QVEL_TOL)):
      err = oracle.rel_err(getattr(nat, field).numpy(), getattr(ref, field).numpy())
      assert err < tol, f"{field} after {10 * stretch + 10} steps: {err:.2e}"
    for field in ("time", "qpos", "qvel", "act", "qacc_warmstart"):
      getattr(nat.data, field).assign(getattr(ref.data, field))
  assert (nat.data.contact.ncon.numpy() > 0).all(), "the models must have landed"
  assert (nat.data.efc.efc_type.numpy() == mujoco.mjtConstraint.mjCNSTR_CONTACT_ELLIPTIC).any()
  np.testing.assert_array_equal(nat.health.numpy(), ref.health.numpy())


# ---------------------------------------------------------------------------------------------
# convex (GJK/EPA) pairs: kernels/collision_convex.h, the float64 port of collision_convex


def _convex_pair_contacts(t1, t2, margin, n):
  """(native, Warp, MuJoCo) contacts per world on test_collision's poses for the pair; native
  and Warp run their own kinematics from qpos (float32), MuJoCo mj_forward."""
  mjm = mujoco.MjModel.from_xml_string(tc._pair_xml(t1, t2, margin=margin))
  qpos = tc._random_states(mjm, np.random.default_rng(tc._seed("convex", t1, t2)), n)
  state = (qpos, np.zeros((n, mjm.nv)), np.zeros((n, 0)), np.zeros((n, 0)))
  out = []
  for backend in ("native", "warp"):
    sim = simulator(mjm, n, backend)
    _forward(sim, state)
    out.append([tc._our_contacts(sim.data, w) for w in range(n)])
  refs = [tc._mj_contacts(_mj_forward(mjm, state, w)) for w in range(n)]
  return out[0], out[1], refs


def _check_convex_vs_warp(nat, ref, label):
  ties = 0
  for w, (o, r) in enumerate(zip(nat, ref)):
    assert len(o) == len(r), f"{label} world {w}: native {len(o)} contacts, Warp {len(r)}"
    pairs = tc._match(o, r)
    if max((np.abs(a["pos"] - b["pos"]).max() for a, b in pairs), default=0.0) > NATIVE_WARP_CONVEX_TOL:
      # polygonQuad kept other corners of the same clipped polygon: same depths and frame
      assert len(o) == 4, f"{label} world {w}: positions differ"
      np.testing.assert_allclose(sorted(c["dist"] for c in o), sorted(c["dist"] for c in r),
                                 atol=NATIVE_WARP_CONVEX_TOL, err_msg=f"{label} world {w}")
      for a in o:
        np.testing.assert_allclose(a["frame"], r[0]["frame"], atol=NATIVE_WARP_CONVEX_TOL, err_msg=f"{label} world {w}")
      ties += 1
      continue
    for a, b in pairs:
      assert abs(a["dist"] - b["dist"]) < NATIVE_WARP_CONVEX_TOL, f"{label} world {w}"
      np.testing.assert_allclose(a["frame"], b["frame"], atol=NATIVE_WARP_CONVEX_TOL, err_msg=f"{label} world {w}")
      tc._check_params(a, b, f"{label} world {w}")
  assert ties <= NATIVE_WARP_QUAD_TIES_FRACTION_TOL * len(nat), (label, ties)


@pytest.mark.parametrize("t1,t2", tc.CONVEX_PAIRS)
def test_convex_pairs_match_warp(t1, t2):
  """Every convex pair type: contact sets as the Warp backend's (count, dist, pos, frame) on
  test_collision's poses; against MuJoCo 4.0 both backends run test_collision's
  test_convex_pair_vs_mujoco."""
  nat, ref, _ = _convex_pair_contacts(t1, t2, 0.0, tc.NWORLD)
  _check_convex_vs_warp(nat, ref, f"{t1}-{t2}")


@pytest.mark.parametrize("t1,t2", [("capsule", "cylinder"), ("cylinder", "cylinder"), ("cylinder", "box")])
def test_convex_single_shot_with_margin_matches_warp(t1, t2):
  """Single-shot multicontact on geoms inflated by half the margin (test_single_shot_with_margin's
  256 poses): the Warp backend's contact sets."""
  nat, ref, _ = _convex_pair_contacts(t1, t2, 0.01, 256)
  assert sum(len(o) > 1 for o in nat) >= 10
  _check_convex_vs_warp(nat, ref, f"{t1}-{t2} margin")


# 100 Euler steps from test_contact's self-touching states, native vs Warp. limb_zoo runs
# freely (measured qpos 2e-6, qvel 4e-5 after 100 steps). ball_humanoid's tumbling, self-
# touching limbs are chaotic: Warp itself, its qvel perturbed by 1e-7, is 2e-5 (qpos) and 1e-3
# (qvel) away after 20 steps, and native and Warp part by 1e-3 / 1e-2 there; it restarts from
# the Warp state after every step instead (measured per step: qpos 1.2e-7, qvel 5.6e-6, same
# contact counts in all 100 steps).
@pytest.mark.parametrize("name,restart", [("ball_humanoid", True), ("limb_zoo", False)])
def test_convex_trajectory_matches_warp(name, restart):
  mjm = oracle.mj_model(name)
  qpos, qvel, ctrl, act, _ = tcon._convex_states(name, mujoco.mjtCone.mjCONE_PYRAMIDAL)
  nworld = 4
  state = (qpos[:nworld], qvel[:nworld], ctrl[:nworld], act[:nworld])
  nat, ref = simulator(mjm, nworld, "native"), simulator(mjm, nworld, "warp")
  for sim in (nat, ref):
    oracle.set_state(sim.data, *state)
  nconvex = 0
  for k in range(100):
    nat.step(1)
    ref.step(1)
    ncon = nat.data.contact.ncon.numpy()
    np.testing.assert_array_equal(ncon, ref.data.contact.ncon.numpy())
    geom = nat.data.contact.geom.numpy()
    nconvex += sum(tuple(sorted(int(mjm.geom_type[g]) for g in geom[w, i])) in tcon._CONVEX_PAIRS
                   for w in range(nworld) for i in range(ncon[w]))
    for field, tol in (("qpos", CONTACT_TRAJ_QPOS_TOL), ("qvel", CONTACT_TRAJ_QVEL_TOL)):
      err = oracle.rel_err(getattr(nat, field).numpy(), getattr(ref, field).numpy())
      assert err < tol, f"{name} {field} after {k + 1} steps: {err:.2e}"
    np.testing.assert_array_equal(nat.health.numpy(), ref.health.numpy())
    if restart:
      for field in ("time", "qpos", "qvel", "act", "qacc_warmstart"):
        getattr(nat.data, field).assign(getattr(ref.data, field))
  assert nconvex > 0, "the trajectories must keep convex contacts"


# ---------------------------------------------------------------------------------------------
# health, API parity, threads


def _humanoid_sims(nworld, **kw):
  mjm = oracle.mj_model("humanoid")
  return mjm, simulator(mjm, nworld, "native", **kw), simulator(mjm, nworld, "warp", **kw)


def test_nonfinite_world_is_flagged_and_isolated():
  mjm, nat, ref = _humanoid_sims(3)
  clean = simulator(mjm, 3, "native")
  state = _falling_states(mjm, 3, seed=1)
  for sim in (nat, ref, clean):
    oracle.set_state(sim.data, *state)
  for sim in (nat, ref):
    sim.qpos[1, 10] = float("nan")
  for sim in (nat, ref, clean):
    sim.step(5)
  np.testing.assert_array_equal(nat.health.numpy(), ref.health.numpy())
  assert nat.health[1] & pws.Health.NONFINITE and nat.health[0] == 0 and nat.health[2] == 0
  assert nat.counters == ref.counters
  # the healthy worlds are bit-for-bit those of a run without the NaN world
  for field in ("qpos", "qvel", "qacc"):
    a, b = getattr(nat, field).numpy(), getattr(clean, field).numpy()
    np.testing.assert_array_equal(a[[0, 2]], b[[0, 2]])
  # NaN controls are flagged too (and zeroed inside the step, as MuJoCo does)
  nat.reset()
  ref.reset()
  for sim in (nat, ref):
    sim.ctrl[2, 0] = float("inf")
    sim.step(1)
  np.testing.assert_array_equal(nat.health.numpy(), ref.health.numpy())
  assert nat.health[2] & pws.Health.NONFINITE


def test_auto_reset_matches_warp_and_mujoco():
  mjm, nat, ref = _humanoid_sims(4, auto_reset=True)
  state = _falling_states(mjm, 4, seed=2)
  for sim in (nat, ref):
    oracle.set_state(sim.data, *state)
    sim.qvel[3, 0] = float("nan")
    sim.step(3)
  assert nat.counters == ref.counters and nat.counters["auto_resets"] >= 1
  np.testing.assert_array_equal(nat.health.numpy(), ref.health.numpy())
  assert oracle.rel_err(nat.qpos.numpy()[:3], ref.qpos.numpy()[:3]) < CONTACT_TRAJ_QPOS_TOL
  # world 3 was reset after step 1 and then took 2 steps from the reference state. (The Warp
  # solver reads stale efc_jv at alpha = 0, NaN after the NaN step, so its first solve after
  # the reset stops early; the oracle here is MuJoCo.)
  mjd = mujoco.MjData(mjm)
  mujoco.mj_step(mjm, mjd, 2)
  assert oracle.rel_err(nat.qpos.numpy()[3], mjd.qpos) < STEP_QPOS_TOL
  assert oracle.rel_err(nat.qvel.numpy()[3], mjd.qvel) < STEP_QVEL_TOL
  assert abs(nat.time.numpy()[3] - mjd.time) < TIME_TOL


def test_tendon_model_banks_health_and_auto_reset_match_warp():
  """Fixed tendons with per-world banks (actuator gear, which scales the tendon actuators'
  moment arms, and dof damping), a NaN world and auto_reset, as the Warp backend; the reset
  world then follows MuJoCo with its bank row's parameters."""
  mjm = oracle.mj_model("tendon_walker")
  n = 4
  qpos, qvel, ctrl, act, _ = (a[:n] for a in tcon._states("tendon_walker", 0))
  scales = np.random.default_rng(2).uniform(0.7, 1.3, n)
  sims = []
  for backend in ("native", "warp"):
    sim = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=n, device="cpu", backend=backend, nbank=n,
                        auto_reset=True)
    for name in ("actuator_gear", "dof_damping"):
      bank = wp.to_torch(getattr(sim.model, name))
      bank *= torch.as_tensor(scales, dtype=torch.float32).view(-1, 1)
    oracle.set_state(sim.data, qpos, qvel, ctrl, act)
    sim.qvel[3, 0] = float("nan")
    sim.step(3)
    sims.append(sim)
  nat, ref = sims
  np.testing.assert_array_equal(nat.health.numpy(), ref.health.numpy())
  assert nat.counters == ref.counters and nat.counters["auto_resets"] == 1
  assert oracle.rel_err(nat.qpos.numpy()[:3], ref.qpos.numpy()[:3]) < CONTACT_TRAJ_QPOS_TOL
  assert oracle.rel_err(nat.qvel.numpy()[:3], ref.qvel.numpy()[:3]) < CONTACT_TRAJ_QVEL_TOL
  # world 3: reset after step 1 (controls zeroed), then 2 steps from qpos0 with bank row 3
  mjm.actuator_gear[:, 0] *= np.float32(scales[3])
  mjm.dof_damping[:] *= np.float32(scales[3])
  mjd = mujoco.MjData(mjm)
  mujoco.mj_step(mjm, mjd, 2)
  assert oracle.rel_err(nat.qpos.numpy()[3], mjd.qpos) < STEP_QPOS_TOL
  assert oracle.rel_err(nat.qvel.numpy()[3], mjd.qvel) < STEP_QVEL_TOL
  # the bank rows are read per world: world 0 with world 1's gear would differ
  assert oracle.rel_err(_ours(nat, "qfrc_actuator", 0), _ours(ref, "qfrc_actuator", 0)) < FORCE_TOL


def test_api_parity_with_warp():
  """reset, views, ctrl writes, time and the derived fields users read behave as with Warp."""
  mjm, nat, ref = _humanoid_sims(5)
  qpos_view = nat.qpos  # a view taken before stepping sees the step
  rng = np.random.default_rng(0)
  ctrl = torch.as_tensor(rng.uniform(-1, 1, (5, mjm.nu)), dtype=torch.float32)
  for sim in (nat, ref):
    sim.ctrl[:] = ctrl
    sim.step(20)
  assert qpos_view.data_ptr() == nat.qpos.data_ptr()
  assert np.abs(qpos_view.numpy() - mjm.qpos0).max() > 1e-3  # it moved
  for field in ("qpos", "qvel", "qacc", "time", "xpos", "xquat", "xmat", "xipos", "geom_xpos",
                "geom_xmat", "actuator_force", "qfrc_actuator", "qfrc_bias", "qfrc_passive",
                "qfrc_constraint"):
    a, b = getattr(nat, field).numpy(), getattr(ref, field).numpy()
    assert oracle.rel_err(a, b) < NATIVE_WARP_STEPPED_FIELDS_TOL, field
  np.testing.assert_array_equal(nat.data.contact.ncon.numpy(), ref.data.contact.ncon.numpy())
  np.testing.assert_array_equal(nat.data.efc.nefc.numpy(), ref.data.efc.nefc.numpy())
  mask = torch.tensor([True, False, True, False, False])
  for sim in (nat, ref):
    sim.reset(mask)
  np.testing.assert_allclose(nat.qpos.numpy()[[0, 2]], np.tile(mjm.qpos0, (2, 1)), atol=FLOAT32_ROUNDING_TOL)
  assert (nat.time.numpy()[[0, 2]] == 0).all() and (nat.time.numpy()[[1, 3]] > 0).all()
  for sim in (nat, ref):
    sim.step(2)
  assert oracle.rel_err(nat.qpos.numpy(), ref.qpos.numpy()) < NATIVE_WARP_STEPPED_FIELDS_TOL


def test_threads_give_identical_results():
  mjm = oracle.mj_model("humanoid")
  state = _falling_states(mjm, 8, seed=4)
  results = []
  for threads in (1, 2):
    sim = simulator(mjm, 8, "native")
    native_backend.set_num_threads(sim, threads)
    oracle.set_state(sim.data, *state)
    sim.step(10)
    results.append(sim.qpos.numpy().copy())
  np.testing.assert_array_equal(results[0], results[1])


def test_option_changes_are_picked_up():
  """The plan copies scalar options; changing them after creation takes effect."""
  mjm, nat, ref = _humanoid_sims(2)
  for sim in (nat, ref):
    sim.model.opt.timestep = 0.002
    sim.max_qvel = 1e-3
    sim.step(3)
  np.testing.assert_allclose(nat.time.numpy(), 0.006, rtol=0, atol=TIME_TOL)
  np.testing.assert_array_equal(nat.health.numpy(), ref.health.numpy())
  assert (nat.health.numpy() & int(pws.Health.VELOCITY_BOUND)).all()


def test_per_world_parameter_banks_match_warp():
  """nbank = nworld: each world reads its own bank row (mass, damping, gains, gravity)."""
  mjm = oracle.mj_model("humanoid")
  n = 4
  state = _falling_states(mjm, n, seed=8)
  rng = np.random.default_rng(1)
  scales = {name: rng.uniform(0.7, 1.3, n) for name in ("body_mass", "dof_damping", "actuator_gainprm")}
  sims = []
  for backend in ("native", "warp"):
    sim = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=n, device="cpu", backend=backend, nbank=n)
    m = sim.model
    for name, sc in scales.items():
      bank = wp.to_torch(getattr(m, name))
      bank *= torch.as_tensor(sc, dtype=torch.float32).view(-1, *([1] * (bank.dim() - 1)))
    wp.to_torch(m.opt.gravity)[2] *= 0.5  # world 2 on a lighter planet
    _forward(sim, state)
    sims.append(sim)
  nat, ref = sims
  for w in range(n):
    # a plan reading bank row 0 for every world would be off by the 30 % parameter changes
    assert oracle.rel_err(_ours(nat, "qacc", w), _ours(ref, "qacc", w)) < NEWTON_QACC_TOL, w


@pytest.mark.parametrize("solver", [mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtSolver.mjSOL_CG])
def test_flailing_batch_stays_finite_and_near_warp(solver):
  """The demo's batch (256 humanoids, controls uniform in +-0.3, 2 s): no world may blow up.

  Regression: a line search that bisected towards an unbounded bracket end sent one world's
  Newton step to alpha ~ 1e15 (qacc 3e16, then NaN) at step 199 of world 39. The Warp backend
  and MuJoCo C stay near |qvel| 10 on the same controls."""
  mjm = oracle.mj_model("humanoid")
  mjm.opt.solver = solver
  nworld, nsteps = 256, 400
  gen = torch.Generator(device="cpu").manual_seed(0)
  ctrl = (torch.rand((nworld, mjm.nu), generator=gen) * 2 - 1) * 0.3
  sim = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=nworld, device="cpu", backend="native")
  sim.ctrl[:] = ctrl
  sim.step(nsteps)
  # SOLVER_NOT_CONVERGED may be set (CG within the model's 50 iterations); nothing else may
  health = sim.health.numpy() & ~int(pws.Health.SOLVER_NOT_CONVERGED)
  assert np.all(health == 0), f"unhealthy worlds {np.nonzero(health)[0].tolist()} flags {health[health != 0]}"
  assert np.all(np.isfinite(sim.qvel.numpy())) and np.abs(sim.qvel.numpy()).max() < 100.0
  # the world that blew up, against the Warp backend on the same controls
  ref = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=1, device="cpu", backend="warp")
  one = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=1, device="cpu", backend="native")
  for s in (ref, one):
    s.ctrl[:] = ctrl[39:40]
    s.step(210)
  assert np.abs(one.qvel.numpy() - ref.qvel.numpy()).max() < NATIVE_WARP_FLAILING_QVEL_TOL


def test_state_bytes_per_world():
  _, nat, _ = _humanoid_sims(4)
  sizes = native_backend.state_bytes_per_world(nat)
  assert 0 < sizes["data"] < 1e6 and sizes["model"] > 0


# ---------------------------------------------------------------------------------------------
# bad usage: clear errors


def test_convex_iteration_cap_is_checked():
  """The EPA scratch of a convex pair lives on the thread's stack, sized for ccd_iterations up
  to the compiled cap; a model above it is refused, naming the option and the way out."""
  mjm = mujoco.MjModel.from_xml_string(BALL_HUMANOID)  # ellipsoid and cylinder geoms collide
  mjm.opt.ccd_iterations = native._native.ccd_max_iterations + 1
  with pytest.raises(RuntimeError, match=r"ccd_iterations <= \d+.*ccd_iterations = \d+.*backend='warp'"):
    simulator(mjm, 2, "native")
  simulator(mjm, 2, "warp")  # the Warp backend sizes its pool from the option


def test_unavailable_backends_raise_clear_errors(monkeypatch):
  with pytest.raises(ValueError, match="backend must be one of"):
    pws.Simulator("humanoid", nworld=1, device="cpu", backend="fused")
  if not native.available("cuda:0"):
    with pytest.raises(RuntimeError, match=r"backend='native' is unavailable on cuda:0: .*_native_cuda|CUDA"):
      pws.Simulator("humanoid", nworld=1, device="cuda:0", backend="native")
  monkeypatch.setattr(native, "_native", None)
  monkeypatch.setattr(native, "_native_built", False)
  with pytest.raises(RuntimeError, match=r"unavailable on cpu: pywarp_sim._native was not built"):
    pws.Simulator("humanoid", nworld=1, device="cpu", backend="native")
  with pytest.raises(RuntimeError, match="backend='warp'"):
    native_backend.stepper(pws.Simulator("humanoid", nworld=1, device="cpu", backend="warp"))


def test_replaced_arrays_are_checked():
  _, nat, _ = _humanoid_sims(2)
  nat.data.qvel = wp.zeros((3, nat.model.nv), dtype=float, device="cpu")
  with pytest.raises(RuntimeError, match=r"Data array 'qvel' has shape \(3, 27\)"):
    native_backend.refresh(nat)


# ---------------------------------------------------------------------------------------------
# CUDA


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["humanoid"] + TENDON_MODELS)
def test_cuda_native_matches_cpu_native(name):
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  mjm = oracle.mj_model(name)
  state = _falling_states(mjm, 32, seed=6)
  out = []
  for device in ("cpu", "cuda:0"):
    sim = pws.Simulator(pws.put_model(mjm, device), nworld=32, device=device, backend="native")
    oracle.set_state(sim.data, *state)
    sim.step(20)
    out.append({k: getattr(sim, k).cpu().numpy() for k in ("qpos", "qvel", "health")})
    out[-1]["ncon"] = sim.data.contact.ncon.numpy()
  cpu, gpu = out
  np.testing.assert_array_equal(cpu["health"], gpu["health"])
  assert oracle.rel_err(gpu["qpos"], cpu["qpos"]) < NATIVE_CUDA_CPU_QPOS_TOL
  assert oracle.rel_err(gpu["qvel"], cpu["qvel"]) < NATIVE_CUDA_CPU_QVEL_TOL


def _cuda_rows_run(mjm, configure, **sim_kw):
  """20 steps of workspace_rows + 300 humanoid worlds on cuda:0 (more worlds than per-thread
  rows, so rows are reused) from random velocities, world 7 NaN and auto-reset;
  configure(sim) before stepping. Returns (qpos, qvel, qacc, health) on the CPU."""
  n = native_backend.workspace_rows("cuda:0", pws.put_model(mjm, "cpu")) + 300
  sim = pws.Simulator(pws.put_model(mjm, "cuda:0"), nworld=n, device="cuda:0", backend="native",
                      auto_reset=True, **sim_kw)
  configure(sim)
  sim.qvel.copy_(0.5 * torch.randn(n, mjm.nv, generator=torch.Generator().manual_seed(0)).cuda())
  sim.qvel[7, 0] = float("nan")
  sim.step(20)
  return sim.qpos.cpu(), sim.qvel.cpu(), sim.qacc.cpu(), sim.health.cpu()


@pytest.mark.gpu
def test_cuda_thread_workspace_matches_per_world_workspace():
  """On the GPU, workspace="thread" gives each resident thread one workspace row and has it
  step worlds tid, tid + rows, ...: the trajectories equal the per-world workspace's bit for bit."""
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  mjm = oracle.mj_model("humanoid")
  out = [_cuda_rows_run(mjm, lambda sim: None, workspace=ws) for ws in ("world", "thread")]
  for a, b in zip(*out):
    assert torch.equal(a, b)


@pytest.mark.gpu
def test_cuda_staging_matches_the_unstaged_step():
  """On the GPU, set_staging runs each world inside the step kernel's local memory (a 64 KiB
  buffer; humanoid with nconmax=16 and workspace="thread"): the same trajectories bit for bit
  as over the Simulator's arrays, with auto-reset of a NaN world; a buffer over 64 KiB (the
  default contact capacity) is refused with a clear error."""
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  mjm = oracle.mj_model("humanoid")
  out = [_cuda_rows_run(mjm, lambda sim, on=on: native_backend.set_staging(sim, on), workspace="thread",
                        nconmax=16) for on in (False, True)]
  for a, b in zip(*out):
    assert torch.equal(a, b)
  big = pws.Simulator(pws.put_model(mjm, "cuda:0"), nworld=4, device="cuda:0", backend="native")
  with pytest.raises(ValueError, match="staging needs .* bytes per world.*lower nconmax"):
    native_backend.set_staging(big, True)


@pytest.mark.gpu
def test_cuda_native_graph_capture():
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  sim = pws.Simulator("humanoid", nworld=64, device="cuda:0", backend="native")
  ref = pws.Simulator("humanoid", nworld=64, device="cuda:0", backend="native")
  # torch captures on a side stream (CUDA cannot capture the legacy default stream) and makes
  # it current inside the block, so the native launch is recorded there
  graph = torch.cuda.CUDAGraph()
  side = torch.cuda.Stream()
  side.wait_stream(torch.cuda.current_stream())
  with torch.cuda.graph(graph, stream=side):
    sim.step(1)
  torch.cuda.current_stream().wait_stream(side)
  for _ in range(5):
    graph.replay()
  ref.step(5)
  torch.cuda.synchronize()
  np.testing.assert_array_equal(sim.qpos.cpu().numpy(), ref.qpos.cpu().numpy())


# ---------------------------------------------------------------------------------------------
# lockstep groups of eight worlds (kernels/step_lanes.h)


def _driven_states(mjm, n, seed):
  """(qpos, qvel, ctrl, act) of n different states of any model: MuJoCo C stepped from qpos0
  with a random initial velocity under random controls (in ctrlrange)."""
  rng = np.random.default_rng(seed)
  d = mujoco.MjData(mjm)
  lo = np.where(mjm.actuator_ctrllimited.astype(bool), mjm.actuator_ctrlrange[:, 0], -1.0)
  hi = np.where(mjm.actuator_ctrllimited.astype(bool), mjm.actuator_ctrlrange[:, 1], 1.0)
  out = []
  for i in range(n):
    mujoco.mj_resetData(mjm, d)
    d.qvel[:] = rng.normal(0, 0.5, mjm.nv)
    d.ctrl[:] = rng.uniform(lo, hi)
    mujoco.mj_step(mjm, d, 30 + 7 * i)
    out.append((d.qpos.copy(), d.qvel.copy(), d.ctrl.copy(), d.act.copy()))
  return tuple(np.array([s[k] for s in out]) for k in range(4))


LANE_CASES = [("humanoid", INT.mjINT_EULER), ("humanoid", INT.mjINT_IMPLICITFAST),
              ("ball_humanoid", INT.mjINT_EULER), ("actuator_zoo", INT.mjINT_IMPLICITFAST),
              ("two_trees", INT.mjINT_EULER), ("tendon_walker", INT.mjINT_EULER),
              ("limb_zoo", INT.mjINT_IMPLICITFAST), ("humanoid", INT.mjINT_RK4),
              ("tendon_humanoid", INT.mjINT_RK4)]
# Everything the lanes write, plus the state the per-world stages derive from it.
LANE_FIELDS = ("qpos", "qvel", "act", "qacc", "qacc_warmstart", "time", "xpos", "xquat", "ximat", "geom_xmat",
               "subtree_com", "cinert", "cdof", "cdof_dot", "cvel", "qM", "qLD", "qfrc_bias", "qfrc_constraint",
               "qacc_smooth", "actuator_force", "qH", "qacc_scratch", "cfrc_int", "site_xpos")


@pytest.mark.filterwarnings("ignore::pywarp_sim.pairs.ConvexCollisionWarning")
@pytest.mark.parametrize("name,integrator", LANE_CASES)
def test_lockstep_groups_match_per_world_path_bitwise(name, integrator):
  """11 worlds (a full group of eight and a partial one), each with its own bank row of every
  parameter the lanes read, one of them NaN and auto-reset: with the lockstep groups on, on 1
  and 2 threads, every state and derived array equals the per-world path's bit for bit, after
  steps and after forward."""
  mjm = oracle.mj_model(name, integrator=integrator)
  n = 11
  state = _driven_states(mjm, n, seed=len(name))
  scales = torch.as_tensor(np.random.default_rng(3).uniform(0.8, 1.25, (n, 1)), dtype=torch.float32)
  runs = []
  for lanes, threads in ((False, 1), (True, 1), (True, 2)):
    sim = simulator(mjm, n, "native", nbank=n, auto_reset=True)
    banks = [getattr(sim.model, b) for b in ("body_mass", "body_inertia", "body_ipos", "dof_armature",
                                             "dof_damping", "actuator_gainprm")] + [sim.model.opt.gravity]
    for bank in banks:
      t = wp.to_torch(bank)
      t.mul_(scales.view(-1, *([1] * (t.dim() - 1))))
    native_backend.set_num_threads(sim, threads)
    native_backend.set_lanes(sim, lanes)
    oracle.set_state(sim.data, *state)
    sim.qvel[6, 0] = float("nan")
    sim.step(25)
    stepped = {f: _ours(sim, f, slice(None)).copy() for f in LANE_FIELDS}
    stepped["health"] = sim.health.numpy().copy()
    stepped["counters"] = sim.counters
    oracle.set_state(sim.data, *state)
    sim.forward()
    forward = {f: _ours(sim, f, slice(None)).copy() for f in LANE_FIELDS}
    runs.append((stepped, forward))
  assert runs[0][0]["counters"]["auto_resets"] >= 1
  for k, label in ((1, "lanes, 1 thread"), (2, "lanes, 2 threads")):
    for phase in (0, 1):
      for field, ref in runs[0][phase].items():
        got = runs[k][phase][field]
        if isinstance(ref, dict):
          assert got == ref, f"{name} {label}: {field}"
        else:
          np.testing.assert_array_equal(got, ref, err_msg=f"{name} {label} {('step', 'forward')[phase]}: {field}")


# Outputs that stay per world with workspace="thread" (LANE_FIELDS without the workspace ones),
# plus the contacts and the solver's per-world counters.
THREAD_WS_FIELDS = tuple(f for f in LANE_FIELDS if f not in native_backend.WORKSPACE_FIELDS)


def _thread_ws_run(mjm, n, state, workspace, threads, lanes, nsteps=25, staging=False):
  sim = simulator(mjm, n, "native", nbank=n, auto_reset=True, workspace=workspace)
  wp.to_torch(sim.model.body_mass).mul_(torch.linspace(0.8, 1.25, n).view(n, 1))
  native_backend.set_num_threads(sim, threads)
  native_backend.set_lanes(sim, lanes)
  native_backend.set_staging(sim, staging)
  oracle.set_state(sim.data, *state)
  sim.qvel[6, 0] = float("nan")  # a NaN world: its workspace rows go on to other worlds
  sim.step(nsteps)
  out = {f: _ours(sim, f, slice(None)).copy() for f in THREAD_WS_FIELDS}
  c, e = sim.data.contact, sim.data.efc
  out.update(ncon=c.ncon.numpy().copy(), dist=c.dist.numpy().copy(), geom=c.geom.numpy().copy(),
             nefc=e.nefc.numpy().copy(), niter=e.solver_niter.numpy().copy(),
             health=sim.health.numpy().copy())
  sim.reset(torch.arange(n) % 3 == 0)  # partial reset, then forward
  out.update({f"reset_{f}": _ours(sim, f, slice(None)).copy() for f in ("qpos", "qacc", "xpos")})
  return sim, out


@pytest.mark.filterwarnings("ignore::pywarp_sim.pairs.ConvexCollisionWarning")
@pytest.mark.parametrize("name,integrator", LANE_CASES)
def test_thread_workspace_matches_per_world_workspace_bitwise(name, integrator):
  """workspace="thread": the solver workspace has 8 rows per OpenMP thread instead of one per
  world; on 1 and 2 threads, lanes on and off, with per-world banks, a NaN world that is
  auto-reset (its rows then serve clean worlds) and a partial reset, every per-world array
  equals the per-world workspace's bit for bit. So does staging (set_staging: each world
  stepped inside a per-thread buffer, the CUDA step's layout), with either workspace."""
  mjm = oracle.mj_model(name, integrator=integrator)
  n = 19
  state = _driven_states(mjm, n, seed=len(name) + 1)
  _, ref = _thread_ws_run(mjm, n, state, "world", 1, True)
  for workspace, threads, lanes, staging in (("thread", 1, False, False), ("thread", 1, True, False),
                                             ("thread", 2, True, False), ("thread", 2, False, False),
                                             ("thread", 1, False, True), ("thread", 2, True, True),
                                             ("world", 2, False, True)):
    sim, got = _thread_ws_run(mjm, n, state, workspace, threads, lanes, staging=staging)
    if workspace == "thread":
      assert sim.data.qM.shape[0] == native_backend.workspace_rows("cpu", sim.model) < n * 8
    for field, want in ref.items():
      np.testing.assert_array_equal(got[field], want, err_msg=f"{name} {workspace} threads={threads} "
                                                              f"lanes={lanes} staging={staging}: {field}")


def test_thread_workspace_memory_and_errors():
  mjm = oracle.mj_model("humanoid")
  world = simulator(mjm, 64, "native")
  thread = simulator(mjm, 64, "native", workspace="thread")
  a, b = native_backend.state_bytes_per_world(world), native_backend.state_bytes_per_world(thread)
  assert a["workspace"] == 0 and b["data"] < a["data"] / 5, (a, b)
  rows = native_backend.workspace_rows("cpu", thread.model)
  assert rows == 8 * native._native.openmp_max_threads()
  assert b["workspace"] * 64 == pytest.approx(rows * (a["data"] - b["data"]))
  with pytest.raises(ValueError, match="workspace='thread'.*backend='native'"):
    simulator(mjm, 4, "warp", workspace="thread")
  with pytest.raises(ValueError, match="workspace must be"):
    simulator(mjm, 4, "native", workspace="slot")
  assert thread.xpos.shape == world.xpos.shape  # poses stay per world
  with pytest.raises(AttributeError, match="sim.qM is solver workspace held per thread"):
    thread.qM
  native_backend.set_num_threads(thread, rows)  # more threads than the rows were sized for
  with pytest.raises(ValueError, match=r"per-thread solver workspace has \d+ rows"):
    thread.step()


def test_lockstep_groups_follow_model_edits_and_integrator_changes():
  """The lanes read the model's float arrays at every call (an in-place edit takes effect, as
  on the per-world path), and a switch of integrator (to RK4) keeps them equal."""
  mjm = oracle.mj_model("humanoid")
  n = 9
  state = _driven_states(mjm, n, seed=4)
  out = []
  for lanes in (False, True):
    sim = simulator(mjm, n, "native")
    native_backend.set_lanes(sim, lanes)
    oracle.set_state(sim.data, *state)
    sim.step(3)
    wp.to_torch(sim.model.body_pos)[3, 2] += 0.05
    sim.step(3)
    sim.model.opt.integrator = int(INT.mjINT_RK4)
    sim.step(3)
    out.append((sim.qpos.numpy().copy(), sim.qvel.numpy().copy()))
  np.testing.assert_array_equal(out[0][0], out[1][0])
  np.testing.assert_array_equal(out[0][1], out[1][1])
