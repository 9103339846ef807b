#!/usr/bin/env bash
# Builds the native modules (_native: CPU/OpenMP, _native_cuda: sm_90, the H100 / H200 the device
# tool lends; PWS_CUDA_ARCHS="80;90" adds A100, at twice the compile time) for the GPU machine's
# Python 3.12 on this machine (nvcc present, no GPU needed), into .prebuilt-py312/,
# so a device session carries them instead of spending its minutes on the CUDA compile.
# bench/gpu_session.sh uses them when the folder is there and its SOURCE_HASH stamp matches the
# carried kernels/ and csrc/ (bench/native_hash.sh), and builds otherwise.
# Usage: bash bench/prebuild_gpu.sh [PYTHON3.12]   (ignored by git: /.prebuilt*/ in .gitignore)
set -euo pipefail
py=${1:-python3.12}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.prebuilt-py312
tmp=$(mktemp -d)
"$py" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q pybind11
cmake -S "$root" -B "$tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPWS_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${PWS_CUDA_ARCHS:-90}" -DPWS_AVX=ON \
  -DPython_EXECUTABLE="$tmp/venv/bin/python" -Dpybind11_DIR="$("$tmp/venv/bin/python" -m pybind11 --cmakedir)"
cmake --build "$tmp/build" --parallel "$(nproc)"
mkdir -p "$out"
cp "$tmp"/build/_native*.so "$out"/
. "$root/bench/native_hash.sh"
native_source_hash "$root" >"$out/SOURCE_HASH"  # gpu_session.sh refuses modules of other sources
rm -rf "$tmp"
ls -la "$out"
