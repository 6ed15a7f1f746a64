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
// A wait on a scheduler worker bound to its task's own token is routed: the worker runs the
// stop callback when it finds the source stopped, instead of a callback being registered on
// the source. When the completion also comes on that thread, the wait touches no lock and no
// atomic read-modify-write from start to end.
//
// What does not depend on Derived (starting and ending a wait, routing, parking) is
// OperationBase, compiled in the library; Derived's hooks reach it through one static table
// per operation type.
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

/// The part of every operation that does not depend on its type (see above).
class CORIO_EXPORT OperationBase {
  public:
    OperationBase(const OperationBase&) = delete;
    OperationBase& operator=(const OperationBase&) = delete;

    [[nodiscard]] Status status() const noexcept { return status_; }
    /// The token the wait would be bound to if it started now (for an operation that runs at
    /// once in try_now and must still be interruptible).
    [[nodiscard]] stop_token wait_token() const noexcept {
        return bound_ ? token_ : current_wait_token();
    }

  protected:
    /// Derived's part, as plain functions over the base.
    struct Hooks {
        void (*arm)(OperationBase& op, const ThreadState& ts);
        void (*try_cancel)(OperationBase& op) noexcept;
        /// nullptr when Derived has no `completes_here` (never local).
        bool (*completes_here)(const OperationBase& op, const ThreadState& ts) noexcept;
        WaitInfo (*wait_info)(const OperationBase& op) noexcept;
        bool forwards_cancel;
    };

    explicit OperationBase(const Hooks& hooks) noexcept : hooks_(&hooks) {}
    ~OperationBase() = default;

    void bind_token(stop_token token) noexcept {
        token_ = token;
        bound_ = true;
    }
    /// Waits in plain code: begins the wait, parks until it is complete, ends it. Aborts
    /// inside a coroutine (it would block the worker).
    void wait_plain();
    /// From await_suspend: records the coroutine to resume and begins the wait; false when it
    /// completed meanwhile (the coroutine goes on at once).
    bool suspend(std::coroutine_handle<> h);
    /// From await_resume: takes the stop callback back and clears the task's wait, if a wait
    /// began (a coroutine whose operation completed in await_ready began none).
    void end_wait() noexcept {
        if (began_) finish_wait();
    }

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

  private:
    static constexpr std::uint8_t armed_bit = 1;
    static constexpr std::uint8_t cancel_bit = 2;
    static constexpr std::uint8_t done_bit = 4;

    /// Sets up the state of a wait (`waiting_`); from wait_plain and suspend.
    void prepare_wait() noexcept;
    /// Returns true when the caller must wait for complete().
    bool begin_wait(const ThreadState& ts);
    void finish_wait() noexcept;
    /// Takes the stop callback out of the worker's index or the source, whichever has it.
    void unregister() noexcept;
    static void on_stop(StopCallbackBase* cb) noexcept;

    struct Callback : StopCallbackBase {
        explicit Callback(OperationBase* o) noexcept : StopCallbackBase(&on_stop), op(o) {}
        OperationBase* op;
    };
    /// What only a wait uses: built when one begins, so an operation that completes at once
    /// (a free mutex, a ready future) writes none of it. Trivially destructible.
    struct Waiting {
        explicit Waiting(OperationBase* op) noexcept : callback(op) {}
        TaskHeader* task = nullptr;
        Resumption resumption;
        Callback callback;
        RoutedWait routed;
        bool registered = false;
    };

    const Hooks* hooks_;
    std::atomic<std::uint8_t> bits_{0};
    Status status_ = Status::pending;
    bool bound_ = false;
    bool began_ = false;  // waiting_ is built
    bool local_ = false;  // waiter, completion and cancel all on this thread (see complete)
    stop_token token_;
    Waker waker_;
    union {
        Waiting waiting_;  // while began_
    };
};

template <class Derived>
class Operation : public OperationBase {
  public:
    /// Whether a cancellation of the waiter is forwarded (to a child task) while the wait goes
    /// on, instead of ending the wait.
    static constexpr bool forwards_cancel = false;

    Operation() noexcept : OperationBase(hooks) {}

    /// Binds the operation to `token` instead of the current task's (per-operation
    /// cancellation: with_timeout, select). A default token makes the wait uncancellable.
    Derived& bind(stop_token token) noexcept {
        bind_token(token);
        return derived();
    }

    /// Waits in plain code: suspends the fiber or blocks the thread (never a coroutine's worker).
    decltype(auto) await() {
        if (!derived().try_now()) wait_plain();
        return derived().take_result();
    }

    // The coroutine interface: `co_await op` in a Task. Resumes on the executor that ran the
    // coroutine when it suspended.
    bool await_ready() { return derived().try_now(); }
    bool await_suspend(std::coroutine_handle<> h) { return suspend(h); }
    decltype(auto) await_resume() {
        end_wait();
        return derived().take_result();
    }

  protected:
    Derived& derived() noexcept { return static_cast<Derived&>(*this); }

  private:
    static Derived& of(OperationBase& op) noexcept { return static_cast<Derived&>(op); }
    static const Derived& of(const OperationBase& op) noexcept {
        return static_cast<const Derived&>(op);
    }
    static void arm_hook(OperationBase& op, const ThreadState& ts) {
        if constexpr (requires(Derived& d) { d.arm(ts); })
            of(op).arm(ts);
        else
            of(op).arm();
    }
    static void try_cancel_hook(OperationBase& op) noexcept { of(op).try_cancel(); }
    static bool completes_here_hook(const OperationBase& op, const ThreadState& ts) noexcept {
        if constexpr (requires(const Derived& d) { d.completes_here(ts); })
            return of(op).completes_here(ts);
        else
            return false;
    }
    static WaitInfo wait_info_hook(const OperationBase& op) noexcept { return of(op).wait_info(); }
    static constexpr bool has_completes_here =
        requires(const Derived& d, const ThreadState& ts) { d.completes_here(ts); };

    static constexpr Hooks hooks{&arm_hook, &try_cancel_hook,
                                 has_completes_here ? &completes_here_hook : nullptr,
                                 &wait_info_hook, Derived::forwards_cancel};
};

}  // namespace corio::detail
