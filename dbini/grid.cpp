// SPDX-License-Identifier: Apache-2.0
#include "grid.h"

#include <algorithm>

#include "../csrc/core/error.h"

namespace ef {
namespace dbini {

namespace {

// Fills the neighbour tables and colour lists of a level from its cell coordinates and a dense
// (gh x gw) index map.
void link_level(Level& L, const std::vector<int32_t>& index) {
  const int64_t n = L.n;
  L.nT.assign(n, -1);
  L.nB.assign(n, -1);
  L.nL.assign(n, -1);
  L.nR.assign(n, -1);
  L.red.clear();
  L.black.clear();
  for (int64_t p = 0; p < n; ++p) {
    const int i = L.ci[p], j = L.cj[p];
    const int64_t base = (int64_t)i * L.gw;
    if (i > 0) L.nT[p] = index[base - L.gw + j];
    if (i + 1 < L.gh) L.nB[p] = index[base + L.gw + j];
    if (j > 0) L.nL[p] = index[base + j - 1];
    if (j + 1 < L.gw) L.nR[p] = index[base + j + 1];
    (((i + j) & 1) ? L.black : L.red).push_back((int32_t)p);
  }
}

}  // namespace

Grid build_grid(const uint8_t* mask, int H, int W, bool hierarchy, int64_t coarse_cells) {
  Grid g;
  g.H = H;
  g.W = W;
  const int64_t HW = (int64_t)H * W;
  EF_CHECK(HW < (int64_t(1) << 31), "image of ", H, "x", W, " pixels is too large (limit 2^31 pixels)");
  std::vector<int32_t> index(HW, -1);
  Level L0;
  L0.gh = H;
  L0.gw = W;
  for (int64_t q = 0; q < HW; ++q) {
    if (mask[q]) {
      index[q] = (int32_t)g.pix.size();
      g.pix.push_back((int32_t)q);
      L0.ci.push_back((int32_t)(q / W));
      L0.cj.push_back((int32_t)(q % W));
    }
  }
  g.N = (int64_t)g.pix.size();
  L0.n = g.N;
  link_level(L0, index);

  // ECON's silhouette set: interior = all four neighbours in the mask; interior pixels with no
  // interior 4-neighbour are dropped ("discard single point"); boundary = mask XOR interior.
  std::vector<uint8_t> interior(g.N, 0);
  for (int64_t p = 0; p < g.N; ++p)
    interior[p] = L0.nT[p] >= 0 && L0.nB[p] >= 0 && L0.nL[p] >= 0 && L0.nR[p] >= 0;
  g.boundary.assign(g.N, 1);
  for (int64_t p = 0; p < g.N; ++p) {
    if (!interior[p]) continue;
    const bool paired = interior[L0.nT[p]] || interior[L0.nB[p]] || interior[L0.nL[p]] ||
                        interior[L0.nR[p]];
    g.boundary[p] = paired ? 0 : 1;
  }
  g.levels.push_back(std::move(L0));

  if (!hierarchy) return g;
  // Aggregation: cell (i, j) of level l belongs to cell (i/2, j/2) of level l+1. Piecewise-constant
  // prolongation with Galerkin coarse operators keeps every level a 5-point stencil plus the
  // front/back coupling, so one set of kernels serves all levels.
  while (true) {
    Level& F = g.levels.back();
    if (F.n <= coarse_cells || g.levels.size() >= 24) break;
    Level C;
    C.gh = (F.gh + 1) / 2;
    C.gw = (F.gw + 1) / 2;
    std::vector<int32_t> cindex((int64_t)C.gh * C.gw, -1);
    // Coarse cells in row-major order of the coarse grid (deterministic).
    std::vector<uint8_t> used((int64_t)C.gh * C.gw, 0);
    for (int64_t p = 0; p < F.n; ++p) used[(int64_t)(F.ci[p] / 2) * C.gw + F.cj[p] / 2] = 1;
    for (int64_t q = 0; q < (int64_t)used.size(); ++q) {
      if (!used[q]) continue;
      cindex[q] = (int32_t)C.ci.size();
      C.ci.push_back((int32_t)(q / C.gw));
      C.cj.push_back((int32_t)(q % C.gw));
    }
    C.n = (int64_t)C.ci.size();
    // Islands never merge: stop when coarsening no longer pays.
    if (C.n * 10 > F.n * 9) break;
    C.child.assign(4 * C.n, -1);
    F.parent.assign(F.n, -1);
    for (int64_t p = 0; p < F.n; ++p) {
      const int32_t a = cindex[(int64_t)(F.ci[p] / 2) * C.gw + F.cj[p] / 2];
      F.parent[p] = a;
      const int slot = (F.ci[p] & 1) * 2 + (F.cj[p] & 1);
      C.child[4 * (int64_t)a + slot] = (int32_t)p;
    }
    link_level(C, cindex);
    g.levels.push_back(std::move(C));
  }
  return g;
}

}  // namespace dbini
}  // namespace ef
