// SPDX-License-Identifier: MIT
// Execution contexts on Boost.Context's fcontext layer, with the switches annotated for ASan
// and TSan exactly at the jump.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "fiber/stack.hpp"

#include <cstddef>

namespace corio::detail {

/// A context: a thread's own stack, or a fiber's. Owner-thread only.
struct Context {
    using Entry = void (*)(Context* self, Context* from) noexcept;

    void* fctx = nullptr;              // saved registers while it does not run
    const void* stack_bottom = nullptr;  // the stack it runs on (ASan)
    std::size_t stack_size = 0;
    void* asan_fake_stack = nullptr;
    void* tsan_fiber = nullptr;
    Entry entry = nullptr;             // a fiber's body, run by its first switch
    void* owner = nullptr;             // what the context belongs to (a fiber)
};

/// Describes the calling thread's own stack (call once on the thread, before switching).
void init_thread_context(Context& ctx) noexcept;

/// Prepares `ctx` to run `entry(ctx, from)` on `stack` at its first switch. The body must
/// never return: it ends with `exit_to`.
void make_context(Context& ctx, const Stack& stack, Context::Entry entry) noexcept;

/// Switches from `self` (running now) to `to`. Returns when some context switches back to
/// `self`, and says which one did (its registers are saved in it already).
Context* switch_context(Context& self, Context& to) noexcept;

/// Switches from `self` to `to` for good: `self` has ended and its stack may be reused by the
/// context that lands.
[[noreturn]] void exit_to(Context& self, Context& to) noexcept;

}  // namespace corio::detail
