// SPDX-License-Identifier: Apache-2.0
// Element operators of one level of the Poisson hierarchy (octree.h), shared by the host build
// (octree.cpp: the splat chains and the right side) and the solver backends (poisson_impl.h: the
// prolongation of the solution). Plain EF_HD functors over a level's arrays; those that scatter into
// nodes run through BlockRun, one parity of blocks at a time (see Blocks in octree.h), so there are
// no atomics and every node sums its cells in a fixed order.
//
// Trilinear hats phi_a of width h = 2^-l on level l:
//   gradient    y_a += integral F . grad phi_a over each cell, F trilinear with nodal vectors
//   restriction out_a += sum over fine nodes c of phi_a(c) y_c (nested hats: the transpose of the
//               trilinear prolongation)
//   prolongation out_i = (coarse nodal field interpolated at fine node i) + add_i
#pragma once

#include <cstdint>

#include "../csrc/core/backend.h"
#include "octree.h"

namespace ef {
namespace poisson {

// The cells of one level: Morton keys, 8 corner-node indices each.
struct CellView {
  const uint64_t* key;
  const int32_t* corner;
  double h;
};

// Runs op on every list entry of the blocks perm[off + j] (Blocks in octree.h), in order: one task
// of a parallel pass over the blocks of one parity. A block holds up to 64 cells (tens in a band),
// so passes hand a thread as few as kBlockGrain of them.
constexpr int64_t kBlockGrain = 32;
template <class Op>
struct BlockRun {
  const int32_t* perm;
  const int32_t* start;
  int64_t off;
  Op op;
  EF_HD void operator()(int64_t j) const {
    const int32_t b = perm[off + j];
    for (int64_t c = start[b], e = start[b + 1]; c < e; ++c) op(c);
  }
};

// y_a += integral F . grad phi_a over the cell, F trilinear with nodal vectors F (3 per node):
// integral phi_n d_k phi_a = h^2 * (+-1/2) * prod_{d != k} M1(n_d, a_d), M1 = [[1/3, 1/6], [1/6, 1/3]]
// (the 1D integral of B_{n_k} B'_{a_k} is +-1/2 whatever n_k). Applied separably: sum F_k over
// axis k, then the 1D mass matrix along the two other axes. Cell c.
struct GradOp {
  CellView v;
  const double* F;
  double* y;
  EF_HD void operator()(int64_t c) const {
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

// out[i] = (coarser field interpolated at node i) + add[i], K components (T: the storage type; the
// arithmetic is double); node i's prolongation parent is the coarse cell parent[i]. out may be
// add (in place).
template <int K, class T = double>
struct ProlongOp {
  const uint64_t* node_key;
  const int32_t* parent;
  const uint64_t* pkey;
  const int32_t* pcorner;
  const T* in;
  const T* add;
  T* out;
  EF_HD void operator()(int64_t i) const {
    int64_t q[3], pc[3];
    unpack_node(node_key[i], q);
    const int32_t c = parent[i];
    unmorton(pkey[c], pc);
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
      if (add) r += (double)add[K * i + k];
      out[K * i + k] = (T)r;
    }
  }
};

// out[a] += sum over fine nodes f of phi_a(f) * y[f] (the transpose of ProlongOp<1>): each coarse
// cell gathers the fine nodes it is the prolongation parent of (kids CSR) into its corners.
struct RestrictOp {
  CellView v;  // coarse level
  const int32_t* kid_off;
  const int32_t* kids;
  const uint64_t* fine_key;
  const double* y;
  double* out;
  EF_HD void operator()(int64_t c) const {  // coarse cell c
    int64_t pc[3];
    unmorton(v.key[c], pc);
    double acc[8];
    for (int k = 0; k < 8; ++k) acc[k] = 0;
    for (int32_t e = kid_off[c]; e < kid_off[c + 1]; ++e) {
      const int32_t f = kids[e];
      int64_t q[3];
      unpack_node(fine_key[f], q);
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

}  // namespace poisson
}  // namespace ef
