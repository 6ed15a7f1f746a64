// SPDX-License-Identifier: MIT
// Conformance: io.async, io.concurrent, Future await/cancel, coroutine tasks, destructors.
#include "conformance/harness.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;
using corio::Io;

namespace {

CORIO_CONFORMANCE_SUITE(Future);

int times_ten(int n) { return n * 10; }

TEST_P(Future, AsyncReturnsTheResultOfTheFunction) {
    run([](Io io) {
        auto a = io.async(times_ten, 1);
        auto b = io.async(times_ten, 2);
        EXPECT_EQ(a.await() + b.await(), 30);
    });
}

TEST_P(Future, AwaitIsIdempotentAndReturnsTheSameObject) {
    run([](Io io) {
        auto f = io.async([] { return std::string("hello"); });
        std::string& first = f.await();
        std::string& second = f.await();
        EXPECT_EQ(&first, &second);
        EXPECT_EQ(first, "hello");
        EXPECT_EQ(f.cancel(), "hello");
        EXPECT_TRUE(f.ready());
    });
}

TEST_P(Future, AwaitOnAnRvalueMovesTheResultOut) {
    run([](Io io) {
        auto p = io.async([] { return std::make_unique<int>(7); }).await();
        EXPECT_EQ(*p, 7);
    });
}

TEST_P(Future, ACoroutineTakesMoveOnlyArgumentsByValueAndOthersByReference) {
    run([&](Io io) {
        auto by_value = [](Io, std::unique_ptr<int> p) -> corio::Task<int> { co_return *p + 1; };
        EXPECT_EQ(io.async(by_value, io, std::make_unique<int>(41)).await(), 42);
        auto by_ref = [](Io, const std::string& s, std::string& out) -> corio::Task<std::size_t> {
            out = s + "!";
            co_return s.size();
        };
        std::string out;
        EXPECT_EQ(io.async(by_ref, io, std::string("kept"), std::ref(out)).await(), 4U);
        EXPECT_EQ(out, "kept!");
        corio::Group g{io};
        g.async(by_value, io, std::make_unique<int>(1));
        g.wait();
    });
}

TEST_P(Future, ExceptionsPropagateToEveryAwait) {
    run([](Io io) {
        auto f = io.async([]() -> int { throw std::runtime_error("boom"); });
        EXPECT_THROW(f.await(), std::runtime_error);
        EXPECT_THROW(f.await(), std::runtime_error);
        EXPECT_THROW(f.cancel(), std::runtime_error);
    });
}

TEST_P(Future, ConcurrentRunsIndependentlyOfTheCaller) {
    run([](Io io) {
        corio::Event started;
        corio::Event release;
        auto f = io.concurrent([&] {
            started.set();
            release.wait(io).await();
            return 5;
        });
        started.wait(io).await();  // would deadlock if f had not its own thread or fiber
        release.set();
        EXPECT_EQ(f.await(), 5);
    });
}

TEST_P(Future, CancelBeforeTheTaskWaitsEndsItsFirstWaitWithCanceled) {
    run([](Io io) {
        auto f = io.concurrent([io] {
            io.sleep(1h).await();
            return 1;
        });
        EXPECT_THROW(f.cancel(), corio::Canceled);
        EXPECT_THROW(f.await(), corio::Canceled);  // idempotent
    });
}

TEST_P(Future, CancelDuringASleepWakesItAtOnce) {
    run([](Io io) {
        corio::Event sleeping;
        auto f = io.concurrent([&] {
            sleeping.set();
            io.sleep(1h).await();
        });
        sleeping.wait(io).await();
        const auto t0 = io.now();
        EXPECT_THROW(f.cancel(), corio::Canceled);
        EXPECT_LT(io.now() - t0, 30min);
    });
}

TEST_P(Future, CancelAfterTheTaskFinishedReturnsItsResult) {
    run([](Io io) {
        auto f = io.concurrent([] { return 3; });
        while (!f.ready()) io.sleep(1ms).await();
        EXPECT_EQ(f.cancel(), 3);
    });
}

TEST_P(Future, CancellationIsStickyAcrossSwallowedCanceled) {
    run([](Io io) {
        auto f = io.concurrent([io] {
            int caught = 0;
            for (int i = 0; i < 3; ++i) {
                try {
                    io.sleep(1h).await();
                } catch (const corio::Canceled&) {
                    ++caught;
                }
            }
            return caught;
        });
        EXPECT_EQ(f.cancel(), 3);
    });
}

TEST_P(Future, RequestCancelDoesNotWait) {
    run([](Io io) {
        auto f = io.concurrent([io] { io.sleep(1h).await(); });
        f.request_cancel();
        f.request_cancel();
        EXPECT_THROW(f.await(), corio::Canceled);
    });
}

TEST_P(Future, DestructorCancelsAndWaitsForTheTask) {
    run([](Io io) {
        std::atomic<bool> finished{false};
        {
            auto f = io.concurrent([io, &finished] {
                try {
                    io.sleep(1h).await();
                } catch (...) {
                    finished = true;
                    throw;
                }
            });
            io.sleep(1ms).await();
        }
        EXPECT_TRUE(finished.load());
    });
}

TEST_P(Future, AwaitingAMovedFromFutureIsAClearError) {
    run([](Io io) {
        auto f = io.async(times_ten, 1);
        auto g = std::move(f);
        EXPECT_THROW(f.await(), corio::UsageError);  // NOLINT(bugprone-use-after-move)
        EXPECT_EQ(g.await(), 10);
        corio::Future<int> empty;
        EXPECT_FALSE(empty.valid());
        EXPECT_THROW(empty.await(), corio::UsageError);
    });
}

TEST_P(Future, ASecondConcurrentWaiterIsAReportedError) {
    run([](Io io) {
        corio::Event gate;
        corio::Event started;
        auto f = io.concurrent([io, &gate, &started] {
            started.set();
            gate.wait(io).await();
            return 1;
        });
        started.wait(io).await();  // so that the first waiter cannot take f over and run it
        auto first = io.concurrent([&f] { return f.await(); });
        while ((f.task()->completion.load() & corio::detail::TaskHeader::waiter_bit) == 0)
            io.sleep(1ms).await();
        EXPECT_THROW(f.await(), corio::UsageError);  // not a race: a clear error
        gate.set();
        EXPECT_EQ(first.await(), 1);
    });
}

TEST_P(Future, AwaiterCancelledWhileWaitingForwardsAndActsAsCancel) {
    run([](Io io) {
        std::atomic<bool> child_canceled{false};
        auto parent = io.concurrent([io, &child_canceled] {
            auto child = io.concurrent([io, &child_canceled] {
                try {
                    io.sleep(1h).await();
                } catch (const corio::Canceled&) {
                    child_canceled = true;
                    throw;
                }
            });
            child.await();  // the parent's cancellation is forwarded to child
        });
        io.sleep(1ms).await();
        EXPECT_THROW(parent.cancel(), corio::Canceled);
        EXPECT_TRUE(child_canceled.load());
    });
}

corio::Task<int> add_later(Io io, int a, int b) {
    co_await io.sleep(1ms);
    co_return a + b;
}

corio::Task<int> nested(Io io) {
    int x = co_await add_later(io, 1, 2);
    int y = co_await add_later(io, x, 3);
    co_return y;
}

TEST_P(Future, CoroutineTasksAreDrivenByTheRuntime) {
    run([](Io io) {
        auto f = io.async(nested, io);
        EXPECT_EQ(f.await(), 6);
    });
}

corio::Task<void> throws_later(Io io) {
    co_await io.sleep(1ms);
    throw std::runtime_error("late");
}

TEST_P(Future, CoroutineExceptionsPropagate) {
    run([](Io io) {
        auto f = io.async(throws_later, io);
        EXPECT_THROW(f.await(), std::runtime_error);
    });
}

corio::Task<int> await_plain_task(Io io) {
    auto f = io.async(times_ten, 4);
    int v = co_await f;
    auto g = io.concurrent([io] {
        io.sleep(1ms).await();
        return 2;
    });
    co_return v + co_await std::move(g);
}

TEST_P(Future, ACoroutineAwaitsAPlainTasksFuture) {
    run([](Io io) { EXPECT_EQ(io.async(await_plain_task, io).await(), 42); });
}

corio::Task<void> sleep_forever(Io io) { co_await io.sleep(1h); }

corio::Task<int> depth_of(Io io, int n) {
    if (n == 0) co_return 0;
    co_return 1 + co_await io.async(depth_of, io, n - 1);
}

TEST_P(Future, ChainsOfCoroutinesAwaitingNewCoroutineTasksGoDeep) {
    // An awaiter may run a coroutine task that has not started itself; a chain of such awaits
    // is bounded in depth on the thread's stack and goes through the queue beyond.
    run([](Io io) { EXPECT_EQ(io.async(depth_of, io, 3000).await(), 3000); });
}

corio::Task<void> await_sleeper(Io io) { co_await io.async(sleep_forever, io); }

TEST_P(Future, CancellingACoroutineWhileItAwaitsANewChildCancelsTheChild) {
    run([](Io io) {
        // During: the child sleeps (perhaps run by its awaiter up to the sleep).
        auto during = io.concurrent(await_sleeper, io);
        io.sleep(1ms).await();
        EXPECT_THROW(during.cancel(), corio::Canceled);
        // Before: the awaiter is cancelled before it starts its child (concurrent: started
        // elsewhere, so not before the request on a backend that runs async tasks inline).
        auto before = io.concurrent(await_sleeper, io);
        before.request_cancel();
        EXPECT_THROW(before.await(), corio::Canceled);
    });
}

TEST_P(Future, CancellingACoroutineTaskEndsItsWait) {
    run([](Io io) {
        auto f = io.concurrent(sleep_forever, io);
        io.sleep(1ms).await();
        EXPECT_THROW(f.cancel(), corio::Canceled);
    });
}

corio::Task<int> drops_a_future(Io io, std::atomic<bool>* finished) {
    {
        auto f = io.concurrent([io, finished] {
            try {
                io.sleep(1h).await();
            } catch (...) {
                *finished = true;
                throw;
            }
        });
        co_await io.sleep(1ms);
    }  // dropped inside a coroutine: cancelled and handed to the backend
    co_return 1;
}

TEST_P(Future, AFutureDroppedInACoroutineIsReapedByTheBackend) {
    std::atomic<bool> finished{false};
    run([&](Io io) { EXPECT_EQ(io.async(drops_a_future, io, &finished).await(), 1); });
    EXPECT_TRUE(finished.load());
}

TEST_P(Future, StopTokenReportsTheTasksCancellation) {
    run([](Io io) {
        auto f = io.concurrent([io] {
            corio::stop_token token = io.stop_token();
            EXPECT_TRUE(token.stop_possible());
            bool called = false;
            corio::stop_callback cb(token, [&] { called = true; });
            try {
                io.sleep(1h).await();
            } catch (const corio::Canceled&) {
            }
            EXPECT_TRUE(token.stop_requested());
            EXPECT_TRUE(called);
            EXPECT_TRUE(io.cancel_requested());
            EXPECT_THROW(io.check_cancel(), corio::Canceled);
        });
        io.sleep(1ms).await();
        f.cancel();
    });
}

TEST_P(Future, AsyncWithLinksAnExternalStopToken) {
    run([](Io io) {
        std::stop_source stopped_before;
        stopped_before.request_stop();
        auto f = io.async_with(stopped_before.get_token(), [io] { io.sleep(1h).await(); });
        EXPECT_THROW(f.await(), corio::Canceled);

        std::stop_source external;
        auto g = io.async_with(external.get_token(), [io] {
            try {
                io.sleep(200ms).await();
                return 1;
            } catch (const corio::Canceled&) {
                return 2;
            }
        });
        if (!g.ready()) {
            io.sleep(1ms).await();
            external.request_stop();
            EXPECT_EQ(g.await(), 2);
        } else {
            EXPECT_EQ(g.await(), 1);  // ran inline to its end before the request
        }
    });
}

TEST_P(Future, ErrorsAreSystemErrorsWithTheRightCodes) {
    corio::Canceled c;
    EXPECT_EQ(c.code(), std::make_error_code(std::errc::operation_canceled));
    corio::Timeout t;
    EXPECT_EQ(t.code(), std::make_error_code(std::errc::timed_out));
    corio::ConcurrencyUnavailable u("x");
    EXPECT_EQ(u.code(), std::make_error_code(std::errc::resource_unavailable_try_again));
}

}  // namespace
