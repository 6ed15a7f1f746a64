// SPDX-License-Identifier: MIT
// libFuzzer target: Address::parse, try_parse and to_string over arbitrary bytes.
//
// The whole input is parsed as text. parse and try_parse must agree; a refusal is a UsageError
// (invalid_argument) whose message shows no control character. What parses must print to a
// text that parses back to an equal address, and prints the same again (a fixed point), and
// must survive from_sockaddr and with_port. The same bytes are also read as a raw sockaddr_in
// or sockaddr_in6 (as accept returns them), whose text form must parse back to it too.
#include <corio/error.hpp>
#include <corio/net.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace {

[[noreturn]] void fail(const char* what, std::string_view text) {
    std::fprintf(stderr, "address_fuzz: %s (%zu bytes: '%.*s')\n", what, text.size(),
                 static_cast<int>(text.size()), text.data());
    std::abort();
}

/// What every address must do: print to a text that reads back to itself.
void check_round_trip(const corio::Address& a, std::string_view input) {
    if (!(a == a)) fail("an address differs from itself", input);
    const std::string text = a.to_string();
    const std::optional<corio::Address> back = corio::Address::try_parse(text);
    if (!back) fail(("to_string gave a text that does not parse: " + text).c_str(), input);
    if (!(*back == a))
        fail(("to_string did not read back to an equal address: " + text).c_str(), input);
    if (back->to_string() != text) fail("to_string of the parsed text printed another text", input);
    if (back->family() != a.family() || back->port() != a.port())
        fail("the parsed text has another family or port", input);
    if (back->is_loopback() != a.is_loopback())
        fail("is_loopback changed over a round trip", input);

    const corio::Address copy = corio::Address::from_sockaddr(a.data(), a.size());
    if (!(copy == a)) fail("from_sockaddr(data(), size()) is another address", input);
    const std::uint16_t other = static_cast<std::uint16_t>(a.port() ^ 0x5a5a);
    const corio::Address moved = a.with_port(other);
    if (moved.port() != other || moved.family() != a.family()) fail("with_port", input);
    if (moved == a) fail("an address equals itself with another port", input);
    if (!(moved.with_port(a.port()) == a)) fail("with_port there and back", input);
}

void check_text(std::string_view text) {
    const std::optional<corio::Address> parsed = corio::Address::try_parse(text);
    try {
        const corio::Address a = corio::Address::parse(text);
        if (!parsed) fail("parse accepted what try_parse refused", text);
        if (!(a == *parsed)) fail("parse and try_parse read different addresses", text);
        check_round_trip(a, text);
    } catch (const corio::UsageError& e) {
        if (parsed) fail("try_parse accepted what parse refused", text);
        if (e.code() != std::errc::invalid_argument)
            fail("a refusal with another error code", text);
        const std::string_view msg = e.what();
        if (msg.find("cannot parse the address") == std::string_view::npos)
            fail("a refusal that does not say what it refused", text);
        for (const char c : msg)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                fail("a refusal whose message holds a control character", text);
    }
}

/// The bytes as a system address: family bit, port, address, and (IPv6) flow and scope.
void check_sockaddr(const std::uint8_t* data, std::size_t size, std::string_view input) {
    if (size < 1 + 2 + 4) return;
    if ((data[0] & 1) == 0) {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        std::memcpy(&sa.sin_port, data + 1, 2);
        std::memcpy(&sa.sin_addr, data + 3, 4);
        check_round_trip(
            corio::Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa), sizeof sa),
            input);
        return;
    }
    if (size < 1 + 2 + 16 + 1) return;
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    std::memcpy(&sa.sin6_port, data + 1, 2);
    std::memcpy(&sa.sin6_addr, data + 3, 16);
    // A scope: none, a small index (an interface of this machine, or none), or any number.
    const std::uint8_t scope = data[19];
    if (scope < 128) {
        sa.sin6_scope_id = 0;
    } else if (scope < 240 || size < 24) {
        sa.sin6_scope_id = scope & 15u;
    } else {
        std::memcpy(&sa.sin6_scope_id, data + 20, 4);
    }
    sa.sin6_flowinfo = data[0];  // not part of the address: must not matter
    check_round_trip(
        corio::Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa), sizeof sa), input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check_text(text);
    check_sockaddr(data, size, text);
    return 0;
}
