// SPDX-License-Identifier: Apache-2.0
// The two instantiations of solver_impl.h.
#pragma once

#include "dbini.h"
#include "grid.h"

namespace ef {
namespace cpu {
dbini::Report dbini_solve(const dbini::Params&, const dbini::Inputs&, const dbini::Outputs&, const dbini::Grid&,
                          const dbini::Progress&);
}
namespace cuda {
dbini::Report dbini_solve(const dbini::Params&, const dbini::Inputs&, const dbini::Outputs&, const dbini::Grid&,
                          const dbini::Progress&);
}
}  // namespace ef
