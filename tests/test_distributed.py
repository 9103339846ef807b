"""torch.distributed on CPU ranks over gloo (pywarp_sim.distributed): data-parallel PPO under
torchrun, one update on 2 ranks vs 1, and the academy's calibration sharded over ranks; the
2-rank sides run in one torchrun launch (tests/ranks_driver.py, the `ranks` fixture)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from pywarp_sim import distributed
from ranks_driver import torchrun_parts
from tolerances import FLOAT32_ROUNDING_TOL

pytest.importorskip("rsl_rl")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
  """One launch of 2 gloo ranks for this module's checks: training and its resume, one PPO
  update, the academy's calibration (ranks_driver.py)."""
  out = tmp_path_factory.mktemp("ranks")
  proc = torchrun_parts(out, "train", "update", "calibrate")
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return out


def test_two_gloo_ranks_train_in_sync_and_resume(ranks):
  """2 CPU ranks (`pywarp_sim.train`'s CLI under torchrun): parameters bitwise equal on both
  after every update, rank 0 alone writes the run's files, and the run resumes on the same
  number of ranks."""
  run = ranks / "run"
  history = json.loads((run / "history.json").read_text())
  assert [h["it"] for h in history] == [0, 1]
  assert all(h["ranks"] == 2 and h["params_in_sync"] for h in history)
  assert all(h["total_steps_per_s"] > h["steps_per_s"] for h in history)
  record = json.loads((run / "pws_train.json").read_text())
  # the ranks' shards (world_offset, num_envs_total) are not the run's env: play builds one env
  assert record["ranks"] == 2 and record["env"]["seed"] == 0
  assert not {"world_offset", "num_envs_total"} & set(record["env"])
  assert (run / "model_1.pt").is_file()
  resumed = json.loads((ranks / "resumed" / "history.json").read_text())
  assert [h["it"] for h in resumed] == [2] and resumed[0]["params_in_sync"]
  assert torch.load(ranks / "resumed" / "model_2.pt", weights_only=True)["iter"] == 2


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning 2 ranks needs 2 cores")
def test_cpu_ranks_pinned_to_cores_of_their_own(ranks):
  """`--cpu-cores-per-rank 1` (the resumed run): each rank runs on one core, a different one,
  with one torch thread."""
  seen = [json.loads((ranks / f"cores_train_rank{r}.json").read_text()) for r in (0, 1)]
  assert all(len(s["cores"]) == 1 and s["torch_threads"] == 1 for s in seen)
  assert seen[0]["cores"] != seen[1]["cores"]


def test_pinning_more_cores_than_the_node_has_is_refused():
  """A local rank whose block of cores lies past the node's: ValueError naming the counts,
  and the process keeps its cores."""
  before = os.sched_getaffinity(0)
  n = len(before)
  with pytest.raises(ValueError, match=rf"local rank 1 needs cores {n}\.\.{2 * n - 1} of this node's {n}"):
    distributed.pin_cpu_cores(distributed.Rank(rank=1, local_rank=1, world_size=2), n)
  with pytest.raises(ValueError, match="cores_per_rank must be >= 1"):
    distributed.pin_cpu_cores(distributed.Rank(), 0)
  assert os.sched_getaffinity(0) == before


def test_one_ppo_update_on_two_gloo_ranks_equals_one_rank_with_all_envs(ranks, monkeypatch):
  """2 ranks x 8 envs (gloo) and 1 rank x 16 envs of humanoid-walk with reset noise and domain
  randomisation (ranks_driver.WALK; every world resets once in the 4-step rollout): the same
  rollout, then one PPO update (2 epochs, one minibatch per rank). The parameters after it
  agree to float rounding: the ranks' sums (gradients, normaliser moments, advantage mean and
  std) are all-reduced, so float32 adds in another order (measured: at most 1.3e-7 apart;
  weights up to 0.18, the action std 1.0 and normaliser moments up to 1.3, the update moves
  the weights by up to 2.5e-3; with each rank's envs seeded seed + rank instead of sharded by
  global world the two were 0.12 apart; on noise-free humanoid-stand, rsl-rl's per-rank
  advantage standardisation left them 5e-3 apart)."""
  import ranks_driver
  for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
    monkeypatch.delenv(k, raising=False)
  threads = torch.get_num_threads()
  try:
    with torch.random.fork_rng():
      torch.set_num_threads(1)
      one = ranks_driver.one_ppo_update(16)  # one rank: this process
  finally:
    torch.set_num_threads(threads)
  two = torch.load(ranks / "update.pt", weights_only=True)
  # the same adaptive-lr decision (rsl-rl broadcasts rank 0's learning rate as a float32 tensor)
  assert two["lr"] == pytest.approx(one["lr"], rel=FLOAT32_ROUNDING_TOL)
  for part in ("actor", "critic"):
    assert one[part].keys() == two[part].keys()
    for k, v in one[part].items():
      torch.testing.assert_close(two[part][k], v, rtol=0, atol=FLOAT32_ROUNDING_TOL, msg=f"{part}.{k}")


def test_two_shards_of_n_worlds_draw_and_simulate_the_2n_world_env():
  """Two shards of 8 humanoid-walk worlds (world_offset 0 and 8 of num_envs_total 16) and one
  env of 16 with the same seed: every per-world draw (parameter banks, gains, latency, pushes,
  reset noise, yaw, commands, observation and action noise) and so every step's observations,
  rewards, dones and state are bitwise the 16-world env's rows, through resets; another seed
  gives other worlds. In-process, no torch.distributed."""
  from pywarp_sim import envs
  from ranks_driver import WALK
  n = 8
  one = envs.make("humanoid-walk", 2 * n, "cpu", **WALK)
  shards = [envs.make("humanoid-walk", n, "cpu", world_offset=r * n, num_envs_total=2 * n, **WALK)
            for r in range(2)]
  other = envs.make("humanoid-walk", n, "cpu", **{**WALK, "seed": 4}, world_offset=n, num_envs_total=2 * n)

  import warp as wp

  def banks(env):  # one bank row per world (the randomiser's physical terms), then the rest
    rz = env.randomizer
    return [wp.to_torch(b) for b in env.sim.model.banks().values()] + [
      rz.kp_scale, rz.kd_scale, rz.latency, rz.push_force, env.commands, env.sim.qpos, env.sim.qvel]

  def same(full, parts):
    return all(torch.equal(f, torch.cat(p)) for f, p in zip(full, zip(*parts)))

  assert same(banks(one), [banks(e) for e in shards])
  assert not torch.equal(banks(other)[0], banks(shards[1])[0])
  g = torch.Generator().manual_seed(0)
  resets = 0
  for _ in range(8):
    a = 0.3 * torch.randn(2 * n, 21, generator=g)
    full = one.step(a)
    parts = [e.step(a[r * n:(r + 1) * n]) for r, e in enumerate(shards)]
    assert torch.equal(full[0]["policy"], torch.cat([p[0]["policy"] for p in parts]))
    for i in (1, 2):
      assert torch.equal(full[i], torch.cat([p[i] for p in parts]))
    assert same(banks(one), [banks(e) for e in shards])
    resets += int(full[2].sum())
  assert resets >= 2 * n  # every world reset at least once (3-step episodes)


def test_calibration_sharded_over_two_gloo_ranks_equals_one_process(ranks, tmp_path):
  """The academy's calibration with every batch of candidates split over 2 CPU ranks (gloo)
  gives bitwise the one-process result: estimate, intervals, covariance and search history."""
  cmd = [sys.executable, "-m", "pywarp_sim.academy", "calibrate", "--quick", "--generations", "2", "--popsize", "4",
         "--threads", "1", "--out", str(tmp_path / "one.json")]
  # one torch/BLAS thread, as torchrun gives each rank (calibrate.py, Sharded over ranks)
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  results = {1: json.loads((tmp_path / "one.json").read_text()),
             2: json.loads((ranks / "calibration.json").read_text())}
  assert results[1]["ranks"] == 1 and results[2]["ranks"] == 2
  one, two = results[1]["calibrations"][0], results[2]["calibrations"][0]
  assert len(one["history"]) > 5 and one["history"] == two["history"]
  assert one["params"] == two["params"] and one["covariance_z"] == two["covariance_z"]
  one.pop("wall_s"), two.pop("wall_s")
  assert one == two


def test_shards_cover_the_batch_in_equal_shares():
  for n, world in ((96, 2), (7, 2), (1, 2), (10, 3)):
    shares = [distributed.shard(n, distributed.Rank(r, r, world)) for r in range(world)]
    assert all(hi - lo == -(-n // world) for lo, hi in shares)  # one size: all_gather needs it
    assert shares[0][0] == 0 and all(a[1] == b[0] for a, b in zip(shares, shares[1:]))
    assert shares[-1][1] >= n  # every row has a rank; rows past n are padding
  assert distributed.shard(5, distributed.Rank()) == (0, 5)


def test_rank_from_the_torchrun_environment(monkeypatch):
  for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
    monkeypatch.delenv(k, raising=False)
  assert distributed.current() == distributed.Rank(0, 0, 1) and not distributed.current().distributed
  monkeypatch.setenv("RANK", "3")
  monkeypatch.setenv("LOCAL_RANK", "1")
  monkeypatch.setenv("WORLD_SIZE", "4")
  r = distributed.current()
  assert r == distributed.Rank(3, 1, 4) and r.distributed and not r.main
  assert distributed.rank_seed(10, r) == 13  # policy sampling seeded per rank
  # rank 3 of 4 simulates global worlds 24..31 of 32 (no two ranks the same worlds)
  assert distributed.world_shard(8, r) == {"world_offset": 24, "num_envs_total": 32}
  assert distributed.world_shard(8, distributed.Rank()) == {}
  assert distributed.rank_device("cpu", r) == "cpu"
  if not torch.cuda.is_available():
    with pytest.raises(ValueError, match="needs cuda:1"):
      distributed.rank_device("cuda", r)
  monkeypatch.setenv("RANK", "4")
  with pytest.raises(ValueError, match="inconsistent torchrun environment"):
    distributed.current()
  monkeypatch.setenv("RANK", "x")
  with pytest.raises(ValueError, match="RANK='x' is not an integer"):
    distributed.current()
  assert distributed.any_rank(True) and not distributed.any_rank(False)  # not initialised
