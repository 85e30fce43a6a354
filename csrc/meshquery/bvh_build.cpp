// SPDX-License-Identifier: Apache-2.0
// Host-side BVH construction and per-mesh precomputation (normals, pseudo-normals, winding data).
//
// Builder: top-down binned SAH (Wald, "On fast construction of SAH-based bounding volume
// hierarchies", 2007, restated). Each node bins its triangles' bounding-box centroids into kBins
// bins per axis; bins carry integer counts and min/max boxes, so every value is independent of
// evaluation order. Nodes of at most kExactMax triangles (most nodes) take the exact SAH split
// instead, over their sorted centroids. Boxes grow with SIMD min/max. Below depth kSahDepth the builder switches to median splits so depth stays
// < kMaxDepth even on adversarial input (exponentially spaced triangles), and identical centroids
// (duplicate faces) are split by index.
//
// Parallel and deterministic: the subtree over the triangle range [b, e) has at most 2(e-b)-1
// nodes, so it owns 2(e-b)-1 node slots from its root's slot s: its first child (range [b, m))
// sits at s+1 and its second child at s + 2(m-b). Subtrees are built as thread-pool tasks writing disjoint slots
// (no shared counter), and a final depth-first pass packs the used slots. The result is the
// same for any thread count.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../core/error.h"
#include "../core/parallel.h"
#include "bvh.h"
#include "triangle.h"

namespace ef {
namespace meshquery {

namespace {

constexpr int kBins = 16;
constexpr int kSahDepth = 32;
constexpr int64_t kTaskGrain = 2048;  // subtrees smaller than this are built by the calling task
// Nodes with more triangles than this bin only their longest centroid axis: every level of the
// tree costs one pass over all triangles, and on the big top levels the longest axis is nearly
// always the SAH winner (measured on the anny body: 3-5 % slower queries, 40 % faster builds
// when applied everywhere; applied only above this size the query cost is unchanged).
constexpr int64_t kAllAxesBelow = 16384;
// Nodes with at most this many triangles take the exact SAH split (every centroid position on
// every axis, after sorting) instead of binning: most of the 2F - 1 nodes are this small, and
// for them initialising and sweeping 3 x kBins bins cost more than sorting a handful of
// centroids (with SIMD boxes, the SAH of the 24.5k-face anny body went from 16.5 to 6.9 ms on one thread).
constexpr int64_t kExactMax = 16;

// Axis-aligned box with a fourth, ignored lane so that growing it is two SIMD instructions.
struct alignas(16) Box {
  float lo[4] = {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity(),
                 std::numeric_limits<float>::infinity(), 0.0f};
  float hi[4] = {-std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                 -std::numeric_limits<float>::infinity(), 0.0f};
  // Grows by the box [l, h]; both point to 4 floats, 16-byte aligned (lane 3 is ignored).
  void grow(const float* l, const float* h) {
#if defined(__SSE2__)
    _mm_store_ps(lo, _mm_min_ps(_mm_load_ps(lo), _mm_load_ps(l)));
    _mm_store_ps(hi, _mm_max_ps(_mm_load_ps(hi), _mm_load_ps(h)));
#else
    for (int k = 0; k < 3; ++k) {
      lo[k] = std::min(lo[k], l[k]);
      hi[k] = std::max(hi[k], h[k]);
    }
#endif
  }
  void grow(const Box& b) { grow(b.lo, b.hi); }
  void grow_point(const float* p) { grow(p, p); }
  bool empty() const { return !(lo[0] <= hi[0]); }
  double half_area() const {
    if (empty()) return 0.0;
    const double dx = (double)hi[0] - lo[0], dy = (double)hi[1] - lo[1], dz = (double)hi[2] - lo[2];
    return dx * dy + dy * dz + dz * dx;
  }
};

// A triangle's bounding box and its centroid; the centroid's fourth lane holds the face index.
struct alignas(16) Prim {
  float lo[4], hi[4];
  float c[3];
  int32_t idx;
};
static_assert(sizeof(Prim) == 48, "Prim layout");

// Bin index of centroid c on an axis with origin lo and scale (kBins / extent); same formula in
// the binning pass and in the partition, so they always agree.
inline int bin_of(float c, float lo, float scale) {
  int b = (int)((c - lo) * scale);
  return b < 0 ? 0 : (b >= kBins ? kBins - 1 : b);
}

// A subtree left for the second, parallel phase of the build.
struct Task {
  int64_t slot, b, e;
  int depth;
  Box box, cbox;
  std::pair<int, int64_t> res;
};

struct Builder {
  std::vector<Prim>& prims;
  std::vector<Node>& slots;  // 2F - 1 slots, see the file comment
  int max_leaf;
  // Phase 1 (serial, top of the tree): subtrees of at most defer_grain triangles are not built but
  // recorded here; phase 2 builds them in parallel. The splits do not depend on this, so the tree
  // is the same for any thread count.
  std::vector<Task>* defer = nullptr;
  int64_t defer_grain = 0;

  // Builds the subtree of prims [b, e) rooted at `slot`; returns (depth, leaves).
  std::pair<int, int64_t> build(int64_t slot, int64_t b, int64_t e, int depth, const Box& box, const Box& cbox) {
    Node& node = slots[(size_t)slot];
    for (int k = 0; k < 3; ++k) {
      node.lo[k] = box.lo[k];
      node.hi[k] = box.hi[k];
    }
    const int64_t n = e - b;
    if (n <= max_leaf) {
      node.a = (int32_t)b;
      node.n = (int32_t)n;
      return {depth, 1};
    }
    int64_t mid = -1;
    Box lbox, rbox;
    if (depth < kSahDepth) mid = n <= kExactMax ? exact_split(b, e, &lbox, &rbox) : sah_split(b, e, cbox, &lbox, &rbox);
    if (mid <= b || mid >= e) mid = median_split(b, e, cbox, &lbox, &rbox);
    Box lc, rc;
    for (int64_t i = b; i < mid; ++i) lc.grow_point(prims[(size_t)i].c);
    for (int64_t i = mid; i < e; ++i) rc.grow_point(prims[(size_t)i].c);
    const int64_t right = slot + 2 * (mid - b);
    node.a = (int32_t)right;
    node.n = 0;
    std::pair<int, int64_t> L, R;
    if (defer && mid - b <= defer_grain) {
      defer->push_back(Task{slot + 1, b, mid, depth + 1, lbox, lc, {0, 0}});
      L = {depth + 1, 0};  // completed from the task's result after phase 2
    } else {
      L = build(slot + 1, b, mid, depth + 1, lbox, lc);
    }
    if (defer && e - mid <= defer_grain) {
      defer->push_back(Task{right, mid, e, depth + 1, rbox, rc, {0, 0}});
      R = {depth + 1, 0};
    } else {
      R = build(right, mid, e, depth + 1, rbox, rc);
    }
    return {std::max(L.first, R.first), L.second + R.second};
  }

  // Exact SAH over at most kExactMax triangles: on each axis, order the centroids (ties by face
  // index, a total order) and try every split position; the cheapest (axis, position) wins, the
  // first one on a tie. Reorders prims [b, e) to that axis' order. Returns the split, or -1 when
  // every centroid coincides on every axis.
  int64_t exact_split(int64_t b, int64_t e, Box* lbox, Box* rbox) {
    const int n = (int)(e - b);
    const Prim* P = prims.data() + b;
    int order[3][kExactMax];
    double best_cost = std::numeric_limits<double>::infinity();
    int best_axis = -1, best_pos = 0;
    for (int k = 0; k < 3; ++k) {
      int* o = order[k];
      for (int i = 0; i < n; ++i) {  // insertion sort: n is small
        int j = i;
        while (j > 0 && (P[o[j - 1]].c[k] > P[i].c[k] || (P[o[j - 1]].c[k] == P[i].c[k] && P[o[j - 1]].idx > P[i].idx))) {
          o[j] = o[j - 1];
          --j;
        }
        o[j] = i;
      }
      if (!(P[o[0]].c[k] < P[o[n - 1]].c[k])) continue;  // no extent on this axis
      double rarea[kExactMax];
      Box acc;
      for (int i = n - 1; i > 0; --i) {
        acc.grow(P[o[i]].lo, P[o[i]].hi);
        rarea[i] = acc.half_area();
      }
      Box lacc;
      for (int i = 0; i < n - 1; ++i) {
        lacc.grow(P[o[i]].lo, P[o[i]].hi);
        const double cost = lacc.half_area() * (double)(i + 1) + rarea[i + 1] * (double)(n - 1 - i);
        if (cost < best_cost) {
          best_cost = cost;
          best_axis = k;
          best_pos = i + 1;
        }
      }
    }
    if (best_axis < 0) return -1;
    Prim tmp[kExactMax];
    *lbox = Box();
    *rbox = Box();
    for (int i = 0; i < n; ++i) {
      tmp[i] = P[order[best_axis][i]];
      (i < best_pos ? lbox : rbox)->grow(tmp[i].lo, tmp[i].hi);
    }
    std::copy(tmp, tmp + n, prims.begin() + b);
    return b + best_pos;
  }

  int64_t sah_split(int64_t b, int64_t e, const Box& cbox, Box* lbox, Box* rbox) {
    Box bins[3][kBins];
    int64_t counts[3][kBins] = {};
    float scale[3];
    int longest = 0;
    for (int k = 0; k < 3; ++k) {
      const float ext = cbox.hi[k] - cbox.lo[k];
      scale[k] = ext > 0.0f ? (float)kBins / ext * (1.0f - 1e-6f) : 0.0f;
      if (ext > cbox.hi[longest] - cbox.lo[longest]) longest = k;
    }
    if (e - b > kAllAxesBelow)
      for (int k = 0; k < 3; ++k)
        if (k != longest) scale[k] = 0.0f;
    for (int64_t i = b; i < e; ++i) {
      const Prim& p = prims[(size_t)i];
      for (int k = 0; k < 3; ++k) {
        if (scale[k] == 0.0f) continue;
        const int j = bin_of(p.c[k], cbox.lo[k], scale[k]);
        counts[k][j]++;
        bins[k][j].grow(p.lo, p.hi);
      }
    }
    int best_axis = -1, best_split = 0;
    double best_cost = std::numeric_limits<double>::infinity();
    for (int k = 0; k < 3; ++k) {
      if (scale[k] == 0.0f) continue;
      double rarea[kBins];
      int64_t rcount[kBins];
      Box acc;
      int64_t cnt = 0;
      for (int s = kBins - 1; s > 0; --s) {
        acc.grow(bins[k][s]);
        cnt += counts[k][s];
        rarea[s] = acc.half_area();
        rcount[s] = cnt;
      }
      Box lacc;
      int64_t lcnt = 0;
      for (int s = 0; s < kBins - 1; ++s) {
        lacc.grow(bins[k][s]);
        lcnt += counts[k][s];
        const int64_t rcnt = rcount[s + 1];
        if (lcnt == 0 || rcnt == 0) continue;
        const double cost = lacc.half_area() * (double)lcnt + rarea[s + 1] * (double)rcnt;
        if (cost < best_cost) {
          best_cost = cost;
          best_axis = k;
          best_split = s;
        }
      }
    }
    if (best_axis < 0) return -1;
    const int k = best_axis;
    *lbox = Box();
    *rbox = Box();
    for (int s = 0; s < kBins; ++s) (s <= best_split ? lbox : rbox)->grow(bins[k][s]);
    const float lo = cbox.lo[k], sc = scale[k];
    auto it = std::partition(prims.begin() + b, prims.begin() + e,
                             [&](const Prim& p) { return bin_of(p.c[k], lo, sc) <= best_split; });
    return it - prims.begin();
  }

  // Median on the longest centroid axis; ties by index (a total order, deterministic).
  int64_t median_split(int64_t b, int64_t e, const Box& cbox, Box* lbox, Box* rbox) {
    int k = 0;
    for (int j = 1; j < 3; ++j)
      if (cbox.hi[j] - cbox.lo[j] > cbox.hi[k] - cbox.lo[k]) k = j;
    const int64_t mid = b + (e - b) / 2;
    std::nth_element(prims.begin() + b, prims.begin() + mid, prims.begin() + e, [k](const Prim& x, const Prim& y) {
      return x.c[k] < y.c[k] || (x.c[k] == y.c[k] && x.idx < y.idx);
    });
    *lbox = Box();
    *rbox = Box();
    for (int64_t i = b; i < e; ++i) (i < mid ? lbox : rbox)->grow(prims[(size_t)i].lo, prims[(size_t)i].hi);
    return mid;
  }
};

// Filter data of the triangle in slot data t (see LeafBlock) into lane k of block b, in double.
// Triangles with a corner angle near 0 (sin^2 below 1e-4 at some corner) keep zero data and are
// always tested: their float plane data would be poorly conditioned. (The exact test itself is
// within a few ulps of the coordinates for every shape, see triangle.h, far inside the allowance.)
void fill_block_lane(const float* t, LeafBlock* blk, int k) {
  if (t[9] == kSlotDegenerate) return;
  double P[3][3], E[3][3];
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 3; ++i) P[j][i] = t[3 * j + i];
  for (int e = 0; e < 3; ++e)
    for (int i = 0; i < 3; ++i) E[e][i] = P[(e + 1) % 3][i] - P[e][i];  // ab, bc, ca
  auto cross = [](const double* u, const double* v, double* o) {
    o[0] = u[1] * v[2] - u[2] * v[1];
    o[1] = u[2] * v[0] - u[0] * v[2];
    o[2] = u[0] * v[1] - u[1] * v[0];
  };
  auto dot = [](const double* u, const double* v) { return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]; };
  double n[3];
  const double ac[3] = {-E[2][0], -E[2][1], -E[2][2]};
  cross(E[0], ac, n);  // ab x ac
  const double n2 = dot(n, n);
  const double l2[3] = {dot(E[0], E[0]), dot(E[1], E[1]), dot(E[2], E[2])};
  if (!(n2 > 1e-4 * l2[0] * l2[2] && n2 > 1e-4 * l2[0] * l2[1] && n2 > 1e-4 * l2[1] * l2[2])) return;
  // |ab x n| = |ab| |n|: the edge perpendiculars need no square root of their own.
  const double inl = 1.0 / std::sqrt(n2);
  for (int i = 0; i < 3; ++i) blk->pl[0][i][k] = (float)(n[i] * inl);
  blk->pl[0][3][k] = (float)(dot(n, P[0]) * inl);
  for (int e = 0; e < 3; ++e) {
    double m[3];
    cross(E[e], n, m);  // in the face plane, perpendicular to the edge, pointing away from the triangle
    const double el = std::sqrt(l2[e]), iel = 1.0 / el, im = iel * inl;
    const double* a = P[e];  // the edge starts at vertex e
    for (int i = 0; i < 3; ++i) {
      blk->pl[1 + e][i][k] = (float)(m[i] * im);
      blk->pl[4 + e][i][k] = (float)(E[e][i] * iel);
    }
    blk->pl[1 + e][3][k] = (float)(dot(m, a) * im);
    blk->pl[4 + e][3][k] = (float)(dot(E[e], a) * iel);
    blk->len[e][k] = (float)el;
  }
}

// The 4-wide form of the packed binary tree (see WideNode) and its leaf clusters. Nodes are
// emitted depth-first; a node's internal children get consecutive indices when it is emitted.
// Deterministic: the child to open is the internal one of largest box half-area, ties to the
// first lane.
}  // namespace

void build_wide(Bvh* bvh) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Node>& nodes = bvh->nodes;
  const size_t N = nodes.size();
  // Triangles under each binary node and the first slot of its range (children follow parents).
  std::vector<int32_t> count(N), first(N);
  for (size_t i = N; i-- > 0;) {
    const Node& nd = nodes[i];
    if (nd.n > 0) {
      count[i] = nd.n;
      first[i] = nd.a;
    } else {
      count[i] = count[(size_t)nd.a] + count[(size_t)nd.a + 1];
      first[i] = std::min(first[(size_t)nd.a], first[(size_t)nd.a + 1]);
    }
  }
  auto half_area = [](const Node& n) {
    const double dx = (double)n.hi[0] - n.lo[0], dy = (double)n.hi[1] - n.lo[1], dz = (double)n.hi[2] - n.lo[2];
    return dx * dy + dy * dz + dz * dx;
  };
  std::vector<WideNode>& w = bvh->wide;
  w.clear();
  w.reserve(N / 4 + 1);
  bvh->blocks.clear();
  bvh->block_slot.clear();
  std::vector<int32_t> block_n;  // triangles per cluster; the filter data is filled afterwards
  auto add_block = [&](int32_t s0, int32_t n) {
    bvh->block_slot.push_back(s0);
    block_n.push_back(n);
    return (int32_t)bvh->block_slot.size() - 1;
  };
  // A lane item: a binary node (part >= 0: a cluster of a split big leaf, triangles
  // [a + kWide * part, ...)).
  struct Item {
    int32_t b, part;
  };
  w.emplace_back();
  std::vector<std::pair<Item, int32_t>> stack;  // (item, its wide index)
  stack.push_back({Item{0, -1}, 0});
  while (!stack.empty()) {
    const auto [it, wi] = stack.back();
    stack.pop_back();
    Item lane[kWide];
    int nl = 0;
    const Node& bn = nodes[(size_t)it.b];
    if (count[(size_t)it.b] <= kWide) {
      lane[nl++] = it;  // a small root: one cluster
    } else if (bn.n > 0) {
      for (int32_t q = 0; q * kWide < bn.n; ++q) lane[nl++] = Item{it.b, q};  // a big leaf: its clusters
    } else {
      lane[nl++] = Item{bn.a, -1};
      lane[nl++] = Item{bn.a + 1, -1};
      while (nl < kWide) {
        int open = -1;
        double best = -1.0;
        for (int k = 0; k < nl; ++k) {
          const Node& c = nodes[(size_t)lane[k].b];
          if (c.n == 0 && count[(size_t)lane[k].b] > kWide && half_area(c) > best) {
            best = half_area(c);
            open = k;
          }
        }
        if (open < 0) break;
        const int32_t fc = nodes[(size_t)lane[open].b].a;
        for (int k = nl; k > open + 1; --k) lane[k] = lane[k - 1];
        lane[open] = Item{fc, -1};
        lane[open + 1] = Item{fc + 1, -1};
        ++nl;
      }
    }
    WideNode wn;
    for (int k = 0; k < kWide; ++k) {
      for (int j = 0; j < 3; ++j) {
        wn.lo[j][k] = 0.0f;
        wn.hi[j][k] = 0.0f;
      }
      wn.ref[k] = 0;
      wn.cnt[k] = -1;
      if (k >= nl) continue;
      const Node& c = nodes[(size_t)lane[k].b];
      if (lane[k].part >= 0) {
        // A cluster of a big leaf: its own box, from its triangles.
        const int32_t s0 = c.a + kWide * lane[k].part, n = std::min<int32_t>(kWide, c.a + c.n - s0);
        for (int j = 0; j < 3; ++j) {
          float lo = std::numeric_limits<float>::infinity(), hi = -lo;
          for (int32_t s = s0; s < s0 + n; ++s)
            for (int v = 0; v < 3; ++v) {
              lo = std::min(lo, bvh->tri[(size_t)s * kTriStride + 3 * v + j]);
              hi = std::max(hi, bvh->tri[(size_t)s * kTriStride + 3 * v + j]);
            }
          wn.lo[j][k] = lo;
          wn.hi[j][k] = hi;
        }
        wn.ref[k] = add_block(s0, n);
        wn.cnt[k] = n;
        continue;
      }
      for (int j = 0; j < 3; ++j) {
        wn.lo[j][k] = c.lo[j];
        wn.hi[j][k] = c.hi[j];
      }
      if (count[(size_t)lane[k].b] <= kWide) {
        wn.ref[k] = add_block(first[(size_t)lane[k].b], count[(size_t)lane[k].b]);
        wn.cnt[k] = count[(size_t)lane[k].b];
      } else {
        wn.ref[k] = (int32_t)w.size();
        wn.cnt[k] = 0;
        w.emplace_back();
      }
    }
    w[(size_t)wi] = wn;
    for (int k = nl - 1; k >= 0; --k)
      if (wn.cnt[k] == 0) stack.push_back({lane[k], wn.ref[k]});
  }
  // Filter data, one cluster per task (independent, so the result does not depend on threads).
  bvh->blocks.assign(block_n.size(), LeafBlock());
  struct FillOp {
    LeafBlock* blocks;
    const int32_t *slot, *n;
    const float* tri;
    void operator()(int64_t b) const {
      LeafBlock& blk = blocks[b];
      std::memset(&blk, 0, sizeof(blk));
      for (int k = 0; k < n[b]; ++k) fill_block_lane(tri + (size_t)(slot[b] + k) * kTriStride, &blk, k);
    }
  };
  cpu::for_each((int64_t)block_n.size(), FillOp{bvh->blocks.data(), bvh->block_slot.data(), block_n.data(), bvh->tri.data()});
  bvh->stats.wide_nodes = (int64_t)w.size();
  bvh->stats.wide_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Bvh build_bvh(const float* V_, int64_t V, const int32_t* faces, int64_t F, int max_leaf) {
  const auto t0 = std::chrono::steady_clock::now();
  EF_CHECK(F > 0, "faces must not be empty");
  EF_CHECK(F < (int64_t(1) << 30), "faces: at most 2^30 triangles are supported, got ", F);
  EF_CHECK(max_leaf >= 1 && max_leaf <= 16, "max_leaf must be in [1, 16], got ", max_leaf);
  bool finite = true;
  for (int64_t i = 0; i < V * 3; ++i) finite = finite && std::isfinite(V_[i]);
  if (!finite) {
    for (int64_t i = 0; i < V * 3; ++i)
      EF_CHECK(std::isfinite(V_[i]), "vertices must be finite, got ", V_[i], " at vertices[", i / 3, ", ", i % 3, "]");
  }
  for (int64_t i = 0; i < F * 3; ++i) {
    const int64_t v = faces[i];
    EF_CHECK(v >= 0 && v < V, "faces[", i / 3, ", ", i % 3, "] = ", v, " is out of range [0, ", V, ")");
  }
  std::vector<Prim> prims((size_t)F);
  // Triangle boxes and centroids (parallel, order-independent), then the root boxes.
  struct PrimOp {
    Prim* prims;
    const float* V_;
    const int32_t* faces;
    void operator()(int64_t f) const {
    Prim& p = prims[(size_t)f];
    p.idx = (int32_t)f;
    const float* x0 = V_ + (int64_t)faces[f * 3] * 3;
    const float* x1 = V_ + (int64_t)faces[f * 3 + 1] * 3;
    const float* x2 = V_ + (int64_t)faces[f * 3 + 2] * 3;
    for (int k = 0; k < 3; ++k) {
      p.lo[k] = std::min(std::min(x0[k], x1[k]), x2[k]);
      p.hi[k] = std::max(std::max(x0[k], x1[k]), x2[k]);
      p.c[k] = 0.5f * (p.lo[k] + p.hi[k]);
    }
    p.lo[3] = p.hi[3] = 0.0f;
    }
  };
  cpu::for_each(F, PrimOp{prims.data(), V_, faces});  // triangle boxes, order-independent
  Box root, rootc;
  for (int64_t f = 0; f < F; ++f) {
    root.grow(prims[(size_t)f].lo, prims[(size_t)f].hi);
    rootc.grow_point(prims[(size_t)f].c);
  }

  std::vector<Node> slots((size_t)(2 * F - 1));
  Builder builder{prims, slots, max_leaf};
  // Phase 1: the top of the tree, serially, down to subtrees of about 1/64 of the triangles;
  // phase 2: those subtrees in parallel on the thread pool (each task writes its own slot range).
  std::vector<Task> tasks;
  builder.defer = F > 4 * kTaskGrain ? &tasks : nullptr;
  builder.defer_grain = std::max<int64_t>(kTaskGrain, F / 64);
  std::pair<int, int64_t> res = builder.build(0, 0, F, 1, root, rootc);
  builder.defer = nullptr;
  if (!tasks.empty()) {
    struct Ctx {
      Builder* bld;
      Task* tasks;
    } ctx{&builder, tasks.data()};
    cpu::ThreadPool::instance().run(
        (int64_t)tasks.size(),
        [](const void* c, int64_t i) {
          const Ctx& x = *static_cast<const Ctx*>(c);
          Task& t = x.tasks[i];
          t.res = x.bld->build(t.slot, t.b, t.e, t.depth, t.box, t.cbox);
        },
        &ctx);
    for (const Task& t : tasks) {
      res.first = std::max(res.first, t.res.first);
      res.second += t.res.second;
    }
  }
  const int max_depth = res.first;
  if (max_depth > kMaxDepth) EF_FAIL("BVH depth ", max_depth, " exceeds the traversal stack ", kMaxDepth);

  // Pack the used slots: each internal node's children get two adjacent indices, allocated when
  // the node is emitted (depth-first, first child first).
  Bvh bvh;
  bvh.nodes.reserve((size_t)(2 * res.second - 1));
  bvh.nodes.push_back(Node());
  std::vector<std::pair<int64_t, int32_t>> stack;  // (slot, index assigned to it)
  stack.push_back({0, 0});
  while (!stack.empty()) {
    const auto [slot, id] = stack.back();
    stack.pop_back();
    Node nd = slots[(size_t)slot];
    if (nd.n == 0) {
      const int32_t a = (int32_t)bvh.nodes.size();
      bvh.nodes.push_back(Node());
      bvh.nodes.push_back(Node());
      stack.push_back({nd.a, a + 1});   // second child (slot of the right subtree)
      stack.push_back({slot + 1, a});   // first child, emitted next
      nd.a = a;
    }
    bvh.nodes[(size_t)id] = nd;
  }

  bvh.tri.resize((size_t)F * kTriStride);
  bvh.slot_face.resize((size_t)F);
  // Per-slot triangle data (independent per slot: parallel, order-independent).
  struct SlotOp {
    const Prim* prims;
    const float* V_;
    const int32_t* faces;
    int32_t* slot_face;
    float* tri;
    void operator()(int64_t s) const {
    const int32_t f = prims[(size_t)s].idx;
    slot_face[(size_t)s] = f;
    float* t = tri + (size_t)s * kTriStride;
    for (int j = 0; j < 3; ++j) std::memcpy(t + j * 3, V_ + (int64_t)faces[f * 3 + j] * 3, 12);
    double ab[3], ac[3];
    for (int k = 0; k < 3; ++k) {
      ab[k] = (double)t[3 + k] - t[k];
      ac[k] = (double)t[6 + k] - t[k];
    }
    const double abab = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
    const double abac = ab[0] * ac[0] + ab[1] * ac[1] + ab[2] * ac[2];
    const double acac = ac[0] * ac[0] + ac[1] * ac[1] + ac[2] * ac[2];
    const double nx = ab[1] * ac[2] - ab[2] * ac[1], ny = ab[2] * ac[0] - ab[0] * ac[2], nz = ab[0] * ac[1] - ab[1] * ac[0];
    const double n2 = nx * nx + ny * ny + nz * nz;
    const double bcbc = abab + acac - 2.0 * abac;  // |c - b|^2
    t[9] = (float)abab;
    t[10] = (float)abac;
    t[11] = (float)acac;
    // Same criterion as triangle.h's is_degenerate, in double; a triangle whose edge products
    // underflow or overflow float also takes the (always safe) segment path.
    const bool ok = n2 > kDegenerateSin2 * abab * acac && t[9] > 0.0f && t[11] > 0.0f && std::isfinite(t[9]) && std::isfinite(t[11]);
    // sin^2 of each corner: n2 / (product of its two edges' squared lengths).
    const bool well = n2 >= kWellShapedSin2 * abab * acac && n2 >= kWellShapedSin2 * abab * bcbc &&
                      n2 >= kWellShapedSin2 * acac * bcbc && std::isfinite((float)(abab * acac));
    if (!ok) {
      t[9] = kSlotDegenerate;
    } else if (!well) {
      t[9] = kSlotThin;
    }
    }
  };
  cpu::for_each(F, SlotOp{prims.data(), V_, faces, bvh.slot_face.data(), bvh.tri.data()});
  {
    float mx = 0.0f;
    for (int64_t i = 0; i < V * 3; ++i) mx = std::max(mx, std::fabs(V_[i]));
    bvh.coord_bound = mx;
  }
  bvh.stats.depth = max_depth;
  bvh.stats.nodes = (int64_t)bvh.nodes.size();
  bvh.stats.leaves = res.second;
  bvh.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return bvh;
}

namespace {

// The double 3-vector of the exact point-triangle test (triangle.h), used here on the host.
using D3 = ::ef::cpu::mq::D3;
using ::ef::cpu::mq::cross_d;
using ::ef::cpu::mq::dot_d;
using ::ef::cpu::mq::sub_d;
inline D3 dload(const float* p) { return D3{p[0], p[1], p[2]}; }
inline double dlen(D3 a) { return std::sqrt(dot_d(a, a)); }

// Unit normal of face f in double, or 0 when degenerate (same test as triangle.h, in double).
inline D3 unit_face_normal(const float* V_, const int32_t* faces, int64_t f, double* area2 = nullptr) {
  const D3 a = dload(V_ + (int64_t)faces[f * 3] * 3), b = dload(V_ + (int64_t)faces[f * 3 + 1] * 3),
           c = dload(V_ + (int64_t)faces[f * 3 + 2] * 3);
  const D3 ab = sub_d(b, a), ac = sub_d(c, a);
  const D3 n = cross_d(ab, ac);
  const double n2 = dot_d(n, n);
  if (area2) *area2 = std::sqrt(n2);
  if (!(n2 > kDegenerateSin2 * dot_d(ab, ab) * dot_d(ac, ac))) return D3{0, 0, 0};
  const double l = std::sqrt(n2);
  return D3{n.x / l, n.y / l, n.z / l};
}

// atan(t) for t in [0, 1], to about 1e-11 rad: one reduction, atan(t) = pi/6 + atan((sqrt(3) t - 1) /
// (t + sqrt(3))) above tan(pi/12), leaves |t| <= tan(pi/12) = 0.268, where the Taylor series to
// t^15 is within 0.268^17 / 17 ~ 1e-11. A quarter of libm's atan2 time here, where the angles
// of every corner of a 1.6M-face mesh are taken, and the same on every platform.
inline double atan01(double t) {
  constexpr double kSqrt3 = 1.7320508075688772, kTan15 = 0.2679491924311227, kPi6 = 0.5235987755982988;
  double off = 0.0;
  if (t > kTan15) {
    t = (kSqrt3 * t - 1.0) / (t + kSqrt3);
    off = kPi6;
  }
  const double t2 = t * t;
  double p = -1.0 / 15;
  p = p * t2 + 1.0 / 13;
  p = p * t2 - 1.0 / 11;
  p = p * t2 + 1.0 / 9;
  p = p * t2 - 1.0 / 7;
  p = p * t2 + 1.0 / 5;
  p = p * t2 - 1.0 / 3;
  p = p * t2 + 1.0;
  return off + t * p;
}

// atan2(y, x) for y >= 0 (an angle in [0, pi]).
inline double atan2_upper(double y, double x) {
  constexpr double kPi = 3.141592653589793, kPi2 = 1.5707963267948966;
  const double ax = std::fabs(x);
  if (y == 0.0 && ax == 0.0) return 0.0;
  const double a = y <= ax ? atan01(y / ax) : kPi2 - atan01(ax / y);
  return x < 0.0 ? kPi - a : a;
}

// Interior angle at vertex `a` of triangle (a, b, c).
inline double corner_angle(D3 a, D3 b, D3 c) {
  const D3 u = sub_d(b, a), v = sub_d(c, a);
  return atan2_upper(dlen(cross_d(u, v)), dot_d(u, v));
}

}  // namespace

// Sum over the faces around each vertex of (corner weight x face normal), in double: the corner
// angle times the unit normal (angle-weighted, Thuermer and Wuethrich 1998) or the area vector
// (area-weighted). The per-face terms are computed in parallel, the sums serially in face order,
// so the result does not depend on the thread count.
static std::vector<double> accumulate_vertex_normals(const float* V_, int64_t V, const int32_t* faces, int64_t F, bool angle) {
  std::vector<double> term((size_t)F * 9);
  struct TermOp {
    const float* V_;
    const int32_t* faces;
    bool angle;
    double* term;
    void operator()(int64_t f) const {
      const int32_t* fv = faces + f * 3;
      const D3 p[3] = {dload(V_ + (int64_t)fv[0] * 3), dload(V_ + (int64_t)fv[1] * 3), dload(V_ + (int64_t)fv[2] * 3)};
      double* o = term + f * 9;
      if (angle) {
        const D3 n = unit_face_normal(V_, faces, f);
        for (int j = 0; j < 3; ++j) {
          const double w = (n.x == 0 && n.y == 0 && n.z == 0) ? 0.0 : corner_angle(p[j], p[(j + 1) % 3], p[(j + 2) % 3]);
          o[3 * j] = w * n.x;
          o[3 * j + 1] = w * n.y;
          o[3 * j + 2] = w * n.z;
        }
      } else {
        const D3 n = cross_d(sub_d(p[1], p[0]), sub_d(p[2], p[0]));  // |n| = 2 * area
        for (int j = 0; j < 3; ++j) {
          o[3 * j] = n.x;
          o[3 * j + 1] = n.y;
          o[3 * j + 2] = n.z;
        }
      }
    }
  };
  cpu::for_each(F, TermOp{V_, faces, angle, term.data()});
  std::vector<double> acc((size_t)V * 3, 0.0);
  for (int64_t f = 0; f < F; ++f)
    for (int j = 0; j < 3; ++j) {
      double* o = &acc[(size_t)faces[f * 3 + j] * 3];
      const double* t = &term[(size_t)f * 9 + 3 * j];
      o[0] += t[0];
      o[1] += t[1];
      o[2] += t[2];
    }
  return acc;
}

std::vector<float> vertex_normals(const float* V_, int64_t V, const int32_t* faces, int64_t F, bool angle) {
  const std::vector<double> acc = accumulate_vertex_normals(V_, V, faces, F, angle);
  std::vector<float> out((size_t)V * 3, 0.0f);
  for (int64_t v = 0; v < V; ++v) {
    const double* a = &acc[(size_t)v * 3];
    const double l = std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
    if (l > 0) {
      for (int k = 0; k < 3; ++k) out[(size_t)v * 3 + k] = (float)(a[k] / l);
    }
  }
  return out;
}

SignData build_sign_data(const float* V_, int64_t V, const int32_t* faces, int64_t F, const Bvh& bvh) {
  SignData sd;
  std::vector<D3> fn((size_t)F);
  for (int64_t f = 0; f < F; ++f) fn[(size_t)f] = unit_face_normal(V_, faces, f);
  // Undirected edge key (min, max) with the face-edge it came from, sorted: a total order on
  // (key, face-edge) makes the grouping deterministic.
  struct E {
    uint64_t key;
    int64_t fe;  // f * 3 + e
  };
  std::vector<E> edges;
  edges.reserve((size_t)F * 3);
  for (int64_t f = 0; f < F; ++f)
    for (int e = 0; e < 3; ++e) {
      const uint32_t u = (uint32_t)faces[f * 3 + e], v = (uint32_t)faces[f * 3 + (e + 1) % 3];
      if (u == v) continue;  // a repeated vertex: this "edge" is a point
      const uint64_t key = ((uint64_t)std::min(u, v) << 32) | std::max(u, v);
      edges.push_back(E{key, f * 3 + e});
    }
  std::sort(edges.begin(), edges.end(), [](const E& x, const E& y) { return x.key < y.key || (x.key == y.key && x.fe < y.fe); });
  std::vector<D3> edge_normal((size_t)F * 3, D3{0, 0, 0});
  size_t i = 0;
  while (i < edges.size()) {
    size_t j = i;
    D3 sum{0, 0, 0};
    int64_t fwd = 0, bwd = 0;
    while (j < edges.size() && edges[j].key == edges[i].key) {
      const int64_t f = edges[j].fe / 3;
      const int e = (int)(edges[j].fe % 3);
      sum.x += fn[(size_t)f].x;
      sum.y += fn[(size_t)f].y;
      sum.z += fn[(size_t)f].z;
      const uint32_t u = (uint32_t)faces[f * 3 + e], v = (uint32_t)faces[f * 3 + (e + 1) % 3];
      (u < v ? fwd : bwd)++;
      ++j;
    }
    if (fwd != bwd) sd.boundary_edges += std::llabs(fwd - bwd);
    if (fwd > 1 || bwd > 1) sd.nonmanifold_edges += (fwd + bwd);
    for (size_t k = i; k < j; ++k) edge_normal[(size_t)edges[k].fe] = sum;
    i = j;
  }
  sd.closed = sd.boundary_edges == 0 && sd.nonmanifold_edges == 0;
  // Angle-weighted vertex pseudo-normals.
  const std::vector<double> vn = accumulate_vertex_normals(V_, V, faces, F, true);
  sd.vertex_angle_normals.resize((size_t)V * 3);
  for (size_t k = 0; k < vn.size(); ++k) sd.vertex_angle_normals[k] = (float)vn[k];
  sd.slot_normals.resize((size_t)F * 12);
  for (int64_t s = 0; s < F; ++s) {
    const int64_t f = bvh.slot_face[(size_t)s];
    float* o = &sd.slot_normals[(size_t)s * 12];
    const D3 n = fn[(size_t)f];
    o[0] = (float)n.x;
    o[1] = (float)n.y;
    o[2] = (float)n.z;
    for (int e = 0; e < 3; ++e) {
      const D3 en = edge_normal[(size_t)(f * 3 + e)];
      o[3 + e * 3] = (float)en.x;
      o[4 + e * 3] = (float)en.y;
      o[5 + e * 3] = (float)en.z;
    }
  }
  return sd;
}

std::vector<WindingNode> build_winding_nodes(const Bvh& bvh) {
  const size_t N = bvh.nodes.size();
  std::vector<WindingNode> out(N);
  std::vector<double> area(N, 0.0);
  std::vector<D3> cen(N), nrm(N);
  // Children have larger indices than their parent: one reverse sweep.
  for (size_t ii = N; ii-- > 0;) {
    const Node& nd = bvh.nodes[ii];
    D3 c{0, 0, 0}, Nsum{0, 0, 0};
    double A = 0.0, r = 0.0;
    if (nd.n > 0) {
      for (int32_t s = nd.a; s < nd.a + nd.n; ++s) {
        const float* t = &bvh.tri[(size_t)s * kTriStride];
        const D3 a = dload(t), b = dload(t + 3), cc = dload(t + 6);
        const D3 x = cross_d(sub_d(b, a), sub_d(cc, a));
        const double ar = 0.5 * dlen(x);
        Nsum.x += 0.5 * x.x;
        Nsum.y += 0.5 * x.y;
        Nsum.z += 0.5 * x.z;
        c.x += ar * (a.x + b.x + cc.x) / 3.0;
        c.y += ar * (a.y + b.y + cc.y) / 3.0;
        c.z += ar * (a.z + b.z + cc.z) / 3.0;
        A += ar;
      }
      if (A > 0) {
        c = D3{c.x / A, c.y / A, c.z / A};
      } else {
        c = D3{0.5 * ((double)nd.lo[0] + nd.hi[0]), 0.5 * ((double)nd.lo[1] + nd.hi[1]), 0.5 * ((double)nd.lo[2] + nd.hi[2])};
      }
      for (int32_t s = nd.a; s < nd.a + nd.n; ++s)
        for (int j = 0; j < 3; ++j) r = std::max(r, dlen(sub_d(dload(&bvh.tri[(size_t)s * kTriStride + j * 3]), c)));
    } else {
      const size_t l = (size_t)nd.a, rr = (size_t)nd.a + 1;
      A = area[l] + area[rr];
      Nsum = D3{nrm[l].x + nrm[rr].x, nrm[l].y + nrm[rr].y, nrm[l].z + nrm[rr].z};
      if (A > 0) {
        c = D3{(area[l] * cen[l].x + area[rr] * cen[rr].x) / A, (area[l] * cen[l].y + area[rr] * cen[rr].y) / A,
               (area[l] * cen[l].z + area[rr] * cen[rr].z) / A};
      } else {
        c = D3{0.5 * ((double)nd.lo[0] + nd.hi[0]), 0.5 * ((double)nd.lo[1] + nd.hi[1]), 0.5 * ((double)nd.lo[2] + nd.hi[2])};
      }
      // Ball around c holding both children's balls, capped by the ball around the node's box.
      const double rb = std::max(dlen(sub_d(c, cen[l])) + out[l].r, dlen(sub_d(c, cen[rr])) + out[rr].r);
      double rbox = 0.0;
      for (int corner = 0; corner < 8; ++corner) {
        const D3 p{(corner & 1) ? nd.hi[0] : nd.lo[0], (corner & 2) ? nd.hi[1] : nd.lo[1], (corner & 4) ? nd.hi[2] : nd.lo[2]};
        rbox = std::max(rbox, dlen(sub_d(p, c)));
      }
      r = std::min(rb, rbox);
    }
    area[ii] = A;
    cen[ii] = c;
    nrm[ii] = Nsum;
    WindingNode& w = out[ii];
    w.c[0] = (float)c.x;
    w.c[1] = (float)c.y;
    w.c[2] = (float)c.z;
    w.r = (float)(r * (1.0 + 1e-6));
    w.N[0] = (float)Nsum.x;
    w.N[1] = (float)Nsum.y;
    w.N[2] = (float)Nsum.z;
    w.pad = 0.0f;
  }
  return out;
}

}  // namespace meshquery
}  // namespace ef
