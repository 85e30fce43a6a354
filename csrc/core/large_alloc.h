// SPDX-License-Identifier: Apache-2.0
// An allocator that maps large arrays straight from the operating system and unmaps them when freed.
//
// glibc's malloc serves a block above its mmap threshold with mmap, but the threshold rises to the
// size of the largest mmapped block freed so far (up to 32 MiB): after a solver frees its first
// vectors of a few tens of MiB, every later allocation below that size comes from the heap, and
// the heap keeps freed pages resident between the phases that reuse them in different sizes. On
// the Poisson solver that fragmentation was 50-80 MB of the peak resident memory (300k points,
// depth 9). Arrays of at least kLargeBytes through this allocator always own their pages and
// return them at once; smaller ones use operator new. The process-wide malloc settings are left
// alone (they belong to the host program).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define EF_LARGE_ALLOC_MMAP 1
#else
#define EF_LARGE_ALLOC_MMAP 0
#endif

namespace ef {

constexpr size_t kLargeBytes = size_t(1) << 20;

template <class T>
struct LargeAllocator {
  using value_type = T;
  LargeAllocator() noexcept = default;
  template <class U>
  LargeAllocator(const LargeAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    if (n > size_t(-1) / sizeof(T)) throw std::bad_alloc();
    const size_t bytes = n * sizeof(T);
#if EF_LARGE_ALLOC_MMAP
    if (bytes >= kLargeBytes) {
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      return static_cast<T*>(p);
    }
#endif
    return static_cast<T*>(::operator new(bytes));
  }
  void deallocate(T* p, size_t n) noexcept {
#if EF_LARGE_ALLOC_MMAP
    const size_t bytes = n * sizeof(T);
    if (bytes >= kLargeBytes) {
      munmap(p, bytes);
      return;
    }
#endif
    (void)n;
    ::operator delete(p);
  }
};
template <class T, class U>
bool operator==(const LargeAllocator<T>&, const LargeAllocator<U>&) noexcept { return true; }
template <class T, class U>
bool operator!=(const LargeAllocator<T>&, const LargeAllocator<U>&) noexcept { return false; }

// A std::vector whose storage, when large, is mapped pages (see above).
template <class T>
using LargeVector = std::vector<T, LargeAllocator<T>>;

}  // namespace ef
