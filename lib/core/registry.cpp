// SPDX-License-Identifier: MIT
// A backend's task registry: sharded by the thread that builds a task, the orphans, the
// groups, and the destructor's check.
#include "core/registry.hpp"

#include "core/internal.hpp"
#include "core/spin_lock.hpp"

#include <corio/backend.hpp>

#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <sstream>

namespace corio::detail {

namespace {

std::atomic<std::uint64_t> g_next_task_id{1};
std::atomic<unsigned> g_next_shard{0};

/// Task ids are handed to threads in blocks, so building a task takes no shared atomic.
struct IdBlock {
    std::uint64_t next = 0;
    std::uint64_t end = 0;
    unsigned shard = ~0u;  // the registry shard of this thread
};
CORIO_TLS thread_local IdBlock t_ids;
constexpr std::uint64_t id_block = 1024;

}  // namespace

void TaskRegistry::add(TaskHeader& t) noexcept {
    t.stop.set_router(stop_router_);  // before any other thread can see the task
    IdBlock& ids = t_ids;
    if (ids.next == ids.end) [[unlikely]] {
        ids.next = g_next_task_id.fetch_add(id_block, std::memory_order_relaxed);
        ids.end = ids.next + id_block;
        if (ids.shard == ~0u)
            ids.shard = g_next_shard.fetch_add(1, std::memory_order_relaxed) % shards;
    }
    t.id = ids.next++;
    t.registry_shard = static_cast<std::uint8_t>(ids.shard);
    Shard& shard = shards_[ids.shard];
    std::lock_guard lock(shard.lock);
    t.reg_prev = nullptr;
    t.reg_next = shard.tasks;
    if (shard.tasks != nullptr) shard.tasks->reg_prev = &t;
    shard.tasks = &t;
    ++shard.count;
}

void TaskRegistry::remove(TaskHeader& t) noexcept {
    Shard& shard = shards_[t.registry_shard];
    std::lock_guard lock(shard.lock);
    if (t.reg_prev != nullptr)
        t.reg_prev->reg_next = t.reg_next;
    else
        shard.tasks = t.reg_next;
    if (t.reg_next != nullptr) t.reg_next->reg_prev = t.reg_prev;
    --shard.count;
}

void TaskRegistry::adopt_orphan(TaskHeader& t) noexcept {
    {
        std::lock_guard lock(orphan_mutex_);
        ++orphan_count_;
    }
    const std::uint32_t prev =
        t.completion.fetch_or(TaskHeader::detached_bit, std::memory_order_acq_rel);
    if ((prev & TaskHeader::done_bit) != 0) orphan_finished(t);
}

void TaskRegistry::orphan_finished(TaskHeader& t) noexcept {
    t.vtable->destroy(&t);
    orphan_reaped();
}

void TaskRegistry::orphan_group_members(std::size_t n) noexcept {
    std::lock_guard lock(orphan_mutex_);
    orphan_count_ += n;
}

void TaskRegistry::orphan_reaped() noexcept {
    // Notified under the lock: a destructor that saw the count reach zero may free the
    // backend as soon as it has the lock again.
    std::lock_guard lock(orphan_mutex_);
    if (--orphan_count_ == 0) orphans_reaped_.notify_all();
}

std::size_t TaskRegistry::orphans() const noexcept {
    std::lock_guard lock(orphan_mutex_);
    return orphan_count_;
}

void TaskRegistry::wait_for_orphans() const noexcept {
    std::unique_lock lock(orphan_mutex_);
    orphans_reaped_.wait(lock, [this] { return orphan_count_ == 0; });
}

std::size_t TaskRegistry::live() const noexcept {
    std::size_t n = 0;
    for (const Shard& shard : shards_) {
        std::lock_guard lock(shard.lock);
        n += shard.count;
    }
    return n;
}

std::size_t TaskRegistry::unfinished() const noexcept {
    std::size_t n = 0;
    for (const Shard& shard : shards_) {
        std::lock_guard lock(shard.lock);
        for (const TaskHeader* t = shard.tasks; t != nullptr; t = t->reg_next)
            if ((t->completion.load(std::memory_order_acquire) & TaskHeader::done_bit) == 0)
                ++n;
    }
    return n;
}

void TaskRegistry::wait_until_finished() const noexcept {
    // Announced before the walk (seq_cst, against note_finished's load after a done bit was
    // set): a task that ends after the walk missed it finds the watcher and notifies.
    finish_watchers_.fetch_add(1, std::memory_order_seq_cst);
    for (;;) {
        std::uint64_t seen = 0;
        {
            std::lock_guard lock(finish_mutex_);
            seen = finish_events_;
        }
        if (unfinished() == 0) break;
        std::unique_lock lock(finish_mutex_);
        finished_.wait(lock, [&] { return finish_events_ != seen; });
    }
    finish_watchers_.fetch_sub(1, std::memory_order_relaxed);
}

void TaskRegistry::notify_finished() const noexcept {
    std::lock_guard lock(finish_mutex_);
    ++finish_events_;
    finished_.notify_all();
}

void TaskRegistry::dump(std::ostream& out) const {
    for (const Shard& shard : shards_) {
        std::lock_guard lock(shard.lock);
        for (const TaskHeader* t = shard.tasks; t != nullptr; t = t->reg_next) {
            const std::uint32_t c = t->completion.load(std::memory_order_relaxed);
            out << "  task " << t->id << (t->coroutine ? " (coroutine)" : " (plain)")
                << ((c & TaskHeader::done_bit) != 0 ? " finished" : "")
                << ((c & TaskHeader::detached_bit) != 0 ? " orphaned" : "")
                << (t->stop.stop_requested() ? " cancel-requested" : "");
            if ((c & TaskHeader::done_bit) == 0)
                out << " waiting on "
                    << to_string(t->wait_kind.load(std::memory_order_acquire));
            out << '\n';
        }
    }
}

void TaskRegistry::check_unreferenced() noexcept {
    const std::size_t tasks = live() - orphans();
    const std::size_t groups = groups_.load(std::memory_order_acquire);
    if (tasks == 0 && groups == 0) return;
    std::ostringstream msg;
    msg << "corio: a backend is being destroyed while " << tasks << " task(s) and " << groups
        << " group(s) still refer to it (destroy every Future and Group first):\n";
    dump(msg);
    std::fputs(msg.str().c_str(), stderr);
    std::fflush(stderr);
    std::abort();
}

void register_task(Backend& backend, TaskHeader& t) noexcept { backend.registry().add(t); }

void unregister_task(TaskHeader& t) noexcept { t.backend->registry().remove(t); }

}  // namespace corio::detail
