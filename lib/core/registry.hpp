// SPDX-License-Identifier: MIT
// A backend's task registry: every live task (for dumps and the destructor's check), the
// orphans a backend reaps, the groups that still refer to it, and its stop router.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "core/spin_lock.hpp"

#include <corio/detail/task_header.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <mutex>

namespace corio::detail {

class StopRouter;

class TaskRegistry {
  public:
    TaskRegistry() = default;
    TaskRegistry(const TaskRegistry&) = delete;
    TaskRegistry& operator=(const TaskRegistry&) = delete;

    /// Routes the cancellation of the backend's tasks through its workers (see StopRouter);
    /// set by the constructor of a backend that has workers, before any task exists.
    void set_stop_router(StopRouter* r) noexcept { stop_router_ = r; }

    /// Gives `t` an id and records it (called when a task state is built).
    void add(TaskHeader& t) noexcept;
    /// Forgets `t` (called when its state is destroyed).
    void remove(TaskHeader& t) noexcept;

    /// Takes over a task whose future was dropped inside a coroutine: it is cancelled already
    /// and is destroyed when it ends; the backend's destructor waits for such orphans.
    void adopt_orphan(TaskHeader& t) noexcept;
    /// Called by finish_task for an orphan that ended: destroys it.
    void orphan_finished(TaskHeader& t) noexcept;
    /// The members of a group dropped inside a coroutine become orphans, reaped as they end.
    void orphan_group_members(std::size_t n) noexcept;
    /// An orphan (a task, or a member of a dropped group) ended and was freed.
    void orphan_reaped() noexcept;
    /// Orphans not reaped yet.
    [[nodiscard]] std::size_t orphans() const noexcept;
    /// Blocks until every orphan was reaped (by threads that run the tasks: not for a backend
    /// whose loop the caller drives).
    void wait_for_orphans() const noexcept;

    /// Groups count as references for the destructor's check.
    void add_group() noexcept { groups_.fetch_add(1, std::memory_order_relaxed); }
    void remove_group() noexcept { groups_.fetch_sub(1, std::memory_order_relaxed); }

    /// One line per live task: id, kind, what it waits on.
    void dump(std::ostream& out) const;
    [[nodiscard]] std::size_t live() const noexcept;
    /// Tasks whose body has not ended yet (a walk over the registry).
    [[nodiscard]] std::size_t unfinished() const noexcept;
    /// Blocks until every task's body has ended (`run()` with worker threads): woken by the
    /// tasks that end while it waits, it walks the registry only then.
    void wait_until_finished() const noexcept;
    /// From finish_task, after the task's done bit is set, and from a scheduler worker about
    /// to sleep (its last task may have ended on it): wakes a `wait_until_finished`.
    void note_finished() const noexcept {
        if (finish_watchers_.load(std::memory_order_seq_cst) != 0) [[unlikely]]
            notify_finished();
    }
    /// Aborts with a list of tasks when a Future or Group still refers to the backend; a
    /// backend's destructor calls it once its orphans are reaped.
    void check_unreferenced() noexcept;

  private:
    /// One part of the registry: tasks are recorded in the shard of the thread that builds
    /// them, so spawning threads do not share a lock; a shard's lock is held for a few
    /// instructions.
    struct alignas(64) Shard {
        mutable SpinLock lock;
        TaskHeader* tasks = nullptr;
        std::size_t count = 0;
    };
    static constexpr unsigned shards = 8;

    StopRouter* stop_router_ = nullptr;
    Shard shards_[shards];
    mutable std::mutex orphan_mutex_;
    mutable std::condition_variable orphans_reaped_;
    std::size_t orphan_count_ = 0;  // under orphan_mutex_
    std::atomic<std::size_t> groups_{0};
    // wait_until_finished: how many wait, and a count of the ends seen while they did.
    mutable std::atomic<unsigned> finish_watchers_{0};
    mutable std::mutex finish_mutex_;
    mutable std::condition_variable finished_;
    mutable std::uint64_t finish_events_ = 0;  // under finish_mutex_
    void notify_finished() const noexcept;
};

}  // namespace corio::detail
