// SPDX-License-Identifier: MIT
// A scheduler worker: one thread's ready queue of fibers and coroutines, its fibers, its
// timers, and the driver (the event source) it waits in.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "core/internal.hpp"
#include "core/routed_waits.hpp"
#include "core/runnable_queue.hpp"
#include "core/spin_lock.hpp"
#include "core/timer_heap.hpp"
#include "fiber/context.hpp"
#include "fiber/guard.hpp"
#include "fiber/stack.hpp"

#include <corio/detail/task_header.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace corio::detail {

class Driver;
class Scheduler;
class Worker;

/// The C++ runtime's per-thread exception state (the start of __cxa_eh_globals in libstdc++
/// and libc++abi): the stack of exceptions being handled and std::uncaught_exceptions(). A
/// fiber that waits inside a catch block or during unwinding must not see another fiber's, so
/// every switch saves and restores it.
struct ExceptionState {
    void* caught = nullptr;
    unsigned int uncaught = 0;
};

/// The worker the calling thread runs, or nullptr.
CORIO_TLS extern constinit thread_local Worker* t_worker;

/// Swaps the C++ runtime's exception state `eh` at a switch from a context whose slot is
/// `out` to one whose slot is `in`. A running context's slot is empty, a suspended one's holds
/// its state: when the running context has none and the next one had none, nothing is
/// written (the common case).
inline void swap_exceptions(ExceptionState& eh, ExceptionState& out, ExceptionState& in) noexcept {
    if ((reinterpret_cast<std::uintptr_t>(eh.caught) | eh.uncaught |
         reinterpret_cast<std::uintptr_t>(in.caught) | in.uncaught) == 0) [[likely]]
        return;
    out = eh;
    eh = in;
    in = ExceptionState{};
}

/// A stackful fiber running one plain task. It is its task's parker: `park` switches to the
/// worker's scheduler, `unpark` (from any thread) queues it on its worker again. A started
/// fiber only ever runs on its worker's thread.
struct Fiber final : Runnable, Parker {
    Fiber() noexcept : Runnable(&on_run) {}
    void park() noexcept override;
    void unpark() noexcept override;
    /// Suspends until unpark_local queues it; the permit is left alone (a stray unpark only
    /// leaves one, which the next park takes). On its worker's thread only.
    void park_local() noexcept override;
    void unpark_local() noexcept override;

    static void on_run(Runnable* r) noexcept;

    Context context;
    Stack stack;
    GuardInfo guard;
    Worker* owner = nullptr;
    TaskHeader* task = nullptr;
    ThreadState state;          // the fiber's thread state (t_current while it runs)
    ExceptionState exceptions;  // its exception state while another context runs
    std::atomic<std::uint32_t> permit{0};  // empty / notified / parked
    bool finished = false;
    bool made = false;  // its context is made (between two bodies once it has run one)
};

/// Fibers with their stacks, shared by a backend's workers: a fiber is taken when its task is
/// scheduled (so a failure is reported to the spawner) and given back when it ends.
class FiberPool {
  public:
    FiberPool(bool guard_pages, std::size_t max_cached) noexcept
        : guard_(guard_pages), max_cached_(max_cached) {}
    FiberPool(const FiberPool&) = delete;
    FiberPool& operator=(const FiberPool&) = delete;
    ~FiberPool();

    /// A fiber with at least `stack_size` usable bytes of stack; throws std::system_error.
    Fiber* acquire(std::size_t stack_size);
    void release(Fiber* f) noexcept;
    [[nodiscard]] static std::size_t rounded(std::size_t stack_size) noexcept;

  private:
    std::mutex mutex_;
    bool guard_;
    std::vector<Fiber*> free_;
    std::vector<Fiber*> stackless_;  // Fibers whose stacks were unmapped, kept for reuse
    std::size_t max_cached_;
};

class Worker final : public Executor {
  public:
    struct Config {
        unsigned turn_budget = 64;  // ready runnables per turn before the event loop
    };

    /// A worker of `scheduler`, for the tasks of `backend`. `router`: the backend's, whose
    /// tasks' waits on this worker it routes (or nullptr). Its driver is given next.
    Worker(Scheduler& scheduler, Backend& backend, const Config& config, FiberPool& fibers,
           StopRouter* router);
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker();

    /// Gives the worker its event source (once, before it runs).
    void set_driver(std::unique_ptr<Driver> d) noexcept;
    [[nodiscard]] Driver& driver() const noexcept { return *driver_; }
    /// The scheduler this worker belongs to (a driver offloads calls through it).
    [[nodiscard]] Scheduler& scheduler() const noexcept { return scheduler_; }

    /// The worker the calling thread runs, or nullptr.
    static Worker* current() noexcept { return t_worker; }
    /// The guard of the fiber running on the calling thread, for the fault handler.
    static const GuardInfo* running_guard() noexcept;
    /// The backend this worker belongs to.
    [[nodiscard]] Backend* backend() const noexcept { return backend_; }

    // ---- any thread --------------------------------------------------------------------------
    /// Queues `r` (a coroutine resumption or a fiber) to run on this worker.
    void post(Runnable* r) noexcept override;
    /// Before this worker is destroyed: waits until no thread outside the backend is still
    /// inside `post` (it may have published a push that ended the last task).
    void wait_for_foreign_posts() const noexcept;
    /// Arms `node` on this worker's heap.
    void add_timer(TimerNode& node);
    /// Removes `node` from the heap of the worker that holds it.
    static bool cancel_timer(TimerNode& node) noexcept;

    /// Interrupts the owner's wait in its driver (another thread posted or armed a timer);
    /// one wake-up in flight is enough.
    void wake() noexcept;
    /// Makes the worker's `loop` return after its current turn.
    void request_stop() noexcept;

    // ---- the owning thread -------------------------------------------------------------------
    /// Makes the calling thread this worker's thread (its context, signal stack, `current`),
    /// and creates the driver's event source there. Throws std::system_error; `detach` is
    /// still to be called then.
    void attach();
    void detach() noexcept;
    /// Worker thread body: turns and waits until stopped.
    void loop() noexcept;
    /// Waits in the driver for completions, a wake-up or the next timer (`block`), or only
    /// submits and completes (not `block`). The Dekker check against `post`, `report_stopped`
    /// and the driver's queued work is made here.
    void wait(bool block) noexcept;
    /// Starts a task that has not started: on its fiber (plain; `t->backend_data`, taken from
    /// the pool when it was scheduled) or here (coroutine).
    void start(TaskHeader* t) noexcept;
    /// One scheduler turn: what other threads posted, then up to `turn_budget` runnables, then
    /// the timers that are due. Returns true when ready work is left.
    bool turn() noexcept;
    /// From a fiber that used up the turn's budget and has a fiber to switch to: when the end
    /// of the turn would find nothing to do (no posts, stop reports, timers, tasks to start or
    /// steal, nothing for the driver), begins the next turn here, without leaving the fibers,
    /// and returns true.
    bool quiet_turn_end() noexcept;
    /// The earliest timer deadline (steady_clock ns), or 0 when there is none.
    std::int64_t next_deadline_ns() noexcept;
    /// Ready work, or tasks queued here that have not started.
    [[nodiscard]] bool has_ready() const noexcept { return !local_.empty() || has_news(); }
    /// What a turn takes in besides the local queue: posts from other threads, tasks queued
    /// here that have not started, stop reports.
    [[nodiscard]] bool has_news() const noexcept {
        return inbox_.load(std::memory_order_acquire) != nullptr || has_unstarted_here() ||
               stops_.pending();
    }
    /// Any thread: `source` (of a task of this backend) was stopped. On this worker's own
    /// thread the callbacks of its waits on it run at once, as a callback registered on the
    /// source would; from another thread the worker looks for them at its next turn.
    void report_stopped(const inplace_stop_source& source) noexcept {
        if (t_worker == this) {
            stops_.waits().run_stopped(&source);
            return;
        }
        // Asleep with no routed wait, it has nothing to cancel: the report waits for its next
        // turn (a wait linked then checks the stop flag itself).
        if (stops_.report(source) && sleeping_.load(std::memory_order_seq_cst) &&
            routed_while_sleeping_.load(std::memory_order_relaxed) != 0)
            wake();
    }
    // ---- tasks that have not started, spawned on this worker --------------------------------
    // Spawns on a worker queue their task here (one uncontended lock, no shared line); the
    // worker starts them, an awaiter on a worker may take one back, and an idle worker steals
    // half of them. When that queue is empty, an `io.async` task waits in a slot of the owner
    // instead (no lock at all): the task a fiber or coroutine spawns and then awaits, the
    // commonest case, never touches the queue. Other workers do not see the slot; the owner
    // starts it before its queue, at its next park or turn.
    /// On the owning thread: queues `t`.
    void push_unstarted(TaskHeader* t) noexcept;
    /// On the owning thread: takes `t` if it waits in the slot, started.
    bool take_next(TaskHeader* t) noexcept {
        if (next_unstarted_ != t) return false;
        next_unstarted_ = nullptr;
        t->start_state.store(TaskHeader::started, std::memory_order_relaxed);
        return true;
    }
    /// On the owning thread: tasks wait here, in the slot or the queue.
    [[nodiscard]] bool has_unstarted_here() const noexcept {
        return next_unstarted_ != nullptr || unstarted_count() != 0;
    }
    /// Any thread: unlinks `t` if it is still queued here (an awaiter takes it back).
    bool claim_unstarted(TaskHeader* t) noexcept;
    /// From a fiber of this worker about to wait for `t`: if `t` is a plain task queued here
    /// that has not started, starts it (its fiber joins the ready queue, so it runs when the
    /// fiber parks) and returns true.
    bool start_awaited(TaskHeader* t) noexcept;
    /// On the owning thread: moves about half of `victim`'s queued tasks here; false if none.
    bool steal_unstarted(Worker& victim) noexcept;
    [[nodiscard]] std::size_t unstarted_count() const noexcept {
        return unstarted_count_.load(std::memory_order_relaxed);
    }

    /// On the owning thread: a fiber from this worker's own cache (no lock), else the pool.
    Fiber* acquire_fiber(std::size_t stack_size);
    /// True while the owner waits in its event loop.
    [[nodiscard]] bool is_sleeping() const noexcept {
        return sleeping_.load(std::memory_order_seq_cst);
    }
    /// The fiber running now on this worker, or nullptr (a coroutine or the scheduler runs).
    [[nodiscard]] Fiber* running_fiber() const noexcept { return running_; }
    /// From the running fiber: requeue it behind the ready work and switch away.
    void yield_fiber() noexcept;
    /// From the running fiber: switch to the scheduler until something queues it again.
    void suspend_fiber(Fiber& f) noexcept;

    /// The thread that runs `loop` (none when the backend's owner drives it).
    std::thread thread;

  private:
    friend struct Fiber;
    void bind_thread() noexcept;
    void unbind_thread() noexcept;
    /// Before `sleeping_` is set: how many routed waits the owner has (none changes while it
    /// sleeps).
    void publish_routed_waits() noexcept {
        routed_while_sleeping_.store(stops_.waits().size(), std::memory_order_relaxed);
    }
    void push_local(Runnable* r) noexcept;
    Runnable* pop_local() noexcept;
    TaskHeader* pop_unstarted() noexcept;
    void drain_inbox() noexcept;
    void switch_in(Fiber& f) noexcept;
    void switch_out(Fiber& self) noexcept;
    /// From a fiber that parks with nothing ready: starts the next task that has not started
    /// here, if it is a plain one, by switching to its fiber directly. False if none.
    bool start_next_fiber(Fiber& self) noexcept;
    Fiber* prepare_fiber(TaskHeader* t) noexcept;
    /// From the running fiber `self` straight to the started or new fiber `to`.
    void switch_to_fiber(Fiber& self, Fiber& to) noexcept;
    /// Back in a fiber after a switch: gives back the stack of a fiber that ended into it.
    void landed() noexcept;
    /// Under unstarted_lock_: takes queued `t` out of this worker's queue, started.
    void take_queued(TaskHeader* t) noexcept;
    void recycle(Fiber* f) noexcept;
    void fire_due_timers() noexcept;
    static Context* fiber_main(Context* self, Context* from) noexcept;

    Scheduler& scheduler_;
    Backend* backend_;
    Config config_;
    std::unique_ptr<Driver> driver_;
    /// True while the owner waits in its driver; set and cleared around the wait, with the
    /// Dekker check against `has_ready`.
    std::atomic<bool> sleeping_{false};
    std::atomic<bool> wake_pending_{false};
    std::atomic<bool> stop_{false};

    RunnableQueue local_;  // owner only
    std::atomic<Runnable*> inbox_{nullptr};  // other threads push (LIFO), the owner drains
    std::atomic<unsigned> foreign_posts_{0};  // threads outside the backend inside `post`

    AlternateStack signal_stack_;  // installed on the thread while it runs this worker
    Context scheduler_context_;
    ExceptionState scheduler_exceptions_;
    ExceptionState* exceptions_ = nullptr;  // the thread's own, in the C++ runtime
    Fiber* running_ = nullptr;
    Fiber* retired_ = nullptr;  // a fiber that ended by switching straight to another
    std::vector<Fiber*> fiber_cache_;  // owner only: fibers of the default size, ready to reuse
    std::size_t cached_size_ = 0;      // their usable stack size
    unsigned budget_ = 0;  // runnables and fiber-to-fiber switches left this turn
    FiberPool& fibers_;

    TaskHeader* next_unstarted_ = nullptr;  // owner only: the slot (see push_unstarted)
    SpinLock unstarted_lock_;
    RunnableList unstarted_;
    std::atomic<std::size_t> unstarted_count_{0};  // written under the lock, read by thieves

    StopReports stops_;  // routed waits: the index (owner), the reports (any thread)
    std::atomic<std::size_t> routed_while_sleeping_{0};  // see publish_routed_waits

    std::mutex timer_mutex_;
    TimerHeap timers_;
    std::atomic<std::size_t> timer_count_{0};  // timers_.size(), written under the mutex
    std::atomic<TimerNode*> firing_{nullptr};
};

// ---- the hot paths of a switch, inline --------------------------------------------------------

inline void Worker::push_local(Runnable* r) noexcept { local_.push_back(r); }

inline Runnable* Worker::pop_local() noexcept { return local_.pop_front(); }

inline void Worker::switch_out(Fiber& self) noexcept {
    // Straight to the next ready fiber when there is one (one switch instead of two), as long
    // as the turn's budget lasts; else to the scheduler, which also reaps and submits.
    Runnable* next = local_.front();
    if (next != nullptr && next->run == &Fiber::on_run && next != &self &&
        (budget_ > 0 || quiet_turn_end())) {
        --budget_;
        pop_local();
        switch_to_fiber(self, *static_cast<Fiber*>(next));
        return;
    }
    // Nothing ready: start a fiber that has not started yet, straight from this one.
    if (next == nullptr && budget_ > 0 && has_unstarted_here() && start_next_fiber(self))
        return;
    switch_context(self.context, scheduler_context_);
    landed();  // resumed by the scheduler, or by a fiber that ended
}

inline void Worker::switch_to_fiber(Fiber& self, Fiber& to) noexcept {
    t_current = &to.state;
    swap_exceptions(*exceptions_, self.exceptions, to.exceptions);
    running_ = &to;
    switch_context(self.context, to.context);
    landed();  // back in `self`: whoever switched here set running_ and the thread state
}

inline void Worker::landed() noexcept {
    // A fiber that ended switched here directly: its stack is free now.
    if (retired_ != nullptr) [[unlikely]] {
        recycle(retired_);
        retired_ = nullptr;
    }
}

inline void Worker::yield_fiber() noexcept {
    Fiber* f = running_;
    push_local(f);
    switch_out(*f);
}

}  // namespace corio::detail
