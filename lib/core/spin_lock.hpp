// SPDX-License-Identifier: MIT
// The library's one spin lock.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "core/internal.hpp"

#include <atomic>

namespace corio::detail {

/// The lock of critical sections of a few instructions on hot paths (the queues of tasks not
/// started, the shards of the task registry): one atomic exchange to take it when free; while
/// it is held, pauses, then yields of the thread (its holder may have been preempted).
class SpinLock {
  public:
    void lock() noexcept {
        for (unsigned spins = 0;;) {
            if (!locked_.exchange(true, std::memory_order_acquire)) return;
            while (locked_.load(std::memory_order_relaxed)) spin_pause(spins++);
        }
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

  private:
    std::atomic<bool> locked_{false};
};

}  // namespace corio::detail
