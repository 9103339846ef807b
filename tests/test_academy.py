"""Academy: proxy robots, batched calibration, gap metrics, incident replay.

Oracles: MuJoCo C (the proxy robots run it with known parameters), the known hidden
parameters of a proxy built with `truth=...`, and the values written into the worlds."""

import dataclasses
import inspect
import math
import types

import numpy as np
import pytest
import torch
import warp as wp

import pywarp_sim as pws
from pywarp_sim.academy import calibrate as C
from pywarp_sim.academy import fleet as F
from pywarp_sim.academy import gap as G
from pywarp_sim.academy import motions as M
from pywarp_sim.academy import params as P
from pywarp_sim.academy import proxy
from pywarp_sim.academy.robot import Robot
from pywarp_sim.academy.simbatch import Replayer, SimRobot

from tolerances import (CALIBRATION_FRICTION_TOL, CALIBRATION_RECOVERY_TOL, FLOAT32_ROUNDING_TOL,
                        FLOAT64_ROUNDING_TOL, FLOOR_REPLAY_TOL, FRICTION_SCORE_QUADRATIC_TOL,
                        ROBOT_REPLAY_TOL, TWIN_RETURN_DROP_TOL)

# A known robot: three parameters off nominal, one control step of latency.
TRUTH = {"mass_legs": 1.12, "motor_strength": 0.87, "joint_damping": 1.45, "latency": 1}
SMALL = ("mass_legs", "motor_strength", "joint_damping")
TRUTH_F = {**TRUTH, "ground_friction": 0.8}
# One OpenMP thread: on a loaded CI machine busy-waiting threads make small batches slower.
SMALL_CFG = dict(generations=12, lm_iterations=3, duration_s=1.0, params=SMALL, cpu_threads=1)


@pytest.fixture(scope="module")
def small_calibration():
  robot = proxy.ProxyRobot("known", truth=TRUTH, noise=proxy.SensorNoise.none())
  return robot, C.calibrate(robot, C.CalibrationConfig(**SMALL_CFG))


def test_proxy_and_sim_robot_honour_the_robot_protocol():
  r = proxy.ProxyRobot("p", seed=1)
  assert isinstance(r, Robot)
  assert isinstance(SimRobot(), Robot)
  assert not isinstance(object(), Robot)
  qpos, qvel = M.held_state()
  frame = r.reset(qpos, qvel, held=True)
  assert frame.joint_pos.shape == (r.nu,) and frame.base_quat.shape == (4,)
  log = r.run(np.zeros((5, r.nu)))
  assert log.channels().shape == (6, 2 * r.nu + 7) and log.foot_contact.shape == (6, 2)
  # the hidden parameters are not an attribute of the robot: only reveal_truth() gives them
  assert not any("truth" in k and not k.startswith("_ProxyRobot__") for k in vars(r))
  assert set(r.reveal_truth()) == set(P.CONTINUOUS_PARAMS) | {"latency"}


def test_batched_replay_matches_mujoco_c_with_the_same_parameters():
  """Every world of a Replayer with the robot's parameters reproduces the MuJoCo C robot; a
  world with another latency does not."""
  robot = proxy.ProxyRobot("known", truth=TRUTH, noise=proxy.SensorNoise.none())
  motion = M.held_motions(100, robot.control_dt, seed=5)[0]
  log = motion.execute(robot)
  rep = Replayer(3, decimation=2, held_pose=motion.state[0][:7])
  scales = {k: TRUTH.get(k, 1.0) for k in P.BANK_PARAMS}
  out, health, _ = rep.rollout(scales, [1, 1, 0], *motion.state, **motion.replay())
  ref = torch.as_tensor(log.channels(), dtype=torch.float32)
  err = (out - ref[:, None]).abs()[:, :, :2 * robot.nu].amax((0, 2))
  assert (health == 0).all()
  assert float(err[0]) < ROBOT_REPLAY_TOL and float(err[1]) < ROBOT_REPLAY_TOL  # float32 vs float64 over 1 s
  assert float(err[2]) > 1e-2                            # wrong latency is visible


def test_replay_matches_mujoco_c_on_the_floor_with_per_world_friction():
  """The floor phase (feet sliding on the floor): a world with the robot's friction in its
  bank row reproduces MuJoCo C; worlds with another friction in theirs do not."""
  robot = proxy.ProxyRobot("known", truth=TRUTH_F, noise=proxy.SensorNoise.none())
  motion = M.floor_motions(80, robot.control_dt, seed=5)[0]
  log = motion.execute(robot)
  assert log.foot_contact.all()  # toes on the floor throughout
  rep = Replayer(3, decimation=2, held_pose=motion.state[0][:7])
  scales = {k: TRUTH_F.get(k, 1.0) for k in P.BANK_PARAMS}
  scales["ground_friction"] = np.array([0.8, 0.8 * 1.01, 1.0])
  out, health, _ = rep.rollout(scales, 1, *motion.state, **motion.replay())
  ref = torch.as_tensor(log.channels(), dtype=torch.float32)
  err = (out - ref[:, None]).abs()[:, :, :2 * robot.nu].amax((0, 2))  # rad, rad/s
  assert (health == 0).all()
  # measured: 8.5e-4 for 1% more friction, 0.029 for the nominal friction (25% more)
  assert float(err[0]) < FLOOR_REPLAY_TOL
  assert float(err[1]) > 5e-4 and float(err[2]) > 1e-2


def test_floor_phase_depends_smoothly_on_friction_in_mujoco_c():
  """The claim of motions.py, on MuJoCo C: the floor phase's joint trajectories move with
  friction, quadratically in the score (no contact events that jump). Measured on eight
  parameter sets: score / change^2 agrees within 2% between 0.1% and 1%, 0.0007..0.0095."""
  motion = M.floor_motions(160, 0.01, seed=7877)[0]

  def joints(scale):
    truth = {**TRUTH_F, "ground_friction": TRUTH_F["ground_friction"] * scale}
    log = motion.execute(proxy.ProxyRobot("c", truth=truth, noise=proxy.SensorNoise.none()))
    assert log.foot_contact.all()
    return log.channels()[:, :2 * log.joint_pos.shape[1]]

  ref = joints(1.0)
  scale = np.maximum(ref.std(0), 0.02)
  ratio = [np.mean(((joints(1 + d) - ref) / scale) ** 2) / d ** 2 for d in (1e-3, 1e-2)]
  assert ratio[0] > 1e-3, ratio
  assert abs(ratio[1] / ratio[0] - 1) < FRICTION_SCORE_QUADRATIC_TOL, ratio


def test_calibration_recovers_ground_friction():
  robot = proxy.ProxyRobot("floor", truth=TRUTH_F, noise=proxy.SensorNoise.none())
  cfg = C.CalibrationConfig(**{**SMALL_CFG, "params": SMALL + ("ground_friction",)})
  cal = C.calibrate(robot, cfg)
  assert "ground_friction" in cal.identified and "floor" in cal.excitation
  est = cal.params["ground_friction"]
  assert abs(math.log(est / TRUTH_F["ground_friction"])) < CALIBRATION_FRICTION_TOL, est
  lo, hi = cal.ci95["ground_friction"]
  assert lo < est < hi and hi / lo < 1.1
  assert cal.params["latency"] == TRUTH_F["latency"]


def test_calibration_recovers_known_parameters(small_calibration):
  robot, cal = small_calibration
  for name in SMALL:
    assert abs(math.log(cal.params[name] / TRUTH[name])) < CALIBRATION_RECOVERY_TOL, (name, cal.params[name])
    lo, hi = cal.ci95[name]
    assert lo < cal.params[name] < hi
  assert cal.params["latency"] == TRUTH["latency"]
  assert cal.cost_final < 1e-3 * cal.cost_nominal
  assert cal.unidentified == tuple(n for n in P.CONTINUOUS_PARAMS if n not in SMALL)


def test_calibration_is_repeatable_for_a_seed(small_calibration):
  """The population search is seeded (CalibrationConfig.seed): the same robot and
  configuration give the same search history and estimate, bit for bit."""
  robot, cal = small_calibration
  again = C.calibrate(robot, C.CalibrationConfig(**SMALL_CFG))
  assert again.history == cal.history
  assert again.params == cal.params


def test_gap_shrinks_on_held_out_motions(small_calibration):
  robot, cal = small_calibration
  heldout = M.held_motions(150, robot.control_dt, seed=777, count=1)  # not the excitation seed
  g = G.trajectory_gap(robot, {"nominal": P.nominal_params(), "calibrated": cal.params}, heldout)
  assert g["calibrated"]["nrmse"] * 5 < g["nominal"]["nrmse"]
  err0 = G.parameter_error(P.nominal_params(), robot.reveal_truth(), SMALL)["mean_abs_log"]
  err1 = G.parameter_error(cal.params, robot.reveal_truth(), SMALL)["mean_abs_log"]
  assert err1 * 3 < err0


# Noisy proxies (default sensor noise) calibrated in the quick configuration. Seeds 1 and 5:
# the white-noise interval s^2 (J'J)^-1 (Calibration.std_z_white) left the true friction
# outside (t = 2.06, 2.13); the third proxy that does so among the seven of calibrate.py's
# doc, seed 0, stays just outside with the simulated-noise interval too (t = -1.99): the rate
# over 40 robots is what bench/academy_coverage.py measures.
NOISY_SEEDS = (11, 1, 5)
# Widest 95% interval seen on these robots: 0.11 of the prior range (ln(high / low)); a
# quarter still fails an interval that says nothing.
INTERVAL_MAX_PRIOR_FRACTION = 0.25


@pytest.fixture(scope="module")
def noisy_calibrations():
  out = {}
  for seed in NOISY_SEEDS:
    robot = proxy.ProxyRobot("noisy", seed=seed)
    out[seed] = robot, C.calibrate(robot, C.CalibrationConfig.quick(generations=10, cpu_threads=1))
  return out


def test_noisy_full_calibration_reduces_parameter_error(noisy_calibrations):
  """Seven parameters (ground friction included) and latency, default sensor noise, the quick
  configuration."""
  robot, cal = noisy_calibrations[11]
  truth = robot.reveal_truth()
  err0 = G.parameter_error(P.nominal_params(), truth)
  err1 = G.parameter_error(cal.params, truth)
  assert "ground_friction" in err1["per_param"]
  assert cal.params["latency"] == truth["latency"]
  assert err1["mean_abs_log"] * 3 < err0["mean_abs_log"], (err0, err1)
  # Friction under sensor noise: measured 0.097 -> 0.007 on this robot; on the proxies of
  # seeds 0 and 1, 0.081 -> 0.041 (the worst seen) and 0.23 -> 0.023. "Halved" leaves a 7x
  # margin here.
  f0, f1 = err0["per_param"]["ground_friction"], err1["per_param"]["ground_friction"]
  assert f1 * 2 < f0, (f0, f1)


def test_noisy_calibration_intervals_contain_the_truth(noisy_calibrations):
  """The 95% intervals (sensor noise simulated through the robot's own PD loop) contain the
  hidden truth of every identified parameter and are far narrower than the prior."""
  for seed, (robot, cal) in noisy_calibrations.items():
    truth = robot.reveal_truth()
    assert cal.params["latency"] == truth["latency"], seed
    for name in cal.identified:
      lo, hi = cal.ci95[name]
      assert lo <= truth[name] <= hi, (seed, name, truth[name], cal.params[name], (lo, hi))
      prior = P.PRIORS[name]
      assert math.log(hi / lo) < INTERVAL_MAX_PRIOR_FRACTION * math.log(prior.high / prior.low), \
        (seed, name, (lo, hi))


def test_replay_noise_in_the_pd_loop_matches_mujoco_c():
  """A robot whose PD loop computes from noisy joint readings (noise added here, MuJoCo C
  with exact sensors underneath) is reproduced by a world given the same noise as pd_noise;
  a world without it is not."""
  robot = proxy.ProxyRobot("known", truth=TRUTH_F, noise=proxy.SensorNoise.none())
  motion = M.floor_motions(80, robot.control_dt, seed=5)[0]
  rng = np.random.default_rng(3)
  nu = robot.nu
  noise = np.concatenate([rng.normal(0, 0.002, (motion.nstep, nu)),     # rad
                          rng.normal(0, 0.02, (motion.nstep, nu))], 1)  # rad/s
  frame = robot.reset(*motion.state, held=True)
  exact = [np.r_[frame.joint_pos, frame.joint_vel]]
  for k, target in enumerate(motion.targets):
    q, qd = frame.joint_pos + noise[k, :nu], frame.joint_vel + noise[k, nu:]
    frame = robot.step(np.clip((motion.kp * (target - q) - motion.kd * qd) / motion.gear, -1, 1))
    exact.append(np.r_[frame.joint_pos, frame.joint_vel])
  exact = torch.as_tensor(np.array(exact), dtype=torch.float32)
  rep = Replayer(2, decimation=2, held_pose=motion.state[0][:7])
  scales = {k: TRUTH_F.get(k, 1.0) for k in P.BANK_PARAMS}
  pd_noise = np.stack([noise, np.zeros_like(noise)], 1)
  out, health, _ = rep.rollout(scales, TRUTH_F["latency"], *motion.state, **motion.replay(),
                               pd_noise=pd_noise)
  err = (out[:, :, :2 * nu] - exact[:, None]).abs().amax((0, 2))
  assert (health == 0).all()
  # measured: 0.022 without the noise
  assert float(err[0]) < FLOOR_REPLAY_TOL and float(err[1]) > 1e-2, err


def test_replay_curvature_finds_a_jump_and_the_one_sided_slope_skips_it():
  """Analytic residuals r(z) of two motions: a smooth one, and one with a jump between z and
  z + h in parameter 0 (an event inside the finite-difference stencil)."""
  h, slope = 0.01, np.array([2.0, -1.0, 0.5])
  n = 40
  def residuals(z):
    smooth = slope[:, None] * z[0] + 0.3 * z[1] ** 2 + np.zeros((3, n))  # motion 0: (T 3, C n)
    jumpy = slope[:, None] * z[0] - z[1] + 0.5 * (z[0] > 0.005) + np.zeros((3, n))
    return np.concatenate([smooth.ravel(), jumpy.ravel()])
  z0 = np.array([0.0, 0.2])
  r0 = residuals(z0)
  plus = [residuals(z0 + h * e) for e in np.eye(2)]
  minus = [residuals(z0 - h * e) for e in np.eye(2)]
  J = np.stack([(p - m) / (2 * h) for p, m in zip(plus, minus)], 1)
  second = np.stack([p - 2 * r0 + m for p, m in zip(plus, minus)], 1)
  layout = [(3, n), (3, n)]
  ratio = C.replay_curvature(J, second, h, layout)
  assert ratio.shape == (2, 2)
  assert ratio[0, 0] < FLOAT64_ROUNDING_TOL and ratio[0, 1] < 0.1 and ratio[1, 1] < FLOAT64_ROUNDING_TOL  # smooth: O(h)
  assert ratio[1, 0] > C.SMOOTH_CURVATURE_MAX                            # the jump
  J1 = C.one_sided_at_events(J, second, h, layout, ratio)
  np.testing.assert_allclose(J1[3 * n:, 0], np.repeat(slope, n))  # the backward difference
  np.testing.assert_array_equal(J1[:3 * n], J[:3 * n])              # smooth blocks untouched
  np.testing.assert_array_equal(J1[:, 1], J[:, 1])


class _SealedRobot:
  """Only the Robot protocol; any other attribute (truth, private state) raises."""

  def __init__(self, inner):
    object.__setattr__(self, "_inner", inner)

  name = property(lambda self: self._inner.name)
  control_dt = property(lambda self: self._inner.control_dt)
  nu = property(lambda self: self._inner.nu)
  joint_names = property(lambda self: self._inner.joint_names)

  def reset(self, qpos, qvel, held=False):
    return self._inner.reset(qpos, qvel, held=held)

  def step(self, ctrl):
    return self._inner.step(ctrl)

  def run(self, controls):
    return self._inner.run(controls)

  def reveal_truth(self):
    raise AssertionError("calibration read the hidden truth")

  def __getattr__(self, name):
    raise AssertionError(f"calibration touched robot attribute '{name}'")


def test_calibration_uses_only_the_robot_protocol():
  robot = _SealedRobot(proxy.ProxyRobot("sealed", truth=TRUTH, noise=proxy.SensorNoise.none()))
  assert isinstance(robot, Robot)
  cal = C.calibrate(robot, C.CalibrationConfig(**{**SMALL_CFG, "generations": 1, "lm_iterations": 1}))
  assert cal.robot == "sealed"
  src = inspect.getsource(C)  # and no code path that could reach the truth
  assert "reveal_truth(" not in src and "_ProxyRobot__" not in src


def _incident(robot_name, qpos, qvel, **params):
  return F.Incident(robot=robot_name, kind="fall", round=0, time=0.5, qpos=qpos, qvel=qvel,
                    params={**P.nominal_params(), **params})


def test_incidents_are_written_into_worlds_state_and_banks():
  qpos0, _ = M.resting_state("supine")
  nq, nv = len(qpos0), 27
  rng = np.random.default_rng(0)
  a = _incident("a", qpos0 + np.r_[0.1, 0, 0, np.zeros(4), rng.normal(0, 0.05, nq - 7)],
                rng.normal(0, 0.1, nv), mass_legs=1.2, motor_strength=0.8, joint_damping=1.5,
                joint_armature=0.6, latency=2)
  b = _incident("b", qpos0, np.zeros(nv), mass_torso=0.9, mass_arms=1.3, latency=3)
  buf = F.IncidentBuffer()
  buf.add(a)
  buf.add(b)
  sim = pws.Simulator("humanoid", nworld=4, device="cpu", nbank=4)
  latency, used = buf.apply(sim, [1, 3])
  assert latency.tolist() == [2, 3] and [u.robot for u in used] == ["a", "b"]
  np.testing.assert_allclose(sim.qpos[1].numpy(), a.qpos, atol=FLOAT32_ROUNDING_TOL)
  np.testing.assert_allclose(sim.qvel[1].numpy(), a.qvel, atol=FLOAT32_ROUNDING_TOL)
  np.testing.assert_allclose(sim.qpos[3].numpy(), b.qpos, atol=FLOAT32_ROUNDING_TOL)
  m = sim.model
  h = m.host
  mass = wp.to_torch(m.body_mass).numpy()
  names = m.names["body"]
  for w, inc in ((1, a), (3, b)):
    for group, bodies in P.MASS_GROUPS.items():
      for body in bodies:
        i = names.index(body)
        assert mass[w, i] == pytest.approx(h["body_mass"][0][i] * inc.params[group], rel=FLOAT32_ROUNDING_TOL)
  np.testing.assert_allclose(wp.to_torch(m.actuator_gainprm).numpy()[1, :, 0],
                             h["actuator_gainprm"][0][:, 0] * 0.8, rtol=FLOAT32_ROUNDING_TOL)
  np.testing.assert_allclose(wp.to_torch(m.dof_damping).numpy()[1], h["dof_damping"][0] * 1.5, rtol=FLOAT32_ROUNDING_TOL)
  np.testing.assert_allclose(wp.to_torch(m.dof_armature).numpy()[1], h["dof_armature"][0] * 0.6, rtol=FLOAT32_ROUNDING_TOL)
  # untouched worlds keep the nominal model and state
  np.testing.assert_allclose(mass[0], h["body_mass"][0], rtol=FLOAT32_ROUNDING_TOL)
  np.testing.assert_allclose(sim.qpos[0].numpy(), h["qpos0"], atol=FLOAT32_ROUNDING_TOL)
  # the replayed worlds run from there
  sim.step(5)
  assert (sim.health == 0).all()


def test_incidents_replayed_in_training_resets_carry_state_parameters_and_latency():
  """IncidentBuffer.attach on a training env with the robots' control loop
  (robot_control_env_overrides): every reset world starts from the incident, with its
  parameters and its latency in physics steps (control steps x pd_decimation)."""
  envs = pytest.importorskip("pywarp_sim.envs")
  qpos0 = envs.make("humanoid-stand", 1).initial_qpos.numpy().astype(np.float64)
  inc = _incident("a", qpos0 + np.r_[0.05, 0, 0, np.zeros(len(qpos0) - 3)], np.zeros(27),
                  motor_strength=0.85, latency=2)
  buf = F.IncidentBuffer()
  buf.add(inc)
  _, obj = F.randomization_spec(F.fit_distribution([types.SimpleNamespace(
    params={**P.nominal_params(), "latency": 3}, identified=P.BANK_PARAMS,
    std_z={k: 0.01 for k in P.BANK_PARAMS})]), physics_steps_per_control=2)
  assert obj.latency_steps == (6, 6)
  env = envs.make("humanoid-stand", 4, randomization=dataclasses.asdict(obj),
                  **F.robot_control_env_overrides(2))
  buf.attach(env, fraction=1.0)
  env.reset()
  assert env.randomizer.latency.tolist() == [4, 4, 4, 4]
  np.testing.assert_allclose(env.sim.qpos.numpy(), np.tile(inc.qpos, (4, 1)), atol=FLOAT32_ROUNDING_TOL)
  gain = wp.to_torch(env.sim.model.actuator_gainprm).numpy()[:, :, 0]
  np.testing.assert_allclose(gain, np.tile(env.sim.model.host["actuator_gainprm"][0][:, 0] * 0.85, (4, 1)),
                             rtol=FLOAT32_ROUNDING_TOL)


def test_fall_is_recorded_as_incident_and_replayed_in_simulation():
  envs = pytest.importorskip("pywarp_sim.envs")
  env = envs.make("humanoid-stand", 1, "cpu")
  weak = {"motor_strength": 0.3, "latency": 1}  # too weak to stand: it falls
  robot = proxy.ProxyRobot("weak", truth=weak, noise=proxy.SensorNoise.none())
  cal = types.SimpleNamespace(params={**P.nominal_params(), **weak})
  res, incident = F.evaluate_robot(F.zero_policy, env, robot, episode_s=2.0, pre_fall_s=0.2,
                                   round_index=0, calibration=cal)
  assert res["fell"] and incident is not None
  assert incident.params["motor_strength"] == 0.3 and incident.qpos.shape == (28,)
  buf = F.IncidentBuffer()
  buf.add(incident)
  out = F.replay_incidents(buf, env, horizon_s=1.0, decimation=2)
  assert out["start_qpos_error"] < FLOAT32_ROUNDING_TOL and out["bank_error"] < FLOAT32_ROUNDING_TOL
  assert out["reproduced"] == 1


def test_fleet_distribution_and_randomization_spec():
  cals = []
  for i, s in enumerate((0.9, 1.1)):
    params = {**P.nominal_params(), "mass_legs": s, "motor_strength": 2.0 - s, "latency": i}
    cals.append(types.SimpleNamespace(params=params, identified=P.BANK_PARAMS,
                                      std_z={k: 0.01 for k in P.BANK_PARAMS}))
  cals[0].params["ground_friction"], cals[1].params["ground_friction"] = 0.8, 1.2
  dist = F.fit_distribution(cals)
  assert dist["mass_legs"]["mean"] == pytest.approx(math.sqrt(0.9 * 1.1))
  assert dist["ground_friction"]["identified"]
  assert dist["ground_friction"]["mean"] == pytest.approx(math.sqrt(0.8 * 1.2))
  spec, obj = F.randomization_spec(dist, k_sigma=2.0)
  lo, hi = spec["ranges"]["mass_legs"]
  assert lo < 0.9 and hi > 1.1
  assert spec["latency_control_steps"] == (0, 1)
  flo, fhi = spec["ranges"]["ground_friction"]
  assert flo < 0.8 and fhi > 1.2
  assert spec["randomization"]["geom_friction_scale"] == (flo, fhi)
  if obj is not None:
    assert obj.body_mass_scale[0] <= lo and obj.body_mass_scale[1] >= hi
    assert obj.geom_friction_scale == pytest.approx((flo, fhi))


def test_policy_return_drop_vanishes_with_a_true_twin():
  """The same policy on a robot and on its simulated twin: with the robot's true parameters
  the returns agree (MuJoCo C vs pywarp_sim); with the nominal twin they do not."""
  pytest.importorskip("pywarp_sim.envs")
  truth = {"motor_strength": 0.85, "joint_armature": 0.6, "latency": 2}
  robot = proxy.ProxyRobot("r", truth=truth, noise=proxy.SensorNoise.none())
  env_cfg = {"task": "humanoid-stand"}
  true_twin = G.policy_return_drop(F.zero_policy, env_cfg, robot, {**P.nominal_params(), **truth},
                                   episode_s=1.5)
  nominal_twin = G.policy_return_drop(F.zero_policy, env_cfg, robot, None, episode_s=1.5)
  assert "skipped" not in true_twin, true_twin
  assert abs(true_twin["drop"]) < TWIN_RETURN_DROP_TOL * max(abs(true_twin["return_robot"]), 1.0)
  assert abs(nominal_twin["drop"]) > 10 * abs(true_twin["drop"])


def test_unseen_robot_returns_against_twins_from_the_fleet_randomisation():
  """Robots no calibration saw are scored against twins drawn from the fleet's randomisation:
  with a range pinned to one parameter set, a robot with exactly those parameters has the
  twins' return, a weak one does not."""
  pytest.importorskip("pywarp_sim.envs")
  ranges = {name: (1.0, 1.0) for name in P.CONTINUOUS_PARAMS}
  ranges["motor_strength"] = (0.9, 0.9)
  spec = {"ranges": ranges, "latency_control_steps": (1, 1)}
  at_mean = proxy.ProxyRobot("at-mean", truth={"motor_strength": 0.9, "latency": 1},
                             noise=proxy.SensorNoise.none())
  weak = proxy.ProxyRobot("weak", truth={"motor_strength": 0.3, "latency": 1}, noise=proxy.SensorNoise.none())
  out = F.unseen_robot_returns(F.zero_policy, [at_mean, weak], spec, "humanoid-stand", episode_s=1.5,
                               ntwins=2)
  assert len(out["twins"]) == 2 and out["twins"][0]["return"] == pytest.approx(out["twins"][1]["return"])
  same, low = out["robots"]["at-mean"], out["robots"]["weak"]
  assert abs(same["drop_rel"]) < TWIN_RETURN_DROP_TOL
  assert abs(low["drop_rel"]) > 0.1 and abs(low["drop_rel"]) > 10 * abs(same["drop_rel"])
  ref = out["return_sim"]
  assert low["drop_rel"] == pytest.approx((ref - low["return_robot"]) / abs(ref))
  assert out["max_drop_rel"] == pytest.approx(max(same["drop_rel"], low["drop_rel"]))
  assert out["mean_drop_rel"] == pytest.approx((same["drop_rel"] + low["drop_rel"]) / 2)


def test_fleet_training_runs_on_the_native_backend(tmp_path):
  pytest.importorskip("rsl_rl")
  from pywarp_sim import native
  if not native.available("cpu"):
    pytest.skip(native.unavailable_reason("cpu"))
  cfg = F.FleetConfig(train_iterations=2, train_envs=8)
  policy, info = F.train_policy(None, F.IncidentBuffer(), cfg, str(tmp_path))
  assert policy is not None, info
  assert info["backend"] == "native" and info["iterations"] == 2 and info["env_steps_per_s"] > 0
  obs = {"policy": torch.zeros(1, 76)}
  assert policy(obs).shape == (1, 21)
