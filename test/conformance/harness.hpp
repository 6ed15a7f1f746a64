// SPDX-License-Identifier: MIT
// The conformance harness: every test body is written once against Io and run on each backend
// (Simulated over many seeds, Simulated with transparent faults over fewer seeds, Threaded,
// Threaded with async_limit = 0, and IoUring with 0 (caller-driven), 1 and 2 workers, plus 2
// workers with the test body itself on a fiber). A binary built with CORIO_TEST_POLL_DRIVER runs
// its suites on the test driver over poll(2) instead (test/support/poll_backend.hpp), with the
// body on a foreign thread and on a fiber of the worker.
#pragma once

#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <system_error>
#include <utility>

#ifdef CORIO_TEST_POLL_DRIVER
#include "support/poll_backend.hpp"
#endif

namespace corio::test {

#ifndef CORIO_STRESS_DIVISOR
#define CORIO_STRESS_DIVISOR 1
#endif

/// Scales a stress count down for sanitizer builds.
constexpr std::size_t scaled(std::size_t n) {
    return n / CORIO_STRESS_DIVISOR > 0 ? n / CORIO_STRESS_DIVISOR : 1;
}

enum class BackendKind {
    simulated,
    /// Simulated with every transparent fault on (Simulated::Options::Faults::transparent,
    /// its rates varied by the seed): EINTR, EAGAIN storms, short and reordered completions,
    /// steady clock leaps, system clock jumps. A correct runtime gives the same results.
    simulated_faults,
    threaded,
    threaded_inline,
    io_uring_0,
    io_uring_1,
    io_uring_2,
    io_uring_fiber,
#ifdef CORIO_TEST_POLL_DRIVER
    /// PollBackend (one worker whose driver waits in poll(2)), the body on the test's thread.
    poll,
    /// PollBackend with the body on a fiber of its worker: the driver's own-thread paths.
    poll_fiber,
#endif
};

inline std::string to_string(BackendKind k) {
    switch (k) {
        case BackendKind::simulated: return "Simulated";
        case BackendKind::simulated_faults: return "SimulatedFaults";
        case BackendKind::threaded: return "Threaded";
        case BackendKind::threaded_inline: return "ThreadedInline";
        case BackendKind::io_uring_0: return "IoUring0";
        case BackendKind::io_uring_1: return "IoUring1";
        case BackendKind::io_uring_2: return "IoUring2";
        case BackendKind::io_uring_fiber: return "IoUringFiber";
#ifdef CORIO_TEST_POLL_DRIVER
        case BackendKind::poll: return "Poll";
        case BackendKind::poll_fiber: return "PollFiber";
#endif
    }
    return "?";
}

/// Seeds for Simulated: CORIO_SEEDS (count) and CORIO_SEED (run only that one) override.
inline std::uint64_t seed_count(std::uint64_t fallback) {
    if (const char* s = std::getenv("CORIO_SEEDS")) return std::strtoull(s, nullptr, 10);
    return fallback;
}

/// Tests that assert what a wall clock does not promise, and so run with no system clock jumps:
/// NowOnOtherClocks expects the system clock to advance across a sleep, which a backward step
/// of the wall clock (an NTP correction, here an injected jump) breaks on any backend.
inline bool reads_the_wall_clock_as_monotonic() {
    const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
    return t != nullptr && std::strstr(t->name(), "NowOnOtherClocks") != nullptr;
}

/// The options of a Simulated run of `kind` with `seed`: the seed alone decides the faults too.
inline Simulated::Options simulated_options(BackendKind kind, std::uint64_t seed) {
    Simulated::Options o{.seed = seed};
    if (kind == BackendKind::simulated_faults) {
        o.faults = Simulated::Options::Faults::transparent(seed + 1);
        if (reads_the_wall_clock_as_monotonic()) o.faults.system_clock_jump = 0;
    }
    return o;
}

/// Runs `body(io)` on backend `kind`; on Simulated once per seed (a quarter as many with
/// faults, unless CORIO_SEEDS says), stopping at the first seed that fails and printing it.
inline void run_on(BackendKind kind, const std::function<void(Io)>& body,
                   std::uint64_t seeds = 16) {
    switch (kind) {
        case BackendKind::simulated:
        case BackendKind::simulated_faults: {
            const bool faults = kind == BackendKind::simulated_faults;
            std::uint64_t first = 0, count = seed_count(faults ? (seeds + 3) / 4 : seeds);
            if (const char* s = std::getenv("CORIO_SEED")) {
                first = std::strtoull(s, nullptr, 10);
                count = 1;
            }
            for (std::uint64_t seed = first; seed < first + count; ++seed) {
                SCOPED_TRACE(to_string(kind) + " seed " + std::to_string(seed) +
                             " (replay with CORIO_SEED=" + std::to_string(seed) + ")");
                {
                    Simulated sim(simulated_options(kind, seed));
                    body(sim.io());
                }
                if (::testing::Test::HasFailure()) {
                    std::fprintf(stderr, "failing seed: %llu\n",
                                 static_cast<unsigned long long>(seed));
                    return;
                }
            }
            break;
        }
        case BackendKind::threaded: {
            Threaded pool;
            body(pool.io());
            break;
        }
        case BackendKind::threaded_inline: {
            Threaded pool({.async_limit = 0});
            body(pool.io());
            break;
        }
        case BackendKind::io_uring_0:
        case BackendKind::io_uring_1:
        case BackendKind::io_uring_2:
        case BackendKind::io_uring_fiber: {
#ifdef CORIO_HAS_IO_URING
            const unsigned threads = kind == BackendKind::io_uring_0   ? 0
                                     : kind == BackendKind::io_uring_1 ? 1
                                                                       : 2;
            std::unique_ptr<IoUring> ring;
            try {
                ring = std::make_unique<IoUring>(IoUring::Options{.threads = threads});
            } catch (const std::system_error& e) {
                GTEST_SKIP() << "io_uring unavailable here: " << e.what();
            }
            Io io = ring->io();
            if (kind == BackendKind::io_uring_fiber) {
                // The body's own waits then park a fiber instead of the test's thread.
                io.concurrent([&body, io] { body(io); }).await();
            } else {
                body(io);
            }
#else
            GTEST_SKIP() << "built without liburing";
#endif
            break;
        }
#ifdef CORIO_TEST_POLL_DRIVER
        case BackendKind::poll:
        case BackendKind::poll_fiber: {
            PollBackend backend;
            Io io = backend.io();
            if (kind == BackendKind::poll_fiber)
                io.concurrent([&body, io] { body(io); }).await();
            else
                body(io);
            break;
        }
#endif
    }
}

/// Lets the other tasks reach their next wait. On Simulated every runnable task runs before
/// virtual time moves, so this is exact; on Threaded 10 ms is usually enough. No test relies on
/// it for its outcome (ordering tests use parked_on): a waiter that queues late leads to the
/// same result by another path (the fast path, or a wait that throws at once).
inline void settle(Io io) { io.sleep(std::chrono::milliseconds(10)).await(); }

/// Polls `done` every millisecond (virtual on Simulated) for at most `limit`: false when it never
/// became true, so a broken runtime fails the test instead of hanging it.
template <class P>
bool eventually(Io io, P done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    const auto deadline = io.now() + limit;
    while (!done()) {
        if (io.now() >= deadline) return false;
        io.sleep(std::chrono::milliseconds(1)).await();
    }
    return true;
}

/// Starts `f(args...)` as a task whose cancellation was requested before it began.
template <class F, class... A>
auto start_cancelled(Io io, F&& f, A&&... args) {
    std::stop_source source;
    source.request_stop();
    return io.async_with(source.get_token(), std::forward<F>(f), std::forward<A>(args)...);
}

/// True once the task of `f` is parked on a wait of `kind` (registered with its source: a
/// waiter seen parked on a mutex is in the mutex's queue). Polls, for at most `limit`.
template <class R>
bool parked_on(Io io, const Future<R>& f, detail::WaitKind kind,
               std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = io.now() + limit;
    while (f.task() == nullptr || f.task()->wait_kind.load() != kind) {
        if (io.now() >= deadline) return false;
        io.sleep(std::chrono::milliseconds(1)).await();
    }
    return true;
}

class Conformance : public ::testing::TestWithParam<BackendKind> {
  protected:
    void run(const std::function<void(Io)>& body, std::uint64_t seeds = 16) {
        run_on(GetParam(), body, seeds);
    }
    /// Simulated, with or without faults: one task at a time, and virtual time (whose leaps
    /// never pass a deadline, so a timer still fires exactly at its deadline).
    [[nodiscard]] bool simulated() const {
        return GetParam() == BackendKind::simulated ||
               GetParam() == BackendKind::simulated_faults;
    }
};

inline std::string param_name(const ::testing::TestParamInfo<BackendKind>& info) {
    return to_string(info.param);
}

}  // namespace corio::test

// The backends every suite runs on: the test driver's two kinds alone in its own binary.
#ifdef CORIO_TEST_POLL_DRIVER
#define CORIO_CONFORMANCE_BACKENDS                                                         \
    ::corio::test::BackendKind::poll, ::corio::test::BackendKind::poll_fiber
#else
#define CORIO_CONFORMANCE_BACKENDS                                                         \
    ::corio::test::BackendKind::simulated, ::corio::test::BackendKind::simulated_faults,   \
        ::corio::test::BackendKind::threaded, ::corio::test::BackendKind::threaded_inline, \
        ::corio::test::BackendKind::io_uring_0, ::corio::test::BackendKind::io_uring_1,    \
        ::corio::test::BackendKind::io_uring_2, ::corio::test::BackendKind::io_uring_fiber
#endif

#define CORIO_CONFORMANCE_SUITE(Suite)                                                     \
    class Suite : public ::corio::test::Conformance {};                                   \
    INSTANTIATE_TEST_SUITE_P(, Suite, ::testing::Values(CORIO_CONFORMANCE_BACKENDS),      \
                             ::corio::test::param_name)
