// SPDX-License-Identifier: MIT
// An I/O request (a system call described as data) and the awaitable that runs it on any
// backend through the operation model.
//
// The request lives in the awaitable, on the waiter's stack or coroutine frame: no allocation
// per operation. A backend either performs it at once on the calling thread (`io_now`: the
// Threaded pool's plain callers, Simulated) or starts it and completes it later (`io_start`:
// an io_uring SQE, a job on a pool thread), calling `finish` exactly once. An operation made of
// several calls (write_all, read_file, a Reader filling its buffer) gives the request a `step`:
// the backend calls it after each call, on the thread that saw the result, and runs the request
// again when it returns false, so the waiter is resumed once, at the end.
#pragma once

#include <corio/backend.hpp>
#include <corio/detail/operation.hpp>
#include <corio/error.hpp>
#include <corio/export.hpp>

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <system_error>

namespace corio::detail {

enum class IoOpcode : std::uint8_t {
    read,      // fd, buf, len, offset (-1: the file position)
    write,     // fd, buf, len, offset
    readv,     // fd, buf = const iovec*, len = count, offset
    writev,    // fd, buf = const iovec*, len = count, offset
    openat,    // open.path, flags, open.mode: the new descriptor
    close,     // fd
    fsync,     // fd, flags = 1: data only
    statx,     // fd, stat.out = struct statx*, stat.mask
    accept,    // fd, accept.addr, accept.addrlen (in: size, out: length), accept.listener;
               // flags: accept4's
    connect,   // fd, connect.addr, connect.addrlen
    send,      // fd, buf, len, flags (MSG_NOSIGNAL is added)
    recv,      // fd, buf, len, flags
    sendmsg,   // fd, buf = msghdr*, flags (MSG_NOSIGNAL is added)
    recvmsg,   // fd, buf = msghdr*, flags
    shutdown,  // fd, flags = how
    recv_lend, // fd, len (0: the backend's size), flags; the backend lends the buffer: buf,
               // with lend.lender and lend.id
    nop,       // no call: completes with 0 (the submission and completion path alone)
};

/// Which way a call moves bytes.
enum class IoDirection : std::uint8_t { none, in, out, accept };
/// What a call that found its descriptor not ready (EAGAIN) waits for.
enum class IoReadiness : std::uint8_t { none, readable, writable };
/// The bytes a call moves: none, one buffer (buf, len), an iovec array (buf, len = count), a
/// msghdr (buf).
enum class IoBuffer : std::uint8_t { none, flat, iovec, msghdr };

/// What every backend knows of an opcode, from one table.
struct IoOpcodeInfo {
    const char* name;       // as messages name the call
    IoDirection direction;
    IoReadiness readiness;
    IoBuffer buffer;
    bool partial;           // may move fewer bytes than asked (its result is a count)
};

inline constexpr IoOpcodeInfo io_opcodes[] = {
    {"read", IoDirection::in, IoReadiness::readable, IoBuffer::flat, true},
    {"write", IoDirection::out, IoReadiness::writable, IoBuffer::flat, true},
    {"readv", IoDirection::in, IoReadiness::readable, IoBuffer::iovec, true},
    {"writev", IoDirection::out, IoReadiness::writable, IoBuffer::iovec, true},
    {"open", IoDirection::none, IoReadiness::none, IoBuffer::none, false},
    {"close", IoDirection::none, IoReadiness::none, IoBuffer::none, false},
    {"sync", IoDirection::none, IoReadiness::none, IoBuffer::none, false},
    {"stat", IoDirection::none, IoReadiness::none, IoBuffer::none, false},
    {"accept", IoDirection::accept, IoReadiness::readable, IoBuffer::none, false},
    {"connect", IoDirection::none, IoReadiness::writable, IoBuffer::none, false},
    {"send", IoDirection::out, IoReadiness::writable, IoBuffer::flat, true},
    {"recv", IoDirection::in, IoReadiness::readable, IoBuffer::flat, true},
    {"sendmsg", IoDirection::out, IoReadiness::writable, IoBuffer::msghdr, true},
    {"recvmsg", IoDirection::in, IoReadiness::readable, IoBuffer::msghdr, true},
    {"shutdown", IoDirection::none, IoReadiness::none, IoBuffer::none, false},
    {"recv", IoDirection::in, IoReadiness::readable, IoBuffer::none, true},
    {"nop", IoDirection::none, IoReadiness::none, IoBuffer::none, false},
};
static_assert(std::size(io_opcodes) == static_cast<std::size_t>(IoOpcode::nop) + 1);

constexpr const IoOpcodeInfo& info(IoOpcode op) noexcept {
    return io_opcodes[static_cast<std::size_t>(op)];
}
/// A call that reads into a buffer the caller gives: an empty one is misuse (its 0 would
/// read as the end of the stream).
constexpr bool reads_into_buffer(IoOpcode op) noexcept {
    return info(op).direction == IoDirection::in && info(op).buffer != IoBuffer::none;
}

CORIO_EXPORT const char* to_string(IoOpcode op) noexcept;

/// Who lent a receive buffer (recv_lend), and takes it back.
class BufferLender {
  public:
    virtual void give_back(std::uint32_t id, std::byte* data) noexcept = 0;

  protected:
    ~BufferLender() = default;
};
/// Buffers from the heap: what a backend lends when it has no buffer ring.
CORIO_EXPORT BufferLender& heap_lender() noexcept;
/// The size of the buffers recv_lend takes from the heap.
inline constexpr std::size_t heap_lend_size = 16384;

/// What a backend keeps for a listening socket between its accepts (IoUring: a multishot
/// accept and the connections it took ahead). The backend creates it on the listener's first
/// accept; the listener hands it back when it closes, and the backend frees it once nothing
/// in flight refers to it.
struct IoRequest;
struct ListenerState {
    /// Hands the state back; the listener closes its descriptor itself.
    using Release = void (*)(ListenerState*) noexcept;
    /// Hands the state back and completes `close` (a close of the listener's descriptor) once
    /// nothing in flight holds the socket any more, so its address is free when it returns.
    using ReleaseAndClose = void (*)(ListenerState*, IoRequest& close) noexcept;
    ListenerState(Release r, ReleaseAndClose c) noexcept : release(r), release_and_close(c) {}
    Release release;
    ReleaseAndClose release_and_close;
};
/// Where a listener keeps that state: set once, by the first accept that needs it.
using ListenerSlot = std::atomic<ListenerState*>;

/// The arguments of the calls that take more than a descriptor, a buffer and flags: one
/// struct per opcode, in a union the opcode selects. A request made of several calls sets the
/// struct of its next call when it changes the opcode.
struct OpenArgs {
    const char* path;
    std::uint32_t mode;  // the permissions of a file it creates
};
struct StatArgs {
    void* out;  // struct statx*
    std::uint32_t mask;
};
struct AcceptArgs {
    sockaddr* addr;  // the peer's address, or nullptr
    socklen_t addrlen;
    /// The listener's state slot (a backend may keep state there), or nullptr.
    ListenerSlot* listener;
};
struct ConnectArgs {
    const sockaddr* addr;
    socklen_t addrlen;
    bool under_way;  // a backend that calls without blocking: the connect is in progress
};
struct LendArgs {  // recv_lend's result, set by the backend: who lent `buf`, and its id
    BufferLender* lender;
    std::uint32_t id;
};
union IoArgs {
    OpenArgs open;
    StatArgs stat;
    AcceptArgs accept;
    ConnectArgs connect;
    LendArgs lend;
};

struct IoRequest {
    /// Called with `res` set after each call but the last: true when the request is done,
    /// false when it was prepared again (its next call is to run).
    using Step = bool (*)(IoRequest&) noexcept;
    /// Completes the operation; `res` holds the final result (-ECANCELED: cancelled).
    using Finish = void (*)(IoRequest&) noexcept;

    IoOpcode opcode = IoOpcode::read;
    int fd = -1;
    int flags = 0;
    void* buf = nullptr;
    std::size_t len = 0;
    std::int64_t offset = -1;
    IoArgs args{};  // by opcode
    /// The result of the last call: >= 0, or -errno.
    std::int64_t res = 0;
    Step step = nullptr;
    Finish finish = nullptr;
    /// Set by a backend's io_start: every completion and cancel runs on the waiter's thread.
    bool local = false;
    /// The backend's state while the request is in flight (trivially destructible).
    alignas(16) unsigned char backend_state[96];

    /// Prepares a call on a descriptor (the fields most calls use).
    void set(IoOpcode op, int fd_, const void* data, std::size_t size, std::int64_t off = -1,
             int call_flags = 0) noexcept {
        opcode = op;
        fd = fd_;
        buf = const_cast<void*>(data);
        len = size;
        offset = off;
        flags = call_flags;
    }

    /// After a call: the request is done unless it has a step that prepares another call. A
    /// step sees failed and cancelled calls too (to release what earlier calls took) and ends
    /// the request after an error.
    bool advance() noexcept { return step == nullptr || step(*this); }

    // What a backend does with a request, in these three ways only (`finish` is then called
    // by the backend that started it, or the request is reported done by io_now):

    /// A call returned `result`: true when the request is over (its step ended it, or the call
    /// was cancelled, which ends any request); false when its next call is prepared.
    bool call_done(std::int64_t result) noexcept {
        res = result;
        return advance() || result == -ECANCELED;
    }
    /// The request ends with `err` before its next call could be made (no thread, no buffer);
    /// its step sees the error, as it sees a failed call's.
    void fail(int err) noexcept {
        res = -err;
        advance();
    }
    /// The request ends cancelled before its next call.
    void cancel_before_call() noexcept { fail(ECANCELED); }
};

static_assert(sizeof(IoRequest) <= 192, "an IoRequest lives in every I/O awaitable: it must not grow");

/// Performs one call of `r` on the calling thread, blocking; returns its result (>= 0 or
/// -errno). EINTR is returned as it is.
CORIO_EXPORT std::int64_t perform_call(IoRequest& r) noexcept;

/// Throws the error of a failed I/O call: UsageError for misuse the call reports (a closed or
/// invalid descriptor), else std::system_error naming the call and the descriptor.
[[noreturn]] CORIO_EXPORT void throw_io_error(const IoRequest& r, int err);
/// The error_code of `err`, for the non-throwing overloads.
inline std::error_code io_error_code(int err) noexcept {
    return std::error_code(err, std::system_category());
}

/// The awaitable of an I/O request. Derived provides `take_result()` (reading `res` through
/// `result()`), and may set the request's `step` before it starts.
template <class Derived>
class IoOperation : public Operation<Derived>, protected IoRequest {
  public:
    /// With `ec`, errors (and a cancellation) are stored there instead of thrown: the
    /// non-throwing overloads.
    explicit IoOperation(Backend& backend, std::error_code* ec = nullptr) noexcept
        : backend_(&backend), ec_(ec) {
        finish = &on_finish;
        if (ec != nullptr) ec->clear();
    }

    bool try_now() {
        if (early_) {
            res = early_res_;
            this->complete(Status::ok);
            return true;
        }
        if (!backend_->io_now(*this, *this)) return false;
        this->complete(res == -ECANCELED ? Status::canceled : Status::ok);
        return true;
    }
    void arm(const ThreadState& ts) {
        wait_fd_ = fd;  // the request is the backend's from now on: its steps change `fd`
        backend_->io_start(*this, ts);
    }
    void try_cancel() noexcept { backend_->io_cancel(*this); }
    /// Where a non-throwing overload stores its error (nullptr: the operation throws); read by
    /// with_timeout, which reports a cut-off there as `timed_out`.
    [[nodiscard]] std::error_code* error_code_out() const noexcept { return ec_; }
    [[nodiscard]] bool completes_here(const ThreadState& /*ts*/) const noexcept { return local; }
    [[nodiscard]] WaitInfo wait_info() const noexcept { return {WaitKind::io, wait_fd_, {}}; }

  protected:
    /// Fails the operation before it starts (bad input): it completes at once with `err`.
    void fail_early(int err) noexcept { finish_early(-err); }
    /// Completes the operation at once with `result`, with no call.
    void finish_early(std::int64_t result) noexcept {
        early_ = true;
        early_res_ = result;
    }

    /// The final result: >= 0; or -1 after an error (or a cancellation) stored in the
    /// error_code of a non-throwing overload. Throws Canceled or the error otherwise.
    std::int64_t result() {
        if (this->status() == Status::canceled || res == -ECANCELED) {
            if (ec_ == nullptr) throw Canceled();
            *ec_ = std::make_error_code(std::errc::operation_canceled);
            return -1;
        }
        if (res < 0) {
            if (ec_ == nullptr) throw_io_error(*this, static_cast<int>(-res));
            *ec_ = io_error_code(static_cast<int>(-res));
            return -1;
        }
        return res;
    }
    [[nodiscard]] bool reports_to_error_code() const noexcept { return ec_ != nullptr; }

  private:
    static void on_finish(IoRequest& r) noexcept {
        auto& self = static_cast<IoOperation&>(r);
        self.complete(r.res == -ECANCELED ? Status::canceled : Status::ok);
    }

    Backend* backend_;
    std::error_code* ec_;
    std::int64_t early_res_ = 0;
    int wait_fd_ = -1;
    bool early_ = false;
};

}  // namespace corio::detail
