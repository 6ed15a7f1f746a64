// SPDX-License-Identifier: MIT
// ThreadParker: a one-permit futex semaphore with an adaptive spin.
#include "core/internal.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <ctime>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace corio::detail {

namespace {

/// How long a spin may last, and the longest wait that counts as short. A sleep and a wake-up
/// cost 10-20 us here; with 10 us, the waiter of a parked hand-off (its partner's wake-up takes
/// about 10 us) kept spinning and the hand-off was 1.25x a condition variable's; with 5 us it
/// blocks at once and is 0.85x, while a ping-pong between awake threads still spins.
constexpr std::int64_t spin_ns = 5'000;
/// Plain loads between two looks at the clock and yields of the CPU while spinning: yielding
/// more often slowed an awake hand-off between two CPUs by 1.8x (a yield is a system call).
constexpr unsigned spin_stride = 4096;
/// short_waits_ saturates here: after a burst of short waits, a few long ones stop the spin.
constexpr unsigned short_waits_max = 3;
/// Yields before every sleep (see yield_for_permit).
constexpr unsigned yields_before_sleep = 4;

}  // namespace

std::int64_t steady_now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool ThreadParker::take_permit() noexcept {
    std::uint32_t expected = notified;
    return state_.compare_exchange_strong(expected, empty, std::memory_order_acquire,
                                          std::memory_order_relaxed);
}

// The spin polls with plain loads, no `pause`: on these VMs a vCPU that executes many pauses is
// descheduled (pause-loop exiting). It yields the CPU at every look at the clock, so a partner
// woken onto this CPU runs at once instead of waiting for the spin to end.
bool ThreadParker::spin_for_permit() noexcept {
    const std::int64_t until = steady_now_ns() + spin_ns;
    for (;;) {
        for (unsigned i = 0; i < spin_stride; ++i) {
            if (state_.load(std::memory_order_relaxed) == notified && take_permit()) return true;
        }
        if (steady_now_ns() >= until) return false;
        std::this_thread::yield();
    }
}

// A few yields of the CPU before a sleep, whatever the recent waits were: a partner that is
// about to unpark (it runs, or was woken onto this CPU) gets there first, and a sleep and a
// wake-up (10-20 us each here) are saved; a yield with nothing else to run returns at once.
bool ThreadParker::yield_for_permit() noexcept {
    for (unsigned i = 0; i < yields_before_sleep; ++i) {
        std::this_thread::yield();
        if (state_.load(std::memory_order_relaxed) == notified && take_permit()) return true;
    }
    return false;
}

#if defined(__linux__)

void ThreadParker::sleep(std::int64_t deadline_ns) noexcept {
    timespec ts{};
    timespec* timeout = nullptr;
    if (deadline_ns != 0) {
        ts.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000);
        timeout = &ts;
    }
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline (steady_clock's clock).
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_),
            FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, parked, timeout, nullptr,
            FUTEX_BITSET_MATCH_ANY);
}

void ThreadParker::wake_one() noexcept {
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), FUTEX_WAKE | FUTEX_PRIVATE_FLAG,
            1, nullptr, nullptr, 0);
}

#else

// Without a futex with a timeout: atomic wait when there is no deadline, else sleeps of at most
// a millisecond (only an idle Threaded worker waiting out its idle timeout parks with one).
void ThreadParker::sleep(std::int64_t deadline_ns) noexcept {
    if (deadline_ns == 0) {
        state_.wait(parked, std::memory_order_relaxed);
        return;
    }
    const std::int64_t left = deadline_ns - steady_now_ns();
    if (left > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::int64_t>(left, 1'000'000)));
}

void ThreadParker::wake_one() noexcept { state_.notify_one(); }

#endif

bool ThreadParker::block(std::int64_t deadline_ns) noexcept {
    const std::int64_t parked_at = steady_now_ns();
    std::uint32_t expected = empty;
    if (!state_.compare_exchange_strong(expected, parked, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
        state_.store(empty, std::memory_order_relaxed);  // a permit came meanwhile: take it
        return true;
    }
    for (;;) {
        sleep(deadline_ns);
        if (take_permit()) break;
        if (deadline_ns != 0 && steady_now_ns() >= deadline_ns) {
            expected = parked;
            if (state_.compare_exchange_strong(expected, empty, std::memory_order_relaxed))
                return false;
            state_.exchange(empty, std::memory_order_acquire);  // notified as the deadline passed
            break;
        }
    }
    // Learn from how long the wait really was (until the unpark, not until this thread ran):
    // had it been shorter than a spin, the next park spins.
    const std::int64_t waited = woken_at_.load(std::memory_order_relaxed) - parked_at;
    if (waited >= 0 && waited < spin_ns) {
        if (short_waits_ < short_waits_max) ++short_waits_;
    } else if (short_waits_ > 0) {
        --short_waits_;
    }
    return true;
}

void ThreadParker::note_spun() noexcept {
    if (short_waits_ < short_waits_max) ++short_waits_;
}

bool ThreadParker::begin_block() noexcept {
    std::uint32_t expected = empty;
    if (state_.compare_exchange_strong(expected, parked, std::memory_order_acquire,
                                       std::memory_order_relaxed))
        return true;
    state_.exchange(empty, std::memory_order_acquire);
    return false;
}

bool ThreadParker::end_block() noexcept {
    return state_.exchange(empty, std::memory_order_acquire) == notified;
}

void ThreadParker::park() noexcept {
    if (ParkedLoop* d = loop_.load(std::memory_order_relaxed)) {
        d->drive(*this);
        return;
    }
    for (;;) {
        if (take_permit()) return;
        if (short_waits_ > 0 && spin_for_permit()) return note_spun();
        if (yield_for_permit()) return;
        if (block(0)) return;
    }
}

bool ThreadParker::park_until(std::int64_t deadline_ns) noexcept {
    if (take_permit()) return true;
    if (short_waits_ > 0 && spin_for_permit()) {
        note_spun();
        return true;
    }
    return block(deadline_ns);
}

void ThreadParker::unpark() noexcept {
    // The stamp costs a clock read, taken only when the owner looks asleep (it is about to pay
    // for a wake-up anyway); a stale stamp only makes the owner's estimate err long.
    if (state_.load(std::memory_order_relaxed) == parked)
        woken_at_.store(steady_now_ns(), std::memory_order_relaxed);
    if (state_.exchange(notified, std::memory_order_release) == parked) {
        if (ParkedLoop* d = loop_.load(std::memory_order_acquire))
            d->wake();
        else
            wake_one();
    }
}

}  // namespace corio::detail
