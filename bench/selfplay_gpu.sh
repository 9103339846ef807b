#!/usr/bin/env bash
# The self-play league on one GPU (prepared for a lent device machine; not run yet): 4,096
# worlds (two humanoids each), 64 opponent slots, 10 minutes of training, 1,024 evaluation
# matches per new pool member, then the final learner against the initial policy over 1,024
# matches and bench.selfplay's throughput (two-agent vs single-agent env at 4,096 worlds).
# Needs a python3 that imports pywarp_sim with its CUDA module and openskill (on the device
# image: after bench/gpu_session.sh's unpack step, PYTHONPATH=/tmp/pack/site). Results:
# $OUT/selfplay-gpu.log, $OUT/selfplay-cuda-*.json and the two PNGs (commit them with the
# device named).
set -uo pipefail
OUT=${OUT:-/tmp/pws-out}
MINUTES=${PWS_SELFPLAY_MINUTES:-10}
RUN=/tmp/selfplay-gpu
mkdir -p "$OUT"
export PWS_KERNEL_CACHE=${PWS_KERNEL_CACHE:-$PWD/build/warp-cache} PYTHONUNBUFFERED=1
timeout $((MINUTES * 60 + 240)) python3 -m pywarp_sim.selfplay train --device cuda:0 --backend native \
  --num-envs 4096 --nslot 64 --eval-envs 1024 --eval-opponents 4 --snapshot-interval 10 \
  --iterations 100000 --max-minutes "$MINUTES" --final-matches 1024 \
  --log-dir "$RUN" 2>&1 | grep -v "^Warp" | tee "$OUT/selfplay-gpu.log" | grep "pws.selfplay" | tail -n 5
timeout 300 python3 -m bench.selfplay --run "$RUN" --device cuda:0 --backend native --num-envs 4096 \
  --nslot 64 --steps 50 --repeats 5 --note "GPU league, ${MINUTES} min" \
  --out "$OUT/selfplay-$(python3 -c 'from bench import common; print(common.device_slug("cuda:0"))')-$(date +%F).json" \
  2>&1 | tail -n 1 | tee -a "$OUT/selfplay-gpu.log"
