// SPDX-License-Identifier: Apache-2.0
// Mesh queries, host API: a Mesh owns the host BVH (and lazily its sign data and per-device
// copies); each query takes caller-allocated outputs on the caller's device and dispatches to the
// backend instantiation of query_impl.h (ef::cpu or ef::cuda). No framework types here.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "../core/backend.h"
#include "bvh.h"

namespace ef {
namespace meshquery {

// Raw pointers to one device's copy of the mesh data (POD, passed by value into the functors).
struct MeshView {
  const Node* nodes = nullptr;
  const float* tri = nullptr;            // (F, kTriStride) slot order
  const int32_t* slot_face = nullptr;    // (F,)
  const int32_t* faces = nullptr;        // (F, 3) original order
  const float* vnormals = nullptr;       // (V, 3) interpolation normals
  const float* slot_normals = nullptr;   // (F, 12) pseudo-normal data (sign queries only)
  const float* vpseudo = nullptr;        // (V, 3) angle-weighted vertex pseudo-normals
  const WindingNode* wnodes = nullptr;   // (nodes,) winding-number data
  const WideNode* wide = nullptr;        // (n_wide,) 4-wide tree for the closest-point search
  const LeafBlock* blocks = nullptr;     // (n_blocks,) its leaf clusters
  const int32_t* block_slot = nullptr;   // (n_blocks,) first slot of each cluster
  float coord_bound = 0.0f;              // largest |vertex coordinate|
  int64_t n_nodes = 0, n_wide = 0, n_blocks = 0, F = 0, V = 0;
};

enum class SignMode : int { None = 0, PseudoNormal = 1, Winding = 2 };

// One batch of point queries (closest point, signed distance, features, radius test). Every
// output pointer may be null (not computed); all live on the query's device, C-contiguous.
// Points with no face within max_distance get face -1, distance +inf, NaN elsewhere.
struct PointQuery {
  const float* points = nullptr;  // (P, 3)
  int64_t n = 0;
  float max_distance = std::numeric_limits<float>::infinity();
  bool any_hit = false;            // stop at the first face within max_distance (radius test)
  bool winding_only = false;       // skip the closest-point search: only out_winding is written
  SignMode sign = SignMode::None;
  bool inside_positive = false;    // ICON's convention (default: Open3D's, negative inside)
  float winding_beta = 2.0f;       // far-field acceptance of the fast winding number
  bool interp_projected = false;   // interpolate normals/attributes with plane-projection weights
  bool normalize_normals = true;
  const float* attr = nullptr;     // (V, C) per-vertex attributes to interpolate
  int attr_dim = 0;
  // outputs
  float* out_points = nullptr;     // (P, 3)
  float* out_dist2 = nullptr;      // (P,)
  float* out_dist = nullptr;       // (P,)
  int32_t* out_face = nullptr;     // (P,)
  float* out_bary = nullptr;       // (P, 3) clamped, exact
  float* out_bary_proj = nullptr;  // (P, 3) plane projection, unclamped
  float* out_normal = nullptr;     // (P, 3)
  float* out_sdf = nullptr;        // (P,)
  float* out_winding = nullptr;    // (P,)
  float* out_attr = nullptr;       // (P, C)
  uint8_t* out_within = nullptr;   // (P,)
};

// First hits of rays origin + t * direction, t in [tmin, tmax] (t in units of |direction|).
struct RayQuery {
  const float* origins = nullptr;     // (R, 3)
  const float* directions = nullptr;  // (R, 3)
  int64_t n = 0;
  float tmin = 0.0f, tmax = std::numeric_limits<float>::infinity();
  float* out_t = nullptr;       // (R,) +inf on a miss
  int32_t* out_face = nullptr;  // (R,) -1 on a miss
  float* out_bary = nullptr;    // (R, 3) NaN on a miss
  float* out_points = nullptr;  // (R, 3) NaN on a miss
  float* out_normal = nullptr;  // (R, 3) interpolated vertex normal (unit), NaN on a miss
};

// One rendered view. Pixel (row r, column c) casts the ray
//   orthographic: origin o + c du + r dv, direction d0
//   perspective:  origin o,             direction d0 + c du + r dv
// and writes t (the depth, when the caller scales d0/du/dv accordingly), NaN where empty.
struct RenderView {
  bool perspective = false;
  int H = 0, W = 0;
  float o[3], d0[3], du[3], dv[3];
  bool smooth = true;                // interpolated vertex normals (else the face normal)
  float* depth = nullptr;            // (H, W)
  float* normals = nullptr;          // (H, W, 3) world frame, unit, NaN where empty
  int32_t* face = nullptr;           // (H, W) -1 where empty
  uint8_t* face_visible = nullptr;   // (F,) set to 1 for faces seen in some pixel (caller zeroes)
};

struct SignInfo {
  bool closed;
  int64_t boundary_edges, nonmanifold_edges;
};

class Mesh {
 public:
  // vertices (V, 3), faces (F, 3) on the host; copied. angle_weighted: interpolation normals are
  // angle-weighted (else area-weighted, as PyTorch3D/ICON).
  Mesh(const float* vertices, int64_t V, const int32_t* faces, int64_t F, bool angle_weighted, int max_leaf = 4);
  ~Mesh();

  void closest(Device dev, const PointQuery& q);
  void ray_cast(Device dev, const RayQuery& q);
  void render(Device dev, const RenderView& v);

  SignInfo sign_info();
  const Bvh& bvh() const { return bvh_; }
  const std::vector<float>& vertex_normals() const { return vnormals_; }
  int64_t num_vertices() const { return V_; }
  int64_t num_faces() const { return F_; }
  double normals_seconds() const { return normals_seconds_; }

 private:
  void ensure_wide();
  void ensure_sign();
  void ensure_winding();
  MeshView view(Device dev, bool need_sign, bool need_winding, bool need_wide = false);

  int64_t V_, F_;
  std::vector<float> vertices_;
  std::vector<int32_t> faces_;
  Bvh bvh_;
  std::vector<float> vnormals_;
  double normals_seconds_ = 0.0;
  std::mutex mu_;
  bool has_sign_ = false, has_winding_ = false, has_wide_ = false;
  SignData sign_;
  std::vector<WindingNode> wnodes_;
  struct DeviceCopy {
    std::shared_ptr<void> storage;
    MeshView view;
    bool sign = false, winding = false, wide = false;
  };
  std::map<int, DeviceCopy> cuda_;
};

}  // namespace meshquery

// Backend instantiations of query_impl.h.
namespace cpu {
void mq_closest(const meshquery::MeshView& m, const meshquery::PointQuery& q);
void mq_ray_cast(const meshquery::MeshView& m, const meshquery::RayQuery& q);
void mq_render(const meshquery::MeshView& m, const meshquery::RenderView& v);
}  // namespace cpu
namespace cuda {
void mq_closest(const meshquery::MeshView& m, const meshquery::PointQuery& q);
void mq_ray_cast(const meshquery::MeshView& m, const meshquery::RayQuery& q);
void mq_render(const meshquery::MeshView& m, const meshquery::RenderView& v);
// Copies the host arrays of `h` (sizes from h.n_nodes, h.F, h.V) to the current CUDA device.
std::shared_ptr<void> mq_upload(const meshquery::MeshView& h, meshquery::MeshView* d);
}  // namespace cuda

}  // namespace ef
