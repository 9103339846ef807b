"""200-step trajectories (constraints disabled) against MuJoCo C's mj_step, per integrator, on
both backends (tests/backends.py)."""

import mujoco
import numpy as np
import pytest

import pywarp_sim as pws

import oracle
from backends import BACKENDS, simulator
from tolerances import QACC_SMOOTH_TOL, TIME_TOL, TRAJ_TOL

INT = mujoco.mjtIntegrator
NWORLD = 3
NSTEP = 200


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,integrator", [
  (name, integrator)
  for name in ("humanoid", "ball_humanoid", "actuator_zoo", "two_trees", "tendon_walker", "tendon_humanoid")
  for integrator in (INT.mjINT_EULER, INT.mjINT_IMPLICITFAST, INT.mjINT_RK4)
  # io rejects the walker's tendon damping with implicitfast (UnsupportedModelError)
  if not (name == "tendon_walker" and integrator == INT.mjINT_IMPLICITFAST)])
def test_trajectory_matches_mj_step(name, integrator, backend):
  mjm = oracle.mj_model(name, disable=(mujoco.mjtDisableBit.mjDSBL_CONSTRAINT,), integrator=integrator)
  sim = simulator(mjm, NWORLD, backend)
  d = sim.data
  qpos, qvel, ctrl, act = oracle.random_state(mjm, NWORLD, seed=7, qvel_scale=0.1, qpos_scale=0.1)
  ctrl *= 0.05  # gentle actuation: without joint limits strong torques make the motion chaotic
  oracle.set_state(d, qpos, qvel, ctrl, act)
  refs = [oracle.mj_data(mjm, qpos[w], qvel[w], ctrl[w], act[w]) for w in range(NWORLD)]
  worst = 0.0
  sim.step(NSTEP)
  for k in range(NSTEP):
    for mjd in refs:
      mujoco.mj_step(mjm, mjd)
  for w, mjd in enumerate(refs):
    for field in ("qpos", "qvel", "act"):
      ours = getattr(d, field).numpy()[w][:getattr(mjd, field).size]
      err = oracle.rel_err(ours, getattr(mjd, field))
      worst = max(worst, err)
      assert err < TRAJ_TOL, f"{name} {integrator.name} world {w}: {field} error {err:.2e}"
    assert abs(d.time.numpy()[w] - mjd.time) < TIME_TOL
  assert (sim.health == 0).all()
  print(f"\n{name} {integrator.name} {backend}: worst state error after {NSTEP} steps {worst:.2e}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("integrator", [INT.mjINT_EULER, INT.mjINT_IMPLICITFAST, INT.mjINT_RK4])
def test_qacc_and_warmstart_after_step_match_mj_step(integrator, backend):
  """After mj_step MuJoCo 4.0 leaves the forward qacc (Euler, implicitfast) or RK4's effective
  acceleration sum_j B_j F_j in qacc, and the last evaluated qacc in qacc_warmstart."""
  mjm = oracle.mj_model("humanoid", integrator=integrator)
  sim = simulator(mjm, NWORLD, backend)
  d = sim.data
  qpos, qvel, ctrl, act = oracle.random_state(mjm, NWORLD, seed=3, qvel_scale=0.5, qpos_scale=0.1)
  oracle.set_state(d, qpos, qvel, ctrl, act)
  oracle.fill_nan(d)
  sim.step(1)
  for w in range(NWORLD):
    mjd = oracle.mj_data(mjm, qpos[w], qvel[w], ctrl[w], act[w])
    mujoco.mj_step(mjm, mjd)
    for field in ("qacc", "qacc_warmstart"):
      err = oracle.rel_err(getattr(d, field).numpy()[w], getattr(mjd, field))
      assert err < QACC_SMOOTH_TOL, f"{integrator.name} world {w}: {field} error {err:.2e}"


def test_unsupported_integrator_rejected():
  mjm = oracle.mj_model("humanoid", integrator=INT.mjINT_IMPLICIT)
  with pytest.raises(pws.UnsupportedModelError, match="integrator"):
    pws.put_model(mjm, "cpu")
