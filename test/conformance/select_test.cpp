// SPDX-License-Identifier: MIT
// Conformance: select over 2..8 futures and race.
#include "conformance/harness.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <variant>

using namespace std::chrono_literals;
using corio::Io;

namespace {

CORIO_CONFORMANCE_SUITE(Select);

corio::Future<int> sleeper(Io io, std::chrono::milliseconds d, int v) {
    return io.concurrent([io, d, v] {
        io.sleep(d).await();
        return v;
    });
}

TEST_P(Select, TheFirstToFinishWinsAndTheOthersAreCancelled) {
    run([](Io io) {
        auto slow = sleeper(io, 1h, 1);
        auto fast = sleeper(io, 1ms, 2);
        std::size_t winner = corio::select(io, slow, fast);
        EXPECT_EQ(winner, 1u);
        EXPECT_EQ(fast.await(), 2);
        EXPECT_THROW(slow.await(), corio::Canceled);
    });
}

template <std::size_t... I>
void select_among(Io io, std::index_sequence<I...>) {
    constexpr std::size_t n = sizeof...(I);
    constexpr std::size_t fastest = n / 2;
    corio::Future<int> futures[n] = {
        sleeper(io, I == fastest ? 1ms : 1h, static_cast<int>(I))...};
    const std::size_t winner = corio::select(io, futures[I]...).await();
    EXPECT_EQ(winner, fastest);
    for (std::size_t i = 0; i < n; ++i) {
        if (i == fastest)
            EXPECT_EQ(futures[i].await(), static_cast<int>(i));
        else
            EXPECT_THROW(futures[i].await(), corio::Canceled);
    }
}

TEST_P(Select, WorksWithTwoToEightFutures) {
    run([](Io io) {
        select_among(io, std::make_index_sequence<2>{});
        select_among(io, std::make_index_sequence<3>{});
        select_among(io, std::make_index_sequence<5>{});
        select_among(io, std::make_index_sequence<8>{});
    });
}

TEST_P(Select, AThrowingWinnerIsReturnedAndItsAwaitRethrows) {
    run([](Io io) {
        auto slow = sleeper(io, 1h, 1);
        auto bad = io.concurrent([io]() -> int {
            io.sleep(1ms).await();
            throw std::runtime_error("winner threw");
        });
        EXPECT_EQ(corio::select(io, slow, bad).await(), 1u);
        EXPECT_THROW(bad.await(), std::runtime_error);
        EXPECT_THROW(slow.await(), corio::Canceled);
    });
}

TEST_P(Select, ALoserThatFinishesAnywayKeepsItsValue) {
    run([](Io io) {
        auto stubborn = io.concurrent([io] {
            // Ends only once select cancelled it, i.e. after the winner; the wait itself is
            // shielded, so the loser finishes with its value instead of Canceled.
            corio::Event go;
            corio::stop_callback on_cancel(io.stop_token(), [&go] { go.set(); });
            corio::CancelShield shield{io};
            go.wait(io).await();
            return 7;
        });
        auto fast = io.concurrent([] { return 2; });
        EXPECT_EQ(corio::select(io, stubborn, fast).await(), 1u);
        EXPECT_EQ(stubborn.await(), 7);
        EXPECT_EQ(fast.await(), 2);
    });
}

TEST_P(Select, AReadyFutureWinsAtOnceWithTheLowestIndex) {
    run([](Io io) {
        auto slow = sleeper(io, 1h, 1);
        auto ready = io.async([] { return 3; });
        while (!ready.ready()) io.sleep(1ms).await();
        auto ready2 = io.async([] { return 4; });
        while (!ready2.ready()) io.sleep(1ms).await();
        EXPECT_EQ(corio::select(io, slow, ready, ready2).await(), 1u);
        EXPECT_EQ(ready.await(), 3);
        EXPECT_EQ(ready2.await(), 4);
        EXPECT_THROW(slow.await(), corio::Canceled);
    });
}

TEST_P(Select, CancellingTheSelectorCancelsEveryTaskAndStillReturns) {
    run([](Io io) {
        auto outer = io.concurrent([io] {
            auto a = sleeper(io, 1h, 1);
            auto b = sleeper(io, 1h, 2);
            const std::size_t w = corio::select(io, a, b).await();
            EXPECT_THROW(a.await(), corio::Canceled);
            EXPECT_THROW(b.await(), corio::Canceled);
            return w;
        });
        io.sleep(1ms).await();
        EXPECT_LT(outer.cancel(), 2u);
    });
}

corio::Task<std::size_t> select_in_coroutine(Io io) {
    auto slow = sleeper(io, 1h, 1);
    auto fast = sleeper(io, 1ms, 2);
    const std::size_t w = co_await corio::select(io, slow, fast);
    EXPECT_EQ(co_await fast, 2);
    co_return w;
}

TEST_P(Select, CoAwaitSelectInACoroutine) {
    run([](Io io) { EXPECT_EQ(io.async(select_in_coroutine, io).await(), 1u); });
}

TEST_P(Select, SelectOverAMovedFromFutureIsAClearError) {
    run([](Io io) {
        auto a = sleeper(io, 1ms, 1);
        auto b = std::move(a);
        EXPECT_THROW(corio::select(io, a, b).await(), corio::UsageError);  // NOLINT
    });
}

TEST_P(Select, RaceReturnsTheWinnersValueInItsAlternative) {
    run([](Io io) {
        std::variant<int, std::string, std::monostate> v = corio::race(
            io,
            [io] {
                io.sleep(1h).await();
                return 1;
            },
            [io] {
                io.sleep(1ms).await();
                return std::string("fast");
            },
            [io] { io.sleep(1h).await(); });
        ASSERT_EQ(v.index(), 1u);
        EXPECT_EQ(std::get<1>(v), "fast");
    });
}

TEST_P(Select, RaceWithTheSameTypeTwiceKeepsTheIndex) {
    run([](Io io) {
        auto v = corio::race(
                     io,
                     [io] {
                         io.sleep(1ms).await();
                         return 10;
                     },
                     [io] {
                         io.sleep(1h).await();
                         return 20;
                     })
                     .await();
        EXPECT_EQ(v.index(), 0u);
        EXPECT_EQ(std::get<0>(v), 10);
    });
}

TEST_P(Select, RaceRethrowsWhenTheWinnerThrew) {
    run([](Io io) {
        auto op = [io]() -> int {
            io.sleep(1ms).await();
            throw std::runtime_error("lost");
        };
        EXPECT_THROW(corio::race(io, op, [io] { io.sleep(1h).await(); }).await(), std::runtime_error);
    });
}

TEST_P(Select, RaceBetweenATaskAndATimer) {
    run([](Io io) {
        auto v = corio::race(
                     io, [io] { io.sleep(1h).await(); return 1; },
                     [io] { io.sleep(10ms).await(); })
                     .await();
        EXPECT_EQ(v.index(), 1u);
    });
}

corio::Task<int> race_from_a_coroutine(Io io) {
    auto v = co_await corio::race(
        io,
        [io] {
            io.sleep(1h).await();
            return 1;
        },
        [io] {
            io.sleep(1ms).await();
            return std::string("fast");
        },
        [io] { io.sleep(1h).await(); });
    if (v.index() != 1) co_return -1;
    int value = static_cast<int>(std::get<1>(v).size());
    // A void winner, and a winner that threw.
    auto w = co_await corio::race(io, [io] { io.sleep(1ms).await(); }, [io] {
        io.sleep(1h).await();
        return 2;
    });
    if (w.index() != 0) co_return -2;
    try {
        (void)co_await corio::race(
            io,
            [io]() -> int {
                io.sleep(1ms).await();
                throw std::runtime_error("lost");
            },
            [io] { io.sleep(1h).await(); });
        co_return -3;
    } catch (const std::runtime_error&) {
    }
    co_return value;
}

TEST_P(Select, RaceIsAwaitedFromACoroutine) {
    run([](Io io) { EXPECT_EQ(io.async(race_from_a_coroutine, io).await(), 4); });
}

}  // namespace
