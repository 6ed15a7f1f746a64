// SPDX-License-Identifier: MIT
// http_server's connections, over loopback TCP on Threaded and IoUring: what a request's bytes
// get back (statuses, and whether the connection is closed), and that a client that sends a
// body slowly or never reads its responses is closed within the idle timeout.
#include "http_connection.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <iterator>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace example::test {
namespace {

/// A request's bytes and what the server must answer.
struct Exchange {
    const char* name;
    std::string request;
    std::vector<int> statuses;  // of the responses, in order
};

std::string filler(std::size_t n) {
    return std::string(n, 'a');
}

const Exchange exchanges[] = {
    {"TwoContentLengthsAreRejectedNotReadAsTwoRequests",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 36\r\nContent-Length: 0\r\n\r\n"
     "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
     {400}},
    {"AHeadOver8KiBGets431",
     "GET / HTTP/1.1\r\nHost: a\r\nX-Filler: " + filler(9000) + "\r\n\r\n",
     {431}},
    {"ARequestLineOver8KiBGets414", "GET /" + filler(9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", {414}},
    {"GarbageAfterTheVersionIsRejected", "GET / HTTP/1.1garbage\r\nHost: a\r\n\r\n", {400}},
    {"AnotherMajorVersionGets505", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", {505}},
    {"AChunkedBodyIsReadAndTheNextRequestServed",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
     "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
     {404, 200}},
    {"AMalformedChunkSizeIsRejected",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
     {400}},
    {"AnotherTransferCodingGets501",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     {501}},
    {"TransferEncodingWithContentLengthIsRejected",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\n\r\n",
     {400}},
    {"ConnectionIsReadAsACaseInsensitiveTokenList",
     "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n",
     {200}},
    {"WhitespaceBeforeTheColonIsRejected", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", {400}},
    {"ABodyOverTheLimitGets413",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n",
     {413}},
    {"AnHttp11RequestWithoutHostIsRejected", "GET / HTTP/1.1\r\n\r\n", {400}},
    {"BareLfLineEndsAreRead", "GET / HTTP/1.1\nHost: a\nConnection: close\n\n", {200}},
    {"AnHttp10RequestIsAnsweredAndClosed", "GET / HTTP/1.0\r\n\r\n", {200}},
    {"PipelinedRequestsAreAnsweredInOrder",
     "GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
     "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
     {200, 404, 200}},
};

class HttpServer : public ::testing::TestWithParam<BackendKind> {
  protected:
    /// A server with idle timeout `idle` (skips when the kernel refuses io_uring).
    void start(std::chrono::milliseconds idle) {
        std::string why;
        backend_ = make_backend(GetParam(), why);
        if (!backend_) GTEST_SKIP() << why;
        server_ = std::make_unique<Server>(corio::Io(*backend_), LoopKind::fibers,
                                           http::Handler{{.idle = idle}});
    }
    void TearDown() override { server_.reset(); }

    std::unique_ptr<corio::Backend> backend_;
    std::unique_ptr<Server> server_;
};

/// Sends `head`, then a body byte every 100 ms: whether the server closed the connection
/// within 3 s.
bool closed_while_trickling(std::uint16_t port, const std::string& head) {
    Client c(port);
    if (!c.send_all(head)) return true;
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < 3s) {
        if (c.send_some("x") < 0 || c.read_until_closed(100ms).closed) return true;
    }
    return false;
}

TEST_P(HttpServer, ABodyOfAContentLengthSentSlowlyIsClosedWithinTheIdleTimeout) {
    start(300ms);
    if (!server_) return;
    EXPECT_TRUE(closed_while_trickling(
        server_->port(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"))
        << "a body sent a byte every 100 ms held its connection for 3 s";
}

TEST_P(HttpServer, AChunkedBodySentSlowlyIsClosedWithinTheIdleTimeout) {
    start(300ms);
    if (!server_) return;
    EXPECT_TRUE(closed_while_trickling(
        server_->port(), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n"))
        << "a body sent a byte every 100 ms held its connection for 3 s";
}

TEST_P(HttpServer, APipeliningClientThatNeverReadsIsClosedWithinTheIdleTimeout) {
    start(300ms);
    if (!server_) return;
    Client c(server_->port(), 4096);
    std::string batch;
    for (int i = 0; i < 100; ++i) batch += "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const auto t0 = std::chrono::steady_clock::now();
    bool closed = false;
    while (!closed && std::chrono::steady_clock::now() - t0 < 5s) {
        const ssize_t n = c.send_some(batch);
        closed = n < 0 || c.closed_by_server();
        if (n == 0) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(closed) << "a client that never reads held its connection for 5 s";
}

class HttpExchange : public ::testing::TestWithParam<std::tuple<BackendKind, std::size_t>> {};

/// The exchange's request gets the responses it names, and the connection is closed after them.
TEST_P(HttpExchange, GetsItsResponsesThenTheConnectionIsClosed) {
    const Exchange& x = exchanges[std::get<1>(GetParam())];
    std::string why;
    auto backend = make_backend(std::get<0>(GetParam()), why);
    if (!backend) GTEST_SKIP() << why;
    // An idle timeout longer than the client's patience: a connection left open shows.
    Server server(corio::Io(*backend), LoopKind::fibers, http::Handler{{.idle = 10s}});
    Client c(server.port());
    c.send_all(x.request);
    const Client::Received r = c.read_until_closed(3s);
    EXPECT_EQ(statuses(r.bytes), x.statuses) << "got:\n" << r.bytes;
    EXPECT_TRUE(r.closed) << "the connection was left open";
}

INSTANTIATE_TEST_SUITE_P(Backends, HttpExchange,
                         ::testing::Combine(::testing::Values(BackendKind::threaded,
                                                              BackendKind::io_uring),
                                            ::testing::Range(std::size_t{0}, std::size(exchanges))),
                         [](const auto& info) {
                             return std::string(name(std::get<0>(info.param))) + "_" +
                                    exchanges[std::get<1>(info.param)].name;
                         });

INSTANTIATE_TEST_SUITE_P(Backends, HttpServer,
                         ::testing::Values(BackendKind::threaded, BackendKind::io_uring),
                         [](const auto& info) { return std::string(name(info.param)); });

}  // namespace
}  // namespace example::test
