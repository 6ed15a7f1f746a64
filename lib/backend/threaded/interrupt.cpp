// SPDX-License-Identifier: MIT
// The interrupt signal and the per-thread system call slots.
#include "backend/threaded/interrupt.hpp"
#include "core/internal.hpp"

#include <csignal>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

namespace corio::detail {

namespace {
CORIO_TLS thread_local SyscallSlot t_slot;
std::mutex g_handler_mutex;
bool g_installed[NSIG] = {};

void on_interrupt(int) {}
}  // namespace

int resolve_interrupt_signal(int requested) noexcept { return requested != 0 ? requested : SIGURG; }

void install_interrupt_handler(int requested) {
    const int signo = resolve_interrupt_signal(requested);
    std::lock_guard lock(g_handler_mutex);
    if (signo <= 0 || signo >= NSIG || g_installed[signo]) return;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = &on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the blocked call must return EINTR
    if (sigaction(signo, &sa, nullptr) != 0)
        throw std::system_error(errno, std::generic_category(),
                                "corio: cannot install the interrupt signal handler");
    g_installed[signo] = true;
}

SyscallSlot& this_thread_syscall_slot() noexcept { return t_slot; }

void interrupt_slot(SyscallSlot& slot) noexcept {
    int expected = SyscallSlot::in_call;
    if (!slot.state.compare_exchange_strong(expected, SyscallSlot::canceling,
                                            std::memory_order_acq_rel))
        return;
    if (pthread_equal(slot.thread, pthread_self())) return;  // checked before the next call
    // Re-send until the thread leaves the call: a signal that arrives before the call blocks
    // is lost, the next one interrupts it.
    unsigned delay_us = 20;
    while (slot.state.load(std::memory_order_acquire) == SyscallSlot::canceling) {
        pthread_kill(slot.thread, slot.signo);
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
        if (delay_us < 2000) delay_us *= 2;
    }
}

void IoInterrupt::lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) std::this_thread::yield();
}

void IoInterrupt::cancel() noexcept {
    lock();
    canceled_ = true;
    // Waits (with the lock held) until the thread left the call: it leaves the slot before it
    // takes the lock, and the slot stays valid meanwhile.
    if (slot_ != nullptr) interrupt_slot(*slot_);
    unlock();
}

void IoInterrupt::perform(IoRequest& r, int signo) noexcept {
    SyscallSlot& slot = this_thread_syscall_slot();
    slot.thread = pthread_self();
    slot.signo = signo;
    for (;;) {
        std::int64_t res = -ECANCELED;
        lock();
        if (canceled_) {
            unlock();
        } else {
            slot_ = &slot;
            slot.state.store(SyscallSlot::in_call, std::memory_order_seq_cst);
            unlock();
            for (;;) {
                if (slot.state.load(std::memory_order_acquire) == SyscallSlot::canceling) {
                    res = -ECANCELED;
                    break;
                }
                res = perform_call(r);
                if (res != -EINTR) break;
            }
            slot.state.store(SyscallSlot::idle, std::memory_order_release);
            lock();
            slot_ = nullptr;
            unlock();
        }
        if (r.call_done(res)) return;
    }
}

}  // namespace corio::detail
