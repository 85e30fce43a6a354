// SPDX-License-Identifier: Apache-2.0
// What this build can do, asked at run time (never assumed at import).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ef {

bool built_with_cuda();
// Number of usable CUDA devices; 0 when built without CUDA or when the driver reports an error
// (a CUDA build on a GPU-less machine gets cudaErrorInsufficientDriver / NoDevice: we test the error
// code, not the count, which is left unset in that case).
int cuda_device_count();
std::string cuda_runtime_error();  // last error text from the device query, "" if none
std::vector<int> cuda_architectures();
// Bytes of memory available for a new allocation: host (MemAvailable) or the current CUDA device
// (cudaMemGetInfo). Returns -1 when unknown.
int64_t available_memory(bool cuda);
int cpu_threads();
void set_cpu_threads(int n);  // threads of the CPU backend, the caller included
// Selects the CUDA device for the calling thread (no-op without CUDA).
void cuda_set_device(int index);
// Copies bytes from CUDA device memory to the host (throws when built without CUDA).
void cuda_copy_to_host(void* dst, const void* src, size_t bytes);

}  // namespace ef
