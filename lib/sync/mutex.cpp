// SPDX-License-Identifier: MIT
// Mutex slow paths: queueing, hand-off on unlock, and removal of a cancelled waiter.
#include "core/internal.hpp"

#include <corio/mutex.hpp>

namespace corio {

bool Mutex::lock_or_enqueue(detail::MutexWaiter* w) noexcept {
    std::lock_guard lock(wait_mutex_);
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
        if (s == 0) {
            if (state_.compare_exchange_weak(s, 1, std::memory_order_acquire,
                                             std::memory_order_relaxed))
                return true;
            continue;
        }
        if (state_.compare_exchange_weak(s, 2, std::memory_order_relaxed,
                                         std::memory_order_relaxed))
            break;
    }
    waiters_.push_back(w);
    return false;
}

bool Mutex::remove_waiter(detail::MutexWaiter* w) noexcept {
    std::lock_guard lock(wait_mutex_);
    if (!waiters_.remove(w)) return false;
    if (waiters_.empty()) state_.store(1, std::memory_order_relaxed);  // still owned by someone
    return true;
}

void Mutex::unlock_slow() noexcept {
    detail::MutexWaiter* next = nullptr;
    {
        std::lock_guard lock(wait_mutex_);
        next = static_cast<detail::MutexWaiter*>(waiters_.pop_front());
        if (next == nullptr)
            state_.store(0, std::memory_order_release);
        else
            state_.store(waiters_.empty() ? 1 : 2, std::memory_order_relaxed);
    }
    // Ownership passes to `next` without the mutex ever being free: no barging, and a waiter
    // that was cancelled meanwhile was removed above under the same lock.
    if (next != nullptr) next->acquired(next);
}

}  // namespace corio
