// SPDX-License-Identifier: MIT
// I/O requests as blocking system calls, their errors, and the default I/O of a backend.
#include "io/io_call.hpp"

#include "core/fault.hpp"

#include <corio/backend.hpp>
#include <corio/detail/io_request.hpp>
#include <corio/net.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

namespace corio::detail {

namespace {

std::int64_t result_of(long r) noexcept { return r >= 0 ? r : -errno; }

/// Descriptors and counts the kernel takes as int.
int iov_count(std::size_t n) noexcept { return n > INT_MAX ? INT_MAX : static_cast<int>(n); }

/// connect, made again after an interruption: the first call goes on in the kernel, so a later
/// call waits for its outcome instead of starting another.
std::int64_t perform_connect(IoRequest& r) noexcept {
    if (::connect(r.fd, r.args.connect.addr, r.args.connect.addrlen) == 0) return 0;
    int err = errno;
    if (err == EINTR) {
        r.args.connect.under_way = true;  // the attempt is under way: the retry waits for it
        return -EINTR;
    }
    if (err == EISCONN && r.args.connect.under_way) return 0;
    if (err != EALREADY && err != EINPROGRESS) return -err;
    pollfd p{r.fd, POLLOUT, 0};
    if (::poll(&p, 1, -1) < 0) return -errno;  // EINTR: called again, waits again
    socklen_t len = sizeof err;
    if (::getsockopt(r.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
    return err == 0 ? 0 : -err;
}

}  // namespace

const char* to_string(IoOpcode op) noexcept { return info(op).name; }

namespace {

class HeapLender final : public BufferLender {
  public:
    void give_back(std::uint32_t /*id*/, std::byte* data) noexcept override { delete[] data; }
};

}  // namespace

BufferLender& heap_lender() noexcept {
    static HeapLender lender;
    return lender;
}

bool lend_from_heap(IoRequest& r) noexcept {
    if (r.len == 0) r.len = heap_lend_size;
    r.buf = new (std::nothrow) std::byte[r.len];
    if (r.buf == nullptr) return false;
    r.args.lend = {&heap_lender(), 0};
    return true;
}

std::int64_t call_once(IoRequest& r) noexcept {
    switch (r.opcode) {
        case IoOpcode::read:
            return result_of(r.offset < 0 ? ::read(r.fd, r.buf, r.len)
                                          : ::pread(r.fd, r.buf, r.len, r.offset));
        case IoOpcode::write:
            return result_of(r.offset < 0 ? ::write(r.fd, r.buf, r.len)
                                          : ::pwrite(r.fd, r.buf, r.len, r.offset));
        case IoOpcode::readv: {
            auto* iov = static_cast<const iovec*>(r.buf);
            return result_of(r.offset < 0 ? ::readv(r.fd, iov, iov_count(r.len))
                                          : ::preadv(r.fd, iov, iov_count(r.len), r.offset));
        }
        case IoOpcode::writev: {
            auto* iov = static_cast<const iovec*>(r.buf);
            return result_of(r.offset < 0 ? ::writev(r.fd, iov, iov_count(r.len))
                                          : ::pwritev(r.fd, iov, iov_count(r.len), r.offset));
        }
        case IoOpcode::openat:
            return result_of(
                ::openat(AT_FDCWD, r.args.open.path, r.flags | O_CLOEXEC, r.args.open.mode));
        case IoOpcode::close: return result_of(::close(r.fd));
        case IoOpcode::fsync: return result_of(r.flags != 0 ? ::fdatasync(r.fd) : ::fsync(r.fd));
        case IoOpcode::statx:
            return result_of(::statx(r.fd, "", AT_EMPTY_PATH, r.args.stat.mask,
                                     static_cast<struct statx*>(r.args.stat.out)));
        case IoOpcode::accept:
            return result_of(::accept4(r.fd, r.args.accept.addr,
                                       r.args.accept.addr != nullptr ? &r.args.accept.addrlen
                                                                     : nullptr,
                                       r.flags | SOCK_CLOEXEC));
        case IoOpcode::connect: return perform_connect(r);
        case IoOpcode::send: return result_of(::send(r.fd, r.buf, r.len, r.flags | MSG_NOSIGNAL));
        case IoOpcode::recv: return result_of(::recv(r.fd, r.buf, r.len, r.flags));
        case IoOpcode::recv_lend:
            if (r.buf == nullptr && !lend_from_heap(r)) return -ENOMEM;
            return result_of(::recv(r.fd, r.buf, r.len, r.flags));
        case IoOpcode::sendmsg:
            return result_of(::sendmsg(r.fd, static_cast<const msghdr*>(r.buf),
                                       r.flags | MSG_NOSIGNAL));
        case IoOpcode::recvmsg:
            return result_of(::recvmsg(r.fd, static_cast<msghdr*>(r.buf), r.flags));
        case IoOpcode::shutdown: return result_of(::shutdown(r.fd, r.flags));
        case IoOpcode::nop: return 0;
    }
    return -EINVAL;
}

short ready_events(const IoRequest& r) noexcept {
    switch (info(r.opcode).readiness) {
        case IoReadiness::readable: return POLLIN;
        case IoReadiness::writable: return POLLOUT;
        case IoReadiness::none: break;
    }
    return 0;
}

std::int64_t perform_call(IoRequest& r) noexcept {
    for (;;) {
        const int injected = fault_at(fault::Site::io_call);
        const std::int64_t res = injected != 0 ? -injected : call_once(r);
        if (res != -EAGAIN) return res;
        // A non-blocking descriptor: wait until it is ready, as the kernel would for a
        // blocking one (an interruption returns EINTR, and the caller calls again).
        const short events = ready_events(r);
        if (events == 0) return res;
        pollfd p{r.fd, events, 0};
        if (::poll(&p, 1, -1) < 0) return -errno;
    }
}

std::int64_t call_without_blocking(IoRequest& r) noexcept {
    if (r.opcode == IoOpcode::connect && r.args.connect.under_way) {
        // The connect is under way: done once writable, with the socket's error.
        pollfd p{r.fd, POLLOUT, 0};
        if (::poll(&p, 1, 0) <= 0) return -EAGAIN;
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(r.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
        return err == 0 ? 0 : -err;
    }
    if (ready_events(r) == 0) return call_once(r);  // files, close, sync: they do not wait
    const int fl = ::fcntl(r.fd, F_GETFL);
    if (fl < 0) return -errno;
    if ((fl & O_NONBLOCK) == 0) ::fcntl(r.fd, F_SETFL, fl | O_NONBLOCK);
    std::int64_t res;
    if (r.opcode == IoOpcode::connect) {
        res = ::connect(r.fd, r.args.connect.addr, r.args.connect.addrlen) == 0 ? 0 : -errno;
        if (res == -EINPROGRESS) {
            r.args.connect.under_way = true;
            res = -EAGAIN;
        }
    } else {
        res = call_once(r);
    }
    if ((fl & O_NONBLOCK) == 0) ::fcntl(r.fd, F_SETFL, fl);
    return res == -EWOULDBLOCK ? -EAGAIN : res;
}

void throw_io_error(const IoRequest& r, int err) {
    std::string what = "corio: ";
    what += to_string(r.opcode);
    const sockaddr* sa = r.opcode == IoOpcode::connect ? r.args.connect.addr : nullptr;
    if (r.opcode == IoOpcode::openat) {
        what += " \"";
        what += r.args.open.path != nullptr ? r.args.open.path : "";
        what += '"';
    } else if (sa != nullptr && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)) {
        what += " to " + Address::from_sockaddr(sa, r.args.connect.addrlen).to_string();
    } else if (sa != nullptr && sa->sa_family == AF_UNIX) {
        const auto* un = reinterpret_cast<const sockaddr_un*>(sa);
        std::string path(un->sun_path, r.args.connect.addrlen - offsetof(sockaddr_un, sun_path));
        if (!path.empty() && path.front() == '\0') path.front() = '@';
        while (!path.empty() && path.back() == '\0') path.pop_back();
        what += " to unix socket \"" + path + '"';
    } else {
        what += " on fd ";
        what += std::to_string(r.fd);
    }
    if (err == EINVAL && reads_into_buffer(r.opcode) && r.len == 0) {
        what += ": the buffer is empty (a read of 0 bytes would look like the end of the stream)";
        throw UsageError(std::errc::invalid_argument, what);
    }
    if (err == EBADF) {
        what += ": not an open descriptor (closed, moved from, or never opened)";
        throw UsageError(std::errc::bad_file_descriptor, what);
    }
    throw std::system_error(err, std::system_category(), what);
}

}  // namespace corio::detail
