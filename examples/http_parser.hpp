// SPDX-License-Identifier: MIT
// http_server's request parsing, after RFC 9112: pure functions over bytes, with no I/O and no
// allocation, so a unit test and a fuzz target call them as the server does.
//
// A request's head (its request line and header lines, through the empty line) is found in
// the bytes read so far by HeadScanner, then parsed whole by `parse_head` into a Request: the
// method, target and version, whether the connection stays open, and how the body is framed
// (none, a Content-Length, or chunked), or the error status to answer with before closing.
// A chunked body is decoded, as its bytes come, by ChunkedDecoder. Lines end in CRLF or in a
// bare LF (RFC 9112 section 2.2 lets a recipient accept it); a CR anywhere else is an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace example::http {

/// What a server accepts at most.
struct Limits {
    /// The bytes of a head: its request line, its header lines and the empty line.
    std::size_t head = 8192;
    /// The bytes of a request line (without its line end).
    std::size_t request_line = 8192;
    /// The bytes of a body (a Content-Length, or the sum of a chunked body's chunks).
    std::uint64_t body = 1 << 20;
    /// The bytes of a chunk line's extensions, and of a chunked body's trailer section.
    std::size_t chunk_extra = 4096;
};

/// How a request's body is delimited.
enum class Framing : unsigned char { none, content_length, chunked };

/// A parsed request head. `method` and `target` point into the parsed bytes.
struct Request {
    /// 0: a request to answer; else the status to answer with (400, 413, 414, 431, 501, 505),
    /// after which the connection is closed.
    int status = 0;
    /// Why, for an error status: a short sentence for the response body.
    std::string_view reason;
    std::string_view method;
    std::string_view target;
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (and any later HTTP/1.x, answered as 1.1).
    int minor_version = 1;
    /// Whether the connection stays open after the response: HTTP/1.1 without `close` among
    /// its Connection options, or HTTP/1.0 with `keep-alive` among them.
    bool keep_alive = true;
    Framing framing = Framing::none;
    /// With Framing::content_length: the body's size, at most Limits::body.
    std::uint64_t content_length = 0;
};

/// The standard reason phrase of a status this server sends.
[[nodiscard]] std::string_view status_text(int status) noexcept;

/// Finds the end of a head in bytes that arrive in pieces: `scan(bytes)` is given every byte
/// buffered so far, from the head's first (a call sees what the previous one saw, and more),
/// and returns the head's length through its empty line, or 0 while it has not arrived. Empty
/// lines before the request line belong to the head (RFC 9112 section 2.2 ignores them). Each
/// byte is looked at once.
class HeadScanner {
  public:
    [[nodiscard]] std::size_t scan(std::span<const char> bytes) noexcept;
    /// Why a head that has not ended within `limits.head` bytes (`bytes`, with no empty line)
    /// is refused: 414 while its request line has not ended within `limits.request_line`
    /// bytes, 431 after.
    [[nodiscard]] static Request too_large(std::span<const char> bytes,
                                           const Limits& limits) noexcept;

  private:
    std::size_t scanned_ = 0;     // bytes looked at
    std::size_t line_start_ = 0;  // where the line being scanned starts
    bool started_ = false;        // a line other than an empty one was seen
};

/// Parses a head: the request line and the header lines through the empty line (as HeadScanner
/// found it; it may start with empty lines). Never throws; an invalid head gives a Request
/// with the status to answer.
[[nodiscard]] Request parse_head(std::span<const char> head, const Limits& limits = {}) noexcept;

/// Decodes a chunked body (RFC 9112 section 7.1) as its bytes come: chunk sizes in hex, with
/// overflow and the body limit checked; chunk extensions skipped; the trailer section read and
/// ignored.
class ChunkedDecoder {
  public:
    /// What one `feed` did.
    struct Step {
        /// Bytes of the input used (all of them, unless the body ended or failed within them).
        std::size_t consumed = 0;
        /// Body bytes among them: a part of the input (empty when none). A feed gives at most
        /// one run of body bytes: call it again with what it did not consume.
        std::span<const char> data;
    };

    explicit ChunkedDecoder(const Limits& limits = {}) noexcept : limits_(limits) {}

    /// Decodes the next bytes of the body. Call it again with the bytes it did not consume
    /// (and then with more) until `done()` or `status()`.
    Step feed(std::span<const char> in) noexcept;

    /// The body ended: the last chunk and the trailer section came.
    [[nodiscard]] bool done() const noexcept { return state_ == State::done; }
    /// 0, or the status the body calls for (400 malformed, 413 over the limit); no more bytes
    /// are consumed then.
    [[nodiscard]] int status() const noexcept { return status_; }
    [[nodiscard]] std::string_view reason() const noexcept { return reason_; }
    /// The body bytes decoded so far.
    [[nodiscard]] std::uint64_t body_size() const noexcept { return total_; }

  private:
    enum class State : unsigned char {
        size_first,     // the first hex digit of a chunk size
        size,           // more hex digits, or what ends the size
        size_ws,        // whitespace after the size
        extension,      // `;` and what follows it, to the line end
        size_lf,        // the LF after a CR that ended a chunk line
        data,           // the chunk's bytes
        data_cr,        // the CR (or bare LF) after a chunk's bytes
        data_lf,        // the LF after that CR
        trailer_start,  // the start of a trailer line, or the empty line that ends the body
        trailer,        // a trailer line, to its end
        trailer_lf,     // the LF after a CR
        end_lf,         // the LF of the final empty line
        done,
        failed,
    };
    void fail(int status, std::string_view reason) noexcept;

    Limits limits_;
    State state_ = State::size_first;
    std::uint64_t size_ = 0;   // the chunk size being read, then what is left of its bytes
    std::uint64_t total_ = 0;  // body bytes so far
    std::size_t extra_ = 0;    // extension or trailer bytes so far
    int status_ = 0;
    std::string_view reason_;
};

}  // namespace example::http
