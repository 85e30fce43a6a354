// SPDX-License-Identifier: Apache-2.0
// Host side of the Poisson reconstruction: sample classification, the adaptive level structure
// (octree.h), point evaluation and the iso-surface extraction.
#include "octree.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#if defined(_MSC_VER)
#include <intrin.h>
#endif

#include "../csrc/core/error.h"
#include "../csrc/core/parallel.h"
#include "../csrc/core/thread_pool.h"
#include "ops.h"

namespace ef {
namespace poisson {

namespace {

int bits_for(int64_t n) {  // table of >= 1.5 n slots (load <= 2/3 for linear probing)
  int b = 4;
  while ((int64_t(1) << b) < n + n / 2) ++b;
  return b;
}

// Runs f(i) for i in [0, n) on the thread pool, one task per index (for coarse tasks, where
// cpu::for_each's element grain would keep a few thousand of them on one thread).
template <class F>
void parallel_tasks(int64_t n, const F& f) {
  if (n <= 0) return;
  if (n == 1 || cpu::ThreadPool::instance().num_threads() == 1 || cpu::in_parallel_region()) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  cpu::ThreadPool::instance().run(
      n, [](const void* ctx, int64_t i) { (*static_cast<const F*>(ctx))(i); }, &f);
}

// LSD radix sort of keys (< 2^bits), 11-bit digits, parallel over fixed chunks of the array: each
// pass counts the digits of every chunk, then each chunk scatters its keys in order to the
// positions the counts give (digit-major, then chunk order). Stable, and the output is the sorted
// array whatever the thread count.
void radix_sort(Vec<uint64_t>& keys, int bits) {
  const int64_t n = (int64_t)keys.size();
  if (n < 2) return;
  constexpr int kDigit = 11;
  constexpr int64_t kBuckets = int64_t(1) << kDigit;
  constexpr int64_t kChunk = int64_t(1) << 16;
  const int64_t nch = (n + kChunk - 1) / kChunk;
  Vec<uint64_t> k2(n);
  Vec<int64_t> cnt(nch * kBuckets);
  for (int shift = 0; shift < bits; shift += kDigit) {
    const uint64_t* src = keys.data();
    uint64_t* dst = k2.data();
    parallel_tasks(nch, [&](int64_t ch) {
      int64_t* c = &cnt[ch * kBuckets];
      std::fill(c, c + kBuckets, int64_t(0));
      for (int64_t i = ch * kChunk, e = std::min(n, i + kChunk); i < e; ++i) ++c[(src[i] >> shift) & (kBuckets - 1)];
    });
    int64_t sum = 0;
    for (int64_t b = 0; b < kBuckets; ++b)
      for (int64_t ch = 0; ch < nch; ++ch) {
        int64_t& c = cnt[ch * kBuckets + b];
        const int64_t v = c;
        c = sum;
        sum += v;
      }
    parallel_tasks(nch, [&](int64_t ch) {
      int64_t* c = &cnt[ch * kBuckets];
      for (int64_t i = ch * kChunk, e = std::min(n, i + kChunk); i < e; ++i)
        dst[c[(src[i] >> shift) & (kBuckets - 1)]++] = src[i];
    });
    keys.swap(k2);
  }
}

// The first index i >= from with a[i] >= key (a sorted): exponential steps from `from`, then a
// binary search in the last step. O(log distance), and the first probes are near `from`.
inline int64_t gallop(const uint64_t* a, int64_t n, int64_t from, uint64_t key) {
  if (from >= n || a[from] >= key) return from;
  int64_t lo = from, step = 1;
  for (;;) {
    const int64_t hi = from + step;
    if (hi >= n) return std::lower_bound(a + lo + 1, a + n, key) - a;
    if (a[hi] >= key) return std::lower_bound(a + lo + 1, a + hi, key) - a;
    lo = hi;
    step <<= 1;
  }
}

// Sorts and removes duplicates, keeping the array at its new size (no slack).
void sort_unique(Vec<uint64_t>& keys, int bits) {
  radix_sort(keys, bits);
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  Vec<uint64_t>(keys.begin(), keys.end()).swap(keys);
}

inline bool cas_int32(int32_t* p, int32_t expected, int32_t desired) {
#if defined(_MSC_VER)
  return _InterlockedCompareExchange(reinterpret_cast<volatile long*>(p), (long)desired, (long)expected) == expected;
#else
  return __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
#endif
}

inline double lerp(double a, double b, double t) { return (1.0 - t) * a + t * b; }
// Trilinear interpolation, always x then y then z, with (1-t)a + tb: a value on a shared face,
// edge or corner is bit-identical from either cell (t = 0 and t = 1 are exact).
inline double trilerp(const double* v, double tx, double ty, double tz) {
  const double x00 = lerp(v[0], v[1], tx), x10 = lerp(v[2], v[3], tx);
  const double x01 = lerp(v[4], v[5], tx), x11 = lerp(v[6], v[7], tx);
  return lerp(lerp(x00, x10, ty), lerp(x01, x11, ty), tz);
}

// The 3-tap filter (a, 1 - 2a, a) along x, then y, then z, over a level's nodal vector field (3
// per node). A node missing on one side (outside the level's active nodes) keeps that share: the
// filter never moves mass out of the active region. The field is filtered in place, one line of
// nodes along the axis at a time from its first node, carrying the previous node's unfiltered value:
// the scratch is a link per node, not a copy of the field (a level's largest transient otherwise).
// The links come from the cells: next[n] is n's neighbour along the axis when an active cell has
// both as corners. Nodes that are neighbours without sharing an active cell lie outside the band
// around the samples of this level (the band is >= 2 cells wide, the splat reaches one node past
// the sample's cell after the three passes), where the field is zero either way. Lines are
// independent and each is walked in one order: deterministic for any thread count.
void smooth_nodal_field(const Level& L, Vec<double>& field, double a) {
  const int64_t nn = L.nnodes();
  Vec<int32_t> next(nn);
  Vec<uint8_t> has_prev(nn);
  double* v = field.data();
  const int32_t* cc = L.cell_corner.data();
  for (int axis = 0; axis < 3; ++axis) {
    const int bit = 1 << axis;
    std::fill(next.begin(), next.end(), -1);
    std::fill(has_prev.begin(), has_prev.end(), 0);
    // One pass over the cells in (Morton) order, on one thread: neighbouring cells' corners are
    // near in memory (level 9 of the 300k blob: 17 ms, against 135 ms in parallel by colour).
    const int64_t nc = L.ncells();
    for (int64_t c = 0; c < nc; ++c) {
      const int32_t* cn = cc + 8 * c;
      for (int k = 0; k < 8; ++k)
        if (!(k & bit)) {
          next[cn[k]] = cn[k | bit];
          has_prev[cn[k | bit]] = 1;
        }
    }
    cpu::for_each(nn, [&](int64_t i) {
      if (has_prev[i]) return;
      double prev[3] = {v[3 * i], v[3 * i + 1], v[3 * i + 2]};  // a missing neighbour: the node itself
      for (int64_t j = i; j >= 0; j = next[j]) {
        const int64_t nx = next[j];
        for (int comp = 0; comp < 3; ++comp) {
          const double old = v[3 * j + comp];
          const double up = nx >= 0 ? v[3 * nx + comp] : old;
          v[3 * j + comp] = (1 - 2 * a) * old + a * prev[comp] + a * up;
          prev[comp] = old;
        }
      }
    });
  }
}

double wall() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

void resident_memory_mib(long* rss, long* peak) {
  *rss = *peak = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
      if (!std::strncmp(line, "VmRSS:", 6)) *rss = std::atol(line + 6) >> 10;
      if (!std::strncmp(line, "VmHWM:", 6)) *peak = std::atol(line + 6) >> 10;
    }
    std::fclose(f);
  }
}

namespace {
struct Prof {
  bool on = std::getenv("EF_POISSON_PROFILE") != nullptr;
  double t = wall();
  double c = (double)std::clock() / CLOCKS_PER_SEC;
  void operator()(const char* what, int l) {
    const double n = wall();
    const double cn = (double)std::clock() / CLOCKS_PER_SEC;  // process CPU time, all threads
    if (on) {
      long rss = 0, hwm = 0;
      resident_memory_mib(&rss, &hwm);
      std::fprintf(stderr, "  [build L%d] %-10s %.4f s (cpu %.4f s)  rss %ld MB peak %ld MB\n", l, what, n - t, cn - c,
                   rss, hwm);
    }
    t = n;
    c = cn;
  }
};

// Runs op on every entry of a list of cells, one parity of blocks at a time (host).
template <class Op>
void host_block_pass(const Blocks& B, const Op& op) {
  for (int col = 0; col < 8; ++col) {
    const int64_t off = B.off[col], n = B.off[col + 1] - off;
    if (n > 0) cpu::for_each(n, BlockRun<Op>{B.perm.data(), B.start.data(), off, op}, kBlockGrain);
  }
}
CellView cell_view(const Level& L) { return CellView{L.cell_key.data(), L.cell_corner.data(), L.h}; }

// The Blocks of a list of n cells in Morton order, key(i) the Morton key of entry i.
template <class Key>
Blocks make_blocks(int64_t n, int shift, const Key& key) {
  Blocks B;
  Vec<int32_t> start;
  Vec<uint8_t> par;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t bk = key(i) >> (3 * shift);
    if (i == 0 || bk != (key(i - 1) >> (3 * shift))) {
      start.push_back((int32_t)i);
      par.push_back((uint8_t)(bk & 7));  // Morton: the low 3 bits are the coordinates' parities
    }
  }
  const int64_t nb = (int64_t)start.size();
  start.push_back((int32_t)n);
  int64_t cnt[8] = {0};
  for (int64_t b = 0; b < nb; ++b) ++cnt[par[b]];
  for (int k = 0; k < 8; ++k) B.off[k + 1] = B.off[k] + cnt[k];
  int64_t pos[8];
  for (int k = 0; k < 8; ++k) pos[k] = B.off[k];
  B.perm.resize(nb);
  for (int64_t b = 0; b < nb; ++b) B.perm[pos[par[b]]++] = (int32_t)b;
  B.start.assign(start.begin(), start.end());
  return B;
}
}  // namespace

// Parallel inserts by compare-and-swap. Where a key lands depends on the order of the inserts, but
// find() returns the key's index wherever it lands: results do not depend on the thread count.
void HashTable::build(const Vec<uint64_t>& sorted_keys) {
  bits = bits_for((int64_t)sorted_keys.size());
  keys = sorted_keys.data();
  slots.resize(size_t(1) << bits);
  int32_t* sl = slots.data();
  cpu::for_each((int64_t)slots.size(), [&](int64_t i) { sl[i] = -1; });
  const uint64_t mask = slots.size() - 1;
  const int b = bits;
  cpu::for_each((int64_t)sorted_keys.size(), [&](int64_t i) {
    uint64_t s = hash_slot(keys[i], b);
    while (!cas_int32(&sl[s], -1, (int32_t)i)) s = (s + 1) & mask;
  });
}

int64_t prepare_samples(Tree& t, const double* unit_pos, const double* unit_normals, const double* conf,
                        const int32_t* groups, int32_t ngroups, int64_t n, int depth, int full_depth, double spn,
                        double point_weight, int band) {
  t.depth = depth;
  t.band = band;
  t.full_depth = std::min(full_depth, depth);
  Prof prof;
  Samples& s = t.s;
  s.n = n;
  const int64_t R = int64_t(1) << depth;
  Vec<std::pair<uint64_t, int32_t>> kv(n);
  cpu::for_each(n, [&](int64_t i) {
    int64_t c[3];
    for (int d = 0; d < 3; ++d) c[d] = std::min<int64_t>(R - 1, std::max<int64_t>(0, (int64_t)std::floor(unit_pos[3 * i + d] * R)));
    kv[i] = {morton(c[0], c[1], c[2]), (int32_t)i};
  });
  std::sort(kv.begin(), kv.end());
  s.pos.resize(3 * n);
  s.w.resize(n);
  s.order.resize(n);
  s.key.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t j = kv[i].second;
    s.order[i] = j;
    s.key[i] = kv[i].first;
    for (int d = 0; d < 3; ++d) s.pos[3 * i + d] = unit_pos[3 * j + d];
    s.w[i] = conf ? conf[j] : 1.0;
  }
  kv.clear();
  kv.shrink_to_fit();
  // Splat level, after PoissonRecon's density-adapted sample depth: at a "kernel" level, the finest
  // whose cell holds at least 8 * samples_per_node samples (a stable count), the count c_k is
  // extrapolated with the surface scaling (4x fewer samples per cell per level finer): the sample
  // depth is l_k + log4(c_k / samples_per_node), and the sample is splatted at its ceiling (capped
  // at depth). With density groups the count is of the sample's own group only: a sparse source
  // sharing a cell with a dense one (the body's side points next to ECON's depth-map sheets, 1-2.5
  // cm apart against 0.4 cm pixels) is splatted at its own resolution, not the dense one's, which
  // left gaps in its normal field between the sparse rows (dimples). The area a sample stands
  // for: see below.
  s.level.assign(n, -1);
  s.area.assign(n, 0.0);
  Vec<int8_t> klev(n, -1);
  Vec<int32_t> grp, gcount;
  if (groups) {
    grp.resize(n);
    for (int64_t i = 0; i < n; ++i) grp[i] = groups[s.order[i]];
    gcount.assign(ngroups, 0);
  }
  auto assign = [&](int64_t i, int l, double cnt) {
    klev[i] = (int8_t)l;
    const double x = l + 0.5 * std::log2(cnt / spn);
    s.level[i] = (int8_t)std::max(0, std::min(depth, (int)std::ceil(x - 1e-9)));
  };
  for (int l = depth; l >= 0; --l) {
    const int sh = 3 * (depth - l);
    for (int64_t a = 0; a < n;) {
      int64_t b = a + 1;
      while (b < n && (s.key[b] >> sh) == (s.key[a] >> sh)) ++b;
      if (!groups) {
        const double cnt = double(b - a);
        if (cnt >= 8.0 * spn || l == 0)
          for (int64_t i = a; i < b; ++i)
            if (klev[i] < 0) assign(i, l, cnt);
      } else {
        for (int64_t i = a; i < b; ++i) ++gcount[grp[i]];
        for (int64_t i = a; i < b; ++i) {
          const double cnt = double(gcount[grp[i]]);
          if (klev[i] < 0 && (cnt >= 8.0 * spn || l == 0)) assign(i, l, cnt);
        }
        for (int64_t i = a; i < b; ++i) gcount[grp[i]] = 0;
      }
      a = b;
    }
  }
  Vec<int32_t>().swap(grp);
  // Area a sample stands for: the disc of radius r = h_k / 2 (h_k: its kernel level's cell width)
  // around it holds about pi r^2 of locally flat surface, shared by weight among the samples in
  // that ball whose normal faces the same way (so the two sides of a thin part do not share). An
  // isotropic estimate: the earlier per-cell one (h_k^2 / 1.5 per kernel cell, whatever the
  // surface's orientation and offset in the cell) gave the normal field a cell-sized
  // modulation that showed up as a wobble of the surface (0.3 finest cells on ECON-like sheets).
  // The same search flags the samples of thin parts (an opposite-facing sample in the ball), which
  // the normal splat does not smooth (build_levels).
  prof("levels", depth);
  s.thin.assign(n, 0);
  s.dev.assign(n, 0.0);
  {
    const double* nrm_in = unit_normals;
    uint8_t* thin = s.thin.data();
    cpu::for_each(n, [&](int64_t i) {
      const int k = klev[i];
      const int sh = 3 * (depth - k);
      const int64_t res = int64_t(1) << k;
      const double hk = 1.0 / double(res), r = 0.5 * hk, r2 = r * r;
      const double* p = &s.pos[3 * i];
      const double* ni = nrm_in + 3 * s.order[i];
      int64_t lo[3], hi[3];
      for (int d = 0; d < 3; ++d) {
        const int64_t a = (int64_t)std::floor(p[d] * double(res) + 0.5);  // nearest node
        lo[d] = std::max<int64_t>(0, a - 1);
        hi[d] = std::min<int64_t>(res - 1, a);
      }
      double W = 0, Dev = 0;
      for (int64_t z = lo[2]; z <= hi[2]; ++z)
        for (int64_t y = lo[1]; y <= hi[1]; ++y)
          for (int64_t x = lo[0]; x <= hi[0]; ++x) {
            const uint64_t ck = morton(x, y, z);
            const uint64_t* b0 = s.key.data();
            const uint64_t* e0 = b0 + n;
            const uint64_t* b = std::lower_bound(b0, e0, ck, [sh](uint64_t key, uint64_t c) { return (key >> sh) < c; });
            for (const uint64_t* q = b; q < e0 && (*q >> sh) == ck; ++q) {
              const int64_t j = q - b0;
              const double* pj = &s.pos[3 * j];
              const double dx = pj[0] - p[0], dy = pj[1] - p[1], dz = pj[2] - p[2];
              if (dx * dx + dy * dy + dz * dz > r2) continue;
              const double* nj = nrm_in + 3 * s.order[j];
              const double dot = ni[0] * nj[0] + ni[1] * nj[1] + ni[2] * nj[2];
              if (dot <= 0) {
                if (dot < kThinDot) thin[i] = 1;
                continue;
              }
              W += s.w[j];
              const double dn = ni[0] * dx + ni[1] * dy + ni[2] * dz;
              Dev += s.w[j] * dn * dn;
            }
          }
      s.area[i] = W > 0 ? s.w[i] / W * (3.14159265358979323846 * r2) : 0.0;
      s.dev[i] = W > 0 ? std::sqrt(0.5 * Dev / W) : 0.0;
    });
  }
  prof("areas", depth);
  double sa = 0, sw = 0;
  for (int64_t i = 0; i < n; ++i) {
    sa += s.area[i];
    sw += s.w[i];
  }
  // Screening weight of a sample: its weight times kScreenBoost / (1 + (dev / (kScreenNoise h_s))^2),
  // dev: the rms offset, along its normal, of the same-facing samples in its area ball (from
  // their common plane: half the mean square offset from the sample), h_s: its splat level's cell
  // width. Where the samples agree with a local plane to a small fraction of a cell (clean scans,
  // ECON's depth-map sheets) their positions are trusted more than point_weight alone says; where
  // they scatter by a good part of a cell (position noise) the screening fades, so the surface is
  // not pulled onto the noise. Measured at 100k points (sphere d8, blob d9, sandwich d10, noisy
  // d9), Chamfer 1e-4, plain -> adaptive: 0.632 -> 0.549, 0.486 -> 0.453, 4.910 -> 4.077,
  // 11.536 -> 12.189 (PoissonRecon 0.700, 0.513, 4.242, 12.925). A uniform boost instead helps the
  // first three and ruins the noisy case (4x: noisy 18.3). The constants: 8 and 0.2 gave the
  // sandwich 4.008 but the blob at 300k points depth 8 (samples far denser than the cells)
  // 0.357 against PoissonRecon's 0.351; 5 and 0.3 give 0.329 there.
  s.ws.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const double x = s.dev[i] * double(int64_t(1) << s.level[i]) / kScreenNoise;
    s.ws[i] = s.w[i] * kScreenBoost / (1.0 + x * x);
    // No boost at thin parts (an opposite-facing sample in the ball): the two sides, or a sheet and
    // a part pressed against it (a hand on a garment in ECON's soups), conflict within a cell there,
    // and boosting both pulls the surface into a fold. Pipeline, 8 calibration people: Chamfer /
    // P2S / NC 0.836 / 0.790 / 0.9542 -> 0.835 / 0.786 / 0.9545 (Open3D 0.840 / 0.790 / 0.9545);
    // the Poisson benchmark cases are unchanged.
    if (s.thin[i]) s.ws[i] = std::min(s.ws[i], s.w[i]);
  }
  t.alpha = sw > 0 ? point_weight * sa / sw : 0.0;
  // Memory estimate (an upper bound on every phase's peak): a surface band of active cells is at
  // most 3 (2 band + 1) times the occupied cells (measured: 0.9-1.0 of that at 300k points); a level
  // holds ~1.25 nodes per cell, and its largest phase (the splat and right side of the build, or
  // its solve) ~105 bytes per cell (cell key and corners, colours, node keys and parents, the
  // splatted field and its gradient integrals, or the CG vectors); 150 leaves room for the coarser
  // levels and the extraction. Measured on the benchmark cases: 1.5-2.8x the peak.
  // ~200 bytes per sample.
  double bytes = 200.0 * n;
  for (int l = 0; l <= depth; ++l) {
    const double full = std::pow(8.0, l);
    if (l <= t.full_depth) {
      bytes += 150.0 * full;
      continue;
    }
    const int sh = 3 * (depth - l);
    int64_t occ = 0;
    uint64_t prev = kEmptyKey;
    for (int64_t i = 0; i < n; ++i)
      if (s.level[i] >= l && (s.key[i] >> sh) != prev) {
        prev = s.key[i] >> sh;
        ++occ;
      }
    bytes += 150.0 * std::min(full, 3.0 * (2 * band + 1) * occ);
  }
  return (int64_t)std::min(bytes, 9e18);
}


void build_levels(Tree& t, const double* unit_normals_unsorted, double* splat_seconds) {
  Prof prof;
  const int D = t.depth;
  Samples& s = t.s;
  const int64_t n = s.n;
  double t_splat = 0;
  t.levels.clear();
  // C: the normal field of the samples splatted at levels <= l-1, prolonged to level l-1 (3 per
  // node); the right side of level l needs it prolonged once more, with level l's own splats.
  Vec<double> Cprev;
  // Per coarser level: the restrictions of the finer levels' own splats not yet added to its b.
  std::vector<Vec<double>> pend(D + 1);
  int max_level = 0;
  for (int64_t i = 0; i < n; ++i) max_level = std::max<int>(max_level, s.level[i]);
  for (int l = 0; l <= D; ++l) {
    Level L;
    L.l = l;
    L.res = int64_t(1) << l;
    L.h = 1.0 / double(L.res);
    const int sh = 3 * (D - l);
    if (l <= t.full_depth) {
      L.cell_key.resize(L.res * L.res * L.res);
      std::iota(L.cell_key.begin(), L.cell_key.end(), uint64_t(0));
    } else {
      // Samples are Morton-sorted, so their level-l keys come sorted: dedupe consecutive ones.
      Vec<uint64_t> occ;
      for (int64_t i = 0; i < n; ++i)
        if (s.level[i] >= l) {
          const uint64_t k = s.key[i] >> sh;
          if (occ.empty() || occ.back() != k) occ.push_back(k);
        }
      if (occ.empty()) break;
      // Dilate by t.band cells, one axis at a time (sort + unique after each). A band of 2 (5^3
      // cells around each sample's cell, 4^3 free nodes) rather than 1 (2^3 free nodes: only the
      // sample cell's corners) lets each level's correction change the transition of chi across the
      // surface smoothly; with 1 the truncated corrections left a 0.1-0.2 cell wobble (sphere).
      const int w = 2 * t.band + 1;
      const uint64_t none = uint64_t(1) << (3 * l);  // sorts after every cell
      for (int axis = 0; axis < 3; ++axis) {
        Vec<uint64_t> nb(occ.size() * w);
        const uint64_t* op = occ.data();
        uint64_t* np = nb.data();
        cpu::for_each((int64_t)occ.size(), [&](int64_t i) {
          int64_t c[3];
          unmorton(op[i], c);
          for (int dd = -t.band; dd <= t.band; ++dd) {
            int64_t q[3] = {c[0], c[1], c[2]};
            q[axis] += dd;
            np[i * w + dd + t.band] = (q[axis] < 0 || q[axis] >= L.res) ? none : morton(q[0], q[1], q[2]);
          }
        });
        sort_unique(nb, 3 * l + 1);
        if (!nb.empty() && nb.back() == none) nb.pop_back();
        occ.swap(nb);
      }
      L.cell_key.swap(occ);
    }
    prof("cells", l);
    const int64_t nc = L.ncells();
    EF_CHECK(nc < (int64_t(1) << 31) - 1, "depth: level ", l, " would have ", nc, " cells (at most 2^31)");
    // The parent of each cell (a merge: both key lists are sorted).
    Vec<int32_t> cell_parent;
    if (l > 0) {
      const Level& P = t.levels[l - 1];
      cell_parent.resize(nc);
      int64_t j = 0;
      for (int64_t c = 0; c < nc; ++c) {
        const uint64_t pk = L.cell_key[c] >> 3;
        while (j < P.ncells() && P.cell_key[j] < pk) ++j;
        if (j >= P.ncells() || P.cell_key[j] != pk) EF_FAIL("poisson: level ", l, " is not nested in level ", l - 1);
        cell_parent[c] = (int32_t)j;
      }
    }
    {
      const uint64_t* ck = L.cell_key.data();
      L.blocks = make_blocks(nc, t.block_shift, [ck](int64_t i) { return ck[i]; });
    }
    // Nodes: the corners of the active cells, numbered in Morton order. Every cell's origin is a
    // node; the other nodes are the corners whose own cell (the cell they are the origin of) is not
    // active, on the far side of the band (a fifth of the nodes). Morton keys grow with each
    // coordinate, so a cell's corner keys lie after its own key in the sorted lists, mostly close
    // by: galloping searches from the cell's position find them, with no table of the nodes and no
    // sort of all the corners (level 9 of the 300k blob, one thread: 1.33 s, against 1.49 s for
    // three sorted dilations and a hash table of the nodes).
    {
      const uint64_t* ck = L.cell_key.data();
      const int64_t R = L.res;
      constexpr int64_t kChunk = int64_t(1) << 14;
      const int64_t nch = (nc + kChunk - 1) / kChunk;
      // The extra nodes, per chunk of cells, in order.
      std::vector<Vec<uint64_t>> ex(nch);
      parallel_tasks(nch, [&](int64_t chn) {
        Vec<uint64_t>& out = ex[chn];
        for (int64_t c = chn * kChunk, e = std::min(nc, c + kChunk); c < e; ++c) {
          int64_t q[3];
          unmorton(ck[c], q);
          int64_t at[8];  // lower bound of each corner's key among the cells (see the corners below)
          at[0] = c;
          for (int k = 1; k < 8; ++k) {
            const int64_t p[3] = {q[0] + (k & 1), q[1] + ((k >> 1) & 1), q[2] + ((k >> 2) & 1)};
            const uint64_t key = morton(p[0], p[1], p[2]);
            int64_t from = c;
            for (int b = 0; b < 3; ++b)
              if (k & (1 << b)) from = std::max(from, at[k & ~(1 << b)]);
            at[k] = gallop(ck, nc, from, key);
            if (p[0] < R && p[1] < R && p[2] < R && at[k] < nc && ck[at[k]] == key) continue;  // a cell's origin
            out.push_back(key);
          }
        }
      });
      Vec<uint64_t> mk;  // all node keys (Morton), sorted: the cells merged with the extras
      {
        Vec<uint64_t> extra;
        size_t m = 0;
        for (const auto& e : ex) m += e.size();
        extra.reserve(m);
        for (auto& e : ex) {
          extra.insert(extra.end(), e.begin(), e.end());
          Vec<uint64_t>().swap(e);
        }
        sort_unique(extra, 3 * (l + 1));
        EF_CHECK(nc + (int64_t)extra.size() < (int64_t(1) << 31) - 1, "depth: level ", l, " would have ",
                 nc + (int64_t)extra.size(), " nodes (at most 2^31)");
        mk.resize(nc + extra.size());
        std::merge(L.cell_key.begin(), L.cell_key.end(), extra.begin(), extra.end(), mk.begin());
      }
      prof("nodes", l);
      const int64_t nm = (int64_t)mk.size();
      L.node_key.resize(nm);
      uint64_t* nk = L.node_key.data();
      const uint64_t* mp = mk.data();
      cpu::for_each(nm, [&](int64_t i) {
        int64_t q[3];
        unmorton(mp[i], q);
        nk[i] = pack_node(q[0], q[1], q[2]);
      });
      L.cell_corner.resize(8 * nc);
      int32_t* cc = L.cell_corner.data();
      parallel_tasks(nch, [&](int64_t chn) {
        int64_t o = -1;  // the previous cell's origin node: the origins grow with the cells
        for (int64_t c = chn * kChunk, e = std::min(nc, c + kChunk); c < e; ++c) {
          o = o < 0 ? std::lower_bound(mp, mp + nm, ck[c]) - mp : gallop(mp, nm, o, ck[c]);
          int64_t q[3];
          unmorton(ck[c], q);
          // Corner k's key is at least that of every corner k' whose offset is within k's (k' & k
          // == k'), so its search starts from the furthest of those.
          int64_t at[8];
          at[0] = o;
          for (int k = 1; k < 8; ++k) {
            int64_t from = o;
            for (int b = 0; b < 3; ++b)
              if (k & (1 << b)) from = std::max(from, at[k & ~(1 << b)]);
            at[k] = gallop(mp, nm, from, morton(q[0] + (k & 1), q[1] + ((k >> 1) & 1), q[2] + ((k >> 2) & 1)));
          }
          for (int k = 0; k < 8; ++k) cc[8 * c + k] = (int32_t)at[k];
        }
      });
    }
    const int64_t nn = L.nnodes();
    prof("corners", l);
    // Per node: its prolongation parent, the parent of the first cell (in order) that has it as a
    // corner, and whether it is free (every cell of the domain around it is active). One streaming
    // pass over the corners (faster on one thread than a parallel pass by colour, whose cells are
    // scattered through memory).
    {
      L.node_parent.assign(nn, -1);
      Vec<uint8_t> inc(nn, 0);
      int32_t* par = L.node_parent.data();
      const int32_t* cc = L.cell_corner.data();
      for (int64_t c = 0; c < 8 * nc; ++c) {
        const int32_t v = cc[c];
        ++inc[v];
        if (l > 0 && par[v] < 0) par[v] = cell_parent[c >> 3];
      }
      L.node_free.resize(nn);
      uint8_t* fr = L.node_free.data();
      const uint8_t* ip = inc.data();
      const int64_t R = L.res;
      cpu::for_each(nn, [&](int64_t i) {
        int64_t q[3];
        unpack_node(L.node_key[i], q);
        int expect = 1;
        for (int d = 0; d < 3; ++d) expect *= (q[d] == 0 || q[d] == R) ? 1 : 2;
        fr[i] = ip[i] == expect;
      });
    }
    Vec<int32_t>().swap(cell_parent);
    prof("parents", l);
    // The cells holding samples, in Morton order (a merge of the sorted cells and samples), and
    // their blocks for the screening passes.
    {
      int64_t i = 0;
      for (int64_t c = 0; c < nc; ++c) {
        const uint64_t k = L.cell_key[c];
        while (i < n && (s.key[i] >> sh) < k) ++i;
        const int64_t b = i;
        while (i < n && (s.key[i] >> sh) == k) ++i;
        if (i > b) {
          L.scell.push_back((int32_t)c);
          L.sbeg.push_back((int32_t)b);
          L.send.push_back((int32_t)i);
          L.samples_in_cells += i - b;
        }
      }
      for (Vec<int32_t>* v : {&L.scell, &L.sbeg, &L.send}) Vec<int32_t>(v->begin(), v->end()).swap(*v);
      const uint64_t* ck = L.cell_key.data();
      const int32_t* sc = L.scell.data();
      L.sblocks = make_blocks(L.cells_with_samples(), t.block_shift, [ck, sc](int64_t j) { return ck[sc[j]]; });
    }
    prof("samples", l);
    // Children lists of the coarser level (CSR by prolongation parent, in node order).
    if (l > 0) {
      Level& P = t.levels[l - 1];
      const int32_t* npar = L.node_parent.data();
      P.kid_off.assign(P.ncells() + 1, 0);
      for (int64_t i = 0; i < nn; ++i) ++P.kid_off[npar[i] + 1];
      for (int64_t c = 0; c < P.ncells(); ++c) P.kid_off[c + 1] += P.kid_off[c];
      P.kids.resize(nn);
      Vec<int32_t> fill(P.kid_off.begin(), P.kid_off.end() - 1);
      for (int64_t i = 0; i < nn; ++i) P.kids[fill[npar[i]]++] = (int32_t)i;
    }
    prof("children", l);
    const double ts = wall();
    // Splat the samples whose splat level is l: trilinear weights into their cell's corners, then
    // the level's field is smoothed by the 3-tap filter (a, 1 - 2a, a), a = 1/4, along each axis
    // (the same as spreading each sample's trilinear weights over 4 nodes per axis). A wider kernel
    // averages more samples into each node, which removes most of the random-sampling wobble of the
    // surface (sphere, 100k points, depth 8: Chamfer 1.47e-4 -> 0.72e-4 with the per-level
    // screening), in the spirit of PoissonRecon's quadratic B-spline normal splat (Kazhdan and
    // Hoppe 2013). It blurs thin parts, though (two sheets with opposite normals a few cells apart
    // partly cancel), so samples with an opposite-facing sample nearby (flagged with the areas in
    // prepare_samples) are splatted unsmoothed, after the filter. Samples in index order (cells in
    // Morton order, each cell's samples in order).
    Vec<double> vsplat(3 * nn, 0.0);
    Vec<float> dsplat(nn, 0.0f);
    int64_t nl = 0;
    {
      const double res = double(L.res);
      const double inv_h3 = res * res * res;
      auto splat = [&](int64_t c, int64_t i) {
        int64_t q[3];
        unmorton(L.cell_key[c], q);
        double tt[3];
        for (int d = 0; d < 3; ++d) tt[d] = std::min(1.0, std::max(0.0, s.pos[3 * i + d] * res - q[d]));
        const double* nrm = unit_normals_unsorted + 3 * s.order[i];
        const double a = s.area[i] * inv_h3;
        for (int k = 0; k < 8; ++k) {
          const double phi = ((k & 1) ? tt[0] : 1 - tt[0]) * ((k & 2) ? tt[1] : 1 - tt[1]) * ((k & 4) ? tt[2] : 1 - tt[2]);
          const int32_t node = L.cell_corner[8 * c + k];
          for (int d = 0; d < 3; ++d) vsplat[3 * node + d] += a * phi * nrm[d];
          dsplat[node] += (float)(s.w[i] * phi);
        }
      };
      int64_t nthin = 0;
      for (int64_t j = 0; j < L.cells_with_samples(); ++j)
        for (int64_t i = L.sbeg[j]; i < L.send[j]; ++i)
          if (s.level[i] == l) {
            ++nl;
            if (s.thin[i]) ++nthin; else splat(L.scell[j], i);
          }
      prof("splat", l);
      if (nl > nthin && kSplatSmoothing > 0) smooth_nodal_field(L, vsplat, kSplatSmoothing);
      if (nthin > 0)
        for (int64_t j = 0; j < L.cells_with_samples(); ++j)
          for (int64_t i = L.sbeg[j]; i < L.send[j]; ++i)
            if (s.level[i] == l && s.thin[i]) splat(L.scell[j], i);
    }
    prof("smooth", l);
    // Right sides, b_a = integral V . grad phi_a with V the sum over levels s of the trilinear
    // field of the level-s splats: b^l = G_l(C^l) + sum over finer levels m of R_l ... R_{m-1}
    // G_m(splat_m), with C^l the splats at levels <= l prolonged to level l (nested spaces: the
    // prolongation is exact), G_l the per-cell gradient integrals (GradOp) and R the restriction
    // (RestrictOp, the transpose of the prolongation). So this level's own splats are restricted
    // down the coarser levels now, and C^l, the density and b^l are made now: the vector field
    // never outlives its level (a scalar b per node is kept instead).
    const CellView cv = cell_view(L);
    const bool last = l == D || (l >= t.full_depth && max_level <= l);  // no level l + 1
    // The density: D^l = (D^{l-1} prolonged) + this level's sample weights (float: it only ranks
    // vertices for trimming).
    if (l > 0) {
      const Level& P = t.levels[l - 1];
      cpu::for_each(nn, ProlongOp<1, float>{L.node_key.data(), L.node_parent.data(), P.cell_key.data(),
                                            P.cell_corner.data(), P.D.data(), dsplat.data(), dsplat.data()});
    }
    L.D.swap(dsplat);
    Vec<float>().swap(dsplat);
    prof("D", l);
    // This level's own splats: G_l(splat_l), restricted once into the pending right side of level
    // l - 1; at the last level the pending parts go down the levels, each restricted once.
    auto restrict_into = [&](int m, const Vec<double>& fine) {  // pend[m] += R_m(fine)
      Level& P = t.levels[m];
      if (pend[m].empty()) pend[m].assign(P.nnodes(), 0.0);
      const uint64_t* fine_key = (m + 1 == l ? L : t.levels[m + 1]).node_key.data();
      const CellView pv = cell_view(P);
      double* out = pend[m].data();
      host_block_pass(P.blocks, RestrictOp{pv, P.kid_off.data(), P.kids.data(), fine_key, fine.data(), out});
    };
    if (l > 0 && nl > 0) {
      Vec<double> own(nn, 0.0);
      host_block_pass(L.blocks, GradOp{cv, vsplat.data(), own.data()});
      restrict_into(l - 1, own);
    }
    if (last)
      for (int m = l - 1; m >= 0; --m) {
        if (pend[m].empty()) continue;
        if (m > 0) restrict_into(m - 1, pend[m]);
        double* bp = t.levels[m].b.data();
        const double* pp = pend[m].data();
        cpu::for_each(t.levels[m].nnodes(), [&](int64_t i) { bp[i] += pp[i]; });
        Vec<double>().swap(pend[m]);
      }
    prof("own", l);
    if (last)  // what only a finer level would read
      for (Level& P : t.levels) {
        Vec<int32_t>().swap(P.kid_off);
        Vec<int32_t>().swap(P.kids);
      }
    if (l > 0) {
      const Level& P = t.levels[l - 1];
      cpu::for_each(nn, ProlongOp<3>{L.node_key.data(), L.node_parent.data(), P.cell_key.data(), P.cell_corner.data(),
                                     Cprev.data(), vsplat.data(), vsplat.data()});
    }
    prof("C", l);
    Cprev.swap(vsplat);  // C^l
    Vec<double>().swap(vsplat);
    L.b.assign(nn, 0.0);
    host_block_pass(L.blocks, GradOp{cv, Cprev.data(), L.b.data()});
    if (last) Vec<double>().swap(Cprev);
    t_splat += wall() - ts;
    prof("rhs", l);
    if (prof.on)
      std::fprintf(stderr, "  L%d cells %ld nodes %ld sample cells %ld blocks %ld (by parity %ld %ld %ld %ld %ld %ld %ld %ld)\n", l, (long)nc, (long)nn, (long)L.cells_with_samples(), (long)L.blocks.perm.size(), (long)(L.blocks.off[1]-L.blocks.off[0]), (long)(L.blocks.off[2]-L.blocks.off[1]), (long)(L.blocks.off[3]-L.blocks.off[2]), (long)(L.blocks.off[4]-L.blocks.off[3]), (long)(L.blocks.off[5]-L.blocks.off[4]), (long)(L.blocks.off[6]-L.blocks.off[5]), (long)(L.blocks.off[7]-L.blocks.off[6]), (long)(L.blocks.off[8]-L.blocks.off[7]));
    t.levels.push_back(std::move(L));
  }
  t.finest = (int)t.levels.size() - 1;
  for (Level& P : t.levels) {  // (already done at the last level)
    Vec<int32_t>().swap(P.kid_off);
    Vec<int32_t>().swap(P.kids);
  }
  if (splat_seconds) *splat_seconds = t_splat;
}

void rebuild_tables(Tree& t) {
  for (Level& L : t.levels) {
    L.cell_hash.build(L.cell_key);
    L.node_hash.build(L.node_key);
  }
}

double eval_point(const Tree& t, const double* p, bool density) {
  for (int l = t.finest; l >= 0; --l) {
    const Level& L = t.levels[l];
    int64_t q[3];
    double tt[3];
    for (int d = 0; d < 3; ++d) {
      const double x = p[d] * double(L.res);
      q[d] = std::min<int64_t>(L.res - 1, std::max<int64_t>(0, (int64_t)std::floor(x)));
      tt[d] = std::min(1.0, std::max(0.0, x - q[d]));
    }
    const int32_t c = L.cell_hash.find(morton(q[0], q[1], q[2]));
    if (c < 0) continue;
    double v[8];
    const int32_t* cn = &L.cell_corner[8 * c];
    if (density)
      for (int k = 0; k < 8; ++k) v[k] = L.D[cn[k]];
    else
      for (int k = 0; k < 8; ++k) v[k] = L.U[cn[k]];
    return trilerp(v, tt[0], tt[1], tt[2]);
  }
  return 0.0;
}

namespace {

// Marching-cubes tables, generated here rather than copied: for each of the 256 sign patterns the
// surface crosses the cube faces in segments; a face with two diagonal inside corners (the
// ambiguous case) always separates the inside corners, a rule that depends on the face alone, so
// the two cubes sharing a face agree and the mesh is watertight. Every segment is directed with
// the inside part of its face on its left (seen from outside the cube); the directed segments then
// chain into closed loops, each fanned into triangles. Neighbouring cubes see a shared face from
// opposite sides, so they traverse the shared segment in opposite directions: the orientation is
// consistent, and the one global sign is fixed so normals point from inside (chi < iso) to outside.
struct McTables {
  int edge_a[12], edge_b[12];  // cube corners of each edge; b = a | axis bit
  int ntri[256];
  int8_t tri[256][12][3];      // edge indices
  McTables() {
    int ne = 0;
    for (int d = 0; d < 3; ++d)
      for (int a = 0; a < 8; ++a)
        if (!(a & (1 << d))) edge_a[ne] = a, edge_b[ne++] = a | (1 << d);
    auto edge_of = [&](int a, int b) {
      if (a > b) std::swap(a, b);
      for (int e = 0; e < 12; ++e)
        if (edge_a[e] == a && edge_b[e] == b) return e;
      return -1;
    };
    auto pos = [](int k, int d) { return double((k >> d) & 1); };
    int flip = -1;
    for (int cs = 0; cs < 256; ++cs) {
      int next[12];
      for (int e = 0; e < 12; ++e) next[e] = -1;
      for (int d = 0; d < 3; ++d)
        for (int side = 0; side < 2; ++side) {
          const int u = (d + 1) % 3, v = (d + 2) % 3;
          int cyc[4];
          const int uv[4][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
          for (int j = 0; j < 4; ++j) cyc[j] = (side << d) | (uv[j][0] << u) | (uv[j][1] << v);
          bool in[4];
          for (int j = 0; j < 4; ++j) in[j] = (cs >> cyc[j]) & 1;
          int cross[4], nc = 0;
          for (int j = 0; j < 4; ++j)
            if (in[j] != in[(j + 1) % 4]) cross[nc++] = j;  // edge j: corners j, j+1
          if (nc == 0) continue;
          int segs[2][2], ns = 0;
          double cin[2][3];
          if (nc == 2) {
            segs[0][0] = cross[0], segs[0][1] = cross[1];
            ns = 1;
            int cnt = 0;
            for (int dd = 0; dd < 3; ++dd) cin[0][dd] = 0;
            for (int j = 0; j < 4; ++j)
              if (in[j]) {
                ++cnt;
                for (int dd = 0; dd < 3; ++dd) cin[0][dd] += pos(cyc[j], dd);
              }
            for (int dd = 0; dd < 3; ++dd) cin[0][dd] /= cnt;
          } else {
            for (int j = 0; j < 4; ++j)
              if (in[j]) {
                segs[ns][0] = (j + 3) % 4, segs[ns][1] = j;
                for (int dd = 0; dd < 3; ++dd) cin[ns][dd] = pos(cyc[j], dd);
                ++ns;
              }
          }
          double nrm[3] = {0, 0, 0};
          nrm[d] = side ? 1 : -1;
          for (int sg = 0; sg < ns; ++sg) {
            int ea = edge_of(cyc[segs[sg][0]], cyc[(segs[sg][0] + 1) % 4]);
            int eb = edge_of(cyc[segs[sg][1]], cyc[(segs[sg][1] + 1) % 4]);
            double A[3], B[3];
            for (int dd = 0; dd < 3; ++dd) {
              A[dd] = 0.5 * (pos(edge_a[ea], dd) + pos(edge_b[ea], dd));
              B[dd] = 0.5 * (pos(edge_a[eb], dd) + pos(edge_b[eb], dd));
            }
            const double t[3] = {B[0] - A[0], B[1] - A[1], B[2] - A[2]};
            const double c[3] = {t[1] * nrm[2] - t[2] * nrm[1], t[2] * nrm[0] - t[0] * nrm[2], t[0] * nrm[1] - t[1] * nrm[0]};
            double dot = 0;
            for (int dd = 0; dd < 3; ++dd) dot += c[dd] * (cin[sg][dd] - A[dd]);
            if (dot < 0) std::swap(ea, eb);
            if (next[ea] != -1) EF_FAIL("marching cubes table: inconsistent segments");
            next[ea] = eb;
          }
        }
      ntri[cs] = 0;
      bool used[12] = {false};
      for (int e0 = 0; e0 < 12; ++e0) {
        if (next[e0] < 0 || used[e0]) continue;
        int loop[12], nl = 0;
        for (int e = e0; !used[e]; e = next[e]) {
          used[e] = true;
          loop[nl++] = e;
          if (next[e] < 0) EF_FAIL("marching cubes table: open loop");
        }
        // Triangulate the loop without a diagonal that lies in a cube face (two loop vertices on
        // edges of one face): the neighbouring cube could put a triangle in that face plane too
        // (when both cubes join a face's diagonal inside corners through their interior), giving
        // an edge of 4 triangles. Interior diagonals are only shared within this loop. Dynamic
        // programming over the polygon (ok[i][j]: chord allowed; tri_ok[i][j]: the sub-polygon
        // i..j can be triangulated), smallest split vertex first (deterministic).
        bool ok[12][12], can[12][12];
        int split[12][12];
        for (int i = 0; i < nl; ++i)
          for (int j = 0; j < nl; ++j) {
            const int a0 = edge_a[loop[i]], b0 = edge_b[loop[i]], a1 = edge_a[loop[j]], b1 = edge_b[loop[j]];
            bool face = false;
            for (int d = 0; d < 3 && !face; ++d)
              for (int sd = 0; sd < 2 && !face; ++sd) {
                const int m = sd << d;
                face = ((a0 & (1 << d)) == m) && ((b0 & (1 << d)) == m) && ((a1 & (1 << d)) == m) &&
                       ((b1 & (1 << d)) == m);
              }
            const bool side = std::abs(i - j) == 1 || (i == 0 && j == nl - 1) || (j == 0 && i == nl - 1);
            ok[i][j] = side || !face;
            can[i][j] = false;
            split[i][j] = -1;
          }
        for (int len = 1; len < nl; ++len)
          for (int i = 0; i + len < nl; ++i) {
            const int j = i + len;
            if (len == 1) {
              can[i][j] = true;
              continue;
            }
            for (int k = i + 1; k < j && !can[i][j]; ++k)
              if (ok[i][k] && ok[k][j] && can[i][k] && can[k][j]) can[i][j] = true, split[i][j] = k;
          }
        auto emit = [&](int a, int b, int c) {
          tri[cs][ntri[cs]][0] = (int8_t)loop[a];
          tri[cs][ntri[cs]][1] = (int8_t)loop[b];
          tri[cs][ntri[cs]][2] = (int8_t)loop[c];
          ++ntri[cs];
        };
        if (can[0][nl - 1]) {
          int stack[24][2], sp = 0;
          stack[sp][0] = 0, stack[sp][1] = nl - 1, ++sp;
          while (sp > 0) {
            --sp;
            const int i = stack[sp][0], j = stack[sp][1];
            if (j - i < 2) continue;
            const int k = split[i][j];
            emit(i, k, j);
            stack[sp][0] = i, stack[sp][1] = k, ++sp;
            stack[sp][0] = k, stack[sp][1] = j, ++sp;
          }
        } else {
          for (int j = 1; j + 1 < nl; ++j) emit(0, j, j + 1);
        }
      }
      if (cs == 1) {  // corner 0 inside: the normal must point away from it
        double P[3][3];
        for (int j = 0; j < 3; ++j) {
          const int e = tri[1][0][j];
          for (int dd = 0; dd < 3; ++dd) P[j][dd] = 0.5 * (pos(edge_a[e], dd) + pos(edge_b[e], dd));
        }
        const double u[3] = {P[1][0] - P[0][0], P[1][1] - P[0][1], P[1][2] - P[0][2]};
        const double v[3] = {P[2][0] - P[0][0], P[2][1] - P[0][1], P[2][2] - P[0][2]};
        const double n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
        flip = (n[0] + n[1] + n[2]) < 0;
      }
    }
    if (flip)
      for (int cs = 0; cs < 256; ++cs)
        for (int j = 0; j < ntri[cs]; ++j) std::swap(tri[cs][j][1], tri[cs][j][2]);
  }
};

const McTables& mc_tables() {
  static const McTables tables;
  return tables;
}

struct Extractor {
  const Tree& t;
  double iso;
  int L;     // lattice level of the extraction
  int Lmax;  // finest level with active cells
  int64_t R;
  double side_eps;
  const double* lval;  // chi at the nodes of level L from the finest level that has them (lattice_nodes)

  // chi at a lattice point of the finest level, computed by one fixed rule per point (the finest
  // level whose active cells contain it; a node value if it is a node there, else the smallest-key
  // active cell containing it), so every cube that shares the point sees the same bits.
  double lattice_value(const int64_t* p) const {
    {  // a node of level L: its value from the finest level (a point of a finer level's active
       // closure is a node of level L, whose active cells contain the finer ones)
      const int32_t i = t.levels[L].node_hash.find(pack_node(p[0], p[1], p[2]));
      if (i >= 0) return lval[i];
    }
    for (int l = L - 1; l >= 0; --l) {
      const Level& lv = t.levels[l];
      const int s = L - l;
      const int64_t m = (int64_t(1) << s) - 1;
      if (!(p[0] & m) && !(p[1] & m) && !(p[2] & m)) {
        const int32_t i = lv.node_hash.find(pack_node(p[0] >> s, p[1] >> s, p[2] >> s));
        if (i >= 0) return lv.U[i];
        continue;
      }
      int64_t cand[3][2];
      int nc[3];
      for (int d = 0; d < 3; ++d) {
        const int64_t q = p[d] >> s;
        if (p[d] & m) {
          cand[d][0] = q;
          nc[d] = 1;
        } else {
          nc[d] = 0;
          if (q - 1 >= 0) cand[d][nc[d]++] = q - 1;
          if (q < lv.res) cand[d][nc[d]++] = q;
        }
      }
      uint64_t best = kEmptyKey;
      int32_t bc = -1;
      for (int a = 0; a < nc[0]; ++a)
        for (int b = 0; b < nc[1]; ++b)
          for (int c = 0; c < nc[2]; ++c) {
            const uint64_t k = morton(cand[0][a], cand[1][b], cand[2][c]);
            if (k >= best) continue;
            const int32_t ci = lv.cell_hash.find(k);
            if (ci >= 0) best = k, bc = ci;
          }
      if (bc < 0) continue;
      int64_t q[3];
      unmorton(best, q);
      const double inv = 1.0 / double(int64_t(1) << s);
      double v[8];
      for (int k = 0; k < 8; ++k) v[k] = lv.U[lv.cell_corner[8 * bc + k]];
      return trilerp(v, (p[0] - (q[0] << s)) * inv, (p[1] - (q[1] << s)) * inv, (p[2] - (q[2] << s)) * inv);
    }
    return 0.0;
  }

  // Whether lattice point p lies in the closure of an active cell of level l (l > L allowed).
  bool in_active_closure(const int64_t* p, int l) const {
    const Level& lv = t.levels[l];
    if (l >= L) return lv.node_hash.find(pack_node(p[0] << (l - L), p[1] << (l - L), p[2] << (l - L))) >= 0;
    const int s = L - l;
    const int64_t m = (int64_t(1) << s) - 1;
    if (!(p[0] & m) && !(p[1] & m) && !(p[2] & m)) return lv.node_hash.find(pack_node(p[0] >> s, p[1] >> s, p[2] >> s)) >= 0;
    int64_t cand[3][2];
    int nc[3];
    for (int d = 0; d < 3; ++d) {
      const int64_t q = p[d] >> s;
      nc[d] = 0;
      if (p[d] & m) {
        cand[d][nc[d]++] = q;
      } else {
        if (q - 1 >= 0) cand[d][nc[d]++] = q - 1;
        if (q < lv.res) cand[d][nc[d]++] = q;
      }
    }
    for (int a = 0; a < nc[0]; ++a)
      for (int b = 0; b < nc[1]; ++b)
        for (int c = 0; c < nc[2]; ++c)
          if (lv.cell_hash.find(morton(cand[0][a], cand[1][b], cand[2][c])) >= 0) return true;
    return false;
  }

  // chi at lattice point p of the active level-l cell c (p in its closure): the cell's trilinear
  // function, unless a finer level's active cells reach p. Equal, bit for bit, to lattice_value(p):
  // trilerp gives identical bits from any cell of one level that contains p.
  double value_in(const int64_t* p, int l, int64_t c) const {
    if (l < Lmax && in_active_closure(p, l + 1)) return lattice_value(p);
    const Level& lv = t.levels[l];
    int64_t q[3];
    unmorton(lv.cell_key[c], q);
    double v[8];
    for (int k = 0; k < 8; ++k) v[k] = lv.U[lv.cell_corner[8 * c + k]];
    if (l >= L) return trilerp(v, 0, 0, 0);  // not reached for l > L
    const int s = L - l;
    const double inv = 1.0 / double(int64_t(1) << s);
    return trilerp(v, (p[0] - (q[0] << s)) * inv, (p[1] - (q[1] << s)) * inv, (p[2] - (q[2] << s)) * inv);
  }

  // The lattice edges crossed by the surface, 3 per triangle (a vertex's position is computed once
  // per vertex, after the merge: place_vertices).
  struct Out {
    Vec<uint64_t> key;
  };

  bool on_side(const int64_t* p) const {
    return p[0] == 0 || p[1] == 0 || p[2] == 0 || p[0] == R || p[1] == R || p[2] == R;
  }

  // Lattice points on the side of the cube count as outside (raised just above the iso-value), so
  // a surface that reaches the side is closed there and the mesh is always watertight.
  void cube(const int64_t* o, const double* f0, Out& out) const {
    const McTables& T = mc_tables();
    double f[8];
    int cs = 0;
    for (int k = 0; k < 8; ++k) {
      f[k] = f0[k];
      const int64_t x = o[0] + (k & 1), y = o[1] + ((k >> 1) & 1), z = o[2] + ((k >> 2) & 1);
      const int64_t p[3] = {x, y, z};
      if (on_side(p) && f[k] < iso + side_eps) f[k] = iso + side_eps;
      cs |= (f[k] < iso) << k;
    }
    for (int tr = 0; tr < T.ntri[cs]; ++tr)
      for (int j = 0; j < 3; ++j) {
        const int e = T.tri[cs][tr][j];
        const int a = T.edge_a[e], b = T.edge_b[e];
        const int dir = a ^ b;
        const int64_t x = o[0] + (a & 1), y = o[1] + ((a >> 1) & 1), z = o[2] + ((a >> 2) & 1);
        out.key.push_back(((uint64_t)((x * (R + 1) + y) * (R + 1) + z) << 3) | (uint64_t)dir);
      }
  }

  // Whether a box (origin o, k lattice cells wide) with trilinear corner values f can hold surface.
  bool may_cross(const double* f, const int64_t* o, int64_t k) const {
    bool lo = false, hi = false;
    for (int c = 0; c < 8; ++c) (f[c] < iso ? lo : hi) = true;
    if (lo && hi) return true;
    if (!lo) return false;
    for (int d = 0; d < 3; ++d)
      if (o[d] == 0 || o[d] + k == R) return true;  // inside touching the side: closed there
    return false;
  }

  // A box of the virtual lattice inside which chi is trilinear (a coarser level's function).
  void box(const int64_t* o, int64_t k, int l, int64_t cell, Out& out) const {
    if (k == 1) {
      double f[8];
      for (int c = 0; c < 8; ++c) {
        const int64_t p[3] = {o[0] + (c & 1), o[1] + ((c >> 1) & 1), o[2] + ((c >> 2) & 1)};
        f[c] = value_in(p, l, cell);
      }
      cube(o, f, out);
      return;
    }
    const int64_t hk = k / 2;
    double g[27];
    for (int z = 0; z < 3; ++z)
      for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 3; ++x) {
          const int64_t p[3] = {o[0] + x * hk, o[1] + y * hk, o[2] + z * hk};
          g[x + 3 * y + 9 * z] = value_in(p, l, cell);
        }
    for (int c = 0; c < 8; ++c) {
      const int cx = c & 1, cy = (c >> 1) & 1, cz = (c >> 2) & 1;
      double f[8];
      for (int k2 = 0; k2 < 8; ++k2)
        f[k2] = g[(cx + (k2 & 1)) + 3 * (cy + ((k2 >> 1) & 1)) + 9 * (cz + ((k2 >> 2) & 1))];
      const int64_t so[3] = {o[0] + cx * hk, o[1] + cy * hk, o[2] + cz * hk};
      if (!may_cross(f, so, hk)) continue;
      box(so, hk, l, cell, out);
    }
  }

  void cell(int l, int64_t c, Out& out) const {
    const Level& lv = t.levels[l];
    double f[8];
    int64_t q[3];
    unmorton(lv.cell_key[c], q);
    if (l == L) {  // finer levels may refine the values at the lattice points
      for (int k = 0; k < 8; ++k) f[k] = lval[lv.cell_corner[8 * c + k]];
    } else {
      for (int k = 0; k < 8; ++k) f[k] = lv.U[lv.cell_corner[8 * c + k]];
    }
    const int64_t s0 = int64_t(1) << (L - l);
    const int64_t o0[3] = {q[0] * s0, q[1] * s0, q[2] * s0};
    if (!may_cross(f, o0, s0)) return;
    if (l == L) {
      cube(q, f, out);
      return;
    }
    const Level& fine = t.levels[l + 1];
    const int s = L - l - 1;
    for (int ch = 0; ch < 8; ++ch) {
      const int64_t cq[3] = {2 * q[0] + (ch & 1), 2 * q[1] + ((ch >> 1) & 1), 2 * q[2] + ((ch >> 2) & 1)};
      if (fine.cell_hash.find(morton(cq[0], cq[1], cq[2])) >= 0) continue;
      const int64_t o[3] = {cq[0] << s, cq[1] << s, cq[2] << s};
      box(o, int64_t(1) << s, l, c, out);
    }
  }
};


// Vertex placement along its lattice edge p0 -> p1 (axis ax). Marching cubes' linear
// interpolation of chi at the two lattice points (those on the side of the cube raised as in
// cube(): the same values, bit for bit, as the cubes that made the edge saw), then, away from the
// side, a quadratic through (0, f0) and (1, f1) whose end slopes are in the ratio of chi's central
// differences at p0 and p1 (from the lattice points p0 - 1 and p1 + 1), its root in [0, 1] (the
// mean when two are). chi is piecewise trilinear, so the linear interpolation puts the vertex where
// the chord crosses the iso-value; the central differences see the curvature of the transition
// across the surface and move the vertex towards the true crossing of the smooth function chi
// stands for (after PoissonRecon's default "non-linear fit" of iso-vertices, Kazhdan and Hoppe
// 2013; sphere 100k depth 8 Chamfer 0.72e-4 -> 0.63e-4). Kept linear when the slopes disagree in
// sign. Parallel over vertices, each from lattice values only: deterministic.
void place_vertices(const Extractor& ex, const Vec<uint64_t>& vkey, Vec<double>& verts) {
  const int64_t R = ex.R;
  const double invR = 1.0 / double(R);
  verts.resize(3 * vkey.size());
  cpu::for_each((int64_t)vkey.size(), [&](int64_t vi) {
    const uint64_t key = vkey[vi];
    const int dir = (int)(key & 7);
    const int ax = dir == 1 ? 0 : (dir == 2 ? 1 : 2);
    uint64_t rest = key >> 3;
    int64_t p0[3];
    p0[2] = (int64_t)(rest % (uint64_t)(R + 1));
    rest /= (uint64_t)(R + 1);
    p0[1] = (int64_t)(rest % (uint64_t)(R + 1));
    p0[0] = (int64_t)(rest / (uint64_t)(R + 1));
    int64_t p1[3] = {p0[0], p0[1], p0[2]};
    p1[ax] += 1;
    const double iso = ex.iso;
    const double f0 = ex.lattice_value(p0), f1 = ex.lattice_value(p1);
    double g0 = f0, g1 = f1;
    if (ex.on_side(p0) && g0 < iso + ex.side_eps) g0 = iso + ex.side_eps;
    if (ex.on_side(p1) && g1 < iso + ex.side_eps) g1 = iso + ex.side_eps;
    double tv = (iso - g0) / (g1 - g0);
    tv = tv < 0 ? 0 : (tv > 1 ? 1 : tv);
    for (int d = 0; d < 3; ++d) verts[3 * vi + d] = double(p0[d]) * invR;
    verts[3 * vi + ax] = (double(p0[ax]) + tv) * invR;
    for (int d = 0; d < 3; ++d) {
      const int64_t lo = d == ax ? p0[d] - 1 : p0[d], hi = d == ax ? p0[d] + 2 : p0[d];
      if (lo <= 0 || hi >= R) return;  // touches the side of the cube: linear
    }
    int64_t pm[3] = {p0[0], p0[1], p0[2]}, p2[3] = {p0[0], p0[1], p0[2]};
    pm[ax] -= 1;
    p2[ax] += 2;
    const double fm = ex.lattice_value(pm), f2 = ex.lattice_value(p2);
    const double df = f1 - f0;
    double m0 = 0.5 * (f1 - fm), m1 = 0.5 * (f2 - f0);
    if (!((m0 + m1) * df > 0) || (f0 < iso) == (f1 < iso)) return;
    const double sc = df / (0.5 * (m0 + m1));  // makes the cubic Hermite term vanish
    m0 *= sc;
    m1 *= sc;
    const double A = 3 * df - m1 - 2 * m0, B = m0, C = f0 - iso;
    double roots[2];
    int nr = 0;
    if (std::fabs(A) <= 1e-12 * std::fabs(B)) {
      roots[nr++] = -C / B;
    } else {
      const double disc = B * B - 4 * A * C;
      if (disc < 0) return;
      const double sq = std::sqrt(disc);
      roots[nr++] = (-B - sq) / (2 * A);
      roots[nr++] = (-B + sq) / (2 * A);
    }
    double sum = 0;
    int cnt = 0;
    for (int k = 0; k < nr; ++k)
      if (roots[k] >= 0 && roots[k] <= 1) sum += roots[k], ++cnt;
    if (cnt == 0) return;
    verts[3 * vi + ax] = (double(p0[ax]) + sum / cnt) * invR;
  });
}

}  // namespace

void extract(const Tree& t, double iso, Vec<double>& verts, Vec<int32_t>& faces,
             Vec<double>& density) {
  // The lattice: the finest level that at least a quarter of the samples were splatted at (or
  // finer), so that a few densely sampled spots do not force the whole surface to their resolution;
  // finer levels still refine the function values at the lattice points.
  int L = std::min(t.full_depth, t.finest);
  {
    Vec<int64_t> cnt(t.depth + 2, 0);
    for (int8_t v : t.s.level) ++cnt[v];
    int64_t above = 0;
    for (int l = t.depth; l >= 0; --l) {
      above += cnt[l];
      if (4 * above >= t.s.n) {
        L = std::max(L, std::min(l, t.finest));
        break;
      }
    }
  }
  // chi at the nodes of level L: U_L, overwritten by each finer level at its nodes on the level-L
  // lattice (finest last). Each finer node maps to its own level-L node: parallel, deterministic.
  Vec<double> lval(t.levels[L].U.begin(), t.levels[L].U.end());
  for (int l = L + 1; l <= t.finest; ++l) {
    const Level& lv = t.levels[l];
    const int up = l - L;
    const int64_t m = (int64_t(1) << up) - 1;
    const HashView hL = t.levels[L].node_hash.view();
    double* out = lval.data();
    cpu::for_each(lv.nnodes(), [&](int64_t i) {
      int64_t q[3];
      unpack_node(lv.node_key[i], q);
      if ((q[0] & m) || (q[1] & m) || (q[2] & m)) return;
      const int32_t j = hL.find(pack_node(q[0] >> up, q[1] >> up, q[2] >> up));
      if (j >= 0) out[j] = lv.U[i];
    });
  }
  Extractor ex{t, iso, L, t.finest, int64_t(1) << L, 1e-9 * (1.0 + std::fabs(iso)), lval.data()};
  // Work in fixed chunks of cells (independent of the thread count), outputs kept per chunk.
  constexpr int64_t kChunk = 1024;
  struct Chunk {
    int l;
    int64_t lo, hi;
  };
  Vec<Chunk> chunks;
  for (int l = 0; l <= L; ++l)
    for (int64_t lo = 0; lo < t.levels[l].ncells(); lo += kChunk)
      chunks.push_back({l, lo, std::min(t.levels[l].ncells(), lo + kChunk)});
  Prof prof;
  Vec<Extractor::Out> outs(chunks.size());
  parallel_tasks((int64_t)chunks.size(), [&](int64_t i) {
    const Chunk& ch = chunks[i];
    for (int64_t c = ch.lo; c < ch.hi; ++c) ex.cell(ch.l, c, outs[i]);
  });
  prof("ex-cells", L);
  int64_t ncorner = 0;
  for (const auto& o : outs) ncorner += (int64_t)o.key.size();
  EF_CHECK(ncorner / 3 < (int64_t(1) << 31) - 1, "depth: the surface would have more than 2^31 triangles");
  // Vertices: one per lattice edge, numbered in order of first use (deterministic). A vertex is
  // shared by about 6 corners: the table starts at that size and doubles when 2/3 full.
  int bits = bits_for(std::max<int64_t>(ncorner / 6, 8));
  Vec<uint64_t> hk(size_t(1) << bits, kEmptyKey);
  Vec<int32_t> hv(size_t(1) << bits, -1);
  faces.resize(ncorner);
  Vec<uint64_t> vkey;  // the lattice edge of each vertex
  vkey.reserve(ncorner / 6 + 3);
  int64_t f = 0;
  for (auto& o : outs) {
    for (size_t j = 0; j < o.key.size(); ++j) {
      if (3 * ((int64_t)vkey.size() + 1) > 2 * (int64_t)hk.size()) {
        Vec<uint64_t> ok;
        Vec<int32_t> ov;
        ok.swap(hk);
        ov.swap(hv);
        ++bits;
        hk.assign(size_t(1) << bits, kEmptyKey);
        hv.assign(size_t(1) << bits, -1);
        const uint64_t m2 = hk.size() - 1;
        for (size_t q = 0; q < ok.size(); ++q)
          if (ok[q] != kEmptyKey) {
            uint64_t s2 = hash_slot(ok[q], bits);
            while (hk[s2] != kEmptyKey) s2 = (s2 + 1) & m2;
            hk[s2] = ok[q];
            hv[s2] = ov[q];
          }
      }
      const uint64_t mask = hk.size() - 1;
      const uint64_t key = o.key[j];
      uint64_t s = hash_slot(key, bits);
      while (hk[s] != kEmptyKey && hk[s] != key) s = (s + 1) & mask;
      if (hk[s] == kEmptyKey) {
        hk[s] = key;
        hv[s] = (int32_t)vkey.size();
        vkey.push_back(key);
      }
      faces[f++] = hv[s];
    }
    Vec<uint64_t>().swap(o.key);
  }
  Vec<uint64_t>().swap(hk);
  Vec<int32_t>().swap(hv);
  Vec<Extractor::Out>().swap(outs);
  prof("ex-merge", L);
  place_vertices(ex, vkey, verts);
  Vec<uint64_t>().swap(vkey);
  prof("ex-place", L);
  const int64_t nv = (int64_t)verts.size() / 3;
  density.resize(nv);
  cpu::for_each(nv, [&](int64_t i) { density[i] = eval_point(t, &verts[3 * i], true); });
  prof("ex-density", L);
}

}  // namespace poisson
}  // namespace ef
