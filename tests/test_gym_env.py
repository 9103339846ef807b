"""gymnasium's VectorEnv API over the humanoid envs (envs.make_gym, envs/gym.py): spaces,
the SAME_STEP autoreset with final observations, terminated/truncated against the env's own
dones and time-outs, and seeding."""

import numpy as np
import pytest
import torch

gymnasium = pytest.importorskip("gymnasium")
from gymnasium.vector import AutoresetMode, VectorEnv  # noqa: E402

from pywarp_sim import envs  # noqa: E402

N = 4
FALLEN_HEIGHT = 0.4  # m, base height put into one world: below termination_height (0.8 m)


def test_spaces_have_the_env_shapes_and_the_action_clip_as_bounds():
  g = envs.make_gym("humanoid-walk", N, "cpu", clip_actions=3.0)
  assert isinstance(g, VectorEnv) and g.num_envs == N
  assert g.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
  obs_dim, act_dim = g.env.num_obs, g.env.num_actions
  assert (obs_dim, act_dim) == (76, 21)
  for space, shape in ((g.single_observation_space, (obs_dim,)), (g.single_action_space, (act_dim,)),
                       (g.observation_space, (N, obs_dim)), (g.action_space, (N, act_dim))):
    assert isinstance(space, gymnasium.spaces.Box) and space.shape == shape and space.dtype == np.float32
  assert np.all(g.single_observation_space.low == -np.inf) and np.all(g.observation_space.high == np.inf)
  assert np.all(g.single_action_space.low == -3.0) and np.all(g.action_space.high == 3.0)
  obs, info = g.reset()
  assert isinstance(obs, torch.Tensor) and obs.shape == (N, obs_dim) and str(obs.device) == g.device
  assert g.observation_space.contains(obs.numpy()) and info == {}


def test_random_rollout_matches_the_env_and_autoresets_in_the_same_step():
  """The wrapper and a twin env (same seed, rsl-rl API) step the same action_space samples:
  same observations and rewards, terminated = dones without time-outs, truncated = time-outs;
  the env whose base is dropped below the termination height ends with that state in
  info["final_obs"] and starts its next episode in the returned observation."""
  cfg = dict(episode_length_s=0.1, seed=3)  # 5 env steps: every env times out at step 5
  g = envs.make_gym("humanoid-stand", N, "cpu", **cfg)
  twin = envs.make("humanoid-stand", N, "cpu", **cfg)
  obs, _ = g.reset(seed=3)
  twin.seed(3)
  assert torch.equal(obs, twin.reset()["policy"])
  g.action_space.seed(0)
  saw = {"terminated": 0, "truncated": 0}
  for t in range(7):
    actions = g.action_space.sample()
    assert actions.shape == (N, 21) and actions.dtype == np.float32
    if t == 2:
      for sim in (g.env.sim, twin.sim):
        sim.qpos[1, 2] = FALLEN_HEIGHT
    obs, rew, terminated, truncated, info = g.step(actions)
    t_obs, t_rew, t_dones, t_extras = twin.step(torch.from_numpy(actions))
    assert torch.equal(obs, t_obs["policy"]) and torch.equal(rew, t_rew)
    assert terminated.dtype == truncated.dtype == torch.bool
    assert torch.equal(truncated, t_extras["time_outs"])
    assert torch.equal(terminated, t_dones.bool() & ~t_extras["time_outs"])
    assert not (terminated & truncated).any()
    done = terminated | truncated
    assert torch.equal(info["_final_obs"], done)
    final = info["final_obs"]
    assert final.shape == obs.shape
    assert torch.equal(final[~done], obs[~done]), "rows of envs still running: their observation"
    if done.any():
      assert not torch.equal(final[done], obs[done])
      assert torch.all(obs[done, 0] > twin.cfg.termination_height), "new episode: standing height"
      assert torch.all(g.env.episode_length_buf[done] == 0)
    if t == 2:
      assert terminated[1] and not truncated[1]
      assert final[1, 0] < twin.cfg.termination_height, "the final observation is the fallen state"
    saw["terminated"] += int(terminated.sum())
    saw["truncated"] += int(truncated.sum())
    assert g.observation_space.contains(obs.numpy())
  assert saw["terminated"] >= 1 and saw["truncated"] >= 1, saw


def test_numpy_outputs_with_to_numpy():
  g = envs.make_gym("humanoid-stand", N, "cpu", to_numpy=True)
  obs, _ = g.reset(seed=0)
  assert isinstance(obs, np.ndarray) and obs.dtype == np.float32 and obs.shape == (N, 76)
  obs, rew, terminated, truncated, info = g.step(g.action_space.sample())
  assert isinstance(obs, np.ndarray) and obs.shape == (N, 76)
  assert rew.dtype == np.float32 and rew.shape == (N,)
  assert terminated.dtype == truncated.dtype == info["_final_obs"].dtype == np.bool_
  assert isinstance(info["final_obs"], np.ndarray) and info["final_obs"].shape == (N, 76)


def test_same_seed_same_first_observations_and_episode():
  """reset(seed=s) gives what an env built with seed s gives, with domain randomisation and
  observation noise (both random streams are restarted); another seed gives other starts."""
  cfg = dict(randomization=dict(body_mass_scale=(0.8, 1.2), obs_noise_std=0.01, action_noise_std=0.05))
  a = envs.make_gym("humanoid-walk", N, "cpu", seed=0, **cfg)
  b = envs.make_gym("humanoid-walk", N, "cpu", seed=7, **cfg)
  built_with_7 = b.env.get_observations()["policy"].clone()
  obs_a, _ = a.reset(seed=7)
  obs_b, _ = b.reset(seed=7)
  assert torch.equal(obs_a, obs_b) and torch.equal(obs_a, built_with_7)
  actions = torch.from_numpy(a.action_space.sample()) * 0.1
  for _ in range(3):
    step_a, step_b = a.step(actions), b.step(actions)
    for x, y in zip(step_a[:4], step_b[:4]):
      assert torch.equal(x, y)
  obs_8, _ = a.reset(seed=8)
  assert not torch.equal(obs_8, obs_b)
  assert not torch.equal(a.reset()[0], a.reset()[0]), "without a seed the streams run on"
