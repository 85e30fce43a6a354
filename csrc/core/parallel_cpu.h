// SPDX-License-Identifier: Apache-2.0
// CPU backend of parallel.h (the ThreadPool of thread_pool.h). Include parallel.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "backend.h"
#include "error.h"
#include "large_alloc.h"
#include "thread_pool.h"

namespace ef {
namespace cpu {

// Below this many elements a loop runs on the calling thread: handing work to another thread
// costs about a microsecond, more than a small loop's work.
constexpr int64_t kParallelGrain = 2048;
// Reductions always use chunks of this size, whatever the thread count, so sums are identical
// for any number of threads.
constexpr int64_t kReduceChunk = 2048;

inline int max_threads() { return ThreadPool::instance().num_threads(); }

namespace detail {
template <class Op>
struct ForEachJob {
  const Op* op;
  int64_t n, chunk;
  static void run(const void* ctx, int64_t c) {
    const ForEachJob& j = *static_cast<const ForEachJob*>(ctx);
    const int64_t lo = c * j.chunk, hi = std::min(j.n, lo + j.chunk);
    for (int64_t i = lo; i < hi; ++i) (*j.op)(i);
  }
};
// Ops may offer `T chunk(lo, hi)`: a CPU launcher for a range that must return the same value as
// summing op(i) over it in order (used to lay element maths out for the vectoriser).
template <class Op, class = void>
struct HasChunk : std::false_type {};
template <class Op>
struct HasChunk<Op, decltype((void)std::declval<const Op&>().chunk(int64_t(0), int64_t(0)))> : std::true_type {};

template <class T, class Op>
T reduce_range(const Op& op, int64_t lo, int64_t hi, std::true_type) {
  return op.chunk(lo, hi);
}
template <class T, class Op>
T reduce_range(const Op& op, int64_t lo, int64_t hi, std::false_type) {
  T acc = T();
  for (int64_t i = lo; i < hi; ++i) acc += op(i);
  return acc;
}

template <class T, class Op>
struct ReduceJob {
  const Op* op;
  int64_t n;
  T* part;
  static void run(const void* ctx, int64_t c) {
    const ReduceJob& j = *static_cast<const ReduceJob*>(ctx);
    const int64_t lo = c * kReduceChunk, hi = std::min(j.n, lo + kReduceChunk);
    j.part[c] = reduce_range<T>(*j.op, lo, hi, HasChunk<Op>());
  }
};
}  // namespace detail

// grain: the fewest elements worth handing to another thread (default: cheap elements; pass a
// small grain for heavy ones, e.g. blocks of cells); chunks hold at least grain / 2 elements.
template <class Op>
void for_each(int64_t n, const Op& op, int64_t grain = kParallelGrain) {
  if (n <= 0) return;
  ThreadPool& pool = ThreadPool::instance();
  const int threads = pool.num_threads();
  if (n < grain || threads == 1 || in_parallel_region()) {
    for (int64_t i = 0; i < n; ++i) op(i);
    return;
  }
  // Several chunks per thread, so a thread that is descheduled mid-loop delays little.
  const int64_t chunk = std::max<int64_t>(std::max<int64_t>(1, grain / 2), (n + 8 * threads - 1) / (8 * threads));
  detail::ForEachJob<Op> job{&op, n, chunk};
  pool.run((n + chunk - 1) / chunk, &detail::ForEachJob<Op>::run, &job);
}

class Reducer {
 public:
  template <class T, class Op>
  T sum(int64_t n, const Op& op) {
    static_assert(std::is_trivially_copyable<T>::value, "reduction type must be trivially copyable");
    if (n <= 0) return T();
    const int64_t nchunks = (n + kReduceChunk - 1) / kReduceChunk;
    scratch_.resize(static_cast<size_t>(nchunks) * sizeof(T));
    T* part = reinterpret_cast<T*>(scratch_.data());
    detail::ReduceJob<T, Op> job{&op, n, part};
    ThreadPool& pool = ThreadPool::instance();
    if (n < kParallelGrain || pool.num_threads() == 1 || in_parallel_region()) {
      for (int64_t c = 0; c < nchunks; ++c) detail::ReduceJob<T, Op>::run(&job, c);
    } else {
      pool.run(nchunks, &detail::ReduceJob<T, Op>::run, &job);
    }
    T total = T();
    for (int64_t c = 0; c < nchunks; ++c) total += part[c];
    return total;
  }

 private:
  std::vector<unsigned char> scratch_;
};

template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(int64_t n) : v_(static_cast<size_t>(std::max<int64_t>(n, 0))) {}
  T* data() { return v_.data(); }
  const T* data() const { return v_.data(); }
  int64_t size() const { return static_cast<int64_t>(v_.size()); }
  void resize(int64_t n) { v_.assign(static_cast<size_t>(std::max<int64_t>(n, 0)), T()); }
  void upload(const T* host, int64_t n) {
    if (n > 0) v_.assign(host, host + n);  // one pass (no zero fill before the copy)
    else v_.clear();
  }
  void download(T* host, int64_t n) const {
    if (n > 0) std::memcpy(host, v_.data(), sizeof(T) * n);
  }

 private:
  LargeVector<T> v_;  // large buffers are mapped pages, returned when freed (large_alloc.h)
};

// Copies between caller memory on this backend and the host.
inline void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}
inline void copy_from_host(void* dst, const void* src, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}
inline void synchronize() {}

}  // namespace cpu
}  // namespace ef
