// SPDX-License-Identifier: MIT
// IoUring: fiber yields, spawn + join of fibers and coroutines, and mass sleeps, against
// Boost.Context, Boost.Fiber and Boost.Asio.
//
// Peers run in the same binary and the same run, registered next to what they compare with:
//   yield_ping_pong/corio_fibers        two plain functions (io.async, IoUring threads = 1) that
//                                       both loop on io.yield().await(): one iteration is one
//                                       round trip, a yield of each fiber (two switches: each
//                                       fiber straight to the other; through the scheduler
//                                       once per turn of 64)
//     vs yield_ping_pong/boost_context  two boost::context::fiber contexts, A -> B -> A (two
//                                       jumps, no scheduler)
//     vs yield_ping_pong/boost_context_via_scheduler  two raw fcontext fibers that switch through
//                                       a scheduler loop, A -> S -> B -> S -> A (four jumps, as
//                                       corio's were before fibers switched to each other
//                                       directly)
//     vs yield_ping_pong/boost_fiber    two boost::fibers::fiber, boost::this_fiber::yield() on
//                                       the default (round_robin) scheduler
//   spawn_join/corio_fiber              inside a fiber (IoUring threads = 1):
//                                       io.async(plain fn).await(); the task gets a pooled fiber
//                                       of its own (a fiber never runs a plain task inline)
//     vs spawn_join/boost_context_fiber a boost::context::fiber built on one reused stack
//                                       (created, resumed to its end, destroyed)
//     vs spawn_join/boost_context_fcontext  make_fcontext + one jump_fcontext into it on one
//                                       reused mmap'd stack, and the jump back (the floor)
//     vs spawn_join/boost_fiber         boost::fibers::fiber(f).join() (default stack allocator)
//   spawn_await/corio_task              inside a Task (IoUring threads = 1):
//                                       co_await io.async(coroutine fn); the task is queued on
//                                       the worker, and the awaiter takes it back and runs it
//                                       before it would suspend (what corio does for any such
//                                       await of a task that has not started)
//     vs spawn_await/asio_co_spawn      inside an asio::awaitable on an io_context run by one
//                                       thread: co_await co_spawn(ex, f, use_awaitable)
//   sleepers/corio_fibers               30,000 plain functions (io.async, IoUring default threads)
//                                       each sleeping a random 0-10 ms (default Options: at most
//                                       1024 idle fibers cached)
//   sleepers/corio_fibers_cache_all     the same with cached_fibers = 30,000 (after one untimed
//                                       warm-up batch no stack is mapped)
//     vs sleepers/boost_fiber           30,000 boost::fibers sleeping the same delays (one thread)
//   sleepers/corio_tasks                100,000 Task coroutines sleeping a random 0-10 ms
//   sleepers/corio_tasks_kernel_timers  the same with Options::kernel_timers (IORING_OP_TIMEOUT
//                                       per sleep instead of the workers' timer heaps)
//     vs sleepers/asio_awaitables       100,000 asio::awaitable coroutines on steady_timers, the
//                                       io_context run by as many threads as IoUring has workers
//
// The loops of the corio benchmarks (and of the Boost.Fiber and Asio peers) run inside a fiber
// or coroutine of the runtime measured, on its thread, so one benchmark iteration is exactly
// one round trip or one spawn + join. Times are wall-clock (UseRealTime); CPU is the CPU time of
// the thread that ran the loop (a worker for corio), which on a busy machine is the steadier
// figure of the two. `b_yields_per_iter` (about 1) checks that every round trip was a yield of
// each fiber. A sleepers iteration is one whole batch (spawn, every sleep, join), timed by hand,
// with the CPU time of the whole process; see the comment above the sleepers for their
// counters.
#include "bench_support.hpp"

#include <corio/corio.hpp>

#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/operations.hpp>

#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace bctx = boost::context;

[[gnu::noinline]] int trivial(int x) noexcept { return x + 1; }

/// Runs `body` as a plain task (a fiber) on `io` and waits for it. A plain Future::await
/// outside the backend's workers may run a task that has not started yet on the calling
/// thread (the awaiter's claim), which would take the body off the worker: so wait until the
/// fiber has started before awaiting it.
template <class F>
void run_on_fiber(corio::Io io, F body) {
    std::atomic<bool> started{false};
    auto f = io.async([&started, &body] {
        started.store(true, std::memory_order_release);
        body();
    });
    while (!started.load(std::memory_order_acquire)) std::this_thread::sleep_for(20us);
    f.await();
}

// ---- 1. yield ping-pong ---------------------------------------------------------------------

void corio_yield_ping_pong(benchmark::State& state) {
    corio::IoUring ring({.threads = 1});
    corio::Io io = ring.io();
    // Both fibers run on the one worker: `stop` and `b_running` are touched by it only.
    std::atomic<bool> b_started{false};
    std::atomic<bool> a_started{false};
    bool b_running = false;
    bool stop = false;
    std::int64_t b_yields = 0;
    auto b = io.async([&] {
        b_started.store(true, std::memory_order_release);
        b_running = true;
        while (!stop) {
            io.yield().await();
            ++b_yields;
        }
    });
    auto a = io.async([&] {
        a_started.store(true, std::memory_order_release);
        while (!b_running) io.yield().await();  // B may start after A: no solo yields timed
        corio::bench::AllocationScope allocs;
        for (auto _ : state) io.yield().await();
        allocs.report(state);
        stop = true;
    });
    while (!a_started.load(std::memory_order_acquire) || !b_started.load(std::memory_order_acquire))
        std::this_thread::sleep_for(20us);
    a.await();
    b.await();
    // About 1: each round trip was one yield of each fiber, not A yielding to itself.
    state.counters["b_yields_per_iter"] =
        benchmark::Counter(static_cast<double>(b_yields), benchmark::Counter::kAvgIterations);
}

void boost_context_ping_pong(benchmark::State& state) {
    bool stop = false;
    bctx::fiber b{[&stop](bctx::fiber&& a) {
        while (!stop) a = std::move(a).resume();
        return std::move(a);
    }};
    corio::bench::AllocationScope allocs;
    for (auto _ : state) b = std::move(b).resume();
    allocs.report(state);
    stop = true;
    b = std::move(b).resume();  // B returns: its stack is freed
}

/// The same A -> B -> A round trip as corio's, through a scheduler: two raw fcontext fibers that
/// switch to a scheduler loop, which resumes the other one (four jumps per round trip, as
/// corio's yields; no queue, no thread state). The floor for a scheduler of stackful fibers.
struct RawFiber {
    bctx::detail::fcontext_t context = nullptr;
    bctx::detail::fcontext_t scheduler = nullptr;
    bctx::stack_context stack;
};

struct RawPingPong {
    benchmark::State* state = nullptr;
    bool done = false;
    RawFiber fibers[2];

    static void yield(RawFiber& self) {
        self.scheduler = bctx::detail::jump_fcontext(self.scheduler, nullptr).fctx;
    }
    static void entry_a(bctx::detail::transfer_t t) {
        auto* pp = static_cast<RawPingPong*>(t.data);
        RawFiber& self = pp->fibers[0];
        self.scheduler = t.fctx;
        corio::bench::AllocationScope allocs;
        for (auto _ : *pp->state) yield(self);
        allocs.report(*pp->state);
        pp->done = true;
        for (;;) yield(self);  // never resumed again
    }
    static void entry_b(bctx::detail::transfer_t t) {
        auto* pp = static_cast<RawPingPong*>(t.data);
        RawFiber& self = pp->fibers[1];
        self.scheduler = t.fctx;
        for (;;) yield(self);
    }
};

void boost_context_scheduler_ping_pong(benchmark::State& state) {
    bctx::protected_fixedsize_stack stacks(64 << 10);
    RawPingPong pp;
    pp.state = &state;
    void (*entries[2])(bctx::detail::transfer_t) = {&RawPingPong::entry_a, &RawPingPong::entry_b};
    for (int i = 0; i < 2; ++i) {
        RawFiber& f = pp.fibers[i];
        f.stack = stacks.allocate();
        f.context = bctx::detail::make_fcontext(f.stack.sp, f.stack.size, entries[i]);
    }
    // The scheduler: resume A and B in turn until A's loop has ended.
    for (unsigned i = 0; !pp.done; i ^= 1) {
        RawFiber& f = pp.fibers[i];
        f.context = bctx::detail::jump_fcontext(f.context, &pp).fctx;
    }
    for (RawFiber& f : pp.fibers) stacks.deallocate(f.stack);  // both abandoned mid-yield
}

void boost_fiber_ping_pong(benchmark::State& state) {
    bool stop = false;
    std::int64_t b_yields = 0;
    boost::fibers::fiber b([&stop, &b_yields] {
        while (!stop) {
            boost::this_fiber::yield();
            ++b_yields;
        }
    });
    boost::fibers::fiber a([&] {
        corio::bench::AllocationScope allocs;
        for (auto _ : state) boost::this_fiber::yield();
        allocs.report(state);
        stop = true;
    });
    a.join();
    b.join();
    state.counters["b_yields_per_iter"] =
        benchmark::Counter(static_cast<double>(b_yields), benchmark::Counter::kAvgIterations);
}

// ---- 2. spawn + join ------------------------------------------------------------------------

void corio_fiber_spawn_join(benchmark::State& state) {
    corio::IoUring ring({.threads = 1});
    corio::Io io = ring.io();
    run_on_fiber(io, [&] {
        corio::bench::AllocationScope allocs;
        for (auto _ : state) benchmark::DoNotOptimize(io.async(trivial, 1).await());
        allocs.report(state);
    });
}

/// A StackAllocator that hands out one preallocated stack every time (a pool of one).
class ReusedStack {
  public:
    explicit ReusedStack(bctx::stack_context sc) noexcept : sc_(sc) {}
    bctx::stack_context allocate() noexcept { return sc_; }
    void deallocate(bctx::stack_context&) noexcept {}

  private:
    bctx::stack_context sc_;
};

void boost_context_fiber_spawn_join(benchmark::State& state) {
    bctx::protected_fixedsize_stack backing(64 << 10);  // mmap'd with a guard page, as corio's
    bctx::stack_context sc = backing.allocate();
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        int v = 0;
        bctx::fiber f{std::allocator_arg, ReusedStack(sc), [&v](bctx::fiber&& caller) {
                          v = trivial(1);
                          return std::move(caller);
                      }};
        f = std::move(f).resume();  // runs the body to its end; the record is destroyed
        benchmark::DoNotOptimize(v);
    }
    allocs.report(state);
    backing.deallocate(sc);
}

void fcontext_entry(bctx::detail::transfer_t t) {
    *static_cast<int*>(t.data) = trivial(1);
    bctx::detail::jump_fcontext(t.fctx, nullptr);  // never resumed: the stack is reused
}

void boost_context_fcontext_spawn_join(benchmark::State& state) {
    bctx::protected_fixedsize_stack backing(64 << 10);
    bctx::stack_context sc = backing.allocate();
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        int v = 0;
        bctx::detail::fcontext_t c = bctx::detail::make_fcontext(sc.sp, sc.size, &fcontext_entry);
        bctx::detail::jump_fcontext(c, &v);
        benchmark::DoNotOptimize(v);
    }
    allocs.report(state);
    backing.deallocate(sc);
}

void boost_fiber_spawn_join(benchmark::State& state) {
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        int v = 0;
        boost::fibers::fiber([&v] { v = trivial(1); }).join();
        benchmark::DoNotOptimize(v);
    }
    allocs.report(state);
}

[[gnu::noinline]] corio::Task<int> trivial_task(int x) { co_return trivial(x); }

corio::Task<void> spawn_await_loop(corio::Io io, benchmark::State* state) {
    corio::bench::AllocationScope allocs;
    for (auto _ : *state) {
        int v = co_await io.async(trivial_task, 1);
        benchmark::DoNotOptimize(v);
    }
    allocs.report(*state);
}

void corio_task_spawn_await(benchmark::State& state) {
    corio::IoUring ring({.threads = 1});
    corio::Io io = ring.io();
    // A coroutine task is never claimed by a plain awaiter: it always runs on the worker.
    io.async(spawn_await_loop, io, &state).await();
}

asio::awaitable<int> asio_trivial(int x) { co_return trivial(x); }

asio::awaitable<void> asio_spawn_loop(benchmark::State& state) {
    auto ex = co_await asio::this_coro::executor;
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        int v = co_await asio::co_spawn(ex, asio_trivial(1), asio::use_awaitable);
        benchmark::DoNotOptimize(v);
    }
    allocs.report(state);
}

void asio_co_spawn_await(benchmark::State& state) {
    asio::io_context ctx(1);
    asio::co_spawn(ctx, asio_spawn_loop(state), asio::detached);
    ctx.run();
}

// ---- 3. many sleepers -----------------------------------------------------------------------
//
// One iteration is one batch: N tasks each sleep a random 0-10 ms (the same seeded delays for
// every peer), then all are joined. The iteration time is the whole batch, from the first
// spawn to the last join; `spawn_ms` is the part until the sleeps were let go, `sleep_ms` the
// rest. Memory: VmHWM (peak RSS) belongs to the whole process, so before each batch the peak is
// reset to the current RSS (writing 5 to /proc/self/clear_refs, Linux 4.0+), and `peak_rss_mib`
// is VmHWM after the batch minus VmRSS measured when the benchmark began (after malloc_trim),
// before its runtime existed: what the runtime and the batch held at the batch's peak (stacks
// kept in a cache from a warm-up batch included). `peak_rss_per_task` is that divided by N.
//
// corio's workers start tasks as soon as they are spawned, and spawning 30,000 takes longer
// than 10 ms, so the corio tasks first wait on a corio::Event that is set once all of them have
// started: the sleeps then really are concurrent (one event wait per task is part of the
// batch). The Boost.Fiber and Asio peers need no gate: their fibers and coroutines do not run
// before the spawning thread joins (Boost.Fiber) or runs the io_context (Asio).
//
// corio_fibers runs with the default Options, which keep at most 1024 idle fibers: every batch
// maps the other 29,000 stacks again and unmaps them as their fibers end. corio_fibers_cache_all
// keeps all 30,000 (cached_fibers = 30,000), so from the second batch on no stack is mapped.

constexpr int kFiberSleepers = 30'000;
constexpr int kTaskSleepers = 100'000;

std::vector<std::chrono::microseconds> random_delays(int n) {
    std::mt19937 gen(12345);
    std::uniform_int_distribution<int> us(0, 10'000);
    std::vector<std::chrono::microseconds> v;
    v.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) v.emplace_back(us(gen));
    return v;
}

/// A "VmRSS:"-style line of /proc/self/status, in KiB (-1 when missing).
long status_kib(const std::string& key) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, key.size(), key) == 0) return std::stol(line.substr(key.size()));
    }
    return -1;
}

/// VmRSS now, after giving the heap's free pages back to the system: memory an earlier
/// benchmark freed would otherwise count in the baseline and be reused unseen.
long rss_baseline_kib() {
    ::malloc_trim(0);
    return status_kib("VmRSS:");
}

bool reset_peak_rss() {
    std::ofstream out("/proc/self/clear_refs");
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

/// Runs one batch per iteration: `batch()` does spawn + sleep + join and returns when the
/// sleeps were let go (every task spawned, and for corio started and released from the gate).
/// The time, its two phases and the peak RSS are recorded. With `warm_up`, one batch runs
/// first, untimed.
template <class Batch>
void run_batches(benchmark::State& state, long base_kib, int n, bool warm_up, Batch&& batch) {
    if (warm_up) batch();
    double peak_kib = 0;
    double spawn_s = 0;
    double sleep_s = 0;
    for (auto _ : state) {
        if (!reset_peak_rss()) {
            state.SkipWithError("cannot reset the peak RSS (/proc/self/clear_refs)");
            return;
        }
        const auto t0 = std::chrono::steady_clock::now();
        const std::chrono::steady_clock::time_point released = batch();
        const auto t1 = std::chrono::steady_clock::now();
        const long peak = status_kib("VmHWM:");
        state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
        spawn_s += std::chrono::duration<double>(released - t0).count();
        sleep_s += std::chrono::duration<double>(t1 - released).count();
        peak_kib += static_cast<double>(peak - base_kib);
    }
    const double iters = static_cast<double>(state.iterations());
    state.counters["spawn_ms"] = spawn_s / iters * 1e3;
    state.counters["sleep_ms"] = sleep_s / iters * 1e3;
    state.counters["peak_rss_mib"] = peak_kib / iters / 1024.0;
    state.counters["peak_rss_per_task"] =
        benchmark::Counter(peak_kib / iters * 1024.0 / n, benchmark::Counter::kDefaults,
                           benchmark::Counter::kIs1024);
}

void corio_fiber_sleepers(benchmark::State& state, std::size_t cached_fibers) {
    const auto delays = random_delays(kFiberSleepers);
    std::vector<corio::Future<void>> futures(delays.size());  // pages touched before any batch
    futures.clear();
    const long base = rss_baseline_kib();
    corio::IoUring ring({.cached_fibers = cached_fibers});
    corio::Io io = ring.io();
    // A full cache only pays off from the second batch on: warm it.
    const bool warm_up = cached_fibers >= kFiberSleepers;
    run_batches(state, base, kFiberSleepers, warm_up, [&] {
        corio::Event gate;
        std::atomic<int> waiting{0};
        for (auto d : delays) {
            futures.push_back(io.async([io, d, &gate, &waiting] {
                waiting.fetch_add(1, std::memory_order_relaxed);
                gate.wait(io).await();
                io.sleep(d).await();
            }));
        }
        // Every task has started (so the joins below cannot claim one onto this thread).
        while (waiting.load(std::memory_order_relaxed) != kFiberSleepers)
            std::this_thread::sleep_for(50us);
        const auto released = std::chrono::steady_clock::now();
        gate.set();
        for (auto& f : futures) f.await();
        futures.clear();
        return released;
    });
    state.counters["workers"] = static_cast<double>(ring.options().threads);
}

void boost_fiber_sleepers(benchmark::State& state) {
    const auto delays = random_delays(kFiberSleepers);
    std::vector<boost::fibers::fiber> fibers(delays.size());
    fibers.clear();
    const long base = rss_baseline_kib();
    run_batches(state, base, kFiberSleepers, false, [&] {
        for (auto d : delays) fibers.emplace_back([d] { boost::this_fiber::sleep_for(d); });
        const auto released = std::chrono::steady_clock::now();
        for (auto& f : fibers) f.join();
        fibers.clear();
        return released;
    });
}

corio::Task<void> sleeper_task(corio::Io io, std::chrono::microseconds d, corio::Event* gate,
                               std::atomic<int>* waiting) {
    waiting->fetch_add(1, std::memory_order_relaxed);
    co_await gate->wait(io);
    co_await io.sleep(d);
}

void corio_task_sleepers(benchmark::State& state, bool kernel_timers) {
    const auto delays = random_delays(kTaskSleepers);
    std::vector<corio::Future<void>> futures(delays.size());
    futures.clear();
    const long base = rss_baseline_kib();
    corio::IoUring ring({.kernel_timers = kernel_timers});
    corio::Io io = ring.io();
    run_batches(state, base, kTaskSleepers, false, [&] {
        corio::Event gate;
        std::atomic<int> waiting{0};
        for (auto d : delays) futures.push_back(io.async(sleeper_task, io, d, &gate, &waiting));
        while (waiting.load(std::memory_order_relaxed) != kTaskSleepers)
            std::this_thread::sleep_for(50us);
        const auto released = std::chrono::steady_clock::now();
        gate.set();
        for (auto& f : futures) f.await();
        futures.clear();
        return released;
    });
    state.counters["workers"] = static_cast<double>(ring.options().threads);
}

asio::awaitable<void> asio_sleeper(std::chrono::microseconds d) {
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    co_await timer.async_wait(asio::use_awaitable);
}

void asio_sleepers(benchmark::State& state) {
    const auto delays = random_delays(kTaskSleepers);
    const unsigned threads = corio::IoUring::default_threads();
    const long base = rss_baseline_kib();
    run_batches(state, base, kTaskSleepers, false, [&] {
        asio::io_context ctx(static_cast<int>(threads));
        for (auto d : delays) asio::co_spawn(ctx, asio_sleeper(d), asio::detached);
        const auto released = std::chrono::steady_clock::now();
        std::vector<std::thread> helpers;
        for (unsigned i = 1; i < threads; ++i) helpers.emplace_back([&ctx] { ctx.run(); });
        ctx.run();
        for (auto& t : helpers) t.join();
        return released;
    });
    state.counters["workers"] = static_cast<double>(threads);
}

/// A sleepers benchmark: one batch per iteration, timed by hand, with the process's CPU time.
void one_batch_per_iteration(benchmark::internal::Benchmark* b) {
    b->UseManualTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond)->Iterations(1);
}

}  // namespace

BENCHMARK(corio_yield_ping_pong)->Name("io_uring/yield_ping_pong/corio_fibers")->UseRealTime();
BENCHMARK(boost_context_ping_pong)->Name("io_uring/yield_ping_pong/boost_context")->UseRealTime();
BENCHMARK(boost_context_scheduler_ping_pong)
    ->Name("io_uring/yield_ping_pong/boost_context_via_scheduler")
    ->UseRealTime();
BENCHMARK(boost_fiber_ping_pong)->Name("io_uring/yield_ping_pong/boost_fiber")->UseRealTime();

BENCHMARK(corio_fiber_spawn_join)->Name("io_uring/spawn_join/corio_fiber")->UseRealTime();
BENCHMARK(boost_context_fiber_spawn_join)
    ->Name("io_uring/spawn_join/boost_context_fiber")
    ->UseRealTime();
BENCHMARK(boost_context_fcontext_spawn_join)
    ->Name("io_uring/spawn_join/boost_context_fcontext")
    ->UseRealTime();
BENCHMARK(boost_fiber_spawn_join)->Name("io_uring/spawn_join/boost_fiber")->UseRealTime();

BENCHMARK(corio_task_spawn_await)->Name("io_uring/spawn_await/corio_task")->UseRealTime();
BENCHMARK(asio_co_spawn_await)->Name("io_uring/spawn_await/asio_co_spawn")->UseRealTime();

BENCHMARK_CAPTURE(corio_fiber_sleepers, default, corio::IoUring::Options{}.cached_fibers)
    ->Name("io_uring/sleepers/corio_fibers")
    ->Apply(one_batch_per_iteration);
BENCHMARK_CAPTURE(corio_fiber_sleepers, cache_all, std::size_t{kFiberSleepers})
    ->Name("io_uring/sleepers/corio_fibers_cache_all")
    ->Apply(one_batch_per_iteration);
BENCHMARK(boost_fiber_sleepers)
    ->Name("io_uring/sleepers/boost_fiber")
    ->Apply(one_batch_per_iteration);
BENCHMARK_CAPTURE(corio_task_sleepers, heap, false)
    ->Name("io_uring/sleepers/corio_tasks")
    ->Apply(one_batch_per_iteration);
BENCHMARK_CAPTURE(corio_task_sleepers, kernel_timers, true)
    ->Name("io_uring/sleepers/corio_tasks_kernel_timers")
    ->Apply(one_batch_per_iteration);
BENCHMARK(asio_sleepers)
    ->Name("io_uring/sleepers/asio_awaitables")
    ->Apply(one_batch_per_iteration);

BENCHMARK_MAIN();
