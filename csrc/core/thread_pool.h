// SPDX-License-Identifier: Apache-2.0
// The CPU backend's thread pool: "caller runs, nobody waits for a sleeper".
//
// Why not OpenMP's fork/join: every parallel region ends in a barrier that needs every team thread
// to arrive. When another process holds a core, a team thread is descheduled for a whole time
// slice (milliseconds), and an iterative solver with thousands of short regions slows down by
// 10-60x (measured here: a 90 ms d-BiNI solve took 13.8 s on a 2-core machine with the other core
// busy). Here a parallel loop is split into chunks that the caller and the workers claim from one
// atomic counter; the caller returns as soon as every chunk is *done*, without waiting for workers
// that never woke up. A worker that wakes late finds nothing to claim and goes back to sleep.
//
// Results do not depend on which thread ran a chunk: reductions store one partial per chunk and
// sum the partials in chunk order (see Reducer in parallel_cpu.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ef {
namespace cpu {

class ThreadPool {
 public:
  using ChunkFn = void (*)(const void* ctx, int64_t chunk);

  static ThreadPool& instance();

  // Threads used by parallel loops, the calling thread included (>= 1).
  int num_threads() const { return nthreads_.load(std::memory_order_relaxed); }
  void set_num_threads(int n);

  // Runs fn(ctx, c) for c in [0, nchunks), on the caller and the pool's workers. Nested calls
  // (from inside a chunk) and calls while another thread uses the pool run on the caller alone.
  void run(int64_t nchunks, ChunkFn fn, const void* ctx);

  ~ThreadPool();

 private:
  ThreadPool();
  void start_workers(int n);
  void stop_workers();
  void worker_loop(int id);
  bool claim_and_run(uint64_t gen);

  std::atomic<int> nthreads_{1};
  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // one parallel job at a time; others run inline
  // Job state. `state_` packs (generation << 32) | next chunk index; a claim is a CAS on it, so a
  // worker holding a stale generation can never claim a chunk of a newer job.
  std::atomic<uint64_t> state_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> nchunks_{0};
  std::atomic<ChunkFn> fn_{nullptr};
  std::atomic<const void*> ctx_{nullptr};
  // Sleeping.
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

// True while the calling thread executes a chunk (nested loops then run serially).
bool in_parallel_region();

}  // namespace cpu
}  // namespace ef
