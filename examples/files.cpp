// SPDX-License-Identifier: MIT
// files: cat, copy and parallel processing of files, through Reader and Writer.
//
//   files cat FILE...          the files, one after the other, to standard output
//   files copy SRC DST         SRC's bytes into DST (created or truncated)
//   files count FILE...        lines and bytes of each file, counted in parallel (a Group)
//   [--backend io_uring|threaded] [--threads N] anywhere after the command
#include "common.hpp"

#include <array>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

namespace {

/// Standard output as a File that is not closed at the end.
struct Stdout {
    corio::File file{1};
    ~Stdout() { (void)file.release(); }
};

void cat(corio::Io io, const std::vector<std::string>& paths) {
    Stdout out;
    std::array<std::byte, 65536> wbuf;
    corio::FileWriter w(out.file, wbuf);
    std::array<std::byte, 65536> rbuf;
    for (const std::string& p : paths) {
        corio::File f = corio::File::open(io, p).await();
        corio::FileReader r(f, rbuf);
        (void)r.stream_to(io, w).await();
    }
    w.flush(io).await();
}

void copy(corio::Io io, const std::string& from, const std::string& to) {
    corio::File in = corio::File::open(io, from).await();
    corio::File out = corio::File::create(io, to).await();
    std::array<std::byte, 65536> rbuf, wbuf;
    corio::FileReader r(in, rbuf);
    corio::FileWriter w(out, wbuf);
    const std::uint64_t n = r.stream_to(io, w).await();
    w.flush(io).await();
    out.close(io).await();  // a close that fails (a full disk over NFS) is reported
    std::fprintf(stderr, "copied %" PRIu64 " bytes\n", n);
}

struct Count {
    std::uint64_t lines = 0;
    std::uint64_t bytes = 0;
};

Count count_file(corio::Io io, const std::string& path) {
    corio::File f = corio::File::open(io, path).await();
    // On the heap: a fiber's stack is 64 KiB by default.
    std::vector<std::byte> buf(16384), chunk(65536);
    corio::FileReader r(f, buf);
    Count c;
    for (;;) {
        const std::size_t n = r.read(io, chunk).await();
        if (n == 0) return c;
        c.bytes += n;
        for (std::size_t i = 0; i < n; ++i) c.lines += chunk[i] == std::byte{'\n'};
    }
}

void count(corio::Io io, const std::vector<std::string>& paths) {
    std::vector<Count> counts(paths.size());
    {
        corio::Group group{io};
        for (std::size_t i = 0; i < paths.size(); ++i)
            group.async([io, &counts, &paths, i] { counts[i] = count_file(io, paths[i]); });
        group.wait();  // the first error cancels the rest and is rethrown here
    }
    Count total;
    for (std::size_t i = 0; i < paths.size(); ++i) {
        std::printf("%10" PRIu64 " %12" PRIu64 "  %s\n", counts[i].lines, counts[i].bytes,
                    paths[i].c_str());
        total.lines += counts[i].lines;
        total.bytes += counts[i].bytes;
    }
    if (paths.size() > 1)
        std::printf("%10" PRIu64 " %12" PRIu64 "  total\n", total.lines, total.bytes);
}

}  // namespace

int main(int argc, char** argv) {
    const example::Flags flags(argc, argv);
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--backend" || a == "--threads") {
            ++i;
            continue;
        }
        args.push_back(a);
    }
    if (args.empty()) example::Flags::usage_error("usage: files cat|copy|count FILE...");
    std::unique_ptr<corio::Backend> backend = example::make_backend(flags);
    corio::Io io(*backend);
    const std::string cmd = args.front();
    const std::vector<std::string> paths(args.begin() + 1, args.end());
    try {
        if (cmd == "cat") {
            cat(io, paths);
        } else if (cmd == "copy" && paths.size() == 2) {
            copy(io, paths[0], paths[1]);
        } else if (cmd == "count" && !paths.empty()) {
            count(io, paths);
        } else {
            example::Flags::usage_error("usage: files cat|copy|count FILE...");
        }
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "files: %s\n", e.what());
        return 1;
    }
    return 0;
}
