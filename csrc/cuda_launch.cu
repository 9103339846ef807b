// CUDA launchers of the header-only kernels in kernels/. No physics here.

#include <cuda_runtime.h>

#include "cuda_launch.h"
#include "integrate_pos.h"

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

}  // namespace

namespace pws_cuda {

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
