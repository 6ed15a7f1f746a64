// SPDX-License-Identifier: MIT
// Reader: a buffer in front of a source, as Zig 0.16's std.Io.Reader. `buffer()[seek(), end())`
// holds bytes read and not yet taken; the source is reached only when they run short, through
// a virtual step that does not wait: it prepares the call (which descriptor, which bytes) and
// the awaitable makes it, so one Reader serves plain code and coroutines alike, with no
// allocation per operation.
#pragma once

#include <corio/detail/io_ops.hpp>
#include <corio/detail/io_request.hpp>
#include <corio/export.hpp>
#include <corio/io.hpp>
#include <corio/writer.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

namespace corio {

class Reader;
class File;

namespace detail {

class StreamSocket;

enum class ReadGoal : std::uint8_t { peek, take, take_until, read_exact, discard, read_some };

/// The part of a Reader operation that is not a template: the goal and how far it got.
struct CORIO_EXPORT ReadProgress {
    enum class Outcome : unsigned char { done, call, ended };

    Reader* reader = nullptr;
    ReadGoal goal = ReadGoal::peek;
    std::size_t n = 0;           // peek, take, read_exact, discard, read_some: how many
    std::byte* out = nullptr;    // read_exact, read_some: where to
    std::byte delimiter{};       // take_until
    /// read_exact, discard, read_some: bytes taken so far. A read_exact or discard of at most
    /// the buffer's size takes nothing until its goal is met (a cut-off call leaves the bytes).
    std::size_t done = 0;
    std::size_t scanned = 0;     // take_until: buffered bytes known to hold no delimiter
    std::size_t found = 0;       // take_until: the delimiter's index from seek
    bool delimited = false;      // take_until: found it
    bool end_of_stream = false;
    bool too_long = false;       // the goal needs more than the buffer holds
    bool direct = false;         // the call in flight reads into `out`, not the buffer
    /// A non-throwing overload's error_code: where a goal that was not met is reported.
    std::error_code* ec = nullptr;

    /// Takes what it can from the buffer; prepares `r` when the source must give more.
    Outcome run(IoRequest& r) noexcept;
    /// Accounts for a call's result (>= 0; 0: the end of the stream).
    void account(std::size_t n) noexcept;
    /// read_exact, discard: takes `k` buffered bytes (copied to `out` for read_exact).
    void take_buffered(std::size_t k) noexcept;
    /// read_exact, discard that failed (not cancelled): what is buffered of the goal goes to
    /// the caller, counted in `done`, since no later call of this goal will come for it.
    void give_what_came() noexcept;
    /// The result of a goal that ended. Why it could not be met is thrown, or stored in `ec`
    /// (then: an empty span, nullopt, or the count that came).
    std::span<const std::byte> take_span(bool consume);
    std::optional<std::span<const std::byte>> take_line();
    std::size_t take_count(const char* what);
};

/// peek, take, take_byte, take_until, read_exact, discard and read (some): a ReadProgress
/// driven through the request's steps.
template <ReadGoal G>
class [[nodiscard]] ReaderOperation final : public IoOperation<ReaderOperation<G>> {
  public:
    ReaderOperation(Backend& backend, Reader& r, std::size_t n, std::byte* out = nullptr,
                    std::byte delimiter = {}, std::error_code* ec = nullptr) noexcept
        : IoOperation<ReaderOperation<G>>(backend, ec) {
        p_.reader = &r;
        p_.goal = G;
        p_.n = n;
        p_.out = out;
        p_.delimiter = delimiter;
        p_.ec = ec;
        this->step = &next;
        this->opcode = IoOpcode::read;
    }
    bool try_now() {
        settle(p_.run(*this));  // a goal the buffer meets completes at once, with no call
        return IoOperation<ReaderOperation<G>>::try_now();
    }
    auto take_result() {
        if constexpr (G == ReadGoal::read_exact || G == ReadGoal::discard) {
            // Cancelled, the bytes stay in the reader for the next call; ended or failed, the
            // goal is given up, and the bytes that came go to the caller, counted (a failed
            // call's IoError carries the count).
            if (this->status() != Status::canceled && this->res != -ECANCELED) {
                p_.give_what_came();
                if (this->res < 0 && p_.done != 0 && !this->reports_to_error_code())
                    throw_partial_error(*this, static_cast<int>(-this->res), p_.done);
            }
        }
        // Throws, or stores the error (or the cancellation) in the error_code: -1.
        const bool failed = this->result() < 0;
        if constexpr (G == ReadGoal::peek || G == ReadGoal::take) {
            return failed ? std::span<const std::byte>() : p_.take_span(G == ReadGoal::take);
        } else if constexpr (G == ReadGoal::take_until) {
            return failed ? std::nullopt : p_.take_line();
        } else if constexpr (G == ReadGoal::read_exact) {
            return failed ? p_.done : p_.take_count("read_exact");
        } else if constexpr (G == ReadGoal::discard) {
            return failed ? p_.done : p_.take_count("discard");
        } else {
            return failed ? std::size_t{0} : p_.done;
        }
    }

  private:
    void settle(ReadProgress::Outcome o) noexcept {
        if (o != ReadProgress::Outcome::call) this->finish_early(0);
    }
    static bool next(IoRequest& r) noexcept {
        auto& self = static_cast<ReaderOperation&>(r);
        if (r.res < 0) return true;  // the error (or the cancellation) is the result
        self.p_.account(static_cast<std::size_t>(r.res));
        if (self.p_.run(r) == ReadProgress::Outcome::call) return false;
        r.res = 0;
        return true;
    }

    ReadProgress p_;
};

/// Reader::take_byte: take(1) as a byte (std::byte{} after an error stored in the error_code).
class [[nodiscard]] TakeByteOperation final {
  public:
    TakeByteOperation(Backend& backend, Reader& r, std::error_code* ec = nullptr) noexcept
        : op_(backend, r, 1, nullptr, {}, ec) {}
    std::byte await() { return first(op_.await()); }
    bool await_ready() { return op_.await_ready(); }
    bool await_suspend(std::coroutine_handle<> h) { return op_.await_suspend(h); }
    std::byte await_resume() { return first(op_.await_resume()); }
    TakeByteOperation& bind(stop_token token) noexcept {
        op_.bind(token);
        return *this;
    }
    /// Where the non-throwing form stores its error (read by with_timeout).
    [[nodiscard]] std::error_code* error_code_out() const noexcept { return op_.error_code_out(); }

  private:
    static std::byte first(std::span<const std::byte> s) noexcept {
        return s.empty() ? std::byte{} : s[0];
    }

    ReaderOperation<ReadGoal::take> op_;
};

/// Reader::stream_to: every byte to the end of the stream, into a Writer (left in its buffer:
/// flush it after).
class [[nodiscard]] CORIO_EXPORT StreamToOperation final : public IoOperation<StreamToOperation> {
  public:
    StreamToOperation(Backend& backend, Reader& r, Writer& w,
                      std::error_code* ec = nullptr) noexcept;
    bool try_now();
    /// The count moved (before the failure, when it is stored in the error_code).
    std::uint64_t take_result();

  private:
    enum class Next : unsigned char { done, call, failed };
    Next run() noexcept;
    static bool next(IoRequest& r) noexcept;

    Reader* reader_;
    Writer* writer_;
    std::uint64_t moved_ = 0;
    bool reading_ = false;  // the call in flight fills the reader (else it drains the writer)
    bool end_of_stream_ = false;
    bool refused_ = false;  // the writer's sink takes no more bytes (a full FixedWriter)
    int error_ = 0;
};

}  // namespace detail

/// A buffered source of bytes. Derived classes give the buffer and implement `prepare_read`.
/// Not thread-safe: one task reads at a time, and awaits each operation before the next. A
/// span an operation returns points into the buffer: it is valid until the next operation.
///
/// Each operation has a non-throwing overload that takes a `std::error_code&` last: it clears
/// the code, and stores there what the other form throws (a cancellation as
/// `std::errc::operation_canceled`), returning what each one's comment says instead.
class CORIO_EXPORT Reader {
  public:
    explicit Reader(std::span<std::byte> buffer) noexcept : buffer_(buffer) {}
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    virtual ~Reader() = default;

    [[nodiscard]] std::span<std::byte> buffer() const noexcept { return buffer_; }
    [[nodiscard]] std::size_t seek() const noexcept { return seek_; }
    [[nodiscard]] std::size_t end() const noexcept { return end_; }
    /// The bytes read and not yet taken.
    [[nodiscard]] std::span<const std::byte> buffered() const noexcept {
        return {buffer_.data() + seek_, end_ - seek_};
    }
    /// Marks `n` buffered bytes as taken (at most buffered().size()).
    void toss(std::size_t n) noexcept { seek_ += n < end_ - seek_ ? n : end_ - seek_; }

    /// The next `n` bytes, left in place. Throws IoError (`no_message_available`) when the
    /// stream ends first, and std::system_error (`message_size`) when `n` exceeds the buffer.
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::peek> peek(Io io, std::size_t n) noexcept {
        return {io.backend(), *this, n};
    }
    /// Non-throwing: an empty span on error, the bytes left buffered.
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::peek> peek(
        Io io, std::size_t n, std::error_code& ec) noexcept {
        return {io.backend(), *this, n, nullptr, {}, &ec};
    }
    /// The next `n` bytes, taken (as peek, then toss).
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::take> take(Io io, std::size_t n) noexcept {
        return {io.backend(), *this, n};
    }
    /// Non-throwing: an empty span on error, nothing taken.
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::take> take(
        Io io, std::size_t n, std::error_code& ec) noexcept {
        return {io.backend(), *this, n, nullptr, {}, &ec};
    }
    /// The next byte.
    [[nodiscard]] detail::TakeByteOperation take_byte(Io io) noexcept { return {io.backend(), *this}; }
    /// Non-throwing: std::byte{} on error, nothing taken.
    [[nodiscard]] detail::TakeByteOperation take_byte(Io io, std::error_code& ec) noexcept {
        return {io.backend(), *this, &ec};
    }
    /// The bytes up to `delimiter` (which is taken and not returned): a line, for '\n'. At the
    /// end of the stream: what is left (a last line without its delimiter), then nullopt.
    /// Throws std::system_error (`message_size`) when no delimiter comes within the buffer.
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::take_until> take_until(
        Io io, char delimiter) noexcept {
        return {io.backend(), *this, 0, nullptr, static_cast<std::byte>(delimiter)};
    }
    /// Non-throwing: nullopt on error (the end of the stream leaves `ec` clear), nothing taken.
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::take_until> take_until(
        Io io, char delimiter, std::error_code& ec) noexcept {
        return {io.backend(), *this, 0, nullptr, static_cast<std::byte>(delimiter), &ec};
    }
    /// Fills `out` exactly: the count, out.size(). When `out` fits the buffer, nothing is taken
    /// until all of it is buffered, so a call that a cancellation or `with_timeout` cuts off
    /// leaves every byte in the reader for the next one (and the error_code form returns 0).
    /// A larger `out` is filled straight from the source, which is not cancel-safe: cut off, the
    /// bytes that came are in `out`, and only the error_code form says how many. Completes
    /// inline when the bytes are buffered (one copy). Throws IoError (`no_message_available`,
    /// with the count put in `out`) when the stream ends first.
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::read_exact> read_exact(
        Io io, std::span<std::byte> out) noexcept {
        return {io.backend(), *this, out.size(), out.data()};
    }
    /// Non-throwing: on error, the count put in `out` before it (after a cancellation, 0 when
    /// `out` fits the buffer).
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::read_exact> read_exact(
        Io io, std::span<std::byte> out, std::error_code& ec) noexcept {
        return {io.backend(), *this, out.size(), out.data(), {}, &ec};
    }
    /// Skips `n` bytes: the count, `n`; IoError when the stream ends first. Cancellation as
    /// read_exact's: `n` within the buffer's size skips nothing until all `n` are buffered.
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::discard> discard(Io io,
                                                                            std::size_t n) noexcept {
        return {io.backend(), *this, n};
    }
    /// Non-throwing: on error, the count skipped before it (after a cancellation, 0 when `n`
    /// fits the buffer).
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::discard> discard(
        Io io, std::size_t n, std::error_code& ec) noexcept {
        return {io.backend(), *this, n, nullptr, {}, &ec};
    }
    /// Copies buffered bytes into `out`, or reads once when none are: the count, 0 at the end.
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::read_some> read(
        Io io, std::span<std::byte> out) noexcept {
        return {io.backend(), *this, out.size(), out.data()};
    }
    /// Non-throwing: 0 on error (the end of the stream leaves `ec` clear).
    [[nodiscard]] detail::ReaderOperation<detail::ReadGoal::read_some> read(
        Io io, std::span<std::byte> out, std::error_code& ec) noexcept {
        return {io.backend(), *this, out.size(), out.data(), {}, &ec};
    }
    /// Moves every byte to the end of the stream into `w` (then flush `w`): the count. A
    /// failure after some bytes moved throws IoError with their count.
    [[nodiscard]] detail::StreamToOperation stream_to(Io io, Writer& w) noexcept {
        return {io.backend(), *this, w};
    }
    /// Non-throwing: on error, the count moved before it.
    [[nodiscard]] detail::StreamToOperation stream_to(Io io, Writer& w,
                                                      std::error_code& ec) noexcept {
        return {io.backend(), *this, w, &ec};
    }

  protected:
    /// The step that reaches the source: prepares `r` to read into `into` (never empty) and
    /// returns true, or returns false at the end of a source that needs no call (memory).
    /// Must not wait: the operation makes the call.
    virtual bool prepare_read(detail::IoRequest& r, std::span<std::byte> into) noexcept = 0;

    /// For a Reader whose buffer is its whole source (FixedReader): never refilled or moved.
    void make_fixed(std::size_t size) noexcept {
        end_ = size;
        fixed_ = true;
    }

  private:
    friend struct detail::ReadProgress;
    friend class detail::StreamToOperation;

    bool fixed_ = false;
    std::span<std::byte> buffer_;
    std::size_t seek_ = 0;
    std::size_t end_ = 0;
};

/// A Reader over a File (its file position).
class CORIO_EXPORT FileReader final : public Reader {
  public:
    FileReader(const File& f, std::span<std::byte> buffer) noexcept;

  protected:
    bool prepare_read(detail::IoRequest& r, std::span<std::byte> into) noexcept override;

  private:
    int fd_;
};

/// A Reader over a connected stream socket (TcpStream, UnixStream).
class CORIO_EXPORT StreamReader final : public Reader {
  public:
    StreamReader(const detail::StreamSocket& s, std::span<std::byte> buffer) noexcept;

  protected:
    bool prepare_read(detail::IoRequest& r, std::span<std::byte> into) noexcept override;

  private:
    int fd_;
};

/// A Reader over bytes in memory: the buffer is the data, and its end the end of the stream.
class CORIO_EXPORT FixedReader final : public Reader {
  public:
    explicit FixedReader(std::span<const std::byte> data) noexcept;
    explicit FixedReader(std::string_view text) noexcept
        : FixedReader(std::as_bytes(std::span(text.data(), text.size()))) {}

  protected:
    bool prepare_read(detail::IoRequest&, std::span<std::byte>) noexcept override { return false; }
};

}  // namespace corio
