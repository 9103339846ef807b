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
from tolerances import FLOAT32_ROUNDING_TOL

pytest.importorskip("rsl_rl")

# humanoid-walk's defaults (reset joint and velocity noise, velocity commands resampled) with a
# random yaw, short episodes and domain randomisation of every kind an env draws per world
DR = dict(body_mass_scale=(0.8, 1.2), body_com_offset=(-0.01, 0.01), dof_damping_scale=(0.5, 1.5),
          dof_armature_scale=(0.9, 1.1), actuator_strength_scale=(0.8, 1.0), geom_friction_scale=(0.7, 1.3),
          gravity_offset=(-0.2, 0.2), kp_scale=(0.9, 1.1), kd_scale=(0.8, 1.2), latency_steps=(0, 2),
          push_interval=2, push_force=(20.0, 60.0), obs_noise_std=0.01, action_noise_std=0.05)
# 3-step episodes and 2-step command periods: a 4-step rollout resets, pushes and resamples
WALK = dict(randomization=DR, seed=3, init_random_yaw=True, episode_length_s=0.06, command_resample_s=0.04)


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
  record = json.loads((run / "pws_train.json").read_text())
  # the ranks' shards (world_offset, num_envs_total) are not the run's env: play builds one env
  assert record["ranks"] == 2 and record["env"]["seed"] == 0
  assert not {"world_offset", "num_envs_total"} & set(record["env"])
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
  pywarp_sim.distributed, One update on R ranks): humanoid-walk with reset noise and domain
  randomisation (WALK), each rank's envs the shard world_shard gives it (draws by global
  world, the same env seed), the same torch seed on every rank and the actions' noise drawn
  by RankShareGaussian."""
  if world > 1:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
  torch.set_num_threads(1)
  from pywarp_sim import envs, train
  torch.manual_seed(0)
  env = envs.make("humanoid-walk", envs_per_rank, "cpu", **WALK,
                  **distributed.world_shard(envs_per_rank, distributed.current()))
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
  """2 ranks x 8 envs (gloo) and 1 rank x 16 envs of humanoid-walk with reset noise and domain
  randomisation (WALK; every world resets once in the 4-step rollout): the same rollout, then
  one PPO update (2 epochs, one minibatch per rank). The parameters after it agree to float
  rounding: the ranks' sums (gradients, normaliser moments, advantage mean and std) are
  all-reduced, so float32 adds in another order (measured: at most 1.3e-7 apart; weights up
  to 0.18, the action std 1.0 and normaliser moments up to 1.3, the update moves the weights
  by up to 2.5e-3; with each rank's envs seeded seed + rank instead of sharded by global world
  the two were 0.12 apart; on noise-free humanoid-stand, rsl-rl's per-rank advantage
  standardisation left them 5e-3 apart)."""
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
