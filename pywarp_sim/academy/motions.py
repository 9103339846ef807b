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
steps (latency) make the parameters identifiable.

Ground friction needs sliding contact: `floor_motions` is a second phase (1.6 s in
calibration) in which the stand is lowered until the toes would sink FLOOR_PRESS_M into the
floor, both ankles are held against their toe-down stop (only the toe sphere of each capsule
foot touches), the knees start bent so the toes rest on the floor, and a stiffer leg loop
(FLOOR_PD_BANDWIDTH_HZ) sweeps hip_x and hip_z out and back (+-FLOOR_SLIDE_FRACTION of the half
range every FLOOR_SWEEP_S): the toes slide sideways and around under the leg's weight, so the
friction force mu * N shapes the leg joints' trajectories. Arms and abdomen hold mid pose.

Measured in MuJoCo C (normalised MSE of the joint channels against the same robot with
friction changed by 0.1%, 1% and 10%, divided by the squared change; eight parameter sets
across the prior, ground friction 0.6..1.4, latency 0..3, two seeds, 1.6 s):
  * this protocol: the ratio is the same at 0.1%, 1% and (within 2x) 10%, 0.0007..0.0095,
    toes in contact 100% of the time, for all sets and seeds: friction enters smoothly. (With
    damping ratio 0.7 instead of 0.4, one corner of the prior, friction 1.4, legs 0.8,
    motors 1.25, armature 2, damping 0.5, latency 3, jumped between 0.1% and 1%.)
  * feet flat on the floor (soles ~1 cm deep, hip sweeps with random targets): smooth but
    10x less sensitive (the feet mostly stick); pushed harder (2 Hz loop, IK-placed feet
    with gravity feed-forward, stiffer ankles, deeper stand), the capsule feet rock between
    one and two contacts or lift off, and the ratio jumps by 1e2..1e4 at 0.1%;
  * tiptoe with the toes starting 4 cm into the floor (an impact at t = 0): jumps for some
    parameter sets; starting at rest on the floor removes them.
Friction is still a weak signal next to sensor noise (10% friction adds ~1% to the floor
phase's noise-level score): on noisy proxies it is found within 0.5-4% (calibrate.py).

`lying_motions` (open-loop torques lying on the back) remain for contact-rich checks.
"""

from __future__ import annotations

import functools
import math

import mujoco
import numpy as np

from .. import models
from ..envs import control

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
# Floor phase (module doc). Joints by name suffix (both legs): the legs, hip_x / hip_z (drag
# the toes sideways and around), ankle_y (held at its toe-down stop), knee.
LEG_JOINTS = ("hip_x", "hip_z", "hip_y", "knee", "ankle_y", "ankle_x")
SLIDE_JOINTS = ("hip_x", "hip_z")
# The stand is lowered until the toes would sink this far into the floor: the legs bend and
# press with their weight. Measured with the toes starting 2 cm, 4 cm and 6 cm deep (before
# the rest start of floor_motions): 2 and 6 cm made the replay jump for some parameter sets.
FLOOR_PRESS_M = 0.04
# Legs on a 2 Hz loop, damping ratio 0.4 (the friction at the toes damps too): with the 1 Hz
# stand loop the feet stick. Sensor noise in the robot's own loop is amplified by latency,
# and the robot's floor log then drifts from any noise-free replay: score of the true
# parameters on noisy proxies of latency 2 / 3 / 0 (seeds 1, 3, 0; noise level ~0.006):
# 3 Hz, 0.7: 0.038 / - / 0.007; 2 Hz, 0.7: 0.0064 / 0.0098 / 0.0062; 2 Hz, 1.0: 0.0076 /
# 0.67 / 0.0064; 2 Hz, 0.4: 0.0062 / 0.0060 / 0.0062; 1.5 Hz, 0.7: equally quiet but 20-40%
# less sensitive to friction. Torque budget 60% of the peak.
FLOOR_PD_BANDWIDTH_HZ = 2.0
FLOOR_PD_DAMPING_RATIO = 0.4
FLOOR_TORQUE_FRACTION = 0.6
FLOOR_SLIDE_FRACTION = 0.5   # hip_x / hip_z sweep: this fraction of the half range ...
FLOOR_SWEEP_S = 0.8          # ... out and back once in this time
# Ankles pushed 0.7 rad past the toe-down stop with kp 15 N m/rad: ~10 N m against the stop,
# about twice what a 60 N toe load exerts 8 cm in front of the ankle (estimate), so the stop
# stays engaged and only the toe touches. A flat foot rocks between one and two contacts per
# foot while sliding, and the replay jumps (measured, module doc).
ANKLE_STOP_PUSH = 0.7
ANKLE_STOP_GAINS = (15.0, 0.3)


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
               gains: tuple | None = None, model: str = "humanoid", contact: bool = False):
    _, gear, *_ = _joint_tables(model)
    self.name, self.targets, self.state, self.held = name, np.asarray(targets), state, held
    self.contact = contact  # the feet work on the floor (ground friction acts)
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
      ctrl = control.pd_ctrl(frame.joint_pos, frame.joint_vel, target, self.kp, self.kd,
                             self.gear, -1.0, 1.0)
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


@functools.lru_cache(maxsize=8)
def _leg_actuators(model: str, suffixes: tuple) -> list:
  """Indices of the actuators whose joint name ends with one of `suffixes`."""
  from . import params as P
  m = P.base_mj_model(model)
  names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, m.actuator_trnid[a, 0])
           for a in range(m.nu)]
  out = [a for a, n in enumerate(names) if n and n.endswith(suffixes)]
  if not out:
    raise ValueError(f"model '{model}' has no actuated joint named '*{suffixes}'")
  return out


def tiptoe_pose(model: str = "humanoid") -> np.ndarray:
  """(nu,) joint angles, rad, of the floor phase: mid_pose with both ankles at their toe-down
  stop (ankle_y upper limit), so only the toe sphere of each capsule foot can touch the floor."""
  rng, *_ = _joint_tables(model)
  q = mid_pose(model).copy()
  ankle = _leg_actuators(model, ("ankle_y",))
  q[ankle] = rng[ankle, 1]
  return q


def _toe_height(model: str, pose, knee_bend: float = 0.0) -> float:
  """Height, m, of the lowest point of the feet above the floor, robot held at `pose` in
  tiptoe_pose with both knees bent knee_bend rad more (nominal kinematics: link lengths are
  not calibrated)."""
  from . import params as P
  m = P.base_mj_model(model, pose)
  d = mujoco.MjData(m)
  q = tiptoe_pose(model)
  q[_leg_actuators(model, ("knee",))] -= knee_bend  # knee angles are negative when bent
  d.qpos[m.jnt_qposadr[m.actuator_trnid[:, 0]]] = q
  mujoco.mj_kinematics(m, d)
  low = math.inf
  for g in ("right_foot", "left_foot"):
    i = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, g)
    c, axis = d.geom_xpos[i], d.geom_xmat[i].reshape(3, 3)[:, 2]
    radius, half = m.geom_size[i][0], m.geom_size[i][1]
    low = min(low, c[2] - abs(axis[2]) * half - radius)  # capsule: lower end sphere
  return float(low)


@functools.lru_cache(maxsize=8)
def floor_pose(model: str = "humanoid", press: float = FLOOR_PRESS_M) -> tuple:
  """The test stand's base pose (7,) lowered so that the toes in tiptoe_pose reach `press` m
  below the floor surface (they stop on it: the leg bends and presses)."""
  drop = _toe_height(model, tuple(HELD_POSE)) + press
  return (HELD_POSE[0], HELD_POSE[1], HELD_POSE[2] - drop) + tuple(HELD_POSE[3:7])


@functools.lru_cache(maxsize=8)
def _resting_knee_bend(model: str, pose: tuple) -> float:
  """Extra knee bend, rad, that puts the toes 0.5 mm into the floor in the stand at `pose`
  (bisection): the floor contacts are active from the first step, no impact."""
  lo, hi = 0.0, 1.0
  for _ in range(40):
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if _toe_height(model, pose, mid) < -5e-4 else (lo, mid)
  return hi


def floor_gains(model: str = "humanoid") -> tuple:
  """(kp, kd) (nu,) of the floor phase: the stand loop (pd_gains) for arms and abdomen, a
  FLOOR_PD_BANDWIDTH_HZ loop for the legs (capped for FLOOR_SLIDE_FRACTION), and
  ANKLE_STOP_GAINS for the ankle pitch joints held against their stop."""
  kp, kd = pd_gains(model)
  # hip_x / hip_z capped for their sweep; the other leg joints only hold: capped for 10%
  kps, kds = pd_gains(model, FLOOR_PD_BANDWIDTH_HZ, FLOOR_PD_DAMPING_RATIO,
                      range_fraction=FLOOR_SLIDE_FRACTION, torque_fraction=FLOOR_TORQUE_FRACTION)
  kph, kdh = pd_gains(model, FLOOR_PD_BANDWIDTH_HZ, FLOOR_PD_DAMPING_RATIO, range_fraction=0.1,
                      torque_fraction=FLOOR_TORQUE_FRACTION)
  leg, slide = _leg_actuators(model, LEG_JOINTS), _leg_actuators(model, SLIDE_JOINTS)
  kp[leg], kd[leg] = kph[leg], kdh[leg]
  kp[slide], kd[slide] = kps[slide], kds[slide]
  ankle = _leg_actuators(model, ("ankle_y",))
  kp[ankle], kd[ankle] = ANKLE_STOP_GAINS
  return kp, kd


def floor_targets(nstep: int, control_dt: float, seed: int, model: str = "humanoid") -> np.ndarray:
  """(nstep, nu) joint targets, rad, of the floor phase: tiptoe_pose with the ankle pitch
  targets ANKLE_STOP_PUSH beyond the stop, and hip_x / hip_z of both legs swept out and back,
  mid + a_j sin(2 pi t / FLOOR_SWEEP_S) (mirror-symmetric legs), a_j = (0.8..1, drawn from `seed`)
  * FLOOR_SLIDE_FRACTION of the half range."""
  rng, *_ = _joint_tables(model)
  half = 0.5 * (rng[:, 1] - rng[:, 0])
  base = tiptoe_pose(model)
  base[_leg_actuators(model, ("ankle_y",))] += ANKLE_STOP_PUSH
  t = np.arange(1, nstep + 1) * control_dt
  sweep = np.sin(2 * np.pi * t / FLOOR_SWEEP_S)
  draw = np.random.default_rng(seed)
  targets = np.repeat(base[None], nstep, axis=0)
  for a in _leg_actuators(model, SLIDE_JOINTS):
    targets[:, a] = base[a] + FLOOR_SLIDE_FRACTION * half[a] * draw.uniform(0.8, 1.0) * sweep
  return targets


def floor_motions(nstep: int, control_dt: float, seed: int, count: int = 1,
                  model: str = "humanoid") -> list:
  """`count` floor-phase excitations (module doc), seeds seed, seed + 1, ...: the robot held
  in the lowered stand (reset(..., held=True) at floor_pose()) on tiptoe, toes sliding on the
  floor."""
  pose = floor_pose(model)
  qpos, qvel = held_state(model, pose)
  _, _, qadr, *_ = _joint_tables(model)
  qpos[qadr] = tiptoe_pose(model)
  # start with the toes resting on the floor, knees bent more; the PD then presses them down
  # (toes starting 4 cm deep, an impact at t = 0, made the replay jump: module doc)
  qpos[qadr[_leg_actuators(model, ("knee",))]] -= _resting_knee_bend(model, pose)
  gains = floor_gains(model)
  return [PDExcitation(f"floor-{seed + i}", floor_targets(nstep, control_dt, seed + i, model),
                       (qpos, qvel), held=True, gains=gains, model=model, contact=True)
          for i in range(count)]
