// SPDX-License-Identifier: MIT
// The abstract backend behind an Io handle (as std::pmr::memory_resource is behind an allocator).
#pragma once

#include <corio/detail/runtime.hpp>
#include <corio/detail/task_header.hpp>
#include <corio/detail/timer.hpp>
#include <corio/export.hpp>

#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <memory>
#include <string>

namespace corio {

namespace detail {
struct IoRequest;
class OperationBase;
class TaskRegistry;  // every live task of a backend, its orphans and groups (in the library)
}  // namespace detail

/// How a new task was asked for.
enum class SpawnKind : unsigned char { async, concurrent };

/// The interface behind an `Io` handle, which every backend implements (Threaded, Simulated,
/// IoUring), as `std::pmr::memory_resource` is behind an allocator. User code holds an `Io`;
/// only code that implements a backend or an operation calls these functions. Each entry says
/// who calls it, on which thread, and what it may do.
class CORIO_EXPORT Backend {
  public:
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;
    virtual ~Backend();

    // ---- tasks ---------------------------------------------------------------------------------

    /// `io.async`, `io.concurrent` and groups, on the spawning thread, before the task's state
    /// is built. Decides whether the task gets a thread or fiber of its own: false when an
    /// `async` task is to run inline on the caller instead; throws ConcurrencyUnavailable for a
    /// `concurrent` task beyond the backend's limit. A true return reserves capacity that
    /// `schedule` or `release` consumes.
    virtual bool reserve(SpawnKind kind) = 0;
    /// The spawning thread, after a true `reserve` whose task could not be built: gives the
    /// reservation back.
    virtual void release(SpawnKind kind) noexcept = 0;
    /// The spawning thread: starts the registered task `t` (reserved with `kind`) on a thread
    /// or fiber of its own, and returns at once. False (the reservation released, the task
    /// untouched) when none could be started; `schedule_failure` then says why.
    virtual bool schedule(detail::TaskHeader& t, SpawnKind kind) noexcept = 0;
    /// The spawning thread: runs the registered task `t` to its end there (an `async` that
    /// runs inline but needs a task of its own: coroutine bodies, group members). May block,
    /// or drive the backend's loop, until a coroutine body ends.
    virtual void run_inline(detail::TaskHeader& t) = 0;
    /// A waiter of `t` (any thread): takes `t` back if it has not started, so the waiter runs
    /// it itself; false when it started, or the backend does not give tasks back.
    virtual bool try_claim(detail::TaskHeader& t) noexcept = 0;
    /// `io.blocking`, any thread: the backend whose tasks have threads of their own, where
    /// functions that block in ways corio cannot see may run (itself, or an offload pool).
    virtual Backend& blocking_backend() = 0;
    /// Any thread: runs `job` on a thread of its own, outside any task, for blocking work no one
    /// waits for to the end (a name lookup whose caller may leave early). False when the
    /// backend has no such thread (Simulated): the caller then runs it itself.
    virtual bool run_detached(detail::Runnable& job) noexcept = 0;
    /// The thread whose `schedule` returned false: why (the message of the
    /// ConcurrencyUnavailable that `concurrent` throws then).
    [[nodiscard]] virtual std::string schedule_failure() const = 0;

    // ---- time and yielding ---------------------------------------------------------------------

    /// Any thread: the backend's clocks (virtual time on Simulated).
    [[nodiscard]] virtual std::chrono::steady_clock::time_point now() const noexcept = 0;
    [[nodiscard]] virtual std::chrono::system_clock::time_point now_system() const noexcept = 0;
    /// A sleep or timeout, on the waiter's thread: arms `node`, whose `fire` then runs once, on
    /// any thread, at or after its deadline unless cancelled. Throws std::bad_alloc.
    virtual void add_timer(detail::TimerNode& node) = 0;
    /// Any thread: removes `node` before it fires (true), or returns false once it fired; if
    /// it is firing on another thread, waits until `fire` returned.
    virtual bool cancel_timer(detail::TimerNode& node) noexcept = 0;
    /// `io.yield()` from plain code, on the task's thread: lets other tasks run.
    virtual void yield_plain() = 0;
    /// `co_await io.yield()`, on the coroutine's thread: requeues `r` behind the ready work of
    /// its executor. Never resumes it inline.
    virtual void yield_coroutine(detail::Resumption& r) noexcept = 0;
    /// Any thread: the signal that interrupts a blocking system call made on this backend's
    /// threads on cancel, or 0 when it makes none.
    [[nodiscard]] virtual int interrupt_signal() const noexcept = 0;

    // ---- I/O (see detail/io_request.hpp) -------------------------------------------------------

    /// An I/O operation `op`, on the waiter's thread, before it waits: performs `r` (all its
    /// calls) there and then when this backend does so for the caller, and returns true with
    /// `r.res` the final result (-ECANCELED when `op.wait_token()` stopped it first). False:
    /// the operation is started with `io_start`.
    virtual bool io_now(detail::IoRequest& r, const detail::OperationBase& op) = 0;
    /// The waiter's thread (`ts`): starts `r`, whose `finish` is then called exactly once, on
    /// any thread, when it is done. Sets `r.local` when every completion and cancel runs on the
    /// thread of `ts`.
    virtual void io_start(detail::IoRequest& r, const detail::ThreadState& ts) = 0;
    /// Any thread: cancels `r` if it is still running (it then finishes with -ECANCELED, or
    /// with the result it had already got). It may come after `finish` returned, while the
    /// waiter's stop callback is still registered: `r` is alive during the call, but the
    /// backend must then leave it alone and keep no pointer to it.
    virtual void io_cancel(detail::IoRequest& r) noexcept = 0;
    /// Bind and connect, on the caller's thread, before they make a socket: an errno to fail
    /// the creation with instead (Simulated's visible faults: EMFILE), or 0.
    [[nodiscard]] virtual int socket_fault() noexcept = 0;

    // ---- diagnostics ---------------------------------------------------------------------------

    /// Any thread: one line per live task: id, kind, what it waits on.
    void dump_tasks(std::ostream& out) const;
    /// Any thread: tasks whose state exists (running, waiting, or ended with a result not yet
    /// taken).
    [[nodiscard]] std::size_t live_tasks() const noexcept;

    /// For the runtime: the task registry, which the library defines.
    [[nodiscard]] detail::TaskRegistry& registry() const noexcept { return *registry_; }

  protected:
    /// Sets SIGPIPE to be ignored when it has its default action (which kills the process):
    /// a write to a closed pipe or socket then fails with EPIPE instead, as with Rust's and
    /// Go's runtimes. A handler the program installed is left alone.
    Backend();

  private:
    std::unique_ptr<detail::TaskRegistry> registry_;
};

namespace detail {
/// Records a task state as it is built, and forgets it as it is destroyed.
CORIO_EXPORT void register_task(Backend& backend, TaskHeader& t) noexcept;
CORIO_EXPORT void unregister_task(TaskHeader& t) noexcept;
}  // namespace detail

}  // namespace corio
