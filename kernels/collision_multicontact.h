// Twin of pywarp_sim/collision_multicontact.py: MuJoCo 4's single-shot multicontact for boxes,
// cylinders, capsules and meshes (their convex hull's polygons) in float64: from the first GJK/EPA contact (collision_gjk.h), the
// features (face, edge, vertex) that carry it, and for a face aligned with a face or an edge
// of the other geom the clipped contacts (Sutherland-Hodgman), at most four. The polygons
// live in the EPA work buffer's storage (EpaWork::poly, over the polytope EPA is done with).
#pragma once

#include <math.h>

#include "collision_gjk.h"
#include "step_math.h"
#include "types.h"

namespace pws {
namespace ccd {

constexpr double kFaceTol = 0.996;    // mjFACE_TOL
constexpr double kEdgeTol = 0.0888;   // mjEDGE_TOL

// ---- single-shot multi-contact (collision_multicontact: MuJoCo 4's multiCCD for boxes, cylinders
// and capsules; features read off the EPA face's support vertices or the witness points) ----

// Features of one geom at a witness point (MuJoCo's multicontact bookkeeping).
struct Feature {
  int dim;  // 1 vertex / cap, 2 edge / side, 3 face (MuJoCo's simplex dimension)
  int nnormal;
  V3 normal[3];  // normals of the candidate faces
  int face[3];   // their ids (box 0..5 as +x -x +y -y +z -z; cylinder 0 top, 1 bottom)
  int nedge;
  V3 edge_dir[3];  // unit directions of the candidate edges
  V3 edge_start;
  V3 edge_end[3];  // far ends of the candidate edges
  // a mesh: its hull vertex ids on the feature (dim of them distinct) and its polygon table
  // offset; at a vertex (dim 1) the faces and edges are those of every hull polygon through
  // the vertex (nnormal = nedge = their count), read from the tables (feature_normal, ...)
  int mv[3];
  int polyadr;
};

struct MultiContact {
  int n;
  double dist[4];  // signed distance of each contact (negative: penetration)
  V3 pos[4];       // midpoint between the surfaces
  V3 normal;       // from geom 1 to geom 2
};

PWS_HD inline Feature empty_feature() {
  Feature f;
  f.dim = 3;
  f.nnormal = 0;
  f.nedge = 0;
  for (int i = 0; i < 3; ++i) {
    f.normal[i] = f.edge_dir[i] = f.edge_end[i] = zero();
    f.face[i] = 0;
  }
  f.edge_start = zero();
  f.mv[0] = f.mv[1] = f.mv[2] = 0;
  f.polyadr = 0;
  return f;
}

PWS_HD inline V3 local_point(const ConvexObj& o, const V3& x) { return mul_t(o.mat, x - o.pos); }

PWS_HD inline V3 box_face_normal(const ConvexObj& o, int f) {
  int k = f / 2;
  double s = f % 2 == 1 ? -1.0 : 1.0;
  return v3(o.mat(0, k) * s, o.mat(1, k) * s, o.mat(2, k) * s);
}

PWS_HD inline V3 box_vertex(const ConvexObj& o, double sx, double sy, double sz) {
  return mul(o.mat, v3(sx * o.size[0], sy * o.size[1], sz * o.size[2])) + o.pos;
}

// boxNormals2: the face within FACE_TOL of dir, if any.
PWS_HD inline void box_normal2(const ConvexObj& o, const V3& dir, Feature& f) {
  f.nnormal = 0;
  V3 local = normalize(mul_t(o.mat, dir));
  for (int fi = 0; fi < 6; ++fi) {
    if (f.nnormal != 0) break;
    int k = fi / 2;
    double s = fi % 2 == 1 ? -1.0 : 1.0;
    if (local[k] * s > kFaceTol) {
      f.normal[0] = box_face_normal(o, fi);
      f.normal[1] = f.normal[2] = zero();
      f.face[0] = fi;
      f.face[1] = f.face[2] = 0;
      f.nnormal = 1;
    }
  }
}

// Faces and edges of geom o through witness point x; dir points from o to the other geom.
PWS_HD inline Feature feature(const ConvexObj& o, const V3& x, const V3& dir) {
  Feature f = empty_feature();
  // the witness of a geom inflated by half the margin, back on the geom
  V3 unit = normalize(dir);
  V3 p = local_point(o, x - unit * (0.5 * o.margin));
  if (o.gtype == kBox) {
    double tol = 1e-5 * tmax(o.size[0], tmax(o.size[1], o.size[2]));
    double sgn[3] = {0.0, 0.0, 0.0};
    int non = 0;
    for (int k = 0; k < 3; ++k) {
      if (dabs(p[k] - o.size[k]) <= tol) {
        sgn[k] = 1.0;
        non += 1;
      } else if (dabs(p[k] + o.size[k]) <= tol) {
        sgn[k] = -1.0;
        non += 1;
      }
    }
    if (non == 0) {
      // not on the surface (rounding): the face within FACE_TOL of the direction (boxNormals2)
      box_normal2(o, dir, f);
      return f;
    }
    f.dim = 4 - non;
    for (int k = 0; k < 3; ++k) {  // faces through the feature, x before y before z (MuJoCo's order)
      if (sgn[k] != 0.0) {
        int fi = 2 * k + (sgn[k] < 0.0 ? 1 : 0);
        f.normal[f.nnormal] = box_face_normal(o, fi);
        f.face[f.nnormal] = fi;
        f.nnormal += 1;
      }
    }
    if (non == 2) {  // edge: along the free axis, from its negative to its positive end
      for (int k = 0; k < 3; ++k) {
        if (sgn[k] == 0.0) {
          double s0[3] = {sgn[0], sgn[1], sgn[2]}, s1[3] = {sgn[0], sgn[1], sgn[2]};
          s0[k] = -1.0;
          s1[k] = 1.0;
          f.edge_start = box_vertex(o, s0[0], s0[1], s0[2]);
          f.edge_end[0] = box_vertex(o, s1[0], s1[1], s1[2]);
          f.edge_dir[0] = normalize(f.edge_end[0] - f.edge_start);
          f.nedge = 1;
        }
      }
    } else if (non == 3) {  // vertex: its three edges
      f.edge_start = box_vertex(o, sgn[0], sgn[1], sgn[2]);
      for (int k = 0; k < 3; ++k) {
        double s1[3] = {sgn[0], sgn[1], sgn[2]};
        s1[k] = -s1[k];
        f.edge_end[k] = box_vertex(o, s1[0], s1[1], s1[2]);
        f.edge_dir[k] = normalize(f.edge_end[k] - f.edge_start);
      }
      f.nedge = 3;
    }
  } else if (o.gtype == kCylinder) {
    double tol = 1e-5 * tmax(o.size[0], o.size[1]);
    V3 axis = col(o.mat, 2);
    int cap = -1;
    if (dabs(p[2] - o.size[1]) <= tol)
      cap = 0;
    else if (dabs(p[2] + o.size[1]) <= tol)
      cap = 1;
    // the side line through the witness, from its end on one cap to the other cap
    double rxy = sqrt(p[0] * p[0] + p[1] * p[1]);
    V3 rim = v3(o.size[0], 0.0, 0.0);
    if (rxy > kMinval) rim = v3(p[0] * o.size[0] / rxy, p[1] * o.size[0] / rxy, 0.0);
    double esgn = cap == 1 ? 1.0 : -1.0;  // edge runs from the top cap down, or the bottom cap up
    rim[2] = -esgn * o.size[1];
    f.edge_start = mul(o.mat, rim) + o.pos;
    f.edge_dir[0] = axis * esgn;
    f.edge_end[0] = f.edge_start + axis * (esgn * 2.0 * o.size[1]);
    f.nedge = 1;
    if (cap >= 0) {
      f.dim = 1;
      f.normal[0] = cap == 1 ? -axis : axis;
      f.face[0] = cap;
      f.nnormal = 1;
    } else {
      f.dim = 2;
    }
  } else if (o.gtype == kCapsule) {
    // an edge: the segment (moved by the radius once the face is known)
    V3 axis = col(o.mat, 2);
    f.dim = 1;
    f.edge_start = o.pos - axis * o.size[1];
    f.edge_end[0] = o.pos + axis * o.size[1];
    f.edge_dir[0] = axis;
    f.nedge = 1;
  }
  return f;
}

// Support-vertex index of a box corner (bit k: +x, +y, +z) or cylinder rim point (cap).
PWS_HD inline int vertex_index(const ConvexObj& o, const V3& v) {
  V3 p = local_point(o, v);
  if (o.gtype == kCylinder) return p[2] > 0.0 ? 0 : 1;
  int idx = 0;
  if (p[0] > 0.0) idx |= 1;
  if (p[1] > 0.0) idx |= 2;
  if (p[2] > 0.0) idx |= 4;
  return idx;
}

// simplexDim: how many distinct support vertices (indices i0, i1, i2) span the EPA face. Where
// the first two coincide and the third differs, the third becomes the second (i1, v1 = i2, vc),
// so an edge is always (v0, v1).
PWS_HD inline int simplex_dim(int i0, int& i1, int i2, V3& v1, const V3& vc) {
  if (i0 == i1) {
    if (i0 == i2) return 1;
    i1 = i2;
    v1 = vc;
    return 2;
  }
  return (i2 == i0 || i2 == i1) ? 2 : 3;
}

// Faces and edges of a box or cylinder at the EPA face with vertices va, vb, vc on it, from
// their support indices (simplexDim, boxNormals, boxEdgeNormals, cylinderNormals,
// cylinderEdgeNormals); dir points from o to the other geom.
PWS_HD inline Feature vertex_feature(const ConvexObj& o, const V3& va, const V3& vb, const V3& vc, const V3& dir) {
  Feature f = empty_feature();
  int i0 = vertex_index(o, va), i1 = vertex_index(o, vb), i2 = vertex_index(o, vc);
  V3 v0 = va, v1 = vb;
  int dim = simplex_dim(i0, i1, i2, v1, vc);
  f.dim = dim;
  if (o.gtype == kCylinder) {
    if (dim == 1) {
      f.normal[0] = col(o.mat, 2) * (i0 == 1 ? -1.0 : 1.0);
      f.face[0] = i0;
      f.nnormal = 1;
    }
    double esgn = i0 == 1 ? 1.0 : -1.0;
    f.edge_dir[0] = col(o.mat, 2) * esgn;
    f.edge_end[0] = v0 + f.edge_dir[0] * (2.0 * o.size[1]);
    f.edge_start = v0;
    f.nedge = 1;
    return f;
  }
  // box: a face normal is set where all vertices share a sign in that axis
  const int bits[3] = {1, 2, 4};
  int allset[3] = {0, 0, 0}, noneset[3] = {0, 0, 0};
  for (int k = 0; k < 3; ++k) {
    int b = bits[k];
    bool a0 = (i0 & b) != 0, a1 = (i1 & b) != 0, a2 = (i2 & b) != 0;
    if (dim == 3) {
      if (a0 && a1 && a2) allset[k] = 1;
      if (!a0 && !a1 && !a2) noneset[k] = 1;
    } else if (dim == 2) {
      if (a0 && a1) allset[k] = 1;
      if (!a0 && !a1) noneset[k] = 1;
    }
  }
  if (dim == 1) {
    for (int k = 0; k < 3; ++k) {
      int fi = (i0 & bits[k]) != 0 ? 2 * k : 2 * k + 1;
      f.normal[k] = box_face_normal(o, fi);
      f.face[k] = fi;
    }
    f.nnormal = 3;
    // the three edges from the vertex
    double sv[3] = {-1.0, -1.0, -1.0};
    for (int k = 0; k < 3; ++k)
      if ((i0 & bits[k]) != 0) sv[k] = 1.0;
    for (int k = 0; k < 3; ++k) {
      double se[3] = {sv[0], sv[1], sv[2]};
      se[k] = -se[k];
      f.edge_end[k] = box_vertex(o, se[0], se[1], se[2]);
      f.edge_dir[k] = normalize(f.edge_end[k] - v0);
    }
    f.nedge = 3;
  } else {
    int c = 0;
    for (int k = 0; k < 3; ++k) {
      if (allset[k] != noneset[k]) {
        int fi = 2 * k + (noneset[k] == 1 ? 1 : 0);
        if (c < 3) {
          f.normal[c] = box_face_normal(o, fi);
          f.face[c] = fi;
        }
        c += 1;
      }
    }
    if (dim == 2) {
      f.edge_dir[0] = normalize(v1 - v0);
      f.edge_end[0] = v1;
      f.nedge = 1;
    }
    f.nnormal = c;
  }
  f.edge_start = v0;
  if ((dim == 3 && f.nnormal != 1) || (dim == 2 && f.nnormal != 2)) box_normal2(o, dir, f);
  return f;
}

// World position of mesh vertex v (index in the mesh).
PWS_HD inline V3 mesh_point(const ConvexObj& o, int v) { return mul(o.mat, mesh_vertex(o, v)) + o.pos; }

// collision_multicontact._mesh_vertex_id: the hull vertex whose support point is p (world):
// the one at distance margin / 2 from p, by descent over the hull graph, else by a scan.
PWS_HD inline int mesh_vertex_id(const ConvexObj& o, const V3& p) {
  V3 q = mul_t(o.mat, p - o.pos);
  double r = 0.5 * o.margin;
  if (o.graphadr < 0) {
    double best = 1e300;
    int ibest = 0;
    for (int i = 0; i < o.vertnum; ++i) {
      V3 dq = mesh_vertex(o, i) - q;
      double d2 = dot(dq, dq);
      if (d2 < best) {
        best = d2;
        ibest = i;
      }
    }
    return ibest;
  }
  const HullGraph g = hull_graph(o);
  // the descent starts at the hull vertex farthest along q's 3x3x3 grid direction (mesh_extrema,
  // the support's seeds): a support point lies near its vertex's direction from the mesh origin,
  // so few steps remain; where the descent stops short the scan below decides as before
  int cur = 0, prev = -1;
  double qn = length(q);
  if (qn > kMinval) cur = extrema_seed(o, q * (1.0 / qn));
  V3 dq0 = mesh_vertex(o, g.globalid[cur]) - q;
  double best = dot(dq0, dq0);
  while (cur != prev) {
    prev = cur;
    for (int i = g.edgeadr[prev]; g.localid[i] >= 0; ++i) {
      int loc = g.localid[i];
      V3 dq = mesh_vertex(o, g.globalid[loc]) - q;
      double d2 = dot(dq, dq);
      if (d2 < best) {
        best = d2;
        cur = loc;
      }
    }
  }
  double scale = dot(q, q) > r * r ? dot(q, q) : r * r;
  if (dabs(sqrt(best) - r) > 1e-6 * sqrt(scale) + 1e-12) {
    double err = 1e300;
    for (int k = 0; k < g.numvert; ++k) {
      double e = dabs(length(mesh_vertex(o, g.globalid[k]) - q) - r);
      if (e < err) {
        err = e;
        cur = k;
      }
    }
  }
  return g.globalid[cur];
}

// collision_multicontact._mesh_feature: meshNormals / meshEdgeNormals at the EPA face with
// support points va, vb, vc on it; ia, ib, ic: their mesh vertices as the support calls found
// them (MuJoCo's vertindex, CcdStatus::i1 / EpaWork::vid1), -1 where not recorded (a mesh the
// support scans, below kMeshHillclimbMin vertices): then mesh_vertex_id finds the vertex from
// the point (the Warp port's way, the same vertex: hull vertices lie apart).
template <typename T>
PWS_HD inline Feature mesh_feature(const ConvexObj& o, const ModelView<T>& m, int polyadr, const V3& va,
                                   const V3& vb, const V3& vc, int ia, int ib, int ic) {
  Feature f = empty_feature();
  f.polyadr = polyadr;
  int i0 = ia >= 0 ? ia : mesh_vertex_id(o, va);
  int i1 = ib >= 0 ? ib : mesh_vertex_id(o, vb);
  int i2 = ic >= 0 ? ic : mesh_vertex_id(o, vc);
  V3 v0 = va, v1 = vb;
  int dim = simplex_dim(i0, i1, i2, v1, vc);
  f.dim = dim;
  f.mv[0] = i0;
  f.mv[1] = i1;
  f.mv[2] = i2;
  f.edge_start = v0;
  const int* pm0 = m.mesh_polymap + m.mesh_polymapadr[o.vertadr + i0];
  int n0 = m.mesh_polymapnum[o.vertadr + i0];
  if (dim == 1) {
    f.nnormal = f.nedge = n0;
    return f;
  }
  // intersect: up to two polygons through both vertices, in the first's order
  const int* pm1 = m.mesh_polymap + m.mesh_polymapadr[o.vertadr + i1];
  int n1 = m.mesh_polymapnum[o.vertadr + i1];
  int edgeset[2] = {0, 0}, c = 0;
  for (int i = 0; i < n0; ++i)
    for (int j = 0; j < n1; ++j)
      if (c < 2 && pm0[i] == pm1[j]) edgeset[c++] = pm0[i];
  if (dim == 3) {
    const int* pm2 = m.mesh_polymap + m.mesh_polymapadr[o.vertadr + i2];
    int n2 = m.mesh_polymapnum[o.vertadr + i2];
    int c3 = 0;
    for (int i = 0; i < c; ++i)
      for (int j = 0; j < n2; ++j)
        if (c3 == 0 && edgeset[i] == pm2[j]) {
          f.face[0] = edgeset[i];
          c3 = 1;
        }
    f.nnormal = c3;
  } else {
    for (int i = 0; i < c; ++i) f.face[i] = edgeset[i];
    f.nnormal = c;
    f.edge_dir[0] = normalize(v1 - v0);
    f.edge_end[0] = v1;
    f.nedge = 1;
  }
  for (int i = 0; i < f.nnormal; ++i) {
    const T* pn = m.mesh_polynormal + 3 * (polyadr + f.face[i]);
    f.normal[i] = mul(o.mat, v3(double(pn[0]), double(pn[1]), double(pn[2])));
  }
  return f;
}

// Id (in the mesh) of the feature's i-th candidate face.
template <typename T>
PWS_HD inline int feature_face(const ConvexObj& o, const ModelView<T>& m, const Feature& f, int i) {
  if (o.gtype == kMesh && f.dim == 1) return m.mesh_polymap[m.mesh_polymapadr[o.vertadr + f.mv[0]] + i];
  return f.face[i];
}

// Outward unit normal of the feature's i-th candidate face.
template <typename T>
PWS_HD inline V3 feature_normal(const ConvexObj& o, const ModelView<T>& m, const Feature& f, int i) {
  if (o.gtype == kMesh && f.dim == 1) {
    const T* pn = m.mesh_polynormal + 3 * (f.polyadr + feature_face(o, m, f, i));
    return mul(o.mat, v3(double(pn[0]), double(pn[1]), double(pn[2])));
  }
  return f.normal[i];
}

// Far end of the feature's i-th candidate edge (from f.edge_start): at a mesh vertex, the
// polygon's previous vertex.
template <typename T>
PWS_HD inline V3 feature_edge_end(const ConvexObj& o, const ModelView<T>& m, const Feature& f, int i) {
  if (o.gtype == kMesh && f.dim == 1) {
    int poly = f.polyadr + feature_face(o, m, f, i);
    const int* pv = m.mesh_polyvert + m.mesh_polyvertadr[poly];
    int nv = m.mesh_polyvertnum[poly];
    for (int j = 0; j < nv; ++j)
      if (pv[j] == f.mv[0]) return mesh_point(o, pv[j == 0 ? nv - 1 : j - 1]);
    return f.edge_start;
  }
  return f.edge_end[i];
}

// Unit direction of the feature's i-th candidate edge.
template <typename T>
PWS_HD inline V3 feature_edge_dir(const ConvexObj& o, const ModelView<T>& m, const Feature& f, int i) {
  if (o.gtype == kMesh && f.dim == 1) return normalize(feature_edge_end(o, m, f, i) - f.edge_start);
  return f.edge_dir[i];
}

// Vertices of a box face (boxFace's order), a cylinder cap (16-gon) or a mesh's hull polygon
// (meshFace: its vertices in reverse order) into buf, moved out by half the margin as the
// support points are; returns their number.
template <typename T>
PWS_HD inline int face_polygon(const ConvexObj& o, const ModelView<T>& m, int polyadr, int face, V3* buf) {
  double out = 0.5 * o.margin;
  if (o.gtype == kMesh) {
    int poly = polyadr + face;
    const int* pv = m.mesh_polyvert + m.mesh_polyvertadr[poly];
    int nv = m.mesh_polyvertnum[poly];
    const T* pn = m.mesh_polynormal + 3 * poly;
    V3 shift = mul(o.mat, v3(double(pn[0]), double(pn[1]), double(pn[2]))) * out;
    for (int i = 0; i < nv; ++i) buf[i] = mesh_point(o, pv[nv - 1 - i]) + shift;
    return nv;
  }
  if (o.gtype == kCylinder) {
    double sgn = face == 1 ? -1.0 : 1.0;
    for (int i = 0; i < kNCylPoly; ++i) {
      double ang = double(i) * (2.0 * 3.14159265358979323846 / 16.0);
      V3 local = v3(cos(ang) * o.size[0], -sin(ang) * o.size[0] * sgn, sgn * (o.size[1] + out));
      buf[i] = mul(o.mat, local) + o.pos;
    }
    return kNCylPoly;
  }
  int k = face / 2;
  double s = face % 2 == 1 ? -1.0 : 1.0;
  // corners (a, b) in the two other axes, in boxFace's winding
  const double ta[6][4] = {{1, 1, -1, -1}, {1, 1, -1, -1}, {-1, 1, 1, -1},
                                  {-1, 1, 1, -1}, {-1, 1, 1, -1}, {1, -1, -1, 1}};
  const double tb[6][4] = {{1, -1, -1, 1}, {-1, 1, 1, -1}, {-1, -1, 1, 1},
                                  {1, 1, -1, -1}, {1, 1, -1, -1}, {1, 1, -1, -1}};
  for (int i = 0; i < 4; ++i) {
    double c[3] = {0.0, 0.0, 0.0};
    c[k] = s;
    double a = ta[face][i], b = tb[face][i];
    if (k == 0) {
      c[1] = a;
      c[2] = b;
    } else if (k == 1) {
      c[0] = a;
      c[2] = b;
    } else {
      c[0] = a;
      c[1] = b;
    }
    buf[i] = box_vertex(o, c[0], c[1], c[2]) + box_face_normal(o, face) * out;
  }
  return 4;
}

PWS_HD inline double quad_area(const V3* poly, int n, int a, int b, int c, int d) {
  return 0.5 * length(cross(poly[a % n] - poly[c % n], poly[b % n] - poly[d % n]));
}

// polygonQuad: four vertices of a convex polygon spanning the largest area.
PWS_HD inline void polygon_quad(const V3* poly, int n, int res[4]) {
  int a = 0, b = 1, c = 2, d = 3;
  res[0] = 0;
  res[1] = 1;
  res[2] = 2;
  res[3] = 3;
  double m = quad_area(poly, n, a, b, c, d);
  while (a < n) {
    bool grow = true;
    while (grow) {
      double m_next = quad_area(poly, n, a, b, c, d + 1);
      if (m_next <= m) {
        grow = false;
      } else {
        m = m_next;
        d = (d + 1) % n;
        res[0] = a; res[1] = b % n; res[2] = c % n; res[3] = d;
        bool growc = true;
        while (growc) {
          m_next = quad_area(poly, n, a, b, c + 1, d);
          if (m_next <= m) {
            growc = false;
          } else {
            m = m_next;
            c = (c + 1) % n;
            res[0] = a; res[1] = b % n; res[2] = c; res[3] = d;
          }
        }
        bool growb = true;
        while (growb) {
          m_next = quad_area(poly, n, a, b + 1, c, d);
          if (m_next <= m) {
            growb = false;
          } else {
            m = m_next;
            b = (b + 1) % n;
            res[0] = a; res[1] = b; res[2] = c % n; res[3] = d;
          }
        }
      }
    }
    if (b == a) {
      b = (b + 1) % n;
      if (c == b) {
        c = (c + 1) % n;
        if (d == c) d = (d + 1) % n;
      }
    }
    a += 1;
  }
}

// polygonClip: clips polygon ws.poly.clip_a[:nface2] by the side planes of the face ws.poly.face[:nface1]
// (outward normal n); contacts at the clipped points below the face, midway to it along dir,
// dist margin + depth (the geoms are inflated by half the margin). At most four (largest
// quadrilateral), two for an edge. flip: the clipped polygon is on geom 1 (the normal then
// points along dir).
PWS_HD inline MultiContact clip(EpaWork& ws, int nface1, int nface2, const V3& n, const V3& dir, double margin,
                                bool flip) {
  MultiContact mc;
  mc.n = 0;
  if (nface1 < 3) return mc;
  const V3* face1 = ws.poly.face;
  int npoly = nface2;
  // ping-pong between the two clip buffers (the Warp port's vert2 and vert)
  V3* src = ws.poly.clip_a;
  V3* dst = ws.poly.clip_b;
  for (int e = 0; e < nface1; ++e) {
    // the plane through the face's side e, normal to the face, pointing inwards
    V3 a = face1[e];
    V3 pn = normalize(cross(face1[(e + 1) % nface1] - a, n));
    double pd = dot(pn, a);
    int nclip = 0;
    for (int i = 0; i < npoly; ++i) {
      int iq = i + 1 == npoly ? 0 : i + 1;
      V3 P = src[i], Q = src[iq];
      bool inside1 = dot(P - a, pn) > -kMinval;
      bool inside2 = dot(Q - a, pn) > -kMinval;
      if (inside1 || inside2) {
        if (inside1 && inside2) {
          dst[nclip++] = Q;
        } else {
          V3 PQ = Q - P;
          double tmp = dot(pn, PQ);
          if (tmp != 0.0) {
            double t = (pd - dot(pn, P)) / tmp;
            if (t >= 0.0 && t <= 1.0) dst[nclip++] = P + PQ * t;
          }
          if (inside2) dst[nclip++] = Q;
        }
      }
    }
    V3* tmpp = src;
    src = dst;
    dst = tmpp;
    npoly = nclip;
  }

  // keep the points below the face, compacted into the other buffer
  V3 f0 = face1[0];
  int m = 0;
  for (int i = 0; i < npoly; ++i) {
    V3 v = src[i];
    if (dot(v - f0, n) <= 0.0) dst[m++] = v;
  }
  if (m < 1) return mc;
  const V3* poly = dst;
  int idx[4] = {0, 1, 2, 3};
  int count = m < 4 ? m : 4;
  if (m > 4) {
    polygon_quad(poly, m, idx);
  } else if (nface2 == 2 && m > 2) {
    int best1 = 0, best2 = 1;
    double dbest = 0.0;
    for (int i = 0; i < m; ++i) {
      for (int j = i + 1; j < m; ++j) {
        V3 diff = poly[j] - poly[i];
        double d2 = dot(diff, diff);
        if (d2 > dbest) {
          dbest = d2;
          best1 = i;
          best2 = j;
        }
      }
    }
    idx[0] = best1;
    idx[1] = best2;
    count = 2;
  }
  // MuJoCo 4.0: the witness on the face is the clipped point projected onto the face's plane,
  // the other witness lies along dir from it, the depth is the projection's along dir
  double cosine = -dot(n, dir);
  for (int i = 0; i < count; ++i) {
    V3 v = poly[idx[i]];
    double dist = dot(v - f0, n);
    double depth = dist * cosine;
    mc.dist[i] = margin + depth;
    mc.pos[i] = v - n * dist - dir * (0.5 * depth);
  }
  mc.n = count;
  mc.normal = flip ? dir : -dir;
  return mc;
}

// multicontact: contacts of aligned faces / an edge on a face; n = 0 when none are.
// st: the contact (witnesses; st.face its EPA face, -1 when it came from GJK alone, then st.s1 /
// st.s2 hold GJK's simplex); g1, g2: the geoms (a mesh's tables).
template <typename T>
PWS_HD inline MultiContact multicontact(EpaWork& ws, const ConvexObj& o1, const ConvexObj& o2, const CcdStatus& st,
                                        double margin, const ModelView<T>& m, int g1, int g2) {
  MultiContact mc;
  mc.n = 0;
  V3 x1 = st.x1, x2 = st.x2;
  V3 dir = x2 - x1;
  Feature f1 = feature(o1, x1, -dir);
  Feature f2 = feature(o2, x2, dir);
  int pa1 = o1.gtype == kMesh ? m.mesh_polyadr[m.geom_dataid[g1]] : 0;
  int pa2 = o2.gtype == kMesh ? m.mesh_polyadr[m.geom_dataid[g2]] : 0;
  if (st.face >= 0) {  // boxes, cylinders, meshes: the features of the EPA face's support vertices
    const int* fv = ws.face_verts[st.face];
    if (o1.gtype == kBox || o1.gtype == kCylinder)
      f1 = vertex_feature(o1, ws.vert1[fv[0]], ws.vert1[fv[1]], ws.vert1[fv[2]], -dir);
    else if (o1.gtype == kMesh)
      f1 = mesh_feature(o1, m, pa1, ws.vert1[fv[0]], ws.vert1[fv[1]], ws.vert1[fv[2]], ws.vid1[fv[0]],
                        ws.vid1[fv[1]], ws.vid1[fv[2]]);
    if (o2.gtype == kBox || o2.gtype == kCylinder)
      f2 = vertex_feature(o2, ws.vert2[fv[0]], ws.vert2[fv[1]], ws.vert2[fv[2]], dir);
    else if (o2.gtype == kMesh)
      f2 = mesh_feature(o2, m, pa2, ws.vert2[fv[0]], ws.vert2[fv[1]], ws.vert2[fv[2]], ws.vid2[fv[0]],
                        ws.vid2[fv[1]], ws.vid2[fv[2]]);
  } else if (o2.gtype == kMesh) {  // GJK's simplex (a capsule's shallow contact)
    int k1 = st.nsimplex - 1 < 1 ? st.nsimplex - 1 : 1;
    int k2 = st.nsimplex - 1 < 2 ? st.nsimplex - 1 : 2;
    f2 = mesh_feature(o2, m, pa2, st.s2[0], st.s2[k1], st.s2[k2], st.i2[0], st.i2[k1], st.i2[k2]);
  }
  // a face of geom 1 facing a face of geom 2: of the pairs within kFaceTol, the most nearly
  // antiparallel (a vertex of a finely tessellated hull carries several faces within it)
  int fi = -1, fj = -1;
  double best = -kFaceTol;
  for (int i = 0; i < f1.nnormal; ++i) {
    V3 ni = feature_normal(o1, m, f1, i);
    for (int j = 0; j < f2.nnormal; ++j) {
      double c = dot(ni, feature_normal(o2, m, f2, j));
      if (c < best) {
        best = c;
        fi = i;
        fj = j;
      }
    }
  }
  if (fi >= 0) {
    V3 nrm1 = feature_normal(o1, m, f1, fi), nrm2 = feature_normal(o2, m, f2, fj);
    // the features are read; from here the polytope's storage holds the polygons
    int n1 = face_polygon(o1, m, pa1, feature_face(o1, m, f1, fi), ws.poly.face);
    int n2 = face_polygon(o2, m, pa2, feature_face(o2, m, f2, fj), ws.poly.clip_a);
    return clip(ws, n1, n2, nrm1, nrm2, margin, false);
  }
  // an edge of one geom lying in a face of the other, the face turned to the edge's geom:
  // geom 1's edge first when its feature is the lower-dimensional one, then the other way
  // (MuJoCo 4.0.0 also reports a cylinder's side on the other's cap in the second order)
  bool first1 = f1.dim < 3 && f1.dim <= f2.dim;
  bool edge1 = false;
  int ie = -1, jf = -1;
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool try1 = attempt == 1 ? !first1 : first1;
    if (jf < 0 && ((try1 && f1.dim < 3) || (!try1 && f2.dim < 3))) {
      const Feature& ea = try1 ? f1 : f2;
      const Feature& fb = try1 ? f2 : f1;
      const ConvexObj& eo = try1 ? o1 : o2;
      const ConvexObj& fo = try1 ? o2 : o1;
      V3 side = try1 ? dir : dir * -1.0;
      for (int j = 0; j < fb.nnormal; ++j) {
        V3 nj = feature_normal(fo, m, fb, j);
        if (jf < 0 && dot(nj, side) > kMinval) {
          for (int i = 0; i < ea.nedge; ++i) {
            if (jf < 0 && dabs(dot(feature_edge_dir(eo, m, ea, i), nj)) < kEdgeTol) {
              ie = i;
              jf = j;
              edge1 = try1;
            }
          }
        }
      }
    }
  }
  if (jf < 0) return mc;
  const Feature& ea = edge1 ? f1 : f2;
  const Feature& fb = edge1 ? f2 : f1;
  const ConvexObj& eo = edge1 ? o1 : o2;
  const ConvexObj& fo = edge1 ? o2 : o1;
  int paf = edge1 ? pa2 : pa1;
  V3 nrm = feature_normal(fo, m, fb, jf);
  V3 start = ea.edge_start;
  V3 end = feature_edge_end(eo, m, ea, ie);
  if (eo.gtype == kCapsule) {
    // the segment moved by the radius along the contact normal's part normal to the axis
    V3 axis = ea.edge_dir[0];
    V3 toward = normalize(x1 - x2);
    if (!edge1) toward = -toward;
    V3 shift = (toward - axis * dot(toward, axis)) * (eo.size[0] + 0.5 * eo.margin);
    start = start + shift;
    end = end + shift;
  }
  int nf = face_polygon(fo, m, paf, feature_face(fo, m, fb, jf), ws.poly.face);
  ws.poly.clip_a[0] = start;
  ws.poly.clip_a[1] = end;
  // the edge is clipped as the polygon: its points are on geom 1 when edge1
  return clip(ws, nf, 2, nrm, -nrm, margin, edge1);
}

}  // namespace ccd
}  // namespace pws
