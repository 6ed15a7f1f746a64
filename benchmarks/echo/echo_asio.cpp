// SPDX-License-Identifier: MIT
// A Boost.Asio echo server written with C++20 coroutines, a peer of corio's echo_server: one
// io_context on one thread.
//
//   echo_asio [--port 0]    prints "listening on 127.0.0.1:PORT"; runs until killed
#include <boost/asio.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

asio::awaitable<void> echo(tcp::socket s) {
    char data[16384];
    try {
        for (;;) {
            const std::size_t n = co_await s.async_read_some(asio::buffer(data), asio::use_awaitable);
            co_await asio::async_write(s, asio::buffer(data, n), asio::use_awaitable);
        }
    } catch (const std::exception&) {
        // the end of the connection
    }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor) {
    for (;;) {
        tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
        s.set_option(tcp::no_delay(true));
        asio::co_spawn(acceptor.get_executor(), echo(std::move(s)), asio::detached);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const int port = argc > 2 && std::strcmp(argv[1], "--port") == 0 ? std::atoi(argv[2]) : 0;
    asio::io_context ctx(1);
    tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::address_v4::loopback(),
                                              static_cast<unsigned short>(port)));
    std::printf("echo_asio: listening on 127.0.0.1:%d\n", acceptor.local_endpoint().port());
    std::fflush(stdout);
    asio::co_spawn(ctx, listen(acceptor), asio::detached);
    ctx.run();
}
