// SPDX-License-Identifier: Apache-2.0
// Host side of the Poisson reconstruction: sample classification, the adaptive level structure
// (octree.h), point evaluation and the iso-surface extraction.
#include "octree.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "../csrc/core/error.h"
#include "../csrc/core/parallel.h"

namespace ef {
namespace poisson {

namespace {

int bits_for(int64_t n) {  // table of >= 2n slots
  int b = 4;
  while ((int64_t(1) << b) < 2 * n) ++b;
  return b;
}

// Insert-only set of 64-bit keys (open addressing); the result is read out sorted.
struct KeySet {
  std::vector<uint64_t> slots;
  int bits = 4;
  int64_t count = 0;
  explicit KeySet(int64_t expect) {
    bits = bits_for(std::max<int64_t>(expect, 8));
    slots.assign(size_t(1) << bits, kEmptyKey);
  }
  void grow() {
    std::vector<uint64_t> old;
    old.swap(slots);
    ++bits;
    slots.assign(size_t(1) << bits, kEmptyKey);
    count = 0;
    for (uint64_t k : old)
      if (k != kEmptyKey) insert(k);
  }
  void insert(uint64_t key) {
    if (2 * (count + 1) > (int64_t)slots.size()) grow();
    const uint64_t mask = slots.size() - 1;
    uint64_t s = hash_slot(key, bits);
    for (;;) {
      if (slots[s] == key) return;
      if (slots[s] == kEmptyKey) {
        slots[s] = key;
        ++count;
        return;
      }
      s = (s + 1) & mask;
    }
  }
  std::vector<uint64_t> sorted() const {
    std::vector<uint64_t> out;
    out.reserve(count);
    for (uint64_t k : slots)
      if (k != kEmptyKey) out.push_back(k);
    std::sort(out.begin(), out.end());
    return out;
  }
};

inline double lerp(double a, double b, double t) { return (1.0 - t) * a + t * b; }
// Trilinear interpolation, always x then y then z, with (1-t)a + tb: a value on a shared face,
// edge or corner is bit-identical from either cell (t = 0 and t = 1 are exact).
inline double trilerp(const double* v, double tx, double ty, double tz) {
  const double x00 = lerp(v[0], v[1], tx), x10 = lerp(v[2], v[3], tx);
  const double x01 = lerp(v[4], v[5], tx), x11 = lerp(v[6], v[7], tx);
  return lerp(lerp(x00, x10, ty), lerp(x01, x11, ty), tz);
}

}  // namespace

void HashTable::build(const std::vector<uint64_t>& sorted_keys) {
  bits = bits_for((int64_t)sorted_keys.size());
  keys.assign(size_t(1) << bits, kEmptyKey);
  vals.assign(size_t(1) << bits, -1);
  const uint64_t mask = keys.size() - 1;
  for (size_t i = 0; i < sorted_keys.size(); ++i) {
    uint64_t s = hash_slot(sorted_keys[i], bits);
    while (keys[s] != kEmptyKey) s = (s + 1) & mask;
    keys[s] = sorted_keys[i];
    vals[s] = (int32_t)i;
  }
}

int64_t prepare_samples(Tree& t, const double* unit_pos, const double* conf, int64_t n, int depth,
                        int full_depth, double spn, double point_weight) {
  t.depth = depth;
  t.full_depth = std::min(full_depth, depth);
  Samples& s = t.s;
  s.n = n;
  const int64_t R = int64_t(1) << depth;
  std::vector<std::pair<uint64_t, int32_t>> kv(n);
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
  // Splat level: the finest level whose cell holds at least samples_per_node samples (PoissonRecon's
  // adaptation of the splat depth to the sampling density, restated with plain cell counts).
  s.level.assign(n, -1);
  for (int l = depth; l >= 0; --l) {
    const int sh = 3 * (depth - l);
    for (int64_t a = 0; a < n;) {
      int64_t b = a + 1;
      while (b < n && (s.key[b] >> sh) == (s.key[a] >> sh)) ++b;
      if ((double)(b - a) >= spn)
        for (int64_t i = a; i < b; ++i)
          if (s.level[i] < 0) s.level[i] = (int8_t)l;
      a = b;
    }
  }
  for (auto& v : s.level)
    if (v < 0) v = 0;
  // Area per sample: an occupied cell of width h holds about h^2 / 1.5 of a surface (1.5 = mean of
  // |n_x| + |n_y| + |n_z| over directions), shared among its samples by weight.
  s.area.assign(n, 0.0);
  for (int l = depth; l >= 0; --l) {
    const int sh = 3 * (depth - l);
    const double h = 1.0 / double(int64_t(1) << l);
    for (int64_t a = 0; a < n;) {
      int64_t b = a + 1;
      double W = s.w[a];
      bool any = s.level[a] == l;
      while (b < n && (s.key[b] >> sh) == (s.key[a] >> sh)) {
        W += s.w[b];
        any |= s.level[b] == l;
        ++b;
      }
      if (any && W > 0)
        for (int64_t i = a; i < b; ++i)
          if (s.level[i] == l) s.area[i] = s.w[i] / W * h * h / 1.5;
      a = b;
    }
  }
  double sa = 0, sw = 0;
  for (int64_t i = 0; i < n; ++i) {
    sa += s.area[i];
    sw += s.w[i];
  }
  t.alpha = sw > 0 ? point_weight * sa / sw : 0.0;
  // Memory estimate: a surface band of active cells is about 9 times the occupied cells; ~330
  // bytes per active cell (cell and node tables, hash tables, solver vectors), ~200 per sample.
  double bytes = 200.0 * n;
  for (int l = 0; l <= depth; ++l) {
    const double full = std::pow(8.0, l);
    if (l <= t.full_depth) {
      bytes += 330.0 * full;
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
    bytes += 330.0 * std::min(full, 9.0 * occ);
  }
  return (int64_t)std::min(bytes, 9e18);
}

void build_levels(Tree& t, const double* unit_normals_unsorted) {
  const int D = t.depth;
  Samples& s = t.s;
  const int64_t n = s.n;
  t.levels.clear();
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
      std::vector<uint64_t> occ;
      for (int64_t i = 0; i < n; ++i)
        if (s.level[i] >= l) {
          const uint64_t k = s.key[i] >> sh;
          if (occ.empty() || occ.back() != k) occ.push_back(k);
        }
      if (occ.empty()) break;
      std::sort(occ.begin(), occ.end());
      occ.erase(std::unique(occ.begin(), occ.end()), occ.end());
      KeySet set((int64_t)occ.size() * 4);
      for (uint64_t k : occ) {
        int64_t c[3];
        unmorton(k, c);
        for (int dz = -1; dz <= 1; ++dz)
          for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
              const int64_t x = c[0] + dx, y = c[1] + dy, z = c[2] + dz;
              if (x < 0 || y < 0 || z < 0 || x >= L.res || y >= L.res || z >= L.res) continue;
              set.insert(morton(x, y, z));
            }
      }
      L.cell_key = set.sorted();
    }
    const int64_t nc = L.ncells();
    L.cell_hash.build(L.cell_key);
    // Nodes: the corners of the active cells.
    {
      KeySet set(nc * 2 + 64);
      for (int64_t c = 0; c < nc; ++c) {
        int64_t q[3];
        unmorton(L.cell_key[c], q);
        for (int k = 0; k < 8; ++k) set.insert(pack_node(q[0] + (k & 1), q[1] + ((k >> 1) & 1), q[2] + ((k >> 2) & 1)));
      }
      L.node_key = set.sorted();
    }
    const int64_t nn = L.nnodes();
    EF_CHECK(nn < (int64_t(1) << 31) - 1, "depth: level ", l, " would have ", nn, " nodes (at most 2^31)");
    L.node_hash.build(L.node_key);
    L.cell_corner.resize(8 * nc);
    L.cell_sbeg.resize(nc);
    L.cell_send.resize(nc);
    {
      const HashView hv = L.node_hash.view();
      const uint64_t* ck = L.cell_key.data();
      int32_t* corner = L.cell_corner.data();
      int32_t* sb = L.cell_sbeg.data();
      int32_t* se = L.cell_send.data();
      const uint64_t* skey = s.key.data();
      cpu::for_each(nc, [&](int64_t c) {
        int64_t q[3];
        unmorton(ck[c], q);
        for (int k = 0; k < 8; ++k) corner[8 * c + k] = hv.find(pack_node(q[0] + (k & 1), q[1] + ((k >> 1) & 1), q[2] + ((k >> 2) & 1)));
        const uint64_t lo = ck[c] << sh, hi = (ck[c] + 1) << sh;
        sb[c] = (int32_t)(std::lower_bound(skey, skey + n, lo) - skey);
        se[c] = (int32_t)(std::lower_bound(skey + sb[c], skey + n, hi) - skey);
      });
    }
    // Colours by cell parity: two cells of one colour share no node.
    {
      int64_t cnt[8] = {0};
      std::vector<uint8_t> col(nc);
      for (int64_t c = 0; c < nc; ++c) {
        int64_t q[3];
        unmorton(L.cell_key[c], q);
        col[c] = (uint8_t)((q[0] & 1) | ((q[1] & 1) << 1) | ((q[2] & 1) << 2));
        ++cnt[col[c]];
      }
      L.color_off[0] = 0;
      for (int k = 0; k < 8; ++k) L.color_off[k + 1] = L.color_off[k] + cnt[k];
      int64_t pos[8];
      for (int k = 0; k < 8; ++k) pos[k] = L.color_off[k];
      L.color_perm.resize(nc);
      for (int64_t c = 0; c < nc; ++c) L.color_perm[pos[col[c]]++] = (int32_t)c;
    }
    // Free nodes: every cell of the domain around them is active.
    {
      std::vector<uint8_t> inc(nn, 0);
      for (int64_t c = 0; c < 8 * nc; ++c) ++inc[L.cell_corner[c]];
      L.node_free.resize(nn);
      for (int64_t i = 0; i < nn; ++i) {
        int64_t q[3];
        unpack_node(L.node_key[i], q);
        int expect = 1;
        for (int d = 0; d < 3; ++d) expect *= (q[d] == 0 || q[d] == L.res) ? 1 : 2;
        L.node_free[i] = inc[i] == expect;
      }
    }
    // Parent cells for prolongation.
    L.node_parent.assign(nn, -1);
    if (l > 0) {
      const Level& P = t.levels[l - 1];
      const HashView pc = P.cell_hash.view();
      const int64_t pres = P.res;
      bool ok = true;
      for (int64_t i = 0; i < nn; ++i) {
        int64_t q[3];
        unpack_node(L.node_key[i], q);
        int64_t cand[3][2];
        int nc3[3];
        for (int d = 0; d < 3; ++d) {
          if (q[d] & 1) {
            cand[d][0] = q[d] >> 1;
            nc3[d] = 1;
          } else {
            nc3[d] = 0;
            if (q[d] / 2 - 1 >= 0) cand[d][nc3[d]++] = q[d] / 2 - 1;
            if (q[d] / 2 < pres) cand[d][nc3[d]++] = q[d] / 2;
          }
        }
        int32_t found = -1;
        for (int a = 0; a < nc3[0] && found < 0; ++a)
          for (int b = 0; b < nc3[1] && found < 0; ++b)
            for (int c = 0; c < nc3[2] && found < 0; ++c) found = pc.find(morton(cand[0][a], cand[1][b], cand[2][c]));
        L.node_parent[i] = found;
        ok &= found >= 0;
      }
      if (!ok) EF_FAIL("poisson: level ", l, " is not nested in level ", l - 1);
    }
    // Splat the samples whose splat level is l: trilinear weights into their cell's corners.
    L.vsplat.assign(3 * nn, 0.0);
    L.dsplat.assign(nn, 0.0);
    {
      const double res = double(L.res);
      const double inv_h3 = res * res * res;
      for (int64_t i = 0; i < n; ++i) {
        if (s.level[i] != l) continue;
        const int32_t c = L.cell_hash.find(s.key[i] >> sh);
        int64_t q[3];
        unmorton(s.key[i] >> sh, q);
        double tt[3];
        for (int d = 0; d < 3; ++d) tt[d] = std::min(1.0, std::max(0.0, s.pos[3 * i + d] * res - q[d]));
        const double* nrm = unit_normals_unsorted + 3 * s.order[i];
        const double a = s.area[i] * inv_h3;
        for (int k = 0; k < 8; ++k) {
          const double phi = ((k & 1) ? tt[0] : 1 - tt[0]) * ((k & 2) ? tt[1] : 1 - tt[1]) * ((k & 4) ? tt[2] : 1 - tt[2]);
          const int32_t node = L.cell_corner[8 * c + k];
          for (int d = 0; d < 3; ++d) L.vsplat[3 * node + d] += a * phi * nrm[d];
          L.dsplat[node] += s.w[i] * phi;
        }
      }
    }
    t.levels.push_back(std::move(L));
  }
  t.finest = (int)t.levels.size() - 1;
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
    const std::vector<double>& src = density ? L.D : L.U;
    for (int k = 0; k < 8; ++k) v[k] = src[L.cell_corner[8 * c + k]];
    return trilerp(v, tt[0], tt[1], tt[2]);
  }
  return 0.0;
}

namespace {

// Marching tetrahedra tables on the Kuhn (Freudenthal) split of a cube into 6 tetrahedra around the
// (0,0,0)-(1,1,1) diagonal. The split is the same in every cube, so neighbouring cubes agree on
// their shared faces, and the level set of the piecewise-linear interpolant is a closed manifold
// (given one fixed rule for values equal to the iso-value: they count as outside). Triangles are
// oriented so their normal points from inside (chi < iso) to outside, computed once here.
struct MtTables {
  int tet[6][4];
  int ntri[6][16];
  int tri[6][16][2][3][2];  // [tet][case][triangle][corner][edge endpoint] = cube corner index
  MtTables() {
    const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int p = 0; p < 6; ++p) {
      tet[p][0] = 0;
      tet[p][1] = 1 << perms[p][0];
      tet[p][2] = tet[p][1] | (1 << perms[p][1]);
      tet[p][3] = 7;
    }
    auto corner_pos = [](int k, double* x) {
      x[0] = k & 1;
      x[1] = (k >> 1) & 1;
      x[2] = (k >> 2) & 1;
    };
    for (int p = 0; p < 6; ++p)
      for (int cs = 0; cs < 16; ++cs) {
        int in[4], out[4], ni = 0, no = 0;
        for (int v = 0; v < 4; ++v) {
          if (cs & (1 << v)) in[ni++] = tet[p][v];
          else out[no++] = tet[p][v];
        }
        ntri[p][cs] = 0;
        if (ni == 0 || ni == 4) continue;
        int edges[4][2];
        int ne = 0;
        if (ni == 1)
          for (int o = 0; o < 3; ++o) edges[ne][0] = in[0], edges[ne++][1] = out[o];
        else if (ni == 3)
          for (int i = 0; i < 3; ++i) edges[ne][0] = in[i], edges[ne++][1] = out[0];
        else {
          const int cyc[4][2] = {{in[0], out[0]}, {in[0], out[1]}, {in[1], out[1]}, {in[1], out[0]}};
          for (int e = 0; e < 4; ++e) edges[e][0] = cyc[e][0], edges[e][1] = cyc[e][1];
          ne = 4;
        }
        double cin[3] = {0, 0, 0}, cout[3] = {0, 0, 0};
        for (int i = 0; i < ni; ++i) {
          double x[3];
          corner_pos(in[i], x);
          for (int d = 0; d < 3; ++d) cin[d] += x[d] / ni;
        }
        for (int i = 0; i < no; ++i) {
          double x[3];
          corner_pos(out[i], x);
          for (int d = 0; d < 3; ++d) cout[d] += x[d] / no;
        }
        const int tris[2][3] = {{0, 1, 2}, {0, 2, 3}};
        const int nt = ne == 3 ? 1 : 2;
        for (int tr = 0; tr < nt; ++tr) {
          double P[3][3];
          for (int j = 0; j < 3; ++j) {
            double a[3], b[3];
            corner_pos(edges[tris[tr][j]][0], a);
            corner_pos(edges[tris[tr][j]][1], b);
            for (int d = 0; d < 3; ++d) P[j][d] = 0.5 * (a[d] + b[d]);
          }
          double u[3], v[3];
          for (int d = 0; d < 3; ++d) u[d] = P[1][d] - P[0][d], v[d] = P[2][d] - P[0][d];
          const double nrm[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
          double dot = 0;
          for (int d = 0; d < 3; ++d) dot += nrm[d] * (cout[d] - cin[d]);
          int order[3] = {tris[tr][0], tris[tr][1], tris[tr][2]};
          if (dot < 0) std::swap(order[1], order[2]);
          for (int j = 0; j < 3; ++j) {
            tri[p][cs][tr][j][0] = edges[order[j]][0];
            tri[p][cs][tr][j][1] = edges[order[j]][1];
          }
        }
        ntri[p][cs] = nt;
      }
  }
};

const MtTables& mt_tables() {
  static const MtTables tables;
  return tables;
}

struct Extractor {
  const Tree& t;
  double iso;
  int L;
  int64_t R;

  // chi at a lattice point of the finest level, computed by one fixed rule per point (the finest
  // level whose active cells contain it; a node value if it is a node there, else the smallest-key
  // active cell containing it), so every cube that shares the point sees the same bits.
  double lattice_value(const int64_t* p) const {
    for (int l = L; l >= 0; --l) {
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

  struct Out {
    std::vector<uint64_t> key;
    std::vector<double> tval;
  };

  void cube(const int64_t* o, const double* f, Out& out) const {
    const MtTables& T = mt_tables();
    bool in[8];
    int nin = 0;
    for (int k = 0; k < 8; ++k) nin += (in[k] = f[k] < iso);
    if (nin == 0 || nin == 8) return;
    for (int p = 0; p < 6; ++p) {
      int cs = 0;
      for (int v = 0; v < 4; ++v) cs |= in[T.tet[p][v]] << v;
      for (int tr = 0; tr < T.ntri[p][cs]; ++tr)
        for (int j = 0; j < 3; ++j) {
          int a = T.tri[p][cs][tr][j][0], b = T.tri[p][cs][tr][j][1];
          if ((a & b) != a) std::swap(a, b);  // a: the lower end (its bits are a subset of b's)
          const int dir = a ^ b;
          const int64_t x = o[0] + (a & 1), y = o[1] + ((a >> 1) & 1), z = o[2] + ((a >> 2) & 1);
          const uint64_t key = ((uint64_t)((x * (R + 1) + y) * (R + 1) + z) << 3) | (uint64_t)dir;
          double tv = (iso - f[a]) / (f[b] - f[a]);
          tv = tv < 0 ? 0 : (tv > 1 ? 1 : tv);
          out.key.push_back(key);
          out.tval.push_back(tv);
        }
    }
  }

  static bool straddles(const double* f, double iso) {
    bool lo = false, hi = false;
    for (int k = 0; k < 8; ++k) (f[k] < iso ? lo : hi) = true;
    return lo && hi;
  }

  // A box of the virtual lattice inside which chi is trilinear (a coarser level's function).
  void box(const int64_t* o, int64_t k, Out& out) const {
    if (k == 1) {
      double f[8];
      for (int c = 0; c < 8; ++c) {
        const int64_t p[3] = {o[0] + (c & 1), o[1] + ((c >> 1) & 1), o[2] + ((c >> 2) & 1)};
        f[c] = lattice_value(p);
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
          g[x + 3 * y + 9 * z] = lattice_value(p);
        }
    for (int c = 0; c < 8; ++c) {
      const int cx = c & 1, cy = (c >> 1) & 1, cz = (c >> 2) & 1;
      double f[8];
      for (int k2 = 0; k2 < 8; ++k2)
        f[k2] = g[(cx + (k2 & 1)) + 3 * (cy + ((k2 >> 1) & 1)) + 9 * (cz + ((k2 >> 2) & 1))];
      if (!straddles(f, iso)) continue;
      const int64_t so[3] = {o[0] + cx * hk, o[1] + cy * hk, o[2] + cz * hk};
      box(so, hk, out);
    }
  }

  void cell(int l, int64_t c, Out& out) const {
    const Level& lv = t.levels[l];
    double f[8];
    for (int k = 0; k < 8; ++k) f[k] = lv.U[lv.cell_corner[8 * c + k]];
    if (!straddles(f, iso)) return;
    int64_t q[3];
    unmorton(lv.cell_key[c], q);
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
      box(o, int64_t(1) << s, out);
    }
  }
};

}  // namespace

void extract(const Tree& t, double iso, std::vector<double>& verts, std::vector<int32_t>& faces,
             std::vector<double>& density) {
  Extractor ex{t, iso, t.finest, int64_t(1) << t.finest};
  // Work in fixed chunks of cells (independent of the thread count), outputs kept per chunk.
  constexpr int64_t kChunk = 1024;
  struct Chunk {
    int l;
    int64_t lo, hi;
  };
  std::vector<Chunk> chunks;
  for (int l = 0; l <= t.finest; ++l)
    for (int64_t lo = 0; lo < t.levels[l].ncells(); lo += kChunk)
      chunks.push_back({l, lo, std::min(t.levels[l].ncells(), lo + kChunk)});
  std::vector<Extractor::Out> outs(chunks.size());
  cpu::for_each((int64_t)chunks.size(), [&](int64_t i) {
    const Chunk& ch = chunks[i];
    for (int64_t c = ch.lo; c < ch.hi; ++c) ex.cell(ch.l, c, outs[i]);
  });
  int64_t ncorner = 0;
  for (const auto& o : outs) ncorner += (int64_t)o.key.size();
  EF_CHECK(ncorner / 3 < (int64_t(1) << 31) - 1, "depth: the surface would have more than 2^31 triangles");
  // Vertices: one per lattice edge, numbered in order of first use (deterministic).
  const int bits = bits_for(std::max<int64_t>(ncorner / 2, 8));
  std::vector<uint64_t> hk(size_t(1) << bits, kEmptyKey);
  std::vector<int32_t> hv(size_t(1) << bits, -1);
  const uint64_t mask = hk.size() - 1;
  faces.resize(ncorner);
  verts.clear();
  verts.reserve(ncorner / 2 * 3);
  const double invR = 1.0 / double(ex.R);
  int64_t f = 0;
  for (const auto& o : outs)
    for (size_t j = 0; j < o.key.size(); ++j) {
      const uint64_t key = o.key[j];
      uint64_t s = hash_slot(key, bits);
      while (hk[s] != kEmptyKey && hk[s] != key) s = (s + 1) & mask;
      if (hk[s] == kEmptyKey) {
        hk[s] = key;
        hv[s] = (int32_t)(verts.size() / 3);
        const int dir = (int)(key & 7);
        uint64_t rest = key >> 3;
        const int64_t z = (int64_t)(rest % (uint64_t)(ex.R + 1));
        rest /= (uint64_t)(ex.R + 1);
        const int64_t y = (int64_t)(rest % (uint64_t)(ex.R + 1));
        const int64_t x = (int64_t)(rest / (uint64_t)(ex.R + 1));
        const double tv = o.tval[j];
        verts.push_back((x + tv * (dir & 1)) * invR);
        verts.push_back((y + tv * ((dir >> 1) & 1)) * invR);
        verts.push_back((z + tv * ((dir >> 2) & 1)) * invR);
      }
      faces[f++] = hv[s];
    }
  const int64_t nv = (int64_t)verts.size() / 3;
  density.resize(nv);
  cpu::for_each(nv, [&](int64_t i) { density[i] = eval_point(t, &verts[3 * i], true); });
}

}  // namespace poisson
}  // namespace ef
