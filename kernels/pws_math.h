// Native-only: scalar-templated vec3 / quaternion helpers for integrate_pos.h and
// step_math.h; the Warp pipeline uses Warp's built-ins and pywarp_sim/math.py.
// Small vec3 / quaternion helpers with MuJoCo's semantics (engine_util_blas.c,
// engine_util_spatial.c), templated on the scalar so float32 (simulation) and
// float64 (checking against MuJoCo) share one implementation.
// Quaternions are (w, x, y, z), as in MuJoCo.
#pragma once

#include <math.h>

#include "pws_common.h"

namespace pws {

// MuJoCo's mjMINVAL: the smallest value allowed in a denominator.
template <typename T> struct MinVal;
template <> struct MinVal<float> { static constexpr float value = 1e-15f; };
template <> struct MinVal<double> { static constexpr double value = 1e-15; };

// Overloads instead of std:: so the same call resolves on host and device.
PWS_HD inline float pws_sqrt(float x) { return sqrtf(x); }
PWS_HD inline double pws_sqrt(double x) { return sqrt(x); }
PWS_HD inline float pws_sin(float x) { return sinf(x); }
PWS_HD inline double pws_sin(double x) { return sin(x); }
PWS_HD inline float pws_cos(float x) { return cosf(x); }
PWS_HD inline double pws_cos(double x) { return cos(x); }
PWS_HD inline float pws_abs(float x) { return fabsf(x); }
PWS_HD inline double pws_abs(double x) { return fabs(x); }

// Normalizes vec in place and returns its original length; a vector shorter
// than mjMINVAL becomes (1, 0, 0), as mju_normalize3 does.
template <typename T>
PWS_HD inline T vec3_normalize(T vec[3]) {
  T norm = pws_sqrt(vec[0] * vec[0] + vec[1] * vec[1] + vec[2] * vec[2]);
  if (norm < MinVal<T>::value) {
    vec[0] = T(1);
    vec[1] = T(0);
    vec[2] = T(0);
  } else {
    T inv = T(1) / norm;
    vec[0] *= inv;
    vec[1] *= inv;
    vec[2] *= inv;
  }
  return norm;
}

// Normalizes quat in place and returns its original length, as mju_normalize4:
// a near-zero quaternion becomes identity; one already of unit length is left as is.
template <typename T>
PWS_HD inline T quat_normalize(T quat[4]) {
  T norm = pws_sqrt(quat[0] * quat[0] + quat[1] * quat[1] + quat[2] * quat[2] +
                    quat[3] * quat[3]);
  if (norm < MinVal<T>::value) {
    quat[0] = T(1);
    quat[1] = T(0);
    quat[2] = T(0);
    quat[3] = T(0);
  } else if (pws_abs(norm - T(1)) > MinVal<T>::value) {
    T inv = T(1) / norm;
    quat[0] *= inv;
    quat[1] *= inv;
    quat[2] *= inv;
    quat[3] *= inv;
  }
  return norm;
}

// res = qa * qb (Hamilton product); res may alias qa or qb.
template <typename T>
PWS_HD inline void quat_mul(T res[4], const T qa[4], const T qb[4]) {
  T w = qa[0] * qb[0] - qa[1] * qb[1] - qa[2] * qb[2] - qa[3] * qb[3];
  T x = qa[0] * qb[1] + qa[1] * qb[0] + qa[2] * qb[3] - qa[3] * qb[2];
  T y = qa[0] * qb[2] - qa[1] * qb[3] + qa[2] * qb[0] + qa[3] * qb[1];
  T z = qa[0] * qb[3] + qa[1] * qb[2] - qa[2] * qb[1] + qa[3] * qb[0];
  res[0] = w;
  res[1] = x;
  res[2] = y;
  res[3] = z;
}

// Quaternion rotating by angle (rad) about a unit axis; exactly identity for
// angle == 0, as mju_axisAngle2Quat.
template <typename T>
PWS_HD inline void axis_angle_to_quat(T res[4], const T axis[3], T angle) {
  if (angle == T(0)) {
    res[0] = T(1);
    res[1] = T(0);
    res[2] = T(0);
    res[3] = T(0);
  } else {
    T half = angle * T(0.5);
    T s = pws_sin(half);
    res[0] = pws_cos(half);
    res[1] = axis[0] * s;
    res[2] = axis[1] * s;
    res[3] = axis[2] * s;
  }
}

// res = quat * vec * conj(quat) for a unit quaternion; res may alias vec.
// Same expansion as mju_rotVecQuat.
template <typename T>
PWS_HD inline void quat_rotate(T res[3], const T quat[4], const T vec[3]) {
  if (vec[0] == T(0) && vec[1] == T(0) && vec[2] == T(0)) {
    res[0] = res[1] = res[2] = T(0);
    return;
  }
  // tmp = q_w * v + cross(q_xyz, v)
  T tmp0 = quat[0] * vec[0] + quat[2] * vec[2] - quat[3] * vec[1];
  T tmp1 = quat[0] * vec[1] + quat[3] * vec[0] - quat[1] * vec[2];
  T tmp2 = quat[0] * vec[2] + quat[1] * vec[1] - quat[2] * vec[0];
  // res = v + 2 * cross(q_xyz, tmp)
  T r0 = vec[0] + T(2) * (quat[2] * tmp2 - quat[3] * tmp1);
  T r1 = vec[1] + T(2) * (quat[3] * tmp0 - quat[1] * tmp2);
  T r2 = vec[2] + T(2) * (quat[1] * tmp1 - quat[2] * tmp0);
  res[0] = r0;
  res[1] = r1;
  res[2] = r2;
}

// Integrates an orientation by an angular velocity given in the LOCAL frame of
// quat over time scale (s): quat <- normalize(quat) * axisangle(vel/|vel|, |vel|*scale).
// Mirrors mju_quatIntegrate: the input is normalized, the result is not.
template <typename T>
PWS_HD inline void quat_integrate(T quat[4], const T vel[3], T scale) {
  T axis[3] = {vel[0], vel[1], vel[2]};
  T angle = scale * vec3_normalize(axis);
  T qrot[4];
  axis_angle_to_quat(qrot, axis, angle);
  quat_normalize(quat);
  quat_mul(quat, quat, qrot);
}

}  // namespace pws
