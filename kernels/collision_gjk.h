// Twin of pywarp_sim/collision_gjk.py: MuJoCo's native convex collision detection in float64
// (engine_collision_gjk.c): the geoms' support functions, GJK (Montanari et al.'s distance
// sub-algorithm), the EPA polytope and its work buffer, and mjc_ccd, same algorithms, branch
// order and precision as the Warp port, so the contact sets match the Warp path. See
// collision_gjk.py for what MuJoCo 4.0 changed relative to the published source and how that
// was found.
//
// Where the Warp version keeps the EPA polytope in a global pool of scratch slots, a thread
// here owns a fixed-size EpaWork on its stack (no heap, no atomics): its arrays are sized
// for kCcdMaxIterations, while the capacities the algorithm sees (maxfaces, horizon edges)
// are the Warp pool's for the model's ccd_iterations, so both stop at the same point.
// sizeof(EpaWork) is 29 KB at kCcdMaxIterations = 50 (55 vertices, 300 faces; multicontact's
// polygons share that storage, up to kMaxPolyVert vertices a hull polygon): a stack frame
// on the CPU, local memory on the GPU. ptxas (sm_90) reports a 36.7 KB stack for the step
// kernel with this collider (884 B of spills) against 4.9 KB without it (100 B), reserved per
// resident thread, so the step is compiled twice (collision<T, kConvexPairs>) and models
// without convex pairs launch the small instance. pywarp_sim/native_backend.py refuses models
// with ccd_iterations above the cap.
#pragma once

#include <math.h>
#if defined(__AVX__) && !defined(__CUDA_ARCH__)
#include <immintrin.h>
#endif

#include "step_math.h"

namespace pws {
namespace ccd {

typedef Vec3<double> V3;
typedef Mat33<double> M33;

constexpr int kCcdMaxIterations = 50;  // largest opt.ccd_iterations the native step accepts
constexpr int kNCylPoly = 16;          // vertices of a cylinder cap in multicontact
// EPA's polytope capacities (the Warp pool's epa_nvert / epa_nface, types.EPA_FIELDS, at the
// cap; the pool's rows are longer where a model's hull polygons need it, see EpaWork)
constexpr int kMaxVerts = 5 + kCcdMaxIterations;
constexpr int kMaxFaces = (6 * kCcdMaxIterations) > (2 * kNCylPoly) ? (6 * kCcdMaxIterations)
                                                                     : (2 * kNCylPoly);

constexpr double kMinval = 1e-15;
constexpr double kMinval2 = 1e-30;
constexpr double kMaxval2 = 1e20;     // mjMAXVAL^2
constexpr double kMaxLimit = 3.0e38;  // DBL_MAX stand-in: "no distance"
constexpr double kMinDist = 1e-30;    // mjMINDIST2/3/4

// mjtGeom codes, and the cores spheres / capsules shrink to
enum : int { kPoint = -1, kLine = -2, kHField = 1, kSphere = 2, kCapsule = 3, kEllipsoid = 4, kCylinder = 5, kBox = 6,
             kMesh = 7 };
constexpr double kMinEpaTol = 1e-15;  // mjMINEPATOL (mjMINVAL in double): EPA's tolerance for discrete geoms
constexpr int kMeshHillclimbMin = 10;  // mjMESH_HILLCLIMB_MIN (collision_gjk.MESH_HILLCLIMB_MIN)

struct ConvexObj {
  int gtype;  // geom type, or kPoint / kLine for shrunk spheres / capsules
  V3 pos;
  M33 mat;
  V3 size;
  double margin;  // support points are pushed out by margin / 2
  // a mesh geom (Model tables, shared by all worlds): vertices mesh_vert[vertadr ..
  // vertadr + vertnum) (3 floats each); graphadr >= 0: its hull graph in mesh_graph
  int vertadr = 0, vertnum = 0, graphadr = -1;
  const float* mesh_vert = nullptr;
  const int* mesh_graph = nullptr;
  // the mesh's 27 seeds of the hill climb (MuJoCo's mesh_extrema row: per direction of the 3x3x3
  // grid, the hull vertex, local id, farthest along it)
  const int* mesh_extrema = nullptr;
  // the climb's neighbour blocks (Model.mesh_hullnbr*, io._hull_neighbours): hull vertex k's
  // neighbours from slot hullnbradr[k], hullnbrnum[k] of them (a multiple of 4); per block of 4
  // slots 4 x, 4 y, 4 z in hullnbr (3 floats a slot), the neighbours' hull ids in hullnbrid
  const int* hullnbradr = nullptr;
  const int* hullnbrnum = nullptr;
  const int* hullnbrid = nullptr;
  const float* hullnbr = nullptr;
  // the mesh vertex (index in the mesh) of the last support point, -1 when that did not come from
  // the hill climb (other geom types, meshes the support scans): MuJoCo's vertindex, which its
  // multicontact reads the features off (CcdStatus::i1 / i2, EpaWork::vid1 / vid2). Mutable: GJK /
  // EPA see the object as const, the record is no part of its shape.
  mutable int vertindex = -1;
  // gtype kHField: one triangular prism of a height field (collision_convex.h hfield_prism), in
  // the height field's frame: mat's rows are its three top vertices, size[0] the z of its bottom
  // face, pos its centre (MuJoCo's mjc_center, GJK's first point)
};

// mjCCDStatus for one contact: simplex (points on obj1, obj2, difference), witnesses.
struct CcdStatus {
  V3 s1[4], s2[4], s[4];
  int i1[4], i2[4];  // the simplex points' mesh vertices (ConvexObj::vertindex), -1 unknown
  int nsimplex;
  V3 x1, x2;
  double dist;
  int separated, nx, iterations;
  int face;  // EPA face of the contact, -1 when EPA did not run
};

// The EPA polytope's arrays (collision_convex.EpaScratch, one slot), listed once for EpaArrays
// (their size) and EpaWork (their names).
#define PWS_EPA_ARRAYS                                                                  \
  V3 vert1[kMaxVerts], vert2[kMaxVerts], vert[kMaxVerts];                               \
  int vid1[kMaxVerts], vid2[kMaxVerts]; /* their mesh vertices (ConvexObj::vertindex) */ \
  int face_verts[kMaxFaces][3];                                                         \
  int face_adj[kMaxFaces][3];                                                           \
  V3 face_v[kMaxFaces];                                                                 \
  double face_dist2[kMaxFaces];                                                         \
  int face_index[kMaxFaces]; /* position in the map, -1 not in map, -2 deleted */       \
  int face_map[kMaxFaces];                                                              \
  int hzn_face[kMaxFaces], hzn_edge[kMaxFaces];                                         \
  int stack[kMaxFaces][3]; /* horizon search (face, edge, next child) */
struct EpaArrays {
  PWS_EPA_ARRAYS
};

// Most vertices of a mesh's hull polygon multicontact clips (native_backend refuses larger
// ones): the largest whose polygon buffers (the face, and two clip buffers of twice as many
// plus one: each side plane of the face adds at most one vertex to the convex clipped polygon;
// the Warp pool's rows, io.data_sizes epa_nvert = 2 * npolyvert + 1) fit in the EPA arrays'
// storage.
// Menagerie's largest collision polygon has 117 vertices (Unitree G1 with hands).
constexpr int kMaxPolyVert = int((sizeof(EpaArrays) / sizeof(V3) - 2) / 5);

// multicontact's polygons (collision_multicontact.h): the hull face clipped against, and the
// ping-pong buffers of the clipped polygon (the Warp port's vert1 / vert2 / vert rows)
struct PolyBuffers {
  V3 face[kMaxPolyVert];
  V3 clip_a[2 * kMaxPolyVert + 1], clip_b[2 * kMaxPolyVert + 1];
};

// One thread's convex-collision scratch. multicontact runs after EPA is done with its polytope
// (the features are read off it first), so the polygons share the polytope's storage: large
// hull polygons cost no stack beyond EPA's own (the step's stack frame, GPU local memory per
// resident thread, is what a fixed polygon bound would grow). nvcc -arch=sm_90 --resource-usage
// on a kernel calling convex_narrowphase: a 32,480 B stack frame, against 42,992 B with separate
// polygon buffers for polygons of up to 100 vertices.
struct EpaWork {
  union {
    struct {  // EpaArrays' members by name, as the EPA code reads them
      PWS_EPA_ARRAYS
    };
    PolyBuffers poly;
  };
  int nface_cap;  // the Warp pool's row length for this ccd_iterations
};
#undef PWS_EPA_ARRAYS
static_assert(sizeof(PolyBuffers) <= sizeof(EpaArrays), "multicontact polygons fit in the EPA arrays");

struct Polytope {
  int nverts, nfaces, nmap, nedges, maxfaces;
  V3 center;
};

PWS_HD inline V3 v3(double a, double b, double c) { return vec3(a, b, c); }
PWS_HD inline V3 zero() { return v3(0.0, 0.0, 0.0); }
PWS_HD inline double dabs(double x) { return fabs(x); }

// mju_normalize3: unit vector, norm in *n; (1, 0, 0) below mjMINVAL.
PWS_HD inline V3 normalize(const V3& v) {
  double n = length(v);
  if (n < kMinval) return v3(1.0, 0.0, 0.0);
  return v * (1.0 / n);
}

// ---- support functions ----------------------------------------------------------------------

PWS_HD inline V3 mesh_vertex(const ConvexObj& o, int i) {
  const float* v = o.mesh_vert + 3 * (o.vertadr + i);
  return v3(double(v[0]), double(v[1]), double(v[2]));
}

// A mesh's hull graph (MuJoCo's mesh_graph from graphadr): numvert hull vertices; per hull
// vertex the start of its neighbour list in localid (edgeadr) and its mesh vertex (globalid);
// localid holds the neighbour lists, each ended by -1.
struct HullGraph {
  int numvert;
  const int* edgeadr;
  const int* globalid;
  const int* localid;
};

PWS_HD inline HullGraph hull_graph(const ConvexObj& o) {
  const int* g = o.mesh_graph + o.graphadr;
  return HullGraph{g[0], g + 2, g + 2 + g[0], g + 2 + 2 * g[0]};
}

// collision_gjk.extrema_seed: the hill climb's seed for direction d (mesh frame): the hull vertex
// (local id) in the mesh's mesh_extrema row at d's 3x3x3 grid cell (each component below -0.4,
// between, above 0.4).
PWS_HD inline int extrema_seed(const ConvexObj& o, const V3& d) {
  int cx = (d[0] > 0.4) - (d[0] < -0.4) + 1;
  int cy = (d[1] > 0.4) - (d[1] < -0.4) + 1;
  int cz = (d[2] > 0.4) - (d[2] < -0.4) + 1;
  return o.mesh_extrema[cx * 9 + cy * 3 + cz];
}

// collision_gjk.mesh_support_vertex: index (in the mesh) of the vertex farthest along `local`
// (mesh frame): hill climbing over the hull graph for meshes of at least kMeshHillclimbMin
// vertices, else every vertex. The climb (mjc_hillclimbSupport) starts at the grid seed for
// `local` (mesh_extrema; MuJoCo also warm-starts at the previous climb's end, which needs state
// across calls: not taken, the climb ends at the same vertex but on exact ties). seed_first:
// MuJoCo's libccd support (mjc_PlaneConvex): the climb starts at the first hull vertex.
PWS_HD inline int mesh_support_vertex(const ConvexObj& o, const V3& local, bool seed_first) {
  if (o.graphadr < 0 || o.vertnum < kMeshHillclimbMin) {
    double best = -3.4028234663852886e38;
    int ibest = 0;
    for (int i = 0; i < o.vertnum; ++i) {
      double vdot = dot(local, mesh_vertex(o, i));
      if (vdot > best) {
        best = vdot;
        ibest = i;
      }
    }
    return ibest;
  }
  const HullGraph g = hull_graph(o);
  int imax = 0;
  double best;
  if (seed_first) {
    best = dot(local, mesh_vertex(o, g.globalid[0]));
  } else {
    imax = extrema_seed(o, local);
    best = dot(local, mesh_vertex(o, g.globalid[imax]));
  }
  // Each pass visits prev's neighbours in its edge list's order, 4 at a time from their blocks
  // (the same products and sums as dot(), so the same vdot bits), and takes the first that beats
  // the best so far, as the edge-list loop did; a block's padding copies the first neighbour,
  // which never beats the best by then.
#if defined(__AVX__) && !defined(__CUDA_ARCH__)
  const __m256d l0 = _mm256_set1_pd(local[0]), l1 = _mm256_set1_pd(local[1]), l2 = _mm256_set1_pd(local[2]);
#endif
  int prev = -1;
  while (imax != prev) {
    prev = imax;
    const int end = o.hullnbradr[prev] + o.hullnbrnum[prev];
    for (int s = o.hullnbradr[prev]; s < end; s += 4) {
      const float* blk = o.hullnbr + 3 * s;
#if defined(__AVX__) && !defined(__CUDA_ARCH__)
      const __m256d vd = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(l0, _mm256_cvtps_pd(_mm_loadu_ps(blk))),
                                                     _mm256_mul_pd(l1, _mm256_cvtps_pd(_mm_loadu_ps(blk + 4)))),
                                       _mm256_mul_pd(l2, _mm256_cvtps_pd(_mm_loadu_ps(blk + 8))));
      if (!_mm256_movemask_pd(_mm256_cmp_pd(vd, _mm256_set1_pd(best), _CMP_GT_OQ))) continue;
      double v[4];
      _mm256_storeu_pd(v, vd);
      for (int l = 0; l < 4; ++l) {
        if (v[l] > best) {
          best = v[l];
          imax = o.hullnbrid[s + l];
        }
      }
#else
      for (int l = 0; l < 4; ++l) {
        double vdot = dot(local, v3(double(blk[l]), double(blk[4 + l]), double(blk[8 + l])));
        if (vdot > best) {
          best = vdot;
          imax = o.hullnbrid[s + l];
        }
      }
#endif
    }
  }
  o.vertindex = g.globalid[imax];
  return o.vertindex;
}

// mjc_prism_support: the prism vertex farthest along dir, among the top face's when dir[2] >= 0,
// else the bottom face's; the first of equals.
PWS_HD inline V3 prism_support(const ConvexObj& o, const V3& dir) {
  int ibest = 0;
  double best = 0.0;
  for (int i = 0; i < 3; ++i) {
    V3 v = v3(o.mat.m[3 * i], o.mat.m[3 * i + 1], dir[2] < 0.0 ? o.size[0] : o.mat.m[3 * i + 2]);
    double d = dot(v, dir);
    if (i == 0 || d > best) {
      ibest = i;
      best = d;
    }
  }
  return v3(o.mat.m[3 * ibest], o.mat.m[3 * ibest + 1], dir[2] < 0.0 ? o.size[0] : o.mat.m[3 * ibest + 2]);
}

// mjc_*Support: farthest point of the geom along dir.
PWS_HD inline V3 support_geom(const ConvexObj& o, const V3& dir) {
  if (o.gtype == kPoint) return o.pos;
  if (o.gtype == kLine) {
    V3 axis = col(o.mat, 2);
    double scl = dot(axis, dir) < 0.0 ? -o.size[1] : o.size[1];
    return axis * scl + o.pos;
  }
  if (o.gtype == kSphere) return dir * o.size[0] + o.pos;
  if (o.gtype == kHField) return prism_support(o, dir);
  V3 local = mul_t(o.mat, dir);
  V3 supp = zero();
  if (o.gtype == kCapsule) {
    supp = local * o.size[0];
    if (local[2] >= 0.0)
      supp[2] = supp[2] + o.size[1];
    else
      supp[2] = supp[2] - o.size[1];
  } else if (o.gtype == kEllipsoid) {
    supp = cw_mul(local, o.size);
    double norm2 = dot(supp, supp);
    if (norm2 < kMinval2) return col(o.mat, 0) * o.size[0] + o.pos;
    supp = cw_mul(supp * (1.0 / sqrt(norm2)), o.size);
  } else if (o.gtype == kMesh) {
    supp = mesh_vertex(o, mesh_support_vertex(o, local, false));
  } else if (o.gtype == kCylinder) {
    double n2 = local[0] * local[0] + local[1] * local[1];
    double scl = 0.0;
    if (n2 >= kMinval2) scl = o.size[0] / sqrt(n2);
    supp = v3(scl * local[0], scl * local[1], o.size[1]);
    if (local[2] < 0.0) supp[2] = -o.size[1];
  } else {  // box
    supp = o.size;
    if (local[0] < 0.0) supp[0] = -o.size[0];
    if (local[1] < 0.0) supp[1] = -o.size[1];
    if (local[2] < 0.0) supp[2] = -o.size[2];
  }
  return mul(o.mat, supp) + o.pos;
}

// Support of the Minkowski difference: point on obj1 along dir, on obj2 along -dir.
PWS_HD inline void support(const ConvexObj& o1, const ConvexObj& o2, const V3& dir, const V3& dir_neg, V3* a,
                           V3* b) {
  *a = support_geom(o1, dir);
  if (o1.margin > 0.0) *a = *a + dir * (0.5 * o1.margin);
  *b = support_geom(o2, dir_neg);
  if (o2.margin > 0.0) *b = *b + dir_neg * (0.5 * o2.margin);
}

// discreteGeoms (collision_gjk._discrete): both geoms polytopes (box, mesh, height-field prism)
// without margin; GJK and EPA then stop on exact rules, not ccd_tolerance.
PWS_HD inline bool discrete(const ConvexObj& o1, const ConvexObj& o2) {
  if (o1.margin != 0.0 || o2.margin != 0.0) return false;
  return (o1.gtype == kMesh || o1.gtype == kBox || o1.gtype == kHField) &&
         (o2.gtype == kMesh || o2.gtype == kBox || o2.gtype == kHField);
}

// ---- GJK distance sub-algorithm (Montanari et al. 2017, as in MuJoCo) -------------------------

PWS_HD inline double det3(const V3& v1, const V3& v2, const V3& v3_) {
  return (v1[0] * (v2[1] * v3_[2] - v2[2] * v3_[1]) + v1[1] * (v2[2] * v3_[0] - v2[0] * v3_[2]) +
          v1[2] * (v2[0] * v3_[1] - v2[1] * v3_[0]));
}

PWS_HD inline int same_sign(double a, double b) {
  if (a > 0.0 && b > 0.0) return 1;
  if (a < 0.0 && b < 0.0) return -1;
  return 0;
}

// The origin projected on the plane of normal n through v: 0 and the point in *p; 1 when n is
// zero (degenerate); 2 when n is too small or the plane passes through the origin, so
// project_origin_plane tries the triangle's next edge pair.
PWS_HD inline int project_origin_normal(const V3& n, const V3& v, V3* p) {
  double nv = dot(n, v), nn = dot(n, n);
  if (nn == 0.0) return 1;
  if (nv != 0.0 && nn > kMinval) {
    *p = n * (nv / nn);
    return 0;
  }
  return 2;
}

// 1 when degenerate, else 0 and the origin projected on the plane of v1 v2 v3 in *p.
PWS_HD inline int project_origin_plane(const V3& v1, const V3& v2, const V3& v3_, V3* p) {
  V3 diff21 = v2 - v1, diff31 = v3_ - v1, diff32 = v3_ - v2;
  int code = project_origin_normal(cross(diff32, diff21), v2, p);
  if (code != 2) return code;
  code = project_origin_normal(cross(diff21, diff31), v1, p);
  if (code != 2) return code;
  V3 n = cross(diff31, diff32);
  double nv = dot(n, v3_), nn = dot(n, n);
  *p = n * (nv / nn);
  return 0;
}

PWS_HD inline V3 project_origin_line(const V3& v1, const V3& v2) {
  V3 diff = v2 - v1;
  double scl = -(dot(v2, diff) / dot(diff, diff));
  return v2 + diff * scl;
}

PWS_HD inline void s1d(const V3& s1, const V3& s2, double lam[2]) {
  V3 p_o = project_origin_line(s1, s2);
  double mu_max = s1[0] - s2[0];
  int index = 0;
  double mu = s1[1] - s2[1];
  if (dabs(mu) >= dabs(mu_max)) {
    mu_max = mu;
    index = 1;
  }
  mu = s1[2] - s2[2];
  if (dabs(mu) >= dabs(mu_max)) {
    mu_max = mu;
    index = 2;
  }
  double c1 = p_o[index] - s2[index];
  double c2 = s1[index] - p_o[index];
  if (same_sign(mu_max, c1) != 0 && same_sign(mu_max, c2) != 0) {
    lam[0] = c1 / mu_max;
    lam[1] = c2 / mu_max;
    return;
  }
  lam[0] = 0.0;
  lam[1] = 1.0;
}

// (m14, m24, m34) minors of the triangle and the projection axes of the largest one
PWS_HD inline void tri_axes(const V3& s1, const V3& s2, const V3& s3, double* m_max, int* x, int* y) {
  double m14 = s2[1] * s3[2] - s2[2] * s3[1] - s1[1] * s3[2] + s1[2] * s3[1] + s1[1] * s2[2] - s1[2] * s2[1];
  double m24 = s2[0] * s3[2] - s2[2] * s3[0] - s1[0] * s3[2] + s1[2] * s3[0] + s1[0] * s2[2] - s1[2] * s2[0];
  double m34 = s2[0] * s3[1] - s2[1] * s3[0] - s1[0] * s3[1] + s1[1] * s3[0] + s1[0] * s2[1] - s1[1] * s2[0];
  double mu1 = dabs(m14), mu2 = dabs(m24), mu3 = dabs(m34);
  *m_max = m34;
  *x = 0;
  *y = 1;
  if (mu1 >= mu2 && mu1 >= mu3) {
    *m_max = m14;
    *x = 1;
    *y = 2;
  } else if (mu2 >= mu3) {
    *m_max = m24;
    *x = 0;
    *y = 2;
  }
}

PWS_HD inline void s2d(const V3& s1, const V3& s2, const V3& s3, double lam[3]) {
  V3 p_o;
  if (project_origin_plane(s1, s2, s3, &p_o) != 0) {
    double l[2];
    s1d(s1, s2, l);
    lam[0] = l[0];
    lam[1] = l[1];
    lam[2] = 0.0;
    return;
  }
  double m_max;
  int x, y;
  tri_axes(s1, s2, s3, &m_max, &x, &y);
  double c31 = (p_o[x] * s2[y] + p_o[y] * s3[x] + s2[x] * s3[y] - p_o[x] * s3[y] - p_o[y] * s2[x] - s3[x] * s2[y]);
  double c32 = (p_o[x] * s3[y] + p_o[y] * s1[x] + s3[x] * s1[y] - p_o[x] * s1[y] - p_o[y] * s3[x] - s1[x] * s3[y]);
  double c33 = (p_o[x] * s1[y] + p_o[y] * s2[x] + s1[x] * s2[y] - p_o[x] * s2[y] - p_o[y] * s1[x] - s2[x] * s1[y]);
  int comp[3] = {same_sign(m_max, c31), same_sign(m_max, c32), same_sign(m_max, c33)};
  if (comp[0] != 0 && comp[1] != 0 && comp[2] != 0) {
    lam[0] = c31 / m_max;
    lam[1] = c32 / m_max;
    lam[2] = c33 / m_max;
    return;
  }
  // closest point on the edges whose sub-simplex excludes the origin
  lam[0] = lam[1] = lam[2] = 0.0;
  double dmin = kMaxLimit;
  bool first = true;
  for (int k = 0; k < 3; ++k) {
    if (comp[k] != 0) continue;
    V3 a = s1, b = s2;
    if (k == 0) {
      a = s2;
      b = s3;
    } else if (k == 1) {
      b = s3;
    }
    double l[2];
    s1d(a, b, l);
    V3 p = l[0] * a + l[1] * b;
    double d = dot(p, p);
    if (first || d < dmin) {
      first = false;
      dmin = d;
      if (k == 0) {
        lam[0] = 0.0; lam[1] = l[0]; lam[2] = l[1];
      } else if (k == 1) {
        lam[0] = l[0]; lam[1] = 0.0; lam[2] = l[1];
      } else {
        lam[0] = l[0]; lam[1] = l[1]; lam[2] = 0.0;
      }
    }
  }
}

PWS_HD inline void s3d(const V3& s1, const V3& s2, const V3& s3, const V3& s4, double lam[4]) {
  double c41 = -det3(s2, s3, s4), c42 = det3(s1, s3, s4), c43 = -det3(s1, s2, s4), c44 = det3(s1, s2, s3);
  double m_det = c41 + c42 + c43 + c44;
  int comp[4] = {same_sign(m_det, c41), same_sign(m_det, c42), same_sign(m_det, c43), same_sign(m_det, c44)};
  if (comp[0] != 0 && comp[1] != 0 && comp[2] != 0 && comp[3] != 0) {
    lam[0] = c41 / m_det;
    lam[1] = c42 / m_det;
    lam[2] = c43 / m_det;
    lam[3] = c44 / m_det;
    return;
  }
  lam[0] = lam[1] = lam[2] = lam[3] = 0.0;
  double dmin = kMaxLimit;
  bool first = true;
  for (int k = 0; k < 4; ++k) {
    if (comp[k] != 0) continue;
    V3 a = s1, b = s2, c = s3;
    if (k == 0) {
      a = s2;
      b = s3;
      c = s4;
    } else if (k == 1) {
      b = s3;
      c = s4;
    } else if (k == 2) {
      c = s4;
    }
    double l[3];
    s2d(a, b, c, l);
    V3 p = l[0] * a + l[1] * b + l[2] * c;
    double d = dot(p, p);
    if (first || d < dmin) {
      first = false;
      dmin = d;
      // the excluded vertex k gets 0, the others keep their order
      int j = 0;
      for (int i = 0; i < 4; ++i) lam[i] = i == k ? 0.0 : l[j++];
    }
  }
}

PWS_HD inline void subdistance(int n, const V3 s[4], double lam[4]) {
  lam[0] = 1.0;
  lam[1] = lam[2] = lam[3] = 0.0;
  if (n == 4) {
    s3d(s[0], s[1], s[2], s[3], lam);
  } else if (n == 3) {
    s2d(s[0], s[1], s[2], lam);
  } else if (n == 2) {
    s1d(s[0], s[1], lam);
  }
}

PWS_HD inline V3 lincomb(const double lam[4], int n, const V3 m[4]) {
  V3 res = zero();
  if (n >= 1) res = lam[0] * m[0];
  if (n >= 2) res = res + lam[1] * m[1];
  if (n >= 3) res = res + lam[2] * m[2];
  if (n >= 4) res = res + lam[3] * m[3];
  return res;
}

// ---- GJK --------------------------------------------------------------------------------------

// Distance of the face plane from the origin (kMaxLimit when degenerate), face normal in *n.
PWS_HD inline double signed_distance(const V3& v1, const V3& v2, const V3& v3_, V3* n) {
  V3 normal = cross(v3_ - v1, v2 - v1);
  double norm2 = dot(normal, normal);
  if (norm2 > kMinval2 && norm2 < kMaxval2) {
    normal = normal * (1.0 / sqrt(norm2));
    *n = normal;
    return dot(normal, v1);
  }
  *n = normal;
  return kMaxLimit;
}

// gjkIntersect: 1 in contact (simplex set in st), 0 separated, -1 inconclusive; *k: iterations.
PWS_HD inline int gjk_intersect(CcdStatus* st, const ConvexObj& o1, const ConvexObj& o2, int* kio, int kmax) {
  V3 s1[4], s2[4], s[4];
  int i1[4], i2[4];
  for (int r = 0; r < 4; ++r) {
    s1[r] = st->s1[r];
    s2[r] = st->s2[r];
    i1[r] = st->i1[r];
    i2[r] = st->i2[r];
    s[r] = st->s[r];
  }
  int idx[4] = {0, 1, 2, 3};
  int k = *kio;
  while (k < kmax) {
    V3 n[4];
    double dd[4];
    dd[0] = signed_distance(s[idx[2]], s[idx[1]], s[idx[3]], &n[0]);
    dd[1] = signed_distance(s[idx[0]], s[idx[2]], s[idx[3]], &n[1]);
    dd[2] = signed_distance(s[idx[1]], s[idx[0]], s[idx[3]], &n[2]);
    dd[3] = signed_distance(s[idx[0]], s[idx[1]], s[idx[2]], &n[3]);
    if (dd[3] == 0.0 || dd[2] == 0.0 || dd[1] == 0.0 || dd[0] == 0.0) {
      *kio = k;
      return -1;
    }
    int i = dd[0] < dd[1] ? 0 : 1;
    int j = dd[2] < dd[3] ? 2 : 3;
    int index = dd[i] < dd[j] ? i : j;
    if (dd[index] > 0.0) {
      for (int r = 0; r < 4; ++r) {
        st->s1[r] = s1[idx[r]];
        st->s2[r] = s2[idx[r]];
        st->s[r] = s[idx[r]];
        st->i1[r] = i1[idx[r]];
        st->i2[r] = i2[idx[r]];
      }
      st->nsimplex = 4;
      *kio = k;
      return 1;
    }
    V3 normal = n[index];
    V3 a, b;
    support(o1, o2, normal, -normal, &a, &b);
    int r = idx[index];
    s1[r] = a;
    s2[r] = b;
    i1[r] = o1.vertindex;
    i2[r] = o2.vertindex;
    s[r] = a - b;
    if (dot(normal, s[r]) < 0.0) {
      st->nsimplex = 0;
      *kio = k;
      return 0;
    }
    i = (index + 1) & 3;
    j = (index + 2) & 3;
    int swap = idx[i];
    idx[i] = idx[j];
    idx[j] = swap;
    k += 1;
  }
  *kio = k;
  return -1;
}

// gjk: distance between two convex sets, MuJoCo's stopping rules.
PWS_HD inline void gjk(CcdStatus* st, const ConvexObj& o1, const ConvexObj& o2, double tol, int kmax,
                       double dist_cutoff) {
  V3* S1 = st->s1;
  V3* S2 = st->s2;
  V3* S = st->s;
  bool get_dist = dist_cutoff > 0.0;
  bool backup_gjk = !get_dist;
  int n = 0, k = 0;
  double lam[4] = {0.0, 0.0, 0.0, 0.0};
  double epsilon = discrete(o1, o2) ? 0.0 : 0.5 * tol * tol;
  double min_norm = discrete(o1, o2) ? kMinval : tol;
  st->separated = 0;
  V3 x_k = st->x1 - st->x2;
  double x_norm = length(x_k);
  double x_norm_prev = 0.0;

  while (k < kmax) {
    if (x_norm < min_norm || dabs(x_norm_prev - x_norm) < kMinval) break;
    V3 dir_neg = x_k * (1.0 / x_norm);
    V3 a, b;
    support(o1, o2, -dir_neg, dir_neg, &a, &b);
    S1[n] = a;
    S2[n] = b;
    st->i1[n] = o1.vertindex;
    st->i2[n] = o2.vertindex;
    V3 s_k = a - b;
    S[n] = s_k;
    if (dot(x_k, x_k - s_k) < epsilon) break;
    double lower = dot(x_k, s_k);
    bool sep = false;
    if (!get_dist) {
      if (lower > 0.0) sep = true;
    } else if (dist_cutoff < kMaxLimit) {
      if (lower > 0.0 && lower >= dist_cutoff * x_norm) sep = true;
    }
    if (sep) {
      st->separated = 1;
      st->iterations = k;
      st->nsimplex = 0;
      st->nx = 0;
      st->dist = kMaxLimit;
      return;
    }

    if (n == 3 && backup_gjk) {
      int kk = k;
      int ret = gjk_intersect(st, o1, o2, &kk, kmax);
      if (ret != -1) {
        st->iterations = kk;
        st->nx = 0;
        st->separated = 0;
        st->dist = 0.0;
        if (ret == 0) {
          st->separated = 1;
          st->dist = kMaxLimit;
        }
        return;
      }
      k = kk;
      backup_gjk = false;
    }

    subdistance(n + 1, S, lam);
    int m = 0;
    for (int i = 0; i < 4; ++i) {
      if (lam[i] != 0.0) {
        S1[m] = S1[i];
        S2[m] = S2[i];
        S[m] = S[i];
        st->i1[m] = st->i1[i];
        st->i2[m] = st->i2[i];
        lam[m] = lam[i];
        m += 1;
      }
    }
    n = m;
    if (n < 1) {
      st->iterations = k;
      st->nsimplex = 0;
      st->nx = 0;
      st->dist = kMaxLimit;
      st->separated = 1;
      return;
    }
    x_k = lincomb(lam, n, S);
    x_norm_prev = x_norm;
    x_norm = length(x_k);
    if (n == 4) break;
    k += 1;
  }

  if (n > 0) {
    st->x1 = lincomb(lam, n, S1);
    st->x2 = lincomb(lam, n, S2);
  }
  // final separation check
  if (x_norm > 0.0) {
    V3 dn = x_k * (1.0 / x_norm);
    V3 a, b;
    support(o1, o2, -dn, dn, &a, &b);
    if (dot(x_k, a - b) > 0.0) st->separated = 1;
  }
  st->nx = 1;
  st->iterations = k;
  st->nsimplex = n;
  st->dist = x_norm;
  if (n == 4 && st->separated == 0) st->dist = 0.0;
}

// ---- EPA polytope -----------------------------------------------------------------------------

// ia, ib: a's and b's mesh vertices (ConvexObj::vertindex), -1 unknown
PWS_HD inline int insert_vertex(EpaWork& ws, Polytope& pt, const V3& a, const V3& b, const V3& v, int ia, int ib) {
  int n = pt.nverts;
  ws.vert1[n] = a;
  ws.vert2[n] = b;
  ws.vid1[n] = ia;
  ws.vid2[n] = ib;
  ws.vert[n] = v;
  pt.nverts = n + 1;
  return n;
}

PWS_HD inline int epa_support(EpaWork& ws, Polytope& pt, const ConvexObj& o1, const ConvexObj& o2, const V3& d,
                              double dnorm) {
  V3 dir = v3(1.0, 0.0, 0.0);
  if (dnorm > kMinval) dir = d * (1.0 / dnorm);
  V3 a, b;
  support(o1, o2, dir, -dir, &a, &b);
  return insert_vertex(ws, pt, a, b, a - b, o1.vertindex, o2.vertindex);
}

// attachFace: append a face; returns the squared distance of its plane to the origin.
PWS_HD inline double attach_face(EpaWork& ws, Polytope& pt, int v1, int v2, int v3_, int adj1, int adj2,
                                 int adj3) {
  int f = pt.nfaces;
  pt.nfaces = f + 1;
  ws.face_verts[f][0] = v1;
  ws.face_verts[f][1] = v2;
  ws.face_verts[f][2] = v3_;
  ws.face_adj[f][0] = adj1;
  ws.face_adj[f][1] = adj2;
  ws.face_adj[f][2] = adj3;
  ws.face_index[f] = -1;
  V3 v;
  if (project_origin_plane(ws.vert[v3_], ws.vert[v2], ws.vert[v1], &v) != 0) {
    ws.face_dist2[f] = 0.0;
    return 0.0;
  }
  if (dot(v, ws.vert[v1] - pt.center) < 0.0) v = -v;
  double dist2 = dot(v, v);
  ws.face_v[f] = v;
  ws.face_dist2[f] = dist2;
  return dist2;
}

PWS_HD inline void map_faces(EpaWork& ws, Polytope& pt, int n) {
  for (int i = 0; i < n; ++i) {
    ws.face_map[i] = i;
    ws.face_index[i] = i;
  }
  pt.nmap = n;
}

PWS_HD inline void delete_face(EpaWork& ws, Polytope& pt, int f) {
  int idx = ws.face_index[f];
  if (idx >= 0) {
    pt.nmap -= 1;
    int last = ws.face_map[pt.nmap];
    ws.face_map[idx] = last;
    ws.face_index[last] = idx;
  }
  ws.face_index[f] = -2;
}

PWS_HD inline int get_edge(const int verts[3], int vertex) {
  if (verts[0] == vertex) return 0;
  if (verts[1] == vertex) return 1;
  return 2;
}

PWS_HD inline bool visible(const EpaWork& ws, int f, const V3& w) {
  return dot(ws.face_v[f], w) - ws.face_dist2[f] > kMinval;
}

PWS_HD inline void add_edge(EpaWork& ws, Polytope& pt, int f, int e) {
  if (pt.nedges < ws.nface_cap) {
    ws.hzn_face[pt.nedges] = f;
    ws.hzn_edge[pt.nedges] = e;
    pt.nedges += 1;
  }
}

// horizonRec without recursion: depth-first over visible faces in MuJoCo's order.
PWS_HD inline bool horizon_rec(EpaWork& ws, Polytope& pt, int f0, int e0, const V3& w) {
  if (!visible(ws, f0, w)) return false;
  delete_face(ws, pt, f0);
  ws.stack[0][0] = f0;
  ws.stack[0][1] = e0;
  ws.stack[0][2] = 1;
  int depth = 1;
  while (depth > 0) {
    int* top = ws.stack[depth - 1];
    if (top[2] > 2) {
      depth -= 1;
      continue;
    }
    int tf = top[0], te = top[1], tc = top[2];
    top[2] = tc + 1;
    int i = (te + tc) % 3;
    int adj = ws.face_adj[tf][i];
    if (ws.face_index[adj] > -2) {
      int adj_edge = get_edge(ws.face_verts[adj], ws.face_verts[tf][(i + 1) % 3]);
      if (visible(ws, adj, w)) {
        delete_face(ws, pt, adj);
        ws.stack[depth][0] = adj;
        ws.stack[depth][1] = adj_edge;
        ws.stack[depth][2] = 1;
        depth += 1;
      } else {
        add_edge(ws, pt, adj, adj_edge);
      }
    }
  }
  return true;
}

PWS_HD inline void horizon(EpaWork& ws, Polytope& pt, int face, const V3& w) {
  delete_face(ws, pt, face);
  int verts[3] = {ws.face_verts[face][0], ws.face_verts[face][1], ws.face_verts[face][2]};
  int adjs[3] = {ws.face_adj[face][0], ws.face_adj[face][1], ws.face_adj[face][2]};
  for (int e = 0; e < 3; ++e) {
    int adj = adjs[e];
    if (ws.face_index[adj] > -2) {
      int adj_edge = get_edge(ws.face_verts[adj], verts[(e + 1) % 3]);
      if (!horizon_rec(ws, pt, adj, adj_edge, w)) add_edge(ws, pt, adj, adj_edge);
    }
  }
}

PWS_HD inline V3 tri_affine_coord(const V3& v1, const V3& v2, const V3& v3_, const V3& p) {
  double m_max;
  int x, y;
  tri_axes(v1, v2, v3_, &m_max, &x, &y);
  double c31 = p[x] * v2[y] + p[y] * v3_[x] + v2[x] * v3_[y] - p[x] * v3_[y] - p[y] * v2[x] - v3_[x] * v2[y];
  double c32 = p[x] * v3_[y] + p[y] * v1[x] + v3_[x] * v1[y] - p[x] * v1[y] - p[y] * v3_[x] - v1[x] * v3_[y];
  double c33 = p[x] * v1[y] + p[y] * v2[x] + v1[x] * v2[y] - p[x] * v2[y] - p[y] * v1[x] - v2[x] * v1[y];
  return v3(c31 / m_max, c32 / m_max, c33 / m_max);
}

PWS_HD inline bool tri_point_intersect(const V3& v1, const V3& v2, const V3& v3_, const V3& p) {
  V3 lam = tri_affine_coord(v1, v2, v3_, p);
  if (lam[0] < 0.0 || lam[1] < 0.0 || lam[2] < 0.0) return false;
  V3 pr = v1 * lam[0] + v2 * lam[1] + v3_ * lam[2];
  return length(pr - p) < kMinval;
}

PWS_HD inline bool same_side(const V3& p0, const V3& p1, const V3& p2, const V3& p3) {
  V3 n = cross(p1 - p0, p2 - p0);
  double dot1 = dot(n, p3 - p0), dot2 = dot(n, -p0);
  if (dot1 > 0.0 && dot2 > 0.0) return true;
  if (dot1 < 0.0 && dot2 < 0.0) return true;
  return false;
}

PWS_HD inline bool test_tetra(const V3& p0, const V3& p1, const V3& p2, const V3& p3) {
  return (same_side(p0, p1, p2, p3) && same_side(p1, p2, p3, p0) && same_side(p2, p3, p0, p1) &&
          same_side(p3, p0, p1, p2));
}

PWS_HD inline M33 rotmat120(const V3& axis) {
  double n = length(axis);
  double u1 = axis[0] / n, u2 = axis[1] / n, u3 = axis[2] / n;
  double s = 0.86602540378, c = -0.5, one = 1.0;
  return M33{{c + u1 * u1 * (one - c), u1 * u2 * (one - c) - u3 * s, u1 * u3 * (one - c) + u2 * s,
              u2 * u1 * (one - c) + u3 * s, c + u2 * u2 * (one - c), u2 * u3 * (one - c) - u1 * s,
              u1 * u3 * (one - c) - u2 * s, u2 * u3 * (one - c) + u1 * s, c + u3 * u3 * (one - c)}};
}

PWS_HD inline int ray_triangle(const V3& v1, const V3& v2, const V3& v3_, const V3& v4, const V3& v5) {
  V3 d12 = v2 - v1;
  double vol1 = det3(v3_ - v1, v4 - v1, d12);
  double vol2 = det3(v4 - v1, v5 - v1, d12);
  double vol3 = det3(v5 - v1, v3_ - v1, d12);
  if (vol1 >= 0.0 && vol2 >= 0.0 && vol3 >= 0.0) return 1;
  if (vol1 <= 0.0 && vol2 <= 0.0 && vol3 <= 0.0) return -1;
  return 0;
}

PWS_HD inline void replace_simplex3(const EpaWork& ws, Polytope& pt, CcdStatus* st, int v1, int v2, int v3_) {
  st->nsimplex = 3;
  const int vs[3] = {v1, v2, v3_};
  for (int i = 0; i < 3; ++i) {
    st->s1[i] = ws.vert1[vs[i]];
    st->s2[i] = ws.vert2[vs[i]];
    st->s[i] = ws.vert[vs[i]];
    st->i1[i] = ws.vid1[vs[i]];
    st->i2[i] = ws.vid2[vs[i]];
  }
  pt.nfaces = 0;
  pt.nverts = 0;
  pt.nmap = 0;
}

// Faces of polytope2's hexahedron: vertices f[0..2], adjacent faces f[3..5].
PWS_HD inline void hexahedron_face(int f, int v1, int v2, int v3_, int v4, int v5, int out[6]) {
  const int t[6][6] = {{v1, v3_, v4, 1, 3, 2}, {v1, v5, v3_, 2, 4, 0}, {v1, v4, v5, 0, 5, 1},
                       {v2, v4, v3_, 5, 0, 4}, {v2, v3_, v5, 3, 1, 5}, {v2, v5, v4, 4, 2, 3}};
  for (int i = 0; i < 6; ++i) out[i] = t[f][i];
}

// Hexahedron around a 2-simplex; 0 on success.
PWS_HD inline int polytope3(EpaWork& ws, Polytope& pt, const CcdStatus& st, const ConvexObj& o1,
                            const ConvexObj& o2) {
  V3 v1 = st.s[0], v2 = st.s[1], v3_ = st.s[2];
  pt.center = ((v1 + v2) + v3_) * (1.0 / 3.0);
  V3 n = cross(v2 - v1, v3_ - v1);
  double n_norm = length(n);
  if (n_norm < kMinval) return 4;
  int v1i = insert_vertex(ws, pt, st.s1[0], st.s2[0], v1, st.i1[0], st.i2[0]);
  int v2i = insert_vertex(ws, pt, st.s1[1], st.s2[1], v2, st.i1[1], st.i2[1]);
  int v3i = insert_vertex(ws, pt, st.s1[2], st.s2[2], v3_, st.i1[2], st.i2[2]);
  int v5i = epa_support(ws, pt, o1, o2, -n, n_norm);
  int v4i = epa_support(ws, pt, o1, o2, n, n_norm);
  V3 v4 = ws.vert[v4i], v5 = ws.vert[v5i];
  if (tri_point_intersect(v1, v2, v3_, v4)) return 5;
  if (tri_point_intersect(v1, v2, v3_, v5)) return 6;
  if (st.dist > 1e-14 && !test_tetra(v1, v2, v3_, v4) && !test_tetra(v1, v2, v3_, v5)) return 7;
  for (int f = 0; f < 6; ++f) {  // the hexahedron's faces, MuJoCo's order (same table as polytope2)
    int h[6];
    hexahedron_face(f, v4i, v5i, v1i, v2i, v3i, h);
    if (attach_face(ws, pt, h[0], h[1], h[2], h[3], h[4], h[5]) < kMinDist) return 8;
  }
  map_faces(ws, pt, 6);
  return 0;
}

// Faces of polytope4's tetrahedron: vertices f[0..2], adjacent faces f[3..5].
PWS_HD inline void tetrahedron_face(int f, int v1, int v2, int v3_, int v4, int out[6]) {
  const int t[4][6] = {{v1, v2, v3_, 1, 3, 2}, {v1, v4, v2, 2, 3, 0}, {v1, v3_, v4, 0, 3, 1},
                       {v4, v3_, v2, 2, 0, 1}};
  for (int i = 0; i < 6; ++i) out[i] = t[f][i];
}

// Hexahedron around a 1-simplex; -1: the origin lies on a face, now the status simplex, and
// polytope3 must run on it.
PWS_HD inline int polytope2(EpaWork& ws, Polytope& pt, CcdStatus* st, const ConvexObj& o1, const ConvexObj& o2) {
  V3 v1 = st->s[0], v2 = st->s[1];
  pt.center = (v1 + v2) * 0.5;
  V3 diff = v2 - v1;
  double value = kMaxLimit;
  int index = 0;
  for (int i = 0; i < 3; ++i) {
    if (dabs(diff[i]) < value) {
      value = dabs(diff[i]);
      index = i;
    }
  }
  V3 e = zero();
  e[index] = 1.0;
  V3 d1 = cross(e, diff);
  M33 rot = rotmat120(diff);
  V3 d2 = mul(rot, d1);
  V3 d3 = mul(rot, d2);
  int v1i = insert_vertex(ws, pt, st->s1[0], st->s2[0], v1, st->i1[0], st->i2[0]);
  int v2i = insert_vertex(ws, pt, st->s1[1], st->s2[1], v2, st->i1[1], st->i2[1]);
  int v3i = epa_support(ws, pt, o1, o2, d1, length(d1));
  int v4i = epa_support(ws, pt, o1, o2, d2, length(d2));
  int v5i = epa_support(ws, pt, o1, o2, d3, length(d3));
  // build the hexahedron; a face through the origin reduces the problem to that face
  for (int f = 0; f < 6; ++f) {
    int h[6];
    hexahedron_face(f, v1i, v2i, v3i, v4i, v5i, h);
    if (attach_face(ws, pt, h[0], h[1], h[2], h[3], h[4], h[5]) < kMinDist) {
      replace_simplex3(ws, pt, st, h[0], h[1], h[2]);
      return -1;
    }
  }
  if (ray_triangle(v1, v2, ws.vert[v3i], ws.vert[v4i], ws.vert[v5i]) == 0) return 2;
  map_faces(ws, pt, 6);
  return 0;
}

// Polytope from a 3-simplex; -1 as in polytope2.
PWS_HD inline int polytope4(EpaWork& ws, Polytope& pt, CcdStatus* st, const ConvexObj& o1, const ConvexObj& o2) {
  int v1 = insert_vertex(ws, pt, st->s1[0], st->s2[0], st->s[0], st->i1[0], st->i2[0]);
  int v2 = insert_vertex(ws, pt, st->s1[1], st->s2[1], st->s[1], st->i1[1], st->i2[1]);
  int v3_ = insert_vertex(ws, pt, st->s1[2], st->s2[2], st->s[2], st->i1[2], st->i2[2]);
  int v4 = insert_vertex(ws, pt, st->s1[3], st->s2[3], st->s[3], st->i1[3], st->i2[3]);
  pt.center = (((st->s[0] + st->s[1]) + st->s[2]) + st->s[3]) * 0.25;
  for (int f = 0; f < 4; ++f) {
    int h[6];
    tetrahedron_face(f, v1, v2, v3_, v4, h);
    if (attach_face(ws, pt, h[0], h[1], h[2], h[3], h[4], h[5]) < kMinDist) {
      replace_simplex3(ws, pt, st, h[0], h[1], h[2]);
      return -1;
    }
  }
  if (!test_tetra(st->s[0], st->s[1], st->s[2], st->s[3])) return 9;
  map_faces(ws, pt, 4);
  return 0;
}

// epa: expand the polytope towards the boundary of the Minkowski difference.
// collision_gjk._repeated_support: whether the newest polytope vertex repeats an earlier one's
// support vertices (EPA's stop for discrete geoms), by position; with a height-field prism as
// geom 1 (whose support sets no vertex index in MuJoCo) only geom 2's vertices are compared.
PWS_HD inline bool repeated_support(const EpaWork& ws, const Polytope& pt, bool prism1) {
  int last = pt.nverts - 1;
  for (int i = 0; i < last; ++i) {
    const V3 &a2 = ws.vert2[i], &b2 = ws.vert2[last], &a1 = ws.vert1[i], &b1 = ws.vert1[last];
    if (a2[0] == b2[0] && a2[1] == b2[1] && a2[2] == b2[2] &&
        (prism1 || (a1[0] == b1[0] && a1[1] == b1[1] && a1[2] == b1[2])))
      return true;
  }
  return false;
}

PWS_HD inline void epa(EpaWork& ws, Polytope& pt, CcdStatus* st, const ConvexObj& o1, const ConvexObj& o2,
                       double tol, int max_iterations) {
  const bool is_discrete = discrete(o1, o2);
  if (is_discrete) tol = kMinEpaTol;
  double upper = kMaxLimit, upper2 = kMaxLimit;
  int face = -1;
  int kmax = max_iterations < 1000 ? max_iterations : 1000;
  for (int k = 0; k < kmax; ++k) {
    int pface = face;
    double lower2 = kMaxLimit;
    for (int i = 0; i < pt.nmap; ++i) {
      int f = ws.face_map[i];
      if (ws.face_dist2[f] < lower2) {
        face = f;
        lower2 = ws.face_dist2[f];
      }
    }
    if (lower2 > upper2 || face < 0) {
      face = pface;
      break;
    }
    if (lower2 <= 0.0) break;  // origin on the affine hull of a face (MuJoCo warns)

    double lower = sqrt(lower2);
    V3 fv = ws.face_v[face];
    int wi = epa_support(ws, pt, o1, o2, fv, lower);
    V3 w = ws.vert[wi];
    double upper_k = dot(fv, w) / lower;
    if (upper_k < upper) {
      upper = upper_k;
      upper2 = upper * upper;
    }
    if (upper - lower < tol) {
      if (k == 0 && upper < lower - 1e-10) face = -1;
      break;
    }
    if (is_discrete && repeated_support(ws, pt, o1.gtype == kHField)) break;

    horizon(ws, pt, face, w);
    if (pt.nedges < 3) {
      face = -1;
      break;
    }
    int nfaces = pt.nfaces, nedges = pt.nedges;
    if (nedges > pt.maxfaces - pt.nfaces) break;  // out of memory for faces (MuJoCo warns)

    bool failed = false;
    for (int i = 0; i < nedges; ++i) {
      int cur = nfaces + i;
      int prev = i == 0 ? nfaces + nedges - 1 : cur - 1;
      int nxt = nfaces + (i + 1) % nedges;
      int hf = ws.hzn_face[i], he = ws.hzn_edge[i];
      int v1 = ws.face_verts[hf][he];
      int v2 = ws.face_verts[hf][(he + 1) % 3];
      ws.face_adj[hf][he] = cur;
      double dist2 = attach_face(ws, pt, wi, v2, v1, prev, hf, nxt);
      if (dist2 == 0.0) {
        failed = true;
        break;
      }
      if (dist2 >= lower2 && dist2 <= upper2) {
        ws.face_map[pt.nmap] = pt.nfaces - 1;
        ws.face_index[pt.nfaces - 1] = pt.nmap;
        pt.nmap += 1;
      }
    }
    pt.nedges = 0;
    if (failed) face = -1;
    if (pt.nmap == 0 || face < 0) break;
  }

  if (face >= 0) {
    const int* verts = ws.face_verts[face];
    V3 lam = tri_affine_coord(ws.vert[verts[0]], ws.vert[verts[1]], ws.vert[verts[2]], ws.face_v[face]);
    st->x1 = lam[0] * ws.vert1[verts[0]] + lam[1] * ws.vert1[verts[1]] + lam[2] * ws.vert1[verts[2]];
    st->x2 = lam[0] * ws.vert2[verts[0]] + lam[1] * ws.vert2[verts[1]] + lam[2] * ws.vert2[verts[2]];
    st->dist = -sqrt(ws.face_dist2[face]);
    st->nx = 1;
    st->face = face;
  } else {
    st->nx = 0;
    st->dist = 0.0;
  }
}

// ---- mjc_ccd (collision_gjk._ccd) ----------------------------------------------------------

// collision_gjk._core: a sphere's core is its centre point and a capsule's its segment, without
// margin; *fm gets the radius plus half the margin that the core lacks (mjc_ccd's first pass).
// Other geoms are left as they are; returns whether o was shrunk.
PWS_HD inline bool core(ConvexObj* o, double* fm) {
  if (o->gtype != kSphere && o->gtype != kCapsule) return false;
  *fm = o->size[0] + 0.5 * o->margin;
  o->margin = 0.0;
  o->gtype = o->gtype == kSphere ? kPoint : kLine;
  return true;
}

// mjc_ccd with max_contacts = 1, dist_cutoff = 0 (status in *st; returns st->dist).
PWS_HD inline double ccd(EpaWork& ws, CcdStatus* st, const ConvexObj& o1, const ConvexObj& o2, double tol,
                         int iterations) {
  st->face = -1;
  st->x1 = o1.pos;
  st->x2 = o2.pos;
  st->dist = 0.0;
  st->nx = 0;
  st->nsimplex = 0;
  st->separated = 0;
  st->iterations = 0;
  for (int i = 0; i < 4; ++i) st->i1[i] = st->i2[i] = -1;

  ConvexObj c1 = o1, c2 = o2;
  double fm1 = 0.0, fm2 = 0.0;
  bool shrink1 = core(&c1, &fm1), shrink2 = core(&c2, &fm2);

  // pass 0 (spheres and capsules only): GJK between the cores; pass 1: the full shapes
  for (int pss = 0; pss < 2; ++pss) {
    bool shrunk = pss == 0;
    if (shrunk && !(shrink1 || shrink2)) continue;
    double cutoff = 0.0;
    if (shrunk) {
      cutoff = fm1 + fm2;
    } else {
      c1 = o1;
      c2 = o2;
      st->x1 = o1.pos;
      st->x2 = o2.pos;
    }
    gjk(st, c1, c2, tol, iterations, cutoff);
    if (shrunk && st->dist > tol) {
      // shallow penetration: distance between the cores minus the radii
      V3 n = normalize(st->x2 - st->x1);
      if (fm1 != 0.0) st->x1 = st->x1 + n * fm1;
      if (fm2 != 0.0) st->x2 = st->x2 - n * fm2;
      st->dist = st->dist - (fm1 + fm2);
      if (st->dist > 0.0) st->dist = kMaxLimit;
      return st->dist;
    }
  }

  if (st->dist <= tol && st->nsimplex > 1 && st->separated == 0) {
    st->dist = 0.0;  // assume touching
    Polytope pt;
    pt.nverts = pt.nfaces = pt.nmap = pt.nedges = 0;
    pt.maxfaces = ws.nface_cap;
    pt.center = zero();
    int code = -1;
    if (st->nsimplex == 2) {
      code = polytope2(ws, pt, st, o1, o2);
    } else if (st->nsimplex == 4) {
      code = polytope4(ws, pt, st, o1, o2);
    }
    if (code == -1) code = polytope3(ws, pt, *st, o1, o2);  // a 2-simplex, from GJK or reduced
    if (code == 0) epa(ws, pt, st, o1, o2, tol, iterations);
  }
  return st->dist;
}

}  // namespace ccd
}  // namespace pws
