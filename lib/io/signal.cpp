// SPDX-License-Identifier: MIT
// Signals: blocking them, and waiting for them through a signalfd.
#include <corio/signal.hpp>

#include <pthread.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace corio {

namespace {

std::string signal_name(int signo) {
    if (const char* abbrev = ::sigabbrev_np(signo)) return std::string("SIG") + abbrev;
    return "signal " + std::to_string(signo);
}

}  // namespace

void block_signals(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : signals) {
        if (s == SIGKILL || s == SIGSTOP || sigaddset(&set, s) != 0)
            throw UsageError(std::errc::invalid_argument,
                             "corio: block_signals: " + signal_name(s) + " cannot be blocked");
    }
    if (const int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0)
        throw std::system_error(err, std::system_category(), "corio: block_signals");
}

namespace detail {

SignalWaitOperation::SignalWaitOperation(Backend& backend, const int* signals,
                                         std::size_t count) noexcept
    : IoOperation(backend) {
    opcode = IoOpcode::read;
    buf = &info_;
    len = sizeof info_;
    sigset_t blocked, wanted;
    sigemptyset(&wanted);
    ::pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
    for (std::size_t i = 0; i < count; ++i) {
        const int s = signals[i];
        if (sigaddset(&wanted, s) != 0 || sigismember(&blocked, s) != 1) {
            unblocked_ = s;
            fail_early(EINVAL);
            return;
        }
    }
    if (count == 0) {
        fail_early(EINVAL);
        return;
    }
    // Non-blocking: io_uring then waits for readiness and reads in the waiting thread's
    // context; a backend that makes the call itself polls first.
    fd = ::signalfd(-1, &wanted, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) fail_early(errno);
}

SignalWaitOperation::~SignalWaitOperation() {
    if (fd >= 0) ::close(fd);
}

int SignalWaitOperation::take_result() {
    if (unblocked_ != 0)
        throw UsageError(std::errc::invalid_argument,
                         "corio: wait_signal: " + signal_name(unblocked_) +
                             " is not blocked in this thread; call corio::block_signals({...}) "
                             "with it at the top of main, before any thread starts");
    if (fd < 0 && len == sizeof info_ && res == -EINVAL)
        throw UsageError(std::errc::invalid_argument, "corio: wait_signal: no signal given");
    result();
    return static_cast<int>(info_.ssi_signo);
}

}  // namespace detail

}  // namespace corio
