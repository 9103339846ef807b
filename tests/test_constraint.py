"""Constraint rows and solvers against MuJoCo C: joint limits and dof friction (contacts are
covered in test_contact.py), on both backends (tests/backends.py)."""

import mujoco
import numpy as np
import pytest

import oracle
from backends import BACKENDS, simulator
from tolerances import (CG_QACC_TOL, CONTACT_TRAJ_QPOS_TOL, EFC_AREF_TOL, EFC_D_RTOL, EFC_ROW_TOL,
                        NEWTON_QACC_TOL)

DSBL = mujoco.mjtDisableBit
NWORLD = 4


def _limited(name, solver, seed, backend="warp", disable=()):
  """(mjm, sim, state): the model with every non-free joint limited to +-0.2 rad and dof
  friction on, contacts (and the flags in disable) off, on the backend at NWORLD random states,
  every derived array NaN."""
  mjm = oracle.mj_model(name, disable=(DSBL.mjDSBL_CONTACT, *disable))
  mjm.opt.solver = solver
  mjm.opt.iterations = 100
  mjm.opt.ls_iterations = 50
  mjm.opt.tolerance = 1e-10
  mjm.dof_frictionloss[:] = 0.3
  mjm.jnt_limited[:] = mjm.jnt_type != mujoco.mjtJoint.mjJNT_FREE
  mjm.jnt_range[:] = np.array([-0.2, 0.2])
  sim = simulator(mjm, NWORLD, backend)
  state = oracle.random_state(mjm, NWORLD, seed)
  oracle.set_state(sim.data, *state)
  oracle.fill_nan(sim.data)
  return mjm, sim, state


@pytest.mark.parametrize("solver,tol", [(mujoco.mjtSolver.mjSOL_NEWTON, NEWTON_QACC_TOL),
                                        (mujoco.mjtSolver.mjSOL_CG, CG_QACC_TOL)])
@pytest.mark.parametrize("name", ["ball_humanoid", "actuator_zoo", "humanoid"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_limits_and_friction_match_mujoco(name, solver, tol, backend):
  mjm, sim, state = _limited(name, solver, seed=3, backend=backend)
  sim.forward()
  d = sim.data
  nefc = d.efc.nefc.numpy()
  worst = 0.0
  for w in range(NWORLD):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    mujoco.mj_forward(mjm, mjd)
    assert nefc[w] == mjd.nefc
    n = mjd.nefc
    np.testing.assert_array_equal(d.efc.efc_type.numpy()[w, :n], mjd.efc_type)
    assert oracle.rel_err(d.efc.efc_J.numpy()[w, :n, :mjm.nv], mjd.efc_J.reshape(n, mjm.nv)) < EFC_ROW_TOL
    assert oracle.rel_err(d.efc.efc_pos.numpy()[w, :n], mjd.efc_pos) < EFC_ROW_TOL
    assert oracle.rel_err(d.efc.efc_aref.numpy()[w, :n], mjd.efc_aref) < EFC_AREF_TOL
    np.testing.assert_allclose(d.efc.efc_D.numpy()[w, :n], mjd.efc_D, rtol=EFC_D_RTOL)
    err = oracle.rel_err(d.qacc.numpy()[w], mjd.qacc)
    worst = max(worst, err)
    assert err < tol, f"{name} {solver.name} world {w}: qacc error {err:.2e}"
    assert oracle.rel_err(d.qfrc_constraint.numpy()[w], mjd.qfrc_constraint) < tol
  print(f"\n{name} {solver.name} {backend}: worst qacc rel err {worst:.2e}")


@pytest.mark.parametrize("flag", [DSBL.mjDSBL_LIMIT, DSBL.mjDSBL_FRICTIONLOSS, DSBL.mjDSBL_CONSTRAINT])
@pytest.mark.parametrize("backend", BACKENDS)
def test_constraint_disable_flags(flag, backend):
  mjm, sim, state = _limited("ball_humanoid", mujoco.mjtSolver.mjSOL_NEWTON, seed=4, backend=backend,
                             disable=(flag,))
  sim.forward()
  d = sim.data
  for w in range(NWORLD):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    mujoco.mj_forward(mjm, mjd)
    assert d.efc.nefc.numpy()[w] == mjd.nefc
    assert oracle.rel_err(d.qacc.numpy()[w], mjd.qacc) < NEWTON_QACC_TOL


@pytest.mark.parametrize("backend", BACKENDS)
def test_limited_trajectory_matches_mj_step(backend):
  mjm, sim, state = _limited("actuator_zoo", mujoco.mjtSolver.mjSOL_NEWTON, seed=5, backend=backend)
  d = sim.data
  qpos, qvel, ctrl, act = state
  oracle.set_state(d, qpos, qvel, ctrl, act)
  refs = [oracle.mj_data(mjm, qpos[w], qvel[w], ctrl[w], act[w]) for w in range(NWORLD)]
  sim.step(100)
  for _ in range(100):
    for mjd in refs:
      mujoco.mj_step(mjm, mjd)
  for w, mjd in enumerate(refs):
    assert oracle.rel_err(d.qpos.numpy()[w], mjd.qpos) < CONTACT_TRAJ_QPOS_TOL
