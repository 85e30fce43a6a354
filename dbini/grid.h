// SPDX-License-Identifier: Apache-2.0
// Host-side pixel grid of a d-BiNI problem and its aggregation hierarchy (built once per solve;
// the sparsity never changes across IRLS iterations, only values do).
#pragma once

#include <cstdint>
#include <vector>

namespace ef {
namespace dbini {

// One level of the hierarchy. Level 0 holds the masked pixels in row-major order (ECON's unknown
// order); level l+1 aggregates the level-l cells of each 2x2 block of the level-l grid.
struct Level {
  int64_t n = 0;                          // cells per side
  int gh = 0, gw = 0;                     // grid size at this level
  std::vector<int32_t> ci, cj;            // grid coordinates of each cell (host only)
  std::vector<int32_t> nT, nB, nL, nR;    // 4-neighbour cell index at this level, -1 if none
  std::vector<int32_t> red, black;        // cells with (ci + cj) even / odd
  std::vector<int32_t> child;             // 4 per cell: children at level-1, -1 if none (l >= 1)
  std::vector<int32_t> parent;            // cell index at level+1 (empty on the coarsest level)
};

struct Grid {
  int H = 0, W = 0;
  int64_t N = 0;                 // masked pixels (unknowns per side)
  std::vector<int32_t> pix;      // flat pixel index (row * W + col) of each unknown
  std::vector<uint8_t> boundary; // 1 on ECON's silhouette set (mask minus paired interior pixels)
  std::vector<Level> levels;     // levels[0] is the pixel level
};

// Builds level 0 only (enough for the Jacobi solver) or the whole hierarchy.
Grid build_grid(const uint8_t* mask, int H, int W, bool hierarchy, int64_t coarse_cells);

}  // namespace dbini
}  // namespace ef
