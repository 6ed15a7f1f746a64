// SPDX-License-Identifier: MIT
// A hand-written epoll echo server, a peer of corio's echo_server: one thread, level-triggered
// epoll, non-blocking sockets.
//
//   echo_epoll [--port 0]    prints "listening on 127.0.0.1:PORT"; runs until killed
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
    const int port = argc > 2 && std::strcmp(argv[1], "--port") == 0 ? std::atoi(argv[2]) : 0;
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener, SOMAXCONN) != 0) {
        std::perror("echo_epoll: listen");
        return 1;
    }
    socklen_t len = sizeof a;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
    std::printf("echo_epoll: listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    std::fflush(stdout);

    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listener;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    static char buf[16384];
    epoll_event events[256];
    for (;;) {
        const int n = ::epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == listener) {
                for (;;) {
                    const int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                    if (c < 0) break;
                    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    epoll_event cev{};
                    cev.events = EPOLLIN;
                    cev.data.fd = c;
                    ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN) continue;
                ::close(fd);  // closing removes it from the epoll set
                continue;
            }
            ssize_t sent = 0;
            while (sent < got) {  // 64-byte messages: the socket buffer always has room
                const ssize_t w = ::send(fd, buf + sent, static_cast<std::size_t>(got - sent), MSG_NOSIGNAL);
                if (w < 0) {
                    if (errno == EAGAIN) continue;
                    ::close(fd);
                    break;
                }
                sent += w;
            }
        }
    }
}
