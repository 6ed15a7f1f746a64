// SPDX-License-Identifier: MIT
// IoUring's fibers: stack overflow and the map limit, per-call stack sizes, waits that park a
// fiber and not its thread, fibers and coroutines awaiting each other, yield fairness, the
// caller-driven loop (threads = 0), and exceptions inside and out of fibers.
#include "io_uring/support.hpp"

#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using corio::Io;
using corio::IoUring;

namespace {

using corio::test::make_ring;
using corio::test::patience;
using corio::test::scaled;
using corio::test::Watchdog;

#define CORIO_RING(var, ...)                                                 \
    std::string var##_why;                                                  \
    auto var = make_ring(IoUring::Options __VA_ARGS__, var##_why);          \
    if (!var) GTEST_SKIP() << "io_uring unavailable here: " << var##_why

/// Runs `f()` on a fiber that has certainly started on the backend's loop, and returns its
/// result. (An awaiter may take back a task that has not started and run it itself; waiting
/// until it started makes sure `f` runs on a fiber, whoever awaits.)
template <class F>
auto on_fiber(Io io, F f, corio::SpawnOptions options = {}) {
    corio::Event started;
    auto future = io.concurrent(options, [&started, f = std::move(f)]() mutable {
        started.set();
        return f();
    });
    started.wait(io).await();
    return std::move(future).await();
}

[[maybe_unused]] long max_map_count() {
    long v = -1;
    std::ifstream in("/proc/sys/vm/max_map_count");
    in >> v;
    return v;
}

// ---- stack overflow -------------------------------------------------------------------------

// Never reached: only there so that the recursion below has an end the compiler cannot see.
volatile std::size_t g_depth_limit = static_cast<std::size_t>(-1);

[[gnu::noinline]] std::size_t recurse_forever(std::size_t depth) {
    volatile char frame[512];
    frame[0] = static_cast<char>(depth);
    frame[sizeof frame - 1] = static_cast<char>(depth >> 8);
    if (depth >= g_depth_limit) return frame[0];
    return recurse_forever(depth + 1) + static_cast<std::size_t>(frame[depth % sizeof frame]);
}

TEST(IoUringFiberDeathTest, StackOverflowAbortsWithAMessage) {
    // ThreadSanitizer: the child is re-executed from the start (threadsafe style) and TSan lets
    // corio's SIGSEGV handler run on the alternate stack; this passes under TSan and ASan here.
    // Should TSan's signal interception ever delay the synchronous SIGSEGV (it defers most
    // signals), this is the test to skip under CORIO_TEST_TSAN.
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    {
        std::string why;
        if (!make_ring({.threads = 1}, why)) GTEST_SKIP() << "io_uring unavailable here: " << why;
    }
    EXPECT_DEATH(
        {
            IoUring ring({.threads = 1});
            Io io = ring.io();
            (void)on_fiber(io, [] { return recurse_forever(0); }, {.stack_size = 32 << 10});
        },
        "fiber stack overflow in task [0-9]+: its stack is 32768 bytes");
}

TEST(IoUringFiberDeathTest, StackOverflowOfTheDefaultStackAbortsWithAMessage) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    {
        std::string why;
        if (!make_ring({.threads = 1}, why)) GTEST_SKIP() << "io_uring unavailable here: " << why;
    }
    EXPECT_DEATH(
        {
            IoUring ring({.threads = 2});
            Io io = ring.io();
            (void)on_fiber(io, [] { return recurse_forever(0); });
        },
        "fiber stack overflow in task [0-9]+: its stack is [0-9]+ bytes");
}

// ---- the kernel's map limit -----------------------------------------------------------------

TEST(IoUringFiber, MapLimitThrowsConcurrencyUnavailableNamingIt) {
#if defined(CORIO_TEST_ASAN) || defined(CORIO_TEST_TSAN)
    // The sanitizers map shadow memory, fake stacks and per-fiber state of their own: the
    // process's map count and memory no longer follow the fibers, and running a process into
    // vm.max_map_count makes the sanitizer runtime itself fail to map.
    GTEST_SKIP() << "not under a sanitizer";
#else
    constexpr std::size_t cap = 70'000;
    const long limit = max_map_count();
    if (limit <= 0) GTEST_SKIP() << "vm.max_map_count is unknown here";
    if (static_cast<std::size_t>(limit) > 2 * cap - 10'000)
        GTEST_SKIP() << "vm.max_map_count is " << limit << ": " << cap
                     << " guarded fibers would not reach it";
    CORIO_RING(ring, {.threads = 2});
    ASSERT_TRUE(ring->options().guard_pages);
    Watchdog dog("the map-limit test", 120s);
    Io io = ring->io();

    corio::Event release;
    std::atomic<std::size_t> ran{0};
    std::vector<corio::Future<void>> futures;
    futures.reserve(cap);  // no allocation of our own while at the limit
    std::string message;
    message.reserve(4096);
    bool thrown = false;
    for (std::size_t i = 0; i < cap; ++i) {
        try {
            futures.push_back(io.concurrent([&release, &ran, io] {
                release.wait(io).await();
                ran.fetch_add(1);
            }));
        } catch (const corio::ConcurrencyUnavailable& e) {
            message = e.what();
            thrown = true;
            break;
        }
    }
    const std::size_t reached = futures.size();
    release.set();
    for (auto& f : futures) f.await();
    futures.clear();

    ASSERT_TRUE(thrown) << "no ConcurrencyUnavailable after " << reached << " guarded fibers";
    EXPECT_NE(message.find("vm.max_map_count"), std::string::npos) << message;
    EXPECT_NE(message.find("guard_pages"), std::string::npos) << message;
    EXPECT_NE(message.find(" fiber stacks mapped"), std::string::npos) << message;
    EXPECT_EQ(ran.load(), reached);
    // Each guarded stack costs two maps: the fibers alone should get close to half the limit.
    EXPECT_GT(reached, static_cast<std::size_t>(limit) / 2 - 3'000) << message;
    std::printf("ConcurrencyUnavailable after %zu guarded fibers (vm.max_map_count %ld): %s\n",
                reached, limit, message.c_str());
    RecordProperty("fibers_at_map_limit", std::to_string(reached));

    // Once they ended, fibers can be started again.
    EXPECT_EQ(io.concurrent([io] {
                    io.sleep(1ms).await();
                    return 5;
                }).await(),
              5);
#endif
}

// ---- per-call stack size --------------------------------------------------------------------

/// Recurses `depth` times with a 4 KiB frame; returns the lowest frame address reached.
[[gnu::noinline]] std::uintptr_t deep(std::size_t depth) {
    volatile char frame[4096];
    frame[0] = 1;
    frame[sizeof frame - 1] = 2;
    const auto here = reinterpret_cast<std::uintptr_t>(&frame[0]);
    if (depth == 0) return here;
    const std::uintptr_t lowest = deep(depth - 1);
    return lowest + static_cast<std::uintptr_t>(frame[sizeof frame - 1] - 2);  // no tail call
}

[[gnu::noinline]] std::uintptr_t big_array() {
    volatile char big[512 << 10];
    for (std::size_t i = 0; i < sizeof big; i += 4096) big[i] = static_cast<char>(i);
    big[sizeof big - 1] = 1;
    return reinterpret_cast<std::uintptr_t>(&big[0]) + static_cast<std::uintptr_t>(big[0]);
}

TEST(IoUringFiber, SpawnOptionsStackSizeGivesAFiberALargerStack) {
    CORIO_RING(ring, {.threads = 1});
    ASSERT_LT(ring->options().stack_size, std::size_t{512} << 10)
        << "the default stack would not overflow: the test proves nothing";
    Io io = ring->io();
    const auto main_thread = std::this_thread::get_id();

    const std::size_t used = on_fiber(
        io,
        [main_thread] {
            EXPECT_NE(std::this_thread::get_id(), main_thread);
            volatile char marker = 0;
            const auto top = reinterpret_cast<std::uintptr_t>(&marker);
            const std::uintptr_t lowest = deep(128);  // 128 frames of 4 KiB: 512 KiB and more
            return static_cast<std::size_t>(top - lowest);
        },
        {.stack_size = 1 << 20});
    EXPECT_GE(used, std::size_t{512} << 10);

    const std::size_t used_by_array = on_fiber(
        io,
        [main_thread] {
            EXPECT_NE(std::this_thread::get_id(), main_thread);
            volatile char marker = 0;
            const auto top = reinterpret_cast<std::uintptr_t>(&marker);
            return static_cast<std::size_t>(top - big_array());
        },
        {.stack_size = 1 << 20});
    EXPECT_GE(used_by_array, std::size_t{512} << 10);

    // The same from a fiber's own io.async, and several at once.
    const std::size_t nested = on_fiber(io, [io] {
        std::vector<corio::Future<std::size_t>> deep_ones;
        for (int i = 0; i < 4; ++i)
            deep_ones.push_back(io.async(corio::SpawnOptions{.stack_size = 1 << 20}, [io] {
                io.sleep(1ms).await();
                volatile char marker = 0;
                const auto top = reinterpret_cast<std::uintptr_t>(&marker);
                const std::uintptr_t lowest = deep(128);
                io.sleep(1ms).await();
                return static_cast<std::size_t>(top - lowest);
            }));
        std::size_t least = static_cast<std::size_t>(-1);
        for (auto& f : deep_ones) least = std::min(least, f.await());
        return least;
    });
    EXPECT_GE(nested, std::size_t{512} << 10);
}

// Fibers that end are kept and taken again by the next task: every task here after the first
// of each size runs on a reused fiber and stack, of the default size and of a per-call size.
// (Under ASan this once stopped the process with a stack-buffer-underflow in run_task_here: the
// reused stack's shadow still held the redzones of its previous run.)
TEST(IoUringFiber, ReusedFiberStartsCleanly) {
    CORIO_RING(ring, {.threads = 1});
    ASSERT_GT(ring->options().cached_fibers, 0u);
    Watchdog dog("the fiber reuse test", patience(60s));
    Io io = ring->io();
    auto body = [io] {
        io.sleep(1ms).await();
        volatile char marker = 0;
        const auto top = reinterpret_cast<std::uintptr_t>(&marker);
        return static_cast<std::size_t>(top - deep(4));
    };
    for (int i = 0; i < 5; ++i) {
        EXPECT_GE(on_fiber(io, body), std::size_t{4} * 4096);
        EXPECT_GE(on_fiber(io, body, {.stack_size = 1 << 20}), std::size_t{4} * 4096);
    }
}

// ---- waits park the fiber, not the thread ---------------------------------------------------

TEST(IoUringFiber, SemaphorePingPongOnOneWorker) {
    CORIO_RING(ring, {.threads = 1});
    Watchdog dog("the one-worker ping-pong (a wait blocked the worker's thread?)", patience(60s));
    Io io = ring->io();
    static constexpr int rounds = 10'000;
    on_fiber(io, [io] {
        corio::Semaphore ping, pong;
        std::thread::id a_thread, b_thread;
        int a_rounds = 0, b_rounds = 0;
        auto a = io.concurrent([&] {
            a_thread = std::this_thread::get_id();
            for (int i = 0; i < rounds; ++i) {
                ping.release();
                pong.acquire(io).await();
                ++a_rounds;
            }
        });
        auto b = io.concurrent([&] {
            b_thread = std::this_thread::get_id();
            for (int i = 0; i < rounds; ++i) {
                ping.acquire(io).await();
                ++b_rounds;
                EXPECT_EQ(b_rounds, a_rounds + 1);  // strictly in turns
                pong.release();
            }
        });
        a.await();
        b.await();
        EXPECT_EQ(a_rounds, rounds);
        EXPECT_EQ(b_rounds, rounds);
        EXPECT_EQ(a_thread, std::this_thread::get_id());
        EXPECT_EQ(b_thread, std::this_thread::get_id());
    });
}

TEST(IoUringFiber, MutexAndConditionProducerConsumerOnOneWorker) {
    CORIO_RING(ring, {.threads = 1});
    Watchdog dog("the one-worker producer/consumer", patience(60s));
    Io io = ring->io();
    static constexpr int items = 10'000;
    static constexpr std::size_t capacity = 3;
    on_fiber(io, [io] {
        corio::Mutex mutex;
        corio::Condition not_empty, not_full;
        std::deque<int> buffer;
        std::thread::id producer_thread, consumer_thread;
        std::size_t max_size = 0;
        auto producer = io.concurrent([&] {
            producer_thread = std::this_thread::get_id();
            for (int i = 0; i < items; ++i) {
                auto guard = mutex.scoped_lock(io).await();
                while (buffer.size() == capacity) not_full.wait(io, mutex).await();
                buffer.push_back(i);
                max_size = std::max(max_size, buffer.size());
                not_empty.signal();
            }
        });
        auto consumer = io.concurrent([&] {
            consumer_thread = std::this_thread::get_id();
            std::vector<int> got;
            got.reserve(items);
            while (got.size() < static_cast<std::size_t>(items)) {
                auto guard = mutex.scoped_lock(io).await();
                while (buffer.empty()) not_empty.wait(io, mutex).await();
                got.push_back(buffer.front());
                buffer.pop_front();
                not_full.signal();
            }
            return got;
        });
        producer.await();
        const std::vector<int> got = consumer.await();
        ASSERT_EQ(got.size(), static_cast<std::size_t>(items));
        for (int i = 0; i < items; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], i);
        EXPECT_TRUE(buffer.empty());
        EXPECT_LE(max_size, capacity);
        EXPECT_EQ(producer_thread, std::this_thread::get_id());
        EXPECT_EQ(consumer_thread, std::this_thread::get_id());
    });
}

// ---- fibers and coroutines awaiting each other ----------------------------------------------

corio::Task<int> coroutine_doubles(Io io, int v) {
    co_await io.sleep(2ms);
    co_return 2 * v;
}

int fiber_triples(Io io, int v) {
    io.sleep(2ms).await();
    return 3 * v;
}

int fiber_throws(Io io) {
    io.sleep(1ms).await();
    throw std::runtime_error("from a fiber");
}

corio::Task<int> coroutine_awaits_fiber(Io io, int v) {
    auto f = io.async(fiber_triples, io, v);  // a coroutine's io.async always gets a fiber
    const int r = co_await f;
    co_return r + 1;
}

corio::Task<std::string> coroutine_catches_fiber(Io io) {
    try {
        co_await io.async(fiber_throws, io);
    } catch (const std::runtime_error& e) {
        co_return e.what();
    }
    co_return "nothing thrown";
}

corio::Task<int> coroutine_awaits_many_fibers(Io io, int n) {
    std::vector<corio::Future<int>> fs;
    for (int i = 0; i < n; ++i) fs.push_back(io.concurrent(fiber_triples, io, i));
    int sum = 0;
    for (auto& f : fs) sum += co_await f;
    co_return sum;
}

class IoUringCrossAwait : public ::testing::TestWithParam<unsigned> {};

TEST_P(IoUringCrossAwait, FibersAndCoroutinesAwaitEachOther) {
    CORIO_RING(ring, {.threads = GetParam()});
    Watchdog dog("the cross-await test", patience(60s));
    Io io = ring->io();

    // A fiber awaits a coroutine's future.
    EXPECT_EQ(on_fiber(io, [io] { return io.async(coroutine_doubles, io, 21).await(); }), 42);
    // A coroutine awaits a fiber's future.
    EXPECT_EQ(io.async(coroutine_awaits_fiber, io, 10).await(), 31);
    // Fiber -> coroutine -> fiber.
    EXPECT_EQ(on_fiber(io, [io] { return io.async(coroutine_awaits_fiber, io, 5).await(); }), 16);
    // Coroutine -> fiber -> coroutine.
    EXPECT_EQ(io.async([](Io io) -> corio::Task<int> {
                    co_return co_await io.async(
                        [](Io io) { return io.async(coroutine_doubles, io, 4).await(); }, io);
                }, io)
                  .await(),
              8);
    // Many at once, both ways.
    static constexpr int n = 50;
    EXPECT_EQ(io.async(coroutine_awaits_many_fibers, io, n).await(), 3 * n * (n - 1) / 2);
    EXPECT_EQ(on_fiber(io,
                       [io] {
                           std::vector<corio::Future<int>> fs;
                           for (int i = 0; i < n; ++i) fs.push_back(io.async(coroutine_doubles, io, i));
                           int sum = 0;
                           for (auto& f : fs) sum += f.await();
                           return sum;
                       }),
              n * (n - 1));
    // An exception crosses both ways.
    EXPECT_EQ(io.async(coroutine_catches_fiber, io).await(), "from a fiber");
    EXPECT_EQ(on_fiber(io,
                       [io] {
                           try {
                               io.async([](Io io) -> corio::Task<void> {
                                     co_await io.sleep(1ms);
                                     throw std::logic_error("from a coroutine");
                                 }, io)
                                   .await();
                           } catch (const std::logic_error& e) {
                               return std::string(e.what());
                           }
                           return std::string("nothing thrown");
                       }),
              "from a coroutine");
}

INSTANTIATE_TEST_SUITE_P(, IoUringCrossAwait, ::testing::Values(0u, 1u, 2u),
                         [](const ::testing::TestParamInfo<unsigned>& info) {
                             return "Threads" + std::to_string(info.param);
                         });

// ---- yield ----------------------------------------------------------------------------------

TEST(IoUringFiber, YieldAlternatesTwoFibersOnOneWorker) {
    CORIO_RING(ring, {.threads = 1});
    Watchdog dog("the yield test", patience(60s));
    Io io = ring->io();
    static constexpr int turns = 100;
    const std::string order = on_fiber(io, [io] {
        corio::Event go;
        std::string order;
        auto body = [&order, &go, io](char who) {
            go.wait(io).await();
            for (int i = 0; i < turns; ++i) {
                order.push_back(who);  // one worker: no two fibers run at once
                io.yield().await();
            }
        };
        auto a = io.concurrent(body, 'a');
        auto b = io.concurrent(body, 'b');
        // Start both together: wait until both are parked on the event.
        const auto deadline = io.now() + patience(10s);
        while ((a.task()->wait_kind.load() != corio::detail::WaitKind::event ||
                b.task()->wait_kind.load() != corio::detail::WaitKind::event) &&
               io.now() < deadline)
            io.sleep(1ms).await();
        go.set();
        a.await();
        b.await();
        return order;
    });
    ASSERT_EQ(order.size(), 2u * turns);
    std::size_t repeats = 0;
    for (std::size_t i = 1; i < order.size(); ++i)
        if (order[i] == order[i - 1]) ++repeats;
    EXPECT_EQ(repeats, 0u) << "not strictly alternating: " << order;
}

// ---- threads = 0: the calling thread drives -------------------------------------------------

int slow_add(Io io, int a, int b) {
    io.sleep(5ms).await();
    return a + b;
}

TEST(IoUringCallerDriven, AsyncAndSleepFromTheMainThread) {
    CORIO_RING(ring, {.threads = 0});
    Watchdog dog("the caller-driven async test", patience(60s));
    Io io = ring->io();
    const auto main_thread = std::this_thread::get_id();

    // io.async from the main thread, awaited there.
    auto f = io.async(slow_add, io, 2, 3);
    EXPECT_EQ(f.await(), 5);

    // A sleep on the main thread.
    const auto before = io.now();
    io.sleep(20ms).await();
    EXPECT_GE(io.now() - before, 20ms);

    // A coroutine awaiting a fiber, and fibers that ping-pong: all on the main thread.
    EXPECT_EQ(io.async(coroutine_awaits_fiber, io, 1).await(), 4);
    corio::Semaphore ping, pong;
    int rounds = 0;
    std::thread::id a_thread, b_thread;
    auto a = io.concurrent([&] {
        a_thread = std::this_thread::get_id();
        for (int i = 0; i < 1000; ++i) {
            ping.release();
            pong.acquire(io).await();
        }
    });
    auto b = io.concurrent([&] {
        b_thread = std::this_thread::get_id();
        for (int i = 0; i < 1000; ++i) {
            ping.acquire(io).await();
            ++rounds;
            pong.release();
        }
    });
    b.await();
    a.await();
    EXPECT_EQ(rounds, 1000);
    EXPECT_EQ(a_thread, main_thread);
    EXPECT_EQ(b_thread, main_thread);
}

TEST(IoUringCallerDriven, RunUntilAFuture) {
    CORIO_RING(ring, {.threads = 0});
    Watchdog dog("the run_until test", patience(60s));
    Io io = ring->io();
    std::thread::id ran_on;
    auto g = io.concurrent([io, &ran_on] {
        ran_on = std::this_thread::get_id();
        io.sleep(5ms).await();
        return 7;
    });
    EXPECT_EQ(ring->run_until(g), 7);
    EXPECT_EQ(ran_on, std::this_thread::get_id());  // no other thread runs anything
    // Once more, now that the main thread owns the loop; and a coroutine.
    auto h = io.async(coroutine_doubles, io, 8);
    EXPECT_EQ(ring->run_until(h), 16);
}

TEST(IoUringCallerDriven, RunDrivesUntilNoTaskIsLeft) {
    CORIO_RING(ring, {.threads = 0});
    Io io = ring->io();
    io.sleep(1ms).await();  // the main thread owns the loop from here on

    // Should run() block for good, a timer armed from another thread wakes the loop (it checks
    // for tasks again then), so that the test fails instead of hanging.
    Watchdog dog("the run() test", patience(60s));
    std::atomic<bool> returned{false}, rescued{false}, rescuer_done{false};
    std::thread rescuer([&] {
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!returned.load()) {
            if (std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(1ms);
                continue;
            }
            rescued = true;
            io.sleep(1ms).await();
        }
        rescuer_done = true;
    });
    std::atomic<int> done{0};
    {
        corio::Group group{io};
        for (int i = 0; i < 10; ++i)
            group.concurrent([io, &done, i] {
                io.sleep(std::chrono::milliseconds(i)).await();
                done.fetch_add(1);
            });
        ring->run();
        returned = true;
        EXPECT_EQ(done.load(), 10);
        EXPECT_EQ(group.size(), 0u);
        group.wait();
    }
    // The rescuer's last sleep, if any, ends only while this thread drives the loop.
    while (!rescuer_done.load()) io.sleep(1ms).await();
    rescuer.join();
    EXPECT_FALSE(rescued.load()) << "run() did not return once the last task ended (it returned "
                                    "only when another thread woke the loop)";
    EXPECT_EQ(ring->live_tasks(), 0u);
}

TEST(IoUringWorkers, RunWaitsUntilTheLastTaskEndsAndReturnsThen) {
    // run() with worker threads sleeps until the tasks have ended: plain tasks and coroutines,
    // futures held, a group, and a task that ends long after the others.
    CORIO_RING(ring, {.threads = 2});
    Watchdog dog("run() with workers", patience(60s));
    Io io = ring->io();
    std::atomic<int> done{0};
    std::vector<corio::Future<void>> held;
    for (int i = 0; i < 8; ++i)
        held.push_back(io.concurrent([io, &done, i] {
            io.sleep(std::chrono::milliseconds(i)).await();
            done.fetch_add(1);
        }));
    auto coro = [](Io io, std::atomic<int>& done) -> corio::Task<void> {
        co_await io.sleep(5ms);
        done.fetch_add(1);
    };
    held.push_back(io.concurrent(coro, io, std::ref(done)));
    corio::Group group{io};
    group.concurrent([io, &done] {
        io.sleep(50ms).await();
        done.fetch_add(1);
    });
    const auto t0 = std::chrono::steady_clock::now();
    ring->run();
    EXPECT_EQ(done.load(), 10) << "run() returned before every task ended";
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 40ms);
    for (auto& f : held) EXPECT_TRUE(f.ready());
    group.wait();
    for (auto& f : held) f.await();
    // With nothing left, it returns at once; and again after more work.
    ring->run();
    auto late = io.concurrent([io] { io.sleep(2ms).await(); });
    ring->run();
    EXPECT_TRUE(late.ready());
    late.await();
}

TEST(IoUringCallerDriven, RunReturnsOnceTasksEndedEvenWithTheirFuturesHeld) {
    CORIO_RING(ring, {.threads = 0});
    Io io = ring->io();
    io.sleep(1ms).await();  // the main thread owns the loop from here on
    Watchdog dog("the run() and held futures test", patience(60s));

    auto held = io.concurrent([io] {
        io.sleep(2ms).await();
        return 11;
    });
    // Should run() wait for the future to be consumed, the rescuer consumes it and wakes the
    // loop with a timer, so that the test fails instead of hanging. The test's thread touches
    // `held` only after the rescuer is gone.
    std::atomic<bool> returned{false}, rescued{false}, rescuer_done{false};
    int rescued_value = 0;
    std::thread rescuer([&] {
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!returned.load() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
        if (!returned.load()) {
            rescued = true;
            rescued_value = held.await();
            while (!returned.load()) io.sleep(1ms).await();
        }
        rescuer_done = true;
    });
    ring->run();
    returned = true;
    while (!rescuer_done.load()) io.sleep(1ms).await();  // the rescuer's sleep needs the loop
    rescuer.join();
    EXPECT_FALSE(rescued.load())
        << "run() returned only once the held future was consumed (by another thread)";
    if (rescued.load()) {
        EXPECT_EQ(rescued_value, 11);
    } else {
        EXPECT_TRUE(held.ready());
        EXPECT_EQ(held.await(), 11);
    }
    EXPECT_EQ(ring->live_tasks(), 0u);
}

TEST(IoUringCallerDriven, AnotherThreadCannotDriveIt) {
    CORIO_RING(ring, {.threads = 0});
    Io io = ring->io();
    EXPECT_EQ(io.async(slow_add, io, 1, 1).await(), 2);  // the main thread owns the loop now
    bool usage_error = false;
    std::string what;
    std::thread other([&] {
        try {
            ring->run();
        } catch (const corio::UsageError& e) {
            usage_error = true;
            what = e.what();
        } catch (...) {
        }
    });
    other.join();
    EXPECT_TRUE(usage_error);
    EXPECT_NE(what.find("threads = 0"), std::string::npos) << what;
}

// ---- exceptions -----------------------------------------------------------------------------

[[gnu::noinline]] int throw_at_depth(int depth) {
    if (depth == 0) throw std::out_of_range("bottom");
    return throw_at_depth(depth - 1) + 1;
}

TEST(IoUringFiber, ExceptionsThrownAndCaughtInsideFibers) {
    CORIO_RING(ring, {.threads = 1});
    Watchdog dog("the exception test", patience(60s));
    Io io = ring->io();
    on_fiber(io, [io] {
        // Several fibers on one worker, each throwing and catching between its waits.
        std::vector<corio::Future<int>> fs;
        for (int k = 0; k < 8; ++k)
            fs.push_back(io.concurrent([io, k] {
                int caught = 0;
                for (int i = 0; i < 50; ++i) {
                    try {
                        io.yield().await();
                        if ((i + k) % 2 == 0) throw_at_depth(20 + k);
                        io.sleep(100us).await();
                        throw std::runtime_error("after a wait " + std::to_string(k));
                    } catch (const std::out_of_range& e) {
                        EXPECT_STREQ(e.what(), "bottom");
                        ++caught;
                    } catch (const std::runtime_error& e) {
                        EXPECT_EQ(std::string(e.what()), "after a wait " + std::to_string(k));
                        ++caught;
                    }
                    EXPECT_EQ(std::uncaught_exceptions(), 0);
                    EXPECT_EQ(std::current_exception(), nullptr);
                }
                return caught;
            }));
        for (auto& f : fs) EXPECT_EQ(f.await(), 50);
    });
}

TEST(IoUringFiber, ExceptionPropagatesOutOfAFiberToItsAwaiter) {
    CORIO_RING(ring, {.threads = 2});
    Watchdog dog("the exception propagation test", patience(60s));
    Io io = ring->io();
    // To the test's thread.
    auto f = io.concurrent(fiber_throws, io);
    try {
        f.await();
        ADD_FAILURE() << "nothing thrown";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "from a fiber");
    }
    // await() again rethrows the same exception.
    EXPECT_THROW(f.await(), std::runtime_error);
    // To another fiber, from a fiber with a custom exception type thrown deep down.
    struct Custom {
        int value;
    };
    const int v = on_fiber(io, [io] {
        auto inner = io.concurrent([io] {
            io.sleep(1ms).await();
            throw Custom{42};
        });
        try {
            inner.await();
        } catch (const Custom& c) {
            return c.value;
        }
        return -1;
    });
    EXPECT_EQ(v, 42);
    // Through a group: the first error is rethrown by wait().
    corio::Group group{io};
    group.concurrent([io] { io.sleep(1h).await(); });
    group.concurrent(fiber_throws, io);
    EXPECT_THROW(group.wait(), std::runtime_error);
}

// A fiber that waits inside a catch block must still see its own exception afterwards, even if
// another fiber on the same thread threw and caught meanwhile. (The C++ runtime keeps the
// stack of caught exceptions per thread.)
TEST(IoUringFiber, CaughtExceptionIsPerFiber) {
    CORIO_RING(ring, {.threads = 1});
    Watchdog dog("the caught-exception test", patience(60s));
    Io io = ring->io();
    on_fiber(io, [io] {
        corio::Event a_in_catch, b_in_catch;
        auto a = io.concurrent([&] {
            try {
                throw std::runtime_error("A");
            } catch (const std::exception&) {
                a_in_catch.set();
                b_in_catch.wait(io).await();  // parks inside the catch
                try {
                    throw;  // rethrows the exception this catch handles
                } catch (const std::exception& e) {
                    return std::string(e.what());
                }
            }
        });
        auto b = io.concurrent([&] {
            a_in_catch.wait(io).await();
            try {
                throw std::runtime_error("B");
            } catch (const std::exception&) {
                b_in_catch.set();
                io.sleep(20ms).await();  // parks inside the catch while A leaves its own
                try {
                    throw;
                } catch (const std::exception& e) {
                    return std::string(e.what());
                }
            }
        });
        EXPECT_EQ(a.await(), "A");
        EXPECT_EQ(b.await(), "B");
    });
}

// std::uncaught_exceptions() in one fiber must not count an exception unwinding another fiber
// that parked in a destructor (a Future's destructor waits, for one).
TEST(IoUringFiber, UncaughtExceptionsIsPerFiber) {
    CORIO_RING(ring, {.threads = 1});
    Watchdog dog("the uncaught-exceptions test", patience(60s));
    Io io = ring->io();
    on_fiber(io, [io] {
        corio::Event a_unwinding;
        struct WaitsWhenDestroyed {
            Io io;
            corio::Event* unwinding;
            ~WaitsWhenDestroyed() {
                unwinding->set();
                io.sleep(20ms).await();
            }
        };
        auto a = io.concurrent([&] {
            try {
                WaitsWhenDestroyed w{io, &a_unwinding};
                throw std::runtime_error("unwinding");
            } catch (const std::runtime_error&) {
            }
        });
        auto b = io.concurrent([&] {
            a_unwinding.wait(io).await();
            return std::uncaught_exceptions();
        });
        EXPECT_EQ(b.await(), 0);
        a.await();
    });
}

}  // namespace
