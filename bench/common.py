"""What every benchmark record carries: machine, versions, date, model and controls."""

import datetime
import functools
import importlib.metadata
import json
import os
import pathlib
import platform
import re
import subprocess
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
CONTROL_SEED = 0


def is_cuda(device: str) -> bool:
  return device == "cuda" or device.startswith("cuda:")


@functools.lru_cache(maxsize=None)
def cpu_name() -> str:
  """CPU model from /proc/cpuinfo ('model name'), falling back to platform.processor()."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine() or "unknown CPU"


@functools.lru_cache(maxsize=None)
def device_name(device: str) -> str:
  """Human-readable name of a "cpu" or "cuda:N" device."""
  if not is_cuda(device):
    return cpu_name()
  try:
    import torch
    if torch.cuda.is_available():
      return torch.cuda.get_device_name(torch.device(device))
  except Exception:  # a CPU-only torch build: ask Warp instead
    pass
  try:
    return quiet_warp().get_device(device).name
  except Exception as exc:
    return f"unknown CUDA device ({exc})"


def check_device(device: str) -> str:
  """'' when Warp can use `device`, else why not (checked before a run, not per config)."""
  if device == "cpu":
    return ""
  if not is_cuda(device):
    return f"device must be 'cpu' or 'cuda:N', got '{device}'"
  wp = quiet_warp()
  import pywarp_sim  # noqa: F401  (kernel cache location, before Warp initialises)
  try:
    wp.get_device(device)
  except Exception:
    seen = [d.alias for d in wp.get_devices()]
    return (f"device '{device}' is not available here: Warp sees {seen}"
            f"{' (no CUDA driver)' if not wp.is_cuda_available() else ''}")
  return ""


def slug(text: str) -> str:
  """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3' (safe in file names)."""
  return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def device_slug(device: str) -> str:
  kind = "cuda" if is_cuda(device) else "cpu"
  return f"{kind}-{slug(device_name(device))}"


def now_iso() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def today() -> str:
  return datetime.date.today().isoformat()


def _version(dist: str):
  try:
    return importlib.metadata.version(dist)
  except importlib.metadata.PackageNotFoundError:
    return None


# What decides the numbers: an uncommitted or untracked file here makes the record '+dirty'.
_SOURCE_PATHS = ("pywarp_sim", "csrc", "kernels", "pyproject.toml", "CMakeLists.txt")


@functools.lru_cache(maxsize=None)
def git_state() -> tuple:
  """(commit with '+dirty' when the simulator's sources differ from it, changed files)."""
  try:
    rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True,
                         text=True, timeout=10).stdout.strip()
    if not rev:
      return None, []
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--",
                             *_SOURCE_PATHS], cwd=REPO, capture_output=True, text=True,
                            timeout=10).stdout.splitlines()
    changed = [line[3:] for line in status if line.strip() and not line.endswith(".pyc")]
    return rev + ("+dirty" if changed else ""), changed[:20]
  except (OSError, subprocess.SubprocessError):
    return None, []


def source_hash() -> str:
  """sha1 (12 hex) of the pywarp_sim package sources: equal hashes, same simulator code,
  committed or not (concurrent edits between two runs show up here)."""
  import hashlib
  h = hashlib.sha1()
  root = REPO / "pywarp_sim"
  for path in sorted(root.rglob("*")):
    if path.suffix in (".py", ".xml", ".h") and "__pycache__" not in path.parts:
      h.update(str(path.relative_to(root)).encode())
      h.update(path.read_bytes())
  return h.hexdigest()[:12]


@functools.lru_cache(maxsize=None)
def versions() -> dict:
  return {
    "pywarp_sim": _version("pywarp_sim"),
    "warp": _version("warp-lang"),
    "mujoco": _version("mujoco"),
    "torch": _version("torch"),
    "mujoco_warp": _version("mujoco-warp") or _version("mujoco_warp"),
    "python": platform.python_version(),
    "git": git_state()[0],
    "git_changed": git_state()[1],
    "pywarp_sim_src": source_hash(),
  }


def quiet_warp():
  """Imports Warp with its info messages (init banner, module loads) off: stdout carries
  JSON lines. Newer Warp (1.19) has config.log_level; older versions have config.quiet."""
  import warp as wp
  if hasattr(wp, "LOG_WARNING"):
    wp.config.log_level = wp.LOG_WARNING
  wp.config.quiet = True
  return wp


def pipeline_stages() -> list:
  """The stages pywarp_sim's Warp pipeline runs today, read from which modules exist."""
  import importlib.util
  stages = ["kinematics", "com_pos", "crb", "factor_m", "transmission", "com_vel", "passive", "rne",
            "actuation", "solve_m"]

  def has(module: str, fn: str) -> bool:
    if importlib.util.find_spec(module) is None:
      return False
    return hasattr(importlib.import_module(module), fn)

  if has("pywarp_sim.collision_driver", "collision"):
    stages.append("collision")
  if has("pywarp_sim.solver", "solve"):
    stages += ["constraint_rows", "constraint_solver"]
  stages.append("integrate")
  return stages


def base_record(kind: str, backend: str, device: str) -> dict:
  return {
    "kind": kind,
    "backend": backend,
    "device": device,
    "device_name": device_name(device),
    "cpu_name": cpu_name(),
    "cpu_count": os.cpu_count(),
    "date": now_iso(),
    "platform": platform.platform(terse=True),
    "versions": versions(),
  }


def resolve_mj_model(model: str):
  """A bundled model name ("humanoid"), an MJCF/URDF path or an XML string -> (MjModel, label)."""
  import mujoco
  from pywarp_sim import models
  if model in models.BUILTIN:
    return models.mj_model(model), model
  if model.lstrip().startswith("<"):
    return mujoco.MjModel.from_xml_string(model), "xml-string"
  if not os.path.exists(model):
    raise FileNotFoundError(f"model '{model}' is neither a bundled model ({sorted(models.BUILTIN)}) "
                            "nor an existing file")
  return mujoco.MjModel.from_xml_path(model), os.path.basename(model)


def random_controls(mjm, nworld: int, seed: int = CONTROL_SEED) -> np.ndarray:
  """(nworld, nu) float64 controls drawn uniformly in each actuator's ctrlrange ([-1, 1]
  where the control is unlimited); the same seed gives every backend the same controls."""
  rng = np.random.default_rng(seed)
  lo = np.where(mjm.actuator_ctrllimited.astype(bool), mjm.actuator_ctrlrange[:, 0], -1.0)
  hi = np.where(mjm.actuator_ctrllimited.astype(bool), mjm.actuator_ctrlrange[:, 1], 1.0)
  return rng.uniform(lo, hi, size=(nworld, mjm.nu))


class Sink:
  """Writes records as JSON lines to stdout and, optionally, to a file (appending)."""

  def __init__(self, out: str | None = None, quiet: bool = False):
    self.path = pathlib.Path(out) if out else None
    self.quiet = quiet
    if self.path:
      self.path.parent.mkdir(parents=True, exist_ok=True)

  def emit(self, record: dict):
    from pywarp_sim.cli import json_safe
    line = json.dumps(json_safe(record), sort_keys=False, default=_json_default, allow_nan=False)
    if not self.quiet:
      print(line, flush=True)
    if self.path:
      with open(self.path, "a") as f:
        f.write(line + "\n")


def _json_default(x):
  if isinstance(x, (np.integer,)):
    return int(x)
  if isinstance(x, (np.floating,)):
    return float(x)
  return str(x)


def warn(msg: str):
  print(f"bench: {msg}", file=sys.stderr, flush=True)


def use_native_build(path: str) -> None:
  """Load the pywarp_sim._native module at `path` (a build folder's copy, which keeps the symbols
  that callgrind's --toggle-collect needs; the installed one is stripped) in place of the
  installed one: call before pywarp_sim imports it."""
  import importlib.util
  import sys

  spec = importlib.util.spec_from_file_location("pywarp_sim._native", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  sys.modules["pywarp_sim._native"] = mod
