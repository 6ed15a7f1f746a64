// SPDX-License-Identifier: MIT
// The IoUring scheduler's own paths: a fiber that parks starts the next fiber directly, a
// fiber that ends switches straight to the next ready one (and its stack is given back), tasks
// queued on a busy worker are stolen by an idle one, and kernel timers (Options::kernel_timers)
// arm, fire and are cancelled from another thread.
#include "backend/io_uring/uring_driver.hpp"
#include "fiber/stack.hpp"
#include "support.hpp"

#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using corio::test::Watchdog;

#define RING_OR_SKIP(var, ...)                                    \
    std::string var##_why;                                        \
    auto var = corio::test::make_ring(__VA_ARGS__, var##_why);    \
    if (!var) GTEST_SKIP() << "io_uring unavailable here: " << var##_why

/// Runs `body` on a fiber of `io` and waits for it from this (foreign) thread.
template <class F>
void on_fiber(corio::Io io, F body) {
    io.concurrent(std::move(body)).await();
}

TEST(IoUringScheduler, EveryStackIsGivenBackAfterDirectSwitches) {
    const std::size_t before = corio::detail::mapped_stacks();
    {
        // A small cache, so that stacks also go back to the pool and are unmapped.
        RING_OR_SKIP(ring, {.threads = 1, .cached_fibers = 8});
        corio::Io io = ring->io();
        on_fiber(io, [io] {
            // Spawn + join: the awaiter parks into the new fiber, which ends into the awaiter.
            for (int i = 0; i < 1000; ++i) EXPECT_EQ(io.async([i] { return i; }).await(), i);
            // Fibers parked in the scheduler, resumed by fibers that end.
            corio::Event gate;
            std::vector<corio::Future<int>> parked;
            for (int i = 0; i < 300; ++i)
                parked.push_back(io.async([&gate, io, i] {
                    gate.wait(io).await();
                    io.yield().await();
                    return i;
                }));
            io.yield().await();
            gate.set();
            for (int i = 0; i < 300; ++i) EXPECT_EQ(parked[i].await(), i);
        });
        // And the same from a foreign thread's spawns (the shared queue).
        std::vector<corio::Future<int>> futures;
        for (int i = 0; i < 500; ++i)
            futures.push_back(io.async([io, i] {
                io.yield().await();
                return i;
            }));
        for (int i = 0; i < 500; ++i) EXPECT_EQ(futures[i].await(), i);
    }
    EXPECT_EQ(corio::detail::mapped_stacks(), before);
}

// A cancel requested on the worker that runs the waiter takes effect at once, not at the
// worker's next turn: a permit released right after it stays with the semaphore, and the
// cancelled waiter (a fiber, then a coroutine) ends with Canceled.
corio::Task<void> acquire_task(corio::Io io, corio::Semaphore* sem) { co_await sem->acquire(io); }

TEST(IoUringScheduler, ACancelOnTheWaitersOwnWorkerTakesEffectAtOnce) {
    RING_OR_SKIP(ring, {.threads = 1});
    corio::Io io = ring->io();
    on_fiber(io, [io] {
        for (bool coroutine : {false, true}) {
            SCOPED_TRACE(coroutine ? "coroutine waiter" : "fiber waiter");
            corio::Semaphore sem;
            auto waiter = coroutine ? io.concurrent(acquire_task, io, &sem)
                                    : io.concurrent([io, &sem] { sem.acquire(io).await(); });
            while (waiter.task()->wait_kind.load() != corio::detail::WaitKind::semaphore)
                io.yield().await();
            waiter.request_cancel();
            sem.release();
            EXPECT_THROW(waiter.await(), corio::Canceled);
            EXPECT_EQ(sem.available(), 1u) << "the cancelled waiter took the permit";
        }
    });
}

TEST(IoUringScheduler, AParkingFiberStartsTheNextTaskInOrder) {
    RING_OR_SKIP(ring, {.threads = 1});
    corio::Io io = ring->io();
    on_fiber(io, [io] {
        std::vector<int> order;
        std::vector<corio::Future<void>> futures;
        for (int i = 0; i < 50; ++i) futures.push_back(io.async([&order, i] { order.push_back(i); }));
        for (auto& f : futures) f.await();
        ASSERT_EQ(order.size(), 50u);
        for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
    });
}

/// A fiber that keeps its worker busy without giving the thread back, until released: while it
/// runs (and the spawner's own fiber does the same) no worker is idle, so tasks a fiber spawns
/// are queued on the spawner's worker, and only a steal by the busy one's worker runs them.
class BusyWorker {
  public:
    explicit BusyWorker(corio::Io io)
        : future_(io.concurrent([this] {
              running_.store(true);
              while (!released_.load()) std::this_thread::yield();
          })) {}
    void wait_running() const {
        while (!running_.load()) std::this_thread::yield();
    }
    void release() { released_.store(true); }
    void await() { future_.await(); }

  private:
    std::atomic<bool> running_{false};
    std::atomic<bool> released_{false};
    corio::Future<void> future_;
};

/// From a fiber: spins its thread (not the fiber, so its worker stays busy) until `done()` or
/// 20 s passed.
template <class Done>
void spin_thread_until(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
}

TEST(IoUringScheduler, AnIdleWorkerStealsTasksQueuedOnABusyOne) {
    RING_OR_SKIP(ring, {.threads = 2});
    Watchdog dog("the stealing test", corio::test::patience(std::chrono::seconds(60)));
    corio::Io io = ring->io();
    std::atomic<int> ran_elsewhere{0};
    BusyWorker busy(io);
    auto spawner = io.concurrent([&] {
        const auto me = std::this_thread::get_id();
        busy.wait_running();
        std::vector<corio::Future<void>> tasks;
        for (int i = 0; i < 64; ++i)
            tasks.push_back(io.async([&ran_elsewhere, me] {
                if (std::this_thread::get_id() != me) ran_elsewhere.fetch_add(1);
            }));
        busy.release();
        spin_thread_until([&] { return ran_elsewhere.load() != 0; });
        const int stolen = ran_elsewhere.load();
        for (auto& t : tasks) t.await();
        return stolen;
    });
    busy.await();
    const int stolen = spawner.await();
    // Both fibers may have started on the same worker (then the tasks are all the other's).
    EXPECT_GT(stolen, 0);
}

// ---- a task spawned and awaited on one worker -------------------------------------------------
// A worker keeps the task an `io.async` spawns in a slot of its own while its queue is empty; a
// fiber that awaits it starts it on its fiber at once, and the wait is local to the worker.

TEST(IoUringScheduler, AConcurrentTaskOfABusyFiberIsStolenNotKeptInTheSlot) {
    RING_OR_SKIP(ring, {.threads = 2});
    Watchdog dog("the concurrent steal test", corio::test::patience(std::chrono::seconds(60)));
    corio::Io io = ring->io();
    // As in the stealing test, with one `concurrent` task, which an `async` one would not be:
    // alone in an empty queue, it would wait in the spawner's slot.
    BusyWorker busy(io);
    auto spawner = io.concurrent([&] {
        const auto me = std::this_thread::get_id();
        busy.wait_running();
        std::atomic<bool> ran{false};
        std::atomic<bool> elsewhere{false};
        auto task = io.concurrent([&] {
            elsewhere.store(std::this_thread::get_id() != me);
            ran.store(true);
        });
        busy.release();
        spin_thread_until([&] { return ran.load(); });
        task.await();
        return elsewhere.load();
    });
    busy.await();
    // Both may have started on one worker: then the task was queued on the other one.
    EXPECT_TRUE(spawner.await());
}

/// `spawn(body)` starts an awaiter that spawns a task sleeping for an hour and awaits it; once
/// the task runs and the awaiter waits (`step()` between two looks), cancels the awaiter, whose
/// wait forwards it: the awaiter ends with Canceled.
template <class Spawn, class Step>
void cancel_an_awaiter_while_it_waits(corio::Io io, Spawn spawn, Step step) {
    std::atomic<bool> child_started{false};
    auto outer = spawn([io, &child_started] {
        return io.async([io, &child_started] {
                     child_started.store(true);
                     io.sleep(1h).await();
                     return 1;
                 })
            .await();
    });
    while (!child_started.load() ||
           outer.task()->wait_kind.load() != corio::detail::WaitKind::future)
        step();
    outer.request_cancel();
    EXPECT_THROW(outer.await(), corio::Canceled);
}

class IoUringAwaitedHere : public ::testing::TestWithParam<unsigned> {};

TEST_P(IoUringAwaitedHere, TheAwaitedTaskIsCancelledBeforeDuringAndAfterTheWait) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    Watchdog dog("the awaited-here cancel test", corio::test::patience(std::chrono::seconds(60)));
    corio::Io io = ring->io();
    auto sleeper = [io] {
        io.sleep(1h).await();
        return 1;
    };
    // Before: cancelled while it waits in the slot, it starts cancelled.
    on_fiber(io, [&] {
        auto f = io.async(sleeper);
        f.request_cancel();
        EXPECT_THROW(f.await(), corio::Canceled);
        EXPECT_THROW(f.await(), corio::Canceled);  // idempotent
    });
    // Before, through the awaiter: a fiber whose own cancellation was requested forwards it.
    {
        std::atomic<bool> asked{false};
        auto outer = io.concurrent([&] {
            // Not io.yield(), itself a cancellation point: the thread spins until it sees it.
            while (!io.cancel_requested()) std::this_thread::yield();
            asked.store(true);
            return io.async(sleeper).await();
        });
        outer.request_cancel();
        EXPECT_THROW(outer.await(), corio::Canceled);
        EXPECT_TRUE(asked.load());
    }
    // During, from another thread: the awaiter's cancellation reaches the running task. (With
    // threads = 0 this thread drives the ring, so it cannot watch it meanwhile.)
    if (GetParam() != 0)
        cancel_an_awaiter_while_it_waits(
            io, [io](auto body) { return io.concurrent(std::move(body)); },
            [] { std::this_thread::sleep_for(1ms); });
    // During, from a fiber: a sibling of the awaiter cancels it (on the same worker, unless an
    // idle one took the awaiter).
    on_fiber(io, [&] {
        cancel_an_awaiter_while_it_waits(
            io, [io](auto body) { return io.async(std::move(body)); },
            [io] { io.yield().await(); });
    });
    // After: the task ended and its result was taken; cancelling the awaiter changes nothing.
    on_fiber(io, [&] {
        auto f = io.async([] { return 7; });
        EXPECT_EQ(f.await(), 7);
        f.request_cancel();
        EXPECT_EQ(f.await(), 7);
        EXPECT_EQ(f.cancel(), 7);
    });
    // Many in a row, each spawned, awaited and ended on one worker.
    on_fiber(io, [&] {
        for (int i = 0; i < 2000; ++i) EXPECT_EQ(io.async([i] { return i; }).await(), i);
    });
}

TEST_P(IoUringAwaitedHere, ASecondWaiterOnAnotherWorkerIsRefused) {
    RING_OR_SKIP(ring, {.threads = GetParam()});
    Watchdog dog("the second-waiter test", corio::test::patience(std::chrono::seconds(60)));
    corio::Io io = ring->io();
    // On a fiber that has started (with threads = 0 an awaiter that takes back a task that has
    // not started runs it on its own thread instead).
    corio::Event started;
    auto outer = io.concurrent([&] {
        started.set();
        corio::Event release;
        auto f = io.async([&] { release.wait(io).await(); return 3; });
        // A sibling waits on the same future while this fiber does (a misuse): it is told so,
        // whichever worker it runs on, and the first wait is not disturbed.
        const corio::detail::TaskHeader* first = &corio::detail::current_task();
        auto second = io.concurrent([&] {
            while (first->wait_kind.load() != corio::detail::WaitKind::future)
                io.yield().await();
            try {
                f.await();
            } catch (const corio::UsageError&) {
                release.set();
                return true;
            }
            return false;
        });
        EXPECT_EQ(f.await(), 3);
        EXPECT_TRUE(second.await());
    });
    started.wait(io).await();
    outer.await();
}

INSTANTIATE_TEST_SUITE_P(, IoUringAwaitedHere, ::testing::Values(0u, 1u, 2u),
                         [](const ::testing::TestParamInfo<unsigned>& info) {
                             return "Threads" + std::to_string(info.param);
                         });

// ---- timers: IORING_OP_TIMEOUT on a worker ----------------------------------------------------

corio::detail::UringDriver& this_worker(corio::IoUring& ring) {
    corio::detail::UringDriver* w = corio::detail::current_uring_driver(&ring);
    if (w == nullptr) throw std::logic_error("not on a worker of this ring");
    return *w;
}

TEST(IoUringScheduler, RingsHaveTheCompletionQueueTheOptionsAsk) {
    // 8192 completion entries by default (the kernel's cancel table is sized from them), the
    // count asked for otherwise, and a count below ring_entries is refused.
    for (const unsigned asked : {0u, 1024u}) {
        RING_OR_SKIP(ring, {.threads = 1, .completion_entries = asked});
        corio::Io io = ring->io();
        const unsigned made = io.concurrent([&ring] {
                                    return this_worker(*ring).completion_entries();
                                }).await();
        EXPECT_EQ(made, asked == 0 ? corio::detail::UringDriver::default_completion_entries
                                   : asked);
    }
    EXPECT_THROW(corio::IoUring({.threads = 1, .ring_entries = 256, .completion_entries = 8}),
                 corio::UsageError);
}

TEST(IoUringScheduler, SleepsAndTimeoutsOnAWorkerAreKernelTimeouts) {
    RING_OR_SKIP(ring, {.threads = 1, .kernel_timers = true});
    corio::Io io = ring->io();
    on_fiber(io, [&ring, io] {
        corio::detail::UringDriver& w = this_worker(*ring);
        EXPECT_EQ(w.ring_timers(), 0u);
        std::atomic<bool> sleeping{false};
        auto sleeper = io.async([&sleeping, io] {
            sleeping.store(true);
            const auto t0 = std::chrono::steady_clock::now();
            io.sleep(20ms).await();
            return std::chrono::steady_clock::now() - t0;
        });
        while (!sleeping.load()) io.yield().await();
        EXPECT_EQ(w.ring_timers(), 1u);  // armed in the ring, not in the worker's heap
        EXPECT_EQ(w.worker().next_deadline_ns(), 0);
        EXPECT_GE(sleeper.await(), 20ms);
        EXPECT_EQ(w.ring_timers(), 0u);

        // A timeout that wins, and one that does not.
        corio::Event never;
        EXPECT_THROW(corio::with_timeout(io, 5ms, never.wait(io)).await(), corio::Timeout);
        corio::Event set;
        set.set();
        corio::with_timeout(io, 1h, set.wait(io)).await();
        auto late = io.async([&never, io] { corio::with_timeout(io, 1h, never.wait(io)).await(); });
        io.sleep(1ms).await();
        never.set();
        late.await();
    });
}

TEST(IoUringScheduler, KernelTimersCancelledBeforeDuringAndAfterFromAnotherThread) {
    RING_OR_SKIP(ring, {.threads = 1, .kernel_timers = true});
    corio::Io io = ring->io();
    constexpr int n = 2000;
    std::vector<corio::Future<int>> sleeps;
    std::atomic<int> armed{0};
    for (int i = 0; i < n; ++i)
        sleeps.push_back(io.concurrent([&armed, io, i] {
            armed.fetch_add(1);
            try {
                // Some end by themselves, some only by a cancel (whose kernel timer must go).
                const auto d = i % 7 == 6  ? std::chrono::microseconds(1h)
                               : i % 3 == 0 ? std::chrono::microseconds(0)
                                            : std::chrono::microseconds((i % 7) * 300);
                io.sleep(d).await();
                return 1;
            } catch (const corio::Canceled&) {
                return 0;
            }
        }));
    // Cancelled from this thread at scattered moments: before the sleep is armed, while it
    // waits, or after it fired (then the result is kept).
    std::mt19937 rng(7);
    int fired = 0;
    for (int i = 0; i < n; ++i) {
        if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));
        fired += sleeps[i].cancel();
    }
    EXPECT_GT(armed.load(), 0);
    EXPECT_GT(fired, 0);
    EXPECT_LE(fired, n - n / 7);  // the hour-long ones cannot have fired
    // Every kernel timer's CQE comes (a cancelled one with -ECANCELED), and frees its slot.
    auto count = [&ring, io] {
        return io.concurrent([&ring] { return this_worker(*ring).ring_timers(); }).await();
    };
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (count() != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    EXPECT_EQ(count(), 0u);
}

// A cancel that comes after its kernel timer fired must miss the timer armed next in the same
// slot. A's with_timeout fires while A waits on a condition, and A then waits to relock the
// mutex D holds; D lets sleepers arm in the freed slots, then unlocks; A's late cancel of its
// fired timer must leave their timers alone (it removed one of them before slots had
// generations, and that sleeper never woke).
corio::Task<bool> times_out_on_a_condition(corio::Io io, corio::Mutex* m, corio::Condition* c) {
    co_await m->lock(io);
    bool timed_out = false;
    try {
        co_await corio::with_timeout(io, 5ms, c->wait(io, *m));
    } catch (const corio::Timeout&) {
        timed_out = true;
    }
    m->unlock();
    co_return timed_out;
}

corio::Task<void> holds_the_mutex(corio::Io io, corio::Mutex* m, corio::Event* go) {
    co_await m->lock(io);
    co_await io.sleep(15ms);  // A's timeout fires meanwhile: its slot is freed
    go->set();                // the sleepers arm in the freed slots
    co_await io.sleep(5ms);
    m->unlock();
}

corio::Task<void> sleeps_when_told(corio::Io io, corio::Event* go, std::atomic<int>* woke) {
    co_await go->wait(io);
    co_await io.sleep(30ms);
    ++*woke;
}

corio::Task<void> late_cancel_after_slot_reuse(corio::Io io, std::atomic<int>* woke) {
    corio::Mutex m;
    corio::Condition c;
    corio::Event go;
    auto a = io.async(times_out_on_a_condition, io, &m, &c);
    auto d = io.async(holds_the_mutex, io, &m, &go);
    std::vector<corio::Future<void>> sleepers;
    for (int i = 0; i < 4; ++i) sleepers.push_back(io.async(sleeps_when_told, io, &go, woke));
    EXPECT_TRUE(co_await a);
    co_await d;
    for (auto& f : sleepers) co_await f;
}

TEST(IoUringScheduler, ALateCancelOfAFiredKernelTimerMissesTheNextOneInItsSlot) {
    RING_OR_SKIP(ring, {.threads = 1, .kernel_timers = true});
    corio::Io io = ring->io();
    Watchdog watchdog("the sleepers armed in reused timer slots", corio::test::patience(10s));
    std::atomic<int> woke{0};
    io.async(late_cancel_after_slot_reuse, io, &woke).await();
    EXPECT_EQ(woke.load(), 4);
}

}  // namespace

// Two fibers that only yield to each other never leave the fibers while the turn's end has
// nothing to do (Worker::quiet_turn_end): every source of work must still reach them. Each
// step below waits, from this foreign thread, for work that only a turn of the worker serves,
// while the two fibers spin: a timer, a read in flight, a task spawned from another thread, a
// wake-up posted from another thread, a cancel requested from another thread. A source the
// quiet check missed would hang its step (the watchdog then fails the test).
TEST(IoUringScheduler, FibersThatOnlyYieldStillLetEveryEventIn) {
    RING_OR_SKIP(ring, {.threads = 1});
    corio::Io io = ring->io();
    Watchdog dog("the yielding fibers test", corio::test::patience(std::chrono::seconds(60)));
    std::atomic<bool> stop{false};
    std::atomic<int> spinning{0};
    std::int64_t yields = 0;  // the spinners' own, on the one worker
    auto spinner = [&] {
        spinning.fetch_add(1);
        while (!stop.load(std::memory_order_relaxed)) {
            io.yield().await();
            ++yields;
        }
    };
    auto a = io.concurrent(spinner);
    auto b = io.concurrent(spinner);
    while (spinning.load() != 2) std::this_thread::yield();

    // A timer.
    io.concurrent([io] { io.sleep(1ms).await(); }).await();
    // A read in flight, completed by a write from this thread.
    {
        auto [r, w] = corio::File::pipe();
        auto reader = io.concurrent([io, &r] {
            std::byte buf[1];
            return r.read(io, buf).await();
        });
        std::this_thread::sleep_for(1ms);
        const char one = 'x';
        ASSERT_EQ(::write(w.fd(), &one, 1), 1);
        EXPECT_EQ(reader.await(), 1u);
    }
    // A task spawned from this thread (the scheduler's shared queue), which the worker must
    // start: this thread waits for it to run before it awaits (an awaiter would take it back).
    {
        std::atomic<bool> ran{false};
        auto task = io.concurrent([&ran] { ran.store(true); });
        while (!ran.load()) std::this_thread::yield();
        task.await();
    }
    // A waiter woken by this thread (its fiber is posted to the worker's inbox).
    {
        corio::Event e;
        auto waiter = io.concurrent([io, &e] { e.wait(io).await(); });
        std::this_thread::sleep_for(1ms);
        e.set();
        waiter.await();
    }
    // A cancel requested from this thread (a stop report to the worker).
    {
        corio::Event never;
        auto waiter = io.concurrent([io, &never] { never.wait(io).await(); });
        while (waiter.task()->wait_kind.load() != corio::detail::WaitKind::event)
            std::this_thread::yield();
        waiter.request_cancel();
        EXPECT_THROW(waiter.await(), corio::Canceled);
    }
    stop.store(true);
    a.await();
    b.await();
    EXPECT_GT(yields, 0);
}
