// SPDX-License-Identifier: MIT
// Writer: a buffer in front of a sink, as Zig 0.16's std.Io.Writer. The buffer is filled in
// place; the sink is reached only when it is full (or on flush), through a virtual step that
// does not wait: it prepares the call (which descriptor, which bytes) and the awaitable makes
// it, so one Writer serves plain code and coroutines alike, with no allocation per operation.
#pragma once

#include <corio/detail/io_request.hpp>
#include <corio/export.hpp>
#include <corio/io.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>
#include <utility>

namespace corio {

class Writer;
class File;

namespace detail {

class StreamSocket;
class StreamToOperation;

/// The part of a Writer operation that is not a template: what is left to write and where.
struct CORIO_EXPORT WriteProgress {
    enum class Outcome : unsigned char { done, call, failed };

    Writer* writer = nullptr;
    const std::byte* data = nullptr;  // write_all: the bytes not yet in the buffer or the sink
    std::size_t remaining = 0;
    std::size_t size = 0;     // of the write (write_all's bytes, print's text): for messages
    std::size_t written = 0;  // of `data`, counted once in the buffer or the sink
    bool flush = false;       // drain the buffer once `data` is in
    bool direct = false;      // the call in flight writes `data` itself, not the buffer
    bool refused = false;     // the sink takes nothing more (`error` is ENOBUFS)
    int error = 0;

    /// Moves what it can into the buffer; prepares `r` when the sink must take bytes first.
    Outcome run(IoRequest& r) noexcept;
    /// Accounts for a call's result (> 0).
    void account(std::size_t n) noexcept;
    /// Throws IoError (`no_buffer_space`, with `written`) for a sink that took nothing more,
    /// saying how much of the write did not fit and how much was kept.
    [[noreturn]] void throw_refused() const;
};

/// write_all, print and flush: a WriteProgress driven through the request's steps.
class [[nodiscard]] CORIO_EXPORT WriterOperation final : public IoOperation<WriterOperation> {
  public:
    WriterOperation(Backend& backend, Writer& w, const void* data, std::size_t size, bool flush,
                    std::error_code* ec = nullptr) noexcept;
    /// print: the text formatted into scratch space of the operation's own.
    WriterOperation(Backend& backend, Writer& w, fmt::memory_buffer&& text) noexcept;
    /// print: the text formatted into the buffer already (`size` bytes).
    WriterOperation(Backend& backend, Writer& w, std::size_t size) noexcept;
    bool try_now();
    /// The count written (of write_all's bytes; of print's text).
    std::size_t take_result();

  private:
    static bool next(IoRequest& r) noexcept;
    bool settle(WriteProgress::Outcome o) noexcept;

    WriteProgress progress_;
    fmt::memory_buffer scratch_;
};

}  // namespace detail

/// A buffered sink of bytes. `buffer()[0, end())` holds bytes written and not yet drained.
/// Derived classes give the buffer and implement `prepare_write`. Not thread-safe: one task
/// writes at a time, and awaits each operation before the next.
class CORIO_EXPORT Writer {
  public:
    explicit Writer(std::span<std::byte> buffer) noexcept : buffer_(buffer) {}
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    virtual ~Writer() = default;

    [[nodiscard]] std::span<std::byte> buffer() const noexcept { return buffer_; }
    [[nodiscard]] std::size_t end() const noexcept { return end_; }
    /// The bytes written and not yet drained to the sink.
    [[nodiscard]] std::span<const std::byte> buffered() const noexcept {
        return {buffer_.data(), end_};
    }
    /// Room to write into directly; `advance(n)` then marks `n` of its bytes as written.
    [[nodiscard]] std::span<std::byte> unused() const noexcept {
        return buffer_.subspan(end_);
    }
    void advance(std::size_t n) noexcept { end_ += n; }

    /// Writes every byte (through the buffer; a large write after a drain goes to the sink
    /// directly): the count. A sink that fails after part of it went throws IoError.
    [[nodiscard]] detail::WriterOperation write_all(Io io, std::span<const std::byte> bytes) noexcept {
        return {io.backend(), *this, bytes.data(), bytes.size(), false};
    }
    [[nodiscard]] detail::WriterOperation write_all(Io io, std::string_view text) noexcept {
        return {io.backend(), *this, text.data(), text.size(), false};
    }
    /// Non-throwing: on error, the count written (or kept in the buffer) before it.
    [[nodiscard]] detail::WriterOperation write_all(Io io, std::span<const std::byte> bytes,
                                                    std::error_code& ec) noexcept {
        return {io.backend(), *this, bytes.data(), bytes.size(), false, &ec};
    }
    [[nodiscard]] detail::WriterOperation write_all(Io io, std::string_view text,
                                                    std::error_code& ec) noexcept {
        return {io.backend(), *this, text.data(), text.size(), false, &ec};
    }
    /// Formats (libfmt syntax) into the buffer, or into scratch space when it does not fit
    /// there, then writes it: the count. Throws fmt::format_error for a bad format at run time.
    template <class... A>
    [[nodiscard]] detail::WriterOperation print(Io io, fmt::format_string<A...> format,
                                                A&&... args) {
        const std::span<std::byte> room = unused();
        auto* out = reinterpret_cast<char*>(room.data());
        const auto r = fmt::format_to_n(out, room.size(), format, std::forward<A>(args)...);
        if (r.size <= room.size()) {
            advance(r.size);
            return {io.backend(), *this, r.size};
        }
        fmt::memory_buffer text;
        fmt::format_to(std::back_inserter(text), format, std::forward<A>(args)...);
        return {io.backend(), *this, std::move(text)};
    }
    /// Drains the buffer to the sink (a FixedWriter's buffer is its destination: nothing to do).
    [[nodiscard]] detail::WriterOperation flush(Io io) noexcept {
        return {io.backend(), *this, nullptr, 0, true};
    }
    [[nodiscard]] detail::WriterOperation flush(Io io, std::error_code& ec) noexcept {
        return {io.backend(), *this, nullptr, 0, true, &ec};
    }

  protected:
    /// The step that reaches the sink: prepares `r` to write `data` (never empty) and returns
    /// true, or returns false when the sink takes nothing more (a fixed buffer that is full).
    /// Must not wait: the operation makes the call.
    virtual bool prepare_write(detail::IoRequest& r, std::span<const std::byte> data) noexcept = 0;

    /// For a Writer whose buffer is its destination (FixedWriter): never drained, so a flush
    /// does nothing and a write that does not fit keeps what does.
    void make_fixed() noexcept { fixed_ = true; }

  private:
    friend struct detail::WriteProgress;
    friend class detail::StreamToOperation;

    bool fixed_ = false;
    std::span<std::byte> buffer_;
    std::size_t end_ = 0;
};

/// A Writer over a File (its file position).
class CORIO_EXPORT FileWriter final : public Writer {
  public:
    FileWriter(const File& f, std::span<std::byte> buffer) noexcept;

  protected:
    bool prepare_write(detail::IoRequest& r, std::span<const std::byte> data) noexcept override;

  private:
    int fd_;
};

/// A Writer over a connected stream socket (TcpStream, UnixStream).
class CORIO_EXPORT StreamWriter final : public Writer {
  public:
    StreamWriter(const detail::StreamSocket& s, std::span<std::byte> buffer) noexcept;

  protected:
    bool prepare_write(detail::IoRequest& r, std::span<const std::byte> data) noexcept override;

  private:
    int fd_;
};

/// A Writer into fixed memory: the buffer is the destination. A write (or print) that does not
/// fit keeps what does and fails with IoError (`no_buffer_space`, with the count kept); flush
/// does nothing. Every operation completes inline.
class CORIO_EXPORT FixedWriter final : public Writer {
  public:
    explicit FixedWriter(std::span<std::byte> memory) noexcept : Writer(memory) { make_fixed(); }
    /// What was written.
    [[nodiscard]] std::string_view view() const noexcept {
        return {reinterpret_cast<const char*>(buffer().data()), end()};
    }

  protected:
    bool prepare_write(detail::IoRequest&, std::span<const std::byte>) noexcept override {
        return false;
    }
};

}  // namespace corio
