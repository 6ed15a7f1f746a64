// SPDX-License-Identifier: MIT
// The io_uring driver: the ring, its wake-up eventfd, submission batching, cancellation and
// completion reaping.
#include "backend/io_uring/uring_driver.hpp"

#include "core/fault.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <system_error>
#include <thread>

namespace corio::detail {

namespace {

std::system_error uring_error(int err, const char* what) {
    std::string msg = std::string("corio: IoUring: ") + what;
    if (err == ENOSYS)
        msg += " (this kernel has no io_uring, or it is disabled: kernel.io_uring_disabled)";
    else if (err == EPERM)
        msg += " (io_uring is forbidden here: a seccomp filter or kernel.io_uring_disabled)";
    else if (err == ENOMEM)
        msg += " (the locked-memory limit is too low for the ring: ulimit -l, or fewer "
               "ring_entries)";
    return std::system_error(err, std::generic_category(), msg);
}

/// Creates a ring of `entries` submission and `cq_entries` completion entries (0: the kernel's
/// default, twice `entries`) with the best setup flags this kernel accepts. When the larger
/// completion queue is refused for memory (an old kernel's locked-memory limit) and
/// `cq_required` is false, the default one is the fallback.
unsigned init_ring(io_uring& ring, unsigned entries, unsigned cq_entries, bool cq_required) {
    static constexpr unsigned attempts[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
            IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_SUBMIT_ALL,
        0,
    };
    // One injected fault stands for the ring that could not be made, whatever was tried.
    if (const int injected = fault_at(fault::Site::ring_setup); injected != 0)
        throw uring_error(injected, "cannot create a ring");
    int rc = -EINVAL;
    for (const bool sized : {cq_entries > 2 * entries, false}) {
        for (unsigned flags : attempts) {
            io_uring_params p{};
            p.flags = flags;
            if (sized) {
                p.flags |= IORING_SETUP_CQSIZE;
                p.cq_entries = cq_entries;
            }
            rc = io_uring_queue_init_params(entries, &ring, &p);
            if (rc == 0) return flags;
            if (rc != -EINVAL) break;  // not a question of flags
        }
        if (!sized || rc != -ENOMEM || cq_required) break;
    }
    throw uring_error(-rc, "cannot create a ring");
}

}  // namespace

void probe_io_uring() {
    io_uring probe{};
    const int injected = fault_at(fault::Site::ring_setup);
    const int rc = injected != 0 ? -injected : io_uring_queue_init(2, &probe, 0);
    if (rc < 0) throw uring_error(-rc, "the kernel refused to create a ring");
    io_uring_queue_exit(&probe);
}

UringDriver::UringDriver(Worker& worker, const Config& config)
    : Driver(worker), entries_(config.ring_entries),
      cq_entries_(config.completion_entries != 0 ? config.completion_entries
                                                 : default_completion_entries),
      cq_required_(config.completion_entries != 0), lend_buffers_(config.lend_buffers),
      lend_buffer_size_(config.lend_buffer_size) {
    efd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd_ < 0) throw std::system_error(errno, std::generic_category(), "corio: eventfd");
}

UringDriver::~UringDriver() {
    if (ring_ready_) io_uring_queue_exit(&ring_);
    ::close(efd_);
}

void UringDriver::attach() {
    flags_ = init_ring(ring_, entries_, cq_entries_, cq_required_);
    ring_ready_ = true;
    // io_uring_enter then finds the ring by its registered index instead of looking its file
    // descriptor up on every call (Linux 5.18); an older kernel refuses, and nothing changes.
#ifdef CORIO_HAVE_REGISTER_RING_FD
    io_uring_register_ring_fd(&ring_);
#endif
}

void UringDriver::detach() noexcept {
    if (ring_ready_) {
        io_uring_queue_exit(&ring_);
        ring_ready_ = false;
    }
}

void UringDriver::wake(Driver* sender) noexcept {
    // From another worker of the same backend: a MSG_RING on that worker's own ring. It is
    // submitted now, not with the sender's next batch: the sender may run a fiber that does
    // not give the thread back for long, and the wake-up (which may be for a task this worker
    // cannot run now) must not wait for that. From any other thread: the eventfd.
    auto* from = static_cast<UringDriver*>(sender);
    if (from != nullptr && from->ring_ready_) {
        io_uring_sqe* sqe = from->get_sqe();
        io_uring_prep_msg_ring(sqe, ring_.ring_fd, 0, message_tag, 0);
        io_uring_sqe_set_data64(sqe, sent_tag);  // the sender's own CQE
        from->note_submitted();
        io_uring_submit(&from->ring_);
        return;
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(efd_, &one, sizeof one);
}

io_uring_sqe* UringDriver::get_sqe_after_submit() noexcept {
    io_uring_sqe* sqe = nullptr;
    while (sqe == nullptr) {  // full: submit what is queued and retry
        const int injected = fault_at(fault::Site::ring_submit);
        const int rc = injected != 0 ? -injected : io_uring_submit(&ring_);
        if (rc == -EBUSY || rc == -EAGAIN) reap();  // completions must make room first
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

void UringDriver::request_cancel(std::uint64_t user_data) noexcept {
    if (Worker::current() == &worker()) {  // its own ring: the cancel goes with the next submit
        prep_cancel(user_data);
        return;
    }
    {
        std::lock_guard lock(cancel_mutex_);
        try {
            cancels_.push_back(user_data);
        } catch (...) {
            std::fputs("corio: out of memory queuing an io_uring cancel\n", stderr);
            std::abort();
        }
        has_cancels_.store(true, std::memory_order_seq_cst);
    }
    if (worker().is_sleeping()) worker().wake();
}

LendRing::LendRing(io_uring& ring, unsigned count, std::size_t size) : count_(count), size_(size) {
#ifndef CORIO_HAVE_BUF_RING
    (void)ring;
    throw std::system_error(ENOSYS, std::generic_category(),
                            "corio: IoUring: liburing before 2.2 has no provided-buffer rings");
#else
    const std::size_t ring_bytes = count * sizeof(io_uring_buf);
    void* mem = nullptr;
    if (::posix_memalign(&mem, 4096, ring_bytes) != 0) throw std::bad_alloc();
    ring_ = static_cast<io_uring_buf_ring*>(mem);
    try {
        memory_ = new std::byte[count * size];
    } catch (...) {
        std::free(ring_);
        throw;
    }
    io_uring_buf_ring_init(ring_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(ring_);
    reg.ring_entries = count;
    reg.bgid = group;
    const int rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc != 0) {
        delete[] memory_;
        std::free(ring_);
        throw std::system_error(-rc, std::generic_category(),
                                "corio: IoUring: cannot register recv_lend's buffers");
    }
    const int mask = io_uring_buf_ring_mask(count);
    for (unsigned i = 0; i < count; ++i)
        io_uring_buf_ring_add(ring_, memory_ + i * size, static_cast<unsigned>(size),
                              static_cast<unsigned short>(i), mask, static_cast<int>(i));
    io_uring_buf_ring_advance(ring_, static_cast<int>(count));
#endif
}

LendRing::~LendRing() {  // after the ring is gone
    delete[] memory_;
    std::free(ring_);
}

void LendRing::lend(IoRequest& r, std::uint32_t id) noexcept {
    std::byte* data = memory_ + static_cast<std::size_t>(id) * size_;
    if (r.res <= 0) {  // nothing came into it
        give_back(id, data);
        return;
    }
    r.buf = data;
    r.args.lend = {this, id};
}

void LendRing::give_back(std::uint32_t id, std::byte* data) noexcept {
#ifdef CORIO_HAVE_BUF_RING
    std::lock_guard lock(mutex_);
    io_uring_buf_ring_add(ring_, data, static_cast<unsigned>(size_),
                          static_cast<unsigned short>(id), io_uring_buf_ring_mask(count_), 0);
    io_uring_buf_ring_advance(ring_, 1);
#else
    (void)id;
    (void)data;
#endif
}

LendRing* UringDriver::lend_ring() noexcept {
    if (lend_ring_ != nullptr || lend_refused_ || lend_buffers_ == 0) return lend_ring_.get();
    try {
        lend_ring_ = std::make_unique<LendRing>(ring_, lend_buffers_, lend_buffer_size_);
    } catch (...) {
        lend_refused_ = true;  // an old kernel, or no memory: heap buffers instead
    }
    return lend_ring_.get();
}

void UringDriver::add_ring_timer(TimerNode& node) {
    RingTimer* t = free_timers_;
    if (t != nullptr) {
        free_timers_ = t->next_free;
    } else {
        t = &timer_slots_.emplace_back();
        t->driver = this;
    }
    t->node = &node;
    const std::uint64_t generation = ++t->generation;
    t->state.store(RingTimer::word(generation, RingTimer::armed), std::memory_order_release);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        node.deadline.time_since_epoch())
                        .count();
    t->when.tv_sec = ns > 0 ? ns / 1'000'000'000 : 0;
    t->when.tv_nsec = ns > 0 ? ns % 1'000'000'000 : 0;
    node.owner = nullptr;
    node.sequence = generation;
    node.slot = t;
    ++ring_timers_;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_timeout(sqe, &t->when, 0, IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(sqe, RingTimer::user_data_of(t, generation));
    note_submitted();
}

bool UringDriver::cancel_ring_timer(TimerNode& node) noexcept {
    auto* t = static_cast<RingTimer*>(node.slot);
    const std::uint64_t generation = node.sequence;
    std::uint64_t s = RingTimer::word(generation, RingTimer::armed);
    if (t->state.compare_exchange_strong(s, RingTimer::word(generation, RingTimer::canceled),
                                         std::memory_order_acq_rel, std::memory_order_acquire)) {
        // The kernel's timer goes too; its CQE frees the slot.
        t->driver->request_cancel(RingTimer::user_data_of(t, generation));
        return true;
    }
    // Fired, or firing on the worker's thread now: wait until `fire` returned. A slot already
    // armed again for another node (a later generation) means this one fired long ago.
    while (s == RingTimer::word(generation, RingTimer::firing)) {
        std::this_thread::yield();
        s = t->state.load(std::memory_order_acquire);
    }
    return false;
}

void UringDriver::RingTimer::on_timeout(RingCompletion* c, int /*res*/, unsigned /*flags*/) noexcept {
    // -ETIME when it expired, -ECANCELED when a cancel removed it: the state says which won.
    // The slot is freed only here, so its generation is the one this CQE belongs to.
    auto* t = static_cast<RingTimer*>(c);
    UringDriver* w = t->driver;
    std::uint64_t s = word(t->generation, armed);
    if (t->state.compare_exchange_strong(s, word(t->generation, firing), std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
        TimerNode* node = t->node;
        node->fire(node);
        t->state.store(word(t->generation, done), std::memory_order_release);
    }
    t->node = nullptr;
    --w->ring_timers_;
    t->next_free = w->free_timers_;
    w->free_timers_ = t;
}

void UringDriver::issue_cancels() noexcept {
    if (!has_cancels_.load(std::memory_order_acquire)) return;
    std::vector<std::uint64_t> batch;
    {
        std::lock_guard lock(cancel_mutex_);
        batch.swap(cancels_);
        has_cancels_.store(false, std::memory_order_relaxed);
    }
    for (std::uint64_t ud : batch) prep_cancel(ud);
}

void UringDriver::prep_cancel(std::uint64_t user_data) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, user_data, 0);
    io_uring_sqe_set_data64(sqe, cancel_tag);
}

void UringDriver::arm_wake_read() noexcept {
    if (wake_armed_) return;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, efd_, &wake_buffer_, sizeof wake_buffer_, 0);
    io_uring_sqe_set_data64(sqe, wake_tag);
    wake_armed_ = true;
}

void UringDriver::enter(bool block, std::int64_t deadline_ns) noexcept {
    // A refused submit keeps the entries queued: the next turn submits them.
    if (fault_at(fault::Site::ring_submit) != 0) return;
    if (block) {
        __kernel_timespec ts{};
        __kernel_timespec* timeout = nullptr;
        if (deadline_ns != 0) {
            const std::int64_t rel = deadline_ns - steady_now_ns();
            if (rel <= 0) {
                block = false;
            } else {
                ts.tv_sec = rel / 1'000'000'000;
                ts.tv_nsec = rel % 1'000'000'000;
                timeout = &ts;
            }
        }
        if (block) {
            io_uring_cqe* cqe = nullptr;
            io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, timeout, nullptr);
            return;
        }
    }
    if (io_uring_sq_ready(&ring_) != 0 || inflight_ != 0) io_uring_submit_and_get_events(&ring_);
}

bool UringDriver::idle() const noexcept {
    return inflight_ == 0 && wake_armed_ && io_uring_sq_ready(&ring_) == 0 &&
           io_uring_cq_ready(&ring_) == 0 && !has_cancels_.load(std::memory_order_relaxed);
}

void UringDriver::wait(bool block, std::int64_t deadline_ns) noexcept {
    issue_cancels();
    arm_wake_read();
    enter(block, deadline_ns);
    reap();
}

void UringDriver::reap() noexcept {
    for (;;) {
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            const std::uint64_t ud = cqe->user_data;
            if (ud == wake_tag) {
                wake_armed_ = false;  // the read took the count; re-armed before the next wait
            } else if (ud == sent_tag) {
                --inflight_;  // a wake-up this worker sent was delivered
            } else if (ud == cancel_tag || ud == message_tag) {
                // nothing: a cancel's own result, or a wake-up
            } else {
                if ((cqe->flags & IORING_CQE_F_MORE) == 0) --inflight_;
                RingCompletion* c = decode_user_data(ud);
                c->on_cqe(c, cqe->res, cqe->flags);
            }
        }
        io_uring_cq_advance(&ring_, seen);
        // Completions the CQ had no room for wait in the kernel (IORING_FEAT_NODROP): flush
        // them and reap again; nothing is lost.
        if (!io_uring_cq_has_overflow(&ring_)) return;
        io_uring_get_events(&ring_);
    }
}

}  // namespace corio::detail
