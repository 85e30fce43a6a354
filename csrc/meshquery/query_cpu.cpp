// SPDX-License-Identifier: Apache-2.0
// CPU (OpenMP) instantiation of query_impl.h.
#include "query_impl.h"
