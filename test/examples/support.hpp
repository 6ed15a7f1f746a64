// SPDX-License-Identifier: MIT
// What the example servers' tests share: a backend by name, a server run in-process by an
// example's accept loop, and a plain POSIX client that never passes through the runtime.
#pragma once

#include "accept_loop.hpp"

#include <corio/corio.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace example::test {

using namespace std::chrono_literals;

/// The backends the servers run on.
enum class BackendKind : unsigned char { threaded, io_uring };

inline const char* name(BackendKind k) {
    return k == BackendKind::threaded ? "Threaded" : "IoUring";
}

/// A backend of kind `k` that starts at most `concurrent_limit` concurrent tasks; nullptr with
/// `why` set when the kernel refuses io_uring here.
inline std::unique_ptr<corio::Backend> make_backend(
    BackendKind k, std::string& why, std::size_t concurrent_limit = corio::Threaded::unlimited) {
    if (k == BackendKind::threaded) {
        corio::Threaded::Options o;
        o.concurrent_limit = concurrent_limit;
        return std::make_unique<corio::Threaded>(o);
    }
    corio::IoUring::Options o;
    o.threads = 1;
    o.concurrent_limit = concurrent_limit;
    try {
        return std::make_unique<corio::IoUring>(o);
    } catch (const std::system_error& e) {
        why = e.what();
        return nullptr;
    }
}

/// How a server's accept loop runs: `accept_fibers` (plain code, as http_server) or
/// `accept_tasks` (a coroutine, as echo_server).
enum class LoopKind : unsigned char { fibers, tasks };

/// A server on 127.0.0.1 (a free port) whose accept loop runs `serve` for each connection.
/// `stop()` ends it as the examples' main does.
class Server {
  public:
    template <class Serve>
    Server(corio::Io io, LoopKind kind, Serve serve)
        : listener_(corio::TcpListener::bind(
              io, corio::Address::loopback(corio::Address::Family::ipv4, 0))),
          connections_(io, corio::Group::isolate) {
        if (kind == LoopKind::fibers)
            acceptor_.emplace(io.concurrent(accept_fibers<Serve>, io, std::cref(listener_),
                                            std::ref(connections_), serve, std::ref(log_)));
        else
            acceptor_.emplace(io.concurrent(accept_tasks<Serve>, io, std::cref(listener_),
                                            std::ref(connections_), serve, std::ref(log_)));
    }
    ~Server() { (void)stop(); }

    [[nodiscard]] std::uint16_t port() const { return listener_.local_address().port(); }
    [[nodiscard]] const AcceptLog& log() const noexcept { return log_; }
    [[nodiscard]] corio::Group& connections() noexcept { return connections_; }

    /// Cancels the accept loop and the connections: what the loop ended with other than its
    /// cancellation ("" when it ended cleanly).
    std::string stop() {
        std::string ended;
        if (acceptor_) {
            try {
                acceptor_->cancel();
            } catch (const corio::Canceled&) {
            } catch (const std::exception& e) {
                ended = e.what();
            }
            acceptor_.reset();
            connections_.cancel();
        }
        return ended;
    }

    /// Waits up to `patience` for every connection task to end.
    bool wait_idle(std::chrono::milliseconds patience) {
        const auto until = std::chrono::steady_clock::now() + patience;
        while (connections_.size() != 0) {
            if (std::chrono::steady_clock::now() > until) return false;
            ::usleep(5000);
        }
        return true;
    }

  private:
    corio::TcpListener listener_;
    corio::Group connections_;
    AcceptLog log_{"test"};
    std::optional<corio::Future<void>> acceptor_;
};

/// A blocking TCP client to 127.0.0.1: plain system calls, so it neither needs the runtime nor
/// passes its fault injection sites.
class Client {
  public:
    /// Connects to `port`; a `rcvbuf` other than 0 sets SO_RCVBUF first.
    explicit Client(std::uint16_t port, int rcvbuf = 0) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
        if (rcvbuf != 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::system_error(errno, std::generic_category(), "connect");
    }
    ~Client() { close(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    [[nodiscard]] int fd() const noexcept { return fd_; }

    /// Sends every byte: false when the server closed or reset the connection first.
    bool send_all(std::string_view s) {
        while (!s.empty()) {
            const ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    /// Sends what the socket takes without waiting: the count (0 when it takes nothing now),
    /// or -1 when the connection is closed or reset.
    ssize_t send_some(std::string_view s) {
        const ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        return n;
    }

    /// What a read up to the server's close gave.
    struct Received {
        std::string bytes;
        bool closed = false;  // the server closed (or reset) the connection within the patience
    };
    /// Reads until the server closes the connection or `patience` passes.
    Received read_until_closed(std::chrono::milliseconds patience) { return read(0, patience); }
    /// Reads `n` bytes, or what came within `patience`.
    std::string read_n(std::size_t n, std::chrono::milliseconds patience) {
        return read(n, patience).bytes;
    }
    /// Whether the server closed its side: the socket's TCP state left ESTABLISHED.
    [[nodiscard]] bool closed_by_server() const {
        tcp_info info{};
        socklen_t len = sizeof info;
        if (::getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return true;
        return info.tcpi_state != TCP_ESTABLISHED;
    }

  private:
    Received read(std::size_t n, std::chrono::milliseconds patience) {
        Received r;
        const auto until = std::chrono::steady_clock::now() + patience;
        char buf[4096];
        while (n == 0 || r.bytes.size() < n) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            if (left <= 0ms) break;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            const std::size_t want = n == 0 ? sizeof buf : std::min(sizeof buf, n - r.bytes.size());
            const ssize_t got = ::recv(fd_, buf, want, 0);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                r.closed = true;
                break;
            }
            r.bytes.append(buf, static_cast<std::size_t>(got));
        }
        return r;
    }

    int fd_;
};

/// The status codes of the HTTP/1.1 responses in `bytes`, in order (each response's body is
/// skipped by its Content-Length); a response cut short ends the list with -1.
inline std::vector<int> statuses(std::string_view bytes) {
    std::vector<int> out;
    while (!bytes.empty()) {
        const std::size_t head_end = bytes.find("\r\n\r\n");
        int status = -1;
        if (head_end == std::string_view::npos || bytes.substr(0, 9) != "HTTP/1.1 " ||
            std::from_chars(bytes.data() + 9, bytes.data() + 12, status).ec != std::errc()) {
            out.push_back(-1);
            break;
        }
        const std::string_view head = bytes.substr(0, head_end);
        std::size_t length = 0;
        constexpr std::string_view cl = "\r\nContent-Length: ";
        if (const std::size_t at = head.find(cl); at != std::string_view::npos)
            std::from_chars(head.data() + at + cl.size(), head.data() + head.size(), length);
        out.push_back(status);
        if (bytes.size() < head_end + 4 + length) {
            out.push_back(-1);
            break;
        }
        bytes.remove_prefix(head_end + 4 + length);
    }
    return out;
}

}  // namespace example::test
