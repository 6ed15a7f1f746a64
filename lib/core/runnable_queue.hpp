// SPDX-License-Identifier: MIT
// Intrusive queues of Runnables: a FIFO, and a list an awaiter can take a task out of.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include <corio/detail/runtime.hpp>

namespace corio::detail {

/// A FIFO of Runnables through their `next` links only (a ready queue). Not synchronized.
class RunnableQueue {
  public:
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] Runnable* front() const noexcept { return head_; }
    void push_back(Runnable* r) noexcept {
        r->next = nullptr;
        if (tail_ != nullptr)
            tail_->next = r;
        else
            head_ = r;
        tail_ = r;
    }
    Runnable* pop_front() noexcept {
        Runnable* r = head_;
        if (r != nullptr) {
            head_ = r->next;
            if (head_ == nullptr) tail_ = nullptr;
        }
        return r;
    }
    /// Empties the queue and returns its first Runnable (the rest follow through `next`).
    Runnable* take_all() noexcept {
        Runnable* r = head_;
        head_ = tail_ = nullptr;
        return r;
    }

  private:
    Runnable* head_ = nullptr;
    Runnable* tail_ = nullptr;
};

/// A queue of Runnables that can also unlink one from the middle (an awaiter taking back a
/// task that has not started). Not synchronized.
class RunnableList {
  public:
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] Runnable* front() const noexcept { return head_; }
    void push_back(Runnable* r) noexcept {
        r->next = nullptr;
        r->prev = tail_;
        if (tail_ != nullptr)
            tail_->next = r;
        else
            head_ = r;
        tail_ = r;
    }
    void unlink(Runnable* r) noexcept {
        if (r->prev != nullptr)
            r->prev->next = r->next;
        else
            head_ = r->next;
        if (r->next != nullptr)
            r->next->prev = r->prev;
        else
            tail_ = r->prev;
        r->next = r->prev = nullptr;
    }
    Runnable* pop_front() noexcept {
        Runnable* r = head_;
        if (r != nullptr) unlink(r);
        return r;
    }

  private:
    Runnable* head_ = nullptr;
    Runnable* tail_ = nullptr;
};

}  // namespace corio::detail
