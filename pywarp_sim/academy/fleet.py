"""The fleet loop: calibrate every robot, fit the fleet, randomise, train, evaluate, replay.

One round (`run_round`):
1. calibrate every robot (calibrate.py);
2. fit the fleet's parameter distribution: per parameter the mean and std of log(scale)
   over robots, plus the mean calibration uncertainty (`fit_distribution`);
3. turn it into a domain-randomisation spec: ranges exp(mean +- k * sigma) as a plain dict,
   and a `pywarp_sim.randomize.DomainRandomization` when that module provides one
   (`randomization_spec`);
4. optionally train / fine-tune the shared policy with `pywarp_sim.train` on that spec, with
   the incident buffer replayed into the training worlds (skipped unless asked);
5. evaluate the shared policy on every robot; a fall is an *incident*: the robot's state
   shortly before the fall (from its sensors and motion capture) and its calibrated
   parameters go into the `IncidentBuffer`;
6. incident replay: the buffer's scenarios are written into simulated worlds for the next
   round (start state qpos/qvel + parameters in the worlds' bank rows; `IncidentBuffer.apply`),
   and the round checks whether simulation reproduces each incident.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch

from . import calibrate as C
from . import params as P
from .simbatch import Replayer


# ---- fleet distribution and randomisation spec --------------------------------------------

def fit_distribution(calibrations: list) -> dict:
  """{param: {"mean": exp(mean log scale), "std_log": std over robots of log(scale),
  "cal_std_log": RMS calibration std (log units), "sigma_log": both combined, "n": robots,
  "identified": bool}} for every continuous parameter, plus "latency": {"values": [...],
  "min": int, "max": int}."""
  out = {}
  for name in P.CONTINUOUS_PARAMS:
    logs = np.array([math.log(c.params[name]) for c in calibrations])
    identified = all(name in c.identified for c in calibrations)
    if identified:
      cal_std = np.array([c.std_z[name] * P.PRIORS[name].sigma for c in calibrations])
      cal = float(np.sqrt(np.mean(cal_std ** 2)))
      std = float(logs.std(ddof=1)) if len(logs) > 1 else 0.0
      sigma = math.sqrt(std ** 2 + cal ** 2)
    else:  # not identified: the prior spread stands
      cal, std, sigma = P.PRIORS[name].sigma, 0.0, P.PRIORS[name].sigma
    out[name] = {"mean": float(math.exp(logs.mean())), "std_log": std, "cal_std_log": cal,
                 "sigma_log": sigma, "n": len(calibrations), "identified": identified}
  lat = [int(c.params["latency"]) for c in calibrations]
  out["latency"] = {"values": lat, "min": min(lat), "max": max(lat)}
  return out


def randomization_spec(dist: dict, k_sigma: float = 2.0, min_halfwidth_log: float = 0.02,
                       physics_steps_per_control: int = 2, obs_noise_std: float = 0.0):
  """(spec dict, DomainRandomization or None) covering the fleet: every range is
  exp(log mean +- max(k_sigma * sigma_log, min_halfwidth_log)).

  The dict holds the academy's own parameters ("ranges": {param: (low, high)}, latency in
  control steps) and the keys of pywarp_sim.randomize.DomainRandomization it maps onto:
  body_mass_scale (one range for all bodies: the union of the mass groups), dof_damping_scale,
  dof_armature_scale, actuator_strength_scale, geom_friction_scale, latency_steps (physics
  steps: the robots' latency in control steps times `physics_steps_per_control`, a delay of
  the ctrl, i.e. for envs with actuation_delay="ctrl" and pd_decimation =
  physics_steps_per_control: `robot_control_env_overrides`), obs_noise_std when > 0.
  geom_friction_scale scales all three friction coefficients of every geom per world
  (randomize.py) where the academy scales the sliding one only; torsional and rolling
  friction act only with condim >= 4, which humanoid.xml does not use.
  """
  ranges = {}
  for name in P.CONTINUOUS_PARAMS:
    d = dist[name]
    half = max(k_sigma * d["sigma_log"], min_halfwidth_log)
    mid = math.log(d["mean"])
    ranges[name] = (math.exp(mid - half), math.exp(mid + half))
  lat = dist["latency"]
  dr = {
    "body_mass_scale": (min(ranges[g][0] for g in P.MASS_GROUPS), max(ranges[g][1] for g in P.MASS_GROUPS)),
    "dof_damping_scale": ranges["joint_damping"],
    "dof_armature_scale": ranges["joint_armature"],
    "actuator_strength_scale": ranges["motor_strength"],
    "geom_friction_scale": ranges["ground_friction"],
    "latency_steps": (lat["min"] * physics_steps_per_control, lat["max"] * physics_steps_per_control),
  }
  if obs_noise_std > 0:
    dr["obs_noise_std"] = obs_noise_std
  spec = {"ranges": ranges, "latency_control_steps": (lat["min"], lat["max"]),
          "randomization": dr,
          "notes": [f"latency_steps in physics steps ({physics_steps_per_control} per control step), "
                    f"a delay of the ctrl"]}
  obj = None
  try:
    from .. import randomize
    obj = randomize.DomainRandomization(**{k: (tuple(float(x) if k != "latency_steps" else int(x)
                                                     for x in v) if isinstance(v, tuple) else float(v))
                                           for k, v in dr.items()})
    obj.validate()
  except Exception as e:  # module absent or different: the dict still stands
    spec["notes"].append(f"pywarp_sim.randomize.DomainRandomization not built: {type(e).__name__}: {e}")
    obj = None
  return spec, obj


def robot_control_env_overrides(physics_steps_per_control: int) -> dict:
  """Env overrides (HumanoidEnvCfg) that make the training env's actuation the robots' control
  loop (gap.rollout_return): the PD law evaluated once per control step and held, each ctrl
  reaching the motors `latency` physics steps late."""
  return {"pd_decimation": int(physics_steps_per_control), "actuation_delay": "ctrl"}


# ---- incidents ------------------------------------------------------------------------

@dataclasses.dataclass
class Incident:
  """A failure on a robot: the state shortly before it and the robot's calibrated parameters."""
  robot: str
  kind: str           # "fall"
  round: int
  time: float         # s since the start of the episode, of the recorded state
  qpos: np.ndarray    # (nq,) from sensors + motion capture
  qvel: np.ndarray    # (nv,)
  params: dict        # calibrated parameters of the robot (scales and latency)

  def to_dict(self) -> dict:
    d = dataclasses.asdict(self)
    d["qpos"], d["qvel"] = self.qpos.tolist(), self.qvel.tolist()
    return d


def state_from_frame(frame) -> tuple:
  """(qpos, qvel) of the free robot from a SensorFrame with motion capture."""
  if frame.base_pos is None or frame.base_linvel is None:
    raise ValueError("recording an incident state needs motion capture (frame.base_pos / base_linvel)")
  qpos = np.concatenate([frame.base_pos, frame.base_quat, frame.joint_pos])
  qvel = np.concatenate([frame.base_linvel, frame.base_angvel, frame.joint_vel])
  return qpos, qvel


class IncidentBuffer:
  """Incidents from the fleet, replayed as start scenarios into simulated worlds.

  `apply(target, worlds)` writes incident i % len(buffer) into world worlds[i]: its start
  state (qpos, qvel) and its parameters into the world's bank row (mass, motor strength,
  damping, armature, ground friction; the Model must have nbank == nworld). It returns the worlds' latencies
  (control steps) for the caller's controller, and the incidents used. `target` is a
  Simulator or a simbatch.Replayer."""

  def __init__(self, capacity: int = 1024):
    self.capacity = capacity
    self.incidents: list = []

  def __len__(self):
    return len(self.incidents)

  def add(self, incident: Incident):
    self.incidents.append(incident)
    if len(self.incidents) > self.capacity:
      self.incidents.pop(0)

  @torch.no_grad()
  def apply(self, target, worlds) -> tuple:
    if not self.incidents:
      raise ValueError("the incident buffer is empty")
    sim = target.sim if isinstance(target, Replayer) else target
    worlds = torch.as_tensor(worlds, dtype=torch.long).reshape(-1)
    if sim.model.nbank != sim.nworld:
      raise ValueError(f"incident replay writes parameters per world: build the simulator with "
                       f"nbank=nworld ({sim.nworld}), got nbank={sim.model.nbank}")
    used = [self.incidents[i % len(self.incidents)] for i in range(len(worlds))]
    writer = target.writer if isinstance(target, Replayer) else P.BankWriter(sim.model)
    writer.write({k: torch.tensor([inc.params[k] for inc in used], dtype=torch.float32)
                  for k in P.BANK_PARAMS}, worlds=worlds)
    qpos = torch.as_tensor(np.stack([inc.qpos for inc in used]), dtype=torch.float32)
    qvel = torch.as_tensor(np.stack([inc.qvel for inc in used]), dtype=torch.float32)
    if isinstance(target, Replayer):
      target.set_state(qpos, qvel, worlds=worlds)
    else:
      dev = sim.torch_device
      sim.reset(worlds.to(dev), recompute=False)
      sim.qpos[worlds.to(dev)] = qpos.to(dev)
      sim.qvel[worlds.to(dev)] = qvel.to(dev)
      sim.forward()
    latency = torch.tensor([int(inc.params["latency"]) for inc in used])
    return latency, used

  def attach(self, env, fraction: float = 0.1, seed: int = 0):
    """Replays incidents in a fraction of the resets of a pywarp_sim.envs HumanoidEnv (its
    model must have per-world banks, e.g. built with a physical randomisation spec): after
    the env's own reset of a set of worlds, `fraction` of them start from an incident state
    with the incident robot's parameters and, when the env delays the ctrl
    (actuation_delay="ctrl"), its latency (control steps times the env's pd_decimation).
    Installed as the env's reset scenario (HumanoidEnv.set_reset_scenario), after any
    scenario already there; returns a function that restores the previous one."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    buffer = self
    inner = None

    def reset_with_incidents(mask):
      if inner is not None:
        inner(mask)
      if not buffer.incidents:
        return
      pick = mask.cpu() & (torch.rand(mask.shape[0], generator=gen) < fraction)
      worlds = torch.nonzero(pick).flatten()
      if len(worlds):
        latency, _ = buffer.apply(env.sim, worlds)
        if env.cfg.actuation_delay == "ctrl":
          env.set_latency(worlds, latency * env.cfg.pd_decimation)

    inner = env.set_reset_scenario(reset_with_incidents)
    return lambda: env.set_reset_scenario(inner)

  def to_list(self) -> list:
    return [i.to_dict() for i in self.incidents]


# ---- evaluation on robots -----------------------------------------------------------------

def zero_policy(obs):
  """The shared policy when none is trained: zero actions, i.e. hold the task's default pose
  with its PD law (a humanoid without a balance policy: it falls, which makes incidents)."""
  x = obs["policy"] if not torch.is_tensor(obs) else obs
  return torch.zeros(x.shape[0], 21, device=x.device)


def evaluate_robot(policy, env, robot, episode_s: float, pre_fall_s: float, round_index: int,
                   calibration) -> tuple:
  """Runs the policy on the robot (gap.rollout_return); returns (result dict, Incident or None)."""
  from .gap import rollout_return
  res = rollout_return(policy, env, robot, episode_s, record=True)
  frames = res.pop("frames")
  incident = None
  if res["fell"]:
    k = max(0, len(frames) - 1 - int(round(pre_fall_s / robot.control_dt)))
    qpos, qvel = state_from_frame(frames[k])
    incident = Incident(robot=robot.name, kind="fall", round=round_index, time=float(frames[k].time),
                        qpos=qpos, qvel=qvel, params=dict(calibration.params))
    res["fall_time"] = float(frames[-1].time)
  return res, incident


def replay_incidents(buffer: IncidentBuffer, env, horizon_s: float, decimation: int,
                     device="cpu") -> dict:
  """Writes every incident into its own simulated world (start state + parameters in the bank
  row) and runs the zero-action policy's PD law there (the env's kp/kd, at the robot control
  rate, with the incident robot's latency). Returns {"worlds", "reproduced" (fell again),
  "start_qpos_error" (max |qpos - incident qpos| after writing, a check), "bank_check"}."""
  n = len(buffer)
  rep = Replayer(n, decimation=decimation, device=device)
  latency, used = buffer.apply(rep, torch.arange(n))
  start_err = float((rep.sim.qpos.cpu() - torch.as_tensor(np.stack([u.qpos for u in used]),
                                                           dtype=torch.float32)).abs().max())
  bank = [rep.writer.read(w) for w in range(n)]
  bank_err = max(abs(bank[w][k] - used[w].params[k]) for w in range(n) for k in P.BANK_PARAMS)
  qpos0 = rep.sim.qpos.clone().cpu().numpy()
  qvel0 = rep.sim.qvel.clone().cpu().numpy()
  nstep = max(1, int(round(horizon_s / (decimation * rep.sim.model.opt.timestep))))
  default = env.default_joint_pos.cpu().numpy()
  targets = np.repeat(default[None], nstep, axis=0)
  force = env.force_per_ctrl.cpu().numpy()
  out, health, _ = rep.rollout({k: np.array([u.params[k] for u in used]) for k in P.BANK_PARAMS},
                               latency.numpy(), qpos0, qvel0,
                               pd=(targets, env.kp.cpu().numpy(), env.kd.cpu().numpy(), force))
  # fell again: the env's fall test (base height or tilt) on the replayed trajectory
  quat = out[:, :, 42:46].cpu().numpy()  # base orientation (w, x, y, z)
  gz = -(1.0 - 2.0 * (quat[..., 1] ** 2 + quat[..., 2] ** 2))  # gravity z in the base frame
  height = rep.last_base_height.cpu().numpy()
  fell = ((gz > env.cfg.termination_gravity_z) | (height < env.cfg.termination_height)).any(0)
  fell |= health.cpu().numpy() != 0
  return {"worlds": n, "reproduced": int(fell.sum()), "start_qpos_error": start_err,
          "bank_error": float(bank_err), "horizon_s": horizon_s}


# ---- the loop ----------------------------------------------------------------------------

@dataclasses.dataclass
class FleetConfig:
  calibration: C.CalibrationConfig = dataclasses.field(default_factory=C.CalibrationConfig)
  k_sigma: float = 2.0               # randomisation range: mean +- k_sigma * sigma (log)
  eval_task: str = "humanoid-stand"
  eval_episode_s: float = 3.0
  pre_fall_s: float = 0.3            # incident state: this long before the fall is detected
  replay_horizon_s: float = 1.0
  train_iterations: int = 0          # 0: no training (the zero policy is evaluated)
  train_envs: int = 64
  train_backend: str = "native"      # Simulator backend of the training envs ("warp" if native is missing)
  obs_noise_std: float = 0.01        # observation noise of the training envs (robots' sensors are noisy)
  device: str = "cpu"


def train_policy(spec_obj, buffer: IncidentBuffer, cfg: FleetConfig, log_dir: str,
                 physics_steps_per_control: int = 2):
  """Trains the shared policy with pywarp_sim.train on the fleet's randomisation, incidents
  replayed in 10% of the resets, the envs' actuation being the robots' control loop
  (`robot_control_env_overrides`). Returns (policy, info) or (None, {"skipped": reason})."""
  try:
    from .. import envs, train
  except Exception as e:
    return None, {"skipped": f"pywarp_sim.train unavailable: {type(e).__name__}: {e}"}
  overrides = {"randomization": dataclasses.asdict(spec_obj) if spec_obj is not None else None,
               **robot_control_env_overrides(physics_steps_per_control)}
  from .. import native
  # without a native build here the Warp backend trains the same task
  backend = "warp" if cfg.train_backend == "native" and not native.available(cfg.device) else cfg.train_backend
  overrides["backend"] = backend
  made = []
  make = envs.make

  def make_with_incidents(*a, **kw):  # train.train builds its env itself: hook the factory
    env = make(*a, **kw)
    if len(buffer):
      buffer.attach(env, 0.1)
    made.append(env)
    return env
  envs.make = make_with_incidents
  try:
    history = train.train(cfg.eval_task, cfg.train_envs, cfg.train_iterations, cfg.device,
                          log_dir=log_dir, env_overrides=overrides, verbose_rsl=False)
  except Exception as e:
    return None, {"skipped": f"training failed: {type(e).__name__}: {e}"}
  finally:
    envs.make = make
  import glob
  import os
  ckpts = sorted(glob.glob(os.path.join(log_dir, "model_*.pt")),
                 key=lambda p: int(os.path.basename(p)[6:-3]))
  if not ckpts:
    return None, {"skipped": "training wrote no checkpoint"}
  try:
    policy = load_policy(ckpts[-1], cfg.eval_task, cfg.device)
  except Exception as e:
    return None, {"skipped": f"loading the trained policy failed: {type(e).__name__}: {e}"}
  last = history[-10:]
  return policy, {"iterations": cfg.train_iterations, "checkpoint": ckpts[-1], "backend": backend,
                  "envs": cfg.train_envs,
                  "final_mean_return": history[-1]["mean_return"] if history else None,
                  "final_mean_length": (float(np.mean([h["mean_length"] for h in last]))
                                        if last else None),
                  "env_steps_per_s": (float(np.median([h["steps_per_s"] for h in history]))
                                      if history else None)}


def load_policy(checkpoint: str, task: str = "humanoid-stand", device="cpu"):
  """The inference policy (obs TensorDict -> actions) of an rsl-rl checkpoint written by
  pywarp_sim.train for `task`. The file is read weights-only (train.load_policy_checkpoint):
  one holding pickled Python objects raises train.PolicyCheckpointError before any env is
  built, and nothing in it is executed."""
  from .. import envs, train
  state = train.load_policy_checkpoint(checkpoint, device)
  env = envs.make(task, 1, device)
  runner = train.make_runner(env, train.runner_cfg(), None, env.device)
  train.restore_runner(runner, state, source=f"policy checkpoint {checkpoint}")
  return runner.get_inference_policy(device=env.device)


def unseen_robot_returns(policy, robots: list, spec: dict, task: str, episode_s: float,
                         ntwins: int = 8, seed: int = 0, device="cpu") -> dict:
  """The shared policy on proxy robots that no calibration saw, against its return in
  simulation on the distribution it was trained on: `ntwins` simulated twins with parameters
  drawn log-uniformly from the fleet's randomisation ranges (spec["ranges"], latency uniform
  over spec["latency_control_steps"]). Per robot {"return_robot", "fell_robot", "drop_rel"}
  with drop_rel = (mean twin return - return_robot) / |mean twin return|; plus the twins'
  returns and falls and the mean / max drop_rel."""
  from . import gap as G
  from .simbatch import SimRobot
  from .. import envs
  rng = np.random.default_rng([int(seed), 0x5EE])
  env = envs.make(task, 1, device)
  decimation = int(round(robots[0].control_dt / env.sim.model.opt.timestep))
  twins = []
  for _ in range(ntwins):
    params = {name: float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
              for name, (lo, hi) in spec["ranges"].items()}
    lat_lo, lat_hi = spec["latency_control_steps"]
    params["latency"] = int(rng.integers(lat_lo, lat_hi + 1))
    res = G.rollout_return(policy, env, SimRobot(params, name="twin", control_decimation=decimation,
                                                 device=device), episode_s)
    twins.append({"return": res["return"], "fell": res["fell"]})
  ref = float(np.mean([t["return"] for t in twins]))
  per = {}
  for robot in robots:
    res = G.rollout_return(policy, env, robot, episode_s)
    per[robot.name] = {"return_robot": res["return"], "fell_robot": res["fell"],
                       "drop_rel": (ref - res["return"]) / max(abs(ref), 1e-9)}
  rel = [d["drop_rel"] for d in per.values()]
  return {"robots": per, "return_sim": ref, "twins": twins,
          "twins_fell": sum(t["fell"] for t in twins), "robots_fell": sum(d["fell_robot"] for d in per.values()),
          "mean_drop_rel": float(np.mean(rel)) if rel else None,
          "max_drop_rel": float(np.max(rel)) if rel else None}


def run_round(robots: list, cfg: FleetConfig, buffer: IncidentBuffer | None = None,
              round_index: int = 0, policy=None, calibrations: list | None = None,
              log_dir: str | None = None, verbose: bool = False) -> dict:
  """One fleet round (module doc). Returns a report dict ("calibrations" and "policy" hold
  objects); `buffer` collects the incidents."""
  t0 = time.perf_counter()
  buffer = buffer if buffer is not None else IncidentBuffer()
  report = {"round": round_index}
  # incidents of earlier rounds: replay them in simulation first (they become scenarios)
  env = None
  try:
    from .. import envs
    env = envs.make(cfg.eval_task, 1, cfg.device)
  except Exception as e:
    report["evaluation"] = {"skipped": f"pywarp_sim.envs unavailable: {type(e).__name__}: {e}"}
  decimation = int(round(robots[0].control_dt / P.base_mj_model(cfg.calibration.model).opt.timestep))
  if len(buffer) and env is not None:
    report["incident_replay"] = replay_incidents(buffer, env, cfg.replay_horizon_s, decimation, cfg.device)

  calibrations = calibrations or [C.calibrate(r, cfg.calibration, verbose=verbose) for r in robots]
  dist = fit_distribution(calibrations)
  spec, spec_obj = randomization_spec(dist, k_sigma=cfg.k_sigma, physics_steps_per_control=decimation,
                                      obs_noise_std=cfg.obs_noise_std)
  report["distribution"] = dist
  report["randomization"] = spec
  if cfg.train_iterations > 0 and policy is None:
    import tempfile
    policy, info = train_policy(spec_obj, buffer, cfg, log_dir or tempfile.mkdtemp(prefix="pws_academy_"),
                                physics_steps_per_control=decimation)
    report["training"] = info
  else:
    report["training"] = {"skipped": "no training requested (train_iterations=0 or --quick)"}
  policy = policy or zero_policy
  if env is not None:
    evals = {}
    for robot, cal in zip(robots, calibrations):
      res, incident = evaluate_robot(policy, env, robot, cfg.eval_episode_s, cfg.pre_fall_s,
                                     round_index, cal)
      if incident is not None:
        buffer.add(incident)
        res["incident"] = True
      evals[robot.name] = res
    report["evaluation"] = evals
  report["incidents"] = len(buffer)
  report["wall_s"] = time.perf_counter() - t0
  report["calibrations"] = calibrations
  report["policy"] = policy
  return report
