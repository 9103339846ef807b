// pybind11 module _native: CPU (OpenMP) launchers of the header-only kernels in kernels/.
// No physics here: validate arguments, release the GIL, loop over worlds.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "array_checks.h"
#include "integrate_pos.h"
#include "forward.h"
#include "step_lanes.h"
#include "step_plan.h"
#include "step_stage.h"

namespace py = pybind11;
using namespace pws_bind;

#ifndef PWS_LANES_MIN_WORLDS
#define PWS_LANES_MIN_WORLDS 2
#endif

namespace {

int resolve_threads(int num_threads) {
#ifdef _OPENMP
  return num_threads > 0 ? num_threads : omp_get_max_threads();
#else
  (void)num_threads;
  return 1;
#endif
}

template <typename T>
void integrate_pos_worlds(int njnt, const int* jnt_type, const int* jnt_qposadr, const int* jnt_dofadr,
                          T* qpos, const T* qvel, py::ssize_t nworld, py::ssize_t nq, py::ssize_t nv,
                          T dt, int num_threads) {
  py::gil_scoped_release release;
  const int nthreads = resolve_threads(num_threads);
  (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
  for (py::ssize_t w = 0; w < nworld; ++w) {
    pws::integrate_pos_world<T>(njnt, jnt_type, jnt_qposadr, jnt_dofadr, qpos + w * nq, qvel + w * nv, dt);
  }
}

void integrate_pos(const py::object& jnt_type_obj, const py::object& jnt_qposadr_obj,
                   const py::object& jnt_dofadr_obj, const py::object& qpos_obj, const py::object& qvel_obj,
                   double dt, int num_threads) {
  py::array jnt_type = require_ndarray(jnt_type_obj, "jnt_type");
  py::array jnt_qposadr = require_ndarray(jnt_qposadr_obj, "jnt_qposadr");
  py::array jnt_dofadr = require_ndarray(jnt_dofadr_obj, "jnt_dofadr");
  py::array qpos = require_ndarray(qpos_obj, "qpos");
  py::array qvel = require_ndarray(qvel_obj, "qvel");

  require_shape(jnt_type, "jnt_type", {-1}, "(njnt,)");
  const py::ssize_t njnt = jnt_type.shape(0);
  const std::string njnt_text = "(njnt,) = (" + std::to_string(njnt) + ",) like jnt_type";
  require_shape(jnt_qposadr, "jnt_qposadr", {njnt}, njnt_text);
  require_shape(jnt_dofadr, "jnt_dofadr", {njnt}, njnt_text);
  const struct {
    const py::array& a;
    const char* name;
  } tables[] = {{jnt_type, "jnt_type"}, {jnt_qposadr, "jnt_qposadr"}, {jnt_dofadr, "jnt_dofadr"}};
  for (const auto& t : tables) {
    if (!has_dtype<int32_t>(t.a)) {
      throw py::value_error(std::string(t.name) + " must have dtype int32, got " + dtype_str(t.a));
    }
    require_c_contiguous(t.a, t.name);
  }

  require_shape(qpos, "qpos", {-1, -1}, "(nworld, nq)");
  const py::ssize_t nworld = qpos.shape(0);
  const py::ssize_t nq = qpos.shape(1);
  require_shape(qvel, "qvel", {nworld, -1},
                "(nworld, nv) with nworld = " + std::to_string(nworld) + " as in qpos");
  const py::ssize_t nv = qvel.shape(1);
  const bool is_f32 = has_dtype<float>(qpos);
  if (!is_f32 && !has_dtype<double>(qpos)) {
    throw py::value_error("qpos must have dtype float32 (or float64), got " + dtype_str(qpos));
  }
  if (!qvel.dtype().is(qpos.dtype())) {
    throw py::value_error("qvel must have the same dtype as qpos (" + dtype_str(qpos) + "), got " +
                          dtype_str(qvel));
  }
  require_c_contiguous(qpos, "qpos");
  require_c_contiguous(qvel, "qvel");
  require_writeable(qpos, "qpos");
  if (num_threads < 0) {
    throw py::value_error("num_threads must be >= 0 (0 = OpenMP default), got " + std::to_string(num_threads));
  }

  const int* type_p = static_cast<const int*>(jnt_type.data());
  const int* qposadr_p = static_cast<const int*>(jnt_qposadr.data());
  const int* dofadr_p = static_cast<const int*>(jnt_dofadr.data());
  check_joint_tables(type_p, qposadr_p, dofadr_p, njnt, nq, nv);

  if (is_f32) {
    integrate_pos_worlds<float>(static_cast<int>(njnt), type_p, qposadr_p, dofadr_p,
                                static_cast<float*>(qpos.mutable_data()), static_cast<const float*>(qvel.data()),
                                nworld, nq, nv, static_cast<float>(dt), num_threads);
  } else {
    integrate_pos_worlds<double>(static_cast<int>(njnt), type_p, qposadr_p, dofadr_p,
                                 static_cast<double*>(qpos.mutable_data()), static_cast<const double*>(qvel.data()),
                                 nworld, nq, nv, dt, num_threads);
  }
}

// The fused step of every world of one Simulator, over views of its Warp arrays (CPU memory).
// Built once per Simulator by pywarp_sim.native_backend; step/forward release the GIL and run
// an OpenMP loop over worlds, each world doing all of its nsteps steps in a row (worlds are
// independent, so this equals nsteps batched steps and keeps a world's state in cache).
class StepPlan {
 public:
  // Fewest worlds per thread for the lockstep groups (below, the per-world path is faster).
  static constexpr int64_t kLanesMinWorlds = PWS_LANES_MIN_WORLDS;

  StepPlan(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays, const py::dict& data_arrays,
           int64_t nworld, int64_t nslot)
      : model_(make_model_view<float>(ints, reals, model_arrays)), data_(make_data_view<float>(data_arrays, nslot)),
        nworld_(nworld), lanes_(model_) {
    if (nworld < 1) throw py::value_error("nworld must be >= 1, got " + std::to_string(nworld));
  }

  void step(int nsteps, int num_threads) { run(nsteps, num_threads, false); }
  void forward(int num_threads) { run(1, num_threads, true); }

  void set_runtime(int auto_reset, double max_qvel) {
    model_.auto_reset = auto_reset;
    model_.max_qvel = static_cast<float>(max_qvel);
  }

  // Simulator.reset: kernels/forward.h's reset_world (the step's auto reset runs the same) for
  // every world w with mask[w] != 0; mask_ptr: the address of an int32 (nworld,) array.
  void reset(std::uintptr_t mask_ptr) {
    if (!mask_ptr) throw py::value_error("reset: the mask address is null");
    const int* mask = reinterpret_cast<const int*>(mask_ptr);
    if (use_staging_ && stage_.empty()) stage_.resize(1);
    if (use_staging_ && static_cast<int64_t>(stage_[0].size()) < pws::stage_scalars(data_))
      stage_[0].assign(pws::stage_scalars(data_), 0.0f);
    py::gil_scoped_release release;
    for (int64_t w = 0; w < nworld_; ++w) {
      if (!mask[w]) continue;
      const pws::World<float> global = pws::world_view(model_, data_, w, 0);
      const pws::World<float> wd = use_staging_ ? pws::stage_in(global, data_, stage_[0].data()) : global;
      pws::reset_world(model_, wd);
      if (use_staging_) pws::stage_out(wd, data_, global);
    }
  }

  int64_t nworld() const { return nworld_; }
  int64_t stage_bytes() const { return pws::stage_scalars(data_) * static_cast<int64_t>(sizeof(float)); }

  // Byte addresses of scalar i of Data array `name` for worlds w0 .. w0 + n - 1, through the
  // view arithmetic the step uses (WorldArray::at, ::step; world w on workspace row w modulo the
  // rows, as one CUDA thread per world): the address pattern of one access of a warp
  // (bench/proxies.py).
  py::list scalar_addresses(const std::string& name, int64_t w0, int64_t n, int64_t i) const {
    py::list out;
#define PWS_ADDRESSES(nm, width, count)                                                         \
    if (name == #nm) {                                                                        \
      if (i < 0 || i >= data_.nm.stride) throw py::index_error(name + ": no scalar " + std::to_string(i)); \
      for (int64_t w = w0; w < w0 + n; ++w)                                                   \
        out.append(reinterpret_cast<uint64_t>(data_.nm.at(w, data_.nm.slots ? w % data_.nm.slots : 0) + \
                                              i * data_.nm.step()));                          \
      return out;                                                                             \
    }
    PWS_DATA_ARRAYS(PWS_ADDRESSES, PWS_ADDRESSES)
#undef PWS_ADDRESSES
    throw py::key_error("no per-world Data array '" + name + "' in the native layout");
  }

  // Lockstep groups of eight worlds for the smooth stages (kernels/step_lanes.h); the
  // trajectories are the same bit for bit either way (tests/test_native_backend.py).
  bool lanes() const { return use_lanes_; }
  void set_lanes(bool on) { use_lanes_ = on; }

  // Each world steps inside a per-thread buffer (kernels/step_stage.h; same results bit for
  // bit); takes precedence over the lockstep groups.
  bool staging() const { return use_staging_; }
  void set_staging(bool on) { use_staging_ = on; }

 private:
  void run(int nsteps, int num_threads, bool forward_only) {
    if (nsteps < 0) throw py::value_error("nsteps must be >= 0, got " + std::to_string(nsteps));
    if (num_threads < 0) {
      throw py::value_error("num_threads must be >= 0 (0 = OpenMP default), got " + std::to_string(num_threads));
    }
    if (nsteps == 0) return;
    if (!use_staging_ && pws::data_tiled(data_)) {
      throw py::value_error("the Data arrays are tiled (Simulator(layout='tiled')): the step reads them "
                            "only staged; turn staging on (native_backend.set_staging)");
    }
    const int nthreads = static_cast<int>(std::min<int64_t>(resolve_threads(num_threads), nworld_));
    // per-thread workspace: thread t uses rows t * kLanes .. t * kLanes + 7
    if (data_.nslot && data_.nslot < static_cast<int64_t>(nthreads) * pws::kLanes) {
      throw py::value_error("the per-thread solver workspace has " + std::to_string(data_.nslot) +
                            " rows, " + std::to_string(nthreads) + " threads need " +
                            std::to_string(static_cast<int64_t>(nthreads) * pws::kLanes) +
                            "; use fewer threads or build the Simulator after setting OMP_NUM_THREADS");
    }
    py::gil_scoped_release release;
    const pws::ModelView<float>& m = model_;
    const pws::DataView<float>& d = data_;
    const int64_t nworld = nworld_;
    const bool convex = m.has_convex != 0;
    // Lockstep groups of up to eight worlds. Many groups: dynamic schedule over groups;
    // otherwise each thread takes a contiguous range of worlds (balanced to one world) in
    // groups of eight.
    const int64_t ngroups = (nworld + pws::kLanes - 1) / pws::kLanes;
    if (use_lanes_ && !use_staging_ && nworld >= kLanesMinWorlds * nthreads) {
      lanes_.copy_model(m);
      if (static_cast<int>(scratch_.size()) < nthreads) {
        py::gil_scoped_acquire acquire;  // allocation only; keeps the lane buffers between calls
        while (static_cast<int>(scratch_.size()) < nthreads) scratch_.push_back(lanes_.make_scratch());
      }
      auto range = [&](int64_t begin, int64_t end, int thread) {
        pws::LaneGroups::Scratch& s = scratch_[thread];
        for (int64_t w0 = begin; w0 < end; w0 += pws::kLanes) {
          int nl = static_cast<int>(std::min<int64_t>(pws::kLanes, end - w0));
          const int64_t slot0 = static_cast<int64_t>(thread) * pws::kLanes;
          convex ? lanes_.run<true>(m, d, s, w0, nl, nsteps, forward_only, slot0)
                 : lanes_.run<false>(m, d, s, w0, nl, nsteps, forward_only, slot0);
        }
      };
      if (nthreads <= 1) {
        range(0, nworld, 0);
        return;
      }
#ifdef _OPENMP
      if (ngroups >= 4 * nthreads) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
        for (int64_t g = 0; g < ngroups; ++g)
          range(g * pws::kLanes, std::min<int64_t>(nworld, (g + 1) * pws::kLanes), omp_get_thread_num());
      } else {
#pragma omp parallel for schedule(static, 1) num_threads(nthreads)
        for (int t = 0; t < nthreads; ++t) range(nworld * t / nthreads, nworld * (t + 1) / nthreads, t);
      }
#endif
      return;
    }
    const int64_t stage_n = use_staging_ ? pws::stage_scalars(d) : 0;
    if (use_staging_) {
      py::gil_scoped_acquire acquire;  // allocation only; the buffers stay between calls
      if (static_cast<int>(stage_.size()) < nthreads) stage_.resize(nthreads);
      for (auto& b : stage_)
        if (static_cast<int64_t>(b.size()) < stage_n) b.assign(stage_n, 0.0f);
    }
    auto body = [&](int64_t w, int thread) {
      const pws::World<float> global = pws::world_view(m, d, w, static_cast<int64_t>(thread) * pws::kLanes);
      const pws::World<float> wd = use_staging_ ? pws::stage_in(global, d, stage_[thread].data()) : global;
      if (forward_only) {
        pws::begin_step(wd);
        convex ? pws::forward_world<float, true>(m, wd) : pws::forward_world<float, false>(m, wd);
      } else if (convex) {
        for (int s = 0; s < nsteps; ++s) pws::step_world<float, true>(m, wd);
      } else {
        for (int s = 0; s < nsteps; ++s) pws::step_world<float, false>(m, wd);
      }
      if (use_staging_) pws::stage_out(wd, d, global);
    };
    if (nthreads <= 1) {
      for (int64_t w = 0; w < nworld; ++w) body(w, 0);
      return;
    }
#ifdef _OPENMP
    // dynamic (worlds with more contacts take longer) over runs of adjacent worlds, so that the
    // small per-world arrays sharing a cache line (time, nefc, health, ...) mostly stay on one
    // thread (no false sharing) while keeping ~8 chunks per thread for balance.
    const int chunk = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(16, nworld / (8 * nthreads))));
#pragma omp parallel for schedule(dynamic, chunk) num_threads(nthreads)
    for (int64_t w = 0; w < nworld; ++w) body(w, omp_get_thread_num());
#endif
  }

  pws::ModelView<float> model_;
  pws::DataView<float> data_;
  int64_t nworld_;
  pws::LaneGroups lanes_;
  std::vector<pws::LaneGroups::Scratch> scratch_;  // one per OpenMP thread
  std::vector<std::vector<float>> stage_;          // staging buffers, one per OpenMP thread
  bool use_lanes_ = true;
  bool use_staging_ = false;
};

// The kernels' enum constants under the names of their Python twins in pywarp_sim/types.py
// ("Enum.MEMBER"); tests/test_architecture.py checks that the two agree.
py::dict kernel_constants() {
  py::dict c;
  const std::pair<const char*, int> pairs[] = {
    {"JointType.FREE", pws::kJointFree}, {"JointType.BALL", pws::kJointBall},
    {"JointType.SLIDE", pws::kJointSlide}, {"JointType.HINGE", pws::kJointHinge},
    {"IntegratorType.EULER", pws::kIntEuler}, {"IntegratorType.RK4", pws::kIntRK4},
    {"IntegratorType.IMPLICITFAST", pws::kIntImplicitFast},
    {"SolverType.PGS", pws::kSolverPGS}, {"SolverType.CG", pws::kSolverCG},
    {"SolverType.NEWTON", pws::kSolverNewton},
    {"DynType.NONE", pws::kDynNone}, {"DynType.INTEGRATOR", pws::kDynIntegrator},
    {"DynType.FILTER", pws::kDynFilter}, {"DynType.FILTEREXACT", pws::kDynFilterExact},
    {"GainType.AFFINE", pws::kGainAffine}, {"BiasType.AFFINE", pws::kBiasAffine},
    {"TrnType.TENDON", pws::kTrnTendon}, {"GeomType.PLANE", pws::kGeomPlane},
    {"ConstraintType.EQUALITY", pws::kCnstrEquality},
    {"ConstraintType.FRICTION_DOF", pws::kCnstrFrictionDof},
    {"ConstraintType.FRICTION_TENDON", pws::kCnstrFrictionTendon},
    {"ConstraintType.LIMIT_JOINT", pws::kCnstrLimitJoint},
    {"ConstraintType.LIMIT_TENDON", pws::kCnstrLimitTendon},
    {"ConstraintType.CONTACT_FRICTIONLESS", pws::kCnstrContactFrictionless},
    {"ConstraintType.CONTACT_PYRAMIDAL", pws::kCnstrContactPyramidal},
    {"ConstraintType.CONTACT_ELLIPTIC", pws::kCnstrContactElliptic},
    {"Collider.PLANE_SPHERE", pws::kPlaneSphere}, {"Collider.PLANE_CAPSULE", pws::kPlaneCapsule},
    {"Collider.PLANE_ELLIPSOID", pws::kPlaneEllipsoid}, {"Collider.PLANE_CYLINDER", pws::kPlaneCylinder},
    {"Collider.PLANE_BOX", pws::kPlaneBox}, {"Collider.SPHERE_SPHERE", pws::kSphereSphere},
    {"Collider.SPHERE_CAPSULE", pws::kSphereCapsule}, {"Collider.SPHERE_CYLINDER", pws::kSphereCylinder},
    {"Collider.SPHERE_BOX", pws::kSphereBox}, {"Collider.CAPSULE_CAPSULE", pws::kCapsuleCapsule},
    {"Collider.CAPSULE_BOX", pws::kCapsuleBox}, {"Collider.BOX_BOX", pws::kBoxBox},
    {"Collider.CONVEX", pws::kConvex},
    {"GeomType.SPHERE", pws::ccd::kSphere}, {"GeomType.CAPSULE", pws::ccd::kCapsule},
    {"GeomType.ELLIPSOID", pws::ccd::kEllipsoid}, {"GeomType.CYLINDER", pws::ccd::kCylinder},
    {"GeomType.BOX", pws::ccd::kBox},
    {"Health.NONFINITE", pws::kHealthNonFinite}, {"Health.CONTACT_OVERFLOW", pws::kHealthContactOverflow},
    {"Health.SOLVER_NOT_CONVERGED", pws::kHealthSolverNotConverged},
    {"Health.VELOCITY_BOUND", pws::kHealthVelocityBound}, {"Health.PARKED", pws::kHealthParked},
    {"COUNTERS.auto_resets", pws::kCounterAutoReset}, {"COUNTERS.parked", pws::kCounterParked},
    // sensors (kernels/sensor.h)
    {"SensorType.TOUCH", pws::kSensTouch}, {"SensorType.ACCELEROMETER", pws::kSensAccelerometer},
    {"SensorType.VELOCIMETER", pws::kSensVelocimeter}, {"SensorType.GYRO", pws::kSensGyro},
    {"SensorType.FORCE", pws::kSensForce}, {"SensorType.TORQUE", pws::kSensTorque},
    {"SensorType.MAGNETOMETER", pws::kSensMagnetometer}, {"SensorType.JOINTPOS", pws::kSensJointPos},
    {"SensorType.JOINTVEL", pws::kSensJointVel}, {"SensorType.TENDONPOS", pws::kSensTendonPos},
    {"SensorType.TENDONVEL", pws::kSensTendonVel}, {"SensorType.ACTUATORPOS", pws::kSensActuatorPos},
    {"SensorType.ACTUATORVEL", pws::kSensActuatorVel}, {"SensorType.ACTUATORFRC", pws::kSensActuatorFrc},
    {"SensorType.JOINTACTFRC", pws::kSensJointActFrc}, {"SensorType.TENDONACTFRC", pws::kSensTendonActFrc},
    {"SensorType.BALLQUAT", pws::kSensBallQuat}, {"SensorType.BALLANGVEL", pws::kSensBallAngVel},
    {"SensorType.JOINTLIMITPOS", pws::kSensJointLimitPos}, {"SensorType.JOINTLIMITVEL", pws::kSensJointLimitVel},
    {"SensorType.JOINTLIMITFRC", pws::kSensJointLimitFrc}, {"SensorType.TENDONLIMITPOS", pws::kSensTendonLimitPos},
    {"SensorType.TENDONLIMITVEL", pws::kSensTendonLimitVel}, {"SensorType.TENDONLIMITFRC", pws::kSensTendonLimitFrc},
    {"SensorType.FRAMEPOS", pws::kSensFramePos}, {"SensorType.FRAMEQUAT", pws::kSensFrameQuat},
    {"SensorType.FRAMEXAXIS", pws::kSensFrameXAxis}, {"SensorType.FRAMEYAXIS", pws::kSensFrameYAxis},
    {"SensorType.FRAMEZAXIS", pws::kSensFrameZAxis}, {"SensorType.FRAMELINVEL", pws::kSensFrameLinVel},
    {"SensorType.FRAMEANGVEL", pws::kSensFrameAngVel}, {"SensorType.FRAMELINACC", pws::kSensFrameLinAcc},
    {"SensorType.FRAMEANGACC", pws::kSensFrameAngAcc}, {"SensorType.SUBTREECOM", pws::kSensSubtreeCom},
    {"SensorType.SUBTREELINVEL", pws::kSensSubtreeLinVel}, {"SensorType.SUBTREEANGMOM", pws::kSensSubtreeAngMom},
    {"SensorType.CLOCK", pws::kSensClock}, {"SensorType.RANGEFINDER", pws::kSensRangefinder},
    {"Stage.POS", pws::kStagePos}, {"Stage.VEL", pws::kStageVel}, {"Stage.ACC", pws::kStageAcc},
    {"DataType.REAL", pws::kDataReal}, {"DataType.POSITIVE", pws::kDataPositive},
    {"ObjType.BODY", pws::kObjBody}, {"ObjType.XBODY", pws::kObjXBody}, {"ObjType.GEOM", pws::kObjGeom},
    {"ObjType.SITE", pws::kObjSite},
    {"EqType.CONNECT", pws::kEqConnect}, {"EqType.WELD", pws::kEqWeld}, {"EqType.JOINT", pws::kEqJoint},
    {"EqType.TENDON", pws::kEqTendon},
  };
  // a touch sensor's zone is its site's geom type (the collider's codes, checked above)
  static_assert(pws::kZoneSphere == pws::ccd::kSphere && pws::kZoneCapsule == pws::ccd::kCapsule &&
                pws::kZoneEllipsoid == pws::ccd::kEllipsoid && pws::kZoneCylinder == pws::ccd::kCylinder &&
                pws::kZoneBox == pws::ccd::kBox, "kernels/sensor.h zone codes must be mjtGeom's");
  for (const auto& p : pairs) c[p.first] = p.second;
  return c;
}

}  // namespace

// csrc/simt_bindings.cpp: the lane-group (SIMT) kernels emulated on the CPU
void register_simt(py::module_& m);

PYBIND11_MODULE(_native, m) {
  m.doc() = "pywarp_sim native CPU kernels (OpenMP); see pywarp_sim.native for the Python API.";

  m.def("kernel_constants", &kernel_constants,
        "The kernels' enum constants by the name of their Python twin in pywarp_sim.types.");
  m.def("integrate_pos", &integrate_pos, py::arg("jnt_type"), py::arg("jnt_qposadr"), py::arg("jnt_dofadr"),
        py::arg("qpos"), py::arg("qvel"), py::arg("dt"), py::arg("num_threads") = 0,
        R"doc(MuJoCo's mj_integratePos for every world, in place.

jnt_type, jnt_qposadr, jnt_dofadr: int32 (njnt,), C-contiguous, as in MjModel.
qpos: float32 (or float64) (nworld, nq), C-contiguous, writeable; updated in place.
qvel: same dtype as qpos, (nworld, nv), C-contiguous.
dt: time step [s].
num_threads: OpenMP threads; 0 = OpenMP's default (OMP_NUM_THREADS).
Raises ValueError naming the argument on a wrong type, dtype, shape, layout or
joint table entry.)doc");

  m.def("step_layout", &step_layout,
        "Fields of the fused step's pointer tables: [{name, group, width, count}] (see kernels/types.h).");
  m.attr("ccd_max_iterations") = pws::ccd::kCcdMaxIterations;  // EPA scratch capacity (collision_gjk.h)
  m.attr("max_poly_vert") = pws::ccd::kMaxPolyVert;  // largest hull polygon multicontact clips (collision_gjk.h)
  m.attr("lanes") = pws::kLanes;  // worlds per lockstep group = per-thread workspace rows

  py::class_<StepPlan>(m, "StepPlan", R"doc(The fused mj_step (kernels/forward.h) over views of a Simulator's arrays.

StepPlan(ints, reals, model_arrays, data_arrays, nworld, nslot=0): tables built by
pywarp_sim.native_backend from step_layout(); every address is a CPU address of a
float32/int32 C-contiguous Warp array that must outlive the plan. nslot > 0: the solver
workspace arrays hold nslot rows, 8 per OpenMP thread, instead of one per world.)doc")
      .def(py::init<const py::dict&, const py::dict&, const py::dict&, const py::dict&, int64_t, int64_t>(),
           py::arg("ints"), py::arg("reals"), py::arg("model_arrays"), py::arg("data_arrays"), py::arg("nworld"),
           py::arg("nslot") = 0)
      .def("step", &StepPlan::step, py::arg("nsteps") = 1, py::arg("num_threads") = 0,
           "nsteps Simulator steps of every world (mj_step, health, auto-reset); OpenMP over worlds.")
      .def("forward", &StepPlan::forward, py::arg("num_threads") = 0, "mj_forward of every world.")
      .def("set_runtime", &StepPlan::set_runtime, py::arg("auto_reset"), py::arg("max_qvel"),
           "Updates the Simulator settings read by step (auto_reset, max_qvel).")
      .def("reset", &StepPlan::reset, py::arg("mask_ptr"),
           "Resets the worlds whose int32 mask entry is set (reset_world, as the step's auto reset).")
      .def_property_readonly("nworld", &StepPlan::nworld)
      .def_property("lanes", &StepPlan::lanes, &StepPlan::set_lanes,
                    "Run the smooth stages of eight worlds in lockstep (same results bit for bit).")
      .def_property("staging", &StepPlan::staging, &StepPlan::set_staging,
                    "Step each world inside a per-thread buffer (kernels/step_stage.h; same results bit "
                    "for bit; the per-world path, not the lockstep groups).")
      .def_property_readonly("stage_bytes", [](const StepPlan& p) { return p.stage_bytes(); },
                             "Bytes of one world's staging buffer.")
      .def("scalar_addresses", &StepPlan::scalar_addresses, py::arg("name"), py::arg("w0"), py::arg("n"),
           py::arg("i"), "Byte addresses of scalar i of Data array `name` for worlds w0 .. w0 + n - 1 "
           "(the step's view arithmetic; workspace row = world).");

  m.def("has_openmp", []() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
  }, "True when the module was compiled with OpenMP.");

  m.def("set_solver_dense_loops", [](bool dense) { pws::solver_dense_loops() = dense; }, py::arg("dense"),
        "Constraint solver: read every Jacobian, qM and factor row whole instead of over its "
        "nonzero span (kernels/solver.h; the same results bit for bit; a check of that, process-wide).");
  m.def("solver_dense_loops", []() { return pws::solver_dense_loops(); });

  m.def("openmp_max_threads", []() { return resolve_threads(0); },
        "Threads a num_threads=0 call uses (omp_get_max_threads(); 1 without OpenMP).");
  register_simt(m);
}
