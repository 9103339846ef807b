"""gymnasium's VectorEnv API (gymnasium >= 1.1) over a pywarp_sim env: `envs.make_gym(task, n)`
or `GymVectorEnv(envs.make(task, n))`.

  env = pws.envs.make_gym("humanoid-walk", 4096, "cuda")
  obs, info = env.reset(seed=0)                      # obs (num_envs, num_obs)
  obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

Spaces: `single_observation_space` Box(-inf, inf, (num_obs,), float32); `single_action_space`
Box(-clip_actions, clip_actions, (num_actions,), float32) (env.clip_actions: the env clips
actions to that box);
`observation_space` / `action_space` are the batched (num_envs, ...) Boxes. Values are torch
tensors on the env's device (no copy to the host; actions may be torch tensors on any device
or numpy arrays), or numpy arrays with `to_numpy=True` (one device-to-host copy per step):
obs float32 (num_envs, num_obs), reward float32 (num_envs,), terminated and truncated bool
(num_envs,).

terminated: the episode ended in a terminal state (fall, non-healthy world): the env's dones
that are not time-outs. truncated: the time limit (the env's extras["time_outs"]).

Autoreset: `AutoresetMode.SAME_STEP` (metadata["autoreset_mode"]): the env resets the done
envs on the device inside `step`, so the returned obs of a done env is the first observation
of its next episode, and its last observation is in info["final_obs"] (a (num_envs, num_obs)
batch whose rows where info["_final_obs"] is True are the final observations; the other rows
are the observations before the step's resets, i.e. the returned ones up to observation
noise), as gymnasium's vector envs give it in that mode (theirs is an object array of rows;
here it is one tensor). The next step's actions act on the new episodes: there is no
reset-only step as in NEXT_STEP mode. The underlying env must support `record_final_obs`
(TaskEnv and HumanoidEnv do; the wrapper turns it on) for info["final_obs"]; otherwise it is absent.

reset(seed=s) restarts the env's random streams as if it had been built with cfg seed s
(same seed, same first observations and the same episode after them), then resets every env;
reset() without a seed draws from the running streams. `options` is not used.
"""

from __future__ import annotations

import math

import numpy as np
import torch

try:
  import gymnasium
  from gymnasium.vector import AutoresetMode, VectorEnv
  from gymnasium.vector.utils import batch_space
except ImportError as e:  # pragma: no cover - depends on the install
  raise ImportError("the gymnasium API needs gymnasium >= 1.1: pip install 'pywarp_sim[rl]'") from e


class GymVectorEnv(VectorEnv):
  """gymnasium.vector.VectorEnv over an rsl-rl-style pywarp_sim env (module doc).

  Attributes: env (the wrapped env, e.g. HumanoidEnv), num_envs, device, to_numpy, obs_group
  (the observation group of env's TensorDict that is the gymnasium observation).
  """

  metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

  def __init__(self, env, to_numpy: bool = False, obs_group: str = "policy"):
    self.env = env
    self.num_envs = int(env.num_envs)
    self.device = env.device
    self.to_numpy = bool(to_numpy)
    self.obs_group = obs_group
    obs = env.get_observations()
    if obs_group not in obs.keys():
      raise ValueError(f"the env's observations have no group '{obs_group}'; groups: "
                       f"{list(obs.keys())}")
    num_obs = int(obs[obs_group].shape[-1])
    bound = float(getattr(env, "clip_actions", getattr(getattr(env, "cfg", None), "clip_actions", math.inf)))
    self.single_observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (num_obs,), np.float32)
    self.single_action_space = gymnasium.spaces.Box(-bound, bound, (int(env.num_actions),), np.float32)
    self.observation_space = batch_space(self.single_observation_space, self.num_envs)
    self.action_space = batch_space(self.single_action_space, self.num_envs)
    self._final_obs = hasattr(env, "record_final_obs")
    if self._final_obs:
      env.record_final_obs = True

  def _out(self, x: torch.Tensor):
    return x.detach().cpu().numpy() if self.to_numpy else x

  def reset(self, *, seed: int | None = None, options: dict | None = None):
    """Resets every env; returns (obs (num_envs, num_obs), info {})."""
    super().reset(seed=seed)  # seeds self.np_random as gymnasium does
    if seed is not None:
      if not hasattr(self.env, "seed"):
        raise TypeError(f"{type(self.env).__name__} has no seed(seed) method: it cannot be "
                        f"reset with a seed; call reset() without one")
      self.env.seed(int(seed))
    obs = self.env.reset()
    if obs is None:  # an env whose reset() returns nothing (rsl-rl does not need it)
      obs = self.env.get_observations()
    return self._out(obs[self.obs_group]), {}

  def step(self, actions):
    """Applies actions (num_envs, num_actions): (obs, reward, terminated, truncated, info),
    with the done envs already reset (AutoresetMode.SAME_STEP, module doc)."""
    if not isinstance(actions, torch.Tensor):
      actions = torch.as_tensor(np.asarray(actions, dtype=np.float32))
    actions = actions.to(device=self.device, dtype=torch.float32)
    obs, reward, dones, extras = self.env.step(actions)
    truncated = extras["time_outs"].bool()
    terminated = dones.bool() & ~truncated
    info = {}
    if "final_obs" in extras:
      info["final_obs"] = self._out(extras["final_obs"][self.obs_group])
      info["_final_obs"] = self._out(dones.bool())
    return (self._out(obs[self.obs_group]), self._out(reward), self._out(terminated),
            self._out(truncated), info)
