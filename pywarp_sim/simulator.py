"""The public Simulator: a batch of worlds of one model on one device.

State lives in Warp arrays allocated once; the torch tensors exposed here
(`sim.qpos`, `sim.xpos`, ...) are views of the same memory (wp.to_torch), so a
tensor taken before `step` sees the step, and writing into `sim.ctrl` sets the
controls without a copy. Other frameworks get the same memory through DLPack:
`cupy.from_dlpack(sim.qpos)` or `sim.to_cupy("qpos")`.

On CUDA every Warp launch goes to the *current torch stream*, so torch work
queued before `step` (writing actions into `sim.ctrl`) is ordered before the
physics, and torch work queued after it sees the result, without a host sync.
With `graph=True` the step (physics, health check, auto-reset) is captured
once into a CUDA graph on that stream and replayed (`wp.capture_launch`).
"""

import contextlib
import math
import os
import threading

import numpy as np
import torch
import warp as wp

from . import forward as _forward
from .io import check_count, data_nbytes, make_data, put_model
from .types import COUNTERS, DATA_FIELDS, GROUP_SLOT_ROLES, TILED_ROLES, Data, Health, Model, Role

# Simulator(backend=...)'s names, the one list (the CLIs' --backend choices take it)
BACKENDS = ("auto", "warp", "native", "simt")
# Data arrays served as sim.<name> (types.DATA_FIELDS), and those held per thread with
# workspace="thread" (role workspace), which then describe no particular world
_DATA_ARRAYS = tuple(f.name for f in DATA_FIELDS if f.role not in (Role.SIZE, Role.GROUP))
_WORKSPACE_ARRAYS = frozenset(f.name for f in DATA_FIELDS if f.role == Role.WORKSPACE)
# ... and those stored in tiles of worlds with layout="tiled" (types.TILED_ROLES)
_TILED_ARRAYS = frozenset(f.name for f in DATA_FIELDS if f.role in TILED_ROLES)
# ... and those held per resident group slot with workspace="group" unless kept (types.GROUP_SLOT_ROLES)
_GROUP_SLOT_ARRAYS = frozenset(f.name for f in DATA_FIELDS if f.role in GROUP_SLOT_ROLES)
_WORKSPACES = ("world", "thread", "group")
_NATIVE_MAX_NSTEPS = 2 ** 31 - 1  # the native StepPlan.step takes nsteps as a C int


# auto_reset's default trigger: a non-finite state or a velocity beyond max_qvel. Contact
# overflow and solver non-convergence are flagged and counted only (MuJoCo C carries on).
DEFAULT_RESET_ON = Health.NONFINITE | Health.VELOCITY_BOUND
_CHECKED = Health.NONFINITE | Health.CONTACT_OVERFLOW | Health.SOLVER_NOT_CONVERGED | Health.VELOCITY_BOUND



@wp.kernel
def _health(
  # Model:
  nq: int,
  nv: int,
  nu: int,
  na: int,
  max_qvel: float,
  # Data in:
  qpos_in: wp.array2d(dtype=float),
  qvel_in: wp.array2d(dtype=float),
  qacc_in: wp.array2d(dtype=float),
  ctrl_in: wp.array2d(dtype=float),
  act_in: wp.array2d(dtype=float),
  contact_overflow_in: wp.array(dtype=int),
  nefc_in: wp.array(dtype=int),
  converged_in: wp.array(dtype=int),
  # Data out:
  health_out: wp.array(dtype=int),
  counters_out: wp.array(dtype=int),
):
  worldid = wp.tid()
  if health_out[worldid] & 16:
    return  # parked (Health.PARKED): its reset state is non-finite, nothing more to check
  flags = int(0)
  for i in range(nq):
    if not wp.isfinite(qpos_in[worldid, i]):
      flags = flags | 1
  for i in range(nu):
    if not wp.isfinite(ctrl_in[worldid, i]):
      flags = flags | 1
  for i in range(na):
    if not wp.isfinite(act_in[worldid, i]):
      flags = flags | 1
  for i in range(nv):
    v = qvel_in[worldid, i]
    if not (wp.isfinite(v) and wp.isfinite(qacc_in[worldid, i])):
      flags = flags | 1
    elif wp.abs(v) > max_qvel:
      flags = flags | 8
  if contact_overflow_in[worldid] != 0:
    flags = flags | 2
  if nefc_in[worldid] > 0 and converged_in[worldid] == 0:
    flags = flags | 4
  health_out[worldid] = health_out[worldid] | flags
  if flags & 1:
    wp.atomic_add(counters_out, 0, 1)
  if flags & 2:
    wp.atomic_add(counters_out, 1, 1)
  if flags & 4:
    wp.atomic_add(counters_out, 2, 1)
  if flags & 8:
    wp.atomic_add(counters_out, 3, 1)


@wp.kernel
def _reset_worlds(
  # One fused kernel for speed (per-field launches measured 2.5x slower per reset on the CPU);
  # it writes exactly types.reset_fields() (the state to its init, RESET_CLEARS to zero) and the
  # health flags, which tests/test_simulator.py checks on every Data array.
  # Model:
  nq: int,
  nv: int,
  neq: int,
  qpos0: wp.array(dtype=float),
  eq_active0: wp.array(dtype=int),
  # Data in:
  mask: wp.array(dtype=int),
  nscratch: int,  # efc_jv / efc_jar columns to clear: nefc_max, or 0 when they are per thread
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
  ncon_out: wp.array(dtype=int),
  contact_overflow_out: wp.array(dtype=int),
  nefc_out: wp.array(dtype=int),
  efc_jv_out: wp.array2d(dtype=float),
  efc_jar_out: wp.array2d(dtype=float),
  eq_active_out: wp.array2d(dtype=int),
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
  for i in range(eq_active_out.shape[1]):  # mj_resetData; the padding (neq = 0) as allocated
    eq_active_out[worldid, i] = 0
    if i < neq:
      eq_active_out[worldid, i] = eq_active0[i]
  # the old contacts and constraint rows belong to the old state: drop them
  ncon_out[worldid] = 0
  contact_overflow_out[worldid] = 0
  nefc_out[worldid] = 0
  # solver scratch: the solver's first cost evaluation reads efc_jv (times alpha = 0), so NaN
  # left there by a non-finite world would poison the reset world's first solve
  for r in range(nscratch):
    efc_jv_out[worldid, r] = 0.0
    efc_jar_out[worldid, r] = 0.0
  health_out[worldid] = 0


@wp.func
def _row_finite(bank: wp.array2d(dtype=float), worldid: int) -> bool:
  row = worldid % bank.shape[0]
  for i in range(bank.shape[1]):
    if not wp.isfinite(bank[row, i]):
      return False
  return True


@wp.kernel
def _mask_from_health(
  # Model: the parameter banks (Model.banks()) as (nbank, scalars per row)
  body_ipos: wp.array2d(dtype=float),
  body_mass: wp.array2d(dtype=float),
  body_inertia: wp.array2d(dtype=float),
  jnt_stiffness: wp.array2d(dtype=float),
  dof_armature: wp.array2d(dtype=float),
  dof_damping: wp.array2d(dtype=float),
  dof_frictionloss: wp.array2d(dtype=float),
  geom_friction: wp.array2d(dtype=float),
  actuator_gainprm: wp.array2d(dtype=float),
  actuator_biasprm: wp.array2d(dtype=float),
  actuator_gear: wp.array2d(dtype=float),
  opt_gravity: wp.array2d(dtype=float),
  qpos0: wp.array(dtype=float),
  # Simulator:
  reset_on: int,
  # Data out:
  health_out: wp.array(dtype=int),
  mask_out: wp.array(dtype=int),
  last_reset_out: wp.array(dtype=int),
  counters_out: wp.array(dtype=int),
):
  """auto_reset's choice per world: mask_out = 1 where a health bit of `reset_on` is set;
  last_reset_out = those health flags. A world whose reset state (qpos0, its bank rows) is
  non-finite is parked instead (Health.PARKED, counted), not reset every step."""
  worldid = wp.tid()
  mask_out[worldid] = 0
  flags = health_out[worldid]
  if (flags & 16) != 0 or (flags & reset_on) == 0:
    return
  last_reset_out[worldid] = flags
  finite = (_row_finite(body_ipos, worldid) and _row_finite(body_mass, worldid)
            and _row_finite(body_inertia, worldid) and _row_finite(jnt_stiffness, worldid)
            and _row_finite(dof_armature, worldid) and _row_finite(dof_damping, worldid)
            and _row_finite(dof_frictionloss, worldid) and _row_finite(geom_friction, worldid)
            and _row_finite(actuator_gainprm, worldid) and _row_finite(actuator_biasprm, worldid)
            and _row_finite(actuator_gear, worldid) and _row_finite(opt_gravity, worldid))
  for i in range(qpos0.shape[0]):
    if not wp.isfinite(qpos0[i]):
      finite = False
  if finite:
    mask_out[worldid] = 1
    wp.atomic_add(counters_out, 4, 1)
  else:
    health_out[worldid] = flags | 16
    wp.atomic_add(counters_out, 5, 1)


def _scalar_rows(arr: wp.array) -> wp.array:
  """A bank (nbank, n) of scalars or vectors seen as (nbank, n * width) floats (same memory)."""
  width = wp.types.type_size(arr.dtype)
  if arr.size == 0:
    return wp.zeros((1, 1), dtype=wp.float32, device=arr.device)  # nothing to check
  return wp.array(ptr=arr.ptr, dtype=wp.float32, shape=(arr.shape[0], arr.size * width // arr.shape[0]),
                  device=arr.device, copy=False)


class Simulator:
  """nworld copies of one model stepped together on one device.

  Args:
    model: a Model (from `load_model`) or a path / XML string / bundled model name.
    nworld: number of worlds (>= 1).
    device: "cpu" or "cuda:N" (default: Warp's preferred device).
    backend: "auto" (default: "native" where its module is built for the device and it
      supports the model, else "warp"; `sim.backend` names the choice and
      `sim.backend_reason` why), "native" (the fused C++/CUDA step, the product path),
      "warp" (the Warp kernels: the readable reference pipeline, every feature) or "simt" (the
      fused lane-group step of pywarp_sim.simt: `group_size` lanes per world, the CPU running
      its bit-exact emulation; forward and reset are the native ones, auto reset and health
      flags the same; a model it cannot run (solvers other than Newton, RK4, other actuator
      types, ...: simt.check_model) raises ValueError
      at construction naming it; workspace and layout "world" only).
    auto_reset: after each step, reset worlds with a health flag of `reset_on`, in place on
      the device (state only: their derived quantities are recomputed by the next
      step/forward); `sim.last_reset_flags` keeps the flags that caused each world's last
      one. A world whose reset state is itself non-finite (a NaN/Inf in its parameter bank
      row) is flagged PARKED instead and left alone until an explicit `sim.reset`.
    reset_on: the Health bits that trigger an auto reset (default NONFINITE | VELOCITY_BOUND;
      CONTACT_OVERFLOW and SOLVER_NOT_CONVERGED are flagged and counted only unless added).
    max_qvel: velocity bound (rad/s or m/s, > 0) beyond which a world is flagged VELOCITY_BOUND.
    nbank: size of the per-world parameter banks (Model.body_mass etc.). None keeps the
      model's; `nbank=nworld` gives every world its own parameters (domain randomisation).
    graph: on CUDA, capture one step into a CUDA graph on first use and replay it
      (`capture()`); a no-op on the CPU.
    nconmax: contact capacity per world (default: every candidate pair's worst case).
    sensors: "evaluate" (default) computes every sensor of the model into `sim.sensordata`
      as MuJoCo does (a sensor type pywarp_sim does not evaluate raises UnsupportedModelError
      naming it); "skip" loads the model without sensors (empty sensordata) and warns. Applies
      when `model` is a path / XML / name, or a Model built with another setting.
    workspace: "world" (default) keeps every derived and solver array per world; "thread"
      (backend="native") holds a step's intermediate results (com-frame dynamics quantities,
      joint frames, mass-matrix factors, constraint rows, integrator scratch: the fields of
      role workspace in types.py) per thread instead, 8 rows per OpenMP thread or one
      per resident CUDA thread, so memory per world is the state, the contacts, poses,
      velocities and forces (trajectories are bit-identical; sim.<workspace field> raises).
      "group" (backend="simt" or "native") is the fused lane-group step's memory mode: every
      array a step derives (types.GROUP_SLOT_ROLES: poses, contacts, rows, forces, scratch) is
      held per resident group slot (CPU: 8 rows per OpenMP thread; CUDA: one per lane group of
      the persistent launch, simt.cuda_group_slots), a world keeps only its state, health
      flags and the arrays named in `keep`; backend="simt" steps it with Simulator.step,
      backend="native" with pywarp_sim.simt.step(sim) (trajectories bit-identical to
      workspace="world"); forward raises (and native's step), and sim.<array not kept> raises
      naming the fix.
    keep: with workspace="group", paths of derived arrays kept per world (written by every
      step): "xpos", "sensordata", "contact.dist", "efc.efc_force", ...
    group_size: backend="simt"'s lanes per world, 8, 16 or 32 (default simt.DEFAULT_GROUP_SIZE,
      8: the best lane efficiency measured); the step's pointer tables are built once
      (simt.plan(sim), whose `builds` counts them), so a step is one native call.
    layout: "world" (default) stores every per-world array world-major; "tiled"
      (backend="native", workspace="world") stores the workspace arrays in tiles of 32 worlds,
      [tile][scalar][lane] (types.LAYOUTS), so that a GPU warp's same-field access coalesces;
      the step then runs staged (native_backend.set_staging). Trajectories are bit-identical;
      the state, derived quantities and banks keep their (nworld, ...) views, and
      sim.<workspace field> raises (native_backend.world_major(sim, name) returns a copy).

  Before allocating, the memory the batch needs is estimated (bytes per world x nworld) and a
  request that cannot fit the device raises MemoryError naming both. A Simulator is not
  thread-safe: calling step/forward/reset from a second thread while one runs raises
  RuntimeError (use one Simulator per thread). Data fields are zero-copy views: assigning
  `sim.qfrc_applied = t` raises (write in place: `sim.qfrc_applied[:] = t`).
  """

  def __init__(self, model, nworld: int = 1, device=None, backend: str = "auto",
               auto_reset: bool = False, max_qvel: float = 1e4, nbank: int | None = None,
               graph: bool = False, nconmax: int | None = None, workspace: str = "world",
               reset_on: int = DEFAULT_RESET_ON, sensors: str = "evaluate", layout: str = "world",
               keep: tuple = (), group_size: int | None = None):
    from . import io
    io.check_sensors_mode(sensors)
    io.check_layout(layout)
    check_count("nworld", nworld)
    nworld = int(nworld)  # a numpy integer is a valid count, but Warp's shapes need an int
    check_count("nbank", nbank, allow_none=True)
    check_count("nconmax", nconmax, allow_none=True)
    max_qvel = _check_max_qvel(max_qvel)
    reset_on = _check_reset_on(reset_on)
    if backend not in BACKENDS:
      raise ValueError(f"backend must be one of {BACKENDS}, got '{backend}'")
    group_size = _check_group_size(group_size, backend, workspace, layout)
    if workspace not in _WORKSPACES:
      raise ValueError(f"workspace must be one of {_WORKSPACES}, got '{workspace}'")
    keep = _check_keep(keep, workspace)
    if workspace == "group" and backend not in ("native", "simt"):
      raise ValueError(f"workspace='group' (the lane-group step's per-group-slot workspace) needs "
                       f"backend='simt' (stepped by Simulator.step) or backend='native' (stepped by "
                       f"pywarp_sim.simt.step), got backend={backend!r}")
    if layout == "tiled" and workspace == "group":
      io.check_layout(layout, workspace_rows=1)  # ValueError: nothing per world to tile
    if workspace == "thread" and backend == "warp":
      raise ValueError("workspace='thread' (solver workspace held per thread) needs backend='native': "
                       "the Warp backend's kernels index every array by world; use workspace='world'")
    if layout == "tiled" and workspace == "thread":
      io.check_layout(layout, workspace_rows=1)  # ValueError: nothing per world to tile
    if layout == "tiled" and backend == "warp":
      raise ValueError("layout='tiled' (workspace arrays in tiles of worlds) needs backend='native': the "
                       "Warp backend's kernels index every array by world; use layout='world'")
    if backend in ("native", "simt"):
      from . import native_backend
      native_backend.require(device)  # RuntimeError naming why (not built, no CUDA)
    self.device = wp.get_device(device)
    if not isinstance(model, Model):
      model = io.load_model(model, device=self.device, nbank=nbank or 1, nconmax=nconmax, sensors=sensors)
    elif (wp.get_device(model.device) != self.device or (nbank is not None and model.nbank != nbank)
          or (nconmax is not None and model.collision.nconmax != nconmax)
          or (sensors == "skip") != (model.nsensor == 0 and model.mj_model.nsensor > 0)):
      model = put_model(model.mj_model, self.device, nbank or model.nbank,
                        nconmax if nconmax is not None else model.collision.nconmax, sensors=sensors)
    backend, reason = _choose_backend(backend, self.device, model)
    if backend in ("native", "simt"):
      _native_backend().check_model(model)  # before any state is allocated
    if backend == "simt":
      _check_simt_model(model)
    if workspace == "thread" and backend != "native":
      raise ValueError(f"workspace='thread' needs the native backend, which cannot run here ({reason}); "
                       f"use workspace='world'")
    if layout == "tiled" and backend != "native":
      raise ValueError(f"layout='tiled' needs the native backend, which cannot run here ({reason}); "
                       f"use layout='world'")
    sets = object.__setattr__  # __setattr__ guards the Data field names, not these
    sets(self, "backend_reason", reason)
    sets(self, "model", model)
    sets(self, "backend", backend)
    sets(self, "auto_reset", _check_flag("auto_reset", auto_reset))
    sets(self, "reset_on", reset_on)
    sets(self, "max_qvel", max_qvel)
    sets(self, "graph", _check_flag("graph", graph))
    sets(self, "_graphs", {})  # auto_reset -> captured wp.Graph (CUDA only)
    sets(self, "workspace", workspace)
    sets(self, "keep", keep)
    sets(self, "layout", layout)
    sets(self, "group_size", group_size)
    sets(self, "_busy", threading.Lock())
    if workspace == "group" and self.device.is_cuda:  # a slot per group of the persistent launch
      from . import simt
      rows = simt.cuda_group_slots(self.device, model, nworld)
    else:
      rows = _native_backend().workspace_rows(self.device, model) if workspace != "world" else None
    roles = GROUP_SLOT_ROLES if workspace == "group" else frozenset({Role.WORKSPACE})
    check_memory(model, nworld, self.device, rows, layout, roles, keep)
    with wp.ScopedDevice(self.device):
      sets(self, "data", make_data(model, nworld, self.device, workspace_rows=rows, layout=layout,
                                   workspace_roles=roles, keep=keep))
      sets(self, "_health", wp.zeros(nworld, dtype=int))
      sets(self, "_mask", wp.zeros(nworld, dtype=int))
      sets(self, "_last_reset", wp.zeros(nworld, dtype=int))
      sets(self, "_counters", wp.zeros(len(COUNTERS), dtype=int))
    sets(self, "_banks", [_scalar_rows(a) for a in model.banks().values()])
    sets(self, "_views", {})
    if backend == "simt":
      self._simt_plan_for("build")  # the step's tables, once; the C++ side's refusals
    if workspace != "group":  # nothing derived is held per world there (the first step computes it)
      self.forward()

  # Simulator settings a user may change between steps; everything else is fixed or a view.
  _SETTABLE = frozenset({"auto_reset", "reset_on", "max_qvel", "graph"})

  def __setattr__(self, name, value):
    data = self.__dict__.get("data")
    if data is not None and isinstance(getattr(data, name, None), wp.array):
      raise AttributeError(
        f"sim.{name} is a zero-copy view of the simulator's state and cannot be replaced; "
        f"write into it in place: sim.{name}[:] = value (or sim.{name}.copy_(value))")
    if name == "max_qvel":
      value = _check_max_qvel(value)
    elif name in ("auto_reset", "graph"):
      value = _check_flag(name, value)
    elif name == "reset_on":
      value = _check_reset_on(value)
    elif name not in self._SETTABLE and not name.startswith("_") and name in self.__dict__:
      raise AttributeError(f"sim.{name} is fixed at construction; build a new Simulator to change it")
    object.__setattr__(self, name, value)

  @contextlib.contextmanager
  def _exclusive(self, what: str):
    """One call at a time: a second thread entering step/forward/reset raises instead of
    corrupting the state (the check costs one non-blocking lock acquire)."""
    if not self._busy.acquire(blocking=False):
      raise RuntimeError(f"Simulator.{what} called while another thread is inside step/forward/"
                         f"reset of the same Simulator; a Simulator is not thread-safe: use one "
                         f"per thread, or serialise the calls with a lock")
    try:
      yield
    finally:
      self._busy.release()

  # ---- sizes -------------------------------------------------------------
  @property
  def nworld(self) -> int:
    return self.data.nworld

  @property
  def torch_device(self) -> torch.device:
    """The torch device of every view (cpu or cuda:N)."""
    return torch.device(wp.device_to_torch(self.device))

  # ---- zero-copy torch views -----------------------------------------------
  def _view(self, name: str, width: int = -1) -> torch.Tensor:
    if name not in self._views:
      self._check_kept(name)
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
      if self.__dict__.get("workspace") == "thread" and name in _WORKSPACE_ARRAYS:
        raise AttributeError(f"sim.{name} is solver workspace held per thread with workspace='thread' "
                             f"(it describes no particular world); build the Simulator with "
                             f"workspace='world' to read it per world")
      if self.__dict__.get("layout") == "tiled" and name in _TILED_ARRAYS:
        raise AttributeError(f"sim.{name} is stored in tiles of worlds with layout='tiled' ([tile][scalar]"
                             f"[lane]: no (nworld, ...) view of it exists); read a world-major copy with "
                             f"pywarp_sim.native_backend.world_major(sim, '{name}'), or build the "
                             f"Simulator with layout='world'")
      return self._view(name)
    if name == "ncon":  # the property's AttributeError (workspace="group", contacts not kept) lands here
      self._check_kept("contact.ncon")
    raise AttributeError(f"Simulator has no attribute '{name}'")

  def __dir__(self):
    """The attributes, and the Data arrays served as views (tab completion): all of them with
    workspace="world", all but the per-thread workspace with workspace="thread" and the tiled
    workspace with layout="tiled"."""
    hidden = (_WORKSPACE_ARRAYS if self.__dict__.get("workspace") == "thread" else
              _GROUP_SLOT_ARRAYS - set(self.__dict__.get("keep", ())) if self.__dict__.get("workspace") == "group" else
              _TILED_ARRAYS if self.__dict__.get("layout") == "tiled" else ())
    return sorted(set(super().__dir__()) | {name for name in _DATA_ARRAYS if name not in hidden})

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
    """(nworld, nu) actuator controls; write into it (sim.ctrl[:] = actions) or use set_ctrl."""
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
  def sensordata(self) -> torch.Tensor:
    """(nworld, nsensordata) sensor values from the last forward/step, MuJoCo's layout and
    units (`sim.sensor(name)` for one sensor's columns; `model.sensor_names`)."""
    return self._view("sensordata", self.model.nsensordata)

  def sensor(self, name: str) -> torch.Tensor:
    """(nworld, dim) view of sensor `name`'s columns of sensordata (e.g. "imu_gyro" -> its 3
    angular velocities), zero-copy: build observations from it."""
    return self.sensordata[:, self.model.sensor_columns(name)]

  @property
  def ncon(self) -> torch.Tensor:
    """(nworld,) int32 contacts of each world from the last forward/step; the contacts
    themselves are in `sim.data.contact` (dist, pos, frame, geom, ... (nworld, nconmax))."""
    if "ncon" not in self._views:
      self._check_kept("contact.ncon")
      self._views["ncon"] = wp.to_torch(self.data.contact.ncon)
    return self._views["ncon"]

  @property
  def health(self) -> torch.Tensor:
    """(nworld,) int32 Health bit flags, 0 = healthy; sticky until the world is reset."""
    if "health" not in self._views:
      self._views["health"] = wp.to_torch(self._health)
    return self._views["health"]

  @property
  def last_reset_flags(self) -> torch.Tensor:
    """(nworld,) int32: the Health flags that caused each world's last auto reset (or
    parking), 0 if it never had one."""
    if "last_reset" not in self._views:
      self._views["last_reset"] = wp.to_torch(self._last_reset)
    return self._views["last_reset"]

  def health_arrays(self) -> dict:
    """The per-world and global Warp arrays a step writes besides Data: health (nworld,),
    last_reset (nworld,), counters (len(Simulator.COUNTERS),) in COUNTERS order. For backends
    and checkpoints; users read `health`, `last_reset_flags` and `counters`."""
    return {"health": self._health, "last_reset": self._last_reset, "counters": self._counters}

  COUNTERS = COUNTERS  # names of sim.counters, in the device array's order

  @property
  def counters(self) -> dict:
    """Device counters read back to the host (this syncs): (world, step) events per health
    flag since construction, and the number of auto resets."""
    c = self._counters.numpy()
    return {name: int(c[i]) for i, name in enumerate(COUNTERS)}

  def to_cupy(self, name: str):
    """A CuPy array sharing the memory of state array `name` (e.g. "qpos"), through DLPack;
    the same as `cupy.from_dlpack(getattr(sim, name))`. Needs CuPy and a CUDA device."""
    try:
      import cupy
    except ImportError as e:
      raise ImportError("Simulator.to_cupy needs CuPy: pip install 'pywarp_sim[cupy]' "
                        "(cupy-cuda12x)") from e
    return cupy.from_dlpack(getattr(self, name))

  def set_ctrl(self, ctrl: torch.Tensor, check_finite: bool = True):
    """Copies `ctrl` (nworld, nu) float32 on the simulator's device into the controls.

    Raises ValueError, naming the problem and the fix, for a wrong type, shape, dtype or
    device, and (check_finite=True, which reads one flag back to the host) for NaN/Inf.
    """
    validate_actions(ctrl, (self.nworld, self.model.nu), self.torch_device, "ctrl",
                     check_finite=check_finite)
    self.ctrl.copy_(ctrl.detach())  # the values only: a policy's autograd graph stays out of sim.ctrl

  # ---- stepping ------------------------------------------------------------
  def _wp_stream(self):
    """The Warp stream wrapping the current torch stream (cached per torch stream)."""
    ts = torch.cuda.current_stream(self.torch_device)
    cache = self.__dict__.setdefault("_wp_streams", {})
    if ts.cuda_stream not in cache:
      cache[ts.cuda_stream] = wp.stream_from_torch(ts)
    return cache[ts.cuda_stream]

  def _stream_scope(self):
    """Warp launches go to the current torch stream on CUDA (ordering with torch work)."""
    if self.device.is_cuda:
      return wp.ScopedStream(self._wp_stream())
    return wp.ScopedDevice(self.device)

  def _check_kept(self, path: str):
    """AttributeError naming `path` when workspace="group" holds it per group slot (not kept)."""
    if self.workspace == "group" and path not in self.keep and path in _group_slot_paths():
      raise AttributeError(f"sim.{path.split('.')[-1]} ('{path}') is held per resident group slot with "
                           f"workspace='group' (the lane-group step's transient workspace: its rows are no "
                           f"world's); keep it per world with Simulator(..., workspace='group', "
                           f"keep=('{path}',)), or build the Simulator with workspace='world'")

  def _check_steppable(self, what: str):
    if self.workspace == "group" and not (what == "step" and self.backend == "simt"):
      raise RuntimeError(f"Simulator.{what} runs the per-world native pipeline; with workspace='group' the "
                         f"worlds hold no derived arrays and are stepped by the fused lane-group step, whose "
                         f"transient workspace is held per group slot: Simulator(backend='simt', "
                         f"workspace='group').step or pywarp_sim.simt.step(sim) (forward has no such form: "
                         f"keep the arrays you read with keep=, or use workspace='world')")

  def forward(self):
    """Recomputes every derived quantity and qacc from the state (mj_forward; backend="simt":
    the native forward over the same arrays)."""
    self._check_steppable("forward")
    with self._exclusive("forward"):
      if self.backend in ("native", "simt"):
        return _native_backend().forward(self)
      with self._stream_scope():
        _forward.forward(self.model, self.data)

  def _simt_plan_for(self, what: str):
    """The lane-group step's LaunchPlan (pywarp_sim.simt.plan), its refusals named for backend="simt"."""
    from . import simt
    try:
      return simt.plan(self)
    except ValueError as e:
      raise ValueError(f"Simulator(backend='simt') cannot {what} the fused lane-group step for this model: {e} "
                       f"(or use backend='native')") from None

  def _step_once(self):
    if self.backend == "native":
      return _native_backend().step(self, 1)
    if self.backend == "simt":
      return self._simt_plan_for("run").step(self, 1, group_size=self.group_size)
    m, d = self.model, self.data
    _forward.step(m, d)
    c, e = d.contact, d.efc
    wp.launch(_health, dim=d.nworld, inputs=[
      m.nq, m.nv, m.nu, m.na, self.max_qvel, d.qpos, d.qvel, d.qacc, d.ctrl, d.act,
      c.overflow, e.nefc, e.converged,
    ], outputs=[self._health, self._counters], device=d.qpos.device)
    if self.auto_reset:
      wp.launch(_mask_from_health, dim=d.nworld, inputs=[*self._banks, m.qpos0, int(self.reset_on)],
                outputs=[self._health, self._mask, self._last_reset, self._counters],
                device=d.qpos.device)
      self._reset_state_masked()

  def capture(self):
    """Captures one step (physics, health, auto-reset) into a CUDA graph on the current
    torch stream; `step` replays it from then on. A no-op on the CPU. Recaptured when
    `auto_reset` changes. Returns the wp.Graph (None on the CPU)."""
    self.graph = True
    if not self.device.is_cuda:
      return None
    key = bool(self.auto_reset)
    if self.backend == "simt":  # its graph holds the plan's device buffer and settings: one per build and setting
      plan = self._simt_plan_for("capture")
      plan.check_capturable()
      key = (key, plan.builds, int(self.reset_on), float(self.max_qvel))
    if key not in self._graphs:
      with self._capture_stream_scope():
        stream = self._wp_stream()
        with wp.ScopedStream(stream):
          # force_module_load compiles/loads every kernel first: capture must not load modules
          with wp.ScopedCapture(device=self.device, stream=stream, force_module_load=True) as cap:
            self._step_once()
      self._graphs[key] = cap.graph
    return self._graphs[key]

  def _capture_stream_scope(self):
    """CUDA cannot capture the legacy default stream (torch's current stream unless the
    caller set another): then the graph is recorded on a side stream of the Simulator, made
    torch's current stream for the capture so that torch work and native launches inside the
    step are recorded too. Capture executes nothing, and the graph is replayed on whatever
    stream is current at `step`, in order with the work queued there."""
    if torch.cuda.current_stream(self.torch_device).cuda_stream != 0:
      return contextlib.nullcontext()
    side = self.__dict__.get("_capture_side_stream")
    if side is None:
      side = self._capture_side_stream = torch.cuda.Stream(self.torch_device)
    return torch.cuda.stream(side)

  def step(self, nsteps: int = 1):
    """Advances every world by nsteps * timestep (mj_step), checking health after each.
    nsteps: an int >= 0 (0 does nothing).

    No host syncs: with graph=True on CUDA each step is one graph replay."""
    check_count("nsteps", nsteps, minimum=0)
    self._check_steppable("step")
    if self.backend in ("native", "simt") and nsteps > _NATIVE_MAX_NSTEPS:
      raise ValueError(f"nsteps must be <= {_NATIVE_MAX_NSTEPS} per call with backend='{self.backend}' (the "
                       f"fused step counts steps in a C int), got {nsteps}; call step in chunks")
    with self._exclusive("step"):
      self._step(int(nsteps))

  def _step(self, nsteps: int):
    if nsteps == 0:
      return
    if self.backend == "native" and not (self.graph and self.device.is_cuda):
      return _native_backend().step(self, nsteps)  # one fused call for all nsteps
    if self.backend == "simt" and not (self.graph and self.device.is_cuda):
      return self._simt_plan_for("run").step(self, nsteps, group_size=self.group_size)  # one native call
    if self.graph and self.device.is_cuda:
      graph = self.capture()
      stream = self._wp_stream()
      for _ in range(nsteps):
        wp.capture_launch(graph, stream=stream)
      return
    with self._stream_scope():
      for _ in range(nsteps):
        self._step_once()

  def reset(self, worlds=None, recompute: bool = True):
    """Resets worlds to the model's reference state (qpos0, zero velocity, controls,
    activations, applied forces, warm start, contacts) and clears their health flags.

    worlds: None (all), a bool mask of shape (nworld,) (on any device; a mask on the
      simulator's device needs no host sync), or an index tensor/list (may be empty).
    recompute: run forward afterwards so the derived quantities (kinematics, contacts,
      qacc, ...) match the new state. Forward runs for every world, which leaves the
      others' state and future trajectory unchanged. With False only the state is reset;
      the next step recomputes everything.
    """
    recompute = _check_flag("recompute", recompute)
    with self._exclusive("reset"):
      mask = self._reset_mask(worlds)
      with self._stream_scope():
        wp.to_torch(self._mask).copy_(mask.to(self.torch_device, non_blocking=True))
        self._reset_state_masked()
    if recompute and self.workspace != "group":  # group: nothing derived per world (the next step's)
      self.forward()

  def _reset_mask(self, worlds) -> torch.Tensor:
    """(nworld,) int32 mask of the worlds to reset; ValueError naming the problem."""
    n = self.nworld
    if worlds is None:
      mask = torch.ones(n, dtype=torch.int32, device=self.torch_device)
    else:
      if isinstance(worlds, (list, tuple)) and len(worlds) == 0:
        worlds = torch.zeros(0, dtype=torch.int64)
      try:
        w = torch.as_tensor(worlds)
      except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"reset worlds must be None, a bool mask ({n},) or integer indices; "
                         f"got {type(worlds).__name__}: {e}") from None
      if w.device.type == "meta":
        raise ValueError("reset worlds is a tensor on the meta device (it holds no values); pass "
                         f"indices or a bool mask on the CPU or {self.torch_device}")
      if w.dtype == torch.bool:
        if w.shape != (n,):
          raise ValueError(f"reset mask must have shape ({n},), got {tuple(w.shape)}")
        mask = w.to(torch.int32)
      else:
        if w.dtype not in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8) or w.ndim != 1:
          raise ValueError(f"reset worlds must be a bool mask ({n},) or a 1-D integer index tensor, "
                           f"got dtype {w.dtype} with shape {tuple(w.shape)}")
        if w.numel() and (int(w.min()) < 0 or int(w.max()) >= n):
          raise ValueError(f"reset world index out of range [0, {n})")
        mask = torch.zeros(n, dtype=torch.int32, device=w.device)
        mask[w.long()] = 1
    return mask

  def _reset_state_masked(self):
    if self.backend in ("native", "simt"):  # reset_world, the function its step's auto reset runs
      _native_backend().reset(self, self._mask)
      return
    m, d = self.model, self.data
    # a per-thread workspace is not indexed by world (and the native step writes efc_jv /
    # efc_jar before reading them): nothing of it to clear
    nscratch = d.efc.efc_jv.shape[1] if self.workspace == "world" else 0
    wp.launch(_reset_worlds, dim=d.nworld, inputs=[m.nq, m.nv, m.neq, m.qpos0, m.eq_active0, self._mask,
                                                   nscratch], outputs=[
      d.time, d.qpos, d.qvel, d.act, d.act_dot, d.ctrl, d.qacc, d.qacc_warmstart, d.qfrc_applied,
      d.xfrc_applied, d.contact.ncon, d.contact.overflow, d.efc.nefc, d.efc.efc_jv, d.efc.efc_jar,
      d.eq_active, self._health], device=d.qpos.device)


def _native_backend():
  from . import native_backend
  return native_backend


def _choose_backend(backend: str, device, model: Model) -> tuple:
  """(backend, reason): the one place "auto" is resolved. Native where its module runs on the
  device and the model needs nothing it lacks, else Warp, with the reason."""
  if backend != "auto":
    return backend, f"backend={backend!r} was asked for"
  nb = _native_backend()
  try:
    nb.require(device)
    nb.check_model(model)
  except RuntimeError as e:
    return "warp", f"auto: the Warp backend, because {e}"
  return "native", "auto: the native backend is built for this device and supports the model"


def _check_group_size(group_size, backend: str, workspace: str, layout: str) -> int | None:
  """Simulator(group_size=) for backend="simt" (default simt.DEFAULT_GROUP_SIZE); None otherwise.
  ValueError naming the setting and the fix."""
  from . import simt
  if backend != "simt":
    if group_size is not None:
      raise ValueError(f"group_size={group_size!r} sets the lanes per world of backend='simt' (the fused "
                       f"lane-group step); this Simulator has backend={backend!r}: drop group_size or use "
                       f"backend='simt'")
    return None
  if group_size is None:
    group_size = simt.DEFAULT_GROUP_SIZE
  if isinstance(group_size, (bool, np.bool_)) or group_size not in simt.GROUP_SIZES:
    raise ValueError(f"group_size must be one of {simt.GROUP_SIZES} (lanes per world of backend='simt'), "
                     f"got {group_size!r}")
  if workspace not in ("world", "group") or layout != "world":
    raise ValueError(f"backend='simt' steps world-major arrays with its workspace per world or per group "
                     f"slot (workspace='world' or 'group', layout='world'); got workspace={workspace!r}, "
                     f"layout={layout!r}: use those, or backend='native'")
  return int(group_size)


def _check_simt_model(model: Model) -> None:
  """ValueError naming what the fused lane-group step cannot run in `model`, before allocating."""
  from . import simt
  try:
    simt.check_model(model)
  except ValueError as e:
    raise ValueError(f"Simulator(backend='simt') cannot run the fused lane-group step for this model: {e} "
                     f"(or use backend='native')") from None


def _check_flag(name: str, value) -> bool:
  """A bool setting (True/False, numpy bools too); ValueError naming it otherwise."""
  if not isinstance(value, (bool, np.bool_)):
    raise ValueError(f"{name} must be True or False, got {value!r}")
  return bool(value)


def _check_max_qvel(value) -> float:
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
    raise ValueError(f"max_qvel must be a number > 0 (rad/s or m/s), got {value!r}")
  v = float(value)
  if not v > 0 or math.isnan(v):
    raise ValueError(f"max_qvel must be > 0 (rad/s or m/s; inf disables the bound), got {value!r}")
  return v


def _check_reset_on(value) -> Health:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise ValueError(f"reset_on must be Health flags (e.g. Health.NONFINITE | Health.VELOCITY_BOUND), "
                     f"got {value!r}")
  if int(value) & ~int(_CHECKED) or int(value) == 0:
    raise ValueError(f"reset_on must be a non-empty combination of {[h.name for h in _CHECKED]}, got "
                     f"{int(value)}; to turn resets off use auto_reset=False")
  return Health(int(value))


def _available_bytes(device) -> int | None:
  """Memory the allocation can use: free device memory on CUDA, MemAvailable on the CPU."""
  if device.is_cuda:
    free, _ = torch.cuda.mem_get_info(device.ordinal)
    return int(free)
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  try:
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
  except (ValueError, OSError, AttributeError):
    return None


def check_memory(model: Model, nworld: int, device, workspace_rows: int | None = None,
                 layout: str = "world", workspace_roles: frozenset = frozenset({Role.WORKSPACE}),
                 keep: frozenset = frozenset()) -> int:
  """Raises MemoryError before allocating when nworld worlds of `model` cannot fit the memory
  available on `device`; returns the estimated bytes."""
  need = data_nbytes(model, nworld, workspace_rows, layout, workspace_roles, keep)
  have = _available_bytes(device)
  if have is not None and need > have:
    per_world = (data_nbytes(model, 2, workspace_rows, "world", workspace_roles, keep)
                 - data_nbytes(model, 1, workspace_rows, "world", workspace_roles, keep))
    gib = 1 << 30
    raise MemoryError(
      f"Simulator(nworld={nworld:,}) needs about {need / gib:.2f} GiB on {device} ({per_world:,} bytes "
      f"per world), but only {have / gib:.2f} GiB is available; use fewer worlds (at most about "
      f"{have // max(per_world, 1):,}), a smaller contact capacity (nconmax=...), or "
      f"workspace='thread' with backend='native'")
  return need


def _check_keep(keep, workspace: str) -> frozenset:
  """keep= as a frozenset of Data paths held per resident group slot with workspace="group";
  ValueError naming the path and the choices."""
  if isinstance(keep, str):
    keep = (keep,)
  keep = frozenset(keep)
  if keep and workspace != "group":
    raise ValueError(f"keep={sorted(keep)} names arrays kept per world with workspace='group'; this "
                     f"Simulator has workspace={workspace!r}, where every derived array is per world already")
  choices = _group_slot_paths()
  unknown = sorted(keep - choices)
  if unknown:
    raise ValueError(f"keep names {unknown}, which are not arrays held per group slot with workspace='group'; "
                     f"choose among {sorted(choices)}")
  return keep


def _group_slot_paths() -> frozenset:
  """Paths of the Data arrays held per group slot with workspace="group" ("xpos", "contact.dist")."""
  def walk(fields, prefix):
    for f in fields:
      if f.role == Role.GROUP:
        yield from walk(f.fields, f"{prefix}{f.name}.")
      elif f.role in GROUP_SLOT_ROLES and not f.alias:
        yield prefix + f.name
  return frozenset(walk(DATA_FIELDS, ""))


def validate_actions(x, shape: tuple, device: torch.device, what: str = "actions",
                     check_finite: bool = True):
  """Raises ValueError naming the problem and the fix unless `x` is a float32 torch tensor of
  `shape` on `device` with (check_finite) only finite values."""
  if not isinstance(x, torch.Tensor):
    raise ValueError(f"{what} must be a torch.Tensor of shape {tuple(shape)}, dtype float32 on "
                     f"{device}; got {type(x).__name__}. Convert with torch.as_tensor(x, "
                     f"dtype=torch.float32, device='{device}')")
  if tuple(x.shape) != tuple(shape):
    raise ValueError(f"{what} has shape {tuple(x.shape)}, expected {tuple(shape)} "
                     f"(num worlds, num actuators); reshape it or build the simulator/env with "
                     f"{shape[0]} worlds")
  if x.dtype != torch.float32:
    raise ValueError(f"{what} has dtype {x.dtype}, expected torch.float32; convert with "
                     f"{what}.float()")
  if x.device != device and not (x.device.type == device.type == "cuda" and device.index is None):
    raise ValueError(f"{what} is on device {x.device}, the simulation is on {device}; move it "
                     f"with {what}.to('{device}')")
  if check_finite and not bool(torch.isfinite(x).all()):
    bad = (~torch.isfinite(x)).any(dim=-1).nonzero().flatten().tolist()
    raise ValueError(f"{what} contain NaN/Inf in worlds {bad[:10]}{'...' if len(bad) > 10 else ''}; "
                     f"the policy or controller produced non-finite values: fix it or sanitise "
                     f"with torch.nan_to_num before stepping")
