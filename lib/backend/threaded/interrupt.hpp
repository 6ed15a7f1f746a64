// SPDX-License-Identifier: MIT
// Interruptible blocking system calls for thread-based backends.
//
// A thread inside a corio system call publishes that in its per-thread slot. A cancel request
// (a stop callback on the task's token) marks the slot and sends the backend's interrupt signal
// to that thread, re-sending until the thread acknowledges: a signal that lands just before the
// call blocks is lost, the next one interrupts it. The handler does nothing and is installed
// without SA_RESTART, so the call returns EINTR. The signal is sent only while the thread is
// inside such a call, never at other times.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include <corio/backend.hpp>
#include <corio/cancel.hpp>
#include <corio/detail/io_request.hpp>
#include <corio/detail/runtime.hpp>
#include <corio/detail/task_header.hpp>
#include <corio/error.hpp>

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <utility>

namespace corio::detail {

int resolve_interrupt_signal(int requested) noexcept;
void install_interrupt_handler(int signo);

/// The calling thread's slot.
struct SyscallSlot {
    static constexpr int idle = 0;
    static constexpr int in_call = 1;
    static constexpr int canceling = 2;

    pthread_t thread{};
    int signo = 0;
    std::atomic<int> state{idle};
};

SyscallSlot& this_thread_syscall_slot() noexcept;

/// The stop callback: interrupts the slot's thread until it acknowledges.
void interrupt_slot(SyscallSlot& slot) noexcept;

/// Runs `call` (returns -1 and sets errno on failure, like a system call) on the calling thread;
/// if the current task is cancelled meanwhile, the call is interrupted. Returns the call's
/// result when it completed (data that was read is never dropped), throws Canceled when it was
/// interrupted or cancellation was requested before it started, and retries on EINTR otherwise.
template <class F>
auto interruptible_syscall(Backend& backend, F&& call) -> decltype(call()) {
    stop_token token = current_wait_token();
    if (token.stop_requested()) throw Canceled();
    SyscallSlot& slot = this_thread_syscall_slot();
    slot.thread = pthread_self();
    slot.signo = backend.interrupt_signal();
    TaskHeader& task = current_task();
    task.set_waiting({WaitKind::syscall, -1, {}});
    struct Interrupt {
        SyscallSlot* slot;
        void operator()() const noexcept { interrupt_slot(*slot); }
    };
    slot.state.store(SyscallSlot::in_call, std::memory_order_seq_cst);
    decltype(call()) result{};
    bool canceled = false;
    {
        stop_callback<Interrupt> cb(token, Interrupt{&slot});
        for (;;) {
            if (slot.state.load(std::memory_order_acquire) == SyscallSlot::canceling) {
                canceled = true;
                break;
            }
            result = call();
            if (result == -1 && errno == EINTR) continue;
            break;
        }
        slot.state.store(SyscallSlot::idle, std::memory_order_release);
    }
    task.clear_waiting();
    if (canceled) throw Canceled();
    return result;
}

/// The cancellation of an I/O request performed on a thread: `cancel` (from any thread)
/// interrupts the call in progress, or the next one before it starts.
class IoInterrupt {
  public:
    void cancel() noexcept;

    /// Performs every call of `r` on the calling thread (retrying on EINTR), each interruptible
    /// through `cancel` with signal `signo`. A call that completed keeps its result even when
    /// the cancel came meanwhile; the calls after it then end with -ECANCELED.
    void perform(IoRequest& r, int signo) noexcept;

  private:
    void lock() noexcept;
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

    std::atomic<bool> locked_{false};
    SyscallSlot* slot_ = nullptr;  // under the lock: the thread in a call now
    bool canceled_ = false;        // under the lock
};

}  // namespace corio::detail
