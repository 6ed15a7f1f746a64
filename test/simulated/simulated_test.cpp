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
