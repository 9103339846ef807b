"""Contacts and the constrained step against MuJoCo C on falling, flailing humanoids.

States come from MuJoCo C rolling out each model under random torques; both simulators then
run mj_forward on the same state (with the same warm start), with iterations raised and the
tolerance tightened in both so both solvers converge. The tests run on both backends
(tests/backends.py) from one definition.
"""

import functools
import mujoco
import numpy as np
import pytest

import pywarp_sim as pws
import oracle
from backends import BACKENDS, simulator
from tolerances import (CONTACT_DIST_TOL, CONTACT_FRAME_TOL, CONTACT_POS_TOL, CONTACT_STATES_TRAJ_QPOS_TOL,
                        CONVERGED_CONTACT_QACC_MAX_TOL, FORCE_TOL, ISSUE_CONTACT_QACC_MAX_TOL,
                        ISSUE_CONTACT_QACC_MEDIAN_TOL, NEWTON_QACC_TOL, POS_TOL, VEL_TOL)

NSTATE = 12


@functools.lru_cache(maxsize=None)
def _states(name: str, cone: int, seed: int = 0):
  """(qpos, qvel, ctrl, act, qacc_warmstart) of NSTATE contact-rich states from MuJoCo C."""
  mjm = oracle.mj_model(name)
  mjm.opt.cone = cone
  mjd = mujoco.MjData(mjm)
  rng = np.random.default_rng(seed)
  out = []
  for k in range(40 * NSTATE + 120):
    if k % 50 == 0:
      mjd.ctrl[:] = rng.uniform(-0.4, 0.4, mjm.nu)
    mujoco.mj_step(mjm, mjd)
    if k >= 120 and k % 40 == 0:
      out.append((mjd.qpos.copy(), mjd.qvel.copy(), mjd.ctrl.copy(), mjd.act.copy(),
                  mjd.qacc_warmstart.copy()))
  return tuple(np.array([s[i] for s in out]) for i in range(5))


# Geom-type pairs MuJoCo collides with its convex collider (mjc_Convex): GJK/EPA and
# single-shot multicontact (types as mjtGeom: capsule 3, ellipsoid 4, cylinder 5, box 6).
_CONVEX_PAIRS = {(2, 4), (3, 4), (4, 4), (4, 5), (4, 6), (3, 5), (5, 5), (5, 6)}


def _has_convex_contact(mjm, mjd) -> bool:
  return any(tuple(sorted(int(mjm.geom_type[g]) for g in c.geom)) in _CONVEX_PAIRS
             for c in mjd.contact[:mjd.ncon])


@functools.lru_cache(maxsize=None)
def _convex_states(name: str, cone: int, seed: int = 0):
  """Like _states, but tumbling from random orientations under full random torques, and
  taken only when limbs touch in convex pairs (cylinder, capsule-cylinder, ellipsoid)."""
  mjm = oracle.mj_model(name)
  mjm.opt.cone = cone
  return oracle.tumbling_states(mjm, NSTATE, seed, every=20, keep=_has_convex_contact,
                                fields=("qpos", "qvel", "ctrl", "act", "qacc_warmstart"))


def _compare(name, cone, solver, backend, states=_states):
  mjm = oracle.mj_model(name)
  mjm.opt.cone = cone
  mjm.opt.solver = solver
  mjm.opt.iterations = 200
  mjm.opt.ls_iterations = 50
  mjm.opt.tolerance = 1e-10
  qpos, qvel, ctrl, act, warm = states(name, cone)
  sim = simulator(mjm, len(qpos), backend)
  d = sim.data
  oracle.set_state(d, qpos, qvel, ctrl, act)
  d.qacc_warmstart.assign(warm.astype(np.float32))
  oracle.fill_nan(d)
  sim.forward()
  errs, ncons = [], []
  for w in range(len(qpos)):
    mjd = oracle.mj_data(mjm, qpos[w], qvel[w], ctrl[w], act[w])
    mjd.qacc_warmstart[:] = warm[w]
    mujoco.mj_forward(mjm, mjd)
    ncons.append(mjd.ncon)
    assert d.contact.ncon.numpy()[w] == mjd.ncon, f"world {w}: contact count"
    assert d.efc.nefc.numpy()[w] == mjd.nefc, f"world {w}: constraint rows"
    errs.append(oracle.rel_err(d.qacc.numpy()[w], mjd.qacc))
  assert sum(ncons) > NSTATE, "states must be contact-rich"
  return np.median(errs), np.max(errs)


@pytest.mark.parametrize("cone", [mujoco.mjtCone.mjCONE_PYRAMIDAL, mujoco.mjtCone.mjCONE_ELLIPTIC])
@pytest.mark.parametrize("solver", [mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtSolver.mjSOL_CG])
@pytest.mark.parametrize("backend", BACKENDS)
def test_humanoid_contact_qacc_matches_mujoco(solver, cone, backend):
  median, worst = _compare("humanoid", cone, solver, backend)
  print(f"\nhumanoid {solver.name} {cone.name}: qacc rel err median {median:.2e} max {worst:.2e}")
  if solver == mujoco.mjtSolver.mjSOL_NEWTON:
    assert median < NEWTON_QACC_TOL and worst < CONVERGED_CONTACT_QACC_MAX_TOL
  else:
    assert median < ISSUE_CONTACT_QACC_MEDIAN_TOL and worst < ISSUE_CONTACT_QACC_MAX_TOL


@pytest.mark.parametrize("cone", [mujoco.mjtCone.mjCONE_PYRAMIDAL, mujoco.mjtCone.mjCONE_ELLIPTIC])
@pytest.mark.parametrize("name", ["ball_humanoid", "limb_zoo"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_convex_humanoid_contact_qacc_matches_mujoco(name, cone, backend):
  """Humanoids with convex pairs (tests/assets.py): same contact count as MuJoCo 4.0 in every
  state (asserted in _compare), on MuJoCo's falling states and on self-touching ones."""
  for label, states in (("falling", _states), ("self-touching", _convex_states)):
    median, worst = _compare(name, cone, mujoco.mjtSolver.mjSOL_NEWTON, backend, states)
    print(f"\n{name} {label} {cone.name}: qacc rel err median {median:.2e} max {worst:.2e}")
    assert median < NEWTON_QACC_TOL and worst < ISSUE_CONTACT_QACC_MAX_TOL


@pytest.mark.parametrize("backend", BACKENDS)
def test_contact_positions_and_frames_match(backend):
  mjm = oracle.mj_model("humanoid")
  qpos, qvel, ctrl, act, _ = _states("humanoid", 0)
  sim = simulator(mjm, len(qpos), backend)
  d = sim.data
  oracle.set_state(d, qpos, qvel, ctrl, act)
  sim.forward()
  c = d.contact
  for w in range(len(qpos)):
    mjd = oracle.mj_data(mjm, qpos[w], qvel[w], ctrl[w], act[w])
    mujoco.mj_forward(mjm, mjd)
    ours = {}
    for i in range(c.ncon.numpy()[w]):
      key = tuple(sorted(c.geom.numpy()[w, i]))
      ours.setdefault(key, []).append((c.pos.numpy()[w, i], c.frame.numpy()[w, i], c.dist.numpy()[w, i]))
    for con in mjd.contact:
      key = tuple(sorted(con.geom))
      cand = ours[key]
      best = min(cand, key=lambda t: np.linalg.norm(t[0] - con.pos))
      assert np.abs(best[0] - con.pos).max() < CONTACT_POS_TOL
      assert abs(best[2] - con.dist) < CONTACT_DIST_TOL
      np.testing.assert_allclose(best[1], con.frame.reshape(3, 3), atol=CONTACT_FRAME_TOL)


def test_humanoids_fall_and_rest_stably():
  """10 s of simulated time: the batch lands, lies on the floor, nothing non-finite, and the
  deepest penetration does not grow over the last 5 s."""
  sim = pws.Simulator("humanoid", nworld=4, device="cpu")
  rng = np.random.default_rng(0)
  import torch
  sim.ctrl[:] = torch.tensor(rng.uniform(-0.2, 0.2, (4, sim.model.nu)), dtype=torch.float32)
  steps = int(round(10.0 / sim.model.opt.timestep))
  depth = []
  for k in range(steps // 100):
    sim.step(100)
    c = sim.data.contact
    n = c.ncon.numpy()
    dist = c.dist.numpy()
    depth.append(min([dist[w, :n[w]].min() for w in range(4) if n[w]] + [0.0]))
  assert torch.isfinite(sim.qpos).all() and torch.all(sim.health == 0)
  assert torch.all(sim.qpos[:, 2] < 0.5), "the humanoids fall"
  assert torch.all(sim.qpos[:, 2] > 0.0), "and stay above the floor"
  half = len(depth) // 2
  assert min(depth[half:]) > min(depth[:half]) - 5e-3
  assert min(depth) > -0.05


@pytest.mark.parametrize("backend", BACKENDS)
def test_pgs_matches_mujoco_pgs(backend):
  # PGS converges linearly; with iterations raised both reach the same optimum.
  median, worst = _compare("humanoid", mujoco.mjtCone.mjCONE_PYRAMIDAL, mujoco.mjtSolver.mjSOL_PGS, backend)
  print(f"\nhumanoid PGS pyramidal: qacc rel err median {median:.2e} max {worst:.2e}")
  assert median < ISSUE_CONTACT_QACC_MEDIAN_TOL and worst < ISSUE_CONTACT_QACC_MAX_TOL


# PGS with elliptic cones runs MuJoCo's sweep (blocks in its PCG32-shuffled order, Nesterov
# momentum with restarts, the warm start from the constraint forces at qacc_warmstart) and
# reaches MuJoCo's optimum to float32 rounding: Newton's bounds (measured median 2e-6, max
# 1.2e-5 on the contact states of both humanoids, 9e-5 on the falling states below). A fixed
# block order without momentum stalls on some of these states (0.09 to 0.26 away): from a
# zero normal force a block tries the normal alone, which need not lower the cost although
# normal and friction together would.
@pytest.mark.parametrize("name", ["humanoid", "tendon_humanoid"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_pgs_elliptic_matches_mujoco_pgs(name, backend):
  median, worst = _compare(name, mujoco.mjtCone.mjCONE_ELLIPTIC, mujoco.mjtSolver.mjSOL_PGS, backend)
  print(f"\n{name} PGS elliptic: qacc rel err median {median:.2e} max {worst:.2e}")
  assert median < NEWTON_QACC_TOL and worst < CONVERGED_CONTACT_QACC_MAX_TOL


@pytest.mark.parametrize("backend", BACKENDS)
def test_pgs_elliptic_falling_states_match_mujoco_pgs(backend):
  """Cold start (qacc_warmstart = 0) on states of the bundled humanoid tumbling onto the floor;
  both solvers converge (MuJoCo within 111 sweeps)."""
  mjm = oracle.mj_model("humanoid")
  mjm.opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
  mjm.opt.solver = mujoco.mjtSolver.mjSOL_PGS
  mjm.opt.iterations = 200
  mjm.opt.tolerance = 1e-10
  qpos, qvel, ctrl, act = oracle.falling_states(oracle.mj_model("humanoid"), 16, seed=5)
  sim = simulator(mjm, len(qpos), backend)
  d = sim.data
  oracle.set_state(d, qpos, qvel, ctrl, act)
  d.qacc_warmstart.zero_()
  oracle.fill_nan(d)
  sim.forward()
  errs = []
  for w in range(len(qpos)):
    mjd = oracle.mj_data(mjm, qpos[w], qvel[w], ctrl[w], act[w])
    mujoco.mj_forward(mjm, mjd)
    assert d.efc.nefc.numpy()[w] == mjd.nefc, f"world {w}: constraint rows"
    assert mjd.solver_niter[0] < mjm.opt.iterations, f"world {w}: MuJoCo's PGS must converge"
    errs.append(oracle.rel_err(d.qacc.numpy()[w], mjd.qacc))
    assert errs[-1] < CONVERGED_CONTACT_QACC_MAX_TOL, f"world {w}: qacc vs MuJoCo {errs[-1]:.2e}"
  assert d.efc.converged.numpy().all()
  assert (d.efc.efc_type.numpy() == mujoco.mjtConstraint.mjCNSTR_CONTACT_ELLIPTIC).any()
  print(f"\nhumanoid falling PGS elliptic: qacc rel err median {np.median(errs):.2e} max {np.max(errs):.2e}")
  assert np.median(errs) < NEWTON_QACC_TOL


@pytest.mark.parametrize("solver", [mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtSolver.mjSOL_PGS])
@pytest.mark.parametrize("backend", BACKENDS)
def test_fixed_tendons_match_mujoco(solver, backend):
  """Fixed tendons: length, passive spring (deadband) and damper, frictionloss and limit rows,
  on contact states of a falling walker."""
  median, worst = _compare("tendon_walker", mujoco.mjtCone.mjCONE_PYRAMIDAL, solver, backend)
  print(f"\ntendon walker {solver.name}: qacc rel err median {median:.2e} max {worst:.2e}")
  assert median < NEWTON_QACC_TOL and worst < CONVERGED_CONTACT_QACC_MAX_TOL
  mjm = oracle.mj_model("tendon_walker")
  qpos, qvel, ctrl, act, _ = _states("tendon_walker", 0)
  sim = simulator(mjm, len(qpos), backend)
  d = sim.data
  oracle.set_state(d, qpos, qvel, ctrl, act)
  sim.forward()
  types = set()
  for w in range(len(qpos)):
    mjd = oracle.mj_data(mjm, qpos[w], qvel[w], ctrl[w], act[w])
    mujoco.mj_forward(mjm, mjd)
    assert oracle.rel_err(d.ten_length.numpy()[w], mjd.ten_length) < POS_TOL
    assert oracle.rel_err(d.ten_velocity.numpy()[w], mjd.ten_velocity) < VEL_TOL
    assert oracle.rel_err(d.qfrc_passive.numpy()[w], mjd.qfrc_passive) < FORCE_TOL
    types |= set(mjd.efc_type.tolist())
  assert {mujoco.mjtConstraint.mjCNSTR_FRICTION_TENDON, mujoco.mjtConstraint.mjCNSTR_LIMIT_TENDON} <= types


@pytest.mark.parametrize("integrator", [mujoco.mjtIntegrator.mjINT_EULER, mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
                                        mujoco.mjtIntegrator.mjINT_RK4])
@pytest.mark.parametrize("backend", BACKENDS)
def test_contact_trajectory_matches_mj_step(integrator, backend):
  """40 steps from contact states with every integrator (contacts make the motion chaotic,
  so the horizon is short; CONTACT_STATES_TRAJ_QPOS_TOL)."""
  mjm = oracle.mj_model("humanoid")
  mjm.opt.integrator = integrator
  qpos, qvel, ctrl, act, warm = _states("humanoid", 0)
  qpos, qvel, ctrl, act, warm = (a[:4] for a in (qpos, qvel, ctrl, act, warm))
  sim = simulator(mjm, len(qpos), backend)
  d = sim.data
  oracle.set_state(d, qpos, qvel, ctrl, act)
  d.qacc_warmstart.assign(warm.astype(np.float32))
  refs = []
  for w in range(len(qpos)):
    mjd = oracle.mj_data(mjm, qpos[w], qvel[w], ctrl[w], act[w])
    mjd.qacc_warmstart[:] = warm[w]
    refs.append(mjd)
  for _ in range(40):
    sim.step(1)
    for mjd in refs:
      mujoco.mj_step(mjm, mjd)
  for w, mjd in enumerate(refs):
    err = oracle.rel_err(d.qpos.numpy()[w], mjd.qpos)
    assert err < CONTACT_STATES_TRAJ_QPOS_TOL, f"{integrator.name} world {w}: qpos error {err:.2e}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_contacts_in_the_gap_make_no_constraint(backend):
  """margin - gap <= dist < margin: MuJoCo keeps the contact but excludes it from the rows."""
  xml = """<mujoco><worldbody><geom type="plane" size="1 1 .1" margin=".1" gap=".05"/>
           <body><freejoint/><geom type="sphere" size=".1" margin=".1" gap=".05"/></body>
           </worldbody></mujoco>"""
  mjm = mujoco.MjModel.from_xml_string(xml)
  heights = np.array([0.09, 0.13, 0.17, 0.25])  # penetrating, active margin, in the gap, apart
  sim = simulator(mjm, len(heights), backend)
  d = sim.data
  qpos = np.tile(mjm.qpos0, (len(heights), 1))
  qpos[:, 2] = heights
  d.qpos.assign(qpos.astype(np.float32))
  sim.forward()
  for w, z in enumerate(heights):
    mjd = mujoco.MjData(mjm)
    mjd.qpos[:] = qpos[w]
    mujoco.mj_forward(mjm, mjd)
    assert d.contact.ncon.numpy()[w] == mjd.ncon
    assert d.efc.nefc.numpy()[w] == mjd.nefc, f"height {z}"
    assert oracle.rel_err(d.qacc.numpy()[w], mjd.qacc) < CONVERGED_CONTACT_QACC_MAX_TOL
