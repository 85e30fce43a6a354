// SPDX-License-Identifier: Apache-2.0
// Host dispatcher: validates, builds the pixel grid on the host, runs the backend's solver.
#include "dbini.h"

#include <cmath>
#include <exception>
#include <mutex>
#include <vector>


#include "../csrc/core/error.h"
#include "../csrc/core/runtime.h"
#include "../csrc/core/thread_pool.h"
#include "backends.h"
#include "grid.h"

namespace ef {
namespace dbini {

namespace {

void check_params(const Params& p, const Inputs& in) {
  EF_CHECK(in.sides == 1 || in.sides == 2, "normals: expected 1 or 2 sides, got ", in.sides);
  EF_CHECK(in.H > 0 && in.W > 0, "normals: image size must be positive, got ", in.H, "x", in.W);
  EF_CHECK(in.normals && in.mask, "normals and mask must not be null");
  EF_CHECK(std::isfinite(p.k) && p.k >= 0, "k must be a finite number >= 0, got ", p.k);
  EF_CHECK(std::isfinite(p.lambda_depth) && p.lambda_depth >= 0, "lambda_depth must be >= 0, got ", p.lambda_depth);
  EF_CHECK(std::isfinite(p.lambda_boundary) && p.lambda_boundary >= 0, "lambda_boundary must be >= 0, got ",
           p.lambda_boundary);
  EF_CHECK(p.max_iter >= 1, "max_iter must be >= 1, got ", p.max_iter);
  EF_CHECK(std::isfinite(p.tol) && p.tol >= 0, "tol must be >= 0, got ", p.tol);
  EF_CHECK(p.cg_max_iter >= 1, "cg_max_iter must be >= 1, got ", p.cg_max_iter);
  EF_CHECK(std::isfinite(p.cg_tol) && p.cg_tol > 0, "cg_tol must be > 0, got ", p.cg_tol);
  EF_CHECK(std::isfinite(p.depth_scale) && p.depth_scale > 0, "depth_scale must be > 0, got ", p.depth_scale);
  EF_CHECK(p.mg_smooth >= 1 && p.mg_smooth <= 8, "mg_smooth must be in [1, 8], got ", p.mg_smooth);
  EF_CHECK(p.mg_coarse_cells >= 1, "mg_coarse_cells must be >= 1, got ", p.mg_coarse_cells);
  EF_CHECK(std::isfinite(p.mg_omega) && p.mg_omega > 0 && p.mg_omega < 2, "mg_omega must be in (0, 2), got ", p.mg_omega);
  EF_CHECK(p.mg_cycle >= 0 && p.mg_cycle <= 2, "mg_cycle must be 0, 1 or 2, got ", p.mg_cycle);
  EF_CHECK(std::isfinite(p.cg_tol_adaptive) && p.cg_tol_adaptive >= 0, "cg_tol_adaptive must be >= 0, got ",
           p.cg_tol_adaptive);
  if (p.perspective) {
    EF_CHECK(std::isfinite(p.fx) && std::isfinite(p.fy) && p.fx > 0 && p.fy > 0,
             "K: focal lengths must be finite and > 0, got fx=", p.fx, " fy=", p.fy);
    EF_CHECK(std::isfinite(p.cx) && std::isfinite(p.cy), "K: principal point must be finite");
  }
}

Report solve_one(const Params& params, const Inputs& in, const Outputs& out, const Progress& progress) {
  check_params(params, in);
  EF_CHECK(out.depth, "output depth must not be null");
  const int64_t HW = (int64_t)in.H * in.W;
  EF_CHECK(HW < (int64_t(1) << 31), "normals: an image of ", in.H, "x", in.W,
           " pixels is too large (at most 2^31 pixels)");
  std::vector<uint8_t> mask_host;
  const uint8_t* mask = in.mask;
  if (in.device.is_cuda()) {
    EF_CHECK(built_with_cuda(), "econ_fast was built without CUDA; rebuild with EF_WITH_CUDA=ON");
    cuda_set_device(in.device.index);
    mask_host.resize(HW);
    cuda_copy_to_host(mask_host.data(), in.mask, HW);
    mask = mask_host.data();
  }
  // Refuse, before allocating, a problem that cannot fit: the solver needs about kBytesPerUnknown
  // per unknown plus the host-side index map.
  {
    int64_t count = 0;
    for (int64_t q = 0; q < HW; ++q) count += mask[q] != 0;
    constexpr int64_t kBytesPerUnknown = 260;
    const int64_t need_dev = kBytesPerUnknown * in.sides * count;
    const int64_t need_host = 8 * HW + 64 * count + (in.device.is_cuda() ? 0 : need_dev);
    const int64_t have_host = available_memory(false);
    if (have_host > 0 && need_host > have_host)
      throw MemoryError(detail::concat("d-BiNI with ", count, " masked pixels per side needs about ", need_host >> 20,
                                       " MiB of host memory, only ", have_host >> 20, " MiB are available"));
    if (in.device.is_cuda()) {
      const int64_t have_dev = available_memory(true);
      if (have_dev > 0 && need_dev > have_dev)
        throw MemoryError(detail::concat("d-BiNI with ", count, " masked pixels per side needs about ",
                                         need_dev >> 20, " MiB of GPU memory, only ", have_dev >> 20,
                                         " MiB are free"));
    }
  }
  const bool mg = params.solver == SolverKind::Multigrid;
  Grid g = build_grid(mask, in.H, in.W, mg, params.mg_coarse_cells);
  EF_CHECK(g.N > 0, "mask: no pixel is selected (the mask, or the valid normals, are empty)");
#if EF_WITH_CUDA
  if (in.device.is_cuda()) return cuda::dbini_solve(params, in, out, g, progress);
#endif
  return cpu::dbini_solve(params, in, out, g, progress);
}

}  // namespace

Report solve(const Params& params, const Inputs& in, const Outputs& out, const Progress& progress) {
  return solve_one(params, in, out, progress);
}

std::vector<Report> solve_batch(const Params& params, const std::vector<Inputs>& in,
                                const std::vector<Outputs>& out, const std::function<void(int)>& done) {
  EF_CHECK(in.size() == out.size(), "batch inputs and outputs differ in length");
  const int n = (int)in.size();
  std::vector<Report> reports(n);
  std::vector<std::exception_ptr> errors(n);
  bool cuda = n > 0 && in[0].device.is_cuda();
  for (int i = 0; i < n; ++i)
    EF_CHECK(in[i].device.is_cuda() == cuda, "batch frames must all live on the same device");
  std::mutex mu;
  auto one = [&](int i) {
    try {
      reports[i] = solve_one(params, in[i], out[i], Progress());
    } catch (...) {
      errors[i] = std::current_exception();
    }
    if (done) {
      std::lock_guard<std::mutex> lock(mu);
      done(i);
    }
  };
  if (cuda) {
    for (int i = 0; i < n; ++i) one(i);
  } else {
    // Frames in parallel, each single-threaded (loops inside a pool task run serially). Every
    // frame's result equals the single-frame solve: the reductions do not depend on the thread
    // count.
    struct Ctx {
      decltype(one)* f;
    } ctx{&one};
    cpu::ThreadPool::instance().run(
        n, [](const void* c, int64_t i) { (*static_cast<const Ctx*>(c)->f)((int)i); }, &ctx);
  }
  for (int i = 0; i < n; ++i)
    if (errors[i]) std::rethrow_exception(errors[i]);
  return reports;
}

}  // namespace dbini
}  // namespace ef
