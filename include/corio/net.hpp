// SPDX-License-Identifier: MIT
// Networking: socket addresses (IPv4 and IPv6), TCP, Unix stream and UDP sockets.
#pragma once

#include <corio/detail/io_ops.hpp>
#include <corio/export.hpp>
#include <corio/file.hpp>
#include <corio/io.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace corio {

/// An IPv4 or IPv6 socket address: a host address and a port. A value type, usable wherever the
/// system wants a `sockaddr` (`data()`, `size()`).
///
/// Text forms: `"127.0.0.1:8080"`, `"[::1]:80"`, `"[fe80::1%eth0]:80"` (a zone by interface name
/// or index). The port is required; an IPv6 address with a port is written in brackets.
class CORIO_EXPORT Address {
  public:
    enum class Family : unsigned char { ipv4, ipv6 };

    /// 0.0.0.0:0, the IPv4 wildcard.
    Address() noexcept;

    /// Parses a text form; throws UsageError (`std::errc::invalid_argument`) that quotes the
    /// text and says what is wrong with it.
    static Address parse(std::string_view text);
    /// The same, with no exception: nullopt when `text` is not an address.
    static std::optional<Address> try_parse(std::string_view text) noexcept;
    /// 127.0.0.1 or ::1, with `port`.
    static Address loopback(Family family, std::uint16_t port) noexcept;
    /// 0.0.0.0 or ::, with `port` (every local address, to bind to).
    static Address any(Family family, std::uint16_t port) noexcept;
    /// From a system address (as `accept` or `getsockname` returns it); throws UsageError when
    /// it is neither AF_INET nor AF_INET6, or `len` is too short for its family.
    static Address from_sockaddr(const sockaddr* sa, socklen_t len);

    [[nodiscard]] Family family() const noexcept {
        return storage_.any.sa_family == AF_INET6 ? Family::ipv6 : Family::ipv4;
    }
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// The same host with another port.
    [[nodiscard]] Address with_port(std::uint16_t port) const noexcept;
    [[nodiscard]] bool is_loopback() const noexcept;
    /// The text form, which `parse` reads back to an equal address.
    [[nodiscard]] std::string to_string() const;

    /// For system calls: the `sockaddr` and its length.
    [[nodiscard]] const sockaddr* data() const noexcept { return &storage_.any; }
    [[nodiscard]] socklen_t size() const noexcept {
        return family() == Family::ipv6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    }

    /// Same family, host, port (and IPv6 zone).
    bool operator==(const Address& o) const noexcept;

  private:
    /// Parses `text` into `out`; returns why it is not an address, or nullptr.
    static const char* parse_into(std::string_view text, Address& out, std::string& detail);

    union Storage {
        sockaddr any;
        sockaddr_in v4;
        sockaddr_in6 v6;
    };
    Storage storage_;
};

// ---- name resolution ----------------------------------------------------------------------------

namespace detail {

struct ResolveState;

/// resolve: getaddrinfo on a thread of the backend's (never a worker), in a state shared with
/// it, so a cancelled caller leaves at once and the lookup ends on its own.
class [[nodiscard]] CORIO_EXPORT ResolveOperation final : public Operation<ResolveOperation> {
  public:
    ResolveOperation(Backend& backend, std::string_view host, std::uint16_t port) noexcept;
    ResolveOperation(const ResolveOperation&) = delete;
    ~ResolveOperation();

    bool try_now();
    void arm();
    void try_cancel() noexcept;
    [[nodiscard]] WaitInfo wait_info() const noexcept { return {WaitKind::io, -1, {}}; }
    std::vector<Address> take_result();

  private:
    friend struct ResolveState;
    void finished() noexcept { complete(Status::ok); }

    Backend* backend_;
    std::string host_;
    std::uint16_t port_;
    ResolveState* state_ = nullptr;
    std::vector<Address> result_;
    int error_ = 0;         // a getaddrinfo error (EAI_*), or
    int system_error_ = 0;  // errno, for EAI_SYSTEM or a failure to start
};

}  // namespace detail

/// The IPv4 and IPv6 addresses of `host` (a name or a numeric address) with `port`, in the
/// order getaddrinfo gives them. The lookup runs on a thread of the backend's (its pool on
/// Threaded, its blocking-offload pool on IoUring; on Simulated, at once): a cancelled caller
/// returns at once with Canceled while the lookup finishes by itself. A name that does not
/// resolve throws std::system_error (`std::errc::host_unreachable`) naming it and saying why.
[[nodiscard]] inline detail::ResolveOperation resolve(Io io, std::string_view host,
                                                      std::uint16_t port) noexcept {
    return {io.backend(), host, port};
}

// ---- sockets ----------------------------------------------------------------------------------

/// Which directions `shutdown` ends.
enum class Shutdown : unsigned char { read = SHUT_RD, write = SHUT_WR, both = SHUT_RDWR };

/// What `recv_from` returns: the size of the datagram's bytes in the buffer, and its sender.
struct Datagram {
    std::size_t size = 0;
    Address from;
};

/// A receive buffer lent by `recv_lend`, holding the bytes received. Destroying it (or
/// `give_back()`) returns the buffer to its lender, from any thread; it must be given back
/// before the backend that lent it is destroyed. Empty: the end of the stream (or moved from).
class LentBuffer {
  public:
    LentBuffer() noexcept = default;
    LentBuffer(detail::BufferLender* lender, std::uint32_t id, std::byte* data,
               std::size_t size) noexcept
        : lender_(lender), id_(id), data_(data), size_(size) {}
    LentBuffer(LentBuffer&& o) noexcept
        : lender_(std::exchange(o.lender_, nullptr)), id_(o.id_),
          data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    LentBuffer& operator=(LentBuffer&& o) noexcept {
        if (this != &o) {
            give_back();
            lender_ = std::exchange(o.lender_, nullptr);
            id_ = o.id_;
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    ~LentBuffer() { give_back(); }

    [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
    [[nodiscard]] std::string_view text() const noexcept {
        return {reinterpret_cast<const char*>(data_), size_};
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

    /// Returns the buffer now; this object is empty afterwards.
    void give_back() noexcept {
        if (lender_ != nullptr) std::exchange(lender_, nullptr)->give_back(id_, data_);
        data_ = nullptr;
        size_ = 0;
    }

  private:
    detail::BufferLender* lender_ = nullptr;
    std::uint32_t id_ = 0;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

namespace detail {

/// recv_lend: receives into a buffer the backend picks when the bytes come (IoUring: from the
/// worker's provided-buffer ring; elsewhere: from the heap), and lends it to the caller.
class [[nodiscard]] RecvLendOperation final : public IoOperation<RecvLendOperation> {
  public:
    RecvLendOperation(Backend& backend, int fd_, std::error_code* ec = nullptr) noexcept
        : IoOperation(backend, ec) {
        opcode = IoOpcode::recv_lend;
        fd = fd_;
    }
    RecvLendOperation(const RecvLendOperation&) = delete;
    ~RecvLendOperation() { (void)take_buffer(); }  // a buffer not handed out goes back

    LentBuffer take_result() {
        LentBuffer b = take_buffer();  // owned from here: given back if this throws
        if (result() <= 0) return LentBuffer();
        return b;
    }

  private:
    LentBuffer take_buffer() noexcept {
        if (buf == nullptr || args.lend.lender == nullptr) return {};
        const std::size_t n = res > 0 ? static_cast<std::size_t>(res) : 0;
        LentBuffer b(args.lend.lender, args.lend.id, static_cast<std::byte*>(buf), n);
        buf = nullptr;
        args.lend.lender = nullptr;
        return b;
    }
};

/// Copies a socket address into operation storage.
inline socklen_t copy_sockaddr(sockaddr_storage& to, const sockaddr* from, socklen_t len) noexcept {
    if (len > static_cast<socklen_t>(sizeof to)) len = sizeof to;
    std::memcpy(&to, from, len);
    return len;
}

/// connect: a new socket of the address's family, connected; the stream (S) once it is.
template <class S>
class [[nodiscard]] ConnectOperation final : public IoOperation<ConnectOperation<S>> {
  public:
    ConnectOperation(Backend& backend, const sockaddr* to, socklen_t len,
                     std::error_code* ec = nullptr) noexcept
        : IoOperation<ConnectOperation<S>>(backend, ec) {
        this->opcode = IoOpcode::connect;
        this->args.connect = {reinterpret_cast<const sockaddr*>(&peer_),
                              copy_sockaddr(peer_, to, len), false};
        const int injected = backend.socket_fault();
        const int s = injected != 0 ? -1 : ::socket(to->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
            this->fail_early(injected != 0 ? injected : errno);
        else
            this->fd = s;
    }
    /// A path too long for a Unix socket address.
    ConnectOperation(Backend& backend, int err, std::error_code* ec) noexcept
        : IoOperation<ConnectOperation<S>>(backend, ec) {
        this->opcode = IoOpcode::connect;
        this->fail_early(err);
    }
    ConnectOperation(const ConnectOperation&) = delete;
    ~ConnectOperation() {
        if (this->fd >= 0) ::close(this->fd);
    }
    S take_result() {
        if (this->result() < 0) return S();
        return S(std::exchange(this->fd, -1));
    }

  private:
    sockaddr_storage peer_{};
};

/// accept: the next connection of a listener, as a stream (S).
template <class S>
class [[nodiscard]] AcceptOperation final : public IoOperation<AcceptOperation<S>> {
  public:
    AcceptOperation(Backend& backend, int listener_fd, ListenerSlot* slot,
                    std::error_code* ec = nullptr) noexcept
        : IoOperation<AcceptOperation<S>>(backend, ec) {
        this->opcode = IoOpcode::accept;
        this->fd = listener_fd;
        this->args.accept = {nullptr, 0, slot};
    }
    S take_result() {
        const std::int64_t r = this->result();
        return r < 0 ? S() : S(static_cast<int>(r));
    }
};

/// sendmsg and recvmsg: gathered and scattered stream I/O, datagrams to and from an address.
class [[nodiscard]] MessageOperation final : public IoOperation<MessageOperation> {
  public:
    MessageOperation(Backend& backend, IoOpcode op, int fd_, const iovec* iov, std::size_t n,
                     std::error_code* ec = nullptr) noexcept
        : IoOperation(backend, ec) {
        opcode = op;
        fd = fd_;
        msg_.msg_iov = const_cast<iovec*>(iov);
        msg_.msg_iovlen = n;
        buf = &msg_;
        std::size_t total = 0;
        for (std::size_t i = 0; i < n; ++i) total += iov[i].iov_len;
        len = total;  // for the empty-buffer check and the dumps
        if (op == IoOpcode::recvmsg && total == 0) fail_early(EINVAL);
    }
    /// A datagram to `to`.
    MessageOperation(Backend& backend, int fd_, std::span<const std::byte> data, const Address& to,
                     std::error_code* ec = nullptr) noexcept
        : MessageOperation(backend, IoOpcode::sendmsg, fd_, &one_, 1, ec) {
        one_ = {const_cast<std::byte*>(data.data()), data.size()};
        msg_.msg_iov = &one_;
        msg_.msg_name = &peer_;
        msg_.msg_namelen = copy_sockaddr(peer_, to.data(), to.size());
        len = data.size();
    }
    std::size_t take_result() {
        const std::int64_t r = result();
        return r < 0 ? 0 : static_cast<std::size_t>(r);
    }
  private:
    msghdr msg_{};
    iovec one_{};
    sockaddr_storage peer_{};
};

/// recv_from: one datagram into a buffer, with its sender.
class [[nodiscard]] RecvFromOperation final : public IoOperation<RecvFromOperation> {
  public:
    RecvFromOperation(Backend& backend, int fd_, std::span<std::byte> data,
                      std::error_code* ec = nullptr) noexcept
        : IoOperation(backend, ec) {
        opcode = IoOpcode::recvmsg;
        fd = fd_;
        one_ = {data.data(), data.size()};
        msg_.msg_iov = &one_;
        msg_.msg_iovlen = 1;
        msg_.msg_name = &peer_;
        msg_.msg_namelen = sizeof peer_;
        buf = &msg_;
        len = data.size();
        if (data.empty()) fail_early(EINVAL);
    }
    Datagram take_result() {
        Datagram d;
        const std::int64_t r = result();
        if (r < 0) return d;
        d.size = static_cast<std::size_t>(r);
        if (peer_.ss_family == AF_INET || peer_.ss_family == AF_INET6)
            d.from = Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&peer_),
                                            msg_.msg_namelen);
        return d;
    }

  private:
    msghdr msg_{};
    iovec one_{};
    sockaddr_storage peer_{};
};

/// What every socket type shares: the descriptor it owns, and its options and names.
class CORIO_EXPORT Socket : public Descriptor {
  public:
    using Descriptor::Descriptor;

    /// setsockopt with an int value; throws std::system_error (UsageError when closed).
    void set_option(int level, int name, int value);
    /// getsockopt of an int value.
    [[nodiscard]] int option(int level, int name) const;

  protected:
    /// getsockname or getpeername, as an Address.
    [[nodiscard]] Address address(bool peer) const;
};

/// What TcpListener and UnixListener share: the state a backend keeps for the listener between
/// its accepts (on IoUring, a multishot accept: connections are accepted as they come and
/// queued until an `accept` takes them). Closing, destroying or releasing the listener stops
/// it listening at once and closes the connections it accepted that nobody took. A destroyed
/// listener's address may stay taken for a moment, until its backend saw it go (on IoUring,
/// the next time the ring is entered); after `close(io)` it is free.
class CORIO_EXPORT ListeningSocket : public Socket {
  public:
    ListeningSocket() noexcept = default;
    explicit ListeningSocket(int fd) noexcept : Socket(fd) {}
    ListeningSocket(ListeningSocket&& o) noexcept
        : Socket(std::move(o)), state_(o.state_.exchange(nullptr, std::memory_order_acq_rel)) {}
    ListeningSocket& operator=(ListeningSocket&& o) noexcept {
        if (this != &o) {
            drop_state(true);
            Socket::operator=(std::move(o));
            state_.store(o.state_.exchange(nullptr, std::memory_order_acq_rel),
                         std::memory_order_release);
        }
        return *this;
    }
    ~ListeningSocket() { drop_state(true); }

    /// Gives up ownership of the descriptor (which keeps listening): the descriptor.
    int release() noexcept {
        drop_state(false);
        return Descriptor::release();
    }
    /// Closes the listener: it refuses connections at once, and its address is free for
    /// another listener when this returns.
    [[nodiscard]] CloseOperation close(Io io) noexcept {
        return {io.backend(), take_fd(), nullptr, state_.exchange(nullptr)};
    }
    [[nodiscard]] CloseOperation close(Io io, std::error_code& ec) noexcept {
        return {io.backend(), take_fd(), &ec, state_.exchange(nullptr)};
    }

  protected:
    /// Hands the backend's state back; with `stop`, also stops the socket listening (shutdown),
    /// so its port or path refuses connections from now on.
    void drop_state(bool stop) noexcept;
    /// For close: the descriptor, which this object no longer owns.
    int take_fd() noexcept;
    [[nodiscard]] ListenerSlot* slot() const noexcept { return &state_; }

  private:
    mutable ListenerSlot state_{nullptr};
};

/// Stream I/O: what TcpStream and UnixStream share.
class CORIO_EXPORT StreamSocket : public Socket {
  public:
    using Socket::Socket;

    /// Receives what has arrived (at least one byte): the count; 0 once the peer shut down
    /// its side.
    [[nodiscard]] TransferOperation read(Io io, std::span<std::byte> buf) const noexcept {
        return {io.backend(), IoOpcode::recv, fd_, buf.data(), buf.size()};
    }
    [[nodiscard]] TransferOperation read(Io io, std::span<std::byte> buf,
                                         std::error_code& ec) const noexcept {
        return {io.backend(), IoOpcode::recv, fd_, buf.data(), buf.size(), -1, 0, &ec};
    }
    /// Receives what has arrived into a buffer lent to the caller, which gives it back by
    /// destroying the LentBuffer; empty once the peer shut down its side. No buffer is tied up
    /// while it waits: on IoUring the kernel picks one from the worker's provided-buffer ring
    /// when the bytes come (IoUring::Options::lend_buffers of lend_buffer_size bytes), and
    /// fails with `no_buffer_space` when every one is lent; elsewhere it is a heap buffer of
    /// detail::heap_lend_size bytes.
    [[nodiscard]] RecvLendOperation recv_lend(Io io) const noexcept {
        return {io.backend(), fd_};
    }
    [[nodiscard]] RecvLendOperation recv_lend(Io io, std::error_code& ec) const noexcept {
        return {io.backend(), fd_, &ec};
    }
    /// Sends some of `buf`: the count. A peer that is gone fails with EPIPE or ECONNRESET,
    /// never with a SIGPIPE.
    [[nodiscard]] TransferOperation write(Io io, std::span<const std::byte> buf) const noexcept {
        return {io.backend(), IoOpcode::send, fd_, buf.data(), buf.size()};
    }
    [[nodiscard]] TransferOperation write(Io io, std::span<const std::byte> buf,
                                          std::error_code& ec) const noexcept {
        return {io.backend(), IoOpcode::send, fd_, buf.data(), buf.size(), -1, 0, &ec};
    }
    /// Sends every byte: the count; IoError (with the count sent) when the peer went first.
    [[nodiscard]] WriteAllOperation write_all(Io io, std::span<const std::byte> buf) const noexcept {
        return {io.backend(), IoOpcode::send, fd_, buf.data(), buf.size()};
    }
    [[nodiscard]] WriteAllOperation write_all(Io io, std::string_view text) const noexcept {
        return {io.backend(), IoOpcode::send, fd_, text.data(), text.size()};
    }
    [[nodiscard]] WriteAllOperation write_all(Io io, std::span<const std::byte> buf,
                                              std::error_code& ec) const noexcept {
        return {io.backend(), IoOpcode::send, fd_, buf.data(), buf.size(), -1, &ec};
    }
    /// Scattered receive and gathered send.
    [[nodiscard]] MessageOperation readv(Io io, std::span<const iovec> bufs) const noexcept {
        return {io.backend(), IoOpcode::recvmsg, fd_, bufs.data(), bufs.size()};
    }
    [[nodiscard]] MessageOperation writev(Io io, std::span<const iovec> bufs) const noexcept {
        return {io.backend(), IoOpcode::sendmsg, fd_, bufs.data(), bufs.size()};
    }
    [[nodiscard]] MessageOperation readv(Io io, std::span<const iovec> bufs,
                                         std::error_code& ec) const noexcept {
        return {io.backend(), IoOpcode::recvmsg, fd_, bufs.data(), bufs.size(), &ec};
    }
    [[nodiscard]] MessageOperation writev(Io io, std::span<const iovec> bufs,
                                          std::error_code& ec) const noexcept {
        return {io.backend(), IoOpcode::sendmsg, fd_, bufs.data(), bufs.size(), &ec};
    }
    /// Ends one or both directions; the peer reads 0 after a write shutdown.
    [[nodiscard]] CallOperation shutdown(Io io, Shutdown how = Shutdown::write) const noexcept {
        return {io.backend(), IoOpcode::shutdown, fd_, static_cast<int>(how)};
    }
    [[nodiscard]] CallOperation shutdown(Io io, Shutdown how, std::error_code& ec) const noexcept {
        return {io.backend(), IoOpcode::shutdown, fd_, static_cast<int>(how), &ec};
    }
};

}  // namespace detail

/// A TCP connection.
class CORIO_EXPORT TcpStream : public detail::StreamSocket {
  public:
    using StreamSocket::StreamSocket;

    /// Connects to `to` (bound it with `with_timeout` for a deadline).
    [[nodiscard]] static detail::ConnectOperation<TcpStream> connect(Io io,
                                                                     const Address& to) noexcept {
        return {io.backend(), to.data(), to.size()};
    }
    [[nodiscard]] static detail::ConnectOperation<TcpStream> connect(Io io, const Address& to,
                                                                     std::error_code& ec) noexcept {
        return {io.backend(), to.data(), to.size(), &ec};
    }
    /// TCP_NODELAY: send small writes at once instead of coalescing them.
    void set_nodelay(bool on) { set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0); }
    /// SO_KEEPALIVE: probe an idle connection so a vanished peer is noticed.
    void set_keepalive(bool on) { set_option(SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0); }
    [[nodiscard]] Address local_address() const { return address(false); }
    [[nodiscard]] Address peer_address() const { return address(true); }
};

/// How TcpListener::bind sets up its socket.
struct ListenOptions {
    /// The accept queue's length.
    int backlog = SOMAXCONN;
    /// SO_REUSEADDR: bind a port whose old connections are still in TIME_WAIT.
    bool reuse_address = true;
    /// SO_REUSEPORT: several listeners (one per worker or process) on one port.
    bool reuse_port = false;
};

/// A listening TCP socket.
class CORIO_EXPORT TcpListener : public detail::ListeningSocket {
  public:
    using ListeningSocket::ListeningSocket;

    /// Binds `at` and listens (no wait: these calls do not block). Port 0 picks a free port
    /// (see local_address). Throws std::system_error naming the address (EADDRINUSE, EACCES).
    static TcpListener bind(Io io, const Address& at, ListenOptions options = {});

    /// The next connection. EMFILE and ENFILE leave it queued: the listener serves it once
    /// descriptors are free again.
    [[nodiscard]] detail::AcceptOperation<TcpStream> accept(Io io) const noexcept {
        return {io.backend(), fd_, slot()};
    }
    [[nodiscard]] detail::AcceptOperation<TcpStream> accept(Io io,
                                                            std::error_code& ec) const noexcept {
        return {io.backend(), fd_, slot(), &ec};
    }
    [[nodiscard]] Address local_address() const { return address(false); }
};

/// A connection on a Unix stream socket.
class CORIO_EXPORT UnixStream : public detail::StreamSocket {
  public:
    using StreamSocket::StreamSocket;

    /// Connects to the socket at `path` (an abstract address when it starts with '\0').
    [[nodiscard]] static detail::ConnectOperation<UnixStream> connect(Io io,
                                                                      std::string_view path) noexcept;
    /// The same, with its error (a cancellation included) stored in `ec` instead of thrown.
    [[nodiscard]] static detail::ConnectOperation<UnixStream> connect(Io io, std::string_view path,
                                                                      std::error_code& ec) noexcept;
    /// A connected pair (socketpair). Throws std::system_error.
    static std::pair<UnixStream, UnixStream> pair();
};

/// A listening Unix stream socket.
class CORIO_EXPORT UnixListener : public detail::ListeningSocket {
  public:
    using ListeningSocket::ListeningSocket;

    /// Binds `path` (which must not exist; an abstract address when it starts with '\0') and
    /// listens. Throws std::system_error naming the path.
    static UnixListener bind(Io io, std::string_view path, int backlog = SOMAXCONN);

    [[nodiscard]] detail::AcceptOperation<UnixStream> accept(Io io) const noexcept {
        return {io.backend(), fd_, slot()};
    }
    [[nodiscard]] detail::AcceptOperation<UnixStream> accept(Io io,
                                                             std::error_code& ec) const noexcept {
        return {io.backend(), fd_, slot(), &ec};
    }
};

/// A UDP socket.
class CORIO_EXPORT UdpSocket : public detail::Socket {
  public:
    using Socket::Socket;

    /// A socket bound to `at` (port 0: any free port).
    static UdpSocket bind(Io io, const Address& at);

    /// Sends one datagram to `to`: the count sent.
    [[nodiscard]] detail::MessageOperation send_to(Io io, std::span<const std::byte> data,
                                                   const Address& to) const noexcept {
        return {io.backend(), fd_, data, to};
    }
    [[nodiscard]] detail::MessageOperation send_to(Io io, std::span<const std::byte> data,
                                                   const Address& to,
                                                   std::error_code& ec) const noexcept {
        return {io.backend(), fd_, data, to, &ec};
    }
    /// Receives one datagram (truncated to the buffer): its size and sender.
    [[nodiscard]] detail::RecvFromOperation recv_from(Io io,
                                                      std::span<std::byte> buf) const noexcept {
        return {io.backend(), fd_, buf};
    }
    [[nodiscard]] detail::RecvFromOperation recv_from(Io io, std::span<std::byte> buf,
                                                      std::error_code& ec) const noexcept {
        return {io.backend(), fd_, buf, &ec};
    }
    [[nodiscard]] Address local_address() const { return address(false); }
};

}  // namespace corio
