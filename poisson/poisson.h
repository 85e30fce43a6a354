// SPDX-License-Identifier: Apache-2.0
// Screened Poisson surface reconstruction (Kazhdan, Bolitho, Hoppe, SGP 2006 "Poisson Surface
// Reconstruction"; Kazhdan and Hoppe, ToG 2013 "Screened Poisson Surface Reconstruction"), host API.
//
// Minimises, over an adaptive hierarchy of trilinear (degree-1 FEM) hat functions on [0,1]^3,
//   E(chi) = integral |grad chi - V|^2  +  alpha * sum_i w_i chi(p_i)^2,
//   alpha  = point_weight * (sum_i A_i) / (sum_i w_i)          (the 2013 paper's normalisation),
//            times 2^l on level l of the cascadic solve (see poisson_impl.h), and w_i in the
//            screening adapted to the local scatter of the samples (kScreenBoost in octree.h),
// with natural (Neumann) boundary conditions, V the splatted oriented samples (A_i: the surface
// area a sample stands for), then extracts the level set chi = mean_i(w_i chi(p_i)) / mean(w).
// See octree.h for the hierarchy and poisson_impl.h for the solver.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "../csrc/core/large_alloc.h"

namespace ef {
namespace poisson {

struct Params {
  int depth = 10;                 // finest level (a 2^depth lattice over the padded bounding cube)
  double point_weight = 2.0;      // screening weight (PoissonRecon / Open3D default 2... ECON: 2)
  double samples_per_node = 1.5;  // a sample is splatted at the finest level whose cell holds this many
  double scale = 1.1;             // bounding cube = bbox (largest side) * scale
  int full_depth = 5;             // levels <= full_depth are dense
  int iterations = 8;             // CG iterations per sparse level
  double cg_tol = 1e-3;           // CG stop: ||r|| <= cg_tol * ||b|| on a level
  int dense_iterations = 200;     // CG iteration cap on the dense (coarse) levels
  int band = 2;                   // sparse levels hold the (2 band + 1)^3 cells around each sample's cell
  double max_memory = -1;         // bytes; < 0: the available host memory
  bool debug = false;             // keep per-level node values in the result
  bool cuda = false;              // run the solver on the current CUDA device (hierarchy and
                                  // extraction stay on the host)
};

struct Inputs {
  int64_t n = 0;
  const double* points = nullptr;      // (n, 3)
  const double* normals = nullptr;     // (n, 3), any non-zero length (normalised here)
  const double* confidence = nullptr;  // (n,) or null (all 1)
  const int32_t* groups = nullptr;     // (n,) density groups 0 .. ngroups - 1, or null (one group)
  int32_t ngroups = 0;
};

struct LevelDebug {
  std::vector<uint64_t> node_key;  // x | y << 21 | z << 42 (level lattice coordinates)
  std::vector<double> value;       // chi_l at the nodes
};

struct Result {
  LargeVector<double> vertices;   // (V, 3) input frame
  LargeVector<int32_t> faces;     // (F, 3), outward (towards increasing chi) orientation
  LargeVector<double> density;    // (V,)
  double iso_value = 0;
  int finest_level = 0;
  std::vector<int64_t> nodes;     // active nodes per level
  std::vector<int> iterations;    // CG iterations per level
  std::vector<std::pair<std::string, double>> timings;
  // Frame: unit = (input - center) / width + 0.5.
  double center[3] = {0, 0, 0};
  double width = 1;
  double alpha = 0;
  int64_t memory_estimate = 0;    // bytes: the pre-flight upper bound on the peak (MemoryError above the available)
  // debug only
  std::vector<LevelDebug> levels;
  std::vector<double> sample_area;     // (n,) in input order, unit-cube units
  std::vector<int> sample_level;       // (n,) splat level
  std::vector<int> sample_thin;        // (n,) 1: splatted unsmoothed (an opposite-facing sample near)
  std::vector<double> sample_screen;   // (n,) screening weight (the confidence, adapted: octree.h)
};

// Called after each level's solve with (level, active nodes); return false to cancel.
using Progress = std::function<bool(int, int64_t)>;

Result reconstruct(const Params& params, const Inputs& in, const Progress& progress);

}  // namespace poisson
}  // namespace ef
