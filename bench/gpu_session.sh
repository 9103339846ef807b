#!/usr/bin/env bash
# One prepared device-machine check (H100/H200 via the device tool), sized for the last call of
# a session (about 7 minutes; a session has 15 minutes of device time, starts and wheel
# transfers included): install the offline wheels, put the native modules in place (carried
# from .prebuilt-py312/, see bench/prebuild_gpu.sh, or built here), run the GPU tests, then a
# GPU sweep (warp, native, mjwarp in the same run), fault injection and the compile bench.
# Each step has its own timeout, most valuable first, so a cut-off run still returns what
# it measured. Results go to $OUT (at most 8 files come back: session.log, table.md and the
# result files) and to bench/results/ (commit them, with the device named).
#
# Before: the wheels from ../shared/scripts/offline-wheels.sh, split into ignored folders
# .whl-a, .whl-b, ... (the last one also holding install-offline-wheels.sh), carried one per
# call and copied to /tmp/whl there (`mkdir -p /tmp/whl && cp .whl-X/* /tmp/whl/`). Then, in
# the call carrying the last folder and .prebuilt-py312:  bash bench/gpu_session.sh
set -uo pipefail
OUT=${OUT:-/tmp/pws-out}
mkdir -p "$OUT"
LOG=$OUT/session.log
log() { echo "[gpu_session $(date +%H:%M:%S)] $*" | tee -a "$LOG"; }
run() { local t=$1; shift; log "\$ $*"; timeout "$t" "$@" >>"$LOG" 2>&1; local rc=$?; log "exit $rc"; return $rc; }

mkdir -p /tmp/whl
for d in .whl-*/; do [ -d "$d" ] && cp "$d"* /tmp/whl/ 2>/dev/null; done
installer=$(ls /tmp/whl/install-offline-wheels.sh 2>/dev/null | head -1)
log "installing wheels with ${installer:-<none>}"
bash "$installer" /tmp/site /tmp/whl >>"$LOG" 2>&1 || { log "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site
export PWS_KERNEL_CACHE=$PWD/build/warp-cache
export MUJOCO_GL=egl
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$LOG"

# python -m runs from the repo root, so the source package is imported: give it the modules
if ls .prebuilt-py312/_native_cuda*.so >/dev/null 2>&1; then
  log "native modules carried from .prebuilt-py312"
  cp .prebuilt-py312/_native*.so pywarp_sim/
else
  log "building the native modules (CUDA for sm_90)"
  CMAKE_ARGS="-DPWS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90" run 240 \
    python3 -m pip install -q --no-build-isolation --no-deps --target /tmp/pws . \
    || log "native build failed; continuing with the Warp backend"
  cp /tmp/pws/pywarp_sim/_native*.so pywarp_sim/ 2>/dev/null || log "no native modules built"
fi

log "GPU tests"
run 150 python3 -m pytest -q -m gpu tests -p no:cacheprovider
log "GPU sweep"
run 200 python3 -m bench scaling --backends warp,native,mjwarp --device cuda:0 \
  --nworld 4096,65536 --steps 100 --repeat 1 --max-seconds 10 --out-dir bench/results
log "fault injection (about 10^6 world-steps per backend)"
run 45 python3 -m bench faults --backend native --device cuda:0 --nworld 4096 --steps 250
run 45 python3 -m bench faults --backend warp --device cuda:0 --nworld 4096 --steps 250
run 60 python3 -m bench compile --backend warp --device cuda:0
cp bench/results/*cuda* "$OUT"/ 2>/dev/null
python3 -m bench table >"$OUT/table.md" 2>&1
log "done"
