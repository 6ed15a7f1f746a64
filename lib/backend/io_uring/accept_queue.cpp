// SPDX-License-Identifier: MIT
// Multishot accept: see accept_queue.hpp.
#include "backend/io_uring/accept_queue.hpp"


#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <new>
#include <utility>
#include <vector>

namespace corio::detail {

bool kernel_has_multishot_accept() noexcept {
#ifndef CORIO_HAVE_MULTISHOT_ACCEPT
    return false;  // liburing before 2.2
#endif
    static const bool has = [] {
        utsname u{};
        if (::uname(&u) != 0) return false;
        unsigned major = 0;
        unsigned minor = 0;
        if (std::sscanf(u.release, "%u.%u", &major, &minor) != 2) return false;
        return major > 5 || (major == 5 && minor >= 19);
    }();
    return has;
}

AcceptQueue::AcceptQueue(IoUring& backend, AcceptQueues& all, UringDriver& owner, int fd,
                         int flags)
    : ListenerState(&release_it, &release_and_close_it), RingCompletion(&on_cqe), backend_(&backend), all_(&all),
      owner_(&owner), fd_(fd), flags_(flags) {
    arm_node_.queue = this;
}

bool AcceptQueue::start(IoUring& backend, AcceptQueues& all, Scheduler& scheduler, AcceptWaiter& w) {
    IoRequest& r = *w.request;
    if (r.args.accept.listener == nullptr || !backend.options().multishot_accept ||
        !kernel_has_multishot_accept())
        return false;
    // Under the lock, a queue still in its listener's slot is alive: a listener that closes
    // takes it out of the slot first, and frees it only under the lock.
    std::unique_lock lock(all.mutex);
    ListenerState* s = r.args.accept.listener->load(std::memory_order_acquire);
    if (s == nullptr) {
        UringDriver* owner = current_uring_driver(&backend);
        if (owner == nullptr)
            owner = &static_cast<UringDriver&>(scheduler.submission_worker().driver());
        auto* q = new AcceptQueue(backend, all, *owner, r.fd, r.flags);
        if (!r.args.accept.listener->compare_exchange_strong(s, q, std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
            delete q;  // another backend's accept on the same listener was first
            return false;
        }
        q->link();
        s = q;
    }
    if (s->release != &release_it) return false;
    auto* q = static_cast<AcceptQueue*>(s);
    if (q->backend_ != &backend || q->quiesced_) return false;
    q->wait(w, lock);
    return true;
}

void AcceptQueue::wait(AcceptWaiter& w, std::unique_lock<std::mutex>& lock) noexcept {
    IoRequest& r = *w.request;
    if (ready_.empty() && !closing_) {
        push(w);
        if (armed_ || arm_posted_) return;
        if (current_uring_driver(backend_) == owner_) {
            armed_ = true;
            user_data_ = owner_->tag(this);
            lock.unlock();
            submit();
        } else {
            arm_posted_ = true;
            arm_node_.next = nullptr;
            lock.unlock();
            owner_->worker().post(&arm_node_);
        }
        return;
    }
    int res = -EBADF;  // the listener closed meanwhile
    if (!ready_.empty()) {
        res = ready_.front();
        ready_.pop_front();
    }
    lock.unlock();
    r.res = res;
    r.finish(r);
}

void AcceptQueue::submit() noexcept {
    io_uring_sqe* sqe = owner_->get_sqe();
#ifdef CORIO_HAVE_MULTISHOT_ACCEPT
    io_uring_prep_multishot_accept(sqe, fd_, nullptr, nullptr, flags_ | SOCK_CLOEXEC);
#else
    io_uring_prep_accept(sqe, fd_, nullptr, nullptr, flags_ | SOCK_CLOEXEC);  // never reached
#endif
    io_uring_sqe_set_data64(sqe, user_data_);
    owner_->note_submitted();
}

void AcceptQueue::ArmNode::run_it(Runnable* r) noexcept {
    static_cast<ArmNode*>(r)->queue->arm_posted();
}

void AcceptQueue::arm_posted() noexcept {
    std::unique_lock lock(all_->mutex);
    arm_posted_ = false;
    all_->note_disarmed();
    if (closing_) {
        if (armed_) return;  // its final CQE frees it
        unlink_from_all();
        IoRequest* const closer = closer_;
        lock.unlock();
        destroy(this, closer);
        return;
    }
    if (armed_ || head_ == nullptr || quiesced_) return;
    armed_ = true;
    user_data_ = owner_->tag(this);
    lock.unlock();
    submit();
}

void AcceptQueue::on_cqe(RingCompletion* c, int res, unsigned flags) noexcept {
    auto* q = static_cast<AcceptQueue*>(c);
    std::unique_lock lock(q->all_->mutex);
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    AcceptWaiter* w = nullptr;
    int close_fd = -1;
    bool stop = false;
    if (res >= 0) {
        if (q->closing_) {
            close_fd = res;
        } else if ((w = q->pop()) == nullptr) {
            try {
                q->ready_.push_back(res);
            } catch (...) {
                close_fd = res;  // out of memory: the client sees the connection reset
            }
            if (more && q->ready_.size() >= max_ready && !q->stopping_) stop = q->stopping_ = true;
        }
    } else if (res != -ECANCELED && !q->closing_) {
        // EMFILE, ENFILE, ...: the first waiter has it, and the connection stays in the
        // kernel's backlog for the next accept. With nobody waiting it is dropped: the next
        // accept arms again and meets it, if it lasts.
        w = q->pop();
    }
    bool rearm = false;
    bool done = false;
    if (!more) {
        q->armed_ = false;
        q->all_->note_disarmed();
        q->stopping_ = false;
        if (q->closing_) {
            done = !q->arm_posted_;
        } else if (q->head_ != nullptr && !q->quiesced_) {
            q->armed_ = true;
            q->user_data_ = q->owner_->tag(q);
            rearm = true;
        }
    }
    const std::uint64_t user_data = q->user_data_;
    IoRequest* const closer = q->closer_;
    if (done) q->unlink_from_all();
    lock.unlock();
    if (close_fd >= 0) ::close(close_fd);
    if (stop) q->owner_->request_cancel(user_data);
    if (w != nullptr) {
        w->request->res = res;
        w->request->finish(*w->request);
    }
    if (rearm) q->submit();
    if (done) destroy(q, closer);
}

void AcceptQueue::cancel(AcceptQueues& all, AcceptWaiter& w) noexcept {
    std::unique_lock lock(all.mutex);
    AcceptQueue* q = w.queue;
    if (q == nullptr || !q->unlink(w)) return;
    lock.unlock();
    w.request->res = -ECANCELED;
    w.request->finish(*w.request);
}

void AcceptQueue::release_it(ListenerState* s) noexcept {
    release(static_cast<AcceptQueue*>(s), nullptr);
}

void AcceptQueue::release_and_close_it(ListenerState* s, IoRequest& closer) noexcept {
    release(static_cast<AcceptQueue*>(s), &closer);
}

void AcceptQueue::release(AcceptQueue* q, IoRequest* closer) noexcept {
    AcceptQueues* all = q->all_;
    if (all == nullptr) {  // the backend is gone, and nothing is in flight
        for (int fd : q->ready_) ::close(fd);
        destroy(q, closer);
        return;
    }
    std::unique_lock lock(all->mutex);
    q->closing_ = true;
    q->closer_ = closer;
    // Refused from now on: the multishot accept holds the socket until its final CQE. (The
    // waiters below get EBADF, not the EINVAL that CQE brings.)
    if (closer != nullptr) ::shutdown(closer->fd, SHUT_RDWR);
    AcceptWaiter* waiters = q->head_;
    for (AcceptWaiter* w = waiters; w != nullptr; w = w->next) w->queue = nullptr;
    q->head_ = q->tail_ = nullptr;
    for (int fd : q->ready_) ::close(fd);  // the clients see their connections reset
    q->ready_.clear();
    UringDriver* const owner = q->armed_ ? q->owner_ : nullptr;
    const std::uint64_t user_data = q->user_data_;
    const bool now = !q->armed_ && !q->arm_posted_;
    if (now) q->unlink_from_all();
    lock.unlock();
    while (waiters != nullptr) {  // closed while accepts waited on it
        AcceptWaiter* w = waiters;
        waiters = w->next;
        w->request->res = -EBADF;
        w->request->finish(*w->request);
    }
    if (owner != nullptr) owner->request_cancel(user_data);  // its final CQE frees the queue
    if (now) destroy(q, closer);
}

void AcceptQueue::destroy(AcceptQueue* q, IoRequest* closer) noexcept {
    delete q;
    if (closer == nullptr) return;
    closer->res = ::close(closer->fd) == 0 ? 0 : -errno;
    closer->finish(*closer);
}

void AcceptQueue::push(AcceptWaiter& w) noexcept {
    w.queue = this;
    w.next = nullptr;
    if (tail_ != nullptr)
        tail_->next = &w;
    else
        head_ = &w;
    tail_ = &w;
}

AcceptWaiter* AcceptQueue::pop() noexcept {
    AcceptWaiter* w = head_;
    if (w == nullptr) return nullptr;
    head_ = w->next;
    if (head_ == nullptr) tail_ = nullptr;
    w->queue = nullptr;
    return w;
}

bool AcceptQueue::unlink(AcceptWaiter& w) noexcept {
    AcceptWaiter* prev = nullptr;
    for (AcceptWaiter* it = head_; it != nullptr; prev = it, it = it->next) {
        if (it != &w) continue;
        (prev != nullptr ? prev->next : head_) = w.next;
        if (tail_ == &w) tail_ = prev;
        w.queue = nullptr;
        return true;
    }
    return false;
}

void AcceptQueue::link() noexcept {
    next_ = all_->head;
    if (next_ != nullptr) next_->prev_ = this;
    all_->head = this;
}

void AcceptQueue::unlink_from_all() noexcept {
    if (prev_ != nullptr)
        prev_->next_ = next_;
    else
        all_->head = next_;
    if (next_ != nullptr) next_->prev_ = prev_;
    prev_ = next_ = nullptr;
}

void AcceptQueues::quiesce() noexcept {
    std::vector<std::pair<UringDriver*, std::uint64_t>> cancels;
    {
        std::lock_guard lock(mutex);
        quiescing = true;
        for (AcceptQueue* q = head; q != nullptr; q = q->next_) {
            q->quiesced_ = true;
            if (q->armed_ && !q->closing_) {
                try {
                    cancels.emplace_back(q->owner_, q->user_data_);
                } catch (...) {
                    std::fputs("corio: out of memory stopping multishot accepts\n", stderr);
                    std::abort();
                }
            }
        }
    }
    for (auto [owner, user_data] : cancels) owner->request_cancel(user_data);
}

bool AcceptQueues::draining() noexcept {
    std::lock_guard lock(mutex);
    return draining_locked();
}

bool AcceptQueues::draining_locked() const noexcept {
    for (const AcceptQueue* q = head; q != nullptr; q = q->next_)
        if (q->armed_ || q->arm_posted_) return true;
    return false;
}

void AcceptQueues::wait_drained() noexcept {
    std::unique_lock lock(mutex);
    drained.wait(lock, [this] { return !draining_locked(); });
}

void AcceptQueues::orphan_all() noexcept {
    AcceptQueue* closed = nullptr;  // chained through next_
    {
        std::lock_guard lock(mutex);
        for (AcceptQueue* q = head; q != nullptr;) {
            AcceptQueue* next = q->next_;
            q->all_ = nullptr;
            q->owner_ = nullptr;
            q->backend_ = nullptr;
            q->armed_ = q->arm_posted_ = false;
            q->prev_ = q->next_ = nullptr;
            for (AcceptWaiter* w = q->head_; w != nullptr; w = w->next) w->queue = nullptr;
            q->head_ = q->tail_ = nullptr;
            for (int fd : q->ready_) ::close(fd);
            q->ready_.clear();
            if (q->closing_) {
                q->next_ = closed;
                closed = q;
            }
            q = next;
        }
        head = nullptr;
    }
    while (closed != nullptr) {
        AcceptQueue* q = std::exchange(closed, closed->next_);
        AcceptQueue::destroy(q, q->closer_);
    }
}

}  // namespace corio::detail
