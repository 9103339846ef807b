"""Term-based tasks (envs/manager.py, envs/mdp.py, envs/robot.py): the humanoid tasks against
their formulas written out here, a user task from a module (make, register, train --task),
construction errors that name the term, and the action term against the actuator kinds."""

import math
import os
import re
import sys
import textwrap
import warnings

import mujoco
import numpy as np
import pytest
import torch

import pywarp_sim as pws
from pywarp_sim import envs, native, pairs, randomize
from pywarp_sim.envs import control, mdp
from pywarp_sim.envs.manager import (ActionCfg, CommandTerm, CurriculumTerm, EventTerm, ObsGroup, ObsTerm,
                                     RewardTerm, TaskCfg, TaskEnv, TerminationTerm)
from tolerances import FLOAT32_ROUNDING_TOL

DR = dict(body_mass_scale=(0.8, 1.2), dof_damping_scale=(0.5, 1.5), actuator_strength_scale=(0.8, 1.0),
          gravity_offset=(-0.2, 0.2), kp_scale=(0.9, 1.1), kd_scale=(0.8, 1.2), latency_steps=(0, 2),
          push_interval=5, push_force=(20.0, 60.0), obs_noise_std=0.01, action_noise_std=0.05)
POSE = {"right_hip_y": -0.1, "left_hip_y": -0.1, "right_knee": -0.2, "left_knee": -0.2,
        "right_ankle_y": -0.1, "left_ankle_y": -0.1}
STAND = {"alive": 1.0, "upright": 1.0, "base_height": 1.0, "tracking_lin_vel": 0.5,
         "tracking_ang_vel": 0.25, "action_rate": -0.01, "torque": -0.01}
WALK = {"alive": 0.5, "upright": 0.5, "base_height": 0.5, "tracking_lin_vel": 1.5,
        "tracking_ang_vel": 0.75, "feet_air_time": 1.0, "action_rate": -0.01, "torque": -0.005}


def _rot_inv(q, v):
  """R(q)^T v, (w, x, y, z) quaternions, in the same float32 operations as the env (so the
  comparison can be bitwise)."""
  w, xyz = q[..., :1], q[..., 1:]
  return v * (2.0 * w * w - 1.0) - torch.cross(xyz, v, dim=-1) * (2.0 * w) + xyz * (
    2.0 * (xyz * v).sum(-1, keepdim=True))


class Reference:
  """The humanoid tasks written out as formulas (what humanoid-stand and humanoid-walk computed
  before they were term configs): its own Simulator, Randomizer and world draws
  (randomize.WorldDraws on a torch.Generator) seeded as the env's, the PD law, latency, pushes, noise, reset draws, observation layout, the eight
  reward terms, falls and time-outs. Only the start pose (`initial_qpos`, a constant) is taken
  from the env under test."""

  def __init__(self, task, n, backend, seed, initial_qpos, episode_length_s, randomization=None,
               random_yaw=False, command_resample_s=5.0):
    spec = randomize.DomainRandomization.from_dict(randomization)
    banks = spec is not None and spec.needs_banks()
    self.sim = pws.Simulator("humanoid", nworld=n, device="cpu", max_qvel=1e3, nbank=n if banks else None,
                             backend=backend)
    self.rnd = randomize.Randomizer(self.sim, spec, seed=seed + 1)
    self.gen = torch.Generator().manual_seed(seed)
    self.draws = randomize.WorldDraws(self.gen, n, "cpu")  # the env's per-world draws
    mjm = self.sim.model.mj_model
    jnt = mjm.actuator_trnid[:, 0]
    self.qadr = torch.as_tensor(mjm.jnt_qposadr[jnt], dtype=torch.long)
    self.vadr = torch.as_tensor(mjm.jnt_dofadr[jnt], dtype=torch.long)
    names = [mjm.joint(j).name for j in jnt]
    self.default = torch.zeros(mjm.nu)
    for k, v in POSE.items():
      self.default[names.index(k)] = v
    gear = torch.as_tensor(mjm.actuator_gear[:, 0], dtype=torch.float32)
    self.gear, self.kp, self.kd = gear, 12.0 * gear, 0.05 * gear
    self.feet = torch.tensor([mjm.geom("right_foot").id, mjm.geom("left_foot").id])
    self.task, self.n, self.nu, self.random_yaw = task, n, mjm.nu, random_yaw
    self.weights = STAND if task == "stand" else WALK
    self.dt = 4 * mjm.opt.timestep
    self.max_len = math.ceil(episode_length_s / self.dt)
    self.resample = round(command_resample_s / self.dt)
    self.init = initial_qpos
    z = lambda *s: torch.zeros(*s)  # noqa: E731
    self.t = torch.zeros(n, dtype=torch.long)
    self.actions, self.last, self.target, self.prev = z(n, mjm.nu), z(n, mjm.nu), z(n, mjm.nu), z(n, mjm.nu)
    self.cmd, self.air = z(n, 3), z(n, 2)
    self.last_contact = torch.zeros(n, 2, dtype=torch.bool)
    self._reset(torch.ones(n, dtype=torch.bool))

  def _u(self, lo, hi, shape):
    return lo + (hi - lo) * self.draws.rand(shape)

  def _commands(self, mask):
    if self.task == "stand":
      return
    n = self.n
    c = torch.stack([self._u(-0.5, 1.0, (n,)), self._u(-0.3, 0.3, (n,)), self._u(-0.5, 0.5, (n,))], -1)
    c = torch.where((self.draws.rand((n,)) < 0.1)[:, None], torch.zeros_like(c), c)
    self.cmd = torch.where(mask[:, None], c, self.cmd)

  def _reset(self, mask):
    n, sim = self.n, self.sim
    self.rnd.sample(mask)
    sim.reset(mask, recompute=False)
    qpos = self.init.expand(n, -1).clone()
    qpos[:, self.qadr] += self._u(-0.05, 0.05, (n, self.nu))
    if self.random_yaw:
      yaw = self._u(-math.pi, math.pi, (n,))
      zero = torch.zeros_like(yaw)
      qpos[:, 3:7] = torch.stack([torch.cos(yaw / 2), zero, zero, torch.sin(yaw / 2)], -1)
    qvel = self._u(-0.05, 0.05, (n, sim.model.nv))
    sim.qpos.copy_(torch.where(mask[:, None], qpos, sim.qpos))
    sim.qvel.copy_(torch.where(mask[:, None], qvel, sim.qvel))
    m2 = mask[:, None]
    self.actions = torch.where(m2, 0.0, self.actions)
    self.last = torch.where(m2, 0.0, self.last)
    self.target = torch.where(m2, self.default, self.target)
    self.prev = torch.where(m2, self.default, self.prev)
    self.air = torch.where(m2, 0.0, self.air)
    self.last_contact = self.last_contact & ~m2
    self.t = torch.where(mask, 0, self.t)
    self._commands(mask)

  def observations(self):
    qpos, qvel = self.sim.qpos, self.sim.qvel
    q = qpos[:, 3:7]
    down = torch.tensor([0.0, 0.0, -1.0]).expand(self.n, 3)
    obs = torch.cat([qpos[:, 2:3], _rot_inv(q, down), _rot_inv(q, qvel[:, 0:3]) * 1.0, qvel[:, 3:6] * 0.25,
                     qpos[:, self.qadr] - self.default, qvel[:, self.vadr] * 0.05, self.actions, self.cmd], -1)
    return self.rnd.obs_noise(obs)

  def step(self, actions):
    sim, rnd = self.sim, self.rnd
    actions = torch.clamp(actions, -5.0, 5.0)
    self.last, self.actions = self.actions, actions
    self.prev, self.target = self.target, self.default + 0.25 * rnd.action_noise(actions)
    spec = rnd.spec
    if spec.push_interval:
      t = self.t
      rnd.resample_push((t % spec.push_interval == 0) & (t > 0))
      active = ((t % spec.push_interval) < spec.push_duration) & (t >= spec.push_interval)
      sim.xfrc_applied[:, rnd.push_bodyid, 0:3] = torch.where(active[:, None], rnd.push_force, 0.0)
    for k in range(4):
      target = torch.where(rnd.latency[:, None] > k, self.prev, self.target) if spec.latency_steps else self.target
      q, qd = sim.qpos[:, self.qadr], sim.qvel[:, self.vadr]
      sim.ctrl.copy_(control.pd_ctrl(q, qd, target, self.kp * rnd.kp_scale, self.kd * rnd.kd_scale,
                                     self.gear, -1.0, 1.0))
      sim.step()
    self.t = self.t + 1
    qpos, qvel = sim.qpos, sim.qvel
    h, q = qpos[:, 2], qpos[:, 3:7]
    gz = _rot_inv(q, torch.tensor([0.0, 0.0, -1.0]).expand(self.n, 3))[:, 2]
    v = _rot_inv(q, qvel[:, 0:3])
    terms = {"alive": torch.ones(self.n), "upright": -gz,
             "base_height": torch.exp(-torch.square(h - 1.25) / 0.01),
             "tracking_lin_vel": torch.exp(-torch.square(self.cmd[:, :2] - v[:, :2]).sum(-1) / 0.25),
             "tracking_ang_vel": torch.exp(-torch.square(self.cmd[:, 2] - qvel[:, 5]) / 0.25)}
    if "feet_air_time" in self.weights:
      contact = control.foot_contacts(sim, self.feet)
      filt = contact | self.last_contact
      self.last_contact = contact
      first = (self.air > 0) & filt
      self.air = self.air + self.dt
      moving = torch.linalg.vector_norm(self.cmd[:, :2], dim=-1) > 0.1
      terms["feet_air_time"] = ((self.air - 0.4) * first).sum(-1) * moving
      self.air = self.air * ~filt
    terms["action_rate"] = torch.square(self.actions - self.last).sum(-1)
    terms["torque"] = torch.square(sim.ctrl).sum(-1)
    reward = torch.stack([self.weights[k] * v * self.dt for k, v in terms.items() if k in self.weights]).sum(0)
    unhealthy = sim.health != 0
    terminated = (h < 0.8) | (gz > -0.6) | unhealthy | ~torch.isfinite(reward)
    reward = torch.where(unhealthy | ~torch.isfinite(reward), 0.0, reward)
    time_outs = (self.t >= self.max_len) & ~terminated
    dones = terminated | time_outs
    self._commands(((self.t % self.resample) == 0) & ~dones)
    self._reset(dones)
    return self.observations(), reward, dones, time_outs


BACKENDS = ["warp"] + (["native"] if native.available("cpu") else [])
# (task, backend, envs, steps): few hundred steps; the Warp CPU backend is ~6x slower per step
CASES = [(task, b, 64 if b == "native" else 16, 300 if b == "native" else 200)
         for task in ("stand", "walk") for b in BACKENDS]


@pytest.mark.parametrize("task,backend,n,steps", CASES)
def test_humanoid_tasks_equal_their_formulas_bitwise(task, backend, n, steps):
  """humanoid-stand / humanoid-walk (term configs) against Reference: same seed, same actions,
  every observation, reward, done and time-out bitwise equal (the same float32 arithmetic in
  the same order). Walk runs with the full randomisation (banks, gain scales, latency, pushes,
  noise), a random start yaw, commands resampled every 0.3 s and 1 s episodes, so that resets,
  resampling and the feet air-time term all happen."""
  kw = dict(episode_length_s=1.0, seed=3, backend=backend)
  if task == "walk":
    kw.update(randomization=DR, command_resample_s=0.3)
  env = envs.make(f"humanoid-{task}", n, "cpu", **kw)
  assert env.sim.backend == backend and isinstance(env, TaskEnv)
  ref = Reference(task, n, backend, 3, env.initial_qpos, 1.0, kw.get("randomization"),
                  random_yaw=task == "walk", command_resample_s=kw.get("command_resample_s", 5.0))
  assert torch.equal(env.get_observations()["policy"], ref.observations())
  g = torch.Generator().manual_seed(0)
  ndone, air = 0, 0.0
  for t in range(steps):
    act = 0.5 * torch.randn(n, 21, generator=g)
    obs, rew, dones, extras = env.step(act)
    r_obs, r_rew, r_dones, r_to = ref.step(act)
    assert torch.equal(obs["policy"], r_obs), f"step {t}: observations"
    assert torch.equal(rew, r_rew), f"step {t}: rewards"
    assert torch.equal(dones.bool(), r_dones) and torch.equal(extras["time_outs"], r_to), f"step {t}"
    ndone += int(dones.sum())
    air += float(extras["log"]["Reward/feet_air_time"].abs()) if task == "walk" else 0.0
  assert ndone >= n, "the run must include resets"
  assert task == "stand" or air > 0, "the feet air-time term must be exercised"


# ---- a user task in a module ----------------------------------------------------------------------

USER_MODULE = "pws_test_user_tasks"  # written into tmp_path; a name no installed package has
USER_TASKS = '''
import dataclasses
from pywarp_sim.envs import mdp
from pywarp_sim.envs.manager import (CommandTerm, CurriculumTerm, EventTerm, ObsGroup, ObsTerm,
                                     RewardTerm, TaskCfg, TerminationTerm)

def heading_error(env, command_name):
    """(num_envs,) the command's yaw rate minus the base's, rad/s."""
    return env.command(command_name)[:, 2] - env.sim.qvel[:, 5]

@dataclasses.dataclass
class TurnInPlaceCfg(TaskCfg):
    episode_length_s: float = 2.0
    observations: dict = dataclasses.field(default_factory=lambda: {
        "policy": ObsGroup({"gravity": ObsTerm(mdp.projected_gravity),
                            "ang_vel": ObsTerm(mdp.base_ang_vel, scale=0.25),
                            "joint_pos": ObsTerm(mdp.joint_pos_rel),
                            "command": ObsTerm(mdp.generated_commands, params={"command_name": "turn"})}),
        "critic": ObsGroup({"height": ObsTerm(mdp.base_height), "feet": ObsTerm(mdp.foot_contact),
                            "yaw_error": ObsTerm(heading_error, params={"command_name": "turn"})},
                           noise=False)})
    rewards: dict = dataclasses.field(default_factory=lambda: {
        "upright": RewardTerm(mdp.upright, weight=1.0),
        "turn": RewardTerm(mdp.track_ang_vel_z_exp, weight=2.0, params={"command_name": "turn", "sigma": 0.5}),
        "action_rate": RewardTerm(mdp.action_rate_l2, weight=0.0)})
    terminations: dict = dataclasses.field(default_factory=lambda: {
        "time_out": TerminationTerm(mdp.time_out, time_out=True),
        "fell": TerminationTerm(mdp.base_height_below)})
    commands: dict = dataclasses.field(default_factory=lambda: {
        "turn": CommandTerm(mdp.uniform_velocity_command, resampling_time_s=1.0, params=dict(
            lin_vel_x=(0.0, 0.0), lin_vel_y=(0.0, 0.0), ang_vel_z=(-1.0, 1.0), standing_fraction=0.0))})
    events: dict = dataclasses.field(default_factory=lambda: {
        "friction": EventTerm(mdp.scale_model_parameter, mode="startup",
                              params={"field": "geom_friction", "scale_range": (0.5, 1.5)}),
        "pose": EventTerm(mdp.reset_to_default_pose, mode="reset", params={"joint_noise": 0.05}),
        "push": EventTerm(mdp.push_by_setting_velocity, mode="interval", interval_range_s=(0.1, 0.1),
                          params={"velocity_range": {"x": (0.5, 0.5)}})})
    curriculum: dict = dataclasses.field(default_factory=lambda: {
        "smooth": CurriculumTerm(mdp.modify_reward_weight,
                                 params={"term_name": "action_rate", "weight": -0.1, "num_steps": 3})})

TURN = TurnInPlaceCfg(episode_length_s=1.0)
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
  (tmp_path / f"{USER_MODULE}.py").write_text(textwrap.dedent(USER_TASKS))
  monkeypatch.syspath_prepend(str(tmp_path))
  yield USER_MODULE
  sys.modules.pop(USER_MODULE, None)


def test_user_task_from_a_module_runs_its_terms(user_module):
  """make("module:TaskCfgClass", overrides by dotted path): the groups' widths, the startup
  event's per-world bank values, the command ranges, the rewards (weights per second times dt
  of the terms' formulas, written out here) and the curriculum's weight change."""
  import warp as wp
  env = envs.make(f"{user_module}:TurnInPlaceCfg", 4, "cpu", **{"rewards.turn.weight": 3.0})
  assert env.max_episode_length == round(2.0 / env.dt)
  obs = env.get_observations()
  assert obs["policy"].shape == (4, 3 + 3 + 21 + 3) and obs["critic"].shape == (4, 1 + 2 + 1)
  # startup event: every world its own friction scale in [0.5, 1.5] of the nominal
  ratio = (wp.to_torch(env.sim.model.geom_friction)[:, :, 0]
           / torch.as_tensor(env.sim.model.host["geom_friction"][0][:, 0]))
  assert ratio.shape[0] == 4 and ratio.min() >= 0.5 and ratio.max() <= 1.5
  assert not torch.equal(ratio[0], ratio[1])
  cmd = env.command("turn")
  assert torch.all(cmd[:, :2] == 0) and cmd[:, 2].abs().max() <= 1.0 and cmd[:, 2].abs().min() > 0
  g = torch.Generator().manual_seed(0)
  last = torch.zeros(4, 21)
  for t in range(1, 7):
    act = 0.2 * torch.randn(4, 21, generator=g)
    _, rew, dones, extras = env.step(act)
    assert not dones.any()
    b = env.last_base_state
    w_rate = 0.0 if t <= 3 else -0.1  # the curriculum sets -0.1 in the resets of step 3
    expect = (1.0 * -b["gravity"][:, 2] * env.dt
              + 3.0 * torch.exp(-torch.square(cmd[:, 2] - b["ang_vel"][:, 2]) / 0.5) * env.dt
              + w_rate * torch.square(act - last).sum(-1) * env.dt)
    torch.testing.assert_close(rew, expect, rtol=FLOAT32_ROUNDING_TOL, atol=FLOAT32_ROUNDING_TOL)  # float32, the sum in another order
    last = act
  assert env.reward_weights["action_rate"] == -0.1
  assert extras["log"]["Curriculum/smooth"] == pytest.approx(-0.1)
  assert set(extras["log"]) >= {"Reward/turn", "Termination/fell", "Termination/time_out"}


def test_interval_push_sets_the_base_velocity(user_module):
  """The interval event (every 0.09 s: after the 5th env step of 0.02 s) adds its 0.5 m/s to
  the base's x velocity after the physics of that step, and nothing before."""
  env = envs.make(f"{user_module}:TURN", 2, "cpu", **{"events.push.interval_range_s": (0.09, 0.09)})
  assert env.max_episode_length == round(1.0 / env.dt)
  after_physics = []
  sim_step = env.sim.step

  def spy(n=1):
    sim_step(n)
    after_physics.append(env.sim.qvel[:, 0].clone())
  env.sim.step = spy
  for t in range(1, 6):
    _, _, dones, _ = env.step(torch.zeros(2, 21))
    assert not dones.any()
    pushed = env.sim.qvel[:, 0] - after_physics[-1]
    expect = 0.5 if t == 5 else 0.0
    torch.testing.assert_close(pushed, torch.full((2,), expect), rtol=0, atol=FLOAT32_ROUNDING_TOL)


def test_register_and_make_cfg_take_task_configs(user_module):
  import importlib
  mod = importlib.import_module(user_module)
  envs.register("test-turn", mod.TurnInPlaceCfg)
  try:
    cfg = envs.make_cfg("test-turn", **{"episode_length_s": 3.0, "actions.scale": 0.5})
    assert isinstance(cfg, TaskCfg) and cfg.episode_length_s == 3.0 and cfg.actions.scale == 0.5
    assert mod.TurnInPlaceCfg().actions.scale == 0.25, "overrides act on a copy"
    env = envs.make("test-turn", 2, "cpu", episode_length_s=0.5)
    assert env.max_episode_length == round(0.5 / env.dt)
  finally:
    envs.unregister("test-turn")
  envs.register("test-turn-instance", mod.TURN)
  try:
    assert envs.make("test-turn-instance", 1).max_episode_length == round(1.0 / 0.02)
  finally:
    envs.unregister("test-turn-instance")


def test_train_cli_trains_a_task_config_from_a_module(user_module, tmp_path):
  """`train --task module:TaskCfgClass`: the critic reads the task's "critic" group."""
  pytest.importorskip("rsl_rl")
  import json
  from pywarp_sim import play, train
  task = f"{user_module}:TurnInPlaceCfg"
  train.main(["--task", task, "--device", "cpu", "--num-envs", "4", "--num-steps-per-env", "4",
              "--iterations", "2", "--quiet", "--log-dir", str(tmp_path)])
  with open(tmp_path / "history.json") as f:
    assert len(json.load(f)) == 2
  state = train.load_policy_checkpoint(tmp_path / "model_1.pt")
  critic_in = [v for k, v in state["critic_state_dict"].items() if v.dim() == 2][0].shape[1]
  actor_in = [v for k, v in state["actor_state_dict"].items() if v.dim() == 2][0].shape[1]
  assert (actor_in, critic_in) == (30, 4)
  env = envs.make(task, 2)
  policy = play.load_policy(str(tmp_path / "model_1.pt"), env)
  assert policy(env.get_observations()).shape == (2, 21)


# ---- construction errors name the term ---------------------------------------------------------------

def _minimal(**kw) -> TaskCfg:
  cfg = TaskCfg(episode_length_s=0.2,
                observations={"policy": ObsGroup({"gravity": ObsTerm(mdp.projected_gravity)})},
                rewards={"upright": RewardTerm(mdp.upright)})
  for k, v in kw.items():
    setattr(cfg, k, v)
  return cfg


def test_misnamed_terms_and_params_fail_at_construction():
  def build(cfg):
    return TaskEnv(cfg, 1, "cpu")
  with pytest.raises(ValueError, match=r"reward term 'height': pywarp_sim.envs.mdp.base_height_exp has no "
                                       r"parameter\(s\) \['target'\]; its parameters: \['target_height', 'variance'\]"):
    build(_minimal(rewards={"height": RewardTerm(mdp.base_height_exp, params={"target": 1.0})}))
  with pytest.raises(ValueError, match=r"reward term 'track': .*track_lin_vel_xy_exp needs parameter\(s\) "
                                       r"\['command_name'\]"):
    build(_minimal(rewards={"track": RewardTerm(mdp.track_lin_vel_xy_exp)}))
  with pytest.raises(ValueError, match=r"observation term 'policy/cmd': command 'vel' is not one of the "
                                       r"task's commands \[\]"):
    build(_minimal(observations={"policy": ObsGroup({"cmd": ObsTerm(mdp.generated_commands,
                                                                     params={"command_name": "vel"})})}))
  with pytest.raises(ValueError, match=r"event term 'push': mode must be one of"):
    build(_minimal(events={"push": EventTerm(mdp.push_by_setting_velocity, mode="sometimes",
                                             params={"velocity_range": {}})}))
  with pytest.raises(ValueError, match=r"interval event needs interval_range_s"):
    build(_minimal(events={"push": EventTerm(mdp.push_by_setting_velocity, mode="interval",
                                             params={"velocity_range": {}})}))
  with pytest.raises(ValueError, match=r"no 'policy' observation group \(groups: \['actor'\]\)"):
    build(_minimal(observations={"actor": ObsGroup({"g": ObsTerm(mdp.projected_gravity)})}))
  with pytest.raises(ValueError, match=r"curriculum term 'c': reward term 'rate' is not one of \['upright'\]"):
    build(_minimal(curriculum={"c": CurriculumTerm(mdp.modify_reward_weight, params=dict(
      term_name="rate", weight=1.0, num_steps=1))}))
  with pytest.raises(ValueError, match=r"unknown config key 'rewards.uprite.weight': TaskCfg.rewards has no "
                                       r"entry 'uprite'; entries: \['upright'\]"):
    envs.configure(_minimal(), {"rewards.uprite.weight": 2.0})
  with pytest.raises(ValueError, match=r"unknown config key 'episode_len': TaskCfg has no field 'episode_len'"):
    envs.configure(_minimal(), {"episode_len": 2.0})
  with pytest.raises(ValueError, match=r"actions.type must be one of"):
    build(_minimal(actions=ActionCfg(type="position")))


# ---- robots and actuator semantics ----------------------------------------------------------------------

def _humanoid_with_position_servos(kp: float = 200.0) -> str:
  """humanoid.xml with every motor replaced by a MuJoCo position actuator (kp N m/rad, kv 5 N m s/rad)."""
  with open(os.path.join(os.path.dirname(pws.__file__), "models", "humanoid.xml")) as f:
    xml = f.read()
  xml, count = re.subn(r'<motor name="(\w+)" gear="\d+" joint="(\w+)"/>',
                       rf'<position name="\1" joint="\2" kp="{kp}" kv="5" ctrlrange="-1.5 1.5"/>', xml)
  assert count == 21
  return xml


def test_actuator_kinds_come_from_the_compiled_model():
  mjm = mujoco.MjModel.from_xml_string(_humanoid_with_position_servos())
  assert envs.robot.actuator_kinds(mjm) == ["position"] * 21
  bundled = envs.make("humanoid-stand", 1)
  assert bundled.actuator_kinds == ["motor"] * 21
  spec = mujoco.MjSpec.from_string("""<mujoco><worldbody><body><joint name="j"/><geom size="0.1"/></body>
    </worldbody><actuator><velocity joint="j" kv="3"/><motor joint="j"/><general joint="j" gaintype="affine" gainprm="1 1"/></actuator></mujoco>""")
  assert envs.robot.actuator_kinds(spec.compile()) == ["velocity", "motor", "other"]


def test_torque_like_actions_on_position_actuators_raise_naming_them():
  robot = envs.RobotCfg(model=_humanoid_with_position_servos(), foot_geoms=("right_foot", "left_foot"),
                        default_joint_pos=POSE)
  cfg = _minimal(robot=robot)  # ActionCfg(type="joint_position_pd"): the env's PD law
  with pytest.raises(ValueError, match=r"actions.type='joint_position_pd' sends torques from the env's PD law "
                                       r"on joint targets and needs motor actuators, but 21 of 21 actuators .* "
                                       r"abdomen_z \(position\), abdomen_y \(position\).*Fix: "
                                       r"actions.type='joint_position'.*allow_actuator_mismatch=True"):
    TaskEnv(cfg, 1, "cpu")
  cfg.actions = ActionCfg(type="joint_torque")
  with pytest.raises(ValueError, match=r"joint_torque' sends torque-like ctrl"):
    TaskEnv(cfg, 1, "cpu")
  cfg.actions = ActionCfg(type="joint_position_pd", allow_actuator_mismatch=True)
  with pytest.warns(UserWarning, match="needs motor actuators"):
    TaskEnv(cfg, 1, "cpu")
  # joint targets on the bundled humanoid's motors: the reverse mistake
  with pytest.raises(ValueError, match=r"'joint_position' sends joint position targets \(rad\) and needs position "
                                       r"actuators, .*abdomen_z \(motor\).*Fix: actions.type='joint_position_pd'"):
    TaskEnv(_minimal(actions=ActionCfg(type="joint_position")), 1, "cpu")


def test_joint_targets_reach_position_actuators_as_their_ctrl():
  """type="joint_position": ctrl = default pose + scale * action, clipped to the ctrlrange; MuJoCo's
  servo then pulls the joint toward it (the joint moves toward a raised target)."""
  robot = envs.RobotCfg(model=_humanoid_with_position_servos(), foot_geoms=("right_foot", "left_foot"),
                        default_joint_pos=POSE, target_height=1.25, termination_height=0.8)
  env = TaskEnv(_minimal(robot=robot, actions=ActionCfg(type="joint_position", scale=0.5)), 2, "cpu")
  a = torch.zeros(2, 21)
  a[0, 0] = 1.0   # abdomen_z target +0.5 rad
  a[1] = 5.0      # 2.5 rad: beyond the ctrlrange 1.5
  env.step(a)
  expect = torch.clamp(env.default_joint_pos + 0.5 * a, -1.5, 1.5)
  assert torch.equal(env.sim.ctrl, expect)
  for _ in range(10):
    env.step(a)
  q = env.sim.qpos[:, env.actuated_qposadr]
  # the abdomen_z servo pulls toward its 0.5 rad target (measured 0.146 rad after 0.22 s)
  assert 0.1 < q[0, 0] < 0.5


def test_robot_heights_default_to_the_default_pose():
  """target_height None: the base height of the default pose on the floor; termination_height
  None: termination_fraction of it."""
  robot = envs.RobotCfg(model="humanoid", foot_geoms=("right_foot", "left_foot"), default_joint_pos=POSE)
  env = TaskEnv(_minimal(robot=robot), 1, "cpu")
  assert env.target_height == pytest.approx(float(env.initial_qpos[2]))
  assert 1.2 < env.target_height < 1.35  # the torso of the bundled humanoid standing
  assert env.termination_height == pytest.approx(0.6 * env.target_height)
  feet = envs.RobotCfg(model="humanoid", foot_bodies=("right_foot", "left_foot"), default_joint_pos=POSE)
  env2 = TaskEnv(_minimal(robot=feet), 1, "cpu")
  assert env2.num_feet == 2
  with pytest.raises(ValueError, match=r"foot body 'right_shoe' is not in the model"):
    TaskEnv(_minimal(robot=envs.RobotCfg(foot_bodies=("right_shoe",))), 1, "cpu")


MENAGERIE_ENV = "PWS_MENAGERIE"  # a mujoco_menagerie checkout (third-party models stay out of the repo)


@pytest.mark.skipif(not os.environ.get(MENAGERIE_ENV), reason=f"set {MENAGERIE_ENV} to a mujoco_menagerie checkout")
def test_menagerie_g1_robot_config():
  robot = envs.robot.menagerie_g1(os.environ[MENAGERIE_ENV])
  mjm = mujoco.MjModel.from_xml_path(robot.model)
  kinds = envs.robot.actuator_kinds(mjm)
  action = "joint_position" if set(kinds) == {"position"} else "joint_position_pd"
  with warnings.catch_warnings():
    # the robot config raises no warning of its own; G1's mesh pairs keep the documented
    # GJK/EPA warning of the collision layer
    warnings.simplefilter("error")
    warnings.filterwarnings("ignore", category=pairs.ConvexCollisionWarning)
    env = TaskEnv(_minimal(robot=robot, actions=ActionCfg(type=action, allow_actuator_mismatch=True)), 2, "cpu")
  assert env.num_feet == 2 and env.target_height < 1.0
  _, rew, _, _ = env.step(torch.zeros(2, env.num_actions))
  assert torch.isfinite(rew).all()


# ---- the README's example ----------------------------------------------------------------------------------

def test_readme_defining_a_task_example_runs(tmp_path, monkeypatch):
  """README "Defining a task": the module as written there, built through the registry's
  "module:Attr" path, stepped, with its critic group and the robot's termination height."""
  readme = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
  with open(readme) as f:
    text = f.read()
  found = re.search(r"```python\n# my_turn\.py \(on PYTHONPATH\)\n(.*?)```", text, re.S)
  assert found, "README's 'Defining a task' example (```python # my_turn.py ...) is missing"
  (tmp_path / "pws_readme_turn.py").write_text(found.group(1))
  monkeypatch.syspath_prepend(str(tmp_path))
  try:
    env = envs.make("pws_readme_turn:TurnInPlaceCfg", 4, "cpu", **{"rewards.turn.weight": 3.0})
    obs = env.get_observations()
    assert obs["policy"].shape == (4, 3 + 3 + 21 + 21 + 3) and obs["critic"].shape == (4, 3)
    assert env.termination_height == 0.8 and env.max_episode_length == round(5.0 / env.dt)
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
      _, rew, dones, extras = env.step(0.2 * torch.randn(4, 21, generator=g))
      assert torch.isfinite(rew).all()
    assert set(extras["log"]) >= {"Reward/upright", "Reward/turn", "Reward/action_rate", "Termination/fell"}
  finally:
    sys.modules.pop("pws_readme_turn", None)


def test_initial_qpos_ignores_visual_only_geoms():
  """The start height puts the lowest colliding geom 2 mm above the floor; a visual-only geom
  (contype = conaffinity = 0, as Menagerie's visual meshes) hanging lower does not lift it."""
  import mujoco
  import numpy as np

  from pywarp_sim.envs.manager import initial_qpos
  xml = """<mujoco><worldbody><geom type="plane" size="5 5 .1"/>
    <body pos="0 0 1"><freejoint/><geom type="sphere" size=".1"/>
      <geom type="sphere" size=".05" pos="0 0 -.5" contype="0" conaffinity="0"/>
      <body><joint name="j" axis="0 1 0"/><geom type="capsule" fromto="0 0 0 0 0 -.3" size=".05"/></body>
    </body></worldbody><actuator><motor joint="j"/></actuator></mujoco>"""
  mjm = mujoco.MjModel.from_xml_string(xml)
  h = {"jnt_qposadr": np.asarray(mjm.jnt_qposadr), "actuator_trnid": np.asarray(mjm.actuator_trnid[:, 0])}
  qpos = initial_qpos(mjm, np.zeros(1), h)
  # the capsule's lowest point (0.35 m below the base) sits 2 mm above the floor
  assert abs(float(qpos[2]) - (0.35 + 0.002)) < 1e-6
