// SPDX-License-Identifier: MIT
// Conformance: clocks, sleep, sleep_until, yield, with_timeout.
#include "conformance/harness.hpp"

#include <array>
#include <atomic>
#include <system_error>

using namespace std::chrono_literals;
using corio::Io;

namespace {

CORIO_CONFORMANCE_SUITE(Time);

TEST_P(Time, SleepWaitsAtLeastItsDuration) {
    run([](Io io) {
        const auto t0 = io.now();
        io.sleep(20ms).await();
        EXPECT_GE(io.now() - t0, 20ms);
    });
}

TEST_P(Time, SleepUntilAPastDeadlineCompletesInline) {
    run([](Io io) {
        io.sleep_until(io.now() - 1s).await();
        io.sleep(0ms).await();
        SUCCEED();
    });
}

TEST_P(Time, ZeroSleepWithAPendingCancelCompletesButALongOneThrows) {
    run([](Io io) {
        auto f = io.concurrent([io] {
            while (!io.cancel_requested()) io.sleep(1ms).await();
            io.sleep(0ms).await();  // completes without waiting: ignores the request
            io.sleep(1h).await();   // must wait: throws
        });
        io.sleep(2ms).await();
        EXPECT_THROW(f.cancel(), corio::Canceled);
    });
}

TEST_P(Time, NowOnOtherClocks) {
    run([](Io io) {
        const auto s0 = io.now<std::chrono::system_clock>();
        io.sleep(10ms).await();
        const auto s1 = io.now<std::chrono::system_clock>();
        EXPECT_GE(s1 - s0, 9ms);
        EXPECT_EQ(io.now<std::chrono::steady_clock>().time_since_epoch().count() > 0, true);
    });
}

TEST_P(Time, VirtualTimeJumpsOnSimulated) {
    if (!simulated()) GTEST_SKIP() << "virtual time is Simulated's";
    run([](Io io) {
        const auto t0 = io.now();
        io.sleep(24h).await();  // instant in virtual time
        EXPECT_EQ(io.now() - t0, 24h);
    });
}

// The deadlines are fixed only once every sleeper runs (starting a thread can take longer
// than the spacing under ASan on a loaded machine, and a sleeper that starts after its deadline
// would not wait at all). The spacing must also exceed how long a woken sleeper can wait for a
// CPU: 25 ms was not enough under ASan beside another suite on 2 cores (one sleeper locked the
// mutex after the next one).
constexpr auto kSleeperSpacing =
    CORIO_STRESS_DIVISOR > 1 ? std::chrono::milliseconds(150) : std::chrono::milliseconds(50);

TEST_P(Time, ManySleepersWakeInDeadlineOrder) {
    run([](Io io) {
        corio::Mutex m;
        std::vector<int> order;
        corio::Event go;
        std::atomic<int> ready{0};
        std::chrono::steady_clock::time_point t0{};  // written before `go` is set
        corio::Group g{io};
        for (int i = 5; i >= 1; --i)
            g.concurrent([io, i, &t0, &go, &ready, &m, &order] {
                ++ready;
                go.wait(io).await();
                io.sleep_until(t0 + i * kSleeperSpacing).await();
                auto guard = m.scoped_lock(io).await();
                order.push_back(i);
            });
        ASSERT_TRUE(corio::test::eventually(io, [&] { return ready.load() == 5; }));
        t0 = io.now();
        go.set();
        g.wait();
        EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5}));
    });
}

TEST_P(Time, YieldLetsOthersRunAndIsACancellationPoint) {
    run([](Io io) {
        std::atomic<bool> flag{false};
        auto f = io.concurrent([&flag] { flag = true; });
        for (int i = 0; i < 100000 && !flag.load(); ++i) io.yield().await();
        f.await();
        EXPECT_TRUE(flag.load());
        auto g = io.concurrent([io] {
            for (;;) io.yield().await();
        });
        io.sleep(1ms).await();
        EXPECT_THROW(g.cancel(), corio::Canceled);
    });
}

corio::Task<int> coroutine_sleeps_and_yields(Io io) {
    const auto t0 = io.now();
    co_await io.sleep(5ms);
    co_await io.yield();
    co_await io.sleep_until(io.now() + 1ms);
    co_return io.now() - t0 >= 6ms ? 1 : 0;
}

TEST_P(Time, CoroutinesSleepAndYield) {
    run([](Io io) { EXPECT_EQ(io.async(coroutine_sleeps_and_yields, io).await(), 1); });
}

TEST_P(Time, WithTimeoutThrowsTimeoutAndLeavesTheTaskUncancelled) {
    run([](Io io) {
        corio::Event never;
        EXPECT_THROW(corio::with_timeout(io, 10ms, never.wait(io)).await(), corio::Timeout);
        EXPECT_FALSE(io.cancel_requested());
        // the task goes on waiting normally afterwards
        io.sleep(1ms).await();
    });
}

TEST_P(Time, WithTimeoutStoresTimedOutInANonThrowingOverload) {
    run([](Io io) {
        auto [r, w] = corio::File::pipe();
        std::array<std::byte, 4> buf{};
        std::error_code ec;
        EXPECT_EQ(corio::with_timeout(io, 10ms, r.read(io, buf, ec)).await(), 0u);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_FALSE(io.cancel_requested());
        // A cancellation of the task is still a cancellation.
        auto reader = io.concurrent([io, &r, &buf] {
            std::error_code e;
            (void)corio::with_timeout(io, 1h, r.read(io, buf, e)).await();
            return e;
        });
        io.sleep(1ms).await();
        EXPECT_EQ(reader.cancel(), std::errc::operation_canceled);
        // And the operation's own result when it wins.
        (void)w.write_all(io, "ab").await();
        EXPECT_EQ(corio::with_timeout(io, 1h, r.read(io, buf, ec)).await(), 2u);
        EXPECT_FALSE(ec) << ec.message();
    });
}

TEST_P(Time, WithTimeoutReturnsTheResultWhenTheOperationWins) {
    run([](Io io) {
        corio::Queue<int> q{1};
        ASSERT_TRUE(q.try_put(5));
        EXPECT_EQ(corio::with_timeout(io, 1h, q.get(io)).await(), 5);
        auto f = io.concurrent([io, &q] {
            io.sleep(2ms).await();
            q.put(io, 6).await();
        });
        EXPECT_EQ(corio::with_timeout(io, 1h, q.get(io)).await(), 6);
        f.await();
    });
}

TEST_P(Time, WithTimeoutOnASleepLongerThanTheTimeout) {
    run([](Io io) {
        const auto t0 = io.now();
        EXPECT_THROW(corio::with_timeout(io, 5ms, io.sleep(1h)).await(), corio::Timeout);
        EXPECT_LT(io.now() - t0, 30min);
        EXPECT_NO_THROW(corio::with_timeout(io, 1h, io.sleep(1ms)).await());
    });
}

TEST_P(Time, TaskCancellationDuringWithTimeoutIsCanceledNotTimeout) {
    run([](Io io) {
        auto f = io.concurrent([io] {
            corio::Event never;
            corio::with_timeout(io, 1h, never.wait(io)).await();
        });
        io.sleep(1ms).await();
        EXPECT_THROW(f.cancel(), corio::Canceled);
    });
}

corio::Task<int> coroutine_timeout(Io io) {
    corio::Event never;
    try {
        co_await corio::with_timeout(io, 5ms, never.wait(io));
    } catch (const corio::Timeout&) {
        co_return 1;
    }
    co_return 0;
}

TEST_P(Time, WithTimeoutInACoroutine) {
    run([](Io io) { EXPECT_EQ(io.async(coroutine_timeout, io).await(), 1); });
}

}  // namespace
