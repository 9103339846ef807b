"""Equality constraint rows (mj_instantiateEquality + mj_makeImpedance) and their velocity
term Jdot qvel (MuJoCo 4's mj_Jdotv in the reference acceleration): connect (3 rows), weld
(6), joint and tendon (1) for each active constraint, the first ne[w] rows of world w,
before the rows of constraint.py (MuJoCo's order). Twin of kernels/equality.h.
"""

import warp as wp

from . import math
from .support import add_row, clear_rows, point_jac_row
from .types import ConstraintType, Data, DisableBit, EqType, JointType, Model, vec5

_EQUALITY = wp.constant(int(ConstraintType.EQUALITY))
_BALL = wp.constant(int(JointType.BALL))
_FREE = wp.constant(int(JointType.FREE))
_EQ_CONNECT = wp.constant(int(EqType.CONNECT))
_EQ_WELD = wp.constant(int(EqType.WELD))
_EQ_JOINT = wp.constant(int(EqType.JOINT))
_OBJ_SITE = wp.constant(6)  # mjOBJ_SITE (eq_objtype of site-referenced connect/weld)


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
  eq_solimp: wp.array(dtype=vec5),
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
      clear_rows(worldid, row, nrows, nv, efc_J_out)
      # Jacobian difference (opposite of contacts): point on object 1 minus point on object 2
      for k in range(3):
        e = wp.vec3(0.0)
        e[k] = 1.0
        point_jac_row(worldid, row + k, b1, 1.0, p1, e, 0, body_dofend, body_rootid, dof_parentid, cdof_in,
                      subtree_com_in, efc_J_out, 1.0)
        point_jac_row(worldid, row + k, b2, -1.0, p2, e, 0, body_dofend, body_rootid, dof_parentid, cdof_in,
                      subtree_com_in, efc_J_out, 1.0)
      w1 = body_invweight0[b1]
      w2 = body_invweight0[b2]
      crot = wp.vec3(0.0)
      if eqtype == _EQ_WELD:
        torquescale = eq_data[eqid, 10]
        for k in range(3):
          e = wp.vec3(0.0)
          e[k] = 1.0
          point_jac_row(worldid, row + 3 + k, b1, 1.0, p1, e, 1, body_dofend, body_rootid, dof_parentid, cdof_in,
                        subtree_com_in, efc_J_out, 1.0)
          point_jac_row(worldid, row + 3 + k, b2, -1.0, p2, e, 1, body_dofend, body_rootid, dof_parentid, cdof_in,
                        subtree_com_in, efc_J_out, 1.0)
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
        add_row(worldid, row + k, _EQUALITY, eqid, norm, 0.0, 0.0, diag, solref, solimp, timestep, refsafe, 0,
                efc_type_out, efc_id_out, efc_pos_out, efc_margin_out, efc_frictionloss_out, efc_R_out, efc_K_out,
                efc_B_out)
        efc_pos_out[worldid, row + k] = pos
    else:
      # joint or tendon: pos1 - ref1 - poly(pos2 - ref2) with polycoef eq_data[0:5]
      clear_rows(worldid, row, 1, nv, efc_J_out)
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
      add_row(worldid, row, _EQUALITY, eqid, err, 0.0, 0.0, diag, solref, solimp, timestep, refsafe, 0, efc_type_out,
              efc_id_out, efc_pos_out, efc_margin_out, efc_frictionloss_out, efc_R_out, efc_K_out, efc_B_out)
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


def make_equality(m: Model, d: Data):
  """mj_instantiateEquality: the rows of the active equality constraints, the first ne
  (nworld,) rows of efc_* (nworld, nefc_max, ...); ne = 0 without them. forward.fwd_position
  runs it before constraint.make_constraint, which appends the other rows (MuJoCo's order)."""
  if m.opt.disabled(DisableBit.CONSTRAINT):
    return  # no rows at all: constraint.make_constraint sets nefc = 0
  e = d.efc
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
