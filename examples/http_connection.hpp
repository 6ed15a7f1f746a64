// SPDX-License-Identifier: MIT
// http_server's connections: HTTP/1.1 keep-alive, every read and write under a deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <corio/corio.hpp>
#include <cstdint>

#include "http_parser.hpp"

namespace example::http {

/// How a connection is served.
struct Options {
    /// The deadline of each phase of a request: its head must arrive within it (from the end
    /// of the previous response, or from the accept), then its body within it, then its
    /// response must be taken by the client within it. A connection that misses one is closed.
    std::chrono::milliseconds idle{5000};
    Limits limits{};
};

/// Requests answered on every connection (200 and 404, not the errors).
extern std::atomic<std::uint64_t> requests_answered;

/// Serves one connection until the client closes it, a request asks for it to close, a
/// deadline passes, or a request is refused (then the error response is sent, the writing
/// side shut, and what the client still sends read for a moment before the close, so that it
/// gets the response rather than a reset). `GET /` gets a fixed body and any other request a
/// 404. Plain code: each wait suspends the calling fiber (or blocks the thread). Cancellation
/// throws Canceled; any other error (a reset, a broken pipe, no memory) ends the connection
/// without an exception.
void serve(corio::Io io, corio::TcpStream conn, const Options& options);

/// `serve` as a callable for an accept loop: `handler(io, std::move(conn))`.
struct Handler {
    Options options;
    void operator()(corio::Io io, corio::TcpStream conn) const {
        serve(io, std::move(conn), options);
    }
};

}  // namespace example::http
