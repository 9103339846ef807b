"""Model import: tables, banks, bundled models and load-time rejection of unsupported features."""

import mujoco
import numpy as np
import pytest

import pywarp_sim as pws
from tolerances import FLOAT32_ROUNDING_TOL


def test_load_bundled_humanoid_sizes():
  m = pws.load_model("humanoid", device="cpu")
  mjm = m.mj_model
  assert (m.nq, m.nv, m.nu) == (mjm.nq, mjm.nv, mjm.nu) == (28, 27, 21)
  assert m.host["jnt_type"][0] == 0  # free root
  np.testing.assert_array_equal(m.dof_parentid.numpy(), mjm.dof_parentid)
  assert m.names["actuator"][0] == "abdomen_z"


def test_load_from_xml_string_and_from_mujoco():
  xml = "<mujoco><worldbody><body><joint type='slide'/><geom size='.1'/></body></worldbody></mujoco>"
  m = pws.load_model(xml, device="cpu")
  assert m.nq == 1
  m2 = pws.Model.from_mujoco(mujoco.MjModel.from_xml_string(xml), "cpu")
  assert m2.nv == 1


def test_missing_file_is_a_clear_error():
  with pytest.raises(FileNotFoundError, match="does not exist"):
    pws.load_model("/nonexistent/robot.xml")


def test_parameter_banks_have_leading_axis():
  mjm = pws.load_model("humanoid").mj_model
  m = pws.put_model(mjm, "cpu", nbank=4)
  assert m.body_mass.shape == (4, mjm.nbody)
  np.testing.assert_allclose(m.body_mass.numpy()[3], mjm.body_mass, rtol=FLOAT32_ROUNDING_TOL)
  assert m.opt.gravity.shape == (4,)


UNSUPPORTED = {
  "spatial tendon": ("""<mujoco><worldbody><site name="a"/><body><joint/><geom size=".1"/>
             <site name="b" pos="0 0 1"/></body></worldbody>
             <tendon><spatial name="cable"><site site="a"/><site site="b"/></spatial></tendon></mujoco>""",
                     "'cable'.*spatial"),
  "fluid": ("""<mujoco><option density="1.2"/><worldbody><body><freejoint/><geom size=".1"/></body>
             </worldbody></mujoco>""", "density"),
  "box-mesh with a margin under multiCCD": ("""<mujoco><asset><mesh name="m" vertex="0 0 0 1 0 0 0 1 0 0 0 1"/>
             </asset><worldbody><body><freejoint/><geom name="blob" type="mesh" mesh="m"/></body>
             <body pos="0 0 2"><freejoint/><geom name="brick" type="box" size=".1 .1 .1" margin=".01"/>
             </body></worldbody></mujoco>""", "'brick' \\(box\\) and geom 'blob' \\(mesh\\).*multiccd"),
  "site transmission": ("""<mujoco><worldbody><body><joint name="a"/><geom size=".1"/><site name="s"/>
             </body></worldbody><actuator><motor name="thruster" site="s"/></actuator></mujoco>""",
                        "'thruster'.*SITE"),
  "muscle": ("""<mujoco><worldbody><body><joint name="a"/><geom size=".1"/></body></worldbody>
             <actuator><muscle name="bicep" joint="a" lengthrange="-1 1"/></actuator></mujoco>""",
             "'bicep'"),
  "flex equality": ("""<mujoco><worldbody><flexcomp name="cloth" type="grid" count="3 3 1"
             spacing=".1 .1 .1" dim="2"><edge equality="true"/></flexcomp></worldbody></mujoco>""",
                    "equality constraint #0: type mjEQ_FLEX"),
  "diagexact": ("""<mujoco><option><flag diagexact="enable"/></option><worldbody><body><freejoint/>
             <geom size=".1"/></body></worldbody></mujoco>""", "DIAGEXACT.*diagexact"),
  "speculative": ("""<mujoco><option><flag speculative="enable"/></option><worldbody><body><freejoint/>
             <geom size=".1"/></body></worldbody></mujoco>""", "SPECULATIVE.*speculative"),
  "mocap": ("""<mujoco><worldbody><body mocap="true"><geom size=".1" contype="0" conaffinity="0"/>
             </body></worldbody></mujoco>""", "mocap"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_features_raise_at_load(case):
  xml, pattern = UNSUPPORTED[case]
  with pytest.raises(pws.UnsupportedModelError, match=pattern):
    pws.load_model(xml, device="cpu")


def test_weld_to_world_is_accepted():
  xml = """<mujoco><worldbody><body name="b"><freejoint/><geom size=".1"/></body></worldbody>
           <equality><weld body1="b"/></equality></mujoco>"""
  m = pws.load_model(xml, device="cpu")
  assert m.neq == 1 and m.eq_data.shape == (1, mujoco.mjNEQDATA)


def test_visual_only_mesh_is_accepted():
  xml = """<mujoco><asset><mesh name="m" vertex="0 0 0 1 0 0 0 1 0 0 0 1"/></asset><worldbody>
           <body><freejoint/><geom size=".1"/><geom type="mesh" mesh="m" contype="0" conaffinity="0"/>
           </body></worldbody></mujoco>"""
  assert pws.load_model(xml, device="cpu").ngeom == 2


def test_sensors_load_in_mujocos_layout():
  """Sensors are compiled with MuJoCo's adr/dim layout (evaluated in tests/test_sensor.py)."""
  xml = """<mujoco><worldbody><body name="b"><freejoint/><geom size=".1"/><site name="imu"/></body>
           </worldbody><sensor><gyro site="imu"/><accelerometer name="acc" site="imu"/><framequat objtype="site"
           objname="imu"/></sensor></mujoco>"""
  m = pws.load_model(xml, device="cpu")
  assert m.nsensor == 3 and m.nsensordata == 10 and m.sensor_names == ["", "acc", ""]
  assert m.sensor_columns("acc") == slice(3, 6)


def test_tendon_damping_with_implicitfast_is_rejected():
  import assets
  mjm = mujoco.MjModel.from_xml_string(assets.TENDON_WALKER)
  mjm.opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
  with pytest.raises(pws.UnsupportedModelError, match="'hamstring_r'.*implicitfast"):
    pws.put_model(mjm, "cpu")
