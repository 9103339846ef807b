// Host-side declarations of the CUDA launchers in cuda_launch.cu. Plain C++ types only,
// so cuda_bindings.cpp compiles with the host compiler and without CUDA headers.
#pragma once

#include <cstdint>

#include "types.h"

namespace pws_cuda {

// Each launcher returns nullptr on success, or the CUDA error string of the
// failed launch. Launches are asynchronous on `stream` (0 = legacy default stream).

// One thread per world: mj_integratePos on qpos (nworld, nq) with qvel (nworld, nv),
// float32, all pointers device pointers; joint tables int32 (njnt,) on the device.
const char* launch_integrate_pos(int njnt, const int* jnt_type, const int* jnt_qposadr, const int* jnt_dofadr,
                                 float* qpos, const float* qvel, int64_t nworld, int64_t nq, int64_t nv, float dt,
                                 std::uintptr_t stream);

// One thread per world: nsteps fused steps (kernels/forward.h) of every world, or one forward
// when forward_only. Makes `device` current, launches on `stream` and returns; no allocation,
// copy or synchronisation. m and d hold device addresses.
// staging: each thread steps its worlds inside a local-memory buffer (kernels/step_stage.h);
// needs pws::stage_scalars(d) <= kMaxStageScalars.
const char* launch_step(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld, int nsteps,
                        bool forward_only, int device, std::uintptr_t stream, bool staging = false);

// One thread per world: kernels/forward.h's reset_world (the step's auto reset runs the same)
// for every world w with mask[w] != 0 (int32, nworld, device memory); staging as launch_step.
const char* launch_reset(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld,
                         const int* mask, int device, std::uintptr_t stream, bool staging = false);

// The largest staging buffer of the step kernel, in 4-byte scalars (64 KiB per thread).
constexpr int64_t kMaxStageScalars = 16384;

// Threads of the step kernel that are resident at once on `device` (occupancy x SMs): the
// rows of a per-thread workspace; on failure returns -1 and sets *error.
int64_t resident_step_threads(int device, bool convex_pairs, const char** error);

// Number of visible CUDA devices; on failure returns -1 and sets *error.
int device_count(const char** error);

}  // namespace pws_cuda
