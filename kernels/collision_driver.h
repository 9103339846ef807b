// Twin of pywarp_sim/collision_driver.py: collision of one world over the static candidate
// pair list: bounding-sphere filter, the midphase's oriented-box filter (obb_apart), the
// analytic narrowphase of each pair
// (collision_primitive.h; Collider CONVEX pairs go to collision_convex.h) and the contact
// list in pair order.
#pragma once

#include "collision_convex.h"
#include "collision_primitive.h"
#include "step_math.h"
#include "types.h"

namespace pws {

// collision_driver.Collider
enum Collider : int {
  kPlaneSphere = 0,
  kPlaneCapsule = 1,
  kPlaneEllipsoid = 2,
  kPlaneCylinder = 3,
  kPlaneBox = 4,
  kSphereSphere = 5,
  kSphereCapsule = 6,
  kSphereCylinder = 7,
  kSphereBox = 8,
  kCapsuleCapsule = 9,
  kCapsuleBox = 10,
  kBoxBox = 11,
  kConvex = 12,
};
enum : int { kGeomPlane = 0 };

// ---- driver (collision_driver._sphere_filter, _narrowphase_primitive, _compact) -------------

// mj_filterSphere: true when the bounding spheres (or a plane half-space) rule out contact.
template <typename T>
PWS_HD inline bool sphere_filter(int type1, int type2, const Vec3<T>& pos1, const Mat33<T>& mat1, T rbound1,
                                 const Vec3<T>& pos2, const Mat33<T>& mat2, T rbound2, T margin) {
  if (rbound1 > T(0) && rbound2 > T(0)) {
    Vec3<T> dif = pos1 - pos2;
    T bound = rbound1 + rbound2 + margin;
    return dot(dif, dif) > bound * bound;
  }
  if (type1 == kGeomPlane && rbound2 > T(0))
    if (dot(pos2 - pos1, zaxis(mat1)) > margin + rbound2) return true;
  if (type2 == kGeomPlane && rbound1 > T(0))
    if (dot(pos1 - pos2, zaxis(mat2)) > margin + rbound1) return true;
  return false;
}

template <typename T>
PWS_HD inline int narrowphase(int collider, PreContact<T>* buf, T margin, const Vec3<T>& pos1,
                              const Mat33<T>& mat1, const Vec3<T>& size1, const Vec3<T>& pos2,
                              const Mat33<T>& mat2, const Vec3<T>& size2) {
  switch (collider) {
    case kPlaneSphere: return plane_sphere(buf, margin, pos1, mat1, pos2, size2);
    case kPlaneCapsule: return plane_capsule(buf, margin, pos1, mat1, pos2, mat2, size2);
    case kPlaneEllipsoid: return plane_ellipsoid(buf, margin, pos1, mat1, pos2, mat2, size2);
    case kPlaneCylinder: return plane_cylinder(buf, margin, pos1, mat1, pos2, mat2, size2);
    case kPlaneBox: return plane_box(buf, margin, pos1, mat1, pos2, mat2, size2);
    case kSphereSphere: return sphere_sphere(buf, margin, pos1, mat1, size1, pos2, mat2, size2);
    case kSphereCapsule: return sphere_capsule(buf, margin, pos1, mat1, size1, pos2, mat2, size2);
    case kSphereCylinder: return sphere_cylinder(buf, margin, pos1, mat1, size1, pos2, mat2, size2);
    case kSphereBox: return sphere_box(buf, margin, pos1, size1, pos2, mat2, size2);
    case kCapsuleCapsule: return capsule_capsule(buf, margin, pos1, mat1, size1, pos2, mat2, size2);
    case kCapsuleBox: return capsule_box(buf, margin, pos1, mat1, size1, pos2, mat2, size2);
    case kBoxBox: return box_box(buf, margin, pos1, mat1, size1, pos2, mat2, size2);
    default: return 0;  // kConvex: convex_narrowphase
  }
}

// The bounding-sphere test of pair p (part of sphere_filter): true when the pair's bounding
// spheres, grown by margin + gap, are apart. Most pairs fail it, so collision tests it before
// the frames are read; it reads geom_xpos only, so kernels/step_lanes.h evaluates it for eight
// worlds at once (a lane mask where T is a lane type).
template <typename T>
PWS_HD inline auto pair_apart(const ModelView<T>& m, const World<T>& d, int p) -> decltype(T(0) > T(0)) {
  int g1 = m.pair_geom1[p], g2 = m.pair_geom2[p];
  T rb1 = m.geom_rbound[g1], rb2 = m.geom_rbound[g2];
  T margin = m.pair_margin[p] + m.pair_gap[p];
  Vec3<T> dif = load3(d.geom_xpos + 3 * g1) - load3(d.geom_xpos + 3 * g2);
  T bound = rb1 + rb2 + margin;
  return dot(dif, dif) > bound * bound;
}

// mj_collideOBB without its cached products, on pair p's geom boxes (Model.geom_aabb: center
// and half-sizes in the geom frame, grown to contain MuJoCo's float64 boxes): true when a face
// axis of either box separates them by more than margin. MuJoCo's midphase (mj_collideTree)
// tests this after the bounding spheres for the dynamic pairs of bodies with several geoms
// (Model pair_obb), so pairs it rejects are ones MuJoCo never collides; their geoms are farther
// apart than margin, so the narrowphase would have found no contact either. Float64 like MuJoCo:
// the narrowphase of convex pairs sees the same float inputs in float64.
template <typename T>
PWS_HD inline bool obb_apart(const ModelView<T>& m, const World<T>& d, int p) {
  const int g[2] = {m.pair_geom1[p], m.pair_geom2[p]};
  const double kMaxVal = 1e10;  // mjMAXVAL: a plane's half-sizes
  double aabb[2][6], xmat[2][9], xcenter[2][3];
  bool infinite[2];
  for (int i = 0; i < 2; ++i) {
    const T* box = m.geom_aabb + 6 * g[i];
    for (int k = 0; k < 6; ++k) aabb[i][k] = double(box[k]);
    bool inf0 = aabb[i][3] >= kMaxVal, inf1 = aabb[i][4] >= kMaxVal, inf2 = aabb[i][5] >= kMaxVal;
    if (inf0 && inf1 && inf2) return false;  // an infinite box meets everything
    infinite[i] = inf0 || inf1 || inf2;
    const T* mat = d.geom_xmat + 9 * g[i];
    const T* pos = d.geom_xpos + 3 * g[i];
    for (int k = 0; k < 9; ++k) xmat[i][k] = double(mat[k]);
    for (int r = 0; r < 3; ++r)
      xcenter[i][r] = xmat[i][3 * r] * aabb[i][0] + xmat[i][3 * r + 1] * aabb[i][1] + xmat[i][3 * r + 2] * aabb[i][2] +
                      double(pos[r]);
  }
  const double margin = double(m.pair_margin[p]) + double(m.pair_gap[p]);
  // normal(i, j): face axis j of box i in world coordinates, xmat's column j
  auto dot_axes = [&](int i, int l, int j, int k) {
    return xmat[i][l] * xmat[j][k] + xmat[i][3 + l] * xmat[j][3 + k] + xmat[i][6 + l] * xmat[j][6 + k];
  };
  for (int j = 0; j < 2; ++j) {
    if (infinite[1 - j]) continue;  // no test against an infinite box
    for (int k = 0; k < 3; ++k) {
      double proj[2], radius[2];
      for (int i = 0; i < 2; ++i) {
        proj[i] = xcenter[i][0] * xmat[j][k] + xcenter[i][1] * xmat[j][3 + k] + xcenter[i][2] * xmat[j][6 + k];
        radius[i] = fabs(aabb[i][3] * dot_axes(i, 0, j, k)) + fabs(aabb[i][4] * dot_axes(i, 1, j, k)) +
                    fabs(aabb[i][5] * dot_axes(i, 2, j, k));
      }
      if (radius[0] + radius[1] + margin < fabs(proj[1] - proj[0])) return true;
    }
  }
  return false;
}

// Whether pair p has a bounding-sphere test (both geoms have a positive rbound).
template <typename T>
PWS_HD inline bool pair_has_bound(const ModelView<T>& m, int p) {
  return m.geom_rbound[m.pair_geom1[p]] > T(0) && m.geom_rbound[m.pair_geom2[p]] > T(0);
}

// mj_collision: d.con_* holds the first nconmax contacts in pair order; overflow is flagged
// and counted when the world finds more (the flag stays set for the rest of the step).
// kConvexPairs = false leaves the GJK/EPA collider (and its ~30 KB of per-thread EPA scratch)
// out of the kernel, for models without convex pairs.
// near (optional): the ncand pairs, ascending, that pair_apart (computed beforehand) did not
// rule out, the pairs without a bound included; without it every pair is tested here. The
// self-play world has ~550 pairs and ~40 near ones: the list skips the rest without a
// per-pair lookup.
template <typename T, bool kConvexPairs = true>
PWS_HD inline void collision(const ModelView<T>& m, const World<T>& d, const int* near = nullptr, int nnear = 0) {
  if (!m.collision_on) {
    d.con_ncon[0] = 0;
    d.con_overflow[0] = 0;
    return;
  }
  // a height-field pair (a convex pair) returns up to kMaxConPair contacts
  PreContact<T> buf[kConvexPairs ? kMaxConPair : kMaxPairContacts];
  int n = 0, total = 0;
  const int nscan = near ? nnear : m.npair;
  for (int q = 0; q < nscan; ++q) {
    const int p = near ? near[q] : q;
    if (!near && pair_has_bound(m, p) && pair_apart(m, d, p)) continue;
    int g1 = m.pair_geom1[p], g2 = m.pair_geom2[p];
    T margin = m.pair_margin[p] + m.pair_gap[p];
    Vec3<T> pos1 = load3(d.geom_xpos + 3 * g1), pos2 = load3(d.geom_xpos + 3 * g2);
    Mat33<T> mat1 = load33(d.geom_xmat + 9 * g1), mat2 = load33(d.geom_xmat + 9 * g2);
    if (sphere_filter(m.geom_type[g1], m.geom_type[g2], pos1, mat1, m.geom_rbound[g1], pos2, mat2,
                      m.geom_rbound[g2], margin))
      continue;
    if (m.pair_obb[p] && obb_apart(m, d, p)) continue;
    int cnt;
    if constexpr (kConvexPairs) {
      cnt = m.pair_collider[p] == kConvex
                ? convex_narrowphase(m, buf, margin, g1, pos1, mat1, g2, pos2, mat2)
                : narrowphase(m.pair_collider[p], buf, margin, pos1, mat1, load3(m.geom_size + 3 * g1), pos2,
                              mat2, load3(m.geom_size + 3 * g2));
    } else {
      cnt = narrowphase(m.pair_collider[p], buf, margin, pos1, mat1, load3(m.geom_size + 3 * g1), pos2, mat2,
                        load3(m.geom_size + 3 * g2));
    }
    total += cnt;
    T includemargin = m.pair_margin[p];
    for (int k = 0; k < cnt && n < m.nconmax; ++k, ++n) {
      d.con_dist[n] = buf[k].dist;
      store3(d.con_pos + 3 * n, buf[k].pos);
      store33(d.con_frame + 9 * n, make_frame(buf[k].normal, buf[k].tangent));
      d.con_includemargin[n] = includemargin;
      // dynamic pairs mix this world's geom frictions (max, or the higher-priority geom's)
      int fg1 = m.pair_friction_geom[2 * p], fg2 = m.pair_friction_geom[2 * p + 1];
      if (fg1 >= 0) {
        const T minmu = T(1e-5);
        T f[3];
        for (int i = 0; i < 3; ++i) {
          T a = d.geom_friction[3 * fg1 + i], b = d.geom_friction[3 * fg2 + i];
          f[i] = a > b ? a : b;
          f[i] = f[i] > minmu ? f[i] : minmu;
        }
        const T fr[5] = {f[0], f[0], f[1], f[2], f[2]};
        for (int i = 0; i < 5; ++i) d.con_friction[5 * n + i] = fr[i];
      } else {
        for (int i = 0; i < 5; ++i) d.con_friction[5 * n + i] = m.pair_friction[5 * p + i];
      }
      for (int i = 0; i < 2; ++i) d.con_solref[2 * n + i] = m.pair_solref[2 * p + i];
      for (int i = 0; i < 2; ++i) d.con_solreffriction[2 * n + i] = m.pair_solreffriction[2 * p + i];
      for (int i = 0; i < 5; ++i) d.con_solimp[5 * n + i] = m.pair_solimp[5 * p + i];
      d.con_dim[n] = m.pair_condim[p];
      d.con_geom[2 * n] = g1;
      d.con_geom[2 * n + 1] = g2;
      d.con_exclude[n] = buf[k].dist >= includemargin ? 1 : 0;
      d.con_pair[n] = p;
    }
  }
  d.con_ncon[0] = n;
  // con_overflow covers every collision pass of a step (RK4 runs four): set here, cleared by
  // begin_step (forward.h); one count per (world, step) event
  if (total > m.nconmax && d.con_overflow[0] == 0) {
    d.con_overflow[0] = 1;
    atomic_add_int(d.con_overflow_count, 1);
  }
}

}  // namespace pws
