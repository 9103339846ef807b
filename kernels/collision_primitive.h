// Twin of pywarp_sim/collision_primitive.py: MuJoCo's mjc_* primitive colliders
// (engine_collision_primitive.c, engine_collision_box.c, mjc_PlaneConvex for plane-ellipsoid)
// in float32, with the same branches, contact counts and contact points, and the contact
// record they fill (MuJoCo's mjPreContact; mju_makeFrame completes its frame).
#pragma once

#include "step_math.h"

namespace pws {

// Most contacts one primitive collider returns (box-box).
constexpr int kMaxPairContacts = 8;
constexpr int kMaxConPair = 50;  // mjMAXCONPAIR: most contacts of a height-field pair (Collider CONVEX)

// One narrowphase contact before the frame is completed (MuJoCo's mjPreContact).
template <typename T>
struct PreContact {
  T dist;
  Vec3<T> pos, normal, tangent;  // tangent zero when the collider does not choose one
};

template <typename T> struct ColTol;
template <> struct ColTol<float> {
  static constexpr float minval = 1e-15f;
  static constexpr float parallel = 1e-6f;  // collision_primitive.PARALLEL_EPS
  static constexpr float sepeps = 1e-6f, pareps = 1e-7f, sgneps = 1e-5f, dupeps = 1e-10f, edgebias = 1e-6f;
};
template <> struct ColTol<double> {
  static constexpr double minval = 1e-15;
  static constexpr double parallel = 1e-6;
  static constexpr double sepeps = 1e-6, pareps = 1e-7, sgneps = 1e-5, dupeps = 1e-10, edgebias = 1e-6;
};

template <typename T>
PWS_HD inline void set_contact(PreContact<T>* out, T dist, const Vec3<T>& pos, const Vec3<T>& normal,
                               const Vec3<T>& tangent) {
  out->dist = dist;
  out->pos = pos;
  out->normal = normal;
  out->tangent = tangent;
}

// mju_normalize3: unit vector, norm in *n; (1, 0, 0) below mjMINVAL.
template <typename T>
PWS_HD inline Vec3<T> normalize3(const Vec3<T>& v, T* n) {
  T l = length(v);
  *n = l;
  if (l < ColTol<T>::minval) return vec3(T(1), T(0), T(0));
  return v * (T(1) / l);
}

template <typename T> PWS_HD inline Vec3<T> zaxis(const Mat33<T>& m) { return col(m, 2); }

// mju_makeFrame (collision_primitive.make_frame): rows normal, tangent1, tangent2.
template <typename T>
PWS_HD inline Mat33<T> make_frame(const Vec3<T>& normal, const Vec3<T>& tangent) {
  T n;
  Vec3<T> x = normalize3(normal, &n);
  Vec3<T> y = tangent;
  if (dot(y, y) < T(0.25)) {
    if (x[1] < T(0.5) && x[1] > T(-0.5))
      y = vec3(T(0), T(1), T(0));
    else
      y = vec3(T(0), T(0), T(1));
  }
  y = normalize3(y - x * dot(x, y), &n);
  Vec3<T> z = cross(x, y);
  return Mat33<T>{{x[0], x[1], x[2], y[0], y[1], y[2], z[0], z[1], z[2]}};
}

// ---- plane colliders -----------------------------------------------------------------------

// mjraw_PlaneSphere
template <typename T>
PWS_HD inline int plane_sphere_raw(T margin, const Vec3<T>& pos1, const Vec3<T>& normal, const Vec3<T>& pos2,
                                   T radius, T* dist, Vec3<T>* pos) {
  T cdist = dot(pos2 - pos1, normal);
  if (cdist > margin + radius) return 0;
  *dist = cdist - radius;
  *pos = pos2 + normal * (-*dist / T(2) - radius);
  return 1;
}

template <typename T>
PWS_HD inline int plane_sphere(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Mat33<T>& mat1,
                               const Vec3<T>& pos2, const Vec3<T>& size2) {
  Vec3<T> normal = zaxis(mat1);
  T dist;
  Vec3<T> pos;
  int n = plane_sphere_raw(margin, pos1, normal, pos2, size2[0], &dist, &pos);
  if (n) set_contact(out, dist, pos, normal, zero3<T>());
  return n;
}

template <typename T>
PWS_HD inline int plane_capsule(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Mat33<T>& mat1,
                                const Vec3<T>& pos2, const Mat33<T>& mat2, const Vec3<T>& size2) {
  Vec3<T> normal = zaxis(mat1);
  Vec3<T> axis = zaxis(mat2);
  Vec3<T> segment = axis * size2[1];
  int cnt = 0;
  T dist;
  Vec3<T> p;
  if (plane_sphere_raw(margin, pos1, normal, pos2 + segment, size2[0], &dist, &p)) {
    set_contact(out + cnt, dist, p, normal, axis);
    ++cnt;
  }
  if (plane_sphere_raw(margin, pos1, normal, pos2 - segment, size2[0], &dist, &p)) {
    set_contact(out + cnt, dist, p, normal, axis);
    ++cnt;
  }
  return cnt;
}

template <typename T>
PWS_HD inline int plane_cylinder(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Mat33<T>& mat1,
                                 const Vec3<T>& pos2, const Mat33<T>& mat2, const Vec3<T>& size2) {
  Vec3<T> normal = zaxis(mat1);
  Vec3<T> axis = zaxis(mat2);
  Vec3<T> zero = zero3<T>();
  T prjaxis = dot(normal, axis);
  if (prjaxis > T(0)) {
    axis = -axis;
    prjaxis = -prjaxis;
  }
  T dist0 = dot(pos2 - pos1, normal);
  Vec3<T> vec = axis * prjaxis - normal;
  T len_sqr = dot(vec, vec);
  if (len_sqr >= ColTol<T>::parallel * ColTol<T>::parallel) {
    vec = vec * (size2[0] / pws_sqrt(len_sqr));
  } else {
    vec = col(mat2, 0) * size2[0];
  }
  T prjvec = dot(vec, normal);
  axis = axis * size2[1];
  prjaxis = prjaxis * size2[1];

  int cnt = 0;
  T d1 = dist0 + prjaxis + prjvec;
  if (d1 <= margin) {
    set_contact(out + cnt, d1, pos2 + vec + axis - normal * (d1 * T(0.5)), normal, zero);
    ++cnt;
  } else {
    return 0;
  }
  T d2 = dist0 - prjaxis + prjvec;
  if (d2 <= margin) {
    set_contact(out + cnt, d2, pos2 + vec - axis - normal * (d2 * T(0.5)), normal, zero);
    ++cnt;
  }
  T prjvec1 = -prjvec * T(0.5);
  T d3 = dist0 + prjaxis + prjvec1;
  if (d3 <= margin) {
    T n;
    Vec3<T> vec1 = normalize3(cross(vec, axis), &n);
    vec1 = vec1 * (size2[0] * pws_sqrt(T(3)) / T(2));
    Vec3<T> base = axis - vec * T(0.5) - normal * (d3 * T(0.5));
    set_contact(out + cnt, d3, pos2 + vec1 + base, normal, zero);
    ++cnt;
    set_contact(out + cnt, d3, pos2 - vec1 + base, normal, zero);
    ++cnt;
  }
  return cnt;
}

template <typename T>
PWS_HD inline int plane_box(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Mat33<T>& mat1,
                            const Vec3<T>& pos2, const Mat33<T>& mat2, const Vec3<T>& size2) {
  Vec3<T> norm = zaxis(mat1);
  T dist = dot(pos2 - pos1, norm);
  int cnt = 0;
  for (int i = 0; i < 8; ++i) {
    Vec3<T> vec = size2;
    if ((i & 1) == 0) vec[0] = -size2[0];
    if ((i & 2) == 0) vec[1] = -size2[1];
    if ((i & 4) == 0) vec[2] = -size2[2];
    Vec3<T> corner = mul(mat2, vec);
    T ldist = dot(norm, corner);
    if (dist + ldist > margin || ldist > T(0)) continue;
    T cdist = dist + ldist;
    if (cnt < 4) {
      set_contact(out + cnt, cdist, corner + pos2 - norm * (cdist / T(2)), norm, zero3<T>());
      ++cnt;
    }
  }
  return cnt;
}

template <typename T>
PWS_HD inline int plane_ellipsoid(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Mat33<T>& mat1,
                                  const Vec3<T>& pos2, const Mat33<T>& mat2, const Vec3<T>& size2) {
  Vec3<T> normal = zaxis(mat1);
  Vec3<T> local_dir = mul_t(mat2, -normal);
  Vec3<T> supp = cw_mul(local_dir, size2);
  T norm2 = dot(supp, supp);
  if (norm2 < ColTol<T>::minval * ColTol<T>::minval) {
    supp = vec3(size2[0], T(0), T(0));
  } else {
    supp = cw_mul(supp * (T(1) / pws_sqrt(norm2)), size2);
  }
  Vec3<T> point = mul(mat2, supp) + pos2;
  T dist = dot(normal, point - pos1);
  if (dist > margin) return 0;
  set_contact(out, dist, point - normal * (T(0.5) * dist), normal, zero3<T>());
  return 1;
}

// ---- sphere and capsule colliders ----------------------------------------------------------

// mjraw_SphereSphere
template <typename T>
PWS_HD inline int sphere_sphere_raw(T margin, const Vec3<T>& pos1, const Mat33<T>& mat1, T r1, const Vec3<T>& pos2,
                                    const Mat33<T>& mat2, T r2, T* dist, Vec3<T>* pos, Vec3<T>* normal) {
  Vec3<T> dif = pos1 - pos2;
  T cdist_sqr = dot(dif, dif);
  T min_dist = margin + r1 + r2;
  if (cdist_sqr > min_dist * min_dist) return 0;
  *dist = pws_sqrt(cdist_sqr) - r1 - r2;
  T len;
  *normal = normalize3(pos2 - pos1, &len);
  if (len < ColTol<T>::minval) {
    T n;
    *normal = normalize3(cross(zaxis(mat1), zaxis(mat2)), &n);
  }
  *pos = *normal * (r1 + *dist / T(2)) + pos1;
  return 1;
}

template <typename T>
PWS_HD inline int sphere_sphere(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Mat33<T>& mat1,
                                const Vec3<T>& size1, const Vec3<T>& pos2, const Mat33<T>& mat2,
                                const Vec3<T>& size2) {
  T dist;
  Vec3<T> pos, normal;
  int n = sphere_sphere_raw(margin, pos1, mat1, size1[0], pos2, mat2, size2[0], &dist, &pos, &normal);
  if (n) set_contact(out, dist, pos, normal, zero3<T>());
  return n;
}

template <typename T>
PWS_HD inline int sphere_capsule(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Mat33<T>& mat1,
                                 const Vec3<T>& size1, const Vec3<T>& pos2, const Mat33<T>& mat2,
                                 const Vec3<T>& size2) {
  Vec3<T> axis = zaxis(mat2);
  T x = tclamp(dot(axis, pos1 - pos2), -size2[1], size2[1]);
  T dist;
  Vec3<T> pos, normal;
  int n = sphere_sphere_raw(margin, pos1, mat1, size1[0], axis * x + pos2, mat2, size2[0], &dist, &pos, &normal);
  if (n) set_contact(out, dist, pos, normal, zero3<T>());
  return n;
}

template <typename T>
PWS_HD inline int sphere_cylinder(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Mat33<T>& mat1,
                                  const Vec3<T>& size1, const Vec3<T>& pos2, const Mat33<T>& mat2,
                                  const Vec3<T>& size2) {
  T radius = size2[0];
  T height = size2[1];
  Vec3<T> axis = zaxis(mat2);
  Vec3<T> vec = pos1 - pos2;
  T x = dot(axis, vec);
  Vec3<T> a_proj = axis * x;
  Vec3<T> p_proj = vec - a_proj;
  T p_proj_sqr = dot(p_proj, p_proj);

  bool collide_side = pws_abs(x) < height;
  bool collide_cap = p_proj_sqr < radius * radius;
  if (collide_side && collide_cap) {
    T dist_cap = height - pws_abs(x);
    T dist_radius = radius - pws_sqrt(p_proj_sqr);
    if (dist_cap < dist_radius)
      collide_side = false;
    else
      collide_cap = false;
  }
  Vec3<T> zero = zero3<T>();
  T dist;
  Vec3<T> pos, normal;
  if (collide_side) {
    int n = sphere_sphere_raw(margin, pos1, mat1, size1[0], a_proj + pos2, mat2, size2[0], &dist, &pos, &normal);
    if (n) set_contact(out, dist, pos, normal, zero);
    return n;
  }
  if (collide_cap) {
    Vec3<T> cap_normal = x <= T(0) ? -axis : axis;
    Vec3<T> pos_cap = pos2 + cap_normal * height;
    int n = plane_sphere_raw(margin, pos_cap, cap_normal, pos1, size1[0], &dist, &pos);
    if (n) set_contact(out, dist, pos, -cap_normal, zero);
    return n;
  }
  p_proj = p_proj * (radius / pws_sqrt(p_proj_sqr));
  T h = x <= T(0) ? -height : height;
  Vec3<T> corner = axis * h + p_proj + pos2;
  int n = sphere_sphere_raw(margin, pos1, mat1, size1[0], corner, mat2, T(0), &dist, &pos, &normal);
  if (n) set_contact(out, dist, pos, normal, zero);
  return n;
}

template <typename T>
PWS_HD inline int capsule_capsule(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Mat33<T>& mat1,
                                  const Vec3<T>& size1, const Vec3<T>& pos2, const Mat33<T>& mat2,
                                  const Vec3<T>& size2) {
  Vec3<T> axis1 = zaxis(mat1) * size1[1];
  Vec3<T> axis2 = zaxis(mat2) * size2[1];
  Vec3<T> dif = pos1 - pos2;
  T r1 = size1[0], r2 = size2[0];
  Vec3<T> zero = zero3<T>();
  T ma = dot(axis1, axis1);
  T mb = -dot(axis1, axis2);
  T mc = dot(axis2, axis2);
  T u = -dot(axis1, dif);
  T v = dot(axis2, dif);
  T det = ma * mc - mb * mb;
  T dist;
  Vec3<T> pos, normal;
  if (pws_abs(det) >= ColTol<T>::parallel * ma * mc) {
    T x1 = (mc * u - mb * v) / det;
    T x2 = (ma * v - mb * u) / det;
    if (x1 > T(1)) {
      x1 = T(1);
      x2 = (v - mb) / mc;
    } else if (x1 < T(-1)) {
      x1 = T(-1);
      x2 = (v + mb) / mc;
    }
    if (x2 > T(1)) {
      x2 = T(1);
      x1 = tclamp((u - mb) / ma, T(-1), T(1));
    } else if (x2 < T(-1)) {
      x2 = T(-1);
      x1 = tclamp((u + mb) / ma, T(-1), T(1));
    }
    int n = sphere_sphere_raw(margin, axis1 * x1 + pos1, mat1, r1, axis2 * x2 + pos2, mat2, r2, &dist, &pos, &normal);
    if (n) set_contact(out, dist, pos, normal, zero);
    return n;
  }
  // parallel axes (MuJoCo 4): contacts at both ends of the overlap of the two segments,
  // ordered along segment 1; segments that do not overlap give their nearest ends twice
  T ta = (u - mb) / ma;  // segment-1 parameters of the ends of segment 2
  T tb = (u + mb) / ma;
  T lo = tclamp(tmin(ta, tb), T(-1), T(1));
  T hi = tclamp(tmax(ta, tb), T(-1), T(1));
  int cnt = 0;
  for (int k = 0; k < 2; ++k) {
    T x1 = k == 1 ? hi : lo;
    T x2 = tclamp((v - mb * x1) / mc, T(-1), T(1));
    if (sphere_sphere_raw(margin, axis1 * x1 + pos1, mat1, r1, axis2 * x2 + pos2, mat2, r2, &dist, &pos, &normal)) {
      set_contact(out + cnt, dist, pos, normal, zero);
      ++cnt;
    }
  }
  return cnt;
}

// ---- box colliders (engine_collision_box.c) ------------------------------------------------

// mjraw_SphereBox
template <typename T>
PWS_HD inline int sphere_box_raw(T margin, const Vec3<T>& pos1, T r1, const Vec3<T>& pos2, const Mat33<T>& mat2,
                                 const Vec3<T>& size2, T* out_dist, Vec3<T>* out_pos, Vec3<T>* out_normal) {
  Vec3<T> center = mul_t(mat2, pos1 - pos2);
  Vec3<T> clamped = vec3(tclamp(center[0], -size2[0], size2[0]), tclamp(center[1], -size2[1], size2[1]),
                         tclamp(center[2], -size2[2], size2[2]));
  T dist;
  Vec3<T> tmp = normalize3(clamped - center, &dist);
  if (dist - r1 > margin) return 0;
  Vec3<T> pos, normal;
  if (dist <= ColTol<T>::minval) {
    T closest = (size2[0] + size2[1] + size2[2]) * T(2);
    int k = 0;
    for (int i = 0; i < 6; ++i) {
      T face = size2[i / 2];
      if (i % 2 == 0) face = -face;
      T face_dist = pws_abs(face - center[i / 2]);
      if (closest > face_dist) {
        closest = face_dist;
        k = i;
      }
    }
    Vec3<T> nearest = zero3<T>();
    nearest[k / 2] = (k % 2 == 1) ? T(-1) : T(1);
    pos = center + nearest * ((r1 - closest) / T(2));
    normal = mul(mat2, nearest);
    dist = -closest;
  } else {
    Vec3<T> deepest = center + tmp * r1;
    pos = clamped * T(0.5) + deepest * T(0.5);
    normal = mul(mat2, tmp);
  }
  *out_dist = dist - r1;
  *out_pos = mul(mat2, pos) + pos2;
  *out_normal = normal;
  return 1;
}

template <typename T>
PWS_HD inline int sphere_box(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Vec3<T>& size1,
                             const Vec3<T>& pos2, const Mat33<T>& mat2, const Vec3<T>& size2) {
  T dist;
  Vec3<T> pos, normal;
  int n = sphere_box_raw(margin, pos1, size1[0], pos2, mat2, size2, &dist, &pos, &normal);
  if (n) set_contact(out, dist, pos, normal, zero3<T>());
  return n;
}

template <typename T>
PWS_HD inline Vec3<T> box_corner(int i, const Vec3<T>& size) {
  Vec3<T> c = vec3(-size[0], -size[1], -size[2]);
  if (i & 1) c[0] = size[0];
  if (i & 2) c[1] = size[1];
  if (i & 4) c[2] = size[2];
  return c;
}

// mjraw_CapsuleBox (collision_primitive.capsule_box)
// capsule_box's segment-edge clamp: x to the edge's span [-1, 1]; s, the end it was clamped
// to (0: -1, 2: +1), else unchanged.
template <typename T>
PWS_HD inline void clamp_edge(T& x, int& s) {
  if (x > T(1)) {
    x = T(1);
    s = 2;
  } else if (x < T(-1)) {
    x = T(-1);
    s = 0;
  }
}

template <typename T>
PWS_HD inline int capsule_box(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Mat33<T>& mat1,
                              const Vec3<T>& size1, const Vec3<T>& pos2, const Mat33<T>& mat2,
                              const Vec3<T>& size2) {
  const T minval = ColTol<T>::minval;
  T halflength = size1[1];
  T secondpos = T(-4);
  Vec3<T> pos = mul_t(mat2, pos1 - pos2);
  Vec3<T> axis = mul_t(mat2, zaxis(mat1));
  Vec3<T> halfaxis = axis * halflength;

  int axisdir = 0;
  if (halfaxis[0] > T(0)) axisdir += 1;
  if (halfaxis[1] > T(0)) axisdir += 2;
  if (halfaxis[2] > T(0)) axisdir += 4;

  T bestdistmax = margin + T(2) * (size1[0] + halflength + size2[0] + size2[1] + size2[2]);
  T bestdist = bestdistmax;
  T bestsegmentpos = T(0);
  T bestboxpos = T(0);
  int cltype = -4, clface = -1, clcorner = 0, cledge = 0;

  // is a face of the box closest to one of the segment ends?
  for (int s = 0; s < 2; ++s) {
    int i = 2 * s - 1;
    Vec3<T> tmp1 = pos + halfaxis * T(i);
    Vec3<T> tmp2 = tmp1;
    int c1 = 0, c2 = -1;
    for (int j = 0; j < 3; ++j) {
      if (tmp1[j] < -size2[j]) {
        ++c1;
        c2 = j;
        tmp1[j] = -size2[j];
      } else if (tmp1[j] > size2[j]) {
        ++c1;
        c2 = j;
        tmp1[j] = size2[j];
      }
    }
    if (c1 > 1) continue;
    Vec3<T> dd = tmp1 - tmp2;
    T dist = dot(dd, dd);
    if (dist < bestdist) {
      bestdist = dist;
      bestsegmentpos = T(i);
      cltype = -2 + i;
      clface = c2;
    }
  }

  // is an edge of the box closest to the segment?
  for (int j = 0; j < 3; ++j) {
    for (int i = 0; i < 8; ++i) {
      if ((i & (1 << j)) != 0) continue;
      Vec3<T> tmp3 = box_corner(i, size2);
      tmp3[j] = T(0);
      Vec3<T> dif = tmp3 - pos;
      T ma = size2[j] * size2[j];
      T mb = -size2[j] * halfaxis[j];
      T mc = size1[1] * size1[1];
      T u = -size2[j] * dif[j];
      T v = dot(halfaxis, dif);
      T det = ma * mc - mb * mb;
      if (pws_abs(det) < ColTol<T>::parallel * ma * mc) continue;
      T idet = T(1) / det;
      T x1 = (mc * u - mb * v) * idet;
      T x2 = (ma * v - mb * u) * idet;
      int s1 = 1, s2 = 1;
      if (x1 > T(1)) {
        x1 = T(1);
        s1 = 2;
        x2 = (v - mb) * (T(1) / mc);
      } else if (x1 < T(-1)) {
        x1 = T(-1);
        s1 = 0;
        x2 = (v + mb) * (T(1) / mc);
      }
      if (x2 > T(1)) {
        x2 = T(1);
        s2 = 2;
        x1 = (u - mb) * (T(1) / ma);
        clamp_edge(x1, s1);
      } else if (x2 < T(-1)) {
        x2 = T(-1);
        s2 = 0;
        x1 = (u + mb) * (T(1) / ma);
        clamp_edge(x1, s1);
      }
      dif = tmp3 - pos - halfaxis * x2;
      dif[j] = dif[j] + size2[j] * x1;
      T dd = dot(dif, dif);
      int c1 = s1 * 3 + s2;
      if (dd < bestdist - minval) {
        bestdist = dd;
        bestsegmentpos = x2;
        bestboxpos = x1;
        int c2 = c1 / 6;
        clcorner = i + (1 << j) * c2;
        cledge = j;
        cltype = c1;
      }
    }
  }

  if (cltype == -4) return 0;

  bool skip = false;
  T mul_ = T(0);
  if (cltype >= 0 && cltype / 3 != 1) {
    // closest to a corner of the box
    int c1 = axisdir ^ clcorner;
    if (c1 == 0 || c1 == 7) {
      skip = true;
    } else {
      T de = T(0), dp = T(0);
      if (c1 == 1 || c1 == 2 || c1 == 4) {
        mul_ = T(1);
        de = T(1) - bestsegmentpos;
        dp = T(1) + bestsegmentpos;
      }
      if (c1 == 3 || c1 == 5 || c1 == 6) {
        mul_ = T(-1);
        c1 = 7 - c1;
        dp = T(1) - bestsegmentpos;
        de = T(1) + bestsegmentpos;
      }
      int ax = 0, ax1 = 1, ax2 = 2;
      if (c1 == 2) {
        ax = 1;
        ax1 = 2;
        ax2 = 0;
      }
      if (c1 == 4) {
        ax = 2;
        ax1 = 0;
        ax2 = 1;
      }
      if (axis[ax] * axis[ax] > T(0.5)) {
        secondpos = de;
        T e1 = T(2) * size2[ax] / pws_abs(halfaxis[ax]);
        if (e1 < secondpos) secondpos = e1;
        secondpos = secondpos * mul_;
      } else {
        secondpos = dp;
        T e1 = T(2) * size2[ax1] / pws_abs(halfaxis[ax1]);
        if (e1 < secondpos) secondpos = e1;
        e1 = T(2) * size2[ax2] / pws_abs(halfaxis[ax2]);
        if (e1 < secondpos) secondpos = e1;
        secondpos = secondpos * (-mul_);
      }
    }
  } else if (cltype >= 0 && cltype / 3 == 1) {
    // closest to the interior of a box edge: a second point only in the X configuration
    int c1 = (axisdir ^ clcorner) & (7 - (1 << cledge));
    if (c1 != 1 && c1 != 2 && c1 != 4) {
      skip = true;
    } else {
      int ax1 = 1, ax2 = 2;
      if (cledge == 1) {
        ax1 = 2;
        ax2 = 0;
      }
      if (cledge == 2) {
        ax1 = 0;
        ax2 = 1;
      }
      int ax = cledge;
      if (pws_abs(axis[ax1]) > pws_abs(axis[ax2])) ax1 = ax2;
      ax2 = 3 - ax - ax1;
      if ((c1 & (1 << ax2)) != 0) {
        mul_ = T(1);
        secondpos = T(1) - bestsegmentpos;
      } else {
        mul_ = T(-1);
        secondpos = T(1) + bestsegmentpos;
      }
      T e1 = T(2) * size2[ax2] / pws_abs(halfaxis[ax2]);
      if (e1 < secondpos) secondpos = e1;
      T e2;
      if (((axisdir & (1 << ax)) != 0) == ((c1 & (1 << ax2)) != 0))
        e2 = T(1) - bestboxpos;
      else
        e2 = T(1) + bestboxpos;
      e1 = size2[ax] * e2 / pws_abs(halfaxis[ax]);
      if (e1 < secondpos) secondpos = e1;
      secondpos = secondpos * mul_;
    }
  } else if (cltype < 0) {
    // a segment end is closest to a face: clamp the other end to the face
    if (clface == -1) {
      skip = true;
    } else {
      mul_ = cltype == -3 ? T(1) : T(-1);
      secondpos = T(2);
      Vec3<T> tmp1 = pos - halfaxis * mul_;
      for (int i = 0; i < 3; ++i) {
        if (i != clface) {
          T e1 = (size2[i] - tmp1[i]) / halfaxis[i] * mul_;
          if (e1 > T(0) && e1 < secondpos) secondpos = e1;
          e1 = (-size2[i] - tmp1[i]) / halfaxis[i] * mul_;
          if (e1 > T(0) && e1 < secondpos) secondpos = e1;
        }
      }
      secondpos = secondpos * mul_;
    }
  }
  if (skip) secondpos = T(-4);

  T r1 = size1[0];
  Vec3<T> sph = mul(mat2, pos + halfaxis * bestsegmentpos) + pos2;
  T dist;
  Vec3<T> cpos, normal;
  int cnt = 0;
  if (sphere_box_raw(margin, sph, r1, pos2, mat2, size2, &dist, &cpos, &normal)) {
    set_contact(out, dist, cpos, normal, zero3<T>());
    cnt = 1;
  }
  if (secondpos > T(-3)) {
    sph = mul(mat2, pos + halfaxis * (secondpos + bestsegmentpos)) + pos2;
    if (sphere_box_raw(margin, sph, r1, pos2, mat2, size2, &dist, &cpos, &normal)) {
      set_contact(out + cnt, dist, cpos, normal, zero3<T>());
      ++cnt;
    }
  }
  return cnt;
}

// clipHalfPlane: clip poly (nin vertices, in place via res) against sign * v[coord] <= limit.
template <typename T>
PWS_HD inline int clip_half_plane(Vec3<T>* poly, int nin, int coord, T sign, T limit) {
  bool all_inside = true;
  for (int k = 0; k < nin; ++k)
    if (sign * poly[k][coord] - limit > T(0)) all_inside = false;
  if (all_inside) return nin;
  Vec3<T> res[kMaxPairContacts];
  int nout = 0;
  for (int k = 0; k < nin; ++k) {
    int k1 = k + 1 == nin ? 0 : k + 1;
    T dp = sign * poly[k][coord] - limit;
    T dq = sign * poly[k1][coord] - limit;
    if (dp <= T(0) && nout < kMaxPairContacts) res[nout++] = poly[k];
    if (((dp < T(0) && dq > T(0)) || (dp > T(0) && dq < T(0))) && nout < kMaxPairContacts) {
      T t = dp / (dp - dq);
      res[nout++] = poly[k] + (poly[k1] - poly[k]) * t;
    }
  }
  for (int k = 0; k < nout; ++k) poly[k] = res[k];
  return nout;
}

// mjc_BoxBox (collision_primitive.box_box)
template <typename T>
PWS_HD inline int box_box(PreContact<T>* out, T margin, const Vec3<T>& pos1, const Mat33<T>& mat1,
                          const Vec3<T>& size1, const Vec3<T>& pos2, const Mat33<T>& mat2, const Vec3<T>& size2) {
  typedef ColTol<T> E;
  Vec3<T> pos21 = mul_t(mat1, pos2 - pos1);
  Vec3<T> pos12 = mul_t(mat2, pos1 - pos2);
  Mat33<T> rot = matmul(transpose(mat1), mat2);
  Mat33<T> rotabs;
  for (int i = 0; i < 9; ++i) rotabs.m[i] = pws_abs(rot.m[i]);

  T septol = margin + E::sepeps * (size1[0] + size1[1] + size1[2] + size2[0] + size2[1] + size2[2]);
  T sep_best = T(-1.0e30);
  int code = -1;
  for (int i = 0; i < 3; ++i) {
    T radius2 = rotabs(i, 0) * size2[0] + rotabs(i, 1) * size2[1] + rotabs(i, 2) * size2[2];
    T sep = pws_abs(pos21[i]) - size1[i] - radius2;
    if (sep > septol) return 0;
    if (sep > sep_best) {
      sep_best = sep;
      code = i;
    }
  }
  for (int j = 0; j < 3; ++j) {
    T radius1 = rotabs(0, j) * size1[0] + rotabs(1, j) * size1[1] + rotabs(2, j) * size1[2];
    T sep = pws_abs(pos12[j]) - size2[j] - radius1;
    if (sep > septol) return 0;
    if (sep > sep_best) {
      sep_best = sep;
      code = 3 + j;
    }
  }
  T sep_face = sep_best;
  int code_face = code;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      int i1 = (i + 1) % 3, i2 = (i + 2) % 3;
      T ax1 = -rot(i2, j);
      T ax2 = rot(i1, j);
      T norm2 = ax1 * ax1 + ax2 * ax2;
      if (norm2 < E::pareps) continue;
      T inv = T(1) / pws_sqrt(norm2);
      ax1 = ax1 * inv;
      ax2 = ax2 * inv;
      T radius1 = size1[i1] * pws_abs(ax1) + size1[i2] * pws_abs(ax2);
      int j1 = (j + 1) % 3, j2 = (j + 2) % 3;
      T a2_1 = ax1 * rot(i1, j1) + ax2 * rot(i2, j1);
      T a2_2 = ax1 * rot(i1, j2) + ax2 * rot(i2, j2);
      T radius2 = size2[j1] * pws_abs(a2_1) + size2[j2] * pws_abs(a2_2);
      T sep = pws_abs(ax1 * pos21[i1] + ax2 * pos21[i2]) - radius1 - radius2;
      if (sep > septol) return 0;
      if (sep - E::edgebias * pws_abs(sep) > sep_best && sep > sep_face) {
        sep_best = sep;
        code = 6 + 3 * i + j;
      }
    }
  }
  if (code < 0) return 0;

  T nrm;
  // an edge axis nearly parallel to the best face axis yields to the face
  if (code >= 6) {
    int i = (code - 6) / 3, j = (code - 6) % 3;
    Vec3<T> axis = zero3<T>();
    axis[(i + 1) % 3] = -rot((i + 2) % 3, j);
    axis[(i + 2) % 3] = rot((i + 1) % 3, j);
    axis = normalize3(axis, &nrm);
    T face_dot;
    if (code_face < 3) {
      face_dot = pws_abs(axis[code_face]);
    } else {
      int f = code_face - 3;
      face_dot = pws_abs(axis[0] * rot(0, f) + axis[1] * rot(1, f) + axis[2] * rot(2, f));
    }
    if (face_dot > T(0.99) && sep_best < sep_face + T(0.05) * pws_abs(sep_face) + E::minval) {
      code = code_face;
      sep_best = sep_face;
    }
  }

  // edge-edge contact
  if (code >= 6) {
    int i = (code - 6) / 3, j = (code - 6) % 3;
    int i1 = (i + 1) % 3, i2 = (i + 2) % 3, j1 = (j + 1) % 3, j2 = (j + 2) % 3;
    Vec3<T> axis = zero3<T>();
    axis[i1] = -rot(i2, j);
    axis[i2] = rot(i1, j);
    axis = normalize3(axis, &nrm);
    if (dot(axis, pos21) < T(0)) axis = -axis;
    Vec3<T> a2 = mul_t(rot, axis);
    int amb1 = -1, amb2 = -1;
    if (pws_abs(axis[i1]) < E::sgneps)
      amb1 = i1;
    else if (pws_abs(axis[i2]) < E::sgneps)
      amb1 = i2;
    if (pws_abs(a2[j1]) < E::sgneps)
      amb2 = j1;
    else if (pws_abs(a2[j2]) < E::sgneps)
      amb2 = j2;
    Vec3<T> d2 = col(rot, j);
    T b = d2[i];
    T denom = T(1) - b * b;
    Vec3<T> w1 = zero3<T>(), w2 = zero3<T>();
    T best_d2 = T(1.0e30);
    int n1 = amb1 >= 0 ? 2 : 1;
    int n2 = amb2 >= 0 ? 2 : 1;
    for (int v1 = 0; v1 < n1; ++v1) {
      for (int v2 = 0; v2 < n2; ++v2) {
        Vec3<T> c1 = zero3<T>();
        c1[i1] = axis[i1] >= T(0) ? size1[i1] : -size1[i1];
        c1[i2] = axis[i2] >= T(0) ? size1[i2] : -size1[i2];
        if (amb1 >= 0 && v1 == 1) c1[amb1] = -c1[amb1];
        Vec3<T> cc = zero3<T>();
        cc[j1] = a2[j1] >= T(0) ? -size2[j1] : size2[j1];
        cc[j2] = a2[j2] >= T(0) ? -size2[j2] : size2[j2];
        if (amb2 >= 0 && v2 == 1) cc[amb2] = -cc[amb2];
        Vec3<T> c2 = mul(rot, cc) + pos21;
        Vec3<T> e = c2 - c1;
        T d1e = e[i];
        T d2e = dot(d2, e);
        T s = T(0);
        if (denom >= E::minval) s = (d1e - b * d2e) / denom;
        s = tclamp(s, -size1[i], size1[i]);
        T t = tclamp(b * s - d2e, -size2[j], size2[j]);
        s = tclamp(d1e + b * t, -size1[i], size1[i]);
        Vec3<T> p1 = c1;
        p1[i] = p1[i] + s;
        Vec3<T> p2 = c2 + d2 * t;
        Vec3<T> g = p2 - p1;
        T gap2 = dot(g, g);
        if (gap2 < best_d2) {
          best_d2 = gap2;
          w1 = p1;
          w2 = p2;
        }
      }
    }
    T dist = dot(w2 - w1, axis);
    if (dist > septol) return 0;
    Vec3<T> mid = (w1 + w2) * T(0.5);
    set_contact(out, dist, mul(mat1, mid) + pos1, mul(mat1, axis), zero3<T>());
    return 1;
  }

  // face contact; the reference box owns the winning face
  bool ref1 = code < 3;
  int a = code;
  Vec3<T> sizeref = size1, sizeinc = size2, posref = pos1, posoi = pos21;
  Mat33<T> matref = mat1, rinc = rot;
  if (!ref1) {
    a = code - 3;
    sizeref = size2;
    sizeinc = size1;
    posref = pos2;
    matref = mat2;
    posoi = pos12;
    rinc = transpose(rot);
  }
  T sgn = posoi[a] < T(0) ? T(-1) : T(1);
  int binc = 0;
  for (int k = 1; k < 3; ++k)
    if (pws_abs(rinc(a, k)) > pws_abs(rinc(a, binc))) binc = k;
  T tinc = sgn * rinc(a, binc) > T(0) ? T(-1) : T(1);
  int ax = (a + 1) % 3, ay = (a + 2) % 3;
  int bu = (binc + 1) % 3, bv = (binc + 2) % 3;
  Vec3<T> cx, du, dv;
  for (int r = 0; r < 3; ++r) {
    int c = r == 0 ? ax : (r == 1 ? ay : a);
    cx[r] = posoi[c] + tinc * sizeinc[binc] * rinc(c, binc);
    du[r] = sizeinc[bu] * rinc(c, bu);
    dv[r] = sizeinc[bv] * rinc(c, bv);
  }
  cx[2] = sgn * cx[2] - sizeref[a];
  du[2] = du[2] * sgn;
  dv[2] = dv[2] * sgn;

  Vec3<T> poly[kMaxPairContacts];
  poly[0] = cx + du + dv;
  poly[1] = cx - du + dv;
  poly[2] = cx - du - dv;
  poly[3] = cx + du - dv;
  int nvert = 4;
  nvert = clip_half_plane(poly, nvert, 0, T(1), sizeref[ax]);
  nvert = clip_half_plane(poly, nvert, 0, T(-1), sizeref[ax]);
  nvert = clip_half_plane(poly, nvert, 1, T(1), sizeref[ay]);
  nvert = clip_half_plane(poly, nvert, 1, T(-1), sizeref[ay]);

  T nsign = ref1 ? sgn : -sgn;
  Vec3<T> normal = col(matref, a) * nsign;
  T dupe2 = E::dupeps * (sizeref[ax] * sizeref[ax] + sizeref[ay] * sizeref[ay]);
  Vec3<T> accepted[kMaxPairContacts];
  int naccept = 0;
  for (int k = 0; k < nvert; ++k) {
    Vec3<T> vk = poly[k];
    if (vk[2] > margin) continue;
    bool dupe = false;
    for (int q = 0; q < naccept; ++q) {
      T dx = accepted[q][0] - vk[0];
      T dy = accepted[q][1] - vk[1];
      if (dx * dx + dy * dy < dupe2) dupe = true;
    }
    if (!dupe) {
      accepted[naccept] = vk;
      Vec3<T> posc = zero3<T>();
      posc[ax] = vk[0];
      posc[ay] = vk[1];
      posc[a] = sgn * (sizeref[a] + T(0.5) * vk[2]);
      set_contact(out + naccept, vk[2], mul(matref, posc) + posref, normal, zero3<T>());
      ++naccept;
    }
  }
  return naccept;
}

}  // namespace pws
