// SPDX-License-Identifier: MIT
// Reader and Writer on every backend: over memory, files and stream sockets, in plain code and
// coroutines; the end of the stream and a too-small buffer; cancellation of a waiting read.
#include "conformance/harness.hpp"

#include <corio/file.hpp>
#include <corio/net.hpp>
#include <corio/reader.hpp>
#include <corio/writer.hpp>

#include <unistd.h>

#include <array>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace corio::test {
namespace {

namespace fs = std::filesystem;

std::string str(std::span<const std::byte> s) {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}
std::span<std::byte> writable(std::string& s) { return std::as_writable_bytes(std::span(s)); }

std::string temp_path(const char* name) {
    return ::testing::TempDir() + "corio-rw-" + std::to_string(::getpid()) + "-" + name;
}

CORIO_CONFORMANCE_SUITE(ReaderWriterTest);

TEST_P(ReaderWriterTest, FixedReaderTakesLinesBytesAndExactCounts) {
    run([&](Io io) {
        FixedReader r("first line\nsecond\n\nlast without newline");
        EXPECT_EQ(str(r.peek(io, 5).await()), "first");
        EXPECT_EQ(str(r.take(io, 6).await()), "first ");
        EXPECT_EQ(static_cast<char>(r.take_byte(io).await()), 'l');
        EXPECT_EQ(str(*r.take_until(io, '\n').await()), "ine");
        EXPECT_EQ(str(*r.take_until(io, '\n').await()), "second");
        EXPECT_EQ(str(*r.take_until(io, '\n').await()), "") << "an empty line is not the end";
        std::string four(4, '\0');
        r.read_exact(io, writable(four)).await();
        EXPECT_EQ(four, "last");
        r.discard(io, 1).await();
        EXPECT_EQ(str(*r.take_until(io, '\n').await()), "without newline");
        EXPECT_FALSE(r.take_until(io, '\n').await().has_value()) << "the end of the stream";
        std::string buf(8, '\0');
        EXPECT_EQ(r.read(io, writable(buf)).await(), 0U);
    });
}

TEST_P(ReaderWriterTest, TheEndOfTheStreamInTheMiddleIsAClearError) {
    run([&](Io io) {
        FixedReader r("abc");
        std::string five(5, '\0');
        try {
            r.read_exact(io, writable(five)).await();
            ADD_FAILURE();
        } catch (const IoError& e) {
            EXPECT_EQ(e.code(), std::errc::no_message_available);
            EXPECT_EQ(e.transferred(), 3U);
            EXPECT_NE(std::string(e.what()).find("ended after 3 of 5"), std::string::npos);
        }
        FixedReader p("xy");
        EXPECT_THROW((void)p.peek(io, 3).await(), IoError);
        EXPECT_EQ(str(p.take(io, 2).await()), "xy");
        EXPECT_THROW((void)p.take_byte(io).await(), IoError);
        EXPECT_THROW(p.discard(io, 1).await(), IoError);
    });
}

TEST_P(ReaderWriterTest, ALineLongerThanTheBufferIsRefused) {
    const std::string path = temp_path("long");
    run([&](Io io) {
        write_file(io, path, std::string(100, 'x') + "\nshort\n").await();
        File f = File::open(io, path).await();
        std::array<std::byte, 32> buf;
        FileReader r(f, buf);
        try {
            (void)r.take_until(io, '\n').await();
            ADD_FAILURE();
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::message_size);
        }
        EXPECT_THROW((void)r.peek(io, 33).await(), std::system_error);
        // The reader is still usable: skip the long line and its delimiter.
        r.discard(io, 101).await();
        EXPECT_EQ(str(*r.take_until(io, '\n').await()), "short");
    });
    fs::remove(path);
}

TEST_P(ReaderWriterTest, FileReaderWithASmallBufferReadsLinesAcrossFills) {
    const std::string path = temp_path("lines");
    run([&](Io io) {
        std::string text;
        for (int i = 0; i < 500; ++i) text += "line number " + std::to_string(i) + "\n";
        write_file(io, path, text).await();
        File f = File::open(io, path).await();
        std::array<std::byte, 24> buf;
        FileReader r(f, buf);
        int i = 0;
        while (auto line = r.take_until(io, '\n').await()) {
            ASSERT_EQ(str(*line), "line number " + std::to_string(i));
            ++i;
        }
        EXPECT_EQ(i, 500);
    });
    fs::remove(path);
}

TEST_P(ReaderWriterTest, StreamToCopiesAFileThroughReaderAndWriter) {
    const std::string from = temp_path("from"), to = temp_path("to");
    run([&](Io io) {
        std::string data((1 << 20) + 77, '\0');
        std::mt19937 rng(5);
        for (char& c : data) c = static_cast<char>(rng());
        write_file(io, from, data).await();
        File in = File::open(io, from).await();
        File out = File::create(io, to).await();
        std::vector<std::byte> rbuf(4096), wbuf(3000);
        FileReader r(in, rbuf);
        FileWriter w(out, wbuf);
        // A few bytes read first, then the rest streamed.
        std::string head(10, '\0');
        r.read_exact(io, writable(head)).await();
        (void)w.write_all(io, head).await();
        EXPECT_EQ(r.stream_to(io, w).await(), data.size() - 10);
        w.flush(io).await();
        EXPECT_EQ(w.end(), 0U);
        EXPECT_TRUE(read_file(io, to).await() == data);

        // A large read_exact goes around the buffer.
        File again = File::open(io, from).await();
        FileReader r2(again, rbuf);
        std::string all(data.size(), '\0');
        r2.read_exact(io, writable(all)).await();
        EXPECT_TRUE(all == data);
    });
    fs::remove(from);
    fs::remove(to);
}

TEST_P(ReaderWriterTest, WriterBuffersPrintsAndFlushes) {
    const std::string path = temp_path("print");
    run([&](Io io) {
        File f = File::create(io, path).await();
        std::array<std::byte, 64> buf;
        FileWriter w(f, buf);
        EXPECT_EQ(w.print(io, "{} + {} = {}\n", 2, 3, 5).await(), 10U);
        EXPECT_EQ(w.end(), 10U) << "still in the buffer";
        EXPECT_EQ(f.size(io).await(), 0U);
        const std::string big(200, 'b');
        EXPECT_EQ(w.print(io, "[{}]\n", big).await(), 203U) << "formatted in scratch space";
        (void)w.write_all(io, "tail").await();
        w.flush(io).await();
        EXPECT_EQ(read_file(io, path).await(), "2 + 3 = 5\n[" + big + "]\ntail");
    });
    fs::remove(path);
}

TEST_P(ReaderWriterTest, FixedWriterFailsWhenFull) {
    run([&](Io io) {
        std::array<std::byte, 8> mem;
        FixedWriter w(mem);
        (void)w.write_all(io, "12345").await();
        EXPECT_EQ(w.view(), "12345");
        try {
            (void)w.write_all(io, "6789").await();
            ADD_FAILURE();
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::no_buffer_space);
        }
        EXPECT_EQ(w.view(), "12345678") << "what fits is kept";
        FixedWriter small(mem);
        EXPECT_THROW((void)small.print(io, "{:>20}", 1).await(), std::system_error);
    });
}

TEST_P(ReaderWriterTest, StreamsInCoroutines) {
    run([&](Io io) {
        auto [a, b] = UnixStream::pair();
        auto produce = [](Io io, UnixStream& s) -> Task<void> {
            std::array<std::byte, 16> buf;
            StreamWriter w(s, buf);
            for (int i = 0; i < 100; ++i) co_await w.print(io, "message {}\n", i);
            co_await w.flush(io);
            co_await s.shutdown(io);
        };
        auto consume = [](Io io, UnixStream& s) -> Task<int> {
            std::array<std::byte, 20> buf;
            StreamReader r(s, buf);
            int n = 0;
            for (;;) {
                auto line = co_await r.take_until(io, '\n');
                if (!line) co_return n;
                if (str(*line) != "message " + std::to_string(n)) co_return -1;
                ++n;
            }
        };
        auto c = io.concurrent(consume, io, std::ref(b));
        io.concurrent(produce, io, std::ref(a)).await();
        EXPECT_EQ(c.await(), 100);
    });
}

TEST_P(ReaderWriterTest, AWaitingReadIsCancelledBeforeDuringAndAfter) {
    run([&](Io io) {
        auto [rf, wf] = File::pipe();
        std::array<std::byte, 32> buf;
        FileReader r(rf, buf);
        auto before = start_cancelled(io, [&] { return r.take_until(io, '\n').await().has_value(); });
        EXPECT_THROW((void)before.await(), Canceled);
        (void)wf.write_all(io, "partial").await();
        auto during = io.concurrent([&] { return r.take_until(io, '\n').await().has_value(); });
        ASSERT_TRUE(parked_on(io, during, detail::WaitKind::io));
        EXPECT_THROW((void)during.cancel(), Canceled);
        // The bytes read before the cancel stay buffered: the line completes.
        (void)wf.write_all(io, " line\n").await();
        auto after = io.async([&] { return str(*r.take_until(io, '\n').await()); });
        settle(io);
        EXPECT_EQ(after.cancel(), "partial line");
    });
}

}  // namespace
}  // namespace corio::test
