"""The Robot protocol: what the academy needs from a robot, simulated or real.

A robot is reset to a given state, runs a control sequence at its control rate (open loop,
`run`) or one control step at a time (closed loop, `step`), and reports what its own sensors
measure: joint positions and velocities (encoders), base orientation and angular velocity
(IMU on the torso), foot contact booleans (foot switches). Nothing else: no hidden
parameters, no simulator state. A real robot plugs in by implementing these methods
(`reset` then places the robot in, or as close as it can to, the requested state, e.g.
clamped in its test stand with the given joint angles, or lying on its back).

Optional: `mocap` frames (base position and linear velocity, world frame) from an external
motion-capture or state estimator, used only to score task rewards (gap.policy_return_drop);
a robot without one reports None.

Channels of a log, in the packed order of `SensorLog.channels()` (nsensor = 2 * njoint + 7):
joint_pos (njoint, rad), joint_vel (njoint, rad/s), base_quat (4, (w, x, y, z)),
base_angvel (3, rad/s, body frame).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

import numpy as np

CHANNEL_GROUPS = ("joint_pos", "joint_vel", "base_quat", "base_angvel")


@dataclasses.dataclass
class SensorFrame:
  """One reading of the robot's sensors (numpy, float64)."""
  time: float
  joint_pos: np.ndarray    # (njoint,) rad
  joint_vel: np.ndarray    # (njoint,) rad/s
  base_quat: np.ndarray    # (4,) (w, x, y, z), world from base
  base_angvel: np.ndarray  # (3,) rad/s, base frame (gyro)
  foot_contact: np.ndarray  # (nfoot,) bool
  base_pos: np.ndarray | None = None     # (3,) m, world (mocap), None when unavailable
  base_linvel: np.ndarray | None = None  # (3,) m/s, world (mocap)


@dataclasses.dataclass
class SensorLog:
  """A logged trajectory: frame 0 is read right after reset, frame k after control step k.

  Arrays have the time axis first: (T + 1, ...) for T control steps."""
  time: np.ndarray          # (T + 1,) s
  joint_pos: np.ndarray     # (T + 1, njoint)
  joint_vel: np.ndarray     # (T + 1, njoint)
  base_quat: np.ndarray     # (T + 1, 4)
  base_angvel: np.ndarray   # (T + 1, 3)
  foot_contact: np.ndarray  # (T + 1, nfoot) bool
  controls: np.ndarray      # (T, nu) the commanded controls (as sent, before any latency)
  base_pos: np.ndarray | None = None
  base_linvel: np.ndarray | None = None

  @classmethod
  def from_frames(cls, frames: list, controls: np.ndarray) -> "SensorLog":
    def stack(name):
      vals = [getattr(f, name) for f in frames]
      return None if any(v is None for v in vals) else np.stack(vals)
    return cls(time=np.array([f.time for f in frames]), joint_pos=stack("joint_pos"),
               joint_vel=stack("joint_vel"), base_quat=stack("base_quat"),
               base_angvel=stack("base_angvel"), foot_contact=stack("foot_contact"),
               controls=np.asarray(controls, dtype=np.float64),
               base_pos=stack("base_pos"), base_linvel=stack("base_linvel"))

  @property
  def nstep(self) -> int:
    return len(self.controls)

  def channels(self) -> np.ndarray:
    """(T + 1, nsensor) packed continuous channels (module docstring order)."""
    return np.concatenate([self.joint_pos, self.joint_vel, self.base_quat, self.base_angvel], axis=1)


def channel_names(joint_names) -> list:
  """Names of the packed channels, e.g. 'joint_pos/right_knee', 'base_quat/w'."""
  return ([f"joint_pos/{j}" for j in joint_names] + [f"joint_vel/{j}" for j in joint_names] +
          [f"base_quat/{c}" for c in "wxyz"] + [f"base_angvel/{c}" for c in "xyz"])


# Unit of each channel group (the humanoids' joints are hinges; a slide joint's would be m, m/s)
CHANNEL_UNITS = {"joint_pos": "rad", "joint_vel": "rad/s", "base_quat": "unit quaternion",
                 "base_angvel": "rad/s"}


def channel_groups(njoint: int) -> dict:
  """{group: slice} into the packed channels."""
  return {"joint_pos": slice(0, njoint), "joint_vel": slice(njoint, 2 * njoint),
          "base_quat": slice(2 * njoint, 2 * njoint + 4),
          "base_angvel": slice(2 * njoint + 4, 2 * njoint + 7)}


@runtime_checkable
class Robot(Protocol):
  """A robot the academy can calibrate and evaluate (proxy.ProxyRobot, simbatch.SimRobot,
  or real hardware).

  Attributes: name (str), control_dt (s per control step), nu (number of motors, controls
  in the model's actuator order and ctrlrange), joint_names (the measured joints, in the
  order of SensorFrame.joint_pos).
  """
  name: str
  control_dt: float
  nu: int
  joint_names: tuple

  def reset(self, qpos: np.ndarray, qvel: np.ndarray, held: bool = False) -> SensorFrame:
    """Places the robot in state (qpos (nq,), qvel (nv,), MuJoCo layout of humanoid.xml with
    its free root joint), clears pending commands (motors receive zero until the first
    command arrives) and returns the first reading. held=True: the torso is clamped in a
    test stand at the base pose qpos[0:7] (base at rest), the limbs move freely."""
    ...

  def step(self, ctrl: np.ndarray) -> SensorFrame:
    """Sends one command (nu,), waits one control step, returns the reading."""
    ...

  def run(self, controls: np.ndarray) -> SensorLog:
    """Sends controls (T, nu) at the control rate from the current state (open loop) and
    returns the log, frame 0 being the reading before the first command."""
    ...
