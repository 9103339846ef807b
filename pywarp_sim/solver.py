"""Constraint solver (mj_fwdConstraint with MuJoCo's primal Newton and CG solvers, and PGS on
the dual from pgs.py). Twin of kernels/solver.h.

Minimises, per world, MuJoCo's convex cost over qacc

  0.5 (qacc - qacc_smooth)' M (qacc - qacc_smooth) + sum_i s_i(J_i qacc - aref_i)

where s_i is 0.5 D_i x^2 on an equality row (bilateral: always active) and on the active
side of a limit/contact row, Huber-like for dof friction (linear beyond +-R f), and 0
otherwise. Newton uses the Hessian M + J' D_active J (dense Cholesky); CG uses M^-1 as
preconditioner with Polak-Ribiere updates. The line search is exact on the piecewise-quadratic
cost (bracketed Newton on its derivative). Iterations stop per world at opt.tolerance on the
scaled improvement or gradient, as in MuJoCo; `efc.converged` records which worlds did.

One kernel serves every solver type: it forms aref, then runs Newton or CG here, or calls
pgs.solve_pgs (MuJoCo's mj_solPGS, which projects one dual row or elliptic block at a time)
from the warm-start forces, and ends with qfrc_constraint = J' force. PGS is a solver of this
stage, not a stage of its own (the collision stage's collision_* modules are the other such
case), so this module imports pgs; pgs imports no stage.

The loops here are dense over (nefc, nv) and (nv, nv) for readability. The native twin skips
their exact-zero structure (kernels/solver.h, SolveSpans): a Jacobian row is zero outside the
dof span of the chains it touches (a contact of one robot never reaches the other robot's
dofs), a row of qM outside its tree, a row of the Newton factor before its first nonzero (the
Hessian is block diagonal while no row couples two trees, and its factor stays so). Each skipped
term is a product with an exact 0 and x + 0 = x, and its dot products keep the same partial
sums, so its results equal its dense loops' bit for bit (tests/test_solver_sparsity.py).
"""

import warp as wp

from . import pgs, support
from .types import ConstraintType, Data, DisableBit, Model

_EQUALITY = wp.constant(int(ConstraintType.EQUALITY))
_FRICTION = wp.constant(int(ConstraintType.FRICTION_DOF))
_FRICTION_TENDON = wp.constant(int(ConstraintType.FRICTION_TENDON))
_ELLIPTIC = wp.constant(int(ConstraintType.CONTACT_ELLIPTIC))


@wp.func
def _row_cost(type: int, x: float, d: float, r: float, floss: float) -> wp.vec3:
  """(cost, force, curvature) of one scalar row at jar = x; force = -d cost / d x."""
  if type == _EQUALITY:
    return wp.vec3(0.5 * d * x * x, -d * x, d)  # bilateral: always quadratic
  if type == _FRICTION or type == _FRICTION_TENDON:
    if x <= -r * floss:
      return wp.vec3(-floss * x - 0.5 * r * floss * floss, floss, 0.0)
    if x >= r * floss:
      return wp.vec3(floss * x - 0.5 * r * floss * floss, -floss, 0.0)
    return wp.vec3(0.5 * d * x * x, -d * x, d)
  if x < 0.0:
    return wp.vec3(0.5 * d * x * x, -d * x, d)
  return wp.vec3(0.0, 0.0, 0.0)


@wp.func
def _constraint_update(worldid: int, nefc: int, alpha: float, write: int, efc_type: wp.array2d(dtype=int),
                       efc_D: wp.array2d(dtype=float), efc_R: wp.array2d(dtype=float),
                       efc_floss: wp.array2d(dtype=float), efc_dim: wp.array2d(dtype=int),
                       efc_coef: wp.array2d(dtype=float), efc_jar: wp.array2d(dtype=float),
                       efc_jv: wp.array2d(dtype=float), efc_force: wp.array2d(dtype=float),
                       efc_state: wp.array2d(dtype=int), efc_cone_H: wp.array3d(dtype=float)) -> wp.vec3:
  """mj_constraintUpdate at jar + alpha * jv: returns (cost, d cost/d alpha, d2 cost/d alpha2);
  with write, stores forces, states and elliptic cone Hessian blocks."""
  cost = float(0.0)
  g = float(0.0)
  h = float(0.0)
  r = int(0)
  while r < nefc:
    type = efc_type[worldid, r]
    if type != _ELLIPTIC:
      jv = efc_jv[worldid, r]
      c = _row_cost(type, efc_jar[worldid, r] + alpha * jv, efc_D[worldid, r], efc_R[worldid, r],
                    efc_floss[worldid, r])
      cost += c[0]
      g -= c[1] * jv
      h += c[2] * jv * jv
      if write:
        efc_force[worldid, r] = c[1]
        state = int(0)
        if c[2] != 0.0:
          state = 1
        elif c[1] != 0.0:
          state = 2
        efc_state[worldid, r] = state
      r += 1
      continue
    # elliptic cone block of dim rows (mj_constraintUpdate_impl)
    dim = efc_dim[worldid, r]
    mu = efc_coef[worldid, r]
    n = (efc_jar[worldid, r] + alpha * efc_jv[worldid, r]) * mu
    dn = efc_jv[worldid, r] * mu
    tt = float(0.0)
    for j in range(1, dim):
      u = (efc_jar[worldid, r + j] + alpha * efc_jv[worldid, r + j]) * efc_coef[worldid, r + j]
      tt += u * u
    t = wp.sqrt(tt)
    state = int(0)
    if n >= mu * t or (t <= 0.0 and n >= 0.0):
      for j in range(dim):
        if write:
          efc_force[worldid, r + j] = 0.0
    elif mu * n + t <= 0.0 or (t <= 0.0 and n < 0.0):
      state = 1
      for j in range(dim):
        jv = efc_jv[worldid, r + j]
        x = efc_jar[worldid, r + j] + alpha * jv
        dd = efc_D[worldid, r + j]
        cost += 0.5 * dd * x * x
        g += dd * x * jv
        h += dd * jv * jv
        if write:
          efc_force[worldid, r + j] = -dd * x
    else:
      state = 3
      dm = efc_D[worldid, r] / (mu * mu * (1.0 + mu * mu))
      nmt = n - mu * t
      cost += 0.5 * dm * nmt * nmt
      dt = float(0.0)
      dudu = float(0.0)
      for j in range(1, dim):
        fj = efc_coef[worldid, r + j]
        u = (efc_jar[worldid, r + j] + alpha * efc_jv[worldid, r + j]) * fj
        du = efc_jv[worldid, r + j] * fj
        dt += u * du
        dudu += du * du
      dt = dt / t
      d2t = (dudu - dt * dt) / t
      dnmt = dn - mu * dt
      g += dm * nmt * dnmt
      h += dm * (dnmt * dnmt - nmt * mu * d2t)
      if write:
        f0 = -dm * nmt * mu
        efc_force[worldid, r] = f0
        for j in range(1, dim):
          fj = efc_coef[worldid, r + j]
          u = efc_jar[worldid, r + j] * fj
          efc_force[worldid, r + j] = -f0 / t * u * fj
        # cone Hessian block (upper triangle computed, then mirrored), scaled by coefficients
        for k in range(dim):
          for j in range(dim):
            efc_cone_H[worldid, r + k, j] = 0.0
        efc_cone_H[worldid, r, 0] = 1.0
        for j in range(1, dim):
          uj = efc_jar[worldid, r + j] * efc_coef[worldid, r + j]
          efc_cone_H[worldid, r, j] = -mu / t * uj
        scl = mu * n / (t * t * t)
        for k in range(1, dim):
          uk = efc_jar[worldid, r + k] * efc_coef[worldid, r + k]
          for j in range(k, dim):
            uj = efc_jar[worldid, r + j] * efc_coef[worldid, r + j]
            efc_cone_H[worldid, r + k, j] = scl * uj * uk
        for j in range(1, dim):
          efc_cone_H[worldid, r + j, j] = efc_cone_H[worldid, r + j, j] + mu * mu - mu * n / t
        for k in range(dim):
          ck = mu
          if k > 0:
            ck = efc_coef[worldid, r + k]
          for j in range(k, dim):
            cj = mu
            if j > 0:
              cj = efc_coef[worldid, r + j]
            efc_cone_H[worldid, r + k, j] = efc_cone_H[worldid, r + k, j] * dm * ck * cj
        for k in range(dim):
          for j in range(k + 1, dim):
            efc_cone_H[worldid, r + j, k] = efc_cone_H[worldid, r + k, j]
    if write:
      for j in range(dim):
        efc_state[worldid, r + j] = state
    r += dim
  return wp.vec3(cost, g, h)


@wp.func
def _solver_eval(worldid: int, nv: int, nefc: int, qacc: wp.array2d(dtype=float),
                 qacc_smooth: wp.array2d(dtype=float), qfrc_smooth: wp.array2d(dtype=float),
                 qM: wp.array3d(dtype=float), efc_J: wp.array3d(dtype=float), efc_aref: wp.array2d(dtype=float),
                 efc_type: wp.array2d(dtype=int), efc_D: wp.array2d(dtype=float), efc_R: wp.array2d(dtype=float),
                 efc_floss: wp.array2d(dtype=float), efc_dim: wp.array2d(dtype=int),
                 efc_coef: wp.array2d(dtype=float), Ma: wp.array2d(dtype=float), efc_jar: wp.array2d(dtype=float),
                 efc_jv: wp.array2d(dtype=float), efc_force: wp.array2d(dtype=float),
                 efc_state: wp.array2d(dtype=int), efc_cone_H: wp.array3d(dtype=float)) -> float:
  """Ma = M qacc, jar = J qacc - aref, forces and states; returns the total cost."""
  cost = float(0.0)
  for i in range(nv):
    acc = float(0.0)
    for j in range(nv):
      acc += qM[worldid, i, j] * qacc[worldid, j]
    Ma[worldid, i] = acc
    cost += 0.5 * (acc - qfrc_smooth[worldid, i]) * (qacc[worldid, i] - qacc_smooth[worldid, i])
  for r in range(nefc):
    x = -efc_aref[worldid, r]
    for j in range(nv):
      x += efc_J[worldid, r, j] * qacc[worldid, j]
    efc_jar[worldid, r] = x
    efc_jv[worldid, r] = 0.0  # no stale direction (possibly non-finite) enters jar + 0 * jv
  c = _constraint_update(worldid, nefc, 0.0, 1, efc_type, efc_D, efc_R, efc_floss, efc_dim, efc_coef, efc_jar, efc_jv,
                         efc_force, efc_state, efc_cone_H)
  return cost + c[0]


@wp.kernel
def _solve(
  # Model:
  nv: int,
  iterations: int,
  ls_iterations: int,
  tolerance: float,
  scale: float,
  solver_type: int,
  warmstart: int,
  dof_parentid: wp.array(dtype=int),
  # Data in:
  qvel_in: wp.array2d(dtype=float),
  qM_in: wp.array3d(dtype=float),
  qLD_in: wp.array3d(dtype=float),
  qLDiagInv_in: wp.array2d(dtype=float),
  qacc_smooth_in: wp.array2d(dtype=float),
  qfrc_smooth_in: wp.array2d(dtype=float),
  qacc_warmstart_in: wp.array2d(dtype=float),
  nefc_in: wp.array(dtype=int),
  efc_type_in: wp.array2d(dtype=int),
  efc_J_in: wp.array3d(dtype=float),
  efc_pos_in: wp.array2d(dtype=float),
  efc_margin_in: wp.array2d(dtype=float),
  efc_frictionloss_in: wp.array2d(dtype=float),
  efc_D_in: wp.array2d(dtype=float),
  efc_R_in: wp.array2d(dtype=float),
  efc_K_in: wp.array2d(dtype=float),
  efc_B_in: wp.array2d(dtype=float),
  efc_dim_in: wp.array2d(dtype=int),
  efc_coef_in: wp.array2d(dtype=float),
  efc_jdotv_in: wp.array2d(dtype=float),
  # Data out:
  qacc_out: wp.array2d(dtype=float),
  qfrc_constraint_out: wp.array2d(dtype=float),
  efc_vel_out: wp.array2d(dtype=float),
  efc_aref_out: wp.array2d(dtype=float),
  efc_force_out: wp.array2d(dtype=float),
  efc_jar_out: wp.array2d(dtype=float),
  efc_jv_out: wp.array2d(dtype=float),
  efc_state_out: wp.array2d(dtype=int),
  efc_cone_H_out: wp.array3d(dtype=float),
  pgs_MinvJ_out: wp.array2d(dtype=float),
  H_out: wp.array3d(dtype=float),
  grad_out: wp.array2d(dtype=float),
  Mgrad_out: wp.array2d(dtype=float),
  search_out: wp.array2d(dtype=float),
  Ma_out: wp.array2d(dtype=float),
  solver_niter_out: wp.array(dtype=int),
  converged_out: wp.array(dtype=int),
):
  worldid = wp.tid()
  nefc = nefc_in[worldid]

  # reference acceleration aref = -B J qvel - K imp (pos - margin), less Jdot qvel on
  # equality rows (mj_referenceConstraint)
  for r in range(nefc):
    v = float(0.0)
    for j in range(nv):
      v += efc_J_in[worldid, r, j] * qvel_in[worldid, j]
    efc_vel_out[worldid, r] = v
    aref = -efc_B_in[worldid, r] * v - efc_K_in[worldid, r] * (efc_pos_in[worldid, r] - efc_margin_in[worldid, r])
    if efc_type_in[worldid, r] == _EQUALITY:
      aref -= efc_jdotv_in[worldid, r]
    efc_aref_out[worldid, r] = aref

  niter = int(0)
  done = int(nefc == 0)
  newton = int(solver_type == 2)
  if solver_type != 0:
    # start from the warm start or the smooth acceleration, whichever costs less
    for i in range(nv):
      qacc_out[worldid, i] = qacc_smooth_in[worldid, i]
    cost = _solver_eval(worldid, nv, nefc, qacc_out, qacc_smooth_in, qfrc_smooth_in, qM_in, efc_J_in, efc_aref_out,
                        efc_type_in, efc_D_in, efc_R_in, efc_frictionloss_in, efc_dim_in, efc_coef_in, Ma_out,
                        efc_jar_out, efc_jv_out, efc_force_out, efc_state_out, efc_cone_H_out)
    if warmstart and nefc > 0:
      for i in range(nv):
        qacc_out[worldid, i] = qacc_warmstart_in[worldid, i]
      cost_ws = _solver_eval(worldid, nv, nefc, qacc_out, qacc_smooth_in, qfrc_smooth_in, qM_in, efc_J_in,
                             efc_aref_out, efc_type_in, efc_D_in, efc_R_in, efc_frictionloss_in, efc_dim_in,
                             efc_coef_in, Ma_out, efc_jar_out, efc_jv_out, efc_force_out, efc_state_out,
                             efc_cone_H_out)
      if cost_ws > cost or not wp.isfinite(cost_ws):
        for i in range(nv):
          qacc_out[worldid, i] = qacc_smooth_in[worldid, i]
        cost = _solver_eval(worldid, nv, nefc, qacc_out, qacc_smooth_in, qfrc_smooth_in, qM_in, efc_J_in,
                            efc_aref_out, efc_type_in, efc_D_in, efc_R_in, efc_frictionloss_in, efc_dim_in,
                            efc_coef_in, Ma_out, efc_jar_out, efc_jv_out, efc_force_out, efc_state_out,
                            efc_cone_H_out)
      else:
        cost = cost_ws
  elif nefc > 0:
    # PGS on the dual (pgs.solve_pgs), from the constraint forces of mj_constraintUpdate at
    # qacc_warmstart (solve_pgs keeps them if their dual cost is negative)
    done = 1
    for r in range(nefc):
      efc_force_out[worldid, r] = 0.0
    if warmstart:
      for i in range(nv):
        qacc_out[worldid, i] = qacc_warmstart_in[worldid, i]
      _solver_eval(worldid, nv, nefc, qacc_out, qacc_smooth_in, qfrc_smooth_in, qM_in, efc_J_in, efc_aref_out,
                   efc_type_in, efc_D_in, efc_R_in, efc_frictionloss_in, efc_dim_in, efc_coef_in, Ma_out, efc_jar_out,
                   efc_jv_out, efc_force_out, efc_state_out, efc_cone_H_out)
    niter = pgs.solve_pgs(worldid, nv, nefc, iterations, tolerance, scale, warmstart, dof_parentid, qLD_in,
                          qLDiagInv_in, qacc_smooth_in, efc_type_in, efc_J_in, efc_frictionloss_in, efc_R_in,
                          efc_dim_in, efc_coef_in, efc_aref_out, qacc_out, efc_force_out, efc_jar_out, efc_jv_out,
                          efc_state_out, pgs_MinvJ_out, Mgrad_out, search_out, converged_out)
  else:
    for i in range(nv):
      qacc_out[worldid, i] = qacc_smooth_in[worldid, i]
  prev_grad_mgrad = float(0.0)
  for i in range(nv):
    search_out[worldid, i] = 0.0
    Mgrad_out[worldid, i] = 0.0
  while done == 0 and niter < iterations:
    # gradient: M qacc - qfrc_smooth - J' force
    for i in range(nv):
      g = Ma_out[worldid, i] - qfrc_smooth_in[worldid, i]
      for r in range(nefc):
        g -= efc_J_in[worldid, r, i] * efc_force_out[worldid, r]
      grad_out[worldid, i] = g
    gnorm = float(0.0)
    for i in range(nv):
      gnorm += grad_out[worldid, i] * grad_out[worldid, i]
    if scale * wp.sqrt(gnorm) < tolerance:
      converged_out[worldid] = 1
      break

    if newton:
      # H = M + J' D_active J (+ J_c' H_c J_c for elliptic cones), Cholesky in place (lower)
      for i in range(nv):
        for j in range(i + 1):
          h = qM_in[worldid, i, j]
          r = int(0)
          while r < nefc:
            state = efc_state_out[worldid, r]
            if efc_type_in[worldid, r] == _ELLIPTIC:
              dim = efc_dim_in[worldid, r]
              if state == 1:
                for k in range(dim):
                  h += efc_J_in[worldid, r + k, i] * efc_D_in[worldid, r + k] * efc_J_in[worldid, r + k, j]
              elif state == 3:
                for k in range(dim):
                  jk = efc_J_in[worldid, r + k, i]
                  for l in range(dim):
                    h += jk * efc_cone_H_out[worldid, r + k, l] * efc_J_in[worldid, r + l, j]
              r += dim
            else:
              if state == 1:
                h += efc_J_in[worldid, r, i] * efc_D_in[worldid, r] * efc_J_in[worldid, r, j]
              r += 1
          H_out[worldid, i, j] = h
      for j in range(nv):
        s = H_out[worldid, j, j]
        for k in range(j):
          s -= H_out[worldid, j, k] * H_out[worldid, j, k]
        s = wp.sqrt(wp.max(s, 1e-15))
        H_out[worldid, j, j] = s
        for i in range(j + 1, nv):
          t = H_out[worldid, i, j]
          for k in range(j):
            t -= H_out[worldid, i, k] * H_out[worldid, j, k]
          H_out[worldid, i, j] = t / s
      for i in range(nv):
        t = -grad_out[worldid, i]
        for k in range(i):
          t -= H_out[worldid, i, k] * search_out[worldid, k]
        search_out[worldid, i] = t / H_out[worldid, i, i]
      for ii in range(nv):
        i = nv - 1 - ii
        t = search_out[worldid, i]
        for k in range(i + 1, nv):
          t -= H_out[worldid, k, i] * search_out[worldid, k]
        search_out[worldid, i] = t / H_out[worldid, i, i]
    else:
      # preconditioned Polak-Ribiere CG with M^-1 (the factor of qM)
      cross = float(0.0)
      for i in range(nv):
        cross += grad_out[worldid, i] * Mgrad_out[worldid, i]  # grad' Mgrad_old
        Mgrad_out[worldid, i] = grad_out[worldid, i]
      support.solve_tree(worldid, nv, dof_parentid, qLD_in, qLDiagInv_in, Mgrad_out)
      grad_mgrad = float(0.0)
      for i in range(nv):
        grad_mgrad += grad_out[worldid, i] * Mgrad_out[worldid, i]
      beta = float(0.0)
      if niter > 0 and prev_grad_mgrad > 0.0:
        beta = wp.max(0.0, (grad_mgrad - cross) / prev_grad_mgrad)
      for i in range(nv):
        search_out[worldid, i] = -Mgrad_out[worldid, i] + beta * search_out[worldid, i]
      prev_grad_mgrad = grad_mgrad

    # exact line search on the piecewise quadratic: root of f'(alpha)
    pMp = float(0.0)
    pg0 = float(0.0)
    pg_abs = float(0.0)  # sum of |terms| of f'(0) = search . grad: its rounding scale
    for i in range(nv):
      mp = float(0.0)
      for j in range(nv):
        mp += qM_in[worldid, i, j] * search_out[worldid, j]
      pMp += search_out[worldid, i] * mp
      pg0 += search_out[worldid, i] * (Ma_out[worldid, i] - qfrc_smooth_in[worldid, i])
      gmag = wp.abs(Ma_out[worldid, i]) + wp.abs(qfrc_smooth_in[worldid, i])
      for r in range(nefc):
        gmag += wp.abs(efc_J_in[worldid, r, i] * efc_force_out[worldid, r])
      pg_abs += wp.abs(search_out[worldid, i]) * gmag
    for r in range(nefc):
      jv = float(0.0)
      for j in range(nv):
        jv += efc_J_in[worldid, r, j] * search_out[worldid, j]
      efc_jv_out[worldid, r] = jv
    # f' is increasing (convex f); lo keeps the largest alpha seen with f' < 0, so f(lo) < f(0)
    # and stepping to lo is always safe when the search stops before converging.
    lo = float(0.0)
    hi = float(-1.0)  # < 0: no point with f' > 0 seen yet
    alpha = float(0.0)
    g0 = float(0.0)
    g_start = float(0.0)
    g_lo = float(0.0)
    g_end = float(0.0)
    found = int(0)
    for it in range(ls_iterations + 1):
      c = _constraint_update(worldid, nefc, alpha, 0, efc_type_in, efc_D_in, efc_R_in, efc_frictionloss_in,
                             efc_dim_in, efc_coef_in, efc_jar_out, efc_jv_out, efc_force_out, efc_state_out,
                             efc_cone_H_out)
      g = alpha * pMp + pg0 + c[1]
      h = pMp + c[2]
      if it == 0:
        g0 = wp.abs(g)
        g_start = g
      if wp.abs(g) <= 1e-6 * g0 or g0 == 0.0:
        found = 1
        g_end = g
        break
      if g < 0.0:
        lo = alpha
        g_lo = g
      else:
        hi = alpha
      nxt = alpha - g / wp.max(h, 1e-30)
      if nxt <= lo or (hi >= 0.0 and nxt >= hi):
        if hi < 0.0:
          nxt = 2.0 * lo + 1.0
        else:
          nxt = 0.5 * (lo + hi)
      if nxt == alpha:
        break  # float32 resolution reached
      alpha = nxt
    if found == 0:
      alpha = lo
      g_end = g_lo
    for i in range(nv):
      qacc_out[worldid, i] = qacc_out[worldid, i] + alpha * search_out[worldid, i]
    new_cost = _solver_eval(worldid, nv, nefc, qacc_out, qacc_smooth_in, qfrc_smooth_in, qM_in, efc_J_in,
                            efc_aref_out, efc_type_in, efc_D_in, efc_R_in, efc_frictionloss_in, efc_dim_in,
                            efc_coef_in, Ma_out, efc_jar_out, efc_jv_out, efc_force_out, efc_state_out,
                            efc_cone_H_out)
    niter += 1
    # The decrease f(0) - f(alpha) by the trapezoid rule on f' (exact on a quadratic piece):
    # free of the cancellation of cost - new_cost, which in float32 reaches rounding level
    # (~1e-7 of the cost) long before MuJoCo's float64 improvement test stops CG. Trusted only
    # while f'(0) is above its own rounding level (badly scaled rows: f'(0) is noise).
    # (A NaN cost difference stays NaN: a non-finite world never counts as converged.)
    improvement = cost - new_cost
    if wp.abs(g_start) > 1e-5 * pg_abs:
      decrease = -0.5 * alpha * (g_start + g_end)
      if decrease > improvement:
        improvement = decrease
    if scale * improvement < tolerance:
      converged_out[worldid] = 1
      done = 1
    cost = new_cost

  if nefc == 0:
    converged_out[worldid] = 1
  solver_niter_out[worldid] = niter
  for i in range(nv):
    f = float(0.0)
    for r in range(nefc):
      f += efc_J_in[worldid, r, i] * efc_force_out[worldid, r]
    qfrc_constraint_out[worldid, i] = f


def solve(m: Model, d: Data):
  """mj_fwdConstraint: qacc (nworld, nv), qfrc_constraint (nworld, nv), efc_force."""
  e = d.efc
  opt = m.opt
  if opt.disabled(DisableBit.CONSTRAINT):
    e.nefc.zero_()
  e.converged.zero_()
  scale = 1.0 / (m.meaninertia * max(1, m.nv))
  wp.launch(_solve, dim=d.nworld, inputs=[
    m.nv, opt.iterations, opt.ls_iterations, opt.tolerance, scale,
    int(opt.solver),
    0 if opt.disabled(DisableBit.WARMSTART) else 1, m.dof_parentid,
    d.qvel, d.qM, d.qLD, d.qLDiagInv, d.qacc_smooth, d.qfrc_smooth, d.qacc_warmstart,
    e.nefc, e.efc_type, e.efc_J, e.efc_pos, e.efc_margin, e.efc_frictionloss, e.efc_D, e.efc_R,
    e.efc_K, e.efc_B, e.efc_dim, e.efc_coef, e.efc_jdotv,
  ], outputs=[d.qacc, d.qfrc_constraint, e.efc_vel, e.efc_aref, e.efc_force, e.efc_jar, e.efc_jv,
              e.efc_state, e.efc_cone_H, e.pgs_MinvJ, e.H, e.grad, e.Mgrad, e.search, e.Ma, e.solver_niter, e.converged], device=d.qpos.device)
