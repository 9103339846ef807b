"""Bad input and faults at the Simulator's public entries: clear errors, nothing silently
wrong, both backends alike (the probes of an adversarial user; see README "Limits")."""

import pathlib
import threading

import numpy as np
import pytest
import torch
import warp as wp

import pywarp_sim as pws
from pywarp_sim import forward, models, native
from pywarp_sim import simulator as simulator_mod
from pywarp_sim.simulator import Health

BACKENDS = ["warp", pytest.param("native", marks=pytest.mark.skipif(
  not native.available("cpu"), reason=native.unavailable_reason("cpu")))]

FREE_BALL = """<mujoco><worldbody><geom type="plane" size="1 1 .1"/>
  <body><geom type="sphere" size=".1"/></body></worldbody></mujoco>"""


def test_auto_backend_is_native_where_it_runs():
  sim = pws.Simulator("humanoid", nworld=2)
  expect = "native" if native.available("cpu") else "warp"
  assert sim.backend == expect and sim.backend_reason.startswith("auto:")
  from assets import EQUALITY_ZOO  # equality constraints run natively too (kernels/equality.h)
  eq = pws.Simulator(EQUALITY_ZOO, nworld=2)
  assert eq.backend == expect and eq.backend_reason.startswith("auto:")


def test_nbank_zero_is_rejected_not_a_crash():
  """load_model(nbank=0) then Simulator(m) killed the process (world % nbank in a kernel)."""
  with pytest.raises(ValueError, match="nbank must be an integer >= 1"):
    pws.load_model("humanoid", nbank=0)
  with pytest.raises(ValueError, match="nbank"):
    pws.Simulator("humanoid", nbank=0)
  with pytest.raises(ValueError, match="nworld"):
    pws.Simulator("humanoid", nworld=0)
  with pytest.raises(ValueError, match="nworld"):
    pws.Simulator("humanoid", nworld=2.5)
  with pytest.raises(ValueError, match="nconmax"):
    pws.Simulator("humanoid", nconmax=-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_and_reset_arguments(backend):
  sim = pws.Simulator("humanoid", nworld=3, backend=backend)
  before = sim.qpos.clone()
  for bad in (-1, 2.7, "3", True):
    with pytest.raises(ValueError, match="nsteps must be an integer >= 0"):
      sim.step(bad)
  sim.step(0)  # nothing
  assert torch.equal(sim.qpos, before)
  sim.step(2)
  moved = sim.qpos.clone()
  sim.reset(worlds=[])  # an empty list resets nothing
  assert torch.equal(sim.qpos, moved)
  sim.reset(worlds=torch.tensor([], dtype=torch.int64))
  assert torch.equal(sim.qpos, moved)
  with pytest.raises(ValueError, match="reset worlds"):
    sim.reset(worlds=[0.5])
  with pytest.raises(ValueError, match="out of range"):
    sim.reset(worlds=[3])


def test_paths_and_options_validated(tmp_path):
  m = pws.load_model(pathlib.Path(models.path("humanoid")))  # os.PathLike
  assert m.nq > 0
  with pytest.raises(FileNotFoundError):
    pws.load_model(tmp_path / "missing.xml")
  with pytest.raises(TypeError, match="os.PathLike"):
    pws.load_model(12)
  mjm = models.mj_model("humanoid")
  mjm.opt.timestep = -0.002
  with pytest.raises(ValueError, match="opt.timestep must be a finite number of seconds > 0"):
    pws.put_model(mjm)
  for bad in (float("nan"), 0.0, -1.0, "fast"):
    with pytest.raises(ValueError, match="max_qvel"):
      pws.Simulator("humanoid", max_qvel=bad)
  sim = pws.Simulator("humanoid")
  with pytest.raises(ValueError, match="max_qvel"):
    sim.max_qvel = float("nan")


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_dof_model_runs_on_both_backends(backend):
  sim = pws.Simulator(FREE_BALL, nworld=2, backend=backend)
  sim.step(3)
  assert sim.qpos.shape == (2, 0) and float(sim.time[0]) == pytest.approx(3 * sim.model.opt.timestep)


@pytest.mark.parametrize("name", ["humanoid", "ball_humanoid"])  # ball_humanoid: EPA pool too
def test_memory_estimate_equals_what_make_data_allocates(name):
  from pywarp_sim import io
  from assets import MODELS
  import warnings
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    m = pws.load_model(MODELS.get(name, name))
  for nworld, rows in ((1, None), (3, None), (5, 2)):
    d = pws.make_data(m, nworld, "cpu", workspace_rows=rows)
    seen, allocated, stack = set(), 0, [d]
    while stack:  # every Warp array reachable from the Data, once
      for v in vars(stack.pop()).values():
        if isinstance(v, wp.array) and id(v) not in seen:
          seen.add(id(v))
          allocated += v.capacity
        elif hasattr(v, "__dict__") and not isinstance(v, (type, pws.Model)) and id(v) not in seen:
          seen.add(id(v))
          stack.append(v)
    assert io.data_nbytes(m, nworld, rows) == allocated, (name, nworld, rows)


def test_memory_estimate_refuses_before_allocating():
  with pytest.raises(MemoryError, match=r"bytes per world"):
    pws.Simulator("humanoid", nworld=10 ** 9)


def _rk4_overflow_truth(mjm, nworld, nsteps, nconmax):
  """Per step and world: whether any of the step's collision passes found > nconmax contacts,
  from the Warp pipeline run pass by pass (pair_ncon summed after each collision call)."""
  from pywarp_sim import collision_driver
  m = pws.put_model(mjm, "cpu", nconmax=nconmax)
  d = pws.make_data(m, nworld, "cpu")
  rng = np.random.default_rng(3)
  qpos = np.tile(mjm.qpos0, (nworld, 1))
  qpos[:, 2] = rng.uniform(0.3, 0.6, nworld)  # on the floor: around nconmax contacts
  quat = rng.normal(size=(nworld, 4))
  qpos[:, 3:7] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
  d.qpos.assign(qpos.astype(np.float32))
  passes = []
  original = collision_driver.collision

  def spy(m_, d_):
    original(m_, d_)
    passes.append(d_.contact.pair_ncon.numpy().sum(axis=1) > nconmax)

  truth = []
  collision_driver.collision = spy
  try:
    for _ in range(nsteps):
      passes.clear()
      forward.step(m, d)
      truth.append(np.any(passes, axis=0))
  finally:
    collision_driver.collision = original
  return qpos, np.array(truth)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rk4_overflow_in_any_collision_pass_is_flagged(backend):
  """RK4 runs collision four times per step; each pass overwrote the overflow flag, so
  overflows in earlier passes went unflagged (native 7 of 16, Warp 8 of 21 steps)."""
  mjm = models.mj_model("humanoid")
  mjm.opt.integrator = 1  # RK4
  nworld, nsteps, nconmax = 8, 30, 6
  qpos, truth = _rk4_overflow_truth(mjm, nworld, nsteps, nconmax)
  assert truth.sum() >= 5 and not truth.all(), "states must overflow in some steps"
  sim = pws.Simulator(pws.put_model(mjm, "cpu", nconmax=nconmax), nworld=nworld, backend=backend)
  sim.qpos[:] = torch.as_tensor(qpos, dtype=torch.float32)
  sim.forward()  # mj_forward counts its own overflow events in overflow_count
  forward_events = int(sim.data.contact.overflow_count.numpy()[0])
  flagged = []
  for _ in range(nsteps):
    sim.step()
    flagged.append(sim.data.contact.overflow.numpy().astype(bool))
  flagged = np.array(flagged)
  if backend == "warp":  # the same pipeline: the same steps
    np.testing.assert_array_equal(flagged, truth)
  else:  # float rounding differs across backends; every true overflow is still flagged
    assert (flagged & truth).sum() >= truth.sum() - 1
  events = int(flagged.sum())
  assert sim.counters["contact_overflow"] == events
  assert int(sim.data.contact.overflow_count.numpy()[0]) - forward_events == events
  assert np.all((sim.health.numpy() & int(Health.CONTACT_OVERFLOW)) != 0) == flagged.any(axis=0).all()


def test_assigning_a_data_field_raises_with_the_in_place_spelling():
  sim = pws.Simulator("humanoid", nworld=2)
  t = torch.ones_like(sim.qfrc_applied)
  with pytest.raises(AttributeError, match=r"sim.qfrc_applied\[:\] = value"):
    sim.qfrc_applied = t
  with pytest.raises(AttributeError, match=r"sim.ctrl\[:\] = value"):
    sim.ctrl = torch.zeros_like(sim.ctrl)
  with pytest.raises(AttributeError, match="fixed at construction"):
    sim.backend = "native"
  sim.qfrc_applied[:] = t  # in place: applied
  assert float(sim.qfrc_applied.sum()) == t.numel()
  sim.auto_reset = True  # settings stay settable
  sim.reset_on = Health.NONFINITE
  with pytest.raises(ValueError, match="reset_on"):
    sim.reset_on = 64


def test_two_threads_on_one_simulator_raise(monkeypatch):
  sim = pws.Simulator("humanoid", nworld=2, backend="warp")
  entered, release = threading.Event(), threading.Event()
  real_step = forward.step

  def slow_step(m, d):
    entered.set()
    release.wait(10)
    real_step(m, d)

  monkeypatch.setattr(simulator_mod._forward, "step", slow_step)
  worker = threading.Thread(target=sim.step)
  worker.start()
  assert entered.wait(10)
  try:
    with pytest.raises(RuntimeError, match="not thread-safe"):
      sim.step()
    with pytest.raises(RuntimeError, match="not thread-safe"):
      sim.reset()
  finally:
    release.set()
    worker.join()
  monkeypatch.undo()
  sim.step()  # usable again once the other call returned
  assert torch.isfinite(sim.qpos).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_bank_row_parks_the_world(backend):
  """A NaN in one world's body_mass bank with auto_reset: the world was reset every step
  forever while sim.health read 0. Now it is parked (flagged, left alone), once."""
  sim = pws.Simulator("humanoid", nworld=4, nbank=4, backend=backend, auto_reset=True)
  mass = torch.as_tensor(sim.model.body_mass.numpy().copy())
  poisoned = mass.clone()
  poisoned[2, 3] = float("nan")
  import warp as wp
  wp.to_torch(sim.model.body_mass).copy_(poisoned)
  sim.step(20)
  health = sim.health.numpy()
  assert health[2] & int(Health.PARKED) and health[2] & int(Health.NONFINITE)
  assert np.all(health[[0, 1, 3]] == 0)
  c = sim.counters
  assert c["parked"] == 1 and c["auto_resets"] == 0 and c["nonfinite"] == 1
  assert sim.last_reset_flags.numpy()[2] & int(Health.NONFINITE)
  # fixed bank + explicit reset: the world steps again
  wp.to_torch(sim.model.body_mass).copy_(mass)
  sim.reset(worlds=[2])
  sim.step(5)
  assert sim.health.numpy()[2] == 0 and torch.isfinite(sim.qpos[2]).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_auto_reset_policy_counts_but_does_not_reset_not_converged(backend):
  """MJX-tuned scenes (few solver iterations) hit the iteration limit every step; MuJoCo C
  carries on, and so does auto_reset by default (go2 was reset on 3,200 of 3,200 steps)."""
  mjm = models.mj_model("humanoid")
  mjm.opt.iterations = 1
  mjm.opt.ls_iterations = 1
  sim = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=4, backend=backend, auto_reset=True)
  sim.step(60)
  c = sim.counters
  assert c["solver_not_converged"] > 0 and c["auto_resets"] == 0
  assert float(sim.time[0]) > 0.05  # never reset
  assert np.all(sim.health.numpy() & int(Health.SOLVER_NOT_CONVERGED))
  # opting in resets them, and says why
  sim2 = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=4, backend=backend, auto_reset=True,
                       reset_on=Health.NONFINITE | Health.SOLVER_NOT_CONVERGED)
  sim2.step(60)
  assert sim2.counters["auto_resets"] > 0
  assert np.any(sim2.last_reset_flags.numpy() & int(Health.SOLVER_NOT_CONVERGED))


def test_flags_and_meta_tensors_are_validated_before_any_change():
  sim = pws.Simulator("humanoid", nworld=2, backend="warp")
  sim.step(2)
  before = sim.qpos.clone()
  for bad in (1, "yes", np.array([True, False]), None):
    with pytest.raises(ValueError, match="auto_reset must be True or False"):
      sim.auto_reset = bad
    with pytest.raises(ValueError, match="recompute must be True or False"):
      sim.reset(recompute=bad)
  with pytest.raises(ValueError, match="auto_reset must be True or False"):
    pws.Simulator("humanoid", auto_reset="no")
  for bad in (True, "5", None):
    with pytest.raises(ValueError, match="max_qvel must be a number > 0"):
      sim.max_qvel = bad
  with pytest.raises(ValueError, match="meta device"):
    sim.reset(worlds=torch.tensor([0], device="meta"))
  assert torch.equal(sim.qpos, before)
  sim.auto_reset = np.True_  # numpy bools are bools
  assert sim.auto_reset is True
