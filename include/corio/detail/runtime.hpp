// SPDX-License-Identifier: MIT
// The per-thread runtime state and the two ways a waiter is resumed: a parked plain context
// (thread, simulated thread, later a fiber) is unparked; a suspended coroutine is posted to the
// executor that owns it.
#pragma once

#include <corio/export.hpp>

#include <coroutine>
#include <cstdint>

namespace corio::detail {

struct TaskHeader;
class RoutedWaits;

/// An intrusive unit of work queued on an executor: a task to start or a coroutine to resume.
/// Never allocated per enqueue: it lives in the task header or in the awaitable.
struct Runnable {
    using Fn = void (*)(Runnable*) noexcept;
    explicit Runnable(Fn fn = nullptr) noexcept : run(fn) {}
    Fn run;
    Runnable* next = nullptr;
    Runnable* prev = nullptr;  // only queues that remove from the middle use it
};

/// Runs coroutine resumptions: a Threaded pool, a thread's local loop, the simulator.
class Executor {
  public:
    /// Queues `r`; callable from any thread. Never runs `r` inline.
    virtual void post(Runnable* r) noexcept = 0;

  protected:
    ~Executor() = default;
};

/// A plain context that can block: a thread, a simulated thread (later a fiber).
/// `unpark` gives one permit, `park` takes one (waiting for it); callers re-check their own
/// condition after `park` returns.
class Parker {
  public:
    virtual void park() noexcept = 0;
    virtual void unpark() noexcept = 0;
    /// As park and unpark, for a waiter whose one waker runs on its own thread (a fiber waiting
    /// for a ring operation of its worker): a fiber needs no atomic permit then.
    virtual void park_local() noexcept { park(); }
    virtual void unpark_local() noexcept { unpark(); }

  protected:
    ~Parker() = default;
};

/// What a thread is running now. Read through `thread_state()`, an out-of-line call, so a
/// coroutine that moved between threads never reads a cached thread-local address.
struct ThreadState {
    TaskHeader* task = nullptr;      // the current task (the thread's root task when none)
    Parker* parker = nullptr;        // how plain code on this thread blocks
    Executor* executor = nullptr;    // set while a coroutine runs: plain waits are forbidden
    RoutedWaits* routed = nullptr;   // on a scheduler worker: its routed waits (see StopRouter)
};

CORIO_EXPORT ThreadState& thread_state() noexcept;

/// The current task: the running task, or this thread's root task outside any task.
CORIO_EXPORT TaskHeader& current_task() noexcept;

/// Aborts with a message naming the current task: a plain wait was attempted while a coroutine
/// runs on a worker, which would block that worker.
[[noreturn]] CORIO_EXPORT void abort_blocking_in_coroutine(const char* what) noexcept;

/// A coroutine resumption: the handle, the task it belongs to and the executor that owns it.
struct Resumption : Runnable {
    Resumption() noexcept : Runnable(&resume) {}
    std::coroutine_handle<> handle;
    TaskHeader* task = nullptr;
    Executor* executor = nullptr;

    CORIO_EXPORT static void resume(Runnable* self) noexcept;
};

/// How to resume whoever waits on an operation.
struct Waker {
    Parker* parker = nullptr;
    Resumption* resumption = nullptr;  // lives in the awaitable; set for coroutines

    void wake() const noexcept {
        if (resumption != nullptr)
            resumption->executor->post(resumption);
        else
            parker->unpark();
    }
    /// The same, from the waiter's own thread, for a waiter parked with park_local.
    void wake_local() const noexcept {
        if (resumption != nullptr)
            resumption->executor->post(resumption);
        else
            parker->unpark_local();
    }
};

/// Sets the thread's state for a scope and restores it after (not `routed`, which belongs to
/// the thread: its worker may have been bound or unbound meanwhile).
class ThreadStateScope {
  public:
    ThreadStateScope(TaskHeader* task, Parker* parker, Executor* executor) noexcept
        : state_(thread_state()), saved_(state_) {
        state_.task = task;
        state_.parker = parker;
        state_.executor = executor;
    }
    ThreadStateScope(const ThreadStateScope&) = delete;
    ThreadStateScope& operator=(const ThreadStateScope&) = delete;
    ~ThreadStateScope() {
        state_.task = saved_.task;
        state_.parker = saved_.parker;
        state_.executor = saved_.executor;
    }

  private:
    ThreadState& state_;
    ThreadState saved_;
};

}  // namespace corio::detail
