"""PNG plots of the academy demo (matplotlib, Agg backend)."""

from __future__ import annotations

import os

import numpy as np

from . import params as P
from .robot import CHANNEL_UNITS, channel_names


def _plt():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def trajectories(path: str, gap: dict, motion_index: int, joint_names, channels=None,
                 control_dt: float = 0.01, title: str = ""):
  """Robot log vs nominal and calibrated simulation for a few channels of one held-out motion."""
  plt = _plt()
  names = channel_names(joint_names)
  channels = channels or ["joint_pos/right_hip_y", "joint_pos/right_knee", "joint_pos/abdomen_y",
                          "joint_vel/right_knee", "joint_pos/left_elbow", "joint_vel/left_shoulder1"]
  log = gap["logs"][motion_index].channels()
  t = np.arange(len(log)) * control_dt
  fig, axes = plt.subplots(len(channels), 1, figsize=(9, 2.0 * len(channels)), sharex=True)
  for ax, ch in zip(np.atleast_1d(axes), channels):
    c = names.index(ch)
    # the calibrated simulation wide and pale under the robot's thin log, so both stay visible
    ax.plot(t, gap["nominal"]["sim"][motion_index][:, c], color="tab:red", lw=1.0, ls="--",
            label="sim, nominal")
    ax.plot(t, gap["calibrated"]["sim"][motion_index][:, c], color="tab:blue", lw=3.0, alpha=0.45,
            label="sim, calibrated")
    ax.plot(t, log[:, c], color="k", lw=0.8, label="robot (log)", zorder=3)
    group, name = ch.split("/", 1)
    ax.set_ylabel(f"{group}\n{name}\n({CHANNEL_UNITS[group]})", fontsize=8)
  np.atleast_1d(axes)[0].legend(fontsize=8, loc="upper right")
  np.atleast_1d(axes)[-1].set_xlabel("time (s)")
  fig.suptitle(title or f"held-out motion '{gap['motions'][motion_index]}'")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def parameters(path: str, rows: list):
  """Per parameter: every robot's estimate with its 95% interval, the hidden truth and the
  nominal value. rows: [{"robot", "estimate": {...}, "ci95": {...}, "truth": {...}}]."""
  plt = _plt()
  names = list(P.CONTINUOUS_PARAMS)
  fig, axes = plt.subplots(1, len(names), figsize=(2.2 * len(names), 3.6))
  for ax, name in zip(axes, names):
    for i, r in enumerate(rows):
      est, (lo, hi) = r["estimate"][name], r["ci95"][name]
      ax.errorbar([i], [est], yerr=[[est - lo], [hi - est]], fmt="o", color="tab:blue", ms=4,
                  capsize=3, label="calibrated (95% CI)" if i == 0 else None)
      ax.plot([i], [r["truth"][name]], "x", color="tab:red", ms=7,
              label="hidden truth" if i == 0 else None)
    ax.axhline(1.0, color="gray", lw=0.8, ls=":", label="nominal")
    ax.axhspan(P.PRIORS[name].low, P.PRIORS[name].high, color="gray", alpha=0.08)
    ax.set_title(name, fontsize=9)
    ax.set_ylabel("scale of the nominal value (1 = nominal)" if name == names[0] else "", fontsize=8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["robot"].replace("proxy-", "p") for r in rows], fontsize=7)
  axes[0].legend(fontsize=7, loc="lower left")
  fig.suptitle("parameter scales per robot (grey band: prior / fleet spread)")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def ensure_dir(d: str) -> str:
  os.makedirs(d, exist_ok=True)
  return d
