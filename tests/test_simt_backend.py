"""Simulator(backend="simt"): the fused lane-group step (pywarp_sim.simt) as the Simulator's step.

Its trajectories are simt.step's on a twin Simulator bit for bit (the same kernels through the
cached LaunchPlan), and within the lane-group-vs-native bounds of tests/test_simt_step.py
(CONTACT_TRAJ_*_TOL) of backend="native"; auto reset, health flags, reset and checkpoints as the
native backend's; the models the lane-group step cannot run refused at construction by name; the
plan's tables built once; an environment and the training CLIs take the backend."""

import mujoco
import numpy as np
import pytest
import torch

import oracle
import pywarp_sim as pws
from pywarp_sim import checkpoint, native, native_backend, simt
from pywarp_sim.simulator import BACKENDS
from backends import simulator
from tolerances import CONTACT_TRAJ_QPOS_TOL, CONTACT_TRAJ_QVEL_TOL, ROT_TOL

pytestmark = pytest.mark.skipif(not native.available("cpu"), reason=native.unavailable_reason("cpu"))

# what a step leaves, compared bit for bit between the Simulator's step and simt.step
STEPPED = ("qpos", "qvel", "act", "time", "qacc", "qacc_warmstart", "qfrc_passive", "qfrc_actuator",
           "actuator_force", "qfrc_smooth", "qacc_smooth", "qfrc_constraint", "xpos", "xquat", "cvel",
           "qfrc_bias")
NWORLD = 4


def _humanoid(disable=()):
  return oracle.mj_model("humanoid", disable=disable)


def _start(mjm, sims, seed=37):
  """The same gentle random state (a tenth of oracle.random_state's velocities and controls) and
  the same applied forces in every Simulator; derived arrays from the native forward."""
  qpos, qvel, ctrl, act = oracle.random_state(mjm, NWORLD, seed, qvel_scale=0.1)
  rng = np.random.default_rng(seed)
  qfrc = (rng.standard_normal((NWORLD, mjm.nv)) * 2.0).astype(np.float32)
  xfrc = np.zeros((NWORLD, mjm.nbody, 6), np.float32)
  xfrc[:, 1, :3] = rng.standard_normal((NWORLD, 3)) * 5.0  # a push on the torso
  for s in sims:
    oracle.set_state(s.data, qpos, qvel, ctrl * 0.1, act)
    s.qfrc_applied[:] = torch.from_numpy(qfrc)
    s.xfrc_applied[:] = torch.from_numpy(xfrc)
    s.forward()


def _bits(a):
  a = np.asarray(a)
  return a.view(np.int32) if a.dtype == np.float32 else a


def _assert_same_bits(a, b, label):
  for field in STEPPED:
    x, y = getattr(a.data, field).numpy(), getattr(b.data, field).numpy()
    assert np.array_equal(_bits(x), _bits(y)), (
      f"{label}: {field} differs by {np.nanmax(np.abs(x.astype(np.float64) - y)):.2e}")
  for name in ("ncon", "health", "last_reset_flags"):
    np.testing.assert_array_equal(getattr(a, name).numpy(), getattr(b, name).numpy(), err_msg=f"{label}: {name}")
  np.testing.assert_array_equal(a.data.efc.nefc.numpy(), b.data.efc.nefc.numpy(), err_msg=f"{label}: nefc")
  assert a.counters == b.counters, label


@pytest.mark.parametrize("group", simt.GROUP_SIZES)
def test_step_equals_simt_step_bitwise_and_native_within_bounds(group):
  """60 steps of the humanoid with contacts, controls and applied forces (30 single steps, then
  one call of 30): Simulator(backend="simt").step is simt.step on a twin native Simulator bit for
  bit, and within CONTACT_TRAJ_*_TOL of backend="native" (the same contacts every step)."""
  mjm = _humanoid()
  sim = simulator(mjm, NWORLD, "simt", group_size=group)
  twin = simulator(mjm, NWORLD, "native")
  ref = simulator(mjm, NWORLD, "native")
  _start(mjm, (sim, twin, ref))
  assert (sim.backend, sim.group_size) == ("simt", group)
  contacts = 0
  for _ in range(30):
    sim.step()
    simt.step(twin, group_size=group)
    ref.step()
    np.testing.assert_array_equal(sim.ncon.numpy(), ref.ncon.numpy())
    contacts += int(sim.ncon.numpy().sum())
  _assert_same_bits(sim, twin, f"group {group} after 30 single steps")
  sim.step(30)
  simt.step(twin, 30, group_size=group)
  ref.step(30)
  _assert_same_bits(sim, twin, f"group {group} after one call of 30 steps")
  assert contacts > 0
  for field, tol in (("qpos", CONTACT_TRAJ_QPOS_TOL), ("qvel", CONTACT_TRAJ_QVEL_TOL)):
    err = oracle.rel_err(getattr(sim.data, field).numpy(), getattr(ref.data, field).numpy())
    assert err < tol, f"group {group}: {field} vs backend='native' after 60 steps {err:.2e}"
  np.testing.assert_array_equal(sim.health.numpy(), 0)
  np.testing.assert_array_equal(sim.time.numpy(), ref.time.numpy())  # 60 float32 additions of the timestep


def test_default_group_size_is_the_documented_one():
  sim = simulator(_humanoid(), 2, "simt")
  assert sim.group_size == simt.DEFAULT_GROUP_SIZE == 8


@pytest.mark.parametrize("auto_reset", (False, True))
def test_health_and_auto_reset_as_native(auto_reset):
  """A non-finite and a too fast world: the same health bits, counters, last-reset flags and (with
  auto_reset) the same reset state as backend="native"; the healthy worlds within ROT_TOL."""
  mjm = _humanoid(disable=(mujoco.mjtDisableBit.mjDSBL_CONSTRAINT,))
  sims = [simulator(mjm, NWORLD, b, auto_reset=auto_reset, max_qvel=50.0) for b in ("native", "simt")]
  _start(mjm, sims, seed=23)
  for s in sims:
    qvel = s.data.qvel.numpy()
    qvel[1, 6] = np.nan
    qvel[2, 7] = 80.0
    s.data.qvel.assign(qvel)
    s.step(2)
  ref, sim = sims
  np.testing.assert_array_equal(sim.health.numpy(), ref.health.numpy())
  np.testing.assert_array_equal(sim.last_reset_flags.numpy(), ref.last_reset_flags.numpy())
  assert sim.counters == ref.counters
  flagged = (ref.last_reset_flags if auto_reset else ref.health).numpy()
  assert flagged[1] & 1 and flagged[2] & 8, flagged  # NONFINITE, VELOCITY_BOUND
  if auto_reset:  # reset to qpos0 in the step that flagged them, then one more step
    assert sim.counters["auto_resets"] == 2, sim.counters
  healthy = [0, 3] if not auto_reset else [0, 1, 2, 3]
  for field in ("qpos", "qvel", "act", "time"):
    a, b = getattr(ref.data, field).numpy()[healthy], getattr(sim.data, field).numpy()[healthy]
    assert oracle.rel_err(b, a) < ROT_TOL, field


def test_auto_reset_setting_changes_take_effect_without_a_rebuild():
  """sim.auto_reset and sim.max_qvel set after construction reach the cached plan in place."""
  mjm = _humanoid(disable=(mujoco.mjtDisableBit.mjDSBL_CONSTRAINT,))
  sims = [simulator(mjm, NWORLD, b, max_qvel=50.0) for b in ("native", "simt")]
  _start(mjm, sims, seed=5)
  plan = simt.plan(sims[1])
  for s in sims:
    s.auto_reset = True
    s.max_qvel = 30.0
    qvel = s.data.qvel.numpy()
    qvel[0, 6] = 40.0  # over the new bound, under the old
    s.data.qvel.assign(qvel)
    s.step(1)
  ref, sim = sims
  assert ref.last_reset_flags.numpy()[0] & 8
  np.testing.assert_array_equal(sim.last_reset_flags.numpy(), ref.last_reset_flags.numpy())
  assert sim.counters == ref.counters
  assert simt.plan(sim) is plan and plan.builds == 1


def test_reset_set_state_and_checkpoint_as_native(tmp_path):
  """Simulator.reset (all, some worlds), writes into the state and a checkpoint round trip: the
  checkpointed Simulator and its restored copy continue bit for bit."""
  mjm = _humanoid()
  sim = simulator(mjm, NWORLD, "simt")
  ref = simulator(mjm, NWORLD, "native")
  _start(mjm, (sim, ref))
  sim.step(5)
  sim.reset(worlds=[1, 3])
  ref.step(5)
  ref.reset(worlds=[1, 3])
  for field in ("qpos", "qvel", "time", "ctrl", "qfrc_applied", "xpos"):
    a, b = getattr(sim.data, field).numpy()[[1, 3]], getattr(ref.data, field).numpy()[[1, 3]]
    np.testing.assert_array_equal(a, b, err_msg=field)  # reset_world and the native forward: the same bits
  np.testing.assert_array_equal(sim.qpos.numpy()[[1, 3]], np.tile(mjm.qpos0, (2, 1)).astype(np.float32))
  sim.qvel[0, 0] = 0.5  # a write into the state is the next step's
  path = tmp_path / "sim.pt"
  checkpoint.save(sim, path)
  sim.step(10)
  restored = simulator(mjm, NWORLD, "simt")
  checkpoint.load(restored, path)
  restored.step(10)
  _assert_same_bits(sim, restored, "restored checkpoint")
  with pytest.raises(checkpoint.CheckpointError, match="backend"):
    checkpoint.load(simulator(mjm, NWORLD, "native"), path)
  with pytest.raises(checkpoint.CheckpointError, match=r"group_size=8\)' saved, 'simt \(group_size=16"):
    checkpoint.load(simulator(mjm, NWORLD, "simt", group_size=16), path)


def test_plan_is_built_once():
  """The pointer tables are built once at construction; steps, forward and resets reuse them;
  a changed model option or native_backend.refresh rebuilds them."""
  sim = simulator(_humanoid(), 2, "simt")
  plan = simt.plan(sim)
  assert plan.builds == 1
  sim.step(3)
  sim.forward()
  sim.reset()
  sim.step()
  simt.step(sim, 2, group_size=16)  # simt.step on the same Simulator: the same plan
  assert simt.plan(sim) is plan and plan.builds == 1
  sim.model.opt.iterations = sim.model.opt.iterations + 1
  sim.step()
  assert simt.plan(sim) is plan and plan.builds == 2
  native_backend.refresh(sim)
  assert plan.builds == 3
  twin = simulator(_humanoid(), 2, "native")
  simt.step(twin, 3)
  assert simt.plan(twin).builds == 1  # simt.step on a native Simulator builds its plan once too


def test_pinned_threads_step_the_same_bits():
  """distributed.pin_simulator_threads sets the emulation's OpenMP threads of a simt Simulator (and its
  native forward's); the worlds step to the same bits on one thread as on OpenMP's default."""
  from pywarp_sim import distributed

  mjm = _humanoid()
  pinned, free = simulator(mjm, NWORLD, "simt"), simulator(mjm, NWORLD, "simt")
  _start(mjm, (pinned, free))
  distributed.pin_simulator_threads(pinned, (0,))
  assert simt.plan(pinned).num_threads == 1 and simt.plan(free).num_threads == 0
  pinned.step(20)
  free.step(20)
  _assert_same_bits(pinned, free, "one thread vs OpenMP's default")


# what a world of Simulator(workspace="group", keep=GROUP_KEEP) holds after a step
GROUP_HELD = ("qpos", "qvel", "act", "time", "qacc_warmstart", "xpos")
GROUP_KEEP = ("xpos",)


def test_group_workspace_steps_through_the_simulator_bitwise():
  """Simulator(backend="simt", workspace="group"): Simulator.step runs the fused step with the
  derived arrays held per group slot; the state, health flags, counters and the kept xpos are
  those of the per-world simt Simulator bit for bit over 50 steps with contacts (single steps and
  one call of 20), and after a reset of some worlds; forward raises naming the fix."""
  mjm = _humanoid()
  world = simulator(mjm, NWORLD, "simt")
  group = simulator(mjm, NWORLD, "simt", workspace="group", keep=GROUP_KEEP)
  assert simt.group_slots(group) > 0 and simt.group_slots(world) == 0
  qpos, qvel, ctrl, act = oracle.random_state(mjm, NWORLD, 37, qvel_scale=0.1)
  for s in (world, group):
    oracle.set_state(s.data, qpos, qvel, ctrl * 0.1, act)
  contacts = 0

  def same(label):
    for field in GROUP_HELD:
      x, y = getattr(world, field).numpy(), getattr(group, field).numpy()
      assert np.array_equal(_bits(x), _bits(y)), f"{label}: {field}"
    np.testing.assert_array_equal(world.health.numpy(), group.health.numpy(), err_msg=f"{label}: health")
    assert world.counters == group.counters, label

  for _ in range(30):
    world.step()
    group.step()
    contacts += int(world.ncon.numpy().sum())
  same("after 30 single steps")
  assert contacts > 0  # contacts are in the steps compared
  world.step(20)
  group.step(20)
  same("after one call of 20 steps")
  for s in (world, group):
    s.reset(worlds=[1, 2])
    s.step(5)
  same("after resetting worlds 1 and 2 and 5 steps")
  with pytest.raises(RuntimeError, match="forward has no such form"):
    group.forward()
  with pytest.raises(ValueError, match="backend='simt'"):
    simulator(mjm, NWORLD, "warp", workspace="group")


def test_refusals_name_the_model_and_the_fix():
  """What the lane-group step cannot run raises at construction, naming it and backend='native'."""
  def refused(mjm, match, **kw):
    with pytest.raises(ValueError, match=match) as e:
      simulator(mjm, 2, "simt", **kw)
    assert "backend='native'" in str(e.value), str(e.value)

  rk4 = _humanoid()
  rk4.opt.integrator = int(mujoco.mjtIntegrator.mjINT_RK4)
  refused(rk4, "RK4")
  elliptic = _humanoid()  # elliptic cones run (tests/test_simt_elliptic.py)
  elliptic.opt.cone = int(mujoco.mjtCone.mjCONE_ELLIPTIC)
  assert simulator(elliptic, 2, "simt").backend == "simt"
  cg = _humanoid()
  cg.opt.solver = int(mujoco.mjtSolver.mjSOL_CG)
  refused(cg, "Newton")
  with pytest.raises(ValueError, match="group_size must be one of"):
    simulator(_humanoid(), 2, "simt", group_size=12)
  with pytest.raises(ValueError, match="group_size=16 sets the lanes per world of backend='simt'"):
    simulator(_humanoid(), 2, "native", group_size=16)
  with pytest.raises(ValueError, match="workspace='world'"):
    simulator(_humanoid(), 2, "simt", workspace="thread")
  with pytest.raises(ValueError, match="backend must be one of"):
    simulator(_humanoid(), 2, "lanes")


def test_humanoid_env_steps_on_simt():
  """The humanoid walking env on backend="simt": a few env steps, finite observations and rewards,
  the plan built once."""
  from pywarp_sim.envs.humanoid import HumanoidEnv, HumanoidEnvCfg

  env = HumanoidEnv(HumanoidEnvCfg(task="walk", backend="simt"), num_envs=4, device="cpu")
  assert env.sim.backend == "simt"
  for _ in range(4):
    obs, rew, dones, _ = env.step(torch.zeros(4, env.num_actions))
  policy = obs["policy"] if isinstance(obs, dict) else obs
  assert torch.isfinite(policy).all() and torch.isfinite(rew).all()
  assert float(env.sim.time.max()) > 0
  assert simt.plan(env.sim).builds == 1


def test_clis_take_the_simulator_backends():
  """train, selfplay and demo accept every Simulator backend (BACKENDS, simt among them) and no other."""
  from pywarp_sim import demo, train
  from pywarp_sim.selfplay import __main__ as selfplay_cli

  assert "simt" in BACKENDS
  for backend in BACKENDS:
    assert train.parse_args(["--device", "cpu", "--backend", backend]).env_overrides["backend"] == backend
    assert selfplay_cli.parse_args(["train", "--device", "cpu", "--backend", backend]).backend == backend
    assert demo.parse_args(["--device", "cpu", "--backend", backend]).backend == backend
  for parse, argv in ((train.parse_args, []), (selfplay_cli.parse_args, ["train"]), (demo.parse_args, [])):
    with pytest.raises(SystemExit):
      parse([*argv, "--device", "cpu", "--backend", "lanes"])


def _step_from(mjm, sims, forward: bool):
  """Every Simulator of `sims` from the same gentle random state (forward: with its derived arrays),
  then 10 single steps and one call of 10, in lockstep; CUDA synchronised."""
  qpos, qvel, ctrl, act = oracle.random_state(mjm, sims[0].nworld, 37, qvel_scale=0.1)
  for s in sims:
    oracle.set_state(s.data, qpos, qvel, ctrl * 0.1, act)
    if forward:
      s.forward()
  for _ in range(10):
    for s in sims:
      s.step()
  for s in sims:
    s.step(10)
  torch.cuda.synchronize()


@pytest.mark.gpu
@pytest.mark.parametrize("graph", (False, True))
@pytest.mark.parametrize("group", simt.GROUP_SIZES)
def test_gpu_simulator_equals_the_emulation_bitwise(group, graph):
  """Simulator(backend="simt") on CUDA (the cached SimtStepPlan launch; graph=True: each step one
  replay of a captured step) and on the CPU (the emulation): the same bits after 10 single steps and
  one call of 10, with contacts and auto reset on."""
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  mjm = _humanoid()
  cpu = simulator(mjm, NWORLD, "simt", group_size=group, auto_reset=True)
  gpu = pws.Simulator(pws.put_model(mjm, "cuda:0"), nworld=NWORLD, device="cuda:0", backend="simt",
                      group_size=group, auto_reset=True, graph=graph)
  assert simt.plan(gpu).capturable
  _step_from(mjm, (cpu, gpu), forward=True)
  for field in STEPPED:
    a, b = getattr(cpu.data, field).numpy(), getattr(gpu.data, field).numpy()
    assert np.array_equal(_bits(a), _bits(b)), (
      f"group {group} graph={graph}: {field} GPU vs emulation {np.nanmax(np.abs(a.astype(np.float64) - b)):.2e}")
  for name in ("ncon", "health"):
    np.testing.assert_array_equal(getattr(cpu, name).numpy(), getattr(gpu, name).cpu().numpy())
  assert simt.plan(gpu).builds == 1


@pytest.mark.gpu
@pytest.mark.parametrize("graph", (False, True))
def test_gpu_group_workspace_simulator_equals_the_emulation_bitwise(graph):
  """Simulator(backend="simt", workspace="group") on CUDA (the persistent launch, a slot per lane
  group) and on the CPU (the emulation): the same state, kept xpos and health after 10 single steps
  and one call of 10, more worlds than one block so that groups take several worlds."""
  if not native.available("cuda:0"):
    pytest.skip(native.unavailable_reason("cuda:0"))
  mjm = _humanoid()
  n = 4 * NWORLD
  cpu = simulator(mjm, n, "simt", workspace="group", keep=GROUP_KEEP, auto_reset=True)
  gpu = pws.Simulator(pws.put_model(mjm, "cuda:0"), nworld=n, device="cuda:0", backend="simt",
                      workspace="group", keep=GROUP_KEEP, auto_reset=True, graph=graph)
  _step_from(mjm, (cpu, gpu), forward=False)
  for field in GROUP_HELD:
    a, b = getattr(cpu, field).numpy(), getattr(gpu, field).cpu().numpy()
    assert np.array_equal(_bits(a), _bits(b)), f"graph={graph}: {field} GPU vs emulation"
  np.testing.assert_array_equal(cpu.health.numpy(), gpu.health.cpu().numpy())
