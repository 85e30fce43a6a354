// SPDX-License-Identifier: Apache-2.0
// d-BiNI: depth-aware bilateral normal integration (Cao et al., ECCV 2022 "Bilateral Normal
// Integration"; Xiu et al., CVPR 2023 "ECON", section 3.2), host API.
//
// The energy is ECON's (see ../shared/ECON_SPEC.md section 2 and econ_fast/reference/dbini_ref.py):
//   sum over sides s of  sum_rows w (c * one_sided_difference(z_s) - b)^2          (normal term)
//                     +  lambda_depth * sum_{prior pixels} (z_s - prior_s)^2         (body prior)
//   + lambda_boundary * sum_{silhouette pixels} (z_back - z_front)^2                (consistency)
// minimised by IRLS over the bilateral weights w = sigmoid(k * (...)).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "../csrc/core/backend.h"

namespace ef {
namespace dbini {

enum class SolverKind : int { Jacobi = 0, Multigrid = 1 };

struct Params {
  double k = 4.0;                  // sigmoid sharpness of the bilateral weights
  double lambda_depth = 1e-4;      // body-prior weight (ECON econ.yaml)
  double lambda_boundary = 1e-6;   // front/back silhouette-consistency weight
  int max_iter = 150;              // IRLS iterations
  double tol = 1e-4;               // relative energy change that stops IRLS
  int cg_max_iter = 5000;          // CG steps per IRLS iteration
  double cg_tol = 1e-3;            // CG stop: ||b - K z|| <= cg_tol * ||b||
  SolverKind solver = SolverKind::Multigrid;
  bool pin_boundary_weights = true;  // ECON: w = 0.5 where a pixel lacks a neighbour on that axis
  bool perspective = false;          // log-depth, pinhole intrinsics below (OpenCV convention)
  double fx = 0, fy = 0, cx = 0, cy = 0;
  double depth_scale = 1.0;          // prior and result are multiplied / divided by this
  // Fast solver (SolverKind::Multigrid) internals, chosen by measurement (benchmarks/bm_dbini.py):
  int mg_smooth = 1;               // block Gauss-Seidel sweep pairs before and after the coarse correction
  int mg_coarse_cells = 32;        // coarsen until a level has at most this many cells per side
  double mg_omega = 1.6;           // over-correction of the piecewise-constant coarse correction
                                   // (unsmoothed aggregation under-corrects smooth errors)
  int mg_cycle = 0;                // 0: auto (W-cycle on the CPU, V-cycle on CUDA), 1: V, 2: W
  double cg_tol_adaptive = 0.01;   // fast solver only: CG tolerance min(this, last relative energy
                                   // change), never below cg_tol (inexact solves while IRLS is far
                                   // from converged); 0 disables
};

enum class DType : int { F32 = 0, F64 = 1 };

struct Inputs {
  Device device;
  int sides = 1;  // 1 or 2 (front, back)
  int H = 0, W = 0;
  const void* normals = nullptr;  // (sides, H, W, 3) C-contiguous, dtype
  const void* prior = nullptr;    // (sides, H, W) C-contiguous, dtype, NaN = no prior; may be null
  const uint8_t* mask = nullptr;  // (H, W) C-contiguous, nonzero = unknown
  DType dtype = DType::F32;
};

struct Outputs {
  void* depth = nullptr;  // (sides, H, W) C-contiguous, same dtype and device as the inputs
};

struct Report {
  int iterations = 0;
  int64_t cg_iterations = 0;
  std::vector<int> cg_per_iter;
  std::vector<double> energy;  // E_0 (z = 0, w = 0.5) then one value per IRLS iteration
  bool converged = false;
  int64_t unknowns = 0;
  int mg_levels = 0;
  std::vector<std::pair<std::string, double>> timings;  // seconds per phase
};

// Called after every IRLS iteration with (iteration, energy, cg steps of that iteration).
// Return false to stop early (the result so far is written and the report says not converged).
using Progress = std::function<bool(int, double, int)>;

Report solve(const Params& params, const Inputs& in, const Outputs& out, const Progress& progress);

// Solves many independent problems; on the CPU the frames run in parallel (each single-threaded).
// `done(i)` is called as frame i finishes (from a worker thread; serialised by the caller's lock).
std::vector<Report> solve_batch(const Params& params, const std::vector<Inputs>& in,
                                const std::vector<Outputs>& out, const std::function<void(int)>& done);

}  // namespace dbini
}  // namespace ef
