// SPDX-License-Identifier: MIT
// The type-independent part of every operation: starting a wait (the stop callback, routed on
// a scheduler worker or registered on the source), parking a plain waiter, ending the wait.
#include "core/routed_waits.hpp"

#include <corio/detail/operation.hpp>

#include <new>
#include <type_traits>

namespace corio::detail {

void OperationBase::prepare_wait() noexcept {
    static_assert(std::is_trivially_destructible_v<Waiting>);  // never destroyed
    new (&waiting_) Waiting(this);
    began_ = true;
}

void OperationBase::wait_plain() {
    ThreadState& ts = thread_state();
    if (ts.executor != nullptr)
        abort_blocking_in_coroutine(to_string(hooks_->wait_info(*this).kind));
    prepare_wait();
    waker_.parker = ts.parker;
    if (begin_wait(ts)) {
        if (local_) {
            while ((bits_.load(std::memory_order_relaxed) & done_bit) == 0)
                ts.parker->park_local();
        } else {
            while ((bits_.load(std::memory_order_acquire) & done_bit) == 0) ts.parker->park();
        }
    }
    end_wait();
}

bool OperationBase::suspend(std::coroutine_handle<> h) {
    ThreadState& ts = thread_state();
    prepare_wait();
    Resumption& r = waiting_.resumption;
    r.handle = h;
    r.task = ts.task;
    r.executor = ts.executor;
    waker_.resumption = &r;
    return begin_wait(ts);
}

bool OperationBase::begin_wait(const ThreadState& ts) {
    TaskHeader* const task = ts.task;
    if (!bound_) token_ = wait_token_of(*task);
    if (!hooks_->forwards_cancel && token_.stop_requested()) {
        status_ = Status::canceled;
        return false;
    }
    Waiting& w = waiting_;
    w.task = task;
    if (token_.stop_possible()) {
        inplace_stop_source* source = token_.source();
        RoutedWaits* waits = ts.routed;
        w.routed.callback = &w.callback;
        w.routed.source = source;
        // The task's own source, on a worker of the backend that routes it: routed. (Its
        // waits then all run on the worker that started the task, which the router reports
        // to first.)
        if (waits != nullptr && source == &task->stop && source->router() != nullptr &&
            source->router() == waits->router() && waits->add(w.routed)) {
            // Stopped from now on, the worker finds it and runs the callback; stopped already
            // (the worker may have looked before it was indexed), it runs here.
            if (source->stop_requested()) {
                waits->remove(w.routed);
                on_stop(&w.callback);
            }
        } else {
            w.registered = source->try_add_callback(&w.callback);
        }
    }
    try {
        hooks_->arm(*this, ts);
    } catch (...) {
        unregister();  // nothing may point at this operation once the exception leaves
        throw;
    }
    // Everything that touches the state from now on runs on this thread: plain loads and
    // stores are enough.
    if (!w.registered && hooks_->completes_here != nullptr && hooks_->completes_here(*this, ts))
        local_ = true;
    // Published once registered (a waiter seen as parked on a mutex is in its queue), and
    // before the armed bit, after which a resumed waiter may own this memory again.
    task->set_waiting(hooks_->wait_info(*this));
    std::uint8_t s = bits_.load(std::memory_order_acquire);
    bool cancel_tried = false;
    for (;;) {
        if ((s & done_bit) != 0) return false;
        if ((s & cancel_bit) != 0 && !cancel_tried) {
            cancel_tried = true;
            hooks_->try_cancel(*this);
            s = bits_.load(std::memory_order_acquire);
            continue;
        }
        if (local_) {
            bits_.store(s | armed_bit, std::memory_order_relaxed);
            return true;
        }
        if (bits_.compare_exchange_weak(s, s | armed_bit, std::memory_order_acq_rel,
                                        std::memory_order_acquire))
            return true;
    }
}

void OperationBase::unregister() noexcept {
    Waiting& w = waiting_;
    if (w.routed.list != nullptr) w.routed.list->remove(w.routed);  // unless the worker ran it
    if (w.registered) {
        token_.source()->remove_callback(&w.callback);  // waits for a callback running now
        w.registered = false;
    }
    local_ = false;  // after: a registered callback reads it
}

void OperationBase::finish_wait() noexcept {
    unregister();
    if (waiting_.task != nullptr) {
        waiting_.task->clear_waiting();
        waiting_.task = nullptr;
    }
}

void OperationBase::on_stop(StopCallbackBase* cb) noexcept {
    OperationBase* self = static_cast<Callback*>(cb)->op;
    if (self->local_) {
        const std::uint8_t b = self->bits_.load(std::memory_order_relaxed);
        self->bits_.store(b | cancel_bit, std::memory_order_relaxed);
        if ((b & armed_bit) != 0) self->hooks_->try_cancel(*self);
        return;
    }
    if ((self->bits_.fetch_or(cancel_bit, std::memory_order_acq_rel) & armed_bit) != 0)
        self->hooks_->try_cancel(*self);
}

}  // namespace corio::detail
