// SPDX-License-Identifier: MIT
// inplace_stop_source: a spin-locked intrusive list of callbacks, run by the thread that requests
// stop; a callback removed while it runs on another thread is waited for.
#include "core/internal.hpp"
#include "core/routed_waits.hpp"

#include <corio/cancel.hpp>

namespace corio {

void inplace_stop_source::lock() noexcept {
    std::uint8_t s = state_.load(std::memory_order_relaxed);
    for (unsigned i = 0;; ++i) {
        if ((s & locked_bit) == 0 &&
            state_.compare_exchange_weak(s, s | locked_bit, std::memory_order_acquire,
                                         std::memory_order_relaxed))
            return;
        detail::spin_pause(i);
        s = state_.load(std::memory_order_relaxed);
    }
}

bool inplace_stop_source::lock_unless_stopped(bool set_stop) noexcept {
    std::uint8_t s = state_.load(std::memory_order_acquire);
    for (unsigned i = 0;; ++i) {
        if ((s & stop_requested_bit) != 0) return false;
        if ((s & locked_bit) == 0) {
            const std::uint8_t want = locked_bit | (set_stop ? stop_requested_bit : 0);
            if (state_.compare_exchange_weak(s, want, std::memory_order_acq_rel,
                                             std::memory_order_acquire))
                return true;
            continue;
        }
        detail::spin_pause(i);
        s = state_.load(std::memory_order_acquire);
    }
}

void inplace_stop_source::unlock(std::uint8_t keep) noexcept {
    state_.store(keep, std::memory_order_release);
}

bool inplace_stop_source::request_stop() noexcept {
    if (!lock_unless_stopped(true)) return false;
    notifying_thread_ = std::this_thread::get_id();
    while (callbacks_ != nullptr) {
        detail::StopCallbackBase* cb = callbacks_;
        callbacks_ = cb->next;
        if (callbacks_ != nullptr) callbacks_->prev_ptr = &callbacks_;
        cb->prev_ptr = nullptr;
        bool removed = false;
        cb->removed_during_callback = &removed;
        unlock(stop_requested_bit);
        cb->execute(cb);
        if (!removed) {
            cb->removed_during_callback = nullptr;
            cb->callback_completed.store(true, std::memory_order_release);
        }
        lock();
    }
    unlock(stop_requested_bit);
    // Waits routed through their worker register no callback: tell the router, whose workers
    // look for stopped sources among their waits.
    if (router_ != nullptr) router_->stop_requested(*this);
    return true;
}

bool inplace_stop_source::try_add_callback(detail::StopCallbackBase* cb) noexcept {
    if (!lock_unless_stopped(false)) {
        cb->execute(cb);
        cb->callback_completed.store(true, std::memory_order_release);
        return false;
    }
    cb->next = callbacks_;
    cb->prev_ptr = &callbacks_;
    if (callbacks_ != nullptr) callbacks_->prev_ptr = &cb->next;
    callbacks_ = cb;
    unlock(0);
    return true;
}

void inplace_stop_source::remove_callback(detail::StopCallbackBase* cb) noexcept {
    lock();
    if (cb->prev_ptr != nullptr) {
        *cb->prev_ptr = cb->next;
        if (cb->next != nullptr) cb->next->prev_ptr = cb->prev_ptr;
        unlock(state_.load(std::memory_order_relaxed) & stop_requested_bit);
        return;
    }
    const std::thread::id notifier = notifying_thread_;
    unlock(state_.load(std::memory_order_relaxed) & stop_requested_bit);
    if (notifier == std::this_thread::get_id()) {
        if (cb->removed_during_callback != nullptr) *cb->removed_during_callback = true;
    } else {
        for (unsigned i = 0; !cb->callback_completed.load(std::memory_order_acquire); ++i)
            detail::spin_pause(i);
    }
}


}  // namespace corio
