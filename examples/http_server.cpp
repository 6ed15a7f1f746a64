// SPDX-License-Identifier: MIT
// http_server: an HTTP/1.1 keep-alive server, written as plain functions on fibers.
//
//   http_server [--port 8080] [--address 127.0.0.1] [--backend io_uring|threaded] [--threads N]
//               [--idle-timeout-ms 5000]
//
// Answers `GET /` with a fixed body and anything else with 404; a request it cannot parse gets
// 400 and the connection is closed. A connection is closed when the next request's head has not
// arrived in full within the idle timeout, so a client that sends it a byte at a time (slowloris)
// cannot hold it. SIGINT or SIGTERM stops it gracefully.
#include "common.hpp"

#include <array>
#include <atomic>
#include <charconv>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string_view>

using namespace std::chrono_literals;

namespace {

constexpr std::string_view body = "Hello from corio\n";
std::atomic<std::uint64_t> g_requests{0};

std::string_view text(std::span<const std::byte> s) {
    std::string_view v(reinterpret_cast<const char*>(s.data()), s.size());
    if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
    return v;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

void respond(corio::Io io, corio::Writer& w, int status, std::string_view reason,
             std::string_view content, bool close) {
    (void)w.print(io, "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{}",
                  status, reason, content.size(), close ? "Connection: close\r\n" : "", content)
        .await();
    w.flush(io).await();
}

/// One connection: requests until the client closes, errs, or idles past the timeout.
void serve(corio::Io io, corio::TcpStream conn, std::chrono::milliseconds idle) {
    std::array<std::byte, 8192> rbuf, wbuf;
    corio::StreamReader r(conn, rbuf);
    corio::StreamWriter w(conn, wbuf);
    for (;;) {
        // The whole head must arrive before this deadline.
        const auto deadline = io.now() + idle;
        auto next_line = [&]() -> std::optional<std::string_view> {
            const auto left = deadline - io.now();
            if (left <= 0s) throw corio::Timeout();
            auto line = corio::with_timeout(io, left, r.take_until(io, '\n')).await();
            if (!line) return std::nullopt;
            return text(*line);
        };
        std::optional<std::string_view> request_line;
        try {
            request_line = next_line();
        } catch (const corio::Timeout&) {
            return;  // idle: close
        }
        if (!request_line) return;  // the client closed
        // METHOD SP TARGET SP HTTP/1.x
        const std::string_view rl = *request_line;
        const std::size_t sp1 = rl.find(' ');
        const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
        if (sp2 == std::string_view::npos || rl.substr(sp2 + 1, 7) != "HTTP/1." || sp1 == 0 ||
            sp2 == sp1 + 1) {
            respond(io, w, 400, "Bad Request", "bad request line\n", true);
            return;
        }
        const std::string method(rl.substr(0, sp1));
        const std::string target(rl.substr(sp1 + 1, sp2 - sp1 - 1));
        bool close = rl.substr(sp2 + 1) == "HTTP/1.0";
        std::size_t content_length = 0;
        for (;;) {
            std::optional<std::string_view> h;
            try {
                h = next_line();
            } catch (const corio::Timeout&) {
                return;
            }
            if (!h) return;
            if (h->empty()) break;
            const std::size_t colon = h->find(':');
            if (colon == std::string_view::npos || colon == 0) {
                respond(io, w, 400, "Bad Request", "bad header\n", true);
                return;
            }
            const std::string_view name = h->substr(0, colon);
            std::string_view value = h->substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            if (iequals(name, "Connection")) close = iequals(value, "close");
            if (iequals(name, "Content-Length")) {
                const auto [p, ec] =
                    std::from_chars(value.data(), value.data() + value.size(), content_length);
                if (ec != std::errc() || p != value.data() + value.size() || content_length > (1 << 20)) {
                    respond(io, w, 400, "Bad Request", "bad Content-Length\n", true);
                    return;
                }
            }
        }
        r.discard(io, content_length).await();  // a body is read and ignored
        g_requests.fetch_add(1, std::memory_order_relaxed);
        if (method == "GET" && target == "/")
            respond(io, w, 200, "OK", body, close);
        else
            respond(io, w, 404, "Not Found", "not found\n", close);
        if (close) return;
    }
}

/// Runs `serve` and turns the errors a client can cause into the end of its connection.
void connection(corio::Io io, corio::TcpStream conn, std::chrono::milliseconds idle) {
    try {
        serve(io, std::move(conn), idle);
    } catch (const corio::Canceled&) {
        throw;
    } catch (const std::system_error& e) {
        // A reset, a broken pipe, a request line longer than the buffer: close.
        (void)e;
    }
}

void accept_loop(corio::Io io, const corio::TcpListener& listener, corio::Group& connections,
                 std::chrono::milliseconds idle) {
    for (;;) {
        std::error_code ec;
        corio::TcpStream conn = listener.accept(io, ec).await();
        if (ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system) {
            io.sleep(10ms).await();
            continue;
        }
        if (ec == std::errc::operation_canceled) return;
        if (ec) throw std::system_error(ec, "accept");
        conn.set_nodelay(true);
        connections.concurrent(connection, io, std::move(conn), idle);
        (void)connections.take_errors();
    }
}

}  // namespace

int main(int argc, char** argv) {
    corio::block_signals({SIGINT, SIGTERM});  // first: every thread started later inherits it
    const example::Flags flags(argc, argv);
    const auto port = static_cast<std::uint16_t>(flags.number("--port", 8080));
    const corio::Address at =
        corio::Address::parse(flags.get("--address", "127.0.0.1") + ":" + std::to_string(port));
    const std::chrono::milliseconds idle(flags.number("--idle-timeout-ms", 5000));
    std::unique_ptr<corio::Backend> backend = example::make_backend(flags);
    corio::Io io(*backend);

    corio::TcpListener listener = corio::TcpListener::bind(io, at);
    std::printf("http_server: listening on %s (%s)\n", listener.local_address().to_string().c_str(),
                flags.get("--backend", "io_uring").c_str());
    std::fflush(stdout);
    {
        corio::Group connections{io, corio::Group::isolate};
        auto acceptor = io.concurrent(accept_loop, io, std::cref(listener), std::ref(connections), idle);
        const int signo = io.wait_signal({SIGINT, SIGTERM}).await();
        std::printf("http_server: %s, shutting down\n", signo == SIGINT ? "SIGINT" : "SIGTERM");
        try {
            acceptor.cancel();
        } catch (const corio::Canceled&) {
        }
        connections.cancel();
    }
    std::printf("http_server: answered %" PRIu64 " requests\n", g_requests.load());
    return 0;
}
