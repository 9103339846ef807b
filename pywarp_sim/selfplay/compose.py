"""Two copies of a robot in one world: the MJCF of a two-agent arena, built with MjSpec.

`compose(model)` takes any model the library loads (a bundled name such as "humanoid", a path
or an MJCF string) whose robot hangs from the world by a free joint, and returns an `Arena`:
the MJCF of a world holding a floor, a ring drawn on it (visual only) and the robot twice,
attached with `MjSpec.attach` under the name prefixes "a_" and "b_" (every body, joint, geom,
site, actuator, sensor and contact exclusion of the robot is copied, so each agent has its own
actuators and the exclusions stay within one robot). The robot's own world geoms (its floor)
are dropped and replaced by the arena's floor; the solver options are the robot's.

Contacts between the two robots come from the robot's own contype/conaffinity: MuJoCo's
parent filter only drops pairs of a body and its parent (never two bodies of different
robots: both root bodies are children of the world, which the filter does not apply to), so
every geom of A that may touch a geom of its own kind may touch the same geom of B. A robot
whose geoms cannot collide with each other at all (contype & conaffinity == 0 between every
pair) gets no contacts with its opponent; `compose` refuses it with a clear error.

Agent A stands at (-separation/2, 0) facing +x, agent B at (+separation/2, 0) facing -x; the
ring is centred on the origin. Units: m.
"""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

from .. import models

PREFIXES = ("a_", "b_")


@dataclasses.dataclass(frozen=True)
class Arena:
  """A composed two-agent world.

  xml: the MJCF (loads with mujoco.MjModel.from_xml_string and pws.load_model).
  ring_radius: m. robot: the robot's model name (its MJCF's model attribute).
  prefixes: the agents' name prefixes, ("a_", "b_").
  """
  xml: str
  ring_radius: float
  robot: str
  prefixes: tuple = PREFIXES

  def mj_model(self) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(self.xml)


def _copy_options(src: mujoco.MjSpec, dst: mujoco.MjSpec):
  """The robot's solver, integrator and physics options on the arena (MjSpec.attach keeps the
  parent's options, and the robot was tuned with its own)."""
  for name in dir(src.option):
    if name.startswith("_"):
      continue
    value = getattr(src.option, name)
    if callable(value):
      continue
    try:
      setattr(dst.option, name, value)
    except (AttributeError, TypeError):
      pass  # read-only views


def compose(model="humanoid", ring_radius: float = 2.0, separation: float = 1.0,
            floor_size: float = 6.0) -> Arena:
  """The two-agent arena of `model` (module doc). ring_radius, separation, floor_size in m."""
  if not ring_radius > 0:
    raise ValueError(f"ring_radius must be > 0 m, got {ring_radius}")
  if not 0 < separation < 2 * ring_radius:
    raise ValueError(f"separation must be in (0, 2 * ring_radius = {2 * ring_radius}) m, got {separation}")
  robot = models.load_spec(model)
  roots = list(robot.worldbody.bodies)
  compiled = robot.compile()
  free = [j for j in range(compiled.njnt) if compiled.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]
  if len(roots) != 1 or len(free) != 1 or compiled.jnt_bodyid[free[0]] != 1:
    raise ValueError(f"compose: the robot '{robot.modelname}' must be one body tree hanging from the "
                     f"world by a free joint (found {len(roots)} root bodies, {len(free)} free joints); "
                     f"wrap it in one floating root body")
  robot_geoms = [g for g in range(compiled.ngeom) if compiled.geom_bodyid[g] != 0]
  if not any(compiled.geom_contype[g] & compiled.geom_conaffinity[h]
             or compiled.geom_contype[h] & compiled.geom_conaffinity[g]
             for g in robot_geoms for h in robot_geoms):
    raise ValueError(f"compose: no geom of '{robot.modelname}' may collide with another of its geoms "
                     f"(contype & conaffinity), so its two copies could not touch; give the robot's "
                     f"geoms matching contype/conaffinity bits")
  arena = mujoco.MjSpec()
  arena.modelname = f"sumo_{robot.modelname}"
  _copy_options(robot, arena)
  arena.compiler.autolimits = True
  arena.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE,
                           size=[floor_size, floor_size, 0.05], contype=1, conaffinity=1,
                           rgba=[0.35, 0.4, 0.45, 1])
  arena.worldbody.add_light(name="sun", pos=[0, 0, 6], dir=[0, 0, -1],
                            type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)
  # the ring: a flat disc drawn on the floor, no physics (contype = conaffinity = 0)
  arena.worldbody.add_geom(name="ring", type=mujoco.mjtGeom.mjGEOM_CYLINDER,
                           size=[ring_radius, 0.001, 0], pos=[0, 0, 0.001], contype=0,
                           conaffinity=0, rgba=[0.85, 0.75, 0.55, 1], mass=0)
  half = 0.5 * separation
  for prefix, x, quat in ((PREFIXES[0], -half, [1, 0, 0, 0]), (PREFIXES[1], half, [0, 0, 0, 1])):
    copy = robot.copy()
    for g in list(copy.worldbody.geoms):
      copy.delete(g)  # the robot's floor: the arena has its own
    for light in list(copy.worldbody.lights):
      copy.delete(light)
    frame = arena.worldbody.add_frame(pos=[x, 0, 0], quat=quat)
    arena.attach(copy, prefix=prefix, frame=frame)
  arena.compile()  # errors name the element now, not at load time
  return Arena(xml=arena.to_xml(), ring_radius=float(ring_radius), robot=robot.modelname)


def agent_indices(mjm: mujoco.MjModel, prefix: str) -> dict:
  """The addresses of agent `prefix` ("a_" or "b_") in the composed model `mjm`:
  {"qpos": (nq_agent,) qpos addresses, "qvel": (nv_agent,) dof addresses, "ctrl": (nu_agent,)
  actuator ids, "root_body": body id of its root, "bodies": body ids, "geoms": geom ids,
  "actuated_qpos": (nu_agent,) qpos address of each actuator's joint, "actuated_qvel":
  (nu_agent,) its dof address, "joint_names": names of the actuated joints without the prefix},
  numpy int arrays in the model's order."""
  def named(objtype, n):
    return [i for i in range(n) if (mujoco.mj_id2name(mjm, objtype, i) or "").startswith(prefix)]
  bodies = named(mujoco.mjtObj.mjOBJ_BODY, mjm.nbody)
  joints = named(mujoco.mjtObj.mjOBJ_JOINT, mjm.njnt)
  acts = named(mujoco.mjtObj.mjOBJ_ACTUATOR, mjm.nu)
  if not bodies or not acts:
    raise ValueError(f"no bodies or actuators named '{prefix}*' in the model: pass a model built by "
                     f"selfplay.compose")
  qpos, qvel = [], []
  for j in joints:
    nq = {0: 7, 1: 4}.get(int(mjm.jnt_type[j]), 1)
    nv = {0: 6, 1: 3}.get(int(mjm.jnt_type[j]), 1)
    qpos += range(mjm.jnt_qposadr[j], mjm.jnt_qposadr[j] + nq)
    qvel += range(mjm.jnt_dofadr[j], mjm.jnt_dofadr[j] + nv)
  trn = mjm.actuator_trnid[acts, 0]
  geoms = [g for g in range(mjm.ngeom) if mjm.geom_bodyid[g] in set(bodies)]
  names = [mujoco.mj_id2name(mjm, mujoco.mjtObj.mjOBJ_JOINT, j)[len(prefix):] for j in trn]
  return {"qpos": np.array(qpos), "qvel": np.array(qvel), "ctrl": np.array(acts),
          "root_body": int(bodies[0]), "bodies": np.array(bodies), "geoms": np.array(geoms),
          "actuated_qpos": mjm.jnt_qposadr[trn].astype(np.int64),
          "actuated_qvel": mjm.jnt_dofadr[trn].astype(np.int64), "joint_names": names}
