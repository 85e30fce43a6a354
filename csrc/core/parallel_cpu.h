// SPDX-License-Identifier: Apache-2.0
// CPU backend of parallel.h (OpenMP when available, serial otherwise). Include parallel.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend.h"
#include "error.h"

namespace ef {
namespace cpu {

// Below this many elements a loop runs on the calling thread: an OpenMP fork/join costs a few
// microseconds, which is more than a small loop's work.
constexpr int64_t kParallelGrain = 4096;
constexpr int64_t kReduceChunk = 2048;

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

template <class Op>
void for_each(int64_t n, const Op& op) {
  if (n <= 0) return;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n >= kParallelGrain && !omp_in_parallel())
  for (int64_t i = 0; i < n; ++i) op(i);
#else
  for (int64_t i = 0; i < n; ++i) op(i);
#endif
}

class Reducer {
 public:
  template <class T, class Op>
  T sum(int64_t n, const Op& op) {
    static_assert(std::is_trivially_copyable<T>::value, "reduction type must be trivially copyable");
    if (n <= 0) return T();
    const int64_t nchunks = (n + kReduceChunk - 1) / kReduceChunk;
    if (nchunks == 1) {
      T acc = T();
      for (int64_t i = 0; i < n; ++i) acc += op(i);
      return acc;
    }
    scratch_.resize(static_cast<size_t>(nchunks) * sizeof(T));
    T* part = reinterpret_cast<T*>(scratch_.data());
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n >= kParallelGrain && !omp_in_parallel())
#endif
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t lo = c * kReduceChunk, hi = std::min(n, lo + kReduceChunk);
      T acc = T();
      for (int64_t i = lo; i < hi; ++i) acc += op(i);
      part[c] = acc;
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
    resize(n);
    if (n > 0) std::memcpy(v_.data(), host, sizeof(T) * n);
  }
  void download(T* host, int64_t n) const {
    if (n > 0) std::memcpy(host, v_.data(), sizeof(T) * n);
  }

 private:
  std::vector<T> v_;
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
