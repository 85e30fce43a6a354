// SPDX-License-Identifier: Apache-2.0
// The one place (with parallel.h) that looks at __CUDACC__.
//
// Per-element code is written once as functors whose operator() is EF_HD. A header of such code is
// included into a `*_cpu.cpp` file (compiled by the host compiler, thread-pool backend) and a `*_cuda.cu`
// file (compiled by nvcc, CUDA backend) inside `namespace ef::EF_BACKEND`, which gives two distinct
// symbol sets `ef::cpu::...` and `ef::cuda::...` from one source (the pattern of Open3D's
// core::ParallelFor and its *Impl.h kernels, restated here with functors instead of lambdas).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define EF_HD __host__ __device__
#define EF_BACKEND cuda
#define EF_BACKEND_IS_CUDA 1
#else
#define EF_HD
#define EF_BACKEND cpu
#define EF_BACKEND_IS_CUDA 0
#endif

#define EF_INLINE EF_HD inline

// For the small functions of hot loops (stencil application): the compilers' heuristics otherwise
// leave some of them as calls inside the per-element loops.
#if defined(__CUDACC__)
#define EF_FORCE_INLINE __host__ __device__ __forceinline__
#elif defined(__GNUC__) || defined(__clang__)
#define EF_FORCE_INLINE inline __attribute__((always_inline))
#else
#define EF_FORCE_INLINE inline
#endif

namespace ef {

enum class DeviceKind : int { Cpu = 0, Cuda = 1 };

struct Device {
  DeviceKind kind = DeviceKind::Cpu;
  int index = 0;
  bool is_cuda() const { return kind == DeviceKind::Cuda; }
};

// A fixed-size bundle of sums for reductions that compute several dot products in one pass.
template <int K>
struct Sums {
  double v[K];
  EF_INLINE Sums() {
    for (int i = 0; i < K; ++i) v[i] = 0.0;
  }
  EF_INLINE Sums& operator+=(const Sums& o) {
    for (int i = 0; i < K; ++i) v[i] += o.v[i];
    return *this;
  }
  EF_INLINE double& operator[](int i) { return v[i]; }
  EF_INLINE double operator[](int i) const { return v[i]; }
};

}  // namespace ef
