// SPDX-License-Identifier: MIT
// echo_server: a TCP echo server, written as coroutines.
//
//   echo_server [--port 7000] [--address 127.0.0.1] [--backend io_uring|threaded] [--threads N]
//               [--thread-idle-ms 10000]
//
// One task per connection in a Group that isolates failures: a connection that is reset ends
// its own task and no other, and a connection whose task cannot be started (no memory for its
// frame) is closed while the server goes on accepting (accept_loop.hpp). SIGUSR2 trims the
// allocator (malloc_trim). SIGINT or SIGTERM stops it gracefully: the listener closes, the
// connections are cancelled and awaited, and it prints what it served.
#include "accept_loop.hpp"
#include "common.hpp"

#include <array>
#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstdio>

namespace {

std::atomic<std::uint64_t> g_connections{0};
std::atomic<std::uint64_t> g_bytes{0};

example::RateLimitedLog g_log("echo_server");

/// One connection: echoes until the client shuts down its side. Its errors (a reset, no memory)
/// end it here, logged, rather than in the group (see accept_loop.hpp); a cancellation goes on.
corio::Task<void> serve(corio::Io io, corio::TcpStream conn) {
    g_connections.fetch_add(1, std::memory_order_relaxed);
    std::array<std::byte, 16384> buf;
    try {
        for (;;) {
            const std::size_t n = co_await conn.read(io, buf);
            if (n == 0) co_return;  // the client shut down its side
            co_await conn.write_all(io, std::span(buf).first(n));
            g_bytes.fetch_add(n, std::memory_order_relaxed);
        }
    } catch (const corio::Canceled&) {
        throw;
    } catch (const std::exception& e) {
        g_log.say("a connection ended", e.what());
    }
}

}  // namespace

int main(int argc, char** argv) {
    example::block_server_signals();  // first: every thread started later inherits the mask
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
        example::AcceptLog log("echo_server");
        auto acceptor =
            io.concurrent(example::accept_tasks<decltype(&serve)>, io, std::cref(listener),
                          std::ref(connections), &serve, std::ref(log));
        const int signo = example::wait_for_stop(io);
        std::printf("echo_server: %s, shutting down\n", signo == SIGINT ? "SIGINT" : "SIGTERM");
        example::stop_serving("echo_server", acceptor, connections);
    }
    std::printf("echo_server: served %" PRIu64 " connections, %" PRIu64 " bytes\n",
                g_connections.load(), g_bytes.load());
    return 0;
}
