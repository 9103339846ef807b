"""Checks the dependency lock (requirements/*.txt, written by `make lock`).

  check_lock.py --pyproject LOCK   the lock is current: every requirement of pyproject.toml's
                                   dependencies and `dev` extra is pinned in LOCK, and every
                                   pinned version satisfies pyproject's specifier
                                   (runs under any Python >= 3.11 with pip; seconds)
  check_lock.py --venv LOCK        the running interpreter's environment is the lock: every
                                   locked package installed at its locked version, `pip check`
                                   clean (the lock is complete)

Exits 1 with one line per package naming it, what was found and the fix.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# installed by venv/pip itself, or the project (installed from the working tree)
NOT_LOCKED = {"pip", "setuptools", "wheel", "pywarp-sim"}


def normalize(name: str) -> str:
  """PEP 503 name: lower case, runs of -_. as one '-'."""
  return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
  """{normalized name: version} of the `name==version` lines of a pip requirements file."""
  pins = {}
  for raw in path.read_text().splitlines():
    line = raw.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
      continue
    m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)(\s*;.*)?", line)
    if m is None:
      raise SystemExit(f"check_lock: {path}: line {raw!r} is not an exact pin (name==version); "
                       "regenerate the lock with `make lock`")
    pins[normalize(m.group(1))] = m.group(3)
  return pins


def _packaging():
  try:
    from packaging.requirements import Requirement
    from packaging.version import Version
  except ImportError:  # a bare interpreter: pip's vendored copy
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.version import Version
  return Requirement, Version


def check_pyproject(lock: Path, pins: dict[str, str]) -> list[str]:
  """Problems between pyproject.toml's requirements and the lock's pins."""
  import tomllib

  Requirement, Version = _packaging()
  project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
  extras = project.get("optional-dependencies", {})
  required = list(project["dependencies"]) + list(extras.get("dev", []))
  optional = [r for name, reqs in extras.items() if name != "dev" for r in reqs]
  problems = []
  for text, must in [(r, True) for r in required] + [(r, False) for r in optional]:
    req = Requirement(text)
    name = normalize(req.name)
    if name not in pins:
      if must:
        problems.append(f"{req.name}: pyproject.toml requires {text!r}, {lock} does not pin it; "
                        "run `make lock`")
      continue
    if not req.specifier.contains(Version(pins[name]), prereleases=True):
      problems.append(f"{req.name}: pyproject.toml requires {text!r}, {lock} pins "
                      f"{pins[name]}; run `make lock`")
  return problems


def check_venv(lock: Path, pins: dict[str, str]) -> list[str]:
  """Problems between the running interpreter's installed distributions and the lock."""
  from importlib import metadata

  installed = {}
  for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
      installed[normalize(name)] = dist.version
  problems = []
  for name, version in sorted(pins.items()):
    have = installed.get(name)
    if have is None:
      problems.append(f"{name}: locked at {version} in {lock}, not installed; "
                      f"rerun `make venv` (or `rm -r .venv`)")
    elif have != version:
      problems.append(f"{name}: installed {have}, {lock} locks {version}; "
                      f"`.venv/bin/pip install --no-deps {name}=={version}` or `rm -r .venv`")
  extra = sorted(set(installed) - set(pins) - NOT_LOCKED)
  if extra:
    print(f"check_lock: installed beyond {lock} (not used by the project's commands): "
          + ", ".join(f"{n}=={installed[n]}" for n in extra), file=sys.stderr)
  check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
  if check.returncode != 0:
    for line in check.stdout.splitlines():
      if line.strip() and not line.startswith("No broken"):
        problems.append(f"pip check: {line.strip()} (the lock is incomplete: run `make lock`)")
  return problems


def main(argv: list[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  ap.add_argument("lock", type=Path)
  ap.add_argument("--pyproject", action="store_true", help="check the lock against pyproject.toml")
  ap.add_argument("--venv", action="store_true", help="check this interpreter's packages")
  args = ap.parse_args(argv)
  if not (args.pyproject or args.venv):
    ap.error("give --pyproject and/or --venv")
  if not args.lock.is_file():
    print(f"check_lock: no lock file {args.lock}; run `make lock`", file=sys.stderr)
    return 1
  pins = read_lock(args.lock)
  problems = []
  if args.pyproject:
    problems += check_pyproject(args.lock, pins)
  if args.venv:
    problems += check_venv(args.lock, pins)
  for p in problems:
    print(f"LOCK MISMATCH: {p}", file=sys.stderr)
  if problems:
    return 1
  what = " and ".join(w for w, on in [("pyproject.toml", args.pyproject),
                                       ("the installed packages", args.venv)] if on)
  print(f"check_lock: {args.lock} ({len(pins)} packages) matches {what}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
