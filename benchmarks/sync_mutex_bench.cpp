// SPDX-License-Identifier: MIT
// Mutex: uncontended lock and unlock on one thread, against std::mutex.
//
// Measured twice: while the process is still single-threaded (glibc then takes std::mutex
// without a locked instruction) and after a thread was started (every real runtime).
#include "bench_support.hpp"

#include <corio/corio.hpp>

#include <benchmark/benchmark.h>

#include <mutex>

namespace {

void corio_mutex(benchmark::State& state) {
    corio::Threaded pool({.async_limit = 0});
    corio::Io io = pool.io();
    corio::Mutex m;
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        m.lock(io).await();
        benchmark::ClobberMemory();
        m.unlock();
    }
    allocs.report(state);
}

void corio_mutex_scoped(benchmark::State& state) {
    corio::Threaded pool({.async_limit = 0});
    corio::Io io = pool.io();
    corio::Mutex m;
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        auto guard = m.scoped_lock(io).await();
        benchmark::ClobberMemory();
    }
    allocs.report(state);
}

void std_mutex(benchmark::State& state) {
    std::mutex m;
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        m.lock();
        benchmark::ClobberMemory();
        m.unlock();
    }
    allocs.report(state);
}

}  // namespace

using corio::bench::multithreaded;
using corio::bench::single_threaded;

// Registered first: glibc's std::mutex fast path while the process has no second thread.
BENCHMARK(single_threaded<corio_mutex>)->Name("sync_mutex/single_threaded_process/corio_lock_unlock");
BENCHMARK(single_threaded<std_mutex>)->Name("sync_mutex/single_threaded_process/std_mutex_lock_unlock");

// The comparison the target is judged on: a process with threads, as any runtime has.
BENCHMARK(multithreaded<corio_mutex>)->Name("sync_mutex/corio_lock_unlock");
BENCHMARK(multithreaded<std_mutex>)->Name("sync_mutex/std_mutex_lock_unlock");
BENCHMARK(multithreaded<corio_mutex_scoped>)->Name("sync_mutex/corio_scoped_lock");

BENCHMARK_MAIN();
