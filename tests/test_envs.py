"""Environments: rsl-rl VecEnv API, rewards, terminations, timeouts, resets on the device,
domain randomisation in the loop, determinism and bit-exact checkpoint resumption."""

import math

import pytest
import torch
import warp as wp

import pywarp_sim as pws
from pywarp_sim import checkpoint, envs, randomize
from tolerances import (FLOAT32_ROUNDING_TOL, NATIVE_WARP_ENV_OBS_TOL, NATIVE_WARP_ENV_REWARD_TOL,
                        ROBOT_REPLAY_TOL)

N = 8
DR = dict(body_mass_scale=(0.8, 1.2), dof_damping_scale=(0.5, 1.5), actuator_strength_scale=(0.8, 1.0),
          gravity_offset=(-0.2, 0.2), kp_scale=(0.9, 1.1), kd_scale=(0.8, 1.2), latency_steps=(0, 2),
          push_interval=5, push_force=(20.0, 60.0), obs_noise_std=0.01, action_noise_std=0.05)


def _actions(g, n=N, scale=0.3):
  return scale * torch.randn(n, 21, generator=g)


def test_vec_env_interface_matches_rsl_rl():
  vec_env = pytest.importorskip("rsl_rl.env")
  from tensordict import TensorDict
  env = envs.make("humanoid-walk", N, "cpu", episode_length_s=0.5)
  assert isinstance(env, vec_env.VecEnv)
  assert env.num_envs == N and env.num_actions == 21 and env.device == "cpu"
  assert env.max_episode_length == math.ceil(0.5 / (4 * 0.005))
  assert env.episode_length_buf.shape == (N,) and env.episode_length_buf.dtype == torch.long
  assert env.cfg.task == "walk"
  obs = env.get_observations()
  assert isinstance(obs, TensorDict) and obs["policy"].shape == (N, env.num_obs) == (N, 76)
  obs2, rew, dones, extras = env.step(torch.zeros(N, 21))
  assert obs2["policy"].shape == (N, 76) and obs2["policy"] is not obs["policy"]
  assert rew.shape == (N,) and rew.dtype == torch.float32 and torch.isfinite(rew).all()
  assert dones.shape == (N,) and dones.dtype == torch.long
  assert extras["time_outs"].shape == (N,) and extras["time_outs"].dtype == torch.bool
  for term in envs.humanoid.WALK_REWARDS:
    v = extras["log"][f"Reward/{term}"]
    assert v.dim() == 0 and torch.isfinite(v), term
  # the command is the last 3 observations; walk commands lie in the configured ranges
  cmd = obs2["policy"][:, -3:]
  assert torch.equal(cmd, env.commands)
  assert cmd[:, 0].min() >= -0.5 and cmd[:, 0].max() <= 1.0 and cmd.abs().sum() > 0


def test_timeouts_reset_envs_on_the_device():
  env = envs.make("humanoid-stand", N, "cpu", episode_length_s=0.2)  # 10 env steps
  assert env.max_episode_length == 10
  saw_timeout = False
  for t in range(12):
    _, rew, dones, extras = env.step(torch.zeros(N, 21))
    to = extras["time_outs"]
    assert torch.all(dones[to] == 1)
    if t == 9:
      assert to.all(), "zero actions keep the humanoid up for 0.2 s: every env times out"
      assert torch.all(env.episode_length_buf == 0)
      assert torch.all(env.sim.time == 0), "done envs were reset in step"
      saw_timeout = True
    else:
      assert not to.any()
  assert saw_timeout


def test_fall_and_unhealthy_worlds_terminate_and_come_back_clean():
  env = envs.make("humanoid-stand", N, "cpu")
  env.step(torch.zeros(N, 21))
  env.sim.qpos[1, 2] = 0.4            # fallen
  env.sim.qvel[3, 8] = float("nan")   # broken simulation state
  obs, rew, dones, extras = env.step(torch.zeros(N, 21))
  assert dones[1] == 1 and dones[3] == 1 and not extras["time_outs"][[1, 3]].any()
  assert dones.sum() == 2
  assert torch.isfinite(rew).all() and rew[3] == 0
  assert torch.isfinite(obs["policy"]).all()
  assert obs["policy"][1, 0] > 1.2 and obs["policy"][3, 0] > 1.2, "reset to standing height"
  assert torch.all(env.sim.health == 0)
  assert extras["log"]["Episode/unhealthy"] == 1 / N


def test_env_rejects_bad_actions_clearly():
  env = envs.make("humanoid-stand", 2, "cpu")
  a = torch.zeros(2, 21)
  a[1, 5] = float("nan")
  with pytest.raises(ValueError, match=r"actions contain NaN/Inf in worlds \[1\]"):
    env.step(a)
  with pytest.raises(ValueError, match=r"shape \(2, 20\)"):
    env.step(torch.zeros(2, 20))
  with pytest.raises(ValueError, match="float32"):
    env.step(torch.zeros(2, 21, dtype=torch.float16))
  with pytest.raises(ValueError, match="unknown task"):
    envs.make("humanoid-run", 2)
  with pytest.raises(ValueError, match="unknown config keys"):
    envs.make("humanoid-stand", 2, kp_gain=3)
  with pytest.raises(ValueError, match="latency_steps"):
    envs.make("humanoid-stand", 2, randomization=dict(latency_steps=(0, 5)))
  with pytest.raises(ValueError, match="pd_decimation"):
    envs.make("humanoid-stand", 2, decimation=4, pd_decimation=3)
  with pytest.raises(ValueError, match="actuation_delay"):
    envs.make("humanoid-stand", 2, actuation_delay="action")
  # a ctrl delay may be longer than one env step
  envs.make("humanoid-stand", 2, actuation_delay="ctrl", randomization=dict(latency_steps=(0, 9)))


def test_position_targets_go_through_the_pd_law_clipped_to_ctrlrange():
  env = envs.make("humanoid-stand", 2, "cpu", kp=100.0, kd=2.0)
  q, qd = env.sim.qpos[:, env.actuated_qposadr].clone(), env.sim.qvel[:, env.actuated_dofadr].clone()
  a = torch.zeros(2, 21)
  a[0, 5] = 0.2
  a[1] = 5.0  # targets 1.25 rad away: saturated
  target = env.default_joint_pos + env.cfg.action_scale * a
  gear = torch.tensor(env.mj_model.actuator_gear[:, 0], dtype=torch.float32)
  expected = torch.clamp((100.0 * (target - q) - 2.0 * qd) / gear, -1, 1)
  ctrls = []
  sim_step = env.sim.step
  env.sim.step = lambda n=1: (ctrls.append(env.sim.ctrl.clone()), sim_step(n))
  env.step(a)
  assert torch.allclose(ctrls[0], expected, atol=FLOAT32_ROUNDING_TOL)
  assert torch.all(ctrls[0][1] == 1.0)


def test_latency_pushes_and_noise_act_per_world():
  env = envs.make("humanoid-stand", 4, "cpu", decimation=4, kp=50.0, kd=0.0, randomization=dict(
    latency_steps=(0, 3), push_interval=3, push_force=(30.0, 30.0), obs_noise_std=0.1))
  r = env.randomizer
  r.latency.copy_(torch.tensor([0, 1, 2, 3]))
  torso = env.mj_model.body("torso").id
  ctrls, pushes = [], []
  sim_step = env.sim.step

  def spy(n=1):
    ctrls.append(env.sim.ctrl.clone())
    pushes.append(env.sim.xfrc_applied[:, torso, :3].clone())
    sim_step(n)
  env.sim.step = spy
  env.step(torch.zeros(4, 21))
  ctrls.clear()
  pushes.clear()
  env.step(torch.full((4, 21), 2.0))  # new targets 0.5 rad away: |ctrl| ~ 50 * 0.5 / gear
  for w in range(4):
    new = [bool(ctrls[k][w, 0] > 0.3) for k in range(4)]  # abdomen_z, gear 40
    assert new == [k >= w for k in range(4)], f"world {w} (latency {w}): {new}"
  # pushes: every 3 env steps from step 3 on, 30 N horizontal, for one env step
  env.step(torch.zeros(4, 21))  # episode step 2
  assert all(torch.all(p == 0) for p in pushes)
  pushes.clear()
  env.step(torch.zeros(4, 21))  # episode step 3: push
  f = pushes[0]
  assert torch.allclose(torch.linalg.vector_norm(f, dim=-1), torch.full((4,), 30.0))
  assert torch.all(f[:, 2] == 0)
  pushes.clear()
  env.step(torch.zeros(4, 21))
  assert torch.all(pushes[0] == 0)
  # observation noise: two envs in identical states observe different values
  obs = env.get_observations()["policy"]
  assert not torch.equal(obs[0, 1:4], obs[1, 1:4])


def _spy_ctrl(env):
  """Records (ctrl the controller computed, ctrl the motors got) at every physics step."""
  log = []
  sim_step = env.sim.step

  def spy(n=1):
    log.append((env.ctrl_now.clone(), env.sim.ctrl.clone()))
    sim_step(n)
  env.sim.step = spy
  return log


def test_pd_decimation_holds_the_ctrl_between_pd_updates():
  env = envs.make("humanoid-stand", 2, "cpu", decimation=4, pd_decimation=2)
  log = _spy_ctrl(env)
  g = torch.Generator().manual_seed(3)
  for _ in range(3):
    env.step(_actions(g, 2))
  applied = [a for _, a in log]
  assert len(applied) == 12
  for k in range(0, 12, 2):
    assert torch.equal(applied[k], applied[k + 1]), f"ctrl changed within a PD period at physics step {k + 1}"
  assert not torch.equal(applied[0], applied[2])  # the state moved: the next update differs


def test_ctrl_delay_applies_each_ctrl_latency_physics_steps_later():
  """actuation_delay="ctrl": the motors get, at physics step s, the ctrl computed at s - L
  (zero for the first L steps of an episode), L per world and longer than an env step."""
  env = envs.make("humanoid-stand", 3, "cpu", decimation=4, pd_decimation=2, actuation_delay="ctrl",
                  randomization=dict(latency_steps=(0, 6)))
  env.reset()  # (samples the latency: set it after)
  env.randomizer.latency.copy_(torch.tensor([0, 2, 6]))
  log = _spy_ctrl(env)
  g = torch.Generator().manual_seed(4)
  for _ in range(4):
    env.step(_actions(g, 3))
  computed = torch.stack([c for c, _ in log])  # (16 physics steps, 3 worlds, 21)
  applied = torch.stack([a for _, a in log])
  for w, lat in enumerate((0, 2, 6)):
    assert torch.all(applied[:lat, w] == 0), f"world {w}: ctrl before its latency {lat}"
    assert torch.equal(applied[lat:, w], computed[:16 - lat, w]), f"world {w} (latency {lat})"
  assert torch.count_nonzero(computed[:, 2]) > 0


def test_ctrl_delay_env_matches_a_robot_control_loop():
  """The env's actuation with pd_decimation = the robot's control decimation and the latency
  as a ctrl delay is the academy robots' control loop (gap.rollout_return): PD at the control
  rate from the robot's readings, each ctrl arriving `latency` control steps late. Same
  actions, same start: same trajectory (float32 PD in the env, float64 in the loop)."""
  pytest.importorskip("mujoco")
  from pywarp_sim.academy.simbatch import SimRobot
  lat_control = 2
  env = envs.make("humanoid-stand", 1, "cpu", decimation=4, pd_decimation=2, actuation_delay="ctrl",
                  init_joint_noise=0.0, init_vel_noise=0.0, randomization=dict(latency_steps=(4, 4)))
  env.reset()
  robot = SimRobot({"latency": lat_control}, control_decimation=2)
  frame = robot.reset(env.sim.qpos[0].double().numpy(), env.sim.qvel[0].double().numpy())
  kp, kd = env.kp.numpy().astype("float64"), env.kd.numpy().astype("float64")
  force = env.force_per_ctrl.numpy().astype("float64")
  lo, hi = env.ctrl_lo.numpy(), env.ctrl_hi.numpy()
  default = env.default_joint_pos.numpy().astype("float64")
  g = torch.Generator().manual_seed(5)
  for _ in range(15):  # 0.3 s (with 20 ms latency it falls at ~0.37 s: the env would reset)
    a = 0.1 * torch.randn(1, 21, generator=g)
    env.step(a)
    for _ in range(2):  # two control steps per env step
      tau = kp * (default + env.cfg.action_scale * a[0].double().numpy() - frame.joint_pos) - kd * frame.joint_vel
      frame = robot.step(torch.from_numpy(tau / force).clamp(torch.from_numpy(lo), torch.from_numpy(hi)).numpy())
  assert env.episode_length_buf.item() == 15
  err = (env.sim.qpos[0].double() - robot._rep.sim.qpos[0].double()).abs().max().item()
  assert err < ROBOT_REPLAY_TOL, f"env and robot loop diverged: max |qpos difference| {err}"


def test_delay_line_returns_each_command_its_delay_later():
  """envs.control.DelayLine against a plain list of past commands (zeros before the start),
  per-world delays (tensor) and one shared delay (int), and a cleared world."""
  from pywarp_sim.envs import control
  line = control.DelayLine(3, 2, max_delay=4)
  delay = torch.tensor([0, 1, 4])
  pushed = []
  for k in range(9):
    cmd = torch.randn(3, 2, generator=torch.Generator().manual_seed(k))
    pushed.append(cmd)
    got = line.push(cmd, delay)
    for w, d in enumerate(delay.tolist()):
      want = pushed[k - d][w] if k >= d else torch.zeros(2)
      assert torch.equal(got[w], want), f"step {k}, world {w}, delay {d}"
  assert torch.equal(line.push(pushed[0], 2)[1], pushed[-2][1])
  line.clear(torch.tensor([False, True, False]))
  assert torch.all(line.push(pushed[0], 3)[1] == 0)


def test_reset_scenario_runs_after_the_envs_own_reset_until_removed():
  env = envs.make("humanoid-stand", 3, "cpu")
  masks = []

  def scenario(mask):
    masks.append(mask.clone())
    env.sim.qpos[mask, 2] = 2.0  # a start state of the scenario's own
  assert env.set_reset_scenario(scenario) is None
  obs = env.reset()
  assert len(masks) == 1 and masks[0].all()
  assert torch.all(env.sim.qpos[:, 2] == 2.0)
  assert torch.all(obs["policy"][:, 0] == 2.0)  # observations come after the scenario
  assert env.set_reset_scenario(None) is scenario
  env.reset()
  assert len(masks) == 1 and torch.all(env.sim.qpos[:, 2] < 2.0)
  with pytest.raises(TypeError, match="callable"):
    env.set_reset_scenario("incidents")


def _rollout(env, steps, seed=0):
  g = torch.Generator().manual_seed(seed)
  out = []
  for _ in range(steps):
    obs, rew, dones, _ = env.step(_actions(g))
    out.append((obs["policy"].clone(), rew.clone(), dones.clone(), env.sim.qpos.clone()))
  return out


def _same(a, b):
  return all(torch.equal(x, y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def test_same_seed_same_trajectory_bitwise():
  def make(seed):
    return envs.make("humanoid-walk", N, "cpu", randomization=DR, seed=seed, episode_length_s=0.3)
  a = _rollout(make(3), 25)
  b = _rollout(make(3), 25)
  assert _same(a, b)
  assert any(r[2].any() for r in a), "the rollout must include resets (falls or timeouts)"
  c = _rollout(make(4), 25)
  assert not _same(a, c)


def test_checkpoint_resumes_an_env_bit_exactly(tmp_path):
  cfg = dict(randomization=DR, seed=5, episode_length_s=0.3)
  env = envs.make("humanoid-walk", N, "cpu", **cfg)
  _rollout(env, 12, seed=1)
  path = tmp_path / "env.pt"
  torch.manual_seed(123)
  checkpoint.save(env, path)
  expected = _rollout(env, 15, seed=2)
  after = torch.rand(3)

  other = envs.make("humanoid-walk", N, "cpu", **cfg | {"seed": 99})  # different RNG streams
  checkpoint.load(other, path)
  resumed = _rollout(other, 15, seed=2)
  assert _same(expected, resumed)
  assert torch.equal(torch.rand(3), after), "torch's global RNG is restored too"
  with pytest.raises(ValueError, match="nworld"):
    checkpoint.load(envs.make("humanoid-walk", N + 1, "cpu", **cfg), path)


def test_checkpoint_resumes_a_simulator_with_randomizer(tmp_path):
  spec = dict(body_mass_scale=(0.8, 1.2), body_com_offset=(-0.01, 0.01), dof_armature_scale=(0.5, 2.0))

  def make():
    sim = pws.Simulator("humanoid", nworld=4, device="cpu", nbank=4)
    return sim, randomize.Randomizer(sim, spec, seed=1)
  sim, rnd = make()
  rnd.sample()
  sim.reset()
  sim.ctrl[:] = 0.3
  sim.step(20)
  checkpoint.save(sim, tmp_path / "sim.pt", randomizer=rnd)
  rnd.sample(torch.tensor([True, False, False, True]))
  sim.reset(torch.tensor([True, False, False, True]))
  sim.step(10)
  expected = sim.qpos.clone()

  sim2, rnd2 = make()
  checkpoint.load(sim2, tmp_path / "sim.pt", randomizer=rnd2)
  assert torch.all(sim2.ctrl == 0.3) and torch.allclose(sim2.time, torch.full((4,), 0.1))
  rnd2.sample(torch.tensor([True, False, False, True]))
  sim2.reset(torch.tensor([True, False, False, True]))
  sim2.step(10)
  assert torch.equal(sim2.qpos, expected)


def test_checkpoint_keeps_equality_switches(tmp_path):
  """eq_active is user-set state: a constraint switched off before the save stays off."""
  import assets
  sim = pws.Simulator(pws.load_model(assets.MODELS["fourbar_biped"]), nworld=2, device="cpu")
  eq = wp.to_torch(sim.data.eq_active)
  eq[1, 0] = 0
  sim.step(5)
  checkpoint.save(sim, tmp_path / "eq.pt")
  sim.step(5)
  expected = sim.qpos.clone()
  sim2 = pws.Simulator(pws.load_model(assets.MODELS["fourbar_biped"]), nworld=2, device="cpu")
  checkpoint.load(sim2, tmp_path / "eq.pt")
  assert wp.to_torch(sim2.data.eq_active)[1, 0] == 0 and wp.to_torch(sim2.data.eq_active)[0, 0] == 1
  sim2.step(5)
  assert torch.equal(sim2.qpos, expected)


@pytest.mark.gpu
def test_cuda_env_with_graph_matches_eager_bitwise():
  a = envs.make("humanoid-walk", 256, "cuda:0", randomization=DR, seed=1, episode_length_s=0.3)
  b = envs.make("humanoid-walk", 256, "cuda:0", randomization=DR, seed=1, episode_length_s=0.3,
                graph=True)
  g = torch.Generator(device="cuda:0").manual_seed(0)
  for _ in range(20):
    act = 0.3 * torch.randn(256, 21, generator=g, device="cuda:0")
    oa, ra, da, _ = a.step(act)
    ob, rb, db, _ = b.step(act)
    assert torch.equal(oa["policy"], ob["policy"]) and torch.equal(ra, rb) and torch.equal(da, db)


def test_native_backend_env_follows_the_warp_env():
  """backend="native" (the fused C++ step, `train --backend native`) runs the same task: with
  the same seed, randomisation and actions its observations and rewards track the Warp
  backend's (float32 rounding of two implementations, so a tolerance, not bit equality)."""
  a = envs.make("humanoid-walk", N, "cpu", randomization=DR, seed=3, episode_length_s=0.3)
  b = envs.make("humanoid-walk", N, "cpu", randomization=DR, seed=3, episode_length_s=0.3,
                backend="native")
  assert b.sim.backend == "native"
  g = torch.Generator().manual_seed(1)
  for _ in range(6):
    act = _actions(g)
    oa, ra, da, _ = a.step(act)
    ob, rb, db, _ = b.step(act)
    assert torch.equal(da, db)
    torch.testing.assert_close(ob["policy"], oa["policy"], rtol=0, atol=NATIVE_WARP_ENV_OBS_TOL)
    torch.testing.assert_close(rb, ra, rtol=0, atol=NATIVE_WARP_ENV_REWARD_TOL)


def test_set_latency_is_checked_against_what_the_env_holds():
  env = envs.make("humanoid-stand", 3, "cpu", actuation_delay="ctrl", randomization=dict(latency_steps=(0, 6)))
  env.set_latency(torch.tensor([0, 2]), torch.tensor([6, 3]))
  assert env.randomizer.latency.tolist()[0] == 6 and env.randomizer.latency.tolist()[2] == 3
  with pytest.raises(ValueError, match="latency 7 physics steps exceeds what the env holds"):
    env.set_latency(torch.tensor([1]), torch.tensor([7]))
  target = envs.make("humanoid-stand", 2, "cpu", decimation=4, randomization=dict(latency_steps=(0, 2)))
  with pytest.raises(ValueError, match=r"exceeds what the env holds \(4"):
    target.set_latency(torch.tensor([0]), torch.tensor([5]))
