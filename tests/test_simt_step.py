"""The fused lane-group step (kernels/simt_step.h, lanes emulated on the CPU): each stage against the
native CPU step's bit for bit, the fused step's trajectory against the native CPU step and MuJoCo
C, the health check and auto reset, the refusals; on a GPU, the CUDA kernels (one group per world
and persistent) against the emulation bit for bit.

Most tests run with mjDSBL_CONSTRAINT, which the native step honours (no contacts, no rows): then
the whole step is the native step's bit for bit up to sin/cos and atan2. With constraints the step
runs the lane-group collision, rows and Newton solver (kernels/simt_collision.h,
simt_constraint.h, simt_solver.h), whose lane sums round differently from the native solver's:
trajectories are compared within the contact-trajectory bounds."""

import mujoco
import numpy as np
import pytest
import torch

import assets
import oracle
import pywarp_sim as pws
from pywarp_sim import native, native_backend, simt
from pywarp_sim.types import DATA_FIELDS, Role
from pywarp_sim.models import cmu_humanoid
from backends import simulator
from tolerances import (CONTACT_TRAJ_QPOS_TOL, CONTACT_TRAJ_QVEL_TOL, FORCE_TOL, QACC_SMOOTH_TOL, ROT_TOL,
                        TRAJ_TOL)

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))

# A pendulum chain with every force the step ports and no contact or limit: hinge and slide
# springs (springref), dampers, armature, a fixed tendon with a spring deadband and damping,
# gravity compensation, joint and tendon transmissions, stateful and affine actuators.
PENDULUM = """
<mujoco model="pendulum_chain">
  <option timestep="0.004"/>
  <default>
    <joint type="hinge" axis="0 1 0" damping="0.3" armature="0.02"/>
    <geom type="capsule" size="0.03" contype="0" conaffinity="0"/>
  </default>
  <worldbody>
    <body name="l1" pos="0 0 2">
      <joint name="j1" stiffness="4" springref="0.3"/>
      <geom fromto="0 0 0 0.3 0 0"/>
      <body name="l2" pos="0.3 0 0">
        <joint name="j2" axis="1 0 0"/>
        <geom fromto="0 0 0 0.3 0 0"/>
        <body name="l3" pos="0.3 0 0" gravcomp="0.5">
          <joint name="j3" type="slide" axis="1 0 0" stiffness="50" damping="2"/>
          <geom fromto="0 0 0 0.3 0 0"/>
          <body name="l4" pos="0.3 0 0">
            <joint name="j4" axis="0 0 1"/>
            <geom fromto="0 0 0 0 0 -0.3"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <tendon>
    <fixed name="t" stiffness="20" damping="0.5" springlength="-0.1 0.1">
      <joint joint="j2" coef="1"/>
      <joint joint="j4" coef="-0.5"/>
    </fixed>
  </tendon>
  <actuator>
    <motor name="m1" joint="j1" gear="2" ctrlrange="-1 1"/>
    <position name="p2" joint="j2" kp="10" kv="0.5"/>
    <general name="f3" joint="j3" dyntype="filterexact" dynprm="0.05" gainprm="20" biastype="affine"
             biasprm="0 -5 -1"/>
    <motor name="tm" tendon="t" gear="3" forcerange="-2 2" forcelimited="true"/>
    <intvelocity name="iv4" joint="j4" kp="5" actrange="-1 1"/>
  </actuator>
</mujoco>
"""

# the bundled humanoids (cmu_humanoid: 56 hinges, nv = 62), the test assets without equality
# constraints (their rows need constraints on: test_trajectory_with_equality_...), the pendulum
MODELS = ["pendulum", "humanoid", "cmu_humanoid",
          *(n for n in assets.MODELS if n not in ("equality_zoo", "fourbar_biped"))]
GROUPS = (8, 16, 32)
NWORLD = 6
DISABLE = (mujoco.mjtDisableBit.mjDSBL_CONSTRAINT,)
INTEGRATORS = ("euler", "euler_explicit", "implicitfast")

# what each stage writes (Data fields)
STAGE_OUTPUTS = {
  "tendon": ("ten_length", "ten_velocity"),
  "transmission": ("actuator_length", "actuator_velocity"),
  "passive": ("qfrc_spring", "qfrc_damper", "qfrc_gravcomp", "qfrc_passive"),
  "actuation": ("actuator_force", "qfrc_actuator", "act_dot"),
  "acceleration": ("qfrc_smooth", "qacc_smooth"),
}
# what a step leaves (compared after the integrator and the whole step)
STEPPED = ("qpos", "qvel", "act", "time", "qacc", "qacc_warmstart", "qfrc_passive", "qfrc_actuator",
           "actuator_force", "act_dot", "qfrc_smooth", "qacc_smooth", "qfrc_constraint", "xpos", "xquat",
           "cvel", "qfrc_bias")


def _mj_model(name, integrator="euler", disable=DISABLE):
  if name == "pendulum":
    mjm = mujoco.MjModel.from_xml_string(PENDULUM)
    for flag in disable:
      mjm.opt.disableflags |= int(flag)
  else:
    mjm = oracle.mj_model(name, disable=disable)
  if integrator == "implicitfast":
    mjm.opt.integrator = int(mujoco.mjtIntegrator.mjINT_IMPLICITFAST)
    mjm.tendon_damping[:] = 0  # pywarp_sim refuses tendon damping with implicitfast (io._validate)
  elif integrator == "euler_explicit":
    mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_EULERDAMP)
  return mjm


def _uses_atan2(mjm):
  """A free or ball joint with a spring: its passive force goes through atan2 (sub_quat)."""
  rot = (mjm.jnt_type == int(mujoco.mjtJoint.mjJNT_FREE)) | (mjm.jnt_type == int(mujoco.mjtJoint.mjJNT_BALL))
  return bool(np.any(rot & (mjm.jnt_stiffness != 0)))


def _sims(mjm, nworld, seed, n=2, hinges_at_rest=False, gentle=False, **kw):
  """n native CPU Simulators at the same random state, every derived array NaN. gentle: velocities
  and controls a tenth of oracle.random_state's (a humanoid without joint limits, driven hard,
  folds onto itself and diverges within 50 steps in MuJoCo C as here)."""
  state = list(oracle.random_state(mjm, nworld, seed, qvel_scale=0.1 if gentle else 1.0))
  if gentle:
    state[2] = state[2] * 0.1
  if hinges_at_rest:  # sin and cos of a zero angle are exact in every implementation
    for j in np.flatnonzero(mjm.jnt_type == int(mujoco.mjtJoint.mjJNT_HINGE)):
      state[0][:, mjm.jnt_qposadr[j]] = mjm.qpos0[mjm.jnt_qposadr[j]]
  sims = [simulator(mjm, nworld, "native", **kw) for _ in range(n)]
  for s in sims:
    oracle.set_state(s.data, *state)
    oracle.fill_nan(s.data)
  return state, sims


def _bits(sim, field):
  a = getattr(sim.data, field).numpy()
  return a.view(np.int32) if a.dtype == np.float32 else a


def _assert_same_bits(ref, emu, fields, label):
  for field in fields:
    a, b = getattr(ref.data, field).numpy(), getattr(emu.data, field).numpy()
    assert np.array_equal(_bits(ref, field), _bits(emu, field)), (
      f"{label}: {field} differs from the native step by {np.nanmax(np.abs(a.astype(np.float64) - b)):.2e}")


# ---- each stage against the native step's -------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_stages_equal_native_bitwise(name):
  """Tendons, transmission, passive and actuator forces and the smooth acceleration from the state
  the native forward left: the scalar stages' bits at random states, every group size (the stages
  hold no sin/cos; ball and free joint springs go through atan2: FORCE_TOL and QACC_SMOOTH_TOL)."""
  mjm = _mj_model(name)
  atan2 = _uses_atan2(mjm)
  _, (ref, *emus) = _sims(mjm, NWORLD, seed=11, n=1 + len(GROUPS))
  # applied forces (apply_ft's per-dof sums): on every body but the world's, none in world 0
  rng = np.random.default_rng(11)
  xfrc = rng.normal(0, 5, (NWORLD, mjm.nbody, 6)).astype(np.float32)
  xfrc[0] = 0
  xfrc[:, 0] = 0
  qfrc = rng.normal(0, 1, (NWORLD, mjm.nv)).astype(np.float32)
  for s in (ref, *emus):
    s.data.xfrc_applied.assign(xfrc)
    s.data.qfrc_applied.assign(qfrc)
    s.forward()
  for group, emu in zip(GROUPS, emus):
    for stage, outputs in STAGE_OUTPUTS.items():
      for field in outputs:
        getattr(emu.data, field).fill_(float("nan"))
      simt.step_stage(emu, stage, group_size=group)
      label = f"{name} group {group} stage {stage}"
      for field in outputs:
        a, b = getattr(ref.data, field).numpy(), getattr(emu.data, field).numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b)), f"{label}: {field} not written where the native writes"
      if atan2 and stage in ("passive", "acceleration"):
        for field, tol in (("qfrc_spring", FORCE_TOL), ("qfrc_passive", FORCE_TOL), ("qacc_smooth", QACC_SMOOTH_TOL)):
          if field in outputs:
            err = oracle.rel_err(getattr(emu.data, field).numpy(), getattr(ref.data, field).numpy())
            assert err < tol, f"{label}: {field} vs the native step {err:.2e} >= {tol:.0e}"
        # the stage's inputs are the native's, so where no rotational spring enters the bits hold
        exact = [f for f in outputs if f not in ("qfrc_spring", "qfrc_passive", "qfrc_smooth", "qacc_smooth")]
        _assert_same_bits(ref, emu, exact, label)
        for field in outputs:  # continue from the native's values
          getattr(emu.data, field).assign(getattr(ref.data, field).numpy())
      else:
        _assert_same_bits(ref, emu, outputs, label)


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("name", MODELS)
def test_integrator_and_health_equal_native_step(name, integrator):
  """From the native forward's Data, the lane group's integrator and health check leave the native
  step's state: bit for bit but for the quaternions of free and ball joints (simt::sincos in the
  integration: ROT_TOL)."""
  mjm = _mj_model(name, integrator)
  _, (ref, emu) = _sims(mjm, NWORLD, seed=13)
  ref.step()
  emu.forward()
  for field in ("qH", "qHDiagInv", "qacc_scratch", "qfrc_scratch"):
    getattr(emu.data, field).fill_(float("nan"))
  simt.step_stage(emu, "integrate", group_size=16)
  simt.step_stage(emu, "health", group_size=16)
  label = f"{name} {integrator}"
  quat = np.zeros(mjm.nq, bool)
  for j in range(mjm.njnt):
    adr, jtype = mjm.jnt_qposadr[j], mjm.jnt_type[j]
    if jtype == int(mujoco.mjtJoint.mjJNT_FREE):
      quat[adr + 3:adr + 7] = True
    elif jtype == int(mujoco.mjtJoint.mjJNT_BALL):
      quat[adr:adr + 4] = True
  a, b = ref.data.qpos.numpy(), emu.data.qpos.numpy()
  assert np.array_equal(a[:, ~quat].view(np.int32), b[:, ~quat].view(np.int32)), f"{label}: qpos"
  assert oracle.rel_err(b[:, quat], a[:, quat]) < ROT_TOL, f"{label}: quaternions"
  _assert_same_bits(ref, emu, [f for f in STEPPED if f != "qpos"], label)
  if integrator != "euler_explicit" and (integrator == "implicitfast" or np.any(mjm.dof_damping)):
    _assert_same_bits(ref, emu, ("qacc_scratch", "qfrc_scratch", "qHDiagInv"), label)
    nv = mjm.nv
    lower = np.tril(np.ones((nv, nv), bool)).reshape(-1)
    a, b = (s.data.qH.numpy().reshape(NWORLD, -1)[:, lower] for s in (ref, emu))
    assert np.array_equal(a.view(np.int32), b.view(np.int32)), f"{label}: qH's lower triangle"
  np.testing.assert_array_equal(emu.health.numpy(), ref.health.numpy())


# ---- the fused step ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_one_step_equals_native_bitwise_with_hinges_at_rest(name):
  """One fused step from hinges at their reference angle (exact sin/cos in the kinematics): every
  stepped array is the native step's bits, every group size; the integrated quaternions within
  ROT_TOL (simt::sincos); with ball or free joint springs (atan2) the one-step bound."""
  mjm = _mj_model(name)
  atan2 = _uses_atan2(mjm)
  _, (ref, *emus) = _sims(mjm, NWORLD, seed=17, n=1 + len(GROUPS), hinges_at_rest=True)
  ref.step()
  for group, emu in zip(GROUPS, emus):
    simt.step(emu, group_size=group)
    label = f"{name} group {group}"
    for field in ("qpos", "xquat"):
      assert oracle.rel_err(getattr(emu.data, field).numpy(), getattr(ref.data, field).numpy()) < ROT_TOL, label
    if atan2:
      for field in ("qvel", "qacc"):
        err = oracle.rel_err(getattr(emu.data, field).numpy(), getattr(ref.data, field).numpy())
        assert err < QACC_SMOOTH_TOL, f"{label}: {field} vs the native step {err:.2e}"
      _assert_same_bits(ref, emu, ("time", "act", "actuator_force", "qfrc_actuator", "xpos", "cvel"), label)
    else:
      _assert_same_bits(ref, emu, [f for f in STEPPED if f not in ("qpos", "xquat")], label)
    np.testing.assert_array_equal(emu.health.numpy(), ref.health.numpy())


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("name", MODELS)
def test_trajectory_matches_native_and_mujoco(name, integrator):
  """50 fused steps at gentle random states and constant controls, against the native CPU step
  (which differs only through sin/cos and atan2) and MuJoCo C's mj_step in float64 (TRAJ_TOL:
  float32 rounding amplified by the dynamics)."""
  if name == "cmu_humanoid" and integrator == "euler_explicit":
    pytest.skip("explicit damping of the CMU-class humanoid's light joints (fingers, toes) is unstable at its 5 ms "
                "timestep: MuJoCo C's qvel reaches 1.6e3 rad/s in 50 steps from rest")
  mjm = _mj_model(name, integrator)
  nsteps = 50
  state, (ref, emu) = _sims(mjm, 4, seed=19, gentle=True)
  ref.step(nsteps)
  simt.step(emu, nsteps=nsteps, group_size=8)
  worst = {}
  for field in ("qpos", "qvel", "act"):
    ours = getattr(emu.data, field).numpy()
    assert np.isfinite(ours).all(), f"{name} {integrator}: {field} not finite"
    worst[f"native {field}"] = oracle.rel_err(ours, getattr(ref.data, field).numpy())
  for w in range(4):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    for _ in range(nsteps):
      mujoco.mj_step(mjm, mjd)
    for field in ("qpos", "qvel", "act"):
      err = oracle.rel_err(getattr(emu.data, field).numpy()[w][:getattr(mjd, field).size], getattr(mjd, field))
      worst[f"mujoco {field}"] = max(worst.get(f"mujoco {field}", 0.0), err)
  np.testing.assert_allclose(emu.data.time.numpy(), ref.data.time.numpy(), rtol=0, atol=0)
  for key, err in worst.items():
    assert err < TRAJ_TOL, f"{name} {integrator}: {key} after {nsteps} steps {err:.2e} >= {TRAJ_TOL:.0e}"
  np.testing.assert_array_equal(emu.health.numpy(), 0)


def _contact_trajectory(mjm, state, ref, emu, group, nsteps, label, eq_active=None, mujoco_c=True):
  """nsteps native steps of `ref` and fused steps of `emu` (the same contacts and row counts every
  step), then both against each other and (mujoco_c) MuJoCo C within CONTACT_TRAJ_*_TOL. Returns
  the contacts and equality rows summed over the steps and worlds."""
  contacts = equality = 0
  for _ in range(nsteps):
    ref.step()
    simt.step(emu, group_size=group)
    contacts += int(emu.ncon.numpy().sum())
    equality += int(emu.data.efc.ne.numpy().sum())
    np.testing.assert_array_equal(emu.ncon.numpy(), ref.ncon.numpy(), err_msg=label)
    np.testing.assert_array_equal(emu.data.efc.ne.numpy(), ref.data.efc.ne.numpy(), err_msg=label)
    np.testing.assert_array_equal(emu.data.efc.nefc.numpy(), ref.data.efc.nefc.numpy(), err_msg=label)
  bounds = {"qpos": CONTACT_TRAJ_QPOS_TOL, "qvel": CONTACT_TRAJ_QVEL_TOL}
  for field, tol in bounds.items():
    err = oracle.rel_err(getattr(emu.data, field).numpy(), getattr(ref.data, field).numpy())
    assert err < tol, f"{label}: {field} vs the native step after {nsteps} steps {err:.2e}"
  for w in range(len(state[0]) if mujoco_c else 0):
    mjd = oracle.mj_data(mjm, *(s[w] for s in state))
    if eq_active is not None:
      mjd.eq_active[:] = eq_active[w]
    for _ in range(nsteps):
      mujoco.mj_step(mjm, mjd)
    for field, tol in bounds.items():
      err = oracle.rel_err(getattr(emu.data, field).numpy()[w], getattr(mjd, field))
      assert err < tol, f"{label} world {w}: {field} vs MuJoCo after {nsteps} steps {err:.2e}"
  np.testing.assert_array_equal(emu.health.numpy(), ref.health.numpy())
  return contacts, equality


# models without convex pairs (tests/test_simt_convex.py steps those) that make rows from these
# states (two_trees' box stays in the air), and the pendulum: constraints on, no rows
CONTACT_MODELS = ["pendulum", "humanoid", "tendon_humanoid", "tendon_walker"]


@pytest.mark.parametrize("integrator", ("euler", "implicitfast"))
@pytest.mark.parametrize("name", CONTACT_MODELS)
def test_trajectory_with_contacts_matches_native_and_mujoco(name, integrator):
  """50 fused steps with constraints (falling and touching the floor from gentle random states):
  the lane-group collision and rows equal the native ones, the Newton solve differs by its lane
  sums' rounding; against the native CPU step and MuJoCo C within CONTACT_TRAJ_*_TOL."""
  mjm = _mj_model(name, integrator, disable=())
  nsteps = 50
  state, (ref, emu) = _sims(mjm, 4, seed=37, gentle=True)
  contacts, _ = _contact_trajectory(mjm, state, ref, emu, 16, nsteps, f"{name} {integrator}")
  assert name == "pendulum" or contacts > 0 or ref.data.efc.nefc.numpy().any(), f"{name}: no rows in {nsteps} steps"


@pytest.mark.parametrize("group", GROUPS)
def test_cmu_humanoid_with_contacts_matches_native_and_mujoco(group):
  """The 56-hinge CMU-class humanoid (nv = 62: the solver's shared arrays 31 KB per world) for 50
  fused steps with contacts (self-contacts and the floor) and joint limits from gentle random
  states, every group size: the same contacts and rows as the native step every step, the
  trajectory within CONTACT_TRAJ_*_TOL of the native step and MuJoCo C."""
  mjm = _mj_model("cmu_humanoid", disable=())
  assert (mjm.nv, mjm.nu) == (62, 56)
  assert cmu_humanoid.PATH.read_text() == cmu_humanoid.mjcf(), "cmu_humanoid.xml is not its generator's output"
  state, (ref, emu) = _sims(mjm, 4, seed=37, gentle=True)
  contacts, _ = _contact_trajectory(mjm, state, ref, emu, group, 50, f"cmu_humanoid group {group}")
  assert contacts > 0


def _equality_model(name, integrator):
  """A test asset with equality constraints, solimp powers 1 and 2 only (equality_zoo's hook has
  power 3, whose powf the lane-group rows refuse: taken as 2)."""
  mjm = _mj_model(name, integrator, disable=())
  mjm.eq_solimp[:, 4] = np.minimum(mjm.eq_solimp[:, 4], 2.0)
  return mjm


@pytest.mark.parametrize("integrator", ("euler", "implicitfast"))
@pytest.mark.parametrize("name", ["equality_zoo", "fourbar_biped"])
def test_trajectory_with_equality_matches_native_and_mujoco(name, integrator):
  """50 fused steps with equality constraints (connect and weld between bodies and sites, joint
  and tendon polynomials; per-world eq_active: world 3 without any) and contacts: the same
  equality, limit and contact row counts as the native step every step; against the native step
  and MuJoCo C within CONTACT_TRAJ_*_TOL. equality_zoo with implicitfast against the native step
  only: the native step itself is 2.3e-3 to 1.3e-2 (qpos) from MuJoCo C there after 50 steps, in
  the world without equality rows too (measured), so the bound would test the native step."""
  mjm = _equality_model(name, integrator)
  state, (ref, emu) = _sims(mjm, 4, seed=41, gentle=True)
  active = np.tile(mjm.eq_active0.astype(np.int32), (4, 1))
  active[2] = 1  # equality_zoo's inactive constraint on
  active[3] = 0
  for s in (ref, emu):
    s.data.eq_active.assign(active)
  _, equality = _contact_trajectory(mjm, state, ref, emu, 16, 50, f"{name} {integrator}", eq_active=active,
                                    mujoco_c=not (name == "equality_zoo" and integrator == "implicitfast"))
  assert equality > 0


@pytest.mark.parametrize("auto_reset", (False, True))
def test_health_and_auto_reset_equal_native(auto_reset):
  """Non-finite and too fast worlds: the same health bits, counters, last-reset flags and (with
  auto_reset) the same reset state as the native step."""
  mjm = _mj_model("pendulum")
  _, (ref, emu) = _sims(mjm, 4, seed=23, auto_reset=auto_reset, max_qvel=50.0)
  for s in (ref, emu):
    qvel = s.data.qvel.numpy()
    qvel[1, 0] = np.nan
    qvel[2, 1] = 80.0
    s.data.qvel.assign(qvel)
  ref.step(2)
  simt.step(emu, nsteps=2, group_size=8)
  np.testing.assert_array_equal(emu.health.numpy(), ref.health.numpy())
  np.testing.assert_array_equal(emu.last_reset_flags.numpy(), ref.last_reset_flags.numpy())
  assert emu.counters == ref.counters
  flagged = (ref.last_reset_flags if auto_reset else ref.health).numpy()
  assert flagged[1] & 1 and flagged[2] & 8, flagged  # NONFINITE, VELOCITY_BOUND
  healthy = [0, 3] if not auto_reset else [0, 1, 2, 3]
  for field in ("qpos", "qvel", "act", "time"):
    a, b = getattr(ref.data, field).numpy()[healthy], getattr(emu.data, field).numpy()[healthy]
    assert oracle.rel_err(b, a) < ROT_TOL, field


def test_recording_run_has_no_race_and_same_bits():
  """The measured run (counting float, address recorder) finds no location shared between lanes
  within a phase (kernels/simt.h rule 1; it raises otherwise) and writes the same bits; the
  counts per stage are consistent. The humanoid with contacts and tendons, implicitfast."""
  mjm = _mj_model("tendon_humanoid", "implicitfast", disable=())
  _, (fast, measured) = _sims(mjm, 4, seed=29, gentle=True)
  simt.step(fast, nsteps=2, group_size=16)
  stats = simt.step(measured, nsteps=2, group_size=16, record=True)
  _assert_same_bits(fast, measured, STEPPED, "recorded")
  assert set(stats["stages"]) == set(simt.STEP_STAGES)
  assert fast.ncon.numpy().sum() > 0, "no contact: the collision and rows stages are not exercised"
  for stage, s in stats["stages"].items():
    if stage == "sensors" and mjm.nsensor == 0:  # the model has none: the stage does nothing
      assert s["phases"] == 0 and s["warp_instructions"] == 0, stage
      continue
    assert s["phases"] > 0 and s["warp_instructions"] > 0, stage
    assert s["warp_instructions"] <= s["lane_instructions"] <= 16 * s["warp_instructions"], stage
    assert s["global_requests"] <= s["global_sectors"] <= 16 * s["global_requests"], stage
    # the per-array breakdown partitions the stage's requests and sectors
    by = [e for e in stats["requests_by_array"] if e["stage"] == stage]
    assert sum(e["requests"] for e in by) == s["global_requests"], stage
    assert sum(e["sectors"] for e in by) == s["global_sectors"], stage
    assert all(e["packed_sectors"] <= e["sectors"] for e in by), stage
  arrays = {e["array"] for e in stats["requests_by_array"]}
  assert {"qpos", "qvel", "model.body_pos"} <= arrays, arrays
  p = simt.step_proxies(fast, group_size=8)
  assert 1.0 <= p["sectors_per_request"] <= 32.0 and 0.0 < p["lane_efficiency"] <= 1.0
  assert p["instructions_per_world_step"] > 0
  # the smooth stage's qM and crb x cdof (nv^2 + 6 nv floats) exceed the solver's factor (nv^2 + 2 nv)
  assert simt.step_shared_bytes_per_world(mjm.nv) == 4 * (mjm.nv ** 2 + 6 * mjm.nv)
  assert simt.step_shared_bytes_per_world(mjm.nv, nconmax=10 ** 6) == 4 * 10 ** 6


def test_launch_shape_from_the_shared_arrays():
  """Worlds per block (csrc/simt_launch.cu), by sm_90's shared memory: the block keeping the most
  worlds resident per SM. The CMU-class humanoid's smooth-stage arrays (nv^2 + 6 nv floats: 16,864
  bytes at nv = 62; the solver's nv^2 + 2 nv are fewer) leave 13 worlds per SM (233,472 // 17,888
  with 1,024 bytes reserved per block): one block of 13 at 8 lanes (at most 232,448 // 16,864 = 13
  per block), thirteen blocks of 1 at 16 and 32 lanes (a block of 8 / 4 would keep 8 / 4). None past
  the per-block limit."""
  mjm = oracle.mj_model("cmu_humanoid")
  col = simulator(mjm, 1, "native").model.collision
  shared = simt.step_shared_bytes_per_world(mjm.nv, col.npair, col.nconmax, mjm.neq)
  assert shared == 4 * (62 ** 2 + 6 * 62) == 16864
  assert [simt.block_worlds(g, shared) for g in GROUPS] == [13, 1, 1]
  assert simt.block_worlds(32, simt.SM90_SHARED_PER_BLOCK + 4) == 0
  # the occupancy calculator's answer decides: one block per SM whatever its size keeps the largest
  assert [simt.block_worlds(g, shared, resident=lambda w: 1) for g in GROUPS] == [13, 8, 4]


# ---- the step's field-level footprint ------------------------------------------------------------


def test_footprint_is_measured_from_the_accesses():
  """step_footprint classifies each Data array by its scalars' recorded first accesses within a
  step, not by a list: on lying humanoids (contacts, rows, Newton) what a step reads before
  writing is carried, the poses, mass matrix, contacts and rows are written before they are read
  (transient); the pendulum's stateful actuators make act carried where the humanoid (no
  activations) leaves it untouched; without constraints the contact and row arrays go untouched.
  The class bytes add up to the step's per-world arrays."""
  mjm = _mj_model("humanoid", disable=())
  state = oracle.lying_states(mjm, 3, seed=11)
  sim = simulator(mjm, 3, "native")
  oracle.set_state(sim.data, *state)
  fp = simt.step_footprint(sim, group_size=16, nsteps=2)
  assert sim.ncon.numpy().min() > 0, "lying humanoids touch the floor"
  got = fp["fields"]
  for f in ("time", "qpos", "qvel", "ctrl", "qacc_warmstart", "qfrc_applied", "xfrc_applied", "health"):
    assert got[f] == "carried", (f, got[f])
  for f in ("xpos", "xmat", "geom_xpos", "cdof", "qM", "qfrc_bias", "qacc_smooth", "qacc", "contact.ncon",
            "contact.dist", "contact.frame", "efc.nefc", "efc.efc_J", "efc.efc_D", "efc.efc_force"):
    assert got[f] == "transient", (f, got[f])
  assert got["act"] == "untouched" and got["qpos_t0"] == "untouched"  # no activations; RK4 scratch
  assert set(fp["classes"]) == set(simt.FOOTPRINT_CLASSES)
  assert sum(fp["bytes_per_world"].values()) == fp["data_bytes_per_world"]
  assert fp["data_bytes_per_world"] == round(native_backend.state_bytes_per_world(sim)["data"])
  carried = sum(getattr(sim.data, f).capacity // 3 for f in fp["classes"]["carried"] if f in dir(sim.data))
  assert fp["bytes_per_world"]["carried"] == carried + sim.health_arrays()["health"].capacity // 3
  assert fp["bytes_per_world"]["carried"] < 2048 < fp["bytes_per_world"]["transient"]

  pendulum = simulator(_mj_model("pendulum"), 2, "native")  # mjDSBL_CONSTRAINT: no contacts, no rows
  oracle.set_state(pendulum.data, *oracle.random_state(pendulum.model.mj_model, 2, 3))
  got = simt.step_footprint(pendulum, group_size=8)["fields"]
  assert got["act"] == "carried" and got["ten_length"] == "transient"
  assert got["contact.dist"] == "untouched" and got["efc.efc_J"] == "untouched"


def test_footprint_carries_only_the_schema_state():
  """The seam of Simulator(workspace="group") (types.GROUP_SLOT_ROLES per group slot): every array a
  step reads before writing it, measured over lying humanoids (contacts, rows, Newton), a humanoid
  with tendons under implicitfast and the pendulum's stateful actuators, is a Role.STATE field of
  the schema or the Simulator's health flags; so holding everything else per group slot changes
  no bit (test_group_workspace_trajectory_is_bit_identical)."""
  state_fields = {f.name for f in DATA_FIELDS if f.role == Role.STATE} | {"health"}
  cases = [("humanoid", "euler", oracle.lying_states(_mj_model("humanoid", disable=()), 3, seed=11)),
           ("tendon_humanoid", "implicitfast", None), ("pendulum", "implicitfast", None)]
  for name, integrator, lying in cases:
    mjm = _mj_model(name, integrator, disable=())
    if lying is None:
      _, (sim,) = _sims(mjm, 3, seed=5, n=1, gentle=True)
    else:
      sim = simulator(mjm, 3, "native")
      oracle.set_state(sim.data, *lying)
    carried = set(simt.step_footprint(sim, group_size=8, nsteps=3)["classes"]["carried"])
    assert carried <= state_fields, f"{name}: a step reads {sorted(carried - state_fields)} before writing them"
    assert {"qpos", "qvel", "time", "health"} <= carried, (name, carried)


def _group_pair(group_keep=(), nworld=4):
  """A per-world and a workspace="group" Simulator of the humanoid at the same lying states."""
  mjm = _mj_model("humanoid", disable=())
  state = oracle.lying_states(mjm, nworld, seed=11)
  ref = simulator(mjm, nworld, "native")
  grp = simulator(mjm, nworld, "native", workspace="group", keep=group_keep)
  for s in (ref, grp):
    oracle.set_state(s.data, *state)
  return ref, grp


@pytest.mark.parametrize("group", GROUPS)
def test_group_workspace_trajectory_is_bit_identical(group):
  """Simulator(workspace="group"): 60 fused steps of lying humanoids (contacts every step) with
  everything a step derives held per group slot, two threads stepping four worlds (a slot steps
  several worlds in turn, the last one's workspace still in it): qpos, qvel, act, qacc_warmstart,
  time, the health flags and the kept xpos equal the per-world step's bit for bit."""
  ref, grp = _group_pair(group_keep=("xpos",))
  assert grp.data.qM.shape[0] == simt.group_slots(grp) < grp.nworld * 8
  contacts = 0
  for _ in range(60):
    simt.step(ref, group_size=group, num_threads=2)
    simt.step(grp, group_size=group, num_threads=2)
    contacts += int(ref.ncon.numpy().sum())
  assert contacts > 0
  for field in ("qpos", "qvel", "act", "qacc_warmstart", "time", "xpos"):
    assert np.array_equal(_bits(ref, field), _bits(grp, field)), f"group {group}: {field} differs"
  np.testing.assert_array_equal(grp.health.numpy(), ref.health.numpy())


def test_group_workspace_names_what_is_not_kept():
  """What a workspace="group" Simulator cannot give per world raises naming the array, the mode and
  the fix; a world keeps its state, health flags and the kept arrays (group_memory's per-world
  bytes, from the allocation), and reset still resets."""
  _, grp = _group_pair(group_keep=("contact.dist",), nworld=2)
  for name in ("qacc", "xpos", "sensordata", "ncon"):
    with pytest.raises(AttributeError, match=r"workspace='group'.*keep=\("):
      getattr(grp, name)
  with pytest.raises(AttributeError, match=r"sim.qM .*keep=\('qM',\)"):
    grp.qM
  assert grp.data.contact.dist.shape[0] == 2  # kept per world
  for call in (grp.step, grp.forward):
    with pytest.raises(RuntimeError, match=r"simt.step\(sim\)"):
      call()
  with pytest.raises(ValueError, match="workspace='group'"):
    simt.smooth(grp)
  with pytest.raises(ValueError, match="held per group"):
    native_backend.world_major(grp, "qacc")
  with pytest.raises(ValueError, match=r"keep names \['qpos'\]"):
    simulator(_mj_model("pendulum"), 2, "native", workspace="group", keep=("qpos",))
  with pytest.raises(ValueError, match="workspace='group'"):
    simulator(_mj_model("pendulum"), 2, "native", keep=("xpos",))
  per_world = sum(getattr(grp.data, f.name).capacity for f in DATA_FIELDS if f.role == Role.STATE)
  per_world += grp.data.contact.dist.capacity + sum(a.capacity for a in grp.health_arrays().values()
                                                    if a.shape[0] == 2)
  mem = simt.group_memory(grp)
  assert mem["per_world"] == per_world // 2 and mem["per_world"] < 2048 < mem["per_slot"]
  simt.step(grp, nsteps=3, group_size=8, num_threads=1)
  grp.reset()
  np.testing.assert_array_equal(grp.qpos.numpy(), np.tile(grp.model.mj_model.qpos0, (2, 1)).astype(np.float32))


def test_persistent_launch_grid_and_slots_agree():
  """The CUDA persistent launch's grid and the slots a Simulator(workspace="group") on CUDA allocates
  come from the same functions (kernels/simt_step.h persistent_blocks / persistent_groups, through
  simt.persistent_launch): blocks no more than resident nor than the worlds need, one slot per
  group of the grid; a Data with fewer slots than the groups launched is refused naming both."""
  for nworld, resident, per_block in ((1, 528, 4), (300, 528, 4), (2112, 528, 4), (2113, 528, 4),
                                      (1 << 20, 528, 4), (1 << 20, 264, 16), (7, 0, 8), (0, 528, 4)):
    got = simt.persistent_launch(nworld, resident, per_block)
    blocks = min(-(-nworld // per_block), max(resident, 1))
    assert got == {"blocks": blocks, "groups": blocks * per_block, "refusal": ""}, (nworld, resident, got)
    assert simt.persistent_launch(nworld, resident, per_block, nslot=got["groups"])["refusal"] == ""
    if got["groups"]:
      refusal = simt.persistent_launch(nworld, resident, per_block, nslot=got["groups"] - 1)["refusal"]
      assert f"runs {got['groups']} lane groups" in refusal and f"has {got['groups'] - 1} slots" in refusal
      assert "workspace='group'" in refusal and "cuda_group_slots" in refusal
  # cuda_group_slots allocates the most groups over the group sizes: every size's launch fits them
  shapes = {8: (264, 16), 16: (396, 8), 32: (792, 4)}  # (resident blocks, worlds per block)
  for nworld in (100, 5000, 1 << 20):
    slots = max(simt.persistent_launch(nworld, *shape)["groups"] for shape in shapes.values())
    for shape in shapes.values():
      assert simt.persistent_launch(nworld, *shape, nslot=slots)["refusal"] == ""
  # grids fill the worlds: a group takes several worlds in turn when there are more than groups
  assert simt.persistent_launch(1 << 20, 264, 16)["groups"] == 264 * 16 < 1 << 20
  with pytest.raises(ValueError, match="nslot"):
    simt.persistent_launch(10, 4, 4, nslot=-1)


def test_group_workspace_refusals_name_the_fix():
  """workspace='group' needs the simt or native backend (the fused step's); cuda_group_slots counts a
  CUDA launch's groups and refuses a CPU device, naming where the CPU's slots come from."""
  with pytest.raises(ValueError, match=r"workspace='group'.*needs backend='simt'.*or backend='native'.*got backend='warp'"):
    pws.Simulator(pws.put_model(_mj_model("pendulum"), "cpu"), nworld=2, device="cpu", backend="warp",
                  workspace="group")
  model = pws.put_model(_mj_model("pendulum"), "cpu")
  with pytest.raises(ValueError, match=r"not a CUDA device.*workspace_rows"):
    simt.cuda_group_slots("cpu", model, 10)


# ---- refusals ------------------------------------------------------------------------------------


def test_refusals_name_the_cause():
  _, (sim,) = _sims(_mj_model("pendulum"), 2, seed=1, n=1)
  with pytest.raises(ValueError, match="group_size"):
    simt.step(sim, group_size=12)
  with pytest.raises(ValueError, match="nsteps"):
    simt.step(sim, nsteps=-1)
  with pytest.raises(ValueError, match="stage must be one of"):
    simt.step_stage(sim, "collision")
  with pytest.raises(ValueError, match="persistent"):
    simt.step(sim, persistent=True)
  cg = _mj_model("pendulum", disable=())
  cg.opt.solver = int(mujoco.mjtSolver.mjSOL_CG)
  with pytest.raises(ValueError, match="Newton"):
    simt.step(simulator(cg, 2, "native"))
  power = _mj_model("humanoid", disable=())
  power.dof_solimp[:, 4] = 3.0
  with pytest.raises(ValueError, match="solimp power"):
    simt.step(simulator(power, 2, "native"))
  rk4 = _mj_model("pendulum")
  rk4.opt.integrator = int(mujoco.mjtIntegrator.mjINT_RK4)
  with pytest.raises(ValueError, match="not RK4"):
    simt.step(simulator(rk4, 2, "native"))
  thread = pws.Simulator(pws.put_model(_mj_model("pendulum"), "cpu"), nworld=2, device="cpu", backend="native",
                         workspace="thread")
  with pytest.raises(ValueError, match="workspace"):
    simt.step(thread)


# ---- the CUDA kernels against the emulation --------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("persistent", (False, True))
@pytest.mark.parametrize("name, integrator, disable", [
  ("humanoid", "implicitfast", ()),  # contacts and rows
  ("tendon_humanoid", "euler", ()),
  ("ball_humanoid", "euler", DISABLE),  # atan2 springs, gravity compensation (convex pairs: no rows)
  ("actuator_zoo", "euler", DISABLE),  # filterexact, actearly, actrange
], ids=["humanoid", "tendon_humanoid", "ball_humanoid", "actuator_zoo"])
@pytest.mark.parametrize("group", GROUPS)
def test_gpu_step_equals_the_emulation_bitwise(name, integrator, disable, group, persistent):
  """The CUDA fused step (-fmad=false; one group per world, or persistent groups taking worlds from
  an atomic counter) and the CPU emulation: the same bits after 20 steps at gentle random states."""
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  nworld = 300  # not a multiple of a block's worlds: the last block is partly empty
  mjm = _mj_model(name, integrator, disable)
  state, (cpu,) = _sims(mjm, nworld, seed=31, n=1, gentle=True)
  gpu = pws.Simulator(pws.put_model(mjm, "cuda:0"), nworld=nworld, device="cuda:0", backend="native")
  oracle.set_state(gpu.data, *state)
  oracle.fill_nan(gpu.data)
  simt.step(cpu, nsteps=20, group_size=group)
  simt.step(gpu, nsteps=20, group_size=group, persistent=persistent)
  torch.cuda.synchronize()
  for field in STEPPED:
    a, b = getattr(cpu.data, field).numpy(), getattr(gpu.data, field).numpy()
    assert np.array_equal(a.view(np.int32), b.view(np.int32)), (
      f"{name} group {group}: {field} GPU vs emulation {np.nanmax(np.abs(a.astype(np.float64) - b)):.2e}")
  np.testing.assert_array_equal(cpu.health.numpy(), gpu.health.numpy())
  np.testing.assert_array_equal(cpu.ncon.numpy(), gpu.ncon.numpy())
  np.testing.assert_array_equal(cpu.data.efc.nefc.numpy(), gpu.data.efc.nefc.numpy())


@pytest.mark.gpu
@pytest.mark.parametrize("group", (8, 32))
def test_gpu_group_workspace_equals_the_emulation_bitwise(group):
  """Simulator(workspace="group") on CUDA (a slot per group of the persistent launch,
  simt.cuda_group_slots) with more worlds than groups, so that each group steps several worlds in
  turn in its slot: after 10 steps of lying humanoids (contacts, rows, the solver) qpos, qvel, act,
  qacc_warmstart, time, the kept xpos and the health flags are the CPU emulation's bits; the same
  worlds per world on CUDA (one group per world and persistent) give the same bits too."""
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  mjm = _mj_model("humanoid", disable=())
  model = pws.put_model(mjm, "cuda:0")
  most = simt.cuda_group_slots("cuda:0", model, 1 << 30)  # the device's resident groups, at most
  nworld = most + most // 3 + 1
  lying = oracle.lying_states(mjm, 16, seed=11)
  rng = np.random.default_rng(5)
  state = [np.resize(a, (nworld, a.shape[1])) for a in lying]
  state[1] = state[1] + rng.normal(0, 0.05, state[1].shape)  # every world its own state
  cpu = simulator(mjm, nworld, "native")
  grp = pws.Simulator(model, nworld=nworld, device="cuda:0", backend="native", workspace="group", keep=("xpos",))
  worlds = [pws.Simulator(model, nworld=nworld, device="cuda:0", backend="native") for _ in range(2)]
  slots = simt.group_slots(grp)
  assert slots == most < nworld and grp.data.qM.shape[0] == slots
  for s in (cpu, grp, *worlds):
    oracle.set_state(s.data, *state)
  simt.step(cpu, nsteps=10, group_size=group)
  simt.step(grp, nsteps=10, group_size=group)  # persistent: the only launch with slots
  simt.step(worlds[0], nsteps=10, group_size=group, persistent=False)
  simt.step(worlds[1], nsteps=10, group_size=group, persistent=True)
  torch.cuda.synchronize()
  assert int(cpu.ncon.numpy().sum()) > 0
  for field in ("qpos", "qvel", "act", "qacc_warmstart", "time", "xpos"):
    for label, gpu in (("group", grp), ("world", worlds[0]), ("world persistent", worlds[1])):
      assert np.array_equal(_bits(cpu, field), _bits(gpu, field)), f"group {group} {label}: {field} differs"
  for gpu in (grp, *worlds):
    np.testing.assert_array_equal(cpu.health.numpy(), gpu.health.numpy())
  for field in STEPPED:
    assert np.array_equal(_bits(cpu, field), _bits(worlds[0], field)), f"group {group} world: {field} differs"
