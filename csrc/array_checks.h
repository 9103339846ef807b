// Argument validation shared by the pybind11 bindings: every failure is a
// ValueError that names the argument, what was expected and what was given.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <sstream>
#include <string>
#include <vector>

namespace pws_bind {

namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    s << (i ? ", " : "") << a.shape(i);
  }
  if (a.ndim() == 1) s << ",";
  s << ")";
  return s.str();
}

inline std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// Returns obj as an ndarray without copying; anything else is an error, because a
// silent conversion would make an in-place update land in a temporary.
inline py::array require_ndarray(const py::object& obj, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::value_error(std::string(name) + " must be a numpy.ndarray, got " +
                          py::str(py::type::of(obj)).cast<std::string>());
  }
  return py::reinterpret_borrow<py::array>(obj);
}

template <typename T>
inline bool has_dtype(const py::array& a) {
  return a.dtype().is(py::dtype::of<T>());
}

// expected: one entry per axis, -1 = any size. expected_text: e.g. "(nworld, nq)".
inline void require_shape(const py::array& a, const char* name, const std::vector<py::ssize_t>& expected,
                          const std::string& expected_text) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i) {
    ok = expected[i] < 0 || a.shape(i) == expected[i];
  }
  if (!ok) {
    throw py::value_error(std::string(name) + " must have shape " + expected_text + ", got " +
                          shape_str(a));
  }
}

inline void require_c_contiguous(const py::array& a, const char* name) {
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) +
                          " must be C-contiguous (use numpy.ascontiguousarray or "
                          "tensor.contiguous())");
  }
}

inline void require_writeable(const py::array& a, const char* name) {
  if (!a.writeable()) {
    throw py::value_error(std::string(name) + " is updated in place and must be writeable");
  }
}

// Checks the (njnt,) int32 joint tables and that every joint's qpos/qvel
// slice lies inside [0, nq) / [0, nv), so the kernels never index out of bounds.
inline void check_joint_tables(const int* jnt_type, const int* jnt_qposadr, const int* jnt_dofadr,
                               py::ssize_t njnt, py::ssize_t nq, py::ssize_t nv) {
  static const int kQposSize[4] = {7, 4, 1, 1};  // free, ball, slide, hinge
  static const int kDofSize[4] = {6, 3, 1, 1};
  for (py::ssize_t j = 0; j < njnt; ++j) {
    int type = jnt_type[j];
    if (type < 0 || type > 3) {
      throw py::value_error("jnt_type[" + std::to_string(j) + "] = " + std::to_string(type) +
                            " is not a joint type (free=0, ball=1, slide=2, hinge=3)");
    }
    long long padr = jnt_qposadr[j];
    long long vadr = jnt_dofadr[j];
    if (padr < 0 || padr + kQposSize[type] > nq) {
      throw py::value_error("jnt_qposadr[" + std::to_string(j) + "] = " + std::to_string(padr) +
                            " with " + std::to_string(kQposSize[type]) +
                            " position coordinates does not fit in nq = " + std::to_string(nq));
    }
    if (vadr < 0 || vadr + kDofSize[type] > nv) {
      throw py::value_error("jnt_dofadr[" + std::to_string(j) + "] = " + std::to_string(vadr) +
                            " with " + std::to_string(kDofSize[type]) +
                            " dofs does not fit in nv = " + std::to_string(nv));
    }
  }
}

}  // namespace pws_bind
