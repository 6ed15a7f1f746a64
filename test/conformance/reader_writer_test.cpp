// SPDX-License-Identifier: MIT
// Reader and Writer on every backend: over memory, files and stream sockets, in plain code and
// coroutines; the end of the stream and a too-small buffer; cancellation of a waiting read; the
// Reader's non-throwing overloads.
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

// ---- the non-throwing overloads --------------------------------------------------------------

const std::error_code stale = std::make_error_code(std::errc::io_error);

TEST_P(ReaderWriterTest, NonThrowingReadsClearTheErrorCodeOnSuccess) {
    run([&](Io io) {
        FixedReader r("abc\ndefgh-tail!");
        std::error_code ec = stale;
        EXPECT_EQ(str(r.peek(io, 2, ec).await()), "ab");
        EXPECT_FALSE(ec);
        ec = stale;
        EXPECT_EQ(str(r.take(io, 1, ec).await()), "a");
        EXPECT_FALSE(ec);
        ec = stale;
        EXPECT_EQ(static_cast<char>(r.take_byte(io, ec).await()), 'b');
        EXPECT_FALSE(ec);
        ec = stale;
        EXPECT_EQ(str(*r.take_until(io, '\n', ec).await()), "c");
        EXPECT_FALSE(ec);
        std::string two(2, '\0');
        ec = stale;
        EXPECT_EQ(r.read_exact(io, writable(two), ec).await(), 2U);
        EXPECT_EQ(two, "de");
        EXPECT_FALSE(ec);
        ec = stale;
        EXPECT_EQ(r.discard(io, 3, ec).await(), 3U);
        EXPECT_FALSE(ec);
        std::string buf(8, '\0');
        ec = stale;
        EXPECT_EQ(r.read(io, writable(buf), ec).await(), 6U);
        EXPECT_EQ(buf.substr(0, 6), "-tail!");
        EXPECT_FALSE(ec);
        // The end of the stream where a goal may end there is not an error.
        ec = stale;
        EXPECT_FALSE(r.take_until(io, '\n', ec).await().has_value());
        EXPECT_FALSE(ec);
        ec = stale;
        EXPECT_EQ(r.read(io, writable(buf), ec).await(), 0U);
        EXPECT_FALSE(ec);

        FixedReader from("stream me");
        std::array<std::byte, 16> mem;
        FixedWriter to(mem);
        ec = stale;
        EXPECT_EQ(from.stream_to(io, to, ec).await(), 9U);
        EXPECT_FALSE(ec);
        EXPECT_EQ(to.view(), "stream me");
    });
}

TEST_P(ReaderWriterTest, NonThrowingReadsReportTheEndOfTheStreamWithTheCount) {
    run([&](Io io) {
        std::error_code ec;
        FixedReader r("abc");
        std::string five(5, '\0');
        EXPECT_EQ(r.read_exact(io, writable(five), ec).await(), 3U);
        EXPECT_EQ(ec, std::errc::no_message_available);
        EXPECT_EQ(five.substr(0, 3), "abc");

        FixedReader p("xy");
        EXPECT_TRUE(p.peek(io, 3, ec).await().empty());
        EXPECT_EQ(ec, std::errc::no_message_available);
        EXPECT_TRUE(p.take(io, 3, ec).await().empty());
        EXPECT_EQ(ec, std::errc::no_message_available);
        EXPECT_EQ(str(p.take(io, 2, ec).await()), "xy") << "the failed take took nothing";
        EXPECT_FALSE(ec);
        EXPECT_EQ(p.take_byte(io, ec).await(), std::byte{});
        EXPECT_EQ(ec, std::errc::no_message_available);
        EXPECT_EQ(p.discard(io, 1, ec).await(), 0U);
        EXPECT_EQ(ec, std::errc::no_message_available);
        FixedReader q("0123456789");
        EXPECT_EQ(q.discard(io, 20, ec).await(), 10U);
        EXPECT_EQ(ec, std::errc::no_message_available);

        // Through calls: a pipe whose writer is gone, read straight into `out` and through
        // the buffer.
        auto [rf, wf] = File::pipe();
        (void)wf.write_all(io, "abcdefg").await();
        wf = File();
        std::array<std::byte, 4> buf;
        FileReader f(rf, buf);
        std::string six(6, '\0');
        EXPECT_EQ(f.read_exact(io, writable(six), ec).await(), 6U);
        EXPECT_FALSE(ec);
        EXPECT_EQ(six, "abcdef");
        std::string three(3, '\0');
        EXPECT_EQ(f.read_exact(io, writable(three), ec).await(), 1U);
        EXPECT_EQ(ec, std::errc::no_message_available);
        EXPECT_EQ(three[0], 'g');
    });
}

TEST_P(ReaderWriterTest, NonThrowingReadsReportALineLongerThanTheBuffer) {
    const std::string path = temp_path("long-ec");
    run([&](Io io) {
        write_file(io, path, std::string(100, 'x') + "\nshort\n").await();
        File f = File::open(io, path).await();
        std::array<std::byte, 32> buf;
        FileReader r(f, buf);
        std::error_code ec;
        EXPECT_FALSE(r.take_until(io, '\n', ec).await().has_value());
        EXPECT_EQ(ec, std::errc::message_size);
        EXPECT_EQ(r.buffered().size(), 32U) << "nothing was taken";
        EXPECT_TRUE(r.peek(io, 33, ec).await().empty());
        EXPECT_EQ(ec, std::errc::message_size);
        EXPECT_TRUE(r.take(io, 33, ec).await().empty());
        EXPECT_EQ(ec, std::errc::message_size);
        // The reader is still usable: skip the long line and its delimiter.
        EXPECT_EQ(r.discard(io, 101, ec).await(), 101U);
        EXPECT_FALSE(ec);
        EXPECT_EQ(str(*r.take_until(io, '\n', ec).await()), "short");
        EXPECT_FALSE(ec);
    });
    fs::remove(path);
}

TEST_P(ReaderWriterTest, NonThrowingReadsReportAReadError) {
    const std::string path = temp_path("write-only");
    run([&](Io io) {
        // A file opened for writing only: every read fails with EBADF.
        File w = File::create(io, path).await();
        std::array<std::byte, 8> buf;
        FileReader r(w, buf);
        std::error_code ec;
        // True once, for the error expected: a stale code would pass a second time.
        auto bad = [&ec] {
            const bool is = ec == std::errc::bad_file_descriptor;
            ec.clear();
            return is;
        };
        EXPECT_TRUE(r.peek(io, 1, ec).await().empty());
        EXPECT_TRUE(bad());
        EXPECT_TRUE(r.take(io, 1, ec).await().empty());
        EXPECT_TRUE(bad());
        EXPECT_EQ(r.take_byte(io, ec).await(), std::byte{});
        EXPECT_TRUE(bad());
        EXPECT_FALSE(r.take_until(io, '\n', ec).await().has_value());
        EXPECT_TRUE(bad());
        std::string out(4, '\0');
        EXPECT_EQ(r.read_exact(io, writable(out), ec).await(), 0U);
        EXPECT_TRUE(bad());
        EXPECT_EQ(r.discard(io, 4, ec).await(), 0U);
        EXPECT_TRUE(bad());
        EXPECT_EQ(r.read(io, writable(out), ec).await(), 0U);
        EXPECT_TRUE(bad());
        std::array<std::byte, 8> mem;
        FixedWriter sink(mem);
        EXPECT_EQ(r.stream_to(io, sink, ec).await(), 0U);
        EXPECT_TRUE(bad());

        // A peer that closed with bytes of ours unread resets the connection: after the 3
        // bytes it sent, the read fails, and the count is what came before.
        auto reset_pair = [io] {
            auto [a, b] = UnixStream::pair();
            (void)b.write_all(io, "abc").await();
            (void)a.write_all(io, "unread").await();
            return std::move(a);  // b closes with "unread" in its queue
        };
        UnixStream a = reset_pair();
        StreamReader sr(a, buf);
        std::string five(5, '\0');
        EXPECT_EQ(sr.read_exact(io, writable(five), ec).await(), 3U);
        EXPECT_EQ(ec, std::errc::connection_reset);
        EXPECT_EQ(five.substr(0, 3), "abc");
        UnixStream d = reset_pair();
        StreamReader sd(d, buf);
        EXPECT_EQ(sd.discard(io, 5, ec).await(), 3U);
        EXPECT_EQ(ec, std::errc::connection_reset);
        // stream_to reports it with the count moved, rather than throwing IoError.
        UnixStream c = reset_pair();
        StreamReader sc(c, buf);
        FixedWriter to(mem);
        EXPECT_EQ(sc.stream_to(io, to, ec).await(), 3U);
        EXPECT_EQ(ec, std::errc::connection_reset);
        EXPECT_EQ(to.view(), "abc");
        // The throwing forms carry the same count in IoError.
        for (int goal = 0; goal < 2; ++goal) {
            UnixStream t = reset_pair();
            StreamReader st(t, buf);
            try {
                if (goal == 0)
                    (void)st.read_exact(io, writable(five)).await();
                else
                    (void)st.discard(io, 5).await();
                ADD_FAILURE() << "no error";
            } catch (const IoError& e) {
                EXPECT_EQ(e.code(), std::errc::connection_reset);
                EXPECT_EQ(e.transferred(), 3U);
            }
        }
        // And a sink that fails after some bytes: what fits is moved.
        FixedReader ten("0123456789");
        std::array<std::byte, 4> small;
        FixedWriter full(small);
        EXPECT_EQ(ten.stream_to(io, full, ec).await(), 4U);
        EXPECT_EQ(ec, std::errc::no_buffer_space);
    });
    fs::remove(path);
}

TEST_P(ReaderWriterTest, NonThrowingReadsReportACancellationBeforeDuringAndAfter) {
    run([&](Io io) {
        auto [rf, wf] = File::pipe();
        std::array<std::byte, 32> buf;
        FileReader r(rf, buf);
        std::error_code ec;
        auto line = [&] {
            auto l = r.take_until(io, '\n', ec).await();
            return l ? str(*l) : std::string("(none)");
        };
        auto before = start_cancelled(io, line);
        EXPECT_EQ(before.await(), "(none)") << "no exception";
        EXPECT_EQ(ec, std::errc::operation_canceled);
        (void)wf.write_all(io, "partial").await();
        auto during = io.concurrent(line);
        ASSERT_TRUE(parked_on(io, during, detail::WaitKind::io));
        EXPECT_EQ(during.cancel(), "(none)");
        EXPECT_EQ(ec, std::errc::operation_canceled);
        // The bytes read before the cancel stay buffered: the line completes.
        (void)wf.write_all(io, " line\n").await();
        ec = stale;
        auto after = io.async(line);
        settle(io);
        EXPECT_EQ(after.cancel(), "partial line");
        EXPECT_FALSE(ec);

        // read_exact cancelled while it waits: the count is what it put in `out`, and the
        // rest comes to the next read.
        std::string five(5, '\0');
        (void)wf.write_all(io, "abc").await();
        auto exact = io.concurrent([&] { return r.read_exact(io, writable(five), ec).await(); });
        ASSERT_TRUE(parked_on(io, exact, detail::WaitKind::io));
        const std::size_t got = exact.cancel();
        EXPECT_EQ(ec, std::errc::operation_canceled);
        ASSERT_LE(got, 3U);
        (void)wf.write_all(io, "de").await();
        wf = File();  // a miscount then ends the stream instead of waiting for ever
        EXPECT_EQ(r.read_exact(io, writable(five).subspan(got), ec).await(), 5U - got);
        EXPECT_FALSE(ec);
        EXPECT_EQ(five, "abcde");
    });
}

TEST_P(ReaderWriterTest, NonThrowingReadsInCoroutines) {
    run([&](Io io) {
        auto [a, b] = UnixStream::pair();
        (void)a.write_all(io, "one\n" + std::string(40, 'x') + "\ntail").await();
        a.shutdown(io).await();
        // What each operation returned, and its error_code.
        auto consume = [](Io io, UnixStream& s) -> Task<std::vector<std::string>> {
            std::vector<std::string> seen;
            auto note = [&seen](std::string what, const std::error_code& ec) {
                seen.push_back(what + " | " + (ec ? ec.message() : "ok"));
            };
            std::array<std::byte, 20> buf;
            StreamReader r(s, buf);
            std::error_code ec = stale;
            auto line = co_await r.take_until(io, '\n', ec);
            note(line ? str(*line) : "(none)", ec);
            line = co_await r.take_until(io, '\n', ec);
            note(line ? str(*line) : "(none)", ec);
            ec = stale;
            note(std::to_string(co_await r.discard(io, 41, ec)), ec);
            ec = stale;
            note(str(co_await r.peek(io, 2, ec)), ec);
            ec = stale;
            note(str(co_await r.take(io, 1, ec)), ec);
            ec = stale;
            note(std::string(1, static_cast<char>(co_await r.take_byte(io, ec))), ec);
            std::string two(2, '\0');
            ec = stale;
            note(std::to_string(co_await r.read_exact(io, writable(two), ec)) + " " + two, ec);
            ec = stale;
            note(std::to_string(co_await r.read(io, writable(two), ec)), ec);
            note(std::to_string(co_await r.read_exact(io, writable(two), ec)), ec);
            std::array<std::byte, 4> mem;
            FixedWriter w(mem);
            ec = stale;
            note(std::to_string(co_await r.stream_to(io, w, ec)), ec);
            co_return seen;
        };
        const auto message_size = std::make_error_code(std::errc::message_size).message();
        const auto ended = std::make_error_code(std::errc::no_message_available).message();
        const std::vector<std::string> expected = {
            "one | ok",     "(none) | " + message_size,
            "41 | ok",      "ta | ok",
            "t | ok",       "a | ok",
            "2 il | ok",    "0 | ok",
            "0 | " + ended, "0 | ok",
        };
        EXPECT_EQ(io.concurrent(consume, io, std::ref(b)).await(), expected);

        // A cancellation while a coroutine waits lands in the error_code too.
        auto [rf, wf] = File::pipe();
        auto wait_line = [](Io io, const File& f, std::error_code& ec) -> Task<std::string> {
            std::array<std::byte, 16> buf;
            FileReader r(f, buf);
            auto line = co_await r.take_until(io, '\n', ec);
            co_return line ? str(*line) : std::string("(none)");
        };
        std::error_code ec;
        auto before = start_cancelled(io, wait_line, io, std::cref(rf), std::ref(ec));
        EXPECT_EQ(before.await(), "(none)");
        EXPECT_EQ(ec, std::errc::operation_canceled);
        ec.clear();
        auto during = io.concurrent(wait_line, io, std::cref(rf), std::ref(ec));
        ASSERT_TRUE(parked_on(io, during, detail::WaitKind::io));
        EXPECT_EQ(during.cancel(), "(none)");
        EXPECT_EQ(ec, std::errc::operation_canceled);
    });
}

}  // namespace
}  // namespace corio::test
