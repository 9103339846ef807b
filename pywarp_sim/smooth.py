"""Smooth dynamics: kinematics, com quantities, mass matrix, bias forces.
Twin of kernels/smooth.h.

The MuJoCo stages mj_kinematics, mj_comPos, mj_comVel, mj_crb, mj_factorM,
mj_solveM, mj_rne and mj_transmission, batched over worlds. Passes that follow
the kinematic tree run one thread per world over bodies in index order (MuJoCo
orders bodies so that a parent comes before its children); independent passes
run over (world, element) grids.
"""

import warp as wp

from . import math, support
from .types import DisableBit, JointType, Model, Data, vec10

_FREE = wp.constant(int(JointType.FREE))
_BALL = wp.constant(int(JointType.BALL))
_SLIDE = wp.constant(int(JointType.SLIDE))
_HINGE = wp.constant(int(JointType.HINGE))
_TRN_TENDON = wp.constant(3)  # mjTRN_TENDON


@wp.kernel
def _kinematics(
  # Model:
  nbody: int,
  body_parentid: wp.array(dtype=int),
  body_jntnum: wp.array(dtype=int),
  body_jntadr: wp.array(dtype=int),
  body_pos: wp.array(dtype=wp.vec3),
  body_quat: wp.array(dtype=wp.vec4),
  body_ipos: wp.array2d(dtype=wp.vec3),
  body_iquat: wp.array(dtype=wp.vec4),
  jnt_type: wp.array(dtype=int),
  jnt_qposadr: wp.array(dtype=int),
  jnt_pos: wp.array(dtype=wp.vec3),
  jnt_axis: wp.array(dtype=wp.vec3),
  qpos0: wp.array(dtype=float),
  # Data in:
  qpos_in: wp.array2d(dtype=float),
  # Data out:
  xpos_out: wp.array2d(dtype=wp.vec3),
  xquat_out: wp.array2d(dtype=wp.vec4),
  xmat_out: wp.array2d(dtype=wp.mat33),
  xipos_out: wp.array2d(dtype=wp.vec3),
  ximat_out: wp.array2d(dtype=wp.mat33),
  xanchor_out: wp.array2d(dtype=wp.vec3),
  xaxis_out: wp.array2d(dtype=wp.vec3),
):
  worldid = wp.tid()
  bank = worldid % body_ipos.shape[0]
  xpos_out[worldid, 0] = wp.vec3(0.0)
  xquat_out[worldid, 0] = wp.vec4(1.0, 0.0, 0.0, 0.0)
  xmat_out[worldid, 0] = wp.identity(3, dtype=float)
  xipos_out[worldid, 0] = wp.vec3(0.0)
  ximat_out[worldid, 0] = wp.identity(3, dtype=float)

  for bodyid in range(1, nbody):
    pid = body_parentid[bodyid]
    xpos = xpos_out[worldid, pid] + xmat_out[worldid, pid] @ body_pos[bodyid]
    xquat = math.quat_mul(xquat_out[worldid, pid], body_quat[bodyid])

    jntadr = body_jntadr[bodyid]
    for jntid in range(jntadr, jntadr + body_jntnum[bodyid]):
      qadr = jnt_qposadr[jntid]
      jtype = jnt_type[jntid]
      if jtype == _FREE:
        xpos = wp.vec3(qpos_in[worldid, qadr], qpos_in[worldid, qadr + 1], qpos_in[worldid, qadr + 2])
        xquat = math.quat_normalize(wp.vec4(qpos_in[worldid, qadr + 3], qpos_in[worldid, qadr + 4],
                                            qpos_in[worldid, qadr + 5], qpos_in[worldid, qadr + 6]))
        xanchor_out[worldid, jntid] = xpos
        xaxis_out[worldid, jntid] = jnt_axis[jntid]
      else:
        xanchor = math.rot_vec_quat(jnt_pos[jntid], xquat) + xpos
        xaxis = math.rot_vec_quat(jnt_axis[jntid], xquat)
        xanchor_out[worldid, jntid] = xanchor
        xaxis_out[worldid, jntid] = xaxis
        if jtype == _SLIDE:
          xpos = xpos + xaxis * (qpos_in[worldid, qadr] - qpos0[qadr])
        else:
          qloc = wp.vec4(1.0, 0.0, 0.0, 0.0)
          if jtype == _BALL:
            qloc = math.quat_normalize(wp.vec4(qpos_in[worldid, qadr], qpos_in[worldid, qadr + 1],
                                               qpos_in[worldid, qadr + 2], qpos_in[worldid, qadr + 3]))
          else:
            qloc = math.axis_angle_to_quat(jnt_axis[jntid], qpos_in[worldid, qadr] - qpos0[qadr])
          xquat = math.quat_mul(xquat, qloc)
          xpos = xanchor - math.rot_vec_quat(jnt_pos[jntid], xquat)

    xquat = math.quat_normalize(xquat)
    xmat = math.quat_to_mat(xquat)
    xpos_out[worldid, bodyid] = xpos
    xquat_out[worldid, bodyid] = xquat
    xmat_out[worldid, bodyid] = xmat
    xipos_out[worldid, bodyid] = xpos + xmat @ body_ipos[bank, bodyid]
    ximat_out[worldid, bodyid] = math.quat_to_mat(math.quat_mul(xquat, body_iquat[bodyid]))


@wp.kernel
def _frame_poses(
  # Model:
  obj_bodyid: wp.array(dtype=int),
  obj_pos: wp.array(dtype=wp.vec3),
  obj_quat: wp.array(dtype=wp.vec4),
  # Data in:
  xpos_in: wp.array2d(dtype=wp.vec3),
  xquat_in: wp.array2d(dtype=wp.vec4),
  # Data out:
  obj_xpos_out: wp.array2d(dtype=wp.vec3),
  obj_xmat_out: wp.array2d(dtype=wp.mat33),
):
  """Geom or site frames in world coordinates (mj_local2Global)."""
  worldid, objid = wp.tid()
  bodyid = obj_bodyid[objid]
  xquat = xquat_in[worldid, bodyid]
  obj_xpos_out[worldid, objid] = xpos_in[worldid, bodyid] + math.rot_vec_quat(obj_pos[objid], xquat)
  obj_xmat_out[worldid, objid] = math.quat_to_mat(math.quat_normalize(math.quat_mul(xquat, obj_quat[objid])))


def kinematics(m: Model, d: Data):
  """mj_kinematics: xpos, xquat, xmat, xipos, ximat, xanchor, xaxis, geom and site frames.

  Reads qpos (nworld, nq); writes body frames (nworld, nbody), joint frames
  (nworld, njnt), geom_xpos/geom_xmat (nworld, ngeom), site_xpos/site_xmat (nworld, nsite).
  """
  wp.launch(_kinematics, dim=d.nworld, inputs=[
    m.nbody, m.body_parentid, m.body_jntnum, m.body_jntadr, m.body_pos, m.body_quat, m.body_ipos,
    m.body_iquat, m.jnt_type, m.jnt_qposadr, m.jnt_pos, m.jnt_axis, m.qpos0, d.qpos,
  ], outputs=[d.xpos, d.xquat, d.xmat, d.xipos, d.ximat, d.xanchor, d.xaxis], device=d.qpos.device)
  if m.ngeom:
    wp.launch(_frame_poses, dim=(d.nworld, m.ngeom),
              inputs=[m.geom_bodyid, m.geom_pos, m.geom_quat, d.xpos, d.xquat],
              outputs=[d.geom_xpos, d.geom_xmat], device=d.qpos.device)
  if m.nsite:
    wp.launch(_frame_poses, dim=(d.nworld, m.nsite),
              inputs=[m.site_bodyid, m.site_pos, m.site_quat, d.xpos, d.xquat],
              outputs=[d.site_xpos, d.site_xmat], device=d.qpos.device)


@wp.kernel
def _subtree_com(
  # Model:
  nbody: int,
  body_parentid: wp.array(dtype=int),
  body_mass: wp.array2d(dtype=float),
  # Data in:
  xipos_in: wp.array2d(dtype=wp.vec3),
  # Data out:
  subtree_com_out: wp.array2d(dtype=wp.vec3),
  subtree_mass_out: wp.array2d(dtype=float),
):
  worldid = wp.tid()
  bank = worldid % body_mass.shape[0]
  for bodyid in range(nbody):
    mass = body_mass[bank, bodyid]
    subtree_com_out[worldid, bodyid] = xipos_in[worldid, bodyid] * mass
    subtree_mass_out[worldid, bodyid] = mass
  for i in range(nbody - 1):
    bodyid = nbody - 1 - i
    pid = body_parentid[bodyid]
    subtree_com_out[worldid, pid] = subtree_com_out[worldid, pid] + subtree_com_out[worldid, bodyid]
    subtree_mass_out[worldid, pid] = subtree_mass_out[worldid, pid] + subtree_mass_out[worldid, bodyid]
  for bodyid in range(nbody):
    mass = subtree_mass_out[worldid, bodyid]
    if mass < 1e-15:
      subtree_com_out[worldid, bodyid] = xipos_in[worldid, bodyid]
    else:
      subtree_com_out[worldid, bodyid] = subtree_com_out[worldid, bodyid] / mass


@wp.kernel
def _cinert(
  # Model:
  body_rootid: wp.array(dtype=int),
  body_mass: wp.array2d(dtype=float),
  body_inertia: wp.array2d(dtype=wp.vec3),
  # Data in:
  xipos_in: wp.array2d(dtype=wp.vec3),
  ximat_in: wp.array2d(dtype=wp.mat33),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  # Data out:
  cinert_out: wp.array2d(dtype=vec10),
):
  worldid, bodyid = wp.tid()
  bank = worldid % body_mass.shape[0]
  dif = xipos_in[worldid, bodyid] - subtree_com_in[worldid, body_rootid[bodyid]]
  cinert_out[worldid, bodyid] = math.inert_com(
    body_inertia[bank, bodyid], ximat_in[worldid, bodyid], dif, body_mass[bank, bodyid])


@wp.kernel
def _cdof(
  # Model:
  jnt_type: wp.array(dtype=int),
  jnt_bodyid: wp.array(dtype=int),
  jnt_dofadr: wp.array(dtype=int),
  body_rootid: wp.array(dtype=int),
  # Data in:
  xmat_in: wp.array2d(dtype=wp.mat33),
  xanchor_in: wp.array2d(dtype=wp.vec3),
  xaxis_in: wp.array2d(dtype=wp.vec3),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  # Data out:
  cdof_out: wp.array2d(dtype=wp.spatial_vector),
):
  worldid, jntid = wp.tid()
  bodyid = jnt_bodyid[jntid]
  dofadr = jnt_dofadr[jntid]
  offset = subtree_com_in[worldid, body_rootid[bodyid]] - xanchor_in[worldid, jntid]
  jtype = jnt_type[jntid]
  if jtype == _FREE:
    for i in range(3):
      lin = wp.vec3(0.0)
      lin[i] = 1.0
      cdof_out[worldid, dofadr + i] = math.spatial(wp.vec3(0.0), lin)
    dofadr += 3
  if jtype == _FREE or jtype == _BALL:
    xmat = xmat_in[worldid, bodyid]
    for i in range(3):
      axis = wp.vec3(xmat[0, i], xmat[1, i], xmat[2, i])
      cdof_out[worldid, dofadr + i] = math.dof_com(axis, offset)
  elif jtype == _SLIDE:
    cdof_out[worldid, dofadr] = math.spatial(wp.vec3(0.0), xaxis_in[worldid, jntid])
  else:
    cdof_out[worldid, dofadr] = math.dof_com(xaxis_in[worldid, jntid], offset)


def com_pos(m: Model, d: Data):
  """mj_comPos: subtree_com (nworld, nbody), cinert (nworld, nbody), cdof (nworld, nv)."""
  wp.launch(_subtree_com, dim=d.nworld, inputs=[m.nbody, m.body_parentid, m.body_mass, d.xipos],
            outputs=[d.subtree_com, d.subtree_mass], device=d.qpos.device)
  wp.launch(_cinert, dim=(d.nworld, m.nbody),
            inputs=[m.body_rootid, m.body_mass, m.body_inertia, d.xipos, d.ximat, d.subtree_com],
            outputs=[d.cinert], device=d.qpos.device)
  if m.njnt:
    wp.launch(_cdof, dim=(d.nworld, m.njnt),
              inputs=[m.jnt_type, m.jnt_bodyid, m.jnt_dofadr, m.body_rootid, d.xmat, d.xanchor,
                      d.xaxis, d.subtree_com], outputs=[d.cdof], device=d.qpos.device)


@wp.kernel
def _com_vel(
  # Model:
  nbody: int,
  body_parentid: wp.array(dtype=int),
  body_jntnum: wp.array(dtype=int),
  body_jntadr: wp.array(dtype=int),
  jnt_type: wp.array(dtype=int),
  jnt_dofadr: wp.array(dtype=int),
  # Data in:
  qvel_in: wp.array2d(dtype=float),
  cdof_in: wp.array2d(dtype=wp.spatial_vector),
  # Data out:
  cvel_out: wp.array2d(dtype=wp.spatial_vector),
  cdof_dot_out: wp.array2d(dtype=wp.spatial_vector),
):
  worldid = wp.tid()
  cvel_out[worldid, 0] = wp.spatial_vector()
  for bodyid in range(1, nbody):
    cvel = cvel_out[worldid, body_parentid[bodyid]]
    jntadr = body_jntadr[bodyid]
    for jntid in range(jntadr, jntadr + body_jntnum[bodyid]):
      dofadr = jnt_dofadr[jntid]
      jtype = jnt_type[jntid]
      if jtype == _FREE:
        for i in range(3):
          cdof_dot_out[worldid, dofadr + i] = wp.spatial_vector()
          cvel += cdof_in[worldid, dofadr + i] * qvel_in[worldid, dofadr + i]
        dofadr += 3
      if jtype == _FREE or jtype == _BALL:
        # all three rotational cdof_dot use the velocity before this joint's rotation
        for i in range(3):
          cdof_dot_out[worldid, dofadr + i] = math.cross_motion(cvel, cdof_in[worldid, dofadr + i])
        for i in range(3):
          cvel += cdof_in[worldid, dofadr + i] * qvel_in[worldid, dofadr + i]
      else:
        cdof_dot_out[worldid, dofadr] = math.cross_motion(cvel, cdof_in[worldid, dofadr])
        cvel += cdof_in[worldid, dofadr] * qvel_in[worldid, dofadr]
    cvel_out[worldid, bodyid] = cvel


def com_vel(m: Model, d: Data):
  """mj_comVel: cvel (nworld, nbody) and cdof_dot (nworld, nv)."""
  wp.launch(_com_vel, dim=d.nworld, inputs=[
    m.nbody, m.body_parentid, m.body_jntnum, m.body_jntadr, m.jnt_type, m.jnt_dofadr, d.qvel, d.cdof,
  ], outputs=[d.cvel, d.cdof_dot], device=d.qpos.device)


@wp.kernel
def _crb(
  # Model:
  nbody: int,
  nv: int,
  body_parentid: wp.array(dtype=int),
  dof_bodyid: wp.array(dtype=int),
  dof_parentid: wp.array(dtype=int),
  dof_armature: wp.array2d(dtype=float),
  # Data in:
  cinert_in: wp.array2d(dtype=vec10),
  cdof_in: wp.array2d(dtype=wp.spatial_vector),
  # Data out:
  crb_out: wp.array2d(dtype=vec10),
  qM_out: wp.array3d(dtype=float),
):
  worldid = wp.tid()
  bank = worldid % dof_armature.shape[0]
  for bodyid in range(nbody):
    crb_out[worldid, bodyid] = cinert_in[worldid, bodyid]
  for i in range(nbody - 1):
    bodyid = nbody - 1 - i
    pid = body_parentid[bodyid]
    if pid > 0:
      crb_out[worldid, pid] = crb_out[worldid, pid] + crb_out[worldid, bodyid]
  for i in range(nv):
    for j in range(nv):
      qM_out[worldid, i, j] = 0.0
  for i in range(nv):
    buf = math.mul_inert_vec(crb_out[worldid, dof_bodyid[i]], cdof_in[worldid, i])
    j = i
    while j >= 0:
      mij = wp.dot(cdof_in[worldid, j], buf)
      qM_out[worldid, i, j] = mij
      qM_out[worldid, j, i] = mij
      j = dof_parentid[j]
    qM_out[worldid, i, i] += dof_armature[bank, i]


def crb(m: Model, d: Data):
  """mj_crb: composite inertias crb (nworld, nbody) and the dense joint-space inertia
  qM (nworld, nv, nv), kg m^2, armature on the diagonal."""
  wp.launch(_crb, dim=d.nworld, inputs=[
    m.nbody, m.nv, m.body_parentid, m.dof_bodyid, m.dof_parentid, m.dof_armature, d.cinert, d.cdof,
  ], outputs=[d.crb, d.qM], device=d.qpos.device)


@wp.func
def factor_tree(worldid: int, nv: int, dof_parentid: wp.array(dtype=int),
                qLD: wp.array3d(dtype=float), qLDiagInv: wp.array2d(dtype=float)):
  """In-place L'DL factorisation of a matrix with tree sparsity (mj_factorI).

  Only entries (i, j) with j an ancestor-or-self of i are read and written, so
  the cost is O(nv * depth^2) although storage is dense.
  """
  for r in range(nv):
    k = nv - 1 - r
    i = dof_parentid[k]
    while i >= 0:
      tmp = qLD[worldid, k, i] / qLD[worldid, k, k]
      j = i
      while j >= 0:
        qLD[worldid, i, j] = qLD[worldid, i, j] - tmp * qLD[worldid, k, j]
        j = dof_parentid[j]
      qLD[worldid, k, i] = tmp
      i = dof_parentid[i]
  for k in range(nv):
    qLDiagInv[worldid, k] = 1.0 / qLD[worldid, k, k]


@wp.kernel
def _factor_m(
  # Model:
  nv: int,
  dof_parentid: wp.array(dtype=int),
  # Data in:
  qM_in: wp.array3d(dtype=float),
  # Data out:
  qLD_out: wp.array3d(dtype=float),
  qLDiagInv_out: wp.array2d(dtype=float),
):
  worldid = wp.tid()
  for i in range(nv):
    for j in range(nv):
      qLD_out[worldid, i, j] = qM_in[worldid, i, j]
  factor_tree(worldid, nv, dof_parentid, qLD_out, qLDiagInv_out)


def factor_m(m: Model, d: Data):
  """mj_factorM: qLD (nworld, nv, nv) and qLDiagInv (nworld, nv) from qM."""
  wp.launch(_factor_m, dim=d.nworld, inputs=[m.nv, m.dof_parentid, d.qM],
            outputs=[d.qLD, d.qLDiagInv], device=d.qpos.device)


@wp.kernel
def _solve_ld(
  # Model:
  nv: int,
  dof_parentid: wp.array(dtype=int),
  # Data in:
  qLD_in: wp.array3d(dtype=float),
  qLDiagInv_in: wp.array2d(dtype=float),
  vec_in: wp.array2d(dtype=float),
  # Data out:
  res_out: wp.array2d(dtype=float),
):
  worldid = wp.tid()
  for i in range(nv):
    res_out[worldid, i] = vec_in[worldid, i]
  support.solve_tree(worldid, nv, dof_parentid, qLD_in, qLDiagInv_in, res_out)


def solve_m(m: Model, d: Data, res: wp.array, vec: wp.array):
  """mj_solveM: res = qM^-1 vec for every world, both (nworld, nv); res may alias vec."""
  wp.launch(_solve_ld, dim=d.nworld, inputs=[m.nv, m.dof_parentid, d.qLD, d.qLDiagInv, vec],
            outputs=[res], device=d.qpos.device)


@wp.kernel
def _rne(
  # Model:
  nbody: int,
  nv: int,
  body_parentid: wp.array(dtype=int),
  body_dofnum: wp.array(dtype=int),
  body_dofadr: wp.array(dtype=int),
  dof_bodyid: wp.array(dtype=int),
  gravity: wp.array(dtype=wp.vec3),
  gravity_enabled: int,
  # Data in:
  qvel_in: wp.array2d(dtype=float),
  cinert_in: wp.array2d(dtype=vec10),
  cvel_in: wp.array2d(dtype=wp.spatial_vector),
  cdof_in: wp.array2d(dtype=wp.spatial_vector),
  cdof_dot_in: wp.array2d(dtype=wp.spatial_vector),
  # Data out:
  cacc_out: wp.array2d(dtype=wp.spatial_vector),
  cfrc_out: wp.array2d(dtype=wp.spatial_vector),
  qfrc_bias_out: wp.array2d(dtype=float),
):
  worldid = wp.tid()
  g = wp.vec3(0.0)
  if gravity_enabled:
    g = gravity[worldid % gravity.shape[0]]
  cacc_out[worldid, 0] = math.spatial(wp.vec3(0.0), -g)
  cfrc_out[worldid, 0] = wp.spatial_vector()
  for bodyid in range(1, nbody):
    cacc = cacc_out[worldid, body_parentid[bodyid]]
    dofadr = body_dofadr[bodyid]
    for dofid in range(dofadr, dofadr + body_dofnum[bodyid]):
      cacc += cdof_dot_in[worldid, dofid] * qvel_in[worldid, dofid]
    cacc_out[worldid, bodyid] = cacc
    cinert = cinert_in[worldid, bodyid]
    cvel = cvel_in[worldid, bodyid]
    cfrc_out[worldid, bodyid] = math.mul_inert_vec(cinert, cacc) + math.cross_force(
      cvel, math.mul_inert_vec(cinert, cvel))
  for i in range(nbody - 1):
    bodyid = nbody - 1 - i
    pid = body_parentid[bodyid]
    if pid > 0:
      cfrc_out[worldid, pid] = cfrc_out[worldid, pid] + cfrc_out[worldid, bodyid]
  for dofid in range(nv):
    qfrc_bias_out[worldid, dofid] = wp.dot(cdof_in[worldid, dofid], cfrc_out[worldid, dof_bodyid[dofid]])


def rne(m: Model, d: Data):
  """mj_rne without acceleration: qfrc_bias (nworld, nv) = Coriolis, centrifugal and
  gravity forces, N or N m."""
  gravity_enabled = 0 if m.opt.disabled(DisableBit.GRAVITY) else 1
  wp.launch(_rne, dim=d.nworld, inputs=[
    m.nbody, m.nv, m.body_parentid, m.body_dofnum, m.body_dofadr, m.dof_bodyid, m.opt.gravity,
    gravity_enabled, d.qvel, d.cinert, d.cvel, d.cdof, d.cdof_dot,
  ], outputs=[d.cacc, d.cfrc_int, d.qfrc_bias], device=d.qpos.device)


@wp.kernel
def _transmission(
  # Model:
  actuator_trntype: wp.array(dtype=int),
  actuator_trnid: wp.array(dtype=int),
  actuator_gear: wp.array2d(dtype=float),
  jnt_qposadr: wp.array(dtype=int),
  jnt_dofadr: wp.array(dtype=int),
  # Data in:
  qpos_in: wp.array2d(dtype=float),
  qvel_in: wp.array2d(dtype=float),
  ten_length_in: wp.array2d(dtype=float),
  ten_velocity_in: wp.array2d(dtype=float),
  # Data out:
  actuator_length_out: wp.array2d(dtype=float),
  actuator_velocity_out: wp.array2d(dtype=float),
):
  worldid, actid = wp.tid()
  gear = actuator_gear[worldid % actuator_gear.shape[0], actid]
  trnid = actuator_trnid[actid]
  if actuator_trntype[actid] == _TRN_TENDON:
    actuator_length_out[worldid, actid] = ten_length_in[worldid, trnid] * gear
    actuator_velocity_out[worldid, actid] = ten_velocity_in[worldid, trnid] * gear
  else:
    actuator_length_out[worldid, actid] = qpos_in[worldid, jnt_qposadr[trnid]] * gear
    actuator_velocity_out[worldid, actid] = qvel_in[worldid, jnt_dofadr[trnid]] * gear


def transmission(m: Model, d: Data):
  """mj_transmission for joint (hinge/slide) and fixed-tendon transmissions: actuator_length
  and actuator_velocity (nworld, nu). The moment arm is gear on the joint's dof, or gear *
  tendon_J for a tendon."""
  if m.nu:
    wp.launch(_transmission, dim=(d.nworld, m.nu), inputs=[
      m.actuator_trntype, m.actuator_trnid, m.actuator_gear, m.jnt_qposadr, m.jnt_dofadr, d.qpos,
      d.qvel, d.ten_length, d.ten_velocity,
    ], outputs=[d.actuator_length, d.actuator_velocity], device=d.qpos.device)


@wp.kernel
def _tendon(
  # Model:
  nv: int,
  tendon_adr: wp.array(dtype=int),
  tendon_num: wp.array(dtype=int),
  wrap_jnt: wp.array(dtype=int),
  wrap_prm: wp.array(dtype=float),
  jnt_qposadr: wp.array(dtype=int),
  tendon_J: wp.array2d(dtype=float),
  # Data in:
  qpos_in: wp.array2d(dtype=float),
  qvel_in: wp.array2d(dtype=float),
  # Data out:
  ten_length_out: wp.array2d(dtype=float),
  ten_velocity_out: wp.array2d(dtype=float),
):
  worldid, tenid = wp.tid()
  length = float(0.0)
  adr = tendon_adr[tenid]
  for w in range(adr, adr + tendon_num[tenid]):
    length += wrap_prm[w] * qpos_in[worldid, jnt_qposadr[wrap_jnt[w]]]
  velocity = float(0.0)
  for i in range(nv):
    velocity += tendon_J[tenid, i] * qvel_in[worldid, i]
  ten_length_out[worldid, tenid] = length
  ten_velocity_out[worldid, tenid] = velocity


def tendon(m: Model, d: Data):
  """mj_tendon for fixed tendons: ten_length and ten_velocity (nworld, ntendon); the
  Jacobian m.tendon_J (ntendon, nv) is constant."""
  if m.ntendon:
    wp.launch(_tendon, dim=(d.nworld, m.ntendon), inputs=[
      m.nv, m.tendon_adr, m.tendon_num, m.wrap_jnt, m.wrap_prm, m.jnt_qposadr, m.tendon_J,
      d.qpos, d.qvel], outputs=[d.ten_length, d.ten_velocity], device=d.qpos.device)
