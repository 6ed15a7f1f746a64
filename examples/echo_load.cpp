// SPDX-License-Identifier: MIT
// echo_load: a load generator for any echo server (or, with --http, any HTTP/1.1 server),
// built on corio.
//
//   echo_load [--address 127.0.0.1:7000] [--connections 16] [--size 64] [--duration 5]
//             [--backend io_uring|threaded] [--threads 1] [--http]
//
// Each connection sends a message and waits for the whole echo (or the whole response) before
// the next: ping-pong, one request in flight per connection. Prints requests per second and
// latency percentiles; the last line is the same figures as key=value pairs for scripts.
#include "common.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct Config {
    corio::Address address;
    std::size_t size = 64;
    bool http = false;
    std::chrono::steady_clock::time_point deadline;
};

/// One connection's latencies, in nanoseconds.
using Samples = std::vector<std::uint32_t>;

std::uint32_t since(corio::Io io, std::chrono::steady_clock::time_point t0) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(io.now() - t0).count();
    return static_cast<std::uint32_t>(std::min<long long>(ns, UINT32_MAX));
}

corio::Task<Samples> echo_client(corio::Io io, const Config& cfg) {
    Samples samples;
    samples.reserve(1 << 16);
    corio::TcpStream s = co_await corio::TcpStream::connect(io, cfg.address);
    s.set_nodelay(true);
    std::vector<std::byte> msg(cfg.size, std::byte{'e'}), back(cfg.size);
    while (io.now() < cfg.deadline) {
        const auto t0 = io.now();
        co_await s.write_all(io, msg);
        std::size_t got = 0;
        while (got < back.size()) {
            const std::size_t n = co_await s.read(io, std::span(back).subspan(got));
            if (n == 0) throw std::runtime_error("the server closed the connection");
            got += n;
        }
        samples.push_back(since(io, t0));
    }
    co_return samples;
}

corio::Task<Samples> http_client(corio::Io io, const Config& cfg) {
    Samples samples;
    samples.reserve(1 << 16);
    corio::TcpStream s = co_await corio::TcpStream::connect(io, cfg.address);
    s.set_nodelay(true);
    std::array<std::byte, 8192> rbuf;
    corio::StreamReader reader(s, rbuf);
    const std::string_view request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    while (io.now() < cfg.deadline) {
        const auto t0 = io.now();
        co_await s.write_all(io, request);
        std::size_t length = 0;
        for (bool status = true;; status = false) {
            auto line = co_await reader.take_until(io, '\n');
            if (!line) throw std::runtime_error("the server closed the connection");
            std::string_view l(reinterpret_cast<const char*>(line->data()), line->size());
            if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
            if (status && l.substr(0, 12) != "HTTP/1.1 200")
                throw std::runtime_error("unexpected status: " + std::string(l));
            if (l.empty()) break;
            constexpr std::string_view cl = "Content-Length: ";
            if (l.size() > cl.size() && l.substr(0, cl.size()) == cl)
                std::from_chars(l.data() + cl.size(), l.data() + l.size(), length);
        }
        co_await reader.discard(io, length);
        samples.push_back(since(io, t0));
    }
    co_return samples;
}

double percentile(const std::vector<std::uint32_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    const auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1));
    return sorted[i] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
    const example::Flags flags(argc, argv);
    Config cfg;
    cfg.address = corio::Address::parse(flags.get("--address", "127.0.0.1:7000"));
    cfg.size = static_cast<std::size_t>(flags.number("--size", 64));
    cfg.http = flags.has("--http");
    const long connections = flags.number("--connections", 16);
    const long seconds = flags.number("--duration", 5);
    if (connections <= 0 || cfg.size == 0 || seconds <= 0)
        example::Flags::usage_error("--connections, --size and --duration must be positive");
    std::unique_ptr<corio::Backend> backend = example::make_backend(flags);
    corio::Io io(*backend);

    const auto start = io.now();
    cfg.deadline = start + std::chrono::seconds(seconds);
    std::vector<corio::Future<Samples>> clients;
    for (long i = 0; i < connections; ++i)
        clients.push_back(cfg.http ? io.concurrent(http_client, io, std::cref(cfg))
                                   : io.concurrent(echo_client, io, std::cref(cfg)));
    std::vector<std::uint32_t> all;
    std::size_t failed = 0;
    for (auto& c : clients) {
        try {
            Samples s = std::move(c.await());
            all.insert(all.end(), s.begin(), s.end());
        } catch (const std::exception& e) {
            if (failed++ == 0) std::fprintf(stderr, "echo_load: a connection failed: %s\n", e.what());
        }
    }
    const double elapsed = std::chrono::duration<double>(io.now() - start).count();
    std::sort(all.begin(), all.end());
    const double rps = static_cast<double>(all.size()) / elapsed;
    std::printf("echo_load: %ld connections, %s, %.1f s: %zu requests, %.0f requests/s%s\n",
                connections, cfg.http ? "HTTP GET /" : (std::to_string(cfg.size) + "-byte messages").c_str(),
                elapsed, all.size(), rps, failed != 0 ? " (some connections failed)" : "");
    std::printf("latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
                percentile(all, 50), percentile(all, 90), percentile(all, 99),
                percentile(all, 99.9), all.empty() ? 0.0 : all.back() / 1000.0);
    std::printf("requests=%zu rps=%.0f p50_us=%.1f p99_us=%.1f failed=%zu\n", all.size(), rps,
                percentile(all, 50), percentile(all, 99), failed);
    return failed == static_cast<std::size_t>(connections) ? 1 : 0;
}
