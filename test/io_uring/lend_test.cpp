// SPDX-License-Identifier: MIT
// recv_lend on IoUring: a worker's provided-buffer ring, which runs out when every buffer is
// lent and fills again as buffers come back from any thread; the options are checked.
#include "io_uring/support.hpp"

#include <corio/net.hpp>

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace corio::test {
namespace {

using namespace std::chrono_literals;

/// One worker lending `count` buffers of `size` bytes (0: heap buffers); nullptr with `why`
/// set when the kernel refuses io_uring.
std::unique_ptr<IoUring> lending_ring(unsigned count, std::size_t size, std::string& why) {
    IoUring::Options o;
    o.threads = 1;
    o.lend_buffers = count;
    o.lend_buffer_size = size;
    return make_ring(o, why);
}

TEST(IoUringLend, BuffersRunOutWhileLentAndComeBackFromAnyThread) {
    Watchdog dog("recv_lend", patience(30s));
    std::string why;
    auto ring = lending_ring(2, 64, why);
    if (!ring) GTEST_SKIP() << why;
    Io io = ring->io();
    std::pair<UnixStream, UnixStream> p = UnixStream::pair();
    UnixStream& a = p.first;
    UnixStream& b = p.second;
    // A receive takes at most one buffer's size.
    (void)a.write_all(io, std::string(100, 'x')).await();
    LentBuffer first = b.recv_lend(io).await();
    EXPECT_EQ(first.text(), std::string(64, 'x'));
    LentBuffer second = b.recv_lend(io).await();
    EXPECT_EQ(second.text(), std::string(36, 'x'));
    // Both are lent: the next receive with bytes waiting has none to put them in.
    (void)a.write_all(io, "more").await();
    std::error_code ec;
    EXPECT_TRUE(b.recv_lend(io, ec).await().empty());
    EXPECT_EQ(ec, std::errc::no_buffer_space);
    try {
        (void)b.recv_lend(io).await();
        ADD_FAILURE() << "no error";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::no_buffer_space);
    }
    // Given back on another thread, the buffer is the kernel's again; no byte was lost.
    std::thread([&] { first.give_back(); }).join();
    EXPECT_EQ(b.recv_lend(io).await().text(), "more");
    // Buffers given back and lent again many times, from a task on the worker.
    io.async([&] {
          for (int i = 0; i < 1000; ++i) {
              const std::string msg = std::to_string(i);
              (void)a.write_all(io, msg).await();
              EXPECT_EQ(b.recv_lend(io).await().text(), msg);
          }
      }).await();
}

TEST(IoUringLend, WithoutARingBuffersComeFromTheHeap) {
    Watchdog dog("recv_lend from the heap", patience(30s));
    std::string why;
    auto ring = lending_ring(0, 8, why);
    if (!ring) GTEST_SKIP() << why;
    Io io = ring->io();
    std::pair<UnixStream, UnixStream> p = UnixStream::pair();
    (void)p.first.write_all(io, "0123456789").await();
    std::vector<LentBuffer> held;  // never runs out: each is the heap's
    for (int i = 0; i < 2; ++i) held.push_back(p.second.recv_lend(io).await());
    EXPECT_EQ(held[0].text(), "01234567");
    EXPECT_EQ(held[1].text(), "89");
    auto later = io.concurrent([&] { return p.second.recv_lend(io).await(); });
    (void)p.first.write_all(io, "later").await();
    EXPECT_EQ(later.await().text(), "later");
    p.first.shutdown(io).await();
    EXPECT_TRUE(p.second.recv_lend(io).await().empty());
}

TEST(IoUringLend, OptionsAreChecked) {
    for (unsigned count : {3U, 65536U}) {
        IoUring::Options o;
        o.threads = 1;
        o.lend_buffers = count;
        EXPECT_THROW(IoUring{o}, UsageError) << count;
    }
    IoUring::Options o;
    o.threads = 1;
    o.lend_buffer_size = 0;
    EXPECT_THROW(IoUring{o}, UsageError);
}

}  // namespace
}  // namespace corio::test
