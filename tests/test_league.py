"""The league's ratings (pywarp_sim/selfplay/league.py): the refit to the whole match history
is openskill's posterior per match order and depends on the results alone (not on the order
they were recorded in), the evaluation opponents span the pool, and the monotonicity measure."""

import numpy as np
import pytest
import torch

pytest.importorskip("openskill")

from pywarp_sim.selfplay.league import League, monotonicity
from pywarp_sim.selfplay.opponents import Snapshot


def _snapshot() -> Snapshot:
  return Snapshot(torch.zeros(3), torch.ones(3), 1e-2, [torch.zeros(2, 3)], [torch.zeros(2)])


def _league(members: int) -> League:
  league = League("pfsp", seed=0)
  for _ in range(members):
    league.add(_snapshot())
  return league


def test_refit_of_one_pass_is_openskill_over_the_drawn_order():
  from openskill.models import PlackettLuce
  league = _league(2)
  league.record_matches(1, 0, wins=3, draws=1, losses=1)
  league.refit_ratings(passes=1, seed=5)
  # the refit's matches: pair (0, 1) from 0's side, 1 win, 1 draw, 3 losses, in the order
  # numpy's generator of the seed draws
  outcomes = np.array([0, 1, 2, 2, 2])[np.random.default_rng(5).permutation(5)]
  model = PlackettLuce()
  a, b = model.rating(), model.rating()
  for o in outcomes:
    [[a], [b]] = model.rate([[a], [b]], ranks=([0, 1], [0, 0], [1, 0])[o])
  assert league.ratings[0].mu == pytest.approx(a.mu) and league.ratings[1].mu == pytest.approx(b.mu)
  assert league.ratings[0].sigma == pytest.approx(a.sigma)


def test_refit_depends_on_the_results_not_on_their_recording_order():
  batches = [(1, 0, 9, 4, 3), (2, 1, 8, 6, 2), (2, 0, 12, 3, 1), (3, 2, 7, 5, 4), (3, 0, 14, 2, 0)]
  forward, backward = _league(4), _league(4)
  for b in batches:
    forward.record_matches(*b)
  for b in reversed(batches):
    backward.record_matches(*b)
  rng_state = forward.rng.bit_generator.state
  std = forward.refit_ratings(passes=8, seed=3)
  backward.refit_ratings(passes=8, seed=3)
  assert forward.mu().tolist() == backward.mu().tolist()
  assert forward.sigma().tolist() == backward.sigma().tolist()
  assert forward.rng.bit_generator.state == rng_state  # opponent sampling is untouched
  assert std.shape == (4,) and (std > 0).all()  # one online pass depends on the order
  # each member beats the earlier ones: the refitted ratings rise in pool order
  assert monotonicity(forward.mu())["monotonic"]
  # the results are unchanged by the refit
  np.testing.assert_array_equal(forward.results[3, 0], [14, 2, 0])


def test_refit_refuses_fractional_counts_and_zero_passes():
  league = _league(2)
  league.results[1, 0] = league.results[0, 1] = [0.5, 0, 0]
  with pytest.raises(ValueError, match="whole matches"):
    league.refit_ratings()
  with pytest.raises(ValueError, match="passes"):
    _league(2).refit_ratings(passes=0)


def test_evaluation_opponents_span_the_pool():
  assert League.evaluation_opponents(1, 4) == [0]
  assert League.evaluation_opponents(4, 4) == [0, 1, 2, 3]
  assert League.evaluation_opponents(20, 5) == [0, 5, 10, 14, 19]
  assert League.evaluation_opponents(20, 1) == [0]
  for k in range(1, 40):
    for n in range(1, 10):
      opp = League.evaluation_opponents(k, n)
      assert opp == sorted(set(opp)) and opp[0] == 0 and len(opp) == min(k, n)
      assert n == 1 or opp[-1] == k - 1
  with pytest.raises(ValueError, match="k >= 1"):
    League.evaluation_opponents(0, 3)


def test_monotonicity_counts_rises_and_drops():
  m = monotonicity([20.0, 22.0, 21.0, 25.0, 25.0], sigma=[0.1, 0.1, 0.1, 3.0, 3.0])
  assert (m["rises"], m["changes"], m["monotonic"]) == (2, 4, False)
  assert m["rise_fraction"] == 0.5
  assert m["drops"] == [[1, 2, 1.0], [3, 4, 0.0]] and m["largest_drop"] == 1.0
  assert m["drops_beyond_2_sigma"] == 1  # 1.0 > 2 * sqrt(0.02); a tie is no drop beyond noise
  assert monotonicity([1.0, 2.0, 3.0])["monotonic"]
  assert monotonicity([1.0, 2.0, 3.0])["drops_beyond_2_sigma"] is None


def test_evaluation_slots_give_the_predecessor_its_share():
  slots = League.evaluation_slots(list(range(12)), 256, newest_share=0.5)
  assert 256 % len(slots) == 0
  assert slots.count(11) == len(slots) // 2  # half the worlds play the predecessor
  assert set(slots) == set(range(12))  # every opponent keeps a slot
  # no share: every opponent alike (round-robin over the fewest slots that divide the matches)
  assert League.evaluation_slots(list(range(12)), 256) == list(range(12)) + [0, 1, 2, 3]
  assert League.evaluation_slots([0], 256, newest_share=0.5) == [0]
  # too few matches to split: round-robin
  assert League.evaluation_slots([0, 1, 2, 3], 4, newest_share=0.5) == [0, 1, 2, 3]
  with pytest.raises(ValueError, match="cannot cover"):
    League.evaluation_slots([0, 1, 2], 2)
  with pytest.raises(ValueError, match="newest_share"):
    League.evaluation_slots([0, 1], 4, newest_share=1.0)
