// SPDX-License-Identifier: MIT
// Queue<int>: put then get on one thread (never waits), against std::mutex + std::deque.
//
// Both sides lock a std::mutex, so both are measured in a single-threaded process (glibc's
// unlocked fast path) and in a multi-threaded one, as in sync_mutex_bench.
#include "bench_support.hpp"

#include <corio/corio.hpp>

#include <benchmark/benchmark.h>

#include <deque>
#include <mutex>
#include <optional>

namespace {

constexpr std::size_t kCapacity = 1024;

void corio_queue(benchmark::State& state) {
    corio::Threaded pool({.async_limit = 0});
    corio::Io io = pool.io();
    corio::Queue<int> q{kCapacity};
    int i = 0;
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        q.put(io, i++).await();
        benchmark::DoNotOptimize(q.get(io).await());
    }
    allocs.report(state);
}

void std_mutex_deque(benchmark::State& state) {
    std::mutex m;
    std::deque<int> q;
    int i = 0;
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        {
            std::lock_guard lock(m);
            q.push_back(i++);
        }
        int v;
        {
            std::lock_guard lock(m);
            v = q.front();
            q.pop_front();
        }
        benchmark::DoNotOptimize(v);
    }
    allocs.report(state);
}

// For scale: the non-waiting calls, which skip the awaitable's operation state.
void corio_queue_try(benchmark::State& state) {
    corio::Queue<int> q{kCapacity};
    int i = 0;
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        benchmark::DoNotOptimize(q.try_put(i++));
        std::optional<int> v = q.try_get();
        benchmark::DoNotOptimize(v);
    }
    allocs.report(state);
}

}  // namespace

using corio::bench::multithreaded;
using corio::bench::single_threaded;

// Registered first: glibc's std::mutex (Queue's lock too) fast path in a single-threaded process.
BENCHMARK(single_threaded<corio_queue>)->Name("sync_queue/single_threaded_process/corio_put_get");
BENCHMARK(single_threaded<std_mutex_deque>)->Name("sync_queue/single_threaded_process/std_mutex_deque");

BENCHMARK(multithreaded<corio_queue>)->Name("sync_queue/corio_put_get");
BENCHMARK(multithreaded<std_mutex_deque>)->Name("sync_queue/std_mutex_deque");
BENCHMARK(multithreaded<corio_queue_try>)->Name("sync_queue/corio_try_put_try_get");

BENCHMARK_MAIN();
