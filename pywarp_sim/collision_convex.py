"""Convex narrowphase: MuJoCo's mjc_Convex (native ccd, MuJoCo 4) for the geom pairs that have
no analytic collider. Twin of kernels/collision_convex.h.

MuJoCo collides the geom pairs that have no analytic collider (anything with an ellipsoid
except planes, capsule-cylinder, cylinder-cylinder, cylinder-box) with its own GJK/EPA
(collision_gjk: one contact, its depth, normal and witness points). Cylinder-cylinder,
cylinder-box and capsule-cylinder pairs then take MuJoCo 4's single-shot multicontact
(collision_multicontact: up to four contacts of aligned features), unless multiCCD is
disabled; so do capsule, cylinder, box and mesh pairs with a mesh (the hull's polygons). With multiCCD disabled, and for ellipsoid and sphere pairs, one contact. No
supported pair uses 3.x's perturbation search any more. Every computation is in float64;
the contacts are written in the step's float32.
"""

import mujoco
import warp as wp

from . import collision_primitive as prim
from .collision_gjk import ConvexObj, mesh_support_vertex, penetration, take_slot
from .collision_multicontact import MeshTables, mesh_tables, multicontact
from .types import Data, EpaScratch, GeomType, Model

# contact detection is not differentiated: skip the adjoint code (compile time, code size)
# and keep loops rolled: every wp.func is inlined, unrolling multiplies the GPU code
wp.set_module_options({"enable_backward": False, "max_unroll": 1})

_PLANE = wp.constant(int(GeomType.PLANE))
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
           tol32: float, iterations: int, multiccd: int, mt: MeshTables, g1: int, g2: int) -> int:
  """mjc_Convex (native ccd, MuJoCo 4): one GJK/EPA contact, or the single-shot multicontact
  of aligned features for cylinder-cylinder, cylinder-box, capsule-cylinder and capsule /
  cylinder / box / mesh pairs with a mesh; a
  plane with a mesh: mjc_PlaneConvex (plane_mesh). Meshes collide through their convex hull."""
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

  ok, d, p, nrm, sl, st = penetration(ws, -1, worldid, o1, o2, margin, tol, iterations)
  if not ok:
    return 0
  if multiccd != 0 and _single_shot_pair(type1, type2):
    if sl < 0:  # a capsule's shallow contact took no EPA slot
      sl = take_slot(ws, worldid)
    if sl >= ws.vert.shape[0]:
      return 0
    mc = multicontact(ws, sl, o1, o2, st, margin, mt, g1, g2)
    if mc.n > 0:
      for k in range(mc.n):
        _write(out, worldid, slot + k, mc.dist[k], mc.pos[k], mc.normal)
      return mc.n
  _write(out, worldid, slot, d, p, nrm)
  return 1


@wp.kernel
def _convex_narrowphase(
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
  meshes: MeshTables,
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
  if near:
    ncon = convex(slots_out, scratch_out, worldid, pair_slot[pairid], margin, t1, pos1, mat1,
                  geom_size[g1], t2, pos2, mat2, geom_size[g2], ccd_tolerance, ccd_iterations,
                  multiccd, meshes, g1, g2)
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
    m.geom_type, m.geom_size, pairs.geom_rbound, pairs.convex_pairs, pairs.geom1, pairs.geom2,
    pairs.margin, pairs.gap, pairs.slot, float(opt.ccd_tolerance), int(opt.ccd_iterations),
    multiccd, mesh_tables(m), d.geom_xpos, d.geom_xmat,
  ], outputs=[c.slots, ws, c.pair_ncon], device=c.ncon.device)
