"""The MuJoCo release pywarp_sim is measured against (the oracle), and the import-time check.

The pin lives in one place, pyproject.toml (`mujoco==X.Y.Z`); it is read here from the
installed distribution's metadata. `python -m bench conformance --mujoco X.Y.Z` measures how
another release differs (README, "Dependencies").
"""

from __future__ import annotations

import re
import warnings
from importlib import metadata

from .errors import MujocoVersionWarning

# What `python -m bench conformance` measured for releases other than the oracle.
KNOWN_DIFFERENCES = {
  "4.0.1": "its single-shot multicontact for cylinder edges changed (MuJoCo #3748, #3752): "
           "measured over 256 random poses per pair, contact counts differ in 3 cylinder-cylinder "
           "and 4 cylinder-box poses (a cylinder side lying along a face or cap: 4.0.1 keeps one "
           "EPA contact where 4.0.0 and pywarp_sim clip two), and in 1 of 12 self-touching states "
           "of humanoids with cylinder limbs; every other pair type and state agrees",
}


def mujoco_oracle() -> str | None:
  """The MuJoCo version pyproject.toml pins (`mujoco==X`), or None without package metadata
  (a source tree that was not installed)."""
  try:
    requires = metadata.requires("pywarp_sim") or []
  except metadata.PackageNotFoundError:
    return None
  for req in requires:
    m = re.fullmatch(r"mujoco\s*==\s*([0-9][^\s;,]*)\s*(;.*)?", req.strip())
    if m:
      return m.group(1)
  return None


def check_mujoco(installed: str) -> str | None:
  """Warns once (MujocoVersionWarning) when `installed` is not the oracle; returns the
  message, or None when they agree or the oracle is unknown."""
  oracle = mujoco_oracle()
  if oracle is None or installed == oracle:
    return None
  detail = KNOWN_DIFFERENCES.get(installed, "collider details (contact counts and positions "
                                            "of convex pairs) may differ")
  msg = (f"pywarp_sim is measured against MuJoCo {oracle} (the pinned oracle), but MuJoCo "
         f"{installed} is installed: {detail}. `python -m bench conformance --mujoco "
         f"{installed}` measures the differences; `pip install mujoco=={oracle}` restores "
         "the oracle.")
  warnings.warn(msg, MujocoVersionWarning, stacklevel=3)
  return msg


def cuda_driver_loads() -> bool:
  """Whether the NVIDIA driver library (libcuda) loads here, as Warp loads it (same names)."""
  import ctypes
  for name in ("libcuda.so", "libcuda.so.1"):
    try:
      ctypes.CDLL(name)
      return True
    except OSError:
      pass
  return False
