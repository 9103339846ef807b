"""checkpoint.save / load refuse what they cannot restore exactly, before changing anything.

Each test builds the failure a user met: a crafted pickle, a re-save that dies half-way, a
flipped or random byte in the file, a simulator of the same sizes but another model, backend
or workspace, and a state dict with a missing or reshaped entry. Every refusal must leave the
destination exactly as it was (compared with clones taken before the call).
"""

import contextlib
import errno
import os
import pathlib
import random
import re
import struct
import sys

import pytest
import torch
import warp as wp

import pywarp_sim as pws
from pywarp_sim import checkpoint, native
from pywarp_sim.errors import CheckpointError, CheckpointWarning

# Same sizes for every variant (nq 8, nv 7, nu 1, nbody 3, ngeom 3): only the physics differs.
XML = """
<mujoco>
  <option timestep="{timestep}" solver="{solver}" iterations="{iterations}"/>
  <worldbody>
    <geom type="plane" size="2 2 0.1"/>
    <body pos="0 0 0.3">
      <freejoint/>
      <geom type="box" size="0.1 0.1 0.05" density="{density}"/>
      <body pos="0.1 0 0">
        <joint name="hinge" type="hinge" axis="0 1 0" damping="0.1"/>
        <geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.03"/>
      </body>
    </body>
  </worldbody>
  <actuator><motor joint="hinge" gear="1"/></actuator>
</mujoco>
"""
OPTIONS = dict(timestep=0.005, solver="Newton", iterations=50, density=1000)
NWORLD = 2
# A qpos value whose float32 bytes occur once in the file, to find the qpos payload.
MARK = 1234.5678
NATIVE = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))


def _sim(nworld=NWORLD, backend="warp", **kw):
  options = OPTIONS | {k: kw.pop(k) for k in list(kw) if k in OPTIONS}
  return pws.Simulator(XML.format(**options), nworld=nworld, device="cpu", backend=backend, **kw)


def _run(sim, steps=10):
  sim.ctrl[:] = 0.3
  sim.step(steps)
  return sim


def _snapshot(sim) -> dict:
  """Clones of everything a load writes."""
  snap = {k: wp.to_torch(getattr(sim.data, k)).clone() for k in checkpoint.STATE}
  snap |= {k: wp.to_torch(a).clone() for k, a in sim.model.banks().items()}
  snap["health"] = sim.health.clone()
  snap["counters"] = dict(sim.counters)
  snap["torch_rng"] = torch.get_rng_state()
  return snap


def _assert_same(a: dict, b: dict):
  assert a.keys() == b.keys()
  for k in a:
    if isinstance(a[k], torch.Tensor):
      assert torch.equal(a[k], b[k]), f"{k} changed"
    else:
      assert a[k] == b[k], f"{k} changed"


@pytest.fixture
def saved(tmp_path):
  """(path, snapshot at save time) of a stepped simulator with a marked qpos."""
  sim = _run(_sim())
  sim.qpos[0, 0] = MARK
  path = tmp_path / "sim.pt"
  checkpoint.save(sim, path)
  return path, _snapshot(sim)


def _fresh():
  """A destination of the same model whose state differs from the saved one."""
  return _run(_sim(), 3)


# ---- 1. the file is never unpickled as code -------------------------------------------------

class _WritesMarker:
  def __init__(self, marker):
    self.marker = str(marker)

  def __reduce__(self):
    return open, (self.marker, "w")  # unpickling creates the marker file


def test_crafted_pickle_is_refused_without_running_it(tmp_path):
  marker = tmp_path / "pwned"
  path = tmp_path / "evil.pt"
  torch.save({"format": checkpoint.FORMAT, "sim": _WritesMarker(marker)}, path)
  sim = _fresh()
  before = _snapshot(sim)
  with pytest.raises(CheckpointError, match="evil.pt.*not loaded"):
    checkpoint.load(sim, path)
  assert not marker.exists(), "checkpoint.load executed code from the file"
  _assert_same(before, _snapshot(sim))
  torch.load(path, weights_only=False)  # the file is live: an unsafe load runs it
  assert marker.exists()


# ---- 2. a failed re-save keeps the previous checkpoint -------------------------------------

def test_failed_resave_keeps_the_previous_checkpoint(saved, monkeypatch):
  path, at_save = saved
  good = path.read_bytes()
  sim = _run(_sim(), 25)

  def disk_full(obj, f, *args, **kwargs):
    """torch.save on a full disk: part of the archive is written, then the write fails."""
    with contextlib.ExitStack() as stack:
      if isinstance(f, (str, os.PathLike)):
        f = stack.enter_context(open(f, "wb"))
      f.write(good[:len(good) // 3])
      raise OSError(errno.ENOSPC, "No space left on device")
  monkeypatch.setattr(torch, "save", disk_full)
  with pytest.raises(OSError, match="No space left") as failure:
    checkpoint.save(sim, path)
  monkeypatch.undo()
  assert path.read_bytes() == good
  assert sorted(p.name for p in path.parent.iterdir()) == ["sim.pt"], "temporary file left behind"
  assert any("unchanged" in note for note in getattr(failure.value, "__notes__", []))
  dest = _fresh()
  checkpoint.load(dest, path)
  _assert_same({k: v for k, v in at_save.items() if k != "torch_rng"},
               {k: v for k, v in _snapshot(dest).items() if k != "torch_rng"})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE / SIGXFSZ are POSIX")
def test_resave_under_a_file_size_limit_keeps_the_previous_checkpoint(saved):
  """The user's `ulimit -f`: writes past the limit fail with EFBIG (SIGXFSZ ignored)."""
  import resource
  import signal
  path, _ = saved
  good = path.read_bytes()
  sim = _run(_sim(), 25)
  old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
  old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  try:
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(good) // 2, old_limit[1]))
    with pytest.raises((OSError, RuntimeError)):
      checkpoint.save(sim, path)
  finally:
    resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
    signal.signal(signal.SIGXFSZ, old_handler)
  assert path.read_bytes() == good
  assert sorted(p.name for p in path.parent.iterdir()) == ["sim.pt"]


# ---- 3. corruption is found and named --------------------------------------------------------

def test_flipped_tensor_bytes_are_found_and_named(saved):
  path, _ = saved
  data = bytearray(path.read_bytes())
  mark = struct.pack("<f", MARK)
  assert data.count(mark) == 1, "the marked qpos value must locate the qpos payload"
  at = data.find(mark)
  data[at:at + 4] = bytes(b ^ 0xFF for b in data[at:at + 4])
  path.write_bytes(data)
  sim = _fresh()
  before = _snapshot(sim)
  with pytest.raises(CheckpointError, match=r"sim\.pt is corrupted: entry sim/qpos does not match the checksum"):
    checkpoint.load(sim, path)
  _assert_same(before, _snapshot(sim))


def test_random_corruption_raises_checkpoint_error_or_loads_the_saved_state(saved):
  """A byte changed anywhere (or a truncated file) never crashes and never half-loads: the load
  either raises CheckpointError leaving the destination as it was, or (a byte of zip padding or
  metadata torch does not read) restores exactly the saved state."""
  path, at_save = saved
  good = path.read_bytes()
  rng = random.Random(0)
  trials = [("flip", rng.randrange(len(good)), rng.randrange(1, 256)) for _ in range(80)]
  trials += [("truncate", n, 0) for n in (0, 10, len(good) // 2, len(good) - 1)]
  sim = _fresh()
  refused = 0
  for kind, at, xor in trials:
    data = bytearray(good)
    if kind == "flip":
      data[at] ^= xor
    else:
      del data[at:]
    path.write_bytes(data)
    before = _snapshot(sim)
    try:
      checkpoint.load(sim, path)
    except CheckpointError:
      refused += 1
      _assert_same(before, _snapshot(sim))
    else:
      assert kind == "flip"
      after = _snapshot(sim)
      _assert_same({k: v for k, v in at_save.items() if k != "torch_rng"},
                   {k: v for k, v in after.items() if k != "torch_rng"})
      torch.set_rng_state(before["torch_rng"])
  assert refused >= len(trials) // 2, f"only {refused} of {len(trials)} corruptions were refused"


# ---- 4. another model, sizes, workspace, backend, version ----------------------------------

@pytest.mark.parametrize("change, named", [
  (dict(timestep=0.002), r"opt \(timestep 0\.005 saved vs 0\.002 here\)"),
  (dict(density=500), r"body \(body_inertia, .*body_mass"),
  (dict(solver="CG"), r"opt \(solver 2 saved vs 1 here\)"),
  (dict(iterations=20), r"opt \(iterations 50 saved vs 20 here\)"),
])
def test_another_model_of_the_same_sizes_is_refused(saved, change, named):
  path, _ = saved
  sim = _run(_sim(**change), 3)
  before = _snapshot(sim)
  with pytest.raises(CheckpointError, match="written for another model: .*" + named):
    checkpoint.load(sim, path)
  _assert_same(before, _snapshot(sim))


@pytest.mark.parametrize("kwargs, named", [
  (dict(nworld=NWORLD + 1), "nworld"),
  (dict(nbank=NWORLD), "nbank"),
])
def test_other_sizes_are_refused_naming_the_field(saved, kwargs, named):
  path, _ = saved
  sim = _sim(**kwargs)
  before = _snapshot(sim)
  with pytest.raises(CheckpointError, match=f"sizes do not match.*'{named}'"):
    checkpoint.load(sim, path)
  _assert_same(before, _snapshot(sim))


@NATIVE
def test_another_backend_is_refused_unless_allowed_then_warns(saved):
  path, at_save = saved
  sim = _run(_sim(backend="native"), 3)
  before = _snapshot(sim)
  with pytest.raises(CheckpointError, match="backend 'warp' saved, 'native' here.*allow_backend_change=True"):
    checkpoint.load(sim, path)
  _assert_same(before, _snapshot(sim))
  with pytest.warns(CheckpointWarning, match="not bit-exact"):
    checkpoint.load(sim, path, allow_backend_change=True)
  _assert_same({k: v for k, v in at_save.items() if k != "torch_rng"},
               {k: v for k, v in _snapshot(sim).items() if k != "torch_rng"})


@NATIVE
def test_another_workspace_resumes_bit_exactly(tmp_path):
  """The per-thread workspace holds nothing a checkpoint saves: a run saved with
  workspace='world' resumes with workspace='thread' on the same trajectory."""
  sim = _run(_sim(backend="native"))
  checkpoint.save(sim, tmp_path / "native.pt")
  dest = _sim(backend="native", workspace="thread")
  checkpoint.load(dest, tmp_path / "native.pt")
  sim.step(5)
  dest.step(5)
  assert torch.equal(dest.qpos, sim.qpos) and torch.equal(dest.qvel, sim.qvel)


def test_another_package_version_warns_and_loads():
  src = _run(_sim())
  state = checkpoint.state_dict(src)
  state["meta"]["package_version"] = "0.0.0.other"
  dest = _fresh()
  with pytest.warns(CheckpointWarning, match="written by pywarp_sim 0.0.0.other"):
    checkpoint.load_state_dict(dest, state)
  assert torch.equal(dest.qpos, src.qpos)


def test_format_1_file_is_refused_as_unverifiable(tmp_path):
  path = tmp_path / "old.pt"
  torch.save({"format": "pywarp_sim.checkpoint/1", "sizes": {"nworld": NWORLD}}, path)
  with pytest.raises(CheckpointError, match="older pywarp_sim version.*cannot be verified"):
    checkpoint.load(_sim(), path)


# ---- 5. everything is checked before anything is written ------------------------------------

def _drop(state, *keys):
  d = state
  for k in keys[:-1]:
    d = d[k]
  del d[keys[-1]]


def _reshape(state, *keys):
  d = state
  for k in keys[:-1]:
    d = d[k]
  d[keys[-1]] = d[keys[-1]][:, :-1]


def _retype(state, *keys):
  d = state
  for k in keys[:-1]:
    d = d[k]
  d[keys[-1]] = d[keys[-1]].double()


@pytest.mark.parametrize("edit, keys, named", [
  (_drop, ("sim", "qvel"), "sim/qvel: missing"),
  (_drop, ("banks", "body_mass"), "banks/body_mass: missing"),
  (_drop, ("torch_rng",), "torch_rng: missing"),
  (_reshape, ("sim", "qpos"), r"sim/qpos: torch.float32 \(2, 7\) saved, torch.float32 \(2, 8\) here"),
  (_reshape, ("banks", "geom_friction"), "banks/geom_friction: .* saved"),
  (_retype, ("sim", "ctrl"), "sim/ctrl: torch.float64"),
])
def test_a_bad_entry_is_named_and_nothing_is_written(edit, keys, named):
  state = checkpoint.state_dict(_run(_sim(), 20))
  edit(state, *keys)
  sim = _fresh()
  before = _snapshot(sim)
  with pytest.raises(Exception) as refused:
    checkpoint.load_state_dict(sim, state)
  _assert_same(before, _snapshot(sim))  # first: nothing was written, whatever was raised
  assert isinstance(refused.value, CheckpointError) and re.search(named, str(refused.value)), refused.value


def test_randomizer_state_missing_is_refused_before_writing():
  from pywarp_sim import randomize
  state = checkpoint.state_dict(_run(_sim()))
  sim = _fresh()
  before = _snapshot(sim)
  with pytest.raises(CheckpointError, match="no Randomizer state"):
    checkpoint.load_state_dict(sim, state, randomizer=randomize.Randomizer(sim, None))
  _assert_same(before, _snapshot(sim))


# ---- the resume itself ------------------------------------------------------------------------

def test_str_and_pathlike_paths_resume_bit_exactly(tmp_path):
  sim = _run(_sim())
  checkpoint.save(sim, str(tmp_path / "run.pt"))
  expected = _run(sim, 15).qpos.clone()
  dest = _fresh()
  checkpoint.load(dest, pathlib.Path(tmp_path) / "run.pt")
  assert torch.equal(_run(dest, 15).qpos, expected)
  assert os.listdir(tmp_path) == ["run.pt"]
