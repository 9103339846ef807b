// Native-only: kernels/equality.h's make_equality and equality_jdotv and kernels/constraint.h's
// make_constraint (whose Warp references are equality.py and constraint.py) on a group of lanes, the
// GPU step's direction; pywarp_sim/simt.py runs it over a Simulator.
// mj_makeConstraint of ONE world on a group of lanes (kernels/simt.h): the constraint rows in
// forward.h's order (equality rows: connect, weld, joint and tendon couplings of the constraints the
// world's eq_active switches on; then constraint.h's dof friction loss, tendon friction loss, joint
// limits, tendon limits, contacts), each row's Jacobian and efc_type / id / pos / margin /
// frictionloss / R / K / B / D as equality.h and constraint.h write them, and the equality rows'
// efc_jdotv, bit for bit (support.h's impedance_kb, impedance's operations, the same expressions):
//
//   equality rows               a constraint at a time in eqid order (a humanoid has a few): every
//                               lane forms the frame (anchors, weld orientations, the coupling's
//                               error and derivative) and then its dofs' Jacobian columns (the
//                               point_jac_row sums on zeroed rows, the weld's quaternion map),
//                               a ballot drops a constraint whose rows are all zero (as
//                               make_equality), a lane per row its scalars
//   equality Jdot qvel          a lane per constraint with rows (equality_jdotv's chain walks)
//   rows are allocated by prefix sums over what each item actually produces (no capacity per
//   candidate): items (dofs, tendons, joints, contacts) over lanes, N at a time, each lane
//   counting its rows (0, 1 or 2 per joint or tendon limit, 0 / 1 / 2 (dim - 1) per contact);
//   an inclusive prefix sum over the lanes gives each lane its first row; a later phase writes
//   them. The capacity nefc_max is kept as constraint.h keeps it: friction and limit rows are
//   written while their index is below it, a contact only when all its rows fit (and none after
//   the first that does not: with monotone row ends that is "end <= nefc_max").
//   friction and limit rows     a lane per item writes its rows, Jacobian included (nv entries)
//   contact rows                a lane per contact: impedance, R (the pyramid's facets share the
//                               first facet's impedance, K and B; an elliptic cone's normal row
//                               has its impedance, K, B, efc_dim and efc_coef, its friction rows
//                               R scaled by impratio and the friction ratios, B of solreffriction:
//                               constraint.h's formulas)
//   contact Jacobians           a lane per (contact, dof): the dof's column of every direction
//                               (contact_frame_jac's sums: +J(b2) then -J(b1), chain membership
//                               tested by walking dof_parentid), then the pyramid's facets
//                               n +- mu_k d_k, the elliptic cone's directions as they are, or the
//                               frictionless normal
// Refused, by name (the callers check: pywarp_sim.simt, csrc/simt_bindings.cpp): limited ball joints (their angle needs atan2f) and solimp powers other
// than 1 and 2, equality constraints' included (impedance's powf): CUDA's and glibc's differ in the
// last bit and CUDA's hold FMAs
// (kernels/simt.h rules 3 and 4). Here a limited ball joint whose range the angle can leave makes a
// row of NaN, and another power a NaN impedance: a caller that skips the check sees non-finite rows,
// not wrong ones.
//
// Per-model schedule data: none beyond the Model view. Scratch: nconmax + neq ints
// (constraint_scratch_ints): the first row of each contact, then of each equality constraint (-1:
// none), the group's own (its shared array on the GPU, as collision's scratch), dead after the call.
//
// The caller runs it where forward.h's forward_rest runs make_equality + make_constraint (under
// m.en_constraint), after collision (con_*), the smooth stage (xpos, xmat, xquat, site_xpos, cdof,
// cdof_dot, cvel, subtree_com) and tendon (ten_length).
#pragma once

#include "constraint.h"
#include "equality.h"
#include "simt.h"
#include "simt_collision.h"
#include "simt_smooth.h"
#include "simt_solver.h"
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
  kConstraintStageEquality = 4,  // equality rows and their Jdot qvel
};

// ints of the scratch make_constraint needs: `contact_row` (nconmax), then `eq_row` (neq)
PWS_HD inline int constraint_scratch_ints(const ModelView<float>& m) { return m.nconmax + m.neq; }

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

// Rows of contact c: 0 in the gap (con_exclude), 1 frictionless, 2 (dim - 1) pyramid facets, dim
// elliptic cone rows.
template <typename G>
PWS_SIMT_FN inline int contact_rows(const G& g, const ModelView<float>& m, const World<float>& d, int c) {
  if (g.ld(d.con_exclude + c)) return 0;
  const int dim = g.ld(d.con_dim + c);
  return dim == 1 ? 1 : (m.cone_elliptic ? dim : 2 * (dim - 1));
}

// The scalars of elliptic contact c's dim rows from row r (constraint.h's elliptic branch): the
// normal row by add_row with R = r0 (the same value), efc_dim = dim, efc_coef = mu0 sqrt(r1 / r0);
// friction row k: R = r1 mu0^2 / mu_k-1^2, K = 0, B of solreffriction (solref when it is (0, 0)),
// efc_coef = mu_k-1; D = 1 / R (constraint.h's last loop).
template <typename G>
PWS_SIMT_FN inline void elliptic_rows(G& g, const ModelView<float>& m, const World<float>& d, int c, int r, int dim,
                                      typename G::real dist, typename G::real margin, typename G::real tran) {
  using R = typename G::real;
  R solimp[5], solref_f[2], friction[5];
  for (int k = 0; k < 5; ++k) solimp[k] = g.ld(d.con_solimp + 5 * c + k);
  for (int k = 0; k < 5; ++k) friction[k] = g.ld(d.con_friction + 5 * c + k);
  for (int k = 0; k < 2; ++k) solref_f[k] = g.ld(d.con_solreffriction + 2 * c + k);
  if (solref_f[0] == R(0) && solref_f[1] == R(0))
    for (int k = 0; k < 2; ++k) solref_f[k] = g.ld(d.con_solref + 2 * c + k);
  const R imp = impedance_simt(solimp, dist, margin);
  const R r0 = tmax(R(1e-15f), (R(1) - imp) * tran / imp);
  const R r1 = r0 / tmax(R(1e-15f), R(m.impratio));
  put_row(g, m, d, r, kCnstrContactElliptic, c, dist, margin, R(0), tran, d.con_solref + 2 * c,
          d.con_solimp + 5 * c, false);
  g.st(d.efc_R + r, r0);
  g.st(d.efc_D + r, R(1) / r0);
  g.st(d.efc_dim + r, dim);
  g.st(d.efc_coef + r, friction[0] * solver_sqrt(r1 / r0));
  R kk, bb;
  impedance_kb(solref_f, solimp, R(m.timestep), m.en_refsafe, &kk, &bb);
  for (int k = 1; k < dim; ++k) {
    const int q = r + k;
    const R rk = r1 * friction[0] * friction[0] / (friction[k - 1] * friction[k - 1]);
    g.st(d.efc_type + q, int(kCnstrContactElliptic));
    g.st(d.efc_id + q, c);
    g.st(d.efc_pos + q, R(0));
    g.st(d.efc_margin + q, R(0));
    g.st(d.efc_frictionloss + q, R(0));
    g.st(d.efc_K + q, R(0));
    g.st(d.efc_B + q, bb);
    g.st(d.efc_R + q, rk);
    g.st(d.efc_dim + q, 0);
    g.st(d.efc_coef + q, friction[k - 1]);
    g.st(d.efc_D + q, R(1) / rk);
  }
}

// ---- equality rows (equality.h make_equality, equality_jdotv) --------------------------------------

// One equality constraint's frame, the same on every lane: its bodies, anchors and (weld) the
// orientations of equality.h's rows; joint and tendon couplings: the error, its derivative and the
// diagonal (equality.h's expressions).
template <typename R>
struct EqFrame {
  int type, objtype, b1, b2, nrows;
  Vec3<R> p1, p2, cpos, crot;
  Quat<R> quat, negq1;
  R torquescale, norm, err, deriv, diag;
};

// equality.h's eq_anchor and weld_frame with the group's loads
template <typename G>
PWS_SIMT_FN inline Vec3<typename G::real> eq_anchor_simt(const G& g, const ModelView<float>& m, const World<float>& d,
                                                        int eqid, int side, int eqtype, int objtype, int objid) {
  using R = typename G::real;
  if (objtype == kObjSite) return ld3(g, d.site_xpos + 3 * objid);
  const int adr = eqtype == kEqWeld ? 3 * (1 - side) : 3 * side;
  const Vec3<R> local = ld3(g, m.eq_data + m.neqdata * eqid + adr);
  return mul(ld33(g, d.xmat + 9 * objid), local) + ld3(g, d.xpos + 3 * objid);
}
template <typename G>
PWS_SIMT_FN inline Quat<typename G::real> weld_frame_simt(const G& g, const ModelView<float>& m, const World<float>& d,
                                                         int eqid, int side, int objtype, int objid, int bodyid) {
  const Quat<typename G::real> q = ld4(g, d.xquat + 4 * bodyid);
  if (objtype == kObjSite) return quat_mul(q, ld4(g, m.site_quat + 4 * objid));
  if (side == 0) return quat_mul(q, ld4(g, m.eq_data + m.neqdata * eqid + 6));
  return q;
}

// The frame of active constraint eqid of type `type` (make_equality's scalars, in its operations).
template <typename G>
PWS_SIMT_FN inline EqFrame<typename G::real> eq_frame(const G& g, const ModelView<float>& m, const World<float>& d,
                                                     int eqid, int type) {
  using R = typename G::real;
  EqFrame<R> f;
  f.type = type;
  f.nrows = type == kEqWeld ? 6 : (type == kEqConnect ? 3 : 1);
  const float* data = m.eq_data + m.neqdata * eqid;
  const int obj1 = g.ld(m.eq_obj1id + eqid), obj2 = g.ld(m.eq_obj2id + eqid);
  f.objtype = g.ld(m.eq_objtype + eqid);
  f.b1 = f.b2 = -1;
  f.crot = zero3<R>();
  if (type == kEqConnect || type == kEqWeld) {
    f.b1 = f.objtype == kObjSite ? g.ld(m.site_bodyid + obj1) : obj1;
    f.b2 = f.objtype == kObjSite ? g.ld(m.site_bodyid + obj2) : obj2;
    f.p1 = eq_anchor_simt(g, m, d, eqid, 0, type, f.objtype, obj1);
    f.p2 = eq_anchor_simt(g, m, d, eqid, 1, type, f.objtype, obj2);
    f.cpos = f.p1 - f.p2;
    if (type == kEqWeld) {
      f.torquescale = g.ld(data + 10);
      f.quat = weld_frame_simt(g, m, d, eqid, 0, f.objtype, obj1, f.b1);
      f.negq1 = quat_conj(weld_frame_simt(g, m, d, eqid, 1, f.objtype, obj2, f.b2));
      const Quat<R> qdif = quat_mul(f.negq1, f.quat);
      f.crot = vec3(f.torquescale * qdif[1], f.torquescale * qdif[2], f.torquescale * qdif[3]);
    }
    f.norm = solver_sqrt(dot(f.cpos, f.cpos) + dot(f.crot, f.crot));
    return f;
  }
  R value;
  if (type == kEqJoint) {
    const int qadr = g.ld(m.jnt_qposadr + obj1);
    value = g.ld(d.qpos + qadr) - g.ld(m.qpos0 + qadr);
    f.diag = g.ld(m.dof_invweight0 + g.ld(m.jnt_dofadr + obj1));
  } else {
    value = g.ld(d.ten_length + obj1) - g.ld(m.tendon_length0 + obj1);
    f.diag = g.ld(m.tendon_invweight0 + obj1);
  }
  f.err = value - g.ld(data);
  f.deriv = R(0);
  if (obj2 >= 0) {
    R dif;
    if (type == kEqJoint) {
      const int qadr = g.ld(m.jnt_qposadr + obj2);
      dif = g.ld(d.qpos + qadr) - g.ld(m.qpos0 + qadr);
      f.diag += g.ld(m.dof_invweight0 + g.ld(m.jnt_dofadr + obj2));
    } else {
      dif = g.ld(d.ten_length + obj2) - g.ld(m.tendon_length0 + obj2);
      f.diag += g.ld(m.tendon_invweight0 + obj2);
    }
    const R c1 = g.ld(data + 1), c2 = g.ld(data + 2), c3 = g.ld(data + 3), c4 = g.ld(data + 4);
    f.err -= dif * (c1 + dif * (c2 + dif * (c3 + dif * c4)));
    f.deriv = c1 + dif * (R(2) * c2 + dif * (R(3) * c3 + dif * R(4) * c4));
  }
  return f;
}

// Column i of constraint eqid's rows (f.nrows entries into col), as make_equality forms them:
// connect / weld translation J(p1 on b1) - J(p2 on b2) (point_jac_row's sums on zeroed rows), weld
// rotation 0.5 torquescale neg(q1) (jac0 - jac1) q0, joint / tendon couplings.
template <typename G>
PWS_SIMT_FN inline void eq_column(const G& g, const ModelView<float>& m, const World<float>& d, int eqid,
                                  const EqFrame<typename G::real>& f, int i, typename G::real* col) {
  using R = typename G::real;
  for (int k = 0; k < f.nrows; ++k) col[k] = R(0);
  if (f.type == kEqConnect || f.type == kEqWeld) {
    for (int side = 0; side < 2; ++side) {
      const int body = side == 0 ? f.b1 : f.b2;
      if (!on_chain(g, m, body, i)) continue;
      const R sign = side == 0 ? R(1) : R(-1);
      const Vec3<R> rel = (side == 0 ? f.p1 : f.p2) - ld3(g, d.subtree_com + 3 * g.ld(m.body_rootid + body));
      const Vec6<R> c = ld6(g, d.cdof + 6 * i);
      const Vec3<R> a = ang(c);
      for (int k = 0; k < f.nrows; ++k) {
        Vec3<R> e = zero3<R>();
        e[k % 3] = R(1);
        const R v = k < 3 ? dot(e, lin(c) + cross(a, rel)) : dot(e, a);
        col[k] += sign * v;
      }
    }
    if (f.type == kEqWeld) {
      const Quat<R> axis{{R(0), col[3], col[4], col[5]}};
      const Quat<R> q3 = quat_mul(quat_mul(f.negq1, axis), f.quat);
      for (int k = 0; k < 3; ++k) col[3 + k] = R(0.5) * f.torquescale * q3[k + 1];
    }
    return;
  }
  const int obj1 = g.ld(m.eq_obj1id + eqid), obj2 = g.ld(m.eq_obj2id + eqid);
  if (f.type == kEqJoint) {
    if (i == g.ld(m.jnt_dofadr + obj1)) col[0] = R(1);
    if (obj2 >= 0 && i == g.ld(m.jnt_dofadr + obj2)) col[0] -= f.deriv;
  } else {
    col[0] = g.ld(m.tendon_J + (int64_t)obj1 * m.nv + i);
    if (obj2 >= 0) col[0] = col[0] - f.deriv * g.ld(m.tendon_J + (int64_t)obj2 * m.nv + i);
  }
}

// make_equality on group g: the rows of the active constraints in eqid order from row 0 (a
// constraint after another at a time: a lane per dof forms its Jacobian columns, a ballot drops
// a constraint whose rows are all zero, as make_equality does), eq_row[eqid] its first row (-1:
// none). Returns efc_ne (every lane); writes it.
template <typename G>
PWS_SIMT_FN inline int make_equality(G& g, const ModelView<float>& m, const World<float>& d, int* eq_row) {
  using R = typename G::real;
  constexpr int N = G::size;
  const int nv = m.nv, ld = m.nv_pad;
  g.each(m.neq, [&](int e) { g.st(eq_row + e, -1); });
  int row = 0;
  for (int eqid = 0; m.en_equality && eqid < m.neq; ++eqid) {
    if (load_uniform(g, d.eq_active + eqid) == 0) continue;
    const int type = load_uniform(g, m.eq_type + eqid);
    const int nrows = type == kEqWeld ? 6 : (type == kEqConnect ? 3 : 1);
    if (row + nrows > m.nefc_max) break;  // cannot happen: rows_capacity counts every constraint
    // lane l forms the frame (the same loads on every lane: broadcasts), then the columns
    // i = l, l + N, ... (each's item order); the frame lives within the phase only, and what the
    // columns do not read is not formed
    Reg<bool, N> nonzero;
    g.each(N, [&](int l) {
      const EqFrame<R> f = eq_frame(g, m, d, eqid, type);
      bool nz = false;
      for (int i = l; i < nv; i += N) {
        R col[6];
        eq_column(g, m, d, eqid, f, i, col);
        for (int k = 0; k < nrows; ++k) {
          g.st(d.efc_J + (int64_t)(row + k) * ld + i, col[k]);
          nz = nz || !(col[k] == R(0));
        }
      }
      nonzero[l] = nz;
    });
    // the rows' scalars (a lane per row, its own frame): add_row at the norm of the violation
    // (connect, weld) or the error
    g.each(nrows, [&](int k) {
      const EqFrame<R> f = eq_frame(g, m, d, eqid, type);
      const bool pose = type == kEqConnect || type == kEqWeld;
      R diag = f.diag;
      if (pose) {
        const float* w1 = m.body_invweight0 + 2 * f.b1;
        const float* w2 = m.body_invweight0 + 2 * f.b2;
        diag = k < 3 ? g.ld(w1) + g.ld(w2) : g.ld(w1 + 1) + g.ld(w2 + 1);
      }
      put_row(g, m, d, row + k, kCnstrEquality, eqid, pose ? f.norm : f.err, R(0), R(0), diag,
              m.eq_solref + 2 * eqid, m.eq_solimp + 5 * eqid, false);
      if (pose) g.st(d.efc_pos + row + k, k < 3 ? f.cpos[k] : f.crot[k - 3]);
    });
    if (any(g, nonzero)) {
      g.each(1, [&](int) { g.st(eq_row + eqid, row); });
      row += nrows;
    }
  }
  g.each(1, [&](int) { g.st(d.efc_ne, row); });
  return row;
}

// equality.h's jac_dot_qvel with the group's loads (one lane walks the body's dof chain)
template <typename G>
PWS_SIMT_FN inline Vec6<typename G::real> jac_dot_qvel_simt(const G& g, const ModelView<float>& m, const World<float>& d,
                                                           int body, const Vec3<typename G::real>& point) {
  using R = typename G::real;
  const Vec3<R> offset = point - ld3(g, d.subtree_com + 3 * g.ld(m.body_rootid + body));
  const Vec6<R> v = ld6(g, d.cvel + 6 * body);
  const Vec3<R> pvel = lin(v) + cross(ang(v), offset);
  Vec3<R> jr = zero3<R>(), jp = zero3<R>();
  for (int i = g.ld(m.body_dofend + body); i >= 0; i = g.ld(m.dof_parentid + i)) {
    const Vec6<R> c = ld6(g, d.cdof + 6 * i);
    Vec6<R> cd = ld6(g, d.cdof_dot + 6 * i);
    const int jnt = g.ld(m.dof_jntid + i);
    const int jtype = g.ld(m.jnt_type + jnt);
    if (jtype == kJointBall || (jtype == kJointFree && i >= g.ld(m.jnt_dofadr + jnt) + 3))
      cd = cross_motion(ld6(g, d.cvel + 6 * g.ld(m.dof_bodyid + i)), c);
    const R qv = g.ld(d.qvel + i);
    const Vec3<R> a = ang(cd);
    jr = jr + qv * a;
    jp = jp + qv * (lin(cd) + cross(a, offset) + cross(ang(c), pvel));
  }
  return spatial(jr, jp);
}

// equality_jdotv on group g: efc_jdotv of the equality rows (Jdot qvel of connect and weld rows, 0
// for joint and tendon rows), a lane per constraint with rows (eq_row from make_equality).
template <typename G>
PWS_SIMT_FN inline void equality_jdotv(G& g, const ModelView<float>& m, const World<float>& d, const int* eq_row) {
  using R = typename G::real;
  g.each(m.neq, [&](int eqid) {
    const int r = g.ld(eq_row + eqid);
    if (r < 0) return;
    const int type = g.ld(m.eq_type + eqid);
    if (type != kEqConnect && type != kEqWeld) {
      g.st(d.efc_jdotv + r, R(0));
      return;
    }
    const int objtype = g.ld(m.eq_objtype + eqid);
    const int obj1 = g.ld(m.eq_obj1id + eqid), obj2 = g.ld(m.eq_obj2id + eqid);
    const int b1 = objtype == kObjSite ? g.ld(m.site_bodyid + obj1) : obj1;
    const int b2 = objtype == kObjSite ? g.ld(m.site_bodyid + obj2) : obj2;
    const Vec3<R> p1 = eq_anchor_simt(g, m, d, eqid, 0, type, objtype, obj1);
    const Vec3<R> p2 = eq_anchor_simt(g, m, d, eqid, 1, type, objtype, obj2);
    const Vec6<R> s1 = jac_dot_qvel_simt(g, m, d, b1, p1);
    const Vec6<R> s2 = jac_dot_qvel_simt(g, m, d, b2, p2);
    const Vec3<R> dlin = lin(s1) - lin(s2);
    for (int k = 0; k < 3; ++k) g.st(d.efc_jdotv + r + k, dlin[k]);
    if (type != kEqWeld) return;
    // d/dt of 0.5 neg(q1) (J0 - J1) qvel q0r, by the product rule (three terms)
    const R torquescale = g.ld(m.eq_data + m.neqdata * eqid + 10);
    const Quat<R> q0r = weld_frame_simt(g, m, d, eqid, 0, objtype, obj1, b1);
    const Quat<R> q1 = weld_frame_simt(g, m, d, eqid, 1, objtype, obj2, b2);
    const Quat<R> negq1 = quat_conj(q1);
    const Vec3<R> omega1 = ang(ld6(g, d.cvel + 6 * b1));
    const Vec3<R> omega2 = ang(ld6(g, d.cvel + 6 * b2));
    const Vec3<R> domega = omega1 - omega2;
    Quat<R> qdot0r;
    if (objtype == kObjSite)
      qdot0r = deriv_quat(q0r, omega1);
    else
      qdot0r = quat_mul(deriv_quat(ld4(g, d.xquat + 4 * b1), omega1), ld4(g, m.eq_data + m.neqdata * eqid + 6));
    const Quat<R> negqdot1 = quat_conj(deriv_quat(q1, omega2));
    const Vec3<R> djr = ang(s1) - ang(s2);
    const Quat<R> dw{{R(0), domega[0], domega[1], domega[2]}};
    const Quat<R> t1 = quat_mul(quat_mul(negqdot1, dw), q0r);
    const Quat<R> t2 = quat_mul(quat_mul(negq1, Quat<R>{{R(0), djr[0], djr[1], djr[2]}}), q0r);
    const Quat<R> t3 = quat_mul(quat_mul(negq1, dw), qdot0r);
    for (int k = 0; k < 3; ++k)
      g.st(d.efc_jdotv + r + 3 + k, R(0.5) * torquescale * (t1[k + 1] + t2[k + 1] + t3[k + 1]));
  });
}

// mj_makeConstraint of one world on group g (forward.h's make_equality + make_constraint), and the equality rows' efc_jdotv (equality_jdotv, which forward.h runs
// after the smooth acceleration: it reads only the smooth stage's outputs): writes efc_ne, efc_nefc,
// the rows and efc_jdotv. scratch: constraint_scratch_ints(m) ints (contact_row, eq_row).
template <typename G>
PWS_SIMT_FN inline void make_constraint(G& g, const ModelView<float>& m, const World<float>& d, int* scratch) {
  using R = typename G::real;
  const int nv = m.nv, ld = m.nv_pad, cap = m.nefc_max;
  int* contact_row = scratch;
  int* eq_row = scratch + m.nconmax;
  g.stage(kConstraintStageEquality);
  int row = make_equality(g, m, d, eq_row);
  equality_jdotv(g, m, d, eq_row);

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
      g.each(n, [&](int i) { cnt[g.lane()] = contact_rows(g, m, d, c0 + i); });
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
        if (m.cone_elliptic) {
          elliptic_rows(g, m, d, c, r, dim, dist, margin, tran);
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
      if (dim == 1 || m.cone_elliptic) {
        for (int k = 0; k < dim; ++k) g.st(j0 + (int64_t)k * ld + i, v[k]);
        return;
      }
      for (int k = 1; k < dim; ++k) {
        const R mu = g.ld(d.con_friction + 5 * c + k - 1);
        g.st(j0 + (int64_t)(2 * k - 2) * ld + i, v[0] + mu * v[k]);
        g.st(j0 + (int64_t)(2 * k - 1) * ld + i, v[0] - mu * v[k]);
      }
    });
  }

  g.each(1, [&](int) { g.st(d.efc_nefc, row); });
}

}  // namespace simt
}  // namespace pws
