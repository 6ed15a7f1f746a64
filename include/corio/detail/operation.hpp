// SPDX-License-Identifier: MIT
// The operation model every awaitable goes through.
//
// start: `try_now()` may complete at once (the fast path: no thread-local access, no atomics
// beyond the operation's own). Otherwise the waiter is recorded, a stop callback is registered on
// the bound token (the task's, a per-operation source such as with_timeout's, or none when
// shielded), and `arm()` registers with the source of the completion (a wait list, a timer).
// Exactly one of `complete(ok)` (the source) and `complete(canceled)` (whoever wins the removal
// in `try_cancel()`) happens; the waiter is then resumed: a parked plain context is unparked, a
// coroutine is posted to the executor that owns it. The awaitable returns only after that final
// completion and after its stop callback is unregistered, so its state can live on the waiter's
// stack or coroutine frame: no allocation per operation.
//
// Derived provides:
//   bool try_now();              complete without waiting if possible (true = done)
//   void arm();                  register; may call complete() at once (or arm(ts), given the
//                                waiter's ThreadState)
//   void try_cancel() noexcept;  remove the registration; if removed, complete(canceled)
//                                (or make sure completion follows, e.g. after a relock)
//   WaitInfo wait_info() const;  what the task waits on, for dumps
//   R take_result();             the result; throws Canceled after complete(canceled)
// and may provide:
//   bool completes_here(const ThreadState& ts) const;
//                                after arm(): every completion and cancel attempt runs on the
//                                calling thread (a ring operation of the worker that runs the
//                                waiter, a task started on that worker), so the state needs no
//                                read-modify-write
//
// A wait on a scheduler worker bound to its task's own token is routed (see StopRouter): the
// worker runs the stop callback when it finds the source stopped, instead of a callback being
// registered on the source. When the completion also comes on that thread, the wait touches
// no lock and no atomic read-modify-write from start to end.
#pragma once

#include <corio/cancel.hpp>
#include <corio/detail/runtime.hpp>
#include <corio/detail/task_header.hpp>
#include <corio/error.hpp>

#include <atomic>
#include <coroutine>
#include <cstdint>

namespace corio::detail {

enum class Status : std::uint8_t { pending, ok, canceled };

template <class Derived>
class Operation {
  public:
    /// Whether a cancellation of the waiter is forwarded (to a child task) while the wait goes
    /// on, instead of ending the wait.
    static constexpr bool forwards_cancel = false;

    Operation() noexcept = default;
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;

    /// Binds the operation to `token` instead of the current task's (per-operation
    /// cancellation: with_timeout, select). A default token makes the wait uncancellable.
    Derived& bind(stop_token token) noexcept {
        token_ = token;
        bound_ = true;
        return derived();
    }

    /// Waits in plain code: suspends the fiber or blocks the thread (never a coroutine's worker).
    decltype(auto) await() {
        if (!derived().try_now()) {
            ThreadState& ts = thread_state();
            if (ts.executor != nullptr) abort_blocking_in_coroutine(wait_name());
            waker_.parker = ts.parker;
            if (begin_wait(ts)) {
                if (local_) {
                    while ((bits_.load(std::memory_order_relaxed) & done_bit) == 0)
                        ts.parker->park_local();
                } else {
                    while ((bits_.load(std::memory_order_acquire) & done_bit) == 0)
                        ts.parker->park();
                }
            }
            end_wait();
        }
        return derived().take_result();
    }

    // The coroutine interface: `co_await op` in a Task. Resumes on the executor that ran the
    // coroutine when it suspended.
    bool await_ready() { return derived().try_now(); }
    bool await_suspend(std::coroutine_handle<> h) {
        ThreadState& ts = thread_state();
        resumption_.handle = h;
        resumption_.task = ts.task;
        resumption_.executor = ts.executor;
        waker_.resumption = &resumption_;
        return begin_wait(ts);
    }
    decltype(auto) await_resume() {
        end_wait();
        return derived().take_result();
    }

    [[nodiscard]] Status status() const noexcept { return status_; }

  protected:
    /// Completes the operation; called exactly once, by the winner of the completion race.
    void complete(Status s) noexcept {
        status_ = s;
        Waker w = waker_;  // the waiter may free this operation once done_bit is visible
        if (local_) {  // the waiter and every completer run on this thread
            const std::uint8_t b = bits_.load(std::memory_order_relaxed);
            bits_.store(b | done_bit, std::memory_order_relaxed);
            if ((b & armed_bit) != 0) w.wake_local();
            return;
        }
        if ((bits_.fetch_or(done_bit, std::memory_order_acq_rel) & armed_bit) != 0) w.wake();
    }

    void throw_if_canceled() const {
        if (status_ == Status::canceled) throw Canceled();
    }

    Derived& derived() noexcept { return static_cast<Derived&>(*this); }

    /// The token the wait would be bound to if it started now (for an operation that runs at
    /// once in try_now and must still be interruptible).
    [[nodiscard]] stop_token wait_token() const noexcept {
        return bound_ ? token_ : current_wait_token();
    }

  private:
    static constexpr std::uint8_t armed_bit = 1;
    static constexpr std::uint8_t cancel_bit = 2;
    static constexpr std::uint8_t done_bit = 4;

    const char* wait_name() const noexcept { return to_string(derived_const().wait_info().kind); }
    const Derived& derived_const() const noexcept { return static_cast<const Derived&>(*this); }

    /// Returns true when the caller must wait for complete().
    bool begin_wait(const ThreadState& ts) {
        TaskHeader* const task = ts.task;
        if (!bound_) token_ = wait_token_of(*task);
        if (!Derived::forwards_cancel && token_.stop_requested()) {
            status_ = Status::canceled;
            return false;
        }
        task_ = task;
        if (token_.stop_possible()) {
            inplace_stop_source* source = token_.source();
            RoutedWaits* waits = ts.routed;
            routed_.callback = &callback_;
            routed_.source = source;
            // The task's own source, on a worker of the backend that routes it: routed. (Its
            // waits then all run on the worker that started the task, which the router
            // reports to first.)
            if (waits != nullptr && source == &task->stop && source->router() != nullptr &&
                source->router() == waits->router() && waits->add(routed_)) {
                // Stopped from now on, the worker finds it and runs the callback; stopped
                // already (the worker may have looked before it was indexed), it runs here.
                if (source->stop_requested()) {
                    waits->remove(routed_);
                    on_stop(&callback_);
                }
            } else {
                registered_ = token_.source()->try_add_callback(&callback_);
            }
        }
        try {
            if constexpr (requires(Derived& d) { d.arm(ts); })
                derived().arm(ts);
            else
                derived().arm();
        } catch (...) {
            unregister();  // nothing may point at this operation once the exception leaves
            throw;
        }
        // Everything that touches the state from now on runs on this thread: plain loads and
        // stores are enough.
        if constexpr (requires(const Derived& d) { d.completes_here(ts); }) {
            if (!registered_ && derived_const().completes_here(ts)) local_ = true;
        }
        // Published once registered (a waiter seen as parked on a mutex is in its queue), and
        // before the armed bit, after which a resumed waiter may own this memory again.
        task_->set_waiting(derived().wait_info());
        std::uint8_t s = bits_.load(std::memory_order_acquire);
        bool cancel_tried = false;
        for (;;) {
            if ((s & done_bit) != 0) return false;
            if ((s & cancel_bit) != 0 && !cancel_tried) {
                cancel_tried = true;
                derived().try_cancel();
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

    /// Takes the stop callback out of the worker's index or the source, whichever has it.
    void unregister() noexcept {
        if (routed_.list != nullptr) routed_.list->remove(routed_);  // unless the worker ran it
        if (registered_) {
            token_.source()->remove_callback(&callback_);  // waits for a callback running now
            registered_ = false;
        }
        local_ = false;  // after: a registered callback reads it
    }

    void end_wait() noexcept {
        unregister();
        if (task_ != nullptr) {
            task_->clear_waiting();
            task_ = nullptr;
        }
    }

    static void on_stop(StopCallbackBase* cb) noexcept {
        auto* self = static_cast<Callback*>(cb)->op;
        if (self->local_) {
            const std::uint8_t b = self->bits_.load(std::memory_order_relaxed);
            self->bits_.store(b | cancel_bit, std::memory_order_relaxed);
            if ((b & armed_bit) != 0) self->derived().try_cancel();
            return;
        }
        if ((self->bits_.fetch_or(cancel_bit, std::memory_order_acq_rel) & armed_bit) != 0)
            self->derived().try_cancel();
    }

    struct Callback : StopCallbackBase {
        explicit Callback(Operation* o) noexcept : StopCallbackBase(&on_stop), op(o) {}
        Operation* op;
    };

    std::atomic<std::uint8_t> bits_{0};
    Status status_ = Status::pending;
    bool bound_ = false;
    bool registered_ = false;
    bool local_ = false;  // waiter, completion and cancel all on this thread (see complete)
    stop_token token_;
    TaskHeader* task_ = nullptr;
    Waker waker_;
    Resumption resumption_;
    Callback callback_{this};
    RoutedWait routed_;
};

}  // namespace corio::detail
