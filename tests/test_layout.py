"""Simulator(layout="tiled"): the workspace arrays in tiles of 32 worlds, [tile][scalar][lane]
(kernels/types.h WorldArray, types.TILED_ROLES), stepped staged (kernels/step_stage.h gathers a
world from its tile and scatters it back). The oracle is the world-major layout: the same
trajectories bit for bit, every Data array the native step touches read back equal."""

import numpy as np
import pytest
import torch
import warp as wp

import pywarp_sim as pws
from pywarp_sim import native, native_backend
from pywarp_sim.types import LAYOUT_TILE

import oracle
from assets import MODELS
from backends import simulator

pytestmark = [pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu")),
              pytest.mark.filterwarnings("ignore::pywarp_sim.pairs.ConvexCollisionWarning")]

NWORLD = 37  # a full tile and a partial one
STEPS = 200
NAN_STEP, NAN_WORLD = 50, 33  # a world of the partial tile goes NaN and is auto-reset


def _controls(mjm, nworld: int, steps: int, seed: int) -> torch.Tensor:
  """(steps, nworld, nu) random controls: uniform in the range of a limited actuator, else in
  [-1, 1]."""
  rng = np.random.default_rng(seed)
  lo, hi = mjm.actuator_ctrlrange.T.copy()
  free = mjm.actuator_ctrllimited == 0
  lo[free], hi[free] = -1.0, 1.0
  return torch.as_tensor(rng.uniform(lo, hi, (steps, nworld, mjm.nu)), dtype=torch.float32)


def _bits(t: torch.Tensor) -> torch.Tensor:
  """The tensor's bits (float32 as int32): equal NaNs compare equal, -0.0 and 0.0 do not."""
  return t.contiguous().view(torch.int32) if t.dtype == torch.float32 else t


def _arrays(sim) -> dict:
  """{layout name: (nworld, ...) copy} of every per-world Data array of the native step (tiled
  ones in world order through native_backend.world_major), and the global counters."""
  out = {}
  for e in native_backend.step_layout(sim):
    if not e["group"].startswith("data") and e["group"] != "global_int":
      continue
    name = e["name"]
    if e["group"] == "global_int":
      out[name] = wp.to_torch(native_backend.data_array(sim, name)).clone()
    elif not (sim.workspace == "thread" and name in native_backend.WORKSPACE_FIELDS):
      out[name] = native_backend.world_major(sim, name)
  return out


def _run(mjm, controls, threads: int = 1, **kw) -> tuple:
  """Steps NWORLD worlds STEPS times under `controls`, one world NaN at NAN_STEP (auto reset);
  then resets a third of the worlds and runs forward. Returns (after the steps, after the reset)."""
  sim = simulator(mjm, NWORLD, "native", auto_reset=True, **kw)
  native_backend.set_num_threads(sim, threads)
  for s in range(STEPS):
    sim.ctrl[:, :mjm.nu] = controls[s]
    if s == NAN_STEP:
      sim.qvel[NAN_WORLD, 0] = float("nan")
    sim.step()
  stepped = _arrays(sim)
  sim.reset(torch.arange(NWORLD) % 3 == 0)
  sim.forward()
  return sim, stepped, _arrays(sim)


def _assert_equal(got: dict, want: dict, label: str, skip=()):
  for name, ref in want.items():
    if name in skip:
      continue
    assert name in got, f"{label}: {name} not read back"
    assert got[name].shape == ref.shape, f"{label}: {name} {tuple(got[name].shape)} vs {tuple(ref.shape)}"
    assert torch.equal(_bits(got[name]), _bits(ref)), f"{label}: {name} differs"


@pytest.mark.parametrize("name", ["humanoid", *MODELS])
def test_tiled_matches_world_major_bitwise(name):
  """200 steps of random controls over 37 worlds (a tile and a partial one), one world NaN and
  auto-reset, then a partial reset and forward: the tiled layout's state, derived and workspace
  arrays (read back in world order) and counters equal the world-major layout's bit for bit, on
  2 threads (and 1 for the humanoid); the per-world arrays equal those of workspace="thread" too."""
  mjm = oracle.mj_model(name)
  controls = _controls(mjm, NWORLD, STEPS, seed=len(name))
  _, ref_step, ref_reset = _run(mjm, controls)
  assert int(ref_step["counters"][4]) >= 1, "the NaN world was not auto-reset"  # Simulator.COUNTERS
  for threads in ((1, 2) if name == "humanoid" else (2,)):
    sim, got_step, got_reset = _run(mjm, controls, threads=threads, layout="tiled")
    assert sim.data.qM.shape[0] == -(-NWORLD // LAYOUT_TILE) * LAYOUT_TILE
    _assert_equal(got_step, ref_step, f"{name} tiled threads={threads} step")
    _assert_equal(got_reset, ref_reset, f"{name} tiled threads={threads} reset")
  _, thread_step, thread_reset = _run(mjm, controls, workspace="thread")
  per_thread = native_backend.WORKSPACE_FIELDS  # rows of no particular world
  _assert_equal(thread_step, ref_step, f"{name} workspace=thread step", per_thread)
  _assert_equal(thread_reset, ref_reset, f"{name} workspace=thread reset", per_thread)


def test_tiled_views_reads_and_errors():
  """The state and derived fields keep their (nworld, ...) zero-copy views; a tiled field raises
  naming world_major, which returns it in world order; bad layouts and combinations raise by
  name; the lane-group kernels and an unstaged step refuse tiled arrays."""
  mjm = oracle.mj_model("humanoid")
  world = simulator(mjm, 5, "native")
  tiled = simulator(mjm, 5, "native", layout="tiled")
  for field in ("qpos", "qvel", "ctrl", "act", "qfrc_applied", "xfrc_applied", "sensordata", "xpos", "cvel",
                "qacc", "actuator_force"):
    assert getattr(tiled, field).shape == getattr(world, field).shape, field
  tiled.qpos[:, 2] += 0.1  # a view: the write reaches the step
  tiled.forward()
  assert float(tiled.xpos[0, 1, 2]) != float(world.xpos[0, 1, 2])
  assert tiled.data.qM.shape == (LAYOUT_TILE, mjm.nv, mjm.nv)
  with pytest.raises(AttributeError, match=r"sim.qM is stored in tiles.*world_major\(sim, 'qM'\)"):
    _ = tiled.qM
  assert "qM" not in dir(tiled) and "xpos" in dir(tiled) and "qM" in dir(world)
  qm = native_backend.world_major(tiled, "qM")
  assert qm.shape == (5, mjm.nv, mjm.nv)
  # the tiled memory holds world w's scalar i at [w // 32][i][w % 32]
  raw = wp.to_torch(tiled.data.qM).reshape(-1)
  for w, i in ((0, 0), (3, 7), (4, mjm.nv * mjm.nv - 1)):
    assert float(raw[(w // LAYOUT_TILE) * LAYOUT_TILE * mjm.nv ** 2 + i * LAYOUT_TILE + w % LAYOUT_TILE]) == \
        float(qm.reshape(5, -1)[w, i])
  world.qpos[:, 2] += 0.1
  world.forward()
  assert torch.equal(qm, world.qM)
  with pytest.raises(ValueError, match="layout must be one of"):
    simulator(mjm, 4, "native", layout="tile")
  with pytest.raises(ValueError, match="layout='tiled'.*backend='native'"):
    simulator(mjm, 4, "warp", layout="tiled")
  with pytest.raises(ValueError, match="layout='tiled'.*workspace='thread'"):
    simulator(mjm, 4, "native", layout="tiled", workspace="thread")
  with pytest.raises(ValueError, match="layout='tiled' steps staged only"):
    native_backend.set_staging(tiled, False)
  with pytest.raises(RuntimeError, match="layout='tiled'.*pywarp_sim.simt"):
    native_backend.build_tables(tiled, native_backend.step_layout(tiled))
  # the C++ step itself refuses tiled arrays unstaged
  st = native_backend.stepper(tiled)
  st.plan.staging = False
  with pytest.raises(ValueError, match="tiled.*staged"):
    st.plan.step(1, 1)
  st.plan.staging = True
  sim = pws.Simulator("humanoid", nworld=1, device="cpu", backend="auto", layout="tiled")
  assert sim.backend == "native" and sim.data.qM.shape[0] == LAYOUT_TILE


def test_tiled_memory_per_world():
  """Tiling pads the workspace to whole tiles and adds nothing else: at a multiple of the tile
  the bytes per world equal the world-major layout's."""
  mjm = oracle.mj_model("humanoid")
  a = native_backend.state_bytes_per_world(simulator(mjm, 64, "native"))
  b = native_backend.state_bytes_per_world(simulator(mjm, 64, "native", layout="tiled"))
  assert a == b
  c = native_backend.state_bytes_per_world(simulator(mjm, 33, "native", layout="tiled"))
  assert c["data"] > a["data"]


def test_layout_proxy_sectors():
  """bench.proxies.layout_records, from the step's own address arithmetic: a warp's access of
  one scalar of 32 worlds touches 32 x 4 bytes / 32-byte sectors = 4 sectors in a tiled array,
  one sector per world in a world-major one (a humanoid world is ~237 KB); the tiled layout
  lowers the staged copies' mean and keeps the bytes per world (64 worlds: whole tiles)."""
  from bench import proxies
  world, tiled = proxies.layout_records("humanoid")
  assert (world["layout"], tiled["layout"]) == ("world", "tiled")
  assert world["sectors_per_request_by_array"]["median"] == 32
  assert tiled["sectors_per_request_by_array"]["median"] == 4
  assert tiled["sectors_per_request"] < world["sectors_per_request"] / 3
  assert tiled["persistent_bytes_per_world"] == world["persistent_bytes_per_world"]
