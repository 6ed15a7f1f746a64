// SPDX-License-Identifier: MIT
// Conformance: io.blocking runs a function that blocks where corio cannot see it on a thread of
// its own, and the awaiter (thread, fiber or coroutine) gets its result or exception.
#include "conformance/harness.hpp"

#include <atomic>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;
using corio::Io;

namespace {

CORIO_CONFORMANCE_SUITE(Blocking);

int slow_square(int x) {
    std::this_thread::sleep_for(5ms);  // a real block, invisible to corio
    return x * x;
}

corio::Task<int> square_from_coroutine(Io io, int x) { co_return co_await io.blocking(slow_square, x); }

TEST_P(Blocking, ReturnsTheResultToAThreadATaskAndACoroutine) {
    run([](Io io) {
        EXPECT_EQ(io.blocking(slow_square, 3).await(), 9);
        EXPECT_EQ(io.async([io] { return io.blocking(slow_square, 4).await(); }).await(), 16);
        EXPECT_EQ(io.async(square_from_coroutine, io, 5).await(), 25);
    });
}

TEST_P(Blocking, RunsOnAnotherThreadThanTheAwaiter) {
    if (simulated()) GTEST_SKIP() << "Simulated runs every task on carriers it schedules itself";
    run([](Io io) {
        const auto awaiter = std::this_thread::get_id();
        const auto runner = io.blocking([] { return std::this_thread::get_id(); }).await();
        EXPECT_NE(runner, awaiter);
    });
}

TEST_P(Blocking, AnExceptionReachesTheAwaiter) {
    run([](Io io) {
        auto f = io.blocking([]() -> int { throw std::runtime_error("library failed"); });
        EXPECT_THROW(f.await(), std::runtime_error);
    });
}

// While one task waits for a blocking call, the others on the same backend keep running: the
// wait parks the task (a fiber, a coroutine), never the worker. (`concurrent`: an inline
// `async` would run the waiting task on this thread, which then cannot start the ticker.)
TEST_P(Blocking, OtherTasksRunWhileOneWaitsForABlockingCall) {
    if (simulated()) GTEST_SKIP() << "a real block stops Simulated's one running carrier";
    run([](Io io) {
        std::atomic<bool> release{false};
        std::atomic<int> ticks{0};
        auto blocked = io.concurrent([io, &release] {
            return io.blocking([&release] {
                       while (!release.load()) std::this_thread::sleep_for(1ms);
                       return 1;
                   })
                .await();
        });
        auto ticker = io.async([io, &ticks] {
            for (int i = 0; i < 5; ++i) {
                io.sleep(1ms).await();
                ++ticks;
            }
        });
        ticker.await();
        EXPECT_EQ(ticks.load(), 5);
        release = true;
        EXPECT_EQ(blocked.await(), 1);
    });
}

// Cancelling a blocking call cannot stop the function (corio cannot see into it): cancel()
// waits for it and returns its result, or throws Canceled when it had not started.
TEST_P(Blocking, CancelWaitsForTheFunctionAndReturnsItsResult) {
    run([](Io io) {
        std::atomic<bool> started{false};
        auto f = io.blocking([&started] {
            started = true;
            std::this_thread::sleep_for(10ms);
            return 7;
        });
        ASSERT_TRUE(corio::test::eventually(io, [&] { return started.load(); }));
        EXPECT_EQ(f.cancel(), 7);
        EXPECT_EQ(f.cancel(), 7);  // idempotent
    });
}

TEST_P(Blocking, TheFunctionSeesTheCancelRequestThroughItsToken) {
    if (simulated()) GTEST_SKIP() << "the function's real sleep loop never lets Simulated run";
    run([](Io io) {
        std::atomic<bool> started{false};
        auto f = io.blocking([io, &started] {
            started = true;
            while (!io.cancel_requested()) std::this_thread::sleep_for(1ms);
            return 1;
        });
        ASSERT_TRUE(corio::test::eventually(io, [&] { return started.load(); }));
        EXPECT_EQ(f.cancel(), 1);
    });
}

}  // namespace
