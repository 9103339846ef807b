// Native-only: per-thread staging of a world's arrays (a CUDA local-memory layout); the Warp
// pipeline steps over the Simulator's arrays directly.
// Staging: a thread steps a world inside one buffer of its own instead of over the
// Simulator's arrays. stage_in copies the world's per-world Data (state, contacts, poses,
// forces, counters) into the buffer and points the workspace arrays (per-thread rows,
// WorldArray::slots > 0) at it without copying (a step recomputes them before reading them);
// the world then steps on the buffer; stage_out copies the per-world arrays back. The
// trajectories are the unstaged ones bit for bit: the same code runs on other addresses. A
// tiled array (Simulator(layout="tiled"), kernels/types.h WorldArray) is gathered from its tile
// and scattered back, so the staged step is the only one that runs over tiled arrays.
//
// Why: on CUDA the buffer is a local array of the step kernel (csrc/cuda_launch.cu). Local
// memory is interleaved by the hardware (word i of the 32 threads of a warp is one 128-byte
// line), so the warp's loads of "the same element of its own world" coalesce, where over the
// world-major Simulator arrays they touch 32 lines. On the CPU the buffer is a per-thread heap
// block (tests; one compact block per world).
//
//   stage_scalars(d)   scalars (4 bytes each) the buffer needs: every Data array, each padded
//                      to a multiple of 4 scalars (16 bytes)
//   stage_in(g, d, buf) -> World on buf (copies the per-world arrays of g in)
//   stage_out(l, d, g)  copies the per-world arrays of l back to g
#pragma once

#include <stdint.h>

#include "types.h"

namespace pws {

PWS_HD inline int64_t stage_padded(int64_t scalars) { return (scalars + 3) & ~static_cast<int64_t>(3); }

template <typename T>
PWS_HD inline int64_t stage_scalars(const DataView<T>& d) {
  static_assert(sizeof(T) == sizeof(int), "staging shares one buffer between float and int32 arrays");
  int64_t n = 0;
#define PWS_STAGE_COUNT(name, width, count) n += stage_padded(d.name.stride);
  PWS_DATA_ARRAYS(PWS_STAGE_COUNT, PWS_STAGE_COUNT)
#undef PWS_STAGE_COUNT
  return n;
}

// n scalars, `dst_step` / `src_step` apart (WorldArray::step: 1, or the tile of a tiled array)
template <typename S>
PWS_HD inline void stage_copy(S* dst, int64_t dst_step, const S* src, int64_t src_step, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i * dst_step] = src[i * src_step];
}

// `g`: the world's view of the Simulator's arrays (world_view); `buf`: stage_scalars(d)
// scalars owned by the calling thread. Returns the world's view on `buf` (globals and bank
// rows as in g).
template <typename T>
PWS_HD inline World<T> stage_in(const World<T>& g, const DataView<T>& d, T* buf) {
  World<T> l = g;
  int64_t off = 0;
#define PWS_STAGE_F(name, width, count)                                    \
  l.name = buf + off;                                                      \
  if (!d.name.slots) stage_copy(l.name, 1, g.name, d.name.step(), d.name.stride); \
  off += stage_padded(d.name.stride);
#define PWS_STAGE_I(name, width, count)                                    \
  l.name = reinterpret_cast<int*>(buf + off);                              \
  if (!d.name.slots) stage_copy(l.name, 1, g.name, d.name.step(), d.name.stride); \
  off += stage_padded(d.name.stride);
  PWS_DATA_ARRAYS(PWS_STAGE_F, PWS_STAGE_I)
#undef PWS_STAGE_F
#undef PWS_STAGE_I
  return l;
}

template <typename T>
PWS_HD inline void stage_out(const World<T>& l, const DataView<T>& d, const World<T>& g) {
#define PWS_UNSTAGE(name, width, count) \
  if (!d.name.slots) stage_copy(g.name, d.name.step(), l.name, 1, d.name.stride);
  PWS_DATA_ARRAYS(PWS_UNSTAGE, PWS_UNSTAGE)
#undef PWS_UNSTAGE
}

}  // namespace pws
