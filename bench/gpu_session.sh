#!/usr/bin/env bash
# One prepared device-machine check (H100/H200 via the device tool), sized for the last call of
# a session (PWS_SESSION_S seconds, default 520; a session has 15 minutes of device time,
# starts and transfers included): unpack what bench/gpu_bundle.sh packed (Python 3.12 site,
# sm_90 Warp kernel cache, native modules), run the lane-group kernels against their CPU
# emulation, the GPU tests, a GPU sweep (warp, native,
# mjwarp in the same run), native with the per-thread workspace unstaged and staged, a short
# humanoid-walk training run (env steps/s), fault injection. PWS_FOCUS=step, walk or academy
# spends the call on one goal instead (below).
# Each step has its own timeout, cut to the time left, most valuable first, so a cut-off run
# still returns what it measured. Results go to $OUT (at most 8 files come back: session.log,
# table.md and the result files) and to bench/results/ (commit them, with the device named).
#
# Before: bash bench/gpu_bundle.sh here; one call carrying .dev-a runs
#   mkdir -p /tmp/b && cp .dev-a/* /tmp/b/
# and the next, carrying .dev-b:  bash bench/gpu_session.sh
# (Older route: wheel folders .whl-a, .whl-b, ... copied to /tmp/whl, with
# install-offline-wheels.sh in the last, and .prebuilt-py312 carried.)
set -uo pipefail
OUT=${OUT:-/tmp/pws-out}
mkdir -p "$OUT"
LOG=$OUT/session.log
T0=$(date +%s)
DEADLINE=$((T0 + ${PWS_SESSION_S:-520}))
log() { echo "[gpu_session $(date +%H:%M:%S) +$(($(date +%s) - T0))s] $*" | tee -a "$LOG"; }
# run SECONDS CMD...: CMD with a timeout of SECONDS, cut to the time left before DEADLINE
run() {
  local t=$1; shift
  local left=$((DEADLINE - $(date +%s)))
  [ "$left" -lt "$t" ] && t=$left
  if [ "$t" -lt 15 ]; then log "skipped (time is up): $*"; return 124; fi
  log "\$ $* (timeout ${t}s)"
  timeout "$t" "$@" >>"$LOG" 2>&1
  local rc=$?
  log "exit $rc"
  return $rc
}

# the native modules: prebuilt ones (DIR) when their SOURCE_HASH stamp is this tree's
# (bench/native_hash.sh), else built here for sm_90 (minutes of the session)
. bench/native_hash.sh
use_prebuilt() {
  local dir=$1 want
  want=$(native_source_hash .)
  if ls "$dir"/_native_cuda*.so >/dev/null 2>&1 && [ "$(cat "$dir/SOURCE_HASH" 2>/dev/null)" = "$want" ]; then
    cp "$dir"/_native*.so pywarp_sim/
    return 0
  fi
  log "no prebuilt native modules for sources $want in $dir (stamp: $(cat "$dir/SOURCE_HASH" 2>/dev/null || echo none)): building"
  CMAKE_ARGS="-DPWS_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90" run 240 \
    python3 -m pip install -q --no-build-isolation --no-deps --target /tmp/pws . \
    || log "native build failed; continuing with the Warp backend"
  cp /tmp/pws/pywarp_sim/_native*.so pywarp_sim/ 2>/dev/null || log "no native modules built"
}

export PWS_KERNEL_CACHE=$PWD/build/warp-cache
export PYTHONUNBUFFERED=1  # no MUJOCO_GL=egl: the image has no libEGL, and importing mujoco would fail
mkdir -p /tmp/b
cp .dev-*/bundle.tar.xz.part-* /tmp/b/ 2>/dev/null
if ls /tmp/b/bundle.tar.xz.part-* >/dev/null 2>&1; then
  log "unpacking $(ls /tmp/b | wc -l) bundle parts"
  mkdir -p /tmp/pack "$PWS_KERNEL_CACHE"
  cat /tmp/b/bundle.tar.xz.part-* | xz -d -T0 | tar -C /tmp/pack -xf - || { log "bundle unpack failed"; exit 1; }
  export PYTHONPATH=/tmp/pack/site
  cp -r /tmp/pack/warp-cache/. "$PWS_KERNEL_CACHE"/
  use_prebuilt /tmp/pack/prebuilt
  touch /tmp/pws-cache-marker  # kernels newer than this were compiled on this machine
  log "site, kernel cache ($(find "$PWS_KERNEL_CACHE" -name '*.cubin' | wc -l) cubins) and native modules in place"
else
  mkdir -p /tmp/whl
  for d in .whl-*/; do [ -d "$d" ] && cp "$d"* /tmp/whl/ 2>/dev/null; done
  installer=$(ls /tmp/whl/install-offline-wheels.sh 2>/dev/null | head -1)
  log "installing wheels with ${installer:-<none>}"
  bash "$installer" /tmp/site /tmp/whl >>"$LOG" 2>&1 || { log "wheel install failed"; exit 1; }
  export PYTHONPATH=/tmp/site
  use_prebuilt .prebuilt-py312
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a "$LOG"
python3 -c "import warp as wp; wp.init(); import torch, mujoco, pywarp_sim.native as n; \
print('torch', torch.__version__, 'mujoco', mujoco.__version__, 'native cuda:', n.available('cuda:0') or n.unavailable_reason('cuda:0'))" >>"$LOG" 2>&1

# PWS_FOCUS=academy: the academy demo with the shared policy trained on the GPU, scored on 6
# unseen proxies (the issue's GPU run), for the whole call.
if [ "${PWS_FOCUS:-}" = "academy" ]; then
  left=$((DEADLINE - $(date +%s) - 20))
  log "academy: calibrate 4 proxies, train the shared policy on the GPU, score it on 6 unseen proxies"
  run "$left" python3 -m pywarp_sim.academy demo --robots 4 --quick --device cuda:0 --train-iterations 600 \
    --train-envs 1024 --unseen 6 --eval-s 3.0 --out-dir /tmp/academy
  cp /tmp/academy/report.json "$OUT/academy-report-cuda-$(date +%Y-%m-%d).json" 2>/dev/null
  cp /tmp/academy/history.json "$OUT/academy-training-cuda-$(date +%Y-%m-%d).json" 2>/dev/null
  exit 0
fi

# PWS_FOCUS=step: the GPU step against mujoco_warp (issue "GPU step"), under 8 minutes, the most
# valuable first: the lane-group kernels against their CPU emulation bit for bit; in one process
# mujoco_warp (its default njmax/nconmax), the one-thread-per-world native step and the fused
# lane-group step (simt, simt.DEFAULT_GROUP_SIZE lanes per world) at 4,096 and 65,536 worlds; the
# lane-group step's group sizes 16 / 32 and its persistent launch at 65,536; 1,048,576 humanoid
# worlds with workspace="group" (a world keeps its state, everything a step derives is held per
# group slot of the persistent launch), the device memory it used (cudaMemGetInfo before and
# after) and steps/s; the three backends at 1,048,576 (a size that does not fit is recorded with
# its error); Nsight Compute's sectors per request, achieved occupancy, lane activity and stall
# reasons of the fused kernel where ncu is installed. The focus ends 480 s after the start
# whatever PWS_SESSION_S says (each run's timeout is cut to what is left).
if [ "${PWS_FOCUS:-}" = "step" ]; then
  [ "$DEADLINE" -gt $((T0 + 480)) ] && DEADLINE=$((T0 + 480))
  log "lane-group kernels: CUDA vs the CPU emulation, bit for bit"
  run 90 python3 -m pytest -q -m gpu tests/test_simt.py tests/test_simt_solver.py tests/test_simt_collision.py \
    tests/test_simt_step.py tests/test_simt_backend.py tests/test_simt_convex.py -p no:cacheprovider -rfEs
  log "sweep: mjwarp, native, simt (group simt.DEFAULT_GROUP_SIZE) in one process, 4,096 and 65,536 worlds"
  run 130 python3 -m bench scaling --backends mjwarp,native,simt --device cuda:0 \
    --nworld 4096,65536 --steps 100 --repeat 1 --max-seconds 8 --out-dir bench/results
  for variant in "--group-size 16" "--group-size 32" "--persistent" "--group-size 16 --persistent"; do
    run 40 python3 -m bench throughput --backend simt $variant --device cuda:0 --nworld 65536 --steps 100 \
      --max-seconds 6 --out "bench/results/throughput-simt-cuda-$(date +%Y-%m-%d).jsonl"
  done
  log "simt, workspace='group': 1,048,576 humanoid worlds, device memory and steps/s"
  run 75 python3 -m bench throughput --backend simt --workspace group --device cuda:0 --nworld 1048576 \
    --steps 20 --max-seconds 10 --out "bench/results/throughput-simt-group-cuda-$(date +%Y-%m-%d).jsonl"
  log "sweep at 1,048,576 worlds: mjwarp, native, simt (a size that does not fit is recorded with its error)"
  run 90 python3 -m bench scaling --backends mjwarp,native,simt --device cuda:0 \
    --nworld 1048576 --steps 20 --repeat 1 --max-seconds 8 --out-dir bench/results
  if command -v ncu >/dev/null 2>&1; then
    log "Nsight Compute: the fused lane-group kernel at 65,536 worlds"
    run 90 ncu -k regex:simt_step --launch-count 2 --csv --metrics \
l1tex__average_t_sectors_per_request_pipe_lsu_mem_global_op_ld.ratio,\
l1tex__average_t_sectors_per_request_pipe_lsu_mem_global_op_st.ratio,\
sm__warps_active.avg.pct_of_peak_sustained_active,\
smsp__thread_inst_executed_per_inst_executed.ratio,\
smsp__average_warp_latency_issue_stalled_long_scoreboard,\
smsp__average_warp_latency_issue_stalled_barrier,\
smsp__average_warp_latency_issue_stalled_short_scoreboard,\
smsp__average_warp_latency_issue_stalled_wait,\
launch__registers_per_thread,launch__occupancy_limit_shared_mem \
      python3 -m bench throughput --backend simt --device cuda:0 --nworld 65536 --steps 5 --json \
      >"$OUT/ncu-simt-$(date +%Y-%m-%d).csv"
  else
    log "no ncu on this machine: Nsight Compute metrics skipped"
  fi
  n=0
  for f in $(ls -t bench/results/* | grep -i -E "cuda|h100|h200|nvidia"); do
    [ "$n" -lt 5 ] && cp "$f" "$OUT"/ && n=$((n + 1))
  done
  log "done"
  exit 0
fi

# PWS_FOCUS=walk: the whole call trains humanoid-walk (native backend, CUDA graph, 4096 envs)
# for up to 10 minutes, then scores the last checkpoint on a held 1 m/s forward command.
if [ "${PWS_FOCUS:-}" = "walk" ]; then
  walk_train() {  # walk_train [--graph]: train until 75 s before the deadline (at most 10 min)
    local left=$((DEADLINE - $(date +%s) - 75))
    [ "$left" -gt 600 ] && left=600
    log "walking: training humanoid-walk for $left s $*, then tracking of a 1 m/s command"
    run $((left + 45)) python3 -m pywarp_sim.train --task humanoid-walk --device cuda:0 --num-envs 4096 \
      --iterations 100000 "$@" --backend native --quiet --save-interval 100 \
      --max-minutes "$(python3 -c "print($left / 60)")" --log-dir /tmp/runs/walk
  }
  walk_train --graph || { ls /tmp/runs/walk/model_*.pt >/dev/null 2>&1 \
    || { log "training with CUDA graphs failed before a checkpoint: again without"; rm -rf /tmp/runs/walk; walk_train; }; }
  ckpt=$(ls -t /tmp/runs/walk/model_*.pt 2>/dev/null | head -1)
  [ -n "$ckpt" ] && run 60 python3 -m pywarp_sim.play --checkpoint "$ckpt" --video '' --device cuda:0 \
    --num-envs 256 --steps 250 --command 1,0,0 --json
  cp /tmp/runs/walk/history.json "$OUT/walk-history-cuda-$(date +%Y-%m-%d).json" 2>/dev/null
  [ -n "$ckpt" ] && cp "$ckpt" /tmp/runs/walk/pws_train.json "$OUT"/
  exit 0
fi

# All GPU tests in one process; a CUDA fault is sticky (every later test in that process fails
# too), so the failed ones are rerun one process each, with CUDA_LAUNCH_BLOCKING=1 so that a
# fault names its kernel.
# The lane-group kernels (kernels/simt_smooth.h, kernels/simt_solver.h, kernels/simt_collision.h,
# kernels/simt_constraint.h, kernels/simt_step.h, csrc/simt_launch.cu): the CUDA kernels against
# their CPU emulation bit for bit, every group size, the fused step one group per world and
# persistent, the convex instance on a pile of meshes (tests/test_simt.py, tests/test_simt_solver.py,
# tests/test_simt_collision.py, tests/test_simt_step.py, tests/test_simt_convex.py; seconds).
log "lane-group kernels: CUDA vs the CPU emulation, bit for bit"
run 90 python3 -m pytest -q -m gpu tests/test_simt.py tests/test_simt_solver.py tests/test_simt_collision.py \
  tests/test_simt_step.py tests/test_simt_convex.py -p no:cacheprovider -rfEs
log "GPU tests"
run 150 python3 -m pytest -q -m gpu tests -p no:cacheprovider -rfEs --ignore=tests/test_simt.py \
  --ignore=tests/test_simt_solver.py --ignore=tests/test_simt_collision.py --ignore=tests/test_simt_step.py
grep -E "^(FAILED|ERROR) tests/" "$LOG" | awk '{print $2}' | sort -u >/tmp/gpu_failed.txt
if [ -s /tmp/gpu_failed.txt ]; then
  log "rerunning $(wc -l </tmp/gpu_failed.txt) failed GPU tests one process each"
  while read -r node; do
    CUDA_LAUNCH_BLOCKING=1 run 45 python3 -m pytest -q -p no:cacheprovider --tb=short -rfEs "$node" \
      || log "not passed: $node"
  done </tmp/gpu_failed.txt
fi
log "GPU sweep"
run 190 python3 -m bench scaling --backends warp,native,mjwarp --device cuda:0 \
  --nworld 4096,65536 --steps 100 --repeat 1 --max-seconds 8 --out-dir bench/results
log "native, humanoid with nconmax=16 and the workspace per thread: over the Simulator's arrays, then staged in local memory"
for staging in "" "--staging"; do
  run 60 python3 -m bench throughput --backend native --workspace thread --nconmax 16 $staging --device cuda:0 \
    --nworld 65536,262144 --steps 50 --max-seconds 8 \
    --out "bench/results/throughput-native-cuda-$(date +%Y-%m-%d).jsonl"
done
log "training: humanoid-walk, 4096 envs, native backend, CUDA graph (env steps/s; time-limited)"
run 70 python3 -m pywarp_sim.train --task humanoid-walk --device cuda:0 --num-envs 4096 \
  --iterations 30 --graph --backend native --quiet --log-dir /tmp/runs/walk
log "native with the workspace per thread up to 1M worlds"
run 50 python3 -m bench throughput --backend native --workspace thread --device cuda:0 \
  --nworld 262144,1048576 --steps 50 --max-seconds 8 \
  --out "bench/results/throughput-native-cuda-$(date +%Y-%m-%d).jsonl"
log "fault injection (native: 1,024,000 world-steps)"
run 40 python3 -m bench faults --backend native --device cuda:0 --nworld 4096 --steps 250
ls bench/results/ | grep -i -E "cuda|h100|h200|nvidia" >>"$LOG"
n=0
for f in $(ls -t bench/results/* | grep -i -E "cuda|h100|h200|nvidia"); do
  [ "$n" -lt 5 ] && cp "$f" "$OUT"/ && n=$((n + 1))
done
python3 -m bench table >"$OUT/table.md" 2>&1
# Kernels compiled here rather than loaded from the carried cache (mujoco_warp generates some
# per device) come back, for bench/gpu_bundle.sh to carry next time: keep the file in .gpu-kernels/.
if [ -e /tmp/pws-cache-marker ]; then
  (cd "$PWS_KERNEL_CACHE" && find . -newer /tmp/pws-cache-marker \( -name '*.cubin' -o -name '*.meta' \) \
    | tar -czf "$OUT/kernels-compiled-on-device.tgz" -T -)
  log "kernels compiled here: $(tar -tzf "$OUT/kernels-compiled-on-device.tgz" | grep -c cubin) cubins"
fi
log "done"
