"""Helpers shared by pipeline stages (MuJoCo's engine_support)."""

import warp as wp

from . import math


@wp.func
def apply_ft(
  worldid: int,
  bodyid: int,
  point: wp.vec3,
  force: wp.vec3,
  torque: wp.vec3,
  body_dofend: wp.array(dtype=int),
  body_rootid: wp.array(dtype=int),
  dof_parentid: wp.array(dtype=int),
  cdof: wp.array2d(dtype=wp.spatial_vector),
  subtree_com: wp.array2d(dtype=wp.vec3),
  qfrc: wp.array2d(dtype=float),
):
  """mj_applyFT: qfrc += J(point)^T [force; torque] for a point on body `bodyid`."""
  rel = point - subtree_com[worldid, body_rootid[bodyid]]
  dofid = body_dofend[bodyid]
  while dofid >= 0:
    qfrc[worldid, dofid] = qfrc[worldid, dofid] + math.point_jac_dot(cdof[worldid, dofid], rel, force, torque)
    dofid = dof_parentid[dofid]
