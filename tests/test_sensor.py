"""Sensors vs MuJoCo C: sensordata after mj_forward and after mj_step (Euler, RK4), per sensor,
on a zoo of every evaluated sensor type (random states; MuJoCo's own contact states for touch,
force, torque and accelerometer) and on the bundled humanoid with an IMU, foot touch zones and
subtree sensors, on both backends. Unsupported sensor types raise by name; sensors="skip"
warns and leaves sensordata empty."""

import mujoco
import numpy as np
import pytest
import torch

import oracle
import pywarp_sim as pws
from pywarp_sim import models, native
from pywarp_sim.errors import IgnoredModelElementWarning, UnsupportedModelError
from tolerances import SENSOR_ACC_TOL, SENSOR_POS_TOL, SENSOR_VEL_TOL

BACKENDS = ["warp", pytest.param("native", marks=pytest.mark.skipif(
  not native.available("cpu"), reason=native.unavailable_reason("cpu")))]

# Solvers run to convergence in both simulators, so acceleration-stage sensors compare the
# same optimum (tolerances.py).
_CONVERGED = '<option timestep="0.004" iterations="200" ls_iterations="50" tolerance="1e-12"/>'

# Every evaluated sensor type at least once: frames of each object type with and without a
# reference frame, each touch-zone shape, cutoffs on real and positive sensors, a fixed tendon,
# a limited hinge and tendon, a ball joint.
SENSOR_ZOO = f"""
<mujoco>
  {_CONVERGED}
  <worldbody>
    <geom type="plane" size="5 5 .1"/>
    <site name="fixed" pos=".3 0 1"/>
    <body name="base" pos="0 0 .3">
      <freejoint/>
      <geom name="base" type="box" size=".15 .1 .05"/>
      <site name="imu" pos=".05 .02 .03" euler="10 20 30"/>
      <site name="t_box" type="box" size=".16 .11 .06"/>
      <site name="t_sph" type="sphere" pos=".1 0 -.05" size=".08"/>
      <site name="t_cyl" type="cylinder" pos="-.1 0 -.05" size=".06 .03"/>
      <site name="t_ell" type="ellipsoid" pos="0 .06 -.05" size=".08 .05 .04"/>
      <site name="t_cap" type="capsule" pos="0 -.06 -.05" euler="0 90 0" size=".04 .1"/>
      <body name="arm" pos=".15 0 0">
        <joint name="hinge" type="hinge" axis="0 1 0" range="-.6 .6" limited="true" damping=".1"/>
        <geom type="capsule" fromto="0 0 0 .2 0 0" size=".03"/>
        <site name="tip" pos=".2 0 0"/>
        <body name="hand" pos=".2 0 0">
          <joint name="slide" type="slide" axis="1 0 0" range="-.05 .05" limited="true"/>
          <geom type="sphere" size=".04"/>
          <site name="hand"/>
        </body>
      </body>
      <body name="leg" pos="-.15 0 0">
        <joint name="ball" type="ball"/>
        <geom type="capsule" fromto="0 0 0 0 0 -.2" size=".03"/>
        <site name="foot" pos="0 0 -.2" type="sphere" size=".05"/>
      </body>
    </body>
  </worldbody>
  <tendon>
    <fixed name="tendon" limited="true" range="-.3 .3"><joint joint="hinge" coef="1"/><joint joint="slide" coef="2"/></fixed>
  </tendon>
  <actuator>
    <motor name="m_hinge" joint="hinge" gear="2"/>
    <position name="p_slide" joint="slide" kp="50"/>
    <motor name="m_tendon" tendon="tendon"/>
  </actuator>
  <sensor>
    <jointpos name="hinge_pos" joint="hinge"/><jointpos joint="slide" cutoff=".02"/>
    <jointvel joint="hinge" cutoff=".5"/><jointvel joint="slide"/>
    <tendonpos tendon="tendon"/><tendonvel tendon="tendon"/>
    <actuatorpos actuator="m_hinge"/><actuatorvel actuator="p_slide"/>
    <actuatorfrc actuator="p_slide" cutoff="1"/><actuatorfrc actuator="m_hinge"/>
    <jointactuatorfrc joint="hinge"/><tendonactuatorfrc tendon="tendon"/>
    <ballquat joint="ball"/><ballangvel joint="ball"/>
    <jointlimitpos joint="hinge"/><jointlimitvel joint="hinge"/><jointlimitfrc joint="hinge"/>
    <tendonlimitpos tendon="tendon"/><tendonlimitvel tendon="tendon"/><tendonlimitfrc tendon="tendon"/>
    <framepos objtype="site" objname="tip"/><framepos objtype="body" objname="hand" reftype="site" refname="imu"/>
    <framequat objtype="xbody" objname="arm"/><framequat objtype="geom" objname="base" reftype="body" refname="leg"/>
    <framexaxis objtype="site" objname="imu"/><frameyaxis objtype="body" objname="arm" reftype="xbody" refname="base"/>
    <framezaxis objtype="geom" objname="base"/>
    <framelinvel objtype="site" objname="tip"/><framelinvel objtype="site" objname="hand" reftype="site" refname="imu"/>
    <frameangvel objtype="body" objname="leg"/><frameangvel objtype="xbody" objname="hand" reftype="geom" refname="base"/>
    <framelinacc objtype="site" objname="tip"/><frameangacc objtype="body" objname="arm"/>
    <framelinacc objtype="site" objname="fixed"/>
    <subtreecom body="base"/><subtreecom body="arm"/><subtreelinvel body="base"/>
    <subtreeangmom body="base"/><subtreeangmom body="arm"/>
    <gyro name="gyro" site="imu"/><accelerometer name="accel" site="imu" cutoff="50"/>
    <velocimeter site="imu"/><magnetometer site="imu"/>
    <touch name="touch_box" site="t_box"/><touch site="t_sph"/><touch site="t_cyl"/><touch site="t_ell"/>
    <touch site="t_cap" cutoff="20"/><touch site="foot"/>
    <force site="hand"/><torque site="tip"/><force site="tip"/><torque site="foot" cutoff="5"/>
    <clock/>
  </sensor>
</mujoco>"""

# Connect and weld forces enter cfrc_ext (force sensors on the welded bodies).
SENSOR_EQUALITY = f"""
<mujoco>
  {_CONVERGED}
  <worldbody>
    <body name="a" pos="0 0 1"><freejoint/><geom type="box" size=".1 .1 .1"/>
      <body name="a2" pos=".2 0 0"><joint type="hinge" axis="0 1 0"/><geom type="sphere" size=".05"/><site name="sa" pos=".05 0 0"/></body></body>
    <body name="b" pos=".3 0 1"><freejoint/><geom type="sphere" size=".1"/>
      <body name="b2" pos="0 .2 0"><joint type="hinge" axis="1 0 0"/><geom type="sphere" size=".05"/><site name="sb"/></body></body>
    <body name="c" pos="0 .4 1"><joint type="hinge" axis="1 0 0"/><geom type="capsule" fromto="0 0 0 0 .2 0" size=".03"/>
      <site name="sc" pos="0 .2 0"/></body>
  </worldbody>
  <equality><weld body1="a2" body2="b2"/><connect site1="sc" site2="sa"/><weld site1="sb" site2="sc" torquescale="2"/></equality>
  <sensor><force site="sa"/><torque site="sa"/><force site="sb"/><torque site="sc"/><accelerometer site="sb"/></sensor>
</mujoco>"""


def _humanoid_with_sensors() -> str:
  """The bundled humanoid with an IMU, foot touch zones and subtree sensors (dm_control's set)."""
  xml = open(models.path("humanoid")).read()
  for side in ("right", "left"):
    site = f'<site name="{side}_foot" pos="0.03 0 0" size="0.01"/>'
    assert site in xml
    xml = xml.replace(site, site + f'<site name="{side}_foot_touch" type="capsule" fromto="-0.07 0 0.03 0.14 0 0.03" '
                      f'size="0.045"/>')
  sensors = """<sensor>
    <gyro name="imu_gyro" site="imu"/><accelerometer name="imu_accel" site="imu"/><velocimeter site="imu"/>
    <framequat objtype="site" objname="imu"/><framezaxis objtype="xbody" objname="torso"/>
    <subtreecom body="torso"/><subtreelinvel body="torso"/><subtreeangmom body="torso"/>
    <touch name="right_touch" site="right_foot_touch"/><touch name="left_touch" site="left_foot_touch"/>
    <force site="right_foot"/><torque site="left_foot"/><framelinacc objtype="body" objname="pelvis"/>
  </sensor>"""
  return xml.replace("</mujoco>", sensors + "</mujoco>")


_TOL = {int(mujoco.mjtStage.mjSTAGE_POS): SENSOR_POS_TOL, int(mujoco.mjtStage.mjSTAGE_VEL): SENSOR_VEL_TOL,
        int(mujoco.mjtStage.mjSTAGE_ACC): SENSOR_ACC_TOL}


def _converged(mjm: mujoco.MjModel) -> mujoco.MjModel:
  mjm.opt.iterations, mjm.opt.ls_iterations, mjm.opt.tolerance = 200, 50, 1e-12
  return mjm


def _check(mjm, ours: np.ndarray, ref: np.ndarray, what: str):
  """Each sensor's columns within its stage's tolerance (oracle.rel_err over worlds)."""
  assert ours.shape == ref.shape
  for i in range(mjm.nsensor):
    cols = slice(mjm.sensor_adr[i], mjm.sensor_adr[i] + mjm.sensor_dim[i])
    err = oracle.rel_err(ours[:, cols], ref[:, cols])
    name = mujoco.mj_id2name(mjm, mujoco.mjtObj.mjOBJ_SENSOR, i) or f"#{i}"
    kind = mujoco.mjtSensor(int(mjm.sensor_type[i])).name
    assert err <= _TOL[int(mjm.sensor_needstage[i])], f"{what}: sensor {name} ({kind}) off by {err:.2e}"


def _states(mjm, nworld: int, seed: int, contacts: bool):
  """float32-rounded (qpos, qvel, ctrl, act): random, or MuJoCo's own states touching the floor."""
  if contacts:
    state = oracle.falling_states(mjm, nworld, seed)
  else:
    state = oracle.random_state(mjm, nworld, seed)
  return tuple(np.asarray(x, np.float32).astype(np.float64) for x in state)


def _reference(mjm, state, xfrc, step: bool) -> np.ndarray:
  rows = []
  for w in range(state[0].shape[0]):
    d = oracle.mj_data(mjm, *(x[w] for x in state))
    d.xfrc_applied[:] = xfrc[w]
    (mujoco.mj_step if step else mujoco.mj_forward)(mjm, d)
    rows.append(d.sensordata.copy())
  return np.array(rows)


def _run(mjm, backend, state, xfrc, step: bool) -> np.ndarray:
  sim = pws.Simulator(pws.put_model(mjm, "cpu"), nworld=state[0].shape[0], device="cpu", backend=backend)
  qpos, qvel, ctrl, act = (torch.tensor(x, dtype=torch.float32) for x in state)
  sim.qpos[:] = qpos
  sim.qvel[:] = qvel
  sim.ctrl[:] = ctrl
  sim.act[:] = act
  sim.xfrc_applied[:] = torch.tensor(xfrc, dtype=torch.float32)
  sim.sensordata.fill_(float("nan"))  # a sensor left unwritten fails
  if step:
    sim.step()
  else:
    sim.forward()
  return sim.sensordata.numpy().astype(np.float64)


def _xfrc(mjm, nworld: int, seed: int) -> np.ndarray:
  """Random applied wrenches on every other world (cfrc_ext's applied part)."""
  rng = np.random.default_rng(seed)
  x = rng.normal(0, 5, (nworld, mjm.nbody, 6))
  x[:, 0] = 0
  x[::2] = 0
  return x


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("contacts", [False, True], ids=["random", "contacts"])
def test_zoo_forward(backend, contacts):
  mjm = mujoco.MjModel.from_xml_string(SENSOR_ZOO)
  state = _states(mjm, 12, seed=3, contacts=contacts)
  xfrc = _xfrc(mjm, 12, seed=4)
  ours = _run(mjm, backend, state, xfrc, step=False)
  ref = _reference(mjm, state, xfrc, step=False)
  _check(mjm, ours, ref, f"{backend} forward")
  if contacts:  # the touch sensors saw contact forces, cutoffs clamped something
    touch = [mjm.sensor_adr[i] for i in range(mjm.nsensor) if mjm.sensor_type[i] == mujoco.mjtSensor.mjSENS_TOUCH]
    assert np.count_nonzero(ref[:, touch]) >= 6
  cut = [i for i in range(mjm.nsensor) if mjm.sensor_cutoff[i] > 0]
  clamped = [np.any(np.abs(ref[:, mjm.sensor_adr[i]]) == mjm.sensor_cutoff[i]) for i in cut]
  assert any(clamped)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("integrator", ["Euler", "RK4"])
def test_zoo_after_step(backend, integrator):
  """mj_step's sensordata is that of the state the step started from (RK4's inner evaluations
  skip the sensors)."""
  mjm = mujoco.MjModel.from_xml_string(SENSOR_ZOO.replace('timestep="0.004"',
                                                          f'timestep="0.004" integrator="{integrator}"'))
  state = _states(mjm, 8, seed=5, contacts=True)
  xfrc = _xfrc(mjm, 8, seed=6)
  ours = _run(mjm, backend, state, xfrc, step=True)
  ref = _reference(mjm, state, xfrc, step=True)
  _check(mjm, ours, ref, f"{backend} {integrator} step")


@pytest.mark.parametrize("backend", BACKENDS)
def test_humanoid_falling(backend):
  """The bundled humanoid with dm_control's sensors in MuJoCo's own falling states (feet and
  body on the floor); observations by name are views of sensordata's columns."""
  xml = _humanoid_with_sensors()
  mjm = _converged(mujoco.MjModel.from_xml_string(xml))
  state = _states(mjm, 12, seed=7, contacts=True)
  xfrc = np.zeros((12, mjm.nbody, 6))
  ours = _run(mjm, backend, state, xfrc, step=False)
  ref = _reference(mjm, state, xfrc, step=False)
  _check(mjm, ours, ref, f"{backend} humanoid")
  feet = [mjm.sensor_adr[mjm.sensor(n).id] for n in ("right_touch", "left_touch")]
  assert np.count_nonzero(ref[:, feet]) >= 3  # the feet touched the floor in some states


@pytest.mark.parametrize("backend", BACKENDS)
def test_equality_forces_reach_force_sensors(backend):
  mjm = mujoco.MjModel.from_xml_string(SENSOR_EQUALITY)
  state = _states(mjm, 6, seed=8, contacts=False)
  xfrc = _xfrc(mjm, 6, seed=9)
  ours = _run(mjm, backend, state, xfrc, step=False)
  ref = _reference(mjm, state, xfrc, step=False)
  _check(mjm, ours, ref, f"{backend} equality")


@pytest.mark.parametrize("backend", BACKENDS)
def test_sensor_by_name_is_a_view(backend):
  mjm = mujoco.MjModel.from_xml_string(SENSOR_ZOO)
  sim = pws.Simulator(SENSOR_ZOO, nworld=3, device="cpu", backend=backend)
  assert sim.model.sensor_names[0] == "hinge_pos" and sim.sensordata.shape == (3, mjm.nsensordata)
  gyro = sim.sensor("gyro")
  assert gyro.shape == (3, 3)
  sim.qvel[:, 3:6] = torch.tensor([0.5, -1.0, 2.0])
  sim.forward()
  adr = mjm.sensor_adr[mjm.sensor("gyro").id]
  np.testing.assert_array_equal(gyro.numpy(), sim.sensordata[:, adr:adr + 3].numpy())  # same memory
  assert torch.all(gyro != 0)
  with pytest.raises(KeyError, match="no sensor named 'nope'.*'gyro'"):
    sim.sensor("nope")


def test_unsupported_sensor_raises_by_name_and_skip_warns():
  xml = """<mujoco><worldbody><geom type="plane" size="1 1 .1"/><body><freejoint/><geom size=".1"/>
           <site name="s"/></body></worldbody>
           <sensor><gyro site="s"/><e_potential name="energy"/></sensor></mujoco>"""
  with pytest.raises(UnsupportedModelError, match=r"sensor 'energy' \(type e_potential\).*sensors='skip'"):
    pws.load_model(xml, device="cpu")
  with pytest.warns(IgnoredModelElementWarning, match=r"2 sensor\(s\) \(e_potential, gyro\).*skipped"):
    sim = pws.Simulator(xml, nworld=2, device="cpu", backend="warp", sensors="skip")
  assert sim.sensordata.shape == (2, 0) and sim.model.nsensor == 0
  with pytest.raises(ValueError, match="sensors must be one of"):
    pws.load_model(xml, device="cpu", sensors="off")
  delayed = xml.replace('<e_potential name="energy"/>', '<gyro name="late" site="s" nsample="3" delay="0.01"/>')
  with pytest.raises(UnsupportedModelError, match=r"sensor 'late' \(type gyro\).*delay"):
    pws.load_model(delayed, device="cpu")


@pytest.mark.parametrize("backend", BACKENDS)
def test_disabled_sensors_leave_sensordata(backend):
  """mjDSBL_SENSOR: MuJoCo skips every sensor stage; sensordata keeps its values (zeros)."""
  xml = SENSOR_ZOO.replace("<worldbody>", '<option><flag sensor="disable"/></option><worldbody>', 1)
  mjm = mujoco.MjModel.from_xml_string(xml)
  d = mujoco.MjData(mjm)
  mujoco.mj_forward(mjm, d)
  sim = pws.Simulator(xml, nworld=2, device="cpu", backend=backend)
  sim.step()
  np.testing.assert_array_equal(sim.sensordata.numpy(), np.tile(d.sensordata, (2, 1)))


# Rangefinders (ray.py, mj_ray): a scanner body with rays in many directions among a bounded
# plane, every primitive, a non-convex mesh (its triangles, not its hull), an invisible geom
# (alpha 0: rays pass it) and a child body's geom (only the site's own body is excluded).
RANGEFINDER_SCENE = """
<mujoco>
  <asset>
    <mesh name="notch" vertex="0 0 0  .4 0 0  .4 .4 0  0 .4 0  .2 .2 .3  .2 .2 .1"
          face="0 1 4  1 2 5  2 3 4  3 0 4  1 5 4  2 4 5  0 3 1  1 3 2"/>
  </asset>
  <worldbody>
    <geom type="plane" size="1.5 1.5 .1"/>
    <geom type="sphere" size=".15" pos=".8 0 .5"/>
    <geom type="capsule" size=".1 .2" pos="-.8 .1 .4" euler="30 60 0"/>
    <geom type="ellipsoid" size=".2 .1 .15" pos="0 .8 .6" euler="10 0 40"/>
    <geom type="cylinder" size=".15 .2" pos="0 -.8 .5" euler="70 20 0"/>
    <geom type="box" size=".2 .15 .1" pos=".6 .6 .9" euler="20 30 40"/>
    <geom name="glass" type="box" size="2 2 .05" pos="0 0 1.6" rgba="1 1 1 0"/>
    <geom name="notch" type="mesh" mesh="notch" pos="-.7 -.7 .6" euler="0 30 0"/>
    <body name="scanner" pos="0 0 .6">
      <freejoint/>
      <geom size=".05" contype="0" conaffinity="0"/>
      <site name="down" euler="180 0 0"/>
      <site name="up"/>
      <site name="x" euler="0 90 0"/>
      <site name="-x" euler="0 -90 0"/>
      <site name="y" euler="-90 0 0"/>
      <site name="-y" euler="90 0 0"/>
      <site name="a" euler="40 70 10"/>
      <site name="b" euler="120 -30 60"/>
      <site name="c" euler="-50 140 20"/>
      <body name="arm" pos=".15 0 0">
        <geom type="box" size=".02 .02 .02" contype="0" conaffinity="0"/>
      </body>
    </body>
  </worldbody>
  <sensor>
    <rangefinder site="down"/><rangefinder site="up"/><rangefinder site="x"/><rangefinder site="-x"/>
    <rangefinder site="y" cutoff=".5"/><rangefinder site="-y"/><rangefinder site="a"/>
    <rangefinder site="b"/><rangefinder site="c"/>
  </sensor>
</mujoco>
"""
# the same scene without the mesh and the invisible box
RANGEFINDER_PRIMITIVES = (RANGEFINDER_SCENE.replace('<geom name="notch" type="mesh" mesh="notch" pos="-.7 -.7 .6" euler="0 30 0"/>', "")
                          .replace('<geom name="glass" type="box" size="2 2 .05" pos="0 0 1.6" rgba="1 1 1 0"/>', ""))


def _rangefinder_states(mjm, nworld: int, seed: int):
  """The scanner anywhere within 0.5 m of its start, any orientation, at rest."""
  qpos, qvel, ctrl, act = oracle.random_state(mjm, nworld, seed, qvel_scale=0.0, qpos_scale=0.0)
  qpos[:, :3] += np.random.default_rng(seed).uniform(-0.5, 0.5, (nworld, 3))
  return tuple(np.asarray(x, np.float32).astype(np.float64) for x in (qpos, qvel, ctrl, act))


@pytest.mark.parametrize("backend,xml", [
  pytest.param("warp", RANGEFINDER_SCENE, id="warp"),
  pytest.param("warp", RANGEFINDER_PRIMITIVES, id="warp-primitives"),
  pytest.param("native", RANGEFINDER_SCENE, id="native", marks=pytest.mark.skipif(
    not native.available("cpu"), reason=native.unavailable_reason("cpu"))),
  pytest.param("native", RANGEFINDER_PRIMITIVES, id="native-primitives", marks=pytest.mark.skipif(
    not native.available("cpu"), reason=native.unavailable_reason("cpu")))])
def test_rangefinder(backend, xml):
  """Every ray's distance (or -1) as MuJoCo C's in random poses of the scanner: hits on each
  geom type, misses, cutoff, exclusion of the site's own body only."""
  mjm = mujoco.MjModel.from_xml_string(xml)
  state = _rangefinder_states(mjm, 48, seed=5)
  zero = np.zeros((48, mjm.nbody, 6))
  ref = _reference(mjm, state, zero, step=False)
  assert (ref == -1).any() and (ref > 0).any() and (ref == 0.5).any(), "the poses must hit, miss and cut off"
  if (mjm.geom_type == mujoco.mjtGeom.mjGEOM_MESH).any():  # some rays meet the mesh
    hits = set()
    for w in range(48):
      d = oracle.mj_data(mjm, *(x[w] for x in state))
      mujoco.mj_forward(mjm, d)
      for i in range(mjm.nsensor):
        site = mjm.sensor_objid[i]
        geomid = np.array([-1], np.int32)
        mujoco.mj_ray(mjm, d, d.site_xpos[site], d.site_xmat[site].reshape(3, 3)[:, 2], None, 1,
                      mjm.site_bodyid[site], geomid)
        hits.add(int(mjm.geom_type[geomid[0]]) if geomid[0] >= 0 else -1)
    assert int(mujoco.mjtGeom.mjGEOM_MESH) in hits, hits
    seen = mujoco.MjModel.from_xml_string(xml.replace('rgba="1 1 1 0"', 'rgba="1 1 1 1"'))
    assert (_reference(seen, state, zero, step=False) != ref).any(), "some rays must pass the invisible box"
  _check(mjm, _run(mjm, backend, state, zero, step=False), ref, "rangefinder")


def test_rangefinder_refuses_what_it_does_not_evaluate_by_name():
  with pytest.raises(UnsupportedModelError, match=r"sensor 'd' \(type rangefinder\).*data other than the distance"):
    pws.load_model(RANGEFINDER_SCENE.replace('<rangefinder site="down"/>', '<rangefinder name="d" site="down" data="dist point"/>'),
                   device="cpu")
