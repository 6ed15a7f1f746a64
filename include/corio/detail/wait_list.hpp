// SPDX-License-Identifier: MIT
// An intrusive FIFO of waiters, guarded by its owner's lock.
#pragma once

namespace corio::detail {

struct WaitNode {
    WaitNode* next = nullptr;
    WaitNode* prev = nullptr;
    bool linked = false;
};

class WaitList {
  public:
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    void push_back(WaitNode* n) noexcept {
        n->next = nullptr;
        n->prev = tail_;
        if (tail_ != nullptr)
            tail_->next = n;
        else
            head_ = n;
        tail_ = n;
        n->linked = true;
    }
    WaitNode* pop_front() noexcept {
        WaitNode* n = head_;
        if (n != nullptr) remove(n);
        return n;
    }
    /// Removes `n` if it is still queued; false when someone took it already.
    bool remove(WaitNode* n) noexcept {
        if (!n->linked) return false;
        if (n->prev != nullptr)
            n->prev->next = n->next;
        else
            head_ = n->next;
        if (n->next != nullptr)
            n->next->prev = n->prev;
        else
            tail_ = n->prev;
        n->next = n->prev = nullptr;
        n->linked = false;
        return true;
    }
    /// Takes every node, leaving the list empty; walk them through `next`.
    WaitNode* take_all() noexcept {
        WaitNode* n = head_;
        for (WaitNode* p = n; p != nullptr; p = p->next) p->linked = false;
        head_ = tail_ = nullptr;
        return n;
    }

  private:
    WaitNode* head_ = nullptr;
    WaitNode* tail_ = nullptr;
};

}  // namespace corio::detail
