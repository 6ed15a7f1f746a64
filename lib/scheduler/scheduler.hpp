// SPDX-License-Identifier: MIT
// The fiber and coroutine scheduler, neutral to the event source: its workers (each with a
// driver), the queue of tasks that have not started and stealing, the spawn limits, the
// blocking pool, `run()` and the caller-driven loop of `threads = 0`, timers, and the routing
// of I/O requests to the drivers. A backend is a scheduler and a kind of driver; its Backend
// entries forward here.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "core/internal.hpp"
#include "core/routed_waits.hpp"
#include "core/runnable_queue.hpp"
#include "core/spawn_limits.hpp"
#include "core/spin_lock.hpp"
#include "scheduler/driver.hpp"
#include "scheduler/worker.hpp"

#include <corio/backend.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace corio {
class Threaded;
}

namespace corio::detail {

class Scheduler {
  public:
    /// The scheduler fields of a backend's Options (same names, same meaning).
    struct Options {
        const char* name = "backend";  // the backend's class, in messages
        unsigned threads = 1;          // 0: the owning thread drives worker 0
        std::size_t stack_size = 64 << 10;
        bool guard_pages = true;
        unsigned turn_budget = 64;
        std::size_t async_limit = static_cast<std::size_t>(-1);
        std::size_t concurrent_limit = static_cast<std::size_t>(-1);
        std::size_t cached_fibers = 1024;
        std::size_t blocking_threads = 64;
    };
    /// Makes worker `w`'s driver (called once per worker, on the constructing thread).
    using MakeDriver = std::function<std::unique_ptr<Driver>(Worker& w)>;

    /// Creates the workers and their drivers; `start` starts their threads.
    Scheduler(Backend& backend, const Options& options, const MakeDriver& make_driver);
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;
    ~Scheduler();

    /// Starts a thread for each worker (none with `threads = 0`), which attaches its driver
    /// there; throws std::system_error naming what failed (a thread, a driver) after stopping
    /// and joining the threads that started.
    void start();
    /// The backend's destructor, once its own teardown is done (its tasks and orphans ended):
    /// with worker threads, stops and joins them; with `threads = 0`, detaches the owner.
    /// Then waits for threads outside the backend still inside a worker's `post`.
    void stop() noexcept;
    /// The backend's destructor, first: the blocking pool's tasks are owned by futures that
    /// are gone by then. (A driver that offloads calls may start a pool again while orphans
    /// end; it goes with the scheduler.)
    void stop_blocking_pool() noexcept;
    /// With `threads = 0`, the backend's destructor: aborts when a thread other than the
    /// owner destroys the backend.
    void check_owner_destroys() const noexcept;

    [[nodiscard]] Worker& worker(std::size_t i) const noexcept { return *workers_[i]; }
    /// The worker of this scheduler the calling thread runs, or nullptr.
    [[nodiscard]] Worker* current_worker() const noexcept {
        Worker* w = Worker::current();
        return w != nullptr && w->backend() == &backend_ ? w : nullptr;
    }
    /// With `threads = 0`: whether a thread owns the loop yet.
    [[nodiscard]] bool owned() const noexcept { return owned_.load(std::memory_order_acquire); }

    // ---- Backend entries, forwarded by the backend --------------------------------------
    bool reserve(SpawnKind kind) { return limits_.reserve(kind, options_.name); }
    void release(SpawnKind kind) noexcept { unreserve(kind == SpawnKind::concurrent); }
    bool schedule(TaskHeader& t, SpawnKind kind) noexcept;
    [[nodiscard]] std::string schedule_failure() const;
    bool try_claim(TaskHeader& t) noexcept;
    /// In the heap of the calling worker, or of worker 0 from any other thread.
    void add_timer(TimerNode& node);
    bool cancel_timer(TimerNode& node) noexcept;
    void yield_plain();
    Backend& blocking_backend();
    /// On the blocking pool, outside any task: also a driver's call that its event source
    /// cannot wait for (a regular file). False when no pool thread could take it.
    bool run_detached(Runnable& job) noexcept;
    /// On the waiter's thread: hands `r` to the driver of its worker (at once) or of a worker
    /// chosen for it (posted there). Throws what claiming the loop of `threads = 0` throws.
    void io_start(IoRequest& r) {
        if (Worker* w = current_worker()) {
            r.local = true;  // every completion and cancel runs on this thread
            w->driver().start_here(r);
            return;
        }
        io_start_elsewhere(r);
    }
    /// Any thread: to the driver that started `r`.
    static void io_cancel(IoRequest& r) noexcept;
    /// `run()`: with worker threads, waits until every task ended; with `threads = 0`, drives
    /// the loop until then (the calling thread must own it).
    void run();
    /// With `threads = 0`: makes the calling thread the loop's owner if none is yet; `must`:
    /// throws UsageError when another thread owns it.
    void claim(bool must);
    /// With `threads = 0`, on the owner: turns and waits until `busy()` is false.
    template <class Busy>
    void drive_while(Busy busy) noexcept {
        Worker& w = *workers_.front();
        while (busy()) {
            const bool more = w.turn();
            if (!busy()) break;  // the last one ended in that turn: nothing wakes a wait
            w.wait(!more);
        }
    }

    // ---- for the workers --------------------------------------------------------------------
    /// A task that has not started, from the shared queue, or nullptr.
    TaskHeader* take_unstarted() noexcept;
    [[nodiscard]] bool has_unstarted() const noexcept {
        return unstarted_.load(std::memory_order_seq_cst) != 0;
    }
    /// A started task's body returned (plain) or first suspended (coroutine): its slot is free.
    void unreserve(bool concurrent) noexcept { limits_.release(concurrent); }
    /// Moves tasks that have not started from another worker to `thief`; true if it got some.
    bool steal_for(Worker& thief) noexcept;
    /// True when a worker other than `me` has tasks queued that `me` could steal.
    [[nodiscard]] bool stealable_for(const Worker& me) const noexcept;
    /// Wakes an idle worker other than the caller's, if there is one not being woken already.
    void wake_idle_worker() noexcept;
    /// The worker that takes a submission from the calling thread: its own, when it runs one;
    /// else one chosen for it (the owner's, with no worker threads).
    Worker& submission_worker();
    /// Workers blocked in their driver now (a hint for spawns: queue where an idle one sees
    /// it).
    std::atomic<unsigned> idle_workers{0};

  private:
    /// Drives worker 0 on the owning thread of a backend with no worker threads, whenever
    /// that thread parks.
    class OwnerLoop final : public ParkedLoop {
      public:
        explicit OwnerLoop(Scheduler& s) noexcept : s_(s) {}
        void drive(ThreadParker& parker) noexcept override;
        void wake() noexcept override;

      private:
        Scheduler& s_;
    };

    /// Cancellation of a task's waits goes through the worker that runs them: no callback is
    /// registered on the task's stop source per wait.
    class Router final : public StopRouter {
      public:
        explicit Router(Scheduler& s) noexcept : s_(s) {}
        void stop_requested(const inplace_stop_source& source) noexcept override;

      private:
        Scheduler& s_;
    };

    void push_unstarted(TaskHeader* t) noexcept;
    /// io_start from a thread that runs no worker of this scheduler.
    void io_start_elsewhere(IoRequest& r);

    Backend& backend_;
    Options options_;
    FiberPool fibers_;
    std::vector<std::unique_ptr<Worker>> workers_;
    OwnerLoop owner_loop_;
    Router router_;

    // Tasks that have not started: a doubly linked list, so try_claim can unlink one.
    SpinLock queue_lock_;
    RunnableList queue_;
    std::atomic<std::size_t> unstarted_{0};

    std::atomic<std::size_t> next_submitter_{0};
    std::atomic<std::size_t> next_victim_{0};
    SpawnLimits limits_;

    // io.blocking's pool, started on first use; destroyed before the workers stop.
    std::mutex blocking_mutex_;
    std::unique_ptr<Threaded> blocking_;

    // threads = 0: the owning thread.
    std::mutex owner_mutex_;
    std::atomic<bool> owned_{false};
    std::thread::id owner_id_;
};

}  // namespace corio::detail
