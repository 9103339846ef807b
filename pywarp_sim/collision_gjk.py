"""GJK and EPA in float64: a Warp port of MuJoCo's native convex collision detection (mjc_ccd,
mjc_penetration; engine_collision_gjk.c), used by collision_convex. Twin of
kernels/collision_gjk.h.

Spheres and capsules are first shrunk to a point or a segment and GJK measures the distance
between the cores; when the cores overlap, or for the other shapes, GJK finds a simplex
enclosing the origin and EPA expands it into the penetration depth and witness points.

GJK/EPA follow the published MuJoCo source (3.12, engine_collision_gjk.c /
engine_collision_convex.c) step by step: same support functions, subdistance algorithm,
polytope construction, horizon order (made iterative), stopping rules and the
ccd_iterations / ccd_tolerance options, in float64 (GJK and EPA resolve directions only to
~sqrt(eps), which float32 cannot do).

MuJoCo 4.0 (the oracle; source not published) differs from that source, found by probing
it as a black box: EPA itself changed ("improved numerical stability"). Where the iterations
diverge, deep contacts differ in depth and normal, and a cylinder side's line passes through a
slightly different rim vertex (~1e-4 m). Contact counts agree. (The other 4.0 changes concern
the multicontact: collision_multicontact.) Discrete geoms (boxes, meshes and height-field
prisms, all without margin: MuJoCo's discreteGeoms) take the source's exact stopping rules:
GJK without tolerance, EPA to mjMINEPATOL or until a support vertex repeats.

EPA polytopes live in a global pool of scratch slots taken by the pairs that need one in
a step (`types.EPA_SLOTS_PER_WORLD` per world on average, at least `types.EPA_MIN_SLOTS` in all); a
step that runs out sets the world's overflow flag instead of silently dropping the contact.
The pool is declared with the other Data arrays (types.EPA_FIELDS) and allocated by
io.make_data.
"""

import warp as wp

from .types import EpaScratch, GeomType

# contact detection is not differentiated: skip the adjoint code (compile time, code size)
# and keep loops rolled: every wp.func is inlined, unrolling multiplies the GPU code
wp.set_module_options({"enable_backward": False, "max_unroll": 1})

MINVAL = 1e-15
MINVAL2 = 1e-30
MAXVAL2 = 1e20      # mjMAXVAL^2
MAX_LIMIT = 3.0e38  # DBL_MAX stand-in: "no distance"
MINDIST = 1e-30     # mjMINDIST2/3/4 (double precision values: MuJoCo's oracle)

_POINT = wp.constant(-1)  # sphere shrunk to its centre
_LINE = wp.constant(-2)   # capsule shrunk to its segment
_SPHERE = wp.constant(int(GeomType.SPHERE))
_CAPSULE = wp.constant(int(GeomType.CAPSULE))
_ELLIPSOID = wp.constant(int(GeomType.ELLIPSOID))
_CYLINDER = wp.constant(int(GeomType.CYLINDER))
_MESH = wp.constant(int(GeomType.MESH))
_HFIELD = wp.constant(int(GeomType.HFIELD))
_BOX = wp.constant(int(GeomType.BOX))
MINEPATOL = 1e-15   # mjMINEPATOL (mjMINVAL in double): EPA's tolerance for discrete geoms
MESH_HILLCLIMB_MIN = 10  # mjMESH_HILLCLIMB_MIN: fewer hull vertices are scanned exhaustively

mat43 = wp.types.matrix(shape=(4, 3), dtype=wp.float64)


@wp.struct
class ConvexObj:
  gtype: int      # geom type, or _POINT / _LINE for shrunk spheres / capsules
  pos: wp.vec3d
  mat: wp.mat33d
  size: wp.vec3d
  margin: wp.float64   # support points are pushed out by margin / 2
  # a mesh geom (Model tables, shared by all worlds): its vertices are
  # mesh_vert[vertadr : vertadr + vertnum]; graphadr >= 0: its hull graph in mesh_graph
  vertadr: int
  vertnum: int
  graphadr: int
  mesh_vert: wp.array(dtype=wp.vec3)
  mesh_graph: wp.array(dtype=int)
  # the mesh's 27 seeds of the hill climb, mesh_extrema[extremaadr : extremaadr + 27]
  # (MuJoCo's mesh_extrema row: per direction of the 3x3x3 grid, the hull vertex, local id,
  # farthest along it; the native ConvexObj holds a pointer to the row)
  extremaadr: int
  mesh_extrema: wp.array(dtype=int)
  # gtype HFIELD: one triangular prism of a height field (collision_convex.hfield_prism), in
  # the height field's frame: mat's rows are its three top vertices, size[0] the z of its
  # bottom face, pos its centre (MuJoCo's mjc_center, GJK's first point)


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
def zaxis(mat: wp.mat33d) -> wp.vec3d:
  return wp.vec3d(mat[0, 2], mat[1, 2], mat[2, 2])


@wp.func
def normalize(v: wp.vec3d):
  """mju_normalize3: (unit vector, norm), (1, 0, 0) below mjMINVAL."""
  n = wp.length(v)
  if n < MINVAL:
    return wp.vec3d(1.0, 0.0, 0.0), n
  return v * (wp.float64(1.0) / n), n


# ---------------------------------------------------------------------------------------------
# support functions


@wp.func
def hull_graph(o: ConvexObj):
  """A mesh's hull graph (MuJoCo's mesh_graph from graphadr), as offsets into o.mesh_graph:
  (numvert hull vertices; per hull vertex the start of its neighbour list in localid (edgeadr)
  and its mesh vertex (globalid); localid, the neighbour lists, each ended by -1)."""
  numvert = o.mesh_graph[o.graphadr]
  return numvert, o.graphadr + 2, o.graphadr + 2 + numvert, o.graphadr + 2 + 2 * numvert


@wp.func
def _grid_cell(x: wp.float64) -> int:
  """A direction component's cell of the 3x3x3 grid: 0 below -0.4, 1 between, 2 above 0.4."""
  c = int(1)
  if x > wp.float64(0.4):
    c = 2
  elif x < wp.float64(-0.4):
    c = 0
  return c


@wp.func
def extrema_seed(o: ConvexObj, d: wp.vec3d) -> int:
  """The hill climb's seed for direction d (mesh frame): the hull vertex (local id) in the
  mesh's mesh_extrema row at d's 3x3x3 grid cell."""
  return o.mesh_extrema[o.extremaadr + _grid_cell(d[0]) * 9 + _grid_cell(d[1]) * 3 + _grid_cell(d[2])]


@wp.func
def mesh_support_vertex(o: ConvexObj, local: wp.vec3d, seed_first: bool) -> int:
  """Index (in the mesh, 0..vertnum-1) of the vertex farthest along `local` (mesh frame).

  MuJoCo's mjc_meshSupport / mjc_hillclimbSupport: meshes of at least MESH_HILLCLIMB_MIN
  vertices with a hull graph climb the graph (each step moves to the best neighbour while one
  improves) from the grid seed for `local` (extrema_seed, MuJoCo's mesh_extrema), so a
  25k-vertex mesh visits a few hull vertices; smaller meshes scan every vertex. MuJoCo also
  warm-starts the climb at the previous climb's end when that is better, which needs state
  across calls: not taken here; the climb ends at the same vertex either way except on exact
  ties. seed_first: the climb starts at the first hull vertex (MuJoCo's libccd support, used by
  mjc_PlaneConvex).
  """
  if o.graphadr < 0 or o.vertnum < MESH_HILLCLIMB_MIN:
    best = wp.float64(-3.4028234663852886e38)
    ibest = int(0)
    for i in range(o.vertnum):
      vdot = wp.dot(local, wp.vec3d(o.mesh_vert[o.vertadr + i]))
      if vdot > best:
        best = vdot
        ibest = i
    return ibest
  numvert, edgeadr, globalid, localid = hull_graph(o)
  imax = int(0)
  if not seed_first:
    imax = extrema_seed(o, local)
  best = wp.dot(local, wp.vec3d(o.mesh_vert[o.vertadr + o.mesh_graph[globalid + imax]]))
  prev = int(-1)
  while imax != prev:
    prev = imax
    i = o.mesh_graph[edgeadr + prev]
    loc = o.mesh_graph[localid + i]
    while loc >= 0:
      vdot = wp.dot(local, wp.vec3d(o.mesh_vert[o.vertadr + o.mesh_graph[globalid + loc]]))
      if vdot > best:
        best = vdot
        imax = loc
      i += 1
      loc = o.mesh_graph[localid + i]
  return o.mesh_graph[globalid + imax]


@wp.func
def _prism_support(o: ConvexObj, dir: wp.vec3d) -> wp.vec3d:
  """mjc_prism_support: the prism vertex farthest along dir, among the top face's when
  dir[2] >= 0, else the bottom face's; the first of equals."""
  ibest = int(0)
  best = wp.float64(0.0)
  for i in range(3):
    v = wp.vec3d(o.mat[i, 0], o.mat[i, 1], o.mat[i, 2])
    if dir[2] < 0.0:
      v[2] = o.size[0]
    d = wp.dot(v, dir)
    if i == 0 or d > best:
      ibest = i
      best = d
  res = wp.vec3d(o.mat[ibest, 0], o.mat[ibest, 1], o.mat[ibest, 2])
  if dir[2] < 0.0:
    res[2] = o.size[0]
  return res


@wp.func
def _support_geom(o: ConvexObj, dir: wp.vec3d) -> wp.vec3d:
  """mjc_*Support: farthest point of the geom along dir."""
  if o.gtype == _POINT:
    return o.pos
  if o.gtype == _LINE:
    axis = zaxis(o.mat)
    scl = o.size[1]
    if wp.dot(axis, dir) < 0.0:
      scl = -o.size[1]
    return axis * scl + o.pos
  if o.gtype == _SPHERE:
    return dir * o.size[0] + o.pos
  if o.gtype == _HFIELD:
    return _prism_support(o, dir)
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
  elif o.gtype == _MESH:
    supp = wp.vec3d(o.mesh_vert[o.vertadr + mesh_support_vertex(o, local, False)])
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
def support_point(o: ConvexObj, dir: wp.vec3d) -> wp.vec3d:
  """The geom's farthest point along dir, without its margin (a height field's bounding box
  of the other geom, collision_convex)."""
  return _support_geom(o, dir)


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
def _project_origin_normal(n: wp.vec3d, v: wp.vec3d):
  """The origin projected on the plane of normal n through v: (0, point); (1, _) when n is
  zero (degenerate); (2, _) when n is too small or the plane passes through the origin, so
  _project_origin_plane tries the triangle's next edge pair."""
  nv = wp.dot(n, v)
  nn = wp.dot(n, n)
  if nn == 0.0:
    return 1, wp.vec3d(0.0)
  if nv != 0.0 and nn > MINVAL:
    return 0, n * (nv / nn)
  return 2, wp.vec3d(0.0)


@wp.func
def _project_origin_plane(v1: wp.vec3d, v2: wp.vec3d, v3: wp.vec3d):
  """(1, _) when degenerate, else (0, origin projected on the plane of v1 v2 v3)."""
  diff21 = v2 - v1
  diff31 = v3 - v1
  diff32 = v3 - v2
  code, p = _project_origin_normal(wp.cross(diff32, diff21), v2)
  if code != 2:
    return code, p
  code, p = _project_origin_normal(wp.cross(diff21, diff31), v1)
  if code != 2:
    return code, p
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
def _discrete(o1: ConvexObj, o2: ConvexObj) -> bool:
  """discreteGeoms: both geoms polytopes (box, mesh, height-field prism) without margin; GJK
  and EPA then converge in finitely many steps and stop on exact rules, not ccd_tolerance."""
  if o1.margin != 0.0 or o2.margin != 0.0:
    return False
  return ((o1.gtype == _MESH or o1.gtype == _BOX or o1.gtype == _HFIELD)
          and (o2.gtype == _MESH or o2.gtype == _BOX or o2.gtype == _HFIELD))


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
  if _discrete(o1, o2):
    epsilon = wp.float64(0.0)
    min_norm = wp.float64(MINVAL)
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
def _repeated_support(ws: EpaScratch, sl: int, pt: Polytope, prism1: bool) -> bool:
  """Whether the newest polytope vertex repeats an earlier one's support vertices (EPA's stop
  for discrete geoms). MuJoCo compares the support functions' vertex indices (a box's
  corner, a mesh's vertex); distinct vertices have distinct positions, so positions are
  compared here. A height-field prism's support function sets no index (it stays -1), so
  with a prism as geom 1 only geom 2's vertices are compared, as MuJoCo does."""
  last = pt.nverts - 1
  for i in range(last):
    if ws.vert2[sl, i] == ws.vert2[sl, last] and (prism1 or ws.vert1[sl, i] == ws.vert1[sl, last]):
      return True
  return False


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
  discrete = _discrete(o1, o2)
  epa_tol = tol
  if discrete:
    epa_tol = wp.float64(MINEPATOL)
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
    if upper - lower < epa_tol:
      if k == 0 and upper < lower - wp.float64(1e-10):
        face = -1
      break
    if discrete and _repeated_support(ws, sl, pt, o1.gtype == _HFIELD):
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
# the EPA pool, mjc_ccd, mjc_penetration


@wp.func
def take_slot(ws: EpaScratch, worldid: int) -> int:
  """A free scratch slot of the pool; flags the world's overflow when none is left."""
  sl = wp.atomic_add(ws.counter, 0, 1)
  if sl >= ws.vert.shape[0]:
    ws.overflow[worldid] = 1
  return sl


@wp.func
def _core(o: ConvexObj):
  """(shrunk, core, full margin): a sphere's core is its centre point and a capsule's its
  segment, without margin; full margin, the radius plus half the margin that the core lacks
  (mjc_ccd's first pass). Other geoms: (False, o, 0)."""
  c = o
  fm = wp.float64(0.0)
  shrink = o.gtype == _SPHERE or o.gtype == _CAPSULE
  if shrink:
    fm = o.size[0] + wp.float64(0.5) * o.margin
    c.margin = wp.float64(0.0)
    if o.gtype == _SPHERE:
      c.gtype = _POINT
    else:
      c.gtype = _LINE
  return shrink, c, fm


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

  shrink1, c1, fm1 = _core(o1)
  shrink2, c2, fm2 = _core(o2)

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
      n, _len = normalize(st.x2 - st.x1)
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
      sl = take_slot(ws, worldid)
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
def penetration(ws: EpaScratch, sl_in: int, worldid: int, o1: ConvexObj, o2: ConvexObj,
                 margin: wp.float64, tol: wp.float64, iterations: int):
  """mjc_penetration (native ccd): (found, dist, pos, normal, slot, status)."""
  st, dist, sl = _ccd(ws, sl_in, worldid, o1, o2, tol, iterations)
  if sl >= ws.vert.shape[0]:
    return False, wp.float64(0.0), wp.vec3d(0.0), wp.vec3d(0.0), sl, st
  if dist < 0.0 and st.nx > 0:
    normal, _n = normalize(st.x1 - st.x2)
    return True, margin + st.dist, (st.x1 + st.x2) * wp.float64(0.5), normal, sl, st
  return False, wp.float64(0.0), wp.vec3d(0.0), wp.vec3d(0.0), sl, st
