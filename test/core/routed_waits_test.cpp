// SPDX-License-Identifier: MIT
// A worker's routed waits in isolation: the index by source (growing past its first buckets),
// reports of stopped, unstopped and unknown sources, and the overflow that makes the owner
// look at every wait.
#include "core/routed_waits.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace {

using corio::inplace_stop_source;
using corio::detail::RoutedWait;
using corio::detail::StopCallbackBase;
using corio::detail::StopReports;

struct NoRouter final : corio::detail::StopRouter {
    void stop_requested(const inplace_stop_source&) noexcept override {}
};

struct Waiter : StopCallbackBase {
    Waiter() noexcept : StopCallbackBase(&on_stop) {}
    static void on_stop(StopCallbackBase* cb) noexcept { ++static_cast<Waiter*>(cb)->runs; }
    RoutedWait routed;
    int runs = 0;
};

class RoutedWaitsTest : public ::testing::Test {
  protected:
    static constexpr int sources_n = 500;
    NoRouter router;
    StopReports reports{&router};
    std::unique_ptr<inplace_stop_source[]> sources{new inplace_stop_source[sources_n]};
    std::vector<std::unique_ptr<Waiter>> waiters;  // two per source

    void SetUp() override {
        for (int i = 0; i < sources_n * 2; ++i) {
            auto w = std::make_unique<Waiter>();
            w->routed.callback = w.get();
            w->routed.source = &sources[i / 2];
            ASSERT_TRUE(reports.waits().add(w->routed));
            waiters.push_back(std::move(w));
        }
        ASSERT_EQ(reports.waits().size(), static_cast<std::size_t>(sources_n * 2));
    }
    int total_runs() const {
        int n = 0;
        for (const auto& w : waiters) n += w->runs;
        return n;
    }
};

TEST_F(RoutedWaitsTest, OnlyTheWaitsOfReportedStoppedSourcesRunOnce) {
    inplace_stop_source unknown;  // never had a wait here
    for (int i = 0; i < 10; ++i) sources[i].request_stop();
    EXPECT_TRUE(reports.report(sources[0]));   // the first report since the owner looked
    EXPECT_FALSE(reports.report(sources[1]));  // the owner is being woken already
    for (int i = 2; i < 10; ++i) reports.report(sources[i]);
    reports.report(sources[20]);  // reported, not stopped: its waits stay
    reports.report(unknown);
    EXPECT_TRUE(reports.pending());
    reports.run();
    EXPECT_FALSE(reports.pending());
    for (int i = 0; i < sources_n * 2; ++i) {
        EXPECT_EQ(waiters[i]->runs, i < 20 ? 1 : 0) << i;
        EXPECT_EQ(waiters[i]->routed.list == nullptr, i < 20) << i;
    }
    EXPECT_EQ(reports.waits().size(), static_cast<std::size_t>(sources_n * 2 - 20));
    reports.report(sources[0]);  // again: its waits are gone, nothing runs twice
    EXPECT_TRUE(reports.pending());
    reports.run();
    EXPECT_EQ(total_runs(), 20);
}

TEST_F(RoutedWaitsTest, AWaitRemovedBeforeTheReportDoesNotRun) {
    reports.waits().remove(waiters[30]->routed);
    sources[15].request_stop();
    reports.report(sources[15]);
    reports.run();
    EXPECT_EQ(waiters[30]->runs, 0);
    EXPECT_EQ(waiters[31]->runs, 1);
}

TEST_F(RoutedWaitsTest, MoreReportsThanItKeepsMakeTheOwnerLookAtEveryWait) {
    for (int i = 0; i < sources_n; i += 3) sources[i].request_stop();
    for (int r = 0; r < 1100; ++r) reports.report(sources[(r * 7) % sources_n]);
    reports.report(sources[sources_n - 1]);  // not stopped
    reports.run();
    for (int i = 0; i < sources_n * 2; ++i) EXPECT_EQ(waiters[i]->runs, (i / 2) % 3 == 0 ? 1 : 0) << i;
    // Reports after an overflow are kept again.
    sources[1].request_stop();
    reports.report(sources[1]);
    reports.run();
    EXPECT_EQ(waiters[2]->runs, 1);
    EXPECT_EQ(waiters[3]->runs, 1);
}

TEST(RoutedWaitsResize, TheIndexGrowsForAStormAndShrinksAfterIt) {
    NoRouter router;
    corio::detail::RoutedWaits waits(&router);
    constexpr int n = 5000;
    std::unique_ptr<inplace_stop_source[]> sources(new inplace_stop_source[n]);
    std::vector<std::unique_ptr<Waiter>> ws;
    for (int i = 0; i < n; ++i) {
        auto w = std::make_unique<Waiter>();
        w->routed.callback = w.get();
        w->routed.source = &sources[i];
        ASSERT_TRUE(waits.add(w->routed));
        ws.push_back(std::move(w));
    }
    EXPECT_GE(waits.buckets(), static_cast<std::size_t>(n));
    for (int i = 10; i < n; ++i) waits.remove(ws[i]->routed);
    auto extra = std::make_unique<Waiter>();
    extra->routed.callback = extra.get();
    extra->routed.source = &sources[n - 1];
    ASSERT_TRUE(waits.add(extra->routed));  // the first add after the storm shrinks the index
    EXPECT_LT(waits.buckets(), static_cast<std::size_t>(1024));
    EXPECT_EQ(waits.size(), 11u);
    // Every wait left is still found under its source.
    for (int i = 0; i < 10; ++i) sources[i].request_stop();
    sources[n - 1].request_stop();
    for (int i = 0; i < 10; ++i) waits.run_stopped(&sources[i]);  // found by its bucket
    waits.run_stopped(&sources[n - 1]);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(ws[i]->runs, 1) << i;
    EXPECT_EQ(extra->runs, 1);
    EXPECT_EQ(waits.size(), 0u);
}

}  // namespace
