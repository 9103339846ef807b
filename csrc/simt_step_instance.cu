// One instance of the fused lane-group step's CUDA kernels (kernels/simt_step.h): group size
// PWS_SIMT_GROUP (8, 16 or 32 lanes per world) and collider set PWS_SIMT_CONVEX (1: the convex
// collider compiled in, for models with ModelView::has_convex; 0: primitives only). CMakeLists.txt
// compiles this unit six times, once per pair, so that nvcc works on the instances in parallel;
// simt_launch.cu picks the instance at launch (simt_launch_shape.h). Compiled with -fmad=false
// (kernels/simt.h rule 3) so the results equal the CPU emulation bit for bit. No physics here.
#include <cuda_runtime.h>

#include <string>

#include "simt_launch_shape.h"
#include "simt_step.h"

#if !defined(PWS_SIMT_GROUP) || !defined(PWS_SIMT_CONVEX)
#error "simt_step_instance.cu needs -DPWS_SIMT_GROUP=8|16|32 and -DPWS_SIMT_CONVEX=0|1 (CMakeLists.txt)"
#endif
static_assert(PWS_SIMT_GROUP == 8 || PWS_SIMT_GROUP == 16 || PWS_SIMT_GROUP == 32, "PWS_SIMT_GROUP: 8, 16 or 32");

namespace pws_cuda {
namespace simt_launch {

// nsteps fused steps (kernels/simt_step.h) of world blockIdx.x * (blockDim.x / N) + group on
// group `threadIdx.x / N`, its shared arrays (qM's factor, the solver's, qH's) in its slice of
// the dynamic shared memory. The same launch bounds as the stages until a GPU measures them.
// The views are __grid_constant__: `step` is not inlined (__noinline__ on CUDA, kernels/simt_step.h;
// forcing it inline raised sm_90's spill stores from 0.9 KB to 2.9 KB per thread), and the address of a
// plain kernel parameter passed to a call makes a per-thread copy of the 1,472-byte ModelView in local
// memory; a __grid_constant__ one is read where the launch put it (ptxas sm_90 -fmad=false: stack 2,912
// bytes, persistent 3,552-3,600; 4,400 / 5,040 at 8 lanes without). The spills (~1.8 KB per thread)
// hardly follow the register cap: 96 registers (5 blocks) or 128 (4) leave 1.8 / 1.6 KB, the
// persistent kernel 3.1 KB at 128; most are in collision's colliders and at the calls.
// kConvex: the instance with the convex collider compiled in (simt::step<true>: GJK/EPA, meshes,
// height fields), launched for models with ModelView::has_convex (simt_launch.cu). Its frame holds the
// EPA scratch (29,608 B per lane), ~40 KB of local memory per thread (bench/README.md). That frame
// is static (no recursion, no dynamic call stack), so ptxas states it, and the driver raises the
// context's per-thread stack to a launched kernel's need by itself (CUDA driver API, cuCtxSetLimit:
// "The driver automatically increases the per-thread stack size for each kernel launch as needed";
// the size is not lowered after): no cudaDeviceSetLimit(cudaLimitStackSize). The driver reserves
// the frame for every thread the device can hold at once, the per-thread stack x the SMs x the
// resident threads per SM (2,048 on sm_90): on an H100 (132 SMs) 38,272 B (the persistent kernel at
// 8 lanes, ptxas sm_90) x 270,336 = 9.6 GiB of device memory while the context lives, against
// 0.9 GiB for the primitive instance's 3,600 B (bench/README.md).
template <int N, bool kConvex>
__global__ void __launch_bounds__(pws_cuda::kSimtBlock, kSimtMinBlocks)
    simt_step_kernel(const __grid_constant__ pws::ModelView<float> m, const __grid_constant__ pws::DataView<float> d,
                     const StepLaunchArgs* args) {
  extern __shared__ float smem[];
  const int group = threadIdx.x / N;
  const int64_t world = static_cast<int64_t>(blockIdx.x) * (blockDim.x / N) + group;
  if (world >= args->nworld) return;  // whole groups leave together
  pws::simt::StepGroup<pws::simt::CudaGroup<N>> g(smem + group * args->nshared);
  const pws::simt::StepTables tables{pws::simt::tree_view(args->tree), args->act_exp};
  const pws::World<float> wd = pws::world_view(m, d, world, 0);
  for (int k = 0; k < args->nsteps; ++k) pws::simt::step<kConvex>(g, m, wd, tables);
}

// The persistent variant: a grid sized to the resident blocks, each group taking the next world
// from an atomic counter until none is left, so a group whose world finished early (the solver's
// per-group exit, fewer rows) takes another instead of idling to the end of its block. With the
// workspace held per group slot (d.nslot > 0, Simulator(workspace="group")) group k of the grid
// steps each world it takes in slot k, finishing its nsteps before taking the next (as an OpenMP
// thread of the emulation in its slot); the launch checked that the grid's groups have slots
// (simt::slot_refusal). Per world, the slot is unused (WorldArray::at). kConvex as simt_step_kernel's.
template <int N, bool kConvex>
__global__ void __launch_bounds__(pws_cuda::kSimtBlock, kSimtMinBlocks)
    simt_step_persistent_kernel(const __grid_constant__ pws::ModelView<float> m,
                                const __grid_constant__ pws::DataView<float> d, const StepLaunchArgs* args) {
  extern __shared__ float smem[];
  const int group = threadIdx.x / N;
  const int64_t slot = static_cast<int64_t>(blockIdx.x) * (blockDim.x / N) + group;
  pws::simt::StepGroup<pws::simt::CudaGroup<N>> g(smem + group * args->nshared);
  const pws::simt::StepTables tables{pws::simt::tree_view(args->tree), args->act_exp};
  const pws::simt::Reg<int, N> lane0{0};
  for (;;) {
    pws::simt::Reg<unsigned long long, N> next{0ull};
    if (g.lane() == 0) next[0] = atomicAdd(args->next_world, 1ull);
    next = g.shfl(next, lane0);  // every lane of the group: lane 0's world
    const int64_t world = static_cast<int64_t>(next[0]);
    if (world >= args->nworld) return;
    const pws::World<float> wd = pws::world_view(m, d, world, slot);
    for (int k = 0; k < args->nsteps; ++k) pws::simt::step<kConvex>(g, m, wd, tables);
  }
}

template <int N, bool kConvex>
const char* step_shape(int nshared, bool persistent, LaunchShape* shape, bool* refused) {
  const char* what = "the lane-group step";
  if (persistent)
    return launch_shape(reinterpret_cast<const void*>(simt_step_persistent_kernel<N, kConvex>), N, nshared, what,
                        shape, refused);
  return launch_shape(reinterpret_cast<const void*>(simt_step_kernel<N, kConvex>), N, nshared, what, shape, refused);
}

template <int N, bool kConvex>
const char* launch_step(const pws::ModelView<float>& m, const pws::DataView<float>& d, const StepLaunchArgs* args,
                        int64_t nworld, const LaunchShape& shape, bool persistent, cudaStream_t stream) {
  if (persistent) {  // the blocks that fit at once on every SM, no more than the worlds need
    const int64_t grid = pws::simt::persistent_blocks(nworld, shape.resident_blocks, shape.worlds);
    if (d.nslot != 0 && d.nslot < grid * shape.worlds) {
      static thread_local std::string text;
      text = pws::simt::slot_refusal(d.nslot, grid * shape.worlds);
      return text.c_str();
    }
    simt_step_persistent_kernel<N, kConvex>
        <<<static_cast<unsigned int>(grid), shape.threads, shape.shared_bytes, stream>>>(m, d, args);
  } else {
    simt_step_kernel<N, kConvex>
        <<<static_cast<unsigned int>(shape.grid(nworld)), shape.threads, shape.shared_bytes, stream>>>(m, d, args);
  }
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

PWS_SIMT_STEP_INSTANCE(, PWS_SIMT_GROUP, (PWS_SIMT_CONVEX != 0))

}  // namespace simt_launch
}  // namespace pws_cuda
