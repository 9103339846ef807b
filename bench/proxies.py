"""GPU-speed proxies that need no GPU: what decides the CUDA step's speed, measured here.

`python -m bench proxies [--json] [--out F]` prints one JSON line per CUDA step-kernel instance
(csrc/cuda_launch.cu: step_kernel<convex> and step_kernel_staged<convex, scalars>; scope "step"),
then one per instance of the lane-group smooth stage (csrc/simt_launch.cu:
simt_smooth_kernel<group>, one world per group of 8, 16 or 32 lanes; scope "smooth_stages",
described after this list), of the lane-group Newton solver (simt_newton_kernel<group>, scope
"constraint_solver", the same fields measured on fallen humanoids' rows, with rows_per_world and
iterations_per_world) and of the lane-group collision and constraint rows
(simt_rows_kernel<group,collision|constraint>, scopes "collision" and "constraint_rows", measured on
the same fallen humanoids, with contacts_per_world / rows_per_world), and of the fused lane-group
step (simt_step_kernel<group> and its persistent variant simt_step_persistent_kernel<group>, scope
"fused_step": kernels/simt_step.h, smooth → forces → acceleration → collision → rows → Newton →
integrator → health per group, the recording emulation over steps of falling humanoids, with the
per-stage counts, contacts_per_world, rows_per_world and worst_requests, the requests by stage,
array and lane stride with the most excess sectors; `--scope fused_step` runs these alone):

  registers, stack_bytes, spill_bytes   ptxas (`nvcc --resource-usage -arch=sm_90`; cached in
                                        build/ per source hash: the compile takes minutes)
  shared_bytes_per_world                shared memory per world (the kernels use none today)
  occupancy                             resident warps / 64 per SM on sm_90 for the launch's
                                        64-thread blocks, from the registers (65,536 per SM,
                                        allocated per warp in units of 256)
  sectors_per_request                   32-byte sectors one warp-wide 4-byte access touches,
                                        from the memory layout (sectors_per_request_source):
                                        world-major arrays put the warp's 32 worlds a world's
                                        stride apart (one sector each); the staged instances'
                                        local memory is interleaved by the hardware (4 sectors
                                        of 32 bytes for 32 lanes x 4 bytes)
  lane_efficiency                       busy lanes / 32 in the constraint solver's iterations
                                        when 32 consecutive worlds share a warp, measured on the
                                        CPU native step of the same model (random controls,
                                        the solver's per-world iteration counts)
  instructions_per_world_step           null: no instruction counter on this machine
  persistent_bytes_per_world            per-world arrays the step reads or writes
                                        (native_backend.state_bytes_per_world), for the
                                        default capacity and for nconmax=16 with the per-thread
                                        workspace

The lane-group records (kernels/simt_smooth.h; pywarp_sim.simt.proxies) measure rather than
derive: the stage runs on the CPU emulation with the address recorder and the counting float.

  registers, stack_bytes, spill_bytes   ptxas of the lane-group units (SIMT_UNITS, -fmad=false)
  shared_bytes_per_world                qM / its factor and crb x cdof: 4 (nv^2 + 6 nv) bytes
                                        (the stage's; the solver's, rows' and step's their own)
  worlds_per_block, block               of 128 / group worlds down to 1 within sm_90's 227 KiB
                                        per block, the count keeping the most worlds resident
                                        per SM (simt.block_worlds, as the launch); its threads
  worlds_per_sm                         those worlds resident per SM (228 KiB, 1 KiB reserved
                                        per block, 32 blocks, 64 warps; ptxas's registers where
                                        it ran: worlds_per_sm_source)
  occupancy                             from registers and shared memory per block
  sectors_per_request                   distinct sectors per memory instruction of one group,
                                        recorded per lane (a warp of 8-lane groups holds 4 worlds,
                                        whose requests are not merged here)
  lane_efficiency                       busy lanes / group size per instruction, recorded
  instructions_per_world_step           warp instructions of the stage per world (float, memory
                                        and shuffle operations; integer index arithmetic is not
                                        counted), recorded
  persistent_bytes_per_world            the Simulator's per-world arrays, as the step's records;
                                        fused_step: the carried arrays' bytes (read before
                                        written within a step: the state that must persist per
                                        world), recorded (pywarp_sim.simt.step_footprint), with
                                        transient_bytes_per_world (written then read),
                                        output_bytes_per_world (written only),
                                        untouched_bytes_per_world, data_bytes_per_world (all
                                        the step's per-world arrays, the other records' figure)
                                        and carried_fields (schema names);
                                        group_mode_bytes_per_world / _per_slot: the arrays of
                                        Simulator(workspace="group") as allocated, and
                                        group_mode_worlds_in_80GB_computed (group_mode_worlds)
  working_set_bytes_per_world           distinct global bytes one world's stage touches, recorded
  one_world_per_lane                    the same recorded operations and accesses one world per
                                        lane: instructions (lane instructions / 32) and sector
                                        bytes (32 per access) per world, for comparison

One record per Data layout (scope "stage_copy", Simulator(layout="world" | "tiled")) measures the
staged step's copies of a world in and out of its buffer, the only accesses of a tiled array:
sectors_per_request from the step's own address arithmetic (StepPlan.scalar_addresses) for a
warp's 32 worlds, weighted over the per-world arrays' scalars, and persistent_bytes_per_world.

These are proxies, never timings: the GPU's steps/s come from `bench scaling` on a device.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# what each ptxas report depends on (its cache key): the step does not include the simt headers
SOURCES = [ROOT / "csrc" / "cuda_launch.cu", *sorted(p for p in (ROOT / "kernels").glob("*.h")
                                                     if not p.name.startswith("simt")),
           ROOT / "csrc" / "cuda_launch.h"]
SIMT_SOURCES = [ROOT / "csrc" / "simt_launch.cu", ROOT / "csrc" / "simt_launch.h",
                ROOT / "csrc" / "simt_launch_shape.h", ROOT / "csrc" / "simt_step_instance.cu",
                *sorted((ROOT / "kernels").glob("*.h"))]
# The lane-group units as CMakeLists.txt compiles them: the stages' kernels, then the fused step's
# six instances (csrc/simt_step_instance.cu per group size and collider set).
SIMT_UNITS = [("simt_launch.cu", ())] + [
    ("simt_step_instance.cu", (f"-DPWS_SIMT_GROUP={g}", f"-DPWS_SIMT_CONVEX={c}")) for g in (8, 16, 32) for c in (0, 1)]
STEP_BLOCK = 64  # kStepBlock in csrc/cuda_launch.cu
SIMT_BLOCK = 128  # kSimtBlock in csrc/simt_launch.h
SIMT_GROUPS = (32, 16, 8)
# the records' scopes, in run's order (bench proxies --scope)
SCOPES = ("step", "smooth_stages", "constraint_solver", "stage_copy", "collision", "constraint_rows", "fused_step")
# sm_90 (H100 / H200) per-SM limits
SM_REGISTERS = 65536
SM_MAX_WARPS = 64
SM_MAX_BLOCKS = 32
REG_ALLOC_UNIT = 256  # registers are allocated per warp in units of 256
SM_SHARED_BYTES = 233472  # 228 KiB of shared memory per SM
SHARED_RESERVED_PER_BLOCK = 1024  # the runtime's share of each resident block


def ptxas_report(arch: str = "sm_90", nvcc: str | None = None, source: str = "cuda_launch.cu",
                 flags: tuple = ()) -> str:
  """ptxas's resource report of csrc/<source> for `arch` (cached per source hash and flags): the
  fused step (cuda_launch.cu, minutes) or a lane-group unit (SIMT_UNITS, -fmad=false)."""
  digest = hashlib.sha256((arch + source + " ".join(flags)).encode())
  for p in (SOURCES if source == "cuda_launch.cu" else SIMT_SOURCES):
    digest.update(p.read_bytes())
  cache = ROOT / "build" / f"ptxas-{arch}-{digest.hexdigest()[:16]}.txt"
  if cache.is_file():
    return cache.read_text()
  nvcc = nvcc or shutil.which("nvcc")
  if nvcc is None:
    raise RuntimeError("bench proxies: nvcc is not on PATH (it reads ptxas's resource report); "
                       "install the CUDA toolkit or pass --no-ptxas")
  cache.parent.mkdir(parents=True, exist_ok=True)
  cmd = [nvcc, "-std=c++17", "-O3", f"-arch={arch}", "--resource-usage", *flags, f"-I{ROOT / 'kernels'}",
         f"-I{ROOT / 'csrc'}", "-c", str(ROOT / "csrc" / source), "-o", str(cache.with_suffix(".o"))]
  proc = subprocess.run(cmd, capture_output=True, text=True)
  if proc.returncode != 0:
    raise RuntimeError(f"bench proxies: nvcc failed:\n{proc.stderr[-3000:]}")
  cache.with_suffix(".o").unlink(missing_ok=True)
  cache.write_text(proc.stdout + proc.stderr)
  return cache.read_text()


_ENTRY = re.compile(r"Compiling entry function '(\S+)' for '(\S+)'")
_PROPS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers.*?(?:, (\d+) bytes smem)?")


def _kernel_name(mangled: str) -> str | None:
  """step_kernel<convex=1> / step_kernel_staged<convex=0,scalars=16384> /
  simt_smooth_kernel<group=32> / simt_step_kernel<group=8> (the primitive instance) /
  simt_step_kernel<group=8,convex=1> (the convex one) from a mangled name."""
  m = re.search(r"(simt_step_kernel|simt_step_persistent_kernel)ILi(\d+)ELb([01])EE", mangled)
  if m:
    return f"{m.group(1)}<group={m.group(2)}" + (",convex=1>" if m.group(3) == "1" else ">")
  m = re.search(r"(simt_smooth_kernel|simt_newton_kernel)ILi(\d+)EE", mangled)
  if m:
    return f"{m.group(1)}<group={m.group(2)}>"
  m = re.search(r"simt_rows_kernelILi(\d+)ELi([01])EE", mangled)  # kRowsCollision = 0, kRowsConstraint = 1
  if m:
    return f"simt_rows_kernel<group={m.group(1)},{('collision', 'constraint')[int(m.group(2))]}>"
  m = re.search(r"(step_kernel_staged|step_kernel)ILb([01])E(?:Li(\d+)E)?E", mangled)
  if m is None:
    return None
  name, convex, scalars = m.groups()
  return f"{name}<convex={convex}" + (f",scalars={scalars}>" if scalars else ">")


def parse_ptxas(report: str) -> list[dict]:
  """[{kernel, registers, stack_bytes, spill_bytes, shared_bytes}] of the step-kernel entries."""
  out, current = [], None
  for line in report.splitlines():
    m = _ENTRY.search(line)
    if m:
      current = {"kernel": _kernel_name(m.group(1)), "arch": m.group(2)}
      continue
    if current is None:
      continue
    m = _PROPS.search(line)
    if m and "stack_bytes" not in current:
      current["stack_bytes"] = int(m.group(1))
      current["spill_bytes"] = int(m.group(2)) + int(m.group(3))
      continue
    m = _USED.search(line)
    if m:
      current["registers"] = int(m.group(1))
      current["shared_bytes"] = int(m.group(2) or 0)
      if current["kernel"]:
        out.append(current)
      current = None
  return out


def resident_blocks(registers: int | None, block: int = STEP_BLOCK, shared_per_block: int = 0) -> int:
  """Blocks of `block` threads resident on one sm_90 SM, limited by the warps, by registers (None:
  not known, not a limit) and by `shared_per_block` bytes of shared memory."""
  warps_per_block = math.ceil(block / 32)
  blocks = min(SM_MAX_BLOCKS, SM_MAX_WARPS // warps_per_block)
  if registers is not None:
    regs_per_warp = math.ceil(registers * 32 / REG_ALLOC_UNIT) * REG_ALLOC_UNIT
    blocks = min(blocks, SM_REGISTERS // (regs_per_warp * warps_per_block))
  if shared_per_block:
    blocks = min(blocks, SM_SHARED_BYTES // (shared_per_block + SHARED_RESERVED_PER_BLOCK))
  return blocks


def occupancy(registers: int, block: int = STEP_BLOCK, shared_per_block: int = 0) -> float:
  """Resident warps / SM_MAX_WARPS on sm_90 for `block`-thread blocks limited by registers and
  by `shared_per_block` bytes of shared memory."""
  return resident_blocks(registers, block, shared_per_block) * math.ceil(block / 32) / SM_MAX_WARPS


def layout_sectors(sim) -> dict:
  """Sectors per warp-wide 4-byte access of the world-major Data arrays (one world per lane):
  {'median': .., 'min': .., 'max': ..} over the per-world arrays of the native step."""
  from pywarp_sim import native_backend
  counts = []
  for e in native_backend.step_layout(sim):
    if not e["group"].startswith("data") or e["group"] == "global_int":
      continue
    arr = native_backend.data_array(sim, e["name"])
    if arr.shape[0] != sim.nworld or arr.capacity == 0:
      continue
    stride = arr.capacity // sim.nworld
    counts.append(len({(lane * stride) // 32 for lane in range(32)}))
  counts.sort()
  return {"median": counts[len(counts) // 2], "min": counts[0], "max": counts[-1]}


def solver_lane_efficiency(model: str, nworld: int, steps: int, seed: int = 0) -> dict:
  """Busy lanes / 32 over the solver's iterations, 32 consecutive worlds per warp, from the
  CPU native step's per-world iteration counts (random controls in the actuator range)."""
  import numpy as np
  import torch

  import pywarp_sim as pws
  sim = pws.Simulator(model, nworld=nworld, device="cpu", backend="native")
  rng = np.random.default_rng(seed)
  lo, hi = sim.model.mj_model.actuator_ctrlrange.T
  busy = total = 0
  ncon_busy = ncon_total = 0
  for _ in range(steps):
    sim.ctrl[:] = torch.as_tensor(rng.uniform(lo, hi, (nworld, sim.model.nu)), dtype=torch.float32)
    sim.step()
    niter = sim.data.efc.solver_niter.numpy()
    ncon = sim.ncon.numpy()
    for w0 in range(0, nworld - 31, 32):
      it = niter[w0:w0 + 32]
      busy += int(it.sum())
      total += 32 * int(it.max())
      c = ncon[w0:w0 + 32]
      ncon_busy += int(c.sum())
      ncon_total += 32 * int(c.max())
  return {"solver": busy / total if total else 1.0,
          "contacts": ncon_busy / ncon_total if ncon_total else 1.0}


def persistent_bytes(model: str) -> dict:
  """Per-world bytes of the native step's per-world arrays: default capacity, per-world
  workspace; and nconmax=16 with the per-thread workspace."""
  import pywarp_sim as pws
  from pywarp_sim import native_backend
  out = {}
  for label, kw in (("default", {}), ("nconmax16_thread", {"nconmax": 16, "workspace": "thread"})):
    sim = pws.Simulator(model, nworld=64, device="cpu", backend="native", **kw)
    out[label] = round(native_backend.state_bytes_per_world(sim)["data"])
  return out


def layout_records(model: str, nworld: int = 64) -> list[dict]:
  """One record per Data layout (Simulator(layout="world" | "tiled")) of the staged step's copies
  (stage_in / stage_out, kernels/step_stage.h: the only accesses of a tiled array): the 32-byte
  sectors one warp-wide access of scalar 0 of each per-world array touches for worlds 0..31,
  addresses from the step's own view arithmetic (StepPlan.scalar_addresses), averaged over the
  copy's requests (one per scalar of each array), and the persistent bytes per world."""
  import pywarp_sim as pws
  from pywarp_sim import native_backend
  from . import common
  records = []
  for layout in ("world", "tiled"):
    sim = pws.Simulator(model, nworld=nworld, device="cpu", backend="native", layout=layout)
    plan = native_backend.stepper(sim).plan
    weighted = scalars = 0
    counts = []
    for e in native_backend.step_layout(sim):
      if not e["group"].startswith("data") or e["group"] == "global_int":
        continue
      stride = native_backend.data_array(sim, e["name"]).capacity // 4 // (
        -(-nworld // 32) * 32 if layout == "tiled" and e["name"] in native_backend.TILED_FIELDS else nworld)
      if stride == 0:
        continue
      sectors = len({a // 32 for a in plan.scalar_addresses(e["name"], 0, 32, 0)})
      counts.append(sectors)
      weighted += stride * sectors
      scalars += stride
    counts.sort()
    rec = common.base_record("proxies", "native", "cpu")
    rec.update(
      model=model, kernel="step_kernel_staged: stage_in / stage_out", scope="stage_copy", layout=layout,
      registers=None, stack_bytes=None, spill_bytes=None, occupancy=None, lane_efficiency=None,
      instructions_per_world_step=None,
      sectors_per_request=round(weighted / scalars, 3),
      sectors_per_request_by_array={"min": counts[0], "median": counts[len(counts) // 2], "max": counts[-1]},
      sectors_per_request_source=("StepPlan.scalar_addresses (WorldArray::at / ::step) of scalar 0 for worlds "
                                  "0..31, per per-world array, weighted by its scalars per world"),
      persistent_bytes_per_world=round(native_backend.state_bytes_per_world(sim)["data"]),
    )
    records.append(rec)
  return records


def run(model: str = "humanoid", arch: str = "sm_90", nworld: int = 256, steps: int = 100,
        ptxas: bool = True, scope: str | None = None) -> list[dict]:
  """One record per step-kernel instance (or one without kernel fields when ptxas=False), then the
  lane-group and layout records; scope (one of SCOPES): that scope's records alone."""
  import pywarp_sim as pws
  from . import common
  if scope is not None and scope not in SCOPES:
    raise ValueError(f"bench proxies: scope must be one of {SCOPES}, got {scope!r}")
  persistent = persistent_bytes(model)
  records = []
  if scope in (None, "step"):
    records += step_records(model, arch, nworld, steps, ptxas, persistent)
  if scope in (None, "smooth_stages"):
    records += simt_records(model, arch, persistent["default"], ptxas)
  if scope in (None, "constraint_solver"):
    records += simt_solver_records(model, arch, persistent["default"], ptxas)
  if scope in (None, "stage_copy"):
    records += layout_records(model)
  if scope in (None, "collision", "constraint_rows"):
    records += [r for r in simt_rows_records(model, arch, persistent["default"], ptxas)
                if scope is None or r["scope"] == scope]
  if scope in (None, "fused_step"):
    records += simt_step_records(model, arch, persistent["default"], ptxas)
  return records


def step_records(model: str, arch: str, nworld: int, steps: int, ptxas: bool, persistent: dict) -> list[dict]:
  """One record per CUDA step-kernel instance (csrc/cuda_launch.cu; scope "step")."""
  import pywarp_sim as pws
  from . import common
  kernels = parse_ptxas(ptxas_report(arch)) if ptxas else [{"kernel": None, "arch": arch}]
  sim = pws.Simulator(model, nworld=64, device="cpu", backend="native")
  unstaged = layout_sectors(sim)
  lanes = solver_lane_efficiency(model, nworld, steps)
  records = []
  for k in kernels:
    rec = common.base_record("proxies", "native", "cpu")
    staged = bool(k["kernel"] and "staged" in k["kernel"])
    rec.update(
      model=model, kernel=k["kernel"], scope="step", arch=k["arch"], block=STEP_BLOCK,
      registers=k.get("registers"), stack_bytes=k.get("stack_bytes"),
      spill_bytes=k.get("spill_bytes"), shared_bytes_per_world=k.get("shared_bytes", 0),
      occupancy=occupancy(k["registers"]) if "registers" in k else None,
      sectors_per_request=4 if staged else unstaged["median"],
      sectors_per_request_source=("layout: interleaved local memory, 32 lanes x 4 bytes" if staged else
                                  f"layout: world-major arrays, one world per lane (min {unstaged['min']}, "
                                  f"max {unstaged['max']} over the arrays)"),
      lane_efficiency=round(lanes["solver"], 4), lane_efficiency_contacts=round(lanes["contacts"], 4),
      lane_efficiency_source=f"CPU native step, {nworld} worlds x {steps} steps, random controls",
      instructions_per_world_step=None,
      persistent_bytes_per_world=persistent["default"],
      persistent_bytes_per_world_nconmax16_thread=persistent["nconmax16_thread"],
    )
    records.append(rec)
  return records


def simt_record(model: str, name: str, scope: str, arch: str, group: int, k: dict, p: dict,
                shared: int, persistent: int, sample: str, lane_source: str) -> dict:
  """The fields every lane-group kernel record has: ptxas `k` of kernel `name`, the recording
  emulation's proxies `p` of one `group`-lane group over `sample`, shared and persistent bytes,
  and the launch shape they imply: worlds per block as the launch picks them (simt.block_worlds:
  the most worlds resident per SM within sm_90's 227 KiB per block), those worlds per SM (from the
  shared memory and sm_90's block and warp caps, and ptxas's registers where it ran) and the
  occupancy."""
  from pywarp_sim import simt

  from . import common
  regs = k.get("registers")
  worlds = simt.block_worlds(group, shared, resident=lambda w: resident_blocks(regs, w * group, w * shared))
  block = worlds * group
  rec = common.base_record("proxies", "native", "cpu")
  rec.update(
    model=model, kernel=name, scope=scope, arch=arch, block=block, group_size=group,
    registers=regs, stack_bytes=k.get("stack_bytes"), spill_bytes=k.get("spill_bytes"),
    shared_bytes_per_world=shared, worlds_per_block=worlds,
    worlds_per_sm=resident_blocks(regs, block, shared * worlds) * worlds if worlds else 0,
    worlds_per_sm_source=("sm_90 shared memory, block and warp caps" + (", ptxas registers" if regs else "")),
    occupancy=(occupancy(regs, block, shared * worlds) if regs and worlds else None),
    sectors_per_request=round(p["sectors_per_request"], 3),
    sectors_per_request_source=(f"address recorder on the CPU emulation, per memory instruction of one "
                                f"{group}-lane group, {sample}"),
    lane_efficiency=round(p["lane_efficiency"], 4),
    lane_efficiency_source=lane_source,
    instructions_per_world_step=round(p["instructions_per_world_step"], 1),
    phases_per_world=round(p["phases_per_world"], 1),
    sector_bytes_per_world=round(p["sector_bytes_per_world"]),
    working_set_bytes_per_world=round(p["working_set_bytes_per_world"]),
    one_world_per_lane={f: round(v) for f, v in p["one_world_per_lane"].items()},
    persistent_bytes_per_world=persistent,
    stages={s: {f: (round(v, 4) if isinstance(v, float) else v) for f, v in d.items()}
            for s, d in p["stages"].items()},
  )
  return rec


def simt_kernels(arch: str, ptxas: bool) -> dict:
  """ptxas's report of the lane-group units (SIMT_UNITS, -fmad=false; compiled side by side) by
  kernel name; {} when ptxas=False."""
  if not ptxas:
    return {}
  with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
    reports = list(pool.map(lambda u: ptxas_report(arch, source=u[0], flags=("-fmad=false", *u[1])), SIMT_UNITS))
  return {k["kernel"]: k for report in reports for k in parse_ptxas(report)}


def fallen_humanoids(model: str, nworld: int, steps: int):
  """A native CPU Simulator of `nworld` worlds after `steps` steps under random controls from
  random joint offsets (seed 0): the robots fall and touch the floor."""
  import numpy as np
  import torch

  import pywarp_sim as pws
  sim = pws.Simulator(model, nworld=nworld, device="cpu", backend="native")
  rng = np.random.default_rng(0)
  lo, hi = sim.model.mj_model.actuator_ctrlrange.T
  sim.qpos[:] = sim.qpos + torch.as_tensor(rng.normal(0, 0.3, tuple(sim.qpos.shape)), dtype=torch.float32)
  for _ in range(steps):
    sim.ctrl[:] = torch.as_tensor(rng.uniform(lo, hi, (nworld, sim.model.nu)), dtype=torch.float32)
    sim.step()
  return sim


def simt_records(model: str, arch: str, persistent: int, ptxas: bool = True, nworld: int = 4) -> list[dict]:
  """One record per lane-group smooth-stage instance (simt_smooth_kernel<group>): ptxas of
  csrc/simt_launch.cu and the proxies the recording emulation measures on `nworld` random
  states (the counts depend on the model only; a few worlds suffice)."""
  import numpy as np
  import torch

  import pywarp_sim as pws
  from pywarp_sim import simt
  kernels = simt_kernels(arch, ptxas)
  sim = pws.Simulator(model, nworld=nworld, device="cpu", backend="native")
  rng = np.random.default_rng(0)
  sim.qpos[:] = sim.qpos + torch.as_tensor(rng.normal(0, 0.3, tuple(sim.qpos.shape)), dtype=torch.float32)
  sim.qvel[:] = torch.as_tensor(rng.normal(0, 1.0, tuple(sim.qvel.shape)), dtype=torch.float32)
  nv = sim.model.nv
  shared = simt.shared_bytes_per_world(nv)
  records = []
  for group in SIMT_GROUPS:
    name = f"simt_smooth_kernel<group={group}>"
    k = kernels.get(name, {})
    p = simt.proxies(sim, group_size=group)
    rec = simt_record(model, name, "smooth_stages", arch, group, k, p, shared, persistent,
                      f"{nworld} worlds", "recorded: busy lanes / group size per instruction of the stage")
    records.append(rec)
  return records


def simt_solver_records(model: str, arch: str, persistent: int, ptxas: bool = True, nworld: int = 16,
                        steps: int = 200) -> list[dict]:
  """One record per lane-group Newton solver instance (simt_newton_kernel<group>): ptxas of
  csrc/simt_launch.cu and the proxies the recording emulation measures on the rows of `nworld`
  humanoids after `steps` native steps under random controls from random orientations (they fall
  and touch the floor). The solver's counts depend on the state (rows, active set, iterations):
  per-world means, with the rows and iterations they come from."""
  import numpy as np

  from pywarp_sim import simt
  kernels = simt_kernels(arch, ptxas)
  sim = fallen_humanoids(model, nworld, steps)
  nv = sim.model.nv
  shared = simt.solver_shared_bytes_per_world(nv)
  records = []
  for group in SIMT_GROUPS:
    sim.forward()  # the rows and the native solve at this state (solver_proxies overwrites the solve)
    native_iterations = float(np.mean(sim.data.efc.solver_niter.numpy()))
    name = f"simt_newton_kernel<group={group}>"
    k = kernels.get(name, {})
    p = simt.solver_proxies(sim, group_size=group)
    rec = simt_record(model, name, "constraint_solver", arch, group, k, p, shared, persistent,
                      f"{nworld} worlds after {steps} steps",
                      "recorded: busy lanes / group size per instruction of the solve")
    rec.update(rows_per_world=round(p["rows_per_world"], 2),
               iterations_per_world=round(p["iterations_per_world"], 2),
               native_iterations_per_world=round(native_iterations, 2))
    records.append(rec)
  return records


def simt_rows_records(model: str, arch: str, persistent: int, ptxas: bool = True, nworld: int = 16,
                      steps: int = 200) -> list[dict]:
  """One record per lane-group collision and constraint-row instance
  (simt_rows_kernel<group,collision|constraint>): ptxas of csrc/simt_launch.cu and the proxies the
  recording emulation measures on `nworld` humanoids after `steps` native steps under random
  controls from random orientations (fallen, touching the floor). The counts depend on the state
  (filter survivors, contacts, rows): per-world means, with the contacts and rows they come from."""
  from pywarp_sim import simt
  kernels = simt_kernels(arch, ptxas)
  sim = fallen_humanoids(model, nworld, steps)
  sim.forward()  # geom frames, contacts and rows at this state; the kernels rewrite the same bits
  npair = sim.model.collision.npair
  records = []
  for group in SIMT_GROUPS:
    for kind, scope, shared, measure in (
        ("collision", "collision", simt.collision_shared_bytes_per_world(npair), simt.collision_proxies),
        ("constraint", "constraint_rows", simt.constraint_shared_bytes_per_world(sim.model.collision.nconmax,
                                                                                  sim.model.mj_model.neq),
         simt.constraint_proxies)):
      name = f"simt_rows_kernel<group={group},{kind}>"
      p = measure(sim, group_size=group)
      rec = simt_record(model, name, scope, arch, group, kernels.get(name, {}), p, shared, persistent,
                        f"{nworld} worlds after {steps} steps",
                        "recorded: busy lanes / group size per instruction of the kernel")
      if kind == "collision":
        rec.update(contacts_per_world=round(p["contacts_per_world"], 2), candidate_pairs=npair)
      else:
        rec.update(rows_per_world=round(p["rows_per_world"], 2))
      records.append(rec)
  return records


H100_SMS = 132  # SMs of an H100 SXM
SM_MAX_THREADS = 2048  # resident threads per SM on sm_90


def group_mode_worlds(group_mode: dict, group: int, device_bytes: int = 80 * 10 ** 9) -> int:
  """Worlds of Simulator(workspace="group") that fit `device_bytes`, computed from its measured
  layout: a group slot per resident group at the hardware's most (H100_SMS x SM_MAX_THREADS /
  group: fewer are resident in practice, which leaves more room), the rest per world."""
  slots = H100_SMS * SM_MAX_THREADS // group
  return (device_bytes - slots * group_mode["per_slot"]) // group_mode["per_world"]


def simt_step_records(model: str, arch: str, persistent: int, ptxas: bool = True, nworld: int = 16,
                      steps: int = 100, measured_steps: int = 5) -> list[dict]:
  """One record per fused lane-group step instance (simt_step_kernel<group> and
  simt_step_persistent_kernel<group>, the same device code per world): ptxas of csrc/simt_step_instance.cu
  and the proxies the recording emulation measures over `measured_steps` fused steps of `nworld`
  humanoids after `steps` native steps under random controls from random orientations (falling,
  touching the floor). Per world-step means over the measured steps, with the contacts and rows
  the step found; the persistent instance shares the measured counts (the same step per world)."""
  import numpy as np

  from pywarp_sim import simt
  import pywarp_sim as pws
  kernels = simt_kernels(arch, ptxas)
  group_mode = simt.group_memory(pws.Simulator(model, nworld=nworld, device="cpu", backend="native",
                                               workspace="group"))
  sim = fallen_humanoids(model, nworld, steps)
  state = {f: getattr(sim.data, f).numpy().copy() for f in ("qpos", "qvel", "act", "qacc_warmstart", "time")}
  nv, col = sim.model.nv, sim.model.collision
  shared = simt.step_shared_bytes_per_world(nv, col.npair, col.nconmax, sim.model.mj_model.neq)
  records = []
  for group in SIMT_GROUPS:
    for f, v in state.items():  # every group size from the same state
      getattr(sim.data, f).assign(v)
    p = simt.step_proxies(sim, group_size=group, nsteps=measured_steps)
    fp = p["footprint"]
    for name in (f"simt_step_kernel<group={group}>", f"simt_step_persistent_kernel<group={group}>"):
      rec = simt_record(model, name, "fused_step", arch, group, kernels.get(name, {}), p, shared, persistent,
                        f"{nworld} worlds x {measured_steps} steps after {steps} native steps",
                        "recorded: busy lanes / group size per instruction of the step")
      rec.update(contacts_per_world=round(float(np.mean(sim.ncon.numpy())), 2),
                 rows_per_world=round(float(np.mean(sim.data.efc.nefc.numpy())), 2),
                 persistent_bytes_per_world=fp["bytes_per_world"]["carried"],
                 transient_bytes_per_world=fp["bytes_per_world"]["transient"],
                 output_bytes_per_world=fp["bytes_per_world"]["output"],
                 untouched_bytes_per_world=fp["bytes_per_world"]["untouched"],
                 data_bytes_per_world=fp["data_bytes_per_world"],
                 carried_fields=fp["classes"]["carried"],
                 group_mode_bytes_per_world=group_mode["per_world"],
                 group_mode_bytes_per_slot=group_mode["per_slot"],
                 group_mode_worlds_in_80GB_computed=group_mode_worlds(group_mode, group),
                 group_mode_source=("Simulator(workspace='group') as allocated (simt.group_memory); worlds in "
                                    "80e9 bytes computed, not measured: (80e9 - H100_SMS x 2048 / group slots x "
                                    "bytes per slot) / bytes per world, the slots at the hardware's most resident "
                                    "groups"),
                 footprint_source=(f"address recorder: each Data scalar's first access within a step (read first: "
                                   f"carried), {fp['world_steps']} world-steps of the measured run"),
                 worst_requests=[{f: (round(v, 3) if isinstance(v, float) else v) for f, v in e.items()}
                                 for e in sorted(p["requests_by_array"],
                                                 key=lambda e: -e["excess_sectors_per_world_step"])[:8]],
                 worst_requests_source=("address recorder (simt.request_breakdown): the global requests by stage, "
                                        "array and lane stride with the most sectors beyond the fewest holding "
                                        "their words, per world-step"))
      records.append(rec)
  return records
