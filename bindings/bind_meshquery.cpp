// SPDX-License-Identifier: Apache-2.0
// Thin bindings of csrc/meshquery: import arrays (any DLPack producer), check them, release the
// GIL, call. Outputs are allocated by econ_fast/meshquery.py in the caller's namespace and written
// in place; None means "not requested".
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <memory>
#include <vector>

#include "../csrc/core/error.h"
#include "../csrc/meshquery/query.h"
#include "array.h"

namespace py = pybind11;
using ef::interop::Array;
using ef::interop::Elem;
using ef::meshquery::Mesh;

namespace {

// Imports `obj` as a C-contiguous array of `elem` with shape (n, cols) (cols 0: shape (n,)) on the
// device of `ref`; keeps it alive in `keep`.
template <class T>
T* import_as(py::handle obj, const char* name, Elem elem, int64_t n, int64_t cols, const Array& ref,
             const char* ref_name, std::vector<Array>& keep) {
  if (obj.is_none()) return nullptr;
  Array a = ef::interop::import_array(obj, name);
  ef::interop::expect(a, name, {elem}, cols > 0 ? 2 : 1);
  ef::interop::expect_same_device(ref, ref_name, a, name);
  if (a.shape[0] != n || (cols > 0 && a.shape[1] != cols)) {
    throw ef::ValueError(cols > 0 ? ef::detail::concat(name, " must have shape (", n, ", ", cols, "), got ", a.shape_str())
                                  : ef::detail::concat(name, " must have shape (", n, ",), got ", a.shape_str()));
  }
  keep.push_back(a);
  return static_cast<T*>(a.data);
}

Array import_points(py::handle obj, const char* name) {
  Array a = ef::interop::import_array(obj, name);
  ef::interop::expect(a, name, {Elem::F32}, 2);
  if (a.shape[1] != 3) throw ef::ValueError(ef::detail::concat(name, " must have shape (P, 3), got ", a.shape_str()));
  return a;
}

}  // namespace

void bind_meshquery(py::module_& m) {
  py::class_<Mesh, std::shared_ptr<Mesh>>(m, "MeshCore")
      .def(py::init([](py::object vertices, py::object faces, bool angle_weighted, int max_leaf) {
             Array v = ef::interop::import_array(vertices, "vertices");
             ef::interop::expect(v, "vertices", {Elem::F32}, 2);
             if (v.shape[1] != 3) throw ef::ValueError("vertices must have shape (V, 3), got " + v.shape_str());
             Array f = ef::interop::import_array(faces, "faces");
             ef::interop::expect(f, "faces", {Elem::I32}, 2);
             if (f.shape[1] != 3) throw ef::ValueError("faces must have shape (F, 3), got " + f.shape_str());
             if (v.device.is_cuda() || f.device.is_cuda())
               throw ef::ValueError("MeshCore takes host arrays (the BVH is built on the host)");
             py::gil_scoped_release release;
             return std::make_shared<Mesh>(static_cast<const float*>(v.data), v.shape[0],
                                           static_cast<const int32_t*>(f.data), f.shape[0], angle_weighted, max_leaf);
           }),
           py::arg("vertices"), py::arg("faces"), py::arg("angle_weighted") = true, py::arg("max_leaf") = 4)
      .def_property_readonly("num_vertices", &Mesh::num_vertices)
      .def_property_readonly("num_faces", &Mesh::num_faces)
      .def("bvh_stats",
           [](const Mesh& self) {
             const auto& s = self.bvh().stats;
             py::dict d;
             d["depth"] = s.depth;
             d["nodes"] = s.nodes;
             d["leaves"] = s.leaves;
             d["wide_nodes"] = s.wide_nodes;  // 0 until the first point query builds the 4-wide tree
             d["wide_build_seconds"] = s.wide_seconds;
             d["build_seconds"] = s.seconds;
             d["normals_seconds"] = self.normals_seconds();
             return d;
           })
      .def("sign_info",
           [](Mesh& self) {
             ef::meshquery::SignInfo s;
             {
               py::gil_scoped_release release;
               s = self.sign_info();
             }
             py::dict d;
             d["closed"] = s.closed;
             d["boundary_edges"] = s.boundary_edges;
             d["nonmanifold_edges"] = s.nonmanifold_edges;
             return d;
           })
      .def("vertex_normals",
           [](const Mesh& self) {
             const auto& n = self.vertex_normals();
             py::array_t<float> out({(py::ssize_t)self.num_vertices(), (py::ssize_t)3});
             std::copy(n.begin(), n.end(), out.mutable_data());
             return out;
           })
      .def(
          "closest",
          [](Mesh& self, py::object points, py::object out_points, py::object out_dist2, py::object out_dist,
             py::object out_face, py::object out_bary, py::object out_bary_proj, py::object out_normal,
             py::object out_sdf, py::object out_winding, py::object attr, py::object out_attr,
             py::object out_within, int sign, bool inside_positive, float winding_beta, bool interp_projected,
             bool normalize_normals, float max_distance, bool any_hit, bool winding_only) {
            std::vector<Array> keep;
            Array p = import_points(points, "points");
            const int64_t n = p.shape[0];
            ef::meshquery::PointQuery q;
            q.points = static_cast<const float*>(p.data);
            q.n = n;
            q.out_points = import_as<float>(out_points, "out_points", Elem::F32, n, 3, p, "points", keep);
            q.out_dist2 = import_as<float>(out_dist2, "out_dist2", Elem::F32, n, 0, p, "points", keep);
            q.out_dist = import_as<float>(out_dist, "out_dist", Elem::F32, n, 0, p, "points", keep);
            q.out_face = import_as<int32_t>(out_face, "out_face", Elem::I32, n, 0, p, "points", keep);
            q.out_bary = import_as<float>(out_bary, "out_bary", Elem::F32, n, 3, p, "points", keep);
            q.out_bary_proj = import_as<float>(out_bary_proj, "out_bary_proj", Elem::F32, n, 3, p, "points", keep);
            q.out_normal = import_as<float>(out_normal, "out_normal", Elem::F32, n, 3, p, "points", keep);
            q.out_sdf = import_as<float>(out_sdf, "out_sdf", Elem::F32, n, 0, p, "points", keep);
            q.out_winding = import_as<float>(out_winding, "out_winding", Elem::F32, n, 0, p, "points", keep);
            q.out_within = nullptr;
            if (!out_within.is_none()) {
              Array a = ef::interop::import_array(out_within, "out_within");
              ef::interop::expect(a, "out_within", {Elem::U8, Elem::Bool}, 1);
              ef::interop::expect_same_device(p, "points", a, "out_within");
              if (a.shape[0] != n) throw ef::ValueError("out_within has the wrong shape " + a.shape_str());
              keep.push_back(a);
              q.out_within = static_cast<uint8_t*>(a.data);
            }
            if (!attr.is_none()) {
              Array a = ef::interop::import_array(attr, "attributes");
              ef::interop::expect(a, "attributes", {Elem::F32}, 2);
              ef::interop::expect_same_device(p, "points", a, "attributes");
              if (a.shape[0] != self.num_vertices())
                throw ef::ValueError(ef::detail::concat("attributes must have shape (V, C) with V = ", self.num_vertices(),
                                                        ", got ", a.shape_str()));
              keep.push_back(a);
              q.attr = static_cast<const float*>(a.data);
              q.attr_dim = (int)a.shape[1];
              q.out_attr = import_as<float>(out_attr, "out_attributes", Elem::F32, n, a.shape[1], p, "points", keep);
              if (!q.out_attr) throw ef::ValueError("out_attributes is required with attributes");
            }
            if (sign < 0 || sign > 2) throw ef::ValueError(ef::detail::concat("sign mode must be 0, 1 or 2, got ", sign));
            q.sign = static_cast<ef::meshquery::SignMode>(sign);
            q.inside_positive = inside_positive;
            q.winding_beta = winding_beta;
            q.interp_projected = interp_projected;
            q.normalize_normals = normalize_normals;
            q.max_distance = max_distance;
            q.any_hit = any_hit;
            q.winding_only = winding_only;
            py::gil_scoped_release release;
            self.closest(p.device, q);
          },
          py::arg("points"), py::arg("out_points") = py::none(), py::arg("out_dist2") = py::none(),
          py::arg("out_dist") = py::none(), py::arg("out_face") = py::none(), py::arg("out_bary") = py::none(),
          py::arg("out_bary_proj") = py::none(), py::arg("out_normal") = py::none(), py::arg("out_sdf") = py::none(),
          py::arg("out_winding") = py::none(), py::arg("attributes") = py::none(),
          py::arg("out_attributes") = py::none(), py::arg("out_within") = py::none(), py::arg("sign") = 0,
          py::arg("inside_positive") = false, py::arg("winding_beta") = 2.0f, py::arg("interp_projected") = false,
          py::arg("normalize_normals") = true, py::arg("max_distance") = INFINITY, py::arg("any_hit") = false,
          py::arg("winding_only") = false)
      .def(
          "ray_cast",
          [](Mesh& self, py::object origins, py::object directions, float tmin, float tmax, py::object out_t,
             py::object out_face, py::object out_bary, py::object out_points, py::object out_normal) {
            std::vector<Array> keep;
            Array o = import_points(origins, "origins");
            Array d = import_points(directions, "directions");
            ef::interop::expect_same_device(o, "origins", d, "directions");
            const int64_t n = o.shape[0];
            if (d.shape[0] != n)
              throw ef::ValueError(ef::detail::concat("directions must have shape (", n, ", 3), got ", d.shape_str()));
            ef::meshquery::RayQuery q;
            q.origins = static_cast<const float*>(o.data);
            q.directions = static_cast<const float*>(d.data);
            q.n = n;
            q.tmin = tmin;
            q.tmax = tmax;
            q.out_t = import_as<float>(out_t, "out_t", Elem::F32, n, 0, o, "origins", keep);
            q.out_face = import_as<int32_t>(out_face, "out_face", Elem::I32, n, 0, o, "origins", keep);
            q.out_bary = import_as<float>(out_bary, "out_bary", Elem::F32, n, 3, o, "origins", keep);
            q.out_points = import_as<float>(out_points, "out_points", Elem::F32, n, 3, o, "origins", keep);
            q.out_normal = import_as<float>(out_normal, "out_normal", Elem::F32, n, 3, o, "origins", keep);
            py::gil_scoped_release release;
            self.ray_cast(o.device, q);
          },
          py::arg("origins"), py::arg("directions"), py::arg("tmin") = 0.0f, py::arg("tmax") = INFINITY,
          py::arg("out_t") = py::none(), py::arg("out_face") = py::none(), py::arg("out_bary") = py::none(),
          py::arg("out_points") = py::none(), py::arg("out_normal") = py::none())
      .def(
          "render",
          [](Mesh& self, bool perspective, int H, int W, std::vector<float> o, std::vector<float> d0,
             std::vector<float> du, std::vector<float> dv, bool smooth, py::object depth, py::object normals,
             py::object face, py::object face_visible) {
            if (o.size() != 3 || d0.size() != 3 || du.size() != 3 || dv.size() != 3)
              throw ef::ValueError("camera vectors must have 3 components");
            if (H <= 0 || W <= 0) throw ef::ValueError(ef::detail::concat("size must be positive, got ", H, "x", W));
            std::vector<Array> keep;
            Array dep = ef::interop::import_array(depth, "depth");
            ef::interop::expect(dep, "depth", {Elem::F32}, 1);
            const int64_t n = (int64_t)H * W;
            if (dep.shape[0] != n) throw ef::ValueError("depth has the wrong size " + dep.shape_str());
            ef::meshquery::RenderView v;
            v.perspective = perspective;
            v.H = H;
            v.W = W;
            for (int k = 0; k < 3; ++k) {
              v.o[k] = o[k];
              v.d0[k] = d0[k];
              v.du[k] = du[k];
              v.dv[k] = dv[k];
            }
            v.smooth = smooth;
            v.depth = static_cast<float*>(dep.data);
            v.normals = import_as<float>(normals, "normals", Elem::F32, n, 3, dep, "depth", keep);
            v.face = import_as<int32_t>(face, "face", Elem::I32, n, 0, dep, "depth", keep);
            v.face_visible = nullptr;
            if (!face_visible.is_none()) {
              Array a = ef::interop::import_array(face_visible, "face_visible");
              ef::interop::expect(a, "face_visible", {Elem::U8, Elem::Bool}, 1);
              ef::interop::expect_same_device(dep, "depth", a, "face_visible");
              if (a.shape[0] != self.num_faces()) throw ef::ValueError("face_visible has the wrong size " + a.shape_str());
              if (!v.face) throw ef::ValueError("face_visible needs the face output");
              keep.push_back(a);
              v.face_visible = static_cast<uint8_t*>(a.data);
            }
            py::gil_scoped_release release;
            self.render(dep.device, v);
          },
          py::arg("perspective"), py::arg("H"), py::arg("W"), py::arg("o"), py::arg("d0"), py::arg("du"),
          py::arg("dv"), py::arg("smooth"), py::arg("depth"), py::arg("normals") = py::none(),
          py::arg("face") = py::none(), py::arg("face_visible") = py::none());
}
