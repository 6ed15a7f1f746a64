// SPDX-License-Identifier: MIT
// Semaphore and Event: waiter lists under a small lock; permits and wake-ups handed over
// directly, so a cancelled waiter never takes a permit it will not use.
#include "core/internal.hpp"

#include <corio/event.hpp>
#include <corio/semaphore.hpp>

namespace corio {

namespace detail {

bool SemaphoreAcquireOperation::try_now() noexcept { return sem_->try_acquire(); }

void SemaphoreAcquireOperation::arm() noexcept {
    {
        std::lock_guard lock(sem_->mutex_);
        if (!sem_->try_acquire()) {
            sem_->waiters_.push_back(&node_);
            return;
        }
    }
    complete(Status::ok);
}

void SemaphoreAcquireOperation::try_cancel() noexcept {
    {
        std::lock_guard lock(sem_->mutex_);
        if (!sem_->waiters_.remove(&node_)) return;
    }
    complete(Status::canceled);
}

bool EventWaitOperation::try_now() const noexcept { return event_->is_set(); }

void EventWaitOperation::arm() noexcept {
    {
        std::lock_guard lock(event_->mutex_);
        if (!event_->is_set()) {
            event_->waiters_.push_back(&node_);
            return;
        }
    }
    complete(Status::ok);
}

void EventWaitOperation::try_cancel() noexcept {
    {
        std::lock_guard lock(event_->mutex_);
        if (!event_->waiters_.remove(&node_)) return;
    }
    complete(Status::canceled);
}

}  // namespace detail

bool Semaphore::try_acquire() noexcept {
    std::size_t n = permits_.load(std::memory_order_acquire);
    while (n > 0) {
        if (permits_.compare_exchange_weak(n, n - 1, std::memory_order_acq_rel,
                                           std::memory_order_acquire))
            return true;
    }
    return false;
}

void Semaphore::release(std::size_t n) noexcept {
    detail::WaitNode* granted = nullptr;
    detail::WaitNode** tail = &granted;
    {
        std::lock_guard lock(mutex_);
        // Waiters exist only while no permit is free, so hand permits to them first.
        while (n > 0 && !waiters_.empty()) {
            detail::WaitNode* w = waiters_.pop_front();
            *tail = w;
            tail = &w->next;
            --n;
        }
        *tail = nullptr;
        if (n > 0) permits_.fetch_add(n, std::memory_order_acq_rel);
    }
    while (granted != nullptr) {
        detail::WaitNode* next = granted->next;
        static_cast<detail::SemaphoreAcquireOperation::Node*>(granted)->op->granted();
        granted = next;
    }
}

void Event::set() noexcept {
    detail::WaitNode* n = nullptr;
    {
        std::lock_guard lock(mutex_);
        set_.store(true, std::memory_order_release);
        n = waiters_.take_all();
    }
    while (n != nullptr) {
        detail::WaitNode* next = n->next;
        static_cast<detail::EventWaitOperation::Node*>(n)->op->fire();
        n = next;
    }
}

}  // namespace corio
