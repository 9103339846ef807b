// Twin of pywarp_sim/support.py: helpers shared by the stages (MuJoCo's engine_support and
// engine_util_sparse): mj_applyFT, mj_solveLD on the tree-sparse factor of qM, and J' force
// over the constraint rows (mj_mulJacTVec, which the Warp solvers write inline). Templated on
// the scalar (the lanes of kernels/lanes.h included).
#pragma once

#include "step_math.h"
#include "types.h"

namespace pws {

// ---- mj_solveLD on the tree L'DL of qM (support.solve_tree; smooth.h factors it) ----------

template <typename T>
PWS_HD inline void solve_tree(int nv, const int* dof_parentid, const T* LD, const T* diag_inv, T* x) {
  // dense over columns below i (zero outside i's ancestors, see factor_tree), same order per entry
  for (int i = nv - 1; i >= 0; --i) {
    T xi = x[i];
    const T* li = LD + i * nv;
    auto nonzero = xi != T(0);  // skipped where x[i] is zero (as the chain walk)
    if (pws_any(nonzero))
      for (int j = 0; j < i; ++j) x[j] = pws_select(nonzero, x[j] - li[j] * xi, x[j]);
  }
  for (int i = 0; i < nv; ++i) x[i] *= diag_inv[i];
  // a dense dot product too (the sum in another order than the chain walk: rounding only)
  for (int i = 0; i < nv; ++i) x[i] -= dot_n(LD + i * nv, x, i);
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

}  // namespace pws
