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
#include <mutex>
#include <vector>

namespace corio::detail {

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
