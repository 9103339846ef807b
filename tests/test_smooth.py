"""Smooth dynamics (constraints disabled) against MuJoCo C's mj_forward, stage by stage.

The forward tests run on both backends (tests/backends.py): the Warp stages and the fused
native step compute the same fields in float32 and are held to the same bounds."""

import mujoco
import numpy as np
import pytest

from pywarp_sim import actuation, forward, passive, smooth

import oracle
from backends import BACKENDS, simulator
from tolerances import (FORCE_TOL, INERTIA_TOL, POS_TOL, QACC_SMOOTH_TOL, ROT_TOL, SOLVE_M_RESIDUAL_TOL,
                        VEL_TOL)

DSBL = mujoco.mjtDisableBit
# fixed tendons: the walker (limits, frictionloss, spring deadband, damper, tendon actuators)
# and the tendon humanoid (limited hamstrings, frictionloss, spring, tendon motor; no damper)
MODELS = ["humanoid", "ball_humanoid", "actuator_zoo", "two_trees", "tendon_walker", "tendon_humanoid"]
NWORLD = 6


def _setup(name, seed, disable=(), backend="warp"):
  """(mjm, sim, state): the model with constraints disabled on the backend, at NWORLD random
  states, every derived array NaN."""
  mjm = oracle.mj_model(name, disable=(DSBL.mjDSBL_CONSTRAINT, *disable))
  sim = simulator(mjm, NWORLD, backend)
  state = oracle.random_state(mjm, NWORLD, seed)
  oracle.set_state(sim.data, *state)
  oracle.fill_nan(sim.data)
  return mjm, sim, state


def _reference(mjm, state, w):
  mjd = oracle.mj_data(mjm, *(s[w] for s in state))
  mujoco.mj_forward(mjm, mjd)
  return mjd


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", MODELS)
def test_forward_matches_mujoco(name, backend):
  mjm, sim, state = _setup(name, seed=1, backend=backend)
  sim.forward()
  d = sim.data
  fields = {
    "xpos": POS_TOL, "xquat": ROT_TOL, "xmat": ROT_TOL, "xipos": POS_TOL, "ximat": ROT_TOL,
    "xanchor": POS_TOL, "xaxis": ROT_TOL, "geom_xpos": POS_TOL, "geom_xmat": ROT_TOL,
    "subtree_com": POS_TOL, "cinert": INERTIA_TOL, "cdof": VEL_TOL, "cvel": VEL_TOL,
    "cdof_dot": VEL_TOL, "crb": INERTIA_TOL, "qfrc_bias": FORCE_TOL,
    "qfrc_spring": FORCE_TOL, "qfrc_damper": FORCE_TOL, "qfrc_gravcomp": FORCE_TOL,
    "qfrc_passive": FORCE_TOL, "qfrc_smooth": FORCE_TOL, "qacc_smooth": QACC_SMOOTH_TOL,
    "qacc": QACC_SMOOTH_TOL,
  }
  if mjm.ntendon:
    fields.update(ten_length=POS_TOL, ten_velocity=VEL_TOL)
  worst = {}
  for w in range(NWORLD):
    mjd = _reference(mjm, state, w)
    for field, tol in fields.items():
      ours = getattr(d, field).numpy()[w].reshape(getattr(mjd, field).shape)
      err = oracle.rel_err(ours, getattr(mjd, field))
      worst[field] = max(worst.get(field, 0.0), err)
      assert err < tol, f"{name} world {w}: {field} error {err:.2e} >= {tol:.0e}"
    err = oracle.rel_err(d.qM.numpy()[w], oracle.full_m(mjm, mjd))
    worst["qM"] = max(worst.get("qM", 0.0), err)
    assert err < INERTIA_TOL, f"{name} world {w}: qM error {err:.2e}"
    if mjm.nu:
      for field in ("actuator_force", "actuator_length", "actuator_velocity"):
        err = oracle.rel_err(getattr(d, field).numpy()[w, :mjm.nu], getattr(mjd, field))
        assert err < FORCE_TOL, f"{name} world {w}: {field} error {err:.2e}"
      err = oracle.rel_err(d.qfrc_actuator.numpy()[w], mjd.qfrc_actuator)
      worst["qfrc_actuator"] = max(worst.get("qfrc_actuator", 0.0), err)
      assert err < FORCE_TOL, f"{name} world {w}: qfrc_actuator error {err:.2e}"
    if mjm.na:
      err = oracle.rel_err(d.act_dot.numpy()[w, :mjm.na], mjd.act_dot)
      assert err < FORCE_TOL, f"{name} world {w}: act_dot error {err:.2e}"
  assert (d.efc.nefc.numpy() == 0).all()
  print(f"\n{name} {backend}: worst qacc rel err {worst['qacc']:.2e}, qM {worst['qM']:.2e}, "
        f"qfrc_bias {worst['qfrc_bias']:.2e}")


def test_stages_each_write_their_outputs():
  """Each stage alone fills its outputs (the rest stays NaN-free only where written)."""
  mjm, sim, state = _setup("ball_humanoid", seed=2)
  m, d = sim.model, sim.data
  smooth.kinematics(m, d)
  assert np.isfinite(d.xpos.numpy()).all() and np.isfinite(d.geom_xmat.numpy()).all()
  assert np.isnan(d.cinert.numpy()).all()
  smooth.com_pos(m, d)
  assert np.isfinite(d.cinert.numpy()).all() and np.isfinite(d.cdof.numpy()).all()
  smooth.crb(m, d)
  smooth.factor_m(m, d)
  assert np.isfinite(d.qM.numpy()).all() and np.isfinite(d.qLDiagInv.numpy()).all()
  mjd = _reference(mjm, state, 0)
  assert oracle.rel_err(d.qLDiagInv.numpy()[0], mjd.qLDiagInv) < INERTIA_TOL
  smooth.transmission(m, d)
  smooth.com_vel(m, d)
  passive.passive(m, d)
  smooth.rne(m, d)
  actuation.fwd_actuation(m, d)
  assert oracle.rel_err(d.qfrc_bias.numpy()[0], mjd.qfrc_bias) < FORCE_TOL
  assert oracle.rel_err(d.qfrc_actuator.numpy()[0], mjd.qfrc_actuator) < FORCE_TOL


def test_solve_m_inverts_mass_matrix():
  mjm, sim, state = _setup("humanoid", seed=3)
  m, d = sim.model, sim.data
  forward.forward(m, d)
  rng = np.random.default_rng(0)
  vec = rng.normal(size=(NWORLD, m.nv)).astype(np.float32)
  d.qfrc_scratch.assign(vec)
  smooth.solve_m(m, d, d.qacc_scratch, d.qfrc_scratch)
  x = d.qacc_scratch.numpy()
  for w in range(NWORLD):
    np.testing.assert_allclose(d.qM.numpy()[w].astype(np.float64) @ x[w], vec[w], rtol=0, atol=SOLVE_M_RESIDUAL_TOL)


@pytest.mark.parametrize("flag", [DSBL.mjDSBL_GRAVITY, DSBL.mjDSBL_SPRING, DSBL.mjDSBL_DAMPER,
                                  DSBL.mjDSBL_ACTUATION, DSBL.mjDSBL_CLAMPCTRL])
@pytest.mark.parametrize("backend", BACKENDS)
def test_disable_flags(flag, backend):
  mjm, sim, state = _setup("ball_humanoid", seed=4, disable=(flag,), backend=backend)
  sim.forward()
  d = sim.data
  for w in range(2):
    mjd = _reference(mjm, state, w)
    for field in ("qfrc_bias", "qfrc_passive", "qfrc_actuator", "qacc"):
      err = oracle.rel_err(getattr(d, field).numpy()[w], getattr(mjd, field))
      assert err < QACC_SMOOTH_TOL, f"{flag.name}: {field} error {err:.2e}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_applied_forces(backend):
  """qfrc_applied and xfrc_applied (force + torque at the body com) enter qacc as in MuJoCo."""
  mjm, sim, state = _setup("ball_humanoid", seed=5, backend=backend)
  m, d = sim.model, sim.data
  rng = np.random.default_rng(1)
  qfrc = rng.normal(size=(NWORLD, m.nv))
  xfrc = rng.normal(size=(NWORLD, m.nbody, 6))
  xfrc[:, 0] = 0
  d.qfrc_applied.assign(qfrc.astype(np.float32))
  d.xfrc_applied.assign(xfrc.astype(np.float32))
  sim.forward()
  for w in range(NWORLD):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    mjd.qfrc_applied[:] = qfrc[w]
    mjd.xfrc_applied[:] = xfrc[w]
    mujoco.mj_forward(mjm, mjd)
    assert oracle.rel_err(d.qacc.numpy()[w], mjd.qacc) < QACC_SMOOTH_TOL


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_ctrl_zeroes_controls_like_mujoco(backend):
  mjm, sim, state = _setup("actuator_zoo", seed=6, backend=backend)
  d = sim.data
  ctrl = state[2].copy()
  ctrl[0, 1] = np.nan
  d.ctrl.assign(ctrl.astype(np.float32))
  sim.forward()
  mjd = oracle.mj_data(mjm, state[0][0], state[1][0], ctrl[0], state[3][0])
  mujoco.mj_forward(mjm, mjd)
  assert oracle.rel_err(d.qfrc_actuator.numpy()[0], mjd.qfrc_actuator) < FORCE_TOL
  assert np.isfinite(d.qacc.numpy()).all()
