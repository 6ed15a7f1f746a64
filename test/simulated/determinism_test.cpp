// SPDX-License-Identifier: MIT
// Simulated replays a run from its seed, faults included: each seed runs twice, and the traces
// (a hash of every scheduling decision, I/O result, injected fault and timer firing) agree.
//
// The workloads keep to what the simulation controls: tasks, timers, pipes and Unix socket
// pairs, whose kernel moves the bytes within the calling system call. They exclude TCP, whose
// kernel delivers bytes and acknowledgements on its own time (so how much a send moves, and
// when a receive is ready, depends on timing), and peers outside the simulation (other
// threads or processes), which run when the OS says. docs/architecture.md says the same.
#include <corio/corio.hpp>
#include <corio/file.hpp>
#include <corio/net.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <set>
#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// What one run left behind: the trace, the steps, the faults, and what the workload computed.
struct Run {
    std::uint64_t trace = 0;
    std::uint64_t steps = 0;
    std::vector<std::uint64_t> injected;
    std::string result;
    bool operator==(const Run&) const = default;
};

/// Runs `workload` on a Simulated of `seed` with every fault on: the seed and Faults::all()
/// (its transparent rates varied by the seed) are all that decide the run.
Run run(std::uint64_t seed, const std::function<std::string(corio::Io)>& workload) {
    corio::Simulated::Options o{.seed = seed};
    o.faults = corio::Simulated::Options::Faults::transparent(seed + 1);
    const corio::Simulated::Options::Faults all = corio::Simulated::Options::Faults::all();
    o.faults.reset = all.reset;
    o.faults.epipe = all.epipe;
    o.faults.enomem = all.enomem;
    o.faults.emfile = all.emfile;
    corio::Simulated sim(o);
    Run r;
    r.result = workload(sim.io());
    r.trace = sim.trace();
    r.steps = sim.steps();
    const corio::Simulated::Injected in = sim.injected();
    r.injected = {in.eintr,  in.eagain, in.short_transfer, in.reorder, in.clock_leap,
                  in.system_clock_jump, in.reset, in.epipe, in.enomem, in.emfile};
    return r;
}

/// Tasks that share a mutex and a queue and sleep: no I/O at all.
std::string tasks_and_timers(corio::Io io) {
    std::string out;
    corio::Mutex m;
    corio::Queue<int> q(2);
    corio::Group g{io};
    for (int t = 0; t < 3; ++t)
        g.concurrent([&, io, t] {
            for (int i = 0; i < 6; ++i) {
                m.lock(io).await();
                out += static_cast<char>('a' + t);
                m.unlock();
                q.put(io, t * 10 + i).await();
                io.sleep(std::chrono::milliseconds(1 + (t + i) % 3)).await();
            }
        });
    g.concurrent([&, io] {
        for (int i = 0; i < 18; ++i) out += std::to_string(q.get(io).await() % 10);
    });
    g.wait();
    out += " @" + std::to_string(io.now().time_since_epoch().count());
    return out;
}

/// A writer and a reader over a pipe, and a writer and a reader at each end of a Unix socket
/// pair; errors (injected ones) are part of the result.
std::string pipes_and_socket_pairs(corio::Io io) {
    std::string out;
    auto [in, out_end] = corio::File::pipe();
    auto [a, b] = corio::UnixStream::pair();
    corio::Group g{io};
    g.concurrent([&, io] {
        for (int i = 0; i < 20; ++i) {
            std::error_code ec;
            const std::string line = "line " + std::to_string(i) + "\n";
            (void)out_end.write_all(io, std::as_bytes(std::span(line)), ec).await();
            if (ec) out += "[w" + std::to_string(ec.value()) + "]";
        }
        out_end.close(io).await();
    });
    g.concurrent([&, io] {
        std::string buf(7, '\0');
        for (;;) {
            std::error_code ec;
            const std::size_t n = in.read(io, std::as_writable_bytes(std::span(buf)), ec).await();
            if (ec) {
                out += "[r" + std::to_string(ec.value()) + "]";
                continue;
            }
            if (n == 0) break;
            out += "P" + buf.substr(0, n);
        }
    });
    for (int side = 0; side < 2; ++side) {
        const corio::UnixStream& me = side == 0 ? a : b;
        const char name = side == 0 ? 'A' : 'B';
        g.concurrent([&, io, name] {  // sends messages, then the end of its stream
            for (int i = 0; i < 30; ++i) {
                std::error_code ec;
                const std::string msg(1 + i % 7, name);
                (void)me.write(io, std::as_bytes(std::span(msg)), ec).await();
                if (ec) out += "[s" + std::to_string(ec.value()) + "]";
            }
            std::error_code ec;
            me.shutdown(io, corio::Shutdown::write, ec).await();
        });
        g.concurrent([&, io, name] {  // reads what the other side sent, to its end
            std::string buf(64, '\0');
            for (;;) {
                std::error_code ec;
                const std::size_t n =
                    me.read(io, std::as_writable_bytes(std::span(buf)), ec).await();
                if (ec || n == 0) {
                    out += ec ? "[e" + std::to_string(ec.value()) + "]" : "[eof]";
                    break;
                }
                out += name + std::to_string(n);
            }
        });
    }
    g.wait();
    return out;
}

void expect_replayed(const std::function<std::string(corio::Io)>& workload) {
    std::set<std::uint64_t> traces;
    std::uint64_t faults = 0;
    for (std::uint64_t seed = 0; seed < 16; ++seed) {
        const Run first = run(seed, workload);
        EXPECT_EQ(run(seed, workload), first) << "seed " << seed << " replays its run";
        traces.insert(first.trace);
        for (std::uint64_t n : first.injected) faults += n;
    }
    EXPECT_GT(traces.size(), 8u) << "seeds make different runs";
    EXPECT_GT(faults, 0u) << "faults were injected";
}

TEST(SimulatedDeterminism, TheSeedReplaysARunOfTasksAndTimersWithItsFaults) {
    expect_replayed(tasks_and_timers);
}

TEST(SimulatedDeterminism, TheSeedReplaysARunOverPipesAndSocketPairsWithItsFaults) {
    expect_replayed(pipes_and_socket_pairs);
}

}  // namespace
