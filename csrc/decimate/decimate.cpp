// SPDX-License-Identifier: Apache-2.0
// Quadric edge-collapse decimation (Garland & Heckbert 1997) with the link condition (Dey et al.
// 1999): see decimate.h. Host code; no CUDA path (sequential, data-structure-heavy algorithm).
//
// Data structures (our own layout; the per-vertex face-reference lists appended on each collapse
// are the idea of Forstmann's Fast-Quadric-Mesh-Simplification, here with a priority queue):
//   tri_[3f..3f+2]        face corners; tri_[3f] < 0 marks a removed face;
//   vx_[v]                a vertex: quadric, position, flags, its face list
//                         refs_[start, start + count) (some possibly removed); a collapse appends
//                         the merged list of the kept vertex at the end of refs_;
//   queue_                candidate collapses (a, b, time) by cost, with lazy updates: an entry of
//                         a removed vertex is dropped when popped, one whose endpoint changed after
//                         it was pushed (modtime_[v] > time) is re-evaluated and requeued.
//
// Speed (measured on 390k-460k-face Poisson bodies to 50k faces): the run is dominated by cache
// misses on vertex records, so the queue is a bucket queue drained in vertex order (CostQueue),
// a vertex is one 128-byte record, the next entries are prefetched, and the setup is parallel.
// On the link-condition test and the lazy updates see try_collapse / collapse_loop.
#include "decimate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "../core/error.h"
#include "../core/parallel.h"

namespace ef {
namespace decimate {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Vec3 {
  double x, y, z;
};
inline Vec3 operator-(Vec3 a, Vec3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline Vec3 operator+(Vec3 a, Vec3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
inline Vec3 operator*(double s, Vec3 a) { return {s * a.x, s * a.y, s * a.z}; }
inline double dot(Vec3 a, Vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline Vec3 cross(Vec3 a, Vec3 b) { return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }
inline double norm2(Vec3 a) { return dot(a, a); }

// Q(p) = p^T A p + 2 b.p + c with A symmetric: a = (A00, A01, A02, A11, A12, A22).
struct Quadric {
  double a[6] = {0, 0, 0, 0, 0, 0};
  double b[3] = {0, 0, 0};
  double c = 0;

  // w * (n.p + d)^2 for a unit normal n.
  void add_plane(Vec3 n, double d, double w) {
    a[0] += w * n.x * n.x;
    a[1] += w * n.x * n.y;
    a[2] += w * n.x * n.z;
    a[3] += w * n.y * n.y;
    a[4] += w * n.y * n.z;
    a[5] += w * n.z * n.z;
    b[0] += w * d * n.x;
    b[1] += w * d * n.y;
    b[2] += w * d * n.z;
    c += w * d * d;
  }
  void operator+=(const Quadric& q) {
    for (int i = 0; i < 6; ++i) a[i] += q.a[i];
    for (int i = 0; i < 3; ++i) b[i] += q.b[i];
    c += q.c;
  }
  double eval(Vec3 p) const {
    const double ax = a[0] * p.x + a[1] * p.y + a[2] * p.z;
    const double ay = a[1] * p.x + a[3] * p.y + a[4] * p.z;
    const double az = a[2] * p.x + a[4] * p.y + a[5] * p.z;
    return p.x * ax + p.y * ay + p.z * az + 2.0 * (b[0] * p.x + b[1] * p.y + b[2] * p.z) + c;
  }
};

inline Quadric operator+(const Quadric& x, const Quadric& y) {
  Quadric q = x;
  q += y;
  return q;
}

// Where the merged vertex of edge (pa, pb) goes: the minimiser of q (A p = -b, Cramer's rule) when
// A is well conditioned and the minimiser lies near the edge; otherwise the best of the two
// endpoints and the midpoint (Garland & Heckbert section 4). Returns the error there (>= 0).
double place(const Quadric& q, Vec3 pa, Vec3 pb, Vec3* out) {
  const double* A = q.a;
  const double c00 = A[3] * A[5] - A[4] * A[4];
  const double c01 = A[2] * A[4] - A[1] * A[5];
  const double c02 = A[1] * A[4] - A[2] * A[3];
  const double det = A[0] * c00 + A[1] * c01 + A[2] * c02;
  const double tr = A[0] + A[3] + A[5];
  const Vec3 mid = 0.5 * (pa + pb);
  // A is a sum of w n n^T (positive semi-definite): det / tr^3 in [0, 1/27] measures how far it is
  // from singular (a flat patch gives rank 1, a crease rank 2).
  if (tr > 0 && det > 1e-10 * tr * tr * tr) {
    const double c11 = A[0] * A[5] - A[2] * A[2];
    const double c12 = A[1] * A[2] - A[0] * A[4];
    const double c22 = A[0] * A[3] - A[1] * A[1];
    const double inv = -1.0 / det;
    const Vec3 p{inv * (c00 * q.b[0] + c01 * q.b[1] + c02 * q.b[2]),
                 inv * (c01 * q.b[0] + c11 * q.b[1] + c12 * q.b[2]),
                 inv * (c02 * q.b[0] + c12 * q.b[1] + c22 * q.b[2])};
    // Far from the edge, the solution is an artefact of a nearly singular A (and would make long
    // thin faces): keep it within one edge length of the midpoint.
    if (norm2(p - mid) <= norm2(pa - pb)) {
      *out = p;
      return std::max(0.0, q.eval(p));
    }
  }
  const double ea = q.eval(pa), eb = q.eval(pb), em = q.eval(mid);
  if (em <= ea && em <= eb) {
    *out = mid;
    return std::max(0.0, em);
  }
  if (ea <= eb) {
    *out = pa;
    return std::max(0.0, ea);
  }
  *out = pb;
  return std::max(0.0, eb);
}

// Candidate collapses, in a bucket queue keyed by the bits of the float cost (for non-negative
// floats the bit pattern orders like the value): 2^queue_bits buckets per octave of cost. A bucket
// is drained in vertex order (sorted when the scan reaches it; entries pushed into it meanwhile
// come out first). Collapse costs grow as the quadrics accumulate, so the scan mostly moves
// forward. Push and pop are O(1); a binary heap of ~10^6 entries spent most of its time in cache
// misses (1.0 s instead of 0.3 s on a 460k-face body), and so did a fine bucket queue drained in
// push order. Measured on 4 bodies, 460k -> 50k faces: one bucket per octave (queue_bits 0) is
// 25% faster than 256 per octave (exact greedy order up to 0.4%) for 2% more mean error.
class CostQueue {
 public:
  struct Item {
    uint32_t a, b;   // a < b
    uint32_t time;   // `now` when pushed
  };
  // Orders a bucket for draining in vertex order (blocks of 2^kBlockBits vertices): consecutive
  // collapses then touch nearby memory. Large buckets: a stable counting sort by block; small
  // ones: a full sort (deterministic either way).
  void sort_by_block(std::vector<Item>& v) {
    if (v.size() < 2) return;
    if (v.size() * 8 < nblocks_) {
      std::sort(v.begin(), v.end(), [](const Item& x, const Item& y) {
        if (x.a != y.a) return x.a > y.a;  // descending: pop_back gives ascending
        if (x.b != y.b) return x.b > y.b;
        return x.time > y.time;
      });
      return;
    }
    count_.assign(nblocks_ + 1, 0);
    for (const Item& it : v) ++count_[nblocks_ - 1 - (it.a >> kBlockBits)];  // descending: pop_back
    size_t s = 0;                                                                // gives ascending
    for (uint32_t k = 0; k <= nblocks_; ++k) {
      const size_t c = count_[k];
      count_[k] = (uint32_t)s;
      s += c;
    }
    scratch_.resize(v.size());
    for (const Item& it : v) scratch_[count_[nblocks_ - 1 - (it.a >> kBlockBits)]++] = it;
    v.swap(scratch_);
  }
  void set_vertices(uint32_t nv) { nblocks_ = (nv >> kBlockBits) + 1; }
  void clear(int shift) {
    shift_ = shift;
    bucket_.resize(1u << (32 - shift_));
    for (auto& v : bucket_) v.clear();
    cur_ = (uint32_t)bucket_.size();
    sorted_ = cur_;
    size_ = 0;
  }
  bool empty() const { return size_ == 0; }
  uint32_t key(float cost) const {
    uint32_t bits;
    std::memcpy(&bits, &cost, sizeof(bits));
    return bits >> shift_;
  }
  uint32_t current() const { return cur_; }
  // The item `d` places after the next one in the current bucket (nullptr if none): to prefetch.
  const Item* ahead(size_t d) const {
    if (cur_ >= bucket_.size()) return nullptr;
    const std::vector<Item>& v = bucket_[cur_];
    return v.size() > d ? &v[v.size() - 1 - d] : nullptr;
  }
  void push(float cost, uint32_t a, uint32_t b, uint32_t time) {
    const uint32_t k = key(cost);
    bucket_[k].push_back({a, b, time});
    if (k < cur_) cur_ = k;
    ++size_;
  }
  Item pop() {  // not empty
    while (bucket_[cur_].empty()) ++cur_;
    std::vector<Item>& v = bucket_[cur_];
    if (cur_ != sorted_) {
      sort_by_block(v);
      sorted_ = cur_;
    }
    const Item it = v.back();
    v.pop_back();
    --size_;
    return it;
  }

 private:
  static constexpr int kBlockBits = 6;
  int shift_ = 23;
  uint32_t nblocks_ = 1;
  std::vector<uint32_t> count_;
  std::vector<Item> scratch_;
  std::vector<std::vector<Item>> bucket_;
  uint32_t cur_ = 0, sorted_ = 0;
  size_t size_ = 0;
};

constexpr uint32_t kGone = 0xffffffffu;
enum : uint8_t { kDead = 1, kFrozen = 2, kLocked = 4, kBorder = 8 };

// A neighbour of a vertex and the number of its faces on that edge (1: border, 2: interior).
struct Nb {
  uint32_t v;
  uint32_t n;
};

// Everything the collapse loop reads about a vertex, in two cache lines: a collapse touches a
// few dozen scattered vertices, and one record each keeps that to two lines per vertex.
struct alignas(64) Vert {
  Quadric q;
  Vec3 p;
  uint32_t start = 0, count = 0;  // its face list: refs_[start, start + count)
  uint32_t mark = 0;              // scan marks (see next_stamp)
  uint8_t flag = 0;
};

class Decimator {
 public:
  Decimator(const double* V, int64_t nv, const int32_t* F, int64_t nf, const Params& p) : prm_(p), nv_(nv) {
    vx_.resize(nv);
    for (int64_t i = 0; i < nv; ++i) vx_[i].p = {V[3 * i], V[3 * i + 1], V[3 * i + 2]};
    tri_.reserve(3 * nf);
    for (int64_t f = 0; f < nf; ++f) {
      const int32_t x = F[3 * f], y = F[3 * f + 1], z = F[3 * f + 2];
      if (x == y || y == z || x == z) {
        ++st_.dropped_faces;
        continue;
      }
      tri_.push_back(x);
      tri_.push_back(y);
      tri_.push_back(z);
    }
    nf_ = (int64_t)tri_.size() / 3;
    alive_faces_ = nf_;
  }

  Result run() {
    auto t0 = Clock::now();
    build_refs();
    setup();
    st_.seconds_setup = seconds_since(t0);
    t0 = Clock::now();
    collapse_loop();
    st_.seconds_collapse = seconds_since(t0);
    t0 = Clock::now();
    Result r = output();
    st_.seconds_output = seconds_since(t0);
    r.stats = st_;
    return r;
  }

 private:
  // ---------------------------------------------------------------------------------- setup
  void build_refs() {
    for (int32_t v : tri_) ++vx_[v].count;
    uint32_t s = 0;
    for (int64_t v = 0; v < nv_; ++v) {
      vx_[v].start = s;
      s += vx_[v].count;
    }
    // Room for the lists the collapses append (about two faces' worth of neighbours each).
    refs_.reserve((size_t)s * 3 + 64);
    refs_.resize(s);
    std::vector<uint32_t> fill(nv_);
    for (int64_t v = 0; v < nv_; ++v) fill[v] = vx_[v].start;
    modtime_.assign(nv_, 0);
    for (int64_t f = 0; f < nf_; ++f)
      for (int k = 0; k < 3; ++k) refs_[fill[tri_[3 * f + k]]++] = (uint32_t)f;
  }

  // The neighbours of v with their face counts, sorted by vertex (tmp: scratch).
  void ring(uint32_t v, std::vector<uint32_t>& tmp, std::vector<Nb>& out) const {
    tmp.clear();
    const uint32_t* r = refs_.data() + vx_[v].start;
    for (uint32_t k = 0, n = vx_[v].count; k < n; ++k) {
      const int32_t* t = &tri_[3 * r[k]];
      if (t[0] < 0) continue;
      for (int j = 0; j < 3; ++j)
        if ((uint32_t)t[j] != v) tmp.push_back((uint32_t)t[j]);
    }
    // insertion sort: rings are small
    for (size_t i = 1; i < tmp.size(); ++i) {
      const uint32_t x = tmp[i];
      size_t j = i;
      for (; j > 0 && tmp[j - 1] > x; --j) tmp[j] = tmp[j - 1];
      tmp[j] = x;
    }
    out.clear();
    for (size_t i = 0; i < tmp.size();) {
      size_t j = i + 1;
      while (j < tmp.size() && tmp[j] == tmp[i]) ++j;
      out.push_back({tmp[i], (uint32_t)(j - i)});
      i = j;
    }
  }

  static const Nb* find(const std::vector<Nb>& r, uint32_t v) {
    size_t lo = 0, hi = r.size();
    while (lo < hi) {
      const size_t mid = (lo + hi) / 2;
      if (r[mid].v < v) lo = mid + 1;
      else hi = mid;
    }
    return lo < r.size() && r[lo].v == v ? &r[lo] : nullptr;
  }

  struct Scratch {
    std::vector<uint32_t> tmp, parent;
    std::vector<Nb> ring;
  };

  // Setup of one vertex; writes only vx_[v] and v's edge slots, so vertices run in parallel:
  //  - its quadric: for each of its border edges, the plane through the edge perpendicular to
  //    its face, weighted by border_weight x squared edge length (Garland & Heckbert section 6.1);
  //  - flags: frozen when non-manifold (an edge with more than two faces, or faces forming more
  //    than one fan: connected components of the link graph), border, locked;
  //  - its edges (v, w > v) in slots [start + v, start + v + count] (a manifold fan has at most
  //    count + 1 neighbours; a frozen vertex lists none: its edges are never collapsed).
  void setup_vertex(uint32_t v, Scratch& s) {
    Vert& X = vx_[v];
    const uint32_t* rf = refs_.data() + X.start;
    if (X.count == 0) return;
    std::vector<Nb>& r = s.ring;
    ring(v, s.tmp, r);
    bool border = false, nonmanifold = false;
    for (const Nb& nb : r) {
      nonmanifold |= nb.n > 2;
      border |= nb.n == 1;
    }
    if (!nonmanifold) {
      std::vector<uint32_t>& parent = s.parent;
      parent.resize(r.size());
      for (size_t i = 0; i < r.size(); ++i) parent[i] = (uint32_t)i;
      auto root = [&](uint32_t i) {
        while (parent[i] != i) i = parent[i] = parent[parent[i]];
        return i;
      };
      size_t comps = r.size();
      for (uint32_t k = 0; k < X.count; ++k) {
        const int32_t* t = &tri_[3 * rf[k]];
        uint32_t o[2], m = 0;
        for (int j = 0; j < 3; ++j)
          if ((uint32_t)t[j] != v) o[m++] = (uint32_t)t[j];
        const uint32_t x = root((uint32_t)(find(r, o[0]) - r.data()));
        const uint32_t y = root((uint32_t)(find(r, o[1]) - r.data()));
        if (x != y) {
          parent[x] = y;
          --comps;
        }
      }
      nonmanifold = comps != 1;
    }
    if (nonmanifold) {
      X.flag |= kFrozen;
      return;
    }
    if (border) X.flag |= kBorder;
    if (border && prm_.preserve_border) X.flag |= kLocked;
    uint32_t* slot = &slot_b_[X.start + v];
    for (const Nb& nb : r)
      if (nb.v > v) *slot++ = nb.v;
    if (!border) return;
    for (uint32_t k = 0; k < X.count; ++k) {
      const int32_t* t = &tri_[3 * rf[k]];
      for (int j = 0; j < 3; ++j) {
        const uint32_t w = (uint32_t)t[j];
        if (w == v) continue;
        const Nb* nb = find(r, w);
        if (!nb || nb->n != 1) continue;
        const Vec3 p0 = vx_[t[0]].p;
        const Vec3 fn = cross(vx_[t[1]].p - p0, vx_[t[2]].p - p0);
        const Vec3 e = vx_[w].p - X.p;
        const Vec3 m = cross(e, fn);
        const double ml = std::sqrt(norm2(m));
        if (!(ml > 0)) continue;
        const Vec3 u = (1.0 / ml) * m;
        X.q.add_plane(u, -dot(u, X.p), prm_.border_weight * norm2(e));
      }
    }
  }

  void setup() {
    const size_t nslots = refs_.size() + (size_t)nv_;
    slot_b_.assign(nslots, kGone);
    double area_sum = 0;
    for (int64_t f = 0; f < nf_; ++f) {
      const int32_t* t = &tri_[3 * f];
      const Vec3 p0 = vx_[t[0]].p;
      area_sum += 0.5 * std::sqrt(norm2(cross(vx_[t[1]].p - p0, vx_[t[2]].p - p0)));
    }
    // The area-weighted planes of the faces (Garland & Heckbert section 5), one pass over faces. A
    // face weighs at least area_floor x the mean face area: with plain area weights, slivers and
    // the small faces of small features (the tips of thin protrusions) count for almost nothing
    // and are cut first, which raised the Hausdorff distance by up to 70% on our Poisson bodies
    // (0.5 measured: Hausdorff back to fast-simplification's, mean distance +2%).
    const double floor_w = prm_.area_floor * area_sum / (double)std::max<int64_t>(nf_, 1);
    for (int64_t f = 0; f < nf_; ++f) {
      const int32_t* t = &tri_[3 * f];
      const Vec3 p0 = vx_[t[0]].p;
      const Vec3 n = cross(vx_[t[1]].p - p0, vx_[t[2]].p - p0);
      const double len = std::sqrt(norm2(n));
      if (!(len > 0)) continue;
      Quadric q;
      const Vec3 u = (1.0 / len) * n;
      q.add_plane(u, -dot(u, p0), std::max(0.5 * len, floor_w));
      for (int k = 0; k < 3; ++k) vx_[t[k]].q += q;
    }
    cpu::for_each(nv_, [this](int64_t v) {
      static thread_local Scratch s;
      setup_vertex((uint32_t)v, s);
    });
    for (int64_t v = 0; v < nv_; ++v)
      if (vx_[v].flag & kFrozen) ++st_.frozen_vertices;
  }

  // ------------------------------------------------------------------------------ candidates
  // Cost of collapsing edge (a, b); `keep` is the vertex that stays (a locked vertex stays put).
  // Returns false when the edge may not be collapsed at all.
  bool evaluate(uint32_t a, uint32_t b, uint32_t* keep, uint32_t* gone, Vec3* p, double* cost) const {
    const uint8_t fa = vx_[a].flag, fb = vx_[b].flag;
    if ((fa | fb) & (kFrozen | kDead)) return false;
    const Quadric q = vx_[a].q + vx_[b].q;
    if (fa & kLocked) {
      if (fb & kLocked) return false;
      *keep = a, *gone = b, *p = vx_[a].p;
      *cost = std::max(0.0, q.eval(*p));
      return true;
    }
    if (fb & kLocked) {
      *keep = b, *gone = a, *p = vx_[b].p;
      *cost = std::max(0.0, q.eval(*p));
      return true;
    }
    *keep = a, *gone = b;
    *cost = place(q, vx_[a].p, vx_[b].p, p);
    return true;
  }

  void push(uint32_t a, uint32_t b) {
    if (a > b) std::swap(a, b);
    uint32_t keep, gone;
    Vec3 p;
    double cost;
    if (!evaluate(a, b, &keep, &gone, &p, &cost)) return;
    queue_.push((float)cost, a, b, now_);
  }

  void fill_queue() {
    queue_.clear(23 - prm_.queue_bits);
    queue_.set_vertices((uint32_t)nv_);
    if (!slot_b_.empty()) {
      // The first fill: the edges listed by setup(), costs in parallel, pushed in vertex order.
      std::vector<float> cost(slot_b_.size(), -1.0f);
      cpu::for_each(nv_, [this, &cost](int64_t v) {
        const size_t s0 = vx_[v].start + (size_t)v, s1 = s0 + vx_[v].count + 1;
        for (size_t k = s0; k < s1 && slot_b_[k] != kGone; ++k) {
          uint32_t keep, gone;
          Vec3 p;
          double c;
          if (evaluate((uint32_t)v, slot_b_[k], &keep, &gone, &p, &c)) cost[k] = (float)c;
        }
      });
      for (int64_t v = 0; v < nv_; ++v) {
        const size_t s0 = vx_[v].start + (size_t)v, s1 = s0 + vx_[v].count + 1;
        for (size_t k = s0; k < s1 && slot_b_[k] != kGone; ++k)
          if (cost[k] >= 0) queue_.push(cost[k], (uint32_t)v, slot_b_[k], now_);
      }
      slot_b_.clear();
      slot_b_.shrink_to_fit();
      return;
    }
    std::vector<Nb> r;
    for (int64_t v = 0; v < nv_; ++v) {
      if (vx_[v].count == 0 || (vx_[v].flag & (kDead | kFrozen))) continue;
      ring((uint32_t)v, tmp_, r);
      for (const Nb& nb : r) {
        if (nb.v <= (uint32_t)v) continue;
        uint32_t keep, gone;
        Vec3 p;
        double cost;
        if (evaluate((uint32_t)v, nb.v, &keep, &gone, &p, &cost)) queue_.push((float)cost, (uint32_t)v, nb.v, now_);
      }
    }
  }

  // ------------------------------------------------------------------------------- collapse
  // Marks for the neighbourhood scans: vx_[x].mark == stamp_ (a neighbour of `keep`), stamp_ + 1
  // (a neighbour only of `gone`, listed once in new_).
  void next_stamp() {
    stamp_ += 2;
    if (stamp_ < 2) {  // wrapped (after 2^31 collapses)
      for (Vert& v : vx_) v.mark = 0;
      stamp_ = 2;
    }
  }

  // Moving v's face t (not on the collapsing edge) to p: refused when its normal turns by more
  // than acos(min_normal_cos) or it becomes a sliver below min_quality (unless it already was).
  bool face_ok(const int32_t* t, uint32_t v, Vec3 p) const {
    Vec3 q[3] = {vx_[t[0]].p, vx_[t[1]].p, vx_[t[2]].p};
    const Vec3 n0 = cross(q[1] - q[0], q[2] - q[0]);
    const double s0 = norm2(q[1] - q[0]) + norm2(q[2] - q[1]) + norm2(q[0] - q[2]);
    for (int j = 0; j < 3; ++j)
      if ((uint32_t)t[j] == v) q[j] = p;
    const Vec3 n1 = cross(q[1] - q[0], q[2] - q[0]);
    const double s1 = norm2(q[1] - q[0]) + norm2(q[2] - q[1]) + norm2(q[0] - q[2]);
    const double a0 = norm2(n0), a1 = norm2(n1), d = dot(n0, n1), c = prm_.min_normal_cos;
    // the turn: d < c |n0| |n1|, without square roots
    if (c >= 0 ? (d < 0 || d * d < c * c * a0 * a1) : (d < 0 && d * d > c * c * a0 * a1)) return false;
    // the sliver: quality = 2 sqrt(3) |n| / s (4 sqrt(3) area / sum of squared edge lengths)
    if (s1 <= 0) return s0 <= 0;  // all three corners on one point
    if (12.0 * a1 < prm_.min_quality * prm_.min_quality * s1 * s1 && a1 * s0 * s0 < a0 * s1 * s1) return false;
    return true;
  }

  // Number of live faces of v that contain w.
  uint32_t faces_on_edge(uint32_t v, uint32_t w) const {
    uint32_t n = 0;
    const uint32_t* r = refs_.data() + vx_[v].start;
    for (uint32_t k = 0; k < vx_[v].count; ++k) {
      const int32_t* t = &tri_[3 * r[k]];
      if (t[0] >= 0 && ((uint32_t)t[0] == w || (uint32_t)t[1] == w || (uint32_t)t[2] == w)) ++n;
    }
    return n;
  }

  // Checks, then performs, the collapse of edge (keep, gone) into `keep` at p.
  //
  // Link condition (Dey et al. 1999, for a 2-manifold with border: the border is closed by a
  // virtual vertex joined to every border vertex): the common neighbours of keep and gone must be
  // exactly the opposite vertices of the (one or two) faces on the edge, and the edge link must
  // be empty (no closed tetrahedron, no lone triangle). With it a manifold stays a manifold of the
  // same topology: no edge gets more than two faces and no vertex more than one fan.
  bool try_collapse(uint32_t keep, uint32_t gone, Vec3 p) {
    next_stamp();
    const uint32_t S = stamp_;
    uint32_t shared = 0, opp[2] = {0, 0}, nk = 0, ng = 0;
    const uint32_t* rk = refs_.data() + vx_[keep].start;
    for (uint32_t k = 0, n = vx_[keep].count; k < n; ++k) {
      const int32_t* t = &tri_[3 * rk[k]];
      if (t[0] < 0) continue;
      ++nk;
      const uint32_t x = (uint32_t)t[0] == keep ? t[1] : t[0];
      const uint32_t y = (uint32_t)t[2] == keep ? t[1] : t[2];
      vx_[x].mark = S;
      vx_[y].mark = S;
      if (x == gone || y == gone) {
        if (shared == 2) return reject_link();
        opp[shared++] = x == gone ? y : x;
        continue;
      }
      if (!face_ok(t, keep, p)) return reject_geometry();
    }
    if (shared == 0) return reject_link();
    const bool kb = vx_[keep].flag & kBorder, gb = vx_[gone].flag & kBorder;
    // an interior edge joining two border vertices: the virtual vertex is a common neighbour
    if (shared == 2 && kb && gb) return reject_link();
    new_.clear();
    const uint32_t* rg = refs_.data() + vx_[gone].start;
    for (uint32_t k = 0, n = vx_[gone].count; k < n; ++k) {
      const int32_t* t = &tri_[3 * rg[k]];
      if (t[0] < 0) continue;
      ++ng;
      const uint32_t x = (uint32_t)t[0] == gone ? t[1] : t[0];
      const uint32_t y = (uint32_t)t[2] == gone ? t[1] : t[2];
      if (x == keep || y == keep) continue;
      for (uint32_t z : {x, y}) {
        if (z == opp[0] || (shared == 2 && z == opp[1])) continue;
        if (vx_[z].mark == S) return reject_link();  // a common neighbour off the edge: would pinch
        if (vx_[z].mark != S + 1) {
          vx_[z].mark = S + 1;
          new_.push_back(z);
        }
      }
      if (!face_ok(t, gone, p)) return reject_geometry();
    }
    if (shared == 1) {
      // border edge: a lone triangle (its other two edges on the border too) would vanish
      if (faces_on_edge(keep, opp[0]) == 1 && faces_on_edge(gone, opp[0]) == 1) return reject_link();
    } else if (!kb && !gb && nk == 3 && ng == 3) {
      return reject_link();  // a closed tetrahedron would fold flat
    }
    collapse(keep, gone, p);
    if (gb) vx_[keep].flag |= kBorder;
    ++st_.collapses;
    // Lazy updates: the edges keep had already are in the queue with a cost that is now too low
    // (quadrics only grow); they are re-evaluated when popped. Only gone's edges are new.
    for (uint32_t z : new_) push(keep, z);
    return true;
  }
  bool reject_link() {
    ++st_.rejected_link;
    return false;
  }
  bool reject_geometry() {
    ++st_.rejected_geometry;
    return false;
  }

  void collapse(uint32_t keep, uint32_t gone, Vec3 p) {
    const size_t start = refs_.size();
    const uint32_t ks = vx_[keep].start, kn = vx_[keep].count;
    for (uint32_t k = 0; k < kn; ++k) {
      const uint32_t f = refs_[ks + k];
      int32_t* t = &tri_[3 * f];
      if (t[0] < 0) continue;
      if ((uint32_t)t[0] == gone || (uint32_t)t[1] == gone || (uint32_t)t[2] == gone) {
        t[0] = -1;
        --alive_faces_;
        continue;
      }
      refs_.push_back(f);
    }
    const uint32_t gs = vx_[gone].start, gn = vx_[gone].count;
    for (uint32_t k = 0; k < gn; ++k) {
      const uint32_t f = refs_[gs + k];
      int32_t* t = &tri_[3 * f];
      if (t[0] < 0) continue;
      for (int j = 0; j < 3; ++j)
        if ((uint32_t)t[j] == gone) t[j] = (int32_t)keep;
      refs_.push_back(f);
    }
    vx_[keep].start = (uint32_t)start;
    vx_[keep].count = (uint32_t)(refs_.size() - start);
    vx_[gone].count = 0;
    vx_[keep].p = p;
    vx_[keep].q += vx_[gone].q;
    vx_[gone].flag |= kDead;
    ++now_;
    modtime_[keep] = now_;
    modtime_[gone] = kGone;
  }

  void collapse_loop() {
    const int64_t target = std::max<int64_t>(prm_.target_faces, 0);
    if (alive_faces_ <= target) return;
    int64_t collapses_at_fill = -1;
    while (alive_faces_ > target) {
      if (queue_.empty()) {
        // (Re)fill with every edge: the first time, and when the queue ran dry because collapses
        // were refused (their neighbourhood may have changed since). When a pass did nothing,
        // relax the sliver test, then allow normals to turn by up to 90 degrees (never a flip),
        // then stop: small meshes otherwise stopped short of the target (226 faces for 200).
        if (st_.collapses == collapses_at_fill) {
          if (prm_.min_quality > 0) {
            prm_.min_quality = 0;
          } else if (prm_.min_normal_cos > 0) {
            prm_.min_normal_cos = 0;
          } else {
            break;
          }
          ++st_.relaxed;
        }
        collapses_at_fill = st_.collapses;
        ++st_.passes;
        const auto tf = Clock::now();
        fill_queue();
        st_.seconds_fill += seconds_since(tf);
        if (queue_.empty()) break;
      }
      const CostQueue::Item e = queue_.pop();
      // the records of an entry a few places ahead: their loads overlap this collapse's work
      const CostQueue::Item* n = queue_.ahead(8);
      if (n && modtime_[n->a] != kGone && modtime_[n->b] != kGone) {
        __builtin_prefetch(&vx_[n->a]);
        __builtin_prefetch(reinterpret_cast<const char*>(&vx_[n->a]) + 64);
        __builtin_prefetch(&vx_[n->b]);
        __builtin_prefetch(reinterpret_cast<const char*>(&vx_[n->b]) + 64);
      }
      const uint32_t ta = modtime_[e.a], tb = modtime_[e.b];
      if (ta == kGone || tb == kGone) {  // an edge of a removed vertex (cheap test: compact array)
        ++st_.stale;
        continue;
      }
      uint32_t keep, gone;
      Vec3 p;
      double cost;
      if (!evaluate(e.a, e.b, &keep, &gone, &p, &cost)) {
        ++st_.stale;
        continue;
      }
      if (ta > e.time || tb > e.time) {
        // an endpoint changed since the push: its cost grew; requeue unless it still belongs here
        if (queue_.key((float)cost) > queue_.current()) {
          ++st_.requeued;
          queue_.push((float)cost, e.a, e.b, now_);
          continue;
        }
      }
      try_collapse(keep, gone, p);
    }
  }

  // --------------------------------------------------------------------------------- output
  Result output() const {
    Result r;
    std::vector<int32_t> remap(nv_, -1);
    for (int64_t f = 0; f < nf_; ++f)
      if (tri_[3 * f] >= 0)
        for (int k = 0; k < 3; ++k) remap[tri_[3 * f + k]] = 0;
    int32_t n = 0;
    for (int64_t v = 0; v < nv_; ++v)
      if (remap[v] == 0) {
        remap[v] = n++;
        r.vertices.push_back(vx_[v].p.x);
        r.vertices.push_back(vx_[v].p.y);
        r.vertices.push_back(vx_[v].p.z);
        r.source.push_back((int32_t)v);
      }
    r.faces.reserve(3 * (size_t)alive_faces_);
    for (int64_t f = 0; f < nf_; ++f)
      if (tri_[3 * f] >= 0)
        for (int k = 0; k < 3; ++k) r.faces.push_back(remap[tri_[3 * f + k]]);
    return r;
  }

  Params prm_;
  int64_t nv_ = 0, nf_ = 0, alive_faces_ = 0;
  std::vector<Vert> vx_;
  std::vector<int32_t> tri_;
  std::vector<uint32_t> refs_;
  std::vector<uint32_t> modtime_;  // `now` of each vertex's last change; kGone once removed
  CostQueue queue_;
  std::vector<uint32_t> tmp_, new_;
  std::vector<uint32_t> slot_b_;  // setup(): the edges (v, b > v) of each vertex (kGone: none)
  uint32_t now_ = 0, stamp_ = 0;
  Stats st_;
};

}  // namespace

Result decimate(const double* vertices, int64_t nv, const int32_t* faces, int64_t nf, const Params& params) {
  EF_CHECK(nv >= 0 && nf >= 0, "decimate: negative sizes (", nv, " vertices, ", nf, " faces)");
  EF_CHECK(nv < (int64_t)std::numeric_limits<int32_t>::max(), "decimate: too many vertices (", nv, ")");
  EF_CHECK(nf < (int64_t)(std::numeric_limits<uint32_t>::max() / 4), "decimate: too many faces (", nf, ")");
  EF_CHECK(params.target_faces >= 0, "face_count must be >= 0, got ", params.target_faces);
  EF_CHECK(std::isfinite(params.min_normal_cos) && std::isfinite(params.min_quality) &&
               std::isfinite(params.border_weight) && params.border_weight >= 0 &&
               std::isfinite(params.area_floor) && params.area_floor >= 0,
           "decimate: thresholds must be finite (border_weight, area_floor >= 0)");
  EF_CHECK(params.queue_bits >= 0 && params.queue_bits <= 8, "queue_bits must be in [0, 8], got ", params.queue_bits);
  for (int64_t i = 0; i < 3 * nv; ++i)
    EF_CHECK(std::isfinite(vertices[i]), "vertices must be finite: vertex ", i / 3, " is not");
  for (int64_t i = 0; i < 3 * nf; ++i)
    EF_CHECK(faces[i] >= 0 && faces[i] < nv, "faces index vertices out of range [0, ", nv, "): face ", i / 3,
             " has ", faces[i]);
  Decimator d(vertices, nv, faces, nf, params);
  return d.run();
}

}  // namespace decimate
}  // namespace ef
