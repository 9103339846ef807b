"""Data-parallel training throughput over ranks (torchrun + pywarp_sim.train).

`python -m bench distributed --ranks 1,2 --num-envs 256 --iterations 4 --device cpu` runs
`pywarp_sim.train` once per rank count R (R = 1 a plain process, else torchrun with R processes
on this node; `--num-envs` environments per rank, so R ranks simulate R times the worlds: weak
scaling) and reads the run's history.json. One JSON line per R:

  ranks               R
  env_steps_per_s     env steps per second over all ranks (collection + PPO update), the median
                      of the iterations after the first (which includes start-up)
  iteration_s         median wall seconds per PPO iteration
  efficiency          env_steps_per_s / (R x env_steps_per_s at R = 1): 1.0 is perfect scaling
  threads_per_rank    cores (and threads) each CPU rank gets

CPU ranks are pinned to cores of their own (`pywarp_sim.train --cpu-cores-per-rank K`), K the
same for every rank count (default: the node's cores / the largest rank count), so R ranks do
R times the 1-rank run's work on R times its cores and efficiency measures what the all-reduces
and the shared memory system cost. On GPUs each rank has its own device.

Each line also holds the academy's calibration sharded over the same R ranks (`python -m
pywarp_sim.academy calibrate --quick --generations G`, one proxy robot; calibrate.py, Sharded
over ranks). Unlike training this is strong scaling: the same candidates, split over R ranks.

  calibration_candidates_per_s   simulated candidate worlds (Calibration.worlds_simulated,
                                 one motion each) per second of calibration (process start-up
                                 and imports excluded; replayer construction included)
  calibration_wall_s             seconds of the calibration
  calibration_efficiency         calibration_candidates_per_s / (R x that at R = 1)

load_average_1min is the node's load before the R-rank runs (a shared node shows it).

`python -m bench.distributed --ranks 1,8,64` (draw_cost, one process, no torchrun) prints one
JSON line per rank count and method: one rank's random draws per env step as the last shard
of R ranks, counter-based (randomize.WorldDraws) and, for comparison, the former draws of
every rank's rows.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

from . import common


def _free_port() -> int:
  import socket
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _rank_threads(device: str, ranks: int, threads: int | None) -> int | None:
  """Cores pinned to each CPU rank: `threads`, default this node's cores / ranks; None on GPUs."""
  if device != "cpu":
    return None
  return threads or max(1, len(os.sched_getaffinity(0)) // ranks)


def run_ranks(ranks: int, task: str, device: str, num_envs: int, iterations: int,
              steps_per_env: int, threads: int | None = None) -> dict:
  """Trains with `ranks` processes; the measured record (see the module docstring). CPU:
  each rank pinned to `threads` cores of its own (--cpu-cores-per-rank), default this node's
  cores / ranks."""
  threads = _rank_threads(device, ranks, threads)
  with tempfile.TemporaryDirectory() as tmp:
    train = ["-m", "pywarp_sim.train", "--task", task, "--device", device, "--num-envs", str(num_envs),
             "--iterations", str(iterations), "--num-steps-per-env", str(steps_per_env),
             "--log-dir", tmp, "--quiet", "--save-interval", str(10 ** 6)]
    if threads:
      train += ["--cpu-cores-per-rank", str(threads)]
    launch = [sys.executable] if ranks == 1 else [
      sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={ranks}",
      f"--master_port={_free_port()}"]
    env = dict(os.environ)
    if threads:
      env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run(launch + train, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
      raise RuntimeError(f"bench distributed: {ranks} rank(s) failed:\n{proc.stderr[-3000:]}")
    with open(os.path.join(tmp, "history.json")) as f:
      history = json.load(f)
  timed = history[1:] or history
  sps = [h.get("total_steps_per_s", h["steps_per_s"]) for h in timed]
  walls = [b["wall_s"] - a["wall_s"] for a, b in zip(history, history[1:])] or [history[0]["wall_s"]]
  return {"ranks": ranks, "env_steps_per_s": statistics.median(sps), "iteration_s": statistics.median(walls),
          "threads_per_rank": threads, "params_in_sync": all(h.get("params_in_sync", True) for h in history),
          "iterations": len(history)}


def run_calibration(ranks: int, device: str, generations: int, threads: int | None = None) -> dict:
  """The academy's quick calibration of one proxy robot on `ranks` processes (the
  calibration_* fields of the module docstring); CPU ranks pinned as in run_ranks."""
  threads = _rank_threads(device, ranks, threads)
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "calibration.json")
    launch = [sys.executable] if ranks == 1 else [
      sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={ranks}",
      f"--master_port={_free_port()}"]
    cmd = launch + ["-m", "pywarp_sim.academy", "calibrate", "--quick", "--generations", str(generations),
                    "--device", device, "--out", out] + (["--cpu-cores-per-rank", str(threads)] if threads else [])
    env = dict(os.environ)
    if threads:
      env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
      raise RuntimeError(f"bench distributed: calibration on {ranks} rank(s) failed:\n{proc.stderr[-3000:]}")
    with open(out) as f:
      rec = json.load(f)
  return {"calibration_candidates_per_s": rec["candidates_per_s"], "calibration_wall_s": rec["wall_s"],
          "calibration_worlds": rec["worlds_simulated"], "calibration_generations": generations,
          "calibration_popsize": rec["popsize"]}


def sweep(rank_counts: list, task: str, device: str, num_envs: int, iterations: int,
          steps_per_env: int, sink, calibration_generations: int = 20,
          threads_per_rank: int | None = None) -> list:
  """One record per rank count, with efficiency against the 1-rank run (measured first);
  calibration_generations 0 leaves the calibration out. CPU: every rank count gives each rank
  the same `threads_per_rank` cores of its own (default: this node's cores / the largest rank
  count), so that R ranks do R times the 1-rank run's work on R times its cores."""
  counts = sorted(set([1] + list(rank_counts)))
  if device == "cpu":
    cores = len(os.sched_getaffinity(0))
    threads_per_rank = threads_per_rank or max(1, cores // counts[-1])
    if threads_per_rank * counts[-1] > cores:
      raise ValueError(f"bench distributed: {counts[-1]} ranks x {threads_per_rank} cores need "
                       f"{threads_per_rank * counts[-1]} cores; this node allows {cores}")
  records, base, base_cal = [], None, None
  for r in counts:
    rec = common.base_record("distributed", "auto", device)
    # this node's 1-minute load average before the run: other work on a shared node divides
    # the cores and makes ranks' busy-waiting OpenMP threads contend
    rec["load_average_1min"] = os.getloadavg()[0]
    rec.update(task=task, num_envs_per_rank=num_envs, steps_per_env=steps_per_env,
               **run_ranks(r, task, device, num_envs, iterations, steps_per_env, threads_per_rank))
    base = base or rec["env_steps_per_s"]
    rec["efficiency"] = rec["env_steps_per_s"] / (r * base)
    if calibration_generations:
      rec.update(run_calibration(r, device, calibration_generations, threads_per_rank))
      base_cal = base_cal or rec["calibration_candidates_per_s"]
      rec["calibration_efficiency"] = rec["calibration_candidates_per_s"] / (r * base_cal)
    sink.emit(rec)
    records.append(rec)
  return records


# every randomisation term an env draws per world (tests/test_distributed.py's DR)
DRAW_DR = dict(body_mass_scale=(0.8, 1.2), body_com_offset=(-0.01, 0.01), dof_damping_scale=(0.5, 1.5),
               dof_armature_scale=(0.9, 1.1), actuator_strength_scale=(0.8, 1.0),
               geom_friction_scale=(0.7, 1.3), gravity_offset=(-0.2, 0.2), kp_scale=(0.9, 1.1),
               kd_scale=(0.8, 1.2), latency_steps=(0, 2), push_interval=2, push_force=(20.0, 60.0),
               obs_noise_std=0.01, action_noise_std=0.05)


def _all_rows(draws):
  """Makes a randomize.WorldDraws draw as before counter-based draws (the comparison of
  draw_cost's method "all_rows"): every call draws the rows of all nworld_total worlds from
  the generator with torch.rand / randn / randint and keeps the shard's rows."""
  import torch

  def full(shape):
    return (draws.nworld_total, *tuple(shape)[1:])

  def mine(x):
    return x[draws.world_offset:draws.world_offset + draws.nworld]
  g, dev = draws.generator, draws.device
  draws.rand = lambda shape: mine(torch.rand(full(shape), generator=g, device=dev))
  draws.randn = lambda shape: mine(torch.randn(full(shape), generator=g, device=dev))
  draws.randint = lambda lo, hi, shape: mine(torch.randint(lo, hi, full(shape), generator=g, device=dev))


def draw_cost(rank_counts: list, task: str = "humanoid-walk", num_envs: int = 256, steps: int = 20,
              threads: int = 1, method: str = "counter") -> list:
  """The cost of one rank's random draws per env step against the rank count R, in one
  process (no torch.distributed): `task` with every randomisation term (DRAW_DR), short
  episodes (every world resets about every 3 steps) and `num_envs` worlds as the last shard
  (world_offset (R - 1) N of R N), stepped `steps` times with random actions; every call of its
  randomize.WorldDraws objects timed. One record per R: {"ranks", "num_envs_per_rank",
  "draw_ms_per_step" (median over the steps), "step_ms" (median env step, draws included),
  "draw_calls_per_step", "threads", "method"}. method "counter": randomize.WorldDraws
  (counter-based, the shard's rows only); "all_rows": the former draws of every world's rows
  (_all_rows), for comparison on the same machine."""
  if method not in ("counter", "all_rows"):
    raise ValueError(f"method must be 'counter' or 'all_rows', got {method!r}")
  import time

  import torch

  from pywarp_sim import envs, randomize

  torch.set_num_threads(threads)
  out = []
  for r in rank_counts:
    shard = {} if r == 1 else {"world_offset": (r - 1) * num_envs, "num_envs_total": r * num_envs}
    env = envs.make(task, num_envs, "cpu", randomization=DRAW_DR, episode_length_s=0.06,
                    command_resample_s=0.04, **shard)
    spent = {"s": 0.0, "calls": 0}

    def timed(fn):
      def call(*args, **kw):
        t = time.perf_counter()
        x = fn(*args, **kw)
        spent["s"] += time.perf_counter() - t
        spent["calls"] += 1
        return x
      return call

    owners = [env, env.randomizer]  # the env's stream (resets, events, commands) and the randomiser's
    for draws in [d for o in owners for d in vars(o).values() if isinstance(d, randomize.WorldDraws)]:
      if method == "all_rows":
        _all_rows(draws)
      for name in ("rand", "randn", "randint"):
        setattr(draws, name, timed(getattr(draws, name)))
    g = torch.Generator().manual_seed(0)
    draw_ms, step_ms, calls = [], [], []
    for _ in range(steps + 1):
      a = 0.3 * torch.randn(num_envs, env.num_actions, generator=g)
      spent.update(s=0.0, calls=0)
      t = time.perf_counter()
      env.step(a)
      step_ms.append(1e3 * (time.perf_counter() - t))
      draw_ms.append(1e3 * spent["s"])
      calls.append(spent["calls"])
    out.append({"ranks": r, "num_envs_per_rank": num_envs, "task": task, "threads": threads,
                "draw_ms_per_step": statistics.median(draw_ms[1:]), "step_ms": statistics.median(step_ms[1:]),
                "draw_calls_per_step": statistics.median(calls[1:]), "method": method})
  return out


def main(argv=None):
  import argparse
  p = argparse.ArgumentParser(prog="python -m bench.distributed", description=
                              "one rank's random draws per env step against the rank count (draw_cost)")
  p.add_argument("--ranks", default="1,8,64", help="rank counts, e.g. 1,8,64")
  p.add_argument("--num-envs", type=int, default=256, help="environments per rank")
  p.add_argument("--steps", type=int, default=20)
  p.add_argument("--threads", type=int, default=1)
  p.add_argument("--methods", default="counter,all_rows", help="counter and/or all_rows")
  a = p.parse_args(argv)
  for method in a.methods.split(","):
    for rec in draw_cost([int(r) for r in a.ranks.split(",")], num_envs=a.num_envs, steps=a.steps,
                         threads=a.threads, method=method):
      print(json.dumps(rec), flush=True)


if __name__ == "__main__":
  main()
