"""Train a policy with rsl-rl-lib's PPO (OnPolicyRunner) on a pywarp_sim task.

  python -m pywarp_sim.train --task humanoid-walk --device cuda --num-envs 4096 \
      [--iterations N] [--run-name NAME] [--seed 0] [--resume [PATH]] \
      [--env.FIELD VALUE ...] [--agent.FIELD VALUE ...]

--task is a registered task name or "package.module:Attr" (a TaskCfg class or instance, a
HumanoidEnv subclass or a factory, imported on demand; see pywarp_sim.envs).

Config fields (tyro, cli.parse_config_flags): every settable field of the task's config is a
flag under --env. (the HumanoidEnvCfg knobs of humanoid-stand/walk, e.g. --env.kp 20
--env.reward-weights.alive 2; the term tree of a TaskCfg, e.g. --env.rewards.upright.weight 2
--env.commands.base-velocity.params.lin-vel-x -1 1), every field of the PPO runner's
train_cfg under --agent. (--agent.algorithm.learning-rate 3e-4, --agent.actor.hidden-dims 128
64); --help lists them with their defaults for the --task given. A term's function is not a
flag (define the task in a module for that).

Runs (as rsl-rl / Isaac Lab): logs/rsl_rl/<task>/<YYYY-MM-DD_HH-MM-SS>[_<run-name>]/ holds
model_<it>.pt, TensorBoard's events, pws_train.json (task, env overrides, runner config:
what play and --resume read), params/env.json (the task's whole resolved term config) and
params/agent.json (the runner config), history.json; --log-dir DIR writes there instead.
--resume continues from a policy checkpoint: bare, the last checkpoint of the last run of
--task (--load-run REGEX picks the run, --checkpoint REGEX the file, as Isaac Lab's
--load_run/--checkpoint); or a model_<it>.pt or run folder. Actor, critic (with their
observation normalizers), Adam's state and the iteration counter are restored, and training
goes on in a new run folder with iteration iter + 1 for --iterations more iterations, numbered
as one uninterrupted run would number them (the environments start new episodes: their state
is not in a policy checkpoint).

Prints one line per iteration (env steps/s over collection + update, collection-only
steps/s, mean return and length of the episodes completed in the iteration); a spinner
(stderr, a terminal only, not with --quiet) while the envs are built, which on a first run
includes compiling Warp's kernels.

Policy checkpoints are read back with `load_policy_checkpoint` (torch.load with
weights_only=True) and put into a runner with `restore_runner`, never with rsl-rl's
`OnPolicyRunner.load`, which unpickles the file (weights_only=False) and so runs whatever
code a crafted file holds. A model_<it>.pt written by OnPolicyRunner.save holds only
tensors and plain values: actor_state_dict and critic_state_dict (the MLP weights, the
Gaussian std and the observation normalizer's mean/var/std/count), optimizer_state_dict
(Adam's per-parameter step/exp_avg/exp_avg_sq and its param_groups: lr, betas, ...),
iter (int) and infos (None here).

Needs the optional extra: pip install 'pywarp_sim[rl]' (rsl-rl-lib, tensorboard).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import json
import math
import os
import pickle
import re
import sys
import time

import torch

from . import cli, distributed
from .cli import check_device, check_file, nonneg_int, positive_float, positive_int
from .cli import dumps as json_dumps
from .simulator import BACKENDS

CONFIG_FILE = "pws_train.json"
LOG_ROOT = os.path.join("logs", "rsl_rl")  # runs: LOG_ROOT/<task>/<date-time>[_<run name>]/
CHECKPOINT_PATTERN = r"model_\d+\.pt"


def task_dir_name(task: str) -> str:
  """The folder name of `task` under LOG_ROOT ("examples.quadruped:TrotCfg" ->
  "examples.quadruped_TrotCfg")."""
  return re.sub(r"[^\w.-]+", "_", task)


def run_dir(task: str, run_name: str = "", root: str = LOG_ROOT, now: datetime.datetime | None = None) -> str:
  """root/<task>/<YYYY-MM-DD_HH-MM-SS>[_<run_name>]: a new run's folder (rsl-rl / Isaac Lab)."""
  stamp = (now or datetime.datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
  return os.path.join(root, task_dir_name(task), stamp + (f"_{task_dir_name(run_name)}" if run_name else ""))


def _iteration(name: str) -> tuple:
  found = re.search(r"(\d+)", name)
  return (int(found.group(1)) if found else -1, name)


def latest_checkpoint(folder: str, checkpoint: str | None = None) -> str | None:
  """The checkpoint in run folder `folder` whose name matches the regex `checkpoint`
  (default model_<it>.pt) with the highest iteration; None when none matches."""
  pattern = re.compile(checkpoint or CHECKPOINT_PATTERN)
  names = [n for n in os.listdir(folder) if pattern.fullmatch(n) and os.path.isfile(os.path.join(folder, n))]
  return os.path.join(folder, max(names, key=_iteration)) if names else None


def find_checkpoint(task: str, load_run: str | None = None, checkpoint: str | None = None,
                    root: str = LOG_ROOT) -> str:
  """The checkpoint to resume or play, as Isaac Lab's get_checkpoint_path: under
  root/<task>/, the last run (names sort by date-time) whose name matches the regex
  `load_run` (default: any) and holds a checkpoint matching the regex `checkpoint` (default
  model_<it>.pt), and in it the checkpoint with the highest iteration. FileNotFoundError
  naming the folder and the runs there when none fits."""
  folder = os.path.join(root, task_dir_name(task))
  runs = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))) \
    if os.path.isdir(folder) else []
  if not runs:
    raise FileNotFoundError(f"no runs of task '{task}' in {folder}/: train it first, or give a "
                            f"checkpoint file")
  pattern = re.compile(load_run or ".*")
  matching = [r for r in runs if pattern.fullmatch(r)]
  for run in reversed(matching):
    found = latest_checkpoint(os.path.join(folder, run), checkpoint)
    if found:
      return found
  what = f"runs matching '{load_run}'" if load_run else "runs"
  raise FileNotFoundError(f"none of the {what} of task '{task}' in {folder}/ holds a checkpoint "
                          f"matching '{checkpoint or CHECKPOINT_PATTERN}' (runs there: {runs[-5:]})")


def runner_cfg(num_steps_per_env: int = 24, hidden_dims=(256, 128, 64), learning_rate: float = 1e-3,
               num_learning_epochs: int = 5, num_mini_batches: int = 4, entropy_coef: float = 0.005,
               init_std: float = 1.0, save_interval: int = 50, run_name: str = "") -> dict:
  """The OnPolicyRunner train_cfg dict for rsl-rl-lib 5.5.1 (keys read by OnPolicyRunner,
  PPO.construct_algorithm, MLPModel and GaussianDistribution in that version)."""
  mlp = {"class_name": "rsl_rl.models:MLPModel", "hidden_dims": list(hidden_dims),
         "activation": "elu", "obs_normalization": True}
  return {
    "num_steps_per_env": num_steps_per_env,
    "save_interval": save_interval,
    "run_name": run_name,
    "logger": "tensorboard",
    "check_for_nan": True,
    "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
    "algorithm": {
      "class_name": "rsl_rl.algorithms:PPO",
      "num_learning_epochs": num_learning_epochs, "num_mini_batches": num_mini_batches,
      "clip_param": 0.2, "gamma": 0.99, "lam": 0.95, "value_loss_coef": 1.0,
      "entropy_coef": entropy_coef, "learning_rate": learning_rate, "max_grad_norm": 1.0,
      "optimizer": "adam", "use_clipped_value_loss": True, "schedule": "adaptive",
      "desired_kl": 0.01,
    },
    "actor": {**mlp, "distribution_cfg": {"class_name": "rsl_rl.modules:GaussianDistribution",
                                          "init_std": init_std, "std_type": "scalar"}},
    "critic": dict(mlp),
  }


def _jsonable(x):
  if dataclasses.is_dataclass(x):
    return dataclasses.asdict(x)  # e.g. a DomainRandomization: envs.make accepts the dict
  raise TypeError(f"cannot save {type(x).__name__} in {CONFIG_FILE}; pass plain values or dicts")


def describe_config(obj):
  """A config (TaskCfg, its terms, dicts, tuples) as JSON-ready values for params/env.json:
  dataclasses as dicts of their fields, functions and classes as "module.qualname", other
  objects by repr."""
  if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
    return {f.name: describe_config(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
  if isinstance(obj, dict):
    return {str(k): describe_config(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [describe_config(v) for v in obj]
  if obj is None or isinstance(obj, (bool, int, float, str)):
    return obj
  if callable(obj) and hasattr(obj, "__qualname__"):
    return f"{getattr(obj, '__module__', '?')}.{obj.__qualname__}"
  if hasattr(obj, "tolist"):
    return obj.tolist()
  return repr(obj)


def apply_runner_flags(cfg: dict, changes: dict) -> dict:
  """A deep copy of runner config `cfg` with `changes` ({dotted path: value}, e.g.
  {"algorithm.learning_rate": 3e-4}) set."""
  cfg = copy.deepcopy(cfg)
  for path, value in changes.items():
    cli.set_path(cfg, path, value)
  return cfg


def env_flag_view(task: str, overrides: dict):
  """The config of `task` with `overrides` whose fields the --env. flags mirror: the TaskCfg of
  a term-config task, the HumanoidEnvCfg of the humanoid tasks (reward_weights filled with the
  task's default weights, so that each is a flag); None for a plain factory (config unknown)."""
  from . import envs
  try:
    cfg = envs.make_cfg(task, **overrides)
  except ValueError:
    return None
  if isinstance(cfg, envs.HumanoidEnvCfg) and cfg.reward_weights is None:
    from .envs import humanoid
    cfg.reward_weights = dict(humanoid.WALK_REWARDS if cfg.task == "walk" else humanoid.STAND_REWARDS)
  return cfg


def env_overrides_from_flags(view, changes: dict) -> dict:
  """The envs.make overrides of --env. flag `changes` ({dotted path: value}) on config `view`
  (env_flag_view): dotted paths as they are for a TaskCfg (envs.configure applies them); for
  a flat config (HumanoidEnvCfg, whose factory takes field names) each changed field whole."""
  from . import envs
  if isinstance(view, envs.TaskCfg):
    return dict(changes)
  out = {}
  for path, value in changes.items():
    top, _, rest = path.partition(".")
    if not rest:
      out[top] = value
      continue
    if top not in out:
      out[top] = copy.deepcopy(getattr(view, top))
    cli.set_path(out[top], rest, value)
  return out


def make_runner(env, cfg: dict, log_dir: str | None, device: str):
  """rsl-rl's OnPolicyRunner (distributed.runner_class: CPU ranks over gloo under torchrun).
  When the task has a "critic" observation group (privileged inputs) and `cfg` keeps
  runner_cfg's default critic set ["policy"], the critic reads ["critic"] instead."""
  try:
    runner_class = distributed.runner_class()
  except ImportError as e:
    raise ImportError("training needs rsl-rl-lib: pip install 'pywarp_sim[rl]'") from e
  cfg = copy.deepcopy(cfg)
  groups = cfg.get("obs_groups", {})
  if "critic" in env.get_observations().keys() and groups.get("critic") == ["policy"]:
    groups["critic"] = ["critic"]
  return runner_class(env, cfg, log_dir=log_dir, device=device)


class PolicyCheckpointError(ValueError):
  """A policy checkpoint (model_<it>.pt) is refused: it holds pickled Python objects or is
  not a torch checkpoint, or it lacks an entry the runner needs. The message names the file;
  nothing in it was executed and the runner is unchanged."""


# OnPolicyRunner.load's load_cfg keys -> the checkpoint entries PPO.load reads for them
_LOADED_ENTRIES = {"actor": "actor_state_dict", "critic": "critic_state_dict",
                   "optimizer": "optimizer_state_dict", "iteration": "iter"}


def load_policy_checkpoint(path: str | os.PathLike, device="cpu") -> dict:
  """The entries of an rsl-rl policy checkpoint (model_<it>.pt), tensors on `device`.

  Read with torch.load(weights_only=True): only tensors and plain containers and values are
  rebuilt, so a crafted file cannot run code. A file holding anything else (pickled Python
  objects), one that is not a torch checkpoint, or one without actor_state_dict raises
  PolicyCheckpointError naming the file; a missing file raises FileNotFoundError."""
  path = os.fspath(path)
  with open(path, "rb") as f:  # a missing file or no permission: the OS's error says it
    try:
      state = torch.load(f, map_location=device, weights_only=True)
    except pickle.UnpicklingError as e:
      found = re.search(r"WeightsUnpickler error:\s*(.+)", str(e))
      reason = found.group(1).split(". Please")[0].strip() if found else type(e).__name__
      raise PolicyCheckpointError(
        f"policy checkpoint {path} is refused: it contains pickled Python objects, or is not a "
        f"torch checkpoint at all ({reason}). Policy checkpoints are read weights-only (tensors, "
        f"numbers, strings and containers), as unpickling could run arbitrary code; nothing in "
        f"it was executed. Use a model_<it>.pt written by pywarp_sim.train, or, if the file "
        f"comes from a source you trust, have it re-saved there with tensors and plain values "
        f"only") from e
    except Exception as e:  # torch's zip reader: OSError, RuntimeError on a truncated archive
      first_line = (str(e).splitlines() or [""])[0]
      raise PolicyCheckpointError(
        f"policy checkpoint {path} cannot be read ({type(e).__name__}: {first_line}): it is "
        f"truncated, corrupted or not a torch checkpoint; nothing was loaded (use another "
        f"model_<it>.pt of the run)") from e
  if not isinstance(state, dict) or "actor_state_dict" not in state:
    entries = ", ".join(map(str, state)) if isinstance(state, dict) else type(state).__name__
    raise PolicyCheckpointError(
      f"policy checkpoint {path} is not an rsl-rl policy checkpoint: it has no actor_state_dict "
      f"(it holds {entries or 'nothing'}). Pass a model_<it>.pt written by pywarp_sim.train")
  return state


def restore_runner(runner, state: dict, load_cfg: dict | None = None, strict: bool = True,
                   source: str = "policy checkpoint"):
  """OnPolicyRunner.load(path, load_cfg, strict) from entries already read by
  load_policy_checkpoint, so rsl-rl never reads (unpickles) the file itself. `load_cfg` as in
  rsl-rl ({"actor": True, ...}; None: actor, critic, optimizer, iteration and rnd). Returns
  the checkpoint's infos. An entry that load_cfg asks for and `state` lacks raises
  PolicyCheckpointError naming `source` before anything is loaded."""
  wanted = load_cfg if load_cfg is not None else dict.fromkeys(_LOADED_ENTRIES, True)
  missing = [entry for key, entry in _LOADED_ENTRIES.items() if wanted.get(key) and entry not in state]
  if missing:
    raise PolicyCheckpointError(
      f"{source} lacks {', '.join(missing)} (it holds {', '.join(map(str, state))}); load only "
      f"what it has, e.g. load_cfg={{'actor': True}} for a policy")
  if runner.alg.load(state, load_cfg, strict):  # True when the iteration counter is to be restored
    runner.current_learning_iteration = state["iter"]
  return state.get("infos")


class _TimeUp(Exception):
  """Raised from the per-iteration hook when train(max_minutes=...) has run out."""

  def __init__(self, it: int):
    super().__init__(it)
    self.it = it


def resume_runner(runner, state: dict, path: str) -> int:
  """Puts policy checkpoint entries `state` (load_policy_checkpoint(path)) into `runner`
  (actor, critic, optimizer, iteration) and sets the runner to continue with the iteration
  after the checkpoint's. Returns that next iteration. Raises PolicyCheckpointError naming
  `path` when an entry is missing or the weights do not fit the runner's networks."""
  try:
    restore_runner(runner, state, source=f"policy checkpoint {path}")
  except RuntimeError as e:  # load_state_dict: missing/unexpected keys, size mismatch
    first_line = (str(e).splitlines() or [""])[0]
    raise PolicyCheckpointError(
      f"policy checkpoint {path} does not fit this run's networks ({first_line} ...): resume "
      f"with the task and runner configuration it was trained with (its {CONFIG_FILE})") from e
  # rsl-rl's "iter" is the last iteration done; its learn() would start there again
  runner.current_learning_iteration = int(state["iter"]) + 1
  return runner.current_learning_iteration


def train(task: str, num_envs: int, iterations: int, device: str = "cpu", log_dir: str | None = None,
          seed: int = 0, env_overrides: dict | None = None, cfg: dict | None = None,
          verbose_rsl: bool = True, max_minutes: float | None = None,
          resume: str | os.PathLike | None = None, cpu_cores_per_rank: int | None = None) -> list[dict]:
  """Trains for `iterations` PPO iterations, or until `max_minutes` of wall time (from the
  start of training, env construction included) have passed at the end of an iteration, when
  the checkpoint model_<it>.pt of that last iteration is written. `task`: a name or
  "package.module:Factory" (envs.make). `resume`: a policy checkpoint to continue from
  (resume_runner; the iterations are numbered on from its "iter"). `cpu_cores_per_rank` k:
  this process runs on k cores of its own (local rank r: cores [r k, (r + 1) k),
  distributed.pin_cpu_cores) with k torch and native-step threads. Returns one record per
  iteration: {"it", "steps_per_s", "collect_steps_per_s", "mean_return", "mean_length",
  "episodes", "mean_step_reward", "wall_s"}, and under torchrun (pywarp_sim.distributed) also
  "ranks", "total_steps_per_s" (all ranks) and "params_in_sync" (policy and critic bitwise
  equal on every rank after the update); rank 0 alone writes files."""
  t_start = time.perf_counter()
  from . import envs

  rank = distributed.current()
  device = distributed.rank_device(device, rank)
  env_seed, seed = seed, distributed.rank_seed(seed, rank)  # policy sampling: per rank
  cores = None if cpu_cores_per_rank is None else distributed.pin_cpu_cores(rank, cpu_cores_per_rank)
  # a refused or unreadable checkpoint stops the run before any environment is built
  resume_state = None if resume is None else load_policy_checkpoint(resume, device=device)
  torch.manual_seed(seed)
  env_overrides = dict(env_overrides or {})
  # the ranks' envs are shards of one env of world_size x num_envs worlds (same env seed, draws
  # by global world); a task whose config cannot shard gets a seed per rank instead, so that no
  # two ranks simulate the same worlds. The shard is not recorded: play/view build one env.
  shard = distributed.world_shard(num_envs, rank)
  if shard and not hasattr(env_flag_view(task, env_overrides), "world_offset"):
    shard, env_seed = {}, seed
  env_overrides.setdefault("seed", env_seed)
  # the first build of a model on the Warp backend compiles its kernels (about a minute)
  with cli.status(f"{num_envs} envs of {task}: building (first run: compiling)",
                  quiet=not verbose_rsl or not rank.main):
    env = envs.make(task, num_envs, device, **{**env_overrides, **shard})
  if cores is not None:
    if getattr(env, "sim", None) is None:
      raise TypeError(f"--cpu-cores-per-rank: task '{task}' built a {type(env).__name__} without a `sim` "
                      f"(Simulator) whose step threads could follow the pinned cores; leave the flag out "
                      f"and set OMP_NUM_THREADS instead")
    distributed.pin_simulator_threads(env.sim, cores)
  if not callable(getattr(env, "pop_episode_stats", None)):
    raise TypeError(f"task '{task}' built a {type(env).__name__}, which has no "
                    f"pop_episode_stats(): train's per-iteration records need it (see HumanoidEnv)")
  cfg = cfg or runner_cfg()
  announce = log_dir is None  # say where a run folder picked here went
  if log_dir is None:
    log_dir = run_dir(task, cfg.get("run_name", ""))
    base, n = log_dir, 1
    while os.path.exists(log_dir):  # two runs in one second: _2, _3 (sorted after the first)
      n += 1
      log_dir = f"{base}_{n}"
  if rank.main:
    os.makedirs(os.path.join(log_dir, "params"), exist_ok=True)
  runner = make_runner(env, cfg, log_dir, env.device)
  if rank.main and announce:
    print(f"[pws.train] run folder {log_dir}", flush=True)
  if resume is not None:
    first = resume_runner(runner, resume_state, os.fspath(resume))
    print(f"[pws.train] resumed from {os.fspath(resume)}: iterations {first}..{first + iterations - 1}",
          flush=True)
  if rank.main:
    with open(os.path.join(log_dir, CONFIG_FILE), "w") as f:
      record = {"task": task, "env": env_overrides, "runner": cfg, "seed": seed,
                "ranks": rank.world_size, "cpu_cores_per_rank": cpu_cores_per_rank}
      if resume is not None:
        record["resumed_from"] = os.path.abspath(os.fspath(resume))
      json.dump(record, f, indent=2, default=_jsonable)
    task_cfg = getattr(env, "task_cfg", None)
    if task_cfg is not None:
      with open(os.path.join(log_dir, "params", "env.json"), "w") as f:
        f.write(json_dumps(describe_config(task_cfg), indent=2))
    with open(os.path.join(log_dir, "params", "agent.json"), "w") as f:
      f.write(json_dumps(cfg, indent=2))

  history = []
  step_reward = {"sum": torch.zeros((), dtype=torch.float64, device=env.device), "n": 0}
  env_step = env.step

  def counted_step(actions):
    obs, rew, dones, extras = env_step(actions)
    step_reward["sum"] += rew.double().mean()
    step_reward["n"] += 1
    return obs, rew, dones, extras
  env.step = counted_step  # per-iteration mean reward, without a host sync per step

  rsl_log = runner.logger.log
  samples = cfg["num_steps_per_env"] * env.num_envs

  def log(it, start_it, total_it, collect_time, learn_time, **kw):
    if verbose_rsl:
      rsl_log(it=it, start_it=start_it, total_it=total_it, collect_time=collect_time,
              learn_time=learn_time, **kw)
    else:  # still feed TensorBoard, without the console block
      import builtins
      quiet_print, builtins.print = builtins.print, (lambda *a, **k: None)
      try:
        rsl_log(it=it, start_it=start_it, total_it=total_it, collect_time=collect_time,
                learn_time=learn_time, **kw)
      finally:
        builtins.print = quiet_print
    stats = env.pop_episode_stats()
    rec = {"it": it, "steps_per_s": samples / (collect_time + learn_time),
           "collect_steps_per_s": samples / collect_time, **stats,
           "mean_step_reward": float(step_reward["sum"]) / max(step_reward["n"], 1),
           "wall_s": time.perf_counter() - t_start}
    step_reward["sum"].zero_()
    step_reward["n"] = 0
    if rank.distributed:
      total = torch.tensor([rec["steps_per_s"]], dtype=torch.float64, device=env.device)
      torch.distributed.all_reduce(total)
      rec.update(ranks=rank.world_size, total_steps_per_s=float(total.item()),
                 params_in_sync=distributed.all_ranks_equal(
                   list(runner.alg.actor.state_dict().values())
                   + list(runner.alg.critic.state_dict().values()), env.device))
    history.append(rec)
    if runner.logger.writer is not None:
      runner.logger.writer.add_scalar("Train/pws_mean_return", rec["mean_return"], it)
      runner.logger.writer.add_scalar("Perf/pws_env_steps_per_s", rec["steps_per_s"], it)
    ret = "n/a" if math.isnan(rec["mean_return"]) else f"{rec['mean_return']:.2f}"
    if rank.main:
      print(f"[pws.train] it {it:4d}  env steps/s {rec['steps_per_s']:9.0f} "
            f"(collect {rec['collect_steps_per_s']:9.0f})  mean return {ret:>8} "
            f"({rec['episodes']} episodes, mean length {rec['mean_length']:.1f})  "
            f"mean step reward {rec['mean_step_reward']:.3f}", flush=True)
    over = max_minutes is not None and rec["wall_s"] >= 60.0 * max_minutes
    if distributed.any_rank(over, env.device) and it + 1 < total_it:  # every rank stops together
      raise _TimeUp(it)
  runner.logger.log = log

  try:
    runner.learn(num_learning_iterations=iterations)
  except _TimeUp as stop:
    if rank.main:
      runner.save(os.path.join(log_dir, f"model_{stop.it}.pt"))
    print(f"[pws.train] stopped after iteration {stop.it}: {max_minutes} minutes of training "
          f"({history[-1]['wall_s']:.0f} s)", flush=True)
  if runner.logger.writer is not None:
    runner.logger.writer.flush()
    runner.logger.writer.close()
  if rank.main:
    with open(os.path.join(log_dir, "history.json"), "w") as f:
      f.write(json_dumps(history, indent=2))  # NaN mean return (no episode completed) -> null
  distributed.finish()
  return history


CONFIG_SECTIONS = ("env", "agent")  # the tyro flag groups: --env.FIELD, --agent.FIELD


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m pywarp_sim.train", description=__doc__, add_help=False,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("-h", "--help", action="store_true",
                 help="show this help, then every --env. and --agent. flag of --task, and exit")
  p.add_argument("--task", default="humanoid-walk",
                 help="a registered task (humanoid-stand, humanoid-walk, or envs.register(...)) "
                      "or package.module:Attr, imported on demand (a TaskCfg class or instance, "
                      "a HumanoidEnv subclass or a factory(num_envs, device, **cfg))")
  p.add_argument("--resume", nargs="?", const="", default=None, metavar="PATH",
                 help="continue from a policy checkpoint (weights, optimizer state and iteration "
                      "counter; --iterations more iterations follow): bare, the last checkpoint of "
                      f"the last run of --task under {LOG_ROOT}/<task>/; or a model_<it>.pt or a run folder")
  p.add_argument("--load-run", default=None, metavar="REGEX",
                 help="with --resume: the last run whose folder name matches (default: the last run)")
  p.add_argument("--checkpoint", default=None, metavar="REGEX",
                 help="with --resume: the checkpoint file name to match (default: model_<it>.pt with "
                      "the highest iteration)")
  p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                 help="cpu, cuda or cuda:N (default: cuda when available)")
  p.add_argument("--num-envs", type=positive_int, default=4096)
  p.add_argument("--iterations", type=positive_int, default=1500, help="PPO iterations (>= 1)")
  p.add_argument("--log-dir", default=None,
                 help=f"the run folder (default: {LOG_ROOT}/<task>/<YYYY-MM-DD_HH-MM-SS>[_<run-name>])")
  p.add_argument("--run-name", default="", help="suffix of the run folder's name (the runner's run_name)")
  p.add_argument("--seed", type=nonneg_int, default=0)
  p.add_argument("--num-steps-per-env", type=positive_int, default=24,
                 help="env steps per environment collected per iteration (= --agent.num-steps-per-env)")
  p.add_argument("--save-interval", type=positive_int, default=50,
                 help="write model_<it>.pt every this many iterations (>= 1; = --agent.save-interval)")
  p.add_argument("--episode-length-s", type=positive_float, default=None,
                 help="episode time limit in seconds (> 0; default: the task's; = --env.episode-length-s)")
  p.add_argument("--graph", action="store_true", help="CUDA graph per physics step (CUDA only)")
  p.add_argument("--backend", choices=BACKENDS, default="auto",
                 help="Simulator backend of the environments (auto: native where it is built and "
                      "supports the model, else warp; native: the fused C++/CUDA step; simt: the fused "
                      "lane-group step, 8 lanes per world)")
  p.add_argument("--quiet", action="store_true",
                 help="only the one-line summary per iteration (no rsl-rl block, no spinner)")
  p.add_argument("--max-minutes", type=positive_float, default=None,
                 help="stop after the iteration that reaches this wall time (> 0), with a checkpoint")
  p.add_argument("--cpu-cores-per-rank", type=positive_int, default=None, metavar="K",
                 help="pin this process to K cores of its own (torchrun local rank r: cores rK..rK+K-1) "
                      "with K torch and native-step threads, so CPU ranks do not share cores")
  return p


def _run_flags(a: argparse.Namespace) -> tuple:
  """(env overrides, runner config) that the plain flags give, before --env./--agent. flags."""
  overrides = {"backend": a.backend}
  if a.episode_length_s is not None:
    overrides["episode_length_s"] = a.episode_length_s
  if a.graph:
    overrides["graph"] = True
  return overrides, runner_cfg(num_steps_per_env=a.num_steps_per_env, save_interval=a.save_interval,
                               run_name=a.run_name)


def parse_args(argv=None) -> argparse.Namespace:
  """The parsed command line; exits with code 2 and a message naming the argument when one
  is out of range, the device or the checkpoint to resume is missing, or a config flag is
  unknown, before any environment is built. Adds `env_overrides` (for envs.make: the plain
  flags' and the --env. flags'), `runner` (the runner config with the --agent. flags) and
  `resume` resolved to a checkpoint file (or None)."""
  p = build_parser()
  a, rest = p.parse_known_args(argv)
  config_args = cli.split_config_flags(p, rest, CONFIG_SECTIONS)
  if not a.help:
    check_device(p, a.device)
  from . import envs
  try:
    envs.resolve(a.task)  # a typo or a missing module fails here, before any work
  except (ValueError, TypeError) as e:
    p.error(f"--task: {e}")
  overrides, runner = _run_flags(a)
  view = env_flag_view(a.task, overrides)
  sections = {"agent": runner} if view is None else {"env": view, "agent": runner}
  if view is None and any(x.startswith("--env.") for x in config_args):
    p.error(f"--env.*: task '{a.task}' is built by a factory whose config is not known here; "
            f"pass its settings in the factory, or define the task as a TaskCfg")
  prog = f"{p.prog} --task {a.task}"
  if a.help:
    print(p.format_help())
    cli.parse_config_flags(["--help"], sections, prog=prog,
                           description=f"Config fields of --task {a.task} (--env.) and of the PPO runner (--agent.)")
  changes = cli.parse_config_flags(config_args, sections, prog=prog)
  a.env_overrides = {**overrides, **env_overrides_from_flags(view, changes.get("env", {}))}
  a.runner = apply_runner_flags(runner, changes["agent"])
  if a.resume is None and (a.load_run or a.checkpoint):
    a.resume = ""  # --load-run / --checkpoint pick what to resume
  if a.resume == "":
    try:
      a.resume = find_checkpoint(a.task, a.load_run, a.checkpoint)
    except FileNotFoundError as e:
      p.error(f"--resume: {e}")
  elif a.resume is not None and os.path.isdir(a.resume):
    found = latest_checkpoint(a.resume, a.checkpoint)
    if found is None:
      p.error(f"--resume {a.resume}: the folder holds no checkpoint matching "
              f"'{a.checkpoint or CHECKPOINT_PATTERN}'")
    a.resume = found
  elif a.resume is not None:
    check_file(p, a.resume, "--resume")
  return a


def load_train_config(checkpoint: str) -> dict:
  path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), CONFIG_FILE)
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def load_policy(checkpoint: str, env, runner: dict | None = None):
  """The deterministic (mean) policy of an rsl-rl checkpoint, for `env`'s observations.
  runner: the runner config (default: the one saved next to the checkpoint, else runner_cfg()).
  The file is read weights-only (load_policy_checkpoint): one holding pickled Python
  objects raises PolicyCheckpointError and nothing in it is executed."""
  state = load_policy_checkpoint(checkpoint, env.device)
  cfg = runner or load_train_config(checkpoint).get("runner") or runner_cfg()
  policy_runner = make_runner(env, cfg, log_dir=None, device=env.device)
  restore_runner(policy_runner, state, load_cfg={"actor": True}, source=f"policy checkpoint {checkpoint}")
  return policy_runner.get_inference_policy(env.device)


def main(argv=None):
  a = parse_args(argv)
  try:
    train(a.task, a.num_envs, a.iterations, device=a.device, log_dir=a.log_dir, seed=a.seed,
          env_overrides=a.env_overrides, cfg=a.runner, verbose_rsl=not a.quiet,
          max_minutes=a.max_minutes, resume=a.resume, cpu_cores_per_rank=a.cpu_cores_per_rank)
  except PolicyCheckpointError as e:
    print(f"pywarp_sim.train: --resume: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  main()
