// SPDX-License-Identifier: MIT
// PollBackend: the scheduler over one worker whose driver waits in poll(2), over an eventfd
// (wake-ups) and the descriptors of the requests that wait for readiness.
//
// A request's calls run on the worker's thread. A call on a descriptor poll can wait for (a
// socket, a pipe, an eventfd or signalfd) is made without blocking; when it would block, the
// request waits in the driver's list until poll reports its descriptor, and the call is made
// again. A call poll cannot wait for (open, close, sync, stat, shutdown, and any call on a
// regular file or block device) runs on the scheduler's blocking pool, and its result comes
// back to the worker, which steps the request there. `finish` is only ever called on the
// worker's thread.
//
// Cancellation. The rule: a queued cancel never names a finished request. Each request's
// state has one atomic word, `cancel`, which other threads may touch while the request's
// memory lives (Driver::cancel may come after `finish` returned, while the waiter has not yet
// unregistered its stop callback; the memory lives while the cancel call runs):
//   requested  the request ends cancelled before its next call (its start, the next call of a
//              request of several, or a wait for readiness);
//   queued     another thread put it in the driver's queue of cancels (at most once);
//   finished   the worker is about to call `finish`: no cancel applies any more.
// Another thread sets requested|queued and pushes the request in one critical section of the
// queue's mutex, unless the word said finished (or queued) already. The worker sets finished
// before `finish` and, if the word said queued, takes the request out of the queue under that
// mutex: either the cancel saw finished and pushed nothing, or the push came first and is
// undone. So every request in the queue is still in flight, and the worker, the only thread
// that finishes requests, applies the queue with nothing finished in between. On the worker's
// own thread a cancel takes effect at once: a request waiting for readiness ends cancelled;
// one whose call runs on the pool, or whose start is still posted, keeps the flag and sees it
// before its next call (a call that completed keeps its result: no byte is lost).
#include "support/poll_backend.hpp"

#include "core/internal.hpp"
#include "core/local_loop.hpp"
#include "core/registry.hpp"
#include "io/io_call.hpp"
#include "scheduler/driver.hpp"
#include "scheduler/scheduler.hpp"
#include "scheduler/worker.hpp"

#include <corio/detail/io_request.hpp>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <system_error>
#include <type_traits>
#include <vector>

namespace corio::test {

namespace {

using detail::IoRequest;
using detail::Runnable;

class PollDriver;

/// A request in flight on the poll driver (in the request's backend state).
struct PollIo final : detail::DriverRequest {
    static constexpr std::uint8_t requested = 1, queued = 2, finished = 4;  // bits of `cancel`

    /// Where the request is, as the worker sees it (only the worker reads or writes it, once
    /// the request is posted to it).
    enum class Phase : std::uint8_t {
        posted,     // its start is posted to the worker
        running,    // a call is being made or stepped on the worker
        waiting,    // in the driver's list, until poll reports its descriptor
        offloaded,  // its call runs on the blocking pool
    };

    /// A job of the request's: its state is found from it.
    struct Node : Runnable {
        explicit Node(Fn fn, PollIo* o) noexcept : Runnable(fn), io(o) {}
        PollIo* io;
    };

    PollIo(IoRequest& r, PollDriver* d) noexcept;

    [[nodiscard]] PollDriver& owner() const noexcept;

    IoRequest* request;
    Node step;      // on the worker: the first call, or the end of a call made on the pool
    Node pool_job;  // on the blocking pool: one call
    std::int64_t pool_res = 0;  // the pool's result, read by `step` after the post
    std::atomic<std::uint8_t> cancel{0};  // see the file comment
    Phase phase = Phase::posted;
};
static_assert(sizeof(PollIo) <= sizeof(IoRequest::backend_state));
static_assert(std::is_trivially_destructible_v<PollIo>);

PollIo& poll_io(IoRequest& r) noexcept {
    return *std::launder(reinterpret_cast<PollIo*>(r.backend_state));
}

/// Whether poll cannot wait for the next call of `r`: it runs on the blocking pool.
bool blocks_anyway(const IoRequest& r) noexcept {
    if (detail::info(r.opcode).readiness == detail::IoReadiness::none) return true;
    struct stat st {};
    if (::fstat(r.fd, &st) != 0) return false;  // the call itself reports the error
    return S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
}

/// One call of `r` that may block (on the blocking pool, or on the worker when the pool has no
/// thread for it). An interruption makes it again, but for a close: its descriptor is gone
/// either way.
std::int64_t call_blocking(IoRequest& r) noexcept {
    std::int64_t res = 0;
    do {
        res = detail::perform_call(r);
    } while (res == -EINTR && r.opcode != detail::IoOpcode::close);
    return res;
}

/// The milliseconds poll waits until `deadline_ns` (steady clock), rounded up: it never
/// returns before the deadline for nothing.
int timeout_until(std::int64_t deadline_ns) noexcept {
    const std::int64_t rel = deadline_ns - detail::steady_now_ns();
    if (rel <= 0) return 0;
    const std::int64_t ms = (rel + 999'999) / 1'000'000;
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

class PollDriver final : public detail::Driver {
  public:
    explicit PollDriver(detail::Worker& worker)
        : Driver(worker),
          efd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
        if (efd_ < 0)
            throw std::system_error(errno, std::generic_category(), "corio: PollBackend: eventfd");
    }
    ~PollDriver() override { ::close(efd_); }

    void attach() override {}
    void detach() noexcept override {}
    [[nodiscard]] bool pending() const noexcept override {
        return has_cancels_.load(std::memory_order_seq_cst);
    }
    /// No descriptor waited on, nothing ready to run again, no cancel queued.
    [[nodiscard]] bool idle() const noexcept override {
        return waiting_.empty() && ready_.empty() && !has_cancels_.load(std::memory_order_relaxed);
    }
    void wait(bool block, std::int64_t deadline_ns) noexcept override;
    void wake(Driver* /*sender*/) noexcept override {
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(efd_, &one, sizeof one);
    }
    Runnable& prepare(IoRequest& r) noexcept override {
        return (new (r.backend_state) PollIo(r, this))->step;
    }
    void cancel(IoRequest& r) noexcept override;

    static void on_step(Runnable* node) noexcept;
    static void on_pool_job(Runnable* node) noexcept;

  private:
    /// Makes the request's next calls until one must wait, runs on the pool, or the request
    /// ends.
    void proceed(PollIo& io) noexcept;
    /// Calls `finish` (the request may be gone from there on).
    void end(PollIo& io) noexcept;
    /// On the worker's thread, a cancel not yet finished: see the file comment.
    void cancel_here(PollIo& io) noexcept;
    void apply_queued_cancels() noexcept;

    int efd_;
    std::vector<PollIo*> waiting_;  // waiting for readiness, in the order they began to
    std::vector<pollfd> fds_;       // the eventfd, then waiting_'s descriptors
    std::vector<PollIo*> ready_;    // taken off waiting_ by a poll, to call again

    std::mutex cancel_mutex_;
    std::vector<PollIo*> cancels_;  // queued by other threads; only requests in flight
    std::vector<PollIo*> applying_;  // the worker's batch of cancels_
    // Set with a push under the mutex; pairs with the worker's announcement that it sleeps
    // (both seq_cst): either this thread sees it asleep and wakes it, or it sees pending().
    std::atomic<bool> has_cancels_{false};
};

PollIo::PollIo(IoRequest& r, PollDriver* d) noexcept
    : DriverRequest(d), request(&r), step(&PollDriver::on_step, this),
      pool_job(&PollDriver::on_pool_job, this) {}

PollDriver& PollIo::owner() const noexcept { return *static_cast<PollDriver*>(driver); }

void PollDriver::on_step(Runnable* node) noexcept {
    PollIo& io = *static_cast<PollIo::Node*>(node)->io;
    PollDriver& d = io.owner();
    const bool from_pool = io.phase == PollIo::Phase::offloaded;
    io.phase = PollIo::Phase::running;
    if (from_pool && io.request->call_done(io.pool_res)) {
        d.end(io);
        return;
    }
    d.proceed(io);
}

void PollDriver::on_pool_job(Runnable* node) noexcept {
    PollIo& io = *static_cast<PollIo::Node*>(node)->io;
    io.pool_res = call_blocking(*io.request);
    detail::Worker& w = io.owner().worker();
    w.post(&io.step);  // the worker may end the request from here on
}

void PollDriver::proceed(PollIo& io) noexcept {
    IoRequest& r = *io.request;
    for (;;) {
        if ((io.cancel.load(std::memory_order_acquire) & PollIo::requested) != 0) {
            r.cancel_before_call();
            end(io);
            return;
        }
        std::int64_t res = 0;
        if (r.opcode == detail::IoOpcode::nop) {
            res = 0;
        } else if (blocks_anyway(r)) {
            io.phase = PollIo::Phase::offloaded;
            if (worker().scheduler().run_detached(io.pool_job)) return;
            io.phase = PollIo::Phase::running;  // no pool thread: the call blocks here
            res = call_blocking(r);
        } else {
            res = detail::call_without_blocking(r);
            if (res == -EINTR) continue;
            if (res == -EAGAIN) {
                io.phase = PollIo::Phase::waiting;
                waiting_.push_back(&io);
                return;
            }
        }
        if (r.call_done(res)) {
            end(io);
            return;
        }
    }
}

void PollDriver::end(PollIo& io) noexcept {
    if ((io.cancel.fetch_or(PollIo::finished, std::memory_order_acq_rel) & PollIo::queued) != 0) {
        std::lock_guard lock(cancel_mutex_);
        std::erase(cancels_, &io);  // (not there if the worker's batch holds it)
        has_cancels_.store(!cancels_.empty(), std::memory_order_relaxed);
    }
    IoRequest& r = *io.request;
    r.finish(r);
}

void PollDriver::cancel(IoRequest& r) noexcept {
    PollIo& io = poll_io(r);
    if (detail::Worker::current() == &worker()) {
        if ((io.cancel.fetch_or(PollIo::requested, std::memory_order_acq_rel) &
             PollIo::finished) == 0)
            cancel_here(io);
        return;
    }
    {
        std::lock_guard lock(cancel_mutex_);
        const std::uint8_t was =
            io.cancel.fetch_or(PollIo::requested | PollIo::queued, std::memory_order_acq_rel);
        if ((was & (PollIo::finished | PollIo::queued)) != 0) return;
        try {
            cancels_.push_back(&io);
        } catch (...) {
            std::fputs("corio: out of memory queuing a PollBackend cancel\n", stderr);
            std::abort();
        }
        has_cancels_.store(true, std::memory_order_seq_cst);
    }
    if (worker().is_sleeping()) worker().wake();
}

void PollDriver::cancel_here(PollIo& io) noexcept {
    // Posted, offloaded: the flag is set, and seen before the next call.
    if (io.phase != PollIo::Phase::waiting) return;
    std::erase(waiting_, &io);
    io.phase = PollIo::Phase::running;
    io.request->cancel_before_call();
    end(io);
}

void PollDriver::apply_queued_cancels() noexcept {
    if (!has_cancels_.load(std::memory_order_acquire)) return;
    {
        std::lock_guard lock(cancel_mutex_);
        applying_.swap(cancels_);
        has_cancels_.store(false, std::memory_order_relaxed);
    }
    // Each is in flight (see the file comment), and applying one ends no other.
    for (PollIo* io : applying_) cancel_here(*io);
    applying_.clear();
}

void PollDriver::wait(bool block, std::int64_t deadline_ns) noexcept {
    apply_queued_cancels();
    fds_.clear();
    fds_.push_back({efd_, POLLIN, 0});
    for (PollIo* io : waiting_)
        fds_.push_back({io->request->fd, detail::ready_events(*io->request), 0});
    const int timeout = !block ? 0 : deadline_ns == 0 ? -1 : timeout_until(deadline_ns);
    if (::poll(fds_.data(), fds_.size(), timeout) > 0) {
        if ((fds_[0].revents & POLLIN) != 0) {
            std::uint64_t count = 0;
            [[maybe_unused]] const ssize_t n = ::read(efd_, &count, sizeof count);
        }
        // Off the list first (any event: POLLERR, POLLHUP and POLLNVAL too, which the call
        // reports): calling one again may put it back.
        std::size_t kept = 0;
        for (std::size_t i = 0; i < waiting_.size(); ++i) {
            if (fds_[i + 1].revents != 0)
                ready_.push_back(waiting_[i]);
            else
                waiting_[kept++] = waiting_[i];
        }
        waiting_.resize(kept);
        for (PollIo* io : ready_) {
            io->phase = PollIo::Phase::running;
            proceed(*io);
        }
        ready_.clear();
    }
    apply_queued_cancels();  // what woke this wait takes effect now, not a turn later
}

}  // namespace

// ---- the backend: every entry forwards to the scheduler -------------------------------------

PollBackend::PollBackend() : PollBackend(Options{}) {}

PollBackend::PollBackend(Options options)
    : scheduler_(std::make_unique<detail::Scheduler>(
          *this,
          detail::Scheduler::Options{
              .name = "PollBackend", .threads = 1, .stack_size = options.stack_size},
          [](detail::Worker& w) { return std::make_unique<PollDriver>(w); })) {
    scheduler_->start();
}

PollBackend::~PollBackend() {
    detail::Scheduler& s = *scheduler_;
    s.stop_blocking_pool();
    registry().wait_for_orphans();
    registry().check_unreferenced();
    s.stop();
}

bool PollBackend::reserve(SpawnKind kind) { return scheduler_->reserve(kind); }

void PollBackend::release(SpawnKind kind) noexcept { scheduler_->release(kind); }

bool PollBackend::schedule(detail::TaskHeader& t, SpawnKind kind) noexcept {
    return scheduler_->schedule(t, kind);
}

std::string PollBackend::schedule_failure() const { return scheduler_->schedule_failure(); }

void PollBackend::run_inline(detail::TaskHeader& t) { detail::run_inline_here(t); }

bool PollBackend::try_claim(detail::TaskHeader& t) noexcept { return scheduler_->try_claim(t); }

void PollBackend::add_timer(detail::TimerNode& node) { scheduler_->add_timer(node); }

bool PollBackend::cancel_timer(detail::TimerNode& node) noexcept {
    return scheduler_->cancel_timer(node);
}

void PollBackend::yield_plain() { scheduler_->yield_plain(); }

void PollBackend::yield_coroutine(detail::Resumption& r) noexcept { r.executor->post(&r); }

std::chrono::steady_clock::time_point PollBackend::now() const noexcept {
    return std::chrono::steady_clock::now();
}

std::chrono::system_clock::time_point PollBackend::now_system() const noexcept {
    return std::chrono::system_clock::now();
}

int PollBackend::interrupt_signal() const noexcept { return 0; }

Backend& PollBackend::blocking_backend() { return scheduler_->blocking_backend(); }

bool PollBackend::run_detached(detail::Runnable& job) noexcept {
    return scheduler_->run_detached(job);
}

bool PollBackend::io_now(detail::IoRequest& /*r*/, const detail::OperationBase& /*op*/) {
    return false;
}

void PollBackend::io_start(detail::IoRequest& r, const detail::ThreadState& /*ts*/) {
    scheduler_->io_start(r);
}

void PollBackend::io_cancel(detail::IoRequest& r) noexcept { detail::Scheduler::io_cancel(r); }

int PollBackend::socket_fault() noexcept { return 0; }

}  // namespace corio::test
