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

/// The guard of the fiber running on the calling thread, or nullptr: called by the fault
/// handler, so async-signal-safe (it reads the thread's own variables).
using RunningGuard = const GuardInfo* (*)() noexcept;

/// Installs the SIGSEGV/SIGBUS handler once per process, which asks `running` what runs on
/// the faulting thread; faults that are not guard-page hits go to the handler installed before
/// it (ASan's, in the ASan build), or to the default action.
void install_guard_handler(RunningGuard running) noexcept;

/// An alternate signal stack for a thread that runs fibers (the handler cannot run on the
/// stack that overflowed). It is mapped by whoever creates the worker, before the worker's
/// thread starts, so a starting thread needs no memory of its own for it; it is installed on a
/// thread while the worker runs there.
class AlternateStack {
  public:
    /// Throws std::system_error when the memory cannot be mapped.
    AlternateStack();
    ~AlternateStack();
    AlternateStack(const AlternateStack&) = delete;
    AlternateStack& operator=(const AlternateStack&) = delete;

    /// Makes it the calling thread's signal stack, unless the thread has one already (ASan
    /// gives some threads their own).
    void install() noexcept;
    /// Takes it off the calling thread, if `install` put it there.
    void uninstall() noexcept;

  private:
    void* base_ = nullptr;
    std::size_t size_ = 0;
    bool installed_ = false;
};

}  // namespace corio::detail
