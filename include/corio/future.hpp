// SPDX-License-Identifier: MIT
// Future<R>: the owner of a task's result, returned by io.async and io.concurrent.
#pragma once

#include <corio/backend.hpp>
#include <corio/detail/operation.hpp>
#include <corio/detail/result.hpp>
#include <corio/detail/task_state.hpp>
#include <corio/error.hpp>

#include <atomic>
#include <type_traits>
#include <utility>

namespace corio {

class Io;

namespace detail {

[[noreturn]] CORIO_EXPORT void throw_moved_from_future();
[[noreturn]] CORIO_EXPORT void throw_second_waiter();

/// Runs a task that the awaiter claimed before it started, on the awaiter's thread; the
/// awaiter's cancellation is forwarded to it meanwhile, as a wait would forward it.
CORIO_EXPORT void run_claimed(TaskHeader* t) noexcept;

/// From a coroutine about to wait for `t`: if `t` is a coroutine task that has not started and
/// its backend lets the awaiter take it back, runs it here (to its end, or its first
/// suspension) and returns true.
/// Bounded in depth, so chains of such awaits do not grow the thread's stack without end.
CORIO_EXPORT bool run_if_unstarted(TaskHeader* t) noexcept;

/// Releases a task whose future is dropped: cancels and waits (plain code), or hands it to the
/// backend to reap (inside a coroutine on a worker, where waiting would block the worker).
CORIO_EXPORT void drop_task(TaskHeader* t) noexcept;

/// Waits for a task to finish, forwarding the waiter's own cancellation to it (and then going
/// on waiting, as cancel() does). Suspends the waiting fiber or coroutine, or blocks a thread.
/// Resumes the waiter on its own executor (coroutines) or unparks it (plain code).
class FutureWaitOperation : public Operation<FutureWaitOperation> {
  public:
    static constexpr bool forwards_cancel = true;

    explicit FutureWaitOperation(TaskHeader* t) noexcept : task_(t) {}

    bool try_now() noexcept {
        return (task_->completion.load(std::memory_order_acquire) & TaskHeader::done_bit) != 0;
    }
    void arm(const ThreadState& ts) noexcept {
        // One waiter at a time: the waiter slot is claimed first, then announced by waiter_bit.
        if (completes_here(ts)) {
            // The task ends on this thread, which alone writes the slot and the word meanwhile
            // (their other writers are the waiters, which the future's owner makes one at a
            // time, and the task's end): no read-modify-write.
            if (task_->waiter.load(std::memory_order_relaxed) != nullptr) {
                second_waiter();
                return;
            }
            task_->waiter.store(&listener_, std::memory_order_relaxed);
            const std::uint32_t c = task_->completion.load(std::memory_order_relaxed);
            if ((c & TaskHeader::done_bit) != 0) {
                complete(Status::ok);
                return;
            }
            task_->completion.store(c | TaskHeader::waiter_bit | TaskHeader::local_waiter_bit,
                                    std::memory_order_relaxed);
            return;
        }
        Listener* expected = nullptr;
        if (!task_->waiter.compare_exchange_strong(expected, &listener_,
                                                   std::memory_order_acq_rel)) {
            second_waiter();
            return;
        }
        if ((task_->completion.fetch_or(TaskHeader::waiter_bit, std::memory_order_acq_rel) &
             TaskHeader::done_bit) != 0)
            complete(Status::ok);
    }
    void try_cancel() noexcept { task_->stop.request_stop(); }
    /// The task was started on the waiter's worker (the route hint a worker gives the tasks it
    /// starts, which never leave it), so it ends there. `ts.task`, the waiter, runs there too.
    [[nodiscard]] bool completes_here(const ThreadState& ts) const noexcept {
        const Worker* here = ts.task->stop.route_hint();
        return here != nullptr && ts.routed != nullptr && task_->stop.route_hint() == here;
    }
    WaitInfo wait_info() const noexcept { return {WaitKind::future, -1, {}}; }
    void take_result() const {
        if (misuse_) throw_second_waiter();
    }

  private:
    struct Node : Listener {
        FutureWaitOperation* op;
    };
    /// The slot holds another waiter: misuse unless the task is done (its result then tells).
    void second_waiter() noexcept {
        misuse_ = (task_->completion.load(std::memory_order_acquire) & TaskHeader::done_bit) == 0;
        complete(Status::ok);
    }
    static void notify(Listener* l) noexcept { static_cast<Node*>(l)->op->complete(Status::ok); }

    TaskHeader* task_;
    Node listener_{{&notify}, this};
    bool misuse_ = false;
};

}  // namespace detail

/// The result of a task started by `io.async` or `io.concurrent`. Move-only.
///
/// `await()` and `cancel()` are idempotent: the first waits and keeps the result in the future,
/// later calls return the same object (or rethrow the same exception). One waiter at a time: a
/// second concurrent waiter gets UsageError. A future that was never awaited is cancelled and
/// waited for by its destructor (which never throws); inside a coroutine on a worker it is
/// cancelled and handed to the backend, which reaps it.
template <class R>
class [[nodiscard]] Future {
  public:
    using value_type = R;

    Future() noexcept = default;
    Future(Future&& o) noexcept : state_(std::exchange(o.state_, nullptr)), result_(std::move(o.result_)) {
        o.result_.reset();
    }
    Future& operator=(Future&& o) noexcept {
        if (this != &o) {
            release();
            state_ = std::exchange(o.state_, nullptr);
            result_ = std::move(o.result_);
            o.result_.reset();
        }
        return *this;
    }
    Future(const Future&) = delete;
    Future& operator=(const Future&) = delete;
    ~Future() { release(); }

    /// Waits for the task and returns its result, or rethrows its exception. If the waiter is
    /// cancelled meanwhile, the cancellation is forwarded to the task and the wait goes on.
    /// Plain code only (a coroutine uses `co_await future`). May run a task that has not
    /// started yet on the calling thread.
    std::add_lvalue_reference_t<R> await() & {
        wait_plain();
        return result_.get();
    }
    R await() && {
        wait_plain();
        return std::move(result_).get();
    }

    /// Requests cancellation, waits, and returns the result (or rethrows, Canceled included).
    /// Plain code only: a coroutine writes `co_await corio::cancel(future)`.
    std::add_lvalue_reference_t<R> cancel() & {
        request_cancel();
        wait_plain("Future::cancel (in a coroutine: co_await corio::cancel(future))");
        return result_.get();
    }
    R cancel() && {
        request_cancel();
        wait_plain("Future::cancel (in a coroutine: co_await corio::cancel(future))");
        return std::move(result_).get();
    }

    /// Requests cancellation without waiting.
    void request_cancel() noexcept {
        if (state_ != nullptr) state_->stop.request_stop();
    }

    /// True once the result is there (await will not wait).
    [[nodiscard]] bool ready() const noexcept {
        if (state_ == nullptr) return !result_.empty();
        return (state_->completion.load(std::memory_order_acquire) &
                detail::TaskHeader::done_bit) != 0;
    }

    /// False for a default-constructed or moved-from future.
    [[nodiscard]] bool valid() const noexcept { return state_ != nullptr || !result_.empty(); }

    /// `co_await future` in a Task: suspends the coroutine until the task ends.
    template <bool Rvalue>
    class [[nodiscard]] AwaitOperation {
      public:
        explicit AwaitOperation(Future& f) : future_(f), op_(f.state_) {}
        bool await_ready() {
            if (future_.state_ == nullptr) {
                if (future_.result_.empty()) detail::throw_moved_from_future();
                return true;
            }
            return op_.await_ready();
        }
        bool await_suspend(std::coroutine_handle<> h) {
            // A task that has not started runs here first: if that ends it, no wait at all.
            if (detail::run_if_unstarted(future_.state_) && op_.await_ready()) return false;
            return op_.await_suspend(h);
        }
        decltype(auto) await_resume() {
            if (future_.state_ != nullptr) {
                op_.await_resume();
                future_.consume();
            }
            if constexpr (Rvalue)
                return std::move(future_.result_).get();
            else
                return future_.result_.get();
        }

      private:
        Future& future_;
        detail::FutureWaitOperation op_;
    };

    AwaitOperation<false> operator co_await() & { return AwaitOperation<false>(*this); }
    AwaitOperation<true> operator co_await() && { return AwaitOperation<true>(*this); }

    // For the runtime (race): the result of a future that is ready, without a wait (so a
    // coroutine may call it).
    R take_ready() && {
        if (state_ == nullptr) {
            if (result_.empty()) detail::throw_moved_from_future();
        } else {
            consume();
        }
        return std::move(result_).get();
    }

    // For the runtime (select, groups): the task, while it is not consumed.
    [[nodiscard]] detail::TaskHeader* task() const noexcept { return state_; }

    // For Io: futures are built from a state or from a result computed inline.
    explicit Future(detail::ResultTask<R>* state) noexcept : state_(state) {}
    detail::Result<R>& inline_result() noexcept { return result_; }

  private:
    void wait_plain(const char* what = "Future::await") {
        if (detail::thread_state().executor != nullptr) detail::abort_blocking_in_coroutine(what);
        if (state_ == nullptr) {
            if (result_.empty()) detail::throw_moved_from_future();
            return;
        }
        if (state_->backend->try_claim(*state_)) detail::run_claimed(state_);
        detail::FutureWaitOperation(state_).await();
        consume();
    }
    void consume() noexcept {
        result_ = std::move(state_->result);
        state_->vtable->destroy(state_);
        state_ = nullptr;
    }
    void release() noexcept {
        if (state_ != nullptr) {
            detail::drop_task(state_);
            state_ = nullptr;
        }
    }

    detail::ResultTask<R>* state_ = nullptr;
    detail::Result<R> result_;
};

/// Cancels the task of `future` and waits for it: what `future.cancel()` returns (its result
/// if it finished anyway, else it rethrows, Canceled included), as an awaitable, so that a
/// coroutine can write `co_await corio::cancel(future)` and plain code
/// `corio::cancel(future).await()`. Given an rvalue future, it returns the result by value.
template <class R, bool Rvalue>
class [[nodiscard]] CancelFutureOperation {
  public:
    explicit CancelFutureOperation(Future<R>& f) noexcept : future_(f) {}

    decltype(auto) await() {
        if constexpr (Rvalue)
            return std::move(future_).cancel();
        else
            return future_.cancel();
    }
    bool await_ready() {
        future_.request_cancel();
        return wait_.await_ready();
    }
    bool await_suspend(std::coroutine_handle<> h) { return wait_.await_suspend(h); }
    decltype(auto) await_resume() { return wait_.await_resume(); }

  private:
    Future<R>& future_;
    typename Future<R>::template AwaitOperation<Rvalue> wait_{future_};
};

template <class R>
CancelFutureOperation<R, false> cancel(Future<R>& future) noexcept {
    return CancelFutureOperation<R, false>(future);
}
template <class R>
CancelFutureOperation<R, true> cancel(Future<R>&& future) noexcept {
    return CancelFutureOperation<R, true>(future);
}

}  // namespace corio
