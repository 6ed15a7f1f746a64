// SPDX-License-Identifier: MIT
// Shared by the benchmarks: per-thread allocation counting and control of the process's threads.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

namespace corio::bench {

/// Calls of any global operator new (or new[]) made by the calling thread so far (counted by
/// the replacement operator new in bench_support.cpp).
std::uint64_t thread_allocations() noexcept;

/// Counts the calling thread's allocations between its construction and `report`, which sets
/// the `allocs_per_iter` counter (averaged over the iterations). Construct it just before the
/// `for (auto _ : state)` loop and report just after, so Google Benchmark's own bookkeeping
/// outside the loop is not counted. Allocations on other threads are not seen.
class AllocationScope {
  public:
    AllocationScope() noexcept : start_(thread_allocations()) {}
    void report(benchmark::State& state) const {
        state.counters["allocs_per_iter"] = benchmark::Counter(
            static_cast<double>(thread_allocations() - start_), benchmark::Counter::kAvgIterations);
    }

  private:
    std::uint64_t start_;
};

/// True while the process has never started a second thread. glibc then drops the `lock`
/// prefix from its mutexes (pthread_mutex_lock, so std::mutex), which makes an uncontended
/// std::mutex several times cheaper than any real atomic; the first thread ends that for good.
bool process_is_single_threaded() noexcept;

/// Starts and joins one thread, so the process counts as multi-threaded from now on (as any
/// program running a thread pool is). Idempotent.
void make_process_multithreaded();

/// Runs `F` in a multi-threaded process: the condition every runtime with worker threads
/// lives in, and the one the comparisons are judged on.
template <void (*F)(benchmark::State&)>
void multithreaded(benchmark::State& state) {
    make_process_multithreaded();
    F(state);
}

/// Runs `F` only while the process is still single-threaded (glibc's lock-free fast path for
/// std::mutex); skipped with a note once any thread was started, so register these first.
template <void (*F)(benchmark::State&)>
void single_threaded(benchmark::State& state) {
    if (!process_is_single_threaded()) {
        state.SkipWithError("process is multi-threaded already (register this variant first)");
        return;
    }
    F(state);
}

}  // namespace corio::bench
