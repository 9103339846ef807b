"""A robot for the tasks, separate from any task: its MJCF, feet, default pose, heights, and
what its actuators expect (read from the compiled model, not assumed).

  HUMANOID                          the bundled humanoid.xml (21 motors)
  RobotCfg(model="path/to/g1.xml", foot_bodies=(...), default_joint_pos="home")
  menagerie_g1(menagerie_dir)       Menagerie's Unitree G1 (when a checkout is present)

A task (envs/manager.py TaskCfg) names its robot in `TaskCfg.robot`; the term functions of
envs/mdp.py read the robot's heights through `env.robot` when their own parameter is None, so
the same task runs on another robot by swapping the RobotCfg.

Actuator semantics (`actuator_kinds`), from each actuator's gain and bias in the compiled
model (MuJoCo: force = gain * ctrl + bias0 + bias1 * length + bias2 * velocity, times gear):

* "motor": fixed gain, no bias: ctrl is a torque (per unit gear * gain), e.g. <motor>.
* "position": fixed gain kp, affine bias (0, -kp, -kv): ctrl is a joint target (rad),
  e.g. <position kp=...>; MuJoCo runs the PD law itself.
* "velocity": fixed gain kv, affine bias (0, 0, -kv): ctrl is a joint velocity target.
* "other": anything else (muscles, filtered or non-joint transmissions, custom gains).

The action term (manager.ActionCfg) checks them: joint targets through the env's PD law and
torques need motors, raw joint targets need position actuators.
"""

from __future__ import annotations

import dataclasses
import os

import mujoco
import numpy as np

ACTUATOR_KINDS = ("motor", "position", "velocity", "other")


@dataclasses.dataclass
class RobotCfg:
  """A robot: what a task needs to know about it beyond its MJCF.

  model: bundled model name ("humanoid"), MJCF path or XML string (as Simulator's).
  foot_geoms: names of the geoms that are the feet, one per foot; or
  foot_bodies: names of the foot bodies, every collision geom of a body counting as that
    foot (for models whose foot geoms have no names, e.g. several spheres per foot).
  default_joint_pos: {joint name: rad} for the actuated joints (others 0), or the name of a
    keyframe of the model whose qpos gives the pose.
  target_height: m, the base height that standing keeps (base-height reward); None: the base
    height of the default pose put on the floor (env.initial_qpos).
  termination_height: m, a fall when the base is lower; None: `termination_fraction` of the
    target height.
  """
  model: str = "humanoid"
  foot_geoms: tuple = ()
  foot_bodies: tuple = ()
  default_joint_pos: dict | str = dataclasses.field(default_factory=dict)
  target_height: float | None = None
  termination_height: float | None = None
  termination_fraction: float = 0.6

  def validate(self):
    if bool(self.foot_geoms) and bool(self.foot_bodies):
      raise ValueError("RobotCfg: give foot_geoms or foot_bodies, not both")
    if not 0 < self.termination_fraction < 1:
      raise ValueError(f"RobotCfg.termination_fraction must lie in (0, 1), got {self.termination_fraction}")


# The bundled humanoid (pywarp_sim/models/humanoid.xml): slightly bent knees and hips; standing
# height 1.25 m of the torso, a fall below 0.8 m (the values the humanoid tasks always used).
HUMANOID = RobotCfg(
  model="humanoid",
  foot_geoms=("right_foot", "left_foot"),
  default_joint_pos={"right_hip_y": -0.1, "left_hip_y": -0.1, "right_knee": -0.2, "left_knee": -0.2,
                     "right_ankle_y": -0.1, "left_ankle_y": -0.1},
  target_height=1.25,
  termination_height=0.8,
)


def menagerie_g1(menagerie_dir: str | os.PathLike, scene: str = "scene.xml") -> RobotCfg:
  """Menagerie's Unitree G1 (unitree_g1/<scene> under a mujoco_menagerie checkout): feet are
  the ankle-roll bodies' contact spheres, the pose of the model's first keyframe when it has
  one (else all joints at 0), heights from that pose (target_height None). Its actuators are
  read from the model: position actuators take joint targets (ActionCfg(type="joint_position")),
  motors the env's PD law."""
  path = os.path.join(os.fspath(menagerie_dir), "unitree_g1", scene)
  if not os.path.exists(path):
    raise FileNotFoundError(f"no {path}: pass the folder of a mujoco_menagerie checkout "
                            f"(git clone https://github.com/google-deepmind/mujoco_menagerie)")
  mjm = mujoco.MjModel.from_xml_path(path)
  pose = mjm.key(0).name if mjm.nkey else {}
  return RobotCfg(model=path, foot_bodies=("left_ankle_roll_link", "right_ankle_roll_link"),
                  default_joint_pos=pose)


def actuator_kinds(mjm: mujoco.MjModel) -> list[str]:
  """The kind of each actuator of `mjm` (module doc): "motor", "position", "velocity" or
  "other", from its transmission, dynamics, gain and bias parameters."""
  out = []
  for i in range(mjm.nu):
    gain, bias = mjm.actuator_gainprm[i], mjm.actuator_biasprm[i]
    joint = mjm.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT
    plain = (joint and mjm.actuator_dyntype[i] == mujoco.mjtDyn.mjDYN_NONE
             and mjm.actuator_gaintype[i] == mujoco.mjtGain.mjGAIN_FIXED)
    biastype = mjm.actuator_biastype[i]
    if not plain:
      out.append("other")
    elif biastype == mujoco.mjtBias.mjBIAS_NONE:
      out.append("motor")
    elif (biastype == mujoco.mjtBias.mjBIAS_AFFINE and gain[0] > 0 and bias[0] == 0
          and np.isclose(bias[1], -gain[0]) and bias[2] <= 0):
      out.append("position")
    elif (biastype == mujoco.mjtBias.mjBIAS_AFFINE and gain[0] > 0 and bias[0] == 0
          and bias[1] == 0 and np.isclose(bias[2], -gain[0])):
      out.append("velocity")
    else:
      out.append("other")
  return out


def default_pose(mjm: mujoco.MjModel, robot: RobotCfg, actuated_joints: list[str]) -> np.ndarray:
  """(nu,) rad: the default position of each actuated joint (`actuated_joints`, the joint of
  each actuator), from robot.default_joint_pos (a dict or a keyframe name)."""
  pose = np.zeros(len(actuated_joints))
  spec = robot.default_joint_pos
  if isinstance(spec, str):
    names = [mjm.key(k).name for k in range(mjm.nkey)]
    if spec not in names:
      raise ValueError(f"RobotCfg.default_joint_pos: no keyframe '{spec}' in the model; keyframes: {names}")
    qpos = mjm.key(spec).qpos
    for i, jn in enumerate(actuated_joints):
      pose[i] = qpos[mjm.jnt_qposadr[mjm.joint(jn).id]]
    return pose
  for jn, v in spec.items():
    if jn not in actuated_joints:
      raise ValueError(f"default_joint_pos: '{jn}' is not an actuated joint; joints: {actuated_joints}")
    pose[actuated_joints.index(jn)] = float(v)
  return pose


def foot_geom_groups(mjm: mujoco.MjModel, robot: RobotCfg) -> list[list[int]]:
  """Geom ids of each foot (one list per foot) from robot.foot_geoms or robot.foot_bodies; []
  when the robot names no feet. Unknown names raise ValueError listing the model's."""
  if robot.foot_geoms:
    names = [mjm.geom(g).name for g in range(mjm.ngeom)]
    for g in robot.foot_geoms:
      if g not in names:
        raise ValueError(f"foot geom '{g}' is not in the model; geoms: {[n for n in names if n]}")
    return [[names.index(g)] for g in robot.foot_geoms]
  groups = []
  bodies = [mjm.body(b).name for b in range(mjm.nbody)]
  for b in robot.foot_bodies:
    if b not in bodies:
      raise ValueError(f"foot body '{b}' is not in the model; bodies: {bodies[1:]}")
    bid = bodies.index(b)
    geoms = [g for g in range(mjm.ngeom) if mjm.geom_bodyid[g] == bid
             and (mjm.geom_contype[g] or mjm.geom_conaffinity[g])]
    if not geoms:
      raise ValueError(f"foot body '{b}' has no collision geom (contype/conaffinity 0 on all)")
    groups.append(geoms)
  return groups
