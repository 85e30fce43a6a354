// SPDX-License-Identifier: Apache-2.0
// A Python progress callable as a native progress callback (d-BiNI, Poisson): called with the GIL
// taken; None or a truthy result continues, a falsy one asks the native loop to stop; an exception
// raised by the callable is kept in *error (the binding rethrows it after the native call) and
// also stops the loop.
#pragma once

#include <pybind11/pybind11.h>

#include <exception>
#include <functional>

namespace ef {
namespace bindings {

// `fn` must outlive the returned callback (it is held by handle: copies of the callback made or
// destroyed by native code without the GIL never touch a Python reference count).
template <class... Args>
std::function<bool(Args...)> progress_callback(pybind11::object& fn, std::exception_ptr* error) {
  if (fn.is_none()) return {};
  pybind11::handle h = fn;
  return [h, error](Args... args) -> bool {
    pybind11::gil_scoped_acquire gil;
    try {
      pybind11::object r = h(args...);
      if (r.is_none()) return true;
      const int truth = PyObject_IsTrue(r.ptr());  // Python truthiness: False, 0 stop
      if (truth < 0) throw pybind11::error_already_set();
      return truth != 0;
    } catch (...) {
      *error = std::current_exception();
      return false;
    }
  };
}

}  // namespace bindings
}  // namespace ef
