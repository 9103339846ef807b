// Twin of pywarp_sim/sensor.py: mj_sensorPos, mj_sensorVel and mj_sensorAcc of ONE world into
// sensordata (MuJoCo's sensor_adr / sensor_dim layout, cutoff as MuJoCo's apply_cutoff), with
// mj_subtreeVel and mj_rnePostConstraint computed when a sensor needs them. Same formulas and
// order as the Warp kernels; see sensor.py for what each sensor means.
//
// forward.h calls sensors() once per mj_forward, after the solve (RK4's inner evaluations skip
// it, as MuJoCo's mj_forwardSkip(skipsensor=1)): nothing a position or velocity sensor reads
// changes between its stage and the end of forward, so evaluating the three stages there gives
// MuJoCo's values.
#pragma once

#include "constraint.h"
#include "ray.h"
#include "smooth.h"
#include "step_math.h"
#include "types.h"

namespace pws {

// mjtSensor, mjtStage, mjtDataType, mjtObj (types.SensorType, Stage, DataType, ObjType)
enum SensorType : int {
  kSensTouch = 0, kSensAccelerometer = 1, kSensVelocimeter = 2, kSensGyro = 3, kSensForce = 4,
  kSensTorque = 5, kSensMagnetometer = 6, kSensRangefinder = 7, kSensJointPos = 9, kSensJointVel = 10, kSensTendonPos = 11,
  kSensTendonVel = 12, kSensActuatorPos = 13, kSensActuatorVel = 14, kSensActuatorFrc = 15,
  kSensJointActFrc = 16, kSensTendonActFrc = 17, kSensBallQuat = 18, kSensBallAngVel = 19,
  kSensJointLimitPos = 20, kSensJointLimitVel = 21, kSensJointLimitFrc = 22, kSensTendonLimitPos = 23,
  kSensTendonLimitVel = 24, kSensTendonLimitFrc = 25, kSensFramePos = 26, kSensFrameQuat = 27,
  kSensFrameXAxis = 28, kSensFrameYAxis = 29, kSensFrameZAxis = 30, kSensFrameLinVel = 31,
  kSensFrameAngVel = 32, kSensFrameLinAcc = 33, kSensFrameAngAcc = 34, kSensSubtreeCom = 35,
  kSensSubtreeLinVel = 36, kSensSubtreeAngMom = 37, kSensClock = 45,
};
enum : int { kStagePos = 1, kStageVel = 2, kStageAcc = 3 };
enum : int { kDataReal = 0, kDataPositive = 1 };
// mjtObj codes (kObjBody .. kObjSite): kernels/types.h, shared with equality.h

// apply_cutoff for one value
template <typename T>
PWS_HD inline T sensor_cut(T v, int datatype, T cutoff) {
  if (cutoff > T(0)) {
    if (datatype == kDataReal) return tclamp(v, -cutoff, cutoff);
    if (datatype == kDataPositive) return tmin(v, cutoff);
  }
  return v;
}

template <typename T>
PWS_HD inline void sensor_write3(const ModelView<T>& m, const World<T>& d, int i, const Vec3<T>& v) {
  T* out = d.sensordata + m.sensor_adr[i];
  for (int k = 0; k < 3; ++k) out[k] = sensor_cut(v[k], m.sensor_datatype[i], m.sensor_cutoff[i]);
}

template <typename T>
PWS_HD inline void sensor_write1(const ModelView<T>& m, const World<T>& d, int i, T v) {
  d.sensordata[m.sensor_adr[i]] = sensor_cut(v, m.sensor_datatype[i], m.sensor_cutoff[i]);
}

// ---- frames ---------------------------------------------------------------------------------------

template <typename T>
PWS_HD inline Vec3<T> sensor_frame_pos(const World<T>& d, int objtype, int id) {
  if (objtype == kObjBody) return load3(d.xipos + 3 * id);
  if (objtype == kObjXBody) return load3(d.xpos + 3 * id);
  if (objtype == kObjGeom) return load3(d.geom_xpos + 3 * id);
  return load3(d.site_xpos + 3 * id);
}

template <typename T>
PWS_HD inline Mat33<T> sensor_frame_mat(const World<T>& d, int objtype, int id) {
  if (objtype == kObjBody) return load33(d.ximat + 9 * id);
  if (objtype == kObjXBody) return load33(d.xmat + 9 * id);
  if (objtype == kObjGeom) return load33(d.geom_xmat + 9 * id);
  return load33(d.site_xmat + 9 * id);
}

template <typename T>
PWS_HD inline Quat<T> sensor_frame_quat(const ModelView<T>& m, const World<T>& d, int objtype, int id) {
  if (objtype == kObjBody) return quat_mul(load4(d.xquat + 4 * id), load4(m.body_iquat + 4 * id));
  if (objtype == kObjXBody) return load4(d.xquat + 4 * id);
  if (objtype == kObjGeom) return quat_mul(load4(d.xquat + 4 * m.geom_bodyid[id]), load4(m.geom_quat + 4 * id));
  return quat_mul(load4(d.xquat + 4 * m.site_bodyid[id]), load4(m.site_quat + 4 * id));
}

template <typename T>
PWS_HD inline int sensor_frame_body(const ModelView<T>& m, int objtype, int id) {
  if (objtype == kObjGeom) return m.geom_bodyid[id];
  if (objtype == kObjSite) return m.site_bodyid[id];
  return id;
}

// mju_transformSpatial without rotation: a motion (rot, tran) or a force (torque, force) vector
// from oldpos to newpos
template <typename T>
PWS_HD inline Vec6<T> transform_motion(const Vec6<T>& v, const Vec3<T>& newpos, const Vec3<T>& oldpos) {
  return spatial(ang(v), lin(v) - cross(newpos - oldpos, ang(v)));
}

template <typename T>
PWS_HD inline Vec6<T> transform_force(const Vec6<T>& v, const Vec3<T>& newpos, const Vec3<T>& oldpos) {
  return spatial(ang(v) - cross(newpos - oldpos, lin(v)), lin(v));
}

template <typename T>
PWS_HD inline Vec6<T> rotate6_t(const Vec6<T>& v, const Mat33<T>& mat) {
  return spatial(mul_t(mat, ang(v)), mul_t(mat, lin(v)));
}

// mj_objectVelocity (world orientation) of the point pos moving with body b
template <typename T>
PWS_HD inline Vec6<T> object_velocity(const ModelView<T>& m, const World<T>& d, int b, const Vec3<T>& pos) {
  return transform_motion(load6(d.cvel + 6 * b), pos, load3(d.subtree_com + 3 * m.body_rootid[b]));
}

// mj_objectAcceleration: world orientation, or (local) in the frame mat
template <typename T>
PWS_HD inline Vec6<T> object_acceleration(const ModelView<T>& m, const World<T>& d, int b, const Vec3<T>& pos,
                                          const Mat33<T>& mat, bool local) {
  Vec3<T> com = load3(d.subtree_com + 3 * m.body_rootid[b]);
  Vec6<T> acc = transform_motion(load6(d.cacc + 6 * b), pos, com);
  Vec6<T> vel = transform_motion(load6(d.cvel + 6 * b), pos, com);
  if (local) {
    acc = rotate6_t(acc, mat);
    vel = rotate6_t(vel, mat);
  }
  return spatial(ang(acc), lin(acc) + cross(ang(vel), lin(vel)));
}

// ---- contact forces (mj_contactForce) ------------------------------------------------------------

PWS_HD inline bool is_contact_row(int type) {
  return type == kCnstrContactFrictionless || type == kCnstrContactPyramidal || type == kCnstrContactElliptic;
}

PWS_HD inline int contact_rows(int type, int dim) {
  if (type == kCnstrContactPyramidal) return 2 * (dim - 1);
  if (type == kCnstrContactElliptic) return dim;
  return 1;
}

// the contact's force in its frame (normal, tangents, torsional, rolling) from its rows at `row`
template <typename T>
PWS_HD inline Vec6<T> contact_force(const World<T>& d, int row, int type, int dim, const T* friction) {
  Vec6<T> f = zero6<T>();
  if (type == kCnstrContactPyramidal) {
    for (int i = 0; i < dim - 1; ++i) {
      T a = d.efc_force[row + 2 * i], b = d.efc_force[row + 2 * i + 1];
      f[0] = f[0] + a + b;
      f[i + 1] = (a - b) * friction[i];
    }
  } else if (type == kCnstrContactElliptic) {
    for (int i = 0; i < dim; ++i) f[i] = d.efc_force[row + i];
  } else {
    f[0] = d.efc_force[row];
  }
  return f;
}

// ---- the stages ---------------------------------------------------------------------------------

// efc_* of the first row of type `type` and id `id` (field: 0 pos - margin, 1 J qvel, 2 force), 0 if none
template <typename T>
PWS_HD inline T limit_row_value(const ModelView<T>& m, const World<T>& d, int type, int id, int field) {
  const int nefc = d.efc_nefc[0];
  for (int r = 0; r < nefc; ++r) {
    if (d.efc_type[r] != type || d.efc_id[r] != id) continue;
    if (field == 0) return d.efc_pos[r] - d.efc_margin[r];
    if (field == 2) return d.efc_force[r];
    T v = T(0);  // efc_vel: the Warp pipeline's solver fills it later, so both compute J qvel here
    for (int k = 0; k < m.nv; ++k) v = v + d.efc_J[r * m.nv_pad + k] * d.qvel[k];
    return v;
  }
  return T(0);
}

template <typename T>
PWS_HD inline void sensor_pos(const ModelView<T>& m, const World<T>& d) {
  for (int i = 0; i < m.nsensor; ++i) {
    if (m.sensor_needstage[i] != kStagePos) continue;
    const int type = m.sensor_type[i], objtype = m.sensor_objtype[i], objid = m.sensor_objid[i];
    const int reftype = m.sensor_reftype[i], refid = m.sensor_refid[i];
    T* out = d.sensordata + m.sensor_adr[i];
    switch (type) {
      case kSensMagnetometer:
        sensor_write3(m, d, i, mul_t(load33(d.site_xmat + 9 * objid), vec3(m.magnetic_x, m.magnetic_y, m.magnetic_z)));
        break;
      case kSensJointPos: sensor_write1(m, d, i, d.qpos[m.jnt_qposadr[objid]]); break;
      case kSensTendonPos: sensor_write1(m, d, i, d.ten_length[objid]); break;
      case kSensActuatorPos: sensor_write1(m, d, i, d.actuator_length[objid]); break;
      case kSensBallQuat: store4(out, quat_unit(load4(d.qpos + m.jnt_qposadr[objid]))); break;
      case kSensJointLimitPos: sensor_write1(m, d, i, limit_row_value(m, d, kCnstrLimitJoint, objid, 0)); break;
      case kSensTendonLimitPos: sensor_write1(m, d, i, limit_row_value(m, d, kCnstrLimitTendon, objid, 0)); break;
      case kSensFramePos:
      case kSensFrameXAxis:
      case kSensFrameYAxis:
      case kSensFrameZAxis: {
        Vec3<T> v = type == kSensFramePos ? sensor_frame_pos(d, objtype, objid)
                                          : col(sensor_frame_mat(d, objtype, objid), type - kSensFrameXAxis);
        if (refid >= 0) {
          if (type == kSensFramePos) v = v - sensor_frame_pos(d, reftype, refid);
          v = mul_t(sensor_frame_mat(d, reftype, refid), v);
        }
        sensor_write3(m, d, i, v);
        break;
      }
      case kSensFrameQuat: {
        Quat<T> q = sensor_frame_quat(m, d, objtype, objid);
        if (refid >= 0) q = quat_mul(quat_conj(sensor_frame_quat(m, d, reftype, refid)), q);
        store4(out, q);
        break;
      }
      case kSensSubtreeCom: sensor_write3(m, d, i, load3(d.subtree_com + 3 * objid)); break;
      case kSensClock: sensor_write1(m, d, i, d.time[0]); break;
      case kSensRangefinder: {  // from the site along its z axis, its own body excluded (ray.h)
        const Mat33<T> mat = load33(d.site_xmat + 9 * objid);
        sensor_write1(m, d, i, ray_nearest(m, d, load3(d.site_xpos + 3 * objid), col(mat, 2), m.site_bodyid[objid]));
        break;
      }
      default: break;
    }
  }
}

// mj_subtreeVel
template <typename T>
PWS_HD inline void subtree_vel(const ModelView<T>& m, const World<T>& d) {
  const int nbody = m.nbody;
  for (int b = 0; b < nbody; ++b) {
    Vec6<T> vel = object_velocity(m, d, b, load3(d.xipos + 3 * b));
    store3(d.subtree_linvel + 3 * b, lin(vel) * d.body_mass[b]);
    Mat33<T> ximat = load33(d.ximat + 9 * b);
    store3(d.subtree_angmom + 3 * b, mul(ximat, cw_mul(mul_t(ximat, ang(vel)), load3(d.body_inertia + 3 * b))));
  }
  for (int b = nbody - 1; b >= 0; --b) {
    if (b > 0) {
      T* p = d.subtree_linvel + 3 * m.body_parentid[b];
      store3(p, load3(p) + load3(d.subtree_linvel + 3 * b));
    }
    store3(d.subtree_linvel + 3 * b, load3(d.subtree_linvel + 3 * b) / tmax(MinVal<T>::value, d.subtree_mass[b]));
  }
  for (int b = nbody - 1; b > 0; --b) {
    const int pid = m.body_parentid[b];
    Vec6<T> vel = object_velocity(m, d, b, load3(d.xipos + 3 * b));
    Vec3<T> dx = load3(d.xipos + 3 * b) - load3(d.subtree_com + 3 * b);
    Vec3<T> dp = (lin(vel) - load3(d.subtree_linvel + 3 * b)) * d.body_mass[b];
    Vec3<T> own = load3(d.subtree_angmom + 3 * b) + cross(dx, dp);
    store3(d.subtree_angmom + 3 * b, own);
    Vec3<T> parent = load3(d.subtree_angmom + 3 * pid) + own;
    dx = load3(d.subtree_com + 3 * b) - load3(d.subtree_com + 3 * pid);
    Vec3<T> dv = (load3(d.subtree_linvel + 3 * b) - load3(d.subtree_linvel + 3 * pid)) * d.subtree_mass[b];
    store3(d.subtree_angmom + 3 * pid, parent + cross(dx, dv));
  }
}

template <typename T>
PWS_HD inline void sensor_vel(const ModelView<T>& m, const World<T>& d) {
  if (m.sensor_subtree_vel) subtree_vel(m, d);
  for (int i = 0; i < m.nsensor; ++i) {
    if (m.sensor_needstage[i] != kStageVel) continue;
    const int type = m.sensor_type[i], objtype = m.sensor_objtype[i], objid = m.sensor_objid[i];
    const int reftype = m.sensor_reftype[i], refid = m.sensor_refid[i];
    switch (type) {
      case kSensGyro:
      case kSensVelocimeter: {
        Vec6<T> vel = rotate6_t(object_velocity(m, d, m.site_bodyid[objid], load3(d.site_xpos + 3 * objid)),
                                load33(d.site_xmat + 9 * objid));
        sensor_write3(m, d, i, type == kSensGyro ? ang(vel) : lin(vel));
        break;
      }
      case kSensJointVel: sensor_write1(m, d, i, d.qvel[m.jnt_dofadr[objid]]); break;
      case kSensTendonVel: sensor_write1(m, d, i, d.ten_velocity[objid]); break;
      case kSensActuatorVel: sensor_write1(m, d, i, d.actuator_velocity[objid]); break;
      case kSensBallAngVel: sensor_write3(m, d, i, load3(d.qvel + m.jnt_dofadr[objid])); break;
      case kSensJointLimitVel: sensor_write1(m, d, i, limit_row_value(m, d, kCnstrLimitJoint, objid, 1)); break;
      case kSensTendonLimitVel: sensor_write1(m, d, i, limit_row_value(m, d, kCnstrLimitTendon, objid, 1)); break;
      case kSensFrameLinVel:
      case kSensFrameAngVel: {
        Vec3<T> pos = sensor_frame_pos(d, objtype, objid);
        Vec6<T> vel = object_velocity(m, d, sensor_frame_body(m, objtype, objid), pos);
        if (refid >= 0) {
          Vec3<T> ref_pos = sensor_frame_pos(d, reftype, refid);
          Vec6<T> ref_vel = object_velocity(m, d, sensor_frame_body(m, reftype, refid), ref_pos);
          Vec3<T> rel_ang = ang(vel) - ang(ref_vel);
          Vec3<T> rel_lin = lin(vel) - lin(ref_vel) + cross(pos - ref_pos, ang(ref_vel));
          vel = rotate6_t(spatial(rel_ang, rel_lin), sensor_frame_mat(d, reftype, refid));
        }
        sensor_write3(m, d, i, type == kSensFrameLinVel ? lin(vel) : ang(vel));
        break;
      }
      case kSensSubtreeLinVel: sensor_write3(m, d, i, load3(d.subtree_linvel + 3 * objid)); break;
      case kSensSubtreeAngMom: sensor_write3(m, d, i, load3(d.subtree_angmom + 3 * objid)); break;
      default: break;
    }
  }
}

// sensor._weld_torque: world torque of a weld's rotation rows (efc rows row+3..row+5) on body 1
// (minus on body 2): J_rot' f_rot with the rows' Jacobian 0.5 * torquescale * imag(neg(q1) * (0, w)
// * q0) (equality.h), as MuJoCo 4.0.
template <typename T>
PWS_HD inline Vec3<T> weld_torque(const ModelView<T>& m, const World<T>& d, int eqid, int row, bool body_semantic) {
  const int obj1 = m.eq_obj1id[eqid], obj2 = m.eq_obj2id[eqid];
  const T* data = m.eq_data + m.neqdata * eqid;
  Quat<T> q0, q1;
  if (body_semantic) {
    q0 = quat_mul(load4(d.xquat + 4 * obj1), load4(data + 6));
    q1 = load4(d.xquat + 4 * obj2);
  } else {
    q0 = quat_mul(load4(d.xquat + 4 * m.site_bodyid[obj1]), load4(m.site_quat + 4 * obj1));
    q1 = quat_mul(load4(d.xquat + 4 * m.site_bodyid[obj2]), load4(m.site_quat + 4 * obj2));
  }
  Quat<T> negq1 = quat_conj(q1);
  const T* f = d.efc_force + row + 3;
  Vec3<T> torque = zero3<T>();
  for (int k = 0; k < 3; ++k) {
    Quat<T> axis{{T(0), T(0), T(0), T(0)}};
    axis[k + 1] = T(1);
    Quat<T> q3 = quat_mul(quat_mul(negq1, axis), q0);
    torque[k] = T(0.5) * data[10] * (q3[1] * f[0] + q3[2] * f[1] + q3[3] * f[2]);
  }
  return torque;
}

// mj_rnePostConstraint: cfrc_ext (applied, connect / weld and contact forces), cacc with qacc,
// cfrc_int
template <typename T>
PWS_HD inline void rne_postconstraint(const ModelView<T>& m, const World<T>& d) {
  const int nbody = m.nbody;
  store6(d.cfrc_ext, zero6<T>());
  for (int b = 1; b < nbody; ++b) {
    const T* x = d.xfrc_applied + 6 * b;
    Vec6<T> wrench = spatial(vec3(x[3], x[4], x[5]), vec3(x[0], x[1], x[2]));
    store6(d.cfrc_ext + 6 * b, transform_force(wrench, load3(d.subtree_com + 3 * m.body_rootid[b]),
                                               load3(d.xipos + 3 * b)));
  }
  const int nefc = d.efc_nefc[0];
  for (int r = 0; r < nefc;) {
    const int type = d.efc_type[r];
    if (type == kCnstrEquality) {
      // connect and weld: the constraint force at each anchor (opposite on body 2)
      const int eqid = d.efc_id[r], etype = m.eq_type[eqid];
      if (etype != kEqConnect && etype != kEqWeld) {
        ++r;
        continue;
      }
      const bool body_semantic = m.eq_objtype[eqid] == kObjBody;
      Vec3<T> torque = etype == kEqWeld ? weld_torque(m, d, eqid, r, body_semantic) : zero3<T>();
      Vec6<T> frc = spatial(torque, vec3(d.efc_force[r], d.efc_force[r + 1], d.efc_force[r + 2]));
      for (int side = 0; side < 2; ++side) {
        const int obj = side == 0 ? m.eq_obj1id[eqid] : m.eq_obj2id[eqid];
        const int b = body_semantic ? obj : m.site_bodyid[obj];
        if (b == 0) continue;
        Vec3<T> offset;
        if (body_semantic) {
          // anchors: connect (body 1 at data[0:3], body 2 at [3:6]); weld the other way round
          const int k = etype == kEqWeld ? 3 - 3 * side : 3 * side;
          offset = load3(m.eq_data + m.neqdata * eqid + k);
        } else {
          offset = load3(m.site_pos + 3 * obj);
        }
        Vec3<T> anchor = mul(load33(d.xmat + 9 * b), offset) + load3(d.xpos + 3 * b);
        Vec6<T> f = transform_force(frc, load3(d.subtree_com + 3 * m.body_rootid[b]), anchor);
        store6(d.cfrc_ext + 6 * b, add6(load6(d.cfrc_ext + 6 * b), side == 0 ? f : scale6(f, T(-1))));
      }
      r += etype == kEqWeld ? 6 : 3;
      continue;
    }
    if (!is_contact_row(type)) {
      ++r;
      continue;
    }
    const int c = d.efc_id[r], dim = d.con_dim[c];
    Vec6<T> lfrc = contact_force(d, r, type, dim, d.con_friction + 5 * c);
    Mat33<T> frame = load33(d.con_frame + 9 * c);
    Vec6<T> cfrc = spatial(mul_t(frame, lin(lfrc)), mul_t(frame, ang(lfrc)));
    Vec3<T> pos = load3(d.con_pos + 3 * c);
    const int b1 = m.geom_bodyid[d.con_geom[2 * c]], b2 = m.geom_bodyid[d.con_geom[2 * c + 1]];
    if (b1) {
      Vec6<T> f = transform_force(cfrc, load3(d.subtree_com + 3 * m.body_rootid[b1]), pos);
      store6(d.cfrc_ext + 6 * b1, add6(load6(d.cfrc_ext + 6 * b1), scale6(f, T(-1))));
    }
    if (b2) {
      Vec6<T> f = transform_force(cfrc, load3(d.subtree_com + 3 * m.body_rootid[b2]), pos);
      store6(d.cfrc_ext + 6 * b2, add6(load6(d.cfrc_ext + 6 * b2), f));
    }
    r += contact_rows(type, dim);
  }
  const Vec3<T> g = m.en_gravity ? load3(d.gravity) : zero3<T>();
  store6(d.cacc, spatial(zero3<T>(), -g));
  store6(d.cfrc_int, zero6<T>());
  for (int b = 1; b < nbody; ++b) {
    Vec6<T> cacc = load6(d.cacc + 6 * m.body_parentid[b]);
    const int adr = m.body_dofadr[b], num = m.body_dofnum[b];
    for (int i = adr; i < adr + num; ++i) cacc = add6(cacc, scale6(load6(d.cdof_dot + 6 * i), d.qvel[i]));
    for (int i = adr; i < adr + num; ++i) cacc = add6(cacc, scale6(load6(d.cdof + 6 * i), d.qacc[i]));
    store6(d.cacc + 6 * b, cacc);
    const T* cinert = d.cinert + 10 * b;
    Vec6<T> cvel = load6(d.cvel + 6 * b);
    Vec6<T> net = add6(mul_inert_vec(cinert, cacc), cross_force(cvel, mul_inert_vec(cinert, cvel)));
    store6(d.cfrc_int + 6 * b, add6(net, scale6(load6(d.cfrc_ext + 6 * b), T(-1))));
  }
  for (int b = nbody - 1; b > 0; --b) {
    T* p = d.cfrc_int + 6 * m.body_parentid[b];
    store6(p, add6(load6(p), load6(d.cfrc_int + 6 * b)));
  }
}

template <typename T>
PWS_HD inline void sensor_acc(const ModelView<T>& m, const World<T>& d) {
  if (m.sensor_rne_post) rne_postconstraint(m, d);
  for (int i = 0; i < m.nsensor; ++i) {
    if (m.sensor_needstage[i] != kStageAcc) continue;
    const int type = m.sensor_type[i], objtype = m.sensor_objtype[i], objid = m.sensor_objid[i];
    switch (type) {
      case kSensTouch: {
        const int body = m.site_bodyid[objid];
        const Vec3<T> zone_pos = load3(d.site_xpos + 3 * objid);
        const Mat33<T> zone_mat = load33(d.site_xmat + 9 * objid);
        T total = T(0);
        const int nefc = d.efc_nefc[0];
        for (int r = 0; r < nefc;) {
          const int ctype = d.efc_type[r];
          if (!is_contact_row(ctype)) {
            ++r;
            continue;
          }
          const int c = d.efc_id[r], dim = d.con_dim[c];
          const int b1 = m.geom_bodyid[d.con_geom[2 * c]], b2 = m.geom_bodyid[d.con_geom[2 * c + 1]];
          if (body == b1 || body == b2) {
            T normal = contact_force(d, r, ctype, dim, d.con_friction + 5 * c)[0];
            if (normal > T(0)) {
              Vec3<T> ray = load3(d.con_frame + 9 * c);
              ray = ray / length(ray);
              if (body == b2) ray = -ray;
              if (ray_geom(zone_pos, zone_mat, m.site_size + 3 * objid, load3(d.con_pos + 3 * c), ray,
                           m.site_type[objid]) >= T(0))
                total = total + normal;
            }
          }
          r += contact_rows(ctype, dim);
        }
        sensor_write1(m, d, i, total);
        break;
      }
      case kSensAccelerometer: {
        Vec6<T> acc = object_acceleration(m, d, m.site_bodyid[objid], load3(d.site_xpos + 3 * objid),
                                          load33(d.site_xmat + 9 * objid), true);
        sensor_write3(m, d, i, lin(acc));
        break;
      }
      case kSensForce:
      case kSensTorque: {
        const int b = m.site_bodyid[objid];
        Vec6<T> frc = rotate6_t(transform_force(load6(d.cfrc_int + 6 * b), load3(d.site_xpos + 3 * objid),
                                                load3(d.subtree_com + 3 * m.body_rootid[b])),
                                load33(d.site_xmat + 9 * objid));
        sensor_write3(m, d, i, type == kSensForce ? lin(frc) : ang(frc));
        break;
      }
      case kSensActuatorFrc: sensor_write1(m, d, i, d.actuator_force[objid]); break;
      case kSensJointActFrc: sensor_write1(m, d, i, d.qfrc_actuator[m.jnt_dofadr[objid]]); break;
      case kSensTendonActFrc: {
        T total = T(0);
        for (int a = 0; a < m.nu; ++a)
          if (m.actuator_trntype[a] == kTrnTendon && m.actuator_trnid[a] == objid) total = total + d.actuator_force[a];
        sensor_write1(m, d, i, total);
        break;
      }
      case kSensJointLimitFrc: sensor_write1(m, d, i, limit_row_value(m, d, kCnstrLimitJoint, objid, 2)); break;
      case kSensTendonLimitFrc: sensor_write1(m, d, i, limit_row_value(m, d, kCnstrLimitTendon, objid, 2)); break;
      case kSensFrameLinAcc:
      case kSensFrameAngAcc: {
        Vec6<T> acc = object_acceleration(m, d, sensor_frame_body(m, objtype, objid),
                                          sensor_frame_pos(d, objtype, objid), identity33<T>(), false);
        sensor_write3(m, d, i, type == kSensFrameLinAcc ? lin(acc) : ang(acc));
        break;
      }
      default: break;
    }
  }
}

// mj_sensorPos, mj_sensorVel, mj_sensorAcc of one mj_forward (nothing when disabled)
template <typename T>
PWS_HD inline void sensors(const ModelView<T>& m, const World<T>& d) {
  if (!m.en_sensor) return;
  sensor_pos(m, d);
  sensor_vel(m, d);
  sensor_acc(m, d);
}

}  // namespace pws
