"""Forward dynamics and integrators: mj_forward and mj_step for every world.
Twin of kernels/forward.h.

forward = position stage (kinematics, com, mass matrix, collision, constraint
rows) → velocity stage (com velocity, passive, bias) → actuation → smooth
acceleration → constraint solve. The integrators (Euler with implicit dof
damping, implicitfast, RK4) reproduce MuJoCo's mj_Euler, mj_implicit and
mj_RungeKutta.
"""

import warp as wp

from . import actuation, collision_driver, constraint, equality, math, passive, sensor, smooth, solver, support
from .support import apply_ft
from .types import Data, DisableBit, IntegratorType, JointType, Model

_FREE = wp.constant(int(JointType.FREE))
_BALL = wp.constant(int(JointType.BALL))


def fwd_position(m: Model, d: Data):
  """Position-dependent stage: kinematics, com quantities, qM and its factor, contacts
  and constraint rows."""
  smooth.kinematics(m, d)
  smooth.com_pos(m, d)
  smooth.crb(m, d)
  smooth.factor_m(m, d)
  smooth.tendon(m, d)
  if not m.opt.disabled(DisableBit.CONSTRAINT):
    collision_driver.collision(m, d)
  equality.make_equality(m, d)
  constraint.make_constraint(m, d)


def fwd_velocity(m: Model, d: Data):
  """Velocity-dependent stage: actuator length/velocity, cvel, cdof_dot, passive, bias."""
  smooth.transmission(m, d)
  smooth.com_vel(m, d)
  passive.passive(m, d)
  smooth.rne(m, d)


@wp.kernel
def _qfrc_smooth(
  # Model:
  nbody: int,
  nv: int,
  body_dofend: wp.array(dtype=int),
  body_rootid: wp.array(dtype=int),
  dof_parentid: wp.array(dtype=int),
  # Data in:
  qfrc_passive_in: wp.array2d(dtype=float),
  qfrc_bias_in: wp.array2d(dtype=float),
  qfrc_applied_in: wp.array2d(dtype=float),
  qfrc_actuator_in: wp.array2d(dtype=float),
  xfrc_applied_in: wp.array2d(dtype=wp.spatial_vector),
  xipos_in: wp.array2d(dtype=wp.vec3),
  cdof_in: wp.array2d(dtype=wp.spatial_vector),
  subtree_com_in: wp.array2d(dtype=wp.vec3),
  # Data out:
  qfrc_smooth_out: wp.array2d(dtype=float),
  qacc_smooth_out: wp.array2d(dtype=float),
):
  worldid = wp.tid()
  for i in range(nv):
    qfrc_smooth_out[worldid, i] = (qfrc_passive_in[worldid, i] - qfrc_bias_in[worldid, i]
                                   + qfrc_applied_in[worldid, i] + qfrc_actuator_in[worldid, i])
  for bodyid in range(1, nbody):
    xfrc = xfrc_applied_in[worldid, bodyid]
    # mju_isZero: any nonzero entry, NaN included (a NaN force reaches qacc and is flagged)
    if (xfrc[0] != 0.0 or xfrc[1] != 0.0 or xfrc[2] != 0.0 or xfrc[3] != 0.0 or xfrc[4] != 0.0
        or xfrc[5] != 0.0):
      apply_ft(worldid, bodyid, xipos_in[worldid, bodyid], math.motion_ang(xfrc), math.motion_lin(xfrc),
               body_dofend, body_rootid, dof_parentid, cdof_in, subtree_com_in, qfrc_smooth_out)
  for i in range(nv):
    qacc_smooth_out[worldid, i] = qfrc_smooth_out[worldid, i]


def fwd_acceleration(m: Model, d: Data):
  """mj_fwdAcceleration: qfrc_smooth = passive - bias + applied + actuator + J'xfrc_applied,
  qacc_smooth = qM^-1 qfrc_smooth, both (nworld, nv)."""
  wp.launch(_qfrc_smooth, dim=d.nworld, inputs=[
    m.nbody, m.nv, m.body_dofend, m.body_rootid, m.dof_parentid, d.qfrc_passive, d.qfrc_bias,
    d.qfrc_applied, d.qfrc_actuator, d.xfrc_applied, d.xipos, d.cdof, d.subtree_com,
  ], outputs=[d.qfrc_smooth, d.qacc_smooth], device=d.qpos.device)
  smooth.solve_m(m, d, d.qacc_smooth, d.qacc_smooth)


def begin_step(d: Data):
  """The start of a step or of an mj_forward call: the contact overflow flags (nworld,) then
  cover every collision pass until the next one (RK4's four evaluations)."""
  if d.contact is not None:
    d.contact.overflow.zero_()


def forward(m: Model, d: Data):
  """mj_forward: every derived quantity, qacc (nworld, nv) and sensordata from the state."""
  begin_step(d)
  evaluate(m, d, sensors=True)


def evaluate(m: Model, d: Data, sensors: bool = False):
  """mj_forward's stages without begin_step: one evaluation inside a step (RK4's stages skip
  the sensors, as MuJoCo's mj_forwardSkip(skipsensor=1))."""
  fwd_position(m, d)
  fwd_velocity(m, d)
  if sensors:
    # mj_sensorPos after the position stage and mj_sensorVel after the velocity stage; both here
    # because our transmission (actuator_length, read by actuatorpos) runs in fwd_velocity
    sensor.sensor_pos(m, d)
    sensor.sensor_vel(m, d)
  actuation.fwd_actuation(m, d)
  fwd_acceleration(m, d)
  fwd_constraint(m, d)
  if sensors:
    sensor.sensor_acc(m, d)


def fwd_constraint(m: Model, d: Data):
  """Solves the constraint problem: qacc, qfrc_constraint (nworld, nv) and efc_force."""
  equality.equality_jdotv(m, d)
  solver.solve(m, d)


@wp.func
def integrate_pos(worldid: int, njnt: int, jnt_type: wp.array(dtype=int),
                  jnt_qposadr: wp.array(dtype=int), jnt_dofadr: wp.array(dtype=int),
                  qpos_from: wp.array2d(dtype=float), qpos_to: wp.array2d(dtype=float),
                  qvel: wp.array2d(dtype=float), scale: float, dt: float):
  """mj_integratePos: qpos_to = qpos_from (+) scale * qvel * dt (quaternions on SO(3))."""
  for jntid in range(njnt):
    padr = jnt_qposadr[jntid]
    vadr = jnt_dofadr[jntid]
    jtype = jnt_type[jntid]
    if jtype == _FREE:
      for i in range(3):
        qpos_to[worldid, padr + i] = qpos_from[worldid, padr + i] + dt * scale * qvel[worldid, vadr + i]
      padr += 3
      vadr += 3
    if jtype == _FREE or jtype == _BALL:
      q = wp.vec4(qpos_from[worldid, padr], qpos_from[worldid, padr + 1], qpos_from[worldid, padr + 2],
                  qpos_from[worldid, padr + 3])
      w = wp.vec3(qvel[worldid, vadr], qvel[worldid, vadr + 1], qvel[worldid, vadr + 2]) * scale
      q = math.quat_integrate(q, w, dt)
      for i in range(4):
        qpos_to[worldid, padr + i] = q[i]
    else:
      qpos_to[worldid, padr] = qpos_from[worldid, padr] + dt * scale * qvel[worldid, vadr]


@wp.kernel
def _advance(
  # Model:
  njnt: int,
  nv: int,
  nu: int,
  timestep: float,
  actuation_enabled: int,
  jnt_type: wp.array(dtype=int),
  jnt_qposadr: wp.array(dtype=int),
  jnt_dofadr: wp.array(dtype=int),
  actuator_dyntype: wp.array(dtype=int),
  actuator_dynprm: wp.array(dtype=wp.vec3),
  actuator_actadr: wp.array(dtype=int),
  actuator_actlimited: wp.array(dtype=int),
  actuator_actrange: wp.array(dtype=wp.vec2),
  # Data in:
  act_from: wp.array2d(dtype=float),
  act_dot_in: wp.array2d(dtype=float),
  qpos_from: wp.array2d(dtype=float),
  qvel_from: wp.array2d(dtype=float),
  qacc_in: wp.array2d(dtype=float),
  qacc_final_in: wp.array2d(dtype=float),
  pos_vel_in: wp.array2d(dtype=float),
  use_pos_vel: int,
  # Data out:
  time_out: wp.array(dtype=float),
  act_out: wp.array2d(dtype=float),
  qpos_out: wp.array2d(dtype=float),
  qvel_out: wp.array2d(dtype=float),
  qacc_warmstart_out: wp.array2d(dtype=float),
):
  """mj_advance: act, qvel, qpos and time one step ahead; qacc_warmstart = qacc."""
  worldid = wp.tid()
  if actuation_enabled:
    for i in range(nu):
      adr = actuator_actadr[i]
      if adr >= 0:
        act_out[worldid, adr] = actuation.next_activation(
          actuator_dyntype[i], actuator_dynprm[i][0], act_from[worldid, adr], act_dot_in[worldid, adr],
          timestep, actuator_actlimited[i], actuator_actrange[i])
  for i in range(nv):
    qvel_out[worldid, i] = qvel_from[worldid, i] + timestep * qacc_in[worldid, i]
    qacc_warmstart_out[worldid, i] = qacc_final_in[worldid, i]
  if use_pos_vel:
    integrate_pos(worldid, njnt, jnt_type, jnt_qposadr, jnt_dofadr, qpos_from, qpos_out, pos_vel_in,
                  1.0, timestep)
  else:
    integrate_pos(worldid, njnt, jnt_type, jnt_qposadr, jnt_dofadr, qpos_from, qpos_out, qvel_out,
                  1.0, timestep)
  time_out[worldid] = time_out[worldid] + timestep


def _advance_launch(m: Model, d: Data, *, act_from, act_dot, qpos_from, qvel_from, qacc, pos_vel=None):
  wp.launch(_advance, dim=d.nworld, inputs=[
    m.njnt, m.nv, m.nu, m.opt.timestep, 0 if m.opt.disabled(DisableBit.ACTUATION) else 1,
    m.jnt_type, m.jnt_qposadr, m.jnt_dofadr, m.actuator_dyntype, m.actuator_dynprm,
    m.actuator_actadr, m.actuator_actlimited, m.actuator_actrange,
    act_from, act_dot, qpos_from, qvel_from, qacc, d.qacc, pos_vel if pos_vel is not None else d.qvel,
    0 if pos_vel is None else 1,
  ], outputs=[d.time, d.act, d.qpos, d.qvel, d.qacc_warmstart], device=d.qpos.device)


@wp.kernel
def _implicit_matrix(
  # Model:
  nv: int,
  timestep: float,
  dof_damping: wp.array2d(dtype=float),
  damper_enabled: int,
  # Data in:
  qM_in: wp.array3d(dtype=float),
  qfrc_smooth_in: wp.array2d(dtype=float),
  qfrc_constraint_in: wp.array2d(dtype=float),
  # Data out:
  qH_out: wp.array3d(dtype=float),
  qfrc_out: wp.array2d(dtype=float),
):
  """qH = qM + h*diag(damping); qfrc = qfrc_smooth + qfrc_constraint."""
  worldid = wp.tid()
  bank = worldid % dof_damping.shape[0]
  for i in range(nv):
    for j in range(nv):
      qH_out[worldid, i, j] = qM_in[worldid, i, j]
    if damper_enabled:
      qH_out[worldid, i, i] = qH_out[worldid, i, i] + timestep * dof_damping[bank, i]
    qfrc_out[worldid, i] = qfrc_smooth_in[worldid, i] + qfrc_constraint_in[worldid, i]


@wp.kernel
def _factor_solve_h(
  # Model:
  nv: int,
  dof_parentid: wp.array(dtype=int),
  # Data in:
  qfrc_in: wp.array2d(dtype=float),
  # Data out:
  qH_out: wp.array3d(dtype=float),
  qHDiagInv_out: wp.array2d(dtype=float),
  qacc_out: wp.array2d(dtype=float),
):
  worldid = wp.tid()
  smooth.factor_tree(worldid, nv, dof_parentid, qH_out, qHDiagInv_out)
  for i in range(nv):
    qacc_out[worldid, i] = qfrc_in[worldid, i]
  support.solve_tree(worldid, nv, dof_parentid, qH_out, qHDiagInv_out, qacc_out)


def _implicit_qacc(m: Model, d: Data, with_actuators: bool):
  """qacc_scratch = (qM - h*D)^-1 (qfrc_smooth + qfrc_constraint), D = d qfrc / d qvel of
  dof damping (and, for implicitfast, of the actuators)."""
  damper = not m.opt.disabled(DisableBit.DAMPER)
  wp.launch(_implicit_matrix, dim=d.nworld, inputs=[
    m.nv, m.opt.timestep, m.dof_damping, int(damper), d.qM, d.qfrc_smooth, d.qfrc_constraint,
  ], outputs=[d.qH, d.qfrc_scratch], device=d.qpos.device)
  if with_actuators:
    actuation.add_actuator_vel_deriv(m, d, d.qH)
  wp.launch(_factor_solve_h, dim=d.nworld, inputs=[m.nv, m.dof_parentid, d.qfrc_scratch],
            outputs=[d.qH, d.qHDiagInv, d.qacc_scratch], device=d.qpos.device)


def euler(m: Model, d: Data):
  """mj_Euler: semi-implicit Euler; dof damping integrated implicitly unless the
  eulerdamp or damper flag is disabled."""
  implicit_damping = (m.has_damping and not m.opt.disabled(DisableBit.EULERDAMP)
                      and not m.opt.disabled(DisableBit.DAMPER))
  if implicit_damping:
    _implicit_qacc(m, d, with_actuators=False)
    qacc = d.qacc_scratch
  else:
    qacc = d.qacc
  _advance_launch(m, d, act_from=d.act, act_dot=d.act_dot, qpos_from=d.qpos, qvel_from=d.qvel, qacc=qacc)


def implicitfast(m: Model, d: Data):
  """mj_implicit with implicitfast: velocity derivatives of damping and actuators, no RNE
  derivative, symmetric L'DL solve."""
  _implicit_qacc(m, d, with_actuators=True)
  _advance_launch(m, d, act_from=d.act, act_dot=d.act_dot, qpos_from=d.qpos, qvel_from=d.qvel,
                  qacc=d.qacc_scratch)


@wp.kernel
def _rk_stage(
  # Model:
  njnt: int,
  nv: int,
  na: int,
  timestep: float,
  a: float,
  b: float,
  first: int,
  jnt_type: wp.array(dtype=int),
  jnt_qposadr: wp.array(dtype=int),
  jnt_dofadr: wp.array(dtype=int),
  # Data in:
  qpos_t0_in: wp.array2d(dtype=float),
  qvel_t0_in: wp.array2d(dtype=float),
  act_t0_in: wp.array2d(dtype=float),
  # Data out:
  qpos_out: wp.array2d(dtype=float),
  qvel_out: wp.array2d(dtype=float),
  qacc_in: wp.array2d(dtype=float),
  act_out: wp.array2d(dtype=float),
  act_dot_in: wp.array2d(dtype=float),
  rk_dqvel_out: wp.array2d(dtype=float),
  rk_dqacc_out: wp.array2d(dtype=float),
  rk_dact_out: wp.array2d(dtype=float),
):
  """Accumulates b * F(X_i) of the current stage, then sets the state to
  X_{i+1} = X_0 + h * a * F(X_i)."""
  worldid = wp.tid()
  for i in range(nv):
    if first:
      rk_dqvel_out[worldid, i] = b * qvel_out[worldid, i]
      rk_dqacc_out[worldid, i] = b * qacc_in[worldid, i]
    else:
      rk_dqvel_out[worldid, i] = rk_dqvel_out[worldid, i] + b * qvel_out[worldid, i]
      rk_dqacc_out[worldid, i] = rk_dqacc_out[worldid, i] + b * qacc_in[worldid, i]
  for i in range(na):
    if first:
      rk_dact_out[worldid, i] = b * act_dot_in[worldid, i]
    else:
      rk_dact_out[worldid, i] = rk_dact_out[worldid, i] + b * act_dot_in[worldid, i]
  if a != 0.0:
    integrate_pos(worldid, njnt, jnt_type, jnt_qposadr, jnt_dofadr, qpos_t0_in, qpos_out, qvel_out, a, timestep)
    for i in range(nv):
      qvel_out[worldid, i] = qvel_t0_in[worldid, i] + timestep * a * qacc_in[worldid, i]
    for i in range(na):
      act_out[worldid, i] = act_t0_in[worldid, i] + timestep * a * act_dot_in[worldid, i]


_RK4_A = (0.5, 0.5, 1.0)  # diagonal of MuJoCo's RK4 tableau A (stage i uses F of stage i-1)
_RK4_B = (1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0)


def rk4(m: Model, d: Data):
  """mj_RungeKutta(N=4); expects `forward` to have run on the current state."""
  wp.copy(d.qpos_t0, d.qpos)
  wp.copy(d.qvel_t0, d.qvel)
  wp.copy(d.act_t0, d.act)
  na = m.na
  for stage in range(4):
    a = _RK4_A[stage] if stage < 3 else 0.0
    wp.launch(_rk_stage, dim=d.nworld, inputs=[
      m.njnt, m.nv, na, m.opt.timestep, a, _RK4_B[stage], int(stage == 0), m.jnt_type,
      m.jnt_qposadr, m.jnt_dofadr, d.qpos_t0, d.qvel_t0, d.act_t0,
    ], outputs=[d.qpos, d.qvel, d.qacc, d.act, d.act_dot, d.rk_dqvel, d.rk_dqacc, d.rk_dact], device=d.qpos.device)
    if stage < 3:
      evaluate(m, d)
  _advance_launch(m, d, act_from=d.act_t0, act_dot=d.rk_dact, qpos_from=d.qpos_t0,
                  qvel_from=d.qvel_t0, qacc=d.rk_dqacc, pos_vel=d.rk_dqvel)
  # MuJoCo 4.0 leaves the step's effective acceleration sum_j B_j F_j in qacc (the warm start
  # keeps the last stage's, copied by _advance above)
  wp.copy(d.qacc, d.rk_dqacc)


def step(m: Model, d: Data):
  """mj_step: forward, then the model's integrator, for every world."""
  forward(m, d)
  integrator = m.opt.integrator
  if integrator == IntegratorType.EULER:
    euler(m, d)
  elif integrator == IntegratorType.RK4:
    rk4(m, d)
  elif integrator == IntegratorType.IMPLICITFAST:
    implicitfast(m, d)
  else:
    raise ValueError(f"integrator {integrator} is not supported (io rejects it at load time)")
