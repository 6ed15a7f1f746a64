// SPDX-License-Identifier: MIT
// The abstract backend behind an Io handle (as std::pmr::memory_resource is behind an allocator).
#pragma once

#include <corio/detail/runtime.hpp>
#include <corio/detail/task_header.hpp>
#include <corio/detail/timer.hpp>
#include <corio/export.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <iosfwd>
#include <mutex>
#include <string>

namespace corio {

namespace detail {
struct IoRequest;
}  // namespace detail

/// How a new task was asked for.
enum class SpawnKind : unsigned char { async, concurrent };

/// The interface every backend implements (Threaded, Simulated, IoUring, ...). User code holds
/// an `Io`; only code that implements a backend or an operation uses this class directly.
/// The task registry (for dumps, the destructor check and orphans) is shared by all backends.
class CORIO_EXPORT Backend {
  public:
    /// Sets SIGPIPE to be ignored when it has its default action (which kills the process):
    /// a write to a closed pipe or socket then fails with EPIPE instead, as with Rust's and
    /// Go's runtimes. A handler the program installed is left alone.
    Backend();
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;
    virtual ~Backend();

    // ---- tasks -------------------------------------------------------------------------------

    /// Decides whether a new task gets its own thread or fiber. Returns false when an `async`
    /// task should run inline on the caller instead; throws ConcurrencyUnavailable for a
    /// `concurrent` task the backend cannot give one. A true return reserves capacity that
    /// `schedule` or `release` consumes.
    virtual bool reserve(SpawnKind kind) = 0;
    /// Gives back a reservation whose task could not be built.
    virtual void release(SpawnKind kind) noexcept = 0;
    /// Starts `t` (reserved with `kind`) elsewhere; `t` is registered already. Returns false
    /// (and releases the reservation) when no thread or fiber could be started for it.
    virtual bool schedule(detail::TaskHeader& t, SpawnKind kind) noexcept = 0;
    /// Runs the registered task `t` to its end on the calling context (an `async` that runs
    /// inline but needs a task of its own: coroutine bodies, group members).
    virtual void run_inline(detail::TaskHeader& t) = 0;
    /// Takes `t` back from the run queue if it has not started, so an awaiter can run it itself.
    virtual bool try_claim(detail::TaskHeader& t) noexcept;
    /// Where `io.blocking` runs functions that block in ways corio cannot see: a backend whose
    /// tasks have threads of their own (Threaded: itself; IoUring: its offload pool).
    virtual Backend& blocking_backend() { return *this; }
    /// Runs `job` on a thread of its own, outside any task, for work that blocks and that no
    /// one waits for to the end (a name lookup whose caller may leave early): Threaded queues it
    /// on its pool, IoUring on its blocking-offload pool. False when the backend has no such
    /// threads (Simulated): the caller then runs it itself.
    virtual bool run_detached(detail::Runnable& job) noexcept {
        (void)job;
        return false;
    }
    /// Why the last `schedule` on this thread returned false (the message of the
    /// ConcurrencyUnavailable that `concurrent` throws then).
    [[nodiscard]] virtual std::string schedule_failure() const;

    // ---- time and yielding ------------------------------------------------------------------

    [[nodiscard]] virtual std::chrono::steady_clock::time_point now() const noexcept;
    [[nodiscard]] virtual std::chrono::system_clock::time_point now_system() const noexcept;
    /// Arms `node`; its `fire` runs once at or after the deadline unless cancelled.
    virtual void add_timer(detail::TimerNode& node) = 0;
    /// Removes `node` before it fires (true), or returns false once it fired; if it is firing
    /// on another thread, waits until `fire` returned.
    virtual bool cancel_timer(detail::TimerNode& node) noexcept = 0;
    /// Lets other tasks run; from plain code.
    virtual void yield_plain() = 0;
    /// Requeues a yielding coroutine (default: behind the ready work of its executor).
    virtual void yield_coroutine(detail::Resumption& r) noexcept { r.executor->post(&r); }
    /// The signal that interrupts a blocking system call made through this backend on cancel,
    /// or 0 when the backend does not make blocking calls on its threads.
    [[nodiscard]] virtual int interrupt_signal() const noexcept { return 0; }

    // ---- I/O (see detail/io_request.hpp) --------------------------------------------------

    /// Performs `r` (all its calls) at once on the calling thread when this backend does so
    /// for the caller: true, with `r.res` the final result (-ECANCELED when `token` stopped it).
    /// False: the operation is to be started with `io_start`. Default: every call is a blocking
    /// system call made here (files never block for long; a backend without I/O of its own).
    virtual bool io_now(detail::IoRequest& r, stop_token token);
    /// Starts `r`; `r.finish` is called exactly once, on any thread, when it is done. Sets
    /// `r.local` when every completion and cancel runs on the thread of `ts`.
    virtual void io_start(detail::IoRequest& r, const detail::ThreadState& ts);
    /// Cancels `r` if it is still running (it then finishes with -ECANCELED, or with the
    /// result it had already got); any thread, at most until `finish` returned.
    virtual void io_cancel(detail::IoRequest& r) noexcept;
    /// Called on the caller's thread before a socket is made for an operation on this backend
    /// (bind, connect): an errno to fail the creation with instead, or 0. Simulated's visible
    /// faults use it (EMFILE); every other backend makes the socket.
    [[nodiscard]] virtual int socket_fault() noexcept { return 0; }

    // ---- registry ---------------------------------------------------------------------------

    /// Gives `t` an id and records it (called when a task state is built).
    void register_task(detail::TaskHeader& t) noexcept;
    /// Forgets `t` (called when its state is destroyed).
    void unregister_task(detail::TaskHeader& t) noexcept;
    /// Takes over a task whose future was dropped inside a coroutine: it is cancelled already
    /// and is destroyed when it ends; the destructor waits for such orphans.
    void adopt_orphan(detail::TaskHeader& t) noexcept;
    /// Called by finish_task for an orphan that ended.
    void orphan_finished(detail::TaskHeader& t) noexcept;
    /// The members of a group dropped inside a coroutine become orphans, reaped as they end.
    void orphan_group_members(std::size_t n) noexcept;
    void orphan_group_member_finished() noexcept;
    /// Groups count as references for the destructor's check.
    void add_group() noexcept { groups_.fetch_add(1, std::memory_order_relaxed); }
    void remove_group() noexcept { groups_.fetch_sub(1, std::memory_order_relaxed); }

    /// Writes one line per live task: id, kind, what it waits on.
    void dump_tasks(std::ostream& out) const;
    [[nodiscard]] std::size_t live_tasks() const noexcept;
    /// Tasks whose body has not ended yet (a walk over the registry).
    [[nodiscard]] std::size_t unfinished_tasks() const noexcept;

  protected:
    /// Routes the cancellation of this backend's tasks through its workers (see StopRouter);
    /// set by the constructor of a backend that has workers, before any task exists.
    void set_stop_router(detail::StopRouter* r) noexcept { stop_router_ = r; }
    /// Orphans not reaped yet; a backend's destructor runs its tasks until this is zero.
    [[nodiscard]] std::size_t orphans() const noexcept;
    /// Blocks until every orphan was reaped (by threads that run the tasks: not for a backend
    /// whose loop the caller drives).
    void wait_for_orphans() const noexcept;
    /// Aborts with a list of tasks when a Future or Group still refers to this backend; a
    /// backend's destructor calls it once its orphans are reaped.
    void check_unreferenced() noexcept;

  private:
    /// One part of the registry: tasks are recorded in the shard of the thread that builds
    /// them, so spawning threads do not share a lock; a shard's lock is held for a few
    /// instructions.
    struct alignas(64) RegistryShard {
        mutable std::atomic<bool> locked{false};
        detail::TaskHeader* tasks = nullptr;
        std::size_t count = 0;
    };
    static constexpr unsigned registry_shards = 8;

    detail::StopRouter* stop_router_ = nullptr;
    RegistryShard shards_[registry_shards];
    mutable std::mutex orphan_mutex_;
    mutable std::condition_variable orphans_reaped_;
    std::size_t orphan_count_ = 0;  // under orphan_mutex_
    std::atomic<std::size_t> groups_{0};
};

}  // namespace corio
