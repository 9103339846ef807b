"""Training with rsl-rl-lib's PPO on the CPU, and rolling out / rendering a checkpoint."""

import glob
import json
import os
import re
import subprocess
import sys

import mujoco
import pytest
import torch

pytest.importorskip("rsl_rl")
from pywarp_sim import envs, play, train  # noqa: E402
from tolerances import FLOAT32_ROUNDING_TOL

ITERATIONS = 10
# In ten iterations of 64 envs x 24 steps (15k samples, ~30 s on two cores) PPO cannot learn
# to balance (that takes hundreds of iterations with thousands of envs); what it measurably
# learns is the immediate term: smoother actions. So the test task is humanoid-stand with a
# strong action-rate penalty, and the fixed learning rate lets the policy std move.
ENV = dict(episode_length_s=4.0, reward_weights={"alive": 1.0, "upright": 1.0, "base_height": 1.0,
                                                 "action_rate": -0.1})
# Measured with seed 0 (see the test): mean return of iterations 1-3 about -1.25, of the last
# three about -0.57; mean reward per step -0.028 -> -0.013. Iteration 0 is left out: the only
# episodes it completes are the ones that ended earliest.
MIN_RETURN_GAIN = 0.3
MIN_STEP_REWARD_GAIN = 0.25  # relative


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  log_dir = str(tmp_path_factory.mktemp("run"))
  cfg = train.runner_cfg(num_steps_per_env=24, hidden_dims=(128, 64), entropy_coef=0.0,
                         learning_rate=3e-3, save_interval=5)
  cfg["algorithm"]["schedule"] = "fixed"
  history = train.train("humanoid-stand", 64, ITERATIONS, device="cpu", log_dir=log_dir, seed=0,
                        env_overrides=ENV, cfg=cfg, verbose_rsl=False)
  return log_dir, history


def test_ppo_mean_return_rises(trained):
  _, h = trained
  assert len(h) == ITERATIONS
  ret = [r["mean_return"] for r in h]
  early, late = sum(ret[1:4]) / 3, sum(ret[-3:]) / 3
  print("mean return per iteration:", [round(x, 3) for x in ret])
  assert late >= early + MIN_RETURN_GAIN, (early, late)
  step = [r["mean_step_reward"] for r in h]
  early_s, late_s = sum(step[1:4]) / 3, sum(step[-3:]) / 3
  assert late_s - early_s >= MIN_STEP_REWARD_GAIN * abs(early_s), (early_s, late_s)
  assert all(r["steps_per_s"] > 0 and r["episodes"] > 0 for r in h[1:])


def test_training_writes_checkpoints_tensorboard_and_config(trained):
  log_dir, _ = trained
  models = sorted(glob.glob(os.path.join(log_dir, "model_*.pt")))
  assert os.path.join(log_dir, f"model_{ITERATIONS - 1}.pt") in models and len(models) >= 2
  assert glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))
  assert os.path.exists(os.path.join(log_dir, train.CONFIG_FILE))
  from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
  ea = EventAccumulator(log_dir)
  ea.Reload()
  tags = ea.Tags()["scalars"]
  for tag in ("Train/pws_mean_return", "Perf/pws_env_steps_per_s", "Reward/action_rate", "Loss/value"):
    assert tag in tags, tag
  assert len(ea.Scalars("Train/pws_mean_return")) == ITERATIONS


def test_play_rolls_out_the_checkpoint(trained):
  log_dir, _ = trained
  ckpt = os.path.join(log_dir, f"model_{ITERATIONS - 1}.pt")
  stats = play.play(ckpt, video=None, steps=30, num_envs=4)
  assert stats["qpos"].shape == (30, 28)
  assert torch.isfinite(torch.as_tensor(stats["qpos"])).all()
  assert stats["mean_step_reward"] == stats["mean_step_reward"]


def test_play_renders_a_video_offscreen(trained, tmp_path):
  log_dir, _ = trained
  ckpt = os.path.join(log_dir, f"model_{ITERATIONS - 1}.pt")
  out = tmp_path / "play.gif"
  env = dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
  r = subprocess.run([sys.executable, "-m", "pywarp_sim.play", "--checkpoint", ckpt, "--video",
                      str(out), "--steps", "10", "--width", "96", "--height", "64"],
                     env=env, capture_output=True, text=True, timeout=300)
  if r.returncode == 2 and "could not create an OpenGL context" in r.stderr:
    pytest.skip(f"no offscreen OpenGL here: {r.stderr.strip()[:300]}")
  assert r.returncode == 0, r.stderr[-2000:]
  assert "10 frames" in r.stdout
  from PIL import Image
  with Image.open(out) as im:
    assert im.size == (96, 64) and im.n_frames == 10


def test_missing_gl_context_gives_a_clear_error(trained, monkeypatch, capsys):
  def no_gl(*a, **k):
    raise mujoco.FatalError("an OpenGL platform library has not been loaded into this process")
  monkeypatch.setattr(mujoco, "Renderer", no_gl)
  with pytest.raises(play.RenderError, match=r"MUJOCO_GL=egl.*MUJOCO_GL=osmesa.*--video ''"):
    play.make_renderer(envs.make("humanoid-stand", 1).mj_model, 64, 64)
  log_dir, _ = trained
  ckpt = os.path.join(log_dir, f"model_{ITERATIONS - 1}.pt")
  with pytest.raises(SystemExit) as e:
    play.main(["--checkpoint", ckpt, "--video", "x.mp4", "--steps", "2"])
  assert e.value.code == 2
  assert "could not create an OpenGL context" in capsys.readouterr().err


def test_train_cli_prints_steps_per_second_and_return(tmp_path, capsys):
  train.main(["--task", "humanoid-walk", "--device", "cpu", "--num-envs", "8", "--iterations", "2",
              "--num-steps-per-env", "8", "--log-dir", str(tmp_path), "--quiet",
              "--episode-length-s", "0.1"])
  out = capsys.readouterr().out
  lines = [ln for ln in out.splitlines() if ln.startswith("[pws.train]")]
  assert len(lines) == 2 and "env steps/s" in lines[0] and "mean return" in lines[0]
  assert os.path.exists(tmp_path / "model_1.pt")


def test_play_measures_velocity_tracking_and_falls():
  """play.rollout's tracking figures: the base-frame velocity after each step, the error to
  the (held) command and the falls, checked against the state the env leaves."""
  env = envs.make("humanoid-walk", 4, "cpu", command_lin_vel_x=(1.0, 1.0), command_lin_vel_y=(0.0, 0.0),
                  command_yaw_rate=(0.0, 0.0), command_standing_fraction=0.0)
  zero = lambda obs: torch.zeros(4, 21)  # noqa: E731
  stats = play.rollout(env, zero, steps=1)
  assert torch.equal(env.commands, torch.tensor([[1.0, 0.0, 0.0]] * 4))
  q = env.sim.qpos
  v = envs.mdp.quat_rotate_inverse(q[:, 3:7], env.sim.qvel[:, 0:3])
  expected = torch.cat([v[:, :2], env.sim.qvel[:, 5:6]], -1).mean(0)
  assert torch.allclose(torch.tensor(stats["base_vel"]), expected, atol=FLOAT32_ROUNDING_TOL)
  err = torch.linalg.vector_norm(v[:, :2] - torch.tensor([1.0, 0.0]), dim=-1).mean()
  assert stats["command_error"] == pytest.approx(float(err), abs=FLOAT32_ROUNDING_TOL)
  # without PD gains the humanoid collapses: every completed episode is a fall
  weak = envs.make("humanoid-walk", 4, "cpu", kp=0.0, kd=0.0, episode_length_s=100.0)
  stats = play.rollout(weak, zero, steps=60)
  assert stats["episodes"] >= 4 and stats["falls"] == stats["episodes"]


def test_training_stops_at_its_time_limit_with_a_checkpoint(tmp_path):
  cfg = train.runner_cfg(num_steps_per_env=4, hidden_dims=(16,), save_interval=100)
  history = train.train("humanoid-stand", 4, 5, device="cpu", log_dir=str(tmp_path), cfg=cfg,
                        verbose_rsl=False, max_minutes=1e-6)
  assert len(history) == 1 and history[0]["wall_s"] > 0
  assert os.path.exists(tmp_path / "model_0.pt") and not os.path.exists(tmp_path / "model_1.pt")
  play.load_policy(str(tmp_path / "model_0.pt"), envs.make("humanoid-stand", 1), cfg)


# ---- tasks from other modules, resuming ------------------------------------------------------
TASK_MODULE = "pws_test_train_task"  # written into tmp_path; a name no installed package has
UPRIGHT_WEIGHT = 2.0  # per second; the task's only reward term, upright = -gravity_z in [-1, 1]


def test_train_cli_runs_a_task_from_a_module_and_resumes_it(tmp_path, monkeypatch, capsys):
  src = tmp_path / "src"
  src.mkdir()
  (src / f"{TASK_MODULE}.py").write_text(
    "from pywarp_sim.envs import HumanoidEnv\n\n"
    "class UprightOnly(HumanoidEnv):\n"
    f"    cfg_defaults = dict(task='stand', episode_length_s=1.0, reward_weights={{'upright': {UPRIGHT_WEIGHT}}})\n")
  monkeypatch.syspath_prepend(str(src))  # as PYTHONPATH=src for python -m pywarp_sim.train
  monkeypatch.delitem(sys.modules, TASK_MODULE, raising=False)
  task = f"{TASK_MODULE}:UprightOnly"
  common = ["--task", task, "--device", "cpu", "--num-envs", "4", "--num-steps-per-env", "4",
            "--iterations", "1", "--quiet"]
  monkeypatch.chdir(tmp_path)  # runs go to logs/rsl_rl/<task>/<date-time>_<run name>/ here
  train.main([*common, "--run-name", "first"])
  runs = tmp_path / train.LOG_ROOT / train.task_dir_name(task)
  (first,) = runs.iterdir()
  assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_first", first.name), first.name
  assert f"[pws.train] run folder {os.path.join(train.LOG_ROOT, train.task_dir_name(task), first.name)}" \
    in capsys.readouterr().out
  assert {"history.json", "model_0.pt", "params", "pws_train.json"} <= {p.name for p in first.iterdir()}
  assert list(first.glob("events.out.tfevents.*"))
  assert sorted(p.name for p in (first / "params").iterdir()) == ["agent.json", "env.json"]
  with open(first / train.CONFIG_FILE) as f:
    assert json.load(f)["task"] == task
  with open(first / "history.json") as f:
    step_reward = json.load(f)[0]["mean_step_reward"]
  dt = 4 * 0.005  # decimation x timestep of humanoid.xml
  assert 0 < step_reward <= UPRIGHT_WEIGHT * dt + 1e-6, "the module's reward, not humanoid-stand's"
  # bare --resume: the last checkpoint of the task's last run; the new run gets its own folder
  train.main([*common, "--resume"])
  assert f"resumed from {first / 'model_0.pt'}".replace(str(tmp_path) + os.sep, "") in capsys.readouterr().out
  (second,) = [p for p in runs.iterdir() if p != first]
  assert train.load_policy_checkpoint(second / "model_1.pt")["iter"] == 1
  with open(second / train.CONFIG_FILE) as f:
    assert json.load(f)["resumed_from"] == str(first / "model_0.pt")
  play.load_policy(str(second / "model_1.pt"), envs.make(task, 1), train.runner_cfg())


def test_resume_continues_iterations_weights_and_optimizer(tmp_path):
  cfg = train.runner_cfg(num_steps_per_env=4, hidden_dims=(16,), save_interval=100)
  first, second = tmp_path / "first", tmp_path / "second"
  train.train("humanoid-stand", 4, 2, log_dir=str(first), cfg=cfg, verbose_rsl=False)
  old = train.load_policy_checkpoint(first / "model_1.pt")
  assert old["iter"] == 1  # rsl-rl counts from 0: the last iteration done
  history = train.train("humanoid-stand", 4, 1, log_dir=str(second), cfg=cfg, verbose_rsl=False,
                        resume=first / "model_1.pt")
  assert [r["it"] for r in history] == [2]
  assert sorted(glob.glob(str(second / "model_*.pt"))) == [str(second / "model_2.pt")]
  new = train.load_policy_checkpoint(second / "model_2.pt")
  assert new["iter"] == 2, "numbered as iteration 2 of one 3-iteration run"
  # Adam's step count goes on from the checkpoint's: one step per mini-batch of each epoch
  alg = cfg["algorithm"]
  updates = alg["num_learning_epochs"] * alg["num_mini_batches"]
  for p, state in new["optimizer_state_dict"]["state"].items():
    assert float(state["step"]) == float(old["optimizer_state_dict"]["state"][p]["step"]) + updates
  # the observation normalizers go on too: one more iteration's samples (envs x steps)
  for net in ("actor_state_dict", "critic_state_dict"):
    assert int(new[net]["obs_normalizer.count"]) == int(old[net]["obs_normalizer.count"]) + 4 * 4
  assert not torch.equal(new["actor_state_dict"]["mlp.0.weight"], old["actor_state_dict"]["mlp.0.weight"])
  with open(second / train.CONFIG_FILE) as f:
    assert json.load(f)["resumed_from"] == str(first / "model_1.pt")
  with pytest.raises(train.PolicyCheckpointError, match=r"does not fit this run's networks.*pws_train.json"):
    train.train("humanoid-stand", 4, 1, log_dir=str(tmp_path / "third"), verbose_rsl=False,
                cfg=train.runner_cfg(num_steps_per_env=4, hidden_dims=(32,)), resume=first / "model_1.pt")


def test_resume_refuses_a_bad_checkpoint_before_any_work(tmp_path, monkeypatch, capsys):
  bad = tmp_path / "model_7.pt"
  bad.write_bytes(b"not a checkpoint")
  monkeypatch.setattr(envs, "make", lambda *a, **k: pytest.fail("an env was built"))
  with pytest.raises(SystemExit) as e:
    train.main(["--task", "humanoid-stand", "--device", "cpu", "--resume", str(bad),
                "--log-dir", str(tmp_path / "run")])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert f"--resume: policy checkpoint {bad} is refused" in err and "nothing in it was executed" in err, err
  with pytest.raises(SystemExit) as e:
    train.main(["--device", "cpu", "--resume", str(tmp_path / "model_8.pt")])
  assert e.value.code == 2
  assert f"--resume {tmp_path / 'model_8.pt'}: no such file" in capsys.readouterr().err
