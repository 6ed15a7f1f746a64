// SPDX-License-Identifier: MIT
// The example servers' accept loops: a connection whose task cannot be started (its state not
// allocated, or no thread or fiber left for it) is closed, the next one is served, and the loop
// ends cleanly when cancelled. On Threaded and IoUring, for both loops (fibers and tasks).
#include "support.hpp"

#include <corio/fault.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>
#include <tuple>

namespace example::test {
namespace {

/// The examples' echo, as a coroutine (echo_server's kind) or a plain function.
corio::Task<void> echo_task(corio::Io io, corio::TcpStream conn) {
    std::array<std::byte, 256> buf;
    for (;;) {
        const std::size_t n = co_await conn.read(io, buf);
        if (n == 0) co_return;
        co_await conn.write_all(io, std::span(buf).first(n));
    }
}
void echo_plain(corio::Io io, corio::TcpStream conn) {
    std::array<std::byte, 256> buf;
    for (;;) {
        const std::size_t n = conn.read(io, buf).await();
        if (n == 0) return;
        conn.write_all(io, std::span(buf).first(n)).await();
    }
}

class AcceptLoop : public ::testing::TestWithParam<std::tuple<BackendKind, LoopKind>> {
  protected:
    /// A backend for the parameter, limited to `limit` concurrent tasks (nullptr, with `why`
    /// set, when the kernel refuses io_uring).
    std::unique_ptr<corio::Backend> backend(std::string& why,
                                            std::size_t limit = corio::Threaded::unlimited) {
        return make_backend(std::get<0>(GetParam()), why, limit);
    }
    std::unique_ptr<Server> server(corio::Io io) {
        if (std::get<1>(GetParam()) == LoopKind::tasks)
            return std::make_unique<Server>(io, LoopKind::tasks, &echo_task);
        return std::make_unique<Server>(io, LoopKind::fibers, &echo_plain);
    }
    /// Whether a new client is echoed.
    static bool served(std::uint16_t port) {
        Client c(port);
        return c.send_all("ping") && c.read_n(4, 3s) == "ping";
    }
};

TEST_P(AcceptLoop, AConnectionWhoseTaskStateCannotBeAllocatedIsClosedAndTheNextIsServed) {
    if (!corio::fault::available()) GTEST_SKIP() << "built without -Dfault_injection=true";
    std::string why;
    auto b = backend(why);
    if (!b) GTEST_SKIP() << why;
    auto srv = server(corio::Io(*b));
    ASSERT_TRUE(served(srv->port()));
    {
        // The next task state allocated (the next connection's) throws std::bad_alloc.
        corio::fault::Injection inj(corio::fault::Site::spawn, 0, ENOMEM, 1);
        Client refused(srv->port());
        const Client::Received r = refused.read_until_closed(3s);
        EXPECT_TRUE(r.closed) << "the connection that could not be served was left open";
        EXPECT_EQ(r.bytes, "");
        EXPECT_EQ(corio::fault::failed(corio::fault::Site::spawn), 1U);
    }
    EXPECT_TRUE(served(srv->port())) << "the connection after the failure was not served";
    EXPECT_EQ(srv->stop(), "") << "the accept loop ended with an error";
    EXPECT_EQ(srv->log().refused(), 1U);
}

TEST_P(AcceptLoop, AConnectionBeyondTheConcurrencyLimitIsClosedAndALaterOneIsServed) {
    // Room for one connection: a plain function holds its thread or fiber (and its slot) to
    // its end, a coroutine only to its first suspension, so the accept loop takes a slot when
    // it is a plain function and none when it is a coroutine. The connections are plain.
    const bool tasks = std::get<1>(GetParam()) == LoopKind::tasks;
    std::string why;
    auto b = backend(why, tasks ? 1 : 2);
    if (!b) GTEST_SKIP() << why;
    auto srv = std::make_unique<Server>(corio::Io(*b), std::get<1>(GetParam()), &echo_plain);
    {
        // The coroutine loop gives its slot back on the thread it suspended on, which may come
        // after the accept it waits for has completed elsewhere: its first connection may then
        // find no slot and be refused, as it should. The holder is the first one served.
        std::unique_ptr<Client> holder;
        for (int attempt = 0; attempt < 20 && !holder; ++attempt) {
            auto c = std::make_unique<Client>(srv->port());
            if (c->send_all("one") && c->read_n(3, 3s) == "one") holder = std::move(c);
        }
        ASSERT_TRUE(holder) << "no connection was served";
        Client refused(srv->port());
        const Client::Received r = refused.read_until_closed(3s);
        EXPECT_TRUE(r.closed) << "the connection beyond the limit was left open";
        EXPECT_EQ(r.bytes, "");
    }
    ASSERT_TRUE(srv->wait_idle(3s));
    EXPECT_TRUE(served(srv->port())) << "the connection after the refusal was not served";
    EXPECT_EQ(srv->stop(), "") << "the accept loop ended with an error";
    EXPECT_GE(srv->log().refused(), 1U);
}

TEST_P(AcceptLoop, EndsCleanlyWhenCancelledWithConnectionsOpen) {
    std::string why;
    auto b = backend(why);
    if (!b) GTEST_SKIP() << why;
    auto srv = server(corio::Io(*b));
    Client open(srv->port());
    ASSERT_TRUE(open.send_all("x"));
    ASSERT_EQ(open.read_n(1, 3s), "x");
    EXPECT_EQ(srv->stop(), "");
    EXPECT_TRUE(open.read_until_closed(3s).closed);
}

std::string param_name(const ::testing::TestParamInfo<AcceptLoop::ParamType>& info) {
    return std::string(name(std::get<0>(info.param))) +
           (std::get<1>(info.param) == LoopKind::tasks ? "Tasks" : "Fibers");
}

INSTANTIATE_TEST_SUITE_P(Backends, AcceptLoop,
                         ::testing::Combine(::testing::Values(BackendKind::threaded,
                                                              BackendKind::io_uring),
                                            ::testing::Values(LoopKind::fibers, LoopKind::tasks)),
                         param_name);

}  // namespace
}  // namespace example::test
