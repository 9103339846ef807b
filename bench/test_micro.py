"""Micro-benchmarks of the Warp pipeline stages (pytest-benchmark), humanoid, nworld=64.

Not collected by CI (it runs tests/ only). Run on demand:

  PWS_KERNEL_CACHE=build/warp-cache .venv/bin/python -m pytest bench/test_micro.py --benchmark-only

PWS_BENCH_DEVICE (default "cpu") and PWS_BENCH_NWORLD (default 64) pick the device and the
number of worlds. Every timed call ends with wp.synchronize_device, so GPU times are real.
Stages that do not exist yet (collision, constraint solver) skip themselves.
"""

import importlib
import importlib.util
import os

import pytest
import torch

from bench import common

wp = common.quiet_warp()
import pywarp_sim as pws  # noqa: E402
from pywarp_sim import forward, smooth  # noqa: E402

DEVICE = os.environ.get("PWS_BENCH_DEVICE", "cpu")
NWORLD = int(os.environ.get("PWS_BENCH_NWORLD", "64"))


def _optional(module: str, fn: str):
  """module.fn if that module exists and defines it, else None."""
  if importlib.util.find_spec(module) is None:
    return None
  return getattr(importlib.import_module(module), fn, None)


@pytest.fixture(scope="module")
def sim():
  s = pws.Simulator(pws.load_model("humanoid", device=DEVICE), nworld=NWORLD, device=DEVICE)
  ctrl = common.random_controls(s.model.mj_model, NWORLD)
  s.ctrl[:] = torch.as_tensor(ctrl, dtype=s.ctrl.dtype).to(s.ctrl.device)
  _sync(s)
  s.step(10)  # off the reference pose: joints moving, some limits active
  s.forward()
  _sync(s)
  return s


def _sync(sim):
  """Finishes Warp's work and torch's (they use different CUDA streams)."""
  wp.synchronize_device(sim.device)
  if sim.device.is_cuda:
    torch.cuda.synchronize(sim.qpos.device)


def _bench(benchmark, sim, fn):
  m, d = sim.model, sim.data

  def call():
    with wp.ScopedDevice(sim.device):
      fn(m, d)
    wp.synchronize_device(sim.device)

  call()  # compile / load outside the measurement
  benchmark.extra_info.update(device=DEVICE, device_name=common.device_name(DEVICE), nworld=NWORLD)
  benchmark(call)


def test_kinematics(benchmark, sim):
  _bench(benchmark, sim, smooth.kinematics)


def test_com_pos(benchmark, sim):
  _bench(benchmark, sim, smooth.com_pos)


def test_crb_factor_m(benchmark, sim):
  def crb_factor(m, d):
    smooth.crb(m, d)
    smooth.factor_m(m, d)
  _bench(benchmark, sim, crb_factor)


def test_rne(benchmark, sim):
  _bench(benchmark, sim, smooth.rne)


def test_collision(benchmark, sim):
  collision = _optional("pywarp_sim.collision_driver", "collision")
  if collision is None:
    pytest.skip("pywarp_sim.collision_driver.collision does not exist yet")
  if sim.model.collision is None:
    pytest.skip("the model has no collision pairs (Model.collision is None)")
  _bench(benchmark, sim, collision)


def test_constraint_rows(benchmark, sim):
  make_rows = _optional("pywarp_sim.constraint", "make_constraint")
  if make_rows is None or _optional("pywarp_sim.solver", "solve") is None:
    pytest.skip("constraint rows / solver not implemented yet")
  _bench(benchmark, sim, make_rows)


def test_solver(benchmark, sim):
  solve = _optional("pywarp_sim.solver", "solve")
  if solve is None:
    pytest.skip("pywarp_sim.solver.solve does not exist yet")
  _bench(benchmark, sim, solve)


def test_forward(benchmark, sim):
  _bench(benchmark, sim, forward.forward)


def test_step(benchmark, sim):
  # Each round starts from the same state, so the solver's work does not drift with time.
  # (qacc_warmstart too: a warm start from the very state being solved converges at once.)
  names = ("qpos", "qvel", "act", "qacc_warmstart", "time")
  _sync(sim)
  state = {n: getattr(sim, n).clone() for n in names}

  def restore():
    for n in names:
      getattr(sim, n).copy_(state[n])
    _sync(sim)

  def step():
    sim.step(1)
    wp.synchronize_device(sim.device)

  restore()
  step()  # compile / load outside the measurement
  benchmark.extra_info.update(device=DEVICE, device_name=common.device_name(DEVICE), nworld=NWORLD)
  benchmark.pedantic(step, setup=restore, rounds=200, warmup_rounds=5, iterations=1)
