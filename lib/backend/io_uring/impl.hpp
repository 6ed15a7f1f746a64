// SPDX-License-Identifier: MIT
// The state of an IoUring backend (its pimpl): the scheduler, whose workers' drivers are
// rings, and the listeners' accept queues; shared by the files that implement it.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "backend/io_uring/accept_queue.hpp"
#include "backend/io_uring/uring_driver.hpp"
#include "scheduler/scheduler.hpp"

#include <corio/io_uring.hpp>

namespace corio {

struct IoUring::Impl final {
    Impl(IoUring& owner, const Options& o);

    IoUring& self;
    Options options;
    detail::Scheduler scheduler;
    // Listeners' multishot accepts.
    detail::AcceptQueues accept_queues;

    /// The driver of the worker of this backend the calling thread runs, or nullptr.
    [[nodiscard]] detail::UringDriver* current_driver() const noexcept {
        detail::Worker* w = scheduler.current_worker();
        return w != nullptr ? &static_cast<detail::UringDriver&>(w->driver()) : nullptr;
    }
    /// The driver that prepares a submission from the calling thread (Scheduler's
    /// submission_worker).
    detail::UringDriver& submission_driver() {
        return static_cast<detail::UringDriver&>(scheduler.submission_worker().driver());
    }
};

}  // namespace corio
