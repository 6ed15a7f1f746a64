// SPDX-License-Identifier: MIT
// The scheduler: workers and their threads, tasks that have not started, stealing, the
// caller-driven loop, timers, and the routing of I/O requests to the workers' drivers.
#include "scheduler/scheduler.hpp"

#include "core/fault.hpp"
#include "core/registry.hpp"

#include <corio/error.hpp>
#include <corio/threaded.hpp>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <system_error>

namespace corio::detail {

namespace {

// Why the last schedule on this thread failed (empty: it did not), for the
// ConcurrencyUnavailable that follows. A fixed buffer: a thread-local with a destructor would
// make glibc allocate when a thread first uses it, and abort if it cannot. (Not initial-exec:
// the static TLS block a dlopen may take from is small.)
constinit thread_local char t_schedule_failure[1024] = {};

void set_schedule_failure(const char* why) noexcept {
    std::snprintf(t_schedule_failure, sizeof t_schedule_failure, "%s", why);
}

}  // namespace

// ---- construction and teardown ----------------------------------------------------------------

Scheduler::Scheduler(Backend& backend, const Options& options, const MakeDriver& make_driver)
    : backend_(backend), options_(options), fibers_(options.guard_pages, options.cached_fibers),
      owner_loop_(*this), router_(*this),
      limits_(options.async_limit, options.concurrent_limit) {
    const Worker::Config config{.turn_budget = options.turn_budget == 0 ? 1 : options.turn_budget};
    const unsigned n = options.threads == 0 ? 1 : options.threads;
    workers_.reserve(n);
    for (unsigned i = 0; i < n; ++i) {
        auto w = std::make_unique<Worker>(*this, backend, config, fibers_, &router_);
        w->set_driver(make_driver(*w));
        workers_.push_back(std::move(w));
    }
    backend.registry().set_stop_router(&router_);
}

Scheduler::~Scheduler() = default;

void Scheduler::start() {
    if (options_.threads == 0) return;
    // Each driver attaches on its worker's thread; wait for all of them, and fail as a whole.
    // The threads use this frame's state until they have reported, so every thread started is
    // waited for before this returns or throws, whether or not the next one could start.
    const std::size_t n = workers_.size();
    std::mutex m;
    std::condition_variable cv;
    std::size_t started = 0;
    std::size_t reported = 0;
    std::exception_ptr error;
    std::exception_ptr start_error;  // this thread's own: a thread that could not start
    for (std::size_t i = 0; i < n && !start_error; ++i) {
        Worker* worker = workers_[i].get();
        try {
            if (const int e = fault_at(fault::Site::thread_start); e != 0)
                throw std::system_error(e, std::generic_category());
            worker->thread = std::thread([worker, &m, &cv, &reported, &error] {
                bool ok = true;
                try {
                    worker->attach();
                } catch (...) {
                    ok = false;
                    worker->detach();
                    std::lock_guard lock(m);
                    if (!error) error = std::current_exception();
                }
                {
                    // Notified under the lock: the starter destroys `cv` once it saw the count.
                    std::lock_guard lock(m);
                    ++reported;
                    cv.notify_all();
                }
                if (!ok) return;
                worker->loop();
                worker->detach();
            });
            ++started;
        } catch (const std::system_error& e) {
            start_error = std::make_exception_ptr(std::system_error(
                e.code(), std::string("corio: ") + options_.name +
                              ": cannot start worker thread " + std::to_string(i + 1) + " of " +
                              std::to_string(n)));
        }
    }
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return reported == started; });
    if (start_error) error = start_error;  // before a driver's: it is what stopped the start
    if (!error) return;
    lock.unlock();
    for (auto& w : workers_) w->request_stop();
    for (auto& w : workers_)
        if (w->thread.joinable()) w->thread.join();
    std::rethrow_exception(error);
}

void Scheduler::stop_blocking_pool() noexcept {
    // Blocking tasks are owned by futures that are gone by now: the pool only reaps orphans.
    std::lock_guard lock(blocking_mutex_);
    blocking_.reset();
}

void Scheduler::check_owner_destroys() const noexcept {
    if (owned() && owner_id_ != std::this_thread::get_id()) {
        std::fprintf(stderr,
                     "corio: an %s{threads = 0} must be destroyed by the thread that drives it\n",
                     options_.name);
        std::abort();
    }
}

void Scheduler::stop() noexcept {
    if (options_.threads == 0) {
        if (owned()) {
            this_thread_parker().set_loop(nullptr);
            workers_.front()->detach();
        }
    } else {
        for (auto& w : workers_) w->request_stop();
        for (auto& w : workers_)
            if (w->thread.joinable()) w->thread.join();
    }
    for (auto& w : workers_) w->wait_for_foreign_posts();
}

// ---- the caller-driven loop -------------------------------------------------------------------

void Scheduler::OwnerLoop::drive(ThreadParker& parker) noexcept {
    Worker& w = *s_.workers_.front();
    for (;;) {
        if (parker.try_take()) return;
        const bool more = w.turn();
        if (parker.try_take()) return;
        if (more || s_.unstarted_.load(std::memory_order_relaxed) != 0) {
            w.wait(false);
            continue;
        }
        if (!parker.begin_block()) return;  // a permit came
        w.wait(true);
        if (parker.end_block()) return;
    }
}

void Scheduler::OwnerLoop::wake() noexcept { s_.workers_.front()->wake(); }

void Scheduler::claim(bool must) {
    if (options_.threads != 0) return;
    if (owned_.load(std::memory_order_acquire)) {
        if (must && owner_id_ != std::this_thread::get_id())
            throw UsageError(std::errc::operation_not_permitted,
                             std::string("corio: ") + options_.name +
                                 "{threads = 0} is driven by the thread that owns it; another "
                                 "thread cannot run it");
        return;
    }
    std::lock_guard lock(owner_mutex_);
    if (owned_.load(std::memory_order_relaxed)) return;
    Worker& w = *workers_.front();
    try {
        w.attach();
    } catch (...) {
        w.detach();
        throw;
    }
    this_thread_parker().set_loop(&owner_loop_);
    owner_id_ = std::this_thread::get_id();
    owned_.store(true, std::memory_order_release);
}

void Scheduler::run() {
    if (options_.threads != 0) {
        backend_.registry().wait_until_finished();
        return;
    }
    claim(true);
    Worker& w = *workers_.front();
    for (;;) {
        const bool more = w.turn();
        if (more || unstarted_.load(std::memory_order_relaxed) != 0) {
            w.wait(false);
            continue;
        }
        // Nothing ready: done when every task has ended (futures may still hold their
        // results), else wait for what they wait on.
        if (backend_.registry().unfinished() == 0) return;
        w.wait(true);
    }
}

// ---- cancellation routing ---------------------------------------------------------------------

void Scheduler::Router::stop_requested(const inplace_stop_source& source) noexcept {
    // A task a worker started waits only there. One that has not started (or runs inline on
    // some worker's thread) may wait on any: each looks the source up in its own index.
    if (Worker* hint = source.route_hint()) {
        hint->report_stopped(source);
        return;
    }
    for (auto& w : s_.workers_) w->report_stopped(source);
}

// ---- tasks ------------------------------------------------------------------------------------

void Scheduler::push_unstarted(TaskHeader* t) noexcept {
    std::lock_guard lock(queue_lock_);
    queue_.push_back(t);
    unstarted_.fetch_add(1, std::memory_order_seq_cst);
}

TaskHeader* Scheduler::take_unstarted() noexcept {
    if (unstarted_.load(std::memory_order_relaxed) == 0) return nullptr;
    TaskHeader* t = nullptr;
    std::size_t left = 0;
    {
        std::lock_guard lock(queue_lock_);
        t = static_cast<TaskHeader*>(queue_.pop_front());
        if (t == nullptr) return nullptr;
        left = unstarted_.fetch_sub(1, std::memory_order_relaxed) - 1;
        t->run_queue.store(nullptr, std::memory_order_relaxed);
        t->start_state.store(TaskHeader::started, std::memory_order_relaxed);
    }
    // More are waiting while a worker sleeps: wake it too, so that a task this worker runs
    // for long does not hold up the ones behind it.
    if (left != 0 && idle_workers.load(std::memory_order_relaxed) != 0) wake_idle_worker();
    return t;
}

bool Scheduler::steal_for(Worker& thief) noexcept {
    const std::size_t n = workers_.size();
    if (n < 2) return false;
    // Start at a different victim each time, so thieves spread over the busy workers.
    const std::size_t first = next_victim_.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) {
        Worker& victim = *workers_[(first + i) % n];
        if (&victim != &thief && thief.steal_unstarted(victim)) return true;
    }
    return false;
}

bool Scheduler::stealable_for(const Worker& me) const noexcept {
    for (const auto& w : workers_)
        if (w.get() != &me && w->unstarted_count() != 0) return true;
    return false;
}

void Scheduler::wake_idle_worker() noexcept {
    // A worker already being woken is not woken twice; when it takes a task and more wait, it
    // wakes another in turn.
    Worker* me = current_worker();
    for (auto& w : workers_) {
        if (w.get() != me && w->is_sleeping()) {
            w->wake();
            return;
        }
    }
}

Worker& Scheduler::submission_worker() {
    if (Worker* w = current_worker()) return *w;
    if (options_.threads == 0) {
        claim(false);
        return *workers_.front();
    }
    const std::size_t i = next_submitter_.fetch_add(1, std::memory_order_relaxed);
    return *workers_[i % workers_.size()];
}

bool Scheduler::schedule(TaskHeader& t, SpawnKind kind) noexcept {
    if (!t.coroutine) {
        try {
            const std::size_t size = t.stack_size != 0 ? t.stack_size : options_.stack_size;
            Worker* me = current_worker();
            t.backend_data = me != nullptr ? me->acquire_fiber(size) : fibers_.acquire(size);
        } catch (const std::exception& e) {
            set_schedule_failure(e.what());
            unreserve(kind == SpawnKind::concurrent);
            return false;
        }
    }
    if (options_.threads == 0 && !owned()) {
        try {
            claim(false);
        } catch (const std::exception& e) {
            if (t.backend_data != nullptr) {
                fibers_.release(static_cast<Fiber*>(t.backend_data));
                t.backend_data = nullptr;
            }
            set_schedule_failure(e.what());
            unreserve(kind == SpawnKind::concurrent);
            return false;
        }
    }
    t.executor = nullptr;
    t.start_state.store(TaskHeader::queued, std::memory_order_relaxed);
    // On a worker, while no worker is idle: queued on the spawning worker (no shared lock;
    // others steal from it when they run out of work). Else in the shared queue, and an idle
    // worker is woken to take it.
    Worker* me = current_worker();
    if (me != nullptr && idle_workers.load(std::memory_order_relaxed) == 0) {
        me->push_unstarted(&t);
        return true;
    }
    t.run_queue.store(this, std::memory_order_relaxed);
    push_unstarted(&t);
    wake_idle_worker();
    return true;
}

std::string Scheduler::schedule_failure() const {
    if (t_schedule_failure[0] != '\0') return t_schedule_failure;
    return "no thread or fiber could be started";
}

bool Scheduler::try_claim(TaskHeader& t) noexcept {
    if (!t.claimable) return false;
    if (t.start_state.load(std::memory_order_relaxed) != TaskHeader::queued) return false;
    // Only a worker's own thread takes a task back: a coroutine resumes on the worker that
    // started it, and a plain task run by another thread would make its I/O take the slow
    // path through another thread. A fiber does not take back a plain task either: run on the
    // awaiter's stack it would ignore its own stack size, and chains of awaits would nest on
    // one small stack. What is left is the owning thread of `threads = 0` outside any fiber,
    // and coroutines awaited on a worker.
    Worker* me = current_worker();
    if (me == nullptr) return false;
    if (!t.coroutine && me->running_fiber() != nullptr) {
        // A fiber starts it on its own fiber instead, if it is queued on this worker: it runs
        // once the awaiter parks, and ends here, so the awaiter's wait is local.
        me->start_awaited(&t);
        return false;
    }
    for (;;) {
        if (me->take_next(&t)) break;  // in this worker's slot
        // Moves only while queued (a thief takes it), under the locks of the queues.
        void* queue = t.run_queue.load(std::memory_order_relaxed);
        if (queue == this) {
            std::lock_guard lock(queue_lock_);
            if (t.run_queue.load(std::memory_order_relaxed) != this) continue;
            if (t.start_state.load(std::memory_order_relaxed) != TaskHeader::queued) return false;
            t.start_state.store(TaskHeader::started, std::memory_order_relaxed);
            t.run_queue.store(nullptr, std::memory_order_relaxed);
            queue_.unlink(&t);
            unstarted_.fetch_sub(1, std::memory_order_relaxed);
            break;
        }
        if (queue == nullptr) return false;  // started
        if (static_cast<Worker*>(queue)->claim_unstarted(&t)) break;
        if (t.start_state.load(std::memory_order_acquire) != TaskHeader::queued) return false;
    }
    if (t.backend_data != nullptr) {
        fibers_.release(static_cast<Fiber*>(t.backend_data));
        t.backend_data = nullptr;
    }
    if (t.coroutine) t.executor = me;
    unreserve(t.concurrent);
    return true;
}

void Scheduler::yield_plain() {
    Worker* w = current_worker();
    if (w != nullptr && w->running_fiber() != nullptr) {
        w->yield_fiber();
        return;
    }
    if (w != nullptr) {  // the owning thread of threads = 0, outside any fiber
        w->turn();
        w->wait(false);
        return;
    }
    std::this_thread::yield();
}

// ---- timers -----------------------------------------------------------------------------------

void Scheduler::add_timer(TimerNode& node) {
    // On a worker: its timer heap, whose earliest deadline bounds its driver's wait. From any
    // other thread: the heap of worker 0.
    Worker* w = current_worker();
    if (w == nullptr) {
        if (options_.threads == 0) claim(false);
        w = workers_.front().get();
    }
    node.slot = nullptr;
    w->add_timer(node);
}

bool Scheduler::cancel_timer(TimerNode& node) noexcept { return Worker::cancel_timer(node); }

// ---- the blocking pool ------------------------------------------------------------------------

Backend& Scheduler::blocking_backend() {
    std::lock_guard lock(blocking_mutex_);
    if (!blocking_)
        blocking_ = std::make_unique<Threaded>(
            Threaded::Options{.async_limit = 0, .concurrent_limit = options_.blocking_threads});
    return *blocking_;
}

bool Scheduler::run_detached(Runnable& job) noexcept {
    try {
        return blocking_backend().run_detached(job);
    } catch (...) {
        return false;  // no pool: the caller runs it
    }
}

// ---- I/O requests -----------------------------------------------------------------------------

void Scheduler::io_start_elsewhere(IoRequest& r) {
    Worker& w = submission_worker();  // (with threads = 0, claims the loop: it may throw)
    Runnable& first = w.driver().prepare(r);
    w.post(&first);
}

void Scheduler::io_cancel(IoRequest& r) noexcept { driver_request(r).driver->cancel(r); }

}  // namespace corio::detail
