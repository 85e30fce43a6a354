// SPDX-License-Identifier: Apache-2.0
// Thin binding of csrc/decimate. econ_fast/meshops.py validates with friendly messages first; the
// C++ layer re-checks sizes, indices and finiteness and throws ef::ValueError (-> ValueError).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <vector>

#include "../csrc/core/error.h"
#include "array.h"
#include "../csrc/decimate/decimate.h"

namespace py = pybind11;

namespace {

using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;
using I32 = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

using ef::interop::to_numpy;

}  // namespace

void bind_decimate(py::module_& m) {
  m.def(
      "decimate",
      [](F64 vertices, I32 faces, int64_t face_count, bool preserve_border, double border_weight,
         double min_normal_cos, double min_quality, int queue_bits, double area_floor) {
        if (vertices.ndim() != 2 || vertices.shape(1) != 3)
          throw ef::ValueError("vertices must have shape (V, 3)");
        if (faces.ndim() != 2 || faces.shape(1) != 3) throw ef::ValueError("faces must have shape (F, 3)");
        ef::decimate::Params p;
        p.target_faces = face_count;
        p.preserve_border = preserve_border;
        p.border_weight = border_weight;
        p.min_normal_cos = min_normal_cos;
        p.min_quality = min_quality;
        p.queue_bits = queue_bits;
        p.area_floor = area_floor;
        ef::decimate::Result r;
        {
          py::gil_scoped_release release;
          r = ef::decimate::decimate(vertices.data(), vertices.shape(0), faces.data(), faces.shape(0), p);
        }
        py::dict d;
        d["vertices"] = to_numpy(r.vertices, {(py::ssize_t)r.vertices.size() / 3, 3});
        d["faces"] = to_numpy(r.faces, {(py::ssize_t)r.faces.size() / 3, 3});
        d["source"] = to_numpy(r.source, {(py::ssize_t)r.source.size()});
        const auto& s = r.stats;
        py::dict st;
        st["collapses"] = s.collapses;
        st["rejected_link"] = s.rejected_link;
        st["rejected_geometry"] = s.rejected_geometry;
        st["stale"] = s.stale;
        st["requeued"] = s.requeued;
        st["passes"] = s.passes;
        st["relaxed"] = s.relaxed;
        st["frozen_vertices"] = s.frozen_vertices;
        st["dropped_faces"] = s.dropped_faces;
        st["seconds_setup"] = s.seconds_setup;
        st["seconds_fill"] = s.seconds_fill;
        st["seconds_collapse"] = s.seconds_collapse;
        st["seconds_output"] = s.seconds_output;
        d["stats"] = st;
        return d;
      },
      py::arg("vertices"), py::arg("faces"), py::arg("face_count"), py::arg("preserve_border") = false,
      py::arg("border_weight") = 1.0, py::arg("min_normal_cos") = 0.2, py::arg("min_quality") = 0.02, py::arg("queue_bits") = 0, py::arg("area_floor") = 0.5,
      "Low-level quadric edge-collapse decimation; use econ_fast.meshops.decimate instead.");
}
