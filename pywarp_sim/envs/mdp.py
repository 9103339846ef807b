"""Term functions of the tasks (envs/manager.py): plain public functions, batched over worlds
with torch ops on the simulator's device, no host sync.

Signatures (the manager binds `params` as keyword arguments and checks their names when the
task is built):
  observation, reward, termination: f(env, **params) -> (num_envs, k) / (num_envs,) float /
    (num_envs,) bool
  command:                     f(env, mask, **params) -> (num_envs, dim) new commands (the
                               manager keeps them where `mask`, (num_envs,) bool)
  event, curriculum:           f(env, mask, **params), acting on the worlds in `mask`
A term may also be a class: built once as cls(env, **params), then called as obj(env, **params)
(obj(env, mask, **params) for events); its optional reset(mask) runs when those envs reset and
state_dict()/load_state_dict() are saved with the env (e.g. FeetAirTime keeps air times).

Random draws: env.uniform / env.rand with the world first ((num_envs, ...)), for every env
whatever the mask, so a run is reproducible from the seed and a shard of a distributed run
(TaskCfg.world_offset / num_envs_total) draws what one env with all the worlds draws for its
worlds. A term drawing from torch's global generator or another shape breaks both.

Frames: "base" is the free joint's body; velocities of the free joint are qvel[0:3] (world
frame, m/s) and qvel[3:6] (body frame, rad/s), as in MuJoCo. Heights and ranges given as None
come from the robot (env.robot: envs/robot.py RobotCfg, resolved in env.target_height and
env.termination_height).
"""

from __future__ import annotations

import math

import torch
import warp as wp


def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
  """R(q)^T v for unit quaternions q (..., 4) = (w, x, y, z) and vectors v (..., 3)."""
  w, xyz = q[..., :1], q[..., 1:]
  a = v * (2.0 * w * w - 1.0)
  b = torch.cross(xyz, v, dim=-1) * (2.0 * w)
  c = xyz * (2.0 * (xyz * v).sum(-1, keepdim=True))
  return a - b + c


# ---- observations (num_envs, k) -------------------------------------------------------------

def base_height(env) -> torch.Tensor:
  """(num_envs, 1) m: height of the base (free joint) above z = 0."""
  return env.sim.qpos[:, 2:3].clone()


def projected_gravity(env) -> torch.Tensor:
  """(num_envs, 3): the unit gravity direction in the base frame ((0, 0, -1) upright)."""
  quat = env.sim.qpos[:, 3:7]
  down = torch.tensor([0.0, 0.0, -1.0], device=quat.device).expand(env.num_envs, 3)
  return quat_rotate_inverse(quat, down)


def base_lin_vel(env) -> torch.Tensor:
  """(num_envs, 3) m/s: the base's linear velocity in the base frame."""
  return quat_rotate_inverse(env.sim.qpos[:, 3:7], env.sim.qvel[:, 0:3])


def base_ang_vel(env) -> torch.Tensor:
  """(num_envs, 3) rad/s: the base's angular velocity in the base frame."""
  return env.sim.qvel[:, 3:6].clone()


def joint_pos_rel(env) -> torch.Tensor:
  """(num_envs, nu) rad: actuated joint positions minus the robot's default pose."""
  return env.sim.qpos[:, env.actuated_qposadr] - env.default_joint_pos


def joint_vel(env) -> torch.Tensor:
  """(num_envs, nu) rad/s: actuated joint velocities."""
  return env.sim.qvel[:, env.actuated_dofadr]


def last_action(env) -> torch.Tensor:
  """(num_envs, num_actions): the actions of the last step (after clipping)."""
  return env.actions


def generated_commands(env, command_name: str) -> torch.Tensor:
  """(num_envs, dim): the current command `command_name`."""
  return env.command(command_name)


def foot_contact(env) -> torch.Tensor:
  """(num_envs, nfeet) 0/1: each foot in contact (last physics step); a privileged input."""
  return env.foot_contacts().float()


# ---- rewards (num_envs,) ---------------------------------------------------------------------

def is_alive(env) -> torch.Tensor:
  """1 per env step."""
  return torch.ones(env.num_envs, device=env.sim.qpos.device)


def upright(env) -> torch.Tensor:
  """-gravity_z in the base frame: 1 upright, 0 horizontal, -1 upside down."""
  return -projected_gravity(env)[:, 2]


def base_height_exp(env, target_height: float | None = None, variance: float = 0.01) -> torch.Tensor:
  """exp(-(h - target_height)^2 / variance) (variance in m^2); target None: the robot's."""
  target = env.target_height if target_height is None else target_height
  return torch.exp(-torch.square(env.sim.qpos[:, 2] - target) / variance)


def track_lin_vel_xy_exp(env, command_name: str, sigma: float = 0.25) -> torch.Tensor:
  """exp(-|v_xy - command[0:2]|^2 / sigma), base-frame velocity (m/s), sigma in m^2/s^2."""
  err = torch.square(env.command(command_name)[:, :2] - base_lin_vel(env)[:, :2]).sum(-1)
  return torch.exp(-err / sigma)


def track_ang_vel_z_exp(env, command_name: str, sigma: float = 0.25) -> torch.Tensor:
  """exp(-(w_z - command[2])^2 / sigma), base yaw rate (rad/s), sigma in rad^2/s^2."""
  return torch.exp(-torch.square(env.command(command_name)[:, 2] - env.sim.qvel[:, 5]) / sigma)


def action_rate_l2(env) -> torch.Tensor:
  """|a_t - a_{t-1}|^2 over the actions."""
  return torch.square(env.actions - env.last_actions).sum(-1)


def ctrl_l2(env) -> torch.Tensor:
  """|ctrl|^2 of the last physics step's motor commands."""
  return torch.square(env.sim.ctrl).sum(-1)


def joint_vel_l2(env) -> torch.Tensor:
  """|qdot|^2 of the actuated joints, rad^2/s^2."""
  return torch.square(joint_vel(env)).sum(-1)


class FeetAirTime:
  """Reward of steps: at the first contact of a foot after a swing, its air time minus
  `threshold` (s), summed over feet, zero while |command[0:2]| <= `min_command` (m/s).
  Contacts are filtered over two env steps (a contact in this or the last step counts).
  State per env: air_time (num_envs, nfeet) s and last_contacts (num_envs, nfeet) bool,
  cleared at reset. Call once per env step (the reward manager does)."""

  def __init__(self, env, command_name: str, threshold: float = 0.4, min_command: float = 0.1):
    if env.num_feet == 0:
      raise ValueError("FeetAirTime needs the robot's feet: set RobotCfg.foot_geoms or foot_bodies")
    dev = env.sim.qpos.device
    self.air_time = torch.zeros(env.num_envs, env.num_feet, device=dev)
    self.last_contacts = torch.zeros(env.num_envs, env.num_feet, dtype=torch.bool, device=dev)

  def __call__(self, env, command_name: str, threshold: float = 0.4, min_command: float = 0.1):
    contact = env.foot_contacts()
    contact_filt = contact | self.last_contacts
    self.last_contacts.copy_(contact)
    first_contact = (self.air_time > 0) & contact_filt
    self.air_time += env.step_dt
    air = ((self.air_time - threshold) * first_contact).sum(-1)
    moving = torch.linalg.vector_norm(env.command(command_name)[:, :2], dim=-1) > min_command
    self.air_time *= ~contact_filt
    return air * moving

  def reset(self, mask: torch.Tensor):
    m2 = mask[:, None]
    self.air_time.copy_(torch.where(m2, torch.zeros_like(self.air_time), self.air_time))
    self.last_contacts.copy_(self.last_contacts & ~m2)

  def state_dict(self) -> dict:
    return {"feet_air_time": self.air_time.cpu().clone(), "last_contacts": self.last_contacts.cpu().clone()}

  def load_state_dict(self, state: dict):
    self.air_time.copy_(state["feet_air_time"])
    self.last_contacts.copy_(state["last_contacts"])


# ---- terminations (num_envs,) bool -----------------------------------------------------------

def time_out(env) -> torch.Tensor:
  """The episode reached max_episode_length env steps (use with time_out=True)."""
  return env.episode_length_buf >= env.max_episode_length


def base_height_below(env, minimum_height: float | None = None) -> torch.Tensor:
  """Base lower than minimum_height (m); None: the robot's termination height."""
  h = env.termination_height if minimum_height is None else minimum_height
  return env.sim.qpos[:, 2] < h


def bad_orientation(env, limit_gravity_z: float = -0.6) -> torch.Tensor:
  """Tilted: gravity's base-frame z above limit_gravity_z (-0.6: tilt beyond ~53 deg)."""
  return projected_gravity(env)[:, 2] > limit_gravity_z


# ---- commands: f(env, mask, **params) -> (num_envs, dim) ---------------------------------------

def uniform_velocity_command(env, mask, lin_vel_x: tuple = (-0.5, 1.0), lin_vel_y: tuple = (-0.3, 0.3),
                             ang_vel_z: tuple = (-0.5, 0.5), standing_fraction: float = 0.1) -> torch.Tensor:
  """(num_envs, 3) base-frame velocity commands (vx, vy m/s, yaw rate rad/s), uniform in the
  ranges, all zero in a `standing_fraction` of the envs. Draws for every env whatever the
  mask (the stream does not depend on which envs resample)."""
  n = env.num_envs
  cmd = torch.stack([env.uniform(*lin_vel_x, (n,)), env.uniform(*lin_vel_y, (n,)),
                     env.uniform(*ang_vel_z, (n,))], dim=-1)
  still = env.rand((n,)) < standing_fraction
  return torch.where(still[:, None], torch.zeros_like(cmd), cmd)


def null_command(env, mask, dim: int = 3) -> torch.Tensor:
  """(num_envs, dim) zeros: a task without a command that keeps the command's observation
  slot (e.g. standing, as a zero velocity command). Draws nothing."""
  return torch.zeros(env.num_envs, dim, device=env.sim.qpos.device)


# ---- events: f(env, mask, **params) ------------------------------------------------------------

def reset_to_default_pose(env, mask, joint_noise: float = 0.0, vel_noise: float = 0.0,
                          random_yaw: bool = False):
  """Puts the envs in `mask` at env.initial_qpos (the default pose on the floor) with uniform
  joint noise (+- joint_noise rad on the actuated joints), a uniform yaw in [-pi, pi) when
  random_yaw (free base), and uniform velocities (+- vel_noise, every dof)."""
  n, nu = env.num_envs, env.num_actions
  sim = env.sim
  qpos = env.initial_qpos.expand(n, -1).clone()
  qpos[:, env.actuated_qposadr] += env.uniform(-joint_noise, joint_noise, (n, nu))
  if random_yaw and env.has_free_base:
    yaw = env.uniform(-math.pi, math.pi, (n,))
    qpos[:, 3:7] = torch.stack([torch.cos(yaw / 2), torch.zeros_like(yaw), torch.zeros_like(yaw),
                                torch.sin(yaw / 2)], dim=-1)
  qvel = env.uniform(-vel_noise, vel_noise, (n, sim.model.nv))
  sim.qpos.copy_(torch.where(mask[:, None], qpos, sim.qpos))
  sim.qvel.copy_(torch.where(mask[:, None], qvel, sim.qvel))


def push_by_setting_velocity(env, mask, velocity_range: dict):
  """Adds a uniform velocity to the free base of the envs in `mask`: velocity_range
  {"x", "y", "z": (lo, hi) m/s world frame; "roll", "pitch", "yaw": (lo, hi) rad/s body
  frame}, missing axes unchanged (a push as a velocity step, no force to tune)."""
  axes = ("x", "y", "z", "roll", "pitch", "yaw")
  bad = sorted(set(velocity_range) - set(axes))
  if bad:
    raise ValueError(f"push_by_setting_velocity: unknown axes {bad}; axes: {list(axes)}")
  if not env.has_free_base:
    raise ValueError("push_by_setting_velocity needs a free base joint")
  n, dev = env.num_envs, env.sim.qvel.device
  dv = torch.zeros(n, 6, device=dev)
  for i, a in enumerate(axes):
    if a in velocity_range:
      dv[:, i] = env.uniform(*velocity_range[a], (n,))
  qvel = env.sim.qvel
  qvel[:, 0:6] = torch.where(mask[:, None], qvel[:, 0:6] + dv, qvel[:, 0:6])


def scale_model_parameter(env, mask, field: str, scale_range: tuple):
  """Writes nominal * s into the per-world parameter bank `field` (a Model.banks() name, e.g.
  "geom_friction", "body_mass", "dof_damping", "actuator_gainprm") for the envs in `mask`, s
  uniform in scale_range, one per element of the world's row. Needs one bank per world (the
  env builds its Simulator so when a task has such events)."""
  banks = env.sim.model.banks()
  if field not in banks:
    raise ValueError(f"scale_model_parameter: '{field}' is not a parameter bank; banks: {sorted(banks)}")
  bank = wp.to_torch(banks[field])
  if bank.shape[0] != env.num_envs:
    raise ValueError(f"scale_model_parameter('{field}') needs one bank per world (nbank={bank.shape[0]}, "
                     f"num_envs={env.num_envs})")
  nominal = torch.as_tensor(env.sim.model.host[field][0], dtype=bank.dtype, device=bank.device)
  value = nominal[None] * env.uniform(scale_range[0], scale_range[1], bank.shape)
  sel = mask.view(-1, *([1] * (bank.dim() - 1)))
  bank.copy_(torch.where(sel, value, bank))


scale_model_parameter.needs_banks = True  # the manager reads this: nbank = num_envs


# ---- curriculum: f(env, mask, **params) -> a value to log (or None) ----------------------------

def modify_reward_weight(env, mask, term_name: str, weight: float, num_steps: int):
  """Sets reward term `term_name`'s weight to `weight` once the env has taken `num_steps`
  env steps (env.common_step_counter). Returns the term's current weight."""
  term = env.reward_term(term_name)
  if env.common_step_counter >= num_steps:
    term.weight = float(weight)
  return term.weight
