// Twin of pywarp_sim/solver.py: the constraint solver of one world (solver._solve), MuJoCo's
// primal Newton and CG on
//
//   0.5 (qacc - qacc_smooth)' M (qacc - qacc_smooth) + sum_i s_i(J_i qacc - aref_i)
//
// (PGS on the dual, scalar rows and elliptic blocks, is pgs.h, which solve calls) with the exact
// line search of the Warp reference (bracketed Newton on the derivative of
// the piecewise-quadratic cost) and the same stopping rules. Differences from the Warp
// kernel are for speed and do not change the arithmetic beyond summation order:
//   * dot products use four partial sums (dot_n) so that they vectorise;
//   * the Newton Hessian M + J' D J is accumulated row by row over active rows only, over
//     the nonzero entries of each row (a contact row touches two ancestor chains), and factored
//     as L'DL eliminating the last dof first, skipping zeros, as M's tree factorisation
//     (fill stays within the tree and the contacts' dof sets; rounding differs from a
//     Cholesky, not the math);
//   * a Newton iteration whose active set equals that of the last factorisation reuses it, and
//     one where at most kMaxRankUpdates rows changed state updates it by rank-1 changes
//     (update_ldl, as MuJoCo's incremental Hessian; a cancelling downdate refactors);
//   * without elliptic cones the line search evaluates every row branch-free (scalar_row_zone)
//     into eight partial sums (ls_derivs_scalar; rounding only; with one-sided rows only, the
//     sequential sums of ls_derivs_onesided, bit-identical to constraint_update), and the cost evaluations after
//     each step run the same zones with constraint_update's sequential sum (scalar_rows_cost,
//     bit-identical);
//   * a Jacobian row with one nonzero (dof friction, hinge and slide limits) is read directly in
//     J x (dot_row);
//   * J' force skips rows with zero force; the cost at alpha = 0 does not read efc_jv;
//   * M qacc and J qacc - aref follow the step incrementally (M search and J search are
//     formed for the line search anyway), as in MuJoCo's mj_solPrimal.
// Exact-zero structure the loops skip (SolveSpans; the results are those of the dense loops bit
// for bit, up to the sign of an exact zero, because each skipped term is a product with an
// exact 0 and x + 0 = x): a Jacobian row is zero outside the dof span [lo, hi) of the chains
// it touches (a contact of one robot spans that robot's dofs only), a row of qM outside its
// tree's span, and a row of the Newton factor before its first nonzero column (the Hessian is
// block diagonal over dof sets no row couples, e.g. two robots not touching each other: the
// factorisation and the triangular solves then stay inside each block). J x, J' f, M x, the
// outer products of J' D J and the factor's row updates run over those spans only; the dot
// products keep dot_n's four partial sums (dot_span). Inputs with NaN or inf outside a row's
// span no longer reach that row (0 * inf); such worlds are unhealthy either way.
// Stopping rules that go beyond the Warp kernel's, both MuJoCo's (mj_solPrimal): Newton stops
// when the Newton decrement 0.5 grad' H^-1 grad is below the tolerance (the step it would take
// improves the cost by less), and a line search stops when |d cost / d alpha| is below
// tolerance * ls_tolerance * |search| / scale (or at float32 resolution).
#pragma once

#include "pgs.h"
#include "step_math.h"
#include "support.h"
#include "types.h"

#include <type_traits>
#if defined(__AVX__) && !defined(__CUDA_ARCH__)
#include <immintrin.h>
#endif

namespace pws {

// Capacity of SolveSpans: rows and dofs beyond it keep the dense loops (spans [0, nv)).
constexpr int kMaxSpanRows = 256;
constexpr int kMaxSpanDofs = 255;  // spans are stored as uint8_t bounds

// solver_dense_loops (support.h): the host switch back to the dense loops.

// Per-solve exact-zero structure (see the header comment): J row r is zero outside
// [jlo[r], jhi[r]) and qM row i outside [mlo[i], mhi[i]), from the dof tree (dof_parentid,
// body_dofend) for qM, contacts, joint limits and dof friction, and read off the row once per
// solve for the others (tendons, equalities).
struct SolveSpans {
  int nrow = 0, ndof = 0;  // rows / dofs with a span (the rest are dense)
  bool dense = true;       // the factor's rows are read whole (the test switch)
  uint8_t jlo[kMaxSpanRows], jhi[kMaxSpanRows];
  uint8_t mlo[kMaxSpanDofs + 1], mhi[kMaxSpanDofs + 1];
  // the Newton factor's rows: first nonzero column of L (factor_ldl's rowlo), kept when the
  // dofs form several trees (split; with one tree the rows start at or next to column 0 and
  // the searches are short, so the bookkeeping would cost more than it saves)
  bool split = false;
  uint8_t hlo[kMaxSpanDofs + 1];
};

// [lo, hi) of the nonzero entries of x[0:n] (lo = hi = 0 when all are zero).
template <typename T>
PWS_HD inline void nonzero_span(const T* x, int n, int* lo, int* hi) {
  int a = 0, b = n;
  while (a < n && x[a] == T(0)) ++a;
  if (a == n) {
    *lo = *hi = 0;
    return;
  }
  while (x[b - 1] == T(0)) --b;
  *lo = a;
  *hi = b;
}

template <typename T>
PWS_HD inline void solve_spans(const ModelView<T>& m, const World<T>& d, int nefc, SolveSpans* sp) {
  const int nv = m.nv, ld = m.nv_pad;
  bool dense = nv > kMaxSpanDofs;
#ifndef __CUDA_ARCH__
  dense = dense || solver_dense_loops();
#endif
  sp->nrow = 0;
  sp->ndof = 0;
  sp->dense = dense;
  sp->split = false;
  if (dense) return;
  // qM row i is zero outside the ancestors and descendants of dof i (crb writes only those
  // pairs): [its tree's root dof, its last descendant + 1), in O(nv) as parents precede
  // children (dof_parentid[i] < i)
  sp->ndof = nv;
  for (int i = 0; i < nv; ++i) {
    int p = m.dof_parentid[i];
    sp->mlo[i] = p < 0 ? (uint8_t)i : sp->mlo[p];
    sp->mhi[i] = (uint8_t)(i + 1);
  }
  for (int i = nv - 1; i >= 0; --i) {
    int p = m.dof_parentid[i];
    if (p >= 0 && sp->mhi[i] > sp->mhi[p]) sp->mhi[p] = sp->mhi[i];
  }
  sp->split = nv > 0 && sp->mlo[nv - 1] > 0;  // the last dof's tree starts after dof 0
  // J row spans: contact rows (the union of the two bodies' dof chains, contact_frame_jac),
  // joint limits and dof friction from the structure, the other rows (tendons, equalities)
  // read off J
  sp->nrow = nefc < kMaxSpanRows ? nefc : kMaxSpanRows;
  for (int r = 0; r < sp->nrow; ++r) {
    const int type = d.efc_type[r], id = d.efc_id[r];
    int lo, hi;
    if (type == kCnstrContactFrictionless || type == kCnstrContactPyramidal || type == kCnstrContactElliptic) {
      // chain of body b: dofs body_dofend[b], its parents, ... down to its tree's root dof
      const int e1 = m.body_dofend[m.geom_bodyid[d.con_geom[2 * id]]];
      const int e2 = m.body_dofend[m.geom_bodyid[d.con_geom[2 * id + 1]]];
      hi = (e1 > e2 ? e1 : e2) + 1;
      lo = hi;
      if (e1 >= 0) lo = sp->mlo[e1];
      if (e2 >= 0 && sp->mlo[e2] < lo) lo = sp->mlo[e2];
      if (hi == 0) lo = 0;
    } else if (type == kCnstrLimitJoint) {
      lo = m.jnt_dofadr[id];
      hi = lo + (m.jnt_type[id] == kJointBall ? 3 : 1);
    } else if (type == kCnstrFrictionDof) {
      lo = id;
      hi = id + 1;
    } else {
      nonzero_span(d.efc_J + (int64_t)r * ld, nv, &lo, &hi);
    }
    sp->jlo[r] = (uint8_t)lo;
    sp->jhi[r] = (uint8_t)hi;
  }
}

// Span of J row r / qM row i ([0, nv) when dense).
template <typename T>
PWS_HD inline void jspan(const SolveSpans& sp, const ModelView<T>& m, int r, int* lo, int* hi) {
  if (r < sp.nrow) {
    *lo = sp.jlo[r];
    *hi = sp.jhi[r];
  } else {
    *lo = 0;
    *hi = m.nv;
  }
}

template <typename T>
PWS_HD inline void mspan(const SolveSpans& sp, const ModelView<T>& m, int i, int* lo, int* hi) {
  if (i < sp.ndof) {
    *lo = sp.mlo[i];
    *hi = sp.mhi[i];
  } else {
    *lo = 0;
    *hi = m.nv;
  }
}

// dot_span (support.h): dot_n over a row's nonzero span, bit for bit.

// dot_span of a Jacobian row, a row with one nonzero (dof friction, a hinge or slide limit) read
// directly: dot_span's one product plus exact zeros, the same value (up to the sign of a zero).
template <typename T>
PWS_HD inline T dot_row(const T* a, const T* b, int n, int lo, int hi) {
  return hi - lo == 1 ? a[lo] * b[lo] : dot_span(a, b, n, lo, hi);
}

// Set bits of x.
PWS_HD inline int popcount32(uint32_t x) {
#ifdef __CUDA_ARCH__
  return __popc(x);
#else
  return __builtin_popcount(x);
#endif
}

// res (nv) += sign * sum_r J[r]' force[r] (support.h's add_jt_force over each row's span: the
// same products added to each res[i] in the same row order).
template <typename T>
PWS_HD inline void add_jt_force_span(const ModelView<T>& m, const World<T>& d, const SolveSpans& sp, int nefc, T sign,
                                     T* res) {
  const int ld = m.nv_pad;
  for (int r = 0; r < nefc; ++r) {
    T f = d.efc_force[r];
    if (f == T(0)) continue;
    const T* jrow = d.efc_J + (int64_t)r * ld;
    T sf = sign * f;
    int lo, hi;
    jspan(sp, m, r, &lo, &hi);
    for (int i = lo; i < hi; ++i) res[i] += jrow[i] * sf;
  }
}

// solver._row_cost: (cost, force = -d cost / dx, curvature) of one scalar row at jar = x.
template <typename T>
PWS_HD inline void row_cost(int type, T x, T dd, T r, T floss, T* cost, T* force, T* curv) {
  if (type == kCnstrEquality) {  // bilateral: always quadratic
    *cost = T(0.5) * dd * x * x;
    *force = -dd * x;
    *curv = dd;
    return;
  }
  if (type == kCnstrFrictionDof || type == kCnstrFrictionTendon) {
    if (x <= -r * floss) {
      *cost = -floss * x - T(0.5) * r * floss * floss;
      *force = floss;
      *curv = T(0);
      return;
    }
    if (x >= r * floss) {
      *cost = floss * x - T(0.5) * r * floss * floss;
      *force = -floss;
      *curv = T(0);
      return;
    }
    *cost = T(0.5) * dd * x * x;
    *force = -dd * x;
    *curv = dd;
    return;
  }
  if (x < T(0)) {
    *cost = T(0.5) * dd * x * x;
    *force = -dd * x;
    *curv = dd;
    return;
  }
  *cost = T(0);
  *force = T(0);
  *curv = T(0);
}

// mj_constraintUpdate at jar + alpha * jv (solver._constraint_update): returns cost, d cost / d alpha and
// d2 cost / d alpha2 in out[0..2]. With write (alpha must be 0), stores forces, states and the
// elliptic cone Hessian blocks, and reads jar only. jar_at (when given) replaces efc_jar.
template <typename T>
PWS_HD inline void constraint_update(const ModelView<T>& m, const World<T>& d, int nefc, T alpha, bool write,
                                     T out[3], const T* jar_at = nullptr) {
  (void)m;
  T cost = T(0), g = T(0), h = T(0);
  const T* jar = jar_at ? jar_at : d.efc_jar;
  const T* jv = d.efc_jv;
  int r = 0;
  while (r < nefc) {
    int type = d.efc_type[r];
    if (type != kCnstrContactElliptic) {
      T jvr = write ? T(0) : jv[r];
      T x = write ? jar[r] : jar[r] + alpha * jvr;
      T c, f, cv;
      row_cost(type, x, d.efc_D[r], d.efc_R[r], d.efc_frictionloss[r], &c, &f, &cv);
      cost += c;
      if (write) {
        d.efc_force[r] = f;
        d.efc_state[r] = cv != T(0) ? 1 : (f != T(0) ? 2 : 0);
      } else {
        g -= f * jvr;
        h += cv * jvr * jvr;
      }
      ++r;
      continue;
    }
    // elliptic cone block of dim rows (mj_constraintUpdate_impl)
    int dim = d.efc_dim[r];
    if (dim < 1) dim = 1;
    const T* coef = d.efc_coef + r;
    T mu = coef[0];
    T jv0 = write ? T(0) : jv[r];
    T n = (jar[r] + alpha * jv0) * mu;
    T dn = jv0 * mu;
    T tt = T(0);
    for (int j = 1; j < dim; ++j) {
      T jvj = write ? T(0) : jv[r + j];
      T u = (jar[r + j] + alpha * jvj) * coef[j];
      tt += u * u;
    }
    T t = pws_sqrt(tt);
    int state = 0;
    if (n >= mu * t || (t <= T(0) && n >= T(0))) {
      if (write)
        for (int j = 0; j < dim; ++j) d.efc_force[r + j] = T(0);
    } else if (mu * n + t <= T(0) || (t <= T(0) && n < T(0))) {
      state = 1;
      for (int j = 0; j < dim; ++j) {
        T jvj = write ? T(0) : jv[r + j];
        T x = jar[r + j] + alpha * jvj;
        T dd = d.efc_D[r + j];
        cost += T(0.5) * dd * x * x;
        g += dd * x * jvj;
        h += dd * jvj * jvj;
        if (write) d.efc_force[r + j] = -dd * x;
      }
    } else {
      state = 3;
      T dm = d.efc_D[r] / (mu * mu * (T(1) + mu * mu));
      T nmt = n - mu * t;
      cost += T(0.5) * dm * nmt * nmt;
      if (!write) {
        T dt = T(0), dudu = T(0);
        for (int j = 1; j < dim; ++j) {
          T u = (jar[r + j] + alpha * jv[r + j]) * coef[j];
          T du = jv[r + j] * coef[j];
          dt += u * du;
          dudu += du * du;
        }
        dt = dt / t;
        T d2t = (dudu - dt * dt) / t;
        T dnmt = dn - mu * dt;
        g += dm * nmt * dnmt;
        h += dm * (dnmt * dnmt - nmt * mu * d2t);
      } else {
        T f0 = -dm * nmt * mu;
        d.efc_force[r] = f0;
        for (int j = 1; j < dim; ++j) {
          T u = jar[r + j] * coef[j];
          d.efc_force[r + j] = -f0 / t * u * coef[j];
        }
        // cone Hessian block (upper triangle, then mirrored), scaled by the coefficients
        T* H = d.efc_cone_H + 6 * r;  // rows r..r+dim-1, 6 columns each
        for (int k = 0; k < dim; ++k)
          for (int j = 0; j < dim; ++j) H[6 * k + j] = T(0);
        H[0] = T(1);
        for (int j = 1; j < dim; ++j) H[j] = -mu / t * (jar[r + j] * coef[j]);
        T scl = mu * n / (t * t * t);
        for (int k = 1; k < dim; ++k) {
          T uk = jar[r + k] * coef[k];
          for (int j = k; j < dim; ++j) H[6 * k + j] = scl * (jar[r + j] * coef[j]) * uk;
        }
        for (int j = 1; j < dim; ++j) H[6 * j + j] += mu * mu - mu * n / t;
        for (int k = 0; k < dim; ++k) {
          T ck = k > 0 ? coef[k] : mu;
          for (int j = k; j < dim; ++j) {
            T cj = j > 0 ? coef[j] : mu;
            H[6 * k + j] = H[6 * k + j] * dm * ck * cj;
          }
        }
        for (int k = 0; k < dim; ++k)
          for (int j = k + 1; j < dim; ++j) H[6 * j + k] = H[6 * k + j];
      }
    }
    if (write)
      for (int j = 0; j < dim; ++j) d.efc_state[r + j] = state;
    r += dim;
  }
  out[0] = cost;
  out[1] = g;
  out[2] = h;
}

// Zone of scalar row r (not an elliptic cone row) at jar = x, row_cost's cases without its
// branches: below / above the quadratic zone (friction loss: x <= -R floss / x >= R floss,
// constant force +-floss; one-sided rows: x >= 0, no force, and !(x < 0) so that a NaN x stays
// inactive as in row_cost; equality rows: always quadratic). kOneSided: every row is one-sided
// (no type read).
template <bool kOneSided, typename T>
PWS_HD inline void scalar_row_zone(const World<T>& d, int r, T x, bool* friction, bool* below, bool* above) {
  if (kOneSided) {
    *friction = false;
    *below = false;
    *above = !(x < T(0));
    return;
  }
  const int type = d.efc_type[r];
  const bool fr = type == kCnstrFrictionDof || type == kCnstrFrictionTendon;
  const T b = d.efc_R[r] * d.efc_frictionloss[r];
  *friction = fr;
  *below = fr && x <= -b;
  *above = fr ? x >= b : (type != kCnstrEquality && !(x < T(0)));
}

// Line-search derivatives over scalar rows (no elliptic cones): d cost / d alpha in *g and the
// curvature in *h at jar + alpha jv (constraint_update with write = false, the cost itself not
// needed there), each row's terms by row_cost's arithmetic without its branches, summed into
// eight partial sums (row r into sum r % 8) so that the row loop vectorises; rounding differs
// from constraint_update's sequential sums, not the math. With one-sided rows only the solver
// calls ls_derivs_onesided instead (its sequential sums cost less there).
template <typename T>
PWS_HD inline void ls_derivs_scalar(const World<T>& d, int nefc, T alpha, T* g, T* h) {
  const T* jar = d.efc_jar;
  const T* jv = d.efc_jv;
  const T* D = d.efc_D;
  T gs[8], hs[8];
  for (int k = 0; k < 8; ++k) {
    gs[k] = T(0);
    hs[k] = T(0);
  }
  for (int r0 = 0; r0 < nefc; r0 += 8) {
    const int n = nefc - r0 < 8 ? nefc - r0 : 8;
    for (int k = 0; k < n; ++k) {
      const int r = r0 + k;
      T j = jv[r];
      T x = jar[r] + alpha * j;
      bool fr, below, above;
      scalar_row_zone<false>(d, r, x, &fr, &below, &above);
      T dd = D[r];
      T fl = d.efc_frictionloss[r];
      // d cost / d x: -force (row_cost's); 0 for an inactive one-sided row
      T dc = below ? -fl : (above ? (fr ? fl : T(0)) : dd * x);
      T cv = below || above ? T(0) : dd;
      gs[k] += dc * j;
      hs[k] += cv * j * j;
    }
  }
  *g = ((gs[0] + gs[1]) + (gs[2] + gs[3])) + ((gs[4] + gs[5]) + (gs[6] + gs[7]));
  *h = ((hs[0] + hs[1]) + (hs[2] + hs[3])) + ((hs[4] + hs[5]) + (hs[6] + hs[7]));
}

// Line-search derivatives when every row is a one-sided scalar row (limits, frictionless and
// pyramidal contacts): row r is active when x = jar + alpha jv < 0 and then adds D x jv to
// d cost / d alpha and D jv^2 to the curvature (constraint_update with write = false, without
// the per-row type branches; the same sums in the same row order, so bit-identical). The
// sequential sums cost less here than ls_derivs_scalar's eight partial sums (callgrind, the
// two-humanoid sumo world: its solve +2.1% with those). Returns d cost / d alpha in *g and the
// curvature in *h (the cost itself is not needed there).
template <typename T>
PWS_HD inline void ls_derivs_onesided(int nefc, const T* jar, const T* jv, const T* D, T alpha, T* g, T* h) {
  T gs = T(0), hs = T(0);
  for (int r = 0; r < nefc; ++r) {
    T j = jv[r];
    T x = jar[r] + alpha * j;
    T dd = x < T(0) ? D[r] : T(0);  // inactive rows add exact zeros
    gs += dd * x * j;
    hs += dd * j * j;
  }
  *g = gs;
  *h = hs;
}

// Cost of the scalar rows at jar (no elliptic cones), storing their forces and states:
// constraint_update with write = true, the same arithmetic per row and the same sequential sum
// (bit-identical), without the per-row type branches.
template <bool kOneSided, typename T>
PWS_HD inline T scalar_rows_cost(const World<T>& d, int nefc) {
  T cost = T(0);
  for (int r = 0; r < nefc; ++r) {
    T x = d.efc_jar[r];
    bool fr, below, above;
    scalar_row_zone<kOneSided>(d, r, x, &fr, &below, &above);
    T dd = d.efc_D[r];
    bool quad = !(below || above);
    T c, f;
    if (kOneSided) {
      c = quad ? T(0.5) * dd * x * x : T(0);
      f = quad ? -dd * x : T(0);
    } else {
      T fl = d.efc_frictionloss[r], rr = d.efc_R[r];
      T lin = (below ? -fl : fl) * x - T(0.5) * rr * fl * fl;
      c = quad ? T(0.5) * dd * x * x : (fr ? lin : T(0));
      f = quad ? -dd * x : (fr ? (below ? fl : -fl) : T(0));
    }
    T cv = quad ? dd : T(0);
    cost += c;
    d.efc_force[r] = f;
    d.efc_state[r] = cv != T(0) ? 1 : (f != T(0) ? 2 : 0);
  }
  return cost;
}

// Which rows the solver meets (solve checks once per solve): every row one-sided (limits,
// frictionless and pyramidal contacts), every row scalar (no elliptic cones), or any.
enum class SolverRows : int { kOneSided, kScalar, kAny };

// Cost at qacc from Ma = M qacc and jar = J qacc - aref (already set); stores the rows' forces
// and states. The Gauss term runs over the dofs [dlo, dhi) (an island's; default all). Scalar rows are evaluated without constraint_update's per-row type branches
// (scalar_rows_cost: the same sums in the same order, bit-identical).
template <typename T>
PWS_HD inline T solver_cost(const ModelView<T>& m, const World<T>& d, int nefc, SolverRows rows = SolverRows::kAny,
                            int dlo = 0, int dhi = -1) {
  T cost = T(0);
  if (dhi < 0) dhi = m.nv;
  for (int i = dlo; i < dhi; ++i) cost += T(0.5) * (d.efc_Ma[i] - d.qfrc_smooth[i]) * (d.qacc[i] - d.qacc_smooth[i]);
  if (rows == SolverRows::kOneSided) return cost + scalar_rows_cost<true>(d, nefc);
  if (rows == SolverRows::kScalar) return cost + scalar_rows_cost<false>(d, nefc);
  T c[3];
  constraint_update(m, d, nefc, T(0), true, c);
  return cost + c[0];
}

// res = qM vec; qM is the dense symmetric (nv, nv) matrix (zeros outside the tree sparsity),
// so dense row dot products, which vectorise, beat walking dof_parentid chains. res != vec.
template <typename T>
PWS_HD inline void mul_m(int nv, const T* qM, const T* vec, T* res) {
  for (int i = 0; i < nv; ++i) res[i] = dot_n(qM + i * nv, vec, nv);
}

// mul_m over the rows' tree spans (dot_span: the same bits).
template <typename T>
PWS_HD inline void mul_m_span(const ModelView<T>& m, const SolveSpans& sp, const T* qM, const T* vec, T* res) {
  const int nv = m.nv;
  for (int i = 0; i < nv; ++i) {
    int lo, hi;
    mspan(sp, m, i, &lo, &hi);
    res[i] = dot_span(qM + i * nv, vec, nv, lo, hi);
  }
}

// solver._solver_eval: Ma = M qacc, jar = J qacc - aref, forces and states; returns the total cost.
template <typename T>
PWS_HD inline T solver_eval(const ModelView<T>& m, const World<T>& d, const SolveSpans& sp, int nefc) {
  const int nv = m.nv, ld = m.nv_pad;
  mul_m_span(m, sp, d.qM, d.qacc, d.efc_Ma);
  for (int r = 0; r < nefc; ++r) {
    int lo, hi;
    jspan(sp, m, r, &lo, &hi);
    d.efc_jar[r] = dot_span(d.efc_J + (int64_t)r * ld, d.qacc, nv, lo, hi) - d.efc_aref[r];
  }
  return solver_cost(m, d, nefc);
}

// Indices of the nonzero entries of x[0:n] into nz (capacity kMaxSparseDofs); returns their
// count, or -1 when n exceeds the capacity (callers then take the dense path).
constexpr int kMaxSparseDofs = 64;

template <typename T>
PWS_HD inline int nonzeros(const T* x, int n, int* nz) {
  if (n > kMaxSparseDofs) return -1;
  int cnt = 0;
  for (int i = 0; i < n; ++i) {
    nz[cnt] = i;  // branch-free compaction
    cnt += x[i] != T(0);
  }
  return cnt;
}

// row[j] = row[j] + s * x[j] (kAdd) or row[j] - s * x[j] for j in [lo, hi), the same operations
// as the scalar loop. With AVX on the CPU, T = float and ld (the row length of row and x) a
// multiple of 8, the loop runs over the whole 8-float blocks that cover [lo, hi) instead (lo
// rounded down, hi up, still inside the rows), with no scalar head or tail. The caller
// guarantees x[j] == 0 exactly below lo, so the entries below lo get +-0 (unchanged but for
// the sign of a zero), and that nothing reads row[j] for j >= hi from these rows (the upper
// triangle and the pad columns of H and its factor, which then hold whatever x holds there).
template <bool kAdd, typename T>
PWS_HD inline void axpy_blocks(T* row, const T* x, T s, int lo, int hi, int ld) {
#if defined(__AVX__) && !defined(__CUDA_ARCH__)
  if constexpr (std::is_same<T, float>::value) {
    if ((ld & 7) == 0) {
      const __m256 vs = _mm256_set1_ps(s);
      for (int j = lo & ~7; j < hi; j += 8) {
        const __m256 p = _mm256_mul_ps(vs, _mm256_loadu_ps(x + j));
        const __m256 r = _mm256_loadu_ps(row + j);
        _mm256_storeu_ps(row + j, kAdd ? _mm256_add_ps(r, p) : _mm256_sub_ps(r, p));
      }
      return;
    }
  }
#endif
  (void)ld;
  for (int j = lo; j < hi; ++j) row[j] = kAdd ? row[j] + s * x[j] : row[j] - s * x[j];
}

// H[lower] += a * x y' where x and y are zero outside the dofs nz (count nnz; -1: all dofs) and
// y is zero before column ylo. Row i is updated densely over columns ylo..i (axpy_blocks): y
// adds exact zeros outside nz, and the contiguous loop vectorises where a walk of nz would
// gather.
template <typename T>
PWS_HD inline void add_outer_lower(T* H, int ld, int nv, const T* x, const T* y, T a, const int* nz, int nnz,
                                   int ylo = 0) {
  const int n = nnz < 0 ? nv : nnz;
  for (int p = 0; p < n; ++p) {
    int i = nnz < 0 ? p : nz[p];
    T xi = x[i];
    if (xi == T(0)) continue;
    T s = a * xi;
    axpy_blocks<true>(H + (int64_t)i * ld, y, s, ylo, i + 1, ld);
  }
}

// rowlo[i] (a column below which row i is zero) lowered to ylo for the rows add_outer_lower
// writes (x[i] != 0 over nz); apart from it so that its loop stays as it is without rowlo.
template <typename T>
PWS_HD inline void lower_row_bounds(uint8_t* rowlo, int nv, const T* x, const int* nz, int nnz, int ylo) {
  const int n = nnz < 0 ? nv : nnz;
  for (int p = 0; p < n; ++p) {
    int i = nnz < 0 ? p : nz[p];
    if (x[i] != T(0) && ylo < rowlo[i]) rowlo[i] = (uint8_t)ylo;
  }
}

// Dofs of contact c's Jacobian rows, ascending: the union of the ancestor chains of its two
// bodies (the walk of contact_frame_jac). Needs nv <= kMaxSparseDofs.
template <typename T>
PWS_HD inline int contact_pattern(const ModelView<T>& m, const World<T>& d, int c, int* nz) {
  const int* parent = m.dof_parentid;
  int i1 = m.body_dofend[m.geom_bodyid[d.con_geom[2 * c]]];
  int i2 = m.body_dofend[m.geom_bodyid[d.con_geom[2 * c + 1]]];
  int desc[kMaxSparseDofs];
  int cnt = 0;
  while (i1 >= 0 || i2 >= 0) {
    if (i1 == i2) {
      desc[cnt++] = i1;
      i1 = parent[i1];
      i2 = parent[i2];
    } else if (i1 > i2) {
      desc[cnt++] = i1;
      i1 = parent[i1];
    } else {
      desc[cnt++] = i2;
      i2 = parent[i2];
    }
  }
  for (int k = 0; k < cnt; ++k) nz[k] = desc[cnt - 1 - k];
  return cnt;
}

// L'DL of the symmetric positive definite matrix in the lower triangle of LD (leading
// dimension ld), eliminating the last dof first as the tree factorisation of M does
// (factor_tree): row k then holds L[k, 0:k] and D[k] on the diagonal. For M plus J' D J with
// rows on dof chains the fill stays inside the tree and the contacts' dof sets; zero entries of
// row k are skipped (on M's tree sparsity these are the same updates, in the same order, as
// factor_tree's walk of dof_parentid), and the update of row i runs densely over columns
// 0..i (exact zeros outside the pattern) so that it vectorises (axpy_blocks: whole 8-float
// blocks on the CPU; the widened entries are the upper triangle, which nothing reads).
//
// Columns before row k's first nonzero (final when k is eliminated) are skipped: there
// lk[j] == 0, so li[j] -= tmp * lk[j] is exact. With block-diagonal H (dof sets that neither
// the tree nor an active row couples, e.g. two robots apart) the factorisation stays inside
// each block. dense (the test switch) keeps columns 0..i.
//
// rowlo (optional, not with dense): per row, a column below which the row is zero (the tree
// span of qM's row lowered by the J' D J rows, newton_factor); the search for row k's first
// nonzero starts there instead of at column 0 (the same column: everything before the bound
// is zero), and fill lowers the bounds of the rows it reaches. On return rowlo[k] is row k's
// first nonzero column of L, which solve_ldl and update_ldl then read instead of searching
// row by row on every solve (a second robot's rows start ~nv/2 zeros in).
//
// dlo (not with dense): factor only the trailing block [dlo, nv) of a matrix that is block
// diagonal there (a constraint island's dofs, solve_island): its rows are zero before dlo.
template <typename T>
PWS_HD inline void factor_ldl(int nv, int ld, T* LD, T* diag_inv, bool dense = false, uint8_t* rowlo = nullptr,
                              int dlo = 0) {
  for (int k = nv - 1; k >= dlo; --k) {
    T* lk = LD + (int64_t)k * ld;
    T inv = T(1) / lk[k];
    int first = dense ? 0 : dlo;
    if (!dense) {
      if (rowlo) first = rowlo[k];
      while (first < k && lk[first] == T(0)) ++first;
      if (rowlo) rowlo[k] = (uint8_t)first;
    }
    for (int i = k - 1; i >= first; --i) {
      if (lk[i] == T(0)) continue;
      T tmp = lk[i] * inv;
      axpy_blocks<false>(LD + (int64_t)i * ld, lk, tmp, first, i + 1, ld);
      lk[i] = tmp;
      if (rowlo && first < rowlo[i]) rowlo[i] = (uint8_t)first;
    }
  }
  for (int k = dlo; k < nv; ++k) diag_inv[k] = T(1) / LD[(int64_t)k * ld + k];
}

// x = (L' D L)^-1 x with the factor of factor_ldl.
// Row i of L is read from its first nonzero column on (zeros before it: exact, and dot_span
// keeps dot_n's partial sums); dense (the test switch) reads it whole. first (optional): the
// rows' first nonzero columns or lower bounds of them (factor_ldl's rowlo, kept by update_ldl),
// else they are searched. dlo: the trailing block [dlo, nv) only, as factor_ldl's dlo.
template <typename T>
PWS_HD inline void solve_ldl(int nv, int ld, const T* LD, const T* diag_inv, T* x, bool dense = false,
                             const uint8_t* first = nullptr, int dlo = 0) {
  uint8_t found[kMaxSpanDofs + 1];
  const bool spans = !dense && nv <= kMaxSpanDofs;
  if (!spans) first = nullptr;
  for (int i = nv - 1; i >= dlo; --i) {
    T xi = x[i];
    const T* li = LD + (int64_t)i * ld;
    int f = dlo;
    if (first) {
      f = first[i];
    } else if (spans) {
      while (f < i && li[f] == T(0)) ++f;
      found[i] = (uint8_t)f;
    }
    if (xi != T(0))
      for (int j = f; j < i; ++j) x[j] -= li[j] * xi;
  }
  for (int i = dlo; i < nv; ++i) x[i] *= diag_inv[i];
  const uint8_t* lo = first ? first : found;
  for (int i = dlo; i < nv; ++i) x[i] -= dot_span(LD + (int64_t)i * ld, x, i, spans ? (int)lo[i] : dlo, i);
}

// LD + alpha w w' in place on the factor of factor_ldl (a row entering or leaving the active
// set), as MuJoCo's incremental Hessian: Gill-Golub-Murray-Saunders method C1 for L D L' in the
// elimination order (k = nv-1 first; row k of LD is column k of that L). Dofs where w is zero
// leave everything unchanged and are skipped; the row updates run densely over columns 0..k-1
// (zeros of row k leave w, and zeros of w leave row k, as they are; fill where a row spans two
// branches appears as in a refactorisation). w is overwritten. A downdate that cancels a pivot
// below kMinUpdatePivot of its old value returns false: in float32 the pivot would keep an
// error of eps * D_row, large next to a small mass pivot, so the caller refactors instead.
constexpr float kMinUpdatePivot = 1e-2f;

//
// w is zero outside [wlo, whi) (the row's span); columns below both wlo and row k's first
// nonzero hold zeros in w and row k, which the update leaves zero, so they are skipped (wlo
// then moves down to that first nonzero: fill in w). first (optional): the rows' first nonzero
// columns (factor_ldl's rowlo), read instead of searched and lowered where the update fills.
template <typename T>
PWS_HD inline bool update_ldl(int nv, int ld, T* LD, T* diag_inv, T* w, T alpha, int wlo = 0, int whi = -1,
                              uint8_t* first = nullptr) {
  T a = alpha;
  for (int k = (whi < 0 ? nv : whi) - 1; k >= 0; --k) {
    T p = w[k];
    if (p == T(0)) continue;
    T* lk = LD + (int64_t)k * ld;
    int f = 0;
    if (first) {
      f = first[k] < wlo ? first[k] : wlo;
      first[k] = (uint8_t)f;
    } else {
      while (f < wlo && lk[f] == T(0)) ++f;
    }
    wlo = f;
    T dk = lk[k];
    T dnew = dk + a * p * p;
    if (!(dnew > T(kMinUpdatePivot) * dk)) return false;
    T beta = p * a / dnew;
    a = dk * a / dnew;
    lk[k] = dnew;
    diag_inv[k] = T(1) / dnew;
    for (int i = wlo; i < k; ++i) {
      T wi = w[i] - p * lk[i];
      w[i] = wi;
      lk[i] += beta * wi;
    }
  }
  return true;
}

// Newton direction: H = M + J' D_active J (+ cone blocks), factored by factor_ldl. Only the
// nonzero rows of each Jacobian row's pattern are accumulated.
// sp.hlo (when the spans cover every dof) receives the factor rows' first nonzero columns: it
// starts at qM's tree spans and is lowered by the rows added and the fill (factor_ldl).
// [dlo, dhi): the dofs of the rows' island (solve_island; default all): only that diagonal
// block of H is built and factored.
template <typename T>
PWS_HD inline void newton_factor(const ModelView<T>& m, const World<T>& d, SolveSpans& sp, int nefc,
                                 T* diag_inv, int dlo = 0, int dhi = -1) {
  const int nv = m.nv, ld = m.nv_pad;
  if (dhi < 0) dhi = nv;
  T* H = d.efc_H;
  // from the 8-float block holding column dlo: axpy_blocks and dot_span read whole blocks, so
  // the columns of that block before dlo (qM's exact zeros there) must be set too
  for (int i = dlo; i < dhi; ++i)
    for (int j = dlo & ~7; j <= i; ++j) H[(int64_t)i * ld + j] = d.qM[i * nv + j];
  uint8_t* rowlo = sp.split ? sp.hlo : nullptr;
  if (rowlo)
    for (int i = dlo; i < dhi; ++i) rowlo[i] = sp.mlo[i];
  // J' D J over the active rows. A contact's rows share one sparsity pattern (the dofs of
  // both bodies' ancestor chains); a row-pattern union is used for elliptic blocks.
  int nz[kMaxSparseDofs];
  int last_type = -1, last_id = -1, last_nnz = -1;
  int r = 0;
  while (r < nefc) {
    int state = d.efc_state[r];
    if (d.efc_type[r] == kCnstrContactElliptic) {
      int dim = d.efc_dim[r];
      if (dim < 1) dim = 1;
      if (state == 1 || state == 3) {
        // nonzero pattern of the block: union of its rows
        int nnz = -1, blo = nv;
        for (int k = 0; k < dim; ++k) {
          int lo, hi;
          jspan(sp, m, r + k, &lo, &hi);
          if (hi > lo && lo < blo) blo = lo;
        }
        if (blo == nv) blo = 0;
        if (nv <= kMaxSparseDofs) {
          nnz = 0;
          for (int i = 0; i < nv; ++i) {
            bool any = false;
            for (int k = 0; k < dim; ++k) any = any || d.efc_J[(int64_t)(r + k) * ld + i] != T(0);
            if (any) nz[nnz++] = i;
          }
        }
        last_id = -1;  // nz now holds this block's pattern
        for (int k = 0; k < dim; ++k) {
          const T* jk = d.efc_J + (int64_t)(r + k) * ld;
          if (state == 1) {
            add_outer_lower(H, ld, nv, jk, jk, d.efc_D[r + k], nz, nnz, blo);
            if (rowlo) lower_row_bounds(rowlo, nv, jk, nz, nnz, blo);
          } else {
            for (int l = 0; l < dim; ++l) {
              T c = d.efc_cone_H[6 * (r + k) + l];
              if (c != T(0)) {
                add_outer_lower(H, ld, nv, jk, d.efc_J + (int64_t)(r + l) * ld, c, nz, nnz, blo);
                if (rowlo) lower_row_bounds(rowlo, nv, jk, nz, nnz, blo);
              }
            }
          }
        }
      }
      r += dim;
    } else {
      if (state == 1) {
        const T* jr = d.efc_J + (int64_t)r * ld;
        // the rows of one contact share a pattern (the dofs of both bodies' chains, a superset
        // of each row's nonzeros: the extra entries add exact zeros, so H is unchanged)
        int type = d.efc_type[r], id = d.efc_id[r];
        bool same = type == last_type && id == last_id &&
                    (type == kCnstrContactPyramidal || type == kCnstrContactFrictionless);
        if (!same) {
          if ((type == kCnstrContactPyramidal || type == kCnstrContactFrictionless) && nv <= kMaxSparseDofs) {
            last_nnz = contact_pattern(m, d, id, nz);
          } else if (type == kCnstrFrictionDof) {
            nz[0] = id;  // the row of dof id
            last_nnz = 1;
          } else if (type == kCnstrLimitJoint) {
            // the dofs of joint id (a ball limit row spans its three dofs)
            last_nnz = m.jnt_type[id] == kJointBall ? 3 : 1;
            for (int k = 0; k < last_nnz; ++k) nz[k] = m.jnt_dofadr[id] + k;
          } else {
            last_nnz = nonzeros(jr, nv, nz);
          }
          last_type = type;
          last_id = id;
        }
        int lo, hi;
        jspan(sp, m, r, &lo, &hi);
        add_outer_lower(H, ld, nv, jr, jr, d.efc_D[r], nz, last_nnz, lo);
        if (rowlo) lower_row_bounds(rowlo, nv, jr, nz, last_nnz, lo);
      }
      ++r;
    }
  }
  factor_ldl(dhi, ld, H, diag_inv, sp.dense, rowlo, dlo);
}

// The factor of newton_factor for the active rows (efc_state 1) of `mask` from the factor for
// those of `old_mask` (one-sided rows only): rank-1 updates for the rows that became active,
// then downdates for those that left (downdating a larger matrix loses less). Returns false
// when a downdate cancels (update_ldl); the factor is then spoiled and must be rebuilt.
template <typename T>
PWS_HD inline bool newton_update(const ModelView<T>& m, const World<T>& d, SolveSpans& sp, int nefc,
                                 const uint32_t* mask, const uint32_t* old_mask, T* diag_inv) {
  const int nv = m.nv, ld = m.nv_pad;
  T* w = d.qacc_scratch;  // free here (the line search's M search is formed after the solve)
  uint8_t* first = sp.split ? sp.hlo : nullptr;  // newton_factor's
  for (int pass = 0; pass < 2; ++pass) {
    for (int r = 0; r < nefc; ++r) {
      uint32_t bit = 1u << (r & 31);
      bool now = (mask[r >> 5] & bit) != 0u, before = (old_mask[r >> 5] & bit) != 0u;
      if (now == before || now != (pass == 0)) continue;
      const T* jr = d.efc_J + (int64_t)r * ld;
      for (int i = 0; i < nv; ++i) w[i] = jr[i];
      int lo, hi;
      jspan(sp, m, r, &lo, &hi);
      if (!update_ldl(nv, ld, d.efc_H, diag_inv, w, now ? d.efc_D[r] : -d.efc_D[r], lo, hi, first)) return false;
    }
  }
  return true;
}

// search = -H^-1 grad from the factor of newton_factor, over the dofs [dlo, dhi).
template <typename T>
PWS_HD inline void newton_solve(const ModelView<T>& m, const World<T>& d, const SolveSpans& sp, const T* diag_inv,
                                int dlo, int dhi) {
  T* search = d.efc_search;
  for (int i = dlo; i < dhi; ++i) search[i] = -d.efc_grad[i];
  solve_ldl(dhi, m.nv_pad, d.efc_H, diag_inv, search, sp.dense, sp.split ? sp.hlo : nullptr, dlo);
}

constexpr int kMaxReuseRows = 256;  // Newton factor reuse: active-set bitmask capacity
constexpr int kMaxRankUpdates = 6;  // more changed rows than this: a new factorisation is cheaper

enum : int { kSolverPGS = 0, kSolverCG = 1, kSolverNewton = 2 };

// The primal solve (Newton or CG, mj_solPrimal) of the rows [0, nefc) of d over the dofs
// [dlo, dhi), which those rows span (all of them, or a constraint island's, solve_island),
// from efc_jar / efc_jv as solve forms them: qacc, efc_Ma, the rows' forces and states,
// qfrc_constraint over [dlo, dhi), solver_niter and converged.
template <typename T>
PWS_HD inline void solve_primal(const ModelView<T>& m, const World<T>& d, SolveSpans& sp, int nefc, int dlo,
                                int dhi) {
  const int nv = m.nv, ld = m.nv_pad;
  const bool ws = m.en_warmstart != 0;
  bool onesided = true;
  // scalar_rows: no elliptic cone blocks, so the Newton Hessian is M + J' D J over the rows in
  // state 1 (quadratic) alone: equality rows (always quadratic), friction-loss rows in their
  // quadratic zone and one-sided rows alike (newton_factor), and the factor follows the set of
  // those rows (MuJoCo's HessianIncremental does the same over every row of a pyramidal solve)
  bool scalar_rows = true;
  for (int r = 0; r < nefc; ++r) {
    int type = d.efc_type[r];
    onesided = onesided && type != kCnstrEquality && type != kCnstrFrictionDof && type != kCnstrFrictionTendon &&
               type != kCnstrContactElliptic;
    scalar_rows = scalar_rows && type != kCnstrContactElliptic;
  }
  const SolverRows rows = onesided ? SolverRows::kOneSided : (scalar_rows ? SolverRows::kScalar : SolverRows::kAny);

  // start from the warm start or the smooth acceleration, whichever costs less. The Gauss term
  // of qacc_smooth is zero, so its cost is that of the rows at J qacc_smooth - aref (efc_jv),
  // read without writing forces; it is fully evaluated only when chosen. M qacc_warmstart and
  // M qacc_smooth come from one pass over qM.
  T cost;
  bool smooth = true;
  T* Ma_s = d.qacc_scratch;  // free during the solve (the integrators write it afterwards)
  {
    const T* qa = ws ? d.qacc_warmstart : d.qacc_smooth;
    for (int i = dlo; i < dhi; ++i) {
      int lo, hi;
      mspan(sp, m, i, &lo, &hi);
      d.efc_Ma[i] = dot_span(d.qM + i * nv, qa, nv, lo, hi);
      Ma_s[i] = dot_span(d.qM + i * nv, d.qacc_smooth, nv, lo, hi);
    }
  }
  if (ws) {
    for (int i = dlo; i < dhi; ++i) d.qacc[i] = d.qacc_warmstart[i];
    T cost_ws = solver_cost(m, d, nefc, rows, dlo, dhi);
    T c[3];
    constraint_update(m, d, nefc, T(0), false, c, d.efc_jv);  // the rows at efc_jv, nothing written
    smooth = cost_ws > c[0] || !pws_isfinite(cost_ws);
    cost = cost_ws;
    if (smooth)
      for (int r = 0; r < nefc; ++r) d.efc_jar[r] = d.efc_jv[r];
  }
  if (smooth) {
    for (int i = dlo; i < dhi; ++i) {
      d.qacc[i] = d.qacc_smooth[i];
      d.efc_Ma[i] = Ma_s[i];
    }
    cost = solver_cost(m, d, nefc, rows, dlo, dhi);
  }

  T* grad = d.efc_grad;
  T* Mgrad = d.efc_Mgrad;
  T* search = d.efc_search;
  T* Mp = d.qacc_scratch;  // free during the solve (the integrators write it afterwards)
  int niter = 0;
  T prev_grad_mgrad = T(0);
  uint32_t factor_mask[kMaxReuseRows / 32];
  bool have_factor = false;
  for (int i = dlo; i < dhi; ++i) {
    search[i] = T(0);
    Mgrad[i] = T(0);
  }
  while (niter < m.iterations) {
    // gradient: M qacc - qfrc_smooth - J' force
    for (int i = dlo; i < dhi; ++i) grad[i] = d.efc_Ma[i] - d.qfrc_smooth[i];
    add_jt_force_span(m, d, sp, nefc, T(-1), grad);
    T gnorm = T(0);
    for (int i = dlo; i < dhi; ++i) gnorm += grad[i] * grad[i];
    if (m.solver_scale * pws_sqrt(gnorm) < m.tolerance) {
      d.efc_converged[0] = 1;
      break;
    }

    if (m.solver_type == kSolverNewton) {
      // H = M + J' D_active J depends on the set of quadratic rows only (scalar rows): when it
      // is the one of the last factorisation, that factor is reused (same arithmetic,
      // bit-identical).
      // When only a few rows changed state, the factor is updated by rank-1 changes instead
      // (MuJoCo's incremental Hessian): ~2.6 of ~19 active rows change between the humanoid's
      // factorisations, and an update costs about a tenth of a build and factorisation.
      bool reuse = false;
      if (scalar_rows && nefc <= kMaxReuseRows) {
        // the active set as a bitmask, 32 rows a word, and the number of rows whose bit
        // differs from the factor's (bits past nefc stay zero in both)
        uint32_t mask[kMaxReuseRows / 32];
        int nchanged = 0;
        for (int w = 0; w < kMaxReuseRows / 32; ++w) {
          uint32_t bits = 0u;
          const int r0 = 32 * w, n = nefc - r0 < 32 ? nefc - r0 : 32;
          for (int k = 0; k < n; ++k) bits |= (d.efc_state[r0 + k] == 1 ? 1u : 0u) << k;
          mask[w] = bits;
          if (have_factor) nchanged += popcount32(bits ^ factor_mask[w]);
        }
        if (have_factor && nchanged == 0)
          reuse = true;
        else if (have_factor && nchanged <= kMaxRankUpdates)
          reuse = newton_update(m, d, sp, nefc, mask, factor_mask, Mgrad);
        for (int w = 0; w < kMaxReuseRows / 32; ++w) factor_mask[w] = mask[w];
      }
      if (!reuse) {
        newton_factor(m, d, sp, nefc, Mgrad, dlo, dhi);
        have_factor = scalar_rows && nefc <= kMaxReuseRows;
      }
      newton_solve(m, d, sp, Mgrad, dlo, dhi);
      // MuJoCo's Newton decrement test: 0.5 grad' H^-1 grad is the improvement the next step
      // would make; below the tolerance the solve has converged (the first step is gated by
      // the gradient test above, as in mj_solPrimal)
      if (niter > 0) {
        T dec = T(0);
        for (int i = dlo; i < dhi; ++i) dec -= grad[i] * search[i];
        if (m.solver_scale * T(0.5) * dec < m.tolerance) {
          d.efc_converged[0] = 1;
          break;
        }
      }
    } else {
      // preconditioned Polak-Ribiere CG with M^-1 (the factor of qM)
      T cross_ = T(0);
      for (int i = dlo; i < dhi; ++i) {
        cross_ += grad[i] * Mgrad[i];
        Mgrad[i] = grad[i];
      }
      solve_tree(m, d.qLD, d.qLDiagInv, Mgrad);
      T grad_mgrad = T(0);
      for (int i = dlo; i < dhi; ++i) grad_mgrad += grad[i] * Mgrad[i];
      T beta = T(0);
      if (niter > 0 && prev_grad_mgrad > T(0)) beta = tmax(T(0), (grad_mgrad - cross_) / prev_grad_mgrad);
      for (int i = dlo; i < dhi; ++i) search[i] = -Mgrad[i] + beta * search[i];
      prev_grad_mgrad = grad_mgrad;
    }

    // exact line search on the piecewise quadratic: root of f'(alpha)
    // Mp = M search, p'Mp, f'(0) = p'(Ma - qfrc_smooth) and |p|^2 in one pass
    T pMp = T(0), pg0 = T(0), snorm = T(0);
    for (int i = dlo; i < dhi; ++i) {
      T si = search[i];
      int lo, hi;
      mspan(sp, m, i, &lo, &hi);
      T mpi = dot_span(d.qM + i * nv, search, nv, lo, hi);
      Mp[i] = mpi;
      pMp += si * mpi;
      pg0 += si * (d.efc_Ma[i] - d.qfrc_smooth[i]);
      snorm += si * si;
    }
    for (int r = 0; r < nefc; ++r) {
      int lo, hi;
      jspan(sp, m, r, &lo, &hi);
      d.efc_jv[r] = dot_row(d.efc_J + (int64_t)r * ld, search, nv, lo, hi);
    }
    // CG's stop below needs the rounding scale of f'(0) = search . grad: the sum of the
    // magnitudes of its terms (solver._solve's pg_abs)
    T pg_abs = T(0);
    if (m.solver_type == kSolverCG) {
      for (int i = dlo; i < dhi; ++i) pg_abs += pws_abs(search[i]) * (pws_abs(d.efc_Ma[i]) + pws_abs(d.qfrc_smooth[i]));
      for (int r = 0; r < nefc; ++r) {
        if (d.efc_force[r] == T(0)) continue;
        const T* jr = d.efc_J + (int64_t)r * ld;
        T sj = T(0);
        int lo, hi;
        jspan(sp, m, r, &lo, &hi);
        for (int i = lo; i < hi; ++i) sj += pws_abs(search[i] * jr[i]);
        pg_abs += pws_abs(d.efc_force[r]) * sj;
      }
    }
    // MuJoCo's line-search tolerance on d cost / d alpha (mj_solPrimal's PrimalSearch), relative
    // to the search length; the relative test below still stops at float32 resolution
    const T gtol = m.tolerance * m.ls_tolerance * pws_sqrt(snorm) / m.solver_scale;
    // As solver._solve: hi < 0 until a point with f' > 0 is seen, and until then the bracket
    // grows to 2 lo + 1 (bisecting towards an unbounded hi sent alpha to ~1e15 when rounding
    // put Newton's step at or below lo); when the search runs out of iterations or reaches
    // float32 resolution the step is lo, the last point where the cost still decreased.
    T lo = T(0), hi = T(-1), alpha = T(0), g0 = T(0), g_start = T(0), g_lo = T(0), g_end = T(0);
    bool found = false;
    for (int it = 0; it <= m.ls_iterations; ++it) {
      T c[3] = {T(0), T(0), T(0)};
      if (rows == SolverRows::kOneSided)
        ls_derivs_onesided(nefc, d.efc_jar, d.efc_jv, d.efc_D, alpha, c + 1, c + 2);
      else if (rows == SolverRows::kScalar)
        ls_derivs_scalar(d, nefc, alpha, c + 1, c + 2);
      else
        constraint_update(m, d, nefc, alpha, false, c);
      T g = alpha * pMp + pg0 + c[1];
      T h = pMp + c[2];
      if (it == 0) {
        g0 = pws_abs(g);
        g_start = g;
      }
      if (pws_abs(g) <= T(1e-7) * g0 || g0 == T(0) || (it > 0 && pws_abs(g) < gtol)) {
        found = true;
        g_end = g;
        break;
      }
      if (g < T(0)) {
        lo = alpha;
        g_lo = g;
      } else {
        hi = alpha;
      }
      T nxt = alpha - g / tmax(h, T(1e-30));
      if (nxt <= lo || (hi >= T(0) && nxt >= hi)) nxt = hi < T(0) ? T(2) * lo + T(1) : T(0.5) * (lo + hi);
      if (nxt == alpha) break;  // float32 resolution: no further progress
      alpha = nxt;
    }
    if (!found) {
      alpha = lo;
      g_end = g_lo;
    }

    // move along search; M qacc and J qacc - aref follow incrementally (as MuJoCo's solver)
    for (int i = dlo; i < dhi; ++i) {
      d.qacc[i] += alpha * search[i];
      d.efc_Ma[i] += alpha * Mp[i];
    }
    for (int r = 0; r < nefc; ++r) d.efc_jar[r] += alpha * d.efc_jv[r];
    T new_cost = solver_cost(m, d, nefc, rows, dlo, dhi);
    ++niter;
    // CG also stops on the decrease f(0) - f(alpha) by the trapezoid rule on f' (exact on a
    // quadratic piece), free of the float32 cancellation of cost - new_cost that stopped it 2-3x
    // earlier than MuJoCo; trusted only while f'(0) is above its own rounding level. A NaN
    // cost difference never counts as converged.
    T diff = cost - new_cost;
    T decrease = T(0);
    if (m.solver_type == kSolverCG && pws_abs(g_start) > T(1e-5) * pg_abs) decrease = T(-0.5) * alpha * (g_start + g_end);
    bool done = diff == diff && m.solver_scale * tmax(diff, decrease) < m.tolerance;
    cost = new_cost;
    if (done) {
      d.efc_converged[0] = 1;
      break;
    }
  }
  d.efc_solver_niter[0] = niter;
  if (m.solver_type == kSolverNewton)
    for (int i = dlo; i < dhi; ++i) Mgrad[i] = T(0);  // scratch above; zero as in the reference
  for (int i = dlo; i < dhi; ++i) d.qfrc_constraint[i] = T(0);
  add_jt_force_span(m, d, sp, nefc, T(1), d.qfrc_constraint);
}


// Constraint islands (MuJoCo's mj_island, on unless mjDSBL_ISLAND): the dof trees that rows
// couple, each solved by its own primal solve (its own warm start choice, Newton factor, line
// search and stopping rule) as mj_fwdConstraint does, so that a robot that converged stops
// iterating while another has not. The dofs of a tree are contiguous ([mlo, mhi) of its root,
// SolveSpans); a row touches the trees of its span's ends and, counted conservatively, those
// between, so each island is a contiguous dof range: the union of the overlapping tree ranges
// of its rows. Dofs no row touches keep qacc = qacc_smooth (no constraint force), as MuJoCo's.
// Each island's rows are gathered, in their order, into the rows past nefc (capacity
// nefc_max) and solved in place there by solve_primal; their forces, states and the line
// search's jar / jv (and cone Hessians) are then written back. solver_niter: the largest
// island's count; converged: every island converged.
// Returns false (the caller solves all rows together, the same optimum) with fewer than two
// islands or where an island's rows do not fit past nefc; on the host only (a copy of the
// World view would cost the GPU thread its stack).
#ifndef __CUDA_ARCH__
constexpr int kMaxIslands = 16;

template <typename T>
inline bool solve_islands(const ModelView<T>& m, const World<T>& d, const SolveSpans& sp, int nefc) {
  const int nv = m.nv, ld = m.nv_pad;
  if (sp.dense || sp.ndof != nv || nefc > sp.nrow || !sp.split) return false;
  // reach[i]: for the tree starting at dof i, the end of the farthest tree range a row starting
  // in it reaches (0: no row starts there)
  uint8_t reach[kMaxSpanDofs + 1];
  for (int i = 0; i < nv; ++i) reach[i] = 0;
  for (int r = 0; r < nefc; ++r) {
    const int lo = sp.jlo[r], hi = sp.jhi[r];
    if (hi <= lo) return false;  // a row on no dof: solve all together
    const int tlo = sp.mlo[lo], thi = sp.mhi[sp.mlo[hi - 1]];
    if (thi > reach[tlo]) reach[tlo] = (uint8_t)thi;
  }
  // islands: maximal unions of overlapping ranges, in dof order
  int ilo[kMaxIslands], ihi[kMaxIslands], nisl = 0;
  for (int i = 0; i < nv; ++i) {
    if (reach[i] == 0) continue;
    if (nisl > 0 && i < ihi[nisl - 1]) {
      if (reach[i] > ihi[nisl - 1]) ihi[nisl - 1] = reach[i];
      continue;
    }
    if (nisl == kMaxIslands) return false;
    ilo[nisl] = i;
    ihi[nisl] = reach[i];
    ++nisl;
  }
  if (nisl < 2) return false;
  int count[kMaxIslands];
  for (int k = 0; k < nisl; ++k) count[k] = 0;
  for (int r = 0; r < nefc; ++r) {
    int k = 0;
    while (sp.jlo[r] >= ihi[k]) ++k;
    ++count[k];
  }
  for (int k = 0; k < nisl; ++k)
    if (nefc + count[k] > m.nefc_max) return false;

  // the rows past nefc as a World of their own (row arrays offset, the rest shared)
  World<T> di = d;
  const int64_t b = nefc;
  di.efc_J = d.efc_J + b * ld;
  di.efc_cone_H = d.efc_cone_H + 6 * b;
#define PWS_ISLAND_ROWS(X)                                                                       \
  X(efc_pos) X(efc_margin) X(efc_frictionloss) X(efc_D) X(efc_R) X(efc_K) X(efc_B) X(efc_vel) \
  X(efc_aref) X(efc_force) X(efc_coef) X(efc_jv) X(efc_jar) X(efc_jdotv) X(efc_type) X(efc_id)  \
  X(efc_dim) X(efc_state)
#define PWS_OFFSET(name) di.name = d.name + b;
  PWS_ISLAND_ROWS(PWS_OFFSET)
#undef PWS_OFFSET
  int niter_k = 0, conv_k = 0, niter = 0, converged = 1;
  di.efc_solver_niter = &niter_k;
  di.efc_converged = &conv_k;
  int rows[kMaxSpanRows];
  int covered = 0;  // dofs [0, covered) handled
  // dot_span reads whole quads, so entries of a vector next to an island's range are read
  // (times exact zeros) and must be finite: search and CG's M^-1 grad start at zero outside
  // every island and are zeroed again after each (CG's solve_tree would otherwise keep
  // applying M^-1 to a finished island's values)
  for (int i = 0; i < nv; ++i) {
    d.efc_search[i] = T(0);
    d.efc_Mgrad[i] = T(0);
  }
  for (int k = 0; k < nisl; ++k) {
    // dofs before the island that no row touches: the smooth acceleration
    for (int i = covered; i < ilo[k]; ++i) {
      d.qacc[i] = d.qacc_smooth[i];
      d.qfrc_constraint[i] = T(0);
    }
    covered = ihi[k];
    int n = 0;
    for (int r = 0; r < nefc; ++r)
      if (sp.jlo[r] >= ilo[k] && sp.jlo[r] < ihi[k]) rows[n++] = r;
    for (int q = 0; q < n; ++q) {
      const int r = rows[q];
      const T* src = d.efc_J + (int64_t)r * ld;
      T* dst = di.efc_J + (int64_t)q * ld;
      for (int i = 0; i < ld; ++i) dst[i] = src[i];
#define PWS_GATHER(name) di.name[q] = d.name[r];
      PWS_ISLAND_ROWS(PWS_GATHER)
#undef PWS_GATHER
    }
    // the island's rows keep their spans (the dof spans are the world's)
    SolveSpans spi = sp;
    spi.nrow = n;
    for (int q = 0; q < n; ++q) {
      spi.jlo[q] = sp.jlo[rows[q]];
      spi.jhi[q] = sp.jhi[rows[q]];
    }
    solve_primal(m, di, spi, n, ilo[k], ihi[k]);
    for (int q = 0; q < n; ++q) {
      const int r = rows[q];
      d.efc_force[r] = di.efc_force[q];
      d.efc_state[r] = di.efc_state[q];
      d.efc_jv[r] = di.efc_jv[q];
      d.efc_jar[r] = di.efc_jar[q];
      for (int j = 0; j < 6; ++j) d.efc_cone_H[6 * r + j] = di.efc_cone_H[6 * q + j];
    }
    for (int i = ilo[k]; i < ihi[k]; ++i) d.efc_Mgrad[i] = T(0);
    if (niter_k > niter) niter = niter_k;
    converged = converged && conv_k != 0;
  }
  for (int i = covered; i < nv; ++i) {
    d.qacc[i] = d.qacc_smooth[i];
    d.qfrc_constraint[i] = T(0);
  }
#undef PWS_ISLAND_ROWS
  d.efc_solver_niter[0] = niter;
  d.efc_converged[0] = converged;
  return true;
}
#endif  // __CUDA_ARCH__

// mj_fwdConstraint: qacc, qfrc_constraint, efc_vel/aref/force/state, solver_niter, converged.
template <typename T>
PWS_HD inline void solve(const ModelView<T>& m, const World<T>& d) {
  const int nv = m.nv, ld = m.nv_pad;
  const int nefc = d.efc_nefc[0];
  d.efc_converged[0] = 0;
  if (nefc == 0) {
    // no rows: the optimum is the smooth acceleration
    for (int i = 0; i < nv; ++i) {
      d.qacc[i] = d.qacc_smooth[i];
      d.qfrc_constraint[i] = T(0);
    }
    d.efc_solver_niter[0] = 0;
    d.efc_converged[0] = 1;
    return;
  }

  // reference acceleration aref = -B J qvel - K (pos - margin); for the primal solvers the same
  // pass over J also forms J qacc_warmstart - aref (into efc_jar) and J qacc_smooth - aref
  // (into efc_jv, scratch until the first line search): one read of each row instead of three.
  SolveSpans sp;
  solve_spans(m, d, nefc, &sp);
  const bool primal = m.solver_type != kSolverPGS;
  const bool ws = primal && m.en_warmstart;
  for (int r = 0; r < nefc; ++r) {
    const T* jr = d.efc_J + (int64_t)r * ld;
    int lo, hi;
    jspan(sp, m, r, &lo, &hi);
    T v = dot_row(jr, d.qvel, nv, lo, hi);
    T js = T(0), jw = T(0);
    if (primal) js = dot_row(jr, d.qacc_smooth, nv, lo, hi);
    if (ws) jw = dot_row(jr, d.qacc_warmstart, nv, lo, hi);
    T aref = -d.efc_B[r] * v - d.efc_K[r] * (d.efc_pos[r] - d.efc_margin[r]);
    if (d.efc_type[r] == kCnstrEquality) aref -= d.efc_jdotv[r];  // Jdot qvel (equality.h)
    d.efc_vel[r] = v;
    d.efc_aref[r] = aref;
    if (primal) {
      d.efc_jv[r] = js - aref;
      d.efc_jar[r] = (ws ? jw : js) - aref;
    }
  }

  if (m.solver_type == kSolverPGS) {
    // PGS on the dual (pgs.h) from the constraint forces at qacc_warmstart (mj_constraintUpdate);
    // solve_pgs keeps them if their dual cost is negative
    for (int r = 0; r < nefc; ++r) d.efc_force[r] = T(0);
    if (m.en_warmstart) {
      for (int i = 0; i < nv; ++i) d.qacc[i] = d.qacc_warmstart[i];
      solver_eval(m, d, sp, nefc);
    }
    solve_pgs(m, d, nefc);
    return;
  }

#ifndef __CUDA_ARCH__
  if (m.en_island && solve_islands(m, d, sp, nefc)) return;
#endif
  solve_primal(m, d, sp, nefc, 0, nv);
}

}  // namespace pws
