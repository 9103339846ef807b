"""The examples/ folder: a robot and a task defined outside the package, trained for a few
iterations by the train CLI (--task examples.quadruped:QuadrupedWalkCfg, with --env./--agent.
flags) and rolled out by play; and the sensor script, whose readings at rest are checked
against statics (the feet carry the weight, the accelerometer reads g)."""

import json
import math
import os
import pathlib

import pytest
import torch

pytest.importorskip("rsl_rl")
from pywarp_sim import envs, play, train  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
TASK = "examples.quadruped:QuadrupedWalkCfg"


@pytest.fixture
def examples_on_path(monkeypatch):
  monkeypatch.syspath_prepend(str(REPO))  # as `python -m ...` from the repository root


def test_quadruped_trains_from_the_cli_and_plays(examples_on_path, tmp_path, capsys):
  train.main(["--task", TASK, "--device", "cpu", "--num-envs", "8", "--iterations", "2",
              "--num-steps-per-env", "8", "--quiet", "--log-dir", str(tmp_path),
              "--env.rewards.trot.weight", "0.5", "--env.episode-length-s", "2",
              "--agent.actor.hidden-dims", "32", "--agent.critic.hidden-dims", "32"])
  lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[pws.train] it")]
  assert len(lines) == 2
  history = json.loads((tmp_path / "history.json").read_text())
  assert [r["it"] for r in history] == [0, 1] and all(math.isfinite(r["mean_step_reward"]) for r in history)
  saved = json.loads((tmp_path / train.CONFIG_FILE).read_text())
  assert saved["task"] == TASK and saved["env"]["rewards.trot.weight"] == 0.5
  assert saved["runner"]["actor"]["hidden_dims"] == [32]
  params = json.loads((tmp_path / "params" / "env.json").read_text())
  assert params["rewards"]["trot"] == {"func": "examples.quadruped.trot_contacts", "weight": 0.5, "params": {}}
  assert params["actions"]["type"] == "joint_position" and params["episode_length_s"] == 2.0
  stats = play.play(str(tmp_path / "model_1.pt"), video=None, steps=5, num_envs=2)
  assert stats["qpos"].shape == (5, 15) and torch.isfinite(torch.as_tensor(stats["qpos"])).all()


def test_quadruped_position_actuators_get_joint_targets_and_the_custom_term(examples_on_path):
  env = envs.make(TASK, 2, "cpu", **{"events.pose.params.joint_noise": 0.0, "events.pose.params.vel_noise": 0.0})
  assert env.actuator_kinds == ["position"] * 8
  action = torch.tensor([[0.5, -1.0, 0.0, 0.2, -0.3, 0.4, 1.0, -0.5]]).repeat(2, 1)
  env.step(action)
  # joint_position: ctrl = default pose + scale * action, the target MuJoCo's actuator tracks
  pose = torch.tensor([0.4, -0.8] * 4)
  assert torch.allclose(env.sim.ctrl, (pose + 0.3 * action).clamp(-2.0, 1.5), atol=1e-6)
  # standing on four feet: every foot in contact, so no trot stance (the pairs do not differ)
  env = envs.make(TASK, 2, "cpu", **{"events.pose.params.joint_noise": 0.0, "events.pose.params.vel_noise": 0.0})
  for _ in range(5):  # the default pose starts just above the floor: land first
    env.step(torch.zeros(2, 8))
  assert env.foot_contacts().all()
  from examples.quadruped import trot_contacts
  assert torch.equal(trot_contacts(env), torch.zeros(2))
  with pytest.raises(ValueError, match="fl_hip"):  # the env's PD law needs motors
    envs.make(TASK, 1, "cpu", **{"actions.type": "joint_position_pd"})


def test_sensor_script_reads_sensors_by_name(examples_on_path, capsys):
  from examples import sensors
  s = sensors.run(nworld=2, seconds=1.0)
  touch = torch.cat([s[f"{foot}_touch"] for foot in sensors.FEET], dim=-1)
  # at rest (after the drop): the feet carry the weight, the accelerometer reads +g on z
  assert torch.allclose(touch.sum(-1), s["weight"], rtol=0.01), (touch, s["weight"])
  assert torch.allclose(s["imu_acc"][:, 2], torch.full((2,), 9.81), atol=0.05)
  assert torch.allclose(torch.linalg.vector_norm(s["torso_quat"], dim=-1), torch.ones(2), atol=1e-5)
  assert s["imu_gyro"].abs().max() < 0.01 and s["fl_knee_pos"].shape == (2, 1)
  sensors.main(["--nworld", "2", "--seconds", "0.1"])
  out = capsys.readouterr().out
  assert "world 1: gyro" in out and "touch" in out
