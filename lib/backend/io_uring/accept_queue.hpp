// SPDX-License-Identifier: MIT
// A listener's multishot accept on IoUring: one SQE accepts connections as they come; the
// accepts of the listener's tasks take them from a queue, or wait there for the next one.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "backend/io_uring/uring_driver.hpp"
#include "scheduler/scheduler.hpp"

#include <corio/detail/io_request.hpp>
#include <corio/io_uring.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

namespace corio::detail {

class AcceptQueue;

/// An accept waiting in a listener's queue, in its request's backend state. Its fields are
/// guarded by the backend's accept lock.
struct AcceptWaiter {
    IoRequest* request = nullptr;
    AcceptQueue* queue = nullptr;  // while it waits there
    AcceptWaiter* next = nullptr;
};

/// A backend's accept queues: one lock guards all of them (accepts are few next to the calls
/// that serve the connections), and its destructor walks the list.
struct AcceptQueues {
    std::mutex mutex;
    AcceptQueue* head = nullptr;
    bool quiescing = false;             // under the mutex: set by quiesce
    std::condition_variable drained;    // a queue's accept left its ring while quiescing

    /// The backend is going, its tasks ended: no queue arms again, and the armed ones are
    /// cancelled (their connections are then reset by orphan_all).
    void quiesce() noexcept;
    /// Whether a queue's multishot accept is still in a ring (or about to be).
    [[nodiscard]] bool draining() noexcept;
    [[nodiscard]] bool draining_locked() const noexcept;
    /// Blocks until none is (the workers run meanwhile, and reap the final CQEs).
    void wait_drained() noexcept;
    /// Under the mutex: a queue's accept left its ring, or its posted arming was taken.
    void note_disarmed() noexcept {
        if (quiescing) drained.notify_all();
    }
    /// After the backend's rings are gone: frees the queues whose listeners closed and leaves
    /// the others, with no ring, to their listeners.
    void orphan_all() noexcept;
};

class AcceptQueue final : public ListenerState, private RingCompletion {
  public:
    /// Connections accepted ahead and kept for the accepts to come, at most: past it the
    /// multishot accept is cancelled and the kernel's backlog holds the rest.
    static constexpr std::size_t max_ready = 64;

    /// Starts the accept `w.request` through its listener's queue, which its first accept
    /// creates: it completes at once with a queued connection, or when the next one comes.
    /// False when the backend keeps no queue for it (turned off, a kernel without multishot
    /// accept, or a listener whose state is another backend's). Throws std::bad_alloc.
    /// `scheduler` gives the worker whose ring arms a new queue's accept.
    static bool start(IoUring& backend, AcceptQueues& all, Scheduler& scheduler, AcceptWaiter& w);
    /// Ends `w` cancelled if it still waits; from any thread.
    static void cancel(AcceptQueues& all, AcceptWaiter& w) noexcept;

  private:
    friend struct AcceptQueues;

    AcceptQueue(IoUring& backend, AcceptQueues& all, UringDriver& owner, int fd, int flags);

    /// Posted to the owner to arm the multishot accept from another thread.
    struct ArmNode : Runnable {
        ArmNode() noexcept : Runnable(&run_it) {}
        static void run_it(Runnable* r) noexcept;
        AcceptQueue* queue = nullptr;
    };

    /// Under `lock` (which it releases).
    void wait(AcceptWaiter& w, std::unique_lock<std::mutex>& lock) noexcept;
    /// On the owner's thread: the multishot accept's SQE (armed_ was set under the lock).
    void submit() noexcept;
    void arm_posted() noexcept;
    static void on_cqe(RingCompletion* c, int res, unsigned flags) noexcept;
    /// The listener closed: fails the waiters, closes what was queued, stops the SQE, and
    /// then closes the descriptor for `closer` (a close request), if one is given.
    static void release_it(ListenerState* s) noexcept;
    static void release_and_close_it(ListenerState* s, IoRequest& closer) noexcept;
    static void release(AcceptQueue* q, IoRequest* closer) noexcept;
    /// Frees a queue whose listener closed, once nothing in flight refers to it, and completes
    /// the close that waited for it.
    static void destroy(AcceptQueue* q, IoRequest* closer) noexcept;

    // Under the lock:
    void push(AcceptWaiter& w) noexcept;
    AcceptWaiter* pop() noexcept;
    bool unlink(AcceptWaiter& w) noexcept;
    void link() noexcept;
    void unlink_from_all() noexcept;

    IoUring* backend_;    // nullptr once the backend is gone
    AcceptQueues* all_;   // nullptr once the backend is gone
    UringDriver* owner_;   // the ring of the multishot accept; nullptr once the backend is gone
    int fd_;
    int flags_;
    std::uint64_t user_data_ = 0;
    bool armed_ = false;       // the SQE is in the ring: until its final CQE
    bool arm_posted_ = false;  // an ArmNode is on its way to the owner
    bool stopping_ = false;    // a cancel is on its way (the queue is full)
    bool closing_ = false;     // its listener released it
    bool quiesced_ = false;    // its backend is going: it never arms again
    IoRequest* closer_ = nullptr;  // the close that waits for the final CQE
    std::deque<int> ready_;
    AcceptWaiter* head_ = nullptr;
    AcceptWaiter* tail_ = nullptr;
    AcceptQueue* prev_ = nullptr;  // in all_
    AcceptQueue* next_ = nullptr;
    ArmNode arm_node_;
};

/// Whether this kernel has multishot accept (Linux 5.19).
bool kernel_has_multishot_accept() noexcept;

}  // namespace corio::detail
