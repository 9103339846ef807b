"""Sensors in the fused lane-group step (kernels/simt_step.h sensor_stage, kernels/sensor.h's
per-sensor functions with the group as their accessor; lanes emulated on the CPU).

The sensor stage alone (simt.step_stage(sim, "sensors")) from the Data the native forward left is
the native step's sensordata bit for bit, with the arrays its tree passes write (subtree_linvel /
subtree_angmom, cacc / cfrc_int / cfrc_ext), at every step of native trajectories with contacts and
at 8, 16 and 32 lanes, on test_sensor.py's models: every evaluated sensor type (SENSOR_ZOO),
connect and weld forces in force sensors (SENSOR_EQUALITY), rangefinders against primitives and a
mesh (RANGEFINDER_SCENE) and the humanoid with an IMU, touch zones and subtree sensors.
Simulator(backend="simt") steps with them: one step with constraints off and hinges at rest is the
native step's sensordata bit for bit; with contacts each step is within the sensor tolerances of
the native step from the same state (the lane-group solver's sums round differently, so the
acceleration-stage inputs do); workspace="group" keeps sensordata per world bit for bit; mjDSBL_SENSOR
leaves sensordata alone; the recorder measures the stage."""

import os

import mujoco
import numpy as np
import pytest
import torch

import oracle
import pywarp_sim as pws
from pywarp_sim import native, simt
from backends import simulator
from test_sensor import RANGEFINDER_SCENE, SENSOR_EQUALITY, SENSOR_ZOO, _humanoid_with_sensors
from tolerances import SENSOR_ACC_TOL, SENSOR_POS_TOL, SENSOR_VEL_TOL

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))

GROUPS = simt.GROUP_SIZES
NWORLD = 4
STEPS = 25
# what the sensor stage's tree passes write (sensor.h subtree_vel, rne_postconstraint)
SUBTREE = ("subtree_linvel", "subtree_angmom")
RNE_POST = ("cacc", "cfrc_int", "cfrc_ext")
_TOL = {int(mujoco.mjtStage.mjSTAGE_POS): SENSOR_POS_TOL, int(mujoco.mjtStage.mjSTAGE_VEL): SENSOR_VEL_TOL,
        int(mujoco.mjtStage.mjSTAGE_ACC): SENSOR_ACC_TOL}


def _model(name: str) -> mujoco.MjModel:
  xml = {"zoo": SENSOR_ZOO, "equality": SENSOR_EQUALITY, "rangefinder": RANGEFINDER_SCENE,
         "humanoid": None}[name]
  return mujoco.MjModel.from_xml_string(xml if xml is not None else _humanoid_with_sensors())


# models whose MuJoCo trajectories tumble onto a floor (oracle.falling_states); the others start at
# random states (the equality bodies have no floor, the rangefinder's scanner touches nothing)
FLOORED = ("zoo", "humanoid")


def _start(mjm, sims, seed: int, name: str = "zoo"):
  """The same state in every Simulator (MuJoCo's own states touching the floor for FLOORED models),
  applied wrenches on every other world."""
  n = sims[0].nworld
  if name in FLOORED:
    state = oracle.falling_states(mjm, n, seed)
  else:
    state = oracle.random_state(mjm, n, seed, qvel_scale=0.5)
  rng = np.random.default_rng(seed)
  xfrc = rng.normal(0, 0.5, (n, mjm.nbody, 6)).astype(np.float32)  # light bodies: stays finite
  xfrc[:, 0] = 0
  xfrc[::2] = 0
  for s in sims:
    oracle.set_state(s.data, *(np.asarray(x) for x in state))
    s.xfrc_applied[:] = torch.from_numpy(xfrc)


def _bits(a: np.ndarray) -> np.ndarray:
  return a.view(np.int32) if a.dtype == np.float32 else a


def _sensor_label(mjm, i: int) -> str:
  name = mujoco.mj_id2name(mjm, mujoco.mjtObj.mjOBJ_SENSOR, i) or f"#{i}"
  return f"sensor {name} ({mujoco.mjtSensor(int(mjm.sensor_type[i])).name})"


def _assert_sensordata_bits(mjm, ours: np.ndarray, ref: np.ndarray, label: str):
  for i in range(mjm.nsensor):
    cols = slice(mjm.sensor_adr[i], mjm.sensor_adr[i] + mjm.sensor_dim[i])
    a, b = ours[:, cols], ref[:, cols]
    assert np.array_equal(_bits(a), _bits(b)), (
      f"{label}: {_sensor_label(mjm, i)} differs from the native step by "
      f"{np.nanmax(np.abs(a.astype(np.float64) - b)):.2e}")


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("name", ("zoo", "equality", "rangefinder", "humanoid"))
def test_sensor_stage_equals_native_bitwise(name, group):
  """At each of 25 native steps (contacts on the floor): the native forward, then the lane-group
  sensor stage alone on the same Data (sensordata and the tree passes' arrays NaN first) writes the
  native forward's sensordata, subtree velocities, cacc, cfrc_int and cfrc_ext bit for bit."""
  mjm = _model(name)
  ref = simulator(mjm, NWORLD, "native")
  emu = simulator(mjm, NWORLD, "native")
  _start(mjm, (ref, emu), seed=5, name=name)
  model = ref.model
  written = (SUBTREE if model.sensor_subtree_vel else ()) + (RNE_POST if model.sensor_rne_postconstraint else ())
  contacts = touched = 0
  for k in range(STEPS):
    for s in (ref, emu):
      s.forward()
    emu.sensordata.fill_(float("nan"))
    for field in written:
      getattr(emu.data, field).fill_(float("nan"))
    simt.step_stage(emu, "sensors", group_size=group)
    label = f"{name} group {group} step {k}"
    assert np.all(np.isfinite(ref.sensordata.numpy())), f"{label}: the trajectory left the finite states"
    _assert_sensordata_bits(mjm, emu.sensordata.numpy(), ref.sensordata.numpy(), label)
    for field in written:
      a, b = getattr(emu.data, field).numpy(), getattr(ref.data, field).numpy()
      assert np.array_equal(_bits(a), _bits(b)), f"{label}: {field} differs from the native step"
    contacts += int(ref.ncon.numpy().sum())
    touch = mjm.sensor_type == int(mujoco.mjtSensor.mjSENS_TOUCH)
    for i in np.flatnonzero(touch):
      touched += int(np.count_nonzero(ref.sensordata.numpy()[:, mjm.sensor_adr[i]]))
    for s in (ref, emu):
      s.step()
  if name in FLOORED:
    assert contacts > 0 and touched > 0  # the steps compared hold contacts, and touch zones felt them


def _copy_state(src, dst):
  for field in ("qpos", "qvel", "act", "ctrl", "time", "qacc_warmstart", "xfrc_applied", "qfrc_applied"):
    getattr(dst.data, field).assign(getattr(src.data, field).numpy())


@pytest.mark.parametrize("group", GROUPS)
def test_simulator_sensors_within_tolerance_of_native_steps(group):
  """Simulator(backend="simt") over 25 steps of the zoo with contacts: before each step a native
  Simulator takes its state; after both step, every sensor is within its stage's tolerance of the
  native one (tolerances.py SENSOR_*_TOL: the lane-group solver's lane sums and simt::sincos)."""
  mjm = _model("zoo")
  sim = simulator(mjm, NWORLD, "simt", group_size=group)
  twin = simulator(mjm, NWORLD, "native")
  _start(mjm, (sim,), seed=7)
  contacts = 0
  for k in range(STEPS):
    _copy_state(sim, twin)
    sim.sensordata.fill_(float("nan"))
    sim.step()
    twin.step()
    ours, ref = sim.sensordata.numpy().astype(np.float64), twin.sensordata.numpy().astype(np.float64)
    for i in range(mjm.nsensor):
      cols = slice(mjm.sensor_adr[i], mjm.sensor_adr[i] + mjm.sensor_dim[i])
      err = oracle.rel_err(ours[:, cols], ref[:, cols])
      assert err <= _TOL[int(mjm.sensor_needstage[i])], f"group {group} step {k}: {_sensor_label(mjm, i)} off by {err:.2e}"
    contacts += int(sim.ncon.numpy().sum())
  assert contacts > 0


@pytest.mark.parametrize("name", ("zoo", "humanoid"))
def test_one_step_sensordata_equals_native_bitwise(name):
  """Constraints off, hinges at their reference angle (exact sin/cos): one Simulator(backend="simt")
  step writes the native step's sensordata bit for bit at 8, 16 and 32 lanes."""
  mjm = _model(name)
  mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONSTRAINT)
  state = list(oracle.random_state(mjm, NWORLD, seed=19, qvel_scale=0.5))
  for j in np.flatnonzero(mjm.jnt_type == int(mujoco.mjtJoint.mjJNT_HINGE)):
    state[0][:, mjm.jnt_qposadr[j]] = mjm.qpos0[mjm.jnt_qposadr[j]]
  ref = simulator(mjm, NWORLD, "native")
  sims = [simulator(mjm, NWORLD, "simt", group_size=g) for g in GROUPS]
  for s in (ref, *sims):
    oracle.set_state(s.data, *state)
    s.sensordata.fill_(float("nan"))
  ref.step()
  for group, s in zip(GROUPS, sims):
    s.step()
    _assert_sensordata_bits(mjm, s.sensordata.numpy(), ref.sensordata.numpy(), f"{name} group {group}")


def test_group_workspace_keeps_sensordata_bitwise():
  """Simulator(workspace="group", keep=("sensordata",)): 20 steps with contacts, sensordata per world
  bit for bit the per-world lane-group step's; without keep, sensordata is refused by name."""
  mjm = _model("zoo")
  world = simulator(mjm, NWORLD, "simt", group_size=8)
  grp = simulator(mjm, NWORLD, "simt", group_size=8, workspace="group", keep=("sensordata",))
  _start(mjm, (world, grp), seed=9)
  for k in range(20):
    world.step()
    grp.step()
    _assert_sensordata_bits(mjm, grp.sensordata.numpy(), world.sensordata.numpy(), f"group workspace step {k}")
  bare = simulator(mjm, 2, "simt", group_size=8, workspace="group")
  with pytest.raises(AttributeError, match=r"keep=\("):
    bare.sensordata


def test_disabled_sensors_leave_sensordata():
  """mjDSBL_SENSOR: the lane-group step evaluates no sensor (sensordata keeps what it held), as the
  native step."""
  mjm = _model("zoo")
  mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_SENSOR)
  sim = simulator(mjm, 2, "simt", group_size=8)
  sim.sensordata.fill_(7.0)
  sim.step(3)
  assert np.all(sim.sensordata.numpy() == 7.0)


def test_models_with_sensors_are_refused_only_for_what_else_they_hold():
  """Sensors no longer refuse a model: a sensed model with RK4 is refused naming RK4 (and
  backend='native'), not its sensors; without RK4 it steps."""
  mjm = _model("zoo")
  mjm.opt.integrator = int(mujoco.mjtIntegrator.mjINT_RK4)
  with pytest.raises(ValueError, match="RK4") as e:
    simulator(mjm, 2, "simt")
  assert "sensor" not in str(e.value) and "backend='native'" in str(e.value), str(e.value)
  sensed = mujoco.MjModel.from_xml_string("""<mujoco><worldbody><body><joint name="j" axis="0 1 0"/>
    <geom size="0.1"/></body></worldbody><sensor><jointpos joint="j"/><jointvel joint="j"/></sensor></mujoco>""")
  sim = simulator(sensed, 2, "simt")
  sim.qvel[:] = 1.0
  sim.step()
  np.testing.assert_array_equal(sim.sensordata.numpy()[:, 1], np.ones(2, np.float32))


def test_recorder_measures_the_sensor_stage():
  """simt.step_proxies names the sensor stage among STEP_STAGES: instructions and lane efficiency
  per world-step for the zoo (the recording run checks rule 1, a lane never touching another's
  write in a phase, and leaves the same bits as the plain emulation); none for a model without
  sensors."""
  mjm = _model("zoo")
  rec = simulator(mjm, 2, "native")
  plain = simulator(mjm, 2, "native")
  _start(mjm, (rec, plain), seed=3)
  out = simt.step_proxies(rec, group_size=8, nsteps=2)
  simt.step(plain, nsteps=2, group_size=8)
  assert np.array_equal(_bits(rec.sensordata.numpy()), _bits(plain.sensordata.numpy()))
  sensors = out["stages"]["sensors"]
  assert sensors["instructions_per_world_step"] > 0 and 0 < sensors["lane_efficiency"] <= 1
  assert set(out["stages"]) == set(simt.STEP_STAGES)
  unsensed = mujoco.MjModel.from_xml_string(SENSOR_ZOO.split("<sensor>")[0] + "</mujoco>")
  bare = simulator(unsensed, 2, "native")
  _start(unsensed, (bare,), seed=3)
  assert simt.step_proxies(bare, group_size=8)["stages"]["sensors"]["instructions_per_world_step"] == 0


MENAGERIE_ENV = "PWS_MENAGERIE"  # a mujoco_menagerie checkout (as tests/test_menagerie_mesh.py)
MENAGERIE = os.environ.get(MENAGERIE_ENV)


@pytest.mark.skipif(not MENAGERIE, reason=f"set {MENAGERIE_ENV} to a mujoco_menagerie checkout")
def test_unitree_g1_sensor_stage_equals_native_bitwise():
  """Unitree G1 (scene.xml, its IMU gyros and accelerometers; convex pairs on the CPU emulation)
  from its first keyframe's pose, standing onto the floor: at each of 20 native steps the sensor
  stage alone writes the native forward's sensordata bit for bit at 8 lanes."""
  mjm = mujoco.MjModel.from_xml_path(os.path.join(MENAGERIE, "unitree_g1", "scene.xml"))
  assert mjm.nsensor > 0 and mjm.nkey > 0
  ref = simulator(mjm, 2, "native")
  emu = simulator(mjm, 2, "native")
  none = np.zeros((2, 0))
  for s in (ref, emu):
    oracle.set_state(s.data, np.tile(mjm.key_qpos[0], (2, 1)), np.zeros((2, mjm.nv)), np.zeros((2, mjm.nu)), none)
  contacts = 0
  for k in range(20):
    for s in (ref, emu):
      s.forward()
    emu.sensordata.fill_(float("nan"))
    simt.step_stage(emu, "sensors", group_size=8)
    _assert_sensordata_bits(mjm, emu.sensordata.numpy(), ref.sensordata.numpy(), f"G1 step {k}")
    contacts += int(ref.ncon.numpy().sum())
    for s in (ref, emu):
      s.step()
  assert contacts > 0
