// SPDX-License-Identifier: MIT
// Context switches on jump_fcontext. The sanitizer annotations sit right before the jump, in
// functions TSan does not instrument (see docs/architecture.md, "Fibers"): instrumented frames
// between `__tsan_switch_to_fiber` and the jump unbalance TSan's shadow stacks.
#include "fiber/sanitizers.hpp"
#include "fiber/context.hpp"

#include <boost/context/detail/fcontext.hpp>

#include <pthread.h>



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

/// The first code a fiber runs: its body, then a switch to where the body says, again at every
/// resumption.
CORIO_SWITCH_FN void trampoline(bc::transfer_t t) noexcept {
#ifdef CORIO_ASAN
    __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
    Context* from = static_cast<Context*>(t.data);
    Context* self = from->jump_to;
    from->fctx = t.fctx;
    for (;;) from = switch_context(*self, *self->entry(self, from));
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

#ifndef CORIO_INLINE_SWITCH
CORIO_SWITCH_FN Context* switch_context(Context& self, Context& to) noexcept {
    self.jump_to = &to;
#ifdef CORIO_ASAN
    __sanitizer_start_switch_fiber(&self.asan_fake_stack, to.stack_bottom, to.stack_size);
#endif
#ifdef CORIO_TSAN
    __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
    const bc::transfer_t t = jump(to.fctx, &self);
#ifdef CORIO_ASAN
    __sanitizer_finish_switch_fiber(self.asan_fake_stack, nullptr, nullptr);
#endif
    auto* from = static_cast<Context*>(t.data);
    from->fctx = t.fctx;
    return from;
}
#endif


}  // namespace corio::detail
