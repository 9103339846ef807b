// CUDA launchers of the header-only kernels in kernels/. No physics here.

#include <cuda_runtime.h>

#include "cuda_launch.h"
#include "integrate_pos.h"
#include "forward.h"
#include "step_stage.h"

namespace {

__global__ void integrate_pos_kernel(int njnt, const int* __restrict__ jnt_type,
                                     const int* __restrict__ jnt_qposadr, const int* __restrict__ jnt_dofadr,
                                     float* qpos, const float* qvel, int64_t nworld, int64_t nq, int64_t nv,
                                     float dt) {
  const int64_t world = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (world >= nworld) return;
  pws::integrate_pos_world<float>(njnt, jnt_type, jnt_qposadr, jnt_dofadr, qpos + world * nq,
                                  qvel + world * nv, dt);
}

// Model and Data views travel as kernel parameters (by value, no device-side table).
static_assert(sizeof(pws::ModelView<float>) + sizeof(pws::DataView<float>) + 64 <= pws::kMaxKernelParamBytes,
              "step kernel parameters exceed CUDA's parameter block");

// Two instances: with the GJK/EPA collider (its EPA scratch makes the per-thread stack ~37 KB
// instead of ~5 KB and adds spills) only for models that have convex pairs.
// One thread per world; with a per-thread workspace (d.nslot > 0) `nthread` threads, each
// stepping worlds tid, tid + nthread, ... in turn with its own workspace row tid.
template <bool kConvexPairs>
__global__ void step_kernel(const pws::ModelView<float> m, const pws::DataView<float> d, int64_t nworld,
                            int64_t nthread, int nsteps, int forward_only) {
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (tid >= nthread) return;
  for (int64_t world = tid; world < nworld; world += nthread) {
    pws::World<float> wd = pws::world_view(m, d, world, tid);
    if (forward_only) {
      pws::begin_step(wd);
      pws::forward_world<float, kConvexPairs>(m, wd);
    } else {
      for (int s = 0; s < nsteps; ++s) pws::step_world<float, kConvexPairs>(m, wd);
    }
  }
}

constexpr int kStepBlock = 64;  // small blocks: one world per thread with a large working set

// The same loop with each world staged in a local array of kStage scalars (kernels/step_stage.h):
// the hardware interleaves local memory across a warp's threads, so same-offset accesses of the
// warp's worlds coalesce. The driver reserves kStage * 4 bytes per resident thread.
template <bool kConvexPairs, int kStage>
__global__ void step_kernel_staged(const pws::ModelView<float> m, const pws::DataView<float> d, int64_t nworld,
                                   int64_t nthread, int nsteps, int forward_only) {
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (tid >= nthread) return;
  float buf[kStage];
  for (int64_t world = tid; world < nworld; world += nthread) {
    const pws::World<float> global = pws::world_view(m, d, world, tid);
    const pws::World<float> wd = pws::stage_in(global, d, buf);
    if (forward_only) {
      pws::begin_step(wd);
      pws::forward_world<float, kConvexPairs>(m, wd);
    } else {
      for (int s = 0; s < nsteps; ++s) pws::step_world<float, kConvexPairs>(m, wd);
    }
    pws::stage_out(wd, d, global);
  }
}

using StepKernel = void (*)(const pws::ModelView<float>, const pws::DataView<float>, int64_t, int64_t, int, int);

// The staged instance whose buffer holds `scalars` (16 or 64 KiB), or nullptr.
StepKernel staged_kernel(bool convex, int64_t scalars) {
  static_assert(pws_cuda::kMaxStageScalars == 16384, "staged_kernel instances");
  if (scalars <= 4096) return convex ? step_kernel_staged<true, 4096> : step_kernel_staged<false, 4096>;
  if (scalars <= 16384) return convex ? step_kernel_staged<true, 16384> : step_kernel_staged<false, 16384>;
  return nullptr;
}

// Simulator.reset: one thread per world whose mask entry is set runs reset_world, the function
// the step's auto reset runs (kernels/forward.h); kStage > 0: staged as the step is (tiled
// arrays), in a local buffer of kStage scalars.
template <int kStage>
__global__ void reset_kernel(const pws::ModelView<float> m, const pws::DataView<float> d, int64_t nworld,
                             const int* __restrict__ mask) {
  const int64_t w = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (w >= nworld || !mask[w]) return;
  const pws::World<float> global = pws::world_view(m, d, w, 0);
  if constexpr (kStage > 0) {
    float buf[kStage];
    const pws::World<float> wd = pws::stage_in(global, d, buf);
    pws::reset_world(m, wd);
    pws::stage_out(wd, d, global);
  } else {
    pws::reset_world(m, global);
  }
}

// Makes `device` current (a no-op when it is).
cudaError_t use_device(int device) {
  int current = -1;
  cudaError_t err = cudaGetDevice(&current);
  if (err == cudaSuccess && current != device) err = cudaSetDevice(device);
  return err;
}

}  // namespace

namespace pws_cuda {

const char* launch_reset(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld,
                         const int* mask, int device, std::uintptr_t stream, bool staging) {
  if (nworld <= 0) return nullptr;
  cudaError_t err = use_device(device);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  using ResetKernel = void (*)(const pws::ModelView<float>, const pws::DataView<float>, int64_t, const int*);
  ResetKernel kernel = reset_kernel<0>;
  if (staging) {
    const int64_t scalars = pws::stage_scalars(d);
    kernel = scalars <= 4096 ? reset_kernel<4096> : scalars <= kMaxStageScalars ? reset_kernel<16384> : nullptr;
    if (!kernel) return "the staging buffer exceeds the reset kernel's largest (64 KiB): lower nconmax";
  }
  const int64_t grid = (nworld + kStepBlock - 1) / kStepBlock;
  kernel<<<static_cast<unsigned int>(grid), kStepBlock, 0, reinterpret_cast<cudaStream_t>(stream)>>>(m, d, nworld,
                                                                                                     mask);
  err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

const char* launch_step(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld, int nsteps,
                        bool forward_only, int device, std::uintptr_t stream, bool staging) {
  if (nworld <= 0 || nsteps <= 0) return nullptr;
  cudaError_t err = use_device(device);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  const int64_t nthread = d.nslot ? (d.nslot < nworld ? d.nslot : nworld) : nworld;
  const int64_t grid = (nthread + kStepBlock - 1) / kStepBlock;
  StepKernel kernel = m.has_convex ? step_kernel<true> : step_kernel<false>;
  if (!staging && pws::data_tiled(d)) {
    return "the Data arrays are tiled (Simulator(layout='tiled')): the step reads them only staged";
  }
  if (staging) {
    kernel = staged_kernel(m.has_convex != 0, pws::stage_scalars(d));
    if (!kernel) return "the staging buffer exceeds the step kernel's largest (64 KiB): lower nconmax";
  }
  kernel<<<static_cast<unsigned int>(grid), kStepBlock, 0, reinterpret_cast<cudaStream_t>(stream)>>>(
      m, d, nworld, nthread, nsteps, forward_only ? 1 : 0);
  err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}


const char* launch_integrate_pos(int njnt, const int* jnt_type, const int* jnt_qposadr, const int* jnt_dofadr,
                                 float* qpos, const float* qvel, int64_t nworld, int64_t nq, int64_t nv, float dt,
                                 std::uintptr_t stream) {
  if (nworld <= 0) return nullptr;
  constexpr int kBlock = 128;
  const int64_t grid = (nworld + kBlock - 1) / kBlock;
  integrate_pos_kernel<<<static_cast<unsigned int>(grid), kBlock, 0, reinterpret_cast<cudaStream_t>(stream)>>>(
      njnt, jnt_type, jnt_qposadr, jnt_dofadr, qpos, qvel, nworld, nq, nv, dt);
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

int64_t resident_step_threads(int device, bool convex_pairs, const char** error) {
  int blocks = 0, sms = 0;
  auto kernel = convex_pairs ? step_kernel<true> : step_kernel<false>;
  cudaError_t err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kStepBlock, 0);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (error) *error = cudaGetErrorString(err);
    return -1;
  }
  return static_cast<int64_t>(blocks) * sms * kStepBlock;
}

int device_count(const char** error) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    // Not a sticky error: clear it so a later cudaGetLastError() does not report it again.
    cudaGetLastError();
    if (error) *error = cudaGetErrorString(err);
    return -1;
  }
  return count;
}

}  // namespace pws_cuda
