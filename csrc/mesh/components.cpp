// SPDX-License-Identifier: Apache-2.0
#include "components.h"

#include <algorithm>

#include "../core/error.h"

namespace ef {
namespace mesh {

namespace {

int32_t find_root(std::vector<int32_t>& parent, int32_t x) {
  while (parent[(size_t)x] != x) {
    parent[(size_t)x] = parent[(size_t)parent[(size_t)x]];  // path halving
    x = parent[(size_t)x];
  }
  return x;
}

// The smaller index becomes the root, so a component's root is its first face.
void unite(std::vector<int32_t>& parent, int32_t a, int32_t b) {
  a = find_root(parent, a);
  b = find_root(parent, b);
  if (a == b) return;
  if (a < b) parent[(size_t)b] = a;
  else parent[(size_t)a] = b;
}

inline bool same_side(int32_t a, int32_t b, int32_t c, int32_t d) { return (a == c && b == d) || (a == d && b == c); }

}  // namespace

Components face_components(const int32_t* faces, int64_t F, int64_t V, bool edge) {
  EF_CHECK(F >= 0 && V >= 0, "face_components: negative size");
  EF_CHECK(F < (int64_t(1) << 31) / 3, "faces: at most 715,827,882 faces are supported, got ", F);
  for (int64_t i = 0; i < 3 * F; ++i)
    if (faces[i] < 0 || faces[i] >= V)
      throw ValueError(detail::concat("faces[", i / 3, ", ", i % 3, "] = ", faces[i], " is out of range [0, ", V, ")"));
  Components out;
  out.label.assign((size_t)F, 0);
  if (F == 0) return out;
  // Vertex -> faces (CSR, faces in increasing order), each face listed once per distinct vertex.
  std::vector<int64_t> off((size_t)V + 1, 0);
  auto distinct = [&](int64_t f, int j) {
    const int32_t* t = faces + 3 * f;
    return (j == 0) || (j == 1 && t[1] != t[0]) || (j == 2 && t[2] != t[0] && t[2] != t[1]);
  };
  for (int64_t f = 0; f < F; ++f)
    for (int j = 0; j < 3; ++j)
      if (distinct(f, j)) off[(size_t)faces[3 * f + j] + 1]++;
  for (int64_t v = 0; v < V; ++v) off[(size_t)v + 1] += off[(size_t)v];
  std::vector<int32_t> vf((size_t)off[(size_t)V]);
  {
    std::vector<int64_t> fill(off.begin(), off.end() - 1);
    for (int64_t f = 0; f < F; ++f)
      for (int j = 0; j < 3; ++j)
        if (distinct(f, j)) vf[(size_t)fill[(size_t)faces[3 * f + j]]++] = (int32_t)f;
  }
  std::vector<int32_t> parent((size_t)F);
  for (int64_t f = 0; f < F; ++f) parent[(size_t)f] = (int32_t)f;
  if (edge) {
    for (int64_t f = 0; f < F; ++f) {
      const int32_t* t = faces + 3 * f;
      for (int j = 0; j < 3; ++j) {
        const int32_t a = std::min(t[j], t[(j + 1) % 3]), b = std::max(t[j], t[(j + 1) % 3]);
        for (int64_t k = off[(size_t)a]; k < off[(size_t)a + 1]; ++k) {
          const int32_t g = vf[(size_t)k];
          if (g <= f) continue;
          const int32_t* u = faces + 3 * (int64_t)g;
          // g holds a; any two corners of a triangle form a side, so for a != b it shares the
          // side when it holds b. A side (a, a) needs the same degenerate side in g.
          const bool shared = a != b ? (u[0] == b) | (u[1] == b) | (u[2] == b)
                                     : same_side(a, a, u[0], u[1]) || same_side(a, a, u[1], u[2]) || same_side(a, a, u[2], u[0]);
          if (shared) unite(parent, (int32_t)f, g);
        }
      }
    }
  } else {
    for (int64_t v = 0; v < V; ++v)
      for (int64_t k = off[(size_t)v] + 1; k < off[(size_t)v + 1]; ++k) unite(parent, vf[(size_t)off[(size_t)v]], vf[(size_t)k]);
  }
  // Labels in order of first face: a root is the smallest face of its component.
  std::vector<int32_t> id((size_t)F, -1);
  for (int64_t f = 0; f < F; ++f) {
    const int32_t r = find_root(parent, (int32_t)f);
    if (id[(size_t)r] < 0) id[(size_t)r] = (int32_t)out.count++;
    out.label[(size_t)f] = id[(size_t)r];
  }
  out.faces.assign((size_t)out.count, 0);
  for (int64_t f = 0; f < F; ++f) out.faces[(size_t)out.label[(size_t)f]]++;
  // Distinct vertices per component: each vertex counts once for each distinct label around it.
  out.vertices.assign((size_t)out.count, 0);
  std::vector<int32_t> seen;
  for (int64_t v = 0; v < V; ++v) {
    seen.clear();
    for (int64_t k = off[(size_t)v]; k < off[(size_t)v + 1]; ++k) {
      const int32_t l = out.label[(size_t)vf[(size_t)k]];
      if (std::find(seen.begin(), seen.end(), l) == seen.end()) {
        seen.push_back(l);
        out.vertices[(size_t)l]++;
      }
    }
  }
  return out;
}

}  // namespace mesh
}  // namespace ef
