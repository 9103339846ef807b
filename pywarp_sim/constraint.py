"""Constraint rows (mj_makeConstraint + mj_makeImpedance): equality constraints, dof and
tendon friction, joint and tendon limits and contacts as MuJoCo soft constraints, per world,
with a fixed row capacity.

Rows are stored densely per world, in MuJoCo's order: equality (connect 3 rows, weld 6,
joint and tendon 1, for each active constraint), dof and tendon frictionloss, limits,
contacts. efc_J (nworld, nefc_max, nv) holds the Jacobian rows; the first nefc[w] rows
of world w are valid (the arrays: types.ConstraintData; nefc_max: io.rows_capacity). Pyramidal cones give 2*(condim-1) rows per contact (1 for condim
1); elliptic cones give condim rows (normal, tangential, torsional, rolling).
"""

import warp as wp

from . import math
from .types import ConeType, ConstraintType, Data, DisableBit, EqType, JointType, Model

_vec5 = wp.types.vector(length=5, dtype=wp.float32)

# efc_type values (MuJoCo's mjtConstraint)
_EQUALITY = wp.constant(int(ConstraintType.EQUALITY))
_FRICTION_DOF = wp.constant(int(ConstraintType.FRICTION_DOF))
_LIMIT_JOINT = wp.constant(int(ConstraintType.LIMIT_JOINT))
_FRICTION_TENDON = wp.constant(int(ConstraintType.FRICTION_TENDON))
_LIMIT_TENDON = wp.constant(int(ConstraintType.LIMIT_TENDON))
_CONTACT_FRICTIONLESS = wp.constant(int(ConstraintType.CONTACT_FRICTIONLESS))
_CONTACT_PYRAMIDAL = wp.constant(int(ConstraintType.CONTACT_PYRAMIDAL))
_CONTACT_ELLIPTIC = wp.constant(int(ConstraintType.CONTACT_ELLIPTIC))
_BALL = wp.constant(int(JointType.BALL))
_EQ_CONNECT = wp.constant(int(EqType.CONNECT))
_EQ_WELD = wp.constant(int(EqType.WELD))
_EQ_JOINT = wp.constant(int(EqType.JOINT))
_OBJ_SITE = wp.constant(6)  # mjOBJ_SITE (eq_objtype of site-referenced connect/weld)
_FREE = wp.constant(int(JointType.FREE))
_MINIMP = wp.constant(0.0001)
_MAXIMP = wp.constant(0.9999)


@wp.func
def _impedance(solimp: _vec5, pos: float, margin: float) -> float:
  """getimpedance: impedance of a constraint at violation pos - margin."""
  dmin = wp.min(_MAXIMP, wp.max(_MINIMP, solimp[0]))
  dmax = wp.min(_MAXIMP, wp.max(_MINIMP, solimp[1]))
  width = wp.max(0.0, solimp[2])
  mid = wp.min(_MAXIMP, wp.max(_MINIMP, solimp[3]))
  power = wp.max(1.0, solimp[4])
  if dmin == dmax or width <= 1e-15:
    return 0.5 * (dmin + dmax)
  x = wp.abs((pos - margin) / width)
  if x >= 1.0:
    return dmax
  if x <= 0.0:
    return dmin
  y = x
  if power != 1.0:
    if x <= mid:
      y = wp.pow(x, power) / wp.pow(mid, power - 1.0)
    else:
      y = 1.0 - wp.pow(1.0 - x, power) / wp.pow(1.0 - mid, power - 1.0)
  return dmin + y * (dmax - dmin)


@wp.func
def _kb(solref: wp.vec2, solimp: _vec5, timestep: float, refsafe: int) -> wp.vec2:
  """Stiffness K and damping B of the reference acceleration (mj_makeImpedance)."""
  dmax = wp.min(_MAXIMP, wp.max(_MINIMP, solimp[1]))
  tc = solref[0]
  dr = solref[1]
  if refsafe and tc > 0.0:
    tc = wp.max(tc, 2.0 * timestep)
  k = float(0.0)
  b = float(0.0)
  if tc > 0.0:
    k = 1.0 / wp.max(1e-15, dmax * dmax * tc * tc * dr * dr)
  else:
    k = -tc / wp.max(1e-15, dmax * dmax)
  if dr > 0.0:
    b = 2.0 / wp.max(1e-15, dmax * tc)
  else:
    b = -dr / wp.max(1e-15, dmax)
  return wp.vec2(k, b)


@wp.func
def _add_row(worldid: int, row: int, type: int, id: int, pos: float, margin: float, frictionloss: float,
             diag_a: float, solref: wp.vec2, solimp: _vec5, timestep: float, refsafe: int,
             is_friction: int,
             efc_type: wp.array2d(dtype=int), efc_id: wp.array2d(dtype=int),
             efc_pos: wp.array2d(dtype=float), efc_margin: wp.array2d(dtype=float),
             efc_frictionloss: wp.array2d(dtype=float), efc_R: wp.array2d(dtype=float),
             efc_K: wp.array2d(dtype=float), efc_B: wp.array2d(dtype=float)):
  imp = _impedance(solimp, pos, margin)
  kb = _kb(solref, solimp, timestep, refsafe)
  efc_type[worldid, row] = type
  efc_id[worldid, row] = id
  efc_pos[worldid, row] = pos
  efc_margin[worldid, row] = margin
  efc_frictionloss[worldid, row] = frictionloss
  efc_R[worldid, row] = wp.max(1e-15, (1.0 - imp) * diag_a / imp)
  if is_friction:
    efc_K[worldid, row] = 0.0
  else:
    efc_K[worldid, row] = kb[0] * imp
  efc_B[worldid, row] = kb[1]


@wp.func
def _point_jac_row(worldid: int, row: int, bodyid: int, sign: float, point: wp.vec3, dir: wp.vec3,
                   rotational: int, body_dofend: wp.array(dtype=int), body_rootid: wp.array(dtype=int),
                   dof_parentid: wp.array(dtype=int), cdof: wp.array2d(dtype=wp.spatial_vector),
                   subtree_com: wp.array2d(dtype=wp.vec3), efc_J: wp.array3d(dtype=float), scale: float):
  """efc_J[row] += sign * scale * dir . J(point on body), translational or rotational."""
  rel = point - subtree_com[worldid, body_rootid[bodyid]]
  dofid = body_dofend[bodyid]
  while dofid >= 0:
    c = cdof[worldid, dofid]
    ang = math.motion_ang(c)
    v = float(0.0)
    if rotational:
      v = wp.dot(dir, ang)
    else:
      v = wp.dot(dir, math.motion_lin(c) + wp.cross(ang, rel))
    efc_J[worldid, row, dofid] = efc_J[worldid, row, dofid] + sign * scale * v
    dofid = dof_parentid[dofid]


@wp.func
def _clear_rows(worldid: int, row: int, nrows: int, nv: int, efc_J: wp.array3d(dtype=float)):
  for r in range(row, row + nrows):
    for i in range(nv):
      efc_J[worldid, r, i] = 0.0


@wp.func
def _eq_bodyid(objtype: int, objid: int, site_bodyid: wp.array(dtype=int)) -> int:
  """Body of a connect/weld object (a body, or the body of a site)."""
  if objtype == _OBJ_SITE:
    return site_bodyid[objid]
  return objid


@wp.func
def _eq_anchor(worldid: int, eqid: int, side: int, eqtype: int, objtype: int, objid: int,
               eq_data: wp.array2d(dtype=float), xpos: wp.array2d(dtype=wp.vec3),
               xmat: wp.array2d(dtype=wp.mat33), site_xpos: wp.array2d(dtype=wp.vec3)) -> wp.vec3:
  """mj_equalityAnchors: global anchor of object `side` (0, 1) of a connect/weld, m. Body
  semantics: connect keeps anchor k in eq_data[3k:3k+3]; weld keeps them swapped."""
  if objtype == _OBJ_SITE:
    return site_xpos[worldid, objid]
  adr = 3 * side
  if eqtype == _EQ_WELD:
    adr = 3 * (1 - side)
  local = wp.vec3(eq_data[eqid, adr], eq_data[eqid, adr + 1], eq_data[eqid, adr + 2])
  return xmat[worldid, objid] * local + xpos[worldid, objid]


@wp.func
def _weld_frame(worldid: int, eqid: int, side: int, objtype: int, objid: int, bodyid: int,
                eq_data: wp.array2d(dtype=float), site_quat: wp.array(dtype=wp.vec4),
                xquat: wp.array2d(dtype=wp.vec4)) -> wp.vec4:
  """Orientation a weld aligns: q0 * relpose (side 0) or q1 (side 1) with body semantics,
  body quaternion * site_quat with site semantics."""
  q = xquat[worldid, bodyid]
  if objtype == _OBJ_SITE:
    return math.quat_mul(q, site_quat[objid])
  if side == 0:
    relpose = wp.vec4(eq_data[eqid, 6], eq_data[eqid, 7], eq_data[eqid, 8], eq_data[eqid, 9])
    return math.quat_mul(q, relpose)
  return q


@wp.func
def _deriv_quat(q: wp.vec4, omega: wp.vec3) -> wp.vec4:
  """mju_derivQuat: dq/dt of q under world angular velocity omega."""
  return 0.5 * math.quat_mul(wp.vec4(0.0, omega[0], omega[1], omega[2]), q)


@wp.kernel
def _equality(
  # Model:
  nv: int,
  neq: int,
  timestep: float,
  refsafe: int,
  eq_type: wp.array(dtype=int),
  eq_obj1id: wp.array(dtype=int),
  eq_obj2id: wp.array(dtype=int),
  eq_objtype: wp.array(dtype=int),
  eq_solref: wp.array(dtype=wp.vec2),
  eq_solimp: wp.array(dtype=_vec5),
  eq_data: wp.array2d(dtype=float),
  jnt_qposadr: wp.array(dtype=int),
  jnt_dofadr: wp.array(dtype=int),
  qpos0: wp.array(dtype=float),
  dof_invweight0: wp.array(dtype=float),
  dof_parentid: wp.array(dtype=int),
  body_invweight0: wp.array(dtype=wp.vec2),
  body_dofend: wp.array(dtype=int),
  body_rootid: wp.array(dtype=int),
  site_bodyid: wp.array(dtype=int),
  site_quat: wp.array(dtype=wp.vec4),
  tendon_J: wp.array2d(dtype=float),
  tendon_length0: wp.array(dtype=float),
  tendon_invweight0: wp.array(dtype=float),
  # Data in:
  eq_active_in: wp.array2d(dtype=int),
  qpos_in: wp.array2d(dtype=float),
  ten_length_in: wp.array2d(dtype=float),
  xpos_in: wp.array2d(dtype=wp.vec3),
  xquat_in: wp.array2d(dtype=wp.vec4),
  xmat_in: wp.array2d(dtype=wp.mat33),
  site_xpos_in: wp.array2d(dtype=wp.vec3),
  cdof_in: wp.array2d(dtype=wp.spatial_vector),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  # Data out:
  ne_out: wp.array(dtype=int),
  efc_type_out: wp.array2d(dtype=int),
  efc_id_out: wp.array2d(dtype=int),
  efc_J_out: wp.array3d(dtype=float),
  efc_pos_out: wp.array2d(dtype=float),
  efc_margin_out: wp.array2d(dtype=float),
  efc_frictionloss_out: wp.array2d(dtype=float),
  efc_R_out: wp.array2d(dtype=float),
  efc_K_out: wp.array2d(dtype=float),
  efc_B_out: wp.array2d(dtype=float),
):
  """mj_instantiateEquality (+ mj_diagApprox, mj_makeImpedance) for the active equality
  constraints of one world: the first ne rows. Connect and weld rows share one impedance,
  taken at the norm of their violation (3 or 6 rows)."""
  worldid = wp.tid()
  row = int(0)
  for eqid in range(neq):
    if eq_active_in[worldid, eqid] == 0:
      continue
    eqtype = eq_type[eqid]
    solref = eq_solref[eqid]
    solimp = eq_solimp[eqid]
    obj1 = eq_obj1id[eqid]
    obj2 = eq_obj2id[eqid]
    nrows = int(1)
    if eqtype == _EQ_CONNECT or eqtype == _EQ_WELD:
      nrows = 3
      if eqtype == _EQ_WELD:
        nrows = 6
      objtype = eq_objtype[eqid]
      b1 = _eq_bodyid(objtype, obj1, site_bodyid)
      b2 = _eq_bodyid(objtype, obj2, site_bodyid)
      p1 = _eq_anchor(worldid, eqid, 0, eqtype, objtype, obj1, eq_data, xpos_in, xmat_in, site_xpos_in)
      p2 = _eq_anchor(worldid, eqid, 1, eqtype, objtype, obj2, eq_data, xpos_in, xmat_in, site_xpos_in)
      cpos = p1 - p2
      _clear_rows(worldid, row, nrows, nv, efc_J_out)
      # Jacobian difference (opposite of contacts): point on object 1 minus point on object 2
      for k in range(3):
        e = wp.vec3(0.0)
        e[k] = 1.0
        _point_jac_row(worldid, row + k, b1, 1.0, p1, e, 0, body_dofend, body_rootid, dof_parentid,
                       cdof_in, subtree_com_in, efc_J_out, 1.0)
        _point_jac_row(worldid, row + k, b2, -1.0, p2, e, 0, body_dofend, body_rootid, dof_parentid,
                       cdof_in, subtree_com_in, efc_J_out, 1.0)
      w1 = body_invweight0[b1]
      w2 = body_invweight0[b2]
      crot = wp.vec3(0.0)
      if eqtype == _EQ_WELD:
        torquescale = eq_data[eqid, 10]
        for k in range(3):
          e = wp.vec3(0.0)
          e[k] = 1.0
          _point_jac_row(worldid, row + 3 + k, b1, 1.0, p1, e, 1, body_dofend, body_rootid, dof_parentid,
                         cdof_in, subtree_com_in, efc_J_out, 1.0)
          _point_jac_row(worldid, row + 3 + k, b2, -1.0, p2, e, 1, body_dofend, body_rootid, dof_parentid,
                         cdof_in, subtree_com_in, efc_J_out, 1.0)
        # rotation error: axis part of neg(q1) * q0 (* relpose), scaled by torquescale;
        # its Jacobian 0.5 * neg(q1) * (jac0 - jac1) * q0 (* relpose), per dof column
        quat = _weld_frame(worldid, eqid, 0, objtype, obj1, b1, eq_data, site_quat, xquat_in)
        negq1 = math.quat_conj(_weld_frame(worldid, eqid, 1, objtype, obj2, b2, eq_data, site_quat, xquat_in))
        qdif = math.quat_mul(negq1, quat)
        crot = torquescale * wp.vec3(qdif[1], qdif[2], qdif[3])
        for j in range(nv):
          axis = wp.vec4(0.0, efc_J_out[worldid, row + 3, j], efc_J_out[worldid, row + 4, j],
                         efc_J_out[worldid, row + 5, j])
          q3 = math.quat_mul(math.quat_mul(negq1, axis), quat)
          for k in range(3):
            efc_J_out[worldid, row + 3 + k, j] = 0.5 * torquescale * q3[k + 1]
      norm = wp.sqrt(wp.length_sq(cpos) + wp.length_sq(crot))
      for k in range(nrows):
        diag = w1[0] + w2[0]
        pos = float(0.0)
        if k < 3:
          pos = cpos[k]
        else:
          diag = w1[1] + w2[1]
          pos = crot[k - 3]
        _add_row(worldid, row + k, _EQUALITY, eqid, norm, 0.0, 0.0, diag, solref, solimp, timestep, refsafe,
                 0, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out, efc_frictionloss_out, efc_R_out,
                 efc_K_out, efc_B_out)
        efc_pos_out[worldid, row + k] = pos
    else:
      # joint or tendon: pos1 - ref1 - poly(pos2 - ref2) with polycoef eq_data[0:5]
      _clear_rows(worldid, row, 1, nv, efc_J_out)
      value = float(0.0)
      diag = float(0.0)
      if eqtype == _EQ_JOINT:
        value = qpos_in[worldid, jnt_qposadr[obj1]] - qpos0[jnt_qposadr[obj1]]
        efc_J_out[worldid, row, jnt_dofadr[obj1]] = 1.0
        diag = dof_invweight0[jnt_dofadr[obj1]]
      else:
        value = ten_length_in[worldid, obj1] - tendon_length0[obj1]
        for i in range(nv):
          efc_J_out[worldid, row, i] = tendon_J[obj1, i]
        diag = tendon_invweight0[obj1]
      err = value - eq_data[eqid, 0]
      if obj2 >= 0:
        dif = float(0.0)
        if eqtype == _EQ_JOINT:
          dif = qpos_in[worldid, jnt_qposadr[obj2]] - qpos0[jnt_qposadr[obj2]]
          diag += dof_invweight0[jnt_dofadr[obj2]]
        else:
          dif = ten_length_in[worldid, obj2] - tendon_length0[obj2]
          diag += tendon_invweight0[obj2]
        c1 = eq_data[eqid, 1]
        c2 = eq_data[eqid, 2]
        c3 = eq_data[eqid, 3]
        c4 = eq_data[eqid, 4]
        err -= dif * (c1 + dif * (c2 + dif * (c3 + dif * c4)))
        deriv = c1 + dif * (2.0 * c2 + dif * (3.0 * c3 + dif * 4.0 * c4))
        if eqtype == _EQ_JOINT:
          dofadr = jnt_dofadr[obj2]
          efc_J_out[worldid, row, dofadr] = efc_J_out[worldid, row, dofadr] - deriv
        else:
          for i in range(nv):
            efc_J_out[worldid, row, i] = efc_J_out[worldid, row, i] - deriv * tendon_J[obj2, i]
      _add_row(worldid, row, _EQUALITY, eqid, err, 0.0, 0.0, diag, solref, solimp, timestep, refsafe, 0,
               efc_type_out, efc_id_out, efc_pos_out, efc_margin_out, efc_frictionloss_out, efc_R_out,
               efc_K_out, efc_B_out)
    # MuJoCo drops a constraint whose Jacobian rows are all zero (e.g. between static bodies)
    empty = int(1)
    for k in range(nrows):
      for i in range(nv):
        if efc_J_out[worldid, row + k, i] != 0.0:
          empty = 0
    if empty == 0:
      row += nrows
  ne_out[worldid] = row


@wp.func
def _jac_dot_qvel(worldid: int, bodyid: int, point: wp.vec3, body_dofend: wp.array(dtype=int),
                  body_rootid: wp.array(dtype=int), dof_parentid: wp.array(dtype=int),
                  dof_bodyid: wp.array(dtype=int), dof_jntid: wp.array(dtype=int),
                  jnt_type: wp.array(dtype=int), jnt_dofadr: wp.array(dtype=int),
                  qvel: wp.array2d(dtype=float), cdof: wp.array2d(dtype=wp.spatial_vector),
                  cdof_dot: wp.array2d(dtype=wp.spatial_vector), cvel: wp.array2d(dtype=wp.spatial_vector),
                  subtree_com: wp.array2d(dtype=wp.vec3)) -> wp.spatial_vector:
  """mj_jacDot times qvel for a point fixed to a body: (rotational, translational), world
  frame. Quaternion dofs take cdof_dot from the body's own velocity, as mj_jacDot does."""
  offset = point - subtree_com[worldid, body_rootid[bodyid]]
  v = cvel[worldid, bodyid]
  pvel = math.motion_lin(v) + wp.cross(math.motion_ang(v), offset)
  jr = wp.vec3(0.0)
  jp = wp.vec3(0.0)
  dofid = body_dofend[bodyid]
  while dofid >= 0:
    c = cdof[worldid, dofid]
    cd = cdof_dot[worldid, dofid]
    jntid = dof_jntid[dofid]
    jtype = jnt_type[jntid]
    if jtype == _BALL or (jtype == _FREE and dofid >= jnt_dofadr[jntid] + 3):
      cd = math.cross_motion(cvel[worldid, dof_bodyid[dofid]], c)
    qv = qvel[worldid, dofid]
    ang = math.motion_ang(cd)
    jr += qv * ang
    jp += qv * (math.motion_lin(cd) + wp.cross(ang, offset) + wp.cross(math.motion_ang(c), pvel))
    dofid = dof_parentid[dofid]
  return math.spatial(jr, jp)


@wp.kernel
def _equality_jdotv(
  # Model:
  eq_type: wp.array(dtype=int),
  eq_obj1id: wp.array(dtype=int),
  eq_obj2id: wp.array(dtype=int),
  eq_objtype: wp.array(dtype=int),
  eq_data: wp.array2d(dtype=float),
  site_bodyid: wp.array(dtype=int),
  site_quat: wp.array(dtype=wp.vec4),
  body_dofend: wp.array(dtype=int),
  body_rootid: wp.array(dtype=int),
  dof_parentid: wp.array(dtype=int),
  dof_bodyid: wp.array(dtype=int),
  dof_jntid: wp.array(dtype=int),
  jnt_type: wp.array(dtype=int),
  jnt_dofadr: wp.array(dtype=int),
  # Data in:
  ne_in: wp.array(dtype=int),
  efc_id_in: wp.array2d(dtype=int),
  qvel_in: wp.array2d(dtype=float),
  xpos_in: wp.array2d(dtype=wp.vec3),
  xquat_in: wp.array2d(dtype=wp.vec4),
  xmat_in: wp.array2d(dtype=wp.mat33),
  site_xpos_in: wp.array2d(dtype=wp.vec3),
  cdof_in: wp.array2d(dtype=wp.spatial_vector),
  cdof_dot_in: wp.array2d(dtype=wp.spatial_vector),
  cvel_in: wp.array2d(dtype=wp.spatial_vector),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  # Data out:
  efc_jdotv_out: wp.array2d(dtype=float),
):
  """mj_Jdotv: Jdot qvel of the equality rows (connect and weld; 0 for joint and tendon rows),
  which MuJoCo subtracts from their reference acceleration."""
  worldid = wp.tid()
  ne = ne_in[worldid]
  r = int(0)
  while r < ne:
    eqid = efc_id_in[worldid, r]
    eqtype = eq_type[eqid]
    if eqtype != _EQ_CONNECT and eqtype != _EQ_WELD:
      efc_jdotv_out[worldid, r] = 0.0
      r += 1
      continue
    objtype = eq_objtype[eqid]
    obj1 = eq_obj1id[eqid]
    obj2 = eq_obj2id[eqid]
    b1 = _eq_bodyid(objtype, obj1, site_bodyid)
    b2 = _eq_bodyid(objtype, obj2, site_bodyid)
    p1 = _eq_anchor(worldid, eqid, 0, eqtype, objtype, obj1, eq_data, xpos_in, xmat_in, site_xpos_in)
    p2 = _eq_anchor(worldid, eqid, 1, eqtype, objtype, obj2, eq_data, xpos_in, xmat_in, site_xpos_in)
    s1 = _jac_dot_qvel(worldid, b1, p1, body_dofend, body_rootid, dof_parentid, dof_bodyid, dof_jntid, jnt_type,
                       jnt_dofadr, qvel_in, cdof_in, cdof_dot_in, cvel_in, subtree_com_in)
    s2 = _jac_dot_qvel(worldid, b2, p2, body_dofend, body_rootid, dof_parentid, dof_bodyid, dof_jntid, jnt_type,
                       jnt_dofadr, qvel_in, cdof_in, cdof_dot_in, cvel_in, subtree_com_in)
    dlin = math.motion_lin(s1) - math.motion_lin(s2)
    for k in range(3):
      efc_jdotv_out[worldid, r + k] = dlin[k]
    r += 3
    if eqtype == _EQ_WELD:
      # d/dt of 0.5 neg(q1) (J0 - J1) qvel q0r, by the product rule (three terms)
      torquescale = eq_data[eqid, 10]
      q0r = _weld_frame(worldid, eqid, 0, objtype, obj1, b1, eq_data, site_quat, xquat_in)
      q1 = _weld_frame(worldid, eqid, 1, objtype, obj2, b2, eq_data, site_quat, xquat_in)
      negq1 = math.quat_conj(q1)
      omega1 = math.motion_ang(cvel_in[worldid, b1])
      omega2 = math.motion_ang(cvel_in[worldid, b2])
      domega = omega1 - omega2
      qdot0r = wp.vec4(0.0)
      if objtype == _OBJ_SITE:
        qdot0r = _deriv_quat(q0r, omega1)
      else:
        relpose = wp.vec4(eq_data[eqid, 6], eq_data[eqid, 7], eq_data[eqid, 8], eq_data[eqid, 9])
        qdot0r = math.quat_mul(_deriv_quat(xquat_in[worldid, b1], omega1), relpose)
      negqdot1 = math.quat_conj(_deriv_quat(q1, omega2))
      djr = math.motion_ang(s1) - math.motion_ang(s2)
      dw = wp.vec4(0.0, domega[0], domega[1], domega[2])
      t = (math.quat_mul(math.quat_mul(negqdot1, dw), q0r)
           + math.quat_mul(math.quat_mul(negq1, wp.vec4(0.0, djr[0], djr[1], djr[2])), q0r)
           + math.quat_mul(math.quat_mul(negq1, dw), qdot0r))
      for k in range(3):
        efc_jdotv_out[worldid, r + k] = 0.5 * torquescale * t[k + 1]
      r += 3


@wp.kernel
def _make_constraint(
  # Model:
  nv: int,
  njnt: int,
  nefc_max: int,
  timestep: float,
  impratio: float,
  refsafe: int,
  elliptic: int,
  enable_friction: int,
  enable_limit: int,
  enable_contact: int,
  jnt_type: wp.array(dtype=int),
  jnt_qposadr: wp.array(dtype=int),
  jnt_dofadr: wp.array(dtype=int),
  jnt_limited: wp.array(dtype=int),
  jnt_range: wp.array(dtype=wp.vec2),
  jnt_margin: wp.array(dtype=float),
  jnt_solref: wp.array(dtype=wp.vec2),
  jnt_solimp: wp.array(dtype=_vec5),
  dof_frictionloss: wp.array2d(dtype=float),
  dof_solref: wp.array(dtype=wp.vec2),
  dof_solimp: wp.array(dtype=_vec5),
  dof_invweight0: wp.array(dtype=float),
  dof_parentid: wp.array(dtype=int),
  body_invweight0: wp.array(dtype=wp.vec2),
  body_dofend: wp.array(dtype=int),
  body_rootid: wp.array(dtype=int),
  geom_bodyid: wp.array(dtype=int),
  ntendon: int,
  tendon_J: wp.array2d(dtype=float),
  tendon_limited: wp.array(dtype=int),
  tendon_range: wp.array(dtype=wp.vec2),
  tendon_margin: wp.array(dtype=float),
  tendon_solref_lim: wp.array(dtype=wp.vec2),
  tendon_solimp_lim: wp.array(dtype=_vec5),
  tendon_solref_fri: wp.array(dtype=wp.vec2),
  tendon_solimp_fri: wp.array(dtype=_vec5),
  tendon_frictionloss: wp.array(dtype=float),
  tendon_invweight0: wp.array(dtype=float),
  # Data in:
  qpos_in: wp.array2d(dtype=float),
  ten_length_in: wp.array2d(dtype=float),
  cdof_in: wp.array2d(dtype=wp.spatial_vector),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  ne_in: wp.array(dtype=int),
  ncon_in: wp.array(dtype=int),
  contact_dist_in: wp.array2d(dtype=float),
  contact_pos_in: wp.array2d(dtype=wp.vec3),
  contact_frame_in: wp.array2d(dtype=wp.mat33),
  contact_includemargin_in: wp.array2d(dtype=float),
  contact_friction_in: wp.array2d(dtype=_vec5),
  contact_solref_in: wp.array2d(dtype=wp.vec2),
  contact_solreffriction_in: wp.array2d(dtype=wp.vec2),
  contact_solimp_in: wp.array2d(dtype=_vec5),
  contact_dim_in: wp.array2d(dtype=int),
  contact_geom_in: wp.array2d(dtype=wp.vec2i),
  contact_exclude_in: wp.array2d(dtype=int),
  # Data out:
  nefc_out: wp.array(dtype=int),
  efc_type_out: wp.array2d(dtype=int),
  efc_id_out: wp.array2d(dtype=int),
  efc_J_out: wp.array3d(dtype=float),
  efc_pos_out: wp.array2d(dtype=float),
  efc_margin_out: wp.array2d(dtype=float),
  efc_frictionloss_out: wp.array2d(dtype=float),
  efc_R_out: wp.array2d(dtype=float),
  efc_D_out: wp.array2d(dtype=float),
  efc_K_out: wp.array2d(dtype=float),
  efc_B_out: wp.array2d(dtype=float),
  efc_dim_out: wp.array2d(dtype=int),
  efc_coef_out: wp.array2d(dtype=float),
):
  worldid = wp.tid()
  fbank = worldid % dof_frictionloss.shape[0]
  # rows are cleared as they are claimed (below), not over the whole capacity; the
  # equality rows (_equality) come first
  row = ne_in[worldid]

  # dof friction loss
  if enable_friction:
    for dofid in range(nv):
      floss = dof_frictionloss[fbank, dofid]
      if floss > 0.0:
        _clear_rows(worldid, row, 1, nv, efc_J_out)
        efc_J_out[worldid, row, dofid] = 1.0
        _add_row(worldid, row, _FRICTION_DOF, dofid, 0.0, 0.0, floss, dof_invweight0[dofid],
                 dof_solref[dofid], dof_solimp[dofid], timestep, refsafe, 1, efc_type_out, efc_id_out,
                 efc_pos_out, efc_margin_out, efc_frictionloss_out, efc_R_out, efc_K_out, efc_B_out)
        row += 1
    for t in range(ntendon):
      floss = tendon_frictionloss[t]
      if floss > 0.0:
        for i in range(nv):
          efc_J_out[worldid, row, i] = tendon_J[t, i]
        _add_row(worldid, row, _FRICTION_TENDON, t, 0.0, 0.0, floss, tendon_invweight0[t],
                 tendon_solref_fri[t], tendon_solimp_fri[t], timestep, refsafe, 1, efc_type_out,
                 efc_id_out, efc_pos_out, efc_margin_out, efc_frictionloss_out, efc_R_out, efc_K_out,
                 efc_B_out)
        row += 1

  # joint limits
  if enable_limit:
    for jntid in range(njnt):
      if jnt_limited[jntid] == 0:
        continue
      margin = jnt_margin[jntid]
      rng = jnt_range[jntid]
      dofadr = jnt_dofadr[jntid]
      qadr = jnt_qposadr[jntid]
      jtype = jnt_type[jntid]
      if jtype == _BALL:
        q = math.quat_normalize(wp.vec4(qpos_in[worldid, qadr], qpos_in[worldid, qadr + 1],
                                        qpos_in[worldid, qadr + 2], qpos_in[worldid, qadr + 3]))
        axis_angle = math.quat_to_vel(q)
        angle = wp.length(axis_angle)
        axis = wp.vec3(1.0, 0.0, 0.0)
        if angle > 1e-15:
          axis = axis_angle / angle
        dist = wp.max(rng[0], rng[1]) - angle
        if dist < margin:
          _clear_rows(worldid, row, 1, nv, efc_J_out)
          for i in range(3):
            efc_J_out[worldid, row, dofadr + i] = -axis[i]
          _add_row(worldid, row, _LIMIT_JOINT, jntid, dist, margin, 0.0, dof_invweight0[dofadr],
                   jnt_solref[jntid], jnt_solimp[jntid], timestep, refsafe, 0, efc_type_out, efc_id_out,
                   efc_pos_out, efc_margin_out, efc_frictionloss_out, efc_R_out, efc_K_out, efc_B_out)
          row += 1
      elif jtype != _FREE:
        value = qpos_in[worldid, qadr]
        for s in range(2):
          side = float(2 * s - 1)
          dist = side * (rng[s] - value)
          if dist < margin:
            _clear_rows(worldid, row, 1, nv, efc_J_out)
            efc_J_out[worldid, row, dofadr] = -side
            _add_row(worldid, row, _LIMIT_JOINT, jntid, dist, margin, 0.0, dof_invweight0[dofadr],
                     jnt_solref[jntid], jnt_solimp[jntid], timestep, refsafe, 0, efc_type_out,
                     efc_id_out, efc_pos_out, efc_margin_out, efc_frictionloss_out, efc_R_out,
                     efc_K_out, efc_B_out)
            row += 1

    for t in range(ntendon):
      if tendon_limited[t] == 0:
        continue
      rng = tendon_range[t]
      margin = tendon_margin[t]
      value = ten_length_in[worldid, t]
      for s in range(2):
        side = float(2 * s - 1)
        dist = side * (rng[s] - value)
        if dist < margin:
          for i in range(nv):
            efc_J_out[worldid, row, i] = -side * tendon_J[t, i]
          _add_row(worldid, row, _LIMIT_TENDON, t, dist, margin, 0.0, tendon_invweight0[t],
                   tendon_solref_lim[t], tendon_solimp_lim[t], timestep, refsafe, 0, efc_type_out,
                   efc_id_out, efc_pos_out, efc_margin_out, efc_frictionloss_out, efc_R_out,
                   efc_K_out, efc_B_out)
          row += 1

  # contacts (pyramidal cones)
  if enable_contact:
    for conid in range(ncon_in[worldid]):
      dim = contact_dim_in[worldid, conid]
      geom = contact_geom_in[worldid, conid]
      b1 = geom_bodyid[geom[0]]
      b2 = geom_bodyid[geom[1]]
      frame = contact_frame_in[worldid, conid]
      point = contact_pos_in[worldid, conid]
      dist = contact_dist_in[worldid, conid]
      margin = contact_includemargin_in[worldid, conid]
      if contact_exclude_in[worldid, conid]:
        continue  # in the gap: kept as a contact, no constraint (MuJoCo's exclude = 1)
      friction = contact_friction_in[worldid, conid]
      solref = contact_solref_in[worldid, conid]
      solimp = contact_solimp_in[worldid, conid]
      w1 = body_invweight0[b1]
      w2 = body_invweight0[b2]
      tran = w1[0] + w2[0]
      rot = w1[1] + w2[1]
      normal = wp.vec3(frame[0, 0], frame[0, 1], frame[0, 2])
      nrows = dim
      if dim > 1 and elliptic == 0:
        nrows = 2 * (dim - 1)
      if row + nrows > nefc_max:
        break  # cannot happen: capacity covers every contact slot with its largest cone
      _clear_rows(worldid, row, nrows, nv, efc_J_out)
      if dim == 1:
        _point_jac_row(worldid, row, b2, 1.0, point, normal, 0, body_dofend, body_rootid, dof_parentid,
                       cdof_in, subtree_com_in, efc_J_out, 1.0)
        _point_jac_row(worldid, row, b1, -1.0, point, normal, 0, body_dofend, body_rootid, dof_parentid,
                       cdof_in, subtree_com_in, efc_J_out, 1.0)
        _add_row(worldid, row, _CONTACT_FRICTIONLESS, conid, dist, margin, 0.0, tran, solref, solimp,
                 timestep, refsafe, 0, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out,
                 efc_frictionloss_out, efc_R_out, efc_K_out, efc_B_out)
        row += 1
      elif elliptic:
        # rows: normal, then tangential (frame rows 1, 2), torsional and rolling (rotational)
        imp = _impedance(solimp, dist, margin)
        r0 = wp.max(1e-15, (1.0 - imp) * tran / imp)
        r1 = r0 / wp.max(1e-15, impratio)
        solref_f = contact_solreffriction_in[worldid, conid]
        if solref_f[0] == 0.0 and solref_f[1] == 0.0:
          solref_f = solref
        for k in range(dim):
          rotational = int(0)
          fr = k
          if k >= 3:
            rotational = 1
            fr = k - 3
          dvec = wp.vec3(frame[fr, 0], frame[fr, 1], frame[fr, 2])
          _point_jac_row(worldid, row + k, b2, 1.0, point, dvec, rotational, body_dofend, body_rootid,
                         dof_parentid, cdof_in, subtree_com_in, efc_J_out, 1.0)
          _point_jac_row(worldid, row + k, b1, -1.0, point, dvec, rotational, body_dofend, body_rootid,
                         dof_parentid, cdof_in, subtree_com_in, efc_J_out, 1.0)
          if k == 0:
            _add_row(worldid, row, _CONTACT_ELLIPTIC, conid, dist, margin, 0.0, tran, solref, solimp,
                     timestep, refsafe, 0, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out,
                     efc_frictionloss_out, efc_R_out, efc_K_out, efc_B_out)
            efc_R_out[worldid, row] = r0
            efc_dim_out[worldid, row] = dim
            efc_coef_out[worldid, row] = friction[0] * wp.sqrt(r1 / r0)
          else:
            kb = _kb(solref_f, solimp, timestep, refsafe)
            efc_type_out[worldid, row + k] = _CONTACT_ELLIPTIC
            efc_id_out[worldid, row + k] = conid
            efc_pos_out[worldid, row + k] = 0.0
            efc_margin_out[worldid, row + k] = 0.0
            efc_frictionloss_out[worldid, row + k] = 0.0
            efc_K_out[worldid, row + k] = 0.0
            efc_B_out[worldid, row + k] = kb[1]
            efc_R_out[worldid, row + k] = r1 * friction[0] * friction[0] / (friction[k - 1] * friction[k - 1])
            efc_dim_out[worldid, row + k] = 0
            efc_coef_out[worldid, row + k] = friction[k - 1]
        row += dim
      else:
        # R of every facet follows from the first facet's (mj_makeImpedance with impratio)
        imp = _impedance(solimp, dist, margin)
        r0 = wp.max(1e-15, (1.0 - imp) * tran * (1.0 + friction[0] * friction[0]) / imp)
        mu2 = friction[0] * friction[0] / wp.max(1e-15, impratio)
        rpy = 2.0 * mu2 * r0
        for k in range(1, dim):
          # tangent direction k: translational t1, t2; rotational n, t1, t2 for k = 3, 4, 5
          rotational = int(0)
          fr = 1
          if k >= 3:
            rotational = 1
            fr = k - 3
          else:
            fr = k
          d = wp.vec3(frame[fr, 0], frame[fr, 1], frame[fr, 2])
          mu = friction[k - 1]
          for s in range(2):
            sign = 1.0 - 2.0 * float(s)
            _point_jac_row(worldid, row, b2, 1.0, point, normal, 0, body_dofend, body_rootid,
                           dof_parentid, cdof_in, subtree_com_in, efc_J_out, 1.0)
            _point_jac_row(worldid, row, b1, -1.0, point, normal, 0, body_dofend, body_rootid,
                           dof_parentid, cdof_in, subtree_com_in, efc_J_out, 1.0)
            _point_jac_row(worldid, row, b2, 1.0, point, d, rotational, body_dofend, body_rootid,
                           dof_parentid, cdof_in, subtree_com_in, efc_J_out, sign * mu)
            _point_jac_row(worldid, row, b1, -1.0, point, d, rotational, body_dofend, body_rootid,
                           dof_parentid, cdof_in, subtree_com_in, efc_J_out, sign * mu)
            _add_row(worldid, row, _CONTACT_PYRAMIDAL, conid, dist, margin, 0.0, tran, solref, solimp,
                     timestep, refsafe, 0, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out,
                     efc_frictionloss_out, efc_R_out, efc_K_out, efc_B_out)
            efc_R_out[worldid, row] = rpy
            row += 1

  nefc_out[worldid] = row
  for r in range(row):
    efc_D_out[worldid, r] = 1.0 / efc_R_out[worldid, r]


def make_constraint(m: Model, d: Data):
  """mj_makeConstraint: the constraint rows efc_* (nworld, nefc_max, ...) and nefc (nworld,)
  of equality constraints, dof/tendon friction, joint/tendon limits and the contacts in
  d.contact (collision_driver.collision runs first; forward.fwd_position orders them)."""
  if m.opt.disabled(DisableBit.CONSTRAINT):
    d.efc.nefc.zero_()
    return
  c, e = d.contact, d.efc
  opt = m.opt
  refsafe = 0 if opt.disabled(DisableBit.REFSAFE) else 1
  if m.neq and not opt.disabled(DisableBit.EQUALITY):
    wp.launch(_equality, dim=d.nworld, inputs=[
      m.nv, m.neq, opt.timestep, refsafe, m.eq_type, m.eq_obj1id, m.eq_obj2id, m.eq_objtype,
      m.eq_solref, m.eq_solimp, m.eq_data, m.jnt_qposadr, m.jnt_dofadr, m.qpos0, m.dof_invweight0,
      m.dof_parentid, m.body_invweight0, m.body_dofend, m.body_rootid, m.site_bodyid, m.site_quat,
      m.tendon_J, m.tendon_length0, m.tendon_invweight0,
      d.eq_active, d.qpos, d.ten_length, d.xpos, d.xquat, d.xmat, d.site_xpos, d.cdof, d.subtree_com,
    ], outputs=[e.ne, e.efc_type, e.efc_id, e.efc_J, e.efc_pos, e.efc_margin, e.efc_frictionloss,
                e.efc_R, e.efc_K, e.efc_B], device=d.qpos.device)
  else:
    e.ne.zero_()
  wp.launch(_make_constraint, dim=d.nworld, inputs=[
    m.nv, m.njnt, e.nefc_max, opt.timestep, opt.impratio,
    0 if opt.disabled(DisableBit.REFSAFE) else 1, 1 if opt.cone == ConeType.ELLIPTIC else 0,
    0 if opt.disabled(DisableBit.FRICTIONLOSS) else 1,
    0 if opt.disabled(DisableBit.LIMIT) else 1,
    0 if opt.disabled(DisableBit.CONTACT) else 1,
    m.jnt_type, m.jnt_qposadr, m.jnt_dofadr, m.jnt_limited, m.jnt_range, m.jnt_margin,
    m.jnt_solref, m.jnt_solimp, m.dof_frictionloss, m.dof_solref, m.dof_solimp, m.dof_invweight0,
    m.dof_parentid, m.body_invweight0, m.body_dofend, m.body_rootid, m.geom_bodyid,
    m.ntendon, m.tendon_J, m.tendon_limited, m.tendon_range, m.tendon_margin, m.tendon_solref_lim,
    m.tendon_solimp_lim, m.tendon_solref_fri, m.tendon_solimp_fri, m.tendon_frictionloss,
    m.tendon_invweight0, d.qpos, d.ten_length, d.cdof, d.subtree_com, e.ne, c.ncon, c.dist, c.pos, c.frame, c.includemargin, c.friction,
    c.solref, c.solreffriction, c.solimp, c.dim, c.geom, c.exclude,
  ], outputs=[e.nefc, e.efc_type, e.efc_id, e.efc_J, e.efc_pos, e.efc_margin, e.efc_frictionloss,
              e.efc_R, e.efc_D, e.efc_K, e.efc_B, e.efc_dim, e.efc_coef], device=d.qpos.device)


def equality_jdotv(m: Model, d: Data):
  """MuJoCo 4's velocity term of the equality rows' reference acceleration: efc_jdotv
  (nworld, nefc_max) = Jdot qvel of each equality row (read by the solver's aref)."""
  if m.neq and not m.opt.disabled(DisableBit.CONSTRAINT | DisableBit.EQUALITY):
    e = d.efc
    wp.launch(_equality_jdotv, dim=d.nworld, inputs=[
      m.eq_type, m.eq_obj1id, m.eq_obj2id, m.eq_objtype, m.eq_data, m.site_bodyid, m.site_quat,
      m.body_dofend, m.body_rootid, m.dof_parentid, m.dof_bodyid, m.dof_jntid, m.jnt_type, m.jnt_dofadr,
      e.ne, e.efc_id, d.qvel, d.xpos, d.xquat, d.xmat, d.site_xpos, d.cdof, d.cdof_dot, d.cvel,
      d.subtree_com,
    ], outputs=[e.efc_jdotv], device=d.qpos.device)
