"""Architecture rules of the package: what CONVENTIONS.md states in words, checked on the
source with `ast` (no imports, no execution), and the native kernels' constants and Data
layout against the one definition of each enum and each Data field (types.py)."""

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
  for enum_name in ("Health", "Collider", "SensorType", "ObjType"):  # every member has a kernel twin
    for member in getattr(types, enum_name):
      assert f"{enum_name}.{member.name}" in constants, f"{enum_name}.{member.name} missing in the kernels"



# ---- one schema: every Data field is declared once in types.py ---------------------------------

# The native layout's Data entries that are the Simulator's own arrays, not Data fields
# (Simulator.health_arrays()).
NATIVE_HEALTH_ARRAYS = ("health", "last_reset", "counters")
# Data fields the fused native step has no entry for, besides those of role scratch (the Warp
# collision stage's buffers, which the native step keeps on each thread's stack), and why. A
# field added to types.py needs its kernels/types.h entry, the role scratch, or a line here.
NOT_IN_NATIVE_LAYOUT = {}


def _schema_arrays():
  """(container, Field) of every array of Data, its contacts and its constraint rows."""
  for container, fields in (("data", types.DATA_FIELDS), ("contact", types.CONTACT_FIELDS),
                            ("efc", types.EFC_FIELDS)):
    for f in fields:
      if f.role not in (types.Role.SIZE, types.Role.GROUP):
        yield container, f


@pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))
def test_native_layout_matches_the_schema():
  """Every Data entry of the native layout (kernels/types.h, as step_layout() exports it)
  is a field declared in types.py with the same element width, scalar kind and count per world
  (the layout's count expression and the field's symbolic shape, both evaluated with the sizes
  of two models); every declared field but the Warp-only scratch is in the layout or in
  NOT_IN_NATIVE_LAYOUT."""
  import math

  import warp as wp
  from assets import TENDON_WALKER

  import pywarp_sim as pws
  from pywarp_sim import io, native_backend

  layout = native.module("cpu").step_layout()
  entries = [e for e in layout if e["group"] in ("data_float", "data_int", "global_int")
             and e["name"] not in NATIVE_HEALTH_ARRAYS]
  assert len(entries) > 90
  kinds = {"float32": "float", "int32": "int"}
  matched = set()
  # two models: humanoid (nu 21, na 0, no tendons), tendon_walker (activations, tendons), so
  # that a field sized by the wrong size name rarely has the right count by chance
  for model in (pws.load_model("humanoid", device="cpu"), pws.load_model(TENDON_WALKER, device="cpu")):
    nworld = 3
    sizes = io.data_sizes(model, nworld)
    for e in layout:
      if e["group"] == "size":
        assert e["name"] in sizes, f"native size '{e['name']}' is not in io.data_sizes"
    for e in entries:
      name = e["name"]
      found = native_backend.schema_field(name)
      assert found is not None, (f"kernels/types.h has the Data entry '{name}', which is no field "
                                 f"of types.py (Data, Contacts as con_*, ConstraintData as efc_*)")
      container, f = found
      matched.add((container, f.name))
      where = f"{name} (types.py {container}.{f.name} {f.shape} {f.dtype.__name__})"
      assert f.role != types.Role.SCRATCH, f"{where}: in the native layout, so not Warp-only scratch"
      kind = "int" if e["group"].endswith("_int") else "float"
      scalar = str(wp.zeros(1, dtype=f.dtype, device="cpu").numpy().dtype)  # of a vector / matrix too
      assert kinds.get(scalar) == kind, f"{where}: the layout holds {kind}"
      assert wp.types.type_size(f.dtype) == e["width"], f"{where}: the layout has width {e['width']}"
      total = math.prod(io.resolve(extent, sizes) for extent in f.shape)
      count = io.resolve(e["count"], sizes)
      if e["group"] == "global_int":
        assert f.role == types.Role.COUNTER, f"{where}: a global layout entry is a counter"
        assert total == count, f"{where}: {total} elements, the layout {count} ({e['count']})"
      else:
        assert f.role != types.Role.COUNTER, f"{where}: a counter is global in the layout"
        assert total == nworld * count, (f"{where}: {total // nworld} elements per world, the layout "
                                         f"{count} ({e['count']})")
  declared = {(container, f.name) for container, f in _schema_arrays() if f.role != types.Role.SCRATCH}
  unexplained = sorted(declared - matched - set(NOT_IN_NATIVE_LAYOUT))
  assert not unexplained, (f"types.py declares {unexplained}, which kernels/types.h lacks: add the "
                           f"layout entry, or say why not in NOT_IN_NATIVE_LAYOUT (Warp-only buffers: role scratch)")
  stale = sorted(set(NOT_IN_NATIVE_LAYOUT) & matched)
  assert not stale, f"NOT_IN_NATIVE_LAYOUT lists fields the layout has (delete them): {stale}"
  unknown = sorted(set(NOT_IN_NATIVE_LAYOUT) - declared)
  assert not unknown, f"NOT_IN_NATIVE_LAYOUT lists fields types.py does not declare: {unknown}"


def test_tolerances_are_defined_once():
  """Every numerical tolerance of the tests lives in tests/tolerances.py, named by what it bounds
  with its reason; a test file that defines its own `*_TOL = ...` constant would let the same
  bound drift apart between files (import it from tolerances instead)."""
  import re

  pattern = re.compile(r"^\s*([A-Z][A-Z0-9_]*TOL[A-Z0-9_]*)\s*(?::[^=\n]*)?=(?!=)", re.MULTILINE)
  found = []
  for path in sorted((REPO / "tests").glob("*.py")):
    if path.name == "tolerances.py":
      continue
    source = path.read_text()
    for m in pattern.finditer(source):
      found.append(f"tests/{path.name}:{source.count(chr(10), 0, m.start()) + 1}: {m.group(1)}")
  assert not found, "tolerance constants outside tests/tolerances.py:\n  " + "\n  ".join(found)


def test_comparison_bounds_are_named():
  """An atol / rtol (np.testing, torch) or rel / abs (pytest.approx) given as a number other than
  0 is a tolerance without its reason: name it in tests/tolerances.py and import it."""
  import re

  pattern = re.compile(r"\b(atol|rtol|rel|abs)\s*=\s*(\d*\.?\d+(?:[eE][-+]?\d+)?)")
  found = []
  for path in sorted((REPO / "tests").glob("*.py")):
    if path.name == "tolerances.py":
      continue
    source = path.read_text()
    for m in pattern.finditer(source):
      if float(m.group(2)) != 0.0:
        found.append(f"tests/{path.name}:{source.count(chr(10), 0, m.start()) + 1}: {m.group(0)}")
  assert not found, "numeric comparison bounds outside tests/tolerances.py:\n  " + "\n  ".join(found)


# ---- native headers mirror the Python modules by name --------------------------------------------

KERNELS = REPO / "kernels"
# The pipeline's modules and their native twins, kernels/<name>.h <-> pywarp_sim/<name>.py (README
# "Architecture"); a pair is checked once its Python module exists.
STAGE_TWINS = ("types", "support", "smooth", "passive", "actuation", "collision_driver",
               "collision_primitive", "collision_gjk", "collision_multicontact", "collision_convex",
               "equality", "constraint", "solver", "pgs", "sensor", "forward")
# Stage modules whose native twin is still to be written, and why; the list may only shrink.
TWIN_PENDING = {}


def _leading_comment(path: pathlib.Path) -> str:
  """The comment block a header starts with (its `//` lines up to the first other line), joined."""
  lines = []
  for line in path.read_text().splitlines():
    if not line.startswith("//"):
      break
    lines.append(line[2:].strip())
  return " ".join(lines)


@pytest.mark.parametrize("name", STAGE_TWINS + tuple(TWIN_PENDING))
def test_stage_module_has_its_native_twin(name):
  """Each stage module pywarp_sim/<name>.py has its twin kernels/<name>.h, and the header's first
  comment lines name the module (CONVENTIONS.md: a reader finds a stage by its name, on both sides)."""
  if not (REPO / "pywarp_sim" / f"{name}.py").exists():
    pytest.skip(f"pywarp_sim/{name}.py does not exist yet: the pair is checked once the module is split out")
  header = KERNELS / f"{name}.h"
  if name in TWIN_PENDING:
    assert not header.exists(), f"kernels/{name}.h exists now: delete '{name}' from TWIN_PENDING"
    pytest.skip(f"kernels/{name}.h is not written yet: {TWIN_PENDING[name]}")
  assert header.exists(), f"pywarp_sim/{name}.py is a stage module and kernels/{name}.h, its twin, is missing"
  assert f"Twin of pywarp_sim/{name}.py" in _leading_comment(header), (
    f"kernels/{name}.h: its first comment lines must name its twin ('// Twin of pywarp_sim/{name}.py: ...')")


@pytest.mark.parametrize("header", sorted(p.name for p in KERNELS.glob("*.h")))
def test_kernel_header_names_its_twin_or_says_native_only(header):
  """A header named after a module of pywarp_sim names it as its twin in its first comment lines;
  any other header starts with '// Native-only:' and says why it has no Python counterpart."""
  stem = header[: -len(".h")]
  comment = _leading_comment(KERNELS / header)
  if (REPO / "pywarp_sim" / f"{stem}.py").exists():
    assert f"Twin of pywarp_sim/{stem}.py" in comment, (
      f"kernels/{header}: pywarp_sim/{stem}.py exists, so its first comment lines must name it "
      f"('// Twin of pywarp_sim/{stem}.py: ...')")
  elif f"Twin of pywarp_sim/{stem}.py" in comment:
    pytest.skip(f"pywarp_sim/{stem}.py, which kernels/{header} names as its twin, does not exist yet")
  else:
    assert comment.startswith("Native-only:"), (
      f"kernels/{header} has no twin pywarp_sim/{stem}.py: start its comment with '// Native-only:' and "
      f"why, or name it after the Python module it mirrors")


def test_native_resets_run_one_reset_world():
  """The native Simulator.reset (csrc: StepPlan.reset on the CPU, reset_kernel on CUDA) and the
  step's auto reset (kernels/forward.h health_and_reset) run the one kernels/forward.h
  reset_world: no other native file writes a world's reference state (qpos0) into its qpos."""
  import re

  writes_qpos0 = re.compile(r"\bqpos\[[^\]]*\]\s*=\s*m\.qpos0\[")
  files = sorted(KERNELS.glob("*.h")) + sorted((REPO / "csrc").glob("*.c*"))
  assert [p.name for p in files if writes_qpos0.search(p.read_text())] == ["forward.h"]
  forward = (KERNELS / "forward.h").read_text()
  auto = forward[forward.index("inline void health_and_reset("):]
  assert "reset_world(m, d);" in auto[:auto.index("\n}\n")], "health_and_reset must call reset_world"
  for launcher in ("bindings.cpp", "cuda_launch.cu"):
    assert "pws::reset_world(" in (REPO / "csrc" / launcher).read_text(), (
      f"csrc/{launcher}: Simulator.reset must run kernels/forward.h's reset_world")


# Modules that still import rsl-rl / tensordict themselves instead of through envs/optional.py:
# module -> why. The list may only shrink.
OPTIONAL_IMPORT_ALLOWLIST: dict[str, str] = {}


def test_optional_rl_libraries_are_imported_in_one_place():
  """rsl-rl-lib and tensordict (optional) are imported at module level only by
  pywarp_sim/envs/optional.py, which falls back when they are missing; the envs take
  VecEnvBase and TensorDict from it. A function may still import them where it needs them."""
  problems = []
  for path in sorted((REPO / "pywarp_sim").rglob("*.py")):
    rel = path.relative_to(REPO).as_posix()
    for node in ast.parse(path.read_text(), rel).body:
      if not isinstance(node, ast.Try):
        continue
      for stmt in node.body:
        if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").split(".")[0] in ("rsl_rl", "tensordict"):
          if rel != "pywarp_sim/envs/optional.py" and rel not in OPTIONAL_IMPORT_ALLOWLIST:
            problems.append(f"{rel}:{stmt.lineno} imports {stmt.module}: take it from pywarp_sim.envs.optional")
  assert not problems, "\n".join(problems)
  for rel in OPTIONAL_IMPORT_ALLOWLIST:
    assert "from rsl_rl" in (REPO / rel).read_text(), f"{rel} no longer imports rsl-rl: delete its allowlist line"


def test_python_twins_named_in_docstrings_exist():
  """A module docstring's 'Twin of kernels/<name>.h' names a header that exists, and one named
  after the module itself (pywarp_sim/<name>.py <-> kernels/<name>.h)."""
  import re

  problems = []
  for path in sorted((REPO / "pywarp_sim").glob("*.py")):
    doc = ast.get_docstring(ast.parse(path.read_text(), path.name)) or ""
    for header in re.findall(r"Twin of\s+kernels/(\w+\.h)", doc):
      if not (KERNELS / header).exists():
        problems.append(f"pywarp_sim/{path.name} names kernels/{header}, which does not exist")
      elif header != f"{path.stem}.h":
        problems.append(f"pywarp_sim/{path.name} names kernels/{header} as its twin: twins share the name "
                        f"(kernels/{path.stem}.h)")
  assert not problems, "\n".join(problems)
