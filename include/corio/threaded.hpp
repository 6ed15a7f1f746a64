// SPDX-License-Identifier: MIT
// Threaded: the portable backend. Tasks run on pool threads; waits block threads (plain code)
// or suspend coroutines, which resume on pool workers.
#pragma once

#include <corio/backend.hpp>
#include <corio/export.hpp>
#include <corio/io.hpp>

#include <chrono>
#include <cstddef>
#include <limits>
#include <memory>

namespace corio {

/// A pool of threads. `io.async` hands a task to an idle thread or starts one while fewer than
/// `async_limit` async tasks run, else runs it inline; `io.concurrent` always gets a thread of
/// its own, up to `concurrent_limit`. A thread blocked in `await()` runs the awaited task itself
/// when it has not started yet. Sleeps are woken by one timer thread. Idle threads exit after
/// `idle_timeout`. Blocking system calls made through this backend are interrupted on cancel.
///
/// Thread-safety: every member may be called from any thread. The destructor must run after
/// every Future and Group on this backend is gone (it aborts with a list of tasks otherwise) and
/// waits for orphaned tasks.
class CORIO_EXPORT Threaded final : public Backend {
  public:
    static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

    struct Options {
        /// Async tasks that may run on pool threads at once; 0 runs every async task inline.
        /// Default: hardware threads - 1.
        std::size_t async_limit = default_async_limit();
        /// Concurrent tasks that may run at once; beyond it `concurrent` throws.
        std::size_t concurrent_limit = unlimited;
        /// How long an idle pool thread waits for work before it exits.
        std::chrono::milliseconds idle_timeout{10'000};
        /// Stack size of pool threads.
        std::size_t stack_size = 1 << 20;
        /// Signal used to interrupt a blocking system call on cancel (0: SIGURG).
        int interrupt_signal = 0;
    };

    static std::size_t default_async_limit() noexcept;

    Threaded();
    explicit Threaded(Options options);
    ~Threaded() override;

    [[nodiscard]] Io io() noexcept { return Io(*this); }

    /// Pool threads alive now (for tests and monitoring).
    [[nodiscard]] std::size_t thread_count() const noexcept;
    [[nodiscard]] const Options& options() const noexcept;

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
    [[nodiscard]] int interrupt_signal() const noexcept override;
    /// Itself: its tasks have threads of their own.
    Backend& blocking_backend() override;
    [[nodiscard]] std::string schedule_failure() const override;
    /// Plain callers make the calls themselves, interruptibly; a coroutine's calls run on a
    /// pool thread of their own (as a task would), so its thread never blocks.
    bool io_now(detail::IoRequest& r, const detail::OperationBase& op) override;
    void io_start(detail::IoRequest& r, const detail::ThreadState& ts) override;
    void io_cancel(detail::IoRequest& r) noexcept override;
    bool run_detached(detail::Runnable& job) noexcept override;
    [[nodiscard]] int socket_fault() noexcept override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace corio
