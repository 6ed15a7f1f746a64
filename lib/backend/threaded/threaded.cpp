// SPDX-License-Identifier: MIT
// The Threaded backend.
//
// One run queue (a mutex and an intrusive list) of Runnables: tasks to start and coroutines to
// resume. Every task pushed is matched by a thread: an idle one is handed a token and unparked
// (idle threads wait on their own ThreadParker, newest first, so the adaptive spin of a busy
// thread catches the next hand-off and a thread idle for long sleeps at once), or a new one is
// started, so a queued task never waits behind tasks that block. Coroutine resumptions
// only need some thread that is not blocked in plain code: one is started when none is idle and
// none is running a resumption. An awaiter may take back a task that has not started and run it
// itself. One timer thread keeps a binary heap of TimerNodes.
#include "backend/threaded/interrupt.hpp"
#include "core/fault.hpp"
#include "core/internal.hpp"
#include "core/local_loop.hpp"
#include "core/registry.hpp"
#include "core/runnable_queue.hpp"
#include "core/spawn_limits.hpp"
#include "core/timer_heap.hpp"

#include <corio/threaded.hpp>

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <new>
#include <thread>
#include <type_traits>
#include <vector>

namespace corio {

namespace {

/// A coroutine's I/O request while a pool thread performs it (in the request's backend state).
struct PoolIo {
    detail::Runnable job;
    detail::IoRequest* request;
    int signo;
    detail::IoInterrupt interrupt;

    static void run(detail::Runnable* r) noexcept {
        PoolIo* self = reinterpret_cast<PoolIo*>(r);  // `job` is the first member
        self->interrupt.perform(*self->request, self->signo);
        self->request->finish(*self->request);  // the request may be gone from here on
    }
};
static_assert(sizeof(PoolIo) <= sizeof(detail::IoRequest::backend_state));
static_assert(std::is_trivially_destructible_v<PoolIo>);
static_assert(std::is_standard_layout_v<PoolIo>);

PoolIo& pool_io(detail::IoRequest& r) noexcept {
    return *std::launder(reinterpret_cast<PoolIo*>(r.backend_state));
}

/// Starts a detached thread with the given stack size; false when the OS refuses.
template <class F>
bool start_thread(std::size_t stack_size, F fn) noexcept {
    if (detail::fault_at(fault::Site::thread_start) != 0) return false;
    auto* heap_fn = new (std::nothrow) F(std::move(fn));
    if (heap_fn == nullptr) return false;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (stack_size != 0) pthread_attr_setstacksize(&attr, stack_size);
    pthread_t tid;
    const int rc = pthread_create(
        &tid, &attr,
        [](void* p) -> void* {
            auto* f = static_cast<F*>(p);
            (*f)();
            delete f;
            return nullptr;
        },
        heap_fn);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        delete heap_fn;
        return false;
    }
    return true;
}

}  // namespace

struct Threaded::Impl final : detail::Executor {
    explicit Impl(Threaded& owner, Options o) : self(owner), options(o) {}

    Threaded& self;
    Options options;

    // ---- run queue --------------------------------------------------------------------------
    /// An idle thread, on its own stack while it waits: a stack of them, newest on top.
    struct IdleThread {
        detail::ThreadParker* parker = nullptr;
        IdleThread* next = nullptr;
        std::atomic<bool> token{false};  // set under `mutex` by whoever hands it work
        // Unparks handed over with a token and not yet returned: the thread must not exit (and
        // free its parker and this record) before they have. A count, not a flag: the thread
        // can be woken, go idle and be handed a token again before the first waker's unpark
        // returned, and that waker must not clear the second one's mark.
        std::atomic<unsigned> unparks_pending{0};
    };

    mutable std::mutex mutex;
    std::condition_variable exit_cv;
    IdleThread* idle_top = nullptr;
    detail::RunnableList queue;
    detail::RunnableList jobs;  // work that blocks and is no task: coroutines' I/O, lookups
    std::size_t threads = 0;
    std::atomic<std::size_t> idle{0};  // written under `mutex`; read by a spawner deciding
    std::size_t coroutine_runners = 0;
    // Tasks reserved or running on pool threads, by kind: atomics, so that `reserve` (every
    // io.async) takes no lock.
    detail::SpawnLimits limits{options.async_limit, options.concurrent_limit};
    bool stopping = false;

    // ---- timers ------------------------------------------------------------------------------
    std::mutex timer_mutex;
    std::condition_variable timer_cv;
    detail::TimerHeap heap;
    detail::TimerNode* firing = nullptr;
    bool timer_stopping = false;
    bool timer_thread_running = false;

    /// Gives a token to the newest idle thread; the caller passes it to `wake` once it has
    /// released the mutex, so the woken thread does not wake only to block on the mutex.
    IdleThread* claim_idle_locked() noexcept {
        IdleThread* t = idle_top;
        if (t == nullptr) return nullptr;
        idle_top = t->next;
        idle.store(idle.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        t->unparks_pending.fetch_add(1, std::memory_order_relaxed);
        t->token.store(true, std::memory_order_release);
        return t;
    }
    static void wake(IdleThread* t) noexcept {
        t->parker->unpark();
        t->unparks_pending.fetch_sub(1, std::memory_order_release);
    }
    void remove_idle_locked(IdleThread* t) noexcept {
        for (IdleThread** p = &idle_top; *p != nullptr; p = &(*p)->next) {
            if (*p == t) {
                *p = t->next;
                idle.store(idle.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
                return;
            }
        }
    }
    bool spawn_locked() noexcept {
        if (!start_thread(options.stack_size, [this] { worker(); })) return false;
        ++threads;
        return true;
    }

    static void start_task(detail::Runnable* r) noexcept {
        auto* t = static_cast<detail::TaskHeader*>(r);
        Impl& impl = *static_cast<Threaded*>(t->backend)->impl_;
        const bool concurrent = t->concurrent;
        detail::run_task_here(t);  // t may be gone from here on
        impl.limits.release(concurrent);
    }

    /// How long `schedule` waits for a worker to come back before it starts a new thread.
    static constexpr unsigned spin_before_spawn = 5000;

    /// Waits, `lock` released, until handed a token (true) or idle for `idle_timeout` (false:
    /// the thread exits). `lock` is held again on return.
    bool wait_idle(IdleThread& self, std::unique_lock<std::mutex>& lock) noexcept {
        self.token.store(false, std::memory_order_relaxed);
        self.next = idle_top;
        idle_top = &self;
        idle.store(idle.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        lock.unlock();
        // A timeout beyond a century is no timeout (and would overflow in nanoseconds).
        const auto timeout = options.idle_timeout;
        const std::int64_t deadline =
            timeout > std::chrono::hours(24 * 365 * 100)
                ? 0
                : detail::steady_now_ns() +
                      std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
        for (;;) {
            const bool unparked = self.parker->park_until(deadline);
            if (self.token.load(std::memory_order_acquire)) break;
            if (!unparked) break;  // timed out; a token may still come before the lock
        }
        lock.lock();
        if (self.token.load(std::memory_order_relaxed)) return true;
        remove_idle_locked(&self);
        return false;
    }

    void worker() noexcept {
        IdleThread self;
        self.parker = &detail::this_thread_parker();
        std::unique_lock lock(mutex);
        for (;;) {
            detail::Runnable* r = jobs.pop_front();
            const bool is_job = r != nullptr;
            if (r == nullptr) r = queue.pop_front();
            if (r != nullptr) {
                const bool is_task = !is_job && r->run == &start_task;
                // Tasks and jobs may block; resumptions run coroutines, which never do.
                const bool is_resumption = !is_job && !is_task;
                if (is_task)
                    static_cast<detail::TaskHeader*>(r)->start_state.store(
                        detail::TaskHeader::started, std::memory_order_relaxed);
                else if (is_resumption)
                    ++coroutine_runners;
                lock.unlock();
                r->run(r);
                lock.lock();
                if (is_resumption) --coroutine_runners;
                continue;
            }
            if (stopping) break;
            if (!wait_idle(self, lock)) break;
        }
        // An unpark handed over with an earlier token may still be on its way to this parker.
        while (self.unparks_pending.load(std::memory_order_acquire) != 0) {
            lock.unlock();
            std::this_thread::yield();
            lock.lock();
        }
        --threads;
        exit_cv.notify_all();
    }

    // Executor: coroutine resumptions of tasks on this pool.
    void post(detail::Runnable* r) noexcept override {
        std::unique_lock lock(mutex);
        queue.push_back(r);
        if (IdleThread* t = claim_idle_locked()) {
            lock.unlock();
            wake(t);
            return;
        }
        if (coroutine_runners == 0 && !spawn_locked()) {
            std::fputs("corio: Threaded could not start a thread to resume a coroutine\n", stderr);
            std::abort();
        }
    }

    /// Queues a job that may block (a coroutine's I/O) with a thread for it, as `schedule` does
    /// for a task; false when no thread could be started.
    bool post_job(detail::Runnable* r) noexcept {
        std::unique_lock lock(mutex);
        if (idle == 0 && !spawn_locked()) return false;
        jobs.push_back(r);
        if (IdleThread* t = claim_idle_locked()) {
            lock.unlock();
            wake(t);
        }
        return true;
    }

    // ---- timer thread ------------------------------------------------------------------------
    void timer_loop() noexcept {
        std::unique_lock lock(timer_mutex);
        while (!timer_stopping) {
            if (heap.empty()) {
                timer_cv.wait(lock);
                continue;
            }
            detail::TimerNode* top = heap.top();
            const auto deadline = top->deadline;  // the node may be cancelled while we wait
            if (deadline > std::chrono::steady_clock::now()) {
                timer_cv.wait_until(lock, deadline);
                continue;
            }
            heap.pop();
            firing = top;
            lock.unlock();
            top->fire(top);
            lock.lock();
            firing = nullptr;
            timer_cv.notify_all();
        }
        timer_thread_running = false;
        timer_cv.notify_all();
    }
};

std::size_t Threaded::default_async_limit() noexcept {
    const unsigned n = std::thread::hardware_concurrency();
    return n > 1 ? n - 1 : 1;
}

Threaded::Threaded() : Threaded(Options{}) {}

Threaded::Threaded(Options options) : impl_(std::make_unique<Impl>(*this, options)) {
    detail::install_interrupt_handler(interrupt_signal());
}

Threaded::~Threaded() {
    registry().wait_for_orphans();
    registry().check_unreferenced();
    {
        std::unique_lock lock(impl_->mutex);
        impl_->stopping = true;
        while (Impl::IdleThread* t = impl_->claim_idle_locked()) Impl::wake(t);
        impl_->exit_cv.wait(lock, [this] { return impl_->threads == 0; });
    }
    {
        std::unique_lock lock(impl_->timer_mutex);
        impl_->timer_stopping = true;
        impl_->timer_cv.notify_all();
        impl_->timer_cv.wait(lock, [this] { return !impl_->timer_thread_running; });
    }
}

std::size_t Threaded::thread_count() const noexcept {
    std::lock_guard lock(impl_->mutex);
    return impl_->threads;
}

const Threaded::Options& Threaded::options() const noexcept { return impl_->options; }

bool Threaded::reserve(SpawnKind kind) { return impl_->limits.reserve(kind, "Threaded"); }

void Threaded::release(SpawnKind kind) noexcept {
    impl_->limits.release(kind == SpawnKind::concurrent);
}

bool Threaded::schedule(detail::TaskHeader& t, SpawnKind kind) noexcept {
    t.run = &Impl::start_task;
    t.executor = impl_.get();
    t.start_state.store(detail::TaskHeader::queued, std::memory_order_relaxed);
    std::unique_lock lock(impl_->mutex);
    if (impl_->idle == 0 && impl_->threads != 0) {
        // A worker that just finished a task is usually a few microseconds from idle: wait that
        // long before paying for a new thread (and growing the pool for good).
        lock.unlock();
        // Plain loads, no `pause`: a vCPU looping on pause is descheduled here (see parker.cpp).
        for (unsigned i = 0; i < Impl::spin_before_spawn && impl_->idle.load() == 0; ++i) {
        }
        lock.lock();
    }
    if (impl_->idle == 0 && !impl_->spawn_locked()) {
        impl_->limits.release(kind == SpawnKind::concurrent);
        return false;
    }
    impl_->queue.push_back(&t);
    if (Impl::IdleThread* idle_thread = impl_->claim_idle_locked()) {
        lock.unlock();
        Impl::wake(idle_thread);
    }
    return true;
}

void Threaded::run_inline(detail::TaskHeader& t) { detail::run_inline_here(t); }

bool Threaded::try_claim(detail::TaskHeader& t) noexcept {
    // A scheduler worker (IoUring) never runs a pool task itself: it could block the worker.
    if (!t.claimable || detail::on_scheduler_worker()) return false;
    if (t.start_state.load(std::memory_order_relaxed) != detail::TaskHeader::queued) return false;
    std::lock_guard lock(impl_->mutex);
    if (t.start_state.load(std::memory_order_relaxed) != detail::TaskHeader::queued) return false;
    t.start_state.store(detail::TaskHeader::started, std::memory_order_relaxed);
    impl_->queue.unlink(&t);
    impl_->limits.release(t.concurrent);
    // The thread woken for it finds the queue empty and goes back to idle.
    return true;
}

void Threaded::add_timer(detail::TimerNode& node) {
    std::lock_guard lock(impl_->timer_mutex);
    if (!impl_->timer_thread_running && !impl_->timer_stopping) {
        if (!start_thread(256 << 10, [impl = impl_.get()] { impl->timer_loop(); }))
            throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                                    "corio: Threaded could not start its timer thread");
        impl_->timer_thread_running = true;
    }
    if (impl_->heap.push(node)) impl_->timer_cv.notify_all();
}

bool Threaded::cancel_timer(detail::TimerNode& node) noexcept {
    std::unique_lock lock(impl_->timer_mutex);
    if (impl_->heap.contains(node)) {
        impl_->heap.remove(node);
        return true;
    }
    impl_->timer_cv.wait(lock, [&] { return impl_->firing != &node; });
    return false;
}

void Threaded::yield_plain() { std::this_thread::yield(); }

int Threaded::interrupt_signal() const noexcept {
    return detail::resolve_interrupt_signal(impl_->options.interrupt_signal);
}

void Threaded::yield_coroutine(detail::Resumption& r) noexcept { r.executor->post(&r); }

std::chrono::steady_clock::time_point Threaded::now() const noexcept {
    return std::chrono::steady_clock::now();
}

std::chrono::system_clock::time_point Threaded::now_system() const noexcept {
    return std::chrono::system_clock::now();
}

Backend& Threaded::blocking_backend() { return *this; }

std::string Threaded::schedule_failure() const { return "no thread could be started"; }

int Threaded::socket_fault() noexcept { return 0; }

}  // namespace corio

namespace corio {

bool Threaded::io_now(detail::IoRequest& r, const detail::OperationBase& op) {
    if (detail::thread_state().executor != nullptr) return false;  // a coroutine: io_start
    const stop_token token = op.wait_token();
    if (token.stop_requested()) {
        r.cancel_before_call();
        return true;
    }
    detail::IoInterrupt interrupt;
    struct Cancel {
        detail::IoInterrupt* interrupt;
        void operator()() const noexcept { interrupt->cancel(); }
    };
    detail::TaskHeader& task = detail::current_task();
    task.set_waiting({detail::WaitKind::io, r.fd, {}});
    {
        stop_callback<Cancel> cb(token, Cancel{&interrupt});
        interrupt.perform(r, interrupt_signal());
    }
    task.clear_waiting();
    return true;
}

void Threaded::io_start(detail::IoRequest& r, const detail::ThreadState& /*ts*/) {
    auto* io = new (r.backend_state) PoolIo{detail::Runnable(&PoolIo::run), &r, interrupt_signal(), {}};
    if (!impl_->post_job(&io->job)) {
        r.fail(EAGAIN);  // no thread for it: as a system call out of threads would fail
        r.finish(r);
    }
}

void Threaded::io_cancel(detail::IoRequest& r) noexcept { pool_io(r).interrupt.cancel(); }

bool Threaded::run_detached(detail::Runnable& job) noexcept { return impl_->post_job(&job); }

}  // namespace corio
