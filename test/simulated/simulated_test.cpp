// SPDX-License-Identifier: MIT
// Simulated: reproducible interleavings from a seed, virtual time, deadlock reports.
#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <set>
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
