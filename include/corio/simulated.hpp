// SPDX-License-Identifier: MIT
// Simulated: a deterministic backend. One task runs at a time, time is virtual, and the choice
// of what runs next at every wait point comes from a seed, so a run replays from its seed.
#pragma once

#include <corio/backend.hpp>
#include <corio/export.hpp>
#include <corio/io.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace corio {

/// The thread that constructs a Simulated drives it: tasks run only while that thread (or a
/// task) waits. Plain tasks run on carrier threads that pass one baton around, coroutines on
/// whichever thread holds it. When every task waits and no I/O call can move a byte, the clock
/// jumps to the next deadline; when none is pending either, the run is a deadlock and aborts
/// with the seed and a task list. `io.async` runs inline or as a task, as the seed decides. A
/// yield takes one microsecond of virtual time, so a task that spins on `io.yield()` still lets
/// timers come due.
///
/// Faults (`Options::faults`) are drawn from the same seed, so a seed and the options replay a
/// run, faults included.
///
/// Thread-safety: single-threaded by design; use it only from its own thread and its tasks.
class CORIO_EXPORT Simulated final : public Backend {
  public:
    struct Options {
        /// Faults injected into I/O calls, the clocks and the order of completions, each at a
        /// rate: the chance (0 to 1) that an event where the fault can happen gets it, drawn
        /// from the seed. All are off by default.
        ///
        /// Transparent faults change no result a correct program computes: they only take
        /// the paths a real kernel and clock may take. Visible faults are errors the program
        /// sees (every operation either succeeds or fails with the injected error).
        struct Faults {
            // Transparent.
            /// A call fails with EINTR before it is made; the I/O path makes it again.
            double eintr = 0;
            /// A call that could wait for its descriptor (a read, write, send, receive or
            /// accept) starts an EAGAIN storm: it and the next 0 to 7 such calls fail with
            /// EAGAIN before they are made, and each request waits for its descriptor again,
            /// which is ready, so it runs again at the next poll. A storm never lets virtual
            /// time pass: a descriptor that was ready counts as progress.
            double eagain = 0;
            /// A read, write, send or receive on a stream socket is offered fewer bytes than
            /// asked (at least one), as the kernel may move; the request's own steps (write_all,
            /// read_exact) carry on with the rest. Adds to `Options::short_transfers`.
            double short_transfer = 0;
            /// The requests whose descriptors are ready at one poll make their calls and
            /// complete in an order the seed shuffles, instead of oldest first.
            double reorder = 0;
            /// At a scheduling step, the steady clock leaps forward by up to `max_clock_leap`,
            /// never past the earliest pending deadline: time passes while tasks run, so a
            /// timer may fire while others are still runnable (never late, never early). With
            /// no timer pending it does not leap: nothing waits for time then, and a run that
            /// waited for nothing still sees no time pass.
            double clock_leap = 0;
            /// At a scheduling step, the system clock jumps forward or back by up to
            /// `max_system_clock_jump`; the steady clock and timers are untouched.
            double system_clock_jump = 0;
            // Visible.
            /// A transfer on a stream socket fails with ECONNRESET. Sticky: the socket is shut
            /// down both ways (shutdown(2), so its peer reads the end of the stream and its
            /// writes fail), and every later transfer on it fails with ECONNRESET.
            double reset = 0;
            /// A write or send on a stream socket fails with EPIPE. Sticky: the socket is shut
            /// down both ways, and every later write on it fails with EPIPE (reads see what
            /// was already there, then the end of the stream).
            double epipe = 0;
            /// A transfer (on a socket, pipe or file) or an accept fails before it is made: a
            /// send or an accept with ENOBUFS, any other with ENOMEM. Nothing moved; the next
            /// call may succeed.
            double enomem = 0;
            /// An accept fails with EMFILE before it is made (the connection stays queued for
            /// the next accept), and so does the creation of a socket by a bind or a connect.
            double emfile = 0;
            /// The largest clock leap.
            std::chrono::nanoseconds max_clock_leap = std::chrono::milliseconds(1);
            /// The largest system clock jump, either way.
            std::chrono::nanoseconds max_system_clock_jump = std::chrono::hours(1);

            /// Every transparent fault at a rate that exercises it often. With `vary` other
            /// than 0, each rate is scaled by a factor from 0 to 4 drawn from `vary` (pass the
            /// seed: the seed then replays the rates too).
            [[nodiscard]] static Faults transparent(std::uint64_t vary = 0) noexcept;
            /// Every fault, transparent and visible, at rates at which a workload of a few
            /// hundred operations meets each visible one a few times.
            [[nodiscard]] static Faults all() noexcept;
        };

        std::uint64_t seed = 0;
        /// Stack size of carrier threads.
        std::size_t stack_size = 256 << 10;
        /// Let the seed run some async tasks inline (true) or always start a task (false).
        bool inline_async = true;
        /// Let the seed shorten transfers on stream sockets (one call in four moves fewer bytes
        /// than it could, at least one), so partial reads and writes are explored.
        bool short_transfers = true;
        Faults faults{};
    };

    /// How many faults of each kind were injected so far (a sticky error's later failures are
    /// not counted again).
    struct Injected {
        std::uint64_t eintr = 0, eagain = 0, short_transfer = 0, reorder = 0, clock_leap = 0,
                      system_clock_jump = 0, reset = 0, epipe = 0, enomem = 0, emfile = 0;
    };

    Simulated();
    explicit Simulated(Options options);
    ~Simulated() override;

    [[nodiscard]] Io io() noexcept { return Io(*this); }
    [[nodiscard]] std::uint64_t seed() const noexcept;
    /// Scheduling decisions made so far (to size a search over seeds).
    [[nodiscard]] std::uint64_t steps() const noexcept;
    /// A hash of the run so far: every scheduling decision, I/O result, injected fault and
    /// timer firing, in order. Two runs of one seed and options agree on it when everything
    /// they touch is inside the simulation (tasks, timers, pipes, socket pairs, files); TCP
    /// (whose kernel delivers bytes and acknowledgements on its own time) and peers outside
    /// the simulation (other threads or processes) can make it differ.
    [[nodiscard]] std::uint64_t trace() const noexcept;
    /// The faults injected so far.
    [[nodiscard]] Injected injected() const noexcept;

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
    /// Never: a task that has not started is the scheduler's to run.
    bool try_claim(detail::TaskHeader& t) noexcept override;
    /// Itself: blocking functions run as tasks, one at a time.
    Backend& blocking_backend() override;
    /// False: the caller runs the job itself (no thread of its own).
    bool run_detached(detail::Runnable& job) noexcept override;
    [[nodiscard]] std::string schedule_failure() const override;
    /// 0: it makes no blocking system call that needs interrupting.
    [[nodiscard]] int interrupt_signal() const noexcept override;
    /// Each call is made without blocking; one that would block waits, as a simulated wait,
    /// until its descriptor is ready (checked whenever the scheduler picks the next task).
    bool io_now(detail::IoRequest& r, const detail::OperationBase& op) override;
    void io_start(detail::IoRequest& r, const detail::ThreadState& ts) override;
    void io_cancel(detail::IoRequest& r) noexcept override;
    /// EMFILE at the rate of `faults.emfile`.
    int socket_fault() noexcept override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace corio
