// SPDX-License-Identifier: MIT
// What a scheduler worker keeps for routed cancellation (see StopRouter in cancel.hpp): the
// index of its waits, and the sources other threads reported stopped since its last look.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include <corio/cancel.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace corio::detail {

/// A scheduler worker's routed waits, by source: a hash index of chains, owner thread only.
class RoutedWaits {
  public:
    explicit RoutedWaits(StopRouter* router);
    ~RoutedWaits();
    RoutedWaits(const RoutedWaits&) = delete;
    RoutedWaits& operator=(const RoutedWaits&) = delete;

    /// The router whose sources' waits this index takes.
    [[nodiscard]] StopRouter* router() const noexcept { return router_; }
    /// Indexes `w` (callback and source set); false when the index cannot grow (no memory).
    bool add(RoutedWait& w) noexcept {
        if (size_ > mask_ || (size_ * 8 < mask_ && mask_ >= min_shrink_mask)) [[unlikely]] {
            if (!resize()) return false;
        }
        RoutedWait*& head = buckets_[bucket_of(w.source)];
        w.prev = nullptr;
        w.next = head;
        if (head != nullptr) head->prev = &w;
        head = &w;
        w.list = this;
        ++size_;
        return true;
    }
    void remove(RoutedWait& w) noexcept {
        if (w.prev != nullptr)
            w.prev->next = w.next;
        else
            buckets_[bucket_of(w.source)] = w.next;
        if (w.next != nullptr) w.next->prev = w.prev;
        w.list = nullptr;
        --size_;
    }
    /// Unlinks the waits on `source` if it was stopped, and runs their callbacks. `source` is
    /// only compared until a wait on it is found: it may be gone.
    void run_stopped(const inplace_stop_source* source) noexcept;
    /// The same for every wait whose source was stopped.
    void run_all_stopped() noexcept;
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::size_t buckets() const noexcept { return mask_ + 1; }

  private:
    [[nodiscard]] std::size_t bucket_of(const inplace_stop_source* s) const noexcept {
        return static_cast<std::size_t>(
            (reinterpret_cast<std::uintptr_t>(s) * 0x9e3779b97f4a7c15ULL) >> shift_);
    }
    /// Doubles the buckets when full, or shrinks them to fit after a storm of waits ended (so
    /// a scan of every wait stays proportional to the waits); false if it could not allocate.
    bool resize() noexcept;
    static constexpr std::size_t min_shrink_mask = 1023;

    StopRouter* router_;
    RoutedWait** buckets_ = nullptr;
    std::size_t mask_ = 0;  // bucket count - 1
    std::size_t size_ = 0;
    unsigned shift_ = 0;    // 64 - log2(bucket count)
};

/// Routes the cancellation of waits on the sources of one backend's tasks through its
/// workers. A source that has one (set before the source is shared, and outlived by it) tells
/// it of every stop request; a worker runs the callbacks of its waits on the stopped source at
/// once when the request comes on its own thread, else at its next turn.
class StopRouter {
  public:
    /// `source` was stopped (any thread; `source` may be gone once this returns). Only waits
    /// of the task that owns the source are routed, so the worker that started the task
    /// (`route_hint`) is the only one that can hold them; with no hint, every worker is told.
    virtual void stop_requested(const inplace_stop_source& source) noexcept = 0;

  protected:
    ~StopRouter() = default;
};

class StopReports {
  public:
    explicit StopReports(StopRouter* router);
    StopReports(const StopReports&) = delete;
    StopReports& operator=(const StopReports&) = delete;

    /// The owner's index of routed waits.
    RoutedWaits& waits() noexcept { return waits_; }

    /// Owner thread: runs the callbacks of the waits whose sources were reported stopped.
    /// Cheap when none was: one relaxed load.
    void run() noexcept {
        if (flag_.load(std::memory_order_relaxed)) run_slow();
    }

    /// Any thread: reports `source` stopped; true when the owner must be woken to look (the
    /// first report since its last look). seq_cst: pairs with the owner's announcement that
    /// it sleeps, which then checks `pending`.
    bool report(const inplace_stop_source& source) noexcept;
    [[nodiscard]] bool pending() const noexcept { return flag_.load(std::memory_order_seq_cst); }

  private:
    static constexpr std::size_t max_reports = 1024;  // more: the owner looks at every wait
    void run_slow() noexcept;

    RoutedWaits waits_;
    std::mutex mutex_;
    std::vector<const inplace_stop_source*> reports_;  // capacity max_reports, never grown
    std::vector<const inplace_stop_source*> taking_;   // owner only: the batch it runs
    bool overflow_ = false;                            // under the mutex
    std::atomic<bool> flag_{false};
};

}  // namespace corio::detail
