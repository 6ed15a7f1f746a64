// SPDX-License-Identifier: MIT
// The IoUring backend: scheduler workers that wait in their own io_uring.
//
// Each worker owns a ring created on its thread (SINGLE_ISSUER and DEFER_TASKRUN when the
// kernel has them) and an eventfd that other threads write to wake it; a read of that eventfd
// is always armed in the ring, so one io_uring_enter waits for completions, wake-ups and the
// earliest timer deadline at once. Tasks that have not started wait in one shared queue that
// every worker takes from; started fibers and coroutines stay on their worker.
#include "backend/io_uring/impl.hpp"
#include "core/fault.hpp"
#include "core/internal.hpp"
#include "core/registry.hpp"

#include <corio/error.hpp>
#include <corio/io_uring.hpp>
#include <corio/threaded.hpp>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace corio {

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

void IoUring::Impl::OwnerDriver::drive(detail::ThreadParker& parker) noexcept {
    RingWorker& w = *impl_.workers.front();
    for (;;) {
        if (parker.try_take()) return;
        const bool more = w.turn();
        if (parker.try_take()) return;
        if (more || impl_.unstarted.load(std::memory_order_relaxed) != 0) {
            w.wait(false);
            continue;
        }
        if (!parker.begin_block()) return;  // a permit came
        w.wait(true);
        if (parker.end_block()) return;
    }
}

void IoUring::Impl::OwnerDriver::wake() noexcept { impl_.workers.front()->wake(); }

namespace detail {

std::uint64_t make_user_data(const RingCompletion* c) noexcept {
    CORIO_TLS thread_local std::uint16_t generation = 0;
    return encode_user_data(c, ++generation);
}

}  // namespace detail

unsigned IoUring::default_threads() noexcept {
    const unsigned n = std::thread::hardware_concurrency();
    return n != 0 ? n : 1;
}

std::size_t IoUring::default_stack_size() noexcept {
    return detail::asan_build ? 256 << 10 : 64 << 10;
}

IoUring::IoUring() : IoUring(Options{}) {}

IoUring::IoUring(Options options) : impl_(std::make_unique<Impl>(*this, options)) {
    // Ask the kernel once, here, so a refusal is this constructor's exception.
    detail::probe_io_uring();
    const unsigned lend = options.lend_buffers;
    if (lend > 32768 || (lend & (lend - 1)) != 0 || options.lend_buffer_size == 0 ||
        options.lend_buffer_size > 0x7fffffff)
        throw UsageError(std::errc::invalid_argument,
                         "corio: IoUring: lend_buffers must be 0 or a power of two up to 32768, "
                         "and lend_buffer_size from 1 byte to 2 GiB");
    const detail::Worker::Config config{.turn_budget = options.turn_budget == 0 ? 1 : options.turn_budget};
    const unsigned n = options.threads == 0 ? 1 : options.threads;
    for (unsigned i = 0; i < n; ++i)
        impl_->workers.push_back(std::make_unique<Impl::RingWorker>(
            *impl_, *this, config, impl_->fibers, options.ring_entries, options.lend_buffers,
            options.lend_buffer_size));
    registry().set_stop_router(&impl_->router);
    if (options.threads == 0) return;

    impl_->start_workers();
}

void IoUring::Impl::start_workers() {
    // Each ring is created on its worker's thread; wait for all of them, and fail as a whole.
    // The threads use this frame's state until they have reported, so every thread started is
    // waited for before this returns or throws, whether or not the next one could start.
    const std::size_t n = workers.size();
    std::mutex m;
    std::condition_variable cv;
    std::size_t started = 0;
    std::size_t reported = 0;
    std::exception_ptr error;
    std::exception_ptr start_error;  // this thread's own: a thread that could not start
    for (std::size_t i = 0; i < n && !start_error; ++i) {
        RingWorker* worker = workers[i].get();
        try {
            if (const int e = detail::fault_at(fault::Site::thread_start); e != 0)
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
                e.code(), "corio: IoUring: cannot start worker thread " + std::to_string(i + 1) +
                              " of " + std::to_string(n)));
        }
    }
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return reported == started; });
    if (start_error) error = start_error;  // before a ring's error: it is what stopped the start
    if (!error) return;
    lock.unlock();
    for (auto& w : workers) w->request_stop();
    for (auto& w : workers)
        if (w->thread.joinable()) w->thread.join();
    std::rethrow_exception(error);
}

IoUring::~IoUring() {
    Impl& impl = *impl_;
    // Blocking tasks are owned by futures that are gone by now: the pool only reaps orphans.
    impl.blocking.reset();
    if (impl.options.threads == 0) {
        if (impl.owned.load(std::memory_order_acquire)) {
            if (impl.owner_id != std::this_thread::get_id()) {
                std::fputs("corio: an IoUring{threads = 0} must be destroyed by the thread that "
                           "drives it\n",
                           stderr);
                std::abort();
            }
            // Orphans end only if the loop runs, and so do the multishot accepts of listeners
            // (which hold their sockets, and may bring connections): drive it until they did.
            Impl::RingWorker& w = *impl.workers.front();
            const auto drive = [&](auto busy) {
                while (busy()) {
                    const bool more = w.turn();
                    if (!busy()) break;  // the last one ended in that turn: nothing wakes a wait
                    w.wait(!more);
                }
            };
            drive([&] { return registry().orphans() != 0; });
            impl.accept_queues.quiesce();
            drive([&] { return impl.accept_queues.draining(); });
            registry().check_unreferenced();
            detail::this_thread_parker().set_driver(nullptr);
            w.detach();
        } else {
            registry().check_unreferenced();
        }
        impl.workers.front()->wait_for_foreign_posts();
        impl.accept_queues.orphan_all();
        return;
    }
    registry().wait_for_orphans();
    impl.accept_queues.quiesce();
    impl.accept_queues.wait_drained();
    registry().check_unreferenced();
    for (auto& w : impl.workers) w->request_stop();
    for (auto& w : impl.workers)
        if (w->thread.joinable()) w->thread.join();
    for (auto& w : impl.workers) w->wait_for_foreign_posts();
    impl.accept_queues.orphan_all();
}

const IoUring::Options& IoUring::options() const noexcept { return impl_->options; }

unsigned IoUring::setup_flags() const noexcept {
    const Impl& impl = *impl_;
    if (impl.options.threads == 0 && !impl.owned.load(std::memory_order_acquire)) return 0;
    return impl.workers.front()->flags();
}

void IoUring::claim_loop() { impl_->claim(true); }

void IoUring::run() {
    Impl& impl = *impl_;
    if (impl.options.threads != 0) {
        registry().wait_until_finished();
        return;
    }
    impl.claim(true);
    Impl::RingWorker& w = *impl.workers.front();
    for (;;) {
        const bool more = w.turn();
        if (more || impl.unstarted.load(std::memory_order_relaxed) != 0) {
            w.wait(false);
            continue;
        }
        // Nothing ready: done when every task has ended (futures may still hold their
        // results), else wait for what they wait on.
        if (registry().unfinished() == 0) return;
        w.wait(true);
    }
}

bool IoUring::reserve(SpawnKind kind) { return impl_->limits.reserve(kind, "IoUring"); }

void IoUring::release(SpawnKind kind) noexcept { impl_->unreserve(kind == SpawnKind::concurrent); }

bool IoUring::schedule(detail::TaskHeader& t, SpawnKind kind) noexcept {
    Impl& impl = *impl_;
    if (!t.coroutine) {
        try {
            const std::size_t size = t.stack_size != 0 ? t.stack_size : impl.options.stack_size;
            Impl::RingWorker* me = impl.current_worker();
            t.backend_data = me != nullptr ? me->acquire_fiber(size) : impl.fibers.acquire(size);
        } catch (const std::exception& e) {
            set_schedule_failure(e.what());
            impl.unreserve(kind == SpawnKind::concurrent);
            return false;
        }
    }
    if (impl.options.threads == 0 && !impl.owned.load(std::memory_order_acquire)) {
        try {
            impl.claim(false);
        } catch (const std::exception& e) {
            if (t.backend_data != nullptr) {
                impl.fibers.release(static_cast<detail::Fiber*>(t.backend_data));
                t.backend_data = nullptr;
            }
            set_schedule_failure(e.what());
            impl.unreserve(kind == SpawnKind::concurrent);
            return false;
        }
    }
    t.executor = nullptr;
    t.start_state.store(detail::TaskHeader::queued, std::memory_order_relaxed);
    // On a worker, while no worker is idle: queued on the spawning worker (no shared lock;
    // others steal from it when they run out of work). Else in the shared queue, and an idle
    // worker is woken to take it.
    Impl::RingWorker* me = impl.current_worker();
    if (me != nullptr && impl.idle_workers.load(std::memory_order_relaxed) == 0) {
        me->push_unstarted(&t);
        return true;
    }
    t.run_queue.store(&impl, std::memory_order_relaxed);
    impl.push_unstarted(&t);
    impl.wake_idle_worker();
    return true;
}

std::string IoUring::schedule_failure() const {
    if (t_schedule_failure[0] != '\0') return t_schedule_failure;
    return "no thread or fiber could be started";
}

void IoUring::yield_coroutine(detail::Resumption& r) noexcept { r.executor->post(&r); }

std::chrono::steady_clock::time_point IoUring::now() const noexcept {
    return std::chrono::steady_clock::now();
}

std::chrono::system_clock::time_point IoUring::now_system() const noexcept {
    return std::chrono::system_clock::now();
}

int IoUring::interrupt_signal() const noexcept { return 0; }

int IoUring::socket_fault() noexcept { return 0; }

void IoUring::run_inline(detail::TaskHeader& t) { detail::run_inline_here(t); }

bool IoUring::try_claim(detail::TaskHeader& t) noexcept {
    Impl& impl = *impl_;
    if (!t.claimable) return false;
    if (t.start_state.load(std::memory_order_relaxed) != detail::TaskHeader::queued) return false;
    // Only a worker's own thread takes a task back: a coroutine resumes on the worker that
    // started it, and a plain task run by another thread would make its ring operations take
    // the slow path through another thread. A fiber does not take back a plain task either:
    // run on the awaiter's stack it would ignore its own stack size, and chains of awaits
    // would nest on one small stack. What is left is the owning thread of `threads = 0`
    // outside any fiber, and coroutines awaited on a worker.
    Impl::RingWorker* me = impl.current_worker();
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
        if (queue == &impl) {
            std::lock_guard lock(impl.queue_mutex);
            if (t.run_queue.load(std::memory_order_relaxed) != &impl) continue;
            if (t.start_state.load(std::memory_order_relaxed) != detail::TaskHeader::queued)
                return false;
            t.start_state.store(detail::TaskHeader::started, std::memory_order_relaxed);
            t.run_queue.store(nullptr, std::memory_order_relaxed);
            impl.queue.unlink(&t);
            impl.unstarted.fetch_sub(1, std::memory_order_relaxed);
            break;
        }
        if (queue == nullptr) return false;  // started
        if (static_cast<detail::Worker*>(queue)->claim_unstarted(&t)) break;
        if (t.start_state.load(std::memory_order_acquire) != detail::TaskHeader::queued)
            return false;
    }
    if (t.backend_data != nullptr) {
        impl.fibers.release(static_cast<detail::Fiber*>(t.backend_data));
        t.backend_data = nullptr;
    }
    if (t.coroutine) t.executor = me;
    impl.unreserve(t.concurrent);
    return true;
}

void IoUring::add_timer(detail::TimerNode& node) {
    Impl& impl = *impl_;
    // On a worker: its timer heap, whose earliest deadline bounds its ring wait; or, with
    // kernel_timers, a timeout in its ring (IORING_OP_TIMEOUT), batched with its other
    // submissions. From any other thread: the heap of worker 0.
    Impl::RingWorker* w = impl.current_worker();
    if (w != nullptr && impl.options.kernel_timers) {
        w->add_ring_timer(node);
        return;
    }
    if (w == nullptr) {
        if (impl.options.threads == 0) impl.claim(false);
        w = impl.workers.front().get();
    }
    node.slot = nullptr;
    w->add_timer(node);
}

bool IoUring::cancel_timer(detail::TimerNode& node) noexcept {
    if (node.slot != nullptr) return detail::RingWorker::cancel_ring_timer(node);
    return detail::Worker::cancel_timer(node);
}

Backend& IoUring::blocking_backend() {
    Impl& impl = *impl_;
    std::lock_guard lock(impl.blocking_mutex);
    if (!impl.blocking)
        impl.blocking = std::make_unique<Threaded>(Threaded::Options{
            .async_limit = 0, .concurrent_limit = impl.options.blocking_threads});
    return *impl.blocking;
}

bool IoUring::run_detached(detail::Runnable& job) noexcept {
    try {
        return blocking_backend().run_detached(job);
    } catch (...) {
        return false;  // no pool: the caller runs it
    }
}

void IoUring::yield_plain() {
    Impl& impl = *impl_;
    Impl::RingWorker* w = impl.current_worker();
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

}  // namespace corio
