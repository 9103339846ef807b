// Twin of pywarp_sim/actuation.py: actuation of one world (mj_fwdActuation: ctrl -> act_dot,
// actuator_force, qfrc_actuator) and the actuators' velocity derivative that the implicit
// integrators add to qH. Same algorithms and ordering as the Warp kernels of actuation.py.
#pragma once

#include "step_math.h"
#include "types.h"

namespace pws {

// DynType / GainType / BiasType codes (pywarp_sim.types)
enum : int { kDynNone = 0, kDynIntegrator = 1, kDynFilter = 2, kDynFilterExact = 3 };
enum : int { kGainAffine = 1, kBiasAffine = 1 };

// ---- mj_fwdActuation (actuation._actuation) ------------------------------------------------

// mj_nextActivation (actuation.next_activation)
template <typename T>
PWS_HD inline T next_activation(int dyntype, T tau, T act, T act_dot, T dt, int actlimited, const T* actrange) {
  if (dyntype == kDynFilterExact) {
    T t = tmax(T(1e-15), tau);
    act = act + act_dot * t * (T(1) - pws_exp(-dt / t));
  } else {
    act = act + act_dot * dt;
  }
  if (actlimited) act = tclamp(act, actrange[0], actrange[1]);
  return act;
}

template <typename T>
PWS_HD inline void actuation(const ModelView<T>& m, const World<T>& d) {
  const int nu = m.nu, nv = m.nv;
  if (nu == 0 || !m.en_actuation) {
    for (int i = 0; i < nv; ++i) d.qfrc_actuator[i] = T(0);
    for (int i = 0; i < m.nu_pad; ++i) d.actuator_force[i] = T(0);
    for (int i = 0; i < m.na_pad; ++i) d.act_dot[i] = T(0);
    return;
  }
  // MuJoCo zeroes every control of a world when any control is not finite
  bool ctrl_ok = true;
  for (int i = 0; i < nu; ++i)
    if (!pws_isfinite(d.ctrl[i])) ctrl_ok = false;
  for (int i = 0; i < nv; ++i) d.qfrc_actuator[i] = T(0);
  for (int i = 0; i < nu; ++i) {
    T ctrl = ctrl_ok ? d.ctrl[i] : T(0);
    if (m.en_clampctrl && m.actuator_ctrllimited[i])
      ctrl = tclamp(ctrl, m.actuator_ctrlrange[2 * i], m.actuator_ctrlrange[2 * i + 1]);
    int dyntype = m.actuator_dyntype[i];
    T tau = m.actuator_dynprm[3 * i];
    T input = ctrl;
    int actadr = m.actuator_actadr[i];
    if (dyntype != kDynNone) {
      T act = d.act[actadr];
      T act_dot = dyntype == kDynIntegrator ? ctrl : (ctrl - act) / tmax(T(1e-15), tau);
      d.act_dot[actadr] = act_dot;
      input = act;
      if (m.actuator_actearly[i])
        input = next_activation(dyntype, tau, act, act_dot, m.timestep, m.actuator_actlimited[i],
                                m.actuator_actrange + 2 * i);
    }
    T length = d.actuator_length[i];
    T velocity = d.actuator_velocity[i];
    const T* gainprm = d.actuator_gainprm + 3 * i;
    T gain = gainprm[0];
    if (m.actuator_gaintype[i] == kGainAffine) gain = gainprm[0] + gainprm[1] * length + gainprm[2] * velocity;
    T force = gain * input;
    if (m.actuator_biastype[i] == kBiasAffine) {
      const T* biasprm = d.actuator_biasprm + 3 * i;
      force += biasprm[0] + biasprm[1] * length + biasprm[2] * velocity;
    }
    if (m.actuator_forcelimited[i])
      force = tclamp(force, m.actuator_forcerange[2 * i], m.actuator_forcerange[2 * i + 1]);
    d.actuator_force[i] = force;
    T moment = d.actuator_gear[i];
    if (m.actuator_trntype[i] == kTrnTendon) {
      // moment arm gear * tendon_J
      const T* jt = m.tendon_J + (int64_t)m.actuator_trnid[i] * nv;
      for (int j = 0; j < nv; ++j) d.qfrc_actuator[j] += moment * jt[j] * force;
    } else {
      int dofid = m.jnt_dofadr[m.actuator_trnid[i]];
      d.qfrc_actuator[dofid] += moment * force;
    }
  }
  for (int i = 0; i < nv; ++i) {
    int j = m.dof_jntid[i];
    if (m.jnt_actfrclimited[j])
      d.qfrc_actuator[i] = tclamp(d.qfrc_actuator[i], m.jnt_actfrcrange[2 * j], m.jnt_actfrcrange[2 * j + 1]);
  }
}

// qH -= h * d qfrc_actuator / d qvel (actuation._actuator_vel_deriv): only the diagonal
// changes; entry (i, i) is diag[i * stride] (stride nv + 1 on the dense (nv, nv) qH).
template <typename T>
PWS_HD inline void add_actuator_vel_deriv(const ModelView<T>& m, const World<T>& d, T* diag, int stride) {
  if (m.nu == 0 || !m.en_actuation) return;
  for (int i = 0; i < m.nu; ++i) {
    // no velocity terms: io rejects velocity-dependent tendon actuators with implicitfast
    if (m.actuator_trntype[i] == kTrnTendon) continue;
    if (m.actuator_forcelimited[i]) {
      T f = d.actuator_force[i];
      if (f <= m.actuator_forcerange[2 * i] || f >= m.actuator_forcerange[2 * i + 1]) continue;
    }
    T vel = T(0);
    if (m.actuator_biastype[i] == kBiasAffine) vel = d.actuator_biasprm[3 * i + 2];
    if (m.actuator_gaintype[i] == kGainAffine) {
      T gain_vel = d.actuator_gainprm[3 * i + 2];
      if (m.actuator_dyntype[i] == kDynNone) {
        vel += gain_vel * d.ctrl[i];
      } else {
        int adr = m.actuator_actadr[i];
        T act = d.act[adr];
        if (m.actuator_actearly[i])
          act = next_activation(m.actuator_dyntype[i], m.actuator_dynprm[3 * i], act, d.act_dot[adr], m.timestep,
                                m.actuator_actlimited[i], m.actuator_actrange + 2 * i);
        vel += gain_vel * act;
      }
    }
    T gear = d.actuator_gear[i];
    int dofid = m.jnt_dofadr[m.actuator_trnid[i]];
    diag[dofid * stride] -= m.timestep * gear * gear * vel;
  }
}

}  // namespace pws
