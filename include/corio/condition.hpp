// SPDX-License-Identifier: MIT
// Condition: a condition variable for tasks, used with corio::Mutex.
#pragma once

#include <corio/detail/operation.hpp>
#include <corio/detail/wait_list.hpp>
#include <corio/export.hpp>
#include <corio/io.hpp>
#include <corio/mutex.hpp>

#include <mutex>

namespace corio {

class Condition;

namespace detail {

/// Awaitable of Condition::wait. Queued on the condition before the mutex is released, so no
/// signal is lost. A signal (or a cancellation) moves the waiter to the mutex's queue; it
/// resumes owning the mutex in both cases (the relock is shielded from cancellation), and
/// throws Canceled after a cancellation.
class CORIO_EXPORT ConditionWaitOperation : public Operation<ConditionWaitOperation> {
  public:
    ConditionWaitOperation(Condition& c, Mutex& m) noexcept : condition_(&c), mutex_(&m) {}

    bool try_now() const noexcept { return false; }
    void arm() noexcept;
    void try_cancel() noexcept;
    [[nodiscard]] WaitInfo wait_info() const noexcept { return {WaitKind::condition, -1, {}}; }
    void take_result() const { throw_if_canceled(); }

    /// Moves a signalled (or cancelled) waiter to the mutex.
    void requeue() noexcept;

    struct Waiter : MutexWaiter {
        explicit Waiter(ConditionWaitOperation* o) noexcept : MutexWaiter(&on_acquired), op(o) {}
        ConditionWaitOperation* op;
    };

  private:
    static void on_acquired(MutexWaiter* w) noexcept;

    Condition* condition_;
    Mutex* mutex_;
    Waiter waiter_{this};
    bool canceled_ = false;
};

}  // namespace detail

/// Waits for a signal with a Mutex held. `wait` releases the mutex while waiting and owns it
/// again when it returns or throws (Canceled included). No spurious wake-ups, but as with any
/// condition variable, re-check the predicate in a loop.
///
/// Thread-safety: `signal` and `broadcast` may be called from any thread, with or without the
/// mutex held. A waiter resumes on its own executor (coroutines) or thread.
class CORIO_EXPORT Condition {
  public:
    Condition() noexcept = default;
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;

    /// Releases `m` (which the caller holds), waits for a signal, relocks `m`.
    [[nodiscard]] detail::ConditionWaitOperation wait(Io, Mutex& m) noexcept {
        return detail::ConditionWaitOperation(*this, m);
    }
    /// Wakes the longest waiter, if any.
    void signal() noexcept;
    /// Wakes every waiter.
    void broadcast() noexcept;

  private:
    friend class detail::ConditionWaitOperation;
    std::mutex mutex_;
    detail::WaitList waiters_;
};

}  // namespace corio
