// SPDX-License-Identifier: MIT
// Fiber stacks: mmap'd, a guard page below each (optional), pooled per worker.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "fiber/sanitizers.hpp"

#include <cstddef>
#include <vector>

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
    bool guarded = false;
    void* tsan_fiber = nullptr;  // TSan's fiber handle, pooled with the stack

    [[nodiscard]] char* top() const noexcept { return base + mapped; }
    [[nodiscard]] char* bottom() const noexcept;
    [[nodiscard]] std::size_t usable() const noexcept {
        return static_cast<std::size_t>(top() - bottom());
    }
    explicit operator bool() const noexcept { return base != nullptr; }
};

/// The system page size.
std::size_t page_size() noexcept;

/// A stack cache owned by one worker (so no lock): released stacks of the same size are
/// reused; at most `max_cached` wait in the cache.
class StackPool {
  public:
    StackPool(bool guard_pages, std::size_t max_cached) noexcept
        : guard_(guard_pages), max_cached_(max_cached) {}
    StackPool(const StackPool&) = delete;
    StackPool& operator=(const StackPool&) = delete;
    ~StackPool();

    /// A stack with at least `size` usable bytes. Throws std::system_error with a message
    /// that names the limit when the kernel refuses the mapping (vm.max_map_count, memory).
    Stack allocate(std::size_t size);
    void release(Stack s) noexcept;

    /// Stacks mapped by every pool in the process, guarded or not.
    static std::size_t mapped_stacks() noexcept;

    /// Maps a stack of `size` usable bytes (a multiple of the page size); throws as allocate.
    static Stack map(std::size_t size, bool guard);
    static void unmap(Stack& s) noexcept;
    /// Clears what ASan remembers of the frames on `s` (frames a fiber left by switching away
    /// never returned); call before the stack is reused or unmapped.
    static void forget_frames(Stack& s) noexcept;

  private:

    bool guard_;
    std::size_t max_cached_;
    std::vector<Stack> cache_;
};

}  // namespace corio::detail
