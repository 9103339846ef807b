"""Self-play league on the batched simulator.

  python -m pywarp_sim.selfplay train [--num-envs 256] [--device cpu] [--backend auto]
      [--iterations 300] [--max-minutes M] [--log-dir runs/selfplay/<date-time>] [--resume PATH]
      [--snapshot-interval 10] [--sampling pfsp|uniform|latest] [--final-matches 256] ...
  torchrun --nproc_per_node=N -m pywarp_sim.selfplay train ...   (N ranks, one pool: selfplay/ranks.py)
  python -m pywarp_sim.selfplay eval CHECKPOINT [--against 0] [--matches 256]
  python -m pywarp_sim.selfplay play CHECKPOINT --video match.mp4 [--against 0] [--show 4]

train: PPO for agent A against the league's pool (selfplay/league_run.py). Writes into the log
dir: TensorBoard scalars (League/*: train win/draw/loss rates, pool size, ratings, evaluation
win rates; Perf/env_steps_per_s; Loss/*), league.pt (the latest checkpoint, every
--save-interval iterations and at the end; --resume continues it bit for bit),
ratings.png and win_rates.png (selfplay/plots.py), history.json (one record per iteration)
and summary.json (ratings per snapshot in pool order, refitted to all evaluation matches,
with their monotonicity (league.monotonicity), win rate of the final learner against
the initial policy over --final-matches matches, env steps/s). --max-minutes stops after the
iteration that reaches that wall time (then the final evaluation runs).

eval: the checkpoint's learner against pool member --against (0: the initial policy) over
--matches matches; prints one JSON line.

play: one match per shown world (--show worlds side by side) of the learner (agent A, blue)
against pool member --against (agent B, red), rendered with mujoco.Renderer (MUJOCO_GL=egl is
set when unset on Linux) into --video (.mp4 or .gif).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time

import numpy as np
import torch

from ..cli import check_device, check_file, fraction, nonneg_int, positive_float, positive_int
from ..cli import dumps as json_dumps
from ..simulator import BACKENDS

CHECKPOINT = "league.pt"


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m pywarp_sim.selfplay", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True)
  t = sub.add_parser("train", help="train a learner against its league")
  t.add_argument("--num-envs", type=positive_int, default=256, help="worlds (per rank under torchrun)")
  t.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
  t.add_argument("--backend", choices=BACKENDS, default="auto")
  t.add_argument("--iterations", type=positive_int, default=300)
  t.add_argument("--max-minutes", type=positive_float, default=None,
                 help="stop after the iteration that reaches this wall time (> 0)")
  t.add_argument("--log-dir", default=None, help="default: runs/selfplay/<date-time>")
  t.add_argument("--resume", default=None, metavar="PATH", help="a league.pt to continue")
  t.add_argument("--seed", type=nonneg_int, default=0)
  t.add_argument("--nslot", type=positive_int, default=8, help="opponent slots (divides --num-envs)")
  t.add_argument("--num-steps-per-env", type=positive_int, default=24)
  t.add_argument("--snapshot-interval", type=positive_int, default=10)
  t.add_argument("--sampling", choices=("pfsp", "uniform", "latest"), default="pfsp")
  t.add_argument("--eval-envs", type=positive_int, default=128,
                 help="evaluation matches per new pool member (one per world)")
  t.add_argument("--eval-opponents", type=positive_int, default=4,
                 help="earlier members each new one plays: the initial, the newest, the rest "
                      "spread over the pool (all when fewer)")
  t.add_argument("--eval-newest-share", type=float, default=0.0,
                 help="share of each new member's evaluation matches against its predecessor, "
                      "in [0, 1) (0: all opponents alike)")
  t.add_argument("--snapshot-gate", type=fraction, default=0.0,
                 help="score (wins + draws / 2 over --eval-envs gate matches against the newest "
                      "member) a snapshot needs to join the pool, e.g. 0.55; 0: every snapshot joins")
  t.add_argument("--cpu-cores-per-rank", type=positive_int, default=None, metavar="K",
                 help="pin this process to K cores of its own (torchrun local rank r: cores rK..rK+K-1) "
                      "with K torch and native-step threads, so CPU ranks do not share cores")
  t.add_argument("--rating-passes", type=positive_int, default=16,
                 help="random orders of all matches the openskill ratings are averaged over")
  t.add_argument("--episode-length-s", type=positive_float, default=None)
  t.add_argument("--init-std", type=positive_float, default=None,
                 help="initial action noise of the learner (default: LeagueCfg's)")
  t.add_argument("--save-interval", type=positive_int, default=10)
  t.add_argument("--final-matches", type=nonneg_int, default=256,
                 help="matches of the final learner against the initial policy (multiple of "
                      "--eval-envs; 0: none)")
  e = sub.add_parser("eval", help="the learner of a checkpoint against a pool member")
  e.add_argument("checkpoint")
  e.add_argument("--against", type=nonneg_int, default=0)
  e.add_argument("--matches", type=positive_int, default=256,
                 help="rounded up to a multiple of the run's evaluation worlds (--eval-envs)")
  e.add_argument("--device", default=None)
  e.add_argument("--seed", type=nonneg_int, default=12345)
  v = sub.add_parser("play", help="render matches of a checkpoint's learner")
  v.add_argument("checkpoint")
  v.add_argument("--video", default="selfplay.mp4")
  v.add_argument("--against", type=nonneg_int, default=0)
  v.add_argument("--show", type=positive_int, default=1, help="worlds side by side")
  v.add_argument("--width", type=positive_int, default=640)
  v.add_argument("--height", type=positive_int, default=480)
  v.add_argument("--device", default=None)
  v.add_argument("--seed", type=nonneg_int, default=0)
  return p


def parse_args(argv=None) -> argparse.Namespace:
  p = build_parser()
  a = p.parse_args(argv)
  if getattr(a, "device", None) is not None:
    check_device(p, a.device)
  if a.command == "train":
    if a.num_envs % a.nslot:
      p.error(f"--nslot {a.nslot} must divide --num-envs {a.num_envs}")
    if a.final_matches % a.eval_envs:
      p.error(f"--final-matches {a.final_matches} must be a multiple of --eval-envs {a.eval_envs}")
    if a.resume is not None:
      check_file(p, a.resume, "--resume")
  else:
    check_file(p, a.checkpoint, "checkpoint")
  return a


def _summary(run, final: dict | None, wall_s: float) -> dict:
  from .league import monotonicity
  from .league_run import cfg_dict
  league = run.league
  steps = [r["env_steps_per_s"] for r in run.history]
  evals = [r["evaluation"] for r in run.history if "evaluation" in r]
  return {
    "iterations": run.iteration, "wall_s": wall_s, "num_envs": run.cfg.num_envs, "ranks": run.world_size,
    "device": run.cfg.device, "backend": run.env.sim.backend,
    "pool": [s.iteration for s in league.snapshots],
    "ratings": [{"iteration": s.iteration, "mu": float(r.mu), "sigma": float(r.sigma),
                 "ordinal": float(r.ordinal())} for s, r in zip(league.snapshots, league.ratings)],
    "monotonic": monotonicity(league.mu(), league.sigma()),
    "rating_fit": {"model": "openskill PlackettLuce", "passes": run.cfg.rating_passes,
                   "method": "mean over random orders of all recorded matches, each from the prior",
                   "order_std": evals[-1].get("rating_order_std") if evals else None},
    "evaluation_matches": int(league.results.sum() / 2),
    "config": cfg_dict(run.cfg),
    "win_rate_matrix": league.win_rate_matrix().tolist(),
    "env_steps_per_s": float(np.median(steps)) if steps else float("nan"),
    "final_vs_initial": final,
  }


def train_main(a):
  from .. import distributed
  from .league_run import LeagueCfg
  from .plots import plot_ratings, plot_win_rates
  from .ranks import run_class
  t0 = time.perf_counter()
  rank = distributed.current()  # under torchrun: one rank of a league shared by all (selfplay/ranks.py)
  cores = None if a.cpu_cores_per_rank is None else distributed.pin_cpu_cores(rank, a.cpu_cores_per_rank)
  Run = run_class(rank)
  say = print if rank.main else (lambda *args, **kw: None)
  log_dir = a.log_dir or os.path.join("runs", "selfplay", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
  if a.resume is not None:
    run = Run.load(a.resume, log_dir=log_dir, device=a.device, backend=a.backend)
    say(f"[pws.selfplay] resumed {a.resume} at iteration {run.iteration}", flush=True)
  else:
    sumo = {} if a.episode_length_s is None else {"episode_length_s": a.episode_length_s}
    cfg = LeagueCfg(num_envs=a.num_envs, nslot=a.nslot, device=a.device, backend=a.backend,
                    seed=a.seed, num_steps_per_env=a.num_steps_per_env,
                    snapshot_interval=a.snapshot_interval, sampling=a.sampling,
                    eval_envs=a.eval_envs, eval_opponents=a.eval_opponents,
                    rating_passes=a.rating_passes, eval_newest_share=a.eval_newest_share,
                    snapshot_gate=a.snapshot_gate, sumo=sumo)
    if a.init_std is not None:
      cfg.init_std = a.init_std
    run = Run(cfg, log_dir=log_dir)
  if cores is not None:  # the training and evaluation worlds step on the pinned cores
    for env in (run.env, run.eval_env):
      distributed.pin_simulator_threads(env.sim, cores)
  ckpt = os.path.join(log_dir, CHECKPOINT)
  last = run.iteration + a.iterations
  while run.iteration < last:
    rec = run.iteration_step()
    ret = "n/a" if math.isnan(rec["mean_return"]) else f"{rec['mean_return']:.2f}"
    line = (f"[pws.selfplay] it {rec['it']:4d}  env steps/s {rec['env_steps_per_s']:7.0f}  games "
            f"{rec['games']:4d}  win/draw/loss {rec['win_rate']:.2f}/{rec['draw_rate']:.2f}/"
            f"{rec['loss_rate']:.2f}  mean return {ret}  pool {rec['pool_size']}")
    if "gate" in rec:
      g = rec["gate"]
      line += (f"  | gate vs {g['against']}: {g['wins']}-{g['draws']}-{g['losses']} score {g['score']:.3f} "
               f"{'joins' if g['joined'] else 'dropped'}")
    if "evaluation" in rec:
      ev = rec["evaluation"]
      line += f"  | member {ev['member']} vs {ev['opponents']} mu {ev['mu'][-1]:.2f}"
    say(line, flush=True)
    if run.iteration % a.save_interval == 0:
      run.save(ckpt)
    over = a.max_minutes is not None and time.perf_counter() - t0 >= 60.0 * a.max_minutes
    if distributed.any_rank(over, run.env.device):  # every rank stops at the same iteration
      say(f"[pws.selfplay] stopped after iteration {rec['it']}: {a.max_minutes} minutes", flush=True)
      break
  run.save(ckpt)
  final = None
  if a.final_matches:
    t1 = time.perf_counter()
    final = run.evaluate_against(0, a.final_matches, seed=a.seed + 12345)
    final["eval_s"] = time.perf_counter() - t1
    say(f"[pws.selfplay] final learner vs initial policy: {json.dumps(final)}", flush=True)
  if not rank.main:  # rank 0 writes the run's files
    distributed.finish()
    return _summary(run, final, time.perf_counter() - t0)
  plot_ratings(run.league, os.path.join(log_dir, "ratings.png"))
  plot_win_rates(run.league, os.path.join(log_dir, "win_rates.png"))
  with open(os.path.join(log_dir, "history.json"), "w") as f:
    f.write(json_dumps(run.history, indent=1))
  summary = _summary(run, final, time.perf_counter() - t0)
  with open(os.path.join(log_dir, "summary.json"), "w") as f:
    f.write(json_dumps(summary, indent=1))
  if run.writer is not None:
    run.writer.close()
  say(f"[pws.selfplay] wrote {log_dir}: {CHECKPOINT}, ratings.png, win_rates.png, summary.json", flush=True)
  distributed.finish()
  return summary


def _load(path: str, device):
  from .league_run import LeagueRun
  overrides = {} if device is None else {"device": device}
  try:
    return LeagueRun.load(path, any_ranks=True, **overrides)
  except ValueError as e:
    raise SystemExit(f"pywarp_sim.selfplay: {e}")


def eval_main(a):
  run = _load(a.checkpoint, a.device)
  if a.against >= len(run.league):
    raise SystemExit(f"pywarp_sim.selfplay eval: --against {a.against}: the pool has "
                     f"{len(run.league)} members (0..{len(run.league) - 1})")
  matches = int(math.ceil(a.matches / run.cfg.eval_envs)) * run.cfg.eval_envs
  res = run.evaluate_against(a.against, matches, seed=a.seed)
  print(json_dumps({"checkpoint": a.checkpoint, "iteration": run.iteration, "against": a.against, **res}))
  return res


def play_main(a):
  from .. import view
  from ..play import RenderError, write_video
  run = _load(a.checkpoint, a.device)
  env = run.eval_env
  if a.show > env.num_envs:
    raise SystemExit(f"pywarp_sim.selfplay play: --show {a.show} exceeds the {env.num_envs} evaluation worlds")
  from .opponents import OpponentBatch
  me, other = run.snapshot(run.iteration), run.league.snapshots[a.against]
  side_a = OpponentBatch(env.num_envs, 1, me, env.device)
  side_b = OpponentBatch(env.num_envs, 1, other, env.device)
  side_a.set_all(me)
  side_b.set_all(other)
  env.set_slots(1)
  env.generator.manual_seed(a.seed)
  env.reset()
  frames, result = [env.sim.qpos[:a.show].cpu().numpy().copy()], np.zeros(a.show, dtype=np.int8)
  finished = np.zeros(a.show, dtype=bool)
  for _ in range(env.max_episode_length):
    _, _, dones, extras = env.step_pair(side_a(env.obs[0]), side_b(env.obs[1]))
    d = dones[:a.show].cpu().numpy().astype(bool)
    out = extras["outcome"][:a.show].cpu().numpy()
    result = np.where(d & ~finished, out, result)
    finished |= d
    frames.append(env.sim.qpos[:a.show].cpu().numpy().copy())
    if finished.all():
      break
  mjm = env.mj_model.__copy__()
  for k, rgba in enumerate(((0.25, 0.45, 0.9, 1.0), (0.9, 0.3, 0.25, 1.0))):
    mjm.geom_rgba[env.agents[k]["geoms"]] = rgba
  names = {1: "A wins", 0: "draw", -1: "B wins"}
  captions = [f"t {t * env.dt:4.2f} s  learner (blue) vs member {a.against} (red)" for t in range(len(frames))]
  try:
    images = view.render_worlds(mjm, np.stack(frames), a.width, a.height, spacing=2 * env.cfg.ring_radius + 1,
                                captions=captions)
    write_video(images, a.video, fps=1.0 / env.dt)
  except RenderError as e:
    raise SystemExit(f"pywarp_sim.selfplay play: {e}")
  print(f"[pws.selfplay] {a.video}: {len(images)} frames; results "
        f"{[names[int(r)] if f else 'unfinished' for r, f in zip(result, finished)]}")


def main(argv=None):
  a = parse_args(argv)
  if (argv is None and a.command == "play" and a.video and "MUJOCO_GL" not in os.environ
      and sys.platform.startswith("linux")):
    os.environ["MUJOCO_GL"] = "egl"  # MuJoCo picks its GL backend at import: restart with egl
    os.execv(sys.executable, [sys.executable, "-m", "pywarp_sim.selfplay", *sys.argv[1:]])
  return {"train": train_main, "eval": eval_main, "play": play_main}[a.command](a)


if __name__ == "__main__":
  main()
