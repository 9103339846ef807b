// Twin of pywarp_sim/constraint.py: the constraint-row stage (mj_makeConstraint).
// Constraint rows of one world (constraint._make_constraint): dof and tendon frictionloss,
// joint and tendon limits, contacts (frictionless, pyramidal or elliptic cones), MuJoCo's
// impedance and reference-acceleration coefficients (support.h), in MuJoCo's row order, after
// the efc_ne equality rows of equality.h.
//
// Only the rows in use are written (the Warp kernel zeroes all nefc_max rows of efc_J).
#pragma once

#include "step_math.h"
#include "support.h"
#include "types.h"

namespace pws {

// Rows row .. row + nrow - 1 of efc_J for a contact between bodies b1 and b2: per column, the
// frame directions' values v[k] (frame row k, translational for k < 3; frame row k - 3,
// rotational, for k >= 3) of 0 + J(point on b2) - J(point on b1), as support.point_jac_row for
// b2 then b1 (the same sums), then (pyramid) the facet rows v[0] +- mu_k v[k], else v itself.
// The nonzero columns are the dofs of the two bodies' chains: both chains are walked at once
// from their last dofs down (dof_parentid[i] < i, so a merge of two descending lists; a dof on
// both chains comes once), after the rows are cleared. The columns off both chains are the
// clear's zeros, which the dense loop's 0 + mu * 0 also gave (simt_constraint.h's per-column
// form writes those).
// kDir: the number of directions when a constant (1, 3, 4, 6: the loops unroll and v stays in
// registers), else 0 and ndir says.
template <int kDir, bool kPyramid, typename T>
PWS_HD inline void contact_frame_jac_cols(const ModelView<T>& m, const World<T>& d, int row, int ndir,
                                          const T* friction, int b1, int b2, const Vec3<T>& point,
                                          const Mat33<T>& frame) {
  const int ld = m.nv_pad, nd = kDir ? kDir : ndir;
  T* j0 = d.efc_J + (int64_t)row * ld;
  const int nrow = kPyramid ? 2 * (nd - 1) : nd;
  for (int k = 0; k < nrow; ++k) clear_row(m, d, row + k);
  const Vec3<T> rel2 = point - load3(d.subtree_com + 3 * m.body_rootid[b2]);
  const Vec3<T> rel1 = point - load3(d.subtree_com + 3 * m.body_rootid[b1]);
  T mu[5];
  if (kPyramid)
    for (int k = 1; k < nd; ++k) mu[k - 1] = friction[k - 1];
  int i2 = m.body_dofend[b2], i1 = m.body_dofend[b1];
  while (i1 >= 0 || i2 >= 0) {
    const int i = i2 > i1 ? i2 : i1;
    const bool on2 = i2 == i, on1 = i1 == i;
    if (on2) i2 = m.dof_parentid[i2];
    if (on1) i1 = m.dof_parentid[i1];
    const Vec6<T> c = load6(d.cdof + 6 * i);
    const Vec3<T> a = ang(c);
    T v[kDir ? kDir : 6];
    for (int k = 0; k < nd; ++k) v[k] = T(0);
    for (int side = 0; side < 2; ++side) {
      if (!(side == 0 ? on2 : on1)) continue;
      const T sign = side == 0 ? T(1) : T(-1);
      const Vec3<T> l = lin(c) + cross(a, side == 0 ? rel2 : rel1);
      for (int k = 0; k < nd; ++k) {
        T vk = k < 3 ? dot(row3(frame, k), l) : dot(row3(frame, k - 3), a);
        v[k] += sign * vk;
      }
    }
    if (!kPyramid) {
      for (int k = 0; k < nd; ++k) j0[(int64_t)k * ld + i] = v[k];
      continue;
    }
    for (int k = 1; k < nd; ++k) {
      j0[(int64_t)(2 * k - 2) * ld + i] = v[0] + mu[k - 1] * v[k];
      j0[(int64_t)(2 * k - 1) * ld + i] = v[0] - mu[k - 1] * v[k];
    }
  }
}

template <typename T>
PWS_HD inline void contact_frame_jac(const ModelView<T>& m, const World<T>& d, int row, int ndir, bool pyramid,
                                     const T* friction, int b1, int b2, const Vec3<T>& point, const Mat33<T>& frame) {
#define PWS_CFJ(K, P) contact_frame_jac_cols<K, P>(m, d, row, ndir, friction, b1, b2, point, frame)
  if (pyramid) {
    switch (ndir) {
      case 3: PWS_CFJ(3, true); return;
      case 4: PWS_CFJ(4, true); return;
      case 6: PWS_CFJ(6, true); return;
      default: PWS_CFJ(0, true); return;
    }
  }
  switch (ndir) {
    case 1: PWS_CFJ(1, false); return;
    case 3: PWS_CFJ(3, false); return;
    case 4: PWS_CFJ(4, false); return;
    case 6: PWS_CFJ(6, false); return;
    default: PWS_CFJ(0, false); return;
  }
#undef PWS_CFJ
}

// Writes the rows and efc_nefc. Rows beyond the capacity nefc_max are dropped (cannot happen
// for a valid model: the capacity covers every frictional dof, limit side and contact slot).
template <typename T>
PWS_HD inline void make_constraint(const ModelView<T>& m, const World<T>& d) {
  const int nv = m.nv, cap = m.nefc_max;
  int row = d.efc_ne[0];  // after the equality rows (equality.h)

  if (m.en_friction) {
    for (int i = 0; i < nv && row < cap; ++i) {
      T floss = d.dof_frictionloss[i];
      if (floss > T(0)) {
        T* jrow = clear_row(m, d, row);
        jrow[i] = T(1);
        add_row(m, d, row, kCnstrFrictionDof, i, T(0), T(0), floss, m.dof_invweight0[i], m.dof_solref + 2 * i,
                m.dof_solimp + 5 * i, true);
        ++row;
      }
    }
    for (int t = 0; t < m.ntendon && row < cap; ++t) {
      T floss = m.tendon_frictionloss[t];
      if (floss > T(0)) {
        T* jrow = d.efc_J + (int64_t)row * m.nv_pad;
        const T* jt = m.tendon_J + (int64_t)t * nv;
        for (int i = 0; i < nv; ++i) jrow[i] = jt[i];
        add_row(m, d, row, kCnstrFrictionTendon, t, T(0), T(0), floss, m.tendon_invweight0[t],
                m.tendon_solref_fri + 2 * t, m.tendon_solimp_fri + 5 * t, true);
        ++row;
      }
    }
  }

  if (m.en_limit) {
    for (int j = 0; j < m.njnt; ++j) {
      if (!m.jnt_limited[j]) continue;
      T margin = m.jnt_margin[j];
      const T* rng = m.jnt_range + 2 * j;
      int dofadr = m.jnt_dofadr[j];
      int qadr = m.jnt_qposadr[j];
      int jtype = m.jnt_type[j];
      if (jtype == kJointBall) {
        Quat<T> q = quat_unit(load4(d.qpos + qadr));
        Vec3<T> axis_angle = quat_to_vel(q);
        T angle = length(axis_angle);
        Vec3<T> axis = vec3(T(1), T(0), T(0));
        if (angle > T(1e-15)) axis = axis_angle / angle;
        T dist = tmax(rng[0], rng[1]) - angle;
        if (dist < margin && row < cap) {
          T* jrow = clear_row(m, d, row);
          for (int i = 0; i < 3; ++i) jrow[dofadr + i] = -axis[i];
          add_row(m, d, row, kCnstrLimitJoint, j, dist, margin, T(0), m.dof_invweight0[dofadr],
                  m.jnt_solref + 2 * j, m.jnt_solimp + 5 * j, false);
          ++row;
        }
      } else if (jtype != kJointFree) {
        T value = d.qpos[qadr];
        for (int s = 0; s < 2; ++s) {
          T side = T(2 * s - 1);
          T dist = side * (rng[s] - value);
          if (dist < margin && row < cap) {
            T* jrow = clear_row(m, d, row);
            jrow[dofadr] = -side;
            add_row(m, d, row, kCnstrLimitJoint, j, dist, margin, T(0), m.dof_invweight0[dofadr],
                    m.jnt_solref + 2 * j, m.jnt_solimp + 5 * j, false);
            ++row;
          }
        }
      }
    }
    for (int t = 0; t < m.ntendon; ++t) {
      if (!m.tendon_limited[t]) continue;
      const T* rng = m.tendon_range + 2 * t;
      T margin = m.tendon_margin[t];
      T value = d.ten_length[t];
      const T* jt = m.tendon_J + (int64_t)t * nv;
      for (int s = 0; s < 2; ++s) {
        T side = T(2 * s - 1);
        T dist = side * (rng[s] - value);
        if (dist < margin && row < cap) {
          T* jrow = d.efc_J + (int64_t)row * m.nv_pad;
          for (int i = 0; i < nv; ++i) jrow[i] = -side * jt[i];
          add_row(m, d, row, kCnstrLimitTendon, t, dist, margin, T(0), m.tendon_invweight0[t],
                  m.tendon_solref_lim + 2 * t, m.tendon_solimp_lim + 5 * t, false);
          ++row;
        }
      }
    }
  }

  if (m.en_contact) {
    const int ncon = d.con_ncon[0];
    for (int c = 0; c < ncon; ++c) {
      // contacts in the gap (dist >= includemargin) make no rows (MuJoCo's mjContact.exclude)
      if (d.con_exclude[c]) continue;
      int dim = d.con_dim[c];
      int nrow = dim == 1 ? 1 : (m.cone_elliptic ? dim : 2 * (dim - 1));
      if (row + nrow > cap) break;
      int b1 = m.geom_bodyid[d.con_geom[2 * c]];
      int b2 = m.geom_bodyid[d.con_geom[2 * c + 1]];
      Mat33<T> frame = load33(d.con_frame + 9 * c);
      Vec3<T> point = load3(d.con_pos + 3 * c);
      T dist = d.con_dist[c];
      T margin = d.con_includemargin[c];
      const T* friction = d.con_friction + 5 * c;
      const T* solref = d.con_solref + 2 * c;
      const T* solimp = d.con_solimp + 5 * c;
      T tran = m.body_invweight0[2 * b1] + m.body_invweight0[2 * b2];
      if (dim == 1) {
        contact_frame_jac(m, d, row, 1, false, friction, b1, b2, point, frame);
        add_row(m, d, row, kCnstrContactFrictionless, c, dist, margin, T(0), tran, solref, solimp, false);
        ++row;
      } else if (m.cone_elliptic) {
        // rows: normal, tangential (frame rows 1, 2), torsional and rolling (rotational)
        T imp = impedance(solimp, dist, margin);
        T r0 = tmax(T(1e-15), (T(1) - imp) * tran / imp);
        T r1 = r0 / tmax(T(1e-15), m.impratio);
        const T* solref_f = d.con_solreffriction + 2 * c;
        if (solref_f[0] == T(0) && solref_f[1] == T(0)) solref_f = solref;
        contact_frame_jac(m, d, row, dim, false, friction, b1, b2, point, frame);
        for (int k = 0; k < dim; ++k) {
          if (k == 0) {
            add_row(m, d, row, kCnstrContactElliptic, c, dist, margin, T(0), tran, solref, solimp, false);
            d.efc_R[row] = r0;
            d.efc_dim[row] = dim;
            d.efc_coef[row] = friction[0] * pws_sqrt(r1 / r0);
          } else {
            T kk, bb;
            impedance_kb(solref_f, solimp, m.timestep, m.en_refsafe, &kk, &bb);
            int r = row + k;
            d.efc_type[r] = kCnstrContactElliptic;
            d.efc_id[r] = c;
            d.efc_pos[r] = T(0);
            d.efc_margin[r] = T(0);
            d.efc_frictionloss[r] = T(0);
            d.efc_K[r] = T(0);
            d.efc_B[r] = bb;
            d.efc_R[r] = r1 * friction[0] * friction[0] / (friction[k - 1] * friction[k - 1]);
            d.efc_dim[r] = 0;
            d.efc_coef[r] = friction[k - 1];
          }
        }
        row += dim;
      } else {
        // R of every facet follows from the first facet's (mj_makeImpedance with impratio)
        T imp = impedance(solimp, dist, margin);
        T r0 = tmax(T(1e-15), (T(1) - imp) * tran * (T(1) + friction[0] * friction[0]) / imp);
        T mu2 = friction[0] * friction[0] / tmax(T(1e-15), m.impratio);
        T rpy = T(2) * mu2 * r0;
        // the facet rows n +- mu_k d_k (MuJoCo's pyramid) from the frame directions' Jacobians
        contact_frame_jac(m, d, row, dim, true, friction, b1, b2, point, frame);
        // every facet has the first one's impedance, K and B
        add_row(m, d, row, kCnstrContactPyramidal, c, dist, margin, T(0), tran, solref, solimp, false);
        for (int r = row; r < row + 2 * (dim - 1); ++r) {
          d.efc_type[r] = kCnstrContactPyramidal;
          d.efc_id[r] = c;
          d.efc_pos[r] = dist;
          d.efc_margin[r] = margin;
          d.efc_frictionloss[r] = T(0);
          d.efc_R[r] = rpy;
          d.efc_K[r] = d.efc_K[row];
          d.efc_B[r] = d.efc_B[row];
        }
        row += 2 * (dim - 1);
      }
    }
  }

  d.efc_nefc[0] = row;
  for (int r = 0; r < row; ++r) d.efc_D[r] = T(1) / d.efc_R[r];
}

}  // namespace pws
