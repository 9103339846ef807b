// What the CUDA units of the lane-group launchers share (csrc/simt_launch.cu and the fused step's
// instance units, csrc/simt_step_instance.cu): the launch shape of a kernel on the current device
// (found once per kernel instance, group size, shared words and device), the fused step's
// per-call arguments, and the step instances' entry points. CUDA units only; no physics here.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "simt_launch.h"

namespace pws_cuda {
namespace simt_launch {

// The lane-group kernels' minimum resident blocks per SM (__launch_bounds__ with kSimtBlock
// threads). Six: ptxas then fits the smooth kernel in 80 registers without spills (37.5%
// occupancy; unbounded it takes 126, 25%; eight blocks force 64 and spill). Until a GPU measures it.
constexpr int kSimtMinBlocks = 6;

// The launch shape of a lane-group kernel whose groups hold `nshared` 4-byte words of shared memory
// each: worlds per block (simt::block_worlds: the most worlds resident per SM by the CUDA occupancy
// calculator, within the device's opt-in per-block limit), its threads and bytes.
struct LaunchShape {
  int worlds = 0;  // per block
  int threads = 0;
  size_t shared_bytes = 0;
  int64_t resident_blocks = 0;  // blocks of this shape resident at once on the device: SMs x blocks per SM
  int64_t grid(int64_t nworld) const { return (nworld + worlds - 1) / worlds; }
};

// The launch shape of `kernel` (a __global__ function's address) at group_size lanes per world, from
// the process-wide cache or the occupancy calculator (then kept; simt_launch.cu). Returns nullptr, or
// the CUDA error (not kept: the next call asks again), or the sentence naming the sizes when one
// world's arrays pass the limit (kept; the text lives as long as the process; *refused set where
// given). `what` names the stage in that sentence.
const char* launch_shape(const void* kernel, int group_size, int nshared, const char* what, LaunchShape* shape,
                         bool* refused = nullptr);

// The fused step's per-call inputs besides the views, in device memory, reached through one
// pointer: they change per call, the views per Simulator.
struct StepLaunchArgs {
  const int* tree;                 // simt_smooth.h's schedule buffer (tree_view)
  const float* act_exp;            // (nu) simt_step.h act_exp_table
  unsigned long long* next_world;  // the persistent launch's world counter (zeroed before it)
  int64_t nworld;
  int nshared;  // floats of shared memory per group: step_shared_floats(m)
  int nsteps;
};

// The fused step's kernels of one group size N and collider set (kConvex: the instance with the
// convex collider, for models with ModelView::has_convex), each pair compiled in its own unit
// (csrc/simt_step_instance.cu with PWS_SIMT_GROUP and PWS_SIMT_CONVEX; CMakeLists.txt) so that
// nvcc compiles the six instances in parallel.
// step_shape: the launch shape of the persistent kernel or of the one-group-per-world kernel.
// launch_step: queues the kernel in `shape` (step_shape's of the same persistent flag), no query.
// The workspace held per group slot (d.nslot > 0) is indexed by the persistent kernel only (a slot
// per group of its grid): the callers run such a Data persistent; too few slots are refused by name.
template <int N, bool kConvex>
const char* step_shape(int nshared, bool persistent, LaunchShape* shape, bool* refused);
template <int N, bool kConvex>
const char* launch_step(const pws::ModelView<float>& m, const pws::DataView<float>& d, const StepLaunchArgs* args,
                        int64_t nworld, const LaunchShape& shape, bool persistent, cudaStream_t stream);

#define PWS_SIMT_STEP_INSTANCE(EXTERN, N, CONVEX)                                                               \
  EXTERN template const char* step_shape<N, CONVEX>(int, bool, LaunchShape*, bool*);                             \
  EXTERN template const char* launch_step<N, CONVEX>(const pws::ModelView<float>&, const pws::DataView<float>&, \
                                                     const StepLaunchArgs*, int64_t, const LaunchShape&, bool,   \
                                                     cudaStream_t);
PWS_SIMT_STEP_INSTANCE(extern, 8, false)
PWS_SIMT_STEP_INSTANCE(extern, 8, true)
PWS_SIMT_STEP_INSTANCE(extern, 16, false)
PWS_SIMT_STEP_INSTANCE(extern, 16, true)
PWS_SIMT_STEP_INSTANCE(extern, 32, false)
PWS_SIMT_STEP_INSTANCE(extern, 32, true)

}  // namespace simt_launch
}  // namespace pws_cuda
