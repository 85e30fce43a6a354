// SPDX-License-Identifier: Apache-2.0
// The Poisson solver, written once for both backends (included by poisson_cpu.cpp and
// poisson_cuda.cu; everything lands in namespace ef::cpu or ef::cuda).
//
// Per level l, with trilinear hats phi_a of width h = 2^-l:
//   stiffness   integral grad phi_a . grad phi_b  = h * Kref(a, b)      (per cell, 8x8)
//   screening   alpha 2^l * sum_i w_i phi_a(p_i) phi_b(p_i)              (samples of the cell)
//   right side  b_a = integral V . grad phi_a,  V = sum over levels s of the trilinear field of the
//               samples splatted at level s (nodal values A_i n_i phi(p_i) / h_s^3, so that the
//               integral of V is sum_i A_i n_i, then smoothed on the host: octree.cpp).
// Kref (unit cube, corners at Hamming distance 0/1/2/3): 1/3, 0, -1/12, -1/12.
// All operators are applied cell by cell, one parity colour at a time, so no two cells of a pass
// write the same node: no atomics, and every node sums its cells in a fixed order (results do not
// depend on the thread count). The right side of a coarse level also needs the splats of finer
// levels: b^l = G_l(C^l) + R(b_fine^{l+1}), with C^l the field of splats at levels <= l prolonged
// to level l, G the per-cell gradient operator and R the exact restriction of nested hat functions
// (the transpose of trilinear prolongation).
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
#include "poisson.h"

namespace ef {
namespace EF_BACKEND {
namespace poisson_impl {

using ::ef::poisson::HashView;
using ::ef::poisson::Level;
using ::ef::poisson::Params;
using ::ef::poisson::Progress;
using ::ef::poisson::Tree;

// Device copy of a host vector (on the CPU backend: the host memory itself, no copy).
template <class T>
struct Mirror {
  Buffer<T> buf;
  const T* ptr = nullptr;
  void set(const std::vector<T>& v) {
#if EF_BACKEND_IS_CUDA
    buf.upload(v.data(), (int64_t)v.size());
    ptr = buf.data();
#else
    ptr = v.data();
#endif
  }
};

struct CellView {
  const uint64_t* key;
  const int32_t* corner;
  const int32_t* sbeg;
  const int32_t* send;
  const int32_t* perm;
  const double* spos;
  const double* sw;
  double res, h, alpha;
  const double* M;  // per-cell screening matrices, or null (then the samples are visited)
};

EF_INLINE void cell_origin(const CellView& v, int64_t c, double* q) {
  int64_t qi[3];
  ::ef::poisson::unmorton(v.key[c], qi);
  for (int d = 0; d < 3; ++d) q[d] = (double)qi[d];
}
EF_INLINE void cell_weights(const CellView& v, const double* q, int64_t i, double* phi) {
  double t[3];
  for (int d = 0; d < 3; ++d) {
    double x = v.spos[3 * i + d] * v.res - q[d];
    t[d] = x < 0 ? 0 : (x > 1 ? 1 : x);
  }
  const double ax[2] = {1 - t[0], t[0]}, ay[2] = {1 - t[1], t[1]}, az[2] = {1 - t[2], t[2]};
  for (int k = 0; k < 8; ++k) phi[k] = ax[k & 1] * ay[(k >> 1) & 1] * az[(k >> 2) & 1];
}
EF_INLINE int tri_index(int a, int b) {  // packed upper triangle of a symmetric 8x8
  if (a > b) {
    const int t = a;
    a = b;
    b = t;
  }
  return a * 8 - a * (a - 1) / 2 + (b - a);
}

// Screening matrix of a cell, alpha * sum_i w_i phi(p_i) phi(p_i)^T (36 numbers), for the levels
// where cells hold many samples (cheaper than visiting the samples in every CG iteration).
struct ScreenOp {
  CellView v;
  double* M;
  EF_HD void operator()(int64_t c) const {
    double m[36];
    for (int k = 0; k < 36; ++k) m[k] = 0;
    if (v.send[c] > v.sbeg[c]) {
      double q[3];
      cell_origin(v, c, q);
      for (int32_t i = v.sbeg[c]; i < v.send[c]; ++i) {
        double phi[8];
        cell_weights(v, q, i, phi);
        const double w = v.alpha * v.sw[i];
        int idx = 0;
        for (int a = 0; a < 8; ++a)
          for (int b = a; b < 8; ++b) m[idx++] += w * phi[a] * phi[b];
      }
    }
    for (int k = 0; k < 36; ++k) M[36 * c + k] = m[k];
  }
};

// y += A u on the cells perm[off .. off + n) (one colour).
struct ApplyOp {
  CellView v;
  int64_t off;
  const double* u;
  double* y;
  EF_HD void operator()(int64_t j) const {
    const int64_t c = v.perm[off + j];
    const int32_t* cn = v.corner + 8 * c;
    double ul[8], yl[8], S = 0;
    for (int k = 0; k < 8; ++k) S += (ul[k] = u[cn[k]]);
    for (int k = 0; k < 8; ++k) {
      const double near = ul[k ^ 1] + ul[k ^ 2] + ul[k ^ 4];
      yl[k] = v.h * (ul[k] * (1.0 / 3.0) - (S - ul[k] - near) * (1.0 / 12.0));
    }
    if (v.M) {
      const double* m = v.M + 36 * c;
      for (int a = 0; a < 8; ++a) {
        double acc = 0;
        for (int b = 0; b < 8; ++b) acc += m[tri_index(a, b)] * ul[b];
        yl[a] += acc;
      }
    } else if (v.send[c] > v.sbeg[c]) {
      double q[3];
      cell_origin(v, c, q);
      for (int32_t i = v.sbeg[c]; i < v.send[c]; ++i) {
        double phi[8];
        cell_weights(v, q, i, phi);
        double val = 0;
        for (int k = 0; k < 8; ++k) val += phi[k] * ul[k];
        val *= v.alpha * v.sw[i];
        for (int k = 0; k < 8; ++k) yl[k] += val * phi[k];
      }
    }
    for (int k = 0; k < 8; ++k) y[cn[k]] += yl[k];
  }
};

struct DiagOp {
  CellView v;
  int64_t off;
  double* y;
  EF_HD void operator()(int64_t j) const {
    const int64_t c = v.perm[off + j];
    const int32_t* cn = v.corner + 8 * c;
    double yl[8];
    for (int k = 0; k < 8; ++k) yl[k] = v.h * (1.0 / 3.0);
    if (v.M) {
      for (int k = 0; k < 8; ++k) yl[k] += v.M[36 * c + tri_index(k, k)];
    } else if (v.send[c] > v.sbeg[c]) {
      double q[3];
      cell_origin(v, c, q);
      for (int32_t i = v.sbeg[c]; i < v.send[c]; ++i) {
        double phi[8];
        cell_weights(v, q, i, phi);
        for (int k = 0; k < 8; ++k) yl[k] += v.alpha * v.sw[i] * phi[k] * phi[k];
      }
    }
    for (int k = 0; k < 8; ++k) y[cn[k]] += yl[k];
  }
};

// y_a += integral F . grad phi_a over the cell, F trilinear with nodal vectors F (3 per node):
// integral phi_n d_k phi_a = h^2 * (+-1/2) * prod_{d != k} M1(n_d, a_d), M1 = [[1/3, 1/6], [1/6, 1/3]]
// (the 1D integral of B_{n_k} B'_{a_k} is +-1/2 whatever n_k). Applied separably: sum F_k over
// axis k, then the 1D mass matrix along the two other axes.
struct GradOp {
  CellView v;
  int64_t off;
  const double* F;
  double* y;
  EF_HD void operator()(int64_t j) const {
    const int64_t c = v.perm[off + j];
    const int32_t* cn = v.corner + 8 * c;
    double out[8];
    for (int a = 0; a < 8; ++a) out[a] = 0;
    for (int k = 0; k < 3; ++k) {
      const int u = (k + 1) % 3, w = (k + 2) % 3;
      double s[2][2];  // indexed by (n_u, n_w)
      for (int iu = 0; iu < 2; ++iu)
        for (int iw = 0; iw < 2; ++iw) {
          const int n0 = (iu << u) | (iw << w);
          s[iu][iw] = F[3 * cn[n0] + k] + F[3 * cn[n0 | (1 << k)] + k];
        }
      double m[2][2];  // (a_u, a_w)
      for (int au = 0; au < 2; ++au)
        for (int aw = 0; aw < 2; ++aw) {
          const double r0 = (au == 0 ? s[0][0] * (1.0 / 3.0) + s[1][0] * (1.0 / 6.0) : s[0][0] * (1.0 / 6.0) + s[1][0] * (1.0 / 3.0));
          const double r1 = (au == 0 ? s[0][1] * (1.0 / 3.0) + s[1][1] * (1.0 / 6.0) : s[0][1] * (1.0 / 6.0) + s[1][1] * (1.0 / 3.0));
          m[au][aw] = aw == 0 ? r0 * (1.0 / 3.0) + r1 * (1.0 / 6.0) : r0 * (1.0 / 6.0) + r1 * (1.0 / 3.0);
        }
      for (int a = 0; a < 8; ++a) {
        const double sg = ((a >> k) & 1) ? 0.5 : -0.5;
        out[a] += sg * m[(a >> u) & 1][(a >> w) & 1];
      }
    }
    const double h2 = v.h * v.h;
    for (int a = 0; a < 8; ++a) y[cn[a]] += h2 * out[a];
  }
};

EF_INLINE double lerp1(double a, double b, double t) { return (1.0 - t) * a + t * b; }

// out[i] = (coarser field interpolated at node i) + add[i], K components.
template <int K>
struct ProlongOp {
  const uint64_t* node_key;
  const int32_t* parent;
  const uint64_t* pkey;
  const int32_t* pcorner;
  const double* in;
  const double* add;
  double* out;
  EF_HD void operator()(int64_t i) const {
    int64_t q[3], pc[3];
    ::ef::poisson::unpack_node(node_key[i], q);
    const int32_t c = parent[i];
    ::ef::poisson::unmorton(pkey[c], pc);
    const double tx = 0.5 * (double)(q[0] - 2 * pc[0]);
    const double ty = 0.5 * (double)(q[1] - 2 * pc[1]);
    const double tz = 0.5 * (double)(q[2] - 2 * pc[2]);
    const int32_t* cn = pcorner + 8 * c;
    for (int k = 0; k < K; ++k) {
      double vv[8];
      for (int j = 0; j < 8; ++j) vv[j] = in[K * cn[j] + k];
      const double x00 = lerp1(vv[0], vv[1], tx), x10 = lerp1(vv[2], vv[3], tx);
      const double x01 = lerp1(vv[4], vv[5], tx), x11 = lerp1(vv[6], vv[7], tx);
      double r = lerp1(lerp1(x00, x10, ty), lerp1(x01, x11, ty), tz);
      if (add) r += add[K * i + k];
      out[K * i + k] = r;
    }
  }
};

// out[a] += sum over fine nodes c of phi_a(c) * y[c] (restriction of nested hats, the transpose of
// ProlongOp): each coarse cell scatters the fine nodes it is the prolongation parent of into its
// corners (one colour at a time).
struct RestrictOp {
  CellView v;  // coarse level
  int64_t off;
  const int32_t* kid_off;
  const int32_t* kids;
  const uint64_t* fine_key;
  const double* y;
  double* out;
  EF_HD void operator()(int64_t j) const {
    const int64_t c = v.perm[off + j];
    int64_t pc[3];
    ::ef::poisson::unmorton(v.key[c], pc);
    double acc[8];
    for (int k = 0; k < 8; ++k) acc[k] = 0;
    for (int32_t e = kid_off[c]; e < kid_off[c + 1]; ++e) {
      const int32_t f = kids[e];
      int64_t q[3];
      ::ef::poisson::unpack_node(fine_key[f], q);
      double a[3][2];
      for (int d = 0; d < 3; ++d) {
        const double t = 0.5 * (double)(q[d] - 2 * pc[d]);
        a[d][0] = 1.0 - t;
        a[d][1] = t;
      }
      const double yv = y[f];
      for (int k = 0; k < 8; ++k) acc[k] += a[0][k & 1] * a[1][(k >> 1) & 1] * a[2][(k >> 2) & 1] * yv;
    }
    const int32_t* cn = v.corner + 8 * c;
    for (int k = 0; k < 8; ++k) out[cn[k]] += acc[k];
  }
};

struct FillOp {
  double* y;
  double v;
  EF_HD void operator()(int64_t i) const { y[i] = v; }
};
struct AddOp {  // y += x
  double* y;
  const double* x;
  EF_HD void operator()(int64_t i) const { y[i] += x[i]; }
};
struct ResidualOp {  // r = free ? b - Ax : 0
  const uint8_t* fr;
  const double* b;
  const double* Ax;
  double* r;
  EF_HD void operator()(int64_t i) const { r[i] = fr[i] ? b[i] - Ax[i] : 0.0; }
};
struct PrecondOp {  // z = r / diag
  const double* r;
  const double* diag;
  double* z;
  EF_HD void operator()(int64_t i) const { z[i] = diag[i] > 0 ? r[i] / diag[i] : 0.0; }
};
struct Dot {
  const double* a;
  const double* b;
  EF_HD double operator()(int64_t i) const { return a[i] * b[i]; }
};
struct MaskedDot {
  const uint8_t* fr;
  const double* a;
  const double* b;
  EF_HD double operator()(int64_t i) const { return fr[i] ? a[i] * b[i] : 0.0; }
};
struct CgStepOp {  // x += a p ; r -= a Ap ; z = r / diag (free nodes); returns (r.r, r.z)
  const uint8_t* fr;
  double a;
  const double* p;
  const double* Ap;
  const double* diag;
  double* x;
  double* r;
  double* z;
  EF_HD Sums<2> operator()(int64_t i) const {
    Sums<2> out;
    if (!fr[i]) return out;
    x[i] += a * p[i];
    const double ri = r[i] - a * Ap[i];
    r[i] = ri;
    const double zi = diag[i] > 0 ? ri / diag[i] : 0.0;
    z[i] = zi;
    out[0] = ri * ri;
    out[1] = ri * zi;
    return out;
  }
};
struct DirOp {  // p = z + beta p (free nodes), 0 elsewhere
  const uint8_t* fr;
  double beta;
  const double* z;
  double* p;
  EF_HD void operator()(int64_t i) const { p[i] = fr[i] ? z[i] + beta * p[i] : 0.0; }
};

struct DevLevel {
  Mirror<uint64_t> cell_key, node_key;
  Mirror<int32_t> corner, sbeg, send, perm, parent, kid_off, kids;
  Mirror<uint8_t> fr;
  Mirror<double> vsplat, dsplat;
  Buffer<double> bfine;
  CellView cv;
};

template <class T>
void free_vec(std::vector<T>& v) {
  std::vector<T>().swap(v);
}

// EF_POISSON_PROFILE=1: resident and peak memory after each level's solve (stderr).
inline void profile_memory(const char* what, int l) {
  static const bool on = std::getenv("EF_POISSON_PROFILE") != nullptr;
  if (!on) return;
  long rss = 0, hwm = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
      if (!std::strncmp(line, "VmRSS:", 6)) rss = std::atol(line + 6);
      if (!std::strncmp(line, "VmHWM:", 6)) hwm = std::atol(line + 6);
    }
    std::fclose(f);
  }
  std::fprintf(stderr, "  [solve L%d] %-10s rss %ld MB  peak %ld MB\n", l, what, rss >> 10, hwm >> 10);
}

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class MakeOp>
void colour_pass(const Level& L, const MakeOp& make) {
  for (int col = 0; col < 8; ++col) {
    const int64_t off = L.color_off[col], n = L.color_off[col + 1] - off;
    if (n > 0) for_each(n, make(off));
  }
}

// Solves the tree's system; writes U and D (density field) into every level.
inline void solve_tree_impl(Tree& t, const Params& prm, const Progress& progress,
                            std::vector<std::pair<std::string, double>>& timings) {
  const int Lmax = t.finest;
  double t_splat = 0, t_system = 0, t_solve = 0;
  double t0 = now();
  Mirror<double> spos, sw;
  spos.set(t.s.pos);
  sw.set(t.s.ws);
  std::vector<DevLevel> dl(Lmax + 1);
  for (int l = 0; l <= Lmax; ++l) {
    const Level& L = t.levels[l];
    DevLevel& d = dl[l];
    d.cell_key.set(L.cell_key);
    d.node_key.set(L.node_key);
    d.corner.set(L.cell_corner);
    d.sbeg.set(L.cell_sbeg);
    d.send.set(L.cell_send);
    d.perm.set(L.color_perm);
    d.parent.set(L.node_parent);
    d.fr.set(L.node_free);
    d.vsplat.set(L.vsplat);
    d.dsplat.set(L.dsplat);
    d.kid_off.set(L.kid_off);
    d.kids.set(L.kids);
    d.cv = CellView{d.cell_key.ptr, d.corner.ptr, d.sbeg.ptr, d.send.ptr, d.perm.ptr, spos.ptr, sw.ptr,
                    (double)L.res, L.h, t.alpha, nullptr};
  }
  // Fine to coarse: right-side contributions of the splats finer than each level.
  for (int l = Lmax; l >= 0; --l) dl[l].bfine.resize(t.levels[l].nnodes());
  for (int l = Lmax; l >= 1; --l) {
    const Level& L = t.levels[l];
    DevLevel& d = dl[l];
    Buffer<double> y(L.nnodes());
    for_each(L.nnodes(), FillOp{y.data(), 0.0});
    const double* vs = d.vsplat.ptr;
    double* yp = y.data();
    colour_pass(L, [&](int64_t off) { return GradOp{d.cv, off, vs, yp}; });
    for_each(L.nnodes(), AddOp{yp, d.bfine.data()});
    const Level& P = t.levels[l - 1];
    DevLevel& pd = dl[l - 1];
    double* outp = pd.bfine.data();
    colour_pass(P, [&](int64_t off) {
      return RestrictOp{pd.cv, off, pd.kid_off.ptr, pd.kids.ptr, d.node_key.ptr, yp, outp};
    });
  }
  synchronize();
  t_splat += now() - t0;
  profile_memory("rhs", Lmax);

  Reducer red;
  Buffer<double> Uprev, Cprev, Dprev;
  for (int l = 0; l <= Lmax; ++l) {
    Level& L = t.levels[l];
    DevLevel& d = dl[l];
    const int64_t nn = L.nnodes();
    t0 = now();
    // Allocation order keeps the peak low on the finest (largest) level: C is dropped there once b
    // is built, b once the residual is, the density field is made after the CG vectors are gone.
    Buffer<double> U(nn), C(3 * nn), b(nn);
    // Screening weight of level l: alpha * 2^l. The Dirichlet term of a transition of chi across
    // the surface grows like 2^l (its width is a cell), so a fixed alpha would fade relative to
    // it level by level; scaled, point_weight keeps one meaning at every level (PoissonRecon
    // scales its point weights by 2^depth the same way, Kazhdan and Hoppe 2013). Unscaled, the
    // finest levels were barely screened: sphere 100k depth 8 Chamfer 1.96e-4 -> 1.47e-4 scaled.
    d.cv.alpha = t.alpha * std::ldexp(1.0, l);
    if (l == 0) {
      for_each(nn, FillOp{U.data(), 0.0});
      for_each(3 * nn, AddOp{C.data(), d.vsplat.ptr});
    } else {
      const DevLevel& pd = dl[l - 1];
      for_each(nn, ProlongOp<1>{d.node_key.ptr, d.parent.ptr, pd.cell_key.ptr, pd.corner.ptr, Uprev.data(), nullptr, U.data()});
      for_each(nn, ProlongOp<3>{d.node_key.ptr, d.parent.ptr, pd.cell_key.ptr, pd.corner.ptr, Cprev.data(), d.vsplat.ptr, C.data()});
    }
    Cprev = Buffer<double>();
    Uprev = Buffer<double>();
    free_vec(L.vsplat);  // now in C
    d.vsplat = Mirror<double>();
    // Screening matrices where the cells hold many samples on average.
    Buffer<double> Mbuf;
    d.cv.M = nullptr;
    if (L.samples_in_cells > 3 * L.cells_with_samples && L.ncells() * 36 * 8 < (int64_t(1) << 28)) {
      Mbuf.resize(36 * L.ncells());
      for_each(L.ncells(), ScreenOp{d.cv, Mbuf.data()});
      d.cv.M = Mbuf.data();
    }
    // b = G C + bfine ; diag ; r = b - A U (free nodes)
    for_each(nn, FillOp{b.data(), 0.0});
    {
      const double* Cp = C.data();
      double* bp = b.data();
      colour_pass(L, [&](int64_t off) { return GradOp{d.cv, off, Cp, bp}; });
      for_each(nn, AddOp{bp, d.bfine.data()});
      d.bfine = Buffer<double>();
      if (l == Lmax) C = Buffer<double>();
    }
    Buffer<double> diag(nn), Ap(nn);
    for_each(nn, FillOp{diag.data(), 0.0});
    for_each(nn, FillOp{Ap.data(), 0.0});
    {
      double* dp = diag.data();
      double* ap = Ap.data();
      const double* up = U.data();
      colour_pass(L, [&](int64_t off) { return DiagOp{d.cv, off, dp}; });
      colour_pass(L, [&](int64_t off) { return ApplyOp{d.cv, off, up, ap}; });
    }
    Buffer<double> r(nn);
    for_each(nn, ResidualOp{d.fr.ptr, b.data(), Ap.data(), r.data()});
    synchronize();
    t_system += now() - t0;
    t0 = now();
    // Jacobi-preconditioned CG on the free nodes.
    const int max_it = l <= t.full_depth ? std::max(prm.iterations, prm.dense_iterations) : prm.iterations;
    const double bnorm = std::sqrt(red.sum<double>(nn, MaskedDot{d.fr.ptr, b.data(), b.data()}));
    double rnorm = std::sqrt(red.sum<double>(nn, Dot{r.data(), r.data()}));
    const double stop = prm.cg_tol * (bnorm > 0 ? bnorm : 1.0);
    b = Buffer<double>();  // CG updates U in place (only its free nodes change)
    Buffer<double> z(nn), p(nn);
    int it = 0;
    if (rnorm > stop) {
      for_each(nn, PrecondOp{r.data(), diag.data(), z.data()});
      for_each(nn, DirOp{d.fr.ptr, 0.0, z.data(), p.data()});
      double rz = red.sum<double>(nn, Dot{r.data(), z.data()});
      for (it = 0; it < max_it;) {
        for_each(nn, FillOp{Ap.data(), 0.0});
        const double* pp = p.data();
        double* ap = Ap.data();
        colour_pass(L, [&](int64_t off) { return ApplyOp{d.cv, off, pp, ap}; });
        const double pAp = red.sum<double>(nn, MaskedDot{d.fr.ptr, p.data(), Ap.data()});
        if (!(pAp > 0)) break;
        const double a = rz / pAp;
        const Sums<2> rr = red.sum<Sums<2>>(nn, CgStepOp{d.fr.ptr, a, p.data(), Ap.data(), diag.data(), U.data(), r.data(), z.data()});
        ++it;
        rnorm = std::sqrt(rr[0]);
        if (rnorm <= stop) break;
        const double rz2 = rr[1];
        for_each(nn, DirOp{d.fr.ptr, rz2 / rz, z.data(), p.data()});
        rz = rz2;
      }
    }
    synchronize();
    t_solve += now() - t0;
    profile_memory("cg", l);
    r = Buffer<double>();
    z = Buffer<double>();
    p = Buffer<double>();
    Ap = Buffer<double>();
    diag = Buffer<double>();
    Mbuf = Buffer<double>();
    Buffer<double> Dn(nn);
    if (l == 0) {
      for_each(nn, AddOp{Dn.data(), d.dsplat.ptr});
    } else {
      const DevLevel& pd = dl[l - 1];
      for_each(nn, ProlongOp<1>{d.node_key.ptr, d.parent.ptr, pd.cell_key.ptr, pd.corner.ptr, Dprev.data(), d.dsplat.ptr, Dn.data()});
    }
    L.iterations = it;
    d.cv.M = nullptr;
    // What the finer levels and the extraction no longer need (keeps the peak memory down).
    free_vec(L.vsplat);
    free_vec(L.dsplat);
    free_vec(L.cell_sbeg);
    free_vec(L.cell_send);
    free_vec(L.color_perm);
    free_vec(L.node_free);
    free_vec(L.node_parent);
    d.vsplat = Mirror<double>();
    d.dsplat = Mirror<double>();
    d.sbeg = Mirror<int32_t>();
    d.send = Mirror<int32_t>();
    d.perm = Mirror<int32_t>();
    d.fr = Mirror<uint8_t>();
    d.parent = Mirror<int32_t>();
    if (l > 0) {
      free_vec(t.levels[l - 1].kid_off);
      free_vec(t.levels[l - 1].kids);
      dl[l - 1].kid_off = Mirror<int32_t>();
      dl[l - 1].kids = Mirror<int32_t>();
    }
    L.U.resize(nn);
    L.D.resize(nn);
    U.download(L.U.data(), nn);
    Dn.download(L.D.data(), nn);
    Uprev = std::move(U);
    Cprev = std::move(C);
    Dprev = std::move(Dn);
    if (progress && !progress(l, nn)) throw Cancelled("poisson.reconstruct: cancelled by the progress callback");
  }
  timings.push_back({"splat", t_splat});
  timings.push_back({"system", t_system});
  timings.push_back({"solve", t_solve});
}

}  // namespace poisson_impl
}  // namespace EF_BACKEND
}  // namespace ef
