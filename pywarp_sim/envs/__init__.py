"""Vectorised RL environments on the Simulator: `pws.envs.make(name, num_envs, device, **cfg)`.

Tasks:
  "humanoid-stand": stay upright at standing height (HumanoidEnvCfg(task="stand")).
  "humanoid-walk": track a velocity command (vx, vy, yaw rate) (HumanoidEnvCfg(task="walk")).

The environments follow rsl-rl-lib 5.x's VecEnv interface (num_envs, num_actions,
max_episode_length, episode_length_buf, device, cfg, get_observations() -> TensorDict with a
"policy" group, step(actions) -> (obs, rewards, dones, extras)); see envs/humanoid.py.

The control loop between the policy and the motors (PD law, ctrl clipping, latency, foot
contact readings) is envs/control.py, shared with the academy's robot replays.
"""

import dataclasses

from . import control
from .humanoid import HumanoidEnv, HumanoidEnvCfg

TASKS = {
  "humanoid-stand": (HumanoidEnv, dict(task="stand", episode_length_s=10.0)),
  "humanoid-walk": (HumanoidEnv, dict(task="walk", episode_length_s=20.0, init_random_yaw=True)),
}


def make_cfg(name: str, **overrides) -> HumanoidEnvCfg:
  """The configuration of task `name` with `overrides` (HumanoidEnvCfg field names)."""
  if name not in TASKS:
    raise ValueError(f"unknown task '{name}'; available: {sorted(TASKS)}")
  _, defaults = TASKS[name]
  valid = {f.name for f in dataclasses.fields(HumanoidEnvCfg)}
  bad = sorted(set(overrides) - valid)
  if bad:
    raise ValueError(f"unknown config keys {bad} for '{name}'; valid keys: {sorted(valid)}")
  return HumanoidEnvCfg(**{**defaults, **overrides})


def make(name: str, num_envs: int, device="cpu", **cfg) -> HumanoidEnv:
  """Builds task `name` with num_envs parallel envs on `device` ("cpu", "cuda", "cuda:N")."""
  env_class, _ = TASKS[name] if name in TASKS else (None, None)
  return (env_class or HumanoidEnv)(make_cfg(name, **cfg), num_envs, device)


__all__ = ["make", "make_cfg", "TASKS", "HumanoidEnv", "HumanoidEnvCfg", "control"]
