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


// ---- read_exact and discard cut off while they wait ------------------------------------------

using std::chrono::milliseconds;

// A pipe whose reader holds "abc" in its buffer and waits for more: the bytes a cut-off
// read_exact or discard must leave where they are.
struct WaitingPipe {
    std::pair<File, File> ends = File::pipe();
    File& source = ends.first;
    File& sink = ends.second;
    std::array<std::byte, 16> buf{};
    FileReader reader{source, buf};

    explicit WaitingPipe(Io io) {
        (void)sink.write_all(io, "abc").await();
        (void)reader.peek(io, 3).await();  // "abc" is buffered, and the pipe is empty
    }
};

TEST_P(ReaderWriterTest, ReadExactCutOffByATimeoutLeavesEveryByteForTheNextCall) {
    run([&](Io io) {
        WaitingPipe p(io);
        std::string five(5, '\0');
        EXPECT_THROW((void)with_timeout(io, milliseconds(20), p.reader.read_exact(io, writable(five)))
                         .await(),
                     Timeout);
        EXPECT_EQ(str(p.reader.buffered()), "abc") << "the throwing form took nothing";
        std::error_code ec;
        EXPECT_EQ(with_timeout(io, milliseconds(20), p.reader.read_exact(io, writable(five), ec))
                      .await(),
                  0U);
        // (with_timeout turns a Canceled it caused into Timeout only when it is thrown.)
        EXPECT_TRUE(ec == std::errc::operation_canceled || ec == std::errc::timed_out) << ec;
        EXPECT_EQ(str(p.reader.buffered()), "abc") << "the error_code form took nothing";
        (void)p.sink.write_all(io, "de").await();
        EXPECT_EQ(p.reader.read_exact(io, writable(five)).await(), 5U);
        EXPECT_EQ(five, "abcde");
    });
}

TEST_P(ReaderWriterTest, DiscardCutOffByATimeoutLeavesEveryByteForTheNextCall) {
    run([&](Io io) {
        WaitingPipe p(io);
        EXPECT_THROW((void)with_timeout(io, milliseconds(20), p.reader.discard(io, 5)).await(),
                     Timeout);
        EXPECT_EQ(str(p.reader.buffered()), "abc") << "the throwing form skipped nothing";
        std::error_code ec;
        EXPECT_EQ(with_timeout(io, milliseconds(20), p.reader.discard(io, 5, ec)).await(), 0U);
        EXPECT_TRUE(ec == std::errc::operation_canceled || ec == std::errc::timed_out) << ec;
        EXPECT_EQ(str(p.reader.buffered()), "abc") << "the error_code form skipped nothing";
        (void)p.sink.write_all(io, "def").await();
        EXPECT_EQ(p.reader.discard(io, 5).await(), 5U);
        EXPECT_EQ(static_cast<char>(p.reader.take_byte(io).await()), 'f');
    });
}

TEST_P(ReaderWriterTest, ReadExactCancelledBeforeDuringAndAfterLeavesEveryByteForTheNextCall) {
    run([&](Io io) {
        WaitingPipe p(io);
        FileReader& r = p.reader;
        std::string five(5, '\0');
        std::error_code ec;
        auto exact = [&] { return r.read_exact(io, writable(five)).await(); };
        auto exact_ec = [&] { return r.read_exact(io, writable(five), ec).await(); };

        EXPECT_THROW((void)start_cancelled(io, exact).await(), Canceled);
        EXPECT_EQ(str(r.buffered()), "abc") << "cancelled before, throwing";
        EXPECT_EQ(start_cancelled(io, exact_ec).await(), 0U);
        EXPECT_EQ(ec, std::errc::operation_canceled);
        EXPECT_EQ(str(r.buffered()), "abc") << "cancelled before, error_code";

        auto during = io.concurrent(exact);
        ASSERT_TRUE(parked_on(io, during, detail::WaitKind::io));
        EXPECT_THROW((void)during.cancel(), Canceled);
        EXPECT_EQ(str(r.buffered()), "abc") << "cancelled during, throwing";
        auto during_ec = io.concurrent(exact_ec);
        ASSERT_TRUE(parked_on(io, during_ec, detail::WaitKind::io));
        EXPECT_EQ(during_ec.cancel(), 0U);
        EXPECT_EQ(ec, std::errc::operation_canceled);
        EXPECT_EQ(str(r.buffered()), "abc") << "cancelled during, error_code";

        // Cancelled once it completed: the result stands.
        (void)p.sink.write_all(io, "de").await();
        auto after = io.async(exact);
        ASSERT_TRUE(eventually(io, [&] { return after.ready(); }));
        EXPECT_EQ(after.cancel(), 5U);
        EXPECT_EQ(five, "abcde");
        (void)p.sink.write_all(io, "fghij").await();
        ec = stale;
        auto after_ec = io.async(exact_ec);
        ASSERT_TRUE(eventually(io, [&] { return after_ec.ready(); }));
        EXPECT_EQ(after_ec.cancel(), 5U);
        EXPECT_FALSE(ec);
        EXPECT_EQ(five, "fghij");
    });
}

TEST_P(ReaderWriterTest, DiscardCancelledBeforeDuringAndAfterLeavesEveryByteForTheNextCall) {
    run([&](Io io) {
        WaitingPipe p(io);
        FileReader& r = p.reader;
        std::error_code ec;
        auto skip = [&] { return r.discard(io, 5).await(); };
        auto skip_ec = [&] { return r.discard(io, 5, ec).await(); };

        EXPECT_THROW((void)start_cancelled(io, skip).await(), Canceled);
        EXPECT_EQ(str(r.buffered()), "abc") << "cancelled before, throwing";
        EXPECT_EQ(start_cancelled(io, skip_ec).await(), 0U);
        EXPECT_EQ(ec, std::errc::operation_canceled);
        EXPECT_EQ(str(r.buffered()), "abc") << "cancelled before, error_code";

        auto during = io.concurrent(skip);
        ASSERT_TRUE(parked_on(io, during, detail::WaitKind::io));
        EXPECT_THROW((void)during.cancel(), Canceled);
        EXPECT_EQ(str(r.buffered()), "abc") << "cancelled during, throwing";
        auto during_ec = io.concurrent(skip_ec);
        ASSERT_TRUE(parked_on(io, during_ec, detail::WaitKind::io));
        EXPECT_EQ(during_ec.cancel(), 0U);
        EXPECT_EQ(ec, std::errc::operation_canceled);
        EXPECT_EQ(str(r.buffered()), "abc") << "cancelled during, error_code";

        (void)p.sink.write_all(io, "de!").await();
        auto after = io.async(skip);
        ASSERT_TRUE(eventually(io, [&] { return after.ready(); }));
        EXPECT_EQ(after.cancel(), 5U);
        EXPECT_EQ(static_cast<char>(r.take_byte(io).await()), '!');
        (void)p.sink.write_all(io, "fghij?").await();
        ec = stale;
        auto after_ec = io.async(skip_ec);
        ASSERT_TRUE(eventually(io, [&] { return after_ec.ready(); }));
        EXPECT_EQ(after_ec.cancel(), 5U);
        EXPECT_FALSE(ec);
        EXPECT_EQ(static_cast<char>(r.take_byte(io).await()), '?');
    });
}

TEST_P(ReaderWriterTest, AReadExactLargerThanTheBufferReportsItsCountWhenCutOff) {
    run([&](Io io) {
        auto [rf, wf] = File::pipe();
        std::array<std::byte, 4> buf;
        FileReader r(rf, buf);
        (void)wf.write_all(io, "abcdef").await();
        // Ten bytes do not fit the buffer: they go straight into `ten`, and the error_code form
        // says how many came before the timeout.
        std::string ten(10, '\0');
        std::error_code ec;
        const std::size_t got =
            with_timeout(io, milliseconds(20), r.read_exact(io, writable(ten), ec)).await();
        EXPECT_TRUE(ec == std::errc::operation_canceled || ec == std::errc::timed_out) << ec;
        ASSERT_EQ(got, 6U);
        EXPECT_EQ(ten.substr(0, 6), "abcdef");
        (void)wf.write_all(io, "ghij").await();
        EXPECT_EQ(r.read_exact(io, writable(ten).subspan(got)).await(), 4U);
        EXPECT_EQ(ten, "abcdefghij");
        // The same for discard.
        (void)wf.write_all(io, "klmnop").await();
        EXPECT_EQ(with_timeout(io, milliseconds(20), r.discard(io, 10, ec)).await(), 6U);
        EXPECT_TRUE(ec == std::errc::operation_canceled || ec == std::errc::timed_out) << ec;
        // The throwing form has no count to give: it throws Timeout (the case is not cancel-safe).
        EXPECT_THROW((void)with_timeout(io, milliseconds(20), r.read_exact(io, writable(ten)))
                         .await(),
                     Timeout);
    });
}

TEST_P(ReaderWriterTest, ReadExactAndDiscardCutOffByTimeoutsNeverLoseBytes) {
    run([&](Io io) {
        auto [rf, wf] = File::pipe();
        std::string sent(scaled(20000), '\0');
        std::mt19937 fill(11);
        for (char& c : sent) c = static_cast<char>(fill());
        auto writer = io.concurrent([&] {
            for (std::size_t i = 0; i < sent.size(); i += 97) {
                (void)wf.write_all(io, std::string_view(sent).substr(i, 97)).await();
                if (i % 970 == 0) io.sleep(std::chrono::microseconds(100)).await();
            }
            wf = File();  // the end of the stream ends the reader's loop
        });
        std::array<std::byte, 32> buf;
        FileReader r(rf, buf);
        std::mt19937 rng(static_cast<unsigned>(sent.size()));
        std::size_t pos = 0, wrong = 0, timeouts = 0, took_on_cut = 0;
        for (;;) {
            const std::size_t k = 1 + rng() % buf.size();  // fits the buffer: cancel-safe
            const bool skip = rng() % 3 == 0, with_ec = rng() % 2 == 0;
            std::string out(k, '\0');
            std::error_code ec;
            try {
                auto bounded = [&](auto&& op) {
                    return with_timeout(io, std::chrono::microseconds(50), op).await();
                };
                const std::size_t n =
                    skip ? (with_ec ? bounded(r.discard(io, k, ec)) : bounded(r.discard(io, k)))
                         : (with_ec ? bounded(r.read_exact(io, writable(out), ec))
                                    : bounded(r.read_exact(io, writable(out))));
                if (ec == std::errc::no_message_available) {
                    EXPECT_EQ(pos + n, sent.size()) << "the last bytes, counted";
                    break;
                }
                if (ec) {
                    ++timeouts;
                    if (n != 0) ++took_on_cut;
                    continue;
                }
            } catch (const Timeout&) {
                ++timeouts;
                continue;
            } catch (const IoError& e) {
                ASSERT_EQ(e.code(), std::errc::no_message_available);
                EXPECT_EQ(pos + e.transferred(), sent.size()) << "the last bytes, counted";
                break;
            }
            if (!skip && out != sent.substr(pos, k)) ++wrong;
            pos += k;
        }
        writer.await();
        EXPECT_EQ(wrong, 0U) << "reads that got other bytes than the next ones sent";
        EXPECT_EQ(took_on_cut, 0U) << "cut-off calls that took bytes";
        RecordProperty("timeouts", static_cast<int>(timeouts));
    });
}

// ---- a FixedWriter that overflows -------------------------------------------------------------

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

// What an error says, without the ": <the code's message>" std::system_error appends.
std::string said(const std::system_error& e) {
    std::string what = e.what();
    const std::string code = ": " + e.code().message();
    if (what.ends_with(code)) what.resize(what.size() - code.size());
    return what;
}

TEST_P(ReaderWriterTest, AFixedWriterKeepsWhatFitsWhenOneWriteOverflowsIt) {
    run([&](Io io) {
        std::array<std::byte, 8> mem;
        auto overflow = [&](FixedWriter& w, std::string_view text) -> std::string {
            try {
                (void)w.write_all(io, text).await();
                return "no error";
            } catch (const IoError& e) {
                EXPECT_EQ(e.code(), std::errc::no_buffer_space);
                return said(e) + " | " + std::to_string(e.transferred());
            } catch (const std::exception& e) {
                return std::string("not an IoError: ") + e.what();
            }
        };
        FixedWriter empty(mem);
        EXPECT_EQ(overflow(empty, "0123456789AB"), "corio: FixedWriter: 12 bytes do not fit, 8 kept | 8");
        EXPECT_EQ(empty.view(), "01234567");
        FixedWriter half(mem);
        (void)half.write_all(io, "wxyz").await();
        EXPECT_EQ(overflow(half, "0123456789AB"), "corio: FixedWriter: 12 bytes do not fit, 4 kept | 4");
        EXPECT_EQ(half.view(), "wxyz0123");
        EXPECT_EQ(overflow(half, "!"), "corio: FixedWriter: 1 byte does not fit, 0 kept | 0");
        EXPECT_EQ(half.view(), "wxyz0123");
    });
}

TEST_P(ReaderWriterTest, AFixedWriterReportsAnOverflowInTheErrorCodeWithTheCountKept) {
    run([&](Io io) {
        std::array<std::byte, 8> mem;
        std::error_code ec = stale;
        FixedWriter empty(mem);
        EXPECT_EQ(empty.write_all(io, bytes("0123456789AB"), ec).await(), 8U);
        EXPECT_EQ(ec, std::errc::no_buffer_space);
        EXPECT_EQ(empty.view(), "01234567");
        FixedWriter half(mem);
        EXPECT_EQ(half.write_all(io, bytes("wxyz"), ec).await(), 4U);
        EXPECT_FALSE(ec);
        EXPECT_EQ(half.write_all(io, bytes("0123456789AB"), ec).await(), 4U);
        EXPECT_EQ(ec, std::errc::no_buffer_space);
        EXPECT_EQ(half.view(), "wxyz0123");
        EXPECT_EQ(half.write_all(io, bytes("!"), ec).await(), 0U);
        EXPECT_EQ(ec, std::errc::no_buffer_space);
        EXPECT_EQ(half.view(), "wxyz0123");
    });
}

TEST_P(ReaderWriterTest, PrintKeepsWhatFitsWhenItOverflowsAFixedWriter) {
    run([&](Io io) {
        std::array<std::byte, 8> mem;
        auto overflow = [](auto&& op) -> std::string {
            try {
                (void)op.await();
                return "no error";
            } catch (const IoError& e) {
                EXPECT_EQ(e.code(), std::errc::no_buffer_space);
                return said(e) + " | " + std::to_string(e.transferred());
            } catch (const std::exception& e) {
                return std::string("not an IoError: ") + e.what();
            }
        };
        FixedWriter empty(mem);
        EXPECT_EQ(overflow(empty.print(io, "{}-{}", "0123", "56789AB")),
                  "corio: FixedWriter: 12 bytes do not fit, 8 kept | 8");
        EXPECT_EQ(empty.view(), "0123-567");
        FixedWriter half(mem);
        EXPECT_EQ(half.print(io, "{}", 1234).await(), 4U);
        EXPECT_EQ(overflow(half.print(io, "{:>6}", 42)),
                  "corio: FixedWriter: 6 bytes do not fit, 4 kept | 4");
        EXPECT_EQ(half.view(), "1234    ");
        FixedWriter exact(mem);
        EXPECT_EQ(exact.print(io, "{}", "01234567").await(), 8U) << "a text that fits exactly";
        EXPECT_EQ(exact.view(), "01234567");
    });
}

TEST_P(ReaderWriterTest, FlushingAFixedWriterKeepsItsBytesInPlace) {
    run([&](Io io) {
        std::array<std::byte, 8> mem;
        FixedWriter w(mem);
        (void)w.write_all(io, "abc").await();
        EXPECT_NO_THROW(w.flush(io).await());
        EXPECT_EQ(w.view(), "abc");
        (void)w.write_all(io, "defgh").await();
        std::error_code ec = stale;
        w.flush(io, ec).await();
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(w.view(), "abcdefgh");
    });
}

TEST_P(ReaderWriterTest, StreamToAFullFixedWriterKeepsWhatFitsAndSaysSo) {
    run([&](Io io) {
        std::array<std::byte, 4> mem;
        FixedReader ten("0123456789");
        FixedWriter w(mem);
        try {
            (void)ten.stream_to(io, w).await();
            ADD_FAILURE() << "no error";
        } catch (const IoError& e) {
            EXPECT_EQ(e.code(), std::errc::no_buffer_space);
            EXPECT_EQ(e.transferred(), 4U);
            EXPECT_EQ(said(e), "corio: stream_to: the FixedWriter is full after 4 bytes");
        }
        EXPECT_EQ(w.view(), "0123");
    });
}

}  // namespace
}  // namespace corio::test
