"""MuJoCo 4's single-shot multicontact for boxes, cylinders and capsules, in float64: from the
first GJK/EPA contact (collision_gjk), the contacts of aligned faces or of an edge lying on a
face. Used by collision_convex. Twin of kernels/collision_multicontact.h.

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
- Margins do not turn it off (3.x fell back to perturbation): faces, edges and capsule
  lines are those of the geoms inflated by half the margin (as the support points are), and
  each contact's dist is margin + its depth below the inflated face.
"""

import warp as wp

from .collision_gjk import MINVAL, ConvexObj, mat43, normalize, zaxis
from .types import NCYLPOLY, EpaScratch, GeomType

# contact detection is not differentiated: skip the adjoint code (compile time, code size)
# and keep loops rolled: every wp.func is inlined, unrolling multiplies the GPU code
wp.set_module_options({"enable_backward": False, "max_unroll": 1})

FACE_TOL = 0.996    # mjFACE_TOL: cosine within which two face normals are aligned
EDGE_TOL = 0.0888   # mjEDGE_TOL: |cosine| below which an edge lies in a face

_CAPSULE = wp.constant(int(GeomType.CAPSULE))
_CYLINDER = wp.constant(int(GeomType.CYLINDER))
_BOX = wp.constant(int(GeomType.BOX))


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
    pn, _len = normalize(wp.cross(v2 - v1, n))
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
def multicontact(ws: EpaScratch, sl: int, o1: ConvexObj, o2: ConvexObj, x1: wp.vec3d,
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
    toward, _len = normalize(x1 - x2)
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
