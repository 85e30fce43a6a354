// SPDX-License-Identifier: Apache-2.0
// Per-query BVH traversal, written once for both backends. Included by query_cpu.cpp (thread pool)
// and query_cuda.cu (CUDA); everything lands in namespace ef::cpu or ef::cuda.
//
// Traversal: a fixed stack of kMaxDepth entries (the builder guarantees the depth). Closest-point
// search visits the nearer child first and prunes boxes farther than the best distance so far;
// ray casting visits the child with the nearer entry distance first and prunes boxes entered
// beyond the nearest hit. Updates need a strictly better value, and the visiting order is fixed,
// so a query's result (including which face wins a tie) is a function of the mesh and the point
// only: independent of thread count and batch.
#pragma once

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "../core/error.h"
#include "../core/parallel.h"
#include "query.h"
#include "triangle.h"

#if !EF_BACKEND_IS_CUDA && defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ef {
namespace EF_BACKEND {
namespace mq {

using ::ef::meshquery::kMaxDepth;
using ::ef::meshquery::kTriStride;
using ::ef::meshquery::MeshView;
using ::ef::meshquery::Node;
using ::ef::meshquery::PointQuery;
using ::ef::meshquery::RayQuery;
using ::ef::meshquery::RenderView;
using ::ef::meshquery::SignMode;
using ::ef::meshquery::WideNode;
using ::ef::meshquery::LeafBlock;
using ::ef::meshquery::WindingNode;
using ::ef::meshquery::kWide;

constexpr float kInf = INFINITY;

EF_INLINE float qnan() { return NAN; }

EF_INLINE void prefetch(const void* p) {
#if !EF_BACKEND_IS_CUDA && (defined(__GNUC__) || defined(__clang__))
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

EF_INLINE float box_dist2(const Node& n, V3 p) {
  const float dx = max2(max2(n.lo[0] - p.x, p.x - n.hi[0]), 0.0f);
  const float dy = max2(max2(n.lo[1] - p.y, p.y - n.hi[1]), 0.0f);
  const float dz = max2(max2(n.lo[2] - p.z, p.z - n.hi[2]), 0.0f);
  return dx * dx + dy * dy + dz * dz;
}

struct Closest {
  float d2;
  int32_t slot;
  TriPoint tp;
};

// The closest point is rebuilt from the weights the same way everywhere (a + w1 ab + w2 ac), so
// the distance used for the search equals the distance reported.
EF_INLINE V3 tri_point(const float* t, const TriPoint& tp) {
  const V3 a = load3(t), b = load3(t + 3), c = load3(t + 6);
  return a + (b - a) * tp.w1 + (c - a) * tp.w2;
}

// Traversal keys of the four lanes of a wide node: the bits of the squared box distance d[k]
// (>= 0, so the bit patterns order as the floats do) with the two low bits replaced by the lane,
// or kNoLane for a lane that is empty or outside the bound B (d < B, or d <= B while no face has
// been found: `noslot`). Replacing the low bits rounds the distance down by at most 3 ulps, so a
// key's distance never exceeds the true one: pruning with it is conservative, and ordering by it
// is deterministic. Returns the mask of the lanes in the bound. On x86 CPUs SSE handles the four
// lanes at once; _mm_max_ps(a, b) is (a > b ? a : b) like max2, so both paths give bit-identical
// keys.
constexpr uint32_t kNoLane = 0x7fffffffu;  // above every finite or infinite distance's bits

EF_INLINE uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

EF_INLINE float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

EF_INLINE int wide_keys(const WideNode& n, V3 p, float B, bool noslot, uint32_t* key) {
#if !EF_BACKEND_IS_CUDA && defined(__SSE2__)
  const __m128 z = _mm_setzero_ps();
  const __m128 px = _mm_set1_ps(p.x), py = _mm_set1_ps(p.y), pz = _mm_set1_ps(p.z);
  const __m128 dx = _mm_max_ps(_mm_max_ps(_mm_sub_ps(_mm_load_ps(n.lo[0]), px), _mm_sub_ps(px, _mm_load_ps(n.hi[0]))), z);
  const __m128 dy = _mm_max_ps(_mm_max_ps(_mm_sub_ps(_mm_load_ps(n.lo[1]), py), _mm_sub_ps(py, _mm_load_ps(n.hi[1]))), z);
  const __m128 dz = _mm_max_ps(_mm_max_ps(_mm_sub_ps(_mm_load_ps(n.lo[2]), pz), _mm_sub_ps(pz, _mm_load_ps(n.hi[2]))), z);
  const __m128 dd = _mm_add_ps(_mm_add_ps(_mm_mul_ps(dx, dx), _mm_mul_ps(dy, dy)), _mm_mul_ps(dz, dz));
  const __m128 bb = _mm_set1_ps(B);
  __m128 in = _mm_cmplt_ps(dd, bb);
  if (noslot) in = _mm_or_ps(in, _mm_cmple_ps(dd, bb));
  const __m128i used = _mm_cmpgt_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(n.cnt)), _mm_set1_epi32(-1));
  const __m128i ok = _mm_and_si128(_mm_castps_si128(in), used);
  const __m128i k = _mm_or_si128(_mm_and_si128(_mm_castps_si128(dd), _mm_set1_epi32(~3)), _mm_set_epi32(3, 2, 1, 0));
  const __m128i r = _mm_or_si128(_mm_and_si128(ok, k), _mm_andnot_si128(ok, _mm_set1_epi32((int)kNoLane)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(key), r);
  return _mm_movemask_ps(_mm_castsi128_ps(ok));
#else
  int mask = 0;
  for (int k = 0; k < kWide; ++k) {
    const float dx = max2(max2(n.lo[0][k] - p.x, p.x - n.hi[0][k]), 0.0f);
    const float dy = max2(max2(n.lo[1][k] - p.y, p.y - n.hi[1][k]), 0.0f);
    const float dz = max2(max2(n.lo[2][k] - p.z, p.z - n.hi[2][k]), 0.0f);
    const float d = dx * dx + dy * dy + dz * dz;
    const bool in = d < B || (noslot && d <= B);
    const bool ok = n.cnt[k] >= 0 && in;
    key[k] = ok ? ((float_bits(d) & ~3u) | (uint32_t)k) : kNoLane;
    mask |= ok ? (1 << k) : 0;
  }
  return mask;
#endif
}

// Compare-exchange without a branch (a min and a max).
EF_INLINE void sort_exchange(uint32_t& a, uint32_t& b) {
  const uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
  a = lo;
  b = hi;
}

// Filter distances d[k] (see LeafBlock) of the triangles of leaf cluster `b` to p, and the mask
// of the lanes (< n) whose value is not above T (NaN values count as candidates).
EF_INLINE int block_candidates(const LeafBlock& b, V3 p, float T, int n, float* dist) {
#if !EF_BACKEND_IS_CUDA && defined(__SSE2__)
  const __m128 px = _mm_set1_ps(p.x), py = _mm_set1_ps(p.y), pz = _mm_set1_ps(p.z), z = _mm_setzero_ps();
  __m128 v[7];
  for (int q = 0; q < 7; ++q)
    v[q] = _mm_sub_ps(_mm_add_ps(_mm_add_ps(_mm_mul_ps(_mm_load_ps(b.pl[q][0]), px), _mm_mul_ps(_mm_load_ps(b.pl[q][1]), py)),
                                 _mm_mul_ps(_mm_load_ps(b.pl[q][2]), pz)),
                      _mm_load_ps(b.pl[q][3]));
  __m128 seg[3];
  for (int e = 0; e < 3; ++e) {
    const __m128 t = v[4 + e];
    const __m128 x = _mm_add_ps(_mm_min_ps(t, z), _mm_max_ps(_mm_sub_ps(t, _mm_load_ps(b.len[e])), z));
    seg[e] = _mm_add_ps(_mm_mul_ps(v[1 + e], v[1 + e]), _mm_mul_ps(x, x));
  }
  const __m128 out = _mm_cmpgt_ps(_mm_max_ps(_mm_max_ps(v[1], v[2]), v[3]), z);
  const __m128 dp = _mm_and_ps(out, _mm_min_ps(_mm_min_ps(seg[0], seg[1]), seg[2]));
  const __m128 d = _mm_add_ps(_mm_mul_ps(v[0], v[0]), dp);
  _mm_storeu_ps(dist, d);
  return _mm_movemask_ps(_mm_cmpnlt_ps(_mm_set1_ps(T), d)) & ((1 << n) - 1);
#else
  int mask = 0;
  for (int k = 0; k < n; ++k) {
    float v[7];
    for (int q = 0; q < 7; ++q) v[q] = b.pl[q][0][k] * p.x + b.pl[q][1][k] * p.y + b.pl[q][2][k] * p.z - b.pl[q][3][k];
    float seg = INFINITY;
    for (int e = 0; e < 3; ++e) {
      const float t = v[4 + e];
      const float x = min2(t, 0.0f) + max2(t - b.len[e][k], 0.0f);
      seg = min2(seg, v[1 + e] * v[1 + e] + x * x);
    }
    const bool out = max2(max2(v[1], v[2]), v[3]) > 0.0f;
    const float d = v[0] * v[0] + (out ? seg : 0.0f);
    dist[k] = d;
    mask |= (d > T) ? 0 : (1 << k);
  }
  return mask;
#endif
}

EF_INLINE int lowest_bit(int mask) {  // mask != 0
#if defined(__CUDA_ARCH__)
  return __ffs(mask) - 1;
#elif defined(__GNUC__) || defined(__clang__)
  return __builtin_ctz((unsigned)mask);
#else
  int k = 0;
  while (!((mask >> k) & 1)) ++k;
  return k;
#endif
}

// Search state of one query: the best face so far and the filter threshold derived from it.
struct SearchState {
  Closest best;
  float T;      // squared distance a triangle's lower bound must not exceed to be tested exactly
  float slack;  // absolute rounding allowance of the bound and of the exact distance
  EF_INLINE void set_threshold() {
    const float r = sqrtf(best.d2) * (1.0f + 1.0f / 1048576.0f) + slack;
    T = r * r;
  }
};

// Tests the triangles of leaf cluster `blk` (n of them) against the best so far: those whose
// filter distance does not exceed the threshold get the exact test, in slot order; true when
// any_hit is set and one was found within the bound (the search can stop). The threshold
// exceeds the best distance by more than the rounding error of the filter plus that of the exact
// distance, so every triangle whose exact distance beats the best is tested: the result is the
// one of testing all of them.
EF_INLINE bool test_leaf(const MeshView& m, V3 p, int32_t blk, int32_t n, bool any_hit, SearchState& ss) {
  float fd[kWide];
  int mask = block_candidates(m.blocks[blk], p, ss.T, n, fd);
  if (mask == 0) return false;
  const int32_t s0 = m.block_slot[blk];
  Closest& best = ss.best;
  do {
    const int32_t s = s0 + lowest_bit(mask);
    mask &= mask - 1;
    const float* t = m.tri + (int64_t)s * kTriStride;
    const TriPoint tp = closest_on_slot(p, t);
    const V3 d = p - tri_point(t, tp);
    const float d2 = dot(d, d);
    if (d2 < best.d2 || (best.slot < 0 && d2 <= best.d2)) {
      best.d2 = d2;
      best.slot = s;
      best.tp = tp;
      if (any_hit) return true;
      ss.set_threshold();
    }
  } while (mask);
  return false;
}

// Nearest triangle to p among those within sqrt(bound2). With any_hit, stops at the first one.
// Depth-first over the 4-wide tree: a node's children within the bound are visited nearest box
// first (a five-exchange sorting network on the lane keys, ties by lane), the others wait on the
// stack (at most 3 per level) and are dropped when popped if the best distance has shrunk below
// their box distance. A stack entry is (wide node << 32) | lane key: 8 bytes, and the child's
// reference is read back from the node (still in cache) when it is popped.
EF_INLINE Closest find_closest(const MeshView& m, V3 p, float bound2, bool any_hit) {
  SearchState ss;
  Closest& best = ss.best;
  best.d2 = bound2;
  best.slot = -1;
  best.tp = TriPoint{0.0f, 0.0f, 0.0f, 0};
  {
    const float d = box_dist2(m.nodes[0], p);
    if (!(d <= best.d2)) return best;  // also rejects NaN points
  }
  // Rounding allowance: the bound and the exact distance are each within a few dozen ulps of the
  // coordinates' magnitude of the true values; 2^-14 of it is far above both.
  ss.slack = (max2(max2(fabsf(p.x), fabsf(p.y)), fabsf(p.z)) + m.coord_bound) * (1.0f / 16384.0f);
  ss.set_threshold();
  uint64_t st[(kWide - 1) * kMaxDepth + kWide];  // + scratch slots, see below
  int sp = 0;
  int32_t node = 0;  // wide node to open next; -1: pop the stack
  for (;;) {
    if (node >= 0) {
      const WideNode& nd = m.wide[node];
      uint32_t key[kWide];
      const int in = wide_keys(nd, p, best.d2, best.slot < 0, key);
      sort_exchange(key[0], key[1]);
      sort_exchange(key[2], key[3]);
      sort_exchange(key[0], key[2]);
      sort_exchange(key[1], key[3]);
      sort_exchange(key[1], key[2]);
      const int c = (int)((0x4332322132212110ull >> (4 * in)) & 15u);  // lanes in the bound
      if (c > 0) {
        // Children 1..c-1 onto the stack, farthest deepest; the slots past them are scratch.
        const uint64_t hi = (uint64_t)(uint32_t)node << 32;
        for (int j = 0; j < kWide - 1; ++j) st[sp + j] = hi | key[(c - 1 - j) & (kWide - 1)];
        sp += c - 1;
        const int l = (int)(key[0] & 3u);
        if (nd.cnt[l] == 0) {
          node = nd.ref[l];
          continue;
        }
        if (test_leaf(m, p, nd.ref[l], nd.cnt[l], any_hit, ss)) return best;
      }
      node = -1;
    }
    if (sp == 0) return best;
    const uint64_t e = st[--sp];
    const float d = bits_float((uint32_t)e & ~3u);
    if (d < best.d2 || (best.slot < 0 && d <= best.d2)) {
      const WideNode& nd = m.wide[(int32_t)(e >> 32)];
      const int l = (int)(e & 3u);
      if (nd.cnt[l] == 0) {
        node = nd.ref[l];
      } else if (test_leaf(m, p, nd.ref[l], nd.cnt[l], any_hit, ss)) {
        return best;
      }
    }
  }
}

// Generalised winding number of the mesh at p (Jacobson, Kavan and Sorkine-Hornung 2013), by
// the hierarchical evaluation of Barill et al. 2018 ("Fast winding numbers for soups and clouds"),
// restated with the order-1 (dipole) far field: a node whose ball (radius r around its
// area-weighted centroid c) is farther than beta * r contributes N . (c - p) / (4 pi |c - p|^3);
// nearer leaves contribute exact solid angles. About 1 inside a closed outward-oriented surface,
// 0 outside, and in between near holes, so sign = (w > 1/2) degrades gracefully on open meshes.
EF_INLINE float winding_number(const MeshView& m, V3 p, float beta) {
  int32_t st[kMaxDepth];
  int sp = 0;
  int32_t node = 0;
  float w = 0.0f;
  const float b2 = beta * beta;
  for (;;) {
    const WindingNode& wn = m.wnodes[node];
    const V3 d = load3(wn.c) - p;
    const float r2 = dot(d, d);
    const Node& nd = m.nodes[node];
    if (r2 > b2 * wn.r * wn.r) {
      w += dot(load3(wn.N), d) / (r2 * sqrtf(r2)) * (float)(1.0 / (4.0 * 3.14159265358979323846));
    } else if (nd.n > 0) {
      for (int32_t s = nd.a; s < nd.a + nd.n; ++s) {
        const float* t = m.tri + (int64_t)s * kTriStride;
        w += solid_angle_over_4pi(p, load3(t), load3(t + 3), load3(t + 6));
      }
    } else {
      st[sp++] = nd.a + 1;
      node = nd.a;
      continue;
    }
    if (sp == 0) break;
    node = st[--sp];
  }
  return w;
}

// The pseudo-normal of the feature holding the closest point: face normal, edge normal (sum of
// the two unit face normals) or angle-weighted vertex normal. Its dot product with p - q gives
// the sign of the distance on a closed manifold mesh (Baerentzen and Aanaes 2005).
EF_INLINE V3 pseudo_normal(const MeshView& m, int32_t slot, int32_t face, int32_t feature) {
  const float* sn = m.slot_normals + (int64_t)slot * 12;
  if (feature == kFace) return load3(sn);
  if (feature <= kEdge2) return load3(sn + 3 * feature);  // kEdge0 = 1 -> sn + 3
  const int32_t v = m.faces[(int64_t)face * 3 + (feature - kVertex0)];
  return load3(m.vpseudo + (int64_t)v * 3);
}

struct ClosestOp {
  MeshView m;
  PointQuery q;
  float bound2;
  const int32_t* order;  // query visiting order (null: identity), see closest_impl
  int64_t block;         // queries per call; each call carries a distance hint along its block
  int64_t nblocks, stride;  // call b handles block (b * stride) % nblocks (stride coprime)

  // Processes queries order[b * block ...] in turn. The closest point found for one query bounds
  // the distance of the next: |p' - q| >= d(p') for any q on the mesh, so the next search starts
  // with that bound (inflated by 1e-5 relative, far above rounding) instead of +inf. This only
  // prunes subtrees that cannot hold a face within the bound; the surviving nodes are visited in
  // the same order, so the result (face and all) is exactly the one without a hint.
  EF_HD void operator()(int64_t call) const {
    const int64_t b = (call * stride) % nblocks;
    const int64_t lo = b * block, hi = lo + block < q.n ? lo + block : q.n;
    int32_t prev = -1;  // slot of the previous query's closest face
    for (int64_t k = lo; k < hi; ++k) {
      const int64_t i = order ? (int64_t)order[k] : k;
      if (order && k + 8 < hi) {
        // In the spatial order the queries' rows are scattered over the arrays: ask for the
        // point of a query a few steps ahead (a no-op on the GPU), so its cache miss overlaps
        // this query's work.
        prefetch(q.points + (int64_t)order[k + 8] * 3);
      }
      const V3 p = load3(q.points + i * 3);
      float hint2 = bound2;
      if (prev >= 0 && !q.any_hit) {
        // Distance to the previous query's face: a bound at least as tight as the distance to
        // its closest point.
        const float* t = m.tri + (int64_t)prev * kTriStride;
        const V3 d = p - tri_point(t, closest_on_slot(p, t));
        const float h = dot(d, d) * 1.00001f + 1e-30f;
        if (h < hint2) hint2 = h;
      }
      prev = one(i, p, hint2);
    }
  }

  // Answers query i; returns the slot of its closest face (-1 if none).
  EF_HD int32_t one(int64_t i, V3 p, float hint2) const {
    if (q.winding_only) {
      q.out_winding[i] = winding_number(m, p, q.winding_beta);
      return -1;
    }
    Closest c = find_closest(m, p, hint2, q.any_hit);
    if (c.slot < 0 && hint2 < bound2) c = find_closest(m, p, bound2, q.any_hit);  // safety net
    if (q.out_within) q.out_within[i] = c.slot >= 0 ? 1 : 0;
    if (c.slot < 0) {
      const float nan = qnan();
      if (q.out_points) store3(q.out_points + i * 3, make_v3(nan, nan, nan));
      if (q.out_dist2) q.out_dist2[i] = kInf;
      if (q.out_dist) q.out_dist[i] = kInf;
      if (q.out_face) q.out_face[i] = -1;
      if (q.out_bary) store3(q.out_bary + i * 3, make_v3(nan, nan, nan));
      if (q.out_bary_proj) store3(q.out_bary_proj + i * 3, make_v3(nan, nan, nan));
      if (q.out_normal) store3(q.out_normal + i * 3, make_v3(nan, nan, nan));
      if (q.out_sdf) q.out_sdf[i] = nan;
      if (q.out_winding) q.out_winding[i] = nan;
      if (q.out_attr)
        for (int k = 0; k < q.attr_dim; ++k) q.out_attr[i * q.attr_dim + k] = nan;
      return -1;
    }
    const float* t = m.tri + (int64_t)c.slot * kTriStride;
    const int32_t face = m.slot_face[c.slot];
    const V3 cp = tri_point(t, c.tp);
    const float dist = sqrtf(c.d2);
    if (q.out_points) store3(q.out_points + i * 3, cp);
    if (q.out_dist2) q.out_dist2[i] = c.d2;
    if (q.out_dist) q.out_dist[i] = dist;
    if (q.out_face) q.out_face[i] = face;
    if (q.out_bary) store3(q.out_bary + i * 3, make_v3(c.tp.w0, c.tp.w1, c.tp.w2));
    float wp[3] = {c.tp.w0, c.tp.w1, c.tp.w2};
    if (q.out_bary_proj || q.interp_projected) {
      float w[3];
      if (projected_barycentric(p, load3(t), load3(t + 3), load3(t + 6), w)) {
        wp[0] = w[0];
        wp[1] = w[1];
        wp[2] = w[2];
      }
      if (q.out_bary_proj) store3(q.out_bary_proj + i * 3, make_v3(wp[0], wp[1], wp[2]));
    }
    const float wi[3] = {q.interp_projected ? wp[0] : c.tp.w0, q.interp_projected ? wp[1] : c.tp.w1,
                         q.interp_projected ? wp[2] : c.tp.w2};
    const int32_t* fv = m.faces + (int64_t)face * 3;
    if (q.out_normal) {
      V3 n = make_v3(0.0f, 0.0f, 0.0f);
      for (int j = 0; j < 3; ++j) n = n + load3(m.vnormals + (int64_t)fv[j] * 3) * wi[j];
      if (q.normalize_normals) {
        const float l = length(n);
        n = l > 0.0f ? n * (1.0f / l) : n;
      }
      store3(q.out_normal + i * 3, n);
    }
    if (q.out_attr) {
      for (int k = 0; k < q.attr_dim; ++k) {
        float s = 0.0f;
        for (int j = 0; j < 3; ++j) s += wi[j] * q.attr[(int64_t)fv[j] * q.attr_dim + k];
        q.out_attr[i * q.attr_dim + k] = s;
      }
    }
    if (q.out_sdf || q.out_winding) {
      bool inside = false;
      if (q.sign == SignMode::Winding || q.out_winding) {
        const float w = winding_number(m, p, q.winding_beta);
        if (q.out_winding) q.out_winding[i] = w;
        inside = w > 0.5f;
      }
      if (q.sign == SignMode::PseudoNormal) {
        const V3 pn = pseudo_normal(m, c.slot, face, c.tp.feature);
        inside = dot(p - cp, pn) < 0.0f;
      }
      if (q.out_sdf) {
        const float s = inside != q.inside_positive ? -dist : dist;
        q.out_sdf[i] = s;
      }
    }
    return c.slot;
  }
};

// Visiting order for the CPU: queries bucketed by the Morton code of their cell in a 64^3 grid
// over the points' bounding box (a counting sort: O(P), stable, deterministic), so consecutive
// queries are close and the distance hint is tight.
inline std::vector<int32_t> spatial_order(const float* pts, int64_t n) {
  float lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) {
      const float x = pts[i * 3 + k];
      if (x < lo[k]) lo[k] = x;  // NaN never compares true
      if (x > hi[k]) hi[k] = x;
    }
  constexpr int kBits = 6, kCells = 1 << (3 * kBits);
  float sc[3];
  for (int k = 0; k < 3; ++k) {
    const float e = hi[k] - lo[k];
    sc[k] = (e > 0.0f && e < INFINITY) ? (float)(1 << kBits) / e * 0.99999f : 0.0f;
    if (!(lo[k] > -INFINITY)) lo[k] = 0.0f;
  }
  std::vector<uint32_t> code((size_t)n);
  std::vector<int64_t> start(kCells + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    uint32_t c[3];
    for (int k = 0; k < 3; ++k) {
      const float f = (pts[i * 3 + k] - lo[k]) * sc[k];
      c[k] = f >= 0.0f ? (f < (float)((1 << kBits) - 1) ? (uint32_t)f : (uint32_t)((1 << kBits) - 1)) : 0u;
    }
    uint32_t m = 0;
    for (int b = 0; b < kBits; ++b)
      m |= (((c[0] >> b) & 1u) << (3 * b)) | (((c[1] >> b) & 1u) << (3 * b + 1)) | (((c[2] >> b) & 1u) << (3 * b + 2));
    code[(size_t)i] = m;
    start[m + 1]++;
  }
  for (int c = 0; c < kCells; ++c) start[c + 1] += start[c];
  std::vector<int32_t> order((size_t)n);
  for (int64_t i = 0; i < n; ++i) order[(size_t)start[code[(size_t)i]]++] = (int32_t)i;
  return order;
}


// ------------------------------------------------------------------------------- rays
// Slab test (Kay and Kajiya 1986) with the exit distance widened by 2 gamma_3 as in Ize, "Robust
// BVH ray traversal" (JCGT 2013), so rounding never culls a box the watertight triangle test would
// hit. Zero direction components use a huge finite inverse instead of inf: 0 * inf would be NaN
// (NaN rays then fail every comparison and miss).
EF_INLINE bool ray_box(const Node& n, V3 o, V3 inv, float tmin, float tmax, float* tnear) {
  const float tx0 = (n.lo[0] - o.x) * inv.x, tx1 = (n.hi[0] - o.x) * inv.x;
  const float ty0 = (n.lo[1] - o.y) * inv.y, ty1 = (n.hi[1] - o.y) * inv.y;
  const float tz0 = (n.lo[2] - o.z) * inv.z, tz1 = (n.hi[2] - o.z) * inv.z;
  const float tn = max2(max2(min2(tx0, tx1), min2(ty0, ty1)), max2(min2(tz0, tz1), tmin));
  float tf = min2(min2(max2(tx0, tx1), max2(ty0, ty1)), max2(tz0, tz1));
  tf = min2(tf + fabsf(tf) * 8.0e-7f, tmax);
  *tnear = tn;
  return tn <= tf;
}

EF_INLINE float safe_inv(float d) { return 1.0f / (d != 0.0f ? d : copysignf(1e-30f, d)); }

struct RayHit {
  float t;
  int32_t slot;
  float w0, w1, w2;
};

EF_INLINE RayHit find_first_hit(const MeshView& m, V3 o, V3 d, float tmin, float tmax) {
  RayHit best{tmax, -1, 0.0f, 0.0f, 0.0f};
  const RayFrame rf = make_ray_frame(o, d);
  const V3 inv = make_v3(safe_inv(d.x), safe_inv(d.y), safe_inv(d.z));
  int32_t st_node[kMaxDepth];
  float st_t[kMaxDepth];
  int sp = 0;
  int32_t node = 0;
  float tn0;
  if (!ray_box(m.nodes[0], o, inv, tmin, best.t, &tn0)) return best;
  for (;;) {
    const Node& nd = m.nodes[node];
    if (nd.n > 0) {
      for (int32_t s = nd.a; s < nd.a + nd.n; ++s) {
        const float* t = m.tri + (int64_t)s * kTriStride;
        const RayTriHit h = intersect_ray_triangle(rf, load3(t), load3(t + 3), load3(t + 6), tmin, best.t);
        if (h.hit && (h.t < best.t || best.slot < 0)) {
          best = RayHit{h.t, s, h.w0, h.w1, h.w2};
        }
      }
    } else {
      int32_t c0 = nd.a, c1 = nd.a + 1;
      float t0, t1;
      bool ok0 = ray_box(m.nodes[c0], o, inv, tmin, best.t, &t0);
      bool ok1 = ray_box(m.nodes[c1], o, inv, tmin, best.t, &t1);
      if (ok0 && ok1) {
        if (t1 < t0) {
          const int32_t tc = c0;
          c0 = c1;
          c1 = tc;
          const float tt = t0;
          t0 = t1;
          t1 = tt;
        }
        st_node[sp] = c1;
        st_t[sp] = t1;
        ++sp;
        node = c0;
        continue;
      }
      if (ok0) {
        node = c0;
        continue;
      }
      if (ok1) {
        node = c1;
        continue;
      }
    }
    bool found = false;
    while (sp > 0) {
      --sp;
      if (st_t[sp] <= best.t) {
        node = st_node[sp];
        found = true;
        break;
      }
    }
    if (!found) return best;
  }
}

// Writes the hit's shading normal: interpolated vertex normals (unit) or the unit face normal.
EF_INLINE V3 hit_normal(const MeshView& m, const RayHit& h, bool smooth) {
  const float* t = m.tri + (int64_t)h.slot * kTriStride;
  V3 n;
  if (smooth) {
    const int32_t* fv = m.faces + (int64_t)m.slot_face[h.slot] * 3;
    n = load3(m.vnormals + (int64_t)fv[0] * 3) * h.w0 + load3(m.vnormals + (int64_t)fv[1] * 3) * h.w1 +
        load3(m.vnormals + (int64_t)fv[2] * 3) * h.w2;
  } else {
    const V3 a = load3(t);
    n = cross(load3(t + 3) - a, load3(t + 6) - a);
  }
  const float l = length(n);
  return l > 0.0f ? n * (1.0f / l) : n;
}

struct RayOp {
  MeshView m;
  RayQuery q;
  EF_HD void operator()(int64_t i) const {
    const V3 o = load3(q.origins + i * 3), d = load3(q.directions + i * 3);
    const RayHit h = find_first_hit(m, o, d, q.tmin, q.tmax);
    const float nan = qnan();
    if (h.slot < 0) {
      if (q.out_t) q.out_t[i] = kInf;
      if (q.out_face) q.out_face[i] = -1;
      if (q.out_bary) store3(q.out_bary + i * 3, make_v3(nan, nan, nan));
      if (q.out_points) store3(q.out_points + i * 3, make_v3(nan, nan, nan));
      if (q.out_normal) store3(q.out_normal + i * 3, make_v3(nan, nan, nan));
      return;
    }
    if (q.out_t) q.out_t[i] = h.t;
    if (q.out_face) q.out_face[i] = m.slot_face[h.slot];
    if (q.out_bary) store3(q.out_bary + i * 3, make_v3(h.w0, h.w1, h.w2));
    if (q.out_points) {
      const float* t = m.tri + (int64_t)h.slot * kTriStride;
      store3(q.out_points + i * 3, load3(t) * h.w0 + load3(t + 3) * h.w1 + load3(t + 6) * h.w2);
    }
    if (q.out_normal) store3(q.out_normal + i * 3, hit_normal(m, h, true));
  }
};

// Pixels are visited in 8x8 tiles so that neighbouring rays (which traverse the same nodes) run
// on the same thread / warp.
constexpr int kTile = 8;

struct RenderOp {
  MeshView m;
  RenderView v;
  int tiles_x;
  EF_HD void operator()(int64_t i) const {
    const int64_t tile = i / (kTile * kTile);
    const int within = (int)(i % (kTile * kTile));
    const int r = (int)(tile / tiles_x) * kTile + within / kTile;
    const int c = (int)(tile % tiles_x) * kTile + within % kTile;
    if (r >= v.H || c >= v.W) return;
    const float fc = (float)c, fr = (float)r;
    V3 o, d;
    if (v.perspective) {
      o = load3(v.o);
      d = load3(v.d0) + load3(v.du) * fc + load3(v.dv) * fr;
    } else {
      o = load3(v.o) + load3(v.du) * fc + load3(v.dv) * fr;
      d = load3(v.d0);
    }
    const RayHit h = find_first_hit(m, o, d, 0.0f, kInf);
    const int64_t pix = (int64_t)r * v.W + c;
    if (h.slot < 0) {
      const float nan = qnan();
      if (v.depth) v.depth[pix] = nan;
      if (v.normals) store3(v.normals + pix * 3, make_v3(nan, nan, nan));
      if (v.face) v.face[pix] = -1;
      return;
    }
    if (v.depth) v.depth[pix] = h.t;
    if (v.normals) store3(v.normals + pix * 3, hit_normal(m, h, v.smooth));
    if (v.face) v.face[pix] = m.slot_face[h.slot];
  }
};

// face_visible[face[pix]] = 1. Many pixels store the same value into one flag: harmless on a GPU;
// on the CPU the loop runs on one thread (it is a few hundred microseconds) to stay race-free.
struct MarkVisibleOp {
  const int32_t* face;
  uint8_t* visible;
  EF_HD void operator()(int64_t i) const {
    const int32_t f = face[i];
    if (f >= 0) visible[f] = 1;
  }
};

// ------------------------------------------------------------------------------- entry points
inline int64_t gcd64(int64_t a, int64_t b) {
  while (b) {
    const int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

inline void closest_impl(const MeshView& m, const PointQuery& q) {
  if (q.n <= 0) return;
  ClosestOp op{m, q, q.max_distance * q.max_distance, nullptr, 1, q.n, 1};
  if (!(q.max_distance < kInf)) op.bound2 = kInf;
#if EF_BACKEND_IS_CUDA
  // One query per thread, in the caller's order (a warp's points are usually close already).
  for_each(q.n, op);
#else
  std::vector<int32_t> order;
  if (q.n >= 1024 && q.n < (int64_t(1) << 31)) {
    order = spatial_order(q.points, q.n);
    op.order = order.data();
    // Hints want long blocks, the parallel loop wants at least kParallelGrain of them (below that
    // for_each runs on one thread): 64 queries per block at 256k+ queries, fewer below.
    op.block = q.n / kParallelGrain;
    op.block = op.block < 1 ? 1 : (op.block > 64 ? 64 : op.block);
    op.nblocks = (q.n + op.block - 1) / op.block;
    // Blocks in a scrambled order, so the parallel loop's chunks give every thread a sample of
    // all regions of space (sorted order would hand one thread the far-away points).
    int64_t st = 7919;
    while (gcd64(st, op.nblocks) != 1) st += 2;
    op.stride = st % op.nblocks == 0 ? 1 : st;
  }
  for_each(op.nblocks, op);
#endif
  synchronize();
}

inline void ray_cast_impl(const MeshView& m, const RayQuery& q) {
  if (q.n <= 0) return;
  for_each(q.n, RayOp{m, q});
  synchronize();
}

inline void render_impl(const MeshView& m, const RenderView& v) {
  if (v.H <= 0 || v.W <= 0) return;
  const int tx = (v.W + kTile - 1) / kTile, ty = (v.H + kTile - 1) / kTile;
  for_each((int64_t)tx * ty * kTile * kTile, RenderOp{m, v, tx});
  if (v.face_visible && v.face) {
    const MarkVisibleOp mark{v.face, v.face_visible};
    const int64_t n = (int64_t)v.H * v.W;
#if EF_BACKEND_IS_CUDA
    for_each(n, mark);
#else
    for (int64_t i = 0; i < n; ++i) mark(i);
#endif
  }
  synchronize();
}

// Device copy of a host MeshView (used by the CUDA backend; on the CPU the host view is used as is).
struct MeshStorage {
  Buffer<Node> nodes;
  Buffer<float> tri, vnormals, slot_normals, vpseudo;
  Buffer<int32_t> slot_face, faces;
  Buffer<WindingNode> wnodes;
  Buffer<WideNode> wide;
  Buffer<LeafBlock> blocks;
  Buffer<int32_t> block_slot;
};

inline std::shared_ptr<void> upload_impl(const MeshView& h, MeshView* d) {
  auto s = std::make_shared<MeshStorage>();
  *d = h;
  s->nodes.upload(h.nodes, h.n_nodes);
  d->nodes = s->nodes.data();
  s->wide.upload(h.wide, h.n_wide);
  d->wide = s->wide.data();
  s->blocks.upload(h.blocks, h.n_blocks);
  d->blocks = s->blocks.data();
  s->block_slot.upload(h.block_slot, h.n_blocks);
  d->block_slot = s->block_slot.data();
  s->tri.upload(h.tri, h.F * kTriStride);
  d->tri = s->tri.data();
  s->slot_face.upload(h.slot_face, h.F);
  d->slot_face = s->slot_face.data();
  s->faces.upload(h.faces, h.F * 3);
  d->faces = s->faces.data();
  s->vnormals.upload(h.vnormals, h.V * 3);
  d->vnormals = s->vnormals.data();
  if (h.slot_normals) {
    s->slot_normals.upload(h.slot_normals, h.F * 12);
    d->slot_normals = s->slot_normals.data();
    s->vpseudo.upload(h.vpseudo, h.V * 3);
    d->vpseudo = s->vpseudo.data();
  }
  if (h.wnodes) {
    s->wnodes.upload(h.wnodes, h.n_nodes);
    d->wnodes = s->wnodes.data();
  }
  return s;
}

}  // namespace mq

void mq_closest(const meshquery::MeshView& m, const meshquery::PointQuery& q) { mq::closest_impl(m, q); }
void mq_ray_cast(const meshquery::MeshView& m, const meshquery::RayQuery& q) { mq::ray_cast_impl(m, q); }
void mq_render(const meshquery::MeshView& m, const meshquery::RenderView& v) { mq::render_impl(m, v); }

}  // namespace EF_BACKEND
}  // namespace ef
