// SPDX-License-Identifier: MIT
// Fiber stacks: mmap'd, a guard page below each (optional). Reuse is the FiberPool's.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "fiber/sanitizers.hpp"

#include <cstddef>

namespace corio::detail {

/// True in a build with AddressSanitizer (stacks are then 4x larger by default: ASan's
/// redzones and fake frames grow every frame).
#ifdef CORIO_ASAN
inline constexpr bool asan_build = true;
#else
inline constexpr bool asan_build = false;
#endif

/// One mapped stack. The usable range is [bottom(), top()); the guard page, when there is
/// one, is [base, bottom()).
struct Stack {
    char* base = nullptr;
    std::size_t mapped = 0;
    char* low = nullptr;  // bottom(): above the guard page (read at every fiber start)
    bool guarded = false;
    void* tsan_fiber = nullptr;  // TSan's fiber handle, pooled with the stack

    [[nodiscard]] char* top() const noexcept { return base + mapped; }
    [[nodiscard]] char* bottom() const noexcept { return low; }
    [[nodiscard]] std::size_t usable() const noexcept {
        return static_cast<std::size_t>(top() - bottom());
    }
    explicit operator bool() const noexcept { return base != nullptr; }
};

/// The system page size.
std::size_t page_size() noexcept;

/// Maps a stack of `size` usable bytes (a multiple of the page size), with a guard page below
/// it when `guard`. Throws std::system_error with a message that names the limit when the
/// kernel refuses the mapping (vm.max_map_count, memory).
Stack map_stack(std::size_t size, bool guard);
void unmap_stack(Stack& s) noexcept;
/// Clears what ASan remembers of the frames on `s` (frames a fiber left by switching away
/// never returned); call before the stack is reused or unmapped.
void forget_stack_frames(Stack& s) noexcept;
/// Stacks mapped in the process, guarded or not.
std::size_t mapped_stacks() noexcept;

}  // namespace corio::detail
