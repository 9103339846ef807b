"""Shared pieces of the command-line interfaces (train, play, demo, academy, bench).

Argument types that enforce a range at parse time, so a nonsensical value stops the CLI
with exit code 2 and `argument --steps: expected an integer >= 1, got '-5'` before any
work, early device checks, and JSON output that stays valid JSON (non-finite floats
become null).

Config fields as flags (tyro): `parse_config_flags` turns config objects (dataclasses such
as TaskCfg or HumanoidEnvCfg, and plain dicts such as the PPO runner's train_cfg) into
dotted flags, `--env.rewards.alive.weight 2`, `--agent.algorithm.learning-rate 3e-4`, listed
by --help with their types and defaults, and returns what the command line changed as dotted
paths (what envs.configure and train.apply_runner_flags apply). Term dicts are walked like
dataclasses: a term's weight, scale and numeric params are flags; its function is not.

Progress (rich): `progress(...)` and `status(...)` draw a bar or a spinner on stderr while a
command works silently (kernel compiles, rollouts, rendering, faults, calibrations); nothing
is drawn when stderr is not a terminal or with quiet=True (the CLIs' --quiet).

Light on purpose: no torch, warp, tyro, rich or pywarp_sim imports at module level, so a
parser is cheap to build.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import inspect
import json
import keyword
import math
import os
import re
import sys
import typing


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


# ---- config fields as flags (tyro) ----------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _field_comments(cls: type) -> dict:
  """{field: its trailing `# comment`} from the source of dataclass `cls` (units and meaning,
  shown as the flag's help); {} when the source is not available."""
  try:
    source = inspect.getsource(cls)
  except (OSError, TypeError):
    return {}
  found = re.findall(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+)$", source, flags=re.M)
  return {name: text.strip() for name, text in found}


def _hints(cls: type) -> dict:
  try:
    return typing.get_type_hints(cls)
  except Exception:  # an annotation naming something the module does not import at runtime
    return {}


def _mentions(annotation, t: type) -> bool:
  return annotation is t or t in typing.get_args(annotation)


def _leaf_type(value, annotation):
  """The flag type of one config value (tyro parses it), or None for what a command line
  cannot give (functions, objects, mixed or empty sequences)."""
  if isinstance(value, bool):
    return bool
  if isinstance(value, int):
    return float if _mentions(annotation, float) else int
  if isinstance(value, float):
    return float
  if isinstance(value, str):
    return str
  if value is None:  # settable only when the annotation says what it may be: `float | None`
    args = typing.get_args(annotation)
    for t in (float, int, bool, str):
      if type(None) in args and t in args:
        return typing.Optional[t]
    return None
  if isinstance(value, (tuple, list)) and value:
    if all(isinstance(v, str) for v in value):
      item = str
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
      item = float if any(isinstance(v, float) for v in value) else int
    else:
      return None
    # a tuple of 2 or 3 numbers (a range lo hi, a vector) keeps its length; other sequences
    # (hidden_dims, foot names, the latencies to try) take any length
    fixed = isinstance(value, tuple) and item is not str and len(value) in (2, 3)
    return tuple[(item,) * len(value)] if fixed else tuple[item, ...]
  return None


def _flags_of(value, annotation=None, help_text: str | None = None):
  """(flags type, its default) mirroring `value`: a frozen dataclass per dataclass or dict
  (one field per settable entry), a primitive or tuple type per leaf; None when nothing in
  it is settable from a command line."""
  if dataclasses.is_dataclass(value) and not isinstance(value, type):
    cls = type(value)
    hints, comments = _hints(cls), _field_comments(cls)
    items = [(f.name, getattr(value, f.name), hints.get(f.name), comments.get(f.name))
             for f in dataclasses.fields(value) if f.init]
    func = getattr(value, "func", None)
    if callable(func):  # a term: name its function (the class doc would repeat per term)
      doc = f"{cls.__name__} {getattr(func, '__module__', '')}.{getattr(func, '__qualname__', func)}"
    else:
      doc = (inspect.getdoc(cls) or cls.__name__).split("\n\n")[0]
  elif isinstance(value, dict):
    items = [(k, v, None, None) for k, v in value.items()
             if isinstance(k, str) and k.isidentifier() and not keyword.iskeyword(k)]
    doc = help_text or ""
  else:
    t = _leaf_type(value, annotation)
    if t is None:
      return None
    if help_text:
      import tyro
      t = typing.Annotated[t, tyro.conf.arg(help=help_text)]
    return t, (tuple(value) if isinstance(value, list) else value)
  fields, defaults = [], {}
  for name, v, ann, comment in items:
    sub = _flags_of(v, ann, comment)
    if sub is not None:
      fields.append((name, sub[0], dataclasses.field(default=sub[1])))
      defaults[name] = sub[1]
  if not fields:
    return None
  flags = dataclasses.make_dataclass(f"{type(value).__name__}Flags", fields, frozen=True)
  flags.__doc__ = doc
  return flags, flags(**defaults)


def _changes(parsed, default, original, prefix: str = "") -> dict:
  """{dotted path: new value} of the leaves where `parsed` differs from `default` (flags
  instances); a sequence comes back as the original's container type (list or tuple)."""
  out = {}
  for f in dataclasses.fields(parsed):
    new, old = getattr(parsed, f.name), getattr(default, f.name)
    orig = original[f.name] if isinstance(original, dict) else getattr(original, f.name)
    path = prefix + f.name
    if dataclasses.is_dataclass(new):
      out.update(_changes(new, old, orig, path + "."))
    elif new != old:
      out[path] = list(new) if isinstance(orig, list) else new
  return out


def parse_config_flags(args: list, sections: dict, prog: str, description: str = "") -> dict:
  """Parses `args` (what the CLI's own parser left) as flags of the config objects
  `sections` ({"env": TaskCfg or HumanoidEnvCfg, "agent": runner dict}), with tyro: one flag
  per settable leaf, `--env.rewards.alive.weight 2.0` (dashes or underscores). Returns
  {section: {dotted path: value}} of the leaves the command line changed ({} when `args` is
  empty). `--help` in `args` prints every flag with its type and default and exits 0; an
  unknown flag or a bad value exits 2 with tyro's message (which suggests near names)."""
  if not args:
    return {name: {} for name in sections}
  built = {name: _flags_of(value) for name, value in sections.items()}
  built = {name: b for name, b in built.items() if b is not None}
  import tyro
  top = dataclasses.make_dataclass("ConfigFlags", [(n, t, dataclasses.field(default=d))
                                                   for n, (t, d) in built.items()], frozen=True)
  default = top(**{n: d for n, (_, d) in built.items()})
  parsed = tyro.cli(top, args=list(args), default=default, prog=prog, description=description)
  return {name: (_changes(getattr(parsed, name), getattr(default, name), sections[name])
                 if name in built else {}) for name in sections}


def split_config_flags(parser: argparse.ArgumentParser, rest: list, prefixes: tuple) -> list:
  """The arguments in `rest` (parse_known_args' leftovers) that belong to the config flags:
  from the first `--<prefix>.` on. Anything before it is an unknown flag of `parser`'s own:
  parser.error (exit 2) names it, as argparse would have."""
  starts = [i for i, a in enumerate(rest) if any(a.startswith(f"--{p}.") for p in prefixes)]
  first = starts[0] if starts else len(rest)
  if rest[:first]:
    parser.error(f"unrecognized arguments: {' '.join(rest[:first])} (config fields are set with "
                 + ", ".join(f"--{p}.FIELD" for p in prefixes) + "; --help lists them)")
  return rest[first:]


def set_path(obj, path: str, value):
  """obj[...] / obj.attr at dotted `path` = value, through dicts and dataclasses (KeyError or
  AttributeError naming the path when a step is missing)."""
  *parents, last = path.split(".")
  for part in parents:
    obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
  if isinstance(obj, dict):
    if last not in obj:
      raise KeyError(f"config path '{path}': no entry '{last}'")
    obj[last] = value
  else:
    getattr(obj, last)
    setattr(obj, last, value)


# ---- progress (rich) --------------------------------------------------------------------------
def progress_enabled(quiet: bool = False) -> bool:
  """Whether progress is drawn: not quiet, and stderr is a terminal (never in logs or CI)."""
  return not quiet and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


@contextlib.contextmanager
def progress(description: str, total: int | None, quiet: bool = False, unit: str = ""):
  """A progress bar on stderr for `total` units of work; yields advance(n=1). Transient:
  the bar is gone when the block ends (the command's own summary follows). Draws nothing
  when progress_enabled(quiet) is False."""
  if not progress_enabled(quiet):
    yield lambda n=1: None
    return
  from rich.console import Console
  from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                             TimeElapsedColumn, TimeRemainingColumn)
  columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
  if unit:
    columns.append(TextColumn(unit))
  columns += [TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
  with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
    task = bar.add_task(description, total=total)
    yield lambda n=1: bar.advance(task, n)


def track(items, description: str, quiet: bool = False, unit: str = ""):
  """Yields the elements of the sequence `items` with a progress bar (progress()) advanced
  after each; print() inside the loop writes above the bar."""
  with progress(description, len(items), quiet=quiet, unit=unit) as advance:
    for item in items:
      yield item
      advance()


@contextlib.contextmanager
def status(description: str, quiet: bool = False):
  """A spinner with the elapsed time on stderr while one silent step runs (building envs,
  whose first run compiles Warp's kernels); nothing when progress_enabled(quiet) is False."""
  if not progress_enabled(quiet):
    yield
    return
  from rich.console import Console
  from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
  with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                console=Console(stderr=True), transient=True) as bar:
    bar.add_task(description, total=None)
    yield
