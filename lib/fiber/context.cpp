// SPDX-License-Identifier: MIT
// Context switches on jump_fcontext. The sanitizer annotations sit right before the jump, in
// functions TSan does not instrument (see docs/architecture.md, "Fibers"): instrumented frames
// between `__tsan_switch_to_fiber` and the jump unbalance TSan's shadow stacks.
#include "fiber/sanitizers.hpp"
#include "fiber/context.hpp"

#include <boost/context/detail/fcontext.hpp>

#include <pthread.h>

#include <cstdio>
#include <cstdlib>


#ifdef CORIO_ASAN
extern "C" {
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, std::size_t size);
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old,
                                     std::size_t* size_old);
}
#endif
#ifdef CORIO_TSAN
extern "C" {
void* __tsan_get_current_fiber(void);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
}
#endif

#define CORIO_SWITCH_FN [[gnu::noinline]] __attribute__((no_sanitize("thread")))

namespace corio::detail {

namespace bc = boost::context::detail;

namespace {

/// jump_fcontext(to, data), entered without a `call`.
///
/// jump_fcontext resumes the other context with an indirect jmp, not a ret, so a `call` into
/// it leaves a return-stack-buffer entry that is never popped: every return the resumed
/// context makes after landing is then mispredicted (about 20 cycles each, four per yield on
/// corio's path). Pushing the return address and jumping keeps the buffer as the suspended
/// context left it; two fibers that switch on the same path then find their own returns in it.
inline bc::transfer_t jump(bc::fcontext_t to, void* data) noexcept {
#if defined(__x86_64__) && defined(__linux__)
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
        "jmp jump_fcontext@PLT\n\t"
        "1:\n\t"
        "lea 128(%%rsp), %%rsp\n\t"
        : "=a"(from_fctx), "=d"(from_data), "+D"(fctx), "+S"(arg)
        :
        : "rcx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3",
          "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
          "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
    return bc::transfer_t{from_fctx, from_data};
#else
    return bc::jump_fcontext(to, data);
#endif
}

/// What a jump carries: who jumped and where to.
struct Switch {
    Context* from;
    Context* to;
};

/// The first code a fiber runs.
CORIO_SWITCH_FN void trampoline(bc::transfer_t t) noexcept {
#ifdef CORIO_ASAN
    __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
    auto* sw = static_cast<Switch*>(t.data);
    Context* from = sw->from;
    Context* self = sw->to;
    from->fctx = t.fctx;
    self->entry(self, from);
    std::fputs("corio: a fiber body returned instead of switching away\n", stderr);
    std::abort();
}

}  // namespace

void init_thread_context(Context& ctx) noexcept {
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void* addr = nullptr;
        std::size_t size = 0;
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            ctx.stack_bottom = addr;
            ctx.stack_size = size;
        }
        pthread_attr_destroy(&attr);
    }
#ifdef CORIO_TSAN
    ctx.tsan_fiber = __tsan_get_current_fiber();
#endif
}

void make_context(Context& ctx, const Stack& stack, Context::Entry entry) noexcept {
    ctx.fctx = bc::make_fcontext(stack.top(), stack.usable(), &trampoline);
    ctx.stack_bottom = stack.bottom();
    ctx.stack_size = stack.usable();
    ctx.asan_fake_stack = nullptr;
    ctx.tsan_fiber = stack.tsan_fiber;
    ctx.entry = entry;
}

CORIO_SWITCH_FN Context* switch_context(Context& self, Context& to) noexcept {
    Switch sw{&self, &to};
#ifdef CORIO_ASAN
    __sanitizer_start_switch_fiber(&self.asan_fake_stack, to.stack_bottom, to.stack_size);
#endif
#ifdef CORIO_TSAN
    __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
    const bc::transfer_t t = jump(to.fctx, &sw);
#ifdef CORIO_ASAN
    __sanitizer_finish_switch_fiber(self.asan_fake_stack, nullptr, nullptr);
#endif
    auto* back = static_cast<Switch*>(t.data);
    back->from->fctx = t.fctx;
    return back->from;
}

CORIO_SWITCH_FN void exit_to(Context& self, Context& to) noexcept {
    Switch sw{&self, &to};
#ifdef CORIO_ASAN
    __sanitizer_start_switch_fiber(nullptr, to.stack_bottom, to.stack_size);
#endif
#ifdef CORIO_TSAN
    __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
    jump(to.fctx, &sw);
    __builtin_unreachable();
}

}  // namespace corio::detail
