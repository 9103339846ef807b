"""The public Simulator: zero-copy torch views, stepping, resets, health flags."""

import mujoco
import numpy as np
import pytest
import torch
import warp as wp

import pywarp_sim as pws
from pywarp_sim import io, native

import oracle
from tolerances import POS_TOL


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
  assert oracle.rel_err(sim.xpos[1].numpy(), mjd.xpos) < POS_TOL


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


@pytest.mark.parametrize("name", ["equality_zoo", "actuator_zoo"])
def test_reset_sets_every_state_field_like_mj_resetData(name):
  """Every Data field of role state (types.py; what checkpoints save) is set by reset to the
  value mj_resetData gives the MjData field of that name, in the reset world only. A state
  field the reset kernel misses keeps the 7s written here. (Columns past MuJoCo's size are
  padding of an empty array and unused.)"""
  from assets import MODELS

  from pywarp_sim import checkpoint, types
  mjm = mujoco.MjModel.from_xml_string(MODELS[name])
  sim = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=3, device="cpu", backend="warp")
  state = [f.name for f in types.DATA_FIELDS if f.role == types.Role.STATE]
  assert tuple(state) == checkpoint.STATE
  sim.step(3)
  views = {k: wp.to_torch(getattr(sim.data, k)) for k in state}
  for t in views.values():
    t.fill_(7)
  sim.reset(torch.tensor([1]), recompute=False)
  mjd = mujoco.MjData(mjm)
  mujoco.mj_resetData(mjm, mjd)
  for k, t in views.items():
    ours = t.numpy().reshape(3, -1)
    want = np.asarray(getattr(mjd, k), dtype=ours.dtype).reshape(-1)
    np.testing.assert_array_equal(ours[1, :want.size], want, err_msg=k)
    assert np.all(ours[[0, 2]] == 7), f"{k}: reset wrote into a world it was not asked to reset"


@pytest.mark.parametrize("backend", ["warp", "native"])
def test_reset_writes_exactly_the_schema_reset_set(backend):
  """Reset derives from types.py: the state fields and types.RESET_CLEARS are written in the
  reset world only (to their declared init / zero); every other Data array keeps its values."""
  if backend == "native" and not native.available("cpu"):
    pytest.skip(native.unavailable_reason("cpu"))
  from pywarp_sim import types
  sim = pws.Simulator("humanoid", nworld=3, device="cpu", backend=backend)
  sim.step(20)  # contacts and constraint rows present
  written = dict(types.reset_fields())
  assert set(types.RESET_CLEARS) <= set(written)
  arrays = {}
  for group, fields in ((sim.data, types.DATA_FIELDS), (sim.data.contact, types.CONTACT_FIELDS),
                        (sim.data.efc, types.EFC_FIELDS)):
    prefix = "" if group is sim.data else ("contact." if group is sim.data.contact else "efc.")
    for f in fields:
      a = getattr(group, f.name, None)
      if isinstance(a, wp.array) and a.shape and a.shape[0] == 3 and not f.alias:
        arrays[prefix + f.name] = (a.shape, wp.to_torch(a))
  for _, t in arrays.values():
    t.fill_(7)
  sim.reset(torch.tensor([1]), recompute=False)
  for path, (shape, t) in arrays.items():
    rows = t.reshape(3, -1)
    assert torch.all(rows[[0, 2]] == 7), f"{path}: reset wrote into a world it was not asked to reset"
    if path in written:
      want = io.initial_value(sim.model, written[path], (1,) + tuple(shape[1:])).reshape(-1)
      np.testing.assert_array_equal(rows[1].numpy(), want.astype(rows.numpy().dtype), err_msg=path)
    else:
      assert torch.all(rows[1] == 7), f"{path}: reset wrote a field outside types.reset_fields()"
  assert int(sim.health[1]) == 0


def test_dir_lists_the_data_arrays(sim):
  """Tab completion: dir(sim) has the Data arrays served as views (types.DATA_FIELDS), each of
  which resolves, besides the methods; not the containers (contact, efc)."""
  from pywarp_sim import types
  names = dir(sim)
  arrays = [f.name for f in types.DATA_FIELDS if f.role not in (types.Role.SIZE, types.Role.GROUP)]
  assert set(arrays) <= set(names) and {"step", "reset", "model", "data"} <= set(names)
  assert "contact" not in names and "efc" not in names
  for name in arrays:
    assert isinstance(getattr(sim, name), torch.Tensor), name


@pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))
def test_dir_leaves_out_the_per_thread_workspace():
  from pywarp_sim import types
  sim = pws.Simulator("humanoid", nworld=2, device="cpu", backend="native", workspace="thread")
  names = set(dir(sim))
  workspace = {f.name for f in types.DATA_FIELDS if f.role == types.Role.WORKSPACE}
  assert {"qM", "cinert", "qpos_t0"} <= workspace and not workspace & names
  assert {"qpos", "xpos", "cvel", "qfrc_constraint"} <= names
  with pytest.raises(AttributeError, match="per thread"):
    sim.qM
