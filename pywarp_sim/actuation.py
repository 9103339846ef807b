"""Actuation (mj_fwdActuation): ctrl → act_dot, actuator_force, qfrc_actuator.
Twin of kernels/actuation.h.

Supported: joint transmissions on hinge/slide joints and fixed-tendon transmissions, with a gear; dynamics
none / integrator / filter / filterexact (actearly too); gain fixed / affine;
bias none / affine; ctrlrange, forcerange, actrange and the joint's
actuatorfrcrange clamps. Anything else is rejected by io at load time.
"""

import warp as wp

from .types import BiasType, Data, DisableBit, DynType, GainType, Model

_DYN_NONE = wp.constant(int(DynType.NONE))
_DYN_INTEGRATOR = wp.constant(int(DynType.INTEGRATOR))
_DYN_FILTEREXACT = wp.constant(int(DynType.FILTEREXACT))
_GAIN_AFFINE = wp.constant(int(GainType.AFFINE))
_BIAS_AFFINE = wp.constant(int(BiasType.AFFINE))
_TRN_TENDON = wp.constant(3)  # mjTRN_TENDON


@wp.func
def next_activation(dyntype: int, tau: float, act: float, act_dot: float, dt: float,
                    actlimited: int, actrange: wp.vec2) -> float:
  """mj_nextActivation: activation after one step of dt, clamped to actrange."""
  if dyntype == _DYN_FILTEREXACT:
    t = wp.max(1e-15, tau)
    act = act + act_dot * t * (1.0 - wp.exp(-dt / t))
  else:
    act = act + act_dot * dt
  if actlimited:
    act = wp.clamp(act, actrange[0], actrange[1])
  return act


@wp.kernel
def _actuation(
  # Model:
  nu: int,
  nv: int,
  timestep: float,
  clampctrl: int,
  actuator_trnid: wp.array(dtype=int),
  actuator_dyntype: wp.array(dtype=int),
  actuator_dynprm: wp.array(dtype=wp.vec3),
  actuator_gaintype: wp.array(dtype=int),
  actuator_gainprm: wp.array2d(dtype=wp.vec3),
  actuator_biastype: wp.array(dtype=int),
  actuator_biasprm: wp.array2d(dtype=wp.vec3),
  actuator_gear: wp.array2d(dtype=float),
  actuator_ctrllimited: wp.array(dtype=int),
  actuator_ctrlrange: wp.array(dtype=wp.vec2),
  actuator_forcelimited: wp.array(dtype=int),
  actuator_forcerange: wp.array(dtype=wp.vec2),
  actuator_actlimited: wp.array(dtype=int),
  actuator_actrange: wp.array(dtype=wp.vec2),
  actuator_actadr: wp.array(dtype=int),
  actuator_actearly: wp.array(dtype=int),
  jnt_dofadr: wp.array(dtype=int),
  actuator_trntype: wp.array(dtype=int),
  tendon_J: wp.array2d(dtype=float),
  jnt_actfrclimited: wp.array(dtype=int),
  jnt_actfrcrange: wp.array(dtype=wp.vec2),
  dof_jntid: wp.array(dtype=int),
  # Data in:
  ctrl_in: wp.array2d(dtype=float),
  act_in: wp.array2d(dtype=float),
  actuator_length_in: wp.array2d(dtype=float),
  actuator_velocity_in: wp.array2d(dtype=float),
  # Data out:
  act_dot_out: wp.array2d(dtype=float),
  actuator_force_out: wp.array2d(dtype=float),
  qfrc_actuator_out: wp.array2d(dtype=float),
):
  worldid = wp.tid()
  gbank = worldid % actuator_gainprm.shape[0]
  bbank = worldid % actuator_biasprm.shape[0]
  rbank = worldid % actuator_gear.shape[0]

  # MuJoCo zeroes every control of a world when any control is not finite
  ctrl_ok = int(1)
  for i in range(nu):
    if not wp.isfinite(ctrl_in[worldid, i]):
      ctrl_ok = 0
  for i in range(nv):
    qfrc_actuator_out[worldid, i] = 0.0

  for i in range(nu):
    ctrl = float(0.0)
    if ctrl_ok:
      ctrl = ctrl_in[worldid, i]
    if clampctrl and actuator_ctrllimited[i]:
      r = actuator_ctrlrange[i]
      ctrl = wp.clamp(ctrl, r[0], r[1])

    dyntype = actuator_dyntype[i]
    tau = actuator_dynprm[i][0]
    input = ctrl
    actadr = actuator_actadr[i]
    if dyntype != _DYN_NONE:
      act = act_in[worldid, actadr]
      act_dot = float(0.0)
      if dyntype == _DYN_INTEGRATOR:
        act_dot = ctrl
      else:
        act_dot = (ctrl - act) / wp.max(1e-15, tau)
      act_dot_out[worldid, actadr] = act_dot
      input = act
      if actuator_actearly[i]:
        input = next_activation(dyntype, tau, act, act_dot, timestep, actuator_actlimited[i],
                                actuator_actrange[i])

    length = actuator_length_in[worldid, i]
    velocity = actuator_velocity_in[worldid, i]
    gainprm = actuator_gainprm[gbank, i]
    gain = gainprm[0]
    if actuator_gaintype[i] == _GAIN_AFFINE:
      gain = gainprm[0] + gainprm[1] * length + gainprm[2] * velocity
    force = gain * input
    if actuator_biastype[i] == _BIAS_AFFINE:
      biasprm = actuator_biasprm[bbank, i]
      force += biasprm[0] + biasprm[1] * length + biasprm[2] * velocity
    if actuator_forcelimited[i]:
      r = actuator_forcerange[i]
      force = wp.clamp(force, r[0], r[1])
    actuator_force_out[worldid, i] = force

    moment = actuator_gear[rbank, i]
    if actuator_trntype[i] == _TRN_TENDON:
      tenid = actuator_trnid[i]
      for j in range(nv):
        qfrc_actuator_out[worldid, j] = qfrc_actuator_out[worldid, j] + moment * tendon_J[tenid, j] * force
    else:
      dofid = jnt_dofadr[actuator_trnid[i]]
      qfrc_actuator_out[worldid, dofid] = qfrc_actuator_out[worldid, dofid] + moment * force

  for i in range(nv):
    jntid = dof_jntid[i]
    if jnt_actfrclimited[jntid]:
      r = jnt_actfrcrange[jntid]
      qfrc_actuator_out[worldid, i] = wp.clamp(qfrc_actuator_out[worldid, i], r[0], r[1])


def fwd_actuation(m: Model, d: Data):
  """mj_fwdActuation: act_dot (nworld, na), actuator_force (nworld, nu), N or N m, and
  qfrc_actuator (nworld, nv). Needs actuator_length/velocity from `transmission`."""
  if m.nu == 0 or m.opt.disabled(DisableBit.ACTUATION):
    d.qfrc_actuator.zero_()
    d.actuator_force.zero_()
    d.act_dot.zero_()
    return
  wp.launch(_actuation, dim=d.nworld, inputs=[
    m.nu, m.nv, m.opt.timestep, 0 if m.opt.disabled(DisableBit.CLAMPCTRL) else 1,
    m.actuator_trnid, m.actuator_dyntype, m.actuator_dynprm, m.actuator_gaintype,
    m.actuator_gainprm, m.actuator_biastype, m.actuator_biasprm, m.actuator_gear,
    m.actuator_ctrllimited, m.actuator_ctrlrange, m.actuator_forcelimited, m.actuator_forcerange,
    m.actuator_actlimited, m.actuator_actrange, m.actuator_actadr, m.actuator_actearly,
    m.jnt_dofadr, m.actuator_trntype, m.tendon_J, m.jnt_actfrclimited, m.jnt_actfrcrange, m.dof_jntid,
    d.ctrl, d.act, d.actuator_length, d.actuator_velocity,
  ], outputs=[d.act_dot, d.actuator_force, d.qfrc_actuator], device=d.qpos.device)


@wp.kernel
def _actuator_vel_deriv(
  # Model:
  nu: int,
  timestep: float,
  actuator_trnid: wp.array(dtype=int),
  actuator_dyntype: wp.array(dtype=int),
  actuator_dynprm: wp.array(dtype=wp.vec3),
  actuator_gaintype: wp.array(dtype=int),
  actuator_gainprm: wp.array2d(dtype=wp.vec3),
  actuator_biastype: wp.array(dtype=int),
  actuator_biasprm: wp.array2d(dtype=wp.vec3),
  actuator_gear: wp.array2d(dtype=float),
  actuator_forcelimited: wp.array(dtype=int),
  actuator_forcerange: wp.array(dtype=wp.vec2),
  actuator_actlimited: wp.array(dtype=int),
  actuator_actrange: wp.array(dtype=wp.vec2),
  actuator_actadr: wp.array(dtype=int),
  actuator_actearly: wp.array(dtype=int),
  jnt_dofadr: wp.array(dtype=int),
  actuator_trntype: wp.array(dtype=int),
  # Data in:
  ctrl_in: wp.array2d(dtype=float),
  act_in: wp.array2d(dtype=float),
  act_dot_in: wp.array2d(dtype=float),
  actuator_force_in: wp.array2d(dtype=float),
  # Data out:
  qH_out: wp.array3d(dtype=float),
):
  """qH -= h * d(qfrc_actuator)/d(qvel) (mjd_actuator_vel, diagonal for joint transmissions)."""
  worldid = wp.tid()
  for i in range(nu):
    if actuator_trntype[i] == _TRN_TENDON:
      continue  # no velocity terms: io rejects velocity-dependent tendon actuators here
    if actuator_forcelimited[i]:
      f = actuator_force_in[worldid, i]
      r = actuator_forcerange[i]
      if f <= r[0] or f >= r[1]:
        continue
    vel = float(0.0)
    if actuator_biastype[i] == _BIAS_AFFINE:
      vel = actuator_biasprm[worldid % actuator_biasprm.shape[0], i][2]
    if actuator_gaintype[i] == _GAIN_AFFINE:
      gain_vel = actuator_gainprm[worldid % actuator_gainprm.shape[0], i][2]
      if actuator_dyntype[i] == _DYN_NONE:
        vel += gain_vel * ctrl_in[worldid, i]
      else:
        adr = actuator_actadr[i]
        act = act_in[worldid, adr]
        if actuator_actearly[i]:
          act = next_activation(actuator_dyntype[i], actuator_dynprm[i][0], act, act_dot_in[worldid, adr],
                                timestep, actuator_actlimited[i], actuator_actrange[i])
        vel += gain_vel * act
    gear = actuator_gear[worldid % actuator_gear.shape[0], i]
    dofid = jnt_dofadr[actuator_trnid[i]]
    qH_out[worldid, dofid, dofid] = qH_out[worldid, dofid, dofid] - timestep * gear * gear * vel


def add_actuator_vel_deriv(m: Model, d: Data, qH: wp.array):
  """qH (nworld, nv, nv) -= timestep * d qfrc_actuator / d qvel."""
  if m.nu == 0 or m.opt.disabled(DisableBit.ACTUATION):
    return
  wp.launch(_actuator_vel_deriv, dim=d.nworld, inputs=[
    m.nu, m.opt.timestep, m.actuator_trnid, m.actuator_dyntype, m.actuator_dynprm,
    m.actuator_gaintype, m.actuator_gainprm, m.actuator_biastype, m.actuator_biasprm,
    m.actuator_gear, m.actuator_forcelimited, m.actuator_forcerange, m.actuator_actlimited,
    m.actuator_actrange, m.actuator_actadr, m.actuator_actearly, m.jnt_dofadr, m.actuator_trntype,
    d.ctrl, d.act, d.act_dot, d.actuator_force,
  ], outputs=[qH], device=d.qpos.device)
