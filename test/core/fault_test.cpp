// SPDX-License-Identifier: MIT
// Fault injection on the real backends: a thread, a ring, a spawn, a submit or a completion
// that fails on demand, and what each backend makes of it.
#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <numeric>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;
using corio::fault::Injection;
using corio::fault::Site;

namespace {

#define SKIP_WITHOUT_FAULT_INJECTION()                                                        \
    if (!corio::fault::available())                                                         \
    GTEST_SKIP() << "the library was built without -Dfault_injection=true"

/// The message of what `f` throws as std::system_error, with its code.
template <class F>
std::pair<std::string, std::error_code> thrown_by(F f) {
    try {
        f();
    } catch (const std::system_error& e) {
        return {e.what(), e.code()};
    }
    return {"", {}};
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

TEST(Fault, InjectWithoutTheBuildOptionIsAClearError) {
    if (corio::fault::available()) GTEST_SKIP() << "fault injection is built in";
    EXPECT_THROW(corio::fault::inject(Site::spawn, 0, ENOMEM), corio::UsageError);
}

TEST(Fault, AnInjectionFailsExactlyTheEventsItNames) {
    SKIP_WITHOUT_FAULT_INJECTION();
    corio::Threaded threaded;
    corio::Io io = threaded.io();
    Injection inj(Site::spawn, 2, ENOMEM, 2);  // the 3rd and 4th spawns fail
    std::vector<int> outcome;
    for (int i = 0; i < 6; ++i) {
        try {
            outcome.push_back(io.async([i] { return i; }).await());
        } catch (const std::bad_alloc&) {
            outcome.push_back(-1);
        }
    }
    EXPECT_EQ(outcome, (std::vector<int>{0, 1, -1, -1, 4, 5}));
    EXPECT_EQ(corio::fault::failed(Site::spawn), 2u);
    EXPECT_GE(corio::fault::seen(Site::spawn), 6u);
}

// ---- Threaded ---------------------------------------------------------------------------------

TEST(ThreadedFault, ConcurrentIsUnavailableWhenNoThreadCanStartAndAsyncRunsInline) {
    SKIP_WITHOUT_FAULT_INJECTION();
    corio::Threaded threaded;
    corio::Io io = threaded.io();
    {
        Injection inj(Site::thread_start, 0, EAGAIN, 1000);
        EXPECT_THROW((void)io.concurrent([] { return 1; }), corio::ConcurrencyUnavailable);
        EXPECT_EQ(io.async([] { return 2; }).await(), 2);
        EXPECT_GE(corio::fault::failed(Site::thread_start), 1u);
    }
    EXPECT_EQ(io.concurrent([] { return 3; }).await(), 3);
}

TEST(ThreadedFault, ASleepWhoseTimerThreadCannotStartThrowsAndTheNextOneWorks) {
    SKIP_WITHOUT_FAULT_INJECTION();
    corio::Threaded threaded;
    corio::Io io = threaded.io();
    {
        Injection inj(Site::thread_start, 0, EAGAIN, 1000);
        const auto [what, code] = thrown_by([&] { io.sleep(1ms).await(); });
        EXPECT_TRUE(contains(what, "timer thread")) << what;
    }
    io.sleep(1ms).await();
}

TEST(ThreadedFault, AFailedSpawnKeepsNoConcurrencySlot) {
    SKIP_WITHOUT_FAULT_INJECTION();
    corio::Threaded threaded(corio::Threaded::Options{.concurrent_limit = 1});
    corio::Io io = threaded.io();
    for (int i = 0; i < 3; ++i) {
        Injection inj(Site::spawn, 0, ENOMEM);
        EXPECT_THROW((void)io.concurrent([] { return 1; }), std::bad_alloc);
    }
    EXPECT_EQ(io.concurrent([] { return 4; }).await(), 4);
}

TEST(ThreadedFault, InterruptedAndWouldBlockCallsAreMadeAgain) {
    SKIP_WITHOUT_FAULT_INJECTION();
    corio::Threaded threaded;
    corio::Io io = threaded.io();
    auto [r, w] = corio::File::pipe();
    for (const int err : {EINTR, EAGAIN}) {
        Injection inj(Site::io_call, 0, err, 3);
        w.write_all(io, "abc").await();
        std::array<std::byte, 3> buf{};
        EXPECT_EQ(r.read(io, buf).await(), 3u) << err;
        EXPECT_EQ(corio::fault::failed(Site::io_call), 3u);
    }
}

TEST(ThreadedFault, AFailedCallIsTheOperationsErrorAndLosesNoByte) {
    SKIP_WITHOUT_FAULT_INJECTION();
    corio::Threaded threaded;
    corio::Io io = threaded.io();
    auto [r, w] = corio::File::pipe();
    w.write_all(io, "xyz").await();
    std::array<std::byte, 3> buf{};
    {
        Injection inj(Site::io_call, 0, ENOMEM);
        std::error_code ec;
        EXPECT_EQ(r.read(io, buf, ec).await(), 0u);
        EXPECT_EQ(ec, std::errc::not_enough_memory);
    }
    EXPECT_EQ(r.read(io, buf).await(), 3u);
    EXPECT_EQ(static_cast<char>(buf[0]), 'x');
}

// ---- IoUring ----------------------------------------------------------------------------------

#ifdef CORIO_HAS_IO_URING

/// Skips when this machine refuses io_uring.
#define SKIP_WITHOUT_IO_URING()                                                               \
    do {                                                                                    \
        try {                                                                               \
            corio::IoUring probe(corio::IoUring::Options{.threads = 0});                    \
        } catch (const std::system_error& e) {                                              \
            GTEST_SKIP() << "no io_uring here: " << e.what();                               \
        }                                                                                   \
    } while (0)

corio::IoUring::Options workers(unsigned n) {
    corio::IoUring::Options o;
    o.threads = n;
    return o;
}

/// A backend made after a failed one works: what the failure started was stopped and joined.
void expect_a_working_backend(unsigned threads) {
    corio::IoUring ring(workers(threads));
    corio::Io io = ring.io();
    std::vector<corio::Future<int>> fs;
    for (int i = 0; i < 8; ++i) fs.push_back(io.concurrent([io, i] {
        io.sleep(1ms).await();
        return i;
    }));
    int sum = 0;
    for (auto& f : fs) sum += f.await();
    EXPECT_EQ(sum, 28);
}

TEST(IoUringFault, AWorkerThreadThatCannotStartIsTheConstructorsError) {
    SKIP_WITHOUT_FAULT_INJECTION();
    SKIP_WITHOUT_IO_URING();
    for (unsigned k = 0; k < 3; ++k) {
        std::string what;
        {
            Injection inj(Site::thread_start, k, EAGAIN);
            what = thrown_by([] { corio::IoUring ring(workers(3)); }).first;
        }
        EXPECT_TRUE(contains(what, "cannot start worker thread " + std::to_string(k + 1) + " of 3"))
            << what;
        expect_a_working_backend(3);
    }
}

TEST(IoUringFault, ARingThatCannotBeCreatedIsTheConstructorsError) {
    SKIP_WITHOUT_FAULT_INJECTION();
    SKIP_WITHOUT_IO_URING();
    // The first ring is the constructor's probe; then one ring per worker.
    for (unsigned k = 0; k < 4; ++k) {
        std::pair<std::string, std::error_code> thrown;
        {
            Injection inj(Site::ring_setup, k, ENOMEM);
            thrown = thrown_by([] { corio::IoUring ring(workers(3)); });
        }
        EXPECT_EQ(thrown.second, std::errc::not_enough_memory) << thrown.first;
        EXPECT_TRUE(contains(thrown.first, "ring")) << thrown.first;
        expect_a_working_backend(3);
    }
    // With no worker threads the ring is made when the owning thread first runs a task: a
    // concurrent task cannot start, an async one runs inline, and the next try makes the ring.
    corio::IoUring ring(workers(0));
    corio::Io io = ring.io();
    {
        Injection inj(Site::ring_setup, 0, ENOMEM);
        EXPECT_THROW((void)io.concurrent([] {}), corio::ConcurrencyUnavailable);
        EXPECT_EQ(io.async([] { return 5; }).await(), 5);
    }
    EXPECT_EQ(io.concurrent([io] {
                  io.sleep(1ms).await();
                  return 6;
              }).await(),
              6);
}

TEST(IoUringFault, AFailedSpawnThrowsAndKeepsNoConcurrencySlot) {
    SKIP_WITHOUT_FAULT_INJECTION();
    SKIP_WITHOUT_IO_URING();
    corio::IoUring::Options o = workers(1);
    o.concurrent_limit = 1;
    corio::IoUring ring(o);
    corio::Io io = ring.io();
    for (int i = 0; i < 3; ++i) {
        Injection inj(Site::spawn, 0, ENOMEM);
        EXPECT_THROW((void)io.concurrent([] { return 1; }), std::bad_alloc);
    }
    EXPECT_EQ(io.concurrent([] { return 4; }).await(), 4);
}

/// Moves `n` bytes through a pipe on `io` (a writer task and a reader), and checks them.
void pipe_round_trip(corio::Io io, std::size_t n) {
    auto [r, w] = corio::File::pipe();
    std::vector<std::byte> out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(i * 7 + 1);
    auto writer = io.concurrent([io, &w, &out] { w.write_all(io, out).await(); });
    std::vector<std::byte> in(n);
    std::size_t got = 0;
    while (got < n) {
        const std::size_t k = r.read(io, std::span(in).subspan(got)).await();
        ASSERT_GT(k, 0u);
        got += k;
    }
    writer.await();
    EXPECT_EQ(in, out);
}

TEST(IoUringFault, RefusedSubmitsKeepTheirEntriesForTheNextOne) {
    SKIP_WITHOUT_FAULT_INJECTION();
    SKIP_WITHOUT_IO_URING();
    for (const unsigned threads : {0u, 1u}) {
        corio::IoUring ring(workers(threads));
        corio::Io io = ring.io();
        io.async([] {}).await();  // the loop is up
        Injection inj(Site::ring_submit, 0, EBUSY, 20);
        io.async([io] { pipe_round_trip(io, 1 << 16); }).await();
        EXPECT_GT(corio::fault::failed(Site::ring_submit), 0u);
    }
}

TEST(IoUringFault, WouldBlockAndInterruptedCompletionsAreCallsMadeAgain) {
    SKIP_WITHOUT_FAULT_INJECTION();
    SKIP_WITHOUT_IO_URING();
    corio::IoUring ring(workers(1));
    corio::Io io = ring.io();
    for (const int err : {EAGAIN, EINTR}) {
        Injection inj(Site::completion, 0, err, 10);
        io.async([io] { pipe_round_trip(io, 1 << 16); }).await();
        EXPECT_EQ(corio::fault::failed(Site::completion), 10u) << err;
    }
}

TEST(IoUringFault, AFailedCompletionIsTheOperationsErrorAndLosesNoByte) {
    SKIP_WITHOUT_FAULT_INJECTION();
    SKIP_WITHOUT_IO_URING();
    corio::IoUring ring(workers(1));
    corio::Io io = ring.io();
    io.async([io] {
        auto [r, w] = corio::File::pipe();
        w.write_all(io, "xyz").await();
        std::array<std::byte, 3> buf{};
        {
            Injection inj(Site::completion, 0, ENOBUFS);
            std::error_code ec;
            EXPECT_EQ(r.read(io, buf, ec).await(), 0u);
            EXPECT_EQ(ec, std::errc::no_buffer_space);
            EXPECT_THROW(
                {
                    Injection again(Site::completion, 0, ENOBUFS);
                    (void)r.read(io, buf).await();
                },
                std::system_error);
        }
        EXPECT_EQ(r.read(io, buf).await(), 3u);
        EXPECT_EQ(static_cast<char>(buf[2]), 'z');
    }).await();
}

TEST(IoUringFault, ShortCompletionsAreContinuedByTheOperationsThatNeedTheRest) {
    SKIP_WITHOUT_FAULT_INJECTION();
    SKIP_WITHOUT_IO_URING();
    corio::IoUring ring(workers(2));
    corio::Io io = ring.io();
    Injection inj(Site::short_completion, 0, 0, 1000);
    io.async([io] { pipe_round_trip(io, 1 << 18); }).await();
    EXPECT_GT(corio::fault::failed(Site::short_completion), 0u);
}

TEST(IoUringFault, ACompletionQueueTooSmallForTheCompletionsLosesNone) {
    SKIP_WITHOUT_IO_URING();
    // Two entries: a completion queue of four, under 64 transfers at once. Completions the
    // queue has no room for wait in the kernel and are reaped in the next pass.
    corio::IoUring::Options o = workers(1);
    o.ring_entries = 2;
    o.completion_entries = 4;
    corio::IoUring ring(o);
    corio::Io io = ring.io();
    io.async([io] {
          corio::Group g{io};
          for (int i = 0; i < 64; ++i) g.concurrent([io] { pipe_round_trip(io, 4096); });
          g.wait();
      }).await();
}

#endif  // CORIO_HAS_IO_URING

}  // namespace
