"""Passive forces (mj_passive): joint springs, dof dampers, gravity compensation.
Twin of kernels/passive.h."""

import warp as wp

from . import math
from .support import apply_ft
from .types import Data, DisableBit, JointType, Model

_FREE = wp.constant(int(JointType.FREE))
_BALL = wp.constant(int(JointType.BALL))


@wp.kernel
def _spring_damper(
  # Model:
  jnt_type: wp.array(dtype=int),
  jnt_qposadr: wp.array(dtype=int),
  jnt_dofadr: wp.array(dtype=int),
  jnt_stiffness: wp.array2d(dtype=float),
  qpos_spring: wp.array(dtype=float),
  dof_damping: wp.array2d(dtype=float),
  spring_enabled: int,
  damper_enabled: int,
  # Data in:
  qpos_in: wp.array2d(dtype=float),
  qvel_in: wp.array2d(dtype=float),
  # Data out:
  qfrc_spring_out: wp.array2d(dtype=float),
  qfrc_damper_out: wp.array2d(dtype=float),
  qfrc_passive_out: wp.array2d(dtype=float),
):
  worldid, jntid = wp.tid()
  jtype = jnt_type[jntid]
  padr = jnt_qposadr[jntid]
  dadr = jnt_dofadr[jntid]
  ndof = 1
  if jtype == _FREE:
    ndof = 6
  elif jtype == _BALL:
    ndof = 3
  for i in range(ndof):
    qfrc_spring_out[worldid, dadr + i] = 0.0

  k = jnt_stiffness[worldid % jnt_stiffness.shape[0], jntid]
  if spring_enabled and k != 0.0:
    if jtype == _FREE:
      for i in range(3):
        qfrc_spring_out[worldid, dadr + i] = -k * (qpos_in[worldid, padr + i] - qpos_spring[padr + i])
      padr += 3
    if jtype == _FREE or jtype == _BALL:
      quat = math.quat_normalize(wp.vec4(qpos_in[worldid, padr], qpos_in[worldid, padr + 1],
                                         qpos_in[worldid, padr + 2], qpos_in[worldid, padr + 3]))
      ref = wp.vec4(qpos_spring[padr], qpos_spring[padr + 1], qpos_spring[padr + 2], qpos_spring[padr + 3])
      dif = math.sub_quat(quat, ref)
      rot = ndof - 3
      for i in range(3):
        qfrc_spring_out[worldid, dadr + rot + i] = -k * dif[i]
    else:
      qfrc_spring_out[worldid, dadr] = -k * (qpos_in[worldid, padr] - qpos_spring[padr])

  bank = worldid % dof_damping.shape[0]
  for i in range(ndof):
    damper = float(0.0)
    if damper_enabled:
      damper = -dof_damping[bank, dadr + i] * qvel_in[worldid, dadr + i]
    qfrc_damper_out[worldid, dadr + i] = damper
    qfrc_passive_out[worldid, dadr + i] = qfrc_spring_out[worldid, dadr + i] + damper


@wp.kernel
def _gravcomp(
  # Model:
  nbody: int,
  body_gravcomp: wp.array(dtype=float),
  body_mass: wp.array2d(dtype=float),
  body_dofend: wp.array(dtype=int),
  body_rootid: wp.array(dtype=int),
  dof_parentid: wp.array(dtype=int),
  gravity: wp.array(dtype=wp.vec3),
  # Data in:
  xipos_in: wp.array2d(dtype=wp.vec3),
  cdof_in: wp.array2d(dtype=wp.spatial_vector),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  # Data out:
  qfrc_gravcomp_out: wp.array2d(dtype=float),
  qfrc_passive_out: wp.array2d(dtype=float),
):
  worldid = wp.tid()
  g = gravity[worldid % gravity.shape[0]]
  mbank = worldid % body_mass.shape[0]
  nv = qfrc_gravcomp_out.shape[1]
  for i in range(nv):
    qfrc_gravcomp_out[worldid, i] = 0.0
  for bodyid in range(1, nbody):
    gc = body_gravcomp[bodyid]
    if gc != 0.0:
      force = -g * (body_mass[mbank, bodyid] * gc)
      apply_ft(worldid, bodyid, xipos_in[worldid, bodyid], force, wp.vec3(0.0), body_dofend,
               body_rootid, dof_parentid, cdof_in, subtree_com_in, qfrc_gravcomp_out)
  for i in range(nv):
    qfrc_passive_out[worldid, i] = qfrc_passive_out[worldid, i] + qfrc_gravcomp_out[worldid, i]


@wp.kernel
def _tendon_spring_damper(
  # Model:
  nv: int,
  ntendon: int,
  spring_enabled: int,
  damper_enabled: int,
  tendon_J: wp.array2d(dtype=float),
  tendon_stiffness: wp.array(dtype=float),
  tendon_damping: wp.array(dtype=float),
  tendon_lengthspring: wp.array(dtype=wp.vec2),
  # Data in:
  ten_length_in: wp.array2d(dtype=float),
  ten_velocity_in: wp.array2d(dtype=float),
  # Data out:
  qfrc_spring_out: wp.array2d(dtype=float),
  qfrc_damper_out: wp.array2d(dtype=float),
  qfrc_passive_out: wp.array2d(dtype=float),
):
  """Tendon springs (with a rest-length deadband) and dampers, through ten_J'."""
  worldid = wp.tid()
  for t in range(ntendon):
    spring = float(0.0)
    damper = float(0.0)
    if spring_enabled:
      length = ten_length_in[worldid, t]
      rest = tendon_lengthspring[t]
      if length > rest[1]:
        spring = tendon_stiffness[t] * (rest[1] - length)
      elif length < rest[0]:
        spring = tendon_stiffness[t] * (rest[0] - length)
    if damper_enabled:
      damper = -tendon_damping[t] * ten_velocity_in[worldid, t]
    if spring != 0.0 or damper != 0.0:
      for i in range(nv):
        jt = tendon_J[t, i]
        if jt != 0.0:
          qfrc_spring_out[worldid, i] = qfrc_spring_out[worldid, i] + jt * spring
          qfrc_damper_out[worldid, i] = qfrc_damper_out[worldid, i] + jt * damper
          qfrc_passive_out[worldid, i] = qfrc_passive_out[worldid, i] + jt * (spring + damper)


def passive(m: Model, d: Data):
  """mj_passive: qfrc_spring, qfrc_damper, qfrc_gravcomp and their sum qfrc_passive,
  all (nworld, nv), N or N m."""
  spring = not m.opt.disabled(DisableBit.SPRING)
  damper = not m.opt.disabled(DisableBit.DAMPER)
  d.qfrc_gravcomp.zero_()
  if m.njnt:
    wp.launch(_spring_damper, dim=(d.nworld, m.njnt), inputs=[
      m.jnt_type, m.jnt_qposadr, m.jnt_dofadr, m.jnt_stiffness, m.qpos_spring, m.dof_damping,
      int(spring), int(damper), d.qpos, d.qvel,
    ], outputs=[d.qfrc_spring, d.qfrc_damper, d.qfrc_passive], device=d.qpos.device)
  if (spring or damper) and m.ntendon:
    wp.launch(_tendon_spring_damper, dim=d.nworld, inputs=[
      m.nv, m.ntendon, int(spring), int(damper), m.tendon_J, m.tendon_stiffness, m.tendon_damping,
      m.tendon_lengthspring, d.ten_length, d.ten_velocity,
    ], outputs=[d.qfrc_spring, d.qfrc_damper, d.qfrc_passive], device=d.qpos.device)
  if (spring or damper) and m.has_gravcomp and not m.opt.disabled(DisableBit.GRAVITY):
    wp.launch(_gravcomp, dim=d.nworld, inputs=[
      m.nbody, m.body_gravcomp, m.body_mass, m.body_dofend, m.body_rootid, m.dof_parentid,
      m.opt.gravity, d.xipos, d.cdof, d.subtree_com,
    ], outputs=[d.qfrc_gravcomp, d.qfrc_passive], device=d.qpos.device)
