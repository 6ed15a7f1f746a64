// SPDX-License-Identifier: MIT
// Address: the text forms it reads and prints, the errors it gives for everything else, and the
// system form it hands to socket calls.
#include <corio/error.hpp>
#include <corio/net.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <net/if.h>

#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

namespace {

using corio::Address;

TEST(Address, ParsesIpv4) {
    const Address a = Address::parse("127.0.0.1:8080");
    EXPECT_EQ(a.family(), Address::Family::ipv4);
    EXPECT_EQ(a.port(), 8080);
    EXPECT_TRUE(a.is_loopback());
    EXPECT_EQ(a.to_string(), "127.0.0.1:8080");
    ASSERT_EQ(a.size(), sizeof(sockaddr_in));
    const auto* in = reinterpret_cast<const sockaddr_in*>(a.data());
    EXPECT_EQ(in->sin_family, AF_INET);
    EXPECT_EQ(ntohs(in->sin_port), 8080);
    EXPECT_EQ(ntohl(in->sin_addr.s_addr), 0x7f000001u);
    EXPECT_EQ(Address::parse("10.1.2.3:0").port(), 0);
    EXPECT_EQ(Address::parse("10.1.2.3:65535").port(), 65535);
    EXPECT_FALSE(Address::parse("10.1.2.3:1").is_loopback());
}

TEST(Address, ParsesIpv6InBrackets) {
    const Address a = Address::parse("[::1]:80");
    EXPECT_EQ(a.family(), Address::Family::ipv6);
    EXPECT_EQ(a.port(), 80);
    EXPECT_TRUE(a.is_loopback());
    EXPECT_EQ(a.to_string(), "[::1]:80");
    ASSERT_EQ(a.size(), sizeof(sockaddr_in6));
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a.data());
    EXPECT_EQ(in6->sin6_family, AF_INET6);
    EXPECT_EQ(std::memcmp(&in6->sin6_addr, &in6addr_loopback, sizeof(in6_addr)), 0);
    EXPECT_EQ(Address::parse("[2001:db8::42]:443").to_string(), "[2001:db8::42]:443");
    EXPECT_TRUE(Address::parse("[::ffff:127.0.0.1]:1").is_loopback());  // IPv4-mapped
}

TEST(Address, ParsesAZoneByIndexOrInterfaceName) {
    // The loopback interface exists on every Linux machine, as "lo".
    const unsigned lo = ::if_nametoindex("lo");
    if (lo == 0) GTEST_SKIP() << "no interface named lo here";
    const Address by_name = Address::parse("[fe80::1%lo]:80");
    const Address by_index = Address::parse("[fe80::1%" + std::to_string(lo) + "]:80");
    EXPECT_EQ(by_name, by_index);
    EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(by_name.data())->sin6_scope_id, lo);
    EXPECT_EQ(by_name.to_string(), "[fe80::1%lo]:80");
    EXPECT_NE(by_name, Address::parse("[fe80::1]:80"));  // the zone is part of the address
}

TEST(Address, PrintsWhatItParses) {
    for (const char* text : {"0.0.0.0:0", "255.255.255.255:65535", "192.168.0.10:7000", "[::]:0",
                             "[fe80::abcd:1]:9", "[::ffff:10.0.0.1]:53"}) {
        const Address a = Address::parse(text);
        EXPECT_EQ(a.to_string(), text);
        EXPECT_EQ(Address::parse(a.to_string()), a);
    }
}

/// The message of the UsageError that parse(text) throws, or "" when it throws none.
std::string parse_error(const std::string& text) {
    try {
        (void)Address::parse(text);
    } catch (const corio::UsageError& e) {
        EXPECT_EQ(e.code(), std::make_error_code(std::errc::invalid_argument));
        EXPECT_FALSE(Address::try_parse(text).has_value());
        return e.what();
    }
    return "";
}

TEST(Address, RefusesEveryOtherTextWithAClearError) {
    struct Case {
        const char* text;
        const char* says;
    };
    for (const Case& c : {
             Case{"", "it is empty"},
             Case{"127.0.0.1", "no ':port'"},
             Case{"127.0.0.1:", "the port is not a number"},
             Case{"127.0.0.1:65536", "the port is not a number from 0 to 65535"},
             Case{"127.0.0.1:-1", "the port is not a number"},
             Case{"127.0.0.1:80x", "the port is not a number"},
             Case{"127.0.0.1: 80", "the port is not a number"},
             Case{"127.0.0.1:123456", "the port is not a number"},
             Case{"localhost:80", "a host name needs resolve"},
             Case{"256.0.0.1:80", "not an IPv4 address"},
             Case{"1.2.3:80", "not an IPv4 address"},
             Case{":80", "not an IPv4 address"},
             Case{"::1:80", "written in brackets"},
             Case{"[::1]", "no ':port' after the ']'"},
             Case{"[::1]80", "no ':port' after the ']'"},
             Case{"[::1:80", "without its ']'"},
             Case{"[127.0.0.1]:80", "not an IPv6 address"},
             Case{"[::g]:80", "not an IPv6 address"},
             Case{"[fe80::1%]:80", "an empty zone"},
             Case{"[fe80::1%no-such-interface0]:80", "no network interface"},
         }) {
        const std::string msg = parse_error(c.text);
        EXPECT_NE(msg.find(c.says), std::string::npos)
            << "'" << c.text << "' gave: " << (msg.empty() ? "no error" : msg);
        EXPECT_NE(msg.find(std::string("'") + c.text + "'"), std::string::npos)
            << "the message does not quote the text: " << msg;
    }
}

TEST(Address, RefusesANulInTheTextAndQuotesItVisibly) {
    using namespace std::string_view_literals;
    for (const std::string_view text : {"127.0.0.1\0evil.example:80"sv, "127.0.0.1:80\0"sv,
                                        "[::1\0x]:80"sv, "127.0.0.1:8\0"sv "0"sv}) {
        EXPECT_FALSE(Address::try_parse(text).has_value());
        std::string msg;
        try {
            (void)Address::parse(text);
        } catch (const corio::UsageError& e) {
            msg = e.what();
            EXPECT_EQ(e.code(), std::errc::invalid_argument);
        }
        EXPECT_NE(msg.find("a NUL character"), std::string::npos) << msg;
        EXPECT_NE(msg.find("\\0"), std::string::npos) << "the NUL is not shown: " << msg;
    }
    // Printed text stays whole: the part after the NUL is in the message.
    try {
        (void)Address::parse("127.0.0.1\0evil.example:80"sv);
        ADD_FAILURE() << "parsed";
    } catch (const corio::UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("'127.0.0.1\\0evil.example:80'"), std::string::npos)
            << e.what();
    }
}

TEST(Address, LoopbackAnyAndWithPort) {
    EXPECT_EQ(Address::loopback(Address::Family::ipv4, 7000), Address::parse("127.0.0.1:7000"));
    EXPECT_EQ(Address::loopback(Address::Family::ipv6, 7000), Address::parse("[::1]:7000"));
    EXPECT_EQ(Address::any(Address::Family::ipv4, 1), Address::parse("0.0.0.0:1"));
    EXPECT_EQ(Address::any(Address::Family::ipv6, 1), Address::parse("[::]:1"));
    EXPECT_EQ(Address(), Address::parse("0.0.0.0:0"));
    const Address a = Address::parse("[2001:db8::1]:5");
    EXPECT_EQ(a.with_port(6), Address::parse("[2001:db8::1]:6"));
    EXPECT_EQ(a.port(), 5);  // unchanged
    EXPECT_NE(Address::parse("127.0.0.1:1"), Address::parse("127.0.0.1:2"));
    EXPECT_NE(Address::parse("127.0.0.1:1"), Address::parse("[::ffff:127.0.0.1]:1"));
}

TEST(Address, FromASystemAddress) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(9);
    in6.sin6_addr = in6addr_loopback;
    const Address a = Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
    EXPECT_EQ(a, Address::parse("[::1]:9"));

    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(10);
    in.sin_addr.s_addr = htonl(0x0a000001);
    EXPECT_EQ(Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&in), sizeof in),
              Address::parse("10.0.0.1:10"));

    // Too short for its family, another family, or nothing at all: a clear error.
    EXPECT_THROW((void)Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&in6), sizeof in),
                 corio::UsageError);
    sockaddr un{};
    un.sa_family = AF_UNIX;
    EXPECT_THROW((void)Address::from_sockaddr(&un, sizeof un), corio::UsageError);
    EXPECT_THROW((void)Address::from_sockaddr(nullptr, 0), corio::UsageError);
}

}  // namespace
