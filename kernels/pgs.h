// Twin of pywarp_sim/pgs.py: PGS on the dual (MuJoCo's mj_solPGS), the solve stage's projected
// Gauss-Seidel solver: scalar rows and elliptic contact blocks in MuJoCo's PCG32-shuffled
// order with Nesterov momentum. Part of the solve stage, not a stage of its own: solver.h's
// solve forms aref and the warm-start forces, then calls solve_pgs (as mj_fwdConstraint
// dispatches to mj_solPGS); this header includes no stage.
#pragma once

#include <stdint.h>

#include "step_math.h"
#include "support.h"
#include "types.h"

namespace pws {

// ---- elliptic cones (pgs._pgs_chol_solve, _pgs_qcqp, _pgs_elliptic; MuJoCo's mj_solPGS) -----

// x = (L L')^-1 b for the leading k x k block of the lower factor L (5 x 5).
template <typename T>
PWS_HD inline void pgs_chol_solve(const T L[5][5], const T* b, int k, T* x) {
  T y[5] = {T(0), T(0), T(0), T(0), T(0)};
  for (int i = 0; i < k; ++i) {
    T t = b[i];
    for (int j = 0; j < i; ++j) t -= L[i][j] * y[j];
    y[i] = t / L[i][i];
  }
  for (int i = 0; i < 5; ++i) x[i] = T(0);
  for (int i = k - 1; i >= 0; --i) {
    T t = y[i];
    for (int j = i + 1; j < k; ++j) t -= L[j][i] * x[j];
    x[i] = t / L[i][i];
  }
}

// min 0.5 x'Ax + x'b  s.t.  sum (x_i / d_i)^2 <= r^2 over k <= 5 unknowns (mju_QCQP): Newton
// on the multiplier of the scaled problem, then projection onto the ellipsoid when the
// constraint is active. A non-positive-definite system gives x = 0, as the reference.
template <typename T>
PWS_HD inline void pgs_qcqp(const T A[5][5], const T* b, const T* dscale, T r, int k, T* res) {
  T As[5][5], bs[5];
  for (int i = 0; i < k; ++i) {
    bs[i] = b[i] * dscale[i];
    for (int j = 0; j < k; ++j) As[i][j] = A[i][j] * dscale[i] * dscale[j];
  }
  T la = T(0);
  T v[5] = {T(0), T(0), T(0), T(0), T(0)};
  for (int i = 0; i < 5; ++i) res[i] = T(0);
  for (int it = 0; it < 20; ++it) {
    T L[5][5];
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j) L[i][j] = T(0);
    bool spd = true;
    for (int j = 0; j < k; ++j) {
      T sjj = As[j][j] + la;
      for (int q = 0; q < j; ++q) sjj -= L[j][q] * L[j][q];
      if (sjj < T(1e-10)) {
        spd = false;
      } else {
        L[j][j] = pws_sqrt(sjj);
        for (int i = j + 1; i < k; ++i) {
          T t = As[i][j];
          for (int q = 0; q < j; ++q) t -= L[i][q] * L[j][q];
          L[i][j] = t / L[j][j];
        }
      }
    }
    if (!spd) return;
    pgs_chol_solve(L, bs, k, v);
    for (int i = 0; i < 5; ++i) v[i] = -v[i];
    T vv = T(0);
    for (int i = 0; i < 5; ++i) vv += v[i] * v[i];
    T val = vv - r * r;
    if (val < T(1e-10)) break;
    T z[5];
    pgs_chol_solve(L, v, k, z);
    T vz = T(0);
    for (int i = 0; i < 5; ++i) vz += v[i] * z[i];
    T delta = val / (T(2) * vz);
    if (delta < T(1e-10)) break;
    la += delta;
  }
  T vv = T(0);
  for (int i = 0; i < 5; ++i) vv += v[i] * v[i];
  T norm = pws_sqrt(vv);
  for (int i = 0; i < k; ++i) {
    res[i] = v[i] * dscale[i];
    if (la != T(0) && norm > T(0)) res[i] = res[i] * r / norm;
  }
}

// One PGS update of the elliptic contact block at row r (dim rows): a ray update of the whole
// force (or a normal update from zero), then the friction forces with the normal fixed from
// the QCQP on the friction ellipse; an update that raises the cost is undone. Keeps
// v = M^-1 J' f (pgs_MinvJ holds M^-1 J' of the block's rows); returns the cost decrease.
template <typename T>
PWS_HD inline T pgs_elliptic(const ModelView<T>& m, const World<T>& d, int r, T* v) {
  const int nv = m.nv, ld = m.nv_pad;
  const int dim = d.efc_dim[r];
  const int k = dim - 1;
  T* minv_j = d.pgs_MinvJ;  // (6, nv)
  for (int a = 0; a < dim; ++a) {
    const T* ja = d.efc_J + (int64_t)(r + a) * ld;
    T* xa = minv_j + a * nv;
    for (int i = 0; i < nv; ++i) xa[i] = ja[i];
    solve_tree(m, d.qLD, d.qLDiagInv, xa);
  }
  T A[6][6], res[6], old[6], f[6];
  for (int a = 0; a < dim; ++a) {
    const T* ja = d.efc_J + (int64_t)(r + a) * ld;
    old[a] = d.efc_force[r + a];
    T t = d.efc_R[r + a] * old[a] - d.efc_aref[r + a];
    for (int i = 0; i < nv; ++i) t += ja[i] * (d.qacc_smooth[i] + v[i]);
    res[a] = t;
    for (int b = 0; b < dim; ++b) {
      const T* xb = minv_j + b * nv;
      T acc = T(0);
      for (int i = 0; i < nv; ++i) acc += ja[i] * xb[i];
      A[a][b] = acc;
    }
    A[a][a] = A[a][a] + d.efc_R[r + a];
  }
  for (int a = 0; a < dim; ++a) f[a] = old[a];
  if (f[0] < T(1e-15)) {
    f[0] = tmax(T(0), f[0] - res[0] / A[0][0]);
    for (int a = 1; a < dim; ++a) f[a] = T(0);
  } else {
    T denom = T(0), vres = T(0);
    for (int a = 0; a < dim; ++a) {
      vres += f[a] * res[a];
      for (int b = 0; b < dim; ++b) denom += f[a] * A[a][b] * f[b];
    }
    if (denom >= T(1e-15)) {
      T x = -vres / denom;
      if (f[0] + x * f[0] < T(0)) x = T(-1);
      for (int a = 0; a < dim; ++a) f[a] = f[a] + x * old[a];
    }
  }
  // friction update with the normal fixed
  if (f[0] < T(1e-15)) {
    for (int a = 1; a < dim; ++a) f[a] = T(0);
  } else {
    T Ac[5][5], bc[5], mu[5], fric[5];
    for (int a = 0; a < k; ++a) {
      mu[a] = d.efc_coef[r + 1 + a];
      T t = res[a + 1] + A[a + 1][0] * (f[0] - old[0]);
      for (int b = 0; b < k; ++b) {
        Ac[a][b] = A[a + 1][b + 1];
        t -= A[a + 1][b + 1] * old[b + 1];
      }
      bc[a] = t;
    }
    pgs_qcqp(Ac, bc, mu, f[0], k, fric);
    for (int a = 0; a < k; ++a) f[a + 1] = fric[a];
  }
  // cost change of the block; a rise (the ray and friction updates are not a joint minimum)
  // restores the old force, as MuJoCo's costChange
  T change = T(0);
  for (int a = 0; a < dim; ++a) {
    T delta = f[a] - old[a];
    change += delta * res[a];
    for (int b = 0; b < dim; ++b) change += T(0.5) * delta * A[a][b] * (f[b] - old[b]);
  }
  if (change > T(1e-10)) return T(0);
  // apply: v += M^-1 J' (f - old)
  for (int a = 0; a < dim; ++a) {
    T delta = f[a] - old[a];
    d.efc_force[r + a] = f[a];
    if (delta != T(0)) {
      const T* xa = minv_j + a * nv;
      for (int i = 0; i < nv; ++i) v[i] += delta * xa[i];
    }
  }
  return -change;
}

// PCG32 with MuJoCo's stream (inc = 1), mj_solPGS's shuffle generator: advance, and the
// XSH-RR output of the state before the advance (pgs._pgs_pcg32_next, _pgs_pcg32_output).
PWS_HD inline uint64_t pgs_pcg32_next(uint64_t state) { return state * 6364136223846793005ULL + 1ULL; }

PWS_HD inline uint32_t pgs_pcg32_output(uint64_t old) {
  uint32_t x = (uint32_t)(((old >> 18u) ^ old) >> 27u);
  uint32_t rot = (uint32_t)(old >> 59u);
  return (x >> rot) | (x << ((32u - rot) & 31u));
}

// v = M^-1 J' force: the acceleration the dual forces add to qacc_smooth.
template <typename T>
PWS_HD inline void pgs_force_to_v(const ModelView<T>& m, const World<T>& d, int nefc, T* v) {
  for (int i = 0; i < m.nv; ++i) v[i] = T(0);
  add_jt_force(m, d, nefc, T(1), v);
  solve_tree(m, d.qLD, d.qLDiagInv, v);
}

// Dual forces onto their feasible sets after the momentum step (MuJoCo's projectCone):
// friction into [-floss, floss], limits and contacts >= 0, equality rows free (bilateral), elliptic friction scaled into the
// cone (a negative normal zeroes the block).
template <typename T>
PWS_HD inline void pgs_project(const World<T>& d, int nefc) {
  for (int r = 0; r < nefc;) {
    const int type = d.efc_type[r];
    if (type == kCnstrFrictionDof || type == kCnstrFrictionTendon) {
      d.efc_force[r] = tclamp(d.efc_force[r], -d.efc_frictionloss[r], d.efc_frictionloss[r]);
      ++r;
    } else if (type == kCnstrContactElliptic) {
      const int dim = d.efc_dim[r];
      const T fn = d.efc_force[r];
      if (fn < T(0)) {
        for (int j = 0; j < dim; ++j) d.efc_force[r + j] = T(0);
      } else {
        T s = T(0);
        for (int j = 1; j < dim; ++j) {
          T ft = d.efc_force[r + j] / d.efc_coef[r + j];
          s += ft * ft;
        }
        if (s > fn * fn) {
          T scl = pws_sqrt(fn * fn / tmax(T(1e-15), s));
          for (int j = 1; j < dim; ++j) d.efc_force[r + j] *= scl;
        }
      }
      r += dim;
    } else {
      if (type != kCnstrEquality) d.efc_force[r] = tmax(T(0), d.efc_force[r]);  // equality: bilateral
      ++r;
    }
  }
}

// efc_state from the dual forces (MuJoCo's dualState): friction linear at its bounds, limits
// and contacts quadratic when pushing, an elliptic block satisfied inside the cone, quadratic
// below its dual cone, cone state between.
template <typename T>
PWS_HD inline void pgs_dual_state(const World<T>& d, int nefc) {
  for (int r = 0; r < nefc;) {
    const int type = d.efc_type[r];
    const T f = d.efc_force[r];
    if (type == kCnstrFrictionDof || type == kCnstrFrictionTendon) {
      d.efc_state[r] = pws_abs(f) >= d.efc_frictionloss[r] ? 2 : 1;
      ++r;
    } else if (type == kCnstrContactElliptic) {
      const int dim = d.efc_dim[r];
      const T mu = d.efc_coef[r];
      const T n = f / mu;
      T tt = T(0);
      for (int j = 1; j < dim; ++j) {
        T ft = d.efc_force[r + j] / d.efc_coef[r + j];
        tt += ft * ft;
      }
      const T t = pws_sqrt(tt);
      const int state = mu * n >= t ? 0 : (n + mu * t <= T(0) ? 1 : 3);
      for (int j = 0; j < dim; ++j) d.efc_state[r + j] = state;
      r += dim;
    } else {
      d.efc_state[r] = f > T(0) || type == kCnstrEquality ? 1 : 0;
      ++r;
    }
  }
}

// PGS on the dual (pgs.solve_pgs; solver.h's solve calls it for solver_type 0), as MuJoCo's
// mj_solPGS: min_f 0.5 f'(J M^-1 J' + R) f + f'(J qacc_smooth - aref), one scalar row (or
// elliptic block, pgs_elliptic) at a time in a PCG32-shuffled order per sweep, with Nesterov
// momentum restarted when the sweep's correction opposes the extrapolation; starts from
// efc_force (solve sets it to the forces at qacc_warmstart, zero without warm start) and keeps
// it when its dual cost is negative. v = M^-1 J' f is kept (in efc_search) so each row costs one
// tree solve (M^-1 J_r' in efc_Mgrad) and O(nv). Scratch: efc_state holds the block order until
// the final dual state, efc_jar the force before the momentum step, efc_jv the extrapolated
// force. Writes qacc, efc_force, efc_state, qfrc_constraint, solver_niter, converged.
template <typename T>
PWS_HD inline void solve_pgs(const ModelView<T>& m, const World<T>& d, int nefc) {
  const int nv = m.nv, ld = m.nv_pad;
  T* v = d.efc_search;
  T* minv_j = d.efc_Mgrad;
  T* force_prev = d.efc_jar;
  T* force_momentum = d.efc_jv;
  int* block = d.efc_state;
  pgs_force_to_v(m, d, nefc, v);
  if (m.en_warmstart) {
    T dual = T(0);
    for (int r = 0; r < nefc; ++r) {
      const T* jrow = d.efc_J + (int64_t)r * ld;
      T ar_f = d.efc_R[r] * d.efc_force[r] + dot_n(jrow, v, nv);
      T b = dot_n(jrow, d.qacc_smooth, nv) - d.efc_aref[r];
      dual += d.efc_force[r] * (b + T(0.5) * ar_f);
    }
    if (!(dual <= T(0))) {
      for (int r = 0; r < nefc; ++r) d.efc_force[r] = T(0);
      for (int i = 0; i < nv; ++i) v[i] = T(0);
    }
  }
  int nblock = 0;
  for (int r = 0; r < nefc; r += d.efc_type[r] == kCnstrContactElliptic ? d.efc_dim[r] : 1) block[nblock++] = r;
  uint64_t rng = pgs_pcg32_next(0ULL);
  for (int r = 0; r < nefc; ++r) force_prev[r] = d.efc_force[r];
  int niter = 0, nesterov_k = 0;
  while (niter < m.iterations) {
    T beta = niter > 0 ? T(nesterov_k - 1) / T(nesterov_k + 2) : T(0);
    if (beta > T(0)) {
      for (int r = 0; r < nefc; ++r) {
        T f = d.efc_force[r];
        d.efc_force[r] = f + beta * (f - force_prev[r]);
        force_prev[r] = f;
      }
      pgs_project(d, nefc);
      pgs_force_to_v(m, d, nefc, v);
    } else {
      for (int r = 0; r < nefc; ++r) force_prev[r] = d.efc_force[r];
    }
    for (int r = 0; r < nefc; ++r) force_momentum[r] = d.efc_force[r];
    // Fisher-Yates shuffle of the block order (MuJoCo's shuffle_int)
    for (int i = nblock - 1; i > 0; --i) {
      uint64_t old = rng;
      rng = pgs_pcg32_next(rng);
      int j = (int)(pgs_pcg32_output(old) % (uint32_t)(i + 1));
      int tmp = block[i];
      block[i] = block[j];
      block[j] = tmp;
    }
    T improvement = T(0);
    for (int bi = 0; bi < nblock; ++bi) {
      const int r = block[bi];
      if (d.efc_type[r] == kCnstrContactElliptic) {
        improvement += pgs_elliptic(m, d, r, v);
        continue;
      }
      const T* jrow = d.efc_J + (int64_t)r * ld;
      for (int i = 0; i < nv; ++i) minv_j[i] = jrow[i];
      solve_tree(m, d.qLD, d.qLDiagInv, minv_j);
      T a = d.efc_R[r];
      T res = d.efc_R[r] * d.efc_force[r] - d.efc_aref[r];
      for (int i = 0; i < nv; ++i) {
        T jr = jrow[i];
        a += jr * minv_j[i];
        res += jr * (d.qacc_smooth[i] + v[i]);
      }
      T f = d.efc_force[r];
      T fnew = f - res / a;
      if (d.efc_type[r] == kCnstrFrictionDof || d.efc_type[r] == kCnstrFrictionTendon) {
        T floss = d.efc_frictionloss[r];
        fnew = tclamp(fnew, -floss, floss);
      } else if (d.efc_type[r] != kCnstrEquality) {
        fnew = tmax(T(0), fnew);
      }
      T delta = fnew - f;
      T change = T(0.5) * a * delta * delta + delta * res;
      if (delta != T(0) && change <= T(1e-10)) {
        d.efc_force[r] = fnew;
        for (int i = 0; i < nv; ++i) v[i] += delta * minv_j[i];
        improvement -= change;
      }
    }
    // momentum restart (O'Donoghue-Candes) when the sweep's correction opposes the extrapolation
    if (niter > 0) {
      T dot = T(0);
      for (int r = 0; r < nefc; ++r) dot += (d.efc_force[r] - force_momentum[r]) * (force_momentum[r] - force_prev[r]);
      nesterov_k = dot < T(0) ? 0 : nesterov_k + 1;
    } else {
      ++nesterov_k;
    }
    ++niter;
    if (m.solver_scale * improvement < m.tolerance) {
      d.efc_converged[0] = 1;
      break;
    }
  }
  pgs_dual_state(d, nefc);
  for (int i = 0; i < nv; ++i) d.qacc[i] = d.qacc_smooth[i] + v[i];
  d.efc_solver_niter[0] = niter;
  for (int i = 0; i < nv; ++i) d.qfrc_constraint[i] = T(0);
  add_jt_force(m, d, nefc, T(1), d.qfrc_constraint);
}

}  // namespace pws
