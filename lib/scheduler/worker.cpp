// SPDX-License-Identifier: MIT
// The scheduler worker: ready queues, fiber switches, timers.
#include "scheduler/worker.hpp"

#include "core/registry.hpp"
#include "scheduler/driver.hpp"
#include "scheduler/scheduler.hpp"

#include <cxxabi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace corio::detail {

CORIO_TLS constinit thread_local Worker* t_worker = nullptr;

bool on_scheduler_worker() noexcept { return t_worker != nullptr; }

namespace {

constexpr std::uint32_t permit_empty = 0, permit_notified = 1, permit_parked = 2;

}  // namespace

// ---- fibers -----------------------------------------------------------------------------------

void Fiber::on_run(Runnable* r) noexcept {
    auto* f = static_cast<Fiber*>(r);
    f->owner->switch_in(*f);
}

// The permit takes one atomic operation on each side. `unpark` that finds the fiber parked
// empties the permit as it queues the fiber, so a fiber resumed by it finds its permit empty
// and its next park needs no exchange first; an unpark that finds it running leaves the permit
// notified, and the next park returns at once.
void Fiber::park() noexcept {
    std::uint32_t s = permit_empty;
    if (!permit.compare_exchange_strong(s, permit_parked, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        // Notified while running: take the permit. An exchange, not a store, so that it reads
        // (and synchronizes with) the last unpark's release.
        permit.exchange(permit_empty, std::memory_order_acquire);
        return;
    }
    // Whoever unparks queues this fiber on its own worker: it cannot run before this switch,
    // since only this thread runs it.
    owner->suspend_fiber(*this);
}

void Fiber::unpark() noexcept {
    std::uint32_t s = permit.load(std::memory_order_relaxed);
    for (;;) {
        if (s == permit_notified) {
            // Already given; order this unpark's writes before the fiber's next look.
            if (permit.compare_exchange_weak(s, permit_notified, std::memory_order_release,
                                             std::memory_order_relaxed))
                return;
            continue;
        }
        const std::uint32_t want = s == permit_parked ? permit_empty : permit_notified;
        if (permit.compare_exchange_weak(s, want, std::memory_order_acq_rel,
                                         std::memory_order_relaxed))
            break;
    }
    if (s == permit_parked) owner->post(this);
}

void Fiber::park_local() noexcept { owner->suspend_fiber(*this); }

void Fiber::unpark_local() noexcept { owner->push_local(this); }

FiberPool::~FiberPool() {
    for (Fiber* f : free_) {
        unmap_stack(f->stack);
        delete f;
    }
    for (Fiber* f : stackless_) delete f;
}

std::size_t FiberPool::rounded(std::size_t stack_size) noexcept {
    const std::size_t page = page_size();
    return (stack_size + page - 1) / page * page;
}

Fiber* FiberPool::acquire(std::size_t stack_size) {
    const std::size_t want = rounded(stack_size);
    {
        std::lock_guard lock(mutex_);
        for (std::size_t i = free_.size(); i-- > 0;) {
            if (free_[i]->stack.usable() == want) {
                Fiber* f = free_[i];
                free_[i] = free_.back();
                free_.pop_back();
                return f;
            }
        }
    }
    // Map outside the lock: mmap and mprotect cost microseconds here.
    Stack s = map_stack(want, guard_);
    Fiber* f = nullptr;
    {
        std::lock_guard lock(mutex_);
        if (!stackless_.empty()) {
            f = stackless_.back();
            stackless_.pop_back();
        }
    }
    if (f == nullptr) f = new (std::nothrow) Fiber;
    if (f == nullptr) {
        unmap_stack(s);
        throw std::bad_alloc();
    }
    f->stack = s;
    f->guard.guard_low = s.guarded ? s.base : nullptr;
    f->guard.guard_high = s.guarded ? s.bottom() : nullptr;
    f->guard.stack_size = s.usable();
    return f;
}

void FiberPool::release(Fiber* f) noexcept {
    f->task = nullptr;
    f->owner = nullptr;
    f->finished = false;
    f->permit.store(permit_empty, std::memory_order_relaxed);
    forget_stack_frames(f->stack);
    {
        std::lock_guard lock(mutex_);
        if (free_.size() < max_cached_) {
            try {
                free_.push_back(f);
                return;
            } catch (...) {
            }
        }
    }
    // Unmap outside the lock: in a process with several threads it flushes other CPUs' TLBs.
    unmap_stack(f->stack);
    f->stack = Stack{};
    f->made = false;
    // The Fiber itself is kept until the pool goes: whoever completed the fiber's last wait
    // may still be inside its unpark (the fiber saw the done bit first), so the Fiber must
    // stay a Fiber; a late unpark then only leaves a permit, and waits re-check after a park.
    std::lock_guard lock(mutex_);
    try {
        stackless_.push_back(f);
    } catch (...) {
        // Out of memory for the list: the Fiber is leaked rather than freed under an unpark.
    }
}

// ---- the worker -------------------------------------------------------------------------------

Worker::Worker(Scheduler& scheduler, Backend& backend, const Config& config, FiberPool& fibers,
               StopRouter* router)
    : scheduler_(scheduler), backend_(&backend), config_(config), fibers_(fibers),
      stops_(router) {
    fiber_cache_.reserve(64);
}

Worker::~Worker() {
    for (Fiber* f : fiber_cache_) fibers_.release(f);
}

void Worker::set_driver(std::unique_ptr<Driver> d) noexcept { driver_ = std::move(d); }

void Worker::attach() {
    bind_thread();
    driver_->attach();
}

void Worker::detach() noexcept {
    driver_->detach();
    unbind_thread();
}

void Worker::loop() noexcept {
    while (!stop_.load(std::memory_order_acquire)) {
        const bool more = turn();
        // More tasks queued here than this worker starts next, while another is idle: wake it
        // to steal some.
        if (unstarted_count() > 1 && scheduler_.idle_workers.load(std::memory_order_relaxed) != 0)
            scheduler_.wake_idle_worker();
        wait(!more);
    }
}

void Worker::request_stop() noexcept {
    stop_.store(true, std::memory_order_seq_cst);
    wake();
}

void Worker::wake() noexcept {
    // One wake-up in flight is enough: the worker clears the flag once it is awake.
    if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
    Worker* const me = t_worker;
    Driver* sender = me != nullptr && me != this && me->backend_ == backend_ ? me->driver_.get()
                                                                             : nullptr;
    driver_->wake(sender);
}

void Worker::wait(bool block) noexcept {
    if (!block) {
        driver_->wait(false, 0);
        wake_pending_.store(false, std::memory_order_release);
        return;
    }
    scheduler_.idle_workers.fetch_add(1, std::memory_order_seq_cst);
    // While it sleeps no wait is added or removed: a stop reported meanwhile needs a wake-up
    // only if there are routed waits to look at.
    publish_routed_waits();
    // Pairs with post(), add_timer() and the driver's queued work: either they see this worker
    // asleep and wake it, or this sees their work now.
    sleeping_.store(true, std::memory_order_seq_cst);
    backend_->registry().note_finished();  // a run() waiting for the last task to end
    if (has_ready() || scheduler_.has_unstarted() || stop_.load(std::memory_order_seq_cst) ||
        driver_->pending() || scheduler_.stealable_for(*this))
        block = false;
    driver_->wait(block, block ? next_deadline_ns() : 0);
    sleeping_.store(false, std::memory_order_relaxed);
    scheduler_.idle_workers.fetch_sub(1, std::memory_order_relaxed);
    wake_pending_.store(false, std::memory_order_release);
}

Fiber* Worker::acquire_fiber(std::size_t stack_size) {
    if (!fiber_cache_.empty() && FiberPool::rounded(stack_size) == cached_size_) {
        Fiber* f = fiber_cache_.back();
        fiber_cache_.pop_back();
        return f;
    }
    return fibers_.acquire(stack_size);
}


void Worker::bind_thread() noexcept {
    (void)thread_state();  // initialized, so the switches can use t_current directly
    t_state.routed = &stops_.waits();
    exceptions_ = reinterpret_cast<ExceptionState*>(abi::__cxa_get_globals());
    t_worker = this;
    init_thread_context(scheduler_context_);
    install_guard_handler(&Worker::running_guard);
    signal_stack_.install();
}

void Worker::unbind_thread() noexcept {
    if (t_worker == this) {
        t_worker = nullptr;
        t_state.routed = nullptr;
        signal_stack_.uninstall();
    }
}

void Worker::post(Runnable* r) noexcept {
    Worker* const me = t_worker;
    if (me == this) {
        push_local(r);
        return;
    }
    // A thread outside the backend is counted until its last touch of this worker: once the
    // push is visible, the task may end and the backend be destroyed, which waits for it.
    const bool foreign = me == nullptr || me->backend_ != backend_;
    if (foreign) foreign_posts_.fetch_add(1, std::memory_order_relaxed);
    Runnable* head = inbox_.load(std::memory_order_relaxed);
    do {
        r->next = head;
    } while (!inbox_.compare_exchange_weak(head, r, std::memory_order_seq_cst,
                                           std::memory_order_relaxed));
    // Pairs with the owner's store of `sleeping_` and its check of the inbox (both seq_cst):
    // either it sees this push, or this sees it asleep.
    if (sleeping_.load(std::memory_order_seq_cst)) wake();
    if (foreign) foreign_posts_.fetch_sub(1, std::memory_order_release);
}

void Worker::wait_for_foreign_posts() const noexcept {
    while (foreign_posts_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

void Worker::drain_inbox() noexcept {
    Runnable* r = inbox_.exchange(nullptr, std::memory_order_acquire);
    // The inbox is LIFO: reverse it so that posts run in order.
    Runnable* fifo = nullptr;
    while (r != nullptr) {
        Runnable* next = r->next;
        r->next = fifo;
        fifo = r;
        r = next;
    }
    while (fifo != nullptr) {
        Runnable* next = fifo->next;
        push_local(fifo);
        fifo = next;
    }
}

Fiber* Worker::prepare_fiber(TaskHeader* t) noexcept {
    auto* f = static_cast<Fiber*>(t->backend_data);
    t->backend_data = nullptr;
    f->owner = this;
    f->task = t;
    f->finished = false;
    t->stop.set_route_hint(this);
    f->guard.task_id = t->id;
    f->state = ThreadState{t, f, nullptr, &stops_.waits()};
    f->exceptions = ExceptionState{};
    // A fiber that ran a body before is suspended in its first frame, ready to run the next.
    if (!f->made) {
        make_context(f->context, f->stack, &fiber_main);
        f->context.owner = f;
        f->made = true;
    }
    return f;
}

void Worker::start(TaskHeader* t) noexcept {
    // Its waits run here from now on: cancelling it tells this worker alone.
    t->stop.set_route_hint(this);
    if (t->coroutine) {
        const bool concurrent = t->concurrent;
        t->executor = this;
        run_task_here(t);  // to its first suspension; t may be gone from here on
        scheduler_.unreserve(concurrent);
        return;
    }
    switch_in(*prepare_fiber(t));
}

Context* Worker::fiber_main(Context* self, Context* /*from*/) noexcept {
    auto* f = static_cast<Fiber*>(self->owner);
    Worker* w = f->owner;
    w->landed();  // a fiber that ended may have switched here, to a fiber that had not run
    const bool concurrent = f->task->concurrent;
    run_task_here(f->task);  // the task may be gone from here on
    w->scheduler_.unreserve(concurrent);
    f->finished = true;
    // Straight to the next ready fiber while the turn's budget lasts (often the fiber that
    // awaited this one): it gives this fiber's stack back once it landed.
    Runnable* next = w->local_.front();
    if (next != nullptr && next->run == &Fiber::on_run && (w->budget_ > 0 || w->quiet_turn_end())) {
        --w->budget_;
        w->pop_local();
        auto* to = static_cast<Fiber*>(next);
        t_current = &to->state;
        // An ending fiber has no exception in flight: its slot stays empty.
        swap_exceptions(*w->exceptions_, f->exceptions, to->exceptions);
        w->running_ = to;
        w->retired_ = f;
        return &to->context;
    }
    return &w->scheduler_context_;
}

void Worker::recycle(Fiber* f) noexcept {
    // Kept on this worker when there is room (no lock), else back to the shared pool.
    constexpr std::size_t worker_cache = 64;
    const std::size_t size = f->stack.usable();
    if (fiber_cache_.empty()) cached_size_ = size;
    if (size == cached_size_ && fiber_cache_.size() < worker_cache &&
        fiber_cache_.capacity() >= worker_cache) {
        f->finished = false;
        f->task = nullptr;
        f->permit.store(permit_empty, std::memory_order_relaxed);
        forget_stack_frames(f->stack);
        fiber_cache_.push_back(f);
    } else {
        fibers_.release(f);
    }
}

void Worker::switch_in(Fiber& f) noexcept {
    ThreadState* const mine = t_current;
    t_current = &f.state;
    swap_exceptions(*exceptions_, scheduler_exceptions_, f.exceptions);
    running_ = &f;
    switch_context(scheduler_context_, f.context);
    // Back on the scheduler: the fiber running now (f, or one f switched to directly) parked,
    // yielded or ended.
    Fiber* back = running_;
    running_ = nullptr;
    t_current = mine;
    swap_exceptions(*exceptions_, back->exceptions, scheduler_exceptions_);
    if (back->finished) recycle(back);
}

const GuardInfo* Worker::running_guard() noexcept {
    const Worker* w = t_worker;
    const Fiber* f = w != nullptr ? w->running_ : nullptr;
    return f != nullptr ? &f->guard : nullptr;
}

bool Worker::start_next_fiber(Fiber& self) noexcept {
    TaskHeader* t = next_unstarted_;
    if (t != nullptr) {
        // A coroutine starts on the scheduler's stack, not on a fiber's.
        if (t->coroutine) return false;
        take_next(t);
    } else {
        std::lock_guard lock(unstarted_lock_);
        auto* front = static_cast<TaskHeader*>(unstarted_.front());
        // A coroutine starts on the scheduler's stack, not on a fiber's.
        if (front == nullptr || front->coroutine) return false;
        take_queued(front);
        t = front;
    }
    --budget_;
    switch_to_fiber(self, *prepare_fiber(t));
    return true;
}

void Worker::suspend_fiber(Fiber& f) noexcept { switch_out(f); }

bool Worker::start_awaited(TaskHeader* t) noexcept {
    if (t->coroutine) return false;
    if (!take_next(t) &&
        (t->run_queue.load(std::memory_order_relaxed) != this || !claim_unstarted(t)))
        return false;
    push_local(prepare_fiber(t));
    return true;
}

void Worker::push_unstarted(TaskHeader* t) noexcept {
    // The slot keeps the spawn order: it takes a task only when none is queued, and is started
    // first. `concurrent` tasks always go to the queue, where an idle worker can steal them.
    if (next_unstarted_ == nullptr && !t->concurrent && unstarted_count() == 0) {
        t->run_queue.store(nullptr, std::memory_order_relaxed);  // in no queue: others wait
        next_unstarted_ = t;
        return;
    }
    std::lock_guard lock(unstarted_lock_);
    t->run_queue.store(this, std::memory_order_relaxed);
    unstarted_.push_back(t);
    unstarted_count_.store(unstarted_count_.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
}

void Worker::take_queued(TaskHeader* t) noexcept {
    unstarted_.unlink(t);
    unstarted_count_.store(unstarted_count_.load(std::memory_order_relaxed) - 1,
                           std::memory_order_relaxed);
    t->run_queue.store(nullptr, std::memory_order_relaxed);
    t->start_state.store(TaskHeader::started, std::memory_order_relaxed);
}

TaskHeader* Worker::pop_unstarted() noexcept {
    if (TaskHeader* t = next_unstarted_) {
        take_next(t);
        return t;
    }
    if (unstarted_count() == 0) return nullptr;
    std::lock_guard lock(unstarted_lock_);
    auto* t = static_cast<TaskHeader*>(unstarted_.front());
    if (t != nullptr) take_queued(t);
    return t;
}

bool Worker::claim_unstarted(TaskHeader* t) noexcept {
    std::lock_guard lock(unstarted_lock_);
    if (t->run_queue.load(std::memory_order_relaxed) != this ||
        t->start_state.load(std::memory_order_relaxed) != TaskHeader::queued)
        return false;
    take_queued(t);
    return true;
}

bool Worker::steal_unstarted(Worker& victim) noexcept {
    if (victim.unstarted_count() == 0) return false;
    RunnableList taken;
    std::size_t n = 0;
    {
        std::lock_guard lock(victim.unstarted_lock_);
        const std::size_t have = victim.unstarted_count_.load(std::memory_order_relaxed);
        const std::size_t want = (have + 1) / 2;
        for (; n < want; ++n) {
            Runnable* r = victim.unstarted_.pop_front();
            // In transit: an awaiter that looks now finds it in no queue, and waits for it.
            static_cast<TaskHeader*>(r)->run_queue.store(nullptr, std::memory_order_relaxed);
            taken.push_back(r);
        }
        victim.unstarted_count_.store(have - n, std::memory_order_relaxed);
    }
    if (n == 0) return false;
    std::lock_guard lock(unstarted_lock_);
    while (Runnable* r = taken.pop_front()) {
        static_cast<TaskHeader*>(r)->run_queue.store(this, std::memory_order_relaxed);
        unstarted_.push_back(r);
    }
    unstarted_count_.store(unstarted_count_.load(std::memory_order_relaxed) + n,
                           std::memory_order_relaxed);
    return true;
}

bool Worker::quiet_turn_end() noexcept {
    // What turn() and wait(false) would look at, read without a lock or a system call; a wake-up
    // sent meanwhile stays in the driver for the next wait (`wake_pending_` stays set).
    if (has_news() || timer_count_.load(std::memory_order_relaxed) != 0 ||
        scheduler_.has_unstarted() || stop_.load(std::memory_order_relaxed) || !driver_->idle())
        return false;
    budget_ = config_.turn_budget;
    return true;
}

bool Worker::turn() noexcept {
    // One budget for the turn: runnables it runs and fiber-to-fiber switches alike, so the
    // worker enters the kernel after at most `turn_budget` of either.
    budget_ = config_.turn_budget;
    stops_.run();
    drain_inbox();
    // One task that has not started yet from each queue per turn, even when ready work never
    // runs out: the shared one (spawned by other threads), then this worker's own.
    if (TaskHeader* t = scheduler_.take_unstarted()) {
        --budget_;
        start(t);
    }
    if (budget_ > 0) {
        if (TaskHeader* t = pop_unstarted()) {
            --budget_;
            start(t);
        }
    }
    while (budget_ > 0) {
        if (Runnable* r = pop_local()) {
            --budget_;
            r->run(r);
        } else if (TaskHeader* t = pop_unstarted()) {
            --budget_;
            start(t);
        } else if (TaskHeader* t2 = scheduler_.take_unstarted()) {
            --budget_;
            start(t2);
        } else if (!scheduler_.steal_for(*this)) {
            break;
        }
    }
    fire_due_timers();
    return has_ready();
}

// ---- timers -----------------------------------------------------------------------------------

void Worker::add_timer(TimerNode& node) {
    bool earliest = false;
    {
        std::lock_guard lock(timer_mutex_);
        node.owner = this;
        earliest = timers_.push(node);
        timer_count_.store(timers_.size(), std::memory_order_seq_cst);
    }
    if (earliest && t_worker != this && sleeping_.load(std::memory_order_seq_cst)) wake();
}

bool Worker::cancel_timer(TimerNode& node) noexcept {
    auto* w = static_cast<Worker*>(node.owner);
    if (w == nullptr) return false;
    {
        std::lock_guard lock(w->timer_mutex_);
        if (w->timers_.contains(node)) {
            w->timers_.remove(node);
            w->timer_count_.store(w->timers_.size(), std::memory_order_relaxed);
            return true;
        }
    }
    // Fired, or firing on the worker's thread now: wait until `fire` returned.
    while (w->firing_.load(std::memory_order_acquire) == &node) std::this_thread::yield();
    return false;
}

std::int64_t Worker::next_deadline_ns() noexcept {
    // No lock when there is no timer. seq_cst: called after the owner announced its sleep,
    // against add_timer's count then its check of that announcement (it wakes the sleeper).
    if (timer_count_.load(std::memory_order_seq_cst) == 0) return 0;
    std::lock_guard lock(timer_mutex_);
    if (timers_.empty()) return 0;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               timers_.top()->deadline.time_since_epoch())
        .count();
}

void Worker::fire_due_timers() noexcept {
    if (timer_count_.load(std::memory_order_relaxed) == 0) return;  // seen at the next turn
    std::unique_lock lock(timer_mutex_);
    if (timers_.empty()) return;
    const auto now = std::chrono::steady_clock::now();
    while (!timers_.empty() && timers_.top()->deadline <= now) {
        TimerNode* top = timers_.pop();
        timer_count_.store(timers_.size(), std::memory_order_relaxed);
        firing_.store(top, std::memory_order_relaxed);
        lock.unlock();
        top->fire(top);
        firing_.store(nullptr, std::memory_order_release);
        lock.lock();
    }
}

}  // namespace corio::detail
