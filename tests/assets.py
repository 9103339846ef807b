"""MJCF models for conformance tests, each exercising other features than the bundled humanoid.

Every model is compiled by MuJoCo; the tests compare pywarp_sim with MuJoCo C on it. All are
self-authored: third-party model files are not committed (tests/test_external_models.py runs
them from PWS_EXTRA_MODELS instead).
"""

import pathlib

# Humanoid with ball-jointed hips and shoulders, a slide joint in the spine, position /
# velocity / general actuators, armature, damping, stiffness with springref, and gravity
# compensation on the head.
BALL_HUMANOID = """
<mujoco model="ball_humanoid">
  <option timestep="0.004"/>
  <default>
    <joint damping="1" armature="0.01"/>
    <geom type="capsule" size="0.05" contype="1" conaffinity="1"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="pelvis" pos="0 0 1.0">
      <freejoint/>
      <geom type="box" size="0.1 0.15 0.08"/>
      <body name="chest" pos="0 0 0.2">
        <joint name="spine" type="slide" axis="0 0 1" stiffness="500" springref="0.02" damping="20"/>
        <joint name="waist" type="ball" stiffness="30" damping="2"/>
        <geom type="ellipsoid" size="0.12 0.16 0.14"/>
        <body name="head" pos="0 0 0.25" gravcomp="0.7">
          <joint name="neck" type="hinge" axis="0 1 0" stiffness="5"/>
          <geom type="sphere" size="0.1"/>
        </body>
        <body name="r_arm" pos="0 -0.22 0.05">
          <joint name="r_shoulder" type="ball" armature="0.05"/>
          <geom fromto="0 0 0 0 -0.1 -0.25"/>
          <body name="r_forearm" pos="0 -0.1 -0.28">
            <joint name="r_elbow" type="hinge" axis="1 0 0" range="-2 0"/>
            <geom type="cylinder" fromto="0 0 0 0 0 -0.22" size="0.04"/>
          </body>
        </body>
        <body name="l_arm" pos="0 0.22 0.05">
          <joint name="l_shoulder" type="ball"/>
          <geom fromto="0 0 0 0 0.1 -0.25"/>
          <body name="l_forearm" pos="0 0.1 -0.28">
            <joint name="l_elbow" type="hinge" axis="1 0 0"/>
            <geom fromto="0 0 0 0 0 -0.22" size="0.04"/>
          </body>
        </body>
      </body>
      <body name="r_leg" pos="0 -0.1 -0.1">
        <joint name="r_hip" type="ball" damping="3"/>
        <geom fromto="0 0 0 0 0 -0.4" size="0.06"/>
        <body name="r_shin" pos="0 0 -0.45">
          <joint name="r_knee" type="hinge" axis="0 1 0" armature="0.1"/>
          <geom fromto="0 0 0 0 0 -0.4"/>
          <body name="r_foot" pos="0 0 -0.45" quat="0.9 0 0.1 0.1">
            <joint name="r_ankle" type="hinge" axis="0 1 0"/>
            <geom type="box" size="0.1 0.05 0.02"/>
          </body>
        </body>
      </body>
      <body name="l_leg" pos="0 0.1 -0.1">
        <joint name="l_hip" type="ball" damping="3"/>
        <geom fromto="0 0 0 0 0 -0.4" size="0.06"/>
        <body name="l_shin" pos="0 0 -0.45">
          <joint name="l_knee" type="hinge" axis="0 1 0"/>
          <geom fromto="0 0 0 0 0 -0.4"/>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <position name="neck" joint="neck" kp="20" kv="1"/>
    <velocity name="r_elbow" joint="r_elbow" kv="5" ctrlrange="-3 3"/>
    <motor name="l_elbow" joint="l_elbow" gear="10" forcerange="-4 4" forcelimited="true"/>
    <general name="r_knee" joint="r_knee" gaintype="affine" gainprm="30 -2 -0.5" biastype="affine"
             biasprm="1 -30 -3"/>
    <position name="l_knee" joint="l_knee" kp="50" dampratio="0.5"/>
    <motor name="spine" joint="spine" gear="100" ctrlrange="-1 1"/>
    <position name="r_ankle" joint="r_ankle" kp="10" timeconst="0.05" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""

# Fixed-base chain with one actuator of each supported kind: stateful dynamics
# (integrator, filter, filterexact, actearly, actrange), forcerange, ctrlrange and the
# joint's actuatorfrcrange.
ACTUATOR_ZOO = """
<mujoco model="actuator_zoo">
  <option timestep="0.002" gravity="0 0 -9.81"/>
  <default>
    <joint type="hinge" axis="0 1 0" damping="0.2"/>
    <geom type="capsule" size="0.04"/>
  </default>
  <worldbody>
    <body name="b1" pos="0 0 1">
      <joint name="j1"/>
      <geom fromto="0 0 0 0.3 0 0"/>
      <body name="b2" pos="0.3 0 0">
        <joint name="j2" axis="0 0 1" actuatorfrcrange="-2 2"/>
        <geom fromto="0 0 0 0.3 0 0"/>
        <body name="b3" pos="0.3 0 0">
          <joint name="j3" axis="1 0 0"/>
          <geom fromto="0 0 0 0.3 0 0"/>
          <body name="b4" pos="0.3 0 0">
            <joint name="j4" type="slide" axis="1 0 0" damping="5"/>
            <geom type="box" size="0.05 0.05 0.05"/>
            <body name="b5" pos="0.1 0 0">
              <joint name="j5"/>
              <geom fromto="0 0 0 0 0 -0.3"/>
              <body name="b6" pos="0 0 -0.3">
                <joint name="j6" axis="1 0 0"/>
                <geom type="sphere" size="0.06"/>
              </body>
            </body>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <general name="integrator" joint="j1" dyntype="integrator" gainprm="20" actlimited="true"
             actrange="-0.5 0.5"/>
    <motor name="clamped" joint="j2" gear="5" ctrlrange="-1 1"/>
    <general name="filter" joint="j3" dyntype="filter" dynprm="0.05" gainprm="8"/>
    <general name="filterexact" joint="j4" dyntype="filterexact" dynprm="0.03" gainprm="40"
             biastype="affine" biasprm="0 -100 -10"/>
    <general name="actearly" joint="j5" dyntype="filter" dynprm="0.02" gainprm="4" actearly="true"
             forcerange="-1.5 1.5" forcelimited="true"/>
    <intvelocity name="intvel" joint="j6" kp="10" actrange="-1 1"/>
  </actuator>
</mujoco>
"""

# Two independent kinematic trees (a free-floating box and a pendulum) with a nonzero
# springref free-joint stiffness and a body-less world geom.
TWO_TREES = """
<mujoco model="two_trees">
  <worldbody>
    <body name="box" pos="0 0 1">
      <freejoint/>
      <geom type="box" size="0.1 0.2 0.3"/>
      <body name="arm" pos="0.1 0 0">
        <joint type="hinge" axis="0 1 0" stiffness="2" springref="0.3"/>
        <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.03"/>
      </body>
    </body>
    <body name="pendulum" pos="1 0 2">
      <joint type="ball" stiffness="1"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.03"/>
    </body>
  </worldbody>
</mujoco>
"""

MODELS = {"ball_humanoid": BALL_HUMANOID, "actuator_zoo": ACTUATOR_ZOO, "two_trees": TWO_TREES}

# A free-floating two-legged torso whose hip and knee pairs are coupled by fixed tendons
# (limits, stiffness with a rest-length deadband, damping, frictionloss), on a floor.
TENDON_WALKER = """
<mujoco model="tendon_walker">
  <option timestep="0.004"/>
  <default>
    <joint type="hinge" axis="0 1 0" damping="0.5" range="-1.5 1.5" limited="true"/>
    <geom type="capsule" size="0.045" contype="1" conaffinity="1"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="torso" pos="0 0 0.95">
      <freejoint/>
      <geom fromto="0 -0.12 0 0 0.12 0" size="0.08"/>
      <body name="thigh_r" pos="0 -0.1 -0.05">
        <joint name="hip_r"/>
        <geom fromto="0 0 0 0 0 -0.4"/>
        <body name="shin_r" pos="0 0 -0.42">
          <joint name="knee_r" range="-2.5 0"/>
          <geom fromto="0 0 0 0 0 -0.4"/>
        </body>
      </body>
      <body name="thigh_l" pos="0 0.1 -0.05">
        <joint name="hip_l"/>
        <geom fromto="0 0 0 0 0 -0.4"/>
        <body name="shin_l" pos="0 0 -0.42">
          <joint name="knee_l" range="-2.5 0"/>
          <geom fromto="0 0 0 0 0 -0.4"/>
        </body>
      </body>
    </body>
  </worldbody>
  <tendon>
    <fixed name="hamstring_r" limited="true" range="-0.01 0.03" stiffness="30" springlength="-0.1 0.2"
           damping="2" frictionloss="0.3">
      <joint joint="hip_r" coef="0.5"/>
      <joint joint="knee_r" coef="-0.5"/>
    </fixed>
    <fixed name="hamstring_l" limited="true" range="-0.01 0.03" stiffness="30" springlength="-0.1 0.2"
           damping="2" frictionloss="0.3">
      <joint joint="hip_l" coef="0.5"/>
      <joint joint="knee_l" coef="-0.5"/>
    </fixed>
  </tendon>
  <actuator>
    <motor joint="hip_r" gear="30"/>
    <motor joint="knee_r" gear="30"/>
    <motor joint="hip_l" gear="30"/>
    <motor joint="knee_l" gear="30"/>
    <motor name="hamstring_motor" tendon="hamstring_r" gear="10" ctrlrange="-1 1"/>
    <position name="hamstring_servo" tendon="hamstring_l" kp="40"/>
  </actuator>
</mujoco>
"""

MODELS["tendon_walker"] = TENDON_WALKER

# The bundled humanoid (pywarp_sim/models/humanoid.xml, self-authored, with its <exclude>
# pairs) extended with fixed tendons: limited "hamstrings" coupling hip and knee (limit rows in
# falling states), a frictionloss tendon over the abdomen (tendon friction rows), a spring with
# a rest-length deadband coupling the shoulders, and a tendon-driven motor. No tendon damping, so
# every integrator (implicitfast included) accepts it. MJCF allows repeated <actuator> sections.
_TENDON_BLOCK = """
  <tendon>
    <fixed name="hamstring_r" limited="true" range="-0.9 0.6">
      <joint joint="right_hip_y" coef="-0.5"/>
      <joint joint="right_knee" coef="0.5"/>
    </fixed>
    <fixed name="hamstring_l" limited="true" range="-0.9 0.6">
      <joint joint="left_hip_y" coef="-0.5"/>
      <joint joint="left_knee" coef="0.5"/>
    </fixed>
    <fixed name="abdomen_brake" frictionloss="2">
      <joint joint="abdomen_y" coef="1"/>
      <joint joint="abdomen_x" coef="0.5"/>
    </fixed>
    <fixed name="arm_spring" stiffness="15" springlength="-0.2 0.3">
      <joint joint="right_shoulder1" coef="1"/>
      <joint joint="left_shoulder1" coef="-1"/>
    </fixed>
  </tendon>
  <actuator>
    <motor name="hamstring_r" tendon="hamstring_r" gear="40" ctrlrange="-1 1"/>
  </actuator>
"""
TENDON_HUMANOID = (pathlib.Path(__file__).parent.parent / "pywarp_sim" / "models" / "humanoid.xml"
                   ).read_text().replace("</mujoco>", _TENDON_BLOCK + "</mujoco>")

MODELS["tendon_humanoid"] = TENDON_HUMANOID


def _limb_zoo_leg(side: str, y: float, roll: str = "") -> str:
  """One leg of LIMB_ZOO (cylinder thigh, capsule shin, box foot); roll: an extra hip joint."""
  return f"""        <body name="thigh_{side}" pos="0 {y} -0.1">
          <joint name="hip_{side}" axis="0 1 0"/>{roll}
          <geom type="cylinder" fromto="0 0 0 0 0 -0.36" size="0.06"/>
          <body name="shin_{side}" pos="0 0 -0.4">
            <joint name="knee_{side}" axis="0 1 0" range="0 2.4"/>
            <geom type="capsule" fromto="0 0 0 0 0 -0.34" size="0.045"/>
            <body name="foot_{side}" pos="0.04 0 -0.4">
              <joint name="ankle_{side}" axis="0 1 0" range="-0.8 0.8"/>
              <geom type="box" size="0.1 0.045 0.025"/>
            </body>
          </body>
        </body>
"""


def _limb_zoo_arm(side: str, y: float, roll_range: str) -> str:
  """One arm of LIMB_ZOO (cylinder upper arm with pitch and roll, capsule forearm, box hand)."""
  return f"""      <body name="uarm_{side}" pos="0 {y} 0.12">
        <joint name="shoulder_{side}" axis="0 1 0" range="-3 1.5"/>
        <joint name="shoulder_{side}_roll" axis="1 0 0" range="{roll_range}"/>
        <geom type="cylinder" fromto="0 0 0 0 0 -0.26" size="0.04"/>
        <body name="farm_{side}" pos="0 0 -0.3">
          <joint name="elbow_{side}" axis="0 1 0" range="-2.4 0"/>
          <geom type="capsule" fromto="0 0 0 0 0 -0.22" size="0.035"/>
          <body name="hand_{side}" pos="0 0 -0.3">
            <geom type="box" size="0.04 0.02 0.05"/>
          </body>
        </body>
      </body>
"""


# A humanoid built from every convex primitive (box torso and feet, ellipsoid head and belly,
# cylinder upper limbs, capsule lower limbs, box hands), hinge joints only, all geoms
# colliding with each other: limbs hit each other in cylinder-cylinder, cylinder-box,
# capsule-cylinder and ellipsoid pairs, which go through the convex (GJK/EPA) collider.
LIMB_ZOO = f"""
<mujoco model="limb_zoo">
  <option timestep="0.004"/>
  <default>
    <joint type="hinge" damping="0.5" armature="0.02" range="-1.6 1.6" limited="true"/>
    <geom contype="1" conaffinity="1" friction="0.8 0.02 0.002"/>
    <motor gear="30" ctrlrange="-1 1"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="torso" pos="0 0 1.2">
      <freejoint/>
      <geom type="box" size="0.09 0.14 0.18"/>
      <body name="head" pos="0 0 0.3">
        <joint name="neck" axis="1 0 0" range="-0.6 0.6"/>
        <geom type="ellipsoid" size="0.09 0.08 0.11"/>
      </body>
      <body name="belly" pos="0 0 -0.27">
        <joint name="waist" axis="0 1 0" range="-0.8 0.8"/>
        <geom type="ellipsoid" size="0.1 0.13 0.09"/>
{_limb_zoo_leg("r", -0.09)}{_limb_zoo_leg("l", 0.09, '<joint name="hip_l_roll" axis="1 0 0" range="-0.5 0.5"/>')}      </body>
{_limb_zoo_arm("r", -0.2, "-1.5 0.3")}{_limb_zoo_arm("l", 0.2, "-0.3 1.5")}    </body>
  </worldbody>
  <actuator>
    <motor joint="neck"/>
    <motor joint="waist"/>
    <motor joint="hip_r"/>
    <motor joint="knee_r"/>
    <motor joint="ankle_r" gear="10"/>
    <motor joint="hip_l"/>
    <motor joint="hip_l_roll"/>
    <motor joint="knee_l"/>
    <motor joint="ankle_l" gear="10"/>
    <motor joint="shoulder_r"/>
    <motor joint="shoulder_r_roll"/>
    <motor joint="elbow_r"/>
    <motor joint="shoulder_l"/>
    <motor joint="shoulder_l_roll"/>
    <motor joint="elbow_l"/>
  </actuator>
</mujoco>
"""

MODELS["limb_zoo"] = LIMB_ZOO

# A free-floating humanoid torso carrying every supported equality constraint: connect by body
# (the forearms hold hands) and by site (left hand to a world site, soft), weld by body (a free
# "backpack" welded to the torso with relpose and torquescale) and by site (a free foot plate
# welded under the right shin, torquescale 2), a two-joint cubic coupling of the knees, a
# one-joint lock of a slide joint, a two-tendon polynomial and a one-tendon lock, plus an
# inactive connect (eq_active0 = 0). Limbs collide with the floor. The backpack and the plate
# carry a child body each: MuJoCo 4's implicitfast adds a gyroscopic term for childless free
# bodies (mjd_freeMhat), which pywarp_sim does not have yet (see the README's limits).
EQUALITY_ZOO = """
<mujoco model="equality_zoo">
  <option timestep="0.004"/>
  <default>
    <joint type="hinge" axis="0 1 0" damping="0.3" armature="0.01"/>
    <geom type="capsule" size="0.04" contype="1" conaffinity="1"/>
    <motor gear="20" ctrlrange="-1 1"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <site name="hook" pos="0.3 0.4 1.3"/>
    <body name="torso" pos="0 0 1.0">
      <freejoint/>
      <geom type="box" size="0.1 0.15 0.15"/>
      <body name="arm_r" pos="0 -0.2 0.1">
        <joint name="shoulder_r"/>
        <joint name="shoulder_r_roll" axis="1 0 0"/>
        <geom fromto="0 0 0 0 0 -0.3"/>
        <body name="forearm_r" pos="0 0 -0.32">
          <joint name="elbow_r"/>
          <geom fromto="0 0 0 0.2 0 -0.2"/>
        </body>
      </body>
      <body name="arm_l" pos="0 0.2 0.1">
        <joint name="shoulder_l" type="ball"/>
        <geom fromto="0 0 0 0 0 -0.3"/>
        <body name="forearm_l" pos="0 0 -0.32">
          <joint name="elbow_l"/>
          <geom fromto="0 0 0 0.2 0 -0.2"/>
          <site name="hand_l" pos="0.2 0 -0.2" quat="0.96 0.2 0 0.2"/>
        </body>
      </body>
      <body name="thigh_r" pos="0 -0.08 -0.18">
        <joint name="hip_r"/>
        <geom fromto="0 0 0 0 0 -0.35"/>
        <body name="shin_r" pos="0 0 -0.38">
          <joint name="knee_r" range="-2.4 0.1" limited="true"/>
          <geom fromto="0 0 0 0 0 -0.35"/>
          <site name="ankle_r" pos="0 0 -0.4" quat="0.98 0 0.17 0.1"/>
        </body>
      </body>
      <body name="thigh_l" pos="0 0.08 -0.18">
        <joint name="hip_l"/>
        <geom fromto="0 0 0 0 0 -0.35"/>
        <body name="shin_l" pos="0 0 -0.38">
          <joint name="knee_l"/>
          <geom fromto="0 0 0 0 0 -0.35"/>
        </body>
      </body>
      <body name="tail" pos="-0.15 0 0">
        <joint name="tail" type="slide" axis="1 0 0"/>
        <geom type="sphere" size="0.05"/>
      </body>
    </body>
    <body name="backpack" pos="-0.25 0 1.1" euler="0 0.3 0">
      <freejoint/>
      <geom type="box" size="0.05 0.1 0.12" contype="0" conaffinity="0"/>
      <body name="strap" pos="0.05 0 0.1">
        <geom type="box" size="0.01 0.08 0.02" contype="0" conaffinity="0"/>
      </body>
    </body>
    <body name="plate" pos="0 -0.08 0.05">
      <freejoint/>
      <geom type="box" size="0.1 0.05 0.015"/>
      <site name="plate_top" pos="0 0 0.02"/>
      <body name="sole" pos="0 0 -0.02">
        <geom type="box" size="0.1 0.05 0.005"/>
      </body>
    </body>
  </worldbody>
  <tendon>
    <fixed name="hips">
      <joint joint="hip_r" coef="1"/>
      <joint joint="hip_l" coef="1"/>
    </fixed>
    <fixed name="knees">
      <joint joint="knee_r" coef="0.5"/>
      <joint joint="knee_l" coef="-0.5"/>
    </fixed>
    <fixed name="elbow_r">
      <joint joint="elbow_r" coef="1"/>
      <joint joint="shoulder_r_roll" coef="0.3"/>
    </fixed>
  </tendon>
  <equality>
    <connect name="hands" body1="forearm_r" body2="forearm_l" anchor="0.2 0 -0.2"/>
    <connect name="hook" site1="hand_l" site2="hook" solref="0.05 1.2" solimp="0.8 0.95 0.01 0.4 3"/>
    <weld name="backpack" body1="backpack" body2="torso" relpose="-0.2 0.02 0.1 0.98 0 0.2 0"
          torquescale="0.6"/>
    <weld name="plate" site1="plate_top" site2="ankle_r" torquescale="2" solref="0.03 0.8"/>
    <joint name="knees" joint1="knee_l" joint2="knee_r" polycoef="0.1 0.8 -0.2 0.05 0"/>
    <joint name="tail" joint1="tail" polycoef="0.03 0 0 0 0"/>
    <tendon name="legs" tendon1="hips" tendon2="knees" polycoef="0 0.5 0.3 0 0.1"/>
    <tendon name="elbow" tendon1="elbow_r" polycoef="0.2 0 0 0 0" solimp="0.95 0.99 0.002 0.5 2"/>
    <connect name="spare" body1="tail" body2="torso" anchor="0 0 0.1" active="false"/>
  </equality>
  <actuator>
    <motor joint="shoulder_r"/>
    <motor joint="elbow_r"/>
    <motor joint="elbow_l"/>
    <motor joint="hip_r"/>
    <motor joint="knee_r"/>
    <motor joint="hip_l"/>
    <motor joint="tail" gear="5"/>
  </actuator>
</mujoco>
"""

MODELS["equality_zoo"] = EQUALITY_ZOO


def _fourbar_leg(side: str, y: float) -> str:
  """One leg of FOURBAR_BIPED: thigh and shin, and the rocker beside the thigh that the
  linkage's connect constraint ties to the shin."""
  return f"""      <body name="thigh_{side}" pos="0 {y} -0.22">
        <joint name="hip_{side}" range="-1.2 1.2" limited="true"/>
        <geom fromto="0 0 0 0 0 -0.4"/>
        <body name="shin_{side}" pos="0 0 -0.42">
          <joint name="knee_{side}"/>
          <geom fromto="0 0 0 0 0 -0.36"/>
          <geom type="box" pos="0.05 0 -0.4" size="0.1 0.05 0.02"/>
        </body>
      </body>
      <body name="rocker_{side}" pos="0.08 {y} -0.22">
        <joint name="rocker_{side}"/>
        <geom fromto="0 0 0 0 0 -0.42" size="0.02" contype="0" conaffinity="0"/>
      </body>
"""


# A planar-ish biped whose legs are closed-loop four-bar (parallelogram) linkages: each thigh
# has a parallel rocker hinged on the torso 8 cm ahead of the hip, whose end is pinned to the
# shin by a connect constraint, so the shin keeps the torso's pitch while the hip and knee
# move together. Motors on hips and knees, feet on a floor; the rockers are visual only.
FOURBAR_BIPED = f"""
<mujoco model="fourbar_biped">
  <option timestep="0.004"/>
  <default>
    <joint type="hinge" axis="0 1 0" damping="0.5" armature="0.02"/>
    <geom type="capsule" size="0.04" contype="1" conaffinity="1"/>
    <motor gear="25" ctrlrange="-1 1"/>
  </default>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="torso" pos="0 0 1.05">
      <freejoint/>
      <geom type="box" size="0.12 0.16 0.2"/>
{_fourbar_leg("r", -0.1)}{_fourbar_leg("l", 0.1)}    </body>
  </worldbody>
  <equality>
    <connect name="linkage_r" body1="rocker_r" body2="shin_r" anchor="0 0 -0.42"/>
    <connect name="linkage_l" body1="rocker_l" body2="shin_l" anchor="0 0 -0.42"/>
  </equality>
  <actuator>
    <motor joint="hip_r"/>
    <motor joint="knee_r"/>
    <motor joint="hip_l"/>
    <motor joint="knee_l"/>
  </actuator>
</mujoco>
"""

MODELS["fourbar_biped"] = FOURBAR_BIPED
