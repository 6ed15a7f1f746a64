// SPDX-License-Identifier: MIT
// Simulated: reproducible interleavings from a seed, virtual time, deadlock reports.
#include <corio/corio.hpp>
#include <corio/file.hpp>
#include <corio/net.hpp>

#include <gtest/gtest.h>

#include <set>
#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::vector<int> interleaving(std::uint64_t seed) {
    corio::Simulated sim({.seed = seed});
    corio::Io io = sim.io();
    std::vector<int> order;
    corio::Group g{io};
    for (int t = 0; t < 4; ++t)
        g.concurrent([io, t, &order] {
            for (int i = 0; i < 5; ++i) {
                order.push_back(t);
                io.yield().await();
            }
        });
    g.wait();
    return order;
}

TEST(Simulated, TheSameSeedReplaysTheSameInterleaving) {
    for (std::uint64_t seed = 0; seed < 20; ++seed) EXPECT_EQ(interleaving(seed), interleaving(seed));
}

TEST(Simulated, DifferentSeedsExploreDifferentInterleavings) {
    std::set<std::vector<int>> seen;
    for (std::uint64_t seed = 0; seed < 20; ++seed) seen.insert(interleaving(seed));
    EXPECT_GT(seen.size(), 10u);
}

/// Tasks talking over a pipe and a Unix socket pair (real descriptors, used without blocking:
/// the kernel delivers their bytes within the writing call), with the trace of what each read
/// saw, in the order the tasks ran.
std::vector<std::string> io_interleaving(std::uint64_t seed) {
    corio::Simulated sim({.seed = seed});
    corio::Io io = sim.io();
    std::vector<std::string> trace;
    std::pair<corio::File, corio::File> pipe = corio::File::pipe();
    std::pair<corio::UnixStream, corio::UnixStream> pair = corio::UnixStream::pair();
    corio::Group g{io};
    g.concurrent([&] {
        for (int i = 0; i < 6; ++i) {
            (void)pipe.second.write_all(io, std::to_string(i)).await();
            trace.push_back("w" + std::to_string(i));
            io.yield().await();
        }
        pipe.second.close(io).await();
    });
    g.concurrent([&] {
        std::string buf(16, '\0');
        for (;;) {
            const std::size_t n =
                pipe.first.read(io, std::as_writable_bytes(std::span(buf))).await();
            if (n == 0) break;
            trace.push_back("r" + buf.substr(0, n));
        }
    });
    for (int side = 0; side < 2; ++side)
        g.concurrent([&, side] {
            const corio::UnixStream& me = side == 0 ? pair.first : pair.second;
            std::string buf(1, '\0');  // one byte a read: each side reads what the other sent
            for (int i = 0; i < 4; ++i) {
                (void)me.write_all(io, side == 0 ? "a" : "b").await();
                const std::size_t n = me.read(io, std::as_writable_bytes(std::span(buf))).await();
                trace.push_back((side == 0 ? "A" : "B") + buf.substr(0, n));
            }
        });
    g.wait();
    return trace;
}

TEST(Simulated, TheSameSeedReplaysTheSameIoInterleaving) {
    std::set<std::vector<std::string>> seen;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        const std::vector<std::string> trace = io_interleaving(seed);
        for (int again = 0; again < 3; ++again) EXPECT_EQ(io_interleaving(seed), trace) << seed;
        seen.insert(trace);
    }
    EXPECT_GT(seen.size(), 5u) << "seeds explore different interleavings of the I/O";
}

/// How many reads a 1000-byte message over a Unix stream took, checking its bytes.
std::size_t reads_of_a_message(std::uint64_t seed, bool short_transfers) {
    corio::Simulated sim({.seed = seed, .short_transfers = short_transfers});
    corio::Io io = sim.io();
    std::pair<corio::UnixStream, corio::UnixStream> pair = corio::UnixStream::pair();
    std::string msg(1000, '\0');
    for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<char>('a' + i % 26);
    auto writer = io.concurrent([&] { return pair.first.write_all(io, msg).await(); });
    std::string got;
    std::string buf(1000, '\0');
    std::size_t reads = 0;
    while (got.size() < msg.size()) {
        const std::size_t n = pair.second.read(io, std::as_writable_bytes(std::span(buf))).await();
        got.append(buf, 0, n);
        ++reads;
    }
    EXPECT_EQ(writer.await(), msg.size());
    EXPECT_EQ(got, msg);
    return reads;
}

TEST(Simulated, TheSeedShortensStreamTransfersToExplorePartialReadsAndWrites) {
    std::set<std::size_t> counts;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        const std::size_t reads = reads_of_a_message(seed, true);
        EXPECT_EQ(reads_of_a_message(seed, true), reads) << "replayed by the seed";
        counts.insert(reads);
        EXPECT_EQ(reads_of_a_message(seed, false), 1u) << "whole without shortening";
    }
    EXPECT_GT(counts.size(), 2u) << "some seeds split the message, in different ways";
}

/// What the big transfers send: 4 MiB, more than a socket buffer holds many times over, so the
/// writer's calls move part of it and meet a full buffer again until the reader drains it.
std::string big_message() {
    std::string msg(4 << 20, '\0');
    for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<char>(i * 131 % 251);
    return msg;
}

/// Reads `size` bytes from `from` with one read_exact (itself many calls, each of which may move
/// part of what is left): what came before the stream ended.
std::string read_all(corio::Io io, const corio::UnixStream& from, std::size_t size) {
    std::vector<std::byte> small(4096);
    corio::StreamReader reader(from, small);
    std::string got(size, '\0');
    std::error_code ec;
    got.resize(reader.read_exact(io, std::as_writable_bytes(std::span(got)), ec).await());
    return got;
}

/// What a transfer under a timeout saw.
struct TimedTransfer {
    bool timed_out = false;
    std::size_t written = 0;
    bool whole = false;  // every byte arrived, in order
    std::size_t arrived = 0;
    bool sleeper_woke = false;
    std::chrono::nanoseconds elapsed{};  // virtual time from the start to the transfer's end
};

/// Sends big_message() over a socket pair from a write_all (under a 60 s with_timeout when
/// `timeout`), beside a reader that reads it all and a task that sleeps for an hour.
TimedTransfer timed_transfer(std::uint64_t seed, bool timeout) {
    corio::Simulated sim({.seed = seed});
    corio::Io io = sim.io();
    std::pair<corio::UnixStream, corio::UnixStream> pair = corio::UnixStream::pair();
    const std::string msg = big_message();
    TimedTransfer out;
    const auto t0 = io.now();
    auto sleeper = io.concurrent([io, &out] {
        io.sleep(1h).await();
        out.sleeper_woke = true;
    });
    auto reader = io.concurrent([&] { return read_all(io, pair.second, msg.size()); });
    try {
        out.written = timeout ? corio::with_timeout(io, 60s, pair.first.write_all(io, msg)).await()
                              : pair.first.write_all(io, msg).await();
    } catch (const corio::Timeout&) {
        out.timed_out = true;
        pair.first.shutdown(io).await();  // the reader then sees the end of the stream
    }
    out.elapsed = io.now() - t0;
    const std::string got = reader.await();
    out.arrived = got.size();
    out.whole = got == msg;
    sleeper.request_cancel();
    return out;
}

TEST(Simulated, AWriteAllThatMovesBytesIsProgressSoItsTimeoutNeverFires) {
    for (std::uint64_t seed = 0; seed < 4; ++seed) {
        const TimedTransfer t = timed_transfer(seed, true);
        EXPECT_FALSE(t.timed_out) << "seed " << seed << ": fired after " << t.arrived << " bytes";
        EXPECT_EQ(t.written, big_message().size()) << "seed " << seed;
        EXPECT_TRUE(t.whole) << "seed " << seed << ": every byte arrives, in order";
    }
}

TEST(Simulated, AnHourLongSleeperBesideATransferIsStillAsleepWhenTheTransferEnds) {
    for (std::uint64_t seed = 0; seed < 4; ++seed) {
        const TimedTransfer t = timed_transfer(seed, false);
        EXPECT_FALSE(t.sleeper_woke) << "seed " << seed;
        EXPECT_LT(t.elapsed, 1h) << "seed " << seed << ": virtual time jumped mid-transfer";
    }
}

/// Sends big_message() over a socket pair with no timer pending, and exits: 0 when it arrived
/// whole. (A run mistaken for a deadlock aborts instead.)
[[noreturn]] void transfer_with_no_timer(std::uint64_t seed) {
    corio::Simulated sim({.seed = seed});
    corio::Io io = sim.io();
    auto pair = corio::UnixStream::pair();
    const std::string msg = big_message();
    auto reader = io.concurrent([&] { return read_all(io, pair.second, msg.size()); });
    const bool whole = pair.first.write_all(io, msg).await() == msg.size();
    std::exit(whole && reader.await() == msg ? 0 : 1);
}

TEST(SimulatedDeathTest, APartialTransferWithNoTimerPendingIsNoDeadlock) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    for (std::uint64_t seed = 0; seed < 4; ++seed)
        EXPECT_EXIT(transfer_with_no_timer(seed), ::testing::ExitedWithCode(0), "")
            << "seed " << seed;
}

TEST(Simulated, OneTaskRunsAtATime) {
    corio::Simulated sim({.seed = 3});
    corio::Io io = sim.io();
    int running = 0;
    int max_running = 0;
    corio::Group g{io};
    for (int t = 0; t < 8; ++t)
        g.concurrent([io, &running, &max_running] {
            for (int i = 0; i < 10; ++i) {
                ++running;  // a plain int: a data race anywhere but on Simulated
                max_running = std::max(max_running, running);
                --running;
                io.sleep(1ms).await();
            }
        });
    g.wait();
    EXPECT_EQ(max_running, 1);
}

TEST(Simulated, TimeIsVirtualAndJumpsToTheNextDeadline) {
    corio::Simulated sim({.seed = 1});
    corio::Io io = sim.io();
    const auto t0 = io.now();
    auto f = io.concurrent([io] { io.sleep(10h).await(); });
    io.sleep(1h).await();
    EXPECT_EQ(io.now() - t0, 1h);
    f.await();
    EXPECT_EQ(io.now() - t0, 10h);
    EXPECT_GT(sim.steps(), 0u);
    EXPECT_EQ(sim.seed(), 1u);
}

TEST(Simulated, ClockLeapsNeverPassADeadlineSoTimersFireExactlyOnTime) {
    corio::Simulated::Options o{.seed = 5};
    o.faults.clock_leap = 1;  // at every scheduling step
    o.faults.max_clock_leap = 10ms;
    corio::Simulated sim(o);
    corio::Io io = sim.io();
    const auto t0 = io.now();
    for (int i = 1; i <= 50; ++i) {
        io.sleep(3ms).await();
        EXPECT_EQ(io.now() - t0, i * 3ms);
    }
    EXPECT_GT(sim.injected().clock_leap, 0u);
}

TEST(Simulated, SystemClockJumpsGoBothWaysAndTheSteadyClockNeverGoesBack) {
    corio::Simulated::Options o{.seed = 5};
    o.faults.system_clock_jump = 0.5;
    o.faults.clock_leap = 1;
    corio::Simulated sim(o);
    corio::Io io = sim.io();
    auto sleeper = io.concurrent([io] { io.sleep(1h).await(); });  // so the clock may leap
    auto steady = io.now();
    auto system = io.now<std::chrono::system_clock>();
    bool back = false, forward = false;
    for (int i = 0; i < 200; ++i) {
        io.yield().await();
        EXPECT_GE(io.now(), steady);
        const auto s = io.now<std::chrono::system_clock>();
        back = back || s < system;
        forward = forward || s > system + 1ms;
        steady = io.now();
        system = s;
    }
    EXPECT_TRUE(back);
    EXPECT_TRUE(forward);
    EXPECT_GT(sim.injected().system_clock_jump, 0u);
    sleeper.request_cancel();
}

TEST(SimulatedDeathTest, ADeadlockAbortsWithTheSeedAndTheTasks) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            corio::Simulated sim({.seed = 42});
            corio::Io io = sim.io();
            corio::Event never;
            never.wait(io).await();
        },
        "deadlock with seed 42");
}

}  // namespace
