// SPDX-License-Identifier: MIT
// Internal pieces of the core shared by the backends. Never installed.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include <corio/detail/runtime.hpp>

#include <atomic>
#include <cstdint>

// corio's thread-locals live in the static TLS block (initial-exec): a read is one instruction
// instead of a call to __tls_get_addr, which matters on every await and spawn.
#define CORIO_TLS [[gnu::tls_model("initial-exec")]]

namespace corio::detail {

/// The default parker of a plain thread (and of an idle Threaded worker): a one-permit
/// semaphore on a futex.
///
/// Spinning before sleeping pays only when the permit comes sooner than a sleep and a wake-up
/// cost (~20 us here), and it hurts when the thread that will give the permit waits for this
/// CPU. So the spin is adaptive: `unpark` stamps the time when it has to wake a sleeper, the
/// parker learns from it how long its recent waits were, and it spins only while they were
/// short. A thread woken once a millisecond blocks at once, like a condition variable; a
/// ping-pong partner spins and never enters the kernel.
class ThreadParker;

/// An event loop driven by a thread that has no worker of its own to wait for (an IoUring with
/// no worker threads is driven by the thread that owns it): while such a thread parks, it
/// runs the loop instead of sleeping on its futex.
class ParkedLoop {
  public:
    /// Runs the loop until `parker` has a permit (and takes it).
    virtual void drive(ThreadParker& parker) noexcept = 0;
    /// Interrupts the loop's wait from another thread.
    virtual void wake() noexcept = 0;

  protected:
    ~ParkedLoop() = default;
};

class ThreadParker final : public Parker {
  public:
    void park() noexcept override;
    void unpark() noexcept override;

    /// Makes this (the calling thread's) parker drive `l` instead of sleeping; nullptr undoes.
    void set_loop(ParkedLoop* l) noexcept { loop_.store(l, std::memory_order_release); }
    [[nodiscard]] ParkedLoop* loop() const noexcept { return loop_.load(std::memory_order_relaxed); }
    // For a ParkedLoop: take a permit; announce a wait (false: a permit came, and was taken); end
    // it (true: a permit came, and was taken).
    bool try_take() noexcept { return take_permit(); }
    bool begin_block() noexcept;
    bool end_block() noexcept;
    /// Parks until a permit comes or `deadline_ns` (steady_clock nanoseconds) passes; true when
    /// it took a permit.
    bool park_until(std::int64_t deadline_ns) noexcept;

  private:
    static constexpr std::uint32_t empty = 0, notified = 1, parked = 2;
    bool take_permit() noexcept;
    bool spin_for_permit() noexcept;
    bool yield_for_permit() noexcept;
    void note_spun() noexcept;
    /// Sleeps while the state is `parked`, until `deadline_ns` (0: none); spurious returns.
    void sleep(std::int64_t deadline_ns) noexcept;
    void wake_one() noexcept;
    bool block(std::int64_t deadline_ns) noexcept;

    std::atomic<std::uint32_t> state_{empty};
    std::atomic<std::int64_t> woken_at_{0};  // when `unpark` found this parker asleep
    std::atomic<ParkedLoop*> loop_{nullptr};
    unsigned short_waits_ = 2;               // owner only: recent waits short enough to spin
};

/// steady_clock now, in nanoseconds.
std::int64_t steady_now_ns() noexcept;

/// The thread's own state: what thread_state() returns outside fibers.
CORIO_TLS extern constinit thread_local ThreadState t_state;

/// The state of what runs on the thread now: t_state, or the running fiber's own (a switch
/// between fibers sets this pointer and copies nothing). nullptr until the thread's first
/// thread_state().
CORIO_TLS extern constinit thread_local ThreadState* t_current;

/// thread_state() inline: the call only on a thread's first use.
inline ThreadState& thread_state_fast() noexcept {
    ThreadState* s = t_current;
    if (s == nullptr) [[unlikely]]
        return thread_state();
    return *s;
}

/// The calling thread's own parker.
ThreadParker& this_thread_parker() noexcept;

/// A spin-wait step: a CPU pause, and after a while a yield of the thread.
void spin_pause(unsigned iteration) noexcept;

/// True on the thread of a scheduler worker (of any backend), which must never block.
bool on_scheduler_worker() noexcept;

}  // namespace corio::detail
