// SPDX-License-Identifier: MIT
// The I/O awaitables files and sockets share: one call that transfers bytes, one call with no
// result, and write_all.
#pragma once

#include <corio/detail/io_request.hpp>
#include <corio/io.hpp>

#include <cstddef>
#include <cstdint>
#include <system_error>
#include <utility>

namespace corio::detail {

/// Throws the error of an operation that transferred `transferred` bytes before it failed:
/// IoError when some went through, else as throw_io_error.
[[noreturn]] CORIO_EXPORT void throw_partial_error(const IoRequest& r, int err,
                                                   std::size_t transferred);

/// Closes a descriptor taken out of its owner; closes it without waiting if never awaited.
/// A listener's close also hands the backend's state for it back first (`state`), and
/// completes once nothing in flight holds the socket.
class [[nodiscard]] CloseOperation final : public IoOperation<CloseOperation> {
  public:
    CloseOperation(Backend& backend, int fd_, std::error_code* ec = nullptr,
                   ListenerState* state = nullptr) noexcept
        : IoOperation(backend, ec), state_(state) {
        opcode = IoOpcode::close;
        fd = fd_;
        if (fd_ < 0) fail_early(EBADF);
    }
    CloseOperation(const CloseOperation&) = delete;
    ~CloseOperation() { close_unawaited(); }

    bool try_now() {
        if (state_ != nullptr && fd >= 0) return false;
        return started_ = IoOperation::try_now();
    }
    void arm(const ThreadState& ts) {
        started_ = true;
        if (state_ != nullptr) {
            state_->release_and_close(state_, *this);
            return;
        }
        IoOperation::arm(ts);
    }
    /// A listener's close is not cancellable: it ends by itself, soon.
    void try_cancel() noexcept {
        if (state_ == nullptr) IoOperation::try_cancel();
    }
    void take_result() { result(); }

  private:
    /// Never handed to the backend (not awaited, or its task was cancelled first): closes the
    /// descriptor now, without waiting.
    CORIO_EXPORT void close_unawaited() noexcept;
    ListenerState* state_;
    bool started_ = false;
};

/// A descriptor and its ownership: what File and every socket type share. The destructor
/// closes it without waiting; `close(io)` waits and reports the error.
class CORIO_EXPORT Descriptor {
  public:
    Descriptor() noexcept = default;
    /// Takes ownership of `fd`.
    explicit Descriptor(int fd) noexcept : fd_(fd) {}
    Descriptor(Descriptor&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Descriptor& operator=(Descriptor&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~Descriptor() { reset(); }

    [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
    [[nodiscard]] int fd() const noexcept { return fd_; }
    /// Gives up ownership: the descriptor, and this object is closed.
    int release() noexcept { return std::exchange(fd_, -1); }
    /// Closes the descriptor now (this object is closed at once) and reports close's error.
    [[nodiscard]] CloseOperation close(Io io) noexcept {
        return {io.backend(), std::exchange(fd_, -1)};
    }
    [[nodiscard]] CloseOperation close(Io io, std::error_code& ec) noexcept {
        return {io.backend(), std::exchange(fd_, -1), &ec};
    }

  protected:
    void reset() noexcept;

    int fd_ = -1;
};

/// One call that transfers bytes (read, write, pread, readv, send, recv, ...): the count.
/// A read into an empty buffer fails with UsageError (0 would read as the end of the stream);
/// a write of nothing returns 0 without a call. With an error_code, a failure returns 0.
class [[nodiscard]] TransferOperation final : public IoOperation<TransferOperation> {
  public:
    TransferOperation(Backend& backend, IoOpcode op, int fd_, const void* data, std::size_t size,
                      std::int64_t off = -1, int call_flags = 0,
                      std::error_code* ec = nullptr) noexcept
        : IoOperation(backend, ec) {
        set(op, fd_, data, size, off, call_flags);
        if (size == 0) {
            if (reads_into_buffer(op))
                fail_early(EINVAL);
            else
                finish_early(0);
        }
    }
    std::size_t take_result() {
        const std::int64_t r = result();
        return r < 0 ? 0 : static_cast<std::size_t>(r);
    }
};

/// One call with no result (sync, connect, shutdown, close).
class [[nodiscard]] CallOperation final : public IoOperation<CallOperation> {
  public:
    CallOperation(Backend& backend, IoOpcode op, int fd_, int call_flags = 0,
                  std::error_code* ec = nullptr) noexcept
        : IoOperation(backend, ec) {
        opcode = op;
        fd = fd_;
        flags = call_flags;
    }
    /// For connect: the address, which must outlive the operation.
    CallOperation(Backend& backend, int fd_, const void* address, socklen_t size,
                  std::error_code* ec = nullptr) noexcept
        : IoOperation(backend, ec) {
        opcode = IoOpcode::connect;
        fd = fd_;
        args.connect = {static_cast<const sockaddr*>(address), size, false};
    }
    void take_result() { result(); }
};

/// write_all: writes (or sends) until every byte went or a call failed. Returns the count
/// (the whole size); a failure after some bytes went throws IoError with that count; the
/// non-throwing form stores the error and returns the count written before it.
class [[nodiscard]] WriteAllOperation final : public IoOperation<WriteAllOperation> {
  public:
    WriteAllOperation(Backend& backend, IoOpcode op, int fd_, const void* data, std::size_t size,
                      std::int64_t off = -1, std::error_code* ec = nullptr) noexcept
        : IoOperation(backend, ec) {
        set(op, fd_, data, size, off);
        step = &advance_by;
        if (size == 0) finish_early(0);
    }
    std::size_t take_result() {
        if (status() != Status::canceled && res < 0 && written_ != 0 && !reports_to_error_code())
            throw_partial_error(*this, static_cast<int>(-res), written_);
        result();
        return written_;
    }

  private:
    static bool advance_by(IoRequest& r) noexcept {
        auto& self = static_cast<WriteAllOperation&>(r);
        if (r.res < 0) return true;
        if (r.res == 0) {  // no progress on a non-empty write: the device is full
            r.res = -ENOSPC;
            return true;
        }
        const auto n = static_cast<std::size_t>(r.res);
        self.written_ += n;
        r.buf = static_cast<char*>(r.buf) + n;
        r.len -= n;
        if (r.offset >= 0) r.offset += static_cast<std::int64_t>(n);
        if (r.len != 0) return false;
        r.res = static_cast<std::int64_t>(self.written_);
        return true;
    }

    std::size_t written_ = 0;
};

}  // namespace corio::detail
