// SPDX-License-Identifier: Apache-2.0
// The two instantiations of poisson_impl.h.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "octree.h"
#include "poisson.h"

namespace ef {
namespace cpu {
void poisson_solve(poisson::Tree&, const poisson::Params&, const poisson::Progress&,
                   std::vector<std::pair<std::string, double>>&);
}
namespace cuda {
void poisson_solve(poisson::Tree&, const poisson::Params&, const poisson::Progress&,
                   std::vector<std::pair<std::string, double>>&);
}
}  // namespace ef
