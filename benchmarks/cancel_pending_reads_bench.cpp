// SPDX-License-Identifier: MIT
// Cancelling many pending socket reads at once.
//
//   cancel_pending_reads/<backend>/<style>   10,000 tasks, each parked in a read on its own
//                                            socket (5,000 socketpairs, both ends read, nobody
//                                            writes); the timed part requests the cancellation
//                                            of every task, then awaits every future (each
//                                            ends with Canceled). Manual time: the setup (the
//                                            sockets, the spawns, the wait until every read is
//                                            parked) is not counted.
//
// backend: io_uring (2 workers) or threaded (a thread per blocked read). style: fibers (plain
// functions) or tasks (coroutines), each started with io.concurrent. The figure is the time
// from the first request to the last task's end; a runtime whose cancel goes through locks or
// deferred turns per wait shows it here.
#include <corio/corio.hpp>

#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace {

constexpr std::size_t reads = 10'000;

/// The descriptors the benchmark needs (and then some), within the hard limit.
void raise_fd_limit() {
    rlimit l{};
    if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
        l.rlim_cur = l.rlim_max;
        setrlimit(RLIMIT_NOFILE, &l);
    }
}

void read_plain(corio::Io io, const corio::UnixStream* s, std::atomic<std::size_t>* parked) {
    std::array<std::byte, 64> buf{};
    parked->fetch_add(1, std::memory_order_relaxed);
    (void)s->read(io, buf).await();
}

corio::Task<void> read_task(corio::Io io, const corio::UnixStream* s,
                            std::atomic<std::size_t>* parked) {
    std::array<std::byte, 64> buf{};
    parked->fetch_add(1, std::memory_order_relaxed);
    (void)co_await s->read(io, buf);
}

std::unique_ptr<corio::Backend> make_backend(bool io_uring) {
    if (io_uring) return std::make_unique<corio::IoUring>(corio::IoUring::Options{.threads = 2});
    return std::make_unique<corio::Threaded>();
}

void cancel_pending_reads(benchmark::State& state, bool io_uring, bool tasks) {
    raise_fd_limit();
    std::unique_ptr<corio::Backend> backend;
    try {
        backend = make_backend(io_uring);
    } catch (const std::system_error& e) {
        state.SkipWithError(e.what());
        return;
    }
    corio::Io io(*backend);
    std::vector<std::pair<corio::UnixStream, corio::UnixStream>> pairs;
    pairs.reserve(reads / 2);
    for (std::size_t i = 0; i < reads / 2; ++i) pairs.push_back(corio::UnixStream::pair());
    std::vector<corio::Future<void>> futures;
    futures.reserve(reads);
    std::size_t canceled = 0;
    for (auto _ : state) {
        std::atomic<std::size_t> parked{0};
        for (auto& [a, b] : pairs) {
            for (const corio::UnixStream* s : {&a, &b}) {
                // concurrent: each must run at once (an async may run inline, to its end).
                if (tasks)
                    futures.push_back(io.concurrent(read_task, io, s, &parked));
                else
                    futures.push_back(io.concurrent(read_plain, io, s, &parked));
            }
        }
        // Every task reached its read; then give the reads time to reach the kernel.
        while (parked.load(std::memory_order_relaxed) < reads)
            io.sleep(std::chrono::milliseconds(1)).await();
        io.sleep(std::chrono::milliseconds(50)).await();

        const auto start = std::chrono::steady_clock::now();
        for (auto& f : futures) f.request_cancel();
        for (auto& f : futures) {
            try {
                f.await();
            } catch (const corio::Canceled&) {
                ++canceled;
            }
        }
        const auto end = std::chrono::steady_clock::now();
        state.SetIterationTime(std::chrono::duration<double>(end - start).count());
        futures.clear();
    }
    if (canceled != reads * state.iterations()) state.SkipWithError("a read was not cancelled");
    state.counters["reads"] = static_cast<double>(reads);
}

void register_all() {
    for (bool io_uring : {true, false}) {
        for (bool tasks : {false, true}) {
            const std::string name = std::string("cancel_pending_reads/") +
                                     (io_uring ? "io_uring/" : "threaded/") +
                                     (tasks ? "tasks" : "fibers");
            benchmark::RegisterBenchmark(name.c_str(), [io_uring, tasks](benchmark::State& s) {
                cancel_pending_reads(s, io_uring, tasks);
            })
                ->UseManualTime()
                ->Unit(benchmark::kMillisecond)
                ->Iterations(io_uring ? 5 : 1);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
