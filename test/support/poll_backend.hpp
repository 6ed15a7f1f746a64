// SPDX-License-Identifier: MIT
// PollBackend: the scheduler with one worker whose driver waits in poll(2). A test of the
// Driver interface (lib/scheduler/driver.hpp) beside io_uring's, not a backend to use.
#pragma once

#include <corio/backend.hpp>
#include <corio/io.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace corio::detail {
class Scheduler;
}

namespace corio::test {

/// One worker thread running fibers and coroutines, whose I/O waits in poll(2): sockets,
/// pipes and other descriptors that poll can wait for are called without blocking and retried
/// once ready; calls poll cannot wait for (regular files, open, close, sync, stat, shutdown)
/// run on the blocking pool. Every Backend entry forwards to the scheduler, as IoUring's do.
///
/// Thread-safety: every member may be called from any thread. The destructor must run after
/// every Future and Group on this backend is gone; it waits for orphaned tasks.
class PollBackend final : public Backend {
  public:
    struct Options {
        /// Usable bytes of a fiber's stack (enough for gtest assertions under ASan).
        std::size_t stack_size = 256 << 10;
    };

    PollBackend();
    explicit PollBackend(Options options);
    ~PollBackend() override;

    [[nodiscard]] Io io() noexcept { return Io(*this); }

    // Backend
    bool reserve(SpawnKind kind) override;
    void release(SpawnKind kind) noexcept override;
    bool schedule(detail::TaskHeader& t, SpawnKind kind) noexcept override;
    void run_inline(detail::TaskHeader& t) override;
    bool try_claim(detail::TaskHeader& t) noexcept override;
    void add_timer(detail::TimerNode& node) override;
    bool cancel_timer(detail::TimerNode& node) noexcept override;
    void yield_plain() override;
    void yield_coroutine(detail::Resumption& r) noexcept override;
    [[nodiscard]] std::chrono::steady_clock::time_point now() const noexcept override;
    [[nodiscard]] std::chrono::system_clock::time_point now_system() const noexcept override;
    /// 0: no blocking system call is made on the worker.
    [[nodiscard]] int interrupt_signal() const noexcept override;
    [[nodiscard]] std::string schedule_failure() const override;
    Backend& blocking_backend() override;
    bool run_detached(detail::Runnable& job) noexcept override;
    /// Every call goes through the worker's driver: none is made at once.
    bool io_now(detail::IoRequest& r, const detail::OperationBase& op) override;
    void io_start(detail::IoRequest& r, const detail::ThreadState& ts) override;
    void io_cancel(detail::IoRequest& r) noexcept override;
    [[nodiscard]] int socket_fault() noexcept override;

  private:
    std::unique_ptr<detail::Scheduler> scheduler_;
};

}  // namespace corio::test
