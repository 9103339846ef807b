# Sourced by bench/prebuild_gpu.sh, bench/gpu_bundle.sh and bench/gpu_session.sh:
# native_source_hash ROOT prints the hash of the native modules' sources (CMakeLists.txt,
# kernels/, csrc/) under ROOT. prebuild_gpu.sh stamps .prebuilt-py312 with it; gpu_session.sh
# uses prebuilt modules only when their stamp equals the carried tree's hash, so modules built
# from older kernels never run against newer Python layouts and tests.
native_source_hash() {
  (cd "$1" && find kernels csrc -type f \( -name '*.h' -o -name '*.cuh' -o -name '*.cu' -o -name '*.cpp' \) \
     | LC_ALL=C sort | xargs cat CMakeLists.txt | sha256sum | cut -c1-16)
}
