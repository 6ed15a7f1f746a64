// SPDX-License-Identifier: MIT
// The aborts that report misuse: a plain wait inside a coroutine on a worker, and a backend
// destroyed while futures still refer to it.
#include <corio/corio.hpp>

#include <gtest/gtest.h>

using namespace std::chrono_literals;

namespace {

corio::Task<void> waits_the_wrong_way(corio::Io io) {
    io.sleep(1h).await();  // a plain wait in a coroutine: forbidden (1h: never done at once)
    co_return;
}

TEST(DeathTest, APlainAwaitInsideACoroutineAbortsNamingTheTask) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            corio::Threaded pool;
            corio::Io io = pool.io();
            io.concurrent(waits_the_wrong_way, io).await();
        },
        "plain wait \\(sleep\\) was called inside a coroutine.*task [0-9]+");
}

corio::Task<void> awaits_future_the_wrong_way(corio::Io io) {
    auto f = io.concurrent([] { return 1; });
    f.await();
    co_return;
}

TEST(DeathTest, APlainFutureAwaitInsideACoroutineAborts) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            corio::Threaded pool;
            corio::Io io = pool.io();
            io.concurrent(awaits_future_the_wrong_way, io).await();
        },
        "inside a coroutine");
}

corio::Task<void> cancels_future_the_wrong_way(corio::Io io) {
    auto f = io.concurrent([io] { io.sleep(1h).await(); });
    f.cancel();
    co_return;
}

corio::Task<void> cancels_group_the_wrong_way(corio::Io io) {
    corio::Group g(io);
    g.concurrent([io] { io.sleep(1h).await(); });
    g.cancel();
    co_return;
}

TEST(DeathTest, APlainCancelInsideACoroutineAbortsNamingTheAwaitable) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            corio::Threaded pool;
            corio::Io io = pool.io();
            io.concurrent(cancels_future_the_wrong_way, io).await();
        },
        "Future::cancel \\(in a coroutine: co_await corio::cancel\\(future\\)\\)");
    EXPECT_DEATH(
        {
            corio::Threaded pool;
            corio::Io io = pool.io();
            io.concurrent(cancels_group_the_wrong_way, io).await();
        },
        "Group::cancel \\(in a coroutine: co_await corio::cancel\\(group\\)\\)");
}

TEST(DeathTest, DestroyingABackendWithALiveFutureAbortsWithAList) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            auto pool = std::make_unique<corio::Threaded>();
            corio::Io io = pool->io();
            corio::Event never;
            auto f = io.concurrent([&] { never.wait(io).await(); });
            std::this_thread::sleep_for(10ms);
            pool.reset();
        },
        "still refer to it.*waiting on event");
}

}  // namespace
