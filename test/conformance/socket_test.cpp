// SPDX-License-Identifier: MIT
// Sockets on every backend (on Simulated, over real loopback sockets used without blocking: a
// call that would block is a simulated wait): TCP over IPv4 and IPv6 loopback, Unix streams,
// UDP; faults (refused, reset, broken pipe, EMFILE in an accept loop); cancellation before,
// during and after each wait.
#include "conformance/harness.hpp"

#include <corio/file.hpp>
#include <corio/net.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace corio::test {
namespace {

using namespace std::chrono_literals;

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s)); }
std::span<std::byte> writable(std::string& s) { return std::as_writable_bytes(std::span(s)); }

/// Reads from `s` until `n` bytes came or the stream ended.
template <class S>
std::string read_n(Io io, const S& s, std::size_t n) {
    std::string out;
    std::string buf(4096, '\0');
    while (out.size() < n) {
        const std::size_t got = s.read(io, writable(buf)).await();
        if (got == 0) break;
        out.append(buf, 0, got);
    }
    return out;
}

/// Echoes one connection until its peer shuts down; returns the bytes echoed.
template <class S>
std::size_t echo(Io io, S conn) {
    std::string buf(4096, '\0');
    std::size_t total = 0;
    for (;;) {
        const std::size_t n = conn.read(io, writable(buf)).await();
        if (n == 0) return total;
        (void)conn.write_all(io, std::string_view(buf).substr(0, n)).await();
        total += n;
    }
}

CORIO_CONFORMANCE_SUITE(SocketTest);

TEST_P(SocketTest, TcpEchoOverIpv4Loopback) {
    run([&](Io io) {
        TcpListener listener = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
        const Address at = listener.local_address();
        EXPECT_TRUE(at.is_loopback());
        EXPECT_NE(at.port(), 0);
        auto server = io.concurrent([&] {
            TcpStream conn = listener.accept(io).await();
            EXPECT_EQ(conn.local_address(), at);
            return echo(io, std::move(conn));
        });
        TcpStream client = TcpStream::connect(io, at).await();
        client.set_nodelay(true);
        EXPECT_EQ(client.option(IPPROTO_TCP, TCP_NODELAY), 1);
        client.set_keepalive(true);
        EXPECT_EQ(client.peer_address(), at);
        const std::string msg(100000, 'e');
        EXPECT_EQ(client.write_all(io, msg).await(), msg.size());
        EXPECT_EQ(read_n(io, client, msg.size()), msg);
        client.shutdown(io).await();
        EXPECT_EQ(server.await(), msg.size());
        std::string buf(8, '\0');
        EXPECT_EQ(client.read(io, writable(buf)).await(), 0U) << "the server closed";
        client.close(io).await();
    });
}

TEST_P(SocketTest, TcpOverIpv6LoopbackWithVectoredIo) {
    run([&](Io io) {
        TcpListener listener;
        try {
            listener = TcpListener::bind(io, Address::loopback(Address::Family::ipv6, 0));
        } catch (const std::system_error& e) {
            GTEST_SKIP() << "no IPv6 loopback: " << e.what();
        }
        auto server = io.concurrent([&] { return echo(io, listener.accept(io).await()); });
        TcpStream client = TcpStream::connect(io, listener.local_address()).await();
        EXPECT_EQ(client.peer_address().family(), Address::Family::ipv6);
        std::string a = "gather", b = "ed";
        std::array<iovec, 2> out{iovec{a.data(), a.size()}, iovec{b.data(), b.size()}};
        EXPECT_EQ(client.writev(io, out).await(), 8U);
        std::string x(3, '\0'), y(5, '\0');
        std::array<iovec, 2> in{iovec{x.data(), x.size()}, iovec{y.data(), y.size()}};
        const std::size_t got = client.readv(io, in).await();
        ASSERT_GT(got, 0U);
        std::string all = (x + y).substr(0, got);
        all += read_n(io, client, 8 - got);  // a short read leaves the rest for the next
        EXPECT_EQ(all, "gathered");
        client.shutdown(io).await();
        EXPECT_EQ(server.await(), 8U);
    });
}

TEST_P(SocketTest, CoroutineServerAndClient) {
    run([&](Io io) {
        TcpListener listener = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
        auto serve = [](Io io, const TcpListener& l) -> Task<std::size_t> {
            TcpStream conn = co_await l.accept(io);
            std::array<std::byte, 512> buf;
            std::size_t total = 0;
            for (;;) {
                const std::size_t n = co_await conn.read(io, buf);
                if (n == 0) co_return total;
                co_await conn.write_all(io, std::span(buf).first(n));
                total += n;
            }
        };
        auto client = [](Io io, Address at) -> Task<std::string> {
            TcpStream s = co_await TcpStream::connect(io, at);
            co_await s.write_all(io, "ping from a coroutine");
            co_await s.shutdown(io);
            std::string out, buf(64, '\0');
            for (;;) {
                const std::size_t n = co_await s.read(io, writable(buf));
                if (n == 0) co_return out;
                out.append(buf, 0, n);
            }
        };
        auto server = io.concurrent(serve, io, std::cref(listener));
        EXPECT_EQ(io.concurrent(client, io, listener.local_address()).await(),
                  "ping from a coroutine");
        EXPECT_EQ(server.await(), 21U);
    });
}

TEST_P(SocketTest, AcceptCancelledBeforeDuringAndAfter) {
    run([&](Io io) {
        TcpListener listener = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
        // Before: no connection is taken from the queue.
        auto before = start_cancelled(io, [&] { return listener.accept(io).await(); });
        EXPECT_THROW((void)before.await(), Canceled);
        // During.
        auto during = io.concurrent([&] { return listener.accept(io).await(); });
        ASSERT_TRUE(parked_on(io, during, detail::WaitKind::io));
        EXPECT_THROW((void)during.cancel(), Canceled);
        // After: the accepted connection is kept, not dropped.
        TcpStream client = TcpStream::connect(io, listener.local_address()).await();
        auto after = io.concurrent([&] { return listener.accept(io).await(); });
        EXPECT_TRUE(after.await().is_open());
        TcpStream conn = std::move(after.cancel());  // idempotent: the same connection
        EXPECT_TRUE(conn.is_open());
        (void)client.write_all(io, "x").await();
        EXPECT_EQ(read_n(io, conn, 1), "x");
    });
}

TEST_P(SocketTest, SeveralAcceptorsOnOneListenerTakeEachConnectionOnce) {
    run([&](Io io) {
        TcpListener listener = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
        const Address at = listener.local_address();
        std::mutex m;
        std::string seen;
        auto acceptor = [&] {
            for (;;) {
                TcpStream conn = listener.accept(io).await();  // Canceled ends it
                const std::string id = read_n(io, conn, 1);
                {
                    std::lock_guard lock(m);
                    seen += id;
                }
                (void)conn.write_all(io, id).await();
            }
        };
        std::vector<Future<void>> acceptors;
        for (int i = 0; i < 4; ++i) acceptors.push_back(io.concurrent(acceptor));
        std::string sent;
        for (int i = 0; i < 12; ++i) {
            TcpStream c = TcpStream::connect(io, at).await();
            const std::string id(1, static_cast<char>('a' + i));
            (void)c.write_all(io, id).await();
            EXPECT_EQ(read_n(io, c, 1), id);
            sent += id;
        }
        for (auto& a : acceptors) EXPECT_THROW(a.cancel(), Canceled);
        std::sort(seen.begin(), seen.end());
        EXPECT_EQ(seen, sent);
        // The cancelled acceptors took nothing with them: the next accept has the next client.
        TcpStream c = TcpStream::connect(io, at).await();
        TcpStream conn = listener.accept(io).await();
        (void)c.write_all(io, "next").await();
        EXPECT_EQ(read_n(io, conn, 4), "next");
    });
}

TEST_P(SocketTest, ConnectionsArrivingBetweenAcceptsWaitInOrder) {
    run([&](Io io) {
        TcpListener listener = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
        const Address at = listener.local_address();
        TcpStream first = TcpStream::connect(io, at).await();
        EXPECT_TRUE(listener.accept(io).await().is_open());
        // More than a listener takes ahead on any backend, while nobody accepts.
        constexpr int n = 100;
        std::vector<TcpStream> clients;
        for (int i = 0; i < n; ++i) {
            clients.push_back(TcpStream::connect(io, at).await());
            (void)clients.back().write_all(io, std::to_string(1000 + i)).await();
        }
        for (int i = 0; i < n; ++i) {
            TcpStream conn = listener.accept(io).await();
            EXPECT_EQ(read_n(io, conn, 4), std::to_string(1000 + i));
        }
    });
}

TEST_P(SocketTest, ClosingAListenerResetsWhatWaitedAndFreesItsAddress) {
    run([&](Io io) {
        TcpListener listener = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
        const Address at = listener.local_address();
        TcpStream first = TcpStream::connect(io, at).await();
        TcpStream served = listener.accept(io).await();
        std::vector<TcpStream> waiting;
        for (int i = 0; i < 3; ++i) waiting.push_back(TcpStream::connect(io, at).await());
        io.sleep(2ms).await();  // taken ahead by now where a backend does that
        listener.close(io).await();
        EXPECT_FALSE(listener.is_open());
        for (auto& c : waiting) {
            std::error_code ec;
            std::string buf(8, '\0');
            const std::size_t got = c.read(io, writable(buf), ec).await();
            EXPECT_TRUE(got == 0 && (!ec || ec == std::errc::connection_reset)) << ec.message();
        }
        // Refused at once, and the port is free for a new listener.
        std::error_code refused;
        (void)TcpStream::connect(io, at, refused).await();
        EXPECT_EQ(refused, std::errc::connection_refused);
        TcpListener again = TcpListener::bind(io, at);
        TcpStream c = TcpStream::connect(io, at).await();
        TcpStream conn = again.accept(io).await();
        (void)c.write_all(io, "again").await();
        EXPECT_EQ(read_n(io, conn, 5), "again");
        (void)served.write_all(io, "old").await();  // the connection served before goes on
        EXPECT_EQ(read_n(io, first, 3), "old");

        // A Unix listener's abstract name is free once close returns.
        using namespace std::string_literals;
        const std::string name = "\0corio-relisten-"s + std::to_string(::getpid());
        for (int round = 0; round < 3; ++round) {
            UnixListener l = UnixListener::bind(io, name);
            UnixStream uc = UnixStream::connect(io, name).await();
            UnixStream us = l.accept(io).await();
            UnixStream extra = UnixStream::connect(io, name).await();
            io.sleep(1ms).await();
            l.close(io).await();
            (void)uc.write_all(io, "u").await();
            EXPECT_EQ(read_n(io, us, 1), "u");
        }
    });
}

TEST_P(SocketTest, RecvLendLendsItsBufferUntilTheCallerGivesItBack) {
    run([&](Io io) {
        std::pair<UnixStream, UnixStream> p = UnixStream::pair();
        UnixStream& a = p.first;
        UnixStream& b = p.second;
        (void)a.write_all(io, "first").await();
        LentBuffer one = b.recv_lend(io).await();
        EXPECT_EQ(one.text(), "first");
        (void)a.write_all(io, "second").await();
        LentBuffer two = b.recv_lend(io).await();  // while the first is still lent
        EXPECT_EQ(two.text(), "second");
        EXPECT_EQ(one.text(), "first");
        one.give_back();
        EXPECT_TRUE(one.empty());
        LentBuffer moved = std::move(two);
        EXPECT_TRUE(two.empty());
        EXPECT_EQ(moved.text(), "second");

        // It waits for the bytes.
        auto later = io.concurrent([&] { return b.recv_lend(io).await(); });
        ASSERT_TRUE(parked_on(io, later, detail::WaitKind::io));
        (void)a.write_all(io, "later").await();
        EXPECT_EQ(later.await().text(), "later");

        // Cancelled before and during the wait, it takes nothing.
        auto before = start_cancelled(io, [&] { return b.recv_lend(io).await(); });
        EXPECT_THROW((void)before.await(), Canceled);
        auto during = io.concurrent([&] { return b.recv_lend(io).await(); });
        ASSERT_TRUE(parked_on(io, during, detail::WaitKind::io));
        EXPECT_THROW((void)during.cancel(), Canceled);
        (void)a.write_all(io, "kept").await();
        EXPECT_EQ(b.recv_lend(io).await().text(), "kept");

        // A large transfer comes whole, in many lent buffers.
        std::string big(200000, '\0');
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
        auto writer = io.concurrent([&] { return a.write_all(io, big).await(); });
        std::string got;
        while (got.size() < big.size()) {
            LentBuffer chunk = b.recv_lend(io).await();
            ASSERT_FALSE(chunk.empty());
            got += chunk.text();
        }
        EXPECT_EQ(writer.await(), big.size());
        EXPECT_EQ(got, big);

        // The end of the stream, and a closed socket.
        a.shutdown(io).await();
        EXPECT_TRUE(b.recv_lend(io).await().empty());
        b.close(io).await();
        std::error_code ec;
        EXPECT_TRUE(b.recv_lend(io, ec).await().empty());
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        EXPECT_THROW((void)b.recv_lend(io).await(), UsageError);
    });
}

TEST_P(SocketTest, ReadCancelledWhileItWaitsLosesNothing) {
    run([&](Io io) {
        auto [a, b] = UnixStream::pair();
        auto reader = io.concurrent([&] {
            std::string buf(8, '\0');
            return a.read(io, writable(buf)).await();
        });
        ASSERT_TRUE(parked_on(io, reader, detail::WaitKind::io));
        EXPECT_THROW((void)reader.cancel(), Canceled);
        (void)b.write_all(io, "kept").await();
        EXPECT_EQ(read_n(io, a, 4), "kept");
    });
}

TEST_P(SocketTest, ConnectRefusedNamesTheFailure) {
    run([&](Io io) {
        Address at;
        {
            TcpListener l = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
            at = l.local_address();
        }  // closed: nothing listens there now
        try {
            (void)TcpStream::connect(io, at).await();
            ADD_FAILURE() << "connected to a closed port";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::connection_refused);
            EXPECT_NE(std::string(e.what()).find(at.to_string()), std::string::npos) << e.what();
        }
        std::error_code ec;
        TcpStream s = TcpStream::connect(io, at, ec).await();
        EXPECT_EQ(ec, std::errc::connection_refused);
        EXPECT_FALSE(s.is_open());
    });
}

TEST_P(SocketTest, ConnectThatCannotCompleteTimesOut) {
    run([&](Io io) {
        // A listener that never accepts, with a full queue: the next SYN is dropped and the
        // connect waits for a retransmission that is dropped again.
        TcpListener l = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0),
                                          {.backlog = 0});
        std::vector<TcpStream> filling;
        bool blocked = false;
        for (int i = 0; i < 16 && !blocked; ++i) {
            try {
                filling.push_back(
                    with_timeout(io, 200ms, TcpStream::connect(io, l.local_address())).await());
            } catch (const Timeout&) {
                blocked = true;
            }
        }
        EXPECT_TRUE(blocked) << "every connect completed: the accept queue never filled";
    });
}

TEST_P(SocketTest, PeerResetAndBrokenPipeAreErrorsNotSignals) {
    run([&](Io io) {
        TcpListener listener = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
        TcpStream client = TcpStream::connect(io, listener.local_address()).await();
        TcpStream conn = listener.accept(io).await();
        // An abortive close: the peer gets a reset.
        const linger hard{1, 0};
        ASSERT_EQ(::setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
        client = TcpStream();
        std::string buf(8, '\0');
        std::error_code ec;
        (void)conn.read(io, writable(buf), ec).await();
        EXPECT_EQ(ec, std::errc::connection_reset);

        // A write to a peer that closed: EPIPE or ECONNRESET, after some bytes or none.
        TcpStream c2 = TcpStream::connect(io, listener.local_address()).await();
        TcpStream s2 = listener.accept(io).await();
        c2 = TcpStream();
        const std::string big(4 << 20, 'w');
        try {
            (void)s2.write_all(io, big).await();
            (void)s2.write_all(io, big).await();
            ADD_FAILURE() << "wrote 8 MiB to a closed peer";
        } catch (const IoError& e) {
            EXPECT_GT(e.transferred(), 0U);
            EXPECT_TRUE(e.code() == std::errc::broken_pipe ||
                        e.code() == std::errc::connection_reset)
                << e.what();
        } catch (const std::system_error& e) {
            EXPECT_TRUE(e.code() == std::errc::broken_pipe ||
                        e.code() == std::errc::connection_reset)
                << e.what();
        }
    });
}

TEST_P(SocketTest, AcceptLoopSurvivesRunningOutOfDescriptors) {
    run([&](Io io) {
        TcpListener listener = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
        TcpStream client = TcpStream::connect(io, listener.local_address()).await();
        rlimit old{};
        ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
        // Lower the limit to just above the descriptors open now, then take the rest.
        int highest = ::dup(0);
        ASSERT_GE(highest, 0);
        ::close(highest);
        rlimit low = old;
        low.rlim_cur = static_cast<rlim_t>(highest + 8);
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
        std::vector<int> hog;
        for (int fd; (fd = ::dup(0)) >= 0;) hog.push_back(fd);
        ASSERT_EQ(errno, EMFILE);
        std::error_code ec;
        TcpStream none = listener.accept(io, ec).await();
        EXPECT_EQ(ec, std::errc::too_many_files_open);
        EXPECT_FALSE(none.is_open());
        ::close(hog.back());
        hog.pop_back();
        TcpStream conn = listener.accept(io).await();  // the same connection, still queued
        for (int fd : hog) ::close(fd);
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
        (void)client.write_all(io, "still here").await();
        EXPECT_EQ(read_n(io, conn, 10), "still here");
    });
}

TEST_P(SocketTest, UnixStreamsByPathAndAbstractAddress) {
    run([&](Io io) {
        const std::string dir = ::testing::TempDir();
        const std::string path = dir + "corio-unix-" + std::to_string(::getpid()) + ".sock";
        ::unlink(path.c_str());
        UnixListener listener = UnixListener::bind(io, path);
        auto server = io.concurrent([&] { return echo(io, listener.accept(io).await()); });
        UnixStream client = UnixStream::connect(io, path).await();
        (void)client.write_all(io, "over a path").await();
        EXPECT_EQ(read_n(io, client, 11), "over a path");
        client.shutdown(io).await();
        EXPECT_EQ(server.await(), 11U);
        ::unlink(path.c_str());

        using namespace std::string_literals;
        const std::string abstract = "\0corio-abstract-"s + std::to_string(::getpid());
        UnixListener l2 = UnixListener::bind(io, abstract);
        auto s2 = io.concurrent([&] { return echo(io, l2.accept(io).await()); });
        UnixStream c2 = UnixStream::connect(io, abstract).await();
        (void)c2.write_all(io, "abstract").await();
        EXPECT_EQ(read_n(io, c2, 8), "abstract");
        c2.shutdown(io).await();
        EXPECT_EQ(s2.await(), 8U);

        EXPECT_THROW((void)UnixStream::connect(io, std::string(200, 'p')).await(), std::system_error);
        EXPECT_THROW((void)UnixListener::bind(io, ""), UsageError);
        try {
            (void)UnixStream::connect(io, dir + "no-such-socket").await();
            ADD_FAILURE();
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
        }
        std::error_code ec;
        UnixStream none = UnixStream::connect(io, dir + "no-such-socket", ec).await();
        EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
        EXPECT_FALSE(none.is_open());
        UnixStream too_long = UnixStream::connect(io, std::string(200, 'p'), ec).await();
        EXPECT_EQ(ec, std::errc::filename_too_long);
        EXPECT_FALSE(too_long.is_open());
    });
}

TEST_P(SocketTest, UdpDatagramsAndACancelledReceive) {
    run([&](Io io) {
        UdpSocket a = UdpSocket::bind(io, Address::loopback(Address::Family::ipv4, 0));
        UdpSocket b = UdpSocket::bind(io, Address::loopback(Address::Family::ipv4, 0));
        EXPECT_EQ(a.send_to(io, bytes_of("datagram"), b.local_address()).await(), 8U);
        std::string buf(64, '\0');
        const Datagram d = b.recv_from(io, writable(buf)).await();
        EXPECT_EQ(d.size, 8U);
        EXPECT_EQ(buf.substr(0, d.size), "datagram");
        EXPECT_EQ(d.from, a.local_address());

        auto waiting = io.concurrent([&] {
            std::string tmp(64, '\0');
            return b.recv_from(io, writable(tmp)).await().size;
        });
        ASSERT_TRUE(parked_on(io, waiting, detail::WaitKind::io));
        EXPECT_THROW((void)waiting.cancel(), Canceled);
        EXPECT_EQ(a.send_to(io, bytes_of("next"), b.local_address()).await(), 4U);
        EXPECT_EQ(b.recv_from(io, writable(buf)).await().size, 4U) << "the cancelled receive took nothing";
        EXPECT_THROW((void)b.recv_from(io, std::span<std::byte>()).await(), UsageError);
        std::error_code ec;
        EXPECT_EQ(b.recv_from(io, std::span<std::byte>(), ec).await().size, 0U);
        EXPECT_EQ(ec, std::errc::invalid_argument);
        EXPECT_EQ(a.send_to(io, bytes_of("x"), b.local_address(), ec).await(), 1U);
        EXPECT_FALSE(ec);
        UdpSocket closed;
        (void)closed.send_to(io, bytes_of("x"), b.local_address(), ec).await();
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        auto [p, q] = UnixStream::pair();
        p.shutdown(io, Shutdown::both, ec).await();
        EXPECT_FALSE(ec);
        std::array<iovec, 1> none{iovec{nullptr, 0}};
        EXPECT_EQ(q.readv(io, none, ec).await(), 0U);
        EXPECT_EQ(ec, std::errc::invalid_argument) << "a scattered read into nothing";
    });
}

TEST_P(SocketTest, BindErrorsNameTheAddress) {
    run([&](Io io) {
        TcpListener l = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
        try {
            (void)TcpListener::bind(io, l.local_address(), {.reuse_address = false});
            ADD_FAILURE() << "bound a port in use";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::address_in_use);
            EXPECT_NE(std::string(e.what()).find(l.local_address().to_string()), std::string::npos);
        }
        // Two listeners on one port with SO_REUSEPORT.
        TcpListener p1 = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0),
                                           {.reuse_port = true});
        TcpListener p2 = TcpListener::bind(io, p1.local_address(), {.reuse_port = true});
        EXPECT_EQ(p1.local_address(), p2.local_address());
    });
}

}  // namespace
}  // namespace corio::test

namespace corio::test {
namespace {

// resolve runs on every backend (on Simulated, at once).
CORIO_CONFORMANCE_SUITE(ResolveTest);

TEST_P(ResolveTest, NamesAndNumericAddresses) {
    run([&](Io io) {
        const std::vector<Address> local = resolve(io, "localhost", 8080).await();
        ASSERT_FALSE(local.empty());
        for (const Address& a : local) {
            EXPECT_TRUE(a.is_loopback()) << a.to_string();
            EXPECT_EQ(a.port(), 8080);
        }
        const std::vector<Address> v4 = resolve(io, "127.0.0.1", 7).await();
        ASSERT_EQ(v4.size(), 1U);
        EXPECT_EQ(v4[0], Address::parse("127.0.0.1:7"));
        const std::vector<Address> v6 = resolve(io, "::1", 7).await();
        ASSERT_EQ(v6.size(), 1U);
        EXPECT_EQ(v6[0], Address::parse("[::1]:7"));
        auto coro = [](Io io) -> Task<std::size_t> {
            co_return (co_await resolve(io, "localhost", 1)).size();
        };
        EXPECT_EQ(io.async(coro, io).await(), local.size());
    });
}

TEST_P(ResolveTest, ANameThatDoesNotResolveSaysSo) {
    run([&](Io io) {
        try {
            (void)resolve(io, "no-such-host.invalid", 80).await();
            ADD_FAILURE() << "resolved a name in .invalid";
        } catch (const std::system_error& e) {
            EXPECT_NE(std::string(e.what()).find("no-such-host.invalid"), std::string::npos)
                << e.what();
        }
    });
}

TEST_P(ResolveTest, CancelledBeforeAndRacingItsLookup) {
    run([&](Io io) {
        auto before = start_cancelled(io, [io] { return resolve(io, "localhost", 1).await().size(); });
        EXPECT_THROW((void)before.await(), Canceled);
        // A cancel racing the lookup: either the result or Canceled, never a hang or a crash,
        // and a lookup left behind finishes by itself.
        int results = 0, cancels = 0;
        for (std::size_t i = 0; i < scaled(100); ++i) {
            auto f = io.async([io] { return resolve(io, "localhost", 1).await().size(); });
            try {
                results += f.cancel() > 0 ? 1 : 0;
            } catch (const Canceled&) {
                ++cancels;
            }
        }
        EXPECT_EQ(results + cancels, static_cast<int>(scaled(100)));
    });
}

}  // namespace
}  // namespace corio::test
