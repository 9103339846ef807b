// Twin of pywarp_sim/support.py: helpers shared by the stages (MuJoCo's engine_support and
// engine_util_sparse): mj_applyFT, mj_solveLD on the tree-sparse factor of qM, J' force over
// the constraint rows (mj_mulJacTVec, which the Warp solvers write inline), and what the row
// stages (constraint.h, equality.h) share: impedance, impedance_kb, add_row, clear_row,
// point_jac_row. Templated on the scalar (the lanes of kernels/lanes.h included).
#pragma once

#include "step_math.h"
#include "types.h"

namespace pws {

// dot_n(a, b, n) bit for bit when a[k] == 0 outside [lo, hi): the same four partial sums (index
// k goes to partial k % 4, the tail beyond the last full quad to partial 0), each receiving its
// nonzero terms in the same order; the skipped terms are exact zeros. Whole quads are summed
// (zeros inside a quad add nothing) so that the loop vectorises as dot_n's does.
template <typename T>
PWS_HD inline T dot_span(const T* a, const T* b, int n, int lo, int hi) {
  const int n4 = n & ~3;
  const int end4 = ((hi + 3) & ~3) < n4 ? ((hi + 3) & ~3) : n4;
#if defined(__SSE2__) && !defined(__CUDA_ARCH__)
  // the four partial sums as one register's lanes (step_math.h dot_quads), bit for bit
  if constexpr (std::is_same<T, float>::value) return dot_quads(a, b, lo & ~3, end4, hi, lo > n4 ? lo : n4);
#endif
  T s0 = T(0), s1 = T(0), s2 = T(0), s3 = T(0);
  int k = lo & ~3;
  for (; k + 4 <= end4; k += 4) {
    s0 += a[k] * b[k];
    s1 += a[k + 1] * b[k + 1];
    s2 += a[k + 2] * b[k + 2];
    s3 += a[k + 3] * b[k + 3];
  }
  for (k = lo > n4 ? lo : n4; k < hi; ++k) s0 += a[k] * b[k];
  return (s0 + s1) + (s2 + s3);
}

#ifndef __CUDA_ARCH__
// Host switch that makes every solver loop dense (spans [0, nv)) and the tree factorisation and
// solves of qM run over columns 0..i again; the results must not change
// (tests/test_solver_sparsity.py). Read at the start of each solve and factorisation.
inline bool& solver_dense_loops() {
  static bool dense = false;
  return dense;
}
#endif

// ---- mj_solveLD on the tree L'DL of qM (support.solve_tree; smooth.h factors it) ----------

// The first dof of dof i's kinematic tree (the dofs of a tree are contiguous, parents first), or
// 0 when the tree's root body has no dofs: a lower bound of i's ancestors, so rows i of qM and
// of its tree factor are zero before it. Two robots: the second one's rows skip the first's dofs.
template <typename T>
PWS_HD inline int tree_dof_lo(const ModelView<T>& m, int i) {
  int adr = m.body_dofadr[m.body_rootid[m.dof_bodyid[i]]];
  return adr > 0 ? adr : 0;
}

// Whether the tree loops skip other trees' columns: the model has several trees (the last dof's
// tree starts after dof 0; with one tree there is nothing to skip and the loops stay as they
// were), and not solver_dense_loops (never switched on the device).
template <typename T>
PWS_HD inline bool tree_loops_split(const ModelView<T>& m) {
#ifndef __CUDA_ARCH__
  if (solver_dense_loops()) return false;
#endif
  return m.nv > 0 && tree_dof_lo(m, m.nv - 1) > 0;
}

template <bool kSplit, typename T>
PWS_HD inline void solve_tree_rows(const ModelView<T>& m, const T* LD, const T* diag_inv, T* x) {
  const int nv = m.nv;
  // dense over the columns of i's tree below i (zero outside i's ancestors, see factor_tree),
  // same order per entry; the columns of other trees hold exact zeros and are skipped
  for (int i = nv - 1; i >= 0; --i) {
    T xi = x[i];
    const T* li = LD + i * nv;
    auto nonzero = xi != T(0);  // skipped where x[i] is zero (as the chain walk)
    if (pws_any(nonzero)) {
      const int lo = kSplit ? tree_dof_lo(m, i) : 0;
      for (int j = lo; j < i; ++j) x[j] = pws_select(nonzero, x[j] - li[j] * xi, x[j]);
    }
  }
  for (int i = 0; i < nv; ++i) x[i] *= diag_inv[i];
  // a dense dot product too (the sum in another order than the chain walk: rounding only);
  // over the tree's columns with dot_n's partial sums (dot_span: the dense loop's bits)
  if (kSplit)
    for (int i = 0; i < nv; ++i) x[i] -= dot_span(LD + i * nv, x, i, tree_dof_lo(m, i), i);
  else
    for (int i = 0; i < nv; ++i) x[i] -= dot_n(LD + i * nv, x, i);
}

// kSplit (tree_loops_split) a compile-time constant: with one tree the loops are those before.
template <typename T>
PWS_HD inline void solve_tree(const ModelView<T>& m, const T* LD, const T* diag_inv, T* x) {
  if (tree_loops_split(m))
    solve_tree_rows<true>(m, LD, diag_inv, x);
  else
    solve_tree_rows<false>(m, LD, diag_inv, x);
}

// ---- mj_applyFT (support.apply_ft) ---------------------------------------------------------

template <typename T>
PWS_HD inline void apply_ft(const ModelView<T>& m, const World<T>& d, int body, const Vec3<T>& point,
                            const Vec3<T>& force, const Vec3<T>& torque, T* qfrc) {
  Vec3<T> rel = point - load3(d.subtree_com + 3 * m.body_rootid[body]);
  for (int i = m.body_dofend[body]; i >= 0; i = m.dof_parentid[i])
    qfrc[i] += point_jac_dot(load6(d.cdof + 6 * i), rel, force, torque);
}

// ---- J' force over the constraint rows (mj_mulJacTVec; solver.h and pgs.h) ------------------

// res (nv) = sum_r J[r]' force[r], skipping rows with zero force.
template <typename T>
PWS_HD inline void add_jt_force(const ModelView<T>& m, const World<T>& d, int nefc, T sign, T* res) {
  const int nv = m.nv, ld = m.nv_pad;
  for (int r = 0; r < nefc; ++r) {
    T f = d.efc_force[r];
    if (f == T(0)) continue;
    const T* jrow = d.efc_J + (int64_t)r * ld;
    T sf = sign * f;
    for (int i = 0; i < nv; ++i) res[i] += jrow[i] * sf;
  }
}

// ---- constraint rows: impedance, row coefficients, Jacobian rows (support.py) -------------

// getimpedance (support.impedance)
template <typename T>
PWS_HD inline T impedance(const T* solimp, T pos, T margin) {
  const T minimp = T(0.0001), maximp = T(0.9999);
  T dmin = tmin(maximp, tmax(minimp, solimp[0]));
  T dmax = tmin(maximp, tmax(minimp, solimp[1]));
  T width = tmax(T(0), solimp[2]);
  T mid = tmin(maximp, tmax(minimp, solimp[3]));
  T power = tmax(T(1), solimp[4]);
  if (dmin == dmax || width <= T(1e-15)) return T(0.5) * (dmin + dmax);
  T x = pws_abs((pos - margin) / width);
  if (x >= T(1)) return dmax;
  if (x <= T(0)) return dmin;
  T y = x;
  if (power != T(1)) {
    if (power == T(2)) {  // MuJoCo's default solimp: no pow calls
      if (x <= mid)
        y = x * x / mid;
      else
        y = T(1) - (T(1) - x) * (T(1) - x) / (T(1) - mid);
    } else if (x <= mid) {
      y = pws_pow(x, power) / pws_pow(mid, power - T(1));
    } else {
      y = T(1) - pws_pow(T(1) - x, power) / pws_pow(T(1) - mid, power - T(1));
    }
  }
  return dmin + y * (dmax - dmin);
}

// Stiffness K and damping B of the reference acceleration (support.impedance_kb).
template <typename T>
PWS_HD inline void impedance_kb(const T* solref, const T* solimp, T timestep, int refsafe, T* k, T* b) {
  T dmax = tmin(T(0.9999), tmax(T(0.0001), solimp[1]));
  T tc = solref[0], dr = solref[1];
  if (refsafe && tc > T(0)) tc = tmax(tc, T(2) * timestep);
  if (tc > T(0))
    *k = T(1) / tmax(T(1e-15), dmax * dmax * tc * tc * dr * dr);
  else
    *k = -tc / tmax(T(1e-15), dmax * dmax);
  if (dr > T(0))
    *b = T(2) / tmax(T(1e-15), dmax * tc);
  else
    *b = -dr / tmax(T(1e-15), dmax);
}

// support.add_row (constraint.h and equality.h)
template <typename T>
PWS_HD inline void add_row(const ModelView<T>& m, const World<T>& d, int row, int type, int id, T pos, T margin,
                           T frictionloss, T diag_a, const T* solref, const T* solimp, bool is_friction) {
  T imp = impedance(solimp, pos, margin);
  T k, b;
  impedance_kb(solref, solimp, m.timestep, m.en_refsafe, &k, &b);
  d.efc_type[row] = type;
  d.efc_id[row] = id;
  d.efc_pos[row] = pos;
  d.efc_margin[row] = margin;
  d.efc_frictionloss[row] = frictionloss;
  d.efc_R[row] = tmax(T(1e-15), (T(1) - imp) * diag_a / imp);
  d.efc_K[row] = is_friction ? T(0) : k * imp;
  d.efc_B[row] = b;
}

template <typename T>
PWS_HD inline T* clear_row(const ModelView<T>& m, const World<T>& d, int row) {
  T* jrow = d.efc_J + (int64_t)row * m.nv_pad;
  for (int i = 0; i < m.nv; ++i) jrow[i] = T(0);
  return jrow;
}

// efc_J row += sign * dir . J(point on body), translational or rotational (support.point_jac_row
// with scale 1).
template <typename T>
PWS_HD inline void point_jac_row(const ModelView<T>& m, const World<T>& d, T* jrow, int body, T sign,
                                 const Vec3<T>& point, const Vec3<T>& dir, bool rotational) {
  Vec3<T> rel = point - load3(d.subtree_com + 3 * m.body_rootid[body]);
  for (int i = m.body_dofend[body]; i >= 0; i = m.dof_parentid[i]) {
    Vec6<T> c = load6(d.cdof + 6 * i);
    Vec3<T> a = ang(c);
    T v = rotational ? dot(dir, a) : dot(dir, lin(c) + cross(a, rel));
    jrow[i] += sign * v;
  }
}

}  // namespace pws
