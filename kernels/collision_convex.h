// Twin of pywarp_sim/collision_convex.py: MuJoCo's mjc_Convex (native ccd, MuJoCo 4) for the
// geom pairs without an analytic collider (Collider CONVEX): one GJK/EPA contact
// (collision_gjk.h), or for cylinder-cylinder, cylinder-box and capsule-cylinder pairs the
// single-shot multicontact (collision_multicontact.h), and a height field's prisms under a convex
// geom (hfield_convex: mjc_ConvexHField, up to kMaxConPair contacts), in float64; the contacts
// go back in the step's float to the driver's contact list (collision_driver.h).
#pragma once

#include "collision_gjk.h"
#include "collision_multicontact.h"
#include "collision_primitive.h"
#include "step_math.h"
#include "types.h"

namespace pws {
namespace ccd {

// collision_convex._mesh_obj: a mesh geom's tables into its ConvexObj.
template <typename T>
PWS_HD inline void mesh_obj(ConvexObj& o, const ModelView<T>& m, int g) {
  if (o.gtype != kMesh) return;
  int mid = m.geom_dataid[g];
  o.vertadr = m.mesh_vertadr[mid];
  o.vertnum = m.mesh_vertnum[mid];
  o.graphadr = m.mesh_graphadr[mid];
  o.mesh_vert = m.mesh_vert;
  o.mesh_graph = m.mesh_graph;
  o.mesh_extrema = m.mesh_extrema + 27 * mid;
  o.hullnbradr = m.mesh_hullnbradr + o.vertadr;
  o.hullnbrnum = m.mesh_hullnbrnum + o.vertadr;
  o.hullnbrid = m.mesh_hullnbrid;
  o.hullnbr = m.mesh_hullnbr;
}

// collision_convex._poly_quad: polygonQuad (collision_multicontact.h) over a hull polygon's
// vertices in the polygon's order from position `start`, read through `pt(k)` (the k-th
// vertex's world position); res: positions in that order of the four spanning the largest area.
template <typename P>
PWS_HD inline void poly_quad(const P& pt, int n, int res[4]) {
  auto area = [&](int a, int b, int c, int d) {
    return 0.5 * length(cross(pt(a % n) - pt(c % n), pt(b % n) - pt(d % n)));
  };
  int a = 0, b = 1, c = 2, d = 3;
  res[0] = 0, res[1] = 1, res[2] = 2, res[3] = 3;
  double m = area(a, b, c, d);
  while (a < n) {
    for (;;) {
      double m_next = area(a, b, c, d + 1);
      if (m_next <= m) break;
      m = m_next;
      d = (d + 1) % n;
      res[0] = a, res[1] = b % n, res[2] = c % n, res[3] = d;
      for (;;) {
        m_next = area(a, b, c + 1, d);
        if (m_next <= m) break;
        m = m_next;
        c = (c + 1) % n;
        res[0] = a, res[1] = b % n, res[2] = c, res[3] = d;
      }
      for (;;) {
        m_next = area(a, b + 1, c, d);
        if (m_next <= m) break;
        m = m_next;
        b = (b + 1) % n;
        res[0] = a, res[1] = b, res[2] = c % n, res[3] = d;
      }
    }
    if (b == a) {
      b = (b + 1) % n;
      if (c == b) {
        c = (c + 1) % n;
        if (d == c) d = (d + 1) % n;
      }
    }
    ++a;
  }
}

// collision_convex.plane_mesh: mjc_PlaneConvex for a mesh as MuJoCo 4 computes it (see there):
// the support vertex towards the plane and the hull polygon through it that faces the plane
// most, its vertices in the polygon's order from the support vertex; over four vertices, the
// four polygonQuad picks; the contacts are those within margin.
template <typename T>
PWS_HD inline int plane_mesh(double dist[4], V3 pos[4], V3 normal[4], double margin, const V3& p1,
                             const M33& mat1, const ConvexObj& o, const ModelView<T>& m, int g2) {
  V3 nrm = col(mat1, 2);
  V3 local = mul_t(o.mat, nrm * -1.0);
  int ia = mesh_support_vertex(o, local, true);
  int va = o.vertadr;
  auto world = [&](int v) { return mul(o.mat, mesh_vertex(o, v)) + o.pos; };
  auto depth = [&](int v) { return dot(nrm, world(v) - p1); };
  double dist_a = depth(ia);
  if (dist_a > margin) return 0;
  int padr = m.mesh_polyadr[m.geom_dataid[g2]];
  double best = -2.0;
  int poly = -1;
  for (int k = 0; k < m.mesh_polymapnum[va + ia]; ++k) {
    int p = padr + m.mesh_polymap[m.mesh_polymapadr[va + ia] + k];
    const T* pn = m.mesh_polynormal + 3 * p;
    double c = double(pn[0]) * local[0] + double(pn[1]) * local[1] + double(pn[2]) * local[2];
    if (c > best) {
      best = c;
      poly = p;
    }
  }
  if (poly < 0) {
    dist[0] = dist_a;
    pos[0] = world(ia) - nrm * (0.5 * dist_a);
    normal[0] = nrm;
    return 1;
  }
  const int* pv = m.mesh_polyvert + m.mesh_polyvertadr[poly];
  int nv = m.mesh_polyvertnum[poly];
  int start = 0;
  for (int k = 0; k < nv; ++k)
    if (pv[k] == ia) start = k;
  auto pt = [&](int k) { return world(pv[(start + k) % nv]); };
  int keep[4] = {0, 1, 2, 3};
  if (nv > 4) poly_quad(pt, nv, keep);
  int n = 0;
  for (int j = 0; j < nv && n < 4; ++j) {
    if (nv > 4 && j != keep[0] && j != keep[1] && j != keep[2] && j != keep[3]) continue;
    V3 x = pt(j);
    double dv = dot(nrm, x - p1);
    if (dv > margin) continue;
    dist[n] = dv;
    pos[n] = x - nrm * (0.5 * dv);
    normal[n] = nrm;
    ++n;
  }
  return n;
}

// Pairs that take MuJoCo 4's single-shot multicontact (collision_convex._single_shot_pair).
PWS_HD inline bool single_shot_pair(int type1, int type2) {
  if (type2 == kMesh) return type1 == kCapsule || type1 == kCylinder || type1 == kBox || type1 == kMesh;
  if (type1 == kCapsule) return type2 == kCylinder;
  return (type1 == kCylinder || type1 == kBox) && (type2 == kCylinder || type2 == kBox);
}

// mjc_Convex (native ccd, MuJoCo 4): one GJK/EPA contact, or the single-shot multicontact of
// aligned features for cylinder-cylinder, cylinder-box, capsule-cylinder and capsule / cylinder /
// box / mesh pairs with a mesh. Returns
// the number of contacts (at most 4) written to dist / pos / normal (from geom 1 to geom 2).
// Poses, sizes, margin and tolerance come in the step's float and are widened to float64, as
// the Warp port does.
template <typename T>
PWS_HD inline int convex(EpaWork& ws, double dist[4], V3 pos[4], V3 normal[4], T margin_t, int type1, const Vec3<T>& pos1,
                         const Mat33<T>& mat1, const Vec3<T>& size1, int type2, const Vec3<T>& pos2,
                         const Mat33<T>& mat2, const Vec3<T>& size2, T tol_t, int iterations, int multiccd,
                         const ModelView<T>& m, int g1, int g2) {
  double margin = double(margin_t), tol = double(tol_t);
  ConvexObj o1, o2;
  o1.gtype = type1;
  o2.gtype = type2;
  for (int i = 0; i < 3; ++i) {
    o1.pos[i] = double(pos1[i]);
    o1.size[i] = double(size1[i]);
    o2.pos[i] = double(pos2[i]);
    o2.size[i] = double(size2[i]);
  }
  for (int i = 0; i < 9; ++i) {
    o1.mat.m[i] = double(mat1.m[i]);
    o2.mat.m[i] = double(mat2.m[i]);
  }
  o1.margin = o2.margin = margin;
  mesh_obj(o1, m, g1);
  mesh_obj(o2, m, g2);
  if (type1 == 0) return plane_mesh(dist, pos, normal, margin, o1.pos, o1.mat, o2, m, g2);  // plane

  CcdStatus st;
  double d = ccd(ws, &st, o1, o2, tol, iterations);
  // mjc_penetration: a contact only where the inflated geoms overlap
  if (!(d < 0.0 && st.nx > 0)) return 0;
  if (multiccd != 0 && single_shot_pair(type1, type2)) {
    MultiContact mc = multicontact(ws, o1, o2, st, margin, m, g1, g2);
    if (mc.n > 0) {
      for (int k = 0; k < mc.n; ++k) {
        dist[k] = mc.dist[k];
        pos[k] = mc.pos[k];
        normal[k] = mc.normal;
      }
      return mc.n;
    }
  }
  dist[0] = margin + st.dist;
  pos[0] = (st.x1 + st.x2) * 0.5;
  normal[0] = normalize(st.x1 - st.x2);
  return 1;
}

// Height fields in the Model view (Model.hfield_table, io.py): per field 8 floats (size[0..3],
// nrow, ncol, the first elevation's index in the table, 0), then the elevations; one array, as
// the view travels in CUDA kernel parameters (kMaxKernelParamBytes).
constexpr int kHFieldHeader = 8;

// collision_convex._hfield_vertex: grid point (row, col) of the top surface.
template <typename T>
PWS_HD inline V3 hfield_vertex(const T* table, int adr, int ncol, const double size[4], int row, int col,
                               double dx, double dy) {
  double z = double(table[adr + row * ncol + col]) * size[2];
  return v3(dx * double(col) - size[0], dy * double(row) - size[1], z);
}

// collision_convex.hfield_prism: prism i (0, 1) of grid cell (r, c - 1)..(r + 1, c), its vertices
// in MuJoCo's addPrismVert order, bottom at -size[3], inflated by margin / 2 like any convex geom.
template <typename T>
PWS_HD inline ConvexObj hfield_prism(const T* table, int adr, int ncol, const double size[4], int r, int c, int i,
                                     double dx, double dy, double margin) {
  V3 a = hfield_vertex(table, adr, ncol, size, r, c - 1, dx, dy);
  V3 b = hfield_vertex(table, adr, ncol, size, r + 1, c, dx, dy);
  V3 v[3] = {a, b, hfield_vertex(table, adr, ncol, size, r, c, dx, dy)};
  if (i == 0) {
    v[0] = hfield_vertex(table, adr, ncol, size, r + 1, c - 1, dx, dy);
    v[1] = a;
    v[2] = b;
  }
  ConvexObj o;
  o.gtype = kHField;
  for (int k = 0; k < 3; ++k)
    for (int j = 0; j < 3; ++j) o.mat.m[3 * k + j] = v[k][j];
  o.size = v3(-size[3], 0.0, 0.0);
  o.margin = margin;
  // mjc_center: the mean of the six vertices, summed bottom face first
  V3 ctr = zero();
  for (int k = 0; k < 3; ++k) ctr = ctr + v3(v[k][0], v[k][1], -size[3]);
  for (int k = 0; k < 3; ++k) ctr = ctr + v[k];
  o.pos = ctr * (1.0 / 6.0);
  return o;
}

// collision_convex.convex's height-field branch: mjc_ConvexHField (see there). o1 is the field
// (its pose), o2 the geom; contacts go to buf (at most kMaxConPair), in the step's float.
template <typename T>
PWS_HD inline int hfield_convex(EpaWork& ws, PreContact<T>* buf, const ConvexObj& o1, ConvexObj o2, int g1,
                                double margin, double tol, int iterations, const ModelView<T>& m) {
  const T* hdr = m.hfield_table + kHFieldHeader * m.geom_dataid[g1];
  const double size[4] = {double(hdr[0]), double(hdr[1]), double(hdr[2]), double(hdr[3])};
  const int nrow = int(hdr[4]), ncol = int(hdr[5]), adr = int(hdr[6]);
  // the geom in the field's frame, its bounding box from support points without margin
  o2.pos = mul_t(o1.mat, o2.pos - o1.pos);
  o2.mat = matmul(transpose(o1.mat), o2.mat);
  o2.margin = 0.0;
  double xmax = support_geom(o2, v3(1.0, 0.0, 0.0))[0], xmin = support_geom(o2, v3(-1.0, 0.0, 0.0))[0];
  double ymax = support_geom(o2, v3(0.0, 1.0, 0.0))[1], ymin = support_geom(o2, v3(0.0, -1.0, 0.0))[1];
  double zmax = support_geom(o2, v3(0.0, 0.0, 1.0))[2], zmin = support_geom(o2, v3(0.0, 0.0, -1.0))[2];
  o2.margin = margin;
  if (xmin - margin > size[0] || xmax + margin < -size[0] || ymin - margin > size[1] || ymax + margin < -size[1] ||
      zmin - margin > size[2] || zmax + margin < -size[3])
    return 0;
  int cmin = int(floor((xmin - margin + size[0]) / (2.0 * size[0]) * double(ncol - 1)));
  int cmax = int(ceil((xmax + margin + size[0]) / (2.0 * size[0]) * double(ncol - 1)));
  int rmin = int(floor((ymin - margin + size[1]) / (2.0 * size[1]) * double(nrow - 1)));
  int rmax = int(ceil((ymax + margin + size[1]) / (2.0 * size[1]) * double(nrow - 1)));
  cmin = cmin > 0 ? cmin : 0;
  cmax = cmax < ncol - 1 ? cmax : ncol - 1;
  rmin = rmin > 0 ? rmin : 0;
  rmax = rmax < nrow - 1 ? rmax : nrow - 1;
  double dx = (2.0 * size[0]) / double(ncol - 1), dy = (2.0 * size[1]) / double(nrow - 1);

  int n = 0;
  for (int r = rmin; r < rmax; ++r) {
    for (int c = cmin + 1; c <= cmax; ++c) {
      for (int i = 0; i < 2; ++i) {
        ConvexObj prism = hfield_prism(m.hfield_table, adr, ncol, size, r, c, i, dx, dy, margin);
        // prism height test: a prism whose top is more than margin below the geom is skipped
        if (prism.mat.m[2] + margin < zmin && prism.mat.m[5] + margin < zmin && prism.mat.m[8] + margin < zmin)
          continue;
        CcdStatus st;
        double d = ccd(ws, &st, prism, o2, tol, iterations);
        if (!(d < 0.0 && st.nx > 0)) continue;  // mjc_penetration: the inflated shapes overlap
        V3 p = mul(o1.mat, (st.x1 + st.x2) * 0.5) + o1.pos;
        V3 nrm = mul(o1.mat, normalize(st.x1 - st.x2));
        set_contact(buf + n, T(margin + st.dist), vec3(T(p[0]), T(p[1]), T(p[2])), vec3(T(nrm[0]), T(nrm[1]), T(nrm[2])),
                    zero3<T>());
        if (++n >= kMaxConPair) return n;
      }
    }
  }
  return n;
}

}  // namespace ccd

// Collider CONVEX (collision_convex._convex_narrowphase): ccd::convex in float64, its contacts
// in the step's float for the driver's contact list (collision_driver.h); a height field's
// (ccd::hfield_convex) up to kMaxConPair.
template <typename T>
PWS_HD inline int convex_narrowphase(const ModelView<T>& m, PreContact<T>* buf, T margin, int g1, const Vec3<T>& pos1,
                                     const Mat33<T>& mat1, int g2, const Vec3<T>& pos2, const Mat33<T>& mat2) {
  // one EPA work buffer (~29 KB, GPU local memory) for both colliders
  ccd::EpaWork ws;  // uninitialised on purpose: every entry is written before it is read
  ws.nface_cap = 6 * m.ccd_iterations > 2 * ccd::kNCylPoly ? 6 * m.ccd_iterations : 2 * ccd::kNCylPoly;
  if (m.geom_type[g1] == ccd::kHField) {
    ccd::ConvexObj o1, o2;
    o1.gtype = ccd::kHField;
    o2.gtype = m.geom_type[g2];
    for (int i = 0; i < 3; ++i) {
      o1.pos[i] = double(pos1[i]);
      o2.pos[i] = double(pos2[i]);
      o2.size[i] = double(m.geom_size[3 * g2 + i]);
    }
    for (int i = 0; i < 9; ++i) {
      o1.mat.m[i] = double(mat1.m[i]);
      o2.mat.m[i] = double(mat2.m[i]);
    }
    ccd::mesh_obj(o2, m, g2);
    return ccd::hfield_convex(ws, buf, o1, o2, g1, double(margin), double(m.ccd_tolerance), m.ccd_iterations, m);
  }
  double dist[4];
  ccd::V3 pos[4], normal[4];
  int cnt = ccd::convex(ws, dist, pos, normal, margin, m.geom_type[g1], pos1, mat1, load3(m.geom_size + 3 * g1),
                        m.geom_type[g2], pos2, mat2, load3(m.geom_size + 3 * g2), m.ccd_tolerance,
                        m.ccd_iterations, m.multiccd, m, g1, g2);
  for (int k = 0; k < cnt; ++k)
    set_contact(buf + k, T(dist[k]), vec3(T(pos[k][0]), T(pos[k][1]), T(pos[k][2])),
                vec3(T(normal[k][0]), T(normal[k][1]), T(normal[k][2])), zero3<T>());
  return cnt;
}

}  // namespace pws
