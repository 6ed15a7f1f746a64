// SPDX-License-Identifier: MIT
// Guard-page hits: a fiber that overflows its stack stops the process with a message naming
// the overflow, the task and the stack size, instead of a bare SIGSEGV.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include <cstddef>
#include <cstdint>

namespace corio::detail {

/// What the handler needs to know of the fiber running on a thread.
struct GuardInfo {
    const char* guard_low = nullptr;   // the guard page: [guard_low, guard_high)
    const char* guard_high = nullptr;
    std::uint64_t task_id = 0;
    std::size_t stack_size = 0;
};

/// Installs the SIGSEGV/SIGBUS handler once per process; faults that are not guard-page hits go
/// to the handler installed before it (ASan's, in the ASan build), or to the default action.
void install_guard_handler() noexcept;

/// Gives the calling thread an alternate signal stack (the handler cannot run on the stack
/// that overflowed); freed when the thread exits.
void ensure_alternate_signal_stack() noexcept;

/// What runs on this thread now (nullptr: no fiber), for the fault handler.
extern constinit thread_local const GuardInfo* t_running_guard [[gnu::tls_model("initial-exec")]];

/// Sets what runs on this thread now (nullptr: no fiber). Called at every fiber switch.
inline void set_running_guard(const GuardInfo* info) noexcept { t_running_guard = info; }

}  // namespace corio::detail
