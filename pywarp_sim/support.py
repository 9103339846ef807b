"""Helpers shared by pipeline stages (MuJoCo's engine_support and engine_util_sparse):
apply_ft (mj_applyFT), solve_tree / solve_tree_row (mj_solveLD on the tree-sparse factor), and
the constraint rows' impedance and row writer (impedance, impedance_kb, add_row,
point_jac_row, clear_rows), which equality.py and constraint.py both write rows with.
Twin of kernels/support.h (apply_ft, solve_tree; the row helpers' C++ twins are in
kernels/constraint.h, the only native stage that writes rows)."""

import warp as wp

from . import math
from .types import vec5


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


# ---- constraint rows: impedance and the row writer (mj_makeImpedance), shared by the
# equality rows (equality.py) and the other rows (constraint.py); the native twins are in
# kernels/support.h too (impedance, impedance_kb, add_row, clear_row, point_jac_row)

_MINIMP = wp.constant(0.0001)  # mjMINIMP: impedance clamp
_MAXIMP = wp.constant(0.9999)  # mjMAXIMP


@wp.func
def impedance(solimp: vec5, pos: float, margin: float) -> float:
  """getimpedance: impedance of a constraint at violation pos - margin."""
  dmin = wp.min(_MAXIMP, wp.max(_MINIMP, solimp[0]))
  dmax = wp.min(_MAXIMP, wp.max(_MINIMP, solimp[1]))
  width = wp.max(0.0, solimp[2])
  mid = wp.min(_MAXIMP, wp.max(_MINIMP, solimp[3]))
  power = wp.max(1.0, solimp[4])
  if dmin == dmax or width <= 1e-15:
    return 0.5 * (dmin + dmax)
  x = wp.abs((pos - margin) / width)
  if x >= 1.0:
    return dmax
  if x <= 0.0:
    return dmin
  y = x
  if power != 1.0:
    if x <= mid:
      y = wp.pow(x, power) / wp.pow(mid, power - 1.0)
    else:
      y = 1.0 - wp.pow(1.0 - x, power) / wp.pow(1.0 - mid, power - 1.0)
  return dmin + y * (dmax - dmin)


@wp.func
def impedance_kb(solref: wp.vec2, solimp: vec5, timestep: float, refsafe: int) -> wp.vec2:
  """Stiffness K and damping B of the reference acceleration (mj_makeImpedance)."""
  dmax = wp.min(_MAXIMP, wp.max(_MINIMP, solimp[1]))
  tc = solref[0]
  dr = solref[1]
  if refsafe and tc > 0.0:
    tc = wp.max(tc, 2.0 * timestep)
  k = float(0.0)
  b = float(0.0)
  if tc > 0.0:
    k = 1.0 / wp.max(1e-15, dmax * dmax * tc * tc * dr * dr)
  else:
    k = -tc / wp.max(1e-15, dmax * dmax)
  if dr > 0.0:
    b = 2.0 / wp.max(1e-15, dmax * tc)
  else:
    b = -dr / wp.max(1e-15, dmax)
  return wp.vec2(k, b)


@wp.func
def add_row(worldid: int, row: int, type: int, id: int, pos: float, margin: float, frictionloss: float, diag_a: float,
            solref: wp.vec2, solimp: vec5, timestep: float, refsafe: int, is_friction: int,
            efc_type: wp.array2d(dtype=int), efc_id: wp.array2d(dtype=int), efc_pos: wp.array2d(dtype=float),
            efc_margin: wp.array2d(dtype=float), efc_frictionloss: wp.array2d(dtype=float),
            efc_R: wp.array2d(dtype=float), efc_K: wp.array2d(dtype=float), efc_B: wp.array2d(dtype=float)):
  """Writes row `row` of world `worldid` but its Jacobian: type, id, pos, margin, frictionloss,
  R from the impedance and diag_a (MuJoCo's diagApprox), K and B (K = 0 for friction rows)."""
  imp = impedance(solimp, pos, margin)
  kb = impedance_kb(solref, solimp, timestep, refsafe)
  efc_type[worldid, row] = type
  efc_id[worldid, row] = id
  efc_pos[worldid, row] = pos
  efc_margin[worldid, row] = margin
  efc_frictionloss[worldid, row] = frictionloss
  efc_R[worldid, row] = wp.max(1e-15, (1.0 - imp) * diag_a / imp)
  if is_friction:
    efc_K[worldid, row] = 0.0
  else:
    efc_K[worldid, row] = kb[0] * imp
  efc_B[worldid, row] = kb[1]


@wp.func
def point_jac_row(worldid: int, row: int, bodyid: int, sign: float, point: wp.vec3, dir: wp.vec3, rotational: int,
                  body_dofend: wp.array(dtype=int), body_rootid: wp.array(dtype=int),
                  dof_parentid: wp.array(dtype=int), cdof: wp.array2d(dtype=wp.spatial_vector),
                  subtree_com: wp.array2d(dtype=wp.vec3), efc_J: wp.array3d(dtype=float), scale: float):
  """efc_J[row] += sign * scale * dir . J(point on body), translational or rotational."""
  rel = point - subtree_com[worldid, body_rootid[bodyid]]
  dofid = body_dofend[bodyid]
  while dofid >= 0:
    c = cdof[worldid, dofid]
    ang = math.motion_ang(c)
    v = float(0.0)
    if rotational:
      v = wp.dot(dir, ang)
    else:
      v = wp.dot(dir, math.motion_lin(c) + wp.cross(ang, rel))
    efc_J[worldid, row, dofid] = efc_J[worldid, row, dofid] + sign * scale * v
    dofid = dof_parentid[dofid]


@wp.func
def clear_rows(worldid: int, row: int, nrows: int, nv: int, efc_J: wp.array3d(dtype=float)):
  """Zeroes efc_J rows row .. row + nrows - 1 of world `worldid` before they are summed into."""
  for r in range(row, row + nrows):
    for i in range(nv):
      efc_J[worldid, r, i] = 0.0
