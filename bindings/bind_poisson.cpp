// SPDX-License-Identifier: Apache-2.0
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <exception>

#include "../csrc/core/error.h"
#include "array.h"
#include "progress.h"
#include "../poisson/poisson.h"

namespace py = pybind11;

namespace {

using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

using ef::interop::to_numpy;

}  // namespace

void bind_poisson(py::module_& m) {
  m.def(
      "poisson_reconstruct",
      [](F64 points, F64 normals, py::object confidence, py::object groups, int depth, double point_weight, double samples_per_node,
         double scale, int full_depth, int iterations, double cg_tol, int dense_iterations, int band, double max_memory,
         bool debug, py::object progress, bool cuda) {
        if (points.ndim() != 2 || points.shape(1) != 3)
          throw ef::ValueError("points must have shape (N, 3)");
        if (normals.ndim() != 2 || normals.shape(1) != 3 || normals.shape(0) != points.shape(0))
          throw ef::ValueError("normals must have shape (N, 3) matching points");
        F64 conf;
        ef::poisson::Inputs in;
        in.n = points.shape(0);
        in.points = points.data();
        in.normals = normals.data();
        if (!confidence.is_none()) {
          conf = F64::ensure(confidence);
          if (!conf || conf.ndim() != 1 || conf.shape(0) != points.shape(0))
            throw ef::ValueError("confidence must have shape (N,) matching points");
          in.confidence = conf.data();
        }
        py::array_t<int32_t, py::array::c_style | py::array::forcecast> grp;
        if (!groups.is_none()) {
          grp = py::array_t<int32_t, py::array::c_style | py::array::forcecast>::ensure(groups);
          if (!grp || grp.ndim() != 1 || grp.shape(0) != points.shape(0))
            throw ef::ValueError("density_groups must have shape (N,) matching points");
          in.groups = grp.data();
          int32_t mx = -1;
          for (py::ssize_t i = 0; i < grp.shape(0); ++i) mx = std::max(mx, grp.data()[i]);
          in.ngroups = mx + 1;
        }
        ef::poisson::Params p;
        p.depth = depth;
        p.point_weight = point_weight;
        p.samples_per_node = samples_per_node;
        p.scale = scale;
        p.full_depth = full_depth;
        p.iterations = iterations;
        p.cg_tol = cg_tol;
        p.dense_iterations = dense_iterations;
        p.band = band;
        p.max_memory = max_memory;
        p.debug = debug;
        p.cuda = cuda;
        std::exception_ptr cb_error;
        ef::poisson::Progress cb = ef::bindings::progress_callback<int, int64_t>(progress, &cb_error);
        ef::poisson::Result r;
        try {
          py::gil_scoped_release release;
          r = ef::poisson::reconstruct(p, in, cb);
        } catch (const ef::Cancelled&) {
          if (cb_error) std::rethrow_exception(cb_error);
          throw;
        }
        py::dict d;
        const py::ssize_t nv = (py::ssize_t)r.vertices.size() / 3, nf = (py::ssize_t)r.faces.size() / 3;
        d["vertices"] = to_numpy(r.vertices, {nv, 3});
        d["faces"] = to_numpy(r.faces, {nf, 3});
        d["density"] = to_numpy(r.density, {nv});
        d["iso_value"] = r.iso_value;
        d["finest_level"] = r.finest_level;
        d["nodes"] = r.nodes;
        d["iterations"] = r.iterations;
        py::dict t;
        for (const auto& kv : r.timings) t[py::str(kv.first)] = kv.second;
        d["timings"] = t;
        d["center"] = std::vector<double>(r.center, r.center + 3);
        d["width"] = r.width;
        d["alpha"] = r.alpha;
        d["memory_estimate"] = r.memory_estimate;
        if (debug) {
          py::list levels;
          for (const auto& L : r.levels) {
            py::dict ld;
            ld["node_key"] = to_numpy(L.node_key, {(py::ssize_t)L.node_key.size()});
            ld["value"] = to_numpy(L.value, {(py::ssize_t)L.value.size()});
            levels.append(ld);
          }
          d["levels"] = levels;
          d["sample_area"] = to_numpy(r.sample_area, {(py::ssize_t)r.sample_area.size()});
          d["sample_level"] = to_numpy(r.sample_level, {(py::ssize_t)r.sample_level.size()});
          d["sample_thin"] = to_numpy(r.sample_thin, {(py::ssize_t)r.sample_thin.size()});
          d["sample_screen"] = to_numpy(r.sample_screen, {(py::ssize_t)r.sample_screen.size()});
        }
        return d;
      },
      py::arg("points"), py::arg("normals"), py::arg("confidence") = py::none(),
      py::arg("density_groups") = py::none(), py::arg("depth") = 10,
      py::arg("point_weight") = 2.0, py::arg("samples_per_node") = 1.5, py::arg("scale") = 1.1,
      py::arg("full_depth") = 5, py::arg("iterations") = 8, py::arg("cg_tol") = 1e-3,
      py::arg("dense_iterations") = 200, py::arg("band") = 2, py::arg("max_memory") = -1.0, py::arg("debug") = false,
      py::arg("progress") = py::none(), py::arg("cuda") = false,
      "Low-level screened Poisson reconstruction; use econ_fast.poisson.reconstruct instead.");
}
