// SPDX-License-Identifier: Apache-2.0
// Host dispatcher of the mesh queries: owns the host data, builds sign data lazily, keeps one
// copy of the mesh per CUDA device, and calls ef::cpu:: or ef::cuda:: instantiations.
#include "query.h"

#include <chrono>
#include <cmath>

#include "../core/error.h"
#include "../core/runtime.h"

namespace ef {
namespace meshquery {

Mesh::Mesh(const float* vertices, int64_t V, const int32_t* faces, int64_t F, bool angle_weighted, int max_leaf)
    : V_(V), F_(F) {
  EF_CHECK(V > 0, "vertices must not be empty");
  EF_CHECK(F > 0, "faces must not be empty");
  vertices_.assign(vertices, vertices + V * 3);
  faces_.assign(faces, faces + F * 3);
  bvh_ = build_bvh(vertices_.data(), V, faces_.data(), F, max_leaf);
  const auto t0 = std::chrono::steady_clock::now();
  vnormals_ = meshquery::vertex_normals(vertices_.data(), V, faces_.data(), F, angle_weighted);
  normals_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Mesh::~Mesh() = default;

void Mesh::ensure_sign() {
  std::lock_guard<std::mutex> lock(mu_);
  if (has_sign_) return;
  sign_ = build_sign_data(vertices_.data(), V_, faces_.data(), F_, bvh_);
  has_sign_ = true;
}

// The closest-point search's 4-wide tree, on the first point query (rays and rendering use the
// binary tree only).
void Mesh::ensure_wide() {
  std::lock_guard<std::mutex> lock(mu_);
  if (has_wide_) return;
  build_wide(&bvh_);
  has_wide_ = true;
}

void Mesh::ensure_winding() {
  std::lock_guard<std::mutex> lock(mu_);
  if (has_winding_) return;
  wnodes_ = build_winding_nodes(bvh_);
  has_winding_ = true;
}

SignInfo Mesh::sign_info() {
  ensure_sign();
  return SignInfo{sign_.closed, sign_.boundary_edges, sign_.nonmanifold_edges};
}

MeshView Mesh::view(Device dev, bool need_sign, bool need_winding, bool need_wide) {
  if (need_wide) ensure_wide();
  if (need_sign) ensure_sign();
  if (need_winding) ensure_winding();
  std::lock_guard<std::mutex> lock(mu_);
  MeshView h;
  h.nodes = bvh_.nodes.data();
  h.tri = bvh_.tri.data();
  h.slot_face = bvh_.slot_face.data();
  h.faces = faces_.data();
  h.vnormals = vnormals_.data();
  if (has_sign_) {
    h.slot_normals = sign_.slot_normals.data();
    h.vpseudo = sign_.vertex_angle_normals.data();
  }
  if (has_winding_) h.wnodes = wnodes_.data();
  h.n_nodes = (int64_t)bvh_.nodes.size();
  h.wide = bvh_.wide.data();
  h.n_wide = (int64_t)bvh_.wide.size();
  h.blocks = bvh_.blocks.data();
  h.block_slot = bvh_.block_slot.data();
  h.n_blocks = (int64_t)bvh_.blocks.size();
  h.coord_bound = bvh_.coord_bound;
  h.F = F_;
  h.V = V_;
  if (!dev.is_cuda()) return h;
#if EF_WITH_CUDA
  cuda_set_device(dev.index);
  auto it = cuda_.find(dev.index);
  if (it == cuda_.end() || (need_sign && !it->second.sign) || (need_winding && !it->second.winding) ||
      (need_wide && !it->second.wide)) {
    DeviceCopy c;
    c.storage = cuda::mq_upload(h, &c.view);
    c.sign = has_sign_;
    c.winding = has_winding_;
    c.wide = has_wide_;
    cuda_[dev.index] = c;
    return c.view;
  }
  return it->second.view;
#else
  EF_FAIL("econ_fast was built without CUDA; rebuild with EF_WITH_CUDA=ON");
#endif
}

void Mesh::closest(Device dev, const PointQuery& q) {
  EF_CHECK(q.n >= 0, "points: negative count");
  EF_CHECK(q.n == 0 || q.points, "points must not be null");
  EF_CHECK(!(q.max_distance < 0.0f) && !std::isnan(q.max_distance), "max_distance must be >= 0, got ", q.max_distance);
  EF_CHECK(std::isfinite(q.winding_beta) && q.winding_beta > 0.0f, "winding_beta must be > 0, got ", q.winding_beta);
  EF_CHECK(q.attr_dim >= 0 && (q.attr_dim == 0 || (q.attr && q.out_attr)), "attributes and their output must be given together");
  const bool need_sign = q.out_sdf && q.sign == SignMode::PseudoNormal;
  const bool need_winding = q.out_winding || (q.out_sdf && q.sign == SignMode::Winding);
  EF_CHECK(!q.out_sdf || q.sign != SignMode::None, "signed distance needs a sign mode");
  EF_CHECK(!q.winding_only || q.out_winding, "winding_only needs out_winding");
  const MeshView m = view(dev, need_sign, need_winding, !q.winding_only);
  if (dev.is_cuda()) {
#if EF_WITH_CUDA
    cuda::mq_closest(m, q);
#endif
  } else {
    cpu::mq_closest(m, q);
  }
}

void Mesh::ray_cast(Device dev, const RayQuery& q) {
  EF_CHECK(q.n >= 0, "origins: negative count");
  EF_CHECK(q.n == 0 || (q.origins && q.directions), "origins and directions must not be null");
  EF_CHECK(!std::isnan(q.tmin) && !std::isnan(q.tmax) && q.tmin <= q.tmax, "need tmin <= tmax, got ", q.tmin, " and ",
           q.tmax);
  const MeshView m = view(dev, false, false);
  if (dev.is_cuda()) {
#if EF_WITH_CUDA
    cuda::mq_ray_cast(m, q);
#endif
  } else {
    cpu::mq_ray_cast(m, q);
  }
}

void Mesh::render(Device dev, const RenderView& v) {
  EF_CHECK(v.H > 0 && v.W > 0, "size must be positive, got ", v.H, "x", v.W);
  for (int k = 0; k < 3; ++k)
    EF_CHECK(std::isfinite(v.o[k]) && std::isfinite(v.d0[k]) && std::isfinite(v.du[k]) && std::isfinite(v.dv[k]),
             "camera parameters must be finite");
  const MeshView m = view(dev, false, false);
  if (dev.is_cuda()) {
#if EF_WITH_CUDA
    cuda::mq_render(m, v);
#endif
  } else {
    cpu::mq_render(m, v);
  }
}

}  // namespace meshquery
}  // namespace ef
