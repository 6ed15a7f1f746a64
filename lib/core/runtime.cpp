// SPDX-License-Identifier: MIT
// Thread-local runtime state, task completion hand-off, and the abort for plain waits in
// coroutines.
#include "core/internal.hpp"
#include "core/registry.hpp"

#include <corio/backend.hpp>
#include <corio/detail/task_header.hpp>
#include <corio/error.hpp>
#include <corio/future.hpp>

#include <cstdio>
#include <cstdlib>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace corio::detail {

CORIO_TLS constinit thread_local ThreadState t_state;
CORIO_TLS constinit thread_local ThreadState* t_current = nullptr;

namespace {
CORIO_TLS thread_local ThreadParker t_parker;
CORIO_TLS thread_local TaskHeader t_root;
}  // namespace

void spin_pause(unsigned iteration) noexcept {
    if (iteration < 64) {
#if defined(__x86_64__) || defined(__i386__)
        _mm_pause();
#endif
    } else {
        std::this_thread::yield();
    }
}

ThreadParker& this_thread_parker() noexcept { return t_parker; }

ThreadState& thread_state() noexcept {
    if (ThreadState* s = t_current; s != nullptr) [[likely]]
        return *s;
    ThreadState& s = t_state;
    s.parker = &t_parker;
    s.task = &t_root;
    t_current = &s;
    return s;
}

TaskHeader& current_task() noexcept {
    return *thread_state().task;
}

stop_token current_wait_token() noexcept { return wait_token_of(current_task()); }

void abort_blocking_in_coroutine(const char* what) noexcept {
    TaskHeader& t = current_task();
    std::fprintf(stderr,
                 "corio: a plain wait (%s) was called inside a coroutine running on a worker, in "
                 "task %llu; it would block the worker. Use co_await in coroutines, or run the "
                 "waiting function with co_await io.async(fn, ...).\n",
                 what, static_cast<unsigned long long>(t.id));
    std::fflush(stderr);
    std::abort();
}

void Resumption::resume(Runnable* self) noexcept {
    auto* r = static_cast<Resumption*>(self);
    ThreadState& s = thread_state();
    TaskHeader* const task = s.task;
    Executor* const executor = s.executor;
    s.task = r->task;
    s.executor = r->executor;
    r->handle.resume();  // r may be gone from here on
    s.task = task;
    s.executor = executor;
}

void finish_task(TaskHeader* t) noexcept {
    if (t->group != nullptr &&
        (t->completion.load(std::memory_order_relaxed) & TaskHeader::inline_member_bit) == 0) {
        group_member_finished(t);
        return;
    }
    Backend* backend = t->backend;
    std::uint32_t prev = t->completion.load(std::memory_order_relaxed);
    if ((prev & TaskHeader::local_waiter_bit) != 0)  // its waiter runs on this thread
        t->completion.store(prev | TaskHeader::done_bit, std::memory_order_relaxed);
    else
        prev = t->completion.fetch_or(TaskHeader::done_bit, std::memory_order_acq_rel);
    // Before the waiter or the orphan reaper hears of it: after that the backend may go.
    TaskRegistry& registry = backend->registry();
    registry.note_finished();
    if ((prev & TaskHeader::detached_bit) != 0)
        registry.orphan_finished(*t);
    else if ((prev & TaskHeader::waiter_bit) != 0) {
        Listener* w = t->waiter.load(std::memory_order_acquire);
        w->notify(w);
    }
}

void run_task_here(TaskHeader* t) noexcept {
    ThreadState& s = thread_state();
    ThreadStateScope scope(t, s.parker, t->coroutine ? t->executor : nullptr);
    t->vtable->run(t);
}

void run_claimed(TaskHeader* t) noexcept {
    struct Forward {
        TaskHeader* task;
        void operator()() const noexcept { task->stop.request_stop(); }
    };
    stop_callback<Forward> forward(current_wait_token(), Forward{t});
    run_task_here(t);
}

bool run_if_unstarted(TaskHeader* t) noexcept {
    CORIO_TLS thread_local unsigned depth = 0;
    constexpr unsigned max_depth = 16;
    // Only a coroutine: a plain body may block, and would block the awaiter's worker.
    if (!t->coroutine || depth >= max_depth || !t->backend->try_claim(*t)) return false;
    ++depth;
    run_claimed(t);
    --depth;
    return true;
}

void drop_task(TaskHeader* t) noexcept {
    t->stop.request_stop();
    if (thread_state().executor != nullptr) {
        t->backend->registry().adopt_orphan(*t);
        return;
    }
    if (t->backend->try_claim(*t)) run_task_here(t);  // already cancelled
    FutureWaitOperation(t).await();  // forwards, never ends early: an implicit shield
    t->vtable->destroy(t);
}

void throw_moved_from_future() {
    throw UsageError(std::errc::invalid_argument,
                     "corio: await on a future with no task (default-constructed or moved-from)");
}

void throw_second_waiter() {
    throw UsageError(std::errc::device_or_resource_busy,
                     "corio: a second waiter on a future that already has one");
}

const char* to_string(WaitKind kind) noexcept {
    switch (kind) {
        case WaitKind::none: return "running";
        case WaitKind::sleep: return "sleep";
        case WaitKind::yield: return "yield";
        case WaitKind::future: return "future";
        case WaitKind::group: return "group";
        case WaitKind::select: return "select";
        case WaitKind::mutex: return "mutex";
        case WaitKind::condition: return "condition";
        case WaitKind::semaphore: return "semaphore";
        case WaitKind::event: return "event";
        case WaitKind::queue_put: return "queue put";
        case WaitKind::queue_get: return "queue get";
        case WaitKind::syscall: return "system call";
        case WaitKind::io: return "I/O";
    }
    return "?";
}

}  // namespace corio::detail
