// SPDX-License-Identifier: MIT
// io.yield(): plain code asks the backend; a coroutine requeues itself on its executor.
#include "core/internal.hpp"
#include "scheduler/worker.hpp"

#include <corio/time.hpp>

namespace corio {

void YieldOperation::await() {
    detail::ThreadState& ts = detail::thread_state_fast();
    if (ts.executor != nullptr) detail::abort_blocking_in_coroutine("yield");
    const detail::TaskHeader& t = *ts.task;
    if (t.shield_depth == 0 && t.stop.stop_requested()) throw Canceled();
    // A fiber of a scheduler worker switches to the next ready fiber without asking its
    // backend (the hot path of a yield).
    if (detail::Worker* w = detail::Worker::current();
        w != nullptr && w->backend() == backend_ && w->running_fiber() != nullptr) {
        w->yield_fiber();
        return;
    }
    backend_->yield_plain();
}

bool YieldOperation::await_ready() {
    canceled_ = detail::current_wait_token().stop_requested();
    return canceled_;
}

void YieldOperation::await_suspend(std::coroutine_handle<> h) noexcept {
    detail::ThreadState& ts = detail::thread_state();
    resumption_.handle = h;
    resumption_.task = ts.task;
    resumption_.executor = ts.executor;
    backend_->yield_coroutine(resumption_);
}

void YieldOperation::await_resume() const {
    if (canceled_) throw Canceled();
}

}  // namespace corio
