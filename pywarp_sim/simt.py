"""The lane-group (SIMT) kernels over a Simulator's arrays: the smooth stage (kernels/simt_smooth.h)
and the Newton constraint solver (kernels/simt_solver.h).

The GPU step's direction (DESIGN.md, "The GPU step") is one world per group of lanes (a warp,
or 8 / 16 lanes of one). Its kernels are written once against kernels/simt.h and compiled for
CUDA (`_native_cuda`, one lane per thread) and for the CPU (`_native`, the lanes of a group
emulated in lockstep), which give the same bits; so CI checks the GPU kernel's arithmetic here.

* `smooth(sim)`: kinematics, com_pos, crb + the L'DL factor of qM, com_vel and rne of every
  world (smooth_stages of kernels/forward.h), written into the Simulator's Data arrays
  (xpos ... qM, qLD, qLDiagInv, cvel, cdof_dot, qfrc_bias). Same results as the native CPU step
  bit for bit except through a hinge's sin/cos (simt::sincos, 2 ulp of sinf/cosf).
* `smooth(sim, record=True)`: the same on the CPU with the address recorder and the counting
  float, one world at a time; per-stage counts for `proxies`.
* `proxies(sim)`: GPU-speed proxies of the stage from those counts: sectors per warp memory
  request, lane efficiency, warp instructions per world.
* `solve(sim)`: the primal Newton solver of every world (kernels/simt_solver.h, solver.h's
  algorithm on a lane group) from the rows the native forward built (efc_J, efc_D, ... and qM,
  qacc_smooth, qfrc_smooth); writes qacc, qfrc_constraint, efc_force, efc_state, efc_aref,
  efc_vel, solver_niter, converged. Same optimum and stopping rules as the native solver; sums
  over rows and dofs run in the lanes' fixed reduction order (rounding differs, not the math).
  `solve(sim, record=True)` and `solver_proxies(sim)` measure it as `smooth` / `proxies` do.
* `collision(sim)`: mj_collision of every world (kernels/simt_collision.h): the native driver's
  pair filter, midphase box test and narrowphase over lanes (the primitive colliders; for models
  with convex pairs a second kernel instance with GJK/EPA, multicontact, meshes and height
  fields, ~29 KB of EPA scratch per lane), the contacts compacted in pair order; writes the
  contact arrays (ncon, dist, pos, frame, ..., overflow) bit for bit as the native CPU step.
  On CUDA this standalone kernel is the primitive instance: convex pairs are refused there by
  name (the fused step `step` has both instances on CUDA).
* `make_constraint(sim)`: the constraint rows of every world (kernels/simt_constraint.h) from its
  contacts and smooth quantities: equality rows (connect, weld, joint and tendon couplings the
  world's eq_active switches on), friction loss, limits, frictionless, pyramidal and elliptic
  contacts, rows allocated by prefix sums; writes efc_J, efc_type, efc_id, efc_pos, efc_margin,
  efc_frictionloss, efc_R, efc_K, efc_B, efc_D, efc_dim and efc_coef (elliptic rows), efc_jdotv
  (equality rows), ne and nefc bit for bit as the native CPU step. Limited ball joints (atan2f) and
  solimp powers other than 1 and 2 (powf) are refused by name.
  `collision_proxies(sim)` / `constraint_proxies(sim)` measure them as `proxies` does.
* `step(sim, nsteps)`: the fused lane-group step of every world (kernels/simt_step.h): the smooth
  stage, tendons, transmission, passive and actuator forces, the smooth acceleration, the Newton
  solver, the Euler / implicitfast integrator, the health check and auto reset, nsteps times in
  one call. The native CPU step's bits except where sin/cos (hinges, quaternion integration) or
  atan2 (ball and free joint springs) enter. `step_stage(sim, name)` runs one of STEP_STAGE_NAMES
  alone for tests; `step(sim, record=True)` and `step_proxies(sim)` measure the step as
  `smooth` / `proxies` do (stages STEP_STAGES). With constraints it runs `collision`,
  `make_constraint` and `solve`'s kernels (refusing what they refuse); RK4 and other actuator
  types are refused by name. Sensors are evaluated after the solve (stage 'sensors': one sensor
  per lane per stage pass through kernels/sensor.h's per-sensor functions; from the same inputs
  the native step's sensordata bit for bit).
* `plan(sim)`: the LaunchPlan `step` runs through, built once per Simulator (the pointer tables,
  the tree's parents, on CUDA the device buffer of SimtStepPlan), so that a step is one native call;
  Simulator(backend="simt", group_size=8) steps with it (check_model: what it refuses).
* `step_footprint(sim)`: which Data arrays one fused step carries (reads before writing: the
  state that must persist per world), uses transiently, only writes, or leaves untouched,
  measured by the address recorder (FOOTPRINT_CLASSES), with their bytes per world.
* `step(sim)` on a Simulator(workspace="group"): the memory mode in which a world keeps its state
  (and the arrays named in keep=) and everything a step derives lives in per-group-slot workspace
  (CPU: a slot per OpenMP thread; CUDA: a slot per group of the persistent launch,
  `cuda_group_slots`, `persistent_launch`); `group_memory(sim)` its bytes per world and per slot.
* `primitives(...)`, `sincos(x)`, `race_probe(shift)`: the layer's collectives, its sin/cos
  and its race check, for tests.

Needs the per-world workspace (Simulator(workspace="world"), the default); `step` also runs
Simulator(workspace="group").
"""

from __future__ import annotations

import numpy as np
import torch

from . import native, native_backend

__all__ = ["smooth", "proxies", "solve", "solver_proxies", "collision", "collision_proxies", "make_constraint",
           "constraint_proxies", "request_breakdown", "primitives", "sincos", "race_probe", "shared_bytes_per_world",
           "solver_shared_bytes_per_world", "collision_shared_bytes_per_world",
           "constraint_shared_bytes_per_world", "STAGES", "SOLVER_STAGES", "COLLISION_STAGES",
           "CONSTRAINT_STAGES", "step", "step_stage", "step_proxies", "step_shared_bytes_per_world",
           "STEP_STAGES", "STEP_STAGE_NAMES", "step_footprint", "schema_path", "FOOTPRINT_CLASSES",
           "group_slots", "group_memory", "LaunchPlan", "plan", "check_model", "DEFAULT_GROUP_SIZE",
           "block_worlds", "SM90_SHARED_PER_BLOCK", "persistent_launch", "cuda_group_slots"]

STAGES = ("kinematics", "com_pos", "crb", "factor_m", "com_vel", "rne")
SOLVER_STAGES = ("init", "gradient", "hessian", "factor", "direction", "line_search", "update", "finish")
COLLISION_STAGES = ("filter", "narrowphase", "contacts")
CONSTRAINT_STAGES = ("friction", "limits", "contact_rows", "contact_jacobian", "equality")
GROUP_SIZES = (8, 16, 32)
# Simulator(backend="simt")'s lanes per world: the fused step's best lane efficiency and fewest warp
# instructions per world-step (bench proxies, fallen humanoids: 9,969 at 8 lanes, 12,486 at 16,
# 17,560 at 32)
DEFAULT_GROUP_SIZE = 8
# the fused step's recorder stages (kernels/simt_step.h kStepStage*)
STEP_STAGES = ("smooth", "collision", "rows", "forces", "acceleration", "solver", "integrate", "health", "sensors")
# the stages step_stage runs alone (kernels/simt_step.h kOnly*)
STEP_STAGE_NAMES = ("tendon", "transmission", "passive", "actuation", "acceleration", "integrate", "health",
                    "sensors")


def _module(device: str):
  reason = native.unavailable_reason(device)
  if reason:
    raise RuntimeError(f"the lane-group kernels are unavailable on {device}: {reason}")
  mod = native.module("cuda" if device.startswith("cuda") else "cpu")
  if not hasattr(mod, "simt_smooth"):
    raise RuntimeError("the compiled native module predates the lane-group kernels (no simt_smooth); "
                       "rebuild with `make venv`")
  return mod


def _check(sim, group_size: int, group_slots: bool = False):
  """group_slots: the caller runs with the workspace held per group slot (workspace="group")."""
  if group_size not in GROUP_SIZES:
    raise ValueError(f"group_size must be one of {GROUP_SIZES}, got {group_size!r}")
  if sim.workspace == "group" and not group_slots:
    raise ValueError("with Simulator(workspace='group') the derived arrays are held per group slot, which only "
                     "the fused step (simt.step) fills world by world; the lane-group stages alone need "
                     "Simulator(workspace='world')")
  if sim.workspace not in ("world", "group"):
    raise ValueError("the lane-group kernels need Simulator(workspace='world') (or 'group' for simt.step), "
                     f"this Simulator has workspace={sim.workspace!r}")


def smooth(sim, group_size: int = 32, record: bool = False, num_threads: int = 0) -> dict | None:
  """The lane-group smooth stage of every world of `sim` (CPU: emulated; CUDA: the kernel).

  group_size: lanes per world (8, 16, 32). record (CPU only): measure while running; returns
  {'stages': {stage: {phases, warp_instructions, lane_instructions, global_requests,
  global_sectors, global_lane_accesses, shared_accesses, distinct_global_bytes}},
  'working_set_bytes'}, sums over the worlds (the results written are the same bits).
  Reads qpos, qvel and the parameter banks; writes what smooth_stages writes."""
  _check(sim, group_size)
  device = "cpu" if sim.device.is_cpu else f"cuda:{sim.device.ordinal}"
  mod = _module(device)
  keep = []
  tables = native_backend.build_tables(sim, mod.step_layout(), keep)
  mjm = sim.model.mj_model
  parents = (np.asarray(mjm.body_parentid, np.int32), np.asarray(mjm.dof_parentid, np.int32))
  if sim.device.is_cpu:
    return mod.simt_smooth(*tables, sim.nworld, *parents, group_size=group_size, record=record,
                           num_threads=num_threads)
  if record:
    raise ValueError("record=True runs the CPU emulation: use a Simulator on device='cpu'")
  stream = torch.cuda.current_stream(torch.device(device)).cuda_stream
  mod.simt_smooth(*tables, sim.nworld, *parents, group_size=group_size, device=sim.device.ordinal, stream=stream)
  return None


def _check_solver(sim):
  """The lane-group solver is primal Newton (scalar rows and elliptic cones): other solvers are
  refused by name (the C++ side checks again)."""
  opt = sim.model.mj_model.opt
  if int(opt.solver) != 2:
    raise ValueError(f"the lane-group solver runs Newton; this model has opt.solver={int(opt.solver)}: "
                     "set mj_model.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON")


def solve(sim, group_size: int = 32, record: bool = False, num_threads: int = 0) -> dict | None:
  """The lane-group Newton solver of every world of `sim` (CPU: emulated; CUDA: the kernel), from
  the constraint rows and smooth quantities in its Data (run the native forward first).

  Reads qM, qvel, qacc_smooth, qfrc_smooth, qacc_warmstart, efc_nefc, efc_J, efc_type, efc_jdotv, efc_D,
  efc_R, efc_frictionloss, efc_B, efc_K, efc_pos, efc_margin, efc_dim, efc_coef; writes qacc,
  qfrc_constraint, efc_vel, efc_aref, efc_force, efc_state, efc_solver_niter, efc_converged
  (scratch: efc_jar, efc_jv, efc_cone_H, efc_Ma, efc_grad, efc_search). record (CPU only): per-stage counts as `smooth`'s,
  stages SOLVER_STAGES, sums over the worlds."""
  _check(sim, group_size)
  _check_solver(sim)
  device = "cpu" if sim.device.is_cpu else f"cuda:{sim.device.ordinal}"
  mod = _module(device)
  keep = []
  tables = native_backend.build_tables(sim, mod.step_layout(), keep)
  if sim.device.is_cpu:
    return mod.simt_solve(*tables, sim.nworld, group_size=group_size, record=record, num_threads=num_threads)
  if record:
    raise ValueError("record=True runs the CPU emulation: use a Simulator on device='cpu'")
  stream = torch.cuda.current_stream(torch.device(device)).cuda_stream
  mod.simt_solve(*tables, sim.nworld, group_size=group_size, device=sim.device.ordinal, stream=stream)
  return None


def solver_shared_bytes_per_world(nv: int) -> int:
  """Shared memory of one world's solver group: the Hessian / its factor (nv * nv), M search and
  the inverse pivots (nv each) floats; M is read from qM in global memory."""
  return 4 * (nv * nv + 2 * nv)


def solver_proxies(sim, group_size: int = 32) -> dict:
  """`proxies` of the lane-group Newton solver, measured by the recording emulation on every world
  of a CPU Simulator whose rows the native forward built. Unlike the smooth stage the counts
  depend on the state (rows, active set, iterations): per world means over the worlds given, with
  'rows_per_world' and 'iterations_per_world' (the solver's) alongside. Kernel-wide scalar
  arithmetic outside the phases (the line search's bracket updates, a few operations per
  iteration) is not counted."""
  if not sim.device.is_cpu:
    raise ValueError("proxies run the CPU emulation: use a Simulator on device='cpu'")
  measured = solve(sim, group_size=group_size, record=True)
  out = _summary(measured, group_size, sim.nworld)
  efc = sim.data.efc
  out["rows_per_world"] = float(np.mean(efc.nefc.numpy()))
  out["iterations_per_world"] = float(np.mean(efc.solver_niter.numpy()))
  return out


def _summary(measured: dict, group_size: int, n: int) -> dict:
  def summary(s, working_set):
    return {
      "sectors_per_request": s["global_sectors"] / s["global_requests"] if s["global_requests"] else None,
      "lane_efficiency": s["lane_instructions"] / (group_size * s["warp_instructions"]) if s["warp_instructions"] else None,
      "instructions_per_world_step": s["warp_instructions"] * group_size / 32 / n,
      "phases_per_world": s["phases"] / n,
      "sector_bytes_per_world": 32 * s["global_sectors"] / n,
      "working_set_bytes_per_world": working_set / n,
      "one_world_per_lane": {
        "instructions_per_world_step": s["lane_instructions"] / 32 / n,
        "sector_bytes_per_world": 32 * s["global_lane_accesses"] / n,
      },
    }

  stages = measured["stages"]
  total = {k: sum(s[k] for s in stages.values()) for k in next(iter(stages.values()))}
  out = summary(total, measured["working_set_bytes"])
  out["stages"] = {name: summary(s, s["distinct_global_bytes"]) for name, s in stages.items()}
  out["group_size"] = group_size
  out["worlds"] = n
  return out


def shared_bytes_per_world(nv: int) -> int:
  """Shared memory of one world's group: qM / its factor (nv * nv) and crb * cdof (6 * nv) floats."""
  return 4 * (nv * nv + 6 * nv)


def proxies(sim, group_size: int = 32) -> dict:
  """GPU-speed proxies of the stage, measured by the recording emulation on every world of a
  CPU Simulator (a few worlds suffice: the counts depend on the model, not on the state):

    sectors_per_request          distinct 32-byte sectors per memory instruction of one group
                                 (global memory; shared-memory accesses are counted apart)
    lane_efficiency              lane instructions / (group_size x group instructions): the
                                 share of the group's lanes busy per instruction
    instructions_per_world_step  warp instructions per world: the group's instructions (per
                                 phase the longest lane's float and memory operations, plus
                                 collectives) x group_size / 32, since a warp issues one
                                 instruction for the 32 / group_size worlds it holds
    sector_bytes_per_world       32 x the sectors requested per world (traffic through L1, not DRAM)
    working_set_bytes_per_world  distinct bytes of global memory one world's stage touches
                                 (its Data arrays and the model arrays it reads)
    phases_per_world             sync points per world
    one_world_per_lane           the same operations and accesses run one world per lane (the
                                 fused step's layout today): {instructions_per_world_step: lane
                                 instructions / 32, every lane busy; sector_bytes_per_world: 32 x
                                 the accesses, each lane's access its own sector}
    stages                       the same per stage (working set: distinct bytes of the stage)"""
  if not sim.device.is_cpu:
    raise ValueError("proxies run the CPU emulation: use a Simulator on device='cpu'")
  measured = smooth(sim, group_size=group_size, record=True)
  return _summary(measured, group_size, sim.nworld)


def _check_collision(sim):
  """The standalone lane-group collision (`collision`) runs every collider of the native driver on
  the CPU (the primitive ones and, in the convex instance of the kernel, GJK/EPA, multicontact,
  meshes and height fields); its CUDA kernel (simt_rows_kernel) is the primitive-only instance, so
  on a CUDA Simulator a convex (GJK/EPA) pair is refused by name (the C++ side checks again). The
  fused step runs convex pairs on CUDA too (its convex instance, simt_step_kernel<N, true>)."""
  if sim.device.is_cpu:
    return
  pairs = sim.model.collision
  if pairs is None or pairs.nconvex == 0:
    return
  convex = np.flatnonzero(pairs.collider.numpy() == 12)  # collision_driver.Collider.CONVEX
  p = int(convex[0])
  mjm = sim.model.mj_model
  g1, g2 = (_geom_name(mjm, int(a.numpy()[p])) for a in (pairs.geom1, pairs.geom2))
  raise ValueError(f"pair {p} (geoms {g1} and {g2}) and {len(convex) - 1} more use the convex collider (GJK/EPA), "
                   "which the standalone lane-group collision kernel on CUDA does not instantiate (~29 KB of EPA "
                   "scratch per lane; the CPU emulation runs it): run the fused step (simt.step), which has a "
                   "convex instance on CUDA, or the CPU")


def _geom_name(mjm, geom: int) -> str:
  """A geom's MJCF name, or '#id' for an unnamed one."""
  name = mjm.geom(geom).name
  return repr(name) if name else f"#{geom}"


def _check_constraint(sim):
  """The lane-group rows are equality rows, friction loss, limits and contacts (frictionless,
  pyramidal, elliptic): limited ball joints and solimp powers other than 1 and 2 are refused by name
  (the C++ side checks again)."""
  import mujoco

  mjm = sim.model.mj_model
  # atan2f and powf: CUDA's differ from glibc's in the last bit (kernels/simt_constraint.h)
  balls = np.flatnonzero((mjm.jnt_type == 1) & (mjm.jnt_limited != 0))  # mjJNT_BALL
  if len(balls) and not mjm.opt.disableflags & int(mujoco.mjtDisableBit.mjDSBL_LIMIT):
    raise ValueError(f"joint {mjm.joint(int(balls[0])).name or int(balls[0])!r} is a limited ball joint, whose limit "
                     "row the lane-group rows do not build (its angle needs atan2): remove the limit or use the "
                     "native step")
  pairs = sim.model.collision
  powers = {"dof_solimp": mjm.dof_solimp[:, 4], "jnt_solimp": mjm.jnt_solimp[mjm.jnt_limited != 0, 4],
            "tendon_solimp_fri": mjm.tendon_solimp_fri[:, 4], "tendon_solimp_lim": mjm.tendon_solimp_lim[:, 4],
            "pair solimp": pairs.solimp.numpy()[:, 4] if pairs is not None and pairs.npair else np.zeros(0),
            "eq_solimp": (mjm.eq_solimp[:, 4] if not mjm.opt.disableflags & int(mujoco.mjtDisableBit.mjDSBL_EQUALITY)
                          else np.zeros(0))}
  for name, p in powers.items():
    odd = np.flatnonzero(~np.isin(np.maximum(p, 1.0), (1.0, 2.0)))
    if len(odd):
      raise ValueError(f"{name}[{int(odd[0])}] has solimp power {float(p[odd[0]])}: the lane-group rows compute "
                       "powers 1 and 2 only (no powf, whose CUDA and glibc results differ); use the native step")


def _run_rows(sim, name: str, group_size: int, record: bool, num_threads: int) -> dict | None:
  _check(sim, group_size)
  device = "cpu" if sim.device.is_cpu else f"cuda:{sim.device.ordinal}"
  mod = _module(device)
  keep = []
  tables = native_backend.build_tables(sim, mod.step_layout(), keep)
  fn = getattr(mod, name)
  if sim.device.is_cpu:
    return fn(*tables, sim.nworld, group_size=group_size, record=record, num_threads=num_threads)
  if record:
    raise ValueError("record=True runs the CPU emulation: use a Simulator on device='cpu'")
  stream = torch.cuda.current_stream(torch.device(device)).cuda_stream
  fn(*tables, sim.nworld, group_size=group_size, device=sim.device.ordinal, stream=stream)
  return None


def collision(sim, group_size: int = 32, record: bool = False, num_threads: int = 0) -> dict | None:
  """mj_collision of every world of `sim` on lane groups (CPU: emulated; CUDA: the kernel), from
  the geom frames in its Data (run the smooth stage or the native forward first).

  Reads geom_xpos, geom_xmat, the pair tables and the geom frictions' bank; writes the contact
  arrays (ncon, dist, pos, frame, includemargin, friction, solref, solreffriction, solimp, dim,
  geom, exclude, pair: the first nconmax contacts in pair order) and overflow / overflow_count as
  the native driver does (the flag is the step's: the native step clears it when a step begins).
  record (CPU only): per-stage counts as `smooth`'s, stages COLLISION_STAGES, sums over worlds."""
  _check_collision(sim)
  return _run_rows(sim, "simt_collision", group_size, record, num_threads)


def make_constraint(sim, group_size: int = 32, record: bool = False, num_threads: int = 0) -> dict | None:
  """The constraint rows of every world of `sim` on lane groups (CPU: emulated; CUDA: the
  kernel), from its contacts, qpos, ten_length, cdof and subtree_com (run collision or the native
  forward first).

  Writes ne, nefc and rows 0 .. nefc - 1 of efc_J, efc_type, efc_id, efc_pos, efc_margin,
  efc_frictionloss, efc_R, efc_K, efc_B, efc_D in forward.h's order (equality.h's rows, then
  constraint.h's), and efc_jdotv of the ne equality rows. record (CPU only):
  per-stage counts, stages CONSTRAINT_STAGES, sums over worlds."""
  _check_constraint(sim)
  return _run_rows(sim, "simt_make_constraint", group_size, record, num_threads)


def collision_shared_bytes_per_world(npair: int) -> int:
  """Shared memory of one world's collision group: the surviving pairs' ids (npair ints)."""
  return 4 * npair


def constraint_shared_bytes_per_world(nconmax: int, neq: int = 0) -> int:
  """Shared memory of one world's constraint-row group: each contact's and each equality
  constraint's first row (nconmax + neq ints)."""
  return 4 * (nconmax + neq)


def collision_proxies(sim, group_size: int = 32) -> dict:
  """`proxies` of the lane-group collision, measured by the recording emulation on every world of
  a CPU Simulator whose geom frames are set (the counts depend on the state: survivors of the
  filter and contacts), with 'contacts_per_world' alongside."""
  if not sim.device.is_cpu:
    raise ValueError("proxies run the CPU emulation: use a Simulator on device='cpu'")
  measured = collision(sim, group_size=group_size, record=True)
  out = _summary(measured, group_size, sim.nworld)
  out["contacts_per_world"] = float(np.mean(sim.data.contact.ncon.numpy()))
  return out


def constraint_proxies(sim, group_size: int = 32) -> dict:
  """`proxies` of the lane-group constraint rows, measured by the recording emulation on every
  world of a CPU Simulator whose contacts and smooth quantities are set, with 'rows_per_world'
  alongside."""
  if not sim.device.is_cpu:
    raise ValueError("proxies run the CPU emulation: use a Simulator on device='cpu'")
  measured = make_constraint(sim, group_size=group_size, record=True)
  out = _summary(measured, group_size, sim.nworld)
  out["rows_per_world"] = float(np.mean(sim.data.efc.nefc.numpy()))
  return out


def _check_step(sim):
  check_model(sim.model)  # convex pairs run on CPU and CUDA alike (the step's convex instance)


def check_model(model) -> None:
  """Raises ValueError naming what the fused lane-group step cannot run in `model` (a Model), from
  its MjModel (the C++ side checks the model's scalars again when the plan is built): actuator
  transmissions other than joint and fixed tendon, dynamics other than none / integrator / filter /
  filterexact, gain and bias other than fixed and affine; RK4; with constraints, what the
  rows and the solver refuse (solvers other than Newton, limited ball joints, solimp powers other
  than 1 and 2). Convex pairs are not refused: the step's convex instance runs them on the CPU and
  on CUDA (~40 KB of local memory per GPU thread). Sensors are not refused: the step
  evaluates every sensor type the model loader accepts, with the inputs they read (sensordata,
  subtree velocities, cacc / cfrc_int / cfrc_ext: kernels/sensor.h's per-sensor functions)."""
  import types

  import mujoco

  sim = types.SimpleNamespace(model=model)  # the stage checks read sim.model only
  mjm = model.mj_model
  allowed_trn = {int(mujoco.mjtTrn.mjTRN_JOINT), int(mujoco.mjtTrn.mjTRN_JOINTINPARENT), int(mujoco.mjtTrn.mjTRN_TENDON)}
  allowed_dyn = {int(mujoco.mjtDyn.mjDYN_NONE), int(mujoco.mjtDyn.mjDYN_INTEGRATOR), int(mujoco.mjtDyn.mjDYN_FILTER),
                 int(mujoco.mjtDyn.mjDYN_FILTEREXACT)}
  allowed_gain = {int(mujoco.mjtGain.mjGAIN_FIXED), int(mujoco.mjtGain.mjGAIN_AFFINE)}
  allowed_bias = {int(mujoco.mjtBias.mjBIAS_NONE), int(mujoco.mjtBias.mjBIAS_AFFINE)}
  for i in range(mjm.nu):
    name = mujoco.mj_id2name(mjm, mujoco.mjtObj.mjOBJ_ACTUATOR, i) or str(i)
    if int(mjm.actuator_trntype[i]) not in allowed_trn:
      raise ValueError(f"actuator {name!r} has transmission {mujoco.mjtTrn(int(mjm.actuator_trntype[i])).name}: the "
                       "lane-group step runs joint and fixed-tendon transmissions; use the native step")
    if int(mjm.actuator_dyntype[i]) not in allowed_dyn:
      raise ValueError(f"actuator {name!r} has dynamics {mujoco.mjtDyn(int(mjm.actuator_dyntype[i])).name}: the "
                       "lane-group step runs none, integrator, filter and filterexact; use the native step")
    if int(mjm.actuator_gaintype[i]) not in allowed_gain or int(mjm.actuator_biastype[i]) not in allowed_bias:
      raise ValueError(f"actuator {name!r} has a gain or bias type other than fixed or affine, which the lane-group "
                       "step does not run; use the native step")
  if mjm.opt.integrator == int(mujoco.mjtIntegrator.mjINT_RK4):
    raise ValueError("the lane-group step integrates with Euler or implicitfast, not RK4: set "
                     "mj_model.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER (or mjINT_IMPLICITFAST)")
  if not mjm.opt.disableflags & int(mujoco.mjtDisableBit.mjDSBL_CONSTRAINT):
    _check_solver(sim)
    _check_constraint(sim)  # what the lane-group rows refuse


class LaunchPlan:
  """What one fused lane-group step call of a Simulator needs, built once: the pointer tables of
  its Model and Data arrays (native_backend.build_tables, checked against the layout), the tree's
  parent arrays and (CUDA) the actuator dynamics' host copies, and the model's refusals checked
  (check_model, then the C++ side's by a call of 0 steps). `plan(sim)` keeps one per Simulator;
  a step is then one native call. `builds` counts the table builds: a plan rebuilds only when
  the model's options change (native_backend.settings_fingerprint) or on `rebuild()` (after Model
  arrays were replaced: native_backend.refresh); auto_reset, reset_on and max_qvel are updated
  in place."""

  def __init__(self, sim):
    self.device = "cpu" if sim.device.is_cpu else f"cuda:{sim.device.ordinal}"
    self.builds = 0
    self.num_threads = 0  # CPU: the emulation's OpenMP threads where a call names none (0: OpenMP's default)
    self._module = _module(self.device)
    if not hasattr(self._module, "simt_step"):
      raise RuntimeError("the compiled native module predates the lane-group step (no simt_step); rebuild with "
                         "`make venv`")
    self.rebuild(sim)

  def rebuild(self, sim) -> None:
    """Checks the model and builds every table again from the Simulator's current arrays."""
    _check_step(sim)
    keep = []
    ints, reals, model_arrays, data_arrays = native_backend.build_tables(sim, self._module.step_layout(), keep)
    mjm = sim.model.mj_model
    self._args = (ints, reals, model_arrays, data_arrays, sim.nworld,
                  np.asarray(mjm.body_parentid, np.int32), np.asarray(mjm.dof_parentid, np.int32))
    if self.device != "cpu":  # host copies of what the kernel reads on the device: filterexact's exp(-h / tau)
      self._args += (np.asarray(mjm.actuator_dyntype, np.int32),
                     np.ascontiguousarray(mjm.actuator_dynprm[:, :3], np.float32))
    self._nslot = group_slots(sim)
    self._arrays = keep  # the tables hold raw addresses: keep every array alive while the plan lives
    self._fingerprint = native_backend.settings_fingerprint(sim)
    self._device_plan = None
    self.builds += 1
    self.step(sim, 0)  # the C++ side's refusals (step_refusal, rows) before any step
    if self.device != "cpu" and hasattr(self._module, "SimtStepPlan"):
      # the tables' views, the tree and act_exp on the device once: a step queues the kernel alone
      self._device_plan = self._module.SimtStepPlan(*self._args, device=sim.device.ordinal, nslot=self._nslot)

  @property
  def capturable(self) -> bool:
    """Whether a step of this plan can be captured into a CUDA graph: with the compiled SimtStepPlan
    (the device buffer filled once) a one-step call queues the kernel alone; simt_step without it
    allocates its argument buffer and synchronises per call, which a capture cannot record."""
    return self.device == "cpu" or self._device_plan is not None

  def check_capturable(self) -> None:
    """RuntimeError naming why a CUDA graph cannot capture this plan's step, and the fix."""
    if not self.capturable:
      raise RuntimeError("the compiled CUDA module predates the cached lane-group launch (no SimtStepPlan): its "
                         "simt_step allocates its argument buffer and synchronises per call, which a CUDA graph "
                         "capture cannot record; rebuild with `make venv`, or use graph=False with backend='simt'")

  def sync(self, sim) -> None:
    """Picks up changed settings: auto_reset / reset_on / max_qvel in place, model options by a rebuild."""
    fp = native_backend.settings_fingerprint(sim)
    if fp == self._fingerprint:
      return
    if fp[2:] != self._fingerprint[2:]:
      self.rebuild(sim)
      return
    ints, reals = self._args[0], self._args[1]
    ints["auto_reset"], reals["max_qvel"] = fp[0], float(fp[1])
    if self._device_plan is not None:
      self._device_plan.set_runtime(fp[0], float(fp[1]))
    self._fingerprint = fp

  def step(self, sim, nsteps: int, group_size: int = 32, persistent: bool = False, record: bool = False,
           num_threads: int | None = None, footprint: bool = False, stage: int = -1) -> dict | None:
    """nsteps fused steps (stage >= 0: STEP_STAGE_NAMES[stage] alone, CPU) of every world: one native call."""
    if self.device == "cpu":
      if persistent:
        raise ValueError("persistent=True is the CUDA launch; the CPU emulation steps worlds in an OpenMP loop")
      threads = self.num_threads if num_threads is None else num_threads
      return self._module.simt_step(*self._args, group_size=group_size, nsteps=int(nsteps), stage=stage,
                                    record=record, num_threads=threads, footprint=footprint,
                                    nslot=self._nslot)
    if record:
      raise ValueError("record=True runs the CPU emulation: use a Simulator on device='cpu'")
    stream = torch.cuda.current_stream(sim.torch_device).cuda_stream
    if self._device_plan is not None:
      self._device_plan.step(int(nsteps), int(group_size), bool(persistent), stream)
      return None
    self._module.simt_step(*self._args, group_size=group_size, nsteps=int(nsteps), persistent=persistent,
                           device=sim.device.ordinal, stream=stream)
    return None


def plan(sim) -> LaunchPlan:
  """The LaunchPlan of `sim`, built on first use (at construction for Simulator(backend="simt"))
  and kept with it; its settings synced with the Simulator's (LaunchPlan.sync)."""
  p = sim.__dict__.get("_simt_plan")
  if p is None:
    p = LaunchPlan(sim)
    sim.__dict__["_simt_plan"] = p
  else:
    p.sync(sim)
  return p


def step(sim, nsteps: int = 1, group_size: int = 32, record: bool = False, num_threads: int | None = None,
         persistent: bool = False, footprint: bool = False) -> dict | None:
  """nsteps fused lane-group steps of every world of `sim` (CPU: emulated; CUDA: one kernel launch,
  one group per world, or with persistent=True groups taking worlds from an atomic counter), through
  the Simulator's cached LaunchPlan (`plan(sim)`): one native call.

  The state advances as Simulator.step's (qpos, qvel, act, time, qacc_warmstart and the derived
  arrays, health flags and counters, auto reset). With Simulator(workspace="group") each OpenMP
  thread (CPU) or each group of the persistent launch (CUDA: group k of the grid in slot k; this
  Data always runs persistent, whatever `persistent` says, as only that launch gives a group a
  slot) steps its worlds in its own group slot, whose rows hold everything the step derives
  (group_slots); the same bits. record (CPU only): per-stage counts as `smooth`'s,
  stages STEP_STAGES, sums over worlds and steps; footprint (with record): also 'footprint', the
  recorder's per-array flags within a step (step_footprint classifies them)."""
  _check(sim, group_size, group_slots=True)
  if int(nsteps) < 0:
    raise ValueError(f"nsteps must be >= 0, got {nsteps!r}")
  if footprint and not record:
    raise ValueError("footprint=True is measured by the address recorder: pass record=True (CPU)")
  if persistent and sim.device.is_cpu:
    raise ValueError("persistent=True is the CUDA launch; the CPU emulation steps worlds in an OpenMP loop")
  return plan(sim).step(sim, int(nsteps), group_size=group_size, persistent=persistent, record=record,
                        num_threads=num_threads, footprint=footprint)


def step_stage(sim, name: str, group_size: int = 32, record: bool = False) -> dict | None:
  """One stage of the fused step alone on every world of a CPU Simulator (STEP_STAGE_NAMES), from
  the Data the native forward left, for tests against the scalar stages: 'acceleration' loads qLD
  into the group's shared array first (the fused step has it there from the smooth stage)."""
  _check(sim, group_size)
  _check_step(sim)
  if name not in STEP_STAGE_NAMES:
    raise ValueError(f"stage must be one of {STEP_STAGE_NAMES}, got {name!r}")
  if not sim.device.is_cpu:
    raise ValueError("step_stage runs the CPU emulation: use a Simulator on device='cpu'")
  return plan(sim).step(sim, 1, group_size=group_size, record=record, stage=STEP_STAGE_NAMES.index(name))


def group_slots(sim) -> int:
  """Group slots of a Simulator(workspace="group"): the rows of its per-slot arrays (0 otherwise)."""
  return int(sim.data.qM.shape[0]) if sim.workspace == "group" else 0


def group_memory(sim) -> dict:
  """Bytes of a Simulator(workspace="group") as allocated (its per-world and per-slot arrays in the
  step's view, native_backend.state_bytes_per_world): {'per_world': what each world keeps (state,
  health flags, the kept arrays), 'per_slot': one group slot's workspace, 'slots': slots}."""
  if sim.workspace != "group":
    raise ValueError(f"group_memory measures Simulator(workspace='group'); this one has workspace={sim.workspace!r}")
  b = native_backend.state_bytes_per_world(sim)
  slots = group_slots(sim)
  return {"per_world": round(b["data"]), "per_slot": round(b["workspace"] * sim.nworld / slots), "slots": slots}


def persistent_launch(nworld: int, resident_blocks: int, worlds_per_block: int, nslot: int = 0) -> dict:
  """The persistent step launch's grid from the occupancy calculator's answer (kernels/simt_step.h
  persistent_blocks, persistent_groups, slot_refusal; the CUDA launch and cuda_group_slots call the
  same functions): {'blocks': blocks of worlds_per_block groups, no more than resident_blocks (SMs
  x blocks per SM) nor than nworld needs, 'groups': blocks x worlds_per_block, the workspace slots
  the launch indexes (group k steps its worlds in slot k), 'refusal': '' when nslot slots hold
  them (nslot 0: every array per world), else the error the launch raises}."""
  return dict(_module("cpu").simt_persistent_launch(int(nworld), int(resident_blocks), int(worlds_per_block),
                                                     int(nslot)))


def cuda_group_slots(device, model, nworld: int) -> int:
  """Group slots a Simulator(workspace="group") on CUDA `device` allocates for nworld worlds of
  `model` (a Model): the most lane groups a persistent launch of the fused step runs there, over
  the group sizes 8, 16 and 32 (the CUDA occupancy calculator's resident blocks of
  simt_step_persistent_kernel for the model's shared arrays; persistent_launch's 'groups'), so
  simt.step at any group size finds a slot for each of its groups."""
  import warp as wp

  device = wp.get_device(device)
  if not device.is_cuda:
    raise ValueError(f"cuda_group_slots counts the CUDA launch's groups; {device} is not a CUDA device (the CPU "
                     "emulation holds a slot per OpenMP thread: native_backend.workspace_rows)")
  mod = _module(f"cuda:{device.ordinal}")
  if not hasattr(mod, "simt_step_slots"):
    raise RuntimeError("the compiled CUDA module predates the lane-group step's group slots (no simt_step_slots); "
                       "rebuild it (bench/prebuild_gpu.sh or `make venv` with CUDA)")
  sizes = (int(model.nv), int(model.collision.npair if model.collision is not None else 0),
           int(model.collision.nconmax if model.collision is not None else 0), int(model.neq),
           bool(model.collision is not None and model.collision.nconvex))  # the step instance (has_convex)
  return max(int(mod.simt_step_slots(*sizes, int(nworld), g, device=device.ordinal)) for g in GROUP_SIZES)


def step_shared_bytes_per_world(nv: int, npair: int = 0, nconmax: int = 0, neq: int = 0) -> int:
  """Shared memory of one world's step group: the largest of the smooth stage's (nv^2 + 6 nv
  floats) and the solver's (nv^2 + 2 nv) arrays and the collision's and the rows' scratch ints
  (npair, nconmax + neq; 4 bytes each); the implicit integrators' qH factor (nv * nv floats) fits
  in the solver's."""
  return max(shared_bytes_per_world(nv), solver_shared_bytes_per_world(nv), 4 * npair, 4 * (nconmax + neq))


# sm_90's (H100, H200) shared memory: the largest dynamic share of one block (227 KiB, with the
# opt-in), the SM's (228 KiB) and the runtime's reserve per resident block; its block and warp caps
SM90_SHARED_PER_BLOCK = 232448
SM90_SHARED_PER_SM = 233472
SM90_SHARED_RESERVED_PER_BLOCK = 1024
SM90_MAX_BLOCKS, SM90_MAX_WARPS = 32, 64
SIMT_BLOCK_THREADS = 128  # kSimtBlock in csrc/simt_launch.h


def block_worlds(group_size: int, shared_bytes_per_world: int, shared_limit: int = SM90_SHARED_PER_BLOCK,
                 resident=None) -> int:
  """Worlds per block of a lane-group launch (csrc/simt_launch.cu, kernels/simt_step.h's
  block_worlds): of 128 / group_size down to 1 whose shared arrays fit shared_limit bytes per
  block, the count keeping the most worlds resident per SM (ties: the larger block); 0 where one
  world's arrays pass the limit (the launch then refuses the model by name). resident(w): blocks of
  w worlds one SM holds; by default from sm_90's shared memory and block and warp caps alone (the
  CUDA launch asks the occupancy calculator, which also counts the kernel's registers)."""
  if resident is None:
    def resident(w: int) -> int:
      warps = -(-w * int(group_size) // 32)
      return min(SM90_MAX_BLOCKS, SM90_MAX_WARPS // warps,
                 SM90_SHARED_PER_SM // (w * int(shared_bytes_per_world) + SM90_SHARED_RESERVED_PER_BLOCK))
  return int(_module("cpu").simt_block_worlds(SIMT_BLOCK_THREADS, int(group_size), int(shared_bytes_per_world),
                                               int(shared_limit), resident))


def step_proxies(sim, group_size: int = 32, nsteps: int = 1) -> dict:
  """`proxies` of the fused lane-group step, measured by the recording emulation over nsteps
  steps of every world of a CPU Simulator (the state advances): per world-step means, stages
  STEP_STAGES, and 'footprint' (step_footprint's answer from the same run)."""
  if not sim.device.is_cpu:
    raise ValueError("proxies run the CPU emulation: use a Simulator on device='cpu'")
  measured = step(sim, nsteps=nsteps, group_size=group_size, record=True, footprint=True)
  out = _summary(measured, group_size, sim.nworld * nsteps)
  out["footprint"] = _classify(sim, measured["footprint"], sim.nworld * nsteps)
  out["requests_by_array"] = request_breakdown(measured, sim.nworld * nsteps)
  return out


def request_breakdown(measured: dict, world_steps: int) -> list[dict]:
  """The global memory requests of a recorded `step` (record=True) by stage, array and access
  pattern, most sectors first: [{stage, array ('model.<name>', a Data array's schema path, or
  'other'), lane_stride_bytes (address distance from the request's first active lane to the next:
  4 contiguous, 0 broadcast; None when one lane alone is active), requests_per_world_step,
  sectors_per_world_step, sectors_per_request, lanes_per_request, excess_sectors_per_world_step
  (sectors beyond the fewest that hold the request's distinct 4-byte words: ceil(words x 4 / 32)
  per request)}]."""
  out = []
  for e in measured["requests_by_array"]:
    lanes = e["lane_accesses"] / e["requests"]
    packed = e["packed_sectors"]
    array = e["array"]
    out.append({
      "stage": e["stage"],
      "array": array if array.startswith("model.") or array == "other" else schema_path(array),
      "lane_stride_bytes": e["lane_stride_bytes"],
      "requests_per_world_step": e["requests"] / world_steps,
      "sectors_per_world_step": e["sectors"] / world_steps,
      "sectors_per_request": e["sectors"] / e["requests"],
      "lanes_per_request": lanes,
      "excess_sectors_per_world_step": max(0.0, e["sectors"] - packed) / world_steps,
    })
  out.sort(key=lambda r: -r["sectors_per_world_step"])
  return out


# What a Data array is to one fused step (step_footprint), from its scalars' first accesses:
#   carried    some scalar read before the step writes it (or read and never written): the state a
#              world carries from one step to the next (qpos, qvel, ctrl, qacc_warmstart, time,
#              health, ...), which must persist per world
#   transient  written, then read, never read first: an intermediate result of the step, which
#              could live in workspace held per resident group instead of per world
#   output     written, never read within the step: a result for the user (or for nobody)
#   untouched  not accessed by the step (features the model lacks, arrays the step does not run)
FOOTPRINT_CLASSES = ("carried", "transient", "output", "untouched")


def _footprint_class(flags: dict) -> str:
  if flags["read_first"]:
    return "carried"
  if flags["written"]:
    return "transient" if flags["read_after_write"] else "output"
  return "untouched"


def step_footprint(sim, group_size: int = 32, nsteps: int = 1) -> dict:
  """The fused step's field-level footprint, measured: nsteps recorded steps (the state advances)
  of every world of a CPU Simulator, the address recorder noting each Data scalar's accesses in
  program order within each step (kernels/simt.h Recorder::end_step), each array classified
  (FOOTPRINT_CLASSES) from the union over world-steps. The classes hold for the code paths the
  run took: measure on states that exercise the step (contacts, rows, actuators).

  Returns {'fields': {name: class} of every array in the step's view, by schema path ('qpos',
  'contact.dist', 'efc.efc_J'; the Simulator's health arrays by their own names), 'classes':
  {class: [names]}, 'bytes_per_world': {class: bytes of its arrays per world, from the allocated
  arrays}, 'data_bytes_per_world': all of them, 'not_in_step': schema paths of the Data arrays
  outside the step's view (the Warp collision stage's buffers), 'world_steps': nworld * nsteps}."""
  if not sim.device.is_cpu:
    raise ValueError("the footprint is measured by the CPU emulation: use a Simulator on device='cpu'")
  measured = step(sim, nsteps=nsteps, group_size=group_size, record=True, footprint=True)
  return _classify(sim, measured["footprint"], sim.nworld * int(nsteps))


def _classify(sim, footprint: dict, world_steps: int) -> dict:
  """step_footprint's answer from the recorder's per-array flags."""
  fields, nbytes = {}, {c: 0 for c in FOOTPRINT_CLASSES}
  for name, flags in footprint.items():
    path = schema_path(name)
    fields[path] = _footprint_class(flags)
    nbytes[fields[path]] += native_backend.data_array(sim, name).capacity // sim.nworld
  in_step = set(fields)
  not_in_step = [p for p in _schema_paths() if p not in in_step]
  ordered = dict(sorted(fields.items()))
  return {
    "fields": ordered,
    "classes": {c: [p for p, k in ordered.items() if k == c] for c in FOOTPRINT_CLASSES},
    "bytes_per_world": nbytes,
    "data_bytes_per_world": sum(nbytes.values()),
    "not_in_step": not_in_step,
    "world_steps": world_steps,
  }


def schema_path(layout_name: str) -> str:
  """The schema path (types.py) of the native layout's Data entry: 'qpos', 'contact.dist',
  'efc.efc_J'; a Simulator health array (health, last_reset) keeps its name."""
  found = native_backend.schema_field(layout_name)
  if found is None:
    return layout_name
  container, f = found
  return f.name if container == "data" else f"{container}.{f.name}"


def _schema_paths() -> list[str]:
  """Every array of Data and its containers (types.DATA_FIELDS, recursively), by schema path."""
  from .types import DATA_FIELDS, Role

  def walk(fields, prefix):
    for f in fields:
      if f.role == Role.GROUP:
        yield from walk(f.fields, f"{prefix}{f.name}.")
      elif f.role != Role.SIZE and not f.alias:
        yield prefix + f.name
  return list(walk(DATA_FIELDS, ""))


def primitives(x, k, src, delta: int, lane_mask: int, device: str = "cpu") -> dict:
  """simt::primitive_check on one group (len(x) lanes: 8, 16 or 32): {'float': (9, n) float32,
  'int': (4, n) int32}; rows as documented in kernels/simt.h."""
  mod = _module(device)
  args = (np.ascontiguousarray(x, np.float32), np.ascontiguousarray(k, np.int32),
          np.ascontiguousarray(src, np.int32), int(delta), int(lane_mask))
  if device == "cpu":
    return mod.simt_primitives(*args)
  return mod.simt_primitives(*args, device=torch.device(device).index or 0)


def race_probe(shift: int) -> str:
  """The recording emulation's complaint about a phase in which lane l writes buf[l] and reads
  buf[(l + shift) % 32] (a lane reading another's write in the same phase: kernels/simt.h rule 1);
  "" when it finds none."""
  return _module("cpu").simt_race_probe(int(shift))


def sincos(x) -> tuple[np.ndarray, np.ndarray]:
  """simt::sincos_f elementwise (float32): the sin and cos every lane-group kernel uses."""
  return _module("cpu").simt_sincos(np.ascontiguousarray(x, np.float32))
