// SPDX-License-Identifier: MIT
// Parity: every public awaitable awaited once from plain code (`.await()`) and once with
// `co_await` in a Task, on every backend configuration, with the same outcome. The sanitizer
// builds (CORIO_STRESS_DIVISOR > 1) run a representative subset: Simulated, and IoUring with
// one worker. Its own main blocks the signal the signal wait takes.
#include "conformance/harness.hpp"

#include <csignal>
#include <functional>
#include <string>
#include <system_error>

using namespace std::chrono_literals;
using corio::Io;

namespace {

enum class Style { plain, coroutine };

std::string to_string(Style s) { return s == Style::plain ? "Plain" : "Coroutine"; }

struct Param {
    corio::test::BackendKind backend;
    Style style;
};

class Parity : public ::testing::TestWithParam<Param> {
  protected:
    [[nodiscard]] Style style() const { return GetParam().style; }
    [[nodiscard]] bool coroutine() const { return style() == Style::coroutine; }
    /// Runs `plain(io)` in plain code, or `co(io)` (a Task) awaited from plain code: the body
    /// of each test is written in both styles, and both must give the same outcome.
    void run(const std::function<void(Io)>& plain,
             const std::function<corio::Task<void>(Io)>& co) {
        corio::test::run_on(GetParam().backend, [&](Io io) {
            if (style() == Style::plain)
                plain(io);
            else
                io.async(co, io).await();
        });
    }
};

std::vector<Param> params() {
    using corio::test::BackendKind;
#if CORIO_STRESS_DIVISOR > 1
    const BackendKind kinds[] = {BackendKind::simulated, BackendKind::io_uring_1};
#else
    const BackendKind kinds[] = {BackendKind::simulated,    BackendKind::simulated_faults,
                                 BackendKind::threaded,     BackendKind::threaded_inline,
                                 BackendKind::io_uring_0,   BackendKind::io_uring_1,
                                 BackendKind::io_uring_2,   BackendKind::io_uring_fiber};
#endif
    std::vector<Param> out;
    for (BackendKind k : kinds)
        for (Style s : {Style::plain, Style::coroutine}) out.push_back({k, s});
    return out;
}

INSTANTIATE_TEST_SUITE_P(, Parity, ::testing::ValuesIn(params()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                             return corio::test::to_string(info.param.backend) +
                                    to_string(info.param.style);
                         });

// ---- futures and cancellation --------------------------------------------------------------

TEST_P(Parity, CancelOfAFutureReturnsItsResultOrRethrows) {
    run(
        [](Io io) {
            auto sleeper = io.concurrent([io] { io.sleep(1h).await(); });
            EXPECT_THROW(corio::cancel(sleeper).await(), corio::Canceled);
            auto done = io.concurrent([] { return 7; });
            EXPECT_EQ(corio::cancel(std::move(done)).await(), 7);
        },
        [](Io io) -> corio::Task<void> {
            auto sleeper = io.concurrent([io] { io.sleep(1h).await(); });
            bool canceled = false;
            try {
                co_await corio::cancel(sleeper);
            } catch (const corio::Canceled&) {
                canceled = true;
            }
            EXPECT_TRUE(canceled);
            auto done = io.concurrent([] { return 7; });
            EXPECT_EQ(co_await corio::cancel(std::move(done)), 7);
        });
}

TEST_P(Parity, CancelOfAGroupCancelsEveryMember) {
    run(
        [](Io io) {
            corio::Group g(io);
            for (int i = 0; i < 3; ++i) g.concurrent([io] { io.sleep(1h).await(); });
            corio::cancel(g).await();
            EXPECT_EQ(g.size(), 0u);
        },
        [](Io io) -> corio::Task<void> {
            corio::Group g(io);
            for (int i = 0; i < 3; ++i) g.concurrent([io] { io.sleep(1h).await(); });
            co_await corio::cancel(g);
            EXPECT_EQ(g.size(), 0u);
        });
}

/// Cancellation is not an I/O failure: the catch a caller writes around a read lets it through.
TEST_P(Parity, ACancelledReadIsNotCaughtAsASystemError) {
    auto [a, b] = corio::UnixStream::pair();
    run(
        [&a = a](Io io) {
            bool caught_as_system_error = false;
            auto reader = io.concurrent([io, &a, &caught_as_system_error] {
                std::array<std::byte, 8> buf{};
                try {
                    (void)a.read(io, buf).await();
                } catch (const std::system_error&) {
                    caught_as_system_error = true;
                }
            });
            EXPECT_TRUE(corio::test::parked_on(io, reader, corio::detail::WaitKind::io));
            EXPECT_THROW(reader.cancel(), corio::Canceled);
            EXPECT_FALSE(caught_as_system_error);
        },
        [&a = a](Io io) -> corio::Task<void> {
            bool caught_as_system_error = false;
            auto reader = io.concurrent(
                [](Io io, const corio::UnixStream* a, bool* caught) -> corio::Task<void> {
                    std::array<std::byte, 8> buf{};
                    try {
                        (void)co_await a->read(io, buf);
                    } catch (const std::system_error&) {
                        *caught = true;
                    }
                },
                io, &a, &caught_as_system_error);
            while (reader.task() != nullptr &&
                   reader.task()->wait_kind.load() != corio::detail::WaitKind::io)
                co_await io.sleep(1ms);
            bool canceled = false;
            try {
                co_await corio::cancel(reader);
            } catch (const corio::Canceled&) {
                canceled = true;
            }
            EXPECT_TRUE(canceled);
            EXPECT_FALSE(caught_as_system_error);
        });
}

}  // namespace

int main(int argc, char** argv) {
    corio::block_signals({SIGUSR1});  // first, before any thread starts
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
