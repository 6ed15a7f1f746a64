// SPDX-License-Identifier: MIT
// libFuzzer target: the Writer's write_all, print, flush and in-place writes across buffer
// boundaries, into a sink that takes short writes and into fixed memory.
//
// The input is a buffer size, a sink byte (its low bit: a memfd or a FixedWriter; the rest: the
// seed of the short writes' lengths), then a script. Each script step is an operation byte and
// its operands: write_all of the next bytes of the input (throwing or error_code form), print
// with an integer, a padded integer or a string of the input (formatted in the buffer when it
// fits, in scratch space when not), flush, and a write in place through unused() and advance().
// A reference std::string is built alongside. After every step the bytes in the sink followed
// by the buffered bytes must equal it (the memfd), or the writer must hold the longest prefix of
// it that fits and each overflow must report the count it kept (the FixedWriter). Run as a test
// with a bounded number of runs (-runs=N).
#include "fuzz_rng.hpp"

#include <corio/corio.hpp>

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using fuzz::Rng;

/// Writes to the memfd at its file position, in chunks of random length (short writes).
class ChunkedWriter final : public corio::Writer {
  public:
    ChunkedWriter(int fd, std::span<std::byte> buffer, std::uint64_t seed)
        : Writer(buffer), fd_(fd), rng_{seed} {}

  protected:
    bool prepare_write(corio::detail::IoRequest& r,
                       std::span<const std::byte> data) noexcept override {
        r.set(corio::detail::IoOpcode::write, fd_, data.data(), 1 + rng_.below(data.size()));
        return true;
    }

  private:
    int fd_;
    Rng rng_;
};

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "writer_fuzz: %s\n", what.c_str());
    std::abort();
}

std::string_view view(std::span<const std::byte> s) {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}

corio::Threaded& backend() {
    static corio::Threaded pool;
    return pool;
}

/// The script's input, taken from the front.
struct Input {
    const std::uint8_t* p;
    std::size_t left;
    std::uint8_t byte() {
        if (left == 0) return 0;
        --left;
        return *p++;
    }
    std::string_view bytes(std::size_t n) {
        n = std::min(n, left);
        std::string_view s(reinterpret_cast<const char*>(p), n);
        p += n;
        left -= n;
        return s;
    }
};

/// What reached the memfd so far.
std::string sink_contents(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail("fstat");
    std::string s(static_cast<std::size_t>(st.st_size), '\0');
    if (!s.empty() && ::pread(fd, s.data(), s.size(), 0) != static_cast<ssize_t>(s.size()))
        fail("pread");
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::size_t capacity = data[0] % 49;  // 0 too: every write then skips the buffer
    const bool fixed = (data[1] & 1) != 0;
    Input in{data + 2, size - 2};

    corio::Io io = backend().io();
    std::vector<std::byte> buffer(capacity);
    int fd = -1;
    std::unique_ptr<corio::Writer> owned;
    corio::FixedWriter* fw = nullptr;
    if (fixed) {
        fw = new corio::FixedWriter(buffer);
        owned.reset(fw);
    } else {
        fd = ::memfd_create("writer_fuzz", MFD_CLOEXEC);
        if (fd < 0) fail("memfd_create");
        owned = std::make_unique<ChunkedWriter>(fd, buffer, data[1] >> 1);
    }
    corio::Writer& w = *owned;
    std::string expected;  // every byte written, in order

    // Checks the outcome of a write of `text` that returned `count` or threw `error`.
    auto settle = [&](std::string_view text, std::size_t count, const std::error_code& ec,
                      bool threw) {
        if (!fixed) {
            if (threw || ec) fail("a write into the memfd failed: " + ec.message());
            if (count != text.size()) fail("write_all or print miscounted");
            expected += text;
            return;
        }
        const std::size_t room = capacity - std::min(capacity, expected.size());
        const std::size_t kept = std::min(room, text.size());
        const bool overflows = text.size() > room;
        if (overflows != (threw || ec))
            fail(overflows ? "an overflow went unreported" : "a write that fits failed");
        if (overflows && ec != std::errc::no_buffer_space)
            fail("an overflow with another error: " + ec.message());
        if (count != kept) fail("an overflow miscounted what it kept");
        expected += text.substr(0, kept);  // what does not fit is gone
    };
    auto check = [&](const char* after) {
        if (fixed) {
            if (fw->view() != expected)
                fail(std::string("the FixedWriter holds other bytes after ") + after);
            return;
        }
        const std::string got = sink_contents(fd) + std::string(view(w.buffered()));
        if (got != expected) fail(std::string("the sink and buffer hold other bytes after ") + after);
    };

    for (int step = 0; step < 48 && in.left != 0; ++step) {
        const std::uint8_t op = in.byte();
        switch (op % 6) {
            case 0:    // write_all, throwing
            case 1: {  // write_all, error_code
                const std::string_view text = in.bytes(in.byte() % (2 * capacity + 3));
                std::error_code ec;
                std::size_t count = 0;
                bool threw = false;
                if (op % 6 == 0) {
                    try {
                        count = w.write_all(io, text).await();
                    } catch (const corio::IoError& e) {
                        threw = true;
                        ec = e.code();
                        count = e.transferred();
                    } catch (const std::system_error& e) {
                        fail(std::string("write_all threw without a count: ") + e.what());
                    }
                } else {
                    count = w.write_all(io, text, ec).await();
                }
                settle(text, count, ec, threw);
                check("write_all");
                break;
            }
            case 2: {  // print
                const std::uint8_t kind = in.byte();
                const std::uint8_t a = in.byte();
                std::string text;
                std::size_t count = 0;
                std::error_code ec;
                bool threw = false;
                try {
                    switch (kind % 3) {
                        case 0:
                            text = fmt::format("{}", a * 1000003u);
                            count = w.print(io, "{}", a * 1000003u).await();
                            break;
                        case 1:
                            text = fmt::format("[{:>{}}]", a, kind % 70);
                            count = w.print(io, "[{:>{}}]", a, kind % 70).await();
                            break;
                        default: {
                            const std::string_view s = in.bytes(a % (3 * capacity + 4));
                            text = fmt::format("<{}>", s);
                            count = w.print(io, "<{}>", s).await();
                            break;
                        }
                    }
                } catch (const corio::IoError& e) {
                    threw = true;
                    ec = e.code();
                    count = e.transferred();
                } catch (const std::system_error& e) {
                    fail(std::string("print threw without a count: ") + e.what());
                }
                settle(text, count, ec, threw);
                check("print");
                break;
            }
            case 3: {  // flush
                std::error_code ec;
                if (op & 8) {
                    w.flush(io, ec).await();
                } else {
                    try {
                        w.flush(io).await();
                    } catch (const std::system_error& e) {
                        ec = e.code();
                    }
                }
                if (ec) fail("flush failed: " + ec.message());
                if (!fixed && w.end() != 0) fail("flush left bytes in the buffer");
                check("flush");
                break;
            }
            default: {  // in place: as much of the next bytes as unused() has room for
                const std::span<std::byte> room = w.unused();
                const std::string_view text =
                    in.bytes(std::min<std::size_t>(in.byte() % 16, room.size()));
                if (!text.empty()) std::memcpy(room.data(), text.data(), text.size());
                w.advance(text.size());
                expected += text;
                check("advance");
                break;
            }
        }
    }
    w.flush(io).await();
    check("the last flush");
    if (fd >= 0) ::close(fd);
    return 0;
}
