// SPDX-License-Identifier: Apache-2.0
// CPU (thread pool) instantiation of query_impl.h.
#include "query_impl.h"
