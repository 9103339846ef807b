"""Sim-to-real gap metrics.

* `trajectory_gap`: the robot runs held-out motions (not the excitation); the simulation runs
  the same motions with given parameters; per channel NRMSE = RMSE / scale (scale = std of
  the logged channel, floored as in calibration). Nominal vs calibrated parameters on the
  same robot logs gives the gap before and after calibration. Sensor noise alone leaves an
  NRMSE that no model can remove (about 0.055 for the proxy's noise on the stand motions);
  with the robot's sensor noise measured at rest (`sensor_noise`), the *model gap* of a
  channel is sqrt(max(NRMSE^2 - (noise std / scale)^2, 0)), the part a model can explain.
  Both are reported ("nrmse" raw, "model_gap" noise-corrected).
* `parameter_error`: |log(estimate / truth)| per parameter and the latency error, against
  a proxy robot's hidden truth (`reveal_truth()`: proxies only; real robots have none).
* `policy_return_drop`: return of a policy in simulation minus its return on the robot, with
  the task's observations and rewards (pywarp_sim.envs) computed from each one's state.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..envs import control
from . import params as P
from .calibrate import SCALE_FLOORS
from .robot import channel_groups
from .simbatch import Replayer

GAP_GROUPS = ("joint_pos", "joint_vel")  # compared channels of held motions


def channel_scale(ref: np.ndarray, njoint: int) -> np.ndarray:
  groups = channel_groups(njoint)
  floors = np.empty(ref.shape[1])
  for name, sl in groups.items():
    floors[sl] = SCALE_FLOORS[name]
  return np.maximum(ref.std(0), floors)


def nrmse(sim: np.ndarray, ref: np.ndarray, scale: np.ndarray) -> np.ndarray:
  """(C,) RMSE over time (frames 1..T) of sim vs ref, divided by scale."""
  err = (np.asarray(sim)[1:] - np.asarray(ref)[1:]) / scale
  return np.sqrt(np.mean(err ** 2, axis=0))


def simulate_motion(motion, params_list: list, decimation: int, device="cpu", backend="auto",
                    model: str = "humanoid", contacts: bool = False, cpu_threads: int = 0):
  """Runs `motion` in simulation once per parameter set (one world each, one batch).
  Returns [(channels (T + 1, C) numpy, healthy bool)]."""
  held_pose = motion.state[0][:7] if motion.held else None
  rep = Replayer(len(params_list), decimation=decimation, held_pose=held_pose, model=model,
                 device=device, backend=backend, cpu_threads=cpu_threads)
  scales = {k: np.array([p.get(k, 1.0) for p in params_list]) for k in P.BANK_PARAMS}
  lat = np.array([int(p.get("latency", 0)) for p in params_list])
  out, health, _ = rep.rollout(scales, lat, *motion.state, contacts=contacts, **motion.replay())
  out = out.double().cpu().numpy()
  return [(out[:, j], int(health[j]) == 0) for j in range(len(params_list))]


def sensor_noise(robot, duration_s: float = 1.5, model: str = "humanoid") -> np.ndarray:
  """(C,) std of every packed channel while the robot holds still in the stand (PD loop on
  a constant mid-range target, second half of the log, linear trend removed): the sensor
  noise floor. Works on any robot.Robot (a real one included)."""
  from . import motions as M
  nstep = max(4, int(round(duration_s / robot.control_dt)))
  targets = np.repeat(M.mid_pose(model)[None], nstep, axis=0)
  log = M.PDExcitation("rest", targets, M.held_state(model), held=True, model=model).execute(robot)
  x = log.channels()[nstep // 2:]
  t = np.arange(len(x), dtype=np.float64)
  coef = np.polyfit(t, x, 1)
  resid = x - (np.outer(t, coef[0]) + coef[1])
  return resid.std(0)


def trajectory_gap(robot, param_sets: dict, motions: list, logs: list | None = None,
                   noise_std: np.ndarray | None = None, device="cpu", backend="auto",
                   model: str = "humanoid", cpu_threads: int = 0) -> dict:
  """The robot's logs of `motions` (executed now unless `logs` is given) against simulation
  with each parameter set of `param_sets` ({label: params}).

  Returns {"motions": [name], "logs": [SensorLog], label: {"nrmse": mean over motions and the
  compared channels, "model_gap": the same noise-corrected with noise_std (C,) (== nrmse
  when None), "by_group": {group: mean nrmse}, "per_motion": [mean nrmse],
  "per_motion_model_gap": [...], "per_channel": (M, C) list, "sim": [channels (T + 1, C)],
  "healthy": [bool]}}. Held motions compare joint channels (their base does not move); free
  motions compare every channel."""
  logs = logs if logs is not None else [m.execute(robot) for m in motions]
  decimation = int(round(robot.control_dt / P.base_mj_model(model).opt.timestep))
  labels = list(param_sets)
  out = {"motions": [m.name for m in motions], "logs": logs}
  for label in labels:
    out[label] = {"per_motion": [], "per_motion_model_gap": [], "per_channel": [], "sim": [],
                  "healthy": [], "by_group": {}}
  group_acc = {label: {} for label in labels}
  for motion, log in zip(motions, logs):
    ref = log.channels()
    nj = log.joint_pos.shape[1]
    groups = channel_groups(nj)
    use = GAP_GROUPS if motion.held else tuple(groups)
    scale = channel_scale(ref, nj)
    sims = simulate_motion(motion, [param_sets[l] for l in labels], decimation, device, backend, model,
                           cpu_threads=cpu_threads)
    for label, (sim, healthy) in zip(labels, sims):
      e = nrmse(sim, ref, scale) if healthy else np.full(ref.shape[1], np.inf)
      cols = np.concatenate([np.arange(ref.shape[1])[groups[g]] for g in use])
      floor = np.zeros_like(e) if noise_std is None else np.asarray(noise_std) / scale
      model_gap = np.sqrt(np.maximum(e ** 2 - floor ** 2, 0.0))
      o = out[label]
      o["per_motion"].append(float(np.mean(e[cols])))
      o["per_motion_model_gap"].append(float(np.mean(model_gap[cols])))
      o["per_channel"].append(e.tolist())
      o["sim"].append(sim)
      o["healthy"].append(healthy)
      for g in use:
        group_acc[label].setdefault(g, []).append(float(np.mean(e[groups[g]])))
  for label in labels:
    o = out[label]
    o["nrmse"] = float(np.mean(o["per_motion"])) if o["per_motion"] else math.nan
    o["model_gap"] = float(np.mean(o["per_motion_model_gap"])) if o["per_motion"] else math.nan
    o["by_group"] = {g: float(np.mean(v)) for g, v in group_acc[label].items()}
  return out


def parameter_error(estimate: dict, truth: dict, names=P.BANK_PARAMS) -> dict:
  """|log(estimate / truth)| per continuous parameter of `names`, their mean, and the
  latency error in control steps."""
  per = {n: abs(math.log(float(estimate.get(n, 1.0)) / float(truth[n]))) for n in names}
  return {"per_param": per, "mean_abs_log": float(np.mean(list(per.values()))),
          "latency_steps": abs(int(estimate.get("latency", 0)) - int(truth.get("latency", 0)))}


# ---- policy return on a robot vs in simulation ------------------------------------------

def _mirror_obs_and_reward(env, frame, actions, last_actions, compute_reward: bool):
  """Writes a robot frame (with mocap base pose/velocity) into the 1-world env's simulator
  and returns (obs TensorDict {"policy": (1, nobs)}, reward, fell) from the env's own
  definitions."""
  sim = env.sim
  qpos = torch.as_tensor(np.concatenate([frame.base_pos, frame.base_quat, frame.joint_pos]),
                         dtype=torch.float32)
  qvel = torch.as_tensor(np.concatenate([frame.base_linvel, frame.base_angvel, frame.joint_vel]),
                         dtype=torch.float32)
  sim.qpos[0, :len(qpos)] = qpos.to(sim.qpos.device)
  sim.qvel[0, :len(qvel)] = qvel.to(sim.qvel.device)
  sim.forward()
  env.last_actions.copy_(last_actions)
  env.actions.copy_(actions)
  reward, fell = 0.0, False
  if compute_reward:
    b = env.base_state()
    r, _ = env.compute_rewards(b)
    reward = float(r[0])
    cfg = env.cfg
    fell = bool((b["height"][0] < cfg.termination_height) | (b["gravity"][0, 2] > cfg.termination_gravity_z))
  return env.compute_observations(), reward, fell


def rollout_return(policy, env, robot, episode_s: float | None = None, record: bool = False):
  """Runs `policy` (obs TensorDict {"policy": (1, nobs)} -> actions (1, nu), as rsl-rl's
  inference policy) on `robot` (robot.Robot with
  mocap frames) in closed loop with the env's observations, PD law and rewards. The env
  provides definitions only (its simulator mirrors the robot's state); the PD law runs at
  the robot's control rate. Returns {"return", "steps", "fell", "frames"}."""
  cfg = env.cfg
  dt_env = env.dt
  sub = max(1, int(round(dt_env / robot.control_dt)))
  nsteps = int(math.ceil((episode_s or cfg.episode_length_s) / dt_env))
  qpos0 = env.initial_qpos.cpu().numpy().astype(np.float64)
  frame = robot.reset(qpos0, np.zeros(env.sim.model.nv))
  nu = env.num_actions
  actions = torch.zeros(1, nu, device=env.sim.qpos.device)
  last = actions.clone()
  obs, _, _ = _mirror_obs_and_reward(env, frame, actions, last, False)
  total, fell, frames = 0.0, False, [frame] if record else None
  kp, kd = env.kp.cpu().numpy(), env.kd.cpu().numpy()
  force = env.force_per_ctrl.cpu().numpy()
  lo, hi = env.ctrl_lo.cpu().numpy(), env.ctrl_hi.cpu().numpy()
  default = env.default_joint_pos.cpu().numpy()
  steps = 0
  with torch.no_grad():
    for steps in range(1, nsteps + 1):
      last = actions.clone()
      actions = torch.clamp(policy(obs), -cfg.clip_actions, cfg.clip_actions)
      a = actions[0].cpu().numpy().astype(np.float64)
      for _ in range(sub):
        # the env's control law in float64 on the robot's readings, at the robot's rate
        if cfg.action_type == "position":
          ctrl = control.pd_ctrl(frame.joint_pos, frame.joint_vel, default + cfg.action_scale * a,
                                 kp, kd, force, lo, hi)
        else:
          ctrl = control.clip_ctrl(cfg.action_scale * a, lo, hi)
        frame = robot.step(ctrl)
        if record:
          frames.append(frame)
      obs, reward, fell = _mirror_obs_and_reward(env, frame, actions, last, True)
      total += reward
      if fell:
        break
  return {"return": total, "steps": steps, "fell": fell, "frames": frames}


def policy_return_drop(policy, env_cfg, robot, sim_params: dict | None = None,
                       episode_s: float | None = None, device="cpu") -> dict:
  """Return of `policy` on a simulated twin (SimRobot with sim_params, nominal when None)
  minus its return on `robot`, both run by `rollout_return` with the task of `env_cfg`
  (a dict {"task": "humanoid-stand", **HumanoidEnvCfg overrides} or a HumanoidEnvCfg).

  Returns {"return_sim", "return_robot", "drop", "fell_sim", "fell_robot"}, or
  {"skipped": reason} when pywarp_sim.envs is missing or does not offer what is needed."""
  from .simbatch import SimRobot
  try:
    from .. import envs
    if isinstance(env_cfg, dict):
      cfg = dict(env_cfg)
      task = cfg.pop("task", "humanoid-stand")
      env = envs.make(task, 1, device, **cfg)
    else:
      env = envs.HumanoidEnv(env_cfg, 1, device)
    for attr in ("compute_observations", "compute_rewards", "base_state", "initial_qpos", "kp",
                 "kd", "force_per_ctrl", "ctrl_lo", "ctrl_hi", "default_joint_pos"):
      if not hasattr(env, attr):
        raise AttributeError(f"HumanoidEnv has no '{attr}'")
  except Exception as e:  # envs absent or changed: say so instead of guessing
    return {"skipped": f"pywarp_sim.envs unavailable for policy evaluation ({type(e).__name__}: {e})"}
  decimation = int(round(robot.control_dt / env.sim.model.opt.timestep))
  twin = SimRobot(sim_params, name="sim", control_decimation=decimation, device=device)
  sim_res = rollout_return(policy, env, twin, episode_s)
  robot_res = rollout_return(policy, env, robot, episode_s)
  return {"return_sim": sim_res["return"], "return_robot": robot_res["return"],
          "drop": sim_res["return"] - robot_res["return"], "fell_sim": sim_res["fell"],
          "fell_robot": robot_res["fell"], "steps_sim": sim_res["steps"],
          "steps_robot": robot_res["steps"]}
