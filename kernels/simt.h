// Twin of pywarp_sim/simt.py, the Python entry of the lane-group kernels written on this layer
// (simt_smooth.h).
// A small SIMT layer: kernels where a group of lanes (a warp, or 8 / 16 lanes of one) steps one
// world, written once and compiled two ways from the same source:
//
//   CUDA (nvcc)   CudaGroup<N>: one lane per thread, __shfl_sync / __ballot_sync / __syncwarp.
//   CPU           EmuGroup<N>: the N lanes of a group run one after another between sync points
//                 (lockstep emulation), optionally recording every memory access per lane.
//
// Both produce the same bits for the same inputs, so CI checks the GPU kernel's arithmetic on
// the CPU. That holds when a kernel follows these rules:
//
// 1. Phases. All per-lane work is written as `g.each(n, [&](int i) {...})`: item i of n runs on
//    lane i % N (items i, i + N, ... in order on one lane), and the group synchronises at the
//    end. Inside one phase a lane never reads or writes a location that another lane writes in
//    the same phase; what another lane wrote is read in a later phase. (On the CPU lane 0 runs
//    its whole phase before lane 1 starts; on the GPU they run together; the rule makes both
//    orders give the same result. The recording emulator checks it: a conflict throws.)
// 2. Memory through the group: `g.ld(p)` / `g.st(p, v)` for every per-lane load and store
//    (global or the group's shared array); loop bounds read from plans outside a phase (the same
//    for every lane) may be plain reads. That is what the address recorder sees.
// 3. Arithmetic on `typename G::real` (float; on the CPU also a counting float for the
//    instruction proxies) with IEEE +, -, *, /, sqrt only: no FMA contraction on either target.
//    simt_launch.cu is compiled with -fmad=false (nvcc would otherwise fuse a*b+c into one
//    rounding), the CPU source with -ffp-contract=off; neither uses fast-math.
// 4. Transcendentals: only simt::sincos below (range reduction and polynomials in plain float
//    operations), never sinf/cosf: CUDA's and glibc's differ in the last bit.
// 5. Cross-lane values only through the collectives (shfl, ballot, reduce_sum, inclusive_scan),
//    called by the whole group outside a phase on per-lane registers Reg<T, N> (lane l's copy is
//    r[l] inside a phase; g.lanes(f) runs register-only arithmetic per lane outside one);
//    reductions and scans have one fixed order (a butterfly / Hillis-Steele tree) on both
//    targets. A kernel-wide value (a loop bound) is computed the same way by every lane.
// FMA rule, stated once: CUDA uses -fmad=false (not __fadd_rn / __fmul_rn in the source, so the
// kernels keep plain operators and step_math.h's templates); tests/test_simt.py checks the PTX
// holds add.rn / mul.rn and no fma, and that the CUDA results equal the emulation's bits.
// 6. Branches may depend on a lane's item; lanes that take different paths are serialised on
//    the GPU (the instruction proxy counts the longest lane, a lower bound then).
#pragma once

#include <stdint.h>

#include "pws_common.h"

#if defined(__CUDACC__)
#define PWS_SIMT_FN __device__
#else
#define PWS_SIMT_FN
#include <math.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#endif

namespace pws {
namespace simt {

// ---- sin and cos with the same bits on both targets ------------------------------------------

// Cephes sinf/cosf: octant reduction of |x| by pi/4 in three parts (exact products), then the
// minimax polynomials on [-pi/4, pi/4]. Max error 2 ulp for |x| < 8192 (hinge angles); beyond,
// the reduction loses bits (the same on both targets). Plain float operations only (floorf is
// exact on both), so with no FMA contraction CUDA and the CPU agree bit for bit.
PWS_HD inline void sincos_f(float x, float* s, float* c) {
  const float kFourOverPi = 1.27323954473516f;
  const float kDP1 = 0.78515625f, kDP2 = 2.4187564849853515625e-4f, kDP3 = 3.77489497744594108e-8f;
  float y = x < 0.0f ? -x : x;
  float q = floorf(y * kFourOverPi);
  q = q + (q - 2.0f * floorf(q * 0.5f));        // to the even octant boundary
  float oct = q - 8.0f * floorf(q * 0.125f);    // 0, 2, 4 or 6
  float z = ((y - q * kDP1) - q * kDP2) - q * kDP3;
  float zz = z * z;
  float ps = ((-1.9515295891e-4f * zz + 8.3321608736e-3f) * zz - 1.6666654611e-1f) * zz * z + z;
  float pc = ((2.443315711809948e-5f * zz - 1.388731625493765e-3f) * zz + 4.166664568298827e-2f) * zz * zz -
             0.5f * zz + 1.0f;
  // octant 0: (sin, cos) = (ps, pc); 2: (pc, -ps); 4: (-ps, -pc); 6: (-pc, ps)
  bool swap = oct == 2.0f || oct == 6.0f;
  float sv = swap ? pc : ps, cv = swap ? ps : pc;
  bool sneg = oct >= 4.0f, cneg = oct == 2.0f || oct == 4.0f;
  if (sneg) sv = -sv;
  if (cneg) cv = -cv;
  if (x < 0.0f) sv = -sv;
  *s = sv;
  *c = cv;
}
// float operations in sincos_f (for the counting float)
constexpr int kSincosOps = 40;

PWS_HD inline void sincos(float x, float* s, float* c) { sincos_f(x, s, c); }

// ---- per-lane registers ----------------------------------------------------------------------

// A value held by every lane of a group: on CUDA the thread's own register, on the CPU one slot
// per lane. Inside a phase, lane l's copy is r[l] (the index is ignored on CUDA: a thread only
// sees its own lane's value).
#if defined(__CUDACC__)
template <typename T, int N>
struct Reg {
  T v;
  __device__ T& operator[](int) { return v; }
  __device__ const T& operator[](int) const { return v; }
};
#else
template <typename T, int N>
struct Reg {
  T v[N];
  T& operator[](int l) { return v[l]; }
  const T& operator[](int l) const { return v[l]; }
};
#endif

constexpr int kMaxGroup = 32;
template <int N>
struct GroupSize {
  static_assert(N == 8 || N == 16 || N == 32, "a lane group has 8, 16 or 32 lanes");
};

#if defined(__CUDACC__)
// ---- CUDA: one lane per thread ---------------------------------------------------------------

template <int N>
struct CudaGroup : GroupSize<N> {
  using real = float;
  static constexpr int size = N;
  int lane_;       // 0..N-1
  unsigned mask_;  // this group's lanes within the warp
  float* shared;   // the group's shared-memory array

  __device__ CudaGroup(float* group_shared) : shared(group_shared) {
    int warp_lane = threadIdx.x & 31;
    lane_ = warp_lane % N;
    mask_ = N == 32 ? 0xffffffffu : (((1u << N) - 1u) << (warp_lane - lane_));
  }
  __device__ int lane() const { return lane_; }
  __device__ void stage(int) const {}

  template <typename F>
  __device__ void each(int n, F&& f) {
    for (int i = lane_; i < n; i += N) f(i);
    __syncwarp(mask_);
  }
  __device__ void sync() const { __syncwarp(mask_); }
  // f(l) for this thread's lane l: per-lane register arithmetic outside a phase (no memory)
  template <typename F>
  __device__ void lanes(F&& f) const { f(lane_); }

  // host and device: kernels/sensor.h's __host__ __device__ per-sensor functions take the group as
  // their memory accessor (step_math.h Direct)
  template <typename T>
  __host__ __device__ T ld(const T* p) const { return *p; }
  template <typename T>
  __host__ __device__ void st(T* p, T v) const { *p = v; }
  // the emulation's reconvergence mark for the address recorder (EmuGroup::reconverge): nothing here
  __host__ __device__ void reconverge() const {}

  template <typename T>
  __device__ Reg<T, N> shfl(const Reg<T, N>& v, const Reg<int, N>& src) const {
    return {__shfl_sync(mask_, v.v, src.v, N)};
  }
  template <typename T>
  __device__ Reg<T, N> shfl_xor(const Reg<T, N>& v, int lane_mask) const {
    return {__shfl_xor_sync(mask_, v.v, lane_mask, N)};
  }
  template <typename T>
  __device__ Reg<T, N> shfl_up(const Reg<T, N>& v, int delta) const {
    return {__shfl_up_sync(mask_, v.v, delta, N)};
  }
  template <typename T>
  __device__ Reg<T, N> shfl_down(const Reg<T, N>& v, int delta) const {
    return {__shfl_down_sync(mask_, v.v, delta, N)};
  }
  // bit l set where lane l's predicate holds
  __device__ unsigned ballot(const Reg<bool, N>& p) const {
    unsigned b = __ballot_sync(mask_, p.v) & mask_;
    return N == 32 ? b : b >> (threadIdx.x & 31 & ~(N - 1));
  }
};
#else
// ---- CPU: the lanes in lockstep, one after another between sync points ------------------------

// Address recorder and instruction counter of the emulation (measurement runs only).
// Per phase: each lane's memory accesses in order, and its arithmetic operations (counted by the
// counting float, Counted below). A phase's k-th global access of every lane is one warp memory
// instruction (lanes run the same code path; where a lane skips part of it, a branch or a loop
// iteration, the kernel marks the reconvergence point with g.reconverge() and the lane is masked off
// for the requests it skipped); its distinct 32-byte sectors are what the memory system moves for it. Warp instructions of a phase: the longest lane's count (arithmetic +
// memory); lane instructions: the sum over lanes. Collectives count one instruction per
// shuffle step with every lane active. Integer index arithmetic and branches are not counted.
struct Recorder {
  static constexpr int kStages = 9;
  struct Stats {
    double phases = 0, warp_instructions = 0, lane_instructions = 0;
    double global_requests = 0, global_sectors = 0, global_lane_accesses = 0, shared_accesses = 0;
    double distinct_global_bytes = 0;  // bytes of global memory the stage touches, summed over worlds
  };
  Stats stage[kStages];
  int current_stage = 0;
  const char* shared_lo = nullptr;  // the group's shared array: accesses there are not global
  const char* shared_hi = nullptr;
  int nlane = 32;

  struct Access {
    uintptr_t addr;
    int bytes;
    bool write;
  };
  // a lane's place in a request where it is masked off (reconverge below)
  static constexpr uintptr_t kMaskedAddr = 0;
  std::vector<Access> lane_access[kMaxGroup];
  std::vector<size_t> lane_marks[kMaxGroup];  // lane_access sizes at the lane's reconverge points
  uint64_t lane_ops[kMaxGroup];
  int phase_index = 0;
  std::vector<uintptr_t> world_global[kStages];  // this world's global addresses, per stage
  double working_set_bytes = 0;  // distinct global bytes per world (all stages), summed over worlds

  // Field-level footprint of a step (measured when footprint_ranges is set): which Data arrays a
  // step reads before it writes them (the state it carries from the step before), writes and then
  // reads (transient), or only writes. Per address, the step's accesses in program order (a
  // lane's accesses in order; a location written in a phase is one lane's, rule 1), folded into
  // the flags of the array holding it at end_step, ORed over world-steps.
  enum : uint8_t { kFirstRead = 1, kRead = 2, kWritten = 4, kReadAfterWrite = 8 };
  struct Range {
    uintptr_t lo, hi;  // [lo, hi) of one Data array
    int array;         // its index in footprint_flags
  };
  std::vector<Range> footprint_ranges;   // sorted by lo, disjoint
  std::vector<uint8_t> footprint_flags;  // per array: kFirstRead | kRead | kWritten | kReadAfterWrite
  std::vector<std::pair<uintptr_t, uint8_t>> step_access;  // (address, flags) of this step, sorted
  std::vector<std::pair<uintptr_t, bool>> phase_access;    // (address, write) of this phase, in order

  // Per-array breakdown of the global requests (measured when request_ranges is set): each warp
  // memory instruction is attributed to the array holding its lowest active lane's address (-1:
  // none of the ranges), keyed with the stage and the byte distance from that lane's address to
  // the next active lane's (the access pattern: 4 contiguous, 0 broadcast, 12 a float per xpos
  // record, ...; kOneLane when one lane alone is active), so the requests with the most sectors
  // can be found by array and pattern.
  static constexpr int64_t kOneLane = INT64_MIN;
  struct RequestKey {
    int stage, array;
    int64_t lane_stride;
    bool operator<(const RequestKey& o) const {
      if (stage != o.stage) return stage < o.stage;
      if (array != o.array) return array < o.array;
      return lane_stride < o.lane_stride;
    }
  };
  struct RequestStats {
    double requests = 0, sectors = 0, lane_accesses = 0;
    double packed_sectors = 0;  // the fewest sectors holding the request's distinct 4-byte words
  };
  std::vector<Range> request_ranges;  // sorted by lo, disjoint; array: the caller's index
  std::map<RequestKey, RequestStats> requests_by_array;
  int request_array(uintptr_t a) const {
    auto it = std::upper_bound(request_ranges.begin(), request_ranges.end(), a,
                               [](uintptr_t x, const Range& r) { return x < r.lo; });
    if (it == request_ranges.begin()) return -1;
    --it;
    return a < it->hi ? it->array : -1;
  }

  // The access history of one address: its first access decides read-before-write.
  static uint8_t fold(uint8_t f, bool write) {
    if (write) return f | kWritten;
    if (!f) return kFirstRead | kRead;
    return f | kRead | ((f & kWritten) ? kReadAfterWrite : 0);
  }
  void footprint_phase() {
    // merge the phase's accesses into the step's, keeping each address's order
    std::stable_sort(phase_access.begin(), phase_access.end(),
                     [](const std::pair<uintptr_t, bool>& a, const std::pair<uintptr_t, bool>& b) {
                       return a.first < b.first;
                     });
    std::vector<std::pair<uintptr_t, uint8_t>> merged;
    merged.reserve(step_access.size() + phase_access.size());
    size_t i = 0, j = 0;
    while (i < step_access.size() || j < phase_access.size()) {
      if (j == phase_access.size() || (i < step_access.size() && step_access[i].first < phase_access[j].first)) {
        merged.push_back(step_access[i++]);
        continue;
      }
      const uintptr_t a = phase_access[j].first;
      uint8_t f = 0;
      if (i < step_access.size() && step_access[i].first == a) f = step_access[i++].second;
      for (; j < phase_access.size() && phase_access[j].first == a; ++j) f = fold(f, phase_access[j].second);
      merged.push_back({a, f});
    }
    step_access.swap(merged);
    phase_access.clear();
  }
  // After each step of a world: the step's addresses folded into their arrays' flags.
  void end_step() {
    for (const std::pair<uintptr_t, uint8_t>& e : step_access) {
      auto it = std::upper_bound(footprint_ranges.begin(), footprint_ranges.end(), e.first,
                                 [](uintptr_t a, const Range& r) { return a < r.lo; });
      if (it == footprint_ranges.begin()) continue;
      --it;
      if (e.first < it->hi) footprint_flags[it->array] |= e.second;
    }
    step_access.clear();
  }

  // After each world: the distinct global locations it touched, per stage and in all.
  void end_world() {
    std::vector<uintptr_t> all;
    for (int st = 0; st < kStages; ++st) {
      std::vector<uintptr_t>& a = world_global[st];
      std::sort(a.begin(), a.end());
      a.erase(std::unique(a.begin(), a.end()), a.end());
      stage[st].distinct_global_bytes += 4.0 * double(a.size());
      all.insert(all.end(), a.begin(), a.end());
      a.clear();
    }
    std::sort(all.begin(), all.end());
    working_set_bytes += 4.0 * double(std::unique(all.begin(), all.end()) - all.begin());
  }

  void begin_phase() {
    for (int l = 0; l < nlane; ++l) {
      lane_access[l].clear();
      lane_marks[l].clear();
      lane_ops[l] = 0;
    }
  }
  void access(int lane, const void* p, int bytes, bool write) {
    lane_access[lane].push_back({reinterpret_cast<uintptr_t>(p), bytes, write});
  }
  // The lane reaches a reconvergence point: the paths the lanes took since the phase's start or
  // their previous point (a branch, one iteration of a loop) end here. end_phase pairs the lanes'
  // accesses stretch by stretch: a lane that made fewer global accesses in a stretch than another
  // was masked off for the rest of that stretch's requests, as on the GPU, where the warp issues
  // each load or store once with the lanes that did not take the path masked.
  void reconverge(int lane) { lane_marks[lane].push_back(lane_access[lane].size()); }
  bool is_shared(uintptr_t a) const {
    return a >= reinterpret_cast<uintptr_t>(shared_lo) && a < reinterpret_cast<uintptr_t>(shared_hi);
  }
  // Lane l's global accesses between its reconverge points (stretch s ends at its s-th point; the
  // stretch after its last point stays open) padded with kMaskedAddr to the longest lane's stretch s,
  // so that the k-th entries of the lanes are one request.
  void pad_stretches(std::vector<uintptr_t>* global, const std::vector<size_t>* marks) const {
    size_t nstretch = 0;
    for (int l = 0; l < nlane; ++l) nstretch = marks[l].size() > nstretch ? marks[l].size() : nstretch;
    if (nstretch == 0) return;
    std::vector<size_t> width(nstretch, 0);
    for (int l = 0; l < nlane; ++l)
      for (size_t s = 0; s < nstretch && s <= marks[l].size(); ++s) {
        const size_t lo = s == 0 ? 0 : marks[l][s - 1], hi = s < marks[l].size() ? marks[l][s] : global[l].size();
        width[s] = hi - lo > width[s] ? hi - lo : width[s];
      }
    for (int l = 0; l < nlane; ++l) {
      if (marks[l].empty() && global[l].empty()) continue;
      std::vector<uintptr_t> padded;
      size_t lo = 0;
      for (size_t s = 0; s < marks[l].size(); ++s) {
        padded.insert(padded.end(), global[l].begin() + lo, global[l].begin() + marks[l][s]);
        padded.insert(padded.end(), width[s] - (marks[l][s] - lo), kMaskedAddr);
        lo = marks[l][s];
      }
      padded.insert(padded.end(), global[l].begin() + lo, global[l].end());
      global[l].swap(padded);
    }
  }
  void end_phase() {
    Stats& s = stage[current_stage];
    s.phases += 1;
    uint64_t longest = 0, total = 0;
    size_t max_global = 0;
    std::vector<std::pair<uintptr_t, int>> touched;  // (address, lane) of every access, for races
    std::vector<uintptr_t> written;
    std::vector<uintptr_t> global[kMaxGroup];
    std::vector<size_t> global_marks[kMaxGroup];  // global[l].size() at lane l's reconverge points
    for (int l = 0; l < nlane; ++l) {
      uint64_t n = lane_ops[l] + lane_access[l].size();
      longest = n > longest ? n : longest;
      total += n;
      size_t mark = 0;
      for (size_t ai = 0; ai < lane_access[l].size(); ++ai) {
        for (; mark < lane_marks[l].size() && lane_marks[l][mark] == ai; ++mark) global_marks[l].push_back(global[l].size());
        const Access& a = lane_access[l][ai];
        touched.push_back({a.addr, l});
        if (a.write) written.push_back(a.addr);
        if (is_shared(a.addr)) {
          s.shared_accesses += 1;
        } else {
          global[l].push_back(a.addr);
          world_global[current_stage].push_back(a.addr);
          if (!footprint_ranges.empty()) phase_access.push_back({a.addr, a.write});
          s.global_lane_accesses += 1;
        }
      }
      for (; mark < lane_marks[l].size(); ++mark) global_marks[l].push_back(global[l].size());
    }
    pad_stretches(global, global_marks);
    for (int l = 0; l < nlane; ++l) max_global = global[l].size() > max_global ? global[l].size() : max_global;
    s.warp_instructions += double(longest);
    s.lane_instructions += double(total);
    if (!footprint_ranges.empty()) footprint_phase();
    for (size_t k = 0; k < max_global; ++k) {
      std::vector<uintptr_t> sectors;
      for (int l = 0; l < nlane; ++l)
        if (k < global[l].size() && global[l][k] != kMaskedAddr) sectors.push_back(global[l][k] >> 5);
      if (sectors.empty()) continue;  // every lane masked: no request
      std::sort(sectors.begin(), sectors.end());
      const double distinct = double(std::unique(sectors.begin(), sectors.end()) - sectors.begin());
      s.global_requests += 1;
      s.global_sectors += distinct;
      if (!request_ranges.empty()) {
        int first = -1, second = -1;
        for (int l = 0; l < nlane && second < 0; ++l)
          if (k < global[l].size() && global[l][k] != kMaskedAddr) (first < 0 ? first : second) = l;
        const uintptr_t a0 = global[first][k];
        const int64_t stride = second < 0 ? kOneLane : int64_t(global[second][k]) - int64_t(a0);
        RequestStats& r = requests_by_array[{current_stage, request_array(a0), stride}];
        r.requests += 1;
        r.sectors += distinct;
        r.lane_accesses += double(sectors.size());
        std::vector<uintptr_t> words;
        for (int l = 0; l < nlane; ++l)
          if (k < global[l].size() && global[l][k] != kMaskedAddr) words.push_back(global[l][k]);
        std::sort(words.begin(), words.end());
        const size_t nwords = size_t(std::unique(words.begin(), words.end()) - words.begin());
        r.packed_sectors += double((4 * nwords + 31) / 32);
      }
    }
    // rule 1: a location written in this phase is touched by one lane only
    std::sort(written.begin(), written.end());
    std::sort(touched.begin(), touched.end());
    for (size_t i = 1; i < touched.size(); ++i) {
      if (touched[i].first == touched[i - 1].first && touched[i].second != touched[i - 1].second &&
          std::binary_search(written.begin(), written.end(), touched[i].first))
        throw std::runtime_error("simt: lanes " + std::to_string(touched[i - 1].second) + " and " +
                                 std::to_string(touched[i].second) + " share a location written in phase " +
                                 std::to_string(phase_index) + " of stage " + std::to_string(current_stage) +
                                 " (a kernel must read another lane's result in a later phase)");
    }
    ++phase_index;
  }
  void collective(int steps) {
    Stats& s = stage[current_stage];
    s.warp_instructions += steps;
    s.lane_instructions += double(steps) * nlane;
  }
};

// The operation counter of the lane now running (null: not measuring).
inline uint64_t*& op_counter() {
  static thread_local uint64_t* counter = nullptr;
  return counter;
}

// A float that counts its arithmetic (the instruction proxy); same IEEE results as float.
struct Counted {
  float v;
  Counted() = default;
  Counted(float x) : v(x) {}
  Counted(double x) : v(static_cast<float>(x)) {}
  Counted(int x) : v(static_cast<float>(x)) {}
  static Counted op(float x) {
    if (uint64_t* c = op_counter()) ++*c;
    return Counted(x);
  }
  Counted& operator+=(Counted b) { return *this = op(v + b.v); }
  Counted& operator-=(Counted b) { return *this = op(v - b.v); }
  Counted& operator*=(Counted b) { return *this = op(v * b.v); }
  Counted& operator/=(Counted b) { return *this = op(v / b.v); }
};
inline Counted operator+(Counted a, Counted b) { return Counted::op(a.v + b.v); }
inline Counted operator-(Counted a, Counted b) { return Counted::op(a.v - b.v); }
inline Counted operator*(Counted a, Counted b) { return Counted::op(a.v * b.v); }
inline Counted operator/(Counted a, Counted b) { return Counted::op(a.v / b.v); }
inline Counted operator-(Counted a) { return Counted::op(-a.v); }
inline bool cmp_count(bool r) {
  if (uint64_t* c = op_counter()) ++*c;
  return r;
}
inline bool operator<(Counted a, Counted b) { return cmp_count(a.v < b.v); }
inline bool operator>(Counted a, Counted b) { return cmp_count(a.v > b.v); }
inline bool operator<=(Counted a, Counted b) { return cmp_count(a.v <= b.v); }
inline bool operator>=(Counted a, Counted b) { return cmp_count(a.v >= b.v); }
inline bool operator==(Counted a, Counted b) { return cmp_count(a.v == b.v); }
inline bool operator!=(Counted a, Counted b) { return cmp_count(a.v != b.v); }
inline Counted pws_sqrt(Counted x) { return Counted::op(sqrtf(x.v)); }
inline void sincos(Counted x, Counted* s, Counted* c) {
  float sv, cv;
  sincos_f(x.v, &sv, &cv);
  if (uint64_t* n = op_counter()) *n += kSincosOps;
  *s = Counted(sv);
  *c = Counted(cv);
}
inline float value(float x) { return x; }
inline float value(Counted x) { return x.v; }

// Real: float (the emulated kernel) or Counted (the same kernel, measured).
template <int N, typename Real = float>
struct EmuGroup : GroupSize<N> {
  using real = Real;
  static constexpr int size = N;
  float* shared;
  Recorder* rec;
  int lane_ = -1;  // the lane now running (inside a phase), else -1

  explicit EmuGroup(float* group_shared, Recorder* recorder = nullptr) : shared(group_shared), rec(recorder) {
    if (rec) rec->nlane = N;
  }
  int lane() const { return lane_; }
  void stage(int s) {
    if (rec) rec->current_stage = s;
  }

  template <typename F>
  void each(int n, F&& f) {
    if (rec) rec->begin_phase();
    for (int l = 0; l < N; ++l) {
      lane_ = l;
      if (rec) op_counter() = &rec->lane_ops[l];
      for (int i = l; i < n; i += N) f(i);
    }
    lane_ = -1;
    if (rec) {
      op_counter() = nullptr;
      rec->end_phase();
    }
  }
  void sync() const {}
  // f(l) for every lane l: per-lane register arithmetic outside a phase (no memory)
  template <typename F>
  void lanes(F&& f) const {
    for (int l = 0; l < N; ++l) f(l);
  }

  Real ld(const float* p) const {
    if (rec) rec->access(lane_, p, 4, false);
    return Real(*p);
  }
  int ld(const int* p) const {
    if (rec) rec->access(lane_, p, 4, false);
    return *p;
  }
  void st(float* p, Real v) const {
    if (rec) rec->access(lane_, p, 4, true);
    *p = value(v);
  }
  void st(int* p, int v) const {
    if (rec) rec->access(lane_, p, 4, true);
    *p = v;
  }
  // a reconvergence point of the lanes' paths (Recorder::reconverge); inside a phase
  void reconverge() const {
    if (rec) rec->reconverge(lane_);
  }

  // CUDA's __shfl_sync family on a group of N lanes: an out-of-range source keeps the lane's value
  template <typename T>
  Reg<T, N> shfl(const Reg<T, N>& v, const Reg<int, N>& src) const {
    if (rec) rec->collective(1);
    Reg<T, N> r;
    for (int l = 0; l < N; ++l) r[l] = v[((src[l] % N) + N) % N];
    return r;
  }
  template <typename T>
  Reg<T, N> shfl_xor(const Reg<T, N>& v, int lane_mask) const {
    if (rec) rec->collective(1);
    Reg<T, N> r;
    for (int l = 0; l < N; ++l) {
      int s = l ^ lane_mask;
      r[l] = s < N ? v[s] : v[l];
    }
    return r;
  }
  template <typename T>
  Reg<T, N> shfl_up(const Reg<T, N>& v, int delta) const {
    if (rec) rec->collective(1);
    Reg<T, N> r;
    for (int l = 0; l < N; ++l) r[l] = l - delta >= 0 ? v[l - delta] : v[l];
    return r;
  }
  template <typename T>
  Reg<T, N> shfl_down(const Reg<T, N>& v, int delta) const {
    if (rec) rec->collective(1);
    Reg<T, N> r;
    for (int l = 0; l < N; ++l) r[l] = l + delta < N ? v[l + delta] : v[l];
    return r;
  }
  unsigned ballot(const Reg<bool, N>& p) const {
    if (rec) rec->collective(1);
    unsigned b = 0;
    for (int l = 0; l < N; ++l)
      if (p[l]) b |= 1u << l;
    return b;
  }
};
#endif

// ---- collectives built on the primitives (one source for both targets) -----------------------

// Index of the lowest set bit of x != 0 (integer arithmetic: not counted)
PWS_HD inline int lowest_bit(unsigned x) {
#if defined(__CUDA_ARCH__)
  return __ffs(x) - 1;
#else
  return __builtin_ctz(x);
#endif
}

// Bit r of the answer set where pred(r) holds, for the rows r = base .. base + 31 below n: lane l
// tests rows base + l, base + l + N, ... in one phase (pred: ld and compare, counted), the group
// then ballots each of the 32 / N lane slices. Every lane gets the same mask: a list of rows each
// lane can walk (lowest_bit) without loading the rows' flags per item.
template <typename G, typename P>
PWS_SIMT_FN inline unsigned ballot_rows(G& g, int base, int n, P&& pred) {
  constexpr int N = G::size, kSlices = 32 / N;
  const int rows = n - base < 32 ? n - base : 32;
  const int slices = (rows + N - 1) / N;
  Reg<bool, N> hit[kSlices];
  g.each(N, [&](int l) {
    for (int m = 0; m < kSlices; ++m) {
      const int r = m * N + l;
      hit[m][l] = r < rows ? pred(base + r) : false;
    }
  });
  unsigned mask = 0;
  for (int m = 0; m < kSlices; ++m)
    if (m < slices) mask |= g.ballot(hit[m]) << (m * N);
  return mask;
}

template <typename G>
PWS_SIMT_FN inline bool any(const G& g, const Reg<bool, G::size>& p) {
  return g.ballot(p) != 0u;
}
template <typename G>
PWS_SIMT_FN inline bool all(const G& g, const Reg<bool, G::size>& p) {
  return g.ballot(p) == (G::size == 32 ? 0xffffffffu : (1u << G::size) - 1u);
}

// Sum over the group's lanes, every lane gets it: butterfly v + shfl_xor(v, o) for o = N/2 .. 1.
// A fixed pairing tree, and a + b == b + a in IEEE, so every lane holds the same bits on both
// targets (not the sequential sum's bits: a different, fixed order).
template <typename G, typename T>
PWS_SIMT_FN inline Reg<T, G::size> reduce_sum(const G& g, Reg<T, G::size> v) {
  for (int o = G::size / 2; o > 0; o /= 2) {
    Reg<T, G::size> p = g.shfl_xor(v, o);
    g.lanes([&](int l) { v[l] = v[l] + p[l]; });
  }
  return v;
}

// Floats per 32-byte memory sector: a row read by this many lanes at consecutive floats from a
// sector boundary is one sector (pywarp_sim.io.SECTOR_FLOATS pads the rows of efc_J and the
// solver's dof vectors to a multiple of it).
constexpr int kSectorFloats = 8;

// Floats from the start of p's 32-byte sector to p (0 .. kSectorFloats - 1)
PWS_HD inline int sector_offset(const void* p) {
  return int((reinterpret_cast<uintptr_t>(p) / sizeof(float)) % kSectorFloats);
}

// g.each(n, f) over a world's array of n floats at p (f(e) reads or writes p[e]) with the items
// shifted so that the lanes' requests start on the array's sectors: item e runs where item
// sector_offset(p) + e of a plain each would, the first slots idle. A world's nv x nv block (qM,
// qLD, qH) starts anywhere in a sector, and a plain each's eight lanes would then span two.
template <typename G, typename F>
PWS_SIMT_FN inline void each_sector(G& g, const float* p, int n, F&& f) {
  const int off = sector_offset(p);
  g.each(off + n, [&](int i) {
    if (i >= off) f(i - off);
    g.reconverge();  // an idle slot's lane is masked off for that item's requests
  });
}

// Sum over each segment of S consecutive lanes (S a power of two dividing the group), every lane
// of a segment gets its segment's sum: the butterfly of reduce_sum over lane masks S/2 .. 1 only
// (which stay within a segment). The same fixed pairing for every group size.
template <int S, typename G, typename T>
PWS_SIMT_FN inline Reg<T, G::size> segment_sum(const G& g, Reg<T, G::size> v) {
  static_assert(S >= 1 && S <= G::size && (S & (S - 1)) == 0, "a segment is a power of two within the group");
  for (int o = S / 2; o > 0; o /= 2) {
    Reg<T, G::size> p = g.shfl_xor(v, o);
    g.lanes([&](int l) { v[l] = v[l] + p[l]; });
  }
  return v;
}

// Inclusive prefix sum over lanes (Hillis-Steele): v[l] += v[l - o] for o = 1, 2, 4, ...
// (ints exactly; floats in this fixed order on both targets).
template <typename G, typename T>
PWS_SIMT_FN inline Reg<T, G::size> inclusive_scan(const G& g, Reg<T, G::size> v) {
  for (int o = 1; o < G::size; o *= 2) {
    Reg<T, G::size> p = g.shfl_up(v, o);
    g.lanes([&](int l) {
      if (l >= o) v[l] = v[l] + p[l];
    });
  }
  return v;
}

// ---- the primitives on one group, for tests on both targets ----------------------------------

// Lane l reads x[l], k[l], src[l]; writes, at stride N:
//   out_f: [0] shfl(x, src)  [1] shfl_xor(x, lane_mask)  [2] shfl_up(x, delta)
//          [3] shfl_down(x, delta)  [4] reduce_sum(x)  [5] inclusive_scan(x)  [6] sincos: sin(x)
//          [7] cos(x)  [8] segment_sum<kSectorFloats>(x)   (kPrimitiveFloatRows rows)
//   out_i: [0] inclusive_scan(k)  [1] ballot(k > 0)  [2] any(k > 0)  [3] all(k > 0)
constexpr int kPrimitiveFloatRows = 9;
template <typename G>
PWS_SIMT_FN inline void primitive_check(G& g, const float* x, const int* k, const int* src, int delta, int lane_mask,
                                        float* out_f, int* out_i) {
  constexpr int N = G::size;
  Reg<float, N> xv;
  Reg<int, N> kv, sv;
  Reg<bool, N> pos;
  g.each(N, [&](int l) {
    xv[l] = g.ld(x + l);
    kv[l] = g.ld(k + l);
    sv[l] = g.ld(src + l);
    pos[l] = kv[l] > 0;
  });
  Reg<float, N> f[6] = {g.shfl(xv, sv),       g.shfl_xor(xv, lane_mask), g.shfl_up(xv, delta),
                        g.shfl_down(xv, delta), reduce_sum(g, xv),       inclusive_scan(g, xv)};
  Reg<float, N> seg = segment_sum<kSectorFloats>(g, xv);
  Reg<int, N> scan = inclusive_scan(g, kv);
  const int ballot = int(g.ballot(pos)), any_pos = any(g, pos), all_pos = all(g, pos);
  g.each(N, [&](int l) {
    for (int r = 0; r < 6; ++r) g.st(out_f + r * N + l, f[r][l]);
    float s, c;
    sincos_f(g.ld(x + l), &s, &c);
    g.st(out_f + 6 * N + l, s);
    g.st(out_f + 7 * N + l, c);
    g.st(out_f + 8 * N + l, seg[l]);
    g.st(out_i + l, scan[l]);
    g.st(out_i + N + l, ballot);
    g.st(out_i + 2 * N + l, any_pos);
    g.st(out_i + 3 * N + l, all_pos);
  });
}

}  // namespace simt
}  // namespace pws
