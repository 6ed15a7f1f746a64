// SPDX-License-Identifier: MIT
// Simulated's visible faults (ECONNRESET, EPIPE, ENOMEM/ENOBUFS, EMFILE) under counting
// workloads: every operation succeeds or fails with an injected error, and no byte, item or
// task is lost or duplicated.
#include <corio/corio.hpp>
#include <corio/file.hpp>
#include <corio/net.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace {

using Faults = corio::Simulated::Options::Faults;

constexpr std::uint64_t kSeeds = 12;

/// Every transparent fault, and the visible ones at `fatal` (reset, epipe) and `transient`
/// (enomem, emfile) rates per call.
corio::Simulated::Options with_faults(std::uint64_t seed, double fatal, double transient) {
    corio::Simulated::Options o{.seed = seed, .faults = Faults::transparent(seed + 1)};
    o.faults.reset = fatal;
    o.faults.epipe = fatal;
    o.faults.enomem = transient;
    o.faults.emfile = transient;
    return o;
}

bool is_transient(const std::error_code& ec) {
    return ec == std::errc::not_enough_memory || ec == std::errc::no_buffer_space ||
           ec == std::errc::too_many_files_open;
}
bool is_fatal(const std::error_code& ec) {
    return ec == std::errc::connection_reset || ec == std::errc::broken_pipe;
}

/// What a workload's operations saw, summed over its tasks.
struct Tally {
    std::uint64_t transient = 0;  // ENOMEM, ENOBUFS, EMFILE: the operation was made again
    std::uint64_t fatal = 0;      // ECONNRESET, EPIPE: that connection ended
    std::uint64_t other = 0;      // any other error: none is expected
    std::atomic<int> started{0}, finished{0};

    /// Sorts an error: true when the operation should be made again.
    bool retry(const std::error_code& ec) {
        if (is_transient(ec)) return ++transient, true;
        if (is_fatal(ec))
            ++fatal;
        else
            ++other;
        return false;
    }
};

std::string pattern(std::size_t n, std::size_t salt) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + salt * 13) % 251);
    return s;
}

/// Writes `data` with single writes (each reports what it moved), retrying transient errors;
/// stops at a fatal one. Returns the bytes written.
std::size_t write_counted(corio::Io io, const corio::UnixStream& s, std::string_view data,
                          Tally& t) {
    std::size_t sent = 0;
    while (sent < data.size()) {
        std::error_code ec;
        const std::size_t n =
            s.write(io, std::as_bytes(std::span(data.substr(sent))), ec).await();
        if (ec && t.retry(ec)) continue;
        if (ec) break;
        sent += n;
    }
    return sent;
}

/// One read, retrying transient errors: the bytes, empty at the end of the stream or after a
/// fatal error.
std::string read_counted(corio::Io io, const corio::UnixStream& s, Tally& t) {
    std::string buf(1500, '\0');
    for (;;) {
        std::error_code ec;
        const std::size_t n = s.read(io, std::as_writable_bytes(std::span(buf)), ec).await();
        if (ec && t.retry(ec)) continue;
        return ec ? std::string() : buf.substr(0, n);
    }
}

/// One echo connection: the client's stream, what the server received and echoed, and what
/// came back.
struct Echo {
    std::pair<corio::UnixStream, corio::UnixStream> pair = corio::UnixStream::pair();
    std::string data;
    std::size_t sent = 0, echoed_sent = 0;
    std::string received, echoed;
};

TEST(SimulatedFaults, EchoOverSocketPairsLosesAndDuplicatesNoByte) {
    corio::Simulated::Injected total;
    std::uint64_t complete = 0;
    for (std::uint64_t seed = 0; seed < kSeeds; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        corio::Simulated sim(with_faults(seed, 0.003, 0.03));
        corio::Io io = sim.io();
        Tally t;
        std::vector<Echo> echoes(3);
        {
            corio::Group g{io};
            for (std::size_t c = 0; c < echoes.size(); ++c) {
                Echo& e = echoes[c];
                e.data = pattern(48 << 10, c);
                const auto task = [&t](auto body) {
                    return [&t, body] {
                        ++t.started;
                        body();
                        ++t.finished;
                    };
                };
                g.concurrent(task([&, io] {  // the client's writer
                    e.sent = write_counted(io, e.pair.first, e.data, t);
                    std::error_code ec;
                    e.pair.first.shutdown(io, corio::Shutdown::write, ec).await();
                }));
                g.concurrent(task([&, io] {  // the server: echoes what it reads
                    for (std::string got; !(got = read_counted(io, e.pair.second, t)).empty();) {
                        e.received += got;
                        const std::size_t n = write_counted(io, e.pair.second, got, t);
                        e.echoed_sent += n;
                        if (n < got.size()) break;
                    }
                    std::error_code ec;
                    e.pair.second.shutdown(io, corio::Shutdown::write, ec).await();
                }));
                g.concurrent(task([&, io] {  // the client's reader
                    for (std::string got; !(got = read_counted(io, e.pair.first, t)).empty();)
                        e.echoed += got;
                }));
            }
            g.wait();
        }
        EXPECT_EQ(t.finished.load(), t.started.load()) << "every task ends";
        EXPECT_EQ(t.other, 0u) << "no error but the injected ones";
        const corio::Simulated::Injected in = sim.injected();
        EXPECT_EQ(t.transient, in.enomem) << "each injected ENOMEM/ENOBUFS fails one operation";
        for (const Echo& e : echoes) {
            EXPECT_LE(e.received.size(), e.sent);
            EXPECT_EQ(e.received, e.data.substr(0, e.received.size())) << "a prefix, in order";
            EXPECT_LE(e.echoed.size(), e.echoed_sent);
            EXPECT_EQ(e.echoed, e.received.substr(0, e.echoed.size())) << "a prefix, in order";
            if (e.echoed.size() == e.data.size()) ++complete;
        }
        if (in.reset + in.epipe == 0) {
            for (const Echo& e : echoes) EXPECT_EQ(e.echoed, e.data) << "nothing broke: all of it";
        }
        total.reset += in.reset;
        total.epipe += in.epipe;
        total.enomem += in.enomem;
    }
    EXPECT_GT(total.reset, 0u);
    EXPECT_GT(total.epipe, 0u);
    EXPECT_GT(total.enomem, 0u);
    EXPECT_GT(complete, 0u) << "some connections survive to the end";
}

TEST(SimulatedFaults, AnInjectedResetIsStickyAndThePeerSeesTheEndOfTheStream) {
    std::uint64_t resets = 0;
    for (std::uint64_t seed = 0; seed < kSeeds && resets < 3; ++seed) {
        corio::Simulated::Options o{.seed = seed};
        o.faults.reset = 0.2;
        corio::Simulated sim(o);
        corio::Io io = sim.io();
        auto [a, b] = corio::UnixStream::pair();
        std::error_code ec;
        std::size_t writes = 0;
        const std::string byte = "x";
        while (!ec && writes < 100) {
            (void)a.write(io, std::as_bytes(std::span(byte)), ec).await();
            ++writes;
        }
        if (ec != std::errc::connection_reset) continue;
        ++resets;
        std::error_code again;
        (void)a.write(io, std::as_bytes(std::span(byte)), again).await();
        EXPECT_EQ(again, std::errc::connection_reset) << "sticky for writes";
        std::string buf(4, '\0');
        (void)a.read(io, std::as_writable_bytes(std::span(buf)), again).await();
        EXPECT_EQ(again, std::errc::connection_reset) << "and reads";
        // The real socket is shut down: its peer (read here by plain system calls, outside the
        // simulation and its faults) reads what was sent before, then the end of the stream,
        // and cannot write.
        std::string got(writes + 1, '\0');
        std::size_t n = 0;
        for (ssize_t r; (r = ::recv(b.fd(), got.data() + n, got.size() - n, MSG_DONTWAIT)) > 0;)
            n += static_cast<std::size_t>(r);
        EXPECT_EQ(n, writes - 1) << "every byte written before the reset arrives, once";
        EXPECT_EQ(::recv(b.fd(), got.data(), got.size(), MSG_DONTWAIT), 0) << "then the end";
        EXPECT_EQ(::send(b.fd(), "y", 1, MSG_DONTWAIT | MSG_NOSIGNAL), -1);
        EXPECT_EQ(errno, EPIPE) << "the peer cannot write to a shut socket";
        EXPECT_EQ(sim.injected().reset, 1u);
    }
    EXPECT_GT(resets, 0u);
}

/// A record: which producer, and its number there.
using Item = std::uint64_t;

TEST(SimulatedFaults, ItemsSentOverSocketsThroughAQueueArriveExactlyOnce) {
    constexpr int kProducers = 3;
    constexpr std::uint32_t kItems = 300;
    std::uint64_t broken = 0;
    for (std::uint64_t seed = 0; seed < kSeeds; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        corio::Simulated sim(with_faults(seed, 0.01, 0.03));
        corio::Io io = sim.io();
        Tally t;
        corio::Queue<Item> queue(4);
        std::vector<std::pair<corio::UnixStream, corio::UnixStream>> pairs;
        for (int p = 0; p < kProducers; ++p) pairs.push_back(corio::UnixStream::pair());
        std::vector<std::size_t> written(kProducers);
        std::vector<std::vector<Item>> received(kProducers);
        std::vector<Item> consumed;
        std::atomic<int> receivers_left{kProducers};
        {
            corio::Group g{io};
            for (int p = 0; p < kProducers; ++p) {
                g.concurrent([&, io, p] {
                    ++t.started;
                    std::string bytes;
                    for (Item i = 0; i < kItems; ++i) {
                        const Item item = static_cast<Item>(p) << 32 | i;
                        bytes.append(reinterpret_cast<const char*>(&item), sizeof item);
                    }
                    written[p] = write_counted(io, pairs[p].first, bytes, t) / sizeof(Item);
                    std::error_code ec;
                    pairs[p].first.shutdown(io, corio::Shutdown::write, ec).await();
                    ++t.finished;
                });
                g.concurrent([&, io, p] {
                    ++t.started;
                    std::string pending;
                    for (std::string got; !(got = read_counted(io, pairs[p].second, t)).empty();) {
                        pending += got;
                        std::size_t at = 0;
                        for (; pending.size() - at >= sizeof(Item); at += sizeof(Item)) {
                            Item item = 0;
                            std::copy_n(pending.data() + at, sizeof item,
                                        reinterpret_cast<char*>(&item));
                            received[p].push_back(item);
                            queue.put(io, item).await();
                        }
                        pending.erase(0, at);
                    }
                    if (--receivers_left == 0) queue.close();
                    ++t.finished;
                });
            }
            for (int c = 0; c < 2; ++c)
                g.concurrent([&, io] {
                    ++t.started;
                    try {
                        for (;;) consumed.push_back(queue.get(io).await());
                    } catch (const corio::QueueClosed&) {
                    }
                    ++t.finished;
                });
            g.wait();
        }
        EXPECT_EQ(t.finished.load(), t.started.load()) << "every task ends";
        EXPECT_EQ(t.other, 0u);
        EXPECT_EQ(t.transient, sim.injected().enomem);
        std::vector<Item> all;
        for (int p = 0; p < kProducers; ++p) {
            const std::vector<Item>& r = received[p];
            EXPECT_LE(r.size(), written[p]);
            for (std::size_t i = 0; i < r.size(); ++i)
                ASSERT_EQ(r[i], static_cast<Item>(p) << 32 | i) << "in order, none twice";
            if (r.size() < kItems) ++broken;
            all.insert(all.end(), r.begin(), r.end());
        }
        std::sort(all.begin(), all.end());
        std::sort(consumed.begin(), consumed.end());
        EXPECT_EQ(consumed, all) << "the queue loses and duplicates no item";
        if (sim.injected().reset + sim.injected().epipe == 0) {
            EXPECT_EQ(all.size(), std::size_t{kProducers} * kItems);
        }
    }
    EXPECT_GT(broken, 0u) << "some connections broke";
}

/// A directory of its own, removed with what it holds.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "corio-sim-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr)
            throw std::system_error(errno, std::system_category());
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(SimulatedFaults, FileCopiesUnderInjectedENOMEMAreExact) {
    TempDir dir;
    std::uint64_t injected = 0;
    for (std::uint64_t seed = 0; seed < kSeeds; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        corio::Simulated sim(with_faults(seed, 0, 0.05));
        corio::Io io = sim.io();
        Tally t;
        std::vector<std::string> sources;
        for (int f = 0; f < 2; ++f) {
            sources.push_back(pattern((96 << 10) + 123 * f, f + seed));
            std::ofstream(dir.path / ("src" + std::to_string(f)), std::ios::binary)
                << sources.back();
        }
        {
            corio::Group g{io};
            for (int f = 0; f < 2; ++f)
                g.concurrent([&, io, f] {
                    const std::string n = std::to_string(f);
                    corio::File in = corio::File::open(io, dir.path / ("src" + n)).await();
                    corio::File out = corio::File::create(io, dir.path / ("dst" + n)).await();
                    std::string chunk(8192, '\0');
                    for (std::uint64_t at = 0;;) {
                        std::error_code ec;
                        const std::size_t got =
                            in.pread(io, std::as_writable_bytes(std::span(chunk)), at, ec).await();
                        if (ec && t.retry(ec)) continue;
                        ASSERT_FALSE(ec) << ec.message();
                        if (got == 0) break;
                        for (std::size_t put = 0; put < got;) {
                            const auto rest = std::span(chunk).subspan(put, got - put);
                            const std::size_t n_put =
                                out.pwrite(io, std::as_bytes(rest), at + put, ec).await();
                            if (ec && t.retry(ec)) continue;
                            ASSERT_FALSE(ec) << ec.message();
                            put += n_put;
                        }
                        at += got;
                    }
                });
            g.wait();
        }
        EXPECT_EQ(t.other + t.fatal, 0u);
        EXPECT_EQ(t.transient, sim.injected().enomem) << "each injected ENOMEM failed one call";
        for (int f = 0; f < 2; ++f) {
            std::ifstream copy(dir.path / ("dst" + std::to_string(f)), std::ios::binary);
            const std::string bytes{std::istreambuf_iterator<char>(copy), {}};
            EXPECT_EQ(bytes, sources[f]) << "the copy is exact";
        }
        injected += sim.injected().enomem;
    }
    EXPECT_GT(injected, 0u);
}

TEST(SimulatedFaults, AcceptsAndNewSocketsUnderInjectedEMFILETakeEveryConnectionOnce) {
    constexpr int kClients = 16;
    std::uint64_t emfile = 0;
    for (std::uint64_t seed = 0; seed < kSeeds; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        corio::Simulated sim(with_faults(seed, 0, 0.1));
        corio::Io io = sim.io();
        Tally t;
        const std::string path = std::string(1, '\0') + "corio-sim-accept-" +
                                 std::to_string(::getpid()) + "-" + std::to_string(seed);
        // A socket a bind or a connect makes may fail with EMFILE too: made again.
        corio::UnixListener listener;
        for (;;) {
            try {
                listener = corio::UnixListener::bind(io, path);
                break;
            } catch (const std::system_error& e) {
                ASSERT_TRUE(t.retry(e.code())) << e.what();
            }
        }
        std::vector<int> ids;
        std::vector<corio::UnixStream> conns_held;
        conns_held.reserve(kClients);  // (never moves: the tasks refer to its elements)
        {
            corio::Group g{io};
            for (int c = 0; c < kClients; ++c)
                g.concurrent([&, io, c] {
                    corio::UnixStream s;
                    for (;;) {
                        std::error_code ec;
                        s = corio::UnixStream::connect(io, path, ec).await();
                        if (!ec) break;
                        ASSERT_TRUE(t.retry(ec)) << ec.message();
                    }
                    const std::string id(1, static_cast<char>('A' + c));
                    EXPECT_EQ(write_counted(io, s, id, t), 1u);
                });
            g.concurrent([&, io] {
                corio::Group conns{io};
                for (int accepted = 0; accepted < kClients;) {
                    std::error_code ec;
                    corio::UnixStream s = listener.accept(io, ec).await();
                    if (ec && t.retry(ec)) continue;
                    ASSERT_FALSE(ec) << ec.message();
                    ++accepted;
                    conns_held.push_back(std::move(s));
                    conns.concurrent([&, io, &c = conns_held.back()] {
                        const std::string got = read_counted(io, c, t);
                        for (char ch : got) ids.push_back(ch - 'A');
                    });
                }
                conns.wait();
            });
            g.wait();
        }
        EXPECT_EQ(t.other + t.fatal, 0u);
        EXPECT_EQ(t.transient, sim.injected().emfile + sim.injected().enomem);
        std::sort(ids.begin(), ids.end());
        std::vector<int> expected(kClients);
        for (int c = 0; c < kClients; ++c) expected[c] = c;
        EXPECT_EQ(ids, expected) << "every connection accepted once";
        emfile += sim.injected().emfile;
    }
    EXPECT_GT(emfile, 0u);
}

TEST(SimulatedFaults, ASocketThatCannotBeMadeIsTheErrorOfItsBindOrConnect) {
    corio::Simulated::Options o{.seed = 3};
    o.faults.emfile = 1.0;
    corio::Simulated sim(o);
    corio::Io io = sim.io();
    const std::string path = std::string(1, '\0') + "corio-sim-nosocket-" + std::to_string(::getpid());
    try {
        (void)corio::UnixListener::bind(io, path);
        ADD_FAILURE() << "bind made a socket";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::too_many_files_open) << e.what();
    }
    EXPECT_THROW((void)corio::TcpListener::bind(io, corio::Address::parse("127.0.0.1:0")),
                 std::system_error);
    std::error_code ec;
    corio::UnixStream s = corio::UnixStream::connect(io, path, ec).await();
    EXPECT_EQ(ec, std::errc::too_many_files_open);
    EXPECT_EQ(sim.injected().emfile, 3u);
}

}  // namespace
