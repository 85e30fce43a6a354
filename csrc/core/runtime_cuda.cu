// SPDX-License-Identifier: Apache-2.0
#include <cuda_runtime.h>

#include <string>

#include "error.h"

namespace ef {

int cuda_device_count_impl(std::string* err) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    if (err) *err = cudaGetErrorString(e);
    cudaGetLastError();  // clear the sticky-free error state
    return 0;
  }
  if (err) err->clear();
  return count;
}

void cuda_set_device_impl(int index) {
  cudaError_t e = cudaSetDevice(index);
  if (e != cudaSuccess) EF_FAIL("cudaSetDevice(", index, "): ", cudaGetErrorString(e));
}

void cuda_copy_to_host_impl(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost);
  if (e != cudaSuccess) EF_FAIL("cudaMemcpy: ", cudaGetErrorString(e));
}

int64_t cuda_free_memory_impl() {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  return (int64_t)free_b;
}

}  // namespace ef
