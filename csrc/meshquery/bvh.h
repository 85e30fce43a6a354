// SPDX-License-Identifier: Apache-2.0
// Flat bounding-volume hierarchy over a triangle mesh, built once on the host (deterministic:
// binned SAH whose bins hold only integer counts and min/max bounds, so the result does not depend
// on the thread count) and then traversed by the per-query functors of query_impl.h on either
// backend. Plain data only: nothing here is backend-specific.
#pragma once

#include <cstdint>
#include <vector>

namespace ef {
namespace meshquery {

// Traversal stacks are fixed arrays of this size; the builder guarantees depth <= kMaxDepth.
constexpr int kMaxDepth = 64;

// Floats per triangle slot: vertices a, b, c (exactly the mesh's, so shared edges stay shared for
// the watertight ray test), then |ab|^2, ab.ac, |ac|^2 (from double), which turn the
// closest-point test's six dot products into two. |ab|^2 is stored as kSlotDegenerate for a
// degenerate triangle and as kSlotThin for one with a corner whose sin is below kWellShapedSin
// (tested exactly in double, see triangle.h). 48 bytes.
constexpr int kTriStride = 12;

// A triangle is degenerate (tested as its three edges) when sin^2 of its corner angle at a is at
// most this: |ab x ac|^2 <= kDegenerateSin2 |ab|^2 |ac|^2 (see triangle.h's exact test).
constexpr double kDegenerateSin2 = 1e-18;
// Triangles whose corners all have sin^2 >= kWellShapedSin2 take the float closest-point test.
constexpr double kWellShapedSin2 = 1.0 / 16.0;
constexpr float kSlotDegenerate = -1.0f;
constexpr float kSlotThin = -2.0f;

// 32 bytes. The two children of an internal node are adjacent (a, a + 1), so one visit reads
// both boxes from one 64-byte span; children always come after their parent.
struct Node {
  float lo[3];
  int32_t a;  // internal: index of the first child (the second is a + 1); leaf: first triangle slot
  float hi[3];
  int32_t n;  // leaf: number of triangles (> 0); internal: 0
};

// The same tree with four children per node, for the closest-point search: each node holds its
// children's boxes laid out by axis ("structure of arrays", so one SIMD instruction handles all
// four on the CPU), and a leaf child is described in its parent's lane, so reaching a leaf costs
// no node fetch. Made by collapsing the binary tree (each node adopts the children of its
// largest-area internal child until it has four, the construction of Wald, Benthin and Boulos,
// "Getting rid of packets", 2008, restated). Every binary subtree of at most kWide triangles
// becomes one leaf child ("cluster", contiguous slots), a binary leaf of more is split into
// clusters of kWide; so the tree is at most as deep as the binary one. 128 bytes, two cache lines.
constexpr int kWide = 4;
struct alignas(64) WideNode {
  float lo[3][kWide];   // lo[axis][lane]
  float hi[3][kWide];
  int32_t ref[kWide];   // internal child: its WideNode index; leaf child: its LeafBlock index
  int32_t cnt[kWide];   // 0: internal child; > 0: leaf child with that many triangles; -1: empty lane
};

// Filter data of one leaf cluster (up to kWide triangles, lane k = slot block_slot[b] + k). Per
// triangle, an orthonormal frame for each edge e (from vertex e): the face's unit normal n, the
// unit in-plane outward perpendicular m_e and the unit direction u_e, each stored as a plane
// (x.v - o), and the edge's length L_e. For a point p with h = plane_n(p), s_e = plane_m_e(p),
// t_e = plane_u_e(p), its squared distance to the triangle is
//   h^2                                              if every s_e <= 0 (it projects inside)
//   h^2 + min_e (s_e^2 + (t_e - clamp(t_e, 0, L_e))^2) otherwise (nearest edge segment),
// evaluated here for four triangles at once. It is only a filter: the search runs the exact
// closest-point test (triangle.h) on the triangles whose value, allowing for rounding, can beat
// the best distance, so the result is that of testing every triangle exactly. Degenerate and
// sliver triangles and empty lanes have all-zero data (value 0: always tested). 512 bytes.
struct alignas(64) LeafBlock {
  float pl[7][4][kWide];  // pl[plane][vx, vy, vz, o][lane]; plane 0: n, 1 + e: m_e, 4 + e: u_e
  float len[3][kWide];    // L_e
  float pad[4];
};

// Per-node data of the fast winding number (Barill et al. 2018, order-1 "dipole" expansion):
// area-weighted centroid c, radius r of the ball around c that holds the node's triangles, and
// N = sum of (area * unit normal) = half the sum of the triangles' cross products.
struct WindingNode {
  float c[3];
  float r;
  float N[3];
  float pad;
};

struct BuildStats {
  int depth = 0;
  int64_t nodes = 0;
  int64_t leaves = 0;
  int64_t wide_nodes = 0;
  double seconds = 0.0;
  double wide_seconds = 0.0;  // build_wide
};

// The BVH plus the triangles in leaf order ("slots"), which is how the queries read them.
struct Bvh {
  std::vector<Node> nodes;
  std::vector<WideNode> wide;       // the 4-wide form of `nodes`, root at 0
  std::vector<LeafBlock> blocks;    // leaf clusters of `wide`
  std::vector<int32_t> block_slot;  // first triangle slot of each cluster
  float coord_bound = 0.0f;         // largest |vertex coordinate| (scale of rounding errors)
  std::vector<float> tri;           // (F, kTriStride) slot order, see kTriStride
  std::vector<int32_t> slot_face;   // (F,) original face index of each slot
  BuildStats stats;
};

// Builds the BVH of `F` triangles (faces index `vertices`, which hold `V` points). Leaves hold at
// most `max_leaf` triangles. Throws ef::ValueError / RuntimeError on impossible input.
Bvh build_bvh(const float* vertices, int64_t V, const int32_t* faces, int64_t F, int max_leaf = 4);

// Adds the 4-wide tree and its leaf-cluster filter data (Bvh::wide, blocks, block_slot) used by
// the closest-point search; the binary tree alone serves rays and winding numbers. Deterministic.
void build_wide(Bvh* bvh);

// Per-vertex unit normals: area-weighted (sum of face cross products, as PyTorch3D) or
// angle-weighted (Thuermer and Wuethrich 1998; unit face normals weighted by the corner angle).
// Vertices with no non-degenerate incident face get (0, 0, 0).
std::vector<float> vertex_normals(const float* vertices, int64_t V, const int32_t* faces, int64_t F, bool angle);

// Sign data for the pseudo-normal test (Baerentzen and Aanaes, "Signed distance computation using
// the angle weighted pseudonormal", IEEE TVCG 2005): for every slot its unit face normal and the
// (unnormalised) sum of the unit normals of the faces on each of its edges, 12 floats per slot.
// Also reports whether the mesh is closed: every directed edge u->v (u != v) is matched by exactly
// one v->u and is used once (a watertight, consistently oriented, edge-manifold surface).
struct SignData {
  std::vector<float> slot_normals;  // (F, 12) slot order: face normal, edge0, edge1, edge2
  std::vector<float> vertex_angle_normals;  // (V, 3)
  bool closed = false;
  int64_t boundary_edges = 0;     // directed edges without a partner
  int64_t nonmanifold_edges = 0;  // directed edges used more than once
};
SignData build_sign_data(const float* vertices, int64_t V, const int32_t* faces, int64_t F, const Bvh& bvh);

// Per-node dipole data of the fast winding number, computed bottom-up (double accumulation).
std::vector<WindingNode> build_winding_nodes(const Bvh& bvh);

}  // namespace meshquery
}  // namespace ef
