"""Shared pieces of the command-line interfaces (train, play, demo, academy, bench).

Argument types that enforce a range at parse time, so a nonsensical value stops the CLI
with exit code 2 and `argument --steps: expected an integer >= 1, got '-5'` before any
work, early device checks, and JSON output that stays valid JSON (non-finite floats
become null).

Light on purpose: no torch, warp or pywarp_sim imports at module level, so a parser is
cheap to build.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re


# ---- argument types --------------------------------------------------------------------
def _int(text: str, what: str) -> int:
  try:
    return int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'") from None


def _finite_float(text: str, what: str) -> float:
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'") from None
  if not math.isfinite(value):
    raise argparse.ArgumentTypeError(f"expected {what}, got '{text}' (not a finite number)")
  return value


def _ranged(parse, what: str, ok, doc: str):
  """An argparse type: `parse(text, what)`, then `ok(value)` or ArgumentTypeError naming
  `what` (the allowed range)."""
  def convert(text: str):
    value = parse(text, what)
    if not ok(value):
      raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'")
    return value
  convert.__doc__ = doc
  return convert


positive_int = _ranged(_int, "an integer >= 1", lambda v: v >= 1,
                       "An integer >= 1 (counts: iterations, environments, steps).")
nonneg_int = _ranged(_int, "an integer >= 0", lambda v: v >= 0,
                     "An integer >= 0 (seeds; counts where 0 means 'none' or 'default').")
positive_float = _ranged(_finite_float, "a finite number > 0", lambda v: v > 0.0,
                         "A finite number > 0 (durations in s or min, time limits).")
nonneg_float = _ranged(_finite_float, "a finite number >= 0", lambda v: v >= 0.0,
                       "A finite number >= 0.")
fraction = _ranged(_finite_float, "a number in [0, 1]", lambda v: 0.0 <= v <= 1.0,
                   "A probability or fraction in [0, 1].")


def float_triple(text: str) -> tuple:
  """'VX,VY,YAW' -> (vx, vy, yaw): exactly three comma-separated finite numbers."""
  parts = [p.strip() for p in text.split(",")]
  what = "three comma-separated finite numbers, e.g. 1,0,0"
  if len(parts) != 3:
    raise argparse.ArgumentTypeError(f"expected {what}, got '{text}' ({len(parts)} value(s))")
  return tuple(_finite_float(p, what) for p in parts)


# ---- checks after parsing ---------------------------------------------------------------
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def check_device(parser: argparse.ArgumentParser, device: str, flag: str = "--device"):
  """parser.error (exit 2) unless `device` is 'cpu', or 'cuda' / 'cuda:N' with that CUDA
  device present (torch.cuda), so a missing GPU is reported before any work."""
  if not _DEVICE.match(device):
    parser.error(f"{flag} {device}: expected cpu, cuda or cuda:N")
  if device == "cpu":
    return
  import torch
  if not torch.cuda.is_available():
    parser.error(f"{flag} {device}: no CUDA device is available on this machine "
                 f"(torch.cuda.is_available() is False); use {flag} cpu")
  index = int(device.split(":")[1]) if ":" in device else 0
  count = torch.cuda.device_count()
  if index >= count:
    parser.error(f"{flag} {device}: this machine has {count} CUDA device(s) "
                 f"(cuda:0..cuda:{count - 1}); pick one of them or use {flag} cpu")


def check_file(parser: argparse.ArgumentParser, path: str, flag: str):
  """parser.error (exit 2) unless `path` is an existing file."""
  if not os.path.isfile(path):
    parser.error(f"{flag} {path}: no such file")


# ---- JSON output ------------------------------------------------------------------------
def json_safe(obj):
  """`obj` with every NaN / inf float replaced by None (JSON null), walking dicts, lists and
  tuples (tuples become lists); numpy / torch values go through their .tolist(). JSON has no
  NaN: json.dumps would write the bare token `NaN`, which strict parsers reject."""
  if isinstance(obj, float):  # also numpy.float64
    return obj if math.isfinite(obj) else None
  if isinstance(obj, (str, int, bool)) or obj is None:
    return obj
  if isinstance(obj, dict):
    return {k: json_safe(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [json_safe(v) for v in obj]
  if hasattr(obj, "tolist"):  # numpy arrays and scalars (float32 too), torch tensors
    return json_safe(obj.tolist())
  return obj


def dumps(obj, **kw) -> str:
  """json.dumps of json_safe(obj) with allow_nan=False: a non-finite value that escapes
  json_safe (e.g. from a `default=` hook) fails loudly instead of writing invalid JSON."""
  return json.dumps(json_safe(obj), allow_nan=False, **kw)
