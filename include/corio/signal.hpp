// SPDX-License-Identifier: MIT
// Signals as awaitable events: block them once at the top of main, then wait for them with
// `io.wait_signal({SIGINT, SIGTERM})` (a signalfd on Linux), as a server's graceful shutdown.
#pragma once

#include <corio/detail/io_request.hpp>
#include <corio/export.hpp>
#include <corio/io.hpp>

#include <sys/signalfd.h>

#include <csignal>
#include <initializer_list>

namespace corio {

/// Blocks `signals` in the calling thread, and so in every thread it starts afterwards: call it
/// at the top of `main`, before anything starts a thread (a backend's workers or pool, a
/// std::thread), so that no thread is left where the signal's default action would run.
/// A signal that arrives while blocked stays pending until `io.wait_signal` takes it.
/// Throws UsageError for a signal that cannot be blocked (SIGKILL, SIGSTOP, out of range).
CORIO_EXPORT void block_signals(std::initializer_list<int> signals);

namespace detail {

/// `io.wait_signal`: reads one of the signals from a signalfd of its own. A signal that is not
/// blocked in the calling thread fails at once with UsageError.
class [[nodiscard]] CORIO_EXPORT SignalWaitOperation final
    : public IoOperation<SignalWaitOperation> {
  public:
    SignalWaitOperation(Backend& backend, std::initializer_list<int> signals) noexcept
        : SignalWaitOperation(backend, signals.begin(), signals.size()) {}
    SignalWaitOperation(Backend& backend, const int* signals, std::size_t count) noexcept;
    SignalWaitOperation(const SignalWaitOperation&) = delete;
    ~SignalWaitOperation();
    /// The signal's number.
    int take_result();

  private:
    signalfd_siginfo info_{};
    int unblocked_ = 0;  // the first signal that is not blocked, if any
};

}  // namespace detail

/// Waits until one of `signals` (each blocked with block_signals) is delivered to the process,
/// and returns its number; a cancellation point like any wait.
inline detail::SignalWaitOperation Io::wait_signal(std::initializer_list<int> signals) const noexcept {
    return {*backend_, signals};
}
inline detail::SignalWaitOperation Io::wait_signal(int signo) const noexcept {
    return {*backend_, &signo, 1};
}

}  // namespace corio
