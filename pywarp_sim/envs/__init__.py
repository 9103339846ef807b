"""Vectorised RL environments on the Simulator: `pws.envs.make(task, num_envs, device, **cfg)`.

Tasks:
  "humanoid-stand": stay upright at standing height (HumanoidEnvCfg(task="stand")).
  "humanoid-walk": track a velocity command (vx, vy, yaw rate) (HumanoidEnvCfg(task="walk")).

A task is a config of terms (envs/manager.py TaskCfg: observation groups, rewards,
terminations, commands, events, curriculum; term functions in envs/mdp.py) on a robot
(envs/robot.py RobotCfg), run by manager.TaskEnv; the two humanoid tasks are such configs
(humanoid.humanoid_task_cfg).

`task` is a registered name (the two above, or one added with `register(name, task)`) or
"package.module:Attr", imported on demand (so `python -m pywarp_sim.train --task
my.tasks:StairsCfg` trains a task defined outside this package). What a name or Attr may be:
  * a TaskCfg subclass (built with no arguments) or instance: `cfg` overrides its fields by
    name or dotted path ("episode_length_s", "rewards.alive.weight", "actions.scale"), then
    TaskEnv(cfg, num_envs, device);
  * a HumanoidEnv subclass: built from HumanoidEnvCfg with its class attribute
    `cfg_defaults` (a dict of HumanoidEnvCfg fields), then the caller's `cfg`;
  * any factory, called as `factory(num_envs, device, **cfg)`, returning the env.

The environments follow rsl-rl-lib 5.x's VecEnv interface (num_envs, num_actions,
max_episode_length, episode_length_buf, device, cfg, get_observations() -> TensorDict with a
"policy" group, step(actions) -> (obs, rewards, dones, extras)); see envs/humanoid.py.
`make_gym(task, ...)` gives the same env behind gymnasium's VectorEnv API (envs/gym.py).

The control loop between the policy and the motors (PD law, ctrl clipping, latency, foot
contact readings) is envs/control.py, shared with the academy's robot replays.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import types
from typing import Callable

from . import control, mdp, robot
from .humanoid import HumanoidEnv, HumanoidEnvCfg, humanoid_task_cfg
from .manager import (ActionCfg, CommandTerm, CurriculumTerm, EventTerm, ObsGroup, ObsTerm, RewardTerm,
                      TaskCfg, TaskEnv, TerminationTerm, configure)
from .robot import HUMANOID, RobotCfg

# the built-in tasks: HumanoidEnvCfg defaults per name (make_cfg reads them)
TASKS = {
  "humanoid-stand": (HumanoidEnv, dict(task="stand", episode_length_s=10.0)),
  "humanoid-walk": (HumanoidEnv, dict(task="walk", episode_length_s=20.0, init_random_yaw=True)),
}

_REGISTRY: dict[str, Callable] = {}


def _humanoid_cfg(what: str, defaults: dict, overrides: dict) -> HumanoidEnvCfg:
  valid = {f.name for f in dataclasses.fields(HumanoidEnvCfg)}
  bad = sorted((set(defaults) | set(overrides)) - valid)
  if bad:
    raise ValueError(f"unknown config keys {bad} for '{what}'; valid keys: {sorted(valid)}")
  return HumanoidEnvCfg(**{**defaults, **overrides})


def humanoid_task(env_class: type = HumanoidEnv, **defaults) -> Callable:
  """A factory(num_envs, device, **cfg) building `env_class` (HumanoidEnv or a subclass) from
  HumanoidEnvCfg(**{**defaults, **cfg}); unknown keys raise ValueError naming them."""
  def factory(num_envs: int, device="cpu", **cfg):
    return env_class(_humanoid_cfg(env_class.__name__, defaults, cfg), num_envs, device)
  factory.env_class, factory.defaults = env_class, dict(defaults)
  return factory


def task_factory(cfg: TaskCfg | type) -> Callable:
  """A factory(num_envs, device, **overrides) building TaskEnv(configure(cfg, overrides)) for
  a TaskCfg instance or subclass (built with no arguments, once per make)."""
  what = cfg.__name__ if isinstance(cfg, type) else type(cfg).__name__

  def factory(num_envs: int, device="cpu", **overrides):
    base = cfg() if isinstance(cfg, type) else cfg
    return TaskEnv(configure(base, overrides), num_envs, device)
  factory.task_cfg, factory.__qualname__ = cfg, f"task_factory({what})"
  return factory


def register(name: str, factory: Callable | TaskCfg, overwrite: bool = False):
  """Registers task `name`: make(name, num_envs, device, **cfg) builds it. `factory` is a
  TaskCfg (subclass or instance), a HumanoidEnv subclass (with its `cfg_defaults`) or a
  callable factory(num_envs, device, **cfg). Re-registering a name raises ValueError unless
  overwrite=True."""
  if not isinstance(name, str) or not name or ":" in name:
    raise ValueError(f"task name must be a non-empty string without ':' (that form means "
                     f"'module:Attr'), got {name!r}")
  if name in _REGISTRY and not overwrite:
    raise ValueError(f"task '{name}' is already registered; pass overwrite=True to replace it")
  _REGISTRY[name] = _as_factory(factory, name)


def unregister(name: str):
  """Removes task `name` (KeyError naming it when it is not registered)."""
  if name not in _REGISTRY:
    raise KeyError(f"task '{name}' is not registered; registered: {registered()}")
  del _REGISTRY[name]


def registered() -> list[str]:
  """The registered task names, sorted."""
  return sorted(_REGISTRY)


def _as_factory(obj, what: str) -> Callable:
  if isinstance(obj, TaskCfg) or (isinstance(obj, type) and issubclass(obj, TaskCfg)):
    return task_factory(obj)
  if isinstance(obj, type) and issubclass(obj, HumanoidEnv):
    defaults = getattr(obj, "cfg_defaults", None) or {}
    if not isinstance(defaults, dict):
      raise TypeError(f"{what}: cfg_defaults must be a dict of HumanoidEnvCfg fields, got "
                      f"{type(defaults).__name__}")
    return humanoid_task(obj, **defaults)
  if not callable(obj):
    raise TypeError(f"{what} is a {type(obj).__name__}, not a task: it must be a TaskCfg (subclass "
                    f"or instance), a HumanoidEnv subclass or callable as factory(num_envs, device, **cfg)")
  return obj


def resolve(task: str) -> Callable:
  """The factory of `task`: a registered name, or "package.module:Attr" (the module is
  imported; Attr may be dotted, e.g. "mod:Tasks.stairs"). Raises ValueError naming the
  missing task, module or attribute; an ImportError raised inside the module itself is
  passed on as it is."""
  if task in _REGISTRY:
    return _REGISTRY[task]
  if ":" not in task:
    raise ValueError(f"unknown task '{task}'; registered: {registered()}, or give "
                     f"'package.module:Attr' (a TaskCfg, HumanoidEnv subclass or factory, "
                     f"imported on demand)")
  module_name, _, attr = task.partition(":")
  if not module_name or not attr:
    raise ValueError(f"task '{task}': expected 'package.module:Factory'")
  try:
    module = importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    if e.name is None or not (module_name == e.name or module_name.startswith(e.name + ".")):
      raise  # the module exists but one of its own imports is missing: that error says which
    raise ValueError(f"task '{task}': no module named '{module_name}' (no '{e.name}' on "
                     f"sys.path); install it or add its folder to PYTHONPATH") from e
  obj = module
  for i, part in enumerate(attr.split(".")):
    if not hasattr(obj, part):
      where = module_name + "".join("." + p for p in attr.split(".")[:i])
      home = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", "")
      public = sorted(n for n, v in vars(obj).items() if not n.startswith("_") and callable(v)
                      and getattr(v, "__module__", None) == home)
      path = getattr(sys.modules.get(home), "__file__", "?")
      raise ValueError(f"task '{task}': '{where}' ({path}) has no attribute '{part}'; its own "
                       f"callables: {public}")
    obj = getattr(obj, part)
  return _as_factory(obj, f"task '{task}'")


def make_cfg(name: str, **overrides) -> HumanoidEnvCfg | TaskCfg:
  """The configuration of task `name` with `overrides`: a TaskCfg for term-config tasks
  (overrides by field name or dotted path), a HumanoidEnvCfg for the humanoid tasks
  (HumanoidEnvCfg field names; `humanoid_task_cfg` gives its TaskCfg)."""
  factory = resolve(name)
  if hasattr(factory, "task_cfg"):
    base = factory.task_cfg() if isinstance(factory.task_cfg, type) else factory.task_cfg
    return configure(base, overrides)
  if not hasattr(factory, "defaults"):
    raise ValueError(f"task '{name}' is not built from HumanoidEnvCfg (its factory is "
                     f"{factory!r}); make_cfg only knows humanoid tasks")
  return _humanoid_cfg(name, factory.defaults, overrides)


def make(task: str, num_envs: int, device="cpu", **cfg):
  """Builds `task` (a registered name or "package.module:Factory") with num_envs parallel
  envs on `device` ("cpu", "cuda", "cuda:N"); `cfg` goes to the factory (HumanoidEnvCfg
  fields for the humanoid tasks, TaskCfg fields or dotted paths for a TaskCfg)."""
  return resolve(task)(num_envs, device, **cfg)


def make_gym(task: str, num_envs: int, device="cpu", to_numpy: bool = False, **cfg):
  """make(task, ...) behind gymnasium's VectorEnv API (envs.gym.GymVectorEnv): torch tensors on
  the env's device, or numpy arrays with to_numpy=True. Needs gymnasium (extra "rl")."""
  from .gym import GymVectorEnv
  return GymVectorEnv(make(task, num_envs, device, **cfg), to_numpy=to_numpy)


for _name, (_class, _defaults) in TASKS.items():
  register(_name, humanoid_task(_class, **_defaults))

__all__ = ["make", "make_cfg", "make_gym", "register", "unregister", "registered", "resolve", "humanoid_task",
           "task_factory", "TASKS", "HumanoidEnv", "HumanoidEnvCfg", "humanoid_task_cfg", "TaskCfg", "TaskEnv",
           "ObsGroup", "ObsTerm", "RewardTerm", "TerminationTerm", "CommandTerm", "EventTerm",
           "CurriculumTerm", "ActionCfg", "RobotCfg", "HUMANOID", "configure", "control", "mdp", "robot"]
