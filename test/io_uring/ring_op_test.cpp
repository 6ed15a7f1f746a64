// SPDX-License-Identifier: MIT
// Ring operations on IoUring: NOPs from every kind of waiter, a completion queue too small for
// what is in flight, and cancellation (ASYNC_CANCEL routed to the owning ring) before, during
// and after a read that blocks, from fibers and coroutines, requested by another thread, by a
// task on a worker, and for thousands of reads at once (the worker's routed cancellation).
#include "io/nop.hpp"

#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#ifndef CORIO_STRESS_DIVISOR
#define CORIO_STRESS_DIVISOR 1
#endif

using namespace std::chrono_literals;

namespace {

constexpr int scaled(int n) { return n / CORIO_STRESS_DIVISOR > 0 ? n / CORIO_STRESS_DIVISOR : 1; }

std::unique_ptr<corio::IoUring> make_ring(corio::IoUring::Options o) {
    try {
        return std::make_unique<corio::IoUring>(o);
    } catch (const std::system_error&) {
        return nullptr;
    }
}

#define RING_OR_SKIP(var, ...)                                            \
    auto var = make_ring(__VA_ARGS__);                                    \
    if (!var) GTEST_SKIP() << "io_uring refused by this kernel"

/// read(2) as an I/O request (the path of every one: an SQE on the waiter's ring, or posted
/// to a worker's): blocks until the pipe has data.
class ReadOperation final : public corio::detail::IoOperation<ReadOperation> {
  public:
    ReadOperation(corio::Io io, int fd, char* buf, unsigned n) noexcept
        : IoOperation(io.backend()) {
        set(corio::detail::IoOpcode::read, fd, buf, n);
    }
    /// The count; throws Canceled, or the read's error.
    int take_result() { return static_cast<int>(result()); }
};

/// An operation whose arm() fails (as a timer's can with bad_alloc).
class ThrowingArm final : public corio::detail::Operation<ThrowingArm> {
  public:
    bool try_now() noexcept { return false; }
    void arm() { throw std::runtime_error("arm failed"); }
    void try_cancel() noexcept {}
    [[nodiscard]] corio::detail::WaitInfo wait_info() const noexcept {
        return {corio::detail::WaitKind::io, -1, {}};
    }
    void take_result() const { throw_if_canceled(); }
};

struct Pipe {
    int fds[2] = {-1, -1};
    Pipe() {
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category());
    }
    ~Pipe() {
        for (int fd : fds) ::close(fd);
    }
    void put(const char* s) const {
        ASSERT_EQ(::write(fds[1], s, std::strlen(s)), static_cast<ssize_t>(std::strlen(s)));
    }
};

corio::Task<int> nop_task(corio::Io io) { co_return co_await corio::detail::NopOperation(io); }

corio::Task<int> read_task(corio::Io io, int fd, char* buf, unsigned n) {
    co_return co_await ReadOperation(io, fd, buf, n);
}

class RingOp : public ::testing::TestWithParam<unsigned> {};

INSTANTIATE_TEST_SUITE_P(, RingOp, ::testing::Values(0u, 1u, 2u),
                         [](const auto& info) { return "Threads" + std::to_string(info.param); });

TEST_P(RingOp, ANopCompletesForAFiberACoroutineAndAForeignThread) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    corio::Io io = ring->io();
    auto fiber = io.async([io] { return corio::detail::NopOperation(io).await(); });
    auto coroutine = io.async(nop_task, io);
    EXPECT_EQ(fiber.await(), 0);
    EXPECT_EQ(coroutine.await(), 0);
    EXPECT_EQ(corio::detail::NopOperation(io).await(), 0);  // this (foreign or owning) thread
}

// The CQ has 4 entries; hundreds of NOPs are in flight at once. Completions that find the CQ
// full wait in the kernel (NODROP) and are flushed: every one arrives.
TEST_P(RingOp, AnOverflowingCompletionQueueLosesNothing) {
    RING_OR_SKIP(ring, {.threads = GetParam(), .ring_entries = 2});
    corio::Io io = ring->io();
    const int tasks = scaled(200), rounds = scaled(50);
    std::atomic<int> done{0};
    {
        corio::Group g(io);
        for (int t = 0; t < tasks; ++t) {
            g.async([io, rounds, &done] {
                for (int i = 0; i < rounds; ++i) {
                    corio::detail::NopOperation(io).await();
                    done.fetch_add(1, std::memory_order_relaxed);
                }
            });
        }
        g.wait();
    }
    EXPECT_EQ(done.load(), tasks * rounds);
}

TEST_P(RingOp, CancelBeforeTheReadThrowsWithoutTouchingThePipe) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    corio::Io io = ring->io();
    Pipe p;
    p.put("x");
    std::stop_source stop;
    stop.request_stop();
    char buf[4];
    auto f = io.async_with(stop.get_token(), [io, &p, &buf] {
        return ReadOperation(io, p.fds[0], buf, sizeof buf).await();
    });
    EXPECT_THROW(f.await(), corio::Canceled);
    char c = 0;
    EXPECT_EQ(::read(p.fds[0], &c, 1), 1);  // the byte is still there
    EXPECT_EQ(c, 'x');
}

TEST_P(RingOp, CancelDuringABlockedReadEndsItAndLosesNoByte) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    corio::Io io = ring->io();
    for (int round = 0; round < scaled(50); ++round) {
        Pipe p;
        char buf[4];
        auto f = io.async([io, &p, &buf] { return ReadOperation(io, p.fds[0], buf, sizeof buf).await(); });
        // Let it reach the kernel (from this thread when it drives the loop, threads = 0).
        io.sleep(1ms).await();
        EXPECT_THROW(f.cancel(), corio::Canceled);
        p.put("y");
        char c = 0;
        EXPECT_EQ(::read(p.fds[0], &c, 1), 1);
        EXPECT_EQ(c, 'y');
    }
}

TEST_P(RingOp, ACancelAfterTheReadCompletedReturnsTheData) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    corio::Io io = ring->io();
    Pipe p;
    p.put("z");
    char buf[4] = {};
    auto f = io.async([io, &p, &buf] { return ReadOperation(io, p.fds[0], buf, sizeof buf).await(); });
    io.sleep(1ms).await();
    EXPECT_EQ(f.cancel(), 1);
    EXPECT_EQ(buf[0], 'z');
}

// Either the data or Canceled, never both, and no byte lost, when data and the cancel race.
TEST_P(RingOp, DataRacingACancelIsReturnedOrLeftInThePipe) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    corio::Io io = ring->io();
    int got = 0, canceled = 0;
    for (int round = 0; round < scaled(200); ++round) {
        Pipe p;
        char buf[4] = {};
        auto f = io.async([io, &p, &buf] { return ReadOperation(io, p.fds[0], buf, 1).await(); });
        if (round % 2 == 0) io.yield().await();
        p.put("q");
        try {
            EXPECT_EQ(f.cancel(), 1);
            EXPECT_EQ(buf[0], 'q');
            ++got;
        } catch (const corio::Canceled&) {
            char c = 0;
            EXPECT_EQ(::read(p.fds[0], &c, 1), 1);
            EXPECT_EQ(c, 'q');
            ++canceled;
        }
    }
    EXPECT_EQ(got + canceled, scaled(200));
    RecordProperty("got", got);
    RecordProperty("canceled", canceled);
}

// A cancel from another thread is routed to the ring that owns the read.
TEST_P(RingOp, ACancelFromAnotherThreadReachesTheOwningRing) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    if (GetParam() == 0) GTEST_SKIP() << "the owning thread must drive the loop to see it";
    corio::Io io = ring->io();
    Pipe p;
    char buf[4];
    std::atomic<bool> started{false};
    auto f = io.async([io, &p, &buf, &started] {
        started = true;
        return ReadOperation(io, p.fds[0], buf, sizeof buf).await();
    });
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(5ms);
    std::thread other([&f] { f.request_cancel(); });
    other.join();
    EXPECT_THROW(f.await(), corio::Canceled);
}

// A coroutine's read: cancelled before, during, and after it completed.
TEST_P(RingOp, ACoroutineReadIsCancelledBeforeDuringAndAfterTheWait) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    corio::Io io = ring->io();
    Pipe p;
    char buf[4] = {};
    {
        std::stop_source stop;
        stop.request_stop();
        auto f = io.async_with(stop.get_token(), read_task, io, p.fds[0], buf, 4u);
        EXPECT_THROW(f.await(), corio::Canceled);
    }
    {
        auto f = io.async(read_task, io, p.fds[0], buf, 4u);
        io.sleep(1ms).await();
        EXPECT_THROW(f.cancel(), corio::Canceled);
    }
    {
        auto f = io.async(read_task, io, p.fds[0], buf, 1u);
        p.put("c");
        io.sleep(1ms).await();
        EXPECT_EQ(f.cancel(), 1);
        EXPECT_EQ(buf[0], 'c');
    }
}

// A task on a worker cancels a read another task waits in (on the same worker with one
// thread, on either with two): the worker that runs the read delivers it.
TEST_P(RingOp, ATaskOnAWorkerCancelsAnotherTasksRead) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    corio::Io io = ring->io();
    for (int round = 0; round < scaled(20); ++round) {
        Pipe p;
        char buf[4];
        auto reader = round % 2 == 0
                          ? io.async([io, &p, &buf] {
                                return ReadOperation(io, p.fds[0], buf, sizeof buf).await();
                            })
                          : io.async(read_task, io, p.fds[0], buf, 4u);
        auto canceller = io.async([io, &reader] {
            io.sleep(1ms).await();
            reader.request_cancel();
        });
        canceller.await();
        EXPECT_THROW(reader.await(), corio::Canceled);
        p.put("n");
        char c = 0;
        EXPECT_EQ(::read(p.fds[0], &c, 1), 1);  // nothing was read by the cancelled read
        EXPECT_EQ(c, 'n');
    }
}

// Thousands of reads blocked on one pipe, fibers and coroutines, cancelled together: more
// stops than a worker keeps reports of, so it looks at every wait it has. Each read ends
// Canceled and none took the byte written afterwards.
TEST_P(RingOp, ACancelStormOverThousandsOfBlockedReadsEndsEveryOne) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    corio::Io io = ring->io();
    const int readers = scaled(3000);
    Pipe p;
    std::atomic<int> started{0}, canceled{0};
    std::vector<char> bufs(static_cast<std::size_t>(readers) * 4);
    {
        corio::Group g(io);
        for (int i = 0; i < readers; ++i) {
            char* buf = &bufs[static_cast<std::size_t>(i) * 4];
            if (i % 2 == 0) {
                g.async([io, &p, buf, &started, &canceled] {
                    started.fetch_add(1);
                    try {
                        ReadOperation(io, p.fds[0], buf, 4).await();
                    } catch (const corio::Canceled&) {
                        canceled.fetch_add(1);
                        throw;
                    }
                });
            } else {
                g.async([](corio::Io io, int fd, char* buf, std::atomic<int>* started,
                           std::atomic<int>* canceled) -> corio::Task<void> {
                    started->fetch_add(1);
                    try {
                        co_await ReadOperation(io, fd, buf, 4);
                    } catch (const corio::Canceled&) {
                        canceled->fetch_add(1);
                        throw;
                    }
                }, io, p.fds[0], buf, &started, &canceled);
            }
        }
        while (started.load() < readers) io.sleep(1ms).await();
        io.sleep(20ms).await();  // into the kernel, most of them
        g.cancel();
    }
    EXPECT_EQ(canceled.load(), readers);
    p.put("s");
    char c = 0;
    EXPECT_EQ(::read(p.fds[0], &c, 1), 1);
    EXPECT_EQ(c, 's');
}

// An operation whose arm() throws leaves nothing of itself registered: the waits after it on
// the same stack, and their cancellation, work.
TEST_P(RingOp, AnOperationWhoseArmThrowsLeavesNothingRegistered) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    corio::Io io = ring->io();
    Pipe p;
    char buf[4];
    std::atomic<bool> armed_all{false};
    auto f = io.async([io, &p, &buf, &armed_all] {
        for (int i = 0; i < 100; ++i) EXPECT_THROW(ThrowingArm().await(), std::runtime_error);
        armed_all = true;
        return ReadOperation(io, p.fds[0], buf, sizeof buf).await();
    });
    while (!armed_all) io.sleep(1ms).await();
    io.sleep(1ms).await();
    EXPECT_THROW(f.cancel(), corio::Canceled);
}

}  // namespace
