"""Simulator state for training backends: zero-copy views, DLPack, CUDA graphs, per-world
health flags, isolation of non-finite worlds, auto reset, partial resets, control validation."""

import mujoco
import numpy as np
import pytest
import torch
import warp as wp

import pywarp_sim as pws
from pywarp_sim import pairs

import oracle
from tolerances import CONVERGED_CONTACT_QACC_MAX_TOL, POS_TOL

NWORLD = 8
STEPS = 30  # the humanoid lands after ~10 steps; NaN worlds run the solver to its limit (slow)


def _humanoid(nworld=NWORLD, **kw):
  return pws.Simulator("humanoid", nworld=nworld, device="cpu", **kw)


def _drive(sim, steps, seed=0, inject=None):
  """Random initial velocities and random controls (same for every run with the same seed);
  `inject(sim, t)` may corrupt the state before step t. Returns qpos, qvel per step."""
  g = torch.Generator().manual_seed(seed)
  sim.qvel.copy_(0.3 * torch.randn(sim.qvel.shape, generator=g))
  traj = []
  for t in range(steps):
    sim.ctrl.copy_(torch.rand(sim.ctrl.shape, generator=g) * 2 - 1)
    if inject is not None:
      inject(sim, t)
    sim.step()
    traj.append((sim.qpos.clone(), sim.qvel.clone()))
  return traj


# ---- zero copy ------------------------------------------------------------------------------

STATE_VIEWS = ("qpos", "qvel", "qacc", "ctrl", "act", "time", "qacc_warmstart", "qfrc_applied",
               "xfrc_applied", "xpos", "xquat", "qM", "actuator_force", "subtree_com")


def test_every_state_view_shares_storage_with_warp():
  sim = _humanoid(4)
  for name in STATE_VIEWS:
    arr = getattr(sim.data, name)
    t = getattr(sim, name)
    if t.numel() == 0:  # act: humanoid.xml has no activations (na = 0)
      continue
    assert t.data_ptr() == arr.ptr, name
    assert t.device == sim.torch_device
  assert sim.health.data_ptr() == sim._health.ptr


def test_views_taken_before_step_see_the_step_and_writes_reach_warp():
  sim = _humanoid(4)
  qpos, qvel, time, xpos = sim.qpos, sim.qvel, sim.time, sim.xpos
  before = (qpos.clone(), qvel.clone(), xpos.clone())
  sim.step(2)
  assert not torch.equal(qpos, before[0]) and not torch.equal(qvel, before[1])
  assert not torch.equal(xpos, before[2])
  assert torch.allclose(time, torch.full((4,), 2 * sim.model.opt.timestep))
  assert np.array_equal(sim.data.qpos.numpy(), qpos.numpy())
  sim.ctrl[:, 3] = 0.25
  assert np.all(sim.data.ctrl.numpy()[:, 3] == np.float32(0.25))
  sim.qvel[1, 0] = 7.0
  assert sim.data.qvel.numpy()[1, 0] == 7.0


def test_dlpack_roundtrip_shares_memory():
  sim = _humanoid(2)
  t = torch.from_dlpack(sim.qpos)
  assert t.data_ptr() == sim.data.qpos.ptr


def test_cupy_through_dlpack():
  cupy = pytest.importorskip("cupy")
  if not wp.is_cuda_available():
    pytest.skip("needs a CUDA device")
  sim = pws.Simulator("humanoid", nworld=4, device="cuda:0")
  a = sim.to_cupy("qpos")
  b = cupy.from_dlpack(sim.qvel)
  assert a.data.ptr == sim.data.qpos.ptr and b.data.ptr == sim.data.qvel.ptr
  a[0, 0] = 3.0
  assert float(sim.qpos[0, 0]) == 3.0


def test_to_cupy_without_cupy_says_how_to_install(monkeypatch):
  import builtins
  real_import = builtins.__import__

  def no_cupy(name, *a, **k):
    if name == "cupy":
      raise ImportError("No module named 'cupy'")
    return real_import(name, *a, **k)
  monkeypatch.setattr(builtins, "__import__", no_cupy)
  with pytest.raises(ImportError, match="pywarp_sim\\[cupy\\]"):
    _humanoid(1).to_cupy("qpos")


def test_graph_option_is_a_noop_on_cpu():
  a, b = _humanoid(4), _humanoid(4, graph=True)
  assert b.capture() is None
  ta, tb = _drive(a, 5), _drive(b, 5)
  assert torch.equal(ta[-1][0], tb[-1][0])


@pytest.mark.gpu
def test_cuda_graph_step_matches_eager_step_bitwise():
  ref = pws.Simulator("humanoid", nworld=64, device="cuda:0")
  sim = pws.Simulator("humanoid", nworld=64, device="cuda:0", graph=True, auto_reset=True)
  for s in (ref, sim):
    s.qvel.copy_(0.1 * torch.ones_like(s.qvel))
  graph = sim.capture()
  assert graph is not None
  qpos_view = sim.qpos
  for _ in range(20):
    ref.step()
    sim.step()
  torch.cuda.synchronize()
  assert torch.equal(qpos_view, ref.qpos) and torch.equal(sim.qvel, ref.qvel)
  # torch work queued before step on the current stream is seen by the replayed graph
  sim.qvel.zero_()
  ref.qvel.zero_()
  sim.step(3)
  ref.step(3)
  assert torch.equal(sim.qpos, ref.qpos)
  # auto_reset inside the graph: a NaN world is reset on the device
  sim.qpos[5, 2] = float("nan")
  sim.step()
  assert torch.isfinite(sim.qpos).all() and sim.counters["auto_resets"] == 1


# ---- health flags -------------------------------------------------------------------------------

def test_nan_in_qpos_qvel_ctrl_flags_only_those_worlds_and_others_are_bitwise_clean():
  bad = {1: "qpos", 4: "qvel", 6: "ctrl"}

  def inject(sim, t):
    if t == 5:
      sim.qpos[1, 9] = float("nan")
    if t == 10:
      sim.qvel[4, 2] = float("inf")
    if t >= 15:
      sim.ctrl[6, 0] = float("nan")  # the controller keeps sending NaN to world 6

  clean = _drive(_humanoid(), STEPS)
  sim = _humanoid()
  dirty = _drive(sim, STEPS, inject=inject)
  good = [w for w in range(NWORLD) if w not in bad]
  for (cq, cv), (dq, dv) in zip(clean, dirty):
    assert torch.equal(cq[good], dq[good]) and torch.equal(cv[good], dv[good])
  health = sim.health
  for w in bad:
    assert health[w] & pws.Health.NONFINITE, (w, bad[w])
  assert torch.all(health[good] == 0)
  assert sim.counters["nonfinite"] >= 3


def test_auto_reset_resets_flagged_worlds_in_place_and_counts():
  def inject(sim, t):
    if t == 10:
      sim.qpos[2, 7] = float("nan")
    if t == 20:
      sim.qvel[5, 0] = float("nan")

  clean = _drive(_humanoid(auto_reset=True), STEPS)
  sim = _humanoid(auto_reset=True)
  qpos_view = sim.qpos
  dirty = _drive(sim, STEPS, inject=inject)
  good = [0, 1, 3, 4, 6, 7]
  for (cq, cv), (dq, dv) in zip(clean, dirty):
    assert torch.equal(cq[good], dq[good]) and torch.equal(cv[good], dv[good])
  assert torch.isfinite(qpos_view).all() and torch.all(sim.health == 0)
  assert sim.counters["auto_resets"] == 2 and sim.counters["nonfinite"] == 2
  # right after its reset, world 2 was back at the reference state
  qpos0 = torch.tensor(sim.model.mj_model.qpos0, dtype=torch.float32)
  assert torch.equal(dirty[10][0][2], qpos0) and torch.all(dirty[10][1][2] == 0)


def test_auto_reset_world_continues_like_a_fresh_world():
  """A world reset by auto_reset (warm start and contacts dropped) then evolves exactly like a
  world of a fresh simulator: nothing of its failed episode survives."""
  sim = _humanoid(2, auto_reset=True)
  sim.qvel[1] = 0.5
  sim.step(5)
  sim.qpos[1, 0] = float("nan")
  sim.step()          # flagged and reset
  fresh = _humanoid(1)
  for _ in range(15):
    sim.step()
    fresh.step()
  assert torch.equal(sim.qpos[1], fresh.qpos[0]) and torch.equal(sim.qvel[1], fresh.qvel[0])


def test_velocity_bound_flag():
  sim = _humanoid(3, max_qvel=50.0)
  sim.qvel[0, 6] = 80.0
  sim.step()
  assert sim.health[0] & pws.Health.VELOCITY_BOUND and not sim.health[0] & pws.Health.NONFINITE
  assert torch.all(sim.health[1:] == 0)
  assert sim.counters["velocity_bound"] == 1


def test_contact_overflow_flag():
  from pywarp_sim import models
  mjm = models.mj_model("humanoid")
  model = pws.put_model(mjm, "cpu")
  model.collision = pairs.build_pairs(mjm, "cpu", nconmax=2)
  sim = pws.Simulator(model, nworld=2, device="cpu")
  sim.qpos[0, 2] = 1.20  # world 0 pressed into the floor: 4 foot contacts > capacity 2
  sim.qpos[1, 2] = 3.00  # world 1 in the air
  sim.step()
  assert sim.health[0] & pws.Health.CONTACT_OVERFLOW
  assert sim.health[1] == 0
  assert sim.counters["contact_overflow"] == 1


def test_solver_not_converged_flag():
  mjm = pws.load_model("humanoid").mj_model
  mjm.opt.iterations = 1  # one Newton iteration cannot converge with contacts and limits
  mjm.opt.tolerance = 1e-12
  sim = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=2, device="cpu")
  sim.qpos[0, 2] = 1.22   # in contact: constraint rows, solver must iterate
  sim.qpos[1, 2] = 3.0    # free fall, within joint limits: nefc == 0, never flagged
  sim.qpos[1, 7:] = torch.tensor(mjm.qpos0[7:], dtype=torch.float32)
  sim.qpos[1, 7 + 6] = -0.3  # right knee inside its range
  sim.qpos[1, 7 + 12] = -0.3
  sim.step()
  nefc = wp.to_torch(sim.data.efc.nefc)
  assert nefc[0] > 0 and nefc[1] == 0
  assert sim.health[0] & pws.Health.SOLVER_NOT_CONVERGED
  assert sim.health[1] == 0
  assert sim.counters["solver_not_converged"] >= 1


# ---- resets -------------------------------------------------------------------------------------

def test_partial_reset_recomputes_derived_quantities_of_reset_worlds_only():
  sim = _humanoid(4)
  _drive(sim, 30)
  wp.to_torch(sim.data.qacc_warmstart)[:] = 1.0
  keep = [0, 2]
  before = {k: getattr(sim, k)[keep].clone() for k in ("qpos", "qvel", "ctrl", "time")}
  ws_before = wp.to_torch(sim.data.qacc_warmstart)[keep].clone()
  sim.reset(torch.tensor([False, True, False, True]))
  for k, v in before.items():
    assert torch.equal(getattr(sim, k)[keep], v), k
  assert torch.equal(wp.to_torch(sim.data.qacc_warmstart)[keep], ws_before)
  # reset worlds: reference state, zero warm start, derived quantities = mj_forward at qpos0
  mjm = sim.model.mj_model
  mjd = mujoco.MjData(mjm)
  mujoco.mj_forward(mjm, mjd)
  ncon = wp.to_torch(sim.data.contact.ncon)
  for w in (1, 3):
    assert torch.all(wp.to_torch(sim.data.qacc_warmstart)[w] == 0)
    assert sim.time[w] == 0 and torch.all(sim.ctrl[w] == 0)
    assert oracle.rel_err(sim.xpos[w].numpy(), mjd.xpos) < POS_TOL
    assert ncon[w] == mjd.ncon
    assert oracle.rel_err(sim.qacc[w].numpy(), mjd.qacc) < CONVERGED_CONTACT_QACC_MAX_TOL


def test_state_only_reset_drops_contacts_and_warm_start():
  sim = _humanoid(2)
  sim.step(40)  # landed: contacts
  ncon = wp.to_torch(sim.data.contact.ncon)
  assert torch.all(ncon > 0)
  sim.reset(torch.tensor([True, False]), recompute=False)
  assert ncon[0] == 0 and ncon[1] > 0
  assert wp.to_torch(sim.data.efc.nefc)[0] == 0
  assert torch.all(wp.to_torch(sim.data.qacc_warmstart)[0] == 0)


def test_reset_with_a_device_mask_needs_no_indices():
  sim = _humanoid(3)
  sim.step(3)
  mask = sim.time > 0  # bool tensor on the simulator's device
  mask[1] = False
  sim.reset(mask)
  assert sim.time[0] == 0 and sim.time[1] > 0 and sim.time[2] == 0


# ---- control validation -----------------------------------------------------------------------

def test_set_ctrl_rejects_bad_actions_with_a_clear_message():
  sim = _humanoid(3)
  nu = sim.model.nu
  good = torch.zeros(3, nu)
  sim.set_ctrl(good + 0.5)
  assert torch.all(sim.ctrl == 0.5)
  with pytest.raises(ValueError, match=r"shape \(3, 20\), expected \(3, 21\)"):
    sim.set_ctrl(torch.zeros(3, nu - 1))
  with pytest.raises(ValueError, match=r"dtype torch.float64.*\.float\(\)"):
    sim.set_ctrl(good.double())
  bad = good.clone()
  bad[2, 4] = float("nan")
  with pytest.raises(ValueError, match=r"NaN/Inf in worlds \[2\].*nan_to_num"):
    sim.set_ctrl(bad)
  with pytest.raises(ValueError, match="torch.Tensor"):
    sim.set_ctrl(np.zeros((3, nu), np.float32))
  meta = torch.zeros(3, nu, device="meta")
  with pytest.raises(ValueError, match=r"device meta.*\.to\('cpu'\)"):
    sim.set_ctrl(meta)
  assert torch.all(sim.ctrl == 0.5), "a rejected action must not be applied"


@pytest.mark.parametrize("backend,nworld,steps", [("native", 32, 40), ("warp", 8, 20)])
def test_fault_injection_bench_finds_no_leaks(backend, nworld, steps):
  """bench/faults.py at a small size: every injected non-finite value is flagged in its step
  and reset away, and the never-injected worlds equal a fault-free twin bit for bit."""
  if backend == "native" and not _native_built():
    pytest.skip("native module not built")
  from bench import faults
  rec = faults.run_faults(backend, "humanoid", "cpu", nworld, steps, fault_rate=0.1, seed=1)
  assert rec["injections"] > 0 and rec["auto_resets"] >= 1
  assert rec["total_leaks"] == 0, rec["first_leak"]
  assert rec["twin_auto_resets"] == 0


def _native_built() -> bool:
  from pywarp_sim import native_backend
  try:
    native_backend.require("cpu")
  except RuntimeError:
    return False
  return True


@pytest.mark.parametrize("backend", ["warp", "native"])
def test_nan_applied_force_is_flagged_not_dropped(backend):
  """A NaN in xfrc_applied is applied (MuJoCo's mju_isZero test), so it reaches qacc and the
  world is flagged, rather than being skipped as a zero force."""
  if backend == "native" and not _native_built():
    pytest.skip("native module not built")
  sim = pws.Simulator("humanoid", nworld=3, device="cpu", backend=backend)
  sim.xfrc_applied[1, 5, 2] = float("nan")
  sim.qfrc_applied[2, 7] = float("nan")
  sim.step()
  h = sim.health.numpy()
  assert h[0] == 0 and h[1] & pws.Health.NONFINITE and h[2] & pws.Health.NONFINITE
