"""PGS on the dual (MuJoCo's mj_solPGS): the solve stage's projected Gauss-Seidel solver.
Twin of kernels/pgs.h.

Minimises, per world, the dual of the constraint problem

  0.5 f' (J M^-1 J' + R) f + f' (J qacc_smooth - aref)

over the feasible forces (dof and tendon friction in [-floss, floss], limits and contacts
>= 0, elliptic contact blocks in their cone, equality rows unprojected), one scalar row or
elliptic contact block at a time (a block with MuJoCo's ray + friction-QCQP update), in
MuJoCo's PCG32-shuffled block order with Nesterov momentum, from the warm-start forces;
qacc = qacc_smooth + M^-1 J' f.

Part of the solve stage, not a stage of its own: solver.solve runs one kernel for every
solver type, and that kernel calls `solve_pgs` for opt.solver = PGS (as mj_fwdConstraint
dispatches to mj_solPGS), after it has formed aref and, with warm start, the constraint
forces at qacc_warmstart (mj_constraintUpdate, solver.py's _solver_eval). So solver.py
imports this module; this module imports no stage.
"""

import warp as wp

from . import support
from .types import ConstraintType

_EQUALITY = wp.constant(int(ConstraintType.EQUALITY))
_FRICTION = wp.constant(int(ConstraintType.FRICTION_DOF))
_FRICTION_TENDON = wp.constant(int(ConstraintType.FRICTION_TENDON))
_ELLIPTIC = wp.constant(int(ConstraintType.CONTACT_ELLIPTIC))

_mat55 = wp.types.matrix(shape=(5, 5), dtype=float)
_mat66 = wp.types.matrix(shape=(6, 6), dtype=float)
_vec5 = wp.types.vector(length=5, dtype=float)
_vec6 = wp.types.vector(length=6, dtype=float)


@wp.func
def _pgs_chol_solve(L: _mat55, b: _vec5, k: int) -> _vec5:
  """x = (L L')^-1 b for the leading k x k block."""
  y = _vec5()
  for i in range(k):
    t = b[i]
    for j in range(i):
      t -= L[i, j] * y[j]
    y[i] = t / L[i, i]
  x = _vec5()
  for ii in range(k):
    i = k - 1 - ii
    t = y[i]
    for j in range(i + 1, k):
      t -= L[j, i] * x[j]
    x[i] = t / L[i, i]
  return x


@wp.func
def _pgs_qcqp(A: _mat55, b: _vec5, dscale: _vec5, r: float, k: int) -> _vec5:
  """min 0.5 x'Ax + x'b  s.t.  sum (x_i / d_i)^2 <= r^2 (mju_QCQP): Newton on the multiplier
  of the scaled problem, then projection onto the ellipsoid when the constraint is active."""
  As = _mat55()
  bs = _vec5()
  for i in range(k):
    bs[i] = b[i] * dscale[i]
    for j in range(k):
      As[i, j] = A[i, j] * dscale[i] * dscale[j]
  la = float(0.0)
  v = _vec5()
  for it in range(20):
    L = _mat55()
    spd = int(1)
    for j in range(k):
      sjj = As[j, j] + la
      for m in range(j):
        sjj -= L[j, m] * L[j, m]
      if sjj < 1e-10:
        spd = 0
      else:
        L[j, j] = wp.sqrt(sjj)
        for i in range(j + 1, k):
          t = As[i, j]
          for m in range(j):
            t -= L[i, m] * L[j, m]
          L[i, j] = t / L[j, j]
    if spd == 0:
      return _vec5()
    v = -_pgs_chol_solve(L, bs, k)
    val = wp.dot(v, v) - r * r
    if val < 1e-10:
      break
    z = _pgs_chol_solve(L, v, k)
    delta = val / (2.0 * wp.dot(v, z))
    if delta < 1e-10:
      break
    la += delta
  res = _vec5()
  norm = wp.length(v)
  for i in range(k):
    res[i] = v[i] * dscale[i]
    if la != 0.0 and norm > 0.0:
      res[i] = res[i] * r / norm
  return res


@wp.func
def _pgs_elliptic(worldid: int, r: int, nv: int, dof_parentid: wp.array(dtype=int),
                  qLD: wp.array3d(dtype=float), qLDiagInv: wp.array2d(dtype=float),
                  qacc_smooth: wp.array2d(dtype=float), efc_J: wp.array3d(dtype=float),
                  efc_R: wp.array2d(dtype=float), efc_aref: wp.array2d(dtype=float),
                  efc_dim: wp.array2d(dtype=int), efc_coef: wp.array2d(dtype=float),
                  efc_force: wp.array2d(dtype=float), v: wp.array2d(dtype=float),
                  MinvJ: wp.array2d(dtype=float)) -> float:
  """One PGS update of an elliptic contact block (MuJoCo's mj_solPGS): a ray update of the
  whole force (or a normal update from zero), then the friction forces with the normal fixed
  from the QCQP on the friction ellipse; an update that raises the cost is undone. Keeps
  v = M^-1 J' f; returns the cost decrease."""
  dim = efc_dim[worldid, r]
  k = dim - 1
  for a in range(dim):
    for i in range(nv):
      MinvJ[6 * worldid + a, i] = efc_J[worldid, r + a, i]
    support.solve_tree_row(worldid, 6 * worldid + a, nv, dof_parentid, qLD, qLDiagInv, MinvJ)
  A = _mat66()
  res = _vec6()
  old = _vec6()
  for a in range(dim):
    old[a] = efc_force[worldid, r + a]
    t = efc_R[worldid, r + a] * old[a] - efc_aref[worldid, r + a]
    for i in range(nv):
      t += efc_J[worldid, r + a, i] * (qacc_smooth[worldid, i] + v[worldid, i])
    res[a] = t
    for b in range(dim):
      acc = float(0.0)
      for i in range(nv):
        acc += efc_J[worldid, r + a, i] * MinvJ[6 * worldid + b, i]
      A[a, b] = acc
    A[a, a] = A[a, a] + efc_R[worldid, r + a]
  f = _vec6()
  for a in range(dim):
    f[a] = old[a]
  if f[0] < 1e-15:
    f[0] = wp.max(0.0, f[0] - res[0] / A[0, 0])
    for a in range(1, dim):
      f[a] = 0.0
  else:
    denom = float(0.0)
    vres = float(0.0)
    for a in range(dim):
      vres += f[a] * res[a]
      for b in range(dim):
        denom += f[a] * A[a, b] * f[b]
    if denom >= 1e-15:
      x = -vres / denom
      if f[0] + x * f[0] < 0.0:
        x = -1.0
      for a in range(dim):
        f[a] = f[a] + x * old[a]
  # friction update with the normal fixed
  if f[0] < 1e-15:
    for a in range(1, dim):
      f[a] = 0.0
  else:
    Ac = _mat55()
    bc = _vec5()
    mu = _vec5()
    for a in range(k):
      mu[a] = efc_coef[worldid, r + 1 + a]
      t = res[a + 1] + A[a + 1, 0] * (f[0] - old[0])
      for b in range(k):
        Ac[a, b] = A[a + 1, b + 1]
        t -= A[a + 1, b + 1] * old[b + 1]
      bc[a] = t
    fric = _pgs_qcqp(Ac, bc, mu, f[0], k)
    for a in range(k):
      f[a + 1] = fric[a]
  # cost change of the block; a rise (the ray and friction updates are not a joint minimum)
  # restores the old force, as MuJoCo's costChange
  change = float(0.0)
  for a in range(dim):
    delta = f[a] - old[a]
    change += delta * res[a]
    for b in range(dim):
      change += 0.5 * delta * A[a, b] * (f[b] - old[b])
  if change > 1e-10:
    return 0.0
  # apply: v += M^-1 J' (f - old)
  for a in range(dim):
    delta = f[a] - old[a]
    efc_force[worldid, r + a] = f[a]
    if delta != 0.0:
      for i in range(nv):
        v[worldid, i] = v[worldid, i] + delta * MinvJ[6 * worldid + a, i]
  return -change


@wp.func
def _pgs_pcg32_next(state: wp.uint64) -> wp.uint64:
  """PCG32 state advance with MuJoCo's stream (inc = 1): mj_solPGS's shuffle generator."""
  return state * wp.uint64(6364136223846793005) + wp.uint64(1)


@wp.func
def _pgs_pcg32_output(old: wp.uint64) -> wp.uint32:
  """PCG32's XSH-RR output of the state before an advance."""
  x = wp.uint32(((old >> wp.uint64(18)) ^ old) >> wp.uint64(27))
  rot = wp.uint32(old >> wp.uint64(59))
  return (x >> rot) | (x << ((wp.uint32(32) - rot) & wp.uint32(31)))


@wp.func
def _pgs_force_to_v(worldid: int, nv: int, nefc: int, dof_parentid: wp.array(dtype=int),
                    qLD: wp.array3d(dtype=float), qLDiagInv: wp.array2d(dtype=float),
                    efc_J: wp.array3d(dtype=float), efc_force: wp.array2d(dtype=float),
                    v: wp.array2d(dtype=float)):
  """v = M^-1 J' force: the acceleration the dual forces add to qacc_smooth."""
  for i in range(nv):
    acc = float(0.0)
    for r in range(nefc):
      acc += efc_J[worldid, r, i] * efc_force[worldid, r]
    v[worldid, i] = acc
  support.solve_tree(worldid, nv, dof_parentid, qLD, qLDiagInv, v)


@wp.func
def _pgs_project(worldid: int, nefc: int, efc_type: wp.array2d(dtype=int), efc_floss: wp.array2d(dtype=float),
                 efc_dim: wp.array2d(dtype=int), efc_coef: wp.array2d(dtype=float),
                 efc_force: wp.array2d(dtype=float)):
  """Projects the dual forces onto their feasible sets (MuJoCo's projectCone after the
  momentum step): friction into [-floss, floss], limits and contacts to >= 0, elliptic
  friction scaled into the cone (a negative normal zeroes the block)."""
  r = int(0)
  while r < nefc:
    type = efc_type[worldid, r]
    if type == _FRICTION or type == _FRICTION_TENDON:
      floss = efc_floss[worldid, r]
      efc_force[worldid, r] = wp.clamp(efc_force[worldid, r], -floss, floss)
      r += 1
    elif type == _ELLIPTIC:
      dim = efc_dim[worldid, r]
      fn = efc_force[worldid, r]
      if fn < 0.0:
        for j in range(dim):
          efc_force[worldid, r + j] = 0.0
      else:
        s = float(0.0)
        for j in range(1, dim):
          ft = efc_force[worldid, r + j] / efc_coef[worldid, r + j]
          s += ft * ft
        if s > fn * fn:
          scl = wp.sqrt(fn * fn / wp.max(1e-15, s))
          for j in range(1, dim):
            efc_force[worldid, r + j] = efc_force[worldid, r + j] * scl
      r += dim
    else:
      if type != _EQUALITY:
        efc_force[worldid, r] = wp.max(0.0, efc_force[worldid, r])
      r += 1


@wp.func
def _pgs_dual_state(worldid: int, nefc: int, efc_type: wp.array2d(dtype=int), efc_floss: wp.array2d(dtype=float),
                    efc_dim: wp.array2d(dtype=int), efc_coef: wp.array2d(dtype=float),
                    efc_force: wp.array2d(dtype=float), efc_state: wp.array2d(dtype=int)):
  """efc_state from the dual forces (MuJoCo's dualState): friction linear at its bounds,
  limits and contacts quadratic when pushing, an elliptic block satisfied inside the cone,
  quadratic below its dual cone, cone state between."""
  r = int(0)
  while r < nefc:
    type = efc_type[worldid, r]
    f = efc_force[worldid, r]
    if type == _FRICTION or type == _FRICTION_TENDON:
      state = int(1)
      if wp.abs(f) >= efc_floss[worldid, r]:
        state = 2
      efc_state[worldid, r] = state
      r += 1
    elif type == _ELLIPTIC:
      dim = efc_dim[worldid, r]
      mu = efc_coef[worldid, r]
      n = f / mu
      tt = float(0.0)
      for j in range(1, dim):
        ft = efc_force[worldid, r + j] / efc_coef[worldid, r + j]
        tt += ft * ft
      t = wp.sqrt(tt)
      state = int(3)
      if mu * n >= t:
        state = 0
      elif n + mu * t <= 0.0:
        state = 1
      for j in range(dim):
        efc_state[worldid, r + j] = state
      r += dim
    else:
      state = int(0)
      if f > 0.0 or type == _EQUALITY:
        state = 1
      efc_state[worldid, r] = state
      r += 1


@wp.func
def solve_pgs(
  worldid: int,
  nv: int,
  nefc: int,
  iterations: int,
  tolerance: float,
  scale: float,
  warmstart: int,
  dof_parentid: wp.array(dtype=int),
  qLD_in: wp.array3d(dtype=float),
  qLDiagInv_in: wp.array2d(dtype=float),
  qacc_smooth_in: wp.array2d(dtype=float),
  efc_type_in: wp.array2d(dtype=int),
  efc_J_in: wp.array3d(dtype=float),
  efc_frictionloss_in: wp.array2d(dtype=float),
  efc_R_in: wp.array2d(dtype=float),
  efc_dim_in: wp.array2d(dtype=int),
  efc_coef_in: wp.array2d(dtype=float),
  efc_aref_in: wp.array2d(dtype=float),
  qacc_out: wp.array2d(dtype=float),
  efc_force_out: wp.array2d(dtype=float),
  efc_jar_out: wp.array2d(dtype=float),
  efc_jv_out: wp.array2d(dtype=float),
  efc_state_out: wp.array2d(dtype=int),
  pgs_MinvJ_out: wp.array2d(dtype=float),
  Mgrad_out: wp.array2d(dtype=float),
  search_out: wp.array2d(dtype=float),
  converged_out: wp.array(dtype=int),
) -> int:
  """mj_solPGS for world `worldid` (nefc > 0): min_f 0.5 f'(J M^-1 J' + R) f + f'(J qacc_smooth
  - aref), one row (or elliptic block, _pgs_elliptic) at a time in a PCG32-shuffled order per
  sweep, with Nesterov momentum restarted when the sweep's correction opposes the
  extrapolation. Both matter beyond speed: from a zero normal force an elliptic block only
  tries the normal alone, so a fixed sweep order can stall at a non-optimal point that
  MuJoCo's order steps past. Starts from efc_force as the caller left it (the forces of
  mj_constraintUpdate at qacc_warmstart, or zero), kept if their dual cost is negative (better
  than f = 0). v = M^-1 J' f is kept (in search) so a row residual costs O(nv); Mgrad holds
  M^-1 J_r' of the scalar row being updated, pgs_MinvJ that of an elliptic block's rows.
  Scratch: efc_state holds the block order until the final dual state, efc_jar the force
  before the momentum step, efc_jv the extrapolated force.

  Writes efc_force, efc_state (the dual state), qacc (nworld, nv) and converged; returns the
  number of sweeps."""
  niter = int(0)
  _pgs_force_to_v(worldid, nv, nefc, dof_parentid, qLD_in, qLDiagInv_in, efc_J_in, efc_force_out, search_out)
  if warmstart:
    dual = float(0.0)
    for r in range(nefc):
      ar_f = efc_R_in[worldid, r] * efc_force_out[worldid, r]
      b = -efc_aref_in[worldid, r]
      for i in range(nv):
        ar_f += efc_J_in[worldid, r, i] * search_out[worldid, i]
        b += efc_J_in[worldid, r, i] * qacc_smooth_in[worldid, i]
      dual += efc_force_out[worldid, r] * (b + 0.5 * ar_f)
    if not (dual <= 0.0):
      for r in range(nefc):
        efc_force_out[worldid, r] = 0.0
      for i in range(nv):
        search_out[worldid, i] = 0.0
  nblock = int(0)
  r = int(0)
  while r < nefc:
    efc_state_out[worldid, nblock] = r
    nblock += 1
    if efc_type_in[worldid, r] == _ELLIPTIC:
      r += efc_dim_in[worldid, r]
    else:
      r += 1
  rng = _pgs_pcg32_next(wp.uint64(0))
  for r in range(nefc):
    efc_jar_out[worldid, r] = efc_force_out[worldid, r]
  nesterov_k = int(0)
  while niter < iterations:
    beta = float(0.0)
    if niter > 0:
      beta = float(nesterov_k - 1) / float(nesterov_k + 2)
    if beta > 0.0:
      for r in range(nefc):
        f = efc_force_out[worldid, r]
        efc_force_out[worldid, r] = f + beta * (f - efc_jar_out[worldid, r])
        efc_jar_out[worldid, r] = f
      _pgs_project(worldid, nefc, efc_type_in, efc_frictionloss_in, efc_dim_in, efc_coef_in, efc_force_out)
      _pgs_force_to_v(worldid, nv, nefc, dof_parentid, qLD_in, qLDiagInv_in, efc_J_in, efc_force_out,
                      search_out)
    else:
      for r in range(nefc):
        efc_jar_out[worldid, r] = efc_force_out[worldid, r]
    for r in range(nefc):
      efc_jv_out[worldid, r] = efc_force_out[worldid, r]
    # Fisher-Yates shuffle of the block order (MuJoCo's shuffle_int)
    for ii in range(nblock - 1):
      i = nblock - 1 - ii
      old = rng
      rng = _pgs_pcg32_next(rng)
      j = int(_pgs_pcg32_output(old) % wp.uint32(i + 1))
      tmp = efc_state_out[worldid, i]
      efc_state_out[worldid, i] = efc_state_out[worldid, j]
      efc_state_out[worldid, j] = tmp
    improvement = float(0.0)
    for bi in range(nblock):
      r = efc_state_out[worldid, bi]
      if efc_type_in[worldid, r] == _ELLIPTIC:
        improvement += _pgs_elliptic(worldid, r, nv, dof_parentid, qLD_in, qLDiagInv_in, qacc_smooth_in,
                                     efc_J_in, efc_R_in, efc_aref_in, efc_dim_in, efc_coef_in,
                                     efc_force_out, search_out, pgs_MinvJ_out)
        continue
      for i in range(nv):
        Mgrad_out[worldid, i] = efc_J_in[worldid, r, i]
      support.solve_tree(worldid, nv, dof_parentid, qLD_in, qLDiagInv_in, Mgrad_out)
      a = efc_R_in[worldid, r]
      res = efc_R_in[worldid, r] * efc_force_out[worldid, r] - efc_aref_in[worldid, r]
      for i in range(nv):
        jr = efc_J_in[worldid, r, i]
        a += jr * Mgrad_out[worldid, i]
        res += jr * (qacc_smooth_in[worldid, i] + search_out[worldid, i])
      f = efc_force_out[worldid, r]
      fnew = f - res / a
      if efc_type_in[worldid, r] == _FRICTION or efc_type_in[worldid, r] == _FRICTION_TENDON:
        floss = efc_frictionloss_in[worldid, r]
        fnew = wp.clamp(fnew, -floss, floss)
      elif efc_type_in[worldid, r] != _EQUALITY:
        fnew = wp.max(0.0, fnew)
      delta = fnew - f
      change = 0.5 * a * delta * delta + delta * res
      if delta != 0.0 and change <= 1e-10:
        efc_force_out[worldid, r] = fnew
        for i in range(nv):
          search_out[worldid, i] = search_out[worldid, i] + delta * Mgrad_out[worldid, i]
        improvement -= change
    # momentum restart (O'Donoghue-Candes) when the sweep's correction opposes the extrapolation
    if niter > 0:
      dot = float(0.0)
      for r in range(nefc):
        mom = efc_jv_out[worldid, r]
        dot += (efc_force_out[worldid, r] - mom) * (mom - efc_jar_out[worldid, r])
      if dot < 0.0:
        nesterov_k = 0
      else:
        nesterov_k += 1
    else:
      nesterov_k += 1
    niter += 1
    if scale * improvement < tolerance:
      converged_out[worldid] = 1
      break
  _pgs_dual_state(worldid, nefc, efc_type_in, efc_frictionloss_in, efc_dim_in, efc_coef_in, efc_force_out,
                  efc_state_out)
  for i in range(nv):
    qacc_out[worldid, i] = qacc_smooth_in[worldid, i] + search_out[worldid, i]
  return niter
