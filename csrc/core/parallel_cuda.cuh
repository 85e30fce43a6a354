// SPDX-License-Identifier: Apache-2.0
// CUDA backend of parallel.h. Include parallel.h from a .cu file.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "backend.h"
#include "error.h"

#define EF_CUDA_CHECK(call)                                                              \
  do {                                                                                   \
    cudaError_t ef_err_ = (call);                                                        \
    if (ef_err_ != cudaSuccess) EF_FAIL("CUDA error: ", cudaGetErrorString(ef_err_));    \
  } while (0)

namespace ef {
namespace cuda {

constexpr int kBlock = 256;
constexpr int kMaxReduceBlocks = 1024;

template <class Op>
__global__ void for_each_kernel(int64_t n, Op op) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    op(i);
}

inline int grid_for(int64_t n) {
  return (int)std::min<int64_t>((n + kBlock - 1) / kBlock, 65535 * 8);
}

template <class Op>
void for_each(int64_t n, const Op& op, int64_t /*grain: the CPU backend's*/ = 0) {
  if (n <= 0) return;
  for_each_kernel<<<grid_for(n), kBlock>>>(n, op);
  EF_CUDA_CHECK(cudaGetLastError());
}

// Block-wide tree sum in shared memory; the shape of the tree depends only on blockDim.
template <class T>
__device__ T block_sum(T acc, T* s) {
  const int t = threadIdx.x;
  s[t] = acc;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if (t < w) s[t] += s[t + w];
    __syncthreads();
  }
  return s[0];
}

template <class T, class Op>
__global__ void reduce_pass1(int64_t n, Op op, T* partial) {
  extern __shared__ unsigned char ef_smem_raw[];
  T* s = reinterpret_cast<T*>(ef_smem_raw);
  T acc = T();
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    acc += op(i);
  T r = block_sum(acc, s);
  if (threadIdx.x == 0) partial[blockIdx.x] = r;
}

template <class T>
__global__ void reduce_pass2(int nparts, const T* partial, T* out) {
  extern __shared__ unsigned char ef_smem_raw[];
  T* s = reinterpret_cast<T*>(ef_smem_raw);
  T acc = T();
  for (int i = threadIdx.x; i < nparts; i += blockDim.x) acc += partial[i];
  T r = block_sum(acc, s);
  if (threadIdx.x == 0) *out = r;
}

class Reducer {
 public:
  Reducer() = default;
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;
  ~Reducer() {
    if (scratch_) cudaFree(scratch_);
  }
  template <class T, class Op>
  T sum(int64_t n, const Op& op) {
    static_assert(std::is_trivially_copyable<T>::value, "reduction type must be trivially copyable");
    if (n <= 0) return T();
    const int blocks = (int)std::min<int64_t>((n + kBlock - 1) / kBlock, kMaxReduceBlocks);
    const size_t need = sizeof(T) * (blocks + 1);
    if (need > bytes_) {
      if (scratch_) EF_CUDA_CHECK(cudaFree(scratch_));
      scratch_ = nullptr;
      EF_CUDA_CHECK(cudaMalloc(&scratch_, need));
      bytes_ = need;
    }
    T* part = reinterpret_cast<T*>(scratch_);
    reduce_pass1<T><<<blocks, kBlock, sizeof(T) * kBlock>>>(n, op, part);
    EF_CUDA_CHECK(cudaGetLastError());
    reduce_pass2<T><<<1, kBlock, sizeof(T) * kBlock>>>(blocks, part, part + blocks);
    EF_CUDA_CHECK(cudaGetLastError());
    T out;
    EF_CUDA_CHECK(cudaMemcpy(&out, part + blocks, sizeof(T), cudaMemcpyDeviceToHost));
    return out;
  }

 private:
  void* scratch_ = nullptr;
  size_t bytes_ = 0;
};

template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(int64_t n) { resize(n); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : p_(o.p_), n_(o.n_) {
    o.p_ = nullptr;
    o.n_ = 0;
  }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = o.p_;
      n_ = o.n_;
      o.p_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }
  ~Buffer() { release(); }
  T* data() { return p_; }
  const T* data() const { return p_; }
  int64_t size() const { return n_; }
  void resize(int64_t n) {
    release();
    if (n > 0) {
      EF_CUDA_CHECK(cudaMalloc(&p_, sizeof(T) * n));
      EF_CUDA_CHECK(cudaMemset(p_, 0, sizeof(T) * n));
    }
    n_ = std::max<int64_t>(n, 0);
  }
  void upload(const T* host, int64_t n) {
    resize(n);
    if (n > 0) EF_CUDA_CHECK(cudaMemcpy(p_, host, sizeof(T) * n, cudaMemcpyHostToDevice));
  }
  void download(T* host, int64_t n) const {
    if (n > 0) EF_CUDA_CHECK(cudaMemcpy(host, p_, sizeof(T) * n, cudaMemcpyDeviceToHost));
  }

 private:
  void release() {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
  }
  T* p_ = nullptr;
  int64_t n_ = 0;
};

inline void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes) EF_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
inline void copy_from_host(void* dst, const void* src, size_t bytes) {
  if (bytes) EF_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
inline void synchronize() { EF_CUDA_CHECK(cudaDeviceSynchronize()); }
inline int max_threads() { return 1; }

}  // namespace cuda
}  // namespace ef
