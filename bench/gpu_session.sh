#!/usr/bin/env bash
# One prepared device-machine check (H100/H200 via the device tool), sized for one call of
# at most ~9 minutes: install the offline wheels, build the native CUDA module, run the GPU
# tests, then a GPU sweep (warp, native, mjwarp in the same run) and the compile bench.
# Results (JSON lines, PNGs, logs) are written to $OUT and to bench/results/.
#
# Before: the wheels from ../shared/scripts/offline-wheels.sh, split into ignored folders
# .whl-a, .whl-b, ... (the last one also holding install-offline-wheels.sh), carried one per
# call and copied to /tmp/whl there (`mkdir -p /tmp/whl && cp .whl-X/* /tmp/whl/`).
# Then, in the call carrying the last folder:  bash bench/gpu_session.sh
set -uo pipefail
OUT=${OUT:-/tmp/pws-out}
mkdir -p "$OUT"
log() { echo "[gpu_session $(date +%H:%M:%S)] $*" | tee -a "$OUT/session.log"; }

installer=$(ls /tmp/whl/install-offline-wheels.sh .whl-*/install-offline-wheels.sh 2>/dev/null | head -1)
log "installing wheels with $installer"
bash "$installer" /tmp/site /tmp/whl >>"$OUT/session.log" 2>&1 || { log "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site
export PWS_KERNEL_CACHE=$PWD/build/warp-cache
export MUJOCO_GL=egl

log "building the native module (CUDA for sm_90)"
CMAKE_ARGS="-DPWS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90" timeout 240 \
  python3 -m pip install -q --no-build-isolation --no-deps --target /tmp/pws . >>"$OUT/session.log" 2>&1 \
  || log "native build failed (see session.log); continuing with the Warp backend"
# python -m runs from the repo root, so the source package is imported: give it the modules
cp /tmp/pws/pywarp_sim/_native*.so pywarp_sim/ 2>/dev/null || log "no native modules built"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/session.log"

log "GPU tests"
timeout 180 python3 -m pytest -q -m gpu tests -p no:cacheprovider >"$OUT/gpu-tests.log" 2>&1
log "GPU tests exit $? ($(tail -1 "$OUT/gpu-tests.log"))"

log "GPU sweep"
timeout 300 python3 -m bench scaling --backends warp,native,mjwarp --device cuda:0 \
  --nworld 1024,4096,16384,65536 --steps 100 --repeat 1 --max-seconds 20 \
  --out-dir bench/results >"$OUT/sweep.log" 2>&1
log "sweep exit $?"
timeout 60 python3 -m bench compile --backend warp --device cuda:0 >>"$OUT/sweep.log" 2>&1
log "fault injection (10^6 world-steps per backend)"
timeout 60 python3 -m bench faults --backend native --device cuda:0 --nworld 4096 --steps 250 >>"$OUT/faults.log" 2>&1
timeout 60 python3 -m bench faults --backend warp --device cuda:0 --nworld 4096 --steps 250 >>"$OUT/faults.log" 2>&1
cp bench/results/*cuda* "$OUT"/ 2>/dev/null
python3 -m bench table >"$OUT/table.md" 2>&1
log "done"
