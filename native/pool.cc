// Persistent thread pool (see pool.h for why it exists and how it is used).
#include "pool.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace beit {

namespace {
thread_local bool tl_in_job = false;

/// Orders a task's streaming (non-temporal) stores, which the atomics below do not, before its
/// completion is counted: the caller reads every task's output once all are counted.
inline void store_fence() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_sfence();
#endif
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

int default_thread_count() {
  const char* env = std::getenv("BEIT_THREADS");
  if (env != nullptr) {
    int n = std::atoi(env);
    if (n > 0) return n > 256 ? 256 : n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? static_cast<int>(hc) : 1;
}

ThreadPool& ThreadPool::instance() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::ThreadPool() { set_threads(default_thread_count()); }

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::set_threads(int n) {
  if (n < 1) n = 1;
  if (n == nthreads_ && static_cast<int>(workers_.size()) == n - 1) return;
  stop_workers();
  nthreads_ = n;
  start_workers(n - 1);
}

void ThreadPool::start_workers(int n) {
  stop_.store(false);
  // The generation is read here, not in the new thread: a job published before the thread gets
  // scheduled must still be seen as new by it.
  const uint64_t gen = generation_.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this, i, gen] { worker_main(i + 1, gen); });
}

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::work_on(uint32_t id, int tid) {
  for (;;) {
    uint64_t w = job_word_.load(std::memory_order_acquire);
    if (static_cast<uint32_t>(w >> 32) != id) return;  // a later job: not ours to touch
    const uint32_t next = static_cast<uint32_t>(w & 0xFFFF);
    const uint32_t count = static_cast<uint32_t>((w >> 16) & 0xFFFF);
    if (next >= count) return;
#ifdef BEIT_POOL_TEST_CLAIM_DELAY
    for (int i = 0; i < BEIT_POOL_TEST_CLAIM_DELAY; ++i) cpu_relax();  // spec/pool.spec.ts only
#endif
    // Success means the word still belongs to job `id` (ids only grow), so job_ is its function.
    if (!job_word_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) continue;
    (*job_.load(std::memory_order_acquire))(static_cast<int>(next), tid);
    store_fence();
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::worker_main(int tid, uint64_t seen) {
  tl_in_job = true;  // a worker never starts nested jobs on the pool
  for (;;) {
    // Spin for a short while: consecutive kernels usually follow each other within microseconds.
    auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(300);
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen) {
      cpu_relax();
      if (++spins == 256) {
        spins = 0;
        if (std::chrono::steady_clock::now() > spin_until) {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
          break;
        }
      }
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    const uint32_t id = static_cast<uint32_t>(job_word_.load(std::memory_order_acquire) >> 32);
    work_on(id, tid);
  }
}

void ThreadPool::run(int ntasks, const std::function<void(int, int)>& fn) {
  if (ntasks <= 0) return;
  if (tl_in_job || workers_.empty() || ntasks == 1) {
    for (int t = 0; t < ntasks; ++t) fn(t, 0);
    return;
  }
  if (ntasks > kMaxJobTasks) {
    // The job word holds 16-bit task numbers: larger jobs run as consecutive chunks.
    for (int t0 = 0; t0 < ntasks; t0 += kMaxJobTasks) {
      const int n = std::min(kMaxJobTasks, ntasks - t0);
      run(n, [&fn, t0](int t, int tid) { fn(t0 + t, tid); });
    }
    return;
  }
  tl_in_job = true;
  uint32_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_.store(&fn, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
#ifdef BEIT_POOL_TEST_PUBLISH_DELAY
    // spec/pool.spec.ts only: widens the window between the stores above becoming visible and the
    // new job word becoming visible, where a stale claim used to succeed.
    for (int i = 0; i < BEIT_POOL_TEST_PUBLISH_DELAY; ++i) cpu_relax();
#endif
    id = static_cast<uint32_t>(job_word_.load(std::memory_order_relaxed) >> 32) + 1;
    job_word_.store((static_cast<uint64_t>(id) << 32) | (static_cast<uint64_t>(ntasks) << 16),
                    std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  work_on(id, 0);
  // Exactly ntasks completions are counted (one per claimed task of this job).
  while (done_.load(std::memory_order_acquire) < ntasks) cpu_relax();
  tl_in_job = false;
}

}  // namespace beit
