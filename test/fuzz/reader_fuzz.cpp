// SPDX-License-Identifier: MIT
// libFuzzer target: the Reader's delimiter and exact-read paths over random chunkings.
//
// The input is a buffer size, a chunking seed and a script seed, then the payload. The payload
// goes into a memfd, and a Reader reads it back through real read calls whose lengths come
// from the chunking seed, so every split of lines and exact reads across fills is reached. The
// script mixes take_until('\n'), read_exact, peek and take, and each result is checked against
// a plain model of the payload. Run as a test with a bounded number of runs (-runs=N).
#include "fuzz_rng.hpp"

#include <corio/corio.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using fuzz::Rng;

/// Reads the memfd at its file position, in chunks of random length.
class ChunkedReader final : public corio::Reader {
  public:
    ChunkedReader(int fd, std::span<std::byte> buffer, std::uint64_t seed)
        : Reader(buffer), fd_(fd), rng_{seed} {}

  protected:
    bool prepare_read(corio::detail::IoRequest& r, std::span<std::byte> into) noexcept override {
        r.opcode = corio::detail::IoOpcode::read;
        r.fd = fd_;
        r.buf = into.data();
        r.len = 1 + rng_.below(into.size());
        r.offset = -1;
        return true;
    }

  private:
    int fd_;
    Rng rng_;
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "reader_fuzz: %s\n", what);
    std::abort();
}

std::string_view view(std::span<const std::byte> s) {
    return {reinterpret_cast<const char*>(s.data()), s.size()};
}

corio::Threaded& backend() {
    static corio::Threaded pool;
    return pool;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const std::size_t capacity = 1 + data[0] % 48;
    const std::uint64_t chunk_seed = data[1];
    Rng script{data[2] * 7919ULL + 1};
    const std::string_view payload(reinterpret_cast<const char*>(data + 3), size - 3);

    const int fd = ::memfd_create("reader_fuzz", MFD_CLOEXEC);
    if (fd < 0) fail("memfd_create");
    if (!payload.empty() &&
        ::write(fd, payload.data(), payload.size()) != static_cast<ssize_t>(payload.size()))
        fail("write");
    ::lseek(fd, 0, SEEK_SET);

    corio::Io io = backend().io();
    std::vector<std::byte> buffer(capacity);
    ChunkedReader reader(fd, buffer, chunk_seed);
    std::size_t pos = 0;  // the model's position in the payload
    for (int step = 0; step < 64; ++step) {
        const std::size_t op = script.below(4);
        if (op == 0) {  // take_until
            const std::size_t nl = payload.find('\n', pos);
            const std::size_t line = (nl == std::string_view::npos ? payload.size() : nl) - pos;
            const bool too_long = nl == std::string_view::npos ? line >= capacity : line + 1 > capacity;
            try {
                auto got = reader.take_until(io, '\n').await();
                if (too_long) fail("take_until returned a line longer than the buffer");
                if (nl == std::string_view::npos && line == 0) {
                    if (got.has_value()) fail("take_until returned a line after the end");
                    break;
                }
                if (!got.has_value()) fail("take_until ended early");
                if (view(*got) != payload.substr(pos, line)) fail("take_until returned other bytes");
                pos += line + (nl == std::string_view::npos ? 0 : 1);
            } catch (const std::system_error& e) {
                if (!too_long || e.code() != std::errc::message_size) fail(e.what());
                break;  // the reader keeps a full buffer: the model stops here
            }
        } else if (op == 1) {  // read_exact
            const std::size_t n = script.below(3 * capacity + 2);
            std::string out(n, '\0');
            try {
                reader.read_exact(io, std::as_writable_bytes(std::span(out))).await();
                if (pos + n > payload.size()) fail("read_exact past the end");
                if (out != payload.substr(pos, n)) fail("read_exact returned other bytes");
                pos += n;
            } catch (const corio::IoError& e) {
                if (pos + n <= payload.size()) fail(e.what());
                if (e.transferred() != payload.size() - pos) fail("read_exact miscounted");
                break;
            }
        } else {  // peek (op 2) or take (op 3)
            const std::size_t n = script.below(capacity + 1);
            try {
                auto got = op == 2 ? reader.peek(io, n).await() : reader.take(io, n).await();
                if (pos + n > payload.size()) fail("peek or take past the end");
                if (view(got) != payload.substr(pos, n)) fail("peek or take returned other bytes");
                if (op == 3) pos += n;
            } catch (const corio::IoError& e) {
                if (pos + n <= payload.size()) fail(e.what());
                break;
            }
        }
    }
    ::close(fd);
    return 0;
}
