// Native-only: forward.h's step (forward_rest's tendon, transmission, passive, actuation and
// smooth acceleration, the Euler / implicitfast integrators, the health check) on a group of
// lanes, the GPU step's direction; their Warp references are smooth.py, passive.py,
// actuation.py and forward.py, and pywarp_sim/simt.py runs it over a Simulator.
// The fused mj_step of ONE world on a group of lanes (kernels/simt.h): simt_smooth.h's stages,
// the force and acceleration stages below, simt_collision.h's collision and simt_constraint.h's
// rows (with constraints), simt_solver.h's Newton solver, the integrator, then the health check
// and auto reset of forward.h's health_and_reset. The stages below compute each element with the
// scalar stages' formulas and sum orders, so their results are forward.h's bit for bit except
// where a transcendental enters:
//   sin / cos   hinge kinematics (simt_smooth.h) and the quaternion integration of free and ball
//               joints: simt::sincos (same bits on CUDA and the CPU, within 2 ulp of sinf/cosf)
//   atan2       the rotational spring of a free or ball joint (sub_quat): atan2_r below, Cephes'
//               atanf in plain float operations (same bits on both targets, 2 ulp of atan2f)
//   exp         filterexact activation: exp(-timestep / tau) per actuator, a model constant,
//               computed once on the host with the scalar stage's expf (act_exp below), so the
//               lane group equals the native CPU step there bit for bit
// Work over lanes:
//   tendons, transmission, actuator forces    a lane per tendon / actuator
//   joint springs and dampers                 a lane per joint
//   tendon springs, gravity compensation,     a lane per dof, adding the tendons / bodies / actuators
//   xfrc_applied, qfrc_actuator, the          in the scalar loop's order (passive.h's, apply_ft's and
//   actuators' velocity derivative            actuation.h's per-dof sums, the same bits)
//   the tree solve (support.h solve_tree)     backward: one phase per dof, a lane per ancestor;
//                                             forward: one phase per depth level of the dof tree, a
//                                             lane per dof forming dot_n's four partial sums over its
//                                             ancestors (the scalar order; solve_tree says why the
//                                             dense loops' other terms change no bit)
//   integrate_pos                             a lane per joint
//   health check, reset                       a lane per element; the flags through ballots
// Stage order: the smooth acceleration runs right after the forces, before the collision and the
// rows, while the factor of qM from simt_smooth.h is still in the group's shared array (the
// collision's and the rows' scratch ints take it next); it reads nothing the collision or the rows
// write, and they read nothing it writes (as forward.h runs com_vel and rne before collision).
// With constraints, simt_collision.h, simt_constraint.h and simt_solver.h: their results equal the
// native step's up to the solver's lane sums (simt_solver.h: rounding, not the optimum). Refused
// by the callers by name (step_refusal): what those refuse (solvers other than Newton, solimp
// powers other than 1 and 2, limited ball joints), RK4. Convex pairs run in step<true> (the
// convex collision) on the CPU and CUDA alike (csrc/simt_step_instance.cu). After the solve, sensor_stage writes the
// sensors (sensor.h's per-sensor functions, one sensor per lane).
#pragma once

#include "forward.h"
#include "simt.h"
#include "simt_collision.h"
#include "simt_constraint.h"
#include "simt_smooth.h"
#include "simt_solver.h"

// host only (step_refusal, act_exp_table)
#include <string>
#include <vector>

namespace pws {
namespace simt {

// The fused step's stages in the recorder (Recorder::Stats per stage). The stages it calls
// (simt_smooth.h's, simt_solver.h's) record into the step's stage around them (StepGroup).
enum : int {
  kStepStageSmooth = 0,        // kinematics, com_pos, crb + factor, com_vel, rne
  kStepStageCollision = 1,     // kernels/simt_collision.h
  kStepStageRows = 2,          // constraint rows (kernels/simt_constraint.h)
  kStepStageForces = 3,        // tendon, transmission, passive, actuation
  kStepStageAcceleration = 4,  // qfrc_smooth, qacc_smooth
  kStepStageSolver = 5,        // Newton
  kStepStageIntegrate = 6,     // Euler / implicitfast
  kStepStageHealth = 7,        // health check, auto reset
  kStepStageSensors = 8,       // sensordata (kernels/sensor.h's per-sensor functions)
};

// A lane group whose kernels' own stage marks are folded into the step's: section(s) sets the
// recorder's stage, stage(s) of a called kernel (simt_smooth.h, simt_solver.h) does nothing.
template <typename G>
struct StepGroup : G {
  using G::G;
  PWS_SIMT_FN void stage(int) {}
  PWS_SIMT_FN void section(int s) { G::stage(s); }
};

// Shared floats of the step's group: the smooth stage's (qM / its factor and crb x cdof), the
// collision's and the rows' scratch ints (npair, nconmax), the solver's (M, the Hessian's factor,
// two vectors) and the implicit integrators' (qH's factor, nv * nv) use the same array one after
// another.
PWS_HD inline int step_shared_floats(const ModelView<float>& m) {
  int n = shared_floats(m.nv);
  const int other[3] = {solver_shared_floats(m.nv), collision_scratch_ints(m), constraint_scratch_ints(m)};
  for (int k = 0; k < 3; ++k) n = other[k] > n ? other[k] : n;
  return n;
}

// Worlds per block of a lane-group launch: of w = block_threads / group_size down to 1 whose shared
// arrays (w x shared_bytes_per_world) fit the device's per-block limit (shared_limit bytes; sm_90
// allows 227 KiB per block with the opt-in, 228 KiB per SM), the w that keeps the most worlds
// resident per SM, resident(w) x w (ties: the larger block); resident(w) counts the blocks of w
// worlds an SM holds (the launchers ask the CUDA occupancy calculator, which knows the kernel's
// registers; the proxies count shared memory and ptxas's registers). The block's threads are the
// worlds' groups, so a block of 8- or 16-lane groups may end in a partial warp (each group's
// shuffles and ballots name its own lanes). A 62-dof model (the CMU-class humanoid) needs
// nv^2 + 6 nv floats = 16,864 bytes per world for the smooth stage: by shared memory 13 worlds per
// SM, as one block of 13 (8 lanes) or thirteen blocks of 1 (16, 32 lanes: one block of 8 / 4 would
// hold 8 / 4).
// 0: one world's arrays pass the limit, and the callers refuse the model naming both sizes.
template <typename Resident>
inline int block_worlds(int block_threads, int group_size, int64_t shared_bytes_per_world, int64_t shared_limit,
                        Resident&& resident) {
  int best = 0;
  int64_t most = -1;
  for (int w = block_threads / group_size; w >= 1; --w) {
    if (shared_bytes_per_world * w > shared_limit) continue;
    const int64_t worlds = int64_t(resident(w)) * w;
    if (worlds > most) {
      most = worlds;
      best = w;
    }
  }
  return best;
}

// ---- transcendentals with the same bits on both targets ---------------------------------------

// Cephes atanf (range reduction by tan(pi/8), tan(3pi/8), then a degree-9 odd polynomial), and
// atan2 from it: plain float operations, about 2 ulp of atan2f. R: float or the counting float.
template <typename R>
PWS_SIMT_FN inline R atan_r(R x) {
  const bool neg = x < R(0);
  if (neg) x = -x;
  R y0 = R(0);
  if (x > R(2.414213562373095f)) {
    y0 = R(1.5707963267948966f);
    x = R(-1.0f) / x;
  } else if (x > R(0.4142135623730950f)) {
    y0 = R(0.7853981633974483f);
    x = (x - R(1.0f)) / (x + R(1.0f));
  }
  const R z = x * x;
  R y = (((R(8.05374449538e-2f) * z - R(1.38776856032e-1f)) * z + R(1.99777106478e-1f)) * z -
         R(3.33329491539e-1f)) * z * x + x;
  y = y0 + y;
  return neg ? -y : y;
}

template <typename R>
PWS_SIMT_FN inline R atan2_r(R y, R x) {
  const R pi = R(3.14159265358979323846f);
  if (x == R(0)) {
    if (y > R(0)) return R(0.5f) * pi;
    if (y < R(0)) return R(-0.5f) * pi;
    return R(0);
  }
  if (y == R(0)) return x > R(0) ? R(0) : pi;
  const R w = x < R(0) ? (y < R(0) ? -pi : pi) : R(0);
  return w + atan_r(y / x);
}

// step_math.h's quat_to_vel and sub_quat with atan2_r
template <typename R>
PWS_SIMT_FN inline Vec3<R> quat_to_vel_simt(const Quat<R>& q) {
  Vec3<R> axis = vec3(q[1], q[2], q[3]);
  R s = length(axis);
  if (s < R(1e-10)) return zero3<R>();
  R angle = R(2) * atan2_r(s, q[0]);
  if (angle > R(3.14159265358979323846)) angle -= R(2) * R(3.14159265358979323846);
  return axis * (angle / s);
}
template <typename R>
PWS_SIMT_FN inline Vec3<R> sub_quat_simt(const Quat<R>& qa, const Quat<R>& qb) {
  return quat_to_vel_simt(quat_mul(quat_conj(qb), qa));
}

// step_math.h's quat_integrate_warp with simt::sincos
template <typename R>
PWS_SIMT_FN inline Quat<R> quat_integrate_simt(const Quat<R>& q, const Vec3<R>& omega, R dt) {
  R n = length(omega);
  Vec3<R> axis = vec3(R(1), R(0), R(0));
  if (n > R(1e-10)) axis = omega / n;
  return quat_mul(quat_unit(q), axis_angle_quat_simt(axis, n * dt));
}

// exp(-timestep / max(1e-15, tau)) of each filterexact actuator (1 elsewhere), with the scalar
// stage's expf: actuation.h's next_activation computes it per call from model constants.
inline std::vector<float> act_exp_table(int nu, const int* dyntype, const float* dynprm, float timestep) {
  std::vector<float> e(nu > 0 ? nu : 1, 1.0f);
  for (int i = 0; i < nu; ++i)
    if (dyntype[i] == kDynFilterExact) e[i] = pws_exp(-timestep / tmax(1e-15f, dynprm[3 * i]));
  return e;
}

// actuation.h's next_activation; e: act_exp of the actuator (filterexact)
template <typename R>
PWS_SIMT_FN inline R next_act(int dyntype, R tau, R act, R act_dot, R dt, int actlimited, R lo, R hi, R e) {
  if (dyntype == kDynFilterExact) {
    R t = tmax(R(1e-15), tau);
    act = act + act_dot * t * (R(1) - e);
  } else {
    act = act + act_dot * dt;
  }
  if (actlimited) act = tclamp(act, lo, hi);
  return act;
}

// dof i is on body b's dof chain (apply_ft's walk from body_dofend down dof_parentid)
template <typename G>
PWS_SIMT_FN inline bool body_dof_chain_has(const G& g, const ModelView<float>& m, int b, int i) {
  int k = g.ld(m.body_dofend + b);
  while (k > i) k = g.ld(m.dof_parentid + k);
  return k == i;
}

// ---- mj_tendon, mj_transmission (smooth.h tendon, transmission) -------------------------------

template <typename G>
PWS_SIMT_FN inline void tendon(G& g, const ModelView<float>& m, const World<float>& d) {
  using R = typename G::real;
  const int nv = m.nv;
  g.each(m.ntendon, [&](int t) {
    R length = R(0);
    const int adr = g.ld(m.tendon_adr + t), num = g.ld(m.tendon_num + t);
    for (int w = adr; w < adr + num; ++w)
      length += g.ld(m.wrap_prm + w) * g.ld(d.qpos + g.ld(m.jnt_qposadr + g.ld(m.wrap_jnt + w)));
    const float* jt = m.tendon_J + (int64_t)t * nv;
    R velocity = R(0);
    for (int i = 0; i < nv; ++i) velocity += g.ld(jt + i) * g.ld(d.qvel + i);
    g.st(d.ten_length + t, length);
    g.st(d.ten_velocity + t, velocity);
  });
}

template <typename G>
PWS_SIMT_FN inline void transmission(G& g, const ModelView<float>& m, const World<float>& d) {
  using R = typename G::real;
  g.each(m.nu, [&](int a) {
    R gear = g.ld(d.actuator_gear + a);
    const int id = g.ld(m.actuator_trnid + a);
    if (g.ld(m.actuator_trntype + a) == kTrnTendon) {
      g.st(d.actuator_length + a, g.ld(d.ten_length + id) * gear);
      g.st(d.actuator_velocity + a, g.ld(d.ten_velocity + id) * gear);
    } else {
      g.st(d.actuator_length + a, g.ld(d.qpos + g.ld(m.jnt_qposadr + id)) * gear);
      g.st(d.actuator_velocity + a, g.ld(d.qvel + g.ld(m.jnt_dofadr + id)) * gear);
    }
  });
}

// ---- mj_passive (passive.h) ------------------------------------------------------------------

template <typename G>
PWS_SIMT_FN inline void passive(G& g, const ModelView<float>& m, const World<float>& d) {
  using R = typename G::real;
  const int nv = m.nv;
  // joint springs and dof dampers: a lane per joint
  g.each(m.njnt, [&](int j) {
    const int jtype = g.ld(m.jnt_type + j);
    int padr = g.ld(m.jnt_qposadr + j);
    const int dadr = g.ld(m.jnt_dofadr + j);
    const int ndof = jtype == kJointFree ? 6 : (jtype == kJointBall ? 3 : 1);
    R spring[6];
    for (int i = 0; i < ndof; ++i) spring[i] = R(0);
    R k = g.ld(d.jnt_stiffness + j);
    if (m.en_spring && k != R(0)) {
      if (jtype == kJointFree) {
        for (int i = 0; i < 3; ++i) spring[i] = -k * (g.ld(d.qpos + padr + i) - g.ld(m.qpos_spring + padr + i));
        padr += 3;
      }
      if (jtype == kJointFree || jtype == kJointBall) {
        Quat<R> quat = quat_unit(ld4(g, d.qpos + padr));
        Vec3<R> dif = sub_quat_simt(quat, ld4(g, m.qpos_spring + padr));
        const int rot = ndof - 3;
        for (int i = 0; i < 3; ++i) spring[rot + i] = -k * dif[i];
      } else {
        spring[0] = -k * (g.ld(d.qpos + padr) - g.ld(m.qpos_spring + padr));
      }
    }
    for (int i = 0; i < ndof; ++i) {
      R damper = R(0);
      if (m.en_damper) damper = -g.ld(d.dof_damping + dadr + i) * g.ld(d.qvel + dadr + i);
      g.st(d.qfrc_spring + dadr + i, spring[i]);
      g.st(d.qfrc_damper + dadr + i, damper);
      g.st(d.qfrc_passive + dadr + i, spring[i] + damper);
    }
  });
  // fixed tendons' springs (deadband) and dampers through tendon_J', then gravity compensation
  // through apply_ft: a lane per dof adding tendons and bodies in passive.h's order
  const bool tendons = (m.en_spring || m.en_damper) && m.ntendon;
  const bool gravcomp = (m.en_spring || m.en_damper) && m.has_gravcomp && m.en_gravity;
  g.each(nv, [&](int i) {
    if (tendons) {
      R sp = g.ld(d.qfrc_spring + i), dm = g.ld(d.qfrc_damper + i), ps = g.ld(d.qfrc_passive + i);
      for (int t = 0; t < m.ntendon; ++t) {
        R spring = R(0), damper = R(0);
        if (m.en_spring) {
          R length = g.ld(d.ten_length + t);
          R rest0 = g.ld(m.tendon_lengthspring + 2 * t), rest1 = g.ld(m.tendon_lengthspring + 2 * t + 1);
          if (length > rest1)
            spring = g.ld(m.tendon_stiffness + t) * (rest1 - length);
          else if (length < rest0)
            spring = g.ld(m.tendon_stiffness + t) * (rest0 - length);
        }
        if (m.en_damper) damper = -g.ld(m.tendon_damping + t) * g.ld(d.ten_velocity + t);
        if (spring != R(0) || damper != R(0)) {
          R jti = g.ld(m.tendon_J + (int64_t)t * nv + i);
          if (jti != R(0)) {
            sp += jti * spring;
            dm += jti * damper;
            ps += jti * (spring + damper);
          }
        }
      }
      g.st(d.qfrc_spring + i, sp);
      g.st(d.qfrc_damper + i, dm);
      g.st(d.qfrc_passive + i, ps);
    }
    R gc_force = R(0);
    if (gravcomp) {
      Vec3<R> grav = ld3(g, d.gravity);
      Vec6<R> cdof = ld6(g, d.cdof + 6 * i);
      for (int b = 1; b < m.nbody; ++b) {
        R gc = g.ld(m.body_gravcomp + b);
        if (gc == R(0) || !body_dof_chain_has(g, m, b, i)) continue;
        Vec3<R> force = -grav * (g.ld(d.body_mass + b) * gc);
        Vec3<R> point = ld3(g, d.xipos + 3 * b);
        Vec3<R> rel = point - ld3(g, d.subtree_com + 3 * g.ld(m.body_rootid + b));
        gc_force += point_jac_dot(cdof, rel, force, zero3<R>());
      }
      g.st(d.qfrc_passive + i, g.ld(d.qfrc_passive + i) + gc_force);
    }
    g.st(d.qfrc_gravcomp + i, gc_force);
  });
}

// ---- mj_fwdActuation (actuation.h actuation) ---------------------------------------------------

template <typename G>
PWS_SIMT_FN inline void actuation(G& g, const ModelView<float>& m, const World<float>& d, const float* act_exp) {
  using R = typename G::real;
  const int nu = m.nu, nv = m.nv;
  if (nu == 0 || !m.en_actuation) {
    g.each(nv, [&](int i) { g.st(d.qfrc_actuator + i, R(0)); });
    g.each(m.nu_pad, [&](int i) { g.st(d.actuator_force + i, R(0)); });
    g.each(m.na_pad, [&](int i) { g.st(d.act_dot + i, R(0)); });
    return;
  }
  // MuJoCo zeroes every control of a world when any control is not finite
  Reg<bool, G::size> bad;
  g.lanes([&](int l) { bad[l] = false; });
  g.each(nu, [&](int i) {
    if (!solver_finite(g.ld(d.ctrl + i))) bad[g.lane()] = true;
  });
  const bool ctrl_ok = !any(g, bad);
  g.each(nu, [&](int i) {
    R ctrl = ctrl_ok ? g.ld(d.ctrl + i) : R(0);
    if (m.en_clampctrl && g.ld(m.actuator_ctrllimited + i))
      ctrl = tclamp(ctrl, g.ld(m.actuator_ctrlrange + 2 * i), g.ld(m.actuator_ctrlrange + 2 * i + 1));
    const int dyntype = g.ld(m.actuator_dyntype + i);
    R tau = g.ld(m.actuator_dynprm + 3 * i);
    R input = ctrl;
    const int actadr = g.ld(m.actuator_actadr + i);
    if (dyntype != kDynNone) {
      R act = g.ld(d.act + actadr);
      R act_dot = dyntype == kDynIntegrator ? ctrl : (ctrl - act) / tmax(R(1e-15), tau);
      g.st(d.act_dot + actadr, act_dot);
      input = act;
      if (g.ld(m.actuator_actearly + i))
        input = next_act(dyntype, tau, act, act_dot, R(m.timestep), g.ld(m.actuator_actlimited + i),
                         R(g.ld(m.actuator_actrange + 2 * i)), R(g.ld(m.actuator_actrange + 2 * i + 1)),
                         R(g.ld(act_exp + i)));
    }
    R length = g.ld(d.actuator_length + i);
    R velocity = g.ld(d.actuator_velocity + i);
    const float* gainprm = d.actuator_gainprm + 3 * i;
    R gain = g.ld(gainprm);
    if (g.ld(m.actuator_gaintype + i) == kGainAffine)
      gain = g.ld(gainprm) + g.ld(gainprm + 1) * length + g.ld(gainprm + 2) * velocity;
    R force = gain * input;
    if (g.ld(m.actuator_biastype + i) == kBiasAffine) {
      const float* biasprm = d.actuator_biasprm + 3 * i;
      force += g.ld(biasprm) + g.ld(biasprm + 1) * length + g.ld(biasprm + 2) * velocity;
    }
    if (g.ld(m.actuator_forcelimited + i))
      force = tclamp(force, g.ld(m.actuator_forcerange + 2 * i), g.ld(m.actuator_forcerange + 2 * i + 1));
    g.st(d.actuator_force + i, force);
  });
  // qfrc_actuator: a lane per dof adding the actuators in order (actuation.h's sums per dof)
  g.each(nv, [&](int j) {
    R q = R(0);
    for (int i = 0; i < nu; ++i) {
      const int id = g.ld(m.actuator_trnid + i);
      if (g.ld(m.actuator_trntype + i) == kTrnTendon) {
        q += g.ld(d.actuator_gear + i) * g.ld(m.tendon_J + (int64_t)id * nv + j) * g.ld(d.actuator_force + i);
      } else if (g.ld(m.jnt_dofadr + id) == j) {
        q += g.ld(d.actuator_gear + i) * g.ld(d.actuator_force + i);
      }
    }
    const int jnt = g.ld(m.dof_jntid + j);
    if (g.ld(m.jnt_actfrclimited + jnt))
      q = tclamp(q, g.ld(m.jnt_actfrcrange + 2 * jnt), g.ld(m.jnt_actfrcrange + 2 * jnt + 1));
    g.st(d.qfrc_actuator + j, q);
  });
}

// ---- mj_solveLD on the tree factor (support.h solve_tree) -------------------------------------

// support.h solve_tree's dense loops on lanes: x = (L' D L)^-1 x in place, LD (nv, nv) and
// diag_inv (nv) wherever they lie (shared or global), x in global memory; the same updates per
// entry as the scalar solve, in its order. solve_tree's fallback, out of line on CUDA: inlined
// into the fused step twice it raised the kernel's sm_90 spills from 1.8 KB to 8.1 KB per thread.
#if defined(__CUDACC__)
#define PWS_SIMT_COLD __noinline__
#else
#define PWS_SIMT_COLD inline
#endif
template <typename G>
PWS_SIMT_FN PWS_SIMT_COLD void solve_tree_dense(G& g, int nv, const float* LD, const float* diag_inv, float* x) {
  using R = typename G::real;
  for (int i = nv - 1; i > 0; --i) {
    g.each(i, [&](int j) {
      R xi = g.ld(x + i);
      if (xi != R(0)) g.st(x + j, g.ld(x + j) - g.ld(LD + i * nv + j) * xi);
    });
  }
  g.each(nv, [&](int i) { g.st(x + i, g.ld(x + i) * g.ld(diag_inv + i)); });
  for (int i = 1; i < nv; ++i) {
    g.each(1, [&](int) {  // step_math.h's dot_n: four partial sums, then (s0 + s1) + (s2 + s3)
      const float* li = LD + i * nv;
      R s0 = R(0), s1 = R(0), s2 = R(0), s3 = R(0);
      int k = 0;
      for (; k + 4 <= i; k += 4) {
        s0 += g.ld(li + k) * g.ld(x + k);
        s1 += g.ld(li + k + 1) * g.ld(x + k + 1);
        s2 += g.ld(li + k + 2) * g.ld(x + k + 2);
        s3 += g.ld(li + k + 3) * g.ld(x + k + 3);
      }
      for (; k < i; ++k) s0 += g.ld(li + k) * g.ld(x + k);
      g.st(x + i, g.ld(x + i) - ((s0 + s1) + (s2 + s3)));
    });
  }
}

// v is -0 (its sign bit through 1 / v: -inf)
template <typename R>
PWS_SIMT_FN inline bool negative_zero(R v) {
  return v == R(0) && R(1) / v < R(0);
}

// x = (L' D L)^-1 x in place on the tree's nonzeros (Tree's anc_dof and dof levels), with
// support.h solve_tree's bits; x_in holds x's input (read only by the fallback).
//   backward   one phase per dof i (descending), a lane per ancestor j: x[j] -= LD[i][j] x[i]
//   forward    one phase per depth level of the dof tree, a lane per dof i of the level:
//              x[i] = x[i] diag_inv[i] - dot_n(LD[i], x, i), dot_n's four partial sums (k % 4
//              below i & ~3, the tail into s0) over i's ancestors k in ascending order: a level's
//              dofs depend on shallower levels only
// The dense loops' other terms are LD[i][j] = +0 (off the ancestor chains; factor_shared never
// writes there) times a finite x, and leave every partial sum and every x[j] as they were, except
// that a -0 in x becomes +0 under x[j] - 0 * x[i] < 0, and a non-finite x gives NaN off its chain.
// So an input with a -0, or a non-finite result, takes the dense loops from x_in: the same bits
// as the scalar solve in every case.
template <typename G>
PWS_SIMT_FN inline void solve_tree(G& g, int nv, const Tree& t, const float* LD, const float* diag_inv, float* x,
                                   const float* x_in) {
  using R = typename G::real;
  Reg<bool, G::size> dense;
  g.lanes([&](int l) { dense[l] = false; });
  g.each(nv, [&](int i) {
    if (negative_zero(g.ld(x + i))) dense[g.lane()] = true;
  });
  for (int i = nv - 1; i > 0; --i) {
    const int a0 = t.anc_adr[i], na = t.anc_num[i];
    if (na == 0) continue;  // a root dof
    g.each(na, [&](int a) {
      R xi = g.ld(x + i);
      if (xi != R(0)) {
        const int j = g.ld(t.anc_dof + a0 + a);
        g.st(x + j, g.ld(x + j) - g.ld(LD + i * nv + j) * xi);
      }
    });
  }
  for (int level = 0; level < t.ndlevel; ++level) {
    const int l0 = t.dlevel_adr[level];
    g.each(t.dlevel_num[level], [&](int r) {
      const int i = g.ld(t.dlevel_dof + l0 + r);
      R xi = g.ld(x + i) * g.ld(diag_inv + i);
      const int a0 = g.ld(t.anc_adr + i), a1 = a0 + g.ld(t.anc_num + i);
      if (a1 > a0) {  // x - (+0) is x: a root's empty sum is skipped
        const float* li = LD + i * nv;
        const int four = i & ~3;  // dot_n(li, x, i): k < four into s[k % 4], the tail into s0
        R s0 = R(0), s1 = R(0), s2 = R(0), s3 = R(0);
        for (int a = a1 - 1; a >= a0; --a) {
          const int k = g.ld(t.anc_dof + a);
          R p = g.ld(li + k) * g.ld(x + k);
          const int c = k < four ? (k & 3) : 0;
          if (c == 0)
            s0 += p;
          else if (c == 1)
            s1 += p;
          else if (c == 2)
            s2 += p;
          else
            s3 += p;
        }
        xi = xi - ((s0 + s1) + (s2 + s3));
      }
      g.st(x + i, xi);
      if (!solver_finite(xi)) dense[g.lane()] = true;
    });
  }
  if (any(g, dense)) {
    g.each(nv, [&](int i) { g.st(x + i, g.ld(x_in + i)); });
    solve_tree_dense(g, nv, LD, diag_inv, x);
  }
}

// ---- mj_fwdAcceleration (forward.h fwd_acceleration); qM's factor in the group's shared array --

template <typename G>
PWS_SIMT_FN inline void fwd_acceleration(G& g, const ModelView<float>& m, const World<float>& d, const Tree& t) {
  using R = typename G::real;
  const int nv = m.nv;
  // any applied body force (mju_isZero: NaN counts as nonzero)
  Reg<bool, G::size> applied;
  g.lanes([&](int l) { applied[l] = false; });
  g.each(6 * (m.nbody - 1), [&](int e) {
    if (g.ld(d.xfrc_applied + 6 + e) != R(0)) applied[g.lane()] = true;
  });
  const bool xfrc = any(g, applied);
  g.each(nv, [&](int i) {
    R q = g.ld(d.qfrc_passive + i) - g.ld(d.qfrc_bias + i) + g.ld(d.qfrc_applied + i) + g.ld(d.qfrc_actuator + i);
    if (xfrc) {
      Vec6<R> cdof = ld6(g, d.cdof + 6 * i);
      for (int b = 1; b < m.nbody; ++b) {
        Vec6<R> f = ld6(g, d.xfrc_applied + 6 * b);
        bool nonzero = false;
        for (int k = 0; k < 6; ++k) nonzero = nonzero || f[k] != R(0);
        if (!nonzero || !body_dof_chain_has(g, m, b, i)) continue;
        Vec3<R> point = ld3(g, d.xipos + 3 * b);
        Vec3<R> rel = point - ld3(g, d.subtree_com + 3 * g.ld(m.body_rootid + b));
        q += point_jac_dot(cdof, rel, ang(f), lin(f));
      }
    }
    g.st(d.qfrc_smooth + i, q);
    g.st(d.qacc_smooth + i, q);
  });
  solve_tree(g, nv, t, g.shared, d.qLDiagInv, d.qacc_smooth, d.qfrc_smooth);
}

// ---- integrators (forward.h integrate: Euler with implicit damping, implicitfast) -------------


// implicit_qacc: qH = qM + h D (dof damping with en_damper; implicitfast: minus the actuators'
// velocity derivative) factored in the shared array (into qH, qHDiagInv), then qacc_scratch =
// qH^-1 (qfrc_smooth + qfrc_constraint). qH's upper triangle holds qM's (the scalar stage leaves
// it as it was; nothing reads it).
template <typename G>
PWS_SIMT_FN inline void implicit_qacc(G& g, const ModelView<float>& m, const World<float>& d, const Tree& t,
                                      const float* act_exp, bool with_actuators) {
  using R = typename G::real;
  const int nv = m.nv, nu = m.nu;
  const R h = R(m.timestep);
  float* H = g.shared;
  each_sector(g, d.qM, nv * nv, [&](int e) { g.st(H + e, g.ld(d.qM + e)); });
  const bool actuators = with_actuators && nu && m.en_actuation;
  g.each(nv, [&](int i) {
    R hii = g.ld(H + i * nv + i);
    if (m.en_damper) hii = hii + h * g.ld(d.dof_damping + i);
    // actuation.h's add_actuator_vel_deriv, the actuators of dof i in order
    for (int a = 0; actuators && a < nu; ++a) {
      if (g.ld(m.actuator_trntype + a) == kTrnTendon) continue;
      if (g.ld(m.jnt_dofadr + g.ld(m.actuator_trnid + a)) != i) continue;
      if (g.ld(m.actuator_forcelimited + a)) {
        R f = g.ld(d.actuator_force + a);
        if (f <= R(g.ld(m.actuator_forcerange + 2 * a)) || f >= R(g.ld(m.actuator_forcerange + 2 * a + 1))) continue;
      }
      R vel = R(0);
      if (g.ld(m.actuator_biastype + a) == kBiasAffine) vel = g.ld(d.actuator_biasprm + 3 * a + 2);
      if (g.ld(m.actuator_gaintype + a) == kGainAffine) {
        R gain_vel = g.ld(d.actuator_gainprm + 3 * a + 2);
        const int dyntype = g.ld(m.actuator_dyntype + a);
        if (dyntype == kDynNone) {
          vel += gain_vel * g.ld(d.ctrl + a);
        } else {
          const int adr = g.ld(m.actuator_actadr + a);
          R act = g.ld(d.act + adr);
          if (g.ld(m.actuator_actearly + a))
            act = next_act(dyntype, R(g.ld(m.actuator_dynprm + 3 * a)), act, R(g.ld(d.act_dot + adr)), h,
                           g.ld(m.actuator_actlimited + a), R(g.ld(m.actuator_actrange + 2 * a)),
                           R(g.ld(m.actuator_actrange + 2 * a + 1)), R(g.ld(act_exp + a)));
          vel += gain_vel * act;
        }
      }
      R gear = g.ld(d.actuator_gear + a);
      hii -= h * gear * gear * vel;
    }
    g.st(H + i * nv + i, hii);
    R f = g.ld(d.qfrc_smooth + i) + g.ld(d.qfrc_constraint + i);
    g.st(d.qfrc_scratch + i, f);
    g.st(d.qacc_scratch + i, f);
  });
  factor_shared(g, nv, t, H, d.qH, d.qHDiagInv);
  solve_tree(g, nv, t, H, d.qHDiagInv, d.qacc_scratch, d.qfrc_scratch);
}

// mj_advance (forward.h advance) from the current state with acceleration qacc
template <typename G>
PWS_SIMT_FN inline void advance(G& g, const ModelView<float>& m, const World<float>& d, const float* qacc,
                                const float* act_exp) {
  using R = typename G::real;
  const R h = R(m.timestep);
  if (m.en_actuation) {
    g.each(m.nu, [&](int i) {
      const int adr = g.ld(m.actuator_actadr + i);
      if (adr >= 0)
        g.st(d.act + adr, next_act(g.ld(m.actuator_dyntype + i), R(g.ld(m.actuator_dynprm + 3 * i)), R(g.ld(d.act + adr)),
                                   R(g.ld(d.act_dot + adr)), h, g.ld(m.actuator_actlimited + i),
                                   R(g.ld(m.actuator_actrange + 2 * i)), R(g.ld(m.actuator_actrange + 2 * i + 1)),
                                   R(g.ld(act_exp + i))));
    });
  }
  g.each(m.nv, [&](int i) {
    g.st(d.qvel + i, g.ld(d.qvel + i) + h * g.ld(qacc + i));
    g.st(d.qacc_warmstart + i, g.ld(d.qacc + i));
  });
  // integrate_pos with the new qvel, scale 1
  const R scale = R(1);
  g.each(m.njnt, [&](int j) {
    int padr = g.ld(m.jnt_qposadr + j);
    int vadr = g.ld(m.jnt_dofadr + j);
    const int jtype = g.ld(m.jnt_type + j);
    if (jtype == kJointFree) {
      for (int i = 0; i < 3; ++i) g.st(d.qpos + padr + i, g.ld(d.qpos + padr + i) + h * scale * g.ld(d.qvel + vadr + i));
      padr += 3;
      vadr += 3;
    }
    if (jtype == kJointFree || jtype == kJointBall) {
      Vec3<R> w = ld3(g, d.qvel + vadr) * scale;
      st4(g, d.qpos + padr, quat_integrate_simt(ld4(g, d.qpos + padr), w, h));
    } else {
      g.st(d.qpos + padr, g.ld(d.qpos + padr) + h * scale * g.ld(d.qvel + vadr));
    }
  });
  g.each(1, [&](int) { g.st(d.time, g.ld(d.time) + h); });
}

template <typename G>
PWS_SIMT_FN inline void integrate(G& g, const ModelView<float>& m, const World<float>& d, const Tree& t,
                                  const float* act_exp) {
  if (m.integrator == kIntImplicitFast || (m.integrator == kIntEuler && m.implicit_damping)) {
    implicit_qacc(g, m, d, t, act_exp, m.integrator == kIntImplicitFast);
    advance(g, m, d, d.qacc_scratch, act_exp);
  } else {
    advance(g, m, d, d.qacc, act_exp);
  }
}

// ---- health check and auto reset (forward.h check_health, health_and_reset) -------------------

// Health bits of one world (forward.h check_health): flags ORed into health, one counter event
// per flag. Returns the flags (every lane).
template <typename G>
PWS_SIMT_FN inline int check_health(G& g, const ModelView<float>& m, const World<float>& d) {
  using R = typename G::real;
  if (load_uniform(g, d.health) & kHealthParked) return 0;
  Reg<int, G::size> f;
  g.lanes([&](int l) { f[l] = 0; });
  g.each(m.nq, [&](int i) {
    if (!solver_finite(g.ld(d.qpos + i))) f[g.lane()] |= kHealthNonFinite;
  });
  g.each(m.nu, [&](int i) {
    if (!solver_finite(g.ld(d.ctrl + i))) f[g.lane()] |= kHealthNonFinite;
  });
  g.each(m.na, [&](int i) {
    if (!solver_finite(g.ld(d.act + i))) f[g.lane()] |= kHealthNonFinite;
  });
  g.each(m.nv, [&](int i) {
    R v = g.ld(d.qvel + i);
    if (!(solver_finite(v) && solver_finite(g.ld(d.qacc + i))))
      f[g.lane()] |= kHealthNonFinite;
    else if (solver_abs(v) > R(m.max_qvel))
      f[g.lane()] |= kHealthVelocityBound;
  });
  int flags = 0;
  for (int bit = 0; bit < 4; ++bit) {
    Reg<bool, G::size> p;
    g.lanes([&](int l) { p[l] = (f[l] & (1 << bit)) != 0; });
    if (g.ballot(p)) flags |= 1 << bit;
  }
  if (load_uniform(g, d.con_overflow) != 0) flags |= kHealthContactOverflow;
  if (load_uniform(g, d.efc_nefc) > 0 && load_uniform(g, d.efc_converged) == 0) flags |= kHealthSolverNotConverged;
  g.each(1, [&](int) {
    g.st(d.health, g.ld(d.health) | flags);
    for (int bit = 0; bit < 4; ++bit)
      if (flags & (1 << bit)) atomic_add_int(d.counters + bit, 1);
  });
  return flags;
}

// forward.h reset_world on lanes
template <typename G>
PWS_SIMT_FN inline void reset_world(G& g, const ModelView<float>& m, const World<float>& d) {
  using R = typename G::real;
  g.each(m.nq, [&](int i) { g.st(d.qpos + i, R(g.ld(m.qpos0 + i))); });
  g.each(m.nv, [&](int i) {
    g.st(d.qvel + i, R(0));
    g.st(d.qacc + i, R(0));
    g.st(d.qacc_warmstart + i, R(0));
    g.st(d.qfrc_applied + i, R(0));
  });
  g.each(m.na_pad, [&](int i) {
    g.st(d.act + i, R(0));
    g.st(d.act_dot + i, R(0));
  });
  g.each(m.nu_pad, [&](int i) { g.st(d.ctrl + i, R(0)); });
  g.each(6 * m.nbody, [&](int i) { g.st(d.xfrc_applied + i, R(0)); });
  g.each(m.neq_pad, [&](int i) { g.st(d.eq_active + i, i < m.neq ? g.ld(m.eq_active0 + i) : 0); });
  g.each(1, [&](int) {
    g.st(d.time, R(0));
    g.st(d.con_ncon, 0);
    g.st(d.con_overflow, 0);
    g.st(d.efc_nefc, 0);
    g.st(d.health, 0);
  });
}

// forward.h health_and_reset: the check, then with a flag of m.auto_reset the in-place reset (or
// parking, when the world's reset state is non-finite)
template <typename G>
PWS_SIMT_FN inline void health_and_reset(G& g, const ModelView<float>& m, const World<float>& d) {
  check_health(g, m, d);
  const int flags = load_uniform(g, d.health);
  if ((flags & kHealthParked) || !(flags & m.auto_reset)) return;
  g.each(1, [&](int) { g.st(d.last_reset, flags); });
  // forward.h reset_state_finite: qpos0 and the world's parameter-bank rows
  Reg<bool, G::size> bad;
  g.lanes([&](int l) { bad[l] = false; });
  g.each(m.nq, [&](int i) {
    if (!solver_finite(g.ld(m.qpos0 + i))) bad[g.lane()] = true;
  });
#define PWS_SIMT_BANK_FINITE(name, width, count)          \
  g.each(m.name.stride, [&](int i) {                      \
    if (!solver_finite(g.ld(d.name + i))) bad[g.lane()] = true; \
  });
#define PWS_SIMT_SKIP(name, width, count)
  PWS_MODEL_ARRAYS(PWS_SIMT_SKIP, PWS_SIMT_SKIP, PWS_SIMT_BANK_FINITE)
#undef PWS_SIMT_BANK_FINITE
#undef PWS_SIMT_SKIP
  if (!any(g, bad)) {
    g.each(1, [&](int) { atomic_add_int(d.counters + kCounterAutoReset, 1); });
    reset_world(g, m, d);
  } else {
    g.each(1, [&](int) {
      g.st(d.health, flags | kHealthParked);
      atomic_add_int(d.counters + kCounterParked, 1);
    });
  }
}

// ---- sensors (sensor.h sensors) ------------------------------------------------------------------

#if !defined(__CUDACC__)
}  // namespace simt
// the ray functions' guard for the counting float (the recorded emulation): float's value
template <>
struct MinVal<simt::Counted> {
  static constexpr float value = MinVal<float>::value;
};
namespace simt {
#endif

// mj_sensorPos, mj_sensorVel, mj_sensorAcc of one world (sensor.h's sensors, after the solve as
// there): per stage one sensor per lane per pass (a pass over all sensors, lanes whose sensor
// belongs to another stage idle), each through sensor.h's per-sensor function with the group as
// its accessor, so every sensor's value is the native step's bits from the same inputs. The
// stages' tree passes, when the model's sensors need them, through sensor.h's parts: mj_subtreeVel
// before the velocity sensors (each body's own terms a lane per body, the sums from the leaves on
// one lane), mj_rnePostConstraint before the acceleration sensors (applied forces and each body's
// cfrc_int a lane per body; the constraint forces, cacc down the tree and the sums from the leaves
// on one lane). Sensors write disjoint columns of sensordata and read what earlier phases wrote.
template <typename G>
PWS_SIMT_FN inline void sensor_stage(G& g, const ModelView<float>& m, const World<float>& d) {
  if (!m.en_sensor) return;
  g.each(m.nsensor, [&](int i) {
    if (g.ld(m.sensor_needstage + i) == kStagePos) sensor_pos_one(g, m, d, i);
  });
  if (m.sensor_subtree_vel) {
    g.each(m.nbody, [&](int b) { subtree_vel_body(g, m, d, b); });
    g.each(1, [&](int) { subtree_vel_tree(g, m, d); });
  }
  g.each(m.nsensor, [&](int i) {
    if (g.ld(m.sensor_needstage + i) == kStageVel) sensor_vel_one(g, m, d, i);
  });
  if (m.sensor_rne_post) {
    g.each(m.nbody, [&](int b) { rne_post_applied(g, m, d, b); });
    g.each(1, [&](int) {
      rne_post_constraints(g, m, d);
      rne_post_cacc(g, m, d);
    });
    g.each(m.nbody - 1, [&](int k) { rne_post_body_force(g, m, d, k + 1); });
    g.each(1, [&](int) { rne_post_int_sum(g, m, d); });
  }
  g.each(m.nsensor, [&](int i) {
    if (g.ld(m.sensor_needstage + i) == kStageAcc) sensor_acc_one(g, m, d, i);
  });
}

// ---- the fused step ------------------------------------------------------------------------------

// Per-model inputs of the step besides the views: the tree schedule (simt_smooth.h) and act_exp
// (act_exp_table).
struct StepTables {
  Tree tree;
  const float* act_exp;  // (nu)
};

// One Simulator step of one world (forward.h step_world) on group g (a StepGroup), g.shared
// holding step_shared_floats(m). The callers refuse what it cannot run (step_refusal): with
// en_constraint off there are no contacts and no rows, as in forward.h's forward_rest.
// kConvexPairs: the collision with the CONVEX collider (simt_collision.h; ~29 KB of EPA scratch
// per lane), the instance for models with ModelView::has_convex; without it the step is the
// primitive-only kernel. Out of line on CUDA (PWS_SIMT_COLD): with both instances in one unit
// nvcc inlined each into its kernels, and sm_90 spills of simt_step_kernel<8, false> rose from
// 916 / 904 B (stores / loads) to 1,400 / 2,716 (ptxas, -O3 -fmad=false; bench/README).
template <bool kConvexPairs = false, typename G>
PWS_SIMT_FN PWS_SIMT_COLD void step(G& g, const ModelView<float>& m, const World<float>& d, const StepTables& s) {
  g.section(kStepStageSmooth);
  g.each(1, [&](int) { g.st(d.con_overflow, 0); });  // begin_step
  smooth(g, m, d, s.tree);
  g.section(kStepStageForces);
  tendon(g, m, d);
  transmission(g, m, d);
  passive(g, m, d);
  actuation(g, m, d, s.act_exp);
  g.section(kStepStageAcceleration);
  fwd_acceleration(g, m, d, s.tree);
  int* scratch = reinterpret_cast<int*>(g.shared);
  g.section(kStepStageCollision);
  if (m.en_constraint) collision<kConvexPairs>(g, m, d, scratch);
  g.section(kStepStageRows);
  if (m.en_constraint) {
    make_constraint(g, m, d, scratch);  // equality rows first, and their efc_jdotv
  } else {
    g.each(1, [&](int) {
      g.st(d.efc_ne, 0);
      g.st(d.efc_nefc, 0);
    });
  }
  g.section(kStepStageSolver);
  newton_solve(g, m, d);
  g.section(kStepStageSensors);
  sensor_stage(g, m, d);  // forward.h's forward_world: sensors after the solve, before integrating
  g.section(kStepStageIntegrate);
  integrate(g, m, d, s.tree, s.act_exp);
  g.section(kStepStageHealth);
  health_and_reset(g, m, d);
}

// One stage of the step alone, for tests against the scalar stages (the fused step runs them in
// `step`): 0 tendon, 1 transmission, 2 passive, 3 actuation, 4 the smooth acceleration (qLD
// loaded into the shared array first, where the fused step has it from the smooth stage),
// 5 the integrator, 6 the health check and auto reset, 7 the sensors (STEP_STAGE_NAMES in
// pywarp_sim/simt.py).
enum : int {
  kOnlyTendon = 0,
  kOnlyTransmission = 1,
  kOnlyPassive = 2,
  kOnlyActuation = 3,
  kOnlyAcceleration = 4,
  kOnlyIntegrate = 5,
  kOnlyHealth = 6,
  kOnlySensors = 7,
  kNumOnlyStages = 8,
};

template <typename G>
PWS_SIMT_FN inline void step_stage(G& g, const ModelView<float>& m, const World<float>& d, const StepTables& s,
                                   int stage) {
  switch (stage) {
    case kOnlyTendon:
      g.section(kStepStageForces);
      tendon(g, m, d);
      break;
    case kOnlyTransmission:
      g.section(kStepStageForces);
      transmission(g, m, d);
      break;
    case kOnlyPassive:
      g.section(kStepStageForces);
      passive(g, m, d);
      break;
    case kOnlyActuation:
      g.section(kStepStageForces);
      actuation(g, m, d, s.act_exp);
      break;
    case kOnlyAcceleration:
      g.section(kStepStageAcceleration);
      each_sector(g, d.qLD, m.nv * m.nv, [&](int e) { g.st(g.shared + e, g.ld(d.qLD + e)); });
      fwd_acceleration(g, m, d, s.tree);
      break;
    case kOnlyIntegrate:
      g.section(kStepStageIntegrate);
      integrate(g, m, d, s.tree, s.act_exp);
      break;
    case kOnlyHealth:
      g.section(kStepStageHealth);
      health_and_reset(g, m, d);
      break;
    case kOnlySensors:
      g.section(kStepStageSensors);
      sensor_stage(g, m, d);
      break;
    default:
      break;
  }
}

// What the fused lane-group step cannot run, named with the fix ("" when it can run): from the
// model's scalars (convex pairs run in the kConvexPairs instance of step, on the CPU and CUDA)
// (readable on the host for CPU and CUDA views alike). The workspace held per
// group slot is the callers' (csrc/simt_bindings.cpp: a slot per OpenMP thread; csrc/simt_step_instance.cu:
// a slot per group of the persistent launch, slot_refusal). The int tables the step
// reads are checked by step_refusal_tables where they lie on the host.
inline std::string step_refusal(const ModelView<float>& m) {
  if (m.en_constraint) {
    if (m.solver_type != kSolverNewton)
      return "the lane-group step solves with Newton (opt.solver=" + std::to_string(m.solver_type) +
             "): set model.opt.solver = mjSOL_NEWTON";
  }
  if (m.integrator == kIntRK4)
    return "the lane-group step integrates with Euler or implicitfast, not RK4: set mj_model.opt.integrator";
  if (m.integrator != kIntEuler && m.integrator != kIntImplicitFast)
    return "the lane-group step integrates with Euler or implicitfast (opt.integrator=" + std::to_string(m.integrator) +
           ")";
  return "";
}

// The persistent launch's grid (csrc/simt_step_instance.cu) from the occupancy calculator's answer:
// blocks of worlds_per_block groups, no more than the device holds at once (resident_blocks: SMs x
// blocks per SM; at least one) nor than nworld worlds need. Group k of the grid (block x
// worlds_per_block + its group in the block) steps every world it takes in workspace slot k, so
// with the workspace held per group slot (Simulator(workspace="group")) the slots needed are
// persistent_groups(...), from the same numbers: the Simulator allocates that many
// (pywarp_sim.simt.cuda_group_slots) and the launch sizes its grid with persistent_blocks.
inline int64_t persistent_blocks(int64_t nworld, int64_t resident_blocks, int worlds_per_block) {
  if (nworld <= 0 || worlds_per_block <= 0) return 0;
  const int64_t need = (nworld + worlds_per_block - 1) / worlds_per_block;
  const int64_t resident = resident_blocks > 0 ? resident_blocks : 1;
  return need < resident ? need : resident;
}

inline int64_t persistent_groups(int64_t nworld, int64_t resident_blocks, int worlds_per_block) {
  return persistent_blocks(nworld, resident_blocks, worlds_per_block) * worlds_per_block;
}

// "" when nslot group slots hold the workspace of the `groups` groups a persistent launch runs
// (nslot = 0: every array per world, nothing to hold); else the refusal naming both and the fix.
inline std::string slot_refusal(int64_t nslot, int64_t groups) {
  if (nslot == 0 || nslot >= groups) return "";
  return "the persistent launch runs " + std::to_string(groups) +
         " lane groups, each stepping its worlds in its own workspace slot, and this Simulator(workspace='group') "
         "has " + std::to_string(nslot) +
         " slots: build the Simulator on the device that steps it (it allocates the slots of that device's "
         "launch, pywarp_sim.simt.cuda_group_slots), or use workspace='world'";
}

// The actuators' transmission, dynamics, gain and bias types (host arrays): the step runs joint
// and fixed-tendon transmissions, dynamics none / integrator / filter / filterexact, fixed or
// affine gain and bias, as actuation.h.
inline std::string step_refusal_tables(int nu, const int* trntype, const int* dyntype, const int* gaintype,
                                       const int* biastype) {
  for (int i = 0; i < nu; ++i) {
    if (trntype[i] != 0 && trntype[i] != 1 && trntype[i] != kTrnTendon)
      return "actuator " + std::to_string(i) + " has transmission type " + std::to_string(trntype[i]) +
             ": the lane-group step runs joint and fixed-tendon transmissions";
    if (dyntype[i] < kDynNone || dyntype[i] > kDynFilterExact)
      return "actuator " + std::to_string(i) + " has dynamics type " + std::to_string(dyntype[i]) +
             ": the lane-group step runs none, integrator, filter and filterexact";
    if (gaintype[i] > kGainAffine || biastype[i] > kBiasAffine)
      return "actuator " + std::to_string(i) + " has a gain or bias type other than fixed or affine";
  }
  return "";
}

}  // namespace simt
}  // namespace pws
