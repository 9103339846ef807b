// Native-only: the CPU's 8-wide lane type; the Warp pipeline runs one thread per world and
// has no lockstep lanes.
// Eight worlds in lockstep on the CPU: F8 is a float with one lane per world, so the smooth
// stages (kinematics, com_pos, crb + factor, com_vel, rne; templated on the scalar) run once for
// a group of eight worlds with every arithmetic operation 8 floats wide. Those stages branch
// only on model data (joint types, tree structure), never on a world's state, so every lane
// performs exactly the operations the scalar path performs for its world: IEEE add, mul, div
// and sqrt round the same per lane, and sin/cos are the scalar calls per lane. The results are
// the scalar path's, bit for bit (without -ffast-math / FMA contraction, as the module builds).
//
// Host only (the CUDA step runs one world per thread); GCC / Clang vector extensions, with
// AVX intrinsics for the 8x8 transposes when the module is built with -mavx.
#pragma once

#if defined(__CUDACC__)
#error "lanes.h is for the CPU module only"
#endif

#include <math.h>
#include <stdint.h>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace pws {

constexpr int kLanes = 8;

typedef float f8_t __attribute__((vector_size(32)));
typedef int i8_t __attribute__((vector_size(32)));

// A lane mask (all bits set where true). No conversion to bool: a branch on a world's state
// must be written as pws_select, so the compiler rejects any that is not.
struct M8 {
  i8_t v;
};

struct alignas(32) F8 {
  f8_t v;
  F8() = default;
  // a scalar (model constant, literal) is the same in every lane
  template <typename S, typename = decltype(static_cast<float>(S()))>
  F8(S x) : v(f8_t{} + static_cast<float>(x)) {}
  static F8 of(f8_t x) {
    F8 r;
    r.v = x;
    return r;
  }
  float operator[](int l) const { return v[l]; }
  F8& operator+=(const F8& b) { v += b.v; return *this; }
  F8& operator-=(const F8& b) { v -= b.v; return *this; }
  F8& operator*=(const F8& b) { v *= b.v; return *this; }
  F8& operator/=(const F8& b) { v /= b.v; return *this; }
};

inline F8 operator+(const F8& a, const F8& b) { return F8::of(a.v + b.v); }
inline F8 operator-(const F8& a, const F8& b) { return F8::of(a.v - b.v); }
inline F8 operator*(const F8& a, const F8& b) { return F8::of(a.v * b.v); }
inline F8 operator/(const F8& a, const F8& b) { return F8::of(a.v / b.v); }
inline F8 operator-(const F8& a) { return F8::of(-a.v); }
inline M8 operator<(const F8& a, const F8& b) { return M8{a.v < b.v}; }
inline M8 operator>(const F8& a, const F8& b) { return M8{a.v > b.v}; }
inline M8 operator!=(const F8& a, const F8& b) { return M8{a.v != b.v}; }

inline bool pws_any(const M8& c) {
  for (int l = 0; l < kLanes; ++l)
    if (c.v[l]) return true;
  return false;
}

inline F8 pws_select(const M8& c, const F8& a, const F8& b) { return F8::of(c.v ? a.v : b.v); }

inline F8 pws_sqrt(const F8& x) {
#if defined(__AVX__)
  return F8::of((f8_t)_mm256_sqrt_ps((__m256)x.v));
#else
  F8 r;
  for (int l = 0; l < kLanes; ++l) r.v[l] = sqrtf(x.v[l]);
  return r;
#endif
}

// the scalar path's sin and cos of the same argument, per lane (see pws_sincos in step_math.h)
inline void pws_sincos(const F8& x, F8* s, F8* c) {
  for (int l = 0; l < kLanes; ++l) {
    float sl, cl;
    sincosf(x.v[l], &sl, &cl);
    s->v[l] = sl;
    c->v[l] = cl;
  }
}

// ---- transposes between eight worlds' arrays and lane arrays -------------------------------

#if defined(__AVX__)
// r[i] (lane j) = a[j] (lane i)
inline void transpose8x8(const __m256 a[8], __m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(a[0], a[1]), t1 = _mm256_unpackhi_ps(a[0], a[1]);
  __m256 t2 = _mm256_unpacklo_ps(a[2], a[3]), t3 = _mm256_unpackhi_ps(a[2], a[3]);
  __m256 t4 = _mm256_unpacklo_ps(a[4], a[5]), t5 = _mm256_unpackhi_ps(a[4], a[5]);
  __m256 t6 = _mm256_unpacklo_ps(a[6], a[7]), t7 = _mm256_unpackhi_ps(a[6], a[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}
#endif

// dst[k] lane l = src[l][k] for k < n; src has kLanes rows (repeat a world to fill lanes).
inline void gather_lanes(const float* const src[kLanes], F8* dst, int64_t n) {
  int64_t k = 0;
#if defined(__AVX__)
  for (; k + 8 <= n; k += 8) {
    __m256 a[8], r[8];
    for (int l = 0; l < 8; ++l) a[l] = _mm256_loadu_ps(src[l] + k);
    transpose8x8(a, r);
    for (int i = 0; i < 8; ++i) dst[k + i].v = (f8_t)r[i];
  }
#endif
  for (; k < n; ++k)
    for (int l = 0; l < kLanes; ++l) dst[k].v[l] = src[l][k];
}

// dst[l][k] = src[k] lane l for k < n and l < nlanes (the lanes that hold real worlds).
inline void scatter_lanes(const F8* src, float* const dst[kLanes], int nlanes, int64_t n) {
  int64_t k = 0;
#if defined(__AVX__)
  for (; k + 8 <= n; k += 8) {
    __m256 a[8], r[8];
    for (int i = 0; i < 8; ++i) a[i] = (__m256)src[k + i].v;
    transpose8x8(a, r);
    for (int l = 0; l < nlanes; ++l) _mm256_storeu_ps(dst[l] + k, r[l]);
  }
#endif
  for (; k < n; ++k)
    for (int l = 0; l < nlanes; ++l) dst[l][k] = src[k].v[l];
}

}  // namespace pws
