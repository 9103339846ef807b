// CPU bindings of the SIMT kernels (kernels/simt.h, kernels/simt_smooth.h, kernels/simt_solver.h,
// kernels/simt_collision.h, kernels/simt_constraint.h): the lane-group smooth stage, collision,
// constraint rows and Newton solver emulated in lockstep over a Simulator's arrays, with
// or without the address recorder, and the primitives on one group. Registered into _native by register_simt (bindings.cpp).
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "simt_collision.h"
#include "simt_constraint.h"
#include "simt_smooth.h"
#include "simt_solver.h"
#include "simt_step.h"
#include "step_plan.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace py = pybind11;
using pws::simt::Counted;
using pws::simt::EmuGroup;
using pws::simt::Recorder;

namespace {

const char* const kStageNames[] = {"kinematics", "com_pos", "crb", "factor_m", "com_vel", "rne"};
constexpr int kNumStages = 6;

template <int N, typename Real>
void run_world(const pws::ModelView<float>& m, const pws::DataView<float>& dv, const pws::simt::Tree& t, int64_t w,
               std::vector<float>& shared, Recorder* rec) {
  EmuGroup<N, Real> g(shared.data(), rec);
  if (rec) {
    rec->shared_lo = reinterpret_cast<const char*>(shared.data());
    rec->shared_hi = reinterpret_cast<const char*>(shared.data() + shared.size());
  }
  pws::World<float> d = pws::world_view(m, dv, w, 0);
  pws::simt::smooth(g, m, d, t);
  if (rec) rec->end_world();
}

// Runs the stage on every world; with `rec`, the counting float one world after another.
template <int N>
void run(const pws::ModelView<float>& m, const pws::DataView<float>& dv, const pws::simt::Tree& t, int64_t nworld,
         Recorder* rec, int num_threads) {
  const int nshared = pws::simt::shared_floats(m.nv);
  if (rec) {
    std::vector<float> shared(nshared > 0 ? nshared : 1);
    for (int64_t w = 0; w < nworld; ++w) run_world<N, Counted>(m, dv, t, w, shared, rec);
    return;
  }
#if defined(_OPENMP)
  int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
#endif
  {
    std::vector<float> shared(nshared > 0 ? nshared : 1);
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (int64_t w = 0; w < nworld; ++w) run_world<N, float>(m, dv, t, w, shared, nullptr);
  }
}

const char* const kSolverStageNames[] = {"init",      "gradient",    "hessian", "factor",
                                         "direction", "line_search", "update",  "finish"};
constexpr int kNumSolverStages = 8;

py::dict stats_dict(const Recorder& rec, const char* const* names = kStageNames, int nstages = kNumStages) {
  py::dict stages;
  for (int s = 0; s < nstages; ++s) {
    const Recorder::Stats& st = rec.stage[s];
    py::dict e;
    e["phases"] = st.phases;
    e["warp_instructions"] = st.warp_instructions;
    e["lane_instructions"] = st.lane_instructions;
    e["global_requests"] = st.global_requests;
    e["global_sectors"] = st.global_sectors;
    e["global_lane_accesses"] = st.global_lane_accesses;
    e["shared_accesses"] = st.shared_accesses;
    e["distinct_global_bytes"] = st.distinct_global_bytes;
    stages[names[s]] = e;
  }
  py::dict out;
  out["stages"] = stages;
  out["working_set_bytes"] = rec.working_set_bytes;
  return out;
}

py::object simt_smooth(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays,
                       const py::dict& data_arrays, int64_t nworld,
                       py::array_t<int, py::array::c_style | py::array::forcecast> body_parentid,
                       py::array_t<int, py::array::c_style | py::array::forcecast> dof_parentid, int group_size,
                       bool record, int num_threads) {
  pws::ModelView<float> m = pws_bind::make_model_view<float>(ints, reals, model_arrays);
  pws::DataView<float> dv = pws_bind::make_data_view<float>(data_arrays, 0);
  if (body_parentid.size() != m.nbody || dof_parentid.size() != m.nv)
    throw py::value_error("simt_smooth: body_parentid has " + std::to_string(body_parentid.size()) +
                          " entries and dof_parentid " + std::to_string(dof_parentid.size()) + ", the model nbody=" +
                          std::to_string(m.nbody) + " nv=" + std::to_string(m.nv));
  pws::simt::TreeHost tree = pws::simt::build_tree(m.nbody, body_parentid.data(), m.nv, dof_parentid.data());
  pws::simt::Tree t = tree.view();
  if (group_size != 8 && group_size != 16 && group_size != 32)
    throw py::value_error("simt_smooth: group_size must be 8, 16 or 32, got " + std::to_string(group_size));
  Recorder rec;
  {
    py::gil_scoped_release release;
    Recorder* r = record ? &rec : nullptr;
    if (group_size == 8) run<8>(m, dv, t, nworld, r, num_threads);
    if (group_size == 16) run<16>(m, dv, t, nworld, r, num_threads);
    if (group_size == 32) run<32>(m, dv, t, nworld, r, num_threads);
  }
  if (!record) return py::none();
  return stats_dict(rec);
}

// ---- the Newton solver (kernels/simt_solver.h) ------------------------------------------------

template <int N, typename Real>
void solve_world(const pws::ModelView<float>& m, const pws::DataView<float>& dv, int64_t w, std::vector<float>& shared,
                 Recorder* rec) {
  EmuGroup<N, Real> g(shared.data(), rec);
  if (rec) {
    rec->shared_lo = reinterpret_cast<const char*>(shared.data());
    rec->shared_hi = reinterpret_cast<const char*>(shared.data() + shared.size());
  }
  pws::World<float> d = pws::world_view(m, dv, w, 0);
  pws::simt::newton_solve(g, m, d);
  if (rec) rec->end_world();
}

template <int N>
void solve_all(const pws::ModelView<float>& m, const pws::DataView<float>& dv, int64_t nworld, Recorder* rec,
               int num_threads) {
  const int nshared = pws::simt::solver_shared_floats(m.nv);
  if (rec) {
    std::vector<float> shared(nshared > 0 ? nshared : 1);
    for (int64_t w = 0; w < nworld; ++w) solve_world<N, Counted>(m, dv, w, shared, rec);
    return;
  }
#if defined(_OPENMP)
  int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
#endif
  {
    std::vector<float> shared(nshared > 0 ? nshared : 1);
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (int64_t w = 0; w < nworld; ++w) solve_world<N, float>(m, dv, w, shared, nullptr);
  }
}

// What the lane-group solver cannot run, named with the fix ("" when it can): it is the primal
// Newton solver (scalar rows and elliptic cones), on the per-world workspace.
std::string solver_refusal(const pws::ModelView<float>& m, const pws::DataView<float>& dv, int64_t nworld) {
  if (m.solver_type != pws::kSolverNewton)
    return "the lane-group solver is the Newton solver (opt.solver=" + std::to_string(m.solver_type) +
           "): set model.opt.solver = mjSOL_NEWTON";
  if (dv.nslot != 0) return "the lane-group solver needs the per-world workspace (Simulator(workspace='world'))";
  for (int64_t w = 0; w < nworld; ++w) {
    pws::World<float> d = pws::world_view(m, dv, w, 0);
    const int nefc = d.efc_nefc[0];
    if (nefc < 0 || nefc > m.nefc_max)
      return "world " + std::to_string(w) + " has nefc=" + std::to_string(nefc) + " (capacity " +
             std::to_string(m.nefc_max) + "): run the native forward first, which builds the rows";
  }
  return "";
}

py::object simt_solve(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays,
                      const py::dict& data_arrays, int64_t nworld, int group_size, bool record, int num_threads) {
  pws::ModelView<float> m = pws_bind::make_model_view<float>(ints, reals, model_arrays);
  pws::DataView<float> dv = pws_bind::make_data_view<float>(data_arrays, 0);
  if (group_size != 8 && group_size != 16 && group_size != 32)
    throw py::value_error("simt_solve: group_size must be 8, 16 or 32, got " + std::to_string(group_size));
  const std::string refusal = solver_refusal(m, dv, nworld);
  if (!refusal.empty()) throw py::value_error("simt_solve: " + refusal);
  Recorder rec;
  {
    py::gil_scoped_release release;
    Recorder* r = record ? &rec : nullptr;
    if (group_size == 8) solve_all<8>(m, dv, nworld, r, num_threads);
    if (group_size == 16) solve_all<16>(m, dv, nworld, r, num_threads);
    if (group_size == 32) solve_all<32>(m, dv, nworld, r, num_threads);
  }
  if (!record) return py::none();
  return stats_dict(rec, kSolverStageNames, kNumSolverStages);
}

// ---- collision and constraint rows (kernels/simt_collision.h, kernels/simt_constraint.h) -------

const char* const kCollisionStageNames[] = {"filter", "narrowphase", "contacts"};
constexpr int kNumCollisionStages = 3;
const char* const kConstraintStageNames[] = {"friction", "limits", "contact_rows", "contact_jacobian", "equality"};
constexpr int kNumConstraintStages = 5;

// Which lane-group kernel of a world: collision (0) or make_constraint (1).
template <int N, typename Real>
void rows_world(int kernel, const pws::ModelView<float>& m, const pws::DataView<float>& dv, int64_t w,
                std::vector<float>& shared, Recorder* rec) {
  EmuGroup<N, Real> g(shared.data(), rec);
  if (rec) {
    rec->shared_lo = reinterpret_cast<const char*>(shared.data());
    rec->shared_hi = reinterpret_cast<const char*>(shared.data() + shared.size());
  }
  pws::World<float> d = pws::world_view(m, dv, w, 0);
  // the scratch ints live in the group's shared array, as on the GPU
  int* scratch = reinterpret_cast<int*>(shared.data());
  if (kernel == 0) {
    if (m.has_convex)
      pws::simt::collision<true>(g, m, d, scratch);
    else
      pws::simt::collision<false>(g, m, d, scratch);
  } else {
    pws::simt::make_constraint(g, m, d, scratch);
  }
  if (rec) rec->end_world();
}

template <int N>
void rows_all(int kernel, const pws::ModelView<float>& m, const pws::DataView<float>& dv, int64_t nworld,
              Recorder* rec, int num_threads) {
  const int nshared = kernel == 0 ? pws::simt::collision_scratch_ints(m) : pws::simt::constraint_scratch_ints(m);
  static_assert(sizeof(int) == sizeof(float), "the scratch ints share the shared array's floats");
  if (rec) {
    std::vector<float> shared(nshared > 0 ? nshared : 1);
    for (int64_t w = 0; w < nworld; ++w) rows_world<N, Counted>(kernel, m, dv, w, shared, rec);
    return;
  }
#if defined(_OPENMP)
  int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
#endif
  {
    std::vector<float> shared(nshared > 0 ? nshared : 1);
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (int64_t w = 0; w < nworld; ++w) rows_world<N, float>(kernel, m, dv, w, shared, nullptr);
  }
}

// What the lane-group collision cannot run, named with the fix ("" when it can).
std::string collision_refusal(const pws::ModelView<float>& m, const pws::DataView<float>& dv) {
  if (dv.nslot != 0) return "the lane-group collision needs the per-world workspace (Simulator(workspace='world'))";
  // convex pairs (GJK/EPA, meshes, height fields) run in collision<true>; has_convex picks it
  for (int p = 0; p < m.npair && !m.has_convex; ++p)
    if (m.pair_collider[p] == pws::kConvex)
      return "pair " + std::to_string(p) + " uses the convex collider but the model's has_convex is 0: build the "
             "tables from the Model (native_backend.build_tables), which sets it from the pair list";
  return "";
}

// What the lane-group constraint rows cannot run, named with the fix ("" when it can).
std::string constraint_refusal(const pws::ModelView<float>& m, const pws::DataView<float>& dv) {
  if (dv.nslot != 0) return "the lane-group constraint rows need the per-world workspace (Simulator(workspace='world'))";
  // atan2f and powf: CUDA's differ from glibc's (kernels/simt_constraint.h)
  for (int j = 0; j < m.njnt && m.en_limit; ++j)
    if (m.jnt_type[j] == pws::kJointBall && m.jnt_limited[j])
      return "joint " + std::to_string(j) + " is a limited ball joint, whose limit row the lane-group rows do not "
             "build (its angle needs atan2): remove the limit or use the native step";
  auto odd_power = [](const float* solimp) {
    const float p = solimp[4] > 1.0f ? solimp[4] : 1.0f;
    return p != 1.0f && p != 2.0f;
  };
  for (int i = 0; i < m.nv; ++i)
    if (odd_power(m.dof_solimp + 5 * i))
      return "dof " + std::to_string(i) + " has a solimp power other than 1 or 2 (the lane-group rows have no powf)";
  for (int j = 0; j < m.njnt; ++j)
    if (m.jnt_limited[j] && odd_power(m.jnt_solimp + 5 * j))
      return "joint " + std::to_string(j) + " has a solimp power other than 1 or 2 (the lane-group rows have no powf)";
  for (int t = 0; t < m.ntendon; ++t)
    if (odd_power(m.tendon_solimp_fri + 5 * t) || odd_power(m.tendon_solimp_lim + 5 * t))
      return "tendon " + std::to_string(t) + " has a solimp power other than 1 or 2 (the lane-group rows have no powf)";
  for (int p = 0; p < m.npair; ++p)
    if (odd_power(m.pair_solimp + 5 * p))
      return "pair " + std::to_string(p) + " has a solimp power other than 1 or 2 (the lane-group rows have no powf)";
  for (int e = 0; e < m.neq && m.en_equality; ++e)
    if (odd_power(m.eq_solimp + 5 * e))
      return "equality constraint " + std::to_string(e) +
             " has a solimp power other than 1 or 2 (the lane-group rows have no powf)";
  return "";
}

py::object simt_rows(int kernel, const char* name, const py::dict& ints, const py::dict& reals,
                     const py::dict& model_arrays, const py::dict& data_arrays, int64_t nworld, int group_size,
                     bool record, int num_threads) {
  pws::ModelView<float> m = pws_bind::make_model_view<float>(ints, reals, model_arrays);
  pws::DataView<float> dv = pws_bind::make_data_view<float>(data_arrays, 0);
  if (group_size != 8 && group_size != 16 && group_size != 32)
    throw py::value_error(std::string(name) + ": group_size must be 8, 16 or 32, got " + std::to_string(group_size));
  const std::string refusal = kernel == 0 ? collision_refusal(m, dv) : constraint_refusal(m, dv);
  if (!refusal.empty()) throw py::value_error(std::string(name) + ": " + refusal);
  Recorder rec;
  {
    py::gil_scoped_release release;
    Recorder* r = record ? &rec : nullptr;
    if (group_size == 8) rows_all<8>(kernel, m, dv, nworld, r, num_threads);
    if (group_size == 16) rows_all<16>(kernel, m, dv, nworld, r, num_threads);
    if (group_size == 32) rows_all<32>(kernel, m, dv, nworld, r, num_threads);
  }
  if (!record) return py::none();
  return kernel == 0 ? stats_dict(rec, kCollisionStageNames, kNumCollisionStages)
                     : stats_dict(rec, kConstraintStageNames, kNumConstraintStages);
}

py::object simt_collision(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays,
                          const py::dict& data_arrays, int64_t nworld, int group_size, bool record, int num_threads) {
  return simt_rows(0, "simt_collision", ints, reals, model_arrays, data_arrays, nworld, group_size, record,
                   num_threads);
}

py::object simt_make_constraint(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays,
                                const py::dict& data_arrays, int64_t nworld, int group_size, bool record,
                                int num_threads) {
  return simt_rows(1, "simt_make_constraint", ints, reals, model_arrays, data_arrays, nworld, group_size, record,
                   num_threads);
}

// ---- the fused step (kernels/simt_step.h) --------------------------------------------------------

const char* const kStepStageNames[] = {"smooth", "collision", "rows",   "forces", "acceleration",
                                       "solver", "integrate", "health", "sensors"};
constexpr int kNumStepStages = 9;

// nsteps steps of world w (stage < 0), or one stage alone (simt::step_stage) nsteps times; `slot`:
// the group slot whose rows hold the world's workspace when dv.nslot > 0 (Simulator(workspace=
// "group")): the slot finishes the world's steps before it takes another world.
template <int N, typename Real>
void step_world(const pws::ModelView<float>& m, const pws::DataView<float>& dv, const pws::simt::StepTables& s,
                int64_t w, int64_t slot, std::vector<float>& shared, Recorder* rec, int nsteps, int stage) {
  pws::simt::StepGroup<EmuGroup<N, Real>> g(shared.data(), rec);
  if (rec) {
    rec->shared_lo = reinterpret_cast<const char*>(shared.data());
    rec->shared_hi = reinterpret_cast<const char*>(shared.data() + shared.size());
  }
  pws::World<float> d = pws::world_view(m, dv, w, slot);
  for (int k = 0; k < nsteps; ++k) {
    if (stage < 0 && m.has_convex)
      pws::simt::step<true>(g, m, d, s);
    else if (stage < 0)
      pws::simt::step<false>(g, m, d, s);
    else
      pws::simt::step_stage(g, m, d, s, stage);
    if (rec) rec->end_step();
  }
  if (rec) rec->end_world();
}

template <int N>
void step_all(const pws::ModelView<float>& m, const pws::DataView<float>& dv, const pws::simt::StepTables& s,
              int64_t nworld, Recorder* rec, int num_threads, int nsteps, int stage) {
  const int nshared = pws::simt::step_shared_floats(m);
  if (rec) {
    std::vector<float> shared(nshared > 0 ? nshared : 1);
    for (int64_t w = 0; w < nworld; ++w) step_world<N, Counted>(m, dv, s, w, 0, shared, rec, nsteps, stage);
    return;
  }
#if defined(_OPENMP)
  int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
#endif
  {
    std::vector<float> shared(nshared > 0 ? nshared : 1);
    // a resident group per thread: its slot (group slots, when the workspace is held per slot)
#if defined(_OPENMP)
    const int64_t slot = omp_get_thread_num();
#else
    const int64_t slot = 0;
#endif
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (int64_t w = 0; w < nworld; ++w) step_world<N, float>(m, dv, s, w, slot, shared, nullptr, nsteps, stage);
  }
}

// The recorder's footprint ranges: [address, address + bytes) of every per-world (or per-slot)
// Data array of the step's tables, named in `names` (the global counters are not per world).
void footprint_ranges(Recorder& rec, const py::dict& data_arrays, int64_t nworld, std::vector<std::string>& names) {
  for (auto item : data_arrays) {
    if (!py::isinstance<py::tuple>(item.second)) continue;  // a global counter array
    py::tuple t = item.second.cast<py::tuple>();
    const uintptr_t lo = t[0].cast<uintptr_t>();
    const int64_t stride = t[1].cast<int64_t>(), slots = t[2].cast<int64_t>();
    const int64_t rows = slots ? slots : (t.size() > 3 && t[3].cast<int64_t>() > 1
                                              ? (nworld + t[3].cast<int64_t>() - 1) / t[3].cast<int64_t>() *
                                                    t[3].cast<int64_t>()
                                              : nworld);
    if (!lo || stride == 0) continue;
    rec.footprint_ranges.push_back({lo, lo + uintptr_t(4 * stride * rows), int(names.size())});
    names.push_back(item.first.cast<std::string>());
  }
  std::sort(rec.footprint_ranges.begin(), rec.footprint_ranges.end(),
            [](const Recorder::Range& a, const Recorder::Range& b) { return a.lo < b.lo; });
  rec.footprint_flags.assign(names.size(), 0);
}

// The recorder's request ranges: every model array of `m` and every per-world (or per-slot) Data
// array, named in `names` ("model.body_pos", the Data arrays by their layout names), for the
// per-array breakdown of the global requests (Recorder::requests_by_array).
void request_ranges(Recorder& rec, const pws::ModelView<float>& m, const py::dict& data_arrays, int64_t nworld,
                    std::vector<std::string>& names) {
  auto add = [&](const void* p, int64_t floats, const std::string& name) {
    if (!p || floats <= 0) return;
    const uintptr_t lo = reinterpret_cast<uintptr_t>(p);
    rec.request_ranges.push_back({lo, lo + uintptr_t(4 * floats), int(names.size())});
    names.push_back(name);
  };
#define PWS_LOCAL_SIZE(name) \
  const int64_t name = m.name; \
  (void)name;
  PWS_SIZE_FIELDS(PWS_LOCAL_SIZE)  // the sizes by name, for the arrays' count expressions
#undef PWS_LOCAL_SIZE
#define PWS_RANGE_A(name, width, count) add(m.name, int64_t(width) * int64_t(count), "model." #name);
#define PWS_RANGE_B(name, width, count) add(m.name.ptr, m.name.stride * m.name.nbank, "model." #name);
  PWS_MODEL_ARRAYS(PWS_RANGE_A, PWS_RANGE_A, PWS_RANGE_B)
#undef PWS_RANGE_A
#undef PWS_RANGE_B
  Recorder data;
  std::vector<std::string> data_names;
  footprint_ranges(data, data_arrays, nworld, data_names);
  for (const Recorder::Range& r : data.footprint_ranges) {
    rec.request_ranges.push_back({r.lo, r.hi, int(names.size())});
    names.push_back(data_names[r.array]);
  }
  std::sort(rec.request_ranges.begin(), rec.request_ranges.end(),
            [](const Recorder::Range& a, const Recorder::Range& b) { return a.lo < b.lo; });
}

// {stage, array, lane_stride_bytes (None: one lane active), requests, sectors, lane_accesses,
// packed_sectors} per key
// of the recorder's per-array breakdown.
py::list requests_by_array(const Recorder& rec, const std::vector<std::string>& names,
                           const char* const* stage_names) {
  py::list out;
  for (const auto& e : rec.requests_by_array) {
    py::dict d;
    d["stage"] = stage_names[e.first.stage];
    d["array"] = e.first.array < 0 ? std::string("other") : names[e.first.array];
    d["lane_stride_bytes"] = e.first.lane_stride == Recorder::kOneLane ? py::object(py::none())
                                                                       : py::object(py::int_(e.first.lane_stride));
    d["requests"] = e.second.requests;
    d["sectors"] = e.second.sectors;
    d["lane_accesses"] = e.second.lane_accesses;
    d["packed_sectors"] = e.second.packed_sectors;
    out.append(d);
  }
  return out;
}

py::object simt_step(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays,
                     const py::dict& data_arrays, int64_t nworld,
                     py::array_t<int, py::array::c_style | py::array::forcecast> body_parentid,
                     py::array_t<int, py::array::c_style | py::array::forcecast> dof_parentid, int group_size,
                     int nsteps, int stage, bool record, int num_threads, bool footprint, int64_t nslot) {
  pws::ModelView<float> m = pws_bind::make_model_view<float>(ints, reals, model_arrays);
  pws::DataView<float> dv = pws_bind::make_data_view<float>(data_arrays, nslot);
  if (nslot > 0 && stage >= 0)
    throw py::value_error("simt_step: a stage alone (stage >= 0) reads the arrays another stage wrote per world: "
                          "it needs every array per world (nslot = 0)");
#if defined(_OPENMP)
  const int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
#else
  const int threads = 1;
#endif
  if (nslot > 0 && nslot < threads)
    throw py::value_error("simt_step: " + std::to_string(threads) + " threads step a world each in their own group "
                          "slot, the workspace has " + std::to_string(nslot) + " slots: use at most that many threads");
  if (group_size != 8 && group_size != 16 && group_size != 32)
    throw py::value_error("simt_step: group_size must be 8, 16 or 32, got " + std::to_string(group_size));
  if (stage < -1 || stage >= pws::simt::kNumOnlyStages)
    throw py::value_error("simt_step: stage must be -1 (the fused step) or 0.." +
                          std::to_string(pws::simt::kNumOnlyStages - 1) + ", got " + std::to_string(stage));
  if (nsteps < 0) throw py::value_error("simt_step: nsteps must be >= 0, got " + std::to_string(nsteps));
  if (body_parentid.size() != m.nbody || dof_parentid.size() != m.nv)
    throw py::value_error("simt_step: body_parentid has " + std::to_string(body_parentid.size()) +
                          " entries and dof_parentid " + std::to_string(dof_parentid.size()) + ", the model nbody=" +
                          std::to_string(m.nbody) + " nv=" + std::to_string(m.nv));
  // The fused step holds a world's workspace in its thread's group slot (nslot > 0) or per world;
  // the per-world requirement of the standalone collision and rows kernels (each world at row 0 of
  // a slotted array) does not apply to it.
  pws::DataView<float> per_world = dv;
  per_world.nslot = 0;
  std::string refusal = pws::simt::step_refusal(m);
  if (refusal.empty())
    refusal = pws::simt::step_refusal_tables(m.nu, m.actuator_trntype, m.actuator_dyntype, m.actuator_gaintype,
                                             m.actuator_biastype);
  if (refusal.empty() && m.en_constraint) refusal = collision_refusal(m, per_world);
  if (refusal.empty() && m.en_constraint) refusal = constraint_refusal(m, per_world);
  if (!refusal.empty()) throw py::value_error("simt_step: " + refusal);
  pws::simt::TreeHost tree = pws::simt::build_tree(m.nbody, body_parentid.data(), m.nv, dof_parentid.data());
  const std::vector<float> act_exp =
      pws::simt::act_exp_table(m.nu, m.actuator_dyntype, m.actuator_dynprm, m.timestep);
  const pws::simt::StepTables s{tree.view(), act_exp.data()};
  if (footprint && !record) throw py::value_error("simt_step: footprint=True measures with the recorder: pass record=True");
  Recorder rec;
  std::vector<std::string> names;
  if (footprint) footprint_ranges(rec, data_arrays, nworld, names);
  std::vector<std::string> request_names;
  if (record) request_ranges(rec, m, data_arrays, nworld, request_names);
  {
    py::gil_scoped_release release;
    Recorder* r = record ? &rec : nullptr;
    if (group_size == 8) step_all<8>(m, dv, s, nworld, r, num_threads, nsteps, stage);
    if (group_size == 16) step_all<16>(m, dv, s, nworld, r, num_threads, nsteps, stage);
    if (group_size == 32) step_all<32>(m, dv, s, nworld, r, num_threads, nsteps, stage);
  }
  if (!record) return py::none();
  py::dict out = stats_dict(rec, kStepStageNames, kNumStepStages);
  out["requests_by_array"] = requests_by_array(rec, request_names, kStepStageNames);
  if (footprint) {
    py::dict arrays;
    for (size_t i = 0; i < names.size(); ++i) {
      const uint8_t f = rec.footprint_flags[i];
      py::dict e;
      e["read_first"] = bool(f & Recorder::kFirstRead);
      e["read"] = bool(f & Recorder::kRead);
      e["written"] = bool(f & Recorder::kWritten);
      e["read_after_write"] = bool(f & Recorder::kReadAfterWrite);
      arrays[py::str(names[i])] = e;
    }
    out["footprint"] = arrays;
  }
  return out;
}

template <int N>
py::dict primitives(const float* x, const int* k, const int* src, int delta, int lane_mask) {
  std::vector<float> out_f(pws::simt::kPrimitiveFloatRows * N);
  std::vector<int> out_i(4 * N);
  EmuGroup<N, float> g(nullptr);
  pws::simt::primitive_check(g, x, k, src, delta, lane_mask, out_f.data(), out_i.data());
  py::array_t<float> f({pws::simt::kPrimitiveFloatRows, N});
  py::array_t<int> i({4, N});
  std::copy(out_f.begin(), out_f.end(), f.mutable_data());
  std::copy(out_i.begin(), out_i.end(), i.mutable_data());
  py::dict r;
  r["float"] = f;
  r["int"] = i;
  return r;
}

py::dict simt_primitives(py::array_t<float, py::array::c_style | py::array::forcecast> x,
                         py::array_t<int, py::array::c_style | py::array::forcecast> k,
                         py::array_t<int, py::array::c_style | py::array::forcecast> src, int delta, int lane_mask) {
  const int n = int(x.size());
  if (k.size() != n || src.size() != n)
    throw py::value_error("simt_primitives: x, k and src need one entry per lane (8, 16 or 32)");
  switch (n) {
    case 8: return primitives<8>(x.data(), k.data(), src.data(), delta, lane_mask);
    case 16: return primitives<16>(x.data(), k.data(), src.data(), delta, lane_mask);
    case 32: return primitives<32>(x.data(), k.data(), src.data(), delta, lane_mask);
  }
  throw py::value_error("simt_primitives: a group has 8, 16 or 32 lanes, got " + std::to_string(n));
}

py::tuple simt_sincos(py::array_t<float, py::array::c_style | py::array::forcecast> x) {
  py::array_t<float> s(x.size()), c(x.size());
  for (py::ssize_t i = 0; i < x.size(); ++i) pws::simt::sincos_f(x.data()[i], s.mutable_data() + i, c.mutable_data() + i);
  return py::make_tuple(s, c);
}

// Rule 1 of kernels/simt.h, checked: one phase of a recording group in which lane l writes
// buf[l] and reads buf[(l + shift) % 32]. Returns the recorder's complaint, or "" when none
// (shift 0: each lane touches only its own location).
std::string simt_race_probe(int shift) {
  std::vector<float> buf(32, 1.0f);
  Recorder rec;
  EmuGroup<32, float> g(nullptr, &rec);
  try {
    g.each(32, [&](int l) { g.st(buf.data() + l, g.ld(buf.data() + (l + shift) % 32) + 1.0f); });
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

void register_simt(py::module_& m) {
  m.def("simt_smooth", &simt_smooth, py::arg("ints"), py::arg("reals"), py::arg("model_arrays"),
        py::arg("data_arrays"), py::arg("nworld"), py::arg("body_parentid"), py::arg("dof_parentid"),
        py::arg("group_size") = 32, py::arg("record") = false, py::arg("num_threads") = 0,
        "The lane-group smooth stage (kernels/simt_smooth.h) of every world, lanes emulated in lockstep; "
        "record=True: the counting float and the address recorder, one world at a time, returning "
        "{'stages': {stage: {phases, warp_instructions, lane_instructions, global_requests, global_sectors, "
        "global_lane_accesses, shared_accesses, distinct_global_bytes}}, 'working_set_bytes'}, sums over "
        "the worlds.");
  m.def("simt_solve", &simt_solve, py::arg("ints"), py::arg("reals"), py::arg("model_arrays"),
        py::arg("data_arrays"), py::arg("nworld"), py::arg("group_size") = 32, py::arg("record") = false,
        py::arg("num_threads") = 0,
        "The lane-group Newton solver (kernels/simt_solver.h) of every world from the rows the native "
        "forward built, lanes emulated in lockstep; record=True: the counting float and the address "
        "recorder, one world at a time, returning per-stage counts as simt_smooth.");
  m.def("simt_collision", &simt_collision, py::arg("ints"), py::arg("reals"), py::arg("model_arrays"),
        py::arg("data_arrays"), py::arg("nworld"), py::arg("group_size") = 32, py::arg("record") = false,
        py::arg("num_threads") = 0,
        "The lane-group collision (kernels/simt_collision.h) of every world from its geom frames, lanes "
        "emulated in lockstep: con_* as the native driver writes them; record=True: per-stage counts as "
        "simt_smooth (stages simt_collision_stages).");
  m.def("simt_make_constraint", &simt_make_constraint, py::arg("ints"), py::arg("reals"), py::arg("model_arrays"),
        py::arg("data_arrays"), py::arg("nworld"), py::arg("group_size") = 32, py::arg("record") = false,
        py::arg("num_threads") = 0,
        "The lane-group constraint rows (kernels/simt_constraint.h) of every world from its contacts and "
        "smooth quantities, lanes emulated in lockstep: efc_* as constraint.h writes them; record=True: "
        "per-stage counts (stages simt_constraint_stages).");
  m.def("simt_step", &simt_step, py::arg("ints"), py::arg("reals"), py::arg("model_arrays"), py::arg("data_arrays"),
        py::arg("nworld"), py::arg("body_parentid"), py::arg("dof_parentid"), py::arg("group_size") = 32,
        py::arg("nsteps") = 1, py::arg("stage") = -1, py::arg("record") = false, py::arg("num_threads") = 0,
        py::arg("footprint") = false, py::arg("nslot") = 0,
        "nsteps fused lane-group steps (kernels/simt_step.h) of every world, lanes emulated in lockstep; stage "
        ">= 0 runs that stage alone (simt::step_stage); record=True: per-stage counts as simt_smooth (stages "
        "simt_step_stages) and 'requests_by_array', the global requests per stage, array (model.<name> or the Data "
        "array's layout name, 'other' outside both) and lane stride in bytes, with their sectors; footprint=True (with record): 'footprint', per Data array {read_first, read, "
        "written, read_after_write} of its scalars within a step, ORed over the world-steps; nslot > 0: the "
        "arrays with nslot rows are workspace held per group slot (Simulator(workspace='group')), OpenMP thread t "
        "stepping its worlds in slot t.");
  m.def("simt_primitives", &simt_primitives, py::arg("x"), py::arg("k"), py::arg("src"), py::arg("delta"),
        py::arg("lane_mask"), "simt::primitive_check on one emulated group (one lane per entry).");
  m.def(
      "simt_block_worlds",
      [](int block_threads, int group_size, int64_t shared_bytes_per_world, int64_t shared_limit,
         const std::function<int(int)>& resident) {
        return pws::simt::block_worlds(block_threads, group_size, shared_bytes_per_world, shared_limit, resident);
      },
      py::arg("block_threads"), py::arg("group_size"), py::arg("shared_bytes_per_world"), py::arg("shared_limit"),
      py::arg("resident"),
      "simt::block_worlds: worlds per block of a lane-group launch (csrc/simt_launch.cu) keeping the most worlds "
      "resident per SM, resident(w) the blocks of w worlds an SM holds; 0 where one world's shared arrays pass "
      "the per-block limit.");
  m.def(
      "simt_persistent_launch",
      [](int64_t nworld, int64_t resident_blocks, int worlds_per_block, int64_t nslot) {
        if (nworld < 0 || worlds_per_block < 0 || nslot < 0)
          throw py::value_error("simt_persistent_launch: nworld, worlds_per_block and nslot must be >= 0");
        py::dict r;
        r["blocks"] = pws::simt::persistent_blocks(nworld, resident_blocks, worlds_per_block);
        r["groups"] = pws::simt::persistent_groups(nworld, resident_blocks, worlds_per_block);
        r["refusal"] = pws::simt::slot_refusal(nslot, pws::simt::persistent_groups(nworld, resident_blocks,
                                                                                     worlds_per_block));
        return r;
      },
      py::arg("nworld"), py::arg("resident_blocks"), py::arg("worlds_per_block"), py::arg("nslot"),
      "The persistent step launch's grid (kernels/simt_step.h persistent_blocks, persistent_groups) and "
      "slot_refusal's answer for nslot workspace slots: {blocks, groups, refusal} (refusal '' when they fit).");
  m.def("simt_race_probe", &simt_race_probe, py::arg("shift"),
        "The recorder's complaint about a phase where lane l writes buf[l] and reads buf[(l + shift) % 32] "
        "(empty when none).");
  m.def("simt_sincos", &simt_sincos, py::arg("x"), "simt::sincos_f elementwise: (sin, cos) float32.");
  py::tuple stages(kNumStages);
  for (int s = 0; s < kNumStages; ++s) stages[s] = kStageNames[s];
  m.attr("simt_stages") = stages;
  py::tuple solver_stages(kNumSolverStages);
  for (int s = 0; s < kNumSolverStages; ++s) solver_stages[s] = kSolverStageNames[s];
  m.attr("simt_solver_stages") = solver_stages;
  py::tuple step_stages(kNumStepStages);
  for (int s = 0; s < kNumStepStages; ++s) step_stages[s] = kStepStageNames[s];
  m.attr("simt_step_stages") = step_stages;
  py::tuple collision_stages(kNumCollisionStages);
  for (int s = 0; s < kNumCollisionStages; ++s) collision_stages[s] = kCollisionStageNames[s];
  m.attr("simt_collision_stages") = collision_stages;
  py::tuple constraint_stages(kNumConstraintStages);
  for (int s = 0; s < kNumConstraintStages; ++s) constraint_stages[s] = kConstraintStageNames[s];
  m.attr("simt_constraint_stages") = constraint_stages;
}
