// SPDX-License-Identifier: Apache-2.0
// The only file pair that knows array-interchange protocols. Any object exporting DLPack
// (numpy >= 1.22, torch, cupy, jax, ...) becomes a raw pointer + shape + device, zero-copy.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../csrc/core/backend.h"

namespace ef {
namespace interop {

enum class Elem { F32, F64, U8, Bool, I32, I64, Other };

const char* elem_name(Elem e);

struct Array {
  void* data = nullptr;
  Elem elem = Elem::Other;
  std::vector<int64_t> shape;
  Device device;
  bool c_contiguous = true;
  bool read_only = false;  // from a DLPack 1.x producer
  pybind11::object keepalive;  // the DLPack capsule; its destructor returns the tensor to its producer
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  std::string shape_str() const;
};

// Imports `obj` (name is used in error messages). Throws ef::TypeError for objects that export no
// DLPack or unsupported element types, ef::ValueError for unsupported devices.
Array import_array(pybind11::handle obj, const char* name);

// Checks dtype, rank, C-contiguity; throws TypeError / ValueError naming `name`.
void expect(const Array& a, const char* name, std::initializer_list<Elem> elems, int ndim);
void expect_writable(const Array& a, const char* name);
void expect_same_device(const Array& a, const char* a_name, const Array& b, const char* b_name);

// A new numpy array of the given shape holding a copy of v (v.size() == product of shape).
template <class T, class A>
pybind11::array_t<T> to_numpy(const std::vector<T, A>& v, std::vector<pybind11::ssize_t> shape) {
  pybind11::array_t<T> a(shape);
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(T));
  return a;
}
template <class T, class A>
pybind11::array_t<T> to_numpy(const std::vector<T, A>& v) {
  return to_numpy(v, {(pybind11::ssize_t)v.size()});
}

}  // namespace interop
}  // namespace ef
