// SPDX-License-Identifier: MIT
// echo_server: a TCP echo server, written as coroutines.
//
//   echo_server [--port 7000] [--address 127.0.0.1] [--backend io_uring|threaded] [--threads N]
//
// One task per connection in a Group that isolates failures: a connection that is reset ends
// its own task and no other. SIGINT or SIGTERM stops it gracefully: the listener closes, the
// connections are cancelled and awaited, and it prints what it served.
#include "common.hpp"

#include <array>
#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstdio>

using namespace std::chrono_literals;

namespace {

std::atomic<std::uint64_t> g_connections{0};
std::atomic<std::uint64_t> g_bytes{0};

corio::Task<void> serve(corio::Io io, corio::TcpStream conn) {
    std::array<std::byte, 16384> buf;
    for (;;) {
        const std::size_t n = co_await conn.read(io, buf);
        if (n == 0) co_return;  // the client shut down its side
        co_await conn.write_all(io, std::span(buf).first(n));
        g_bytes.fetch_add(n, std::memory_order_relaxed);
    }
}

corio::Task<void> accept_loop(corio::Io io, const corio::TcpListener& listener,
                              corio::Group& connections) {
    for (;;) {
        std::error_code ec;
        corio::TcpStream conn = co_await listener.accept(io, ec);
        if (ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system) {
            // The connection stays queued: accept it once a descriptor is free.
            co_await io.sleep(10ms);
            continue;
        }
        if (ec == std::errc::operation_canceled) co_return;
        if (ec) throw std::system_error(ec, "accept");
        conn.set_nodelay(true);
        g_connections.fetch_add(1, std::memory_order_relaxed);
        connections.concurrent(serve, io, std::move(conn));
        for (const std::exception_ptr& e : connections.take_errors()) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::fprintf(stderr, "connection ended: %s\n", x.what());
            }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    corio::block_signals({SIGINT, SIGTERM});  // first: every thread started later inherits it
    const example::Flags flags(argc, argv);
    const auto port = static_cast<std::uint16_t>(flags.number("--port", 7000));
    const corio::Address at =
        corio::Address::parse(flags.get("--address", "127.0.0.1") + ":" + std::to_string(port));
    std::unique_ptr<corio::Backend> backend = example::make_backend(flags);
    corio::Io io(*backend);

    corio::TcpListener listener = corio::TcpListener::bind(io, at);
    std::printf("echo_server: listening on %s (%s)\n", listener.local_address().to_string().c_str(),
                flags.get("--backend", "io_uring").c_str());
    std::fflush(stdout);
    {
        corio::Group connections{io, corio::Group::isolate};
        auto acceptor = io.concurrent(accept_loop, io, std::cref(listener), std::ref(connections));
        const int signo = io.wait_signal({SIGINT, SIGTERM}).await();
        std::printf("echo_server: %s, shutting down\n", signo == SIGINT ? "SIGINT" : "SIGTERM");
        try {
            acceptor.cancel();
        } catch (const corio::Canceled&) {
        }
        connections.cancel();
    }
    std::printf("echo_server: served %" PRIu64 " connections, %" PRIu64 " bytes\n",
                g_connections.load(), g_bytes.load());
    return 0;
}
