"""MJCF/URDF → MjModel (MuJoCo's compiler) → Model (flat Warp arrays) → Data."""

import dataclasses
import math
import os
import warnings

import mujoco
import numpy as np
import warp as wp

from .errors import IgnoredModelElementWarning, UnsupportedModelError
from .pairs import build_pairs
from .types import (
  BANK_FIELDS, DATA_FIELDS, EPA_MIN_SLOTS, EPA_SLOTS_PER_WORLD, LAYOUT_TILE, LAYOUTS, NCYLPOLY, TILED_ROLES,
  BiasType, ConeType, Data, DisableBit, DynType, EqType, Field, GainType, GeomType, IntegratorType, JointType,
  Model, ObjType, Option, Role, SensorType, TrnType,
)

_vec5 = wp.types.vector(length=5, dtype=wp.float32)

SUPPORTED_GEOMS = (GeomType.PLANE, GeomType.HFIELD, GeomType.SPHERE, GeomType.CAPSULE,
                   GeomType.ELLIPSOID, GeomType.CYLINDER, GeomType.BOX, GeomType.MESH)
SUPPORTED_INTEGRATORS = (IntegratorType.EULER, IntegratorType.RK4, IntegratorType.IMPLICITFAST)


def _name(m: mujoco.MjModel, objtype, i: int) -> str:
  name = mujoco.mj_id2name(m, objtype, i)
  return f"'{name}'" if name else f"#{i}"


SENSOR_MODES = ("evaluate", "skip")
# Sensors whose value reads the post-constraint cacc / cfrc_int (MuJoCo's mj_sensorAcc calls
# mj_rnePostConstraint for these), and those reading subtree_linvel / subtree_angmom (mj_subtreeVel).
_RNE_POST_SENSORS = (SensorType.ACCELEROMETER, SensorType.FORCE, SensorType.TORQUE, SensorType.FRAMELINACC,
                     SensorType.FRAMEANGACC)
_SUBTREE_VEL_SENSORS = (SensorType.SUBTREELINVEL, SensorType.SUBTREEANGMOM)
_FRAME_SENSORS = (SensorType.FRAMEPOS, SensorType.FRAMEQUAT, SensorType.FRAMEXAXIS, SensorType.FRAMEYAXIS,
                  SensorType.FRAMEZAXIS, SensorType.FRAMELINVEL, SensorType.FRAMEANGVEL, SensorType.FRAMELINACC,
                  SensorType.FRAMEANGACC)
_TOUCH_ZONES = (GeomType.SPHERE, GeomType.CAPSULE, GeomType.ELLIPSOID, GeomType.CYLINDER, GeomType.BOX)


def check_sensors_mode(sensors) -> None:
  if sensors not in SENSOR_MODES:
    raise ValueError(f"sensors must be one of {SENSOR_MODES}, got {sensors!r}")


def _validate_sensors(m: mujoco.MjModel, sensors: str):
  """Raises UnsupportedModelError for a sensor pywarp_sim does not evaluate (by name and type);
  with sensors="skip", warns once instead (Model has no sensors then, sensordata is empty)."""
  if not m.nsensor:
    return
  if sensors == "skip":
    kinds = sorted({mujoco.mjtSensor(int(t)).name[len("mjSENS_"):].lower() for t in m.sensor_type})
    warnings.warn(
      f"model has {m.nsensor} sensor(s) ({', '.join(kinds)}), which were skipped (sensors='skip'): "
      f"sensordata is empty; pass sensors='evaluate' to compute them", IgnoredModelElementWarning,
      stacklevel=4)
    return
  supported = {int(t) for t in SensorType}
  frames = {int(t) for t in ObjType}
  for i in range(m.nsensor):
    t = int(m.sensor_type[i])
    kind = mujoco.mjtSensor(t).name[len("mjSENS_"):].lower()
    what = f"sensor {_name(m, mujoco.mjtObj.mjOBJ_SENSOR, i)} (type {kind})"
    skip = "or load the model with sensors='skip' (no sensordata)"
    if t not in supported:
      raise UnsupportedModelError(
        f"{what} is not evaluated by pywarp_sim; remove it from <sensor>, {skip}")
    if t in {int(x) for x in _FRAME_SENSORS}:
      for role, objtype, objid in (("object", m.sensor_objtype[i], m.sensor_objid[i]),
                                   ("reference", m.sensor_reftype[i], m.sensor_refid[i])):
        if objid >= 0 and int(objtype) not in frames:
          raise UnsupportedModelError(
            f"{what}: {role} type {mujoco.mjtObj(int(objtype)).name} is not supported; use a body, "
            f"xbody, geom or site, {skip}")
    if t == int(SensorType.TOUCH) and int(m.site_type[m.sensor_objid[i]]) not in [int(g) for g in _TOUCH_ZONES]:
      raise UnsupportedModelError(f"{what}: its site's type {mujoco.mjtGeom(int(m.site_type[m.sensor_objid[i]])).name} "
                                  f"is no touch zone; use a sphere, capsule, ellipsoid, cylinder or box site, {skip}")
    if t == int(SensorType.RANGEFINDER):
      _validate_rangefinder(m, i, what, skip)
    if m.sensor_delay[i] > 0 or np.any(m.sensor_interval[i] != 0) or np.any(m.sensor_history[i] != 0):
      raise UnsupportedModelError(
        f"{what}: delay / interval / history (delayed or sampled sensors) are not supported; remove "
        f"those attributes, {skip}")
    if m.sensor_plugin[i] >= 0:
      raise UnsupportedModelError(f"{what}: sensor plugins are not supported; remove it, {skip}")


def _validate_rangefinder(m: mujoco.MjModel, i: int, what: str, skip: str):
  """A rangefinder is evaluated on a site with the distance as its only output (MuJoCo's
  default dataspec), over geoms without height fields (ray.py)."""
  if int(m.sensor_objtype[i]) != int(mujoco.mjtObj.mjOBJ_SITE):
    raise UnsupportedModelError(f"{what}: a rangefinder on a {mujoco.mjtObj(int(m.sensor_objtype[i])).name} "
                                f"(depth image) is not evaluated; attach it to a site, {skip}")
  if int(m.sensor_intprm[i, 0]) != 1 << int(mujoco.mjtRayDataField.mjRAYDATA_DIST):
    raise UnsupportedModelError(f"{what}: rangefinder data other than the distance (dataspec "
                                f"{int(m.sensor_intprm[i, 0])}) is not evaluated; use data=\"dist\", {skip}")
  if np.any(m.geom_type == mujoco.mjtGeom.mjGEOM_HFIELD):
    raise UnsupportedModelError(f"{what}: rays against height fields are not evaluated; remove the "
                                f"rangefinder, {skip}")


def _validate(m: mujoco.MjModel, sensors: str = "evaluate"):
  """Raises UnsupportedModelError for any feature the pipeline would not honour."""
  obj = mujoco.mjtObj

  def fail(kind, objtype, i, feature, fix):
    raise UnsupportedModelError(
      f"{kind} {_name(m, objtype, i) if objtype is not None else ''}: {feature} is not "
      f"supported by pywarp_sim; {fix}")

  o = m.opt
  if not (np.isfinite(o.timestep) and o.timestep > 0):
    raise ValueError(f"opt.timestep must be a finite number of seconds > 0, got {o.timestep}; "
                     f"set <option timestep=...> (MuJoCo's default is 0.002)")
  for name in ("tolerance", "ls_tolerance", "impratio"):
    v = float(getattr(o, name))
    if not (np.isfinite(v) and v >= 0):
      raise ValueError(f"opt.{name} must be finite and >= 0, got {v}")
  # before the element counts: a flex equality names its constraint, not only the flex
  supported_eq = [int(t) for t in EqType]
  for i in range(m.neq):
    t = int(m.eq_type[i])
    if t not in supported_eq:
      fail("equality constraint", obj.mjOBJ_EQUALITY, i, f"type {mujoco.mjtEq(t).name}",
           "use connect, weld, joint or tendon equality constraints, or remove it")
    if t in (int(EqType.CONNECT), int(EqType.WELD)) and int(m.eq_objtype[i]) not in (
        int(obj.mjOBJ_BODY), int(obj.mjOBJ_SITE)):
      fail("equality constraint", obj.mjOBJ_EQUALITY, i,
           f"object type {mujoco.mjtObj(int(m.eq_objtype[i])).name}", "refer to bodies or sites")
    if t == int(EqType.JOINT):
      for jid in (m.eq_obj1id[i], m.eq_obj2id[i]):
        if jid >= 0 and int(m.jnt_type[jid]) not in (int(JointType.HINGE), int(JointType.SLIDE)):
          fail("equality constraint", obj.mjOBJ_EQUALITY, i, "joint equality on a free or ball joint",
               "couple hinge or slide joints")

  counts = {
    "flex": (m.nflex, "remove the <flex>/<flexcomp> elements"),
    "plugin": (m.nplugin, "remove the plugins"),
    "mocap body": (m.nmocap, "make the body a regular body or weld it to the world"),
  }
  for what, (n, fix) in counts.items():
    if n:
      raise UnsupportedModelError(f"model has {n} {what}(s), which pywarp_sim does not support; {fix}")

  opt = m.opt
  if opt.integrator not in [int(i) for i in SUPPORTED_INTEGRATORS]:
    name = mujoco.mjtIntegrator(opt.integrator).name
    raise UnsupportedModelError(
      f"option integrator={name} is not supported; use Euler, RK4 or implicitfast")
  if opt.density != 0 or opt.viscosity != 0 or np.any(opt.wind != 0):
    raise UnsupportedModelError(
      "option density/viscosity/wind (fluid forces) are not supported; set them to 0")
  if opt.noslip_iterations > 0:
    raise UnsupportedModelError("option noslip_iterations > 0 (noslip solver) is not supported")
  if opt.disableactuator:
    raise UnsupportedModelError("option actuatorgroupdisable is not supported")
  # diagexact changes every constraint's regularisation (exact diagonal of J M^-1 J'),
  # speculative which contacts collision detection reports: both would be silently ignored.
  unsupported_enable = {
    mujoco.mjtEnableBit.mjENBL_OVERRIDE: "contact parameter override",
    mujoco.mjtEnableBit.mjENBL_SLEEP: "sleeping islands",
    mujoco.mjtEnableBit.mjENBL_DIAGEXACT: "exact constraint-inertia diagonal",
    mujoco.mjtEnableBit.mjENBL_SPECULATIVE: "speculative contacts",
    mujoco.mjtEnableBit.mjENBL_IPC: "IPC contacts",
  }
  for bit, what in unsupported_enable.items():
    if opt.enableflags & int(bit):
      raise UnsupportedModelError(
        f"option flag {bit.name} ({what}) is not supported by pywarp_sim; remove "
        f"<flag {bit.name[len('mjENBL_'):].lower()}=\"enable\"/> from <option>")

  for t in range(m.ntendon):
    adr, num = int(m.tendon_adr[t]), int(m.tendon_num[t])
    if np.any(m.wrap_type[adr:adr + num] != int(mujoco.mjtWrap.mjWRAP_JOINT)):
      fail("tendon", obj.mjOBJ_TENDON, t, "spatial tendon", "use fixed tendons (joint coefficients)")
    if np.any(m.jnt_type[m.wrap_objid[adr:adr + num]] < int(JointType.SLIDE)):
      fail("tendon", obj.mjOBJ_TENDON, t, "fixed tendon over a free or ball joint",
           "use hinge and slide joints in fixed tendons")
    if m.tendon_armature[t] != 0 or np.any(m.tendon_stiffnesspoly[t] != 0) or np.any(
        m.tendon_dampingpoly[t] != 0):
      fail("tendon", obj.mjOBJ_TENDON, t, "tendon armature or polynomial stiffness/damping",
           "use linear stiffness and damping")
    if m.tendon_damping[t] != 0 and opt.integrator == int(IntegratorType.IMPLICITFAST):
      fail("tendon", obj.mjOBJ_TENDON, t, "tendon damping with the implicitfast integrator",
           "use the Euler or RK4 integrator, or joint damping")
  for j in range(m.njnt):
    if np.any(m.jnt_stiffnesspoly[j] != 0):
      fail("joint", obj.mjOBJ_JOINT, j, "polynomial stiffness", "use a linear stiffness")
    if m.jnt_actgravcomp[j]:
      fail("joint", obj.mjOBJ_JOINT, j, "actuatorgravcomp", "remove actuatorgravcomp")
  for i in range(m.nv):
    if np.any(m.dof_dampingpoly[i] != 0):
      fail("joint", obj.mjOBJ_JOINT, m.dof_jntid[i], "polynomial damping", "use linear damping")

  for g in range(m.ngeom):
    t = int(m.geom_type[g])
    collides = m.geom_contype[g] or m.geom_conaffinity[g]
    if t not in [int(x) for x in SUPPORTED_GEOMS] and collides:
      fail("geom", obj.mjOBJ_GEOM, g, f"collision geometry type {mujoco.mjtGeom(t).name}",
           "use a primitive (plane, sphere, capsule, ellipsoid, cylinder, box), a mesh or a height "
           "field, or set "
           "contype=conaffinity=0 to make it visual only")

  for a in range(m.nu):
    trn, dyn = int(m.actuator_trntype[a]), int(m.actuator_dyntype[a])
    gain, bias = int(m.actuator_gaintype[a]), int(m.actuator_biastype[a])
    if trn not in (int(TrnType.JOINT), int(TrnType.JOINTINPARENT), int(TrnType.TENDON)):
      fail("actuator", obj.mjOBJ_ACTUATOR, a, f"transmission {mujoco.mjtTrn(trn).name}",
           "use a joint or fixed-tendon transmission")
    if trn == int(TrnType.TENDON):
      t = int(m.actuator_trnid[a, 0])
      if m.tendon_actfrclimited[t]:
        fail("actuator", obj.mjOBJ_ACTUATOR, a, "tendon actuatorfrcrange", "use forcerange")
      velocity_terms = (int(m.actuator_gaintype[a]) == int(GainType.AFFINE) and m.actuator_gainprm[a, 2] != 0) or (
        int(m.actuator_biastype[a]) == int(BiasType.AFFINE) and m.actuator_biasprm[a, 2] != 0)
      if velocity_terms and opt.integrator == int(IntegratorType.IMPLICITFAST):
        fail("actuator", obj.mjOBJ_ACTUATOR, a, "velocity-dependent tendon actuator with implicitfast",
             "use the Euler or RK4 integrator")
    jtype = int(JointType.HINGE) if trn == int(TrnType.TENDON) else int(m.jnt_type[m.actuator_trnid[a, 0]])
    if jtype not in (int(JointType.HINGE), int(JointType.SLIDE)):
      fail("actuator", obj.mjOBJ_ACTUATOR, a,
           f"joint transmission on a {JointType(jtype).name.lower()} joint",
           "actuate hinge or slide joints")
    if dyn not in [int(d) for d in DynType]:
      fail("actuator", obj.mjOBJ_ACTUATOR, a, f"dynamics type {mujoco.mjtDyn(dyn).name}",
           "use dyntype none, integrator, filter or filterexact")
    if gain not in [int(g) for g in GainType]:
      fail("actuator", obj.mjOBJ_ACTUATOR, a, f"gain type {mujoco.mjtGain(gain).name}",
           "use gaintype fixed or affine")
    if bias not in [int(b) for b in BiasType]:
      fail("actuator", obj.mjOBJ_ACTUATOR, a, f"bias type {mujoco.mjtBias(bias).name}",
           "use biastype none or affine")
    if m.actuator_delay[a] > 0 or (m.actuator_history.size and m.actuator_history[a, 0] > 0):
      fail("actuator", obj.mjOBJ_ACTUATOR, a, "delay/history",
           "remove the delay (use per-world latency in pywarp_sim.randomize)")
    if m.actuator_damping[a] != 0 or np.any(m.actuator_dampingpoly[a] != 0):
      fail("actuator", obj.mjOBJ_ACTUATOR, a, "actuator damping", "put damping on the joint")
    if m.actuator_armature[a] != 0:
      fail("actuator", obj.mjOBJ_ACTUATOR, a, "actuator armature", "put armature on the joint")
    if m.actuator_ctrlnum[a] != 1 or m.actuator_outnum[a] != 1:
      fail("actuator", obj.mjOBJ_ACTUATOR, a, "multi-input or multi-output actuator",
           "use scalar actuators")
    if m.actuator_actnum[a] > 1:
      fail("actuator", obj.mjOBJ_ACTUATOR, a, "more than one activation", "use scalar activation")
    if m.actuator_plugin[a] >= 0:
      fail("actuator", obj.mjOBJ_ACTUATOR, a, "actuator plugin", "remove the plugin")

  _validate_sensors(m, sensors)


def _body_dofend(m: mujoco.MjModel) -> np.ndarray:
  dofend = -np.ones(m.nbody, dtype=np.int32)
  for b in range(1, m.nbody):
    if m.body_dofnum[b]:
      dofend[b] = m.body_dofadr[b] + m.body_dofnum[b] - 1
    else:
      dofend[b] = dofend[m.body_parentid[b]]
  return dofend


def _names(m: mujoco.MjModel) -> dict:
  obj = mujoco.mjtObj
  kinds = {"body": (obj.mjOBJ_BODY, m.nbody), "joint": (obj.mjOBJ_JOINT, m.njnt),
           "geom": (obj.mjOBJ_GEOM, m.ngeom), "site": (obj.mjOBJ_SITE, m.nsite),
           "actuator": (obj.mjOBJ_ACTUATOR, m.nu), "sensor": (obj.mjOBJ_SENSOR, m.nsensor)}
  return {k: [mujoco.mj_id2name(m, t, i) or "" for i in range(n)] for k, (t, n) in kinds.items()}


def host_tables(m: mujoco.MjModel, nbank: int = 1, sensors: str = "evaluate") -> dict:
  """Validates a compiled MjModel and reads its tables into numpy arrays (float32 / int32),
  banked parameters with a leading (nbank,) axis. sensors="skip": no sensor tables (nsensor 0)."""
  check_sensors_mode(sensors)
  _validate(m, sensors)

  def i32(x):
    return np.ascontiguousarray(np.asarray(x).reshape(-1), dtype=np.int32)

  def f32(x, shape):
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(shape))

  def bank(x):
    return np.repeat(np.asarray(x, dtype=np.float32)[None], nbank, axis=0)

  host = dict(
    body_parentid=i32(m.body_parentid), body_rootid=i32(m.body_rootid),
    body_jntnum=i32(m.body_jntnum), body_jntadr=i32(m.body_jntadr),
    body_dofnum=i32(m.body_dofnum), body_dofadr=i32(m.body_dofadr), body_dofend=_body_dofend(m),
    body_pos=f32(m.body_pos, (m.nbody, 3)), body_quat=f32(m.body_quat, (m.nbody, 4)),
    body_ipos=bank(m.body_ipos.reshape(m.nbody, 3)), body_iquat=f32(m.body_iquat, (m.nbody, 4)),
    body_mass=bank(m.body_mass), body_inertia=bank(m.body_inertia.reshape(m.nbody, 3)),
    body_gravcomp=f32(m.body_gravcomp, (m.nbody,)),
    jnt_type=i32(m.jnt_type), jnt_bodyid=i32(m.jnt_bodyid), jnt_qposadr=i32(m.jnt_qposadr),
    jnt_dofadr=i32(m.jnt_dofadr), jnt_pos=f32(m.jnt_pos, (m.njnt, 3)),
    jnt_axis=f32(m.jnt_axis, (m.njnt, 3)), jnt_stiffness=bank(m.jnt_stiffness),
    jnt_limited=i32(m.jnt_limited), jnt_range=f32(m.jnt_range, (m.njnt, 2)),
    jnt_margin=f32(m.jnt_margin, (m.njnt,)), jnt_solref=f32(m.jnt_solref, (m.njnt, 2)),
    jnt_solimp=f32(m.jnt_solimp, (m.njnt, 5)),
    qpos0=f32(m.qpos0, (m.nq,)), qpos_spring=f32(m.qpos_spring, (m.nq,)),
    dof_bodyid=i32(m.dof_bodyid), dof_jntid=i32(m.dof_jntid), dof_parentid=i32(m.dof_parentid),
    dof_armature=bank(m.dof_armature), dof_damping=bank(m.dof_damping),
    dof_frictionloss=bank(m.dof_frictionloss), dof_solref=f32(m.dof_solref, (m.nv, 2)),
    dof_solimp=f32(m.dof_solimp, (m.nv, 5)), dof_invweight0=f32(m.dof_invweight0, (m.nv,)),
    body_invweight0=f32(m.body_invweight0, (m.nbody, 2)),
    geom_type=i32(m.geom_type), geom_bodyid=i32(m.geom_bodyid),
    geom_pos=f32(m.geom_pos, (m.ngeom, 3)), geom_quat=f32(m.geom_quat, (m.ngeom, 4)),
    geom_size=f32(m.geom_size, (m.ngeom, 3)), geom_friction=bank(m.geom_friction.reshape(m.ngeom, 3)),
    site_bodyid=i32(m.site_bodyid), site_pos=f32(m.site_pos, (m.nsite, 3)),
    site_quat=f32(m.site_quat, (m.nsite, 4)),
    actuator_trntype=i32(m.actuator_trntype), actuator_trnid=i32(m.actuator_trnid[:, 0]),
    actuator_dyntype=i32(m.actuator_dyntype), actuator_dynprm=f32(m.actuator_dynprm[:, :3], (m.nu, 3)),
    actuator_gaintype=i32(m.actuator_gaintype),
    actuator_gainprm=bank(m.actuator_gainprm[:, :3].reshape(m.nu, 3)),
    actuator_biastype=i32(m.actuator_biastype),
    actuator_biasprm=bank(m.actuator_biasprm[:, :3].reshape(m.nu, 3)),
    actuator_gear=bank(m.actuator_gear[:, 0]),
    actuator_ctrllimited=i32(m.actuator_ctrllimited), actuator_ctrlrange=f32(m.actuator_ctrlrange, (m.nu, 2)),
    actuator_forcelimited=i32(m.actuator_forcelimited),
    actuator_forcerange=f32(m.actuator_forcerange, (m.nu, 2)),
    actuator_actlimited=i32(m.actuator_actlimited), actuator_actrange=f32(m.actuator_actrange, (m.nu, 2)),
    actuator_actadr=i32(m.actuator_actadr), actuator_actearly=i32(m.actuator_actearly),
    jnt_actfrclimited=i32(m.jnt_actfrclimited), jnt_actfrcrange=f32(m.jnt_actfrcrange, (m.njnt, 2)),
    opt_gravity=bank(m.opt.gravity),
    tendon_adr=i32(m.tendon_adr), tendon_num=i32(m.tendon_num),
    wrap_jnt=i32(m.wrap_objid) if m.nwrap else np.zeros(0, np.int32),
    wrap_prm=f32(m.wrap_prm, (m.nwrap,)),
    tendon_limited=i32(m.tendon_limited), tendon_range=f32(m.tendon_range, (m.ntendon, 2)),
    tendon_margin=f32(m.tendon_margin, (m.ntendon,)),
    tendon_solref_lim=f32(m.tendon_solref_lim, (m.ntendon, 2)),
    tendon_solimp_lim=f32(m.tendon_solimp_lim, (m.ntendon, 5)),
    tendon_solref_fri=f32(m.tendon_solref_fri, (m.ntendon, 2)),
    tendon_solimp_fri=f32(m.tendon_solimp_fri, (m.ntendon, 5)),
    tendon_frictionloss=f32(m.tendon_frictionloss, (m.ntendon,)),
    tendon_invweight0=f32(m.tendon_invweight0, (m.ntendon,)),
    tendon_stiffness=f32(m.tendon_stiffness, (m.ntendon,)),
    tendon_damping=f32(m.tendon_damping, (m.ntendon,)),
    tendon_lengthspring=f32(m.tendon_lengthspring, (m.ntendon, 2)),
    tendon_length0=f32(m.tendon_length0, (m.ntendon,)),
    eq_type=i32(m.eq_type), eq_obj1id=i32(m.eq_obj1id), eq_obj2id=i32(m.eq_obj2id),
    eq_objtype=i32(m.eq_objtype), eq_active0=i32(m.eq_active0),
    eq_solref=f32(m.eq_solref, (m.neq, 2)), eq_solimp=f32(m.eq_solimp, (m.neq, 5)),
    eq_data=f32(m.eq_data, (m.neq, m.eq_data.shape[-1] if m.neq else mujoco.mjNEQDATA)),
  )
  # fixed tendons: constant Jacobian, coef at each joint's dof (length = sum coef * qpos)
  tendon_J = np.zeros((m.ntendon, m.nv), np.float32)
  for t in range(m.ntendon):
    for w in range(m.tendon_adr[t], m.tendon_adr[t] + m.tendon_num[t]):
      tendon_J[t, m.jnt_dofadr[m.wrap_objid[w]]] += m.wrap_prm[w]
  host["tendon_J"] = tendon_J
  host.update(_mesh_tables(m))
  host.update(_sensor_tables(m, sensors))
  # Geometry of collision geoms is needed by the collision stage; keep MuJoCo's full tables too.
  for key in ("geom_contype", "geom_conaffinity", "geom_condim", "geom_priority", "body_weldid",
              "geom_solmix", "geom_margin", "geom_gap", "geom_solref", "geom_solimp", "geom_rbound"):
    host[key] = np.array(getattr(m, key))
  return host


def _mesh_tables(m: mujoco.MjModel) -> dict:
  """MuJoCo's compiled mesh tables that mesh collision reads (vertices, hull graph, hull
  polygons) and its height fields; empty for a model without them. Shared by all worlds."""
  def i32(x):
    return np.ascontiguousarray(np.asarray(x).reshape(-1), dtype=np.int32)

  def vec3(x):
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1, 3))

  return dict(
    geom_dataid=i32(m.geom_dataid), mesh_vertadr=i32(m.mesh_vertadr),
    mesh_vertnum=i32(m.mesh_vertnum), mesh_vert=vec3(m.mesh_vert),
    mesh_graphadr=i32(m.mesh_graphadr), mesh_graph=i32(m.mesh_graph),
    mesh_extrema=i32(m.mesh_extrema),
    **_hull_neighbours(m),
    mesh_polyadr=i32(m.mesh_polyadr), mesh_polyvertadr=i32(m.mesh_polyvertadr),
    mesh_polyvertnum=i32(m.mesh_polyvertnum), mesh_polyvert=i32(m.mesh_polyvert),
    mesh_polynormal=vec3(m.mesh_polynormal), mesh_polymapadr=i32(m.mesh_polymapadr),
    mesh_polymapnum=i32(m.mesh_polymapnum), mesh_polymap=i32(m.mesh_polymap),
    # height fields (hfield collision, collision_convex)
    hfield_size=np.ascontiguousarray(np.asarray(m.hfield_size, np.float32).reshape(-1, 4)),
    hfield_nrow=i32(m.hfield_nrow), hfield_ncol=i32(m.hfield_ncol), hfield_adr=i32(m.hfield_adr),
    hfield_data=np.ascontiguousarray(np.asarray(m.hfield_data, np.float32).reshape(-1)),
    hfield_table=_hfield_table(m),
  )


def _hull_neighbours(m: mujoco.MjModel) -> dict:
  """The hill climb's neighbour blocks (Model.mesh_hullnbr*; collision_gjk.h mesh_support_vertex):
  each hull vertex's neighbours (MuJoCo's mesh_graph edge list, in its order) in blocks of 4
  slots, 4 x, then 4 y, then 4 z coordinates (mesh frame, mesh_vert's floats) per block, so the
  climb reads a vertex's neighbours contiguously, 4 at a time. The last block is filled up with
  copies of the first neighbour: a copy is never farther along a direction than the climb's best
  by then, so the climb ends where the edge list's would. Hull vertex k of mesh i is row
  mesh_vertadr[i] + k of mesh_hullnbradr / mesh_hullnbrnum (a hull's vertices are among its
  mesh's)."""
  nvert = int(m.mesh_vert.shape[0])
  adr, num = np.zeros(nvert, np.int32), np.zeros(nvert, np.int32)
  ids, xyz = [], []
  nslot = 0
  graph = np.asarray(m.mesh_graph, np.int64)
  vert = np.asarray(m.mesh_vert, np.float32).reshape(-1, 3)
  for i in range(int(m.mesh_vertadr.shape[0])):
    g = int(m.mesh_graphadr[i])
    if g < 0:
      continue
    numvert, vertadr = int(graph[g]), int(m.mesh_vertadr[i])
    if numvert > int(m.mesh_vertnum[i]):
      raise ValueError(f"mesh {i}: hull of {numvert} vertices, mesh of {int(m.mesh_vertnum[i])}")
    edgeadr = graph[g + 2:g + 2 + numvert]
    globalid = graph[g + 2 + numvert:g + 2 + 2 * numvert]
    localid = g + 2 + 2 * numvert
    hull = vert[vertadr + globalid]  # hull vertex k's coordinates
    for k in range(numvert):
      e = localid + int(edgeadr[k])
      end = e
      while graph[end] >= 0:
        end += 1
      nbr = graph[e:end]
      npad = -(-len(nbr) // 4) * 4
      nbr = np.concatenate([nbr, np.repeat(nbr[:1], npad - len(nbr))])
      adr[vertadr + k], num[vertadr + k] = nslot, npad
      nslot += npad
      ids.append(nbr)
      xyz.append(hull[nbr].reshape(-1, 4, 3).transpose(0, 2, 1).reshape(-1))  # per block x4 y4 z4
  cat = lambda parts, dt: np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0), dtype=dt)
  return dict(mesh_hullnbradr=adr, mesh_hullnbrnum=num, mesh_hullnbrid=cat(ids, np.int32),
              mesh_hullnbr=cat(xyz, np.float32))


def _hfield_table(m: mujoco.MjModel) -> np.ndarray:
  """Model.hfield_table: the height fields packed for the native step (types.Model)."""
  head = 8 * m.nhfield
  table = np.zeros(head + m.nhfielddata, np.float32)
  for h in range(m.nhfield):
    table[8 * h:8 * h + 7] = [*m.hfield_size[h], m.hfield_nrow[h], m.hfield_ncol[h], head + m.hfield_adr[h]]
  table[head:] = m.hfield_data
  return table


def _sensor_tables(m: mujoco.MjModel, sensors: str) -> dict:
  """MuJoCo's sensor tables (none with sensors="skip") and the site shapes of touch zones."""
  n = m.nsensor if sensors == "evaluate" else 0

  def i32(x):
    return np.ascontiguousarray(np.asarray(x).reshape(-1)[:n], dtype=np.int32)

  return dict(
    sensor_type=i32(m.sensor_type), sensor_datatype=i32(m.sensor_datatype),
    sensor_needstage=i32(m.sensor_needstage), sensor_objtype=i32(m.sensor_objtype),
    sensor_objid=i32(m.sensor_objid), sensor_reftype=i32(m.sensor_reftype), sensor_refid=i32(m.sensor_refid),
    sensor_adr=i32(m.sensor_adr), sensor_dim=i32(m.sensor_dim),
    sensor_cutoff=np.ascontiguousarray(np.asarray(m.sensor_cutoff, np.float32).reshape(-1)[:n]),
    site_type=np.ascontiguousarray(m.site_type, dtype=np.int32).reshape(-1),
    site_size=np.ascontiguousarray(np.asarray(m.site_size, np.float32).reshape(m.nsite, 3)),
    **_ray_tables(m, n),
  )


def _ray_tables(m: mujoco.MjModel, nsensor: int) -> dict:
  """What mj_ray sees (ray.py): each geom's visibility (its rgba's alpha, or its material's)
  and, when a rangefinder is evaluated, MuJoCo's mesh triangles (else none)."""
  alpha = np.where(m.geom_matid >= 0, m.mat_rgba[np.maximum(m.geom_matid, 0), 3] if m.nmat else 0.0,
                   m.geom_rgba[:, 3])
  rays = bool(np.any(m.sensor_type[:nsensor] == mujoco.mjtSensor.mjSENS_RANGEFINDER))
  return dict(
    geom_rayvisible=np.ascontiguousarray(alpha != 0, dtype=np.int32),
    mesh_faceadr=np.ascontiguousarray(m.mesh_faceadr if rays else np.zeros(m.nmesh), dtype=np.int32),
    mesh_facenum=np.ascontiguousarray(m.mesh_facenum if rays else np.zeros(m.nmesh), dtype=np.int32),
    mesh_face=np.ascontiguousarray(np.asarray(m.mesh_face).reshape(-1, 3) if rays else np.zeros((0, 3)),
                                   dtype=np.int32),
  )


_VEC_DTYPES = {2: wp.vec2, 3: wp.vec3, 4: wp.vec4, 5: _vec5}


def _to_warp(a: np.ndarray, device, *, vec: bool, banked: bool = False):
  """Host table → Warp array; trailing axis of 2..5 becomes a vector dtype when vec."""
  if a.dtype == np.int32:
    return wp.array(a, dtype=wp.int32, device=device)
  a = np.ascontiguousarray(a, dtype=np.float32)
  ndim_items = a.ndim - (1 if banked else 0)
  if vec and ndim_items == 2 and a.shape[-1] in _VEC_DTYPES:
    if a.shape[-2] == 0:
      return wp.zeros(a.shape[:-1], dtype=_VEC_DTYPES[a.shape[-1]], device=device)
    return wp.array(a, dtype=_VEC_DTYPES[a.shape[-1]], device=device)
  return wp.array(a, dtype=wp.float32, device=device)


_BANKED = set(BANK_FIELDS) | {"opt_gravity"}


def put_model(mjm: mujoco.MjModel, device=None, nbank: int = 1, nconmax: int | None = None,
              sensors: str = "evaluate") -> Model:
  """Builds a Model on `device` from a compiled MjModel (validated).

  sensors: "evaluate" (default) computes every sensor into sensordata as MuJoCo does, and a
  sensor type pywarp_sim does not evaluate raises UnsupportedModelError naming it; "skip"
  leaves the model without sensors (empty sensordata) and warns.

  nconmax: contact capacity per world; default the worst case of the candidate pairs. A
  smaller bound saves memory (constraint rows are sized from it); a world that finds more
  contacts keeps the first nconmax and is flagged CONTACT_OVERFLOW and counted.
  """
  check_sizes(nbank=nbank, nconmax=nconmax)
  device = wp.get_device(device)
  host = host_tables(mjm, nbank, sensors)
  fields = {f for f in Model.__dataclass_fields__}
  arrays = {}
  for key, val in host.items():
    if key == "tendon_J":
      arrays[key] = wp.array(val.reshape(mjm.ntendon, mjm.nv), dtype=wp.float32, device=device)
    elif key == "eq_data":
      arrays[key] = wp.array(val, dtype=wp.float32, device=device)
    elif key in fields:
      arrays[key] = _to_warp(val, device, vec=True, banked=key in _BANKED)
  o = mjm.opt
  opt = Option(
    timestep=float(o.timestep), integrator=int(o.integrator), disableflags=int(o.disableflags),
    cone=int(o.cone), solver=int(o.solver), iterations=int(o.iterations),
    tolerance=float(o.tolerance), ls_iterations=int(o.ls_iterations),
    ls_tolerance=float(o.ls_tolerance), impratio=float(o.impratio), o_margin=float(o.o_margin),
    gravity=wp.array(host["opt_gravity"], dtype=wp.vec3, device=device),
    magnetic=tuple(float(x) for x in o.magnetic),
  )
  nsensor = int(host["sensor_type"].shape[0])
  sensor_types = {int(t) for t in host["sensor_type"]}
  names = _names(mjm)
  names["sensor"] = names["sensor"][:nsensor]
  model = Model(
    nq=mjm.nq, nv=mjm.nv, nu=mjm.nu, na=mjm.na, nbody=mjm.nbody, njnt=mjm.njnt, ngeom=mjm.ngeom,
    ntendon=mjm.ntendon, neq=mjm.neq,
    nsite=mjm.nsite, nbank=nbank, opt=opt, device=str(device), names=names, host=host, mj_model=mjm,
    nsensor=nsensor, nsensordata=int(mjm.nsensordata) if nsensor else 0,
    sensor_rne_postconstraint=bool(sensor_types & {int(t) for t in _RNE_POST_SENSORS}),
    sensor_subtree_vel=bool(sensor_types & {int(t) for t in _SUBTREE_VEL_SENSORS}),
    meaninertia=float(mjm.stat.meaninertia),
    has_gravcomp=bool(np.any(mjm.body_gravcomp != 0)),
    has_damping=bool(np.any(mjm.dof_damping != 0)),
    **arrays,
  )
  model.collision = build_pairs(mjm, device, nconmax=nconmax)
  return model


def load_model(path_or_xml, device=None, nbank: int = 1, nconmax: int | None = None,
               sensors: str = "evaluate") -> Model:
  """Loads an MJCF/URDF file (`str | os.PathLike`, or an MJCF XML string) through MuJoCo's
  compiler.

  `path_or_xml` may also be the name of a bundled model ("humanoid"). sensors: see put_model.
  """
  from . import models
  check_sizes(nbank=nbank, nconmax=nconmax)
  if isinstance(path_or_xml, str) and path_or_xml in models.BUILTIN:
    mjm = models.mj_model(path_or_xml)
  else:
    mjm = load_mj_model(path_or_xml)
  return put_model(mjm, device, nbank, nconmax, sensors)


def check_count(name: str, value, minimum: int = 1, allow_none: bool = False) -> None:
  """Raises ValueError unless `value` is an int >= minimum (or None when allowed)."""
  if value is None and allow_none:
    return
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}{' (or None)' if allow_none else ''}, "
                     f"got {value!r}")


def check_sizes(nbank=1, nconmax=None) -> None:
  """Validates put_model's sizes: nbank >= 1, nconmax >= 1 or None."""
  check_count("nbank", nbank)
  check_count("nconmax", nconmax, allow_none=True)


def load_mj_model(path_or_xml) -> mujoco.MjModel:
  """A compiled MjModel from a path (`str | os.PathLike`) or an MJCF XML string."""
  if isinstance(path_or_xml, os.PathLike):
    path_or_xml = os.fspath(path_or_xml)
  if not isinstance(path_or_xml, str):
    raise TypeError(f"expected a model path (str or os.PathLike), an MJCF XML string or a bundled "
                    f"model name, got {type(path_or_xml).__name__}")
  if path_or_xml.lstrip().startswith("<"):
    return mujoco.MjModel.from_xml_string(path_or_xml)
  if not os.path.exists(path_or_xml):
    raise FileNotFoundError(f"model file '{path_or_xml}' does not exist (pass a path, an XML "
                            f"string, or a bundled model name)")
  if os.path.isdir(path_or_xml):  # MuJoCo's parser would call it an "empty file"
    raise ValueError(f"model path '{path_or_xml}' is a directory; pass the MJCF/URDF file in it")
  return mujoco.MjModel.from_xml_path(path_or_xml)


def rows_capacity(m: Model) -> int:
  """Worst-case constraint rows per world (nefc_max): every equality constraint active, every
  frictional dof and tendon, every limit side, every contact slot with its largest pyramid."""
  mjm = m.mj_model
  eq_rows = {int(EqType.CONNECT): 3, int(EqType.WELD): 6}
  neqrow = sum(eq_rows.get(int(t), 1) for t in mjm.eq_type)
  nfric = int(np.count_nonzero(mjm.dof_frictionloss))
  nlim = 0
  for j in range(mjm.njnt):
    if mjm.jnt_limited[j]:
      nlim += 1 if mjm.jnt_type[j] == JointType.BALL else 2
  nfric += int(np.count_nonzero(mjm.tendon_frictionloss))
  nlim += 2 * int(np.count_nonzero(mjm.tendon_limited))
  ncon = m.collision.nconmax
  condims = list(mjm.geom_condim) + list(mjm.pair_dim)
  maxdim = max(condims) if condims else 1
  if m.opt.cone == ConeType.ELLIPTIC:
    rows_per_contact = maxdim
  else:
    rows_per_contact = 1 if maxdim == 1 else 2 * (maxdim - 1)
  return max(neqrow + nfric + nlim + ncon * rows_per_contact, 1)


# Floats per 32-byte memory sector: nv_pad (the row length of efc_J, H and the solver's dof
# vectors) is a multiple of it, so that each of those rows, and each world's part of those
# arrays, starts on a sector (the arrays themselves are allocated 64-byte aligned on the CPU,
# 256 on CUDA) and a lane group's read of 8 consecutive floats of a row is one sector.
SECTOR_FLOATS = 8


def padded_nv(nv: int) -> int:
  """nv_pad: max(nv, 1) rounded up to a multiple of SECTOR_FLOATS. Kernels loop to nv; the pad
  columns stay as allocated (zero) and are never read."""
  return -(-max(nv, 1) // SECTOR_FLOATS) * SECTOR_FLOATS


def data_sizes(m: Model, nworld: int) -> dict:
  """{size name: int}: the sizes the symbolic shapes of Data's fields (types.Field.shape) are
  written in, for nworld worlds of `m`. A `*_pad` size is at least 1 (arrays keep one unused
  column where the model has none); nv_pad is padded_nv(nv), whole 32-byte sectors."""
  pairs = m.collision
  ccd_iterations = int(m.mj_model.opt.ccd_iterations)
  nconvex_pad = max(pairs.nconvex, 1)
  # multicontact clips a mesh's hull polygon in a slot's vertex rows (up to twice its vertices)
  npolyvert = int(np.max(m.mj_model.mesh_polyvertnum)) if m.mj_model.nmeshpoly else 0
  return dict(
    nworld=nworld, nq=m.nq, nv=m.nv, nu=m.nu, na=m.na, nbody=m.nbody, njnt=m.njnt, ngeom=m.ngeom,
    nsite=m.nsite, ntendon=m.ntendon, neq=m.neq, nwrap=int(m.wrap_jnt.shape[0]),
    nv_pad=padded_nv(m.nv), nu_pad=max(m.nu, 1), na_pad=max(m.na, 1), ntendon_pad=max(m.ntendon, 1),
    neq_pad=max(m.neq, 1), nsensor=m.nsensor, nsensordata=m.nsensordata,
    nsensordata_pad=max(m.nsensordata, 1),
    # collision: candidate pairs, their narrowphase slots, the contact capacity
    npair=pairs.npair, npair_pad=max(pairs.npair, 1), nslot_pad=max(pairs.nslot, 1),
    nconmax=pairs.nconmax, ncon_pad=max(pairs.nconmax, 1), nconvex=pairs.nconvex,
    # the convex collider's EPA pool (types.EPA_FIELDS): slots, and vertices / faces per slot
    epa_nslot=max(nworld * min(EPA_SLOTS_PER_WORLD, nconvex_pad), min(nworld * nconvex_pad, EPA_MIN_SLOTS)),
    epa_nvert=max(5 + ccd_iterations, 2 * NCYLPOLY + 1, 2 * npolyvert + 1), epa_nface=max(2 * NCYLPOLY, 6 * ccd_iterations),
    nefc_max=rows_capacity(m),
    # mesh tables (Model, shared by all worlds)
    nmesh=int(m.mesh_vertadr.shape[0]), nmeshvert=int(m.mesh_vert.shape[0]),
    nmeshgraph=int(m.mesh_graph.shape[0]), nmeshpoly=int(m.mesh_polyvertadr.shape[0]),
    nmeshpolyvert=int(m.mesh_polyvert.shape[0]), nmeshpolymap=int(m.mesh_polymap.shape[0]),
    nmeshface=int(m.mesh_face.shape[0]),  # mesh triangles for rangefinders (0 without one)
    nhfieldtable=int(m.hfield_table.shape[0]),  # height fields packed for the native step (Model)
    nmeshhullnbr=int(m.mesh_hullnbrid.shape[0]),  # the hill climb's neighbour slots (Model)
    neqdata=int(m.eq_data.shape[1]),  # mjNEQDATA: scalars per equality constraint in eq_data (Model)
  )


def resolve(expr, sizes: dict) -> int:
  """The value of one symbolic extent: an int, a size name, or a product of them ("nworld * 6"),
  as in types.Field.shape and the native layout's counts (kernels/types.h)."""
  if isinstance(expr, int):
    return expr
  value = 1
  for term in str(expr).split("*"):
    term = term.strip()
    if term.isdigit():
      value *= int(term)
    elif term in sizes:
      value *= int(sizes[term])
    else:
      raise ValueError(f"unknown size '{term}' in the extent '{expr}'; known sizes: {sorted(sizes)} "
                       f"(io.data_sizes)")
  return value


def check_layout(layout: str, workspace_rows: int | None = None) -> None:
  """ValueError naming the Data layout when it is not one of types.LAYOUTS, or "tiled" with a
  per-thread workspace (then no per-world array of types.TILED_ROLES is left to tile)."""
  if layout not in LAYOUTS:
    raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
  if layout == "tiled" and workspace_rows is not None:
    raise ValueError("layout='tiled' tiles the per-world workspace arrays; with workspace='thread' they "
                     "are per-thread rows and nothing is left to tile: use layout='world' with "
                     "workspace='thread', or layout='tiled' with workspace='world'")


def _role_sizes(sizes: dict, nworld: int, workspace_rows: int | None, layout: str,
                workspace_roles: frozenset = frozenset({Role.WORKSPACE})) -> dict:
  """{role: sizes} for the roles whose leading "nworld" extent differs: the rows of the
  workspace (workspace_roles: the per-thread or per-group rows), or nworld padded to whole tiles
  for the tiled roles."""
  out = {}
  if workspace_rows:
    out.update({role: dict(sizes, nworld=workspace_rows) for role in workspace_roles})
  elif layout == "tiled":
    padded = -(-nworld // LAYOUT_TILE) * LAYOUT_TILE
    out.update({role: dict(sizes, nworld=padded) for role in TILED_ROLES})
  return out


def data_nbytes(m: Model, nworld: int, workspace_rows: int | None = None, layout: str = "world",
                workspace_roles: frozenset = frozenset({Role.WORKSPACE}), keep: frozenset = frozenset()) -> int:
  """Bytes make_data(m, nworld, workspace_rows=..., layout=..., workspace_roles=..., keep=...)
  allocates, from the declarations alone (nothing is allocated): the memory estimate Simulator
  checks before allocating."""
  check_layout(layout, workspace_rows)
  sizes = data_sizes(m, nworld)
  role_sizes = _role_sizes(sizes, nworld, workspace_rows, layout, workspace_roles)

  def total(fields, prefix: str) -> int:
    n = 0
    for f in fields:
      if f.role == Role.GROUP:
        n += total(f.fields, f"{prefix}{f.name}.") if not f.when or sizes[f.when] > 0 else 0
      elif f.role != Role.SIZE and not f.alias:
        extents = sizes if prefix + f.name in keep else role_sizes.get(f.role, sizes)
        n += math.prod(resolve(e, extents) for e in f.shape) * wp.types.type_size_in_bytes(f.dtype)
    return n
  return total(DATA_FIELDS, "")


def initial_value(m: Model, f: Field, shape: tuple) -> np.ndarray:
  """The initial host value of Data field `f` allocated with `shape` (resolved): a numpy array
  of that shape with the element's axes (a vec4 field (nworld, nbody) is (nworld, nbody, 4)),
  every row as `f.init` says: "zero", "identity" (vec4: unit quaternion (1, 0, 0, 0); mat33),
  or a Model.host table, zero-padded to the row. make_data allocates with it; the reset's
  rows are checked against it (tests/test_simulator.py)."""
  host = wp.zeros(shape, dtype=f.dtype, device="cpu").numpy()
  if f.init == "zero":
    return host
  if f.init == "identity" and f.dtype == wp.vec4:
    host[..., 0] = 1  # unit quaternion (w, x, y, z)
  elif f.init == "identity" and f.dtype == wp.mat33:
    host[...] = np.eye(3, dtype=host.dtype)
  elif f.init in m.host:
    row = np.asarray(m.host[f.init]).reshape(-1)
    rows = host.reshape(shape[0], -1)
    if row.size > rows.shape[1]:
      raise ValueError(f"Data field '{f.name}': Model table '{f.init}' has {row.size} values, the "
                       f"row holds {rows.shape[1]}")
    rows[:, :row.size] = row
  else:
    raise ValueError(f"Data field '{f.name}': unknown init '{f.init}' for dtype {f.dtype}; use "
                     f"'zero', 'identity' (vec4, mat33) or a Model.host table name")
  return host


def make_data(m: Model, nworld: int, device=None, workspace_rows: int | None = None,
              layout: str = "world", workspace_roles: frozenset = frozenset({Role.WORKSPACE}),
              keep: frozenset = frozenset()) -> Data:
  """Allocates Data for nworld worlds and fills the state with the model defaults
  (qpos0, zero velocity, activation and control), like mj_makeData + mj_resetData.

  Every array is allocated from its declaration in types.py (Data, Contacts, ConstraintData,
  SLOT_FIELDS, EPA_FIELDS): the shape resolved with `data_sizes`, zeros unless the field's
  `init` says otherwise.

  workspace_rows: None, or the rows of the solver workspace held per thread instead of per
  world (`Simulator(workspace="thread")`, native backend only): the fields whose role is
  Role.WORKSPACE (intermediate results of a step: com-frame dynamics quantities, mass-matrix
  factors, constraint rows, integrator scratch) get `workspace_rows` as their leading
  dimension. workspace_roles: the roles held in those rows (types.GROUP_SLOT_ROLES for
  `Simulator(workspace="group")`, the lane-group step's per-group-slot workspace); keep: paths
  ("xpos", "contact.dist") of fields of those roles kept per world all the same.

  layout: "world" (every per-world array (nworld, ...)) or "tiled" (native backend): the fields
  of types.TILED_ROLES are allocated (ceil(nworld / LAYOUT_TILE) * LAYOUT_TILE, ...) and hold
  [tile][scalar][lane] (kernels/types.h WorldArray; native_backend.world_major reads one back)."""
  if nworld < 1:
    raise ValueError(f"nworld must be >= 1, got {nworld}")
  if workspace_rows is not None and workspace_rows < 1:
    raise ValueError(f"workspace_rows must be >= 1 (or None), got {workspace_rows}")
  check_layout(layout, workspace_rows)
  device = wp.get_device(device)
  sizes = data_sizes(m, nworld)
  role_sizes = _role_sizes(sizes, nworld, workspace_rows, layout, workspace_roles)

  def array(f: Field, path: str):
    shape = tuple(resolve(e, sizes if path in keep else role_sizes.get(f.role, sizes)) for e in f.shape)
    if f.init == "zero":
      return wp.zeros(shape, dtype=f.dtype, device=device)
    host = initial_value(m, f, shape)
    if layout == "tiled" and f.role in TILED_ROLES and not workspace_rows:
      # rows (world, scalar) -> [tile][scalar][lane]
      tiles = host.reshape(shape[0] // LAYOUT_TILE, LAYOUT_TILE, -1)
      host = np.ascontiguousarray(tiles.transpose(0, 2, 1)).reshape(host.shape)
    return wp.array(host, dtype=f.dtype, device=device)

  def container(cls, fields, outer: dict, prefix: str = ""):
    values = {}
    for f in fields:
      if f.role == Role.SIZE:
        values[f.name] = sizes[f.name]
      elif f.role == Role.GROUP:
        values[f.name] = (container(f.dtype, f.fields, values, f"{prefix}{f.name}.")
                          if not f.when or sizes[f.when] > 0 else None)
      elif f.alias:
        values[f.name] = outer[f.alias]
      else:
        values[f.name] = array(f, prefix + f.name)
    if dataclasses.is_dataclass(cls):
      return cls(**values)
    struct = cls()  # a Warp struct (types.SlotBuffer, types.EpaScratch)
    for name, value in values.items():
      setattr(struct, name, value)
    return struct

  return container(Data, DATA_FIELDS, {})
