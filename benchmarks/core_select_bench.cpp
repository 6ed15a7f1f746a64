// SPDX-License-Identifier: MIT
// select over two futures that are ready already (inline io.async with async_limit = 0).
//
// The peer builds the same two ready futures and reads the winner without select, so the
// difference between the two is what select itself costs.
#include "bench_support.hpp"

#include <corio/corio.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>

namespace {

[[gnu::noinline]] int trivial(int x) noexcept { return x + 1; }

void select_two_ready(benchmark::State& state) {
    corio::Threaded pool({.async_limit = 0});
    corio::Io io = pool.io();
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        auto a = io.async(trivial, 1);
        auto b = io.async(trivial, 2);
        std::size_t winner = corio::select(io, a, b).await();
        benchmark::DoNotOptimize(winner);
        benchmark::DoNotOptimize(a.await());
    }
    allocs.report(state);
}

void two_ready_no_select(benchmark::State& state) {
    corio::Threaded pool({.async_limit = 0});
    corio::Io io = pool.io();
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        auto a = io.async(trivial, 1);
        auto b = io.async(trivial, 2);
        benchmark::DoNotOptimize(a.await());
        benchmark::DoNotOptimize(b.ready());
    }
    allocs.report(state);
}

}  // namespace

// In a multi-threaded process (io.async takes the pool's std::mutex; see bench_support.hpp).
BENCHMARK(corio::bench::multithreaded<select_two_ready>)->Name("core_select/select_two_ready");
BENCHMARK(corio::bench::multithreaded<two_ready_no_select>)
    ->Name("core_select/two_ready_no_select");

BENCHMARK_MAIN();
