// Twin of pywarp_sim/smooth.py: smooth dynamics of one world, the position and velocity stages
// before collision: kinematics, com quantities, composite inertia and the tree L'DL factor of
// qM, bias forces (RNE), fixed tendons and the actuator transmission. Same algorithms and
// ordering as the Warp kernels of smooth.py, one world at a time (templated on the scalar, so
// kernels/lanes.h runs the model-branching ones for eight worlds at once).
#pragma once

#include "step_math.h"
#include "support.h"
#include "types.h"

namespace pws {

// ---- mj_kinematics (smooth._kinematics, smooth._frame_poses) ------------------------------

// xmat is quat_to_mat(xquat) as stored by kinematics, so mul(xmat, v) is rot_vec_quat(v, xquat).
template <typename T>
PWS_HD inline void frame_pose(const T* xpos, const T* xquat, const T* xmat, const T* obj_pos, const T* obj_quat,
                              T* obj_xpos, T* obj_xmat) {
  Quat<T> q = load4(xquat);
  store3(obj_xpos, load3(xpos) + mul(load33(xmat), load3(obj_pos)));
  store33(obj_xmat, quat_to_mat(quat_unit(quat_mul(q, load4(obj_quat)))));
}

template <typename T>
PWS_HD inline void kinematics(const ModelView<T>& m, const World<T>& d) {
  store3(d.xpos, zero3<T>());
  store4(d.xquat, Quat<T>{{T(1), T(0), T(0), T(0)}});
  store33(d.xmat, identity33<T>());
  store3(d.xipos, zero3<T>());
  store33(d.ximat, identity33<T>());
  const T* qpos = d.qpos;
  for (int b = 1; b < m.nbody; ++b) {
    int pid = m.body_parentid[b];
    Vec3<T> xpos = load3(d.xpos + 3 * pid) + mul(load33(d.xmat + 9 * pid), load3(m.body_pos + 3 * b));
    Quat<T> xquat = quat_mul(load4(d.xquat + 4 * pid), load4(m.body_quat + 4 * b));
    int jntadr = m.body_jntadr[b];
    for (int j = jntadr; j < jntadr + m.body_jntnum[b]; ++j) {
      int qadr = m.jnt_qposadr[j];
      int jtype = m.jnt_type[j];
      if (jtype == kJointFree) {
        xpos = vec3(qpos[qadr], qpos[qadr + 1], qpos[qadr + 2]);
        xquat = quat_unit(load4(qpos + qadr + 3));
        store3(d.xanchor + 3 * j, xpos);
        store3(d.xaxis + 3 * j, load3(m.jnt_axis + 3 * j));
      } else {
        Vec3<T> jpos = load3(m.jnt_pos + 3 * j);
        Vec3<T> xanchor = rot_vec_quat(jpos, xquat) + xpos;
        Vec3<T> xaxis = rot_vec_quat(load3(m.jnt_axis + 3 * j), xquat);
        store3(d.xanchor + 3 * j, xanchor);
        store3(d.xaxis + 3 * j, xaxis);
        if (jtype == kJointSlide) {
          xpos = xpos + xaxis * (qpos[qadr] - m.qpos0[qadr]);
        } else {
          Quat<T> qloc;
          if (jtype == kJointBall) {
            qloc = quat_unit(load4(qpos + qadr));
          } else {
            qloc = axis_angle_quat(load3(m.jnt_axis + 3 * j), qpos[qadr] - m.qpos0[qadr]);
          }
          xquat = quat_mul(xquat, qloc);
          xpos = xanchor - rot_vec_quat(jpos, xquat);
        }
      }
    }
    xquat = quat_unit(xquat);
    Mat33<T> xmat = quat_to_mat(xquat);
    store3(d.xpos + 3 * b, xpos);
    store4(d.xquat + 4 * b, xquat);
    store33(d.xmat + 9 * b, xmat);
    store3(d.xipos + 3 * b, xpos + mul(xmat, load3(d.body_ipos + 3 * b)));
    store33(d.ximat + 9 * b, quat_to_mat(quat_mul(xquat, load4(m.body_iquat + 4 * b))));
  }
  for (int g = 0; g < m.ngeom; ++g) {
    int b = m.geom_bodyid[g];
    frame_pose(d.xpos + 3 * b, d.xquat + 4 * b, d.xmat + 9 * b, m.geom_pos + 3 * g, m.geom_quat + 4 * g,
               d.geom_xpos + 3 * g, d.geom_xmat + 9 * g);
  }
  for (int s = 0; s < m.nsite; ++s) {
    int b = m.site_bodyid[s];
    frame_pose(d.xpos + 3 * b, d.xquat + 4 * b, d.xmat + 9 * b, m.site_pos + 3 * s, m.site_quat + 4 * s,
               d.site_xpos + 3 * s, d.site_xmat + 9 * s);
  }
}

// ---- mj_comPos (smooth._subtree_com, _cinert, _cdof) --------------------------------------

template <typename T>
PWS_HD inline void com_pos(const ModelView<T>& m, const World<T>& d) {
  const int nbody = m.nbody;
  for (int b = 0; b < nbody; ++b) {
    T mass = d.body_mass[b];
    store3(d.subtree_com + 3 * b, load3(d.xipos + 3 * b) * mass);
    d.subtree_mass[b] = mass;
  }
  for (int b = nbody - 1; b > 0; --b) {
    int pid = m.body_parentid[b];
    store3(d.subtree_com + 3 * pid, load3(d.subtree_com + 3 * pid) + load3(d.subtree_com + 3 * b));
    d.subtree_mass[pid] += d.subtree_mass[b];
  }
  for (int b = 0; b < nbody; ++b) {
    T mass = d.subtree_mass[b];
    auto light = mass < T(1e-15);
    Vec3<T> own = load3(d.xipos + 3 * b), com = load3(d.subtree_com + 3 * b) / mass;
    store3(d.subtree_com + 3 * b, vec3(pws_select(light, own[0], com[0]), pws_select(light, own[1], com[1]),
                                       pws_select(light, own[2], com[2])));
  }
  for (int b = 0; b < nbody; ++b) {
    Vec3<T> dif = load3(d.xipos + 3 * b) - load3(d.subtree_com + 3 * m.body_rootid[b]);
    inert_com(d.cinert + 10 * b, load3(d.body_inertia + 3 * b), load33(d.ximat + 9 * b), dif, d.body_mass[b]);
  }
  for (int j = 0; j < m.njnt; ++j) {
    int b = m.jnt_bodyid[j];
    int dofadr = m.jnt_dofadr[j];
    Vec3<T> offset = load3(d.subtree_com + 3 * m.body_rootid[b]) - load3(d.xanchor + 3 * j);
    int jtype = m.jnt_type[j];
    if (jtype == kJointFree) {
      for (int i = 0; i < 3; ++i) {
        Vec3<T> l = zero3<T>();
        l[i] = T(1);
        store6(d.cdof + 6 * (dofadr + i), spatial(zero3<T>(), l));
      }
      dofadr += 3;
    }
    if (jtype == kJointFree || jtype == kJointBall) {
      Mat33<T> xmat = load33(d.xmat + 9 * b);
      for (int i = 0; i < 3; ++i) store6(d.cdof + 6 * (dofadr + i), dof_com(col(xmat, i), offset));
    } else if (jtype == kJointSlide) {
      store6(d.cdof + 6 * dofadr, spatial(zero3<T>(), load3(d.xaxis + 3 * j)));
    } else {
      store6(d.cdof + 6 * dofadr, dof_com(load3(d.xaxis + 3 * j), offset));
    }
  }
}

// ---- mj_crb (smooth._crb): crb and the dense symmetric qM with armature --------------------

template <typename T>
PWS_HD inline void crb(const ModelView<T>& m, const World<T>& d) {
  const int nbody = m.nbody, nv = m.nv;
  for (int b = 0; b < nbody; ++b)
    for (int k = 0; k < 10; ++k) d.crb[10 * b + k] = d.cinert[10 * b + k];
  for (int b = nbody - 1; b > 0; --b) {
    int pid = m.body_parentid[b];
    if (pid > 0)
      for (int k = 0; k < 10; ++k) d.crb[10 * pid + k] += d.crb[10 * b + k];
  }
  T* qM = d.qM;
  for (int i = 0; i < nv * nv; ++i) qM[i] = T(0);
  for (int i = 0; i < nv; ++i) {
    Vec6<T> buf = mul_inert_vec(d.crb + 10 * m.dof_bodyid[i], load6(d.cdof + 6 * i));
    for (int j = i; j >= 0; j = m.dof_parentid[j]) {
      T mij = dot6(load6(d.cdof + 6 * j), buf);
      qM[i * nv + j] = mij;
      qM[j * nv + i] = mij;
    }
    qM[i * nv + i] += d.dof_armature[i];
  }
}

// ---- tree L'DL of qM (smooth.factor_tree; support.h solves with it); dense (nv, nv) ----

template <bool kSplit, typename T>
PWS_HD inline void factor_tree_rows(const ModelView<T>& m, T* LD, T* diag_inv) {
  // Row k's lower part is zero outside k's ancestors (the tree sparsity, kept by the
  // elimination), and for an ancestor i of k the ancestors of k below i are those of i. So the
  // update of row i by row k can run densely over the columns of k's tree up to i
  // (support.h's tree_dof_lo; the columns before it, other trees' dofs, hold zeros): the extra
  // columns add exact zeros, the updates per entry come in the same order as a walk of
  // dof_parentid (the same result), and the contiguous loop vectorises where the chain walk is
  // a dependent gather.
  const int nv = m.nv;
  const int* dof_parentid = m.dof_parentid;
  for (int k = nv - 1; k >= 0; --k) {
    T* lk = LD + k * nv;
    const int lo = kSplit ? tree_dof_lo(m, k) : 0;
    for (int i = dof_parentid[k]; i >= 0; i = dof_parentid[i]) {
      T tmp = lk[i] / lk[k];
      T* li = LD + i * nv;
      for (int j = lo; j <= i; ++j) li[j] -= tmp * lk[j];
      lk[i] = tmp;
    }
  }
  for (int k = 0; k < nv; ++k) diag_inv[k] = T(1) / LD[k * nv + k];
}

// kSplit (tree_loops_split) a compile-time constant: with one tree the loops start at 0 as before.
template <typename T>
PWS_HD inline void factor_tree(const ModelView<T>& m, T* LD, T* diag_inv) {
  if (tree_loops_split(m))
    factor_tree_rows<true>(m, LD, diag_inv);
  else
    factor_tree_rows<false>(m, LD, diag_inv);
}

template <typename T>
PWS_HD inline void factor_m(const ModelView<T>& m, const World<T>& d) {
  const int n = m.nv * m.nv;
  for (int i = 0; i < n; ++i) d.qLD[i] = d.qM[i];
  factor_tree(m, d.qLD, d.qLDiagInv);
}

// ---- mj_comVel (smooth._com_vel) ------------------------------------------------------------

template <typename T>
PWS_HD inline void com_vel(const ModelView<T>& m, const World<T>& d) {
  store6(d.cvel, zero6<T>());
  const T* qvel = d.qvel;
  for (int b = 1; b < m.nbody; ++b) {
    Vec6<T> cvel = load6(d.cvel + 6 * m.body_parentid[b]);
    int jntadr = m.body_jntadr[b];
    for (int j = jntadr; j < jntadr + m.body_jntnum[b]; ++j) {
      int dofadr = m.jnt_dofadr[j];
      int jtype = m.jnt_type[j];
      if (jtype == kJointFree) {
        for (int i = 0; i < 3; ++i) {
          store6(d.cdof_dot + 6 * (dofadr + i), zero6<T>());
          cvel = add6(cvel, scale6(load6(d.cdof + 6 * (dofadr + i)), qvel[dofadr + i]));
        }
        dofadr += 3;
      }
      if (jtype == kJointFree || jtype == kJointBall) {
        for (int i = 0; i < 3; ++i)
          store6(d.cdof_dot + 6 * (dofadr + i), cross_motion(cvel, load6(d.cdof + 6 * (dofadr + i))));
        for (int i = 0; i < 3; ++i) cvel = add6(cvel, scale6(load6(d.cdof + 6 * (dofadr + i)), qvel[dofadr + i]));
      } else {
        Vec6<T> cdof = load6(d.cdof + 6 * dofadr);
        store6(d.cdof_dot + 6 * dofadr, cross_motion(cvel, cdof));
        cvel = add6(cvel, scale6(cdof, qvel[dofadr]));
      }
    }
    store6(d.cvel + 6 * b, cvel);
  }
}

// ---- mj_rne without acceleration (smooth._rne) ---------------------------------------------

template <typename T>
PWS_HD inline void rne(const ModelView<T>& m, const World<T>& d) {
  Vec3<T> g = zero3<T>();
  if (m.en_gravity) g = load3(d.gravity);
  store6(d.cacc, spatial(zero3<T>(), -g));
  store6(d.cfrc_int, zero6<T>());
  for (int b = 1; b < m.nbody; ++b) {
    Vec6<T> cacc = load6(d.cacc + 6 * m.body_parentid[b]);
    int dofadr = m.body_dofadr[b];
    for (int i = dofadr; i < dofadr + m.body_dofnum[b]; ++i)
      cacc = add6(cacc, scale6(load6(d.cdof_dot + 6 * i), d.qvel[i]));
    store6(d.cacc + 6 * b, cacc);
    const T* cinert = d.cinert + 10 * b;
    Vec6<T> cvel = load6(d.cvel + 6 * b);
    store6(d.cfrc_int + 6 * b, add6(mul_inert_vec(cinert, cacc), cross_force(cvel, mul_inert_vec(cinert, cvel))));
  }
  for (int b = m.nbody - 1; b > 0; --b) {
    int pid = m.body_parentid[b];
    if (pid > 0)
      for (int k = 0; k < 6; ++k) d.cfrc_int[6 * pid + k] += d.cfrc_int[6 * b + k];
  }
  for (int i = 0; i < m.nv; ++i)
    d.qfrc_bias[i] = dot6(load6(d.cdof + 6 * i), load6(d.cfrc_int + 6 * m.dof_bodyid[i]));
}

// ---- mj_tendon for fixed tendons (smooth._tendon) ------------------------------------------

// ten_length = sum of coef * qpos over the tendon's joints; ten_velocity = tendon_J qvel (the
// Jacobian of a fixed tendon is constant, built at load time).
template <typename T>
PWS_HD inline void tendon(const ModelView<T>& m, const World<T>& d) {
  for (int t = 0; t < m.ntendon; ++t) {
    T length = T(0);
    int adr = m.tendon_adr[t];
    for (int w = adr; w < adr + m.tendon_num[t]; ++w)
      length += m.wrap_prm[w] * d.qpos[m.jnt_qposadr[m.wrap_jnt[w]]];
    const T* jt = m.tendon_J + (int64_t)t * m.nv;
    T velocity = T(0);
    for (int i = 0; i < m.nv; ++i) velocity += jt[i] * d.qvel[i];
    d.ten_length[t] = length;
    d.ten_velocity[t] = velocity;
  }
}

// ---- mj_transmission (smooth._transmission): joints on hinge/slide, fixed tendons ----------

template <typename T>
PWS_HD inline void transmission(const ModelView<T>& m, const World<T>& d) {
  for (int a = 0; a < m.nu; ++a) {
    T gear = d.actuator_gear[a];
    int id = m.actuator_trnid[a];
    if (m.actuator_trntype[a] == kTrnTendon) {
      d.actuator_length[a] = d.ten_length[id] * gear;
      d.actuator_velocity[a] = d.ten_velocity[id] * gear;
    } else {
      d.actuator_length[a] = d.qpos[m.jnt_qposadr[id]] * gear;
      d.actuator_velocity[a] = d.qvel[m.jnt_dofadr[id]] * gear;
    }
  }
}

}  // namespace pws
