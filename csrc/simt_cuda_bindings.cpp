// CUDA bindings of the lane-group (SIMT) kernels (simt_launch.cu): the smooth stage and the Newton
// solver over a Simulator's device arrays and the primitives on one group. Registered into _native_cuda by
// register_simt_cuda (cuda_bindings.cpp). Host compiler only; no CUDA headers.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "simt_launch.h"
#include "step_plan.h"

namespace py = pybind11;

namespace {

using IntArray = py::array_t<int, py::array::c_style | py::array::forcecast>;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

void simt_smooth_cuda(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays,
                      const py::dict& data_arrays, int64_t nworld, IntArray body_parentid, IntArray dof_parentid,
                      int group_size, int device, std::uintptr_t stream) {
  pws::ModelView<float> m = pws_bind::make_model_view<float>(ints, reals, model_arrays);
  pws::DataView<float> d = pws_bind::make_data_view<float>(data_arrays, 0);
  if (body_parentid.size() != m.nbody || dof_parentid.size() != m.nv)
    throw py::value_error("simt_smooth: body_parentid has " + std::to_string(body_parentid.size()) +
                          " entries and dof_parentid " + std::to_string(dof_parentid.size()) + ", the model nbody=" +
                          std::to_string(m.nbody) + " nv=" + std::to_string(m.nv));
  pws::simt::TreeHost tree = pws::simt::build_tree(m.nbody, body_parentid.data(), m.nv, dof_parentid.data());
  const char* err = nullptr;
  {
    py::gil_scoped_release release;
    err = pws_cuda::simt_smooth(m, d, tree, nworld, group_size, device, stream);
  }
  if (err) throw std::runtime_error(std::string("simt_smooth on CUDA failed: ") + err);
}

void simt_solve_cuda(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays,
                     const py::dict& data_arrays, int64_t nworld, int group_size, int device, std::uintptr_t stream) {
  pws::ModelView<float> m = pws_bind::make_model_view<float>(ints, reals, model_arrays);
  pws::DataView<float> d = pws_bind::make_data_view<float>(data_arrays, 0);
  if (m.solver_type != 2)
    throw py::value_error("simt_solve: the lane-group solver runs Newton (opt.solver=" + std::to_string(m.solver_type) +
                          ")");
  const char* err = nullptr;
  {
    py::gil_scoped_release release;
    err = pws_cuda::simt_solve(m, d, nworld, group_size, device, stream);
  }
  if (err) throw std::runtime_error(std::string("simt_solve on CUDA failed: ") + err);
}

void simt_rows_cuda(bool collision, const py::dict& ints, const py::dict& reals, const py::dict& model_arrays,
                    const py::dict& data_arrays, int64_t nworld, int group_size, int device, std::uintptr_t stream) {
  pws::ModelView<float> m = pws_bind::make_model_view<float>(ints, reals, model_arrays);
  pws::DataView<float> d = pws_bind::make_data_view<float>(data_arrays, 0);
  const char* name = collision ? "simt_collision" : "simt_make_constraint";
  if (collision && m.has_convex)
    throw py::value_error(std::string(name) + ": the model has convex (GJK/EPA) pairs, which the lane-group "
                          "collision does not run: use the native step");
  if (!collision && m.en_equality)
    throw py::value_error(std::string(name) + ": the lane-group rows on CUDA have no equality rows (en_equality=" +
                          std::to_string(m.en_equality) + ")");
  const char* err = nullptr;
  {
    py::gil_scoped_release release;
    err = collision ? pws_cuda::simt_collision(m, d, nworld, group_size, device, stream)
                    : pws_cuda::simt_make_constraint(m, d, nworld, group_size, device, stream);
  }
  if (err) throw std::runtime_error(std::string(name) + " on CUDA failed: " + err);
}

void simt_collision_cuda(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays,
                         const py::dict& data_arrays, int64_t nworld, int group_size, int device,
                         std::uintptr_t stream) {
  simt_rows_cuda(true, ints, reals, model_arrays, data_arrays, nworld, group_size, device, stream);
}

void simt_make_constraint_cuda(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays,
                               const py::dict& data_arrays, int64_t nworld, int group_size, int device,
                               std::uintptr_t stream) {
  simt_rows_cuda(false, ints, reals, model_arrays, data_arrays, nworld, group_size, device, stream);
}

// The rows of the per-group-slot arrays of a Data table (Simulator(workspace="group"): the
// table's slot count), 0 where every array is per world; make_data_view checks that they agree.
int64_t table_slots(const py::dict& data_arrays) {
  for (auto item : data_arrays) {
    if (!py::isinstance<py::tuple>(item.second)) continue;  // a global counter array
    py::tuple t = item.second.cast<py::tuple>();
    if (t.size() > 2 && t[2].cast<int64_t>() != 0) return t[2].cast<int64_t>();
  }
  return 0;
}

// The step's ModelView sizes behind the shared array and so the launch's shape (step_shared_floats).
// convex: the model's has_convex, which picks the step instance and so the kernel whose
// occupancy the shape follows.
pws::ModelView<float> shape_view(int nv, int npair, int nconmax, int neq, bool convex) {
  pws::ModelView<float> m{};
  m.has_convex = convex ? 1 : 0;
  m.nv = nv;
  m.npair = npair;
  m.nconmax = nconmax;
  m.neq = neq;
  return m;
}

int64_t simt_step_slots_cuda(int nv, int npair, int nconmax, int neq, bool convex, int64_t nworld, int group_size,
                             int device) {
  if (nv < 0 || npair < 0 || nconmax < 0 || neq < 0 || nworld < 0)
    throw py::value_error("simt_step_slots: nv, npair, nconmax, neq and nworld must be >= 0");
  int64_t slots = 0;
  if (const char* err =
          pws_cuda::simt_step_slots(shape_view(nv, npair, nconmax, neq, convex), nworld, group_size, device, &slots))
    throw std::runtime_error(std::string("simt_step_slots on CUDA failed: ") + err);
  return slots;
}

void simt_step_cuda(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays,
                    const py::dict& data_arrays, int64_t nworld, IntArray body_parentid, IntArray dof_parentid,
                    IntArray actuator_dyntype, FloatArray actuator_dynprm, int group_size, int nsteps, bool persistent,
                    int device, std::uintptr_t stream) {
  pws::ModelView<float> m = pws_bind::make_model_view<float>(ints, reals, model_arrays);
  pws::DataView<float> d = pws_bind::make_data_view<float>(data_arrays, table_slots(data_arrays));
  if (body_parentid.size() != m.nbody || dof_parentid.size() != m.nv)
    throw py::value_error("simt_step: body_parentid has " + std::to_string(body_parentid.size()) +
                          " entries and dof_parentid " + std::to_string(dof_parentid.size()) + ", the model nbody=" +
                          std::to_string(m.nbody) + " nv=" + std::to_string(m.nv));
  if (actuator_dyntype.size() != m.nu || actuator_dynprm.size() != 3 * int64_t(m.nu))
    throw py::value_error("simt_step: actuator_dyntype needs nu entries and actuator_dynprm (nu, 3), the model nu=" +
                          std::to_string(m.nu));
  if (nsteps < 0) throw py::value_error("simt_step: nsteps must be >= 0, got " + std::to_string(nsteps));
  // convex pairs run in the step instance with the convex collider (simt::step<true>), which the
  // launch picks from m.has_convex (csrc/simt_launch.cu launch_step, the instance units csrc/simt_step_instance.cu)
  std::string refusal = pws::simt::step_refusal(m);
  if (refusal.empty() && d.nslot != 0 && nworld > 0 && nsteps > 0) {  // the launch's grid against the slots
    const int64_t groups =
        simt_step_slots_cuda(m.nv, m.npair, m.nconmax, m.neq, m.has_convex != 0, nworld, group_size, device);
    refusal = pws::simt::slot_refusal(d.nslot, groups);
  }
  if (!refusal.empty()) throw py::value_error("simt_step: " + refusal);
  pws::simt::TreeHost tree = pws::simt::build_tree(m.nbody, body_parentid.data(), m.nv, dof_parentid.data());
  const std::vector<float> act_exp =
      pws::simt::act_exp_table(m.nu, actuator_dyntype.data(), actuator_dynprm.data(), m.timestep);
  const char* err = nullptr;
  {
    py::gil_scoped_release release;
    err = pws_cuda::simt_step(m, d, tree, act_exp, nworld, group_size, nsteps, persistent, device, stream);
  }
  if (err) throw std::runtime_error(std::string("simt_step on CUDA failed: ") + err);
}

py::dict simt_primitives_cuda(FloatArray x, IntArray k, IntArray src, int delta, int lane_mask, int device) {
  const int n = int(x.size());
  if (k.size() != n || src.size() != n)
    throw py::value_error("simt_primitives: x, k and src need one entry per lane (8, 16 or 32)");
  py::array_t<float> f({pws::simt::kPrimitiveFloatRows, n});
  py::array_t<int> i({4, n});
  const char* err = pws_cuda::simt_primitives(x.data(), k.data(), src.data(), n, delta, lane_mask, f.mutable_data(),
                                              i.mutable_data(), device);
  if (err) throw std::runtime_error(std::string("simt_primitives on CUDA failed: ") + err);
  py::dict r;
  r["float"] = f;
  r["int"] = i;
  return r;
}

// The fused step of one Simulator on the GPU, cached (pywarp_sim.simt.LaunchPlan): the views of its
// tables, the tree and act_exp in a device buffer filled once (pws_cuda::simt_step_buffer_create);
// step queues the kernel on the stream without allocating, copying tables or synchronising, so that
// a CUDA graph captures a one-step call. The caller checked the refusals (simt_step with nsteps=0).
class SimtStepPlan {
 public:
  SimtStepPlan(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays, const py::dict& data_arrays,
               int64_t nworld, IntArray body_parentid, IntArray dof_parentid, IntArray actuator_dyntype,
               FloatArray actuator_dynprm, int device, int64_t nslot)
      : model_(pws_bind::make_model_view<float>(ints, reals, model_arrays)),
        data_(pws_bind::make_data_view<float>(data_arrays, nslot)), nworld_(nworld) {
    if (nworld < 1) throw py::value_error("SimtStepPlan: nworld must be >= 1, got " + std::to_string(nworld));
    if (device < 0) throw py::value_error("SimtStepPlan: device must be a CUDA ordinal >= 0, got " + std::to_string(device));
    if (body_parentid.size() != model_.nbody || dof_parentid.size() != model_.nv)
      throw py::value_error("SimtStepPlan: body_parentid has " + std::to_string(body_parentid.size()) +
                            " entries and dof_parentid " + std::to_string(dof_parentid.size()) + ", the model nbody=" +
                            std::to_string(model_.nbody) + " nv=" + std::to_string(model_.nv));
    if (actuator_dyntype.size() != model_.nu || actuator_dynprm.size() != 3 * int64_t(model_.nu))
      throw py::value_error("SimtStepPlan: actuator_dyntype needs nu entries and actuator_dynprm (nu, 3), the model "
                            "nu=" + std::to_string(model_.nu));
    const pws::simt::TreeHost tree =
        pws::simt::build_tree(model_.nbody, body_parentid.data(), model_.nv, dof_parentid.data());
    const std::vector<float> act_exp =
        pws::simt::act_exp_table(model_.nu, actuator_dyntype.data(), actuator_dynprm.data(), model_.timestep);
    if (const char* err = pws_cuda::simt_step_buffer_create(model_, tree, act_exp, nworld, device, &buffer_))
      throw std::runtime_error(std::string("SimtStepPlan on CUDA failed: ") + err);
  }
  ~SimtStepPlan() { pws_cuda::simt_step_buffer_free(buffer_); }
  SimtStepPlan(const SimtStepPlan&) = delete;
  SimtStepPlan& operator=(const SimtStepPlan&) = delete;

  void step(int nsteps, int group_size, bool persistent, std::uintptr_t stream) {
    if (nsteps < 0) throw py::value_error("nsteps must be >= 0, got " + std::to_string(nsteps));
    if (group_size != 8 && group_size != 16 && group_size != 32)
      throw py::value_error("group_size must be 8, 16 or 32, got " + std::to_string(group_size));
    if (const char* err =
            pws_cuda::simt_step_buffer_launch(buffer_, model_, data_, nworld_, group_size, nsteps, persistent, stream))
      throw std::runtime_error(std::string("simt step launch on CUDA failed: ") + err);
  }
  void set_runtime(int auto_reset, double max_qvel) {
    model_.auto_reset = auto_reset;
    model_.max_qvel = static_cast<float>(max_qvel);
  }

 private:
  pws::ModelView<float> model_;
  pws::DataView<float> data_;
  int64_t nworld_;
  pws_cuda::SimtStepBuffer* buffer_ = nullptr;
};

}  // namespace

void register_simt_cuda(py::module_& m) {
  m.def("simt_smooth", &simt_smooth_cuda, py::arg("ints"), py::arg("reals"), py::arg("model_arrays"),
        py::arg("data_arrays"), py::arg("nworld"), py::arg("body_parentid"), py::arg("dof_parentid"),
        py::arg("group_size") = 32, py::arg("device") = 0, py::arg("stream") = 0,
        "The lane-group smooth stage (kernels/simt_smooth.h) of every world on the GPU, group_size lanes "
        "per world; tables of device addresses (pywarp_sim.native_backend.build_tables). Synchronous.");
  m.def("simt_solve", &simt_solve_cuda, py::arg("ints"), py::arg("reals"), py::arg("model_arrays"),
        py::arg("data_arrays"), py::arg("nworld"), py::arg("group_size") = 32, py::arg("device") = 0,
        py::arg("stream") = 0,
        "The lane-group Newton solver (kernels/simt_solver.h) of every world on the GPU from the rows in its "
        "Data; tables of device addresses (pywarp_sim.native_backend.build_tables). Synchronous.");
  m.def("simt_collision", &simt_collision_cuda, py::arg("ints"), py::arg("reals"), py::arg("model_arrays"),
        py::arg("data_arrays"), py::arg("nworld"), py::arg("group_size") = 32, py::arg("device") = 0,
        py::arg("stream") = 0,
        "The lane-group collision (kernels/simt_collision.h) of every world on the GPU; tables of device "
        "addresses (pywarp_sim.native_backend.build_tables). Synchronous.");
  m.def("simt_make_constraint", &simt_make_constraint_cuda, py::arg("ints"), py::arg("reals"),
        py::arg("model_arrays"), py::arg("data_arrays"), py::arg("nworld"), py::arg("group_size") = 32,
        py::arg("device") = 0, py::arg("stream") = 0,
        "The lane-group constraint rows (kernels/simt_constraint.h) of every world on the GPU; tables of "
        "device addresses. Synchronous.");
  m.def("simt_step", &simt_step_cuda, py::arg("ints"), py::arg("reals"), py::arg("model_arrays"),
        py::arg("data_arrays"), py::arg("nworld"), py::arg("body_parentid"), py::arg("dof_parentid"),
        py::arg("actuator_dyntype"), py::arg("actuator_dynprm"), py::arg("group_size") = 32, py::arg("nsteps") = 1,
        py::arg("persistent") = false, py::arg("device") = 0, py::arg("stream") = 0,
        "nsteps fused lane-group steps (kernels/simt_step.h) of every world on the GPU, one group per world or "
        "(persistent) groups taking worlds from an atomic counter; tables of device addresses, the tree and "
        "actuator tables from the host. Tables with per-group-slot arrays (Simulator(workspace='group')) run "
        "the persistent launch, a slot per group. Synchronous.");
  m.def("simt_step_slots", &simt_step_slots_cuda, py::arg("nv"), py::arg("npair"), py::arg("nconmax"),
        py::arg("neq"), py::arg("convex"), py::arg("nworld"), py::arg("group_size"), py::arg("device") = 0,
        "The lane groups a persistent simt_step launch of nworld worlds runs on the device (the occupancy "
        "calculator's resident blocks, no more than the worlds need): the workspace slots a "
        "Simulator(workspace='group') allocates, one per group.");
  m.def("simt_primitives", &simt_primitives_cuda, py::arg("x"), py::arg("k"), py::arg("src"), py::arg("delta"),
        py::arg("lane_mask"), py::arg("device") = 0, "simt::primitive_check on one group on the GPU.");
  py::class_<SimtStepPlan>(m, "SimtStepPlan",
                           "The fused lane-group step of one Simulator on the GPU with its tables, tree and "
                           "actuator tables on the device once (pywarp_sim.simt.LaunchPlan); step(nsteps, "
                           "group_size, persistent, stream) launches asynchronously without allocating or "
                           "synchronising (a one-step call can be captured into a CUDA graph).")
      .def(py::init<const py::dict&, const py::dict&, const py::dict&, const py::dict&, int64_t, IntArray, IntArray,
                    IntArray, FloatArray, int, int64_t>(),
           py::arg("ints"), py::arg("reals"), py::arg("model_arrays"), py::arg("data_arrays"), py::arg("nworld"),
           py::arg("body_parentid"), py::arg("dof_parentid"), py::arg("actuator_dyntype"),
           py::arg("actuator_dynprm"), py::arg("device"), py::arg("nslot") = 0)
      .def("step", &SimtStepPlan::step, py::arg("nsteps"), py::arg("group_size"), py::arg("persistent"),
           py::arg("stream"))
      .def("set_runtime", &SimtStepPlan::set_runtime, py::arg("auto_reset"), py::arg("max_qvel"));
}
