// Native-only: the fixed-size algebra the Warp kernels get from Warp's built-ins, with
// pywarp_sim/math.py's formulas and guards where math.py defines its own. Not named math.h:
// kernels/ is on the include path, where that name would shadow <math.h>.
// Small fixed-size vector algebra for the fused step (kernels/*.h), with the
// semantics of the Warp reference (pywarp_sim/math.py): same formulas, same guards
// (e.g. quat_normalize returns identity below 1e-10), so the native step and the
// Warp pipeline agree to float rounding. Storage is MuJoCo's: vec3 = 3 scalars,
// quaternion = (w, x, y, z), mat33 = 9 scalars row-major, spatial vector =
// (angular[3], linear[3]), com inertia = vec10 (Ixx, Iyy, Izz, Ixy, Ixz, Iyz, m*c[3], m).
#pragma once

#include <math.h>

#if !defined(__CUDA_ARCH__)
#include <cmath>
#include <type_traits>
#endif
#if defined(__SSE2__) && !defined(__CUDA_ARCH__)
#include <immintrin.h>
#endif

#include "pws_common.h"
#include "pws_math.h"

namespace pws {

PWS_HD inline float pws_exp(float x) { return expf(x); }
PWS_HD inline double pws_exp(double x) { return exp(x); }
PWS_HD inline float pws_pow(float x, float y) { return powf(x, y); }
PWS_HD inline double pws_pow(double x, double y) { return pow(x, y); }
PWS_HD inline float pws_atan2(float y, float x) { return atan2f(y, x); }
PWS_HD inline double pws_atan2(double y, double x) { return atan2(y, x); }

// c ? a : b on a value that may depend on a world's state: both sides are evaluated, so the
// same code also runs eight worlds in lockstep (kernels/lanes.h, where c is a lane mask).
template <typename T>
PWS_HD inline T pws_select(bool c, T a, T b) {
  return c ? a : b;
}

// whether any lane of a condition holds (a plain bool on the per-world path)
PWS_HD inline bool pws_any(bool c) { return c; }

// s = sin(x), c = cos(x) (the compiler fuses the pair into one sincos call on the host)
template <typename T>
PWS_HD inline void pws_sincos(T x, T* s, T* c) {
  *s = pws_sin(x);
  *c = pws_cos(x);
}

template <typename T>
PWS_HD inline bool pws_isfinite(T x) {
#if defined(__CUDA_ARCH__)
  return isfinite(x);
#else
  return std::isfinite(x);
#endif
}

#if defined(__SSE2__) && !defined(__CUDA_ARCH__)
// Four partial sums over the whole quads in [k0, k1) (partial j takes the terms k = k0 + j,
// k0 + j + 4, ..., in order) as the lanes of one 4-float register, then the tail terms
// [t0, hi) (t0 < 0: from k1) added to partial 0 in order; returns (s0 + s1) + (s2 + s3):
// dot_n's and dot_span's (support.h) arithmetic on the CPU.
inline float dot_quads(const float* a, const float* b, int k0, int k1, int hi, int t0 = -1) {
  __m128 s = _mm_setzero_ps();
  for (int k = k0; k + 4 <= k1; k += 4) s = _mm_add_ps(s, _mm_mul_ps(_mm_loadu_ps(a + k), _mm_loadu_ps(b + k)));
  alignas(16) float p[4];
  _mm_store_ps(p, s);
  float s0 = p[0];
  for (int k = t0 < 0 ? k1 : t0; k < hi; ++k) s0 += a[k] * b[k];
  return (s0 + p[1]) + (p[2] + p[3]);
}
#endif

// sum_k a[k] * b[k] with four partial sums: the independent chains vectorise (a plain loop is
// one serial dependency chain without -ffast-math). Summation order differs from a
// sequential loop by float rounding only.
// On the CPU (float, SSE2) the four partial sums are the lanes of one 4-float register: the
// same products and sums in the same order, bit for bit (GCC vectorised the scalar form by
// transposing each 8 quads and summing them serially, ~4x the instructions).
template <typename T>
PWS_HD inline T dot_n(const T* a, const T* b, int n) {
#if defined(__SSE2__) && !defined(__CUDA_ARCH__)
  if constexpr (std::is_same<T, float>::value) return dot_quads(a, b, 0, n & ~3, n);
#endif
  T s0 = T(0), s1 = T(0), s2 = T(0), s3 = T(0);
  int k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += a[k] * b[k];
    s1 += a[k + 1] * b[k + 1];
    s2 += a[k + 2] * b[k + 2];
    s3 += a[k + 3] * b[k + 3];
  }
  for (; k < n; ++k) s0 += a[k] * b[k];
  return (s0 + s1) + (s2 + s3);
}

// dot_n of one row a with b0, b1 (and b2): the row is read once from memory and stays in L1
// for the other products. Separate dot_n calls (rather than one loop with 8-12 accumulators)
// keep each product in dot_n's vectorised form; the results are dot_n's, bit for bit.
template <typename T>
PWS_HD inline void dot3_n(const T* a, const T* b0, const T* b1, const T* b2, int n, T out[3]) {
  out[0] = dot_n(a, b0, n);
  out[1] = dot_n(a, b1, n);
  out[2] = dot_n(a, b2, n);
}

template <typename T>
PWS_HD inline void dot2_n(const T* a, const T* b0, const T* b1, int n, T out[2]) {
  out[0] = dot_n(a, b0, n);
  out[1] = dot_n(a, b1, n);
}

// Warp's wp.min / wp.max / wp.clamp (NaN handling is irrelevant here: NaN worlds are flagged).
template <typename T> PWS_HD inline T tmin(T a, T b) { return a < b ? a : b; }
template <typename T> PWS_HD inline T tmax(T a, T b) { return a > b ? a : b; }
template <typename T> PWS_HD inline T tclamp(T x, T lo, T hi) { return tmin(tmax(x, lo), hi); }

template <typename T>
struct Vec3 {
  T v[3];
  PWS_HD T& operator[](int i) { return v[i]; }
  PWS_HD const T& operator[](int i) const { return v[i]; }
};

template <typename T>
struct Quat {
  T q[4];
  PWS_HD T& operator[](int i) { return q[i]; }
  PWS_HD const T& operator[](int i) const { return q[i]; }
};

// Row-major 3x3.
template <typename T>
struct Mat33 {
  T m[9];
  PWS_HD T& operator()(int i, int j) { return m[3 * i + j]; }
  PWS_HD const T& operator()(int i, int j) const { return m[3 * i + j]; }
};

// Spatial vector (angular, linear).
template <typename T>
struct Vec6 {
  T v[6];
  PWS_HD T& operator[](int i) { return v[i]; }
  PWS_HD const T& operator[](int i) const { return v[i]; }
};

template <typename T> PWS_HD inline Vec3<T> vec3(T a, T b, T c) { return Vec3<T>{{a, b, c}}; }
template <typename T> PWS_HD inline Vec3<T> zero3() { return Vec3<T>{{T(0), T(0), T(0)}}; }
template <typename T> PWS_HD inline Vec3<T> load3(const T* p) { return Vec3<T>{{p[0], p[1], p[2]}}; }
template <typename T> PWS_HD inline void store3(T* p, const Vec3<T>& a) {
  p[0] = a[0];
  p[1] = a[1];
  p[2] = a[2];
}
template <typename T> PWS_HD inline Quat<T> load4(const T* p) { return Quat<T>{{p[0], p[1], p[2], p[3]}}; }
template <typename T> PWS_HD inline void store4(T* p, const Quat<T>& a) {
  for (int i = 0; i < 4; ++i) p[i] = a[i];
}
template <typename T> PWS_HD inline Mat33<T> load33(const T* p) {
  Mat33<T> r;
  for (int i = 0; i < 9; ++i) r.m[i] = p[i];
  return r;
}
template <typename T> PWS_HD inline void store33(T* p, const Mat33<T>& a) {
  for (int i = 0; i < 9; ++i) p[i] = a.m[i];
}
template <typename T> PWS_HD inline Vec6<T> load6(const T* p) {
  Vec6<T> r;
  for (int i = 0; i < 6; ++i) r[i] = p[i];
  return r;
}
template <typename T> PWS_HD inline void store6(T* p, const Vec6<T>& a) {
  for (int i = 0; i < 6; ++i) p[i] = a[i];
}
template <typename T> PWS_HD inline Vec6<T> zero6() { return Vec6<T>{{T(0), T(0), T(0), T(0), T(0), T(0)}}; }
// Memory through an accessor, so one function serves the scalar step and a lane group: Direct<T>
// loads and stores plainly (the scalar stages), a lane group of kernels/simt.h passes itself (its
// ld / st: recorded by the CPU emulation, plain on CUDA). A::real is the arithmetic type (T, or
// the emulation's counting float); kernels/sensor.h's per-sensor functions take one.
template <typename T>
struct Direct {
  using real = T;
  PWS_HD T ld(const T* p) const { return *p; }
  PWS_HD int ld(const int* p) const { return *p; }
  PWS_HD void st(T* p, T v) const { *p = v; }
};
template <typename A, typename P> PWS_HD inline Vec3<typename A::real> aload3(const A& a, const P* p) {
  return Vec3<typename A::real>{{a.ld(p), a.ld(p + 1), a.ld(p + 2)}};
}
template <typename A, typename P> PWS_HD inline Quat<typename A::real> aload4(const A& a, const P* p) {
  return Quat<typename A::real>{{a.ld(p), a.ld(p + 1), a.ld(p + 2), a.ld(p + 3)}};
}
template <typename A, typename P> PWS_HD inline Mat33<typename A::real> aload33(const A& a, const P* p) {
  Mat33<typename A::real> r;
  for (int i = 0; i < 9; ++i) r.m[i] = a.ld(p + i);
  return r;
}
template <typename A, typename P> PWS_HD inline Vec6<typename A::real> aload6(const A& a, const P* p) {
  Vec6<typename A::real> r;
  for (int i = 0; i < 6; ++i) r[i] = a.ld(p + i);
  return r;
}
template <typename A, typename P, typename R> PWS_HD inline void astore3(const A& a, P* p, const Vec3<R>& v) {
  for (int i = 0; i < 3; ++i) a.st(p + i, v[i]);
}
template <typename A, typename P, typename R> PWS_HD inline void astore4(const A& a, P* p, const Quat<R>& v) {
  for (int i = 0; i < 4; ++i) a.st(p + i, v[i]);
}
template <typename A, typename P, typename R> PWS_HD inline void astore6(const A& a, P* p, const Vec6<R>& v) {
  for (int i = 0; i < 6; ++i) a.st(p + i, v[i]);
}

template <typename T> PWS_HD inline Vec3<T> operator+(const Vec3<T>& a, const Vec3<T>& b) {
  return vec3(a[0] + b[0], a[1] + b[1], a[2] + b[2]);
}
template <typename T> PWS_HD inline Vec3<T> operator-(const Vec3<T>& a, const Vec3<T>& b) {
  return vec3(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}
template <typename T> PWS_HD inline Vec3<T> operator-(const Vec3<T>& a) { return vec3(-a[0], -a[1], -a[2]); }
template <typename T> PWS_HD inline Vec3<T> operator*(const Vec3<T>& a, T s) {
  return vec3(a[0] * s, a[1] * s, a[2] * s);
}
template <typename T> PWS_HD inline Vec3<T> operator*(T s, const Vec3<T>& a) {
  return vec3(s * a[0], s * a[1], s * a[2]);
}
template <typename T> PWS_HD inline Vec3<T> operator/(const Vec3<T>& a, T s) {
  return vec3(a[0] / s, a[1] / s, a[2] / s);
}
template <typename T> PWS_HD inline T dot(const Vec3<T>& a, const Vec3<T>& b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
template <typename T> PWS_HD inline Vec3<T> cross(const Vec3<T>& a, const Vec3<T>& b) {
  return vec3(a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]);
}
template <typename T> PWS_HD inline T length(const Vec3<T>& a) { return pws_sqrt(dot(a, a)); }
template <typename T> PWS_HD inline Vec3<T> cw_mul(const Vec3<T>& a, const Vec3<T>& b) {
  return vec3(a[0] * b[0], a[1] * b[1], a[2] * b[2]);
}

template <typename T> PWS_HD inline Mat33<T> identity33() {
  return Mat33<T>{{T(1), T(0), T(0), T(0), T(1), T(0), T(0), T(0), T(1)}};
}
// a @ v
template <typename T> PWS_HD inline Vec3<T> mul(const Mat33<T>& a, const Vec3<T>& v) {
  return vec3(a(0, 0) * v[0] + a(0, 1) * v[1] + a(0, 2) * v[2],
              a(1, 0) * v[0] + a(1, 1) * v[1] + a(1, 2) * v[2],
              a(2, 0) * v[0] + a(2, 1) * v[1] + a(2, 2) * v[2]);
}
// transpose(a) @ v
template <typename T> PWS_HD inline Vec3<T> mul_t(const Mat33<T>& a, const Vec3<T>& v) {
  return vec3(a(0, 0) * v[0] + a(1, 0) * v[1] + a(2, 0) * v[2],
              a(0, 1) * v[0] + a(1, 1) * v[1] + a(2, 1) * v[2],
              a(0, 2) * v[0] + a(1, 2) * v[1] + a(2, 2) * v[2]);
}
template <typename T> PWS_HD inline Mat33<T> matmul(const Mat33<T>& a, const Mat33<T>& b) {
  Mat33<T> r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r(i, j) = a(i, 0) * b(0, j) + a(i, 1) * b(1, j) + a(i, 2) * b(2, j);
  return r;
}
template <typename T> PWS_HD inline Mat33<T> transpose(const Mat33<T>& a) {
  Mat33<T> r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r(i, j) = a(j, i);
  return r;
}
template <typename T> PWS_HD inline Vec3<T> col(const Mat33<T>& a, int j) { return vec3(a(0, j), a(1, j), a(2, j)); }
template <typename T> PWS_HD inline Vec3<T> row3(const Mat33<T>& a, int i) { return vec3(a(i, 0), a(i, 1), a(i, 2)); }

// ---- quaternions (math.py) -----------------------------------------------------------------

template <typename T> PWS_HD inline Quat<T> quat_mul(const Quat<T>& a, const Quat<T>& b) {
  return Quat<T>{{a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
                  a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
                  a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
                  a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0]}};
}
template <typename T> PWS_HD inline Quat<T> quat_conj(const Quat<T>& q) { return Quat<T>{{q[0], -q[1], -q[2], -q[3]}}; }

// math.quat_normalize: identity below 1e-10, else q / |q|.
template <typename T> PWS_HD inline Quat<T> quat_unit(const Quat<T>& q) {
  T n = pws_sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  auto tiny = n < T(1e-10);
  return Quat<T>{{pws_select(tiny, T(1), q[0] / n), pws_select(tiny, T(0), q[1] / n),
                  pws_select(tiny, T(0), q[2] / n), pws_select(tiny, T(0), q[3] / n)}};
}

template <typename T> PWS_HD inline Mat33<T> quat_to_mat(const Quat<T>& q) {
  T q00 = q[0] * q[0], q01 = q[0] * q[1], q02 = q[0] * q[2], q03 = q[0] * q[3];
  T q11 = q[1] * q[1], q12 = q[1] * q[2], q13 = q[1] * q[3];
  T q22 = q[2] * q[2], q23 = q[2] * q[3], q33 = q[3] * q[3];
  return Mat33<T>{{q00 + q11 - q22 - q33, T(2) * (q12 - q03), T(2) * (q13 + q02),
                   T(2) * (q12 + q03), q00 - q11 + q22 - q33, T(2) * (q23 - q01),
                   T(2) * (q13 - q02), T(2) * (q23 + q01), q00 - q11 - q22 + q33}};
}

template <typename T> PWS_HD inline Vec3<T> rot_vec_quat(const Vec3<T>& v, const Quat<T>& q) {
  return mul(quat_to_mat(q), v);
}

template <typename T> PWS_HD inline Quat<T> axis_angle_quat(const Vec3<T>& axis, T angle) {
  T s, c;
  pws_sincos(T(0.5) * angle, &s, &c);
  return Quat<T>{{c, axis[0] * s, axis[1] * s, axis[2] * s}};
}

// math.quat_integrate: rotate q by the local angular velocity omega for dt.
template <typename T> PWS_HD inline Quat<T> quat_integrate_warp(const Quat<T>& q, const Vec3<T>& omega, T dt) {
  T n = length(omega);
  Vec3<T> axis = vec3(T(1), T(0), T(0));
  if (n > T(1e-10)) axis = omega / n;
  return quat_mul(quat_unit(q), axis_angle_quat(axis, n * dt));
}

// math.quat_to_vel: rotation vector of q.
template <typename T> PWS_HD inline Vec3<T> quat_to_vel(const Quat<T>& q) {
  Vec3<T> axis = vec3(q[1], q[2], q[3]);
  T s = length(axis);
  if (s < T(1e-10)) return zero3<T>();
  T angle = T(2) * pws_atan2(s, q[0]);
  if (angle > T(3.14159265358979323846)) angle -= T(2) * T(3.14159265358979323846);
  return axis * (angle / s);
}

template <typename T> PWS_HD inline Vec3<T> sub_quat(const Quat<T>& qa, const Quat<T>& qb) {
  return quat_to_vel(quat_mul(quat_conj(qb), qa));
}

// ---- spatial algebra (math.py) -------------------------------------------------------------

template <typename T> PWS_HD inline Vec3<T> ang(const Vec6<T>& s) { return vec3(s[0], s[1], s[2]); }
template <typename T> PWS_HD inline Vec3<T> lin(const Vec6<T>& s) { return vec3(s[3], s[4], s[5]); }
template <typename T> PWS_HD inline Vec6<T> spatial(const Vec3<T>& a, const Vec3<T>& l) {
  return Vec6<T>{{a[0], a[1], a[2], l[0], l[1], l[2]}};
}
template <typename T> PWS_HD inline T dot6(const Vec6<T>& a, const Vec6<T>& b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3] + a[4] * b[4] + a[5] * b[5];
}
template <typename T> PWS_HD inline Vec6<T> add6(const Vec6<T>& a, const Vec6<T>& b) {
  Vec6<T> r;
  for (int i = 0; i < 6; ++i) r[i] = a[i] + b[i];
  return r;
}
template <typename T> PWS_HD inline Vec6<T> scale6(const Vec6<T>& a, T s) {
  Vec6<T> r;
  for (int i = 0; i < 6; ++i) r[i] = a[i] * s;
  return r;
}

// mju_crossMotion
template <typename T> PWS_HD inline Vec6<T> cross_motion(const Vec6<T>& v, const Vec6<T>& u) {
  Vec3<T> w = ang(v);
  return spatial(cross(w, ang(u)), cross(w, lin(u)) + cross(lin(v), ang(u)));
}
// mju_crossForce
template <typename T> PWS_HD inline Vec6<T> cross_force(const Vec6<T>& v, const Vec6<T>& f) {
  Vec3<T> w = ang(v);
  return spatial(cross(w, ang(f)) + cross(lin(v), lin(f)), cross(w, lin(f)));
}
// mju_mulInertVec: i is a vec10 com inertia
template <typename T> PWS_HD inline Vec6<T> mul_inert_vec(const T* i, const Vec6<T>& v) {
  return Vec6<T>{{i[0] * v[0] + i[3] * v[1] + i[4] * v[2] - i[8] * v[4] + i[7] * v[5],
                  i[3] * v[0] + i[1] * v[1] + i[5] * v[2] + i[8] * v[3] - i[6] * v[5],
                  i[4] * v[0] + i[5] * v[1] + i[2] * v[2] - i[7] * v[3] + i[6] * v[4],
                  i[8] * v[1] - i[7] * v[2] + i[9] * v[3],
                  i[6] * v[2] - i[8] * v[0] + i[9] * v[4],
                  i[7] * v[0] - i[6] * v[1] + i[9] * v[5]}};
}
// mju_inertCom: writes the vec10 com inertia of a body into out.
template <typename T>
PWS_HD inline void inert_com(T* out, const Vec3<T>& inertia, const Mat33<T>& mat, const Vec3<T>& dif, T mass) {
  // r = mat @ diag(inertia) @ mat'
  Mat33<T> md;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) md(i, j) = mat(i, j) * inertia[j];
  Mat33<T> r = matmul(md, transpose(mat));
  out[0] = r(0, 0) + mass * (dif[1] * dif[1] + dif[2] * dif[2]);
  out[1] = r(1, 1) + mass * (dif[0] * dif[0] + dif[2] * dif[2]);
  out[2] = r(2, 2) + mass * (dif[0] * dif[0] + dif[1] * dif[1]);
  out[3] = r(0, 1) - mass * dif[0] * dif[1];
  out[4] = r(0, 2) - mass * dif[0] * dif[2];
  out[5] = r(1, 2) - mass * dif[1] * dif[2];
  out[6] = mass * dif[0];
  out[7] = mass * dif[1];
  out[8] = mass * dif[2];
  out[9] = mass;
}
template <typename T> PWS_HD inline Vec6<T> dof_com(const Vec3<T>& axis, const Vec3<T>& offset) {
  return spatial(axis, cross(axis, offset));
}
// Generalised force of a world-frame force/torque at a point through one dof (J^T f).
template <typename T>
PWS_HD inline T point_jac_dot(const Vec6<T>& cdof, const Vec3<T>& rel, const Vec3<T>& force, const Vec3<T>& torque) {
  Vec3<T> w = ang(cdof);
  Vec3<T> l = lin(cdof) + cross(w, rel);
  return dot(l, force) + dot(w, torque);
}

}  // namespace pws
