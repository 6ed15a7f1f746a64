// SPDX-License-Identifier: MIT
// io.yield(): plain code asks the backend; a coroutine requeues itself on its executor.
#include "core/internal.hpp"
#include "scheduler/worker.hpp"

#include <corio/time.hpp>

namespace corio {

namespace detail {

// Called only from the thunk below (`used`: a link-time optimizer does not see asm references).
[[gnu::used]] void yield_await(YieldOperation& op) {
    ThreadState& ts = thread_state_fast();
    if (ts.executor != nullptr) abort_blocking_in_coroutine("yield");
    const TaskHeader& t = *ts.task;
    if (t.shield_depth == 0 && t.stop.stop_requested()) throw Canceled();
    // A fiber of a scheduler worker switches to the next ready fiber without asking its
    // backend (the hot path of a yield).
    if (Worker* w = Worker::current();
        w != nullptr && w->backend() == op.backend_ && w->running_fiber() != nullptr) {
        w->yield_fiber();
        return;
    }
    op.backend_->yield_plain();
}

}  // namespace detail

#if defined(__x86_64__) && defined(__ELF__) && !defined(__CET__)
// YieldOperation::await returns to its caller with an indirect jump, not a `ret`.
//
// A fiber that yields lands in the middle of the yield of the fiber it switched to, and the
// CPU predicts each `ret` from its return-stack buffer, which holds the calls the *other*
// fiber made. Inside corio both fibers took the same path, so those returns are predicted;
// the last one, into the caller, is not when the two fibers yield from different functions
// (a mispredicted return costs about 10 ns here, as much as the switch itself). An indirect
// jump is predicted from the path that led to it, which tells the two fibers apart.
//
// The thunk calls the body with the stack aligned as at any call, then pops the caller's
// return address and jumps to it. Its CFI describes the frame, so exceptions from the body
// (Canceled) unwind through it.
//
// Shadow stacks: the `__CET__` guard leaves the thunk out of builds with -fcf-protection; a
// library forced to be marked shadow-stack capable (-z shstk) without it would break here.
asm(R"(
    .pushsection .text
    .globl _ZN5corio14YieldOperation5awaitEv
    .type _ZN5corio14YieldOperation5awaitEv, @function
    .p2align 4
_ZN5corio14YieldOperation5awaitEv:
    .cfi_startproc
    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    call _ZN5corio6detail11yield_awaitERNS_14YieldOperationE
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rcx
    jmp *%rcx
    .cfi_endproc
    .size _ZN5corio14YieldOperation5awaitEv, .-_ZN5corio14YieldOperation5awaitEv
    .popsection
)");
#else
void YieldOperation::await() { detail::yield_await(*this); }
#endif

bool YieldOperation::await_ready() {
    canceled_ = detail::current_wait_token().stop_requested();
    return canceled_;
}

void YieldOperation::await_suspend(std::coroutine_handle<> h) noexcept {
    detail::ThreadState& ts = detail::thread_state();
    resumption_.handle = h;
    resumption_.task = ts.task;
    resumption_.executor = ts.executor;
    backend_->yield_coroutine(resumption_);
}

void YieldOperation::await_resume() const {
    if (canceled_) throw Canceled();
}

}  // namespace corio
