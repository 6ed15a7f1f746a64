// SPDX-License-Identifier: MIT
// Io: the handle every corio function takes, as an allocator is taken. Copy it freely.
#pragma once

#include <corio/backend.hpp>
#include <corio/cancel.hpp>
#include <corio/detail/task_state.hpp>
#include <corio/error.hpp>
#include <corio/future.hpp>
#include <corio/time.hpp>

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <stop_token>
#include <type_traits>
#include <utility>

namespace corio {

namespace detail {
class SignalWaitOperation;
}  // namespace detail

/// Per-call options of `io.async` and `io.concurrent`, passed as their first argument.
struct SpawnOptions {
    /// Usable bytes of the task's fiber stack on a fiber backend (IoUring); 0: the backend's
    /// default. Ignored by backends whose tasks run on threads or inline.
    std::size_t stack_size = 0;
};

/// A handle to a backend: one pointer, copyable, every member `const`. The current task is
/// thread-local state of the runtime, not part of the handle, so a lambda that captures an `Io`
/// by value works in any task.
class Io {
  public:
    explicit Io(Backend& backend) noexcept : backend_(&backend) {}

    [[nodiscard]] Backend& backend() const noexcept { return *backend_; }

    /// Starts `f(args...)` (arguments decay-copied into the task state). May run it inline, in
    /// which case the returned future is ready; never throws for lack of concurrency. When `f`
    /// returns `Task<R>`, the coroutine is driven by the runtime and the future yields `R`.
    template <class F, class... A>
    auto async(F&& f, A&&... args) const {
        return spawn(SpawnKind::async, SpawnOptions{}, std::forward<F>(f),
                     std::forward<A>(args)...);
    }
    /// As `async`, with per-call options.
    template <class F, class... A>
    auto async(SpawnOptions options, F&& f, A&&... args) const {
        return spawn(SpawnKind::async, options, std::forward<F>(f), std::forward<A>(args)...);
    }

    /// Starts `f(args...)` so that it makes progress independently of the caller (its own thread
    /// on Threaded). Throws ConcurrencyUnavailable when the backend cannot.
    template <class F, class... A>
    auto concurrent(F&& f, A&&... args) const {
        return spawn(SpawnKind::concurrent, SpawnOptions{}, std::forward<F>(f),
                     std::forward<A>(args)...);
    }
    /// As `concurrent`, with per-call options.
    template <class F, class... A>
    auto concurrent(SpawnOptions options, F&& f, A&&... args) const {
        return spawn(SpawnKind::concurrent, options, std::forward<F>(f), std::forward<A>(args)...);
    }

    /// Runs `f(args...)`, a function that blocks in ways corio cannot see (a third-party library
    /// call, getaddrinfo), on a thread of its own: the backend's blocking-offload pool (on
    /// Threaded, the pool itself). Await the returned future (`.await()`, `co_await`) to get
    /// its result without blocking a worker. Throws ConcurrencyUnavailable when no thread can
    /// be started.
    template <class F, class... A>
    auto blocking(F&& f, A&&... args) const {
        auto future = Io(backend_->blocking_backend())
                          .spawn(SpawnKind::concurrent, SpawnOptions{}, std::forward<F>(f),
                                 std::forward<A>(args)...);
        // Its awaiter never runs it itself: that would block a worker (or a fiber's thread).
        if (future.task() != nullptr) future.task()->claimable = false;
        return future;
    }

    /// As `async`, and a stop request on `token` (a std::jthread's, say) cancels the task.
    /// Always builds a task state (the link lives in it).
    template <class F, class... A>
    auto async_with(std::stop_token token, F&& f, A&&... args) const {
        using SF = detail::StateFor<F, A...>;
        using State = detail::Linked<typename SF::type>;
        const bool scheduled = backend_->reserve(SpawnKind::async);
        State* s = nullptr;
        try {
            s = detail::make_state<State>(*backend_, std::move(token), std::forward<F>(f),
                                          std::forward<A>(args)...);
        } catch (...) {
            if (scheduled) backend_->release(SpawnKind::async);
            throw;
        }
        if (!scheduled || !backend_->schedule(*s, SpawnKind::async)) backend_->run_inline(*s);
        return Future<typename SF::value_type>(s);
    }

    // ---- cancellation ------------------------------------------------------------------------

    /// The current task's stop token (std::stop_token's interface).
    [[nodiscard]] corio::stop_token stop_token() const noexcept {
        return corio::stop_token(&detail::current_task().stop);
    }
    /// True when the current task's cancellation was requested and no CancelShield is active.
    [[nodiscard]] bool cancel_requested() const noexcept {
        return detail::current_wait_token().stop_requested();
    }
    /// Throws Canceled when cancel_requested(): the explicit cancellation point.
    void check_cancel() const {
        if (cancel_requested()) throw Canceled();
    }

    // ---- time --------------------------------------------------------------------------------

    /// The backend's steady clock (virtual on Simulated).
    [[nodiscard]] std::chrono::steady_clock::time_point now() const noexcept {
        return backend_->now();
    }
    /// The backend's time on another clock.
    template <class Clock>
    [[nodiscard]] typename Clock::time_point now() const {
        if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
            return backend_->now();
        } else if constexpr (std::is_same_v<Clock, std::chrono::system_clock>) {
            return backend_->now_system();
        } else {
            return Clock::now() + std::chrono::duration_cast<typename Clock::duration>(
                                      backend_->now() - std::chrono::steady_clock::now());
        }
    }
    /// Waits for `d` (an awaitable: `.await()` or `co_await`).
    template <class Rep, class Period>
    [[nodiscard]] SleepOperation sleep(std::chrono::duration<Rep, Period> d) const noexcept {
        return SleepOperation(
            *backend_,
            backend_->now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
    }
    /// Waits until `t` on the steady clock.
    [[nodiscard]] SleepOperation sleep_until(std::chrono::steady_clock::time_point t) const noexcept {
        return SleepOperation(*backend_, t);
    }
    /// Lets other tasks run (an awaitable; a cancellation point).
    [[nodiscard]] YieldOperation yield() const noexcept { return YieldOperation(*backend_); }

    // ---- signals -----------------------------------------------------------------------------

    /// Waits until one of `signals` is delivered and returns its number; each must have been
    /// blocked with `corio::block_signals` at the top of main (defined in <corio/signal.hpp>).
    [[nodiscard]] detail::SignalWaitOperation wait_signal(std::initializer_list<int> signals) const noexcept;
    /// The same for one signal (g++ 12 cannot build an initializer_list inside a coroutine).
    [[nodiscard]] detail::SignalWaitOperation wait_signal(int signo) const noexcept;

    friend bool operator==(const Io&, const Io&) noexcept = default;

  private:
    template <class F, class... A>
    auto spawn(SpawnKind kind, const SpawnOptions& options, F&& f, A&&... args) const {
        using SF = detail::StateFor<F, A...>;
        using R = typename SF::value_type;
        using State = typename SF::type;
        if (!backend_->reserve(kind)) {
            if constexpr (SF::is_coroutine) {
                State* s = detail::make_state<State>(*backend_, std::forward<F>(f),
                                                     std::forward<A>(args)...);
                backend_->run_inline(*s);
                return Future<R>(s);
            } else {
                Future<R> fut;
                fut.inline_result().capture([&]() -> decltype(auto) {
                    return std::invoke(std::decay_t<F>(std::forward<F>(f)),
                                       std::decay_t<A>(std::forward<A>(args))...);
                });
                return fut;
            }
        }
        State* s = nullptr;
        try {
            s = detail::make_state<State>(*backend_, std::forward<F>(f), std::forward<A>(args)...);
        } catch (...) {
            backend_->release(kind);
            throw;
        }
        s->concurrent = kind == SpawnKind::concurrent;
        s->stack_size = options.stack_size;
        if (!backend_->schedule(*s, kind)) {
            if (kind == SpawnKind::concurrent) {
                s->vtable->destroy(s);
                throw ConcurrencyUnavailable(backend_->schedule_failure());
            }
            backend_->run_inline(*s);
        }
        return Future<R>(s);
    }

    Backend* backend_;
};

/// Defers cancellation of the current task while it lives: waits in its scope are not
/// interrupted, `cancel_requested()` is false, and the request (sticky) takes effect at the
/// first cancellation point after it. Nests.
class CancelShield {
  public:
    explicit CancelShield(Io) noexcept : task_(&detail::current_task()) { ++task_->shield_depth; }
    CancelShield(const CancelShield&) = delete;
    CancelShield& operator=(const CancelShield&) = delete;
    ~CancelShield() { --task_->shield_depth; }

  private:
    detail::TaskHeader* task_;
};

}  // namespace corio
