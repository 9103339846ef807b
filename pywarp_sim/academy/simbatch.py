"""Batched replay: many parameter candidates of one robot, one per world, on pywarp_sim.

`Replayer` owns a Simulator whose banks have one row per world (nbank == nworld). A rollout
writes each world's parameter scales into its bank row, puts every world in the given start
state, and replays the given commands at the control rate, each world delaying them by its
own latency (a world with latency L applies command k - L at control step k and zero before,
exactly as a robot whose command queue is cleared at reset). It returns the packed sensor
channels of every world (robot.SensorLog.channels order) without noise.

Every continuous parameter, ground friction included, is a bank row (params.py), so one
Replayer evaluates any mix of candidates.

`SimRobot` is the same simulation behind the robot.Robot protocol (one world): the nominal
or calibrated digital twin of a robot, used for policy evaluation and gap reports.
"""

from __future__ import annotations

import collections

import numpy as np
import torch
import warp as wp

from ..envs import control
from ..io import put_model
from ..simulator import Simulator
from . import params as P
from .robot import SensorFrame, SensorLog

FOOT_GEOMS = ("right_foot", "left_foot")


_NATIVE_FAILED = {}  # device -> reason the native backend could not build a Simulator


def default_backend(device) -> str:
  """"native" (fused C++/CUDA step, several times faster) when built for `device`, else "warp"."""
  if str(device) in _NATIVE_FAILED:
    return "warp"
  try:
    from .. import native_backend
    native_backend.require(device)
    return "native"
  except Exception:  # not built, or no CUDA module: the Warp kernels run everywhere
    return "warp"


def make_simulator(model, nworld: int, device: str, backend: str, **kw) -> tuple:
  """(Simulator, backend used). backend "auto": native when it builds, else warp; a native
  module that fails at creation (e.g. stale against its Python side) is remembered per device
  and the Warp kernels are used, with the reason in `native_unavailable()`."""
  if backend != "auto":
    return Simulator(model, nworld=nworld, device=device, backend=backend, **kw), backend
  if default_backend(device) == "native":
    try:
      return Simulator(model, nworld=nworld, device=device, backend="native", **kw), "native"
    except Exception as e:
      _NATIVE_FAILED[str(device)] = f"{type(e).__name__}: {e}"
  return Simulator(model, nworld=nworld, device=device, backend="warp", **kw), "warp"


def native_unavailable() -> dict:
  """{device: reason} for devices where the native backend failed at creation."""
  return dict(_NATIVE_FAILED)


class Replayer:
  """`nworld` candidate worlds, each with its own parameters (bank row) and latency.

  Args:
    nworld: number of worlds (= bank rows).
    decimation: physics steps per control step.
    held_pose: None (free robot) or the base pose (7,) of the test stand (params.base_mj_model).
    model: bundled model name or MJCF path.
    device, backend: of the Simulator ("auto" picks default_backend(device)).
    cpu_threads: OpenMP threads of the native CPU step (0: OpenMP default). On a loaded
      machine 1 is much faster for a few hundred worlds (busy-waiting threads contend).

  States are always given in the free robot's layout (nq, nv); a held replayer uses their
  joint part.
  """

  def __init__(self, nworld: int, decimation: int = 2, held_pose=None, model: str = "humanoid",
               device="cpu", backend: str = "auto", cpu_threads: int = 0):
    device = str(wp.get_device(device))
    self.held_pose = None if held_pose is None else tuple(float(x) for x in held_pose)
    model = put_model(P.base_mj_model(model, self.held_pose), device, nbank=nworld)
    # Velocity bound: a diverged candidate is flagged (and scored as failed), never fatal.
    self.sim, self.backend = make_simulator(model, nworld, device, backend, nbank=nworld,
                                            max_qvel=1e3)
    if cpu_threads and self.backend == "native" and not self.sim.device.is_cuda:
      from .. import native_backend
      native_backend.set_num_threads(self.sim, cpu_threads)
    self.nworld = nworld
    self.decimation = int(decimation)
    self.writer = P.BankWriter(model)
    h = model.host
    jnt = h["actuator_trnid"]
    tdev = self.sim.torch_device
    self.device = tdev
    self.qadr = torch.as_tensor(h["jnt_qposadr"][jnt], dtype=torch.long, device=tdev)
    self.vadr = torch.as_tensor(h["jnt_dofadr"][jnt], dtype=torch.long, device=tdev)
    gnames = model.names["geom"]
    self.foot_geoms = torch.as_tensor([gnames.index(g) for g in FOOT_GEOMS], device=tdev)
    self.joint_names = tuple(model.names["joint"][j] for j in jnt)
    self.nu = model.nu
    if self.held_pose is not None:
      base = torch.tensor(self.held_pose[3:7] + (0.0, 0.0, 0.0), dtype=torch.float32, device=tdev)
      self._held_base = base[None].expand(nworld, 7)

  # ---- sensors ----------------------------------------------------------------------
  def channels(self) -> torch.Tensor:
    """(nworld, nsensor) packed sensor channels of the current state."""
    qpos, qvel = self.sim.qpos, self.sim.qvel
    if self.held_pose is not None:
      return torch.cat([qpos[:, self.qadr], qvel[:, self.vadr], self._held_base], dim=1)
    return torch.cat([qpos[:, self.qadr], qvel[:, self.vadr], qpos[:, 3:7], qvel[:, 3:6]], dim=1)

  def foot_contacts(self) -> torch.Tensor:
    """(nworld, nfoot) bool: a foot geom has an active contact (last forward/step)."""
    return control.foot_contacts(self.sim, self.foot_geoms)

  # ---- rollouts ---------------------------------------------------------------------
  @torch.no_grad()
  def set_state(self, qpos, qvel, worlds=None):
    """Puts worlds (None = all) in state qpos (nq,) or (n, nq), qvel likewise (free robot's
    layout); clears controls, warm start and contacts, recomputes derived quantities."""
    sim = self.sim
    idx = torch.arange(self.nworld, device=self.device) if worlds is None else \
      torch.as_tensor(worlds, dtype=torch.long, device=self.device)
    sim.reset(idx, recompute=False)
    def as_tensor(x):
      x = x if torch.is_tensor(x) else np.asarray(x)
      return torch.as_tensor(x, dtype=torch.float32).to(self.device)
    qpos, qvel = as_tensor(qpos), as_tensor(qvel)
    if self.held_pose is not None:
      qpos, qvel = qpos[..., 7:], qvel[..., 6:]
    sim.qpos[idx] = qpos.expand(len(idx), -1) if qpos.dim() == 1 else qpos
    sim.qvel[idx] = qvel.expand(len(idx), -1) if qvel.dim() == 1 else qvel
    sim.forward()

  @torch.no_grad()
  def rollout(self, scales: dict, latency, qpos0, qvel0, controls=None, contacts: bool = False,
              pd=None, pd_noise=None):
    """Simulates n <= nworld candidates from (qpos0, qvel0) for T control steps.

    scales: {bank param: (n,) array/tensor or float} (params.BANK_PARAMS; missing = 1).
    latency: (n,) ints (control steps) or an int: command k acts at control step k + L.
    qpos0 (nq,) or (n, nq); qvel0 (nv,) or (n, nv): start states (free robot's layout).
    controls: open loop, (T, nu) commands shared by all worlds or (T, n, nu) per world.
    pd: closed loop instead, (targets (T, nu) or (T, n, nu) rad, kp (nu,), kd (nu,), gear (nu,)):
      every world computes clip((kp (target - q) - kd qdot) / gear, -1, 1) from its own
      joint state at each control step (envs.control.pd_ctrl), as PDExcitation does on a robot.
    pd_noise: None, or (T, n, 2 * nu) added to the joint readings (positions rad, then
      velocities rad/s) the PD loop computes from at each control step: a robot's loop runs
      on noisy sensors. The returned channels stay exact.
    Returns (channels (T + 1, n, nsensor) float32, health (n,) int (0 = healthy throughout),
    contacts (T + 1, n, nfoot) bool or None), torch tensors on the simulator's device.
    Worlds beyond n repeat world 0 (their results are dropped). For a free robot the base
    height (T + 1, n) is kept in `self.last_base_height`.
    """
    if (controls is None) == (pd is None):
      raise ValueError("give either controls (open loop) or pd (closed loop)")
    if pd_noise is not None and pd is None:
      raise ValueError("pd_noise perturbs the readings of a PD loop: give pd, not controls")
    dev, N = self.device, self.nworld
    seq = torch.as_tensor(np.asarray(controls if pd is None else pd[0]), dtype=torch.float32, device=dev)
    sizes = [np.size(v) for v in scales.values()] + [np.size(latency)]
    sizes += [seq.shape[1] if seq.dim() == 3 else 1, np.shape(qpos0)[0] if np.ndim(qpos0) == 2 else 1]
    if pd_noise is not None:
      sizes.append(pd_noise.shape[1])
    n = max(sizes)
    if n > N:
      raise ValueError(f"{n} candidates for a replayer of {N} worlds; split the batch")

    def per_world(x, dtype, row_ndim):
      """x with one row per world (broadcast from a single row), padded to N rows."""
      t = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=dtype, device=dev)
      t = t.reshape(-1, *t.shape[t.dim() - row_ndim:]) if t.dim() > row_ndim else t.reshape(1, *t.shape)
      t = t.expand(n, *t.shape[1:]) if t.shape[0] == 1 else t
      return torch.cat([t, t[:1].expand(N - n, *t.shape[1:])], dim=0) if N > n else t

    self.writer.write({k: per_world(v, torch.float32, 0) for k, v in scales.items()})
    lat = per_world(latency, torch.long, 0)
    self.set_state(per_world(qpos0, torch.float32, 1), per_world(qvel0, torch.float32, 1))
    T = seq.shape[0]
    seq = seq[:, None, :].expand(T, N, self.nu) if seq.dim() == 2 else \
      torch.cat([seq, seq[:, :1].expand(T, N - n, self.nu)], dim=1)
    if lat.numel() and int(lat.min()) < 0:
      raise ValueError(f"latency must be >= 0 control steps, got {lat.tolist()}")
    # the commands in flight: each world's command of control step k reaches it at k + latency
    delay = control.DelayLine(N, self.nu, int(lat.max()) if lat.numel() else 0, device=dev)
    if pd is not None:
      kp, kd, gear = (torch.as_tensor(np.asarray(x), dtype=torch.float32, device=dev) for x in pd[1:])
      if pd_noise is not None:
        pd_noise = torch.as_tensor(pd_noise, dtype=torch.float32, device=dev)
        if pd_noise.shape != (T, n, 2 * self.nu):
          raise ValueError(f"pd_noise has shape {tuple(pd_noise.shape)}; expected (T, n, 2 nu) = "
                           f"{(T, n, 2 * self.nu)}")
        pd_noise = torch.cat([pd_noise, pd_noise.new_zeros(T, N - n, 2 * self.nu)], dim=1)
    out = torch.empty(T + 1, N, 2 * len(self.qadr) + 7, device=dev)
    out[0] = self.channels()
    feet = torch.empty(T + 1, N, len(FOOT_GEOMS), dtype=torch.bool, device=dev) if contacts else None
    if contacts:
      feet[0] = self.foot_contacts()
    sim_ctrl = self.sim.ctrl
    nj = len(self.qadr)
    free = self.held_pose is None
    height = torch.empty(T + 1, N, device=dev) if free else None
    if free:
      height[0] = self.sim.qpos[:, 2]
    for k in range(T):
      if pd is None:
        command = seq[k]
      else:
        q, qd = out[k, :, :nj], out[k, :, nj:2 * nj]
        if pd_noise is not None:
          q, qd = q + pd_noise[k, :, :nj], qd + pd_noise[k, :, nj:]
        command = control.pd_ctrl(q, qd, seq[k], kp, kd, gear, -1.0, 1.0)
      sim_ctrl.copy_(delay.push(command, lat))
      self.sim.step(self.decimation)
      out[k + 1] = self.channels()
      if free:
        height[k + 1] = self.sim.qpos[:, 2]
      if contacts:
        feet[k + 1] = self.foot_contacts()
    self.last_base_height = height[:, :n] if free else None
    health = self.sim.health.clone()
    return out[:, :n], health[:n], (feet[:, :n] if contacts else None)


class SimRobot:
  """A pywarp_sim digital twin of a robot with known parameters (robot.Robot protocol).

  params: {name: scale, "latency": int} (params.py; missing = nominal). Sensors are exact.
  """

  def __init__(self, params: dict | None = None, name: str = "sim", control_decimation: int = 2,
               model: str = "humanoid", device="cpu", backend: str = "auto"):
    self.params = {**P.nominal_params(), **(params or {})}
    self.name = name
    self._args = dict(decimation=control_decimation, model=model, device=device, backend=backend)
    self._reps = {}
    self._use(None)
    m = self._rep.sim.model
    self.control_dt = m.opt.timestep * control_decimation
    self.nu = m.nu
    self.joint_names = self._rep.joint_names
    self.nq, self.nv = m.nq, m.nv
    self._pending = collections.deque()

  def _use(self, held_pose):
    key = None if held_pose is None else tuple(float(x) for x in held_pose)
    if key not in self._reps:
      rep = Replayer(1, held_pose=key, **self._args)
      rep.writer.write({k: self.params[k] for k in P.BANK_PARAMS})
      self._reps[key] = rep
    self._rep = self._reps[key]

  def _read(self) -> SensorFrame:
    rep = self._rep
    ch = rep.channels()[0].double().cpu().numpy()
    nj = len(self.joint_names)
    if rep.held_pose is None:
      pos, vel = rep.sim.qpos[0, 0:3].double().cpu().numpy(), rep.sim.qvel[0, 0:3].double().cpu().numpy()
    else:
      pos, vel = np.array(rep.held_pose[0:3]), np.zeros(3)
    return SensorFrame(time=float(rep.sim.time[0]), joint_pos=ch[:nj], joint_vel=ch[nj:2 * nj],
                       base_quat=ch[2 * nj:2 * nj + 4], base_angvel=ch[2 * nj + 4:],
                       foot_contact=rep.foot_contacts()[0].cpu().numpy(),
                       base_pos=pos, base_linvel=vel)

  def reset(self, qpos, qvel, held: bool = False) -> SensorFrame:
    self._use(np.asarray(qpos)[:7] if held else None)
    self._rep.set_state(qpos, qvel)
    self._pending = collections.deque([np.zeros(self.nu)] * int(self.params["latency"]))
    return self._read()

  def step(self, ctrl) -> SensorFrame:
    self._pending.append(np.asarray(ctrl, dtype=np.float64).reshape(self.nu))
    self._rep.sim.ctrl[0] = torch.as_tensor(self._pending.popleft(), dtype=torch.float32)
    self._rep.sim.step(self._rep.decimation)
    return self._read()

  def run(self, controls) -> SensorLog:
    controls = np.asarray(controls, dtype=np.float64)
    frames = [self._read()]
    for u in controls:
      frames.append(self.step(u))
    return SensorLog.from_frames(frames, controls)
