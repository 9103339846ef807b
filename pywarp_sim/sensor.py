"""Sensors: mj_sensorPos, mj_sensorVel and mj_sensorAcc (MuJoCo's engine_sensor.c) for every world.

sensordata (nworld, nsensordata) has MuJoCo's layout: sensor i writes the columns
[sensor_adr[i], sensor_adr[i] + sensor_dim[i]) with MuJoCo's value in SI units. Each stage
evaluates the sensors whose sensor_needstage is that stage, over a (world, sensor) grid, and
clamps them to their cutoff as MuJoCo's apply_cutoff does (REAL: both sides, POSITIVE: above;
axis and quaternion sensors are never clamped). Noise is model metadata: MuJoCo does not add
it (4.0 has no noise flag), neither does this module.

What the sensors read beyond the dynamics is computed here, only when a sensor needs it, as
MuJoCo does it inside the sensor stages:
  subtree_vel         mj_subtreeVel: subtree_linvel, subtree_angmom (subtreelinvel/angmom)
  rne_postconstraint  mj_rnePostConstraint: cfrc_ext (applied, contact and connect/weld forces),
                      cacc with qacc, cfrc_int = the interaction force with the parent
                      (accelerometer, force, torque, framelinacc, frameangacc); a weld's torque is its rotation
                      rows' J' f (MuJoCo 4.0), not the row forces themselves

Touch sums the normal force of the contacts of the site's body whose normal ray from the
contact point (pointing away from the other body) meets the site's volume (mju_rayGeom on a
sphere, capsule, ellipsoid, cylinder or box site). A rangefinder is mj_ray from its site along
the site's z axis, the site's body excluded (ray.py): the distance to the nearest visible geom,
-1 when none is hit.

Frame sensors name a body (inertial frame), xbody, geom or site; with a reference object the
value is expressed in its frame (framelinvel/angvel: relative velocity, as MuJoCo).
forward.py calls sensor_pos and sensor_vel after the velocity stage (our transmission, which
actuatorpos reads, runs there; nothing a position sensor reads changes in between) and
sensor_acc after the constraint solve; RK4's inner evaluations skip the sensors, as MuJoCo's
mj_forwardSkip(skipsensor=1) does.
"""

import warp as wp

from . import math, ray
from .types import (ConstraintType, Data, DataType, DisableBit, EqType, Model, ObjType, SensorType,
                    Stage, TrnType, vec5, vec10)

_POS = wp.constant(int(Stage.POS))
_VEL = wp.constant(int(Stage.VEL))
_ACC = wp.constant(int(Stage.ACC))

_REAL = wp.constant(int(DataType.REAL))
_POSITIVE = wp.constant(int(DataType.POSITIVE))

_OBJ_BODY = wp.constant(int(ObjType.BODY))
_OBJ_XBODY = wp.constant(int(ObjType.XBODY))
_OBJ_GEOM = wp.constant(int(ObjType.GEOM))
_OBJ_SITE = wp.constant(int(ObjType.SITE))


_CONNECT = wp.constant(int(EqType.CONNECT))
_WELD = wp.constant(int(EqType.WELD))
_EQUALITY = wp.constant(int(ConstraintType.EQUALITY))
_LIMIT_JOINT = wp.constant(int(ConstraintType.LIMIT_JOINT))
_LIMIT_TENDON = wp.constant(int(ConstraintType.LIMIT_TENDON))
_CONTACT_FRICTIONLESS = wp.constant(int(ConstraintType.CONTACT_FRICTIONLESS))
_CONTACT_PYRAMIDAL = wp.constant(int(ConstraintType.CONTACT_PYRAMIDAL))
_CONTACT_ELLIPTIC = wp.constant(int(ConstraintType.CONTACT_ELLIPTIC))

_S = {t.name: wp.constant(int(t)) for t in SensorType}
_TOUCH = _S["TOUCH"]
_ACCELEROMETER = _S["ACCELEROMETER"]
_VELOCIMETER = _S["VELOCIMETER"]
_GYRO = _S["GYRO"]
_FORCE = _S["FORCE"]
_TORQUE = _S["TORQUE"]
_MAGNETOMETER = _S["MAGNETOMETER"]
_JOINTPOS = _S["JOINTPOS"]
_JOINTVEL = _S["JOINTVEL"]
_TENDONPOS = _S["TENDONPOS"]
_TENDONVEL = _S["TENDONVEL"]
_ACTUATORPOS = _S["ACTUATORPOS"]
_ACTUATORVEL = _S["ACTUATORVEL"]
_ACTUATORFRC = _S["ACTUATORFRC"]
_JOINTACTFRC = _S["JOINTACTFRC"]
_TENDONACTFRC = _S["TENDONACTFRC"]
_BALLQUAT = _S["BALLQUAT"]
_BALLANGVEL = _S["BALLANGVEL"]
_JOINTLIMITPOS = _S["JOINTLIMITPOS"]
_JOINTLIMITVEL = _S["JOINTLIMITVEL"]
_JOINTLIMITFRC = _S["JOINTLIMITFRC"]
_TENDONLIMITPOS = _S["TENDONLIMITPOS"]
_TENDONLIMITVEL = _S["TENDONLIMITVEL"]
_TENDONLIMITFRC = _S["TENDONLIMITFRC"]
_FRAMEPOS = _S["FRAMEPOS"]
_FRAMEQUAT = _S["FRAMEQUAT"]
_FRAMEXAXIS = _S["FRAMEXAXIS"]
_FRAMEYAXIS = _S["FRAMEYAXIS"]
_FRAMEZAXIS = _S["FRAMEZAXIS"]
_FRAMELINVEL = _S["FRAMELINVEL"]
_FRAMEANGVEL = _S["FRAMEANGVEL"]
_FRAMELINACC = _S["FRAMELINACC"]
_FRAMEANGACC = _S["FRAMEANGACC"]
_SUBTREECOM = _S["SUBTREECOM"]
_SUBTREELINVEL = _S["SUBTREELINVEL"]
_SUBTREEANGMOM = _S["SUBTREEANGMOM"]
_CLOCK = _S["CLOCK"]
_RANGEFINDER = _S["RANGEFINDER"]


# ---- writing with MuJoCo's cutoff --------------------------------------------------------------

@wp.func
def _cut(value: float, datatype: int, cutoff: float) -> float:
  """apply_cutoff for one value: REAL clamps to [-cutoff, cutoff], POSITIVE to <= cutoff."""
  if cutoff > 0.0:
    if datatype == _REAL:
      return wp.clamp(value, -cutoff, cutoff)
    if datatype == _POSITIVE:
      return wp.min(value, cutoff)
  return value


@wp.func
def _write1(worldid: int, adr: int, datatype: int, cutoff: float, value: float,
            sensordata: wp.array2d(dtype=float)):
  sensordata[worldid, adr] = _cut(value, datatype, cutoff)


@wp.func
def _write3(worldid: int, adr: int, datatype: int, cutoff: float, value: wp.vec3,
            sensordata: wp.array2d(dtype=float)):
  for i in range(3):
    sensordata[worldid, adr + i] = _cut(value[i], datatype, cutoff)


# ---- frames of bodies, geoms and sites ---------------------------------------------------------

@wp.func
def frame_pos(worldid: int, objtype: int, objid: int, xpos: wp.array2d(dtype=wp.vec3),
              xipos: wp.array2d(dtype=wp.vec3), geom_xpos: wp.array2d(dtype=wp.vec3),
              site_xpos: wp.array2d(dtype=wp.vec3)) -> wp.vec3:
  """Position of a body (inertial frame), xbody, geom or site, m."""
  if objtype == _OBJ_BODY:
    return xipos[worldid, objid]
  if objtype == _OBJ_XBODY:
    return xpos[worldid, objid]
  if objtype == _OBJ_GEOM:
    return geom_xpos[worldid, objid]
  return site_xpos[worldid, objid]


@wp.func
def frame_mat(worldid: int, objtype: int, objid: int, xmat: wp.array2d(dtype=wp.mat33),
              ximat: wp.array2d(dtype=wp.mat33), geom_xmat: wp.array2d(dtype=wp.mat33),
              site_xmat: wp.array2d(dtype=wp.mat33)) -> wp.mat33:
  """Orientation of a body (inertial frame), xbody, geom or site."""
  if objtype == _OBJ_BODY:
    return ximat[worldid, objid]
  if objtype == _OBJ_XBODY:
    return xmat[worldid, objid]
  if objtype == _OBJ_GEOM:
    return geom_xmat[worldid, objid]
  return site_xmat[worldid, objid]


@wp.func
def _frame_quat(worldid: int, objtype: int, objid: int, body_iquat: wp.array(dtype=wp.vec4),
                geom_bodyid: wp.array(dtype=int), geom_quat: wp.array(dtype=wp.vec4),
                site_bodyid: wp.array(dtype=int), site_quat: wp.array(dtype=wp.vec4),
                xquat: wp.array2d(dtype=wp.vec4)) -> wp.vec4:
  """get_xquat: the global quaternion of a frame (not normalised, as MuJoCo)."""
  if objtype == _OBJ_BODY:
    return math.quat_mul(xquat[worldid, objid], body_iquat[objid])
  if objtype == _OBJ_XBODY:
    return xquat[worldid, objid]
  if objtype == _OBJ_GEOM:
    return math.quat_mul(xquat[worldid, geom_bodyid[objid]], geom_quat[objid])
  return math.quat_mul(xquat[worldid, site_bodyid[objid]], site_quat[objid])


@wp.func
def frame_bodyid(objtype: int, objid: int, geom_bodyid: wp.array(dtype=int),
                 site_bodyid: wp.array(dtype=int)) -> int:
  if objtype == _OBJ_GEOM:
    return geom_bodyid[objid]
  if objtype == _OBJ_SITE:
    return site_bodyid[objid]
  return objid


@wp.func
def transform_motion(vec: wp.spatial_vector, newpos: wp.vec3, oldpos: wp.vec3) -> wp.spatial_vector:
  """mju_transformSpatial of a motion vector (rotation, translation) from oldpos to newpos."""
  ang = math.motion_ang(vec)
  return math.spatial(ang, math.motion_lin(vec) - wp.cross(newpos - oldpos, ang))


@wp.func
def transform_force(vec: wp.spatial_vector, newpos: wp.vec3, oldpos: wp.vec3) -> wp.spatial_vector:
  """mju_transformSpatial of a force vector (torque, force) from oldpos to newpos."""
  lin = math.motion_lin(vec)
  return math.spatial(math.motion_ang(vec) - wp.cross(newpos - oldpos, lin), lin)


@wp.func
def _rotate_t(vec: wp.spatial_vector, mat: wp.mat33) -> wp.spatial_vector:
  """Both halves of a spatial vector into the frame `mat` (mat' v)."""
  mt = wp.transpose(mat)
  return math.spatial(mt @ math.motion_ang(vec), mt @ math.motion_lin(vec))


@wp.func
def object_velocity(worldid: int, bodyid: int, pos: wp.vec3, body_rootid: wp.array(dtype=int),
                    cvel: wp.array2d(dtype=wp.spatial_vector),
                    subtree_com: wp.array2d(dtype=wp.vec3)) -> wp.spatial_vector:
  """mj_objectVelocity in the world orientation: (angular, linear) velocity of the point pos
  moving with body bodyid."""
  return transform_motion(cvel[worldid, bodyid], pos, subtree_com[worldid, body_rootid[bodyid]])


@wp.func
def object_acceleration(worldid: int, bodyid: int, pos: wp.vec3, mat: wp.mat33, local: int,
                        body_rootid: wp.array(dtype=int), cvel: wp.array2d(dtype=wp.spatial_vector),
                        cacc: wp.array2d(dtype=wp.spatial_vector),
                        subtree_com: wp.array2d(dtype=wp.vec3)) -> wp.spatial_vector:
  """mj_objectAcceleration: (angular, linear) acceleration of the point pos moving with body
  bodyid, in the world orientation or (local) in the frame mat, with the Coriolis term of the
  rotating frame (vel_rot x vel_tran)."""
  com = subtree_com[worldid, body_rootid[bodyid]]
  acc = transform_motion(cacc[worldid, bodyid], pos, com)
  vel = transform_motion(cvel[worldid, bodyid], pos, com)
  if local:
    acc = _rotate_t(acc, mat)
    vel = _rotate_t(vel, mat)
  return math.spatial(math.motion_ang(acc),
                      math.motion_lin(acc) + wp.cross(math.motion_ang(vel), math.motion_lin(vel)))


# ---- contact forces (mj_contactForce) -------------------------------------------------------------

@wp.func
def contact_rows(efc_type: int, dim: int) -> int:
  """Rows of a contact starting with a row of type efc_type."""
  if efc_type == _CONTACT_PYRAMIDAL:
    return 2 * (dim - 1)
  if efc_type == _CONTACT_ELLIPTIC:
    return dim
  return 1


@wp.func
def contact_force(worldid: int, row: int, efc_type: int, dim: int, friction: vec5,
                  efc_force: wp.array2d(dtype=float)) -> wp.spatial_vector:
  """mj_contactForce: the contact's force in its frame, (normal, tangent 1, tangent 2,
  torsional, rolling 1, rolling 2), from its rows starting at `row` (pyramid edges decoded
  as mju_decodePyramid)."""
  f = wp.spatial_vector()
  if efc_type == _CONTACT_PYRAMIDAL:
    for i in range(dim - 1):
      a = efc_force[worldid, row + 2 * i]
      b = efc_force[worldid, row + 2 * i + 1]
      f[0] = f[0] + a + b
      f[i + 1] = (a - b) * friction[i]
  elif efc_type == _CONTACT_ELLIPTIC:
    for i in range(dim):
      f[i] = efc_force[worldid, row + i]
  else:
    f[0] = efc_force[worldid, row]
  return f


@wp.func
def is_contact_row(efc_type: int) -> bool:
  return efc_type == _CONTACT_FRICTIONLESS or efc_type == _CONTACT_PYRAMIDAL or efc_type == _CONTACT_ELLIPTIC


# ---- position stage ---------------------------------------------------------------------------------

@wp.kernel
def _sensor_pos(
  # Model:
  magnetic: wp.vec3,
  sensor_type: wp.array(dtype=int),
  sensor_datatype: wp.array(dtype=int),
  sensor_needstage: wp.array(dtype=int),
  sensor_objtype: wp.array(dtype=int),
  sensor_objid: wp.array(dtype=int),
  sensor_reftype: wp.array(dtype=int),
  sensor_refid: wp.array(dtype=int),
  sensor_adr: wp.array(dtype=int),
  sensor_cutoff: wp.array(dtype=float),
  jnt_qposadr: wp.array(dtype=int),
  body_iquat: wp.array(dtype=wp.vec4),
  geom_bodyid: wp.array(dtype=int),
  geom_quat: wp.array(dtype=wp.vec4),
  site_bodyid: wp.array(dtype=int),
  site_quat: wp.array(dtype=wp.vec4),
  ngeom: int,
  geom_type: wp.array(dtype=int),
  geom_size: wp.array(dtype=wp.vec3),
  geom_rayvisible: wp.array(dtype=int),
  geom_dataid: wp.array(dtype=int),
  mesh_vertadr: wp.array(dtype=int),
  mesh_faceadr: wp.array(dtype=int),
  mesh_facenum: wp.array(dtype=int),
  mesh_vert: wp.array(dtype=wp.vec3),
  mesh_face: wp.array2d(dtype=int),
  # Data in:
  time_in: wp.array(dtype=float),
  qpos_in: wp.array2d(dtype=float),
  xpos_in: wp.array2d(dtype=wp.vec3),
  xquat_in: wp.array2d(dtype=wp.vec4),
  xmat_in: wp.array2d(dtype=wp.mat33),
  xipos_in: wp.array2d(dtype=wp.vec3),
  ximat_in: wp.array2d(dtype=wp.mat33),
  geom_xpos_in: wp.array2d(dtype=wp.vec3),
  geom_xmat_in: wp.array2d(dtype=wp.mat33),
  site_xpos_in: wp.array2d(dtype=wp.vec3),
  site_xmat_in: wp.array2d(dtype=wp.mat33),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  ten_length_in: wp.array2d(dtype=float),
  actuator_length_in: wp.array2d(dtype=float),
  efc_nefc_in: wp.array(dtype=int),
  efc_type_in: wp.array2d(dtype=int),
  efc_id_in: wp.array2d(dtype=int),
  efc_pos_in: wp.array2d(dtype=float),
  efc_margin_in: wp.array2d(dtype=float),
  # Data out:
  sensordata_out: wp.array2d(dtype=float),
):
  worldid, i = wp.tid()
  if sensor_needstage[i] != _POS:
    return
  t = sensor_type[i]
  objtype = sensor_objtype[i]
  objid = sensor_objid[i]
  reftype = sensor_reftype[i]
  refid = sensor_refid[i]
  adr = sensor_adr[i]
  dt = sensor_datatype[i]
  cutoff = sensor_cutoff[i]
  if t == _MAGNETOMETER:
    _write3(worldid, adr, dt, cutoff, wp.transpose(site_xmat_in[worldid, objid]) @ magnetic, sensordata_out)
  elif t == _JOINTPOS:
    _write1(worldid, adr, dt, cutoff, qpos_in[worldid, jnt_qposadr[objid]], sensordata_out)
  elif t == _TENDONPOS:
    _write1(worldid, adr, dt, cutoff, ten_length_in[worldid, objid], sensordata_out)
  elif t == _ACTUATORPOS:
    _write1(worldid, adr, dt, cutoff, actuator_length_in[worldid, objid], sensordata_out)
  elif t == _BALLQUAT:
    padr = jnt_qposadr[objid]
    q = math.quat_normalize(wp.vec4(qpos_in[worldid, padr], qpos_in[worldid, padr + 1],
                                    qpos_in[worldid, padr + 2], qpos_in[worldid, padr + 3]))
    for k in range(4):
      sensordata_out[worldid, adr + k] = q[k]
  elif t == _JOINTLIMITPOS or t == _TENDONLIMITPOS:
    ctype = _LIMIT_JOINT
    if t == _TENDONLIMITPOS:
      ctype = _LIMIT_TENDON
    value = float(0.0)
    for r in range(efc_nefc_in[worldid]):
      if efc_type_in[worldid, r] == ctype and efc_id_in[worldid, r] == objid:
        value = efc_pos_in[worldid, r] - efc_margin_in[worldid, r]
        break
    _write1(worldid, adr, dt, cutoff, value, sensordata_out)
  elif t == _FRAMEPOS or t == _FRAMEXAXIS or t == _FRAMEYAXIS or t == _FRAMEZAXIS:
    frame_value = frame_pos(worldid, objtype, objid, xpos_in, xipos_in, geom_xpos_in, site_xpos_in)
    if t != _FRAMEPOS:
      mat = frame_mat(worldid, objtype, objid, xmat_in, ximat_in, geom_xmat_in, site_xmat_in)
      col = t - _FRAMEXAXIS
      frame_value = wp.vec3(mat[0, col], mat[1, col], mat[2, col])
    if refid >= 0:
      ref_mat = frame_mat(worldid, reftype, refid, xmat_in, ximat_in, geom_xmat_in, site_xmat_in)
      if t == _FRAMEPOS:
        frame_value = frame_value - frame_pos(worldid, reftype, refid, xpos_in, xipos_in, geom_xpos_in, site_xpos_in)
      frame_value = wp.transpose(ref_mat) @ frame_value
    _write3(worldid, adr, dt, cutoff, frame_value, sensordata_out)
  elif t == _FRAMEQUAT:
    q = _frame_quat(worldid, objtype, objid, body_iquat, geom_bodyid, geom_quat, site_bodyid, site_quat, xquat_in)
    if refid >= 0:
      ref = _frame_quat(worldid, reftype, refid, body_iquat, geom_bodyid, geom_quat, site_bodyid, site_quat,
                        xquat_in)
      q = math.quat_mul(math.quat_conj(ref), q)
    for k in range(4):
      sensordata_out[worldid, adr + k] = q[k]
  elif t == _SUBTREECOM:
    _write3(worldid, adr, dt, cutoff, subtree_com_in[worldid, objid], sensordata_out)
  elif t == _CLOCK:
    _write1(worldid, adr, dt, cutoff, time_in[worldid], sensordata_out)
  elif t == _RANGEFINDER:
    # mj_ray from the site along its z axis, the site's own body excluded (io: site-attached,
    # distance only)
    mat = site_xmat_in[worldid, objid]
    hit = ray.ray(worldid, site_xpos_in[worldid, objid], wp.vec3(mat[0, 2], mat[1, 2], mat[2, 2]),
                  site_bodyid[objid], ngeom, geom_type, geom_bodyid, geom_size, geom_rayvisible, geom_dataid,
                  mesh_vertadr, mesh_faceadr, mesh_facenum, mesh_vert, mesh_face, geom_xpos_in, geom_xmat_in)
    _write1(worldid, adr, dt, cutoff, hit[0], sensordata_out)


def _enabled(m: Model) -> bool:
  return m.nsensor > 0 and not m.opt.disabled(DisableBit.SENSOR)


def sensor_pos(m: Model, d: Data):
  """mj_sensorPos: the position-stage sensors' columns of sensordata (nworld, nsensordata)."""
  if not _enabled(m):
    return
  e = d.efc
  wp.launch(_sensor_pos, dim=(d.nworld, m.nsensor), inputs=[
    wp.vec3(*m.opt.magnetic), m.sensor_type, m.sensor_datatype, m.sensor_needstage, m.sensor_objtype,
    m.sensor_objid, m.sensor_reftype, m.sensor_refid, m.sensor_adr, m.sensor_cutoff, m.jnt_qposadr,
    m.body_iquat, m.geom_bodyid, m.geom_quat, m.site_bodyid, m.site_quat, m.ngeom, m.geom_type, m.geom_size,
    m.geom_rayvisible, m.geom_dataid, m.mesh_vertadr, m.mesh_faceadr, m.mesh_facenum, m.mesh_vert, m.mesh_face,
    d.time, d.qpos, d.xpos, d.xquat, d.xmat, d.xipos, d.ximat, d.geom_xpos, d.geom_xmat, d.site_xpos,
    d.site_xmat, d.subtree_com, d.ten_length, d.actuator_length, e.nefc, e.efc_type, e.efc_id, e.efc_pos,
    e.efc_margin,
  ], outputs=[d.sensordata], device=d.qpos.device)


# ---- velocity stage -------------------------------------------------------------------------------

@wp.kernel
def _subtree_vel(
  # Model:
  nbody: int,
  body_parentid: wp.array(dtype=int),
  body_rootid: wp.array(dtype=int),
  body_mass: wp.array2d(dtype=float),
  body_inertia: wp.array2d(dtype=wp.vec3),
  # Data in:
  xipos_in: wp.array2d(dtype=wp.vec3),
  ximat_in: wp.array2d(dtype=wp.mat33),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  subtree_mass_in: wp.array2d(dtype=float),
  cvel_in: wp.array2d(dtype=wp.spatial_vector),
  # Data out:
  subtree_linvel_out: wp.array2d(dtype=wp.vec3),
  subtree_angmom_out: wp.array2d(dtype=wp.vec3),
):
  """mj_subtreeVel: subtree com velocity and angular momentum about the subtree com."""
  worldid = wp.tid()
  bank = worldid % body_mass.shape[0]
  # each body's momentum and spin
  for b in range(nbody):
    vel = object_velocity(worldid, b, xipos_in[worldid, b], body_rootid, cvel_in, subtree_com_in)
    subtree_linvel_out[worldid, b] = math.motion_lin(vel) * body_mass[bank, b]
    ximat = ximat_in[worldid, b]
    spin = wp.cw_mul(wp.transpose(ximat) @ math.motion_ang(vel), body_inertia[bank, b])
    subtree_angmom_out[worldid, b] = ximat @ spin
  # linear momentum up the tree, then velocity
  for k in range(nbody):
    b = nbody - 1 - k
    if b > 0:
      pid = body_parentid[b]
      subtree_linvel_out[worldid, pid] = subtree_linvel_out[worldid, pid] + subtree_linvel_out[worldid, b]
    subtree_linvel_out[worldid, b] = subtree_linvel_out[worldid, b] / wp.max(1e-15, subtree_mass_in[worldid, b])
  # angular momentum up the tree: the body's own, then the subtree's about the parent's com
  for k in range(nbody - 1):
    b = nbody - 1 - k
    pid = body_parentid[b]
    vel = object_velocity(worldid, b, xipos_in[worldid, b], body_rootid, cvel_in, subtree_com_in)
    dx = xipos_in[worldid, b] - subtree_com_in[worldid, b]
    dp = (math.motion_lin(vel) - subtree_linvel_out[worldid, b]) * body_mass[bank, b]
    subtree_angmom_out[worldid, b] = subtree_angmom_out[worldid, b] + wp.cross(dx, dp)
    subtree_angmom_out[worldid, pid] = subtree_angmom_out[worldid, pid] + subtree_angmom_out[worldid, b]
    dx = subtree_com_in[worldid, b] - subtree_com_in[worldid, pid]
    dv = (subtree_linvel_out[worldid, b] - subtree_linvel_out[worldid, pid]) * subtree_mass_in[worldid, b]
    subtree_angmom_out[worldid, pid] = subtree_angmom_out[worldid, pid] + wp.cross(dx, dv)


@wp.kernel
def _sensor_vel(
  # Model:
  nv: int,
  sensor_type: wp.array(dtype=int),
  sensor_datatype: wp.array(dtype=int),
  sensor_needstage: wp.array(dtype=int),
  sensor_objtype: wp.array(dtype=int),
  sensor_objid: wp.array(dtype=int),
  sensor_reftype: wp.array(dtype=int),
  sensor_refid: wp.array(dtype=int),
  sensor_adr: wp.array(dtype=int),
  sensor_cutoff: wp.array(dtype=float),
  jnt_dofadr: wp.array(dtype=int),
  body_rootid: wp.array(dtype=int),
  geom_bodyid: wp.array(dtype=int),
  site_bodyid: wp.array(dtype=int),
  # Data in:
  qvel_in: wp.array2d(dtype=float),
  xpos_in: wp.array2d(dtype=wp.vec3),
  xmat_in: wp.array2d(dtype=wp.mat33),
  xipos_in: wp.array2d(dtype=wp.vec3),
  ximat_in: wp.array2d(dtype=wp.mat33),
  geom_xpos_in: wp.array2d(dtype=wp.vec3),
  geom_xmat_in: wp.array2d(dtype=wp.mat33),
  site_xpos_in: wp.array2d(dtype=wp.vec3),
  site_xmat_in: wp.array2d(dtype=wp.mat33),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  cvel_in: wp.array2d(dtype=wp.spatial_vector),
  ten_velocity_in: wp.array2d(dtype=float),
  actuator_velocity_in: wp.array2d(dtype=float),
  subtree_linvel_in: wp.array2d(dtype=wp.vec3),
  subtree_angmom_in: wp.array2d(dtype=wp.vec3),
  efc_nefc_in: wp.array(dtype=int),
  efc_type_in: wp.array2d(dtype=int),
  efc_id_in: wp.array2d(dtype=int),
  efc_J_in: wp.array3d(dtype=float),
  # Data out:
  sensordata_out: wp.array2d(dtype=float),
):
  worldid, i = wp.tid()
  if sensor_needstage[i] != _VEL:
    return
  t = sensor_type[i]
  objtype = sensor_objtype[i]
  objid = sensor_objid[i]
  reftype = sensor_reftype[i]
  refid = sensor_refid[i]
  adr = sensor_adr[i]
  dt = sensor_datatype[i]
  cutoff = sensor_cutoff[i]
  if t == _GYRO or t == _VELOCIMETER:
    vel = _rotate_t(object_velocity(worldid, site_bodyid[objid], site_xpos_in[worldid, objid], body_rootid,
                                    cvel_in, subtree_com_in), site_xmat_in[worldid, objid])
    if t == _GYRO:
      _write3(worldid, adr, dt, cutoff, math.motion_ang(vel), sensordata_out)
    else:
      _write3(worldid, adr, dt, cutoff, math.motion_lin(vel), sensordata_out)
  elif t == _JOINTVEL:
    _write1(worldid, adr, dt, cutoff, qvel_in[worldid, jnt_dofadr[objid]], sensordata_out)
  elif t == _TENDONVEL:
    _write1(worldid, adr, dt, cutoff, ten_velocity_in[worldid, objid], sensordata_out)
  elif t == _ACTUATORVEL:
    _write1(worldid, adr, dt, cutoff, actuator_velocity_in[worldid, objid], sensordata_out)
  elif t == _BALLANGVEL:
    vadr = jnt_dofadr[objid]
    _write3(worldid, adr, dt, cutoff, wp.vec3(qvel_in[worldid, vadr], qvel_in[worldid, vadr + 1],
                                              qvel_in[worldid, vadr + 2]), sensordata_out)
  elif t == _JOINTLIMITVEL or t == _TENDONLIMITVEL:
    ctype = _LIMIT_JOINT
    if t == _TENDONLIMITVEL:
      ctype = _LIMIT_TENDON
    value = float(0.0)
    for r in range(efc_nefc_in[worldid]):
      if efc_type_in[worldid, r] == ctype and efc_id_in[worldid, r] == objid:
        # the row's J qvel (efc_vel, which the solver fills later in our pipeline)
        for k in range(nv):
          value += efc_J_in[worldid, r, k] * qvel_in[worldid, k]
        break
    _write1(worldid, adr, dt, cutoff, value, sensordata_out)
  elif t == _FRAMELINVEL or t == _FRAMEANGVEL:
    pos = frame_pos(worldid, objtype, objid, xpos_in, xipos_in, geom_xpos_in, site_xpos_in)
    vel = object_velocity(worldid, frame_bodyid(objtype, objid, geom_bodyid, site_bodyid), pos, body_rootid,
                          cvel_in, subtree_com_in)
    if refid >= 0:
      ref_pos = frame_pos(worldid, reftype, refid, xpos_in, xipos_in, geom_xpos_in, site_xpos_in)
      ref_mat = frame_mat(worldid, reftype, refid, xmat_in, ximat_in, geom_xmat_in, site_xmat_in)
      ref_vel = object_velocity(worldid, frame_bodyid(reftype, refid, geom_bodyid, site_bodyid), ref_pos,
                                body_rootid, cvel_in, subtree_com_in)
      # relative velocity, the linear part corrected for the rotating reference frame
      rel_ang = math.motion_ang(vel) - math.motion_ang(ref_vel)
      rel_lin = math.motion_lin(vel) - math.motion_lin(ref_vel) + wp.cross(pos - ref_pos, math.motion_ang(ref_vel))
      vel = _rotate_t(math.spatial(rel_ang, rel_lin), ref_mat)
    if t == _FRAMELINVEL:
      _write3(worldid, adr, dt, cutoff, math.motion_lin(vel), sensordata_out)
    else:
      _write3(worldid, adr, dt, cutoff, math.motion_ang(vel), sensordata_out)
  elif t == _SUBTREELINVEL:
    _write3(worldid, adr, dt, cutoff, subtree_linvel_in[worldid, objid], sensordata_out)
  elif t == _SUBTREEANGMOM:
    _write3(worldid, adr, dt, cutoff, subtree_angmom_in[worldid, objid], sensordata_out)


def subtree_vel(m: Model, d: Data):
  """mj_subtreeVel: subtree_linvel and subtree_angmom (nworld, nbody, 3)."""
  wp.launch(_subtree_vel, dim=d.nworld, inputs=[
    m.nbody, m.body_parentid, m.body_rootid, m.body_mass, m.body_inertia, d.xipos, d.ximat, d.subtree_com,
    d.subtree_mass, d.cvel,
  ], outputs=[d.subtree_linvel, d.subtree_angmom], device=d.qpos.device)


def sensor_vel(m: Model, d: Data):
  """mj_sensorVel: the velocity-stage sensors' columns of sensordata (nworld, nsensordata)."""
  if not _enabled(m):
    return
  if m.sensor_subtree_vel:
    subtree_vel(m, d)
  e = d.efc
  wp.launch(_sensor_vel, dim=(d.nworld, m.nsensor), inputs=[
    m.nv, m.sensor_type, m.sensor_datatype, m.sensor_needstage, m.sensor_objtype, m.sensor_objid, m.sensor_reftype,
    m.sensor_refid, m.sensor_adr, m.sensor_cutoff, m.jnt_dofadr, m.body_rootid, m.geom_bodyid, m.site_bodyid,
    d.qvel, d.xpos, d.xmat, d.xipos, d.ximat, d.geom_xpos, d.geom_xmat, d.site_xpos, d.site_xmat,
    d.subtree_com, d.cvel, d.ten_velocity, d.actuator_velocity, d.subtree_linvel, d.subtree_angmom, e.nefc,
    e.efc_type, e.efc_id, e.efc_J,
  ], outputs=[d.sensordata], device=d.qpos.device)


# ---- acceleration stage ---------------------------------------------------------------------------

@wp.func
def _weld_torque(worldid: int, eqid: int, row: int, body_semantic: bool, eq_obj1id: wp.array(dtype=int),
                 eq_obj2id: wp.array(dtype=int), site_bodyid: wp.array(dtype=int),
                 site_quat: wp.array(dtype=wp.vec4), eq_data: wp.array2d(dtype=float),
                 xquat: wp.array2d(dtype=wp.vec4), efc_force: wp.array2d(dtype=float)) -> wp.vec3:
  """World torque of a weld's rotation rows on body 1 (minus on body 2): J_rot' f_rot with the
  rows' Jacobian 0.5 * torquescale * imag(neg(q1) * (0, w) * q0) (equality.py), as MuJoCo 4.0."""
  obj1 = eq_obj1id[eqid]
  obj2 = eq_obj2id[eqid]
  if body_semantic:
    q0 = math.quat_mul(xquat[worldid, obj1], wp.vec4(eq_data[eqid, 6], eq_data[eqid, 7], eq_data[eqid, 8],
                                                      eq_data[eqid, 9]))
    q1 = xquat[worldid, obj2]
  else:
    q0 = math.quat_mul(xquat[worldid, site_bodyid[obj1]], site_quat[obj1])
    q1 = math.quat_mul(xquat[worldid, site_bodyid[obj2]], site_quat[obj2])
  negq1 = math.quat_conj(q1)
  f = wp.vec3(efc_force[worldid, row + 3], efc_force[worldid, row + 4], efc_force[worldid, row + 5])
  torque = wp.vec3(0.0)
  for k in range(3):
    axis = wp.vec4(0.0)
    axis[k + 1] = 1.0
    q3 = math.quat_mul(math.quat_mul(negq1, axis), q0)
    torque[k] = 0.5 * eq_data[eqid, 10] * (q3[1] * f[0] + q3[2] * f[1] + q3[3] * f[2])
  return torque


@wp.kernel
def _rne_postconstraint(
  # Model:
  nbody: int,
  body_parentid: wp.array(dtype=int),
  body_rootid: wp.array(dtype=int),
  body_dofnum: wp.array(dtype=int),
  body_dofadr: wp.array(dtype=int),
  geom_bodyid: wp.array(dtype=int),
  site_bodyid: wp.array(dtype=int),
  site_pos: wp.array(dtype=wp.vec3),
  site_quat: wp.array(dtype=wp.vec4),
  eq_type: wp.array(dtype=int),
  eq_obj1id: wp.array(dtype=int),
  eq_obj2id: wp.array(dtype=int),
  eq_objtype: wp.array(dtype=int),
  eq_data: wp.array2d(dtype=float),
  gravity: wp.array(dtype=wp.vec3),
  gravity_enabled: int,
  # Data in:
  qvel_in: wp.array2d(dtype=float),
  qacc_in: wp.array2d(dtype=float),
  xfrc_applied_in: wp.array2d(dtype=wp.spatial_vector),
  xpos_in: wp.array2d(dtype=wp.vec3),
  xquat_in: wp.array2d(dtype=wp.vec4),
  xmat_in: wp.array2d(dtype=wp.mat33),
  xipos_in: wp.array2d(dtype=wp.vec3),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  cinert_in: wp.array2d(dtype=vec10),
  cvel_in: wp.array2d(dtype=wp.spatial_vector),
  cdof_in: wp.array2d(dtype=wp.spatial_vector),
  cdof_dot_in: wp.array2d(dtype=wp.spatial_vector),
  contact_pos_in: wp.array2d(dtype=wp.vec3),
  contact_frame_in: wp.array2d(dtype=wp.mat33),
  contact_friction_in: wp.array2d(dtype=vec5),
  contact_dim_in: wp.array2d(dtype=int),
  contact_geom_in: wp.array2d(dtype=wp.vec2i),
  efc_nefc_in: wp.array(dtype=int),
  efc_type_in: wp.array2d(dtype=int),
  efc_id_in: wp.array2d(dtype=int),
  efc_force_in: wp.array2d(dtype=float),
  # Data out:
  cfrc_ext_out: wp.array2d(dtype=wp.spatial_vector),
  cacc_out: wp.array2d(dtype=wp.spatial_vector),
  cfrc_int_out: wp.array2d(dtype=wp.spatial_vector),
):
  """mj_rnePostConstraint: cfrc_ext, cacc (with qacc) and cfrc_int (the force each body gets
  from its parent), all com-based (nworld, nbody) spatial vectors."""
  worldid = wp.tid()
  # cfrc_ext = applied wrenches (force, torque at xipos) moved to the subtree com
  cfrc_ext_out[worldid, 0] = wp.spatial_vector()
  for b in range(1, nbody):
    xfrc = xfrc_applied_in[worldid, b]
    wrench = math.spatial(wp.vec3(xfrc[3], xfrc[4], xfrc[5]), wp.vec3(xfrc[0], xfrc[1], xfrc[2]))
    cfrc_ext_out[worldid, b] = transform_force(wrench, subtree_com_in[worldid, body_rootid[b]],
                                               xipos_in[worldid, b])
  nefc = efc_nefc_in[worldid]
  r = int(0)
  while r < nefc:
    ctype = efc_type_in[worldid, r]
    objid = efc_id_in[worldid, r]  # equality or contact objid
    if ctype == _EQUALITY:
      # connect and weld: the constraint force at each anchor (opposite on body 2)
      etype = eq_type[objid]
      nrow = int(1)
      if etype == _CONNECT or etype == _WELD:
        nrow = 3
        torque = wp.vec3(0.0)
        body_semantic = eq_objtype[objid] == _OBJ_BODY
        if etype == _WELD:
          nrow = 6
          torque = _weld_torque(worldid, objid, r, body_semantic, eq_obj1id, eq_obj2id, site_bodyid, site_quat,
                                eq_data, xquat_in, efc_force_in)
        frc = math.spatial(torque, wp.vec3(efc_force_in[worldid, r], efc_force_in[worldid, r + 1],
                                           efc_force_in[worldid, r + 2]))
        for side in range(2):
          obj = eq_obj1id[objid]
          if side == 1:
            obj = eq_obj2id[objid]
          b = obj
          if not body_semantic:
            b = site_bodyid[obj]
          if b != 0:
            offset = wp.vec3(0.0)
            if body_semantic:
              # anchors: connect (body 1 at data[0:3], body 2 at [3:6]); weld the other way round
              k = 3 * side
              if etype == _WELD:
                k = 3 - 3 * side
              offset = wp.vec3(eq_data[objid, k], eq_data[objid, k + 1], eq_data[objid, k + 2])
            else:
              offset = site_pos[obj]
            anchor = xmat_in[worldid, b] @ offset + xpos_in[worldid, b]
            f = transform_force(frc, subtree_com_in[worldid, body_rootid[b]], anchor)
            if side == 0:
              cfrc_ext_out[worldid, b] = cfrc_ext_out[worldid, b] + f
            else:
              cfrc_ext_out[worldid, b] = cfrc_ext_out[worldid, b] - f
      r += nrow
    elif is_contact_row(ctype):
      dim = contact_dim_in[worldid, objid]
      lfrc = contact_force(worldid, r, ctype, dim, contact_friction_in[worldid, objid], efc_force_in)
      frame_t = wp.transpose(contact_frame_in[worldid, objid])
      cfrc = math.spatial(frame_t @ math.motion_lin(lfrc), frame_t @ math.motion_ang(lfrc))
      pos = contact_pos_in[worldid, objid]
      geom = contact_geom_in[worldid, objid]
      b1 = geom_bodyid[geom[0]]
      b2 = geom_bodyid[geom[1]]
      if b1 != 0:
        cfrc_ext_out[worldid, b1] = cfrc_ext_out[worldid, b1] - transform_force(
          cfrc, subtree_com_in[worldid, body_rootid[b1]], pos)
      if b2 != 0:
        cfrc_ext_out[worldid, b2] = cfrc_ext_out[worldid, b2] + transform_force(
          cfrc, subtree_com_in[worldid, body_rootid[b2]], pos)
      r += contact_rows(ctype, dim)
    else:
      r += 1
  # forward pass: cacc with qacc; the net force of each body less the external ones
  g = wp.vec3(0.0)
  if gravity_enabled:
    g = gravity[worldid % gravity.shape[0]]
  cacc_out[worldid, 0] = math.spatial(wp.vec3(0.0), -g)
  cfrc_int_out[worldid, 0] = wp.spatial_vector()
  for b in range(1, nbody):
    cacc = cacc_out[worldid, body_parentid[b]]
    dofadr = body_dofadr[b]
    for dofid in range(dofadr, dofadr + body_dofnum[b]):
      cacc += cdof_dot_in[worldid, dofid] * qvel_in[worldid, dofid]
    for dofid in range(dofadr, dofadr + body_dofnum[b]):
      cacc += cdof_in[worldid, dofid] * qacc_in[worldid, dofid]
    cacc_out[worldid, b] = cacc
    cinert = cinert_in[worldid, b]
    cvel = cvel_in[worldid, b]
    cfrc_int_out[worldid, b] = (math.mul_inert_vec(cinert, cacc)
                                + math.cross_force(cvel, math.mul_inert_vec(cinert, cvel))
                                - cfrc_ext_out[worldid, b])
  # backward pass: each body's interaction force carries its subtree's
  for k in range(nbody - 1):
    b = nbody - 1 - k
    pid = body_parentid[b]
    cfrc_int_out[worldid, pid] = cfrc_int_out[worldid, pid] + cfrc_int_out[worldid, b]


@wp.kernel
def _sensor_acc(
  # Model:
  nu: int,
  sensor_type: wp.array(dtype=int),
  sensor_datatype: wp.array(dtype=int),
  sensor_needstage: wp.array(dtype=int),
  sensor_objtype: wp.array(dtype=int),
  sensor_objid: wp.array(dtype=int),
  sensor_adr: wp.array(dtype=int),
  sensor_cutoff: wp.array(dtype=float),
  jnt_dofadr: wp.array(dtype=int),
  body_rootid: wp.array(dtype=int),
  geom_bodyid: wp.array(dtype=int),
  site_bodyid: wp.array(dtype=int),
  site_type: wp.array(dtype=int),
  site_size: wp.array(dtype=wp.vec3),
  actuator_trntype: wp.array(dtype=int),
  actuator_trnid: wp.array(dtype=int),
  trn_tendon: int,
  # Data in:
  xpos_in: wp.array2d(dtype=wp.vec3),
  xmat_in: wp.array2d(dtype=wp.mat33),
  xipos_in: wp.array2d(dtype=wp.vec3),
  ximat_in: wp.array2d(dtype=wp.mat33),
  geom_xpos_in: wp.array2d(dtype=wp.vec3),
  geom_xmat_in: wp.array2d(dtype=wp.mat33),
  site_xpos_in: wp.array2d(dtype=wp.vec3),
  site_xmat_in: wp.array2d(dtype=wp.mat33),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  cvel_in: wp.array2d(dtype=wp.spatial_vector),
  cacc_in: wp.array2d(dtype=wp.spatial_vector),
  cfrc_int_in: wp.array2d(dtype=wp.spatial_vector),
  actuator_force_in: wp.array2d(dtype=float),
  qfrc_actuator_in: wp.array2d(dtype=float),
  contact_pos_in: wp.array2d(dtype=wp.vec3),
  contact_frame_in: wp.array2d(dtype=wp.mat33),
  contact_friction_in: wp.array2d(dtype=vec5),
  contact_dim_in: wp.array2d(dtype=int),
  contact_geom_in: wp.array2d(dtype=wp.vec2i),
  efc_nefc_in: wp.array(dtype=int),
  efc_type_in: wp.array2d(dtype=int),
  efc_id_in: wp.array2d(dtype=int),
  efc_force_in: wp.array2d(dtype=float),
  # Data out:
  sensordata_out: wp.array2d(dtype=float),
):
  worldid, i = wp.tid()
  if sensor_needstage[i] != _ACC:
    return
  t = sensor_type[i]
  objtype = sensor_objtype[i]
  objid = sensor_objid[i]
  adr = sensor_adr[i]
  dt = sensor_datatype[i]
  cutoff = sensor_cutoff[i]
  if t == _TOUCH:
    bodyid = site_bodyid[objid]
    total = float(0.0)
    nefc = efc_nefc_in[worldid]
    r = int(0)
    while r < nefc:
      ctype = efc_type_in[worldid, r]
      if not is_contact_row(ctype):
        r += 1
        continue
      conid = efc_id_in[worldid, r]
      dim = contact_dim_in[worldid, conid]
      nrow = contact_rows(ctype, dim)
      geom = contact_geom_in[worldid, conid]
      b1 = geom_bodyid[geom[0]]
      b2 = geom_bodyid[geom[1]]
      if bodyid == b1 or bodyid == b2:
        normal_force = contact_force(worldid, r, ctype, dim, contact_friction_in[worldid, conid], efc_force_in)[0]
        if normal_force > 0.0:
          frame = contact_frame_in[worldid, conid]
          normal = wp.normalize(wp.vec3(frame[0, 0], frame[0, 1], frame[0, 2]))
          if bodyid == b2:
            normal = -normal
          if ray.ray_geom(site_xpos_in[worldid, objid], site_xmat_in[worldid, objid], site_size[objid],
                          contact_pos_in[worldid, conid], normal, site_type[objid]) >= 0.0:
            total += normal_force
      r += nrow
    _write1(worldid, adr, dt, cutoff, total, sensordata_out)
  elif t == _ACCELEROMETER:
    acc = object_acceleration(worldid, site_bodyid[objid], site_xpos_in[worldid, objid],
                              site_xmat_in[worldid, objid], 1, body_rootid, cvel_in, cacc_in, subtree_com_in)
    _write3(worldid, adr, dt, cutoff, math.motion_lin(acc), sensordata_out)
  elif t == _FORCE or t == _TORQUE:
    bodyid = site_bodyid[objid]
    frc = _rotate_t(transform_force(cfrc_int_in[worldid, bodyid], site_xpos_in[worldid, objid],
                                    subtree_com_in[worldid, body_rootid[bodyid]]), site_xmat_in[worldid, objid])
    if t == _FORCE:
      _write3(worldid, adr, dt, cutoff, math.motion_lin(frc), sensordata_out)
    else:
      _write3(worldid, adr, dt, cutoff, math.motion_ang(frc), sensordata_out)
  elif t == _ACTUATORFRC:
    _write1(worldid, adr, dt, cutoff, actuator_force_in[worldid, objid], sensordata_out)
  elif t == _JOINTACTFRC:
    _write1(worldid, adr, dt, cutoff, qfrc_actuator_in[worldid, jnt_dofadr[objid]], sensordata_out)
  elif t == _TENDONACTFRC:
    total = float(0.0)
    for a in range(nu):
      if actuator_trntype[a] == trn_tendon and actuator_trnid[a] == objid:
        total += actuator_force_in[worldid, a]
    _write1(worldid, adr, dt, cutoff, total, sensordata_out)
  elif t == _JOINTLIMITFRC or t == _TENDONLIMITFRC:
    ctype = _LIMIT_JOINT
    if t == _TENDONLIMITFRC:
      ctype = _LIMIT_TENDON
    value = float(0.0)
    for r in range(efc_nefc_in[worldid]):
      if efc_type_in[worldid, r] == ctype and efc_id_in[worldid, r] == objid:
        value = efc_force_in[worldid, r]
        break
    _write1(worldid, adr, dt, cutoff, value, sensordata_out)
  elif t == _FRAMELINACC or t == _FRAMEANGACC:
    pos = frame_pos(worldid, objtype, objid, xpos_in, xipos_in, geom_xpos_in, site_xpos_in)
    acc = object_acceleration(worldid, frame_bodyid(objtype, objid, geom_bodyid, site_bodyid), pos,
                              wp.identity(3, dtype=float), 0, body_rootid, cvel_in, cacc_in, subtree_com_in)
    if t == _FRAMELINACC:
      _write3(worldid, adr, dt, cutoff, math.motion_lin(acc), sensordata_out)
    else:
      _write3(worldid, adr, dt, cutoff, math.motion_ang(acc), sensordata_out)


def rne_postconstraint(m: Model, d: Data):
  """mj_rnePostConstraint: cfrc_ext, cacc and cfrc_int (nworld, nbody) after the solve."""
  gravity_enabled = 0 if m.opt.disabled(DisableBit.GRAVITY) else 1
  c, e = d.contact, d.efc
  wp.launch(_rne_postconstraint, dim=d.nworld, inputs=[
    m.nbody, m.body_parentid, m.body_rootid, m.body_dofnum, m.body_dofadr, m.geom_bodyid, m.site_bodyid,
    m.site_pos, m.site_quat, m.eq_type, m.eq_obj1id, m.eq_obj2id, m.eq_objtype, m.eq_data, m.opt.gravity,
    gravity_enabled, d.qvel, d.qacc, d.xfrc_applied, d.xpos, d.xquat, d.xmat, d.xipos, d.subtree_com, d.cinert, d.cvel, d.cdof,
    d.cdof_dot, c.pos, c.frame, c.friction, c.dim, c.geom, e.nefc, e.efc_type, e.efc_id, e.efc_force,
  ], outputs=[d.cfrc_ext, d.cacc, d.cfrc_int], device=d.qpos.device)


def sensor_acc(m: Model, d: Data):
  """mj_sensorAcc: the acceleration/force-stage sensors' columns of sensordata (nworld,
  nsensordata), after the constraint solve."""
  if not _enabled(m):
    return
  if m.sensor_rne_postconstraint:
    rne_postconstraint(m, d)
  c, e = d.contact, d.efc
  wp.launch(_sensor_acc, dim=(d.nworld, m.nsensor), inputs=[
    m.nu, m.sensor_type, m.sensor_datatype, m.sensor_needstage, m.sensor_objtype, m.sensor_objid,
    m.sensor_adr, m.sensor_cutoff, m.jnt_dofadr, m.body_rootid, m.geom_bodyid, m.site_bodyid, m.site_type,
    m.site_size, m.actuator_trntype, m.actuator_trnid, int(TrnType.TENDON),
    d.xpos, d.xmat, d.xipos, d.ximat, d.geom_xpos, d.geom_xmat, d.site_xpos, d.site_xmat, d.subtree_com,
    d.cvel, d.cacc, d.cfrc_int, d.actuator_force, d.qfrc_actuator, c.pos, c.frame, c.friction, c.dim, c.geom,
    e.nefc, e.efc_type, e.efc_id, e.efc_force,
  ], outputs=[d.sensordata], device=d.qpos.device)
