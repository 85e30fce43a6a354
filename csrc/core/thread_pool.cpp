// SPDX-License-Identifier: Apache-2.0
#include "thread_pool.h"

#include <chrono>
#include <cstdlib>

namespace ef {
namespace cpu {

namespace {
thread_local bool t_in_region = false;

struct RegionGuard {
  bool prev;
  RegionGuard() : prev(t_in_region) { t_in_region = true; }
  ~RegionGuard() { t_in_region = prev; }
};

int default_threads() {
  const char* env = std::getenv("EF_NUM_THREADS");
  if (!env) env = std::getenv("OMP_NUM_THREADS");
  if (env) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? (int)hw : 1;
}

constexpr uint64_t kIndexMask = 0xffffffffull;  // also the "closed" index: no chunk claimable
// How long an idle worker polls for the next loop before it sleeps. Solvers issue loops back to
// back with short serial gaps (coarse multigrid levels); waking a sleeping thread costs a futex
// round trip, so a worker keeps polling (yielding the core to other processes) for a while.
constexpr int kSpinMicros = 500;
}  // namespace

bool in_parallel_region() { return t_in_region; }

ThreadPool& ThreadPool::instance() {
  // Leaked on purpose: workers must not be joined during static destruction at interpreter exit.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

ThreadPool::ThreadPool() {
  const int n = default_threads();
  nthreads_.store(n);
  start_workers(n - 1);
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::start_workers(int n) {
  stop_.store(false);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(sleep_mu_);
    stop_.store(true);
  }
  sleep_cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::set_num_threads(int n) {
  if (n < 1) n = 1;
  std::lock_guard<std::mutex> lk(run_mu_);
  if (n == nthreads_.load()) return;
  stop_workers();
  nthreads_.store(n);
  start_workers(n - 1);
}

bool ThreadPool::claim_and_run(uint64_t gen) {
  bool ran = false;
  uint64_t s = state_.load(std::memory_order_acquire);
  while ((s >> 32) == gen && (int64_t)(s & kIndexMask) < nchunks_.load(std::memory_order_relaxed)) {
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      // The claim succeeded for generation `gen`, whose job fields cannot change until every one
      // of its chunks (this one included) is done.
      const int64_t c = (int64_t)(s & kIndexMask);
      {
        RegionGuard g;
        fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), c);
      }
      done_.fetch_add(1, std::memory_order_acq_rel);
      ran = true;
      s = state_.load(std::memory_order_acquire);
    }
  }
  return ran;
}

void ThreadPool::worker_loop(int) {
  uint64_t seen = 0;  // last generation this worker took part in
  // A job is available when the generation moved on and its index is open (not kClosed).
  auto available = [&](uint64_t s) { return (s >> 32) != seen && (s & kIndexMask) != kIndexMask; };
  while (true) {
    // Spin briefly for the next job (solvers issue loops back to back), then sleep.
    uint64_t s = state_.load(std::memory_order_acquire);
    auto t0 = std::chrono::steady_clock::now();
    int spins = 0;
    while (!available(s) && !stop_.load(std::memory_order_relaxed)) {
      if (++spins % 64 == 0) {
        if (std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(kSpinMicros)) break;
        std::this_thread::yield();
      }
      s = state_.load(std::memory_order_acquire);
    }
    if (stop_.load()) return;
    if (!available(s)) {
      std::unique_lock<std::mutex> lk(sleep_mu_);
      sleepers_.fetch_add(1);
      sleep_cv_.wait(lk, [&] { return stop_.load() || available(state_.load(std::memory_order_acquire)); });
      sleepers_.fetch_sub(1);
      if (stop_.load()) return;
      s = state_.load(std::memory_order_acquire);
    }
    seen = s >> 32;
    claim_and_run(seen);
  }
}

void ThreadPool::run(int64_t nchunks, ChunkFn fn, const void* ctx) {
  if (nchunks <= 0) return;
  std::unique_lock<std::mutex> lk(run_mu_, std::try_to_lock);
  if (nchunks == 1 || t_in_region || !lk.owns_lock() || workers_.empty()) {
    RegionGuard g;
    for (int64_t c = 0; c < nchunks; ++c) fn(ctx, c);
    return;
  }
  // Close first: a worker still holding a state value of the previous job can then never claim
  // (its compare-exchange fails), even if it reads the new job's chunk count below. Only then are
  // the job fields written, and the job opened.
  const uint64_t gen = (state_.load(std::memory_order_relaxed) >> 32) + 1;
  state_.store((gen << 32) | kIndexMask);
  nchunks_.store(nchunks, std::memory_order_relaxed);
  fn_.store(fn, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  // seq_cst store / load pair with the sleeper count: either the worker sees the new generation
  // before it sleeps, or we see it sleeping and wake it (a missed wake-up only means the caller
  // runs more chunks itself).
  state_.store(gen << 32);  // opens the job
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> sl(sleep_mu_);
    sleep_cv_.notify_all();
  }
  claim_and_run(gen);
  // Every chunk is claimed; wait only for chunks still running on workers.
  int spins = 0;
  while (done_.load(std::memory_order_acquire) < nchunks) {
    if (++spins > 256) std::this_thread::yield();
  }
}

}  // namespace cpu
}  // namespace ef
