// SPDX-License-Identifier: MIT
// Accepting connections on loopback. Each iteration the benchmark's thread (the client) opens
// 16 connections and resets them (SO_LINGER 0, so no TIME_WAIT piles up), then waits until the
// server has accepted and closed all 16. The servers, each on a thread of its own:
//   corio_multishot       a Task accept loop on one IoUring worker (one multishot accept)
//   corio_single_shot     the same with Options::multishot_accept = false (an SQE per accept)
//   raw_liburing          one thread, one multishot accept, closing each CQE's connection
//   asio                  a Boost.Asio coroutine accept loop on one io_context thread (epoll)
// Items are connections. The counter server_cpu_ns is the server thread's CPU time per
// connection (from its schedstat): the client's connects dominate the wall time.
#include <corio/corio.hpp>

#include <benchmark/benchmark.h>

#include <liburing.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#ifdef CORIO_BENCH_ASIO
#include <boost/asio.hpp>
#endif

namespace {

constexpr int kBurst = 16;

pid_t this_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

/// CPU time of thread `tid` of this process, in ns.
std::uint64_t thread_cpu_ns(pid_t tid) {
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/schedstat");
    std::uint64_t ns = 0;
    in >> ns;
    return ns;
}

/// What every server gives the client loop.
struct Counters {
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<pid_t> tid{0};
};

int listening_socket(sockaddr_in& at) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    at = {};
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof at;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || ::listen(fd, 4096) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&at), &len) != 0) {
        std::perror("listen");
        std::abort();
    }
    return fd;
}

void client_loop(benchmark::State& state, const sockaddr_in& at, Counters& c) {
    while (c.tid.load() == 0) std::this_thread::yield();
    std::uint64_t target = c.accepted.load();
    const std::uint64_t cpu0 = thread_cpu_ns(c.tid.load());
    for (auto _ : state) {
        int fds[kBurst];
        for (int& fd : fds) {
            fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (::connect(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) != 0) {
                std::perror("connect");
                std::abort();
            }
            const linger reset{1, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        }
        for (int fd : fds) ::close(fd);
        target += kBurst;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (c.accepted.load(std::memory_order_acquire) < target) {
            if (std::chrono::steady_clock::now() > deadline) {
                std::fputs("accept bench: the server stopped accepting\n", stderr);
                std::abort();
            }
            std::this_thread::yield();
        }
    }
    const std::uint64_t cpu1 = thread_cpu_ns(c.tid.load());
    const auto n = static_cast<double>(state.iterations() * kBurst);
    state.SetItemsProcessed(static_cast<std::int64_t>(n));
    state.counters["server_cpu_ns"] = static_cast<double>(cpu1 - cpu0) / n;
}

// ---- corio ------------------------------------------------------------------------------------

corio::Task<void> accept_loop(corio::Io io, const corio::TcpListener& l, Counters& c) {
    c.tid.store(this_tid());
    for (;;) {
        corio::TcpStream s = co_await l.accept(io);
        c.accepted.fetch_add(1, std::memory_order_release);
    }
}

void corio_server(benchmark::State& state, bool multishot) {
    corio::IoUring::Options o;
    o.threads = 1;
    o.multishot_accept = multishot;
    corio::IoUring ring(o);
    corio::Io io = ring.io();
    corio::TcpListener l = corio::TcpListener::bind(
        io, corio::Address::loopback(corio::Address::Family::ipv4, 0), {.backlog = 4096});
    sockaddr_in at{};
    std::memcpy(&at, l.local_address().data(), sizeof at);
    Counters c;
    auto loop = io.concurrent(accept_loop, io, std::cref(l), std::ref(c));
    client_loop(state, at, c);
    try {
        loop.cancel();
    } catch (const corio::Canceled&) {
    }
}

void corio_multishot(benchmark::State& state) { corio_server(state, true); }
void corio_single_shot(benchmark::State& state) { corio_server(state, false); }

// ---- raw liburing -----------------------------------------------------------------------------

void raw_liburing(benchmark::State& state) {
    sockaddr_in at{};
    const int lfd = listening_socket(at);
    const int stop = ::eventfd(0, EFD_CLOEXEC);
    Counters c;
    std::thread server([&] {
        io_uring ring{};
        io_uring_params p{};
        p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        if (io_uring_queue_init_params(64, &ring, &p) != 0 && io_uring_queue_init(64, &ring, 0) != 0)
            std::abort();
        auto arm = [&] {
            io_uring_sqe* sqe = io_uring_get_sqe(&ring);
            io_uring_prep_multishot_accept(sqe, lfd, nullptr, nullptr, SOCK_CLOEXEC);
            io_uring_sqe_set_data64(sqe, 1);
        };
        arm();
        std::uint64_t buf = 0;
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_read(sqe, stop, &buf, sizeof buf, 0);
        io_uring_sqe_set_data64(sqe, 2);
        c.tid.store(this_tid());
        for (bool running = true; running;) {
            io_uring_submit_and_wait(&ring, 1);
            unsigned head = 0;
            unsigned seen = 0;
            io_uring_cqe* cqe = nullptr;
            io_uring_for_each_cqe(&ring, head, cqe) {
                ++seen;
                if (cqe->user_data == 2) {
                    running = false;
                    continue;
                }
                if (cqe->res >= 0) {
                    ::close(cqe->res);
                    c.accepted.fetch_add(1, std::memory_order_release);
                }
                if ((cqe->flags & IORING_CQE_F_MORE) == 0) arm();
            }
            io_uring_cq_advance(&ring, seen);
        }
        io_uring_queue_exit(&ring);
    });
    client_loop(state, at, c);
    const std::uint64_t one = 1;
    if (::write(stop, &one, sizeof one) != sizeof one) std::abort();
    server.join();
    ::close(stop);
    ::close(lfd);
}

// ---- Boost.Asio -------------------------------------------------------------------------------

#ifdef CORIO_BENCH_ASIO
namespace asio = boost::asio;

asio::awaitable<void> asio_accept_loop(asio::ip::tcp::acceptor& acceptor, Counters& c) {
    c.tid.store(this_tid());
    for (;;) {
        asio::ip::tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
        c.accepted.fetch_add(1, std::memory_order_release);
    }
}

void asio_epoll(benchmark::State& state) {
    asio::io_context ctx(1);
    asio::ip::tcp::acceptor acceptor(ctx);
    const asio::ip::tcp::endpoint ep(asio::ip::address_v4::loopback(), 0);
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(4096);
    sockaddr_in at{};
    std::memcpy(&at, acceptor.local_endpoint().data(), sizeof at);
    Counters c;
    asio::co_spawn(ctx, asio_accept_loop(acceptor, c), asio::detached);
    std::thread server([&] { ctx.run(); });
    client_loop(state, at, c);
    ctx.stop();
    server.join();
}
BENCHMARK(asio_epoll)->UseRealTime();
#endif

BENCHMARK(corio_multishot)->UseRealTime();
BENCHMARK(corio_single_shot)->UseRealTime();
BENCHMARK(raw_liburing)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
