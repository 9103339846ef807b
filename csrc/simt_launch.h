// Host-side declarations of the lane-group (SIMT) launchers in simt_launch.cu. Plain C++ types
// only, so cuda_bindings.cpp compiles with the host compiler and without CUDA headers.
#pragma once

#include <cstdint>

#include "simt_smooth.h"
#include "simt_solver.h"
#include "simt_step.h"
#include "types.h"

namespace pws_cuda {

// Threads per block of the lane-group kernels (kSimtBlock / group_size worlds per block), fewer where
// the worlds' shared arrays pass the device's per-block limit (simt::block_worlds).
constexpr int kSimtBlock = 128;

// The smooth stage (kernels/simt_smooth.h) of every world, group_size (8, 16, 32) lanes per
// world; m and d hold device addresses, `tree` is the host schedule (copied to the device for
// the call). Synchronous: returns after the kernel finished; nullptr on success, else the CUDA
// error (or a sentence saying what is wrong).
const char* simt_smooth(const pws::ModelView<float>& m, const pws::DataView<float>& d, const pws::simt::TreeHost& tree,
                        int64_t nworld, int group_size, int device, std::uintptr_t stream);

// The Newton solver (kernels/simt_solver.h) of every world from the rows in d, group_size (8, 16,
// 32) lanes per world; m and d hold device addresses. The caller refuses what it cannot run
// (pywarp_sim.simt.solve: other solvers, elliptic cones). Synchronous; nullptr on success.
const char* simt_solve(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld, int group_size,
                       int device, std::uintptr_t stream);

// The collision (kernels/simt_collision.h) / the constraint rows (kernels/simt_constraint.h) of
// every world, group_size (8, 16, 32) lanes per world; m and d hold device addresses. The caller
// refuses what they cannot run (pywarp_sim.simt: convex pairs; elliptic cones, equality rows).
// Synchronous; nullptr on success.
const char* simt_collision(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld,
                           int group_size, int device, std::uintptr_t stream);
const char* simt_make_constraint(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld,
                                 int group_size, int device, std::uintptr_t stream);

// nsteps fused lane-group steps (kernels/simt_step.h) of every world, group_size (8, 16, 32)
// lanes per world: one group per world, or (persistent) a grid of resident blocks whose groups
// take worlds from an atomic counter. With the workspace held per group slot (d.nslot > 0,
// Simulator(workspace="group")) the launch is the persistent one, group k stepping its worlds in
// slot k; fewer slots than the grid's groups are refused by name (simt::slot_refusal). m and d
// hold device addresses; `tree` and `act_exp` (simt::act_exp_table) are host tables copied to the
// device for the call. The caller refuses what the step cannot run (simt::step_refusal;
// pywarp_sim.simt.step). Synchronous; nullptr on success.
const char* simt_step(const pws::ModelView<float>& m, const pws::DataView<float>& d, const pws::simt::TreeHost& tree,
                      const std::vector<float>& act_exp, int64_t nworld, int group_size, int nsteps, bool persistent,
                      int device, std::uintptr_t stream);

// The workspace slots a persistent step launch of nworld worlds at group_size lanes runs on
// `device` (simt::persistent_groups of the occupancy calculator's resident blocks, the grid
// launch_step sizes from the same query): the rows a Simulator(workspace="group") allocates.
// nullptr on success, *slots set.
const char* simt_step_slots(const pws::ModelView<float>& m, int64_t nworld, int group_size, int device,
                            int64_t* slots);

// The cached step launch of one Simulator (pywarp_sim.simt.LaunchPlan on CUDA): create allocates
// and fills, synchronously, a device buffer holding the tree schedule, act_exp (simt::act_exp_table),
// the persistent launch's world counter and the launch arguments, and finds the launch shapes of both
// step kernels at 8, 16 and 32 lanes, of the instance m.has_convex picks (the occupancy queries and
// the shared memory opt-in, once per kernel, shared bytes and device for the process); launch
// queues nsteps fused steps on `stream` asynchronously, with no allocation, synchronisation,
// occupancy query or cudaFuncSetAttribute: one step reads an argument block written at creation
// (so a CUDA graph captures it), n steps first write their count into a second block in stream
// order, the persistent launch first clears the counter (cudaMemsetAsync). m and d hold device
// addresses, as simt_step's. nullptr on success; a model whose shared arrays pass the device's
// per-block limit is refused by the launch, naming the sizes. free releases the buffer.
struct SimtStepBuffer;
const char* simt_step_buffer_create(const pws::ModelView<float>& m, const pws::simt::TreeHost& tree,
                                    const std::vector<float>& act_exp, int64_t nworld, int device,
                                    SimtStepBuffer** out);
const char* simt_step_buffer_launch(const SimtStepBuffer* buffer, const pws::ModelView<float>& m,
                                    const pws::DataView<float>& d, int64_t nworld, int group_size, int nsteps,
                                    bool persistent, std::uintptr_t stream);
void simt_step_buffer_free(SimtStepBuffer* buffer);

// simt::primitive_check on one group of n lanes (8, 16, 32) on `device`: host arrays in and out
// (x, k, src: n entries; out_f: 8 * n; out_i: 4 * n). Synchronous.
const char* simt_primitives(const float* x, const int* k, const int* src, int n, int delta, int lane_mask,
                            float* out_f, int* out_i, int device);

}  // namespace pws_cuda
