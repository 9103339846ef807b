"""torch.distributed on CPU ranks over gloo (pywarp_sim.distributed): data-parallel PPO under
torchrun, one update on 2 ranks vs 1, and the academy's calibration sharded over ranks."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from pywarp_sim import distributed

pytest.importorskip("rsl_rl")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _torchrun(nproc: int, *args) -> subprocess.CompletedProcess:
  cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
         f"--master_port={_free_port()}", "-m", "pywarp_sim.train", "--task", "humanoid-stand",
         "--device", "cpu", "--num-envs", "8", "--num-steps-per-env", "4", "--quiet", *args]
  return subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_two_gloo_ranks_train_in_sync_and_resume(tmp_path):
  """2 CPU ranks: parameters bitwise equal on both after every update, rank 0 alone writes
  the run's files, and the run resumes on the same number of ranks."""
  run = tmp_path / "run"
  proc = _torchrun(2, "--iterations", "2", "--log-dir", str(run))
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  history = json.loads((run / "history.json").read_text())
  assert [h["it"] for h in history] == [0, 1]
  assert all(h["ranks"] == 2 and h["params_in_sync"] for h in history)
  assert all(h["total_steps_per_s"] > h["steps_per_s"] for h in history)
  assert json.loads((run / "pws_train.json").read_text())["ranks"] == 2
  assert (run / "model_1.pt").is_file()
  proc = _torchrun(2, "--iterations", "1", "--log-dir", str(tmp_path / "resumed"),
                   "--resume", str(run / "model_1.pt"))
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  resumed = json.loads((tmp_path / "resumed" / "history.json").read_text())
  assert [h["it"] for h in resumed] == [2] and resumed[0]["params_in_sync"]
  assert torch.load(tmp_path / "resumed" / "model_2.pt", weights_only=True)["iter"] == 2


def _one_ppo_update(rank: int, world: int, envs_per_rank: int, port: int, out: str):
  """torch.multiprocessing worker: one PPO iteration (rollout + update) of the runner that
  pywarp_sim.train builds, `world` gloo ranks of `envs_per_rank` envs; rank 0 saves the
  parameters after the update. The rollout of the ranks is one process's (module doc of
  pywarp_sim.distributed, One update on R ranks): envs without random resets or domain
  randomisation (a world is a function of its actions), the same torch seed on every rank and
  the actions' noise drawn by RankShareGaussian."""
  if world > 1:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
  torch.set_num_threads(1)
  from pywarp_sim import envs, train
  torch.manual_seed(0)
  env = envs.make("humanoid-stand", envs_per_rank, "cpu", init_joint_noise=0.0, init_vel_noise=0.0)
  cfg = train.runner_cfg(num_steps_per_env=4, hidden_dims=(32, 32), num_learning_epochs=2,
                         num_mini_batches=1)
  cfg["actor"]["distribution_cfg"]["class_name"] = "pywarp_sim.distributed:RankShareGaussian"
  runner = train.make_runner(env, cfg, None, "cpu")
  import builtins
  quiet, builtins.print = builtins.print, (lambda *a, **k: None)  # rsl-rl's console block
  try:
    runner.learn(num_learning_iterations=1)
  finally:
    builtins.print = quiet
  if rank == 0:
    torch.save({"actor": runner.alg.actor.state_dict(), "critic": runner.alg.critic.state_dict(),
                "lr": runner.alg.learning_rate}, out)
  distributed.finish()


def test_one_ppo_update_on_two_gloo_ranks_equals_one_rank_with_all_envs(tmp_path, monkeypatch):
  """2 ranks x 8 envs (gloo) and 1 rank x 16 envs: the same rollout, then one PPO update (2
  epochs, one minibatch per rank). The parameters after it agree to float rounding: the
  ranks' sums (gradients, normaliser moments, advantage mean and std) are all-reduced, so
  float32 adds in another order (measured: at most 1.2e-7 apart; weights up to 0.18 and
  normaliser moments up to 1.3, the update moves the weights by up to 2.5e-3; with rsl-rl's
  per-rank advantage standardisation the two were 5e-3 apart)."""
  import torch.multiprocessing as mp
  for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
    monkeypatch.delenv(k, raising=False)
  threads = torch.get_num_threads()
  try:
    with torch.random.fork_rng():
      _one_ppo_update(0, 1, 16, 0, str(tmp_path / "1.pt"))  # one rank: this process
  finally:
    torch.set_num_threads(threads)
  mp.spawn(_one_ppo_update, args=(2, 8, _free_port(), str(tmp_path / "2.pt")), nprocs=2)
  one, two = (torch.load(tmp_path / f"{w}.pt", weights_only=True) for w in (1, 2))
  # the same adaptive-lr decision (rsl-rl broadcasts rank 0's learning rate as a float32 tensor)
  assert two["lr"] == pytest.approx(one["lr"], rel=1e-7)
  for part in ("actor", "critic"):
    assert one[part].keys() == two[part].keys()
    for k, v in one[part].items():
      torch.testing.assert_close(two[part][k], v, rtol=0, atol=1e-6, msg=f"{part}.{k}")


def _academy_calibrate(nproc: int, out) -> subprocess.CompletedProcess:
  launch = [sys.executable] if nproc == 1 else [
    sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", f"--master_port={_free_port()}"]
  cmd = launch + ["-m", "pywarp_sim.academy", "calibrate", "--quick", "--generations", "2", "--popsize", "4",
                  "--threads", "1", "--out", str(out)]
  # one torch/BLAS thread in both runs, as torchrun gives each rank (calibrate.py, Sharded over ranks)
  return subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_calibration_sharded_over_two_gloo_ranks_equals_one_process(tmp_path):
  """The academy's calibration with every batch of candidates split over 2 CPU ranks (gloo)
  gives bitwise the one-process result: estimate, intervals, covariance and search history."""
  results = {}
  for nproc in (1, 2):
    proc = _academy_calibrate(nproc, tmp_path / f"{nproc}.json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results[nproc] = json.loads((tmp_path / f"{nproc}.json").read_text())
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
  assert distributed.rank_seed(10, r) == 13  # seeds offset by rank: other worlds per rank
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
