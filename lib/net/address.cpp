// SPDX-License-Identifier: MIT
// Address: parsing and printing IPv4 and IPv6 socket addresses.
#include <corio/error.hpp>
#include <corio/net.hpp>

#include <arpa/inet.h>
#include <net/if.h>

#include <cstring>

namespace corio {

namespace {

/// A decimal port, 0-65535, digits only.
bool parse_port(std::string_view s, std::uint16_t& port) noexcept {
    if (s.empty() || s.size() > 5) return false;
    unsigned value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

/// A zone: an interface index in decimal, or an interface's name.
bool parse_zone(std::string_view s, std::uint32_t& index) {
    bool digits = !s.empty();
    std::uint64_t value = 0;
    for (char c : s) {
        if (c < '0' || c > '9' || value > 0xffffffffULL) {
            digits = false;
            break;
        }
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (digits && value != 0 && value <= 0xffffffffULL) {
        index = static_cast<std::uint32_t>(value);
        return true;
    }
    if (s.empty() || s.size() >= IF_NAMESIZE) return false;
    index = ::if_nametoindex(std::string(s).c_str());
    return index != 0;
}

}  // namespace

Address::Address() noexcept : storage_{} { storage_.v4.sin_family = AF_INET; }

const char* Address::parse_into(std::string_view text, Address& out, std::string& detail) {
    if (text.empty()) return "it is empty";
    // The host goes to inet_pton as a C string, which would end it at a NUL.
    if (text.find('\0') != std::string_view::npos) return "it holds a NUL character";
    // Split into host (and zone) and port first: "[host%zone]:port" or "host:port".
    const bool bracketed = text.front() == '[';
    std::string_view host;
    std::string_view zone;
    std::string_view port;
    if (bracketed) {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos) return "a '[' without its ']'";
        host = text.substr(1, close - 1);
        const std::string_view rest = text.substr(close + 1);
        if (rest.empty() || rest.front() != ':') return "no ':port' after the ']'";
        port = rest.substr(1);
        if (const std::size_t percent = host.find('%'); percent != std::string_view::npos) {
            zone = host.substr(percent + 1);
            host = host.substr(0, percent);
            if (zone.empty()) return "an empty zone after the '%'";
        }
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return "no ':port' (the form is host:port)";
        if (text.find(':') != colon)
            return "an IPv6 address with a port is written in brackets, as [::1]:80";
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    std::uint16_t p = 0;
    if (!parse_port(port, p)) {
        detail = std::string(port);
        return "the port is not a number from 0 to 65535";
    }
    Storage storage{};
    if (bracketed) {
        sockaddr_in6& a = storage.v6;
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(p);
        if (::inet_pton(AF_INET6, std::string(host).c_str(), &a.sin6_addr) != 1) {
            detail = std::string(host);
            return "the part in brackets is not an IPv6 address";
        }
        if (!zone.empty() && !parse_zone(zone, a.sin6_scope_id)) {
            detail = std::string(zone);
            return "the zone is no network interface of this machine";
        }
    } else {
        sockaddr_in& a = storage.v4;
        a.sin_family = AF_INET;
        a.sin_port = htons(p);
        if (::inet_pton(AF_INET, std::string(host).c_str(), &a.sin_addr) != 1) {
            detail = std::string(host);
            return "the host is not an IPv4 address (a host name needs resolve)";
        }
    }
    out.storage_ = storage;
    return nullptr;
}

namespace {
/// The text as a message quotes it: control characters (a NUL above all, which would end the
/// message where it is printed) are shown as escapes.
std::string visible(std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size() + 2);
    out += '\'';
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u == 0) {
            out += "\\0";
        } else if (u < 0x20 || u == 0x7f) {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += c;
        }
    }
    out += '\'';
    return out;
}
}  // namespace

Address Address::parse(std::string_view text) {
    Address a;
    std::string detail;
    if (const char* why = parse_into(text, a, detail)) {
        std::string msg = "corio: cannot parse the address " + visible(text) + ": " + why;
        if (!detail.empty()) msg += " (" + visible(detail) + ")";
        throw UsageError(std::errc::invalid_argument, msg);
    }
    return a;
}

std::optional<Address> Address::try_parse(std::string_view text) noexcept {
    try {
        Address a;
        std::string detail;
        if (parse_into(text, a, detail) != nullptr) return std::nullopt;
        return a;
    } catch (...) {  // no memory for a copy of the text
        return std::nullopt;
    }
}

Address Address::loopback(Family family, std::uint16_t port) noexcept {
    Address a = any(family, port);
    if (family == Family::ipv6)
        a.storage_.v6.sin6_addr = in6addr_loopback;
    else
        a.storage_.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

Address Address::any(Family family, std::uint16_t port) noexcept {
    Address a;
    if (family == Family::ipv6) {
        a.storage_ = Storage{};
        a.storage_.v6.sin6_family = AF_INET6;
        a.storage_.v6.sin6_addr = in6addr_any;
        a.storage_.v6.sin6_port = htons(port);
    } else {
        a.storage_.v4.sin_addr.s_addr = htonl(INADDR_ANY);
        a.storage_.v4.sin_port = htons(port);
    }
    return a;
}

Address Address::from_sockaddr(const sockaddr* sa, socklen_t len) {
    Address a;
    if (sa != nullptr && len >= static_cast<socklen_t>(sizeof(sa_family_t))) {
        if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
            std::memcpy(&a.storage_.v4, sa, sizeof(sockaddr_in));
            return a;
        }
        if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
            std::memcpy(&a.storage_.v6, sa, sizeof(sockaddr_in6));
            return a;
        }
    }
    throw UsageError(std::errc::invalid_argument,
                     "corio: a socket address of family " +
                         std::to_string(sa != nullptr && len >= static_cast<socklen_t>(
                                                                  sizeof(sa_family_t))
                                            ? sa->sa_family
                                            : -1) +
                         " and length " + std::to_string(len) +
                         " is not a whole IPv4 or IPv6 address");
}

std::uint16_t Address::port() const noexcept {
    return ntohs(family() == Family::ipv6 ? storage_.v6.sin6_port : storage_.v4.sin_port);
}

Address Address::with_port(std::uint16_t port) const noexcept {
    Address a = *this;
    if (family() == Family::ipv6)
        a.storage_.v6.sin6_port = htons(port);
    else
        a.storage_.v4.sin_port = htons(port);
    return a;
}

bool Address::is_loopback() const noexcept {
    if (family() == Family::ipv4) return (ntohl(storage_.v4.sin_addr.s_addr) >> 24) == 127;
    const in6_addr& a = storage_.v6.sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
}

std::string Address::to_string() const {
    char host[INET6_ADDRSTRLEN] = {};
    if (family() == Family::ipv4) {
        ::inet_ntop(AF_INET, &storage_.v4.sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(port());
    }
    ::inet_ntop(AF_INET6, &storage_.v6.sin6_addr, host, sizeof host);
    std::string s = "[";
    s += host;
    if (const std::uint32_t zone = storage_.v6.sin6_scope_id; zone != 0) {
        char name[IF_NAMESIZE] = {};
        s += '%';
        s += ::if_indextoname(zone, name) != nullptr ? std::string(name) : std::to_string(zone);
    }
    s += "]:";
    s += std::to_string(port());
    return s;
}

bool Address::operator==(const Address& o) const noexcept {
    const Address& a = *this;
    const Address& b = o;
    if (a.family() != b.family()) return false;
    if (a.family() == Address::Family::ipv4)
        return a.storage_.v4.sin_addr.s_addr == b.storage_.v4.sin_addr.s_addr &&
               a.storage_.v4.sin_port == b.storage_.v4.sin_port;
    return std::memcmp(&a.storage_.v6.sin6_addr, &b.storage_.v6.sin6_addr, sizeof(in6_addr)) ==
               0 &&
           a.storage_.v6.sin6_port == b.storage_.v6.sin6_port &&
           a.storage_.v6.sin6_scope_id == b.storage_.v6.sin6_scope_id;
}

}  // namespace corio
