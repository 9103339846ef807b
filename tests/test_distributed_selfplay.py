"""The self-play league on 2 CPU ranks over gloo (pywarp_sim/selfplay/ranks.py): the first PPO
update equals one process's with all the worlds and slots, ranks agree on parameters, pool,
ratings and results through snapshots and evaluation matches, a checkpoint resumes bit for bit
on as many ranks, and the torchrun CLI runs the league with rank 0 writing its files."""

import json
import os

import numpy as np
import pytest
import torch

from ranks_driver import torchrun_parts
from tolerances import FLOAT32_ROUNDING_TOL

pytest.importorskip("rsl_rl")
pytest.importorskip("openskill")


@pytest.fixture(scope="module")
def league(tmp_path_factory):
  """One launch of 2 gloo ranks: the league run and the league's CLI (tests/ranks_driver.py)."""
  out = tmp_path_factory.mktemp("league")
  proc = torchrun_parts(out, "league", "league_cli")
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return out, proc.stdout


def test_league_on_two_gloo_ranks(league, monkeypatch):
  """2 ranks x 8 worlds x 2 slots (gloo) against 1 process x 16 worlds x 4 slots, same seed:
  the same worlds (draws by global world), opponents (rank 0 samples all 4 slots) and, with
  one minibatch per rank and the action noise of one process, the same first PPO update to
  float rounding (the ranks' sums are all-reduced in another order). On the ranks: parameters
  bitwise equal after every update, every rank holds rank 0's pool (snapshot weights),
  ratings, results and learner results after snapshots and evaluation matches, the
  evaluation's outcomes cover all 4 matches, and the checkpoint (every rank's worlds) resumes
  bit for bit on 2 ranks; a one-process run refuses it."""
  import ranks_driver

  from pywarp_sim import train
  from pywarp_sim.selfplay.league_run import LeagueCfg, LeagueRun
  out, _ = league
  for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
    monkeypatch.delenv(k, raising=False)
  ranks = [torch.load(out / f"league_rank{r}.pt", weights_only=True) for r in range(2)]
  threads = torch.get_num_threads()
  try:
    with torch.random.fork_rng():
      torch.set_num_threads(1)
      monkeypatch.setattr(train, "runner_cfg", ranks_driver.shared_noise(train.runner_cfg))
      one = LeagueRun(LeagueCfg(num_envs=16, **{**ranks_driver.LEAGUE, "nslot": 4}))
      one.iteration_step()
      reference = ranks_driver.params(one)
      with pytest.raises(ValueError, match="written by a run on 2 rank"):
        one.load_state_dict(torch.load(out / "league.pt", weights_only=True))
  finally:
    torch.set_num_threads(threads)
  for part in ("actor", "critic"):
    for k, v in reference[part].items():
      torch.testing.assert_close(ranks[0]["first"][part][k], v, rtol=0, atol=FLOAT32_ROUNDING_TOL,
                                 msg=f"{part}.{k}")

  a, b = ranks
  for part in ("first", "final", "resumed"):
    for net in ("actor", "critic"):
      for k, v in a[part][net].items():
        assert torch.equal(v, b[part][net][k]), (part, net, k)
  assert all(r["params_in_sync"] and r["league_in_sync"] and r["ranks"] == 2 for r in a["records"])
  assert a["records"][1]["pool_size"] == 1 and len(a["league"]["snapshots"]) == 2
  for key in ("ratings", "results", "learner_results", "rating_history", "rng"):
    assert a["league"][key] == b["league"][key], key
  for sa, sb in zip(a["league"]["snapshots"], b["league"]["snapshots"]):
    assert all(torch.equal(x, y) for x, y in zip(sa["weights"] + sa["biases"], sb["weights"] + sb["biases"]))
  assert a["slots"] == b["slots"] and len(a["slots"]) == 4
  assert a["evaluation"] == b["evaluation"] and sum(a["evaluation"]["opponents"][0]) == 4  # all 4 matches, both ranks'
  results = np.array(a["league"]["results"])
  assert results[1, 0].sum() == 4 and results[0, 1].sum() == 4
  # the run resumed from the checkpoint replays iteration 2 bit for bit, every rank its worlds
  for r in ranks:
    for net in ("actor", "critic"):
      for k, v in r["final"][net].items():
        assert torch.equal(r["resumed"][net][k], v), (net, k)
    assert torch.equal(r["resumed_qpos"], r["qpos"])
  assert not torch.equal(a["qpos"], b["qpos"])  # no two ranks simulate the same worlds


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning 2 ranks needs 2 cores")
def test_league_cli_ranks_pinned_to_cores_of_their_own(league):
  """`selfplay train --cpu-cores-per-rank 1` under torchrun: each rank on one core, a different
  one, with one torch thread."""
  out, _ = league
  seen = [json.loads((out / f"cores_league_cli_rank{r}.json").read_text()) for r in (0, 1)]
  assert all(len(s["cores"]) == 1 and s["torch_threads"] == 1 for s in seen)
  assert seen[0]["cores"] != seen[1]["cores"]


def test_league_cli_under_torchrun(league):
  """`torchrun --nproc_per_node=2 -m pywarp_sim.selfplay train` (its main on both ranks):
  every iteration in sync over both ranks, a snapshot with its evaluation, the final matches
  over both ranks' worlds, and rank 0's files (checkpoint with both ranks' environments,
  history, summary, plots)."""
  out, stdout = league
  run = out / "league_cli"
  history = json.loads((run / "history.json").read_text())
  assert [h["it"] for h in history] == [0, 1] and "evaluation" in history[1]
  assert all(h["ranks"] == 2 and h["params_in_sync"] and h["league_in_sync"] for h in history)
  assert all(h["total_env_steps_per_s"] > h["env_steps_per_s"] for h in history)
  summary = json.loads((run / "summary.json").read_text())
  assert summary["ranks"] == 2 and summary["pool"] == [0, 2] and summary["final_vs_initial"]["matches"] == 4
  state = torch.load(run / "league.pt", weights_only=True)
  assert state["ranks"] == 2 and len(state["env_ranks"]) == 2 and len(state["slot_ids"]) == 4
  assert (run / "ratings.png").is_file() and (run / "win_rates.png").is_file()
  assert stdout.count("[pws.selfplay] it ") == 2  # rank 0 alone prints


def test_sumo_shards_step_as_the_whole_batch():
  """Two SumoEnv shards of 8 worlds (world_offset 0 and 8 of num_envs_total 16) and one env of
  16 with the same seed and actions: every step's observations, rewards, dones, outcomes and
  states are bitwise the 16-world env's rows, through resets that end in one shard and not
  the other (its start-state draws skipped, their keys taken: WorldDraws.skip). In-process."""
  from pywarp_sim.selfplay.sumo import SumoCfg, SumoEnv
  one = SumoEnv(SumoCfg(seed=5), 16)
  shards = [SumoEnv(SumoCfg(seed=5, world_offset=8 * r, num_envs_total=16), 8)
            for r in range(2)]
  assert torch.equal(one.sim.qpos, torch.cat([s.sim.qpos for s in shards]))
  g = torch.Generator().manual_seed(0)
  one_sided = 0
  for _ in range(30):
    a, b = (5.0 * torch.randn(16, one.num_actions, generator=g) for _ in range(2))  # robots fall
    full = one.step_pair(a, b)
    parts = [s.step_pair(a[8 * r:8 * r + 8], b[8 * r:8 * r + 8]) for r, s in enumerate(shards)]
    assert torch.equal(full[0]["policy"], torch.cat([p[0]["policy"] for p in parts]))
    for i in (1, 2):
      assert torch.equal(full[i], torch.cat([p[i] for p in parts]))
    assert torch.equal(full[3]["outcome"], torch.cat([p[3]["outcome"] for p in parts]))
    assert torch.equal(one.sim.qpos, torch.cat([s.sim.qpos for s in shards]))
    one_sided += bool(parts[0][2].any()) != bool(parts[1][2].any())
  assert one_sided >= 2, "some resets must end episodes in one shard only"
