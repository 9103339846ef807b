"""The public Simulator: a batch of worlds of one model on one device.

State lives in Warp arrays allocated once; the torch tensors exposed here
(`sim.qpos`, `sim.xpos`, ...) are views of the same memory (wp.to_torch), so a
tensor taken before `step` sees the step, and writing into `sim.ctrl` sets the
controls without a copy.
"""

import enum

import numpy as np
import torch
import warp as wp

from . import forward as _forward
from .io import make_data, put_model
from .types import Data, Model

_BACKENDS = ("warp", "native")


class Health(enum.IntFlag):
  """Per-world health bits in `Simulator.health` (0 = healthy)."""
  NONFINITE = 1          # qpos, qvel or qacc has a NaN/Inf
  CONTACT_OVERFLOW = 2   # more contacts than the per-world capacity
  SOLVER_NOT_CONVERGED = 4
  VELOCITY_BOUND = 8     # |qvel| beyond Simulator.max_qvel


@wp.kernel
def _health(
  # Model:
  nq: int,
  nv: int,
  max_qvel: float,
  # Data in:
  qpos_in: wp.array2d(dtype=float),
  qvel_in: wp.array2d(dtype=float),
  qacc_in: wp.array2d(dtype=float),
  # Data out:
  health_out: wp.array(dtype=int),
  nonfinite_count_out: wp.array(dtype=int),
):
  worldid = wp.tid()
  flags = int(0)
  for i in range(nq):
    if not wp.isfinite(qpos_in[worldid, i]):
      flags = flags | 1
  for i in range(nv):
    v = qvel_in[worldid, i]
    if not (wp.isfinite(v) and wp.isfinite(qacc_in[worldid, i])):
      flags = flags | 1
    elif wp.abs(v) > max_qvel:
      flags = flags | 8
  health_out[worldid] = health_out[worldid] | flags
  if flags & 1:
    wp.atomic_add(nonfinite_count_out, 0, 1)


@wp.kernel
def _reset_worlds(
  # Model:
  nq: int,
  nv: int,
  qpos0: wp.array(dtype=float),
  # Data in:
  mask: wp.array(dtype=int),
  # Data out:
  time_out: wp.array(dtype=float),
  qpos_out: wp.array2d(dtype=float),
  qvel_out: wp.array2d(dtype=float),
  act_out: wp.array2d(dtype=float),
  act_dot_out: wp.array2d(dtype=float),
  ctrl_out: wp.array2d(dtype=float),
  qacc_out: wp.array2d(dtype=float),
  qacc_warmstart_out: wp.array2d(dtype=float),
  qfrc_applied_out: wp.array2d(dtype=float),
  xfrc_applied_out: wp.array2d(dtype=wp.spatial_vector),
  health_out: wp.array(dtype=int),
):
  worldid = wp.tid()
  if mask[worldid] == 0:
    return
  time_out[worldid] = 0.0
  for i in range(nq):
    qpos_out[worldid, i] = qpos0[i]
  for i in range(nv):
    qvel_out[worldid, i] = 0.0
    qacc_out[worldid, i] = 0.0
    qacc_warmstart_out[worldid, i] = 0.0
    qfrc_applied_out[worldid, i] = 0.0
  for i in range(act_out.shape[1]):
    act_out[worldid, i] = 0.0
    act_dot_out[worldid, i] = 0.0
  for i in range(ctrl_out.shape[1]):
    ctrl_out[worldid, i] = 0.0
  for i in range(xfrc_applied_out.shape[1]):
    xfrc_applied_out[worldid, i] = wp.spatial_vector()
  health_out[worldid] = 0


@wp.kernel
def _mask_from_health(health_in: wp.array(dtype=int), mask_out: wp.array(dtype=int),
                      reset_count_out: wp.array(dtype=int)):
  worldid = wp.tid()
  flagged = int(health_in[worldid] != 0)
  mask_out[worldid] = flagged
  if flagged:
    wp.atomic_add(reset_count_out, 0, 1)


class Simulator:
  """nworld copies of one model stepped together on one device.

  Args:
    model: a Model (from `load_model`) or a path / XML string / bundled model name.
    nworld: number of worlds (>= 1).
    device: "cpu" or "cuda:N" (default: Warp's preferred device).
    backend: "warp" (Warp kernels, CPU and CUDA) or "native" (fused C++/CUDA step).
    auto_reset: reset worlds whose health flags are set after each step, in place.
    max_qvel: velocity bound (rad/s or m/s) beyond which a world is flagged VELOCITY_BOUND.
  """

  def __init__(self, model, nworld: int = 1, device=None, backend: str = "warp",
               auto_reset: bool = False, max_qvel: float = 1e4):
    from . import io
    if backend not in _BACKENDS:
      raise ValueError(f"backend must be one of {_BACKENDS}, got '{backend}'")
    if backend == "native":
      raise RuntimeError(
        "backend='native' is not available: the fused C++/CUDA step is not built in this "
        "version of pywarp_sim; use backend='warp'")
    self.device = wp.get_device(device)
    if not isinstance(model, Model):
      model = io.load_model(model, device=self.device)
    elif wp.get_device(model.device) != self.device:
      model = put_model(model.mj_model, self.device, model.nbank)
    self.model: Model = model
    self.backend = backend
    self.auto_reset = auto_reset
    self.max_qvel = float(max_qvel)
    with wp.ScopedDevice(self.device):
      self.data: Data = make_data(model, nworld, self.device)
      self._health = wp.zeros(nworld, dtype=int)
      self._mask = wp.zeros(nworld, dtype=int)
      self._counters = wp.zeros(2, dtype=int)  # [non-finite events, auto resets]
    self._views = {}
    self.forward()

  # ---- sizes -------------------------------------------------------------
  @property
  def nworld(self) -> int:
    return self.data.nworld

  # ---- zero-copy torch views -----------------------------------------------
  def _view(self, name: str, width: int = -1) -> torch.Tensor:
    if name not in self._views:
      arr = getattr(self.data, name)
      t = wp.to_torch(arr, requires_grad=False)
      if width >= 0:
        t = t[:, :width]
      self._views[name] = t
    return self._views[name]

  def __getattr__(self, name):
    # Any Data array by its MuJoCo name: sim.xpos (nworld, nbody, 3), sim.qM (nworld, nv, nv), ...
    if name.startswith("_") or name in ("data", "model"):
      raise AttributeError(name)
    data = self.__dict__.get("data")
    if data is not None and isinstance(getattr(data, name, None), wp.array):
      return self._view(name)
    raise AttributeError(f"Simulator has no attribute '{name}'")

  @property
  def qpos(self) -> torch.Tensor:
    """(nworld, nq) generalised positions (m, rad; quaternions (w, x, y, z))."""
    return self._view("qpos")

  @property
  def qvel(self) -> torch.Tensor:
    """(nworld, nv) generalised velocities (m/s, rad/s)."""
    return self._view("qvel")

  @property
  def qacc(self) -> torch.Tensor:
    """(nworld, nv) generalised accelerations from the last forward/step."""
    return self._view("qacc")

  @property
  def ctrl(self) -> torch.Tensor:
    """(nworld, nu) actuator controls; write into it (sim.ctrl[:] = actions)."""
    return self._view("ctrl", self.model.nu)

  @property
  def act(self) -> torch.Tensor:
    """(nworld, na) actuator activations."""
    return self._view("act", self.model.na)

  @property
  def time(self) -> torch.Tensor:
    """(nworld,) simulation time, s."""
    return self._view("time")

  @property
  def health(self) -> torch.Tensor:
    """(nworld,) int32 Health bit flags, 0 = healthy; cleared by reset."""
    if "health" not in self._views:
      self._views["health"] = wp.to_torch(self._health)
    return self._views["health"]

  @property
  def counters(self) -> dict:
    """Device counters read back to the host: non-finite events and auto resets."""
    c = self._counters.numpy()
    return {"nonfinite": int(c[0]), "auto_resets": int(c[1])}

  # ---- stepping ------------------------------------------------------------
  def forward(self):
    """Recomputes every derived quantity and qacc from the state (mj_forward)."""
    with wp.ScopedDevice(self.device):
      _forward.forward(self.model, self.data)

  def step(self, nsteps: int = 1):
    """Advances every world by nsteps * timestep (mj_step), checking health after each."""
    m, d = self.model, self.data
    with wp.ScopedDevice(self.device):
      for _ in range(nsteps):
        _forward.step(m, d)
        wp.launch(_health, dim=d.nworld, inputs=[m.nq, m.nv, self.max_qvel, d.qpos, d.qvel, d.qacc],
                  outputs=[self._health, self._counters])
        if self.auto_reset:
          wp.launch(_mask_from_health, dim=d.nworld, inputs=[self._health],
                    outputs=[self._mask, self._counters[1:]])
          self._reset_masked()

  def reset(self, worlds=None):
    """Resets worlds to the model's reference state (qpos0, zero velocity, controls and
    activations) and recomputes their derived quantities.

    worlds: None (all), a bool mask of shape (nworld,), or an index tensor/list.
    """
    n = self.nworld
    if worlds is None:
      mask = torch.ones(n, dtype=torch.int32)
    else:
      w = torch.as_tensor(worlds)
      if w.dtype == torch.bool:
        if w.shape != (n,):
          raise ValueError(f"reset mask must have shape ({n},), got {tuple(w.shape)}")
        mask = w.to(torch.int32)
      else:
        if w.dtype not in (torch.int32, torch.int64) or w.ndim != 1:
          raise ValueError("reset worlds must be a bool mask (nworld,) or a 1-D integer index tensor")
        if w.numel() and (int(w.min()) < 0 or int(w.max()) >= n):
          raise ValueError(f"reset world index out of range [0, {n})")
        mask = torch.zeros(n, dtype=torch.int32, device=w.device)
        mask[w.long()] = 1
    wp.to_torch(self._mask).copy_(mask.to(wp.device_to_torch(self.device)))
    with wp.ScopedDevice(self.device):
      self._reset_masked()

  def _reset_masked(self):
    m, d = self.model, self.data
    wp.launch(_reset_worlds, dim=d.nworld, inputs=[m.nq, m.nv, m.qpos0, self._mask], outputs=[
      d.time, d.qpos, d.qvel, d.act, d.act_dot, d.ctrl, d.qacc, d.qacc_warmstart, d.qfrc_applied,
      d.xfrc_applied, self._health])
    _forward.forward(m, d)
