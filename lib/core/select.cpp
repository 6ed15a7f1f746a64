// SPDX-License-Identifier: MIT
// select: one operation listening on several tasks; the first notification picks the winner and
// cancels the losers before it counts itself done, so the waiter cannot resume (and free the
// arms) while the loser list is being walked.
#include "core/internal.hpp"

#include <corio/select.hpp>

namespace corio::detail {

namespace {
bool done(const TaskHeader* t) noexcept {
    return t == nullptr ||
           (t->completion.load(std::memory_order_acquire) & TaskHeader::done_bit) != 0;
}
}  // namespace

bool SelectWaitOperation::try_now() noexcept {
    std::size_t first = none;
    for (std::size_t i = 0; i < n_; ++i) {
        if (done(arms_[i].task)) {
            first = i;
            break;
        }
    }
    if (first == none) return false;
    winner_.store(first, std::memory_order_relaxed);
    cancel_losers(first);
    for (std::size_t i = 0; i < n_; ++i)
        if (!done(arms_[i].task)) return false;
    return true;
}

void SelectWaitOperation::arm() noexcept {
    pending_.store(n_ + 1, std::memory_order_relaxed);  // +1: held while arming
    for (std::size_t i = 0; i < n_; ++i) {
        Arm& a = arms_[i];
        a.notify = &notify;
        TaskHeader* t = a.task;
        if (t == nullptr) {
            on_done(i);
            continue;
        }
        Listener* expected = nullptr;
        if (!t->waiter.compare_exchange_strong(expected, &a, std::memory_order_acq_rel)) {
            // Another waiter has it (misuse), or an earlier select that saw it finish.
            if (!done(t)) misuse_ = true;
            on_done(i);
            continue;
        }
        if ((t->completion.fetch_or(TaskHeader::waiter_bit, std::memory_order_acq_rel) &
             TaskHeader::done_bit) != 0)
            on_done(i);
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) complete(Status::ok);
}

void SelectWaitOperation::notify(Listener* l) noexcept {
    auto* a = static_cast<Arm*>(l);
    a->op->on_done(a->index);
}

void SelectWaitOperation::on_done(std::size_t index) noexcept {
    std::size_t expected = none;
    if (winner_.compare_exchange_strong(expected, index, std::memory_order_acq_rel))
        cancel_losers(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) complete(Status::ok);
}

void SelectWaitOperation::cancel_losers(std::size_t winner) noexcept {
    for (std::size_t i = 0; i < n_; ++i)
        if (i != winner && arms_[i].task != nullptr) arms_[i].task->stop.request_stop();
}

void SelectWaitOperation::try_cancel() noexcept {
    for (std::size_t i = 0; i < n_; ++i)
        if (arms_[i].task != nullptr) arms_[i].task->stop.request_stop();
}

std::size_t SelectWaitOperation::take_result() const {
    if (misuse_)
        throw UsageError(std::errc::device_or_resource_busy,
                         "corio: select over a future that already has a waiter");
    return winner_.load(std::memory_order_acquire);
}

}  // namespace corio::detail
