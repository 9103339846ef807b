"""Compile Warp modules for sm_90 CUBIN ahead of time (no GPU needed: Warp's NVRTC runs
without a driver), into PWS_KERNEL_CACHE, so a short GPU session loads kernels instead of
compiling them: every pywarp_sim module (their kernels are static), Warp's own modules that
get loaded, and, with --mjwarp, mujoco_warp's kernels as instantiated by a CPU step of the
humanoid (its kernels are generated per model; those built differently on CUDA still compile
there). The GPU process must also run with warp.config.cuda_output = "cubin" (bench/
gpu_bundle.sh puts a sitecustomize.py doing so on its PYTHONPATH).

Usage: PWS_KERNEL_CACHE=DIR python -m bench.aot_kernels [MODULE_PREFIX ...] [--mjwarp]
"""
import importlib
import pkgutil
import sys
import time

import warp as wp
wp.config.cuda_output = "cubin"
import pywarp_sim
for info in pkgutil.walk_packages(pywarp_sim.__path__, "pywarp_sim."):
  try:
    importlib.import_module(info.name)
  except Exception as exc:
    print("import skip", info.name, exc, file=sys.stderr)
from bench import common
import mujoco
mjm, _ = common.resolve_mj_model("humanoid")
# the session's Warp-backend runs (kernels of warp.* loaded on the way)
sim = pywarp_sim.Simulator("humanoid", nworld=4, device="cpu", auto_reset=True)
sim.step(2)
if "--mjwarp" in sys.argv:
  import mujoco_warp as mjw
  m = mjw.put_model(mjm)
  d = mjw.put_data(mjm, mujoco.MjData(mjm), nworld=4)
  mjw.step(m, d)
from warp._src.context import user_modules
t = time.time(); n = 0
only = [a for a in sys.argv[1:] if not a.startswith("--")]
for name, mod in list(user_modules.items()):
  if not mod.kernels or (only and not any(name.startswith(o) for o in only)):
    continue
  try:
    t1 = time.time()
    wp.compile_aot_module(mod, arch=90, use_ptx=False); n += 1
    print(f"{name}: {time.time() - t1:.1f} s", flush=True)
  except Exception as exc:
    print("AOT skip", name, type(exc).__name__, str(exc)[:200], flush=True)
print(f"AOT: {n} modules for sm_90 in {time.time() - t:.1f} s", flush=True)
