"""Policy checkpoints (rsl-rl model_<it>.pt) are read weights-only: a crafted file is refused
without running it, and a checkpoint written by our own training loads as before.

rsl-rl's OnPolicyRunner.load unpickles the file (torch.load(weights_only=False)); play and
the academy's --policy go through train.load_policy_checkpoint / restore_runner instead. The
oracle for "loads as before" is rsl-rl's own OnPolicyRunner.load on our trusted file.
"""

import os
import pickle

import pytest
import torch

pytest.importorskip("rsl_rl")
from pywarp_sim import envs, play, train  # noqa: E402
from pywarp_sim.academy import __main__ as academy_main  # noqa: E402
from pywarp_sim.academy import fleet  # noqa: E402

TASK = "humanoid-stand"  # the academy's policy task; its runner uses train.runner_cfg()


class _WritesMarker:
  def __init__(self, marker):
    self.marker = str(marker)

  def __reduce__(self):
    return open, (self.marker, "w")  # unpickling creates the marker file


def _crafted(tmp_path):
  """A file shaped like a real checkpoint whose `infos` runs code when unpickled."""
  marker = tmp_path / "pwned"
  path = tmp_path / "model_7.pt"
  torch.save({"actor_state_dict": {"mlp.0.weight": torch.zeros(2, 2)}, "iter": 7,
              "infos": _WritesMarker(marker)}, path)
  return path, marker


def _assert_live(path, marker):
  """The crafted file does run code under an unsafe load (so the refusals above mean something)."""
  assert not marker.exists()
  torch.load(path, weights_only=False)
  assert marker.exists()


def _assert_identical(a, b, where="state"):
  """Nested dicts / lists of tensors and plain values, equal bit for bit."""
  assert type(a) is type(b), where
  if isinstance(a, dict):
    assert list(a) == list(b), where
    for k in a:
      _assert_identical(a[k], b[k], f"{where}/{k}")
  elif isinstance(a, (list, tuple)):
    assert len(a) == len(b), where
    for i, (x, y) in enumerate(zip(a, b)):
      _assert_identical(x, y, f"{where}/{i}")
  elif isinstance(a, torch.Tensor):
    assert a.dtype == b.dtype and torch.equal(a, b), where
  else:
    assert a == b, where


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A checkpoint of our own training: 2 PPO iterations, 4 envs x 4 steps, default networks."""
  log_dir = tmp_path_factory.mktemp("run")
  cfg = train.runner_cfg(num_steps_per_env=4, save_interval=100)
  train.train(TASK, 4, 2, device="cpu", log_dir=str(log_dir), cfg=cfg, verbose_rsl=False)
  return log_dir / "model_1.pt", cfg


# ---- 1. a crafted file is refused and never executed -------------------------------------

def test_play_refuses_a_crafted_checkpoint_without_running_it(tmp_path):
  path, marker = _crafted(tmp_path)
  with pytest.raises(train.PolicyCheckpointError, match=r"model_7\.pt is refused: it contains pickled Python"):
    play.load_policy(str(path), envs.make(TASK, 1), train.runner_cfg(hidden_dims=(16,)))
  assert not marker.exists(), "play.load_policy executed code from the checkpoint"
  _assert_live(path, marker)


def test_play_cli_exits_with_the_error_and_runs_nothing(tmp_path, capsys):
  path, marker = _crafted(tmp_path)
  with pytest.raises(SystemExit) as e:
    play.main(["--checkpoint", str(path), "--task", TASK, "--video", "", "--steps", "1",
               "--num-envs", "1"])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert "pywarp_sim.play: policy checkpoint" in err and "contains pickled Python objects" in err
  assert "io.open" in err  # names what it refused
  assert not marker.exists(), "pywarp_sim.play executed code from the checkpoint"
  _assert_live(path, marker)


def test_academy_policy_refuses_a_crafted_checkpoint(tmp_path, capsys):
  path, marker = _crafted(tmp_path)
  with pytest.raises(train.PolicyCheckpointError, match="contains pickled Python objects"):
    fleet.load_policy(str(path), TASK)
  # the CLI refuses it before any calibration
  assert academy_main.main(["demo", "--robots", "1", "--quick", "--policy", str(path)]) == 2
  assert "pywarp_sim.academy: policy checkpoint" in capsys.readouterr().err
  assert not marker.exists(), "the academy executed code from the checkpoint"
  _assert_live(path, marker)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes the protocol first
def test_a_raw_pickle_is_refused_without_running_it(tmp_path):
  marker, path = tmp_path / "pwned", tmp_path / "raw.pt"
  with open(path, "wb") as f:
    pickle.dump(_WritesMarker(marker), f)
  with pytest.raises(train.PolicyCheckpointError, match=r"raw\.pt is refused"):
    train.load_policy_checkpoint(path)
  assert not marker.exists()


def test_other_files_get_a_clear_error(tmp_path):
  sim_state = tmp_path / "state.pt"  # weights-only loadable, but not a policy
  torch.save({"format": "pywarp_sim.checkpoint/2", "sim": {"qpos": torch.zeros(1, 3)}}, sim_state)
  with pytest.raises(train.PolicyCheckpointError,
                     match=r"state\.pt is not an rsl-rl policy checkpoint.*format, sim"):
    train.load_policy_checkpoint(sim_state)
  truncated = tmp_path / "model_3.pt"
  truncated.write_bytes(sim_state.read_bytes()[:sim_state.stat().st_size // 2])
  with pytest.raises(train.PolicyCheckpointError, match=r"model_3\.pt cannot be read .*truncated"):
    train.load_policy_checkpoint(truncated)
  with pytest.raises(FileNotFoundError):
    train.load_policy_checkpoint(tmp_path / "missing.pt")


# ---- 2. our own checkpoints load and play as before --------------------------------------

def test_training_checkpoint_is_weights_only_and_loads_as_rsl_rl_did(trained):
  path, cfg = trained
  state = train.load_policy_checkpoint(path)
  assert set(state) == {"actor_state_dict", "critic_state_dict", "optimizer_state_dict", "iter", "infos"}
  assert state["iter"] == 1 and state["infos"] is None
  assert "obs_normalizer._mean" in state["actor_state_dict"]

  env = envs.make(TASK, 1)
  obs = env.get_observations()
  g = torch.Generator().manual_seed(0)
  obs["policy"] = torch.randn(obs["policy"].shape, generator=g) * 2.0  # a fixed observation
  reference = train.make_runner(env, cfg, None, env.device)
  reference.load(str(path), load_cfg={"actor": True})  # rsl-rl's unpickling load: our file is trusted
  expected = reference.get_inference_policy(env.device)(obs)
  untrained = train.make_runner(env, cfg, None, env.device).get_inference_policy(env.device)(obs)
  assert not torch.equal(expected, untrained)  # so equality below means the weights were loaded

  policy = play.load_policy(str(path), env)  # the runner config from pws_train.json
  assert torch.equal(policy(obs), expected)
  assert torch.equal(fleet.load_policy(str(path), TASK)(obs), expected)


def test_restore_runner_matches_rsl_rl_load_in_full(trained):
  """load_cfg=None (the academy's load): critic, optimizer and iteration as rsl-rl restores them."""
  path, cfg = trained
  env = envs.make(TASK, 1)
  ours, theirs = (train.make_runner(env, cfg, None, env.device) for _ in range(2))
  assert train.restore_runner(ours, train.load_policy_checkpoint(path)) is None
  assert theirs.load(str(path)) is None
  assert ours.current_learning_iteration == theirs.current_learning_iteration == 1
  _assert_identical(ours.alg.save(), theirs.alg.save())
  assert ours.alg.learning_rate == theirs.alg.learning_rate
  with pytest.raises(train.PolicyCheckpointError, match="lacks critic_state_dict, optimizer_state_dict"):
    train.restore_runner(ours, {"actor_state_dict": {}, "iter": 0}, source="policy checkpoint x.pt")


def test_play_cli_plays_the_training_checkpoint(trained, capsys):
  path, _ = trained
  play.main(["--checkpoint", str(path), "--video", "", "--steps", "2", "--num-envs", "1"])
  assert "[pws.play] 2 steps" in capsys.readouterr().out
