"""Equality constraints (connect, weld, joint, tendon) against MuJoCo C, on both backends
(tests/backends.py): the efc rows of mj_instantiateEquality / mj_makeImpedance /
mj_referenceConstraint (Jdot qvel term included), qacc for Newton, CG and PGS with pyramidal and
elliptic contacts, per-step trajectories of a closed-loop four-bar biped for every integrator,
eq_active toggling and reset; native vs Warp rows, and the native step's lane groups and
per-thread workspace on these models (flex equality's rejection is in test_io)."""

import functools

import mujoco
import numpy as np
import pytest
import torch

from pywarp_sim import native, native_backend

import oracle
from backends import BACKENDS, simulator
from tolerances import (EFC_AREF_RESIDUAL_TOL, EFC_D_RTOL, EFC_ROW_TOL, SOLVER_QACC_TOL, STEP_QPOS_TOL,
                        STEP_QVEL_TOL)

needs_native = pytest.mark.skipif(not native.available("cpu"), reason=f"native backend not built: "
                                  f"{native.unavailable_reason('cpu')}")

SOLVER = mujoco.mjtSolver
CONE = mujoco.mjtCone
# Values are compared on the equality rows (contact rows are test_contact's: their D moves
# with the float32 contact depth inside the impedance width); every row's type and id, and
# qacc, which all rows determine, are compared too. Solvers run to convergence (iterations
# raised, tolerance tightened in MuJoCo).
NSTEP = 200
# RK4's stages see the floor contacts at intermediate states, where one whose distance is within
# float32 rounding of zero exists in one simulator and not the other (tolerances.py's contact
# trajectories): replayed over 200 steps its worst one-step qpos error is 1.2e-5 on both backends
# (measured; 2.6e-7 over the first 100), so RK4 is replayed for 100 steps.
NSTEP_RK4 = 100


def _solver_model(name, solver=SOLVER.mjSOL_NEWTON, cone=CONE.mjCONE_PYRAMIDAL):
  mjm = oracle.mj_model(name)
  mjm.opt.solver = solver
  mjm.opt.cone = cone
  mjm.opt.iterations = 200
  mjm.opt.ls_iterations = 50
  mjm.opt.tolerance = 1e-10
  return mjm


@functools.lru_cache(maxsize=None)
def _states(name):
  """Random states (large violations) and MuJoCo's own falling states (contacts present)."""
  mjm = oracle.mj_model(name)
  rand = oracle.random_state(mjm, 4, seed=11)
  fall = oracle.falling_states(mjm, 6, seed=2)
  return tuple(np.concatenate([a, b]) for a, b in zip(rand, fall))


def _compare(mjm, states, backend, eq_active=None):
  """Runs forward on the backend and in MuJoCo; asserts the rows and qacc, returns the worst
  qacc error and the number of contact rows seen."""
  nworld = len(states[0])
  sim = simulator(mjm, nworld, backend)
  d = sim.data
  oracle.set_state(d, *states)
  if eq_active is not None:
    d.eq_active.assign(eq_active.astype(np.int32))
  oracle.fill_nan(d)
  sim.forward()
  e = d.efc
  worst, ncontact_rows = 0.0, 0
  for w in range(nworld):
    mjd = oracle.mj_data(mjm, *(s[w] for s in states))
    if eq_active is not None:
      mjd.eq_active[:] = eq_active[w]
    mujoco.mj_forward(mjm, mjd)
    n, ne = mjd.nefc, mjd.ne
    assert e.nefc.numpy()[w] == n and e.ne.numpy()[w] == ne, f"world {w}: rows"
    np.testing.assert_array_equal(e.efc_type.numpy()[w, :n], mjd.efc_type)
    np.testing.assert_array_equal(e.efc_id.numpy()[w, :n], mjd.efc_id)
    assert oracle.rel_err(e.efc_J.numpy()[w, :ne, :mjm.nv], mjd.efc_J.reshape(n, mjm.nv)[:ne]) < EFC_ROW_TOL
    assert oracle.rel_err(e.efc_pos.numpy()[w, :ne], mjd.efc_pos[:ne]) < EFC_ROW_TOL
    np.testing.assert_allclose(e.efc_D.numpy()[w, :ne], mjd.efc_D[:ne], rtol=EFC_D_RTOL)
    assert oracle.rel_err(e.efc_vel.numpy()[w, :ne], mjd.efc_vel[:ne]) < EFC_ROW_TOL
    kbip = mjd.efc_KBIP.reshape(-1, 4)[:ne]
    dpos = e.efc_pos.numpy()[w, :ne] - mjd.efc_pos[:ne]
    dvel = e.efc_vel.numpy()[w, :ne] - mjd.efc_vel[:ne]
    resid = e.efc_aref.numpy()[w, :ne] - mjd.efc_aref[:ne] + kbip[:, 0] * kbip[:, 2] * dpos + kbip[:, 1] * dvel
    scale = max(np.max(np.abs(mjd.efc_aref[:ne]), initial=0.0), 1.0)
    assert np.max(np.abs(resid), initial=0.0) / scale < EFC_AREF_RESIDUAL_TOL
    err = oracle.rel_err(d.qacc.numpy()[w], mjd.qacc)
    assert err < SOLVER_QACC_TOL[mjm.opt.solver], f"world {w}: qacc error {err:.2e}"
    # qfrc_constraint = M (qacc - qacc_smooth) carries qacc's float32 rounding at the world's force
    # scale (qfrc_smooth), which can dwarf the constraint forces (the zoo's "tail" alone, a
    # falling state: |qacc| 604, |qfrc_constraint| 1.3; measured 1.1e-4 relative to the latter,
    # both backends, from a qacc error of 1.9e-6)
    fscale = max(np.max(np.abs(mjd.qfrc_constraint)), np.max(np.abs(mjd.qfrc_smooth)), 1.0)
    ferr = np.max(np.abs(d.qfrc_constraint.numpy()[w] - mjd.qfrc_constraint)) / fscale
    assert ferr < SOLVER_QACC_TOL[mjm.opt.solver], f"world {w}: qfrc_constraint error {ferr:.2e}"
    worst = max(worst, err)
    ncontact_rows += n - ne - mjd.nf - mjd.nl
  return worst, ncontact_rows


_ZOO_EQ = ["hands", "hook", "backpack", "plate", "knees", "tail", "legs", "elbow"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("eq_name", _ZOO_EQ)
def test_each_equality_type_matches_mujoco(eq_name, backend):
  """One equality of the zoo active at a time (Newton): connect body/site, weld body/site
  with torquescale, two- and one-joint polycoef, two- and one-tendon polycoef."""
  mjm = _solver_model("equality_zoo")
  eqid = mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_EQUALITY, eq_name)
  mjm.eq_active0[:] = 0
  mjm.eq_active0[eqid] = 1
  states = _states("equality_zoo")
  worst, _ = _compare(mjm, states, backend, eq_active=np.tile(mjm.eq_active0, (len(states[0]), 1)))
  kind = mujoco.mjtEq(int(mjm.eq_type[eqid])).name
  semantics = mujoco.mjtObj(int(mjm.eq_objtype[eqid])).name if kind in ("mjEQ_CONNECT", "mjEQ_WELD") else ""
  print(f"\n{eq_name} ({kind} {semantics}, {backend}): worst qacc rel err {worst:.2e}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cone", [CONE.mjCONE_PYRAMIDAL, CONE.mjCONE_ELLIPTIC])
@pytest.mark.parametrize("solver", [SOLVER.mjSOL_NEWTON, SOLVER.mjSOL_CG, SOLVER.mjSOL_PGS])
def test_all_equalities_with_contacts_match_mujoco(solver, cone, backend):
  """Every equality at once (the inactive one stays out), with contact rows after them."""
  mjm = _solver_model("equality_zoo", solver, cone)
  worst, ncontact_rows = _compare(mjm, _states("equality_zoo"), backend)
  assert ncontact_rows > 0, "states must include contacts"
  print(f"\nequality_zoo {solver.name} {cone.name} {backend}: worst qacc rel err {worst:.2e} "
        f"({ncontact_rows} contact rows)")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("solver", [SOLVER.mjSOL_NEWTON, SOLVER.mjSOL_PGS])
def test_eq_active_per_world_matches_mujoco(solver, backend):
  """Per-world eq_active (Data state a user toggles): all on, each one off, all off."""
  mjm = _solver_model("equality_zoo", solver)
  states = _states("equality_zoo")
  nworld = len(states[0])
  active = np.ones((nworld, mjm.neq), np.int32)
  for w in range(1, nworld - 1):
    active[w, (w - 1) % mjm.neq] = 0
  active[-1] = 0
  _compare(mjm, states, backend, eq_active=active)


@pytest.mark.parametrize("backend", BACKENDS)
def test_disable_equality_flag(backend):
  mjm = _solver_model("equality_zoo")
  mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_EQUALITY)
  _compare(mjm, _states("equality_zoo"), backend)


def _replay(integrator, backend, toggle_at=None):
  """Per-step replay of NWORLD MuJoCo trajectories of the four-bar biped falling under random
  torques (NSTEP steps, NSTEP_RK4 with RK4): each step starts from MuJoCo's state; returns the
  worst qpos, qvel errors."""
  mjm = oracle.mj_model("fourbar_biped", integrator=integrator)
  nworld = 3
  sim = simulator(mjm, nworld, backend)
  d = sim.data
  rng = np.random.default_rng(int(integrator))
  refs = [mujoco.MjData(mjm) for _ in range(nworld)]
  for mjd in refs:
    mjd.qvel[:] = rng.normal(0, 0.5, mjm.nv)
  worst_q, worst_v, ncon = 0.0, 0.0, 0
  nstep = NSTEP_RK4 if integrator == mujoco.mjtIntegrator.mjINT_RK4 else NSTEP
  for k in range(nstep):
    if toggle_at is not None and k == toggle_at:
      refs[1].eq_active[0] = 0  # world 1 loses its right linkage mid-flight
      refs[2].eq_active[:] = 0
    for mjd in refs:
      mjd.ctrl[:] = rng.uniform(-1, 1, mjm.nu)
    stack = lambda f: np.array([getattr(mjd, f) for mjd in refs])
    oracle.set_state(d, stack("qpos"), stack("qvel"), stack("ctrl"), stack("act"))
    d.qacc_warmstart.assign(stack("qacc_warmstart").astype(np.float32))
    d.eq_active.assign(stack("eq_active").astype(np.int32))
    sim.step()
    for w, mjd in enumerate(refs):
      mujoco.mj_step(mjm, mjd)
      ncon += mjd.ncon
      worst_q = max(worst_q, oracle.rel_err(d.qpos.numpy()[w], mjd.qpos))
      worst_v = max(worst_v, oracle.rel_err(d.qvel.numpy()[w], mjd.qvel))
  assert ncon > 0, "the biped must touch the floor"
  # the linkage holds in MuJoCo's trajectory (a closed loop, not a free leg)
  anchor = [mjd.efc_pos[:3] for mjd in refs if mjd.ne]
  assert anchor and max(np.abs(a).max() for a in anchor) < 0.05
  return worst_q, worst_v


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("integrator", [mujoco.mjtIntegrator.mjINT_EULER, mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
                                        mujoco.mjtIntegrator.mjINT_RK4])
def test_fourbar_biped_steps_match_mj_step(integrator, backend):
  worst_q, worst_v = _replay(integrator, backend)
  nstep = NSTEP_RK4 if integrator == mujoco.mjtIntegrator.mjINT_RK4 else NSTEP
  print(f"\nfourbar_biped {integrator.name} {backend}: {nstep} replayed steps, worst qpos {worst_q:.2e}, "
        f"qvel {worst_v:.2e}")
  assert worst_q < STEP_QPOS_TOL and worst_v < STEP_QVEL_TOL


@pytest.mark.parametrize("backend", BACKENDS)
def test_fourbar_biped_eq_active_toggled_mid_trajectory(backend):
  worst_q, worst_v = _replay(mujoco.mjtIntegrator.mjINT_EULER, backend, toggle_at=NSTEP // 2)
  print(f"\nfourbar_biped toggled {backend}: worst qpos {worst_q:.2e}, qvel {worst_v:.2e}")
  assert worst_q < STEP_QPOS_TOL and worst_v < STEP_QVEL_TOL


@pytest.mark.parametrize("backend", BACKENDS)
def test_reset_restores_eq_active0(backend):
  sim = simulator(oracle.mj_model("equality_zoo"), 2, backend)
  sim.data.eq_active.zero_()
  sim.reset()
  np.testing.assert_array_equal(sim.data.eq_active.numpy(), np.tile(sim.model.mj_model.eq_active0, (2, 1)))
  assert sim.data.eq_active.numpy()[0, -1] == 0  # the zoo's inactive connect


@needs_native
def test_native_auto_reset_restores_eq_active0():
  """The fused step's in-place auto reset (kernels/forward.h reset_world) writes eq_active as
  mj_resetData: the model's eq_active0."""
  sim = simulator(oracle.mj_model("fourbar_biped"), 2, "native", auto_reset=True)
  sim.data.eq_active.zero_()
  sim.qpos[1, 0] = float("nan")  # world 1 is flagged non-finite and reset in the step
  sim.step()
  eq_active = sim.data.eq_active.numpy()
  np.testing.assert_array_equal(eq_active[1], sim.model.mj_model.eq_active0)
  np.testing.assert_array_equal(eq_active[0], 0)


@needs_native
@pytest.mark.parametrize("name", ["equality_zoo", "fourbar_biped"])
@pytest.mark.parametrize("cone", [CONE.mjCONE_PYRAMIDAL, CONE.mjCONE_ELLIPTIC])
def test_native_rows_match_warp(name, cone):
  """The same states on both backends: the same rows (count, equality count, type, id) and the
  same values within float32 rounding (both are float32 evaluations of MuJoCo's formulas)."""
  mjm = _solver_model(name, cone=cone)
  states = _states(name)
  efc = {}
  for backend in ("warp", "native"):
    sim = simulator(mjm, len(states[0]), backend)
    oracle.set_state(sim.data, *states)
    sim.forward()
    efc[backend] = sim.data.efc
  w, n = efc["warp"], efc["native"]
  np.testing.assert_array_equal(n.ne.numpy(), w.ne.numpy())
  np.testing.assert_array_equal(n.nefc.numpy(), w.nefc.numpy())
  assert w.ne.numpy().min() > 0
  for world, nefc in enumerate(w.nefc.numpy()):
    np.testing.assert_array_equal(n.efc_type.numpy()[world, :nefc], w.efc_type.numpy()[world, :nefc])
    np.testing.assert_array_equal(n.efc_id.numpy()[world, :nefc], w.efc_id.numpy()[world, :nefc])
    ne = w.ne.numpy()[world]
    for field in ("efc_J", "efc_pos", "efc_vel", "efc_aref"):
      ours, ref = getattr(n, field).numpy()[world, :ne], getattr(w, field).numpy()[world, :ne]
      assert oracle.rel_err(ours, ref) < EFC_ROW_TOL, f"world {world}: {field}"
    np.testing.assert_allclose(n.efc_D.numpy()[world, :ne], w.efc_D.numpy()[world, :ne], rtol=EFC_D_RTOL)


def _native_trajectory(name, nworld, nsteps, **kw):
  """qpos, qvel after each of nsteps native steps of nworld worlds under random controls."""
  sim = simulator(oracle.mj_model(name), nworld, "native", **kw)
  rng = np.random.default_rng(5)
  sim.qvel[:] = torch.as_tensor(rng.normal(0, 0.5, sim.qvel.shape), dtype=torch.float32)
  out = []
  for _ in range(nsteps):
    sim.ctrl[:] = torch.as_tensor(rng.uniform(-1, 1, sim.ctrl.shape), dtype=torch.float32)
    sim.step()
    out.append(torch.cat([sim.qpos, sim.qvel], 1).clone().numpy())
  return sim, np.stack(out)


@needs_native
@pytest.mark.parametrize("name", ["equality_zoo", "fourbar_biped"])
def test_native_lanes_and_thread_workspace_are_bit_identical(name):
  """Equality rows on the CPU step's paths: lockstep groups of eight worlds (kernels/step_lanes.h)
  and per-world, per-world and per-thread workspace, give the same trajectories bit for bit."""
  nworld, nsteps = 16, 50
  sim, lanes = _native_trajectory(name, nworld, nsteps)
  assert int(sim.data.efc.ne.numpy().min()) > 0
  assert np.all(np.isfinite(lanes))
  per_world = _native_trajectory(name, nworld, nsteps, workspace="thread")[1]
  np.testing.assert_array_equal(per_world, lanes)
  sim = simulator(oracle.mj_model(name), nworld, "native")
  native_backend.set_lanes(sim, False)
  rng = np.random.default_rng(5)
  sim.qvel[:] = torch.as_tensor(rng.normal(0, 0.5, sim.qvel.shape), dtype=torch.float32)
  for k in range(nsteps):
    sim.ctrl[:] = torch.as_tensor(rng.uniform(-1, 1, sim.ctrl.shape), dtype=torch.float32)
    sim.step()
    np.testing.assert_array_equal(torch.cat([sim.qpos, sim.qvel], 1).numpy(), lanes[k], err_msg=f"step {k}")
