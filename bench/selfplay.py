"""Self-play figures: the two-agent env's throughput against the single-agent env's, and a
league run's results, into one JSON record (plus the run's plots).

  python -m bench.selfplay --run runs/selfplay/<stamp> [--num-envs 128] [--steps 50]
      [--repeats 5] [--device cpu] [--out bench/results/selfplay-<device>-<date>.json]

The CPU record (the issue's <= 20 minute run: 600 iterations, about 17 minutes on the idle
2-core machine without the gate, 19.2 minutes with it (34.5 at load 4-6, the same run bit for
bit); a fixed count, so a loaded machine takes longer but trains the same run):

  export OMP_NUM_THREADS=1
  python -m pywarp_sim.selfplay train --num-envs 256 --nslot 8 --snapshot-interval 50 \
      --eval-envs 256 --eval-opponents 12 --eval-newest-share 0.5 --snapshot-gate 0.55 \
      --iterations 600 --final-matches 256 --log-dir runs/selfplay/cpu-record
  python -m bench.selfplay --run runs/selfplay/cpu-record --num-envs 256 --nslot 8 \
      --note "<load average, threads>"

(every 50 iterations a candidate snapshot plays 256 gate matches against the newest member and
joins only with a score of at least 0.55; each member then plays 256 matches, half against its
predecessor and the rest spread over the earlier members, and the ratings are refitted to all of
them; 2026-12-08: 7 members, 6 of 6 rises. Without the gate, a snapshot every 50 iterations: 13
members, 11 of 12 rises, the early snapshots of equal strength; with 16 matches per neighbour
pair 9 of 12; a snapshot every 10 iterations and 64 matches against 4 members: half of the
changes were noise.)

(defaults: LeagueCfg's init_std 0.1 and actor_output_gain 0.01, sumo.SUMO_REWARDS; one thread
because two busy-waiting OpenMP threads lose to a loaded machine's other jobs.)

Throughput: env steps/s of `SumoEnv.step` (two humanoids per world, agent B's actions from
an OpponentBatch of `--nslot` frozen policies, agent A's random) and of the humanoid-stand
env's `step` (one humanoid per world, random actions) at the same world count, device and
thread count; the two are timed alternately `--repeats` times and the medians reported, so
a neighbour's load on a shared machine hits both alike. The ratio is the issue's criterion
(>= 0.5: two robots per world at no more than twice the cost). Where the time goes: the share
of each env's step spent in Simulator.step (the rest: PD law, observations, rewards, resets,
the opponents' inference), the physics-only ratio, and the sizes behind it (contacts and
constraint rows per world at the timed states, candidate collision pairs, nv).

Run results (from the run's summary.json, written by `python -m pywarp_sim.selfplay train`):
win_rate_vs_initial and matches (the final learner against the initial policy), ratings (mu
and sigma per pool snapshot, in pool order, refitted to all evaluation matches), monotonic
(rises / changes, whether they rise monotonically, the drops), the win-rate matrix, the run's training env
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


def _time_steps(env, actions_fn, steps: int) -> tuple:
  """(env steps/s, the share of that time in Simulator.step, mean contacts per world, mean
  constraint rows per world) over `steps` env steps after one warm-up step."""
  import torch
  import warp as wp
  sim = env.sim
  physics = [0.0]
  step = sim.step

  def timed_step(*args, **kwargs):
    t = time.perf_counter()
    out = step(*args, **kwargs)
    physics[0] += time.perf_counter() - t
    return out
  ncon = nefc = 0.0
  with torch.inference_mode():
    env.step(actions_fn())  # warm-up (kernels, caches)
    sim.step = timed_step  # an instance attribute: the env's calls go through the timer
    try:
      t0 = time.perf_counter()
      for _ in range(steps):
        env.step(actions_fn())
      wall = time.perf_counter() - t0
    finally:
      del sim.step
    ncon = float(sim.ncon.float().mean())
    nefc = float(wp.to_torch(sim.data.efc.nefc).float().mean())
  return env.num_envs * steps / wall, physics[0] / wall, ncon, nefc


def throughput_envs(num_envs: int, device: str, nslot: int, backend: str) -> tuple:
  """The two envs `throughput` times and their action source: ({"two_agent": SumoEnv with
  an OpponentBatch of `nslot` copies of a fresh league actor, "single_agent": humanoid-stand},
  random_actions() -> (num_envs, nu) 0.2 N(0, 1) from a seeded generator)."""
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
  return {"two_agent": two, "single_agent": one}, random_actions


def throughput(num_envs: int, steps: int, repeats: int, device: str, nslot: int, backend: str) -> dict:
  """Median env steps/s of the two-agent and the single-agent env (module doc)."""
  envs_, random_actions = throughput_envs(num_envs, device, nslot, backend)
  two = envs_["two_agent"]
  rates = {k: [] for k in envs_}
  share = {k: [] for k in envs_}
  ncon = {k: [] for k in envs_}
  nefc = {k: [] for k in envs_}
  for _ in range(repeats):
    for k, env in envs_.items():
      r, p, c, e = _time_steps(env, random_actions, steps)
      rates[k].append(r)
      share[k].append(p)
      ncon[k].append(c)
      nefc[k].append(e)
  two_rate, one_rate = statistics.median(rates["two_agent"]), statistics.median(rates["single_agent"])
  med = statistics.median
  return {"num_envs": num_envs, "steps": steps, "repeats": repeats, "nslot": nslot,
          "backend": two.sim.backend, "env_steps_per_s": two_rate,
          "single_agent_env_steps_per_s": one_rate, "ratio_two_to_single": two_rate / one_rate,
          "physics_share": {k: med(v) for k, v in share.items()},
          # world-steps/s of Simulator.step alone: env steps/s over the physics share
          "physics_ratio_two_to_single": (two_rate / med(share["two_agent"]))
                                         / (one_rate / med(share["single_agent"])),
          "contacts_per_world": {k: med(v) for k, v in ncon.items()},
          "constraint_rows_per_world": {k: med(v) for k, v in nefc.items()},
          "candidate_pairs": {k: int(env.sim.model.collision.npair) for k, env in envs_.items()},
          "nv": {k: int(env.sim.model.mj_model.nv) for k, env in envs_.items()},
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
  p.add_argument("--throughput-from", default=None, metavar="JSON",
                 help="take the throughput fields from this earlier record instead of timing "
                      "them (a run recorded on a loaded machine keeps an idle machine's timing)")
  a = p.parse_args(argv)
  import torch
  with open(os.path.join(a.run, "summary.json")) as f:
    summary = json.load(f)
  load_before = os.getloadavg()
  if a.throughput_from is not None:
    with open(a.throughput_from) as f:
      earlier = json.load(f)
    tp = {**earlier["throughput"], "from_record": a.throughput_from, "date": earlier["date"],
          "git": earlier["versions"]["git"]}
  else:
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
    "monotonic": summary.get("monotonic"),
    "rating_fit": summary.get("rating_fit"),
    "evaluation_matches": summary.get("evaluation_matches"),
    "league_cfg": summary.get("config"),
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
