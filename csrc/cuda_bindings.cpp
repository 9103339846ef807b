// pybind11 module _native_cuda: CUDA launchers taking raw device pointers
// (e.g. torch.Tensor.data_ptr(), wp.array.ptr). The caller owns the memory and
// the stream; nothing here allocates, copies or synchronises.

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "cuda_launch.h"
#include "collision_gjk.h"
#include "step_plan.h"
#include "step_stage.h"

namespace py = pybind11;

namespace {

template <typename T>
T* as_ptr(std::uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

void require_nonnull_ptr(std::uintptr_t ptr, const char* name) {
  if (ptr == 0) throw py::value_error(std::string(name) + " is a null device pointer");
}

void integrate_pos_cuda(int njnt, std::uintptr_t jnt_type_ptr, std::uintptr_t jnt_qposadr_ptr,
                        std::uintptr_t jnt_dofadr_ptr, std::uintptr_t qpos_ptr, std::uintptr_t qvel_ptr,
                        int64_t nworld, int64_t nq, int64_t nv, double dt, std::uintptr_t stream) {
  if (njnt < 0 || nworld < 0 || nq < 0 || nv < 0) {
    throw py::value_error("njnt, nworld, nq and nv must be >= 0, got njnt=" + std::to_string(njnt) +
                          " nworld=" + std::to_string(nworld) + " nq=" + std::to_string(nq) +
                          " nv=" + std::to_string(nv));
  }
  if (nworld == 0 || njnt == 0) return;
  require_nonnull_ptr(jnt_type_ptr, "jnt_type_ptr");
  require_nonnull_ptr(jnt_qposadr_ptr, "jnt_qposadr_ptr");
  require_nonnull_ptr(jnt_dofadr_ptr, "jnt_dofadr_ptr");
  require_nonnull_ptr(qpos_ptr, "qpos_ptr");
  require_nonnull_ptr(qvel_ptr, "qvel_ptr");
  const char* err = pws_cuda::launch_integrate_pos(
      njnt, as_ptr<const int>(jnt_type_ptr), as_ptr<const int>(jnt_qposadr_ptr), as_ptr<const int>(jnt_dofadr_ptr),
      as_ptr<float>(qpos_ptr), as_ptr<const float>(qvel_ptr), nworld, nq, nv, static_cast<float>(dt), stream);
  if (err) throw std::runtime_error(std::string("integrate_pos_cuda launch failed: ") + err);
}

// The fused step on the GPU over views of a Simulator's Warp arrays (device addresses).
class StepPlan {
 public:
  StepPlan(const py::dict& ints, const py::dict& reals, const py::dict& model_arrays, const py::dict& data_arrays,
           int64_t nworld, int device, int64_t nslot)
      : model_(pws_bind::make_model_view<float>(ints, reals, model_arrays)),
        data_(pws_bind::make_data_view<float>(data_arrays, nslot)), nworld_(nworld), device_(device) {
    if (nworld < 1) throw py::value_error("nworld must be >= 1, got " + std::to_string(nworld));
    if (device < 0) throw py::value_error("device must be a CUDA ordinal >= 0, got " + std::to_string(device));
  }

  void step(int nsteps, std::uintptr_t stream) { launch(nsteps, false, stream); }
  void forward(std::uintptr_t stream) { launch(1, true, stream); }
  void set_runtime(int auto_reset, double max_qvel) {
    model_.auto_reset = auto_reset;
    model_.max_qvel = static_cast<float>(max_qvel);
  }
  // Simulator.reset of the worlds whose int32 mask entry (device address) is set; asynchronous.
  void reset(std::uintptr_t mask_ptr, std::uintptr_t stream) {
    if (!mask_ptr) throw py::value_error("reset: the mask address is null");
    const char* err = pws_cuda::launch_reset(model_, data_, nworld_, reinterpret_cast<const int*>(mask_ptr),
                                             device_, stream, staging_);
    if (err) throw std::runtime_error(std::string("native reset launch failed: ") + err);
  }
  int64_t nworld() const { return nworld_; }
  int64_t stage_bytes() const { return pws::stage_scalars(data_) * static_cast<int64_t>(sizeof(float)); }
  bool staging() const { return staging_; }
  void set_staging(bool on) {
    if (on && pws::stage_scalars(data_) > pws_cuda::kMaxStageScalars) {
      throw py::value_error("staging needs " + std::to_string(stage_bytes()) + " bytes per world, the CUDA step " +
                            "stages at most " + std::to_string(pws_cuda::kMaxStageScalars * 4) +
                            ": lower nconmax (contacts and constraint rows take most of it)");
    }
    staging_ = on;
  }

 private:
  void launch(int nsteps, bool forward_only, std::uintptr_t stream) {
    if (nsteps < 0) throw py::value_error("nsteps must be >= 0, got " + std::to_string(nsteps));
    const char* err = pws_cuda::launch_step(model_, data_, nworld_, nsteps, forward_only, device_, stream, staging_);
    if (err) throw std::runtime_error(std::string("native step launch failed: ") + err);
  }

  pws::ModelView<float> model_;
  pws::DataView<float> data_;
  int64_t nworld_;
  int device_;
  bool staging_ = false;
};

}  // namespace

// csrc/simt_cuda_bindings.cpp: the lane-group (SIMT) kernels
void register_simt_cuda(py::module_& m);

PYBIND11_MODULE(_native_cuda, m) {
  m.doc() = "pywarp_sim native CUDA kernels; see pywarp_sim.native for the Python API.";

  m.def("integrate_pos_cuda", &integrate_pos_cuda, py::arg("njnt"), py::arg("jnt_type_ptr"),
        py::arg("jnt_qposadr_ptr"), py::arg("jnt_dofadr_ptr"), py::arg("qpos_ptr"), py::arg("qvel_ptr"),
        py::arg("nworld"), py::arg("nq"), py::arg("nv"), py::arg("dt"), py::arg("stream") = 0,
        R"doc(MuJoCo's mj_integratePos for every world on the GPU, one thread per world, in place.

All pointers are device addresses (int), e.g. torch.Tensor.data_ptr():
jnt_*_ptr: int32 (njnt,); qpos_ptr: float32 (nworld, nq) C-contiguous, updated in place;
qvel_ptr: float32 (nworld, nv) C-contiguous. dt: time step [s].
stream: cudaStream_t as int (torch.cuda.current_stream().cuda_stream); 0 = default stream.
Asynchronous: errors inside the kernel surface at the next synchronising call.
Shapes and joint tables are NOT checked here (raw pointers); pywarp_sim.native checks them.)doc");

  m.def("step_layout", &pws_bind::step_layout,
        "Fields of the fused step's pointer tables: [{name, group, width, count}] (see kernels/types.h).");
  m.attr("ccd_max_iterations") = pws::ccd::kCcdMaxIterations;  // EPA scratch capacity (collision_gjk.h)
  m.attr("max_poly_vert") = pws::ccd::kMaxPolyVert;  // largest hull polygon multicontact clips (collision_gjk.h)

  py::class_<StepPlan>(m, "StepPlan", R"doc(The fused mj_step (kernels/forward.h) on the GPU, one thread per world.

StepPlan(ints, reals, model_arrays, data_arrays, nworld, device, nslot=0): tables of DEVICE
addresses built by pywarp_sim.native_backend (nslot > 0: solver workspace arrays of nslot
rows, one per launched thread, each thread stepping worlds tid, tid + nslot, ...); step(nsteps, stream) and forward(stream)
launch asynchronously on `stream` (a cudaStream_t as int, e.g. Warp's stream) without
allocating, copying or synchronising, so they can be captured in a CUDA graph.)doc")
      .def(py::init<const py::dict&, const py::dict&, const py::dict&, const py::dict&, int64_t, int, int64_t>(),
           py::arg("ints"), py::arg("reals"), py::arg("model_arrays"), py::arg("data_arrays"), py::arg("nworld"),
           py::arg("device"), py::arg("nslot") = 0)
      .def("step", &StepPlan::step, py::arg("nsteps"), py::arg("stream"))
      .def("forward", &StepPlan::forward, py::arg("stream"))
      .def("set_runtime", &StepPlan::set_runtime, py::arg("auto_reset"), py::arg("max_qvel"))
      .def("reset", &StepPlan::reset, py::arg("mask_ptr"), py::arg("stream"))
      .def_property_readonly("nworld", &StepPlan::nworld)
      .def_property("staging", &StepPlan::staging, &StepPlan::set_staging,
                    "Step each world inside a local-memory buffer of its thread (kernels/step_stage.h; "
                    "same results bit for bit); raises ValueError when the buffer exceeds max_stage_bytes.")
      .def_property_readonly("stage_bytes", &StepPlan::stage_bytes, "Bytes of one world's staging buffer.");
  m.attr("max_stage_bytes") = pws_cuda::kMaxStageScalars * 4;

  m.def("resident_step_threads", [](int device, bool convex_pairs) {
    const char* err = nullptr;
    int64_t n = pws_cuda::resident_step_threads(device, convex_pairs, &err);
    if (n < 0) throw std::runtime_error(std::string("CUDA occupancy query failed: ") + err);
    return n;
  }, py::arg("device"), py::arg("convex_pairs"),
     "Step-kernel threads resident at once on the device: the rows a per-thread workspace needs.");

  m.def("device_count", []() {
    const char* err = nullptr;
    int n = pws_cuda::device_count(&err);
    if (n < 0) throw std::runtime_error(std::string("cudaGetDeviceCount failed: ") + err);
    return n;
  }, "Number of CUDA devices the runtime sees (raises RuntimeError with CUDA's message on failure).");
  register_simt_cuda(m);
}
