// SPDX-License-Identifier: MIT
// Threaded async: inline io.async, io.concurrent round trips, and worker hand-offs vs std peers.
//
// Peers run in the same binary and the same run, registered next to what they compare with:
//   async_inline             vs direct_call          (io.async+await with async_limit = 0; in a
//                                                      single- and a multi-threaded process)
//   concurrent_round_trip    vs std_async            (spawn onto a thread and await the result)
//   run_queue_contention     vs mutex_deque_contention (1-4 threads spawning onto one pool)
//   handoff_awake/*          corio Semaphore ping-pong with a plain-function worker and with a
//                            coroutine worker, vs std::binary_semaphore and mutex+condvar
//   handoff_parked/*         the same, the worker parked (1 ms idle) before every round trip
// Hand-offs report wall time (Time) and the CPU time of the whole process (CPU: both threads).
#include "bench_support.hpp"

#include <corio/corio.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <mutex>
#include <semaphore>
#include <thread>

namespace {

using namespace std::chrono_literals;

// Round trips per iteration of the parked variants; each sleeps 1 ms first, so their iteration
// count is fixed rather than sized by min_time.
constexpr int kParkedIterations = 200;
constexpr auto kParkTime = 1ms;

[[gnu::noinline]] int trivial(int x) noexcept { return x + 1; }

// ---- inline async -----------------------------------------------------------------------------

void direct_call(benchmark::State& state) {
    corio::bench::AllocationScope allocs;
    for (auto _ : state) benchmark::DoNotOptimize(trivial(1));
    allocs.report(state);
}

void async_inline(benchmark::State& state) {
    corio::Threaded pool({.async_limit = 0});
    corio::Io io = pool.io();
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        auto f = io.async(trivial, 1);
        benchmark::DoNotOptimize(f.await());
    }
    allocs.report(state);
}

// ---- spawn on a thread and back -------------------------------------------------------------

void concurrent_round_trip(benchmark::State& state) {
    corio::Threaded pool;
    corio::Io io = pool.io();
    const std::thread::id main_id = std::this_thread::get_id();
    std::int64_t on_worker = 0;
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        // Reports where the body ran: the awaiter runs a task itself when it has not started.
        auto f = io.concurrent([main_id] { return std::this_thread::get_id() != main_id ? 1 : 0; });
        on_worker += f.await();
    }
    allocs.report(state);
    state.counters["on_worker"] =
        benchmark::Counter(static_cast<double>(on_worker), benchmark::Counter::kAvgIterations);
    state.counters["pool_threads"] = static_cast<double>(pool.thread_count());
}

// The run queue under contention: every benchmark thread spawns onto one shared pool and awaits.
// The time per spawn as threads are added shows what the pool's one lock costs; the peer is the
// same number of threads pushing and popping a std::mutex-guarded std::deque.
corio::Threaded& shared_pool() {
    static corio::Threaded pool;
    return pool;
}

void run_queue_contention(benchmark::State& state) {
    corio::Io io = shared_pool().io();
    for (auto _ : state) benchmark::DoNotOptimize(io.concurrent(trivial, 1).await());
}

void mutex_deque_contention(benchmark::State& state) {
    static std::mutex m;
    static std::deque<int> q;
    for (auto _ : state) {
        {
            std::lock_guard lock(m);
            q.push_back(1);
        }
        std::lock_guard lock(m);
        benchmark::DoNotOptimize(q.front());
        q.pop_front();
    }
}

void std_async(benchmark::State& state) {
    const std::thread::id main_id = std::this_thread::get_id();
    std::int64_t on_worker = 0;
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        on_worker += std::async(std::launch::async, [main_id] {
                         return std::this_thread::get_id() != main_id ? 1 : 0;
                     }).get();
    }
    allocs.report(state);
    state.counters["on_worker"] =
        benchmark::Counter(static_cast<double>(on_worker), benchmark::Counter::kAvgIterations);
}

// ---- hand-off to a worker and back ----------------------------------------------------------
//
// Each peer is a "channel" with a long-lived worker started in its constructor, a round trip
// (`ping`: hand a token to the worker, wait for its answer) and a destructor that stops the
// worker. The driver is shared, so every peer is measured the same way.

template <class Channel>
void handoff_awake(benchmark::State& state) {
    Channel ch;
    corio::bench::AllocationScope allocs;
    for (auto _ : state) ch.ping();
    allocs.report(state);
}

// The worker is parked (its spin phase long over) when the request arrives: the thread sleeps,
// then one round trip is timed by hand. CPU time still covers the whole loop, sleeps included.
template <class Channel>
void handoff_parked(benchmark::State& state) {
    Channel ch;
    corio::bench::AllocationScope allocs;
    for (auto _ : state) {
        std::this_thread::sleep_for(kParkTime);
        const auto t0 = std::chrono::steady_clock::now();
        ch.ping();
        const auto t1 = std::chrono::steady_clock::now();
        state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    }
    allocs.report(state);
}

/// corio: a plain function on its own pool thread (io.concurrent), two corio::Semaphores.
class CorioPlainChannel {
  public:
    CorioPlainChannel()
        : worker_(io_.concurrent([this] {
              for (;;) {
                  to_worker_.acquire(io_).await();
                  if (stop_.load(std::memory_order_relaxed)) return;
                  to_main_.release();
              }
          })) {}
    ~CorioPlainChannel() {
        stop_.store(true, std::memory_order_relaxed);
        to_worker_.release();
        worker_.await();
    }
    void ping() {
        to_worker_.release();
        to_main_.acquire(io_).await();
    }

  private:
    corio::Threaded pool_{{.async_limit = 1}};
    corio::Io io_ = pool_.io();
    corio::Semaphore to_worker_;
    corio::Semaphore to_main_;
    std::atomic<bool> stop_{false};
    corio::Future<void> worker_;
};

corio::Task<void> echo(corio::Io io, corio::Semaphore* in, corio::Semaphore* out,
                       std::atomic<bool>* stop) {
    for (;;) {
        co_await in->acquire(io);
        if (stop->load(std::memory_order_relaxed)) co_return;
        out->release();
    }
}

/// corio: a Task<> coroutine on the pool (io.concurrent), resumed through the pool's run queue
/// at every hand-off; the same two corio::Semaphores.
class CorioCoroutineChannel {
  public:
    CorioCoroutineChannel() : worker_(io_.concurrent(echo, io_, &to_worker_, &to_main_, &stop_)) {}
    ~CorioCoroutineChannel() {
        stop_.store(true, std::memory_order_relaxed);
        to_worker_.release();
        worker_.await();
    }
    void ping() {
        to_worker_.release();
        to_main_.acquire(io_).await();
    }

  private:
    corio::Threaded pool_{{.async_limit = 1}};
    corio::Io io_ = pool_.io();
    corio::Semaphore to_worker_;
    corio::Semaphore to_main_;
    std::atomic<bool> stop_{false};
    corio::Future<void> worker_;
};

/// Peer: two std::binary_semaphores between two std::threads.
class StdSemaphoreChannel {
  public:
    StdSemaphoreChannel()
        : worker_([this] {
              for (;;) {
                  to_worker_.acquire();
                  if (stop_.load(std::memory_order_relaxed)) return;
                  to_main_.release();
              }
          }) {}
    ~StdSemaphoreChannel() {
        stop_.store(true, std::memory_order_relaxed);
        to_worker_.release();
        worker_.join();
    }
    void ping() {
        to_worker_.release();
        to_main_.acquire();
    }

  private:
    std::binary_semaphore to_worker_{0};
    std::binary_semaphore to_main_{0};
    std::atomic<bool> stop_{false};
    std::thread worker_;
};

/// Peer: a std::mutex + std::condition_variable hand-off (one turn variable, one condvar each
/// way so a notify always reaches the right thread).
class StdCondvarChannel {
  public:
    StdCondvarChannel()
        : worker_([this] {
              std::unique_lock lock(mutex_);
              for (;;) {
                  to_worker_cv_.wait(lock, [this] { return turn_ == Turn::worker; });
                  if (stop_) return;
                  turn_ = Turn::main;
                  lock.unlock();
                  to_main_cv_.notify_one();
                  lock.lock();
              }
          }) {}
    ~StdCondvarChannel() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
            turn_ = Turn::worker;
        }
        to_worker_cv_.notify_one();
        worker_.join();
    }
    void ping() {
        std::unique_lock lock(mutex_);
        turn_ = Turn::worker;
        lock.unlock();
        to_worker_cv_.notify_one();
        lock.lock();
        to_main_cv_.wait(lock, [this] { return turn_ == Turn::main; });
    }

  private:
    enum class Turn { main, worker };
    std::mutex mutex_;
    std::condition_variable to_worker_cv_;
    std::condition_variable to_main_cv_;
    Turn turn_ = Turn::main;
    bool stop_ = false;
    std::thread worker_;
};

}  // namespace

using corio::bench::multithreaded;
using corio::bench::single_threaded;

// Registered first: io.async takes the pool's std::mutex, which glibc takes without a locked
// instruction while the process is single-threaded. The multi-threaded pair is the real case.
BENCHMARK(single_threaded<direct_call>)->Name("threaded_async/single_threaded_process/direct_call");
BENCHMARK(single_threaded<async_inline>)
    ->Name("threaded_async/single_threaded_process/async_inline");
BENCHMARK(multithreaded<direct_call>)->Name("threaded_async/direct_call");
BENCHMARK(multithreaded<async_inline>)->Name("threaded_async/async_inline");

BENCHMARK(concurrent_round_trip)
    ->Name("threaded_async/concurrent_round_trip")
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK(std_async)->Name("threaded_async/std_async")->UseRealTime()->MeasureProcessCPUTime();

BENCHMARK(run_queue_contention)
    ->Name("threaded_async/run_queue_contention")
    ->ThreadRange(1, 4)
    ->UseRealTime();
BENCHMARK(mutex_deque_contention)
    ->Name("threaded_async/mutex_deque_contention")
    ->ThreadRange(1, 4)
    ->UseRealTime();

BENCHMARK(handoff_awake<CorioPlainChannel>)
    ->Name("threaded_async/handoff_awake/corio_semaphore_plain")
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK(handoff_awake<CorioCoroutineChannel>)
    ->Name("threaded_async/handoff_awake/corio_semaphore_coroutine")
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK(handoff_awake<StdSemaphoreChannel>)
    ->Name("threaded_async/handoff_awake/std_binary_semaphore")
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK(handoff_awake<StdCondvarChannel>)
    ->Name("threaded_async/handoff_awake/std_mutex_condvar")
    ->UseRealTime()
    ->MeasureProcessCPUTime();

BENCHMARK(handoff_parked<CorioPlainChannel>)
    ->Name("threaded_async/handoff_parked/corio_semaphore_plain")
    ->UseManualTime()
    ->MeasureProcessCPUTime()
    ->Iterations(kParkedIterations);
BENCHMARK(handoff_parked<CorioCoroutineChannel>)
    ->Name("threaded_async/handoff_parked/corio_semaphore_coroutine")
    ->UseManualTime()
    ->MeasureProcessCPUTime()
    ->Iterations(kParkedIterations);
BENCHMARK(handoff_parked<StdSemaphoreChannel>)
    ->Name("threaded_async/handoff_parked/std_binary_semaphore")
    ->UseManualTime()
    ->MeasureProcessCPUTime()
    ->Iterations(kParkedIterations);
BENCHMARK(handoff_parked<StdCondvarChannel>)
    ->Name("threaded_async/handoff_parked/std_mutex_condvar")
    ->UseManualTime()
    ->MeasureProcessCPUTime()
    ->Iterations(kParkedIterations);

BENCHMARK_MAIN();
