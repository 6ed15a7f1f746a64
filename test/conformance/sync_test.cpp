// SPDX-License-Identifier: MIT
// Conformance: Mutex, Condition, Semaphore, Event, io.yield and with_timeout on them, in plain
// code and in coroutines, with cancellation before, during and after every wait.
#include "conformance/harness.hpp"

#include <corio/timeout.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <stop_token>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using corio::Io;

namespace {

CORIO_CONFORMANCE_SUITE(Sync);

using corio::test::eventually;
using corio::test::settle;
using corio::test::start_cancelled;

// ---- Mutex ---------------------------------------------------------------------------------

TEST_P(Sync, MutexUncontendedLockTryLockAndUnlock) {
    run([](Io io) {
        corio::Mutex m;
        m.lock(io).await();
        EXPECT_FALSE(m.try_lock());
        m.unlock();
        EXPECT_TRUE(m.try_lock());
        EXPECT_FALSE(m.try_lock());
        m.unlock();
        m.lock(io).await();
        m.unlock();
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

TEST_P(Sync, MutexScopedLockYieldsAGuardThatUnlocks) {
    run([](Io io) {
        corio::Mutex m;
        {
            corio::MutexGuard g = m.scoped_lock(io).await();
            EXPECT_FALSE(m.try_lock());
        }
        EXPECT_TRUE(m.try_lock());
        m.unlock();
        {
            corio::MutexGuard g = m.scoped_lock(io).await();
            corio::MutexGuard moved(std::move(g));  // the moved-from guard unlocks nothing
            EXPECT_FALSE(m.try_lock());
            moved.unlock();
            EXPECT_TRUE(m.try_lock());  // unlocked early; the guard's destructor is a no-op now
            m.unlock();
        }
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

corio::Task<int> mutex_uncontended_coro(Io io, corio::Mutex* m) {
    int checks = 0;
    co_await m->lock(io);
    if (!m->try_lock()) ++checks;
    m->unlock();
    if (m->try_lock()) ++checks;
    m->unlock();
    {
        corio::MutexGuard g = co_await m->scoped_lock(io);
        if (!m->try_lock()) ++checks;
    }
    if (m->try_lock()) ++checks;
    m->unlock();
    co_return checks;
}

TEST_P(Sync, MutexUncontendedLockAndScopedLockInACoroutine) {
    run([](Io io) {
        corio::Mutex m;
        EXPECT_EQ(io.async(mutex_uncontended_coro, io, &m).await(), 4);
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

struct Counter {
    corio::Mutex m;
    int value = 0;                 // guarded by m
    std::atomic<int> inside{0};    // tasks inside the critical section
    std::atomic<int> violations{0};
};

void count_plain(Io io, Counter& c, int n) {
    for (int i = 0; i < n; ++i) {
        c.m.lock(io).await();
        if (c.inside.fetch_add(1) != 0) ++c.violations;
        const int v = c.value;
        io.yield().await();  // let the others try to get in
        c.value = v + 1;
        c.inside.fetch_sub(1);
        c.m.unlock();
    }
}

corio::Task<void> count_coro(Io io, Counter* c, int n) {
    for (int i = 0; i < n; ++i) {
        if (i % 2 == 0) {
            co_await c->m.lock(io);
            if (c->inside.fetch_add(1) != 0) ++c->violations;
            const int v = c->value;
            co_await io.yield();
            c->value = v + 1;
            c->inside.fetch_sub(1);
            c->m.unlock();
        } else {
            corio::MutexGuard g = co_await c->m.scoped_lock(io);
            if (c->inside.fetch_add(1) != 0) ++c->violations;
            const int v = c->value;
            co_await io.yield();
            c->value = v + 1;
            c->inside.fetch_sub(1);
        }
    }
}

TEST_P(Sync, MutexCounterUnderContentionIsExact) {
    run([](Io io) {
        const int n = static_cast<int>(corio::test::scaled(300));
        Counter c;
        {
            std::vector<corio::Future<void>> tasks;
            for (int t = 0; t < 8; ++t) {
                if (t % 2 == 0)
                    tasks.push_back(io.concurrent([&c, io, n] { count_plain(io, c, n); }));
                else
                    tasks.push_back(io.concurrent(count_coro, io, &c, n));
            }
            for (auto& f : tasks) f.await();
        }
        EXPECT_EQ(c.value, 8 * n);
        EXPECT_EQ(c.violations.load(), 0);
        EXPECT_TRUE(c.m.try_lock());
        c.m.unlock();
    });
}

TEST_P(Sync, MutexHandsOwnershipToWaitersInFifoOrder) {
    run([](Io io) {
        corio::Mutex m;
        std::mutex order_mutex;
        std::vector<int> order;
        std::atomic<int> started{0};
        m.lock(io).await();
        std::vector<corio::Future<void>> waiters;
        for (int i = 0; i < 4; ++i) {
            waiters.push_back(io.concurrent([&, i, io] {
                ++started;
                m.lock(io).await();
                {
                    std::lock_guard lock(order_mutex);
                    order.push_back(i);
                }
                m.unlock();
            }));
            // waiter i is in the mutex's queue before waiter i + 1 starts
            ASSERT_TRUE(corio::test::parked_on(io, waiters.back(), corio::detail::WaitKind::mutex));
        }
        m.unlock();
        for (auto& f : waiters) f.await();
        EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
    });
}

TEST_P(Sync, MutexLockCancelledBeforeTheWaitThrowsAndDoesNotOwn) {
    run([](Io io) {
        corio::Mutex m;
        corio::Event ready, go;
        m.lock(io).await();  // held by another task (this one)
        auto f = io.concurrent([&, io] {
            {
                corio::CancelShield shield(io);  // the cancellation arrives while shielded
                ready.set();
                go.wait(io).await();
            }
            EXPECT_TRUE(io.cancel_requested());
            EXPECT_THROW(m.lock(io).await(), corio::Canceled);
            EXPECT_THROW(m.lock(io).await(), corio::Canceled);  // sticky
        });
        ready.wait(io).await();
        f.request_cancel();
        go.set();
        f.await();
        m.unlock();
        EXPECT_TRUE(m.try_lock());  // no cancelled waiter was left queued to take it
        m.unlock();
    });
}

corio::Task<bool> lock_cancelled_before_coro(Io io, corio::Mutex* m) {
    bool threw = false;
    try {
        co_await m->lock(io);
        m->unlock();
    } catch (const corio::Canceled&) {
        threw = true;
    }
    co_return threw;
}

TEST_P(Sync, MutexLockCancelledBeforeTheWaitThrowsInACoroutine) {
    run([](Io io) {
        corio::Mutex m;
        m.lock(io).await();
        EXPECT_TRUE(start_cancelled(io, lock_cancelled_before_coro, io, &m).await());
        m.unlock();
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

TEST_P(Sync, MutexUncontendedLockWithAPendingCancellationCompletes) {
    run([](Io io) {
        corio::Mutex m;
        start_cancelled(io, [&m, io] {
            m.lock(io).await();  // the fast path ignores the pending cancellation
            EXPECT_FALSE(m.try_lock());
            m.unlock();
            {
                corio::MutexGuard g = m.scoped_lock(io).await();
                EXPECT_FALSE(m.try_lock());
            }
            EXPECT_THROW(io.check_cancel(), corio::Canceled);
        }).await();
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

TEST_P(Sync, MutexLockCancelledDuringTheWaitThrowsAndTheNextWaiterGetsIt) {
    run([](Io io) {
        corio::Mutex m;
        bool b_owned = false;
        m.lock(io).await();
        auto a = io.concurrent([&m, io] {
            m.lock(io).await();
            ADD_FAILURE() << "a cancelled waiter got the mutex";
            m.unlock();
        });
        ASSERT_TRUE(corio::test::parked_on(io, a, corio::detail::WaitKind::mutex));
        auto b = io.concurrent([&, io] {
            m.lock(io).await();
            b_owned = true;
            m.unlock();
        });
        ASSERT_TRUE(corio::test::parked_on(io, b, corio::detail::WaitKind::mutex));
        EXPECT_THROW(a.cancel(), corio::Canceled);
        EXPECT_FALSE(b.ready());
        m.unlock();  // hands the mutex to b, past the cancelled a
        b.await();
        EXPECT_TRUE(b_owned);
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

corio::Task<bool> lock_waits_coro(Io io, corio::Mutex* m, corio::Event* started) {
    started->set();
    bool canceled = false;
    try {
        co_await m->lock(io);
        m->unlock();
    } catch (const corio::Canceled&) {
        canceled = true;
    }
    co_return canceled;
}

TEST_P(Sync, MutexLockCancelledDuringTheWaitThrowsInACoroutine) {
    run([](Io io) {
        corio::Mutex m;
        corio::Event started;
        m.lock(io).await();
        auto f = io.concurrent(lock_waits_coro, io, &m, &started);
        started.wait(io).await();
        settle(io);
        EXPECT_TRUE(f.cancel());
        m.unlock();
        EXPECT_TRUE(m.try_lock());  // the cancelled waiter is not queued any more
        m.unlock();
    });
}

TEST_P(Sync, MutexCancelAfterTheLockWasAcquiredKeepsOwnershipAndTheNextWaitThrows) {
    run([](Io io) {
        corio::Mutex m;
        corio::Event locked, checked;
        m.lock(io).await();
        auto f = io.concurrent([&, io] {
            m.lock(io).await();  // handed over before the cancellation: returns normally
            locked.set();
            EXPECT_THROW(io.sleep(1h).await(), corio::Canceled);
            EXPECT_FALSE(m.try_lock());  // still ours
            {
                corio::CancelShield shield(io);
                checked.wait(io).await();
            }
            m.unlock();
            return 7;
        });
        settle(io);
        m.unlock();  // hands the mutex to f (or f takes it on its fast path)
        f.request_cancel();
        locked.wait(io).await();
        EXPECT_FALSE(m.try_lock());  // f owns it: the cancellation changed nothing
        checked.set();
        EXPECT_EQ(f.await(), 7);
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

corio::Task<int> lock_then_cancelled_coro(Io io, corio::Mutex* m) {
    co_await m->lock(io);
    int result = 0;
    try {
        co_await io.sleep(1h);
    } catch (const corio::Canceled&) {
        result += 1;
    }
    if (!m->try_lock()) result += 10;  // still held, by this task
    m->unlock();
    co_return result;
}

TEST_P(Sync, MutexCancelAfterTheLockWasAcquiredInACoroutine) {
    run([](Io io) {
        corio::Mutex m;
        m.lock(io).await();
        auto f = io.concurrent(lock_then_cancelled_coro, io, &m);
        settle(io);
        m.unlock();
        f.request_cancel();
        EXPECT_EQ(f.await(), 11);
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

// ---- Condition ------------------------------------------------------------------------------

/// A bounded buffer built from a Mutex and two Conditions.
struct Channel {
    static constexpr std::size_t capacity = 4;
    corio::Mutex m;
    corio::Condition not_empty;
    corio::Condition not_full;
    std::deque<int> items;  // guarded by m
    bool done = false;      // guarded by m
};

void produce_plain(Io io, Channel& ch, int first, int n) {
    for (int i = first; i < first + n; ++i) {
        corio::MutexGuard g = ch.m.scoped_lock(io).await();
        while (ch.items.size() >= Channel::capacity) ch.not_full.wait(io, ch.m).await();
        ch.items.push_back(i);
        ch.not_empty.signal();
    }
}

corio::Task<void> produce_coro(Io io, Channel* ch, int first, int n) {
    for (int i = first; i < first + n; ++i) {
        co_await ch->m.lock(io);
        while (ch->items.size() >= Channel::capacity) co_await ch->not_full.wait(io, ch->m);
        ch->items.push_back(i);
        ch->not_empty.signal();
        ch->m.unlock();
    }
}

long consume_plain(Io io, Channel& ch) {
    long sum = 0;
    for (;;) {
        corio::MutexGuard g = ch.m.scoped_lock(io).await();
        while (ch.items.empty() && !ch.done) ch.not_empty.wait(io, ch.m).await();
        if (ch.items.empty()) return sum;
        sum += ch.items.front();
        ch.items.pop_front();
        ch.not_full.signal();
    }
}

corio::Task<long> consume_coro(Io io, Channel* ch) {
    long sum = 0;
    for (;;) {
        co_await ch->m.lock(io);
        while (ch->items.empty() && !ch->done) co_await ch->not_empty.wait(io, ch->m);
        if (ch->items.empty()) {
            ch->m.unlock();
            co_return sum;
        }
        sum += ch->items.front();
        ch->items.pop_front();
        ch->not_full.signal();
        ch->m.unlock();
    }
}

TEST_P(Sync, ConditionProducersAndConsumersExchangeEveryItem) {
    run([](Io io) {
        const int n = static_cast<int>(corio::test::scaled(500));
        Channel ch;
        auto c1 = io.concurrent([&ch, io] { return consume_plain(io, ch); });
        auto c2 = io.concurrent(consume_coro, io, &ch);
        auto p1 = io.concurrent([&ch, io, n] { produce_plain(io, ch, 1, n); });
        auto p2 = io.concurrent(produce_coro, io, &ch, n + 1, n);
        p1.await();
        p2.await();
        {
            corio::MutexGuard g = ch.m.scoped_lock(io).await();
            ch.done = true;
            ch.not_empty.broadcast();  // wakes every consumer still waiting
        }
        const long total = c1.await() + c2.await();
        const long m = 2L * n;
        EXPECT_EQ(total, m * (m + 1) / 2);
        EXPECT_TRUE(ch.items.empty());
    });
}

corio::Task<void> wait_for_flag_coro(Io io, corio::Mutex* m, corio::Condition* c, bool* flag,
                                     int* waiting, std::atomic<int>* woken) {
    co_await m->lock(io);
    ++*waiting;
    while (!*flag) co_await c->wait(io, *m);
    ++*woken;
    m->unlock();
}

struct Tickets {
    corio::Mutex m;
    corio::Condition c;
    int tickets = 0;   // guarded by m: each signal() hands out one
    bool open = false; // guarded by m: set with broadcast()
    int waiting = 0;   // guarded by m
    int wakeups = 0;   // guarded by m: returns from wait (there are no spurious ones)
    std::atomic<int> woken{0};
};

void take_ticket_plain(Io io, Tickets& t) {
    corio::MutexGuard g = t.m.scoped_lock(io).await();
    ++t.waiting;
    while (t.tickets == 0 && !t.open) {
        t.c.wait(io, t.m).await();
        ++t.wakeups;
    }
    if (t.tickets > 0) --t.tickets;
    ++t.woken;
}

corio::Task<void> take_ticket_coro(Io io, Tickets* t) {
    co_await t->m.lock(io);
    ++t->waiting;
    while (t->tickets == 0 && !t->open) {
        co_await t->c.wait(io, t->m);
        ++t->wakeups;
    }
    if (t->tickets > 0) --t->tickets;
    ++t->woken;
    t->m.unlock();
}

TEST_P(Sync, ConditionSignalWakesOneWaiterAndBroadcastWakesTheRest) {
    run([](Io io) {
        Tickets t;
        std::vector<corio::Future<void>> waiters;
        for (int i = 0; i < 2; ++i) {
            waiters.push_back(io.concurrent([&t, io] { take_ticket_plain(io, t); }));
            waiters.push_back(io.concurrent(take_ticket_coro, io, &t));
        }
        // Until all four are queued on the condition (each counts itself, then waits, which
        // releases m).
        ASSERT_TRUE(eventually(io, [&t, io] {
            corio::MutexGuard g = t.m.scoped_lock(io).await();
            return t.waiting == 4;
        }));
        {
            corio::MutexGuard g = t.m.scoped_lock(io).await();
            t.tickets = 1;
            t.c.signal();
        }
        ASSERT_TRUE(eventually(io, [&t] { return t.woken.load() >= 1; }));
        settle(io);
        EXPECT_EQ(t.woken.load(), 1);  // exactly one waiter was woken
        {
            corio::MutexGuard g = t.m.scoped_lock(io).await();
            EXPECT_EQ(t.wakeups, 1);  // and no other returned from wait to wait again
            t.open = true;
            t.c.broadcast();
        }
        for (auto& f : waiters) f.await();
        EXPECT_EQ(t.woken.load(), 4);
        EXPECT_EQ(t.wakeups, 4);
        EXPECT_EQ(t.tickets, 0);
    });
}

TEST_P(Sync, ConditionBroadcastWakesEveryWaiterPlainAndCoroutine) {
    run([](Io io) {
        corio::Mutex m;
        corio::Condition c;
        bool flag = false;
        int waiting = 0;
        std::atomic<int> woken{0};
        std::vector<corio::Future<void>> waiters;
        for (int i = 0; i < 3; ++i) {
            waiters.push_back(io.concurrent([&, io] {
                corio::MutexGuard g = m.scoped_lock(io).await();
                ++waiting;
                while (!flag) c.wait(io, m).await();
                ++woken;
            }));
            waiters.push_back(io.concurrent(wait_for_flag_coro, io, &m, &c, &flag, &waiting, &woken));
        }
        ASSERT_TRUE(eventually(io, [&, io] {
            corio::MutexGuard g = m.scoped_lock(io).await();
            return waiting == 6;  // all six are queued on the condition
        }));
        {
            corio::MutexGuard g = m.scoped_lock(io).await();
            flag = true;
            c.broadcast();  // one broadcast must wake all six
        }
        for (auto& f : waiters) f.await();
        EXPECT_EQ(woken.load(), 6);
    });
}

TEST_P(Sync, ConditionSignalAndBroadcastWithoutWaitersAreNoOps) {
    run([](Io io) {
        corio::Mutex m;
        corio::Condition c;
        c.signal();
        c.broadcast();
        m.lock(io).await();
        EXPECT_THROW(corio::with_timeout(io, 10ms, c.wait(io, m)).await(), corio::Timeout);
        EXPECT_FALSE(m.try_lock());  // held again after the timeout
        m.unlock();
    });
}

TEST_P(Sync, ConditionWaitCancelledThrowsWithTheMutexHeldAgain) {
    run([](Io io) {
        corio::Mutex m;
        corio::Condition c;
        corio::Event waiting, caught, go;
        bool never = false;
        auto f = io.concurrent([&, io] {
            m.lock(io).await();
            waiting.set();
            bool threw = false;
            try {
                while (!never) c.wait(io, m).await();
            } catch (const corio::Canceled&) {
                threw = true;
            }
            EXPECT_TRUE(threw);
            EXPECT_FALSE(m.try_lock());  // held by this task again
            caught.set();
            {
                corio::CancelShield shield(io);  // keep holding it while the caller looks
                go.wait(io).await();
            }
            m.unlock();
        });
        waiting.wait(io).await();
        m.lock(io).await();  // f released m inside wait: it is queued on the condition now
        f.request_cancel();
        settle(io);  // the cancelled waiter now waits to relock the mutex this task holds
        EXPECT_FALSE(f.ready());
        EXPECT_FALSE(caught.is_set());
        m.unlock();  // hands it to the cancelled waiter
        caught.wait(io).await();
        EXPECT_FALSE(m.try_lock());  // f holds it while it handles Canceled
        go.set();
        f.await();
        // Unlocked once by its owner: free again, and other tasks can take it.
        auto other = io.concurrent([&m, io] {
            m.lock(io).await();
            m.unlock();
            return true;
        });
        EXPECT_TRUE(other.await());
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

corio::Task<int> condition_wait_cancelled_coro(Io io, corio::Mutex* m, corio::Condition* c,
                                               corio::Event* waiting) {
    co_await m->lock(io);
    waiting->set();
    int result = 0;
    try {
        for (;;) co_await c->wait(io, *m);
    } catch (const corio::Canceled&) {
        result += 1;
    }
    if (!m->try_lock()) result += 10;  // held again, by this task
    m->unlock();
    co_return result;
}

TEST_P(Sync, ConditionWaitCancelledInACoroutineThrowsWithTheMutexHeldAgain) {
    run([](Io io) {
        corio::Mutex m;
        corio::Condition c;
        corio::Event waiting;
        auto f = io.concurrent(condition_wait_cancelled_coro, io, &m, &c, &waiting);
        waiting.wait(io).await();
        m.lock(io).await();  // the coroutine is queued on the condition
        f.request_cancel();
        settle(io);
        EXPECT_FALSE(f.ready());  // it cannot resume before it owns the mutex
        m.unlock();
        EXPECT_EQ(f.await(), 11);
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

TEST_P(Sync, ConditionWaitWithAPendingCancellationThrowsAtOnceWithTheMutexHeld) {
    run([](Io io) {
        corio::Mutex m;
        corio::Condition c;
        start_cancelled(io, [&, io] {
            m.lock(io).await();
            EXPECT_THROW(c.wait(io, m).await(), corio::Canceled);
            EXPECT_FALSE(m.try_lock());  // never released
            m.unlock();
        }).await();
        EXPECT_TRUE(m.try_lock());
        m.unlock();
        c.signal();  // nobody is left queued on the condition
    });
}

corio::Task<int> condition_cancelled_before_coro(Io io, corio::Mutex* m, corio::Condition* c) {
    co_await m->lock(io);
    int result = 0;
    try {
        co_await c->wait(io, *m);
    } catch (const corio::Canceled&) {
        result += 1;
    }
    if (!m->try_lock()) result += 10;
    m->unlock();
    co_return result;
}

TEST_P(Sync, ConditionWaitWithAPendingCancellationThrowsAtOnceInACoroutine) {
    run([](Io io) {
        corio::Mutex m;
        corio::Condition c;
        EXPECT_EQ(start_cancelled(io, condition_cancelled_before_coro, io, &m, &c).await(), 11);
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

// ---- Semaphore ------------------------------------------------------------------------------

TEST_P(Sync, SemaphorePermitsTryAcquireAndAvailable) {
    run([](Io io) {
        corio::Semaphore s(2);
        EXPECT_EQ(s.available(), 2u);
        s.acquire(io).await();
        EXPECT_EQ(s.available(), 1u);
        EXPECT_TRUE(s.try_acquire());
        EXPECT_EQ(s.available(), 0u);
        EXPECT_FALSE(s.try_acquire());
        s.release();
        EXPECT_EQ(s.available(), 1u);
        s.release(3);
        EXPECT_EQ(s.available(), 4u);
        corio::Semaphore empty;
        EXPECT_EQ(empty.available(), 0u);
        EXPECT_FALSE(empty.try_acquire());
    });
}

corio::Task<std::size_t> semaphore_coro(Io io, corio::Semaphore* s) {
    co_await s->acquire(io);
    co_await s->acquire(io);
    const std::size_t left = s->available();
    s->release(2);
    co_return left;
}

TEST_P(Sync, SemaphoreAcquireInACoroutine) {
    run([](Io io) {
        corio::Semaphore s(3);
        EXPECT_EQ(io.async(semaphore_coro, io, &s).await(), 1u);
        EXPECT_EQ(s.available(), 3u);
    });
}

corio::Task<void> acquire_and_count_coro(Io io, corio::Semaphore* s, std::atomic<int>* started,
                                         std::atomic<int>* acquired) {
    ++*started;
    co_await s->acquire(io);
    ++*acquired;
}

TEST_P(Sync, SemaphoreReleaseNWakesNWaiters) {
    run([](Io io) {
        corio::Semaphore s(0);
        std::atomic<int> started{0}, acquired{0};
        std::vector<corio::Future<void>> waiters;
        for (int i = 0; i < 2; ++i) {
            waiters.push_back(io.concurrent([&, io] {
                ++started;
                s.acquire(io).await();
                ++acquired;
            }));
            waiters.push_back(io.concurrent(acquire_and_count_coro, io, &s, &started, &acquired));
        }
        ASSERT_TRUE(eventually(io, [&] { return started.load() == 4; }));
        settle(io);
        EXPECT_EQ(acquired.load(), 0);
        s.release(2);
        ASSERT_TRUE(eventually(io, [&] { return acquired.load() >= 2; }));
        settle(io);
        EXPECT_EQ(acquired.load(), 2);  // two permits, two waiters: no more
        EXPECT_EQ(s.available(), 0u);
        s.release(5);  // two go to the waiters, three are left over
        for (auto& f : waiters) f.await();
        EXPECT_EQ(acquired.load(), 4);
        EXPECT_EQ(s.available(), 3u);
    });
}

TEST_P(Sync, SemaphoreHandsPermitsToWaitersInFifoOrder) {
    run([](Io io) {
        corio::Semaphore s(0);
        std::mutex order_mutex;
        std::vector<int> order;
        std::atomic<int> started{0};
        std::vector<corio::Future<void>> waiters;
        for (int i = 0; i < 4; ++i) {
            waiters.push_back(io.concurrent([&, i, io] {
                ++started;
                s.acquire(io).await();
                std::lock_guard lock(order_mutex);
                order.push_back(i);
            }));
            // waiter i is in the semaphore's queue before waiter i + 1 starts
            ASSERT_TRUE(
                corio::test::parked_on(io, waiters.back(), corio::detail::WaitKind::semaphore));
        }
        for (int i = 0; i < 4; ++i) {
            s.release();
            ASSERT_TRUE(eventually(io, [&] {  // one waiter took it before the next release
                std::lock_guard lock(order_mutex);
                return order.size() == static_cast<std::size_t>(i + 1);
            }));
        }
        for (auto& f : waiters) f.await();
        EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
        EXPECT_EQ(s.available(), 0u);
    });
}

TEST_P(Sync, SemaphoreAcquireCancelledBeforeTheWaitThrowsAndTakesNothing) {
    run([](Io io) {
        corio::Semaphore s(0);
        start_cancelled(io, [&s, io] {
            EXPECT_THROW(s.acquire(io).await(), corio::Canceled);
        }).await();
        s.release();
        EXPECT_EQ(s.available(), 1u);  // not handed to the cancelled task
        // With a permit free, the fast path ignores the pending cancellation.
        start_cancelled(io, [&s, io] { s.acquire(io).await(); }).await();
        EXPECT_EQ(s.available(), 0u);
    });
}

corio::Task<bool> acquire_cancelled_coro(Io io, corio::Semaphore* s) {
    bool threw = false;
    try {
        co_await s->acquire(io);
    } catch (const corio::Canceled&) {
        threw = true;
    }
    co_return threw;
}

TEST_P(Sync, SemaphoreAcquireCancelledBeforeTheWaitThrowsInACoroutine) {
    run([](Io io) {
        corio::Semaphore s(0);
        EXPECT_TRUE(start_cancelled(io, acquire_cancelled_coro, io, &s).await());
        s.release();
        EXPECT_EQ(s.available(), 1u);
    });
}

TEST_P(Sync, SemaphoreAcquireCancelledDuringTheWaitThrowsAndTheNextWaiterGetsThePermit) {
    run([](Io io) {
        corio::Semaphore s(0);
        auto a = io.concurrent([&s, io] { s.acquire(io).await(); });
        settle(io);
        auto b = io.concurrent(acquire_cancelled_coro, io, &s);
        settle(io);
        EXPECT_THROW(a.cancel(), corio::Canceled);
        s.release();  // b is now the first waiter
        EXPECT_FALSE(b.await());
        EXPECT_EQ(s.available(), 0u);
        s.release();
        EXPECT_EQ(s.available(), 1u);  // no cancelled waiter took it
    });
}

TEST_P(Sync, SemaphoreAcquireCancelledDuringTheWaitInACoroutine) {
    run([](Io io) {
        corio::Semaphore s(0);
        auto f = io.concurrent(acquire_cancelled_coro, io, &s);
        settle(io);
        EXPECT_TRUE(f.cancel());
        s.release();
        EXPECT_EQ(s.available(), 1u);
    });
}

corio::Task<int> acquire_then_cancelled_coro(Io io, corio::Semaphore* s) {
    co_await s->acquire(io);  // granted before the cancellation
    int result = 0;
    try {
        co_await io.sleep(1h);
    } catch (const corio::Canceled&) {
        result = 1;
    }
    co_return result;
}

TEST_P(Sync, SemaphoreCancelAfterThePermitWasGrantedKeepsItAndTheNextWaitThrows) {
    run([](Io io) {
        corio::Semaphore s(0);
        auto f = io.concurrent([&s, io] {
            s.acquire(io).await();  // granted before the cancellation
            EXPECT_THROW(io.sleep(1h).await(), corio::Canceled);
            return s.available();
        });
        auto g = io.concurrent(acquire_then_cancelled_coro, io, &s);
        // Both queued on the semaphore before the release (a fixed settle was too short for
        // a loaded machine under ASan: one took its permit after the other had ended).
        ASSERT_TRUE(corio::test::parked_on(io, f, corio::detail::WaitKind::semaphore));
        ASSERT_TRUE(corio::test::parked_on(io, g, corio::detail::WaitKind::semaphore));
        s.release(2);
        f.request_cancel();
        g.request_cancel();
        EXPECT_EQ(f.await(), 0u);
        EXPECT_EQ(g.await(), 1);
        EXPECT_EQ(s.available(), 0u);  // both kept their permits
    });
}

// ---- Event ----------------------------------------------------------------------------------

TEST_P(Sync, EventSetResetAndIsSet) {
    run([](Io io) {
        corio::Event e;
        EXPECT_FALSE(e.is_set());
        e.set();
        EXPECT_TRUE(e.is_set());
        e.set();  // idempotent
        EXPECT_TRUE(e.is_set());
        e.wait(io).await();
        e.reset();
        EXPECT_FALSE(e.is_set());
        EXPECT_THROW(corio::with_timeout(io, 10ms, e.wait(io)).await(), corio::Timeout);
        corio::Event initially_set(true);
        EXPECT_TRUE(initially_set.is_set());
        initially_set.wait(io).await();
    });
}

corio::Task<int> event_inline_coro(Io io, corio::Event* e) {
    co_await e->wait(io);
    co_await e->wait(io);
    co_return 1;
}

TEST_P(Sync, EventWaitCompletesInlineWhenSetEvenWithAPendingCancellation) {
    const bool virtual_time = simulated();
    run([virtual_time](Io io) {
        corio::Event e(true);
        const auto t0 = io.now();
        start_cancelled(io, [&e, io] {
            e.wait(io).await();  // set: completes at once, the pending cancellation is ignored
            EXPECT_THROW(io.check_cancel(), corio::Canceled);
        }).await();
        EXPECT_EQ(io.async(event_inline_coro, io, &e).await(), 1);
        EXPECT_EQ(start_cancelled(io, event_inline_coro, io, &e).await(), 1);
        if (virtual_time) {
            EXPECT_EQ(io.now(), t0);  // nothing waited
        }
    });
}

corio::Task<void> event_waiter_coro(Io io, corio::Event* e, std::atomic<int>* woken) {
    co_await e->wait(io);
    ++*woken;
}

TEST_P(Sync, EventSetWakesEveryWaiter) {
    run([](Io io) {
        corio::Event e;
        std::atomic<int> woken{0};
        std::vector<corio::Future<void>> waiters;
        for (int i = 0; i < 3; ++i) {
            waiters.push_back(io.concurrent([&, io] {
                e.wait(io).await();
                ++woken;
            }));
            waiters.push_back(io.concurrent(event_waiter_coro, io, &e, &woken));
        }
        settle(io);
        EXPECT_EQ(woken.load(), 0);
        e.set();
        for (auto& f : waiters) f.await();
        EXPECT_EQ(woken.load(), 6);
        EXPECT_TRUE(e.is_set());
    });
}

TEST_P(Sync, EventWaitCancelledDuringTheWaitThrowsAndLeavesTheOthersWaiting) {
    run([](Io io) {
        corio::Event e;
        std::atomic<int> woken{0};
        auto a = io.concurrent([&e, io] { e.wait(io).await(); });
        auto b = io.concurrent(event_waiter_coro, io, &e, &woken);
        auto c = io.concurrent(event_waiter_coro, io, &e, &woken);
        settle(io);
        EXPECT_THROW(a.cancel(), corio::Canceled);
        EXPECT_THROW(b.cancel(), corio::Canceled);
        EXPECT_FALSE(e.is_set());
        EXPECT_FALSE(c.ready());
        e.set();
        c.await();
        EXPECT_EQ(woken.load(), 1);
    });
}

TEST_P(Sync, EventWaitCancelledBeforeTheWaitThrowsAtOnce) {
    run([](Io io) {
        corio::Event e;
        start_cancelled(io, [&e, io] {
            EXPECT_THROW(e.wait(io).await(), corio::Canceled);
        }).await();
        std::atomic<int> woken{0};
        EXPECT_THROW(start_cancelled(io, event_waiter_coro, io, &e, &woken).await(),
                     corio::Canceled);
        EXPECT_EQ(woken.load(), 0);
    });
}

// ---- io.yield -------------------------------------------------------------------------------

TEST_P(Sync, YieldLetsAnotherTaskRunInPlainCode) {
    run([](Io io) {
        corio::Event e;
        auto f = io.concurrent([&e] { e.set(); });
        while (!e.is_set()) io.yield().await();
        f.await();
        io.yield().await();
    });
}

corio::Task<int> yield_until_set_coro(Io io, corio::Event* e) {
    int yields = 0;
    while (!e->is_set()) {
        co_await io.yield();
        ++yields;
    }
    co_await io.yield();
    co_return yields;
}

TEST_P(Sync, YieldLetsAnotherTaskRunInACoroutine) {
    run([](Io io) {
        corio::Event e;
        auto waiter = io.concurrent(yield_until_set_coro, io, &e);
        auto setter = io.concurrent([&e] { e.set(); });
        setter.await();
        EXPECT_GE(waiter.await(), 0);
    });
}

corio::Task<bool> yield_cancelled_coro(Io io) {
    bool threw = false;
    try {
        co_await io.yield();
    } catch (const corio::Canceled&) {
        threw = true;
    }
    co_return threw;
}

TEST_P(Sync, YieldThrowsCanceledWhenCancellationWasRequested) {
    run([](Io io) {
        start_cancelled(io, [io] {
            EXPECT_THROW(io.yield().await(), corio::Canceled);
            {
                corio::CancelShield shield(io);
                io.yield().await();  // shielded: no cancellation point
            }
            EXPECT_THROW(io.yield().await(), corio::Canceled);  // sticky
        }).await();
        EXPECT_TRUE(start_cancelled(io, yield_cancelled_coro, io).await());
    });
}

/// Yields until cancelled. The loop is bounded in real time, not in a count of yields, so a yield
/// that ignores cancellation fails the test rather than hanging it, and a loaded machine that
/// is slow to cancel cannot run the loop out first (a million coroutine yields take about 50 ms
/// on Threaded).
constexpr auto kYieldFor = std::chrono::seconds(30);

bool yielded_long_enough(std::chrono::steady_clock::time_point start) {
    return std::chrono::steady_clock::now() - start > kYieldFor;
}

corio::Task<void> yield_forever_coro(Io io, corio::Event* started) {
    started->set();
    const auto start = std::chrono::steady_clock::now();
    while (!yielded_long_enough(start)) co_await io.yield();
}

TEST_P(Sync, YieldLoopEndsWhenTheTaskIsCancelled) {
    run([](Io io) {
        corio::Event started_plain, started_coro;
        auto plain = io.concurrent([&started_plain, io] {
            started_plain.set();
            const auto start = std::chrono::steady_clock::now();
            while (!yielded_long_enough(start)) io.yield().await();
        });
        auto coro = io.concurrent(yield_forever_coro, io, &started_coro);
        // Wait on events, not a sleep: yielding tasks keep virtual time from moving.
        started_plain.wait(io).await();
        started_coro.wait(io).await();
        EXPECT_THROW(plain.cancel(), corio::Canceled);
        EXPECT_THROW(coro.cancel(), corio::Canceled);
    });
}

// ---- with_timeout ---------------------------------------------------------------------------

TEST_P(Sync, WithTimeoutOnAHeldMutexThrowsTimeoutAndLeavesTheTaskUncancelled) {
    run([](Io io) {
        corio::Mutex m;
        m.lock(io).await();
        auto f = io.concurrent([&m, io] {
            const auto t0 = io.now();
            EXPECT_THROW(corio::with_timeout(io, 10ms, m.lock(io)).await(), corio::Timeout);
            EXPECT_GE(io.now() - t0, 10ms);
            EXPECT_FALSE(io.cancel_requested());
            io.check_cancel();
            io.sleep(1ms).await();  // waits still work: the task was not cancelled
            return true;
        });
        EXPECT_TRUE(f.await());
        m.unlock();  // the timed-out waiter must not be queued any more
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

TEST_P(Sync, WithTimeoutOnAMutexHeldByAnotherTask) {
    run([](Io io) {
        corio::Mutex m;
        corio::Event locked, release;
        auto holder = io.concurrent([&, io] {
            corio::MutexGuard g = m.scoped_lock(io).await();
            locked.set();
            release.wait(io).await();
        });
        locked.wait(io).await();
        EXPECT_THROW(corio::with_timeout(io, 10ms, m.lock(io)).await(), corio::Timeout);
        EXPECT_THROW(corio::with_timeout(io, 10ms, m.scoped_lock(io)).await(), corio::Timeout);
        EXPECT_FALSE(io.cancel_requested());
        release.set();
        holder.await();
        m.lock(io).await();  // the holder's unlock found no stale waiter
        m.unlock();
    });
}

corio::Task<int> timeout_coro(Io io, corio::Mutex* m, corio::Event* e) {
    int result = 0;
    try {
        co_await corio::with_timeout(io, 10ms, m->lock(io));
    } catch (const corio::Timeout&) {
        result += 1;
    }
    try {
        co_await corio::with_timeout(io, 10ms, e->wait(io));
    } catch (const corio::Timeout&) {
        result += 10;
    }
    if (!io.cancel_requested()) result += 100;
    co_await io.sleep(1ms);  // not cancelled: this waits normally
    co_return result;
}

TEST_P(Sync, WithTimeoutInACoroutineThrowsTimeoutAndLeavesTheTaskUncancelled) {
    run([](Io io) {
        corio::Mutex m;
        corio::Event e;
        m.lock(io).await();
        EXPECT_EQ(io.concurrent(timeout_coro, io, &m, &e).await(), 111);
        m.unlock();
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

TEST_P(Sync, WithTimeoutOnEventWaitThrowsTimeoutAndASetLaterStillWakesOthers) {
    run([](Io io) {
        corio::Event e;
        auto other = io.concurrent([&e, io] { e.wait(io).await(); });
        EXPECT_THROW(corio::with_timeout(io, 10ms, e.wait(io)).await(), corio::Timeout);
        EXPECT_FALSE(other.ready());
        e.set();
        other.await();
    });
}

corio::Task<int> timeout_completes_coro(Io io, corio::Mutex* m, corio::Semaphore* s,
                                        corio::Event* e) {
    co_await corio::with_timeout(io, 1h, m->lock(io));
    m->unlock();
    co_await corio::with_timeout(io, 1h, s->acquire(io));
    co_await corio::with_timeout(io, 1h, e->wait(io));
    corio::MutexGuard g = co_await corio::with_timeout(io, 1h, m->scoped_lock(io));
    co_return 5;
}

TEST_P(Sync, WithTimeoutReturnsWhenTheOperationCompletesFirst) {
    run([](Io io) {
        corio::Mutex m;
        corio::Semaphore s(1);
        corio::Event e;
        const auto t0 = io.now();
        corio::with_timeout(io, 1h, m.lock(io)).await();  // free: completes at once
        EXPECT_FALSE(m.try_lock());
        m.unlock();
        corio::MutexGuard g = corio::with_timeout(io, 1h, m.scoped_lock(io)).await();
        g.unlock();
        corio::with_timeout(io, 1h, s.acquire(io)).await();
        s.release();
        auto setter = io.concurrent([&e, io] {
            io.sleep(2ms).await();
            e.set();
        });
        corio::with_timeout(io, 1h, e.wait(io)).await();  // completes when set, long before 1h
        setter.await();
        EXPECT_EQ(io.concurrent(timeout_completes_coro, io, &m, &s, &e).await(), 5);
        EXPECT_LT(io.now() - t0, 30min);
        EXPECT_TRUE(m.try_lock());
        m.unlock();
        EXPECT_EQ(s.available(), 0u);
    });
}

TEST_P(Sync, WithTimeoutStillEndsWithCanceledWhenTheTaskIsCancelled) {
    run([](Io io) {
        corio::Event e, started;
        auto f = io.concurrent([&, io] {
            started.set();
            corio::with_timeout(io, 1h, e.wait(io)).await();
        });
        started.wait(io).await();
        settle(io);
        EXPECT_THROW(f.cancel(), corio::Canceled);  // Canceled, not Timeout
        corio::Mutex m;
        m.lock(io).await();
        start_cancelled(io, [&m, io] {
            EXPECT_THROW(corio::with_timeout(io, 1h, m.lock(io)).await(), corio::Canceled);
        }).await();
        m.unlock();
        EXPECT_TRUE(m.try_lock());
        m.unlock();
    });
}

}  // namespace
