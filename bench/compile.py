"""Cold and warm start: seconds from a fresh Python process to the first completed step.

Each measurement is a separate subprocess (`python -m bench _first-step ...`) so nothing
compiled or loaded in this process helps it. The cold run gets a new, empty Warp kernel
cache in a temporary folder; the warm run is a second process on that same cache.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from . import common


def first_step(backend: str, model: str, device: str, nworld: int) -> dict:
  """Runs in the child: imports, model load, simulator setup and one step, each timed."""
  out = {"pywarp_sim_src": common.source_hash()}
  t_start = time.perf_counter()
  if backend in ("warp", "native", "mjwarp"):
    wp = common.quiet_warp()
    import pywarp_sim  # noqa: F401  (reads PWS_KERNEL_CACHE)
  import mujoco
  out["import_s"] = time.perf_counter() - t_start

  t0 = time.perf_counter()
  mjm, _ = common.resolve_mj_model(model)
  if backend in ("warp", "native"):
    import pywarp_sim as pws
    pws_model = pws.put_model(mjm, device)
  out["load_model_s"] = time.perf_counter() - t0

  t0 = time.perf_counter()
  if backend in ("warp", "native"):
    sim = pws.Simulator(pws_model, nworld=nworld, device=device, backend=backend)
    wp.synchronize_device(device)
    out["init_s"] = time.perf_counter() - t0  # Simulator() runs forward: compiles its kernels
    t0 = time.perf_counter()
    sim.step(1)
    wp.synchronize_device(device)
    out["kernel_cache"] = str(wp.config.kernel_cache_dir)
  elif backend == "mjwarp":
    import mujoco_warp as mjw
    mjd = mujoco.MjData(mjm)
    with wp.ScopedDevice(device):
      m = mjw.put_model(mjm)
      d = mjw.put_data(mjm, mjd, nworld=nworld)
      out["init_s"] = time.perf_counter() - t0
      t0 = time.perf_counter()
      mjw.step(m, d)
      wp.synchronize_device(device)
    out["kernel_cache"] = str(wp.config.kernel_cache_dir)
  elif backend in ("mujoco", "mujoco_nocontact"):
    d = mujoco.MjData(mjm)
    out["init_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mujoco.mj_step(mjm, d)
  else:
    raise ValueError(f"unknown backend '{backend}'")
  out["first_step_s"] = time.perf_counter() - t0
  out["to_first_step_s"] = time.perf_counter() - t_start
  return out


def _dir_size(path: pathlib.Path) -> tuple[int, int]:
  files = [p for p in path.rglob("*") if p.is_file()]
  return len(files), sum(p.stat().st_size for p in files)


def _child(backend, model, device, nworld, cache_dir, timeout) -> dict:
  env = dict(os.environ)
  env["PWS_KERNEL_CACHE"] = str(cache_dir)
  env["WARP_CACHE_PATH"] = str(cache_dir)
  # The CUDA driver's JIT cache (PTX -> SASS) must start cold too.
  env["CUDA_CACHE_PATH"] = str(cache_dir / "cuda-jit-cache")
  cmd = [sys.executable, "-m", "bench", "_first-step", "--backend", backend, "--model", model,
         "--device", device, "--nworld", str(nworld)]
  t0 = time.perf_counter()
  proc = subprocess.run(cmd, cwd=common.REPO, env=env, capture_output=True, text=True,
                        timeout=timeout)
  wall = time.perf_counter() - t0
  lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
  if proc.returncode != 0 or not lines:
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"error": f"child exited with {proc.returncode}: {tail}", "process_wall_s": wall}
  out = json.loads(lines[-1])
  out["process_wall_s"] = wall  # includes interpreter start-up
  return out


def run_compile(backend: str, model: str, device: str, nworld: int = 1, sink=None,
                timeout: float = 1800) -> list:
  """Two records: start='cold' (empty kernel cache) and start='warm' (the same cache)."""
  records = []
  with tempfile.TemporaryDirectory(prefix="pws-bench-cache-") as tmp:
    cache = pathlib.Path(tmp) / "warp-cache"
    cache.mkdir()
    for start in ("cold", "warm"):
      rec = common.base_record("compile", backend, device)
      rec.update(model=model, nworld=nworld, start=start)
      common.warn(f"compile: {backend} on {device}, {start} start (subprocess) ...")
      files_before = _dir_size(cache)[0]
      try:
        rec.update(_child(backend, model, device, nworld, cache, timeout))
      except subprocess.TimeoutExpired:
        rec["error"] = f"child did not finish within {timeout} s"
      rec["cache_files"], rec["cache_bytes"] = _dir_size(cache)
      if "error" in rec:
        common.warn(f"compile: {backend} on {device}, {start}: {rec['error']}")
      elif start == "warm" and records and rec.get("pywarp_sim_src") != records[0].get("pywarp_sim_src"):
        recompiled = rec["cache_files"] > files_before
        rec["warning"] = ("pywarp_sim sources changed between the cold and the warm run"
                          + (" and the warm run compiled new kernels" if recompiled else
                             " (no new kernels were compiled)")
                          + "; rerun for a clean measurement")
        common.warn(f"compile: {rec['warning']}")
      if sink:
        sink.emit(rec)
      records.append(rec)
      if "error" in rec:
        break
  return records
