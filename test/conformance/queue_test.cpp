// SPDX-License-Identifier: MIT
// Conformance: Queue<T> — order, try_put/try_get, rendezvous, close, move-only items,
// cancellation before, during and after put and get, with_timeout, and a cancellation stress
// test with exact accounting of every item.
#include "conformance/harness.hpp"

#include <corio/timeout.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <memory>
#include <optional>
#include <stop_token>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using corio::Io;

namespace {

CORIO_CONFORMANCE_SUITE(Queue);

using corio::test::eventually;
using corio::test::settle;
using corio::test::start_cancelled;

// ---- order, try_put / try_get ----------------------------------------------------------------

TEST_P(Queue, PutAndGetAreFifo) {
    run([](Io io) {
        corio::Queue<int> q(8);
        EXPECT_EQ(q.capacity(), 8u);
        EXPECT_EQ(q.size(), 0u);
        for (int i = 1; i <= 8; ++i) q.put(io, i).await();  // all inline: there is room
        EXPECT_EQ(q.size(), 8u);
        for (int i = 1; i <= 8; ++i) EXPECT_EQ(q.get(io).await(), i);
        EXPECT_EQ(q.size(), 0u);
        // Around the ring more than once.
        for (int round = 0; round < 3; ++round) {
            for (int i = 0; i < 5; ++i) q.put(io, round * 10 + i).await();
            for (int i = 0; i < 5; ++i) EXPECT_EQ(q.get(io).await(), round * 10 + i);
        }
        EXPECT_FALSE(q.closed());
    });
}

corio::Task<int> fifo_coro(Io io, corio::Queue<int>* q) {
    for (int i = 0; i < 4; ++i) co_await q->put(io, i);
    int checks = 0;
    for (int i = 0; i < 4; ++i)
        if (co_await q->get(io) == i) ++checks;
    co_return checks;
}

TEST_P(Queue, PutAndGetAreFifoInACoroutine) {
    run([](Io io) {
        corio::Queue<int> q(4);
        EXPECT_EQ(io.async(fifo_coro, io, &q).await(), 4);
    });
}

TEST_P(Queue, TryPutAndTryGetNeverWait) {
    run([](Io) {
        corio::Queue<int> q(2);
        EXPECT_FALSE(q.try_get().has_value());
        EXPECT_TRUE(q.try_put(1));
        const int two = 2;
        EXPECT_TRUE(q.try_put(two));  // the copying overload
        EXPECT_FALSE(q.try_put(3));   // full
        EXPECT_EQ(q.size(), 2u);
        EXPECT_EQ(q.try_get(), std::optional<int>(1));
        EXPECT_TRUE(q.try_put(3));
        EXPECT_EQ(q.try_get(), std::optional<int>(2));
        EXPECT_EQ(q.try_get(), std::optional<int>(3));
        EXPECT_FALSE(q.try_get().has_value());
    });
}

TEST_P(Queue, AProducerAndAConsumerExchangeInOrderWhileTheQueueFillsAndEmpties) {
    run([](Io io) {
        const int n = static_cast<int>(corio::test::scaled(300));
        for (std::size_t capacity : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
            corio::Queue<int> q(capacity);
            auto producer = io.concurrent([&q, io, n] {
                for (int i = 0; i < n; ++i) q.put(io, i).await();
            });
            int expected = 0;
            for (int i = 0; i < n; ++i)
                if (q.get(io).await() == expected) ++expected;
            producer.await();
            EXPECT_EQ(expected, n) << "capacity " << capacity;
        }
    });
}

// ---- capacity 0: a rendezvous -----------------------------------------------------------------

TEST_P(Queue, CapacityZeroPutWaitsUntilAGetterTakesTheItem) {
    run([](Io io) {
        corio::Queue<int> q(0);
        EXPECT_FALSE(q.try_put(1));  // no getter waits
        EXPECT_FALSE(q.try_get().has_value());
        std::atomic<bool> put_returned{false};
        auto putter = io.concurrent([&, io] {
            q.put(io, 42).await();
            put_returned = true;
        });
        settle(io);
        EXPECT_FALSE(put_returned.load());  // nobody took it yet
        EXPECT_EQ(q.size(), 0u);
        EXPECT_EQ(q.get(io).await(), 42);
        putter.await();
        EXPECT_TRUE(put_returned.load());
    });
}

TEST_P(Queue, CapacityZeroGetWaitsUntilAPutterArrives) {
    run([](Io io) {
        corio::Queue<int> q(0);
        auto getter = io.concurrent([&q, io] { return q.get(io).await(); });
        settle(io);
        EXPECT_FALSE(getter.ready());
        q.put(io, 7).await();  // hands it straight to the waiting getter
        EXPECT_EQ(getter.await(), 7);
    });
}

TEST_P(Queue, CapacityZeroTryPutAndTryGetPairWithAWaitingPartner) {
    run([](Io io) {
        corio::Queue<int> q(0);
        auto getter = io.concurrent([&q, io] { return q.get(io).await(); });
        ASSERT_TRUE(eventually(io, [&q] { return q.try_put(5); }));  // once the getter waits
        EXPECT_EQ(getter.await(), 5);

        auto putter = io.concurrent([&q, io] { q.put(io, 6).await(); });
        std::optional<int> got;
        ASSERT_TRUE(eventually(io, [&] { return (got = q.try_get()).has_value(); }));
        EXPECT_EQ(*got, 6);  // taken from the waiting putter
        putter.await();
    });
}

corio::Task<int> rendezvous_getter_coro(Io io, corio::Queue<int>* q) {
    const int a = co_await q->get(io);
    const int b = co_await q->get(io);
    co_await q->put(io, a + b);
    co_return a * b;
}

TEST_P(Queue, CapacityZeroRendezvousWithACoroutine) {
    run([](Io io) {
        corio::Queue<int> q(0);
        auto f = io.concurrent(rendezvous_getter_coro, io, &q);
        q.put(io, 3).await();
        q.put(io, 4).await();
        EXPECT_EQ(q.get(io).await(), 7);
        EXPECT_EQ(f.await(), 12);
    });
}

// ---- close ----------------------------------------------------------------------------------

TEST_P(Queue, CloseFailsPutsAndLetsGetsDrainFirst) {
    run([](Io io) {
        corio::Queue<int> q(4);
        q.put(io, 1).await();
        q.put(io, 2).await();
        q.close();
        q.close();  // idempotent
        EXPECT_TRUE(q.closed());
        EXPECT_THROW(q.put(io, 3).await(), corio::QueueClosed);
        EXPECT_FALSE(q.try_put(3));
        EXPECT_EQ(q.get(io).await(), 1);
        EXPECT_EQ(q.try_get(), std::optional<int>(2));
        EXPECT_THROW(q.get(io).await(), corio::QueueClosed);
        EXPECT_THROW(q.get(io).await(), corio::QueueClosed);
        EXPECT_FALSE(q.try_get().has_value());
        try {
            q.get(io).await();
            ADD_FAILURE() << "get on a closed, empty queue returned";
        } catch (const corio::QueueClosed& e) {
            EXPECT_EQ(e.code(), std::make_error_code(std::errc::broken_pipe));
        }
    });
}

corio::Task<int> closed_queue_coro(Io io, corio::Queue<int>* q) {
    int result = 0;
    try {
        co_await q->put(io, 9);
    } catch (const corio::QueueClosed&) {
        result += 1;
    }
    result += 10 * co_await q->get(io);  // drains what is left
    try {
        co_await q->get(io);
    } catch (const corio::QueueClosed&) {
        result += 100;
    }
    co_return result;
}

TEST_P(Queue, CloseFailsPutsAndLetsGetsDrainFirstInACoroutine) {
    run([](Io io) {
        corio::Queue<int> q(2);
        q.put(io, 5).await();
        q.close();
        EXPECT_EQ(io.async(closed_queue_coro, io, &q).await(), 151);
    });
}

corio::Task<int> get_until_closed_coro(Io io, corio::Queue<int>* q) {
    int got = 0;
    try {
        for (;;) {
            co_await q->get(io);
            ++got;
        }
    } catch (const corio::QueueClosed&) {
    }
    co_return got;
}

TEST_P(Queue, CloseWakesWaitingGettersWithQueueClosed) {
    run([](Io io) {
        corio::Queue<int> q(1);
        auto plain = io.concurrent([&q, io] { EXPECT_THROW(q.get(io).await(), corio::QueueClosed); });
        auto coro = io.concurrent(get_until_closed_coro, io, &q);
        settle(io);
        EXPECT_FALSE(plain.ready());
        EXPECT_FALSE(coro.ready());
        q.close();
        plain.await();
        EXPECT_EQ(coro.await(), 0);
    });
}

corio::Task<bool> put_until_closed_coro(Io io, corio::Queue<int>* q, int v) {
    bool closed = false;
    try {
        co_await q->put(io, v);
    } catch (const corio::QueueClosed&) {
        closed = true;
    }
    co_return closed;
}

TEST_P(Queue, CloseWakesWaitingPuttersWithQueueClosedAndKeepsTheBufferedItems) {
    run([](Io io) {
        corio::Queue<int> q(1);
        q.put(io, 1).await();  // full now
        auto plain = io.concurrent([&q, io] { EXPECT_THROW(q.put(io, 2).await(), corio::QueueClosed); });
        auto coro = io.concurrent(put_until_closed_coro, io, &q, 3);
        settle(io);
        EXPECT_FALSE(plain.ready());
        EXPECT_FALSE(coro.ready());
        q.close();
        plain.await();
        EXPECT_TRUE(coro.await());
        EXPECT_EQ(q.get(io).await(), 1);  // buffered before close: still delivered
        EXPECT_THROW(q.get(io).await(), corio::QueueClosed);  // 2 and 3 were never enqueued
    });
}

// ---- move-only items ------------------------------------------------------------------------

corio::Task<int> move_only_coro(Io io, corio::Queue<std::unique_ptr<int>>* q) {
    std::unique_ptr<int> p = co_await q->get(io);
    co_await q->put(io, std::make_unique<int>(*p * 2));
    co_return *p;
}

TEST_P(Queue, MoveOnlyItemsGoThroughEveryPath) {
    run([](Io io) {
        corio::Queue<std::unique_ptr<int>> q(2);
        q.put(io, std::make_unique<int>(1)).await();
        auto two = std::make_unique<int>(2);
        EXPECT_TRUE(q.try_put(std::move(two)));
        EXPECT_EQ(two, nullptr);  // NOLINT(bugprone-use-after-move): moved in
        auto three = std::make_unique<int>(3);
        EXPECT_FALSE(q.try_put(std::move(three)));  // full: the value is left untouched
        ASSERT_NE(three, nullptr);                  // NOLINT(bugprone-use-after-move)
        EXPECT_EQ(*three, 3);
        EXPECT_EQ(*q.get(io).await(), 1);
        auto got = q.try_get();
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(**got, 2);

        // Through a waiting getter (capacity 0: the only way).
        corio::Queue<std::unique_ptr<int>> r(0);
        auto f = io.concurrent(move_only_coro, io, &r);
        r.put(io, std::make_unique<int>(21)).await();
        EXPECT_EQ(*r.get(io).await(), 42);
        EXPECT_EQ(f.await(), 21);

        // A waiting putter refills the buffer when a getter frees a slot.
        corio::Queue<std::unique_ptr<int>> s(1);
        s.put(io, std::make_unique<int>(10)).await();
        auto putter = io.concurrent([&s, io] { s.put(io, std::make_unique<int>(11)).await(); });
        settle(io);
        EXPECT_EQ(*s.get(io).await(), 10);
        putter.await();
        EXPECT_EQ(*s.get(io).await(), 11);
        s.close();
        EXPECT_THROW(s.put(io, std::make_unique<int>(12)).await(), corio::QueueClosed);
    });
}

// ---- cancellation ---------------------------------------------------------------------------

TEST_P(Queue, PutCancelledBeforeTheWaitThrowsAndEnqueuesNothing) {
    run([](Io io) {
        corio::Queue<int> q(1);
        q.put(io, 1).await();  // full
        start_cancelled(io, [&q, io] {
            EXPECT_THROW(q.put(io, 2).await(), corio::Canceled);
        }).await();
        EXPECT_EQ(q.size(), 1u);
        EXPECT_EQ(q.get(io).await(), 1);
        EXPECT_FALSE(q.try_get().has_value());  // 2 never got in
        // With room, the fast path completes the put despite the pending cancellation.
        start_cancelled(io, [&q, io] { q.put(io, 3).await(); }).await();
        EXPECT_EQ(q.try_get(), std::optional<int>(3));
    });
}

corio::Task<int> put_cancelled_coro(Io io, corio::Queue<int>* q, int v) {
    int result = 0;
    try {
        co_await q->put(io, v);
    } catch (const corio::Canceled&) {
        result = 1;
    }
    co_return result;
}

corio::Task<int> get_cancelled_coro(Io io, corio::Queue<int>* q) {
    int result = -1;
    try {
        result = co_await q->get(io);
    } catch (const corio::Canceled&) {
        result = -2;
    }
    co_return result;
}

TEST_P(Queue, PutAndGetCancelledBeforeTheWaitThrowInACoroutine) {
    run([](Io io) {
        corio::Queue<int> zero(0);
        EXPECT_EQ(start_cancelled(io, put_cancelled_coro, io, &zero, 1).await(), 1);
        EXPECT_EQ(start_cancelled(io, get_cancelled_coro, io, &zero).await(), -2);
        EXPECT_FALSE(zero.try_get().has_value());
        EXPECT_FALSE(zero.try_put(2));  // no getter was left queued
    });
}

TEST_P(Queue, GetCancelledBeforeTheWaitThrowsAndTakesNothing) {
    run([](Io io) {
        corio::Queue<int> q(2);
        start_cancelled(io, [&q, io] {
            EXPECT_THROW(q.get(io).await(), corio::Canceled);
        }).await();
        q.put(io, 8).await();
        EXPECT_EQ(q.size(), 1u);  // went to the buffer, not to a cancelled getter
        // An item is there: the fast path takes it despite the pending cancellation.
        EXPECT_EQ(start_cancelled(io, [&q, io] { return q.get(io).await(); }).await(), 8);
    });
}

TEST_P(Queue, PutCancelledDuringTheWaitThrowsAndItsItemIsNeverReceived) {
    run([](Io io) {
        for (std::size_t capacity : {std::size_t{0}, std::size_t{1}}) {
            corio::Queue<int> q(capacity);
            if (capacity > 0) q.put(io, 1).await();  // full
            auto plain = io.concurrent([&q, io] { q.put(io, 100).await(); });
            settle(io);
            auto coro = io.concurrent(put_cancelled_coro, io, &q, 200);
            settle(io);
            EXPECT_THROW(plain.cancel(), corio::Canceled);
            EXPECT_EQ(coro.cancel(), 1);
            if (capacity > 0) {
                EXPECT_EQ(q.get(io).await(), 1);
            }
            EXPECT_FALSE(q.try_get().has_value()) << "capacity " << capacity;
            EXPECT_EQ(q.size(), 0u);
            q.close();
            EXPECT_THROW(q.get(io).await(), corio::QueueClosed);
        }
    });
}

TEST_P(Queue, GetCancelledDuringTheWaitThrowsAndTheNextItemGoesToTheNextGetter) {
    run([](Io io) {
        corio::Queue<int> q(1);
        auto a = io.concurrent([&q, io] { return q.get(io).await(); });
        settle(io);
        auto b = io.concurrent(get_cancelled_coro, io, &q);
        settle(io);
        auto c = io.concurrent([&q, io] { return q.get(io).await(); });
        settle(io);
        EXPECT_THROW(a.cancel(), corio::Canceled);
        EXPECT_EQ(b.cancel(), -2);
        q.put(io, 5).await();  // to c, the only getter still queued
        EXPECT_EQ(c.await(), 5);
        q.put(io, 6).await();
        EXPECT_EQ(q.size(), 1u);  // no cancelled getter took it
        EXPECT_EQ(q.try_get(), std::optional<int>(6));
    });
}

TEST_P(Queue, PutCancelledAfterItsItemWasTakenReturnsNormallyAndTheNextWaitThrows) {
    run([](Io io) {
        corio::Queue<int> q(1);
        q.put(io, 1).await();  // full
        auto f = io.concurrent([&q, io] {
            q.put(io, 2).await();  // its item moves into the buffer before the cancellation
            EXPECT_THROW(io.sleep(1h).await(), corio::Canceled);
            return true;
        });
        settle(io);
        EXPECT_EQ(q.get(io).await(), 1);  // frees a slot: the waiting put completes
        f.request_cancel();
        EXPECT_TRUE(f.await());
        EXPECT_EQ(q.get(io).await(), 2);
    });
}

corio::Task<int> get_then_cancelled_coro(Io io, corio::Queue<int>* q) {
    const int v = co_await q->get(io);  // handed over before the cancellation
    int result = v;
    try {
        co_await io.sleep(1h);
    } catch (const corio::Canceled&) {
        result += 1000;
    }
    co_return result;
}

TEST_P(Queue, GetCancelledAfterItWasHandedAnItemReturnsItAndTheNextWaitThrows) {
    run([](Io io) {
        corio::Queue<int> q(0);
        auto plain = io.concurrent([&q, io] {
            const int v = q.get(io).await();
            EXPECT_THROW(io.sleep(1h).await(), corio::Canceled);
            return v;
        });
        auto coro = io.concurrent(get_then_cancelled_coro, io, &q);
        settle(io);
        q.put(io, 1).await();
        q.put(io, 2).await();  // both getters have their item now
        plain.request_cancel();
        coro.request_cancel();
        const int a = plain.await();
        const int b = coro.await();
        EXPECT_TRUE((a == 1 && b == 1002) || (a == 2 && b == 1001)) << a << " " << b;
    });
}

// ---- with_timeout ---------------------------------------------------------------------------

TEST_P(Queue, WithTimeoutOnGetThrowsTimeoutAndLosesNoItem) {
    run([](Io io) {
        corio::Queue<int> q(1);
        auto f = io.concurrent([&q, io] {
            const auto t0 = io.now();
            EXPECT_THROW(corio::with_timeout(io, 10ms, q.get(io)).await(), corio::Timeout);
            EXPECT_GE(io.now() - t0, 10ms);
            EXPECT_FALSE(io.cancel_requested());
        });
        f.await();
        q.put(io, 4).await();
        EXPECT_EQ(q.size(), 1u);  // the timed-out getter was not queued any more
        EXPECT_EQ(corio::with_timeout(io, 1h, q.get(io)).await(), 4);  // inline
    });
}

TEST_P(Queue, WithTimeoutOnPutToAFullQueueThrowsTimeoutAndEnqueuesNothing) {
    run([](Io io) {
        corio::Queue<int> q(1);
        q.put(io, 1).await();
        EXPECT_THROW(corio::with_timeout(io, 10ms, q.put(io, 2)).await(), corio::Timeout);
        EXPECT_FALSE(io.cancel_requested());
        EXPECT_EQ(q.get(io).await(), 1);
        EXPECT_FALSE(q.try_get().has_value());
        corio::Queue<int> zero(0);
        EXPECT_THROW(corio::with_timeout(io, 10ms, zero.put(io, 3)).await(), corio::Timeout);
        EXPECT_FALSE(zero.try_get().has_value());
    });
}

corio::Task<int> timeout_get_coro(Io io, corio::Queue<int>* q, corio::Event* timed_out) {
    int result = 0;
    try {
        co_await corio::with_timeout(io, 10ms, q->get(io));
    } catch (const corio::Timeout&) {
        result += 1;
    } catch (...) {
        timed_out->set();  // do not leave the caller waiting
        throw;
    }
    timed_out->set();
    if (!io.cancel_requested()) result += 10;
    result += 100 * co_await corio::with_timeout(io, 1h, q->get(io));  // the item comes first
    co_return result;
}

TEST_P(Queue, WithTimeoutOnGetInACoroutineTimesOutThenReturnsTheValue) {
    run([](Io io) {
        corio::Queue<int> q(0);
        corio::Event timed_out;
        auto f = io.concurrent(timeout_get_coro, io, &q, &timed_out);
        timed_out.wait(io).await();
        // To the second get, waiting or about to (bounded: fails rather than deadlocks if the
        // coroutine ended early).
        corio::with_timeout(io, 5s, q.put(io, 3)).await();
        EXPECT_EQ(f.await(), 311);
    });
}

TEST_P(Queue, WithTimeoutReturnsTheValueWhenAnItemArrivesFirst) {
    run([](Io io) {
        corio::Queue<std::unique_ptr<int>> q(0);
        auto putter = io.concurrent([&q, io] {
            io.sleep(2ms).await();
            q.put(io, std::make_unique<int>(17)).await();
        });
        const auto t0 = io.now();
        std::unique_ptr<int> p = corio::with_timeout(io, 1h, q.get(io)).await();
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(*p, 17);
        EXPECT_LT(io.now() - t0, 30min);
        putter.await();
    });
}

// ---- stress: producers and consumers cancelled at random --------------------------------------

/// splitmix64: a small deterministic PRNG.
class SplitMix {
  public:
    explicit SplitMix(std::uint64_t seed) noexcept : state_(seed) {}
    std::uint64_t next() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    std::size_t below(std::size_t n) noexcept { return static_cast<std::size_t>(next() % n); }

  private:
    std::uint64_t state_;
};

struct ProducerLog {
    std::vector<int> sent;      // puts that returned normally
    std::vector<int> canceled;  // puts that threw Canceled
};

struct ConsumerLog {
    std::vector<int> got;
    bool canceled = false;
};

/// One cancellation the stress test's canceller makes.
struct Shot {
    int threshold;  // once the producers attempted this many puts
    bool producer;
    int index;
};

constexpr int kProducers = 4;
constexpr int kConsumers = 4;

int item(int producer, int i) { return producer * 1'000'000 + i; }

/// A cancelled producer keeps going: with the cancellation sticky, a put that must wait throws
/// at once, and a put that completes on the fast path still counts.
ProducerLog produce_plain(Io io, corio::Queue<int>& q, int p, int n,
                          std::atomic<int>& attempts) {
    ProducerLog log;
    for (int i = 0; i < n; ++i) {
        const int v = item(p, i);
        try {
            q.put(io, v).await();
            log.sent.push_back(v);
        } catch (const corio::Canceled&) {
            log.canceled.push_back(v);
        }
        ++attempts;
    }
    return log;
}

corio::Task<ProducerLog> produce_coro(Io io, corio::Queue<int>* q, int p, int n,
                                      std::atomic<int>* attempts) {
    ProducerLog log;
    for (int i = 0; i < n; ++i) {
        const int v = item(p, i);
        bool sent = false;
        try {
            co_await q->put(io, v);
            sent = true;
        } catch (const corio::Canceled&) {
        }
        (sent ? log.sent : log.canceled).push_back(v);
        ++*attempts;
    }
    co_return log;
}

/// A consumer stops at QueueClosed, or at Canceled and reports what it got before.
ConsumerLog consume_plain(Io io, corio::Queue<int>& q) {
    ConsumerLog log;
    for (;;) {
        try {
            log.got.push_back(q.get(io).await());
        } catch (const corio::QueueClosed&) {
            return log;
        } catch (const corio::Canceled&) {
            log.canceled = true;
            return log;
        }
    }
}

corio::Task<ConsumerLog> consume_coro(Io io, corio::Queue<int>* q) {
    ConsumerLog log;
    for (;;) {
        try {
            log.got.push_back(co_await q->get(io));
        } catch (const corio::QueueClosed&) {
            co_return log;
        } catch (const corio::Canceled&) {
            log.canceled = true;
            co_return log;
        }
    }
}

void stress(Io io, std::size_t capacity, bool virtual_time) {
    const int n = static_cast<int>(corio::test::scaled(2000));
    corio::Queue<int> q(capacity);
    std::atomic<int> attempts{0};  // puts attempted by all producers: always reaches 4 n
    std::vector<corio::Future<ProducerLog>> producers;
    std::vector<corio::Future<ConsumerLog>> consumers;
    producers.reserve(kProducers);
    consumers.reserve(kConsumers);
    for (int c = 0; c < kConsumers; ++c) {
        if (c % 2 == 0)
            consumers.push_back(io.concurrent([&q, io] { return consume_plain(io, q); }));
        else
            consumers.push_back(io.concurrent(consume_coro, io, &q));
    }
    for (int p = 0; p < kProducers; ++p) {
        if (p % 2 == 0)
            producers.push_back(io.concurrent(
                [&q, &attempts, io, p, n] { return produce_plain(io, q, p, n, attempts); }));
        else
            producers.push_back(io.concurrent(produce_coro, io, &q, p, n, &attempts));
    }

    // Cancels two producers and two consumers chosen at random (so two consumers always
    // drain), each once the producers have attempted a random number of puts. It only calls
    // request_cancel, and it ends before any future is awaited.
    auto canceller = io.concurrent([&, io] {
        SplitMix rng(0xC0210 + capacity);
        std::vector<int> ps{0, 1, 2, 3}, cs{0, 1, 2, 3};
        std::vector<Shot> shots;
        for (int k = 0; k < 2; ++k) {
            for (auto* pool : {&ps, &cs}) {
                const std::size_t i = rng.below(pool->size());
                shots.push_back({static_cast<int>(rng.below(static_cast<std::size_t>(kProducers * n))),
                                 pool == &ps, (*pool)[i]});
                pool->erase(pool->begin() + static_cast<std::ptrdiff_t>(i));
            }
        }
        std::sort(shots.begin(), shots.end(),
                  [](const Shot& a, const Shot& b) { return a.threshold < b.threshold; });
        for (const Shot& shot : shots) {
            // Reachable: cancelled producers keep attempting, and two consumers stay.
            for (long polls = 0; attempts.load() < shot.threshold; ++polls) {
                if (polls == 1'000'000) {
                    ADD_FAILURE() << "the producers stalled at " << attempts.load() << " puts";
                    break;
                }
                if (virtual_time)
                    io.yield().await();  // virtual time would not move while the workers run
                else
                    io.sleep(100us).await();
            }
            if (shot.producer)
                producers[static_cast<std::size_t>(shot.index)].request_cancel();
            else
                consumers[static_cast<std::size_t>(shot.index)].request_cancel();
        }
        return shots;
    });
    const std::vector<Shot> shots = canceller.await();
    auto targeted = [&shots](bool producer, std::size_t index) {
        return std::any_of(shots.begin(), shots.end(), [&](const Shot& s) {
            return s.producer == producer && static_cast<std::size_t>(s.index) == index;
        });
    };

    std::vector<int> sent, canceled_puts, received;
    for (std::size_t p = 0; p < producers.size(); ++p) {
        ProducerLog log = producers[p].await();
        EXPECT_EQ(log.sent.size() + log.canceled.size(), static_cast<std::size_t>(n));
        if (!targeted(true, p)) {
            EXPECT_TRUE(log.canceled.empty()) << "producer " << p;
        }
        sent.insert(sent.end(), log.sent.begin(), log.sent.end());
        canceled_puts.insert(canceled_puts.end(), log.canceled.begin(), log.canceled.end());
    }
    q.close();  // the remaining consumers drain the queue, then see QueueClosed
    std::size_t cancelled_consumers = 0;
    for (std::size_t c = 0; c < consumers.size(); ++c) {
        ConsumerLog log = consumers[c].await();
        if (log.canceled) ++cancelled_consumers;
        // A cancelled consumer may still end with QueueClosed (its gets complete on the fast
        // path while items are there); one that was not cancelled always does.
        if (!targeted(false, c)) {
            EXPECT_FALSE(log.canceled) << "consumer " << c;
        }
        // One producer's items reach one consumer in the order they were put.
        std::vector<int> last(kProducers, -1);
        std::size_t out_of_order = 0;
        for (int v : log.got) {
            const int p = v / 1'000'000;
            if (p < 0 || p >= kProducers) {
                ++out_of_order;
                continue;
            }
            if (v <= last[static_cast<std::size_t>(p)]) ++out_of_order;
            last[static_cast<std::size_t>(p)] = v;
        }
        EXPECT_EQ(out_of_order, 0u) << "consumer " << c;
        received.insert(received.end(), log.got.begin(), log.got.end());
    }
    EXPECT_LE(cancelled_consumers, 2u);
    EXPECT_EQ(q.size(), 0u);

    std::sort(sent.begin(), sent.end());
    std::sort(canceled_puts.begin(), canceled_puts.end());
    std::sort(received.begin(), received.end());
    const auto dup = std::adjacent_find(received.begin(), received.end());
    EXPECT_TRUE(dup == received.end()) << "received twice: " << *dup;
    std::vector<int> ghosts;  // received although their put threw Canceled
    std::set_intersection(received.begin(), received.end(), canceled_puts.begin(),
                          canceled_puts.end(), std::back_inserter(ghosts));
    EXPECT_TRUE(ghosts.empty()) << ghosts.size() << " cancelled puts were received, first "
                                << ghosts.front();
    std::vector<int> lost;  // put normally, never received
    std::set_difference(sent.begin(), sent.end(), received.begin(), received.end(),
                        std::back_inserter(lost));
    EXPECT_TRUE(lost.empty()) << lost.size() << " items were lost, first " << lost.front();
    EXPECT_EQ(received.size(), sent.size());
    EXPECT_EQ(sent.size() + canceled_puts.size(), static_cast<std::size_t>(kProducers * n));
    if (::testing::Test::HasFailure()) {
        std::fprintf(stderr, "capacity %zu: %zu cancellations, %zu sent, %zu cancelled puts\n",
                     capacity, shots.size(), sent.size(), canceled_puts.size());
    }
}

TEST_P(Queue, StressWithRandomCancellationAccountsForEveryItemAtCapacity0) {
    const bool virtual_time = simulated();
    run([virtual_time](Io io) { stress(io, 0, virtual_time); });
}

TEST_P(Queue, StressWithRandomCancellationAccountsForEveryItemAtCapacity1) {
    const bool virtual_time = simulated();
    run([virtual_time](Io io) { stress(io, 1, virtual_time); });
}

TEST_P(Queue, StressWithRandomCancellationAccountsForEveryItemAtCapacity16) {
    const bool virtual_time = simulated();
    run([virtual_time](Io io) { stress(io, 16, virtual_time); });
}

}  // namespace
