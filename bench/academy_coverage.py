"""Coverage of the academy's 95% calibration intervals on noisy proxy robots.

    python -m bench.academy_coverage --seeds 0-39 [--out FILE] [--full]

Calibrates proxy.ProxyRobot(seed=s) (hidden parameters drawn from the priors, default
sensor noise) with CalibrationConfig.quick() (--full: the default configuration) for every
seed and checks, per identified parameter, whether the hidden truth lies inside the 95%
interval: `after` is Calibration.ci95 (std_z: sensor noise simulated through the robot's
own PD loop, calibrate.py "Uncertainty"), `before` the interval from std_z_white
(s^2 (J'J)^-1, white residuals assumed) around the same estimate. Widths are ln(high / low).
Robots whose replay is not smooth at the estimate (Calibration.smooth_replay False) are
counted separately as well.

Writes one JSON line per robot and a final summary line to --out (default
bench/results/academy-coverage-<date>.jsonl) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from pywarp_sim.cli import dumps as json_dumps

from . import common


def _seeds(text: str) -> list:
  out = []
  for part in text.split(","):
    lo, _, hi = part.partition("-")
    out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
  return out


def robot_record(seed: int, full: bool) -> dict:
  from pywarp_sim.academy import calibrate as C
  from pywarp_sim.academy import params as P
  from pywarp_sim.academy import proxy
  robot = proxy.ProxyRobot(f"proxy-{seed}", seed=seed)
  cfg = C.CalibrationConfig() if full else C.CalibrationConfig.quick()
  t = time.perf_counter()
  cal = C.calibrate(robot, cfg)
  wall = time.perf_counter() - t
  truth = robot.reveal_truth()  # coverage check only
  per = {}
  for name in cal.identified:
    z, true = cal.z[name], float(P.to_z(name, truth[name]))
    lo_w, hi_w = (float(P.from_z(name, z + k * 1.96 * cal.std_z_white[name])) for k in (-1, 1))
    lo, hi = cal.ci95[name]
    per[name] = {
      "truth": truth[name], "estimate": cal.params[name],
      "t_before": (z - true) / cal.std_z_white[name], "t_after": (z - true) / cal.std_z[name],
      "inside_before": lo_w <= truth[name] <= hi_w, "inside_after": lo <= truth[name] <= hi,
      "width_before": math.log(hi_w / lo_w), "width_after": math.log(hi / lo),
      "prior_width": math.log(P.PRIORS[name].high / P.PRIORS[name].low),
    }
  return {"seed": seed, "robot": robot.name, "config": "full" if full else "quick", "wall_s": wall,
          "latency_truth": truth["latency"], "latency_est": cal.params["latency"],
          "smooth_replay": cal.smooth_replay,
          "max_curvature": {m: max(v.values()) for m, v in cal.replay_curvature.items()},
          "params": per}


def summary(records: list) -> dict:
  names = list(records[0]["params"])
  out = {"robots": len(records), "smooth_robots": sum(r["smooth_replay"] for r in records),
         "params": {}}
  for name in names:
    rows = [r["params"][name] for r in records]
    smooth = [r["params"][name] for r in records if r["smooth_replay"]]
    out["params"][name] = {
      "inside_before": sum(x["inside_before"] for x in rows),
      "inside_after": sum(x["inside_after"] for x in rows),
      "inside_before_smooth": sum(x["inside_before"] for x in smooth),
      "inside_after_smooth": sum(x["inside_after"] for x in smooth),
      "median_width_before": float(np.median([x["width_before"] for x in rows])),
      "median_width_after": float(np.median([x["width_after"] for x in rows])),
      "prior_width": rows[0]["prior_width"],
    }
  for key in ("inside_before", "inside_after"):
    out[f"robots_all_{key}"] = sum(all(x[key] for x in r["params"].values()) for r in records)
    out[f"smooth_robots_all_{key}"] = sum(all(x[key] for x in r["params"].values())
                                          for r in records if r["smooth_replay"])
  out["median_wall_s"] = float(np.median([r["wall_s"] for r in records]))
  return out


def table(s: dict) -> str:
  n, ns = s["robots"], s["smooth_robots"]
  lines = [f"| parameter | truth inside, before | after | smooth replays ({ns}), before | after "
           f"| median width ln(hi/lo), before | after | prior |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
  for name, p in s["params"].items():
    lines.append(f"| {name} | {p['inside_before']}/{n} | {p['inside_after']}/{n} | "
                 f"{p['inside_before_smooth']}/{ns} | {p['inside_after_smooth']}/{ns} | "
                 f"{p['median_width_before']:.3f} | {p['median_width_after']:.3f} | "
                 f"{p['prior_width']:.3f} |")
  lines.append(f"| every parameter | {s['robots_all_inside_before']}/{n} | "
               f"{s['robots_all_inside_after']}/{n} | "
               f"{s['smooth_robots_all_inside_before']}/{ns} | "
               f"{s['smooth_robots_all_inside_after']}/{ns} | | | |")
  return "\n".join(lines)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m bench.academy_coverage", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--seeds", type=_seeds, default=_seeds("0-39"), help="e.g. 0-39 or 0,1,11")
  p.add_argument("--full", action="store_true", help="default configuration instead of quick")
  p.add_argument("--out", default=None, help="JSON Lines output file")
  a = p.parse_args(argv)
  common.quiet_warp()
  out = a.out or str(common.RESULTS_DIR / f"academy-coverage-{common.today()}.jsonl")
  from pywarp_sim.academy import simbatch
  base = common.base_record("academy_coverage", simbatch.default_backend("cpu"), "cpu")
  records = []
  with open(out, "w") as f:
    for seed in a.seeds:
      rec = robot_record(seed, a.full)
      records.append(rec)
      f.write(json_dumps({**base, **rec}) + "\n")
      f.flush()
      bad = [n for n, x in rec["params"].items() if not x["inside_after"]]
      print(f"seed {seed:3d}: {rec['wall_s']:5.1f} s, smooth replay {rec['smooth_replay']!s:5s}, "
            f"truth outside the interval: {bad or '-'}", file=sys.stderr, flush=True)
    s = summary(records)
    f.write(json_dumps({**base, "summary": s}) + "\n")
  print(table(s))
  print(f"\n{len(records)} robots, median calibration {s['median_wall_s']:.1f} s; records: {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
