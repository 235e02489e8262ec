// A small persistent thread pool for the CPU kernels.
//
// MLX has no CPU thread pool: a primitive's work runs on the CPU stream's one thread. The pool
// holds (threads - 1) workers; the calling thread takes tasks of every job too, so a job never
// waits for a worker that has not woken up: the caller only waits for tasks already started.
// Workers spin briefly between jobs (a decode step calls the pool every few microseconds), then
// sleep, so an idle Glassbox costs no CPU.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace glassbox {

class ThreadPool {
 public:
  static ThreadPool& instance();

  // Threads taking part in a job, the caller included (>= 1).
  int size() const {
    return static_cast<int>(workers_.size()) + 1;
  }

  // Stop the workers and start `n - 1` new ones (n >= 1).
  void resize(int n);

  // Run fn(task) for task in [0, n_tasks), spread over the pool; returns when all are done.
  void parallel_for(int n_tasks, const std::function<void(int)>& fn);

 private:
  ThreadPool() = default;
  void worker_loop(uint32_t seen);
  void stop_workers();
  // Claim and run tasks of the current job until none is left.
  void run_tasks();

  std::vector<std::thread> workers_;
  std::mutex job_mutex_;  // one job at a time
  // The job ticket: job number (bits 40..63), task count (20..39), next task (0..19). A task is
  // claimed by a compare-exchange on the whole ticket, so a worker that wakes late for a finished
  // job can never claim a task of the next one with the old job's count.
  std::atomic<uint64_t> ticket_{0};
  std::atomic<uint32_t> wake_{0};  // bumped for every job: what sleeping workers wait on
  std::atomic<int> done_{0};  // tasks of the current job finished
  std::atomic<bool> stop_{false};
  const std::function<void(int)>* fn_ = nullptr;
};

}  // namespace glassbox
