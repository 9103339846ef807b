"""python -m pywarp_sim.academy demo --robots N [--quick] [--device D] [--json] [--out-dir DIR]
   python -m pywarp_sim.academy calibrate --robots N [--quick] [--out FILE]
   torchrun --nproc_per_node=2 -m pywarp_sim.academy calibrate --robots N [--quick] [--out FILE]

calibrate: calibrates the proxy fleet only and prints one JSON line (robots, ranks, device,
wall_s, worlds_simulated, candidates_per_s = worlds_simulated / wall_s, and per robot its
Calibration: params, ci95, history, ...; --out writes the same JSON to a file). Under torchrun
every rank simulates its share of each batch of candidates (calibrate.py, Sharded over
ranks), with the same result as one process; rank 0 alone prints and writes.

Calibrates a proxy fleet (stand-ins for hardware: MuJoCo C with hidden parameters) on
batched pywarp_sim worlds, reports the sim-to-real gap before and after calibration on
held-out motions and the parameter error against the hidden truth, fits the fleet's
randomisation spec, evaluates the shared policy on every robot, records falls as incidents
and replays them in simulated worlds. Prints a table and a final JSON line; writes PNG plots
and report.json into --out-dir.

JSON keys: gap_before / gap_after (model gap: held-out NRMSE with the sensor-noise floor
removed, mean over robots), gap_raw_before / gap_raw_after (NRMSE including sensor noise),
param_error_before / param_error_after (mean |log(scale / truth)| over the identified
parameters, ground friction included), friction_error_before / friction_error
(|log(friction scale / truth)| of nominal / calibrated), floor_gap_before / floor_gap_after
(model gap of a held-out floor phase; gap_before/after are the stand motions') and
floor_gap_truth (the same with the hidden true parameters: the part no model removes),
return_drop_nominal / return_drop_calibrated (mean |return in the twin - return
on the robot| of the shared policy on humanoid-stand), unseen_return_drop_rel (with --unseen K:
mean over K proxy robots that no calibration saw of (mean return in 8 simulated twins drawn
from the fleet's randomisation - return on the robot) / |mean twin return|; its _max;
unseen_policy says whether a trained policy or zero actions was evaluated), training (iterations, env steps/s, final mean return and episode
length), latency_correct, incidents, replay, wall_s, ...

Training (--train-iterations N, --train-envs E) runs rsl-rl PPO on humanoid-stand with the
fleet's randomisation, on the native backend when it is built.

Both commands take `--calibration.FIELD VALUE` for any field of the calibration's
CalibrationConfig (academy/calibrate.py; tyro, as train's --env. flags): e.g.
--calibration.popsize 48 --calibration.latencies 0 1 2 --calibration.duration-s 2; `demo
--help` and `calibrate --help` list them. Bars over the robots being calibrated and the
current robot's CMA-ES generations (with its best cost so far) are drawn on stderr when it is
a terminal, by rank 0 alone under torchrun (not with --quiet, --json or --verbose, which
prints every CMA-ES generation).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

import dataclasses

from .. import cli
from ..cli import check_device, check_file, nonneg_int, positive_float, positive_int
from ..cli import dumps as json_dumps


def _fmt(x, nd=3):
  return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def demo(args) -> dict:
  t0 = time.perf_counter()
  from . import calibrate as C
  from . import fleet as F
  from . import gap as G
  from . import motions as M
  from . import params as P
  from . import plots
  from . import proxy

  quiet = args.json
  say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
  device = args.device
  if args.policy:  # refuse a crafted or unreadable --policy now, not after the calibrations
    from ..train import load_policy_checkpoint
    load_policy_checkpoint(args.policy, "cpu")
  common = dict(device=device, seed=args.seed, cpu_threads=args.threads)
  if args.quick:
    ccfg = C.CalibrationConfig.quick(**common)
  elif device.startswith("cuda"):
    ccfg = C.CalibrationConfig.gpu(**common)
  else:
    ccfg = C.CalibrationConfig(**common)
  ccfg = dataclasses.replace(ccfg, **getattr(args, "calibration", {}))
  robots = proxy.make_fleet(args.robots, seed=args.seed)
  say(f"academy demo: {len(robots)} proxy robots (stand-ins for hardware, hidden parameters), "
      f"device {device}, {'quick' if args.quick else 'full'} calibration "
      f"(CMA-ES: {ccfg.popsize} candidates per latency x {ccfg.generations} "
      f"generations + {ccfg.lm_iterations} LM)")
  heldout_steps = int(round(args.heldout_s / robots[0].control_dt))
  rows, gaps, cals = [], [], []
  # bars over the robots and their CMA-ES generations (stderr, a terminal only; not with
  # --json, --quiet or --verbose, which prints every generation)
  for i, robot, generation in calibration_progress(robots, ccfg.generations,
                                                   quiet=quiet or args.verbose or args.quiet):
    t = time.perf_counter()
    cal = C.calibrate(robot, ccfg, verbose=args.verbose, progress=generation)
    t_cal = time.perf_counter() - t
    noise = G.sensor_noise(robot)
    motions = M.held_motions(heldout_steps, robot.control_dt, seed=10_000 + 100 * i, count=2)
    floor_steps = int(round(ccfg.floor_duration_s / robot.control_dt))
    if floor_steps:  # held-out floor phase: the gap that friction explains
      motions += M.floor_motions(floor_steps, robot.control_dt, seed=30_000 + 100 * i, count=1)
    if not args.quick:
      motions += M.lying_motions(heldout_steps, robot.control_dt, seed=20_000 + 100 * i, count=1)
    truth = robot.reveal_truth()  # gap metrics only: calibration never saw it
    # "truth": the floor of the gap, what no parameter set can remove (sensor noise in the
    # robot's own PD loop makes its trajectory wander; the sim's loop sees exact states)
    g = G.trajectory_gap(robot, {"nominal": P.nominal_params(), "calibrated": cal.params,
                                 "truth": truth}, motions,
                         noise_std=noise, device=device, cpu_threads=args.threads)
    pe0 = G.parameter_error(P.nominal_params(), truth, cal.identified)
    pe1 = G.parameter_error(cal.params, truth, cal.identified)
    floor = [j for j, m in enumerate(motions) if getattr(m, "contact", False)]
    held = [j for j, m in enumerate(motions) if m.held and j not in floor]  # in the stand
    free = [j for j, m in enumerate(motions) if not m.held]

    def mean(label, key, idx):
      vals = [g[label][key][j] for j in idx]
      return float(np.mean(vals)) if vals else math.nan
    row = {
      "robot": robot.name, "calibration_s": t_cal, "truth": truth, "estimate": cal.params,
      "ci95": cal.ci95, "latency_truth": truth["latency"], "latency_est": cal.params["latency"],
      "param_error_before": pe0["mean_abs_log"], "param_error_after": pe1["mean_abs_log"],
      "param_error_per_param_after": pe1["per_param"],
      "friction_error_before": abs(math.log(truth["ground_friction"])),
      "friction_error": abs(math.log(cal.params["ground_friction"] / truth["ground_friction"])),
      "floor_gap_before": mean("nominal", "per_motion_model_gap", floor),
      "floor_gap_after": mean("calibrated", "per_motion_model_gap", floor),
      "floor_gap_truth": mean("truth", "per_motion_model_gap", floor),
      "gap_raw_before": mean("nominal", "per_motion", held),
      "gap_raw_after": mean("calibrated", "per_motion", held),
      "gap_before": mean("nominal", "per_motion_model_gap", held),
      "gap_after": mean("calibrated", "per_motion_model_gap", held),
      "lying_gap_before": mean("nominal", "per_motion", free),
      "lying_gap_after": mean("calibrated", "per_motion", free),
      "cost_nominal": cal.cost_nominal, "cost_final": cal.cost_final,
      "worlds_simulated": cal.worlds_simulated,
    }
    rows.append(row)
    gaps.append(g)
    cals.append(cal)
    say(f"  {robot.name}: calibrated in {t_cal:.1f} s, latency {row['latency_est']} "
        f"(truth {row['latency_truth']}), param error {row['param_error_before']:.4f} -> "
        f"{row['param_error_after']:.4f}, held-out model gap {row['gap_before']:.4f} -> "
        f"{row['gap_after']:.4f} (raw NRMSE {row['gap_raw_before']:.4f} -> {row['gap_raw_after']:.4f})")

  # ---- fleet: distribution, randomisation, evaluation, incidents, replay -----------------
  fcfg = F.FleetConfig(calibration=ccfg, device=device, train_iterations=args.train_iterations,
                       train_envs=args.train_envs, eval_episode_s=args.eval_s)
  buffer = F.IncidentBuffer()
  shared = F.load_policy(args.policy, fcfg.eval_task, device) if args.policy else None
  r0 = F.run_round(robots, fcfg, buffer, 0, policy=shared, calibrations=cals, log_dir=args.out_dir)
  # policy return on each robot vs in its nominal / calibrated twin
  policy = r0.get("policy")
  for row, robot, cal in zip(rows, robots, cals):
    for label, params in (("nominal", P.nominal_params()), ("calibrated", cal.params)):
      d = G.policy_return_drop(policy, {"task": fcfg.eval_task}, robot, params,
                               episode_s=args.eval_s, device=device)
      row[f"return_drop_{label}"] = d.get("drop", math.nan)
      row[f"return_{label}"] = d
  # the shared policy on proxy robots no calibration saw, against its return in the fleet's
  # mean twin (the centre of the randomisation it was trained on)
  unseen = None
  if args.unseen > 0:
    unseen_robots = [proxy.ProxyRobot(f"unseen-{i}", seed=10_007 + 1000 * args.seed + i)
                     for i in range(args.unseen)]
    unseen = F.unseen_robot_returns(policy or F.zero_policy, unseen_robots, r0["randomization"],
                                    fcfg.eval_task, args.eval_s, seed=args.seed, device=device)
    unseen["policy"] = "trained" if policy is not None and policy is not F.zero_policy else "zero actions"
    say(f"  shared policy in {len(unseen['twins'])} simulated twins drawn from the fleet's randomisation: "
        f"mean return {unseen['return_sim']:.3f} ({unseen['twins_fell']} fell)")
    for name, d in unseen["robots"].items():
      say(f"  {name} (unseen): return {d['return_robot']:.3f} (drop {100 * d['drop_rel']:.1f}%, "
          f"fell {d['fell_robot']})")
  r1_replay = None
  if len(buffer):
    from .. import envs
    env = envs.make(fcfg.eval_task, 1, device)
    decimation = int(round(robots[0].control_dt / P.base_mj_model().opt.timestep))
    r1_replay = F.replay_incidents(buffer, env, fcfg.replay_horizon_s, decimation, device)

  # ---- table -------------------------------------------------------------------------
  say("")
  say(f"{'robot':10s} {'lat t/e':>7s} {'param err before':>17s} {'after':>8s} "
      f"{'model gap before':>17s} {'after':>8s} {'raw NRMSE before':>17s} {'after':>8s} {'fell':>5s} "
      f"{'return drop nom':>16s} {'cal':>7s}")
  evals = r0.get("evaluation", {})
  for row in rows:
    ev = evals.get(row["robot"], {}) if isinstance(evals, dict) else {}
    say(f"{row['robot']:10s} {row['latency_truth']:>3d}/{row['latency_est']:<3d} "
        f"{row['param_error_before']:17.4f} {row['param_error_after']:8.4f} "
        f"{row['gap_before']:17.4f} {row['gap_after']:8.4f} "
        f"{row['gap_raw_before']:17.4f} {row['gap_raw_after']:8.4f} {str(ev.get('fell', '-')):>5s} "
        f"{_fmt(row['return_drop_nominal'], 2):>16s} {_fmt(row['return_drop_calibrated'], 2):>7s}")
  say("")
  say(f"{'parameter':16s} " + " ".join(f"{r['robot']:>26s}" for r in rows))
  for name in P.CONTINUOUS_PARAMS:
    cells = []
    for r in rows:
      lo, hi = r["ci95"][name]
      cells.append(f"{r['truth'][name]:.3f}->{r['estimate'][name]:.3f} [{lo:.2f},{hi:.2f}]")
    say(f"{name:16s} " + " ".join(f"{c:>26s}" for c in cells) +
        ("   (not calibrated)" if name in cals[0].unidentified else ""))
  say("(truth -> estimate [95% CI])")

  # ---- plots -------------------------------------------------------------------------
  plot_files = []
  if args.out_dir:
    plots.ensure_dir(args.out_dir)
    try:
      title = f"{robots[0].name}: held-out motion, before/after calibration"
      plot_files.append(plots.trajectories(os.path.join(args.out_dir, "trajectories.png"), gaps[0], 0,
                                           robots[0].joint_names, control_dt=robots[0].control_dt,
                                           title=title))
      plot_files.append(plots.parameters(os.path.join(args.out_dir, "parameters.png"), rows))
    except Exception as e:  # plotting must not lose the numbers
      say(f"plots failed: {type(e).__name__}: {e}")

  def avg(key):
    vals = [r[key] for r in rows if not math.isnan(r[key])]
    return float(np.mean(vals)) if vals else None

  def avg_abs(key):
    vals = [abs(r[key]) for r in rows if not math.isnan(r[key])]
    return float(np.mean(vals)) if vals else None

  summary = {
    "robots": len(robots), "quick": bool(args.quick), "device": device,
    "gap_before": avg("gap_before"), "gap_after": avg("gap_after"),
    "gap_raw_before": avg("gap_raw_before"), "gap_raw_after": avg("gap_raw_after"),
    "param_error_before": avg("param_error_before"), "param_error_after": avg("param_error_after"),
    "latency_correct": sum(int(r["latency_est"] == r["latency_truth"]) for r in rows),
    "return_drop_nominal": avg_abs("return_drop_nominal"),
    "return_drop_calibrated": avg_abs("return_drop_calibrated"),
    "friction_error_before": avg("friction_error_before"), "friction_error": avg("friction_error"),
    "floor_gap_before": avg("floor_gap_before"), "floor_gap_after": avg("floor_gap_after"),
    "floor_gap_truth": avg("floor_gap_truth"),
    "lying_gap_before": avg("lying_gap_before"), "lying_gap_after": avg("lying_gap_after"),
    "calibration_s": [round(r["calibration_s"], 2) for r in rows],
    "incidents": len(buffer),
    "replay": r1_replay,
    "training": r0.get("training"),
    "unseen_return_drop_rel": unseen.get("mean_drop_rel") if unseen else None,
    "unseen_return_drop_rel_max": unseen.get("max_drop_rel") if unseen else None,
    "unseen_policy": unseen.get("policy") if unseen else None,
    "randomization": r0["randomization"]["randomization"],
    "plots": plot_files,
    "wall_s": time.perf_counter() - t0,
  }
  summary["gap_ratio"] = (summary["gap_before"] / summary["gap_after"]
                          if summary["gap_after"] else None)
  summary["param_error_ratio"] = (summary["param_error_before"] / summary["param_error_after"]
                                  if summary["param_error_after"] else None)
  if args.out_dir:
    full = {"summary": summary, "robots": rows,
            "fleet": {k: v for k, v in r0.items() if k not in ("calibrations", "policy")},
            "incidents": buffer.to_list(),
            "calibrations": [c.to_dict() for c in cals]}
    with open(os.path.join(args.out_dir, "report.json"), "w") as f:
      f.write(json_dumps(full, indent=1, default=str))  # json_dumps: arrays -> lists, NaN -> null
  say(f"\ngap (model, noise-corrected) {_fmt(summary['gap_before'], 4)} -> {_fmt(summary['gap_after'], 4)} "
      f"({_fmt(summary['gap_ratio'], 1)}x); raw NRMSE {_fmt(summary['gap_raw_before'], 4)} -> "
      f"{_fmt(summary['gap_raw_after'], 4)}; parameter error {_fmt(summary['param_error_before'], 4)} -> "
      f"{_fmt(summary['param_error_after'], 4)} ({_fmt(summary['param_error_ratio'], 1)}x); "
      f"{summary['incidents']} incident(s); {summary['wall_s']:.1f} s")
  print(json_dumps(summary, default=str), flush=True)  # NaN / inf -> null
  return summary


def calibration_progress(robots: list, generations: int, quiet: bool = False):
  """Yields (index, robot, generation) for each robot, with two bars on stderr (a terminal
  only, and not quiet: cli.progress_enabled): the robots calibrated, and the current robot's
  CMA-ES generations with its best cost so far. `generation` is calibrate()'s progress
  callback (a no-op without bars); print() inside the loop writes above the bars."""
  if not cli.progress_enabled(quiet):
    for i, robot in enumerate(robots):
      yield i, robot, None
    return
  from rich.console import Console
  from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                             TimeElapsedColumn, TimeRemainingColumn)
  with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("eta"),
                TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bars:
    fleet = bars.add_task("calibrating the fleet", total=len(robots), unit="robots")
    for i, robot in enumerate(robots):
      name = getattr(robot, "name", f"robot {i}")
      gens = bars.add_task(f"{name}: CMA-ES", total=generations, unit="generations")

      def generation(done, total, best_cost, best_latency, gens=gens, name=name):
        bars.update(gens, completed=done, total=total,
                    description=f"{name}: CMA-ES, best cost {best_cost:.4g} (latency {best_latency})")
      yield i, robot, generation
      bars.remove_task(gens)
      bars.advance(fleet)


def calibrate_fleet(args) -> dict:
  """The calibrate command (module doc); returns the JSON record on every rank."""
  from .. import distributed
  from . import calibrate as C
  from . import proxy

  device = distributed.rank_device(args.device, distributed.current())
  threads = args.threads
  if args.cpu_cores_per_rank is not None:
    if threads not in (0, args.cpu_cores_per_rank):
      raise SystemExit(f"calibrate: --threads {threads} and --cpu-cores-per-rank {args.cpu_cores_per_rank} "
                       f"disagree; the pinned cores give each rank one thread per core (leave --threads out)")
    threads = len(distributed.pin_cpu_cores(distributed.current(), args.cpu_cores_per_rank))
  rank = distributed.init_process_group(device)
  common = dict(device=device, seed=args.seed, cpu_threads=threads)
  if args.popsize is not None:
    common["popsize"] = args.popsize
  if args.generations is not None:
    common["generations"] = args.generations
  if args.quick:
    ccfg = C.CalibrationConfig.quick(**common)
  elif device.startswith("cuda"):
    ccfg = C.CalibrationConfig.gpu(**common)
  else:
    ccfg = C.CalibrationConfig(**common)
  ccfg = dataclasses.replace(ccfg, **getattr(args, "calibration", {}))
  t0 = time.perf_counter()
  fleet = proxy.make_fleet(args.robots, seed=args.seed)
  # progress on rank 0 only: every rank runs the same generations (its share of each batch)
  cals = [C.calibrate(robot, ccfg, verbose=args.verbose and rank.main, progress=generation).to_dict()
          for _, robot, generation in calibration_progress(
            fleet, ccfg.generations, quiet=args.verbose or args.quiet or not rank.main)]
  wall = time.perf_counter() - t0
  worlds = sum(c["worlds_simulated"] for c in cals)
  record = {"robots": args.robots, "ranks": rank.world_size, "device": device,
            "quick": bool(args.quick), "popsize": ccfg.popsize, "generations": ccfg.generations,
            "wall_s": wall, "worlds_simulated": worlds, "candidates_per_s": worlds / wall,
            "calibrations": cals}
  if rank.main:
    if args.out:
      with open(args.out, "w") as f:
        f.write(json_dumps(record, indent=1))
    print(json_dumps(record), flush=True)
  distributed.finish()  # after the last collective (an error exits; torchrun stops the others)
  return record


class _CommandParser(argparse.ArgumentParser):
  """A subcommand's parser whose --help also lists the --calibration. flags (imports the
  calibration module only then)."""

  def print_help(self, file=None):
    super().print_help(file)
    from . import calibrate as C
    cli.parse_config_flags(["--help"], {"calibration": C.CalibrationConfig()}, prog=self.prog,
                           description="CalibrationConfig fields (defaults of the full configuration; "
                                       "--quick and a CUDA device change some)")


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m pywarp_sim.academy", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  sub = p.add_subparsers(dest="command", required=True, parser_class=_CommandParser)
  d = sub.add_parser("demo", help="calibrate a proxy fleet and report the sim-to-real gap")
  d.add_argument("--robots", type=positive_int, default=2, help="proxy robots to calibrate (>= 1)")
  d.add_argument("--quick", action="store_true",
                 help="small calibration search (CPU: < 3 min for 2 robots); trains only with --train-iterations")
  d.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
  d.add_argument("--json", action="store_true", help="print only the final JSON line")
  d.add_argument("--out-dir", default=None, help="write plots and report.json here")
  d.add_argument("--seed", type=nonneg_int, default=0)
  d.add_argument("--heldout-s", type=positive_float, default=2.0,
                 help="length of each held-out motion, s (> 0)")
  d.add_argument("--eval-s", type=positive_float, default=3.0,
                 help="policy evaluation episode length, s (> 0)")
  d.add_argument("--train-iterations", type=nonneg_int, default=0,
                 help="PPO iterations of the shared policy on the fleet's randomisation (0: skip)")
  d.add_argument("--train-envs", type=positive_int, default=64,
                 help="environments of the training run (>= 1)")
  d.add_argument("--policy", default=None,
                 help="an rsl-rl checkpoint (model_<it>.pt of pywarp_sim.train on humanoid-stand) to "
                      "evaluate as the shared policy instead of training one")
  d.add_argument("--unseen", type=nonneg_int, default=0,
                 help="proxy robots that no calibration saw, to evaluate the shared policy on "
                      "(return drop against the fleet's mean twin)")
  d.add_argument("--threads", type=nonneg_int, default=0,
                 help="OpenMP threads of the native CPU step (0: default; 1 is faster on a busy machine)")
  d.add_argument("--verbose", action="store_true")
  d.add_argument("--quiet", action="store_true", help="no progress bars")
  c = sub.add_parser("calibrate", help="calibrate a proxy fleet (sharded over torchrun ranks) "
                                       "and print the calibrations as one JSON line")
  c.add_argument("--robots", type=positive_int, default=1, help="proxy robots to calibrate (>= 1)")
  c.add_argument("--quick", action="store_true", help="the quick configuration (CalibrationConfig.quick)")
  c.add_argument("--popsize", type=positive_int, default=None,
                 help="CMA-ES candidates per latency and generation (>= 2; default: the configuration's)")
  c.add_argument("--generations", type=positive_int, default=None,
                 help="CMA-ES generations (default: the configuration's)")
  c.add_argument("--device", default="cpu",
                 help="cpu, cuda or cuda:N (under torchrun: cuda gives each rank cuda:LOCAL_RANK)")
  c.add_argument("--seed", type=nonneg_int, default=0, help="seed of the proxy fleet and the search")
  c.add_argument("--threads", type=nonneg_int, default=0,
                 help="OpenMP threads of the native CPU step per rank (0: default)")
  c.add_argument("--cpu-cores-per-rank", type=positive_int, default=None, metavar="K",
                 help="pin each rank to K cores of its own (local rank r: cores rK..rK+K-1), K threads")
  c.add_argument("--out", default=None, help="also write the JSON record to this file (rank 0)")
  c.add_argument("--verbose", action="store_true")
  c.add_argument("--quiet", action="store_true", help="no progress bars")
  return p


def parse_args(argv=None) -> argparse.Namespace:
  """The parsed command line; exits with code 2 and a message naming the argument when one
  is out of range, the --policy checkpoint is missing or the device is missing, before any
  calibration."""
  p = build_parser()
  a, rest = p.parse_known_args(argv)
  config_args = cli.split_config_flags(p, rest, ("calibration",))
  a.calibration = {}
  if config_args:  # --calibration.FIELD: checked against CalibrationConfig before any work
    from . import calibrate as C
    a.calibration = cli.parse_config_flags(config_args, {"calibration": C.CalibrationConfig()},
                                           prog=f"{p.prog} {a.command}")["calibration"]
  if a.command == "demo":
    if a.policy is not None:
      check_file(p, a.policy, "--policy")
    check_device(p, a.device)
  if a.command == "calibrate":
    check_device(p, a.device)
    if a.popsize is not None and a.popsize < 2:
      p.error(f"--popsize {a.popsize}: CMA-ES needs at least 2 candidates per latency and generation")
  return a


def main(argv=None):
  a = parse_args(argv)
  if a.command == "demo":
    from ..train import PolicyCheckpointError
    try:
      demo(a)
    except PolicyCheckpointError as e:
      print(f"pywarp_sim.academy: {e}", file=sys.stderr)
      return 2
  if a.command == "calibrate":
    calibrate_fleet(a)
  return 0


if __name__ == "__main__":
  sys.exit(main())
