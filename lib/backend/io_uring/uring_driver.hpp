// SPDX-License-Identifier: MIT
// The io_uring driver: a worker's ring, its wake-up eventfd and MSG_RING wake-ups, submission
// batching, cancellation, provided buffers, kernel timers, and what ring operations need.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "scheduler/driver.hpp"
#include "scheduler/worker.hpp"

#include <corio/detail/io_request.hpp>

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace corio::detail {

/// What a CQE's user_data points at (a ring operation's state, in its awaitable). The
/// user_data also carries a 16-bit generation in its top bits, so a cancel aimed at an
/// operation that ended can never hit a newer one at the same address.
struct RingCompletion {
    using Fn = void (*)(RingCompletion*, int res, unsigned flags) noexcept;
    explicit RingCompletion(Fn f) noexcept : on_cqe(f) {}
    Fn on_cqe;
};

/// The user_data of an SQE whose completion is `c`: its address in the low 48 bits, and
/// `generation` above them.
inline std::uint64_t encode_user_data(const RingCompletion* c, std::uint64_t generation) noexcept {
    return reinterpret_cast<std::uintptr_t>(c) | (generation & 0xffff) << 48;
}
/// The completion a CQE's user_data names (not one of the worker's own tags).
inline RingCompletion* decode_user_data(std::uint64_t user_data) noexcept {
    return reinterpret_cast<RingCompletion*>(user_data & ((std::uint64_t{1} << 48) - 1));
}

/// A worker's provided-buffer ring, which recv_lend receives into: registered on the worker's
/// thread at its first recv_lend, freed with the worker. Buffers come back from any thread.
class LendRing final : public BufferLender {
  public:
    static constexpr int group = 0;  // the buffer group id on the worker's ring

    /// Registers `count` buffers of `size` bytes with `ring`. Throws std::system_error (an old
    /// kernel: EINVAL) or std::bad_alloc.
    LendRing(io_uring& ring, unsigned count, std::size_t size);
    ~LendRing();
    LendRing(const LendRing&) = delete;
    LendRing& operator=(const LendRing&) = delete;

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    /// Hands buffer `id` (from a CQE's flags) to request `r`: its lender, id and address; a
    /// call that received nothing gives it back at once.
    void lend(IoRequest& r, std::uint32_t id) noexcept;
    void give_back(std::uint32_t id, std::byte* data) noexcept override;

  private:
    std::mutex mutex_;  // the ring's tail: buffers come back from any thread
    io_uring_buf_ring* ring_ = nullptr;
    std::byte* memory_ = nullptr;
    unsigned count_;
    std::size_t size_;
};

class UringDriver final : public Driver {
  public:
    static constexpr std::uint64_t wake_tag = 1;    // the eventfd read
    static constexpr std::uint64_t cancel_tag = 2;  // ASYNC_CANCEL requests (their CQEs)
    static constexpr std::uint64_t message_tag = 3; // MSG_RING wake-ups from other workers
    static constexpr std::uint64_t sent_tag = 4;    // the sender's CQE of such a wake-up

    /// The completion entries of a ring when the options leave it to the driver. The kernel
    /// sizes the hash table in which an IORING_OP_ASYNC_CANCEL looks for its target from the
    /// completion queue: 2^(log2(entries) - 5) buckets, at most 256. The 512 entries of a
    /// 256-entry ring make 16 buckets, and a worker with 5,000 reads pending walked about 150
    /// of them per cancel; 8192 entries (128 KiB) make 256, and leave room for a burst of
    /// completions before the kernel's overflow list.
    static constexpr unsigned default_completion_entries = 8192;

    struct Config {
        unsigned ring_entries = 256;
        unsigned completion_entries = 0;  // 0: default_completion_entries
        unsigned lend_buffers = 256;
        std::size_t lend_buffer_size = 16384;
    };

    /// Throws std::system_error when no eventfd could be made.
    UringDriver(Worker& worker, const Config& config);
    ~UringDriver() override;

    /// Creates the ring on the worker's thread. Throws std::system_error.
    void attach() override;
    void detach() noexcept override;
    [[nodiscard]] bool pending() const noexcept override {
        return has_cancels_.load(std::memory_order_seq_cst);
    }
    /// Nothing to submit or reap, no request in flight (with DEFER_TASKRUN, completions wait
    /// for an `io_uring_enter`), the wake-up read armed, no cancel queued.
    [[nodiscard]] bool idle() const noexcept override;
    void wait(bool block, std::int64_t deadline_ns) noexcept override;
    /// From another worker of the same backend: a MSG_RING on the sender's ring, submitted at
    /// once. From any other thread: the eventfd.
    void wake(Driver* sender) noexcept override;
    /// The request's state is a RingIo (ring_io.cpp).
    Runnable& prepare(IoRequest& r) noexcept override;
    void start_here(IoRequest& r) noexcept override;
    void cancel(IoRequest& r) noexcept override;

    [[nodiscard]] unsigned flags() const noexcept { return flags_; }
    [[nodiscard]] int ring_fd() const noexcept { return ring_.ring_fd; }
    /// The ring's completion queue entries, as the kernel made it.
    [[nodiscard]] unsigned completion_entries() const noexcept { return ring_.cq.ring_entries; }

    // ---- ring operations (owner thread) ------------------------------------------------------
    /// A submission queue entry; when the queue is full it is submitted first (never a hang).
    io_uring_sqe* get_sqe() noexcept {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        return sqe != nullptr ? sqe : get_sqe_after_submit();
    }
    /// The user_data of an operation whose state is `c`, submitted here: its address and a
    /// 16-bit generation from this worker's count.
    std::uint64_t tag(const RingCompletion* c) noexcept { return encode_user_data(c, ++generation_); }
    /// An operation was prepared: its completion is awaited.
    void note_submitted() noexcept { ++inflight_; }
    /// Cancels the operation with this user_data on this ring; from any thread. On the owner's
    /// thread the ASYNC_CANCEL is queued at once, behind the operation's own SQE; another
    /// thread's request is queued here and issued before the owner's next wait.
    void request_cancel(std::uint64_t user_data) noexcept;
    /// The provided-buffer ring of recv_lend, registered at the first call; nullptr when the
    /// kernel refuses it (recv_lend then lends heap buffers).
    LendRing* lend_ring() noexcept;
    [[nodiscard]] std::size_t lend_buffer_size() const noexcept { return lend_buffer_size_; }

    // ---- timers in the kernel (owner thread arms; any thread cancels) -------------------------
    /// Arms `node` as an IORING_OP_TIMEOUT on this ring (absolute, CLOCK_MONOTONIC, which is
    /// steady_clock's). Its `fire` runs on this thread when the CQE comes. Throws bad_alloc.
    void add_ring_timer(TimerNode& node);
    /// Removes a node armed by add_ring_timer before it fires (true), or returns false once it
    /// fired, after `fire` returned. From any thread.
    static bool cancel_ring_timer(TimerNode& node) noexcept;
    /// Kernel timers armed and not yet completed (their CQE not reaped).
    [[nodiscard]] std::size_t ring_timers() const noexcept { return ring_timers_; }

  private:
    /// A kernel timer's state, owned by the worker until its CQE comes (the node may be gone
    /// by then, after a cancel): slots are reused only after that.
    struct RingTimer final : RingCompletion {
        RingTimer() noexcept : RingCompletion(&on_timeout) {}
        static void on_timeout(RingCompletion* c, int res, unsigned flags) noexcept;
        // The slot's state word: the generation of its arming (which a node keeps in its
        // `sequence`) above a state in the low two bits, so a cancel that comes after the slot
        // was freed and armed again for another node fails its compare-and-swap.
        static constexpr std::uint64_t armed = 0, canceled = 1, firing = 2, done = 3;
        static constexpr std::uint64_t word(std::uint64_t generation, std::uint64_t state) {
            return generation << 2 | state;
        }
        /// The user_data of arming `generation` of slot `t`.
        static std::uint64_t user_data_of(const RingTimer* t, std::uint64_t generation) noexcept {
            return encode_user_data(t, generation);
        }
        std::atomic<std::uint64_t> state{done};
        std::uint64_t generation = 0;  // the owner's count of armings
        TimerNode* node = nullptr;
        UringDriver* driver = nullptr;
        __kernel_timespec when{};
        RingTimer* next_free = nullptr;
    };

    io_uring_sqe* get_sqe_after_submit() noexcept;
    void arm_wake_read() noexcept;
    void issue_cancels() noexcept;
    void prep_cancel(std::uint64_t user_data) noexcept;
    void reap() noexcept;
    void enter(bool block, std::int64_t deadline_ns) noexcept;

    unsigned entries_;
    unsigned cq_entries_;
    bool cq_required_;  // given by the options: no fallback to the kernel's default
    io_uring ring_{};
    bool ring_ready_ = false;
    unsigned flags_ = 0;
    int efd_ = -1;
    std::uint64_t wake_buffer_ = 0;
    bool wake_armed_ = false;
    unsigned inflight_ = 0;
    std::uint16_t generation_ = 0;  // of the user_data of operations submitted here

    std::deque<RingTimer> timer_slots_;  // stable addresses
    RingTimer* free_timers_ = nullptr;
    std::size_t ring_timers_ = 0;

    unsigned lend_buffers_;
    std::size_t lend_buffer_size_;
    std::unique_ptr<LendRing> lend_ring_;  // freed after the ring
    bool lend_refused_ = false;

    std::mutex cancel_mutex_;
    std::vector<std::uint64_t> cancels_;
    std::atomic<bool> has_cancels_{false};
};

/// The user_data of a submission prepared by another thread than the ring's (a generation
/// from the calling thread's count).
std::uint64_t make_user_data(const RingCompletion* c) noexcept;

/// Creates and destroys a small ring: throws std::system_error (with the likely cause) when
/// the kernel refuses io_uring.
void probe_io_uring();

/// The driver of the worker of `backend` (an IoUring) the calling thread runs, or nullptr.
inline UringDriver* current_uring_driver(const Backend* backend) noexcept {
    Worker* w = Worker::current();
    return w != nullptr && w->backend() == backend ? static_cast<UringDriver*>(&w->driver())
                                                   : nullptr;
}

}  // namespace corio::detail
