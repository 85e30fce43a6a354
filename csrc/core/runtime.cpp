// SPDX-License-Identifier: Apache-2.0
#include "runtime.h"

#include <cstdio>
#include <string>

#include "error.h"

#include "thread_pool.h"

namespace ef {

#if EF_WITH_CUDA
// Implemented in runtime_cuda.cu.
int cuda_device_count_impl(std::string* err);
void cuda_set_device_impl(int index);
void cuda_copy_to_host_impl(void* dst, const void* src, size_t bytes);
int64_t cuda_free_memory_impl();
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
  const std::string archs = EF_CUDA_ARCHS;  // "80,90" (CMake's list, comma-separated)
  int value = 0;
  bool any = false;
  for (char ch : archs + ",") {
    if (ch >= '0' && ch <= '9') {
      value = value * 10 + (ch - '0');
      any = true;
    } else if (ch == ',') {
      if (any) out.push_back(value);
      value = 0;
      any = false;
    }
  }
#endif
  return out;
}

int64_t available_memory(bool cuda) {
  if (cuda) {
#if EF_WITH_CUDA
    return cuda_free_memory_impl();
#else
    return -1;
#endif
  }
  // Linux: MemAvailable from /proc/meminfo (what can be allocated without swapping). Plain C stdio
  // on purpose: it is the least that can differ between the toolchain that built the extension
  // and the C++ runtime already loaded into the host process.
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  int64_t result = -1;
  while (std::fgets(line, sizeof(line), f)) {
    long long kb = 0;
    if (std::sscanf(line, "MemAvailable: %lld", &kb) == 1) {
      result = (int64_t)kb * 1024;
      break;
    }
  }
  std::fclose(f);
  return result;
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
