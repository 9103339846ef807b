// Twin of pywarp_sim/equality.py: equality constraint rows of one world (mj_instantiateEquality
// + mj_diagApprox + mj_makeImpedance) and their velocity term Jdot qvel (MuJoCo 4's mj_Jdotv,
// which the solver subtracts from their reference acceleration). Connect (3 rows), weld (6),
// joint and fixed-tendon polynomial couplings (1) of every constraint the world's eq_active
// switches on: the first efc_ne rows, before constraint.h's rows (MuJoCo's order).
//
// Equality rows are bilateral: the solvers (solver.h, pgs.h) give them no sign constraint.
#pragma once

#include "step_math.h"
#include "support.h"
#include "types.h"

namespace pws {


// equality._eq_bodyid: body of a connect/weld object (a body, or the body of a site).
template <typename T>
PWS_HD inline int eq_bodyid(const ModelView<T>& m, int objtype, int objid) {
  return objtype == kObjSite ? m.site_bodyid[objid] : objid;
}

// equality._eq_anchor (mj_equalityAnchors): global anchor of object `side` (0, 1) of a
// connect/weld, m. Body semantics: connect keeps anchor k in eq_data[3k:3k+3]; weld keeps them
// swapped.
template <typename T>
PWS_HD inline Vec3<T> eq_anchor(const ModelView<T>& m, const World<T>& d, int eqid, int side, int eqtype,
                                int objtype, int objid) {
  if (objtype == kObjSite) return load3(d.site_xpos + 3 * objid);
  int adr = eqtype == kEqWeld ? 3 * (1 - side) : 3 * side;
  Vec3<T> local = load3(m.eq_data + m.neqdata * eqid + adr);
  return mul(load33(d.xmat + 9 * objid), local) + load3(d.xpos + 3 * objid);
}

// equality._weld_frame: the orientation a weld aligns: q0 * relpose (side 0) or q1 (side 1) with
// body semantics, body quaternion * site_quat with site semantics.
template <typename T>
PWS_HD inline Quat<T> weld_frame(const ModelView<T>& m, const World<T>& d, int eqid, int side, int objtype,
                                 int objid, int bodyid) {
  Quat<T> q = load4(d.xquat + 4 * bodyid);
  if (objtype == kObjSite) return quat_mul(q, load4(m.site_quat + 4 * objid));
  if (side == 0) return quat_mul(q, load4(m.eq_data + m.neqdata * eqid + 6));
  return q;
}

// equality._deriv_quat (mju_derivQuat): dq/dt of q under world angular velocity omega.
template <typename T>
PWS_HD inline Quat<T> deriv_quat(const Quat<T>& q, const Vec3<T>& omega) {
  Quat<T> r = quat_mul(Quat<T>{{T(0), omega[0], omega[1], omega[2]}}, q);
  for (int k = 0; k < 4; ++k) r[k] = T(0.5) * r[k];
  return r;
}

// equality.make_equality (the _equality kernel for one world): the rows of the active
// constraints and efc_ne. Connect and weld rows share one impedance, taken at the norm of their
// violation (3 or 6 rows). A constraint whose Jacobian rows are all zero (between static bodies)
// makes no rows, as in MuJoCo.
template <typename T>
PWS_HD inline void make_equality(const ModelView<T>& m, const World<T>& d) {
  const int nv = m.nv, ld = m.nv_pad;
  int row = 0;
  for (int eqid = 0; m.en_equality && eqid < m.neq; ++eqid) {
    if (d.eq_active[eqid] == 0) continue;
    const int eqtype = m.eq_type[eqid];
    const int nrows = eqtype == kEqWeld ? 6 : (eqtype == kEqConnect ? 3 : 1);
    if (row + nrows > m.nefc_max) break;  // cannot happen: rows_capacity counts every constraint
    const T* solref = m.eq_solref + 2 * eqid;
    const T* solimp = m.eq_solimp + 5 * eqid;
    const T* data = m.eq_data + m.neqdata * eqid;
    const int obj1 = m.eq_obj1id[eqid], obj2 = m.eq_obj2id[eqid];
    if (eqtype == kEqConnect || eqtype == kEqWeld) {
      const int objtype = m.eq_objtype[eqid];
      const int b1 = eq_bodyid(m, objtype, obj1), b2 = eq_bodyid(m, objtype, obj2);
      Vec3<T> p1 = eq_anchor(m, d, eqid, 0, eqtype, objtype, obj1);
      Vec3<T> p2 = eq_anchor(m, d, eqid, 1, eqtype, objtype, obj2);
      Vec3<T> cpos = p1 - p2;
      for (int k = 0; k < nrows; ++k) clear_row(m, d, row + k);
      // Jacobian difference (opposite of contacts): point on object 1 minus point on object 2
      for (int k = 0; k < 3; ++k) {
        Vec3<T> e = zero3<T>();
        e[k] = T(1);
        T* jrow = d.efc_J + (int64_t)(row + k) * ld;
        point_jac_row(m, d, jrow, b1, T(1), p1, e, false);
        point_jac_row(m, d, jrow, b2, T(-1), p2, e, false);
      }
      Vec3<T> crot = zero3<T>();
      if (eqtype == kEqWeld) {
        const T torquescale = data[10];
        for (int k = 0; k < 3; ++k) {
          Vec3<T> e = zero3<T>();
          e[k] = T(1);
          T* jrow = d.efc_J + (int64_t)(row + 3 + k) * ld;
          point_jac_row(m, d, jrow, b1, T(1), p1, e, true);
          point_jac_row(m, d, jrow, b2, T(-1), p2, e, true);
        }
        // rotation error: axis part of neg(q1) * q0 (* relpose), scaled by torquescale; its
        // Jacobian 0.5 * neg(q1) * (jac0 - jac1) * q0 (* relpose), per dof column
        Quat<T> quat = weld_frame(m, d, eqid, 0, objtype, obj1, b1);
        Quat<T> negq1 = quat_conj(weld_frame(m, d, eqid, 1, objtype, obj2, b2));
        Quat<T> qdif = quat_mul(negq1, quat);
        crot = vec3(torquescale * qdif[1], torquescale * qdif[2], torquescale * qdif[3]);
        T* j3 = d.efc_J + (int64_t)(row + 3) * ld;
        for (int j = 0; j < nv; ++j) {
          Quat<T> axis{{T(0), j3[j], j3[ld + j], j3[2 * ld + j]}};
          Quat<T> q3 = quat_mul(quat_mul(negq1, axis), quat);
          for (int k = 0; k < 3; ++k) j3[(int64_t)k * ld + j] = T(0.5) * torquescale * q3[k + 1];
        }
      }
      const T norm = pws_sqrt(dot(cpos, cpos) + dot(crot, crot));
      const T* w1 = m.body_invweight0 + 2 * b1;
      const T* w2 = m.body_invweight0 + 2 * b2;
      for (int k = 0; k < nrows; ++k) {
        T diag = k < 3 ? w1[0] + w2[0] : w1[1] + w2[1];
        add_row(m, d, row + k, kCnstrEquality, eqid, norm, T(0), T(0), diag, solref, solimp, false);
        d.efc_pos[row + k] = k < 3 ? cpos[k] : crot[k - 3];
      }
    } else {
      // joint or tendon: pos1 - ref1 - poly(pos2 - ref2) with polycoef eq_data[0:5]
      T* jrow = clear_row(m, d, row);
      T value, diag;
      if (eqtype == kEqJoint) {
        value = d.qpos[m.jnt_qposadr[obj1]] - m.qpos0[m.jnt_qposadr[obj1]];
        jrow[m.jnt_dofadr[obj1]] = T(1);
        diag = m.dof_invweight0[m.jnt_dofadr[obj1]];
      } else {
        value = d.ten_length[obj1] - m.tendon_length0[obj1];
        const T* jt = m.tendon_J + (int64_t)obj1 * nv;
        for (int i = 0; i < nv; ++i) jrow[i] = jt[i];
        diag = m.tendon_invweight0[obj1];
      }
      T err = value - data[0];
      if (obj2 >= 0) {
        T dif;
        if (eqtype == kEqJoint) {
          dif = d.qpos[m.jnt_qposadr[obj2]] - m.qpos0[m.jnt_qposadr[obj2]];
          diag += m.dof_invweight0[m.jnt_dofadr[obj2]];
        } else {
          dif = d.ten_length[obj2] - m.tendon_length0[obj2];
          diag += m.tendon_invweight0[obj2];
        }
        const T c1 = data[1], c2 = data[2], c3 = data[3], c4 = data[4];
        err -= dif * (c1 + dif * (c2 + dif * (c3 + dif * c4)));
        T deriv = c1 + dif * (T(2) * c2 + dif * (T(3) * c3 + dif * T(4) * c4));
        if (eqtype == kEqJoint) {
          jrow[m.jnt_dofadr[obj2]] -= deriv;
        } else {
          const T* jt = m.tendon_J + (int64_t)obj2 * nv;
          for (int i = 0; i < nv; ++i) jrow[i] = jrow[i] - deriv * jt[i];
        }
      }
      add_row(m, d, row, kCnstrEquality, eqid, err, T(0), T(0), diag, solref, solimp, false);
    }
    bool empty = true;
    for (int k = 0; k < nrows; ++k) {
      const T* jrow = d.efc_J + (int64_t)(row + k) * ld;
      for (int i = 0; i < nv; ++i) empty = empty && jrow[i] == T(0);
    }
    if (!empty) row += nrows;
  }
  d.efc_ne[0] = row;
}

// equality._jac_dot_qvel: mj_jacDot times qvel for a point fixed to a body, (rotational,
// translational), world frame. Quaternion dofs take cdof_dot from the body's own velocity, as
// mj_jacDot does.
template <typename T>
PWS_HD inline Vec6<T> jac_dot_qvel(const ModelView<T>& m, const World<T>& d, int body, const Vec3<T>& point) {
  Vec3<T> offset = point - load3(d.subtree_com + 3 * m.body_rootid[body]);
  Vec6<T> v = load6(d.cvel + 6 * body);
  Vec3<T> pvel = lin(v) + cross(ang(v), offset);
  Vec3<T> jr = zero3<T>(), jp = zero3<T>();
  for (int i = m.body_dofend[body]; i >= 0; i = m.dof_parentid[i]) {
    Vec6<T> c = load6(d.cdof + 6 * i);
    Vec6<T> cd = load6(d.cdof_dot + 6 * i);
    const int jnt = m.dof_jntid[i];
    const int jtype = m.jnt_type[jnt];
    if (jtype == kJointBall || (jtype == kJointFree && i >= m.jnt_dofadr[jnt] + 3))
      cd = cross_motion(load6(d.cvel + 6 * m.dof_bodyid[i]), c);
    const T qv = d.qvel[i];
    Vec3<T> a = ang(cd);
    jr = jr + qv * a;
    jp = jp + qv * (lin(cd) + cross(a, offset) + cross(ang(c), pvel));
  }
  return spatial(jr, jp);
}

// equality.equality_jdotv: efc_jdotv = Jdot qvel of the efc_ne equality rows (connect and weld;
// 0 for joint and tendon rows), which the solver subtracts from their aref.
template <typename T>
PWS_HD inline void equality_jdotv(const ModelView<T>& m, const World<T>& d) {
  const int ne = d.efc_ne[0];
  int r = 0;
  while (r < ne) {
    const int eqid = d.efc_id[r];
    const int eqtype = m.eq_type[eqid];
    if (eqtype != kEqConnect && eqtype != kEqWeld) {
      d.efc_jdotv[r] = T(0);
      ++r;
      continue;
    }
    const int objtype = m.eq_objtype[eqid];
    const int obj1 = m.eq_obj1id[eqid], obj2 = m.eq_obj2id[eqid];
    const int b1 = eq_bodyid(m, objtype, obj1), b2 = eq_bodyid(m, objtype, obj2);
    Vec3<T> p1 = eq_anchor(m, d, eqid, 0, eqtype, objtype, obj1);
    Vec3<T> p2 = eq_anchor(m, d, eqid, 1, eqtype, objtype, obj2);
    Vec6<T> s1 = jac_dot_qvel(m, d, b1, p1);
    Vec6<T> s2 = jac_dot_qvel(m, d, b2, p2);
    Vec3<T> dlin = lin(s1) - lin(s2);
    for (int k = 0; k < 3; ++k) d.efc_jdotv[r + k] = dlin[k];
    r += 3;
    if (eqtype == kEqWeld) {
      // d/dt of 0.5 neg(q1) (J0 - J1) qvel q0r, by the product rule (three terms)
      const T torquescale = m.eq_data[m.neqdata * eqid + 10];
      Quat<T> q0r = weld_frame(m, d, eqid, 0, objtype, obj1, b1);
      Quat<T> q1 = weld_frame(m, d, eqid, 1, objtype, obj2, b2);
      Quat<T> negq1 = quat_conj(q1);
      Vec3<T> omega1 = ang(load6(d.cvel + 6 * b1));
      Vec3<T> omega2 = ang(load6(d.cvel + 6 * b2));
      Vec3<T> domega = omega1 - omega2;
      Quat<T> qdot0r;
      if (objtype == kObjSite)
        qdot0r = deriv_quat(q0r, omega1);
      else
        qdot0r = quat_mul(deriv_quat(load4(d.xquat + 4 * b1), omega1), load4(m.eq_data + m.neqdata * eqid + 6));
      Quat<T> negqdot1 = quat_conj(deriv_quat(q1, omega2));
      Vec3<T> djr = ang(s1) - ang(s2);
      Quat<T> dw{{T(0), domega[0], domega[1], domega[2]}};
      Quat<T> t1 = quat_mul(quat_mul(negqdot1, dw), q0r);
      Quat<T> t2 = quat_mul(quat_mul(negq1, Quat<T>{{T(0), djr[0], djr[1], djr[2]}}), q0r);
      Quat<T> t3 = quat_mul(quat_mul(negq1, dw), qdot0r);
      for (int k = 0; k < 3; ++k) d.efc_jdotv[r + k] = T(0.5) * torquescale * (t1[k + 1] + t2[k + 1] + t3[k + 1]);
      r += 3;
    }
  }
}

}  // namespace pws
