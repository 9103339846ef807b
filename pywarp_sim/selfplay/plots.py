"""Figures of a league (matplotlib, Agg): ratings over the pool and the win-rate matrix."""

from __future__ import annotations

import numpy as np


def _pyplot():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def plot_ratings(league, path: str, title: str = "self-play league"):
  """Two panels: each member's openskill rating (mu, with +-sigma) against the learner
  iteration it was taken at; and the newest member's mu after each evaluation over the
  learner's iterations. Writes a PNG to `path`."""
  plt = _pyplot()
  from .league import monotonicity
  its = [s.iteration for s in league.snapshots]
  mu, sigma = league.mu(), league.sigma()
  mono = monotonicity(mu, sigma)
  fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
  ax0.errorbar(its, mu, yerr=sigma, marker="o", capsize=3)
  ax0.set_xlabel("learner iteration of the snapshot")
  ax0.set_ylabel("openskill rating mu (+- sigma)")
  ax0.set_title(f"ratings per pool member ({mono['rises']} of {mono['changes']} changes rise)")
  ax0.grid(alpha=0.3)
  hist = league.rating_history
  if hist:
    ax1.plot([it for it, _ in hist], [mus[-1] for _, mus in hist], marker=".", label="newest member")
    ax1.plot([it for it, _ in hist], [mus[0] for _, mus in hist], marker=".", label="initial policy")
    ax1.legend()
  ax1.set_xlabel("learner iteration")
  ax1.set_ylabel("openskill rating mu")
  ax1.set_title("ratings over training (refitted at each snapshot)")
  ax1.grid(alpha=0.3)
  fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_win_rates(league, path: str, title: str = "win-rate matrix"):
  """The win-rate matrix (row member's score against the column member: wins + draws / 2
  over games; blank where they never played) as a PNG at `path`."""
  plt = _pyplot()
  rates = league.win_rate_matrix()
  p = rates.shape[0]
  fig, ax = plt.subplots(figsize=(1.2 + 0.45 * p, 1.0 + 0.45 * p))
  im = ax.imshow(np.ma.masked_invalid(rates), vmin=0.0, vmax=1.0, cmap="RdBu")
  labels = [str(s.iteration) for s in league.snapshots]
  ax.set_xticks(range(p), labels, rotation=90)
  ax.set_yticks(range(p), labels)
  ax.set_xlabel("opponent (learner iteration of the snapshot)")
  ax.set_ylabel("player (learner iteration)")
  if p <= 16:
    for i in range(p):
      for j in range(p):
        if np.isfinite(rates[i, j]):
          ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7)
  fig.colorbar(im, ax=ax, label="score (wins + draws / 2) / games")
  ax.set_title(title)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
