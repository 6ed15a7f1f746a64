// SPDX-License-Identifier: MIT
// The guard-page fault handler and the alternate signal stacks it runs on.
#include "fiber/guard.hpp"

#include "fiber/stack.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>

namespace corio::detail {

namespace {

std::atomic<RunningGuard> g_running{nullptr};

struct sigaction g_previous_segv;
struct sigaction g_previous_bus;

/// Async-signal-safe output.
void put(const char* s) noexcept {
    std::size_t n = std::strlen(s);
    while (n > 0) {
        const ssize_t w = ::write(STDERR_FILENO, s, n);
        if (w <= 0) return;
        s += w;
        n -= static_cast<std::size_t>(w);
    }
}
void put_number(std::uint64_t v, unsigned base = 10) noexcept {
    char buf[32];
    char* p = buf + sizeof buf;
    *--p = '\0';
    do {
        const unsigned d = static_cast<unsigned>(v % base);
        *--p = static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v != 0);
    if (base == 16) {
        *--p = 'x';
        *--p = '0';
    }
    put(p);
}

void chain(int sig, siginfo_t* info, void* uctx) noexcept {
    const struct sigaction& prev = sig == SIGBUS ? g_previous_bus : g_previous_segv;
    if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
        prev.sa_sigaction(sig, info, uctx);
        return;
    }
    if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler != nullptr) {
        prev.sa_handler(sig);
        return;
    }
    // Default action: restore it and return; the faulting instruction faults again.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(sig, &dfl, nullptr);
}

void on_fault(int sig, siginfo_t* info, void* uctx) noexcept {
    const RunningGuard running = g_running.load(std::memory_order_relaxed);
    const GuardInfo* g = running != nullptr ? running() : nullptr;
    const char* addr = static_cast<const char*>(info->si_addr);
    // A frame larger than a page may jump past the guard page: count a few pages below it too.
    const std::size_t slack = 16 * page_size();
    if (g != nullptr && addr + slack >= g->guard_low && addr < g->guard_high) {
        put("corio: fiber stack overflow in task ");
        put_number(g->task_id);
        put(": its stack is ");
        put_number(g->stack_size);
        put(" bytes (fault at ");
        put_number(reinterpret_cast<std::uintptr_t>(addr), 16);
        put(", guard page at ");
        put_number(reinterpret_cast<std::uintptr_t>(g->guard_low), 16);
        put("). Give it a larger stack: IoUring::Options::stack_size, or a per-call "
            "SpawnOptions{.stack_size = ...}.\n");
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        ::sigaction(SIGABRT, &dfl, nullptr);
        ::abort();
    }
    chain(sig, info, uctx);
}

}  // namespace

void install_guard_handler(RunningGuard running) noexcept {
    static std::once_flag once;
    std::call_once(once, [running] {
        g_running.store(running, std::memory_order_relaxed);
        struct sigaction sa {};
        sa.sa_sigaction = &on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGSEGV, &sa, &g_previous_segv);
        ::sigaction(SIGBUS, &sa, &g_previous_bus);
    });
}

AlternateStack::AlternateStack() : size_(64 * 1024 + static_cast<std::size_t>(SIGSTKSZ)) {
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw std::system_error(errno, std::generic_category(),
                                "corio: cannot map a worker's alternate signal stack");
    base_ = p;
}

AlternateStack::~AlternateStack() { ::munmap(base_, size_); }

void AlternateStack::install() noexcept {
    if (installed_) return;
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0)
        return;  // the thread has one already
    stack_t ss{};
    ss.ss_sp = base_;
    ss.ss_size = size_;
    installed_ = ::sigaltstack(&ss, nullptr) == 0;  // else an overflow is a plain SIGSEGV
}

void AlternateStack::uninstall() noexcept {
    if (!installed_) return;
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    ::sigaltstack(&off, nullptr);
    installed_ = false;
}

}  // namespace corio::detail
