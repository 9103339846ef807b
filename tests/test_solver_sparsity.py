"""The native constraint solver's sparse loops against its dense loops, bit for bit.

kernels/solver.h runs J x, J' f, M x, the J' D J outer products, the Newton factorisation, its
rank-1 updates and the triangular solves over each row's nonzero dof span only (SolveSpans,
dot_span; the Newton factor's first nonzero columns carried from the factorisation to its
solves and updates), and the tree factorisation and solves of qM and qH (smooth.h factor_tree,
support.h solve_tree) over the columns of each dof's own tree: every skipped term is a product
with an exact zero, so the trajectories must equal those of the dense loops
(native_backend.set_solver_dense_loops(True)) exactly. Checked on
one and two robots (the self-play world, whose Hessian is block diagonal while the robots are
apart), ball limits, fixed tendons (rows over many dofs) and equality constraints, with Newton
(pyramidal and elliptic cones), CG and PGS; and non-finite worlds are flagged the same way.
"""

import warnings

import mujoco
import pytest
import torch

import pywarp_sim as pws
from pywarp_sim import native, native_backend, pairs
from pywarp_sim.selfplay import compose as composer

import oracle

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))

SOLVER, CONE = mujoco.mjtSolver, mujoco.mjtCone
CONFIGS = [
  pytest.param(SOLVER.mjSOL_NEWTON, CONE.mjCONE_PYRAMIDAL, id="newton-pyramidal"),
  pytest.param(SOLVER.mjSOL_NEWTON, CONE.mjCONE_ELLIPTIC, id="newton-elliptic"),
  pytest.param(SOLVER.mjSOL_CG, CONE.mjCONE_PYRAMIDAL, id="cg"),
  pytest.param(SOLVER.mjSOL_PGS, CONE.mjCONE_PYRAMIDAL, id="pgs"),
]
STEPS = 60  # the humanoids land after ~10 steps; the rest is in contact
NWORLD = 2


def _mj_model(name):
  """The model with constraint islands off: the dense loops solve all rows together, and the
  island solve's different rounding is checked against MuJoCo in test_solver_islands.py."""
  if name == "sumo":
    mjm = composer.compose("humanoid", ring_radius=2.0, separation=0.7).mj_model()
  else:
    mjm = oracle.mj_model(name)
  mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_ISLAND)
  return mjm


def _trajectory(mjm, dense: bool, steps=STEPS, inject=None):
  """qpos, qvel, qacc, efc_force, qfrc_constraint per step of a native CPU Simulator under
  random initial velocities and controls (the same for every call), and the final health."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", pairs.ConvexCollisionWarning)
    model = pws.put_model(mjm, "cpu")
  sim = pws.Simulator(model, nworld=NWORLD, device="cpu", backend="native")
  before = native_backend.solver_dense_loops()
  native_backend.set_solver_dense_loops(dense)
  try:
    g = torch.Generator().manual_seed(0)
    sim.qvel.copy_(0.5 * torch.randn(sim.qvel.shape, generator=g))
    out, nefc = [], 0
    for t in range(steps):
      if mjm.nu:
        sim.ctrl.copy_(torch.rand(sim.ctrl.shape, generator=g) * 2 - 1)
      if inject is not None:
        inject(sim, t)
      sim.step()
      out.append([native_backend.world_major(sim, name) for name in ("qacc", "qfrc_constraint")]
                 + [sim.qpos.clone(), sim.qvel.clone(), native_backend.world_major(sim, "efc_force")])
      nefc = max(nefc, int(native_backend.world_major(sim, "efc_nefc").max()))
    return out, nefc, sim.health.clone()
  finally:
    native_backend.set_solver_dense_loops(before)


def _assert_same(sparse, dense):
  for t, (a, b) in enumerate(zip(sparse, dense)):
    for name, x, y in zip(("qacc", "qfrc_constraint", "qpos", "qvel", "efc_force"), a, b):
      assert torch.equal(x, y), f"step {t}: {name} differs between the sparse and dense solver loops"


@pytest.mark.parametrize("solver,cone", CONFIGS)
@pytest.mark.parametrize("name", ["humanoid", "sumo", "ball_humanoid", "tendon_humanoid", "equality_zoo"])
def test_sparse_solver_loops_equal_dense_loops_bitwise(name, solver, cone):
  mjm = _mj_model(name)
  mjm.opt.solver = solver
  mjm.opt.cone = cone
  sparse, nefc, health_s = _trajectory(mjm, dense=False)
  dense, nefc_d, health_d = _trajectory(mjm, dense=True)
  assert nefc > 0 and nefc == nefc_d, "the worlds must have constraint rows"
  # PGS and CG may stop at their iteration limit (SOLVER_NOT_CONVERGED), identically
  assert not torch.any(health_s & pws.Health.NONFINITE) and torch.equal(health_s, health_d)
  _assert_same(sparse, dense)


def test_dense_switch_round_trips():
  before = native_backend.solver_dense_loops()
  try:
    native_backend.set_solver_dense_loops(True)
    assert native_backend.solver_dense_loops()
    native_backend.set_solver_dense_loops(False)
    assert not native_backend.solver_dense_loops()
  finally:
    native_backend.set_solver_dense_loops(before)


def test_non_finite_worlds_are_flagged_the_same_with_sparse_loops():
  """A NaN / inf in one robot's state: the same worlds are flagged, the others stay equal."""
  mjm = _mj_model("sumo")

  def inject(sim, t):
    if t == 20:
      sim.qvel[0, 3] = float("inf")
    if t == 30:
      sim.qpos[1, 40] = float("nan")

  sparse, _, health_s = _trajectory(mjm, dense=False, steps=40, inject=inject)
  dense, _, health_d = _trajectory(mjm, dense=True, steps=40, inject=inject)
  assert torch.equal(health_s, health_d)
  assert health_s[0] & pws.Health.NONFINITE and health_s[1] & pws.Health.NONFINITE
  _assert_same(sparse[:20], dense[:20])
