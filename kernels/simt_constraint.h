// Native-only: kernels/constraint.h's make_constraint (whose Warp reference is constraint.py) on a
// group of lanes, the GPU step's direction; pywarp_sim/simt.py runs it over a Simulator.
// mj_makeConstraint of ONE world on a group of lanes (kernels/simt.h): the constraint rows in
// constraint.h's order (dof friction loss, tendon friction loss, joint limits, tendon limits,
// contacts), each row's Jacobian and efc_type / id / pos / margin / frictionloss / R / K / B / D as
// constraint.h writes them, bit for bit (support.h's impedance_kb, impedance's operations, the same
// expressions):
//
//   rows are allocated by prefix sums over what each item actually produces (no capacity per
//   candidate): items (dofs, tendons, joints, contacts) over lanes, N at a time, each lane
//   counting its rows (0, 1 or 2 per joint or tendon limit, 0 / 1 / 2 (dim - 1) per contact);
//   an inclusive prefix sum over the lanes gives each lane its first row; a later phase writes
//   them. The capacity nefc_max is kept as constraint.h keeps it: friction and limit rows are
//   written while their index is below it, a contact only when all its rows fit (and none after
//   the first that does not: with monotone row ends that is "end <= nefc_max").
//   friction and limit rows     a lane per item writes its rows, Jacobian included (nv entries)
//   contact rows                a lane per contact: impedance, R (the pyramid's facets share the
//                               first facet's impedance, K and B: constraint.h's formulas)
//   contact Jacobians           a lane per (contact, dof): the dof's column of every direction
//                               (contact_frame_jac's sums: +J(b2) then -J(b1), chain membership
//                               tested by walking dof_parentid), then the pyramid's facets
//                               n +- mu_k d_k or the frictionless normal
// Refused (the callers check, by name: pywarp_sim.simt, csrc/simt_bindings.cpp): elliptic cones
// (m.cone_elliptic) and equality rows (m.en_equality): the rows start at 0 and efc_ne is written
// 0, as make_equality does for a model without equality constraints.
// Also refused, by name: limited ball joints (their angle needs atan2f) and solimp powers other
// than 1 and 2 (impedance's powf): CUDA's and glibc's differ in the last bit and CUDA's hold FMAs
// (kernels/simt.h rules 3 and 4). Here a limited ball joint whose range the angle can leave makes a
// row of NaN, and another power a NaN impedance: a caller that skips the check sees non-finite rows,
// not wrong ones.
//
// Per-model schedule data: none beyond the Model view. Scratch: `contact_row`, nconmax ints
// (constraint_scratch_ints), the first row of each contact (-1: none), the group's own (its shared
// array on the GPU, as collision's scratch), dead after the call.
//
// The caller runs it where forward.h's forward_rest runs make_equality + make_constraint (under
// m.en_constraint), after collision (con_*), the smooth stage (cdof, subtree_com) and tendon
// (ten_length).
#pragma once

#include "constraint.h"
#include "simt.h"
#include "simt_collision.h"
#include "simt_smooth.h"
#include "support.h"
#include "types.h"

namespace pws {
namespace simt {

// Stages of the recorder (Recorder::Stats per stage)
enum : int {
  kConstraintStageFriction = 0,  // dof and tendon friction loss
  kConstraintStageLimits = 1,    // joint and tendon limits
  kConstraintStageContactRows = 2,
  kConstraintStageContactJacobian = 3,
};

// ints of the `contact_row` scratch make_constraint needs
PWS_HD inline int constraint_scratch_ints(const ModelView<float>& m) { return m.nconmax; }

// support.h's impedance for solimp powers 1 and 2 (MuJoCo's default is 2): the same operations in
// the same order, without the powf branch, whose code the kernel must not hold (see above).
template <typename R>
PWS_SIMT_FN inline R impedance_simt(const R* solimp, R pos, R margin) {
  using ::pws::pws_abs;  // float's, next to the counting float's
  const R minimp = R(0.0001f), maximp = R(0.9999f);
  R dmin = tmin(maximp, tmax(minimp, solimp[0]));
  R dmax = tmin(maximp, tmax(minimp, solimp[1]));
  R width = tmax(R(0), solimp[2]);
  R mid = tmin(maximp, tmax(minimp, solimp[3]));
  R power = tmax(R(1), solimp[4]);
  if (dmin == dmax || width <= R(1e-15f)) return R(0.5f) * (dmin + dmax);
  R x = pws_abs((pos - margin) / width);
  if (x >= R(1)) return dmax;
  if (x <= R(0)) return dmin;
  R y = x;
  if (power != R(1)) {
    if (power == R(2)) {
      if (x <= mid)
        y = x * x / mid;
      else
        y = R(1) - (R(1) - x) * (R(1) - x) / (R(1) - mid);
    } else {
      y = R(0) / R(0);  // refused by the callers
    }
  }
  return dmin + y * (dmax - dmin);
}

// support.h's add_row with the group's stores: type, id, pos, margin, frictionloss, R, K, B of
// row `row`, and D = 1 / R (constraint.h's last loop). solref / solimp in global memory.
template <typename G>
PWS_SIMT_FN inline void put_row(G& g, const ModelView<float>& m, const World<float>& d, int row, int type, int id,
                                typename G::real pos, typename G::real margin, typename G::real frictionloss,
                                typename G::real diag_a, const float* solref_p, const float* solimp_p,
                                bool is_friction) {
  using R = typename G::real;
  R solref[2], solimp[5];
  for (int i = 0; i < 2; ++i) solref[i] = g.ld(solref_p + i);
  for (int i = 0; i < 5; ++i) solimp[i] = g.ld(solimp_p + i);
  R imp = impedance_simt(solimp, pos, margin);
  R k, b;
  impedance_kb(solref, solimp, R(m.timestep), m.en_refsafe, &k, &b);
  R r = tmax(R(1e-15f), (R(1) - imp) * diag_a / imp);
  g.st(d.efc_type + row, type);
  g.st(d.efc_id + row, id);
  g.st(d.efc_pos + row, pos);
  g.st(d.efc_margin + row, margin);
  g.st(d.efc_frictionloss + row, frictionloss);
  g.st(d.efc_R + row, r);
  g.st(d.efc_K + row, is_friction ? R(0) : k * imp);
  g.st(d.efc_B + row, b);
  g.st(d.efc_D + row, R(1) / r);
}

// Rows of `nitem` items allocated by prefix sums, N items at a time: count(i) -> rows of item i
// (inside a phase), write(i, first_row) writes them (a later phase). Returns the row after the
// last one found (rows at or past the capacity are the writer's to drop).
template <typename G, typename Count, typename Write>
PWS_SIMT_FN inline int allocate_rows(G& g, int nitem, int row, Count&& count, Write&& write) {
  constexpr int N = G::size;
  for (int i0 = 0; i0 < nitem; i0 += N) {
    const int n = nitem - i0 < N ? nitem - i0 : N;
    Reg<int, N> cnt;
    g.lanes([&](int l) { cnt[l] = 0; });
    g.each(n, [&](int i) { cnt[g.lane()] = count(i0 + i); });
    const Reg<int, N> end = inclusive_scan(g, cnt);
    g.each(n, [&](int i) {
      const int l = g.lane();
      if (cnt[l] > 0) write(i0 + i, row + end[l] - cnt[l]);
    });
    row += from_lane(g, end, N - 1);
  }
  return row;
}

// A Jacobian row with one nonzero, written by one lane (clear_row, then the entry).
template <typename G>
PWS_SIMT_FN inline void unit_row(G& g, const ModelView<float>& m, const World<float>& d, int row, int dof,
                                 typename G::real value) {
  using R = typename G::real;
  float* jrow = d.efc_J + (int64_t)row * m.nv_pad;
  for (int i = 0; i < m.nv; ++i) g.st(jrow + i, i == dof ? value : R(0));
}

// Whether dof i is on body b's dof chain (body_dofend, then dof_parentid: descending indices).
template <typename G>
PWS_SIMT_FN inline bool on_chain(const G& g, const ModelView<float>& m, int b, int i) {
  int j = g.ld(m.body_dofend + b);
  while (j > i) j = g.ld(m.dof_parentid + j);
  return j == i && j >= 0;
}

// Rows of joint j's limit (0, 1 or 2) and, with `write`, the rows from `row` on, each while its
// index is below the capacity (constraint.h's joint-limit loop body).
template <typename G>
PWS_SIMT_FN inline int joint_limit_rows(G& g, const ModelView<float>& m, const World<float>& d, int j, bool write,
                                        int row) {
  using R = typename G::real;
  if (!g.ld(m.jnt_limited + j)) return 0;
  const R margin = g.ld(m.jnt_margin + j);
  const R rng[2] = {g.ld(m.jnt_range + 2 * j), g.ld(m.jnt_range + 2 * j + 1)};
  const int dofadr = g.ld(m.jnt_dofadr + j), qadr = g.ld(m.jnt_qposadr + j), jtype = g.ld(m.jnt_type + j);
  const int cap = m.nefc_max;
  int n = 0;
  if (jtype == kJointBall) {
    // refused by the callers (the angle needs atan2f): a row of NaN where the limit may be violated
    // (the angle is at most pi)
    if (tmax(rng[0], rng[1]) - R(3.14159265f) < margin) {
      if (write && row < cap) {
        const R nan = R(0) / R(0);
        float* jrow = d.efc_J + (int64_t)row * m.nv_pad;
        for (int i = 0; i < m.nv; ++i) g.st(jrow + i, nan);
        put_row(g, m, d, row, kCnstrLimitJoint, j, nan, margin, R(0), nan, m.jnt_solref + 2 * j,
                m.jnt_solimp + 5 * j, false);
      }
      n = 1;
    }
  } else if (jtype != kJointFree) {
    const R value = g.ld(d.qpos + qadr);
    for (int s = 0; s < 2; ++s) {
      R side = R(float(2 * s - 1));
      R dist = side * (rng[s] - value);
      if (dist < margin) {
        if (write && row + n < cap) {
          unit_row(g, m, d, row + n, dofadr, -side);
          put_row(g, m, d, row + n, kCnstrLimitJoint, j, dist, margin, R(0), R(g.ld(m.dof_invweight0 + dofadr)),
                  m.jnt_solref + 2 * j, m.jnt_solimp + 5 * j, false);
        }
        ++n;
      }
    }
  }
  return n;
}

// Tendon t's limit rows (constraint.h's tendon-limit loop body), as joint_limit_rows.
template <typename G>
PWS_SIMT_FN inline int tendon_limit_rows(G& g, const ModelView<float>& m, const World<float>& d, int t, bool write,
                                         int row) {
  using R = typename G::real;
  if (!g.ld(m.tendon_limited + t)) return 0;
  const R margin = g.ld(m.tendon_margin + t);
  const R value = g.ld(d.ten_length + t);
  const float* jt = m.tendon_J + (int64_t)t * m.nv;
  int n = 0;
  for (int s = 0; s < 2; ++s) {
    R side = R(float(2 * s - 1));
    R dist = side * (g.ld(m.tendon_range + 2 * t + s) - value);
    if (dist < margin) {
      if (write && row + n < m.nefc_max) {
        float* jrow = d.efc_J + (int64_t)(row + n) * m.nv_pad;
        for (int i = 0; i < m.nv; ++i) g.st(jrow + i, -side * g.ld(jt + i));
        put_row(g, m, d, row + n, kCnstrLimitTendon, t, dist, margin, R(0), R(g.ld(m.tendon_invweight0 + t)),
                m.tendon_solref_lim + 2 * t, m.tendon_solimp_lim + 5 * t, false);
      }
      ++n;
    }
  }
  return n;
}

// Rows of contact c: 0 in the gap (con_exclude), 1 frictionless, 2 (dim - 1) pyramid facets.
template <typename G>
PWS_SIMT_FN inline int contact_rows(const G& g, const World<float>& d, int c) {
  if (g.ld(d.con_exclude + c)) return 0;
  const int dim = g.ld(d.con_dim + c);
  return dim == 1 ? 1 : 2 * (dim - 1);
}

// mj_makeConstraint of one world on group g (constraint.h's make_constraint for models without
// equality constraints or elliptic cones): writes efc_ne (0), efc_nefc and the rows. contact_row:
// nconmax ints of scratch (constraint_scratch_ints).
template <typename G>
PWS_SIMT_FN inline void make_constraint(G& g, const ModelView<float>& m, const World<float>& d, int* contact_row) {
  using R = typename G::real;
  const int nv = m.nv, ld = m.nv_pad, cap = m.nefc_max;
  int row = 0;

  g.stage(kConstraintStageFriction);
  if (m.en_friction) {
    row = allocate_rows(
        g, nv, row, [&](int i) { return g.ld(d.dof_frictionloss + i) > R(0) ? 1 : 0; },
        [&](int i, int r) {
          if (r >= cap) return;
          unit_row(g, m, d, r, i, R(1));
          put_row(g, m, d, r, kCnstrFrictionDof, i, R(0), R(0), R(g.ld(d.dof_frictionloss + i)),
                  R(g.ld(m.dof_invweight0 + i)), m.dof_solref + 2 * i, m.dof_solimp + 5 * i, true);
        });
    row = row < cap ? row : cap;
    row = allocate_rows(
        g, m.ntendon, row, [&](int t) { return g.ld(m.tendon_frictionloss + t) > R(0) ? 1 : 0; },
        [&](int t, int r) {
          if (r >= cap) return;
          float* jrow = d.efc_J + (int64_t)r * ld;
          const float* jt = m.tendon_J + (int64_t)t * nv;
          for (int i = 0; i < nv; ++i) g.st(jrow + i, R(g.ld(jt + i)));
          put_row(g, m, d, r, kCnstrFrictionTendon, t, R(0), R(0), R(g.ld(m.tendon_frictionloss + t)),
                  R(g.ld(m.tendon_invweight0 + t)), m.tendon_solref_fri + 2 * t, m.tendon_solimp_fri + 5 * t, true);
        });
    row = row < cap ? row : cap;
  }

  g.stage(kConstraintStageLimits);
  if (m.en_limit) {
    row = allocate_rows(
        g, m.njnt, row, [&](int j) { return joint_limit_rows(g, m, d, j, false, 0); },
        [&](int j, int r) { joint_limit_rows(g, m, d, j, true, r); });
    row = row < cap ? row : cap;
    row = allocate_rows(
        g, m.ntendon, row, [&](int t) { return tendon_limit_rows(g, m, d, t, false, 0); },
        [&](int t, int r) { tendon_limit_rows(g, m, d, t, true, r); });
    row = row < cap ? row : cap;
  }

  if (m.en_contact) {
    g.stage(kConstraintStageContactRows);
    constexpr int N = G::size;
    const int ncon = load_uniform(g, d.con_ncon);
    // A contact is written when all its rows fit (constraint.h stops at the first that does
    // not); row ends grow with c, so the contacts written are a prefix and the rows end at the
    // last one's end.
    int written = row;
    for (int c0 = 0; c0 < ncon; c0 += N) {
      const int n = ncon - c0 < N ? ncon - c0 : N;
      Reg<int, N> cnt;
      Reg<bool, N> fits;
      g.lanes([&](int l) {
        cnt[l] = 0;
        fits[l] = false;
      });
      g.each(n, [&](int i) { cnt[g.lane()] = contact_rows(g, d, c0 + i); });
      Reg<int, N> end = inclusive_scan(g, cnt);
      g.lanes([&](int l) { end[l] = row + end[l]; });
      g.each(n, [&](int i) {
        const int l = g.lane(), c = c0 + i, r = end[l] - cnt[l];
        fits[l] = end[l] <= cap;
        g.st(contact_row + c, cnt[l] > 0 && fits[l] ? r : -1);
        if (cnt[l] == 0 || !fits[l]) return;
        const int dim = g.ld(d.con_dim + c);
        const int b1 = g.ld(m.geom_bodyid + g.ld(d.con_geom + 2 * c));
        const int b2 = g.ld(m.geom_bodyid + g.ld(d.con_geom + 2 * c + 1));
        const R dist = g.ld(d.con_dist + c), margin = g.ld(d.con_includemargin + c);
        const R tran = g.ld(m.body_invweight0 + 2 * b1) + g.ld(m.body_invweight0 + 2 * b2);
        if (dim == 1) {
          put_row(g, m, d, r, kCnstrContactFrictionless, c, dist, margin, R(0), tran, d.con_solref + 2 * c,
                  d.con_solimp + 5 * c, false);
          return;
        }
        // every facet has the first one's impedance, K and B; R of every facet follows from the
        // first facet's (mj_makeImpedance with impratio)
        R solref[2], solimp[5];
        for (int k = 0; k < 2; ++k) solref[k] = g.ld(d.con_solref + 2 * c + k);
        for (int k = 0; k < 5; ++k) solimp[k] = g.ld(d.con_solimp + 5 * c + k);
        const R f0 = g.ld(d.con_friction + 5 * c);
        R imp = impedance_simt(solimp, dist, margin);
        R r0 = tmax(R(1e-15f), (R(1) - imp) * tran * (R(1) + f0 * f0) / imp);
        R mu2 = f0 * f0 / tmax(R(1e-15f), R(m.impratio));
        R rpy = R(2) * mu2 * r0;
        R kimp, b;
        impedance_kb(solref, solimp, R(m.timestep), m.en_refsafe, &kimp, &b);
        kimp = kimp * imp;
        const R dinv = R(1) / rpy;
        for (int q = r; q < end[l]; ++q) {
          g.st(d.efc_type + q, int(kCnstrContactPyramidal));
          g.st(d.efc_id + q, c);
          g.st(d.efc_pos + q, dist);
          g.st(d.efc_margin + q, margin);
          g.st(d.efc_frictionloss + q, R(0));
          g.st(d.efc_R + q, rpy);
          g.st(d.efc_K + q, kimp);
          g.st(d.efc_B + q, b);
          g.st(d.efc_D + q, dinv);
        }
      });
      const int nfit = popcount(g.ballot(fits));
      if (nfit > 0) written = from_lane(g, end, nfit - 1);
      row = from_lane(g, end, N - 1);
    }
    row = written;

    // the Jacobians: a lane per (contact, dof), the dof's column of every frame direction
    // (contact_frame_jac: 0 + J(point on b2) - J(point on b1) per entry), then the facets
    g.stage(kConstraintStageContactJacobian);
    g.each(ncon * nv, [&](int q) {
      const int c = q / nv, i = q - c * nv;
      const int r = g.ld(contact_row + c);
      if (r < 0) return;
      const int dim = g.ld(d.con_dim + c);
      const int b1 = g.ld(m.geom_bodyid + g.ld(d.con_geom + 2 * c));
      const int b2 = g.ld(m.geom_bodyid + g.ld(d.con_geom + 2 * c + 1));
      R v[6];
      for (int k = 0; k < dim; ++k) v[k] = R(0);
      for (int side = 0; side < 2; ++side) {
        const int body = side == 0 ? b2 : b1;
        if (!on_chain(g, m, body, i)) continue;
        const R sign = side == 0 ? R(1) : R(-1);
        const Mat33<R> frame = ld33(g, d.con_frame + 9 * c);
        const Vec3<R> rel = ld3(g, d.con_pos + 3 * c) - ld3(g, d.subtree_com + 3 * g.ld(m.body_rootid + body));
        const Vec6<R> cd = ld6(g, d.cdof + 6 * i);
        const Vec3<R> a = ang(cd);
        const Vec3<R> l = lin(cd) + cross(a, rel);
        for (int k = 0; k < dim; ++k) {
          R vk = k < 3 ? dot(row3(frame, k), l) : dot(row3(frame, k - 3), a);
          v[k] += sign * vk;
        }
      }
      float* j0 = d.efc_J + (int64_t)r * ld;
      if (dim == 1) {
        g.st(j0 + i, v[0]);
        return;
      }
      for (int k = 1; k < dim; ++k) {
        const R mu = g.ld(d.con_friction + 5 * c + k - 1);
        g.st(j0 + (int64_t)(2 * k - 2) * ld + i, v[0] + mu * v[k]);
        g.st(j0 + (int64_t)(2 * k - 1) * ld + i, v[0] - mu * v[k]);
      }
    });
  }

  g.each(1, [&](int) {
    g.st(d.efc_ne, 0);
    g.st(d.efc_nefc, row);
  });
}

}  // namespace simt
}  // namespace pws
