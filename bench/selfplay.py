"""Self-play figures: the two-agent env's throughput against the single-agent env's, and a
league run's results, into one JSON record (plus the run's plots).

  python -m bench.selfplay --run runs/selfplay/<stamp> [--num-envs 128] [--steps 50]
      [--repeats 5] [--device cpu] [--out bench/results/selfplay-<device>-<date>.json]

Throughput: env steps/s of `SumoEnv.step` (two humanoids per world, agent B's actions from
an OpponentBatch of `--nslot` frozen policies, agent A's random) and of the humanoid-stand
env's `step` (one humanoid per world, random actions) at the same world count, device and
thread count; the two are timed alternately `--repeats` times and the medians reported, so
a neighbour's load on a shared machine hits both alike. The ratio is the issue's criterion
(>= 0.5: two robots per world at no more than twice the cost).

Run results (from the run's summary.json, written by `python -m pywarp_sim.selfplay train`):
win_rate_vs_initial and matches (the final learner against the initial policy), ratings (mu
and sigma per pool snapshot, in pool order), the win-rate matrix, the run's training env
steps/s (median over iterations, PPO update included), wall time and iterations. The run's
ratings.png and win_rates.png are copied next to the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time

from . import common


def _time_steps(env, actions_fn, steps: int) -> float:
  import torch
  with torch.inference_mode():
    env.step(actions_fn())  # warm-up (kernels, caches)
    t0 = time.perf_counter()
    for _ in range(steps):
      env.step(actions_fn())
    return env.num_envs * steps / (time.perf_counter() - t0)


def throughput(num_envs: int, steps: int, repeats: int, device: str, nslot: int, backend: str) -> dict:
  """Median env steps/s of the two-agent and the single-agent env (module doc)."""
  import torch
  from pywarp_sim import envs
  from pywarp_sim.selfplay import OpponentBatch, SumoCfg, SumoEnv, snapshot_of
  from pywarp_sim.selfplay.league_run import LeagueCfg, LeagueRun
  torch.manual_seed(0)
  run = LeagueRun(LeagueCfg(num_envs=num_envs, nslot=nslot, device=device, backend=backend,
                            eval_envs=nslot))
  policy = snapshot_of(run.runner.alg.get_policy())
  two = SumoEnv(SumoCfg(backend=backend, validate_actions=False), num_envs, device)
  two.set_slots(nslot)
  two.opponent = OpponentBatch(num_envs, nslot, policy, device)
  one = envs.make("humanoid-stand", num_envs, device, backend=backend, validate_actions=False)
  gen = torch.Generator(device=two.device).manual_seed(1)

  def random_actions():
    return 0.2 * torch.randn(num_envs, two.num_actions, generator=gen, device=two.device)
  rates = {"two_agent": [], "single_agent": []}
  for _ in range(repeats):
    rates["two_agent"].append(_time_steps(two, random_actions, steps))
    rates["single_agent"].append(_time_steps(one, random_actions, steps))
  two_rate, one_rate = statistics.median(rates["two_agent"]), statistics.median(rates["single_agent"])
  return {"num_envs": num_envs, "steps": steps, "repeats": repeats, "nslot": nslot,
          "backend": two.sim.backend, "env_steps_per_s": two_rate,
          "single_agent_env_steps_per_s": one_rate, "ratio_two_to_single": two_rate / one_rate,
          "samples": rates}


def main(argv=None):
  p = argparse.ArgumentParser(prog="python -m bench.selfplay", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--run", required=True, help="a log dir of python -m pywarp_sim.selfplay train")
  p.add_argument("--num-envs", type=int, default=128)
  p.add_argument("--steps", type=int, default=50)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--nslot", type=int, default=8)
  p.add_argument("--device", default="cpu")
  p.add_argument("--backend", default="auto")
  p.add_argument("--note", default="", help="free text stored in the record (machine load, threads)")
  p.add_argument("--out", default=None)
  a = p.parse_args(argv)
  import torch
  with open(os.path.join(a.run, "summary.json")) as f:
    summary = json.load(f)
  load_before = os.getloadavg()
  tp = throughput(a.num_envs, a.steps, a.repeats, a.device, a.nslot, a.backend)
  final = summary.get("final_vs_initial") or {}
  rec = {
    **common.base_record("selfplay", tp["backend"], a.device),
    "torch_threads": torch.get_num_threads(),
    "load_average_before_after": [list(load_before), list(os.getloadavg())],
    "note": a.note,
    "win_rate_vs_initial": final.get("win_rate"),
    "matches": final.get("matches"),
    "wins_draws_losses_vs_initial": [final.get("wins"), final.get("draws"), final.get("losses")],
    "ratings": summary["ratings"],
    "win_rate_matrix": summary["win_rate_matrix"],
    "env_steps_per_s": tp["env_steps_per_s"],
    "single_agent_env_steps_per_s": tp["single_agent_env_steps_per_s"],
    "ratio_two_to_single": tp["ratio_two_to_single"],
    "throughput": tp,
    "training": {k: summary[k] for k in ("iterations", "wall_s", "num_envs", "backend")},
    "training_env_steps_per_s": summary["env_steps_per_s"],
  }
  out = a.out or os.path.join("bench", "results",
                              f"selfplay-{common.device_slug(a.device)}-{common.today()}.json")
  with open(out, "w") as f:
    json.dump(rec, f, indent=1)
  stem = out[:-len(".json")]
  for name in ("ratings", "win_rates"):
    src = os.path.join(a.run, f"{name}.png")
    if os.path.exists(src):
      shutil.copyfile(src, f"{stem}-{name.replace('_', '-')}.png")
  print(json.dumps({k: rec[k] for k in ("win_rate_vs_initial", "matches", "env_steps_per_s",
                                        "single_agent_env_steps_per_s", "ratio_two_to_single")}))


if __name__ == "__main__":
  main()
