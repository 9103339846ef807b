"""Self-play (pywarp_sim/selfplay): the composed two-robot world against MuJoCo C, the sumo
task's symmetry, batched opponents against rsl-rl's actor applied alone, the league's
ratings and sampling, and bit-exact resume of a league run."""

import dataclasses

import mujoco
import numpy as np
import pytest
import torch

import pywarp_sim as pws
from pywarp_sim import native
from pywarp_sim.selfplay import compose as composer
from pywarp_sim.selfplay.league import League
from pywarp_sim.selfplay.opponents import OpponentBatch, snapshot_of
from pywarp_sim.selfplay.sumo import SUMO_REWARDS, SumoCfg, SumoEnv

import oracle

pytest.importorskip("rsl_rl")
pytest.importorskip("openskill")

from tolerances import HEADING_TOL, NEWTON_QACC_TOL, OPPONENT_ACTION_TOL, SUMO_OBS_TOL, XML_ROUNDTRIP_TOL


@pytest.fixture(scope="module")
def arena():
  return composer.compose("humanoid", ring_radius=2.0, separation=0.7)


def test_compose_two_robots_own_names_actuators_and_contacts(arena):
  mjm = arena.mj_model()  # MuJoCo C loads the composed MJCF
  one = pws.models.mj_model("humanoid")
  assert mjm.nq == 2 * one.nq and mjm.nv == 2 * one.nv and mjm.nu == 2 * one.nu
  for objtype, count in ((mujoco.mjtObj.mjOBJ_BODY, mjm.nbody), (mujoco.mjtObj.mjOBJ_GEOM, mjm.ngeom),
                         (mujoco.mjtObj.mjOBJ_JOINT, mjm.njnt), (mujoco.mjtObj.mjOBJ_ACTUATOR, mjm.nu)):
    names = [mujoco.mj_id2name(mjm, objtype, i) for i in range(count)]
    named = [n for n in names if n]
    assert len(named) == len(set(named)), f"name clash among {objtype}"
  a, b = (composer.agent_indices(mjm, p) for p in ("a_", "b_"))
  assert set(a["ctrl"]).isdisjoint(b["ctrl"]) and len(a["ctrl"]) == one.nu
  assert set(a["qpos"]).isdisjoint(b["qpos"])
  # each robot's exclusions stay within it, no more
  assert mjm.nexclude == 2 * one.nexclude
  # the robots' masses are the robot's, each (to the digits MjSpec.to_xml writes of the
  # geometry it moved into the arena's frames)
  np.testing.assert_allclose(mjm.body_mass[a["bodies"]].sum(), one.body_mass.sum(), rtol=XML_ROUNDTRIP_TOL)
  np.testing.assert_allclose(mjm.body_mass[b["bodies"]].sum(), one.body_mass.sum(), rtol=XML_ROUNDTRIP_TOL)
  # robot A's torso pushed into robot B's: MuJoCo finds contacts between the two robots
  d = mujoco.MjData(mjm)
  d.qpos[b["qpos"][0]] = d.qpos[a["qpos"][0]] + 0.05
  mujoco.mj_forward(mjm, d)
  ga, gb = set(a["geoms"]), set(b["geoms"])
  pairs = [tuple(c.geom) for c in d.contact[:d.ncon]]
  assert any((g1 in ga and g2 in gb) or (g1 in gb and g2 in ga) for g1, g2 in pairs)


def _backends():
  out = ["warp"]
  if native.available("cpu"):
    out.insert(0, "native")
  return out


@pytest.mark.parametrize("backend", _backends())
def test_composed_qacc_matches_mujoco(arena, backend):
  mjm = arena.mj_model()
  nworld = 4
  qpos, qvel, ctrl, act = oracle.random_state(mjm, nworld, seed=3, qpos_scale=0.2)
  # the robots overlap in some worlds: contacts between them take part
  qpos[:, composer.agent_indices(mjm, "b_")["qpos"][0]] -= 0.5
  sim = pws.Simulator(arena.xml, nworld=nworld, backend=backend)
  sim.qpos.copy_(torch.as_tensor(qpos, dtype=torch.float32))
  sim.qvel.copy_(torch.as_tensor(qvel, dtype=torch.float32))
  sim.ctrl.copy_(torch.as_tensor(ctrl, dtype=torch.float32))
  sim.qacc.fill_(float("nan"))
  sim.forward()
  ours = sim.qacc.numpy()
  cross = 0
  a, b = (set(composer.agent_indices(mjm, p)["geoms"]) for p in ("a_", "b_"))
  for w in range(nworld):
    d = oracle.mj_data(mjm, qpos[w].astype(np.float32), qvel[w].astype(np.float32),
                       ctrl[w].astype(np.float32), act[w])
    mujoco.mj_forward(mjm, d)
    cross += sum(1 for c in d.contact[:d.ncon] if (c.geom[0] in a) != (c.geom[1] in a)
                 and {c.geom[0], c.geom[1]} <= (a | b))
    # Newton on contact states of two humanoids: measured <= 1.9e-5 on either backend
    err = oracle.rel_err(ours[w], d.qacc)
    assert err < NEWTON_QACC_TOL, f"world {w}: qacc relative error {err:.2e}"
  assert cross > 0, "no contact between the two robots in any world: the test would not cover them"


@pytest.fixture(scope="module")
def env():
  return SumoEnv(SumoCfg(seed=1), 8)


def test_swapping_agents_swaps_observations(env):
  gen = torch.Generator().manual_seed(0)
  for _ in range(3):
    env.step_pair(torch.randn(8, env.num_actions, generator=gen), torch.randn(8, env.num_actions, generator=gen))
  obs_a, obs_b = env.compute_observations(0), env.compute_observations(1)
  qa, qb = env.agents[0]["qpos"], env.agents[1]["qpos"]
  va, vb = env.agents[0]["qvel"], env.agents[1]["qvel"]
  qpos, qvel = env.sim.qpos.clone(), env.sim.qvel.clone()
  env.sim.qpos[:, qa], env.sim.qpos[:, qb] = qpos[:, qb], qpos[:, qa]
  env.sim.qvel[:, va], env.sim.qvel[:, vb] = qvel[:, vb], qvel[:, va]
  env.actions.copy_(env.actions.flip(0))
  assert torch.equal(env.compute_observations(0), obs_b)
  assert torch.equal(env.compute_observations(1), obs_a)
  assert not torch.equal(obs_a, obs_b)


def test_outcomes_win_loss_draw(env):
  """Robot B pushed out of the ring: A wins; both fallen: a draw; the time limit: a draw."""
  env.reset()
  rb = env.agents[1]["qpos"][0]
  env.sim.qpos[0, rb] = 3.0                    # world 0: B's root outside the 2 m ring
  env.sim.qpos[1, env.agents[0]["qpos"][2]] = 0.3   # world 1: A's root on the floor
  env.sim.qpos[2, env.agents[0]["qpos"][2]] = 0.3   # world 2: both down
  env.sim.qpos[2, env.agents[1]["qpos"][2]] = 0.3
  env.episode_length_buf[3] = env.max_episode_length - 1  # world 3: time limit
  zeros = torch.zeros(8, env.num_actions)
  _, rew, dones, extras = env.step_pair(zeros, zeros)
  assert extras["outcome"][:4].tolist() == [1, -1, 0, 0]
  assert dones[:4].tolist() == [1, 1, 1, 1] and bool(extras["time_outs"][3])
  assert rew[0] > 0.5 * SUMO_REWARDS["win"] and rew[1] < 0.5 * SUMO_REWARDS["loss"]


def test_terminal_rewards_win_loss_draw():
  """Only the terminal terms weighted: each outcome gets its own weight once, on its step."""
  env = SumoEnv(SumoCfg(seed=1, reward_weights={"win": 3.0, "loss": -2.0, "draw": -1.0}), 4)
  env.reset()
  env.sim.qpos[0, env.agents[1]["qpos"][0]] = 3.0   # B out of the ring: A won
  env.sim.qpos[1, env.agents[0]["qpos"][2]] = 0.3   # A down: A lost
  env.sim.qpos[2, env.agents[0]["qpos"][2]] = 0.3   # both down: a draw
  env.sim.qpos[2, env.agents[1]["qpos"][2]] = 0.3
  env.episode_length_buf[3] = env.max_episode_length - 1  # time limit: a draw
  zeros = torch.zeros(4, env.num_actions)
  _, rew, dones, extras = env.step_pair(zeros, zeros)
  assert extras["outcome"].tolist() == [1, -1, 0, 0] and dones.tolist() == [1, 1, 1, 1]
  assert rew.tolist() == [3.0, -2.0, -1.0, -1.0]
  _, rew, dones, _ = env.step_pair(zeros, zeros)  # fresh episodes: nothing ends, no terminal term
  assert dones.tolist() == [0, 0, 0, 0] and rew.tolist() == [0.0, 0.0, 0.0, 0.0]


def _actor(seed: int, obs_dim: int, nu: int):
  from rsl_rl.models import MLPModel
  from tensordict import TensorDict
  torch.manual_seed(seed)
  obs = TensorDict({"policy": torch.zeros(2, obs_dim)}, batch_size=[2])
  actor = MLPModel(obs, {"actor": ["policy"]}, "actor", nu, hidden_dims=[32, 16], activation="elu",
                   obs_normalization=True,
                   distribution_cfg={"class_name": "rsl_rl.modules:GaussianDistribution",
                                     "init_std": 1.0, "std_type": "scalar"})
  actor.train()
  actor.update_normalization(TensorDict({"policy": torch.randn(64, obs_dim) * (seed + 1) + seed},
                                        batch_size=[64]))
  actor.eval()
  return actor


def test_opponent_batch_equals_each_snapshot_alone():
  from tensordict import TensorDict
  obs_dim, nu, nworld, nslot = 12, 5, 12, 3
  actors = [_actor(s, obs_dim, nu) for s in range(nslot)]
  snaps = [snapshot_of(a, "elu") for a in actors]
  batch = OpponentBatch(nworld, nslot, snaps[0])
  for s in (2, 0, 1):
    batch.set_slot(s, snaps[(s + 1) % nslot], (s + 1) % nslot)
  obs = torch.randn(nworld, obs_dim, generator=torch.Generator().manual_seed(5)) * 3
  actions = batch(obs)
  for w in range(nworld):
    actor = actors[batch.slot_ids[w // (nworld // nslot)]]
    with torch.no_grad():
      alone = actor(TensorDict({"policy": obs[w:w + 1]}, batch_size=[1]))
    torch.testing.assert_close(actions[w:w + 1], alone, atol=OPPONENT_ACTION_TOL, rtol=0)
  # the slots' policies differ by far more than the tolerance: one policy for all would fail
  assert (actions[0:4] - snaps[0](obs[0:4])).abs().max() > 100 * OPPONENT_ACTION_TOL


def test_league_ratings_follow_openskill_and_pfsp_prefers_hard_opponents():
  from openskill.models import PlackettLuce
  league = League("pfsp", pfsp_power=2.0, seed=0)
  snap = snapshot_of(_actor(0, 4, 2))
  for _ in range(3):
    league.add(snap)
  league.record_matches(1, 0, wins=3, draws=1, losses=1)
  model = PlackettLuce()
  a, b = model.rating(), model.rating()
  for ranks in ([0, 1],) * 3 + ([0, 0],) + ([1, 0],):
    [[a], [b]] = model.rate([[a], [b]], ranks=ranks)
  assert league.ratings[1].mu == pytest.approx(a.mu) and league.ratings[0].mu == pytest.approx(b.mu)
  assert league.ratings[1].mu > 25 > league.ratings[0].mu
  np.testing.assert_allclose(league.win_rate_matrix()[1, 0], 3.5 / 5)
  np.testing.assert_allclose(league.win_rate_matrix()[0, 1], 1.5 / 5)
  assert np.isnan(league.win_rate_matrix()[2, 0])
  # the learner beats member 0 always, member 1 half the time, never played member 2
  league.record_training([0, 1], np.array([[10, 0, 0], [5, 0, 5]]))
  p = league.probabilities()
  np.testing.assert_allclose(p, np.array([0.0, 0.25, 0.25]) / 0.5)
  assert set(league.sample(50)) <= {1, 2}
  assert League("latest").probabilities is not None
  league.sampling = "latest"
  assert league.probabilities().tolist() == [0, 0, 1]


def test_league_resume_is_bit_exact(tmp_path):
  from pywarp_sim.selfplay.league_run import LeagueCfg, LeagueRun
  cfg = LeagueCfg(num_envs=8, nslot=2, eval_envs=4, snapshot_interval=2, num_steps_per_env=4,
                  hidden_dims=(16, 16), sumo={"episode_length_s": 0.4})
  run = LeagueRun(cfg)
  # the initial policy's output layer is torch's default init scaled by actor_output_gain
  # (uniform within 1/sqrt(fan_in)): its mean actions start near zero
  last = run.league.snapshots[0].weights[-1]
  assert 0 < last.abs().max() <= cfg.actor_output_gain / last.shape[1] ** 0.5
  run.iteration_step()
  path = tmp_path / "league.pt"
  run.save(path)
  for _ in range(2):  # crosses a snapshot (after iteration 1) and its evaluation matches
    run.iteration_step()
  reference = {k: v.clone() for k, v in run.runner.alg.get_policy().state_dict().items()}
  resumed = LeagueRun.load(path)
  for _ in range(2):
    resumed.iteration_step()
  for k, v in resumed.runner.alg.get_policy().state_dict().items():
    assert torch.equal(v, reference[k]), k
  assert torch.equal(resumed.env.sim.qpos, run.env.sim.qpos)
  assert resumed.league.mu().tolist() == run.league.mu().tolist()
  np.testing.assert_array_equal(resumed.league.results, run.league.results)
  assert len(resumed.league) == len(run.league) == 2


def test_a_checkpoint_with_pickled_objects_is_refused(tmp_path):
  from pywarp_sim.selfplay.league_run import LeagueRun

  class Payload:
    def __reduce__(self):
      return (print, ("this must never run",))
  path = tmp_path / "league.pt"
  torch.save({"format": "pywarp_sim.selfplay/1", "config": Payload()}, path)
  with pytest.raises(ValueError, match="weights-only"):
    LeagueRun.load(path)
  path.write_bytes(b"truncated")
  with pytest.raises(ValueError, match="cannot be read"):
    LeagueRun.load(path)


def test_heading_is_the_yaw_and_rounds_the_same_in_any_batch():
  """sumo.heading: (cos, sin) of the yaw of the frame's x axis (atan2 of its horizontal
  projection, float64 reference) for random unit quaternions, (1, 0) for a vertical x axis, and
  the same bits whether a call holds one world or many (torch's atan2 rounds by batch size)."""
  from pywarp_sim.selfplay.sumo import heading
  q = torch.randn(257, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
  q /= q.norm(dim=-1, keepdim=True)
  w, x, y, z = q.unbind(-1)
  yaw = torch.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
  h = heading(q.float())
  assert torch.allclose(h.double(), torch.stack([torch.cos(yaw), torch.sin(yaw)], -1), atol=HEADING_TOL)
  assert torch.equal(h, torch.cat([heading(q[i:i + 1].float()) for i in range(len(q))]))
  vertical = torch.tensor([[2 ** -0.5, 0.0, 2 ** -0.5, 0.0]])  # x axis turned to -z
  vertical_h = heading(vertical)
  assert torch.isfinite(vertical_h).all() and abs(float(vertical_h[0, 1])) < HEADING_TOL


def _observations_float64(env) -> np.ndarray:
  """Both agents' observations (2, n, num_obs) from the module doc's definition, in float64
  numpy from qpos / qvel / actions (rotation matrices by mujoco.mju_quat2Mat, the yaw by atan2)."""
  qpos, qvel = env.sim.qpos.double().numpy(), env.sim.qvel.double().numpy()
  actions = env.actions.double().numpy()
  default = env.default_joint_pos.double().numpy()
  left = 1.0 - env.episode_length_buf.double().numpy() / env.max_episode_length
  out = np.zeros((2, env.num_envs, env.num_obs))
  for w in range(env.num_envs):
    st = []
    for a in env.agents:
      root, v = qpos[w, a["qpos"][:7]], qvel[w, a["qvel"][:6]]
      rot = np.zeros(9)
      mujoco.mju_quat2Mat(rot, root[3:7] / np.linalg.norm(root[3:7]))
      rot = rot.reshape(3, 3)
      st.append({"p": root[:3], "R": rot, "v": v[:3], "w": v[3:6], "yaw": np.arctan2(rot[1, 0], rot[0, 0]),
                 "q": qpos[w, a["actuated_qpos"]], "qd": qvel[w, a["actuated_qvel"]]})
    for k in range(2):
      me, op = st[k], st[1 - k]
      c, s = np.cos(me["yaw"]), np.sin(me["yaw"])
      rz = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # R_z(-yaw)
      dyaw = op["yaw"] - me["yaw"]
      down = np.array([0.0, 0.0, -1.0])
      out[k, w] = np.concatenate([
        me["p"][2:3], me["R"].T @ down, me["R"].T @ me["v"], 0.25 * me["w"], me["q"] - default,
        0.05 * me["qd"], actions[k, w], rz @ (op["p"] - me["p"]), rz @ (op["v"] - me["v"]),
        [np.cos(dyaw), np.sin(dyaw)], op["R"].T @ down, (rz @ -me["p"])[:2],
        [env.cfg.ring_radius - np.linalg.norm(me["p"][:2]), env.cfg.ring_radius - np.linalg.norm(op["p"][:2]),
         left[w]]])
  return out


def test_observations_of_both_agents_follow_the_definition(env):
  """SumoEnv.observations (both agents in one pass over (n, 2, ...) states, the PD law on strided
  views of qpos / qvel / ctrl) against the module doc's definition in float64, after steps with
  resets; a step's observations are those of its final state (a step that resets no world reuses
  the states it scored)."""
  env.reset()
  gen = torch.Generator().manual_seed(5)
  resets = 0
  for _ in range(40):
    obs, _, dones, _ = env.step_pair(torch.randn(8, env.num_actions, generator=gen),
                                     torch.randn(8, env.num_actions, generator=gen))
    resets += int(dones.sum())
    assert torch.equal(env.obs, env.observations())
    assert torch.equal(obs["policy"], env.obs[0])
  assert resets > 0, "no world was reset: the test would not cover the reset branch"
  err = np.abs(env.obs.double().numpy() - _observations_float64(env)).max()
  assert err < SUMO_OBS_TOL, f"observations off the float64 definition by {err:.2e}"


def test_agent_columns_view_equals_the_gather():
  """sumo.agent_columns: a strided view with the gather's values whose writes reach the tensor;
  index rows that are not consecutive are gathered."""
  from pywarp_sim.selfplay.sumo import agent_columns, consecutive_rows
  x = torch.arange(5 * 12, dtype=torch.float32).reshape(5, 12)
  idx = torch.tensor([[1, 2, 3], [7, 8, 9]])
  block = consecutive_rows(idx)
  assert block == (1, 6)
  view = agent_columns(x, idx, block)
  assert torch.equal(view, x[:, idx])
  view.copy_(-view)
  assert torch.equal(x[:, idx], -torch.arange(5 * 12, dtype=torch.float32).reshape(5, 12)[:, idx])
  assert consecutive_rows(torch.tensor([[1, 2, 4], [7, 8, 9]])) is None
  assert torch.equal(agent_columns(x, torch.tensor([[1, 2, 4], [7, 8, 9]]), None),
                     x[:, torch.tensor([[1, 2, 4], [7, 8, 9]])])


def test_snapshot_gate_admits_only_candidates_that_score_enough():
  from pywarp_sim.selfplay.league_run import LeagueCfg, LeagueRun
  cfg = LeagueCfg(num_envs=8, nslot=2, eval_envs=4, snapshot_interval=1, num_steps_per_env=4,
                  hidden_dims=(16, 16), sumo={"episode_length_s": 0.4}, snapshot_gate=1.0)
  run = LeagueRun(cfg)
  rec = run.iteration_step()
  gate = rec["gate"]
  assert gate["against"] == 0 and gate["wins"] + gate["draws"] + gate["losses"] == cfg.eval_envs
  assert gate["score"] == (gate["wins"] + 0.5 * gate["draws"]) / cfg.eval_envs
  # the gate's matches are the candidate's against the newest member, replayed alike
  again = run.gate(run.snapshot(run.iteration))
  assert again == gate
  # a score of 1 needs every gate match won; the pool grows exactly when the gate says so
  assert gate["joined"] == (gate["wins"] == cfg.eval_envs)
  assert len(run.league) == 1 + gate["joined"] and ("evaluation" in rec) == gate["joined"]
  run.cfg.snapshot_gate = 1e-9  # any win or draw joins
  rec = run.iteration_step()
  assert rec["gate"]["joined"] == (rec["gate"]["score"] > 0) and len(run.league) == 1 + gate["joined"] + rec["gate"]["joined"]
  with pytest.raises(ValueError, match="snapshot_gate"):
    LeagueRun(dataclasses.replace(cfg, snapshot_gate=1.5))
