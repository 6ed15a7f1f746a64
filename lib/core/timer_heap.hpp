// SPDX-License-Identifier: MIT
// A binary min-heap of TimerNodes by deadline, FIFO among equal deadlines. Not synchronized:
// each backend guards its heaps with its own lock.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include <corio/detail/timer.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace corio::detail {

class TimerHeap {
  public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }
    [[nodiscard]] TimerNode* top() const noexcept { return heap_.front(); }

    /// Adds `node`; true when it became the earliest. Throws std::bad_alloc.
    bool push(TimerNode& node) {
        node.sequence = sequence_++;
        node.heap_index = heap_.size();
        heap_.push_back(&node);
        sift_up(node.heap_index);
        return heap_.front() == &node;
    }
    [[nodiscard]] bool contains(const TimerNode& node) const noexcept {
        return node.heap_index < heap_.size() && heap_[node.heap_index] == &node;
    }
    /// Removes `node`, which must be in the heap.
    void remove(TimerNode& node) noexcept { remove_at(node.heap_index); }
    TimerNode* pop() noexcept {
        TimerNode* t = heap_.front();
        remove_at(0);
        return t;
    }

  private:
    static bool later(const TimerNode* a, const TimerNode* b) noexcept {
        return a->deadline != b->deadline ? a->deadline > b->deadline : a->sequence > b->sequence;
    }
    void swap_at(std::size_t a, std::size_t b) noexcept {
        std::swap(heap_[a], heap_[b]);
        heap_[a]->heap_index = a;
        heap_[b]->heap_index = b;
    }
    void sift_up(std::size_t i) noexcept {
        while (i > 0) {
            const std::size_t p = (i - 1) / 2;
            if (!later(heap_[p], heap_[i])) break;
            swap_at(p, i);
            i = p;
        }
    }
    void sift_down(std::size_t i) noexcept {
        for (;;) {
            std::size_t m = i;
            const std::size_t l = 2 * i + 1, r = l + 1;
            if (l < heap_.size() && later(heap_[m], heap_[l])) m = l;
            if (r < heap_.size() && later(heap_[m], heap_[r])) m = r;
            if (m == i) break;
            swap_at(m, i);
            i = m;
        }
    }
    void remove_at(std::size_t i) noexcept {
        heap_[i]->heap_index = npos;
        if (i + 1 != heap_.size()) {
            heap_[i] = heap_.back();
            heap_[i]->heap_index = i;
            heap_.pop_back();
            sift_down(i);
            sift_up(i);
        } else {
            heap_.pop_back();
        }
    }

    std::vector<TimerNode*> heap_;
    std::uint64_t sequence_ = 0;
};

}  // namespace corio::detail
