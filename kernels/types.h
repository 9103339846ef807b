// Twin of pywarp_sim/types.py: the native layout of the Model and Data fields declared there.
// Views of the Model and Data arrays used by the fused step (kernels/forward.h).
//
// Nothing here owns memory: every member is a raw pointer into the Simulator's Warp
// arrays (zero copy). The field lists below are the single source of truth for the
// layout: the bindings export them (names, element width, element count) and
// pywarp_sim/native_backend.py builds the pointer tables from them by name, checking
// dtype, shape and contiguity of each array against these entries.
//
//   X(name, width, count): `width` scalars per element, `count` elements per model (or
//   per world for Data), `count` being an expression of the sizes in PWS_SIZE_FIELDS.
#pragma once

#include <stdint.h>

#include "pws_common.h"

// ---- sizes and options (ints, then reals) ------------------------------------------------
#define PWS_SIZE_FIELDS(X)                                                                    \
  X(nq) X(nv) X(nu) X(na) X(nbody) X(njnt) X(ngeom) X(nsite) X(npair) X(nconmax)            \
  X(nefc_max) X(nv_pad) X(nu_pad) X(na_pad) X(ncon_pad)                                      \
  X(ntendon) X(nwrap) X(ntendon_pad) X(nsensor) X(nsensordata_pad)                           \
  X(nmesh) X(nmeshvert) X(nmeshgraph) X(nmeshpoly) X(nmeshpolyvert) X(nmeshpolymap)            \
  X(nmeshface) X(nhfieldtable) X(nmeshhullnbr)                                               \
  X(neq) X(neq_pad) X(neqdata)

#define PWS_OPTION_INTS(X)                                                                    \
  X(integrator)        /* IntegratorType: 0 Euler, 1 RK4, 3 implicitfast */                  \
  X(implicit_damping)  /* Euler: dof damping integrated implicitly */                         \
  X(cone_elliptic)     /* 1: elliptic friction cones, 0: pyramidal */                          \
  X(solver_type)       /* SolverType: 0 PGS, 1 CG, 2 Newton */                                \
  X(iterations) X(ls_iterations)                                                              \
  X(en_constraint) X(en_friction) X(en_limit) X(en_contact) X(en_spring) X(en_damper)        \
  X(en_gravity) X(en_clampctrl) X(en_warmstart) X(en_actuation) X(en_refsafe)                 \
  X(has_gravcomp)      /* some body has gravcomp != 0 */                                      \
  X(collision_on)      /* collision pairs exist and contacts are enabled */                    \
  X(auto_reset)        /* Health bits that trigger an auto reset (Simulator.reset_on); 0: off */                                     \
  X(ccd_iterations)    /* opt.ccd_iterations: GJK / EPA iteration limit (collision_gjk.h)   */    \
  X(multiccd)          /* 1: single-shot multicontact for convex pairs (mjDSBL_MULTICCD off) */ \
  X(has_convex)        /* some pair uses the convex collider: launch the step with it compiled in */ \
  X(en_sensor)         /* sensors to evaluate (nsensor > 0, mjDSBL_SENSOR off): kernels/sensor.h */ \
  X(sensor_rne_post)   /* a sensor reads cacc / cfrc_int after the solve (mj_rnePostConstraint) */ \
  X(sensor_subtree_vel) /* a sensor reads subtree_linvel / subtree_angmom (mj_subtreeVel) */ \
  X(en_equality)       /* equality rows (neq > 0, mjDSBL_EQUALITY off): kernels/equality.h */ \
  X(en_island)         /* constraint islands solved apart (mjDSBL_ISLAND off): solver.h */

#define PWS_OPTION_REALS(X)                                                                   \
  X(timestep) X(impratio) X(tolerance) X(ls_tolerance)                                        \
  X(solver_scale) /* 1 / (meaninertia * max(1, nv)) */                                        \
  X(max_qvel)     /* Simulator.max_qvel: VELOCITY_BOUND threshold */                         \
  X(ccd_tolerance) /* opt.ccd_tolerance: GJK / EPA stopping tolerance */                       \
  X(magnetic_x) X(magnetic_y) X(magnetic_z) /* opt.magnetic: magnetometer sensors */

// ---- Model arrays: I = int32, F = float, B = float parameter bank (nbank, count, width) ----
#define PWS_MODEL_ARRAYS(I, F, B)                                                            \
  I(body_parentid, 1, nbody) I(body_rootid, 1, nbody) I(body_jntnum, 1, nbody)              \
  I(body_jntadr, 1, nbody) I(body_dofnum, 1, nbody) I(body_dofadr, 1, nbody)                \
  I(body_dofend, 1, nbody)                                                                   \
  I(jnt_type, 1, njnt) I(jnt_bodyid, 1, njnt) I(jnt_qposadr, 1, njnt) I(jnt_dofadr, 1, njnt) \
  I(jnt_limited, 1, njnt) I(jnt_actfrclimited, 1, njnt)                                      \
  I(dof_bodyid, 1, nv) I(dof_jntid, 1, nv) I(dof_parentid, 1, nv)                            \
  I(geom_type, 1, ngeom) I(geom_bodyid, 1, ngeom) I(site_bodyid, 1, nsite)                   \
  I(actuator_trnid, 1, nu) I(actuator_dyntype, 1, nu) I(actuator_gaintype, 1, nu)           \
  I(actuator_biastype, 1, nu) I(actuator_ctrllimited, 1, nu) I(actuator_forcelimited, 1, nu) \
  I(actuator_actlimited, 1, nu) I(actuator_actadr, 1, nu) I(actuator_actearly, 1, nu)       \
  I(pair_geom1, 1, npair) I(pair_geom2, 1, npair) I(pair_collider, 1, npair)                \
  I(pair_condim, 1, npair) I(pair_friction_geom, 2, npair)                                   \
  I(pair_obb, 1, npair) F(geom_aabb, 6, ngeom) /* the midphase's box test (collision_driver.h) */ \
  F(body_pos, 3, nbody) F(body_quat, 4, nbody) F(body_iquat, 4, nbody)                       \
  F(body_gravcomp, 1, nbody) F(body_invweight0, 2, nbody)                                    \
  F(jnt_pos, 3, njnt) F(jnt_axis, 3, njnt) F(jnt_range, 2, njnt) F(jnt_margin, 1, njnt)     \
  F(jnt_solref, 2, njnt) F(jnt_solimp, 5, njnt) F(jnt_actfrcrange, 2, njnt)                  \
  F(qpos0, 1, nq) F(qpos_spring, 1, nq)                                                      \
  F(dof_solref, 2, nv) F(dof_solimp, 5, nv) F(dof_invweight0, 1, nv)                         \
  F(geom_pos, 3, ngeom) F(geom_quat, 4, ngeom) F(geom_size, 3, ngeom) F(geom_rbound, 1, ngeom) \
  F(site_pos, 3, nsite) F(site_quat, 4, nsite)                                               \
  F(actuator_dynprm, 3, nu) F(actuator_ctrlrange, 2, nu) F(actuator_forcerange, 2, nu)      \
  F(actuator_actrange, 2, nu)                                                                \
  F(pair_friction, 5, npair) F(pair_solref, 2, npair) F(pair_solreffriction, 2, npair)      \
  F(pair_solimp, 5, npair) F(pair_margin, 1, npair) F(pair_gap, 1, npair)                    \
  B(body_ipos, 3, nbody) B(body_mass, 1, nbody) B(body_inertia, 3, nbody)                    \
  B(jnt_stiffness, 1, njnt) B(dof_armature, 1, nv) B(dof_damping, 1, nv)                     \
  B(dof_frictionloss, 1, nv) B(actuator_gainprm, 3, nu) B(actuator_biasprm, 3, nu)           \
  B(actuator_gear, 1, nu) B(gravity, 3, 1) B(geom_friction, 3, ngeom)                      \
  I(actuator_trntype, 1, nu)                                                                 \
  /* fixed tendons: length = sum of wrap_prm * qpos over wrap_jnt; constant Jacobian */     \
  I(tendon_adr, 1, ntendon) I(tendon_num, 1, ntendon) I(tendon_limited, 1, ntendon)         \
  I(wrap_jnt, 1, nwrap) F(wrap_prm, 1, nwrap) F(tendon_J, 1, ntendon * nv)                   \
  F(tendon_range, 2, ntendon) F(tendon_margin, 1, ntendon) F(tendon_solref_lim, 2, ntendon) \
  F(tendon_solimp_lim, 5, ntendon) F(tendon_solref_fri, 2, ntendon)                         \
  F(tendon_solimp_fri, 5, ntendon) F(tendon_frictionloss, 1, ntendon)                       \
  F(tendon_invweight0, 1, ntendon) F(tendon_stiffness, 1, ntendon)                          \
  F(tendon_damping, 1, ntendon) F(tendon_lengthspring, 2, ntendon)                          \
  /* sensors (MuJoCo's tables) and the touch zones' site shapes */                          \
  I(sensor_type, 1, nsensor) I(sensor_datatype, 1, nsensor) I(sensor_needstage, 1, nsensor)  \
  I(sensor_objtype, 1, nsensor) I(sensor_objid, 1, nsensor) I(sensor_reftype, 1, nsensor)    \
  I(sensor_refid, 1, nsensor) I(sensor_adr, 1, nsensor) F(sensor_cutoff, 1, nsensor)         \
  I(site_type, 1, nsite) F(site_size, 3, nsite)                                             \
  /* meshes (MuJoCo's compiled tables, shared by all worlds): vertices, hull graph, polygons */ \
  I(geom_dataid, 1, ngeom) I(mesh_vertadr, 1, nmesh) I(mesh_vertnum, 1, nmesh)               \
  F(mesh_vert, 3, nmeshvert) I(mesh_graphadr, 1, nmesh) I(mesh_graph, 1, nmeshgraph)         \
  I(mesh_extrema, 1, 27 * nmesh)                                                             \
  /* the hill climb's neighbour blocks (io._hull_neighbours): hull vertex k of mesh m at          \
     mesh_vertadr[m] + k: its neighbours from slot mesh_hullnbradr, mesh_hullnbrnum of them     \
     (a multiple of 4); per block of 4 slots 4 x, 4 y, 4 z in mesh_hullnbr, their hull ids */   \
  I(mesh_hullnbradr, 1, nmeshvert) I(mesh_hullnbrnum, 1, nmeshvert)                           \
  I(mesh_hullnbrid, 1, nmeshhullnbr) F(mesh_hullnbr, 1, 3 * nmeshhullnbr)                     \
  I(mesh_polyadr, 1, nmesh) I(mesh_polyvertadr, 1, nmeshpoly) I(mesh_polyvertnum, 1, nmeshpoly) \
  I(mesh_polyvert, 1, nmeshpolyvert) F(mesh_polynormal, 3, nmeshpoly)                        \
  I(mesh_polymapadr, 1, nmeshvert) I(mesh_polymapnum, 1, nmeshvert) I(mesh_polymap, 1, nmeshpolymap) \
  /* what a rangefinder's ray meets (ray.h): mesh triangles (0 rows without a rangefinder) */ \
  I(geom_rayvisible, 1, ngeom) I(mesh_faceadr, 1, nmesh) I(mesh_facenum, 1, nmesh)           \
  I(mesh_face, 1, 3 * nmeshface)                                                             \
  /* height fields packed in one table (Model.hfield_table; collision_convex.h) */            \
  F(hfield_table, 1, nhfieldtable)                                                           \
  /* equality constraints (kernels/equality.h); eq_data: neqdata (mjNEQDATA) scalars each */  \
  I(eq_type, 1, neq) I(eq_obj1id, 1, neq) I(eq_obj2id, 1, neq) I(eq_objtype, 1, neq)         \
  I(eq_active0, 1, neq) F(eq_solref, 2, neq) F(eq_solimp, 5, neq) F(eq_data, 1, neq * neqdata) \
  F(tendon_length0, 1, ntendon)

// ---- Data arrays, per world: F = float, I = int32; G = global int32 counters ---------------
#define PWS_DATA_ARRAYS(F, I)                                                                \
  F(time, 1, 1) F(qpos, 1, nq) F(qvel, 1, nv) F(act, 1, na_pad) F(ctrl, 1, nu_pad)          \
  F(qacc, 1, nv) F(qacc_warmstart, 1, nv) F(act_dot, 1, na_pad) F(qfrc_applied, 1, nv)      \
  F(xfrc_applied, 6, nbody)                                                                  \
  F(xpos, 3, nbody) F(xquat, 4, nbody) F(xmat, 9, nbody) F(xipos, 3, nbody)                  \
  F(ximat, 9, nbody) F(xanchor, 3, njnt) F(xaxis, 3, njnt) F(geom_xpos, 3, ngeom)            \
  F(geom_xmat, 9, ngeom) F(site_xpos, 3, nsite) F(site_xmat, 9, nsite)                       \
  F(subtree_com, 3, nbody) F(subtree_mass, 1, nbody) F(cinert, 10, nbody) F(cdof, 6, nv)     \
  F(cvel, 6, nbody) F(cdof_dot, 6, nv) F(cacc, 6, nbody) F(cfrc_int, 6, nbody)               \
  F(crb, 10, nbody)                                                                          \
  F(qM, 1, nv * nv) F(qLD, 1, nv * nv) F(qLDiagInv, 1, nv) F(qH, 1, nv * nv)                 \
  F(qHDiagInv, 1, nv)                                                                        \
  F(actuator_length, 1, nu_pad) F(actuator_velocity, 1, nu_pad) F(actuator_force, 1, nu_pad) \
  F(qfrc_bias, 1, nv) F(qfrc_spring, 1, nv) F(qfrc_damper, 1, nv) F(qfrc_gravcomp, 1, nv)   \
  F(qfrc_passive, 1, nv) F(qfrc_actuator, 1, nv) F(qfrc_smooth, 1, nv)                       \
  F(qacc_smooth, 1, nv) F(qfrc_constraint, 1, nv)                                            \
  F(qpos_t0, 1, nq) F(qvel_t0, 1, nv) F(act_t0, 1, na_pad) F(rk_dqvel, 1, nv)               \
  F(rk_dqacc, 1, nv) F(rk_dact, 1, na_pad) F(qfrc_scratch, 1, nv) F(qacc_scratch, 1, nv)    \
  F(con_dist, 1, ncon_pad) F(con_pos, 3, ncon_pad) F(con_frame, 9, ncon_pad)                 \
  F(con_includemargin, 1, ncon_pad) F(con_friction, 5, ncon_pad) F(con_solref, 2, ncon_pad)  \
  F(con_solreffriction, 2, ncon_pad) F(con_solimp, 5, ncon_pad)                              \
  F(efc_J, 1, nefc_max * nv_pad) F(efc_pos, 1, nefc_max) F(efc_margin, 1, nefc_max)          \
  F(efc_frictionloss, 1, nefc_max) F(efc_D, 1, nefc_max) F(efc_R, 1, nefc_max)               \
  F(efc_K, 1, nefc_max) F(efc_B, 1, nefc_max) F(efc_vel, 1, nefc_max)                        \
  F(efc_aref, 1, nefc_max) F(efc_force, 1, nefc_max) F(efc_coef, 1, nefc_max)                \
  F(efc_cone_H, 1, nefc_max * 6) F(efc_jv, 1, nefc_max) F(efc_jar, 1, nefc_max)              \
  F(efc_H, 1, nv_pad * nv_pad) F(efc_grad, 1, nv_pad) F(efc_Mgrad, 1, nv_pad)                \
  F(efc_search, 1, nv_pad) F(efc_Ma, 1, nv_pad)                                              \
  I(con_ncon, 1, 1) I(con_dim, 1, ncon_pad) I(con_geom, 2, ncon_pad)                         \
  I(con_exclude, 1, ncon_pad) I(con_pair, 1, ncon_pad) I(con_overflow, 1, 1)                 \
  I(efc_nefc, 1, 1) I(efc_type, 1, nefc_max) I(efc_id, 1, nefc_max) I(efc_dim, 1, nefc_max) \
  I(efc_state, 1, nefc_max) I(efc_solver_niter, 1, 1) I(efc_converged, 1, 1)                \
  I(health, 1, 1) I(last_reset, 1, 1)                                                        \
  F(ten_length, 1, ntendon_pad) F(ten_velocity, 1, ntendon_pad)                              \
  F(pgs_MinvJ, 1, 6 * nv_pad) /* PGS: M^-1 J' of one elliptic block (6 rows of nv) */          \
  F(sensordata, 1, nsensordata_pad) F(subtree_linvel, 3, nbody) F(subtree_angmom, 3, nbody)    \
  F(cfrc_ext, 6, nbody)                                                                      \
  I(eq_active, 1, neq_pad) I(efc_ne, 1, 1) F(efc_jdotv, 1, nefc_max)

#define PWS_GLOBAL_COUNTERS(G)                                                               \
  G(con_overflow_count, 1) /* contact overflow events, all worlds and steps */               \
  G(counters, 6)           /* Simulator.COUNTERS: events per health bit 1, 2, 4, 8, auto resets, parked */

namespace pws {

// Codes of types.py's enums that several stages read (the constraint rows: constraint.h,
// solver.h, pgs.h, sensor.h; the transmission: smooth.h and actuation.h).
// mjtConstraint (types.ConstraintType)
enum : int {
  kCnstrEquality = 0,
  kCnstrFrictionDof = 1,
  kCnstrFrictionTendon = 2,
  kCnstrLimitJoint = 3,
  kCnstrLimitTendon = 4,
  kCnstrContactFrictionless = 5,
  kCnstrContactPyramidal = 6,
  kCnstrContactElliptic = 7,
};

enum : int { kTrnTendon = 3 };  // mjTRN_TENDON (types.TrnType)

// mjtObj (types.ObjType): the frame sensors' objects (sensor.h), site-referenced connect and
// weld (equality.h)
enum : int { kObjBody = 1, kObjXBody = 2, kObjGeom = 5, kObjSite = 6 };

// mjtEq (types.EqType): the equality rows (equality.h) and their forces in cfrc_ext (sensor.h)
enum : int { kEqConnect = 0, kEqWeld = 1, kEqJoint = 2, kEqTendon = 3 };

// A float parameter bank (nbank, count, width): world w reads row w % nbank. 32-bit counts (a
// row is at most 10 scalars per body or dof) keep 16 bytes per bank: the views travel as CUDA
// kernel parameters (kMaxKernelParamBytes).
template <typename T>
struct Bank {
  const T* ptr;
  int32_t stride;  // scalars per bank row
  int32_t nbank;
  PWS_HD const T* at(int64_t world) const { return ptr + (world % nbank) * static_cast<int64_t>(stride); }
};

// A Data array: per world (nworld, ...), world w starts at ptr + w * stride; or, for solver
// workspace held per thread (slots > 0, Simulator(workspace="thread")), (slots, ...) rows of
// which the thread stepping a world uses its own row `slot`; or tiled (tile > 1,
// Simulator(layout="tiled")): worlds in tiles of `tile`, [tile][scalar][lane], scalar i of world
// w at ptr + (w / tile) * tile * stride + i * tile + w % tile, so that the same scalar of `tile`
// consecutive worlds is contiguous (a warp's same-field access coalesces). at() is where a
// world's scalar 0 is and step() how far apart its scalars are: the stages index World pointers
// contiguously, so a tiled array is reached only through stage_in / stage_out
// (kernels/step_stage.h), which gather a world into its buffer and scatter it back. Two 32-bit
// counts keep 24 bytes per array (the views are CUDA kernel parameters, kMaxKernelParamBytes).
template <typename S>
struct WorldArray {
  S* ptr;
  int64_t stride;  // scalars per world (per slot)
  int32_t slots;   // 0: one row per world; else the number of per-thread rows
  int32_t tile;    // worlds per tile; 0 or 1: world-major
  PWS_HD S* at(int64_t world, int64_t slot) const {
    if (slots) return ptr + slot * stride;
    if (tile > 1) return ptr + (world / tile) * tile * stride + world % tile;
    return ptr + world * stride;
  }
  PWS_HD int64_t step() const { return slots == 0 && tile > 1 ? tile : 1; }
};

// The largest CUDA kernel parameter block: 32,764 bytes since CUDA 12.1 on Volta and newer (the
// build targets sm_80 / sm_90, and ptxas refuses a larger block). The Model and Data views
// travel by value within it (csrc/cuda_launch.cu, csrc/simt_launch.cu).
constexpr int kMaxKernelParamBytes = 32764;

template <typename T>
struct ModelView {
#define PWS_DECL_INT(name) int name;
#define PWS_DECL_REAL(name) T name;
  PWS_SIZE_FIELDS(PWS_DECL_INT)
  PWS_OPTION_INTS(PWS_DECL_INT)
  PWS_OPTION_REALS(PWS_DECL_REAL)
#undef PWS_DECL_INT
#undef PWS_DECL_REAL
#define PWS_DECL_I(name, width, count) const int* name;
#define PWS_DECL_F(name, width, count) const T* name;
#define PWS_DECL_B(name, width, count) Bank<T> name;
  PWS_MODEL_ARRAYS(PWS_DECL_I, PWS_DECL_F, PWS_DECL_B)
#undef PWS_DECL_I
#undef PWS_DECL_F
#undef PWS_DECL_B
};

template <typename T>
struct DataView {
  int64_t nslot;  // rows of the per-thread workspace arrays (0: all arrays are per world)
#define PWS_DECL_F(name, width, count) WorldArray<T> name;
#define PWS_DECL_I(name, width, count) WorldArray<int> name;
  PWS_DATA_ARRAYS(PWS_DECL_F, PWS_DECL_I)
#undef PWS_DECL_F
#undef PWS_DECL_I
#define PWS_DECL_G(name, n) int* name;
  PWS_GLOBAL_COUNTERS(PWS_DECL_G)
#undef PWS_DECL_G
};

// One world's slice of every Data array, plus the world's parameter-bank rows.
template <typename T>
struct World {
  int64_t id;
#define PWS_DECL_F(name, width, count) T* name;
#define PWS_DECL_I(name, width, count) int* name;
  PWS_DATA_ARRAYS(PWS_DECL_F, PWS_DECL_I)
#undef PWS_DECL_F
#undef PWS_DECL_I
#define PWS_DECL_G(name, n) int* name;
  PWS_GLOBAL_COUNTERS(PWS_DECL_G)
#undef PWS_DECL_G
  // bank rows of this world
#define PWS_DECL_BANK(name, width, count) const T* name;
#define PWS_SKIP(name, width, count)
  PWS_MODEL_ARRAYS(PWS_SKIP, PWS_SKIP, PWS_DECL_BANK)
#undef PWS_DECL_BANK
#undef PWS_SKIP
};

// Whether some Data array is tiled (WorldArray::tile > 1): the step must then run staged.
template <typename T>
inline bool data_tiled(const DataView<T>& d) {
  bool tiled = false;
#define PWS_TILED(name, width, count) tiled = tiled || (d.name.slots == 0 && d.name.tile > 1);
  PWS_DATA_ARRAYS(PWS_TILED, PWS_TILED)
#undef PWS_TILED
  return tiled;
}

// World w's view; `slot` (< d.nslot) is the workspace row of the thread stepping it (unused
// when the workspace is per world). A thread finishes a world before its slot takes another.
template <typename T>
PWS_HD inline World<T> world_view(const ModelView<T>& m, const DataView<T>& d, int64_t w, int64_t slot) {
  World<T> r;
  r.id = w;
#define PWS_SET(name, width, count) r.name = d.name.at(w, slot);
  PWS_DATA_ARRAYS(PWS_SET, PWS_SET)
#undef PWS_SET
#define PWS_SET_G(name, n) r.name = d.name;
  PWS_GLOBAL_COUNTERS(PWS_SET_G)
#undef PWS_SET_G
#define PWS_SET_BANK(name, width, count) r.name = m.name.at(w);
#define PWS_SKIP(name, width, count)
  PWS_MODEL_ARRAYS(PWS_SKIP, PWS_SKIP, PWS_SET_BANK)
#undef PWS_SET_BANK
#undef PWS_SKIP
  return r;
}

}  // namespace pws
