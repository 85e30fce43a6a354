// SPDX-License-Identifier: Apache-2.0
// Connected components of a triangle mesh's faces (host code: a union-find over a vertex -> face
// table, sequential; a 400k-face mesh takes a few milliseconds, so there is no CUDA form).
#pragma once

#include <cstdint>
#include <vector>

namespace ef {
namespace mesh {

struct Components {
  int64_t count = 0;
  std::vector<int32_t> label;          // (F,) in [0, count), numbered by each component's first face
  std::vector<int64_t> faces;          // (count,) faces per component
  std::vector<int64_t> vertices;       // (count,) distinct vertices per component (a vertex shared
                                       //   by two components counts in both, as trimesh's split)
};

// Face components of faces (F, 3) over V vertices. edge = true: two faces are connected when they
// share an edge, i.e. a side with the same two vertex indices (trimesh's face adjacency, which ECON
// uses); false: when they share a vertex. A face with a repeated vertex has a side (a, a), which
// connects it only to faces with the same degenerate side. Throws ValueError for indices out of
// [0, V). Deterministic (the partition is unique; labels follow the first face of each part).
Components face_components(const int32_t* faces, int64_t F, int64_t V, bool edge);

}  // namespace mesh
}  // namespace ef
