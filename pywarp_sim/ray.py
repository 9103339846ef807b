"""Rays against geoms: MuJoCo's engine_ray.c (mju_rayGeom, mj_rayMesh, mj_ray) as Warp functions.

A ray is pnt + x vec, x >= 0; every function returns the smallest such x at which the ray meets
the shape's surface (a ray starting inside a closed shape meets it on the way out), or -1 when
it misses. Same formulas and order as MuJoCo, in float32:
  ray_geom   plane (its front face, within its rendered rectangle when it has one), sphere,
             capsule, ellipsoid, cylinder, box
  ray_mesh   the mesh's triangles (mesh_face), after MuJoCo's bounding-box test on geom_size;
             MuJoCo prunes the triangles with its BVH, which selects the same nearest triangle,
             here every triangle is tried
  ray        mj_ray(pnt, vec, geomgroup=NULL, flg_static=1, bodyexclude): the nearest geom
             that is visible (geom_rayvisible: its rgba's, or its material's, alpha > 0) and
             not on body bodyexclude; (distance, geom id), (-1, -1) when nothing is hit
Height fields are not intersected: io refuses a rangefinder on a model with one, by name.
sensor.py's touch zones (ray_geom on a site) and rangefinders (ray) read this module.
"""

import warp as wp

from .types import GeomType

_PLANE = wp.constant(int(GeomType.PLANE))
_SPHERE = wp.constant(int(GeomType.SPHERE))
_CAPSULE = wp.constant(int(GeomType.CAPSULE))
_ELLIPSOID = wp.constant(int(GeomType.ELLIPSOID))
_CYLINDER = wp.constant(int(GeomType.CYLINDER))
_BOX = wp.constant(int(GeomType.BOX))
_MESH = wp.constant(int(GeomType.MESH))

MINVAL = wp.constant(1e-15)  # mjMINVAL: below it a denominator is zero


@wp.func
def _ray_quad(a: float, b: float, c: float) -> wp.vec2:
  """Both roots of a x^2 + 2 b x + c = 0 (x0 <= x1), (-1, -1) when none is real."""
  det = b * b - a * c
  if det < 0.0 or a < MINVAL:
    return wp.vec2(-1.0, -1.0)
  det = wp.sqrt(det)
  return wp.vec2((-b - det) / a, (-b + det) / a)


@wp.func
def _smallest_nonneg(x: wp.vec2) -> float:
  if x[0] >= 0.0:
    return x[0]
  if x[1] >= 0.0:
    return x[1]
  return -1.0


@wp.func
def _ray_sphere(pos: wp.vec3, r2: float, pnt: wp.vec3, vec: wp.vec3) -> float:
  dif = pnt - pos
  return _smallest_nonneg(_ray_quad(wp.dot(vec, vec), wp.dot(vec, dif), wp.dot(dif, dif) - r2))


@wp.func
def _ray_box_local(size: wp.vec3, lp: wp.vec3, lv: wp.vec3) -> float:
  """The box's faces in its frame (after the bounding-sphere test)."""
  x = float(-1.0)
  for i in range(3):
    if wp.abs(lv[i]) > MINVAL:
      j = (i + 1) % 3
      k = (i + 2) % 3
      for side in range(2):
        sgn = 2.0 * float(side) - 1.0
        sol = (sgn * size[i] - lp[i]) / lv[i]
        if sol >= 0.0:
          if wp.abs(lp[j] + sol * lv[j]) <= size[j] and wp.abs(lp[k] + sol * lv[k]) <= size[k]:
            if x < 0.0 or sol < x:
              x = sol
  return x


@wp.func
def ray_box(pos: wp.vec3, mat: wp.mat33, size: wp.vec3, pnt: wp.vec3, vec: wp.vec3) -> float:
  """ray_box: the box of half sizes `size` at (pos, mat)."""
  if _ray_sphere(pos, wp.dot(size, size), pnt, vec) < 0.0:
    return -1.0
  mt = wp.transpose(mat)
  return _ray_box_local(size, mt @ (pnt - pos), mt @ vec)


@wp.func
def ray_geom(pos: wp.vec3, mat: wp.mat33, size: wp.vec3, pnt: wp.vec3, vec: wp.vec3, gtype: int) -> float:
  """mju_rayGeom for plane, sphere, capsule, ellipsoid, cylinder and box: distance from pnt
  along vec to the shape (pos, mat, size), -1 when the ray misses it."""
  if gtype == _SPHERE:
    return _ray_sphere(pos, size[0] * size[0], pnt, vec)
  if gtype == _BOX:
    return ray_box(pos, mat, size, pnt, vec)
  # the others in the shape's frame
  mt = wp.transpose(mat)
  lp = mt @ (pnt - pos)
  lv = mt @ vec
  x = float(-1.0)
  if gtype == _PLANE:
    # only towards the front face, within the rendered rectangle (size <= 0: unbounded)
    if lv[2] > -MINVAL:
      return -1.0
    x = -lp[2] / lv[2]
    if x < 0.0:
      return -1.0
    p0 = lp[0] + x * lv[0]
    p1 = lp[1] + x * lv[1]
    if (size[0] <= 0.0 or wp.abs(p0) <= size[0]) and (size[1] <= 0.0 or wp.abs(p1) <= size[1]):
      return x
    return -1.0
  if gtype == _ELLIPSOID:
    s = wp.vec3(1.0 / (size[0] * size[0]), 1.0 / (size[1] * size[1]), 1.0 / (size[2] * size[2]))
    a = s[0] * lv[0] * lv[0] + s[1] * lv[1] * lv[1] + s[2] * lv[2] * lv[2]
    b = s[0] * lv[0] * lp[0] + s[1] * lv[1] * lp[1] + s[2] * lv[2] * lp[2]
    c = s[0] * lp[0] * lp[0] + s[1] * lp[1] * lp[1] + s[2] * lp[2] * lp[2] - 1.0
    return _smallest_nonneg(_ray_quad(a, b, c))
  if gtype == _CAPSULE:
    r = size[0] + size[1]
    if _ray_sphere(pos, r * r, pnt, vec) < 0.0:
      return -1.0
    # round side between the flat ends
    a = lv[0] * lv[0] + lv[1] * lv[1]
    sol = _smallest_nonneg(_ray_quad(a, lv[0] * lp[0] + lv[1] * lp[1], lp[0] * lp[0] + lp[1] * lp[1]
                                     - size[0] * size[0]))
    if sol >= 0.0 and wp.abs(lp[2] + sol * lv[2]) <= size[1]:
      x = sol
    # the caps: top half of the top sphere, bottom half of the bottom sphere
    aa = wp.dot(lv, lv)
    for side in range(2):
      sgn = 1.0 - 2.0 * float(side)
      ld = wp.vec3(lp[0], lp[1], lp[2] - sgn * size[1])
      xx = _ray_quad(aa, wp.dot(lv, ld), wp.dot(ld, ld) - size[0] * size[0])
      for i in range(2):
        if xx[i] >= 0.0 and sgn * (lp[2] + xx[i] * lv[2]) >= size[1]:
          if x < 0.0 or xx[i] < x:
            x = xx[i]
    return x
  if gtype == _CYLINDER:
    if _ray_sphere(pos, size[0] * size[0] + size[1] * size[1], pnt, vec) < 0.0:
      return -1.0
    if wp.abs(lv[2]) > MINVAL:
      for side in range(2):
        sgn = 2.0 * float(side) - 1.0
        sol = (sgn * size[1] - lp[2]) / lv[2]
        if sol >= 0.0:
          p0 = lp[0] + sol * lv[0]
          p1 = lp[1] + sol * lv[1]
          if p0 * p0 + p1 * p1 <= size[0] * size[0]:
            if x < 0.0 or sol < x:
              x = sol
    a = lv[0] * lv[0] + lv[1] * lv[1]
    sol = _smallest_nonneg(_ray_quad(a, lv[0] * lp[0] + lv[1] * lp[1], lp[0] * lp[0] + lp[1] * lp[1]
                                     - size[0] * size[0]))
    if sol >= 0.0 and wp.abs(lp[2] + sol * lv[2]) <= size[1]:
      if x < 0.0 or sol < x:
        x = sol
    return x
  return -1.0


@wp.func
def ray_triangle(v0: wp.vec3, v1: wp.vec3, v2: wp.vec3, lp: wp.vec3, lv: wp.vec3, b0: wp.vec3,
                 b1: wp.vec3) -> float:
  """ray_triangle: the triangle's plane hit inside the triangle, in the mesh frame; b0, b1 span
  the plane normal to lv (the origin's projection is tested against the projected triangle)."""
  d0 = v0 - lp
  d1 = v1 - lp
  d2 = v2 - lp
  p00 = wp.dot(b0, d0)
  p01 = wp.dot(b1, d0)
  p10 = wp.dot(b0, d1)
  p11 = wp.dot(b1, d1)
  p20 = wp.dot(b0, d2)
  p21 = wp.dot(b1, d2)
  # all three on one side of an axis: missed
  if (p00 > 0.0 and p10 > 0.0 and p20 > 0.0) or (p00 < 0.0 and p10 < 0.0 and p20 < 0.0):
    return -1.0
  if (p01 > 0.0 and p11 > 0.0 and p21 > 0.0) or (p01 < 0.0 and p11 < 0.0 and p21 < 0.0):
    return -1.0
  # origin in the projected triangle: A t = -p2, A = (p0 - p2, p1 - p2)
  a0 = p00 - p20
  a1 = p10 - p20
  a2 = p01 - p21
  a3 = p11 - p21
  det = a0 * a3 - a1 * a2
  if wp.abs(det) < MINVAL:
    return -1.0
  t0 = (a3 * (-p20) - a1 * (-p21)) / det
  t1 = (-a2 * (-p20) + a0 * (-p21)) / det
  if t0 < 0.0 or t1 < 0.0 or t0 + t1 > 1.0:
    return -1.0
  nrm = wp.cross(v0 - v2, v1 - v2)
  denom = wp.dot(lv, nrm)
  if wp.abs(denom) < MINVAL:
    return -1.0
  return -wp.dot(lp - v2, nrm) / denom


@wp.func
def ray_mesh(pos: wp.vec3, mat: wp.mat33, size: wp.vec3, pnt: wp.vec3, vec: wp.vec3, vertadr: int,
             faceadr: int, facenum: int, mesh_vert: wp.array(dtype=wp.vec3),
             mesh_face: wp.array2d(dtype=int)) -> float:
  """mj_rayMesh: the nearest of the mesh's triangles (vertices in the geom frame), after the
  bounding-box test on the geom's size."""
  if ray_box(pos, mat, size, pnt, vec) < 0.0:
    return -1.0
  mt = wp.transpose(mat)
  lp = mt @ (pnt - pos)
  lv = mt @ vec
  # basis of the plane normal to lv: drop lv's largest component from (1, 1, 1), as MuJoCo
  b0 = wp.vec3(1.0, 1.0, 1.0)
  if wp.abs(lv[0]) >= wp.abs(lv[1]) and wp.abs(lv[0]) >= wp.abs(lv[2]):
    b0[0] = 0.0
  elif wp.abs(lv[1]) >= wp.abs(lv[2]):
    b0[1] = 0.0
  else:
    b0[2] = 0.0
  b1 = wp.normalize(b0 - lv * (wp.dot(lv, b0) / wp.dot(lv, lv)))
  b0 = wp.normalize(wp.cross(b1, lv))
  x = float(-1.0)
  for f in range(faceadr, faceadr + facenum):
    sol = ray_triangle(mesh_vert[vertadr + mesh_face[f, 0]], mesh_vert[vertadr + mesh_face[f, 1]],
                       mesh_vert[vertadr + mesh_face[f, 2]], lp, lv, b0, b1)
    if sol >= 0.0 and (x < 0.0 or sol < x):
      x = sol
  return x


@wp.func
def ray(worldid: int, pnt: wp.vec3, vec: wp.vec3, bodyexclude: int, ngeom: int,
        geom_type: wp.array(dtype=int), geom_bodyid: wp.array(dtype=int), geom_size: wp.array(dtype=wp.vec3),
        geom_rayvisible: wp.array(dtype=int), geom_dataid: wp.array(dtype=int),
        mesh_vertadr: wp.array(dtype=int), mesh_faceadr: wp.array(dtype=int), mesh_facenum: wp.array(dtype=int),
        mesh_vert: wp.array(dtype=wp.vec3), mesh_face: wp.array2d(dtype=int),
        geom_xpos: wp.array2d(dtype=wp.vec3), geom_xmat: wp.array2d(dtype=wp.mat33)) -> wp.vec2:
  """mj_ray with every geom group and static geoms: (distance, geom id as float) of the nearest
  visible geom not on bodyexclude, (-1, -1) when the ray hits none."""
  dist = float(-1.0)
  hit = int(-1)
  for g in range(ngeom):
    if geom_bodyid[g] == bodyexclude or geom_rayvisible[g] == 0:
      continue
    x = float(-1.0)
    if geom_type[g] == _MESH:
      mid = geom_dataid[g]
      x = ray_mesh(geom_xpos[worldid, g], geom_xmat[worldid, g], geom_size[g], pnt, vec, mesh_vertadr[mid],
                   mesh_faceadr[mid], mesh_facenum[mid], mesh_vert, mesh_face)
    else:
      x = ray_geom(geom_xpos[worldid, g], geom_xmat[worldid, g], geom_size[g], pnt, vec, geom_type[g])
    if x >= 0.0 and (dist < 0.0 or x < dist):
      dist = x
      hit = g
  return wp.vec2(dist, float(hit))
