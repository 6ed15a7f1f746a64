// SPDX-License-Identifier: MIT
// The raw liburing echo server, the limit corio's echo_server is measured against: one thread,
// one ring, one recv or send in flight per connection, one submit-and-wait per turn.
//
//   echo_uring [--port 0]    prints "listening on 127.0.0.1:PORT"; runs until killed
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Conn {
    int fd;
    char buf[16384];
    unsigned pending = 0;  // bytes of buf still to send
    unsigned sent = 0;
};

enum : std::uint64_t { accept_tag = 1 };

int listen_on(int port) {
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s, SOMAXCONN) != 0) {
        std::perror("echo_uring: listen");
        std::exit(1);
    }
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    std::printf("echo_uring: listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    std::fflush(stdout);
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    const int port = argc > 2 && std::strcmp(argv[1], "--port") == 0 ? std::atoi(argv[2]) : 0;
    const int listener = listen_on(port);
    io_uring ring;
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (io_uring_queue_init_params(1024, &ring, &p) != 0) {
        p = {};
        if (io_uring_queue_init_params(1024, &ring, &p) != 0) {
            std::perror("echo_uring: io_uring");
            return 1;
        }
    }
    auto submit_accept = [&] {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_accept(sqe, listener, nullptr, nullptr, SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, accept_tag);
    };
    auto submit_recv = [&](Conn* c) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_recv(sqe, c->fd, c->buf, sizeof c->buf, 0);
        io_uring_sqe_set_data(sqe, c);
    };
    auto submit_send = [&](Conn* c) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_send(sqe, c->fd, c->buf + c->sent, c->pending - c->sent, MSG_NOSIGNAL);
        io_uring_sqe_set_data(sqe, c);
    };
    submit_accept();
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        unsigned head = 0, seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            if (cqe->user_data == accept_tag) {
                if (cqe->res >= 0) {
                    const int one = 1;
                    ::setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    auto* c = new Conn;
                    c->fd = cqe->res;
                    submit_recv(c);
                }
                submit_accept();
                continue;
            }
            auto* c = static_cast<Conn*>(io_uring_cqe_get_data(cqe));
            if (cqe->res <= 0) {  // the end, or an error: close
                ::close(c->fd);
                delete c;
                continue;
            }
            if (c->pending == 0) {  // a recv completed: echo it
                c->pending = static_cast<unsigned>(cqe->res);
                c->sent = 0;
                submit_send(c);
            } else {
                c->sent += static_cast<unsigned>(cqe->res);
                if (c->sent < c->pending) {
                    submit_send(c);
                } else {
                    c->pending = 0;
                    submit_recv(c);
                }
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
