// SPDX-License-Identifier: MIT
// Listeners on IoUring: a multishot accept takes connections ahead of the accepts, a closed
// listener's socket is gone when close returns, accepts and cancels race across workers
// without losing a connection, and a listener may outlive its backend.
#include "io_uring/support.hpp"

#include <corio/net.hpp>

#include <gtest/gtest.h>

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stop_token>
#include <string>
#include <vector>

namespace corio::test {
namespace {

using namespace std::chrono_literals;

bool kernel_has_multishot_accept() {
    utsname u{};
    unsigned major = 0;
    unsigned minor = 0;
    if (::uname(&u) != 0 || std::sscanf(u.release, "%u.%u", &major, &minor) != 2) return false;
    return major > 5 || (major == 5 && minor >= 19);
}

std::unique_ptr<IoUring> ring_or_skip(unsigned threads, bool multishot, std::string& why) {
    IoUring::Options o;
    o.threads = threads;
    o.multishot_accept = multishot;
    return make_ring(o, why);
}

template <class S>
std::string read_some(Io io, const S& s) {
    std::string buf(64, '\0');
    const std::size_t n = s.read(io, std::as_writable_bytes(std::span(buf))).await();
    return buf.substr(0, n);
}

/// Connections waiting in a listening TCP socket's accept queue in the kernel.
unsigned kernel_backlog(const TcpListener& l) {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(l.fd(), IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return ~0U;
    return info.tcpi_unacked;  // a listener's accept queue length
}

/// Whether a socket with inode `ino` is alive: listed in /proc/net/unix or /proc/net/tcp
/// (whose inode columns are the 7th and the 10th).
bool socket_alive(const char* table, std::size_t column, ino_t ino) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string field;
        for (std::size_t i = 0; i <= column && fields >> field; ++i) {
        }
        if (field == std::to_string(ino)) return true;
    }
    return false;
}

ino_t inode_of(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

class IoUringAccept : public ::testing::TestWithParam<bool> {
  protected:
    void SetUp() override {
        if (GetParam() && !kernel_has_multishot_accept())
            GTEST_SKIP() << "this kernel has no multishot accept (Linux 5.19)";
    }

    /// A backend with `threads` workers and multishot accept as the parameter says; false
    /// (with `why_` set) when the kernel refuses io_uring.
    bool start(unsigned threads) {
        ring_ = ring_or_skip(threads, GetParam(), why_);
        return ring_ != nullptr;
    }
    /// Also a TCP listener on it that accepted its first connection (which arms the multishot
    /// accept).
    bool serve(unsigned threads) {
        if (!start(threads)) return false;
        listener_ = TcpListener::bind(io(), Address::loopback(Address::Family::ipv4, 0));
        at_ = listener_.local_address();
        first_ = TcpStream::connect(io(), at_).await();
        served_ = listener_.accept(io()).await();
        return true;
    }
    Io io() { return ring_->io(); }

    std::unique_ptr<IoUring> ring_;  // destroyed last
    std::string why_;
    TcpListener listener_;
    Address at_;
    TcpStream first_;
    TcpStream served_;
};

TEST_P(IoUringAccept, ListenerTakesConnectionsAheadOnlyWithMultishot) {
    Watchdog dog("accept ahead", patience(30s));
    if (!serve(1)) GTEST_SKIP() << why_;
    Io io = this->io();
    TcpListener& listener = listener_;
    const Address at = at_;
    std::vector<TcpStream> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(TcpStream::connect(io, at).await());
    if (GetParam()) {
        // The worker's multishot accept empties the kernel's queue without an accept waiting.
        const auto deadline = std::chrono::steady_clock::now() + patience(10s);
        while (kernel_backlog(listener) != 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
        EXPECT_EQ(kernel_backlog(listener), 0U);
    } else {
        std::this_thread::sleep_for(20ms);
        EXPECT_EQ(kernel_backlog(listener), 3U) << "nothing accepts without an accept waiting";
    }
    for (int i = 0; i < 3; ++i) {
        TcpStream conn = listener.accept(io).await();
        const std::string id(1, static_cast<char>('0' + i));
        (void)clients[static_cast<std::size_t>(i)].write_all(io, id).await();
        EXPECT_EQ(read_some(io, conn), id) << "in the order they came";
    }
}

TEST_P(IoUringAccept, ClosedListenerSocketIsGoneWhenCloseReturns) {
    Watchdog dog("close listener", patience(30s));
    if (!start(2)) GTEST_SKIP() << why_;
    Io io = this->io();
    for (int round = 0; round < 20; ++round) {
        // From a task on a worker and from this thread, alternately.
        auto body = [&] {
            TcpListener tcp = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
            TcpStream c = TcpStream::connect(io, tcp.local_address()).await();
            TcpStream s = tcp.accept(io).await();
            TcpStream queued = TcpStream::connect(io, tcp.local_address()).await();
            const ino_t tcp_ino = inode_of(tcp.fd());
            ASSERT_TRUE(socket_alive("/proc/net/tcp", 9, tcp_ino));
            tcp.close(io).await();
            EXPECT_FALSE(socket_alive("/proc/net/tcp", 9, tcp_ino));

            const std::string name = std::string(1, '\0') + "corio-accept-test-" +
                                     std::to_string(::getpid()) + "-" + std::to_string(round);
            UnixListener unix_l = UnixListener::bind(io, name);
            UnixStream uc = UnixStream::connect(io, name).await();
            UnixStream us = unix_l.accept(io).await();
            const ino_t unix_ino = inode_of(unix_l.fd());
            ASSERT_TRUE(socket_alive("/proc/net/unix", 6, unix_ino));
            unix_l.close(io).await();
            EXPECT_FALSE(socket_alive("/proc/net/unix", 6, unix_ino));
            UnixListener again = UnixListener::bind(io, name);  // the name is free
        };
        if (round % 2 == 0)
            io.async(body).await();
        else
            body();
    }
}

TEST_P(IoUringAccept, ACloseThatIsCancelledBeforeItStartsStillCloses) {
    Watchdog dog("cancelled close", patience(30s));
    if (!start(1)) GTEST_SKIP() << why_;
    Io io = this->io();
    const std::string name =
        std::string(1, '\0') + "corio-cancelled-close-" + std::to_string(::getpid());
    UnixListener l = UnixListener::bind(io, name);
    UnixStream c = UnixStream::connect(io, name).await();
    UnixStream s = l.accept(io).await();
    const ino_t ino = inode_of(l.fd());
    std::stop_source stopped;
    stopped.request_stop();
    auto closing = io.async_with(stopped.get_token(), [&] { l.close(io).await(); });
    EXPECT_THROW(closing.await(), Canceled);
    EXPECT_FALSE(l.is_open());
    // Closed all the same: the socket goes once the ring saw its accept cancelled.
    const auto deadline = std::chrono::steady_clock::now() + patience(10s);
    while (socket_alive("/proc/net/unix", 6, ino) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    EXPECT_FALSE(socket_alive("/proc/net/unix", 6, ino));
}

TEST_P(IoUringAccept, OnALoopTheCallerDrives) {
    // threads = 0: the ring's CQEs are reaped only while this thread waits in an operation.
    Watchdog dog("caller-driven accepts", patience(30s));
    if (!serve(0)) GTEST_SKIP() << why_;
    Io io = this->io();
    std::vector<TcpStream> clients;
    for (int i = 0; i < 5; ++i) clients.push_back(TcpStream::connect(io, at_).await());
    for (int i = 0; i < 5; ++i) {
        TcpStream conn = listener_.accept(io).await();
        const std::string id(1, static_cast<char>('0' + i));
        (void)clients[static_cast<std::size_t>(i)].write_all(io, id).await();
        EXPECT_EQ(read_some(io, conn), id);
    }
    auto waiting = io.concurrent([&] { return listener_.accept(io).await(); });
    TcpStream late = TcpStream::connect(io, at_).await();
    EXPECT_TRUE(waiting.await().is_open());
    const ino_t ino = inode_of(listener_.fd());
    listener_.close(io).await();  // drives the ring until the multishot accept ended
    EXPECT_FALSE(socket_alive("/proc/net/tcp", 9, ino));
}

TEST_P(IoUringAccept, ClosingAListenerFailsTheAcceptsWaitingOnIt) {
    if (!GetParam()) GTEST_SKIP() << "a single-shot accept holds the socket until it completes";
    Watchdog dog("accepts on a closed listener", patience(30s));
    if (!start(2)) GTEST_SKIP() << why_;
    Io io = this->io();
    TcpListener listener = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
    std::vector<Future<bool>> waiting;
    for (int i = 0; i < 3; ++i)
        waiting.push_back(io.concurrent([&] {
            try {
                (void)listener.accept(io).await();
                return false;
            } catch (const std::system_error& e) {
                return e.code() == std::errc::bad_file_descriptor;
            }
        }));
    for (auto& w : waiting)
        while (w.task() == nullptr || w.task()->wait_kind.load() != detail::WaitKind::io)
            std::this_thread::sleep_for(1ms);
    listener.close(io).await();
    for (auto& w : waiting) EXPECT_TRUE(w.await()) << "an accept on a closed listener: EBADF";
}

TEST_P(IoUringAccept, AcceptsAndCancelsRacingAcrossWorkersLoseNoConnection) {
    Watchdog dog("accept and cancel races", patience(120s));
    if (!start(2)) GTEST_SKIP() << why_;
    Io io = this->io();
    TcpListener listener = TcpListener::bind(io, Address::loopback(Address::Family::ipv4, 0));
    const Address at = listener.local_address();
    const std::size_t rounds = scaled(400);
    for (std::size_t i = 0; i < rounds; ++i) {
        auto acceptor = io.concurrent([&] { return listener.accept(io).await(); });
        TcpStream client;
        if (i % 4 != 0) client = TcpStream::connect(io, at).await();  // before the cancel
        TcpStream conn;
        if (i % 2 == 0) {
            try {
                conn = std::move(acceptor.cancel());
            } catch (const Canceled&) {
            }
        } else {
            conn = std::move(acceptor.await());
        }
        if (!client.is_open()) client = TcpStream::connect(io, at).await();  // after it
        if (!conn.is_open()) conn = listener.accept(io).await();  // the same one, kept
        const std::string id = std::to_string(i);
        (void)client.write_all(io, id).await();
        ASSERT_EQ(read_some(io, conn), id) << "round " << i;
    }
}

TEST_P(IoUringAccept, ListenerMayOutliveItsBackend) {
    Watchdog dog("listener after its backend", patience(30s));
    if (!serve(1)) GTEST_SKIP() << why_;
    TcpListener& listener = listener_;
    const Address at = at_;
    std::vector<int> clients;
    for (int i = 0; i < 2; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_EQ(::connect(fd, at.data(), at.size()), 0);
        clients.push_back(fd);
    }
    const auto deadline = std::chrono::steady_clock::now() + patience(10s);
    while (GetParam() && kernel_backlog(listener) != 0 &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    ring_.reset();
    if (GetParam()) {
        // The connections it took ahead went with the backend: their clients see the end.
        for (int fd : clients) {
            pollfd p{fd, POLLIN, 0};
            ASSERT_EQ(::poll(&p, 1, 10'000), 1) << "the connection was not ended";
            char b = 0;
            const ssize_t n = ::recv(fd, &b, 1, MSG_DONTWAIT);
            EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET));
        }
    }
    for (int fd : clients) ::close(fd);
    // Still a socket: its options and name work, and destroying it later is harmless.
    EXPECT_EQ(listener.local_address(), at);
}

INSTANTIATE_TEST_SUITE_P(Multishot, IoUringAccept, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Multishot" : "SingleShot"; });

}  // namespace
}  // namespace corio::test
