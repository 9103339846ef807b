// Twin of pywarp_sim/passive.py: passive forces of one world (mj_passive): joint springs, dof
// and tendon dampers, fixed-tendon springs with their deadband, gravity compensation. Same
// algorithms and ordering as the Warp kernels of passive.py.
#pragma once

#include "step_math.h"
#include "support.h"
#include "types.h"

namespace pws {

// ---- mj_passive (passive._spring_damper, passive._gravcomp) --------------------------------

template <typename T>
PWS_HD inline void passive(const ModelView<T>& m, const World<T>& d) {
  const int nv = m.nv;
  for (int i = 0; i < nv; ++i) d.qfrc_gravcomp[i] = T(0);
  for (int j = 0; j < m.njnt; ++j) {
    int jtype = m.jnt_type[j];
    int padr = m.jnt_qposadr[j];
    int dadr = m.jnt_dofadr[j];
    int ndof = jtype == kJointFree ? 6 : (jtype == kJointBall ? 3 : 1);
    for (int i = 0; i < ndof; ++i) d.qfrc_spring[dadr + i] = T(0);
    T k = d.jnt_stiffness[j];
    if (m.en_spring && k != T(0)) {
      if (jtype == kJointFree) {
        for (int i = 0; i < 3; ++i) d.qfrc_spring[dadr + i] = -k * (d.qpos[padr + i] - m.qpos_spring[padr + i]);
        padr += 3;
      }
      if (jtype == kJointFree || jtype == kJointBall) {
        Quat<T> quat = quat_unit(load4(d.qpos + padr));
        Vec3<T> dif = sub_quat(quat, load4(m.qpos_spring + padr));
        int rot = ndof - 3;
        for (int i = 0; i < 3; ++i) d.qfrc_spring[dadr + rot + i] = -k * dif[i];
      } else {
        d.qfrc_spring[dadr] = -k * (d.qpos[padr] - m.qpos_spring[padr]);
      }
    }
    for (int i = 0; i < ndof; ++i) {
      T damper = T(0);
      if (m.en_damper) damper = -d.dof_damping[dadr + i] * d.qvel[dadr + i];
      d.qfrc_damper[dadr + i] = damper;
      d.qfrc_passive[dadr + i] = d.qfrc_spring[dadr + i] + damper;
    }
  }
  // fixed tendons: spring outside the rest-length deadband [lengthspring0, lengthspring1],
  // damper; both act through tendon_J' (passive._tendon_spring_damper)
  if ((m.en_spring || m.en_damper) && m.ntendon) {
    for (int t = 0; t < m.ntendon; ++t) {
      T spring = T(0), damper = T(0);
      if (m.en_spring) {
        T length = d.ten_length[t];
        const T* rest = m.tendon_lengthspring + 2 * t;
        if (length > rest[1])
          spring = m.tendon_stiffness[t] * (rest[1] - length);
        else if (length < rest[0])
          spring = m.tendon_stiffness[t] * (rest[0] - length);
      }
      if (m.en_damper) damper = -m.tendon_damping[t] * d.ten_velocity[t];
      if (spring != T(0) || damper != T(0)) {
        const T* jt = m.tendon_J + (int64_t)t * nv;
        for (int i = 0; i < nv; ++i) {
          T j = jt[i];
          if (j != T(0)) {
            d.qfrc_spring[i] += j * spring;
            d.qfrc_damper[i] += j * damper;
            d.qfrc_passive[i] += j * (spring + damper);
          }
        }
      }
    }
  }
  if ((m.en_spring || m.en_damper) && m.has_gravcomp && m.en_gravity) {
    Vec3<T> g = load3(d.gravity);
    for (int b = 1; b < m.nbody; ++b) {
      T gc = m.body_gravcomp[b];
      if (gc != T(0)) {
        Vec3<T> force = -g * (d.body_mass[b] * gc);
        apply_ft(m, d, b, load3(d.xipos + 3 * b), force, zero3<T>(), d.qfrc_gravcomp);
      }
    }
    for (int i = 0; i < nv; ++i) d.qfrc_passive[i] += d.qfrc_gravcomp[i];
  }
}

}  // namespace pws
