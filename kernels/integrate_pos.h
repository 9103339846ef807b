// Native-only: the standalone mj_integratePos of pywarp_sim.native.integrate_pos (float32 and
// float64, checked against MuJoCo); the step's own is forward.h's integrate_pos (twin of
// forward.integrate_pos).
// Position integration of one world: MuJoCo's mj_integratePos (engine_support.c).
#pragma once

#include "pws_common.h"
#include "pws_math.h"

namespace pws {

// qpos <- qpos (+) qvel * dt for every joint of one world, in place.
//
// jnt_type, jnt_qposadr, jnt_dofadr: (njnt,) as in MjModel.
// qpos: (nq,) this world's positions; free joint = (x, y, z [m], quat wxyz),
//       ball = quat wxyz, hinge [rad], slide [m].
// qvel: (nv,) this world's velocities; free joint = (linear [m/s] in the world
//       frame, angular [rad/s] in the body's local frame), ball = angular local
//       [rad/s], hinge [rad/s], slide [m/s].
// dt: time step [s].
//
// MuJoCo walks joints body by body; the compiler numbers joints in body order,
// so walking all joints in index order is the same sequence of updates.
// Joint types other than the four known codes are left untouched (callers
// validate jnt_type before launching).
template <typename T>
PWS_HD inline void integrate_pos_world(int njnt, const int* jnt_type, const int* jnt_qposadr,
                                       const int* jnt_dofadr, T* qpos, const T* qvel, T dt) {
  for (int j = 0; j < njnt; ++j) {
    int padr = jnt_qposadr[j];
    int vadr = jnt_dofadr[j];
    switch (jnt_type[j]) {
      case kJointFree:
        for (int i = 0; i < 3; ++i) {
          qpos[padr + i] += dt * qvel[vadr + i];
        }
        quat_integrate(qpos + padr + 3, qvel + vadr + 3, dt);
        break;
      case kJointBall:
        quat_integrate(qpos + padr, qvel + vadr, dt);
        break;
      case kJointHinge:
      case kJointSlide:
        qpos[padr] += dt * qvel[vadr];
        break;
      default:
        break;
    }
  }
}

}  // namespace pws
