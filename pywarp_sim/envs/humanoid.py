"""Humanoid standing and velocity-tracking tasks ("humanoid-stand", "humanoid-walk"), as term
configs of envs/manager.py on the bundled humanoid (envs/robot.py HUMANOID).

`HumanoidEnvCfg` is the flat set of knobs of the two tasks (what `envs.make("humanoid-walk",
n, **overrides)` accepts); `humanoid_task_cfg(cfg)` turns it into the TaskCfg of terms
(envs/mdp.py functions) that `HumanoidEnv`, a TaskEnv, runs. Start a new task from that TaskCfg
(`humanoid_task_cfg(HumanoidEnvCfg(task="walk"))`, then add, drop or reweight terms).

Everything in `step` runs on the simulator's device with torch ops on the
zero-copy views of the simulator; the only host sync is the NaN check on the
incoming actions (`validate_actions=True`, one flag read per env step).

Actions (num_envs, 21), one per motor of `humanoid.xml`:

* ``action_type="position"`` (default): joint position targets
  ``q_target = default_joint_pos + action_scale * action``. humanoid.xml has
  motors (torque actuators), so the PD law (control.pd_ctrl) runs in torch at every physics
  step: ``tau = kp * (q_target - q) - kd * qdot`` (N m), ``ctrl = tau / gear``
  clipped to the motor's ctrlrange (so |tau| <= gear). `kp`/`kd` default to
  ``kp_per_gear * gear`` and ``kd_per_gear * gear`` (12 and 0.05: the ankles must be
  stiffer than m g h of the body for the default pose to stand, measured ~10 s with zero
  actions, and the explicit D term chatters at 5 ms steps above ~0.1 * gear) and may be
  given per joint.
* ``action_type="torque"``: ``ctrl = clip(action_scale * action, ctrlrange)``.

Actions are clipped to ``[-clip_actions, clip_actions]`` first. One env step
is `decimation` physics steps (timestep 5 ms: 50 Hz control by default).

How the motors see the commands (a robot's control loop):

* ``pd_decimation``: physics steps per evaluation of the PD law (or of the torque
  clip); the ctrl is held in between (1: every physics step).
* ``actuation_delay``: what the per-world latency of the domain randomisation
  (``latency_steps``, physics steps) delays. ``"target"``: during the first
  `latency` physics steps of each env step the previous action's target still
  drives the PD law (at most `decimation` steps, as Isaac Lab's delayed actuators).
  ``"ctrl"``: every ctrl the controller computes reaches the motors `latency`
  physics steps later, any length (a robot whose commands are computed at its
  control rate and arrive late); the motors get zero ctrl for the first `latency`
  steps of an episode.

Observation group "policy" (num_envs, 76), in this order:
base height (1, m), gravity in the base frame (3), base linear velocity in the
base frame (3, m/s), base angular velocity in the base frame (3, rad/s, *0.25),
joint positions minus default (21, rad), joint velocities (21, rad/s, *0.05),
last action (21), command (3: vx, vy m/s, yaw rate rad/s; zeros for standing).

Rewards: a weighted sum of named terms, ``sum_i weight_i * term_i * dt`` with dt the env
step in seconds (weights are per second, as in legged_gym, so returns stay O(episode
seconds) and the critic fits them quickly), each logged in extras["log"] as
"Reward/<name>" (mean over envs of weight * term * dt).
Derived quantities used by the rewards (foot contacts) come from the last
physics step's forward pass, i.e. lag the state by one physics step (5 ms), as
in MuJoCo after mj_step.

Episodes end on a fall (base height below `termination_height` or the base
tilted so that gravity's base-frame z exceeds `termination_gravity_z`), on a
non-healthy world (Simulator.health != 0), or on timeout; done envs are reset
on the device inside `step`, and the returned observations are the first
observations of their new episodes. extras["time_outs"] marks the timeouts.
"""

from __future__ import annotations

import dataclasses

from . import mdp
from .manager import (ActionCfg, CommandTerm, EventTerm, ObsGroup, ObsTerm, RewardTerm, TaskCfg,
                      TaskEnv, TerminationTerm)
from .robot import RobotCfg

STAND_REWARDS = {
  "alive": 1.0, "upright": 1.0, "base_height": 1.0, "tracking_lin_vel": 0.5,
  "tracking_ang_vel": 0.25, "action_rate": -0.01, "torque": -0.01,
}
WALK_REWARDS = {
  "alive": 0.5, "upright": 0.5, "base_height": 0.5, "tracking_lin_vel": 1.5,
  "tracking_ang_vel": 0.75, "feet_air_time": 1.0, "action_rate": -0.01, "torque": -0.005,
}


@dataclasses.dataclass
class HumanoidEnvCfg:
  """Configuration of the humanoid tasks; `envs.make(name, n, device, **overrides)`."""
  task: str = "stand"                 # "stand" or "walk"
  model: str = "humanoid"             # bundled model name, path or XML
  decimation: int = 4                 # physics steps per env step
  episode_length_s: float = 10.0
  action_type: str = "position"       # "position" (PD targets) or "torque"
  action_scale: float = 0.25          # rad per unit action (position) or ctrl per unit (torque)
  clip_actions: float = 5.0
  pd_decimation: int = 1              # physics steps per PD update; ctrl held in between
  actuation_delay: str = "target"     # what DR latency delays: "target" or "ctrl" (module doc)
  kp: float | tuple | None = None     # N m / rad, scalar or per actuator; None: kp_per_gear * gear
  kd: float | tuple | None = None     # N m s / rad; None: kd_per_gear * gear
  kp_per_gear: float = 12.0
  kd_per_gear: float = 0.05
  default_joint_pos: dict = dataclasses.field(default_factory=lambda: {
    "right_hip_y": -0.1, "left_hip_y": -0.1, "right_knee": -0.2, "left_knee": -0.2,
    "right_ankle_y": -0.1, "left_ankle_y": -0.1})
  init_joint_noise: float = 0.05      # rad, uniform
  init_vel_noise: float = 0.05        # m/s and rad/s, uniform
  init_random_yaw: bool = False
  termination_height: float = 0.8    # m
  termination_gravity_z: float = -0.6  # fall when gravity's base-frame z > this (tilt > ~53 deg)
  target_height: float = 1.25         # m, base_height reward
  foot_geoms: tuple = ("right_foot", "left_foot")
  feet_air_time_target: float = 0.4   # s
  reward_weights: dict | None = None  # None: STAND_REWARDS or WALK_REWARDS
  tracking_sigma: float = 0.25
  command_lin_vel_x: tuple = (-0.5, 1.0)   # m/s (walk)
  command_lin_vel_y: tuple = (-0.3, 0.3)
  command_yaw_rate: tuple = (-0.5, 0.5)    # rad/s
  command_resample_s: float = 5.0
  command_standing_fraction: float = 0.1
  lin_vel_scale: float = 1.0
  ang_vel_scale: float = 0.25
  joint_vel_scale: float = 0.05
  randomization: object = None        # randomize.DomainRandomization or dict
  validate_actions: bool = True       # reject NaN/shape/dtype/device errors (one host sync)
  max_qvel: float = 1e3               # Simulator health bound
  graph: bool = False                 # CUDA graph per physics step (CUDA only)
  backend: str = "auto"               # Simulator backend (auto: native where it runs, else warp)
  seed: int = 0
  world_offset: int = 0               # a shard's first global world (TaskCfg.world_offset)
  num_envs_total: int | None = None   # worlds of all shards (None: num_envs; TaskCfg)



# reward term name -> (term function, its params from the flat config); this order is the
# order in which the terms are evaluated and summed
def _reward_specs(cfg: HumanoidEnvCfg) -> dict:
  vel = {"command_name": "base_velocity", "sigma": cfg.tracking_sigma}
  return {
    "alive": (mdp.is_alive, {}),
    "upright": (mdp.upright, {}),
    "base_height": (mdp.base_height_exp, {"target_height": cfg.target_height}),
    "tracking_lin_vel": (mdp.track_lin_vel_xy_exp, vel),
    "tracking_ang_vel": (mdp.track_ang_vel_z_exp, dict(vel)),
    "feet_air_time": (mdp.FeetAirTime, {"command_name": "base_velocity",
                                        "threshold": cfg.feet_air_time_target}),
    "action_rate": (mdp.action_rate_l2, {}),
    "torque": (mdp.ctrl_l2, {}),
  }


def humanoid_task_cfg(cfg: HumanoidEnvCfg) -> TaskCfg:
  """The TaskCfg of the humanoid task `cfg` (its task, "stand" or "walk", and knobs):

  robot: HUMANOID with cfg's model, feet, default pose and heights.
  observations: "policy" = base height, projected gravity, base linear velocity
    (* lin_vel_scale), base angular velocity (* ang_vel_scale), joint positions minus default,
    joint velocities (* joint_vel_scale), last action, velocity command (76 for humanoid.xml).
  rewards: the terms of reward_weights (STAND_REWARDS / WALK_REWARDS by default).
  terminations: time_out, base_height (below termination_height), bad_orientation (gravity z
    above termination_gravity_z).
  commands: "base_velocity", uniform in the command ranges every command_resample_s (walk) or
    zero (stand).
  events: "reset_pose": the default pose with joint and velocity noise, random yaw if asked.
  """
  if cfg.task not in ("stand", "walk"):
    raise ValueError(f"task must be 'stand' or 'walk', got '{cfg.task}'")
  if cfg.action_type not in ("position", "torque"):
    raise ValueError(f"action_type must be 'position' or 'torque', got '{cfg.action_type}'")
  weights = cfg.reward_weights
  if weights is None:
    weights = STAND_REWARDS if cfg.task == "stand" else WALK_REWARDS
  specs = _reward_specs(cfg)
  unknown = set(weights) - set(specs)
  if unknown:
    raise ValueError(f"unknown reward terms {sorted(unknown)}; available: {sorted(specs)}")
  rewards = {name: RewardTerm(func, weight=weights[name], params=params)
             for name, (func, params) in specs.items() if name in weights}
  if cfg.task == "walk":
    command = CommandTerm(mdp.uniform_velocity_command, resampling_time_s=cfg.command_resample_s, params={
      "lin_vel_x": tuple(cfg.command_lin_vel_x), "lin_vel_y": tuple(cfg.command_lin_vel_y),
      "ang_vel_z": tuple(cfg.command_yaw_rate), "standing_fraction": cfg.command_standing_fraction})
  else:
    command = CommandTerm(mdp.null_command, params={"dim": 3})
  policy = ObsGroup({
    "base_height": ObsTerm(mdp.base_height),
    "projected_gravity": ObsTerm(mdp.projected_gravity),
    "base_lin_vel": ObsTerm(mdp.base_lin_vel, scale=cfg.lin_vel_scale),
    "base_ang_vel": ObsTerm(mdp.base_ang_vel, scale=cfg.ang_vel_scale),
    "joint_pos": ObsTerm(mdp.joint_pos_rel),
    "joint_vel": ObsTerm(mdp.joint_vel, scale=cfg.joint_vel_scale),
    "actions": ObsTerm(mdp.last_action),
    "command": ObsTerm(mdp.generated_commands, params={"command_name": "base_velocity"}),
  })
  return TaskCfg(
    robot=RobotCfg(model=cfg.model, foot_geoms=tuple(cfg.foot_geoms),
                   default_joint_pos=dict(cfg.default_joint_pos), target_height=cfg.target_height,
                   termination_height=cfg.termination_height),
    decimation=cfg.decimation,
    episode_length_s=cfg.episode_length_s,
    actions=ActionCfg(type="joint_position_pd" if cfg.action_type == "position" else "joint_torque",
                      scale=cfg.action_scale, clip=cfg.clip_actions, pd_decimation=cfg.pd_decimation,
                      actuation_delay=cfg.actuation_delay, kp=cfg.kp, kd=cfg.kd,
                      kp_per_gear=cfg.kp_per_gear, kd_per_gear=cfg.kd_per_gear),
    observations={"policy": policy},
    rewards=rewards,
    terminations={
      "time_out": TerminationTerm(mdp.time_out, time_out=True),
      "base_height": TerminationTerm(mdp.base_height_below, params={"minimum_height": cfg.termination_height}),
      "bad_orientation": TerminationTerm(mdp.bad_orientation,
                                         params={"limit_gravity_z": cfg.termination_gravity_z}),
    },
    commands={"base_velocity": command},
    events={"reset_pose": EventTerm(mdp.reset_to_default_pose, mode="reset", params={
      "joint_noise": cfg.init_joint_noise, "vel_noise": cfg.init_vel_noise,
      "random_yaw": cfg.init_random_yaw})},
    randomization=cfg.randomization,
    validate_actions=cfg.validate_actions,
    max_qvel=cfg.max_qvel,
    graph=cfg.graph,
    backend=cfg.backend,
    seed=cfg.seed,
    world_offset=cfg.world_offset,
    num_envs_total=cfg.num_envs_total,
  )


class HumanoidEnv(TaskEnv):
  """The humanoid tasks: a TaskEnv of humanoid_task_cfg(cfg) whose `cfg` is the flat
  HumanoidEnvCfg (the term config is `task_cfg`). Everything else is TaskEnv's: rsl-rl-lib's
  VecEnv interface, the academy's seams (base_state, compute_rewards, compute_observations,
  set_reset_scenario, set_latency), checkpointing and the gymnasium hooks."""

  def __init__(self, cfg: HumanoidEnvCfg, num_envs: int, device="cpu"):
    super().__init__(humanoid_task_cfg(cfg), num_envs, device)
    self.cfg = cfg
