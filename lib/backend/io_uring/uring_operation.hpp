// SPDX-License-Identifier: MIT
// A ring operation through the operation model: its state lives in the awaitable, its SQE is
// prepared on the ring of the worker that runs the waiter (or, from another thread, on a
// worker the submission is posted to), and it returns only after its final CQE.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "backend/io_uring/ring_worker.hpp"

#include <corio/detail/operation.hpp>

#include <cerrno>
#include <cstdint>

namespace corio::detail {

/// The worker that prepares a submission from the calling thread: its own, when it runs one
/// of `backend`'s workers; else one chosen for it (the owner's, with no worker threads).
RingWorker& submission_worker(Backend& backend);

/// The user_data of an operation whose state is `c`: its address and a 16-bit generation.
std::uint64_t make_user_data(RingCompletion* c) noexcept;

/// Derived provides `void prepare(io_uring_sqe*) noexcept`, `WaitInfo wait_info() const` and
/// `take_result()` (reading `result()`), and may override `on_result(res, flags)`.
template <class Derived>
class UringOperation : public Operation<Derived>, private RingCompletion {
  public:
    explicit UringOperation(Backend& backend) noexcept
        : RingCompletion(&on_cqe_thunk), backend_(&backend) {}

    bool try_now() noexcept { return false; }
    /// Submitted on the waiter's own worker: its CQE is reaped there, and a routed cancel
    /// runs there too.
    [[nodiscard]] bool completes_here(const ThreadState& /*ts*/) const noexcept { return local_; }

    void arm() {
        if (RingWorker* w = current_ring_worker(backend_)) {
            user_data_ = w->tag(this);
            owner_ = w;
            local_ = true;
            submit();
            return;
        }
        user_data_ = make_user_data(this);
        owner_ = &submission_worker(*backend_);
        submit_node_.op = this;
        owner_->post(&submit_node_);
    }

    void try_cancel() noexcept {
        // Before the submission, it sees the flag and completes canceled without submitting;
        // after it, the cancel SQE follows the operation's SQE on the same ring.
        cancel_requested_.store(true, std::memory_order_release);
        owner_->request_cancel(user_data_);
    }

  protected:
    [[nodiscard]] int result() const noexcept { return res_; }
    [[nodiscard]] unsigned cqe_flags() const noexcept { return flags_; }

    /// A CQE arrived for this operation (the final one: single-shot operations).
    void on_result(int res, unsigned flags) noexcept {
        res_ = res;
        flags_ = flags;
        this->complete(res == -ECANCELED ? Status::canceled : Status::ok);
    }

  private:
    void submit() noexcept {
        if (cancel_requested_.load(std::memory_order_acquire)) {
            this->complete(Status::canceled);
            return;
        }
        io_uring_sqe* sqe = owner_->get_sqe();
        static_cast<Derived*>(this)->prepare(sqe);
        io_uring_sqe_set_data64(sqe, user_data_);
        owner_->note_submitted();
    }
    /// Posted to the owner when the waiter runs on another thread.
    struct SubmitNode : Runnable {
        SubmitNode() noexcept : Runnable(&run_it) {}
        UringOperation* op = nullptr;
        static void run_it(Runnable* r) noexcept { static_cast<SubmitNode*>(r)->op->submit(); }
    };
    static void on_cqe_thunk(RingCompletion* c, int res, unsigned flags) noexcept {
        static_cast<Derived*>(static_cast<UringOperation*>(c))->on_result(res, flags);
    }

    Backend* backend_;
    RingWorker* owner_ = nullptr;
    std::uint64_t user_data_ = 0;
    std::atomic<bool> cancel_requested_{false};
    bool local_ = false;
    int res_ = 0;
    unsigned flags_ = 0;
    SubmitNode submit_node_;
};

}  // namespace corio::detail
