// SPDX-License-Identifier: MIT
// Conformance: Group under both policies, cancellation, storms, coroutine members.
#include "conformance/harness.hpp"

#include <atomic>
#include <stdexcept>
#include <vector>

using namespace std::chrono_literals;
using corio::Io;

namespace {

CORIO_CONFORMANCE_SUITE(Group);

TEST_P(Group, WaitWaitsForEveryMember) {
    run([](Io io) {
        std::atomic<int> done{0};
        corio::Group g{io};
        for (int i = 0; i < 8; ++i)
            g.async([io, &done, i] {
                io.sleep(std::chrono::milliseconds(i)).await();
                ++done;
            });
        g.wait();
        EXPECT_EQ(done.load(), 8);
        EXPECT_EQ(g.size(), 0u);
    });
}

TEST_P(Group, FirstErrorCancelsSiblingsAndIsRethrownAfterAllFinished) {
    run([](Io io) {
        std::atomic<int> canceled{0};
        corio::Group g{io};
        for (int i = 0; i < 4; ++i)
            g.concurrent([io, &canceled] {
                try {
                    io.sleep(1h).await();
                } catch (const corio::Canceled&) {
                    ++canceled;
                    throw;
                }
            });
        g.concurrent([io] {
            io.sleep(1ms).await();
            throw std::runtime_error("member failed");
        });
        EXPECT_THROW(g.wait(), std::runtime_error);
        EXPECT_EQ(canceled.load(), 4);
        EXPECT_EQ(g.size(), 0u);
        EXPECT_NO_THROW(g.wait());  // the error was delivered once
    });
}

TEST_P(Group, IsolateRecordsErrorsAndLetsTheOthersGoOn) {
    run([](Io io) {
        std::atomic<int> finished{0};
        corio::Group g{io, corio::Group::isolate};
        for (int i = 0; i < 3; ++i)
            g.concurrent([io, &finished] {
                io.sleep(5ms).await();
                ++finished;
            });
        g.concurrent([] { throw std::runtime_error("one"); });
        g.concurrent([] { throw std::logic_error("two"); });
        EXPECT_NO_THROW(g.wait());
        EXPECT_EQ(finished.load(), 3);
        auto errors = g.take_errors();
        ASSERT_EQ(errors.size(), 2u);
        EXPECT_TRUE(g.take_errors().empty());
    });
}

TEST_P(Group, CanceledMembersAreNotErrors) {
    run([](Io io) {
        corio::Group g{io};
        g.concurrent([io] { io.sleep(1h).await(); });
        g.concurrent([io] { io.sleep(1h).await(); });
        io.sleep(1ms).await();
        EXPECT_NO_THROW(g.cancel());
        EXPECT_EQ(g.size(), 0u);
    });
}

TEST_P(Group, MembersAddedToACancelledGroupStartCancelled) {
    run([](Io io) {
        corio::Group g{io};
        g.request_cancel();
        std::atomic<bool> saw_cancel{false};
        g.concurrent([io, &saw_cancel] {
            saw_cancel = io.cancel_requested();
            io.sleep(1h).await();
        });
        g.async([io] { io.sleep(1h).await(); });
        EXPECT_NO_THROW(g.wait());
        EXPECT_TRUE(saw_cancel.load());
    });
}

TEST_P(Group, DestructorCancelsAndWaits) {
    run([](Io io) {
        std::atomic<int> ended{0};
        {
            corio::Group g{io};
            for (int i = 0; i < 4; ++i)
                g.concurrent([io, &ended] {
                    try {
                        io.sleep(1h).await();
                    } catch (...) {
                        ++ended;
                        throw;
                    }
                });
            io.sleep(1ms).await();
        }
        EXPECT_EQ(ended.load(), 4);
    });
}

TEST_P(Group, WaitOfACancelledWaiterForwardsToMembersAndStillWaits) {
    run([](Io io) {
        std::atomic<int> ended{0};
        auto outer = io.concurrent([io, &ended] {
            corio::Group g{io};
            for (int i = 0; i < 3; ++i)
                g.concurrent([io, &ended] {
                    try {
                        io.sleep(1h).await();
                    } catch (...) {
                        ++ended;
                        throw;
                    }
                });
            g.wait();  // shielded: waits for the members after forwarding the cancel
            return g.size();
        });
        io.sleep(1ms).await();
        EXPECT_EQ(outer.cancel(), 0u);
        EXPECT_EQ(ended.load(), 3);
    });
}

corio::Task<int> coro_member(Io io, std::atomic<int>* sum, int v) {
    co_await io.sleep(1ms);
    *sum += v;
    co_return v;
}

corio::Task<int> coroutine_waits_group(Io io, std::atomic<int>* sum) {
    corio::Group g{io};
    for (int i = 1; i <= 4; ++i) g.async(coro_member, io, sum, i);
    g.concurrent([io, sum] {
        io.sleep(2ms).await();
        *sum += 100;
    });
    co_await g;
    co_return sum->load();
}

TEST_P(Group, ACoroutineAwaitsAGroupOfCoroutinesAndPlainFunctions) {
    run([](Io io) {
        std::atomic<int> sum{0};
        EXPECT_EQ(io.async(coroutine_waits_group, io, &sum).await(), 110);
    });
}

// Plain code that adds coroutine members: on a backend that runs async tasks inline
// (ThreadedInline, Simulated's inline coin) the spawner drives the member to its end, and the
// group still takes it, its result and its error.
corio::Task<void> coro_fails_after(Io io, std::chrono::milliseconds d) {
    co_await io.sleep(d);
    throw std::runtime_error("member failed");
}

corio::Task<void> coro_counts_cancel(Io io, std::atomic<int>* canceled) {
    try {
        co_await io.sleep(1h);
    } catch (const corio::Canceled&) {
        ++*canceled;
        throw;
    }
}

TEST_P(Group, PlainCodeAddsCoroutineMembers) {
    run([](Io io) {
        std::atomic<int> sum{0};
        corio::Group g{io};
        for (int i = 1; i <= 4; ++i) g.async(coro_member, io, &sum, i);
        g.wait();
        EXPECT_EQ(sum.load(), 10);
        EXPECT_EQ(g.size(), 0u);
        for (int i = 1; i <= 4; ++i) g.async(coro_member, io, &sum, i);  // the group goes on
        g.wait();
        EXPECT_EQ(sum.load(), 20);
    });
}

TEST_P(Group, ACoroutineMemberAddedByPlainCodeFailsAndCancelsItsSiblings) {
    run([](Io io) {
        std::atomic<int> canceled{0};
        corio::Group g{io};
        g.concurrent(coro_counts_cancel, io, &canceled);
        g.concurrent(coro_counts_cancel, io, &canceled);
        g.async(coro_fails_after, io, 1ms);
        EXPECT_THROW(g.wait(), std::runtime_error);
        EXPECT_EQ(canceled.load(), 2);
        EXPECT_EQ(g.size(), 0u);
    });
}

corio::Task<void> coroutine_throwing_group(Io io) {
    corio::Group g{io};
    g.concurrent([io] { io.sleep(1h).await(); });
    g.concurrent([] { throw std::runtime_error("x"); });
    co_await g;
}

TEST_P(Group, CoAwaitRethrowsTheFirstError) {
    run([](Io io) { EXPECT_THROW(io.async(coroutine_throwing_group, io).await(), std::runtime_error); });
}

/// Waits on what `make()` returns and counts the wait's cancellation.
template <class MakeOp>
corio::Task<void> counts_cancel(std::atomic<std::size_t>* ended, MakeOp make) {
    try {
        co_await make();
    } catch (const corio::Canceled&) {
        ++*ended;
        throw;
    }
}

TEST_P(Group, CancelStormOverManyTasksEndsEveryOne) {
    const std::size_t n = corio::test::scaled(10'000) / (simulated() ? 10 : 1);
    run(
        [n](Io io) {
            std::atomic<std::size_t> ended{0};
            corio::Group g{io};
            corio::Mutex m;
            corio::Event never;
            corio::Queue<int> q{1};
            ASSERT_TRUE(q.try_put(0));
            ASSERT_TRUE(m.try_lock());
            auto sleep = [io] { return io.sleep(1h); };
            auto lock = [io, &m] { return m.lock(io); };
            auto put = [io, &q] { return q.put(io, 1); };
            auto wait = [io, &never] { return never.wait(io); };
            for (std::size_t i = 0; i < n; ++i) {
                switch (i % 4) {
                    case 0: g.concurrent(counts_cancel<decltype(sleep)>, &ended, sleep); break;
                    case 1: g.concurrent(counts_cancel<decltype(lock)>, &ended, lock); break;
                    case 2: g.concurrent(counts_cancel<decltype(put)>, &ended, put); break;
                    default: g.concurrent(counts_cancel<decltype(wait)>, &ended, wait); break;
                }
            }
            io.sleep(1ms).await();
            g.cancel();
            EXPECT_EQ(ended.load(), n);
            m.unlock();
        },
        4);
}

TEST_P(Group, ALongLivedGroupFreesEachMemberWhenItEnds) {
    run([](Io io) {
        corio::Group g{io, corio::Group::isolate};
        const std::size_t before = io.backend().live_tasks();
        for (int i = 0; i < 100; ++i) g.async([] {});
        while (g.size() != 0) io.sleep(1ms).await();
        EXPECT_EQ(io.backend().live_tasks(), before);
    });
}

}  // namespace
