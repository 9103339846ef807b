"""A proxy fleet: STAND-INS FOR REAL HARDWARE, for developing and testing the academy.

Each ProxyRobot is MuJoCo C (the `mujoco` package, float64) running the humanoid with hidden
per-robot parameters drawn from a plausible manufacturing spread (params.PRIORS, seeded):
link mass scale per body group, ground friction, motor strength, joint damping and armature
scales, and an actuator latency of 0..3 control steps; its sensors add Gaussian noise. It
implements the robot.Robot protocol and nothing more is needed to calibrate it.

The hidden values are kept private and are exposed only by `reveal_truth()`, which exists
for gap metrics and tests (parameter error against the truth); calibration code never calls
it (a real robot has no such method).
"""

from __future__ import annotations

import collections
import dataclasses
import math

import mujoco
import numpy as np

from . import params as P
from .robot import SensorFrame, SensorLog

FOOT_GEOMS = ("right_foot", "left_foot")


@dataclasses.dataclass(frozen=True)
class SensorNoise:
  """Std of additive Gaussian sensor noise (white, per reading)."""
  joint_pos: float = 0.002    # rad (encoder)
  joint_vel: float = 0.02     # rad/s
  base_quat: float = 0.002    # rad, small random rotation of the IMU orientation
  base_angvel: float = 0.01   # rad/s (gyro)

  @classmethod
  def none(cls) -> "SensorNoise":
    return cls(0.0, 0.0, 0.0, 0.0)


def sample_truth(rng: np.random.Generator, priors: dict | None = None,
                 latencies=P.LATENCY_VALUES) -> dict:
  """One robot's parameters: each scale log-uniform in its prior range, latency uniform."""
  priors = priors or P.PRIORS
  out = {name: float(math.exp(rng.uniform(math.log(p.low), math.log(p.high))))
         for name, p in priors.items()}
  out["latency"] = int(rng.choice(np.asarray(latencies)))
  return out


def _quat_mul(a, b):
  w1, x1, y1, z1 = a
  w2, x2, y2, z2 = b
  return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                   w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


class ProxyRobot:
  """A stand-in for one hardware humanoid (robot.Robot protocol), simulated by MuJoCo C.

  Args:
    name: robot name.
    seed: draws the hidden parameters (unless `truth` is given) and seeds the sensor noise.
    truth: explicit hidden parameters {name: scale, "latency": int} (missing = nominal),
      for tests; None draws them from `priors`.
    noise: SensorNoise (SensorNoise.none() for noiseless sensors).
    control_decimation: physics steps (opt.timestep each) per control step.
    model: bundled model name or MJCF path.
  """

  def __init__(self, name: str = "proxy-0", seed: int = 0, truth: dict | None = None,
               noise: SensorNoise | None = None, control_decimation: int = 2,
               model: str = "humanoid", priors: dict | None = None):
    rng = np.random.default_rng([int(seed), 0xACAD])
    if truth is None:
      truth = sample_truth(rng, priors)
    else:
      unknown = set(truth) - set(P.CONTINUOUS_PARAMS) - {"latency"}
      if unknown:
        raise ValueError(f"unknown robot parameters {sorted(unknown)}; known: "
                         f"{list(P.CONTINUOUS_PARAMS) + ['latency']}")
      truth = {**P.nominal_params(), **truth}
    self.__truth = dict(truth)  # private: only reveal_truth() exposes it
    self.__noise_rng = np.random.default_rng([int(seed), 0x5E45])
    self.__model_name = model
    self.__models = {}  # held pose (or None) -> (edited MjModel, MjData)
    self.__pending = collections.deque()
    self.name = name
    self.noise = noise if noise is not None else SensorNoise()
    self.decimation = int(control_decimation)
    self.__use(None)
    m = self.__mjm
    self.control_dt = m.opt.timestep * self.decimation
    self.nu = m.nu
    self.joint_names = tuple(mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, m.actuator_trnid[a, 0])
                             for a in range(m.nu))
    self.nq, self.nv = m.nq, m.nv

  def __use(self, held_pose):
    """Switches to the free robot (None) or the robot clamped in a stand at held_pose."""
    key = None if held_pose is None else tuple(float(x) for x in held_pose)
    if key not in self.__models:
      mjm = P.edited_mj_model(P.base_mj_model(self.__model_name, key), self.__truth)
      self.__models[key] = (mjm, mujoco.MjData(mjm))
    self.__held = key
    self.__mjm, self.__data = self.__models[key]
    m = self.__mjm
    jnt = [m.actuator_trnid[a, 0] for a in range(m.nu)]
    self.__qadr = np.array([m.jnt_qposadr[j] for j in jnt])
    self.__vadr = np.array([m.jnt_dofadr[j] for j in jnt])
    self.__foot = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, g) for g in FOOT_GEOMS]

  def __repr__(self):
    return f"ProxyRobot({self.name!r}, hidden parameters)"

  # ---- robot.Robot ----------------------------------------------------------------
  def reset(self, qpos: np.ndarray, qvel: np.ndarray, held: bool = False) -> SensorFrame:
    """qpos (nq,), qvel (nv,) of the free robot. held=True clamps the torso in a test stand
    at the base pose qpos[0:7] (the base velocity qvel[0:6] must then be zero)."""
    qpos = np.asarray(qpos, dtype=np.float64)
    qvel = np.asarray(qvel, dtype=np.float64)
    if held and np.any(qvel[:6] != 0):
      raise ValueError("a held robot's base is at rest: qvel[0:6] must be zero")
    self.__use(qpos[:7] if held else None)
    m, d = self.__mjm, self.__data
    mujoco.mj_resetData(m, d)
    if held:
      d.qpos[:] = qpos[7:]
      d.qvel[:] = qvel[6:]
    else:
      d.qpos[:] = qpos
      d.qvel[:] = qvel
    mujoco.mj_forward(m, d)
    self.__pending = collections.deque([np.zeros(m.nu)] * int(self.__truth["latency"]))
    return self._read()

  def step(self, ctrl: np.ndarray) -> SensorFrame:
    m, d = self.__mjm, self.__data
    self.__pending.append(np.asarray(ctrl, dtype=np.float64).reshape(m.nu))
    d.ctrl[:] = self.__pending.popleft()
    for _ in range(self.decimation):
      mujoco.mj_step(m, d)
    return self._read()

  def run(self, controls: np.ndarray) -> SensorLog:
    controls = np.asarray(controls, dtype=np.float64)
    frames = [self._read()]
    for u in controls:
      frames.append(self.step(u))
    return SensorLog.from_frames(frames, controls)

  # ---- sensors --------------------------------------------------------------------
  def _read(self) -> SensorFrame:
    m, d, n, rng = self.__mjm, self.__data, self.noise, self.__noise_rng
    nj = len(self.__qadr)
    held = self.__held
    quat = np.array(d.qpos[3:7]) if held is None else np.array(held[3:7])
    base_pos = np.array(d.qpos[0:3]) if held is None else np.array(held[0:3])
    base_vel = np.array(d.qvel[0:6]) if held is None else np.zeros(6)
    if n.base_quat > 0:
      dq = rng.normal(0.0, n.base_quat, 3)
      angle = np.linalg.norm(dq)
      axis = dq / angle if angle > 0 else np.array([1.0, 0, 0])
      quat = _quat_mul(quat, np.r_[math.cos(angle / 2), math.sin(angle / 2) * axis])
    contact = np.zeros(len(self.__foot), dtype=bool)
    for i in range(d.ncon):
      c = d.contact[i]
      if c.exclude == 0:
        for k, g in enumerate(self.__foot):
          if c.geom1 == g or c.geom2 == g:
            contact[k] = True
    return SensorFrame(
      time=float(d.time),
      joint_pos=d.qpos[self.__qadr] + rng.normal(0.0, n.joint_pos, nj),
      joint_vel=d.qvel[self.__vadr] + rng.normal(0.0, n.joint_vel, nj),
      base_quat=quat,
      base_angvel=base_vel[3:6] + rng.normal(0.0, n.base_angvel, 3),
      foot_contact=contact,
      base_pos=base_pos,          # mocap (exact): task rewards, incident states
      base_linvel=base_vel[0:3],
    )

  # ---- for gap metrics and tests only -------------------------------------------
  def reveal_truth(self) -> dict:
    """The hidden parameters. For gap metrics and tests ONLY: calibration never calls it."""
    return dict(self.__truth)


def make_fleet(nrobot: int, seed: int = 0, noise: SensorNoise | None = None,
               control_decimation: int = 2) -> list:
  """`nrobot` proxy robots 'proxy-<i>' with hidden parameters drawn from seed + i."""
  return [ProxyRobot(f"proxy-{i}", seed=seed * 1000 + i, noise=noise,
                     control_decimation=control_decimation) for i in range(nrobot)]
