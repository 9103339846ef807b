"""The examples/ folder: a robot and a task defined outside the package, trained for a few
iterations by the train CLI (--task examples.quadruped:QuadrupedWalkCfg, with --env./--agent.
flags) and rolled out by play; the same for Menagerie's H1 turning in place
(examples.h1_turn:H1TurnCfg, when PWS_MENAGERIE names a checkout); and the sensor script,
whose readings at rest are checked against statics (the feet carry the weight, the
accelerometer reads g). examples/cleanrl_ppo.py: tests/test_cleanrl_example.py."""

import json
import math
import os
import pathlib

import numpy as np
import pytest
import torch

pytest.importorskip("rsl_rl")
from pywarp_sim import envs, play, train  # noqa: E402
from tolerances import (AT_REST_ACC_TOL, AT_REST_GYRO_TOL, AT_REST_WEIGHT_RTOL, FLOAT32_ROUNDING_TOL,
                        UNIT_NORM_TOL)

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
  assert torch.allclose(env.sim.ctrl, (pose + 0.3 * action).clamp(-2.0, 1.5), atol=FLOAT32_ROUNDING_TOL)
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
  assert torch.allclose(touch.sum(-1), s["weight"], rtol=AT_REST_WEIGHT_RTOL), (touch, s["weight"])
  assert torch.allclose(s["imu_acc"][:, 2], torch.full((2,), 9.81), atol=AT_REST_ACC_TOL)
  assert torch.allclose(torch.linalg.vector_norm(s["torso_quat"], dim=-1), torch.ones(2), atol=UNIT_NORM_TOL)
  assert s["imu_gyro"].abs().max() < AT_REST_GYRO_TOL and s["fl_knee_pos"].shape == (2, 1)
  sensors.main(["--nworld", "2", "--seconds", "0.1"])
  out = capsys.readouterr().out
  assert "world 1: gyro" in out and "touch" in out


# ---- Menagerie's Unitree H1 turning in place (examples/h1_turn.py) ---------------------------------

H1_TASK = "examples.h1_turn:H1TurnCfg"
MENAGERIE_ENV = "PWS_MENAGERIE"  # a mujoco_menagerie checkout (third-party models stay out of the repo)
needs_h1 = pytest.mark.skipif(
  not os.path.isfile(os.path.join(os.environ.get(MENAGERIE_ENV, "/nonexistent"), "unitree_h1", "scene.xml")),
  reason=f"set {MENAGERIE_ENV} to a mujoco_menagerie checkout with unitree_h1")
STILL = {"events.pose.params.joint_noise": 0.0, "events.pose.params.vel_noise": 0.0}


@needs_h1
def test_h1_turn_trains_from_the_cli_and_plays_a_turn(examples_on_path, tmp_path, capsys):
  train.main(["--task", H1_TASK, "--device", "cpu", "--num-envs", "4", "--iterations", "2",
              "--num-steps-per-env", "4", "--quiet", "--log-dir", str(tmp_path), "--env.rewards.turn.weight", "3",
              "--agent.actor.hidden-dims", "32", "--agent.critic.hidden-dims", "32"])
  lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[pws.train] it")]
  assert len(lines) == 2
  history = json.loads((tmp_path / "history.json").read_text())
  assert [r["it"] for r in history] == [0, 1] and all(math.isfinite(r["mean_step_reward"]) for r in history)
  saved = json.loads((tmp_path / train.CONFIG_FILE).read_text())
  assert saved["task"] == H1_TASK and saved["env"]["rewards.turn.weight"] == 3.0
  stats = play.play(str(tmp_path / "model_1.pt"), video=None, steps=4, num_envs=2, command=(0.0, 0.0, 0.5))
  assert stats["qpos"].shape == (4, 26) and torch.isfinite(torch.as_tensor(stats["qpos"])).all()
  np.testing.assert_allclose(stats["command_shown"], np.tile([0.0, 0.0, 0.5], (4, 1)), atol=FLOAT32_ROUNDING_TOL)


@needs_h1
def test_h1_motors_take_the_pd_law_and_the_reset_stands_on_the_feet(examples_on_path):
  from examples import h1_turn
  env = envs.make(H1_TASK, 2, "cpu", **STILL)
  assert env.actuator_kinds == ["motor"] * 19 and env.actuator_names == list(h1_turn.ACTUATORS)
  kp, kd = h1_turn.h1_gains()
  assert env.kp.tolist() == kp and env.kd.tolist() == kd and env.kp[3] == 200.0  # left knee
  # the reset is Menagerie's "home" keyframe (standing on its collision feet) up to the random
  # yaw: its base height and joint angles as float32, not the default pose lifted by the
  # visual meshes that reach below the feet
  home = torch.as_tensor(env.mj_model.key("home").qpos, dtype=torch.float32)
  assert torch.equal(env.sim.qpos[:, 2], home[2].expand(2))
  assert torch.equal(env.sim.qpos[:, 7:], home[7:].expand(2, -1))
  assert float(env.initial_qpos[2]) > float(home[2]), "the default pose on the floor counts the meshes"
  for _ in range(10):
    _, rew, dones, _ = env.step(torch.zeros(2, 19))
  assert env.foot_contacts().all() and not dones.any() and torch.isfinite(rew).all()
  # position-actuator targets would reach motors as torques: refused, naming them
  with pytest.raises(ValueError, match=r"left_hip_yaw \(motor\)"):
    envs.make(H1_TASK, 1, "cpu", **{"actions.type": "joint_position"})


def test_h1_turn_names_a_missing_menagerie(examples_on_path, monkeypatch, tmp_path):
  from examples import h1_turn
  monkeypatch.delenv(MENAGERIE_ENV, raising=False)
  with pytest.raises(FileNotFoundError, match=f"set {MENAGERIE_ENV}"):
    h1_turn.h1_robot()
  monkeypatch.setenv(MENAGERIE_ENV, str(tmp_path))
  with pytest.raises(FileNotFoundError, match="not a mujoco_menagerie checkout"):
    envs.make(H1_TASK, 1, "cpu")
