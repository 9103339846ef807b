// Twin of pywarp_sim/ray.py: rays against geoms (MuJoCo's engine_ray.c), distance along vec from
// pnt to the surface, -1 when missed; same formulas and order as the Warp functions.
//
// Planes, the primitive shapes and mesh triangles (Model.mesh_face, filled when the model has a
// rangefinder); invisible geoms (geom_rayvisible 0: alpha 0) are not seen, as in mj_ray.
#pragma once

#include "step_math.h"
#include "types.h"

namespace pws {

// mjtGeom codes of the shapes a ray meets here (touch zones are the primitives)
enum : int { kRayPlane = 0, kZoneSphere = 2, kZoneCapsule = 3, kZoneEllipsoid = 4, kZoneCylinder = 5, kZoneBox = 6,
             kRayMesh = 7 };

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

// ray.py's ray_triangle: the triangle's plane hit inside the triangle, in the mesh frame; b0, b1
// span the plane normal to lv (the origin's projection is tested against the projected triangle)
template <typename T>
PWS_HD inline T ray_triangle(const Vec3<T>& v0, const Vec3<T>& v1, const Vec3<T>& v2, const Vec3<T>& lp,
                             const Vec3<T>& lv, const Vec3<T>& b0, const Vec3<T>& b1) {
  const Vec3<T> d0 = v0 - lp, d1 = v1 - lp, d2 = v2 - lp;
  const T p00 = dot(b0, d0), p01 = dot(b1, d0), p10 = dot(b0, d1), p11 = dot(b1, d1), p20 = dot(b0, d2),
          p21 = dot(b1, d2);
  // all three on one side of an axis: missed
  if ((p00 > T(0) && p10 > T(0) && p20 > T(0)) || (p00 < T(0) && p10 < T(0) && p20 < T(0))) return T(-1);
  if ((p01 > T(0) && p11 > T(0) && p21 > T(0)) || (p01 < T(0) && p11 < T(0) && p21 < T(0))) return T(-1);
  // origin in the projected triangle: A t = -p2, A = (p0 - p2, p1 - p2)
  const T a0 = p00 - p20, a1 = p10 - p20, a2 = p01 - p21, a3 = p11 - p21;
  const T det = a0 * a3 - a1 * a2;
  if (pws_abs(det) < MinVal<T>::value) return T(-1);
  const T t0 = (a3 * (-p20) - a1 * (-p21)) / det, t1 = (-a2 * (-p20) + a0 * (-p21)) / det;
  if (t0 < T(0) || t1 < T(0) || t0 + t1 > T(1)) return T(-1);
  const Vec3<T> nrm = cross(v0 - v2, v1 - v2);
  const T denom = dot(lv, nrm);
  if (pws_abs(denom) < MinVal<T>::value) return T(-1);
  return -dot(lp - v2, nrm) / denom;
}

// v / |v|, the zero vector for a zero v (wp.normalize)
template <typename T>
PWS_HD inline Vec3<T> ray_unit(const Vec3<T>& v) {
  const T len = pws_sqrt(dot(v, v));
  return len > T(0) ? vec3(v[0] / len, v[1] / len, v[2] / len) : vec3(T(0), T(0), T(0));
}

// mj_rayMesh (ray.py's ray_mesh): the nearest of mesh `mesh`'s triangles, after the bounding-box
// test on the geom's size; memory through the accessor a (step_math.h Direct, or a lane group)
template <typename A, typename T, typename R>
PWS_HD inline R ray_mesh(const A& a, const ModelView<T>& m, int mesh, const Vec3<R>& pos, const Mat33<R>& mat,
                         const R* size, const Vec3<R>& pnt, const Vec3<R>& vec) {
  if (ray_box(pos, mat, size, pnt, vec) < R(0)) return R(-1);
  const Vec3<R> lp = mul_t(mat, pnt - pos), lv = mul_t(mat, vec);
  // basis of the plane normal to lv: drop lv's largest component from (1, 1, 1), as MuJoCo
  Vec3<R> b0 = vec3(R(1), R(1), R(1));
  if (pws_abs(lv[0]) >= pws_abs(lv[1]) && pws_abs(lv[0]) >= pws_abs(lv[2]))
    b0[0] = R(0);
  else if (pws_abs(lv[1]) >= pws_abs(lv[2]))
    b0[1] = R(0);
  else
    b0[2] = R(0);
  const Vec3<R> b1 = ray_unit(b0 - lv * (dot(lv, b0) / dot(lv, lv)));
  b0 = ray_unit(cross(b1, lv));
  const T* vert = m.mesh_vert + 3 * a.ld(m.mesh_vertadr + mesh);
  R x = R(-1);
  const int face0 = a.ld(m.mesh_faceadr + mesh), nface = a.ld(m.mesh_facenum + mesh);
  for (int f = face0; f < face0 + nface; ++f) {
    const int* face = m.mesh_face + 3 * f;
    const R sol = ray_triangle(aload3(a, vert + 3 * a.ld(face)), aload3(a, vert + 3 * a.ld(face + 1)),
                               aload3(a, vert + 3 * a.ld(face + 2)), lp, lv, b0, b1);
    if (sol >= R(0) && (x < R(0) || sol < x)) x = sol;
  }
  return x;
}

template <typename T>
PWS_HD inline T ray_mesh(const ModelView<T>& m, int mesh, const Vec3<T>& pos, const Mat33<T>& mat, const T* size,
                         const Vec3<T>& pnt, const Vec3<T>& vec) {
  return ray_mesh(Direct<T>(), m, mesh, pos, mat, size, pnt, vec);
}

// mj_ray(pnt, vec, geomgroup=NULL, flg_static=1, bodyexclude) (ray.py's ray): the distance to the
// nearest visible geom not on bodyexclude, -1 when none is hit; memory through the accessor a
template <typename A, typename T, typename R>
PWS_HD inline R ray_nearest(const A& a, const ModelView<T>& m, const World<T>& d, const Vec3<R>& pnt,
                            const Vec3<R>& vec, int bodyexclude) {
  R dist = R(-1);
  for (int g = 0; g < m.ngeom; ++g) {
    if (a.ld(m.geom_bodyid + g) == bodyexclude || a.ld(m.geom_rayvisible + g) == 0) continue;
    const Vec3<R> pos = aload3(a, d.geom_xpos + 3 * g);
    const Mat33<R> mat = aload33(a, d.geom_xmat + 9 * g);
    const R size[3] = {a.ld(m.geom_size + 3 * g), a.ld(m.geom_size + 3 * g + 1), a.ld(m.geom_size + 3 * g + 2)};
    const int type = a.ld(m.geom_type + g);
    const R x = type == kRayMesh ? ray_mesh(a, m, a.ld(m.geom_dataid + g), pos, mat, size, pnt, vec)
                                 : ray_geom(pos, mat, size, pnt, vec, type);
    if (x >= R(0) && (dist < R(0) || x < dist)) dist = x;
  }
  return dist;
}

template <typename T>
PWS_HD inline T ray_nearest(const ModelView<T>& m, const World<T>& d, const Vec3<T>& pnt, const Vec3<T>& vec,
                            int bodyexclude) {
  return ray_nearest(Direct<T>(), m, d, pnt, vec, bodyexclude);
}

}  // namespace pws
