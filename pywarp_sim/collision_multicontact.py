"""MuJoCo 4's single-shot multicontact for boxes, cylinders, capsules and meshes, in float64:
from the first GJK/EPA contact (collision_gjk), the contacts of aligned faces or of an edge
lying on a face. Used by collision_convex. Twin of kernels/collision_multicontact.h.

A mesh collides through its convex hull: its faces are the hull polygons MuJoCo's compiler
stores (mesh_poly*), found from the hull vertices of the EPA face's support points
(meshNormals: the polygon through three vertices, the up to two through an edge, every one
through a vertex; meshEdgeNormals: a vertex's edges to each polygon's previous vertex), and a
polygon is clipped with its vertices in reverse order (meshFace). MuJoCo carries the vertex
indices through GJK and EPA; here they are recovered from the support points
(_mesh_vertex_id). Matched against MuJoCo 4.0 for capsule-, cylinder-, box- and mesh-mesh on
random and face-aligned poses of small hulls: the same contact count in every touching pose
but ~1% of cylinder poses (EPA's single contact), depths and positions to ~3e-8 m (median);
a two-point edge contact comes in the other order in ~10-30% of edge poses, and a clipped
polygon with a repeated vertex can keep another copy of it.

MuJoCo 4 no longer perturbs cylinder pairs to find more contacts: like box and mesh pairs,
it reads the features (face, edge, vertex) that carry the first contact, and when a face of
one geom is aligned with a face or an edge of the other it clips one against the other
(Sutherland-Hodgman) and reports the clipped points below the face, each with its own depth,
at most four. A cylinder's cap is a 16-gon, its side an edge along the axis; a capsule is an
edge: its segment moved by the radius towards the face. MuJoCo finds the features from the
support-vertex indices of the EPA face; here they are read off the witness points, which are
convex combinations of those vertices and so lie on the same feature.

MuJoCo 4.0 (the oracle; source not published) differs from the published 3.x source, found by
probing it as a black box:
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
- Of the face pairs within mjFACE_TOL (0.996, about 5.1 degrees) 4.0 clips the most nearly
  antiparallel, where 3.x took the first: a vertex of a finely tessellated hull carries several
  faces within the tolerance (a level-4 icosphere on a box: the first pair gives another face's
  normal in 105 of 128 poses; Menagerie's G1 hands and Talos' feet: normals 0.107 and 0.035 rad
  off MuJoCo's).
- Margins do not turn it off (3.x fell back to perturbation): faces, edges and capsule
  lines are those of the geoms inflated by half the margin (as the support points are), and
  each contact's dist is margin + its depth below the inflated face. (Box-mesh and mesh-mesh
  with a margin differ: 4.0 finds a second contact where this finds one in ~5-15% of poses;
  pairs.build_pairs refuses them.)
- The witnesses of a clipped point v: 3.x puts one on the clipped polygon (v) and the other
  depth along the contact direction; 4.0 puts one on the clipping face's plane (v projected
  along the face normal) and the other along the contact direction from it, and the depth is
  v's distance below the face times the cosine between the two faces' normals (matched on
  face-aligned mesh-mesh poses to 1e-8 m; the same as 3.x for an edge on a face).
"""

import warp as wp

from .collision_gjk import (MINVAL, CcdStatus, ConvexObj, extrema_seed, hull_graph, mat43, normalize,
                           zaxis)
from .types import NCYLPOLY, EpaScratch, GeomType, Model

# contact detection is not differentiated: skip the adjoint code (compile time, code size)
# and keep loops rolled: every wp.func is inlined, unrolling multiplies the GPU code
wp.set_module_options({"enable_backward": False, "max_unroll": 1})

FACE_TOL = 0.996    # mjFACE_TOL: cosine within which two face normals are aligned
EDGE_TOL = 0.0888   # mjEDGE_TOL: |cosine| below which an edge lies in a face

_CAPSULE = wp.constant(int(GeomType.CAPSULE))
_CYLINDER = wp.constant(int(GeomType.CYLINDER))
_BOX = wp.constant(int(GeomType.BOX))
_MESH = wp.constant(int(GeomType.MESH))


@wp.struct
class MeshTables:
  """The Model's mesh tables (types.Model, MuJoCo's names) for the convex narrowphase."""
  geom_dataid: wp.array(dtype=int)
  vertadr: wp.array(dtype=int)
  vertnum: wp.array(dtype=int)
  vert: wp.array(dtype=wp.vec3)
  graphadr: wp.array(dtype=int)
  graph: wp.array(dtype=int)
  extrema: wp.array(dtype=int)
  polyadr: wp.array(dtype=int)
  polyvertadr: wp.array(dtype=int)
  polyvertnum: wp.array(dtype=int)
  polyvert: wp.array(dtype=int)
  polynormal: wp.array(dtype=wp.vec3)
  polymapadr: wp.array(dtype=int)
  polymapnum: wp.array(dtype=int)
  polymap: wp.array(dtype=int)


def mesh_tables(m: Model) -> MeshTables:
  """MeshTables of a Model (a struct of its arrays, no copy)."""
  t = MeshTables()
  t.geom_dataid = m.geom_dataid
  t.vertadr = m.mesh_vertadr
  t.vertnum = m.mesh_vertnum
  t.vert = m.mesh_vert
  t.graphadr = m.mesh_graphadr
  t.graph = m.mesh_graph
  t.extrema = m.mesh_extrema
  t.polyadr = m.mesh_polyadr
  t.polyvertadr = m.mesh_polyvertadr
  t.polyvertnum = m.mesh_polyvertnum
  t.polyvert = m.mesh_polyvert
  t.polynormal = m.mesh_polynormal
  t.polymapadr = m.mesh_polymapadr
  t.polymapnum = m.mesh_polymapnum
  t.polymap = m.mesh_polymap
  return t


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
  # a mesh: its hull vertex ids on the feature (dim of them distinct) and its polygon table
  # offset; at a vertex (dim 1) the faces and edges are those of every hull polygon through
  # the vertex (nnormal = nedge = their count), read from the tables (_feature_normal, _feature_face, _feature_edge_end)
  mv: wp.vec3i
  polyadr: int


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
  unit, _len = normalize(dir)
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
      local, _n = normalize(wp.transpose(o.mat) @ dir)
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
          d, _n = normalize(edge_end[0] - f.edge_start)
          edge_dir[0] = d
          f.nedge = 1
    elif non == 3:  # vertex: its three edges
      f.edge_start = _box_vertex(o, sgn[0], sgn[1], sgn[2])
      for k in range(3):
        s1 = wp.vec3d(sgn[0], sgn[1], sgn[2])
        s1[k] = -s1[k]
        edge_end[k] = _box_vertex(o, s1[0], s1[1], s1[2])
        d, _n = normalize(edge_end[k] - f.edge_start)
        edge_dir[k] = d
      f.nedge = 3
  elif o.gtype == _CYLINDER:
    tol = wp.float64(1e-5) * wp.max(o.size[0], o.size[1])
    axis = zaxis(o.mat)
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
    axis = zaxis(o.mat)
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
  local, _n = normalize(wp.transpose(o.mat) @ dir)
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
def _simplex_dim(i0: int, i1: int, i2: int, vb: wp.vec3d, vc: wp.vec3d):
  """simplexDim: how many distinct support vertices (indices i0, i1, i2) span the EPA face,
  and the second vertex of an edge (i1, v1): vb's, or vc's where the first two coincide."""
  if i0 == i1:
    if i0 == i2:
      return 1, i1, vb
    return 2, i2, vc
  if i2 == i0 or i2 == i1:
    return 2, i1, vb
  return 3, i1, vb


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
  dim, i1, v1 = _simplex_dim(i0, i1, i2, vb, vc)
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
      normal[0] = zaxis(o.mat) * sc
      face[0] = i0
      f.nnormal = 1
    esgn = wp.float64(-1.0)
    if i0 == 1:
      esgn = wp.float64(1.0)
    edge_dir[0] = zaxis(o.mat) * esgn
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
      d, _n = normalize(edge_end[k] - v0)
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
      d, _n = normalize(v1 - v0)
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
def _mesh_point(o: ConvexObj, mt: MeshTables, v: int) -> wp.vec3d:
  """World position of mesh vertex v (index in the mesh)."""
  return o.mat @ wp.vec3d(mt.vert[o.vertadr + v]) + o.pos


@wp.func
def _mesh_vertex_id(o: ConvexObj, mt: MeshTables, p: wp.vec3d) -> int:
  """Index of the hull vertex whose support point is p (world).

  MuJoCo carries each support point's vertex index through GJK and EPA; here it is recovered
  from the point: p is the vertex pushed out by half the margin, so the vertex is the one at
  distance margin / 2 from p (the nearest, for hull vertices more than a margin apart). A
  descent over the hull graph finds it in a few steps; where it stops elsewhere (a vertex
  with no closer neighbour), every hull vertex is scanned."""
  q = wp.transpose(o.mat) @ (p - o.pos)
  r = wp.float64(0.5) * o.margin
  if o.graphadr < 0:
    best = wp.float64(1e300)
    ibest = int(0)
    for i in range(o.vertnum):
      dq = wp.vec3d(mt.vert[o.vertadr + i]) - q
      d2 = wp.dot(dq, dq)
      if d2 < best:
        best = d2
        ibest = i
    return ibest
  numvert, edgeadr, globalid, localid = hull_graph(o)
  # the descent starts at the hull vertex farthest along q's grid direction (extrema_seed): a
  # support point lies near its vertex's direction from the mesh origin, so few steps remain
  cur = int(0)
  qn = wp.length(q)
  if qn > MINVAL:
    cur = extrema_seed(o, q * (wp.float64(1.0) / qn))
  dq0 = wp.vec3d(mt.vert[o.vertadr + o.mesh_graph[globalid + cur]]) - q
  best = wp.dot(dq0, dq0)
  prev = int(-1)
  while cur != prev:
    prev = cur
    i = o.mesh_graph[edgeadr + prev]
    loc = o.mesh_graph[localid + i]
    while loc >= 0:
      dq = wp.vec3d(mt.vert[o.vertadr + o.mesh_graph[globalid + loc]]) - q
      d2 = wp.dot(dq, dq)
      if d2 < best:
        best = d2
        cur = loc
      i += 1
      loc = o.mesh_graph[localid + i]
  scale = wp.max(wp.dot(q, q), r * r)
  if wp.abs(wp.sqrt(best) - r) > wp.float64(1e-6) * wp.sqrt(scale) + wp.float64(1e-12):
    err = wp.float64(1e300)
    for k in range(numvert):
      dq = wp.vec3d(mt.vert[o.vertadr + o.mesh_graph[globalid + k]]) - q
      e = wp.abs(wp.length(dq) - r)
      if e < err:
        err = e
        cur = k
  return o.mesh_graph[globalid + cur]


@wp.func
def _common_polys(mt: MeshTables, adr1: int, n1: int, adr2: int, n2: int):
  """intersect: up to two polygon ids common to two polymap lists, in the first's order."""
  res = wp.vec2i(0)
  count = int(0)
  for i in range(n1):
    for j in range(n2):
      if count < 2 and mt.polymap[adr1 + i] == mt.polymap[adr2 + j]:
        res[count] = mt.polymap[adr1 + i]
        count += 1
  return count, res


@wp.func
def _mesh_feature(o: ConvexObj, mt: MeshTables, polyadr: int, va: wp.vec3d, vb: wp.vec3d,
                  vc: wp.vec3d) -> Feature:
  """meshNormals / meshEdgeNormals: faces and edges of a mesh's hull at the EPA face with
  support points va, vb, vc on it. Three distinct vertices: the polygon through all three
  (none when they share none); two: the edge between them and the (up to two) polygons
  through both; one: every polygon through the vertex and, for each, its edge to the
  polygon's previous vertex (read by _feature_normal, _feature_face, _feature_edge_end)."""
  f = Feature()
  f.polyadr = polyadr
  f.nnormal = 0
  f.nedge = 0
  i0 = _mesh_vertex_id(o, mt, va)
  i1 = _mesh_vertex_id(o, mt, vb)
  i2 = _mesh_vertex_id(o, mt, vc)
  v0 = va
  dim, i1, v1 = _simplex_dim(i0, i1, i2, vb, vc)
  f.dim = dim
  f.mv = wp.vec3i(i0, i1, i2)
  f.edge_start = v0
  a0 = mt.polymapadr[o.vertadr + i0]
  n0 = mt.polymapnum[o.vertadr + i0]
  normal = wp.mat33d()
  face = wp.vec3i(0)
  if dim == 1:
    f.nnormal = n0
    f.nedge = n0
    return f
  c, edgeset = _common_polys(mt, a0, n0, mt.polymapadr[o.vertadr + i1],
                             mt.polymapnum[o.vertadr + i1])
  if dim == 3:
    if c > 0:
      c3 = int(0)
      for i in range(c):
        for j in range(mt.polymapnum[o.vertadr + i2]):
          if c3 == 0 and edgeset[i] == mt.polymap[mt.polymapadr[o.vertadr + i2] + j]:
            face[0] = edgeset[i]
            c3 = 1
      f.nnormal = c3
  else:
    for i in range(c):
      face[i] = edgeset[i]
    f.nnormal = c
    d, _n = normalize(v1 - v0)
    edge_dir = wp.mat33d()
    edge_end = wp.mat33d()
    edge_dir[0] = d
    edge_end[0] = v1
    f.edge_dir = edge_dir
    f.edge_end = edge_end
    f.nedge = 1
  for i in range(f.nnormal):
    normal[i] = o.mat @ wp.vec3d(mt.polynormal[polyadr + face[i]])
  f.normal = normal
  f.face = face
  return f


@wp.func
def _feature_face(o: ConvexObj, mt: MeshTables, f: Feature, i: int) -> int:
  """Id (in the mesh) of the feature's i-th candidate face."""
  if o.gtype == _MESH and f.dim == 1:
    return mt.polymap[mt.polymapadr[o.vertadr + f.mv[0]] + i]
  return f.face[i]


@wp.func
def _feature_normal(o: ConvexObj, mt: MeshTables, f: Feature, i: int) -> wp.vec3d:
  """Outward unit normal of the feature's i-th candidate face."""
  if o.gtype == _MESH and f.dim == 1:
    return o.mat @ wp.vec3d(mt.polynormal[f.polyadr + _feature_face(o, mt, f, i)])
  return f.normal[i]


@wp.func
def _feature_edge_end(o: ConvexObj, mt: MeshTables, f: Feature, i: int) -> wp.vec3d:
  """Far end of the feature's i-th candidate edge (from f.edge_start)."""
  if o.gtype == _MESH and f.dim == 1:
    poly = f.polyadr + _feature_face(o, mt, f, i)
    adr = mt.polyvertadr[poly]
    nv = mt.polyvertnum[poly]
    end = f.edge_start
    found = bool(False)
    for j in range(nv):
      if not found and mt.polyvert[adr + j] == f.mv[0]:
        k = j - 1
        if j == 0:
          k = nv - 1
        end = _mesh_point(o, mt, mt.polyvert[adr + k])
        found = True
    return end
  return f.edge_end[i]


@wp.func
def _feature_edge_dir(o: ConvexObj, mt: MeshTables, f: Feature, i: int) -> wp.vec3d:
  """Unit direction of the feature's i-th candidate edge."""
  if o.gtype == _MESH and f.dim == 1:
    d, _n = normalize(_feature_edge_end(o, mt, f, i) - f.edge_start)
    return d
  return f.edge_dir[i]


@wp.func
def _face_polygon(o: ConvexObj, mt: MeshTables, polyadr: int, face: int,
                  buf: wp.array2d(dtype=wp.vec3d), sl: int) -> int:
  """Writes the vertices of a box face (boxFace's order), a cylinder cap (16-gon) or a mesh's
  hull polygon (meshFace: the polygon's vertices in reverse order) to buf[sl], moved out by
  half the margin as the support points are."""
  out = wp.float64(0.5) * o.margin
  if o.gtype == _MESH:
    poly = polyadr + face
    adr = mt.polyvertadr[poly]
    nv = mt.polyvertnum[poly]
    shift = o.mat @ wp.vec3d(mt.polynormal[poly]) * out
    for i in range(nv):
      buf[sl, i] = _mesh_point(o, mt, mt.polyvert[adr + nv - 1 - i]) + shift
    return nv
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
  npoly = nface2
  src = int(0)  # 0: polygon in ws.vert2, 1: in ws.vert
  for e in range(nface1):
    # the plane through the face's side e, normal to the face, pointing inwards
    a = face1[sl, e]
    pn, _len = normalize(wp.cross(face1[sl, (e + 1) % nface1] - a, n))
    pd = wp.dot(pn, a)
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
  # MuJoCo 4.0: the witness on the face is the clipped point projected onto the face's plane,
  # the other witness lies along dir from it, the depth is the projection's along dir
  cosine = -wp.dot(n, dir)
  for i in range(count):
    v = poly[sl, idx[i]]
    dist = wp.dot(v - f0, n)
    depth = dist * cosine
    dists[i] = margin + depth
    pos[i] = v - n * dist - dir * (wp.float64(0.5) * depth)
  mc.n = count
  mc.dist = dists
  mc.pos = pos
  mc.normal = -dir
  if flip:
    mc.normal = dir
  return mc


@wp.func
def multicontact(ws: EpaScratch, sl: int, o1: ConvexObj, o2: ConvexObj, st: CcdStatus,
                 margin: wp.float64, mt: MeshTables, g1: int, g2: int) -> MultiContact:
  """multicontact: contacts of aligned faces / an edge on a face; n = 0 when none are.
  st: the contact (witnesses x1, x2; st.face its EPA face in pool slot sl, -1 when the
  contact came from GJK alone, then st.s1 / st.s2 hold GJK's simplex); g1, g2: the geoms (a
  mesh's tables)."""
  mc = MultiContact()
  mc.n = 0
  x1 = st.x1
  x2 = st.x2
  dir = x2 - x1
  f1 = _feature(o1, x1, -dir)
  f2 = _feature(o2, x2, dir)
  pa1 = int(0)
  pa2 = int(0)
  if o1.gtype == _MESH:
    pa1 = mt.polyadr[mt.geom_dataid[g1]]
  if o2.gtype == _MESH:
    pa2 = mt.polyadr[mt.geom_dataid[g2]]
  if st.face >= 0:  # boxes, cylinders, meshes: the features of the EPA face's support vertices
    fv = ws.face_verts[sl, st.face]
    a1 = ws.vert1[sl, fv[0]]
    b1 = ws.vert1[sl, fv[1]]
    c1 = ws.vert1[sl, fv[2]]
    a2 = ws.vert2[sl, fv[0]]
    b2 = ws.vert2[sl, fv[1]]
    c2 = ws.vert2[sl, fv[2]]
    if o1.gtype == _BOX or o1.gtype == _CYLINDER:
      f1 = _vertex_feature(o1, a1, b1, c1, -dir)
    elif o1.gtype == _MESH:
      f1 = _mesh_feature(o1, mt, pa1, a1, b1, c1)
    if o2.gtype == _BOX or o2.gtype == _CYLINDER:
      f2 = _vertex_feature(o2, a2, b2, c2, dir)
    elif o2.gtype == _MESH:
      f2 = _mesh_feature(o2, mt, pa2, a2, b2, c2)
  elif o2.gtype == _MESH:  # GJK's simplex (a capsule's shallow contact)
    k1 = wp.min(1, st.nsimplex - 1)
    k2 = wp.min(2, st.nsimplex - 1)
    f2 = _mesh_feature(o2, mt, pa2, st.s2[0], st.s2[k1], st.s2[k2])
  # a face of geom 1 facing a face of geom 2: of the pairs within FACE_TOL, the most nearly
  # antiparallel (a vertex of a finely tessellated hull carries several faces within it)
  fi = int(-1)
  fj = int(-1)
  best = wp.float64(-FACE_TOL)
  for i in range(f1.nnormal):
    ni = _feature_normal(o1, mt, f1, i)
    for j in range(f2.nnormal):
      c = wp.dot(ni, _feature_normal(o2, mt, f2, j))
      if c < best:
        best = c
        fi = i
        fj = j
  if fi >= 0:
    nrm1 = _feature_normal(o1, mt, f1, fi)
    nrm2 = _feature_normal(o2, mt, f2, fj)
    n1 = _face_polygon(o1, mt, pa1, _feature_face(o1, mt, f1, fi), ws.vert1, sl)
    n2 = _face_polygon(o2, mt, pa2, _feature_face(o2, mt, f2, fj), ws.vert2, sl)
    return _clip(ws, sl, n1, n2, nrm1, nrm2, margin, False)
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
      eo = o2
      fo = o1
      side = dir * wp.float64(-1.0)
      if try1:
        ea = f1
        fb = f2
        eo = o1
        fo = o2
        side = dir
      for j in range(fb.nnormal):
        nj = _feature_normal(fo, mt, fb, j)
        if jf < 0 and wp.dot(nj, side) > MINVAL:
          for i in range(ea.nedge):
            if jf < 0 and wp.abs(wp.dot(_feature_edge_dir(eo, mt, ea, i), nj)) < EDGE_TOL:
              ie = i
              jf = j
              edge1 = try1
  if jf < 0:
    return mc
  eo = o2
  fo = o1
  paf = pa1
  if edge1:
    eo = o1
    fo = o2
    paf = pa2
  nrm = _feature_normal(fo, mt, fb, jf)
  start = ea.edge_start
  end = _feature_edge_end(eo, mt, ea, ie)
  if eo.gtype == _CAPSULE:
    # the segment moved by the radius along the contact normal's part normal to the axis
    axis = ea.edge_dir[0]
    toward, _len = normalize(x1 - x2)
    if not edge1:
      toward = -toward
    shift = (toward - axis * wp.dot(toward, axis)) * (eo.size[0] + wp.float64(0.5) * eo.margin)
    start = start + shift
    end = end + shift
  nf = _face_polygon(fo, mt, paf, _feature_face(fo, mt, fb, jf), ws.vert1, sl)
  ws.vert2[sl, 0] = start
  ws.vert2[sl, 1] = end
  # the edge is clipped as the polygon: its points are on geom 1 when edge1
  return _clip(ws, sl, nf, 2, nrm, -nrm, margin, edge1)
