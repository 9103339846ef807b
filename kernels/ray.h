// Twin of pywarp_sim/ray.py: rays against geoms (MuJoCo's engine_ray.c), distance along vec from
// pnt to the surface, -1 when missed; same formulas and order as the Warp functions.
//
// The native step intersects planes and the primitive shapes only: its Model view is passed as
// CUDA kernel parameters within 4 KiB, which leave no room for the mesh triangles and geom
// visibility that ray.py's ray_mesh and ray read; native_backend.check_model refuses a
// rangefinder whose ray could meet a mesh or an invisible geom (backend='warp' evaluates it).
#pragma once

#include "step_math.h"
#include "types.h"

namespace pws {

// mjtGeom codes of the shapes a ray meets here (touch zones are the primitives)
enum : int { kRayPlane = 0, kZoneSphere = 2, kZoneCapsule = 3, kZoneEllipsoid = 4, kZoneCylinder = 5, kZoneBox = 6 };

template <typename T>
PWS_HD inline void ray_quad(T a, T b, T c, T x[2]) {
  T det = b * b - a * c;
  if (det < T(0) || a < MinVal<T>::value) {
    x[0] = x[1] = T(-1);
    return;
  }
  det = pws_sqrt(det);
  x[0] = (-b - det) / a;
  x[1] = (-b + det) / a;
}

template <typename T>
PWS_HD inline T ray_nonneg(const T x[2]) {
  if (x[0] >= T(0)) return x[0];
  if (x[1] >= T(0)) return x[1];
  return T(-1);
}

template <typename T>
PWS_HD inline T ray_sphere(const Vec3<T>& pos, T r2, const Vec3<T>& pnt, const Vec3<T>& vec) {
  Vec3<T> dif = pnt - pos;
  T x[2];
  ray_quad(dot(vec, vec), dot(vec, dif), dot(dif, dif) - r2, x);
  return ray_nonneg(x);
}

template <typename T>
PWS_HD inline T ray_box(const Vec3<T>& pos, const Mat33<T>& mat, const T* size, const Vec3<T>& pnt, const Vec3<T>& vec) {
  if (ray_sphere(pos, size[0] * size[0] + size[1] * size[1] + size[2] * size[2], pnt, vec) < T(0)) return T(-1);
  const Vec3<T> lp = mul_t(mat, pnt - pos), lv = mul_t(mat, vec);
  T x = T(-1);
  for (int i = 0; i < 3; ++i) {
    if (pws_abs(lv[i]) <= MinVal<T>::value) continue;
    const int j = (i + 1) % 3, k = (i + 2) % 3;
    for (int side = 0; side < 2; ++side) {
      const T sgn = T(2) * T(side) - T(1);
      T sol = (sgn * size[i] - lp[i]) / lv[i];
      if (sol >= T(0) && pws_abs(lp[j] + sol * lv[j]) <= size[j] && pws_abs(lp[k] + sol * lv[k]) <= size[k] &&
          (x < T(0) || sol < x))
        x = sol;
    }
  }
  return x;
}

// mju_rayGeom: plane, sphere, capsule, ellipsoid, cylinder, box
template <typename T>
PWS_HD inline T ray_geom(const Vec3<T>& pos, const Mat33<T>& mat, const T* size, const Vec3<T>& pnt,
                         const Vec3<T>& vec, int type) {
  if (type == kZoneSphere) return ray_sphere(pos, size[0] * size[0], pnt, vec);
  if (type == kZoneBox) return ray_box(pos, mat, size, pnt, vec);
  const Vec3<T> lp = mul_t(mat, pnt - pos), lv = mul_t(mat, vec);
  T x = T(-1), xx[2];
  if (type == kRayPlane) {  // the front face, within the rendered rectangle (size <= 0: unbounded)
    if (lv[2] > -MinVal<T>::value) return T(-1);
    x = -lp[2] / lv[2];
    if (x < T(0)) return T(-1);
    const T p0 = lp[0] + x * lv[0], p1 = lp[1] + x * lv[1];
    return (size[0] <= T(0) || pws_abs(p0) <= size[0]) && (size[1] <= T(0) || pws_abs(p1) <= size[1]) ? x : T(-1);
  }
  if (type == kZoneEllipsoid) {
    const Vec3<T> s = vec3(T(1) / (size[0] * size[0]), T(1) / (size[1] * size[1]), T(1) / (size[2] * size[2]));
    T a = s[0] * lv[0] * lv[0] + s[1] * lv[1] * lv[1] + s[2] * lv[2] * lv[2];
    T b = s[0] * lv[0] * lp[0] + s[1] * lv[1] * lp[1] + s[2] * lv[2] * lp[2];
    T c = s[0] * lp[0] * lp[0] + s[1] * lp[1] * lp[1] + s[2] * lp[2] * lp[2] - T(1);
    ray_quad(a, b, c, xx);
    return ray_nonneg(xx);
  }
  if (type == kZoneCapsule) {
    T r = size[0] + size[1];
    if (ray_sphere(pos, r * r, pnt, vec) < T(0)) return T(-1);
    ray_quad(lv[0] * lv[0] + lv[1] * lv[1], lv[0] * lp[0] + lv[1] * lp[1],
             lp[0] * lp[0] + lp[1] * lp[1] - size[0] * size[0], xx);
    T sol = ray_nonneg(xx);
    if (sol >= T(0) && pws_abs(lp[2] + sol * lv[2]) <= size[1]) x = sol;
    const T aa = dot(lv, lv);
    for (int side = 0; side < 2; ++side) {
      const T sgn = T(1) - T(2) * T(side);
      const Vec3<T> ld = vec3(lp[0], lp[1], lp[2] - sgn * size[1]);
      ray_quad(aa, dot(lv, ld), dot(ld, ld) - size[0] * size[0], xx);
      for (int i = 0; i < 2; ++i)
        if (xx[i] >= T(0) && sgn * (lp[2] + xx[i] * lv[2]) >= size[1] && (x < T(0) || xx[i] < x)) x = xx[i];
    }
    return x;
  }
  if (type == kZoneCylinder) {
    if (ray_sphere(pos, size[0] * size[0] + size[1] * size[1], pnt, vec) < T(0)) return T(-1);
    if (pws_abs(lv[2]) > MinVal<T>::value) {
      for (int side = 0; side < 2; ++side) {
        const T sgn = T(2) * T(side) - T(1);
        T sol = (sgn * size[1] - lp[2]) / lv[2];
        if (sol >= T(0)) {
          T p0 = lp[0] + sol * lv[0], p1 = lp[1] + sol * lv[1];
          if (p0 * p0 + p1 * p1 <= size[0] * size[0] && (x < T(0) || sol < x)) x = sol;
        }
      }
    }
    ray_quad(lv[0] * lv[0] + lv[1] * lv[1], lv[0] * lp[0] + lv[1] * lp[1],
             lp[0] * lp[0] + lp[1] * lp[1] - size[0] * size[0], xx);
    T sol = ray_nonneg(xx);
    if (sol >= T(0) && pws_abs(lp[2] + sol * lv[2]) <= size[1] && (x < T(0) || sol < x)) x = sol;
    return x;
  }
  return T(-1);
}

// mj_ray(pnt, vec, geomgroup=NULL, flg_static=1, bodyexclude) over planes and primitives: the
// distance to the nearest geom not on bodyexclude, -1 when none is hit
template <typename T>
PWS_HD inline T ray_primitives(const ModelView<T>& m, const World<T>& d, const Vec3<T>& pnt, const Vec3<T>& vec,
                               int bodyexclude) {
  T dist = T(-1);
  for (int g = 0; g < m.ngeom; ++g) {
    if (m.geom_bodyid[g] == bodyexclude) continue;
    const T x = ray_geom(load3(d.geom_xpos + 3 * g), load33(d.geom_xmat + 9 * g), m.geom_size + 3 * g, pnt, vec,
                         m.geom_type[g]);
    if (x >= T(0) && (dist < T(0) || x < dist)) dist = x;
  }
  return dist;
}

}  // namespace pws
