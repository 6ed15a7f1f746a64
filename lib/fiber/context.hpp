// SPDX-License-Identifier: MIT
// Execution contexts on Boost.Context's fcontext layer, with the switches annotated for ASan
// and TSan exactly at the jump.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "fiber/sanitizers.hpp"
#include "fiber/stack.hpp"

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>

#if defined(__x86_64__) && defined(__linux__)
#define CORIO_JUMP_WITHOUT_CALL 1
// Without sanitizers a switch is inlined where it is made (no call, no frame of its own);
// with them it stays out of line, in a function TSan does not instrument. Not with APX, whose
// sixteen more general registers jump_fcontext does not save and the clobbers below omit.
#if !defined(CORIO_ASAN) && !defined(CORIO_TSAN) && !defined(__APX_F__)
#define CORIO_INLINE_SWITCH 1
#endif
#endif

namespace corio::detail {

/// A context: a thread's own stack, or a fiber's. Owner-thread only.
struct Context {
    /// A fiber's body; it returns the context to switch to when it has run.
    using Entry = Context* (*)(Context* self, Context* from) noexcept;

    void* fctx = nullptr;              // saved registers while it does not run
    const void* stack_bottom = nullptr;  // the stack it runs on (ASan)
    std::size_t stack_size = 0;
    void* asan_fake_stack = nullptr;
    void* tsan_fiber = nullptr;
    Entry entry = nullptr;             // a fiber's body, run by its first switch
    void* owner = nullptr;             // what the context belongs to (a fiber)
    Context* jump_to = nullptr;        // where its last switch went (read by a fresh fiber)
};

/// Describes the calling thread's own stack (call once on the thread, before switching).
void init_thread_context(Context& ctx) noexcept;

/// Prepares `ctx` to run `entry(ctx, from)` on `stack` at its first switch. When the entry
/// returns a context, the fiber switches there and is suspended between two runs of its body:
/// the next switch to `ctx` runs `entry` again (a fiber reused without remaking its context),
/// or `make_context` may prepare the stack afresh (nothing on it needs unwinding).
///
/// That switch is made by the first frame of the fiber, which was entered by a jump: every call
/// the fiber made has returned by then, so the context that lands finds the CPU's return
/// predictions as it left them.
void make_context(Context& ctx, const Stack& stack, Context::Entry entry) noexcept;

// A jump carries the context that jumped: the one that lands stores the registers it saved
// (`fctx`) there. A fiber entered for the first time finds itself in the jumper's `jump_to`.

#ifdef CORIO_JUMP_WITHOUT_CALL
/// jump_fcontext(to, data), entered without a `call`.
///
/// jump_fcontext resumes the other context with an indirect jmp, not a ret, so a `call` into
/// it leaves a return-stack-buffer entry that is never popped: every return the resumed
/// context makes after landing is then mispredicted (about 20 cycles each, four per yield on
/// corio's path). Pushing the return address and jumping keeps the buffer as the suspended
/// context left it; two fibers that switch on the same path then find their own returns in it.
/// The jump goes through the GOT, not the PLT: one indirect jump instead of a jump to a stub
/// that jumps again.
inline boost::context::detail::transfer_t jump(boost::context::detail::fcontext_t to,
                                               void* data) noexcept {
    register void* fctx asm("rdi") = to;
    register void* arg asm("rsi") = data;
    register void* from_fctx asm("rax");
    register void* from_data asm("rdx");
    // The red zone of this function is stepped over: the pushed address must not land in it.
    // What jump_fcontext preserves is what the landing context saved: rbx, rbp, r12-r15, the
    // MXCSR and the x87 control word; everything else is clobbered.
    asm volatile(
        "lea -128(%%rsp), %%rsp\n\t"
        "lea 1f(%%rip), %%rax\n\t"
        "push %%rax\n\t"
        "jmp *jump_fcontext@GOTPCREL(%%rip)\n\t"
        "1:\n\t"
        "lea 128(%%rsp), %%rsp\n\t"
        : "=a"(from_fctx), "=d"(from_data), "+D"(fctx), "+S"(arg)
        :
        : "rcx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3",
          "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
          "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)"
#ifdef __AVX512F__
          // Built for AVX-512: the compiler may keep values in these across an inlined switch.
          , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
          "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1", "k2", "k3", "k4",
          "k5", "k6", "k7"
#endif
    );
    return boost::context::detail::transfer_t{from_fctx, from_data};
}
#else
inline boost::context::detail::transfer_t jump(boost::context::detail::fcontext_t to,
                                               void* data) noexcept {
    return boost::context::detail::jump_fcontext(to, data);
}
#endif

#ifdef CORIO_INLINE_SWITCH
/// Switches from `self` (running now) to `to`. Returns when some context switches back to
/// `self`, and says which one did (its registers are saved in it already).
inline Context* switch_context(Context& self, Context& to) noexcept {
    self.jump_to = &to;
    const boost::context::detail::transfer_t t = jump(to.fctx, &self);
    auto* from = static_cast<Context*>(t.data);
    from->fctx = t.fctx;
    return from;
}
#else
/// Switches from `self` (running now) to `to`. Returns when some context switches back to
/// `self`, and says which one did (its registers are saved in it already).
Context* switch_context(Context& self, Context& to) noexcept;
#endif

}  // namespace corio::detail
