#include "threads.h"

#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GB_PAUSE() _mm_pause()
#else
#define GB_PAUSE() ((void)0)
#endif

namespace glassbox {

namespace {
// Spin this many pause-loops (some tens of microseconds) before sleeping: long enough to bridge
// the gap between two matrix products of one decode step, short enough not to hold a core.
constexpr int kSpinIterations = 2000;
constexpr int kMaxTasks = (1 << 20) - 1;

constexpr uint64_t make_ticket(uint64_t job, uint64_t n_tasks, uint64_t next) {
  return (job << 40) | (n_tasks << 20) | next;
}

int default_threads() {
  if (const char* env = std::getenv("GLASSBOX_KERNEL_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) {
      return std::min(n, 64);
    }
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}
}  // namespace

ThreadPool& ThreadPool::instance() {
  static ThreadPool* pool = [] {
    auto* p = new ThreadPool();  // never destroyed: workers must not race interpreter shutdown
    p->resize(default_threads());
    return p;
  }();
  return *pool;
}

void ThreadPool::stop_workers() {
  stop_.store(true);
  wake_.fetch_add(1);
  wake_.notify_all();
  for (auto& t : workers_) {
    t.join();
  }
  workers_.clear();
  stop_.store(false);
}

void ThreadPool::resize(int n) {
  std::lock_guard<std::mutex> lock(job_mutex_);
  stop_workers();
  // The wake count is read here, not by the new thread: a worker that starts late must still see
  // the next job's (or stop's) increment as a change.
  const uint32_t start = wake_.load();
  for (int i = 1; i < std::max(1, n); ++i) {
    workers_.emplace_back([this, start] { worker_loop(start); });
  }
}

void ThreadPool::run_tasks() {
  uint64_t t = ticket_.load(std::memory_order_acquire);
  while (true) {
    const uint64_t n_tasks = (t >> 20) & kMaxTasks;
    const uint64_t next = t & kMaxTasks;
    if (next >= n_tasks) {
      return;
    }
    if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel)) {
      // A task of this job is claimed, so the job is not finished: fn_ is still its function.
      (*fn_)(static_cast<int>(next));
      done_.fetch_add(1, std::memory_order_release);
      t = ticket_.load(std::memory_order_acquire);
    }
  }
}

void ThreadPool::worker_loop(uint32_t seen) {
  while (true) {
    int spins = 0;
    uint32_t now;
    while ((now = wake_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        GB_PAUSE();
      } else {
        wake_.wait(seen);
      }
    }
    seen = now;
    if (stop_.load()) {
      return;
    }
    run_tasks();
  }
}

void ThreadPool::parallel_for(int n_tasks, const std::function<void(int)>& fn) {
  if (n_tasks <= 0) {
    return;
  }
  if (workers_.empty() || n_tasks == 1) {
    for (int t = 0; t < n_tasks; ++t) {
      fn(t);
    }
    return;
  }
  std::lock_guard<std::mutex> lock(job_mutex_);
  for (int start = 0; start < n_tasks; start += kMaxTasks) {
    const int count = std::min(kMaxTasks, n_tasks - start);
    const std::function<void(int)> shifted = [&](int t) { fn(start + t); };
    fn_ = start == 0 && count == n_tasks ? &fn : &shifted;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t job = ((ticket_.load() >> 40) + 1) & 0xFFFFFF;
    ticket_.store(make_ticket(job, count, 0), std::memory_order_release);
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_all();
    run_tasks();
    for (int spins = 0; done_.load(std::memory_order_acquire) < count; ++spins) {
      if (spins < kSpinIterations) {
        GB_PAUSE();
      } else {
        std::this_thread::yield();  // a worker mid-task was preempted: let it run
      }
    }
  }
  fn_ = nullptr;
}

}  // namespace glassbox
