"""The league: a pool of frozen snapshots of the learner, opponent sampling, ratings, results.

* Pool: `add(snapshot)` every N learner iterations; member 0 is the initial policy.
* Opponent sampling (`sample(k)`), one of
    "pfsp":    prioritized fictitious self-play (AlphaStar): member j with probability
               proportional to (1 - p_j)^power, p_j the learner's recent win rate against j
               (draws count half; 0.5 before any game), so the opponents the learner beats
               least are played most;
    "uniform": every member alike;
    "latest":  the newest member only.
  The learner's results against each member come from its training games
  (`record_training`), kept as exponentially decayed counts (`decay` per call) so that the
  win rates follow the learner as it improves.
* Ratings: openskill's Plackett-Luce model (mu, sigma per member; `ordinal` = mu - 3 sigma),
  updated match by match from evaluation matches (`record_matches`) in a fixed order (wins,
  then draws, then losses of each batch), so the same results give the same ratings.
* Results: `results[i, j]` = (wins, draws, losses) of member i against member j over all
  evaluation matches; `win_rate_matrix()` = (wins + draws / 2) / games (NaN where none).

State (`state_dict` / `load_state_dict`): tensors, numbers and lists only, the numpy random
generator's state included, so a resumed league samples what the uninterrupted one would.
"""

from __future__ import annotations

import numpy as np

from .opponents import Snapshot

SAMPLING = ("pfsp", "uniform", "latest")


def _rating_model():
  try:
    from openskill.models import PlackettLuce
  except ImportError as e:
    raise ImportError("the self-play league's ratings need openskill: pip install 'pywarp_sim[rl]'") from e
  return PlackettLuce()


class League:
  """The snapshot pool and its statistics (module doc).

  Args: sampling ("pfsp", "uniform", "latest"), pfsp_power (> 0), decay (in (0, 1]: factor
  applied to the learner's training results before each new batch), seed.
  Attributes: snapshots (list of Snapshot, on the host), results ((P, P, 3) float64),
  learner_results ((P, 3) float64, decayed), ratings (list of openskill ratings),
  rating_history (list of (learner iteration, [mu of each member]) after each evaluation).
  """

  def __init__(self, sampling: str = "pfsp", pfsp_power: float = 2.0, decay: float = 0.9, seed: int = 0):
    if sampling not in SAMPLING:
      raise ValueError(f"sampling must be one of {SAMPLING}, got '{sampling}'")
    if not pfsp_power > 0:
      raise ValueError(f"pfsp_power must be > 0, got {pfsp_power}")
    if not 0 < decay <= 1:
      raise ValueError(f"decay must be in (0, 1], got {decay}")
    self.sampling, self.pfsp_power, self.decay = sampling, float(pfsp_power), float(decay)
    self.model = _rating_model()
    self.rng = np.random.default_rng(seed)
    self.snapshots: list[Snapshot] = []
    self.ratings = []
    self.results = np.zeros((0, 0, 3))
    self.learner_results = np.zeros((0, 3))
    self.rating_history: list = []

  def __len__(self) -> int:
    return len(self.snapshots)

  def add(self, snapshot: Snapshot) -> int:
    """Adds a member (a host copy of `snapshot`); returns its index. Its rating starts at the
    model's prior (mu 25, sigma 25/3)."""
    self.snapshots.append(snapshot.to("cpu"))
    self.ratings.append(self.model.rating(name=str(len(self.snapshots) - 1)))
    p = len(self.snapshots)
    results = np.zeros((p, p, 3))
    results[:p - 1, :p - 1] = self.results
    self.results = results
    self.learner_results = np.concatenate([self.learner_results, np.zeros((1, 3))])
    return p - 1

  # ---- opponent sampling -------------------------------------------------------------
  def learner_win_rates(self) -> np.ndarray:
    """(P,) the learner's decayed win rate against each member (draws half; 0.5 with no games)."""
    w, d, l = self.learner_results.T
    games = w + d + l
    with np.errstate(invalid="ignore", divide="ignore"):
      return np.where(games > 0, (w + 0.5 * d) / games, 0.5)

  def probabilities(self) -> np.ndarray:
    """(P,) the probability of each member being sampled as an opponent."""
    p = len(self)
    if p == 0:
      raise ValueError("the league is empty: add() the initial policy first")
    if self.sampling == "latest":
      probs = np.zeros(p)
      probs[-1] = 1.0
      return probs
    if self.sampling == "uniform":
      return np.full(p, 1.0 / p)
    weights = (1.0 - self.learner_win_rates()) ** self.pfsp_power
    if weights.sum() <= 0:  # the learner beats everyone always: fall back to uniform
      return np.full(p, 1.0 / p)
    return weights / weights.sum()

  def sample(self, k: int) -> np.ndarray:
    """(k,) member indices drawn independently with `probabilities()`."""
    return self.rng.choice(len(self), size=int(k), p=self.probabilities())

  def record_training(self, members, counts: np.ndarray):
    """The learner's training results: counts (k, 3) = (wins, draws, losses) against
    members[i]. Older results are multiplied by `decay` first."""
    self.learner_results *= self.decay
    np.add.at(self.learner_results, np.asarray(members, dtype=np.int64), np.asarray(counts, float))

  # ---- evaluation matches and ratings ------------------------------------------------
  def record_matches(self, i: int, j: int, wins: int, draws: int, losses: int):
    """Member i played member j: `wins`, `draws`, `losses` from i's side. Updates the results
    and both ratings, one openskill update per match."""
    if i == j:
      raise ValueError("a member's matches against itself carry no rating information")
    self.results[i, j] += (wins, draws, losses)
    self.results[j, i] += (losses, draws, wins)
    a, b = self.ratings[i], self.ratings[j]
    for ranks, n in (([0, 1], wins), ([0, 0], draws), ([1, 0], losses)):
      for _ in range(int(n)):
        [[a], [b]] = self.model.rate([[a], [b]], ranks=ranks)
    self.ratings[i], self.ratings[j] = a, b

  def note_ratings(self, iteration: int):
    """Appends (iteration, [mu of each member]) to rating_history."""
    self.rating_history.append((int(iteration), [float(r.mu) for r in self.ratings]))

  def mu(self) -> np.ndarray:
    return np.array([r.mu for r in self.ratings])

  def sigma(self) -> np.ndarray:
    return np.array([r.sigma for r in self.ratings])

  def win_rate_matrix(self) -> np.ndarray:
    """(P, P): member i's score against member j, (wins + draws / 2) / games; NaN with no games."""
    w, d, l = np.moveaxis(self.results, -1, 0)
    games = w + d + l
    with np.errstate(invalid="ignore", divide="ignore"):
      return np.where(games > 0, (w + 0.5 * d) / games, np.nan)

  # ---- state -------------------------------------------------------------------------
  def state_dict(self) -> dict:
    return {
      "sampling": self.sampling, "pfsp_power": self.pfsp_power, "decay": self.decay,
      "snapshots": [s.state_dict() for s in self.snapshots],
      "ratings": [[float(r.mu), float(r.sigma)] for r in self.ratings],
      "results": self.results.tolist(), "learner_results": self.learner_results.tolist(),
      "rating_history": [[it, list(mus)] for it, mus in self.rating_history],
      "rng": _plain_rng_state(self.rng.bit_generator.state),
    }

  def load_state_dict(self, state: dict):
    self.sampling, self.pfsp_power, self.decay = state["sampling"], state["pfsp_power"], state["decay"]
    self.snapshots = [Snapshot.from_state_dict(s) for s in state["snapshots"]]
    self.ratings = [self.model.rating(mu=mu, sigma=sigma, name=str(i))
                    for i, (mu, sigma) in enumerate(state["ratings"])]
    p = len(self.snapshots)
    self.results = np.array(state["results"], dtype=float).reshape(p, p, 3)
    self.learner_results = np.array(state["learner_results"], dtype=float).reshape(p, 3)
    self.rating_history = [(int(it), list(mus)) for it, mus in state["rating_history"]]
    self.rng.bit_generator.state = state["rng"]


def _plain_rng_state(state: dict) -> dict:
  """numpy's bit generator state with its integers as Python ints (torch's weights-only
  loader reads them back; PCG64's 128-bit state is a Python int already)."""
  return {k: (_plain_rng_state(v) if isinstance(v, dict) else (int(v) if isinstance(v, np.integer) else v))
          for k, v in state.items()}
