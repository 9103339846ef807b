"""Architecture rules of the package: what CONVENTIONS.md states in words, checked on the
source with `ast` (no imports, no execution), and the native kernels' constants against the
one definition of each enum (types.py)."""

import ast
import pathlib

import pytest

from pywarp_sim import native, types

REPO = pathlib.Path(__file__).resolve().parent.parent

# Private accesses still allowed: (file relative to the repo root, attribute) -> why. Each is
# a seam still to add (then delete its line); the list may only shrink (empty today). Line
# numbers are left out on purpose: they move with every edit.
PRIVATE_ACCESS_ALLOWLIST: dict = {}


def test_no_underscore_access_across_modules():
  """No `X._name` attribute access (nor getattr/setattr/hasattr/delattr(X, "_name"), nor an
  import of a `_name` from another module) in pywarp_sim/ where X is not self/cls/super():
  a module reaches another only through its public names (CONVENTIONS.md, "Ours").
  Dunders (`__dict__`) are not private. A module's own private globals (`_helper(...)`) are
  plain names, not attribute accesses, and stay allowed."""

  def private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))

  def owner_is_self(node):
    if isinstance(node, ast.Name):
      return node.id in ("self", "cls")
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "super")

  found = []  # (file, line, attribute, source text)
  for path in sorted((REPO / "pywarp_sim").rglob("*.py")):
    rel = path.relative_to(REPO).as_posix()
    for node in ast.walk(ast.parse(path.read_text(), rel)):
      if isinstance(node, ast.Attribute) and private(node.attr) and not owner_is_self(node.value):
        found.append((rel, node.lineno, node.attr, ast.unparse(node)))
      elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
            and private(node.args[1].value) and not owner_is_self(node.args[0])):
        found.append((rel, node.lineno, node.args[1].value, ast.unparse(node)))
      elif isinstance(node, ast.ImportFrom):
        # `from x._y import z` / `from x import _z` (not `from . import m as _m`: an alias)
        module = "." * node.level + (node.module or "")
        for part in (node.module or "").split("."):
          if private(part):
            found.append((rel, node.lineno, part, f"from {module} import ..."))
        for alias in node.names:
          if private(alias.name):
            found.append((rel, node.lineno, alias.name, f"from {module} import {alias.name}"))
      elif isinstance(node, ast.Import):
        for alias in node.names:
          for part in alias.name.split("."):
            if private(part):
              found.append((rel, node.lineno, part, f"import {alias.name}"))

  violations = sorted(f for f in found if (f[0], f[2]) not in PRIVATE_ACCESS_ALLOWLIST)
  assert not violations, ("private names reached across modules (add a public seam instead, "
                          "CONVENTIONS.md):\n" + "\n".join(
                            f"  {rel}:{line}: {text}" for rel, line, _, text in violations))
  stale = sorted(set(PRIVATE_ACCESS_ALLOWLIST) - {(f[0], f[2]) for f in found})
  assert not stale, f"allowlist entries no longer needed (delete them): {stale}"


@pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))
def test_kernel_constants_equal_the_python_enums():
  """Each enum is defined once (pywarp_sim/types.py, MuJoCo's values where MuJoCo has the
  enum); the native kernels' constants must equal their Python twins."""
  constants = native.module("cpu").kernel_constants()
  assert len(constants) >= 40
  for name, value in constants.items():
    enum_name, member = name.split(".")
    if enum_name == "COUNTERS":
      assert types.COUNTERS.index(member) == value, name
    else:
      ours = int(getattr(types, enum_name)[member])
      assert ours == value, f"{name}: kernels {value}, types.py {ours}"
  for enum_name in ("Health", "Collider"):  # every member has a kernel twin
    for member in getattr(types, enum_name):
      assert f"{enum_name}.{member.name}" in constants, f"{enum_name}.{member.name} missing in the kernels"
