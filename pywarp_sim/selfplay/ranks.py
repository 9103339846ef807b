"""The self-play league on several ranks (torchrun): every rank plays, one shared pool.

  torchrun --nproc_per_node=N -m pywarp_sim.selfplay train --num-envs 256 --nslot 8 ...
  torchrun --nproc_per_node=N -m pywarp_sim.selfplay train --resume runs/selfplay/<stamp>/league.pt

`RankedLeagueRun` is a LeagueRun (selfplay/league_run.py) of one rank of R, with `--num-envs`
worlds and `--nslot` opponent slots per rank:

  * worlds: rank r's training env holds global worlds [r N, (r + 1) N) of R x N (SumoCfg
    world_offset / num_envs_total: each world's start states are that global world's in one
    env of R x N worlds with the same seed, randomize.WorldDraws), its evaluation env the
    global evaluation worlds [r E / R, (r + 1) E / R) of E = eval_envs (R divides E);
  * the learner: rsl-rl-lib's PPO through pywarp_sim.distributed's runner (gradients and
    observation-normaliser statistics all-reduced, advantages standardised over all ranks),
    parameters broadcast from rank 0 at the start; every rank builds its networks from the
    same seed, then samples its actions with rank_seed's (or, with the actor distribution
    pywarp_sim.distributed:RankShareGaussian, keeps one torch seed on every rank and takes
    its rows of one draw for all R x N worlds: the rollout of one process with R x N worlds);
  * the pool: rank 0 owns it. Each iteration rank 0 samples the opponents of all R x nslot
    slots (global slot r x nslot + s is rank r's local slot s) and broadcasts them; the
    learner's results per slot are all-gathered into the league; at every snapshot each rank
    plays its share of the evaluation matches, the outcomes of all evaluation worlds are
    all-gathered before the ratings are updated; at the end of each iteration rank 0
    broadcasts its league (pool statistics, ratings, its random generator, the weights of
    the snapshots added since the last broadcast), so every rank holds rank 0's pool;
  * files: rank 0 alone writes logs, plots and checkpoints; a checkpoint holds every rank's
    environment state ("env_ranks") and resumes on the same number of ranks only.

With the same seed, R ranks of N worlds and nslot slots each draw the worlds and opponents of
one process with R x N worlds and R x nslot slots; with RankShareGaussian and one minibatch
per rank (num_mini_batches = 1) the first PPO update is that process's to float rounding
(tests/test_distributed_selfplay.py; pywarp_sim/distributed.py, One update on R ranks).

Each iteration's record gains "ranks", "total_env_steps_per_s" (all ranks), "params_in_sync"
(actor and critic bitwise equal on every rank) and "league_in_sync" (every rank's pool,
ratings and results bitwise rank 0's after the broadcast).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from .. import distributed
from .league_run import LeagueCfg, LeagueRun, write_checkpoint

SHARED_NOISE = "pywarp_sim.distributed:RankShareGaussian"


def run_class(rank: distributed.Rank | None = None) -> type:
  """LeagueRun in one process, RankedLeagueRun under torchrun (WORLD_SIZE > 1)."""
  rank = distributed.current() if rank is None else rank
  return RankedLeagueRun if rank.distributed else LeagueRun


class RankedLeagueRun(LeagueRun):
  """One rank's share of a self-play run on R ranks (module doc). Same arguments as LeagueRun;
  cfg.num_envs and cfg.nslot are per rank, cfg.eval_envs is over all ranks, cfg.device
  "cuda" means cuda:LOCAL_RANK. Only rank 0 keeps `log_dir` (TensorBoard)."""

  def __init__(self, cfg: LeagueCfg, log_dir: str | None = None):
    self.rank = distributed.current()
    if not self.rank.distributed:
      raise ValueError("RankedLeagueRun needs torchrun (WORLD_SIZE > 1); in one process use LeagueRun")
    if cfg.eval_envs % self.rank.world_size:
      raise ValueError(f"eval_envs={cfg.eval_envs} evaluation worlds cannot be split over "
                       f"{self.rank.world_size} ranks; give a multiple of the rank count (--eval-envs)")
    cfg = dataclasses.replace(cfg, device=distributed.rank_device(cfg.device, self.rank))
    self.slot_ids_all = [0] * (self.rank.world_size * cfg.nslot)
    super().__init__(cfg, log_dir=log_dir if self.rank.main else None)
    self.runner.alg.broadcast_parameters()  # rank 0's networks (built from one seed everywhere)
    self._synced = 0
    self.sync_league()
    distribution = self.runner_cfg["actor"].get("distribution_cfg", {}).get("class_name")
    if distribution != SHARED_NOISE:  # policy sampling per rank (else: one draw for all worlds)
      torch.manual_seed(distributed.rank_seed(cfg.seed, self.rank))

  @property
  def world_size(self) -> int:
    return self.rank.world_size

  # ---- LeagueRun's hooks ---------------------------------------------------------------
  def _env_shards(self) -> tuple:
    r, n, e = self.rank, self.cfg.num_envs, self.cfg.eval_envs // self.rank.world_size
    train = {"world_offset": r.rank * n, "num_envs_total": r.world_size * n}
    return train, {"world_offset": r.rank * e, "num_envs_total": self.cfg.eval_envs}, e

  def _assign_opponents(self):
    """Rank 0 samples every slot's opponent; each rank takes its slots' snapshots."""
    ids = self.league.sample(len(self.slot_ids_all)) if self.rank.main else None
    self.slot_ids_all = [int(i) for i in distributed.broadcast_object(
      None if ids is None else [int(i) for i in ids])]
    nslot = self.cfg.nslot
    for slot, member in enumerate(self.slot_ids_all[self.rank.rank * nslot:(self.rank.rank + 1) * nslot]):
      self.opponents.set_slot(slot, self.league.snapshots[member].to(self.opponents.device), member)

  def _record_training(self, counts: np.ndarray) -> np.ndarray:
    """Every rank's (nslot, 3) results all-gathered into (R x nslot, 3), given to the league."""
    mine = torch.as_tensor(counts, dtype=torch.float64, device=self.env.device)
    everyone = distributed.gather_shares(mine, mine.shape[0] * self.rank.world_size).cpu().numpy()
    self.league.record_training(self.slot_ids_all, everyone)
    return everyone

  def _eval_sides(self, side_a: list, side_b: list) -> tuple:
    """The global evaluation slots (blocks of E / len(side_b) worlds) seen from this rank's
    E / R worlds: local blocks of gcd(E / R, E / len(side_b)) worlds, each with the sides of
    the global slot it lies in."""
    e_all, e = self.cfg.eval_envs, self.eval_env.num_envs
    group = e_all // len(side_b)
    block = math.gcd(e, group)
    first = self.rank.rank * e
    slots = [(first + i * block) // group for i in range(e // block)]
    return ([side_a[0]] if len(side_a) == 1 else [side_a[s] for s in slots]), [side_b[s] for s in slots]

  def _all_outcomes(self, outcomes: np.ndarray) -> np.ndarray:
    mine = torch.as_tensor(outcomes.astype(np.int64), device=self.eval_env.device)
    return distributed.gather_shares(mine, self.cfg.eval_envs).cpu().numpy().astype(np.int8)

  # ---- the shared pool -------------------------------------------------------------------
  def sync_league(self):
    """Rank 0's league on every rank (broadcast): its statistics, ratings and random
    generator, and the weights of the members added since the last call (the others keep
    theirs)."""
    msg = None
    if self.rank.main:
      state = self.league.state_dict()
      msg = {"league": {k: v for k, v in state.items() if k != "snapshots"},
             "new": state["snapshots"][self._synced:]}
    msg = distributed.broadcast_object(msg)
    if not self.rank.main:
      known = [s.state_dict() for s in self.league.snapshots[:self._synced]]
      self.league.load_state_dict({**msg["league"], "snapshots": known + msg["new"]})
    self._synced = len(self.league)

  def league_checksum(self) -> list:
    """Tensors of this rank's pool (snapshot weights), ratings, results and learner results."""
    out = [torch.as_tensor(self.league.mu()), torch.as_tensor(self.league.sigma()),
           torch.as_tensor(self.league.results), torch.as_tensor(self.league.learner_results),
           torch.tensor(self.slot_ids_all, dtype=torch.float64)]
    for s in self.league.snapshots:
      out += [s.mean, s.std, *s.weights, *s.biases]
    return out

  def iteration_step(self) -> dict:
    rec = super().iteration_step()
    self.sync_league()
    alg, dev = self.runner.alg, self.env.device
    total = torch.tensor([rec["env_steps_per_s"]], dtype=torch.float64, device=dev)
    torch.distributed.all_reduce(total)
    rec.update(ranks=self.rank.world_size, total_env_steps_per_s=float(total.item()),
               params_in_sync=distributed.all_ranks_equal(
                 list(alg.actor.state_dict().values()) + list(alg.critic.state_dict().values()), dev),
               league_in_sync=distributed.all_ranks_equal(self.league_checksum(), dev))
    return rec

  # ---- checkpoints -------------------------------------------------------------------------
  def state_dict(self) -> dict:
    """LeagueRun's state with every rank's environment ("env_ranks", rank order; gathered:
    every rank calls it), the global slots' members and the rank count."""
    state = super().state_dict()
    envs = [None] * self.rank.world_size
    torch.distributed.all_gather_object(envs, state["env"])
    state.update(env=envs[0], env_ranks=envs, slot_ids=list(self.slot_ids_all), ranks=self.rank.world_size)
    return state

  def save(self, path):
    """Every rank gathers the state; rank 0 writes it (league_run.write_checkpoint)."""
    state = self.state_dict()
    if self.rank.main:
      write_checkpoint(path, state)
    torch.distributed.barrier()

  def load_state_dict(self, state: dict):
    nslot = self.cfg.nslot
    self.slot_ids_all = [int(i) for i in state["slot_ids"]]
    r = self.rank.rank
    mine = {**state, "env": state["env_ranks"][r], "slot_ids": self.slot_ids_all[r * nslot:(r + 1) * nslot]}
    super().load_state_dict(mine)
    self._synced = len(self.league)
