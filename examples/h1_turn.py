"""A robot from MuJoCo Menagerie and a new task in one file: the Unitree H1 turning in place.

  export PWS_MENAGERIE=/path/to/mujoco_menagerie     # a checkout (not part of this repository)
  python -m pywarp_sim.train --task examples.h1_turn:H1TurnCfg --device cuda --num-envs 4096
  python -m pywarp_sim.play --task examples.h1_turn:H1TurnCfg --command 0,0,0.8 --video h1.mp4
  python -m pywarp_sim.view --task examples.h1_turn:H1TurnCfg --show 4      # a display: live

(run from the repository root, which puts `examples` on sys.path). What it shows:

* a robot: `h1_robot()` reads unitree_h1/scene.xml from the Menagerie checkout named by
  $PWS_MENAGERIE; feet are the ankle bodies' collision capsules, the default pose and the
  standing height come from the model's "home" keyframe. H1's actuators are MuJoCo <motor>s
  (robot.actuator_kinds: "motor"): the policy's joint targets go through the env's PD law
  (ActionCfg type "joint_position_pd", the default) with H1's per-joint gains below;
  "joint_position" would be refused, naming the motors, as it needs position actuators.
* a task: TaskCfg terms of envs/mdp.py: a yaw-rate command (vx = vy = 0, the "base_velocity"
  command, so play's --command and the video overlay know it), rewards for tracking it while
  staying in place and upright, the quadruped example's observation groups (policy and a
  privileged critic, examples.quadruped.velocity_observations), and one event of its own,
  `reset_standing`.
"""

from __future__ import annotations

import dataclasses
import os

import mujoco
import torch

from pywarp_sim.envs import mdp
from pywarp_sim.envs.manager import (ActionCfg, CommandTerm, EventTerm, ObsGroup, ObsTerm, RewardTerm,
                                     TaskCfg, TerminationTerm)
from pywarp_sim.envs.robot import RobotCfg

from examples.quadruped import velocity_observations

MENAGERIE_ENV = "PWS_MENAGERIE"
FEET = ("left_ankle_link", "right_ankle_link")
# PD gains per joint (N m / rad, N m s / rad), H1's as in Unitree's legged_gym configuration
# (matched by the joint name's ending)
GAINS = {"hip_yaw": (150.0, 2.0), "hip_roll": (150.0, 2.0), "hip_pitch": (150.0, 2.0), "knee": (200.0, 4.0),
         "ankle": (40.0, 2.0), "torso": (300.0, 6.0), "shoulder_pitch": (150.0, 2.0),
         "shoulder_roll": (150.0, 2.0), "shoulder_yaw": (150.0, 2.0), "elbow": (100.0, 2.0)}
# H1's actuators in Menagerie's order (unitree_h1/h1.xml <actuator>)
ACTUATORS = tuple(f"{side}_{j}" for side in ("left", "right") for j in ("hip_yaw", "hip_roll", "hip_pitch",
                                                                       "knee", "ankle")) + ("torso",) + tuple(
  f"{side}_{j}" for side in ("left", "right") for j in ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow"))


def h1_scene(menagerie_dir: str | None = None) -> str:
  """The path of unitree_h1/scene.xml in a mujoco_menagerie checkout (menagerie_dir, default
  $PWS_MENAGERIE); FileNotFoundError saying how to get one."""
  root = menagerie_dir or os.environ.get(MENAGERIE_ENV)
  if not root:
    raise FileNotFoundError(f"examples.h1_turn needs MuJoCo Menagerie: git clone "
                            f"https://github.com/google-deepmind/mujoco_menagerie and set {MENAGERIE_ENV} "
                            f"to that folder")
  path = os.path.join(root, "unitree_h1", "scene.xml")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no {path}: {MENAGERIE_ENV}={root} is not a mujoco_menagerie checkout with "
                            f"unitree_h1")
  return path


def h1_robot(menagerie_dir: str | None = None) -> RobotCfg:
  """Menagerie's Unitree H1 (h1_scene): feet FEET, the "home" keyframe's pose; standing height
  the keyframe's base height (it stands on its collision feet), a fall below 60% of it."""
  path = h1_scene(menagerie_dir)
  home = mujoco.MjModel.from_xml_path(path).key("home").qpos
  return RobotCfg(model=path, foot_bodies=FEET, default_joint_pos="home", target_height=float(home[2]),
                  termination_height=0.6 * float(home[2]))


def h1_gains() -> tuple[list, list]:
  """(kp, kd) per actuator in ACTUATORS order, from GAINS."""
  kp, kd = [], []
  for name in ACTUATORS:
    joint = next(j for j in GAINS if name.endswith(j))
    kp.append(GAINS[joint][0])
    kd.append(GAINS[joint][1])
  return kp, kd


def reset_standing(env, mask, joint_noise: float = 0.0, vel_noise: float = 0.0, random_yaw: bool = True):
  """mdp.reset_to_default_pose, then the base at the robot's standing height: the default pose
  on the floor (env.initial_qpos) counts H1's visual meshes, which reach below its collision
  feet, so it would start in the air; the keyframe's height stands on the feet."""
  mdp.reset_to_default_pose(env, mask, joint_noise=joint_noise, vel_noise=vel_noise, random_yaw=random_yaw)
  z = env.sim.qpos[:, 2]
  z.copy_(torch.where(mask, torch.full_like(z, env.target_height), z))


@dataclasses.dataclass
class H1TurnCfg(TaskCfg):
  """Turn in place: track a yaw rate in [-1, 1] rad/s with no linear velocity, upright."""
  robot: RobotCfg = dataclasses.field(default_factory=h1_robot)
  episode_length_s: float = 10.0
  actions: ActionCfg = dataclasses.field(default_factory=lambda: ActionCfg(
    type="joint_position_pd", scale=0.25, kp=h1_gains()[0], kd=h1_gains()[1]))
  observations: dict = dataclasses.field(default_factory=velocity_observations)
  rewards: dict = dataclasses.field(default_factory=lambda: {
    "turn": RewardTerm(mdp.track_ang_vel_z_exp, weight=2.0, params={"command_name": "base_velocity",
                                                                   "sigma": 0.25}),
    "stay": RewardTerm(mdp.track_lin_vel_xy_exp, weight=1.0, params={"command_name": "base_velocity",
                                                                    "sigma": 0.1}),
    "upright": RewardTerm(mdp.upright, weight=1.0),
    "height": RewardTerm(mdp.base_height_exp, weight=0.5),       # the robot's standing height
    "action_rate": RewardTerm(mdp.action_rate_l2, weight=-0.01)})
  terminations: dict = dataclasses.field(default_factory=lambda: {
    "time_out": TerminationTerm(mdp.time_out, time_out=True),
    "fell": TerminationTerm(mdp.base_height_below),               # the robot's termination height
    "tilted": TerminationTerm(mdp.bad_orientation, params={"limit_gravity_z": -0.6})})
  commands: dict = dataclasses.field(default_factory=lambda: {
    "base_velocity": CommandTerm(mdp.uniform_velocity_command, resampling_time_s=5.0, params=dict(
      lin_vel_x=(0.0, 0.0), lin_vel_y=(0.0, 0.0), ang_vel_z=(-1.0, 1.0), standing_fraction=0.1))})
  events: dict = dataclasses.field(default_factory=lambda: {
    "pose": EventTerm(reset_standing, params={"joint_noise": 0.05, "vel_noise": 0.05, "random_yaw": True})})
