// SPDX-License-Identifier: MIT
// Threaded: limits, inline async, idle threads, interruptible blocking system calls.
#include "backend/threaded/interrupt.hpp"

#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <thread>

using namespace std::chrono_literals;

namespace {

struct Pipe {
    int fds[2] = {-1, -1};
    Pipe() {
        if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    }
    ~Pipe() {
        for (int fd : fds)
            if (fd >= 0) ::close(fd);
    }
};

long blocking_read(corio::Io io, int fd, char* buf, std::size_t n) {
    return corio::detail::interruptible_syscall(io.backend(), [&] { return ::read(fd, buf, n); });
}

TEST(Threaded, ACancelInterruptsABlockingReadOnAPipe) {
    corio::Threaded pool;
    corio::Io io = pool.io();
    Pipe p;
    char buf[16];
    auto f = io.concurrent(blocking_read, io, p.fds[0], buf, sizeof buf);
    std::this_thread::sleep_for(20ms);  // let it block in read()
    EXPECT_FALSE(f.ready());
    EXPECT_THROW(f.cancel(), corio::Canceled);
}

TEST(Threaded, ACancelledReadThatGotDataReturnsIt) {
    corio::Threaded pool;
    corio::Io io = pool.io();
    Pipe p;
    char buf[16] = {};
    ASSERT_EQ(::write(p.fds[1], "abc", 3), 3);
    auto f = io.concurrent(blocking_read, io, p.fds[0], buf, sizeof buf);
    while (!f.ready()) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(f.cancel(), 3);  // never both data and Canceled, never lost bytes
    EXPECT_EQ(std::string(buf, 3), "abc");
}

TEST(Threaded, AReadCancelledBeforeItStartsThrowsAtOnce) {
    corio::Threaded pool;
    corio::Io io = pool.io();
    Pipe p;
    ASSERT_EQ(::write(p.fds[1], "x", 1), 1);
    auto f = io.concurrent([io, &p] {
        while (!io.stop_token().stop_requested()) std::this_thread::sleep_for(1ms);
        char c;
        return blocking_read(io, p.fds[0], &c, 1);
    });
    EXPECT_THROW(f.cancel(), corio::Canceled);
    char c = 0;
    EXPECT_EQ(::read(p.fds[0], &c, 1), 1);  // the byte was not consumed
}

TEST(Threaded, RepeatedInterruptsNeverLoseBytes) {
    corio::Threaded pool;
    corio::Io io = pool.io();
    Pipe p;
    std::size_t received = 0;
    for (int round = 0; round < 50; ++round) {
        char buf[8];
        auto f = io.concurrent(blocking_read, io, p.fds[0], buf, sizeof buf);
        if (round % 2 == 0) {
            ASSERT_EQ(::write(p.fds[1], "y", 1), 1);
        }
        try {
            received += static_cast<std::size_t>(f.cancel());
        } catch (const corio::Canceled&) {
        }
    }
    // Whatever was not received by a cancelled read is still in the pipe.
    char rest[64];
    ::close(p.fds[1]);
    p.fds[1] = -1;
    const long left = ::read(p.fds[0], rest, sizeof rest);
    EXPECT_EQ(received + static_cast<std::size_t>(left), 25u);
}

TEST(Threaded, ConcurrentThrowsAtItsLimit) {
    corio::Threaded pool({.concurrent_limit = 2});
    corio::Io io = pool.io();
    corio::Event release;
    auto a = io.concurrent([&] { release.wait(io).await(); });
    auto b = io.concurrent([&] { release.wait(io).await(); });
    EXPECT_THROW((void)io.concurrent([] {}), corio::ConcurrencyUnavailable);
    try {
        (void)io.concurrent([] {});
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::make_error_code(std::errc::resource_unavailable_try_again));
    }
    release.set();
    a.await();
    b.await();
    EXPECT_NO_THROW(io.concurrent([] {}).await());
}

TEST(Threaded, AsyncLimitZeroRunsInline) {
    corio::Threaded pool({.async_limit = 0});
    corio::Io io = pool.io();
    const auto caller = std::this_thread::get_id();
    auto f = io.async([] { return std::this_thread::get_id(); });
    EXPECT_TRUE(f.ready());
    EXPECT_EQ(f.await(), caller);
    EXPECT_EQ(pool.thread_count(), 0u);
}

TEST(Threaded, AsyncBeyondItsLimitRunsInlineAndNeverThrows) {
    corio::Threaded pool({.async_limit = 1});
    corio::Io io = pool.io();
    corio::Event release;
    auto busy = io.async([&] { release.wait(io).await(); });
    const auto caller = std::this_thread::get_id();
    auto f = io.async([] { return std::this_thread::get_id(); });  // no room: inline
    EXPECT_EQ(f.await(), caller);
    release.set();
    busy.await();
}

TEST(Threaded, IdleThreadsExitAfterTheIdleTimeout) {
    corio::Threaded pool({.idle_timeout = std::chrono::milliseconds(20)});
    corio::Io io = pool.io();
    io.concurrent([] {}).await();
    io.concurrent([] {}).await();
    for (int i = 0; i < 500 && pool.thread_count() != 0; ++i) std::this_thread::sleep_for(2ms);
    EXPECT_EQ(pool.thread_count(), 0u);
    EXPECT_EQ(io.concurrent([] { return 1; }).await(), 1);  // and come back on demand
}

TEST(Threaded, AThreadBlockedInAwaitRunsTheQueuedTaskItself) {
    corio::Threaded pool({.async_limit = 1});
    corio::Io io = pool.io();
    // Many nested awaits on one worker: each awaiter claims its child if it has not started.
    std::function<int(int)> depth = [&](int n) -> int {
        if (n == 0) return 0;
        return io.async(depth, n - 1).await() + 1;
    };
    EXPECT_EQ(io.async(depth, 50).await(), 50);
}

TEST(Threaded, TimersFireInOrderAndCancelledOnesNever) {
    corio::Threaded pool;
    corio::Io io = pool.io();
    const auto t0 = io.now();
    io.sleep(15ms).await();
    EXPECT_GE(io.now() - t0, 15ms);
}

}  // namespace
