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

    Options options;
    detail::Scheduler scheduler;
    // Listeners' multishot accepts.
    detail::AcceptQueues accept_queues;

    /// The driver of the worker of this backend the calling thread runs, or nullptr.
    [[nodiscard]] detail::UringDriver* current_driver() const noexcept {
        detail::Worker* w = scheduler.current_worker();
        return w != nullptr ? &static_cast<detail::UringDriver&>(w->driver()) : nullptr;
    }
};

}  // namespace corio
