"""The public Simulator: zero-copy torch views, stepping, resets, health flags."""

import mujoco
import numpy as np
import pytest
import torch

import pywarp_sim as pws


@pytest.fixture(scope="module")
def sim():
  return pws.Simulator("humanoid", nworld=8, device="cpu")


def test_views_share_storage(sim):
  q = sim.qpos
  assert q.shape == (8, sim.model.nq) and q.dtype == torch.float32
  assert q.data_ptr() == sim.data.qpos.ptr
  assert sim.xpos.shape == (8, sim.model.nbody, 3)
  assert sim.qM.shape == (8, sim.model.nv, sim.model.nv)
  before = q[:, 2].clone()
  sim.step(3)
  assert not torch.equal(before, q[:, 2]), "a view taken before step must see the step"


def test_ctrl_writes_reach_the_simulation(sim):
  sim.reset()
  sim.ctrl[:] = 0.5
  assert np.allclose(sim.data.ctrl.numpy()[:, :sim.model.nu], 0.5)
  sim.step(1)
  assert torch.all(sim.actuator_force[:, 0] != 0)


def test_partial_reset_restores_reference_state(sim):
  sim.ctrl[:] = 0.3
  sim.step(5)
  moved = sim.qpos.clone()
  sim.reset(torch.tensor([1, 4]))
  qpos0 = torch.tensor(sim.model.mj_model.qpos0, dtype=torch.float32)
  for w in range(8):
    if w in (1, 4):
      assert torch.allclose(sim.qpos[w], qpos0) and torch.all(sim.qvel[w] == 0)
      assert torch.all(sim.ctrl[w] == 0) and sim.time[w] == 0
    else:
      assert torch.equal(sim.qpos[w], moved[w])
  # derived quantities were recomputed for the reset worlds
  mjm = sim.model.mj_model
  mjd = mujoco.MjData(mjm)
  mujoco.mj_kinematics(mjm, mjd)
  assert np.allclose(sim.xpos[1].numpy(), mjd.xpos, atol=1e-5)


def test_reset_validates_worlds(sim):
  with pytest.raises(ValueError, match="mask"):
    sim.reset(torch.ones(3, dtype=torch.bool))
  with pytest.raises(ValueError, match="out of range"):
    sim.reset(torch.tensor([8]))


def test_nan_world_is_flagged_and_isolated():
  sim = pws.Simulator("humanoid", nworld=4, device="cpu")
  sim.qvel[2, 0] = float("nan")
  sim.step(2)
  health = sim.health.clone()
  assert health[2] & pws.Health.NONFINITE
  assert torch.all(health[[0, 1, 3]] == 0)
  assert torch.isfinite(sim.qpos[[0, 1, 3]]).all()
  assert sim.counters["nonfinite"] >= 1


def test_auto_reset_recovers_flagged_worlds():
  sim = pws.Simulator("humanoid", nworld=3, device="cpu", auto_reset=True)
  sim.qpos[1, 2] = float("inf")
  sim.step(1)
  assert torch.isfinite(sim.qpos).all()
  assert sim.counters["auto_resets"] == 1
  assert torch.all(sim.health == 0)


def test_unknown_backend_is_explained():
  with pytest.raises(ValueError, match="backend"):
    pws.Simulator("humanoid", nworld=1, device="cpu", backend="jax")


def test_ncon_view_counts_contacts():
  sim = pws.Simulator("humanoid", nworld=2, device="cpu")
  assert sim.ncon.shape == (2,) and torch.all(sim.ncon == 0)  # standing start, feet above floor
  sim.step(200)
  assert torch.all(sim.ncon > 0)
  assert sim.ncon.data_ptr() == sim.data.contact.ncon.ptr


@pytest.mark.parametrize("backend", ["warp", "native"])
def test_contact_capacity_bound(backend):
  """A documented smaller nconmax shrinks memory; exceeding it is flagged, never silent."""
  full = pws.Simulator("humanoid", nworld=2, device="cpu", backend=backend)
  small = pws.Simulator("humanoid", nworld=2, device="cpu", backend=backend, nconmax=24)
  assert small.data.efc.nefc_max < full.data.efc.nefc_max / 4
  tiny = pws.Simulator("humanoid", nworld=2, device="cpu", backend=backend, nconmax=1)
  for sim in (small, tiny):
    sim.step(300)  # lying on the floor: several contacts per world
  assert torch.all(small.health & pws.Health.CONTACT_OVERFLOW == 0)
  assert torch.all(tiny.ncon == 1)
  assert torch.all(tiny.health & pws.Health.CONTACT_OVERFLOW != 0)
  assert tiny.counters["contact_overflow"] > 0
