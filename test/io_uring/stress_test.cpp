// SPDX-License-Identifier: MIT
// IoUring under load: tens of thousands of fibers (guarded and not) and a million coroutines
// alive at once, a cancel storm over fibers parked on every kind of wait, and the cost of a
// fiber hand-off between two workers. Counts shrink with CORIO_STRESS_DIVISOR (2 ASan, 20 TSan).
#include "io_uring/support.hpp"

#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <memory>
#include <mutex>
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

/// Fibers alive at once. Under TSan every fiber costs about 9 memory maps and 1 MiB of its
/// shadow and state (5,000 took 45,000 of the 65,530 maps and 4.7 GiB): at most 1,000 there.
constexpr std::size_t fiber_count(std::size_t n) {
#ifdef CORIO_TEST_TSAN
    return scaled(n) < 1'000 ? scaled(n) : 1'000;
#else
    return scaled(n);
#endif
}

/// Polls `done` from plain code outside the backend for at most `limit`.
template <class P>
bool wait_for(P done, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

long max_map_count() {
    long v = -1;
    std::ifstream in("/proc/sys/vm/max_map_count");
    in >> v;
    return v;
}

/// Resident set size in bytes (VmRSS), or 0 when /proc is not there.
std::size_t rss_bytes() {
    std::ifstream in("/proc/self/status");
    std::string key;
    while (in >> key) {
        if (key == "VmRSS:") {
            std::size_t kb = 0;
            in >> kb;
            return kb * 1024;
        }
        in.ignore(1 << 16, '\n');
    }
    return 0;
}

std::size_t current_map_count() {
    std::ifstream in("/proc/self/maps");
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
}

/// `n` plain functions on fibers, all alive at once: each records itself and sleeps 50 ms; one
/// that wakes before every fiber has started waits for the test to open a gate (so the peak is
/// exactly `n`), then it returns its index.
void many_sleeping_fibers(IoUring& ring, std::size_t n) {
    Io io = ring.io();
    std::atomic<std::size_t> started{0}, alive{0}, peak{0}, finished{0};
    corio::Event gate;
    auto body = [&, io](std::size_t i) {
        const std::size_t now = alive.fetch_add(1) + 1;
        std::size_t p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        started.fetch_add(1);
        io.sleep(50ms).await();
        if (started.load() < n) gate.wait(io).await();
        alive.fetch_sub(1);
        finished.fetch_add(1);
        return i;
    };
    std::vector<corio::Future<std::size_t>> futures;
    futures.reserve(n);
    try {
        for (std::size_t i = 0; i < n; ++i) futures.push_back(io.concurrent(body, i));
    } catch (const corio::ConcurrencyUnavailable& e) {
        gate.set();
        ADD_FAILURE() << "spawning fiber " << futures.size() << " of " << n
                      << " failed: " << e.what();
    }
    EXPECT_TRUE(wait_for([&] { return started.load() == futures.size(); }, patience(60s)))
        << started.load() << " of " << futures.size() << " fibers started";
    const std::size_t maps = current_map_count();
    const std::size_t rss = rss_bytes();
    gate.set();
    std::uint64_t sum = 0;
    std::size_t mismatched = 0;
    for (std::size_t i = 0; i < futures.size(); ++i) {
        const std::size_t r = futures[i].await();
        if (r != i) ++mismatched;
        sum += r;
    }
    const std::uint64_t m = futures.size();
    EXPECT_EQ(mismatched, 0u);
    EXPECT_EQ(sum, m * (m - 1) / 2);
    EXPECT_EQ(finished.load(), n);
    EXPECT_EQ(peak.load(), n);
    EXPECT_EQ(alive.load(), 0u);
    std::printf("%zu fibers alive at once: %zu memory maps, RSS %zu MiB\n", n, maps, rss >> 20);
    ::testing::Test::RecordProperty("fibers", std::to_string(n));
    ::testing::Test::RecordProperty("memory_maps", std::to_string(maps));
    ::testing::Test::RecordProperty("rss_mib", std::to_string(rss >> 20));
}

TEST(IoUringStress, ThirtyThousandGuardedFibersAliveAtOnce) {
    const std::size_t n = fiber_count(30'000);
    const long limit = max_map_count();
    // Each guarded stack takes two maps; leave room for the process's own.
    if (limit > 0 && static_cast<std::size_t>(limit) < 2 * n + 4'000)
        GTEST_SKIP() << "vm.max_map_count is " << limit << ": too low for " << n
                     << " guarded stacks";
    std::string why;
    auto ring = make_ring({}, why);
    if (!ring) GTEST_SKIP() << "io_uring unavailable here: " << why;
    ASSERT_TRUE(ring->options().guard_pages);
    Watchdog dog("30,000 guarded fibers", patience(120s));
    many_sleeping_fibers(*ring, n);
}

TEST(IoUringStress, HundredThousandUnguardedFibersAliveAtOnce) {
    const std::size_t n = fiber_count(100'000);
    std::string why;
    auto ring = make_ring({.guard_pages = false}, why);
    if (!ring) GTEST_SKIP() << "io_uring unavailable here: " << why;
    Watchdog dog("100,000 unguarded fibers", patience(120s));
    many_sleeping_fibers(*ring, n);
}

// ---- a million coroutines -------------------------------------------------------------------

corio::Task<std::uint64_t> gated(Io io, corio::Event* gate, std::atomic<std::size_t>* started,
                                 std::uint64_t i) {
    started->fetch_add(1, std::memory_order_relaxed);
    co_await gate->wait(io);
    if (i % 2 == 1) co_await io.sleep(1ms);  // half of them go through the timer heap too
    co_return i;
}

TEST(IoUringStress, MillionCoroutinesAliveAtOnce) {
    const std::size_t n = scaled(1'000'000);
    std::string why;
    auto ring = make_ring({}, why);
    if (!ring) GTEST_SKIP() << "io_uring unavailable here: " << why;
    Watchdog dog("1,000,000 coroutines", patience(180s));
    Io io = ring->io();
    corio::Event gate;
    std::atomic<std::size_t> started{0};
    const std::size_t rss_before = rss_bytes();
    {
        std::vector<corio::Future<std::uint64_t>> futures;
        futures.reserve(n);
        for (std::size_t i = 0; i < n; ++i) futures.push_back(io.async(gated, io, &gate, &started, i));
        ASSERT_TRUE(wait_for([&] { return started.load() == n; }, patience(120s)))
            << started.load() << " of " << n << " coroutines started";
        // Every one is parked on the event now: none can have finished.
        EXPECT_EQ(ring->live_tasks(), n);
        const std::size_t rss_peak = rss_bytes();
        const std::size_t per_task = rss_peak > rss_before ? (rss_peak - rss_before) / n : 0;
        std::printf("%zu coroutines alive at once: RSS grew by %zu MiB (%zu bytes per task)\n", n,
                    (rss_peak - std::min(rss_peak, rss_before)) >> 20, per_task);
        RecordProperty("rss_growth_mib",
                       std::to_string((rss_peak - std::min(rss_peak, rss_before)) >> 20));
        RecordProperty("rss_bytes_per_task", std::to_string(per_task));
        // A task state and a coroutine frame are a few hundred bytes (about 750 bytes of RSS
        // per task here, 1,100 under ASan); a few KiB per task would mean something per task is
        // far larger than it should be. TSan's shadow multiplies every byte: not checked there.
#ifndef CORIO_TEST_TSAN
        EXPECT_LT(per_task, CORIO_STRESS_DIVISOR > 1 ? 4096u : 2048u);
#endif

        gate.set();
        std::uint64_t sum = 0;
        std::size_t mismatched = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint64_t r = futures[i].await();
            if (r != i) ++mismatched;
            sum += r;
        }
        EXPECT_EQ(mismatched, 0u);
        EXPECT_EQ(sum, std::uint64_t{n} * (n - 1) / 2);
    }
    EXPECT_EQ(ring->live_tasks(), 0u);
}

// ---- cancel storm ---------------------------------------------------------------------------

TEST(IoUringStress, CancelStormOverParkedFibers) {
    const std::size_t n = fiber_count(10'000);
    std::string why;
    auto ring = make_ring({}, why);
    if (!ring) GTEST_SKIP() << "io_uring unavailable here: " << why;
    Watchdog dog("the cancel storm", patience(120s));
    Io io = ring->io();

    corio::Mutex mutex;
    corio::Queue<int> queue(4);
    ASSERT_TRUE(mutex.try_lock());  // held by the test until every locker gave up

    std::atomic<std::size_t> started{0}, canceled{0}, completed{0}, other{0};
    auto body = [&, io](std::size_t i) {
        started.fetch_add(1);
        try {
            switch (i % 3) {
                case 0: io.sleep(1h).await(); break;
                case 1: (void)queue.get(io).await(); break;
                default: mutex.lock(io).await(); break;
            }
            completed.fetch_add(1);
        } catch (const corio::Canceled&) {
            canceled.fetch_add(1);
            throw;
        } catch (...) {
            other.fetch_add(1);
            throw;
        }
    };

    // Half are members of a group, half are awaited through their own futures.
    corio::Group group{io};
    std::vector<corio::Future<void>> futures;
    futures.reserve(n / 2);
    for (std::size_t i = 0; i < n; ++i) {
        if (i % 2 == 0)
            group.concurrent(body, i);
        else
            futures.push_back(io.concurrent(body, i));
    }
    ASSERT_TRUE(wait_for([&] { return started.load() == n; }, patience(60s)))
        << started.load() << " of " << n << " started";
    // Let them reach their waits (best effort: a late one is cancelled before it waits, which
    // ends the same way).
    wait_for(
        [&] {
            return std::all_of(futures.begin(), futures.end(), [](const auto& f) {
                return f.task() != nullptr &&
                       f.task()->wait_kind.load() != corio::detail::WaitKind::none;
            });
        },
        patience(10s));
    std::this_thread::sleep_for(20ms);

    // The storm: the group from another thread, the futures from this one, at the same time.
    std::thread group_canceller([&] { group.request_cancel(); });
    for (auto& f : futures) f.request_cancel();
    group_canceller.join();

    std::size_t futures_canceled = 0;
    for (auto& f : futures) {
        try {
            f.await();
        } catch (const corio::Canceled&) {
            ++futures_canceled;
        } catch (...) {
        }
    }
    EXPECT_NO_THROW(group.wait());  // Canceled members are not errors
    EXPECT_EQ(group.size(), 0u);
    EXPECT_EQ(futures_canceled, futures.size());
    EXPECT_EQ(canceled.load(), n);
    EXPECT_EQ(completed.load(), 0u);
    EXPECT_EQ(other.load(), 0u);

    // No cancelled locker owns the mutex and no cancelled getter took anything.
    mutex.unlock();
    EXPECT_TRUE(mutex.try_lock());
    mutex.unlock();
    EXPECT_EQ(queue.size(), 0u);
    EXPECT_TRUE(queue.try_put(1));
    EXPECT_EQ(queue.try_get(), std::optional<int>(1));
}

// ---- ping-pong between two workers ----------------------------------------------------------

TEST(IoUringStress, SemaphorePingPongAcrossTwoWorkers) {
    const std::size_t rounds = scaled(100'000);
    std::string why;
    auto ring = make_ring({.threads = 2}, why);
    if (!ring) GTEST_SKIP() << "io_uring unavailable here: " << why;
    Watchdog dog("the cross-worker ping-pong", patience(120s));
    Io io = ring->io();

    corio::Semaphore ping, pong;
    std::atomic<bool> a_running{false}, b_running{false};
    std::thread::id a_thread, b_thread;
    std::chrono::steady_clock::duration elapsed{};
    std::size_t a_done = 0, b_done = 0;

    // A spins (without waiting) until B has started: B cannot start on A's worker meanwhile,
    // so the two end up on different workers.
    auto a = io.concurrent([&, io] {
        a_thread = std::this_thread::get_id();
        a_running = true;
        const auto deadline = std::chrono::steady_clock::now() + patience(10s);
        while (!b_running.load() && std::chrono::steady_clock::now() < deadline) {
        }
        const auto start = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < rounds; ++i) {
            ping.release();
            pong.acquire(io).await();
            ++a_done;
        }
        elapsed = std::chrono::steady_clock::now() - start;
    });
    // B is started only once A runs, so that the test's own await cannot take A back.
    ASSERT_TRUE(wait_for([&] { return a_running.load(); }, patience(10s)));
    auto b = io.concurrent([&, io] {
        b_thread = std::this_thread::get_id();
        b_running = true;
        for (std::size_t i = 0; i < rounds; ++i) {
            ping.acquire(io).await();
            pong.release();
            ++b_done;
        }
    });
    // Await only once B runs on a worker: a task still queued would be taken back by the
    // awaiting thread and run there.
    EXPECT_TRUE(wait_for([&] { return b_running.load(); }, patience(10s)));
    b.await();
    a.await();
    EXPECT_EQ(a_done, rounds);
    EXPECT_EQ(b_done, rounds);
    EXPECT_NE(a_thread, b_thread) << "the two fibers ran on the same worker";
    EXPECT_NE(a_thread, std::this_thread::get_id());
    EXPECT_NE(b_thread, std::this_thread::get_id());
    EXPECT_EQ(ping.available(), 0u);
    EXPECT_EQ(pong.available(), 0u);

    const double ns =
        static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()) /
        static_cast<double>(rounds);
    std::printf("cross-worker semaphore ping-pong: %zu round trips, %.0f ns per round trip\n",
                rounds, ns);
    RecordProperty("round_trips", std::to_string(rounds));
    RecordProperty("ns_per_round_trip", std::to_string(static_cast<long long>(ns)));
}

}  // namespace
