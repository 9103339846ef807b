"""The command lines reject nonsensical arguments at parse time (exit code 2, a message
naming the argument and the allowed range) before any work, and their JSON is valid JSON.

Every CLI's work entry point is replaced by a function that fails the test, so a rejected
argument that slipped through to the work shows up as that failure, not as a slow run."""

import dataclasses
import io
import json
import math
import os
import sys

import numpy as np
import pytest
import torch

import pywarp_sim as pws
from bench import __main__ as bench_cli
from bench import common as bench_common
from pywarp_sim import cli, demo, play, train
from pywarp_sim.academy import __main__ as academy_cli


def _no_work(*args, **kwargs):
  raise AssertionError("the CLI started working although an argument is invalid")


@pytest.fixture
def checkpoint(tmp_path):
  path = tmp_path / "model_0.pt"
  path.write_bytes(b"")  # play only checks that it exists before any work
  return str(path)


@pytest.fixture
def no_work(monkeypatch):
  monkeypatch.setattr(train, "train", _no_work)
  monkeypatch.setattr(play, "play", _no_work)
  monkeypatch.setattr(academy_cli, "demo", _no_work)
  monkeypatch.setattr(pws, "Simulator", _no_work)  # demo's first piece of work
  monkeypatch.setattr(bench_common, "check_device", _no_work)  # bench's first step after parsing


def _rejected(main, argv, capsys) -> str:
  with pytest.raises(SystemExit) as exit_info:
    main(argv)
  assert exit_info.value.code == 2
  return capsys.readouterr().err


# (argv, the flag the message names, the allowed range it states)
TRAIN_BAD = [
  (["--iterations", "-1"], "--iterations", ">= 1"),
  (["--iterations", "0"], "--iterations", ">= 1"),
  (["--iterations", "ten"], "--iterations", ">= 1"),
  (["--num-envs", "0"], "--num-envs", ">= 1"),
  (["--save-interval", "0"], "--save-interval", ">= 1"),
  (["--num-steps-per-env", "0"], "--num-steps-per-env", ">= 1"),
  (["--episode-length-s", "-1"], "--episode-length-s", "> 0"),
  (["--episode-length-s", "0"], "--episode-length-s", "> 0"),
  (["--episode-length-s", "nan"], "--episode-length-s", "not a finite number"),
  (["--max-minutes", "0"], "--max-minutes", "> 0"),
  (["--max-minutes", "inf"], "--max-minutes", "not a finite number"),
  (["--seed", "-1"], "--seed", ">= 0"),
  (["--resume", "no/such/model_9.pt"], "--resume no/such/model_9.pt", "no such file"),
  (["--task", "humanoid-run"], "--task", "unknown task 'humanoid-run'"),
  (["--task", "no_such_pws_pkg:Task"], "--task", "no module named 'no_such_pws_pkg'"),
  (["--task", "pywarp_sim.envs:NoTask"], "--task", "has no attribute 'NoTask'"),
]

PLAY_BAD = [
  (["--steps", "-5"], "--steps", ">= 1"),
  (["--steps", "0"], "--steps", ">= 1"),
  (["--num-envs", "0"], "--num-envs", ">= 1"),
  (["--width", "0"], "--width", ">= 1"),
  (["--height", "-480"], "--height", ">= 1"),
  (["--command", "1,0"], "--command", "three comma-separated finite numbers"),
  (["--command", "1,0,0,0"], "--command", "three comma-separated finite numbers"),
  (["--command", "1,nan,0"], "--command", "not a finite number"),
  (["--command", "fast,0,0"], "--command", "three comma-separated finite numbers"),
  (["--video", "out.avi"], "--video out.avi", ".mp4, .gif"),
]

ACADEMY_BAD = [
  (["--robots", "0"], "--robots", ">= 1"),
  (["--heldout-s", "0"], "--heldout-s", "> 0"),
  (["--eval-s", "-3"], "--eval-s", "> 0"),
  (["--train-iterations", "-1"], "--train-iterations", ">= 0"),
  (["--train-envs", "0"], "--train-envs", ">= 1"),
  (["--unseen", "-1"], "--unseen", ">= 0"),
  (["--threads", "-1"], "--threads", ">= 0"),
  (["--seed", "-1"], "--seed", ">= 0"),
  (["--policy", "no/such/model_9.pt"], "--policy no/such/model_9.pt", "no such file"),
]

DEMO_BAD = [
  (["--nworld", "0"], "--nworld", ">= 1"),
  (["--seconds", "0"], "--seconds", "> 0"),
  (["--seconds", "-2"], "--seconds", "> 0"),
  (["--seed", "-1"], "--seed", ">= 0"),
]

BENCH_BAD = [
  (["throughput", "--steps", "0"], "--steps", ">= 1"),
  (["throughput", "--nworld", "0"], "--nworld", ">= 1"),
  (["throughput", "--repeat", "0"], "--repeat", ">= 1"),
  (["throughput", "--max-seconds", "0"], "--max-seconds", "> 0"),
  (["throughput", "--threads", "0"], "--threads", ">= 1"),
  (["throughput", "--nconmax", "-1"], "--nconmax", ">= 0"),
  (["scaling", "--steps", "-1"], "--steps", ">= 1"),
  (["compile", "--nworld", "0"], "--nworld", ">= 1"),
  (["faults", "--fault-rate", "1.5"], "--fault-rate", "[0, 1]"),
  (["faults", "--steps", "0"], "--steps", ">= 1"),
  (["faults", "--nworld", "0"], "--nworld", ">= 1"),
  (["faults", "--seed", "-1"], "--seed", ">= 0"),
]


def _check_message(err: str, flag: str, allowed: str):
  assert flag in err, err
  assert allowed in err, err


@pytest.mark.parametrize("argv,flag,allowed", TRAIN_BAD, ids=[" ".join(c[0]) for c in TRAIN_BAD])
def test_train_rejects_out_of_range_arguments(argv, flag, allowed, no_work, capsys):
  err = _rejected(train.main, ["--device", "cpu", *argv], capsys)
  _check_message(err, flag, allowed)


@pytest.mark.parametrize("argv,flag,allowed", PLAY_BAD, ids=[" ".join(c[0]) for c in PLAY_BAD])
def test_play_rejects_out_of_range_arguments(argv, flag, allowed, checkpoint, no_work, capsys):
  err = _rejected(play.main, ["--checkpoint", checkpoint, "--video", "", *argv], capsys)
  _check_message(err, flag, allowed)


def test_play_rejects_a_missing_checkpoint(tmp_path, no_work, capsys):
  missing = str(tmp_path / "model_1499.pt")
  err = _rejected(play.main, ["--checkpoint", missing, "--video", ""], capsys)
  _check_message(err, f"--checkpoint {missing}", "no such file")


@pytest.mark.parametrize("argv,flag,allowed", ACADEMY_BAD, ids=[" ".join(c[0]) for c in ACADEMY_BAD])
def test_academy_rejects_out_of_range_arguments(argv, flag, allowed, no_work, capsys):
  err = _rejected(academy_cli.main, ["demo", "--quick", *argv], capsys)
  _check_message(err, flag, allowed)


@pytest.mark.parametrize("argv,flag,allowed", DEMO_BAD, ids=[" ".join(c[0]) for c in DEMO_BAD])
def test_demo_rejects_out_of_range_arguments(argv, flag, allowed, no_work, capsys):
  err = _rejected(demo.main, ["--device", "cpu", *argv], capsys)
  _check_message(err, flag, allowed)


@pytest.mark.parametrize("argv,flag,allowed", BENCH_BAD, ids=[" ".join(c[0]) for c in BENCH_BAD])
def test_bench_rejects_out_of_range_arguments(argv, flag, allowed, no_work, capsys):
  err = _rejected(bench_cli.main, argv, capsys)
  _check_message(err, flag, allowed)


# ---- --device ----------------------------------------------------------------------------
def _device_cases(checkpoint):
  return {
    "train": (train.main, []),
    "play": (play.main, ["--checkpoint", checkpoint, "--video", ""]),
    "academy": (academy_cli.main, ["demo", "--quick"]),
    "demo": (demo.main, []),
  }


@pytest.mark.parametrize("which", ["train", "play", "academy", "demo"])
def test_missing_cuda_device_is_reported_before_any_work(which, checkpoint, no_work, monkeypatch, capsys):
  monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
  main, argv = _device_cases(checkpoint)[which]
  err = _rejected(main, [*argv, "--device", "cuda:0"], capsys)
  assert ("--device cuda:0: no CUDA device is available on this machine "
          "(torch.cuda.is_available() is False); use --device cpu") in err, err


@pytest.mark.parametrize("which", ["train", "play", "academy", "demo"])
def test_unknown_device_name_is_rejected(which, checkpoint, no_work, capsys):
  main, argv = _device_cases(checkpoint)[which]
  err = _rejected(main, [*argv, "--device", "gpu0"], capsys)
  assert "--device gpu0: expected cpu, cuda or cuda:N" in err, err


def test_cuda_index_beyond_the_device_count_is_rejected(no_work, monkeypatch, capsys):
  monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
  monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
  err = _rejected(train.main, ["--device", "cuda:3"], capsys)
  assert "--device cuda:3: this machine has 1 CUDA device(s) (cuda:0..cuda:0)" in err, err


# ---- valid arguments still parse -----------------------------------------------------------
def test_valid_arguments_parse_to_their_values(checkpoint):
  a = train.parse_args(["--device", "cpu", "--iterations", "1", "--save-interval", "1",
                        "--episode-length-s", "0.5", "--max-minutes", "0.1", "--seed", "0"])
  assert (a.iterations, a.save_interval, a.episode_length_s, a.max_minutes) == (1, 1, 0.5, 0.1)
  a = play.parse_args(["--checkpoint", checkpoint, "--video", "out.GIF", "--steps", "1",
                       "--command", "1, 0,-0.5"])
  assert a.steps == 1 and a.command == (1.0, 0.0, -0.5)
  a = academy_cli.parse_args(["demo", "--train-iterations", "0", "--unseen", "0", "--threads", "0"])
  assert (a.robots, a.train_iterations, a.unseen, a.threads) == (2, 0, 0, 0)
  a = demo.parse_args(["--seconds", "0.01", "--nworld", "1"])
  assert a.device is None and a.seconds == 0.01


# ---- JSON output ---------------------------------------------------------------------------
def test_json_safe_maps_non_finite_floats_to_null():
  obj = {"a": float("nan"), "b": [1.0, float("inf"), -float("inf")], "c": (np.float32("nan"), 2),
         "d": np.array([np.nan, 3.0]), "e": torch.tensor([float("nan")]), "f": "nan", "g": True,
         "h": np.float64(0.5)}
  assert cli.json_safe(obj) == {"a": None, "b": [1.0, None, None], "c": [None, 2], "d": [None, 3.0],
                                "e": [None], "f": "nan", "g": True, "h": 0.5}


def test_dumps_fails_loudly_on_a_nan_that_escapes_json_safe():
  with pytest.raises(ValueError, match="not JSON compliant"):
    cli.dumps({"x": object()}, default=lambda o: float("nan"))


def test_play_json_record_writes_null_for_undefined_figures():
  # what rollout returns when no episode completed and no env was live at any step
  stats = {"episodes": 0, "mean_return": float("nan"), "mean_length": float("nan"),
           "mean_step_reward": -0.25, "qpos": np.zeros((2, 28)),
           "base_vel": [float("nan"), float("nan"), float("nan")], "command_error": float("nan"),
           "falls": 0}
  line = play.json_record("runs/x/model_0.pt", 4, 2, (1.0, 0.0, 0.0), stats)
  assert "NaN" not in line
  rec = json.loads(line)
  assert rec == {"checkpoint": "runs/x/model_0.pt", "num_envs": 4, "steps": 2, "command": [1.0, 0.0, 0.0],
                 "episodes": 0, "mean_return": None, "mean_length": None, "mean_step_reward": -0.25,
                 "base_vel": [None, None, None], "command_error": None, "falls": 0}
  assert math.isfinite(rec["mean_step_reward"])


# ---- config fields as flags (tyro) -----------------------------------------------------------
def test_train_sets_any_task_and_runner_field_from_the_command_line():
  a = train.parse_args(["--device", "cpu", "--task", "humanoid-walk", "--episode-length-s", "5",
                        "--env.kp", "20", "--env.reward-weights.alive", "2",
                        "--env.command_lin_vel_x", "-1", "1.5", "--env.default-joint-pos.right-knee", "-0.3",
                        "--agent.algorithm.learning-rate", "3e-4", "--agent.actor.hidden-dims", "64", "32",
                        "--num-steps-per-env", "12"])
  # a HumanoidEnvCfg factory takes whole fields: a changed dict entry carries its dict
  weights = dict(pws.envs.humanoid.WALK_REWARDS, alive=2.0)
  joints = dict(pws.envs.HumanoidEnvCfg().default_joint_pos, right_knee=-0.3)
  assert a.env_overrides == {"backend": "auto", "episode_length_s": 5.0, "kp": 20.0,
                             "reward_weights": weights, "command_lin_vel_x": (-1.0, 1.5),
                             "default_joint_pos": joints}
  assert a.runner["algorithm"]["learning_rate"] == 3e-4 and a.runner["actor"]["hidden_dims"] == [64, 32]
  assert a.runner["critic"]["hidden_dims"] == [256, 128, 64] and a.runner["num_steps_per_env"] == 12
  cfg = pws.envs.make_cfg("humanoid-walk", **a.env_overrides)
  assert (cfg.kp, cfg.reward_weights["alive"], cfg.command_lin_vel_x) == (20.0, 2.0, (-1.0, 1.5))


def test_train_flags_reach_the_terms_of_a_task_config():
  pws.envs.register("pws-test-flags", pws.envs.humanoid_task_cfg(pws.envs.HumanoidEnvCfg(task="walk")),
                    overwrite=True)
  try:
    a = train.parse_args(["--device", "cpu", "--task", "pws-test-flags", "--env.rewards.alive.weight", "3",
                          "--env.commands.base-velocity.params.lin-vel-x", "0", "2",
                          "--env.robot.target-height", "1.2", "--env.actions.scale", "0.5"])
    assert a.env_overrides == {"backend": "auto", "rewards.alive.weight": 3.0, "actions.scale": 0.5,
                               "commands.base_velocity.params.lin_vel_x": (0.0, 2.0),
                               "robot.target_height": 1.2}
    cfg = pws.envs.make_cfg("pws-test-flags", **a.env_overrides)
    assert cfg.rewards["alive"].weight == 3.0 and cfg.robot.target_height == 1.2
    assert cfg.commands["base_velocity"].params["lin_vel_x"] == (0.0, 2.0)
  finally:
    pws.envs.unregister("pws-test-flags")


@pytest.mark.parametrize("argv,message", [
  (["--env.no-such-field", "1"], "--env.no-such-field"),
  (["--env.kp", "stiff"], "--env.kp"),
  (["--agent.algorithm.learning-rate"], "--agent.algorithm.learning-rate"),
  (["--episodes", "3"], "unrecognized arguments: --episodes 3"),
])
def test_train_rejects_unknown_config_flags_and_bad_values(argv, message, no_work, capsys):
  err = _rejected(train.main, ["--device", "cpu", "--task", "humanoid-stand", *argv], capsys)
  assert message in err, err


def test_train_help_lists_the_config_fields_of_the_task(capsys):
  with pytest.raises(SystemExit) as e:
    train.main(["--task", "humanoid-stand", "--help"])
  assert e.value.code == 0
  out = capsys.readouterr().out
  for flag in ("--num-envs", "--resume", "--env.episode-length-s", "--env.reward-weights.action-rate",
               "--env.default-joint-pos.right-knee", "--agent.algorithm.learning-rate",
               "--agent.actor.hidden-dims"):
    assert flag in out, flag


# ---- runs layout and --resume ----------------------------------------------------------------
def _fake_runs(root, task: str, runs: dict):
  folder = root / train.LOG_ROOT / train.task_dir_name(task)
  for run, files in runs.items():
    (folder / run).mkdir(parents=True)
    for name in files:
      (folder / run / name).write_bytes(b"")
  return folder


def test_run_folders_are_named_as_rsl_rl_and_isaac_lab_name_them():
  import datetime
  now = datetime.datetime(2026, 12, 7, 9, 5, 3)
  assert train.run_dir("humanoid-walk", now=now) == "logs/rsl_rl/humanoid-walk/2026-12-07_09-05-03"
  assert train.run_dir("examples.quadruped:QuadrupedWalkCfg", "trot v2", now=now) == \
    "logs/rsl_rl/examples.quadruped_QuadrupedWalkCfg/2026-12-07_09-05-03_trot_v2"


def test_resume_finds_the_last_checkpoint_of_the_last_run(tmp_path, monkeypatch, no_work, capsys):
  folder = _fake_runs(tmp_path, "humanoid-stand", {
    "2026-12-06_10-00-00": ["model_0.pt", "model_50.pt"],
    "2026-12-07_08-00-00_long": ["model_9.pt", "model_100.pt", "model_99.pt"],
    "2026-12-07_09-00-00": []})  # started, no checkpoint yet: skipped
  monkeypatch.chdir(tmp_path)
  argv = ["--device", "cpu", "--task", "humanoid-stand"]
  assert train.parse_args([*argv, "--resume"]).resume == \
    os.path.join(train.LOG_ROOT, "humanoid-stand", "2026-12-07_08-00-00_long", "model_100.pt")
  assert train.parse_args([*argv, "--load-run", "2026-12-06.*"]).resume == \
    os.path.join(train.LOG_ROOT, "humanoid-stand", "2026-12-06_10-00-00", "model_50.pt")
  assert train.parse_args([*argv, "--resume", "--checkpoint", "model_9.pt"]).resume == \
    os.path.join(train.LOG_ROOT, "humanoid-stand", "2026-12-07_08-00-00_long", "model_9.pt")
  run = str(folder / "2026-12-06_10-00-00")
  assert train.parse_args([*argv, "--resume", run]).resume == os.path.join(run, "model_50.pt")
  err = _rejected(train.main, [*argv, "--resume", "--load-run", "2025.*"], capsys)
  assert "--resume: none of the runs matching '2025.*' of task 'humanoid-stand'" in err, err
  err = _rejected(train.main, ["--device", "cpu", "--task", "humanoid-walk", "--resume"], capsys)
  assert "--resume: no runs of task 'humanoid-walk' in logs/rsl_rl/humanoid-walk/" in err, err


def test_play_without_checkpoint_plays_the_last_run_of_the_task(tmp_path, monkeypatch, no_work, capsys):
  _fake_runs(tmp_path, "humanoid-walk", {"2026-12-07_08-00-00": ["model_10.pt", "model_20.pt"]})
  monkeypatch.chdir(tmp_path)
  a = play.parse_args(["--task", "humanoid-walk", "--video", ""])
  assert a.checkpoint == os.path.join(train.LOG_ROOT, "humanoid-walk", "2026-12-07_08-00-00", "model_20.pt")
  err = _rejected(play.main, ["--video", ""], capsys)
  assert "--checkpoint: give a model_<it>.pt or a run folder, or --task" in err, err
  err = _rejected(play.main, ["--task", "humanoid-stand", "--video", ""], capsys)
  assert "--task humanoid-stand: no runs of task 'humanoid-stand'" in err, err


# ---- progress --------------------------------------------------------------------------------
class _Terminal(io.StringIO):
  def isatty(self):
    return True


def test_progress_draws_on_a_terminal_only_and_not_when_quiet(monkeypatch):
  for stream, quiet, drawn in ((_Terminal(), False, True), (_Terminal(), True, False), (io.StringIO(), False, False)):
    monkeypatch.setattr(sys, "stderr", stream)
    assert cli.progress_enabled(quiet) == drawn
    with cli.progress("rollout", 3, quiet=quiet, unit="env steps") as advance:
      for _ in range(3):
        advance()
    assert list(cli.track([1, 2], "items", quiet=quiet)) == [1, 2]
    with cli.status("building envs", quiet=quiet):
      pass
    assert ("rollout" in stream.getvalue()) == drawn, stream.getvalue()


def test_academy_sets_calibration_config_fields(no_work, capsys):
  from pywarp_sim.academy import calibrate as C
  a = academy_cli.parse_args(["calibrate", "--quick", "--calibration.popsize", "8",
                              "--calibration.latencies", "0", "1", "--calibration.duration-s", "2"])
  assert a.calibration == {"popsize": 8, "latencies": (0, 1), "duration_s": 2.0}
  cfg = dataclasses.replace(C.CalibrationConfig.quick(), **a.calibration)
  assert (cfg.popsize, cfg.latencies, cfg.generations) == (8, (0, 1), 20)
  assert academy_cli.parse_args(["demo", "--quick"]).calibration == {}
  err = _rejected(academy_cli.main, ["demo", "--quick", "--calibration.popsise", "8"], capsys)
  assert "--calibration.popsise" in err and "--calibration.popsize" in err, err
  with pytest.raises(SystemExit) as e:
    academy_cli.main(["calibrate", "--help"])
  assert e.value.code == 0
  assert "--calibration.generations" in capsys.readouterr().out
