"""Convex narrowphase: MuJoCo's mjc_Convex (native ccd, MuJoCo 4) for the geom pairs that have
no analytic collider. Twin of kernels/collision_convex.h.

MuJoCo collides the geom pairs that have no analytic collider (anything with an ellipsoid
except planes, capsule-cylinder, cylinder-cylinder, cylinder-box) with its own GJK/EPA
(collision_gjk: one contact, its depth, normal and witness points). Cylinder-cylinder,
cylinder-box and capsule-cylinder pairs then take MuJoCo 4's single-shot multicontact
(collision_multicontact: up to four contacts of aligned features), unless multiCCD is
disabled; so do capsule, cylinder, box and mesh pairs with a mesh (the hull's polygons). With multiCCD disabled, and for ellipsoid and sphere pairs, one contact. No
supported pair uses 3.x's perturbation search any more. A height field with a convex geom
(mjc_ConvexHField, see `convex`) collides the geom with the triangular prisms of the grid
cells under it, one GJK/EPA contact per prism, up to MAXCONPAIR; its tables are the Model's
(HFieldTables), shared by all worlds. Every computation is in float64; the contacts are
written in the step's float32.
"""

import mujoco
import warp as wp

from . import collision_primitive as prim
from .collision_gjk import ConvexObj, mesh_support_vertex, penetration, support_point, take_slot
from .collision_multicontact import MeshTables, mesh_tables, multicontact
from .pairs import obb_apart, vec6
from .types import Data, EpaScratch, GeomType, Model

MAXCONPAIR = mujoco.mjMAXCONPAIR  # mjMAXCONPAIR: most contacts of a height-field pair (50)

# contact detection is not differentiated: skip the adjoint code (compile time, code size)
# and keep loops rolled: every wp.func is inlined, unrolling multiplies the GPU code
wp.set_module_options({"enable_backward": False, "max_unroll": 1})

_PLANE = wp.constant(int(GeomType.PLANE))
_HFIELD = wp.constant(int(GeomType.HFIELD))
_MAXCONPAIR = wp.constant(MAXCONPAIR)
_MESH = wp.constant(int(GeomType.MESH))
_CAPSULE = wp.constant(int(GeomType.CAPSULE))
_CYLINDER = wp.constant(int(GeomType.CYLINDER))
_BOX = wp.constant(int(GeomType.BOX))


@wp.func
def _write(out: prim.SlotBuffer, worldid: int, slot: int, dist: wp.float64, pos: wp.vec3d,
           normal: wp.vec3d):
  prim.write_contact(out, worldid, slot, wp.float32(dist), wp.vec3(pos), wp.vec3(normal),
                     wp.vec3(0.0))


@wp.func
def _mesh_obj(o: ConvexObj, mt: MeshTables, g: int) -> ConvexObj:
  res = o
  if o.gtype == _MESH:
    mid = mt.geom_dataid[g]
    res.vertadr = mt.vertadr[mid]
    res.vertnum = mt.vertnum[mid]
    res.graphadr = mt.graphadr[mid]
    res.mesh_vert = mt.vert
    res.mesh_graph = mt.graph
    res.extremaadr = 27 * mid
    res.mesh_extrema = mt.extrema
  return res


@wp.func
def _poly_point(o: ConvexObj, mt: MeshTables, adr: int, nv: int, start: int, k: int) -> wp.vec3d:
  """World position of the k-th vertex of a hull polygon, counted from vertex `start`."""
  return o.mat @ wp.vec3d(mt.vert[o.vertadr + mt.polyvert[adr + (start + k) % nv]]) + o.pos


@wp.func
def _poly_quad_area(o: ConvexObj, mt: MeshTables, adr: int, nv: int, start: int, a: int, b: int,
                    c: int, d: int) -> wp.float64:
  return wp.float64(0.5) * wp.length(wp.cross(
    _poly_point(o, mt, adr, nv, start, a % nv) - _poly_point(o, mt, adr, nv, start, c % nv),
    _poly_point(o, mt, adr, nv, start, b % nv) - _poly_point(o, mt, adr, nv, start, d % nv)))


@wp.func
def _poly_quad(o: ConvexObj, mt: MeshTables, adr: int, nv: int, start: int) -> wp.vec4i:
  """polygonQuad (collision_multicontact) over a hull polygon's vertices in the polygon's
  order from vertex `start`: the four spanning the largest area, as positions in that order."""
  a = int(0)
  b = int(1)
  c = int(2)
  d = int(3)
  res = wp.vec4i(0, 1, 2, 3)
  m = _poly_quad_area(o, mt, adr, nv, start, a, b, c, d)
  while a < nv:
    grow = bool(True)
    while grow:
      m_next = _poly_quad_area(o, mt, adr, nv, start, a, b, c, d + 1)
      if m_next <= m:
        grow = False
      else:
        m = m_next
        d = (d + 1) % nv
        res = wp.vec4i(a, b % nv, c % nv, d)
        growc = bool(True)
        while growc:
          m_next = _poly_quad_area(o, mt, adr, nv, start, a, b, c + 1, d)
          if m_next <= m:
            growc = False
          else:
            m = m_next
            c = (c + 1) % nv
            res = wp.vec4i(a, b % nv, c, d)
        growb = bool(True)
        while growb:
          m_next = _poly_quad_area(o, mt, adr, nv, start, a, b + 1, c, d)
          if m_next <= m:
            growb = False
          else:
            m = m_next
            b = (b + 1) % nv
            res = wp.vec4i(a, b, c % nv, d)
    if b == a:
      b = (b + 1) % nv
      if c == b:
        c = (c + 1) % nv
        if d == c:
          d = (d + 1) % nv
    a += 1
  return res


@wp.func
def plane_mesh(out: prim.SlotBuffer, worldid: int, slot: int, margin32: float, pos1: wp.vec3,
               mat1: wp.mat33, o: ConvexObj, mt: MeshTables, g2: int) -> int:
  """mjc_PlaneConvex for a mesh (MuJoCo 4): the hull's support vertex towards the plane, and
  the vertices within margin of the hull polygon through it that faces the plane most.

  MuJoCo 4.0 (the oracle) differs from the published source (3.x: the support vertex and up
  to two graph neighbours); found by probing it: the polygon is the one meeting at the
  support vertex whose normal is closest to the plane's inward normal; its vertices are taken
  in the polygon's order starting at the support vertex; a polygon of more than four vertices
  (coplanar faces merged by MuJoCo's compiler, a flat foot sole) is first reduced to the four
  that polygonQuad picks (the largest quadrilateral, its greedy search from the support
  vertex), whether or not they are within margin; the contacts are those of the (at most
  four) vertices within margin, each with its own depth. Matched on 2,400 tilted prisms of
  5- to 20-gon caps and Fourier N1's 38-vertex foot soles (vertices and order).
  """
  normal = wp.vec3d(wp.float64(mat1[0, 2]), wp.float64(mat1[1, 2]), wp.float64(mat1[2, 2]))
  p1 = wp.vec3d(pos1)
  margin = wp.float64(margin32)
  local = wp.transpose(o.mat) @ (-normal)
  ia = mesh_support_vertex(o, local, True)
  va = o.vertadr
  dist_a = wp.dot(normal, o.mat @ wp.vec3d(mt.vert[va + ia]) + o.pos - p1)
  if dist_a > margin:
    return 0
  mid = mt.geom_dataid[g2]
  padr = mt.polyadr[mid]
  best = wp.float64(-2.0)
  poly = int(-1)
  for k in range(mt.polymapnum[va + ia]):
    p = padr + mt.polymap[mt.polymapadr[va + ia] + k]
    c = wp.dot(wp.vec3d(mt.polynormal[p]), local)
    if c > best:
      best = c
      poly = p
  if poly < 0:  # a vertex on no polygon: the support vertex alone
    pnt = o.mat @ wp.vec3d(mt.vert[va + ia]) + o.pos
    _write(out, worldid, slot, dist_a, pnt - normal * (wp.float64(0.5) * dist_a), normal)
    return 1
  adr = mt.polyvertadr[poly]
  nv = mt.polyvertnum[poly]
  start = int(0)
  for k in range(nv):
    if mt.polyvert[adr + k] == ia:
      start = k
  keep = wp.vec4i(0, 1, 2, 3)
  if nv > 4:
    keep = _poly_quad(o, mt, adr, nv, start)
  n = int(0)
  for j in range(nv):
    if nv <= 4 or j == keep[0] or j == keep[1] or j == keep[2] or j == keep[3]:
      pnt = _poly_point(o, mt, adr, nv, start, j)
      dist = wp.dot(normal, pnt - p1)
      if dist <= margin and n < 4:
        _write(out, worldid, slot + n, dist, pnt - normal * (wp.float64(0.5) * dist), normal)
        n += 1
  return n


@wp.struct
class HFieldTables:
  """The Model's height-field tables (types.Model, MuJoCo's names) for the convex narrowphase."""
  geom_dataid: wp.array(dtype=int)
  size: wp.array(dtype=wp.vec4)
  nrow: wp.array(dtype=int)
  ncol: wp.array(dtype=int)
  adr: wp.array(dtype=int)
  data: wp.array(dtype=float)


def hfield_tables(m: Model) -> HFieldTables:
  """HFieldTables of a Model (a struct of its arrays, no copy)."""
  t = HFieldTables()
  t.geom_dataid = m.geom_dataid
  t.size = m.hfield_size
  t.nrow = m.hfield_nrow
  t.ncol = m.hfield_ncol
  t.adr = m.hfield_adr
  t.data = m.hfield_data
  return t


@wp.func
def _hfield_vertex(ht: HFieldTables, hid: int, size: wp.vec4d, row: int, col: int, dx: wp.float64,
                   dy: wp.float64) -> wp.vec3d:
  """Grid point (row, col) of a height field's top surface (addPrismVert)."""
  z = wp.float64(ht.data[ht.adr[hid] + row * ht.ncol[hid] + col]) * size[2]
  return wp.vec3d(dx * wp.float64(col) - size[0], dy * wp.float64(row) - size[1], z)


@wp.func
def hfield_prism(ht: HFieldTables, hid: int, size: wp.vec4d, r: int, c: int, i: int,
                 dx: wp.float64, dy: wp.float64, margin: wp.float64) -> ConvexObj:
  """Triangular prism i (0, 1) of grid cell (r, c - 1)..(r + 1, c): the prism MuJoCo's
  mjc_ConvexHField builds by sliding addPrismVert along row r, with its vertices in that
  order (the support function keeps the first of equals), its bottom at -size[3], inflated
  by margin / 2 like any convex geom. A ConvexObj of gtype HFIELD (collision_gjk) in the
  field's frame."""
  a = _hfield_vertex(ht, hid, size, r, c - 1, dx, dy)
  b = _hfield_vertex(ht, hid, size, r + 1, c, dx, dy)
  v0 = a
  v1 = b
  v2 = _hfield_vertex(ht, hid, size, r, c, dx, dy)
  if i == 0:
    v0 = _hfield_vertex(ht, hid, size, r + 1, c - 1, dx, dy)
    v1 = a
    v2 = b
  o = ConvexObj()
  o.gtype = _HFIELD
  o.mat = wp.mat33d(v0[0], v0[1], v0[2], v1[0], v1[1], v1[2], v2[0], v2[1], v2[2])
  o.size = wp.vec3d(-size[3], wp.float64(0.0), wp.float64(0.0))
  o.margin = margin
  # mjc_center: the mean of the six vertices, summed bottom face first
  bottom = wp.vec3d(v0[0], v0[1], -size[3])
  ctr = wp.vec3d(0.0) + bottom
  bottom = wp.vec3d(v1[0], v1[1], -size[3])
  ctr = ctr + bottom
  bottom = wp.vec3d(v2[0], v2[1], -size[3])
  ctr = ctr + bottom
  ctr = ctr + v0
  ctr = ctr + v1
  ctr = ctr + v2
  o.pos = ctr * (wp.float64(1.0) / wp.float64(6.0))
  o.vertadr = 0
  o.vertnum = 0
  o.graphadr = -1
  return o


@wp.func
def _single_shot_pair(type1: int, type2: int) -> bool:
  """Pairs MuJoCo 4 collides with single-shot multicontact (type1 <= type2)."""
  if type2 == _MESH:
    return type1 == _CAPSULE or type1 == _CYLINDER or type1 == _BOX or type1 == _MESH
  if type1 == _CAPSULE:
    return type2 == _CYLINDER
  return (type1 == _CYLINDER or type1 == _BOX) and (type2 == _CYLINDER or type2 == _BOX)


@wp.func
def convex(out: prim.SlotBuffer, ws: EpaScratch, worldid: int, slot: int, margin32: float,
           type1: int, pos1: wp.vec3, mat1: wp.mat33, size1: wp.vec3,
           type2: int, pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3,
           tol32: float, iterations: int, multiccd: int, mt: MeshTables, ht: HFieldTables,
           g1: int, g2: int) -> int:
  """mjc_Convex (native ccd, MuJoCo 4): one GJK/EPA contact, or the single-shot multicontact
  of aligned features for cylinder-cylinder, cylinder-box, capsule-cylinder and capsule /
  cylinder / box / mesh pairs with a mesh; a
  plane with a mesh: mjc_PlaneConvex (plane_mesh); a height field with a convex geom:
  mjc_ConvexHField (up to MAXCONPAIR contacts, one per prism). Meshes collide through their
  convex hull.

  mjc_ConvexHField works in the height field's frame: the other geom's bounding box there
  (its support points along the axes) grown by margin selects the grid cells; each cell is
  two triangular prisms from the field's base (-size[3]) to its surface; prisms whose top is
  more than margin below the geom's lowest point are skipped, the others are collided with
  the geom by GJK/EPA as any convex pair (both inflated by margin / 2, dist = margin + the
  inflated shapes' signed distance), one contact each, in the order rows, columns, prisms,
  the first MAXCONPAIR kept. MuJoCo's bounding-sphere early-out (the geom's rbound against
  the field's box) is implied by the box test. All prisms share one EPA slot.

  MuJoCo 4.0 (the oracle) differs here from the published source (3.x raises the prisms' top
  by margin, inflates only the geom, reports the inflated shapes' distance and selects cells
  and prisms without margin); found by probing it: with a margin, 3.x's rules give other
  depths (by about the margin) and other counts, 4.0's as above match it.
  """
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
  o1 = _mesh_obj(o1, mt, g1)
  o2 = _mesh_obj(o2, mt, g2)
  if type1 == _PLANE:
    return plane_mesh(out, worldid, slot, margin32, pos1, mat1, o2, mt, g2)

  # one GJK/EPA call site for every pair (each inlined call site costs GPU code size): a
  # height field loops it over its prisms, any other pair runs it once
  hfield = type1 == _HFIELD
  ncell = int(1)
  hid = int(0)
  hsize = wp.vec4d(0.0)
  dx = wp.float64(0.0)
  dy = wp.float64(0.0)
  zmin = wp.float64(0.0)
  rmin = int(0)
  cmin = int(0)
  ncc = int(0)
  if hfield:
    hid = ht.geom_dataid[g1]
    hsize = wp.vec4d(ht.size[hid])
    nrow = ht.nrow[hid]
    ncol = ht.ncol[hid]
    # the geom in the field's frame, its bounding box from support points without margin
    o2.pos = wp.transpose(o1.mat) @ (o2.pos - o1.pos)
    o2.mat = wp.transpose(o1.mat) @ o2.mat
    o2.margin = wp.float64(0.0)
    xmax = support_point(o2, wp.vec3d(1.0, 0.0, 0.0))[0]
    xmin = support_point(o2, wp.vec3d(-1.0, 0.0, 0.0))[0]
    ymax = support_point(o2, wp.vec3d(0.0, 1.0, 0.0))[1]
    ymin = support_point(o2, wp.vec3d(0.0, -1.0, 0.0))[1]
    zmax = support_point(o2, wp.vec3d(0.0, 0.0, 1.0))[2]
    zmin = support_point(o2, wp.vec3d(0.0, 0.0, -1.0))[2]
    o2.margin = margin
    ncell = 0
    if not (xmin - margin > hsize[0] or xmax + margin < -hsize[0] or ymin - margin > hsize[1]
            or ymax + margin < -hsize[1] or zmin - margin > hsize[2] or zmax + margin < -hsize[3]):
      cmin = wp.max(0, int(wp.floor((xmin - margin + hsize[0]) / (wp.float64(2.0) * hsize[0]) * wp.float64(ncol - 1))))
      cmax = wp.min(ncol - 1, int(wp.ceil((xmax + margin + hsize[0]) / (wp.float64(2.0) * hsize[0]) * wp.float64(ncol - 1))))
      rmin = wp.max(0, int(wp.floor((ymin - margin + hsize[1]) / (wp.float64(2.0) * hsize[1]) * wp.float64(nrow - 1))))
      rmax = wp.min(nrow - 1, int(wp.ceil((ymax + margin + hsize[1]) / (wp.float64(2.0) * hsize[1]) * wp.float64(nrow - 1))))
      dx = (wp.float64(2.0) * hsize[0]) / wp.float64(ncol - 1)
      dy = (wp.float64(2.0) * hsize[1]) / wp.float64(nrow - 1)
      ncc = cmax - cmin
      if ncc > 0 and rmax > rmin:
        ncell = (rmax - rmin) * ncc * 2

  n = int(0)
  sl = int(-1)
  for cell in range(ncell):
    a = o1
    if hfield:
      r = rmin + cell // (2 * ncc)
      c = cmin + 1 + (cell % (2 * ncc)) // 2
      a = hfield_prism(ht, hid, hsize, r, c, cell % 2, dx, dy, margin)
    # prism height test: a prism whose top is more than margin below the geom is skipped
    if hfield and a.mat[0, 2] + margin < zmin and a.mat[1, 2] + margin < zmin and a.mat[2, 2] + margin < zmin:
      continue
    if sl >= ws.vert.shape[0]:  # the EPA pool ran out (the world's overflow flag is set)
      break
    ok, d, p, nrm, sl, st = penetration(ws, sl, worldid, a, o2, margin, tol, iterations)
    if ok:
      if hfield:
        _write(out, worldid, slot + n, d, o1.mat @ p + o1.pos, o1.mat @ nrm)
        n += 1
        if n >= _MAXCONPAIR:
          break
      else:
        n = 1
        mc_n = int(0)
        if multiccd != 0 and _single_shot_pair(type1, type2):
          if sl < 0:  # a capsule's shallow contact took no EPA slot
            sl = take_slot(ws, worldid)
          if sl >= ws.vert.shape[0]:
            n = 0
          else:
            mc = multicontact(ws, sl, o1, o2, st, margin, mt, g1, g2)
            mc_n = mc.n
            for k in range(mc.n):
              _write(out, worldid, slot + k, mc.dist[k], mc.pos[k], mc.normal)
        if mc_n > 0:
          n = mc_n
        elif n == 1:
          _write(out, worldid, slot, d, p, nrm)
  return n


@wp.kernel
def _convex_narrowphase(
  # Model:
  geom_type: wp.array(dtype=int),
  geom_size: wp.array(dtype=wp.vec3),
  geom_rbound: wp.array(dtype=float),
  geom_aabb: wp.array(dtype=vec6),
  convex_pairs: wp.array(dtype=int),
  pair_obb: wp.array(dtype=int),
  pair_geom1: wp.array(dtype=int),
  pair_geom2: wp.array(dtype=int),
  pair_margin: wp.array(dtype=float),
  pair_gap: wp.array(dtype=float),
  pair_slot: wp.array(dtype=int),
  ccd_tolerance: float,
  ccd_iterations: int,
  multiccd: int,
  meshes: MeshTables,
  hfields: HFieldTables,
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
  g1, g2, margin, pos1, mat1, pos2, mat2 = prim.pair_poses(
    worldid, pairid, pair_geom1, pair_geom2, pair_margin, pair_gap, geom_xpos_in, geom_xmat_in)
  t1 = geom_type[g1]
  t2 = geom_type[g2]
  rb1 = geom_rbound[g1]
  rb2 = geom_rbound[g2]
  ncon = int(0)
  dif = pos1 - pos2
  bound = rb1 + rb2 + margin
  near = wp.dot(dif, dif) <= bound * bound
  if t1 == _PLANE:  # a plane has no bounding sphere: the half-space test (mj_filterSphere)
    near = wp.dot(pos2 - pos1, wp.vec3(mat1[0, 2], mat1[1, 2], mat1[2, 2])) <= margin + rb2
  if near and pair_obb[pairid] != 0:  # the midphase's box test (pairs.obb_apart)
    near = not obb_apart(geom_aabb[g1], pos1, mat1, geom_aabb[g2], pos2, mat2, margin)
  if near:
    ncon = convex(slots_out, scratch_out, worldid, pair_slot[pairid], margin, t1, pos1, mat1,
                  geom_size[g1], t2, pos2, mat2, geom_size[g2], ccd_tolerance, ccd_iterations,
                  multiccd, meshes, hfields, g1, g2)
  pair_ncon_out[worldid, pairid] = ncon


def narrowphase(m: Model, d: Data):
  """Convex pairs of m.collision for every world; writes d.contact slots and pair counts."""
  pairs = m.collision
  c = d.contact
  ws = c.convex_scratch
  ws.counter.zero_()
  opt = m.mj_model.opt
  multiccd = 0 if int(opt.disableflags) & int(mujoco.mjtDisableBit.mjDSBL_MULTICCD) else 1
  wp.launch(_convex_narrowphase, dim=(d.nworld, pairs.nconvex), inputs=[
    m.geom_type, m.geom_size, pairs.geom_rbound, pairs.geom_aabb, pairs.convex_pairs, pairs.obb,
    pairs.geom1, pairs.geom2,
    pairs.margin, pairs.gap, pairs.slot, float(opt.ccd_tolerance), int(opt.ccd_iterations),
    multiccd, mesh_tables(m), hfield_tables(m), d.geom_xpos, d.geom_xmat,
  ], outputs=[c.slots, ws, c.pair_ncon], device=c.ncon.device)
