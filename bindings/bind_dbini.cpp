// SPDX-License-Identifier: Apache-2.0
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <exception>
#include <memory>

#include "../csrc/core/error.h"
#include "progress.h"
#include "../dbini/dbini.h"
#include "array.h"

namespace py = pybind11;
using ef::interop::Array;
using ef::interop::Elem;

namespace {

struct Frame {
  Array normals, prior, mask, out;
  bool has_prior = false;
  ef::dbini::Inputs in;
  ef::dbini::Outputs outp;
};

Frame import_frame(py::handle normals, py::handle prior, py::handle mask, py::handle out) {
  Frame f;
  f.normals = ef::interop::import_array(normals, "normals");
  ef::interop::expect(f.normals, "normals", {Elem::F32, Elem::F64}, 4);
  const auto& s = f.normals.shape;
  if (s[3] != 3 || (s[0] != 1 && s[0] != 2))
    throw ef::ValueError("normals must have shape (sides, H, W, 3) with sides 1 or 2, got " + f.normals.shape_str());
  f.mask = ef::interop::import_array(mask, "mask");
  ef::interop::expect(f.mask, "mask", {Elem::U8, Elem::Bool}, 2);
  ef::interop::expect_same_device(f.normals, "normals", f.mask, "mask");
  if (f.mask.shape[0] != s[1] || f.mask.shape[1] != s[2])
    throw ef::ValueError(ef::detail::concat("mask must have shape (", s[1], ", ", s[2], "), got ", f.mask.shape_str()));
  if (!prior.is_none()) {
    f.prior = ef::interop::import_array(prior, "body_depth");
    ef::interop::expect(f.prior, "body_depth", {f.normals.elem}, 3);
    ef::interop::expect_same_device(f.normals, "normals", f.prior, "body_depth");
    if (f.prior.shape[0] != s[0] || f.prior.shape[1] != s[1] || f.prior.shape[2] != s[2])
      throw ef::ValueError(ef::detail::concat("body_depth must have shape (", s[0], ", ", s[1], ", ", s[2],
                                              "), got ", f.prior.shape_str()));
    f.has_prior = true;
  }
  f.out = ef::interop::import_array(out, "out");
  ef::interop::expect(f.out, "out", {f.normals.elem}, 3);
  ef::interop::expect_writable(f.out, "out");
  ef::interop::expect_same_device(f.normals, "normals", f.out, "out");
  if (f.out.shape[0] != s[0] || f.out.shape[1] != s[1] || f.out.shape[2] != s[2])
    throw ef::ValueError("out has the wrong shape " + f.out.shape_str());
  f.in.device = f.normals.device;
  f.in.sides = (int)s[0];
  f.in.H = (int)s[1];
  f.in.W = (int)s[2];
  f.in.normals = f.normals.data;
  f.in.prior = f.has_prior ? f.prior.data : nullptr;
  f.in.mask = static_cast<const uint8_t*>(f.mask.data);
  f.in.dtype = f.normals.elem == Elem::F32 ? ef::dbini::DType::F32 : ef::dbini::DType::F64;
  f.outp.depth = f.out.data;
  return f;
}

py::dict report_dict(const ef::dbini::Report& r) {
  py::dict d;
  d["iterations"] = r.iterations;
  d["cg_iterations"] = r.cg_iterations;
  d["cg_per_iter"] = r.cg_per_iter;
  d["energy"] = r.energy;
  d["converged"] = r.converged;
  d["unknowns"] = r.unknowns;
  d["mg_levels"] = r.mg_levels;
  py::dict t;
  for (const auto& kv : r.timings) t[py::str(kv.first)] = kv.second;
  d["timings"] = t;
  return d;
}

}  // namespace

void bind_dbini(py::module_& m) {
  py::enum_<ef::dbini::SolverKind>(m, "DbiniSolver")
      .value("jacobi", ef::dbini::SolverKind::Jacobi)
      .value("multigrid", ef::dbini::SolverKind::Multigrid);

  using P = ef::dbini::Params;
  py::class_<P>(m, "DbiniParams")
      .def(py::init<>())
      .def_readwrite("k", &P::k)
      .def_readwrite("lambda_depth", &P::lambda_depth)
      .def_readwrite("lambda_boundary", &P::lambda_boundary)
      .def_readwrite("max_iter", &P::max_iter)
      .def_readwrite("tol", &P::tol)
      .def_readwrite("cg_max_iter", &P::cg_max_iter)
      .def_readwrite("cg_tol", &P::cg_tol)
      .def_readwrite("solver", &P::solver)
      .def_readwrite("pin_boundary_weights", &P::pin_boundary_weights)
      .def_readwrite("perspective", &P::perspective)
      .def_readwrite("fx", &P::fx)
      .def_readwrite("fy", &P::fy)
      .def_readwrite("cx", &P::cx)
      .def_readwrite("cy", &P::cy)
      .def_readwrite("depth_scale", &P::depth_scale)
      .def_readwrite("mg_smooth", &P::mg_smooth)
      .def_readwrite("mg_coarse_cells", &P::mg_coarse_cells)
      .def_readwrite("mg_omega", &P::mg_omega)
      .def_readwrite("mg_cycle", &P::mg_cycle)
      .def_readwrite("cg_tol_adaptive", &P::cg_tol_adaptive);

  m.def(
      "dbini_solve",
      [](py::object normals, py::object prior, py::object mask, py::object out, const P& params,
         py::object progress) {
        Frame f = import_frame(normals, prior, mask, out);
        std::exception_ptr cb_error;
        ef::dbini::Progress cb = ef::bindings::progress_callback<int, double, int>(progress, &cb_error);
        ef::dbini::Report rep;
        {
          py::gil_scoped_release release;
          rep = ef::dbini::solve(params, f.in, f.outp, cb);
        }
        if (cb_error) std::rethrow_exception(cb_error);
        return report_dict(rep);
      },
      py::arg("normals"), py::arg("body_depth"), py::arg("mask"), py::arg("out"), py::arg("params"),
      py::arg("progress") = py::none(),
      "Low-level d-BiNI solve: normals (S,H,W,3), body_depth (S,H,W) or None, mask (H,W) uint8, "
      "out (S,H,W) written in place. Use econ_fast.dbini.solve instead.");

  m.def(
      "dbini_solve_batch",
      [](py::list normals, py::list prior, py::list mask, py::list out, const P& params, py::object done) {
        const size_t n = normals.size();
        if (prior.size() != n || mask.size() != n || out.size() != n)
          throw ef::ValueError("batch lists must have equal lengths");
        std::vector<Frame> frames;
        frames.reserve(n);
        for (size_t i = 0; i < n; ++i) frames.push_back(import_frame(normals[i], prior[i], mask[i], out[i]));
        std::vector<ef::dbini::Inputs> in;
        std::vector<ef::dbini::Outputs> outs;
        for (auto& f : frames) {
          in.push_back(f.in);
          outs.push_back(f.outp);
        }
        std::exception_ptr cb_error;
        std::function<void(int)> cb;
        if (!done.is_none()) {
          cb = [&](int i) {
            py::gil_scoped_acquire gil;
            if (cb_error) return;
            try {
              done(i);
            } catch (...) {
              cb_error = std::current_exception();
            }
          };
        }
        std::vector<ef::dbini::Report> reps;
        {
          py::gil_scoped_release release;
          reps = ef::dbini::solve_batch(params, in, outs, cb);
        }
        if (cb_error) std::rethrow_exception(cb_error);
        py::list res;
        for (const auto& r : reps) res.append(report_dict(r));
        return res;
      },
      py::arg("normals"), py::arg("body_depth"), py::arg("mask"), py::arg("out"), py::arg("params"),
      py::arg("done") = py::none());
}
