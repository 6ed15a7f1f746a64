// SPDX-License-Identifier: MIT
// Networking: socket addresses (IPv4 and IPv6).
#pragma once

#include <corio/export.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

}  // namespace corio
