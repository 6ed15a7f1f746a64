// SPDX-License-Identifier: MIT
// Sleeping and yielding: the awaitable operations behind io.sleep, io.sleep_until and io.yield.
#pragma once

#include <corio/backend.hpp>
#include <corio/detail/operation.hpp>
#include <corio/detail/timer.hpp>
#include <corio/export.hpp>

#include <chrono>
#include <coroutine>

namespace corio {

class YieldOperation;
namespace detail {
/// The body of YieldOperation::await (see lib/core/time.cpp).
void yield_await(YieldOperation& op);
}  // namespace detail

/// Waits until a deadline on the backend's clock. Completes inline when the deadline has passed
/// (ignoring a pending cancellation then); otherwise suspends the fiber or coroutine (blocks a
/// plain thread) and is resumed by the backend's timer. Cancelling it (the task, or the
/// operation alone) ends the wait at once with Canceled.
class [[nodiscard]] SleepOperation : public detail::Operation<SleepOperation> {
  public:
    SleepOperation(Backend& backend, std::chrono::steady_clock::time_point deadline) noexcept
        : backend_(&backend) {
        node_.deadline = deadline;
    }

    bool try_now() const noexcept { return node_.deadline <= backend_->now(); }
    void arm() { backend_->add_timer(node_); }
    void try_cancel() noexcept {
        if (backend_->cancel_timer(node_)) complete(detail::Status::canceled);
    }
    [[nodiscard]] detail::WaitInfo wait_info() const noexcept {
        return {detail::WaitKind::sleep, -1, node_.deadline};
    }
    void take_result() const { throw_if_canceled(); }

  private:
    struct Node : detail::TimerNode {
        explicit Node(SleepOperation* o) noexcept : TimerNode(&on_timer), op(o) {}
        SleepOperation* op;
    };
    static void on_timer(detail::TimerNode* n) noexcept {
        static_cast<Node*>(n)->op->complete(detail::Status::ok);
    }

    Backend* backend_;
    Node node_{this};
};

/// Lets other tasks run. A cancellation point: throws Canceled when the task's cancellation
/// was requested. A coroutine is queued behind the ready work of its executor; plain code asks
/// the backend to run something else (the OS scheduler on Threaded).
class [[nodiscard]] CORIO_EXPORT YieldOperation {
  public:
    explicit YieldOperation(Backend& backend) noexcept : backend_(&backend) {}

    void await();

    bool await_ready();
    void await_suspend(std::coroutine_handle<> h) noexcept;
    void await_resume() const;

  private:
    friend void detail::yield_await(YieldOperation& op);

    Backend* backend_;
    bool canceled_ = false;
    detail::Resumption resumption_;
};

}  // namespace corio
