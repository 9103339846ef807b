// Twin of pywarp_sim/forward.py: the orchestrator, the only file that calls the stages.
// The fused mj_step of ONE world: forward (smooth_stages: kinematics → com → crb + factor →
// com_vel → rne; forward_rest: tendons → collision → equality and constraint rows → transmission →
// passive →
// actuation → smooth acceleration → Newton/CG/PGS solver), the model's integrator (Euler with
// implicit damping, implicitfast, RK4), then the per-world health check and, with auto_reset,
// the in-place reset of a flagged world.
//
// Same algorithms as pywarp_sim/forward.py and simulator.py (the Warp reference); the velocity
// stage's com_vel and rne run before collision, which neither reads nor changes what they use.
// Every array is a view into the Simulator's Warp arrays (kernels/types.h); nothing is
// allocated, so the same code runs in an OpenMP loop over worlds (csrc/bindings.cpp, with
// smooth_stages eight worlds at a time in kernels/step_lanes.h) and as one CUDA thread per
// world (csrc/cuda_launch.cu).
#pragma once

#include "actuation.h"
#include "collision_driver.h"
#include "constraint.h"
#include "equality.h"
#include "passive.h"
#include "sensor.h"
#include "smooth.h"
#include "solver.h"
#include "step_math.h"
#include "support.h"
#include "types.h"

namespace pws {

enum : int { kIntEuler = 0, kIntRK4 = 1, kIntImplicitFast = 3 };

// Simulator.Health bits; Simulator.COUNTERS: one event count per checked bit, then auto resets
// and parked worlds.
enum : int {
  kHealthNonFinite = 1,
  kHealthContactOverflow = 2,
  kHealthSolverNotConverged = 4,
  kHealthVelocityBound = 8,
  kHealthParked = 16,
  kCounterAutoReset = 4,  // index in counters
  kCounterParked = 5,
};

// The position- and velocity-stage computations that branch only on the model, never on a
// world's state (kinematics, com, crb + factor of qM, com_vel, rne): kernels/lanes.h runs them
// for eight worlds at once. They read qpos, qvel and the bank rows, and nothing that
// forward_rest writes, so running them first leaves every result as MuJoCo's stage order.
template <typename T>
PWS_HD inline void smooth_stages(const ModelView<T>& m, const World<T>& d) {
  kinematics(m, d);  // position stage (forward.fwd_position)
  com_pos(m, d);
  crb(m, d);
  factor_m(m, d);
  com_vel(m, d);  // velocity stage (forward.fwd_velocity)
  rne(m, d);
}

// ---- mj_fwdAcceleration (forward._qfrc_smooth + solve_m) -----------------------------------

template <typename T>
PWS_HD inline void fwd_acceleration(const ModelView<T>& m, const World<T>& d) {
  const int nv = m.nv;
  for (int i = 0; i < nv; ++i)
    d.qfrc_smooth[i] = d.qfrc_passive[i] - d.qfrc_bias[i] + d.qfrc_applied[i] + d.qfrc_actuator[i];
  for (int b = 1; b < m.nbody; ++b) {
    Vec6<T> xfrc = load6(d.xfrc_applied + 6 * b);
    bool nonzero = false;  // mju_isZero: NaN counts as nonzero (it reaches qacc and is flagged)
    for (int k = 0; k < 6; ++k) nonzero = nonzero || xfrc[k] != T(0);
    if (nonzero)
      apply_ft(m, d, b, load3(d.xipos + 3 * b), ang(xfrc), lin(xfrc), d.qfrc_smooth);
  }
  for (int i = 0; i < nv; ++i) d.qacc_smooth[i] = d.qfrc_smooth[i];
  solve_tree(m, d.qLD, d.qLDiagInv, d.qacc_smooth);
}

// The rest of mj_forward after smooth_stages: tendons, collision, constraint rows,
// transmission, passive and actuator forces, the smooth acceleration and the solver.
// near, nnear (optional): the pairs past the bounding-sphere tests, done beforehand (see collision).
template <typename T, bool kConvexPairs = true>
PWS_HD inline void forward_rest(const ModelView<T>& m, const World<T>& d, const int* near = nullptr, int nnear = 0) {
  tendon(m, d);
  if (m.en_constraint) {
    collision<T, kConvexPairs>(m, d, near, nnear);
    make_equality(m, d);  // the first efc_ne rows, then make_constraint's (MuJoCo's order)
    make_constraint(m, d);
  } else {
    d.efc_ne[0] = 0;
    d.efc_nefc[0] = 0;
  }
  transmission(m, d);
  passive(m, d);
  actuation(m, d);
  fwd_acceleration(m, d);
  equality_jdotv(m, d);  // forward.fwd_constraint: read by the solver's aref
  solve(m, d);
}

// The start of a step or of an mj_forward call (forward.step / forward.forward): the contact
// overflow flag then covers every collision pass until the next one (RK4's four evaluations).
template <typename T>
PWS_HD inline void begin_step(const World<T>& d) {
  d.con_overflow[0] = 0;
}

// kConvexPairs: compile the GJK/EPA collider in (ModelView::has_convex picks the instance).
// Entry points call begin_step first; RK4's stage evaluations do not, and skip the sensors
// (with_sensors false), as MuJoCo's mj_forwardSkip(skipsensor=1).
template <typename T, bool kConvexPairs = true>
PWS_HD inline void forward_world(const ModelView<T>& m, const World<T>& d, bool with_sensors = true) {
  smooth_stages(m, d);
  forward_rest<T, kConvexPairs>(m, d);
  if (with_sensors) sensors(m, d);
}

// mj_integratePos (forward.integrate_pos): qpos_to = qpos_from (+) scale * qvel * dt.
template <typename T>
PWS_HD inline void integrate_pos(const ModelView<T>& m, const T* qpos_from, T* qpos_to, const T* qvel, T scale,
                                 T dt) {
  for (int j = 0; j < m.njnt; ++j) {
    int padr = m.jnt_qposadr[j];
    int vadr = m.jnt_dofadr[j];
    int jtype = m.jnt_type[j];
    if (jtype == kJointFree) {
      for (int i = 0; i < 3; ++i) qpos_to[padr + i] = qpos_from[padr + i] + dt * scale * qvel[vadr + i];
      padr += 3;
      vadr += 3;
    }
    if (jtype == kJointFree || jtype == kJointBall) {
      Vec3<T> w = vec3(qvel[vadr], qvel[vadr + 1], qvel[vadr + 2]) * scale;
      store4(qpos_to + padr, quat_integrate_warp(load4(qpos_from + padr), w, dt));
    } else {
      qpos_to[padr] = qpos_from[padr] + dt * scale * qvel[vadr];
    }
  }
}

// mj_advance (forward._advance): act, qvel, qpos and time one step ahead; qacc_warmstart = qacc.
// pos_vel: the velocity used for the position update (null: the new qvel).
template <typename T>
PWS_HD inline void advance(const ModelView<T>& m, const World<T>& d, const T* act_from, const T* act_dot,
                           const T* qpos_from, const T* qvel_from, const T* qacc, const T* pos_vel) {
  const T h = m.timestep;
  if (m.en_actuation) {
    for (int i = 0; i < m.nu; ++i) {
      int adr = m.actuator_actadr[i];
      if (adr >= 0)
        d.act[adr] = next_activation(m.actuator_dyntype[i], m.actuator_dynprm[3 * i], act_from[adr], act_dot[adr], h,
                                     m.actuator_actlimited[i], m.actuator_actrange + 2 * i);
    }
  }
  for (int i = 0; i < m.nv; ++i) {
    d.qvel[i] = qvel_from[i] + h * qacc[i];
    d.qacc_warmstart[i] = d.qacc[i];
  }
  integrate_pos(m, qpos_from, d.qpos, pos_vel ? pos_vel : d.qvel, T(1), h);
  d.time[0] = d.time[0] + h;
}

// Whether the integrator solves for qacc implicitly (implicit_qacc): implicitfast, or Euler
// with implicit dof damping.
template <typename T>
PWS_HD inline bool uses_implicit(const ModelView<T>& m) {
  return m.integrator == kIntImplicitFast || (m.integrator == kIntEuler && m.implicit_damping);
}

// implicit_qacc, first part: lower triangle of qH = qM + h D (the damping with en_damper),
// qfrc_scratch = qacc_scratch = qfrc_smooth + qfrc_constraint. Only the lower triangle:
// factor_tree and solve_tree read nothing above the diagonal (the upper part of qH is left
// as it was).
template <typename T>
PWS_HD inline void implicit_setup(const ModelView<T>& m, const World<T>& d) {
  const int nv = m.nv;
  const T h = m.timestep;
  for (int i = 0; i < nv; ++i) {
    const T* src = d.qM + i * nv;
    T* dst = d.qH + i * nv;
    for (int j = 0; j <= i; ++j) dst[j] = src[j];
    if (m.en_damper) dst[i] = dst[i] + h * d.dof_damping[i];
    T f = d.qfrc_smooth[i] + d.qfrc_constraint[i];
    d.qfrc_scratch[i] = f;
    d.qacc_scratch[i] = f;
  }
}

// implicit_qacc, last part: factor qH and solve for qacc_scratch in place.
template <typename T>
PWS_HD inline void implicit_solve(const ModelView<T>& m, const World<T>& d) {
  factor_tree(m, d.qH, d.qHDiagInv);
  solve_tree(m, d.qH, d.qHDiagInv, d.qacc_scratch);
}

// qacc_scratch = (qM - h D)^-1 (qfrc_smooth + qfrc_constraint) (forward._implicit_qacc);
// with_actuators (implicitfast): D also holds the actuators' velocity derivatives.
template <typename T>
PWS_HD inline void implicit_qacc(const ModelView<T>& m, const World<T>& d, bool with_actuators) {
  implicit_setup(m, d);
  if (with_actuators) add_actuator_vel_deriv(m, d, d.qH, m.nv + 1);
  implicit_solve(m, d);
}

// forward._rk_stage: accumulate b * F(X_i), then X_{i+1} = X_0 + h a F(X_i) when a != 0.
template <typename T>
PWS_HD inline void rk_stage(const ModelView<T>& m, const World<T>& d, T a, T b, bool first) {
  const int nv = m.nv, na = m.na;
  for (int i = 0; i < nv; ++i) {
    if (first) {
      d.rk_dqvel[i] = b * d.qvel[i];
      d.rk_dqacc[i] = b * d.qacc[i];
    } else {
      d.rk_dqvel[i] = d.rk_dqvel[i] + b * d.qvel[i];
      d.rk_dqacc[i] = d.rk_dqacc[i] + b * d.qacc[i];
    }
  }
  for (int i = 0; i < na; ++i) d.rk_dact[i] = first ? b * d.act_dot[i] : d.rk_dact[i] + b * d.act_dot[i];
  if (a != T(0)) {
    integrate_pos(m, d.qpos_t0, d.qpos, d.qvel, a, m.timestep);
    for (int i = 0; i < nv; ++i) d.qvel[i] = d.qvel_t0[i] + m.timestep * a * d.qacc[i];
    for (int i = 0; i < na; ++i) d.act[i] = d.act_t0[i] + m.timestep * a * d.act_dot[i];
  }
}

// RK4 (forward.rk4) in three parts around the three forward evaluations of stages 0..2:
// rk4_begin keeps the state at t0, rk4_stage accumulates stage `stage` and moves to the next
// evaluation point, rk4_end advances from t0 with the weighted sums.
template <typename T>
PWS_HD inline void rk4_begin(const ModelView<T>& m, const World<T>& d) {
  for (int i = 0; i < m.nq; ++i) d.qpos_t0[i] = d.qpos[i];
  for (int i = 0; i < m.nv; ++i) d.qvel_t0[i] = d.qvel[i];
  for (int i = 0; i < m.na_pad; ++i) d.act_t0[i] = d.act[i];
}

template <typename T>
PWS_HD inline void rk4_stage(const ModelView<T>& m, const World<T>& d, int stage) {
  const T A[3] = {T(0.5), T(0.5), T(1)};
  const T B[4] = {T(1) / T(6), T(1) / T(3), T(1) / T(3), T(1) / T(6)};
  rk_stage(m, d, stage < 3 ? A[stage] : T(0), B[stage], stage == 0);
}

template <typename T>
PWS_HD inline void rk4_end(const ModelView<T>& m, const World<T>& d) {
  advance(m, d, d.act_t0, d.rk_dact, d.qpos_t0, d.qvel_t0, d.rk_dqacc, d.rk_dqvel);
  // MuJoCo 4.0 leaves the effective acceleration sum_j B_j F_j in qacc (forward.rk4)
  for (int i = 0; i < m.nv; ++i) d.qacc[i] = d.rk_dqacc[i];
}

template <typename T, bool kConvexPairs = true>
PWS_HD inline void integrate(const ModelView<T>& m, const World<T>& d) {
  if (m.integrator == kIntRK4) {
    rk4_begin(m, d);
    for (int stage = 0; stage < 4; ++stage) {
      rk4_stage(m, d, stage);
      if (stage < 3) forward_world<T, kConvexPairs>(m, d, false);
    }
    rk4_end(m, d);
  } else if (m.integrator == kIntImplicitFast) {
    implicit_qacc(m, d, true);
    advance(m, d, d.act, d.act_dot, d.qpos, d.qvel, d.qacc_scratch, (const T*)nullptr);
  } else {
    // Euler; dof damping implicit unless disabled (forward.euler)
    const T* qacc = d.qacc;
    if (m.implicit_damping) {
      implicit_qacc(m, d, false);
      qacc = d.qacc_scratch;
    }
    advance(m, d, d.act, d.act_dot, d.qpos, d.qvel, qacc, (const T*)nullptr);
  }
}

// simulator._health: flags |= non-finite qpos/ctrl/act/qvel/qacc (1), contact overflow (2),
// solver not converged with rows (4), |qvel| > max_qvel (8); one counter event per flag.
template <typename T>
PWS_HD inline int check_health(const ModelView<T>& m, const World<T>& d) {
  if (d.health[0] & kHealthParked) return 0;  // its reset state is non-finite: nothing to check
  int flags = 0;
  for (int i = 0; i < m.nq; ++i)
    if (!pws_isfinite(d.qpos[i])) flags |= kHealthNonFinite;
  for (int i = 0; i < m.nu; ++i)
    if (!pws_isfinite(d.ctrl[i])) flags |= kHealthNonFinite;
  for (int i = 0; i < m.na; ++i)
    if (!pws_isfinite(d.act[i])) flags |= kHealthNonFinite;
  for (int i = 0; i < m.nv; ++i) {
    T v = d.qvel[i];
    if (!(pws_isfinite(v) && pws_isfinite(d.qacc[i])))
      flags |= kHealthNonFinite;
    else if (pws_abs(v) > m.max_qvel)
      flags |= kHealthVelocityBound;
  }
  if (d.con_overflow[0] != 0) flags |= kHealthContactOverflow;
  if (d.efc_nefc[0] > 0 && d.efc_converged[0] == 0) flags |= kHealthSolverNotConverged;
  d.health[0] |= flags;
  for (int bit = 0; bit < 4; ++bit)
    if (flags & (1 << bit)) atomic_add_int(d.counters + bit, 1);
  return flags;
}

// The reset of one world (types.reset_fields; simulator._reset_worlds is the Warp twin):
// reference state, zero velocity, controls, forces, warm start; the old contacts and constraint
// rows are dropped; health cleared. The one native reset: Simulator.reset (StepPlan.reset) and
// the step's auto reset (health_and_reset) both run it.
template <typename T>
PWS_HD inline void reset_world(const ModelView<T>& m, const World<T>& d) {
  d.time[0] = T(0);
  for (int i = 0; i < m.nq; ++i) d.qpos[i] = m.qpos0[i];
  for (int i = 0; i < m.nv; ++i) {
    d.qvel[i] = T(0);
    d.qacc[i] = T(0);
    d.qacc_warmstart[i] = T(0);
    d.qfrc_applied[i] = T(0);
  }
  for (int i = 0; i < m.na_pad; ++i) {
    d.act[i] = T(0);
    d.act_dot[i] = T(0);
  }
  for (int i = 0; i < m.nu_pad; ++i) d.ctrl[i] = T(0);
  for (int i = 0; i < 6 * m.nbody; ++i) d.xfrc_applied[i] = T(0);
  for (int i = 0; i < m.neq_pad; ++i) d.eq_active[i] = i < m.neq ? m.eq_active0[i] : 0;  // mj_resetData
  d.con_ncon[0] = 0;
  d.con_overflow[0] = 0;
  d.efc_nefc[0] = 0;
  // solver scratch (types.RESET_CLEARS), as the Warp reset clears it; the native step writes it
  // before reading it (with a per-thread workspace this is the thread's row)
  for (int i = 0; i < m.nefc_max; ++i) {
    d.efc_jv[i] = T(0);
    d.efc_jar[i] = T(0);
  }
  d.health[0] = 0;
}

// Whether the world's reset state is finite: qpos0 and its parameter-bank rows.
template <typename T>
PWS_HD inline bool reset_state_finite(const ModelView<T>& m, const World<T>& d) {
  for (int i = 0; i < m.nq; ++i)
    if (!pws_isfinite(m.qpos0[i])) return false;
#define PWS_BANK_FINITE(name, width, count)       \
  for (int64_t i = 0; i < m.name.stride; ++i)     \
    if (!pws_isfinite(d.name[i])) return false;
#define PWS_SKIP(name, width, count)
  PWS_MODEL_ARRAYS(PWS_SKIP, PWS_SKIP, PWS_BANK_FINITE)
#undef PWS_BANK_FINITE
#undef PWS_SKIP
  return true;
}

// The end of one Simulator step after mj_forward: the health check and, when a flag of
// m.auto_reset (Simulator.reset_on; 0 = off) is set, the in-place reset of the world (state
// only, as the Warp path: derived quantities are recomputed by the next step or forward),
// or, when its reset state is non-finite, parking it (simulator._mask_from_health).
template <typename T>
PWS_HD inline void health_and_reset(const ModelView<T>& m, const World<T>& d) {
  check_health(m, d);
  const int flags = d.health[0];
  if ((flags & kHealthParked) || !(flags & m.auto_reset)) return;
  d.last_reset[0] = flags;
  if (reset_state_finite(m, d)) {
    atomic_add_int(d.counters + kCounterAutoReset, 1);
    reset_world(m, d);
  } else {
    d.health[0] = flags | kHealthParked;
    atomic_add_int(d.counters + kCounterParked, 1);
  }
}

template <typename T, bool kConvexPairs = true>
PWS_HD inline void finish_step(const ModelView<T>& m, const World<T>& d) {
  integrate<T, kConvexPairs>(m, d);
  health_and_reset(m, d);
}

// One Simulator step of one world (Simulator._step_once): mj_step, health check, auto reset.
template <typename T, bool kConvexPairs = true>
PWS_HD inline void step_world(const ModelView<T>& m, const World<T>& d) {
  begin_step(d);
  forward_world<T, kConvexPairs>(m, d);
  finish_step<T, kConvexPairs>(m, d);
}

}  // namespace pws
