// SPDX-License-Identifier: MIT
// A driver: the event source beneath one scheduler worker (an io_uring, an epoll or kqueue
// instance, poll(2) in the tests). The scheduler owns the worker, its ready queues, its fibers
// and its timers; the driver owns what the worker waits in, and the I/O requests started there.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "core/internal.hpp"

#include <corio/detail/io_request.hpp>

#include <cstdint>
#include <new>

namespace corio::detail {

class Worker;
class Driver;

/// The first member of every driver's state in `IoRequest::backend_state`: the driver that
/// started the request, which its cancel goes to.
struct DriverRequest {
    explicit DriverRequest(Driver* d) noexcept : driver(d) {}
    Driver* driver;
};

inline DriverRequest& driver_request(IoRequest& r) noexcept {
    return *std::launder(reinterpret_cast<DriverRequest*>(r.backend_state));
}

/// One per worker, created with it. Every entry runs on the worker's thread unless it says
/// otherwise. A driver never runs tasks itself: it completes requests (their `finish` queues
/// the waiter on its worker) and fires its own timers, and the worker runs what that made
/// ready at its next turn.
class Driver {
  public:
    explicit Driver(Worker& worker) noexcept : worker_(worker) {}
    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;
    virtual ~Driver() = default;

    [[nodiscard]] Worker& worker() const noexcept { return worker_; }

    // ---- the event source -----------------------------------------------------------------
    /// Before the worker's first turn, on its thread: creates the event source there (an
    /// io_uring belongs to the thread that submits). Throws std::system_error naming what the
    /// kernel refused; `detach` is then still called.
    virtual void attach() = 0;
    /// After the worker's last turn, on its thread (or after a failed `attach`): releases it.
    virtual void detach() noexcept = 0;
    /// Whether work queued by other threads (a cancel) must reach the event source before the
    /// worker may block. Read after the worker announced it sleeps (seq_cst): a thread that
    /// queues such work then sees the worker asleep and calls `wake`.
    [[nodiscard]] virtual bool pending() const noexcept = 0;
    /// On the worker's thread, with no system call: true when a `wait(false)` now would have
    /// nothing to do (nothing queued to submit, no events to take, nothing in flight whose
    /// completion needs the event source entered). A worker whose fibers keep it busy then
    /// begins its next turn without leaving them. False is always correct.
    [[nodiscard]] virtual bool idle() const noexcept = 0;
    /// Submits what is queued, and completes what is done. When `block`, first waits until an
    /// event comes, `wake` is called, or `deadline_ns` (steady_clock nanoseconds; 0: none)
    /// passes; never wakes before the deadline for nothing but rounding.
    virtual void wait(bool block, std::int64_t deadline_ns) noexcept = 0;
    /// Any thread: makes the worker's current or next `wait` return. `sender` is the calling
    /// thread's driver when it runs another worker of the same scheduler (a driver may pass the
    /// wake-up through its own event source, as io_uring's MSG_RING), else nullptr. The worker
    /// calls it at most once per wait.
    virtual void wake(Driver* sender) noexcept = 0;

    // ---- I/O requests ---------------------------------------------------------------------
    /// The waiter's thread (any): builds the request's state in `r.backend_state`, starting
    /// with a DriverRequest naming this driver, and returns the job that makes its first call.
    /// The scheduler posts the job to the worker; when the waiter runs on this driver's worker
    /// it calls `start_here` instead (and sets `r.local`). The driver then makes each call of the
    /// request on its worker's thread: at once, or when the descriptor is ready (a readiness
    /// source retries a call that returned EAGAIN), or on the blocking pool
    /// (`Scheduler::run_detached`, for calls on regular files that a readiness source cannot
    /// wait for); it steps the request with `IoRequest::call_done`, `fail` and
    /// `cancel_before_call`, and calls `finish` once.
    virtual Runnable& prepare(IoRequest& r) noexcept = 0;
    /// On the worker's thread, for a waiter that runs there: `prepare`, then its job at once.
    /// A driver may do both in one step.
    virtual void start_here(IoRequest& r) noexcept {
        Runnable& first = prepare(r);
        first.run(&first);
    }
    /// Any thread, after `prepare`: ends the request cancelled if its call has not completed
    /// (a call that completed keeps its result: no byte is lost). On the worker's own thread
    /// it takes effect there and then; from another thread it is queued, and the worker woken.
    /// It may come after `finish` returned (a stop that raced the completion, until the waiter
    /// unregistered its stop callback): `r` is alive during the call, but the driver must then
    /// do nothing with it and keep no pointer to it.
    virtual void cancel(IoRequest& r) noexcept = 0;

    // Signals reach a driver as I/O requests too: `wait_signal` reads a signalfd, which every
    // driver on Linux handles as a readable descriptor (readiness sources) or a read (io_uring).

  private:
    Worker& worker_;
};

}  // namespace corio::detail
