// SPDX-License-Identifier: Apache-2.0
// Host dispatcher: validates, fits the samples in the unit cube, builds the hierarchy, runs the
// backend's solver, extracts the surface.
#include "poisson.h"

#include <chrono>
#include <cmath>
#include <vector>

#include "../csrc/core/error.h"
#include "../csrc/core/parallel.h"
#include "../csrc/core/runtime.h"
#include "backends.h"
#include "octree.h"

namespace ef {
namespace poisson {

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
void check_params(const Params& p) {
  EF_CHECK(p.depth >= 1 && p.depth <= kMaxDepth, "depth must be in [1, ", kMaxDepth, "], got ", p.depth);
  EF_CHECK(std::isfinite(p.point_weight) && p.point_weight >= 0, "point_weight must be a finite number >= 0, got ",
           p.point_weight);
  EF_CHECK(std::isfinite(p.samples_per_node) && p.samples_per_node > 0,
           "samples_per_node must be a finite number > 0, got ", p.samples_per_node);
  EF_CHECK(std::isfinite(p.scale) && p.scale >= 1.0 && p.scale <= 100.0, "scale must be in [1, 100], got ", p.scale);
  EF_CHECK(p.full_depth >= 0, "full_depth must be >= 0, got ", p.full_depth);
  EF_CHECK(p.iterations >= 1, "iterations must be >= 1, got ", p.iterations);
  EF_CHECK(p.dense_iterations >= 1, "dense_iterations must be >= 1, got ", p.dense_iterations);
  EF_CHECK(p.band >= 1 && p.band <= 4, "band must be in [1, 4], got ", p.band);
  EF_CHECK(std::isfinite(p.cg_tol) && p.cg_tol > 0, "cg_tol must be a finite number > 0, got ", p.cg_tol);
}
}  // namespace

Result reconstruct(const Params& prm, const Inputs& in, const Progress& progress) {
  check_params(prm);
  if (prm.cuda) EF_CHECK(built_with_cuda() && cuda_device_count() > 0,
                         "device: CUDA is not available (built with CUDA: ", built_with_cuda(), ")");
  const int64_t n = in.n;
  EF_CHECK(n > 0 && in.points && in.normals, "points: no points");
  EF_CHECK(n >= 2, "points: need at least 2 points, got ", n);
  EF_CHECK(n < (int64_t(1) << 31) - 1, "points: at most 2^31 - 1 points, got ", n);
  Result res;
  double t0 = now();
  // Bounding cube.
  double lo[3], hi[3];
  for (int d = 0; d < 3; ++d) lo[d] = INFINITY, hi[d] = -INFINITY;
  double wsum = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int d = 0; d < 3; ++d) {
      const double x = in.points[3 * i + d];
      EF_CHECK(std::isfinite(x), "points: row ", i, " is not finite");
      lo[d] = std::min(lo[d], x);
      hi[d] = std::max(hi[d], x);
    }
    if (in.confidence) {
      const double c = in.confidence[i];
      EF_CHECK(std::isfinite(c) && c >= 0, "confidence: entry ", i, " must be finite and >= 0, got ", c);
      wsum += c;
    }
  }
  if (in.confidence) EF_CHECK(wsum > 0, "confidence: all weights are zero");
  double ext = 0;
  for (int d = 0; d < 3; ++d) ext = std::max(ext, hi[d] - lo[d]);
  EF_CHECK(ext > 0, "points: all points coincide");
  res.width = ext * prm.scale;
  for (int d = 0; d < 3; ++d) res.center[d] = 0.5 * (lo[d] + hi[d]);
  Vec<double> unit(3 * n), nrm(3 * n);
  // The cube is [0, 1)^3; a point on the far side (scale = 1) is kept inside by the clamping of the
  // cell index.
  for (int64_t i = 0; i < n; ++i) {
    double len = 0;
    for (int d = 0; d < 3; ++d) {
      unit[3 * i + d] = (in.points[3 * i + d] - res.center[d]) / res.width + 0.5;
      const double v = in.normals[3 * i + d];
      EF_CHECK(std::isfinite(v), "normals: row ", i, " is not finite");
      len += v * v;
    }
    len = std::sqrt(len);
    EF_CHECK(len > 0 && std::isfinite(len), "normals: row ", i, " has zero length");
    for (int d = 0; d < 3; ++d) nrm[3 * i + d] = in.normals[3 * i + d] / len;
  }
  Tree t;
  t.block_shift = prm.cuda ? 1 : 2;  // CUDA: more, smaller tasks per pass
  if (in.groups) {
    EF_CHECK(in.ngroups >= 1 && in.ngroups <= n, "density_groups: ids must be 0 .. G - 1 with G <= N (got G = ",
             in.ngroups, " for ", n, " points)");
    for (int64_t i = 0; i < n; ++i)
      EF_CHECK(in.groups[i] >= 0 && in.groups[i] < in.ngroups, "density_groups: entry ", i, " is ", in.groups[i],
               ", outside [0, ", in.ngroups, ")");
  }
  const int64_t need = prepare_samples(t, unit.data(), nrm.data(), in.confidence, in.groups, in.ngroups, n,
                                       prm.depth, prm.full_depth, prm.samples_per_node, prm.point_weight, prm.band);
  res.memory_estimate = need;
  const int64_t have = prm.max_memory >= 0 ? (int64_t)prm.max_memory : available_memory(false);
  if (have > 0 && need > have)
    throw MemoryError(detail::concat("poisson.reconstruct: depth ", prm.depth, " with ", n,
                                     " points needs about ", need >> 20, " MiB, only ", have >> 20,
                                     " MiB are available (lower depth)"));
  Vec<double>().swap(unit);
  double t_splat = 0;
  build_levels(t, nrm.data(), &t_splat);
  Vec<double>().swap(nrm);
  res.timings.push_back({"tree", now() - t0 - t_splat});
  res.timings.push_back({"splat", t_splat});
  res.finest_level = t.finest;
  for (const Level& L : t.levels) res.nodes.push_back(L.nnodes());
  res.alpha = t.alpha;

  if (prm.cuda) {
    EF_CHECK(built_with_cuda(), "device: econ_fast was built without CUDA; rebuild with EF_WITH_CUDA=ON");
#if EF_WITH_CUDA
    cuda::poisson_solve(t, prm, progress, res.timings);
#endif
  } else {
    cpu::poisson_solve(t, prm, progress, res.timings);
  }
  for (const Level& L : t.levels) res.iterations.push_back(L.iterations);

  t0 = now();
  rebuild_tables(t);
  // Iso-value: weighted mean of chi at the samples (a fixed-chunk sum: the same for any thread count).
  struct IsoTerm {
    const Tree* t;
    EF_HD Sums<2> operator()(int64_t i) const {
      Sums<2> s;
      s[0] = t->s.w[i] * eval_point(*t, &t->s.pos[3 * i], false);
      s[1] = t->s.w[i];
      return s;
    }
  };
  cpu::Reducer red;
  const Sums<2> iso = red.sum<Sums<2>>(n, IsoTerm{&t});
  res.iso_value = iso[1] > 0 ? iso[0] / iso[1] : 0.0;
  // The extraction reads the samples' levels only.
  Vec<double>().swap(t.s.pos);
  Vec<double>().swap(t.s.w);
  Vec<uint64_t>().swap(t.s.key);
  Vec<double>().swap(t.s.dev);
  if (!prm.debug) {
    Vec<int32_t>().swap(t.s.order);
    Vec<double>().swap(t.s.area);
    Vec<uint8_t>().swap(t.s.thin);
    Vec<double>().swap(t.s.ws);
  }
  Vec<double> vu;
  extract(t, res.iso_value, vu, res.faces, res.density);
  res.vertices.resize(vu.size());
  for (size_t i = 0; i < vu.size(); i += 3)
    for (int d = 0; d < 3; ++d) res.vertices[i + d] = (vu[i + d] - 0.5) * res.width + res.center[d];
  res.timings.push_back({"extract", now() - t0});
  if (prm.debug) {
    for (const Level& L : t.levels)
      res.levels.push_back(LevelDebug{std::vector<uint64_t>(L.node_key.begin(), L.node_key.end()),
                                      std::vector<double>(L.U.begin(), L.U.end())});
    res.sample_area.resize(n);
    res.sample_level.resize(n);
    res.sample_thin.resize(n);
    res.sample_screen.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      res.sample_area[t.s.order[i]] = t.s.area[i];
      res.sample_level[t.s.order[i]] = t.s.level[i];
      res.sample_thin[t.s.order[i]] = t.s.thin[i];
      res.sample_screen[t.s.order[i]] = t.s.ws[i];
    }
  }
  return res;
}

}  // namespace poisson
}  // namespace ef
