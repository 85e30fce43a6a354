// SPDX-License-Identifier: Apache-2.0
#include "backends.h"
#include "poisson_impl.h"

namespace ef {
namespace cuda {
void poisson_solve(poisson::Tree& t, const poisson::Params& p, const poisson::Progress& progress,
                   std::vector<std::pair<std::string, double>>& timings) {
  poisson_impl::solve_tree_impl(t, p, progress, timings);
}
}  // namespace cuda
}  // namespace ef
