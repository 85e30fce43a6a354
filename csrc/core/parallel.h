// SPDX-License-Identifier: Apache-2.0
// One parallel-for, one deterministic reduction and one buffer type per backend, all in
// namespace ef::EF_BACKEND:
//
//   for_each(n, op)            calls op(i) for i in [0, n)               (op: EF_HD functor)
//   Reducer r; r.sum<T>(n, op) returns the sum of op(i) over [0, n)   (T: double or ef::Sums<K>)
//   Buffer<T> b(n)             n elements of backend memory (host vector or cudaMalloc)
//
// Determinism: the CPU reduction sums fixed chunks of kReduceChunk indices, each chunk in index
// order, then the chunk results in order, so its value does not depend on the thread count.
// The CUDA reduction uses a grid size that depends on n only, and a fixed-shape tree in shared
// memory, so it is deterministic run to run (it differs from the CPU value in the last bits).
#pragma once

#include "backend.h"

#if EF_BACKEND_IS_CUDA
#include "parallel_cuda.cuh"
#else
#include "parallel_cpu.h"
#endif
