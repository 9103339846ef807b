"""Static candidate geom pairs: the collision stage's load-time half, run by the compiler
(io.put_model) and stored as Model.collision. No native twin: the native step reads these
tables (native_backend passes them on).

MuJoCo decides at every step which geom pairs to test (broadphase, `<pair>` merging,
filters) and calls one narrowphase function per pair. The decisions that do not depend on
the state are made once here, at load time (`build_pairs`): the candidate list is every pair
MuJoCo's mj_collision could ever pass to a narrowphase function, in MuJoCo's order, with its
contact parameters already mixed (mj_contactParam) and a fixed range of contact slots; the
collision stage (collision_driver.collision) culls and collides them every step. Geom-type
pairs without a narrowphase in pywarp_sim, and contact features it does not implement, are
rejected here, by name.
"""

import dataclasses
import warnings

import mujoco
import numpy as np
import warp as wp

from .errors import UnsupportedModelError
from .types import MINMU, MINVAL, Collider, DisableBit, GeomType, vec5

vec6 = wp.types.vector(length=6, dtype=wp.float32)  # geom_aabb rows: center (3), half-sizes (3)

_G = GeomType
# (type1, type2) with type1 <= type2 -> (collider, max contacts our narrowphase returns)
COLLIDERS = {
  (_G.PLANE, _G.SPHERE): (Collider.PLANE_SPHERE, 1),
  (_G.PLANE, _G.CAPSULE): (Collider.PLANE_CAPSULE, 2),
  (_G.PLANE, _G.ELLIPSOID): (Collider.PLANE_ELLIPSOID, 1),
  (_G.PLANE, _G.CYLINDER): (Collider.PLANE_CYLINDER, 4),
  (_G.PLANE, _G.BOX): (Collider.PLANE_BOX, 4),
  (_G.SPHERE, _G.SPHERE): (Collider.SPHERE_SPHERE, 1),
  (_G.SPHERE, _G.CAPSULE): (Collider.SPHERE_CAPSULE, 1),
  (_G.SPHERE, _G.CYLINDER): (Collider.SPHERE_CYLINDER, 1),
  (_G.SPHERE, _G.BOX): (Collider.SPHERE_BOX, 1),
  (_G.CAPSULE, _G.CAPSULE): (Collider.CAPSULE_CAPSULE, 2),
  (_G.CAPSULE, _G.BOX): (Collider.CAPSULE_BOX, 2),
  (_G.BOX, _G.BOX): (Collider.BOX_BOX, 8),
}

# box-mesh and mesh-mesh with a margin under multiCCD: MuJoCo 4.0 finds a second contact where
# pywarp_sim's multicontact finds one in ~5-15% of touching poses, and places four-point contacts
# ~3e-4 m apart (measured on small hulls); refused by name (collision_multicontact)
MESH_MARGIN_UNMATCHED = (_G.BOX, _G.MESH)

# pairs MuJoCo sends to mjc_Convex: one GJK/EPA contact; MuJoCo 4's single-shot multicontact
# gives cylinder-cylinder and cylinder-box up to four, capsule-cylinder up to two (multiCCD on)
_CONVEX_TYPES = (_G.SPHERE, _G.CAPSULE, _G.ELLIPSOID, _G.CYLINDER, _G.BOX)


def _convex_maxcon(t1: int, t2: int, disableflags: int) -> int:
  if disableflags & int(mujoco.mjtDisableBit.mjDSBL_MULTICCD):
    return 1
  if (t1, t2) == (_G.CAPSULE, _G.CYLINDER):
    return 2
  if t1 in (_G.CYLINDER, _G.BOX) and t2 in (_G.CYLINDER, _G.BOX):
    return 4
  return 1


def _mesh_maxcon(t1: int, t2: int, disableflags: int):
  """Contacts of a pair with a mesh (t2 == MESH), or None without a narrowphase.

  A plane takes mjc_PlaneConvex (up to four hull vertices); a sphere or an ellipsoid one
  GJK/EPA contact. Capsule, cylinder, box and mesh pairs with a mesh take MuJoCo 4's
  single-shot multicontact over the hull's polygons (collision_multicontact): up to two
  contacts for a capsule, four for the others; one with multiCCD disabled. Box-mesh and
  mesh-mesh pairs with a margin are refused by build_pairs (MESH_MARGIN_UNMATCHED).
  """
  if t1 == _G.PLANE:
    return 4
  if t1 in (_G.SPHERE, _G.ELLIPSOID):
    return 1
  if t1 in (_G.CAPSULE, _G.CYLINDER, _G.BOX, _G.MESH) and disableflags & int(
      mujoco.mjtDisableBit.mjDSBL_MULTICCD):
    return 1
  if t1 == _G.CAPSULE:
    return 2
  if t1 in (_G.CYLINDER, _G.BOX, _G.MESH):
    return 4
  return None


# a height field with a convex geom: mjc_ConvexHField, one GJK/EPA contact per prism of the
# cells under the geom, up to MuJoCo's mjMAXCONPAIR per pair (collision_convex)
_HFIELD_TYPES = _CONVEX_TYPES + (_G.MESH,)


def _collider(t1: int, t2: int, disableflags: int = 0):
  """(collider, maxcon) for ordered types, or None when pywarp_sim has no narrowphase."""
  key = (GeomType(t1), GeomType(t2))
  if key in COLLIDERS:
    return COLLIDERS[key]
  if t1 == _G.HFIELD and t2 in _HFIELD_TYPES:
    return Collider.CONVEX, int(mujoco.mjMAXCONPAIR)
  if t1 in _CONVEX_TYPES and t2 in _CONVEX_TYPES:
    return Collider.CONVEX, _convex_maxcon(t1, t2, disableflags)
  if t2 == _G.MESH:
    maxcon = _mesh_maxcon(t1, t2, disableflags)
    return None if maxcon is None else (Collider.CONVEX, maxcon)
  return None


def _mj_has_collider(t1: int, t2: int) -> bool:
  """Whether MuJoCo has a narrowphase function for the ordered types (mjCOLLISIONFUNC)."""
  return not (t1 == _G.PLANE and t2 in (_G.PLANE, _G.HFIELD)) and not (
    t1 == _G.HFIELD and t2 == _G.HFIELD)


@dataclasses.dataclass
class CollisionPairs:
  """Static candidate geom pairs, built once by `build_pairs`.

  Pairs are in MuJoCo's order (body-pair signature, `<pair>` elements first), geom1 has the
  smaller geom type. Pair parameters are the contact parameters MuJoCo assigns to every
  contact of the pair. Pair p owns contact slots [slot[p], slot[p] + maxcon[p]).
  """
  npair: int
  nconmax: int          # contact capacity per world (sum of maxcon, or the user's cap)
  nslot: int            # sum of maxcon: worst-case contacts per world
  disabled: bool        # contacts disabled by the model options: collision() reports none
  geom1: wp.array       # (npair,) int
  geom2: wp.array       # (npair,) int
  collider: wp.array    # (npair,) int Collider
  ipair: wp.array       # (npair,) int: index of the <pair> element, -1 for a dynamic pair
  condim: wp.array      # (npair,) int
  friction: wp.array    # (npair,) vec5: tangent1, tangent2, spin, roll1, roll2
  solref: wp.array      # (npair,) vec2
  solreffriction: wp.array  # (npair,) vec2 (0, 0: use solref)
  solimp: wp.array      # (npair,) vec5
  margin: wp.array      # (npair,) float, m: includemargin of the pair's contacts
  gap: wp.array         # (npair,) float, m: detection threshold is margin + gap
  slot: wp.array        # (npair,) int: first contact slot
  maxcon: wp.array      # (npair,) int: most contacts the pair's narrowphase returns
  friction_geom: wp.array  # (npair,) vec2i: geoms whose per-world friction is mixed (-1: explicit pair)
  primitive_pairs: wp.array  # (nprimitive,) int: pair ids with an analytic collider
  convex_pairs: wp.array     # (nconvex,) int: pair ids using GJK/EPA
  geom_rbound: wp.array      # (ngeom,) float, m: bounding-sphere radius (0 for planes)
  # (npair,) int: 1 where MuJoCo's midphase tests the geoms' boxes (_midphase_pair) and the
  # narrowphase is GJK/EPA; an analytic collider costs about what the box test does (the
  # humanoid's primitive pairs: +3.9% instructions a step with it), and skipping a pair whose
  # boxes are apart changes no contact, so those pairs keep the bounding spheres only
  obb: wp.array
  geom_aabb: wp.array        # (ngeom,) vec6, m: box center and half-sizes in the geom frame
  host: dict = dataclasses.field(default_factory=dict)  # numpy copies of the tables above

  @property
  def nprimitive(self) -> int:
    return int(self.primitive_pairs.shape[0]) if self.npair else 0

  @property
  def nconvex(self) -> int:
    return int(self.convex_pairs.shape[0]) if self.npair else 0


def _geom_label(m: mujoco.MjModel, g: int) -> str:
  name = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, g)
  kind = mujoco.mjtGeom(int(m.geom_type[g])).name.replace("mjGEOM_", "").lower()
  return f"geom '{name}' ({kind})" if name else f"geom #{g} ({kind})"


def _contact_param(m: mujoco.MjModel, g1: int, g2: int):
  """mj_contactParam for a dynamic pair: (condim, friction5, solref, solimp)."""
  p1, p2 = int(m.geom_priority[g1]), int(m.geom_priority[g2])
  if p1 != p2:
    g = g1 if p1 > p2 else g2
    fri = np.array(m.geom_friction[g], dtype=np.float64)
    condim = int(m.geom_condim[g])
    solref = np.array(m.geom_solref[g], dtype=np.float64)
    solimp = np.array(m.geom_solimp[g], dtype=np.float64)
  else:
    condim = max(int(m.geom_condim[g1]), int(m.geom_condim[g2]))
    s1, s2 = float(m.geom_solmix[g1]), float(m.geom_solmix[g2])
    if s1 >= MINVAL and s2 >= MINVAL:
      mix = s1 / (s1 + s2)
    elif s1 < MINVAL and s2 < MINVAL:
      mix = 0.5
    elif s1 < MINVAL:
      mix = 0.0
    else:
      mix = 1.0
    r1, r2 = np.array(m.geom_solref[g1], np.float64), np.array(m.geom_solref[g2], np.float64)
    if r1[0] > 0 and r2[0] > 0:
      solref = mix * r1 + (1 - mix) * r2
    else:
      solref = np.minimum(r1, r2)
    solimp = mix * np.array(m.geom_solimp[g1], np.float64) + (1 - mix) * np.array(
      m.geom_solimp[g2], np.float64)
    fri = np.maximum(m.geom_friction[g1], m.geom_friction[g2]).astype(np.float64)
  friction = np.array([fri[0], fri[0], fri[1], fri[2], fri[2]])
  return condim, friction, solref, solimp


def _body_can_collide(m: mujoco.MjModel):
  """OR of geom contype / conaffinity over each body's geoms (MuJoCo's body_contype)."""
  contype = np.zeros(m.nbody, np.int64)
  conaff = np.zeros(m.nbody, np.int64)
  for g in range(m.ngeom):
    b = m.geom_bodyid[g]
    contype[b] |= int(m.geom_contype[g])
    conaff[b] |= int(m.geom_conaffinity[g])
  return contype, conaff


def _filter_body_pair(m: mujoco.MjModel, b1: int, b2: int, filterparent: bool) -> bool:
  """filterBodyPair (no sleeping): True to discard the body pair."""
  weld1, weld2 = int(m.body_weldid[b1]), int(m.body_weldid[b2])
  if weld1 == weld2:
    return True
  if m.body_dofnum[weld1] == 0 and m.body_dofnum[weld2] == 0:
    return True  # both welded to the world (static): no forces can act
  parent1 = int(m.body_weldid[m.body_parentid[weld1]])
  parent2 = int(m.body_weldid[m.body_parentid[weld2]])
  if filterparent and weld1 != 0 and weld2 != 0 and (weld1 == parent2 or weld2 == parent1):
    return True
  return False


def _candidate_pairs(m: mujoco.MjModel):
  """Replays mj_collision's pair selection with every bounding volume overlapping.

  Returns a list of (g1, g2, ipair) in MuJoCo's processing order, g1 with the smaller type.
  """
  dis = int(m.opt.disableflags)
  filterparent = not (dis & int(DisableBit.FILTERPARENT))
  midphase = not (dis & int(DisableBit.MIDPHASE))
  contype, conaff = _body_can_collide(m)
  can = (contype != 0) | (conaff != 0)

  def bitmask_ok(t1, a1, t2, a2):
    return bool((t1 & a2) or (t2 & a1))

  # broadphase: all body pairs that can collide, sorted by signature
  signatures = []
  for b1 in range(m.nbody):
    for b2 in range(b1 + 1, m.nbody):
      if not (can[b1] and can[b2]):
        continue
      if not bitmask_ok(contype[b1], conaff[b1], contype[b2], conaff[b2]):
        continue
      if _filter_body_pair(m, b1, b2, filterparent):
        continue
      signatures.append((b1 << 16) + b2)
  signatures.sort()
  excluded = {int(s) for s in m.exclude_signature}
  pair_sig = [int(s) for s in m.pair_signature]
  explicit = {frozenset((int(m.pair_geom1[k]), int(m.pair_geom2[k]))) for k in range(m.npair)}

  out = []

  def push(g1, g2, ipair):
    if m.geom_type[g1] > m.geom_type[g2]:
      g1, g2 = g2, g1
    out.append((int(g1), int(g2), int(ipair)))

  def push_explicit(k):
    g1, g2 = int(m.pair_geom1[k]), int(m.pair_geom2[k])
    if _mj_has_collider(*sorted((int(m.geom_type[g1]), int(m.geom_type[g2])))):
      push(g1, g2, k)

  pairadr = 0
  for sig in signatures:
    while pairadr < m.npair and pair_sig[pairadr] <= sig:
      push_explicit(pairadr)
      pairadr += 1
    if sig in excluded:
      continue
    b1, b2 = sig >> 16, sig & 0xFFFF
    geoms1 = range(m.body_geomadr[b1], m.body_geomadr[b1] + m.body_geomnum[b1])
    geoms2 = range(m.body_geomadr[b2], m.body_geomadr[b2] + m.body_geomnum[b2])
    dynamic = []
    for g1 in geoms1:
      for g2 in geoms2:
        if not bitmask_ok(m.geom_contype[g1], m.geom_conaffinity[g1],
                          m.geom_contype[g2], m.geom_conaffinity[g2]):
          continue
        if frozenset((g1, g2)) in explicit:
          continue  # covered by a <pair> element
        t1, t2 = sorted((int(m.geom_type[g1]), int(m.geom_type[g2])))
        if not _mj_has_collider(t1, t2):
          continue
        dynamic.append((g1, g2) if m.geom_type[g1] <= m.geom_type[g2] else (g2, g1))
    single = m.body_geomnum[b1] == 1 and m.body_geomnum[b2] == 1
    if not single and midphase and m.body_bvhadr[b1] >= 0 and m.body_bvhadr[b2] >= 0:
      dynamic.sort()  # mj_collideTree's contacts are sorted by geom ids
    for g1, g2 in dynamic:
      push(g1, g2, -1)
  while pairadr < m.npair:
    push_explicit(pairadr)
    pairadr += 1
  return out


def _midphase_pair(m: mujoco.MjModel, g1: int, g2: int, ipair: int) -> bool:
  """Whether mj_collision reaches the dynamic pair (g1, g2) through mj_collideTree, whose
  leaves test the geoms' oriented boxes (mj_collideOBB on geom_aabb) after the bounding
  spheres: a body pair with the midphase on, both bodies with a BVH, not both single-geom.
  <pair> elements go through the bounding-sphere filter only."""
  if ipair >= 0 or int(m.opt.disableflags) & int(DisableBit.MIDPHASE):
    return False
  b1, b2 = int(m.geom_bodyid[g1]), int(m.geom_bodyid[g2])
  if m.body_geomnum[b1] == 1 and m.body_geomnum[b2] == 1:
    return False
  return bool(m.body_bvhadr[b1] >= 0 and m.body_bvhadr[b2] >= 0)


def geom_aabb_float32(m: mujoco.MjModel) -> np.ndarray:
  """(ngeom, 6) float32 geom_aabb whose boxes contain MuJoCo's float64 boxes: each half-size
  grows by its center's rounding error and is rounded up, so the box filter in float32 tables
  never drops a pair that MuJoCo's float64 boxes keep. Planes keep half-sizes >= mjMAXVAL."""
  aabb = np.asarray(m.geom_aabb, np.float64).reshape(m.ngeom, 6)
  center = aabb[:, :3].astype(np.float32)
  err = np.abs(center.astype(np.float64) - aabb[:, :3])
  half = (aabb[:, 3:] + err).astype(np.float32)
  half = np.where(half.astype(np.float64) < aabb[:, 3:] + err, np.nextafter(half, np.float32(np.inf)), half)
  return np.concatenate([center, half], axis=1).astype(np.float32)


class ConvexCollisionWarning(UserWarning):
  """A model has geom pairs that go through the GJK/EPA port (see collision_convex)."""


def build_pairs(mjm: mujoco.MjModel, device=None, nconmax: int | None = None,
                convex: bool = True) -> CollisionPairs:
  """Static candidate geom pairs of a compiled model, their contact parameters and slots.

  `nconmax` caps the contact capacity per world (default: the worst case, the sum of the
  pairs' maxcon). Raises UnsupportedModelError, naming both geoms, for a geom-type pair
  without a narrowphase in pywarp_sim, and for contact features it does not implement.

  Pairs without an analytic collider (ellipsoid with anything but a plane, capsule-cylinder,
  cylinder-cylinder, cylinder-box) use collision_convex, a port of MuJoCo's GJK/EPA with
  MuJoCo 4's single-shot multicontact. Contact counts agree with MuJoCo 4.0; deep contacts
  whose depth, normal or (for a cylinder's side) line come from EPA can differ from 4.0's
  changed, unpublished EPA (see collision_convex). A height field with any convex geom
  (sphere, capsule, ellipsoid, cylinder, box, mesh) takes mjc_ConvexHField through the same
  collider, with up to mjMAXCONPAIR contacts. Such models load with a
  ConvexCollisionWarning naming the pairs; `convex=False` rejects them with
  UnsupportedModelError instead.
  """
  device = wp.get_device(device)
  m = mjm
  dis = int(m.opt.disableflags)
  disabled = bool(dis & (int(DisableBit.CONTACT) | int(DisableBit.CONSTRAINT)))

  candidates = [] if disabled else _candidate_pairs(m)
  if nconmax is not None and nconmax < 0:
    raise ValueError(f"nconmax must be >= 0, got {nconmax}")

  rows = []
  for g1, g2, ipair in candidates:
    t1, t2 = int(m.geom_type[g1]), int(m.geom_type[g2])
    coll = _collider(t1, t2, dis)
    if coll is not None and coll[0] == Collider.CONVEX and not convex:
      coll = None
    if coll is not None and coll[0] == Collider.CONVEX and dis & int(mujoco.mjtDisableBit.mjDSBL_NATIVECCD):
      raise UnsupportedModelError(
        f"collision between {_geom_label(m, g1)} and {_geom_label(m, g2)} needs MuJoCo's convex "
        f"collider, and the model disables native CCD (libccd MPR is not implemented in "
        f"pywarp_sim); remove the nativeccd disable flag")
    if coll is None:
      where = f"<pair> #{ipair}" if ipair >= 0 else "contype/conaffinity"
      raise UnsupportedModelError(
        f"collision between {_geom_label(m, g1)} and {_geom_label(m, g2)} (from {where}) has no "
        f"narrowphase in pywarp_sim; exclude the pair (<exclude>, contype/conaffinity) or use "
        f"supported geom types")
    if (t2 == int(_G.MESH) and t1 in MESH_MARGIN_UNMATCHED
        and not dis & int(mujoco.mjtDisableBit.mjDSBL_MULTICCD)):
      if ipair >= 0:
        margin_gap = float(m.pair_margin[ipair]) + float(m.pair_gap[ipair])
      else:
        margin_gap = sum(float(m.geom_margin[g]) + float(m.geom_gap[g]) for g in (g1, g2))
      if margin_gap > 0:
        raise UnsupportedModelError(
          f"collision between {_geom_label(m, g1)} and {_geom_label(m, g2)} has margin + gap "
          f"{margin_gap:g}: MuJoCo 4's multicontact over mesh polygons with a margin is not "
          f"matched by pywarp_sim for box-mesh and mesh-mesh pairs (without a margin it is); set "
          f"the geoms' margin and gap to 0, or disable multiCCD (<flag multiccd=\"disable\"/>) for "
          f"one contact per pair")
    fric_geom = (-1, -1)  # explicit pair: its own friction
    if ipair < 0:
      p1, p2 = int(m.geom_priority[g1]), int(m.geom_priority[g2])
      fric_geom = (g1, g2) if p1 == p2 else ((g1, g1) if p1 > p2 else (g2, g2))
    if ipair >= 0:
      adhesion = float(m.pair_adhesion[ipair]) if hasattr(m, "pair_adhesion") else 0.0
      condim = int(m.pair_dim[ipair])
      friction = np.array(m.pair_friction[ipair], np.float64)
      solref = np.array(m.pair_solref[ipair], np.float64)
      solreffriction = np.array(m.pair_solreffriction[ipair], np.float64)
      if not np.any(solreffriction != 0):
        solreffriction = np.zeros(2)
      solimp = np.array(m.pair_solimp[ipair], np.float64)
      margin, gap = float(m.pair_margin[ipair]), float(m.pair_gap[ipair])
    else:
      adhesion = 0.0
      if hasattr(m, "geom_adhesion"):
        adhesion = float(m.geom_adhesion[g1]) + float(m.geom_adhesion[g2])
      condim, friction, solref, solimp = _contact_param(m, g1, g2)
      solreffriction = np.zeros(2)
      margin = float(m.geom_margin[g1]) + float(m.geom_margin[g2])
      gap = float(m.geom_gap[g1]) + float(m.geom_gap[g2])
    if adhesion != 0:
      raise UnsupportedModelError(
        f"contact adhesion between {_geom_label(m, g1)} and {_geom_label(m, g2)} is not "
        f"supported by pywarp_sim; set adhesion to 0")
    friction = np.maximum(MINMU, friction)
    rows.append(dict(g1=g1, g2=g2, ipair=ipair, collider=int(coll[0]), maxcon=int(coll[1]),
                     fric_geom=fric_geom, obb=int(coll[0] == Collider.CONVEX and _midphase_pair(m, g1, g2, ipair)),
                     condim=condim, friction=friction, solref=solref,
                     solreffriction=solreffriction, solimp=solimp, margin=margin, gap=gap))

  convex_rows = [r for r in rows if r["collider"] == int(Collider.CONVEX)]
  if convex_rows:
    names = ", ".join(f"{_geom_label(m, r['g1'])}-{_geom_label(m, r['g2'])}" for r in convex_rows[:6])
    more = f" and {len(convex_rows) - 6} more" if len(convex_rows) > 6 else ""
    warnings.warn(
      f"{len(convex_rows)} geom pair(s) use pywarp_sim's GJK/EPA port ({names}{more}). Contact "
      f"counts match MuJoCo 4.0 (with a margin, in ~99% of poses); contacts whose depth, "
      f"normal or line come from EPA can differ from MuJoCo 4.0's changed (unpublished) EPA: "
      f"depth typically < 1e-5 m but up to a few "
      f"cm for rare deep contacts, position ~1e-4 m for a cylinder side lying on a face, "
      f"normal arbitrarily for rare deep ellipsoid contacts; on near-ties a 4-point cylinder "
      f"face can keep other corners, and 2-point edges can come in the other order. Pass "
      f"convex=False to reject these pairs instead.",
      ConvexCollisionWarning, stacklevel=3)

  npair = len(rows)
  maxcon = np.array([r["maxcon"] for r in rows], np.int32)
  slot = np.zeros(npair, np.int32)
  if npair:
    slot[1:] = np.cumsum(maxcon)[:-1]
  nslot = int(maxcon.sum())
  cap = nslot if nconmax is None else min(int(nconmax), nslot)

  def col(key, dtype, shape=()):
    if not rows:
      return np.zeros((0,) + shape, dtype)
    return np.array([r[key] for r in rows], dtype).reshape((npair,) + shape)

  host = dict(
    geom1=col("g1", np.int32), geom2=col("g2", np.int32), collider=col("collider", np.int32),
    ipair=col("ipair", np.int32), condim=col("condim", np.int32),
    friction=col("friction", np.float32, (5,)), solref=col("solref", np.float32, (2,)),
    solreffriction=col("solreffriction", np.float32, (2,)), solimp=col("solimp", np.float32, (5,)),
    margin=col("margin", np.float32), gap=col("gap", np.float32), slot=slot, maxcon=maxcon,
    friction_geom=col("fric_geom", np.int32, (2,)), obb=col("obb", np.int32),
  )
  collider = host["collider"]
  host["primitive_pairs"] = np.nonzero(collider != int(Collider.CONVEX))[0].astype(np.int32)
  host["convex_pairs"] = np.nonzero(collider == int(Collider.CONVEX))[0].astype(np.int32)
  host["geom_rbound"] = np.asarray(m.geom_rbound, np.float32).reshape(m.ngeom)
  host["geom_aabb"] = geom_aabb_float32(m)

  def arr(a, dtype):
    if a.shape[0] == 0:
      return wp.zeros(0, dtype=dtype, device=device)
    return wp.array(a, dtype=dtype, device=device)

  return CollisionPairs(
    npair=npair, nconmax=cap, nslot=nslot, disabled=disabled,
    geom1=arr(host["geom1"], wp.int32), geom2=arr(host["geom2"], wp.int32),
    collider=arr(host["collider"], wp.int32), ipair=arr(host["ipair"], wp.int32),
    condim=arr(host["condim"], wp.int32), friction=arr(host["friction"], vec5),
    solref=arr(host["solref"], wp.vec2), solreffriction=arr(host["solreffriction"], wp.vec2),
    solimp=arr(host["solimp"], vec5), margin=arr(host["margin"], wp.float32),
    gap=arr(host["gap"], wp.float32), slot=arr(host["slot"], wp.int32),
    maxcon=arr(host["maxcon"], wp.int32), friction_geom=arr(host["friction_geom"], wp.vec2i),
    primitive_pairs=arr(host["primitive_pairs"], wp.int32),
    convex_pairs=arr(host["convex_pairs"], wp.int32),
    geom_rbound=arr(host["geom_rbound"], wp.float32), obb=arr(host["obb"], wp.int32),
    geom_aabb=arr(host["geom_aabb"], vec6), host=host,
  )


MAXVAL_F = wp.constant(1e10)  # mjMAXVAL: a plane's box half-sizes


# ---- the midphase's oriented-box test on the boxes above (both collision drivers use it) ----

@wp.func
def _axis64(mat: wp.mat33, k: int) -> wp.vec3d:
  """Column k of mat (a box's face axis k in world coordinates), in float64."""
  return wp.vec3d(wp.float64(mat[0, k]), wp.float64(mat[1, k]), wp.float64(mat[2, k]))


@wp.func
def _box_center64(aabb: vec6, pos: wp.vec3, mat: wp.mat33) -> wp.vec3d:
  c = wp.vec3d(wp.float64(aabb[0]), wp.float64(aabb[1]), wp.float64(aabb[2]))
  return wp.vec3d(wp.float64(mat[0, 0]) * c[0] + wp.float64(mat[0, 1]) * c[1] + wp.float64(mat[0, 2]) * c[2]
                  + wp.float64(pos[0]),
                  wp.float64(mat[1, 0]) * c[0] + wp.float64(mat[1, 1]) * c[1] + wp.float64(mat[1, 2]) * c[2]
                  + wp.float64(pos[1]),
                  wp.float64(mat[2, 0]) * c[0] + wp.float64(mat[2, 1]) * c[1] + wp.float64(mat[2, 2]) * c[2]
                  + wp.float64(pos[2]))


@wp.func
def _box_radius64(aabb: vec6, mat: wp.mat33, n: wp.vec3d) -> wp.float64:
  """Half-extent along the unit axis n of the box (aabb's half-sizes, axes mat's columns)."""
  return (wp.abs(wp.float64(aabb[3]) * wp.dot(_axis64(mat, 0), n))
          + wp.abs(wp.float64(aabb[4]) * wp.dot(_axis64(mat, 1), n))
          + wp.abs(wp.float64(aabb[5]) * wp.dot(_axis64(mat, 2), n)))


@wp.func
def _infinite(aabb: vec6, all_axes: bool) -> bool:
  """A plane's box: half-sizes >= mjMAXVAL on every axis (all_axes) or on some axis."""
  i0 = aabb[3] >= MAXVAL_F
  i1 = aabb[4] >= MAXVAL_F
  i2 = aabb[5] >= MAXVAL_F
  if all_axes:
    return i0 and i1 and i2
  return i0 or i1 or i2


@wp.func
def obb_apart(aabb1: vec6, pos1: wp.vec3, mat1: wp.mat33, aabb2: vec6, pos2: wp.vec3, mat2: wp.mat33,
              margin: float) -> bool:
  """mj_collideOBB on two geoms' boxes (pairs.geom_aabb rows: center and half-sizes in the geom
  frame), in float64: True when a face axis of either box separates them by more than margin.
  MuJoCo's midphase tests it after the bounding spheres for the pairs of pairs.obb; those it
  rejects are farther apart than margin, so they have no contact (its twin: kernels/collision_driver.h obb_apart)."""
  if _infinite(aabb1, True) or _infinite(aabb2, True):
    return False
  c1 = _box_center64(aabb1, pos1, mat1)
  c2 = _box_center64(aabb2, pos2, mat2)
  m = wp.float64(margin)
  if not _infinite(aabb2, False):
    for k in range(3):
      n = _axis64(mat1, k)
      if _box_radius64(aabb1, mat1, n) + _box_radius64(aabb2, mat2, n) + m < wp.abs(wp.dot(c2, n) - wp.dot(c1, n)):
        return True
  if not _infinite(aabb1, False):
    for k in range(3):
      n = _axis64(mat2, k)
      if _box_radius64(aabb1, mat1, n) + _box_radius64(aabb2, mat2, n) + m < wp.abs(wp.dot(c2, n) - wp.dot(c1, n)):
        return True
  return False
