// SPDX-License-Identifier: MIT
// io_uring NOP throughput through corio against raw liburing, in the same binary and run:
//   corio_fibers/32, corio_fibers/1   32 (or 1) fibers on one IoUring worker, each awaiting NOPs
//   corio_tasks/32, corio_tasks/1     the same with Task coroutines
//   raw_liburing/32, raw_liburing/1   one thread submitting NOPs in batches of 32 (or 1) and
//                                     reaping them (io_uring_submit_and_wait)
// Items are NOPs; compare items_per_second. Each benchmark iteration runs 32,768 NOPs.
#include "io/nop.hpp"

#include <corio/corio.hpp>

#include <benchmark/benchmark.h>

#include <liburing.h>

#include <cstdio>
#include <vector>

namespace {

constexpr int kNops = 32 * 1024;

void corio_fibers(benchmark::State& state) {
    const int tasks = static_cast<int>(state.range(0));
    corio::IoUring ring({.threads = 1});
    corio::Io io = ring.io();
    for (auto _ : state) {
        std::vector<corio::Future<void>> fs;
        fs.reserve(static_cast<std::size_t>(tasks));
        for (int t = 0; t < tasks; ++t)
            fs.push_back(io.async([io, n = kNops / tasks] {
                for (int i = 0; i < n; ++i) corio::detail::NopOperation(io).await();
            }));
        for (auto& f : fs) f.await();
    }
    state.SetItemsProcessed(state.iterations() * kNops);
}

corio::Task<void> nop_loop(corio::Io io, int n) {
    for (int i = 0; i < n; ++i) co_await corio::detail::NopOperation(io);
}

void corio_tasks(benchmark::State& state) {
    const int tasks = static_cast<int>(state.range(0));
    corio::IoUring ring({.threads = 1});
    corio::Io io = ring.io();
    for (auto _ : state) {
        std::vector<corio::Future<void>> fs;
        fs.reserve(static_cast<std::size_t>(tasks));
        for (int t = 0; t < tasks; ++t) fs.push_back(io.async(nop_loop, io, kNops / tasks));
        for (auto& f : fs) f.await();
    }
    state.SetItemsProcessed(state.iterations() * kNops);
}

void raw_liburing(benchmark::State& state) {
    const unsigned batch = static_cast<unsigned>(state.range(0));
    io_uring ring{};
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN;
    if (io_uring_queue_init_params(256, &ring, &p) != 0) {
        state.SkipWithError("io_uring refused");
        return;
    }
    for (auto _ : state) {
        for (int done = 0; done < kNops; done += static_cast<int>(batch)) {
            for (unsigned i = 0; i < batch; ++i) {
                io_uring_sqe* sqe = io_uring_get_sqe(&ring);
                io_uring_prep_nop(sqe);
                io_uring_sqe_set_data64(sqe, i + 1);
            }
            io_uring_submit_and_wait(&ring, batch);
            unsigned head = 0, seen = 0;
            io_uring_cqe* cqe = nullptr;
            io_uring_for_each_cqe(&ring, head, cqe) {
                benchmark::DoNotOptimize(cqe->res);
                ++seen;
            }
            io_uring_cq_advance(&ring, seen);
        }
    }
    io_uring_queue_exit(&ring);
    state.SetItemsProcessed(state.iterations() * kNops);
}

// Registered in turn (corio, raw, corio, raw) so drift hits both alike.
BENCHMARK(corio_fibers)->Name("io_uring_nop/corio_fibers")->Arg(32)->Arg(1)->UseRealTime();
BENCHMARK(raw_liburing)->Name("io_uring_nop/raw_liburing")->Arg(32)->Arg(1)->UseRealTime();
BENCHMARK(corio_tasks)->Name("io_uring_nop/corio_tasks")->Arg(32)->Arg(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
