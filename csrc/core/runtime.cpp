// SPDX-License-Identifier: Apache-2.0
#include "runtime.h"

#include <sstream>

#include "error.h"

#include "thread_pool.h"

namespace ef {

#if EF_WITH_CUDA
// Implemented in runtime_cuda.cu.
int cuda_device_count_impl(std::string* err);
void cuda_set_device_impl(int index);
void cuda_copy_to_host_impl(void* dst, const void* src, size_t bytes);
#endif

bool built_with_cuda() { return EF_WITH_CUDA != 0; }

int cuda_device_count() {
#if EF_WITH_CUDA
  std::string err;
  return cuda_device_count_impl(&err);
#else
  return 0;
#endif
}

std::string cuda_runtime_error() {
#if EF_WITH_CUDA
  std::string err;
  cuda_device_count_impl(&err);
  return err;
#else
  return "built without CUDA";
#endif
}

std::vector<int> cuda_architectures() {
  std::vector<int> out;
#ifdef EF_CUDA_ARCHS
  std::stringstream ss(EF_CUDA_ARCHS);
  std::string item;
  while (std::getline(ss, item, ';')) {
    try {
      out.push_back(std::stoi(item));
    } catch (...) {
    }
  }
#endif
  return out;
}

int cpu_threads() { return cpu::ThreadPool::instance().num_threads(); }

void set_cpu_threads(int n) { cpu::ThreadPool::instance().set_num_threads(n); }

void cuda_set_device(int index) {
#if EF_WITH_CUDA
  cuda_set_device_impl(index);
#else
  (void)index;
#endif
}

}  // namespace ef

namespace ef {
void cuda_copy_to_host(void* dst, const void* src, size_t bytes) {
#if EF_WITH_CUDA
  cuda_copy_to_host_impl(dst, src, bytes);
#else
  (void)dst;
  (void)src;
  (void)bytes;
  EF_FAIL("econ_fast was built without CUDA");
#endif
}
}  // namespace ef
