"""Manager-style tasks: a task is a config of terms (TaskCfg), evaluated batched over worlds on
the simulator's device by TaskEnv, as Isaac Lab's manager-based envs and mjlab.

  cfg = TaskCfg(
    robot=robot.HUMANOID,
    observations={"policy": ObsGroup({"gravity": ObsTerm(mdp.projected_gravity), ...}),
                  "critic": ObsGroup({...}, noise=False)},          # privileged critic inputs
    rewards={"alive": RewardTerm(mdp.is_alive, weight=1.0), ...},
    terminations={"time_out": TerminationTerm(mdp.time_out, time_out=True), ...},
    commands={"base_velocity": CommandTerm(mdp.uniform_velocity_command, resampling_time_s=5.0)},
    events={"reset_pose": EventTerm(mdp.reset_to_default_pose, mode="reset", params={...})},
  )
  env = TaskEnv(cfg, num_envs=4096, device="cuda")     # or envs.make(...) with a registered name

Term functions are plain functions of envs/mdp.py (or the user's) with the signature
f(env, **params) (commands, events, curriculum: f(env, mask, **params)); a class is built once
with (env, **params) and then called (stateful terms). Every term's params are checked against
its function's signature when the env is built: a misnamed term, parameter, command or
reward reference raises ValueError naming the term.

One env step (TaskEnv.step), in order:
  1. actions: validated, clipped to +-actions.clip, the randomiser's action noise, then the
     action term: joint targets (default pose + scale * action) through the env's PD law to
     motors ("joint_position_pd"), joint targets as the ctrl of MuJoCo position actuators
     ("joint_position"), or ctrl = scale * action to motors ("joint_torque"); the actuator kinds
     of the compiled model must fit (robot.actuator_kinds), else ValueError naming the
     actuators (or a warning with allow_actuator_mismatch=True).
  2. `decimation` physics steps, with the randomisation's pushes (xfrc), latency and PD
     decimation as envs/humanoid.py documents (`pd_decimation`, `actuation_delay`).
  3. reward terms: sum_i weight_i * term_i * dt (weights per second), each logged as
     "Reward/<name>" in extras["log"].
  4. termination terms: the non-time-out terms OR'd with non-healthy worlds (Simulator.health)
     and non-finite rewards (whose reward is zeroed) are the terminations; time_out=True terms
     the time-outs (extras["time_outs"]) unless terminated.
  5. commands due (every resampling_time_s of episode time) are resampled for envs that go on.
  6. done envs are reset on the device: curriculum terms, the randomiser's draws
     (TaskCfg.randomization: parameter banks, gain scales, latency), Simulator.reset, "reset"
     events (e.g. the start pose), cleared buffers, new commands, the reset scenario.
  7. "interval" events for the envs whose timer ran out, then the observations of every group
     (the randomiser's observation noise on the groups with noise=True).
"startup" events run once, for every env, when the env is built.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import warnings
from typing import Any, Callable

import mujoco
import numpy as np
import torch

from .. import randomize
from ..simulator import Simulator, validate_actions
from . import control, mdp
from . import robot as robot_mod
from .optional import TensorDict, VecEnvBase  # rsl-rl-lib and tensordict, both optional

ACTION_TYPES = {
  # type: (actuator kind it needs, what it sends them)
  "joint_position_pd": ("motor", "torques from the env's PD law on joint targets"),
  "joint_position": ("position", "joint position targets (rad)"),
  "joint_torque": ("motor", "torque-like ctrl (scale * action)"),
}
EVENT_MODES = ("startup", "reset", "interval")


# ---- the config ---------------------------------------------------------------------------------

@dataclasses.dataclass
class ObsTerm:
  """An observation term: func(env, **params) -> (num_envs, k) (or (num_envs,)), times scale."""
  func: Callable
  params: dict = dataclasses.field(default_factory=dict)
  scale: float | None = None


@dataclasses.dataclass
class ObsGroup:
  """An observation group: its terms concatenated in order into (num_envs, sum k). noise: the
  randomiser's observation noise (DomainRandomization.obs_noise_std) is added (policy inputs
  as a robot senses them); a critic group of privileged inputs usually has noise=False."""
  terms: dict = dataclasses.field(default_factory=dict)
  noise: bool = True


@dataclasses.dataclass
class RewardTerm:
  """weight (per second) * func(env, **params) * dt per env step."""
  func: Callable
  weight: float = 1.0
  params: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class TerminationTerm:
  """func(env, **params) -> (num_envs,) bool ends the episode; time_out=True: a truncation
  (extras["time_outs"]), not a terminal state."""
  func: Callable
  params: dict = dataclasses.field(default_factory=dict)
  time_out: bool = False


@dataclasses.dataclass
class CommandTerm:
  """func(env, mask, **params) -> (num_envs, dim) draws new commands, kept for the envs in
  mask: at every reset and every resampling_time_s (s of episode time; None: only at reset)."""
  func: Callable
  params: dict = dataclasses.field(default_factory=dict)
  resampling_time_s: float | None = None


@dataclasses.dataclass
class EventTerm:
  """func(env, mask, **params) at "startup" (once, every env), "reset" (the envs being
  reset, after Simulator.reset) or "interval" (each env every interval_range_s seconds,
  drawn uniformly per env after each firing)."""
  func: Callable
  mode: str = "reset"
  params: dict = dataclasses.field(default_factory=dict)
  interval_range_s: tuple | None = None


@dataclasses.dataclass
class CurriculumTerm:
  """func(env, mask, **params) at every reset (before the other resets); a returned number is
  logged as "Curriculum/<name>"."""
  func: Callable
  params: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ActionCfg:
  """The action term (module doc, step 1).

  type: "joint_position_pd" (motors), "joint_position" (position actuators), "joint_torque".
  scale: rad per unit action (targets) or ctrl per unit action (torque). clip: |action| bound.
  pd_decimation, actuation_delay: how commands reach the motors (envs/humanoid.py doc).
  kp, kd: PD gains of joint_position_pd (N m / rad, N m s / rad; scalar or per actuator; None:
    kp_per_gear * gear, kd_per_gear * gear).
  allow_actuator_mismatch: warn instead of raising when the actuators do not fit the type.
  """
  type: str = "joint_position_pd"
  scale: float = 0.25
  clip: float = 5.0
  pd_decimation: int = 1
  actuation_delay: str = "target"
  kp: Any = None
  kd: Any = None
  kp_per_gear: float = 12.0
  kd_per_gear: float = 0.05
  allow_actuator_mismatch: bool = False


def _default_terminations() -> dict:
  return {"time_out": TerminationTerm(mdp.time_out, time_out=True)}


@dataclasses.dataclass
class TaskCfg:
  """A task: its robot, timing, action term and term dicts (module doc). The dicts' order is
  the evaluation order (and the observation layout). `randomization` is a
  randomize.DomainRandomization (or its dict): parameter banks, gain scales and latency drawn
  at reset, pushes, observation and action noise."""
  robot: robot_mod.RobotCfg = dataclasses.field(default_factory=lambda: copy.deepcopy(robot_mod.HUMANOID))
  decimation: int = 4                 # physics steps per env step
  episode_length_s: float = 10.0
  actions: ActionCfg = dataclasses.field(default_factory=ActionCfg)
  observations: dict = dataclasses.field(default_factory=dict)
  rewards: dict = dataclasses.field(default_factory=dict)
  terminations: dict = dataclasses.field(default_factory=_default_terminations)
  commands: dict = dataclasses.field(default_factory=dict)
  events: dict = dataclasses.field(default_factory=dict)
  curriculum: dict = dataclasses.field(default_factory=dict)
  randomization: Any = None
  validate_actions: bool = True       # reject NaN/shape/dtype/device errors (one host sync)
  max_qvel: float = 1e3               # Simulator health bound
  graph: bool = False                 # CUDA graph per physics step (CUDA only)
  backend: str = "auto"               # Simulator backend
  seed: int = 0
  # a shard of a larger batch (distributed training): this env's worlds are global worlds
  # [world_offset, world_offset + num_envs) of num_envs_total (None: num_envs); every random
  # draw of a world (resets, events, commands, the randomiser) is that global world's draw in
  # one env of num_envs_total worlds with the same seed (randomize.WorldDraws)
  world_offset: int = 0
  num_envs_total: int | None = None


def configure(cfg: TaskCfg, overrides: dict | None = None) -> TaskCfg:
  """A deep copy of `cfg` with `overrides` applied: keys are TaskCfg field names or dotted
  paths through dataclass fields and dict keys ("episode_length_s", "actions.scale",
  "rewards.alive.weight", "robot.model", "commands.base_velocity.params.lin_vel_x"). An
  unknown name raises ValueError naming it and what exists there."""
  cfg = copy.deepcopy(cfg)
  for key, value in (overrides or {}).items():
    parts = key.split(".")
    obj, where = cfg, type(cfg).__name__
    for i, part in enumerate(parts):
      last = i == len(parts) - 1
      if dataclasses.is_dataclass(obj):
        names = [f.name for f in dataclasses.fields(obj)]
        if part not in names:
          raise ValueError(f"unknown config key '{key}': {where} has no field '{part}'; fields: {names}")
        if last:
          setattr(obj, part, value)
        else:
          obj = getattr(obj, part)
      elif isinstance(obj, dict):
        if part not in obj and not last:
          raise ValueError(f"unknown config key '{key}': {where} has no entry '{part}'; entries: {list(obj)}")
        if last:
          obj[part] = value
        else:
          obj = obj[part]
      else:
        raise ValueError(f"unknown config key '{key}': {where} is a {type(obj).__name__}, not a "
                         f"config or dict")
      where = f"{where}.{part}"
  return cfg


# ---- term binding -------------------------------------------------------------------------------

def _describe(func) -> str:
  return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _check_params(kind: str, name: str, func, params: dict, nargs: int):
  """Raises ValueError unless `params` bind to func's parameters after env and `nargs` more."""
  if not callable(func):
    raise TypeError(f"{kind} term '{name}': func must be callable, got {type(func).__name__}")
  if not isinstance(params, dict):
    raise TypeError(f"{kind} term '{name}': params must be a dict, got {type(params).__name__}")
  target = func.__init__ if isinstance(func, type) else func
  sig = inspect.signature(target)
  # a function takes (env[, mask], **params); a class term's __init__ (self, env, **params)
  ps = list(sig.parameters.values())[2 if isinstance(func, type) else 1 + nargs:]
  if any(p.kind == p.VAR_KEYWORD for p in ps):
    return
  names = [p.name for p in ps if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
  bad = sorted(set(params) - set(names))
  if bad:
    raise ValueError(f"{kind} term '{name}': {_describe(func)} has no parameter(s) {bad}; its "
                     f"parameters: {names}")
  missing = [p.name for p in ps if p.name in names and p.default is p.empty and p.name not in params]
  if missing:
    raise ValueError(f"{kind} term '{name}': {_describe(func)} needs parameter(s) {missing} in params")


class _Bound:
  """A term's callable with its params bound; a class term is instantiated here."""

  def __init__(self, env, cfg, kind: str, name: str, nargs: int):
    _check_params(kind, name, cfg.func, cfg.params, nargs)
    self.cfg, self.name = cfg, name
    self.fn = cfg.func(env, **cfg.params) if isinstance(cfg.func, type) else cfg.func

  def __call__(self, *args):
    return self.fn(*args, **self.cfg.params)

  def reset(self, mask):
    if hasattr(self.fn, "reset"):
      self.fn.reset(mask)


# ---- the env ---------------------------------------------------------------------------------------

class TaskEnv(VecEnvBase):
  """The env of a TaskCfg, with rsl-rl-lib's VecEnv interface (5.x): num_envs, num_actions,
  max_episode_length, episode_length_buf, device, cfg, get_observations() -> TensorDict of
  the observation groups, step(actions) -> (obs, rewards, dones, extras).

  Attributes: task_cfg (the TaskCfg, also `cfg`), robot (its RobotCfg), sim (the Simulator),
  randomizer, dt (= step_dt, s per env step), generator (the env's torch.Generator),
  common_step_counter (env steps since construction), last_base_state (free base: after the
  last step's physics, before its resets: {"height" m, "gravity", "lin_vel" m/s base frame,
  "ang_vel" rad/s}).

  The control law (what a robot running the policy must reproduce; envs/control.py):
  default_joint_pos (nu,) rad, kp (nu,), kd (nu,) (nominal, before the randomiser's scales),
  force_per_ctrl (nu,) N m per unit ctrl, ctrl_lo / ctrl_hi (nu,) (+-inf when unlimited),
  actuator_kinds (robot.actuator_kinds), initial_qpos (nq,) the default pose on the floor.

  Seams (the academy scores a robot's state mirrored into `sim`, replays scenarios in the
  resets): base_state(), compute_rewards(), compute_observations(), foot_contacts(),
  set_reset_scenario(fn), set_latency(worlds, steps), command(name), reward_term(name).
  For gymnasium (envs/gym.py): seed(seed), clip_actions, record_final_obs (extras["final_obs"]:
  the observations before the resets, one more compute_observations per step).
  """

  record_final_obs: bool = False

  def __init__(self, cfg: TaskCfg, num_envs: int, device="cpu"):
    if not isinstance(cfg, TaskCfg):
      raise TypeError(f"TaskEnv needs a TaskCfg, got {type(cfg).__name__}")
    act = cfg.actions
    if act.type not in ACTION_TYPES:
      raise ValueError(f"actions.type must be one of {list(ACTION_TYPES)}, got '{act.type}'")
    if cfg.decimation < 1:
      raise ValueError(f"decimation must be >= 1, got {cfg.decimation}")
    if act.pd_decimation < 1 or cfg.decimation % act.pd_decimation:
      raise ValueError(f"pd_decimation must be >= 1 and divide decimation ({cfg.decimation}), "
                       f"got {act.pd_decimation}")
    if act.actuation_delay not in ("target", "ctrl"):
      raise ValueError(f"actuation_delay must be 'target' or 'ctrl', got '{act.actuation_delay}'")
    for kind, terms in (("event", cfg.events),):
      for name, t in terms.items():
        if t.mode not in EVENT_MODES:
          raise ValueError(f"{kind} term '{name}': mode must be one of {EVENT_MODES}, got '{t.mode}'")
        if t.mode == "interval" and (t.interval_range_s is None or len(t.interval_range_s) != 2
                                     or not 0 < t.interval_range_s[0] <= t.interval_range_s[1]):
          raise ValueError(f"event term '{name}': an interval event needs interval_range_s=(lo, hi) "
                           f"with 0 < lo <= hi seconds, got {t.interval_range_s}")
    cfg.robot.validate()
    self.task_cfg = cfg
    self.cfg = cfg
    self.robot = cfg.robot
    self.num_envs = int(num_envs)
    spec = randomize.DomainRandomization.from_dict(cfg.randomization)
    banks = (spec is not None and spec.needs_banks()) or any(
      getattr(t.func, "needs_banks", False) for t in cfg.events.values())
    self.sim = Simulator(cfg.robot.model, nworld=self.num_envs, device=device, max_qvel=cfg.max_qvel,
                         nbank=self.num_envs if banks else None, graph=cfg.graph, backend=cfg.backend)
    tdev = self.sim.torch_device
    self.device = str(tdev)
    self._tdev = tdev
    m = self.sim.model
    self.mj_model = m.mj_model
    self.num_actions = m.nu
    self.dt = self.step_dt = m.opt.timestep * cfg.decimation
    self.max_episode_length = int(math.ceil(cfg.episode_length_s / self.dt))
    if (spec is not None and spec.latency_steps is not None and act.actuation_delay == "target"
        and spec.latency_steps[1] > cfg.decimation):
      raise ValueError(f"latency_steps {spec.latency_steps} exceeds decimation {cfg.decimation}: "
                       f"a target delay is applied within one env step; lower it, raise decimation "
                       f"or delay the ctrl (actuation_delay='ctrl')")
    self.generator = torch.Generator(device=tdev)
    self.generator.manual_seed(int(cfg.seed))
    self._draws = randomize.WorldDraws(self.generator, self.num_envs, tdev, cfg.world_offset,
                                       cfg.num_envs_total, "TaskCfg world_offset/num_envs_total")
    self.randomizer = randomize.Randomizer(self.sim, spec, seed=cfg.seed + 1, world_offset=cfg.world_offset,
                                           nworld_total=cfg.num_envs_total)
    self.common_step_counter = 0

    mjm = self.mj_model
    h = m.host
    jnt = h["actuator_trnid"]
    self.actuated_qposadr = torch.as_tensor(h["jnt_qposadr"][jnt], dtype=torch.long, device=tdev)
    self.actuated_dofadr = torch.as_tensor(h["jnt_dofadr"][jnt], dtype=torch.long, device=tdev)
    self.actuator_names = m.names["actuator"]
    self.actuated_joints = [m.names["joint"][j] for j in jnt]
    self.has_free_base = mjm.njnt > 0 and mjm.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE
    pose = robot_mod.default_pose(mjm, cfg.robot, self.actuated_joints)
    self.default_joint_pos = torch.as_tensor(pose, dtype=torch.float32, device=tdev)
    gear = torch.as_tensor(h["actuator_gear"][0], dtype=torch.float32, device=tdev)
    gain = torch.as_tensor(h["actuator_gainprm"][0][:, 0], dtype=torch.float32, device=tdev)
    self.force_per_ctrl = gear * gain  # joint torque per unit ctrl (nominal)
    self.actuator_kinds = robot_mod.actuator_kinds(mjm)
    self._check_actuators(act, spec)

    def per_joint(x, ratio):
      if x is None:
        return ratio * gear
      t = torch.as_tensor(x, dtype=torch.float32, device=tdev)
      if t.numel() not in (1, m.nu):
        raise ValueError(f"kp/kd must be a scalar or have {m.nu} values, got {t.numel()}")
      return t.expand(m.nu).clone()
    self.kp = per_joint(act.kp, act.kp_per_gear)
    self.kd = per_joint(act.kd, act.kd_per_gear)
    cr = torch.as_tensor(h["actuator_ctrlrange"], dtype=torch.float32, device=tdev)
    limited = torch.as_tensor(h["actuator_ctrllimited"], dtype=torch.bool, device=tdev)
    self.ctrl_lo = torch.where(limited, cr[:, 0], torch.full_like(cr[:, 0], -math.inf))
    self.ctrl_hi = torch.where(limited, cr[:, 1], torch.full_like(cr[:, 1], math.inf))

    groups = robot_mod.foot_geom_groups(mjm, cfg.robot)
    self.num_feet = len(groups)
    self._foot_geoms = torch.as_tensor([g for grp in groups for g in grp], dtype=torch.long, device=tdev)
    single = all(len(g) == 1 for g in groups)
    self._foot_of_geom = None  # (num_feet, ngeoms) membership when a foot has several geoms
    if not single:
      member = torch.zeros(len(groups), len(self._foot_geoms), dtype=torch.bool, device=tdev)
      k = 0
      for f, grp in enumerate(groups):
        member[f, k:k + len(grp)] = True
        k += len(grp)
      self._foot_of_geom = member

    # from the float32 pose, as the PD law sees it
    self.initial_qpos = initial_qpos(mjm, self.default_joint_pos.cpu().numpy(), h).to(tdev)
    self.target_height = (cfg.robot.target_height if cfg.robot.target_height is not None
                          else float(self.initial_qpos[2]))
    self.termination_height = (cfg.robot.termination_height if cfg.robot.termination_height is not None
                               else cfg.robot.termination_fraction * self.target_height)

    n, nu = self.num_envs, m.nu
    self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=tdev)
    self.actions = torch.zeros(n, nu, device=tdev)
    self.last_actions = torch.zeros(n, nu, device=tdev)
    self._target = torch.zeros(n, nu, device=tdev)       # this env step's target (or ctrl)
    self._prev_target = torch.zeros(n, nu, device=tdev)  # previous env step's (latency)
    self.ctrl_now = torch.zeros(n, nu, device=tdev)      # the controller's latest ctrl
    max_latency = 0
    if act.actuation_delay == "ctrl" and spec is not None and spec.latency_steps is not None:
      max_latency = int(spec.latency_steps[1])
    self._ctrl_delay = control.DelayLine(n, nu, max_latency, device=tdev)
    self._reset_scenario = None
    self.episode_return = torch.zeros(n, device=tdev)
    self._episode_stats = torch.zeros(3, dtype=torch.float64, device=tdev)
    self._obs = None
    self._curriculum_log = {}

    self._bind_terms(cfg)
    self._commands = {}
    self._command_period = {name: (None if t.resampling_time_s is None
                                   else max(1, int(round(t.resampling_time_s / self.dt))))
                            for name, t in cfg.commands.items()}
    all_envs = torch.ones(n, dtype=torch.bool, device=tdev)
    for ev in self._events["startup"].values():
      ev(self, all_envs)
    self._event_time_left = {name: self._draw_interval(ev.cfg) for name, ev in self._events["interval"].items()}
    self.reset()
    self.last_base_state = self.base_state() if self.has_free_base else {}

  # ---- construction helpers ----------------------------------------------------------------------
  def _check_actuators(self, act: ActionCfg, spec):
    need, sends = ACTION_TYPES[act.type]
    bad = [(nm, k) for nm, k in zip(self.actuator_names, self.actuator_kinds) if k != need]
    if bad:
      fix = {"position": "actions.type='joint_position' (the targets go to MuJoCo's position servos)",
             "motor": "actions.type='joint_position_pd' (the env's PD law) or 'joint_torque'"}
      kinds = sorted({k for _, k in bad})
      hint = "; ".join(fix[k] for k in kinds if k in fix) or "actuators the action can drive"
      msg = (f"actions.type='{act.type}' sends {sends} and needs {need} actuators, but "
             f"{len(bad)} of {len(self.actuator_names)} actuators of {self.robot.model!r} are not: "
             f"{', '.join(f'{nm} ({k})' for nm, k in bad[:8])}{' ...' if len(bad) > 8 else ''}. "
             f"Fix: {hint}, or change the MJCF's actuators; actions.allow_actuator_mismatch=True "
             f"runs it anyway with this warning")
      if not act.allow_actuator_mismatch:
        raise ValueError(msg)
      warnings.warn(msg, stacklevel=3)
    if act.type == "joint_position" and spec is not None and (spec.kp_scale or spec.kd_scale):
      raise ValueError("kp_scale/kd_scale randomise the env's PD law, which joint_position does not run "
                       "(MuJoCo's position actuators do): use actuator_strength_scale instead")

  def _bind_terms(self, cfg: TaskCfg):
    def check_refs(kind, name, params):
      if "command_name" in params and params["command_name"] not in cfg.commands:
        raise ValueError(f"{kind} term '{name}': command '{params['command_name']}' is not one of the "
                         f"task's commands {list(cfg.commands)}")
      if "term_name" in params and params["term_name"] not in cfg.rewards:
        raise ValueError(f"{kind} term '{name}': reward term '{params['term_name']}' is not one of "
                         f"{list(cfg.rewards)}")

    if "policy" not in cfg.observations:
      raise ValueError(f"the task has no 'policy' observation group (groups: {list(cfg.observations)}); "
                       f"rsl-rl and the gymnasium view read it")
    self._obs_groups = {}
    for gname, group in cfg.observations.items():
      if not isinstance(group, ObsGroup):
        raise TypeError(f"observation group '{gname}' must be an ObsGroup, got {type(group).__name__}")
      if not group.terms:
        raise ValueError(f"observation group '{gname}' has no terms")
      bound = {}
      for name, t in group.terms.items():
        check_refs("observation", f"{gname}/{name}", t.params)
        bound[name] = _Bound(self, t, "observation", f"{gname}/{name}", 0)
      self._obs_groups[gname] = (group, bound)
    self._commands_bound = {}
    for name, t in cfg.commands.items():
      self._commands_bound[name] = _Bound(self, t, "command", name, 1)
    self._rewards = {}
    for name, t in cfg.rewards.items():
      check_refs("reward", name, t.params)
      self._rewards[name] = _Bound(self, t, "reward", name, 0)
    self._terminations = {}
    for name, t in cfg.terminations.items():
      check_refs("termination", name, t.params)
      self._terminations[name] = _Bound(self, t, "termination", name, 0)
    if not any(t.time_out for t in cfg.terminations.values()):
      warnings.warn("the task has no time_out termination term: episodes end only on terminations",
                    stacklevel=3)
    self._events = {mode: {} for mode in EVENT_MODES}
    for name, t in cfg.events.items():
      check_refs("event", name, t.params)
      self._events[t.mode][name] = _Bound(self, t, "event", name, 1)
    self._curriculum = {}
    for name, t in cfg.curriculum.items():
      check_refs("curriculum", name, t.params)
      self._curriculum[name] = _Bound(self, t, "curriculum", name, 1)

  def _draw_interval(self, ev: EventTerm) -> torch.Tensor:
    lo, hi = ev.interval_range_s
    return self.uniform(lo, hi, (self.num_envs,))

  # ---- random draws (the env's stream) -------------------------------------------------------------
  # Terms draw per world: shape (num_envs, ...), row i for world i, drawn whatever the mask. In a
  # shard (TaskCfg.world_offset / num_envs_total) row i is global world world_offset + i's draw
  # of one env with all num_envs_total worlds (randomize.WorldDraws), so a sharded run
  # simulates that env's worlds; unsharded it is the generator's plain torch.rand.
  def uniform(self, lo, hi, shape) -> torch.Tensor:
    """Uniform draws in [lo, hi) of `shape` ((num_envs, ...) per world) on the device from the
    env's generator."""
    return lo + (hi - lo) * self._draws.rand(shape)

  def rand(self, shape) -> torch.Tensor:
    """Uniform draws in [0, 1) of `shape` ((num_envs, ...) per world) from the env's generator."""
    return self._draws.rand(shape)

  # ---- definitions on the current state (also the academy's seams) ------------------------------
  def command(self, name: str) -> torch.Tensor:
    """(num_envs, dim) the current command `name` (the tensor itself: writable in place)."""
    if name not in self._commands:
      raise KeyError(f"no command '{name}'; commands: {list(self.task_cfg.commands)}")
    return self._commands[name]

  @property
  def commands(self) -> torch.Tensor:
    """The task's velocity command "base_velocity" (or its first command; (num_envs, 0) when it
    has none); the tensor itself, writable in place."""
    if "base_velocity" in self._commands:
      return self._commands["base_velocity"]
    if self._commands:
      return next(iter(self._commands.values()))
    return torch.zeros(self.num_envs, 0, device=self._tdev)

  def reward_term(self, name: str) -> RewardTerm:
    """The RewardTerm `name` of this env (its weight may be changed, e.g. by a curriculum)."""
    if name not in self._rewards:
      raise KeyError(f"no reward term '{name}'; terms: {list(self._rewards)}")
    return self._rewards[name].cfg

  @property
  def reward_weights(self) -> dict:
    return {k: b.cfg.weight for k, b in self._rewards.items()}

  @property
  def clip_actions(self) -> float:
    return float(self.task_cfg.actions.clip)

  def base_state(self) -> dict:
    """The free base of every env in the current state of `sim`: {"height" (num_envs,) m,
    "gravity" (num_envs, 3) unit vector in the base frame, "lin_vel" (num_envs, 3) m/s in the
    base frame, "ang_vel" (num_envs, 3) rad/s in the body frame}."""
    if not self.has_free_base:
      raise ValueError(f"base_state needs a free base joint; {self.robot.model!r} has none")
    qpos, qvel = self.sim.qpos, self.sim.qvel
    return {"height": qpos[:, 2].clone(), "gravity": mdp.projected_gravity(self),
            "lin_vel": mdp.base_lin_vel(self), "ang_vel": qvel[:, 3:6].clone()}

  def foot_contacts(self) -> torch.Tensor:
    """(num_envs, num_feet) bool: a geom of foot j is in an active contact (last physics step
    or forward pass)."""
    hit = control.foot_contacts(self.sim, self._foot_geoms)
    if self._foot_of_geom is None:
      return hit
    return (hit[:, None, :] & self._foot_of_geom[None]).any(-1)

  def compute_observations(self) -> "TensorDict":
    """The observation groups of the current state, with the randomiser's observation noise
    on the noisy groups: TensorDict {group: (num_envs, width)}. Does not store them."""
    out = {}
    for gname, (group, bound) in self._obs_groups.items():
      parts = []
      for name, term in bound.items():
        x = term(self)
        if x.dim() == 1:
          x = x[:, None]
        if term.cfg.scale is not None:
          x = x * term.cfg.scale
        parts.append(x)
      obs = torch.cat(parts, dim=-1)
      out[gname] = self.randomizer.obs_noise(obs) if group.noise else obs
    return TensorDict(out, batch_size=[self.num_envs], device=self._tdev)

  def compute_rewards(self, b: dict | None = None) -> tuple:
    """The rewards of the current state: (total (num_envs,), {term: (num_envs,) weight * term *
    dt}). Advances stateful terms (e.g. FeetAirTime): call it once per env step. `b` is not
    read (the academy passes base_state())."""
    weighted = {name: term.cfg.weight * term(self) * self.dt for name, term in self._rewards.items()}
    if not weighted:
      return torch.zeros(self.num_envs, device=self._tdev), weighted
    return torch.stack(list(weighted.values())).sum(0), weighted

  def compute_terminations(self) -> tuple:
    """({term: (num_envs,) bool}, terminal (num_envs,) bool, time-out (num_envs,) bool) of the
    task's termination terms on the current state (health and rewards not included)."""
    values = {name: term(self) for name, term in self._terminations.items()}
    none = torch.zeros(self.num_envs, dtype=torch.bool, device=self._tdev)
    terminal, timeout = none, none
    for name, v in values.items():
      if self._terminations[name].cfg.time_out:
        timeout = timeout | v
      else:
        terminal = terminal | v
    return values, terminal, timeout

  @property
  def num_obs(self) -> int:
    return int(self._obs["policy"].shape[-1])

  def seed(self, seed: int):
    """Restarts the env's and the randomiser's random streams as an env built with seed=seed
    had them (the next reset draws what that env's first reset drew)."""
    self.generator.manual_seed(int(seed))
    self.randomizer.generator.manual_seed(int(seed) + 1)

  # ---- VecEnv ----------------------------------------------------------------------------------
  def get_observations(self) -> "TensorDict":
    """The current observations: TensorDict {group: (num_envs, width)}."""
    return self._obs

  def reset(self):
    """Resets every env (module doc, step 6); returns the observations."""
    self._reset_envs(torch.ones(self.num_envs, dtype=torch.bool, device=self._tdev))
    self._obs = self.compute_observations()
    return self._obs

  def set_reset_scenario(self, scenario):
    """Installs `scenario(mask)`, called whenever envs are reset (by `reset` and inside
    `step`), after the env's own reset of the envs in `mask` ((num_envs,) bool on the device)
    and before their first observations are computed: it may put any of those worlds in
    another start state (sim.qpos / sim.qvel, then sim.forward()), write their per-world
    model parameters (bank rows) and their latency (`set_latency`). None removes it. Returns
    the scenario it replaces (None when there was none)."""
    if scenario is not None and not callable(scenario):
      raise TypeError(f"the reset scenario must be callable as scenario(mask) or None, "
                      f"got {type(scenario).__name__}")
    previous, self._reset_scenario = self._reset_scenario, scenario
    return previous

  def _resample_commands(self, mask: torch.Tensor, names=None):
    for name in (names if names is not None else self._commands_bound):
      new = self._commands_bound[name](self, mask)
      if name not in self._commands:
        self._commands[name] = torch.zeros_like(new)
      buf = self._commands[name]
      buf.copy_(torch.where(mask[:, None], new, buf))

  def _reset_envs(self, mask: torch.Tensor):
    """Resets the envs in `mask` (bool, on the device) without a host sync (a reset scenario or
    a curriculum term may sync)."""
    n = self.num_envs
    for name, cur in self._curriculum.items():
      value = cur(self, mask)
      if value is not None:
        self._curriculum_log[f"Curriculum/{name}"] = torch.as_tensor(value, dtype=torch.float32)
    self.randomizer.sample(mask)
    self.sim.reset(mask, recompute=False)
    for ev in self._events["reset"].values():
      ev(self, mask)
    m2 = mask[:, None]
    zeros = torch.zeros_like(self.actions)
    for buf in (self.actions, self.last_actions):
      buf.copy_(torch.where(m2, zeros, buf))
    target0 = (self.default_joint_pos.expand(n, -1) if self.task_cfg.actions.type != "joint_torque"
               else zeros)
    self._target.copy_(torch.where(m2, target0, self._target))
    self._prev_target.copy_(torch.where(m2, target0, self._prev_target))
    self._ctrl_delay.clear(mask)
    for group in (self._rewards, self._terminations):
      for term in group.values():
        term.reset(mask)
    self.episode_length_buf.copy_(torch.where(mask, torch.zeros_like(self.episode_length_buf),
                                              self.episode_length_buf))
    self.episode_return.copy_(torch.where(mask, torch.zeros_like(self.episode_return), self.episode_return))
    self._resample_commands(mask)
    if self._reset_scenario is not None:
      self._reset_scenario(mask)

  def _ctrl(self, target: torch.Tensor) -> torch.Tensor:
    kind = self.task_cfg.actions.type
    if kind != "joint_position_pd":  # torques to motors, targets to position servos: the range only
      return control.clip_ctrl(target, self.ctrl_lo, self.ctrl_hi)
    q, qd = self.sim.qpos[:, self.actuated_qposadr], self.sim.qvel[:, self.actuated_dofadr]
    return control.pd_ctrl(q, qd, target, self.kp * self.randomizer.kp_scale,
                           self.kd * self.randomizer.kd_scale, self.force_per_ctrl,
                           self.ctrl_lo, self.ctrl_hi)

  def set_latency(self, worlds: torch.Tensor, steps: torch.Tensor):
    """Sets the actuation latency (physics steps) of `worlds` (index tensor) until their next
    reset draws it again. Raises ValueError beyond what the env holds: `decimation` steps for
    a target delay, the largest randomised latency for a ctrl delay (its ring of past ctrls)."""
    delay = self.task_cfg.actions.actuation_delay
    cap = self.task_cfg.decimation if delay == "target" else self._ctrl_delay.max_delay
    top = int(steps.max()) if steps.numel() else 0
    if top > cap:
      raise ValueError(f"latency {top} physics steps exceeds what the env holds ({cap}, "
                       f"actuation_delay='{delay}'): widen latency_steps")
    lat = self.randomizer.latency
    lat[worlds.to(lat.device)] = steps.to(lat.device, lat.dtype)

  @torch.no_grad()
  def step(self, actions: torch.Tensor):
    """Applies actions (num_envs, num_actions) for `decimation` physics steps (module doc).

    Returns (obs TensorDict, rewards (num_envs,), dones (num_envs,) long, extras) with
    extras["time_outs"] (num_envs,) bool and extras["log"] {name: 0-d tensor}, and with
    record_final_obs extras["final_obs"] (TensorDict, the observations before the resets).
    """
    cfg, act = self.task_cfg, self.task_cfg.actions
    if cfg.validate_actions:
      validate_actions(actions, (self.num_envs, self.num_actions), self._tdev, "actions")
    actions = torch.clamp(actions, -act.clip, act.clip)
    self.last_actions.copy_(self.actions)
    self.actions.copy_(actions)
    applied = self.randomizer.action_noise(actions)
    self._prev_target.copy_(self._target)
    if act.type == "joint_torque":
      self._target.copy_(act.scale * applied)
    else:
      self._target.copy_(self.default_joint_pos + act.scale * applied)

    spec = self.randomizer.spec
    if spec.push_interval:
      t = self.episode_length_buf
      self.randomizer.resample_push((t % spec.push_interval == 0) & (t > 0))
      active = ((t % spec.push_interval) < spec.push_duration) & (t >= spec.push_interval)
      xfrc = self.sim.xfrc_applied
      xfrc[:, self.randomizer.push_bodyid, 0:3] = torch.where(
        active[:, None], self.randomizer.push_force, torch.zeros_like(self.randomizer.push_force))

    latency = self.randomizer.latency[:, None]
    delay_target = spec.latency_steps is not None and act.actuation_delay == "target"
    ctrl = self.sim.ctrl
    for k in range(cfg.decimation):
      if k % act.pd_decimation == 0:
        target = torch.where(latency > k, self._prev_target, self._target) if delay_target else self._target
        self.ctrl_now.copy_(self._ctrl(target))
      ctrl.copy_(self._ctrl_delay.push(self.ctrl_now, self.randomizer.latency))
      self.sim.step()

    self.episode_length_buf += 1
    self.common_step_counter += 1
    if self.has_free_base:
      self.last_base_state = self.base_state()
    rewards, terms = self.compute_rewards()
    unhealthy = self.sim.health != 0
    values, terminal, timeout = self.compute_terminations()
    finite = torch.isfinite(rewards)
    terminated = terminal | unhealthy | ~finite
    rewards = torch.where(unhealthy | ~finite, torch.zeros_like(rewards), rewards)
    time_outs = timeout & ~terminated
    dones = terminated | time_outs

    self.episode_return += rewards
    done_f = dones.to(torch.float64)
    self._episode_stats += torch.stack([(self.episode_return.double() * done_f).sum(), done_f.sum(),
                                        (self.episode_length_buf.double() * done_f).sum()])
    log = {f"Reward/{k}": v.mean() for k, v in terms.items()}
    log["Episode/terminations"] = terminated.float().mean()
    log["Episode/time_outs"] = time_outs.float().mean()
    log["Episode/unhealthy"] = unhealthy.float().mean()
    for k, v in values.items():
      log[f"Termination/{k}"] = v.float().mean()
    log.update(self._curriculum_log)

    for name, period in self._command_period.items():
      if period is not None:
        due = (self.episode_length_buf % period) == 0
        self._resample_commands(due & ~dones, [name])
    extras = {"time_outs": time_outs, "log": log}
    if self.record_final_obs:
      extras["final_obs"] = self.compute_observations()
    self._reset_envs(dones)
    for name, ev in self._events["interval"].items():
      left = self._event_time_left[name] - self.dt
      fire = left <= 0
      ev(self, fire)
      left.copy_(torch.where(fire, self._draw_interval(ev.cfg), left))
      self._event_time_left[name] = left
    self._obs = self.compute_observations()
    return self._obs, rewards, dones.long(), extras

  # ---- statistics and checkpointing ----------------------------------------------------------------
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
    bufs = ("episode_length_buf", "actions", "last_actions", "_target", "_prev_target", "episode_return",
            "_episode_stats", "ctrl_now")
    state = {k: getattr(self, k).cpu().clone() for k in bufs}
    state["ctrl_delay"] = self._ctrl_delay.buffer.cpu().clone()
    state["ctrl_delay_pos"] = self._ctrl_delay.pos
    state["commands"] = {k: v.cpu().clone() for k, v in self._commands.items()}
    state["event_time_left"] = {k: v.cpu().clone() for k, v in self._event_time_left.items()}
    state["reward_weights"] = {k: float(w) for k, w in self.reward_weights.items()}
    state["common_step_counter"] = int(self.common_step_counter)
    state["terms"] = {f"{kind}/{name}": term.fn.state_dict()
                      for kind, group in (("reward", self._rewards), ("termination", self._terminations))
                      for name, term in group.items() if hasattr(term.fn, "state_dict")}
    state["generator"] = self.generator.get_state()
    state["randomizer"] = self.randomizer.state_dict()
    # noisy observations are not recomputable
    state["obs"] = {k: v.cpu().clone() for k, v in self._obs.items()}
    return state

  def load_state_dict(self, state: dict):
    terms = {f"{kind}/{name}": term.fn for kind, group in (("reward", self._rewards),
                                                           ("termination", self._terminations))
             for name, term in group.items()}
    for k, v in state.items():
      if k == "generator":
        self.generator.set_state(v)
      elif k == "ctrl_delay_pos":
        self._ctrl_delay.pos = int(v)
      elif k == "ctrl_delay":
        self._ctrl_delay.buffer.copy_(v)
      elif k == "randomizer":
        self.randomizer.load_state_dict(v)
      elif k == "commands":
        for name, t in v.items():
          self._commands[name].copy_(t)
      elif k == "event_time_left":
        for name, t in v.items():
          self._event_time_left[name].copy_(t)
      elif k == "reward_weights":
        for name, w in v.items():
          self._rewards[name].cfg.weight = float(w)
      elif k == "common_step_counter":
        self.common_step_counter = int(v)
      elif k == "terms":
        for name, s in v.items():
          terms[name].load_state_dict(s)
      elif k == "obs":
        self._obs = TensorDict({g: t.to(self._tdev) for g, t in v.items()}, batch_size=[self.num_envs],
                               device=self._tdev)
      else:
        getattr(self, k).copy_(v)


def initial_qpos(mjm: mujoco.MjModel, default_joint_pos: np.ndarray, h: dict) -> torch.Tensor:
  """(nq,) float32: qpos0 with the actuated joints at `default_joint_pos`, the free base (if
  any) lowered so that the lowest collision geom (bounding spheres; capsules exactly) is 2 mm
  above the floor plane."""
  d = mujoco.MjData(mjm)
  d.qpos[h["jnt_qposadr"][h["actuator_trnid"]]] = default_joint_pos
  mujoco.mj_kinematics(mjm, d)
  lowest = math.inf
  for g in range(mjm.ngeom):
    if mjm.geom_type[g] == mujoco.mjtGeom.mjGEOM_PLANE or mjm.geom_bodyid[g] == 0:
      continue
    if mjm.geom_contype[g] == 0 and mjm.geom_conaffinity[g] == 0:
      continue  # visual only (e.g. Menagerie's visual meshes): it never touches the floor
    if mjm.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE:
      axis = d.geom_xmat[g].reshape(3, 3)[:, 2]
      z = d.geom_xpos[g, 2] - abs(axis[2]) * mjm.geom_size[g, 1] - mjm.geom_size[g, 0]
    else:
      z = d.geom_xpos[g, 2] - mjm.geom_rbound[g]
    lowest = min(lowest, z)
  qpos = torch.as_tensor(np.array(d.qpos), dtype=torch.float32)
  if mjm.njnt and mjm.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE:
    qpos[2] -= lowest - 0.002
  return qpos
