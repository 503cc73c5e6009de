// Stress program for native/pool.cc, built and run by spec/pool.spec.ts (with and without the
// test-only delays that widen the pool's race windows). Runs many consecutive jobs of varying sizes
// while resizing the pool, and checks that every task of every job runs exactly once and never after
// its job has returned (also for jobs larger than one job word can number, which run in chunks).
// Prints "jobs=N bad=B late=L" and exits 1 when B or L is not 0.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../../native/pool.h"

namespace {
constexpr int kMaxTasks = 64;
std::atomic<int> g_hits[kMaxTasks];
std::atomic<long> g_job{-1};
std::atomic<long> g_late{0};
}  // namespace

int main(int argc, char** argv) {
  const long jobs = argc > 1 ? std::atol(argv[1]) : 100000;
  const int max_threads = argc > 2 ? std::atoi(argv[2]) : 3;
  beit::ThreadPool& pool = beit::ThreadPool::instance();
  pool.set_threads(max_threads);
  long bad = 0;
  // Jobs above the 65535 tasks a job word can number run in chunks: each task still exactly once.
  for (const int n : {65535, 65536, 200001}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    for (auto& h : hits) h.store(0);
    pool.run(n, [&hits](int t, int) { hits[static_cast<size_t>(t)].fetch_add(1); });
    for (auto& h : hits) bad += h.load() != 1;
  }
  for (long j = 0; j < jobs; ++j) {
    const int n = 2 + static_cast<int>((j * 7919) % (kMaxTasks - 2));  // sizes vary job to job
    for (int t = 0; t < n; ++t) g_hits[t].store(0);
    g_job.store(j);
    pool.run(n, [j](int t, int) {
      if (g_job.load() != j) g_late.fetch_add(1);
      g_hits[t].fetch_add(1);
    });
    g_job.store(-1);  // any task of job j running from here on is late
    for (int t = 0; t < n; ++t) bad += g_hits[t].load() != 1;
    if (j % 50 == 49) pool.set_threads(1 + static_cast<int>((j / 50) % max_threads));
  }
  std::printf("jobs=%ld bad=%ld late=%ld\n", jobs, bad, g_late.load());
  return bad == 0 && g_late.load() == 0 ? 0 : 1;
}
