// SPDX-License-Identifier: MIT
// Reader and Writer on every backend when a wait is cut off or a fixed buffer overflows:
// read_exact and discard leave every byte for the next call, a FixedWriter keeps what fits.
#include "conformance/harness.hpp"

#include <corio/file.hpp>
#include <corio/reader.hpp>
#include <corio/writer.hpp>

#include <array>
#include <random>
#include <string>
#include <vector>

namespace corio::test {
namespace {

std::string str(std::span<const std::byte> s) {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}
std::span<std::byte> writable(std::string& s) { return std::as_writable_bytes(std::span(s)); }

// A code the error_code forms must overwrite.
const std::error_code stale = std::make_error_code(std::errc::io_error);

CORIO_CONFORMANCE_SUITE(ReaderCutOff);

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

TEST_P(ReaderCutOff, ReadExactCutOffByATimeoutLeavesEveryByteForTheNextCall) {
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
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_EQ(str(p.reader.buffered()), "abc") << "the error_code form took nothing";
        (void)p.sink.write_all(io, "de").await();
        EXPECT_EQ(p.reader.read_exact(io, writable(five)).await(), 5U);
        EXPECT_EQ(five, "abcde");
    });
}

TEST_P(ReaderCutOff, DiscardCutOffByATimeoutLeavesEveryByteForTheNextCall) {
    run([&](Io io) {
        WaitingPipe p(io);
        EXPECT_THROW((void)with_timeout(io, milliseconds(20), p.reader.discard(io, 5)).await(),
                     Timeout);
        EXPECT_EQ(str(p.reader.buffered()), "abc") << "the throwing form skipped nothing";
        std::error_code ec;
        EXPECT_EQ(with_timeout(io, milliseconds(20), p.reader.discard(io, 5, ec)).await(), 0U);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        EXPECT_EQ(str(p.reader.buffered()), "abc") << "the error_code form skipped nothing";
        (void)p.sink.write_all(io, "def").await();
        EXPECT_EQ(p.reader.discard(io, 5).await(), 5U);
        EXPECT_EQ(static_cast<char>(p.reader.take_byte(io).await()), 'f');
    });
}

TEST_P(ReaderCutOff, ReadExactCancelledBeforeDuringAndAfterLeavesEveryByteForTheNextCall) {
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

TEST_P(ReaderCutOff, DiscardCancelledBeforeDuringAndAfterLeavesEveryByteForTheNextCall) {
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

TEST_P(ReaderCutOff, AReadExactLargerThanTheBufferReportsItsCountWhenCutOff) {
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
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        ASSERT_EQ(got, 6U);
        EXPECT_EQ(ten.substr(0, 6), "abcdef");
        (void)wf.write_all(io, "ghij").await();
        EXPECT_EQ(r.read_exact(io, writable(ten).subspan(got)).await(), 4U);
        EXPECT_EQ(ten, "abcdefghij");
        // The same for discard.
        (void)wf.write_all(io, "klmnop").await();
        EXPECT_EQ(with_timeout(io, milliseconds(20), r.discard(io, 10, ec)).await(), 6U);
        EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
        // The throwing form has no count to give: it throws Timeout (the case is not cancel-safe).
        EXPECT_THROW((void)with_timeout(io, milliseconds(20), r.read_exact(io, writable(ten)))
                         .await(),
                     Timeout);
    });
}

TEST_P(ReaderCutOff, ReadExactAndDiscardCutOffByTimeoutsNeverLoseBytes) {
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

TEST_P(ReaderCutOff, AFixedWriterKeepsWhatFitsWhenOneWriteOverflowsIt) {
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

TEST_P(ReaderCutOff, AFixedWriterReportsAnOverflowInTheErrorCodeWithTheCountKept) {
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

TEST_P(ReaderCutOff, PrintKeepsWhatFitsWhenItOverflowsAFixedWriter) {
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

TEST_P(ReaderCutOff, FlushingAFixedWriterKeepsItsBytesInPlace) {
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

TEST_P(ReaderCutOff, StreamToAFullFixedWriterKeepsWhatFitsAndSaysSo) {
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
