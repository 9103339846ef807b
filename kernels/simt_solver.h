// Native-only: kernels/solver.h's primal Newton solver (its per-thread twin, whose Warp reference is
// solver.py) on a group of lanes, the GPU step's direction; pywarp_sim/simt.py runs it over a
// Simulator.
// MuJoCo's primal Newton solver of ONE world on a group of lanes (kernels/simt.h), minimising
//
//   0.5 (qacc - qacc_smooth)' M (qacc - qacc_smooth) + sum_r s_r(J_r qacc - aref_r)
//
// from the rows the constraint stage built (efc_J, efc_D, efc_R, efc_frictionloss, efc_B, efc_K,
// efc_pos, efc_margin, efc_type; qM, qacc_smooth, qfrc_smooth, qvel, qacc_warmstart), with
// solver.h's algorithm, stopping rules and exact line search:
//   * aref, the warm start against the smooth acceleration, the gradient test, the Newton
//     decrement test, the bracketed Newton line search on the piecewise-quadratic cost with
//     MuJoCo's ls_tolerance stop and the float32-resolution stop, and the cost-decrease stop;
//   * rows: equality rows (bilateral; aref less their Jdot qvel, efc_jdotv), frictionless and
//     pyramidal contacts, joint and tendon limits, dof and tendon friction loss (solver.h's
//     row_cost), and elliptic cones (solver.h's constraint_update: a block of efc_dim rows whose
//     state is 0 (outside the cone: no force), 1 (bottom zone: every row quadratic) or 3 (cone
//     surface: cost 0.5 Dm (n - mu t)^2, the block's forces and Hessian block efc_cone_H, which
//     newton_factor adds as sum_kl H_kl J_k' J_l)).
// Work over lanes:
//   J x (J qvel, J qacc_smooth, J qacc_      8 lanes per row (row_dots: N / 8 rows at a time),
//   warmstart; J search)                       each a sector of the row per load, partial sums
//                                              over i = c, c + 8, ... added by an 8-lane butterfly
//   rows (aref, residuals, row costs,          a lane per row (item r on lane r % N), each lane
//   line-search derivatives)                   summing its rows in order, then reduce_sum; an
//                                              elliptic cone's block on the lane of its first row
//                                              (efc_dim > 0; its other rows' items do nothing)
//   dof vectors (M x, gradient, J' force)      a lane per dof
//   Hessian M + J' D J over the active rows    a lane per entry (i, j <= i) of the lower triangle
//                                              in sector blocks (sector_tri_index: 8 lanes read one
//                                              sector of a row of J and one broadcast),
//                                              summing the active rows in row order (solver.h's
//                                              add_outer_lower adds the same products in the same
//                                              order per entry: the same H bits); the active rows
//                                              found once per 32 rows by a ballot (ballot_rows);
//                                              a cone in state 3 adds its block's H_kl J_k[i] J_l[j]
//                                              at its first row, k then l (newton_factor's order)
//   L'DL factor (last dof first, solver.h's    for k = nv-1 .. 0: the i < k with row k's entry
//   factor_ldl)                                nonzero found by a ballot, then a lane per update
//                                              (i, j <= i) of those rows, dealt round robin,
//                                              reading row k only, with a lane per entry of row
//                                              k + 1 scaled by 1 / D_k+1 in the same phase: the same
//                                              operations per entry as factor_ldl, so the same bits
//   the triangular solves                      one phase per column, a lane per entry
// The Hessian's factor lives in the group's shared array (solver_shared_floats(nv)); M is read where
// the smooth stage left it (qM, symmetric: the lanes over i of M x read its column i, M[j, i], which
// holds M[i, j]'s bits, so a warp's loads are consecutive floats); vectors and rows in the world's
// Data arrays, as the scalar solver.
// Differences from solver.h, which change rounding only: sums over rows and dofs are a lane's
// partial sums combined by the fixed butterfly of reduce_sum (not dot_n's four partial sums or a
// sequential loop), a row's J x eight partial sums (i mod 8) combined by segment_sum's butterfly;
// the Hessian is factored afresh every iteration (solver.h reuses the factor of an unchanged active
// set and updates it by rank-1 changes when a few rows changed; a lane group refactors in nv
// phases); the forward substitution runs column by column.
#pragma once

#include "simt.h"
#include "solver.h"
#include "types.h"

namespace pws {
namespace simt {

// Stages of the recorder (Recorder::Stats per stage)
enum : int {
  kSolverStageInit = 0,        // aref, J qacc, M qacc, the starting cost
  kSolverStageGradient = 1,    // M qacc - qfrc_smooth - J' force and its norm
  kSolverStageHessian = 2,     // M + J' D J over the active rows
  kSolverStageFactor = 3,      // L'DL
  kSolverStageDirection = 4,   // the triangular solves and the Newton decrement
  kSolverStageLineSearch = 5,  // M search, J search, the bracketed Newton iterations
  kSolverStageUpdate = 6,      // the move and the cost at the new point
  kSolverStageFinish = 7,      // qfrc_constraint = J' force
};

// The group's shared array: the Hessian / its factor (nv * nv), M search (nv) and the factor's
// inverse pivots (nv). M itself is read from qM (global memory), which leaves the step's shared
// array at the smooth stage's size and more worlds resident per SM.
PWS_HD inline int solver_shared_floats(int nv) { return nv * nv + 2 * nv; }

// sqrt of a float or of the counting float (the using-declaration keeps pws::pws_sqrt visible
// inside simt, where the counting float's overload would hide it)
template <typename R>
PWS_SIMT_FN inline R solver_sqrt(R x) {
  using ::pws::pws_sqrt;
  return pws_sqrt(x);
}
template <typename R>
PWS_SIMT_FN inline R solver_abs(R x) {
  return x < R(0) ? -x : x;
}
template <typename R>
PWS_SIMT_FN inline R solver_max(R a, R b) {
  return a > b ? a : b;  // step_math.h's tmax
}
template <typename R>
PWS_SIMT_FN inline bool solver_finite(R x) {
  R z = x - x;  // NaN for an infinite or NaN x
  return z == z;
}

// Every lane's copy of the int at p (loaded by every lane: a broadcast).
template <typename G>
PWS_SIMT_FN inline int load_uniform(G& g, const int* p) {
  Reg<int, G::size> v;
  g.each(G::size, [&](int l) { v[l] = g.ld(p); });
  return v[0];
}

// Item p of the lower triangle (i, j <= i), row by row: p = i (i + 1) / 2 + j (index arithmetic).
PWS_HD inline void tri_index(int p, int* i, int* j) {
  int r = 0;
  while (p > r) {
    p -= r + 1;
    ++r;
  }
  *i = r;
  *j = p;
}

// Item p of the lower triangle (i, j <= i) of an nv x nv matrix in sector blocks (index
// arithmetic): the kSectorFloats x kSectorFloats blocks below the diagonal first (block rows
// bi = 1, 2, ..., in each the block columns bj < bi, each block row by row), then the diagonal
// blocks (each its lower triangle row by row). An off-diagonal block holds a multiple of
// kSectorFloats items, so the items p = 8q .. 8q + 7 that 8 lanes take at once share their row i and
// cover the 8 columns j of one sector: J[r, j] of a row of efc_J (nv_pad floats, sector aligned) is
// one sector, J[r, i] one broadcast. A diagonal block's items share its sector.
PWS_HD inline void sector_tri_index(int p, int nv, int* i, int* j) {
  constexpr int S = kSectorFloats;
  const int nb = (nv + S - 1) / S;
  for (int bi = 1; bi < nb; ++bi) {
    const int rows = nv - bi * S < S ? nv - bi * S : S, block = rows * S;
    if (p < bi * block) {
      const int q = p % block;
      *i = bi * S + q / S;
      *j = (p / block) * S + q % S;
      return;
    }
    p -= bi * block;
  }
  for (int b = 0; b < nb; ++b) {
    const int rows = nv - b * S < S ? nv - b * S : S, block = rows * (rows + 1) / 2;
    if (p < block) {
      tri_index(p, i, j);
      *i += b * S;
      *j += b * S;
      return;
    }
    p -= block;
  }
}

// Row dot products J[r, 0:nv] . x_k (k < K; x_k null: not summed, its sum 0) for the rows
// r < nrow of J (row stride ld, sector aligned), kSectorFloats lanes per row: lane c of a row's
// segment loads J[r, c], J[r, c + 8], ... (a row's 8 lanes read one sector per load) and adds
// J[r, i] x_k[i] in that order from 0, then segment_sum adds the segment's 8 partial sums by its
// fixed butterfly: the same order and bits for every group size (not the sequential sum's).
// emit(r, sums) runs on the segment's first lane, in the phase that computes the next rows.
template <int K, typename G, typename Emit>
PWS_SIMT_FN inline void row_dots(G& g, const float* J, int ld, int nrow, int nv, const float* const* x, Emit&& emit) {
  using R = typename G::real;
  constexpr int N = G::size, S = kSectorFloats, kRows = N / S;
  Reg<R, N> acc[K];
  for (int base = 0; base < nrow + kRows; base += kRows) {  // one pass past the rows emits the last ones
    const bool more = base < nrow;
    g.each(N, [&](int l) {
      const int c = l % S;
      if (base > 0 && c == 0 && base - kRows + l / S < nrow) {
        R sums[K];
        for (int k = 0; k < K; ++k) sums[k] = acc[k][l];
        emit(base - kRows + l / S, sums);
      }
      g.reconverge();  // the other lanes are masked off for emit's requests
      if (!more) return;
      for (int k = 0; k < K; ++k) acc[k][l] = R(0);
      const int r = base + l / S;
      if (r >= nrow) return;
      const float* jr = J + (int64_t)r * ld;
      for (int i = c; i < nv; i += S) {
        const R jri = g.ld(jr + i);
        for (int k = 0; k < K; ++k)
          if (x[k]) acc[k][l] += jri * g.ld(x[k] + i);
      }
    });
    if (more)
      for (int k = 0; k < K; ++k) acc[k] = segment_sum<S>(g, acc[k]);
  }
}

// A zeroed per-lane accumulator
template <typename G>
PWS_SIMT_FN inline Reg<typename G::real, G::size> zeros(const G& g) {
  Reg<typename G::real, G::size> a;
  g.lanes([&](int l) { a[l] = typename G::real(0); });
  return a;
}

// The elliptic cone block of rows r .. r + dim - 1 at jar + alpha jv (solver.h's constraint_update,
// its elliptic branch, in its operations): adds its cost to *cost and, without write, d cost /
// d alpha and the curvature to *gs and *hs; with write (alpha = 0; jv unread) stores the block's
// forces, states and (state 3) its Hessian block efc_cone_H (rows r .. r + dim - 1, 6 columns),
// each entry in constraint_update's operations. One lane runs the whole block.
template <typename G>
PWS_SIMT_FN inline void cone_block(G& g, const World<float>& d, int r, int dim, const float* jar, const float* jv,
                                   typename G::real alpha, bool write, typename G::real* cost, typename G::real* gs,
                                   typename G::real* hs) {
  using R = typename G::real;
  const float* coef = d.efc_coef + r;
  const R mu = g.ld(coef);
  const R jv0 = write ? R(0) : R(g.ld(jv + r));
  const R n = (g.ld(jar + r) + alpha * jv0) * mu;
  const R dn = jv0 * mu;
  R tt = R(0);
  for (int j = 1; j < dim; ++j) {
    const R jvj = write ? R(0) : R(g.ld(jv + r + j));
    const R u = (g.ld(jar + r + j) + alpha * jvj) * g.ld(coef + j);
    tt += u * u;
  }
  const R t = solver_sqrt(tt);
  int state = 0;
  if (n >= mu * t || (t <= R(0) && n >= R(0))) {
    if (write)
      for (int j = 0; j < dim; ++j) g.st(d.efc_force + r + j, R(0));
  } else if (mu * n + t <= R(0) || (t <= R(0) && n < R(0))) {
    state = 1;
    for (int j = 0; j < dim; ++j) {
      const R jvj = write ? R(0) : R(g.ld(jv + r + j));
      const R x = g.ld(jar + r + j) + alpha * jvj;
      const R dd = g.ld(d.efc_D + r + j);
      *cost += R(0.5f) * dd * x * x;
      *gs += dd * x * jvj;
      *hs += dd * jvj * jvj;
      if (write) g.st(d.efc_force + r + j, -dd * x);
    }
  } else {
    state = 3;
    const R dm = g.ld(d.efc_D + r) / (mu * mu * (R(1) + mu * mu));
    const R nmt = n - mu * t;
    *cost += R(0.5f) * dm * nmt * nmt;
    if (!write) {
      R dt = R(0), dudu = R(0);
      for (int j = 1; j < dim; ++j) {
        const R cj = g.ld(coef + j), jvj = g.ld(jv + r + j);
        const R u = (g.ld(jar + r + j) + alpha * jvj) * cj;
        const R du = jvj * cj;
        dt += u * du;
        dudu += du * du;
      }
      dt = dt / t;
      const R d2t = (dudu - dt * dt) / t;
      const R dnmt = dn - mu * dt;
      *gs += dm * nmt * dnmt;
      *hs += dm * (dnmt * dnmt - nmt * mu * d2t);
    } else {
      const R f0 = -dm * nmt * mu;
      g.st(d.efc_force + r, f0);
      for (int j = 1; j < dim; ++j) {
        const R cj = g.ld(coef + j);
        const R u = g.ld(jar + r + j) * cj;
        g.st(d.efc_force + r + j, -f0 / t * u * cj);
      }
      // the block's entries as constraint_update forms them: row 0 (1, then -mu / t u_j), the
      // others scl u_j u_k plus mu^2 - mu n / t on the diagonal, each times dm c_k c_j; mirrored
      float* H = d.efc_cone_H + 6 * r;
      const R scl = mu * n / (t * t * t);
      for (int k = 0; k < dim; ++k) {
        const R ck = k > 0 ? R(g.ld(coef + k)) : mu;
        const R uk = k > 0 ? g.ld(jar + r + k) * ck : R(0);
        for (int j = k; j < dim; ++j) {
          const R cj = j > 0 ? R(g.ld(coef + j)) : mu;
          R h;
          if (k == 0) {
            h = j == 0 ? R(1) : -mu / t * (g.ld(jar + r + j) * cj);
          } else {
            h = scl * (g.ld(jar + r + j) * cj) * uk;
            if (j == k) h += mu * mu - mu * n / t;
          }
          h = h * dm * ck * cj;
          g.st(H + 6 * k + j, h);
          if (j > k) g.st(H + 6 * j + k, h);
        }
      }
    }
  }
  if (write)
    for (int j = 0; j < dim; ++j) g.st(d.efc_state + r + j, state);
}

// Rows of an elliptic cone block other than its first (efc_dim 0 there): the first row's item
// evaluates the block (cone_block), these do nothing. Sets *dim to the block's rows at its first row.
template <typename G>
PWS_SIMT_FN inline bool cone_tail(const G& g, const World<float>& d, int r, int type, int* dim) {
  if (type != kCnstrContactElliptic) return false;
  *dim = g.ld(d.efc_dim + r);
  return *dim < 1;
}

// The rows' cost at jar (solver.h's constraint_update with write): forces and states stored (and
// the elliptic cones' Hessian blocks). Returns the group's sum (every lane holds it).
template <typename G>
PWS_SIMT_FN inline typename G::real rows_cost_write(G& g, const World<float>& d, int nefc) {
  using R = typename G::real;
  Reg<R, G::size> acc = zeros(g);
  g.each(nefc, [&](int r) {
    const int type = g.ld(d.efc_type + r);
    if (type == kCnstrContactElliptic) {
      int dim;
      if (cone_tail(g, d, r, type, &dim)) return;
      R unused_g = R(0), unused_h = R(0);
      const int l = g.lane();
      cone_block(g, d, r, dim, d.efc_jar, nullptr, R(0), true, &acc[l], &unused_g, &unused_h);
      return;
    }
    R c, f, cv;
    ::pws::row_cost<R>(type, g.ld(d.efc_jar + r), g.ld(d.efc_D + r), g.ld(d.efc_R + r),
                       g.ld(d.efc_frictionloss + r), &c, &f, &cv);
    const int l = g.lane();
    acc[l] = acc[l] + c;
    g.st(d.efc_force + r, f);
    g.st(d.efc_state + r, cv != R(0) ? 1 : (f != R(0) ? 2 : 0));
  });
  return reduce_sum(g, acc)[0];
}

// The total cost at qacc from efc_Ma = M qacc and efc_jar = J qacc - aref (solver.h's solver_cost).
template <typename G>
PWS_SIMT_FN inline typename G::real solver_cost_write(G& g, const ModelView<float>& m, const World<float>& d,
                                                      int nefc) {
  using R = typename G::real;
  Reg<R, G::size> acc = zeros(g);
  g.each(m.nv, [&](int i) {
    const int l = g.lane();
    acc[l] = acc[l] + R(0.5) * (g.ld(d.efc_Ma + i) - g.ld(d.qfrc_smooth + i)) * (g.ld(d.qacc + i) - g.ld(d.qacc_smooth + i));
  });
  R gauss = reduce_sum(g, acc)[0];
  return gauss + rows_cost_write(g, d, nefc);
}

// Line-search derivatives at jar + alpha jv: d cost / d alpha and the curvature of the rows
// (constraint_update with write = false), summed over the group.
template <typename G>
PWS_SIMT_FN inline void rows_derivs(G& g, const World<float>& d, int nefc, typename G::real alpha,
                                    typename G::real* gsum, typename G::real* hsum) {
  using R = typename G::real;
  Reg<R, G::size> ga = zeros(g), ha = zeros(g);
  g.each(nefc, [&](int r) {
    const int type = g.ld(d.efc_type + r);
    if (type == kCnstrContactElliptic) {
      int dim;
      if (cone_tail(g, d, r, type, &dim)) return;
      R unused_c = R(0);
      const int l = g.lane();
      cone_block(g, d, r, dim, d.efc_jar, d.efc_jv, alpha, false, &unused_c, &ga[l], &ha[l]);
      return;
    }
    R jv = g.ld(d.efc_jv + r);
    R x = g.ld(d.efc_jar + r) + alpha * jv;
    R c, f, cv;
    ::pws::row_cost<R>(type, x, g.ld(d.efc_D + r), g.ld(d.efc_R + r), g.ld(d.efc_frictionloss + r),
                       &c, &f, &cv);
    const int l = g.lane();
    ga[l] = ga[l] - f * jv;
    ha[l] = ha[l] + cv * jv * jv;
  });
  *gsum = reduce_sum(g, ga)[0];
  *hsum = reduce_sum(g, ha)[0];
}

// res[i] = base[i] + sum over rows with nonzero force of J[r, i] * (sign * force[r]), a lane per dof
// (support.h's add_jt_force: per dof the same products added in the same row order).
template <typename G>
PWS_SIMT_FN inline void jt_force(G& g, const ModelView<float>& m, const World<float>& d, int nefc, float sign,
                                 float* res, const float* base, const float* minus) {
  using R = typename G::real;
  const int ld = m.nv_pad;
  g.each(m.nv, [&](int i) {
    R v = base ? g.ld(base + i) : R(0);
    if (minus) v = v - g.ld(minus + i);
    for (int r = 0; r < nefc; ++r) {
      R f = g.ld(d.efc_force + r);
      if (f == R(0)) continue;
      v += g.ld(d.efc_J + (int64_t)r * ld + i) * (R(sign) * f);
    }
    g.st(res + i, v);
  });
}

// x = (L' D L)^-1 x in place (x in global memory, the factor in shared): solver.h's solve_ldl, the
// backward pass one phase per dof i (a lane per j < i, the same updates), the forward pass one
// phase per column.
template <typename G>
PWS_SIMT_FN inline void solve_factor(G& g, int nv, const float* LD, const float* diag_inv, float* x) {
  using R = typename G::real;
  // x[i] (backward) and x[j] (forward) loaded once per lane and phase, not per item
  for (int i = nv - 1; i > 0; --i) {
    g.each(G::size < i ? G::size : i, [&](int l) {
      R xi = g.ld(x + i);
      if (xi == R(0)) return;
      for (int j = l; j < i; j += G::size) g.st(x + j, g.ld(x + j) - g.ld(LD + i * nv + j) * xi);
    });
  }
  g.each(nv, [&](int i) { g.st(x + i, g.ld(x + i) * g.ld(diag_inv + i)); });
  // column j updates x[j + 1 .. nv - 1]: lane l takes the i = a + l, a + l + N, ... from a, j + 1
  // rounded down to a sector (x sector aligned: 8 lanes' loads one sector), skipping i <= j
  for (int j = 0; j + 1 < nv; ++j) {
    const int a = (j + 1) / kSectorFloats * kSectorFloats, n = nv - a;
    g.each(G::size < n ? G::size : n, [&](int l) {
      R xj = g.ld(x + j);
      for (int i = a + l; i < nv; i += G::size) {
        if (i > j) g.st(x + i, g.ld(x + i) - g.ld(LD + i * nv + j) * xj);
        g.reconverge();  // a lane with i <= j is masked off for this iteration's requests
      }
    });
  }
}

// H = M + J' D J over the rows in state 1 and the cone blocks in state 3 (lower triangle), then its
// L'DL factor in place, last dof first (solver.h's newton_factor + factor_ldl), and the inverse
// pivots.
template <typename G>
PWS_SIMT_FN inline void hessian_factor(G& g, const ModelView<float>& m, const World<float>& d, int nefc,
                                       const float* M, float* LD, float* diag_inv) {
  using R = typename G::real;
  const int nv = m.nv, ld = m.nv_pad;
  g.stage(kSolverStageHessian);
  // the active rows 32 at a time (ballot_rows: their states loaded once per chunk, not per
  // entry); each entry adds them in row order, carried in LD from one chunk to the next (a float
  // stored and reloaded: the same bits as one loop over the rows)
  for (int base = 0; base == 0 || base < nefc; base += 32) {
    // cones: the first rows (efc_dim > 0) of the elliptic blocks in state 3 (a block's rows after
    // its first may lie in the next chunk: the first row's entry adds the whole block)
    const unsigned cones =
        m.cone_elliptic ? ballot_rows(g, base, nefc, [&](int r) {
          return g.ld(d.efc_state + r) == 3 && g.ld(d.efc_type + r) == kCnstrContactElliptic && g.ld(d.efc_dim + r) > 0;
        })
                        : 0u;
    const unsigned active = ballot_rows(g, base, nefc, [&](int r) { return g.ld(d.efc_state + r) == 1; }) | cones;
    if (base > 0 && active == 0u) continue;
    const float* from = base == 0 ? M : LD;
    g.each(nv * (nv + 1) / 2, [&](int p) {
      int i, j;
      sector_tri_index(p, nv, &i, &j);
      R h = g.ld(from + i * nv + j);
      for (unsigned a = active; a != 0u; a &= a - 1u) {
        const int r = base + lowest_bit(a);
        const float* jr = d.efc_J + (int64_t)r * ld;
        if (cones & (1u << (r - base))) {
          // newton_factor's add_outer_lower(H, J_k, J_l, H_kl) for k, then l, of the block
          const int dim = g.ld(d.efc_dim + r);
          for (int k = 0; k < dim; ++k) {
            const R jk = g.ld(jr + (int64_t)k * ld + i);
            if (jk == R(0)) continue;
            for (int q = 0; q < dim; ++q) {
              const R c = g.ld(d.efc_cone_H + 6 * (r + k) + q);
              if (c == R(0)) continue;
              h += (c * jk) * g.ld(jr + (int64_t)q * ld + j);
            }
          }
          continue;
        }
        // every lane loads J[r, i], J[r, j] and D[r] before its zero test, so the lanes' loads of a
        // row stay one request each (two neighbouring entries, one row of J, one D), not requests
        // of different rows where the lanes' zeros differ
        R ji = g.ld(jr + i), jj = g.ld(jr + j), dr = g.ld(d.efc_D + r);
        if (ji == R(0)) continue;
        R s = dr * ji;
        h += s * jj;
      }
      g.st(LD + i * nv + j, h);
    });
  }
  g.stage(kSolverStageFactor);
  // one phase per k: the updates of k (items p < n), then the scaling of row k + 1 (after its
  // updates; it touches row k + 1 only, which no update of k reads or writes); with k = 0 (no
  // updates) the inverse pivots, the diagonal being final
  for (int k = nv - 1; k >= 0; --k) {
    const float* lk = LD + k * nv;
    const int s = k + 1, ns = s < nv ? s : 0, nd = k == 0 ? nv : 0;
    const float* ls = LD + s * nv;
    // the updates of k: for each i < k with lk[i] != 0 (its rows 32 at a time: ballot_rows), the
    // items (i, j <= i) dealt round robin over the lanes in row order, each lane dividing once:
    // LD[i, j] -= (lk[i] / D_k) lk[j] (factor_ldl's updates: the pairs of a zero lk[i] are
    // skipped as there, the others computed alike); the scaling and the pivots follow the last
    // chunk's updates in its phase
    int q = 0;  // items dealt before this chunk
    for (int base = 0; base == 0 || base < k; base += 32) {
      const unsigned nz = base < k ? ballot_rows(g, base, k, [&](int i) { return g.ld(lk + i) != R(0); }) : 0u;
      const bool last = base + 32 >= k;
      g.each(G::size, [&](int l) {
        R inv = R(0);
        bool have_inv = false;
        int p = q;  // the first item of row i
        for (unsigned a = nz; a != 0u; a &= a - 1u) {
          const int i = base + lowest_bit(a);
          int j = ((l - p) % G::size + G::size) % G::size;
          p += i + 1;
          if (j > i) continue;
          if (!have_inv) {
            inv = R(1) / g.ld(lk + k);
            have_inv = true;
          }
          R tmp = g.ld(lk + i) * inv;
          for (; j <= i; j += G::size) g.st(LD + i * nv + j, g.ld(LD + i * nv + j) - tmp * g.ld(lk + j));
        }
        if (!last) return;
        for (int t = ((l - p) % G::size + G::size) % G::size; t < ns + nd; t += G::size) {
          if (t < ns) {
            R lsi = g.ld(ls + t);
            if (lsi != R(0)) g.st(LD + s * nv + t, lsi * (R(1) / g.ld(ls + s)));
          } else {
            const int e = t - ns;
            g.st(diag_inv + e, R(1) / g.ld(LD + e * nv + e));
          }
        }
      });
      for (unsigned a = nz; a != 0u; a &= a - 1u) q += base + lowest_bit(a) + 1;
    }
  }
}

// mj_fwdConstraint with the primal Newton solver (solver.h's solve, solver_type Newton): writes qacc, qfrc_constraint, efc_vel, efc_aref, efc_force, efc_state,
// efc_solver_niter, efc_converged; scratch in efc_jar, efc_jv, efc_Ma, efc_grad, efc_search and the
// group's shared array (solver_shared_floats(nv) floats).
template <typename G>
PWS_SIMT_FN inline void newton_solve(G& g, const ModelView<float>& m, const World<float>& d) {
  using R = typename G::real;
  const int nv = m.nv, ld = m.nv_pad;
  const float* M = d.qM;  // symmetric (smooth stage): M[j * nv + i] == M[i * nv + j]
  float* LD = g.shared;
  float* Mp = LD + nv * nv;
  float* diag_inv = Mp + nv;
  g.stage(kSolverStageInit);
  const int nefc = load_uniform(g, d.efc_nefc);
  if (nefc == 0) {
    g.each(nv, [&](int i) {
      g.st(d.qacc + i, g.ld(d.qacc_smooth + i));
      g.st(d.qfrc_constraint + i, R(0));
    });
    g.each(1, [&](int) {
      g.st(d.efc_solver_niter, 0);
      g.st(d.efc_converged, 1);
    });
    return;
  }
  const bool ws = m.en_warmstart != 0;
  // aref = -B J qvel - K (pos - margin), with J qacc_warmstart - aref (efc_jar) and
  // J qacc_smooth - aref (efc_jv)
  const float* init_x[3] = {d.qvel, d.qacc_smooth, ws ? d.qacc_warmstart : nullptr};
  row_dots<3>(g, d.efc_J, ld, nefc, nv, init_x, [&](int r, const R* dots) {
    const R v = dots[0], js = dots[1], jw = dots[2];
    R aref = -g.ld(d.efc_B + r) * v - g.ld(d.efc_K + r) * (g.ld(d.efc_pos + r) - g.ld(d.efc_margin + r));
    if (g.ld(d.efc_type + r) == kCnstrEquality) aref -= g.ld(d.efc_jdotv + r);  // Jdot qvel (equality.h)
    g.st(d.efc_vel + r, v);
    g.st(d.efc_aref + r, aref);
    g.st(d.efc_jv + r, js - aref);
    g.st(d.efc_jar + r, (ws ? jw : js) - aref);
  });
  // M qa (qa: the warm start or the smooth acceleration) and M qacc_smooth (into Mp)
  const float* qa = ws ? d.qacc_warmstart : d.qacc_smooth;
  g.each(nv, [&](int i) {
    R a = R(0), s = R(0);
    for (int j = 0; j < nv; ++j) {
      R mij = g.ld(M + j * nv + i);
      a += mij * g.ld(qa + j);
      s += mij * g.ld(d.qacc_smooth + j);
    }
    g.st(d.efc_Ma + i, a);
    g.st(Mp + i, s);
  });
  // start from the warm start or the smooth acceleration, whichever costs less (the smooth
  // acceleration's Gauss term is zero: its cost is the rows' at efc_jv)
  R cost = R(0);
  bool smooth = true;
  if (ws) {
    g.each(nv, [&](int i) { g.st(d.qacc + i, g.ld(d.qacc_warmstart + i)); });
    R cost_ws = solver_cost_write(g, m, d, nefc);
    Reg<R, G::size> acc = zeros(g);
    g.each(nefc, [&](int r) {  // the rows at efc_jv, nothing written
      const int type = g.ld(d.efc_type + r);
      const int l = g.lane();
      if (type == kCnstrContactElliptic) {
        int dim;
        if (cone_tail(g, d, r, type, &dim)) return;
        R unused_g = R(0), unused_h = R(0);
        cone_block(g, d, r, dim, d.efc_jv, d.efc_jv, R(0), false, &acc[l], &unused_g, &unused_h);
        return;
      }
      R c, f, cv;
      ::pws::row_cost<R>(type, g.ld(d.efc_jv + r), g.ld(d.efc_D + r), g.ld(d.efc_R + r),
                         g.ld(d.efc_frictionloss + r), &c, &f, &cv);
      acc[l] = acc[l] + c;
    });
    const R c_smooth = reduce_sum(g, acc)[0];
    smooth = cost_ws > c_smooth || !solver_finite(cost_ws);
    cost = cost_ws;
    if (smooth) g.each(nefc, [&](int r) { g.st(d.efc_jar + r, g.ld(d.efc_jv + r)); });
  }
  if (smooth) {
    g.each(nv, [&](int i) {
      g.st(d.qacc + i, g.ld(d.qacc_smooth + i));
      g.st(d.efc_Ma + i, g.ld(Mp + i));
    });
    cost = solver_cost_write(g, m, d, nefc);
  }

  float* grad = d.efc_grad;
  float* search = d.efc_search;
  int niter = 0;
  bool converged = false;
  while (niter < m.iterations) {
    g.stage(kSolverStageGradient);
    jt_force(g, m, d, nefc, -1.0f, grad, d.efc_Ma, d.qfrc_smooth);
    Reg<R, G::size> acc = zeros(g);
    g.each(nv, [&](int i) {
      R gi = g.ld(grad + i);
      const int l = g.lane();
      acc[l] = acc[l] + gi * gi;
    });
    R gnorm = reduce_sum(g, acc)[0];
    if (R(m.solver_scale) * solver_sqrt(gnorm) < R(m.tolerance)) {
      converged = true;
      break;
    }

    hessian_factor(g, m, d, nefc, M, LD, diag_inv);
    g.stage(kSolverStageDirection);
    g.each(nv, [&](int i) { g.st(search + i, -g.ld(grad + i)); });
    solve_factor(g, nv, LD, diag_inv, search);
    // MuJoCo's Newton decrement test (not on the first step: the gradient test gates that)
    if (niter > 0) {
      Reg<R, G::size> dec = zeros(g);
      g.each(nv, [&](int i) {
        const int l = g.lane();
        dec[l] = dec[l] - g.ld(grad + i) * g.ld(search + i);
      });
      R decrement = reduce_sum(g, dec)[0];
      if (R(m.solver_scale) * R(0.5) * decrement < R(m.tolerance)) {
        converged = true;
        break;
      }
    }

    // exact line search on the piecewise quadratic: root of f'(alpha)
    g.stage(kSolverStageLineSearch);
    Reg<R, G::size> a_pMp = zeros(g), a_pg0 = zeros(g), a_sn = zeros(g);
    g.each(nv, [&](int i) {
      R mpi = R(0);
      for (int j = 0; j < nv; ++j) mpi += g.ld(M + j * nv + i) * g.ld(search + j);
      g.st(Mp + i, mpi);
      R si = g.ld(search + i);
      const int l = g.lane();
      a_pMp[l] = a_pMp[l] + si * mpi;
      a_pg0[l] = a_pg0[l] + si * (g.ld(d.efc_Ma + i) - g.ld(d.qfrc_smooth + i));
      a_sn[l] = a_sn[l] + si * si;
    });
    const R pMp = reduce_sum(g, a_pMp)[0], pg0 = reduce_sum(g, a_pg0)[0], snorm = reduce_sum(g, a_sn)[0];
    const float* search_x[1] = {search};
    row_dots<1>(g, d.efc_J, ld, nefc, nv, search_x, [&](int r, const R* dots) { g.st(d.efc_jv + r, dots[0]); });
    const R gtol = R(m.tolerance) * R(m.ls_tolerance) * solver_sqrt(snorm) / R(m.solver_scale);
    // solver.h's bracket: hi < 0 until a point with f' > 0 is seen; the step is lo when the
    // search runs out of iterations or reaches float32 resolution
    R lo = R(0), hi = R(-1), alpha = R(0), g0 = R(0);
    bool found = false;
    for (int it = 0; it <= m.ls_iterations; ++it) {
      R c1, c2;
      rows_derivs(g, d, nefc, alpha, &c1, &c2);
      R gd = alpha * pMp + pg0 + c1;
      R h = pMp + c2;
      if (it == 0) g0 = solver_abs(gd);
      if (solver_abs(gd) <= R(1e-7f) * g0 || g0 == R(0) || (it > 0 && solver_abs(gd) < gtol)) {
        found = true;
        break;
      }
      if (gd < R(0))
        lo = alpha;
      else
        hi = alpha;
      R nxt = alpha - gd / solver_max(h, R(1e-30f));
      if (nxt <= lo || (hi >= R(0) && nxt >= hi)) nxt = hi < R(0) ? R(2) * lo + R(1) : R(0.5) * (lo + hi);
      if (nxt == alpha) break;  // float32 resolution: no further progress
      alpha = nxt;
    }
    if (!found) alpha = lo;

    // move along search; M qacc and J qacc - aref follow incrementally
    g.stage(kSolverStageUpdate);
    g.each(nv, [&](int i) {
      g.st(d.qacc + i, g.ld(d.qacc + i) + alpha * g.ld(search + i));
      g.st(d.efc_Ma + i, g.ld(d.efc_Ma + i) + alpha * g.ld(Mp + i));
    });
    g.each(nefc, [&](int r) { g.st(d.efc_jar + r, g.ld(d.efc_jar + r) + alpha * g.ld(d.efc_jv + r)); });
    R new_cost = solver_cost_write(g, m, d, nefc);
    ++niter;
    R diff = cost - new_cost;
    bool done = diff == diff && R(m.solver_scale) * solver_max(diff, R(0)) < R(m.tolerance);
    cost = new_cost;
    if (done) {
      converged = true;
      break;
    }
  }
  g.stage(kSolverStageFinish);
  g.each(1, [&](int) {
    g.st(d.efc_solver_niter, niter);
    g.st(d.efc_converged, converged ? 1 : 0);
  });
  jt_force(g, m, d, nefc, 1.0f, d.qfrc_constraint, nullptr, nullptr);
}

}  // namespace simt
}  // namespace pws
