"""A new robot and a new task outside the package: a quadruped (quadruped.xml: 8 MuJoCo
position actuators) that tracks a forward velocity command with a trot.

  python -m pywarp_sim.train --task examples.quadruped:QuadrupedWalkCfg --device cpu --num-envs 64
  python -m pywarp_sim.train --task examples.quadruped:QuadrupedWalkCfg --help   # every --env. flag
  python -m pywarp_sim.train --task examples.quadruped:QuadrupedWalkCfg --env.rewards.trot.weight 1
  python -m pywarp_sim.play --task examples.quadruped:QuadrupedWalkCfg --video quadruped.mp4

(run from the repository root, which puts `examples` on sys.path). What it shows:

* a robot: RobotCfg with the MJCF, its four foot geoms and a bent-knee default pose; the
  heights (target and termination) come from that pose put on the floor;
* actions as joint targets for position actuators (ActionCfg type "joint_position": the
  target is the actuator's ctrl, MuJoCo runs the PD law; "joint_position_pd" would be refused
  here, naming the actuators, as it needs motors);
* a TaskCfg of envs/mdp.py terms (observations with a privileged critic group, rewards,
  terminations, a velocity command, reset and push events) and one term of its own,
  `trot_contacts`, a reward for diagonal feet that share their contact state.
"""

from __future__ import annotations

import dataclasses
import os

import torch

from pywarp_sim.envs import mdp
from pywarp_sim.envs.manager import (ActionCfg, CommandTerm, EventTerm, ObsGroup, ObsTerm, RewardTerm,
                                     TaskCfg, TerminationTerm)
from pywarp_sim.envs.robot import RobotCfg

QUADRUPED = RobotCfg(
  model=os.path.join(os.path.dirname(os.path.abspath(__file__)), "quadruped.xml"),
  foot_geoms=("fl_foot", "fr_foot", "rl_foot", "rr_foot"),
  # hips forward, knees back: each foot under its hip, the torso 0.28 m above the floor
  default_joint_pos={f"{leg}_{joint}": angle for leg in ("fl", "fr", "rl", "rr")
                     for joint, angle in (("hip", 0.4), ("knee", -0.8))},
)


def trot_contacts(env) -> torch.Tensor:
  """(num_envs,) 1 when each diagonal pair of feet (front-left with rear-right, front-right
  with rear-left) is in the same contact state and the two pairs differ (a trot's stance),
  else 0. Feet in QUADRUPED.foot_geoms order: fl, fr, rl, rr."""
  fl, fr, rl, rr = env.foot_contacts().unbind(-1)
  return ((fl == rr) & (fr == rl) & (fl != fr)).float()


def velocity_observations() -> dict:
  """Observation groups of a velocity-command locomotion task (also examples/h1_turn.py's): the
  policy's proprioception, last action and command; a privileged critic group (base height,
  linear velocity, foot contacts) without noise."""
  return {
    "policy": ObsGroup({"gravity": ObsTerm(mdp.projected_gravity),
                        "ang_vel": ObsTerm(mdp.base_ang_vel, scale=0.25),
                        "joint_pos": ObsTerm(mdp.joint_pos_rel),
                        "joint_vel": ObsTerm(mdp.joint_vel, scale=0.05),
                        "actions": ObsTerm(mdp.last_action),
                        "command": ObsTerm(mdp.generated_commands, params={"command_name": "base_velocity"})}),
    "critic": ObsGroup({"height": ObsTerm(mdp.base_height), "lin_vel": ObsTerm(mdp.base_lin_vel),
                        "feet": ObsTerm(mdp.foot_contact)}, noise=False)}


@dataclasses.dataclass
class QuadrupedWalkCfg(TaskCfg):
  robot: RobotCfg = dataclasses.field(default_factory=lambda: dataclasses.replace(QUADRUPED))
  episode_length_s: float = 10.0
  actions: ActionCfg = dataclasses.field(default_factory=lambda: ActionCfg(type="joint_position", scale=0.3))
  observations: dict = dataclasses.field(default_factory=velocity_observations)
  rewards: dict = dataclasses.field(default_factory=lambda: {
    "track_lin_vel": RewardTerm(mdp.track_lin_vel_xy_exp, weight=1.5,
                                params={"command_name": "base_velocity", "sigma": 0.25}),
    "track_ang_vel": RewardTerm(mdp.track_ang_vel_z_exp, weight=0.5,
                                params={"command_name": "base_velocity", "sigma": 0.25}),
    "upright": RewardTerm(mdp.upright, weight=0.5),
    "trot": RewardTerm(trot_contacts, weight=0.25),
    "action_rate": RewardTerm(mdp.action_rate_l2, weight=-0.01)})
  terminations: dict = dataclasses.field(default_factory=lambda: {
    "time_out": TerminationTerm(mdp.time_out, time_out=True),
    "fell": TerminationTerm(mdp.base_height_below),       # the robot's termination height
    "flipped": TerminationTerm(mdp.bad_orientation, params={"limit_gravity_z": -0.5})})
  commands: dict = dataclasses.field(default_factory=lambda: {
    "base_velocity": CommandTerm(mdp.uniform_velocity_command, resampling_time_s=5.0, params=dict(
      lin_vel_x=(0.0, 0.6), lin_vel_y=(0.0, 0.0), ang_vel_z=(-0.3, 0.3), standing_fraction=0.1))})
  events: dict = dataclasses.field(default_factory=lambda: {
    "pose": EventTerm(mdp.reset_to_default_pose, params={"joint_noise": 0.05, "vel_noise": 0.05,
                                                         "random_yaw": True}),
    "push": EventTerm(mdp.push_by_setting_velocity, mode="interval", interval_range_s=(3.0, 6.0),
                      params={"velocity_range": {"x": (-0.2, 0.2), "y": (-0.2, 0.2)}})})
