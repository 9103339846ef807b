"""Sumo: two robots in a ring (selfplay.compose), batched over worlds on one device.

A robot *loses* when its root body leaves the ring (horizontal distance from the centre above
`ring_radius`) or it falls (root height below `fall_height`, or tilted so that gravity's z in
its root frame exceeds `fall_gravity_z`). When one robot loses and the other does not, the
other wins; both in the same env step, a non-healthy world (Simulator.health != 0) or the time
limit make a draw. Every episode ends with exactly one outcome (`extras["outcome"]`: +1 agent A
won, -1 agent B won, 0 draw, on the worlds in `dones`).

Actions (nworld, nu) per agent, joint position targets ``default_joint_pos + action_scale *
action`` (actions clipped to +-clip_actions first) held by the PD law of envs/control.py at
every physics step (kp = kp_per_gear * gear as the humanoid tasks, kd = kd_per_gear * gear);
one env step is `decimation` physics steps.

Observations (nworld, num_obs) per agent, egocentric, the same function for both agents with
the roles swapped (so one policy plays either side, and exchanging the two robots' states
exchanges their observations exactly):
  own root height (1, m), gravity in the own root frame (3), own linear velocity in the root
  frame (3, m/s), angular velocity in the root frame (3, rad/s, *0.25), joint positions minus
  default (nu, rad), joint velocities (nu, rad/s, *0.05), own last action (nu);
  in the own *heading frame* (the root's yaw only, z up): the opponent's root position
  relative to the own (3, m), its velocity relative to the own (3, m/s), its heading relative
  to the own as (cos, sin) (2), its gravity in its root frame (3), the ring centre (2, m);
  the own and the opponent's distance to the ring's edge (2, m); the fraction of the episode
  left (1).

Rewards (agent A's; `compute_rewards(agent)` gives either agent's): a weighted sum of named
terms, ``weight * term * dt`` for the shaping terms (weights per second, as the humanoid
tasks) plus the terminal terms, each 1 once, on the step of its outcome: ``win``, ``loss``
  and ``draw`` (the time limit, both down at once, or a non-healthy world); shaping terms:
  alive (1), upright (-gravity z in the root frame), approach (velocity towards the
  opponent, m/s, clipped to +-1), push (the opponent's velocity away from the ring centre,
  m/s, clipped to +-1), topple (the opponent's tilt, 1 + its gravity z, in [0, 2]), centre
  (-(own distance from the centre / ring_radius)^2), action_rate (-sum of squared action
  changes), torque (-sum of squared ctrl).

Everything in `step` runs with torch ops on the simulator's device (no host sync unless
`validate_actions`, one flag read); done worlds are reset inside `step` (on the CPU only when
some world is done, a free test there; on CUDA always, so the step stays sync-free).
"""

from __future__ import annotations

import dataclasses
import math

import mujoco
import numpy as np
import torch

from ..envs import control
from ..envs.mdp import quat_rotate_inverse
from ..randomize import WorldDraws
from ..simulator import Simulator, validate_actions
from ..envs.optional import TensorDict, VecEnvBase
from . import compose as composer

# Terminal terms: a draw costs what a loss does, since only wins count (the goal is a win rate):
# with loss -20 and draw 0 learners settled for standing still (117 draws in 256 matches
# against the initial policy). Staying up (upright 1) still outweighs the contact terms
# (with approach 1 and push 2 per second learners lunged at the opponent and fell first).
SUMO_REWARDS = {
  "win": 30.0, "loss": -10.0, "draw": -10.0, "alive": 0.5, "upright": 1.0, "approach": 0.3,
  "push": 2.0, "topple": 2.0, "centre": 0.5, "action_rate": -0.01, "torque": -0.01,
}
OUTCOMES = ("win", "draw", "loss")  # agent A's view; indices 0, 1, 2 of the outcome counts


@dataclasses.dataclass
class SumoCfg:
  """Configuration of the sumo task (module doc)."""
  model: str = "humanoid"             # the robot: bundled name, path or MJCF (selfplay.compose)
  ring_radius: float = 2.0            # m
  separation: float = 0.7             # m between the two roots at the start (hands almost touch)
  decimation: int = 4                 # physics steps per env step
  episode_length_s: float = 4.0       # time limit (a draw)
  action_scale: float = 0.25          # rad per unit action
  clip_actions: float = 5.0
  kp_per_gear: float = 12.0           # N m / rad per unit gear (humanoid tasks' value)
  # 3x the humanoid tasks' damping: the exploration noise on the joint targets then topples
  # the learner less (training games lost 27-43% instead of 50-65% at init_std 0.1) and a
  # 12-minute league beat the initial policy in 75 of 128 matches (0.31 after 25 minutes at
  # 0.05); standing robots stay still (mean joint speed 0.03 rad/s). 0.3 is too stiff for the
  # explicit PD law at this time step: the joints chatter (1.56 rad/s) and robots fall alone.
  kd_per_gear: float = 0.15
  default_joint_pos: dict = dataclasses.field(default_factory=lambda: {
    "right_hip_y": -0.1, "left_hip_y": -0.1, "right_knee": -0.2, "left_knee": -0.2,
    "right_ankle_y": -0.1, "left_ankle_y": -0.1})
  init_joint_noise: float = 0.05      # rad, uniform
  init_vel_noise: float = 0.05        # m/s and rad/s, uniform
  init_yaw_noise: float = 0.3         # rad, uniform, each robot
  init_pos_noise: float = 0.05        # m, uniform in x and y, each robot
  fall_height: float = 0.8            # m (root)
  fall_gravity_z: float = -0.6        # tilt beyond ~53 deg
  reward_weights: dict | None = None  # None: SUMO_REWARDS
  validate_actions: bool = True
  max_qvel: float = 1e3               # Simulator health bound
  backend: str = "auto"
  graph: bool = False                 # CUDA graph per physics step (CUDA only)
  seed: int = 0
  # a shard of a larger batch (self-play on several ranks, selfplay/ranks.py): this env's worlds
  # are global worlds [world_offset, world_offset + num_envs) of num_envs_total (None:
  # num_envs); each world's start states are that global world's in one env of num_envs_total
  # worlds with the same seed (randomize.WorldDraws)
  world_offset: int = 0
  num_envs_total: int | None = None


def yaw_rotate(heading: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
  """R_z(-yaw) v: world vectors v (..., 3) in the frame whose x axis points along `heading`
  (..., 2) = (cos yaw, sin yaw)."""
  c, s = heading[..., 0], heading[..., 1]
  x, y = v[..., 0], v[..., 1]
  return torch.stack([c * x + s * y, -s * x + c * y, v[..., 2]], dim=-1)


def heading(q: torch.Tensor) -> torch.Tensor:
  """(cos yaw, sin yaw) (..., 2) of the x axis of frames with unit quaternions q (..., 4): its
  horizontal projection normalised (products, sums, a square root and divisions only, which round
  the same however many worlds a call holds; torch's atan2 does not); (1, 0) where the x axis is
  vertical (atan2(0, 0) = 0)."""
  w, x, y, z = q.unbind(-1)
  fx, fy = 1.0 - 2.0 * (y * y + z * z), 2.0 * (w * z + x * y)
  norm = torch.sqrt(fx * fx + fy * fy)
  flat = norm > 0
  safe = torch.where(flat, norm, torch.ones_like(norm))
  return torch.stack([torch.where(flat, fx / safe, torch.ones_like(fx)), fy / safe], dim=-1)


def consecutive_rows(idx: torch.Tensor) -> tuple | None:
  """(first, gap) when every row of the (2, m) index tensor `idx` is consecutive (row k =
  first + k gap + arange(m)), else None."""
  rows = idx.cpu().tolist()
  m = len(rows[0])
  if m == 0 or any(r != list(range(r[0], r[0] + m)) for r in rows):
    return None
  return rows[0][0], rows[1][0] - rows[0][0]


def agent_columns(x: torch.Tensor, idx: torch.Tensor, block: tuple | None) -> torch.Tensor:
  """x[:, idx] (n, 2, m) for (2, m) column indices idx: a strided view of x (no copy; writes
  reach x) when `block` = consecutive_rows(idx), else a gathered copy."""
  if block is None:
    return x[:, idx]
  first, gap = block
  s0, s1 = x.stride()
  return x.as_strided((x.shape[0], 2, idx.shape[1]), (s0, gap * s1, s1), x.storage_offset() + first * s1)


class SumoEnv(VecEnvBase):
  """Two robots per world (module doc), with rsl-rl-lib's VecEnv interface for agent A.

  `step(actions)` takes agent A's actions; agent B's come from `opponent` (any callable
  obs_b (num_envs, num_obs) -> actions (num_envs, nu), e.g. an opponents.OpponentBatch; zero
  actions when None). `step_pair(actions_a, actions_b)` steps with both given.

  Attributes: num_envs, num_actions (per agent), num_obs, max_episode_length,
  episode_length_buf (num_envs,), device, dt (s per env step), cfg, sim, arena
  (compose.Arena), default_joint_pos (nu,), outcome_counts ((nslot, 3) float64 on the device:
  A's wins, draws, losses per opponent slot since pop_outcomes; slot = world // (num_envs //
  nslot), see set_slots).
  """

  def __init__(self, cfg: SumoCfg, num_envs: int, device="cpu"):
    if cfg.decimation < 1:
      raise ValueError(f"decimation must be >= 1, got {cfg.decimation}")
    self.cfg = cfg
    self.num_envs = int(num_envs)
    self.arena = composer.compose(cfg.model, ring_radius=cfg.ring_radius, separation=cfg.separation)
    self.sim = Simulator(self.arena.xml, nworld=self.num_envs, device=device, max_qvel=cfg.max_qvel,
                         graph=cfg.graph, backend=cfg.backend)
    # the zero-copy views are cached by the Simulator: take them here, outside any
    # torch.inference_mode (a view first made inside one could not be written outside it)
    _ = (self.sim.qpos, self.sim.qvel, self.sim.ctrl)
    tdev = self.sim.torch_device
    self.device = str(tdev)
    self._tdev = tdev
    m = self.sim.model
    mjm = m.mj_model
    self.mj_model = mjm
    agents = [composer.agent_indices(mjm, p) for p in self.arena.prefixes]
    self.agents = agents
    nu = len(agents[0]["ctrl"])
    if any(len(a["ctrl"]) != nu for a in agents) or m.nu != 2 * nu:
      raise ValueError("sumo: both agents must have the same actuators and none may be shared")
    self.num_actions = nu
    self.dt = m.opt.timestep * cfg.decimation
    self.max_episode_length = int(math.ceil(cfg.episode_length_s / self.dt))

    def long(x):
      return torch.as_tensor(np.asarray(x), dtype=torch.long, device=tdev)
    # (2, ...) index tensors, agent A first
    self._root_q = long([a["qpos"][:7] for a in agents])          # free joint: pos, quat
    self._root_v = long([a["qvel"][:6] for a in agents])          # lin vel (world), ang vel (body)
    self._joint_q = long([a["actuated_qpos"] for a in agents])
    self._joint_v = long([a["actuated_qvel"] for a in agents])
    self._ctrl = long([a["ctrl"] for a in agents])
    names = agents[0]["joint_names"]
    default = torch.zeros(nu, device=tdev)
    for jn, v in cfg.default_joint_pos.items():
      if jn not in names:
        raise ValueError(f"default_joint_pos: '{jn}' is not an actuated joint; joints: {names}")
      default[names.index(jn)] = float(v)
    self.default_joint_pos = default
    ids = agents[0]["ctrl"]
    gear = torch.as_tensor(mjm.actuator_gear[ids, 0] * mjm.actuator_gainprm[ids, 0],
                           dtype=torch.float32, device=tdev)
    self.force_per_ctrl = gear
    self.kp = cfg.kp_per_gear * gear
    self.kd = cfg.kd_per_gear * gear
    cr = torch.as_tensor(mjm.actuator_ctrlrange[ids], dtype=torch.float32, device=tdev)
    limited = torch.as_tensor(mjm.actuator_ctrllimited[ids], dtype=torch.bool, device=tdev)
    self.ctrl_lo = torch.where(limited, cr[:, 0], torch.full_like(cr[:, 0], -math.inf))
    self.ctrl_hi = torch.where(limited, cr[:, 1], torch.full_like(cr[:, 1], math.inf))
    self.initial_qpos = torch.as_tensor(self._initial_qpos(mjm, default.cpu().numpy()),
                                        dtype=torch.float32, device=tdev)
    weights = SUMO_REWARDS if cfg.reward_weights is None else cfg.reward_weights
    unknown = set(weights) - set(SUMO_REWARDS)
    if unknown:
      raise ValueError(f"unknown reward terms {sorted(unknown)}; available: {sorted(SUMO_REWARDS)}")
    self.reward_weights = dict(weights)

    n = self.num_envs
    self._down = torch.tensor([0.0, 0.0, -1.0], device=tdev).expand(n, 2, 3)
    # the PD law's columns of qpos, qvel and ctrl as (n, 2, nu) strided views where each agent's
    # are consecutive (composed robots: always), else gathered (agent_columns)
    self._column_blocks = {name: consecutive_rows(idx) for name, idx in
                           (("jq", self._joint_q), ("jv", self._joint_v), ("ctrl", self._ctrl))}
    self.generator = torch.Generator(device=tdev)
    self.generator.manual_seed(int(cfg.seed))
    self._draws = WorldDraws(self.generator, n, tdev, cfg.world_offset, cfg.num_envs_total,
                             "SumoCfg world_offset/num_envs_total")
    self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=tdev)
    self.actions = torch.zeros(2, n, nu, device=tdev)        # per agent, this step's
    self.last_actions = torch.zeros(2, n, nu, device=tdev)
    self._target = torch.zeros(2, n, nu, device=tdev)
    self.episode_return = torch.zeros(n, device=tdev)
    self._episode_stats = torch.zeros(3, dtype=torch.float64, device=tdev)  # return, count, length
    self.opponent = None
    self.set_slots(1)
    self.record_final_obs = False
    self.reset()

  # ---- set-up -----------------------------------------------------------------------
  def _initial_qpos(self, mjm, default_joint_pos) -> np.ndarray:
    """qpos0 with both robots in the default joint pose, each root lowered (or raised) so its
    lowest collision geom is 2 mm above the floor (bounding spheres, capsule end caps)."""
    d = mujoco.MjData(mjm)
    for a in self.agents:
      d.qpos[a["actuated_qpos"]] = default_joint_pos
    mujoco.mj_kinematics(mjm, d)
    qpos = d.qpos.copy()
    for a in self.agents:
      lowest = math.inf
      for g in a["geoms"]:
        if mjm.geom_contype[g] == 0 and mjm.geom_conaffinity[g] == 0:
          continue
        z = d.geom_xpos[g, 2]
        if mjm.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE:
          axis = d.geom_xmat[g].reshape(3, 3)[:, 2]
          low = z - abs(axis[2]) * mjm.geom_size[g, 1] - mjm.geom_size[g, 0]
        else:
          low = z - mjm.geom_rbound[g]
        lowest = min(lowest, low)
      qpos[a["qpos"][2]] -= lowest - 0.002
    return qpos

  def set_slots(self, nslot: int):
    """Groups the worlds into `nslot` equal blocks of consecutive worlds (one opponent each,
    opponents.OpponentBatch); outcome_counts is kept per block."""
    if nslot < 1 or self.num_envs % nslot:
      raise ValueError(f"nslot must divide num_envs ({self.num_envs}), got {nslot}")
    self.nslot = int(nslot)
    self._slot = torch.arange(self.num_envs, device=self._tdev) // (self.num_envs // nslot)
    self.outcome_counts = torch.zeros(nslot, 3, dtype=torch.float64, device=self._tdev)

  # ---- the task on the current state -------------------------------------------------
  def agent_states(self) -> dict:
    """Both agents' roots at once, (n, 2, ...) per entry (agent A at index 0 of dim 1): "pos"
    (n, 2, 3) m, "quat" (n, 2, 4), "lin_vel" (n, 2, 3) m/s world, "ang_vel" (n, 2, 3) rad/s
    root frame, "gravity" (n, 2, 3) root frame, "heading" (n, 2, 2) (cos yaw, sin yaw), "q"
    (n, 2, nu) rad, "qd" (n, 2, nu) rad/s. Every entry of one agent is computed from its own
    state by the same elementwise arithmetic as the other's."""
    qpos, qvel = self.sim.qpos, self.sim.qvel
    root = qpos[:, self._root_q]
    vel = qvel[:, self._root_v]
    quat = root[..., 3:7]
    return {"pos": root[..., :3], "quat": quat, "lin_vel": vel[..., :3], "ang_vel": vel[..., 3:6],
            "gravity": quat_rotate_inverse(quat, self._down), "heading": heading(quat),
            "q": qpos[:, self._joint_q], "qd": qvel[:, self._joint_v]}

  def agent_state(self, k: int) -> dict:
    """Agent k's root (0: A, 1: B): the entries of agent_states, each (n, ...)."""
    return {key: v[:, k] for key, v in self.agent_states().items()}

  def lost(self, s: dict) -> tuple:
    """(out of the ring, fallen), each bool, of an agent_state ((n,)) or agent_states ((n, 2))."""
    cfg = self.cfg
    out = torch.linalg.vector_norm(s["pos"][..., :2], dim=-1) > cfg.ring_radius
    fallen = (s["pos"][..., 2] < cfg.fall_height) | (s["gravity"][..., 2] > cfg.fall_gravity_z)
    return out, fallen

  def observations(self, states: dict | None = None) -> torch.Tensor:
    """Both agents' observations (2, num_envs, num_obs), agent A first (module doc), in one pass
    over the (n, 2, ...) states of agent_states (computed when None): the opponent's entries are
    the states with the agent axis flipped."""
    s = states if states is not None else self.agent_states()
    cfg = self.cfg
    pos, vel, h, grav = s["pos"], s["lin_vel"], s["heading"], s["gravity"]
    op_pos, op_vel, ho = pos.flip(1), vel.flip(1), h.flip(1)
    rel_pos = yaw_rotate(h, op_pos - pos)
    rel_vel = yaw_rotate(h, op_vel - vel)
    # cos and sin of the opponent's yaw less one's own
    cos_dyaw = ho[..., 0] * h[..., 0] + ho[..., 1] * h[..., 1]
    sin_dyaw = ho[..., 1] * h[..., 0] - ho[..., 0] * h[..., 1]
    centre = yaw_rotate(h, -pos)[..., :2]
    edge = cfg.ring_radius - torch.linalg.vector_norm(pos[..., :2], dim=-1)
    left = (1.0 - self.episode_length_buf.float() / self.max_episode_length)[:, None, None]
    obs = torch.cat([
      pos[..., 2:3], grav, quat_rotate_inverse(s["quat"], vel), s["ang_vel"] * 0.25,
      s["q"] - self.default_joint_pos, s["qd"] * 0.05, self.actions.transpose(0, 1),
      rel_pos, rel_vel, cos_dyaw[..., None], sin_dyaw[..., None], grav.flip(1), centre,
      edge[..., None], edge.flip(1)[..., None], left.expand(-1, 2, 1)], dim=-1)
    return obs.transpose(0, 1).contiguous()

  def compute_observations(self, k: int, states: dict | None = None) -> torch.Tensor:
    """Agent k's observations (num_envs, num_obs) (module doc). `states`: agent_states() when
    already computed."""
    return self.observations(states)[k]

  @property
  def num_obs(self) -> int:
    return 10 + 3 * self.num_actions + 3 + 3 + 2 + 3 + 2 + 2 + 1

  def compute_rewards(self, k: int, states: tuple, result: torch.Tensor,
                      ended: torch.Tensor | None = None) -> tuple:
    """Agent k's rewards: (total (n,), {term: (n,)}); `states`: agent_states(); `result` (n,)
    is +1 where agent k won this step, -1 where it lost, 0 otherwise; `ended` (n,) bool: the
    worlds whose episode ends this step (the draw term's; None: no draws)."""
    me = {key: states[key][:, k] for key in ("pos", "lin_vel", "gravity")}
    op = {key: states[key][:, 1 - k] for key in ("pos", "lin_vel", "gravity")}
    cfg, w, n = self.cfg, self.reward_weights, self.num_envs
    to_op = op["pos"][:, :2] - me["pos"][:, :2]
    to_op = to_op / torch.linalg.vector_norm(to_op, dim=-1, keepdim=True).clamp_min(1e-6)
    op_r = torch.linalg.vector_norm(op["pos"][:, :2], dim=-1, keepdim=True).clamp_min(1e-6)
    terms = {
      "alive": torch.ones(n, device=self._tdev),
      "upright": -me["gravity"][:, 2],
      "approach": (me["lin_vel"][:, :2] * to_op).sum(-1).clamp(-1.0, 1.0),
      "push": (op["lin_vel"][:, :2] * op["pos"][:, :2] / op_r).sum(-1).clamp(-1.0, 1.0),
      "topple": 1.0 + op["gravity"][:, 2],
      "centre": -torch.square(torch.linalg.vector_norm(me["pos"][:, :2], dim=-1) / cfg.ring_radius),
      "action_rate": torch.square(self.actions[k] - self.last_actions[k]).sum(-1),
      "torque": torch.square(self.sim.ctrl[:, self._ctrl[k]]).sum(-1),
    }
    weighted = {name: w[name] * v * self.dt for name, v in terms.items() if name in w}
    if "win" in w:
      weighted["win"] = w["win"] * (result == 1).float()
    if "loss" in w:
      weighted["loss"] = w["loss"] * (result == -1).float()
    if "draw" in w and ended is not None:
      weighted["draw"] = w["draw"] * (ended & (result == 0)).float()
    total = torch.stack(list(weighted.values())).sum(0)
    return total, weighted

  # ---- VecEnv ------------------------------------------------------------------------
  def get_observations(self) -> "TensorDict":
    """Agent A's current observations: TensorDict {"policy": (num_envs, num_obs)}."""
    return TensorDict({"policy": self.obs[0]}, batch_size=[self.num_envs], device=self._tdev)

  def opponent_observations(self) -> torch.Tensor:
    """Agent B's current observations (num_envs, num_obs)."""
    return self.obs[1]

  def _observe(self, states: dict | None = None):
    self.obs = self.observations(states)

  def reset(self):
    """Resets every world; returns agent A's observations."""
    calls = self._draws.calls
    self._reset_worlds(torch.ones(self.num_envs, dtype=torch.bool, device=self._tdev))
    self._reset_draws = self._draws.calls - calls  # what a step's reset draws (step skips them)
    self.sim.forward()
    self._observe()
    return self.get_observations()

  def _uniform(self, lo, hi, shape) -> torch.Tensor:
    return lo + (hi - lo) * self._draws.rand(shape)  # per world (n, ...): by global world

  def _reset_worlds(self, mask: torch.Tensor):
    """Start states of the worlds in `mask` ((n,) bool on the device), no host sync."""
    cfg, n, nu = self.cfg, self.num_envs, self.num_actions
    self.sim.reset(mask, recompute=False)
    qpos = self.initial_qpos.expand(n, -1).clone()
    for k in range(2):
      root = self._root_q[k]
      qpos[:, self._joint_q[k]] += self._uniform(-cfg.init_joint_noise, cfg.init_joint_noise, (n, nu))
      qpos[:, root[:2]] += self._uniform(-cfg.init_pos_noise, cfg.init_pos_noise, (n, 2))
      yaw = (0.0 if k == 0 else math.pi) + self._uniform(-cfg.init_yaw_noise, cfg.init_yaw_noise, (n,))
      zero = torch.zeros_like(yaw)
      qpos[:, root[3:7]] = torch.stack([torch.cos(yaw / 2), zero, zero, torch.sin(yaw / 2)], dim=-1)
    qvel = self._uniform(-cfg.init_vel_noise, cfg.init_vel_noise, (n, self.sim.model.nv))
    self.sim.qpos.copy_(torch.where(mask[:, None], qpos, self.sim.qpos))
    self.sim.qvel.copy_(torch.where(mask[:, None], qvel, self.sim.qvel))
    m3 = mask[None, :, None]
    zeros = torch.zeros_like(self.actions)
    self.actions.copy_(torch.where(m3, zeros, self.actions))
    self.last_actions.copy_(torch.where(m3, zeros, self.last_actions))
    self._target.copy_(torch.where(m3, self.default_joint_pos.expand_as(self._target), self._target))
    self.episode_length_buf.copy_(torch.where(mask, torch.zeros_like(self.episode_length_buf),
                                              self.episode_length_buf))
    self.episode_return.copy_(torch.where(mask, torch.zeros_like(self.episode_return), self.episode_return))
    # no forward pass here: observations and rewards read qpos/qvel only, and the next step
    # recomputes everything (one fewer physics evaluation per env step)

  @torch.no_grad()
  def step(self, actions: torch.Tensor):
    """Agent A's actions (num_envs, num_actions); agent B's from `opponent` (zeros if None).
    Returns (obs TensorDict, rewards (num_envs,), dones (num_envs,) long, extras)."""
    if self.opponent is None:
      actions_b = torch.zeros_like(self.obs[1][:, :self.num_actions])
    else:
      actions_b = self.opponent(self.obs[1])
    return self.step_pair(actions, actions_b)

  @torch.no_grad()
  def step_pair(self, actions_a: torch.Tensor, actions_b: torch.Tensor):
    """Both agents' actions, each (num_envs, num_actions), for `decimation` physics steps.

    Returns (agent A's obs TensorDict, agent A's rewards (n,), dones (n,) long, extras) with
    extras["outcome"] (n,) int8 (+1 A won, -1 B won, 0 draw or not done), extras["time_outs"]
    (n,) bool, extras["log"] {name: 0-d tensor}; with record_final_obs extras["final_obs"]
    (2, n, num_obs) before the resets."""
    cfg, n = self.cfg, self.num_envs
    if cfg.validate_actions:
      for name, a in (("actions_a", actions_a), ("actions_b", actions_b)):
        validate_actions(a, (n, self.num_actions), self._tdev, name)
    self.last_actions.copy_(self.actions)
    for k, a in enumerate((actions_a, actions_b)):
      torch.clamp(a, -cfg.clip_actions, cfg.clip_actions, out=self.actions[k])
    self._target.copy_(self.default_joint_pos + cfg.action_scale * self.actions)
    blocks = self._column_blocks
    q = agent_columns(self.sim.qpos, self._joint_q, blocks["jq"])
    qd = agent_columns(self.sim.qvel, self._joint_v, blocks["jv"])
    ctrl = agent_columns(self.sim.ctrl, self._ctrl, blocks["ctrl"])
    target = self._target.transpose(0, 1)
    for _ in range(cfg.decimation):
      if blocks["jq"] is None or blocks["jv"] is None:  # gathered copies: read the new state
        q = agent_columns(self.sim.qpos, self._joint_q, None)
        qd = agent_columns(self.sim.qvel, self._joint_v, None)
      u = control.pd_ctrl(q, qd, target, self.kp, self.kd, self.force_per_ctrl, self.ctrl_lo, self.ctrl_hi)
      if blocks["ctrl"] is None:
        self.sim.ctrl[:, self._ctrl] = u
      else:
        ctrl.copy_(u)
      self.sim.step()

    self.episode_length_buf += 1
    states = self.agent_states()
    out, fall = self.lost(states)
    lost = out | fall
    lost_a, lost_b = lost[:, 0], lost[:, 1]
    unhealthy = self.sim.health != 0
    a_won = lost_b & ~lost_a & ~unhealthy
    b_won = lost_a & ~lost_b & ~unhealthy
    result = a_won.to(torch.int8) - b_won.to(torch.int8)
    ended = lost_a | lost_b | unhealthy | (self.episode_length_buf >= self.max_episode_length)
    rewards, terms = self.compute_rewards(0, states, result, ended)
    finite = torch.isfinite(rewards)
    terminated = lost_a | lost_b | unhealthy | ~finite
    rewards = torch.where(unhealthy | ~finite, torch.zeros_like(rewards), rewards)
    time_outs = (self.episode_length_buf >= self.max_episode_length) & ~terminated
    dones = terminated | time_outs

    self.episode_return += rewards
    done_f = dones.to(torch.float64)
    self._episode_stats += torch.stack([(self.episode_return.double() * done_f).sum(), done_f.sum(),
                                        (self.episode_length_buf.double() * done_f).sum()])
    idx = torch.stack([(result == 1), dones & (result == 0), (result == -1)], dim=-1).double()
    self.outcome_counts.index_add_(0, self._slot, idx)
    # every term's mean in one reduction (the same bits as one mean per term)
    log = dict(zip([f"Reward/{k}" for k in terms], torch.stack(list(terms.values())).mean(1).unbind(0)))
    log["Episode/won"] = (result == 1).float().mean()
    log["Episode/lost"] = (result == -1).float().mean()
    log["Episode/out_of_ring"] = out.any(-1).float().mean()
    log["Episode/time_outs"] = time_outs.float().mean()
    extras = {"time_outs": time_outs, "outcome": result, "log": log}
    if self.record_final_obs:
      self._observe(states)
      extras["final_obs"] = self.obs.clone()
    # on the CPU the test is free and most steps end no episode: skip the start-state draws;
    # on CUDA the reset always runs (no host sync, fixed work for a CUDA graph)
    if self._tdev.type == "cuda" or bool(dones.any()):
      self._reset_worlds(dones)
      self._observe()
    else:  # their keys all the same: the stream stays a function of the step count, whatever
      self._draws.skip(self._reset_draws)  # this shard's worlds did (selfplay/ranks.py)
      self._observe(states)  # nothing reset: the states are this step's
    return self.get_observations(), rewards, dones.long(), extras

  # ---- statistics and checkpointing ----------------------------------------------------
  def pop_outcomes(self) -> np.ndarray:
    """(nslot, 3) float64 numpy: agent A's wins, draws, losses per slot since the last call."""
    counts = self.outcome_counts.cpu().numpy().copy()
    self.outcome_counts.zero_()
    return counts

  def pop_episode_stats(self) -> dict:
    """Completed episodes since the last call: count, mean return (agent A), mean length."""
    s = self._episode_stats.cpu().tolist()
    self._episode_stats.zero_()
    count = int(s[1])
    return {"episodes": count, "mean_return": s[0] / count if count else float("nan"),
            "mean_length": s[2] / count if count else float("nan")}

  def state_dict(self) -> dict:
    """Everything besides the Simulator needed to resume bit-exactly (checkpoint.save adds it)."""
    bufs = ("episode_length_buf", "actions", "last_actions", "_target", "episode_return",
            "_episode_stats", "outcome_counts", "obs")
    state = {k: getattr(self, k).cpu().clone() for k in bufs}
    state["generator"] = self.generator.get_state()
    return state

  def load_state_dict(self, state: dict):
    for k, v in state.items():
      if k == "generator":
        self.generator.set_state(v)
      elif k == "outcome_counts":
        self.set_slots(v.shape[0])
        self.outcome_counts.copy_(v)
      elif k == "obs":
        self.obs = v.to(self._tdev).clone()
      else:
        getattr(self, k).copy_(v)
