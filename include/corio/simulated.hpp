// SPDX-License-Identifier: MIT
// Simulated: a deterministic backend. One task runs at a time, time is virtual, and the choice
// of what runs next at every wait point comes from a seed, so a run replays from its seed.
#pragma once

#include <corio/backend.hpp>
#include <corio/export.hpp>
#include <corio/io.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace corio {

/// The thread that constructs a Simulated drives it: tasks run only while that thread (or a
/// task) waits. Plain tasks run on carrier threads that pass one baton around, coroutines on
/// whichever thread holds it. When every task waits, the clock jumps to the next deadline; when
/// none is pending either, the run is a deadlock and aborts with the seed and a task list.
/// `io.async` runs inline or as a task, as the seed decides. A yield takes one microsecond of
/// virtual time, so a task that spins on `io.yield()` still lets timers come due.
///
/// Thread-safety: single-threaded by design; use it only from its own thread and its tasks.
class CORIO_EXPORT Simulated final : public Backend {
  public:
    struct Options {
        std::uint64_t seed = 0;
        /// Stack size of carrier threads.
        std::size_t stack_size = 256 << 10;
        /// Let the seed run some async tasks inline (true) or always start a task (false).
        bool inline_async = true;
        /// Let the seed shorten transfers on stream sockets (one call in four moves fewer bytes
        /// than it could, at least one), so partial reads and writes are explored.
        bool short_transfers = true;
    };

    Simulated();
    explicit Simulated(Options options);
    ~Simulated() override;

    [[nodiscard]] Io io() noexcept { return Io(*this); }
    [[nodiscard]] std::uint64_t seed() const noexcept;
    /// Scheduling decisions made so far (to size a search over seeds).
    [[nodiscard]] std::uint64_t steps() const noexcept;

    // Backend
    bool reserve(SpawnKind kind) override;
    void release(SpawnKind kind) noexcept override;
    bool schedule(detail::TaskHeader& t, SpawnKind kind) noexcept override;
    void run_inline(detail::TaskHeader& t) override;
    [[nodiscard]] std::chrono::steady_clock::time_point now() const noexcept override;
    [[nodiscard]] std::chrono::system_clock::time_point now_system() const noexcept override;
    void add_timer(detail::TimerNode& node) override;
    bool cancel_timer(detail::TimerNode& node) noexcept override;
    void yield_plain() override;
    void yield_coroutine(detail::Resumption& r) noexcept override;
    /// Each call is made without blocking; one that would block waits, as a simulated wait,
    /// until its descriptor is ready (checked whenever the scheduler picks the next task).
    bool io_now(detail::IoRequest& r, stop_token token) override;
    void io_start(detail::IoRequest& r, const detail::ThreadState& ts) override;
    void io_cancel(detail::IoRequest& r) noexcept override;

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace corio
