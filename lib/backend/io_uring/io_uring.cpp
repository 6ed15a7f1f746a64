// SPDX-License-Identifier: MIT
// The IoUring backend: the scheduler, over workers whose driver is an io_uring.
//
// Each worker owns a ring created on its thread (SINGLE_ISSUER and DEFER_TASKRUN when the
// kernel has them) and an eventfd that other threads write to wake it; a read of that eventfd
// is always armed in the ring, so one io_uring_enter waits for completions, wake-ups and the
// earliest timer deadline at once. What is not about rings (tasks, stealing, timers in the
// workers' heaps, the caller-driven loop) is the scheduler's.
#include "backend/io_uring/impl.hpp"
#include "core/local_loop.hpp"
#include "core/registry.hpp"

#include <corio/error.hpp>
#include <corio/io_uring.hpp>

#include <chrono>
#include <memory>
#include <thread>

namespace corio {

namespace detail {

std::uint64_t make_user_data(const RingCompletion* c) noexcept {
    CORIO_TLS thread_local std::uint16_t generation = 0;
    return encode_user_data(c, ++generation);
}

}  // namespace detail

namespace {

detail::Scheduler::Options scheduler_options(const IoUring::Options& o) noexcept {
    return {.name = "IoUring",
            .threads = o.threads,
            .stack_size = o.stack_size,
            .guard_pages = o.guard_pages,
            .turn_budget = o.turn_budget,
            .async_limit = o.async_limit,
            .concurrent_limit = o.concurrent_limit,
            .cached_fibers = o.cached_fibers,
            .blocking_threads = o.blocking_threads};
}

}  // namespace

IoUring::Impl::Impl(IoUring& owner, const Options& o)
    : options(o),
      scheduler(owner, scheduler_options(o), [&o](detail::Worker& w) {
          return std::make_unique<detail::UringDriver>(
              w, detail::UringDriver::Config{.ring_entries = o.ring_entries,
                                             .completion_entries = o.completion_entries,
                                             .lend_buffers = o.lend_buffers,
                                             .lend_buffer_size = o.lend_buffer_size});
      }) {}

unsigned IoUring::default_threads() noexcept {
    const unsigned n = std::thread::hardware_concurrency();
    return n != 0 ? n : 1;
}

std::size_t IoUring::default_stack_size() noexcept {
    return detail::asan_build ? 256 << 10 : 64 << 10;
}

IoUring::IoUring() : IoUring(Options{}) {}

IoUring::IoUring(Options options) {
    // Ask the kernel once, here, so a refusal is this constructor's exception.
    detail::probe_io_uring();
    const unsigned lend = options.lend_buffers;
    if (lend > 32768 || (lend & (lend - 1)) != 0 || options.lend_buffer_size == 0 ||
        options.lend_buffer_size > 0x7fffffff)
        throw UsageError(std::errc::invalid_argument,
                         "corio: IoUring: lend_buffers must be 0 or a power of two up to 32768, "
                         "and lend_buffer_size from 1 byte to 2 GiB");
    if (options.completion_entries != 0 && options.completion_entries < options.ring_entries)
        throw UsageError(std::errc::invalid_argument,
                         "corio: IoUring: completion_entries must be 0 or at least ring_entries");
    impl_ = std::make_unique<Impl>(*this, options);
    impl_->scheduler.start();
}

IoUring::~IoUring() {
    Impl& impl = *impl_;
    detail::Scheduler& s = impl.scheduler;
    s.stop_blocking_pool();
    if (impl.options.threads == 0) {
        if (s.owned()) {
            s.check_owner_destroys();
            // Orphans end only if the loop runs, and so do the multishot accepts of listeners
            // (which hold their sockets, and may bring connections): drive it until they did.
            s.drive_while([&] { return registry().orphans() != 0; });
            impl.accept_queues.quiesce();
            s.drive_while([&] { return impl.accept_queues.draining(); });
        }
        registry().check_unreferenced();
    } else {
        registry().wait_for_orphans();
        impl.accept_queues.quiesce();
        impl.accept_queues.wait_drained();
        registry().check_unreferenced();
    }
    s.stop();
    impl.accept_queues.orphan_all();  // the rings are gone
}

const IoUring::Options& IoUring::options() const noexcept { return impl_->options; }

unsigned IoUring::setup_flags() const noexcept {
    const detail::Scheduler& s = impl_->scheduler;
    if (impl_->options.threads == 0 && !s.owned()) return 0;
    return static_cast<detail::UringDriver&>(s.worker(0).driver()).flags();
}

void IoUring::claim_loop() { impl_->scheduler.claim(true); }

void IoUring::run() { impl_->scheduler.run(); }

bool IoUring::reserve(SpawnKind kind) { return impl_->scheduler.reserve(kind); }

void IoUring::release(SpawnKind kind) noexcept { impl_->scheduler.release(kind); }

bool IoUring::schedule(detail::TaskHeader& t, SpawnKind kind) noexcept {
    return impl_->scheduler.schedule(t, kind);
}

std::string IoUring::schedule_failure() const { return impl_->scheduler.schedule_failure(); }

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

bool IoUring::try_claim(detail::TaskHeader& t) noexcept { return impl_->scheduler.try_claim(t); }

void IoUring::add_timer(detail::TimerNode& node) {
    // With kernel_timers, a sleep on a worker is a timeout in its ring (IORING_OP_TIMEOUT),
    // batched with its other submissions; else an entry in a worker's heap.
    if (impl_->options.kernel_timers) {
        if (detail::UringDriver* d = impl_->current_driver()) {
            d->add_ring_timer(node);
            return;
        }
    }
    impl_->scheduler.add_timer(node);
}

bool IoUring::cancel_timer(detail::TimerNode& node) noexcept {
    if (node.slot != nullptr) return detail::UringDriver::cancel_ring_timer(node);
    return impl_->scheduler.cancel_timer(node);
}

Backend& IoUring::blocking_backend() { return impl_->scheduler.blocking_backend(); }

bool IoUring::run_detached(detail::Runnable& job) noexcept {
    return impl_->scheduler.run_detached(job);
}

void IoUring::yield_plain() { impl_->scheduler.yield_plain(); }

}  // namespace corio
