// SPDX-License-Identifier: MIT
// A timer registration: lives in the awaitable that waits for it (a sleep, with_timeout).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace corio::detail {

struct TimerNode {
    using Fn = void (*)(TimerNode*) noexcept;
    explicit TimerNode(Fn f) noexcept : fire(f) {}
    std::chrono::steady_clock::time_point deadline{};
    Fn fire;                      // runs on the backend's timer context; must not block
    std::size_t heap_index = 0;   // backend's bookkeeping
    std::uint64_t sequence = 0;   // backend's bookkeeping (FIFO among equal deadlines in a
                                  // heap; a kernel timer's generation)
    void* owner = nullptr;        // backend's bookkeeping (which heap holds it)
    void* slot = nullptr;         // backend's bookkeeping (a kernel timer's, when not a heap's)
};

}  // namespace corio::detail
