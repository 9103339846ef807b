"""Start states and motions for calibration (excitation) and held-out evaluation.

Calibration excitation (`held_motions`): the robot clamped by the torso in a test stand
(limbs in the air) tracks smooth random joint-target trajectories (multisine + smoothed
steps, +-30% of each joint's half range around mid-range) with a low-gain PD loop that runs
at the control rate on the robot's measured joint angles. Simulation runs the same PD loop
on each candidate world's own state with the candidate's latency (Replayer.rollout(pd=...)),
so the comparison is closed loop against closed loop.

Why: calibration needs the simulated trajectory to be a smooth function of the parameters.
Measured on the humanoid (1.5 s, relative parameter changes of 0.1% to 10%, normalised MSE
of the replay against MuJoCo C):
  * lying on the floor under open-loop torques: limbs tapping the floor and joints resting on
    their limits make the error jump by 1e-3..1e-1 for a 0.1% change (hybrid contact and
    limit events move in time);
  * in the stand under open-loop torques or with high PD gains: joints still reach their
    limits or the motors saturate, same jumps;
  * in the stand with this PD loop (no limits reached, no saturation): the error grows
    exactly quadratically (error / change^2 constant over 0.1%..10%).
Gravity against the motors, the abdomen springs (absolute torque references) and the PD
steps (latency) make the parameters identifiable. Ground friction needs contact and is not
identified by the stand excitation (calibrate.py says so in its result).

`lying_motions` (open-loop torques lying on the back) remain for contact-rich checks.
"""

from __future__ import annotations

import functools
import math

import mujoco
import numpy as np

from .. import models

# Settle time for the resting state: long enough for the limbs to come to rest on the floor.
SETTLE_S = 2.0
# Test stand: torso clamped upright, feet 0.25 m above the floor.
HELD_POSE = (0.0, 0.0, 1.6, 1.0, 0.0, 0.0, 0.0)
# PD loop of the excitation, per joint from the nominal joint-space inertia M_jj (mass
# matrix diagonal with armature, held at mid-range): kp = M_jj w^2, kd = 2 zeta M_jj w. A slow,
# well damped loop stays stable with 3 control steps (30 ms) of latency and never saturates
# the motors; gains proportional to the gear instead drive light distal joints (ankles,
# elbows) into limit cycles with latency, and the replay stops being smooth.
PD_BANDWIDTH_HZ = 1.0
PD_DAMPING_RATIO = 0.7


@functools.lru_cache(maxsize=8)
def _settled(model: str, pose: str) -> tuple:
  mjm = models.mj_model(model) if model in models.BUILTIN else mujoco.MjModel.from_xml_path(model)
  d = mujoco.MjData(mjm)
  mujoco.mj_resetData(mjm, d)
  if pose == "supine":      # facing up: rotate -90 deg about y (head towards -x)
    quat = (math.cos(-math.pi / 4), 0.0, math.sin(-math.pi / 4), 0.0)
  elif pose == "prone":     # facing down
    quat = (math.cos(math.pi / 4), 0.0, math.sin(math.pi / 4), 0.0)
  elif pose == "side":      # on the right side: rotate +90 deg about x, then face up
    quat = (math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0)
  else:
    raise ValueError(f"unknown pose '{pose}'; use 'supine', 'prone' or 'side'")
  d.qpos[3:7] = quat
  d.qpos[2] = 0.25
  for _ in range(int(SETTLE_S / mjm.opt.timestep)):
    mujoco.mj_step(mjm, d)
  qpos = np.array(d.qpos)
  qpos[0:2] = 0.0  # drop the drift
  return tuple(qpos), tuple(np.zeros(mjm.nv))


def resting_state(pose: str = "supine", model: str = "humanoid") -> tuple:
  """(qpos (nq,), qvel (nv,)): the nominal humanoid at rest lying in `pose` on the floor
  (settled for SETTLE_S s in MuJoCo C with zero commands; velocities set to zero)."""
  qpos, qvel = _settled(model, pose)
  return np.array(qpos), np.array(qvel)


def excitation(nu: int, nstep: int, control_dt: float, seed: int, amplitude: float = 0.35,
               freq_range: tuple = (0.4, 2.5), nsines: int = 3, step_interval_s: float = 0.25,
               step_fraction: float = 0.5, ramp_s: float = 0.05) -> np.ndarray:
  """(nstep, nu) commands in [-1, 1]: per motor `nsines` sinusoids with frequencies in
  freq_range (Hz) and random phases, plus smoothed random steps every step_interval_s
  (step_fraction of the amplitude), ramped in over ramp_s. Reproducible from `seed`."""
  rng = np.random.default_rng(seed)
  t = np.arange(nstep) * control_dt
  u = np.zeros((nstep, nu))
  for a in range(nu):
    f = rng.uniform(*freq_range, size=nsines)
    phase = rng.uniform(0, 2 * np.pi, size=nsines)
    w = rng.dirichlet(np.ones(nsines))
    u[:, a] = (w[None] * np.sin(2 * np.pi * f[None] * t[:, None] + phase[None])).sum(1)
  if step_fraction > 0:
    nhold = max(1, int(round(step_interval_s / control_dt)))
    levels = rng.uniform(-1, 1, size=(nstep // nhold + 1, nu))
    steps = np.repeat(levels, nhold, axis=0)[:nstep]
    # two-sample smoothing: sharp enough to show latency, no single-sample spikes
    steps[1:] = 0.5 * (steps[1:] + steps[:-1])
    u = (1 - step_fraction) * u + step_fraction * steps
  u *= amplitude
  ramp = np.clip(t / max(ramp_s, 1e-9), 0.0, 1.0)
  return np.clip(u * ramp[:, None], -1.0, 1.0)


def _joint_tables(model: str):
  from . import params as P
  m = P.base_mj_model(model)
  jnt = m.actuator_trnid[:, 0]
  return (np.array(m.jnt_range[jnt]), np.array(m.actuator_gear[:, 0]), np.array(m.jnt_qposadr[jnt]),
          np.array(m.qpos0), m.nv)


@functools.lru_cache(maxsize=8)
def joint_inertia(model: str = "humanoid", pose=HELD_POSE) -> np.ndarray:
  """(nu,) nominal apparent inertia 1 / (M^-1)_jj (kg m^2, with armature) of every actuated
  joint, robot held at `pose` with joints at mid_pose: the inertia a joint's motor feels
  when the other joints are free (M_jj, all others locked, overstates it several times for
  the abdomen, and a derivative gain sized on it goes unstable with 10 ms of latency)."""
  from . import params as P
  m = P.base_mj_model(model, pose)
  d = mujoco.MjData(m)
  d.qpos[m.jnt_qposadr[m.actuator_trnid[:, 0]]] = mid_pose(model)
  mujoco.mj_forward(m, d)
  full = np.zeros((m.nv, m.nv))
  mujoco.mj_fullM(m, d, full)  # mujoco >= 3.3 signature (m, d, dst)
  return 1.0 / np.diag(np.linalg.inv(full))[m.jnt_dofadr[m.actuator_trnid[:, 0]]]


def pd_gains(model: str = "humanoid", bandwidth_hz: float = PD_BANDWIDTH_HZ,
             damping_ratio: float = PD_DAMPING_RATIO, range_fraction: float = 0.3,
             torque_fraction: float = 0.35) -> tuple:
  """(kp (nu,) N m/rad, kd (nu,) N m s/rad) of the excitation loop (see PD_BANDWIDTH_HZ),
  kp capped so that a tracking error of the target amplitude (range_fraction of the half
  range) asks for at most torque_fraction of the motor's peak torque (gear): joints that
  move large inertias with small motors (the abdomen, which swings pelvis and legs when the
  torso is held) get a slower loop instead of saturating."""
  rng, gear, *_ = _joint_tables(model)
  inertia = joint_inertia(model)
  w = 2 * math.pi * bandwidth_hz
  amplitude = range_fraction * 0.5 * (rng[:, 1] - rng[:, 0])
  kp = np.minimum(inertia * w * w, torque_fraction * gear / amplitude)
  return kp, 2 * damping_ratio * np.sqrt(kp * inertia)


def mid_pose(model: str = "humanoid", margin: float = 0.15) -> np.ndarray:
  """(nu,) the centre pose of the excitation, rad: the hanging pose (all joints 0) moved
  inside [low + margin * range, high - margin * range] (e.g. the knees bend by ~26 deg), so
  gravity loads the motors little and no joint starts near a limit."""
  rng, *_ = _joint_tables(model)
  width = rng[:, 1] - rng[:, 0]
  return np.clip(0.0, rng[:, 0] + margin * width, rng[:, 1] - margin * width)


def held_state(model: str = "humanoid", pose=HELD_POSE) -> tuple:
  """(qpos, qvel) of the robot clamped in the stand at `pose`, joints at mid_pose, at rest."""
  rng, gear, qadr, qpos0, nv = _joint_tables(model)
  qpos = qpos0.copy()
  qpos[:7] = pose
  qpos[qadr] = mid_pose(model)
  return qpos, np.zeros(nv)


def joint_targets(nstep: int, control_dt: float, seed: int, range_fraction: float = 0.3,
                  model: str = "humanoid", freq_range: tuple = (0.3, 2.0)) -> np.ndarray:
  """(nstep, nu) joint targets, rad: mid-range plus random multisine + steps (excitation)
  spanning +-range_fraction of each joint's half range."""
  rng, *_ = _joint_tables(model)
  half = 0.5 * (rng[:, 1] - rng[:, 0])
  wave = excitation(len(half), nstep, control_dt, seed, amplitude=1.0, freq_range=freq_range,
                    ramp_s=0.0)
  targets = mid_pose(model)[None] + range_fraction * half[None] * wave
  return np.clip(targets, rng[:, 0] + 0.05 * half, rng[:, 1] - 0.05 * half)


class PDExcitation:
  """A motion executed by a PD loop on the robot: targets (T, nu) rad, gains (kp, kd) per
  joint (default pd_gains(model)).

  `execute(robot)` resets the robot to `state` (held in the stand or free), sends at every
  control step ctrl = clip((kp (target - q) - kd qdot) / gear, -1, 1) computed from the last
  reading, and returns the SensorLog (its `controls` are the commands as sent)."""

  def __init__(self, name: str, targets: np.ndarray, state: tuple, held: bool = True,
               gains: tuple | None = None, model: str = "humanoid"):
    _, gear, *_ = _joint_tables(model)
    self.name, self.targets, self.state, self.held = name, np.asarray(targets), state, held
    self.gear = gear
    self.kp, self.kd = gains if gains is not None else pd_gains(model)

  @property
  def nstep(self) -> int:
    return len(self.targets)

  def replay(self) -> dict:
    """The Replayer.rollout arguments that run this motion in simulation."""
    return {"pd": (self.targets, self.kp, self.kd, self.gear)}

  def execute(self, robot):
    from .robot import SensorLog
    frame = robot.reset(*self.state, held=self.held)
    frames, sent = [frame], []
    for target in self.targets:
      tau = self.kp * (target - frame.joint_pos) - self.kd * frame.joint_vel
      ctrl = np.clip(tau / self.gear, -1.0, 1.0)
      frame = robot.step(ctrl)
      frames.append(frame)
      sent.append(ctrl)
    return SensorLog.from_frames(frames, np.array(sent))


class OpenLoopMotion:
  """Commands (T, nu) sent open loop from `state` (e.g. lying on the floor)."""

  def __init__(self, name: str, controls: np.ndarray, state: tuple, held: bool = False):
    self.name, self.controls, self.state, self.held = name, np.asarray(controls), state, held

  @property
  def nstep(self) -> int:
    return len(self.controls)

  def replay(self) -> dict:
    return {"controls": self.controls}

  def execute(self, robot):
    robot.reset(*self.state, held=self.held)
    return robot.run(self.controls)


def lying_motions(nstep: int, control_dt: float, seed: int, count: int = 1, amplitude: float = 0.2,
                  pose: str = "supine", model: str = "humanoid") -> list:
  """`count` open-loop torque motions lying on the floor (contact-rich; see module doc)."""
  state = resting_state(pose, model)
  nu = len(mid_pose(model))
  return [OpenLoopMotion(f"lying-{pose}-{seed + i}", excitation(nu, nstep, control_dt, seed + i, amplitude),
                         state, held=False) for i in range(count)]


def held_motions(nstep: int, control_dt: float, seed: int, count: int = 1,
                 range_fraction: float = 0.3, model: str = "humanoid") -> list:
  """`count` PD excitations in the stand, seeds seed, seed + 1, ..."""
  state = held_state(model)
  return [PDExcitation(f"held-{seed + i}", joint_targets(nstep, control_dt, seed + i, range_fraction,
                                                         model), state, held=True, model=model)
          for i in range(count)]
