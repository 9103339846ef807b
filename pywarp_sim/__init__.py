"""pywarp_sim: batched MuJoCo-semantics humanoid simulation on Warp (CPU and CUDA)."""

import os as _os

import warp as _wp

from . import versions as _versions  # the oracle check, and cuda_driver_loads before Warp starts

_cache = _os.environ.get("PWS_KERNEL_CACHE")
if _cache:
  _wp.config.kernel_cache_dir = _cache
# Warp's native library prints this from C (fprintf to stderr, warp/native/cuda_util.cpp) when
# it cannot dlopen libcuda; wp.config.quiet and log_level do not reach it.
_NO_CUDA_DRIVER_LINE = ("Warp CUDA warning: Could not find or load the NVIDIA CUDA driver. "
                        "GPU execution will not be available.\n")


def _init_warp_without_the_no_driver_line() -> None:
  """On a Linux machine without an NVIDIA driver: wp.init() now, with file descriptor 2 going
  to a temporary file for the call; whatever else was written to it is written back to stderr.
  Elsewhere (a driver loads: a GPU machine; not Linux) nothing is done, and Warp initialises on
  first use as it always did."""
  import sys
  import tempfile
  if not sys.platform.startswith("linux") or _versions.cuda_driver_loads():
    return
  try:
    sys.stderr.flush()
    saved = _os.dup(2)
  except (OSError, ValueError, AttributeError):
    _wp.init()
    return
  with tempfile.TemporaryFile() as captured:
    _os.dup2(captured.fileno(), 2)
    try:
      _wp.init()
    finally:
      try:
        sys.stderr.flush()  # Python-level writes during the call belong to the capture too
      finally:
        _os.dup2(saved, 2)
        _os.close(saved)
      captured.seek(0)
      rest = captured.read().decode(errors="replace").replace(_NO_CUDA_DRIVER_LINE, "", 1)
      if rest:
        sys.stderr.write(rest)
        sys.stderr.flush()


if _os.environ.get("PWS_WARP_VERBOSE", "0") == "0":
  _wp.config.quiet = True
  if hasattr(_wp, "LOG_WARNING"):
    _wp.config.log_level = _wp.LOG_WARNING  # no per-module load/compile messages
  _init_warp_without_the_no_driver_line()  # after the config above: kernel_cache_dir applies at init

import mujoco as _mujoco  # noqa: E402

_versions.check_mujoco(_mujoco.__version__)

from .errors import UnsupportedModelError  # noqa: E402
from .io import load_model, make_data, put_model  # noqa: E402
from .types import Data, Model  # noqa: E402
from .simulator import Health, Simulator  # noqa: E402

Model.from_mujoco = staticmethod(put_model)

__all__ = ["UnsupportedModelError", "load_model", "make_data", "put_model", "Data", "Model",
           "Health", "Simulator", "envs", "randomize", "checkpoint"]

_LAZY = ("envs", "randomize", "checkpoint")  # imported on first use (pws.envs.make(...))


def __getattr__(name):
  if name in _LAZY:
    import importlib
    return importlib.import_module(f"{__name__}.{name}")
  raise AttributeError(f"module 'pywarp_sim' has no attribute '{name}'")
