// SPDX-License-Identifier: MIT
// Group: membership, the error policies, and the hand-off of dropped groups to the backend.
#include "core/internal.hpp"
#include "core/registry.hpp"

#include <corio/group.hpp>

#include <new>

namespace corio {

namespace detail {

namespace {

bool is_cancellation(const std::exception_ptr& e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const Canceled&) {
        return true;
    } catch (...) {
        return false;
    }
}

void unlink_locked(GroupCore& core, TaskHeader& t) noexcept {
    if (t.group_prev != nullptr)
        t.group_prev->group_next = t.group_next;
    else
        core.members = t.group_next;
    if (t.group_next != nullptr) t.group_next->group_prev = t.group_prev;
    t.group_prev = t.group_next = nullptr;
    --core.count;
}

void cancel_members_locked(GroupCore& core) noexcept {
    core.canceled = true;
    for (TaskHeader* m = core.members; m != nullptr; m = m->group_next) m->stop.request_stop();
}

}  // namespace

void group_link(GroupCore& core, TaskHeader& t) noexcept {
    t.group = &core;
    std::lock_guard lock(core.mutex);
    t.group_prev = nullptr;
    t.group_next = core.members;
    if (core.members != nullptr) core.members->group_prev = &t;
    core.members = &t;
    ++core.count;
    if (core.canceled) t.stop.request_stop();
}

void group_unlink_unstarted(GroupCore& core, TaskHeader& t) noexcept {
    {
        std::lock_guard lock(core.mutex);
        unlink_locked(core, t);
    }
    t.vtable->destroy(&t);
}

void group_request_cancel(GroupCore& core) noexcept {
    std::lock_guard lock(core.mutex);
    cancel_members_locked(core);
}

void group_member_finished(TaskHeader* t) noexcept {
    GroupCore& core = *t->group;
    Backend* backend = t->backend;
    Listener* waiter = nullptr;
    bool free_core = false;
    bool was_orphan = false;
    {
        std::lock_guard lock(core.mutex);
        if (const std::exception_ptr* e = t->vtable->exception(t);
            e != nullptr && !core.detached && !is_cancellation(*e)) {
            if (core.isolate) {
                // No memory to record it (a server under memory pressure) drops the error,
                // counted, instead of ending the process in this noexcept path.
                try {
                    core.errors.push_back(*e);
                } catch (const std::bad_alloc&) {
                    ++core.dropped_errors;
                }
            } else if (!core.first_error) {
                core.first_error = *e;
                cancel_members_locked(core);
            }
        }
        unlink_locked(core, *t);
        t->vtable->destroy(t);
        was_orphan = core.detached;
        if (core.count == 0) {
            waiter = std::exchange(core.waiter, nullptr);
            free_core = core.detached;
        }
    }
    // Before anyone who may then destroy the backend hears of it.
    backend->registry().note_finished();
    if (was_orphan) backend->registry().orphan_reaped();
    if (free_core) {
        delete &core;
        return;
    }
    if (waiter != nullptr) waiter->notify(waiter);
}

bool GroupWaitOperation::try_now() noexcept {
    std::lock_guard lock(core_->mutex);
    return core_->count == 0;
}

void GroupWaitOperation::arm() noexcept {
    bool done = false;
    {
        std::lock_guard lock(core_->mutex);
        if (core_->count == 0) {
            done = true;
        } else if (core_->waiter != nullptr) {
            misuse_ = true;
            done = true;
        } else {
            core_->waiter = &listener_;
        }
    }
    if (done) complete(Status::ok);
}

void GroupWaitOperation::take_result() const {
    if (misuse_)
        throw UsageError(std::errc::device_or_resource_busy,
                         "corio: a second waiter on a group that already has one");
}

}  // namespace detail

Group::Group(Io io, Policy policy) : io_(io), core_(new detail::GroupCore) {
    core_->backend = &io.backend();
    core_->isolate = policy == Policy::isolate;
    core_->backend->registry().add_group();
}

Group::~Group() {
    Backend& backend = *core_->backend;
    if (detail::thread_state().executor != nullptr) {
        // Inside a coroutine on a worker: waiting would block it. Cancel, and let the last
        // member free the core; the backend's destructor waits for these orphans.
        bool free_now = false;
        {
            std::lock_guard lock(core_->mutex);
            detail::cancel_members_locked(*core_);
            core_->detached = true;
            free_now = core_->count == 0;
            if (!free_now) backend.registry().orphan_group_members(core_->count);
        }
        if (free_now) delete core_;
    } else {
        request_cancel();
        detail::GroupWaitOperation(*core_).await();
        delete core_;
    }
    backend.registry().remove_group();
}

void Group::wait() { wait_plain("Group::wait (in a coroutine: co_await group)"); }

void Group::cancel() {
    request_cancel();
    wait_plain("Group::cancel (in a coroutine: co_await corio::cancel(group))");
}

void Group::wait_plain(const char* what) {
    if (detail::thread_state().executor != nullptr) detail::abort_blocking_in_coroutine(what);
    detail::GroupWaitOperation(*core_).await();
    rethrow_first_error();
}

void Group::request_cancel() noexcept { detail::group_request_cancel(*core_); }

std::size_t Group::dropped_errors() const noexcept {
    std::lock_guard lock(core_->mutex);
    return core_->dropped_errors;
}

std::vector<std::exception_ptr> Group::take_errors() {
    std::lock_guard lock(core_->mutex);
    return std::exchange(core_->errors, {});
}

std::size_t Group::size() const noexcept {
    std::lock_guard lock(core_->mutex);
    return core_->count;
}

void Group::rethrow_first_error() {
    std::exception_ptr e;
    {
        std::lock_guard lock(core_->mutex);
        e = std::exchange(core_->first_error, nullptr);
    }
    if (e) std::rethrow_exception(e);
}

}  // namespace corio
