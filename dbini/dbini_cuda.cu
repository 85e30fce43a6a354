// SPDX-License-Identifier: Apache-2.0
#include "backends.h"
#include "solver_impl.h"

namespace ef {
namespace cuda {
dbini::Report dbini_solve(const dbini::Params& p, const dbini::Inputs& in, const dbini::Outputs& out,
                          const dbini::Grid& g, const dbini::Progress& progress) {
  return dbini_solve_impl(p, in, out, g, progress);
}
}  // namespace cuda
}  // namespace ef
