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
* Ratings: openskill's Plackett-Luce model (mu, sigma per member; `ordinal` = mu - 3 sigma).
  `record_matches` updates them online, match by match in a fixed order (wins, then draws,
  then losses of each batch); `refit_ratings` replaces them with a fit to the whole match
  history (`results`): openskill's posterior after every recorded match, from the prior, in
  `passes` random orders, mu and sigma averaged over the orders. Why: an online update is a
  function of the order of the matches (member k is rated once, against its opponents'
  ratings of that moment, and its last batch's losses come last): on the CPU record's 3,968
  matches a member's mu had a standard deviation of 0.67 points on average (1.41 at most)
  over random orders of the same matches; the mean over P orders leaves that noise / sqrt(P) and counts each match once
  (the per-member spread over the orders is returned). Repeated passes that start from the
  previous pass's mu would count the matches again and weight the early ones of a pass more.
* Evaluation opponents (`evaluation_opponents(k, n)`): new member k plays n earlier members,
  the initial policy, the newest and the rest spread evenly over the pool (all of them when
  k <= n), so every rating is tied to the whole pool, not only to its neighbours (whose
  matches were mostly draws on the CPU record); `evaluation_slots` gives a share of the
  matches to the newest of them (the predecessor: 16 matches per neighbour pair left two
  neighbours in the wrong order on the CPU record, which 256 new matches each put right).
* `monotonicity(mu, sigma)`: rises / changes of the ratings in pool order, whether they rise
  monotonically, and the drops (how many exceed twice their combined sigma).
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
  @staticmethod
  def evaluation_opponents(k: int, n: int) -> list:
    """The earlier members new member k plays (module doc): all of 0..k-1 when k <= n, else
    n of them: 0, k - 1 and n - 2 spread evenly between (sorted, distinct)."""
    if k < 1 or n < 1:
      raise ValueError(f"need a member k >= 1 and n >= 1 opponents, got k={k}, n={n}")
    if k <= n:
      return list(range(k))
    if n == 1:
      return [0]
    return sorted({int(round(x)) for x in np.linspace(0, k - 1, n)})

  @staticmethod
  def evaluation_slots(opponents: list, matches: int, newest_share: float = 0.0) -> list:
    """The opponent of each evaluation slot (blocks of equally many of the `matches` worlds,
    so the slot count divides `matches`): `newest_share` of the slots play the last of
    `opponents` (the new member's predecessor, whose order against it the ratings' sequence
    hinges on) and the rest are dealt round-robin over the others; with newest_share 0 (or
    too few matches for the split) all of them are dealt round-robin. The fewest slots that
    give every opponent at least one."""
    if not opponents or matches < len(opponents):
      raise ValueError(f"{matches} matches cannot cover {len(opponents)} opponents")
    if not 0.0 <= newest_share < 1.0:
      raise ValueError(f"newest_share must be in [0, 1), got {newest_share}")
    divisors = [k for k in range(1, matches + 1) if matches % k == 0]
    others, newest = list(opponents[:-1]), opponents[-1]
    if others and newest_share > 0:
      for k in divisors:
        first = int(round(newest_share * k))
        if first >= 1 and k - first >= len(others):
          return [newest] * first + [others[s % len(others)] for s in range(k - first)]
    k = next(k for k in divisors if k >= len(opponents))
    return [opponents[s % len(opponents)] for s in range(k)]

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

  def refit_ratings(self, passes: int = 16, seed: int = 0) -> np.ndarray:
    """Replaces the ratings with openskill's fit to all recorded matches (module doc): every
    pair's wins, draws and losses in `results` as single matches, `passes` random orders of
    them (numpy generator of `seed`, not the league's: sampling stays as it was), each from
    the model's prior; mu and sigma are the means over the orders. Returns (P,) the standard
    deviation of each member's mu over the orders (the order noise of one online pass)."""
    if passes < 1:
      raise ValueError(f"passes must be >= 1, got {passes}")
    p = len(self)
    i, j = np.triu_indices(p, 1)
    counts = self.results[i, j].astype(np.int64)  # (pairs, 3): i's wins, draws, losses against j
    if (np.abs(self.results[i, j] - counts) > 0).any():
      raise ValueError("results hold non-integer match counts; refit_ratings needs whole matches")
    pair = np.repeat(np.arange(len(i)), counts.sum(1))
    outcome = np.concatenate([np.repeat(np.arange(3), c) for c in counts]) if len(i) else np.zeros(0, int)
    ranks = ([0, 1], [0, 0], [1, 0])  # i won, draw, i lost
    rng = np.random.default_rng(seed)
    mus, sigmas = np.zeros((passes, p)), np.zeros((passes, p))
    for k in range(passes):
      ratings = [self.model.rating(name=str(m)) for m in range(p)]
      for n in rng.permutation(len(pair)):
        a, b = i[pair[n]], j[pair[n]]
        [[ratings[a]], [ratings[b]]] = self.model.rate([[ratings[a]], [ratings[b]]], ranks=ranks[outcome[n]])
      mus[k] = [r.mu for r in ratings]
      sigmas[k] = [r.sigma for r in ratings]
    self.ratings = [self.model.rating(mu=float(mu), sigma=float(sigma), name=str(m))
                    for m, (mu, sigma) in enumerate(zip(mus.mean(0), sigmas.mean(0)))]
    return mus.std(0)

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


def monotonicity(mu, sigma=None) -> dict:
  """How monotonically ratings `mu` (in pool order) rise: {"rises", "changes", "rise_fraction",
  "monotonic" (every change a rise), "drops": [[k, k + 1, mu_k - mu_k+1], ...],
  "largest_drop", "drops_beyond_2_sigma" (drops larger than 2 sqrt(sigma_k^2 + sigma_k+1^2);
  None without sigma)}."""
  mu = np.asarray(mu, dtype=float)
  d = np.diff(mu)
  drops = [[int(k), int(k + 1), float(-d[k])] for k in np.flatnonzero(d <= 0)]
  beyond = None
  if sigma is not None:
    s = np.asarray(sigma, dtype=float)
    beyond = int((-d > 2.0 * np.hypot(s[:-1], s[1:])).sum())
  return {"rises": int((d > 0).sum()), "changes": int(d.size),
          "rise_fraction": float((d > 0).mean()) if d.size else float("nan"),
          "monotonic": bool((d > 0).all()), "drops": drops,
          "largest_drop": max((x[2] for x in drops), default=0.0), "drops_beyond_2_sigma": beyond}


def _plain_rng_state(state: dict) -> dict:
  """numpy's bit generator state with its integers as Python ints (torch's weights-only
  loader reads them back; PCG64's 128-bit state is a Python int already)."""
  return {k: (_plain_rng_state(v) if isinstance(v, dict) else (int(v) if isinstance(v, np.integer) else v))
          for k, v in state.items()}
