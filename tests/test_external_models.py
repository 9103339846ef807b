"""Conformance with MuJoCo C on any humanoid-like MJCF model (free base, hinge/ball joints,
contacts with a floor), including models the authors have never seen.

Models: the committed self-authored assets that fit (tests/assets.py, a free root and a floor
plane), plus every MJCF named by the PWS_EXTRA_MODELS environment variable (os.pathsep-separated
files or directories of *.xml files; third-party models stay out of the repository):

  PWS_EXTRA_MODELS=/path/to/models python -m pytest -q tests/test_external_models.py -s

Per model: (1) it loads, or pywarp_sim rejects it with UnsupportedModelError (the message is the
skip reason: a clear rejection is acceptable, a crash or a silent wrong result is not); (2) smooth
dynamics on random states; (3) contact states from MuJoCo C (the model's keyframe or qpos0 dropped
onto the floor under random controls, and thrown tumbling): contact counts and constrained qacc
for Newton, CG and PGS, pyramidal and elliptic, iterations raised and tolerance tightened in both
(test_contact's setup);
(4) 100 steps from a settled state with the model's integrator and the others; (5) the native
backend on the contact states.
"""

import functools
import glob
import os
import pathlib
import warnings

import mujoco
import numpy as np
import pytest

import pywarp_sim as pws
from pywarp_sim import forward, native, pairs
from pywarp_sim.errors import UnsupportedModelError

import oracle
from assets import MODELS
from tolerances import (FORCE_TOL, FREE_TRAJ_QPOS_TOL, INERTIA_TOL, ISSUE_CONTACT_QACC_MAX_TOL,
                        ISSUE_CONTACT_QACC_MEDIAN_TOL, QACC_SMOOTH_TOL, STEP_QPOS_TOL, STEP_QVEL_TOL)

EXTRA_MODELS_ENV = "PWS_EXTRA_MODELS"
DSBL = mujoco.mjtDisableBit
INT = mujoco.mjtIntegrator


# Few states and worlds: the suite runs in CI on the committed assets.
NSTATE = 6
NSMOOTH = 4
TRAJ_STEPS = 100
REPLAY_BYTES = 1 << 30


def _extra_paths() -> list[pathlib.Path]:
  spec = os.environ.get(EXTRA_MODELS_ENV, "")
  paths = []
  for entry in filter(None, spec.split(os.pathsep)):
    p = pathlib.Path(entry)
    if p.is_dir():
      paths += [pathlib.Path(f) for f in sorted(glob.glob(str(p / "*.xml")))]
    else:
      paths.append(p)  # a missing file fails in _mj_model with MuJoCo's message
  return paths


def _fits(xml: str) -> bool:
  """A free root body and a floor plane: what the drop and the settled state need."""
  mjm = mujoco.MjModel.from_xml_string(xml)
  free = mjm.njnt and mjm.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE
  plane = np.any((mjm.geom_type == mujoco.mjtGeom.mjGEOM_PLANE) & (mjm.geom_bodyid == 0))
  return bool(free and plane)


def _sources() -> dict:
  """Test id -> MJCF text (committed asset) or path (PWS_EXTRA_MODELS; ids are file stems)."""
  src = {name: xml for name, xml in MODELS.items() if _fits(xml)}
  for p in _extra_paths():
    name = p.stem
    while name in src:
      name += "_"
    src[name] = p
  return src


SOURCES = _sources()
MODEL_IDS = list(SOURCES)


def _mj_model(name: str) -> mujoco.MjModel:
  src = SOURCES[name]
  if isinstance(src, pathlib.Path):
    return mujoco.MjModel.from_xml_path(str(src))
  return mujoco.MjModel.from_xml_string(src)


def _put_model(mjm: mujoco.MjModel) -> pws.Model:
  """put_model, or a skip whose reason is pywarp_sim's rejection message."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", pairs.ConvexCollisionWarning)
      return pws.put_model(mjm, "cpu")
  except UnsupportedModelError as e:
    pytest.skip(f"rejected by pywarp_sim: {e}")


def _converged(mjm: mujoco.MjModel, solver=None, cone=None) -> mujoco.MjModel:
  """test_contact's setup: iterations raised and the tolerance tightened in both simulators."""
  if solver is not None:
    mjm.opt.solver = solver
  if cone is not None:
    mjm.opt.cone = cone
  mjm.opt.iterations = 200
  mjm.opt.ls_iterations = 50
  mjm.opt.tolerance = 1e-10
  return mjm


def _reset(mjm, mjd):
  if mjm.nkey:
    mujoco.mj_resetDataKeyframe(mjm, mjd, 0)
  else:
    mujoco.mj_resetData(mjm, mjd)


def _ctrl_range(mjm):
  lo = np.where(mjm.actuator_ctrllimited, mjm.actuator_ctrlrange[:, 0], -1.0)
  hi = np.where(mjm.actuator_ctrllimited, mjm.actuator_ctrlrange[:, 1], 1.0)
  return lo, hi


@functools.lru_cache(maxsize=None)
def _contact_states(name: str, cone: int, seed: int = 0):
  """(qpos, qvel, ctrl, act, qacc_warmstart) of NSTATE states of MuJoCo C dropping the model
  from 10 cm above its keyframe (or qpos0) under random controls held 0.1 s each."""
  mjm = _mj_model(name)
  mjm.opt.cone = cone
  mjd = mujoco.MjData(mjm)
  _reset(mjm, mjd)
  mjd.qpos[2] += 0.1
  rng = np.random.default_rng(seed)
  lo, hi = _ctrl_range(mjm)
  hold = max(1, round(0.1 / mjm.opt.timestep))
  start = round(0.3 / mjm.opt.timestep)
  out = []
  k = 0
  while len(out) < NSTATE:
    if k % hold == 0:
      mjd.ctrl[:] = rng.uniform(lo, hi)
    mujoco.mj_step(mjm, mjd)
    k += 1
    if k >= start and (k - start) % hold == hold // 2:
      out.append((mjd.qpos.copy(), mjd.qvel.copy(), mjd.ctrl.copy(), mjd.act.copy(),
                  mjd.qacc_warmstart.copy()))
  return tuple(np.array([s[i] for s in out]) for i in range(5))


@functools.lru_cache(maxsize=None)
def _tumbling_states(name: str, cone: int, seed: int = 0):
  """NSTATE states of MuJoCo C throwing the model 30 cm above its keyframe in a random
  orientation with random velocities under random controls: limbs, trunk and head on the
  floor and against each other (every colliding geom pair type of the model)."""
  mjm = _mj_model(name)
  mjm.opt.cone = cone
  mjd = mujoco.MjData(mjm)
  rng = np.random.default_rng(seed)
  lo, hi = _ctrl_range(mjm)
  out = []
  while len(out) < NSTATE:
    _reset(mjm, mjd)
    quat = rng.normal(size=4)
    mjd.qpos[3:7] = quat / np.linalg.norm(quat)
    mjd.qpos[2] += 0.3
    mjd.qvel[:] = rng.normal(0, 1.0, mjm.nv)
    for k in range(300):
      mjd.ctrl[:] = rng.uniform(lo, hi)
      mujoco.mj_step(mjm, mjd)
      if k % 40 == 39 and mjd.ncon and len(out) < NSTATE:
        out.append((mjd.qpos.copy(), mjd.qvel.copy(), mjd.ctrl.copy(), mjd.act.copy(),
                    mjd.qacc_warmstart.copy()))
  return tuple(np.array([s[i] for s in out]) for i in range(5))


@functools.lru_cache(maxsize=None)
def _settled_state(name: str):
  """The model after 1 s of MuJoCo C from its keyframe (keyframe controls) or qpos0 (zero
  controls): standing or lying on the floor, at rest up to the controllers."""
  mjm = _mj_model(name)
  mjd = mujoco.MjData(mjm)
  _reset(mjm, mjd)
  for _ in range(round(1.0 / mjm.opt.timestep)):
    mujoco.mj_step(mjm, mjd)
  return mjd.qpos.copy(), mjd.qvel.copy(), mjd.ctrl.copy(), mjd.act.copy(), mjd.qacc_warmstart.copy()


def test_extra_models_configured():
  if not os.environ.get(EXTRA_MODELS_ENV):
    pytest.skip(f"{EXTRA_MODELS_ENV} is not set: set it to MJCF files or directories "
                f"(separated by '{os.pathsep}') to run this suite on models outside the repository")
  paths = _extra_paths()
  assert paths, f"{EXTRA_MODELS_ENV}={os.environ[EXTRA_MODELS_ENV]!r} names no *.xml file"
  missing = [str(p) for p in paths if not p.is_file()]
  assert not missing, f"{EXTRA_MODELS_ENV}: no such file(s): {missing}"


@pytest.mark.parametrize("name", MODEL_IDS)
def test_loads_or_is_rejected_clearly(name):
  mjm = _mj_model(name)
  m = _put_model(mjm)
  assert (m.nq, m.nv, m.nu, m.ngeom) == (mjm.nq, mjm.nv, mjm.nu, mjm.ngeom)


@pytest.mark.parametrize("name", MODEL_IDS)
def test_smooth_dynamics(name):
  mjm = _mj_model(name)
  mjm.opt.disableflags |= int(DSBL.mjDSBL_CONSTRAINT)
  m = _put_model(mjm)
  d = pws.make_data(m, NSMOOTH, "cpu")
  state = oracle.random_state(mjm, NSMOOTH, seed=5)
  oracle.set_state(d, *state)
  oracle.fill_nan(d)
  forward.forward(m, d)
  errs = {"qM": 0.0, "qfrc_bias": 0.0, "qacc": 0.0}
  for w in range(NSMOOTH):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    mujoco.mj_forward(mjm, mjd)
    errs["qM"] = max(errs["qM"], oracle.rel_err(d.qM.numpy()[w], oracle.full_m(mjm, mjd)))
    errs["qfrc_bias"] = max(errs["qfrc_bias"], oracle.rel_err(d.qfrc_bias.numpy()[w], mjd.qfrc_bias))
    errs["qacc"] = max(errs["qacc"], oracle.rel_err(d.qacc.numpy()[w], mjd.qacc))
  print(f"\n{name} smooth: " + ", ".join(f"{k} {v:.2e}" for k, v in errs.items()))
  assert errs["qM"] < INERTIA_TOL
  assert errs["qfrc_bias"] < FORCE_TOL
  assert errs["qacc"] < QACC_SMOOTH_TOL


def _mj_qacc(mjm, state, solver=None):
  mjd = oracle.mj_data(mjm, *state[:4])
  mjd.qacc_warmstart[:] = state[4]
  if solver is None:
    mujoco.mj_forward(mjm, mjd)
    return mjd
  saved = mjm.opt.solver
  mjm.opt.solver = solver
  try:
    mujoco.mj_forward(mjm, mjd)
  finally:
    mjm.opt.solver = saved
  return mjd


def _warp_forward(m, states):
  d = pws.make_data(m, len(states[0]), "cpu")
  oracle.set_state(d, *states[:4])
  d.qacc_warmstart.assign(states[4].astype(np.float32))
  oracle.fill_nan(d)
  forward.forward(m, d)
  return d


def _contact_qacc(name, mjm, d, states):
  """Per-state qacc rel err of d (forward done on states) vs mj_forward; contact counts and
  constraint rows equal.

  MuJoCo's PGS can stop short of the optimum of the (strictly convex) problem even with the
  iterations raised: where its qacc is farther than ISSUE_CONTACT_QACC_MAX_TOL from MuJoCo's Newton
  optimum, either MuJoCo answer is accepted as the reference (the count is the third value)."""
  errs, ncon, stalled = [], 0, 0
  for w in range(len(states[0])):
    state = tuple(a[w] for a in states)
    mjd = _mj_qacc(mjm, state)
    ncon += mjd.ncon
    assert d.contact.ncon.numpy()[w] == mjd.ncon, f"{name} world {w}: contact count"
    assert d.efc.nefc.numpy()[w] == mjd.nefc, f"{name} world {w}: constraint rows"
    err = oracle.rel_err(d.qacc.numpy()[w], mjd.qacc)
    if mjm.opt.solver == mujoco.mjtSolver.mjSOL_PGS:
      optimum = _mj_qacc(mjm, state, mujoco.mjtSolver.mjSOL_NEWTON).qacc
      if oracle.rel_err(mjd.qacc, optimum) > ISSUE_CONTACT_QACC_MAX_TOL:
        stalled += 1
        err = min(err, oracle.rel_err(d.qacc.numpy()[w], optimum))
    errs.append(err)
  assert ncon > 0, f"{name}: the dropped model must touch the floor"
  return np.array(errs), ncon, stalled


def _check_contact_qacc(name, solver, cone, make_states, label):
  """Constrained qacc of the Warp backend vs mj_forward on `make_states(name, cone)`, converged
  settings in both, against the issue's bounds."""
  mjm = _converged(_mj_model(name), solver, cone)
  states = make_states(name, int(cone))
  errs, ncon, stalled = _contact_qacc(name, mjm, _warp_forward(_put_model(mjm), states), states)
  median, worst = np.median(errs), np.max(errs)
  note = f" ({stalled} state(s) where MuJoCo's PGS stops short of its Newton optimum)" if stalled else ""
  print(f"\n{name}{label} {solver.name} {cone.name}: {ncon} contacts in {len(errs)} states, qacc rel "
        f"err median {median:.2e} max {worst:.2e}{note}")
  assert median < ISSUE_CONTACT_QACC_MEDIAN_TOL and worst < ISSUE_CONTACT_QACC_MAX_TOL


_SOLVERS = pytest.mark.parametrize("solver", [mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtSolver.mjSOL_CG,
                                              mujoco.mjtSolver.mjSOL_PGS], ids=["newton", "cg", "pgs"])
_CONES = pytest.mark.parametrize("cone", [mujoco.mjtCone.mjCONE_PYRAMIDAL, mujoco.mjtCone.mjCONE_ELLIPTIC],
                                 ids=["pyramidal", "elliptic"])


@_CONES
@_SOLVERS
@pytest.mark.parametrize("name", MODEL_IDS)
def test_contact_qacc(name, solver, cone):
  _check_contact_qacc(name, solver, cone, _contact_states, "")


@_CONES
@_SOLVERS
@pytest.mark.parametrize("name", MODEL_IDS)
def test_tumbling_contact_qacc(name, solver, cone):
  """test_contact_qacc on _tumbling_states (limbs and torso sliding and spinning on the floor)."""
  _check_contact_qacc(name, solver, cone, _tumbling_states, " tumbling")


def _integrators(name):
  own = int(_mj_model(name).opt.integrator)
  others = [i for i in (INT.mjINT_EULER, INT.mjINT_IMPLICITFAST, INT.mjINT_RK4) if int(i) != own]
  return [(name, own)] + [(name, int(i)) for i in others]


_BAD_STATE_WARNINGS = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                       mujoco.mjtWarning.mjWARN_BADQACC)


def _unstable(mjd) -> bool:
  """MuJoCo flagged a bad state in the last step (and reset the data, clearing the counts)."""
  return any(mjd.warning[int(w)].number > 0 for w in _BAD_STATE_WARNINGS)


_TRAJ_PARAMS = [p for name in MODEL_IDS for p in _integrators(name)]


def _traj_id(x):
  return mujoco.mjtIntegrator(x).name[6:].lower() if isinstance(x, int) else x


@functools.lru_cache(maxsize=None)
def _reference_trajectory(name: str, integrator: int):
  """MuJoCo C's TRAJ_STEPS steps from the settled state under perturbed controls (converged
  solver): (pre-step states as 5 arrays, post-step (qpos, qvel, act) list, ncon list, final
  MjData), or a skip reason when MuJoCo itself goes unstable."""
  mjm = _converged(_mj_model(name))
  mjm.opt.integrator = integrator
  qpos0, qvel0, ctrl0, act0, warm0 = _settled_state(name)
  lo, hi = _ctrl_range(mjm)
  rng = np.random.default_rng(2)
  ctrl0 = np.clip(ctrl0 + rng.normal(0, 0.05, ctrl0.shape) * (hi - lo), lo, hi)
  mjd = oracle.mj_data(mjm, qpos0, qvel0, ctrl0, act0)
  mjd.qacc_warmstart[:] = warm0
  pre, post, ncon = [], [], []
  for k in range(TRAJ_STEPS):
    pre.append((mjd.qpos.copy(), mjd.qvel.copy(), mjd.ctrl.copy(), mjd.act.copy(), mjd.qacc_warmstart.copy()))
    mujoco.mj_step(mjm, mjd)
    if _unstable(mjd):
      return (f"MuJoCo C itself is unstable with {mujoco.mjtIntegrator(integrator).name} on this "
              f"model (bad qpos/qvel/qacc warning at step {k + 1}): no reference trajectory")
    post.append((mjd.qpos.copy(), mjd.qvel.copy(), mjd.act.copy()))
    ncon.append(mjd.ncon)
  assert sum(ncon), f"{name}: the settled model must touch the floor"
  return tuple(np.array([s[i] for s in pre]) for i in range(5)), post, ncon, mjd


def _replay_errors(mjm, m, ref, step_batch):
  """Max rel err of one step from each of MuJoCo's pre-step states vs its post-step state,
  stepping batches of worlds whose dense constraint Jacobians fit REPLAY_BYTES (large scenes
  size them for thousands of contact rows). step_batch(states) returns (qpos, qvel, act)."""
  pre, post, _, _ = ref
  d = pws.make_data(m, 1, "cpu")
  batch = int(np.clip(REPLAY_BYTES // (4 * d.efc.efc_J.size + 1), 1, TRAJ_STEPS))
  errs = {"qpos": 0.0, "qvel": 0.0, "act": 0.0}
  sizes = (mjm.nq, mjm.nv, mjm.na)
  for k0 in range(0, TRAJ_STEPS, batch):
    ks = range(k0, min(k0 + batch, TRAJ_STEPS))
    out = step_batch(tuple(a[ks.start:ks.stop] for a in pre))
    for i, field in enumerate(("qpos", "qvel", "act")):
      ours = out[i][:, :sizes[i]]
      errs[field] = max([errs[field]] + [oracle.rel_err(ours[j], post[k][i]) for j, k in enumerate(ks)])
  return errs


@pytest.mark.parametrize("name,integrator", _TRAJ_PARAMS, ids=_traj_id)
def test_trajectory_from_settled_state(name, integrator):
  """TRAJ_STEPS steps of MuJoCo C from the settled state under perturbed controls. Every step of
  that trajectory is replayed as one step from MuJoCo's state (steps as a batch of worlds):
  the integrator's and the step's own error, held to tight bounds. The free-running
  trajectory is compared too, with a bound for its chaotic part (see FREE_TRAJ_QPOS_TOL)."""
  mjm = _converged(_mj_model(name))
  mjm.opt.integrator = integrator
  m = _put_model(mjm)
  ref = _reference_trajectory(name, integrator)
  if isinstance(ref, str):
    pytest.skip(ref)

  def warp_step(states):
    d = pws.make_data(m, len(states[0]), "cpu")
    oracle.set_state(d, *states[:4])
    d.qacc_warmstart.assign(states[4].astype(np.float32))
    forward.step(m, d)
    return d.qpos.numpy(), d.qvel.numpy(), d.act.numpy()

  errs = _replay_errors(mjm, m, ref, warp_step)

  # the free-running trajectory
  (qpos, qvel, ctrl, act, warm), _, ncon, mjd = ref
  d = pws.make_data(m, 1, "cpu")
  oracle.set_state(d, qpos[:1], qvel[:1], ctrl[:1], act[:1])
  d.qacc_warmstart.assign(warm[:1].astype(np.float32))
  for _ in range(TRAJ_STEPS):
    forward.step(m, d)
  err_q = oracle.rel_err(d.qpos.numpy()[0], mjd.qpos)
  err_v = oracle.rel_err(d.qvel.numpy()[0], mjd.qvel)
  print(f"\n{name} {mujoco.mjtIntegrator(integrator).name} (ncon {min(ncon)}..{max(ncon)}): one step qpos "
        f"{errs['qpos']:.2e} qvel {errs['qvel']:.2e} act {errs['act']:.2e}; {TRAJ_STEPS} steps qpos "
        f"{err_q:.2e} qvel {err_v:.2e}")
  assert errs["qpos"] < STEP_QPOS_TOL and errs["qvel"] < STEP_QVEL_TOL and errs["act"] < STEP_QVEL_TOL
  assert np.isfinite(d.qpos.numpy()).all() and np.isfinite(d.qvel.numpy()).all()
  assert err_q < FREE_TRAJ_QPOS_TOL


@pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))
@pytest.mark.parametrize("name,integrator", _TRAJ_PARAMS, ids=_traj_id)
def test_native_one_step_replay(name, integrator):
  """test_trajectory_from_settled_state's one-step replay through the native step."""
  mjm = _converged(_mj_model(name))
  mjm.opt.integrator = integrator
  m = _put_model(mjm)
  try:
    pws.Simulator(m, nworld=1, device="cpu", backend="native")
  except RuntimeError as e:
    pytest.skip(f"native backend: {e}")
  ref = _reference_trajectory(name, integrator)
  if isinstance(ref, str):
    pytest.skip(ref)

  def native_step(states):
    sim = pws.Simulator(m, nworld=len(states[0]), device="cpu", backend="native")
    oracle.set_state(sim.data, *states[:4])
    sim.data.qacc_warmstart.assign(states[4].astype(np.float32))
    sim.step(1)
    return sim.data.qpos.numpy(), sim.data.qvel.numpy(), sim.data.act.numpy()

  errs = _replay_errors(mjm, m, ref, native_step)
  print(f"\n{name} native {mujoco.mjtIntegrator(integrator).name}: one step qpos {errs['qpos']:.2e} "
        f"qvel {errs['qvel']:.2e} act {errs['act']:.2e}")
  assert errs["qpos"] < STEP_QPOS_TOL and errs["qvel"] < STEP_QVEL_TOL and errs["act"] < STEP_QVEL_TOL


@pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))
@pytest.mark.parametrize("cone", [mujoco.mjtCone.mjCONE_PYRAMIDAL, mujoco.mjtCone.mjCONE_ELLIPTIC],
                         ids=["pyramidal", "elliptic"])
@pytest.mark.parametrize("solver", [mujoco.mjtSolver.mjSOL_NEWTON, mujoco.mjtSolver.mjSOL_CG,
                                    mujoco.mjtSolver.mjSOL_PGS], ids=["newton", "cg", "pgs"])
@pytest.mark.parametrize("name", MODEL_IDS)
def test_native_contact_states(name, solver, cone):
  """The native step's forward on the contact states, with test_contact_qacc's bounds."""
  mjm = _converged(_mj_model(name), solver, cone)
  m = _put_model(mjm)
  states = _contact_states(name, int(cone))
  try:
    sim = pws.Simulator(m, nworld=len(states[0]), device="cpu", backend="native")
  except RuntimeError as e:
    pytest.skip(f"native backend: {e}")
  oracle.set_state(sim.data, *states[:4])
  sim.data.qacc_warmstart.assign(states[4].astype(np.float32))
  oracle.fill_nan(sim.data)
  sim.forward()
  errs, ncon, stalled = _contact_qacc(name, mjm, sim.data, states)
  median, worst = np.median(errs), np.max(errs)
  note = f" ({stalled} state(s) where MuJoCo's PGS stops short of its Newton optimum)" if stalled else ""
  print(f"\n{name} native {solver.name} {cone.name}: qacc rel err median {median:.2e} max {worst:.2e}{note}")
  converged = median < ISSUE_CONTACT_QACC_MEDIAN_TOL and worst < ISSUE_CONTACT_QACC_MAX_TOL
  assert converged
