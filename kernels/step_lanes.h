// Native-only: the CPU step of eight worlds in lanes (lanes.h); the Warp pipeline has no
// lockstep groups.
// The CPU step of a group of up to eight worlds: smooth_stages (kernels/forward.h) for all of them
// at once in lanes (kernels/lanes.h), then forward_rest and finish_step per world, as
// step_world. Lane results equal the scalar path's bit for bit (see lanes.h), so a world's
// trajectory does not depend on which worlds share its group.
//
//   gather    qpos, qvel and the bank rows smooth_stages reads, eight worlds -> lane arrays
//   lanes     smooth_stages<F8> on a broadcast copy of the model
//   scatter   everything smooth_stages writes, lane arrays -> each world's Data arrays
//   per world forward_rest, then (step) finish_step (RK4: its three further forward
//             evaluations in lanes too); when the integrator solves implicitly
//             (Euler with dof damping, implicitfast), that solve runs in lanes too
//             (implicit_setup / implicit_solve), then advance and the health check per world
#pragma once

#include <stdint.h>

#include <cstring>
#include <vector>

#include "lanes.h"
#include "forward.h"

namespace pws {

// How the lane path uses a Data array or bank row (lane_role): read by smooth_stages (gathered
// before), written by it (scattered after), a bank row, read by implicit_setup (gathered after
// forward_rest), written by implicit_setup / implicit_solve (scattered after; qH: its lower
// triangle, all that implicit_setup writes). qM stays in its lane array from smooth_stages.
enum LaneRole : int {
  kLaneNone = 0,
  kLaneSmoothIn,
  kLaneSmoothOut,
  kLaneBank,
  kLaneImplicitIn,
  kLaneImplicitOut,
  kLaneImplicitOutLower,
};

inline int lane_role(const char* name) {
  static const char* const kSmoothIn[] = {"qpos", "qvel"};
  static const char* const kSmoothOut[] = {
      "xpos", "xquat", "xmat", "xipos", "ximat", "xanchor", "xaxis", "geom_xpos", "geom_xmat", "site_xpos",
      "site_xmat", "subtree_com", "subtree_mass", "cinert", "cdof", "crb", "qM", "qLD", "qLDiagInv", "cvel",
      "cdof_dot", "cacc", "cfrc_int", "qfrc_bias"};
  static const char* const kBank[] = {"body_ipos", "body_mass", "body_inertia", "dof_armature", "gravity",
                                      "dof_damping"};
  static const char* const kImplicitIn[] = {"qfrc_smooth", "qfrc_constraint"};
  static const char* const kImplicitOut[] = {"qHDiagInv", "qfrc_scratch", "qacc_scratch"};
  for (const char* n : kSmoothIn)
    if (!std::strcmp(n, name)) return kLaneSmoothIn;
  for (const char* n : kSmoothOut)
    if (!std::strcmp(n, name)) return kLaneSmoothOut;
  for (const char* n : kBank)
    if (!std::strcmp(n, name)) return kLaneBank;
  for (const char* n : kImplicitIn)
    if (!std::strcmp(n, name)) return kLaneImplicitIn;
  for (const char* n : kImplicitOut)
    if (!std::strcmp(n, name)) return kLaneImplicitOut;
  if (!std::strcmp(name, "qH")) return kLaneImplicitOutLower;
  return kLaneNone;
}

// Whether the lane stages read a float Model array (copy_model broadcasts those to every lane):
// not the collision geometry (mesh vertices and polygon normals, height fields), which only the
// per-world narrowphase reads. Broadcasting those was O(model size) a call: Unitree G1's
// 723,683 model floats are 99.6% mesh_vert and mesh_polynormal, 5.9M instructions a step call
// (callgrind), more than the 8 worlds' own steps took; their ModelView<F8> pointers stay null.
inline bool lane_model_array(const char* name) {
  return std::strncmp(name, "mesh_", 5) != 0 && std::strncmp(name, "hfield_", 7) != 0;
}

class LaneGroups {
 public:
  // Lane arrays of one thread: World<F8> over its own buffer.
  struct Scratch {
    std::vector<F8> buf;
    std::vector<float> diag;  // one world's qH diagonal (implicitfast)
    std::vector<int> near;  // (kLanes, npair): per world, the pairs pair_apart leaves (collision)
    int nnear[kLanes];
    World<F8> w;
  };

  explicit LaneGroups(const ModelView<float>& m) {
#define PWS_LOCAL_SIZE(name) const int64_t name = m.name;
    PWS_SIZE_FIELDS(PWS_LOCAL_SIZE)
#undef PWS_LOCAL_SIZE
    // model: ints as they are, reals and float arrays broadcast to every lane (copy_model)
    m8_ = ModelView<F8>{};
#define PWS_LM_I(name, width, count) m8_.name = m.name;
#define PWS_LM_F(name, width, count)                                                            \
  if (lane_model_array(#name))                                                                  \
    add_model_array(&ModelView<F8>::name, &ModelView<float>::name, (width) * (count));           \
  else                                                                                          \
    m8_.name = nullptr;
#define PWS_LM_B(name, width, count) m8_.name = Bank<F8>{nullptr, 0, 1};
    PWS_MODEL_ARRAYS(PWS_LM_I, PWS_LM_F, PWS_LM_B)
#undef PWS_LM_I
#undef PWS_LM_F
#undef PWS_LM_B
    // per-world arrays: offsets in a thread's Scratch buffer
#define PWS_LD_F(name, width, count)                                                              \
  if (int role = lane_role(#name))                                                                \
    add_field(&World<F8>::name, &World<float>::name, (width) * (count), role);
#define PWS_LD_I(name, width, count)
    PWS_DATA_ARRAYS(PWS_LD_F, PWS_LD_I)
#undef PWS_LD_F
#undef PWS_LD_I
#define PWS_LB_SKIP(name, width, count)
#define PWS_LB_B(name, width, count) \
  if (lane_role(#name) == kLaneBank) add_bank(&World<F8>::name, &World<float>::name, (width) * (count));
    PWS_MODEL_ARRAYS(PWS_LB_SKIP, PWS_LB_SKIP, PWS_LB_B)
#undef PWS_LB_SKIP
#undef PWS_LB_B
    copy_model(m);
  }

  // Re-broadcasts the model's sizes, options and float arrays (they may have been edited in
  // place since the last call). O(model size).
  void copy_model(const ModelView<float>& m) {
#define PWS_LM_INT(name) m8_.name = m.name;
#define PWS_LM_REAL(name) m8_.name = F8(m.name);
    PWS_SIZE_FIELDS(PWS_LM_INT)
    PWS_OPTION_INTS(PWS_LM_INT)
    PWS_OPTION_REALS(PWS_LM_REAL)
#undef PWS_LM_INT
#undef PWS_LM_REAL
    for (ModelArray& a : model_arrays_) {
      const float* src = m.*(a.src);
      for (int64_t k = 0; k < a.n; ++k) a.storage[k] = F8(src[k]);
      m8_.*(a.dst) = a.n ? a.storage.data() : nullptr;
    }
  }

  Scratch make_scratch() const {
    Scratch s;
    s.buf.assign(scratch_size_, F8(0.0f));
    s.diag.assign(static_cast<size_t>(m8_.nv), 0.0f);
    s.near.assign(static_cast<size_t>(kLanes) * m8_.npair, 0);
    s.w = World<F8>{};
    for (const Field& f : fields_) s.w.*(f.lane) = s.buf.data() + f.offset;
    for (const BankField& b : banks_) s.w.*(b.lane) = s.buf.data() + b.offset;
    return s;
  }

  // nsteps steps (forward_only: one mj_forward) of worlds w0 .. w0 + nlanes - 1 (nlanes <= 8);
  // slot0 .. slot0 + 7: the calling thread's workspace rows (Simulator(workspace="thread")).
  template <bool kConvexPairs>
  void run(const ModelView<float>& m, const DataView<float>& d, Scratch& s, int64_t w0, int nlanes, int nsteps,
           bool forward_only, int64_t slot0) const {
    World<float> wd[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      const int lane = l < nlanes ? l : nlanes - 1;  // padding lanes repeat the last world
      wd[l] = world_view(m, d, w0 + lane, slot0 + lane);
    }
    for (const BankField& b : banks_) {  // bank rows do not change during a call
      const float* src[kLanes];
      for (int l = 0; l < kLanes; ++l) src[l] = wd[l].*(b.data);
      gather_lanes(src, s.buf.data() + b.offset, b.n);
    }
    const bool implicit = !forward_only && uses_implicit(m);
    const bool rk4 = !forward_only && m.integrator == kIntRK4;
    for (int step = 0; step < nsteps; ++step) {
      for (int l = 0; l < nlanes; ++l) begin_step(wd[l]);
      forward_lanes<kConvexPairs>(m, s, wd, nlanes);
      for (int l = 0; l < nlanes; ++l) sensors(m, wd[l]);  // not in RK4's evaluations below
      if (rk4) {  // integrate()'s RK4 with its three forward evaluations in lanes
        for (int l = 0; l < nlanes; ++l) rk4_begin(m, wd[l]);
        for (int stage = 0; stage < 4; ++stage) {
          for (int l = 0; l < nlanes; ++l) rk4_stage(m, wd[l], stage);
          if (stage < 3) forward_lanes<kConvexPairs>(m, s, wd, nlanes);
        }
        for (int l = 0; l < nlanes; ++l) {
          rk4_end(m, wd[l]);
          health_and_reset(m, wd[l]);
        }
        continue;
      }
      if (!implicit) {
        if (!forward_only)
          for (int l = 0; l < nlanes; ++l) finish_step<float, kConvexPairs>(m, wd[l]);
        continue;
      }
      // the integrator's implicit solve in lanes, then the rest of the step per world
      transfer(s, wd, nlanes, kLaneImplicitIn);
      implicit_setup(m8_, s.w);
      if (m.integrator == kIntImplicitFast) add_actuator_derivs(m, s, wd, nlanes);
      implicit_solve(m8_, s.w);
      transfer(s, wd, nlanes, kLaneImplicitOut);
      transfer(s, wd, nlanes, kLaneImplicitOutLower);
      for (int l = 0; l < nlanes; ++l) {
        World<float>& w = wd[l];
        advance(m, w, w.act, w.act_dot, w.qpos, w.qvel, w.qacc_scratch, (const float*)nullptr);
        health_and_reset(m, w);
      }
    }
  }

 private:
  // forward_world of every world of the group: smooth_stages in lanes, forward_rest per world.
  template <bool kConvexPairs>
  void forward_lanes(const ModelView<float>& m, Scratch& s, World<float>* wd, int nlanes) const {
    transfer(s, wd, nlanes, kLaneSmoothIn);
    smooth_stages(m8_, s.w);
    transfer(s, wd, nlanes, kLaneSmoothOut);
    // the collision pairs' bounding-sphere tests in lanes too: world l's near pairs (those the
    // test leaves, and the pairs without a bound) at near[l * npair ...], ascending (collision)
    const int npair = m.collision_on && m.en_constraint ? m.npair : 0;
    for (int l = 0; l < kLanes; ++l) s.nnear[l] = 0;
    for (int p = 0; p < npair; ++p) {
      if (pair_has_bound(m, p)) {
        M8 apart = pair_apart(m8_, s.w, p);
        for (int l = 0; l < nlanes; ++l)
          if (!apart.v[l]) s.near[l * npair + s.nnear[l]++] = p;
      } else {
        for (int l = 0; l < nlanes; ++l) s.near[l * npair + s.nnear[l]++] = p;
      }
    }
    for (int l = 0; l < nlanes; ++l)
      forward_rest<float, kConvexPairs>(m, wd[l], npair ? s.near.data() + l * npair : nullptr, s.nnear[l]);
  }

  // Gathers (roles read by the lanes) or scatters (roles written) every field of one role.
  void transfer(Scratch& s, World<float>* wd, int nlanes, int role) const {
    const float* src[kLanes];
    float* dst[kLanes];
    for (const Field& f : fields_) {
      if (f.role != role) continue;
      F8* lane = s.buf.data() + f.offset;
      if (role == kLaneSmoothIn || role == kLaneImplicitIn) {
        for (int l = 0; l < kLanes; ++l) src[l] = wd[l].*(f.data);
        gather_lanes(src, lane, f.n);
      } else if (role == kLaneImplicitOutLower) {  // (nv, nv): rows' lower triangles
        const int nv = m8_.nv;
        for (int i = 0; i < nv; ++i) {
          for (int l = 0; l < nlanes; ++l) dst[l] = wd[l].*(f.data) + i * nv;
          scatter_lanes(lane + i * nv, dst, nlanes, i + 1);
        }
      } else {
        for (int l = 0; l < nlanes; ++l) dst[l] = wd[l].*(f.data);
        scatter_lanes(lane, dst, nlanes, f.n);
      }
    }
  }

  // implicitfast: each world's actuator velocity derivatives on its lane of qH's diagonal, in
  // the scalar path's order (add_actuator_vel_deriv branches on the world's forces).
  void add_actuator_derivs(const ModelView<float>& m, Scratch& s, World<float>* wd, int nlanes) const {
    const int nv = m.nv;
    F8* qH = s.w.qH;
    for (int l = 0; l < nlanes; ++l) {
      for (int i = 0; i < nv; ++i) s.diag[i] = qH[i * (nv + 1)].v[l];
      add_actuator_vel_deriv(m, wd[l], s.diag.data(), 1);
      for (int i = 0; i < nv; ++i) qH[i * (nv + 1)].v[l] = s.diag[i];
    }
  }

  struct ModelArray {
    const F8* ModelView<F8>::*dst;
    const float* ModelView<float>::*src;
    int64_t n;
    std::vector<F8> storage;
  };
  struct Field {
    F8* World<F8>::*lane;
    float* World<float>::*data;
    int64_t n, offset;
    int role;
  };
  struct BankField {
    const F8* World<F8>::*lane;
    const float* World<float>::*data;
    int64_t n, offset;
  };

  void add_model_array(const F8* ModelView<F8>::*dst, const float* ModelView<float>::*src, int64_t n) {
    model_arrays_.push_back(ModelArray{dst, src, n, std::vector<F8>(static_cast<size_t>(n))});
  }
  void add_field(F8* World<F8>::*lane, float* World<float>::*data, int64_t n, int role) {
    fields_.push_back(Field{lane, data, n, scratch_size_, role});
    scratch_size_ += n;
  }
  void add_bank(const F8* World<F8>::*lane, const float* World<float>::*data, int64_t n) {
    banks_.push_back(BankField{lane, data, n, scratch_size_});
    scratch_size_ += n;
  }

  ModelView<F8> m8_;
  std::vector<ModelArray> model_arrays_;
  std::vector<Field> fields_;
  std::vector<BankField> banks_;
  int64_t scratch_size_ = 0;
};

}  // namespace pws
