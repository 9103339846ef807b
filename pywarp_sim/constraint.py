"""Constraint rows (mj_makeConstraint + mj_makeImpedance): dof friction, joint limits and
contacts as MuJoCo soft constraints, per world, with a fixed row capacity.

Rows are stored densely per world, in MuJoCo's order: dof frictionloss, joint limits,
contacts. efc_J (nworld, nefc_max, nv) holds the Jacobian rows; the first nefc[w] rows
of world w are valid. Pyramidal cones give 2*(condim-1) rows per contact (1 for condim
1); elliptic cones give condim rows (normal, tangential, torsional, rolling).
"""

import dataclasses

import numpy as np
import warp as wp

from . import math
from .types import ConeType, Data, DisableBit, JointType, Model

_vec5 = wp.types.vector(length=5, dtype=wp.float32)

# efc_type values (MuJoCo's mjtConstraint)
CNSTR_FRICTION_DOF = 1
CNSTR_FRICTION_TENDON = 2
CNSTR_LIMIT_JOINT = 3
CNSTR_LIMIT_TENDON = 4
CNSTR_CONTACT_FRICTIONLESS = 5
CNSTR_CONTACT_PYRAMIDAL = 6
CNSTR_CONTACT_ELLIPTIC = 7
_FRICTION_DOF = wp.constant(CNSTR_FRICTION_DOF)
_LIMIT_JOINT = wp.constant(CNSTR_LIMIT_JOINT)
_FRICTION_TENDON = wp.constant(CNSTR_FRICTION_TENDON)
_LIMIT_TENDON = wp.constant(CNSTR_LIMIT_TENDON)
_CONTACT_FRICTIONLESS = wp.constant(CNSTR_CONTACT_FRICTIONLESS)
_CONTACT_PYRAMIDAL = wp.constant(CNSTR_CONTACT_PYRAMIDAL)
_CONTACT_ELLIPTIC = wp.constant(CNSTR_CONTACT_ELLIPTIC)
_BALL = wp.constant(int(JointType.BALL))
_FREE = wp.constant(int(JointType.FREE))
_MINIMP = wp.constant(0.0001)
_MAXIMP = wp.constant(0.9999)


@dataclasses.dataclass
class ConstraintData:
  """Constraint rows and solver state per world (MuJoCo's efc_* fields)."""
  nefc_max: int
  nefc: wp.array            # (nworld,) int: rows in use
  efc_type: wp.array        # (nworld, nefc_max) int: mjtConstraint
  efc_id: wp.array          # (nworld, nefc_max) int: dof, joint or contact index
  efc_J: wp.array           # (nworld, nefc_max, nv) float
  efc_pos: wp.array         # (nworld, nefc_max) float: constraint violation, m or rad
  efc_margin: wp.array      # (nworld, nefc_max) float
  efc_frictionloss: wp.array  # (nworld, nefc_max) float
  efc_D: wp.array           # (nworld, nefc_max) float: 1 / R
  efc_R: wp.array           # (nworld, nefc_max) float: regulariser
  efc_K: wp.array           # (nworld, nefc_max) float: stiffness * impedance (0 for friction)
  efc_B: wp.array           # (nworld, nefc_max) float: damping
  efc_vel: wp.array         # (nworld, nefc_max) float: J qvel
  efc_aref: wp.array        # (nworld, nefc_max) float: reference acceleration
  efc_force: wp.array       # (nworld, nefc_max) float: constraint force
  efc_dim: wp.array         # (nworld, nefc_max) int: condim on the first row of an elliptic contact
  efc_coef: wp.array        # (nworld, nefc_max) float: elliptic cone: mu (first row), friction[j-1]
  efc_cone_H: wp.array      # (nworld, nefc_max, 6) float: elliptic cone Hessian block rows (solver)
  efc_state: wp.array       # (nworld, nefc_max) int: 0 satisfied, 1 quadratic, 2 linear, 3 cone
  pgs_MinvJ: wp.array       # (nworld * 6, nv) float: PGS scratch, M^-1 J' of an elliptic block
  efc_jv: wp.array          # (nworld, nefc_max) float: solver scratch J * search
  efc_jar: wp.array         # (nworld, nefc_max) float: solver scratch J qacc - aref
  H: wp.array               # (nworld, nv, nv) float: solver Hessian / Cholesky factor
  grad: wp.array            # (nworld, nv)
  Mgrad: wp.array           # (nworld, nv)
  search: wp.array          # (nworld, nv)
  Ma: wp.array              # (nworld, nv): M qacc
  solver_niter: wp.array    # (nworld,) int
  converged: wp.array       # (nworld,) int


def rows_capacity(m: Model) -> int:
  """Worst-case rows per world: every frictional dof, every limit side, every contact slot
  with its largest pyramid."""
  mjm = m.mj_model
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
  return max(nfric + nlim + ncon * rows_per_contact, 1)


def make_constraint_data(m: Model, nworld: int, device) -> ConstraintData:
  n = rows_capacity(m)
  nv = max(m.nv, 1)

  def z(shape, dtype=wp.float32):
    return wp.zeros(shape, dtype=dtype, device=device)

  return ConstraintData(
    nefc_max=n, nefc=z(nworld, wp.int32), efc_type=z((nworld, n), wp.int32),
    efc_id=z((nworld, n), wp.int32), efc_J=z((nworld, n, nv)), efc_pos=z((nworld, n)),
    efc_margin=z((nworld, n)), efc_frictionloss=z((nworld, n)), efc_D=z((nworld, n)),
    efc_R=z((nworld, n)), efc_K=z((nworld, n)), efc_B=z((nworld, n)), efc_vel=z((nworld, n)),
    efc_aref=z((nworld, n)), efc_force=z((nworld, n)), efc_dim=z((nworld, n), wp.int32),
    efc_coef=z((nworld, n)), efc_cone_H=z((nworld, n, 6)), efc_state=z((nworld, n), wp.int32),
    pgs_MinvJ=z((nworld * 6, nv)),
    efc_jv=z((nworld, n)),
    efc_jar=z((nworld, n)), H=z((nworld, nv, nv)), grad=z((nworld, nv)), Mgrad=z((nworld, nv)),
    search=z((nworld, nv)), Ma=z((nworld, nv)), solver_niter=z(nworld, wp.int32),
    converged=z(nworld, wp.int32),
  )


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
  # rows are cleared as they are claimed (below), not over the whole capacity
  row = int(0)

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


def fwd_position(m: Model, d: Data):
  """Collision detection and constraint rows (efc_*) for the current positions."""
  if m.opt.disabled(DisableBit.CONSTRAINT):
    d.efc.nefc.zero_()
    return
  from . import collision_driver
  collision_driver.collision(m, d)
  c, e = d.contact, d.efc
  opt = m.opt
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
    m.tendon_invweight0, d.qpos, d.ten_length, d.cdof, d.subtree_com, c.ncon, c.dist, c.pos, c.frame, c.includemargin, c.friction,
    c.solref, c.solreffriction, c.solimp, c.dim, c.geom, c.exclude,
  ], outputs=[e.nefc, e.efc_type, e.efc_id, e.efc_J, e.efc_pos, e.efc_margin, e.efc_frictionloss,
              e.efc_R, e.efc_D, e.efc_K, e.efc_B, e.efc_dim, e.efc_coef])


def fwd_constraint(m: Model, d: Data):
  """Solves the constraint problem: qacc, qfrc_constraint (nworld, nv) and efc_force."""
  from . import solver
  solver.solve(m, d)
