// SPDX-License-Identifier: MIT
// Sockets: the calls that never wait (socket, bind, listen, options, names).
#include <corio/net.hpp>

#include <sys/un.h>
#include <unistd.h>

#include <string>

namespace corio {

namespace {

[[noreturn]] void throw_errno(int err, const std::string& what) {
    if (err == EBADF)
        throw UsageError(std::errc::bad_file_descriptor,
                         what + ": not an open socket (closed, moved from, or never opened)");
    throw std::system_error(err, std::system_category(), what);
}

/// A socket of `family` and `type`, closed again if a later step throws.
class Owned {
  public:
    Owned(Io io, int family, int type, const std::string& what) : fd_(-1) {
        if (const int injected = io.backend().socket_fault(); injected != 0)
            throw_errno(injected, what);
        fd_ = ::socket(family, type | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw_errno(errno, what);
    }
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    ~Owned() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

void set_int(int fd, int level, int name, int value, const std::string& what) {
    if (::setsockopt(fd, level, name, &value, sizeof value) != 0) throw_errno(errno, what);
}

/// A Unix socket address for `path`; false when the path does not fit.
bool unix_address(std::string_view path, sockaddr_un& a, socklen_t& len) noexcept {
    a = {};
    a.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof a.sun_path) return false;
    path.copy(a.sun_path, path.size());
    // An abstract address (leading NUL) is exactly its bytes; a path ends at its NUL.
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                 (path.front() == '\0' ? 0 : 1));
    return true;
}

std::string printable(std::string_view path) {
    std::string s(path);
    if (!s.empty() && s.front() == '\0') s.front() = '@';
    return s;
}

}  // namespace

namespace detail {

void Socket::set_option(int level, int name, int value) {
    set_int(fd_, level, name, value, "corio: setsockopt on fd " + std::to_string(fd_));
}

int Socket::option(int level, int name) const {
    int value = 0;
    socklen_t len = sizeof value;
    if (::getsockopt(fd_, level, name, &value, &len) != 0)
        throw_errno(errno, "corio: getsockopt on fd " + std::to_string(fd_));
    return value;
}

void ListeningSocket::drop_state(bool stop) noexcept {
    ListenerState* s = state_.exchange(nullptr, std::memory_order_acq_rel);
    if (s == nullptr) return;
    s->release(s);
    // A multishot accept in flight keeps the socket open after its descriptor closes: shut it
    // down, so it refuses connections now rather than once the backend saw the release.
    if (stop && fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

int ListeningSocket::take_fd() noexcept { return std::exchange(fd_, -1); }

Address Socket::address(bool peer) const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    auto* sa = reinterpret_cast<sockaddr*>(&ss);
    if ((peer ? ::getpeername(fd_, sa, &len) : ::getsockname(fd_, sa, &len)) != 0)
        throw_errno(errno, std::string("corio: ") + (peer ? "getpeername" : "getsockname") +
                               " on fd " + std::to_string(fd_));
    return Address::from_sockaddr(sa, len);
}

}  // namespace detail

TcpListener TcpListener::bind(Io io, const Address& at, ListenOptions options) {
    const std::string what = "corio: listen on " + at.to_string();
    Owned s(io, at.family() == Address::Family::ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, what);
    if (options.reuse_address) set_int(s.get(), SOL_SOCKET, SO_REUSEADDR, 1, what);
    if (options.reuse_port) set_int(s.get(), SOL_SOCKET, SO_REUSEPORT, 1, what);
    if (::bind(s.get(), at.data(), at.size()) != 0) throw_errno(errno, what);
    if (::listen(s.get(), options.backlog) != 0) throw_errno(errno, what);
    return TcpListener(s.release());
}

detail::ConnectOperation<UnixStream> UnixStream::connect(Io io, std::string_view path) noexcept {
    sockaddr_un a;
    socklen_t len = 0;
    if (!unix_address(path, a, len)) return {io.backend(), ENAMETOOLONG, nullptr};
    return {io.backend(), reinterpret_cast<const sockaddr*>(&a), len};
}

detail::ConnectOperation<UnixStream> UnixStream::connect(Io io, std::string_view path,
                                                        std::error_code& ec) noexcept {
    sockaddr_un a;
    socklen_t len = 0;
    if (!unix_address(path, a, len)) return {io.backend(), ENAMETOOLONG, &ec};
    return {io.backend(), reinterpret_cast<const sockaddr*>(&a), len, &ec};
}

std::pair<UnixStream, UnixStream> UnixStream::pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        throw_errno(errno, "corio: socketpair");
    return {UnixStream(fds[0]), UnixStream(fds[1])};
}

UnixListener UnixListener::bind(Io io, std::string_view path, int backlog) {
    const std::string what = "corio: listen on unix socket \"" + printable(path) + '"';
    sockaddr_un a;
    socklen_t len = 0;
    if (!unix_address(path, a, len))
        throw UsageError(std::errc::filename_too_long,
                         what + ": empty, or longer than " +
                             std::to_string(sizeof a.sun_path - 1) + " bytes");
    Owned s(io, AF_UNIX, SOCK_STREAM, what);
    if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&a), len) != 0)
        throw_errno(errno, what);
    if (::listen(s.get(), backlog) != 0) throw_errno(errno, what);
    return UnixListener(s.release());
}

UdpSocket UdpSocket::bind(Io io, const Address& at) {
    const std::string what = "corio: bind UDP " + at.to_string();
    Owned s(io, at.family() == Address::Family::ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM, what);
    if (::bind(s.get(), at.data(), at.size()) != 0) throw_errno(errno, what);
    return UdpSocket(s.release());
}

}  // namespace corio
