// SPDX-License-Identifier: Apache-2.0
// econ_fast._native: thin bindings. Validation with friendly messages happens in Python; the C++
// layer re-checks and throws typed errors, translated here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>


#include "../csrc/core/error.h"
#include "../csrc/core/runtime.h"

namespace py = pybind11;

void bind_dbini(py::module_& m);
void bind_decimate(py::module_& m);
void bind_meshquery(py::module_& m);
void bind_poisson(py::module_& m);
void bind_mesh(py::module_& m);

#ifndef EF_VERSION
#define EF_VERSION "0.0.0"
#endif

PYBIND11_MODULE(_native, m) {
  m.doc() = "econ_fast native core (C++17, CPU thread pool, optional CUDA)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ef::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ef::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const ef::MemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const ef::Cancelled& e) {
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    } catch (const ef::RuntimeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "econ_fast: out of memory");
    }
  });

  m.def("build_info", []() {
    py::dict d;
    d["version"] = EF_VERSION;
    d["cuda"] = ef::built_with_cuda();
    d["cuda_architectures"] = ef::cuda_architectures();
    d["cpu_backend"] = "thread-pool";
    d["cpu_threads"] = ef::cpu_threads();
#ifdef EF_COMPILER
    d["compiler"] = EF_COMPILER;
#endif
    d["cxx_standard"] = (int)(__cplusplus / 100 % 100);
    return d;
  });
  m.def("cuda_device_count", &ef::cuda_device_count);
  m.def("cuda_runtime_error", &ef::cuda_runtime_error);
  m.def("get_num_threads", &ef::cpu_threads);
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw ef::ValueError(ef::detail::concat("num_threads must be >= 1, got ", n));
    py::gil_scoped_release release;
    ef::set_cpu_threads(n);
  });

  bind_dbini(m);
  bind_decimate(m);
  bind_meshquery(m);
  bind_poisson(m);
  bind_mesh(m);
}
