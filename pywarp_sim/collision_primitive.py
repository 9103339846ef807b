"""Narrowphase for primitive geom pairs: Warp ports of MuJoCo's analytic colliders.
Twin of kernels/collision_primitive.h.

Each function is the Warp twin of one of MuJoCo's `mjc_*` functions
(engine_collision_primitive.c, engine_collision_box.c, and mjc_PlaneConvex for
the plane-ellipsoid case), with the same branches, the same contact count and
the same contact points, in float32. Geom 1 has the smaller geom type, as in
MuJoCo, so normals point from geom 1 to geom 2.

A collider writes its contacts into the slots [slot, slot + maxcon) of a
`SlotBuffer` row (types.SLOT_FIELDS; one row per world) and returns how many it wrote. It writes
what MuJoCo's mjPreContact holds: dist (m, negative = penetration), pos (m, the
midpoint between the surfaces), normal, and a first tangent (zero when the
collider does not choose one; the driver completes the frame like
mju_makeFrame). `margin` is the detection threshold: MuJoCo passes margin + gap.
"""

import warp as wp

from .types import SlotBuffer

MINVAL = 1e-15  # mjMINVAL
BOXBOX_MAXVERT = 8
# Float32 stand-in for MuJoCo's mjMINVAL in parallel-axis tests (squared sine of the angle
# between unit axes): exactly parallel geoms give ~1e-7 of rounding noise in float32, so
# MuJoCo's double-precision branch for parallel axes is taken below sin^2 = 1e-6 (0.06 deg).
PARALLEL_EPS = 1e-6  # a quadrilateral clipped by four half-planes has at most 8 vertices

# box-box rounding scales for single precision (MuJoCo's mjUSESINGLE values)
_BOXBOX_SEPEPS = 1e-6
_BOXBOX_PAREPS = 1e-7
_BOXBOX_SGNEPS = 1e-5
_BOXBOX_DUPEPS = 1e-10
_BOXBOX_EDGEBIAS = 1e-6

mat83 = wp.types.matrix(shape=(BOXBOX_MAXVERT, 3), dtype=wp.float32)


@wp.func
def write_contact(out: SlotBuffer, worldid: int, slot: int, dist: float, pos: wp.vec3,
                  normal: wp.vec3, tangent: wp.vec3):
  out.dist[worldid, slot] = dist
  out.pos[worldid, slot] = pos
  out.normal[worldid, slot] = normal
  out.tangent[worldid, slot] = tangent


@wp.func
def pair_poses(worldid: int, pairid: int, pair_geom1: wp.array(dtype=int),
               pair_geom2: wp.array(dtype=int), pair_margin: wp.array(dtype=float),
               pair_gap: wp.array(dtype=float), geom_xpos: wp.array2d(dtype=wp.vec3),
               geom_xmat: wp.array2d(dtype=wp.mat33)):
  """A candidate pair in one world: (geom1, geom2, margin + gap (m), pos1, mat1, pos2, mat2),
  the colliders' inputs (world frame)."""
  g1 = pair_geom1[pairid]
  g2 = pair_geom2[pairid]
  return (g1, g2, pair_margin[pairid] + pair_gap[pairid], geom_xpos[worldid, g1],
          geom_xmat[worldid, g1], geom_xpos[worldid, g2], geom_xmat[worldid, g2])


@wp.func
def normalize3(v: wp.vec3):
  """mju_normalize3: (unit vector, norm); (1, 0, 0) when the norm is below mjMINVAL."""
  n = wp.length(v)
  if n < MINVAL:
    return wp.vec3(1.0, 0.0, 0.0), n
  return v * (1.0 / n), n


@wp.func
def zaxis(mat: wp.mat33) -> wp.vec3:
  return wp.vec3(mat[0, 2], mat[1, 2], mat[2, 2])


@wp.func
def make_frame(normal: wp.vec3, tangent: wp.vec3) -> wp.mat33:
  """mju_makeFrame: rows (normal, tangent1, tangent2); tangent1 defaults to y (or z)."""
  x, _n = normalize3(normal)
  y = tangent
  if wp.dot(y, y) < 0.25:
    if x[1] < 0.5 and x[1] > -0.5:
      y = wp.vec3(0.0, 1.0, 0.0)
    else:
      y = wp.vec3(0.0, 0.0, 1.0)
  y, _m = normalize3(y - x * wp.dot(x, y))
  z = wp.cross(x, y)
  return wp.mat33(x[0], x[1], x[2], y[0], y[1], y[2], z[0], z[1], z[2])


# ---------------------------------------------------------------------------------------------
# plane colliders (geom 1 is the plane, its normal is its z axis)


@wp.func
def _plane_sphere_raw(margin: float, pos1: wp.vec3, normal: wp.vec3, pos2: wp.vec3, radius: float):
  """mjraw_PlaneSphere: (ncon, dist, pos)."""
  cdist = wp.dot(pos2 - pos1, normal)
  if cdist > margin + radius:
    return 0, 0.0, wp.vec3(0.0)
  dist = cdist - radius
  return 1, dist, pos2 + normal * (-dist / 2.0 - radius)


@wp.func
def plane_sphere(out: SlotBuffer, worldid: int, slot: int, margin: float,
                 pos1: wp.vec3, mat1: wp.mat33, pos2: wp.vec3, size2: wp.vec3) -> int:
  normal = zaxis(mat1)
  n, dist, pos = _plane_sphere_raw(margin, pos1, normal, pos2, size2[0])
  if n:
    write_contact(out, worldid, slot, dist, pos, normal, wp.vec3(0.0))
  return n


@wp.func
def plane_capsule(out: SlotBuffer, worldid: int, slot: int, margin: float,
                  pos1: wp.vec3, mat1: wp.mat33, pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3) -> int:
  normal = zaxis(mat1)
  axis = zaxis(mat2)
  segment = axis * size2[1]
  cnt = int(0)
  n1, dist1, p1 = _plane_sphere_raw(margin, pos1, normal, pos2 + segment, size2[0])
  if n1:
    write_contact(out, worldid, slot, dist1, p1, normal, axis)
    cnt += 1
  n2, dist2, p2 = _plane_sphere_raw(margin, pos1, normal, pos2 - segment, size2[0])
  if n2:
    write_contact(out, worldid, slot + cnt, dist2, p2, normal, axis)
    cnt += 1
  return cnt


@wp.func
def plane_cylinder(out: SlotBuffer, worldid: int, slot: int, margin: float,
                   pos1: wp.vec3, mat1: wp.mat33, pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3) -> int:
  normal = zaxis(mat1)
  axis = zaxis(mat2)
  zero = wp.vec3(0.0)

  # make sure the axis points towards the plane
  prjaxis = wp.dot(normal, axis)
  if prjaxis > 0.0:
    axis = -axis
    prjaxis = -prjaxis

  dist0 = wp.dot(pos2 - pos1, normal)

  # remove the component of -normal along the axis
  vec = axis * prjaxis - normal
  len_sqr = wp.dot(vec, vec)
  if len_sqr >= PARALLEL_EPS * PARALLEL_EPS:
    vec = vec * (size2[0] / wp.sqrt(len_sqr))
  else:
    # disk parallel to the plane: pick the cylinder x axis
    vec = wp.vec3(mat2[0, 0], mat2[1, 0], mat2[2, 0]) * size2[0]

  prjvec = wp.dot(vec, normal)
  axis = axis * size2[1]
  prjaxis = prjaxis * size2[1]

  cnt = int(0)
  d1 = dist0 + prjaxis + prjvec
  if d1 <= margin:
    write_contact(out, worldid, slot, d1, pos2 + vec + axis - normal * (d1 * 0.5), normal, zero)
    cnt += 1
  else:
    return 0

  d2 = dist0 - prjaxis + prjvec
  if d2 <= margin:
    write_contact(out, worldid, slot + cnt, d2, pos2 + vec - axis - normal * (d2 * 0.5), normal, zero)
    cnt += 1

  # triangle points on the side closer to the plane
  prjvec1 = -prjvec * 0.5
  d3 = dist0 + prjaxis + prjvec1
  if d3 <= margin:
    vec1, _n = normalize3(wp.cross(vec, axis))
    vec1 = vec1 * (size2[0] * wp.sqrt(3.0) / 2.0)
    base = axis - vec * 0.5 - normal * (d3 * 0.5)
    write_contact(out, worldid, slot + cnt, d3, pos2 + vec1 + base, normal, zero)
    cnt += 1
    write_contact(out, worldid, slot + cnt, d3, pos2 - vec1 + base, normal, zero)
    cnt += 1
  return cnt


@wp.func
def plane_box(out: SlotBuffer, worldid: int, slot: int, margin: float,
              pos1: wp.vec3, mat1: wp.mat33, pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3) -> int:
  norm = zaxis(mat1)
  dist = wp.dot(pos2 - pos1, norm)
  cnt = int(0)
  for i in range(8):
    vec = wp.vec3(size2[0], size2[1], size2[2])
    if (i & 1) == 0:
      vec[0] = -size2[0]
    if (i & 2) == 0:
      vec[1] = -size2[1]
    if (i & 4) == 0:
      vec[2] = -size2[2]
    corner = mat2 @ vec
    ldist = wp.dot(norm, corner)
    if dist + ldist > margin or ldist > 0.0:
      continue
    cdist = dist + ldist
    if cnt < 4:
      write_contact(out, worldid, slot + cnt, cdist, corner + pos2 - norm * (cdist / 2.0), norm,
                    wp.vec3(0.0))
      cnt += 1
  return cnt


@wp.func
def plane_ellipsoid(out: SlotBuffer, worldid: int, slot: int, margin: float,
                    pos1: wp.vec3, mat1: wp.mat33, pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3) -> int:
  """mjc_PlaneConvex for an ellipsoid: its support point along -normal."""
  normal = zaxis(mat1)
  local_dir = wp.transpose(mat2) @ (-normal)
  supp = wp.cw_mul(local_dir, size2)
  norm2 = wp.dot(supp, supp)
  if norm2 < MINVAL * MINVAL:
    supp = wp.vec3(size2[0], 0.0, 0.0)
  else:
    supp = wp.cw_mul(supp * (1.0 / wp.sqrt(norm2)), size2)
  point = mat2 @ supp + pos2
  dist = wp.dot(normal, point - pos1)
  if dist > margin:
    return 0
  write_contact(out, worldid, slot, dist, point - normal * (0.5 * dist), normal, wp.vec3(0.0))
  return 1


# ---------------------------------------------------------------------------------------------
# sphere and capsule colliders


@wp.func
def _sphere_sphere_raw(margin: float, pos1: wp.vec3, mat1: wp.mat33, r1: float,
                       pos2: wp.vec3, mat2: wp.mat33, r2: float):
  """mjraw_SphereSphere: (ncon, dist, pos, normal)."""
  dif = pos1 - pos2
  cdist_sqr = wp.dot(dif, dif)
  min_dist = margin + r1 + r2
  if cdist_sqr > min_dist * min_dist:
    return 0, 0.0, wp.vec3(0.0), wp.vec3(0.0)
  dist = wp.sqrt(cdist_sqr) - r1 - r2
  normal, length = normalize3(pos2 - pos1)
  if length < MINVAL:
    # coincident centres: normal from the z axes (MuJoCo's fallback)
    normal, _n = normalize3(wp.cross(zaxis(mat1), zaxis(mat2)))
  pos = normal * (r1 + dist / 2.0) + pos1
  return 1, dist, pos, normal


@wp.func
def sphere_sphere(out: SlotBuffer, worldid: int, slot: int, margin: float,
                  pos1: wp.vec3, mat1: wp.mat33, size1: wp.vec3,
                  pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3) -> int:
  n, dist, pos, normal = _sphere_sphere_raw(margin, pos1, mat1, size1[0], pos2, mat2, size2[0])
  if n:
    write_contact(out, worldid, slot, dist, pos, normal, wp.vec3(0.0))
  return n


@wp.func
def sphere_capsule(out: SlotBuffer, worldid: int, slot: int, margin: float,
                   pos1: wp.vec3, mat1: wp.mat33, size1: wp.vec3,
                   pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3) -> int:
  axis = zaxis(mat2)
  x = wp.clamp(wp.dot(axis, pos1 - pos2), -size2[1], size2[1])
  n, dist, pos, normal = _sphere_sphere_raw(margin, pos1, mat1, size1[0], axis * x + pos2, mat2,
                                            size2[0])
  if n:
    write_contact(out, worldid, slot, dist, pos, normal, wp.vec3(0.0))
  return n


@wp.func
def sphere_cylinder(out: SlotBuffer, worldid: int, slot: int, margin: float,
                    pos1: wp.vec3, mat1: wp.mat33, size1: wp.vec3,
                    pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3) -> int:
  radius = size2[0]
  height = size2[1]
  axis = zaxis(mat2)
  vec = pos1 - pos2
  x = wp.dot(axis, vec)
  a_proj = axis * x
  p_proj = vec - a_proj
  p_proj_sqr = wp.dot(p_proj, p_proj)

  collide_side = wp.abs(x) < height
  collide_cap = p_proj_sqr < radius * radius
  if collide_side and collide_cap:
    # sphere centre inside the cylinder: keep the shallower direction
    dist_cap = height - wp.abs(x)
    dist_radius = radius - wp.sqrt(p_proj_sqr)
    if dist_cap < dist_radius:
      collide_side = False
    else:
      collide_cap = False

  zero = wp.vec3(0.0)
  if collide_side:
    n, dist, pos, normal = _sphere_sphere_raw(margin, pos1, mat1, size1[0], a_proj + pos2, mat2,
                                              size2[0])
    if n:
      write_contact(out, worldid, slot, dist, pos, normal, zero)
    return n

  if collide_cap:
    # plane-sphere against the cap, normal flipped to point from the sphere to the cylinder
    cap_normal = axis
    if x <= 0.0:
      cap_normal = -axis
    pos_cap = pos2 + cap_normal * height
    n, dist, pos = _plane_sphere_raw(margin, pos_cap, cap_normal, pos1, size1[0])
    if n:
      write_contact(out, worldid, slot, dist, pos, -cap_normal, zero)
    return n

  # corner: sphere-sphere against a point sphere on the rim
  p_proj = p_proj * (radius / wp.sqrt(p_proj_sqr))
  h = height
  if x <= 0.0:
    h = -height
  corner = axis * h + p_proj + pos2
  n, dist, pos, normal = _sphere_sphere_raw(margin, pos1, mat1, size1[0], corner, mat2, 0.0)
  if n:
    write_contact(out, worldid, slot, dist, pos, normal, zero)
  return n


@wp.func
def capsule_capsule(out: SlotBuffer, worldid: int, slot: int, margin: float,
                    pos1: wp.vec3, mat1: wp.mat33, size1: wp.vec3,
                    pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3) -> int:
  axis1 = zaxis(mat1) * size1[1]
  axis2 = zaxis(mat2) * size2[1]
  dif = pos1 - pos2
  r1 = size1[0]
  r2 = size2[0]
  zero = wp.vec3(0.0)

  ma = wp.dot(axis1, axis1)
  mb = -wp.dot(axis1, axis2)
  mc = wp.dot(axis2, axis2)
  u = -wp.dot(axis1, dif)
  v = wp.dot(axis2, dif)
  det = ma * mc - mb * mb

  # MuJoCo tests det >= mjMINVAL in double; float32 cancellation leaves ~1e-7 * ma * mc of
  # noise for exactly parallel axes, so the float32 test is relative (sin^2 > PARALLEL_EPS)
  if wp.abs(det) >= PARALLEL_EPS * ma * mc:
    x1 = (mc * u - mb * v) / det
    x2 = (ma * v - mb * u) / det
    if x1 > 1.0:
      x1 = 1.0
      x2 = (v - mb) / mc
    elif x1 < -1.0:
      x1 = -1.0
      x2 = (v + mb) / mc
    if x2 > 1.0:
      x2 = 1.0
      x1 = wp.clamp((u - mb) / ma, -1.0, 1.0)
    elif x2 < -1.0:
      x2 = -1.0
      x1 = wp.clamp((u + mb) / ma, -1.0, 1.0)
    n, dist, pos, normal = _sphere_sphere_raw(margin, axis1 * x1 + pos1, mat1, r1,
                                              axis2 * x2 + pos2, mat2, r2)
    if n:
      write_contact(out, worldid, slot, dist, pos, normal, zero)
    return n

  # parallel axes (MuJoCo 4): contacts at both ends of the overlap of the two segments,
  # ordered along segment 1; segments that do not overlap give their nearest ends twice
  ta = (u - mb) / ma  # segment-1 parameters of the ends of segment 2
  tb = (u + mb) / ma
  lo = wp.clamp(wp.min(ta, tb), -1.0, 1.0)
  hi = wp.clamp(wp.max(ta, tb), -1.0, 1.0)
  cnt = int(0)
  for k in range(2):
    x1 = lo
    if k == 1:
      x1 = hi
    x2 = wp.clamp((v - mb * x1) / mc, -1.0, 1.0)
    n, dist, pos, normal = _sphere_sphere_raw(margin, axis1 * x1 + pos1, mat1, r1,
                                              axis2 * x2 + pos2, mat2, r2)
    if n:
      write_contact(out, worldid, slot + cnt, dist, pos, normal, zero)
      cnt += 1
  return cnt


# ---------------------------------------------------------------------------------------------
# box colliders (engine_collision_box.c)


@wp.func
def _sphere_box_raw(margin: float, pos1: wp.vec3, r1: float, pos2: wp.vec3, mat2: wp.mat33,
                    size2: wp.vec3):
  """mjraw_SphereBox: (ncon, dist, pos, normal)."""
  center = wp.transpose(mat2) @ (pos1 - pos2)
  clamped = wp.vec3(wp.clamp(center[0], -size2[0], size2[0]),
                    wp.clamp(center[1], -size2[1], size2[1]),
                    wp.clamp(center[2], -size2[2], size2[2]))
  tmp, dist = normalize3(clamped - center)
  if dist - r1 > margin:
    return 0, 0.0, wp.vec3(0.0), wp.vec3(0.0)

  pos = wp.vec3(0.0)
  normal = wp.vec3(0.0)
  if dist <= MINVAL:
    # sphere centre inside the box: push out through the closest face
    closest = (size2[0] + size2[1] + size2[2]) * 2.0
    k = int(0)
    for i in range(6):
      face = size2[i // 2]
      if i % 2 == 0:
        face = -face
      face_dist = wp.abs(face - center[i // 2])
      if closest > face_dist:
        closest = face_dist
        k = i
    nearest = wp.vec3(0.0)
    if k % 2 == 1:
      nearest[k // 2] = -1.0
    else:
      nearest[k // 2] = 1.0
    pos = center + nearest * ((r1 - closest) / 2.0)
    normal = mat2 @ nearest
    dist = -closest
  else:
    deepest = center + tmp * r1
    pos = clamped * 0.5 + deepest * 0.5
    normal = mat2 @ tmp
  return 1, dist - r1, mat2 @ pos + pos2, normal


@wp.func
def sphere_box(out: SlotBuffer, worldid: int, slot: int, margin: float,
               pos1: wp.vec3, size1: wp.vec3, pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3) -> int:
  n, dist, pos, normal = _sphere_box_raw(margin, pos1, size1[0], pos2, mat2, size2)
  if n:
    write_contact(out, worldid, slot, dist, pos, normal, wp.vec3(0.0))
  return n


@wp.func
def _corner(i: int, size: wp.vec3) -> wp.vec3:
  c = wp.vec3(-size[0], -size[1], -size[2])
  if (i & 1) != 0:
    c[0] = size[0]
  if (i & 2) != 0:
    c[1] = size[1]
  if (i & 4) != 0:
    c[2] = size[2]
  return c


@wp.func
def _clamp_edge(x: float, s: int):
  """capsule_box's segment-edge clamp: (x clamped to the edge's span [-1, 1], the end it was
  clamped to: 0 for -1, 2 for +1, else s)."""
  if x > 1.0:
    return 1.0, 2
  if x < -1.0:
    return -1.0, 0
  return x, s


@wp.func
def capsule_box(out: SlotBuffer, worldid: int, slot: int, margin: float,
                pos1: wp.vec3, mat1: wp.mat33, size1: wp.vec3,
                pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3) -> int:
  """mjraw_CapsuleBox: closest segment point to the box, and a second point when the
  capsule lies along a box face or edge; each becomes a sphere-box contact."""
  halflength = size1[1]
  secondpos = float(-4.0)  # no second contact (valid values are in [-1, 1])

  # capsule in the box frame
  pos = wp.transpose(mat2) @ (pos1 - pos2)
  axis = wp.transpose(mat2) @ zaxis(mat1)
  halfaxis = axis * halflength

  axisdir = int(0)
  if halfaxis[0] > 0.0:
    axisdir += 1
  if halfaxis[1] > 0.0:
    axisdir += 2
  if halfaxis[2] > 0.0:
    axisdir += 4

  bestdistmax = margin + 2.0 * (size1[0] + halflength + size2[0] + size2[1] + size2[2])
  bestdist = bestdistmax
  bestsegmentpos = float(0.0)
  bestboxpos = float(0.0)
  cltype = int(-4)
  clface = int(-1)
  clcorner = int(0)
  cledge = int(0)

  # is a face of the box closest to one of the segment ends?
  for s in range(2):
    i = 2 * s - 1
    tmp1 = pos + halfaxis * float(i)
    tmp2 = wp.vec3(tmp1)
    c1 = int(0)
    c2 = int(-1)
    for j in range(3):
      if tmp1[j] < -size2[j]:
        c1 += 1
        c2 = j
        tmp1[j] = -size2[j]
      elif tmp1[j] > size2[j]:
        c1 += 1
        c2 = j
        tmp1[j] = size2[j]
    if c1 > 1:
      continue
    d = tmp1 - tmp2
    dist = wp.dot(d, d)
    if dist < bestdist:
      bestdist = dist
      bestsegmentpos = float(i)
      cltype = -2 + i
      clface = c2

  # is an edge of the box closest to the segment?
  for j in range(3):
    for i in range(8):
      if (i & (1 << j)) == 0:
        tmp3 = _corner(i, size2)
        tmp3[j] = 0.0
        dif = tmp3 - pos

        ma = size2[j] * size2[j]
        mb = -size2[j] * halfaxis[j]
        mc = size1[1] * size1[1]
        u = -size2[j] * dif[j]
        v = wp.dot(halfaxis, dif)
        det = ma * mc - mb * mb
        if wp.abs(det) < PARALLEL_EPS * ma * mc:
          continue  # segment parallel to the edge (relative test: see capsule_capsule)
        idet = 1.0 / det

        # sX: 1 = interior of the segment, 0 or 2 = one of its ends
        x1 = (mc * u - mb * v) * idet
        x2 = (ma * v - mb * u) * idet
        s1 = int(1)
        s2 = int(1)
        if x1 > 1.0:
          x1 = 1.0
          s1 = 2
          x2 = (v - mb) * (1.0 / mc)
        elif x1 < -1.0:
          x1 = -1.0
          s1 = 0
          x2 = (v + mb) * (1.0 / mc)
        if x2 > 1.0:
          x2 = 1.0
          s2 = 2
          x1 = (u - mb) * (1.0 / ma)
          x1, s1 = _clamp_edge(x1, s1)
        elif x2 < -1.0:
          x2 = -1.0
          s2 = 0
          x1 = (u + mb) * (1.0 / ma)
          x1, s1 = _clamp_edge(x1, s1)

        dif = tmp3 - pos - halfaxis * x2
        dif[j] = dif[j] + size2[j] * x1
        dd = wp.dot(dif, dif)
        c1 = s1 * 3 + s2
        if dd < bestdist - MINVAL:
          bestdist = dd
          bestsegmentpos = x2
          bestboxpos = x1
          c2 = c1 // 6
          clcorner = i + (1 << j) * c2
          cledge = j
          cltype = c1

  if cltype == -4:
    return 0

  skip = bool(False)
  mul = float(0.0)
  if cltype >= 0 and cltype // 3 != 1:
    # closest to a corner of the box
    c1 = axisdir ^ clcorner
    if c1 == 0 or c1 == 7:
      skip = True  # pointing to or away from the corner: no second contact
    else:
      de = float(0.0)
      dp = float(0.0)
      if c1 == 1 or c1 == 2 or c1 == 4:
        mul = 1.0
        de = 1.0 - bestsegmentpos
        dp = 1.0 + bestsegmentpos
      if c1 == 3 or c1 == 5 or c1 == 6:
        mul = -1.0
        c1 = 7 - c1
        dp = 1.0 - bestsegmentpos
        de = 1.0 + bestsegmentpos
      ax = int(0)
      ax1 = int(1)
      ax2 = int(2)
      if c1 == 2:
        ax = 1
        ax1 = 2
        ax2 = 0
      if c1 == 4:
        ax = 2
        ax1 = 0
        ax2 = 1
      if axis[ax] * axis[ax] > 0.5:
        # second point along the edge of the box
        secondpos = de
        e1 = 2.0 * size2[ax] / wp.abs(halfaxis[ax])
        if e1 < secondpos:
          secondpos = e1
        secondpos = secondpos * mul
      else:
        # second point along a face of the box
        secondpos = dp
        e1 = 2.0 * size2[ax1] / wp.abs(halfaxis[ax1])
        if e1 < secondpos:
          secondpos = e1
        e1 = 2.0 * size2[ax2] / wp.abs(halfaxis[ax2])
        if e1 < secondpos:
          secondpos = e1
        secondpos = secondpos * (-mul)
  elif cltype >= 0 and cltype // 3 == 1:
    # closest to the interior of a box edge: a second point only in the X configuration
    c1 = (axisdir ^ clcorner) & (7 - (1 << cledge))
    if c1 != 1 and c1 != 2 and c1 != 4:
      skip = True
    else:
      ax1 = int(1)
      ax2 = int(2)
      if cledge == 1:
        ax1 = 2
        ax2 = 0
      if cledge == 2:
        ax1 = 0
        ax2 = 1
      ax = cledge
      if wp.abs(axis[ax1]) > wp.abs(axis[ax2]):
        ax1 = ax2
      ax2 = 3 - ax - ax1
      if (c1 & (1 << ax2)) != 0:
        mul = 1.0
        secondpos = 1.0 - bestsegmentpos
      else:
        mul = -1.0
        secondpos = 1.0 + bestsegmentpos
      e1 = 2.0 * size2[ax2] / wp.abs(halfaxis[ax2])
      if e1 < secondpos:
        secondpos = e1
      e2 = float(0.0)
      if ((axisdir & (1 << ax)) != 0) == ((c1 & (1 << ax2)) != 0):
        e2 = 1.0 - bestboxpos
      else:
        e2 = 1.0 + bestboxpos
      e1 = size2[ax] * e2 / wp.abs(halfaxis[ax])
      if e1 < secondpos:
        secondpos = e1
      secondpos = secondpos * mul
  elif cltype < 0:
    # a segment end is closest to a face: clamp the other end to the face
    if clface == -1:
      skip = True  # the closest point is inside the box
    else:
      if cltype == -3:
        mul = 1.0
      else:
        mul = -1.0
      secondpos = 2.0
      tmp1 = pos - halfaxis * mul
      for i in range(3):
        if i != clface:
          e1 = (size2[i] - tmp1[i]) / halfaxis[i] * mul
          if e1 > 0.0:
            if e1 < secondpos:
              secondpos = e1
          e1 = (-size2[i] - tmp1[i]) / halfaxis[i] * mul
          if e1 > 0.0:
            if e1 < secondpos:
              secondpos = e1
      secondpos = secondpos * mul
  if skip:
    secondpos = -4.0

  # sphere at the first contact point
  r1 = size1[0]
  sph = mat2 @ (pos + halfaxis * bestsegmentpos) + pos2
  n, dist, cpos, normal = _sphere_box_raw(margin, sph, r1, pos2, mat2, size2)
  cnt = int(0)
  if n:
    write_contact(out, worldid, slot, dist, cpos, normal, wp.vec3(0.0))
    cnt = 1
  if secondpos > -3.0:
    sph = mat2 @ (pos + halfaxis * (secondpos + bestsegmentpos)) + pos2
    n, dist, cpos, normal = _sphere_box_raw(margin, sph, r1, pos2, mat2, size2)
    if n:
      write_contact(out, worldid, slot + cnt, dist, cpos, normal, wp.vec3(0.0))
      cnt += 1
  return cnt


@wp.func
def _clip_half_plane(poly: mat83, nin: int, coord: int, sign: float, limit: float):
  """clipHalfPlane: clip a polygon against sign*v[coord] <= limit (Sutherland-Hodgman)."""
  all_inside = bool(True)
  for k in range(nin):
    if sign * poly[k, coord] - limit > 0.0:
      all_inside = False
  if all_inside:
    return poly, nin
  res = mat83()
  nout = int(0)
  for k in range(nin):
    k1 = k + 1
    if k1 == nin:
      k1 = 0
    dp = sign * poly[k, coord] - limit
    dq = sign * poly[k1, coord] - limit
    if dp <= 0.0 and nout < BOXBOX_MAXVERT:
      res[nout] = poly[k]
      nout += 1
    if ((dp < 0.0 and dq > 0.0) or (dp > 0.0 and dq < 0.0)) and nout < BOXBOX_MAXVERT:
      t = dp / (dp - dq)
      res[nout] = poly[k] + t * (poly[k1] - poly[k])
      nout += 1
  return res, nout


@wp.func
def box_box(out: SlotBuffer, worldid: int, slot: int, margin: float,
            pos1: wp.vec3, mat1: wp.mat33, size1: wp.vec3,
            pos2: wp.vec3, mat2: wp.mat33, size2: wp.vec3) -> int:
  """mjc_BoxBox: separating-axis test over 15 axes, then face clipping or an edge contact."""
  pos21 = wp.transpose(mat1) @ (pos2 - pos1)
  pos12 = wp.transpose(mat2) @ (pos1 - pos2)
  rot = wp.transpose(mat1) @ mat2
  rotabs = wp.mat33(wp.abs(rot[0, 0]), wp.abs(rot[0, 1]), wp.abs(rot[0, 2]),
                    wp.abs(rot[1, 0]), wp.abs(rot[1, 1]), wp.abs(rot[1, 2]),
                    wp.abs(rot[2, 0]), wp.abs(rot[2, 1]), wp.abs(rot[2, 2]))

  # ---- stage 1: separating-axis test
  septol = margin + _BOXBOX_SEPEPS * (size1[0] + size1[1] + size1[2] + size2[0] + size2[1] + size2[2])
  sep_best = float(-1.0e30)
  code = int(-1)

  for i in range(3):
    radius2 = rotabs[i, 0] * size2[0] + rotabs[i, 1] * size2[1] + rotabs[i, 2] * size2[2]
    sep = wp.abs(pos21[i]) - size1[i] - radius2
    if sep > septol:
      return 0
    if sep > sep_best:
      sep_best = sep
      code = i
  for j in range(3):
    radius1 = rotabs[0, j] * size1[0] + rotabs[1, j] * size1[1] + rotabs[2, j] * size1[2]
    sep = wp.abs(pos12[j]) - size2[j] - radius1
    if sep > septol:
      return 0
    if sep > sep_best:
      sep_best = sep
      code = 3 + j
  sep_face = sep_best
  code_face = code

  for i in range(3):
    for j in range(3):
      i1 = (i + 1) % 3
      i2 = (i + 2) % 3
      ax1 = -rot[i2, j]
      ax2 = rot[i1, j]
      norm2 = ax1 * ax1 + ax2 * ax2
      if norm2 < _BOXBOX_PAREPS:
        continue
      inv = 1.0 / wp.sqrt(norm2)
      ax1 = ax1 * inv
      ax2 = ax2 * inv
      radius1 = size1[i1] * wp.abs(ax1) + size1[i2] * wp.abs(ax2)
      j1 = (j + 1) % 3
      j2 = (j + 2) % 3
      a2_1 = ax1 * rot[i1, j1] + ax2 * rot[i2, j1]
      a2_2 = ax1 * rot[i1, j2] + ax2 * rot[i2, j2]
      radius2 = size2[j1] * wp.abs(a2_1) + size2[j2] * wp.abs(a2_2)
      sep = wp.abs(ax1 * pos21[i1] + ax2 * pos21[i2]) - radius1 - radius2
      if sep > septol:
        return 0
      if sep - _BOXBOX_EDGEBIAS * wp.abs(sep) > sep_best and sep > sep_face:
        sep_best = sep
        code = 6 + 3 * i + j

  if code < 0:
    return 0

  # an edge axis nearly parallel to the best face axis yields to the face
  if code >= 6:
    i = (code - 6) // 3
    j = (code - 6) % 3
    axis = wp.vec3(0.0)
    axis[(i + 1) % 3] = -rot[(i + 2) % 3, j]
    axis[(i + 2) % 3] = rot[(i + 1) % 3, j]
    axis, _n = normalize3(axis)
    face_dot = float(0.0)
    if code_face < 3:
      face_dot = wp.abs(axis[code_face])
    else:
      f = code_face - 3
      face_dot = wp.abs(axis[0] * rot[0, f] + axis[1] * rot[1, f] + axis[2] * rot[2, f])
    if face_dot > 0.99 and sep_best < sep_face + 0.05 * wp.abs(sep_face) + MINVAL:
      code = code_face
      sep_best = sep_face

  # ---- stage 2a: edge-edge contact
  if code >= 6:
    i = (code - 6) // 3
    j = (code - 6) % 3
    i1 = (i + 1) % 3
    i2 = (i + 2) % 3
    j1 = (j + 1) % 3
    j2 = (j + 2) % 3
    axis = wp.vec3(0.0)
    axis[i1] = -rot[i2, j]
    axis[i2] = rot[i1, j]
    axis, _n = normalize3(axis)
    if wp.dot(axis, pos21) < 0.0:
      axis = -axis

    a2 = wp.transpose(rot) @ axis
    amb1 = int(-1)
    amb2 = int(-1)
    if wp.abs(axis[i1]) < _BOXBOX_SGNEPS:
      amb1 = i1
    elif wp.abs(axis[i2]) < _BOXBOX_SGNEPS:
      amb1 = i2
    if wp.abs(a2[j1]) < _BOXBOX_SGNEPS:
      amb2 = j1
    elif wp.abs(a2[j2]) < _BOXBOX_SGNEPS:
      amb2 = j2

    d2 = wp.vec3(rot[0, j], rot[1, j], rot[2, j])
    b = d2[i]
    denom = 1.0 - b * b
    w1 = wp.vec3(0.0)
    w2 = wp.vec3(0.0)
    best_d2 = float(1.0e30)
    n1 = int(1)
    if amb1 >= 0:
      n1 = 2
    n2 = int(1)
    if amb2 >= 0:
      n2 = 2
    for v1 in range(n1):
      for v2 in range(n2):
        c1 = wp.vec3(0.0)
        if axis[i1] >= 0.0:
          c1[i1] = size1[i1]
        else:
          c1[i1] = -size1[i1]
        if axis[i2] >= 0.0:
          c1[i2] = size1[i2]
        else:
          c1[i2] = -size1[i2]
        if amb1 >= 0 and v1 == 1:
          c1[amb1] = -c1[amb1]
        cc = wp.vec3(0.0)
        if a2[j1] >= 0.0:
          cc[j1] = -size2[j1]
        else:
          cc[j1] = size2[j1]
        if a2[j2] >= 0.0:
          cc[j2] = -size2[j2]
        else:
          cc[j2] = size2[j2]
        if amb2 >= 0 and v2 == 1:
          cc[amb2] = -cc[amb2]
        c2 = rot @ cc + pos21

        e = c2 - c1
        d1e = e[i]
        d2e = wp.dot(d2, e)
        s = float(0.0)
        if denom >= MINVAL:
          s = (d1e - b * d2e) / denom
        s = wp.clamp(s, -size1[i], size1[i])
        t = wp.clamp(b * s - d2e, -size2[j], size2[j])
        s = wp.clamp(d1e + b * t, -size1[i], size1[i])
        p1 = wp.vec3(c1)
        p1[i] = p1[i] + s
        p2 = c2 + d2 * t
        g = p2 - p1
        gap2 = wp.dot(g, g)
        if gap2 < best_d2:
          best_d2 = gap2
          w1 = wp.vec3(p1)
          w2 = wp.vec3(p2)

    dist = wp.dot(w2 - w1, axis)
    if dist > septol:
      return 0
    mid = (w1 + w2) * 0.5
    write_contact(out, worldid, slot, dist, mat1 @ mid + pos1, mat1 @ axis, wp.vec3(0.0))
    return 1

  # ---- stage 2b: face contact; reference box owns the winning face
  ref1 = code < 3
  a = code
  sizeref = size1
  sizeinc = size2
  posref = pos1
  matref = mat1
  posoi = pos21
  rinc = rot
  if not ref1:
    a = code - 3
    sizeref = size2
    sizeinc = size1
    posref = pos2
    matref = mat2
    posoi = pos12
    rinc = wp.transpose(rot)

  sgn = float(1.0)
  if posoi[a] < 0.0:
    sgn = -1.0

  # incident face: the face of the incident box most opposed to the reference normal
  binc = int(0)
  for k in range(1, 3):
    if wp.abs(rinc[a, k]) > wp.abs(rinc[a, binc]):
      binc = k
  tinc = float(1.0)
  if sgn * rinc[a, binc] > 0.0:
    tinc = -1.0

  ax = (a + 1) % 3
  ay = (a + 2) % 3
  bu = (binc + 1) % 3
  bv = (binc + 2) % 3
  cx = wp.vec3(0.0)
  du = wp.vec3(0.0)
  dv = wp.vec3(0.0)
  for r in range(3):
    c = a
    if r == 0:
      c = ax
    elif r == 1:
      c = ay
    cx[r] = posoi[c] + tinc * sizeinc[binc] * rinc[c, binc]
    du[r] = sizeinc[bu] * rinc[c, bu]
    dv[r] = sizeinc[bv] * rinc[c, bv]
  cx[2] = sgn * cx[2] - sizeref[a]
  du[2] = du[2] * sgn
  dv[2] = dv[2] * sgn

  poly = mat83()
  poly[0] = cx + du + dv
  poly[1] = cx - du + dv
  poly[2] = cx - du - dv
  poly[3] = cx + du - dv
  nvert = int(4)
  poly, nvert = _clip_half_plane(poly, nvert, 0, 1.0, sizeref[ax])
  poly, nvert = _clip_half_plane(poly, nvert, 0, -1.0, sizeref[ax])
  poly, nvert = _clip_half_plane(poly, nvert, 1, 1.0, sizeref[ay])
  poly, nvert = _clip_half_plane(poly, nvert, 1, -1.0, sizeref[ay])

  nsign = sgn
  if not ref1:
    nsign = -sgn
  normal = wp.vec3(matref[0, a], matref[1, a], matref[2, a]) * nsign

  # accept vertices within the margin band, dropping near-duplicates from corner clipping
  dupe2 = _BOXBOX_DUPEPS * (sizeref[ax] * sizeref[ax] + sizeref[ay] * sizeref[ay])
  accepted = mat83()
  naccept = int(0)
  for k in range(nvert):
    vk = poly[k]
    if vk[2] > margin:
      continue
    dupe = bool(False)
    for q in range(naccept):
      dx = accepted[q, 0] - vk[0]
      dy = accepted[q, 1] - vk[1]
      if dx * dx + dy * dy < dupe2:
        dupe = True
    if not dupe:
      accepted[naccept] = vk
      posc = wp.vec3(0.0)
      posc[ax] = vk[0]
      posc[ay] = vk[1]
      posc[a] = sgn * (sizeref[a] + 0.5 * vk[2])
      write_contact(out, worldid, slot + naccept, vk[2], matref @ posc + posref, normal,
                    wp.vec3(0.0))
      naccept += 1
  return naccept
