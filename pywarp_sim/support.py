"""Helpers shared by pipeline stages (MuJoCo's engine_support and engine_util_sparse):
apply_ft (mj_applyFT), solve_tree / solve_tree_row (mj_solveLD on the tree-sparse factor)."""

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


@wp.func
def solve_tree(worldid: int, nv: int, dof_parentid: wp.array(dtype=int),
               qLD: wp.array3d(dtype=float), qLDiagInv: wp.array2d(dtype=float),
               x: wp.array2d(dtype=float)):
  """x[worldid] <- (L'DL)^-1 x[worldid] in place (mj_solveLD)."""
  solve_tree_row(worldid, worldid, nv, dof_parentid, qLD, qLDiagInv, x)


@wp.func
def solve_tree_row(worldid: int, row: int, nv: int, dof_parentid: wp.array(dtype=int),
                   qLD: wp.array3d(dtype=float), qLDiagInv: wp.array2d(dtype=float),
                   x: wp.array2d(dtype=float)):
  """x[row] <- (L'DL)^-1 x[row] in place, with the factor of world `worldid`."""
  for r in range(nv):
    i = nv - 1 - r
    xi = x[row, i]
    j = dof_parentid[i]
    while j >= 0:
      x[row, j] = x[row, j] - qLD[worldid, i, j] * xi
      j = dof_parentid[j]
  for i in range(nv):
    x[row, i] = x[row, i] * qLDiagInv[worldid, i]
  for i in range(nv):
    acc = x[row, i]
    j = dof_parentid[i]
    while j >= 0:
      acc -= qLD[worldid, i, j] * x[row, j]
      j = dof_parentid[j]
    x[row, i] = acc
