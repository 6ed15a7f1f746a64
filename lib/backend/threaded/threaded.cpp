// SPDX-License-Identifier: MIT
// The Threaded backend.
//
// One run queue (a mutex and an intrusive list) of Runnables: tasks to start and coroutines to
// resume. Every task pushed is matched by a thread: an idle one is woken with a token, or a new
// one is started, so a queued task never waits behind tasks that block. Coroutine resumptions
// only need some thread that is not blocked in plain code: one is started when none is idle and
// none is running a resumption. An awaiter may take back a task that has not started and run it
// itself. One timer thread keeps a binary heap of TimerNodes.
#include "backend/threaded/interrupt.hpp"
#include "core/internal.hpp"

#include <corio/threaded.hpp>

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

namespace corio {

namespace {

/// Starts a detached thread with the given stack size; false when the OS refuses.
template <class F>
bool start_thread(std::size_t stack_size, F fn) noexcept {
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

/// Runs the coroutine resumptions of a task driven inline by a blocked thread.
class LocalLoop final : public detail::Executor {
  public:
    explicit LocalLoop(detail::Parker* parker) noexcept : parker_(parker) {}
    void post(detail::Runnable* r) noexcept override {
        {
            std::lock_guard lock(mutex_);
            r->next = nullptr;
            if (tail_ != nullptr)
                tail_->next = r;
            else
                head_ = r;
            tail_ = r;
        }
        parker_->unpark();
    }
    /// Runs what is queued; false when nothing was.
    bool run_some() noexcept {
        detail::Runnable* r = nullptr;
        {
            std::lock_guard lock(mutex_);
            r = head_;
            head_ = tail_ = nullptr;
        }
        if (r == nullptr) return false;
        while (r != nullptr) {
            detail::Runnable* next = r->next;
            r->run(r);
            r = next;
        }
        return true;
    }

  private:
    detail::Parker* parker_;
    std::mutex mutex_;
    detail::Runnable* head_ = nullptr;
    detail::Runnable* tail_ = nullptr;
};

}  // namespace

struct Threaded::Impl final : detail::Executor {
    explicit Impl(Threaded& owner, Options o) : self(owner), options(o) {}

    Threaded& self;
    Options options;

    // ---- run queue --------------------------------------------------------------------------
    mutable std::mutex mutex;
    std::condition_variable work_cv;
    std::condition_variable exit_cv;
    detail::Runnable* head = nullptr;
    detail::Runnable* tail = nullptr;
    std::size_t threads = 0;
    std::atomic<std::size_t> idle{0};    // written under `mutex`; read by a spawner deciding
    std::atomic<std::size_t> tokens{0};  // written under `mutex`; read by spinning idle threads
    std::size_t coroutine_runners = 0;
    // Tasks reserved or running on pool threads, by kind: atomics, so that `reserve` (every
    // io.async) takes no lock.
    std::atomic<std::size_t> async_active{0};
    std::atomic<std::size_t> concurrent_active{0};
    bool stopping = false;

    // ---- timers ------------------------------------------------------------------------------
    std::mutex timer_mutex;
    std::condition_variable timer_cv;
    std::vector<detail::TimerNode*> heap;
    detail::TimerNode* firing = nullptr;
    std::uint64_t timer_sequence = 0;
    bool timer_stopping = false;
    bool timer_thread_running = false;

    // Queue helpers; call with `mutex` held.
    void push_locked(detail::Runnable* r) noexcept {
        r->next = nullptr;
        r->prev = tail;
        if (tail != nullptr)
            tail->next = r;
        else
            head = r;
        tail = r;
    }
    void unlink_locked(detail::Runnable* r) noexcept {
        if (r->prev != nullptr)
            r->prev->next = r->next;
        else
            head = r->next;
        if (r->next != nullptr)
            r->next->prev = r->prev;
        else
            tail = r->prev;
        r->next = r->prev = nullptr;
    }
    /// Gives a token to an idle thread; the caller notifies `work_cv` once it has released the
    /// mutex, so the woken thread does not wake only to block on the mutex.
    bool claim_idle_locked() noexcept {
        if (idle == 0) return false;
        --idle;
        ++tokens;
        return true;
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
        impl.unreserve(concurrent);
    }

    void unreserve(bool concurrent) noexcept {
        (concurrent ? concurrent_active : async_active).fetch_sub(1, std::memory_order_relaxed);
    }

    /// Reserves one slot below `limit`; false at the limit.
    static bool reserve_below(std::atomic<std::size_t>& active, std::size_t limit) noexcept {
        std::size_t n = active.load(std::memory_order_relaxed);
        while (n < limit) {
            if (active.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
        }
        return false;
    }

    /// Polls of its token by an idle thread before it sleeps (a few microseconds).
    static constexpr unsigned spin_before_sleep = 5000;
    /// How long `schedule` waits for a worker to come back before it starts a new thread.
    static constexpr unsigned spin_before_spawn = 5000;

    void worker() noexcept {
        std::unique_lock lock(mutex);
        for (;;) {
            if (head != nullptr) {
                detail::Runnable* r = head;
                unlink_locked(r);
                const bool is_task = r->run == &start_task;
                if (is_task)
                    static_cast<detail::TaskHeader*>(r)->start_state.store(
                        detail::TaskHeader::started, std::memory_order_relaxed);
                else
                    ++coroutine_runners;
                lock.unlock();
                r->run(r);
                lock.lock();
                if (!is_task) --coroutine_runners;
                continue;
            }
            if (stopping) break;
            // A short spin before sleeping catches a hand-off that follows at once. It polls
            // without `pause`: on these VMs a vCPU that executes many pauses is descheduled
            // (pause-loop exiting), which made a parked coroutine's hand-off 4x slower.
            ++idle;
            lock.unlock();
            for (unsigned i = 0;
                 i < spin_before_sleep && tokens.load(std::memory_order_relaxed) == 0; ++i) {
            }
            lock.lock();
            const bool woken = work_cv.wait_for(lock, options.idle_timeout,
                                                [this] { return tokens > 0 || stopping; });
            if (tokens > 0) {
                --tokens;
                continue;
            }
            --idle;
            if (stopping || !woken) break;
        }
        --threads;
        exit_cv.notify_all();
    }

    // Executor: coroutine resumptions of tasks on this pool.
    void post(detail::Runnable* r) noexcept override {
        std::unique_lock lock(mutex);
        push_locked(r);
        if (claim_idle_locked()) {
            lock.unlock();
            work_cv.notify_one();
            return;
        }
        if (coroutine_runners == 0 && !spawn_locked()) {
            std::fputs("corio: Threaded could not start a thread to resume a coroutine\n", stderr);
            std::abort();
        }
    }

    // ---- timer thread ------------------------------------------------------------------------
    static bool later(const detail::TimerNode* a, const detail::TimerNode* b) noexcept {
        return a->deadline != b->deadline ? a->deadline > b->deadline : a->sequence > b->sequence;
    }
    void sift_up(std::size_t i) noexcept {
        while (i > 0) {
            const std::size_t p = (i - 1) / 2;
            if (!later(heap[p], heap[i])) break;
            std::swap(heap[p], heap[i]);
            heap[p]->heap_index = p;
            heap[i]->heap_index = i;
            i = p;
        }
    }
    void sift_down(std::size_t i) noexcept {
        for (;;) {
            std::size_t m = i;
            const std::size_t l = 2 * i + 1, r = l + 1;
            if (l < heap.size() && later(heap[m], heap[l])) m = l;
            if (r < heap.size() && later(heap[m], heap[r])) m = r;
            if (m == i) break;
            std::swap(heap[m], heap[i]);
            heap[m]->heap_index = m;
            heap[i]->heap_index = i;
            i = m;
        }
    }
    void remove_at(std::size_t i) noexcept {
        heap[i]->heap_index = npos;
        if (i + 1 != heap.size()) {
            heap[i] = heap.back();
            heap[i]->heap_index = i;
            heap.pop_back();
            sift_down(i);
            sift_up(i);
        } else {
            heap.pop_back();
        }
    }
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    void timer_loop() noexcept {
        std::unique_lock lock(timer_mutex);
        while (!timer_stopping) {
            if (heap.empty()) {
                timer_cv.wait(lock);
                continue;
            }
            detail::TimerNode* top = heap.front();
            const auto deadline = top->deadline;  // the node may be cancelled while we wait
            if (deadline > std::chrono::steady_clock::now()) {
                timer_cv.wait_until(lock, deadline);
                continue;
            }
            remove_at(0);
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
    while (orphans() != 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    check_unreferenced();
    {
        std::unique_lock lock(impl_->mutex);
        impl_->stopping = true;
        impl_->work_cv.notify_all();
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

bool Threaded::reserve(SpawnKind kind) {
    if (kind == SpawnKind::async) {
        if (Impl::reserve_below(impl_->async_active, impl_->options.async_limit)) return true;
        // A coroutine must never run a plain function inline: it might wait and block its
        // worker. Beyond the limit, it still gets a thread.
        if (detail::thread_state().executor == nullptr) return false;
        impl_->async_active.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    if (!Impl::reserve_below(impl_->concurrent_active, impl_->options.concurrent_limit))
        throw ConcurrencyUnavailable("Threaded concurrent_limit (" +
                                     std::to_string(impl_->options.concurrent_limit) +
                                     ") reached");
    return true;
}

void Threaded::release(SpawnKind kind) noexcept { impl_->unreserve(kind == SpawnKind::concurrent); }

bool Threaded::schedule(detail::TaskHeader& t, SpawnKind kind) noexcept {
    t.run = &Impl::start_task;
    t.executor = impl_.get();
    t.start_state.store(detail::TaskHeader::queued, std::memory_order_relaxed);
    std::unique_lock lock(impl_->mutex);
    if (impl_->idle == 0 && impl_->threads != 0) {
        // A worker that just finished a task is usually a few microseconds from idle: wait that
        // long before paying for a new thread (and growing the pool for good).
        lock.unlock();
        // Plain loads, no `pause`: see spin_before_sleep.
        for (unsigned i = 0; i < Impl::spin_before_spawn && impl_->idle.load() == 0; ++i) {
        }
        lock.lock();
    }
    if (impl_->idle == 0 && !impl_->spawn_locked()) {
        impl_->unreserve(kind == SpawnKind::concurrent);
        return false;
    }
    impl_->push_locked(&t);
    if (impl_->claim_idle_locked()) {
        lock.unlock();
        impl_->work_cv.notify_one();
    }
    return true;
}

void Threaded::run_inline(detail::TaskHeader& t) {
    t.start_state.store(detail::TaskHeader::started, std::memory_order_relaxed);
    if (!t.coroutine) {
        detail::run_task_here(&t);
        return;
    }
    detail::Parker* parker = detail::thread_state().parker;
    LocalLoop loop(parker);
    t.executor = &loop;
    detail::run_task_here(&t);
    while ((t.completion.load(std::memory_order_acquire) & detail::TaskHeader::done_bit) == 0) {
        if (!loop.run_some()) parker->park();
    }
}

bool Threaded::try_claim(detail::TaskHeader& t) noexcept {
    if (t.start_state.load(std::memory_order_relaxed) != detail::TaskHeader::queued) return false;
    std::lock_guard lock(impl_->mutex);
    if (t.start_state.load(std::memory_order_relaxed) != detail::TaskHeader::queued) return false;
    t.start_state.store(detail::TaskHeader::started, std::memory_order_relaxed);
    impl_->unlink_locked(&t);
    impl_->unreserve(t.concurrent);
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
    node.sequence = impl_->timer_sequence++;
    node.heap_index = impl_->heap.size();
    impl_->heap.push_back(&node);
    impl_->sift_up(node.heap_index);
    if (impl_->heap.front() == &node) impl_->timer_cv.notify_all();
}

bool Threaded::cancel_timer(detail::TimerNode& node) noexcept {
    std::unique_lock lock(impl_->timer_mutex);
    if (node.heap_index != Impl::npos && node.heap_index < impl_->heap.size() &&
        impl_->heap[node.heap_index] == &node) {
        impl_->remove_at(node.heap_index);
        return true;
    }
    impl_->timer_cv.wait(lock, [&] { return impl_->firing != &node; });
    return false;
}

void Threaded::yield_plain() { std::this_thread::yield(); }

int Threaded::interrupt_signal() const noexcept {
    return detail::resolve_interrupt_signal(impl_->options.interrupt_signal);
}

}  // namespace corio
