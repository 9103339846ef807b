// pybind11 module _native_cuda: CUDA launchers taking raw device pointers
// (e.g. torch.Tensor.data_ptr(), wp.array.ptr). The caller owns the memory and
// the stream; nothing here allocates, copies or synchronises.

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "cuda_launch.h"

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

}  // namespace

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

  m.def("device_count", []() {
    const char* err = nullptr;
    int n = pws_cuda::device_count(&err);
    if (n < 0) throw std::runtime_error(std::string("cudaGetDeviceCount failed: ") + err);
    return n;
  }, "Number of CUDA devices the runtime sees (raises RuntimeError with CUDA's message on failure).");
}
