"""Property-based fuzzing of the public entries with hypothesis.

Random valid and invalid arguments go to `load_model`, `Simulator(...)`, `set_ctrl`,
`reset`, `step`, `forward`, the `max_qvel` / `reset_on` setters and `checkpoint.save` /
`load` / `load_state_dict`. The properties, for every draw:

  * the outcome is a valid result or an exception of a documented type (ValueError and its
    subclasses UnsupportedModelError / CheckpointError, TypeError, FileNotFoundError,
    MemoryError, RuntimeError where documented), never another exception or a crash;
  * an argument that breaks the documented contract raises; one that keeps it succeeds;
  * an exception leaves the simulator bit for bit as it was (clones taken before the call);
  * a success leaves a finite state that is what the call promised (the reset worlds at the
    reference state and the others untouched, the controls copied, the checkpoint restored).

Every test runs a bounded, derandomized search (`derandomize=True`: the same draws on every
run, so CI is reproducible); the examples found by fuzzing are pinned as plain tests at the
end of the file.
"""

import copy
import inspect
import io
import math
import pathlib
import warnings

import numpy as np
import pytest
import torch
import warp as wp
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pywarp_sim as pws
from pywarp_sim import checkpoint, native
from pywarp_sim.errors import CheckpointError, CheckpointWarning
from pywarp_sim.simulator import DEFAULT_RESET_ON
from tolerances import TIME_TOL

Health = pws.Health

NATIVE_OK = native.available("cpu")
# What Simulator(backend=...) accepts: the two backends and the default ("auto" where it exists).
BACKEND_NAMES = {"warp", "native", inspect.signature(pws.Simulator).parameters["backend"].default}
BACKENDS = ["warp", pytest.param("native", marks=pytest.mark.skipif(
  not NATIVE_OK, reason=native.unavailable_reason("cpu")))]

# Exceptions a public entry may raise for a bad argument (UnsupportedModelError and
# CheckpointError are ValueErrors; MuJoCo's compiler raises ValueError for bad XML).
LOAD_ERRORS = (ValueError, TypeError, FileNotFoundError)
SIMULATOR_ERRORS = (ValueError, TypeError, RuntimeError, MemoryError)

# Kept small so the whole file runs in well under a minute on two shared CPU cores; the
# draws are derandomized, so a larger budget finds nothing new on a rerun of the same code.
FUZZ = settings(max_examples=50, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
FUZZ_MORE = settings(FUZZ, max_examples=100)  # for the draws that cost a few milliseconds

# A model with every kind of state (free and hinge joints, an actuator, a contact), small
# enough that a Simulator of it costs milliseconds.
SMALL_XML = """
<mujoco>
  <option timestep="0.005"/>
  <worldbody>
    <geom type="plane" size="2 2 0.1"/>
    <body pos="0 0 0.3">
      <freejoint/>
      <geom type="box" size="0.1 0.1 0.05"/>
      <body pos="0.1 0 0">
        <joint name="hinge" type="hinge" axis="0 1 0" damping="0.1"/>
        <geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.03"/>
      </body>
    </body>
  </worldbody>
  <actuator><motor joint="hinge" gear="1" ctrlrange="-1 1" ctrllimited="true"/></actuator>
</mujoco>
"""


# ---- helpers ------------------------------------------------------------------------------

def _bits(t: torch.Tensor) -> torch.Tensor:
  """The bytes of a tensor (NaN compares equal to the same NaN, -0.0 differs from 0.0)."""
  return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
  return a.dtype == b.dtype and a.shape == b.shape and torch.equal(_bits(a), _bits(b))


def _state(sim) -> dict:
  """Clones of the simulator state a public call may write."""
  return {"qpos": sim.qpos.clone(), "qvel": sim.qvel.clone(), "ctrl": sim.ctrl.clone(),
          "act": sim.act.clone(), "time": sim.time.clone(), "health": sim.health.clone()}


def _assert_unchanged(before: dict, sim, what: str):
  after = _state(sim)
  changed = [k for k in before if not _same_bits(before[k], after[k])]
  assert not changed, f"{what} raised but changed {changed}"


def _assert_finite(sim):
  for name in ("qpos", "qvel", "ctrl", "time"):
    assert bool(torch.isfinite(getattr(sim, name)).all()), f"sim.{name} is not finite"


def _valid_count(value, minimum=1, allow_none=False) -> bool:
  """The documented contract of nworld / nbank / nconmax / nsteps: an int >= minimum (not a
  bool), or None where allowed."""
  if value is None:
    return allow_none
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum


def _valid_max_qvel(value) -> bool:
  """max_qvel: a real number (not a bool or a string) > 0 (inf allowed, NaN not)."""
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
    return False
  v = float(value)
  return v > 0 and not math.isnan(v)


def _valid_reset_on(value) -> bool:
  """reset_on: a non-empty combination of the checked Health bits."""
  checked = Health.NONFINITE | Health.CONTACT_OVERFLOW | Health.SOLVER_NOT_CONVERGED | Health.VELOCITY_BOUND
  return (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) != 0
          and not int(value) & ~int(checked))


# ---- strategies -----------------------------------------------------------------------------

def _mostly(valid, invalid, one_in: int = 6):
  """`valid`, and `invalid` one draw in `one_in`: with several arguments per call, most calls
  then get past the argument checks to the code behind them."""
  return st.integers(1, one_in).flatmap(lambda i: invalid if i == one_in else valid)


# Sizes as MJCF attribute text: ordinary, zero, negative, huge, non-finite, not a number.
_MJCF_NUMBER = _mostly(
  st.floats(min_value=0.01, max_value=1.0).map(lambda x: f"{x:.3g}"),
  st.sampled_from(["0", "-0.1", "1e30", "1e308", "nan", "inf", "-inf", "x"]), one_in=10)
_GEOMS = ("plane", "sphere", "capsule", "box", "cylinder", "ellipsoid")
_JOINTS = (None, "free", "ball", "slide", "hinge")
# Sizes passed to put_model: valid counts, zero, negative, float, bool, None, numpy, text.
_COUNT_ARG = st.one_of(st.integers(-2, 4), st.none(), st.booleans(),
                       st.floats(allow_nan=True, allow_infinity=True),
                       st.sampled_from([np.int64(2), np.int32(1), "2", 2.0]))


@st.composite
def mjcf_documents(draw) -> str:
  """An MJCF document: 0-3 bodies (siblings or nested) with a random joint and 1-2 random
  geoms of random sizes, an optional motor per hinge/slide joint, a random timestep and
  integrator; sometimes truncated."""
  timestep = draw(_mostly(st.floats(1e-4, 0.02).map(lambda x: f"{x:.3g}"),
                          st.sampled_from(["0", "-0.001", "nan", "inf", "1e308", "abc", ""])))
  integrator = draw(_mostly(st.sampled_from(["Euler", "RK4", "implicitfast"]), st.just("implicit")))
  bodies, motors, parents = [], [], []
  for b in range(draw(st.integers(0, 3))):
    joint = draw(st.sampled_from(_JOINTS))
    geoms = []
    for _ in range(draw(st.integers(1, 2))):
      gtype = draw(_mostly(st.sampled_from(_GEOMS[1:]), st.just("plane"), one_in=10))  # planes: static only
      # three sizes fit every type (extra ones are ignored); fewer leave box/plane sizes at 0
      size = " ".join(draw(_mostly(st.lists(_MJCF_NUMBER, min_size=3, max_size=3),
                                   st.lists(_MJCF_NUMBER, min_size=1, max_size=2))))
      density = draw(st.one_of(st.none(), _MJCF_NUMBER))
      density = f' density="{density}"' if density else ""
      geoms.append(f'<geom type="{gtype}" size="{size}"{density}/>')
    jxml = "" if joint is None else (
      "<freejoint/>" if joint == "free" else f'<joint name="j{b}" type="{joint}"/>')
    if joint in ("hinge", "slide") and draw(st.booleans()):
      motors.append(f'<motor joint="j{b}" gear="{draw(_MJCF_NUMBER)}"/>')
    bodies.append(f'<body pos="0 0 {0.2 * (b + 1):.1f}">{jxml}{"".join(geoms)}')
    parents.append(draw(st.booleans()))  # nest the next body inside this one
  tree = ""
  for i in reversed(range(len(bodies))):
    nested = i + 1 < len(bodies) and parents[i]
    tree = bodies[i] + (tree if nested else "") + "</body>" + ("" if nested else tree)
  floor = '<geom type="plane" size="1 1 0.1"/>' if draw(st.booleans()) else ""
  doc = (f'<mujoco><option timestep="{timestep}" integrator="{integrator}"/>'
         f'<worldbody>{floor}{tree}</worldbody>'
         f'{"<actuator>" + "".join(motors) + "</actuator>" if motors else ""}</mujoco>')
  if draw(st.integers(0, 9)) == 0:
    doc = doc[:draw(st.integers(0, len(doc) - 1))]
  return doc


_NOT_A_PATH = st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=20),
                        st.lists(st.text(max_size=5), max_size=3), st.just(b"<mujoco/>"))


@st.composite
def ctrl_inputs(draw, nworld: int, nu: int):
  """(value for set_ctrl, valid): tensors of random shape, dtype, device, layout and values
  (NaN/Inf), nested lists, numpy arrays and other objects."""
  ok = draw(st.booleans())  # half the draws keep the contract (in any memory layout)
  kind = "tensor" if ok else draw(st.sampled_from(["tensor", "tensor", "list", "numpy", "other"]))
  if kind == "other":
    return draw(st.one_of(st.none(), st.floats(), st.text(max_size=5), st.integers())), False
  shape = (nworld, nu) if ok else draw(st.sampled_from(
    [(nworld, nu), (nu,), (nworld, nu + 1), (nworld + 1, nu), (nworld, nu, 1), (0,), ()]))
  finite = ok or draw(st.booleans())
  elements = (st.floats(-2, 2, width=32) if finite else
              st.floats(width=32, allow_nan=True, allow_infinity=True))
  values = draw(hnp.arrays(np.float32, shape, elements=elements))
  if kind == "list":
    return values.tolist(), False
  if kind == "numpy":
    return values, False
  dtype = torch.float32 if ok else draw(st.sampled_from([torch.float32, torch.float64, torch.float16,
                                                          torch.int32, torch.bool]))
  layout = draw(st.sampled_from(["contiguous", "transposed", "requires_grad"] + ([] if ok else ["meta"])))
  x = torch.from_numpy(values.copy())
  if dtype != torch.float32:
    x = torch.nan_to_num(x).to(dtype)
  if layout == "transposed" and x.ndim == 2:
    x = x.t().contiguous().t()  # same shape and values, not contiguous
  elif layout == "requires_grad" and dtype.is_floating_point:
    x = (x.clone().requires_grad_() * 1.0)  # a non-leaf with a graph, like a policy's output
  elif layout == "meta":
    x = x.to("meta")
  valid = (tuple(x.shape) == (nworld, nu) and x.dtype == torch.float32 and x.device.type == "cpu"
           and bool(torch.isfinite(x).all()))
  return x, valid


_INVALID = None  # `expected` of a reset argument that must raise


@st.composite
def reset_worlds(draw, nworld: int):
  """(worlds, expected, may_raise): a reset argument, the set of worlds it resets (or
  _INVALID when it must raise ValueError), and whether an undocumented form may raise."""
  kind = draw(st.sampled_from(["none", "indices", "indices", "out_of_range", "mask", "bad_mask",
                               "floats", "scalar", "nested", "other"]))
  if kind == "none":
    return None, frozenset(range(nworld)), False
  if kind in ("indices", "out_of_range"):
    good = st.integers(0, nworld - 1)
    bad = st.one_of(st.integers(-5, -1), st.integers(nworld, nworld + 5), st.just(2 ** 70))
    idx = draw(st.lists(good, max_size=5))
    if kind == "out_of_range":
      idx.insert(draw(st.integers(0, len(idx))), draw(bad))
    expected = frozenset(idx) if kind == "indices" else _INVALID
    form = draw(st.sampled_from(["list", "tuple", "numpy", "torch"]))
    if form == "tuple":
      return tuple(idx), expected, False
    if form in ("numpy", "torch") and not (kind == "out_of_range" and max(idx) >= 2 ** 31):
      dtype = draw(st.sampled_from(["int64", "int32", "int16", "int8"]))
      arr = np.asarray(idx, dtype=dtype)
      if kind == "out_of_range" and not np.array_equal(arr, idx):
        return idx, expected, False  # does not fit the dtype: keep the list
      return (arr if form == "numpy" else torch.from_numpy(arr)), expected, False
    return idx, expected, False
  if kind in ("mask", "bad_mask"):
    # (an empty list is an empty index list, not a mask: no length 0 here)
    n = nworld if kind == "mask" else draw(st.sampled_from([1, nworld - 1, nworld + 1]))
    mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    expected = frozenset(i for i, b in enumerate(mask) if b) if kind == "mask" else _INVALID
    form = draw(st.sampled_from(["list", "numpy", "torch"]))
    if form == "numpy":
      mask = np.asarray(mask, dtype=bool)
    elif form == "torch":
      mask = torch.tensor(mask, dtype=torch.bool)
    return mask, expected, False
  if kind == "floats":
    values = draw(st.lists(st.floats(allow_nan=True), min_size=1, max_size=3))
    return draw(st.sampled_from([values, np.asarray(values), torch.tensor(values)])), _INVALID, False
  if kind == "scalar":
    # not a documented form: resetting that one world or a ValueError are both fine
    i = draw(st.integers(0, nworld - 1))
    return draw(st.sampled_from([i, np.int64(i), torch.tensor(i)])), frozenset([i]), True
  if kind == "nested":
    return [[0], [1]], _INVALID, False
  return draw(st.sampled_from(["0", b"0", {0: 1}, {0}, 1.5, np.float64(1.0), np.array([], dtype=np.float64),
                               torch.zeros(0), [0, [1]], object()])), _INVALID, False


_NSTEPS = _mostly(
  st.one_of(st.integers(0, 3), st.sampled_from([np.int64(2), np.int32(1), np.uint8(0)])),
  st.one_of(st.integers(-10, -1), st.floats(allow_nan=True), st.booleans(), st.none(),
            st.text(max_size=3), st.sampled_from([1.0, "1", [1], torch.tensor(1)])), one_in=2)
_MAX_QVEL = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 10 ** 6),
                      st.none(), st.booleans(), st.sampled_from(["fast", "", [1.0], {}, 1j]))
_RESET_ON = st.one_of(st.sampled_from(list(Health)), st.integers(-4, 40), st.booleans(), st.none(),
                      st.floats(), st.sampled_from([DEFAULT_RESET_ON, "NONFINITE", np.int64(9)]))


# ---- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory) -> pathlib.Path:
  return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def small_model():
  return pws.load_model(SMALL_XML, device="cpu")


@pytest.fixture(scope="module")
def sims() -> dict:
  """One humanoid Simulator per backend, shared by the tests of set_ctrl, reset and step."""
  model = pws.load_model("humanoid", device="cpu")
  out = {"warp": pws.Simulator(model, nworld=3, device="cpu", backend="warp")}
  if NATIVE_OK:
    out["native"] = pws.Simulator(model, nworld=4, device="cpu", backend="native")
  return out


# ---- 1. load_model ----------------------------------------------------------------------------

@FUZZ_MORE
@given(doc=mjcf_documents(), how=st.sampled_from(["xml", "str_path", "pathlib"]),
       nbank=_mostly(st.sampled_from([1, 1, 2, np.int64(3)]), _COUNT_ARG, one_in=10),
       nconmax=_mostly(st.sampled_from([None, None, 1, 64]), _COUNT_ARG, one_in=10))
def test_load_model_random_mjcf(doc, how, nbank, nconmax, tmp_dir):
  """Random small MJCF documents, as a string or a file (str or pathlib.Path), with random
  nbank / nconmax: a Model that steps, or a documented error; bad sizes always raise."""
  arg = doc
  if how != "xml":
    path = tmp_dir / "model.xml"
    path.write_text(doc)
    arg = path if how == "pathlib" else str(path)
  sizes_ok = _valid_count(nbank) and _valid_count(nconmax, allow_none=True)
  try:
    model = pws.load_model(arg, device="cpu", nbank=nbank, nconmax=nconmax)
  except LOAD_ERRORS as e:
    event(f"{type(e).__name__}: {str(e)[:30]}")
    assert str(e), f"{type(e).__name__} without a message"
    if not sizes_ok:
      assert isinstance(e, ValueError) and ("nbank" in str(e) or "nconmax" in str(e)), e
    return
  event("a Model")
  assert sizes_ok, f"load_model accepted nbank={nbank!r}, nconmax={nconmax!r}"
  assert isinstance(model, pws.Model) and model.nbank == nbank
  for backend in ("warp", "native") if NATIVE_OK else ("warp",):
    try:
      sim = pws.Simulator(model, nworld=2, device="cpu", backend=backend)
    except RuntimeError as e:  # native_backend.check_model: a feature the fused step lacks
      assert backend == "native" and "native" in str(e), e
      continue
    sim.step(2)  # may go non-finite with 1e30-sized geoms: flagged, never raised
    assert not int((sim.health & ~int(Health.NONFINITE | Health.CONTACT_OVERFLOW
                                      | Health.SOLVER_NOT_CONVERGED | Health.VELOCITY_BOUND)).any())
    sim.reset()
    _assert_finite(sim)


@FUZZ_MORE
@given(arg=st.one_of(st.text(max_size=40), st.text(max_size=40).map(lambda s: "<" + s),
                     st.text(max_size=20).map(pathlib.Path), _NOT_A_PATH))
@example(arg=".")
@example(arg=pathlib.Path(""))
@example(arg="")
@example(arg="\x00")
def test_load_model_random_arguments(arg):
  """Random strings, paths and objects: a Model, or ValueError / TypeError /
  FileNotFoundError with a message."""
  try:
    model = pws.load_model(arg, device="cpu")
  except LOAD_ERRORS as e:
    assert str(e)
    if not isinstance(arg, (str, pathlib.Path)):
      assert isinstance(e, TypeError), e
    return
  assert isinstance(model, pws.Model)


@pytest.mark.parametrize("as_path", [False, True])
def test_load_model_missing_file(tmp_dir, as_path):
  missing = tmp_dir / "no" / "such.xml"
  with pytest.raises(FileNotFoundError, match="does not exist"):
    pws.load_model(missing if as_path else str(missing))


# ---- 2. Simulator(...) --------------------------------------------------------------------------

@FUZZ
@given(nworld=_mostly(st.one_of(st.integers(1, 64), st.just(np.int64(3))),
                     st.one_of(st.integers(-3, 0), st.booleans(), st.none(), st.floats(0, 64), st.just("4")),
                     one_in=10),
       backend=_mostly(st.sampled_from(sorted(BACKEND_NAMES)), st.sampled_from(["Warp", "", None, 1]),
                       one_in=10),
       device=_mostly(st.just("cpu"), st.just("bogus"), one_in=10),
       nbank=_mostly(st.sampled_from([None, 1, 2, 64]), _COUNT_ARG, one_in=10),
       nconmax=_mostly(st.sampled_from([None, 1, 8]), _COUNT_ARG, one_in=10),
       max_qvel=_mostly(st.one_of(st.floats(1e-3, 1e6), st.just(math.inf)), _MAX_QVEL, one_in=10),
       reset_on=_mostly(st.sampled_from([DEFAULT_RESET_ON, Health.NONFINITE, Health.CONTACT_OVERFLOW | 12,
                                         int(Health.VELOCITY_BOUND)]), _RESET_ON, one_in=10),
       auto_reset=st.booleans())
def test_simulator_random_arguments(small_model, nworld, backend, device, nbank, nconmax, max_qvel,
                                    reset_on, auto_reset):
  """Random constructor arguments: a documented error, raised for every argument outside
  the contract; otherwise a Simulator with those settings and a finite state that steps."""
  valid = (_valid_count(nworld) and _valid_count(nbank, allow_none=True)
           and _valid_count(nconmax, allow_none=True) and _valid_max_qvel(max_qvel)
           and _valid_reset_on(reset_on) and backend in BACKEND_NAMES and device == "cpu"
           and (backend != "native" or NATIVE_OK))
  try:
    sim = pws.Simulator(small_model, nworld=nworld, device=device, backend=backend, nbank=nbank,
                        nconmax=nconmax, max_qvel=max_qvel, reset_on=reset_on, auto_reset=auto_reset)
  except SIMULATOR_ERRORS as e:
    event(type(e).__name__)
    assert str(e)
    assert not valid, f"valid arguments raised {type(e).__name__}: {e}"
    return
  event("a Simulator")
  assert valid, "invalid arguments were accepted"
  assert sim.nworld == nworld and sim.backend == (backend if backend in ("warp", "native") else sim.backend)
  assert sim.backend in ("warp", "native")
  assert sim.model.nbank == (nbank or small_model.nbank)
  assert sim.max_qvel == float(max_qvel) and sim.reset_on == int(reset_on)
  _assert_finite(sim)
  sim.step(1)
  _assert_finite(sim)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("nworld", [10 ** 9, 10 ** 12, 2 ** 62])
def test_simulator_huge_nworld_is_memory_error(small_model, backend, nworld):
  """A batch that cannot fit raises MemoryError before allocating (so at once)."""
  with pytest.raises(MemoryError, match="fewer worlds"):
    pws.Simulator(small_model, nworld=nworld, device="cpu", backend=backend)


# ---- 3. set_ctrl, reset, step, forward, setters -------------------------------------------------

def _moved(sim):
  """Puts every world away from the reference state (time > 0, controls set, bodies moving),
  so that a reset or a write is visible."""
  sim.ctrl[:] = 0.1
  sim.step(1)


@pytest.mark.parametrize("backend", BACKENDS)
@FUZZ
@given(data=st.data())
def test_set_ctrl_random_inputs(sims, backend, data):
  """Tensors of every shape, dtype, device and layout, NaN/Inf, lists, numpy: ValueError with
  nothing written, or exactly the values copied into sim.ctrl (no autograd graph)."""
  sim = sims[backend]
  x, valid = data.draw(ctrl_inputs(sim.nworld, sim.model.nu), label="ctrl")
  _moved(sim)
  before = _state(sim)
  try:
    sim.set_ctrl(x)
  except ValueError as e:
    event("ValueError")
    assert not valid, f"a valid ctrl raised: {e}"
    _assert_unchanged(before, sim, "set_ctrl")
    return
  assert valid, "set_ctrl accepted an invalid ctrl"
  assert _same_bits(sim.ctrl, x.detach())
  assert not sim.ctrl.requires_grad, "set_ctrl attached the input's autograd graph to sim.ctrl"
  for k in ("qpos", "qvel", "time"):
    assert _same_bits(before[k], getattr(sim, k)), f"set_ctrl changed {k}"


@pytest.mark.parametrize("backend", BACKENDS)
@FUZZ
@given(data=st.data(), recompute=st.booleans())
def test_reset_random_worlds(sims, backend, data, recompute):
  """Index lists/arrays/tensors (in and out of range), bool masks (right and wrong length),
  floats, scalars, other objects: ValueError with nothing reset, or exactly the named worlds
  back at the reference state and the others bit for bit as they were."""
  sim = sims[backend]
  worlds, expected, may_raise = data.draw(reset_worlds(sim.nworld), label="worlds")
  _moved(sim)
  before = _state(sim)
  try:
    sim.reset(worlds, recompute=recompute)
  except ValueError as e:
    event("ValueError")
    assert expected is _INVALID or may_raise, f"a valid reset raised: {e}"
    assert "reset" in str(e)
    _assert_unchanged(before, sim, "reset")
    return
  assert expected is not _INVALID, f"reset accepted {worlds!r}"
  qpos0 = torch.as_tensor(sim.model.host["qpos0"])
  for w in range(sim.nworld):
    if w in expected:
      assert torch.equal(sim.qpos[w], qpos0) and not sim.qvel[w].any() and not sim.ctrl[w].any()
      assert sim.time[w] == 0 and sim.health[w] == 0
    else:
      for k in ("qpos", "qvel", "ctrl", "act", "time"):
        assert _same_bits(before[k][w], getattr(sim, k)[w]), f"reset changed {k} of world {w}"
  _assert_finite(sim)


@pytest.mark.parametrize("backend", BACKENDS)
@FUZZ
@given(nsteps=_NSTEPS)
def test_step_random_counts(sims, backend, nsteps):
  """Counts of every type: ValueError naming nsteps with nothing stepped, or time advanced
  by nsteps * timestep and a finite state (then forward keeps it finite)."""
  sim = sims[backend]
  _moved(sim)
  before = _state(sim)
  valid = _valid_count(nsteps, minimum=0)
  try:
    sim.step(nsteps)
  except ValueError as e:
    event("ValueError")
    assert not valid, f"step({nsteps!r}) raised: {e}"
    assert "nsteps" in str(e)
    _assert_unchanged(before, sim, "step")
    return
  assert valid, f"step accepted {nsteps!r}"
  dt = torch.tensor(sim.model.opt.timestep, dtype=torch.float32)
  expected = before["time"].clone()
  for _ in range(int(nsteps)):
    expected += dt
  torch.testing.assert_close(sim.time, expected, rtol=0, atol=TIME_TOL)
  _assert_finite(sim)
  sim.forward()
  _assert_finite(sim)


@pytest.mark.parametrize("backend", BACKENDS)
@FUZZ
@given(max_qvel=_MAX_QVEL, reset_on=_RESET_ON)
def test_setters_random_values(sims, backend, max_qvel, reset_on):
  """sim.max_qvel / sim.reset_on: ValueError leaving the setting as it was, or the value."""
  sim = sims[backend]
  try:
    for name, value, ok in (("max_qvel", max_qvel, _valid_max_qvel(max_qvel)),
                            ("reset_on", reset_on, _valid_reset_on(reset_on))):
      old = getattr(sim, name)
      try:
        setattr(sim, name, value)
      except ValueError as e:
        assert not ok, f"sim.{name} = {value!r} raised: {e}"
        assert name in str(e) and getattr(sim, name) == old
        continue
      assert ok, f"sim.{name} accepted {value!r}"
      assert getattr(sim, name) == (float(value) if name == "max_qvel" else int(value))
    sim.step(1)
    _assert_finite(sim)
  finally:
    sim.max_qvel, sim.reset_on = 1e4, DEFAULT_RESET_ON


# ---- 4. checkpoint --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_dir):
  """A small sim, a checkpoint of it (bytes, and the state dict with its checksum) and the
  state it holds; the sim is then stepped on, away from the saved state."""
  sim = pws.Simulator(SMALL_XML, nworld=2, device="cpu", backend="warp")
  sim.ctrl[:] = 0.3
  sim.step(5)
  path = tmp_dir / "saved.pt"
  checkpoint.save(sim, path)
  blob = path.read_bytes()
  state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
  snap = _full_state(sim)
  sim.step(3)
  return sim, blob, state, snap


def _full_state(sim) -> dict:
  """Clones of everything a checkpoint load writes."""
  out = {f"sim/{k}": wp.to_torch(getattr(sim.data, k)).clone() for k in checkpoint.STATE}
  out |= {f"banks/{k}": wp.to_torch(a).clone() for k, a in sim.model.banks().items()}
  out |= {f"health_arrays/{k}": wp.to_torch(a).clone()
          for k, a in sim.health_arrays().items()}
  out["torch_rng"] = torch.get_rng_state()
  return out


def _assert_full_same(a: dict, b: dict, what: str):
  diff = [k for k in a if not _same_bits(a[k], b[k])]
  assert not diff, f"{what}: {diff} differ"


def _corrupt(blob: bytes, ops) -> bytes:
  """Applies corruption descriptors; positions are fractions of the current length."""
  data = bytearray(blob)
  for op in ops:
    kind = op[0]
    pos = min(int(op[1] * len(data)), max(len(data) - 1, 0))
    if kind == "flip" and data:
      data[pos] ^= op[2]
    elif kind == "truncate":
      del data[pos:]
    elif kind == "append":
      data += op[2]
    elif kind == "zero":
      data[pos:pos + op[2]] = bytes(len(data[pos:pos + op[2]]))
  return bytes(data)


_FRACTION = st.one_of(st.floats(0, 1, exclude_max=True), st.floats(0.9, 1, exclude_max=True))
_CORRUPTION = st.one_of(
  st.lists(st.tuples(st.just("flip"), _FRACTION, st.integers(1, 255)), min_size=1, max_size=8),
  st.tuples(st.just("truncate"), _FRACTION).map(lambda t: [t]),
  st.tuples(st.just("append"), st.just(1.0), st.binary(min_size=1, max_size=64)).map(lambda t: [t]),
  st.tuples(st.just("zero"), _FRACTION, st.integers(1, 512)).map(lambda t: [t]),
)


def _load_file(sim, path, what):
  """checkpoint.load: CheckpointError with everything as it was, or the saved state."""
  before = _full_state(sim)
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", CheckpointWarning)
      warnings.filterwarnings("ignore", message="Detected pickle protocol")  # torch, on a flipped byte
      checkpoint.load(sim, path)
  except CheckpointError as e:
    event(f"CheckpointError: {str(e)[len(str(path)) + 12:][:25]}")
    assert str(path) in str(e), "the message does not name the file"
    _assert_full_same(before, _full_state(sim), f"{what}: a refused load changed")
    return False
  return True


@FUZZ_MORE
@given(ops=_CORRUPTION)
def test_checkpoint_load_corrupted_file(saved, tmp_dir, ops):
  """A saved checkpoint with 1-8 flipped bytes, truncated, with junk appended or a range
  zeroed: CheckpointError naming the file with nothing written, or (the damage hit only
  padding) exactly the saved state."""
  sim, blob, _, snap = saved
  path = tmp_dir / "corrupted.pt"
  path.write_bytes(_corrupt(blob, ops))
  if _load_file(sim, path, "corrupted file"):
    event("loaded (the flips hit no data)")
    _assert_full_same(snap, _full_state(sim), "a corrupted file loaded but the state")
    sim.step(1)  # away from the saved state again


@FUZZ
@given(garbage=st.one_of(st.binary(max_size=2048), st.binary(max_size=256).map(lambda b: b"PK\x03\x04" + b)))
def test_checkpoint_load_garbage_file(saved, tmp_dir, garbage):
  """Random bytes (some behind a zip signature) are refused with nothing written."""
  sim = saved[0]
  path = tmp_dir / "garbage.pt"
  path.write_bytes(garbage)
  assert not _load_file(sim, path, "garbage file"), "a garbage file loaded"


_JSONISH = st.recursive(
  st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6),
            st.builds(torch.zeros, st.integers(0, 3))),
  lambda children: (st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=6), children, max_size=3)),
  max_leaves=12)


@FUZZ
@given(state=st.one_of(_JSONISH,
                       st.dictionaries(st.sampled_from(["format", "meta", "sim", "checksum"]), _JSONISH),
                       st.fixed_dictionaries({"format": st.just(checkpoint.FORMAT), "meta": _JSONISH},
                                             optional={"checksum": _JSONISH, "sim": _JSONISH})))
def test_load_state_dict_random_dicts(saved, state):
  """Random nested values, with or without a correct format tag, are refused with nothing
  written."""
  sim = saved[0]
  before = _full_state(sim)
  with pytest.raises(CheckpointError):
    checkpoint.load_state_dict(sim, state)
  _assert_full_same(before, _full_state(sim), "a refused state dict changed")


def _draw_replacement(data, old):
  """A value to put where `old` was: another type, or for a tensor one of the same dtype and
  shape with random bytes (a valid-looking entry with corrupt contents)."""
  if isinstance(old, torch.Tensor) and old.numel() and data.draw(st.booleans(), label="same layout"):
    raw = data.draw(st.binary(min_size=old.numel() * old.element_size(),
                              max_size=old.numel() * old.element_size()), label="bytes")
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(old.dtype).reshape(old.shape)
  return data.draw(_JSONISH, label="value")


def _mutate(data, state: dict) -> dict:
  """A copy of `state` with one entry replaced, deleted or added, chosen by walking down from
  the top (so that small top-level entries are hit as often as the large fingerprint)."""
  state = copy.deepcopy(state)
  node, key = state, None
  while True:
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    if node is state and "format" in keys:
      keys.remove("format")  # test_load_state_dict_random_dicts covers it; here it would end most draws
    if not keys:
      break
    key = data.draw(st.sampled_from(keys), label="key")
    child = node[key]
    if not isinstance(child, (dict, list)) or data.draw(st.integers(0, 3), label="descend") == 0:
      break
    node, key = child, None
  action = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]), label="action")
  if action == "add" and isinstance(node, dict):
    node[data.draw(st.text(max_size=6), label="new key")] = data.draw(_JSONISH, label="new value")
  elif action == "delete" and isinstance(node, dict) and key is not None:
    del node[key]
  elif key is not None:
    node[key] = _draw_replacement(data, node[key])
  return state


@FUZZ_MORE
@given(data=st.data(), keep_checksum=st.booleans(), nmutations=st.integers(1, 3))
def test_load_state_dict_mutated(saved, data, keep_checksum, nmutations):
  """A valid state dict with 1-3 entries replaced, deleted or added, with and without its
  checksum: CheckpointError with the state as it was, or a load of exactly those values."""
  sim, _, state, _ = saved
  if not keep_checksum:
    state = {k: v for k, v in state.items() if k != "checksum"}
  for _ in range(nmutations):
    state = _mutate(data, state)
  before = _full_state(sim)
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", CheckpointWarning)
      checkpoint.load_state_dict(sim, state)
  except CheckpointError as e:
    event(f"CheckpointError: {str(e)[12:][:25]}")
    _assert_full_same(before, _full_state(sim), "a refused state dict changed")
    return
  event("loaded")
  after = _full_state(sim)
  for name, t in after.items():
    group, _, key = name.partition("/")
    saved_value = state[group][key] if key else state[group]
    assert _same_bits(t, saved_value), f"{name} is not the loaded value"
  sim.step(1)


# ---- regressions found by the fuzzing above ------------------------------------------------------

def test_load_model_directory_is_a_clear_error(tmp_dir):
  """load_model('.') reached MuJoCo's parser, which said "empty file '.'" (and printed a
  warning about 2 GB files): a directory is named as such."""
  for arg in (str(tmp_dir), tmp_dir, pathlib.Path("")):
    with pytest.raises(ValueError, match="is a directory"):
      pws.load_model(arg)


@pytest.mark.parametrize("backend", BACKENDS)
def test_set_ctrl_does_not_keep_the_autograd_graph(sims, backend):
  """set_ctrl(policy_output) with requires_grad copied the graph into sim.ctrl: the view
  then required grad (sim.ctrl.numpy() raised) and held every previous action's graph."""
  sim = sims[backend]
  x = torch.full((sim.nworld, sim.model.nu), 0.2, requires_grad=True) * 1.0
  sim.set_ctrl(x)
  assert not sim.ctrl.requires_grad and sim.ctrl.grad_fn is None
  assert np.all(sim.ctrl.numpy() == np.float32(0.2))


@pytest.mark.skipif(not NATIVE_OK, reason="native backend unavailable")
def test_native_step_beyond_int32_is_a_clear_error(sims):
  """step(2**31) on backend='native' escaped as pybind11's 'incompatible function arguments'
  TypeError (the fused step takes a C int)."""
  sim = sims["native"]
  before = _state(sim)
  with pytest.raises(ValueError, match="nsteps"):
    sim.step(2 ** 31)
  _assert_unchanged(before, sim, "step")


def test_load_state_dict_invalid_rng_state_changes_nothing(saved):
  """A torch_rng entry of the right shape and dtype but not a generator state passed every
  check, the state was written, then torch.set_rng_state raised RuntimeError: a partial load."""
  sim, _, state, _ = saved
  state = {k: v for k, v in state.items() if k != "checksum"}
  state["torch_rng"] = torch.zeros_like(state["torch_rng"])
  before = _full_state(sim)
  with pytest.raises(CheckpointError, match="torch_rng"):
    checkpoint.load_state_dict(sim, state)
  _assert_full_same(before, _full_state(sim), "a refused state dict changed")


@pytest.mark.parametrize("entry", ["opt", "fields"])
def test_load_state_dict_malformed_fingerprint(saved, entry):
  """meta/model with another digest and a non-dict opt or fields escaped as AttributeError
  ('str' object has no attribute 'get') from the mismatch message."""
  sim, _, state, _ = saved
  state = copy.deepcopy({k: v for k, v in state.items() if k != "checksum"})
  state["meta"]["model"]["sha256"] = "0" * 64
  state["meta"]["model"][entry] = "junk"
  before = _full_state(sim)
  with pytest.raises(CheckpointError, match="another model"):
    checkpoint.load_state_dict(sim, state)
  _assert_full_same(before, _full_state(sim), "a refused state dict changed")


def test_load_state_dict_invalid_randomizer_generator_changes_nothing(saved):
  """The same partial load through a Randomizer: its generator state is checked with the
  others before anything is written."""
  sim = saved[0]
  randomizer = pws.randomize.Randomizer(sim, None, seed=3)
  state = checkpoint.state_dict(sim, randomizer=randomizer)
  state["randomizer"]["generator"] = torch.zeros_like(state["randomizer"]["generator"])
  sim.step(1)
  before, generator = _full_state(sim), randomizer.generator.get_state()
  with pytest.raises(CheckpointError, match="randomizer/generator"):
    checkpoint.load_state_dict(sim, state, randomizer=randomizer)
  _assert_full_same(before, _full_state(sim), "a refused state dict changed")
  assert torch.equal(randomizer.generator.get_state(), generator)


def test_simulator_numpy_nworld(small_model):
  """Simulator(nworld=np.int64(3)) passed the nworld check, then Warp's allocation raised
  "TypeError: 'numpy.int64' object is not iterable"."""
  sim = pws.Simulator(small_model, nworld=np.int64(3), device="cpu")
  assert sim.nworld == 3 and type(sim.nworld) is int
  sim.step(1)
