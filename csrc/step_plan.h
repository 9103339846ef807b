// Shared by the CPU and CUDA bindings: the layout of the fused step's pointer tables
// (exported to Python) and filling ModelView / DataView from the tables that
// pywarp_sim/native_backend.py builds once per Simulator. No physics here.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "types.h"

namespace pws_bind {

namespace py = pybind11;

// [{"name", "group", "width", "count"}]: group is "size", "option_int", "option_real",
// "model_int", "model_float", "model_bank", "data_float", "data_int" or "global_int"; count is
// an expression of the sizes (e.g. "nv * nv") giving the elements per model (or per world).
inline py::list step_layout() {
  py::list out;
  auto add = [&](const char* name, const char* group, int width, const char* count) {
    py::dict e;
    e["name"] = name;
    e["group"] = group;
    e["width"] = width;
    e["count"] = count;
    out.append(e);
  };
#define PWS_L_SIZE(name) add(#name, "size", 1, "1");
  PWS_SIZE_FIELDS(PWS_L_SIZE)
#undef PWS_L_SIZE
#define PWS_L_OI(name) add(#name, "option_int", 1, "1");
  PWS_OPTION_INTS(PWS_L_OI)
#undef PWS_L_OI
#define PWS_L_OR(name) add(#name, "option_real", 1, "1");
  PWS_OPTION_REALS(PWS_L_OR)
#undef PWS_L_OR
#define PWS_L_MI(name, width, count) add(#name, "model_int", width, #count);
#define PWS_L_MF(name, width, count) add(#name, "model_float", width, #count);
#define PWS_L_MB(name, width, count) add(#name, "model_bank", width, #count);
  PWS_MODEL_ARRAYS(PWS_L_MI, PWS_L_MF, PWS_L_MB)
#undef PWS_L_MI
#undef PWS_L_MF
#undef PWS_L_MB
#define PWS_L_DF(name, width, count) add(#name, "data_float", width, #count);
#define PWS_L_DI(name, width, count) add(#name, "data_int", width, #count);
  PWS_DATA_ARRAYS(PWS_L_DF, PWS_L_DI)
#undef PWS_L_DF
#undef PWS_L_DI
#define PWS_L_G(name, n) add(#name, "global_int", 1, #n);
  PWS_GLOBAL_COUNTERS(PWS_L_G)
#undef PWS_L_G
  return out;
}

inline py::object require_key(const py::dict& table, const char* name, const char* what) {
  if (!table.contains(name)) {
    throw py::key_error(std::string(what) + " table has no entry '" + name +
                        "' (pywarp_sim.native_backend and the compiled module disagree; rebuild with `make venv`)");
  }
  return table[name];
}

template <typename P>
inline P* as_ptr(const py::object& address) {
  return reinterpret_cast<P*>(static_cast<std::uintptr_t>(address.cast<unsigned long long>()));
}

// ints / reals: {name: value}; arrays: {name: address} (model int/float, globals),
// {name: (address, stride, nbank)} (banks), {name: (address, stride, slots[, tile])} (data; slots
// 0: per world, else rows of a per-thread workspace array; tile > 1: worlds in tiles, kernels/
// types.h WorldArray; default 1). make_data_view(arrays, nslot).
template <typename T>
inline pws::ModelView<T> make_model_view(const py::dict& ints, const py::dict& reals, const py::dict& arrays) {
  pws::ModelView<T> m{};
#define PWS_SET_INT(name) m.name = require_key(ints, #name, "int").cast<int>();
  PWS_SIZE_FIELDS(PWS_SET_INT)
  PWS_OPTION_INTS(PWS_SET_INT)
#undef PWS_SET_INT
#define PWS_SET_REAL(name) m.name = static_cast<T>(require_key(reals, #name, "real").cast<double>());
  PWS_OPTION_REALS(PWS_SET_REAL)
#undef PWS_SET_REAL
#define PWS_SET_I(name, width, count) m.name = as_ptr<const int>(require_key(arrays, #name, "model"));
#define PWS_SET_F(name, width, count) m.name = as_ptr<const T>(require_key(arrays, #name, "model"));
#define PWS_SET_B(name, width, count)                                              \
  {                                                                                \
    py::tuple t = require_key(arrays, #name, "model").cast<py::tuple>();          \
    m.name.ptr = as_ptr<const T>(t[0]);                                            \
    m.name.stride = t[1].cast<int64_t>();                                          \
    m.name.nbank = t[2].cast<int64_t>();                                           \
    if (m.name.nbank < 1) throw py::value_error(#name " must have nbank >= 1");    \
  }
  PWS_MODEL_ARRAYS(PWS_SET_I, PWS_SET_F, PWS_SET_B)
#undef PWS_SET_I
#undef PWS_SET_F
#undef PWS_SET_B
  return m;
}

template <typename T>
inline pws::DataView<T> make_data_view(const py::dict& arrays, int64_t nslot) {
  pws::DataView<T> d{};
  if (nslot < 0) throw py::value_error("nslot must be >= 0, got " + std::to_string(nslot));
  d.nslot = nslot;
#define PWS_SET_D(type, name)                                                      \
  {                                                                                \
    py::tuple t = require_key(arrays, #name, "data").cast<py::tuple>();           \
    d.name.ptr = as_ptr<type>(t[0]);                                               \
    d.name.stride = t[1].cast<int64_t>();                                          \
    d.name.slots = t[2].cast<int32_t>();                                           \
    if (d.name.slots != 0 && d.name.slots != nslot)                                \
      throw py::value_error(#name " has " + std::to_string(d.name.slots) +       \
                            " workspace rows, the plan " + std::to_string(nslot)); \
    d.name.tile = t.size() > 3 ? t[3].cast<int32_t>() : 1;                       \
    if (d.name.tile < 1)                                                           \
      throw py::value_error(#name " has tile " + std::to_string(d.name.tile) + ", expected >= 1"); \
  }
#define PWS_SET_DF(name, width, count) PWS_SET_D(T, name)
#define PWS_SET_DI(name, width, count) PWS_SET_D(int, name)
  PWS_DATA_ARRAYS(PWS_SET_DF, PWS_SET_DI)
#undef PWS_SET_DF
#undef PWS_SET_DI
#undef PWS_SET_D
#define PWS_SET_G(name, n) d.name = as_ptr<int>(require_key(arrays, #name, "data"));
  PWS_GLOBAL_COUNTERS(PWS_SET_G)
#undef PWS_SET_G
  return d;
}

}  // namespace pws_bind
