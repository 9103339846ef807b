"""Constraint rows (mj_makeConstraint + mj_makeImpedance): dof and tendon friction, joint and
tendon limits and contacts as MuJoCo soft constraints, per world, with a fixed row capacity.
Twin of kernels/constraint.h.

Rows are stored densely per world, in MuJoCo's order: equality (connect 3 rows, weld 6,
joint and tendon 1, for each active constraint: equality.py, the first ne[w] rows), dof and
tendon frictionloss, limits, contacts. efc_J (nworld, nefc_max, nv) holds the Jacobian rows;
the first nefc[w] rows of world w are valid (the arrays: types.ConstraintData; nefc_max:
io.rows_capacity). Pyramidal cones give 2*(condim-1) rows per contact (1 for condim 1);
elliptic cones give condim rows (normal, tangential, torsional, rolling). The impedance and the
row writer are shared with equality.py through support.py.
"""

import warp as wp

from . import math
from .support import add_row, clear_rows, impedance, impedance_kb, point_jac_row
from .types import ConeType, ConstraintType, Data, DisableBit, JointType, Model, vec5

# efc_type values (MuJoCo's mjtConstraint)
_FRICTION_DOF = wp.constant(int(ConstraintType.FRICTION_DOF))
_LIMIT_JOINT = wp.constant(int(ConstraintType.LIMIT_JOINT))
_FRICTION_TENDON = wp.constant(int(ConstraintType.FRICTION_TENDON))
_LIMIT_TENDON = wp.constant(int(ConstraintType.LIMIT_TENDON))
_CONTACT_FRICTIONLESS = wp.constant(int(ConstraintType.CONTACT_FRICTIONLESS))
_CONTACT_PYRAMIDAL = wp.constant(int(ConstraintType.CONTACT_PYRAMIDAL))
_CONTACT_ELLIPTIC = wp.constant(int(ConstraintType.CONTACT_ELLIPTIC))
_BALL = wp.constant(int(JointType.BALL))
_FREE = wp.constant(int(JointType.FREE))


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
  jnt_solimp: wp.array(dtype=vec5),
  dof_frictionloss: wp.array2d(dtype=float),
  dof_solref: wp.array(dtype=wp.vec2),
  dof_solimp: wp.array(dtype=vec5),
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
  tendon_solimp_lim: wp.array(dtype=vec5),
  tendon_solref_fri: wp.array(dtype=wp.vec2),
  tendon_solimp_fri: wp.array(dtype=vec5),
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
  contact_friction_in: wp.array2d(dtype=vec5),
  contact_solref_in: wp.array2d(dtype=wp.vec2),
  contact_solreffriction_in: wp.array2d(dtype=wp.vec2),
  contact_solimp_in: wp.array2d(dtype=vec5),
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
        clear_rows(worldid, row, 1, nv, efc_J_out)
        efc_J_out[worldid, row, dofid] = 1.0
        add_row(worldid, row, _FRICTION_DOF, dofid, 0.0, 0.0, floss, dof_invweight0[dofid], dof_solref[dofid],
                dof_solimp[dofid], timestep, refsafe, 1, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out,
                efc_frictionloss_out, efc_R_out, efc_K_out, efc_B_out)
        row += 1
    for t in range(ntendon):
      floss = tendon_frictionloss[t]
      if floss > 0.0:
        for i in range(nv):
          efc_J_out[worldid, row, i] = tendon_J[t, i]
        add_row(worldid, row, _FRICTION_TENDON, t, 0.0, 0.0, floss, tendon_invweight0[t], tendon_solref_fri[t],
                tendon_solimp_fri[t], timestep, refsafe, 1, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out,
                efc_frictionloss_out, efc_R_out, efc_K_out, efc_B_out)
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
          clear_rows(worldid, row, 1, nv, efc_J_out)
          for i in range(3):
            efc_J_out[worldid, row, dofadr + i] = -axis[i]
          add_row(worldid, row, _LIMIT_JOINT, jntid, dist, margin, 0.0, dof_invweight0[dofadr], jnt_solref[jntid],
                  jnt_solimp[jntid], timestep, refsafe, 0, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out,
                  efc_frictionloss_out, efc_R_out, efc_K_out, efc_B_out)
          row += 1
      elif jtype != _FREE:
        value = qpos_in[worldid, qadr]
        for s in range(2):
          side = float(2 * s - 1)
          dist = side * (rng[s] - value)
          if dist < margin:
            clear_rows(worldid, row, 1, nv, efc_J_out)
            efc_J_out[worldid, row, dofadr] = -side
            add_row(worldid, row, _LIMIT_JOINT, jntid, dist, margin, 0.0, dof_invweight0[dofadr], jnt_solref[jntid],
                    jnt_solimp[jntid], timestep, refsafe, 0, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out,
                    efc_frictionloss_out, efc_R_out, efc_K_out, efc_B_out)
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
          add_row(worldid, row, _LIMIT_TENDON, t, dist, margin, 0.0, tendon_invweight0[t], tendon_solref_lim[t],
                  tendon_solimp_lim[t], timestep, refsafe, 0, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out,
                  efc_frictionloss_out, efc_R_out, efc_K_out, efc_B_out)
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
      clear_rows(worldid, row, nrows, nv, efc_J_out)
      if dim == 1:
        point_jac_row(worldid, row, b2, 1.0, point, normal, 0, body_dofend, body_rootid, dof_parentid, cdof_in,
                      subtree_com_in, efc_J_out, 1.0)
        point_jac_row(worldid, row, b1, -1.0, point, normal, 0, body_dofend, body_rootid, dof_parentid, cdof_in,
                      subtree_com_in, efc_J_out, 1.0)
        add_row(worldid, row, _CONTACT_FRICTIONLESS, conid, dist, margin, 0.0, tran, solref, solimp, timestep,
                refsafe, 0, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out, efc_frictionloss_out, efc_R_out,
                efc_K_out, efc_B_out)
        row += 1
      elif elliptic:
        # rows: normal, then tangential (frame rows 1, 2), torsional and rolling (rotational)
        imp = impedance(solimp, dist, margin)
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
          point_jac_row(worldid, row + k, b2, 1.0, point, dvec, rotational, body_dofend, body_rootid, dof_parentid,
                        cdof_in, subtree_com_in, efc_J_out, 1.0)
          point_jac_row(worldid, row + k, b1, -1.0, point, dvec, rotational, body_dofend, body_rootid, dof_parentid,
                        cdof_in, subtree_com_in, efc_J_out, 1.0)
          if k == 0:
            add_row(worldid, row, _CONTACT_ELLIPTIC, conid, dist, margin, 0.0, tran, solref, solimp, timestep,
                    refsafe, 0, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out, efc_frictionloss_out,
                    efc_R_out, efc_K_out, efc_B_out)
            efc_R_out[worldid, row] = r0
            efc_dim_out[worldid, row] = dim
            efc_coef_out[worldid, row] = friction[0] * wp.sqrt(r1 / r0)
          else:
            kb = impedance_kb(solref_f, solimp, timestep, refsafe)
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
        imp = impedance(solimp, dist, margin)
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
            point_jac_row(worldid, row, b2, 1.0, point, normal, 0, body_dofend, body_rootid, dof_parentid, cdof_in,
                          subtree_com_in, efc_J_out, 1.0)
            point_jac_row(worldid, row, b1, -1.0, point, normal, 0, body_dofend, body_rootid, dof_parentid, cdof_in,
                          subtree_com_in, efc_J_out, 1.0)
            point_jac_row(worldid, row, b2, 1.0, point, d, rotational, body_dofend, body_rootid, dof_parentid,
                          cdof_in, subtree_com_in, efc_J_out, sign * mu)
            point_jac_row(worldid, row, b1, -1.0, point, d, rotational, body_dofend, body_rootid, dof_parentid,
                          cdof_in, subtree_com_in, efc_J_out, sign * mu)
            add_row(worldid, row, _CONTACT_PYRAMIDAL, conid, dist, margin, 0.0, tran, solref, solimp, timestep,
                    refsafe, 0, efc_type_out, efc_id_out, efc_pos_out, efc_margin_out, efc_frictionloss_out,
                    efc_R_out, efc_K_out, efc_B_out)
            efc_R_out[worldid, row] = rpy
            row += 1

  nefc_out[worldid] = row
  for r in range(row):
    efc_D_out[worldid, r] = 1.0 / efc_R_out[worldid, r]


def make_constraint(m: Model, d: Data):
  """mj_makeConstraint after the equality rows: the constraint rows efc_* (nworld, nefc_max, ...)
  of dof/tendon friction, joint/tendon limits and the contacts in d.contact, from row ne
  (nworld,) on, and nefc (nworld,). forward.fwd_position runs equality.make_equality and
  collision_driver.collision first."""
  if m.opt.disabled(DisableBit.CONSTRAINT):
    d.efc.nefc.zero_()
    return
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
    m.tendon_invweight0, d.qpos, d.ten_length, d.cdof, d.subtree_com, e.ne, c.ncon, c.dist, c.pos, c.frame, c.includemargin, c.friction,
    c.solref, c.solreffriction, c.solimp, c.dim, c.geom, c.exclude,
  ], outputs=[e.nefc, e.efc_type, e.efc_id, e.efc_J, e.efc_pos, e.efc_margin, e.efc_frictionloss,
              e.efc_R, e.efc_D, e.efc_K, e.efc_B, e.efc_dim, e.efc_coef], device=d.qpos.device)
