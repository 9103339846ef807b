"""System identification of one robot on batched simulated worlds.

    cal = calibrate(robot)                      # robot: anything with the robot.Robot protocol
    cal.params      # {"mass_torso": 1.08, ..., "latency": 2}
    cal.ci95        # {"mass_torso": (1.06, 1.10), ...}

1. Excitation: the robot runs a short motion (motions.held_motions: PD-tracked random
   joint targets in a test stand, 1.5 s by default); its sensor log is the data.
2. Population search (CEM): each generation samples candidate parameter sets in normalised
   log coordinates z = log(scale) / prior_sigma (params.py), one candidate per world; every
   latency value is a separate world group that evaluates the same candidates. All worlds
   start from the logged start state and run the same motion (the PD loop on their own state,
   commands delayed by their latency). The score is the normalised mean squared error of the
   simulated sensor channels against the log. The elites refit the Gaussian; latencies whose
   best score is far worse than the best are dropped and their worlds go to the others.
3. Levenberg-Marquardt: from the best candidate of each remaining latency, central finite
   differences in one batch (one perturbed parameter per world, +-h: 2P + 1 worlds per
   latency), then trial steps for several damping values in one batch; the lowest cost wins.
4. Uncertainty: covariance of z = s^2 (J'J)^-1 from the final Jacobian, s^2 the residual
   variance r'r / (N - P); 95% intervals map back to scales. The residuals of one log are
   correlated in time (model error, PD feedback), so the intervals are optimistic when the
   model is wrong; with a correct model and white sensor noise they are about right.

Calibration touches the robot only through its Robot protocol methods (reset, step, run).
It never reads hidden values (a real robot has none to read).

Identifiability: scaling every mass, the motor strength, damping and armature together leaves
the joint dynamics unchanged; only the abdomen springs (jnt_stiffness, not calibrated: an
absolute torque reference) and the contact-free gravity/motor balance break that symmetry.
The estimates of mass_legs, mass_arms, motor_strength and joint_damping are therefore
strongly correlated (|rho| ~ 0.9-0.99 in `covariance_z`); the intervals account for it.

Not identified: ground friction (contact-free excitation). It stays at nominal and is listed in
`Calibration.unidentified` with its prior range as the interval.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch

from . import motions as M
from . import params as P
from .robot import channel_groups
from .simbatch import Replayer

# Floors of the per-channel scales (std of the logged channel): a nearly constant channel
# must not dominate the score through a tiny denominator.
SCALE_FLOORS = {"joint_pos": 0.02, "joint_vel": 0.2, "base_quat": 0.02, "base_angvel": 0.1}


@dataclasses.dataclass
class CalibrationConfig:
  """Sizes and options; the defaults fit a 2-core CPU (about 15-25 s per robot)."""
  nworld: int = 256            # worlds per CEM generation (all latency groups together)
  generations: int = 5
  elite_fraction: float = 0.1
  init_std: float = 1.0        # CEM start: N(0, init_std) in z (the prior spread)
  min_std: float = 0.02
  z_clip: float = 3.0          # candidates stay within +-z_clip prior sigmas
  latency_prune: float = 3.0   # drop a latency whose best score > latency_prune * best
  lm_iterations: int = 4
  lm_lambdas: tuple = (1e-3, 1e-2, 1e-1, 1.0)
  fd_step: float = 0.01        # z units (0.2-0.3% relative change of a scale)
  duration_s: float = 1.5      # excitation length
  range_fraction: float = 0.3  # excitation targets: +- this fraction of each half range
  seed: int = 0
  # ground friction is a bank parameter but the stand excitation has no contact
  params: tuple = tuple(p for p in P.BANK_PARAMS if p != "ground_friction")
  latencies: tuple = P.LATENCY_VALUES
  device: str = "cpu"
  backend: str = "auto"
  cpu_threads: int = 0         # native CPU step threads (0: OpenMP default); see simbatch.Replayer
  model: str = "humanoid"

  @classmethod
  def quick(cls, **kw) -> "CalibrationConfig":
    """Smaller search for quick demos and tests."""
    return cls(**{**dict(nworld=192, generations=4, lm_iterations=3, duration_s=1.2), **kw})

  @classmethod
  def gpu(cls, **kw) -> "CalibrationConfig":
    """A larger search for a GPU: more candidates per generation and a longer log."""
    return cls(**{**dict(nworld=4096, generations=8, lm_iterations=6, duration_s=3.0,
                         device="cuda"), **kw})


@dataclasses.dataclass
class Calibration:
  """Result of `calibrate`: point estimate, uncertainty and search history."""
  robot: str
  params: dict            # scales of every continuous parameter and "latency"
  z: dict                 # normalised log estimate of the identified parameters
  std_z: dict
  ci95: dict              # name -> (low, high) scale; prior range for unidentified ones
  identified: tuple
  unidentified: tuple
  latency_costs: dict     # latency -> best score seen (lower is better)
  covariance_z: list      # (P, P) in z, order of `identified`
  cost_nominal: float     # score of the nominal parameters (latency 0) on the excitation
  cost_cem: float
  cost_final: float
  residual_std: float     # sqrt(r'r / (N - P)), in channel-scale units
  history: list           # [(stage, iteration, best cost)]
  excitation: str
  nstep: int
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
  """Simulates candidate sets (z, latency) of one motion, in chunks of replayer size."""

  def __init__(self, cfg: CalibrationConfig, motion, decimation: int):
    self.cfg, self.motion, self.decimation = cfg, motion, decimation
    self.replayers = {}
    self.worlds = 0

  def _replayer(self, n: int) -> Replayer:
    if n not in self.replayers:
      c = self.cfg
      self.replayers[n] = Replayer(n, decimation=self.decimation,
                                   held_pose=self.motion.state[0][:7] if self.motion.held else None,
                                   model=c.model, device=c.device, backend=c.backend,
                                   cpu_threads=c.cpu_threads)
    return self.replayers[n]

  def scales(self, z: np.ndarray) -> dict:
    return {name: P.from_z(name, z[:, i]) for i, name in enumerate(self.cfg.params)}

  def run(self, z: np.ndarray, latency: np.ndarray, capacity: int | None = None):
    """z (n, P), latency (n,) -> (channels (T + 1, n, C), health (n,)) on the device."""
    n = len(z)
    cap = capacity or n
    outs, healths = [], []
    for s in range(0, n, cap):
      zz, ll = z[s:s + cap], latency[s:s + cap]
      rep = self._replayer(cap if n > cap or capacity else len(zz))
      qpos0, qvel0 = self.motion.state
      out, health, _ = rep.rollout(self.scales(zz), ll, qpos0, qvel0, **self.motion.replay())
      outs.append(out)
      healths.append(health)
      self.worlds += len(zz)
    return torch.cat(outs, 1), torch.cat(healths)


def excitation_motion(robot, cfg: CalibrationConfig):
  nstep = max(1, int(round(cfg.duration_s / robot.control_dt)))
  return M.held_motions(nstep, robot.control_dt, seed=cfg.seed + 7919,
                        range_fraction=cfg.range_fraction, model=cfg.model)[0]


def calibrate(robot, cfg: CalibrationConfig | None = None, motion=None, log=None,
              verbose: bool = False) -> Calibration:
  """Identifies `robot`'s parameters (module doc). `motion`: the excitation (default
  excitation_motion(robot, cfg)); `log`: its SensorLog if already recorded (else the robot
  executes the motion now)."""
  cfg = cfg or CalibrationConfig()
  t_start = time.perf_counter()
  motion = motion or excitation_motion(robot, cfg)
  log = log if log is not None else motion.execute(robot)
  decimation = int(round(robot.control_dt / P.base_mj_model(cfg.model).opt.timestep))
  batch = _Batch(cfg, motion, decimation)
  rep0 = batch._replayer(1)
  loss = ReplayLoss(log, len(rep0.qadr), motion.held, rep0.device)
  rng = np.random.default_rng(cfg.seed)
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

  # ---- CEM over z, latency groups ------------------------------------------------------
  mu, sd = np.zeros(npar), np.full(npar, cfg.init_std)
  active = list(cfg.latencies)
  lat_best = {int(l): math.inf for l in cfg.latencies}
  best = (math.inf, np.zeros(npar), int(active[0]))
  best_per_lat = {}
  for gen in range(cfg.generations):
    m = max(2, cfg.nworld // len(active))
    z = mu + sd * rng.standard_normal((m, npar))
    if gen == 0:
      z[0] = 0.0  # the nominal robot is always a candidate
    z = np.clip(z, -cfg.z_clip, cfg.z_clip)
    zz = np.tile(z, (len(active), 1))
    ll = np.repeat(np.asarray(active), m)
    out, health = batch.run(zz, ll, capacity=cfg.nworld)
    cost = loss.cost(out, health).cpu().numpy()
    for l in active:
      sel = ll == l
      i = int(np.argmin(np.where(sel, cost, np.inf)))
      if cost[i] < lat_best[int(l)]:
        lat_best[int(l)] = float(cost[i])
        best_per_lat[int(l)] = zz[i].copy()
    i = int(np.argmin(cost))
    if cost[i] < best[0]:
      best = (float(cost[i]), zz[i].copy(), int(ll[i]))
    k = max(2, int(round(cfg.elite_fraction * len(cost))))
    elite = np.argsort(cost)[:k]
    elite = elite[np.isfinite(cost[elite])]
    if len(elite) >= 2:
      mu = zz[elite].mean(0)
      sd = np.maximum(zz[elite].std(0), cfg.min_std)
    if gen >= 1:
      active = [l for l in active if lat_best[int(l)] <= cfg.latency_prune * best[0]]
    history.append(("cem", gen, best[0]))
    say(f"cem gen {gen}: best {best[0]:.4g} latency {best[2]} active {active} "
        f"sd {np.round(sd, 3).tolist()}")
  cost_cem = best[0]

  # ---- Levenberg-Marquardt per remaining latency -------------------------------------
  h = cfg.fd_step
  states = {int(l): {"z": best_per_lat[int(l)].copy(), "cost": lat_best[int(l)], "lam": 1e-2}
            for l in active if int(l) in best_per_lat}

  def jacobians(states):
    """One batch: center and +-h per parameter for every latency -> {lat: (r0, J, cost)}."""
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
      ok = bool(res_ok[b:b + 2 * npar + 1].all())
      outj[l] = (r0, J, float(r0.square().mean()) if ok else math.inf, ok)
    return outj

  for it in range(cfg.lm_iterations):
    if not states:
      break
    jac = jacobians(states)
    trials, trial_rows, trial_lat = [], [], []
    for l, (r0, J, c0, ok) in jac.items():
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
      break
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
    history.append(("lm", it, states[bl]["cost"]))
    say(f"lm iter {it}: best {states[bl]['cost']:.4g} latency {bl}")
    if not improved:
      break

  # ---- final Jacobian at the estimate: covariance ------------------------------------
  if states:
    lat_hat = min(states, key=lambda l: states[l]["cost"])
    final = {lat_hat: states[lat_hat]}
    r0, J, c_final, ok = jacobians(final)[lat_hat]
    z_hat = states[lat_hat]["z"]
  else:  # every latency failed in LM: keep the CEM best
    lat_hat, z_hat = best[2], best[1]
    out, health = batch.run(z_hat[None], np.array([lat_hat]))
    r0 = loss.residuals(out)[0].double()
    J, c_final, ok = None, float(loss.cost(out, health)[0]), False
  nres = r0.numel()
  dof = max(1, nres - npar)
  s2 = float(r0.square().sum()) / dof
  if J is not None and ok:
    H = (J.T @ J).cpu().numpy()
    cov = s2 * np.linalg.pinv(H)
  else:
    cov = np.full((npar, npar), np.nan)
  std = np.sqrt(np.clip(np.diag(cov), 0, None))

  est = P.nominal_params()
  z_out, std_out, ci = {}, {}, {}
  for i, name in enumerate(cfg.params):
    est[name] = float(P.from_z(name, z_hat[i]))
    z_out[name] = float(z_hat[i])
    std_out[name] = float(std[i])
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
    robot=robot.name, params=est, z=z_out, std_z=std_out, ci95=ci, identified=tuple(cfg.params),
    unidentified=unidentified, latency_costs={int(k): float(v) for k, v in lat_best.items()},
    covariance_z=cov.tolist(), cost_nominal=cost_nominal, cost_cem=cost_cem, cost_final=c_final,
    residual_std=math.sqrt(s2), history=history, excitation=motion.name, nstep=motion.nstep,
    wall_s=time.perf_counter() - t_start, worlds_simulated=batch.worlds)
