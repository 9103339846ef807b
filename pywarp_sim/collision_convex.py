"""Convex narrowphase: MuJoCo's mjc_Convex (native ccd, MuJoCo 4) for the geom pairs that have
no analytic collider. Twin of kernels/collision_convex.h.

MuJoCo collides the geom pairs that have no analytic collider (anything with an ellipsoid
except planes, capsule-cylinder, cylinder-cylinder, cylinder-box) with its own GJK/EPA
(collision_gjk: one contact, its depth, normal and witness points). Cylinder-cylinder,
cylinder-box and capsule-cylinder pairs then take MuJoCo 4's single-shot multicontact
(collision_multicontact: up to four contacts of aligned features), unless multiCCD is
disabled. With multiCCD disabled, and for ellipsoid and sphere pairs, one contact. No
supported pair uses 3.x's perturbation search any more. Every computation is in float64;
the contacts are written in the step's float32.
"""

import mujoco
import warp as wp

from . import collision_primitive as prim
from .collision_gjk import ConvexObj, penetration, take_slot
from .collision_multicontact import multicontact
from .types import Data, EpaScratch, GeomType, Model

# contact detection is not differentiated: skip the adjoint code (compile time, code size)
# and keep loops rolled: every wp.func is inlined, unrolling multiplies the GPU code
wp.set_module_options({"enable_backward": False, "max_unroll": 1})

_CAPSULE = wp.constant(int(GeomType.CAPSULE))
_CYLINDER = wp.constant(int(GeomType.CYLINDER))
_BOX = wp.constant(int(GeomType.BOX))


@wp.func
def _write(out: prim.SlotBuffer, worldid: int, slot: int, dist: wp.float64, pos: wp.vec3d,
           normal: wp.vec3d):
  prim.write_contact(out, worldid, slot, wp.float32(dist), wp.vec3(pos), wp.vec3(normal),
                     wp.vec3(0.0))


@wp.func
def _single_shot_pair(type1: int, type2: int) -> bool:
  """Pairs MuJoCo 4 collides with single-shot multicontact (type1 <= type2)."""
  if type1 == _CAPSULE:
    return type2 == _CYLINDER
  return (type1 == _CYLINDER or type1 == _BOX) and (type2 == _CYLINDER or type2 == _BOX)


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

  ok, d, p, nrm, sl, st = penetration(ws, -1, worldid, o1, o2, margin, tol, iterations)
  if not ok:
    return 0
  if multiccd != 0 and _single_shot_pair(type1, type2):
    if sl < 0:  # a capsule's shallow contact took no EPA slot
      sl = take_slot(ws, worldid)
    if sl >= ws.vert.shape[0]:
      return 0
    mc = multicontact(ws, sl, o1, o2, st.x1, st.x2, st.face, margin)
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
  wp.launch(_convex_narrowphase, dim=(d.nworld, pairs.nconvex), inputs=[
    m.geom_type, m.geom_size, pairs.geom_rbound, pairs.convex_pairs, pairs.geom1, pairs.geom2,
    pairs.margin, pairs.gap, pairs.slot, float(opt.ccd_tolerance), int(opt.ccd_iterations),
    multiccd, d.geom_xpos, d.geom_xmat,
  ], outputs=[c.slots, ws, c.pair_ncon], device=c.ncon.device)
