// SPDX-License-Identifier: MIT
// Semaphore: a counting semaphore for tasks.
#pragma once

#include <corio/detail/operation.hpp>
#include <corio/detail/wait_list.hpp>
#include <corio/export.hpp>
#include <corio/io.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>

namespace corio {

class Semaphore;

namespace detail {

/// Awaitable of Semaphore::acquire: takes a permit at once when one is free (ignoring a pending
/// cancellation then), else waits in FIFO order; `release` hands permits to waiters directly.
class CORIO_EXPORT SemaphoreAcquireOperation : public Operation<SemaphoreAcquireOperation> {
  public:
    explicit SemaphoreAcquireOperation(Semaphore& s) noexcept : sem_(&s) {}

    bool try_now() noexcept;
    void arm() noexcept;
    void try_cancel() noexcept;
    [[nodiscard]] WaitInfo wait_info() const noexcept { return {WaitKind::semaphore, -1, {}}; }
    void take_result() const { throw_if_canceled(); }

    struct Node : WaitNode {
        SemaphoreAcquireOperation* op;
    };
    void granted() noexcept { complete(Status::ok); }

  private:
    Semaphore* sem_;
    Node node_{{}, this};
};

}  // namespace detail

/// A counting semaphore. Thread-safety: every member may be called from any thread; a waiter
/// resumes on its own executor (coroutines) or thread.
class CORIO_EXPORT Semaphore {
  public:
    explicit Semaphore(std::size_t permits = 0) noexcept : permits_(permits) {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    /// Takes a permit (an awaitable; Canceled when cancelled while waiting).
    [[nodiscard]] detail::SemaphoreAcquireOperation acquire(Io) noexcept {
        return detail::SemaphoreAcquireOperation(*this);
    }
    [[nodiscard]] bool try_acquire() noexcept;
    /// Adds `n` permits, handing them to waiters first.
    void release(std::size_t n = 1) noexcept;
    [[nodiscard]] std::size_t available() const noexcept {
        return permits_.load(std::memory_order_acquire);
    }

  private:
    friend class detail::SemaphoreAcquireOperation;
    std::atomic<std::size_t> permits_;
    std::mutex mutex_;
    detail::WaitList waiters_;
};

}  // namespace corio
