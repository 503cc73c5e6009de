// Persistent thread pool shared by every native kernel.
//
// Why: the engine issues a few hundred kernel calls per forward pass, each lasting from tens of
// microseconds to a few milliseconds. Creating threads per call (or using std::async) would cost
// more than the small kernels themselves, so workers are created once, spin briefly after each job
// (the next kernel usually follows within microseconds) and then sleep on a condition variable.
// The calling (JavaScript) thread always takes part in the work as thread 0.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace beit {

class ThreadPool {
 public:
  /// The process-wide pool. Its size comes from BEIT_THREADS, else the number of usable cores.
  static ThreadPool& instance();

  /// Total number of threads taking part in a job (workers + the caller).
  int threads() const { return nthreads_; }

  /// Resizes the pool (n >= 1). Must not be called from inside a job.
  void set_threads(int n);

  /// Most tasks one job word can number; run() splits larger jobs into chunks of this size.
  static constexpr int kMaxJobTasks = 0xFFFF;

  /// Runs fn(task, thread) for task in [0, ntasks), spread dynamically over the threads.
  /// Returns when every task has finished. Nested calls from inside a task run serially.
  void run(int ntasks, const std::function<void(int task, int thread)>& fn);

  ~ThreadPool();

 private:
  ThreadPool();
  void start_workers(int n);
  void stop_workers();
  void worker_main(int tid, uint64_t seen);
  void work_on(uint32_t id, int tid);

  int nthreads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Job word: bits 63-32 job id, 31-16 task count, 15-0 next unclaimed task. A task is claimed by a
  // CAS on the whole word, only while next < count of that same word: a worker holding the word of a
  // finished job can never claim anything. (A count kept in a separate variable can become visible
  // before the new word does; a stale claim then succeeded against it.) The caller never waits for
  // workers that have no task: a descheduled worker costs nothing unless it holds a task.
  std::atomic<uint64_t> job_word_{0};
  std::atomic<uint64_t> generation_{0};  // bumped per job and on shutdown; workers sleep on it
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
  std::atomic<const std::function<void(int, int)>*> job_{nullptr};
};

/// Default thread count: BEIT_THREADS if set and positive, else the cores this process may use.
int default_thread_count();

}  // namespace beit
