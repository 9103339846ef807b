"""Throughput of one backend on one (model, device, nworld): world-steps per second.

Every backend is timed the same way:
  setup      build the model and nworld worlds, set random controls (seeded, in ctrlrange)
  compile_s  setup of the worlds through the first completed step (kernel compile or
             cache load, first touch of memory); init_s and first_step_s split it
  warmup_s   `warmup_steps` more steps; their mean also sizes the timed run under a time cap
  timed      `repeat` runs of `steps` steps, each from the initial state (reset) and ended
             by a device synchronisation; steps_per_s = nworld * steps / elapsed of the
             median run. Under `max_seconds` the steps run in chunks (synchronised after
             each) and stop before the cap
"""

import dataclasses
import gc
import math
import os
import time
import traceback

import numpy as np

from . import common

# simt: the native backend's fused lane-group step (pywarp_sim.simt.step: a group of lanes per
# world, `group_size` lanes (default simt.DEFAULT_GROUP_SIZE), `persistent` resident groups; nsteps per
# launch, no CUDA graph)
BACKENDS = ("warp", "native", "simt", "mujoco", "mujoco_nocontact", "mjwarp")
WARMUP_STEPS = 5
# Largest rollout output buffer (states for a batch of worlds and a chunk of steps) the
# mujoco backend keeps; bigger runs are split into world batches and step chunks.
MUJOCO_BUFFER_BYTES = 256 << 20


class BackendUnavailable(RuntimeError):
  """The backend cannot run here (not built, not installed); the message says why."""


def _import_warp():
  wp = common.quiet_warp()
  import pywarp_sim  # noqa: F401  (reads PWS_KERNEL_CACHE)
  return wp


def _timed_steps(per_step_s: float, steps: int, max_seconds: float | None) -> int:
  if not max_seconds or per_step_s <= 0:
    return steps
  return max(1, min(steps, int(max_seconds / per_step_s)))


def _timed_run(step, sync, steps: int, max_seconds: float | None, per_step_s: float):
  """(steps done, seconds) for `steps` steps (step(n) may return the number it did, when it
  rounds up). Under a time cap the steps run in chunks of about a tenth of the cap, the
  device synchronised after each, and the run stops before the cap is passed: a step can
  get much slower than in warm-up once contacts pile up."""
  if not max_seconds:
    t0 = time.perf_counter()
    done = step(steps) or steps
    sync()
    return done, time.perf_counter() - t0
  chunk = _timed_steps(per_step_s, steps, max_seconds / 10)
  done = 0
  t0 = time.perf_counter()
  while done < steps:
    done += step(min(chunk, steps - done)) or min(chunk, steps - done)
    sync()
    elapsed = time.perf_counter() - t0
    if elapsed * (done + chunk) / done > max_seconds:
      break
  return done, time.perf_counter() - t0


def _measure(rec: dict, nworld: int, repeat: int, reset, step, sync, steps: int, max_seconds,
             per_step_s: float):
  """Times `repeat` runs, each from the same initial state (reset), and keeps the median."""
  samples = []
  for _ in range(max(1, repeat)):
    reset()
    sync()
    samples.append(_timed_run(step, sync, steps, max_seconds, per_step_s))
  rates = [nworld * n / t for n, t in samples]
  mid = sorted(range(len(rates)), key=rates.__getitem__)[len(rates) // 2]
  rec.update(repeat=len(samples), steps=samples[mid][0], elapsed_s=samples[mid][1],
             steps_per_s=rates[mid], steps_per_s_samples=rates)


def warp_data_bytes(obj, _seen=None) -> tuple[int, dict]:
  """Bytes of every Warp array in a (nested) dataclass such as Data, its contact and efc
  members included, counting an allocation once; also {field path: bytes}."""
  import warp as wp
  seen = set() if _seen is None else _seen
  total, fields = 0, {}

  def visit(value, path):
    nonlocal total
    if isinstance(value, wp.array):
      key = (value.ptr, value.capacity)
      if value.ptr is None or key in seen:
        return
      seen.add(key)
      total += value.capacity
      fields[path] = value.capacity
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
      for f in dataclasses.fields(value):
        visit(getattr(value, f.name, None), f"{path}.{f.name}" if path else f.name)
    elif isinstance(value, (list, tuple)):
      for i, v in enumerate(value):
        visit(v, f"{path}[{i}]")

  visit(obj, "")
  return total, fields


def _top(fields: dict, n: int = 5) -> dict:
  return dict(sorted(fields.items(), key=lambda kv: -kv[1])[:n])


# ---- pywarp_sim: backend="warp" and backend="native" --------------------------------------

def _make_stepper(sim, device: str, graph_mode: str):
  """(step(n), description). On CUDA the Simulator's own graph (sim.capture) is used when it
  exposes one; graph_mode="bench" captures sim.step(1) here instead; "off" never captures."""
  wp = _import_warp()
  if not common.is_cuda(device) or graph_mode == "off":
    return sim.step, "none"
  if graph_mode == "auto" and hasattr(sim, "capture"):
    graph = sim.capture()
    if isinstance(graph, wp.Graph):
      def step(n):
        for _ in range(n):
          wp.capture_launch(graph)
      return step, "sim.capture"
    if callable(graph):
      def step(n):
        for _ in range(n):
          graph()
      return step, "sim.capture"
    # capture() returned nothing: the Simulator replays its graph inside step().
    return sim.step, "sim.capture (inside step)"
  if graph_mode == "bench":
    with wp.ScopedCapture(device=device) as capture:
      sim.step(1)

    def step(n):
      for _ in range(n):
        wp.capture_launch(capture.graph)
    return step, "bench wp.ScopedCapture(sim.step(1))"
  return sim.step, "none"


def _device_free(device: str):
  """Free bytes of the CUDA device (torch.cuda.mem_get_info: cudaMemGetInfo, every allocator's
  memory counted) after a synchronisation; None on the CPU."""
  if not common.is_cuda(device):
    return None
  import torch

  dev = torch.device(device)
  torch.cuda.synchronize(dev)
  return int(torch.cuda.mem_get_info(dev)[0])


def bench_pywarp_sim(rec: dict, mjm, backend: str, device: str, nworld: int, steps: int,
                     max_seconds, warmup_steps: int, graph_mode: str, repeat: int,
                     threads=None, workspace: str = "world", nconmax=None, staging: bool = False,
                     group_size: int | None = None, persistent: bool = False, auto_reset: bool = False) -> dict:
  wp = _import_warp()
  import torch
  import pywarp_sim as pws

  lane_group = backend == "simt"
  free0 = _device_free(device)  # before the model and the Simulator allocate (CUDA), else None
  t0 = time.perf_counter()
  model = pws.put_model(mjm, device)
  try:
    kw = {} if nconmax is None else {"nconmax": int(nconmax)}
    sim = pws.Simulator(model, nworld=nworld, device=device, backend="native" if lane_group else backend,
                        workspace=workspace, auto_reset=auto_reset, **kw)
    rec["auto_reset"] = bool(auto_reset)
    rec["workspace"] = workspace
    rec["nconmax"] = nconmax
    if lane_group:
      from pywarp_sim import simt
      group_size = simt.DEFAULT_GROUP_SIZE if group_size is None else int(group_size)
      # with workspace="group" the CUDA launch is the persistent one (a slot per group)
      rec.update(group_size=int(group_size),
                 persistent=bool(persistent or (workspace == "group" and common.is_cuda(device))))
      simt.step(sim, 0, group_size=group_size, persistent=persistent)  # refuses a model it cannot run
      if workspace == "group":
        mem = simt.group_memory(sim)
        rec.update(group_slots=mem["slots"], group_bytes_per_world=mem["per_world"],
                   group_bytes_per_slot=mem["per_slot"])
    elif backend == "native":
      from pywarp_sim import native_backend
      native_backend.set_staging(sim, staging)
      rec["staging"] = bool(staging)
      rec["stage_bytes"] = native_backend.stage_bytes(sim)
  except RuntimeError as exc:
    if backend in ("native", "simt"):
      raise BackendUnavailable(str(exc)) from exc
    raise
  wp.synchronize_device(device)
  rec["init_s"] = time.perf_counter() - t0  # includes forward(): compiles/loads its kernels
  if free0 is not None:  # the device memory the model and the Simulator took (cudaMemGetInfo)
    rec["device_memory_simulator_bytes"] = free0 - _device_free(device)
  if common.is_cuda(device):
    rec["threads"] = None
  elif lane_group:  # the emulation's OpenMP loop over groups
    rec["threads"] = int(threads or os.cpu_count() or 1)
  elif backend == "native":  # OpenMP over worlds, as many threads as MuJoCo's rollout gets
    from pywarp_sim import native_backend
    rec["threads"] = int(threads or os.cpu_count() or 1)
    native_backend.set_num_threads(sim, rec["threads"])
  else:
    rec["threads"] = 1  # Warp runs CPU kernels on one thread
  rec["pipeline_stages"] = common.pipeline_stages()
  rec["contacts_active"] = "collision" in rec["pipeline_stages"] and model.collision is not None

  ctrl = torch.as_tensor(common.random_controls(mjm, nworld), dtype=sim.ctrl.dtype).to(sim.ctrl.device)

  def reset():
    sim.reset()  # qpos0, zero velocity/warm start/controls, health flags cleared
    sim.ctrl[:] = ctrl
    if common.is_cuda(device):
      torch.cuda.synchronize(sim.ctrl.device)  # torch's stream is not Warp's: finish the write

  reset()

  def sync():
    wp.synchronize_device(device)
    if lane_group and common.is_cuda(device):
      torch.cuda.synchronize(sim.ctrl.device)  # simt.step launches on torch's current stream

  if lane_group:
    def simt_step(n):
      simt.step(sim, n, group_size=group_size, persistent=persistent,
                num_threads=0 if common.is_cuda(device) else rec["threads"])
    first = simt_step
  else:
    first = sim.step
  t0 = time.perf_counter()
  first(1)
  sync()
  rec["first_step_s"] = time.perf_counter() - t0
  if free0 is not None:  # and after the first step, with the bench's control tensor (ctrl_bytes)
    rec["device_memory_used_bytes"] = free0 - _device_free(device)
    rec["device_memory_per_world_bytes"] = rec["device_memory_used_bytes"] / nworld
    rec["ctrl_bytes"] = int(ctrl.numel() * ctrl.element_size())
  # Simulator() already runs forward (compiling/loading most kernels), so compile_s counts
  # everything from construction to the first completed step.
  rec["compile_s"] = rec["init_s"] + rec["first_step_s"]

  if lane_group:  # n steps in one launch: no graph to replay
    step, rec["cuda_graph"] = simt_step, "none (one launch of n steps)"
  else:
    step, rec["cuda_graph"] = _make_stepper(sim, device, graph_mode)
  t0 = time.perf_counter()
  step(warmup_steps)
  sync()
  rec["warmup_s"] = time.perf_counter() - t0

  _measure(rec, nworld, repeat, reset, step, sync, steps, max_seconds, rec["warmup_s"] / max(warmup_steps, 1))

  nbytes, fields = warp_data_bytes(sim.data)
  rec.update(bytes_per_world=nbytes / nworld, bytes_top_fields=_top(fields),
             unhealthy_worlds=int((sim.health != 0).sum()),
             auto_resets=sim.counters["auto_resets"],
             kernel_cache=str(wp.config.kernel_cache_dir))
  return rec


# ---- MuJoCo C through mujoco.rollout -----------------------------------------------------

def bench_mujoco(rec: dict, mjm, device: str, nworld: int, steps: int, threads, max_seconds,
                 warmup_steps: int, no_contact: bool, repeat: int) -> dict:
  import mujoco
  from mujoco import rollout

  if no_contact:
    # Like-for-like with a Warp pipeline that has no collision stage yet: MuJoCo's collision
    # detection off, every other constraint (joint limits, dof friction) and the solver on.
    mjm.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
  rec["device"] = "cpu"  # MuJoCo C runs on the host whatever device the sweep targets
  rec["device_name"] = common.cpu_name()
  threads = int(threads or os.cpu_count() or 1)
  rec["threads"] = threads
  rec["mujoco_disableflags"] = int(mjm.opt.disableflags)

  t0 = time.perf_counter()
  datas = [mujoco.MjData(mjm) for _ in range(threads)]
  spec = int(mujoco.mjtState.mjSTATE_FULLPHYSICS)
  ctrl_spec = int(mujoco.mjtState.mjSTATE_CTRL)
  nstate = mujoco.mj_stateSize(mjm, spec)
  state0 = np.empty(nstate)
  mujoco.mj_getState(mjm, datas[0], state0, spec)
  state_now = np.ascontiguousarray(np.tile(state0, (nworld, 1)))
  ctrl = common.random_controls(mjm, nworld)
  batch = int(min(nworld, max(1, MUJOCO_BUFFER_BYTES // (nstate * 8))))
  pool = rollout.Rollout(nthread=threads if threads > 1 else 0)
  rec["init_s"] = time.perf_counter() - t0

  buffers = {}
  model_lists = [[mjm] * (min(nworld, b0 + batch) - b0) for b0 in range(0, nworld, batch)]

  def chunk_for(nsteps: int) -> int:
    return int(max(1, min(nsteps, MUJOCO_BUFFER_BYTES // (batch * nstate * 8))))

  def prepare(chunk: int):
    """Controls (constant over the chunk) and output buffers, allocated before any clock."""
    if chunk not in buffers:
      controls = []
      for b0 in range(0, nworld, batch):
        b1 = min(nworld, b0 + batch)
        controls.append(np.ascontiguousarray(
          np.broadcast_to(ctrl[b0:b1, None, :], (b1 - b0, chunk, mjm.nu))))
      buffers[chunk] = (controls, np.empty((batch, chunk, nstate)),
                        np.empty((batch, chunk, mjm.nsensordata)))
    return buffers[chunk]

  def run(nsteps: int, chunk: int | None = None) -> int:
    """Rolls every world nsteps further (rounded up to whole chunks); returns steps done."""
    chunk = chunk or chunk_for(nsteps)
    controls, state, sensordata = buffers[chunk]
    nchunks = math.ceil(nsteps / chunk)
    for _ in range(nchunks):
      for i, b0 in enumerate(range(0, nworld, batch)):
        b1 = min(nworld, b0 + batch)
        n = b1 - b0
        pool.rollout(model_lists[i], datas, state_now[b0:b1], controls[i], control_spec=ctrl_spec,
                     skip_checks=True, nstep=chunk, state=state[:n], sensordata=sensordata[:n])
        state_now[b0:b1] = state[:n, -1]
    return nchunks * chunk

  try:
    prepare(chunk_for(1))
    t0 = time.perf_counter()
    run(1)
    rec["first_step_s"] = time.perf_counter() - t0
    # Nothing to compile: MjData allocation, thread pool start and first touch of the arenas.
    rec["compile_s"] = rec["init_s"] + rec["first_step_s"]
    prepare(chunk_for(warmup_steps))
    t0 = time.perf_counter()
    done = run(warmup_steps)
    rec["warmup_s"] = time.perf_counter() - t0
    per_step_s = rec["warmup_s"] / max(done, 1)
    # One chunk size for the whole timed run (buffers allocated now, not on the clock); a
    # run rounds up to whole chunks and says how many steps it did.
    timed_chunk = chunk_for(_timed_steps(per_step_s, steps, max_seconds / 10 if max_seconds else None))
    prepare(timed_chunk)

    def reset():
      state_now[:] = state0

    def step(n):
      return run(n, timed_chunk)

    _measure(rec, nworld, repeat, reset, step, lambda: None, steps, max_seconds, per_step_s)
  finally:
    pool.close()

  d = datas[0]
  rec.update(bytes_per_world=d.nbuffer + d.narena,
             bytes_per_world_used=d.nbuffer + d.maxuse_arena,
             mjdata_nbuffer=d.nbuffer, mjdata_narena=d.narena, mjdata_maxuse_arena=d.maxuse_arena,
             mjdata_maxuse_con=d.maxuse_con, mjdata_maxuse_efc=d.maxuse_efc,
             unhealthy_worlds=int((~np.isfinite(state_now).all(axis=1)).sum()),
             # MuJoCo resets a world whose qacc goes non-finite (and warns): count those too.
             mujoco_badqacc_warnings=sum(
               int(dd.warning[int(mujoco.mjtWarning.mjWARN_BADQACC)].number) for dd in datas),
             rollout_batch=batch)
  return rec


# ---- MuJoCo Warp (optional package mujoco_warp) --------------------------------------------

def bench_mjwarp(rec: dict, mjm, device: str, nworld: int, steps: int, max_seconds,
                 warmup_steps: int, graph_mode: str, repeat: int) -> dict:
  import inspect
  try:
    import mujoco_warp as mjw
  except ImportError as exc:
    raise BackendUnavailable(
      f"mujoco_warp is not installed ({exc}); install it (pip install mujoco-warp, or from "
      "github.com/google-deepmind/mujoco_warp) to benchmark backend 'mjwarp'") from exc
  import mujoco
  wp = _import_warp()

  t0 = time.perf_counter()
  mjd = mujoco.MjData(mjm)
  mujoco.mj_forward(mjm, mjd)
  with wp.ScopedDevice(device):
    m = mjw.put_model(mjm)
    kwargs = {"nworld": nworld} if "nworld" in inspect.signature(mjw.put_data).parameters else {}
    d = mjw.put_data(mjm, mjd, **kwargs)
    ctrl = common.random_controls(mjm, nworld).astype(np.float32)
    wp.copy(d.ctrl, wp.array(ctrl, dtype=d.ctrl.dtype))
    # The initial state, to start every timed repeat from (in place: a CUDA graph keeps
    # pointing at the same arrays).
    state_names = [n for n in ("time", "qpos", "qvel", "act", "ctrl", "qacc_warmstart")
                   if isinstance(getattr(d, n, None), wp.array)]
    state0 = {n: wp.clone(getattr(d, n)) for n in state_names}
  wp.synchronize_device(device)
  rec["init_s"] = time.perf_counter() - t0
  rec["threads"] = None if common.is_cuda(device) else 1

  with wp.ScopedDevice(device):
    t0 = time.perf_counter()
    mjw.step(m, d)
    wp.synchronize_device(device)
    rec["first_step_s"] = time.perf_counter() - t0
    rec["compile_s"] = rec["init_s"] + rec["first_step_s"]

    if common.is_cuda(device) and graph_mode != "off":
      with wp.ScopedCapture(device=device) as capture:
        mjw.step(m, d)
      graph = capture.graph

      def step(n):
        for _ in range(n):
          wp.capture_launch(graph)
      rec["cuda_graph"] = "bench wp.ScopedCapture(mjw.step)"
    else:
      def step(n):
        for _ in range(n):
          mjw.step(m, d)
      rec["cuda_graph"] = "none"

    t0 = time.perf_counter()
    step(warmup_steps)
    wp.synchronize_device(device)
    rec["warmup_s"] = time.perf_counter() - t0

    def reset():
      for n in state_names:
        wp.copy(getattr(d, n), state0[n])

    _measure(rec, nworld, repeat, reset, step, lambda: wp.synchronize_device(device), steps,
             max_seconds, rec["warmup_s"] / max(warmup_steps, 1))

  nbytes, fields = warp_data_bytes(d)
  qpos = d.qpos.numpy()
  rec.update(bytes_per_world=nbytes / nworld, bytes_top_fields=_top(fields),
             unhealthy_worlds=int((~np.isfinite(qpos).all(axis=-1)).sum()))
  # mujoco_warp's own capacities (its defaults, as its users run it) and whether a world
  # outgrew them during the run (rows or contacts past the capacity are dropped there).
  for name in ("njmax", "nconmax", "naconmax"):
    if isinstance(getattr(d, name, None), (int, np.integer)):
      rec[f"mjwarp_{name}"] = int(getattr(d, name))
  if isinstance(getattr(d, "overflow", None), wp.array):
    rec["overflow_worlds"] = int(np.count_nonzero(d.overflow.numpy()))
  return rec


# ---- entry point -------------------------------------------------------------------------

def run_throughput(backend: str, model: str, device: str, nworld: int, steps: int,
                   threads=None, max_seconds=None, warmup_steps: int = WARMUP_STEPS,
                   graph_mode: str = "auto", repeat: int = 1, workspace: str = "world",
                   nconmax=None, staging: bool = False, group_size: int | None = None,
                   persistent: bool = False, auto_reset: bool = False) -> dict:
  """One throughput record. Never raises for a backend failure: the record then has
  "error" (and the reason is printed to stderr in one line). auto_reset (warp, native):
  reset a world whose state goes non-finite, as MuJoCo's mj_step does (mj_checkPos / Vel / Acc
  reset the data), instead of stepping it on as NaN."""
  rec = common.base_record("throughput", backend, device)
  rec.update(model=model, nworld=int(nworld), steps_requested=int(steps), threads=threads,
             max_seconds=max_seconds, warmup_steps=warmup_steps,
             loadavg_1m=os.getloadavg()[0] if hasattr(os, "getloadavg") else None)
  try:
    if backend not in BACKENDS:
      raise ValueError(f"unknown backend '{backend}'; choose from {BACKENDS}")
    mjm, rec["model"] = common.resolve_mj_model(model)  # fresh MjModel: backends may edit opt
    rec.update(nq=mjm.nq, nv=mjm.nv, nu=mjm.nu, nbody=mjm.nbody, ngeom=mjm.ngeom,
               timestep=mjm.opt.timestep)
    if backend in ("warp", "native", "simt"):
      bench_pywarp_sim(rec, mjm, backend, device, nworld, steps, max_seconds, warmup_steps,
                       graph_mode, repeat, threads, workspace, nconmax, staging, group_size, persistent,
                       auto_reset)
    elif backend in ("mujoco", "mujoco_nocontact"):
      bench_mujoco(rec, mjm, device, nworld, steps, threads, max_seconds, warmup_steps,
                   no_contact=backend == "mujoco_nocontact", repeat=repeat)
    elif backend == "mjwarp":
      bench_mjwarp(rec, mjm, device, nworld, steps, max_seconds, warmup_steps, graph_mode, repeat)
  except BackendUnavailable as exc:
    rec["error"] = str(exc)
    common.warn(f"{backend} on {device}: unavailable: {exc}")
  except Exception as exc:  # one failing config must not end a sweep
    rec["error"] = f"{type(exc).__name__}: {exc}"
    rec["traceback"] = traceback.format_exc(limit=8)
    common.warn(f"{backend} on {device} nworld={nworld}: failed: {rec['error']}")
  finally:
    gc.collect()  # release the previous config's device memory before the next one
  return rec
