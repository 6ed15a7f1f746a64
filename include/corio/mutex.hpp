// SPDX-License-Identifier: MIT
// Mutex: an async-aware lock that suspends the waiting fiber or coroutine, not its thread.
#pragma once

#include <corio/detail/operation.hpp>
#include <corio/detail/wait_list.hpp>
#include <corio/export.hpp>
#include <corio/io.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

namespace corio {

class Mutex;
class Condition;

namespace detail {

/// A waiter for the mutex: told when ownership was handed to it.
struct MutexWaiter : WaitNode {
    using Fn = void (*)(MutexWaiter*) noexcept;
    explicit MutexWaiter(Fn f) noexcept : acquired(f) {}
    Fn acquired;
};

template <bool Scoped>
class BasicLockOperation;

}  // namespace detail

/// Unlocks its mutex when destroyed (the result of `scoped_lock`).
class [[nodiscard]] MutexGuard {
  public:
    explicit MutexGuard(Mutex& m) noexcept : mutex_(&m) {}
    MutexGuard(MutexGuard&& o) noexcept : mutex_(std::exchange(o.mutex_, nullptr)) {}
    MutexGuard& operator=(MutexGuard&&) = delete;
    ~MutexGuard();
    /// Unlocks now instead of at the end of the scope.
    void unlock() noexcept;

  private:
    Mutex* mutex_;
};

/// A mutex for tasks. The uncontended lock and unlock are one atomic operation each and touch
/// nothing else (no thread-local, no backend). A contended lock suspends the fiber or coroutine
/// (blocks a plain thread) in FIFO order; `unlock` hands ownership to the first waiter directly,
/// so a cancelled waiter can never end up owning the mutex.
///
/// Thread-safety: any thread may lock and unlock; the owner must unlock (ownership is not
/// checked). A waiter resumes on its own executor (coroutines) or thread.
class CORIO_EXPORT Mutex {
  public:
    Mutex() noexcept = default;
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    /// Locks (an awaitable). Completes inline when the mutex is free, ignoring a pending
    /// cancellation then; a contended wait ends with Canceled when the task is cancelled, and
    /// the mutex is then not owned.
    [[nodiscard]] detail::BasicLockOperation<false> lock(Io io) noexcept;
    /// As `lock`, yielding a MutexGuard.
    [[nodiscard]] detail::BasicLockOperation<true> scoped_lock(Io io) noexcept;

    [[nodiscard]] bool try_lock() noexcept {
        std::uint32_t expected = 0;
        return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                              std::memory_order_relaxed);
    }
    void unlock() noexcept {
        std::uint32_t expected = 1;
        if (state_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                           std::memory_order_relaxed))
            return;
        unlock_slow();
    }

    // For operations (the lock and Condition's relock).
    /// Locks or queues `w`; true when locked at once.
    bool lock_or_enqueue(detail::MutexWaiter* w) noexcept;
    /// Dequeues `w`; false when ownership was handed to it already.
    bool remove_waiter(detail::MutexWaiter* w) noexcept;

  private:
    void unlock_slow() noexcept;

    // 0: unlocked, 1: locked, 2: locked with waiters (waiters exist only in state 2)
    std::atomic<std::uint32_t> state_{0};
    std::mutex wait_mutex_;
    detail::WaitList waiters_;
};

namespace detail {

/// Awaitable of Mutex::lock (void) and Mutex::scoped_lock (MutexGuard).
template <bool Scoped>
class [[nodiscard]] BasicLockOperation : public Operation<BasicLockOperation<Scoped>> {
    using Base = Operation<BasicLockOperation<Scoped>>;

  public:
    explicit BasicLockOperation(Mutex& m) noexcept : mutex_(&m) {}

    bool try_now() noexcept { return mutex_->try_lock(); }
    void arm() noexcept {
        if (mutex_->lock_or_enqueue(&waiter_)) this->complete(Status::ok);
    }
    void try_cancel() noexcept {
        if (mutex_->remove_waiter(&waiter_)) this->complete(Status::canceled);
    }
    [[nodiscard]] WaitInfo wait_info() const noexcept { return {WaitKind::mutex, -1, {}}; }
    auto take_result() const {
        this->throw_if_canceled();
        if constexpr (Scoped) return MutexGuard(*mutex_);
    }

  private:
    struct Waiter : MutexWaiter {
        explicit Waiter(BasicLockOperation* o) noexcept : MutexWaiter(&on_acquired), op(o) {}
        BasicLockOperation* op;
    };
    static void on_acquired(MutexWaiter* w) noexcept {
        static_cast<Waiter*>(w)->op->complete(Status::ok);
    }
    friend Base;

    Mutex* mutex_;
    Waiter waiter_{this};
};

}  // namespace detail

inline detail::BasicLockOperation<false> Mutex::lock(Io) noexcept {
    return detail::BasicLockOperation<false>(*this);
}
inline detail::BasicLockOperation<true> Mutex::scoped_lock(Io) noexcept {
    return detail::BasicLockOperation<true>(*this);
}

inline MutexGuard::~MutexGuard() {
    if (mutex_ != nullptr) mutex_->unlock();
}
inline void MutexGuard::unlock() noexcept {
    if (Mutex* m = std::exchange(mutex_, nullptr)) m->unlock();
}

}  // namespace corio
