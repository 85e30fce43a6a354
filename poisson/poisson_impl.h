// SPDX-License-Identifier: Apache-2.0
// The Poisson solver, written once for both backends (included by poisson_cpu.cpp and
// poisson_cuda.cu; everything lands in namespace ef::cpu or ef::cuda).
//
// Per level l, with trilinear hats phi_a of width h = 2^-l:
//   stiffness   integral grad phi_a . grad phi_b  = h * Kref(a, b)      (per cell, 8x8)
//   screening   alpha 2^l * sum_i w_i phi_a(p_i) phi_b(p_i)              (samples of the cell)
//   right side  b_a = integral V . grad phi_a, built with the hierarchy (octree.cpp, ops.h)
// Kref (unit cube, corners at Hamming distance 0/1/2/3): 1/3, 0, -1/12, -1/12.
// All operators are applied cell by cell, through blocks of cells one parity at a time (Blocks in
// octree.h), so no two tasks of a pass write the same node: no atomics, and every node sums its
// cells in a fixed order (results do not depend on the thread count). The stiffness visits every active cell, the screening only the
// cells that hold samples (most of the band holds none).
// Solve: cascadic, coarse to fine (as in Kazhdan and Hoppe 2013): level l starts from the
// prolonged coarser solution and runs Jacobi-preconditioned CG on its free nodes.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../csrc/core/error.h"
#include "../csrc/core/parallel.h"
#include "octree.h"
#include "ops.h"
#include "poisson.h"

namespace ef {
namespace EF_BACKEND {
namespace poisson_impl {

using ::ef::poisson::Level;
using ::ef::poisson::Params;
using ::ef::poisson::Progress;
using ::ef::poisson::ProlongOp;
using ::ef::poisson::Tree;

// Device copy of a host vector (on the CPU backend: the host memory itself, no copy).
template <class T>
struct Mirror {
  Buffer<T> buf;
  const T* ptr = nullptr;
  template <class V>
  void set(const V& v) {
#if EF_BACKEND_IS_CUDA
    buf.upload(v.data(), (int64_t)v.size());
    ptr = buf.data();
#else
    ptr = v.data();
#endif
  }
};

// The cells of a level that hold samples (Level::scell), with what the screening term reads.
struct ScreenView {
  const int32_t* cell;
  const int32_t* sbeg;
  const int32_t* send;
  const uint64_t* key;
  const int32_t* corner;
  const double* spos;
  const double* sw;
  double res, alpha;
  const double* M;  // per-sample-cell screening matrices, or null (then the samples are visited)
};

EF_INLINE void cell_weights(const ScreenView& v, const double* q, int64_t i, double* phi) {
  double t[3];
  for (int d = 0; d < 3; ++d) {
    double x = v.spos[3 * i + d] * v.res - q[d];
    t[d] = x < 0 ? 0 : (x > 1 ? 1 : x);
  }
  const double ax[2] = {1 - t[0], t[0]}, ay[2] = {1 - t[1], t[1]}, az[2] = {1 - t[2], t[2]};
  for (int k = 0; k < 8; ++k) phi[k] = ax[k & 1] * ay[(k >> 1) & 1] * az[(k >> 2) & 1];
}
EF_INLINE void cell_origin(const ScreenView& v, int64_t c, double* q) {
  int64_t qi[3];
  ::ef::poisson::unmorton(v.key[c], qi);
  for (int d = 0; d < 3; ++d) q[d] = (double)qi[d];
}
EF_INLINE int tri_index(int a, int b) {  // packed upper triangle of a symmetric 8x8
  if (a > b) {
    const int t = a;
    a = b;
    b = t;
  }
  return a * 8 - a * (a - 1) / 2 + (b - a);
}

// Calls f(phi, w) for each sample of sample cell j: its 8 hat values in the cell and its screening
// weight alpha * w_i (the one loop of the screening matrix, product and diagonal).
template <class F>
EF_FORCE_INLINE void for_each_sample(const ScreenView& v, int64_t j, const F& f) {
  double q[3];
  cell_origin(v, v.cell[j], q);
  for (int32_t i = v.sbeg[j]; i < v.send[j]; ++i) {
    double phi[8];
    cell_weights(v, q, i, phi);
    f(phi, v.alpha * v.sw[i]);
  }
}

// Screening matrix of a sample cell, alpha * sum_i w_i phi(p_i) phi(p_i)^T (36 numbers), for the
// levels where cells hold many samples (cheaper than visiting the samples in every CG iteration).
struct ScreenMatrixOp {
  ScreenView v;
  double* M;
  EF_HD void operator()(int64_t j) const {
    double m[36];
    for (int k = 0; k < 36; ++k) m[k] = 0;
    for_each_sample(v, j, [&](const double* phi, double w) {
      int idx = 0;
      for (int a = 0; a < 8; ++a)
        for (int b = a; b < 8; ++b) m[idx++] += w * phi[a] * phi[b];
    });
    for (int k = 0; k < 36; ++k) M[36 * j + k] = m[k];
  }
};

// y += K u (stiffness) on cell c.
struct StiffApplyOp {
  ::ef::poisson::CellView v;
  const double* u;
  double* y;
  EF_HD void operator()(int64_t c) const {
    const int32_t* cn = v.corner + 8 * c;
    double ul[8], S = 0;
    for (int k = 0; k < 8; ++k) S += (ul[k] = u[cn[k]]);
    for (int k = 0; k < 8; ++k) {
      const double near = ul[k ^ 1] + ul[k ^ 2] + ul[k ^ 4];
      y[cn[k]] += v.h * (ul[k] * (1.0 / 3.0) - (S - ul[k] - near) * (1.0 / 12.0));
    }
  }
};

// y += S u (screening) on sample cell j.
struct ScreenApplyOp {
  ScreenView v;
  const double* u;
  double* y;
  EF_HD void operator()(int64_t j) const {
    const int32_t* cn = v.corner + 8 * (int64_t)v.cell[j];
    double ul[8], yl[8];
    for (int k = 0; k < 8; ++k) ul[k] = u[cn[k]], yl[k] = 0;
    if (v.M) {
      const double* m = v.M + 36 * j;
      for (int a = 0; a < 8; ++a) {
        double acc = 0;
        for (int b = 0; b < 8; ++b) acc += m[tri_index(a, b)] * ul[b];
        yl[a] = acc;
      }
    } else {
      for_each_sample(v, j, [&](const double* phi, double w) {
        double val = 0;
        for (int k = 0; k < 8; ++k) val += phi[k] * ul[k];
        val *= w;
        for (int k = 0; k < 8; ++k) yl[k] += val * phi[k];
      });
    }
    for (int k = 0; k < 8; ++k) y[cn[k]] += yl[k];
  }
};

// Diagonal of the stiffness (h/3 per incident active cell) and of the screening.
struct StiffDiagOp {
  ::ef::poisson::CellView v;
  double* y;
  EF_HD void operator()(int64_t c) const {
    const int32_t* cn = v.corner + 8 * c;
    for (int k = 0; k < 8; ++k) y[cn[k]] += v.h * (1.0 / 3.0);
  }
};
struct ScreenDiagOp {
  ScreenView v;
  double* y;
  EF_HD void operator()(int64_t j) const {
    const int32_t* cn = v.corner + 8 * (int64_t)v.cell[j];
    double yl[8];
    if (v.M) {
      for (int k = 0; k < 8; ++k) yl[k] = v.M[36 * j + tri_index(k, k)];
    } else {
      for (int k = 0; k < 8; ++k) yl[k] = 0;
      for_each_sample(v, j, [&](const double* phi, double w) {
        for (int k = 0; k < 8; ++k) yl[k] += w * phi[k] * phi[k];
      });
    }
    for (int k = 0; k < 8; ++k) y[cn[k]] += yl[k];
  }
};

struct FillOp {
  double* y;
  double v;
  EF_HD void operator()(int64_t i) const { y[i] = v; }
};
struct ResidualOp {  // r = free ? b - Ax : 0
  const uint8_t* fr;
  const double* b;
  const double* Ax;
  double* r;
  EF_HD void operator()(int64_t i) const { r[i] = fr[i] ? b[i] - Ax[i] : 0.0; }
};
EF_INLINE double precond(double r, double diag) { return diag > 0 ? r / diag : 0.0; }
struct Dot {
  const double* a;
  const double* b;
  EF_HD double operator()(int64_t i) const { return a[i] * b[i]; }
};
struct PrecondDot {  // r . (r / diag)
  const double* r;
  const double* diag;
  EF_HD double operator()(int64_t i) const { return r[i] * precond(r[i], diag[i]); }
};
struct MaskedDot {
  const uint8_t* fr;
  const double* a;
  const double* b;
  EF_HD double operator()(int64_t i) const { return fr[i] ? a[i] * b[i] : 0.0; }
};
// x += a p ; r -= a Ap (free nodes); returns (r.r, r.z) with z = r / diag, which is not stored
// (DirOp recomputes it: one vector less on the finest level).
struct CgStepOp {
  const uint8_t* fr;
  double a;
  const double* p;
  const double* Ap;
  const double* diag;
  double* x;
  double* r;
  EF_HD Sums<2> operator()(int64_t i) const {
    Sums<2> out;
    if (!fr[i]) return out;
    x[i] += a * p[i];
    const double ri = r[i] - a * Ap[i];
    r[i] = ri;
    out[0] = ri * ri;
    out[1] = ri * precond(ri, diag[i]);
    return out;
  }
};
struct DirOp {  // p = r / diag + beta p (free nodes), 0 elsewhere
  const uint8_t* fr;
  double beta;
  const double* r;
  const double* diag;
  double* p;
  EF_HD void operator()(int64_t i) const { p[i] = fr[i] ? precond(r[i], diag[i]) + beta * p[i] : 0.0; }
};

struct DevLevel {
  Mirror<uint64_t> cell_key, node_key;
  Mirror<int32_t> corner, parent, scell, sbeg, send, bperm, bstart, sbperm, sbstart;
  Mirror<uint8_t> fr;
  Mirror<double> b;
  ::ef::poisson::CellView cv;
  ScreenView sv;
};

template <class V>
void free_vec(V& v) {
  V().swap(v);
}

// EF_POISSON_PROFILE=1: resident and peak memory after each level's solve (stderr).
inline void profile_memory(const char* what, int l) {
  static const bool on = std::getenv("EF_POISSON_PROFILE") != nullptr;
  if (!on) return;
  long rss = 0, hwm = 0;
  ::ef::poisson::resident_memory_mib(&rss, &hwm);
  std::fprintf(stderr, "  [solve L%d] %-10s rss %ld MB  peak %ld MB\n", l, what, rss, hwm);
}

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs op on every entry of a list of cells, one parity of blocks at a time (Blocks in octree.h;
// perm and start: the blocks' arrays on this backend).
template <class Op>
void block_pass(const ::ef::poisson::Blocks& B, const int32_t* perm, const int32_t* start, const Op& op) {
  for (int col = 0; col < 8; ++col) {
    const int64_t off = B.off[col], n = B.off[col + 1] - off;
    if (n > 0) for_each(n, ::ef::poisson::BlockRun<Op>{perm, start, off, op}, ::ef::poisson::kBlockGrain);
  }
}

// Solves the tree's system; writes U into every level. Each level's solve arrays (blocks, sample
// cells, free flags, parents, right side) are dropped once it is solved.
inline void solve_tree_impl(Tree& t, const Params& prm, const Progress& progress,
                            std::vector<std::pair<std::string, double>>& timings) {
  const int Lmax = t.finest;
  double t_system = 0, t_solve = 0;
  Mirror<double> spos, sw;
  spos.set(t.s.pos);
  sw.set(t.s.ws);
  std::vector<DevLevel> dl(Lmax + 1);
  auto mirror = [&](int l) {
    const Level& L = t.levels[l];
    DevLevel& d = dl[l];
    d.cell_key.set(L.cell_key);
    d.node_key.set(L.node_key);
    d.corner.set(L.cell_corner);
    d.bperm.set(L.blocks.perm);
    d.bstart.set(L.blocks.start);
    d.sbperm.set(L.sblocks.perm);
    d.sbstart.set(L.sblocks.start);
    d.parent.set(L.node_parent);
    d.fr.set(L.node_free);
    d.scell.set(L.scell);
    d.sbeg.set(L.sbeg);
    d.send.set(L.send);
    d.b.set(L.b);
    d.cv = ::ef::poisson::CellView{d.cell_key.ptr, d.corner.ptr, L.h};
    d.sv = ScreenView{d.scell.ptr, d.sbeg.ptr, d.send.ptr, d.cell_key.ptr, d.corner.ptr, spos.ptr, sw.ptr,
                      (double)L.res, t.alpha, nullptr};
  };
  Reducer red;
  Buffer<double> Uprev;
  for (int l = 0; l <= Lmax; ++l) {
    Level& L = t.levels[l];
    mirror(l);
    DevLevel& d = dl[l];
    const int64_t nn = L.nnodes();
    auto cells = [&](const auto& op) { block_pass(L.blocks, d.bperm.ptr, d.bstart.ptr, op); };
    auto screened = [&](const auto& op) { block_pass(L.sblocks, d.sbperm.ptr, d.sbstart.ptr, op); };
    double t0 = now();
    Buffer<double> U(nn);
    if (l == 0) {
      for_each(nn, FillOp{U.data(), 0.0});
    } else {
      const DevLevel& pd = dl[l - 1];
      for_each(nn, ProlongOp<1>{d.node_key.ptr, d.parent.ptr, pd.cell_key.ptr, pd.corner.ptr, Uprev.data(), nullptr, U.data()});
    }
    Uprev = Buffer<double>();
    free_vec(L.node_parent);
    d.parent = Mirror<int32_t>();
    // Screening weight of level l: alpha * 2^l. The Dirichlet term of a transition of chi across
    // the surface grows like 2^l (its width is a cell), so a fixed alpha would fade relative to
    // it level by level; scaled, point_weight keeps one meaning at every level (PoissonRecon
    // scales its point weights by 2^depth the same way, Kazhdan and Hoppe 2013). Unscaled, the
    // finest levels were barely screened: sphere 100k depth 8 Chamfer 1.96e-4 -> 1.47e-4 scaled.
    d.sv.alpha = t.alpha * std::ldexp(1.0, l);
    // Screening matrices where the cells hold many samples on average.
    const int64_t nsc = L.cells_with_samples();
    Buffer<double> Mbuf;
    if (L.samples_in_cells > 3 * nsc && nsc * 36 * 8 < (int64_t(1) << 28)) {
      Mbuf.resize(36 * nsc);
      for_each(nsc, ScreenMatrixOp{d.sv, Mbuf.data()});
      d.sv.M = Mbuf.data();
    }
    // diag ; r = b - A U (free nodes)
    Buffer<double> diag(nn), Ap(nn);
    for_each(nn, FillOp{diag.data(), 0.0});
    for_each(nn, FillOp{Ap.data(), 0.0});
    {
      double* dp = diag.data();
      double* ap = Ap.data();
      const double* up = U.data();
      cells(StiffDiagOp{d.cv, dp});
      screened(ScreenDiagOp{d.sv, dp});
      cells(StiffApplyOp{d.cv, up, ap});
      screened(ScreenApplyOp{d.sv, up, ap});
    }
    Buffer<double> r(nn);
    for_each(nn, ResidualOp{d.fr.ptr, d.b.ptr, Ap.data(), r.data()});
    const double bnorm = std::sqrt(red.sum<double>(nn, MaskedDot{d.fr.ptr, d.b.ptr, d.b.ptr}));
    synchronize();
    free_vec(L.b);  // CG updates U in place (only its free nodes change)
    d.b = Mirror<double>();
    t_system += now() - t0;
    profile_memory("system", l);
    t0 = now();
    // Jacobi-preconditioned CG on the free nodes.
    const int max_it = l <= t.full_depth ? std::max(prm.iterations, prm.dense_iterations) : prm.iterations;
    double rnorm = std::sqrt(red.sum<double>(nn, Dot{r.data(), r.data()}));
    const double stop = prm.cg_tol * (bnorm > 0 ? bnorm : 1.0);
    Buffer<double> p(nn);
    int it = 0;
    if (rnorm > stop) {
      for_each(nn, FillOp{p.data(), 0.0});
      for_each(nn, DirOp{d.fr.ptr, 0.0, r.data(), diag.data(), p.data()});
      double rz = red.sum<double>(nn, PrecondDot{r.data(), diag.data()});
      for (it = 0; it < max_it;) {
        for_each(nn, FillOp{Ap.data(), 0.0});
        const double* pp = p.data();
        double* ap = Ap.data();
        cells(StiffApplyOp{d.cv, pp, ap});
        screened(ScreenApplyOp{d.sv, pp, ap});
        const double pAp = red.sum<double>(nn, MaskedDot{d.fr.ptr, p.data(), Ap.data()});
        if (!(pAp > 0)) break;
        const double a = rz / pAp;
        const Sums<2> rr = red.sum<Sums<2>>(nn, CgStepOp{d.fr.ptr, a, p.data(), Ap.data(), diag.data(), U.data(), r.data()});
        ++it;
        rnorm = std::sqrt(rr[0]);
        if (rnorm <= stop) break;
        const double rz2 = rr[1];
        for_each(nn, DirOp{d.fr.ptr, rz2 / rz, r.data(), diag.data(), p.data()});
        rz = rz2;
      }
    }
    synchronize();
    t_solve += now() - t0;
    profile_memory("cg", l);
    L.iterations = it;
    // What the finer levels and the extraction no longer need (keeps the peak memory down).
    r = Buffer<double>();
    p = Buffer<double>();
    Ap = Buffer<double>();
    diag = Buffer<double>();
    Mbuf = Buffer<double>();
    L.blocks = ::ef::poisson::Blocks();
    L.sblocks = ::ef::poisson::Blocks();
    free_vec(L.scell);
    free_vec(L.sbeg);
    free_vec(L.send);
    free_vec(L.node_free);
    d.bperm = Mirror<int32_t>();
    d.bstart = Mirror<int32_t>();
    d.sbperm = Mirror<int32_t>();
    d.sbstart = Mirror<int32_t>();
    d.scell = Mirror<int32_t>();
    d.sbeg = Mirror<int32_t>();
    d.send = Mirror<int32_t>();
    d.fr = Mirror<uint8_t>();
    if (l > 0) {  // the coarser level served the prolongation only
      dl[l - 1].cell_key = Mirror<uint64_t>();
      dl[l - 1].node_key = Mirror<uint64_t>();
      dl[l - 1].corner = Mirror<int32_t>();
    }
    L.U.resize(nn);
    U.download(L.U.data(), nn);
    Uprev = std::move(U);
    if (progress && !progress(l, nn)) throw Cancelled("poisson.reconstruct: cancelled by the progress callback");
  }
  timings.push_back({"system", t_system});
  timings.push_back({"solve", t_solve});
}

}  // namespace poisson_impl
}  // namespace EF_BACKEND
}  // namespace ef
