#!/usr/bin/env bash
# Packs what a GPU session needs beyond the device image into two ignored folders, .dev-a and
# .dev-b, each under the 64 MiB a device call carries (with the repo): the Python 3.12 wheels
# of ../shared/scripts/offline-wheels.sh installed into one site folder (without warp's tests
# and examples and without mujoco-studio, which importing mujoco does not need), a
# sitecustomize.py that makes Warp emit sm_90 CUBIN, the Warp kernel cache compiled here for
# sm_90 (bench/aot_kernels.py), and the native modules of .prebuilt-py312 (bench/
# prebuild_gpu.sh), as one xz tarball split in two. Carry .dev-a in one call and .dev-b in the
# next; bench/gpu_session.sh unpacks them (see bench/README, "On a lent GPU machine").
# Usage: bash bench/gpu_bundle.sh [PYTHON3.12]   (needs a Python 3.12 with numpy and torch
# for the kernel compile: PY312_VENV, default /tmp/pws-v312, is created when missing)
set -euo pipefail
py=${1:-python3.12}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${PWS_BUNDLE_WORK:-/tmp/pws-bundle}
venv=${PY312_VENV:-/tmp/pws-v312}
[ -x "$venv/bin/python" ] || { "$py" -m venv "$venv" && "$venv/bin/pip" install -q numpy torch==2.13.0; }
ls "$root"/.prebuilt-py312/_native_cuda*.so >/dev/null || { echo "run bench/prebuild_gpu.sh first" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/wheels" "$work/pack/site" "$work/pack/prebuilt"
# the versions of the GPU lock (requirements/gpu-cuda-py312.txt) for every wheel fetched
pins=$(grep -E '^(warp-lang|mujoco|mujoco-core|mujoco-studio|mujoco-warp|rsl-rl-lib|tensordict|glfw|pyopengl|etils)==' \
  "$root/requirements/gpu-cuda-py312.txt" || true)
bash "$root/../shared/scripts/offline-wheels.sh" "$work/wheels" $pins >/dev/null
for first in "$work"/wheels/*.whl.part-aa; do
  [ -e "$first" ] || continue
  cat "${first%.part-aa}".part-* >"${first%.part-aa}" && rm "${first%.part-aa}".part-*
done
rm -f "$work"/wheels/mujoco_studio-*.whl "$work"/wheels/etils-*.whl
python3 -m pip install -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64 \
  --platform any --target "$work/pack/site" "$work"/wheels/*.whl
rm -rf "$work"/pack/site/warp/tests "$work"/pack/site/warp/examples
find "$work/pack/site" -name __pycache__ -prune -exec rm -rf {} +
cat >"$work/pack/site/sitecustomize.py" <<'PY'
# GPU session: Warp emits sm_90 CUBIN, matching the kernel cache compiled ahead of time.
import warp
warp.config.cuda_output = "cubin"
PY
cp "$root"/.prebuilt-py312/_native*.so "$root"/.prebuilt-py312/SOURCE_HASH "$work/pack/prebuilt/"
. "$root/bench/native_hash.sh"
[ "$(cat "$root/.prebuilt-py312/SOURCE_HASH")" = "$(native_source_hash "$root")" ] \
  || { echo ".prebuilt-py312 was built from other kernels/csrc sources: run bench/prebuild_gpu.sh again" >&2; exit 1; }
# Kernel cache: a copy of the source tree importing the prebuilt modules, Warp from the site.
mkdir -p "$work/src" && cp -r "$root/pywarp_sim" "$root/bench" "$work/src/" && cp "$work"/pack/prebuilt/*.so "$work/src/pywarp_sim/"
(cd "$work/src" && PYTHONPATH="$work/pack/site" PWS_KERNEL_CACHE="$work/cache" "$venv/bin/python" -m bench.aot_kernels pywarp_sim warp \
 && PYTHONPATH="$work/pack/site" PWS_KERNEL_CACHE="$work/cache" "$venv/bin/python" -m bench.aot_kernels mujoco_warp --mjwarp)
mkdir -p "$work/pack/warp-cache"
(cd "$work/cache" && find . \( -name '*.cubin' -o -name '*.meta' \) | tar -cf - -T -) | tar -C "$work/pack/warp-cache" -xf -
# kernels an earlier GPU session compiled there (bench/gpu_session.sh returns them)
for t in "$root"/.gpu-kernels/*.tgz; do [ -e "$t" ] && tar -C "$work/pack/warp-cache" -xzf "$t"; done
tar -C "$work/pack" -cf - . | xz -T2 -9 >"$work/bundle.tar.xz"
size=$(stat -c %s "$work/bundle.tar.xz")
rm -rf "$root/.dev-a" "$root/.dev-b" && mkdir -p "$root/.dev-a" "$root/.dev-b"
split -n 2 -d "$work/bundle.tar.xz" "$work/bundle.tar.xz.part-"
mv "$work/bundle.tar.xz.part-00" "$root/.dev-a/" && mv "$work/bundle.tar.xz.part-01" "$root/.dev-b/"
ls -la "$root/.dev-a" "$root/.dev-b"
echo "bundle: $((size / 1048576)) MiB in two parts"
