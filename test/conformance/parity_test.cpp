// SPDX-License-Identifier: MIT
// Parity: every public awaitable awaited once from plain code (`.await()`) and once with
// `co_await` in a Task, on every backend configuration, with the same outcome. The sanitizer
// builds (CORIO_STRESS_DIVISOR > 1) run a representative subset: Simulated, and IoUring with
// one worker. Its own main blocks the signal the signal wait takes.
#include "conformance/harness.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using corio::Future;
using corio::Io;
using corio::Task;
using corio::test::eventually;
using corio::test::parked_on;
using corio::test::start_cancelled;
using WaitKind = corio::detail::WaitKind;

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
    /// of each test is written in both styles, and both must give the same outcome. On
    /// Simulated, once per seed (`seeds`, a quarter as many with faults).
    void run(const std::function<void(Io)>& plain,
             const std::function<corio::Task<void>(Io)>& co, std::uint64_t seeds = 16) {
        corio::test::run_on(
            GetParam().backend,
            [&](Io io) {
                if (style() == Style::plain)
                    plain(io);
                else
                    io.async(co, io).await();
            },
            seeds);
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

// ---- helpers ---------------------------------------------------------------------------------

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s)); }
std::span<std::byte> writable(std::string& s) { return std::as_writable_bytes(std::span(s)); }
std::string str(std::span<const std::byte> s) {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}

std::string condition_of(std::error_code c) { return c.default_error_condition().message(); }

/// How an awaited operation ended, in words both styles produce alike, so that each test
/// compares exactly what the two styles saw: the exception's type, its code, its count.
std::string outcome_of(const std::exception_ptr& e) {
    if (!e) return "ok";
    try {
        std::rethrow_exception(e);
    } catch (const corio::Canceled&) {
        return "Canceled";
    } catch (const corio::Timeout& x) {
        return "Timeout: " + condition_of(x.code());
    } catch (const corio::QueueClosed& x) {
        return "QueueClosed: " + condition_of(x.code());
    } catch (const corio::UsageError& x) {
        return "UsageError: " + condition_of(x.code());
    } catch (const corio::IoError& x) {
        return "IoError: " + condition_of(x.code()) + " after " + std::to_string(x.transferred());
    } catch (const std::system_error& x) {
        return "system_error: " + condition_of(x.code());
    } catch (const std::exception& x) {
        return std::string("exception: ") + x.what();
    } catch (...) {
        return "an unknown exception";
    }
}

std::string failed(std::errc c) {
    return "system_error: " + std::make_error_condition(c).message();
}
std::string usage_error(std::errc c) {
    return "UsageError: " + std::make_error_condition(c).message();
}
std::string io_error(std::errc c, std::size_t transferred) {
    return "IoError: " + std::make_error_condition(c).message() + " after " +
           std::to_string(transferred);
}
std::string timeout() {
    return "Timeout: " + std::make_error_condition(std::errc::timed_out).message();
}
std::string queue_closed() {
    return "QueueClosed: " + std::make_error_condition(std::errc::broken_pipe).message();
}

/// Awaits `op` in plain code: its outcome.
template <class Op>
std::string plain_outcome(Op&& op) {
    try {
        (void)op.await();
    } catch (...) {
        return outcome_of(std::current_exception());
    }
    return "ok";
}
std::string plain_outcome(corio::Group& g) {
    try {
        g.wait();
    } catch (...) {
        return outcome_of(std::current_exception());
    }
    return "ok";
}

/// Awaits `op` with co_await: its outcome. (`op` is a temporary of the caller's full
/// expression, which lasts until this is done; awaited as an lvalue, since an operation
/// cannot be moved.)
template <class Op>
Task<std::string> co_outcome(Op&& op) {
    std::exception_ptr error;
    try {
        (void)co_await op;
    } catch (...) {
        error = std::current_exception();
    }
    co_return outcome_of(error);
}

/// parked_on for a coroutine: true once the task of `f` waits on `kind`, polled for 10 s.
template <class R>
Task<bool> co_parked_on(Io io, const Future<R>& f, WaitKind kind) {
    const auto deadline = io.now() + 10s;
    while (f.task() == nullptr || f.task()->wait_kind.load() != kind) {
        if (io.now() >= deadline) co_return false;
        co_await io.sleep(1ms);
    }
    co_return true;
}

/// eventually for a coroutine.
template <class P>
Task<bool> co_eventually(Io io, P done) {
    const auto deadline = io.now() + 5s;
    while (!done()) {
        if (io.now() >= deadline) co_return false;
        co_await io.sleep(1ms);
    }
    co_return true;
}

/// Reads from `s` until `n` bytes came or the stream ended (a read may be short).
template <class S>
std::string read_n(Io io, const S& s, std::size_t n) {
    std::string out, buf(64, '\0');
    while (out.size() < n) {
        const std::size_t want = std::min(buf.size(), n - out.size());
        const std::size_t got = s.read(io, writable(buf).first(want)).await();
        if (got == 0) break;
        out.append(buf, 0, got);
    }
    return out;
}
template <class S>
Task<std::string> co_read_n(Io io, const S& s, std::size_t n) {
    std::string out, buf(64, '\0');
    while (out.size() < n) {
        const std::size_t want = std::min(buf.size(), n - out.size());
        const std::size_t got = co_await s.read(io, writable(buf).first(want));
        if (got == 0) break;
        out.append(buf, 0, got);
    }
    co_return out;
}

/// A fresh directory named after the process and the test, removed with what it holds.
class TempDir {
  public:
    TempDir() {
        const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = std::string("corio-parity-") + std::to_string(::getpid()) + "-" +
                           (t != nullptr ? t->name() : "test") + "-XXXXXX";
        std::replace(name.begin(), name.end(), '/', '-');
        std::string tmpl = (std::filesystem::temp_directory_path() / name).string();
        if (::mkdtemp(tmpl.data()) == nullptr)
            throw std::system_error(errno, std::system_category(), "mkdtemp");
        path_ = tmpl;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::filesystem::path operator/(const char* name) const { return path_ / name; }

  private:
    std::filesystem::path path_;
};

/// An abstract Unix socket name no other run uses.
std::string abstract_name() {
    static std::atomic<int> count{0};
    return std::string(1, '\0') + "corio-parity-" + std::to_string(::getpid()) + "-" +
           std::to_string(count++);
}

/// Takes a pending SIGUSR1 off the process, if any, so each run starts clean.
void drain_sigusr1() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    const timespec zero{0, 0};
    while (::sigtimedwait(&set, nullptr, &zero) == SIGUSR1) {
    }
}

// ---- futures and cancellation --------------------------------------------------------------

TEST_P(Parity, AFutureYieldsItsValueOrRethrowsItsException) {
    run(
        [](Io io) {
            auto value = io.concurrent([] { return 42; });
            EXPECT_EQ(value.await(), 42);
            EXPECT_EQ(value.await(), 42) << "a second await gives the same value";
            auto failing = io.concurrent([]() -> int { throw std::runtime_error("boom"); });
            EXPECT_EQ(plain_outcome(failing), "exception: boom");
            EXPECT_EQ(plain_outcome(failing), "exception: boom") << "and the same exception";
            auto text = io.async([] { return std::string("async"); });
            EXPECT_EQ(std::move(text).await(), "async");
            auto sleeper = io.concurrent([io] {
                io.sleep(2ms).await();
                return 5;
            });
            EXPECT_EQ(sleeper.await(), 5);
            auto coroutine = io.concurrent(
                [](Io io, int v) -> Task<int> {
                    co_await io.yield();
                    co_return 2 * v;
                },
                io, 4);
            EXPECT_EQ(coroutine.await(), 8);
        },
        [](Io io) -> Task<void> {
            auto value = io.concurrent([] { return 42; });
            EXPECT_EQ(co_await value, 42);
            EXPECT_EQ(co_await value, 42) << "a second await gives the same value";
            auto failing = io.concurrent([]() -> int { throw std::runtime_error("boom"); });
            EXPECT_EQ(co_await co_outcome(failing), "exception: boom");
            EXPECT_EQ(co_await co_outcome(failing), "exception: boom") << "and the same exception";
            auto text = io.async([] { return std::string("async"); });
            EXPECT_EQ(co_await std::move(text), "async");
            auto sleeper = io.concurrent(
                [](Io io) -> Task<int> {
                    co_await io.sleep(2ms);
                    co_return 5;
                },
                io);
            EXPECT_EQ(co_await sleeper, 5);
            auto coroutine = io.concurrent(
                [](Io io, int v) -> Task<int> {
                    co_await io.yield();
                    co_return 2 * v;
                },
                io, 4);
            EXPECT_EQ(co_await coroutine, 8);
        });
}

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

TEST_P(Parity, AMovedFromFutureOrASecondWaiterIsAUsageError) {
    run(
        [](Io io) {
            auto f = io.concurrent([] { return 1; });
            auto g = std::move(f);
            EXPECT_EQ(plain_outcome(f), usage_error(std::errc::invalid_argument));
            EXPECT_EQ(plain_outcome(corio::cancel(f)), usage_error(std::errc::invalid_argument));
            Future<int> none;
            EXPECT_EQ(plain_outcome(none), usage_error(std::errc::invalid_argument));
            EXPECT_EQ(g.await(), 1);

            corio::Event release;
            auto inner = io.concurrent([io, &release] {
                release.wait(io).await();
                return 2;
            });
            auto first = io.concurrent([&inner] { return inner.await(); });
            EXPECT_TRUE(parked_on(io, first, WaitKind::future));
            EXPECT_EQ(plain_outcome(inner), usage_error(std::errc::device_or_resource_busy));
            release.set();
            EXPECT_EQ(first.await(), 2);
        },
        [](Io io) -> Task<void> {
            auto f = io.concurrent([] { return 1; });
            auto g = std::move(f);
            EXPECT_EQ(co_await co_outcome(f), usage_error(std::errc::invalid_argument));
            EXPECT_EQ(co_await co_outcome(corio::cancel(f)),
                      usage_error(std::errc::invalid_argument));
            Future<int> none;
            EXPECT_EQ(co_await co_outcome(none), usage_error(std::errc::invalid_argument));
            EXPECT_EQ(co_await g, 1);

            corio::Event release;
            auto inner = io.concurrent(
                [](Io io, corio::Event* release) -> Task<int> {
                    co_await release->wait(io);
                    co_return 2;
                },
                io, &release);
            auto first = io.concurrent(
                [](Future<int>* inner) -> Task<int> { co_return co_await *inner; }, &inner);
            EXPECT_TRUE(co_await co_parked_on(io, first, WaitKind::future));
            EXPECT_EQ(co_await co_outcome(inner),
                      usage_error(std::errc::device_or_resource_busy));
            release.set();
            EXPECT_EQ(co_await first, 2);
        });
}

TEST_P(Parity, SelectReturnsTheFirstToFinishAndCancelsTheOthers) {
    run(
        [](Io io) {
            auto slow = io.concurrent([io] {
                io.sleep(1h).await();
                return 1;
            });
            auto fast = io.concurrent([] { return 2; });
            EXPECT_EQ(corio::select(io, slow, fast).await(), 1U);
            EXPECT_EQ(plain_outcome(slow), "Canceled");
            EXPECT_EQ(fast.await(), 2);

            auto parked = io.concurrent([io] { io.sleep(1h).await(); });
            auto failing = io.concurrent([]() -> int { throw std::runtime_error("lost"); });
            const std::size_t winner = corio::select(io, parked, failing);
            EXPECT_EQ(winner, 1U);
            EXPECT_EQ(plain_outcome(failing), "exception: lost");
            EXPECT_EQ(plain_outcome(parked), "Canceled");

            auto a = io.concurrent([] { return 'a'; });
            auto b = io.concurrent([] { return 'b'; });
            EXPECT_EQ(a.await(), 'a');
            EXPECT_EQ(b.await(), 'b');
            EXPECT_EQ(corio::select(io, b, a).await(), 0U) << "both ready: the lowest index";
            EXPECT_EQ(a.await(), 'a');
        },
        [](Io io) -> Task<void> {
            auto slow = io.concurrent(
                [](Io io) -> Task<int> {
                    co_await io.sleep(1h);
                    co_return 1;
                },
                io);
            auto fast = io.concurrent([]() -> Task<int> { co_return 2; });
            EXPECT_EQ(co_await corio::select(io, slow, fast), 1U);
            EXPECT_EQ(co_await co_outcome(slow), "Canceled");
            EXPECT_EQ(co_await fast, 2);

            auto parked = io.concurrent([](Io io) -> Task<void> { co_await io.sleep(1h); }, io);
            auto failing = io.concurrent([]() -> int { throw std::runtime_error("lost"); });
            const std::size_t winner = co_await corio::select(io, parked, failing);
            EXPECT_EQ(winner, 1U);
            EXPECT_EQ(co_await co_outcome(failing), "exception: lost");
            EXPECT_EQ(co_await co_outcome(parked), "Canceled");

            auto a = io.concurrent([] { return 'a'; });
            auto b = io.concurrent([] { return 'b'; });
            EXPECT_EQ(co_await a, 'a');
            EXPECT_EQ(co_await b, 'b');
            EXPECT_EQ(co_await corio::select(io, b, a), 0U) << "both ready: the lowest index";
            EXPECT_EQ(co_await a, 'a');
        });
}

TEST_P(Parity, RaceReturnsTheWinnersResultAndCancelsTheLosers) {
    run(
        [](Io io) {
            std::atomic<bool> loser_canceled{false};
            auto v = corio::race(
                         io,
                         [io, &loser_canceled] {
                             try {
                                 io.sleep(1h).await();
                             } catch (const corio::Canceled&) {
                                 loser_canceled = true;
                                 throw;
                             }
                             return 1;
                         },
                         [] { return std::string("fast"); })
                         .await();
            ASSERT_EQ(v.index(), 1U);
            EXPECT_EQ(std::get<1>(v), "fast");
            EXPECT_TRUE(loser_canceled) << "the loser was cancelled and reaped before race ended";

            EXPECT_EQ(plain_outcome(corio::race(
                          io, [io] { io.sleep(1h).await(); },
                          []() -> int { throw std::runtime_error("first"); })),
                      "exception: first");
        },
        [](Io io) -> Task<void> {
            std::atomic<bool> loser_canceled{false};
            auto v = co_await corio::race(
                io,
                [io, flag = &loser_canceled]() -> Task<int> {
                    try {
                        co_await io.sleep(1h);
                    } catch (const corio::Canceled&) {
                        *flag = true;
                        throw;
                    }
                    co_return 1;
                },
                [io]() -> Task<std::string> {
                    co_await io.yield();
                    co_return std::string("fast");
                });
            EXPECT_EQ(v.index(), 1U);
            if (v.index() == 1) {
                EXPECT_EQ(std::get<1>(v), "fast");
            }
            EXPECT_TRUE(loser_canceled) << "the loser was cancelled and reaped before race ended";

            EXPECT_EQ(co_await co_outcome(corio::race(
                          io, [io]() -> Task<void> { co_await io.sleep(1h); },
                          [io]() -> Task<int> {
                              co_await io.yield();
                              throw std::runtime_error("first");
                          })),
                      "exception: first");
        });
}

TEST_P(Parity, AGroupWaitRethrowsTheFirstMembersError) {
    run(
        [](Io io) {
            std::atomic<int> done{0};
            {
                corio::Group g(io);
                for (int i = 0; i < 3; ++i)
                    g.concurrent([io, &done] {
                        io.yield().await();
                        ++done;
                    });
                g.wait();
                EXPECT_EQ(done.load(), 3);
                EXPECT_EQ(g.size(), 0U);
            }
            corio::Group g(io);
            std::atomic<bool> sibling_canceled{false};
            g.concurrent([io, &sibling_canceled] {
                try {
                    io.sleep(1h).await();
                } catch (const corio::Canceled&) {
                    sibling_canceled = true;
                    throw;
                }
            });
            g.concurrent([io] {
                io.yield().await();
                throw std::runtime_error("member failed");
            });
            EXPECT_EQ(plain_outcome(g), "exception: member failed");
            EXPECT_TRUE(sibling_canceled);
            EXPECT_EQ(g.size(), 0U);
        },
        [](Io io) -> Task<void> {
            std::atomic<int> done{0};
            {
                corio::Group g(io);
                for (int i = 0; i < 3; ++i)
                    g.concurrent(
                        [](Io io, std::atomic<int>* done) -> Task<void> {
                            co_await io.yield();
                            ++*done;
                        },
                        io, &done);
                co_await g;
                EXPECT_EQ(done.load(), 3);
                EXPECT_EQ(g.size(), 0U);
            }
            corio::Group g(io);
            std::atomic<bool> sibling_canceled{false};
            g.concurrent(
                [](Io io, std::atomic<bool>* flag) -> Task<void> {
                    try {
                        co_await io.sleep(1h);
                    } catch (const corio::Canceled&) {
                        *flag = true;
                        throw;
                    }
                },
                io, &sibling_canceled);
            g.concurrent(
                [](Io io) -> Task<void> {
                    co_await io.yield();
                    throw std::runtime_error("member failed");
                },
                io);
            EXPECT_EQ(co_await co_outcome(g), "exception: member failed");
            EXPECT_TRUE(sibling_canceled);
            EXPECT_EQ(g.size(), 0U);
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

// ---- time ----------------------------------------------------------------------------------

TEST_P(Parity, SleepSleepUntilAndYieldWaitAsAsked) {
    run(
        [](Io io) {
            const auto start = io.now();
            io.sleep(3ms).await();
            EXPECT_GE(io.now() - start, 3ms);
            const auto deadline = io.now() + 2ms;
            io.sleep_until(deadline).await();
            EXPECT_GE(io.now(), deadline);
            io.sleep_until(start).await();  // passed: at once
            io.sleep(0ms).await();
            io.yield().await();
            // With a cancellation pending, a wait that need not wait completes; yield throws.
            std::atomic<bool> reached{false};
            auto cancelled = start_cancelled(io, [io, &reached] {
                io.sleep_until(io.now() - 1s).await();
                io.sleep(0ms).await();
                reached = true;
                io.yield().await();
            });
            EXPECT_EQ(plain_outcome(cancelled), "Canceled");
            EXPECT_TRUE(reached);
        },
        [](Io io) -> Task<void> {
            const auto start = io.now();
            co_await io.sleep(3ms);
            EXPECT_GE(io.now() - start, 3ms);
            const auto deadline = io.now() + 2ms;
            co_await io.sleep_until(deadline);
            EXPECT_GE(io.now(), deadline);
            co_await io.sleep_until(start);  // passed: at once
            co_await io.sleep(0ms);
            co_await io.yield();
            // With a cancellation pending, a wait that need not wait completes; yield throws.
            std::atomic<bool> reached{false};
            auto cancelled = start_cancelled(
                io,
                [](Io io, std::atomic<bool>* reached) -> Task<void> {
                    co_await io.sleep_until(io.now() - 1s);
                    co_await io.sleep(0ms);
                    *reached = true;
                    co_await io.yield();
                },
                io, &reached);
            EXPECT_EQ(co_await co_outcome(cancelled), "Canceled");
            EXPECT_TRUE(reached);
        });
}

TEST_P(Parity, ASleepIsCancelledBeforeDuringAndAfter) {
    run(
        [](Io io) {
            auto before = start_cancelled(io, [io] { io.sleep(1h).await(); });
            EXPECT_EQ(plain_outcome(before), "Canceled");
            auto during = io.concurrent([io] { io.sleep(1h).await(); });
            EXPECT_TRUE(parked_on(io, during, WaitKind::sleep));
            EXPECT_EQ(plain_outcome(corio::cancel(during)), "Canceled");
            auto after = io.concurrent([io] {
                io.sleep(1ms).await();
                return 3;
            });
            EXPECT_TRUE(eventually(io, [&after] { return after.ready(); }));
            EXPECT_EQ(corio::cancel(after).await(), 3);
        },
        [](Io io) -> Task<void> {
            auto before =
                start_cancelled(io, [](Io io) -> Task<void> { co_await io.sleep(1h); }, io);
            EXPECT_EQ(co_await co_outcome(before), "Canceled");
            auto during = io.concurrent([](Io io) -> Task<void> { co_await io.sleep(1h); }, io);
            EXPECT_TRUE(co_await co_parked_on(io, during, WaitKind::sleep));
            EXPECT_EQ(co_await co_outcome(corio::cancel(during)), "Canceled");
            auto after = io.concurrent(
                [](Io io) -> Task<int> {
                    co_await io.sleep(1ms);
                    co_return 3;
                },
                io);
            EXPECT_TRUE(co_await co_eventually(io, [&after] { return after.ready(); }));
            EXPECT_EQ(co_await corio::cancel(after), 3);
        });
}

TEST_P(Parity, WithTimeoutCutsOffOnlyTheWaitItBounds) {
    run(
        [](Io io) {
            corio::Event never;
            EXPECT_EQ(plain_outcome(corio::with_timeout(io, 5ms, never.wait(io))), timeout());
            EXPECT_FALSE(io.cancel_requested()) << "the task was not cancelled";
            corio::Queue<int> q(1);
            EXPECT_TRUE(q.try_put(9));
            EXPECT_EQ(corio::with_timeout(io, 1h, q.get(io)).await(), 9);

            corio::Event later;
            auto in_time = io.concurrent([io, &later] {
                corio::with_timeout(io, 1h, later.wait(io)).await();
                return 1;
            });
            EXPECT_TRUE(parked_on(io, in_time, WaitKind::event));
            later.set();
            EXPECT_EQ(in_time.await(), 1);

            auto cut = io.concurrent(
                [io, &never] { corio::with_timeout(io, 1h, never.wait(io)).await(); });
            EXPECT_TRUE(parked_on(io, cut, WaitKind::event));
            EXPECT_EQ(plain_outcome(corio::cancel(cut)), "Canceled") << "not Timeout";

            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::string buf(4, '\0');
            std::error_code ec;
            EXPECT_EQ(corio::with_timeout(io, 5ms, p.first.read(io, writable(buf), ec)).await(),
                      0U);
            EXPECT_EQ(ec, std::errc::timed_out);
            (void)p.second.write_all(io, "late").await();
            EXPECT_EQ(read_n(io, p.first, 4), "late") << "the cut-off read took nothing";
        },
        [](Io io) -> Task<void> {
            corio::Event never;
            EXPECT_EQ(co_await co_outcome(corio::with_timeout(io, 5ms, never.wait(io))),
                      timeout());
            EXPECT_FALSE(io.cancel_requested()) << "the task was not cancelled";
            corio::Queue<int> q(1);
            EXPECT_TRUE(q.try_put(9));
            EXPECT_EQ(co_await corio::with_timeout(io, 1h, q.get(io)), 9);

            corio::Event later;
            auto in_time = io.concurrent(
                [](Io io, corio::Event* later) -> Task<int> {
                    co_await corio::with_timeout(io, 1h, later->wait(io));
                    co_return 1;
                },
                io, &later);
            EXPECT_TRUE(co_await co_parked_on(io, in_time, WaitKind::event));
            later.set();
            EXPECT_EQ(co_await in_time, 1);

            auto cut = io.concurrent(
                [](Io io, corio::Event* never) -> Task<void> {
                    co_await corio::with_timeout(io, 1h, never->wait(io));
                },
                io, &never);
            EXPECT_TRUE(co_await co_parked_on(io, cut, WaitKind::event));
            EXPECT_EQ(co_await co_outcome(corio::cancel(cut)), "Canceled") << "not Timeout";

            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::string buf(4, '\0');
            std::error_code ec;
            EXPECT_EQ(co_await corio::with_timeout(io, 5ms, p.first.read(io, writable(buf), ec)),
                      0U);
            EXPECT_EQ(ec, std::errc::timed_out);
            (void)co_await p.second.write_all(io, "late");
            EXPECT_EQ(co_await co_read_n(io, p.first, 4), "late")
                << "the cut-off read took nothing";
        });
}

// ---- synchronization -------------------------------------------------------------------------

TEST_P(Parity, AContendedMutexIsHandedToItsWaiter) {
    run(
        [](Io io) {
            corio::Mutex m;
            int shared = 0;
            m.lock(io).await();
            auto waiter = io.concurrent([io, &m, &shared] {
                corio::MutexGuard guard = m.scoped_lock(io).await();
                return shared;
            });
            EXPECT_TRUE(parked_on(io, waiter, WaitKind::mutex));
            shared = 1;
            m.unlock();
            EXPECT_EQ(waiter.await(), 1) << "it ran under the lock, after the unlock";
            EXPECT_TRUE(m.try_lock()) << "the guard unlocked";
            auto plain_lock = io.concurrent([io, &m, &shared] {
                m.lock(io).await();
                const int seen = shared;
                m.unlock();
                return seen;
            });
            EXPECT_TRUE(parked_on(io, plain_lock, WaitKind::mutex));
            shared = 2;
            m.unlock();
            EXPECT_EQ(plain_lock.await(), 2);
        },
        [](Io io) -> Task<void> {
            corio::Mutex m;
            int shared = 0;
            co_await m.lock(io);
            auto waiter = io.concurrent(
                [](Io io, corio::Mutex* m, const int* shared) -> Task<int> {
                    corio::MutexGuard guard = co_await m->scoped_lock(io);
                    co_return *shared;
                },
                io, &m, &shared);
            EXPECT_TRUE(co_await co_parked_on(io, waiter, WaitKind::mutex));
            shared = 1;
            m.unlock();
            EXPECT_EQ(co_await waiter, 1) << "it ran under the lock, after the unlock";
            EXPECT_TRUE(m.try_lock()) << "the guard unlocked";
            auto plain_lock = io.concurrent(
                [](Io io, corio::Mutex* m, const int* shared) -> Task<int> {
                    co_await m->lock(io);
                    const int seen = *shared;
                    m->unlock();
                    co_return seen;
                },
                io, &m, &shared);
            EXPECT_TRUE(co_await co_parked_on(io, plain_lock, WaitKind::mutex));
            shared = 2;
            m.unlock();
            EXPECT_EQ(co_await plain_lock, 2);
        });
}

TEST_P(Parity, AMutexLockIsCancelledBeforeDuringAndAfter) {
    run(
        [](Io io) {
            corio::Mutex m;
            m.lock(io).await();
            auto before = start_cancelled(io, [io, &m] {
                m.lock(io).await();
                m.unlock();
            });
            EXPECT_EQ(plain_outcome(before), "Canceled");
            auto during = io.concurrent([io, &m] {
                m.lock(io).await();
                m.unlock();
            });
            EXPECT_TRUE(parked_on(io, during, WaitKind::mutex));
            EXPECT_EQ(plain_outcome(corio::cancel(during)), "Canceled");
            m.unlock();
            EXPECT_TRUE(m.try_lock()) << "no cancelled waiter owns it";
            m.unlock();
            auto free_despite_cancel = start_cancelled(io, [io, &m] {
                corio::MutexGuard guard = m.scoped_lock(io).await();
                return 4;
            });
            EXPECT_EQ(free_despite_cancel.await(), 4) << "a free mutex is taken at once";
            auto after = io.concurrent([io, &m] {
                corio::MutexGuard guard = m.scoped_lock(io).await();
                return 5;
            });
            EXPECT_TRUE(eventually(io, [&after] { return after.ready(); }));
            EXPECT_EQ(corio::cancel(after).await(), 5);
            EXPECT_TRUE(m.try_lock());
            m.unlock();
        },
        [](Io io) -> Task<void> {
            corio::Mutex m;
            co_await m.lock(io);
            auto before = start_cancelled(
                io,
                [](Io io, corio::Mutex* m) -> Task<void> {
                    co_await m->lock(io);
                    m->unlock();
                },
                io, &m);
            EXPECT_EQ(co_await co_outcome(before), "Canceled");
            auto during = io.concurrent(
                [](Io io, corio::Mutex* m) -> Task<void> {
                    co_await m->lock(io);
                    m->unlock();
                },
                io, &m);
            EXPECT_TRUE(co_await co_parked_on(io, during, WaitKind::mutex));
            EXPECT_EQ(co_await co_outcome(corio::cancel(during)), "Canceled");
            m.unlock();
            EXPECT_TRUE(m.try_lock()) << "no cancelled waiter owns it";
            m.unlock();
            auto free_despite_cancel = start_cancelled(
                io,
                [](Io io, corio::Mutex* m) -> Task<int> {
                    corio::MutexGuard guard = co_await m->scoped_lock(io);
                    co_return 4;
                },
                io, &m);
            EXPECT_EQ(co_await free_despite_cancel, 4) << "a free mutex is taken at once";
            auto after = io.concurrent(
                [](Io io, corio::Mutex* m) -> Task<int> {
                    corio::MutexGuard guard = co_await m->scoped_lock(io);
                    co_return 5;
                },
                io, &m);
            EXPECT_TRUE(co_await co_eventually(io, [&after] { return after.ready(); }));
            EXPECT_EQ(co_await corio::cancel(after), 5);
            EXPECT_TRUE(m.try_lock());
            m.unlock();
        });
}

TEST_P(Parity, AConditionWaitEndsWithASignalOwningTheMutex) {
    run(
        [](Io io) {
            corio::Mutex m;
            corio::Condition changed;
            bool ready = false;
            auto waiter = io.concurrent([io, &m, &changed, &ready] {
                corio::MutexGuard guard = m.scoped_lock(io).await();
                while (!ready) changed.wait(io, m).await();
                return 1;
            });
            EXPECT_TRUE(parked_on(io, waiter, WaitKind::condition));
            m.lock(io).await();
            ready = true;
            changed.signal();
            m.unlock();
            EXPECT_EQ(waiter.await(), 1);

            std::atomic<bool> held_when_cancelled{false};
            auto cut = io.concurrent([io, &m, &changed, &held_when_cancelled] {
                m.lock(io).await();
                try {
                    changed.wait(io, m).await();
                } catch (const corio::Canceled&) {
                    held_when_cancelled = !m.try_lock();
                    m.unlock();
                    throw;
                }
                m.unlock();
            });
            EXPECT_TRUE(parked_on(io, cut, WaitKind::condition));
            EXPECT_EQ(plain_outcome(corio::cancel(cut)), "Canceled");
            EXPECT_TRUE(held_when_cancelled);
            EXPECT_TRUE(m.try_lock());
            m.unlock();
        },
        [](Io io) -> Task<void> {
            corio::Mutex m;
            corio::Condition changed;
            bool ready = false;
            auto waiter = io.concurrent(
                [](Io io, corio::Mutex* m, corio::Condition* changed,
                   const bool* ready) -> Task<int> {
                    corio::MutexGuard guard = co_await m->scoped_lock(io);
                    while (!*ready) co_await changed->wait(io, *m);
                    co_return 1;
                },
                io, &m, &changed, &ready);
            EXPECT_TRUE(co_await co_parked_on(io, waiter, WaitKind::condition));
            co_await m.lock(io);
            ready = true;
            changed.signal();
            m.unlock();
            EXPECT_EQ(co_await waiter, 1);

            std::atomic<bool> held_when_cancelled{false};
            auto cut = io.concurrent(
                [](Io io, corio::Mutex* m, corio::Condition* changed,
                   std::atomic<bool>* held) -> Task<void> {
                    co_await m->lock(io);
                    bool canceled = false;
                    try {
                        co_await changed->wait(io, *m);
                    } catch (const corio::Canceled&) {
                        canceled = true;
                        *held = !m->try_lock();
                    }
                    m->unlock();
                    if (canceled) throw corio::Canceled();
                },
                io, &m, &changed, &held_when_cancelled);
            EXPECT_TRUE(co_await co_parked_on(io, cut, WaitKind::condition));
            EXPECT_EQ(co_await co_outcome(corio::cancel(cut)), "Canceled");
            EXPECT_TRUE(held_when_cancelled);
            EXPECT_TRUE(m.try_lock());
            m.unlock();
        });
}

TEST_P(Parity, ASemaphoreAcquireWaitsForARelease) {
    run(
        [](Io io) {
            corio::Semaphore permits(1);
            permits.acquire(io).await();  // free: at once
            EXPECT_EQ(permits.available(), 0U);
            auto waiter = io.concurrent([io, &permits] {
                permits.acquire(io).await();
                return 1;
            });
            EXPECT_TRUE(parked_on(io, waiter, WaitKind::semaphore));
            permits.release();
            EXPECT_EQ(waiter.await(), 1);
            EXPECT_EQ(permits.available(), 0U) << "the permit went to the waiter";
            auto cut = io.concurrent([io, &permits] { permits.acquire(io).await(); });
            EXPECT_TRUE(parked_on(io, cut, WaitKind::semaphore));
            EXPECT_EQ(plain_outcome(corio::cancel(cut)), "Canceled");
            permits.release();
            EXPECT_EQ(permits.available(), 1U) << "the cancelled waiter took none";
        },
        [](Io io) -> Task<void> {
            corio::Semaphore permits(1);
            co_await permits.acquire(io);  // free: at once
            EXPECT_EQ(permits.available(), 0U);
            auto waiter = io.concurrent(
                [](Io io, corio::Semaphore* permits) -> Task<int> {
                    co_await permits->acquire(io);
                    co_return 1;
                },
                io, &permits);
            EXPECT_TRUE(co_await co_parked_on(io, waiter, WaitKind::semaphore));
            permits.release();
            EXPECT_EQ(co_await waiter, 1);
            EXPECT_EQ(permits.available(), 0U) << "the permit went to the waiter";
            auto cut = io.concurrent(
                [](Io io, corio::Semaphore* permits) -> Task<void> {
                    co_await permits->acquire(io);
                },
                io, &permits);
            EXPECT_TRUE(co_await co_parked_on(io, cut, WaitKind::semaphore));
            EXPECT_EQ(co_await co_outcome(corio::cancel(cut)), "Canceled");
            permits.release();
            EXPECT_EQ(permits.available(), 1U) << "the cancelled waiter took none";
        });
}

TEST_P(Parity, AnEventWaitIsCancelledBeforeDuringAndAfter) {
    run(
        [](Io io) {
            corio::Event ev;
            auto before = start_cancelled(io, [io, &ev] { ev.wait(io).await(); });
            EXPECT_EQ(plain_outcome(before), "Canceled");
            auto during = io.concurrent([io, &ev] { ev.wait(io).await(); });
            EXPECT_TRUE(parked_on(io, during, WaitKind::event));
            EXPECT_EQ(plain_outcome(corio::cancel(during)), "Canceled");
            auto woken = io.concurrent([io, &ev] {
                ev.wait(io).await();
                return 1;
            });
            EXPECT_TRUE(parked_on(io, woken, WaitKind::event));
            ev.set();
            EXPECT_EQ(woken.await(), 1);
            auto set_despite_cancel = start_cancelled(io, [io, &ev] {
                ev.wait(io).await();
                return 2;
            });
            EXPECT_EQ(set_despite_cancel.await(), 2) << "a set event is seen at once";
            auto after = io.concurrent([io, &ev] {
                ev.wait(io).await();
                return 3;
            });
            EXPECT_TRUE(eventually(io, [&after] { return after.ready(); }));
            EXPECT_EQ(corio::cancel(after).await(), 3);
            ev.reset();
            EXPECT_EQ(plain_outcome(corio::with_timeout(io, 1ms, ev.wait(io))), timeout());
        },
        [](Io io) -> Task<void> {
            corio::Event ev;
            auto before = start_cancelled(
                io, [](Io io, corio::Event* ev) -> Task<void> { co_await ev->wait(io); }, io,
                &ev);
            EXPECT_EQ(co_await co_outcome(before), "Canceled");
            auto during = io.concurrent(
                [](Io io, corio::Event* ev) -> Task<void> { co_await ev->wait(io); }, io, &ev);
            EXPECT_TRUE(co_await co_parked_on(io, during, WaitKind::event));
            EXPECT_EQ(co_await co_outcome(corio::cancel(during)), "Canceled");
            auto woken = io.concurrent(
                [](Io io, corio::Event* ev) -> Task<int> {
                    co_await ev->wait(io);
                    co_return 1;
                },
                io, &ev);
            EXPECT_TRUE(co_await co_parked_on(io, woken, WaitKind::event));
            ev.set();
            EXPECT_EQ(co_await woken, 1);
            auto set_despite_cancel = start_cancelled(
                io,
                [](Io io, corio::Event* ev) -> Task<int> {
                    co_await ev->wait(io);
                    co_return 2;
                },
                io, &ev);
            EXPECT_EQ(co_await set_despite_cancel, 2) << "a set event is seen at once";
            auto after = io.concurrent(
                [](Io io, corio::Event* ev) -> Task<int> {
                    co_await ev->wait(io);
                    co_return 3;
                },
                io, &ev);
            EXPECT_TRUE(co_await co_eventually(io, [&after] { return after.ready(); }));
            EXPECT_EQ(co_await corio::cancel(after), 3);
            ev.reset();
            EXPECT_EQ(co_await co_outcome(corio::with_timeout(io, 1ms, ev.wait(io))), timeout());
        });
}

TEST_P(Parity, AQueueHandsItemsToWaitingGettersAndPuttersUntilClosed) {
    run(
        [](Io io) {
            corio::Queue<int> q(1);
            auto getter = io.concurrent([io, &q] { return q.get(io).await(); });
            EXPECT_TRUE(parked_on(io, getter, WaitKind::queue_get));
            q.put(io, 7).await();
            EXPECT_EQ(getter.await(), 7);
            q.put(io, 1).await();
            auto putter = io.concurrent([io, &q] {
                q.put(io, 2).await();
                return 2;
            });
            EXPECT_TRUE(parked_on(io, putter, WaitKind::queue_put));
            EXPECT_EQ(q.get(io).await(), 1);
            EXPECT_EQ(putter.await(), 2);
            EXPECT_EQ(q.get(io).await(), 2);

            auto closed_getter = io.concurrent([io, &q] { return q.get(io).await(); });
            EXPECT_TRUE(parked_on(io, closed_getter, WaitKind::queue_get));
            q.close();
            EXPECT_EQ(plain_outcome(closed_getter), queue_closed());
            EXPECT_EQ(plain_outcome(q.put(io, 3)), queue_closed());
            EXPECT_EQ(plain_outcome(q.get(io)), queue_closed());

            corio::Queue<std::string> drained(2);
            drained.put(io, "left").await();
            drained.close();
            EXPECT_EQ(drained.get(io).await(), "left") << "a closed queue is drained first";
            EXPECT_EQ(plain_outcome(drained.get(io)), queue_closed());
        },
        [](Io io) -> Task<void> {
            corio::Queue<int> q(1);
            auto getter = io.concurrent(
                [](Io io, corio::Queue<int>* q) -> Task<int> { co_return co_await q->get(io); },
                io, &q);
            EXPECT_TRUE(co_await co_parked_on(io, getter, WaitKind::queue_get));
            co_await q.put(io, 7);
            EXPECT_EQ(co_await getter, 7);
            co_await q.put(io, 1);
            auto putter = io.concurrent(
                [](Io io, corio::Queue<int>* q) -> Task<int> {
                    co_await q->put(io, 2);
                    co_return 2;
                },
                io, &q);
            EXPECT_TRUE(co_await co_parked_on(io, putter, WaitKind::queue_put));
            EXPECT_EQ(co_await q.get(io), 1);
            EXPECT_EQ(co_await putter, 2);
            EXPECT_EQ(co_await q.get(io), 2);

            auto closed_getter = io.concurrent(
                [](Io io, corio::Queue<int>* q) -> Task<int> { co_return co_await q->get(io); },
                io, &q);
            EXPECT_TRUE(co_await co_parked_on(io, closed_getter, WaitKind::queue_get));
            q.close();
            EXPECT_EQ(co_await co_outcome(closed_getter), queue_closed());
            EXPECT_EQ(co_await co_outcome(q.put(io, 3)), queue_closed());
            EXPECT_EQ(co_await co_outcome(q.get(io)), queue_closed());

            corio::Queue<std::string> drained(2);
            co_await drained.put(io, "left");
            drained.close();
            EXPECT_EQ(co_await drained.get(io), "left") << "a closed queue is drained first";
            EXPECT_EQ(co_await co_outcome(drained.get(io)), queue_closed());
        });
}

TEST_P(Parity, AQueueGetIsCancelledBeforeDuringAndAfter) {
    run(
        [](Io io) {
            corio::Queue<int> q(1);
            auto before = start_cancelled(io, [io, &q] { return q.get(io).await(); });
            EXPECT_EQ(plain_outcome(before), "Canceled");
            auto during = io.concurrent([io, &q] { return q.get(io).await(); });
            EXPECT_TRUE(parked_on(io, during, WaitKind::queue_get));
            EXPECT_EQ(plain_outcome(corio::cancel(during)), "Canceled");
            EXPECT_TRUE(q.try_put(5));
            EXPECT_EQ(q.try_get(), 5) << "the cancelled gets took nothing";
            EXPECT_TRUE(q.try_put(6));
            auto there_despite_cancel = start_cancelled(io, [io, &q] { return q.get(io).await(); });
            EXPECT_EQ(there_despite_cancel.await(), 6) << "an item there is taken at once";
            EXPECT_TRUE(q.try_put(7));
            auto after = io.concurrent([io, &q] { return q.get(io).await(); });
            EXPECT_TRUE(eventually(io, [&after] { return after.ready(); }));
            EXPECT_EQ(corio::cancel(after).await(), 7);
            EXPECT_EQ(q.size(), 0U);
        },
        [](Io io) -> Task<void> {
            corio::Queue<int> q(1);
            auto get = [](Io io, corio::Queue<int>* q) -> Task<int> {
                co_return co_await q->get(io);
            };
            auto before = start_cancelled(io, get, io, &q);
            EXPECT_EQ(co_await co_outcome(before), "Canceled");
            auto during = io.concurrent(get, io, &q);
            EXPECT_TRUE(co_await co_parked_on(io, during, WaitKind::queue_get));
            EXPECT_EQ(co_await co_outcome(corio::cancel(during)), "Canceled");
            EXPECT_TRUE(q.try_put(5));
            EXPECT_EQ(q.try_get(), 5) << "the cancelled gets took nothing";
            EXPECT_TRUE(q.try_put(6));
            auto there_despite_cancel = start_cancelled(io, get, io, &q);
            EXPECT_EQ(co_await there_despite_cancel, 6) << "an item there is taken at once";
            EXPECT_TRUE(q.try_put(7));
            auto after = io.concurrent(get, io, &q);
            EXPECT_TRUE(co_await co_eventually(io, [&after] { return after.ready(); }));
            EXPECT_EQ(co_await corio::cancel(after), 7);
            EXPECT_EQ(q.size(), 0U);
        });
}

// ---- files -----------------------------------------------------------------------------------

TEST_P(Parity, AFileIsCreatedWrittenReadStattedAndClosed) {
    TempDir dir;
    const std::filesystem::path path = dir / "file";
    const std::filesystem::path whole = dir / "whole";
    run(
        [&path, &whole](Io io) {
            corio::File f = corio::File::create(io, path, {.read = true}).await();
            EXPECT_TRUE(f.is_open());
            EXPECT_EQ(f.write(io, bytes_of("hello")).await(), 5U);
            EXPECT_EQ(f.write_all(io, ", world").await(), 7U);
            EXPECT_EQ(f.pwrite(io, bytes_of("HELLO"), 0).await(), 5U);
            std::string five(5, '\0');
            EXPECT_EQ(f.pread(io, writable(five), 7).await(), 5U);
            EXPECT_EQ(five, "world");
            std::string a = "!?", b = "!";
            std::array<iovec, 2> out{iovec{a.data(), a.size()}, iovec{b.data(), b.size()}};
            EXPECT_EQ(f.writev(io, out, 12).await(), 3U);
            std::string x(6, '\0'), y(9, '\0');
            std::array<iovec, 2> in{iovec{x.data(), x.size()}, iovec{y.data(), y.size()}};
            EXPECT_EQ(f.readv(io, in, 0).await(), 15U);
            EXPECT_EQ(x + y, "HELLO, world!?!");
            f.sync(io).await();
            f.sync(io, true).await();
            const corio::FileStat st = f.stat(io).await();
            EXPECT_TRUE(st.is_regular());
            EXPECT_EQ(st.size, 15U);
            EXPECT_EQ(f.size(io).await(), 15U);
            f.close(io).await();
            EXPECT_FALSE(f.is_open());

            corio::File g = corio::File::open(io, path).await();
            std::string all(32, '\0');
            all.resize(g.read(io, writable(all)).await());
            EXPECT_EQ(all, "HELLO, world!?!");
            EXPECT_EQ(g.read(io, writable(five)).await(), 0U) << "the end of the file";
            g.close(io).await();

            corio::write_file(io, whole, "a whole file").await();
            EXPECT_EQ(corio::read_file(io, whole).await(), "a whole file");
            std::error_code ec;
            corio::write_file(io, whole, bytes_of("again"), ec).await();
            EXPECT_FALSE(ec);
            EXPECT_EQ(corio::read_file(io, whole, ec).await(), "again");
            EXPECT_FALSE(ec);
        },
        [&path, &whole](Io io) -> Task<void> {
            corio::File f = co_await corio::File::create(io, path, {.read = true});
            EXPECT_TRUE(f.is_open());
            EXPECT_EQ(co_await f.write(io, bytes_of("hello")), 5U);
            EXPECT_EQ(co_await f.write_all(io, ", world"), 7U);
            EXPECT_EQ(co_await f.pwrite(io, bytes_of("HELLO"), 0), 5U);
            std::string five(5, '\0');
            EXPECT_EQ(co_await f.pread(io, writable(five), 7), 5U);
            EXPECT_EQ(five, "world");
            std::string a = "!?", b = "!";
            std::array<iovec, 2> out{iovec{a.data(), a.size()}, iovec{b.data(), b.size()}};
            EXPECT_EQ(co_await f.writev(io, out, 12), 3U);
            std::string x(6, '\0'), y(9, '\0');
            std::array<iovec, 2> in{iovec{x.data(), x.size()}, iovec{y.data(), y.size()}};
            EXPECT_EQ(co_await f.readv(io, in, 0), 15U);
            EXPECT_EQ(x + y, "HELLO, world!?!");
            co_await f.sync(io);
            co_await f.sync(io, true);
            const corio::FileStat st = co_await f.stat(io);
            EXPECT_TRUE(st.is_regular());
            EXPECT_EQ(st.size, 15U);
            EXPECT_EQ(co_await f.size(io), 15U);
            co_await f.close(io);
            EXPECT_FALSE(f.is_open());

            corio::File g = co_await corio::File::open(io, path);
            std::string all(32, '\0');
            all.resize(co_await g.read(io, writable(all)));
            EXPECT_EQ(all, "HELLO, world!?!");
            EXPECT_EQ(co_await g.read(io, writable(five)), 0U) << "the end of the file";
            co_await g.close(io);

            co_await corio::write_file(io, whole, "a whole file");
            EXPECT_EQ(co_await corio::read_file(io, whole), "a whole file");
            std::error_code ec;
            co_await corio::write_file(io, whole, bytes_of("again"), ec);
            EXPECT_FALSE(ec);
            EXPECT_EQ(co_await corio::read_file(io, whole, ec), "again");
            EXPECT_FALSE(ec);
        },
        4);
}

TEST_P(Parity, FileErrorsAreThrownOrStoredInTheErrorCode) {
    TempDir dir;
    const std::filesystem::path missing = dir / "missing";
    const std::filesystem::path in_missing_dir = dir / "no-such-dir/file";
    const std::filesystem::path existing = dir / "existing";
    run(
        [&](Io io) {
            EXPECT_EQ(plain_outcome(corio::File::open(io, missing)),
                      failed(std::errc::no_such_file_or_directory));
            std::error_code ec;
            corio::File none =
                corio::File::open(io, missing, corio::OpenMode::read_only, ec).await();
            EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
            EXPECT_FALSE(none.is_open());
            EXPECT_EQ(plain_outcome(corio::read_file(io, missing)),
                      failed(std::errc::no_such_file_or_directory));
            EXPECT_EQ(corio::read_file(io, missing, ec).await(), "");
            EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
            EXPECT_EQ(plain_outcome(corio::write_file(io, in_missing_dir, "x")),
                      failed(std::errc::no_such_file_or_directory));
            corio::write_file(io, in_missing_dir, bytes_of("x"), ec).await();
            EXPECT_EQ(ec, std::errc::no_such_file_or_directory);

            corio::write_file(io, existing, "x").await();
            EXPECT_EQ(plain_outcome(corio::File::create(io, existing, {.exclusive = true})),
                      failed(std::errc::file_exists));
            corio::File kept = corio::File::create(io, existing, {.exclusive = true}, ec).await();
            EXPECT_EQ(ec, std::errc::file_exists);
            EXPECT_FALSE(kept.is_open());

            corio::File f = corio::File::open(io, existing).await();
            f.close(io).await();
            std::string buf(4, '\0');
            EXPECT_EQ(plain_outcome(f.read(io, writable(buf))),
                      usage_error(std::errc::bad_file_descriptor));
            EXPECT_EQ(f.read(io, writable(buf), ec).await(), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(plain_outcome(f.stat(io)), usage_error(std::errc::bad_file_descriptor));
            EXPECT_EQ(plain_outcome(f.close(io)), usage_error(std::errc::bad_file_descriptor));
            f.close(io, ec).await();
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(f.pwrite(io, bytes_of("x"), 0, ec).await(), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(f.write_all(io, bytes_of("x"), ec).await(), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(f.size(io, ec).await(), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            f.sync(io, false, ec).await();
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        },
        [&](Io io) -> Task<void> {
            EXPECT_EQ(co_await co_outcome(corio::File::open(io, missing)),
                      failed(std::errc::no_such_file_or_directory));
            std::error_code ec;
            corio::File none =
                co_await corio::File::open(io, missing, corio::OpenMode::read_only, ec);
            EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
            EXPECT_FALSE(none.is_open());
            EXPECT_EQ(co_await co_outcome(corio::read_file(io, missing)),
                      failed(std::errc::no_such_file_or_directory));
            EXPECT_EQ(co_await corio::read_file(io, missing, ec), "");
            EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
            EXPECT_EQ(co_await co_outcome(corio::write_file(io, in_missing_dir, "x")),
                      failed(std::errc::no_such_file_or_directory));
            co_await corio::write_file(io, in_missing_dir, bytes_of("x"), ec);
            EXPECT_EQ(ec, std::errc::no_such_file_or_directory);

            co_await corio::write_file(io, existing, "x");
            EXPECT_EQ(co_await co_outcome(corio::File::create(io, existing, {.exclusive = true})),
                      failed(std::errc::file_exists));
            corio::File kept = co_await corio::File::create(io, existing, {.exclusive = true}, ec);
            EXPECT_EQ(ec, std::errc::file_exists);
            EXPECT_FALSE(kept.is_open());

            corio::File f = co_await corio::File::open(io, existing);
            co_await f.close(io);
            std::string buf(4, '\0');
            EXPECT_EQ(co_await co_outcome(f.read(io, writable(buf))),
                      usage_error(std::errc::bad_file_descriptor));
            EXPECT_EQ(co_await f.read(io, writable(buf), ec), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(co_await co_outcome(f.stat(io)), usage_error(std::errc::bad_file_descriptor));
            EXPECT_EQ(co_await co_outcome(f.close(io)),
                      usage_error(std::errc::bad_file_descriptor));
            co_await f.close(io, ec);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(co_await f.pwrite(io, bytes_of("x"), 0, ec), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(co_await f.write_all(io, bytes_of("x"), ec), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(co_await f.size(io, ec), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            co_await f.sync(io, false, ec);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        },
        4);
}

// ---- sockets ---------------------------------------------------------------------------------

TEST_P(Parity, AUnixPairReadsWritesShutsDownAndCloses) {
    run(
        [](Io io) {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            corio::UnixStream& a = p.first;
            corio::UnixStream& b = p.second;
            auto reader = io.concurrent([io, &b] { return read_n(io, b, 5); });
            EXPECT_TRUE(parked_on(io, reader, WaitKind::io));
            const std::size_t n = a.write(io, bytes_of("hello")).await();
            EXPECT_TRUE(n >= 1 && n <= 5) << n;
            EXPECT_EQ(a.write_all(io, std::string_view("hello").substr(n)).await(), 5 - n);
            EXPECT_EQ(reader.await(), "hello");
            EXPECT_EQ(b.write_all(io, bytes_of("back")).await(), 4U);
            EXPECT_EQ(read_n(io, a, 4), "back");
            b.shutdown(io).await();
            std::string buf(8, '\0');
            EXPECT_EQ(a.read(io, writable(buf)).await(), 0U) << "the peer shut down its side";
            std::error_code ec;
            a.shutdown(io, corio::Shutdown::both, ec).await();
            EXPECT_FALSE(ec);
            EXPECT_EQ(plain_outcome(b.read(io, std::span<std::byte>())),
                      usage_error(std::errc::invalid_argument));
            a.close(io).await();
            EXPECT_FALSE(a.is_open());
            EXPECT_EQ(plain_outcome(a.read(io, writable(buf))),
                      usage_error(std::errc::bad_file_descriptor));
            EXPECT_EQ(a.read(io, writable(buf), ec).await(), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(plain_outcome(a.write_all(io, "x")),
                      usage_error(std::errc::bad_file_descriptor));
            EXPECT_EQ(a.write(io, bytes_of("x"), ec).await(), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            a.close(io, ec).await();
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        },
        [](Io io) -> Task<void> {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            corio::UnixStream& a = p.first;
            corio::UnixStream& b = p.second;
            auto reader = io.concurrent(
                [](Io io, const corio::UnixStream* b) -> Task<std::string> {
                    co_return co_await co_read_n(io, *b, 5);
                },
                io, &b);
            EXPECT_TRUE(co_await co_parked_on(io, reader, WaitKind::io));
            const std::size_t n = co_await a.write(io, bytes_of("hello"));
            EXPECT_TRUE(n >= 1 && n <= 5) << n;
            EXPECT_EQ(co_await a.write_all(io, std::string_view("hello").substr(n)), 5 - n);
            EXPECT_EQ(co_await reader, "hello");
            EXPECT_EQ(co_await b.write_all(io, bytes_of("back")), 4U);
            EXPECT_EQ(co_await co_read_n(io, a, 4), "back");
            co_await b.shutdown(io);
            std::string buf(8, '\0');
            EXPECT_EQ(co_await a.read(io, writable(buf)), 0U) << "the peer shut down its side";
            std::error_code ec;
            co_await a.shutdown(io, corio::Shutdown::both, ec);
            EXPECT_FALSE(ec);
            EXPECT_EQ(co_await co_outcome(b.read(io, std::span<std::byte>())),
                      usage_error(std::errc::invalid_argument));
            co_await a.close(io);
            EXPECT_FALSE(a.is_open());
            EXPECT_EQ(co_await co_outcome(a.read(io, writable(buf))),
                      usage_error(std::errc::bad_file_descriptor));
            EXPECT_EQ(co_await a.read(io, writable(buf), ec), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_EQ(co_await co_outcome(a.write_all(io, "x")),
                      usage_error(std::errc::bad_file_descriptor));
            EXPECT_EQ(co_await a.write(io, bytes_of("x"), ec), 0U);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            co_await a.close(io, ec);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        });
}

/// What a cancelled read with an error_code gives: its count and its code (never a throw).
struct Quiet {
    std::size_t n;
    std::error_code ec;
};

TEST_P(Parity, ASocketReadIsCancelledBeforeDuringAndAfter) {
    run(
        [](Io io) {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            corio::UnixStream& a = p.first;
            auto read = [io, &a] {
                std::string buf(8, '\0');
                buf.resize(a.read(io, writable(buf)).await());
                return buf;
            };
            auto quiet_read = [io, &a] {
                std::string buf(8, '\0');
                Quiet q{};
                q.n = a.read(io, writable(buf), q.ec).await();
                return q;
            };
            auto before = start_cancelled(io, read);
            EXPECT_EQ(plain_outcome(before), "Canceled");
            auto quiet_before = start_cancelled(io, quiet_read);
            const Quiet qb = quiet_before.await();
            EXPECT_EQ(qb.n, 0U);
            EXPECT_EQ(qb.ec, std::errc::operation_canceled);
            auto during = io.concurrent(read);
            EXPECT_TRUE(parked_on(io, during, WaitKind::io));
            EXPECT_EQ(plain_outcome(corio::cancel(during)), "Canceled");
            auto quiet_during = io.concurrent(quiet_read);
            EXPECT_TRUE(parked_on(io, quiet_during, WaitKind::io));
            const Quiet qd = corio::cancel(quiet_during).await();
            EXPECT_EQ(qd.n, 0U);
            EXPECT_EQ(qd.ec, std::errc::operation_canceled);
            (void)p.second.write_all(io, "kept").await();
            auto after = io.concurrent(read);
            EXPECT_TRUE(eventually(io, [&after] { return after.ready(); }));
            std::string got = corio::cancel(after).await();
            EXPECT_FALSE(got.empty()) << "a read that completed keeps its bytes";
            got += read_n(io, a, 4 - got.size());
            EXPECT_EQ(got, "kept") << "no cancelled read took any";
        },
        [](Io io) -> Task<void> {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            corio::UnixStream& a = p.first;
            auto read = [](Io io, const corio::UnixStream* a) -> Task<std::string> {
                std::string buf(8, '\0');
                buf.resize(co_await a->read(io, writable(buf)));
                co_return buf;
            };
            auto quiet_read = [](Io io, const corio::UnixStream* a) -> Task<Quiet> {
                std::string buf(8, '\0');
                Quiet q{};
                q.n = co_await a->read(io, writable(buf), q.ec);
                co_return q;
            };
            auto before = start_cancelled(io, read, io, &a);
            EXPECT_EQ(co_await co_outcome(before), "Canceled");
            auto quiet_before = start_cancelled(io, quiet_read, io, &a);
            const Quiet qb = co_await quiet_before;
            EXPECT_EQ(qb.n, 0U);
            EXPECT_EQ(qb.ec, std::errc::operation_canceled);
            auto during = io.concurrent(read, io, &a);
            EXPECT_TRUE(co_await co_parked_on(io, during, WaitKind::io));
            EXPECT_EQ(co_await co_outcome(corio::cancel(during)), "Canceled");
            auto quiet_during = io.concurrent(quiet_read, io, &a);
            EXPECT_TRUE(co_await co_parked_on(io, quiet_during, WaitKind::io));
            const Quiet qd = co_await corio::cancel(quiet_during);
            EXPECT_EQ(qd.n, 0U);
            EXPECT_EQ(qd.ec, std::errc::operation_canceled);
            (void)co_await p.second.write_all(io, "kept");
            auto after = io.concurrent(read, io, &a);
            EXPECT_TRUE(co_await co_eventually(io, [&after] { return after.ready(); }));
            std::string got = co_await corio::cancel(after);
            EXPECT_FALSE(got.empty()) << "a read that completed keeps its bytes";
            got += co_await co_read_n(io, a, 4 - got.size());
            EXPECT_EQ(got, "kept") << "no cancelled read took any";
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

TEST_P(Parity, ATcpConnectionIsAcceptedAndAClosedPortRefused) {
    run(
        [](Io io) {
            corio::TcpListener listener = corio::TcpListener::bind(
                io, corio::Address::loopback(corio::Address::Family::ipv4, 0));
            const corio::Address at = listener.local_address();
            auto server = io.concurrent([io, &listener] {
                corio::TcpStream conn = listener.accept(io).await();
                std::string got = read_n(io, conn, 4);
                (void)conn.write_all(io, "pong").await();
                conn.shutdown(io).await();
                conn.close(io).await();
                return got;
            });
            EXPECT_TRUE(parked_on(io, server, WaitKind::io)) << "the accept waits";
            corio::TcpStream client = corio::TcpStream::connect(io, at).await();
            EXPECT_EQ(client.peer_address(), at);
            EXPECT_EQ(client.write_all(io, "ping").await(), 4U);
            EXPECT_EQ(read_n(io, client, 8), "pong") << "then the end of the stream";
            EXPECT_EQ(server.await(), "ping");
            client.close(io).await();
            EXPECT_FALSE(client.is_open());

            listener.close(io).await();
            EXPECT_EQ(plain_outcome(corio::TcpStream::connect(io, at)),
                      failed(std::errc::connection_refused));
            std::error_code ec;
            corio::TcpStream none = corio::TcpStream::connect(io, at, ec).await();
            EXPECT_EQ(ec, std::errc::connection_refused);
            EXPECT_FALSE(none.is_open());
            corio::TcpStream not_accepted = listener.accept(io, ec).await();
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_FALSE(not_accepted.is_open());
        },
        [](Io io) -> Task<void> {
            corio::TcpListener listener = corio::TcpListener::bind(
                io, corio::Address::loopback(corio::Address::Family::ipv4, 0));
            const corio::Address at = listener.local_address();
            auto server = io.concurrent(
                [](Io io, const corio::TcpListener* l) -> Task<std::string> {
                    corio::TcpStream conn = co_await l->accept(io);
                    std::string got = co_await co_read_n(io, conn, 4);
                    (void)co_await conn.write_all(io, "pong");
                    co_await conn.shutdown(io);
                    co_await conn.close(io);
                    co_return got;
                },
                io, &listener);
            EXPECT_TRUE(co_await co_parked_on(io, server, WaitKind::io)) << "the accept waits";
            corio::TcpStream client = co_await corio::TcpStream::connect(io, at);
            EXPECT_EQ(client.peer_address(), at);
            EXPECT_EQ(co_await client.write_all(io, "ping"), 4U);
            EXPECT_EQ(co_await co_read_n(io, client, 8), "pong") << "then the end of the stream";
            EXPECT_EQ(co_await server, "ping");
            co_await client.close(io);
            EXPECT_FALSE(client.is_open());

            co_await listener.close(io);
            EXPECT_EQ(co_await co_outcome(corio::TcpStream::connect(io, at)),
                      failed(std::errc::connection_refused));
            std::error_code ec;
            corio::TcpStream none = co_await corio::TcpStream::connect(io, at, ec);
            EXPECT_EQ(ec, std::errc::connection_refused);
            EXPECT_FALSE(none.is_open());
            corio::TcpStream not_accepted = co_await listener.accept(io, ec);
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
            EXPECT_FALSE(not_accepted.is_open());
        },
        4);
}

TEST_P(Parity, AUnixListenerServesAnAbstractName) {
    run(
        [](Io io) {
            const std::string name = abstract_name();
            corio::UnixListener listener = corio::UnixListener::bind(io, name);
            auto server = io.concurrent([io, &listener] {
                corio::UnixStream conn = listener.accept(io).await();
                return read_n(io, conn, 64);
            });
            EXPECT_TRUE(parked_on(io, server, WaitKind::io));
            corio::UnixStream client = corio::UnixStream::connect(io, name).await();
            (void)client.write_all(io, "abstract").await();
            client.shutdown(io).await();
            EXPECT_EQ(server.await(), "abstract");
            listener.close(io).await();
            std::error_code ec;
            corio::UnixStream none = corio::UnixStream::connect(io, name, ec).await();
            EXPECT_EQ(ec, std::errc::connection_refused) << "the name is free once closed";
            EXPECT_FALSE(none.is_open());
            EXPECT_EQ(plain_outcome(corio::UnixStream::connect(io, name)),
                      failed(std::errc::connection_refused));
        },
        [](Io io) -> Task<void> {
            const std::string name = abstract_name();
            corio::UnixListener listener = corio::UnixListener::bind(io, name);
            auto server = io.concurrent(
                [](Io io, const corio::UnixListener* l) -> Task<std::string> {
                    corio::UnixStream conn = co_await l->accept(io);
                    co_return co_await co_read_n(io, conn, 64);
                },
                io, &listener);
            EXPECT_TRUE(co_await co_parked_on(io, server, WaitKind::io));
            corio::UnixStream client = co_await corio::UnixStream::connect(io, name);
            (void)co_await client.write_all(io, "abstract");
            co_await client.shutdown(io);
            EXPECT_EQ(co_await server, "abstract");
            co_await listener.close(io);
            std::error_code ec;
            corio::UnixStream none = co_await corio::UnixStream::connect(io, name, ec);
            EXPECT_EQ(ec, std::errc::connection_refused) << "the name is free once closed";
            EXPECT_FALSE(none.is_open());
            EXPECT_EQ(co_await co_outcome(corio::UnixStream::connect(io, name)),
                      failed(std::errc::connection_refused));
        },
        4);
}

/// What a receiver got: the datagram's bytes and its sender.
struct Received {
    std::string text;
    corio::Address from;
};

TEST_P(Parity, AUdpDatagramIsSentToAWaitingReceiver) {
    run(
        [](Io io) {
            const corio::Address any = corio::Address::loopback(corio::Address::Family::ipv4, 0);
            corio::UdpSocket a = corio::UdpSocket::bind(io, any);
            corio::UdpSocket b = corio::UdpSocket::bind(io, any);
            auto receiver = io.concurrent([io, &b] {
                std::string buf(64, '\0');
                const corio::Datagram d = b.recv_from(io, writable(buf)).await();
                return Received{buf.substr(0, d.size), d.from};
            });
            EXPECT_TRUE(parked_on(io, receiver, WaitKind::io));
            EXPECT_EQ(a.send_to(io, bytes_of("datagram"), b.local_address()).await(), 8U);
            const Received r = receiver.await();
            EXPECT_EQ(r.text, "datagram");
            EXPECT_EQ(r.from, a.local_address());
            std::error_code ec;
            EXPECT_EQ(a.send_to(io, bytes_of("two"), b.local_address(), ec).await(), 3U);
            EXPECT_FALSE(ec);
            std::string buf(64, '\0');
            EXPECT_EQ(b.recv_from(io, writable(buf), ec).await().size, 3U);
            EXPECT_FALSE(ec);
            EXPECT_EQ(plain_outcome(b.recv_from(io, std::span<std::byte>())),
                      usage_error(std::errc::invalid_argument));
            EXPECT_EQ(b.recv_from(io, std::span<std::byte>(), ec).await().size, 0U);
            EXPECT_EQ(ec, std::errc::invalid_argument);
        },
        [](Io io) -> Task<void> {
            const corio::Address any = corio::Address::loopback(corio::Address::Family::ipv4, 0);
            corio::UdpSocket a = corio::UdpSocket::bind(io, any);
            corio::UdpSocket b = corio::UdpSocket::bind(io, any);
            auto receiver = io.concurrent(
                [](Io io, const corio::UdpSocket* b) -> Task<Received> {
                    std::string buf(64, '\0');
                    const corio::Datagram d = co_await b->recv_from(io, writable(buf));
                    co_return Received{buf.substr(0, d.size), d.from};
                },
                io, &b);
            EXPECT_TRUE(co_await co_parked_on(io, receiver, WaitKind::io));
            EXPECT_EQ(co_await a.send_to(io, bytes_of("datagram"), b.local_address()), 8U);
            const Received r = co_await receiver;
            EXPECT_EQ(r.text, "datagram");
            EXPECT_EQ(r.from, a.local_address());
            std::error_code ec;
            EXPECT_EQ(co_await a.send_to(io, bytes_of("two"), b.local_address(), ec), 3U);
            EXPECT_FALSE(ec);
            std::string buf(64, '\0');
            EXPECT_EQ((co_await b.recv_from(io, writable(buf), ec)).size, 3U);
            EXPECT_FALSE(ec);
            EXPECT_EQ(co_await co_outcome(b.recv_from(io, std::span<std::byte>())),
                      usage_error(std::errc::invalid_argument));
            EXPECT_EQ((co_await b.recv_from(io, std::span<std::byte>(), ec)).size, 0U);
            EXPECT_EQ(ec, std::errc::invalid_argument);
        });
}

TEST_P(Parity, RecvLendWaitsForTheBytesItLends) {
    run(
        [](Io io) {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            corio::UnixStream& b = p.second;
            auto receiver = io.concurrent([io, &b] {
                std::string got;
                while (got.size() < 4) {
                    corio::LentBuffer chunk = b.recv_lend(io).await();
                    if (chunk.empty()) break;
                    got += chunk.text();
                }
                return got;
            });
            EXPECT_TRUE(parked_on(io, receiver, WaitKind::io));
            (void)p.first.write_all(io, "lent").await();
            EXPECT_EQ(receiver.await(), "lent");
            p.first.shutdown(io).await();
            EXPECT_TRUE(b.recv_lend(io).await().empty()) << "the end of the stream";
            std::error_code ec;
            EXPECT_TRUE(b.recv_lend(io, ec).await().empty());
            EXPECT_FALSE(ec);
            b.close(io).await();
            EXPECT_EQ(plain_outcome(b.recv_lend(io)), usage_error(std::errc::bad_file_descriptor));
            EXPECT_TRUE(b.recv_lend(io, ec).await().empty());
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        },
        [](Io io) -> Task<void> {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            corio::UnixStream& b = p.second;
            auto receiver = io.concurrent(
                [](Io io, const corio::UnixStream* b) -> Task<std::string> {
                    std::string got;
                    while (got.size() < 4) {
                        corio::LentBuffer chunk = co_await b->recv_lend(io);
                        if (chunk.empty()) break;
                        got += chunk.text();
                    }
                    co_return got;
                },
                io, &b);
            EXPECT_TRUE(co_await co_parked_on(io, receiver, WaitKind::io));
            (void)co_await p.first.write_all(io, "lent");
            EXPECT_EQ(co_await receiver, "lent");
            co_await p.first.shutdown(io);
            EXPECT_TRUE((co_await b.recv_lend(io)).empty()) << "the end of the stream";
            std::error_code ec;
            EXPECT_TRUE((co_await b.recv_lend(io, ec)).empty());
            EXPECT_FALSE(ec);
            co_await b.close(io);
            EXPECT_EQ(co_await co_outcome(b.recv_lend(io)),
                      usage_error(std::errc::bad_file_descriptor));
            EXPECT_TRUE((co_await b.recv_lend(io, ec)).empty());
            EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        });
}

// ---- signals ---------------------------------------------------------------------------------

TEST_P(Parity, ASignalWaitEndsWhenTheSignalIsSent) {
    run(
        [](Io io) {
            drain_sigusr1();
            auto waiter = io.concurrent([io] { return io.wait_signal(SIGUSR1).await(); });
            EXPECT_TRUE(parked_on(io, waiter, WaitKind::io));
            EXPECT_EQ(::kill(::getpid(), SIGUSR1), 0);
            EXPECT_EQ(waiter.await(), SIGUSR1);
            EXPECT_EQ(::kill(::getpid(), SIGUSR1), 0);
            EXPECT_EQ(io.wait_signal(SIGUSR1).await(), SIGUSR1) << "pending before the wait";
            auto cut = io.concurrent([io] { return io.wait_signal(SIGUSR1).await(); });
            EXPECT_TRUE(parked_on(io, cut, WaitKind::io));
            EXPECT_EQ(plain_outcome(corio::cancel(cut)), "Canceled");
            EXPECT_EQ(plain_outcome(io.wait_signal(SIGUSR2)),
                      usage_error(std::errc::invalid_argument))
                << "SIGUSR2 is not blocked";
        },
        [](Io io) -> Task<void> {
            drain_sigusr1();
            auto wait = [](Io io) -> Task<int> { co_return co_await io.wait_signal(SIGUSR1); };
            auto waiter = io.concurrent(wait, io);
            EXPECT_TRUE(co_await co_parked_on(io, waiter, WaitKind::io));
            EXPECT_EQ(::kill(::getpid(), SIGUSR1), 0);
            EXPECT_EQ(co_await waiter, SIGUSR1);
            EXPECT_EQ(::kill(::getpid(), SIGUSR1), 0);
            EXPECT_EQ(co_await io.wait_signal(SIGUSR1), SIGUSR1) << "pending before the wait";
            auto cut = io.concurrent(wait, io);
            EXPECT_TRUE(co_await co_parked_on(io, cut, WaitKind::io));
            EXPECT_EQ(co_await co_outcome(corio::cancel(cut)), "Canceled");
            EXPECT_EQ(co_await co_outcome(io.wait_signal(SIGUSR2)),
                      usage_error(std::errc::invalid_argument))
                << "SIGUSR2 is not blocked";
        });
}

// ---- Reader and Writer -------------------------------------------------------------------------

TEST_P(Parity, AStreamReaderAndWriterOverASocket) {
    run(
        [](Io io) {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::array<std::byte, 64> wbuf{}, rbuf{};
            corio::StreamWriter out(p.first, wbuf);
            corio::StreamReader in(p.second, rbuf);
            auto line = io.concurrent([io, &in] {
                const auto l = in.take_until(io, '\n').await();
                return l ? str(*l) : std::string("<the end>");
            });
            EXPECT_TRUE(parked_on(io, line, WaitKind::io));
            EXPECT_EQ(out.print(io, "{} {}\n", "line", 1).await(), 7U);
            EXPECT_EQ(out.write_all(io, "xabcdefgh").await(), 9U);
            EXPECT_TRUE(out.buffered().size() == 16U) << "buffered until the flush";
            (void)out.flush(io).await();
            EXPECT_TRUE(out.buffered().empty());
            EXPECT_EQ(line.await(), "line 1");
            EXPECT_EQ(in.take_byte(io).await(), std::byte{'x'});
            EXPECT_EQ(str(in.take(io, 2).await()), "ab");
            std::string four(4, '\0');
            EXPECT_EQ(in.read_exact(io, writable(four)).await(), 4U);
            EXPECT_EQ(four, "cdef");
            EXPECT_EQ(str(in.peek(io, 1).await()), "g");
            EXPECT_EQ(in.discard(io, 1).await(), 1U);
            p.first.shutdown(io).await();

            // One byte ('h') is left before the end of the stream.
            std::error_code ec;
            EXPECT_TRUE(in.take(io, 2, ec).await().empty());
            EXPECT_EQ(ec, std::errc::no_message_available);
            EXPECT_EQ(plain_outcome(in.take(io, 2)), io_error(std::errc::no_message_available, 1));
            EXPECT_EQ(in.take_byte(io, ec).await(), std::byte{'h'}) << "nothing was taken";
            EXPECT_FALSE(ec);
            EXPECT_EQ(in.take_byte(io, ec).await(), std::byte{});
            EXPECT_EQ(ec, std::errc::no_message_available);
            EXPECT_FALSE(in.take_until(io, '\n', ec).await().has_value());
            EXPECT_FALSE(ec) << "the end of the stream is not an error for take_until";
            std::string two(2, '\0');
            EXPECT_EQ(in.read_exact(io, writable(two), ec).await(), 0U);
            EXPECT_EQ(ec, std::errc::no_message_available);
            EXPECT_EQ(plain_outcome(in.read_exact(io, writable(two))),
                      io_error(std::errc::no_message_available, 0));

            // More than the writer's buffer goes straight to the sink, which is gone.
            p.second.close(io).await();
            const std::string big(100, 'w');
            EXPECT_EQ(plain_outcome(out.write_all(io, big)), failed(std::errc::broken_pipe));
            EXPECT_EQ(out.write_all(io, big, ec).await(), 0U);
            EXPECT_EQ(ec, std::errc::broken_pipe);
            EXPECT_EQ(out.write_all(io, "y", ec).await(), 1U) << "buffered";
            EXPECT_FALSE(ec);
            (void)out.flush(io, ec).await();
            EXPECT_EQ(ec, std::errc::broken_pipe);
        },
        [](Io io) -> Task<void> {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::array<std::byte, 64> wbuf{}, rbuf{};
            corio::StreamWriter out(p.first, wbuf);
            corio::StreamReader in(p.second, rbuf);
            auto line = io.concurrent(
                [](Io io, corio::StreamReader* in) -> Task<std::string> {
                    const auto l = co_await in->take_until(io, '\n');
                    co_return l ? str(*l) : std::string("<the end>");
                },
                io, &in);
            EXPECT_TRUE(co_await co_parked_on(io, line, WaitKind::io));
            EXPECT_EQ(co_await out.print(io, "{} {}\n", "line", 1), 7U);
            EXPECT_EQ(co_await out.write_all(io, "xabcdefgh"), 9U);
            EXPECT_TRUE(out.buffered().size() == 16U) << "buffered until the flush";
            (void)co_await out.flush(io);
            EXPECT_TRUE(out.buffered().empty());
            EXPECT_EQ(co_await line, "line 1");
            EXPECT_EQ(co_await in.take_byte(io), std::byte{'x'});
            EXPECT_EQ(str(co_await in.take(io, 2)), "ab");
            std::string four(4, '\0');
            EXPECT_EQ(co_await in.read_exact(io, writable(four)), 4U);
            EXPECT_EQ(four, "cdef");
            EXPECT_EQ(str(co_await in.peek(io, 1)), "g");
            EXPECT_EQ(co_await in.discard(io, 1), 1U);
            co_await p.first.shutdown(io);

            // One byte ('h') is left before the end of the stream.
            std::error_code ec;
            EXPECT_TRUE((co_await in.take(io, 2, ec)).empty());
            EXPECT_EQ(ec, std::errc::no_message_available);
            EXPECT_EQ(co_await co_outcome(in.take(io, 2)),
                      io_error(std::errc::no_message_available, 1));
            EXPECT_EQ(co_await in.take_byte(io, ec), std::byte{'h'}) << "nothing was taken";
            EXPECT_FALSE(ec);
            EXPECT_EQ(co_await in.take_byte(io, ec), std::byte{});
            EXPECT_EQ(ec, std::errc::no_message_available);
            EXPECT_FALSE((co_await in.take_until(io, '\n', ec)).has_value());
            EXPECT_FALSE(ec) << "the end of the stream is not an error for take_until";
            std::string two(2, '\0');
            EXPECT_EQ(co_await in.read_exact(io, writable(two), ec), 0U);
            EXPECT_EQ(ec, std::errc::no_message_available);
            EXPECT_EQ(co_await co_outcome(in.read_exact(io, writable(two))),
                      io_error(std::errc::no_message_available, 0));

            // More than the writer's buffer goes straight to the sink, which is gone.
            co_await p.second.close(io);
            const std::string big(100, 'w');
            EXPECT_EQ(co_await co_outcome(out.write_all(io, big)), failed(std::errc::broken_pipe));
            EXPECT_EQ(co_await out.write_all(io, big, ec), 0U);
            EXPECT_EQ(ec, std::errc::broken_pipe);
            EXPECT_EQ(co_await out.write_all(io, "y", ec), 1U) << "buffered";
            EXPECT_FALSE(ec);
            (void)co_await out.flush(io, ec);
            EXPECT_EQ(ec, std::errc::broken_pipe);
        });
}

/// What a take_until with an error_code gave: the line, if any, and the code.
struct QuietLine {
    std::optional<std::string> line;
    std::error_code ec;
};

TEST_P(Parity, AReaderOperationIsCancelledBeforeDuringAndAfter) {
    run(
        [](Io io) {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::array<std::byte, 64> rbuf{};
            corio::StreamReader in(p.second, rbuf);
            auto take_line = [io, &in] {
                const auto l = in.take_until(io, '\n').await();
                return l ? str(*l) : std::string("<the end>");
            };
            auto quiet_line = [io, &in] {
                QuietLine q;
                const auto l = in.take_until(io, '\n', q.ec).await();
                if (l) q.line = str(*l);
                return q;
            };
            auto before = start_cancelled(io, quiet_line);
            const QuietLine qb = before.await();
            EXPECT_FALSE(qb.line.has_value());
            EXPECT_EQ(qb.ec, std::errc::operation_canceled);
            auto during = io.concurrent(take_line);
            EXPECT_TRUE(parked_on(io, during, WaitKind::io));
            EXPECT_EQ(plain_outcome(corio::cancel(during)), "Canceled");
            auto quiet_during = io.concurrent(quiet_line);
            EXPECT_TRUE(parked_on(io, quiet_during, WaitKind::io));
            const QuietLine qd = corio::cancel(quiet_during).await();
            EXPECT_FALSE(qd.line.has_value());
            EXPECT_EQ(qd.ec, std::errc::operation_canceled);
            (void)p.first.write_all(io, "first\nsecond\n").await();
            auto after = io.concurrent(take_line);
            EXPECT_TRUE(eventually(io, [&after] { return after.ready(); }));
            EXPECT_EQ(corio::cancel(after).await(), "first");
            EXPECT_EQ(take_line(), "second") << "nothing was lost to the cancelled reads";
        },
        [](Io io) -> Task<void> {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::array<std::byte, 64> rbuf{};
            corio::StreamReader in(p.second, rbuf);
            auto take_line = [](Io io, corio::StreamReader* in) -> Task<std::string> {
                const auto l = co_await in->take_until(io, '\n');
                co_return l ? str(*l) : std::string("<the end>");
            };
            auto quiet_line = [](Io io, corio::StreamReader* in) -> Task<QuietLine> {
                QuietLine q;
                const auto l = co_await in->take_until(io, '\n', q.ec);
                if (l) q.line = str(*l);
                co_return q;
            };
            auto before = start_cancelled(io, quiet_line, io, &in);
            const QuietLine qb = co_await before;
            EXPECT_FALSE(qb.line.has_value());
            EXPECT_EQ(qb.ec, std::errc::operation_canceled);
            auto during = io.concurrent(take_line, io, &in);
            EXPECT_TRUE(co_await co_parked_on(io, during, WaitKind::io));
            EXPECT_EQ(co_await co_outcome(corio::cancel(during)), "Canceled");
            auto quiet_during = io.concurrent(quiet_line, io, &in);
            EXPECT_TRUE(co_await co_parked_on(io, quiet_during, WaitKind::io));
            const QuietLine qd = co_await corio::cancel(quiet_during);
            EXPECT_FALSE(qd.line.has_value());
            EXPECT_EQ(qd.ec, std::errc::operation_canceled);
            (void)co_await p.first.write_all(io, "first\nsecond\n");
            auto after = io.concurrent(take_line, io, &in);
            EXPECT_TRUE(co_await co_eventually(io, [&after] { return after.ready(); }));
            EXPECT_EQ(co_await corio::cancel(after), "first");
            EXPECT_EQ(co_await take_line(io, &in), "second")
                << "nothing was lost to the cancelled reads";
        });
}

TEST_P(Parity, AFileReaderAndWriterAndTheFixedOnesMoveBytes) {
    TempDir dir;
    const std::filesystem::path path = dir / "lines";
    run(
        [&path](Io io) {
            corio::File f = corio::File::create(io, path).await();
            std::array<std::byte, 16> wbuf{}, rbuf{};
            std::array<std::byte, 64> sink{};
            std::array<std::byte, 4> tiny{};
            corio::FileWriter w(f, wbuf);
            EXPECT_EQ(w.print(io, "{}-{}\n", 1, 2).await(), 4U);
            EXPECT_EQ(w.write_all(io, "a longer line than the buffer\nend").await(), 33U);
            (void)w.flush(io).await();
            f.close(io).await();

            corio::File g = corio::File::open(io, path).await();
            corio::FileReader r(g, rbuf);
            EXPECT_EQ(str(*r.take_until(io, '\n').await()), "1-2");
            std::string some(8, '\0');
            EXPECT_EQ(r.read(io, writable(some)).await(), 8U);
            EXPECT_EQ(some, "a longer");
            EXPECT_EQ(plain_outcome(r.take_until(io, '\n')), failed(std::errc::message_size));
            corio::FixedWriter rest(sink);
            EXPECT_EQ(r.stream_to(io, rest).await(), 25U) << "the refused line was left";
            EXPECT_EQ(rest.view(), " line than the buffer\nend");

            corio::FixedReader fixed("fixed bytes");
            EXPECT_EQ(str(fixed.take(io, 5).await()), "fixed");
            EXPECT_EQ(fixed.discard(io, 1).await(), 1U);
            EXPECT_EQ(str(*fixed.take_until(io, '\n').await()), "bytes");
            corio::FixedWriter small(tiny);
            EXPECT_EQ(plain_outcome(small.write_all(io, "toolong")),
                      io_error(std::errc::no_buffer_space, 4));
            EXPECT_EQ(small.view(), "tool");
            std::error_code ec;
            EXPECT_EQ(small.write_all(io, "x", ec).await(), 0U);
            EXPECT_EQ(ec, std::errc::no_buffer_space);
        },
        [&path](Io io) -> Task<void> {
            corio::File f = co_await corio::File::create(io, path);
            std::array<std::byte, 16> wbuf{}, rbuf{};
            std::array<std::byte, 64> sink{};
            std::array<std::byte, 4> tiny{};
            corio::FileWriter w(f, wbuf);
            EXPECT_EQ(co_await w.print(io, "{}-{}\n", 1, 2), 4U);
            EXPECT_EQ(co_await w.write_all(io, "a longer line than the buffer\nend"), 33U);
            (void)co_await w.flush(io);
            co_await f.close(io);

            corio::File g = co_await corio::File::open(io, path);
            corio::FileReader r(g, rbuf);
            EXPECT_EQ(str(*co_await r.take_until(io, '\n')), "1-2");
            std::string some(8, '\0');
            EXPECT_EQ(co_await r.read(io, writable(some)), 8U);
            EXPECT_EQ(some, "a longer");
            EXPECT_EQ(co_await co_outcome(r.take_until(io, '\n')),
                      failed(std::errc::message_size));
            corio::FixedWriter rest(sink);
            EXPECT_EQ(co_await r.stream_to(io, rest), 25U) << "the refused line was left";
            EXPECT_EQ(rest.view(), " line than the buffer\nend");

            corio::FixedReader fixed("fixed bytes");
            EXPECT_EQ(str(co_await fixed.take(io, 5)), "fixed");
            EXPECT_EQ(co_await fixed.discard(io, 1), 1U);
            EXPECT_EQ(str(*co_await fixed.take_until(io, '\n')), "bytes");
            corio::FixedWriter small(tiny);
            EXPECT_EQ(co_await co_outcome(small.write_all(io, "toolong")),
                      io_error(std::errc::no_buffer_space, 4));
            EXPECT_EQ(small.view(), "tool");
            std::error_code ec;
            EXPECT_EQ(co_await small.write_all(io, "x", ec), 0U);
            EXPECT_EQ(ec, std::errc::no_buffer_space);
        },
        4);
}

TEST_P(Parity, VectoredSocketIoAndAPipeRead) {
    run(
        [](Io io) {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::string x = "vec", y = "tored";
            std::array<iovec, 2> out{iovec{x.data(), x.size()}, iovec{y.data(), y.size()}};
            const std::size_t sent = p.first.writev(io, out).await();
            EXPECT_TRUE(sent >= 1 && sent <= 8) << sent;
            (void)p.first.write_all(io, std::string_view("vectored").substr(sent)).await();
            std::string u(4, '\0'), v(4, '\0');
            std::array<iovec, 2> in{iovec{u.data(), u.size()}, iovec{v.data(), v.size()}};
            const std::size_t got = p.second.readv(io, in).await();
            EXPECT_TRUE(got >= 1 && got <= 8) << got;
            EXPECT_EQ((u + v).substr(0, got) + read_n(io, p.second, 8 - got), "vectored");

            auto [r, w] = corio::File::pipe();
            auto reader = io.concurrent([io, &r] {
                std::string buf(8, '\0');
                buf.resize(r.read(io, writable(buf)).await());
                return buf;
            });
            EXPECT_TRUE(parked_on(io, reader, WaitKind::io));
            EXPECT_EQ(w.write_all(io, "pipe").await(), 4U);
            EXPECT_EQ(reader.await(), "pipe");
            auto cut = io.concurrent([io, &r] {
                std::string buf(8, '\0');
                return r.read(io, writable(buf)).await();
            });
            EXPECT_TRUE(parked_on(io, cut, WaitKind::io));
            EXPECT_EQ(plain_outcome(corio::cancel(cut)), "Canceled");
            std::string buf(8, '\0');
            std::error_code ec;
            EXPECT_EQ(corio::with_timeout(io, 1ms, r.read(io, writable(buf), ec)).await(), 0U);
            EXPECT_EQ(ec, std::errc::timed_out);
            w.close(io).await();
            EXPECT_EQ(r.read(io, writable(buf)).await(), 0U) << "the write end is closed";
        },
        [](Io io) -> Task<void> {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::string x = "vec", y = "tored";
            std::array<iovec, 2> out{iovec{x.data(), x.size()}, iovec{y.data(), y.size()}};
            const std::size_t sent = co_await p.first.writev(io, out);
            EXPECT_TRUE(sent >= 1 && sent <= 8) << sent;
            (void)co_await p.first.write_all(io, std::string_view("vectored").substr(sent));
            std::string u(4, '\0'), v(4, '\0');
            std::array<iovec, 2> in{iovec{u.data(), u.size()}, iovec{v.data(), v.size()}};
            const std::size_t got = co_await p.second.readv(io, in);
            EXPECT_TRUE(got >= 1 && got <= 8) << got;
            EXPECT_EQ((u + v).substr(0, got) + co_await co_read_n(io, p.second, 8 - got),
                      "vectored");

            std::pair<corio::File, corio::File> ends = corio::File::pipe();
            corio::File& r = ends.first;
            corio::File& w = ends.second;
            auto reader = io.concurrent(
                [](Io io, const corio::File* r) -> Task<std::string> {
                    std::string buf(8, '\0');
                    buf.resize(co_await r->read(io, writable(buf)));
                    co_return buf;
                },
                io, &r);
            EXPECT_TRUE(co_await co_parked_on(io, reader, WaitKind::io));
            EXPECT_EQ(co_await w.write_all(io, "pipe"), 4U);
            EXPECT_EQ(co_await reader, "pipe");
            auto cut = io.concurrent(
                [](Io io, const corio::File* r) -> Task<std::size_t> {
                    std::string buf(8, '\0');
                    co_return co_await r->read(io, writable(buf));
                },
                io, &r);
            EXPECT_TRUE(co_await co_parked_on(io, cut, WaitKind::io));
            EXPECT_EQ(co_await co_outcome(corio::cancel(cut)), "Canceled");
            std::string buf(8, '\0');
            std::error_code ec;
            EXPECT_EQ(co_await corio::with_timeout(io, 1ms, r.read(io, writable(buf), ec)), 0U);
            EXPECT_EQ(ec, std::errc::timed_out);
            co_await w.close(io);
            EXPECT_EQ(co_await r.read(io, writable(buf)), 0U) << "the write end is closed";
        });
}

TEST_P(Parity, WithTimeoutBoundsEveryKindOfWait) {
    run(
        [](Io io) {
            drain_sigusr1();
            EXPECT_EQ(plain_outcome(corio::with_timeout(io, 1ms, io.sleep(1h))), timeout());
            corio::Mutex m;
            m.lock(io).await();
            EXPECT_EQ(plain_outcome(corio::with_timeout(io, 1ms, m.lock(io))), timeout());
            EXPECT_EQ(plain_outcome(corio::with_timeout(io, 1ms, m.scoped_lock(io))), timeout());
            m.unlock();
            EXPECT_TRUE(m.try_lock()) << "no timed-out waiter owns it";
            corio::Condition never_signalled;
            EXPECT_EQ(plain_outcome(corio::with_timeout(io, 1ms, never_signalled.wait(io, m))),
                      timeout());
            EXPECT_FALSE(m.try_lock()) << "the timed-out condition wait owns the mutex again";
            m.unlock();
            corio::Semaphore none(0);
            EXPECT_EQ(plain_outcome(corio::with_timeout(io, 1ms, none.acquire(io))), timeout());
            EXPECT_EQ(none.available(), 0U);
            corio::Queue<int> full(1);
            EXPECT_TRUE(full.try_put(1));
            EXPECT_EQ(plain_outcome(corio::with_timeout(io, 1ms, full.put(io, 2))), timeout());
            EXPECT_EQ(full.size(), 1U) << "the timed-out put enqueued nothing";
            EXPECT_EQ(plain_outcome(corio::with_timeout(io, 1ms, io.wait_signal(SIGUSR1))),
                      timeout());

            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::array<std::byte, 64> rbuf{};
            corio::StreamReader in(p.second, rbuf);
            (void)p.first.write_all(io, "par").await();
            std::error_code ec;
            EXPECT_FALSE(corio::with_timeout(io, 2ms, in.take_until(io, '\n', ec)).await());
            EXPECT_EQ(ec, std::errc::timed_out);
            (void)p.first.write_all(io, "tial\n").await();
            EXPECT_EQ(str(*in.take_until(io, '\n').await()), "partial") << "the cut-off kept";

            corio::TcpListener l = corio::TcpListener::bind(
                io, corio::Address::loopback(corio::Address::Family::ipv4, 0));
            corio::TcpStream none_came = corio::with_timeout(io, 1ms, l.accept(io, ec)).await();
            EXPECT_EQ(ec, std::errc::timed_out);
            EXPECT_FALSE(none_came.is_open());
        },
        [](Io io) -> Task<void> {
            drain_sigusr1();
            EXPECT_EQ(co_await co_outcome(corio::with_timeout(io, 1ms, io.sleep(1h))), timeout());
            corio::Mutex m;
            co_await m.lock(io);
            EXPECT_EQ(co_await co_outcome(corio::with_timeout(io, 1ms, m.lock(io))), timeout());
            EXPECT_EQ(co_await co_outcome(corio::with_timeout(io, 1ms, m.scoped_lock(io))),
                      timeout());
            m.unlock();
            EXPECT_TRUE(m.try_lock()) << "no timed-out waiter owns it";
            corio::Condition never_signalled;
            EXPECT_EQ(
                co_await co_outcome(corio::with_timeout(io, 1ms, never_signalled.wait(io, m))),
                timeout());
            EXPECT_FALSE(m.try_lock()) << "the timed-out condition wait owns the mutex again";
            m.unlock();
            corio::Semaphore none(0);
            EXPECT_EQ(co_await co_outcome(corio::with_timeout(io, 1ms, none.acquire(io))),
                      timeout());
            EXPECT_EQ(none.available(), 0U);
            corio::Queue<int> full(1);
            EXPECT_TRUE(full.try_put(1));
            EXPECT_EQ(co_await co_outcome(corio::with_timeout(io, 1ms, full.put(io, 2))),
                      timeout());
            EXPECT_EQ(full.size(), 1U) << "the timed-out put enqueued nothing";
            EXPECT_EQ(co_await co_outcome(corio::with_timeout(io, 1ms, io.wait_signal(SIGUSR1))),
                      timeout());

            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::array<std::byte, 64> rbuf{};
            corio::StreamReader in(p.second, rbuf);
            (void)co_await p.first.write_all(io, "par");
            std::error_code ec;
            EXPECT_FALSE(co_await corio::with_timeout(io, 2ms, in.take_until(io, '\n', ec)));
            EXPECT_EQ(ec, std::errc::timed_out);
            (void)co_await p.first.write_all(io, "tial\n");
            EXPECT_EQ(str(*co_await in.take_until(io, '\n')), "partial") << "the cut-off kept";

            corio::TcpListener l = corio::TcpListener::bind(
                io, corio::Address::loopback(corio::Address::Family::ipv4, 0));
            corio::TcpStream none_came = co_await corio::with_timeout(io, 1ms, l.accept(io, ec));
            EXPECT_EQ(ec, std::errc::timed_out);
            EXPECT_FALSE(none_came.is_open());
        },
        4);
}

// take_byte is the one Reader operation that wraps another; its non-throwing form must still
// report a deadline as timed_out, as every other non-throwing operation under with_timeout does.
TEST_P(Parity, WithTimeoutAroundANonThrowingTakeByteStoresTimedOut) {
    run(
        [](Io io) {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::array<std::byte, 16> rbuf{};
            corio::StreamReader in(p.second, rbuf);
            EXPECT_EQ(plain_outcome(corio::with_timeout(io, 1ms, in.take_byte(io))), timeout());
            std::error_code ec;
            EXPECT_EQ(corio::with_timeout(io, 1ms, in.take_byte(io, ec)).await(), std::byte{});
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
            (void)p.first.write_all(io, "b").await();
            EXPECT_EQ(in.take_byte(io, ec).await(), std::byte{'b'});
            EXPECT_FALSE(ec);
        },
        [](Io io) -> Task<void> {
            std::pair<corio::UnixStream, corio::UnixStream> p = corio::UnixStream::pair();
            std::array<std::byte, 16> rbuf{};
            corio::StreamReader in(p.second, rbuf);
            EXPECT_EQ(co_await co_outcome(corio::with_timeout(io, 1ms, in.take_byte(io))),
                      timeout());
            std::error_code ec;
            EXPECT_EQ(co_await corio::with_timeout(io, 1ms, in.take_byte(io, ec)), std::byte{});
            EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
            (void)co_await p.first.write_all(io, "b");
            EXPECT_EQ(co_await in.take_byte(io, ec), std::byte{'b'});
            EXPECT_FALSE(ec);
        });
}

/// What a cancelled chooser saw: the index select returned and how each future ended.
struct Chosen {
    std::size_t index;
    std::string outcomes;
};

TEST_P(Parity, ASelectWhoseCallerIsCancelledCancelsEveryTaskAndStillReturns) {
    run(
        [](Io io) {
            auto chooser = io.concurrent([io] {
                auto a = io.concurrent([io] { io.sleep(1h).await(); });
                auto b = io.concurrent([io] { io.sleep(1h).await(); });
                const std::size_t i = corio::select(io, a, b).await();
                return Chosen{i, plain_outcome(a) + "/" + plain_outcome(b)};
            });
            EXPECT_TRUE(parked_on(io, chooser, WaitKind::select));
            const Chosen c = corio::cancel(chooser).await();
            EXPECT_LT(c.index, 2U);
            EXPECT_EQ(c.outcomes, "Canceled/Canceled");
        },
        [](Io io) -> Task<void> {
            auto chooser = io.concurrent(
                [](Io io) -> Task<Chosen> {
                    auto a = io.concurrent([](Io io) -> Task<void> { co_await io.sleep(1h); }, io);
                    auto b = io.concurrent([](Io io) -> Task<void> { co_await io.sleep(1h); }, io);
                    const std::size_t i = co_await corio::select(io, a, b);
                    std::string outcomes = co_await co_outcome(a);
                    outcomes += "/" + co_await co_outcome(b);
                    co_return Chosen{i, outcomes};
                },
                io);
            EXPECT_TRUE(co_await co_parked_on(io, chooser, WaitKind::select));
            const Chosen c = co_await corio::cancel(chooser);
            EXPECT_LT(c.index, 2U);
            EXPECT_EQ(c.outcomes, "Canceled/Canceled");
        });
}

TEST_P(Parity, ResolveReturnsAddressesOrIsCancelled) {
    run(
        [](Io io) {
            const std::vector<corio::Address> v4 = corio::resolve(io, "127.0.0.1", 7).await();
            ASSERT_EQ(v4.size(), 1U);
            EXPECT_EQ(v4[0], corio::Address::parse("127.0.0.1:7"));
            // A numeric address needs no lookup: it completes at once, cancelled or not; a name
            // is looked up, and a cancelled task does not wait for it.
            auto numeric =
                start_cancelled(io, [io] { return corio::resolve(io, "::1", 7).await(); });
            EXPECT_EQ(numeric.await().size(), 1U);
            auto name =
                start_cancelled(io, [io] { return corio::resolve(io, "localhost", 7).await(); });
            EXPECT_EQ(plain_outcome(name), "Canceled");
        },
        [](Io io) -> Task<void> {
            const std::vector<corio::Address> v4 = co_await corio::resolve(io, "127.0.0.1", 7);
            EXPECT_EQ(v4.size(), 1U);
            if (!v4.empty()) {
                EXPECT_EQ(v4[0], corio::Address::parse("127.0.0.1:7"));
            }
            // A numeric address needs no lookup: it completes at once, cancelled or not; a name
            // is looked up, and a cancelled task does not wait for it.
            auto lookup = [](Io io, const char* host) -> Task<std::vector<corio::Address>> {
                co_return co_await corio::resolve(io, host, 7);
            };
            auto numeric = start_cancelled(io, lookup, io, "::1");
            EXPECT_EQ((co_await numeric).size(), 1U);
            auto name = start_cancelled(io, lookup, io, "localhost");
            EXPECT_EQ(co_await co_outcome(name), "Canceled");
        });
}

// ---- io.blocking -----------------------------------------------------------------------------

TEST_P(Parity, IoBlockingReturnsItsResultOrRethrows) {
    run(
        [](Io io) {
            EXPECT_EQ(io.blocking([](int x) { return x * x; }, 6).await(), 36);
            EXPECT_EQ(
                plain_outcome(io.blocking([]() -> int { throw std::runtime_error("blocked"); })),
                "exception: blocked");
        },
        [](Io io) -> Task<void> {
            EXPECT_EQ(co_await io.blocking([](int x) { return x * x; }, 6), 36);
            EXPECT_EQ(co_await co_outcome(
                          io.blocking([]() -> int { throw std::runtime_error("blocked"); })),
                      "exception: blocked");
        });
}

}  // namespace

int main(int argc, char** argv) {
    corio::block_signals({SIGUSR1});  // first, before any thread starts
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
