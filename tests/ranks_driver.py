"""Several distributed checks in one torchrun launch (tests/test_distributed*.py): one start-up
of 2 CPU ranks (gloo) and one process group serve them all. Each part runs on every rank
(joining the group the first part created: the runners and the academy create one only when
none is initialised) and writes its results under --out;
the tests read them and run the one-process references themselves.

  torchrun --nproc_per_node=2 tests/ranks_driver.py --out DIR PART [PART ...]

Parts: train (pywarp_sim.train's CLI: 2 iterations, then 1 resumed from the checkpoint),
update (one PPO iteration of 8 envs per rank, one_ppo_update), calibrate (the academy's quick
calibration), league (the self-play league, league_run), league_cli (pywarp_sim.selfplay's
CLI). `one_ppo_update` and `league_run` are also the tests' one-process references.
"""

import argparse
import builtins
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys

import torch

# humanoid-walk's defaults (reset joint and velocity noise, velocity commands resampled) with a
# random yaw, short episodes and domain randomisation of every kind an env draws per world
DR = dict(body_mass_scale=(0.8, 1.2), body_com_offset=(-0.01, 0.01), dof_damping_scale=(0.5, 1.5),
          dof_armature_scale=(0.9, 1.1), actuator_strength_scale=(0.8, 1.0), geom_friction_scale=(0.7, 1.3),
          gravity_offset=(-0.2, 0.2), kp_scale=(0.9, 1.1), kd_scale=(0.8, 1.2), latency_steps=(0, 2),
          push_interval=2, push_force=(20.0, 60.0), obs_noise_std=0.01, action_noise_std=0.05)
# 3-step episodes and 2-step command periods: a 4-step rollout resets, pushes and resamples
WALK = dict(randomization=DR, seed=3, init_random_yaw=True, episode_length_s=0.06, command_resample_s=0.04)

# the league per rank: 8 worlds in 2 opponent slots, 4 evaluation matches over all ranks, 0.4 s
# episodes (worlds finish some in a 4-step rollout), a snapshot after every second iteration
LEAGUE = dict(nslot=2, eval_envs=4, snapshot_interval=2, num_steps_per_env=4, hidden_dims=(16, 16),
              sumo={"episode_length_s": 0.4})


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def torchrun_parts(out, *parts) -> subprocess.CompletedProcess:
  """This script's `parts` in one torchrun launch of 2 CPU ranks (one thread each)."""
  cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
         os.path.abspath(__file__), "--out", str(out), *parts]
  # its own session, so that a timeout ends the ranks too (killing torchrun alone orphans them)
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
  try:
    stdout, stderr = proc.communicate(timeout=900)
  except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    stdout, stderr = proc.communicate()
    raise AssertionError(f"torchrun {' '.join(parts)} ran past 900 s and was ended with its ranks:\n"
                         f"{stdout[-3000:]}{stderr[-3000:]}") from None
  return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


@contextlib.contextmanager
def quiet():
  """rsl-rl's console blocks off."""
  keep, builtins.print = builtins.print, (lambda *a, **k: None)
  try:
    yield
  finally:
    builtins.print = keep


def shared_noise(runner_cfg):
  """`runner_cfg` (pywarp_sim.train's) with one minibatch per rank and the actions' noise of
  one process (RankShareGaussian; pywarp_sim/distributed.py, One update on R ranks)."""
  def cfg(**kw) -> dict:
    c = runner_cfg(**kw)
    c["algorithm"]["num_mini_batches"] = 1
    c["actor"]["distribution_cfg"]["class_name"] = "pywarp_sim.distributed:RankShareGaussian"
    return c
  return cfg


def one_ppo_update(envs_per_rank: int) -> dict:
  """One PPO iteration (rollout + update) of the runner that pywarp_sim.train builds on
  humanoid-walk with reset noise and domain randomisation (WALK), this process's envs the
  shard world_shard gives it (draws by global world, the same env seed), the same torch seed
  on every rank and RankShareGaussian's action noise: the rollout of one process with all the
  envs. Returns the actor, critic and learning rate after it."""
  from pywarp_sim import distributed, envs, train
  torch.manual_seed(0)
  env = envs.make("humanoid-walk", envs_per_rank, "cpu", **WALK,
                  **distributed.world_shard(envs_per_rank, distributed.current()))
  cfg = shared_noise(train.runner_cfg)(num_steps_per_env=4, hidden_dims=(32, 32), num_learning_epochs=2)
  runner = train.make_runner(env, cfg, None, "cpu")
  with quiet():
    runner.learn(num_learning_iterations=1)
  return {"actor": runner.alg.actor.state_dict(), "critic": runner.alg.critic.state_dict(),
          "lr": runner.alg.learning_rate}


def params(run) -> dict:
  alg = run.runner.alg
  return {"actor": {k: v.clone() for k, v in alg.actor.state_dict().items()},
          "critic": {k: v.clone() for k, v in alg.critic.state_dict().items()}}


def part_train(out):
  from pywarp_sim import train
  args = ["--task", "humanoid-stand", "--device", "cpu", "--num-envs", "8", "--num-steps-per-env", "4", "--quiet"]
  train.main(args + ["--iterations", "2", "--log-dir", os.path.join(out, "run")])
  # the resumed run pins each rank to a core of its own where the node has a core per rank
  pin = pinned_cores()
  train.main(args + ["--iterations", "1", "--log-dir", os.path.join(out, "resumed"),
                     "--resume", os.path.join(out, "run", "model_1.pt")] + pin)
  record_cores(out, "train", pin)


def pinned_cores() -> list:
  """`--cpu-cores-per-rank 1` where the node has a core for each of the 2 ranks, else no flag."""
  return ["--cpu-cores-per-rank", "1"] if len(os.sched_getaffinity(0)) >= 2 else []


def record_cores(out, part, pin):
  """After a part run with `pin` (pinned_cores): this rank's cores and torch threads, in
  cores_<part>_rank<r>.json."""
  if pin:
    from pywarp_sim import distributed
    with open(os.path.join(out, f"cores_{part}_rank{distributed.current().rank}.json"), "w") as f:
      json.dump({"cores": sorted(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads()}, f)


def part_update(out):
  from pywarp_sim import distributed
  result = one_ppo_update(8)
  if distributed.current().main:
    torch.save(result, os.path.join(out, "update.pt"))
  distributed.finish()


def part_calibrate(out):
  from pywarp_sim.academy.__main__ import main
  main(["calibrate", "--quick", "--generations", "2", "--popsize", "4", "--threads", "1",
        "--out", os.path.join(out, "calibration.json")])


def part_league(out):
  """Iteration 0 (the first PPO update), iteration 1 (a snapshot and its evaluation matches,
  spread over the ranks), a checkpoint, iteration 2; then the checkpoint resumed and
  iteration 2 replayed. Every rank saves league_rank<r>.pt."""
  from pywarp_sim import distributed, train
  from pywarp_sim.selfplay import ranks
  from pywarp_sim.selfplay.league_run import LeagueCfg
  plain = train.runner_cfg
  train.runner_cfg = shared_noise(plain)
  try:
    run = ranks.RankedLeagueRun(LeagueCfg(num_envs=8, **LEAGUE))
    first = run.iteration_step()
    after_first = params(run)
    second = run.iteration_step()
    path = os.path.join(out, "league.pt")
    run.save(path)
    third = run.iteration_step()
    resumed = ranks.RankedLeagueRun.load(path)
    replayed = resumed.iteration_step()
  finally:
    train.runner_cfg = plain
  torch.save({"first": after_first, "final": params(run), "resumed": params(resumed),
              "league": run.league.state_dict(), "records": [first, second, third, replayed],
              "qpos": run.env.sim.qpos.clone(), "resumed_qpos": resumed.env.sim.qpos.clone(),
              "slots": run.slot_ids_all, "evaluation": second["evaluation"]},
             os.path.join(out, f"league_rank{distributed.current().rank}.pt"))
  distributed.finish()


def part_league_cli(out):
  from pywarp_sim.selfplay.__main__ import main
  pin = pinned_cores()  # each rank on a core of its own where the node has two
  main(["train", "--device", "cpu", "--num-envs", "8", "--nslot", "2", "--eval-envs", "4", "--iterations", "2",
        "--snapshot-interval", "2", "--final-matches", "4", "--num-steps-per-env", "4",
        "--episode-length-s", "0.4", "--log-dir", os.path.join(out, "league_cli")] + pin)
  record_cores(out, "league_cli", pin)


PARTS = {"train": part_train, "update": part_update, "calibrate": part_calibrate, "league": part_league,
         "league_cli": part_league_cli}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--out", required=True)
  p.add_argument("parts", nargs="+", choices=sorted(PARTS))
  a = p.parse_args(argv)
  torch.set_num_threads(1)
  from pywarp_sim import distributed
  # one process group for every part: each part ends with distributed.finish(), which would
  # destroy it, and a group created again in the same process reuses the first one's keys in
  # torchrun's store, so gloo's rendezvous can read the old group's addresses and hang
  destroy = distributed.finish
  distributed.finish = lambda: torch.distributed.barrier() if torch.distributed.is_initialized() else None
  try:
    for part in a.parts:
      PARTS[part](a.out)
      print(f"[ranks_driver] {part} done", flush=True)
  finally:
    distributed.finish = destroy
  destroy()


if __name__ == "__main__":
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  main()
