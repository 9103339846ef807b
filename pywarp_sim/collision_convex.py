"""Convex narrowphase: a Warp port of MuJoCo's native GJK/EPA (mjc_Convex, mjc_ccd).

MuJoCo collides the geom pairs that have no analytic collider (anything with an
ellipsoid except planes, capsule-cylinder, cylinder-cylinder, cylinder-box) with its
own GJK (engine_collision_gjk.c): spheres and capsules are first shrunk to a point or a
segment and GJK measures the distance between the cores; when the cores overlap, or for
the other shapes, GJK finds a simplex enclosing the origin and EPA expands it into the
penetration depth and witness points.

GJK/EPA follow the published MuJoCo source (3.12, engine_collision_gjk.c /
engine_collision_convex.c) step by step: same support functions, subdistance algorithm,
polytope construction, horizon order (made iterative), stopping rules and the
ccd_iterations / ccd_tolerance options, in float64 (GJK and EPA resolve directions only to
~sqrt(eps), which float32 cannot do).

MuJoCo 4.0 (the oracle; source not published) differs from that source, found by probing
it as a black box:
- Cylinder-cylinder, cylinder-box and capsule-cylinder pairs no longer use the multiCCD
  perturbation search (rotating the geoms by +-1e-3 rad, up to five contacts): they take
  the single-shot multicontact that 3.x used for boxes and meshes. When a face of one geom
  (box face; cylinder cap, a 16-gon) is aligned with a face (within mjFACE_TOL) or an edge
  (mjEDGE_TOL) of the other (box edge; cylinder side, a line through a rim vertex; capsule,
  its segment moved by the radius along the contact normal's part normal to the axis), one
  is clipped against the other and the clipped points below the face are the contacts,
  each with its own depth: at most 4 (largest quadrilateral), 2 for an edge; otherwise the
  single GJK/EPA contact. Capsules do this also from the shallow (GJK distance) contact.
- An edge of geom 2 on a face of geom 1 is found even when geom 1's feature is the lower-
  dimensional one (MuJoCo 4.0.0 tries both orders; 3.x only the first).
- Margins do not turn it off (3.x fell back to perturbation): faces, edges and capsule
  lines are those of the geoms inflated by half the margin (as the support points are), and
  each contact's dist is margin + its depth below the inflated face. With multiCCD disabled,
  and for ellipsoid and sphere pairs, one contact. No supported pair uses the perturbation
  search any more.
- EPA itself changed ("improved numerical stability"): where the iterations diverge, deep
  contacts differ in depth and normal, and a cylinder side's line passes through a slightly
  different rim vertex (~1e-4 m). Contact counts agree.

EPA polytopes live in a global pool of scratch slots taken by the pairs that need one in
a step (`types.EPA_SLOTS_PER_WORLD` per world on average, at least `types.EPA_MIN_SLOTS` in all); a
step that runs out sets the world's overflow flag instead of silently dropping the contact.
The pool is declared with the other Data arrays (types.EPA_FIELDS) and allocated by
io.make_data.
"""

import mujoco
import warp as wp

from . import collision_primitive as prim
from .types import NCYLPOLY, Data, EpaScratch, GeomType, Model

# contact detection is not differentiated: skip the adjoint code (compile time, code size)
# and keep loops rolled: every wp.func is inlined, unrolling multiplies the GPU code
wp.set_module_options({"enable_backward": False, "max_unroll": 1})

MINVAL = 1e-15
MINVAL2 = 1e-30
MAXVAL2 = 1e20      # mjMAXVAL^2
MAX_LIMIT = 3.0e38  # DBL_MAX stand-in: "no distance"
MINDIST = 1e-30     # mjMINDIST2/3/4 (double precision values: MuJoCo's oracle)
FACE_TOL = 0.996    # mjFACE_TOL: cosine within which two face normals are aligned
EDGE_TOL = 0.0888   # mjEDGE_TOL: |cosine| below which an edge lies in a face

_POINT = wp.constant(-1)  # sphere shrunk to its centre
_LINE = wp.constant(-2)   # capsule shrunk to its segment
_SPHERE = wp.constant(int(GeomType.SPHERE))
_CAPSULE = wp.constant(int(GeomType.CAPSULE))
_ELLIPSOID = wp.constant(int(GeomType.ELLIPSOID))
_CYLINDER = wp.constant(int(GeomType.CYLINDER))
_BOX = wp.constant(int(GeomType.BOX))

mat43 = wp.types.matrix(shape=(4, 3), dtype=wp.float64)


@wp.struct
class ConvexObj:
  gtype: int      # geom type, or _POINT / _LINE for shrunk spheres / capsules
  pos: wp.vec3d
  mat: wp.mat33d
  size: wp.vec3d
  margin: wp.float64   # support points are pushed out by margin / 2


@wp.struct
class CcdStatus:
  """mjCCDStatus for one contact: simplex (points on obj1, obj2, difference), witnesses."""
  s1: mat43
  s2: mat43
  s: mat43
  nsimplex: int
  x1: wp.vec3d
  x2: wp.vec3d
  dist: wp.float64
  separated: int
  nx: int
  iterations: int
  face: int  # EPA face of the contact (in the pool slot), -1 when EPA did not run


@wp.struct
class Polytope:
  nverts: int
  nfaces: int
  nmap: int
  nedges: int
  maxfaces: int
  center: wp.vec3d


# ---------------------------------------------------------------------------------------------
# double-precision helpers (MuJoCo's mjtNum is double; GJK/EPA resolve directions to
# ~sqrt(eps), which float32 cannot, so this module computes in float64)


@wp.func
def _zaxis(mat: wp.mat33d) -> wp.vec3d:
  return wp.vec3d(mat[0, 2], mat[1, 2], mat[2, 2])


@wp.func
def _normalize3(v: wp.vec3d):
  """mju_normalize3: (unit vector, norm), (1, 0, 0) below mjMINVAL."""
  n = wp.length(v)
  if n < MINVAL:
    return wp.vec3d(1.0, 0.0, 0.0), n
  return v * (wp.float64(1.0) / n), n


@wp.func
def _write(out: prim.SlotBuffer, worldid: int, slot: int, dist: wp.float64, pos: wp.vec3d,
           normal: wp.vec3d):
  prim.write_contact(out, worldid, slot, wp.float32(dist), wp.vec3(pos), wp.vec3(normal),
                     wp.vec3(0.0))


# ---------------------------------------------------------------------------------------------
# support functions


@wp.func
def _support_geom(o: ConvexObj, dir: wp.vec3d) -> wp.vec3d:
  """mjc_*Support: farthest point of the geom along dir."""
  if o.gtype == _POINT:
    return o.pos
  if o.gtype == _LINE:
    axis = _zaxis(o.mat)
    scl = o.size[1]
    if wp.dot(axis, dir) < 0.0:
      scl = -o.size[1]
    return axis * scl + o.pos
  if o.gtype == _SPHERE:
    return dir * o.size[0] + o.pos
  local = wp.transpose(o.mat) @ dir
  supp = wp.vec3d(0.0)
  if o.gtype == _CAPSULE:
    supp = local * o.size[0]
    if local[2] >= 0.0:
      supp[2] = supp[2] + o.size[1]
    else:
      supp[2] = supp[2] - o.size[1]
  elif o.gtype == _ELLIPSOID:
    supp = wp.cw_mul(local, o.size)
    norm2 = wp.dot(supp, supp)
    if norm2 < MINVAL2:
      return wp.vec3d(o.mat[0, 0], o.mat[1, 0], o.mat[2, 0]) * o.size[0] + o.pos
    supp = wp.cw_mul(supp * (wp.float64(1.0) / wp.sqrt(norm2)), o.size)
  elif o.gtype == _CYLINDER:
    n2 = local[0] * local[0] + local[1] * local[1]
    scl = wp.float64(0.0)
    if n2 >= MINVAL2:
      scl = o.size[0] / wp.sqrt(n2)
    supp = wp.vec3d(scl * local[0], scl * local[1], o.size[1])
    if local[2] < 0.0:
      supp[2] = -o.size[1]
  else:  # box
    supp = o.size
    if local[0] < 0.0:
      supp[0] = -o.size[0]
    if local[1] < 0.0:
      supp[1] = -o.size[1]
    if local[2] < 0.0:
      supp[2] = -o.size[2]
  return o.mat @ supp + o.pos


@wp.func
def _support(o1: ConvexObj, o2: ConvexObj, dir: wp.vec3d, dir_neg: wp.vec3d):
  """Support of the Minkowski difference: (point on obj1 along dir, point on obj2 along -dir)."""
  a = _support_geom(o1, dir)
  if o1.margin > 0.0:
    a = a + dir * (wp.float64(0.5) * o1.margin)
  b = _support_geom(o2, dir_neg)
  if o2.margin > 0.0:
    b = b + dir_neg * (wp.float64(0.5) * o2.margin)
  return a, b


# ---------------------------------------------------------------------------------------------
# GJK distance sub-algorithm (Montanari et al. 2017, as in MuJoCo)


@wp.func
def _det3(v1: wp.vec3d, v2: wp.vec3d, v3: wp.vec3d) -> wp.float64:
  return (v1[0] * (v2[1] * v3[2] - v2[2] * v3[1]) + v1[1] * (v2[2] * v3[0] - v2[0] * v3[2])
          + v1[2] * (v2[0] * v3[1] - v2[1] * v3[0]))


@wp.func
def _same_sign(a: wp.float64, b: wp.float64) -> int:
  if a > 0.0 and b > 0.0:
    return 1
  if a < 0.0 and b < 0.0:
    return -1
  return 0


@wp.func
def _project_origin_plane(v1: wp.vec3d, v2: wp.vec3d, v3: wp.vec3d):
  """(1, _) when degenerate, else (0, origin projected on the plane of v1 v2 v3)."""
  diff21 = v2 - v1
  diff31 = v3 - v1
  diff32 = v3 - v2
  n = wp.cross(diff32, diff21)
  nv = wp.dot(n, v2)
  nn = wp.dot(n, n)
  if nn == 0.0:
    return 1, wp.vec3d(0.0)
  if nv != 0.0 and nn > MINVAL:
    return 0, n * (nv / nn)
  n = wp.cross(diff21, diff31)
  nv = wp.dot(n, v1)
  nn = wp.dot(n, n)
  if nn == 0.0:
    return 1, wp.vec3d(0.0)
  if nv != 0.0 and nn > MINVAL:
    return 0, n * (nv / nn)
  n = wp.cross(diff31, diff32)
  nv = wp.dot(n, v3)
  nn = wp.dot(n, n)
  return 0, n * (nv / nn)


@wp.func
def _project_origin_line(v1: wp.vec3d, v2: wp.vec3d) -> wp.vec3d:
  diff = v2 - v1
  scl = -(wp.dot(v2, diff) / wp.dot(diff, diff))
  return v2 + diff * scl


@wp.func
def _s1d(s1: wp.vec3d, s2: wp.vec3d) -> wp.vec2d:
  p_o = _project_origin_line(s1, s2)
  mu_max = s1[0] - s2[0]
  index = int(0)
  mu = s1[1] - s2[1]
  if wp.abs(mu) >= wp.abs(mu_max):
    mu_max = mu
    index = 1
  mu = s1[2] - s2[2]
  if wp.abs(mu) >= wp.abs(mu_max):
    mu_max = mu
    index = 2
  c1 = p_o[index] - s2[index]
  c2 = s1[index] - p_o[index]
  if _same_sign(mu_max, c1) != 0 and _same_sign(mu_max, c2) != 0:
    return wp.vec2d(c1 / mu_max, c2 / mu_max)
  return wp.vec2d(0.0, 1.0)


@wp.func
def _tri_minors(v1: wp.vec3d, v2: wp.vec3d, v3: wp.vec3d, p: wp.vec3d) -> wp.vec4d:
  """(m_max, c31, c32, c33): the triangle's largest projected area (signed) and the
  sub-areas opposite each vertex for p, in the projection plane where the triangle is largest
  (MuJoCo's barycentric coordinates: lambda_k = c3k / m_max)."""
  m14 = v2[1] * v3[2] - v2[2] * v3[1] - v1[1] * v3[2] + v1[2] * v3[1] + v1[1] * v2[2] - v1[2] * v2[1]
  m24 = v2[0] * v3[2] - v2[2] * v3[0] - v1[0] * v3[2] + v1[2] * v3[0] + v1[0] * v2[2] - v1[2] * v2[0]
  m34 = v2[0] * v3[1] - v2[1] * v3[0] - v1[0] * v3[1] + v1[1] * v3[0] + v1[0] * v2[1] - v1[1] * v2[0]
  mu1 = wp.abs(m14)
  mu2 = wp.abs(m24)
  mu3 = wp.abs(m34)
  m_max = m34
  x = int(0)
  y = int(1)
  if mu1 >= mu2 and mu1 >= mu3:
    m_max = m14
    x = 1
    y = 2
  elif mu2 >= mu3:
    m_max = m24
    x = 0
    y = 2
  c31 = p[x] * v2[y] + p[y] * v3[x] + v2[x] * v3[y] - p[x] * v3[y] - p[y] * v2[x] - v3[x] * v2[y]
  c32 = p[x] * v3[y] + p[y] * v1[x] + v3[x] * v1[y] - p[x] * v1[y] - p[y] * v3[x] - v1[x] * v3[y]
  c33 = p[x] * v1[y] + p[y] * v2[x] + v1[x] * v2[y] - p[x] * v2[y] - p[y] * v1[x] - v2[x] * v1[y]
  return wp.vec4d(m_max, c31, c32, c33)


@wp.func
def _s2d(s1: wp.vec3d, s2: wp.vec3d, s3: wp.vec3d) -> wp.vec3d:
  ret, p_o = _project_origin_plane(s1, s2, s3)
  if ret != 0:
    l = _s1d(s1, s2)
    return wp.vec3d(l[0], l[1], 0.0)

  mc = _tri_minors(s1, s2, s3, p_o)
  m_max = mc[0]
  c31 = mc[1]
  c32 = mc[2]
  c33 = mc[3]
  comp1 = _same_sign(m_max, c31)
  comp2 = _same_sign(m_max, c32)
  comp3 = _same_sign(m_max, c33)
  if comp1 != 0 and comp2 != 0 and comp3 != 0:
    return wp.vec3d(c31 / m_max, c32 / m_max, c33 / m_max)

  # closest point on the edges whose sub-simplex excludes the origin; one call site keeps
  # the generated code small (these functions are inlined into every caller)
  comp = wp.vec3i(comp1, comp2, comp3)
  lam = wp.vec3d(0.0)
  dmin = wp.float64(MAX_LIMIT)
  first = bool(True)
  for k in range(3):
    if comp[k] == 0:
      a = s1
      b = s2
      if k == 0:
        a = s2
        b = s3
      elif k == 1:
        b = s3
      l = _s1d(a, b)
      p = l[0] * a + l[1] * b
      d = wp.dot(p, p)
      if first or d < dmin:
        first = False
        dmin = d
        if k == 0:
          lam = wp.vec3d(0.0, l[0], l[1])
        elif k == 1:
          lam = wp.vec3d(l[0], 0.0, l[1])
        else:
          lam = wp.vec3d(l[0], l[1], 0.0)
  return lam


@wp.func
def _s3d(s1: wp.vec3d, s2: wp.vec3d, s3: wp.vec3d, s4: wp.vec3d) -> wp.vec4d:
  c41 = -_det3(s2, s3, s4)
  c42 = _det3(s1, s3, s4)
  c43 = -_det3(s1, s2, s4)
  c44 = _det3(s1, s2, s3)
  m_det = c41 + c42 + c43 + c44
  comp1 = _same_sign(m_det, c41)
  comp2 = _same_sign(m_det, c42)
  comp3 = _same_sign(m_det, c43)
  comp4 = _same_sign(m_det, c44)
  if comp1 != 0 and comp2 != 0 and comp3 != 0 and comp4 != 0:
    return wp.vec4d(c41 / m_det, c42 / m_det, c43 / m_det, c44 / m_det)

  comp = wp.vec4i(comp1, comp2, comp3, comp4)
  lam = wp.vec4d(0.0)
  dmin = wp.float64(MAX_LIMIT)
  first = bool(True)
  for k in range(4):
    if comp[k] == 0:
      a = s1
      b = s2
      c = s3
      if k == 0:
        a = s2
        b = s3
        c = s4
      elif k == 1:
        b = s3
        c = s4
      elif k == 2:
        c = s4
      l = _s2d(a, b, c)
      p = l[0] * a + l[1] * b + l[2] * c
      d = wp.dot(p, p)
      if first or d < dmin:
        first = False
        dmin = d
        if k == 0:
          lam = wp.vec4d(0.0, l[0], l[1], l[2])
        elif k == 1:
          lam = wp.vec4d(l[0], 0.0, l[1], l[2])
        elif k == 2:
          lam = wp.vec4d(l[0], l[1], 0.0, l[2])
        else:
          lam = wp.vec4d(l[0], l[1], l[2], 0.0)
  return lam


@wp.func
def _subdistance(n: int, s: mat43) -> wp.vec4d:
  if n == 4:
    return _s3d(s[0], s[1], s[2], s[3])
  if n == 3:
    l3 = _s2d(s[0], s[1], s[2])
    return wp.vec4d(l3[0], l3[1], l3[2], 0.0)
  if n == 2:
    l2 = _s1d(s[0], s[1])
    return wp.vec4d(l2[0], l2[1], 0.0, 0.0)
  return wp.vec4d(1.0, 0.0, 0.0, 0.0)


@wp.func
def _lincomb(lam: wp.vec4d, n: int, m: mat43) -> wp.vec3d:
  res = wp.vec3d(0.0)
  if n >= 1:
    res = lam[0] * m[0]
  if n >= 2:
    res = res + lam[1] * m[1]
  if n >= 3:
    res = res + lam[2] * m[2]
  if n >= 4:
    res = res + lam[3] * m[3]
  return res


# ---------------------------------------------------------------------------------------------
# GJK


@wp.func
def _signed_distance(v1: wp.vec3d, v2: wp.vec3d, v3: wp.vec3d):
  """(distance of the face plane from the origin, face normal)."""
  normal = wp.cross(v3 - v1, v2 - v1)
  norm2 = wp.dot(normal, normal)
  if norm2 > MINVAL2 and norm2 < MAXVAL2:
    normal = normal * (wp.float64(1.0) / wp.sqrt(norm2))
    return wp.dot(normal, v1), normal
  return wp.float64(MAX_LIMIT), normal


@wp.func
def _gjk_intersect(st: CcdStatus, o1: ConvexObj, o2: ConvexObj, k0: int, kmax: int):
  """gjkIntersect: 1 in contact (simplex set), 0 separated, -1 inconclusive; and iterations."""
  s1 = st.s1
  s2 = st.s2
  s = st.s
  idx = wp.vec4i(0, 1, 2, 3)
  k = int(k0)
  res = st
  while k < kmax:
    d0, n0 = _signed_distance(s[idx[2]], s[idx[1]], s[idx[3]])
    d1, n1 = _signed_distance(s[idx[0]], s[idx[2]], s[idx[3]])
    d2, n2 = _signed_distance(s[idx[1]], s[idx[0]], s[idx[3]])
    d3, n3 = _signed_distance(s[idx[0]], s[idx[1]], s[idx[2]])
    if d3 == 0.0 or d2 == 0.0 or d1 == 0.0 or d0 == 0.0:
      return -1, k, res
    dist = wp.vec4d(d0, d1, d2, d3)
    i = int(1)
    if d0 < d1:
      i = 0
    j = int(3)
    if d2 < d3:
      j = 2
    index = j
    if dist[i] < dist[j]:
      index = i
    if dist[index] > 0.0:
      o_s1 = mat43()
      o_s2 = mat43()
      o_s = mat43()
      for r in range(4):
        o_s1[r] = s1[idx[r]]
        o_s2[r] = s2[idx[r]]
        o_s[r] = s[idx[r]]
      res.s1 = o_s1
      res.s2 = o_s2
      res.s = o_s
      res.nsimplex = 4
      return 1, k, res
    normal = n3
    if index == 0:
      normal = n0
    elif index == 1:
      normal = n1
    elif index == 2:
      normal = n2
    a, b = _support(o1, o2, normal, -normal)
    r = idx[index]
    s1[r] = a
    s2[r] = b
    s[r] = a - b
    if wp.dot(normal, s[r]) < 0.0:
      res.nsimplex = 0
      return 0, k, res
    i = (index + 1) & 3
    j = (index + 2) & 3
    swap = idx[i]
    idx[i] = idx[j]
    idx[j] = swap
    k += 1
  return -1, k, res


@wp.func
def _gjk(st_in: CcdStatus, o1: ConvexObj, o2: ConvexObj, tol: wp.float64, kmax: int,
         dist_cutoff: wp.float64) -> CcdStatus:
  """gjk: distance between two convex sets (non-discrete geoms), MuJoCo's stopping rules."""
  st = st_in
  S1 = st.s1
  S2 = st.s2
  S = st.s
  get_dist = dist_cutoff > 0.0
  backup_gjk = not get_dist
  n = int(0)
  k = int(0)
  lam = wp.vec4d(0.0)
  epsilon = wp.float64(0.5) * tol * tol
  min_norm = tol
  st.separated = 0
  x_k = st.x1 - st.x2
  x_norm = wp.length(x_k)
  x_norm_prev = wp.float64(0.0)

  while k < kmax:
    if x_norm < min_norm or wp.abs(x_norm_prev - x_norm) < MINVAL:
      break
    dir_neg = x_k * (wp.float64(1.0) / x_norm)
    a, b = _support(o1, o2, -dir_neg, dir_neg)
    S1[n] = a
    S2[n] = b
    s_k = a - b
    S[n] = s_k
    if wp.dot(x_k, x_k - s_k) < epsilon:
      break
    lower = wp.dot(x_k, s_k)
    sep = bool(False)
    if not get_dist:
      if lower > 0.0:
        sep = True
    elif dist_cutoff < MAX_LIMIT:
      if lower > 0.0 and lower >= dist_cutoff * x_norm:
        sep = True
    if sep:
      st.s1 = S1
      st.s2 = S2
      st.s = S
      st.separated = 1
      st.iterations = k
      st.nsimplex = 0
      st.nx = 0
      st.dist = wp.float64(MAX_LIMIT)
      return st

    if n == 3 and backup_gjk:
      st.s1 = S1
      st.s2 = S2
      st.s = S
      ret, kk, st2 = _gjk_intersect(st, o1, o2, k, kmax)
      if ret != -1:
        st2.iterations = kk
        st2.nx = 0
        st2.separated = 0
        st2.dist = wp.float64(0.0)
        if ret == 0:
          st2.separated = 1
          st2.dist = wp.float64(MAX_LIMIT)
        return st2
      k = kk
      backup_gjk = False

    lam = _subdistance(n + 1, S)
    m = int(0)
    for i in range(4):
      if lam[i] != 0.0:
        S1[m] = S1[i]
        S2[m] = S2[i]
        S[m] = S[i]
        lam[m] = lam[i]
        m += 1
    n = m
    if n < 1:
      st.s1 = S1
      st.s2 = S2
      st.s = S
      st.iterations = k
      st.nsimplex = 0
      st.nx = 0
      st.dist = wp.float64(MAX_LIMIT)
      st.separated = 1
      return st
    x_k = _lincomb(lam, n, S)
    x_norm_prev = x_norm
    x_norm = wp.length(x_k)
    if n == 4:
      break
    k += 1

  st.s1 = S1
  st.s2 = S2
  st.s = S
  if n > 0:
    st.x1 = _lincomb(lam, n, S1)
    st.x2 = _lincomb(lam, n, S2)

  # final separation check
  if x_norm > 0.0:
    dn = x_k * (wp.float64(1.0) / x_norm)
    a, b = _support(o1, o2, -dn, dn)
    if wp.dot(x_k, a - b) > 0.0:
      st.separated = 1
  st.nx = 1
  st.iterations = k
  st.nsimplex = n
  st.dist = x_norm
  if n == 4 and st.separated == 0:
    st.dist = wp.float64(0.0)
  return st


# ---------------------------------------------------------------------------------------------
# EPA polytope (scratch slot `sl` of the pool)


@wp.func
def _insert_vertex(ws: EpaScratch, sl: int, pt: Polytope, a: wp.vec3d, b: wp.vec3d, v: wp.vec3d):
  n = pt.nverts
  ws.vert1[sl, n] = a
  ws.vert2[sl, n] = b
  ws.vert[sl, n] = v
  res = pt
  res.nverts = n + 1
  return res, n


@wp.func
def _epa_support(ws: EpaScratch, sl: int, pt: Polytope, o1: ConvexObj, o2: ConvexObj,
                 d: wp.vec3d, dnorm: wp.float64):
  dir = wp.vec3d(1.0, 0.0, 0.0)
  if dnorm > MINVAL:
    dir = d * (wp.float64(1.0) / dnorm)
  a, b = _support(o1, o2, dir, -dir)
  return _insert_vertex(ws, sl, pt, a, b, a - b)


@wp.func
def _attach_face(ws: EpaScratch, sl: int, pt: Polytope, v1: int, v2: int, v3: int,
                 adj1: int, adj2: int, adj3: int):
  """attachFace: append a face; returns (polytope, squared distance of its plane to the origin)."""
  f = pt.nfaces
  res = pt
  res.nfaces = f + 1
  ws.face_verts[sl, f] = wp.vec3i(v1, v2, v3)
  ws.face_adj[sl, f] = wp.vec3i(adj1, adj2, adj3)
  ws.face_index[sl, f] = -1
  ret, v = _project_origin_plane(ws.vert[sl, v3], ws.vert[sl, v2], ws.vert[sl, v1])
  if ret != 0:
    ws.face_dist2[sl, f] = wp.float64(0.0)
    return res, wp.float64(0.0)
  if wp.dot(v, ws.vert[sl, v1] - pt.center) < 0.0:
    v = -v
  dist2 = wp.dot(v, v)
  ws.face_v[sl, f] = v
  ws.face_dist2[sl, f] = dist2
  return res, dist2


@wp.func
def _map_faces(ws: EpaScratch, sl: int, pt: Polytope, n: int) -> Polytope:
  for i in range(n):
    ws.face_map[sl, i] = i
    ws.face_index[sl, i] = i
  res = pt
  res.nmap = n
  return res


@wp.func
def _delete_face(ws: EpaScratch, sl: int, pt: Polytope, f: int) -> Polytope:
  res = pt
  idx = ws.face_index[sl, f]
  if idx >= 0:
    res.nmap = pt.nmap - 1
    last = ws.face_map[sl, res.nmap]
    ws.face_map[sl, idx] = last
    ws.face_index[sl, last] = idx
  ws.face_index[sl, f] = -2
  return res


@wp.func
def _get_edge(verts: wp.vec3i, vertex: int) -> int:
  if verts[0] == vertex:
    return 0
  if verts[1] == vertex:
    return 1
  return 2


@wp.func
def _visible(ws: EpaScratch, sl: int, f: int, w: wp.vec3d) -> bool:
  return wp.dot(ws.face_v[sl, f], w) - ws.face_dist2[sl, f] > MINVAL


@wp.func
def _add_edge(ws: EpaScratch, sl: int, pt: Polytope, f: int, e: int) -> Polytope:
  res = pt
  if pt.nedges < ws.hzn_face.shape[1]:
    ws.hzn_face[sl, pt.nedges] = f
    ws.hzn_edge[sl, pt.nedges] = e
    res.nedges = pt.nedges + 1
  return res


@wp.func
def _horizon_rec(ws: EpaScratch, sl: int, pt_in: Polytope, f0: int, e0: int, w: wp.vec3d):
  """horizonRec without recursion: depth-first over visible faces in MuJoCo's order."""
  pt = pt_in
  if not _visible(ws, sl, f0, w):
    return False, pt
  pt = _delete_face(ws, sl, pt, f0)
  ws.stack[sl, 0] = wp.vec3i(f0, e0, 1)
  depth = int(1)
  while depth > 0:
    top = ws.stack[sl, depth - 1]
    if top[2] > 2:
      depth -= 1
      continue
    ws.stack[sl, depth - 1] = wp.vec3i(top[0], top[1], top[2] + 1)
    i = (top[1] + top[2]) % 3
    adj = ws.face_adj[sl, top[0]][i]
    if ws.face_index[sl, adj] > -2:
      verts = ws.face_verts[sl, top[0]]
      adj_edge = _get_edge(ws.face_verts[sl, adj], verts[(i + 1) % 3])
      if _visible(ws, sl, adj, w):
        pt = _delete_face(ws, sl, pt, adj)
        ws.stack[sl, depth] = wp.vec3i(adj, adj_edge, 1)
        depth += 1
      else:
        pt = _add_edge(ws, sl, pt, adj, adj_edge)
  return True, pt


@wp.func
def _horizon(ws: EpaScratch, sl: int, pt_in: Polytope, face: int, w: wp.vec3d) -> Polytope:
  pt = _delete_face(ws, sl, pt_in, face)
  verts = ws.face_verts[sl, face]
  adjs = ws.face_adj[sl, face]
  for e in range(3):
    adj = adjs[e]
    if ws.face_index[sl, adj] > -2:
      adj_edge = _get_edge(ws.face_verts[sl, adj], verts[(e + 1) % 3])
      vis, pt = _horizon_rec(ws, sl, pt, adj, adj_edge, w)
      if not vis:
        pt = _add_edge(ws, sl, pt, adj, adj_edge)
  return pt


@wp.func
def _tri_affine_coord(v1: wp.vec3d, v2: wp.vec3d, v3: wp.vec3d, p: wp.vec3d) -> wp.vec3d:
  mc = _tri_minors(v1, v2, v3, p)
  return wp.vec3d(mc[1] / mc[0], mc[2] / mc[0], mc[3] / mc[0])


@wp.func
def _tri_point_intersect(v1: wp.vec3d, v2: wp.vec3d, v3: wp.vec3d, p: wp.vec3d) -> bool:
  lam = _tri_affine_coord(v1, v2, v3, p)
  if lam[0] < 0.0 or lam[1] < 0.0 or lam[2] < 0.0:
    return False
  pr = v1 * lam[0] + v2 * lam[1] + v3 * lam[2]
  return wp.length(pr - p) < MINVAL


@wp.func
def _same_side(p0: wp.vec3d, p1: wp.vec3d, p2: wp.vec3d, p3: wp.vec3d) -> bool:
  n = wp.cross(p1 - p0, p2 - p0)
  dot1 = wp.dot(n, p3 - p0)
  dot2 = wp.dot(n, -p0)
  if dot1 > 0.0 and dot2 > 0.0:
    return True
  if dot1 < 0.0 and dot2 < 0.0:
    return True
  return False


@wp.func
def _test_tetra(p0: wp.vec3d, p1: wp.vec3d, p2: wp.vec3d, p3: wp.vec3d) -> bool:
  return (_same_side(p0, p1, p2, p3) and _same_side(p1, p2, p3, p0)
          and _same_side(p2, p3, p0, p1) and _same_side(p3, p0, p1, p2))


@wp.func
def _rotmat120(axis: wp.vec3d) -> wp.mat33d:
  n = wp.length(axis)
  u1 = axis[0] / n
  u2 = axis[1] / n
  u3 = axis[2] / n
  s = wp.float64(0.86602540378)
  c = wp.float64(-0.5)
  one = wp.float64(1.0)
  return wp.mat33d(
    c + u1 * u1 * (one - c), u1 * u2 * (one - c) - u3 * s, u1 * u3 * (one - c) + u2 * s,
    u2 * u1 * (one - c) + u3 * s, c + u2 * u2 * (one - c), u2 * u3 * (one - c) - u1 * s,
    u1 * u3 * (one - c) - u2 * s, u2 * u3 * (one - c) + u1 * s, c + u3 * u3 * (one - c))


@wp.func
def _ray_triangle(v1: wp.vec3d, v2: wp.vec3d, v3: wp.vec3d, v4: wp.vec3d, v5: wp.vec3d) -> int:
  d12 = v2 - v1
  vol1 = _det3(v3 - v1, v4 - v1, d12)
  vol2 = _det3(v4 - v1, v5 - v1, d12)
  vol3 = _det3(v5 - v1, v3 - v1, d12)
  if vol1 >= 0.0 and vol2 >= 0.0 and vol3 >= 0.0:
    return 1
  if vol1 <= 0.0 and vol2 <= 0.0 and vol3 <= 0.0:
    return -1
  return 0


@wp.func
def _replace_simplex3(ws: EpaScratch, sl: int, pt: Polytope, st: CcdStatus, v1: int, v2: int,
                      v3: int):
  res = st
  res.nsimplex = 3
  a1 = res.s1
  a2 = res.s2
  a = res.s
  a1[0] = ws.vert1[sl, v1]
  a2[0] = ws.vert2[sl, v1]
  a[0] = ws.vert[sl, v1]
  a1[1] = ws.vert1[sl, v2]
  a2[1] = ws.vert2[sl, v2]
  a[1] = ws.vert[sl, v2]
  a1[2] = ws.vert1[sl, v3]
  a2[2] = ws.vert2[sl, v3]
  a[2] = ws.vert[sl, v3]
  res.s1 = a1
  res.s2 = a2
  res.s = a
  p = pt
  p.nfaces = 0
  p.nverts = 0
  p.nmap = 0
  return p, res


@wp.func
def _hexahedron_face(f: int, v1: int, v2: int, v3: int, v4: int, v5: int):
  """Faces of polytope2's hexahedron: (vertices, adjacent faces)."""
  if f == 0:
    return v1, v3, v4, 1, 3, 2
  if f == 1:
    return v1, v5, v3, 2, 4, 0
  if f == 2:
    return v1, v4, v5, 0, 5, 1
  if f == 3:
    return v2, v4, v3, 5, 0, 4
  if f == 4:
    return v2, v3, v5, 3, 1, 5
  return v2, v5, v4, 4, 2, 3


@wp.func
def _polytope3(ws: EpaScratch, sl: int, pt_in: Polytope, st: CcdStatus, o1: ConvexObj,
               o2: ConvexObj):
  """Hexahedron around a 2-simplex; returns (polytope, status code: 0 on success)."""
  pt = pt_in
  v1 = st.s[0]
  v2 = st.s[1]
  v3 = st.s[2]
  pt.center = ((v1 + v2) + v3) * (wp.float64(1.0) / wp.float64(3.0))
  n = wp.cross(v2 - v1, v3 - v1)
  n_norm = wp.length(n)
  if n_norm < MINVAL:
    return pt, 4
  pt, v1i = _insert_vertex(ws, sl, pt, st.s1[0], st.s2[0], v1)
  pt, v2i = _insert_vertex(ws, sl, pt, st.s1[1], st.s2[1], v2)
  pt, v3i = _insert_vertex(ws, sl, pt, st.s1[2], st.s2[2], v3)
  pt, v5i = _epa_support(ws, sl, pt, o1, o2, -n, n_norm)
  pt, v4i = _epa_support(ws, sl, pt, o1, o2, n, n_norm)
  v4 = ws.vert[sl, v4i]
  v5 = ws.vert[sl, v5i]
  if _tri_point_intersect(v1, v2, v3, v4):
    return pt, 5
  if _tri_point_intersect(v1, v2, v3, v5):
    return pt, 6
  if st.dist > 1e-14 and not _test_tetra(v1, v2, v3, v4) and not _test_tetra(v1, v2, v3, v5):
    return pt, 7
  for f in range(6):  # the hexahedron's faces, MuJoCo's order (same table as polytope2)
    a, b, c, a1, a2, a3 = _hexahedron_face(f, v4i, v5i, v1i, v2i, v3i)
    pt, d = _attach_face(ws, sl, pt, a, b, c, a1, a2, a3)
    if d < MINDIST:
      return pt, 8
  pt = _map_faces(ws, sl, pt, 6)
  return pt, 0


@wp.func
def _tetrahedron_face(f: int, v1: int, v2: int, v3: int, v4: int):
  """Faces of polytope4's tetrahedron: (vertices, adjacent faces)."""
  if f == 0:
    return v1, v2, v3, 1, 3, 2
  if f == 1:
    return v1, v4, v2, 2, 3, 0
  if f == 2:
    return v1, v3, v4, 0, 3, 1
  return v4, v3, v2, 2, 0, 1


@wp.func
def _polytope2(ws: EpaScratch, sl: int, pt_in: Polytope, st_in: CcdStatus, o1: ConvexObj,
               o2: ConvexObj):
  """Hexahedron around a 1-simplex; returns (polytope, status, code); code -1: the origin
  lies on a face, now the status simplex, and polytope3 must run on it."""
  pt = pt_in
  st = st_in
  v1 = st.s[0]
  v2 = st.s[1]
  pt.center = (v1 + v2) * wp.float64(0.5)
  diff = v2 - v1
  value = wp.float64(MAX_LIMIT)
  index = int(0)
  for i in range(3):
    if wp.abs(diff[i]) < value:
      value = wp.abs(diff[i])
      index = i
  e = wp.vec3d(0.0)
  e[index] = wp.float64(1.0)
  d1 = wp.cross(e, diff)
  rot = _rotmat120(diff)
  d2 = rot @ d1
  d3 = rot @ d2
  pt, v1i = _insert_vertex(ws, sl, pt, st.s1[0], st.s2[0], v1)
  pt, v2i = _insert_vertex(ws, sl, pt, st.s1[1], st.s2[1], v2)
  pt, v3i = _epa_support(ws, sl, pt, o1, o2, d1, wp.length(d1))
  pt, v4i = _epa_support(ws, sl, pt, o1, o2, d2, wp.length(d2))
  pt, v5i = _epa_support(ws, sl, pt, o1, o2, d3, wp.length(d3))

  # build the hexahedron; a face through the origin reduces the problem to that face
  for f in range(6):
    a, b, c, a1, a2, a3 = _hexahedron_face(f, v1i, v2i, v3i, v4i, v5i)
    pt, d = _attach_face(ws, sl, pt, a, b, c, a1, a2, a3)
    if d < MINDIST:
      pt, st = _replace_simplex3(ws, sl, pt, st, a, b, c)
      return pt, st, -1  # continue with polytope3 on that face

  if _ray_triangle(v1, v2, ws.vert[sl, v3i], ws.vert[sl, v4i], ws.vert[sl, v5i]) == 0:
    return pt, st, 2
  pt = _map_faces(ws, sl, pt, 6)
  return pt, st, 0


@wp.func
def _polytope4(ws: EpaScratch, sl: int, pt_in: Polytope, st_in: CcdStatus, o1: ConvexObj,
               o2: ConvexObj):
  """Polytope from a 3-simplex; returns (polytope, status, code), code -1 as in polytope2."""
  pt = pt_in
  st = st_in
  pt, v1 = _insert_vertex(ws, sl, pt, st.s1[0], st.s2[0], st.s[0])
  pt, v2 = _insert_vertex(ws, sl, pt, st.s1[1], st.s2[1], st.s[1])
  pt, v3 = _insert_vertex(ws, sl, pt, st.s1[2], st.s2[2], st.s[2])
  pt, v4 = _insert_vertex(ws, sl, pt, st.s1[3], st.s2[3], st.s[3])
  pt.center = (((st.s[0] + st.s[1]) + st.s[2]) + st.s[3]) * wp.float64(0.25)
  for f in range(4):
    a, b, c, a1, a2, a3 = _tetrahedron_face(f, v1, v2, v3, v4)
    pt, d = _attach_face(ws, sl, pt, a, b, c, a1, a2, a3)
    if d < MINDIST:
      pt, st = _replace_simplex3(ws, sl, pt, st, a, b, c)
      return pt, st, -1  # continue with polytope3 on that face
  if not _test_tetra(st.s[0], st.s[1], st.s[2], st.s[3]):
    return pt, st, 9
  pt = _map_faces(ws, sl, pt, 4)
  return pt, st, 0


@wp.func
def _epa(ws: EpaScratch, sl: int, pt_in: Polytope, st_in: CcdStatus, o1: ConvexObj, o2: ConvexObj,
         tol: wp.float64, max_iterations: int) -> CcdStatus:
  """epa: expand the polytope towards the boundary of the Minkowski difference."""
  pt = pt_in
  st = st_in
  upper = wp.float64(MAX_LIMIT)
  upper2 = wp.float64(MAX_LIMIT)
  face = int(-1)
  kmax = wp.min(max_iterations, 1000)
  k = int(0)
  while k < kmax:
    pface = face
    lower2 = wp.float64(MAX_LIMIT)
    for i in range(pt.nmap):
      f = ws.face_map[sl, i]
      if ws.face_dist2[sl, f] < lower2:
        face = f
        lower2 = ws.face_dist2[sl, f]
    if lower2 > upper2 or face < 0:
      face = pface
      break
    if lower2 <= 0.0:
      break  # origin on the affine hull of a face (MuJoCo warns)

    lower = wp.sqrt(lower2)
    fv = ws.face_v[sl, face]
    pt, wi = _epa_support(ws, sl, pt, o1, o2, fv, lower)
    w = ws.vert[sl, wi]
    upper_k = wp.dot(fv, w) / lower
    if upper_k < upper:
      upper = upper_k
      upper2 = upper * upper
    if upper - lower < tol:
      if k == 0 and upper < lower - wp.float64(1e-10):
        face = -1
      break

    pt = _horizon(ws, sl, pt, face, w)
    if pt.nedges < 3:
      face = -1
      break
    nfaces = pt.nfaces
    nedges = pt.nedges
    if nedges > pt.maxfaces - pt.nfaces:
      break  # out of memory for faces (MuJoCo warns)

    failed = bool(False)
    for i in range(nedges):
      cur = nfaces + i
      prev = cur - 1
      if i == 0:
        prev = nfaces + nedges - 1
      nxt = nfaces + (i + 1) % nedges
      hf = ws.hzn_face[sl, i]
      he = ws.hzn_edge[sl, i]
      hv = ws.face_verts[sl, hf]
      v1 = hv[he]
      v2 = hv[(he + 1) % 3]
      hadj = ws.face_adj[sl, hf]
      hadj[he] = cur
      ws.face_adj[sl, hf] = hadj
      pt, dist2 = _attach_face(ws, sl, pt, wi, v2, v1, prev, hf, nxt)
      if dist2 == 0.0:
        failed = True
        break
      if dist2 >= lower2 and dist2 <= upper2:
        ws.face_map[sl, pt.nmap] = pt.nfaces - 1
        ws.face_index[sl, pt.nfaces - 1] = pt.nmap
        pt.nmap = pt.nmap + 1
    pt.nedges = 0
    if failed:
      face = -1
    if pt.nmap == 0 or face < 0:
      break
    k += 1

  if face >= 0:
    verts = ws.face_verts[sl, face]
    lam = _tri_affine_coord(ws.vert[sl, verts[0]], ws.vert[sl, verts[1]], ws.vert[sl, verts[2]],
                            ws.face_v[sl, face])
    st.x1 = lam[0] * ws.vert1[sl, verts[0]] + lam[1] * ws.vert1[sl, verts[1]] + lam[2] * ws.vert1[sl, verts[2]]
    st.x2 = lam[0] * ws.vert2[sl, verts[0]] + lam[1] * ws.vert2[sl, verts[1]] + lam[2] * ws.vert2[sl, verts[2]]
    st.dist = -wp.sqrt(ws.face_dist2[sl, face])
    st.nx = 1
    st.face = face
  else:
    st.nx = 0
    st.dist = wp.float64(0.0)
  return st


# ---------------------------------------------------------------------------------------------
# mjc_ccd, mjc_penetration, mjc_Convex


@wp.func
def _take_slot(ws: EpaScratch, worldid: int) -> int:
  """A free scratch slot of the pool; flags the world's overflow when none is left."""
  sl = wp.atomic_add(ws.counter, 0, 1)
  if sl >= ws.vert.shape[0]:
    ws.overflow[worldid] = 1
  return sl


@wp.func
def _single_shot_pair(type1: int, type2: int) -> bool:
  """Pairs MuJoCo 4 collides with single-shot multicontact (type1 <= type2)."""
  if type1 == _CAPSULE:
    return type2 == _CYLINDER
  return (type1 == _CYLINDER or type1 == _BOX) and (type2 == _CYLINDER or type2 == _BOX)


@wp.func
def _ccd(ws: EpaScratch, sl_in: int, worldid: int, o1: ConvexObj, o2: ConvexObj, tol: wp.float64,
         iterations: int):
  """mjc_ccd with max_contacts = 1, dist_cutoff = 0: (status, distance, pool slot)."""
  sl = sl_in
  st = CcdStatus()
  st.face = -1
  st.x1 = o1.pos
  st.x2 = o2.pos
  st.dist = wp.float64(0.0)
  st.nx = 0

  shrink1 = o1.gtype == _SPHERE or o1.gtype == _CAPSULE
  shrink2 = o2.gtype == _SPHERE or o2.gtype == _CAPSULE
  c1 = o1
  c2 = o2
  fm1 = wp.float64(0.0)
  fm2 = wp.float64(0.0)
  if shrink1:
    fm1 = o1.size[0] + wp.float64(0.5) * o1.margin
    c1.margin = wp.float64(0.0)
    if o1.gtype == _SPHERE:
      c1.gtype = _POINT
    else:
      c1.gtype = _LINE
  if shrink2:
    fm2 = o2.size[0] + wp.float64(0.5) * o2.margin
    c2.margin = wp.float64(0.0)
    if o2.gtype == _SPHERE:
      c2.gtype = _POINT
    else:
      c2.gtype = _LINE

  # pass 0 (spheres and capsules only): GJK between the cores; pass 1: the full shapes.
  # One GJK call site: every wp.func is inlined, so each call site costs GPU code size.
  npass = int(2)
  for pss in range(npass):
    shrunk = pss == 0
    if shrunk and not (shrink1 or shrink2):
      continue
    cutoff = wp.float64(0.0)
    if shrunk:
      cutoff = fm1 + fm2
    else:
      c1 = o1
      c2 = o2
      st.x1 = o1.pos
      st.x2 = o2.pos
    st = _gjk(st, c1, c2, tol, iterations, cutoff)
    if shrunk and st.dist > tol:
      # shallow penetration: distance between the cores minus the radii
      n, _len = _normalize3(st.x2 - st.x1)
      if fm1 != 0.0:
        st.x1 = st.x1 + n * fm1
      if fm2 != 0.0:
        st.x2 = st.x2 - n * fm2
      st.dist = st.dist - (fm1 + fm2)
      if st.dist > 0.0:
        st.dist = wp.float64(MAX_LIMIT)
      return st, st.dist, sl

  if st.dist <= tol and st.nsimplex > 1 and st.separated == 0:
    st.dist = wp.float64(0.0)  # assume touching
    if sl < 0:
      sl = _take_slot(ws, worldid)
      if sl >= ws.vert.shape[0]:
        return st, wp.float64(0.0), sl
    pt = Polytope()
    pt.nverts = 0
    pt.nfaces = 0
    pt.nmap = 0
    pt.nedges = 0
    pt.maxfaces = ws.face_v.shape[1]
    code = int(-1)
    if st.nsimplex == 2:
      pt, st, code = _polytope2(ws, sl, pt, st, o1, o2)
    elif st.nsimplex == 4:
      pt, st, code = _polytope4(ws, sl, pt, st, o1, o2)
    if code == -1:  # a 2-simplex from GJK, or one that polytope2/4 reduced to
      pt, code = _polytope3(ws, sl, pt, st, o1, o2)
    if code == 0:
      st = _epa(ws, sl, pt, st, o1, o2, tol, iterations)
  return st, st.dist, sl


@wp.func
def _penetration(ws: EpaScratch, sl_in: int, worldid: int, o1: ConvexObj, o2: ConvexObj,
                 margin: wp.float64, tol: wp.float64, iterations: int):
  """mjc_penetration (native ccd): (found, dist, pos, normal, slot, status)."""
  st, dist, sl = _ccd(ws, sl_in, worldid, o1, o2, tol, iterations)
  if sl >= ws.vert.shape[0]:
    return False, wp.float64(0.0), wp.vec3d(0.0), wp.vec3d(0.0), sl, st
  if dist < 0.0 and st.nx > 0:
    normal, _n = _normalize3(st.x1 - st.x2)
    return True, margin + st.dist, (st.x1 + st.x2) * wp.float64(0.5), normal, sl, st
  return False, wp.float64(0.0), wp.vec3d(0.0), wp.vec3d(0.0), sl, st


# ---------------------------------------------------------------------------------------------
# single-shot multi-contact (MuJoCo 4's multiCCD for boxes, cylinders and capsules)
#
# MuJoCo 4 no longer perturbs cylinder pairs to find more contacts: like box and mesh pairs,
# it reads the features (face, edge, vertex) that carry the first contact, and when a face of
# one geom is aligned with a face or an edge of the other it clips one against the other
# (Sutherland-Hodgman) and reports the clipped points below the face, each with its own depth,
# at most four. A cylinder's cap is a 16-gon, its side an edge along the axis; a capsule is an
# edge: its segment moved by the radius towards the face. MuJoCo finds the features from the
# support-vertex indices of the EPA face; here they are read off the witness points, which are
# convex combinations of those vertices and so lie on the same feature.



@wp.struct
class Feature:
  """Features of one geom at a witness point (MuJoCo's multicontact bookkeeping)."""
  dim: int            # 1 vertex / cap, 2 edge / side, 3 face (MuJoCo's simplex dimension)
  nnormal: int
  normal: wp.mat33d   # rows: normals of the candidate faces
  face: wp.vec3i      # their ids (box 0..5 as +x -x +y -y +z -z; cylinder 0 top, 1 bottom)
  nedge: int
  edge_dir: wp.mat33d  # rows: unit directions of the candidate edges
  edge_start: wp.vec3d
  edge_end: wp.mat33d  # rows: far ends of the candidate edges


@wp.struct
class MultiContact:
  n: int
  dist: wp.vec4d  # m: signed distance of each contact (negative: penetration)
  pos: mat43      # midpoint between the surfaces
  normal: wp.vec3d  # from geom 1 to geom 2


@wp.func
def _local_point(o: ConvexObj, x: wp.vec3d) -> wp.vec3d:
  return wp.transpose(o.mat) @ (x - o.pos)


@wp.func
def _box_face_normal(o: ConvexObj, f: int) -> wp.vec3d:
  k = f // 2
  s = wp.float64(1.0)
  if f % 2 == 1:
    s = wp.float64(-1.0)
  return wp.vec3d(o.mat[0, k] * s, o.mat[1, k] * s, o.mat[2, k] * s)


@wp.func
def _box_vertex(o: ConvexObj, sx: wp.float64, sy: wp.float64, sz: wp.float64) -> wp.vec3d:
  return o.mat @ wp.vec3d(sx * o.size[0], sy * o.size[1], sz * o.size[2]) + o.pos


@wp.func
def _feature(o: ConvexObj, x: wp.vec3d, dir: wp.vec3d) -> Feature:
  """Faces and edges of geom o through witness point x; dir points from o to the other geom."""
  f = Feature()
  f.dim = 3
  f.nnormal = 0
  f.nedge = 0
  normal = wp.mat33d()
  face = wp.vec3i(0)
  edge_dir = wp.mat33d()
  edge_end = wp.mat33d()
  nnormal = int(0)
  # the witness of a geom inflated by half the margin, back on the geom
  unit, _len = _normalize3(dir)
  p = _local_point(o, x - unit * (wp.float64(0.5) * o.margin))
  if o.gtype == _BOX:
    tol = wp.float64(1e-5) * wp.max(o.size[0], wp.max(o.size[1], o.size[2]))
    sgn = wp.vec3d(0.0)
    non = int(0)
    for k in range(3):
      if wp.abs(p[k] - o.size[k]) <= tol:
        sgn[k] = wp.float64(1.0)
        non += 1
      elif wp.abs(p[k] + o.size[k]) <= tol:
        sgn[k] = wp.float64(-1.0)
        non += 1
    if non == 0:
      # not on the surface (rounding): the face within FACE_TOL of the direction (boxNormals2)
      local, _n = _normalize3(wp.transpose(o.mat) @ dir)
      for fi in range(6):
        if nnormal == 0:
          k = fi // 2
          s = wp.float64(1.0)
          if fi % 2 == 1:
            s = wp.float64(-1.0)
          if local[k] * s > FACE_TOL:
            normal[0] = _box_face_normal(o, fi)
            face[0] = fi
            nnormal = 1
      f.normal = normal
      f.face = face
      f.nnormal = nnormal
      return f
    f.dim = 4 - non
    for k in range(3):  # faces through the feature, x before y before z (MuJoCo's order)
      if sgn[k] != 0.0:
        fi = 2 * k
        if sgn[k] < 0.0:
          fi += 1
        normal[nnormal] = _box_face_normal(o, fi)
        face[nnormal] = fi
        nnormal += 1
    if non == 2:  # edge: along the free axis, from its negative to its positive end
      for k in range(3):
        if sgn[k] == 0.0:
          s0 = wp.vec3d(sgn[0], sgn[1], sgn[2])
          s1 = wp.vec3d(sgn[0], sgn[1], sgn[2])
          s0[k] = wp.float64(-1.0)
          s1[k] = wp.float64(1.0)
          f.edge_start = _box_vertex(o, s0[0], s0[1], s0[2])
          edge_end[0] = _box_vertex(o, s1[0], s1[1], s1[2])
          d, _n = _normalize3(edge_end[0] - f.edge_start)
          edge_dir[0] = d
          f.nedge = 1
    elif non == 3:  # vertex: its three edges
      f.edge_start = _box_vertex(o, sgn[0], sgn[1], sgn[2])
      for k in range(3):
        s1 = wp.vec3d(sgn[0], sgn[1], sgn[2])
        s1[k] = -s1[k]
        edge_end[k] = _box_vertex(o, s1[0], s1[1], s1[2])
        d, _n = _normalize3(edge_end[k] - f.edge_start)
        edge_dir[k] = d
      f.nedge = 3
  elif o.gtype == _CYLINDER:
    tol = wp.float64(1e-5) * wp.max(o.size[0], o.size[1])
    axis = _zaxis(o.mat)
    cap = int(-1)
    if wp.abs(p[2] - o.size[1]) <= tol:
      cap = 0
    elif wp.abs(p[2] + o.size[1]) <= tol:
      cap = 1
    # the side line through the witness, from its end on one cap to the other cap
    rxy = wp.sqrt(p[0] * p[0] + p[1] * p[1])
    rim = wp.vec3d(o.size[0], 0.0, 0.0)
    if rxy > MINVAL:
      rim = wp.vec3d(p[0] * o.size[0] / rxy, p[1] * o.size[0] / rxy, 0.0)
    esgn = wp.float64(-1.0)  # edge runs from the top cap down ...
    if cap == 1:
      esgn = wp.float64(1.0)  # ... or from the bottom cap up
    rim[2] = -esgn * o.size[1]
    f.edge_start = o.mat @ rim + o.pos
    edge_dir[0] = axis * esgn
    edge_end[0] = f.edge_start + axis * (esgn * wp.float64(2.0) * o.size[1])
    f.nedge = 1
    if cap >= 0:
      f.dim = 1
      normal[0] = axis
      if cap == 1:
        normal[0] = -axis
      face[0] = cap
      nnormal = 1
    else:
      f.dim = 2
  elif o.gtype == _CAPSULE:
    # an edge: the segment (moved by the radius once the face is known)
    axis = _zaxis(o.mat)
    f.dim = 1
    f.edge_start = o.pos - axis * o.size[1]
    edge_end[0] = o.pos + axis * o.size[1]
    edge_dir[0] = axis
    f.nedge = 1
  f.normal = normal
  f.face = face
  f.nnormal = nnormal
  f.edge_dir = edge_dir
  f.edge_end = edge_end
  return f


@wp.func
def _vertex_index(o: ConvexObj, v: wp.vec3d) -> int:
  """Support-vertex index of a box corner (bit k: +x, +y, +z) or cylinder rim point (cap)."""
  p = _local_point(o, v)
  if o.gtype == _CYLINDER:
    if p[2] > 0.0:
      return 0
    return 1
  idx = int(0)
  if p[0] > 0.0:
    idx = idx | 1
  if p[1] > 0.0:
    idx = idx | 2
  if p[2] > 0.0:
    idx = idx | 4
  return idx


@wp.func
def _box_normal2(o: ConvexObj, dir: wp.vec3d, f: Feature) -> Feature:
  """boxNormals2: the face within FACE_TOL of dir, if any."""
  res = f
  res.nnormal = 0
  local, _n = _normalize3(wp.transpose(o.mat) @ dir)
  for fi in range(6):
    if res.nnormal == 0:
      k = fi // 2
      s = wp.float64(1.0)
      if fi % 2 == 1:
        s = wp.float64(-1.0)
      if local[k] * s > FACE_TOL:
        nrm = wp.mat33d()
        nrm[0] = _box_face_normal(o, fi)
        res.normal = nrm
        res.face = wp.vec3i(fi, 0, 0)
        res.nnormal = 1
  return res


@wp.func
def _vertex_feature(o: ConvexObj, va: wp.vec3d, vb: wp.vec3d, vc: wp.vec3d,
                    dir: wp.vec3d) -> Feature:
  """Faces and edges of a box or cylinder at the EPA face with vertices va, vb, vc on it, from
  their support indices (simplexDim, boxNormals, boxEdgeNormals, cylinderNormals,
  cylinderEdgeNormals); dir points from o to the other geom."""
  f = Feature()
  f.nnormal = 0
  f.nedge = 0
  i0 = _vertex_index(o, va)
  i1 = _vertex_index(o, vb)
  i2 = _vertex_index(o, vc)
  v0 = va
  v1 = vb
  dim = int(3)
  if i0 == i1:
    if i0 == i2:
      dim = 1
    else:
      dim = 2
      i1 = i2
      v1 = vc
  elif i2 == i0 or i2 == i1:
    dim = 2
  f.dim = dim
  normal = wp.mat33d()
  face = wp.vec3i(0)
  edge_dir = wp.mat33d()
  edge_end = wp.mat33d()
  if o.gtype == _CYLINDER:
    if dim == 1:
      sc = wp.float64(1.0)
      if i0 == 1:
        sc = wp.float64(-1.0)
      normal[0] = _zaxis(o.mat) * sc
      face[0] = i0
      f.nnormal = 1
    esgn = wp.float64(-1.0)
    if i0 == 1:
      esgn = wp.float64(1.0)
    edge_dir[0] = _zaxis(o.mat) * esgn
    edge_end[0] = v0 + edge_dir[0] * (wp.float64(2.0) * o.size[1])
    f.edge_start = v0
    f.nedge = 1
    f.normal = normal
    f.face = face
    f.edge_dir = edge_dir
    f.edge_end = edge_end
    return f
  # box: a face normal is set where all vertices share a sign in that axis
  bits = wp.vec3i(1, 2, 4)
  allset = wp.vec3i(0)
  noneset = wp.vec3i(0)
  for k in range(3):
    b = bits[k]
    a0 = (i0 & b) != 0
    a1 = (i1 & b) != 0
    a2 = (i2 & b) != 0
    if dim == 3:
      if a0 and a1 and a2:
        allset[k] = 1
      if not a0 and not a1 and not a2:
        noneset[k] = 1
    elif dim == 2:
      if a0 and a1:
        allset[k] = 1
      if not a0 and not a1:
        noneset[k] = 1
  if dim == 1:
    for k in range(3):
      fi = 2 * k + 1
      if (i0 & bits[k]) != 0:
        fi = 2 * k
      normal[k] = _box_face_normal(o, fi)
      face[k] = fi
    f.nnormal = 3
    # the three edges from the vertex
    sv = wp.vec3d(-1.0, -1.0, -1.0)
    for k in range(3):
      if (i0 & bits[k]) != 0:
        sv[k] = wp.float64(1.0)
    for k in range(3):
      se = wp.vec3d(sv[0], sv[1], sv[2])
      se[k] = -se[k]
      edge_end[k] = _box_vertex(o, se[0], se[1], se[2])
      d, _n = _normalize3(edge_end[k] - v0)
      edge_dir[k] = d
    f.nedge = 3
  else:
    c = int(0)
    for k in range(3):
      if allset[k] != noneset[k]:
        fi = 2 * k
        if noneset[k] == 1:
          fi += 1
        if c < 3:
          normal[c] = _box_face_normal(o, fi)
          face[c] = fi
        c += 1
    if dim == 2:
      d, _n = _normalize3(v1 - v0)
      edge_dir[0] = d
      edge_end[0] = v1
      f.nedge = 1
    f.nnormal = c
  f.edge_start = v0
  f.normal = normal
  f.face = face
  f.edge_dir = edge_dir
  f.edge_end = edge_end
  if (dim == 3 and f.nnormal != 1) or (dim == 2 and f.nnormal != 2):
    f = _box_normal2(o, dir, f)
  return f


@wp.func
def _face_polygon(o: ConvexObj, face: int, buf: wp.array2d(dtype=wp.vec3d), sl: int) -> int:
  """Writes the vertices of a box face (boxFace's order) or a cylinder cap (16-gon) to buf[sl],
  moved out by half the margin as the support points are."""
  out = wp.float64(0.5) * o.margin
  if o.gtype == _CYLINDER:
    sgn = wp.float64(1.0)
    if face == 1:
      sgn = wp.float64(-1.0)
    for i in range(NCYLPOLY):
      ang = wp.float64(i) * wp.float64(2.0 * 3.14159265358979323846 / 16.0)
      local = wp.vec3d(wp.cos(ang) * o.size[0], -wp.sin(ang) * o.size[0] * sgn,
                       sgn * (o.size[1] + out))
      buf[sl, i] = o.mat @ local + o.pos
    return NCYLPOLY
  k = face // 2
  s = wp.float64(1.0)
  if face % 2 == 1:
    s = wp.float64(-1.0)
  # corners (a, b) in the two other axes, in boxFace's winding
  a = wp.vec4d(1.0, 1.0, -1.0, -1.0)
  b = wp.vec4d(1.0, -1.0, -1.0, 1.0)
  if face == 1:
    a = wp.vec4d(1.0, 1.0, -1.0, -1.0)
    b = wp.vec4d(-1.0, 1.0, 1.0, -1.0)
  elif face == 2:
    a = wp.vec4d(-1.0, 1.0, 1.0, -1.0)
    b = wp.vec4d(-1.0, -1.0, 1.0, 1.0)
  elif face == 3:
    a = wp.vec4d(-1.0, 1.0, 1.0, -1.0)
    b = wp.vec4d(1.0, 1.0, -1.0, -1.0)
  elif face == 4:
    a = wp.vec4d(-1.0, 1.0, 1.0, -1.0)
    b = wp.vec4d(1.0, 1.0, -1.0, -1.0)
  elif face == 5:
    a = wp.vec4d(1.0, -1.0, -1.0, 1.0)
    b = wp.vec4d(1.0, 1.0, -1.0, -1.0)
  for i in range(4):
    c = wp.vec3d(0.0)
    c[k] = s
    if k == 0:
      c[1] = a[i]
      c[2] = b[i]
    elif k == 1:
      c[0] = a[i]
      c[2] = b[i]
    else:
      c[0] = a[i]
      c[1] = b[i]
    buf[sl, i] = _box_vertex(o, c[0], c[1], c[2]) + _box_face_normal(o, face) * out
  return 4


@wp.func
def _quad_area(poly: wp.array2d(dtype=wp.vec3d), sl: int, n: int, a: int, b: int, c: int,
               d: int) -> wp.float64:
  return wp.float64(0.5) * wp.length(wp.cross(poly[sl, a % n] - poly[sl, c % n],
                                             poly[sl, b % n] - poly[sl, d % n]))


@wp.func
def _polygon_quad(poly: wp.array2d(dtype=wp.vec3d), sl: int, n: int) -> wp.vec4i:
  """polygonQuad: four vertices of a convex polygon spanning the largest area."""
  a = int(0)
  b = int(1)
  c = int(2)
  d = int(3)
  res = wp.vec4i(0, 1, 2, 3)
  m = _quad_area(poly, sl, n, a, b, c, d)
  while a < n:
    grow = bool(True)
    while grow:
      m_next = _quad_area(poly, sl, n, a, b, c, d + 1)
      if m_next <= m:
        grow = False
      else:
        m = m_next
        d = (d + 1) % n
        res = wp.vec4i(a, b % n, c % n, d)
        growc = bool(True)
        while growc:
          m_next = _quad_area(poly, sl, n, a, b, c + 1, d)
          if m_next <= m:
            growc = False
          else:
            m = m_next
            c = (c + 1) % n
            res = wp.vec4i(a, b % n, c, d)
        growb = bool(True)
        while growb:
          m_next = _quad_area(poly, sl, n, a, b + 1, c, d)
          if m_next <= m:
            growb = False
          else:
            m = m_next
            b = (b + 1) % n
            res = wp.vec4i(a, b, c % n, d)
    if b == a:
      b = (b + 1) % n
      if c == b:
        c = (c + 1) % n
        if d == c:
          d = (d + 1) % n
    a += 1
  return res


@wp.func
def _clip(ws: EpaScratch, sl: int, nface1: int, nface2: int, n: wp.vec3d, dir: wp.vec3d,
          margin: wp.float64, flip: bool) -> MultiContact:
  """polygonClip: clips polygon ws.vert2[sl, :nface2] by the side planes of the face
  ws.vert1[sl, :nface1] (outward normal n); contacts at the clipped points below the face,
  midway to it along dir, dist margin + depth (the geoms are inflated by half the margin). At
  most four (largest quadrilateral), two for an edge. flip: the clipped polygon is on geom 1
  (the normal then points along dir)."""
  mc = MultiContact()
  mc.n = 0
  if nface1 < 3:
    return mc
  face1 = ws.vert1
  for i in range(nface1):
    v1 = face1[sl, i]
    v2 = face1[sl, (i + 1) % nface1]
    pn, _len = _normalize3(wp.cross(v2 - v1, n))
    ws.face_v[sl, i] = pn
    ws.face_dist2[sl, i] = wp.dot(pn, v1)
  npoly = nface2
  src = int(0)  # 0: polygon in ws.vert2, 1: in ws.vert
  for e in range(nface1):
    a = face1[sl, e]
    pn = ws.face_v[sl, e]
    pd = ws.face_dist2[sl, e]
    nclip = int(0)
    for i in range(npoly):
      P = wp.vec3d(0.0)
      Q = wp.vec3d(0.0)
      iq = i + 1
      if iq == npoly:
        iq = 0
      if src == 0:
        P = ws.vert2[sl, i]
        Q = ws.vert2[sl, iq]
      else:
        P = ws.vert[sl, i]
        Q = ws.vert[sl, iq]
      inside1 = wp.dot(P - a, pn) > -MINVAL
      inside2 = wp.dot(Q - a, pn) > -MINVAL
      if inside1 or inside2:
        if inside1 and inside2:
          if src == 0:
            ws.vert[sl, nclip] = Q
          else:
            ws.vert2[sl, nclip] = Q
          nclip += 1
        else:
          PQ = Q - P
          tmp = wp.dot(pn, PQ)
          if tmp != 0.0:
            t = (pd - wp.dot(pn, P)) / tmp
            if t >= 0.0 and t <= 1.0:
              if src == 0:
                ws.vert[sl, nclip] = P + PQ * t
              else:
                ws.vert2[sl, nclip] = P + PQ * t
              nclip += 1
          if inside2:
            if src == 0:
              ws.vert[sl, nclip] = Q
            else:
              ws.vert2[sl, nclip] = Q
            nclip += 1
    src = 1 - src
    npoly = nclip

  # keep the points below the face, compacted into the other buffer
  f0 = face1[sl, 0]
  m = int(0)
  for i in range(npoly):
    v = wp.vec3d(0.0)
    if src == 0:
      v = ws.vert2[sl, i]
    else:
      v = ws.vert[sl, i]
    if wp.dot(v - f0, n) <= 0.0:
      if src == 0:
        ws.vert[sl, m] = v
      else:
        ws.vert2[sl, m] = v
      m += 1
  if m < 1:
    return mc
  poly = ws.vert
  if src == 1:
    poly = ws.vert2
  idx = wp.vec4i(0, 1, 2, 3)
  count = wp.min(m, 4)
  dists = wp.vec4d(0.0)
  pos = mat43()
  if m > 4:
    idx = _polygon_quad(poly, sl, m)
  elif nface2 == 2 and m > 2:
    best1 = int(0)
    best2 = int(1)
    dbest = wp.float64(0.0)
    for i in range(m):
      for j in range(i + 1, m):
        diff = poly[sl, j] - poly[sl, i]
        d2 = wp.dot(diff, diff)
        if d2 > dbest:
          dbest = d2
          best1 = i
          best2 = j
    idx = wp.vec4i(best1, best2, 0, 0)
    count = 2
  for i in range(count):
    v = poly[sl, idx[i]]
    dist = wp.dot(v - f0, n)
    dists[i] = margin + dist
    pos[i] = v + dir * (wp.float64(0.5) * dist)
  mc.n = count
  mc.dist = dists
  mc.pos = pos
  mc.normal = -dir
  if flip:
    mc.normal = dir
  return mc


@wp.func
def _multicontact(ws: EpaScratch, sl: int, o1: ConvexObj, o2: ConvexObj, x1: wp.vec3d,
                  x2: wp.vec3d, face: int, margin: wp.float64) -> MultiContact:
  """multicontact: contacts of aligned faces / an edge on a face; n = 0 when none are.
  face: the contact's EPA face in pool slot sl, -1 when the contact came from GJK alone."""
  mc = MultiContact()
  mc.n = 0
  dir = x2 - x1
  f1 = _feature(o1, x1, -dir)
  f2 = _feature(o2, x2, dir)
  if face >= 0:  # boxes and cylinders: the features of the EPA face's support vertices
    fv = ws.face_verts[sl, face]
    if o1.gtype == _BOX or o1.gtype == _CYLINDER:
      f1 = _vertex_feature(o1, ws.vert1[sl, fv[0]], ws.vert1[sl, fv[1]], ws.vert1[sl, fv[2]], -dir)
    if o2.gtype == _BOX or o2.gtype == _CYLINDER:
      f2 = _vertex_feature(o2, ws.vert2[sl, fv[0]], ws.vert2[sl, fv[1]], ws.vert2[sl, fv[2]], dir)
  # a face of geom 1 facing a face of geom 2
  fi = int(-1)
  fj = int(-1)
  for i in range(f1.nnormal):
    for j in range(f2.nnormal):
      if fi < 0 and wp.dot(f1.normal[i], f2.normal[j]) < -FACE_TOL:
        fi = i
        fj = j
  if fi >= 0:
    n1 = _face_polygon(o1, f1.face[fi], ws.vert1, sl)
    n2 = _face_polygon(o2, f2.face[fj], ws.vert2, sl)
    return _clip(ws, sl, n1, n2, f1.normal[fi], f2.normal[fj], margin, False)
  # an edge of one geom lying in a face of the other, the face turned to the edge's geom:
  # geom 1's edge first when its feature is the lower-dimensional one, then the other way
  # (MuJoCo 4.0.0 also reports a cylinder's side on the other's cap in the second order)
  first1 = f1.dim < 3 and f1.dim <= f2.dim
  edge1 = bool(False)
  ie = int(-1)
  jf = int(-1)
  ea = f2
  fb = f1
  for attempt in range(2):
    try1 = first1
    if attempt == 1:
      try1 = not first1
    if jf < 0 and ((try1 and f1.dim < 3) or (not try1 and f2.dim < 3)):
      ea = f2
      fb = f1
      side = dir * wp.float64(-1.0)
      if try1:
        ea = f1
        fb = f2
        side = dir
      for j in range(fb.nnormal):
        if jf < 0 and wp.dot(fb.normal[j], side) > MINVAL:
          for i in range(ea.nedge):
            if jf < 0 and wp.abs(wp.dot(ea.edge_dir[i], fb.normal[j])) < EDGE_TOL:
              ie = i
              jf = j
              edge1 = try1
  if jf < 0:
    return mc
  nrm = fb.normal[jf]
  start = ea.edge_start
  end = ea.edge_end[ie]
  eo = o2
  fo = o1
  if edge1:
    eo = o1
    fo = o2
  if eo.gtype == _CAPSULE:
    # the segment moved by the radius along the contact normal's part normal to the axis
    axis = ea.edge_dir[0]
    toward, _len = _normalize3(x1 - x2)
    if not edge1:
      toward = -toward
    shift = (toward - axis * wp.dot(toward, axis)) * (eo.size[0] + wp.float64(0.5) * eo.margin)
    start = start + shift
    end = end + shift
  nf = _face_polygon(fo, fb.face[jf], ws.vert1, sl)
  ws.vert2[sl, 0] = start
  ws.vert2[sl, 1] = end
  # the edge is clipped as the polygon: its points are on geom 1 when edge1
  return _clip(ws, sl, nf, 2, nrm, -nrm, margin, edge1)


@wp.func
def convex(out: prim.SlotBuffer, ws: EpaScratch, worldid: int, slot: int, margin32: float,
           type1: int, pos1: wp.vec3, mat1: wp.mat33, size1: wp.vec3,
           type2: int, pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3,
           tol32: float, iterations: int, multiccd: int) -> int:
  """mjc_Convex (native ccd, MuJoCo 4): one GJK/EPA contact, or the single-shot multicontact
  of aligned features for cylinder-cylinder, cylinder-box and capsule-cylinder pairs."""
  margin = wp.float64(margin32)
  tol = wp.float64(tol32)
  o1 = ConvexObj()
  o1.gtype = type1
  o1.pos = wp.vec3d(pos1)
  o1.mat = wp.mat33d(mat1)
  o1.size = wp.vec3d(size1)
  o1.margin = margin
  o2 = ConvexObj()
  o2.gtype = type2
  o2.pos = wp.vec3d(pos2)
  o2.mat = wp.mat33d(mat2)
  o2.size = wp.vec3d(size2)
  o2.margin = margin

  ok, d, p, nrm, sl, st = _penetration(ws, -1, worldid, o1, o2, margin, tol, iterations)
  if not ok:
    return 0
  if multiccd != 0 and _single_shot_pair(type1, type2):
    if sl < 0:  # a capsule's shallow contact took no EPA slot
      sl = _take_slot(ws, worldid)
    if sl >= ws.vert.shape[0]:
      return 0
    mc = _multicontact(ws, sl, o1, o2, st.x1, st.x2, st.face, margin)
    if mc.n > 0:
      for k in range(mc.n):
        _write(out, worldid, slot + k, mc.dist[k], mc.pos[k], mc.normal)
      return mc.n
  _write(out, worldid, slot, d, p, nrm)
  return 1


@wp.kernel
def _narrowphase_convex(
  # Model:
  geom_type: wp.array(dtype=int),
  geom_size: wp.array(dtype=wp.vec3),
  geom_rbound: wp.array(dtype=float),
  convex_pairs: wp.array(dtype=int),
  pair_geom1: wp.array(dtype=int),
  pair_geom2: wp.array(dtype=int),
  pair_margin: wp.array(dtype=float),
  pair_gap: wp.array(dtype=float),
  pair_slot: wp.array(dtype=int),
  ccd_tolerance: float,
  ccd_iterations: int,
  multiccd: int,
  # Data in:
  geom_xpos_in: wp.array2d(dtype=wp.vec3),
  geom_xmat_in: wp.array2d(dtype=wp.mat33),
  # Data out:
  slots_out: prim.SlotBuffer,
  scratch_out: EpaScratch,
  pair_ncon_out: wp.array2d(dtype=int),
):
  worldid, k = wp.tid()
  pairid = convex_pairs[k]
  g1 = pair_geom1[pairid]
  g2 = pair_geom2[pairid]
  margin = pair_margin[pairid] + pair_gap[pairid]
  pos1 = geom_xpos_in[worldid, g1]
  mat1 = geom_xmat_in[worldid, g1]
  pos2 = geom_xpos_in[worldid, g2]
  mat2 = geom_xmat_in[worldid, g2]
  t1 = geom_type[g1]
  t2 = geom_type[g2]
  rb1 = geom_rbound[g1]
  rb2 = geom_rbound[g2]
  ncon = int(0)
  dif = pos1 - pos2
  bound = rb1 + rb2 + margin
  if wp.dot(dif, dif) <= bound * bound:
    ncon = convex(slots_out, scratch_out, worldid, pair_slot[pairid], margin, t1, pos1, mat1,
                  geom_size[g1], t2, pos2, mat2, geom_size[g2], ccd_tolerance, ccd_iterations,
                  multiccd)
  pair_ncon_out[worldid, pairid] = ncon


def narrowphase(m: Model, d: Data):
  """Convex pairs of m.collision for every world; writes d.contact slots and pair counts."""
  pairs = m.collision
  c = d.contact
  ws = c.convex_scratch
  ws.counter.zero_()
  opt = m.mj_model.opt
  multiccd = 0 if int(opt.disableflags) & int(mujoco.mjtDisableBit.mjDSBL_MULTICCD) else 1
  wp.launch(_narrowphase_convex, dim=(d.nworld, pairs.nconvex), inputs=[
    m.geom_type, m.geom_size, pairs.geom_rbound, pairs.convex_pairs, pairs.geom1, pairs.geom2,
    pairs.margin, pairs.gap, pairs.slot, float(opt.ccd_tolerance), int(opt.ccd_iterations),
    multiccd, d.geom_xpos, d.geom_xmat,
  ], outputs=[c.slots, ws, c.pair_ncon], device=c.ncon.device)

