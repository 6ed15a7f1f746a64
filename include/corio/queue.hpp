// SPDX-License-Identifier: MIT
// Queue<T>: a bounded, closable MPMC queue for tasks; capacity 0 is a rendezvous.
#pragma once

#include <corio/detail/operation.hpp>
#include <corio/detail/wait_list.hpp>
#include <corio/error.hpp>
#include <corio/io.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace corio {

/// A bounded multi-producer multi-consumer queue. `put` waits while the queue is full, `get`
/// while it is empty; an item goes straight from a putter to a waiting getter when there is one
/// (with capacity 0 that is the only way). After `close()`, `put` throws QueueClosed and `get`
/// drains what is left, then throws QueueClosed.
///
/// Cancellation never loses or duplicates an item: a cancelled `put` throws Canceled and its
/// item was not enqueued (the value is destroyed with the operation); a cancelled `get` throws
/// Canceled and took nothing. Items are handed over under the queue's lock, only to waiters
/// still queued, so cancellation and hand-off cannot both happen.
///
/// Thread-safety: every member may be called from any thread; a waiter resumes on its own
/// executor (coroutines) or thread.
template <class T>
class Queue {
  public:
    class PutOperation;
    class GetOperation;

    explicit Queue(std::size_t capacity)
        : capacity_(capacity), ring_(capacity > 0 ? new std::optional<T>[capacity] : nullptr) {}
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;

    /// Puts `value` (an awaitable): inline when there is room or a waiting getter.
    [[nodiscard]] PutOperation put(Io, T value) { return PutOperation(*this, std::move(value)); }
    /// Takes the oldest item (an awaitable): inline when one is there.
    [[nodiscard]] GetOperation get(Io) noexcept { return GetOperation(*this); }

    /// Puts without waiting; false (and `value` untouched) when full or closed.
    bool try_put(T&& value) { return try_put_impl(value); }
    bool try_put(const T& value) {
        T copy(value);
        return try_put_impl(copy);
    }
    /// Takes without waiting; empty when there is nothing (or the queue is closed and drained).
    std::optional<T> try_get() {
        std::optional<T> out;
        PutOperation* freed = nullptr;
        {
            std::lock_guard lock(mutex_);
            freed = take_locked(out);
        }
        if (freed != nullptr) freed->complete_from_queue(detail::Status::ok);
        return out;
    }

    /// Closes the queue: waiting putters and (once it is empty) getters throw QueueClosed.
    void close() {
        detail::WaitNode* putters = nullptr;
        detail::WaitNode* getters = nullptr;
        {
            std::lock_guard lock(mutex_);
            if (closed_) return;
            closed_ = true;
            putters = putters_.take_all();
            getters = getters_.take_all();  // waiting getters imply an empty buffer
        }
        for (detail::WaitNode* n = putters; n != nullptr;) {
            detail::WaitNode* next = n->next;
            auto* op = static_cast<typename PutOperation::Node*>(n)->op;
            op->closed_ = true;
            op->complete_from_queue(detail::Status::ok);
            n = next;
        }
        for (detail::WaitNode* n = getters; n != nullptr;) {
            detail::WaitNode* next = n->next;
            auto* op = static_cast<typename GetOperation::Node*>(n)->op;
            op->closed_ = true;
            op->complete_from_queue(detail::Status::ok);
            n = next;
        }
    }

    [[nodiscard]] bool closed() const {
        std::lock_guard lock(mutex_);
        return closed_;
    }
    [[nodiscard]] std::size_t size() const {
        std::lock_guard lock(mutex_);
        return size_;
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    /// Awaitable of `put`. Resumes on the putter's own executor (coroutines) or thread.
    class [[nodiscard]] PutOperation : public detail::Operation<PutOperation> {
      public:
        PutOperation(Queue& q, T value) : queue_(&q), value_(std::move(value)) {}

        bool try_now() { return queue_->put_now(*this); }
        void arm() {
            GetOperation* getter = nullptr;
            {
                std::lock_guard lock(queue_->mutex_);
                if (!queue_->put_locked(*this, getter)) {
                    queue_->putters_.push_back(&node_);
                    return;
                }
            }
            if (getter != nullptr) getter->complete_from_queue(detail::Status::ok);
            this->complete(detail::Status::ok);
        }
        void try_cancel() noexcept {
            {
                std::lock_guard lock(queue_->mutex_);
                if (!queue_->putters_.remove(&node_)) return;
            }
            this->complete(detail::Status::canceled);
        }
        [[nodiscard]] detail::WaitInfo wait_info() const noexcept {
            return {detail::WaitKind::queue_put, -1, {}};
        }
        void take_result() const {
            if (closed_) throw QueueClosed();
            this->throw_if_canceled();
        }

      private:
        friend class Queue;
        struct Node : detail::WaitNode {
            PutOperation* op;
        };
        void complete_from_queue(detail::Status s) noexcept { this->complete(s); }

        Queue* queue_;
        T value_;
        bool closed_ = false;
        Node node_{{}, this};
    };

    /// Awaitable of `get`. Resumes on the getter's own executor (coroutines) or thread.
    class [[nodiscard]] GetOperation : public detail::Operation<GetOperation> {
      public:
        explicit GetOperation(Queue& q) noexcept : queue_(&q) {}

        bool try_now() { return queue_->get_now(*this); }
        void arm() {
            PutOperation* putter = nullptr;
            {
                std::lock_guard lock(queue_->mutex_);
                if (!queue_->get_locked(*this, putter)) {
                    queue_->getters_.push_back(&node_);
                    return;
                }
            }
            if (putter != nullptr) putter->complete_from_queue(detail::Status::ok);
            this->complete(detail::Status::ok);
        }
        void try_cancel() noexcept {
            {
                std::lock_guard lock(queue_->mutex_);
                if (!queue_->getters_.remove(&node_)) return;
            }
            this->complete(detail::Status::canceled);
        }
        [[nodiscard]] detail::WaitInfo wait_info() const noexcept {
            return {detail::WaitKind::queue_get, -1, {}};
        }
        T take_result() {
            if (closed_ && !item_) throw QueueClosed();
            this->throw_if_canceled();
            return std::move(*item_);
        }

      private:
        friend class Queue;
        struct Node : detail::WaitNode {
            GetOperation* op;
        };
        void complete_from_queue(detail::Status s) noexcept { this->complete(s); }

        Queue* queue_;
        std::optional<T> item_;
        bool closed_ = false;
        Node node_{{}, this};
    };

  private:
    // All *_locked helpers run with mutex_ held; they return the waiter to complete after the
    // lock is released.

    void push_locked(T&& v) {
        ring_[(head_ + size_) % capacity_].emplace(std::move(v));
        ++size_;
    }
    T pop_locked() {
        std::optional<T>& slot = ring_[head_];
        T v = std::move(*slot);
        slot.reset();
        head_ = (head_ + 1) % capacity_;
        --size_;
        return v;
    }

    /// Places a putter's value: to a waiting getter, or into the buffer. False when neither.
    bool put_locked(PutOperation& p, GetOperation*& getter) {
        if (closed_) {
            p.closed_ = true;
            return true;
        }
        if (detail::WaitNode* n = getters_.pop_front()) {
            getter = static_cast<typename GetOperation::Node*>(n)->op;
            getter->item_.emplace(std::move(p.value_));
            return true;
        }
        if (size_ < capacity_) {
            push_locked(std::move(p.value_));
            return true;
        }
        return false;
    }
    bool put_now(PutOperation& p) {
        GetOperation* getter = nullptr;
        bool done = false;
        {
            std::lock_guard lock(mutex_);
            done = put_locked(p, getter);
        }
        if (getter != nullptr) getter->complete_from_queue(detail::Status::ok);
        return done;
    }

    /// Takes an item into `out` (from the buffer, refilling it from a waiting putter, or from a
    /// putter directly). Returns the putter to complete.
    PutOperation* take_locked(std::optional<T>& out) {
        if (size_ > 0) {
            out.emplace(pop_locked());
            if (detail::WaitNode* n = putters_.pop_front()) {
                auto* p = static_cast<typename PutOperation::Node*>(n)->op;
                push_locked(std::move(p->value_));
                return p;
            }
            return nullptr;
        }
        if (detail::WaitNode* n = putters_.pop_front()) {
            auto* p = static_cast<typename PutOperation::Node*>(n)->op;
            out.emplace(std::move(p->value_));
            return p;
        }
        return nullptr;
    }
    bool get_locked(GetOperation& g, PutOperation*& putter) {
        putter = take_locked(g.item_);
        if (g.item_) return true;
        if (closed_) {
            g.closed_ = true;
            return true;
        }
        return false;
    }
    bool get_now(GetOperation& g) {
        PutOperation* putter = nullptr;
        bool done = false;
        {
            std::lock_guard lock(mutex_);
            done = get_locked(g, putter);
        }
        if (putter != nullptr) putter->complete_from_queue(detail::Status::ok);
        return done;
    }
    bool try_put_impl(T& value) {
        GetOperation* getter = nullptr;
        {
            std::lock_guard lock(mutex_);
            if (closed_) return false;
            if (detail::WaitNode* n = getters_.pop_front()) {
                getter = static_cast<typename GetOperation::Node*>(n)->op;
                getter->item_.emplace(std::move(value));
            } else if (size_ < capacity_) {
                push_locked(std::move(value));
            } else {
                return false;
            }
        }
        if (getter != nullptr) getter->complete_from_queue(detail::Status::ok);
        return true;
    }

    const std::size_t capacity_;
    std::unique_ptr<std::optional<T>[]> ring_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
    bool closed_ = false;
    mutable std::mutex mutex_;
    detail::WaitList putters_;
    detail::WaitList getters_;
};

}  // namespace corio
