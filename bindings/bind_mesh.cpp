// SPDX-License-Identifier: Apache-2.0
// Bindings of csrc/mesh: host-side mesh utilities (econ_fast/mesh.py checks the arguments).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>

#include "../csrc/core/error.h"
#include "../csrc/mesh/components.h"
#include "array.h"

namespace py = pybind11;
using ef::interop::Array;
using ef::interop::Elem;

using ef::interop::to_numpy;

void bind_mesh(py::module_& m) {
  m.def(
      "face_components",
      [](py::object faces, int64_t n_vertices, bool edge) {
        Array f = ef::interop::import_array(faces, "faces");
        ef::interop::expect(f, "faces", {Elem::I32}, 2);
        if (f.shape[1] != 3) throw ef::ValueError("faces must have shape (F, 3), got " + f.shape_str());
        if (f.device.is_cuda()) throw ef::ValueError("faces must be a host array");
        if (n_vertices < 0) throw ef::ValueError(ef::detail::concat("n_vertices must be >= 0, got ", n_vertices));
        ef::mesh::Components c;
        {
          py::gil_scoped_release release;
          c = ef::mesh::face_components(static_cast<const int32_t*>(f.data), f.shape[0], n_vertices, edge);
        }
        return py::make_tuple(c.count, to_numpy(c.label), to_numpy(c.faces), to_numpy(c.vertices));
      },
      py::arg("faces"), py::arg("n_vertices"), py::arg("edge") = true,
      "Face components: (count, labels (F,) int32 by first face, faces per component, distinct "
      "vertices per component). edge: connected through shared sides, else through shared vertices.");
}
