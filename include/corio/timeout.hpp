// SPDX-License-Identifier: MIT
// with_timeout: per-operation cancellation by a deadline.
#pragma once

#include <corio/backend.hpp>
#include <corio/cancel.hpp>
#include <corio/detail/timer.hpp>
#include <corio/error.hpp>
#include <corio/io.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <coroutine>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

namespace corio {

/// The awaitable `with_timeout` returns. It binds the wrapped operation to a stop source of its
/// own, stopped by the task's cancellation or by a timer; only the wrapped operation is
/// cancelled when the timer fires, never the task. Resumes where the wrapped operation resumes.
/// It refers to the wrapped operation, so use it in the expression that creates both.
template <class Op>
class [[nodiscard]] TimeoutOperation {
  public:
    TimeoutOperation(Io io, std::chrono::steady_clock::duration d, Op& op) noexcept
        : backend_(&io.backend()), duration_(d), op_(op) {}
    TimeoutOperation(const TimeoutOperation&) = delete;
    TimeoutOperation& operator=(const TimeoutOperation&) = delete;
    ~TimeoutOperation() { finish(); }  // also when the wrapped operation threw on its start

    decltype(auto) await() {
        start();
        return finishing([this]() -> decltype(auto) { return op_.await(); });
    }

    bool await_ready() {
        start();
        return op_.await_ready();
    }
    auto await_suspend(std::coroutine_handle<> h) { return op_.await_suspend(h); }
    decltype(auto) await_resume() {
        return finishing([this]() -> decltype(auto) { return op_.await_resume(); });
    }

  private:
    struct Forward {
        TimeoutOperation* self;
        void operator()() const noexcept {
            self->task_canceled_.store(true, std::memory_order_relaxed);
            self->source_.request_stop();
        }
    };
    struct Timer : detail::TimerNode {
        explicit Timer(TimeoutOperation* s) noexcept : TimerNode(&on_timer), self(s) {}
        TimeoutOperation* self;
    };
    static void on_timer(detail::TimerNode* n) noexcept {
        TimeoutOperation* self = static_cast<Timer*>(n)->self;
        self->timed_out_.store(true, std::memory_order_relaxed);
        self->source_.request_stop();
    }

    /// Runs `get` (which returns the wrapped operation's result), then disarms the timer and the
    /// link; a Canceled caused by the timer alone becomes Timeout, thrown or (for a
    /// non-throwing overload) stored as `timed_out`.
    template <class Get>
    decltype(auto) finishing(Get get) {
        try {
            if constexpr (std::is_void_v<decltype(get())>) {
                get();
                finish();
                report_timeout_in_error_code();
            } else {
                decltype(auto) r = get();
                finish();
                report_timeout_in_error_code();
                return r;
            }
        } catch (const Canceled&) {
            translate();
        } catch (...) {
            finish();
            throw;
        }
    }

    void start() {
        if (started_) return;
        started_ = true;
        link_.emplace(detail::current_wait_token(), Forward{this});
        timer_.deadline = backend_->now() + duration_;
        backend_->add_timer(timer_);
        timer_armed_ = true;
        op_.bind(stop_token(&source_));
    }
    void finish() noexcept {
        if (timer_armed_) {
            backend_->cancel_timer(timer_);
            timer_armed_ = false;
        }
        link_.reset();
    }
    [[nodiscard]] bool timer_alone_cancelled() const noexcept {
        return timed_out_.load(std::memory_order_relaxed) &&
               !task_canceled_.load(std::memory_order_relaxed);
    }
    void report_timeout_in_error_code() noexcept {
        if constexpr (requires(const Op& o) {
                          { o.error_code_out() } -> std::same_as<std::error_code*>;
                      }) {
            std::error_code* ec = op_.error_code_out();
            if (ec != nullptr && *ec == std::errc::operation_canceled && timer_alone_cancelled())
                *ec = std::make_error_code(std::errc::timed_out);
        }
    }
    [[noreturn]] void translate() {
        finish();
        if (timer_alone_cancelled()) throw Timeout();
        throw;
    }

    Backend* backend_;
    std::chrono::steady_clock::duration duration_;
    Op& op_;
    inplace_stop_source source_;
    std::optional<stop_callback<Forward>> link_;
    Timer timer_{this};
    std::atomic<bool> timed_out_{false};
    std::atomic<bool> task_canceled_{false};
    bool started_ = false;
    bool timer_armed_ = false;
};

/// Waits for `op` (any corio operation) for at most `d`: throws Timeout when the deadline passes
/// first, and cancels only `op` then; the task stays uncancelled. A cancellation of the task
/// still ends the wait with Canceled.
template <class Rep, class Period, class Op>
TimeoutOperation<std::remove_reference_t<Op>> with_timeout(Io io, std::chrono::duration<Rep, Period> d,
                                                           Op&& op) noexcept {
    return TimeoutOperation<std::remove_reference_t<Op>>(
        io, std::chrono::ceil<std::chrono::steady_clock::duration>(d), op);
}

}  // namespace corio
