"""The bundled CMU-class humanoid (cmu_humanoid.xml), generated here: `python -m
pywarp_sim.models.cmu_humanoid` rewrites the file from `mjcf()` (tests/test_simt_step.py checks that
the two agree).

The skeleton has the structure of dm_control's CMU humanoid (the motion-capture subject of the CMU
database): a free-floating pelvis and 56 hinge dofs in 30 bodies, the joints grouped as the CMU
skeleton's segments with their degrees of freedom

  legs (x2)   femur 3, tibia 1, foot 2, toes 1                    14
  spine       lower back 3, upper back 3, thorax 3                  9
  neck, head  lower neck 3, upper neck 3, head 3                    9
  arms (x2)   clavicle 2, humerus 3, radius 1, wrist 1, hand 2,    24
              fingers 1, thumb 2

so nq = 63, nv = 62, nu = 56 (a motor per hinge). Geometry, masses and joint ranges are this file's
own (Z up, x forward, metres, degrees, densities 1000 kg/m^3): capsules for the limbs and trunk,
spheres for the head and toes, boxes for the feet and hands, on a ground plane. Every geom
collides with the floor and with the geoms of non-adjacent bodies (MuJoCo's parent filter), as in
the CMU model, whose clavicle and neck exclusions are kept. Joint stiffness, damping and armature
come in three classes as there (low / medium / high); joint limits use a soft solimp.
Units: m, kg, s.
"""

from __future__ import annotations

import pathlib

PATH = pathlib.Path(__file__).with_name("cmu_humanoid.xml")

# joint classes: (stiffness N m/rad, damping N m s/rad)
_CLASSES = {"low": (0.5, 4.0), "medium": (10.0, 5.0), "high": (30.0, 10.0)}
_AXES = {"x": "1 0 0", "y": "0 1 0", "z": "0 0 1"}


def _joints(name: str, dofs, cls: str) -> list[str]:
  """<joint> lines: dofs = [(suffix, axis letter, lo, hi)], class `cls` ('' = the default's)."""
  c = f' class="{cls}"' if cls else ""
  return [f'<joint name="{name}{s}" axis="{_AXES[a]}" range="{lo} {hi}"{c}/>' for s, a, lo, hi in dofs]


def _body(name: str, pos: str, joints: list[str], geoms: list[str], children: list[str]) -> str:
  inner = "\n".join([*joints, *geoms, *children])
  inner = "\n".join("  " + line for line in inner.splitlines())
  return f'<body name="{name}" pos="{pos}">\n{inner}\n</body>'


def _leg(side: str, s: int) -> str:
  """s = +1 left, -1 right (y)."""
  toes = _body(f"{side}toes", "0.14 0 -0.045", _joints(f"{side}toes", [("rx", "y", -20, 60)], ""),
               [f'<geom name="{side}toes0" type="sphere" size="0.022" pos="0.01 {0.025 * s} 0"/>',
                f'<geom name="{side}toes1" type="sphere" size="0.022" pos="0.015 {-0.01 * s} 0"/>'], [])
  foot = _body(f"{side}foot", "0 0 -0.4", _joints(f"{side}foot", [("rz", "z", -30, 30), ("rx", "y", -45, 50)], "medium"),
               [f'<geom name="{side}foot" type="box" size="0.085 0.045 0.022" pos="0.05 0 -0.045"/>'], [toes])
  tibia = _body(f"{side}tibia", "0 0 -0.41", _joints(f"{side}tibia", [("rx", "y", 1, 150)], "low"),
                [f'<geom name="{side}tibia" fromto="0 0 -0.02 0 0 -0.36" size="0.045"/>'], [foot])
  femur = _body(f"{side}femur", f"0 {0.095 * s} -0.06",
                _joints(f"{side}femur", [("rz", "z", -60 if s > 0 else -70, 70 if s > 0 else 60),
                                          ("ry", "x", -20 if s > 0 else -70, 70 if s > 0 else 20),
                                          ("rx", "y", -140, 20)], "medium"),
                [f'<geom name="{side}femur" fromto="0 0 -0.02 0 0 -0.37" size="0.06"/>'], [tibia])
  return femur


def _arm(side: str, s: int) -> str:
  """s = +1 left, -1 right (y)."""
  fingers = _body(f"{side}fingers", "0 0 -0.1", _joints(f"{side}fingers", [("rx", "y", 0, 90)], ""),
                  [f'<geom name="{side}finger{k}" fromto="0 {y} 0 0 {y} -0.06" size="0.009"/>'
                   for k, y in enumerate((-0.03, -0.01, 0.01, 0.03))], [])
  thumb = _body(f"{side}thumb", f"0.025 {0.02 * s} -0.03",
                _joints(f"{side}thumb", [("rz", "z", -45, 45), ("rx", "y", 0, 90)], ""),
                [f'<geom name="{side}thumb" fromto="0 0 0 0.03 0 -0.04" size="0.011"/>'], [])
  hand = _body(f"{side}hand", "0 0 -0.06", _joints(f"{side}hand", [("rz", "y", -70, 70), ("rx", "x", -30, 30)], ""),
               [f'<geom name="{side}hand" type="box" size="0.018 0.042 0.045" pos="0 0 -0.05"/>'], [fingers, thumb])
  wrist = _body(f"{side}wrist", "0 0 -0.24", _joints(f"{side}wrist", [("ry", "z", -90, 90)], ""),
                [f'<geom name="{side}wrist" fromto="0 0 0 0 0 -0.04" size="0.025"/>'], [hand])
  radius = _body(f"{side}radius", "0 0 -0.28", _joints(f"{side}radius", [("rx", "y", -150, 0)], "low"),
                 [f'<geom name="{side}radius" fromto="0 0 -0.02 0 0 -0.22" size="0.032"/>'], [wrist])
  humerus = _body(f"{side}humerus", f"0 {0.15 * s} 0",
                  _joints(f"{side}humerus", [("rz", "z", -90, 90), ("ry", "x", -20 if s > 0 else -150, 150 if s > 0 else 20),
                                              ("rx", "y", -150, 60)], "low"),
                  [f'<geom name="{side}humerus" fromto="0 0 -0.03 0 0 -0.25" size="0.038"/>'], [radius])
  clavicle = _body(f"{side}clavicle", f"0 {0.03 * s} 0.17",
                   _joints(f"{side}clavicle", [("rz", "z", 0 if s > 0 else -20, 20 if s > 0 else 0),
                                                ("ry", "x", -10 if s > 0 else -20, 20 if s > 0 else 10)], "high"),
                   [f'<geom name="{side}clavicle" fromto="0 {0.02 * s} 0 0 {0.12 * s} 0" size="0.04"/>'], [humerus])
  return clavicle


def _neck() -> str:
  three = [("rz", "z", -30, 30), ("ry", "x", -30, 30), ("rx", "y", -20, 45)]
  head = _body("head", "0 0 0.06", _joints("head", three, "medium"),
               ['<geom name="head" type="sphere" size="0.09" pos="0.01 0 0.1"/>',
                '<geom name="jaw" fromto="0.03 -0.04 0.05 0.03 0.04 0.05" size="0.035"/>'], [])
  upper = _body("upperneck", "0 0 0.06", _joints("upperneck", three, "medium"),
                ['<geom name="upperneck" fromto="0 0 0 0 0 0.05" size="0.04"/>'], [head])
  return _body("lowerneck", "0 0 0.2", _joints("lowerneck", three, "medium"),
               ['<geom name="lowerneck" fromto="0 0 0 0 0 0.05" size="0.045"/>'], [upper])


def mjcf() -> str:
  """The model's MJCF text."""
  three = [("rz", "z", -30, 30), ("ry", "x", -30, 30), ("rx", "y", -20, 45)]
  thorax = _body("thorax", "0 0 0.11", _joints("thorax", three, "high"),
                 ['<geom name="thorax" fromto="0 -0.08 0.1 0 0.08 0.1" size="0.09"/>'],
                 [_neck(), _arm("l", 1), _arm("r", -1)])
  upperback = _body("upperback", "0 0 0.1", _joints("upperback", three, "high"),
                    ['<geom name="upperback" fromto="0 -0.06 0.05 0 0.06 0.05" size="0.075"/>'], [thorax])
  lowerback = _body("lowerback", "0 0 0.08", _joints("lowerback", three, "high"),
                    ['<geom name="lowerback" fromto="0 -0.055 0.04 0 0.055 0.04" size="0.07"/>'], [upperback])
  pelvis = _body("root", "0 0 0.98", ['<freejoint name="root"/>'],
                 ['<geom name="root" fromto="0 -0.08 0 0 0.08 0" size="0.09"/>'],
                 [_leg("l", 1), _leg("r", -1), lowerback])
  pelvis = "\n".join("    " + line for line in pelvis.splitlines())
  # a motor per hinge: gear by segment (hips and knees strongest), as the CMU model's
  gears = {"femurrx": 120, "femurry": 40, "femurrz": 40, "tibiarx": 80, "lowerback": 40, "upperback": 40,
           "thorax": 40, "humerus": 40, "radius": 40}
  hinges = [line.split('"')[1] for line in pelvis.splitlines() if "<joint " in line]
  motors = []
  for j in hinges:
    gear = next((g for key, g in gears.items() if key in j), 20)
    motors.append(f'    <motor name="{j}" joint="{j}" gear="{gear}"/>')
  motors = "\n".join(motors)
  return f"""<!-- pywarp_sim CMU-class humanoid: 56 hinge dofs on a free-floating pelvis (nv = 62),
     generated by pywarp_sim/models/cmu_humanoid.py (edit that, then run
     `python -m pywarp_sim.models.cmu_humanoid`). Units: m, kg, s; densities 1000 kg/m^3. -->
<mujoco model="pws_cmu_humanoid">
  <compiler angle="degree"/>
  <option timestep="0.005" iterations="50" solver="Newton"/>

  <default>
    <joint type="hinge" limited="true" solimplimit="0 0.99 0.01" stiffness="0.1" armature="0.01" damping="1"/>
    <geom type="capsule" friction="0.7" solref="0.015 1" solimp="0.95 0.99 0.003" contype="1" conaffinity="1"/>
    <motor ctrllimited="true" ctrlrange="-1 1"/>
    <default class="low">
      <joint stiffness="{_CLASSES['low'][0]}" damping="{_CLASSES['low'][1]}"/>
    </default>
    <default class="medium">
      <joint stiffness="{_CLASSES['medium'][0]}" damping="{_CLASSES['medium'][1]}"/>
    </default>
    <default class="high">
      <joint stiffness="{_CLASSES['high'][0]}" damping="{_CLASSES['high'][1]}"/>
    </default>
  </default>

  <worldbody>
    <geom name="floor" type="plane" size="0 0 0.05"/>
{pelvis}
  </worldbody>

  <contact>
    <exclude body1="lclavicle" body2="rclavicle"/>
    <exclude body1="lowerneck" body2="lclavicle"/>
    <exclude body1="lowerneck" body2="rclavicle"/>
    <exclude body1="upperneck" body2="lclavicle"/>
    <exclude body1="upperneck" body2="rclavicle"/>
  </contact>

  <actuator>
{motors}
  </actuator>
</mujoco>
"""


if __name__ == "__main__":
  PATH.write_text(mjcf())
  print(f"wrote {PATH}")
