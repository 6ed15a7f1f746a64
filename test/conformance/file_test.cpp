// SPDX-License-Identifier: MIT
// Files on every backend: each operation, its errors, its non-throwing form, and cancellation
// before, during and after a wait (a pipe's read end waits until something is written).
#include "conformance/harness.hpp"

#include <corio/file.hpp>

#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace corio::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// A fresh directory, removed with what it holds.
class TempDir {
  public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "corio-file-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::system_error(errno, std::system_category());
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    fs::path operator/(const char* name) const { return path_ / name; }
    [[nodiscard]] const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s)); }
std::span<std::byte> writable(std::string& s) { return std::as_writable_bytes(std::span(s)); }

std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    std::mt19937 rng(seed);
    for (char& c : s) c = static_cast<char>(rng());
    return s;
}

CORIO_CONFORMANCE_SUITE(FileTest);

TEST_P(FileTest, CreateWriteReadStatAndClose) {
    TempDir dir;
    run([&](Io io) {
        const fs::path p = dir / "a.txt";
        File f = File::create(io, p, {.read = true}).await();
        ASSERT_TRUE(f.is_open());
        EXPECT_EQ(f.write_all(io, "hello, world").await(), 12U);
        EXPECT_EQ(f.size(io).await(), 12U);

        std::string buf(5, '\0');
        EXPECT_EQ(f.pread(io, writable(buf), 7).await(), 5U);
        EXPECT_EQ(buf, "world");
        EXPECT_EQ(f.pwrite(io, bytes_of("HELLO"), 0).await(), 5U);
        f.sync(io).await();
        f.sync(io, true).await();

        const FileStat st = f.stat(io).await();
        EXPECT_TRUE(st.is_regular());
        EXPECT_FALSE(st.is_directory());
        EXPECT_EQ(st.size, 12U);
        EXPECT_EQ(st.links, 1U);
        EXPECT_GT(st.modified.time_since_epoch().count(), 0);

        f.close(io).await();
        EXPECT_FALSE(f.is_open());

        File g = File::open(io, p).await();
        std::string all(64, '\0');
        const std::size_t n = g.read(io, writable(all)).await();
        all.resize(n);
        EXPECT_EQ(all, "HELLO, world");
        std::string more(8, '\0');
        EXPECT_EQ(g.read(io, writable(more)).await(), 0U) << "the end of the file reads as 0";
    });
}

TEST_P(FileTest, VectoredReadsAndWrites) {
    TempDir dir;
    run([&](Io io) {
        File f = File::create(io, dir / "v", {.read = true}).await();
        std::string a = "abc", b = "defgh";
        std::array<iovec, 2> out{iovec{a.data(), a.size()}, iovec{b.data(), b.size()}};
        EXPECT_EQ(f.writev(io, out).await(), 8U);
        std::string x(4, '\0'), y(4, '\0');
        std::array<iovec, 2> in{iovec{x.data(), x.size()}, iovec{y.data(), y.size()}};
        EXPECT_EQ(f.readv(io, in, 0).await(), 8U);
        EXPECT_EQ(x + y, "abcdefgh");
        EXPECT_EQ(f.writev(io, out, 8).await(), 8U);  // at an offset
        EXPECT_EQ(f.size(io).await(), 16U);
    });
}

TEST_P(FileTest, ReadFileAndWriteFile) {
    TempDir dir;
    run([&](Io io) {
        const std::string big = pattern((1 << 20) + 123, 7);
        write_file(io, dir / "big", bytes_of(big)).await();
        EXPECT_EQ(read_file(io, dir / "big").await(), big);

        write_file(io, dir / "empty", std::string_view()).await();
        EXPECT_EQ(read_file(io, dir / "empty").await(), "");

        write_file(io, dir / "small", "first version, longer").await();
        write_file(io, dir / "small", "second").await();  // truncates
        EXPECT_EQ(read_file(io, dir / "small").await(), "second");
    });
}

TEST_P(FileTest, ReadFileOfAFileThatGrowsPastItsSizeReadsToTheEnd) {
    // /proc files report size 0: read_file reads until a read returns 0.
    run([&](Io io) {
        const std::string s = read_file(io, "/proc/self/status").await();
        EXPECT_NE(s.find("Name:"), std::string::npos);
    });
}

TEST_P(FileTest, ErrorsNameTheCallAndKeepTheSystemCode) {
    TempDir dir;
    run([&](Io io) {
        try {
            (void)File::open(io, dir / "missing").await();
            ADD_FAILURE() << "opened a file that does not exist";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
            EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
        }
        try {
            (void)File::open(io, dir.path(), OpenMode::write_only).await();
            ADD_FAILURE() << "opened a directory for writing";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::is_a_directory);
        }
        write_file(io, dir / "exists", "x").await();
        try {
            (void)File::create(io, dir / "exists", {.exclusive = true}).await();
            ADD_FAILURE() << "exclusive create of an existing file";
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::file_exists);
        }
        try {
            (void)read_file(io, dir / "nope").await();
            ADD_FAILURE();
        } catch (const std::system_error& e) {
            EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
        }
    });
}

TEST_P(FileTest, APathWithoutPermissionIsRefused) {
    TempDir dir;
    run([&](Io io) {
        fs::path p = dir / "locked";
        if (::geteuid() == 0) {
            // Root passes permission bits; a read-only sysfs attribute still refuses writes.
            p = "/sys/kernel/notes";
            if (!fs::exists(p)) GTEST_SKIP() << "no file that root may not write";
        } else {
            write_file(io, p, "secret").await();
            fs::permissions(p, fs::perms::none);
        }
        std::error_code ec;
        File f = File::open(io, p, OpenMode::write_only, ec).await();
        EXPECT_EQ(ec, std::errc::permission_denied);
        EXPECT_FALSE(f.is_open());
        EXPECT_THROW((void)File::open(io, p, OpenMode::write_only).await(), std::system_error);
    });
}

TEST_P(FileTest, ClosedAndMovedFromFilesAndEmptyBuffersAreUsageErrors) {
    TempDir dir;
    run([&](Io io) {
        File f = File::create(io, dir / "f").await();
        File g = std::move(f);
        std::string buf(4, '\0');
        try {
            (void)f.read(io, writable(buf)).await();  // NOLINT(bugprone-use-after-move)
            ADD_FAILURE();
        } catch (const UsageError& e) {
            EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
            EXPECT_NE(std::string(e.what()).find("not an open descriptor"), std::string::npos);
        }
        g.close(io).await();
        EXPECT_THROW((void)g.write(io, bytes_of("x")).await(), UsageError);
        EXPECT_THROW(g.close(io).await(), UsageError);

        File h = File::open(io, dir / "f").await();
        try {
            (void)h.read(io, std::span<std::byte>()).await();
            ADD_FAILURE();
        } catch (const UsageError& e) {
            EXPECT_EQ(e.code(), std::errc::invalid_argument);
        }
        EXPECT_EQ(h.write(io, std::span<const std::byte>()).await(), 0U) << "nothing to write";
        // An adopted descriptor that is not open.
        File bogus(1 << 20);
        EXPECT_THROW((void)bogus.size(io).await(), UsageError);
        (void)bogus.release();
    });
}

TEST_P(FileTest, NonThrowingOverloadsReportThroughTheErrorCode) {
    TempDir dir;
    run([&](Io io) {
        std::error_code ec = std::make_error_code(std::errc::io_error);
        File f = File::open(io, dir / "missing", OpenMode::read_only, ec).await();
        EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
        EXPECT_FALSE(f.is_open());

        File g = File::create(io, dir / "ok", {}, ec).await();
        EXPECT_FALSE(ec) << "a success clears the code";
        EXPECT_EQ(g.write_all(io, bytes_of("abc"), ec).await(), 3U);
        EXPECT_FALSE(ec);
        std::string buf(3, '\0');
        EXPECT_EQ(g.read(io, writable(buf), ec).await(), 0U);  // opened write-only
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        (void)read_file(io, dir / "none", ec).await();
        EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
        g.sync(io, false, ec).await();
        EXPECT_FALSE(ec);
        EXPECT_EQ(g.size(io, ec).await(), 3U);
        std::array<iovec, 1> one{iovec{buf.data(), buf.size()}};
        EXPECT_EQ(g.readv(io, one, 0, ec).await(), 0U);  // opened write-only
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
        EXPECT_EQ(g.writev(io, one, 3, ec).await(), 3U);
        EXPECT_FALSE(ec);
        g.close(io, ec).await();
        EXPECT_FALSE(ec);
        g.close(io, ec).await();
        EXPECT_EQ(ec, std::errc::bad_file_descriptor);
    });
}

TEST_P(FileTest, PipeReadCancelledBeforeItStarts) {
    run([&](Io io) {
        auto [r, w] = File::pipe();
        auto f = start_cancelled(io, [&] {
            std::string buf(8, '\0');
            return r.read(io, writable(buf)).await();
        });
        EXPECT_THROW(f.await(), Canceled);
        // Nothing was consumed: the byte written now is still there to read.
        EXPECT_EQ(w.write(io, bytes_of("z")).await(), 1U);
        std::string buf(8, '\0');
        EXPECT_EQ(r.read(io, writable(buf)).await(), 1U);
        EXPECT_EQ(buf[0], 'z');
    });
}

TEST_P(FileTest, PipeReadCancelledWhileItWaits) {
    run([&](Io io) {
        auto [r, w] = File::pipe();
        auto f = io.concurrent([&] {
            std::string buf(8, '\0');
            return r.read(io, writable(buf)).await();
        });
        ASSERT_TRUE(parked_on(io, f, detail::WaitKind::io));
        EXPECT_THROW(f.cancel(), Canceled);
        EXPECT_EQ(w.write(io, bytes_of("after")).await(), 5U);
        std::string buf(8, '\0');
        EXPECT_EQ(r.read(io, writable(buf)).await(), 5U) << "the cancelled read took nothing";
    });
}

TEST_P(FileTest, PipeReadCancelledAfterItCompletedKeepsItsBytes) {
    run([&](Io io) {
        auto [r, w] = File::pipe();
        EXPECT_EQ(w.write(io, bytes_of("data")).await(), 4U);
        auto f = io.async([&] {
            std::string buf(8, '\0');
            const std::size_t n = r.read(io, writable(buf)).await();
            return buf.substr(0, n);
        });
        settle(io);
        EXPECT_EQ(f.cancel(), "data");
    });
}

TEST_P(FileTest, CoroutinesReadAndWriteAndAreCancelledWhileTheyWait) {
    run([&](Io io) {
        auto [r, w] = File::pipe();
        auto reader = [](Io io, File& r) -> Task<std::string> {
            std::string buf(16, '\0');
            const std::size_t n = co_await r.read(io, writable(buf));
            co_return buf.substr(0, n);
        };
        auto writer = [](Io io, File& w) -> Task<std::size_t> {
            co_return co_await w.write_all(io, "from a coroutine");
        };
        auto got = io.concurrent(reader, io, std::ref(r));
        EXPECT_EQ(io.concurrent(writer, io, std::ref(w)).await(), 16U);
        EXPECT_EQ(got.await(), "from a coroutine");

        auto waiting = io.concurrent(reader, io, std::ref(r));
        ASSERT_TRUE(parked_on(io, waiting, detail::WaitKind::io));
        EXPECT_THROW((void)waiting.cancel(), Canceled);
        EXPECT_EQ(w.write(io, bytes_of("x")).await(), 1U);
        EXPECT_EQ(io.concurrent(reader, io, std::ref(r)).await(), "x");
    });
}

TEST_P(FileTest, TimedOutReadsNeverLoseBytes) {
    run([&](Io io) {
        auto [r, w] = File::pipe();
        const std::string sent = pattern(scaled(20000), 3);
        auto writer = io.concurrent([&] {
            for (std::size_t i = 0; i < sent.size(); i += 97) {
                const std::size_t n = std::min<std::size_t>(97, sent.size() - i);
                (void)w.write_all(io, std::string_view(sent).substr(i, n)).await();
                if (i % 970 == 0) io.sleep(100us).await();
            }
        });
        std::string got;
        std::size_t timeouts = 0;
        while (got.size() < sent.size()) {
            std::string buf(64, '\0');
            try {
                const std::size_t n = with_timeout(io, 50us, r.read(io, writable(buf))).await();
                got.append(buf, 0, n);
            } catch (const Timeout&) {
                ++timeouts;
            }
        }
        writer.await();
        EXPECT_EQ(got.size(), sent.size());
        EXPECT_TRUE(got == sent) << "bytes were lost or reordered";
        RecordProperty("timeouts", static_cast<int>(timeouts));
    });
}

TEST_P(FileTest, WriteAllToAFullPipeIsCancelledWhileItWaits) {
    run([&](Io io) {
        auto [r, w] = File::pipe();
        const std::string big(1 << 20, 'q');  // more than a pipe holds
        auto f = io.concurrent([&] { return w.write_all(io, big).await(); });
        ASSERT_TRUE(parked_on(io, f, detail::WaitKind::io));
        EXPECT_THROW((void)f.cancel(), Canceled);
    });
}

TEST_P(FileTest, AWriteToAPipeWithNoReaderFailsWithBrokenPipe) {
    run([&](Io io) {
        auto [r, w] = File::pipe();
        r = File();
        std::error_code ec;
        (void)w.write(io, bytes_of("x"), ec).await();
        EXPECT_EQ(ec, std::errc::broken_pipe);
    });
}

}  // namespace
}  // namespace corio::test
