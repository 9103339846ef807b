"""Native (C++/OpenMP and CUDA) kernels compiled from ``kernels/*.h``.

Two extension modules are built by CMake (see CMakeLists.txt):

* ``pywarp_sim._native`` — CPU, OpenMP over worlds. Always built.
* ``pywarp_sim._native_cuda`` — CUDA, one thread per world. Built when a CUDA
  compiler is found at build time (``-DPWS_CUDA=AUTO|ON|OFF``).

Either may be missing (not built, or failed to import); :func:`available` and
:func:`unavailable_reason` say which and why, and every entry point raises a
``RuntimeError`` carrying that reason instead of falling back silently.

Shapes and units (MuJoCo's conventions; world axis first):

* ``jnt_type``, ``jnt_qposadr``, ``jnt_dofadr``: int32 ``(njnt,)``, as in
  ``MjModel``. Joint type codes: free=0, ball=1, slide=2, hinge=3.
* ``qpos``: float32 ``(nworld, nq)``. Free joint: position [m] then unit
  quaternion (w, x, y, z); ball: quaternion; hinge [rad]; slide [m].
* ``qvel``: same dtype as ``qpos``, ``(nworld, nv)``. Free joint: linear
  velocity [m/s] in the world frame, then angular velocity [rad/s] in the
  body's local frame; ball: local angular velocity [rad/s]; hinge [rad/s];
  slide [m/s].
* ``dt``: time step [s].

float64 ``qpos``/``qvel`` are also accepted on the CPU (used to check the
kernels against MuJoCo C to round-off).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np


def _import_extension(name: str):
  """(module, error text, built) for pywarp_sim.<name>; built=False when the file does not exist."""
  full_name = f"{__package__}.{name}"
  try:
    return importlib.import_module(full_name), "", True
  except ImportError as exc:  # not built, built for another Python/ABI, or a missing shared library
    built = not (isinstance(exc, ModuleNotFoundError) and exc.name == full_name)
    return None, f"{type(exc).__name__}: {exc}", built


_native, _native_error, _native_built = _import_extension("_native")
_native_cuda, _native_cuda_error, _native_cuda_built = _import_extension("_native_cuda")

__all__ = [
  "module",
  "available",
  "unavailable_reason",
  "integrate_pos",
  "integrate_pos_cuda",
  "has_openmp",
  "openmp_max_threads",
]

_REBUILD_HINT = "rebuild with `make venv` (or `pip install --no-build-isolation -e .`)"


def _is_cuda_device(device: Any) -> bool:
  name = str(device)
  return name == "cuda" or name.startswith("cuda:")


def unavailable_reason(device: Any = "cpu") -> str:
  """Why the native backend cannot run on ``device`` ("cpu", "cuda", "cuda:N");
  an empty string when it can."""
  if _is_cuda_device(device):
    if _native_cuda is None:
      if not _native_cuda_built:
        return (
          "pywarp_sim._native_cuda was not built (built with -DPWS_CUDA=OFF, or no "
          f"CUDA compiler was found at build time); {_REBUILD_HINT} on a machine with nvcc "
          f"[{_native_cuda_error}]"
        )
      return f"pywarp_sim._native_cuda failed to import: {_native_cuda_error}"
    try:
      count = _native_cuda.device_count()
    except RuntimeError as exc:
      return f"pywarp_sim._native_cuda is built but CUDA is not usable: {exc}"
    if count == 0:
      return "pywarp_sim._native_cuda is built but no CUDA device is visible"
    name = str(device)
    if name.startswith("cuda:"):
      index = int(name.split(":", 1)[1])
      if index >= count:
        return f"device {name} does not exist: {count} CUDA device(s) visible"
    return ""
  if str(device) != "cpu":
    return f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'"
  if _native is None:
    if not _native_built:
      return f"pywarp_sim._native was not built; {_REBUILD_HINT} [{_native_error}]"
    return f"pywarp_sim._native failed to import: {_native_error}"
  return ""


def module(device: Any = "cpu"):
  """The loaded extension module for `device` ("cpu": _native, "cuda"/"cuda:N": _native_cuda),
  or None when it is not built or failed to import (`unavailable_reason` says why)."""
  return _native_cuda if _is_cuda_device(device) else _native


def available(device: Any = "cpu") -> bool:
  """True when the native kernels can run on ``device`` ("cpu", "cuda", "cuda:N")."""
  return unavailable_reason(device) == ""


def _require(device: str) -> None:
  reason = unavailable_reason(device)
  if reason:
    raise RuntimeError(f"native backend unavailable on {device}: {reason}")


def _torch_tensor_type():
  # torch is only imported by the caller; if it is not loaded, nothing here is a tensor.
  torch = sys.modules.get("torch")
  return None if torch is None else torch.Tensor


def _as_numpy(x: Any, name: str) -> Any:
  """CPU torch tensor -> numpy view of the same memory; anything else unchanged."""
  tensor_type = _torch_tensor_type()
  if tensor_type is not None and isinstance(x, tensor_type):
    if x.device.type != "cpu":
      raise ValueError(
        f"{name} is on {x.device}; integrate_pos takes CPU arrays, "
        "use integrate_pos_cuda for CUDA tensors"
      )
    return x.detach().numpy()
  return x


def _joint_table(x: Any, name: str) -> np.ndarray:
  # Read-only tables: converting (e.g. int64 from MjModel) is safe, values are checked natively.
  x = _as_numpy(x, name)
  arr = np.asarray(x)
  if arr.dtype.kind not in "iu":
    raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
  return np.ascontiguousarray(arr, dtype=np.int32)


def integrate_pos(jnt_type, jnt_qposadr, jnt_dofadr, qpos, qvel, dt: float, num_threads: int = 0) -> None:
  """MuJoCo's ``mj_integratePos`` for every world, in place, on the CPU (OpenMP).

  qpos: float32 ``(nworld, nq)`` numpy array or CPU torch tensor, C-contiguous;
    overwritten with the integrated positions.
  qvel: ``(nworld, nv)``, same dtype and kind as qpos.
  jnt_type, jnt_qposadr, jnt_dofadr: ``(njnt,)`` integer arrays (e.g. ``MjModel.jnt_type``).
  dt: time step [s]. num_threads: OpenMP threads, 0 = OpenMP's default.

  Raises ValueError (naming the argument) for a wrong dtype, shape or layout, and
  RuntimeError when ``pywarp_sim._native`` is not built.
  """
  _require("cpu")
  _native.integrate_pos(
    _joint_table(jnt_type, "jnt_type"),
    _joint_table(jnt_qposadr, "jnt_qposadr"),
    _joint_table(jnt_dofadr, "jnt_dofadr"),
    _as_numpy(qpos, "qpos"),
    _as_numpy(qvel, "qvel"),
    float(dt),
    int(num_threads),
  )


def integrate_pos_cuda(jnt_type, jnt_qposadr, jnt_dofadr, qpos, qvel, dt: float, stream: int | None = None) -> None:
  """``mj_integratePos`` for every world on the GPU, in place, asynchronously.

  All arguments are CUDA torch tensors on the same device: joint tables int32
  ``(njnt,)``; qpos float32 ``(nworld, nq)`` (overwritten); qvel float32
  ``(nworld, nv)``; all C-contiguous. Nothing is copied or allocated.
  stream: a ``cudaStream_t`` as int; default torch's current stream on qpos's device.

  Shapes and dtypes are checked here; the joint-table *values* are not (that would
  need a device-to-host copy): they must come from a compiled MjModel, e.g. via
  ``integrate_pos`` on the CPU once, which range-checks them.
  """
  import torch

  device = qpos.device if isinstance(qpos, torch.Tensor) else "cpu"
  _require(str(device))
  tensors = {
    "jnt_type": (jnt_type, torch.int32, 1),
    "jnt_qposadr": (jnt_qposadr, torch.int32, 1),
    "jnt_dofadr": (jnt_dofadr, torch.int32, 1),
    "qpos": (qpos, torch.float32, 2),
    "qvel": (qvel, torch.float32, 2),
  }
  for name, (t, dtype, ndim) in tensors.items():
    if not isinstance(t, torch.Tensor) or t.device != device:
      where = t.device if isinstance(t, torch.Tensor) else type(t).__name__
      raise ValueError(f"{name} must be a torch tensor on {device}, got {where}")
    if t.dtype != dtype:
      raise ValueError(f"{name} must have dtype {dtype}, got {t.dtype}")
    if t.dim() != ndim or not t.is_contiguous():
      raise ValueError(f"{name} must be a C-contiguous {ndim}-D tensor, got shape {tuple(t.shape)}")
  njnt = jnt_type.shape[0]
  if jnt_qposadr.shape[0] != njnt or jnt_dofadr.shape[0] != njnt:
    raise ValueError(
      f"jnt_qposadr and jnt_dofadr must have shape (njnt,) = ({njnt},) like jnt_type, "
      f"got {tuple(jnt_qposadr.shape)} and {tuple(jnt_dofadr.shape)}"
    )
  nworld, nq = qpos.shape
  if qvel.shape[0] != nworld:
    raise ValueError(f"qvel must have shape (nworld, nv) with nworld = {nworld} as in qpos, got {tuple(qvel.shape)}")
  nv = qvel.shape[1]
  if stream is None:
    stream = torch.cuda.current_stream(device).cuda_stream
  _native_cuda.integrate_pos_cuda(
    njnt,
    jnt_type.data_ptr(),
    jnt_qposadr.data_ptr(),
    jnt_dofadr.data_ptr(),
    qpos.data_ptr(),
    qvel.data_ptr(),
    nworld,
    nq,
    nv,
    float(dt),
    int(stream),
  )


def has_openmp() -> bool:
  """True when ``_native`` was compiled with OpenMP."""
  _require("cpu")
  return bool(_native.has_openmp())


def openmp_max_threads() -> int:
  """Threads a ``num_threads=0`` call uses."""
  _require("cpu")
  return int(_native.openmp_max_threads())

