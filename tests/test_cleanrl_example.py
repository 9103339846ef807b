"""examples/cleanrl_ppo.py: a CleanRL-style PPO trains a task through gymnasium's VectorEnv
API (envs.make_gym) for a few updates, time-outs bootstrapped from info["final_obs"]; and the
VectorEnv view passes the checks of gymnasium's env checker that apply to a vector env
(check_env itself takes single envs only)."""

import itertools
import math
import pathlib
import warnings

import numpy as np
import pytest
import torch

gymnasium = pytest.importorskip("gymnasium")
from gymnasium.utils import env_checker, passive_env_checker  # noqa: E402

from pywarp_sim import envs  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
N, STEPS, UPDATES = 8, 8, 3
EPISODE_S = 0.2  # s: 10 env steps of 0.02 s, so time-outs (and their bootstrap) happen in 24 steps


@pytest.fixture
def cleanrl_ppo(monkeypatch):
  monkeypatch.syspath_prepend(str(REPO))  # as `python -m examples.cleanrl_ppo` from the root
  from examples import cleanrl_ppo
  return cleanrl_ppo


def test_cleanrl_ppo_trains_through_the_gym_api(cleanrl_ppo, tmp_path):
  args = cleanrl_ppo.Args(task="humanoid-stand", num_envs=N, num_steps=STEPS, total_timesteps=UPDATES * N * STEPS,
                          hidden=32, update_epochs=2, num_minibatches=2, quiet=True,
                          save_path=str(tmp_path / "agent.pt"))
  env = envs.make_gym(args.task, N, "cpu", episode_length_s=EPISODE_S)
  truncations = []
  step = env.step

  def counting_step(actions):  # the wrapper's own step, its time-outs counted
    out = step(actions)
    truncations.append(int(out[3].sum()))
    return out
  env.step = counting_step
  history = cleanrl_ppo.train(args, env)
  assert [r["global_step"] for r in history] == [N * STEPS * (k + 1) for k in range(UPDATES)]
  assert env.env.common_step_counter == UPDATES * STEPS, "every rollout step is one env step"
  assert sum(truncations) >= N, "each env timed out at least once (10-step episodes, 24 steps)"
  for r in history:
    for key in ("mean_reward", "pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac"):
      assert math.isfinite(r[key]), (key, r)
  assert history[-1]["v_loss"] > 0 and history[-1]["entropy"] > 0
  saved = torch.load(tmp_path / "agent.pt", weights_only=True)
  agent = cleanrl_ppo.Agent(saved["obs_dim"], saved["act_dim"], saved["hidden"])
  agent.load_state_dict(saved["agent"])
  assert agent.obs_rms.count > UPDATES * N * STEPS - 1, "the normaliser saw every rollout observation"
  obs, _ = env.reset(seed=0)
  action, logprob, _, value = agent.get_action_and_value(agent.obs_rms(obs))
  assert action.shape == (N, env.single_action_space.shape[0]) and torch.isfinite(value).all()


def test_cleanrl_ppo_command_line(cleanrl_ppo, capsys):
  history = cleanrl_ppo.main(["--task", "humanoid-stand", "--num-envs", "4", "--num-steps", "4",
                              "--total-timesteps", "16", "--hidden", "16", "--update-epochs", "1"])
  assert len(history) == 1 and history[0]["global_step"] == 16
  out = capsys.readouterr().out
  assert "[cleanrl_ppo] update 1/1" in out and "humanoid-stand: 16 env steps" in out
  with pytest.raises(ValueError, match="total_timesteps 8"):
    cleanrl_ppo.train(cleanrl_ppo.Args(num_envs=4, num_steps=4, total_timesteps=8, quiet=True))


def test_gym_view_passes_gymnasium_checks_that_apply_to_a_vector_env():
  """gymnasium.utils.env_checker's space, reset, seeding and data-reuse checks on the numpy
  view (one env: the checks test `terminated or truncated` as a single bool), with every
  warning of gymnasium's logger an error; the batched spaces and outputs checked as well on 3
  envs. Not applicable: check_step_determinism (it asserts `truncated is False`, a single
  env's bool), render checks (no render modes), check_space_limit on the observation space
  (it warns on infinite bounds, which the view declares as gymnasium's own MuJoCo envs do,
  Humanoid-v5's Box(-inf, inf, (348,))). The action bound is the env's clip_actions:
  at 1 the space is the normalised [-1, 1] gymnasium recommends; the default (5) is outside
  that recommendation, the one warning it gets."""
  default = envs.make_gym("humanoid-walk", 1, "cpu", to_numpy=True)
  with pytest.warns(UserWarning, match="symmetric and normalized space") as seen:
    env_checker.check_space_limit(default.single_action_space, "action")
  assert len(seen) == 1
  one = envs.make_gym("humanoid-walk", 1, "cpu", to_numpy=True, clip_actions=1.0)
  three = envs.make_gym("humanoid-walk", 3, "cpu", to_numpy=True, clip_actions=1.0)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    for g in (one, three):
      for space in (g.single_action_space, g.action_space):
        passive_env_checker.check_action_space(space)
        env_checker.check_space_limit(space, "action")
      for space in (g.single_observation_space, g.observation_space):
        passive_env_checker.check_observation_space(space)
      env_checker.check_reset_return_type(g)
      env_checker.check_reset_options(g)
      obs, info = passive_env_checker.env_reset_passive_checker(g, seed=5)
      passive_env_checker.check_obs(obs, g.observation_space, "reset")
      step = g.step(g.action_space.sample())
      passive_env_checker.check_obs(step[0], g.observation_space, "step")
      assert step[1].shape == step[2].shape == step[3].shape == (g.num_envs,)
    env_checker.check_reset_seed_determinism(one)
    env_checker.check_returned_data_not_reused(one)
  # what check_reset_seed_determinism compares only for envs with a registered spec
  first, _ = three.reset(seed=123)
  again, _ = three.reset(seed=123)
  np.testing.assert_array_equal(first, again)
  # and the step outputs of consecutive calls share no memory (numpy views of torch tensors)
  outs = [three.step(three.action_space.sample()) for _ in range(2)]
  for a, b in itertools.combinations([o[k] for o in outs for k in range(4)], 2):
    assert not np.shares_memory(a, b)
