"""pywarp_sim: batched MuJoCo-semantics humanoid simulation on Warp (CPU and CUDA)."""

import os as _os

import warp as _wp

_cache = _os.environ.get("PWS_KERNEL_CACHE")
if _cache:
  _wp.config.kernel_cache_dir = _cache
if _os.environ.get("PWS_WARP_VERBOSE", "0") == "0":
  _wp.config.quiet = True
  if hasattr(_wp, "LOG_WARNING"):
    _wp.config.log_level = _wp.LOG_WARNING  # no per-module load/compile messages

import mujoco as _mujoco  # noqa: E402

from . import versions as _versions  # noqa: E402

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
