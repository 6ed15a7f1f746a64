// SPDX-License-Identifier: MIT
// http_server: an HTTP/1.1 keep-alive server, written as plain functions on fibers.
//
//   http_server [--port 8080] [--address 127.0.0.1] [--backend io_uring|threaded] [--threads N]
//               [--thread-idle-ms 10000]
//               [--idle-timeout-ms 5000]
//
// Answers `GET /` with a fixed body and anything else with 404. Requests are parsed as RFC 9112
// says (http_parser.hpp): a chunked body is decoded, and a request it refuses gets its status
// (400, 413, 414, 431, 501, 505) and the connection is closed. Every read and write of a
// connection has a deadline, the idle timeout: a request's head must arrive within it, then its
// body, then the client must take its response, so a client that sends a byte at a time
// (slowloris) or never reads cannot hold a connection (http_connection.hpp). A connection that
// cannot be given a fiber is closed and the server goes on accepting (accept_loop.hpp).
// SIGUSR2 trims the allocator (malloc_trim); SIGINT or SIGTERM stops it gracefully.
#include "accept_loop.hpp"
#include "common.hpp"
#include "http_connection.hpp"

#include <cinttypes>
#include <csignal>
#include <cstdio>

int main(int argc, char** argv) {
    example::block_server_signals();  // first: every thread started later inherits the mask
    const example::Flags flags(argc, argv);
    const auto port = static_cast<std::uint16_t>(flags.number("--port", 8080));
    const corio::Address at =
        corio::Address::parse(flags.get("--address", "127.0.0.1") + ":" + std::to_string(port));
    const example::http::Handler handler{
        {.idle = std::chrono::milliseconds(flags.number("--idle-timeout-ms", 5000))}};
    std::unique_ptr<corio::Backend> backend = example::make_backend(flags);
    corio::Io io(*backend);

    corio::TcpListener listener = corio::TcpListener::bind(io, at);
    std::printf("http_server: listening on %s (%s)\n", listener.local_address().to_string().c_str(),
                flags.get("--backend", "io_uring").c_str());
    std::fflush(stdout);
    {
        corio::Group connections{io, corio::Group::isolate};
        example::AcceptLog log("http_server");
        auto acceptor =
            io.concurrent(example::accept_fibers<example::http::Handler>, io, std::cref(listener),
                          std::ref(connections), handler, std::ref(log));
        const int signo = example::wait_for_stop(io);
        std::printf("http_server: %s, shutting down\n", signo == SIGINT ? "SIGINT" : "SIGTERM");
        example::stop_serving("http_server", acceptor, connections);
    }
    std::printf("http_server: answered %" PRIu64 " requests\n",
                example::http::requests_answered.load());
    return 0;
}
