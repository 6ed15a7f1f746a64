// SPDX-License-Identifier: MIT
// http_server's request parsing: the head scanner, the head parser and the chunked decoder
// (see http_parser.hpp).
#include "http_parser.hpp"

#include <array>
#include <cstring>
#include <limits>

namespace example::http {

namespace {

/// tchar (RFC 9110 section 5.6.2): the bytes of a token.
constexpr std::array<bool, 256> token_chars = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 'a' + 'A'] = true;
    for (const char c : std::string_view("!#$%&'*+-.^_`|~"))
        t[static_cast<unsigned char>(c)] = true;
    return t;
}();

bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (const char c : s)
        if (!token_chars[static_cast<unsigned char>(c)]) return false;
    return true;
}

/// A control byte other than HTAB (CTL without HTAB): never in a field value or a target.
bool is_ctl(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
}

/// `a` equals `lower` (lowercase ASCII) ignoring case.
bool iequals(std::string_view a, std::string_view lower) noexcept {
    if (a.size() != lower.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != lower[i]) return false;
    }
    return true;
}

bool is_ows(char c) noexcept {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

/// Calls `f(element)` for each element of a comma-separated list (RFC 9110 section 5.6.1),
/// trimmed; empty elements are skipped. Stops, returning false, when `f` does.
template <class F>
bool each_element(std::string_view list, F f) {
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        const std::string_view element = trim(list.substr(0, comma));
        if (!element.empty() && !f(element)) return false;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return true;
}

/// The bytes of a line, without its LF and a CR before it; nullopt-like `ok = false` when a CR
/// stands elsewhere in it.
struct Line {
    std::string_view text;
    bool ok = true;
};

Line cut_line(std::string_view& rest) noexcept {
    const std::size_t lf = rest.find('\n');
    std::string_view line = rest.substr(0, lf);
    rest.remove_prefix(lf == std::string_view::npos ? rest.size() : lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return {line, line.find('\r') == std::string_view::npos};
}

Request refuse(int status, std::string_view reason) noexcept {
    Request r;
    r.status = status;
    r.reason = reason;
    r.keep_alive = false;
    return r;
}

/// Parses `METHOD SP TARGET SP HTTP/d.d` into `r`; false (with r.status set) when it is not one.
bool parse_request_line(std::string_view line, Request& r) {
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) {
        r = refuse(400, "bad request line");
        return false;
    }
    r.method = line.substr(0, sp1);
    r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (!is_token(r.method) || r.target.empty()) {
        r = refuse(400, "bad request line");
        return false;
    }
    for (const char c : r.target) {
        if (c == ' ' || is_ctl(c) || c == '\t') {
            r = refuse(400, "bad request target");
            return false;
        }
    }
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !digit(version[5]) ||
        version[6] != '.' || !digit(version[7])) {
        r = refuse(400, "bad HTTP version");
        return false;
    }
    if (version[5] != '1') {
        r = refuse(505, "only HTTP/1.x is served");
        return false;
    }
    r.minor_version = version[7] == '0' ? 0 : 1;  // a later 1.x is answered as 1.1
    return true;
}

/// What the header fields that frame the message said.
struct Fields {
    bool content_length = false;
    std::uint64_t length = 0;  // saturates at the maximum
    bool transfer_encoding = false;
    unsigned chunked = 0;       // times `chunked` was listed
    bool chunked_last = false;  // the last coding listed is chunked
    bool unknown_coding = false;
    bool close = false;
    bool keep_alive = false;
    unsigned hosts = 0;
};

/// The decimal value of a Content-Length element, saturated; false when it is not digits.
bool decimal(std::string_view s, std::uint64_t& out) noexcept {
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    out = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return false;
        const auto d = static_cast<std::uint64_t>(c - '0');
        out = out > (max - d) / 10 ? max : out * 10 + d;
    }
    return !s.empty();
}

/// Reads one header field into `f`; an empty reason when it is fine, else why not (400).
std::string_view parse_field(std::string_view line, Fields& f) {
    if (is_ows(line.front())) return "obsolete line folding";
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return "a header line without a colon";
    const std::string_view name = line.substr(0, colon);
    if (!is_token(name)) return "a bad header field name";
    const std::string_view value = trim(line.substr(colon + 1));
    for (const char c : value)
        if (is_ctl(c)) return "a control character in a header field value";
    if (iequals(name, "content-length")) {
        // A list of the same value, or the same value in several fields, is that value (RFC
        // 9110 section 8.6); different values are an error (RFC 9112 section 6.3).
        bool any = false;
        const bool ok = each_element(value, [&](std::string_view e) {
            std::uint64_t n = 0;
            if (!decimal(e, n) || (f.content_length && n != f.length)) return false;
            f.content_length = any = true;
            f.length = n;
            return true;
        });
        if (!ok || !any) return "a bad or conflicting Content-Length";
    } else if (iequals(name, "transfer-encoding")) {
        f.transfer_encoding = true;
        each_element(value, [&](std::string_view e) {
            f.chunked_last = iequals(e, "chunked");
            if (f.chunked_last)
                ++f.chunked;
            else
                f.unknown_coding = true;
            return true;
        });
    } else if (iequals(name, "connection")) {
        bool ok = true;
        each_element(value, [&](std::string_view e) {
            ok = is_token(e);
            if (iequals(e, "close")) f.close = true;
            if (iequals(e, "keep-alive")) f.keep_alive = true;
            return ok;
        });
        if (!ok) return "a bad Connection option";
    } else if (iequals(name, "host")) {
        ++f.hosts;
    }
    return {};
}

}  // namespace

std::string_view status_text(int status) noexcept {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 431:
            return "Request Header Fields Too Large";
        case 501:
            return "Not Implemented";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

std::size_t HeadScanner::scan(std::span<const char> bytes) noexcept {
    while (scanned_ < bytes.size()) {
        const void* hit = std::memchr(bytes.data() + scanned_, '\n', bytes.size() - scanned_);
        if (hit == nullptr) {
            scanned_ = bytes.size();
            return 0;
        }
        const auto lf = static_cast<std::size_t>(static_cast<const char*>(hit) - bytes.data());
        const bool empty =
            lf == line_start_ || (lf == line_start_ + 1 && bytes[line_start_] == '\r');
        scanned_ = line_start_ = lf + 1;
        if (!empty)
            started_ = true;
        else if (started_)
            return lf + 1;
    }
    return 0;
}

Request HeadScanner::too_large(std::span<const char> bytes, const Limits& limits) noexcept {
    std::string_view rest(bytes.data(), bytes.size());
    while (!rest.empty() && (rest.front() == '\n' || rest.substr(0, 2) == "\r\n"))
        rest.remove_prefix(rest.front() == '\n' ? 1 : 2);
    const std::size_t lf = rest.find('\n');
    if (lf == std::string_view::npos || lf > limits.request_line)
        return refuse(414, "the request line is too long");
    return refuse(431, "the request head is too large");
}

Request parse_head(std::span<const char> head, const Limits& limits) noexcept {
    if (head.size() > limits.head) return refuse(431, "the request head is too large");
    std::string_view rest(head.data(), head.size());
    Line line = cut_line(rest);
    while (line.ok && line.text.empty() && !rest.empty())
        line = cut_line(rest);  // empty lines first
    if (!line.ok) return refuse(400, "a CR that ends no line");
    if (line.text.size() > limits.request_line) return refuse(414, "the request line is too long");
    Request r;
    if (!parse_request_line(line.text, r)) return r;

    Fields f;
    for (;;) {
        if (rest.empty()) return refuse(400, "the head does not end with an empty line");
        line = cut_line(rest);
        if (!line.ok) return refuse(400, "a CR that ends no line");
        if (line.text.empty()) break;
        if (const std::string_view why = parse_field(line.text, f); !why.empty())
            return refuse(400, why);
    }
    if (!rest.empty()) return refuse(400, "bytes after the head's empty line");
    if (r.minor_version == 1 && f.hosts == 0)
        return refuse(400, "an HTTP/1.1 request without Host");
    if (f.hosts > 1) return refuse(400, "more than one Host");

    if (f.transfer_encoding) {
        // RFC 9112 section 6.1 and 6.3: no Transfer-Encoding in HTTP/1.0, none beside a
        // Content-Length (a smuggling vector), and chunked once, last.
        if (r.minor_version == 0) return refuse(400, "Transfer-Encoding in an HTTP/1.0 request");
        if (f.content_length) return refuse(400, "both Transfer-Encoding and Content-Length");
        if (f.unknown_coding) return refuse(501, "a transfer coding other than chunked");
        if (f.chunked != 1 || !f.chunked_last) return refuse(400, "a bad Transfer-Encoding");
        r.framing = Framing::chunked;
    } else if (f.content_length) {
        if (f.length > limits.body) return refuse(413, "the body is too large");
        r.framing = Framing::content_length;
        r.content_length = f.length;
    }
    r.keep_alive = r.minor_version == 1 ? !f.close : f.keep_alive && !f.close;
    return r;
}

void ChunkedDecoder::fail(int status, std::string_view reason) noexcept {
    state_ = State::failed;
    status_ = status;
    reason_ = reason;
}

ChunkedDecoder::Step ChunkedDecoder::feed(std::span<const char> in) noexcept {
    Step step;
    std::size_t i = 0;
    const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    const auto failed = [&](int status, std::string_view reason) {
        fail(status, reason);
        step.consumed = i;
        return step;
    };
    // The chunk line ended: a chunk's bytes follow, or the trailer section after the last.
    const auto end_size_line = [this] {
        if (size_ == 0) {
            state_ = State::trailer_start;
            extra_ = 0;
        } else {
            state_ = State::data;
        }
    };
    while (i < in.size() && state_ != State::done && state_ != State::failed) {
        const char c = in[i];
        switch (state_) {
            case State::size_first:
            case State::size: {
                const int d = hex(c);
                if (d >= 0) {
                    if (size_ >
                        (std::numeric_limits<std::uint64_t>::max() - static_cast<unsigned>(d)) / 16)
                        return failed(400, "a chunk size that overflows");
                    size_ = size_ * 16 + static_cast<unsigned>(d);
                    if (size_ > limits_.body - total_) return failed(413, "the body is too large");
                    state_ = State::size;
                } else if (state_ == State::size_first) {
                    return failed(400, "a bad chunk size");
                } else if (c == ';' || is_ows(c)) {
                    state_ = c == ';' ? State::extension : State::size_ws;
                    extra_ = 0;
                } else if (c == '\r') {
                    state_ = State::size_lf;
                } else if (c == '\n') {
                    end_size_line();
                } else {
                    return failed(400, "a bad chunk size");
                }
                ++i;
                break;
            }
            case State::size_ws:  // BWS: more of it, or the `;` of an extension
                if (c == ';')
                    state_ = State::extension;
                else if (c == '\r')
                    state_ = State::size_lf;
                else if (c == '\n')
                    end_size_line();
                else if (!is_ows(c) || ++extra_ > limits_.chunk_extra)
                    return failed(400, "a bad chunk extension");
                ++i;
                break;
            case State::extension:
                if (c == '\n') {
                    end_size_line();
                } else if (c == '\r') {
                    state_ = State::size_lf;
                } else if (is_ctl(c) || ++extra_ > limits_.chunk_extra) {
                    return failed(400, "a bad chunk extension");
                }
                ++i;
                break;
            case State::size_lf:
            case State::data_lf:
            case State::trailer_lf:
            case State::end_lf:
                if (c != '\n') return failed(400, "a CR that ends no line");
                if (state_ == State::size_lf) end_size_line();
                if (state_ == State::data_lf) state_ = State::size_first;
                if (state_ == State::trailer_lf) state_ = State::trailer_start;
                if (state_ == State::end_lf) state_ = State::done;
                ++i;
                break;
            case State::data: {
                if (!step.data.empty()) {  // one run of body bytes a feed
                    step.consumed = i;
                    return step;
                }
                const std::size_t n =
                    in.size() - i < size_ ? in.size() - i : static_cast<std::size_t>(size_);
                step.data = in.subspan(i, n);
                i += n;
                size_ -= n;
                total_ += n;
                if (size_ == 0) state_ = State::data_cr;
                break;
            }
            case State::data_cr:
                if (c == '\r')
                    state_ = State::data_lf;
                else if (c == '\n')
                    state_ = State::size_first;
                else
                    return failed(400, "no line end after a chunk");
                ++i;
                break;
            case State::trailer_start:
                if (c == '\r') {
                    state_ = State::end_lf;
                    ++i;
                } else if (c == '\n') {
                    state_ = State::done;
                    ++i;
                } else {
                    state_ = State::trailer;  // this byte is the line's first: read there
                }
                break;
            case State::trailer:
                if (c == '\n') {
                    state_ = State::trailer_start;
                } else if (c == '\r') {
                    state_ = State::trailer_lf;
                } else if (is_ctl(c)) {
                    return failed(400, "a control character in a trailer");
                } else if (++extra_ > limits_.chunk_extra) {
                    return failed(431, "the trailer section is too large");
                }
                ++i;
                break;
            case State::done:
            case State::failed:
                break;
        }
    }
    step.consumed = i;
    return step;
}

}  // namespace example::http
