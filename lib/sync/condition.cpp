// SPDX-License-Identifier: MIT
// Condition: waiters move from the condition's queue to the mutex's (a requeue), so a woken
// waiter never races other lockers for a mutex it cannot get.
#include "core/internal.hpp"

#include <corio/condition.hpp>

namespace corio {

namespace detail {

void ConditionWaitOperation::arm() noexcept {
    {
        std::lock_guard lock(condition_->mutex_);
        condition_->waiters_.push_back(&waiter_);
    }
    mutex_->unlock();
}

void ConditionWaitOperation::try_cancel() noexcept {
    {
        std::lock_guard lock(condition_->mutex_);
        if (!condition_->waiters_.remove(&waiter_)) return;  // signalled: already relocking
        canceled_ = true;
    }
    requeue();
}

void ConditionWaitOperation::requeue() noexcept {
    if (mutex_->lock_or_enqueue(&waiter_)) on_acquired(&waiter_);
}

void ConditionWaitOperation::on_acquired(MutexWaiter* w) noexcept {
    ConditionWaitOperation* op = static_cast<Waiter*>(w)->op;
    op->complete(op->canceled_ ? Status::canceled : Status::ok);
}

}  // namespace detail

void Condition::signal() noexcept {
    detail::WaitNode* n = nullptr;
    {
        std::lock_guard lock(mutex_);
        n = waiters_.pop_front();
    }
    if (n != nullptr) static_cast<detail::ConditionWaitOperation::Waiter*>(n)->op->requeue();
}

void Condition::broadcast() noexcept {
    detail::WaitNode* n = nullptr;
    {
        std::lock_guard lock(mutex_);
        n = waiters_.take_all();
    }
    while (n != nullptr) {
        detail::WaitNode* next = n->next;  // read before the waiter can resume and go away
        static_cast<detail::ConditionWaitOperation::Waiter*>(n)->op->requeue();
        n = next;
    }
}

}  // namespace corio
