"""The lane-group Newton solver (kernels/simt_solver.h): the CPU emulation against the native
solver (kernels/solver.h) on the rows the native forward built, and against MuJoCo C; the
recording run's race check and counts; on a GPU, the CUDA kernel against the emulation bit for
bit."""

import mujoco
import numpy as np
import pytest
import torch

import assets
import oracle
import pywarp_sim as pws
from pywarp_sim import native, native_backend, simt
from backends import data_array, simulator
from tolerances import CONVERGED_CONTACT_QACC_MAX_TOL, NEWTON_QACC_TOL

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))

# the test assets without equality constraints that have constraint rows (two_trees has neither
# limits nor contacts); the equality assets: test_equality_rows_match_native_solver
MODELS = ["humanoid", *(n for n in assets.MODELS if n not in ("equality_zoo", "fourbar_biped", "two_trees"))]
GROUPS = (8, 16, 32)

# what the solver writes (Data paths) and the scratch it may use; NaN / -7 before it runs, so a
# value left by the native solve cannot pass for the lane group's
OUTPUTS = ("qacc", "qfrc_constraint", "efc.efc_force", "efc.efc_aref", "efc.efc_vel")
SCRATCH = ("efc.efc_jar", "efc.efc_jv", "efc.Ma", "efc.grad", "efc.search")
INT_OUTPUTS = ("efc.efc_state", "efc.solver_niter", "efc.converged")


def _native_then_clear(sim, state):
  """Runs the native forward at `state` (rows, smooth quantities and the native solve), returns
  the native solver's outputs and sets every output and scratch of the solver to NaN (-7)."""
  oracle.set_state(sim.data, *state)
  sim.forward()
  ref = {p: data_array(sim, p).numpy().copy() for p in (*OUTPUTS, *INT_OUTPUTS)}
  for p in (*OUTPUTS, *SCRATCH):
    data_array(sim, p).fill_(float("nan"))
  for p in INT_OUTPUTS:
    data_array(sim, p).fill_(-7)
  return ref


def _compare(sim, ref, label, tol=NEWTON_QACC_TOL, iterations=1, mujoco_c=None):
  """The lane group's solve against the native one, per world: qacc, qfrc_constraint and the
  forces within the Newton bound, iterations within `iterations`, both converged. mujoco_c: per
  world, MuJoCo C's {qacc, qfrc_constraint} at the same state; a world where the two solvers
  stopped after different iterations (their sums' rounding decided a stopping test differently)
  is held to MuJoCo C within the same bound instead (the native solver's forces are then not
  the reference)."""
  nefc = sim.data.efc.nefc.numpy()
  niter = sim.data.efc.solver_niter.numpy()
  worst = 0.0
  for w in range(sim.nworld):
    n = nefc[w]
    oracle_world = mujoco_c is not None and niter[w] != ref["efc.solver_niter"][w]
    for p in ("qacc", "qfrc_constraint"):
      ours = data_array(sim, p).numpy()[w]
      assert not np.isnan(ours).any(), f"{label} world {w}: {p} not written"
      err = oracle.rel_err(ours, mujoco_c[w][p] if oracle_world else ref[p][w])
      worst = max(worst, err)
      assert err < tol, (f"{label} world {w}: {p} vs {'MuJoCo C' if oracle_world else 'the native solver'} "
                         f"{err:.2e} >= {tol:.0e}")
    force = data_array(sim, "efc.efc_force").numpy()[w, :n]
    assert oracle_world or oracle.rel_err(force, ref["efc.efc_force"][w, :n]) < tol, f"{label} world {w}: efc_force"
    for p in ("efc.efc_aref", "efc.efc_vel"):
      assert oracle.rel_err(data_array(sim, p).numpy()[w, :n], ref[p][w, :n]) < tol, f"{label} world {w}: {p}"
    assert abs(int(niter[w]) - int(ref["efc.solver_niter"][w])) <= iterations, (
      f"{label} world {w}: {niter[w]} iterations, native {ref['efc.solver_niter'][w]}")
  np.testing.assert_array_equal(sim.data.efc.converged.numpy(), ref["efc.converged"])
  return worst


# ---- the emulation against the native solver -----------------------------------------------


@pytest.mark.parametrize("group", GROUPS)
def test_falling_humanoid_matches_native_solver(group):
  mjm = oracle.mj_model("humanoid")
  state = oracle.falling_states(mjm, 16, seed=5)
  sim = simulator(mjm, len(state[0]), "native")
  ref = _native_then_clear(sim, state)
  simt.solve(sim, group_size=group)
  worst = _compare(sim, ref, f"falling humanoid, group {group}")
  assert (sim.data.contact.ncon.numpy() >= 1).all()
  print(f"\ngroup {group}: qacc vs native solver worst {worst:.2e}")


def test_lying_humanoid_many_contacts():
  """Lying on the floor: many contact rows active at once, the Hessian's J' D J widest."""
  mjm = oracle.mj_model("humanoid")
  state = oracle.lying_states(mjm, 6, seed=11)
  sim = simulator(mjm, len(state[0]), "native")
  ref = _native_then_clear(sim, state)
  simt.solve(sim)
  _compare(sim, ref, "lying humanoid")
  ncon = sim.data.contact.ncon.numpy()
  assert ncon.min() >= 4, ncon
  active = (sim.data.efc.efc_state.numpy() == 1).sum(axis=1)
  assert active.max() >= 8, active


@pytest.mark.parametrize("name", MODELS)
def test_random_states_match_native_solver(name):
  """Random states of the test assets: joint and tendon limits, tendon friction loss, contacts;
  hinge angles with a 1 rad spread, so limits are violated."""
  mjm = oracle.mj_model(name)
  state = oracle.random_state(mjm, 24, seed=3, qpos_scale=1.0)
  sim = simulator(mjm, 24, "native")
  ref = _native_then_clear(sim, state)
  simt.solve(sim, group_size=16)
  mujoco_c = []
  for w in range(sim.nworld):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    mujoco.mj_forward(mjm, mjd)
    mujoco_c.append({"qacc": mjd.qacc.copy(), "qfrc_constraint": mjd.qfrc_constraint.copy()})
  _compare(sim, ref, name, mujoco_c=mujoco_c)
  assert sim.data.efc.nefc.numpy().max() > 0, f"{name}: no constraint rows in any world"


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("name", ["equality_zoo", "fourbar_biped"])
def test_equality_rows_match_native_solver(name, group):
  """Equality rows (bilateral; aref less efc_jdotv) with limits and contacts at tumbling states: the
  native solver's qacc, forces and aref within the Newton bound. Iterations within 2: near the
  optimum the stopping tests fire an iteration or two apart as the factor rounds (the native
  solver updates its factor by rank-1 changes, the lane group refactors): measured 6 against 8 in
  one of equality_zoo's 24 worlds, with qacc 1.8e-7 apart."""
  mjm = oracle.mj_model(name)
  state = oracle.random_state(mjm, 24, seed=3, qpos_scale=1.0)
  sim = simulator(mjm, 24, "native")
  ref = _native_then_clear(sim, state)
  assert sim.data.efc.ne.numpy().min() > 0, f"{name}: a world without equality rows"
  simt.solve(sim, group_size=group)
  _compare(sim, ref, f"{name} group {group}", iterations=2)


def test_limits_and_dof_friction_match_native_and_mujoco():
  """Friction-loss rows (both linear zones and the quadratic one), limits and contacts, solved to
  convergence, against the native solver and MuJoCo C."""
  mjm = oracle.mj_model("humanoid")
  mjm.dof_frictionloss[:] = 0.3
  mjm.opt.iterations = 200
  mjm.opt.ls_iterations = 50
  mjm.opt.tolerance = 1e-10
  # falling (fast: friction saturated) and lying (slow: friction rows in the quadratic zone)
  states_model = oracle.mj_model("humanoid")
  fall, lie = oracle.falling_states(states_model, 4, seed=9), oracle.lying_states(states_model, 4, 2)
  state = tuple(np.concatenate(pair) for pair in zip(fall, lie))
  sim = simulator(mjm, 8, "native")
  ref = _native_then_clear(sim, state)
  simt.solve(sim)
  _compare(sim, ref, "dof friction")
  states = set()
  types = sim.data.efc.efc_type.numpy()
  for w in range(8):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    mujoco.mj_forward(mjm, mjd)
    n = sim.data.efc.nefc.numpy()[w]
    assert n == mjd.nefc
    # lying worlds rest on several contacts: float32 rounding of the solve reaches the resting
    # bound there, for the native solver as well (its error is printed alongside)
    tol = NEWTON_QACC_TOL if w < 4 else CONVERGED_CONTACT_QACC_MAX_TOL
    err = oracle.rel_err(sim.data.qacc.numpy()[w], mjd.qacc)
    print(f"world {w}: qacc vs MuJoCo {err:.2e} (native solver {oracle.rel_err(ref['qacc'][w], mjd.qacc):.2e})")
    assert err < tol, f"world {w}: qacc vs MuJoCo {err:.2e}"
    friction = types[w, :n] == int(mujoco.mjtConstraint.mjCNSTR_FRICTION_DOF)
    states |= set(sim.data.efc.efc_state.numpy()[w, :n][friction].tolist())
  assert {1, 2} <= states, f"friction rows only in states {states}"


def test_converged_contacts_match_mujoco():
  """The falling humanoid solved to convergence (iterations raised, tolerance tightened in both):
  the optimum of MuJoCo's cost, qacc and qfrc_constraint within Newton's bound."""
  mjm = oracle.mj_model("humanoid")
  mjm.opt.iterations = 200
  mjm.opt.ls_iterations = 50
  mjm.opt.tolerance = 1e-10
  state = oracle.falling_states(oracle.mj_model("humanoid"), 16, seed=5)
  sim = simulator(mjm, 16, "native")
  _native_then_clear(sim, state)
  simt.solve(sim, group_size=8)
  for w in range(16):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    mujoco.mj_forward(mjm, mjd)
    for field in ("qacc", "qfrc_constraint"):
      err = oracle.rel_err(getattr(sim.data, field).numpy()[w], getattr(mjd, field))
      assert err < NEWTON_QACC_TOL, f"world {w}: {field} vs MuJoCo {err:.2e}"


def test_no_rows_gives_the_smooth_acceleration():
  mjm = oracle.mj_model("humanoid", disable=(mujoco.mjtDisableBit.mjDSBL_CONSTRAINT,))
  state = oracle.random_state(mjm, 4, seed=1)
  sim = simulator(mjm, 4, "native")
  _native_then_clear(sim, state)
  assert (sim.data.efc.nefc.numpy() == 0).all()
  simt.solve(sim)
  np.testing.assert_array_equal(sim.data.qacc.numpy(), sim.data.qacc_smooth.numpy())
  assert (sim.data.qfrc_constraint.numpy() == 0).all()
  assert (sim.data.efc.solver_niter.numpy() == 0).all() and (sim.data.efc.converged.numpy() == 1).all()


def test_recording_run_has_no_race_and_same_bits():
  """The measured run (counting float, address recorder) finds no location shared between lanes
  within a phase (kernels/simt.h rule 1; it raises otherwise) and writes the same bits."""
  mjm = oracle.mj_model("humanoid")
  mjm.dof_frictionloss[:] = 0.3  # the friction branches too
  state = oracle.falling_states(oracle.mj_model("humanoid"), 4, seed=7)
  fast, measured = simulator(mjm, 4, "native"), simulator(mjm, 4, "native")
  _native_then_clear(fast, state)
  _native_then_clear(measured, state)
  simt.solve(fast, group_size=16)
  stats = simt.solve(measured, group_size=16, record=True)
  for p in (*OUTPUTS, *INT_OUTPUTS):
    assert np.array_equal(data_array(fast, p).numpy(), data_array(measured, p).numpy(), equal_nan=True), p
  assert set(stats["stages"]) == set(simt.SOLVER_STAGES)
  for stage, s in stats["stages"].items():
    assert s["phases"] > 0 and s["warp_instructions"] > 0, stage
    assert s["warp_instructions"] <= s["lane_instructions"] <= 16 * s["warp_instructions"], stage
    if s["global_requests"]:
      assert s["global_requests"] <= s["global_sectors"] <= 16 * s["global_requests"], stage


def test_solver_proxies_of_the_falling_humanoid():
  mjm = oracle.mj_model("humanoid")
  state = oracle.falling_states(mjm, 4, seed=5)
  sim = simulator(mjm, 4, "native")
  _native_then_clear(sim, state)
  p32, p8 = simt.solver_proxies(sim, group_size=32), simt.solver_proxies(sim, group_size=8)
  for p in (p32, p8):
    assert 1.0 <= p["sectors_per_request"] <= 32.0
    assert 0.0 < p["lane_efficiency"] <= 1.0
    assert p["instructions_per_world_step"] > 0 and p["rows_per_world"] > 0 and p["iterations_per_world"] >= 1
  # the Hessian has nv (nv + 1) / 2 = 378 entries: wide work, lanes busier than in the tree passes
  assert p32["stages"]["hessian"]["lane_efficiency"] > 0.5
  # budget: the Hessian, its factor and the triangular solves at 8 lanes, per Newton iteration
  # (measured: 1,071 warp instructions per world here; on bench proxies' fallen humanoids 1,055,
  # and 1,463 when every Hessian entry loaded every row's state and the factor visited the zeros
  # of its rows item by item)
  per_iteration = sum(p8["stages"][s]["instructions_per_world_step"]
                      for s in ("hessian", "factor", "direction")) / p8["iterations_per_world"]
  assert per_iteration < 1200, per_iteration
  assert simt.solver_shared_bytes_per_world(mjm.nv) == 4 * (mjm.nv ** 2 + 2 * mjm.nv)  # M read from qM


def test_unsupported_solvers_are_refused_by_name():
  for opt, value, match in (("solver", mujoco.mjtSolver.mjSOL_CG, "Newton"),
                            ("solver", mujoco.mjtSolver.mjSOL_PGS, "Newton")):
    mjm = oracle.mj_model("humanoid")
    setattr(mjm.opt, opt, value)
    sim = simulator(mjm, 2, "native")
    with pytest.raises(ValueError, match=match):
      simt.solve(sim)
  thread = pws.Simulator("humanoid", nworld=2, device="cpu", backend="native", workspace="thread")
  with pytest.raises(ValueError, match="workspace"):
    simt.solve(thread)
  sim = simulator(oracle.mj_model("humanoid"), 2, "native")
  with pytest.raises(ValueError, match="group_size"):
    simt.solve(sim, group_size=4)


# ---- the CUDA kernel against the emulation ---------------------------------------------------

# what the solver reads: the rows and smooth quantities a forward built, copied from the CPU
INPUTS = ("qM", "qvel", "qacc_smooth", "qfrc_smooth", "qacc_warmstart", "efc.nefc", "efc.efc_J", "efc.efc_type",
          "efc.efc_D", "efc.efc_R", "efc.efc_frictionloss", "efc.efc_B", "efc.efc_K", "efc.efc_pos",
          "efc.efc_margin")


@pytest.mark.gpu
@pytest.mark.parametrize("group", GROUPS)
def test_gpu_solver_equals_the_emulation_bitwise(group):
  """The CUDA kernel (-fmad=false) and the CPU emulation from the same rows (built by the CPU
  native forward, copied to the device): the same bits in every output."""
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  mjm = oracle.mj_model("humanoid")
  mjm.dof_frictionloss[:] = 0.3
  state = oracle.falling_states(oracle.mj_model("humanoid"), 40, seed=13)
  nworld = len(state[0])
  cpu = simulator(mjm, nworld, "native")
  _native_then_clear(cpu, state)
  gpu = pws.Simulator(pws.put_model(mjm, "cuda:0"), nworld=nworld, device="cuda:0", backend="native")
  for p in INPUTS:
    data_array(gpu, p).assign(data_array(cpu, p).numpy())
  for p in (*OUTPUTS, *SCRATCH):
    data_array(gpu, p).fill_(float("nan"))
  simt.solve(cpu, group_size=group)
  simt.solve(gpu, group_size=group)
  torch.cuda.synchronize()
  for p in (*OUTPUTS, *INT_OUTPUTS):
    a, b = data_array(cpu, p).numpy(), data_array(gpu, p).numpy()
    if p.startswith("efc.efc_"):
      nefc = cpu.data.efc.nefc.numpy()
      a = np.concatenate([a[w, :nefc[w]] for w in range(nworld)])
      b = np.concatenate([b[w, :nefc[w]] for w in range(nworld)])
    assert np.array_equal(a, b), f"group {group}: {p} GPU vs emulation"
