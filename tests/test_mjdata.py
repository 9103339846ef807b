"""world_to_mjdata: one world of a Simulator as a mujoco.MjData (MuJoCo C derives the rest).

Oracle: MuJoCo C's mj_forward on the copied state against the simulator's own forward pass."""

import mujoco
import numpy as np
import pytest
import torch

import pywarp_sim as pws
from pywarp_sim.mjdata import STATE_FIELDS, world_to_mjdata

from tolerances import POS_TOL

NWORLD = 4
WORLD = 3


@pytest.fixture(scope="module")
def stepped():
  """NWORLD humanoids driven apart (per-world random controls, applied forces and wrenches),
  then forward() so that the derived fields describe the current state (after step() they
  are those of the state before the last integration, as in MuJoCo's mj_step)."""
  sim = pws.Simulator("humanoid", nworld=NWORLD, device="cpu")
  g = torch.Generator().manual_seed(0)
  sim.qfrc_applied[:] = torch.rand(sim.qfrc_applied.shape, generator=g) - 0.5
  sim.xfrc_applied[:, 1] = torch.rand((NWORLD, 6), generator=g) * 10 - 5  # on the torso
  for _ in range(30):
    sim.ctrl[:] = torch.rand(sim.ctrl.shape, generator=g) * 2 - 1
    sim.step()
  sim.forward()
  return sim


def _nan_mjdata(mjm):
  """An MjData whose state and derived fields hold NaN: a copy that writes nothing fails."""
  mjd = mujoco.MjData(mjm)
  for name in ("qpos", "qvel", "act", "ctrl", "qacc_warmstart", "qfrc_applied", "xfrc_applied",
               "xpos", "xquat"):
    getattr(mjd, name)[...] = np.nan
  mjd.time = np.nan
  return mjd


def test_world_to_mjdata_copies_the_state_and_matches_the_worlds_kinematics(stepped):
  sim = stepped
  mjm = sim.model.mj_model
  mjd = world_to_mjdata(sim, WORLD, _nan_mjdata(mjm))
  assert mjd.time == pytest.approx(float(sim.time[WORLD]), abs=0) and mjd.time > 0
  for name in STATE_FIELDS:
    if name == "time":
      continue
    ours = getattr(sim, name)[WORLD].cpu().numpy()
    theirs = getattr(mjd, name)
    np.testing.assert_array_equal(theirs, ours[tuple(slice(0, n) for n in theirs.shape)],
                                  err_msg=name)  # float32 -> float64 is exact
  xpos = sim.xpos[WORLD].cpu().numpy()
  np.testing.assert_allclose(mjd.xpos, xpos, rtol=0, atol=POS_TOL)
  # the test can tell the worlds apart: world 0's bodies are far outside the tolerance
  assert np.abs(mjd.xpos - sim.xpos[0].cpu().numpy()).max() > 100 * POS_TOL


def test_world_to_mjdata_reuses_an_mjdata_and_makes_one_when_none(stepped):
  sim = stepped
  fresh = world_to_mjdata(sim, WORLD)
  reused = mujoco.MjData(sim.model.mj_model)
  assert world_to_mjdata(sim, WORLD, reused) is reused
  np.testing.assert_array_equal(reused.xpos, fresh.xpos)


def test_world_to_mjdata_rejects_a_world_or_mjdata_that_does_not_fit(stepped):
  sim = stepped
  with pytest.raises(IndexError, match=r"world 4 .* 4 worlds \(0 to 3\)"):
    world_to_mjdata(sim, NWORLD)
  with pytest.raises(IndexError):
    world_to_mjdata(sim, -1)
  other = mujoco.MjModel.from_xml_string(
    "<mujoco><worldbody><body><joint type='slide'/><geom size='.1'/></body></worldbody></mujoco>")
  with pytest.raises(ValueError, match="mujoco.MjData\\(sim.model.mj_model\\)"):
    world_to_mjdata(sim, 0, mujoco.MjData(other))
