// SPDX-License-Identifier: MIT
// The executor of a coroutine task run inline by a thread that blocks until it ends.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "core/runnable_queue.hpp"

#include <corio/detail/runtime.hpp>
#include <corio/detail/task_header.hpp>

#include <mutex>

namespace corio::detail {

/// Runs the coroutine resumptions of a task driven inline by a blocked thread.
class LocalLoop final : public Executor {
  public:
    explicit LocalLoop(Parker* parker) noexcept : parker_(parker) {}
    /// Unparks under the lock: the owner can run `r` only after taking the lock, and once `r`
    /// has run the task may end and this loop, a local of the owner's frame, be gone, so
    /// nothing of it may be read after the unlock (not even `parker_`).
    void post(Runnable* r) noexcept override {
        std::lock_guard lock(mutex_);
        queue_.push_back(r);
        parker_->unpark();
    }
    /// Runs what is queued; false when nothing was.
    bool run_some() noexcept {
        Runnable* r = nullptr;
        {
            std::lock_guard lock(mutex_);
            r = queue_.take_all();
        }
        if (r == nullptr) return false;
        while (r != nullptr) {
            Runnable* next = r->next;
            r->run(r);
            r = next;
        }
        return true;
    }

  private:
    Parker* parker_;
    std::mutex mutex_;
    RunnableQueue queue_;
};


/// Marks a coroutine group member about to be driven inline (see inline_member_bit); true if
/// `t` is one, and the caller then passes it to `group_member_finished` once it is done.
inline bool begin_inline_member(TaskHeader& t) noexcept {
    if (t.group == nullptr) return false;
    t.completion.fetch_or(TaskHeader::inline_member_bit, std::memory_order_relaxed);
    return true;
}

/// Backend::run_inline for a backend with nothing better: runs `t` on the calling context to
/// its end; a coroutine's resumptions come back to this context through a LocalLoop.
inline void run_inline_here(TaskHeader& t) {
    t.start_state.store(TaskHeader::started, std::memory_order_relaxed);
    if (!t.coroutine) {
        run_task_here(&t);  // a group member is freed by its group as it ends: not used after
        return;
    }
    const bool member = begin_inline_member(t);
    Parker* parker = thread_state().parker;
    LocalLoop loop(parker);
    t.executor = &loop;
    run_task_here(&t);
    while ((t.completion.load(std::memory_order_acquire) & TaskHeader::done_bit) == 0) {
        if (!loop.run_some()) parker->park();
    }
    if (member) group_member_finished(&t);
}

}  // namespace corio::detail
