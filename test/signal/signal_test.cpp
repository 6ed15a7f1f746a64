// SPDX-License-Identifier: MIT
// io.wait_signal on every backend. Its own executable: its main blocks the signals first, as
// a program must, before any thread starts.
#include "conformance/harness.hpp"

#include <corio/signal.hpp>

#include <pthread.h>
#include <unistd.h>

#include <csignal>

namespace corio::test {
namespace {

/// Takes a pending `signo` off the process, if any, so each test starts clean.
void drain(int signo) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    const timespec zero{0, 0};
    while (::sigtimedwait(&set, nullptr, &zero) == signo) {
    }
}

class SignalTest : public Conformance {
  protected:
    void SetUp() override {
        drain(SIGUSR1);
        drain(SIGUSR2);
    }
};
INSTANTIATE_TEST_SUITE_P(, SignalTest,
                         ::testing::Values(BackendKind::simulated, BackendKind::threaded,
                                           BackendKind::threaded_inline, BackendKind::io_uring_0,
                                           BackendKind::io_uring_1, BackendKind::io_uring_2,
                                           BackendKind::io_uring_fiber),
                         param_name);

TEST_P(SignalTest, ASignalPendingBeforeTheWaitIsTaken) {
    run([&](Io io) {
        ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
        EXPECT_EQ(io.wait_signal({SIGUSR1, SIGUSR2}).await(), SIGUSR2);
        ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
        auto coro = [](Io io) -> Task<int> { co_return co_await io.wait_signal(SIGUSR1); };
        EXPECT_EQ(io.async(coro, io).await(), SIGUSR1);
    });
}

TEST_P(SignalTest, AWaiterIsWokenBySignalSentLater) {
    run([&](Io io) {
        auto waiter = io.concurrent([io] { return io.wait_signal({SIGUSR1, SIGUSR2}).await(); });
        ASSERT_TRUE(parked_on(io, waiter, detail::WaitKind::io));
        ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
        EXPECT_EQ(waiter.await(), SIGUSR1);
    });
}

TEST_P(SignalTest, CancelledWaitsLeaveTheSignalPending) {
    run([&](Io io) {
        auto before = start_cancelled(io, [io] { return io.wait_signal({SIGUSR1}).await(); });
        EXPECT_THROW((void)before.await(), Canceled);
        auto during = io.concurrent([io] { return io.wait_signal({SIGUSR1}).await(); });
        ASSERT_TRUE(parked_on(io, during, detail::WaitKind::io));
        EXPECT_THROW((void)during.cancel(), Canceled);
        ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
        EXPECT_EQ(io.wait_signal({SIGUSR1}).await(), SIGUSR1) << "nobody took it meanwhile";
        // After: a wait that got its signal keeps it when cancelled.
        ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
        auto after = io.async([io] { return io.wait_signal({SIGUSR2}).await(); });
        settle(io);
        EXPECT_EQ(after.cancel(), SIGUSR2);
    });
}

TEST_P(SignalTest, ASignalThatIsNotBlockedIsAUsageError) {
    run([&](Io io) {
        try {
            (void)io.wait_signal({SIGUSR1, SIGWINCH}).await();
            ADD_FAILURE() << "waited for a signal that is not blocked";
        } catch (const UsageError& e) {
            EXPECT_EQ(e.code(), std::errc::invalid_argument);
            EXPECT_NE(std::string(e.what()).find("SIGWINCH"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("block_signals"), std::string::npos);
        }
        EXPECT_THROW((void)io.wait_signal({}).await(), UsageError);
    });
}

TEST(BlockSignals, RefusesSignalsThatCannotBeBlocked) {
    EXPECT_THROW(block_signals({SIGKILL}), UsageError);
    EXPECT_THROW(block_signals({SIGSTOP}), UsageError);
    EXPECT_THROW(block_signals({0}), UsageError);
    EXPECT_THROW(block_signals({_NSIG + 5}), UsageError);
}

}  // namespace
}  // namespace corio::test

int main(int argc, char** argv) {
    corio::block_signals({SIGUSR1, SIGUSR2});  // first, before any thread starts
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
