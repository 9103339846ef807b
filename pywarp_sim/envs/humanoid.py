"""Humanoid standing and velocity-tracking tasks, batched on one device.

Everything in `step` runs on the simulator's device with torch ops on the
zero-copy views of the simulator; the only host sync is the NaN check on the
incoming actions (`validate_actions=True`, one flag read per env step).

Actions (num_envs, 21), one per motor of `humanoid.xml`:

* ``action_type="position"`` (default): joint position targets
  ``q_target = default_joint_pos + action_scale * action``. humanoid.xml has
  motors (torque actuators), so the PD law (control.pd_ctrl) runs in torch at every physics
  step: ``tau = kp * (q_target - q) - kd * qdot`` (N m), ``ctrl = tau / gear``
  clipped to the motor's ctrlrange (so |tau| <= gear). `kp`/`kd` default to
  ``kp_per_gear * gear`` and ``kd_per_gear * gear`` (12 and 0.05: the ankles must be
  stiffer than m g h of the body for the default pose to stand, measured ~10 s with zero
  actions, and the explicit D term chatters at 5 ms steps above ~0.1 * gear) and may be
  given per joint.
* ``action_type="torque"``: ``ctrl = clip(action_scale * action, ctrlrange)``.

Actions are clipped to ``[-clip_actions, clip_actions]`` first. One env step
is `decimation` physics steps (timestep 5 ms: 50 Hz control by default).

How the motors see the commands (a robot's control loop):

* ``pd_decimation``: physics steps per evaluation of the PD law (or of the torque
  clip); the ctrl is held in between (1: every physics step).
* ``actuation_delay``: what the per-world latency of the domain randomisation
  (``latency_steps``, physics steps) delays. ``"target"``: during the first
  `latency` physics steps of each env step the previous action's target still
  drives the PD law (at most `decimation` steps, as Isaac Lab's delayed actuators).
  ``"ctrl"``: every ctrl the controller computes reaches the motors `latency`
  physics steps later, any length (a robot whose commands are computed at its
  control rate and arrive late); the motors get zero ctrl for the first `latency`
  steps of an episode.

Observation group "policy" (num_envs, 76), in this order:
base height (1, m), gravity in the base frame (3), base linear velocity in the
base frame (3, m/s), base angular velocity in the base frame (3, rad/s, *0.25),
joint positions minus default (21, rad), joint velocities (21, rad/s, *0.05),
last action (21), command (3: vx, vy m/s, yaw rate rad/s; zeros for standing).

Rewards: a weighted sum of named terms, ``sum_i weight_i * term_i * dt`` with dt the env
step in seconds (weights are per second, as in legged_gym, so returns stay O(episode
seconds) and the critic fits them quickly), each logged in extras["log"] as
"Reward/<name>" (mean over envs of weight * term * dt).
Derived quantities used by the rewards (foot contacts) come from the last
physics step's forward pass, i.e. lag the state by one physics step (5 ms), as
in MuJoCo after mj_step.

Episodes end on a fall (base height below `termination_height` or the base
tilted so that gravity's base-frame z exceeds `termination_gravity_z`), on a
non-healthy world (Simulator.health != 0), or on timeout; done envs are reset
on the device inside `step`, and the returned observations are the first
observations of their new episodes. extras["time_outs"] marks the timeouts.
"""

from __future__ import annotations

import dataclasses
import math

import mujoco
import numpy as np
import torch

from .. import randomize
from ..simulator import Simulator, validate_actions
from . import control

try:  # rsl-rl-lib is optional (extra "rl"); the env works without it
  from rsl_rl.env import VecEnv as _VecEnvBase
except ImportError:  # pragma: no cover - depends on the install
  _VecEnvBase = object

try:
  from tensordict import TensorDict
except ImportError:  # pragma: no cover
  TensorDict = None

STAND_REWARDS = {
  "alive": 1.0, "upright": 1.0, "base_height": 1.0, "tracking_lin_vel": 0.5,
  "tracking_ang_vel": 0.25, "action_rate": -0.01, "torque": -0.01,
}
WALK_REWARDS = {
  "alive": 0.5, "upright": 0.5, "base_height": 0.5, "tracking_lin_vel": 1.5,
  "tracking_ang_vel": 0.75, "feet_air_time": 1.0, "action_rate": -0.01, "torque": -0.005,
}


@dataclasses.dataclass
class HumanoidEnvCfg:
  """Configuration of the humanoid tasks; `envs.make(name, n, device, **overrides)`."""
  task: str = "stand"                 # "stand" or "walk"
  model: str = "humanoid"             # bundled model name, path or XML
  decimation: int = 4                 # physics steps per env step
  episode_length_s: float = 10.0
  action_type: str = "position"       # "position" (PD targets) or "torque"
  action_scale: float = 0.25          # rad per unit action (position) or ctrl per unit (torque)
  clip_actions: float = 5.0
  pd_decimation: int = 1              # physics steps per PD update; ctrl held in between
  actuation_delay: str = "target"     # what DR latency delays: "target" or "ctrl" (module doc)
  kp: float | tuple | None = None     # N m / rad, scalar or per actuator; None: kp_per_gear * gear
  kd: float | tuple | None = None     # N m s / rad; None: kd_per_gear * gear
  kp_per_gear: float = 12.0
  kd_per_gear: float = 0.05
  default_joint_pos: dict = dataclasses.field(default_factory=lambda: {
    "right_hip_y": -0.1, "left_hip_y": -0.1, "right_knee": -0.2, "left_knee": -0.2,
    "right_ankle_y": -0.1, "left_ankle_y": -0.1})
  init_joint_noise: float = 0.05      # rad, uniform
  init_vel_noise: float = 0.05        # m/s and rad/s, uniform
  init_random_yaw: bool = False
  termination_height: float = 0.8    # m
  termination_gravity_z: float = -0.6  # fall when gravity's base-frame z > this (tilt > ~53 deg)
  target_height: float = 1.25         # m, base_height reward
  foot_geoms: tuple = ("right_foot", "left_foot")
  feet_air_time_target: float = 0.4   # s
  reward_weights: dict | None = None  # None: STAND_REWARDS or WALK_REWARDS
  tracking_sigma: float = 0.25
  command_lin_vel_x: tuple = (-0.5, 1.0)   # m/s (walk)
  command_lin_vel_y: tuple = (-0.3, 0.3)
  command_yaw_rate: tuple = (-0.5, 0.5)    # rad/s
  command_resample_s: float = 5.0
  command_standing_fraction: float = 0.1
  lin_vel_scale: float = 1.0
  ang_vel_scale: float = 0.25
  joint_vel_scale: float = 0.05
  randomization: object = None        # randomize.DomainRandomization or dict
  validate_actions: bool = True       # reject NaN/shape/dtype/device errors (one host sync)
  max_qvel: float = 1e3               # Simulator health bound
  graph: bool = False                 # CUDA graph per physics step (CUDA only)
  backend: str = "auto"               # Simulator backend (auto: native where it runs, else warp)
  seed: int = 0


def _quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
  """R(q)^T v for unit quaternions q (..., 4) = (w, x, y, z)."""
  w, xyz = q[..., :1], q[..., 1:]
  a = v * (2.0 * w * w - 1.0)
  b = torch.cross(xyz, v, dim=-1) * (2.0 * w)
  c = xyz * (2.0 * (xyz * v).sum(-1, keepdim=True))
  return a - b + c


class HumanoidEnv(_VecEnvBase):
  """Vectorised humanoid task with rsl-rl-lib's VecEnv interface (5.x).

  Attributes: num_envs, num_actions, max_episode_length, episode_length_buf (num_envs,)
  long, device, cfg (HumanoidEnvCfg), sim (the Simulator), randomizer, dt (s per env step),
  commands (num_envs, 3), last_base_state (after the last step's physics, before its resets:
  {"height" m, "gravity" base frame, "lin_vel" base frame m/s, "ang_vel" body frame rad/s},
  each (num_envs, 3) or (num_envs,)).

  The control law (what a robot running the policy must reproduce; envs/control.py):
  default_joint_pos (nu,) rad, kp (nu,) N m/rad and kd (nu,) N m s/rad (nominal, before the
  randomiser's kp/kd scales), force_per_ctrl (nu,) N m per unit ctrl, ctrl_lo / ctrl_hi
  (nu,) ctrl range (+-inf when unlimited); initial_qpos (nq,) the reference start state.

  Seams for the academy (scoring a robot's state mirrored into `sim`, scenarios in the
  resets): base_state(), compute_rewards(b), compute_observations(), foot_contacts(),
  set_reset_scenario(fn), set_latency(worlds, steps).

  For gymnasium (envs/gym.py): seed(seed) restarts the random streams; with
  `record_final_obs = True`, step also returns extras["final_obs"], the observations of
  every env before the done ones are reset (one more compute_observations per step; with
  observation noise it draws noise for them too, so the random stream differs from a run
  without it).
  """

  record_final_obs: bool = False

  def __init__(self, cfg: HumanoidEnvCfg, num_envs: int, device="cpu"):
    if cfg.task not in ("stand", "walk"):
      raise ValueError(f"task must be 'stand' or 'walk', got '{cfg.task}'")
    if cfg.action_type not in ("position", "torque"):
      raise ValueError(f"action_type must be 'position' or 'torque', got '{cfg.action_type}'")
    if cfg.decimation < 1:
      raise ValueError(f"decimation must be >= 1, got {cfg.decimation}")
    if cfg.pd_decimation < 1 or cfg.decimation % cfg.pd_decimation:
      raise ValueError(f"pd_decimation must be >= 1 and divide decimation ({cfg.decimation}), "
                       f"got {cfg.pd_decimation}")
    if cfg.actuation_delay not in ("target", "ctrl"):
      raise ValueError(f"actuation_delay must be 'target' or 'ctrl', got '{cfg.actuation_delay}'")
    self.cfg = cfg
    self.num_envs = int(num_envs)
    spec = randomize.DomainRandomization.from_dict(cfg.randomization)
    nbank = self.num_envs if spec is not None and spec.needs_banks() else None
    self.sim = Simulator(cfg.model, nworld=self.num_envs, device=device, max_qvel=cfg.max_qvel,
                         nbank=nbank, graph=cfg.graph, backend=cfg.backend)
    tdev = self.sim.torch_device
    self.device = str(tdev)
    self._tdev = tdev
    m = self.sim.model
    self.mj_model = m.mj_model
    self.num_actions = m.nu
    self.dt = m.opt.timestep * cfg.decimation
    self.max_episode_length = int(math.ceil(cfg.episode_length_s / self.dt))
    if (spec is not None and spec.latency_steps is not None and cfg.actuation_delay == "target"
        and spec.latency_steps[1] > cfg.decimation):
      raise ValueError(f"latency_steps {spec.latency_steps} exceeds decimation {cfg.decimation}: "
                       f"a target delay is applied within one env step; lower it, raise decimation "
                       f"or delay the ctrl (actuation_delay='ctrl')")
    self.randomizer = randomize.Randomizer(self.sim, spec, seed=cfg.seed + 1)
    self.generator = torch.Generator(device=tdev)
    self.generator.manual_seed(int(cfg.seed))

    h = m.host
    jnt = h["actuator_trnid"]
    self._qadr = torch.as_tensor(h["jnt_qposadr"][jnt], dtype=torch.long, device=tdev)
    self._vadr = torch.as_tensor(h["jnt_dofadr"][jnt], dtype=torch.long, device=tdev)
    names = m.names["actuator"]
    jnames = [m.names["joint"][j] for j in jnt]
    default = torch.zeros(m.nu, device=tdev)
    for jn, v in cfg.default_joint_pos.items():
      if jn not in jnames:
        raise ValueError(f"default_joint_pos: '{jn}' is not an actuated joint; joints: {jnames}")
      default[jnames.index(jn)] = float(v)
    self.default_joint_pos = default
    self.actuator_names = names
    gear = torch.as_tensor(h["actuator_gear"][0], dtype=torch.float32, device=tdev)
    gain = torch.as_tensor(h["actuator_gainprm"][0][:, 0], dtype=torch.float32, device=tdev)
    self.force_per_ctrl = gear * gain  # joint torque per unit ctrl (nominal)

    def per_joint(x, ratio):
      if x is None:
        return ratio * gear
      t = torch.as_tensor(x, dtype=torch.float32, device=tdev)
      if t.numel() not in (1, m.nu):
        raise ValueError(f"kp/kd must be a scalar or have {m.nu} values, got {t.numel()}")
      return t.expand(m.nu).clone()
    self.kp = per_joint(cfg.kp, cfg.kp_per_gear)
    self.kd = per_joint(cfg.kd, cfg.kd_per_gear)
    cr = torch.as_tensor(h["actuator_ctrlrange"], dtype=torch.float32, device=tdev)
    limited = torch.as_tensor(h["actuator_ctrllimited"], dtype=torch.bool, device=tdev)
    self.ctrl_lo = torch.where(limited, cr[:, 0], torch.full_like(cr[:, 0], -math.inf))
    self.ctrl_hi = torch.where(limited, cr[:, 1], torch.full_like(cr[:, 1], math.inf))

    gnames = m.names["geom"]
    for g in cfg.foot_geoms:
      if g not in gnames:
        raise ValueError(f"foot geom '{g}' is not in the model; geoms: {gnames}")
    self._foot_geoms = torch.as_tensor([gnames.index(g) for g in cfg.foot_geoms], device=tdev)

    # reference initial state: default joint pose, feet just above the floor
    self.initial_qpos = self._initial_qpos(m.mj_model, default.cpu().numpy(), h).to(tdev)

    weights = cfg.reward_weights
    if weights is None:
      weights = STAND_REWARDS if cfg.task == "stand" else WALK_REWARDS
    unknown = set(weights) - set(self._reward_terms())
    if unknown:
      raise ValueError(f"unknown reward terms {sorted(unknown)}; available: {sorted(self._reward_terms())}")
    self.reward_weights = dict(weights)

    n, nu = self.num_envs, m.nu
    self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=tdev)
    self.actions = torch.zeros(n, nu, device=tdev)
    self.last_actions = torch.zeros(n, nu, device=tdev)
    self._target = torch.zeros(n, nu, device=tdev)       # this env step's target (or ctrl)
    self._prev_target = torch.zeros(n, nu, device=tdev)  # previous env step's (latency)
    self._ctrl_now = torch.zeros(n, nu, device=tdev)     # the controller's latest ctrl
    # actuation_delay="ctrl": the ctrl of the last `max latency + 1` physics steps
    max_latency = 0
    if cfg.actuation_delay == "ctrl" and spec is not None and spec.latency_steps is not None:
      max_latency = int(spec.latency_steps[1])
    self._ctrl_delay = control.DelayLine(n, nu, max_latency, device=tdev)
    self._reset_scenario = None
    self.commands = torch.zeros(n, 3, device=tdev)
    self.feet_air_time = torch.zeros(n, len(cfg.foot_geoms), device=tdev)
    self.last_contacts = torch.zeros(n, len(cfg.foot_geoms), dtype=torch.bool, device=tdev)
    self.episode_return = torch.zeros(n, device=tdev)
    # completed episodes since the last pop_episode_stats(): [return sum, count, length sum]
    self._episode_stats = torch.zeros(3, dtype=torch.float64, device=tdev)
    self._command_resample = max(1, int(round(cfg.command_resample_s / self.dt)))
    self._obs = None
    self.reset()
    self.last_base_state = self.base_state()

  # ---- helpers ------------------------------------------------------------------
  @staticmethod
  def _initial_qpos(mjm, default_joint_pos, h) -> torch.Tensor:
    d = mujoco.MjData(mjm)
    d.qpos[h["jnt_qposadr"][h["actuator_trnid"]]] = default_joint_pos
    mujoco.mj_kinematics(mjm, d)
    # lowest point of any collision geom above the floor plane (bounding spheres, conservative)
    lowest = math.inf
    for g in range(mjm.ngeom):
      if mjm.geom_type[g] == mujoco.mjtGeom.mjGEOM_PLANE or mjm.geom_bodyid[g] == 0:
        continue
      if mjm.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE:
        axis = d.geom_xmat[g].reshape(3, 3)[:, 2]
        z = d.geom_xpos[g, 2] - abs(axis[2]) * mjm.geom_size[g, 1] - mjm.geom_size[g, 0]
      else:
        z = d.geom_xpos[g, 2] - mjm.geom_rbound[g]
      lowest = min(lowest, z)
    qpos = torch.as_tensor(np.array(d.qpos), dtype=torch.float32)
    if mjm.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE:
      qpos[2] -= lowest - 0.002
    return qpos

  def _uniform(self, lo, hi, shape) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=self.generator, device=self._tdev)

  @staticmethod
  def _reward_terms():
    return ("alive", "upright", "base_height", "tracking_lin_vel", "tracking_ang_vel",
            "feet_air_time", "action_rate", "torque")

  # ---- definitions of the task on the current state (also used by the academy to score a
  # robot's state mirrored into `sim`) --------------------------------------------------
  def base_state(self) -> dict:
    """The base of every env in the current state of `sim`: {"height" (num_envs,) m,
    "gravity" (num_envs, 3) unit vector in the base frame, "lin_vel" (num_envs, 3) m/s in
    the base frame, "ang_vel" (num_envs, 3) rad/s in the body frame}."""
    qpos, qvel = self.sim.qpos, self.sim.qvel
    quat = qpos[:, 3:7]
    gravity = torch.tensor([0.0, 0.0, -1.0], device=self._tdev).expand(self.num_envs, 3)
    return {
      "height": qpos[:, 2].clone(),
      "gravity": _quat_rotate_inverse(quat, gravity),
      "lin_vel": _quat_rotate_inverse(quat, qvel[:, 0:3]),
      "ang_vel": qvel[:, 3:6].clone(),  # free joint: angular velocity is in the body frame
    }

  def foot_contacts(self) -> torch.Tensor:
    """(num_envs, nfeet) bool: foot geom j (cfg.foot_geoms) is in an active contact (last
    physics step or forward pass)."""
    return control.foot_contacts(self.sim, self._foot_geoms)

  def compute_observations(self) -> "TensorDict":
    """The observations of the current state (module doc), with the randomiser's observation
    noise: TensorDict {"policy": (num_envs, num_obs)}. Does not store them (step and reset
    do; get_observations returns the stored ones)."""
    b = self.base_state()
    cfg = self.cfg
    qpos, qvel = self.sim.qpos, self.sim.qvel
    obs = torch.cat([
      b["height"][:, None], b["gravity"], b["lin_vel"] * cfg.lin_vel_scale,
      b["ang_vel"] * cfg.ang_vel_scale, qpos[:, self._qadr] - self.default_joint_pos,
      qvel[:, self._vadr] * cfg.joint_vel_scale, self.actions, self.commands,
    ], dim=-1)
    obs = self.randomizer.obs_noise(obs)
    return TensorDict({"policy": obs}, batch_size=[self.num_envs], device=self._tdev)

  @property
  def num_obs(self) -> int:
    return 1 + 3 + 3 + 3 + 3 * self.num_actions + 3

  def seed(self, seed: int):
    """Restarts the env's and the randomiser's random streams as an env built with
    cfg.seed=seed had them (the next reset draws what that env's first reset drew)."""
    self.generator.manual_seed(int(seed))
    self.randomizer.generator.manual_seed(int(seed) + 1)

  # ---- VecEnv ---------------------------------------------------------------------
  def get_observations(self) -> "TensorDict":
    """The current observations: TensorDict {"policy": (num_envs, num_obs)}."""
    return self._obs

  def reset(self):
    """Resets every env (new randomisation, initial state, command); returns observations."""
    self._reset_envs(torch.ones(self.num_envs, dtype=torch.bool, device=self._tdev))
    self._obs = self.compute_observations()
    return self._obs

  def set_reset_scenario(self, scenario):
    """Installs `scenario(mask)`, called whenever envs are reset (by `reset` and inside
    `step`), after the env's own reset of the envs in `mask` ((num_envs,) bool on the device)
    and before their first observations are computed: it may put any of those worlds in
    another start state (sim.qpos / sim.qvel, then sim.forward()), write their per-world
    model parameters (bank rows) and their latency (`set_latency`), e.g. to replay recorded
    incidents. None removes it. Returns the scenario it replaces (None when there was none),
    so a caller can chain or restore it."""
    if scenario is not None and not callable(scenario):
      raise TypeError(f"the reset scenario must be callable as scenario(mask) or None, "
                      f"got {type(scenario).__name__}")
    previous, self._reset_scenario = self._reset_scenario, scenario
    return previous

  def _resample_commands(self, mask: torch.Tensor):
    cfg, n = self.cfg, self.num_envs
    if cfg.task == "stand":
      return
    cmd = torch.stack([
      self._uniform(*cfg.command_lin_vel_x, (n,)), self._uniform(*cfg.command_lin_vel_y, (n,)),
      self._uniform(*cfg.command_yaw_rate, (n,))], dim=-1)
    still = torch.rand(n, generator=self.generator, device=self._tdev) < cfg.command_standing_fraction
    cmd = torch.where(still[:, None], torch.zeros_like(cmd), cmd)
    self.commands.copy_(torch.where(mask[:, None], cmd, self.commands))

  def _reset_envs(self, mask: torch.Tensor):
    """Resets the envs in `mask` (bool, on the device) without a host sync (the reset
    scenario, when one is set, may sync)."""
    cfg, n, nu = self.cfg, self.num_envs, self.num_actions
    self.randomizer.sample(mask)
    self.sim.reset(mask, recompute=False)
    qpos = self.initial_qpos.expand(n, -1).clone()
    qpos[:, self._qadr] += self._uniform(-cfg.init_joint_noise, cfg.init_joint_noise, (n, nu))
    if cfg.init_random_yaw and self.mj_model.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE:
      yaw = self._uniform(-math.pi, math.pi, (n,))
      qpos[:, 3:7] = torch.stack([torch.cos(yaw / 2), torch.zeros_like(yaw), torch.zeros_like(yaw),
                                  torch.sin(yaw / 2)], dim=-1)
    qvel = self._uniform(-cfg.init_vel_noise, cfg.init_vel_noise, (n, self.sim.model.nv))
    self.sim.qpos.copy_(torch.where(mask[:, None], qpos, self.sim.qpos))
    self.sim.qvel.copy_(torch.where(mask[:, None], qvel, self.sim.qvel))
    m2 = mask[:, None]
    zeros = torch.zeros_like(self.actions)
    for buf in (self.actions, self.last_actions):
      buf.copy_(torch.where(m2, zeros, buf))
    target0 = self.default_joint_pos.expand(n, -1) if cfg.action_type == "position" else zeros
    self._target.copy_(torch.where(m2, target0, self._target))
    self._prev_target.copy_(torch.where(m2, target0, self._prev_target))
    self._ctrl_delay.clear(mask)
    self.feet_air_time.copy_(torch.where(m2, torch.zeros_like(self.feet_air_time), self.feet_air_time))
    self.last_contacts.copy_(self.last_contacts & ~m2)
    self.episode_length_buf.copy_(torch.where(mask, torch.zeros_like(self.episode_length_buf),
                                              self.episode_length_buf))
    self.episode_return.copy_(torch.where(mask, torch.zeros_like(self.episode_return), self.episode_return))
    self._resample_commands(mask)
    if self._reset_scenario is not None:
      self._reset_scenario(mask)

  def _ctrl(self, target: torch.Tensor) -> torch.Tensor:
    if self.cfg.action_type == "torque":
      return control.clip_ctrl(target, self.ctrl_lo, self.ctrl_hi)
    q, qd = self.sim.qpos[:, self._qadr], self.sim.qvel[:, self._vadr]
    return control.pd_ctrl(q, qd, target, self.kp * self.randomizer.kp_scale,
                           self.kd * self.randomizer.kd_scale, self.force_per_ctrl,
                           self.ctrl_lo, self.ctrl_hi)

  def set_latency(self, worlds: torch.Tensor, steps: torch.Tensor):
    """Sets the actuation latency (physics steps) of `worlds` (index tensor) until their next
    reset draws it again, e.g. a replayed scenario's. Raises ValueError beyond what the env
    holds: `decimation` steps for a target delay, the largest randomised latency for a ctrl
    delay (its ring of past ctrls)."""
    cap = self.cfg.decimation if self.cfg.actuation_delay == "target" else self._ctrl_delay.max_delay
    top = int(steps.max()) if steps.numel() else 0
    if top > cap:
      raise ValueError(f"latency {top} physics steps exceeds what the env holds ({cap}, "
                       f"actuation_delay='{self.cfg.actuation_delay}'): widen latency_steps")
    lat = self.randomizer.latency
    lat[worlds.to(lat.device)] = steps.to(lat.device, lat.dtype)

  @torch.no_grad()
  def step(self, actions: torch.Tensor):
    """Applies actions (num_envs, num_actions) for `decimation` physics steps.

    Returns (obs TensorDict, rewards (num_envs,), dones (num_envs,) long, extras) with
    extras["time_outs"] (num_envs,) bool and extras["log"] {name: 0-d tensor}, and with
    record_final_obs extras["final_obs"] (TensorDict, the observations before the resets).
    """
    cfg = self.cfg
    if cfg.validate_actions:
      validate_actions(actions, (self.num_envs, self.num_actions), self._tdev, "actions")
    actions = torch.clamp(actions, -cfg.clip_actions, cfg.clip_actions)
    self.last_actions.copy_(self.actions)
    self.actions.copy_(actions)
    applied = self.randomizer.action_noise(actions)
    self._prev_target.copy_(self._target)
    if cfg.action_type == "position":
      self._target.copy_(self.default_joint_pos + cfg.action_scale * applied)
    else:
      self._target.copy_(cfg.action_scale * applied)

    spec = self.randomizer.spec
    if spec.push_interval:
      t = self.episode_length_buf
      self.randomizer.resample_push((t % spec.push_interval == 0) & (t > 0))
      active = ((t % spec.push_interval) < spec.push_duration) & (t >= spec.push_interval)
      xfrc = self.sim.xfrc_applied
      xfrc[:, self.randomizer.push_bodyid, 0:3] = torch.where(
        active[:, None], self.randomizer.push_force, torch.zeros_like(self.randomizer.push_force))

    latency = self.randomizer.latency[:, None]
    delay_target = spec.latency_steps is not None and cfg.actuation_delay == "target"
    ctrl = self.sim.ctrl
    for k in range(cfg.decimation):
      if k % cfg.pd_decimation == 0:
        target = torch.where(latency > k, self._prev_target, self._target) if delay_target else self._target
        self._ctrl_now.copy_(self._ctrl(target))
      ctrl.copy_(self._ctrl_delay.push(self._ctrl_now, self.randomizer.latency))
      self.sim.step()

    self.episode_length_buf += 1
    b = self.base_state()
    self.last_base_state = b
    rewards, terms = self.compute_rewards(b)
    unhealthy = self.sim.health != 0
    fell = (b["height"] < cfg.termination_height) | (b["gravity"][:, 2] > cfg.termination_gravity_z)
    terminated = fell | unhealthy | ~torch.isfinite(rewards)
    rewards = torch.where(unhealthy | ~torch.isfinite(rewards), torch.zeros_like(rewards), rewards)
    time_outs = (self.episode_length_buf >= self.max_episode_length) & ~terminated
    dones = terminated | time_outs

    self.episode_return += rewards
    done_f = dones.to(torch.float64)
    self._episode_stats += torch.stack([(self.episode_return.double() * done_f).sum(), done_f.sum(),
                                        (self.episode_length_buf.double() * done_f).sum()])
    log = {f"Reward/{k}": v.mean() for k, v in terms.items()}
    log["Episode/terminations"] = terminated.float().mean()
    log["Episode/time_outs"] = time_outs.float().mean()
    log["Episode/unhealthy"] = unhealthy.float().mean()

    resample = (self.episode_length_buf % self._command_resample) == 0
    self._resample_commands(resample & ~dones)
    extras = {"time_outs": time_outs, "log": log}
    if self.record_final_obs:
      extras["final_obs"] = self.compute_observations()
    self._reset_envs(dones)
    self._obs = self.compute_observations()
    return self._obs, rewards, dones.long(), extras

  def compute_rewards(self, b: dict) -> tuple:
    """The rewards of the current state with base state `b` (base_state()): (total
    (num_envs,), {term: (num_envs,) weight * term * dt}). Advances the feet air-time
    bookkeeping of "feet_air_time" (call it once per env step)."""
    cfg, w = self.cfg, self.reward_weights
    terms = {}
    sig = cfg.tracking_sigma
    if "alive" in w:
      terms["alive"] = torch.ones(self.num_envs, device=self._tdev)
    if "upright" in w:
      terms["upright"] = -b["gravity"][:, 2]
    if "base_height" in w:
      terms["base_height"] = torch.exp(-torch.square(b["height"] - cfg.target_height) / 0.01)
    if "tracking_lin_vel" in w:
      err = torch.square(self.commands[:, :2] - b["lin_vel"][:, :2]).sum(-1)
      terms["tracking_lin_vel"] = torch.exp(-err / sig)
    if "tracking_ang_vel" in w:
      terms["tracking_ang_vel"] = torch.exp(-torch.square(self.commands[:, 2] - b["ang_vel"][:, 2]) / sig)
    if "feet_air_time" in w:
      contact = self.foot_contacts()
      contact_filt = contact | self.last_contacts
      self.last_contacts.copy_(contact)
      first_contact = (self.feet_air_time > 0) & contact_filt
      self.feet_air_time += self.dt
      air = ((self.feet_air_time - cfg.feet_air_time_target) * first_contact).sum(-1)
      moving = torch.linalg.vector_norm(self.commands[:, :2], dim=-1) > 0.1
      terms["feet_air_time"] = air * moving
      self.feet_air_time *= ~contact_filt
    if "action_rate" in w:
      terms["action_rate"] = torch.square(self.actions - self.last_actions).sum(-1)
    if "torque" in w:
      terms["torque"] = torch.square(self.sim.ctrl).sum(-1)
    weighted = {k: w[k] * v * self.dt for k, v in terms.items()}
    total = torch.stack(list(weighted.values())).sum(0)
    return total, weighted

  # ---- statistics and checkpointing ---------------------------------------------------
  def pop_episode_stats(self) -> dict:
    """Completed episodes since the last call (reads back to the host): count, mean return,
    mean length (env steps); NaN means when none completed."""
    s = self._episode_stats.cpu().tolist()
    self._episode_stats.zero_()
    count = int(s[1])
    return {"episodes": count, "mean_return": s[0] / count if count else float("nan"),
            "mean_length": s[2] / count if count else float("nan")}

  def state_dict(self) -> dict:
    """Everything needed to resume bit-exactly (with checkpoint.save, which adds the sim)."""
    bufs = ("episode_length_buf", "actions", "last_actions", "_target", "_prev_target", "commands",
            "feet_air_time", "last_contacts", "episode_return", "_episode_stats", "_ctrl_now")
    state = {k: getattr(self, k).cpu().clone() for k in bufs}
    # the ctrl delay line, under the keys of the checkpoints written before it had a class
    state["_ctrl_hist"] = self._ctrl_delay.buffer.cpu().clone()
    state["ctrl_pos"] = self._ctrl_delay.pos
    state["generator"] = self.generator.get_state()
    state["randomizer"] = self.randomizer.state_dict()
    state["obs"] = self._obs["policy"].cpu().clone()  # noisy observations are not recomputable
    return state

  def load_state_dict(self, state: dict):
    for k, v in state.items():
      if k == "generator":
        self.generator.set_state(v)
      elif k == "ctrl_pos":
        self._ctrl_delay.pos = int(v)
      elif k == "_ctrl_hist":
        self._ctrl_delay.buffer.copy_(v)
      elif k == "randomizer":
        self.randomizer.load_state_dict(v)
      elif k == "obs":
        self._obs = TensorDict({"policy": v.to(self._tdev)}, batch_size=[self.num_envs],
                               device=self._tdev)
      else:
        getattr(self, k).copy_(v)
