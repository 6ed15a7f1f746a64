// SPDX-License-Identifier: MIT
// IoUring: the fiber scheduler on io_uring event loops, one ring per worker.
#pragma once

#include <corio/backend.hpp>
#include <corio/export.hpp>
#include <corio/future.hpp>
#include <corio/io.hpp>

#include <cstddef>
#include <limits>
#include <memory>

namespace corio {


/// Workers, each a thread with its own io_uring and a ready queue of fibers and coroutines.
/// `io.async` and `io.concurrent` start a fiber (a plain function) or drive a Task coroutine
/// on a worker; a wait inside a fiber switches to the next ready fiber or coroutine instead of
/// blocking the thread. A started fiber or coroutine stays on its worker; tasks that have not
/// started go to whichever worker is free.
///
/// With `threads = 0` there are no worker threads: the thread that first starts a task on it
/// (or calls `run`/`run_until`) owns the one ring from then on and runs the loop whenever it
/// waits, as with `io_context::run()`. That thread must also destroy the backend.
///
/// Construction throws std::system_error when the kernel refuses io_uring (ENOSYS, EPERM, or
/// ENOMEM from the locked-memory limit).
///
/// Thread-safety: every member may be called from any thread, except as said for `threads = 0`.
/// The destructor must run after every Future and Group on this backend is gone; it waits for
/// orphaned tasks.
class CORIO_EXPORT IoUring final : public Backend {
  public:
    static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

    struct Options {
        /// Worker threads; 0: the owning thread drives the loop. Default: hardware threads.
        unsigned threads = default_threads();
        /// Usable bytes of a fiber's stack. Default 64 KiB (256 KiB in an ASan build).
        std::size_t stack_size = default_stack_size();
        /// A PROT_NONE page below every fiber stack, so an overflow stops the process with a
        /// message. Each costs two of the kernel's memory maps (vm.max_map_count).
        bool guard_pages = true;
        /// Submission queue entries per ring.
        unsigned ring_entries = 256;
        /// Completion queue entries per ring (the kernel rounds up to a power of two); 0: 8192
        /// (16 bytes each), or the kernel's twice ring_entries where that is more or where an
        /// old kernel's locked-memory limit refuses the larger queue. The kernel finds the
        /// target of a cancel in a table it sizes from this (256 buckets at 8192), so many
        /// pending operations per worker cancel quickly.
        unsigned completion_entries = 0;
        /// Ready fibers and coroutines a worker runs before it enters the kernel.
        unsigned turn_budget = 64;
        /// Async tasks alive at once beyond which `async` runs inline; 0: always inline.
        std::size_t async_limit = unlimited;
        /// Concurrent tasks alive at once beyond which `concurrent` throws.
        std::size_t concurrent_limit = unlimited;
        /// Idle fibers (with their stacks) kept for reuse.
        std::size_t cached_fibers = 1024;
        /// Threads of the blocking-offload pool behind `io.blocking` at most.
        std::size_t blocking_threads = 64;
        /// Sleeps and timeouts armed on a worker become IORING_OP_TIMEOUTs in its ring instead
        /// of entries in the worker's timer heap (whose earliest deadline bounds the ring
        /// wait). Off by default: measured here, 100,000 concurrent sleeps take about three
        /// times as long as kernel timers (one hrtimer and one wake-up each) as in the heap,
        /// which fires every due timer in one pass.
        bool kernel_timers = false;
        /// A listener accepts with one multishot accept (Linux 5.19), which takes connections
        /// as they come and queues up to 64 of them for the accepts to come, instead of one
        /// SQE per accept. Without it, or on an older kernel, each accept is an SQE.
        bool multishot_accept = true;
        /// recv_lend's buffers: each worker registers a provided-buffer ring of this many (a
        /// power of two, at most 32768) at its first recv_lend, of lend_buffer_size bytes each.
        /// 0: no ring; recv_lend lends heap buffers of lend_buffer_size bytes.
        unsigned lend_buffers = 256;
        std::size_t lend_buffer_size = 16384;
    };

    static unsigned default_threads() noexcept;
    static std::size_t default_stack_size() noexcept;

    IoUring();
    explicit IoUring(Options options);
    ~IoUring() override;

    [[nodiscard]] Io io() noexcept { return Io(*this); }

    /// Drives the loop on the calling thread (which must own it: `threads = 0`) until every
    /// task of this backend has ended. With worker threads, waits until then.
    void run();
    /// Drives the loop until `f` is ready, then returns its result (as `f.await()`).
    template <class R>
    decltype(auto) run_until(Future<R>& f) {
        claim_loop();
        return f.await();
    }

    [[nodiscard]] const Options& options() const noexcept;
    /// The IORING_SETUP_* flags the rings were created with (probed at start).
    [[nodiscard]] unsigned setup_flags() const noexcept;

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
    /// 0: no blocking system call is made on a worker.
    [[nodiscard]] int interrupt_signal() const noexcept override;
    [[nodiscard]] std::string schedule_failure() const override;
    /// A Threaded pool started at the first `io.blocking`.
    Backend& blocking_backend() override;
    /// On the blocking-offload pool.
    bool run_detached(detail::Runnable& job) noexcept override;
    /// Every call is an SQE: none is made at once.
    bool io_now(detail::IoRequest& r, const detail::OperationBase& op) override;
    void io_start(detail::IoRequest& r, const detail::ThreadState& ts) override;
    void io_cancel(detail::IoRequest& r) noexcept override;
    [[nodiscard]] int socket_fault() noexcept override;

  private:
    struct Impl;

    /// With `threads = 0`: makes the calling thread the loop's owner if none is yet.
    void claim_loop();

    std::unique_ptr<Impl> impl_;
};

}  // namespace corio
