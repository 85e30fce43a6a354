// SPDX-License-Identifier: Apache-2.0
#include "array.h"

#include <string>

#include "../csrc/core/error.h"

namespace py = pybind11;

namespace ef {
namespace interop {

namespace {

// DLPack ABI (v0.8 / 1.x legacy capsule "dltensor"), declared here from the published
// specification (dmlc/dlpack, data-apis array API standard); only what we read.
struct DLDeviceAbi {
  int32_t device_type;  // 1 CPU, 2 CUDA, 3 CUDA host (pinned), 13 CUDA managed
  int32_t device_id;
};
struct DLDataTypeAbi {
  uint8_t code;  // 0 int, 1 uint, 2 float, 6 bool
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensorAbi {
  void* data;
  DLDeviceAbi device;
  int32_t ndim;
  DLDataTypeAbi dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; NULL means C-contiguous
  uint64_t byte_offset;
};
struct DLManagedTensorAbi {
  DLTensorAbi dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorAbi*);
};
// DLPack >= 1.0 ("dltensor_versioned"): carries a read-only flag, so producers such as numpy
// can export read-only arrays (memory maps, broadcast views) through it.
struct DLPackVersionAbi {
  uint32_t major;
  uint32_t minor;
};
struct DLManagedTensorVersionedAbi {
  DLPackVersionAbi version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersionedAbi*);
  uint64_t flags;  // bit 0: read only, bit 1: is a copy
  DLTensorAbi dl_tensor;
};
constexpr uint64_t kFlagReadOnly = 1;

constexpr int32_t kCPU = 1, kCUDA = 2, kCUDAHost = 3, kCUDAManaged = 13;

Elem elem_of(const DLDataTypeAbi& t) {
  if (t.lanes != 1) return Elem::Other;
  if (t.code == 2 && t.bits == 32) return Elem::F32;
  if (t.code == 2 && t.bits == 64) return Elem::F64;
  if (t.code == 1 && t.bits == 8) return Elem::U8;
  if (t.code == 6 && t.bits == 8) return Elem::Bool;
  if (t.code == 0 && t.bits == 32) return Elem::I32;
  if (t.code == 0 && t.bits == 64) return Elem::I64;
  return Elem::Other;
}

}  // namespace

const char* elem_name(Elem e) {
  switch (e) {
    case Elem::F32: return "float32";
    case Elem::F64: return "float64";
    case Elem::U8: return "uint8";
    case Elem::Bool: return "bool";
    case Elem::I32: return "int32";
    case Elem::I64: return "int64";
    default: return "an unsupported dtype";
  }
}

std::string Array::shape_str() const {
  std::string os = "(";
  for (size_t i = 0; i < shape.size(); ++i) os += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) os += ",";
  os += ")";
  return os;
}

Array import_array(py::handle obj, const char* name) {
  if (!py::hasattr(obj, "__dlpack__") || !py::hasattr(obj, "__dlpack_device__"))
    throw TypeError(detail::concat(name, " must be an array (numpy, torch or cupy), got ",
                                   std::string(py::str(py::type::of(obj).attr("__name__")))));
  py::tuple dev = obj.attr("__dlpack_device__")();
  const int32_t dtype_dev = dev[0].cast<int32_t>();
  const int32_t dev_id = dev[1].cast<int32_t>();
  const bool cuda = dtype_dev == kCUDA || dtype_dev == kCUDAManaged;
  // Ask for a versioned (DLPack 1.x) capsule first; producers that predate it raise TypeError and
  // get the legacy call. stream=1 is the legacy default stream, on which our kernels run; numpy
  // refuses any stream argument for host arrays.
  py::object cap;
  try {
    cap = cuda ? obj.attr("__dlpack__")(py::arg("stream") = 1, py::arg("max_version") = py::make_tuple(1, 0))
               : obj.attr("__dlpack__")(py::arg("max_version") = py::make_tuple(1, 0));
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    cap = cuda ? obj.attr("__dlpack__")(py::arg("stream") = 1) : obj.attr("__dlpack__")();
  }
  const DLTensorAbi* tp = nullptr;
  bool read_only = false;
  if (PyCapsule_IsValid(cap.ptr(), "dltensor_versioned")) {
    auto* mt = static_cast<DLManagedTensorVersionedAbi*>(PyCapsule_GetPointer(cap.ptr(), "dltensor_versioned"));
    if (mt->version.major > 1)
      throw TypeError(detail::concat(name, ": unsupported DLPack version ", mt->version.major, ".", mt->version.minor));
    tp = &mt->dl_tensor;
    read_only = (mt->flags & kFlagReadOnly) != 0;
  } else if (PyCapsule_IsValid(cap.ptr(), "dltensor")) {
    tp = &static_cast<DLManagedTensorAbi*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"))->dl_tensor;
  } else {
    throw TypeError(detail::concat(name, ": __dlpack__ did not return a DLPack capsule"));
  }
  const DLTensorAbi& t = *tp;
  Array a;
  a.keepalive = cap;  // not renamed: the producer's capsule destructor calls the deleter
  a.read_only = read_only;
  a.data = static_cast<char*>(t.data) + t.byte_offset;
  a.elem = elem_of(t.dtype);
  a.shape.assign(t.shape, t.shape + t.ndim);
  switch (t.device.device_type) {
    case kCPU:
    case kCUDAHost: a.device = Device{DeviceKind::Cpu, 0}; break;
    case kCUDA:
    case kCUDAManaged: a.device = Device{DeviceKind::Cuda, t.device.device_id}; break;
    default:
      throw ValueError(detail::concat(name, " lives on an unsupported device (DLPack device type ",
                                      t.device.device_type, "); use a CPU or CUDA array"));
  }
  (void)dev_id;
  a.c_contiguous = true;
  if (t.strides) {
    int64_t expect_stride = 1;
    for (int d = t.ndim - 1; d >= 0; --d) {
      if (t.shape[d] != 1 && t.strides[d] != expect_stride) {
        a.c_contiguous = false;
        break;
      }
      expect_stride *= t.shape[d];
    }
  }
  return a;
}

void expect(const Array& a, const char* name, std::initializer_list<Elem> elems, int ndim) {
  bool ok = false;
  std::string want;
  for (Elem e : elems) {
    ok = ok || a.elem == e;
    want += want.empty() ? "" : " or ";
    want += elem_name(e);
  }
  if (!ok) throw TypeError(detail::concat(name, " must have dtype ", want, ", got ", elem_name(a.elem)));
  if (ndim >= 0 && (int)a.shape.size() != ndim)
    throw ValueError(detail::concat(name, " must have ", ndim, " dimensions, got shape ", a.shape_str()));
  if (!a.c_contiguous && a.numel() > 0)
    throw ValueError(detail::concat(name, " must be C-contiguous"));
}

void expect_writable(const Array& a, const char* name) {
  if (a.read_only) throw ValueError(detail::concat(name, " is read-only; pass a writable array"));
}

void expect_same_device(const Array& a, const char* a_name, const Array& b, const char* b_name) {
  if (a.device.kind != b.device.kind || (a.device.is_cuda() && a.device.index != b.device.index)) {
    auto d = [](const Array& x) {
      return x.device.is_cuda() ? detail::concat("cuda:", x.device.index) : std::string("cpu");
    };
    throw ValueError(detail::concat(b_name, " must be on the same device as ", a_name, " (", d(a), "), got ", d(b)));
  }
}

}  // namespace interop
}  // namespace ef
