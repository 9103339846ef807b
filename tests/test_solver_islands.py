"""Constraint islands on the native backend (kernels/solver.h solve_islands), against MuJoCo C.

MuJoCo (mj_island, on unless mjDSBL_ISLAND) splits the constraint rows into islands, the dof
trees that rows couple, and solves each island on its own: its own warm start choice, Newton
factor, line search and stopping rule; dofs that no row touches keep qacc_smooth. The native
solver does the same on the CPU. Checked here: two humanoids apart (the self-play world, two
islands in every state) and three capsules, two on the floor and one in the air, against
MuJoCo's qacc in MuJoCo's own rollout states with its warm start (Newton with both cones and
CG); the free capsule's qacc equals qacc_smooth bit for bit; with mjDSBL_ISLAND the rows are
solved together, and both reach the same optimum.
"""

import mujoco
import numpy as np
import pytest
import torch

import pywarp_sim as pws
from pywarp_sim import native, native_backend
from pywarp_sim.selfplay import compose as composer

import oracle
from tolerances import CG_QACC_TOL, NEWTON_QACC_TOL

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))

SOLVER, CONE = mujoco.mjtSolver, mujoco.mjtCone
CONFIGS = [
  pytest.param(SOLVER.mjSOL_NEWTON, CONE.mjCONE_PYRAMIDAL, NEWTON_QACC_TOL, id="newton-pyramidal"),
  pytest.param(SOLVER.mjSOL_NEWTON, CONE.mjCONE_ELLIPTIC, NEWTON_QACC_TOL, id="newton-elliptic"),
  pytest.param(SOLVER.mjSOL_CG, CONE.mjCONE_PYRAMIDAL, CG_QACC_TOL, id="cg"),
]
NSTATE = 12       # rollout states compared per model
EVERY = 10        # MuJoCo steps between them (the first after the robots land)
SETTLE = 40       # MuJoCo steps before the first state

CAPSULES = """
<mujoco>
  <option timestep="0.005"/>
  <worldbody>
    <geom type="plane" size="5 5 0.1"/>
    <body name="a" pos="-1 0 0.1"><freejoint/><geom type="capsule" size="0.05 0.2" euler="0 90 0"/></body>
    <body name="free" pos="0 0 10"><freejoint/><geom type="capsule" size="0.05 0.2" euler="0 90 10"/></body>
    <body name="b" pos="1 0 0.1"><freejoint/><geom type="capsule" size="0.05 0.2" euler="0 90 30"/></body>
  </worldbody>
</mujoco>
"""


def _mj_model(name, solver, cone, island=True):
  if name == "sumo":
    mjm = composer.compose("humanoid", ring_radius=3.0, separation=2.0).mj_model()
  else:
    mjm = mujoco.MjModel.from_xml_string(CAPSULES)
  mjm.opt.solver = solver
  mjm.opt.cone = cone
  if not island:
    mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_ISLAND)
  return mjm


def _mujoco_states(mjm):
  """MuJoCo's rollout under random controls: per state qpos, qvel, ctrl, qacc_warmstart, its
  qacc and its number of islands."""
  rng = np.random.default_rng(0)
  mjd = mujoco.MjData(mjm)
  out = []
  for t in range(SETTLE + NSTATE * EVERY):
    mjd.ctrl[:] = rng.uniform(-1, 1, mjm.nu)
    mujoco.mj_step(mjm, mjd)
    if t >= SETTLE and (t - SETTLE) % EVERY == 0:
      state = (mjd.qpos.copy(), mjd.qvel.copy(), mjd.ctrl.copy(), mjd.qacc_warmstart.copy())
      probe = oracle.mj_data(mjm, *state[:3], mjd.act)
      probe.qacc_warmstart[:] = state[3]
      mujoco.mj_forward(mjm, probe)
      out.append(state + (probe.qacc.copy(), int(probe.nisland)))
  return out


def _native_forward(mjm, states):
  """qacc and qacc_smooth of a native Simulator's forward at the states (one per world)."""
  sim = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=len(states), device="cpu", backend="native")
  d = sim.data
  qpos, qvel, ctrl, warm = (np.array([s[i] for s in states]) for i in range(4))
  oracle.set_state(d, qpos, qvel, ctrl, np.zeros((len(states), 0)))
  d.qacc_warmstart.assign(warm.astype(np.float32))
  oracle.fill_nan(d)
  sim.forward()
  return (native_backend.world_major(sim, "qacc").numpy(), native_backend.world_major(sim, "qacc_smooth").numpy(),
          native_backend.world_major(sim, "efc_nefc").numpy())


@pytest.mark.parametrize("solver,cone,tol", CONFIGS)
@pytest.mark.parametrize("name", ["sumo", "capsules"])
def test_island_solve_matches_mujoco(name, solver, cone, tol):
  mjm = _mj_model(name, solver, cone)
  states = _mujoco_states(mjm)
  assert all(s[5] >= 2 for s in states), "every state must have two islands in MuJoCo"
  qacc, qacc_smooth, nefc = _native_forward(mjm, states)
  assert np.all(nefc > 0)
  for w, s in enumerate(states):
    err = oracle.rel_err(qacc[w], s[4])
    assert err < tol, f"state {w}: qacc relative error {err:.2e} against MuJoCo's island solve"
  if name == "capsules":
    # the capsule in the air: no row touches its dofs (6..11), whose qacc is qacc_smooth
    assert np.array_equal(qacc[:, 6:12], qacc_smooth[:, 6:12])


@pytest.mark.parametrize("solver,cone,tol", CONFIGS)
def test_islands_off_reach_the_same_optimum(solver, cone, tol):
  states = _mujoco_states(_mj_model("sumo", solver, cone))
  on, _, _ = _native_forward(_mj_model("sumo", solver, cone), states)
  off, _, _ = _native_forward(_mj_model("sumo", solver, cone, island=False), states)
  for w in range(len(states)):
    err = oracle.rel_err(on[w], off[w])
    assert err < tol, f"state {w}: islands on / off differ by {err:.2e}"
