"""Vectorised RL environments on the Simulator: `pws.envs.make(task, num_envs, device, **cfg)`.

Tasks:
  "humanoid-stand": stay upright at standing height (HumanoidEnvCfg(task="stand")).
  "humanoid-walk": track a velocity command (vx, vy, yaw rate) (HumanoidEnvCfg(task="walk")).

`task` is a registered name (the two above, or one added with `register(name, factory)`) or
"package.module:Attr", imported on demand (so `python -m pywarp_sim.train --task
my.tasks:StairsTask` trains a task defined outside this package). A factory is called as
`factory(num_envs, device, **cfg)` and returns the env; a HumanoidEnv subclass is a factory
too: it is built from HumanoidEnvCfg with its class attribute `cfg_defaults` (a dict of
HumanoidEnvCfg fields), then the caller's `cfg`.

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

from . import control
from .humanoid import HumanoidEnv, HumanoidEnvCfg

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


def register(name: str, factory: Callable, overwrite: bool = False):
  """Registers task `name`: make(name, num_envs, device, **cfg) calls
  factory(num_envs, device, **cfg) (a HumanoidEnv subclass is accepted as it is, with its
  `cfg_defaults`). Re-registering a name raises ValueError unless overwrite=True."""
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
  if isinstance(obj, type) and issubclass(obj, HumanoidEnv):
    defaults = getattr(obj, "cfg_defaults", None) or {}
    if not isinstance(defaults, dict):
      raise TypeError(f"{what}: cfg_defaults must be a dict of HumanoidEnvCfg fields, got "
                      f"{type(defaults).__name__}")
    return humanoid_task(obj, **defaults)
  if not callable(obj):
    raise TypeError(f"{what} is a {type(obj).__name__}, not a task factory: it must be callable "
                    f"as factory(num_envs, device, **cfg) or be a HumanoidEnv subclass")
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
                     f"'package.module:Factory' (a callable or HumanoidEnv subclass, imported "
                     f"on demand)")
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


def make_cfg(name: str, **overrides) -> HumanoidEnvCfg:
  """The configuration of humanoid task `name` with `overrides` (HumanoidEnvCfg field names)."""
  factory = resolve(name)
  if not hasattr(factory, "defaults"):
    raise ValueError(f"task '{name}' is not built from HumanoidEnvCfg (its factory is "
                     f"{factory!r}); make_cfg only knows humanoid tasks")
  return _humanoid_cfg(name, factory.defaults, overrides)


def make(task: str, num_envs: int, device="cpu", **cfg):
  """Builds `task` (a registered name or "package.module:Factory") with num_envs parallel
  envs on `device` ("cpu", "cuda", "cuda:N"); `cfg` goes to the factory (HumanoidEnvCfg
  fields for the humanoid tasks)."""
  return resolve(task)(num_envs, device, **cfg)


def make_gym(task: str, num_envs: int, device="cpu", to_numpy: bool = False, **cfg):
  """make(task, ...) behind gymnasium's VectorEnv API (envs.gym.GymVectorEnv): torch tensors on
  the env's device, or numpy arrays with to_numpy=True. Needs gymnasium (extra "rl")."""
  from .gym import GymVectorEnv
  return GymVectorEnv(make(task, num_envs, device, **cfg), to_numpy=to_numpy)


for _name, (_class, _defaults) in TASKS.items():
  register(_name, humanoid_task(_class, **_defaults))

__all__ = ["make", "make_cfg", "make_gym", "register", "unregister", "registered", "resolve", "humanoid_task",
           "TASKS", "HumanoidEnv", "HumanoidEnvCfg", "control"]
