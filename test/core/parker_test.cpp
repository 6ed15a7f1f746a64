// SPDX-License-Identifier: MIT
// ThreadParker: the permit, timed parks, and no lost wake-up on either side of the adaptive spin.
#include "core/internal.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#ifndef CORIO_STRESS_DIVISOR
#define CORIO_STRESS_DIVISOR 1
#endif

namespace {

using corio::detail::steady_now_ns;
using corio::detail::ThreadParker;

constexpr int scaled(int n) { return n / CORIO_STRESS_DIVISOR > 0 ? n / CORIO_STRESS_DIVISOR : 1; }

TEST(ThreadParker, APermitGivenBeforeParkIsTakenWithoutWaiting) {
    ThreadParker p;
    p.unpark();
    p.park();  // returns: the permit was there
    EXPECT_FALSE(p.park_until(steady_now_ns()));
}

TEST(ThreadParker, PermitsDoNotAccumulate) {
    ThreadParker p;
    p.unpark();
    p.unpark();
    EXPECT_TRUE(p.park_until(steady_now_ns() + 1'000'000'000));
    EXPECT_FALSE(p.park_until(steady_now_ns() + 2'000'000));
}

TEST(ThreadParker, ATimedParkReturnsFalseNoSoonerThanItsDeadline) {
    ThreadParker p;
    const std::int64_t deadline = steady_now_ns() + 5'000'000;
    EXPECT_FALSE(p.park_until(deadline));
    EXPECT_GE(steady_now_ns(), deadline);
    EXPECT_FALSE(p.park_until(deadline));  // already past: at once
}

TEST(ThreadParker, AnUnparkFromAnotherThreadEndsAnUntimedPark) {
    ThreadParker p;
    std::atomic<bool> parked_returned{false};
    std::thread t([&] {
        p.park();
        parked_returned = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // let it sleep in the kernel
    EXPECT_FALSE(parked_returned);
    p.unpark();
    t.join();
    EXPECT_TRUE(parked_returned);
}

// Two threads hand a token back and forth. Some rounds pause first, so each parker goes through
// both regimes: spinning after short waits, blocking at once after long ones. A lost wake-up
// hangs the test (and meson's timeout fails it).
TEST(ThreadParker, PingPongLosesNoWakeUpAcrossSpinAndSleep) {
    const int rounds = scaled(20'000);
    ThreadParker to_b, to_a;
    std::atomic<int> turn{0};  // even: a's turn, odd: b's
    std::thread b([&] {
        std::minstd_rand rng(2);
        for (int i = 0; i < rounds; ++i) {
            while (turn.load(std::memory_order_acquire) != 2 * i + 1) to_b.park();
            if (rng() % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
            turn.store(2 * i + 2, std::memory_order_release);
            to_a.unpark();
        }
    });
    std::minstd_rand rng(1);
    for (int i = 0; i < rounds; ++i) {
        if (rng() % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
        turn.store(2 * i + 1, std::memory_order_release);
        to_b.unpark();
        while (turn.load(std::memory_order_acquire) != 2 * i + 2) to_a.park();
    }
    b.join();
    EXPECT_EQ(turn.load(), 2 * rounds);
}

// An unpark racing a timed park's deadline is never lost: either the timed park takes it, or
// it stays for the next park.
TEST(ThreadParker, AnUnparkRacingTheDeadlineIsKeptForTheNextPark) {
    const int rounds = scaled(2'000);
    ThreadParker p;
    std::atomic<int> round{-1};
    std::atomic<int> done{-1};
    std::thread unparker([&] {
        std::minstd_rand rng(3);
        for (int i = 0; i < rounds; ++i) {
            while (round.load(std::memory_order_acquire) != i) std::this_thread::yield();
            std::this_thread::sleep_for(std::chrono::microseconds(rng() % 150));
            p.unpark();
            done.store(i, std::memory_order_release);
        }
    });
    int taken_by_timed = 0;
    for (int i = 0; i < rounds; ++i) {
        round.store(i, std::memory_order_release);
        if (p.park_until(steady_now_ns() + 60'000)) {
            ++taken_by_timed;
        } else {
            p.park();  // the unpark is coming or came: its permit must be there
        }
        while (done.load(std::memory_order_acquire) != i) std::this_thread::yield();
    }
    unparker.join();
    EXPECT_FALSE(p.park_until(steady_now_ns()));  // one permit per round, all taken
    RecordProperty("taken_by_timed_park", taken_by_timed);
}

}  // namespace
