// SPDX-License-Identifier: MIT
// Task<R>: creating a coroutine and co_awaiting it from another, per item.
//
// The benchmark loop runs inside one root coroutine, started once with io.async on a Threaded
// pool with async_limit = 0 (so it runs inline on this thread), so an iteration is exactly one
// Task<int> created and co_awaited (symmetric transfer in, final_suspend back).
#include "bench_support.hpp"

#include <corio/corio.hpp>

#include <benchmark/benchmark.h>

namespace {

[[gnu::noinline]] corio::Task<int> leaf(int x) { co_return x + 1; }

corio::Task<void> create_and_await(corio::Io, benchmark::State* state) {
    corio::bench::AllocationScope allocs;
    for (auto _ : *state) {
        int v = co_await leaf(1);
        benchmark::DoNotOptimize(v);
    }
    allocs.report(*state);
}

void task_create_await(benchmark::State& state) {
    corio::Threaded pool({.async_limit = 0});
    corio::Io io = pool.io();
    io.async(create_and_await, io, &state).await();
    state.SetItemsProcessed(state.iterations());
}

// Peer for scale: the same body as a plain function call (no coroutine frame).
[[gnu::noinline]] int leaf_plain(int x) noexcept { return x + 1; }

void plain_call(benchmark::State& state) {
    corio::bench::AllocationScope allocs;
    for (auto _ : state) benchmark::DoNotOptimize(leaf_plain(1));
    allocs.report(state);
    state.SetItemsProcessed(state.iterations());
}

}  // namespace

// In a multi-threaded process, as a program with a pool is (see bench_support.hpp).
BENCHMARK(corio::bench::multithreaded<task_create_await>)->Name("core_task/create_and_co_await");
BENCHMARK(corio::bench::multithreaded<plain_call>)->Name("core_task/plain_call");

BENCHMARK_MAIN();
