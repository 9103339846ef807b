"""The task registry (envs.register / envs.make): registered names, "package.module:Factory"
imported on demand, and errors that name the missing task, module or attribute."""

import textwrap

import pytest
import torch

from pywarp_sim import envs

MODULE = "pws_test_tasks_registry"  # written into tmp_path; a name no installed package has


@pytest.fixture
def task_module(tmp_path, monkeypatch):
  (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent("""
    from pywarp_sim.envs import HumanoidEnv, make

    class TorqueStand(HumanoidEnv):
        cfg_defaults = dict(task="stand", action_type="torque", reward_weights={"upright": 2.0})

    def short_walk(num_envs, device="cpu", **cfg):
        return make("humanoid-walk", num_envs, device, **{"episode_length_s": 0.5, **cfg})

    NOT_A_FACTORY = 3
  """))
  monkeypatch.syspath_prepend(str(tmp_path))
  yield MODULE
  import sys
  sys.modules.pop(MODULE, None)


def test_builtin_tasks_are_registered():
  assert {"humanoid-stand", "humanoid-walk"} <= set(envs.registered())
  assert envs.make("humanoid-walk", 2).cfg.task == "walk"
  assert envs.make_cfg("humanoid-stand", episode_length_s=3.0).episode_length_s == 3.0


def test_module_attr_tasks_are_imported_on_demand(task_module):
  env = envs.make(f"{task_module}:TorqueStand", 2, "cpu", episode_length_s=1.0)
  assert type(env).__name__ == "TorqueStand"
  assert (env.cfg.action_type, env.cfg.episode_length_s) == ("torque", 1.0)
  assert env.reward_weights == {"upright": 2.0}
  _, rew, _, extras = env.step(torch.zeros(2, 21))
  upright = -env.last_base_state["gravity"][:, 2]
  assert torch.allclose(rew, 2.0 * upright * env.dt), "only the configured term, weight 2 per s"
  assert set(extras["log"]) >= {"Reward/upright"} and "Reward/alive" not in extras["log"]
  walk = envs.make(f"{task_module}:short_walk", 2, "cpu")
  assert walk.cfg.task == "walk" and walk.max_episode_length == round(0.5 / walk.dt)
  assert envs.make_cfg(f"{task_module}:TorqueStand").action_type == "torque"


def test_register_makes_a_name(task_module):
  import importlib
  mod = importlib.import_module(task_module)
  envs.register("test-torque-stand", mod.TorqueStand)
  try:
    assert type(envs.make("test-torque-stand", 1)).__name__ == "TorqueStand"
    with pytest.raises(ValueError, match="already registered; pass overwrite=True"):
      envs.register("test-torque-stand", mod.short_walk)
    envs.register("test-torque-stand", mod.short_walk, overwrite=True)
    assert envs.make("test-torque-stand", 1).cfg.task == "walk"
  finally:
    envs.unregister("test-torque-stand")
  assert "test-torque-stand" not in envs.registered()
  with pytest.raises(ValueError, match="without ':'"):
    envs.register("a:b", mod.short_walk)


def test_missing_tasks_modules_and_attributes_are_named(task_module):
  with pytest.raises(ValueError, match=r"unknown task 'humanoid-run'; registered: \[.*'humanoid-stand'"):
    envs.make("humanoid-run", 1)
  with pytest.raises(ValueError, match=r"no module named 'no_such_pws_pkg.tasks' \(no 'no_such_pws_pkg' "
                                       r"on sys.path\).*PYTHONPATH"):
    envs.make("no_such_pws_pkg.tasks:Walk", 1)
  with pytest.raises(ValueError, match=rf"'{task_module}' \(.*{task_module}.py\) has no attribute "
                                       r"'Stairs'; its own callables: \['TorqueStand', 'short_walk'\]"):
    envs.make(f"{task_module}:Stairs", 1)
  with pytest.raises(TypeError, match="NOT_A_FACTORY' is a int, not a task: it must be a TaskCfg"):
    envs.make(f"{task_module}:NOT_A_FACTORY", 1)
  with pytest.raises(ValueError, match=r"unknown config keys \['kp_gain'\]"):
    envs.make(f"{task_module}:TorqueStand", 1, kp_gain=3.0)
