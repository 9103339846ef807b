"""Domain randomisation: sampled ranges, per-world isolation, shards drawing by global world,
and the physics of a randomised world against MuJoCo C with the same parameter edits."""

import dataclasses

import mujoco
import numpy as np
import pytest
import torch
import warp as wp

import pywarp_sim as pws
from pywarp_sim import randomize

import oracle
from tolerances import FLOAT32_ROUNDING_TOL, FORCE_TOL, INERTIA_TOL, NEWTON_QACC_TOL

NWORLD = 6
SPEC = randomize.DomainRandomization(
  body_mass_scale=(0.7, 1.3), body_com_offset=(-0.02, 0.02), dof_damping_scale=(0.5, 2.0),
  dof_armature_scale=(0.5, 1.5), actuator_strength_scale=(0.6, 1.1), gravity_offset=(-0.5, 0.5),
  geom_friction_scale=(0.3, 1.5), kp_scale=(0.8, 1.2), kd_scale=(0.5, 1.5), latency_steps=(0, 3))


def _sim(nworld=NWORLD, mjm=None):
  model = pws.put_model(mjm, "cpu", nbank=nworld) if mjm is not None else "humanoid"
  return pws.Simulator(model, nworld=nworld, device="cpu", nbank=nworld)


def _banks(sim):
  m = sim.model
  return {k: wp.to_torch(getattr(m, k)).clone() for k in (
    "body_mass", "body_inertia", "body_ipos", "dof_damping", "dof_armature", "actuator_gainprm",
    "actuator_biasprm", "geom_friction")} | {"gravity": wp.to_torch(m.opt.gravity).clone()}


def test_sampled_values_respect_the_ranges():
  sim = _sim()
  r = randomize.Randomizer(sim, SPEC, seed=3)
  r.sample()
  b = _banks(sim)
  h = sim.model.host
  mass0 = torch.tensor(h["body_mass"][0])
  scale = b["body_mass"][:, 1:] / mass0[1:]
  assert scale.min() >= 0.7 - FLOAT32_ROUNDING_TOL and scale.max() <= 1.3 + FLOAT32_ROUNDING_TOL
  assert scale.std() > 0.1, "one scale per world and body, not a constant"
  assert torch.all(b["body_mass"][:, 0] == mass0[0]), "the world body is not randomised"
  # inertia scales with the mass (same density): the ratio is the mass scale
  inertia0 = torch.tensor(h["body_inertia"][0])
  assert torch.allclose(b["body_inertia"][:, 1:] / inertia0[1:], scale[..., None].expand(-1, -1, 3),
                        rtol=FLOAT32_ROUNDING_TOL)
  off = b["body_ipos"] - torch.tensor(h["body_ipos"][0])
  assert off.abs().max() <= 0.02 + FLOAT32_ROUNDING_TOL and off[:, 1:].abs().max() > 0.01
  for name, (lo, hi) in (("dof_damping", (0.5, 2.0)), ("dof_armature", (0.5, 1.5))):
    nominal = torch.tensor(h[name][0])
    nz = nominal != 0
    s = b[name][:, nz] / nominal[nz]
    assert s.min() >= lo - FLOAT32_ROUNDING_TOL and s.max() <= hi + FLOAT32_ROUNDING_TOL, name
  g = b["actuator_gainprm"][..., 0] / torch.tensor(h["actuator_gainprm"][0][:, 0])
  assert g.min() >= 0.6 - FLOAT32_ROUNDING_TOL and g.max() <= 1.1 + FLOAT32_ROUNDING_TOL
  dg = b["gravity"] - torch.tensor(h["opt_gravity"][0])
  assert dg.abs().max() <= 0.5 + FLOAT32_ROUNDING_TOL
  assert r.kp_scale.min() >= 0.8 and r.kp_scale.max() <= 1.2
  assert r.kd_scale.min() >= 0.5 and r.kd_scale.max() <= 1.5
  assert r.latency.dtype == torch.int64 and r.latency.min() >= 0 and r.latency.max() <= 3


def test_sampling_touches_only_the_reset_worlds_and_is_reproducible():
  sim = _sim()
  r = randomize.Randomizer(sim, SPEC, seed=0)
  r.sample()
  before = _banks(sim)
  lat_before = r.latency.clone()
  mask = torch.tensor([False, True, False, False, True, False])
  r.sample(mask)
  after = _banks(sim)
  for k in before:
    assert torch.equal(before[k][~mask], after[k][~mask]), k
    if before[k].abs().sum() > 0:  # (motors have biasprm = 0: scaled, still 0)
      assert not torch.equal(before[k][mask], after[k][mask]), k
  assert torch.equal(lat_before[~mask], r.latency[~mask])
  # same seed, same sequence of calls: same values, bit for bit
  sim2 = _sim()
  r2 = randomize.Randomizer(sim2, SPEC, seed=0)
  r2.sample()
  r2.sample(mask)
  for k, v in _banks(sim2).items():
    assert torch.equal(v, after[k]), k


def test_randomised_worlds_match_mujoco_with_the_same_edits():
  """Each world's qacc (with contacts, limits and the Newton solver) equals mj_forward on an
  MjModel edited the same way; invweight0/meaninertia stay nominal in both (no mj_setConst)."""
  mjm = oracle.mj_model("humanoid")
  mjm.opt.iterations = 100
  mjm.opt.ls_iterations = 50
  mjm.opt.tolerance = 1e-10
  sim = _sim(mjm=mjm)
  r = randomize.Randomizer(sim, SPEC, seed=7)
  r.sample()
  qpos, qvel, ctrl, act = oracle.random_state(mjm, NWORLD, seed=5, qpos_scale=0.2)
  qpos[:, 2] = np.linspace(0.9, 1.3, NWORLD)  # some worlds touch the floor
  oracle.set_state(sim.data, qpos, qvel, ctrl, act)
  oracle.fill_nan(sim.data)
  sim.forward()
  b = {k: v.numpy().astype(np.float64) for k, v in _banks(sim).items()}
  ncon = wp.to_torch(sim.data.contact.ncon)
  touched = 0
  for w in range(NWORLD):
    edited = oracle.mj_model("humanoid")
    edited.opt.iterations, edited.opt.ls_iterations, edited.opt.tolerance = 100, 50, 1e-10
    edited.body_mass[:] = b["body_mass"][w]
    edited.body_inertia[:] = b["body_inertia"][w]
    edited.body_ipos[:] = b["body_ipos"][w]
    edited.dof_damping[:] = b["dof_damping"][w]
    edited.dof_armature[:] = b["dof_armature"][w]
    edited.actuator_gainprm[:, :3] = b["actuator_gainprm"][w]
    edited.actuator_biasprm[:, :3] = b["actuator_biasprm"][w]
    edited.opt.gravity[:] = b["gravity"][w]
    edited.geom_friction[:] = b["geom_friction"][w]
    # MuJoCo's compiler marks geoms/bodies whose frame coincides with the inertial frame
    # (sameframe) and then places them at xipos; after moving the com (body_ipos) without
    # recompiling, those flags are stale, so turn the shortcut off: geoms stay on their body
    edited.body_sameframe[:] = 0
    edited.geom_sameframe[:] = 0
    edited.site_sameframe[:] = 0
    mjd = oracle.mj_data(edited, qpos[w], qvel[w], ctrl[w], act[w])
    mujoco.mj_forward(edited, mjd)
    assert ncon[w] == mjd.ncon
    touched += mjd.ncon > 0
    nominal = oracle.mj_data(mjm, qpos[w], qvel[w], ctrl[w], act[w])
    mujoco.mj_forward(mjm, nominal)
    assert oracle.rel_err(mjd.qacc, nominal.qacc) > 1e-2, "the edits must matter"
    assert oracle.rel_err(sim.qM[w].numpy(), oracle.full_m(edited, mjd)) < INERTIA_TOL
    assert oracle.rel_err(sim.qfrc_bias[w].numpy(), mjd.qfrc_bias) < FORCE_TOL
    assert oracle.rel_err(sim.qfrc_passive[w].numpy(), mjd.qfrc_passive) < FORCE_TOL
    assert oracle.rel_err(sim.qfrc_actuator[w].numpy(), mjd.qfrc_actuator) < FORCE_TOL
    subtree = edited.body_mass.copy()  # MuJoCo's body_subtreemass needs mj_setConst: sum here
    for body in range(edited.nbody - 1, 0, -1):
      subtree[edited.body_parentid[body]] += subtree[body]
    assert oracle.rel_err(sim.subtree_mass[w].numpy(), subtree) < INERTIA_TOL
    err = oracle.rel_err(sim.qacc[w].numpy(), mjd.qacc)
    assert err < NEWTON_QACC_TOL, f"world {w}: qacc error {err:.2e}"
  assert touched >= 2, "the comparison must include worlds with floor contacts"


def test_spec_errors_are_explained():
  sim = pws.Simulator("humanoid", nworld=4, device="cpu")  # nbank = 1
  with pytest.raises(ValueError, match=r"nbank=4"):
    randomize.Randomizer(sim, {"body_mass_scale": (0.9, 1.1)})
  with pytest.raises(ValueError, match="low <= high"):
    randomize.Randomizer(sim, {"kp_scale": (1.2, 0.8)})
  with pytest.raises(ValueError, match="unknown domain randomisation keys"):
    randomize.Randomizer(sim, {"mass": (0.9, 1.1)})
  # control-only randomisation needs no banks
  r = randomize.Randomizer(sim, {"kp_scale": (0.9, 1.1), "obs_noise_std": 0.1})
  r.sample()
  assert r.kp_scale.min() >= 0.9


def test_native_backend_sees_per_world_friction():
  """Both backends mix the per-world geom friction bank into the contacts identically."""
  mjm = oracle.mj_model("humanoid")
  sims = [pws.Simulator(pws.put_model(mjm, "cpu", nbank=NWORLD), nworld=NWORLD, device="cpu",
                        nbank=NWORLD, backend=b) for b in ("warp", "native")]
  qpos, qvel, ctrl, act = oracle.random_state(mjm, NWORLD, seed=9, qpos_scale=0.2)
  qpos[:, 2] = 0.95
  for sim in sims:
    randomize.Randomizer(sim, {"geom_friction_scale": (0.2, 1.8)}, seed=3).sample()
    oracle.set_state(sim.data, qpos, qvel, ctrl, act)
    sim.forward()
  warp_sim, native_sim = sims
  n = warp_sim.data.contact.ncon.numpy()
  assert n.sum() > 0
  fw = warp_sim.data.contact.friction.numpy()
  fn = native_sim.data.contact.friction.numpy()
  for w in range(NWORLD):
    np.testing.assert_allclose(fw[w, :n[w]], fn[w, :n[w]], rtol=FLOAT32_ROUNDING_TOL)
  assert len({round(float(fw[w, 0, 0]), 4) for w in range(NWORLD) if n[w]}) > 1, "frictions differ per world"
  assert oracle.rel_err(native_sim.qacc.numpy(), warp_sim.qacc.numpy()) < NEWTON_QACC_TOL


def test_world_draws_of_shards_are_the_rows_of_the_whole_batch():
  """WorldDraws: shards at offsets 0, 37, 74 of 111 worlds (and odd ones: 1 world, 11 worlds),
  their generators seeded alike, draw exactly rows [offset, offset + n) of one 111-world draw
  (uniform, normal, integers, 64-bit hashes, in sequence; widths that leave vector tails), each
  computing its own rows only; unsharded any shape draws; a sharded draw not shaped per world,
  or a shard outside the batch, is refused naming the fix."""
  def draws(offset, nworld, total):
    d = randomize.WorldDraws(torch.Generator().manual_seed(7), nworld, "cpu", offset, total)
    return [d.rand((nworld, 21)), d.randn((nworld, 3, 13)), d.randint(0, 5, (nworld,)), d.rand((nworld,)),
            d.bits((nworld, 2)), d.randn((nworld, 67))]
  whole = draws(0, 111, None)
  for offset, n in ((0, 37), (37, 37), (74, 37), (5, 1), (100, 11)):
    for a, b in zip(draws(offset, n, 111), whole):
      assert torch.equal(a, b[offset:offset + n])
  plain = randomize.WorldDraws(torch.Generator().manual_seed(7), 9, "cpu")
  assert not plain.sharded and plain.rand((5,)).shape == (5,) and plain.randn((2, 3, 4)).shape == (2, 3, 4)
  sharded = randomize.WorldDraws(torch.Generator(), 3, "cpu", 3, 9)
  with pytest.raises(ValueError, match=r"shape must start with the shard's 3 worlds"):
    sharded.rand((4, 2))
  with pytest.raises(ValueError, match="does not fit in num_envs_total=8"):
    randomize.WorldDraws(torch.Generator(), 3, "cpu", 6, 8)


def test_world_draws_are_splitmix64_of_the_generators_key_and_the_global_index():
  """Each draw takes one key from the generator (its state is the stream's: reseeding repeats
  it) and element i's 64 bits are SplitMix64's output for state key + (i + 1) gamma: the
  reference generator's first output from seed 0 is 0xE220A8397B1DCDAF (Steele, Lea and
  Flood's published value), and the kernel's bits equal the torch reference counter_hash."""
  assert randomize.counter_hash(0, torch.tensor([1])).item() % (1 << 64) == 0xE220A8397B1DCDAF
  g = torch.Generator().manual_seed(3)
  d = randomize.WorldDraws(g, 5, "cpu", 10, 20)
  key = torch.randint(0, (1 << 63) - 1, (1,), generator=torch.Generator().manual_seed(3)).item()
  assert torch.equal(d.bits((5, 4)), randomize.counter_hash(key, torch.arange(41, 61)).view(5, 4))
  first = d.rand((5, 4))
  g.manual_seed(3)
  d.bits((5, 4))
  assert torch.equal(d.rand((5, 4)), first) and not torch.equal(d.rand((5, 4)), first)
  # skip(k) takes k draws' keys: what follows is what follows k draws
  made, skipped = (randomize.WorldDraws(torch.Generator().manual_seed(5), 4, "cpu") for _ in range(2))
  made.rand((4, 3)), made.randn((4, 2)), made.randint(0, 3, (4,))
  skipped.skip(3)
  assert made.calls == skipped.calls == 3 and torch.equal(made.randn((4, 6)), skipped.randn((4, 6)))


def test_world_draws_have_the_distributions_of_torchs_draws():
  """Uniform on [0, 1) on torch.rand's 2^-24 grid, standard normal, integers uniform on
  [low, high): 10^6 draws each, moments and counts within 5 standard errors (about 1e-6
  chance each of a false failure); neighbouring elements and successive calls uncorrelated."""
  n = 1_000_000
  d = randomize.WorldDraws(torch.Generator().manual_seed(11), 1000, "cpu")
  u = d.rand((1000, 1000)).double()
  assert u.min() >= 0 and u.max() < 1 and torch.equal(u * 2 ** 24, torch.round(u * 2 ** 24))
  assert abs(u.mean() - 0.5) < 5 * (1 / 12) ** 0.5 / n ** 0.5
  assert abs(u.var() - 1 / 12) < 5 * (1 / 180) ** 0.5 / n ** 0.5
  z = d.randn((1000, 1000)).double()
  assert abs(z.mean()) < 5 / n ** 0.5 and abs(z.var() - 1) < 5 * 2 ** 0.5 / n ** 0.5
  assert abs((z ** 3).mean()) < 5 * 15 ** 0.5 / n ** 0.5 and abs((z ** 4).mean() - 3) < 5 * 96 ** 0.5 / n ** 0.5
  counts = torch.bincount((d.randint(-2, 3, (1000, 1000)) + 2).flatten(), minlength=5).double()
  assert counts.numel() == 5 and (counts - n / 5).abs().max() < 5 * (n * 0.2 * 0.8) ** 0.5
  nxt = d.rand((1000, 1000)).double()
  for a, b in ((u[:, :-1], u[:, 1:]), (u, nxt)):
    assert abs(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]) < 5 / n ** 0.5


def test_randomizer_shards_sample_the_rows_of_the_whole_batch():
  """Randomizers of 3-world shards (world_offset 0 and 3 of 6) with one seed write the banks,
  gain scales and latencies of one 6-world Randomizer's rows, for a partial mask too."""
  spec = dataclasses.replace(SPEC, push_interval=1, push_force=(10.0, 20.0), obs_noise_std=0.1)
  whole = randomize.Randomizer(_sim(6), spec, seed=5)
  shards = [randomize.Randomizer(_sim(3), spec, seed=5, world_offset=3 * r, nworld_total=6) for r in range(2)]
  mask = torch.tensor([True, False, True, True, False, True])
  for m in (None, mask):
    whole.sample(m)
    for r, s in enumerate(shards):
      s.sample(None if m is None else m[3 * r:3 * r + 3])
    for k, v in _banks(whole.sim).items():
      assert torch.equal(torch.cat([_banks(s.sim)[k] for s in shards]), v), k
    for k in ("kp_scale", "kd_scale", "latency", "push_force"):
      assert torch.equal(torch.cat([getattr(s, k) for s in shards]), getattr(whole, k)), k
  obs = torch.zeros(6, 4)
  assert torch.equal(torch.cat([s.obs_noise(obs[:3]) for s in shards]), whole.obs_noise(obs))
