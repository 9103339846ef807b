"""Collision stage: narrowphase and per-world contact lists. Twin of kernels/collision_driver.h.

MuJoCo decides at every step which geom pairs to test (broadphase, `<pair>`
merging, filters) and calls one narrowphase function per pair. The decisions
that do not depend on the state are made once, at load time, by the compiler
(pairs.build_pairs, stored as m.collision): every pair MuJoCo's mj_collision could
ever pass to a narrowphase function, in MuJoCo's order, with its contact
parameters already mixed (mj_contactParam) and a fixed range of contact slots.
The state-dependent culling (bounding spheres, then for the pairs MuJoCo's
midphase reaches the geoms' oriented boxes, `obb_apart`) and the narrowphase run every
step (`collision`), over a (nworld, npair) grid: each pair writes into its own
slots (no atomics, deterministic), then one pass per world compacts the slots
into `d.contact`, preserving pair order.

Semantics are MuJoCo 4's: a pair is tested with threshold margin + gap, every
contact found (dist < margin + gap) is reported, `includemargin` is the margin,
and contacts in the gap (dist >= margin) are flagged `exclude` = 1 (MuJoCo's
mjContact.exclude): they produce no constraint rows.
"""

import warp as wp

from . import collision_primitive as prim
from .pairs import obb_apart, vec6
from .types import MINMU, Collider, Data, DisableBit, GeomType, Model

# contact detection is not differentiated: skip the adjoint code (compile time, code size)
wp.set_module_options({"enable_backward": False})

vec5 = wp.types.vector(length=5, dtype=wp.float32)

MINMU_F = wp.constant(MINMU)  # mjMINMU: smallest friction coefficient of a contact


# ---------------------------------------------------------------------------------------------
# kernels

_C = Collider


@wp.func
def _sphere_filter(type1: int, type2: int, pos1: wp.vec3, mat1: wp.mat33, rbound1: float,
                   pos2: wp.vec3, mat2: wp.mat33, rbound2: float, margin: float) -> bool:
  """mj_filterSphere: True when the bounding spheres (or plane half-space) rule out contact."""
  if rbound1 > 0.0 and rbound2 > 0.0:
    dif = pos1 - pos2
    bound = rbound1 + rbound2 + margin
    return wp.dot(dif, dif) > bound * bound
  if type1 == int(GeomType.PLANE) and rbound2 > 0.0:
    if wp.dot(pos2 - pos1, prim.zaxis(mat1)) > margin + rbound2:
      return True
  if type2 == int(GeomType.PLANE) and rbound1 > 0.0:
    if wp.dot(pos1 - pos2, prim.zaxis(mat2)) > margin + rbound1:
      return True
  return False


@wp.kernel
def _narrowphase_primitive(
  # Model:
  geom_type: wp.array(dtype=int),
  geom_size: wp.array(dtype=wp.vec3),
  geom_rbound: wp.array(dtype=float),
  geom_aabb: wp.array(dtype=vec6),
  primitive_pairs: wp.array(dtype=int),
  pair_obb: wp.array(dtype=int),
  pair_geom1: wp.array(dtype=int),
  pair_geom2: wp.array(dtype=int),
  pair_collider: wp.array(dtype=int),
  pair_margin: wp.array(dtype=float),
  pair_gap: wp.array(dtype=float),
  pair_slot: wp.array(dtype=int),
  # Data in:
  geom_xpos_in: wp.array2d(dtype=wp.vec3),
  geom_xmat_in: wp.array2d(dtype=wp.mat33),
  # Data out:
  slots_out: prim.SlotBuffer,
  pair_ncon_out: wp.array2d(dtype=int),
):
  worldid, k = wp.tid()
  pairid = primitive_pairs[k]
  g1, g2, margin, pos1, mat1, pos2, mat2 = prim.pair_poses(
    worldid, pairid, pair_geom1, pair_geom2, pair_margin, pair_gap, geom_xpos_in, geom_xmat_in)
  ncon = int(0)
  apart = _sphere_filter(geom_type[g1], geom_type[g2], pos1, mat1, geom_rbound[g1], pos2, mat2,
                         geom_rbound[g2], margin)
  if not apart and pair_obb[pairid] != 0:
    apart = obb_apart(geom_aabb[g1], pos1, mat1, geom_aabb[g2], pos2, mat2, margin)
  if not apart:
    size1 = geom_size[g1]
    size2 = geom_size[g2]
    slot = pair_slot[pairid]
    c = pair_collider[pairid]
    out = slots_out
    if c == int(_C.PLANE_SPHERE):
      ncon = prim.plane_sphere(out, worldid, slot, margin, pos1, mat1, pos2, size2)
    elif c == int(_C.PLANE_CAPSULE):
      ncon = prim.plane_capsule(out, worldid, slot, margin, pos1, mat1, pos2, mat2, size2)
    elif c == int(_C.PLANE_ELLIPSOID):
      ncon = prim.plane_ellipsoid(out, worldid, slot, margin, pos1, mat1, pos2, mat2, size2)
    elif c == int(_C.PLANE_CYLINDER):
      ncon = prim.plane_cylinder(out, worldid, slot, margin, pos1, mat1, pos2, mat2, size2)
    elif c == int(_C.PLANE_BOX):
      ncon = prim.plane_box(out, worldid, slot, margin, pos1, mat1, pos2, mat2, size2)
    elif c == int(_C.SPHERE_SPHERE):
      ncon = prim.sphere_sphere(out, worldid, slot, margin, pos1, mat1, size1, pos2, mat2, size2)
    elif c == int(_C.SPHERE_CAPSULE):
      ncon = prim.sphere_capsule(out, worldid, slot, margin, pos1, mat1, size1, pos2, mat2, size2)
    elif c == int(_C.SPHERE_CYLINDER):
      ncon = prim.sphere_cylinder(out, worldid, slot, margin, pos1, mat1, size1, pos2, mat2, size2)
    elif c == int(_C.SPHERE_BOX):
      ncon = prim.sphere_box(out, worldid, slot, margin, pos1, size1, pos2, mat2, size2)
    elif c == int(_C.CAPSULE_CAPSULE):
      ncon = prim.capsule_capsule(out, worldid, slot, margin, pos1, mat1, size1, pos2, mat2, size2)
    elif c == int(_C.CAPSULE_BOX):
      ncon = prim.capsule_box(out, worldid, slot, margin, pos1, mat1, size1, pos2, mat2, size2)
    elif c == int(_C.BOX_BOX):
      ncon = prim.box_box(out, worldid, slot, margin, pos1, mat1, size1, pos2, mat2, size2)
  pair_ncon_out[worldid, pairid] = ncon


@wp.kernel
def _compact(
  # Model:
  npair: int,
  nconmax: int,
  pair_geom1: wp.array(dtype=int),
  pair_geom2: wp.array(dtype=int),
  pair_condim: wp.array(dtype=int),
  pair_friction: wp.array(dtype=vec5),
  pair_solref: wp.array(dtype=wp.vec2),
  pair_solreffriction: wp.array(dtype=wp.vec2),
  pair_solimp: wp.array(dtype=vec5),
  pair_margin: wp.array(dtype=float),
  pair_slot: wp.array(dtype=int),
  pair_friction_geom: wp.array(dtype=wp.vec2i),
  geom_friction: wp.array2d(dtype=wp.vec3),
  # Data in:
  pair_ncon_in: wp.array2d(dtype=int),
  slots_in: prim.SlotBuffer,
  epa_overflow_in: wp.array(dtype=int),
  # Data out:
  ncon_out: wp.array(dtype=int),
  dist_out: wp.array2d(dtype=float),
  pos_out: wp.array2d(dtype=wp.vec3),
  frame_out: wp.array2d(dtype=wp.mat33),
  includemargin_out: wp.array2d(dtype=float),
  friction_out: wp.array2d(dtype=vec5),
  solref_out: wp.array2d(dtype=wp.vec2),
  solreffriction_out: wp.array2d(dtype=wp.vec2),
  solimp_out: wp.array2d(dtype=vec5),
  dim_out: wp.array2d(dtype=int),
  geom_out: wp.array2d(dtype=wp.vec2i),
  exclude_out: wp.array2d(dtype=int),
  pair_out: wp.array2d(dtype=int),
  overflow_out: wp.array(dtype=int),
  overflow_count_out: wp.array(dtype=int),
):
  worldid = wp.tid()
  fbank = worldid % geom_friction.shape[0]
  n = int(0)
  total = int(0)
  for pairid in range(npair):
    npc = pair_ncon_in[worldid, pairid]
    total += npc
    if npc > 0:
      slot = pair_slot[pairid]
      margin = pair_margin[pairid]
      # dynamic pairs mix the (per-world) geom frictions as mj_contactParam: max, or the
      # higher-priority geom's; explicit <pair>s keep their own
      friction = pair_friction[pairid]
      fg = pair_friction_geom[pairid]
      if fg[0] >= 0:
        f = wp.max(geom_friction[fbank, fg[0]], geom_friction[fbank, fg[1]])
        friction = vec5(wp.max(MINMU_F, f[0]), wp.max(MINMU_F, f[0]), wp.max(MINMU_F, f[1]),
                        wp.max(MINMU_F, f[2]), wp.max(MINMU_F, f[2]))
      for k in range(npc):
        if n < nconmax:
          dist = slots_in.dist[worldid, slot + k]
          dist_out[worldid, n] = dist
          pos_out[worldid, n] = slots_in.pos[worldid, slot + k]
          frame_out[worldid, n] = prim.make_frame(slots_in.normal[worldid, slot + k],
                                             slots_in.tangent[worldid, slot + k])
          includemargin_out[worldid, n] = margin
          friction_out[worldid, n] = friction
          solref_out[worldid, n] = pair_solref[pairid]
          solreffriction_out[worldid, n] = pair_solreffriction[pairid]
          solimp_out[worldid, n] = pair_solimp[pairid]
          dim_out[worldid, n] = pair_condim[pairid]
          geom_out[worldid, n] = wp.vec2i(pair_geom1[pairid], pair_geom2[pairid])
          ex = int(0)
          if dist >= margin:
            ex = 1
          exclude_out[worldid, n] = ex
          pair_out[worldid, n] = pairid
          n += 1
  ncon_out[worldid] = n
  # overflow covers every collision pass of a step (RK4 runs four): set here, cleared at the
  # start of forward.step / forward.forward; one count per (world, step) event
  if (total > nconmax or epa_overflow_in[worldid] != 0) and overflow_out[worldid] == 0:
    overflow_out[worldid] = 1
    wp.atomic_add(overflow_count_out, 0, 1)


def collision(m: Model, d: Data):
  """mj_collision for every world: fills d.contact from d.geom_xpos / d.geom_xmat.

  Needs smooth.kinematics first. Writes d.contact.ncon (nworld,), the first ncon[w]
  contacts of each world, and sets the overflow flags (cleared by the caller at the start of
  a step: forward.step / forward.forward) / counter when a world finds more than
  nconmax contacts (the first nconmax, in pair order, are kept) or, for convex pairs, when
  the EPA scratch pool ran out (types.EPA_SLOTS_PER_WORLD).
  """
  pairs = m.collision
  c = d.contact
  dis = m.opt.disableflags
  if pairs.disabled or dis & (int(DisableBit.CONTACT) | int(DisableBit.CONSTRAINT)) or not pairs.npair:
    c.ncon.zero_()
    c.overflow.zero_()
    return
  nworld = d.nworld
  c.epa_overflow.zero_()
  if pairs.nprimitive:
    wp.launch(_narrowphase_primitive, dim=(nworld, pairs.nprimitive), inputs=[
      m.geom_type, m.geom_size, pairs.geom_rbound, pairs.geom_aabb, pairs.primitive_pairs, pairs.obb,
      pairs.geom1,
      pairs.geom2, pairs.collider, pairs.margin, pairs.gap, pairs.slot, d.geom_xpos, d.geom_xmat,
    ], outputs=[c.slots, c.pair_ncon], device=c.ncon.device)
  if pairs.nconvex:
    from . import collision_convex
    collision_convex.narrowphase(m, d)
  wp.launch(_compact, dim=nworld, inputs=[
    pairs.npair, pairs.nconmax, pairs.geom1, pairs.geom2, pairs.condim, pairs.friction,
    pairs.solref, pairs.solreffriction, pairs.solimp, pairs.margin, pairs.slot,
    pairs.friction_geom, m.geom_friction, c.pair_ncon, c.slots, c.epa_overflow,
  ], outputs=[
    c.ncon, c.dist, c.pos, c.frame, c.includemargin, c.friction, c.solref, c.solreffriction,
    c.solimp, c.dim, c.geom, c.exclude, c.pair, c.overflow, c.overflow_count,
  ], device=c.ncon.device)
