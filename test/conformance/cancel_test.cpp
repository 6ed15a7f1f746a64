// SPDX-License-Identifier: MIT
// Conformance: cancellation shields, implicit shields on child collection, stop state.
#include "conformance/harness.hpp"

#include <atomic>

using namespace std::chrono_literals;
using corio::Io;

namespace {

CORIO_CONFORMANCE_SUITE(Cancel);

TEST_P(Cancel, AShieldDefersCancellationUntilItEnds) {
    run([](Io io) {
        std::atomic<int> stage{0};
        corio::Event in_shield;
        corio::Event proceed;
        auto f = io.concurrent([io, &stage, &in_shield, &proceed] {
            {
                corio::CancelShield shield{io};
                in_shield.set();
                proceed.wait(io).await();  // not interrupted by the cancel that comes meanwhile
                EXPECT_FALSE(io.cancel_requested());
                EXPECT_NO_THROW(io.check_cancel());
                stage = 1;
            }
            EXPECT_TRUE(io.cancel_requested());
            io.sleep(1h).await();  // throws: the request was kept
            stage = 2;
        });
        in_shield.wait(io).await();
        f.request_cancel();
        proceed.set();
        EXPECT_THROW(f.await(), corio::Canceled);
        EXPECT_EQ(stage.load(), 1);
    });
}

TEST_P(Cancel, ShieldsNest) {
    run([](Io io) {
        auto f = io.concurrent([io] {
            corio::CancelShield outer{io};
            {
                corio::CancelShield inner{io};
                io.sleep(2ms).await();
            }
            io.sleep(2ms).await();  // still shielded by outer
            return 5;
        });
        io.sleep(1ms).await();
        EXPECT_EQ(f.cancel(), 5);
    });
}

TEST_P(Cancel, CancelAndDestructorsCollectChildrenUnderAnImplicitShield) {
    run([](Io io) {
        std::atomic<bool> child_done{false};
        auto parent = io.concurrent([io, &child_done] {
            auto child = io.concurrent([io, &child_done] {
                corio::CancelShield shield{io};
                io.sleep(5ms).await();
                child_done = true;
                return 1;
            });
            io.sleep(1h).await();  // the parent is cancelled here; child's dtor collects it
            return child.await();
        });
        io.sleep(1ms).await();
        EXPECT_THROW(parent.cancel(), corio::Canceled);
        EXPECT_TRUE(child_done.load());
    });
}

TEST_P(Cancel, CheckCancelIsTheExplicitCancellationPoint) {
    run([](Io io) {
        std::atomic<bool> looping{false};
        auto f = io.concurrent([io, &looping] {
            looping = true;
            for (;;) {
                io.check_cancel();
                io.yield().await();
            }
        });
        while (!looping.load()) io.sleep(1ms).await();
        EXPECT_THROW(f.cancel(), corio::Canceled);
    });
}

TEST_P(Cancel, PerOperationCancellationLeavesTheTaskRunning) {
    run([](Io io) {
        corio::inplace_stop_source op_source;
        corio::Event never;
        auto f = io.concurrent([io, &never, &op_source] {
            try {
                never.wait(io).bind(corio::stop_token(&op_source)).await();
            } catch (const corio::Canceled&) {
            }
            EXPECT_FALSE(io.cancel_requested());
            io.sleep(1ms).await();
            return 3;
        });
        io.sleep(1ms).await();
        op_source.request_stop();
        EXPECT_EQ(f.await(), 3);
    });
}

TEST_P(Cancel, StopCallbacksRunOnceAndUnregisterCleanly) {
    corio::inplace_stop_source src;
    int calls = 0;
    {
        corio::stop_callback cb(corio::stop_token(&src), [&] { ++calls; });
        EXPECT_TRUE(src.request_stop());
        EXPECT_FALSE(src.request_stop());
    }
    corio::stop_callback late(corio::stop_token(&src), [&] { ++calls; });  // runs at once
    EXPECT_EQ(calls, 2);
    corio::stop_token never;
    EXPECT_FALSE(never.stop_possible());
    EXPECT_FALSE(never.stop_requested());
}

TEST_P(Cancel, ThreeCancellationWindowsOfAWait) {
    // before: cancelled before the wait starts; during: while it waits; after: once it ended
    run([](Io io) {
        corio::Event ev;
        auto before = io.concurrent([io, &ev] {
            while (!io.cancel_requested()) io.yield().await();
            ev.wait(io).await();
        });
        EXPECT_THROW(before.cancel(), corio::Canceled);

        auto during = io.concurrent([io, &ev] { ev.wait(io).await(); });
        io.sleep(1ms).await();
        EXPECT_THROW(during.cancel(), corio::Canceled);

        std::atomic<bool> waited{false};
        auto after = io.concurrent([io, &ev, &waited] {
            ev.wait(io).await();
            waited = true;
            io.sleep(1h).await();
        });
        ev.set();
        while (!waited.load()) io.sleep(1ms).await();
        EXPECT_THROW(after.cancel(), corio::Canceled);
        EXPECT_TRUE(waited.load());
    });
}

}  // namespace
