// CUDA launchers of the lane-group (SIMT) kernels: kernels/simt_smooth.h, kernels/simt_solver.h,
// kernels/simt_collision.h and kernels/simt_constraint.h with one world per group of 8, 16 or 32
// lanes, qM / the Hessian and their factors (or the rows' scratch ints) in shared memory. Compiled with -fmad=false
// (CMakeLists.txt; kernels/simt.h rule 3) so the results equal the CPU emulation bit for bit.
// No physics here.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>

#include "simt_collision.h"
#include "simt_constraint.h"
#include "simt_launch.h"
#include "simt_launch_shape.h"
#include "simt_smooth.h"
#include "simt_solver.h"

namespace pws_cuda {
namespace simt_launch {
namespace {

// The shapes found, per (kernel instance, group size, shared words per group, device), and the
// dynamic shared memory opt-in set per (kernel instance, device). A shape depends on nothing else,
// so the occupancy queries and cudaFuncSetAttribute run once per key, not per launch (nor inside a
// CUDA graph capture of a launch whose shape a SimtStepBuffer found at creation). The opt-in only
// rises: a kernel launched with the shapes of several models keeps the largest they need (it is a
// per-block cap; the occupancy of a launch follows the bytes it asks for).
struct ShapeKey {
  const void* kernel;
  int group_size, nshared, device;
  bool operator<(const ShapeKey& o) const {
    return std::tie(kernel, group_size, nshared, device) < std::tie(o.kernel, o.group_size, o.nshared, o.device);
  }
};
struct ShapeEntry {
  LaunchShape shape;
  std::string refusal;  // non-empty: one world's arrays pass the device's per-block limit
};
std::mutex shape_mutex;
std::map<ShapeKey, ShapeEntry> shape_cache;                     // under shape_mutex
std::map<std::pair<const void*, int>, int64_t> optin_bytes;     // under shape_mutex

}  // namespace

// The launch shape of `kernel` on the current device, from the cache or the occupancy calculator
// (then kept). Returns nullptr, or the CUDA error (not kept: the next call asks again), or the
// sentence naming the sizes when one world's arrays pass the limit (kept; the text lives as long
// as the process; *refused set where given).
const char* launch_shape(const void* kernel, int group_size, int nshared, const char* what, LaunchShape* shape,
                         bool* refused) {
  if (refused) *refused = false;
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  const ShapeKey key{kernel, group_size, nshared, device};
  std::lock_guard<std::mutex> lock(shape_mutex);
  auto found = shape_cache.find(key);
  if (found == shape_cache.end()) {
    int limit = 0, sms = 0;
    err = cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
    if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (err != cudaSuccess) return cudaGetErrorString(err);
    const int64_t per_world = int64_t(sizeof(float)) * nshared;
    // the opt-in for the largest block considered, so that the occupancy calculator sees each shape
    const int64_t most = std::min<int64_t>(int64_t(limit), per_world * (pws_cuda::kSimtBlock / group_size));
    int64_t& optin = optin_bytes[{key.kernel, device}];
    if (most > 48 * 1024 && most > optin) {
      err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(most));
      if (err != cudaSuccess) return cudaGetErrorString(err);
      optin = most;
    }
    ShapeEntry entry;
    int per_sm = 0;  // blocks per SM of the shape chosen
    entry.shape.worlds = pws::simt::block_worlds(pws_cuda::kSimtBlock, group_size, per_world, limit, [&](int w) {
      int blocks = 0;
      if (err == cudaSuccess)
        err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, w * group_size, size_t(per_world) * w);
      return blocks;
    });
    if (err != cudaSuccess) return cudaGetErrorString(err);
    if (entry.shape.worlds == 0) {
      entry.refusal = std::string(what) + " needs " + std::to_string(per_world) +
                      " bytes of shared memory per world (its arrays for this model's nv, npair and nconmax), more " +
                      "than this device's " + std::to_string(limit) + " per block: use the native step for this model";
    } else {
      entry.shape.threads = entry.shape.worlds * group_size;
      entry.shape.shared_bytes = size_t(per_world) * entry.shape.worlds;
      err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, entry.shape.threads,
                                                          entry.shape.shared_bytes);
      if (err != cudaSuccess) return cudaGetErrorString(err);
      entry.shape.resident_blocks = int64_t(sms) * (per_sm > 0 ? per_sm : 1);
    }
    found = shape_cache.emplace(key, std::move(entry)).first;
  }
  if (!found->second.refusal.empty()) {
    if (refused) *refused = true;
    return found->second.refusal.c_str();
  }
  *shape = found->second.shape;
  return nullptr;
}

}  // namespace simt_launch
}  // namespace pws_cuda

namespace {

using pws_cuda::simt_launch::LaunchShape;
using pws_cuda::simt_launch::StepLaunchArgs;
using pws_cuda::simt_launch::launch_shape;

// The views travel as kernel parameters, as the step kernel's; the tree schedule as one pointer
// to its device buffer (tree_view reads its header there).
static_assert(sizeof(pws::ModelView<float>) + sizeof(pws::DataView<float>) + 64 <= pws::kMaxKernelParamBytes,
              "simt kernel parameters exceed CUDA's parameter block");

// Group `threadIdx.x / N` of the block steps world blockIdx.x * (blockDim.x / N) + group, in its
// slice of the dynamic shared memory (nshared floats). A block holds kSimtBlock / N worlds, fewer
// where their shared arrays pass the per-block limit (launch_shape).
using pws_cuda::simt_launch::kSimtMinBlocks;
template <int N>
__global__ void __launch_bounds__(pws_cuda::kSimtBlock, kSimtMinBlocks)
    simt_smooth_kernel(const pws::ModelView<float> m, const pws::DataView<float> d, const int* tree,
                       int64_t nworld, int nshared) {
  extern __shared__ float smem[];
  const int group = threadIdx.x / N;
  const int64_t world = static_cast<int64_t>(blockIdx.x) * (blockDim.x / N) + group;
  if (world >= nworld) return;  // whole groups leave together
  pws::simt::CudaGroup<N> g(smem + group * nshared);
  const pws::World<float> wd = pws::world_view(m, d, world, 0);
  pws::simt::smooth(g, m, wd, pws::simt::tree_view(tree));
}

// The Newton solver of world blockIdx.x * (blockDim.x / N) + group on group `threadIdx.x / N`,
// M and the Hessian's factor in its slice of the dynamic shared memory (nshared floats). The
// same launch bounds as the smooth stage until a GPU measures them.
template <int N>
__global__ void __launch_bounds__(pws_cuda::kSimtBlock, kSimtMinBlocks)
    simt_newton_kernel(const pws::ModelView<float> m, const pws::DataView<float> d, int64_t nworld, int nshared) {
  extern __shared__ float smem[];
  const int group = threadIdx.x / N;
  const int64_t world = static_cast<int64_t>(blockIdx.x) * (blockDim.x / N) + group;
  if (world >= nworld) return;  // whole groups leave together
  pws::simt::CudaGroup<N> g(smem + group * nshared);
  pws::simt::newton_solve(g, m, pws::world_view(m, d, world, 0));
}

// The collision (kRowsCollision) or the constraint rows (kRowsConstraint) of world
// blockIdx.x * (blockDim.x / N) + group on group `threadIdx.x / N`, its scratch ints (the
// survivors' pair ids / the contacts' first rows) in its slice of the dynamic shared memory
// (nshared ints). The same launch bounds as the smooth stage until a GPU measures them.
enum : int { kRowsCollision = 0, kRowsConstraint = 1 };
template <int N, int kKernel>
__global__ void __launch_bounds__(pws_cuda::kSimtBlock, kSimtMinBlocks)
    simt_rows_kernel(const pws::ModelView<float> m, const pws::DataView<float> d, int64_t nworld, int nshared) {
  extern __shared__ float smem[];
  const int group = threadIdx.x / N;
  const int64_t world = static_cast<int64_t>(blockIdx.x) * (blockDim.x / N) + group;
  if (world >= nworld) return;  // whole groups leave together
  pws::simt::CudaGroup<N> g(smem + group * nshared);
  int* scratch = reinterpret_cast<int*>(smem + group * nshared);
  if (kKernel == kRowsCollision)
    pws::simt::collision(g, m, pws::world_view(m, d, world, 0), scratch);
  else
    pws::simt::make_constraint(g, m, pws::world_view(m, d, world, 0), scratch);
}

template <int N>
__global__ void primitives_kernel(const float* x, const int* k, const int* src, int delta, int lane_mask,
                                  float* out_f, int* out_i) {
  pws::simt::CudaGroup<N> g(nullptr);
  pws::simt::primitive_check(g, x, k, src, delta, lane_mask, out_f, out_i);
}


template <int N>
const char* launch_smooth(const pws::ModelView<float>& m, const pws::DataView<float>& d, const int* tree,
                          int64_t nworld, cudaStream_t stream) {
  const int nshared = pws::simt::shared_floats(m.nv);
  LaunchShape shape;
  if (const char* e = launch_shape(reinterpret_cast<const void*>(simt_smooth_kernel<N>), N, nshared, "the lane-group smooth stage", &shape)) return e;
  simt_smooth_kernel<N><<<static_cast<unsigned int>(shape.grid(nworld)), shape.threads, shape.shared_bytes, stream>>>(
      m, d, tree, nworld, nshared);
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

template <int N>
const char* launch_newton(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld,
                          cudaStream_t stream) {
  const int nshared = pws::simt::solver_shared_floats(m.nv);
  LaunchShape shape;
  if (const char* e = launch_shape(reinterpret_cast<const void*>(simt_newton_kernel<N>), N, nshared, "the lane-group solver", &shape)) return e;
  simt_newton_kernel<N><<<static_cast<unsigned int>(shape.grid(nworld)), shape.threads, shape.shared_bytes, stream>>>(
      m, d, nworld, nshared);
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

const char* set_device(int device) {
  int current = -1;
  cudaError_t err = cudaGetDevice(&current);
  if (err == cudaSuccess && current != device) err = cudaSetDevice(device);
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

template <int N, int kKernel>
const char* launch_rows(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld,
                        cudaStream_t stream) {
  int nshared = kKernel == kRowsCollision ? pws::simt::collision_scratch_ints(m) : pws::simt::constraint_scratch_ints(m);
  nshared = nshared > 0 ? nshared : 1;
  LaunchShape shape;
  if (const char* e = launch_shape(reinterpret_cast<const void*>(simt_rows_kernel<N, kKernel>), N, nshared,
                                   kKernel == kRowsCollision ? "the lane-group collision" : "the lane-group rows",
                                   &shape))
    return e;
  simt_rows_kernel<N, kKernel>
      <<<static_cast<unsigned int>(shape.grid(nworld)), shape.threads, shape.shared_bytes, stream>>>(m, d, nworld,
                                                                                                    nshared);
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

template <int kKernel>
const char* run_rows(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld, int group_size,
                     int device, std::uintptr_t stream) {
  if (group_size != 8 && group_size != 16 && group_size != 32) return "group_size must be 8, 16 or 32";
  if (d.nslot != 0) return "the lane-group kernels need the per-world workspace (Simulator(workspace='world'))";
  if (nworld <= 0) return nullptr;
  if (const char* e = set_device(device)) return e;
  auto s = reinterpret_cast<cudaStream_t>(stream);
  const char* e = group_size == 32 ? launch_rows<32, kKernel>(m, d, nworld, s)
                  : group_size == 16 ? launch_rows<16, kKernel>(m, d, nworld, s)
                                     : launch_rows<8, kKernel>(m, d, nworld, s);
  cudaError_t err = cudaStreamSynchronize(s);
  if (e) return e;
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

// The fused step's shape at group_size lanes: the persistent kernel's or the one-group-per-world
// kernel's, of the instance with the convex collider (convex: ModelView::has_convex) or without.
// Each instance has its own entries in the shape cache (its own kernel address).
const char* step_shape(int group_size, bool convex, int nshared, bool persistent, LaunchShape* shape,
                       bool* refused = nullptr) {
  if (convex)
    return group_size == 32 ? pws_cuda::simt_launch::step_shape<32, true>(nshared, persistent, shape, refused)
           : group_size == 16 ? pws_cuda::simt_launch::step_shape<16, true>(nshared, persistent, shape, refused)
                              : pws_cuda::simt_launch::step_shape<8, true>(nshared, persistent, shape, refused);
  return group_size == 32 ? pws_cuda::simt_launch::step_shape<32, false>(nshared, persistent, shape, refused)
         : group_size == 16 ? pws_cuda::simt_launch::step_shape<16, false>(nshared, persistent, shape, refused)
                            : pws_cuda::simt_launch::step_shape<8, false>(nshared, persistent, shape, refused);
}

const char* launch_step(const pws::ModelView<float>& m, const pws::DataView<float>& d, const StepLaunchArgs* args,
                        int64_t nworld, int group_size, const LaunchShape& shape, bool persistent,
                        cudaStream_t stream) {
  if (m.has_convex)
    return group_size == 32 ? pws_cuda::simt_launch::launch_step<32, true>(m, d, args, nworld, shape, persistent, stream)
           : group_size == 16 ? pws_cuda::simt_launch::launch_step<16, true>(m, d, args, nworld, shape, persistent, stream)
                              : pws_cuda::simt_launch::launch_step<8, true>(m, d, args, nworld, shape, persistent, stream);
  return group_size == 32 ? pws_cuda::simt_launch::launch_step<32, false>(m, d, args, nworld, shape, persistent, stream)
         : group_size == 16 ? pws_cuda::simt_launch::launch_step<16, false>(m, d, args, nworld, shape, persistent, stream)
                            : pws_cuda::simt_launch::launch_step<8, false>(m, d, args, nworld, shape, persistent, stream);
}

}  // namespace

namespace pws_cuda {

const char* simt_smooth(const pws::ModelView<float>& m, const pws::DataView<float>& d, const pws::simt::TreeHost& tree,
                        int64_t nworld, int group_size, int device, std::uintptr_t stream) {
  if (group_size != 8 && group_size != 16 && group_size != 32) return "group_size must be 8, 16 or 32";
  if (d.nslot != 0) return "the lane-group stage needs the per-world workspace (Simulator(workspace='world'))";
  if (nworld <= 0) return nullptr;
  if (const char* e = set_device(device)) return e;
  auto s = reinterpret_cast<cudaStream_t>(stream);
  int* buf = nullptr;
  const size_t bytes = sizeof(int) * tree.buf.size();
  cudaError_t err = cudaMalloc(&buf, bytes);
  if (err == cudaSuccess) err = cudaMemcpyAsync(buf, tree.buf.data(), bytes, cudaMemcpyHostToDevice, s);
  if (err != cudaSuccess) {
    cudaFree(buf);
    return cudaGetErrorString(err);
  }
  const char* e = group_size == 32 ? launch_smooth<32>(m, d, buf, nworld, s)
                  : group_size == 16 ? launch_smooth<16>(m, d, buf, nworld, s)
                                     : launch_smooth<8>(m, d, buf, nworld, s);
  err = cudaStreamSynchronize(s);
  cudaFree(buf);
  if (e) return e;
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

const char* simt_solve(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld, int group_size,
                       int device, std::uintptr_t stream) {
  if (group_size != 8 && group_size != 16 && group_size != 32) return "group_size must be 8, 16 or 32";
  if (d.nslot != 0) return "the lane-group solver needs the per-world workspace (Simulator(workspace='world'))";
  if (nworld <= 0) return nullptr;
  if (const char* e = set_device(device)) return e;
  auto s = reinterpret_cast<cudaStream_t>(stream);
  const char* e = group_size == 32 ? launch_newton<32>(m, d, nworld, s)
                  : group_size == 16 ? launch_newton<16>(m, d, nworld, s)
                                     : launch_newton<8>(m, d, nworld, s);
  cudaError_t err = cudaStreamSynchronize(s);
  if (e) return e;
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

const char* simt_collision(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld,
                           int group_size, int device, std::uintptr_t stream) {
  return run_rows<kRowsCollision>(m, d, nworld, group_size, device, stream);
}

const char* simt_make_constraint(const pws::ModelView<float>& m, const pws::DataView<float>& d, int64_t nworld,
                                 int group_size, int device, std::uintptr_t stream) {
  return run_rows<kRowsConstraint>(m, d, nworld, group_size, device, stream);
}

const char* simt_step(const pws::ModelView<float>& m, const pws::DataView<float>& d, const pws::simt::TreeHost& tree,
                      const std::vector<float>& act_exp, int64_t nworld, int group_size, int nsteps, bool persistent,
                      int device, std::uintptr_t stream) {
  if (group_size != 8 && group_size != 16 && group_size != 32) return "group_size must be 8, 16 or 32";
  if (nworld <= 0 || nsteps <= 0) return nullptr;
  if (const char* e = set_device(device)) return e;
  auto s = reinterpret_cast<cudaStream_t>(stream);
  const int nshared = pws::simt::step_shared_floats(m) > 0 ? pws::simt::step_shared_floats(m) : 1;
  // one device buffer: the arguments, the world counter, the tree schedule, act_exp
  const size_t tree_bytes = sizeof(int) * tree.buf.size(), exp_bytes = sizeof(float) * act_exp.size();
  const size_t counter_at = (sizeof(StepLaunchArgs) + 7) / 8 * 8;
  // the tree schedule from a 32-byte sector (its arrays start on sectors within it: build_tree)
  const size_t head = (counter_at + sizeof(unsigned long long) + 31) / 32 * 32;
  char* buf = nullptr;
  cudaError_t err = cudaMalloc(&buf, head + tree_bytes + exp_bytes);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  StepLaunchArgs args;
  args.next_world = reinterpret_cast<unsigned long long*>(buf + counter_at);
  args.tree = reinterpret_cast<const int*>(buf + head);
  args.act_exp = reinterpret_cast<const float*>(buf + head + tree_bytes);
  args.nworld = nworld;
  args.nshared = nshared;
  args.nsteps = nsteps;
  err = cudaMemcpyAsync(buf, &args, sizeof(args), cudaMemcpyHostToDevice, s);
  if (err == cudaSuccess) err = cudaMemsetAsync(args.next_world, 0, sizeof(unsigned long long), s);
  if (err == cudaSuccess)
    err = cudaMemcpyAsync(buf + head, tree.buf.data(), tree_bytes, cudaMemcpyHostToDevice, s);
  if (err == cudaSuccess)
    err = cudaMemcpyAsync(buf + head + tree_bytes, act_exp.data(), exp_bytes, cudaMemcpyHostToDevice, s);
  const char* e = nullptr;
  if (err == cudaSuccess) {
    const bool run_persistent = persistent || d.nslot != 0;
    LaunchShape shape;
    e = step_shape(group_size, m.has_convex != 0, nshared, run_persistent, &shape);
    if (!e)
      e = launch_step(m, d, reinterpret_cast<const StepLaunchArgs*>(buf), nworld, group_size, shape, run_persistent,
                      s);
  }
  cudaError_t sync = cudaStreamSynchronize(s);  // `args` and the buffer live until the kernel is done
  cudaFree(buf);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  if (e) return e;
  return sync == cudaSuccess ? nullptr : cudaGetErrorString(sync);
}

const char* simt_step_slots(const pws::ModelView<float>& m, int64_t nworld, int group_size, int device,
                            int64_t* slots) {
  if (group_size != 8 && group_size != 16 && group_size != 32) return "group_size must be 8, 16 or 32";
  if (const char* e = set_device(device)) return e;
  const int nshared = pws::simt::step_shared_floats(m) > 0 ? pws::simt::step_shared_floats(m) : 1;
  LaunchShape shape;
  if (const char* e = step_shape(group_size, m.has_convex != 0, nshared, true, &shape)) return e;
  *slots = pws::simt::persistent_groups(nworld, shape.resident_blocks, shape.worlds);
  return nullptr;
}

const char* simt_primitives(const float* x, const int* k, const int* src, int n, int delta, int lane_mask,
                            float* out_f, int* out_i, int device) {
  if (n != 8 && n != 16 && n != 32) return "a group has 8, 16 or 32 lanes";
  if (const char* e = set_device(device)) return e;
  float *dx = nullptr, *df = nullptr;
  int *dk = nullptr, *ds = nullptr, *di = nullptr;
  cudaError_t err = cudaMalloc(&dx, n * sizeof(float));
  if (err == cudaSuccess) err = cudaMalloc(&dk, n * sizeof(int));
  if (err == cudaSuccess) err = cudaMalloc(&ds, n * sizeof(int));
  if (err == cudaSuccess) err = cudaMalloc(&df, pws::simt::kPrimitiveFloatRows * n * sizeof(float));
  if (err == cudaSuccess) err = cudaMalloc(&di, 4 * n * sizeof(int));
  if (err == cudaSuccess) err = cudaMemcpy(dx, x, n * sizeof(float), cudaMemcpyHostToDevice);
  if (err == cudaSuccess) err = cudaMemcpy(dk, k, n * sizeof(int), cudaMemcpyHostToDevice);
  if (err == cudaSuccess) err = cudaMemcpy(ds, src, n * sizeof(int), cudaMemcpyHostToDevice);
  if (err == cudaSuccess) {
    if (n == 32) primitives_kernel<32><<<1, 32>>>(dx, dk, ds, delta, lane_mask, df, di);
    if (n == 16) primitives_kernel<16><<<1, 16>>>(dx, dk, ds, delta, lane_mask, df, di);
    if (n == 8) primitives_kernel<8><<<1, 8>>>(dx, dk, ds, delta, lane_mask, df, di);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess)
    err = cudaMemcpy(out_f, df, pws::simt::kPrimitiveFloatRows * n * sizeof(float), cudaMemcpyDeviceToHost);
  if (err == cudaSuccess) err = cudaMemcpy(out_i, di, 4 * n * sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(dx);
  cudaFree(dk);
  cudaFree(ds);
  cudaFree(df);
  cudaFree(di);
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}


// ---- the cached step launch (pywarp_sim.simt.LaunchPlan on CUDA) ---------------------------------

// One device buffer per plan, filled once: two argument blocks (one step, for a CUDA graph to
// capture without a copy; n steps, whose count a launch of n != 1 steps writes), the persistent
// launch's world counter, the tree schedule and act_exp.
// The launch shapes of both step kernels at each group size, of the instance the model's
// has_convex picks (launch_step), are found at creation (step_shape), so
// that a launch only queues the kernel: no occupancy query or cudaFuncSetAttribute on the stepping
// path, none inside a CUDA graph capture.
struct SimtStepBuffer {
  char* buf = nullptr;
  size_t counter_at = 0;
  int device = 0;
  int nshared = 1;
  bool convex = false;               // the model's has_convex: the step instance whose shapes these are
  LaunchShape shape[3][2];           // [8, 16, 32 lanes][one group per world, persistent]
  const char* refusal[3][2] = {};   // launch_shape's sentence where one world's arrays pass the limit
};

int group_index(int group_size) { return group_size == 32 ? 2 : group_size == 16 ? 1 : 0; }

const char* simt_step_buffer_create(const pws::ModelView<float>& m, const pws::simt::TreeHost& tree,
                                    const std::vector<float>& act_exp, int64_t nworld, int device,
                                    SimtStepBuffer** out) {
  *out = nullptr;
  if (const char* e = set_device(device)) return e;
  const int nshared = pws::simt::step_shared_floats(m) > 0 ? pws::simt::step_shared_floats(m) : 1;
  const size_t tree_bytes = sizeof(int) * tree.buf.size(), exp_bytes = sizeof(float) * act_exp.size();
  const size_t slot = (sizeof(StepLaunchArgs) + 15) / 16 * 16;
  const size_t counter_at = 2 * slot;
  const size_t head = (counter_at + sizeof(unsigned long long) + 31) / 32 * 32;  // as simt_step's
  char* buf = nullptr;
  cudaError_t err = cudaMalloc(&buf, head + tree_bytes + exp_bytes);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  StepLaunchArgs args[2];
  for (int i = 0; i < 2; ++i) {
    args[i].next_world = reinterpret_cast<unsigned long long*>(buf + counter_at);
    args[i].tree = reinterpret_cast<const int*>(buf + head);
    args[i].act_exp = reinterpret_cast<const float*>(buf + head + tree_bytes);
    args[i].nworld = nworld;
    args[i].nshared = nshared;
    args[i].nsteps = 1;
  }
  err = cudaMemcpy(buf, &args[0], sizeof(StepLaunchArgs), cudaMemcpyHostToDevice);
  if (err == cudaSuccess) err = cudaMemcpy(buf + slot, &args[1], sizeof(StepLaunchArgs), cudaMemcpyHostToDevice);
  if (err == cudaSuccess && tree_bytes)
    err = cudaMemcpy(buf + head, tree.buf.data(), tree_bytes, cudaMemcpyHostToDevice);
  if (err == cudaSuccess && exp_bytes)
    err = cudaMemcpy(buf + head + tree_bytes, act_exp.data(), exp_bytes, cudaMemcpyHostToDevice);
  if (err != cudaSuccess) {
    cudaFree(buf);
    return cudaGetErrorString(err);
  }
  auto* b = new SimtStepBuffer{buf, counter_at, device, nshared, m.has_convex != 0};
  for (int group_size : {8, 16, 32})
    for (int persistent = 0; persistent < 2; ++persistent) {
      const int g = group_index(group_size);
      bool refused = false;
      const char* e =
          step_shape(group_size, b->convex, nshared, persistent != 0, &b->shape[g][persistent], &refused);
      if (e && !refused) {  // a CUDA error: no plan
        simt_step_buffer_free(b);
        return e;
      }
      b->refusal[g][persistent] = e;  // the model's arrays pass the limit: said by the launch, as simt_step does
    }
  *out = b;
  return nullptr;
}

const char* simt_step_buffer_launch(const SimtStepBuffer* b, const pws::ModelView<float>& m,
                                    const pws::DataView<float>& d, int64_t nworld, int group_size, int nsteps,
                                    bool persistent, std::uintptr_t stream) {
  if (group_size != 8 && group_size != 16 && group_size != 32) return "group_size must be 8, 16 or 32";
  if (nworld <= 0 || nsteps <= 0) return nullptr;
  if ((m.has_convex != 0) != b->convex)
    return b->convex ? "this step plan was built for a model with convex pairs (has_convex=1), launched with one "
                       "without: build the plan from the model it steps"
                     : "this step plan was built for a model without convex pairs (has_convex=0), launched with one "
                       "with: build the plan from the model it steps";
  if (const char* e = set_device(b->device)) return e;
  auto s = reinterpret_cast<cudaStream_t>(stream);
  const int g = group_index(group_size);
  const bool run_persistent = persistent || d.nslot != 0;
  if (const char* refusal = b->refusal[g][run_persistent]) return refusal;
  const size_t slot = (sizeof(StepLaunchArgs) + 15) / 16 * 16;
  const auto* args = reinterpret_cast<const StepLaunchArgs*>(b->buf + (nsteps == 1 ? 0 : slot));
  cudaError_t err = cudaSuccess;
  if (nsteps != 1)  // the n-step block's count, in stream order (a pageable source is staged before the call returns)
    err = cudaMemcpyAsync(b->buf + slot + offsetof(StepLaunchArgs, nsteps), &nsteps, sizeof(int),
                          cudaMemcpyHostToDevice, s);
  if (err == cudaSuccess && run_persistent)
    err = cudaMemsetAsync(b->buf + b->counter_at, 0, sizeof(unsigned long long), s);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  return launch_step(m, d, args, nworld, group_size, b->shape[g][run_persistent], run_persistent, s);
}

void simt_step_buffer_free(SimtStepBuffer* b) {
  if (!b) return;
  if (set_device(b->device) == nullptr) cudaFree(b->buf);  // cudaFree synchronises the device first
  delete b;
}

}  // namespace pws_cuda
