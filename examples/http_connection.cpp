// SPDX-License-Identifier: MIT
// http_server's connections: the head found and parsed in the reader's buffer, the body read
// or decoded, the response formatted in the writer's buffer; every wait under a deadline.
#include "http_connection.hpp"

#include <array>
#include <span>
#include <string_view>

namespace example::http {

std::atomic<std::uint64_t> requests_answered{0};

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::span<const char> chars(std::span<const std::byte> b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// What the client still sends after a refusal is read (and dropped) for at most this long
/// and this much, so that the close does not reset the connection before it read the response.
constexpr auto linger_time = 1s;
constexpr std::size_t linger_bytes = 1 << 16;

/// One connection's reader and writer (8 KiB each: the head limit is the read buffer).
class Connection {
  public:
    Connection(corio::Io io, corio::TcpStream& conn, const Options& o) noexcept
        : io_(io), conn_(conn), o_(o), r_(conn, rbuf_), w_(conn, wbuf_) {}

    void run() {
        for (;;) {
            Request req;
            bool found = false;
            if (!read_head(req, found)) return;
            if (!read_body(req)) return;
            requests_answered.fetch_add(1, std::memory_order_relaxed);
            if (!respond(found ? 200 : 404, found ? "Hello from corio" : "not found", req)) return;
            if (!req.keep_alive) return;
        }
    }

  private:
    /// Reads until `n` bytes are buffered: false when the deadline passes, the stream ends or
    /// fails first.
    bool fill(std::size_t n, Clock::time_point deadline) {
        const auto left = deadline - io_.now();
        if (left <= 0s) return false;
        std::error_code ec;
        (void)corio::with_timeout(io_, left, r_.peek(io_, n, ec)).await();
        return !ec;
    }

    /// The next head, parsed into `req` and taken from the buffer: false when the connection
    /// is to close (nothing came in time, or the head was refused and answered). The method
    /// and target point into the buffer until the next read, so they are judged here:
    /// `found` is whether the request is `GET /`; they are cleared.
    bool read_head(Request& req, bool& found) {
        const auto deadline = io_.now() + o_.idle;
        HeadScanner scanner;
        std::size_t length = 0;
        while ((length = scanner.scan(chars(r_.buffered()))) == 0) {
            const std::size_t have = r_.buffered().size();
            if (have >= o_.limits.head || have == r_.buffer().size()) {
                const Request big = HeadScanner::too_large(chars(r_.buffered()), o_.limits);
                return refuse(big.status, big.reason);
            }
            if (!fill(have + 1, deadline)) return false;
        }
        req = parse_head(chars(r_.buffered()).first(length), o_.limits);
        if (req.status != 0) return refuse(req.status, req.reason);
        found = req.method == "GET" && req.target == "/";
        req.method = req.target = {};
        r_.toss(length);
        return true;
    }

    /// Reads the body (and drops it) within the deadline: false when the connection is to close.
    bool read_body(const Request& req) {
        if (req.framing == Framing::content_length && req.content_length != 0) {
            std::error_code ec;
            (void)corio::with_timeout(io_, o_.idle, r_.discard(io_, req.content_length, ec))
                .await();
            return !ec;
        }
        if (req.framing != Framing::chunked) return true;
        const auto deadline = io_.now() + o_.idle;
        ChunkedDecoder decoder(o_.limits);
        for (;;) {
            const std::span<const char> in = chars(r_.buffered());
            if (!in.empty()) {
                const ChunkedDecoder::Step step = decoder.feed(in);
                r_.toss(step.consumed);
                if (decoder.done()) return true;
                if (decoder.status() != 0) return refuse(decoder.status(), decoder.reason());
                if (step.consumed < in.size()) continue;  // another run of body bytes
            }
            if (!fill(1, deadline)) return false;
        }
    }

    /// Formats the response into the write buffer and flushes it within the deadline: false
    /// when it could not be sent.
    bool respond(int status, std::string_view content, const Request& req) {
        const std::string_view connection = !req.keep_alive          ? "Connection: close\r\n"
                                            : req.minor_version == 0 ? "Connection: keep-alive\r\n"
                                                                     : "";
        for (int attempt = 0; attempt < 2; ++attempt) {
            const std::span<std::byte> room = w_.unused();
            const auto r = fmt::format_to_n(
                reinterpret_cast<char*>(room.data()), room.size(),
                "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{}\n",
                status, status_text(status), content.size() + 1, connection, content);
            if (r.size <= room.size()) {
                w_.advance(r.size);
                return flush();
            }
            if (!flush()) return false;  // then there is room for any of this server's responses
        }
        return false;
    }

    bool flush() {
        std::error_code ec;
        (void)corio::with_timeout(io_, o_.idle, w_.flush(io_, ec)).await();
        return !ec;
    }

    /// Answers a refused request, shuts the writing side, and reads what the client still sends
    /// for a moment before the close: false (the connection is to close).
    bool refuse(int status, std::string_view reason) {
        Request closing;
        closing.keep_alive = false;
        if (!respond(status, reason, closing)) return false;
        std::error_code ec;
        (void)conn_.shutdown(io_, corio::Shutdown::write, ec).await();
        const auto deadline = io_.now() + std::min<Clock::duration>(o_.idle, linger_time);
        for (std::size_t dropped = 0; !ec && dropped < linger_bytes;) {
            dropped += r_.buffered().size();
            r_.toss(r_.buffered().size());
            if (!fill(1, deadline)) break;
        }
        return false;
    }

    corio::Io io_;
    corio::TcpStream& conn_;
    const Options& o_;
    std::array<std::byte, 8192> rbuf_;
    std::array<std::byte, 8192> wbuf_;
    corio::StreamReader r_;
    corio::StreamWriter w_;
};

}  // namespace

void serve(corio::Io io, corio::TcpStream conn, const Options& options) {
    try {
        Connection(io, conn, options).run();
    } catch (const corio::Canceled&) {
        throw;
    } catch (const std::exception&) {
        // A reset or a broken pipe the operations threw rather than reported, or no memory for
        // a timer: close. (Left to the group, an error is recorded, which allocates.)
    }
}

}  // namespace example::http
