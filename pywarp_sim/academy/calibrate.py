"""System identification of one robot on batched simulated worlds.

    cal = calibrate(robot)                      # robot: anything with the robot.Robot protocol
    cal.params      # {"mass_torso": 1.08, ..., "latency": 2}
    cal.ci95        # {"mass_torso": (1.06, 1.10), ...}

1. Excitation: the robot runs two short motions, and their sensor logs are the data:
   motions.held_motions (PD-tracked random joint targets in a test stand, 1.5 s by default)
   and, when ground friction is calibrated, motions.floor_motions (the stand lowered, the toes
   dragged sideways and around on the floor by the legs' PD loop, 1.6 s).
2. Population search (CMA-ES, the `cmaes` package's ask/tell CMA): one optimiser per latency
   value over normalised log coordinates z = log(scale) / prior_sigma (params.py), bounded to
   +-z_clip, starting at the nominal robot (z = 0) with step size init_std; all share one seed.
   Each generation asks every latency's optimiser for `popsize` candidates, writes them
   into the per-world parameter banks (one candidate per world) and simulates all of them in
   one batch; each optimiser is told its candidates' scores. All worlds start from the logged
   start state of a motion and run it (the PD loop on their own state, commands delayed by
   their latency). The score is the normalised mean squared error of the simulated sensor
   channels against the log(s), all samples pooled. After the last generation, latencies
   whose best score is far worse than the best (latency_prune) are dropped.
   Sizes (measured on a 2-core CPU, bench/academy_coverage.py, noisy proxies of seeds 0-79):
   quick configuration, 24 candidates per latency x 20 generations (1920 worlds; the CEM this
   replaced: 192 x 4 = 768, 10% elites): mean parameter error |ln(estimate / truth)| 0.0111
   (CEM 0.0122), worst robot 0.048 (0.073), ground friction 0.0279 (0.0278), latency right
   on 80 of 80 (80), truth inside the 95% interval for 71-77 of 80 robots per parameter
   (69-74); median calibration 2.2 s (1.6 s). Default configuration (24 x 32): 0.0100
   (0.0109). Rejected: CMA-ES at CEM's sizes (48 per latency x 4 generations) left the search
   at scores 0.0080-0.011 where CEM reached 0.0052-0.0072 (CMA-ES adapts its step size and
   covariance over many generations, not 4); CMA-ES's default population (9) x 28
   generations stopped one robot far along the scaling valley (Identifiability; seed 17:
   error 0.20); pruning latencies from the second generation on, as CEM did, lost the true
   latency of 2 of 24 proxies (make_fleet(24, seed=3)).
3. Levenberg-Marquardt: from the best candidate of each remaining latency, central finite
   differences in one batch (one perturbed parameter per world, +-h: 2P + 1 worlds per
   latency), then trial steps for several damping values in one batch; the lowest cost wins.
   Steps 2-3 use the stand motion only and leave friction out: the stand's score is smooth
   across the whole prior, the floor phase's only near the truth (motions.py).
4. Ground friction: with the best latency and the other parameters from step 3, a grid of
   friction values (friction_grid worlds over +-z_clip) on both motions picks the start; then
   LM on every parameter, friction included, on both motions.
5. Uncertainty (below): covariance of z from simulated sensor noise at the estimate; 95%
   intervals z +- 1.96 std map back to scales.

Calibration touches the robot only through its Robot protocol methods (reset, step, run).
It never reads hidden values (a real robot has none to read).

Identifiability: scaling every mass, the motor strength, damping and armature together leaves
the joint dynamics unchanged; only the abdomen springs (jnt_stiffness, not calibrated: an
absolute torque reference) and the contact-free gravity/motor balance break that symmetry.
The estimates of mass_legs, mass_arms, motor_strength and joint_damping are therefore
strongly correlated (|rho| ~ 0.9-0.99 in `covariance_z`); the intervals account for it.

Ground friction acts only in the floor phase and weakly there (motions.py). With noiseless
sensors it is recovered to 0.005-0.34% (quick configuration, proxies of seeds 0 and 1); with
the proxies' sensor noise, |log error| 0.041, 0.023, 0.006, 0.037, 0.005, 0.029, 0.022 on the
proxies of seeds 0, 1, 11, 2, 3, 4, 5 (0.081, 0.23, 0.097 at nominal for the first three).
LM on friction alone with the other parameters fixed was worse (0.108, 0.150, 0.009 on seeds
0, 1, 11, with an earlier 3 Hz floor loop): small errors of the stand estimates shift the
friction optimum, and the joint fit corrects them.

Uncertainty. What an interval means: were the simulator with the estimated parameters the
robot, repeating the excitation with fresh sensor noise would put the truth inside the 95%
interval 95% of the time (to first order in the noise). Assumed: the residuals at the
estimate are sensor noise, white, Gaussian, independent across channels; model error counts
as noise (it widens the intervals, it is not modelled).

Why not s^2 (J'J)^-1 (the white-noise covariance, still reported as `std_z_white`): the
robot's PD loop computes from its noisy readings, so the noise also moves the robot itself.
That motion is smooth and shaped like the parameters' own effects (the columns of J): the fit
absorbs it into the parameters and the residuals left over do not show it; they are white
(autocorrelation |rho| < 0.1 at lags 1-40, median over channels, proxies 0, 2, 16, 39).
Hence corrections built from the residuals cannot find it either: a Newey-West (HAC)
sandwich of the per-step scores J_t' r_t (bandwidth 0-60 steps) moved coverage only from
24-28 to 24-32 of 40 robots per parameter. `sensor_noise_covariance` simulates it instead:
nsample + 1 worlds at the estimate (its latency included) run each motion, world 0
noiseless, the others with white Gaussian noise added to every reading, their PD loops
computing from the noisy joint readings; each channel's noise std is the RMS of its
residual at the estimate. A noisy log moves the least-squares estimate by
dz = J^+ (log - log_0) / scale (linearised); the covariance is the mean of dz dz' over the
logs, so a mean shift (`noise_shift_z`) counts too. Cost: one rollout of nsample + 1 worlds
per motion (noise_samples = 128: 1.05 -> 1.4 s for a quick calibration on 2 cores).

Discrete events: where a contact or joint limit engages, or a limb touches the body, between
z - h e_i and z + h e_i, the central difference holds a jump, not a slope, and J'J overstates
the information. `replay_curvature` (|r(z + h e_i) - 2 r(z) + r(z - h e_i)| / |r(z + h e_i) -
r(z - h e_i)| per motion and parameter; 0.003-0.09 on smooth replays, 0.45-1.03 at an event)
finds them, J for the covariance then takes the one-sided difference away from the event
(`one_sided_at_events`), and `smooth_replay` is False. Near an event the cost has small steps
and the estimate can stop at one, a few sigma from the truth; a local covariance cannot
describe that, so intervals of a robot with smooth_replay False are less reliable.

Measured (bench/academy_coverage.py, noisy proxies of seeds 0-39, quick configuration): the
truth is inside the 95% interval for 35-39 of 40 robots per parameter, ground friction 37
(white-noise interval: 23-29, friction 26); on the 16 robots with smooth replays 15-16 of 16
for every parameter. Median widths ln(high / low) grew 1.5-2.1x (friction 0.051 -> 0.092,
mass_legs 0.016 -> 0.032). 24 of the 40 replays have an event in the floor phase at the
estimate (the hip sweeps reach the hip_x limits; on seed 8 the right hip_x limit row engages
for one more physics step along the line to the truth) and 3 in the stand (the right upper
arm grazes the torso: seeds 1, 16, 34), 24 robots in all. The misses are there (seeds 7, 8,
13, 15, 16, 21, 34; up to 7 sigma, seed 8) but one: seed 0 (friction: truth 1.084, estimate
1.040, t = -2.04, just outside), about the 5% expected. (With the CEM search, before
CMA-ES: 34-38 of 40, 17 smooth replays.)

Parameters left out of `CalibrationConfig.params` (or ground friction when
`floor_duration_s` is 0) stay nominal and are listed in `Calibration.unidentified` with their
prior range as the interval.

Sharded over ranks (torch.distributed, e.g. `torchrun --nproc_per_node=2 -m pywarp_sim.academy
calibrate ...`): called on every rank of an initialised process group with the same robot and
configuration, `calibrate` splits every batch of candidates (each CMA-ES generation, the LM
Jacobians and trial steps, the friction grid, the noisy worlds of the covariance) into equal
shares, one per rank (distributed.shard); each rank simulates its share and an all_gather
gives every rank the whole batch's sensor channels, from which every rank computes the same
costs and tells its own copy of the optimisers the same values. Rank 0 alone executes the
excitation on the robot and broadcasts the logs. The result equals the one-process run
bitwise: a world's simulation does not depend on which other candidates share its batch or
on the batch size (the native CPU step and the Warp kernels run each world on its own, the
control loop is elementwise; a quick calibration with every batch split in two matched the
whole-batch one bitwise on both CPU backends, tests/test_distributed.py checks 2 ranks on the
native one; CUDA devices not checked), and the costs
are computed from the gathered batch, in the one-process order. Bitwise needs the same
torch/BLAS thread count in both runs (torchrun sets OMP_NUM_THREADS=1 per rank; run the one
process with it too): the covariance's float64 matrix products round differently on other
thread counts (last bits of std_z; everything else matched). `worlds_simulated` counts
the job's candidates (the one-process count), not this rank's share.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
from cmaes import CMA

from .. import distributed
from . import motions as M
from . import params as P
from .robot import channel_groups
from .simbatch import Replayer

# replay_curvature above which a replay counts as not smooth at the estimate: smooth replays
# give 0.003-0.09 (fd_step 0.01, quick configuration, noisy proxies of seeds 0-39), a discrete
# event within +-fd_step 0.45-1.03.
SMOOTH_CURVATURE_MAX = 0.25
# Floors of the per-channel scales (std of the logged channel): a nearly constant channel
# must not dominate the score through a tiny denominator.
SCALE_FLOORS = {"joint_pos": 0.02, "joint_vel": 0.2, "base_quat": 0.02, "base_angvel": 0.1}
# What CMA-ES is told for a failed world (non-finite or unhealthy; cost inf): it ranks
# candidates only, and a finite value keeps its bookkeeping finite.
FAILED_COST = 1e30


@dataclasses.dataclass
class CalibrationConfig:
  """Sizes and options; the defaults fit a 2-core CPU (about 4-5 s per robot, unloaded; quick 2-3 s)."""
  popsize: int = 24            # CMA-ES candidates per latency and generation (a generation
                               # simulates popsize x len(latencies) worlds; module doc, Sizes)
  generations: int = 32
  init_std: float = 1.0        # CMA-ES start: mean 0, step size init_std in z (the prior spread)
  z_clip: float = 3.0          # candidates stay within +-z_clip prior sigmas
  latency_prune: float = 3.0   # after the search, drop latencies whose best > latency_prune * best
  lm_iterations: int = 4
  lm_lambdas: tuple = (1e-3, 1e-2, 1e-1, 1.0)
  fd_step: float = 0.01        # z units (0.2-0.3% relative change of a scale)
  duration_s: float = 1.5      # excitation length in the stand
  floor_duration_s: float = 1.6  # floor phase (ground friction); 0: stand only
  friction_grid: int = 48      # friction start values tried (over +-z_clip) before ...
  friction_lm_iterations: int = 8  # ... the joint LM (it starts farther from its optimum)
  noise_samples: int = 128     # simulated noisy logs for the covariance (Uncertainty);
                               # 0: s^2 (J'J)^-1 from the central differences
  range_fraction: float = 0.3  # excitation targets: +- this fraction of each half range
  seed: int = 0
  params: tuple = P.BANK_PARAMS
  latencies: tuple = P.LATENCY_VALUES
  device: str = "cpu"
  backend: str = "auto"
  cpu_threads: int = 0         # native CPU step threads (0: OpenMP default); see simbatch.Replayer
  model: str = "humanoid"

  @classmethod
  def quick(cls, **kw) -> "CalibrationConfig":
    """Smaller search for quick demos and tests."""
    return cls(**{**dict(generations=20, lm_iterations=3, duration_s=1.2), **kw})

  @classmethod
  def gpu(cls, **kw) -> "CalibrationConfig":
    """A larger search for a GPU: more candidates per generation and a longer log."""
    return cls(**{**dict(popsize=256, generations=32, lm_iterations=6, duration_s=3.0,
                         device="cuda"), **kw})


@dataclasses.dataclass
class Calibration:
  """Result of `calibrate`: point estimate, uncertainty and search history."""
  robot: str
  params: dict            # scales of every continuous parameter and "latency"
  z: dict                 # normalised log estimate of the identified parameters
  std_z: dict             # std of the estimate in z (module doc, Uncertainty)
  std_z_white: dict       # the same from s^2 (J'J)^-1 alone (white residuals assumed)
  noise_shift_z: dict     # mean move of the estimate over the simulated noisy logs (z)
  replay_curvature: dict  # {motion: {param: replay_curvature ratio at the estimate}}
  smooth_replay: bool     # every ratio <= SMOOTH_CURVATURE_MAX: the intervals' local model holds
  ci95: dict              # name -> (low, high) scale; prior range for unidentified ones
  identified: tuple
  unidentified: tuple
  latency_costs: dict     # latency -> best score seen (lower is better)
  covariance_z: list      # (P, P) in z, order of `identified`
  cost_nominal: float     # score of the nominal parameters (latency 0) on the excitation
  cost_search: float     # best score after the population search (CMA-ES)
  cost_final: float
  residual_std: float     # sqrt(r'r / (N - P)), in channel-scale units
  history: list           # [(stage, iteration, best cost)]
  excitation: str         # motion names, "+"-joined
  nstep: int              # control steps of all excitation motions
  wall_s: float
  worlds_simulated: int   # sum over rollouts of worlds (world-rollouts of nstep control steps)

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


class ReplayLoss:
  """Normalised residuals of simulated channels against one sensor log.

  channels: the packed channels compared (robot.SensorLog.channels order); the scale of
  each is the std of the logged channel, floored by SCALE_FLOORS."""

  def __init__(self, log, njoint: int, held: bool, device):
    ref = torch.as_tensor(log.channels(), dtype=torch.float32, device=device)
    groups = channel_groups(njoint)
    floors = torch.empty(ref.shape[1], device=device)
    for name, sl in groups.items():
      floors[sl] = SCALE_FLOORS[name]
    self.scale = torch.maximum(ref.std(0), floors)
    # a held robot's base does not move: its base channels hold only sensor noise
    use = ["joint_pos", "joint_vel"] if held else list(groups)
    self.index = torch.cat([torch.arange(ref.shape[1], device=device)[groups[g]] for g in use])
    self.ref = ref

  def residuals(self, sim: torch.Tensor) -> torch.Tensor:
    """sim (T + 1, n, C) -> (n, T * C') residuals (frame 0 is the shared start)."""
    i = self.index
    r = (sim[1:, :, i] - self.ref[1:, None, i]) / self.scale[i]
    return r.permute(1, 0, 2).reshape(sim.shape[1], -1)

  def cost(self, sim: torch.Tensor, health: torch.Tensor | None = None) -> torch.Tensor:
    """(n,) mean squared residual; inf for failed (non-finite or flagged) worlds."""
    c = self.residuals(sim).square().mean(1)
    bad = ~torch.isfinite(c)
    if health is not None:
      bad |= health != 0
    return torch.where(bad, torch.full_like(c, math.inf), c)


class _Batch:
  """Simulates candidate sets (z, latency) on every excitation motion, in chunks of replayer
  size (one Replayer per motion and size: a motion's stand pose is part of its model)."""

  def __init__(self, cfg: CalibrationConfig, motions: list, decimation: int):
    self.cfg, self.motions, self.decimation = cfg, motions, decimation
    self.replayers = {}
    self.worlds = 0
    self.rank = distributed.group_rank()  # Rank() outside a distributed job: no sharding

  def replayer(self, n: int, k: int = 0) -> Replayer:
    """The Replayer of n worlds for motion k (built on first use, then reused)."""
    if (k, n) not in self.replayers:
      c, motion = self.cfg, self.motions[k]
      self.replayers[k, n] = Replayer(n, decimation=self.decimation,
                                      held_pose=motion.state[0][:7] if motion.held else None,
                                      model=c.model, device=c.device, backend=c.backend,
                                      cpu_threads=c.cpu_threads)
    return self.replayers[k, n]

  def scales(self, z: np.ndarray) -> dict:
    return {name: P.from_z(name, z[:, i]) for i, name in enumerate(self.cfg.params)}

  def run(self, z: np.ndarray, latency: np.ndarray, capacity: int | None = None):
    """z (n, P), latency (n,) -> ([channels (T_k + 1, n, C) per motion], health (n,), 0 when
    healthy in every motion) on the device, on every rank.

    Inside a torch.distributed job (module doc, Sharded over ranks) each rank simulates its
    share of the n candidates (distributed.shard; the last share padded with copies of the
    last candidate) and the shares are gathered, so every rank holds the whole batch."""
    n = len(z)
    lo, hi = distributed.shard(n, self.rank)
    if self.rank.distributed:
      pad = max(0, hi - n)
      z = np.concatenate([z, np.repeat(z[-1:], pad, axis=0)])[lo:hi]
      latency = np.concatenate([latency, np.repeat(latency[-1:], pad)])[lo:hi]
    m = len(z)
    cap = capacity or m
    outs, health = [], None
    for k, motion in enumerate(self.motions):
      parts, healths = [], []
      for s in range(0, m, cap):
        zz, ll = z[s:s + cap], latency[s:s + cap]
        rep = self.replayer(cap if m > cap or capacity else len(zz), k)
        qpos0, qvel0 = motion.state
        out, h, _ = rep.rollout(self.scales(zz), ll, qpos0, qvel0, **motion.replay())
        parts.append(out)
        healths.append(h)
      self.worlds += n  # candidates of the job, whichever rank simulated them
      outs.append(distributed.gather_shares(torch.cat(parts, 1), n, dim=1))
      h = distributed.gather_shares(torch.cat(healths), n)
      health = h if health is None else torch.where(health != 0, health, h)
    return outs, health


class _PooledLoss:
  """ReplayLoss over several motions: residuals concatenated, so the score is the mean
  squared residual over every sample of every motion."""

  def __init__(self, losses: list):
    self.losses = losses

  def residuals(self, sims: list) -> torch.Tensor:
    return torch.cat([l.residuals(s) for l, s in zip(self.losses, sims)], dim=1)

  def layout(self) -> list:
    """[(T, C')] per motion: its block of the residual vector is T control steps x C'
    channels, time-major (ReplayLoss.residuals)."""
    return [(l.ref.shape[0] - 1, len(l.index)) for l in self.losses]

  def cost(self, sims: list, health: torch.Tensor | None = None) -> torch.Tensor:
    c = self.residuals(sims).square().mean(1)
    bad = ~torch.isfinite(c)
    if health is not None:
      bad |= health != 0
    return torch.where(bad, torch.full_like(c, math.inf), c)


def replay_curvature(J: np.ndarray, second: np.ndarray, h: float, layout: list) -> np.ndarray:
  """(M, P) per motion and parameter: |r(z + h e_i) - 2 r(z) + r(z - h e_i)| / |r(z + h e_i) -
  r(z - h e_i)| over the motion's block of the residuals (0 where the parameter does not move
  it). O(h) on a smooth replay; near 1 when a discrete event (a contact or joint limit that
  engages, a self-collision) moves between z - h e_i and z + h e_i.

  J: (N, P) central differences (r(z + h e_i) - r(z - h e_i)) / 2h; second: (N, P) second
  differences; layout: [(T, C')] per motion (_PooledLoss.layout)."""
  out, offset = [], 0
  for nstep, nused in layout:
    n = nstep * nused
    first = 2 * h * np.linalg.norm(J[offset:offset + n], axis=0)
    sec = np.linalg.norm(second[offset:offset + n], axis=0)
    out.append(np.where(first > 1e-9, sec / np.maximum(first, 1e-30), 0.0))
    offset += n
  return np.array(out)


def one_sided_at_events(J: np.ndarray, second: np.ndarray, h: float, layout: list,
                        curvature: np.ndarray) -> np.ndarray:
  """J (N, P) with the block of every motion and parameter whose curvature (replay_curvature,
  (M, P)) exceeds SMOOTH_CURVATURE_MAX replaced by the one-sided difference of smaller norm:
  a discrete event between z - h e_i and z + h e_i puts its jump into the central difference
  (jump / 2h, no derivative), and the side without it still gives the slope."""
  out, offset = J.copy(), 0
  for k, (nstep, nused) in enumerate(layout):
    rows = slice(offset, offset + nstep * nused)
    for i in np.nonzero(curvature[k] > SMOOTH_CURVATURE_MAX)[0]:
      forward = J[rows, i] + second[rows, i] / (2 * h)   # (r(z + h e_i) - r(z)) / h
      backward = J[rows, i] - second[rows, i] / (2 * h)  # (r(z) - r(z - h e_i)) / h
      out[rows, i] = forward if np.linalg.norm(forward) < np.linalg.norm(backward) else backward
    offset += nstep * nused
  return out


def white_noise_covariance(r: np.ndarray, J: np.ndarray) -> np.ndarray:
  """s^2 (J'J)^-1 (P, P) in z, s^2 = r'r / (N - P): the covariance of the least-squares
  estimate if the residuals were independent with one variance (module doc, Uncertainty).

  r: (N,) residuals at the estimate; J: (N, P) their Jacobian d r / d z."""
  npar = J.shape[1]
  s2 = float(r @ r) / max(1, len(r) - npar)
  return s2 * np.linalg.pinv(J.T @ J)


@torch.no_grad()
def sensor_noise_covariance(batch: "_Batch", loss: _PooledLoss, z: np.ndarray, latency: int,
                            r: np.ndarray, J: np.ndarray, nsample: int,
                            seed: int = 0) -> tuple:
  """Covariance of the estimate under the robot's sensor noise, by simulation (module doc,
  Uncertainty).

  batch, loss: the motions and residuals of the final fit; z (P,), latency: the estimate;
  r (N,): its residuals, J (N, P): their Jacobian d r / d z (loss.layout() blocks);
  nsample: simulated logs. Each motion runs nsample + 1 worlds at the estimate: world 0
  noiseless, the others with white Gaussian noise (per channel std = RMS of that channel's
  residual, in its units) on every reading, the PD loop computing from the noisy joint
  readings as the robot's does. Each noisy log moves the linearised least-squares estimate
  by dz = J^+ (log - log_0) / scale.

  Returns (covariance (P, P) = mean of dz dz' (the spread and any mean shift), mean dz (P,),
  samples used)."""
  rng = np.random.default_rng([int(seed), 0xC0F])
  pinv = np.linalg.pinv(J)  # (P, N)
  dref, ok, offset = [], None, 0
  for k, (motion, part) in enumerate(zip(batch.motions, loss.losses)):
    nstep, nused = loss.layout()[k]
    idx = part.index.cpu().numpy()
    scale = part.scale[part.index].double().cpu().numpy()
    block = r[offset:offset + nstep * nused].reshape(nstep, nused)
    offset += nstep * nused
    sigma = np.zeros(part.ref.shape[1])
    sigma[idx] = np.sqrt(np.mean(block ** 2, axis=0)) * scale
    noise = rng.standard_normal((nstep + 1, nsample + 1, len(sigma))) * sigma
    noise[:, 0] = 0.0
    # this rank's share of the worlds (all of them outside a distributed job; _Batch.run)
    lo, hi = distributed.shard(nsample + 1, batch.rank)
    rows = np.minimum(np.arange(lo, hi), nsample)  # a padded share repeats the last world
    rep = batch.replayer(len(rows), k)
    kw = motion.replay()
    if "pd" in kw:  # the robot's loop sees the same noisy readings that its log holds
      kw["pd_noise"] = noise[:-1, rows, :2 * len(rep.qadr)]
    zz = np.repeat(np.asarray(z, dtype=np.float64)[None], len(rows), axis=0)
    out, health, _ = rep.rollout(batch.scales(zz), int(latency), *motion.state, **kw)
    out = distributed.gather_shares(out, nsample + 1, dim=1)
    health = distributed.gather_shares(health, nsample + 1)
    batch.worlds += nsample + 1
    sim = out.double().cpu().numpy()[1:, :, idx]               # (T, n + 1, C')
    logs = sim[:, 1:] + noise[1:, 1:, idx]
    dref.append(((logs - sim[:, :1]) / scale).transpose(1, 0, 2).reshape(nsample, -1))
    good = (health[1:] == 0).cpu().numpy() & np.isfinite(dref[-1]).all(1)
    ok = good if ok is None else ok & good
  dz = np.concatenate(dref, axis=1)[ok] @ pinv.T               # (n, P)
  return dz.T @ dz / max(1, len(dz)), dz.mean(0), int(len(dz))


def excitation_motions(robot, cfg: CalibrationConfig) -> list:
  """The stand excitation, then the floor phase (module doc) when ground friction is to be
  calibrated and floor_duration_s > 0."""
  nstep = max(1, int(round(cfg.duration_s / robot.control_dt)))
  out = M.held_motions(nstep, robot.control_dt, seed=cfg.seed + 7919,
                       range_fraction=cfg.range_fraction, model=cfg.model)
  if cfg.floor_duration_s > 0 and "ground_friction" in cfg.params:
    nfloor = max(1, int(round(cfg.floor_duration_s / robot.control_dt)))
    out += M.floor_motions(nfloor, robot.control_dt, seed=cfg.seed + 7877, model=cfg.model)
  return out


def calibrate(robot, cfg: CalibrationConfig | None = None, motion=None, log=None,
              verbose: bool = False, progress=None) -> Calibration:
  """Identifies `robot`'s parameters (module doc). `motion`: the excitation, one motion or a
  list (default excitation_motions(robot, cfg)); `log`: its SensorLog(s) if already recorded
  (else the robot executes the motions now). `progress`: None, or called after each CMA-ES
  generation as progress(generation, generations, best_cost, best_latency) (generation counts
  from 1; best_cost the lowest cost so far, best_latency its latency in physics steps), e.g.
  to advance a progress bar."""
  cfg = cfg or CalibrationConfig()
  t_start = time.perf_counter()
  motions = excitation_motions(robot, cfg) if motion is None else \
    (list(motion) if isinstance(motion, (list, tuple)) else [motion])
  if log is None:  # in a distributed job rank 0 alone drives the robot and shares its logs
    logs = distributed.broadcast_object(
      [m.execute(robot) for m in motions] if distributed.group_rank().main else None)
  else:
    logs = list(log) if isinstance(log, (list, tuple)) else [log]
  contact = [bool(getattr(m, "contact", False)) for m in motions]
  fit_friction = "ground_friction" in cfg.params and any(contact)
  all_params = tuple(p for p in cfg.params if p != "ground_friction" or fit_friction)
  # CMA-ES and the first LM fit every parameter but friction on the contact-free motions, whose
  # cost is smooth everywhere; the contact motions (smooth near the truth only, motions.py)
  # join afterwards, with friction (module doc, step 4)
  cfg = dataclasses.replace(cfg, params=tuple(p for p in all_params if p != "ground_friction"))
  stand = [i for i, c in enumerate(contact) if not c] or list(range(len(motions)))
  decimation = int(round(robot.control_dt / P.base_mj_model(cfg.model).opt.timestep))
  batch = _Batch(cfg, [motions[i] for i in stand], decimation)
  rep0 = batch.replayer(1)
  njoint = len(rep0.qadr)
  loss = _PooledLoss([ReplayLoss(logs[i], njoint, motions[i].held, rep0.device) for i in stand])
  npar = len(cfg.params)
  history = []

  def say(*a):
    if verbose:
      print(f"[calibrate {robot.name}]", *a, flush=True)

  # ---- nominal score ----------------------------------------------------------------
  out, health = batch.run(np.zeros((1, npar)), np.zeros(1, dtype=int))
  cost_nominal = float(loss.cost(out, health)[0])
  history.append(("nominal", 0, cost_nominal))
  say(f"nominal cost {cost_nominal:.4g}")

  # ---- CMA-ES over z, one optimiser per latency -----------------------------------------
  # Every generation asks each latency's optimiser for `popsize` candidates, simulates
  # all of them in one batch (one candidate per world) and tells each optimiser its costs.
  # The optimisers share one seed, so every latency's first generation evaluates the same
  # candidates (a like-for-like first comparison of the latencies); their tells then differ.
  popsize = int(cfg.popsize)
  if popsize < 2:
    raise ValueError(f"CalibrationConfig.popsize={cfg.popsize}: CMA-ES needs at least 2 candidates "
                     f"per latency and generation (default 24)")
  bounds = np.tile([-cfg.z_clip, cfg.z_clip], (npar, 1))
  search = {int(l): CMA(mean=np.zeros(npar), sigma=cfg.init_std, bounds=bounds, seed=cfg.seed,
                        population_size=popsize) for l in cfg.latencies}
  lat_best = {int(l): math.inf for l in cfg.latencies}
  best = (math.inf, np.zeros(npar), int(cfg.latencies[0]))
  best_per_lat = {}
  lats = list(search)
  for gen in range(cfg.generations):
    z = np.array([[search[l].ask() for _ in range(popsize)] for l in lats])  # (A, popsize, P)
    if gen == 0:
      z[:, 0] = 0.0  # the nominal robot is always a candidate (the optimisers' start mean)
    zz = z.reshape(-1, npar)
    ll = np.repeat(np.asarray(lats), popsize)
    out, health = batch.run(zz, ll)  # a replayer of exactly this size: no padded worlds
    cost = loss.cost(out, health).cpu().numpy().reshape(len(lats), popsize)
    for a, l in enumerate(lats):
      i = int(np.argmin(cost[a]))
      if cost[a, i] < lat_best[l]:
        lat_best[l] = float(cost[a, i])
        best_per_lat[l] = z[a, i].copy()
      if cost[a, i] < best[0]:
        best = (float(cost[a, i]), z[a, i].copy(), l)
      # CMA-ES uses only the ranks: a failed (inf) world ranks last
      told = np.where(np.isfinite(cost[a]), cost[a], FAILED_COST)
      search[l].tell([(z[a, j], float(told[j])) for j in range(popsize)])
    history.append(("cma", gen, best[0]))
    say(f"cma gen {gen}: best {best[0]:.4g} latency {best[2]}")
    if progress is not None:
      progress(gen + 1, cfg.generations, best[0], best[2])
  # LM refines only the latencies within latency_prune of the best. Not pruned during the
  # search: a latency's optimiser needs generations before its best score means anything
  # (module doc, Sizes), and a pruned optimiser's worlds would not go to the others.
  active = [l for l in lats if lat_best[l] <= cfg.latency_prune * best[0]]
  say(f"cma: latencies {active} go on to LM (best scores {lat_best})")
  cost_search = best[0]

  # ---- Levenberg-Marquardt per remaining latency -------------------------------------
  h = cfg.fd_step
  states = {int(l): {"z": best_per_lat[int(l)].copy(), "cost": lat_best[int(l)], "lam": 1e-2}
            for l in active if int(l) in best_per_lat}

  def jacobians(states, batch, loss, npar):
    """One batch: center and +-h per parameter for every latency -> {lat: (r0, J, cost, ok,
    second)}, second (N, P): the second differences r(z + h e_i) - 2 r(z) + r(z - h e_i)."""
    lats = sorted(states)
    rows, lat_rows = [], []
    for l in lats:
      z0 = states[l]["z"]
      rows.append(z0)
      for i in range(npar):
        for sgn in (1.0, -1.0):
          zp = z0.copy()
          zp[i] += sgn * h
          rows.append(zp)
      lat_rows += [l] * (2 * npar + 1)
    out, health = batch.run(np.array(rows), np.array(lat_rows))
    res = loss.residuals(out).double()
    res_ok = torch.isfinite(res).all(1) & (health == 0)
    outj = {}
    for g, l in enumerate(lats):
      b = g * (2 * npar + 1)
      r0 = res[b]
      J = torch.stack([(res[b + 1 + 2 * i] - res[b + 2 + 2 * i]) / (2 * h) for i in range(npar)], 1)
      second = torch.stack([res[b + 1 + 2 * i] - 2 * r0 + res[b + 2 + 2 * i]
                            for i in range(npar)], 1)
      ok = bool(res_ok[b:b + 2 * npar + 1].all())
      outj[l] = (r0, J, float(r0.square().mean()) if ok else math.inf, ok, second)
    return outj

  def levenberg_marquardt(states, batch, loss, npar, stage, iterations):
    """Up to `iterations` LM steps of every latency in `states` (updated in place)."""
    for it in range(iterations):
      if not states or not lm_step(states, batch, loss, npar, stage, it):
        break

  def lm_step(states, batch, loss, npar, stage, it) -> bool:
    """One LM step (one batch of trial steps); False when nothing improved."""
    jac = jacobians(states, batch, loss, npar)
    trials, trial_rows, trial_lat = [], [], []
    for l, (r0, J, c0, ok, _) in jac.items():
      if not ok:
        continue
      states[l]["cost"] = c0
      H = J.T @ J
      g = J.T @ r0
      d = torch.diag(H) + 1e-12 * torch.trace(H) / npar
      for lam in cfg.lm_lambdas:
        step = torch.linalg.solve(H + lam * torch.diag(d), -g).cpu().numpy()
        trials.append((l, lam))
        trial_rows.append(np.clip(states[l]["z"] + step, -2 * cfg.z_clip, 2 * cfg.z_clip))
        trial_lat.append(l)
    if not trials:
      return False
    out, health = batch.run(np.array(trial_rows), np.array(trial_lat))
    cost = loss.cost(out, health).cpu().numpy()
    improved = False
    for l in list(states):
      idx = [j for j, (tl, _) in enumerate(trials) if tl == l]
      if not idx:
        continue
      j = min(idx, key=lambda j: cost[j])
      if cost[j] < states[l]["cost"]:
        rel = (states[l]["cost"] - cost[j]) / max(states[l]["cost"], 1e-30)
        improved |= rel > 1e-4
        states[l].update(z=trial_rows[j], cost=float(cost[j]), lam=trials[j][1])
    bl = min(states, key=lambda l: states[l]["cost"])
    for l in states:
      lat_best[l] = min(lat_best[l], states[l]["cost"])
    history.append((stage, it, states[bl]["cost"]))
    say(f"{stage} iter {it}: best {states[bl]['cost']:.4g} latency {bl}")
    return improved

  levenberg_marquardt(states, batch, loss, npar, "lm", cfg.lm_iterations)
  batches = [batch]

  # ---- ground friction: start on a grid, then LM on every parameter and motion ---------
  # (not friction alone with the others fixed: measured worse, module doc)
  if fit_friction and states:
    lat = min(states, key=lambda l: states[l]["cost"])
    cfg = dataclasses.replace(cfg, params=all_params)
    npar = len(all_params)
    fi = all_params.index("ground_friction")
    batch = _Batch(cfg, motions, decimation)
    batches.append(batch)
    loss = _PooledLoss([ReplayLoss(lg, njoint, m.held, rep0.device) for m, lg in zip(motions, logs)])
    grid = np.linspace(-cfg.z_clip, cfg.z_clip, cfg.friction_grid)
    rows = np.repeat(np.insert(states[lat]["z"], fi, 0.0)[None], len(grid), axis=0)
    rows[:, fi] = grid
    out, health = batch.run(rows, np.full(len(grid), lat))
    cost = loss.cost(out, health).cpu().numpy()
    j = int(np.argmin(cost))
    history.append(("friction-grid", 0, float(cost[j])))
    say(f"friction grid: best cost {cost[j]:.4g} at scale "
        f"{float(P.from_z('ground_friction', grid[j])):.3f}")
    states = {lat: {"z": rows[j].copy(), "cost": float(cost[j]), "lam": 1e-2}}
    levenberg_marquardt(states, batch, loss, npar, "lm-all", cfg.friction_lm_iterations)

  # ---- final Jacobian at the estimate: covariance ------------------------------------
  if states:
    lat_hat = min(states, key=lambda l: states[l]["cost"])
    final = {lat_hat: states[lat_hat]}
    r0, J, c_final, ok, second = jacobians(final, batch, loss, npar)[lat_hat]
    z_hat = states[lat_hat]["z"]
  else:  # every latency failed in LM: keep the population search's best
    lat_hat, z_hat = best[2], best[1]
    out, health = batch.run(z_hat[None], np.array([lat_hat]))
    r0 = loss.residuals(out)[0].double()
    J, c_final, ok = None, float(loss.cost(out, health)[0]), False
  s2 = float(r0.square().sum()) / max(1, r0.numel() - npar)
  cov_white = cov = np.full((npar, npar), np.nan)
  shift = np.full(npar, np.nan)
  curvature = {}
  if J is not None and ok:
    r_np, J_np, second_np = r0.cpu().numpy(), J.cpu().numpy(), second.cpu().numpy()
    ratio = replay_curvature(J_np, second_np, h, loss.layout())
    curvature = {batch.motions[k].name: dict(zip(cfg.params, map(float, ratio[k])))
                 for k in range(len(ratio))}
    cov = cov_white = white_noise_covariance(r_np, J_np)
    if cfg.noise_samples > 0:
      J_cov = one_sided_at_events(J_np, second_np, h, loss.layout(), ratio)
      cov, shift, nused = sensor_noise_covariance(batch, loss, z_hat, lat_hat, r_np, J_cov,
                                                  cfg.noise_samples, cfg.seed)
      if nused < cfg.noise_samples // 2:
        raise RuntimeError(f"calibrate({robot.name}): only {nused} of {cfg.noise_samples} "
                           "noisy worlds stayed healthy at the estimate; the estimate is suspect")
  std = np.sqrt(np.clip(np.diag(cov), 0, None))
  std_white = np.sqrt(np.clip(np.diag(cov_white), 0, None))
  smooth = bool(curvature) and all(v <= SMOOTH_CURVATURE_MAX for c in curvature.values()
                                   for v in c.values())

  est = P.nominal_params()
  z_out, std_out, ci, std_white_out, shift_out = {}, {}, {}, {}, {}
  for i, name in enumerate(cfg.params):
    est[name] = float(P.from_z(name, z_hat[i]))
    z_out[name] = float(z_hat[i])
    std_out[name] = float(std[i])
    std_white_out[name] = float(std_white[i])
    shift_out[name] = float(shift[i])
    ci[name] = (float(P.from_z(name, z_hat[i] - 1.96 * std[i])),
                float(P.from_z(name, z_hat[i] + 1.96 * std[i])))
  unidentified = tuple(n for n in P.CONTINUOUS_PARAMS if n not in cfg.params)
  for name in unidentified:
    ci[name] = (P.PRIORS[name].low, P.PRIORS[name].high)
  est["latency"] = int(lat_hat)
  history.append(("final", 0, c_final))
  say(f"final cost {c_final:.4g} latency {lat_hat} params "
      f"{ {k: round(v, 4) for k, v in est.items()} }")
  return Calibration(
    robot=robot.name, params=est, z=z_out, std_z=std_out, std_z_white=std_white_out,
    noise_shift_z=shift_out, replay_curvature=curvature, smooth_replay=smooth, ci95=ci,
    identified=tuple(cfg.params),
    unidentified=unidentified, latency_costs={int(k): float(v) for k, v in lat_best.items()},
    covariance_z=cov.tolist(), cost_nominal=cost_nominal, cost_search=cost_search, cost_final=c_final,
    residual_std=math.sqrt(s2), history=history, excitation="+".join(m.name for m in motions),
    nstep=sum(m.nstep for m in motions),
    wall_s=time.perf_counter() - t_start, worlds_simulated=sum(b.worlds for b in batches))
