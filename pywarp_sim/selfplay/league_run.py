"""Self-play training: PPO for agent A against the league's snapshots for agent B.

One iteration (`LeagueRun.iteration`):
  1. opponents: the league samples one member per slot (League.sample) and the slots' rows of
     the OpponentBatch get its weights (device copies);
  2. rollout: `num_steps_per_env` steps of the SumoEnv, agent A's actions from rsl-rl-lib's
     PPO (sampled), agent B's from the slots' snapshots (mean actions), all on the device;
  3. PPO update (rsl-rl-lib 5.5.1's PPO, built by pywarp_sim.train.make_runner);
  4. the learner's wins/draws/losses per slot go to the league (PFSP's win rates);
  5. every `snapshot_interval` iterations: a snapshot of the actor joins the pool (with
     `snapshot_gate` > 0 only if it scores at least that against the newest member over
     `eval_envs` gate matches, wins + draws / 2 over matches, as AlphaGo Zero's evaluator; a
     candidate that scores less is dropped and the next interval's tried) and plays
     `eval_envs` evaluation matches (one episode per world, both sides deterministic) against
     `eval_opponents` earlier members (League.evaluation_opponents: the initial one, the
     newest and the rest spread over the pool; `eval_newest_share` of the matches against the
     newest); the results go into the win-rate matrix and
     the openskill ratings of every member are refitted to all matches so far
     (League.refit_ratings, `rating_passes` orders).

`save(path)` / `LeagueRun.load(path, ...)`: one file with the actor, critic, Adam state,
learning rate, iteration, the environments' full state (pywarp_sim.checkpoint: simulator,
env buffers, torch's RNG), the league (pool, ratings, results, its numpy RNG) and the slots'
opponents, so training resumed from it continues bit for bit as the uninterrupted run (same
device, backend and world count). Written atomically, read with torch.load(weights_only=True).

On several ranks (torchrun): selfplay/ranks.py's RankedLeagueRun, through the hooks below
(_env_shards, _record_training, _eval_sides, _all_outcomes, world_size).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import secrets
import time

import numpy as np
import torch

from .. import checkpoint, train as pws_train
from .league import League
from .opponents import OpponentBatch, Snapshot, snapshot_of
from .sumo import SumoCfg, SumoEnv

FORMAT = "pywarp_sim.selfplay/1"


@dataclasses.dataclass
class LeagueCfg:
  """Self-play settings (module doc); `sumo` holds SumoCfg overrides (a dict)."""
  num_envs: int = 256
  nslot: int = 8                    # opponent slots (blocks of worlds), divides num_envs
  device: str = "cpu"
  backend: str = "auto"
  seed: int = 0
  num_steps_per_env: int = 32
  hidden_dims: tuple = (128, 64)
  learning_rate: float = 1e-3
  entropy_coef: float = 0.005
  init_std: float = 0.1             # small: noise on the joint targets topples the learner (0.3: 98%
                                    # of its training games lost after 50 iterations; 0.1: 50-65%)
  # the actor's output layer scaled by this at initialisation (Andrychowicz et al. 2021, "What
  # matters in on-policy RL": ~100x smaller): the mean actions start near 0 (the PD law holds
  # the default pose) whatever the observations, so the observation normalizer's first updates
  # (rsl-rl's, from the first rollout on) do not turn the learner into a random flailer
  actor_output_gain: float = 0.01
  snapshot_interval: int = 10       # learner iterations per new pool member
  sampling: str = "pfsp"            # pfsp | uniform | latest
  pfsp_power: float = 2.0
  eval_envs: int = 128              # evaluation matches per new member (one per world)
  eval_opponents: int = 4           # earlier members each new one plays (initial, newest, spread)
  rating_passes: int = 16           # random match orders the ratings are averaged over
  eval_newest_share: float = 0.0    # share of the evaluation matches against the predecessor
  snapshot_gate: float = 0.0        # score a candidate needs against the newest member (0: none)
  sumo: dict = dataclasses.field(default_factory=dict)


def cfg_dict(cfg: LeagueCfg) -> dict:
  d = dataclasses.asdict(cfg)
  d["hidden_dims"] = list(cfg.hidden_dims)
  return d


class LeagueRun:
  """A self-play training run (module doc). Attributes: cfg, env (SumoEnv, training), eval_env
  (SumoEnv, evaluation), runner (rsl-rl OnPolicyRunner), league, opponents (OpponentBatch of
  the training env), iteration (the next iteration's number), history (one record per
  iteration), writer (TensorBoard SummaryWriter or None)."""

  def __init__(self, cfg: LeagueCfg, log_dir: str | None = None):
    if not 0.0 <= cfg.snapshot_gate <= 1.0:
      raise ValueError(f"snapshot_gate must be a score in [0, 1] (0: every snapshot joins), got {cfg.snapshot_gate}")
    self.cfg = cfg
    torch.manual_seed(cfg.seed)
    train_shard, eval_shard, eval_worlds = self._env_shards()
    sumo = SumoCfg(**{"backend": cfg.backend, "seed": cfg.seed, **cfg.sumo})
    self.env = SumoEnv(dataclasses.replace(sumo, **train_shard), cfg.num_envs, cfg.device)
    self.env.set_slots(cfg.nslot)
    self.eval_env = SumoEnv(dataclasses.replace(sumo, seed=cfg.seed + 7919, validate_actions=False, **eval_shard),
                            eval_worlds, cfg.device)
    self.runner_cfg = pws_train.runner_cfg(
      num_steps_per_env=cfg.num_steps_per_env, hidden_dims=tuple(cfg.hidden_dims),
      learning_rate=cfg.learning_rate, entropy_coef=cfg.entropy_coef, init_std=cfg.init_std)
    self.runner = pws_train.make_runner(self.env, self.runner_cfg, None, self.env.device)
    self.activation = self.runner_cfg["actor"]["activation"]
    _scale_output_layer(self.runner.alg.get_policy(), cfg.actor_output_gain)
    self.league = League(cfg.sampling, cfg.pfsp_power, seed=cfg.seed)
    self.league.add(self.snapshot(iteration=0))  # member 0: the initial policy
    self.league.note_ratings(0)
    self.opponents = OpponentBatch(cfg.num_envs, cfg.nslot, self.league.snapshots[0], cfg.device)
    self.env.opponent = self.opponents
    self.iteration = 0
    self.history: list[dict] = []
    self.log_dir = log_dir
    self.writer = None
    if log_dir is not None:
      os.makedirs(log_dir, exist_ok=True)
      from torch.utils.tensorboard import SummaryWriter
      self.writer = SummaryWriter(log_dir=log_dir)

  # ---- the learner ---------------------------------------------------------------------
  def snapshot(self, iteration: int) -> Snapshot:
    return snapshot_of(self.runner.alg.get_policy(), self.activation, iteration)

  def _assign_opponents(self):
    ids = self.league.sample(self.cfg.nslot)
    for slot, member in enumerate(ids):
      self.opponents.set_slot(slot, self.league.snapshots[member].to(self.opponents.device), int(member))

  def iteration_step(self) -> dict:
    """One iteration (module doc, steps 1-5); returns its record."""
    alg, env = self.runner.alg, self.env
    t0 = time.perf_counter()
    self._assign_opponents()
    obs = env.get_observations()
    alg.train_mode()
    with torch.inference_mode():
      for _ in range(self.cfg.num_steps_per_env):
        actions = alg.act(obs)
        obs, rewards, dones, extras = env.step(actions)
        alg.process_env_step(obs, rewards, dones, extras)
      t1 = time.perf_counter()
      alg.compute_returns(obs)
    losses = alg.update()
    t2 = time.perf_counter()
    counts = self._record_training(env.pop_outcomes())
    it = self.iteration
    self.runner.current_learning_iteration = it
    games = counts.sum()
    w, d, l = counts.sum(0) / max(games, 1)
    samples = self.cfg.num_steps_per_env * self.cfg.num_envs
    rec = {"it": it, "env_steps_per_s": samples / (t2 - t0), "collect_env_steps_per_s": samples / (t1 - t0),
           "games": int(games), "win_rate": float(w), "draw_rate": float(d), "loss_rate": float(l),
           **env.pop_episode_stats(), "pool_size": len(self.league),
           "losses": {k: float(v) for k, v in losses.items()}}
    self.iteration += 1
    if self.iteration % self.cfg.snapshot_interval == 0:
      t3 = time.perf_counter()
      candidate = self.snapshot(self.iteration)
      joins = True
      if self.cfg.snapshot_gate > 0:
        rec["gate"] = self.gate(candidate)
        joins = rec["gate"]["joined"]
      if joins:
        rec["evaluation"] = self.evaluate_member(self.league.add(candidate))
      rec["eval_s"] = time.perf_counter() - t3
    self.history.append(rec)
    self._log(rec)
    return rec

  # ---- hooks: one process here, a rank of several in selfplay/ranks.py ---------------------
  world_size = 1  # processes that share the run (ranks.RankedLeagueRun: torchrun's WORLD_SIZE)

  def _env_shards(self) -> tuple:
    """(SumoCfg overrides of the training env, of the evaluation env, this process's
    evaluation worlds): none and all eval_envs here."""
    return {}, {}, self.cfg.eval_envs

  def _record_training(self, counts: np.ndarray) -> np.ndarray:
    """Gives the league the learner's (nslot, 3) training results of this process's slots;
    returns those of every slot of the run."""
    self.league.record_training(self.opponents.slot_ids, counts)
    return counts

  def _eval_sides(self, side_a: list, side_b: list) -> tuple:
    """play_matches' sides (slots over all evaluation worlds) for this process's worlds."""
    return side_a, side_b

  def _all_outcomes(self, outcomes: np.ndarray) -> np.ndarray:
    """The outcomes of every evaluation world from this process's."""
    return outcomes

  # ---- evaluation matches ------------------------------------------------------------
  @torch.no_grad()
  def play_matches(self, side_a: list, side_b: list, seed: int) -> np.ndarray:
    """One match per evaluation world: world w's agent A plays side_a[slot] and agent B
    side_b[slot] (Snapshots), slot = w // (eval_envs / len(side_b)); len(side_a) is 1 or
    len(side_b). Returns (eval_envs,) int8 outcomes from A's side (+1 won, 0 draw, -1 lost),
    each world's first episode (every world finishes one within the time limit)."""
    env = self.eval_env
    side_a, side_b = self._eval_sides(side_a, side_b)
    nslot = len(side_b)
    env.set_slots(nslot)
    a = OpponentBatch(env.num_envs, nslot, side_b[0], env.device)
    b = OpponentBatch(env.num_envs, nslot, side_b[0], env.device)
    for s in range(nslot):
      a.set_slot(s, side_a[s if len(side_a) > 1 else 0])
      b.set_slot(s, side_b[s])
    env.generator.manual_seed(int(seed))
    env.reset()
    first = torch.zeros(env.num_envs, dtype=torch.int8, device=env.device)
    finished = torch.zeros(env.num_envs, dtype=torch.bool, device=env.device)
    for _ in range(env.max_episode_length):
      _, _, dones, extras = env.step_pair(a(env.obs[0]), b(env.obs[1]))
      d = dones.bool()
      first = torch.where(d & ~finished, extras["outcome"], first)
      finished |= d
    return self._all_outcomes(first.cpu().numpy())

  def _eval_slots(self, opponents: list) -> list:
    """The opponent of each evaluation slot (League.evaluation_slots: eval_newest_share of
    the eval_envs matches against the newest of `opponents`, the rest round-robin)."""
    return self.league.evaluation_slots(opponents, self.cfg.eval_envs, self.cfg.eval_newest_share)

  def gate(self, candidate: Snapshot) -> dict:
    """The candidate's `eval_envs` gate matches against the newest member (module doc, step
    5): {"against", "wins", "draws", "losses", "score", "joined"}. The matches are not recorded
    (a candidate that joins was chosen on them; its ratings come from its evaluation matches)."""
    newest = len(self.league) - 1
    out = self.play_matches([candidate], [self.league.snapshots[newest]],
                            seed=self.cfg.seed + 7727 * (self.iteration + 1))
    wins, draws, losses = int((out == 1).sum()), int((out == 0).sum()), int((out == -1).sum())
    score = (wins + 0.5 * draws) / out.size
    return {"against": newest, "wins": wins, "draws": draws, "losses": losses, "score": score,
            "joined": bool(score >= self.cfg.snapshot_gate)}

  def evaluate_member(self, k: int) -> dict:
    """Member k's evaluation matches against earlier members (League.evaluation_opponents,
    evaluation_slots), their results recorded and every rating refitted: {"member",
    "opponents": {j: [wins, draws, losses]}, "mu", "sigma" (every member's, refitted),
    "rating_order_std" (League.refit_ratings)}. Training never reads these results (PFSP uses the learner's training games), so
    a finished run's pool can be re-rated with other evaluation settings."""
    opponents = self.league.evaluation_opponents(k, min(self.cfg.eval_opponents, self.cfg.eval_envs))
    slots = self._eval_slots(opponents)
    snaps = [self.league.snapshots[j] for j in slots]
    outcomes = self.play_matches([self.league.snapshots[k]], snaps, seed=self.cfg.seed + 104729 * k)
    per_slot = outcomes.reshape(len(slots), -1)
    summary = {}
    for j in opponents:
      res = per_slot[[s for s, o in enumerate(slots) if o == j]]
      wins, draws, losses = int((res == 1).sum()), int((res == 0).sum()), int((res == -1).sum())
      self.league.record_matches(k, j, wins, draws, losses)
      summary[j] = [wins, draws, losses]
    order_std = self.league.refit_ratings(self.cfg.rating_passes, seed=self.cfg.seed)
    self.league.note_ratings(self.iteration)
    return {"member": k, "opponents": summary, "mu": self.league.mu().tolist(),
            "sigma": self.league.sigma().tolist(), "rating_order_std": order_std.tolist()}

  def evaluate_against(self, member: int, matches: int, seed: int) -> dict:
    """The current actor against pool member `member` over `matches` evaluation matches
    (a multiple of eval_envs): {"wins", "draws", "losses", "matches", "win_rate"}."""
    if matches % self.cfg.eval_envs:
      raise ValueError(f"matches must be a multiple of eval_envs ({self.cfg.eval_envs}), got {matches}")
    me, other = self.snapshot(self.iteration), self.league.snapshots[member]
    out = np.concatenate([self.play_matches([me], [other], seed + r)
                          for r in range(matches // self.cfg.eval_envs)])
    wins, draws, losses = int((out == 1).sum()), int((out == 0).sum()), int((out == -1).sum())
    return {"wins": wins, "draws": draws, "losses": losses, "matches": int(out.size),
            "win_rate": wins / out.size}

  # ---- logging -----------------------------------------------------------------------
  def _log(self, rec: dict):
    if self.writer is None:
      return
    it, w = rec["it"], self.writer
    for key in ("win_rate", "draw_rate", "loss_rate"):
      w.add_scalar(f"League/train_{key}", rec[key], it)
    w.add_scalar("League/pool_size", rec["pool_size"], it)
    w.add_scalar("Perf/env_steps_per_s", rec["env_steps_per_s"], it)
    if not math.isnan(rec["mean_return"]):
      w.add_scalar("Train/mean_return", rec["mean_return"], it)
    for k, v in rec["losses"].items():
      w.add_scalar(f"Loss/{k}", v, it)
    if "gate" in rec:
      w.add_scalar("League/gate_score", rec["gate"]["score"], it)
    if "evaluation" in rec:
      mu = self.league.mu()
      w.add_scalar("League/rating_newest", mu[-1], it)
      w.add_scalar("League/rating_initial", mu[0], it)
      for j, (wins, draws, losses) in rec["evaluation"]["opponents"].items():
        games = max(wins + draws + losses, 1)
        w.add_scalar(f"League/eval_win_rate_vs_{j}", wins / games, it)
    w.flush()

  # ---- checkpoints ---------------------------------------------------------------------
  def state_dict(self) -> dict:
    alg = self.runner.alg
    return {
      "format": FORMAT, "config": cfg_dict(self.cfg), "iteration": self.iteration,
      "actor": alg.get_policy().state_dict(), "critic": alg.critic.state_dict(),
      "optimizer": alg.optimizer.state_dict(), "learning_rate": float(alg.learning_rate),
      "env": checkpoint.state_dict(self.env), "league": self.league.state_dict(),
      "slot_ids": list(self.opponents.slot_ids), "history": _plain(self.history),
    }

  def save(self, path: str | os.PathLike):
    """Writes the run's state to `path` atomically (write_checkpoint)."""
    write_checkpoint(path, self.state_dict())

  @classmethod
  def load(cls, path: str | os.PathLike, log_dir: str | None = None, any_ranks: bool = False,
           **overrides) -> "LeagueRun":
    """A run restored from `path` (weights-only read). `overrides`: LeagueCfg fields that may
    differ from the saved run's (device, backend) — any other difference is refused. A run of
    several ranks (selfplay/ranks.py) resumes on as many; `any_ranks` (evaluation, play) takes
    rank 0's part of it in any process instead."""
    path = os.fspath(path)
    with open(path, "rb") as f:  # a missing file: the OS's error names it
      try:
        state = torch.load(f, map_location="cpu", weights_only=True)
      except Exception as e:  # pickled objects (refused, never run), truncation, not a zip
        first_line = (str(e).splitlines() or [""])[0]
        raise ValueError(f"{path} cannot be read as a self-play checkpoint ({type(e).__name__}: "
                         f"{first_line}); it is read weights-only, so a file holding pickled "
                         f"objects is refused and nothing in it ran") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
      raise ValueError(f"{path} is not a self-play checkpoint ({FORMAT}); pass a league_<it>.pt "
                       f"written by python -m pywarp_sim.selfplay train")
    saved = dict(state["config"])
    allowed = {"device", "backend"}
    bad = sorted(set(overrides) - allowed)
    if bad:
      raise ValueError(f"only {sorted(allowed)} may be changed on resume, not {bad}")
    saved.update(overrides)
    saved["hidden_dims"] = tuple(saved["hidden_dims"])
    run = cls(LeagueCfg(**saved), log_dir=log_dir)
    if any_ranks and int(state.get("ranks", 1)) != run.world_size:  # rank 0's worlds and slots
      state = {**state, "ranks": run.world_size, "slot_ids": state["slot_ids"][:run.cfg.nslot]}
    run.load_state_dict(state)
    return run

  def load_state_dict(self, state: dict):
    if int(state.get("ranks", 1)) != self.world_size:
      raise ValueError(f"the checkpoint was written by a run on {state.get('ranks', 1)} rank(s), this "
                       f"run has {self.world_size}; resume it on as many (torchrun --nproc_per_node)")
    alg = self.runner.alg
    alg.get_policy().load_state_dict(state["actor"])
    alg.critic.load_state_dict(state["critic"])
    alg.optimizer.load_state_dict(state["optimizer"])
    alg.learning_rate = float(state["learning_rate"])
    self.league.load_state_dict(state["league"])
    for slot, member in enumerate(state["slot_ids"]):
      if member >= 0:
        self.opponents.set_slot(slot, self.league.snapshots[member].to(self.opponents.device), member)
    self.iteration = int(state["iteration"])
    self.history = list(state["history"])
    checkpoint.load_state_dict(self.env, state["env"])  # last: it restores torch's RNG too


def write_checkpoint(path: str | os.PathLike, state: dict):
  """Writes `state` to `path` atomically (temporary file, then rename)."""
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
  try:
    torch.save(state, tmp)
    os.replace(tmp, path)
  finally:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(tmp)


def _scale_output_layer(actor, gain: float):
  """Multiplies the weights and bias of the actor's last linear layer by `gain` (in place)."""
  if not gain > 0:
    raise ValueError(f"actor_output_gain must be > 0, got {gain}")
  last = [m for m in actor.modules() if isinstance(m, torch.nn.Linear)][-1]
  with torch.no_grad():
    last.weight.mul_(gain)
    last.bias.mul_(gain)


def _plain(x):
  """Records as plain containers (numpy scalars to Python numbers, dict keys to str)."""
  if isinstance(x, dict):
    return {str(k): _plain(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_plain(v) for v in x]
  if isinstance(x, np.generic):
    return x.item()
  return x
