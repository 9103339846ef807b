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

// The per-sensor functions below read and write through an accessor `a` (step_math.h's Direct<T>
// for the scalar loops here; a lane group of kernels/simt.h in kernels/simt_step.h, which runs
// one sensor per lane): the same function, so the same operations and bits on both.

// apply_cutoff for one value
template <typename R>
PWS_HD inline R sensor_cut(R v, int datatype, R cutoff) {
  if (cutoff > R(0)) {
    if (datatype == kDataReal) return tclamp(v, -cutoff, cutoff);
    if (datatype == kDataPositive) return tmin(v, cutoff);
  }
  return v;
}

template <typename A, typename T>
PWS_HD inline void sensor_write3(const A& a, const ModelView<T>& m, const World<T>& d, int i,
                                 const Vec3<typename A::real>& v) {
  using R = typename A::real;
  T* out = d.sensordata + a.ld(m.sensor_adr + i);
  const int datatype = a.ld(m.sensor_datatype + i);
  const R cutoff = a.ld(m.sensor_cutoff + i);
  for (int k = 0; k < 3; ++k) a.st(out + k, sensor_cut(v[k], datatype, cutoff));
}

template <typename A, typename T>
PWS_HD inline void sensor_write1(const A& a, const ModelView<T>& m, const World<T>& d, int i, typename A::real v) {
  using R = typename A::real;
  const R cutoff = a.ld(m.sensor_cutoff + i);
  a.st(d.sensordata + a.ld(m.sensor_adr + i), sensor_cut(v, a.ld(m.sensor_datatype + i), cutoff));
}

// ---- frames ---------------------------------------------------------------------------------------

template <typename A, typename T>
PWS_HD inline Vec3<typename A::real> sensor_frame_pos(const A& a, const World<T>& d, int objtype, int id) {
  if (objtype == kObjBody) return aload3(a, d.xipos + 3 * id);
  if (objtype == kObjXBody) return aload3(a, d.xpos + 3 * id);
  if (objtype == kObjGeom) return aload3(a, d.geom_xpos + 3 * id);
  return aload3(a, d.site_xpos + 3 * id);
}

template <typename A, typename T>
PWS_HD inline Mat33<typename A::real> sensor_frame_mat(const A& a, const World<T>& d, int objtype, int id) {
  if (objtype == kObjBody) return aload33(a, d.ximat + 9 * id);
  if (objtype == kObjXBody) return aload33(a, d.xmat + 9 * id);
  if (objtype == kObjGeom) return aload33(a, d.geom_xmat + 9 * id);
  return aload33(a, d.site_xmat + 9 * id);
}

template <typename A, typename T>
PWS_HD inline Quat<typename A::real> sensor_frame_quat(const A& a, const ModelView<T>& m, const World<T>& d,
                                                       int objtype, int id) {
  if (objtype == kObjBody) return quat_mul(aload4(a, d.xquat + 4 * id), aload4(a, m.body_iquat + 4 * id));
  if (objtype == kObjXBody) return aload4(a, d.xquat + 4 * id);
  if (objtype == kObjGeom)
    return quat_mul(aload4(a, d.xquat + 4 * a.ld(m.geom_bodyid + id)), aload4(a, m.geom_quat + 4 * id));
  return quat_mul(aload4(a, d.xquat + 4 * a.ld(m.site_bodyid + id)), aload4(a, m.site_quat + 4 * id));
}

template <typename A, typename T>
PWS_HD inline int sensor_frame_body(const A& a, const ModelView<T>& m, int objtype, int id) {
  if (objtype == kObjGeom) return a.ld(m.geom_bodyid + id);
  if (objtype == kObjSite) return a.ld(m.site_bodyid + id);
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
template <typename A, typename T>
PWS_HD inline Vec6<typename A::real> object_velocity(const A& a, const ModelView<T>& m, const World<T>& d, int b,
                                                     const Vec3<typename A::real>& pos) {
  return transform_motion(aload6(a, d.cvel + 6 * b), pos, aload3(a, d.subtree_com + 3 * a.ld(m.body_rootid + b)));
}

// mj_objectAcceleration: world orientation, or (local) in the frame mat
template <typename A, typename T>
PWS_HD inline Vec6<typename A::real> object_acceleration(const A& a, const ModelView<T>& m, const World<T>& d, int b,
                                                         const Vec3<typename A::real>& pos,
                                                         const Mat33<typename A::real>& mat, bool local) {
  using R = typename A::real;
  Vec3<R> com = aload3(a, d.subtree_com + 3 * a.ld(m.body_rootid + b));
  Vec6<R> acc = transform_motion(aload6(a, d.cacc + 6 * b), pos, com);
  Vec6<R> vel = transform_motion(aload6(a, d.cvel + 6 * b), pos, com);
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
template <typename A, typename T>
PWS_HD inline Vec6<typename A::real> contact_force(const A& a, const World<T>& d, int row, int type, int dim,
                                                   const T* friction) {
  using R = typename A::real;
  Vec6<R> f = zero6<R>();
  if (type == kCnstrContactPyramidal) {
    for (int i = 0; i < dim - 1; ++i) {
      R fa = a.ld(d.efc_force + row + 2 * i), fb = a.ld(d.efc_force + row + 2 * i + 1);
      f[0] = f[0] + fa + fb;
      f[i + 1] = (fa - fb) * a.ld(friction + i);
    }
  } else if (type == kCnstrContactElliptic) {
    for (int i = 0; i < dim; ++i) f[i] = a.ld(d.efc_force + row + i);
  } else {
    f[0] = a.ld(d.efc_force + row);
  }
  return f;
}

// ---- the stages ---------------------------------------------------------------------------------

// efc_* of the first row of type `type` and id `id` (field: 0 pos - margin, 1 J qvel, 2 force), 0 if none
template <typename A, typename T>
PWS_HD inline typename A::real limit_row_value(const A& a, const ModelView<T>& m, const World<T>& d, int type, int id,
                                               int field) {
  using R = typename A::real;
  const int nefc = a.ld(d.efc_nefc);
  for (int r = 0; r < nefc; ++r) {
    if (a.ld(d.efc_type + r) != type || a.ld(d.efc_id + r) != id) continue;
    if (field == 0) return a.ld(d.efc_pos + r) - a.ld(d.efc_margin + r);
    if (field == 2) return a.ld(d.efc_force + r);
    R v = R(0);  // efc_vel: the Warp pipeline's solver fills it later, so both compute J qvel here
    for (int k = 0; k < m.nv; ++k) v = v + a.ld(d.efc_J + r * m.nv_pad + k) * a.ld(d.qvel + k);
    return v;
  }
  return R(0);
}

// mj_sensorPos of sensor i (a position-stage sensor)
template <typename A, typename T>
PWS_HD inline void sensor_pos_one(const A& a, const ModelView<T>& m, const World<T>& d, int i) {
  using R = typename A::real;
  const int type = a.ld(m.sensor_type + i), objtype = a.ld(m.sensor_objtype + i), objid = a.ld(m.sensor_objid + i);
  const int reftype = a.ld(m.sensor_reftype + i), refid = a.ld(m.sensor_refid + i);
  T* out = d.sensordata + a.ld(m.sensor_adr + i);
  switch (type) {
    case kSensMagnetometer:
      sensor_write3(a, m, d, i,
                    mul_t(aload33(a, d.site_xmat + 9 * objid), vec3(R(m.magnetic_x), R(m.magnetic_y), R(m.magnetic_z))));
      break;
    case kSensJointPos: sensor_write1(a, m, d, i, a.ld(d.qpos + a.ld(m.jnt_qposadr + objid))); break;
    case kSensTendonPos: sensor_write1(a, m, d, i, a.ld(d.ten_length + objid)); break;
    case kSensActuatorPos: sensor_write1(a, m, d, i, a.ld(d.actuator_length + objid)); break;
    case kSensBallQuat: astore4(a, out, quat_unit(aload4(a, d.qpos + a.ld(m.jnt_qposadr + objid)))); break;
    case kSensJointLimitPos: sensor_write1(a, m, d, i, limit_row_value(a, m, d, kCnstrLimitJoint, objid, 0)); break;
    case kSensTendonLimitPos: sensor_write1(a, m, d, i, limit_row_value(a, m, d, kCnstrLimitTendon, objid, 0)); break;
    case kSensFramePos:
    case kSensFrameXAxis:
    case kSensFrameYAxis:
    case kSensFrameZAxis: {
      Vec3<R> v = type == kSensFramePos ? sensor_frame_pos(a, d, objtype, objid)
                                        : col(sensor_frame_mat(a, d, objtype, objid), type - kSensFrameXAxis);
      if (refid >= 0) {
        if (type == kSensFramePos) v = v - sensor_frame_pos(a, d, reftype, refid);
        v = mul_t(sensor_frame_mat(a, d, reftype, refid), v);
      }
      sensor_write3(a, m, d, i, v);
      break;
    }
    case kSensFrameQuat: {
      Quat<R> q = sensor_frame_quat(a, m, d, objtype, objid);
      if (refid >= 0) q = quat_mul(quat_conj(sensor_frame_quat(a, m, d, reftype, refid)), q);
      astore4(a, out, q);
      break;
    }
    case kSensSubtreeCom: sensor_write3(a, m, d, i, aload3(a, d.subtree_com + 3 * objid)); break;
    case kSensClock: sensor_write1(a, m, d, i, a.ld(d.time)); break;
    case kSensRangefinder: {  // from the site along its z axis, its own body excluded (ray.h)
      const Mat33<R> mat = aload33(a, d.site_xmat + 9 * objid);
      sensor_write1(a, m, d, i,
                    ray_nearest(a, m, d, aload3(a, d.site_xpos + 3 * objid), col(mat, 2), a.ld(m.site_bodyid + objid)));
      break;
    }
    default: break;
  }
}

template <typename T>
PWS_HD inline void sensor_pos(const ModelView<T>& m, const World<T>& d) {
  const Direct<T> a;
  for (int i = 0; i < m.nsensor; ++i)
    if (m.sensor_needstage[i] == kStagePos) sensor_pos_one(a, m, d, i);
}

// mj_subtreeVel: body b's own linear and angular momentum terms (each body independent), then the
// sums from the leaves (subtree_vel_tree, after every body's subtree_vel_body)
template <typename A, typename T>
PWS_HD inline void subtree_vel_body(const A& a, const ModelView<T>& m, const World<T>& d, int b) {
  using R = typename A::real;
  Vec6<R> vel = object_velocity(a, m, d, b, aload3(a, d.xipos + 3 * b));
  astore3(a, d.subtree_linvel + 3 * b, lin(vel) * R(a.ld(d.body_mass + b)));
  Mat33<R> ximat = aload33(a, d.ximat + 9 * b);
  astore3(a, d.subtree_angmom + 3 * b, mul(ximat, cw_mul(mul_t(ximat, ang(vel)), aload3(a, d.body_inertia + 3 * b))));
}

template <typename A, typename T>
PWS_HD inline void subtree_vel_tree(const A& a, const ModelView<T>& m, const World<T>& d) {
  using R = typename A::real;
  const int nbody = m.nbody;
  for (int b = nbody - 1; b >= 0; --b) {
    if (b > 0) {
      T* p = d.subtree_linvel + 3 * a.ld(m.body_parentid + b);
      astore3(a, p, aload3(a, p) + aload3(a, d.subtree_linvel + 3 * b));
    }
    astore3(a, d.subtree_linvel + 3 * b,
            aload3(a, d.subtree_linvel + 3 * b) / tmax(R(MinVal<T>::value), R(a.ld(d.subtree_mass + b))));
  }
  for (int b = nbody - 1; b > 0; --b) {
    const int pid = a.ld(m.body_parentid + b);
    Vec6<R> vel = object_velocity(a, m, d, b, aload3(a, d.xipos + 3 * b));
    Vec3<R> dx = aload3(a, d.xipos + 3 * b) - aload3(a, d.subtree_com + 3 * b);
    Vec3<R> dp = (lin(vel) - aload3(a, d.subtree_linvel + 3 * b)) * R(a.ld(d.body_mass + b));
    Vec3<R> own = aload3(a, d.subtree_angmom + 3 * b) + cross(dx, dp);
    astore3(a, d.subtree_angmom + 3 * b, own);
    Vec3<R> parent = aload3(a, d.subtree_angmom + 3 * pid) + own;
    dx = aload3(a, d.subtree_com + 3 * b) - aload3(a, d.subtree_com + 3 * pid);
    Vec3<R> dv = (aload3(a, d.subtree_linvel + 3 * b) - aload3(a, d.subtree_linvel + 3 * pid)) *
                 R(a.ld(d.subtree_mass + b));
    astore3(a, d.subtree_angmom + 3 * pid, parent + cross(dx, dv));
  }
}

template <typename A, typename T>
PWS_HD inline void subtree_vel(const A& a, const ModelView<T>& m, const World<T>& d) {
  for (int b = 0; b < m.nbody; ++b) subtree_vel_body(a, m, d, b);
  subtree_vel_tree(a, m, d);
}

template <typename T>
PWS_HD inline void subtree_vel(const ModelView<T>& m, const World<T>& d) {
  subtree_vel(Direct<T>(), m, d);
}

// mj_sensorVel of sensor i (a velocity-stage sensor; subtree_vel done first when the model's
// sensors need it)
template <typename A, typename T>
PWS_HD inline void sensor_vel_one(const A& a, const ModelView<T>& m, const World<T>& d, int i) {
  using R = typename A::real;
  const int type = a.ld(m.sensor_type + i), objtype = a.ld(m.sensor_objtype + i), objid = a.ld(m.sensor_objid + i);
  const int reftype = a.ld(m.sensor_reftype + i), refid = a.ld(m.sensor_refid + i);
  switch (type) {
    case kSensGyro:
    case kSensVelocimeter: {
      Vec6<R> vel = rotate6_t(object_velocity(a, m, d, a.ld(m.site_bodyid + objid), aload3(a, d.site_xpos + 3 * objid)),
                              aload33(a, d.site_xmat + 9 * objid));
      sensor_write3(a, m, d, i, type == kSensGyro ? ang(vel) : lin(vel));
      break;
    }
    case kSensJointVel: sensor_write1(a, m, d, i, a.ld(d.qvel + a.ld(m.jnt_dofadr + objid))); break;
    case kSensTendonVel: sensor_write1(a, m, d, i, a.ld(d.ten_velocity + objid)); break;
    case kSensActuatorVel: sensor_write1(a, m, d, i, a.ld(d.actuator_velocity + objid)); break;
    case kSensBallAngVel: sensor_write3(a, m, d, i, aload3(a, d.qvel + a.ld(m.jnt_dofadr + objid))); break;
    case kSensJointLimitVel: sensor_write1(a, m, d, i, limit_row_value(a, m, d, kCnstrLimitJoint, objid, 1)); break;
    case kSensTendonLimitVel: sensor_write1(a, m, d, i, limit_row_value(a, m, d, kCnstrLimitTendon, objid, 1)); break;
    case kSensFrameLinVel:
    case kSensFrameAngVel: {
      Vec3<R> pos = sensor_frame_pos(a, d, objtype, objid);
      Vec6<R> vel = object_velocity(a, m, d, sensor_frame_body(a, m, objtype, objid), pos);
      if (refid >= 0) {
        Vec3<R> ref_pos = sensor_frame_pos(a, d, reftype, refid);
        Vec6<R> ref_vel = object_velocity(a, m, d, sensor_frame_body(a, m, reftype, refid), ref_pos);
        Vec3<R> rel_ang = ang(vel) - ang(ref_vel);
        Vec3<R> rel_lin = lin(vel) - lin(ref_vel) + cross(pos - ref_pos, ang(ref_vel));
        vel = rotate6_t(spatial(rel_ang, rel_lin), sensor_frame_mat(a, d, reftype, refid));
      }
      sensor_write3(a, m, d, i, type == kSensFrameLinVel ? lin(vel) : ang(vel));
      break;
    }
    case kSensSubtreeLinVel: sensor_write3(a, m, d, i, aload3(a, d.subtree_linvel + 3 * objid)); break;
    case kSensSubtreeAngMom: sensor_write3(a, m, d, i, aload3(a, d.subtree_angmom + 3 * objid)); break;
    default: break;
  }
}

template <typename T>
PWS_HD inline void sensor_vel(const ModelView<T>& m, const World<T>& d) {
  const Direct<T> a;
  if (m.sensor_subtree_vel) subtree_vel(a, m, d);
  for (int i = 0; i < m.nsensor; ++i)
    if (m.sensor_needstage[i] == kStageVel) sensor_vel_one(a, m, d, i);
}

// sensor._weld_torque: world torque of a weld's rotation rows (efc rows row+3..row+5) on body 1
// (minus on body 2): J_rot' f_rot with the rows' Jacobian 0.5 * torquescale * imag(neg(q1) * (0, w)
// * q0) (equality.h), as MuJoCo 4.0.
template <typename A, typename T>
PWS_HD inline Vec3<typename A::real> weld_torque(const A& a, const ModelView<T>& m, const World<T>& d, int eqid,
                                                 int row, bool body_semantic) {
  using R = typename A::real;
  const int obj1 = a.ld(m.eq_obj1id + eqid), obj2 = a.ld(m.eq_obj2id + eqid);
  const T* data = m.eq_data + m.neqdata * eqid;
  Quat<R> q0, q1;
  if (body_semantic) {
    q0 = quat_mul(aload4(a, d.xquat + 4 * obj1), aload4(a, data + 6));
    q1 = aload4(a, d.xquat + 4 * obj2);
  } else {
    q0 = quat_mul(aload4(a, d.xquat + 4 * a.ld(m.site_bodyid + obj1)), aload4(a, m.site_quat + 4 * obj1));
    q1 = quat_mul(aload4(a, d.xquat + 4 * a.ld(m.site_bodyid + obj2)), aload4(a, m.site_quat + 4 * obj2));
  }
  Quat<R> negq1 = quat_conj(q1);
  const Vec3<R> f = aload3(a, d.efc_force + row + 3);
  const R torquescale = a.ld(data + 10);
  Vec3<R> torque = zero3<R>();
  for (int k = 0; k < 3; ++k) {
    Quat<R> axis{{R(0), R(0), R(0), R(0)}};
    axis[k + 1] = R(1);
    Quat<R> q3 = quat_mul(quat_mul(negq1, axis), q0);
    torque[k] = R(0.5) * torquescale * (q3[1] * f[0] + q3[2] * f[1] + q3[3] * f[2]);
  }
  return torque;
}

// mj_rnePostConstraint in five parts (rne_postconstraint runs them in order; each body's values
// are the same operations whichever part computes them):
//   rne_post_applied(b)      cfrc_ext[b] from xfrc_applied (zero for the world body); bodies independent
//   rne_post_constraints     connect / weld and contact forces added into cfrc_ext (rows in order)
//   rne_post_cacc            cacc down the tree with qvel and qacc (a body after its parent)
//   rne_post_body_force(b)   b >= 1: cfrc_int[b] = cinert cacc + cvel x* (cinert cvel) - cfrc_ext[b];
//                            bodies independent, after rne_post_cacc
//   rne_post_int_sum         cfrc_int summed from the leaves
template <typename A, typename T>
PWS_HD inline void rne_post_applied(const A& a, const ModelView<T>& m, const World<T>& d, int b) {
  using R = typename A::real;
  if (b == 0) {
    astore6(a, d.cfrc_ext, zero6<R>());
    return;
  }
  const Vec6<R> x = aload6(a, d.xfrc_applied + 6 * b);
  Vec6<R> wrench = spatial(vec3(x[3], x[4], x[5]), vec3(x[0], x[1], x[2]));
  astore6(a, d.cfrc_ext + 6 * b,
          transform_force(wrench, aload3(a, d.subtree_com + 3 * a.ld(m.body_rootid + b)), aload3(a, d.xipos + 3 * b)));
}

template <typename A, typename T>
PWS_HD inline void rne_post_constraints(const A& a, const ModelView<T>& m, const World<T>& d) {
  using R = typename A::real;
  const int nefc = a.ld(d.efc_nefc);
  for (int r = 0; r < nefc;) {
    const int type = a.ld(d.efc_type + r);
    if (type == kCnstrEquality) {
      // connect and weld: the constraint force at each anchor (opposite on body 2)
      const int eqid = a.ld(d.efc_id + r), etype = a.ld(m.eq_type + eqid);
      if (etype != kEqConnect && etype != kEqWeld) {
        ++r;
        continue;
      }
      const bool body_semantic = a.ld(m.eq_objtype + eqid) == kObjBody;
      Vec3<R> torque = etype == kEqWeld ? weld_torque(a, m, d, eqid, r, body_semantic) : zero3<R>();
      Vec6<R> frc = spatial(torque, aload3(a, d.efc_force + r));
      for (int side = 0; side < 2; ++side) {
        const int obj = side == 0 ? a.ld(m.eq_obj1id + eqid) : a.ld(m.eq_obj2id + eqid);
        const int b = body_semantic ? obj : a.ld(m.site_bodyid + obj);
        if (b == 0) continue;
        Vec3<R> offset;
        if (body_semantic) {
          // anchors: connect (body 1 at data[0:3], body 2 at [3:6]); weld the other way round
          const int k = etype == kEqWeld ? 3 - 3 * side : 3 * side;
          offset = aload3(a, m.eq_data + m.neqdata * eqid + k);
        } else {
          offset = aload3(a, m.site_pos + 3 * obj);
        }
        Vec3<R> anchor = mul(aload33(a, d.xmat + 9 * b), offset) + aload3(a, d.xpos + 3 * b);
        Vec6<R> f = transform_force(frc, aload3(a, d.subtree_com + 3 * a.ld(m.body_rootid + b)), anchor);
        astore6(a, d.cfrc_ext + 6 * b, add6(aload6(a, d.cfrc_ext + 6 * b), side == 0 ? f : scale6(f, R(-1))));
      }
      r += etype == kEqWeld ? 6 : 3;
      continue;
    }
    if (!is_contact_row(type)) {
      ++r;
      continue;
    }
    const int c = a.ld(d.efc_id + r), dim = a.ld(d.con_dim + c);
    Vec6<R> lfrc = contact_force(a, d, r, type, dim, d.con_friction + 5 * c);
    Mat33<R> frame = aload33(a, d.con_frame + 9 * c);
    Vec6<R> cfrc = spatial(mul_t(frame, lin(lfrc)), mul_t(frame, ang(lfrc)));
    Vec3<R> pos = aload3(a, d.con_pos + 3 * c);
    const int b1 = a.ld(m.geom_bodyid + a.ld(d.con_geom + 2 * c));
    const int b2 = a.ld(m.geom_bodyid + a.ld(d.con_geom + 2 * c + 1));
    if (b1) {
      Vec6<R> f = transform_force(cfrc, aload3(a, d.subtree_com + 3 * a.ld(m.body_rootid + b1)), pos);
      astore6(a, d.cfrc_ext + 6 * b1, add6(aload6(a, d.cfrc_ext + 6 * b1), scale6(f, R(-1))));
    }
    if (b2) {
      Vec6<R> f = transform_force(cfrc, aload3(a, d.subtree_com + 3 * a.ld(m.body_rootid + b2)), pos);
      astore6(a, d.cfrc_ext + 6 * b2, add6(aload6(a, d.cfrc_ext + 6 * b2), f));
    }
    r += contact_rows(type, dim);
  }
}

template <typename A, typename T>
PWS_HD inline void rne_post_cacc(const A& a, const ModelView<T>& m, const World<T>& d) {
  using R = typename A::real;
  const Vec3<R> g = m.en_gravity ? aload3(a, d.gravity) : zero3<R>();
  astore6(a, d.cacc, spatial(zero3<R>(), -g));
  astore6(a, d.cfrc_int, zero6<R>());
  for (int b = 1; b < m.nbody; ++b) {
    Vec6<R> cacc = aload6(a, d.cacc + 6 * a.ld(m.body_parentid + b));
    const int adr = a.ld(m.body_dofadr + b), num = a.ld(m.body_dofnum + b);
    for (int i = adr; i < adr + num; ++i) cacc = add6(cacc, scale6(aload6(a, d.cdof_dot + 6 * i), R(a.ld(d.qvel + i))));
    for (int i = adr; i < adr + num; ++i) cacc = add6(cacc, scale6(aload6(a, d.cdof + 6 * i), R(a.ld(d.qacc + i))));
    astore6(a, d.cacc + 6 * b, cacc);
  }
}

template <typename A, typename T>
PWS_HD inline void rne_post_body_force(const A& a, const ModelView<T>& m, const World<T>& d, int b) {
  using R = typename A::real;
  R cinert[10];
  for (int k = 0; k < 10; ++k) cinert[k] = a.ld(d.cinert + 10 * b + k);
  const Vec6<R> cacc = aload6(a, d.cacc + 6 * b), cvel = aload6(a, d.cvel + 6 * b);
  Vec6<R> net = add6(mul_inert_vec(cinert, cacc), cross_force(cvel, mul_inert_vec(cinert, cvel)));
  astore6(a, d.cfrc_int + 6 * b, add6(net, scale6(aload6(a, d.cfrc_ext + 6 * b), R(-1))));
}

template <typename A, typename T>
PWS_HD inline void rne_post_int_sum(const A& a, const ModelView<T>& m, const World<T>& d) {
  for (int b = m.nbody - 1; b > 0; --b) {
    T* p = d.cfrc_int + 6 * a.ld(m.body_parentid + b);
    astore6(a, p, add6(aload6(a, p), aload6(a, d.cfrc_int + 6 * b)));
  }
}

// mj_rnePostConstraint: cfrc_ext (applied, connect / weld and contact forces), cacc with qacc,
// cfrc_int
template <typename A, typename T>
PWS_HD inline void rne_postconstraint(const A& a, const ModelView<T>& m, const World<T>& d) {
  for (int b = 0; b < m.nbody; ++b) rne_post_applied(a, m, d, b);
  rne_post_constraints(a, m, d);
  rne_post_cacc(a, m, d);
  for (int b = 1; b < m.nbody; ++b) rne_post_body_force(a, m, d, b);
  rne_post_int_sum(a, m, d);
}

template <typename T>
PWS_HD inline void rne_postconstraint(const ModelView<T>& m, const World<T>& d) {
  rne_postconstraint(Direct<T>(), m, d);
}

// mj_sensorAcc of sensor i (an acceleration-stage sensor; rne_postconstraint done first when the
// model's sensors need it)
template <typename A, typename T>
PWS_HD inline void sensor_acc_one(const A& a, const ModelView<T>& m, const World<T>& d, int i) {
  using R = typename A::real;
  const int type = a.ld(m.sensor_type + i), objtype = a.ld(m.sensor_objtype + i), objid = a.ld(m.sensor_objid + i);
  switch (type) {
    case kSensTouch: {
      const int body = a.ld(m.site_bodyid + objid);
      const Vec3<R> zone_pos = aload3(a, d.site_xpos + 3 * objid);
      const Mat33<R> zone_mat = aload33(a, d.site_xmat + 9 * objid);
      const R zone_size[3] = {a.ld(m.site_size + 3 * objid), a.ld(m.site_size + 3 * objid + 1),
                              a.ld(m.site_size + 3 * objid + 2)};
      const int zone_type = a.ld(m.site_type + objid);
      R total = R(0);
      const int nefc = a.ld(d.efc_nefc);
      for (int r = 0; r < nefc;) {
        const int ctype = a.ld(d.efc_type + r);
        if (!is_contact_row(ctype)) {
          ++r;
          continue;
        }
        const int c = a.ld(d.efc_id + r), dim = a.ld(d.con_dim + c);
        const int b1 = a.ld(m.geom_bodyid + a.ld(d.con_geom + 2 * c));
        const int b2 = a.ld(m.geom_bodyid + a.ld(d.con_geom + 2 * c + 1));
        if (body == b1 || body == b2) {
          R normal = contact_force(a, d, r, ctype, dim, d.con_friction + 5 * c)[0];
          if (normal > R(0)) {
            Vec3<R> ray = aload3(a, d.con_frame + 9 * c);
            ray = ray / length(ray);
            if (body == b2) ray = -ray;
            if (ray_geom(zone_pos, zone_mat, zone_size, aload3(a, d.con_pos + 3 * c), ray, zone_type) >= R(0))
              total = total + normal;
          }
        }
        r += contact_rows(ctype, dim);
      }
      sensor_write1(a, m, d, i, total);
      break;
    }
    case kSensAccelerometer: {
      Vec6<R> acc = object_acceleration(a, m, d, a.ld(m.site_bodyid + objid), aload3(a, d.site_xpos + 3 * objid),
                                        aload33(a, d.site_xmat + 9 * objid), true);
      sensor_write3(a, m, d, i, lin(acc));
      break;
    }
    case kSensForce:
    case kSensTorque: {
      const int b = a.ld(m.site_bodyid + objid);
      Vec6<R> frc = rotate6_t(transform_force(aload6(a, d.cfrc_int + 6 * b), aload3(a, d.site_xpos + 3 * objid),
                                              aload3(a, d.subtree_com + 3 * a.ld(m.body_rootid + b))),
                              aload33(a, d.site_xmat + 9 * objid));
      sensor_write3(a, m, d, i, type == kSensForce ? lin(frc) : ang(frc));
      break;
    }
    case kSensActuatorFrc: sensor_write1(a, m, d, i, a.ld(d.actuator_force + objid)); break;
    case kSensJointActFrc: sensor_write1(a, m, d, i, a.ld(d.qfrc_actuator + a.ld(m.jnt_dofadr + objid))); break;
    case kSensTendonActFrc: {
      R total = R(0);
      for (int u = 0; u < m.nu; ++u)
        if (a.ld(m.actuator_trntype + u) == kTrnTendon && a.ld(m.actuator_trnid + u) == objid)
          total = total + a.ld(d.actuator_force + u);
      sensor_write1(a, m, d, i, total);
      break;
    }
    case kSensJointLimitFrc: sensor_write1(a, m, d, i, limit_row_value(a, m, d, kCnstrLimitJoint, objid, 2)); break;
    case kSensTendonLimitFrc: sensor_write1(a, m, d, i, limit_row_value(a, m, d, kCnstrLimitTendon, objid, 2)); break;
    case kSensFrameLinAcc:
    case kSensFrameAngAcc: {
      Vec6<R> acc = object_acceleration(a, m, d, sensor_frame_body(a, m, objtype, objid),
                                        sensor_frame_pos(a, d, objtype, objid), identity33<R>(), false);
      sensor_write3(a, m, d, i, type == kSensFrameLinAcc ? lin(acc) : ang(acc));
      break;
    }
    default: break;
  }
}

template <typename T>
PWS_HD inline void sensor_acc(const ModelView<T>& m, const World<T>& d) {
  const Direct<T> a;
  if (m.sensor_rne_post) rne_postconstraint(a, m, d);
  for (int i = 0; i < m.nsensor; ++i)
    if (m.sensor_needstage[i] == kStageAcc) sensor_acc_one(a, m, d, i);
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
