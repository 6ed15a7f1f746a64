// SPDX-License-Identifier: MIT
// libFuzzer target: http_server's request parsing (examples/http_parser.hpp) on any bytes.
//
// The input is one byte that picks the limits and how the bytes are split, then the bytes. They
// go to the head scanner (whole and in pieces: the same end must be found), to the head parser
// (a request it accepts has a method and target inside the input, a version of 1.0 or 1.1, a
// Content-Length within the body limit; one it refuses closes the connection and says why),
// and to the chunked decoder (whole and in pieces: the same body, the same end or error, never
// more body than the limit). Built from this file and examples/http_parser.cpp alone.
#include "http_parser.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using example::http::ChunkedDecoder;
using example::http::Framing;
using example::http::HeadScanner;
using example::http::Limits;
using example::http::Request;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "http_request_fuzz: %s\n", what);
        std::abort();
    }
}

bool inside(std::string_view part, std::span<const char> whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_request(const Request& r, std::span<const char> head, const Limits& limits) {
    switch (r.status) {
        case 0:
            check(!r.method.empty() && inside(r.method, head), "a method outside the head");
            check(!r.target.empty() && inside(r.target, head), "a target outside the head");
            check(r.minor_version == 0 || r.minor_version == 1, "a version other than 1.0 or 1.1");
            check(r.framing != Framing::content_length || r.content_length <= limits.body,
                  "a Content-Length over the limit");
            check(r.framing != Framing::chunked || r.minor_version == 1, "chunked in HTTP/1.0");
            check(r.framing == Framing::content_length || r.content_length == 0, "a stray length");
            break;
        case 400:
        case 413:
        case 414:
        case 431:
        case 501:
        case 505:
            check(!r.keep_alive, "a refusal that keeps the connection");
            check(!r.reason.empty(), "a refusal without a reason");
            break;
        default:
            check(false, "an unexpected status");
    }
}

/// Finds the head's end fed in pieces of `piece` bytes.
std::size_t scan_in_pieces(std::span<const char> in, std::size_t piece) {
    HeadScanner s;
    for (std::size_t given = piece;; given += piece) {
        const std::size_t n = given < in.size() ? given : in.size();
        if (const std::size_t end = s.scan(in.first(n)); end != 0) return end;
        if (n == in.size()) return 0;
    }
}

struct Decoded {
    std::string data;
    std::size_t consumed = 0;
    bool done = false;
    int status = 0;
};

Decoded decode(std::span<const char> in, std::size_t piece, const Limits& limits) {
    ChunkedDecoder d(limits);
    Decoded out;
    std::size_t given = 0;
    while (!d.done() && d.status() == 0) {
        if (out.consumed == given) {
            if (given == in.size()) break;
            given = piece >= in.size() - given ? in.size() : given + piece;
        }
        const std::span<const char> part = in.subspan(out.consumed, given - out.consumed);
        const ChunkedDecoder::Step step = d.feed(part);
        check(step.consumed <= part.size(), "consumed more than given");
        check(step.data.empty() ||
                  (step.data.data() >= part.data() &&
                   step.data.data() + step.data.size() <= part.data() + step.consumed),
              "body bytes outside what was consumed");
        check(step.consumed != 0 || d.done() || d.status() != 0 || part.empty(), "no progress");
        out.data.append(step.data.data(), step.data.size());
        out.consumed += step.consumed;
    }
    out.done = d.done();
    out.status = d.status();
    check(d.body_size() == out.data.size(), "body_size differs from the body given");
    check(d.body_size() <= limits.body, "a chunked body over the limit");
    check(out.status == 0 || out.status == 400 || out.status == 413 || out.status == 431,
          "an unexpected chunked status");
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const unsigned knob = data[0];
    const std::span<const char> in(reinterpret_cast<const char*>(data + 1), size - 1);
    Limits limits;
    if (knob & 0x80) {  // small limits, so that each is reached
        limits.head = 64 + (knob & 0x0f) * 16;
        limits.request_line = 32 + (knob & 0x07) * 8;
        limits.body = (knob & 0x30) << 2;
        limits.chunk_extra = 8 + (knob & 0x03) * 8;
    }
    const std::size_t piece = 1 + (knob & 0x0f);

    // The head: the same end whole and in pieces, and a Request that keeps its invariants.
    const std::size_t end = HeadScanner().scan(in);
    check(end <= in.size() && (end == 0 || in[end - 1] == '\n'), "a head end that is no line end");
    check(scan_in_pieces(in, piece) == end, "the head's end depends on the pieces");
    const std::span<const char> head = end != 0 ? in.first(end) : in;
    check_request(example::http::parse_head(head, limits), head, limits);
    if (end == 0) {
        const Request big = HeadScanner::too_large(in, limits);
        check(big.status == 414 || big.status == 431, "too_large gave another status");
    }

    // The same bytes as a chunked body: the same outcome whole and in pieces.
    const Decoded whole = decode(in, in.size() + 1, limits);
    const Decoded pieces = decode(in, piece, limits);
    check(whole.data == pieces.data && whole.consumed == pieces.consumed &&
              whole.done == pieces.done && whole.status == pieces.status,
          "the chunked body depends on the pieces");
    return 0;
}
