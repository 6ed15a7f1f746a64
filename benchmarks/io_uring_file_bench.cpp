// SPDX-License-Identifier: MIT
// 4 KiB random preads from a 256 MiB file in the page cache, queue depth 32, in one binary:
//   corio_tasks/32     32 Task coroutines on one IoUring worker, each awaiting File::pread
//   corio_fibers/32    the same with 32 fibers
//   raw_liburing/32    one thread submitting 32 IORING_OP_READs, waiting for the 32, reaping
//   pread_loop         one thread calling pread(2)
//   raw_liburing_mt/32, raw_liburing_fixed_mt/32
//                      raw_liburing with another thread alive, without and with the file
//                      registered (IOSQE_FIXED_FILE): what registered files would save
// Items are reads; compare items_per_second. Each benchmark iteration makes 32,768 reads.
#include <corio/corio.hpp>

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t kFileSize = std::size_t{256} << 20;
constexpr std::size_t kBlock = 4096;
constexpr int kReads = 32 * 1024;
constexpr int kDepth = 32;

/// The file, written once per process and read through once so it is in the page cache; and
/// the random block offsets every benchmark walks.
struct Fixture {
    std::string path;
    std::vector<std::uint64_t> offsets;

    Fixture() {
        path = (std::filesystem::temp_directory_path() /
                ("corio-file-bench-" + std::to_string(::getpid())))
                   .string();
        const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
        std::vector<char> chunk(1 << 20, 'r');
        for (std::size_t done = 0; done < kFileSize; done += chunk.size())
            if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size()))
                std::abort();
        ::lseek(fd, 0, SEEK_SET);
        while (::read(fd, chunk.data(), chunk.size()) > 0) {
        }
        ::close(fd);
        std::mt19937_64 rng(42);
        offsets.resize(kReads);
        for (auto& o : offsets) o = (rng() % (kFileSize / kBlock)) * kBlock;
    }
    ~Fixture() { ::unlink(path.c_str()); }
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

corio::Task<void> read_loop(corio::Io io, const corio::File& f, int first, int n) {
    alignas(64) std::byte buf[kBlock];
    const auto& offsets = fixture().offsets;
    for (int i = 0; i < n; ++i)
        co_await f.pread(io, buf, offsets[static_cast<std::size_t>((first + i * kDepth) % kReads)]);
}

/// Runs kDepth tasks of `start(io, f, t)` per iteration on one IoUring worker.
template <class Start>
void corio_depth(benchmark::State& state, Start start) {
    corio::IoUring ring({.threads = 1});
    corio::Io io = ring.io();
    corio::File f = corio::File::open(io, fixture().path).await();
    for (auto _ : state) {
        std::vector<corio::Future<void>> fs;
        for (int t = 0; t < kDepth; ++t) fs.push_back(start(io, f, t));
        for (auto& x : fs) x.await();
    }
    state.SetItemsProcessed(state.iterations() * kReads);
}

void corio_tasks(benchmark::State& state) {
    corio_depth(state, [](corio::Io io, const corio::File& f, int t) {
        return io.async(read_loop, io, std::cref(f), t, kReads / kDepth);
    });
}

void corio_fibers(benchmark::State& state) {
    corio_depth(state, [](corio::Io io, const corio::File& f, int t) {
        return io.async([io, &f, t] {
            alignas(64) std::byte buf[kBlock];
            const auto& offsets = fixture().offsets;
            for (int i = 0; i < kReads / kDepth; ++i)
                (void)f.pread(io, buf, offsets[static_cast<std::size_t>((t + i * kDepth) % kReads)])
                    .await();
        });
    });
}

/// `fixed`: the file is registered with the ring (IOSQE_FIXED_FILE). `shared`: another thread
/// lives meanwhile, as in any program with worker threads, so the kernel's descriptor lookup
/// takes a reference per call (a single-threaded process skips it), which a registered file
/// does not need.
void raw_liburing_with(benchmark::State& state, bool fixed, bool shared) {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread other;
    if (shared)
        other = std::thread([&] {
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return done; });
        });
    io_uring ring{};
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN;
    if (io_uring_queue_init_params(256, &ring, &p) != 0) {
        state.SkipWithError("io_uring refused");
        return;
    }
    const int fd = ::open(fixture().path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fixed && io_uring_register_files(&ring, &fd, 1) != 0) std::abort();
    std::vector<std::byte> bufs(kBlock * kDepth);
    const auto& offsets = fixture().offsets;
    for (auto _ : state) {
        for (int n = 0; n < kReads; n += kDepth) {
            for (int i = 0; i < kDepth; ++i) {
                io_uring_sqe* sqe = io_uring_get_sqe(&ring);
                io_uring_prep_read(sqe, fixed ? 0 : fd,
                                   bufs.data() + static_cast<std::size_t>(i) * kBlock, kBlock,
                                   offsets[static_cast<std::size_t>(n + i)]);
                if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
                io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(i) + 1);
            }
            io_uring_submit_and_wait(&ring, kDepth);
            unsigned head = 0, seen = 0;
            io_uring_cqe* cqe = nullptr;
            io_uring_for_each_cqe(&ring, head, cqe) {
                if (cqe->res != static_cast<int>(kBlock)) std::abort();
                ++seen;
            }
            io_uring_cq_advance(&ring, seen);
        }
    }
    ::close(fd);
    io_uring_queue_exit(&ring);
    state.SetItemsProcessed(state.iterations() * kReads);
    if (shared) {
        {
            std::lock_guard lock(m);
            done = true;
        }
        cv.notify_all();
        other.join();
    }
}

void raw_liburing(benchmark::State& state) { raw_liburing_with(state, false, false); }
void raw_liburing_mt(benchmark::State& state) { raw_liburing_with(state, false, true); }
void raw_liburing_fixed_mt(benchmark::State& state) { raw_liburing_with(state, true, true); }

void pread_loop(benchmark::State& state) {
    const int fd = ::open(fixture().path.c_str(), O_RDONLY | O_CLOEXEC);
    alignas(64) std::byte buf[kBlock];
    const auto& offsets = fixture().offsets;
    for (auto _ : state) {
        for (int i = 0; i < kReads; ++i)
            if (::pread(fd, buf, kBlock, static_cast<off_t>(offsets[static_cast<std::size_t>(i)])) !=
                static_cast<ssize_t>(kBlock))
                std::abort();
    }
    ::close(fd);
    state.SetItemsProcessed(state.iterations() * kReads);
}

// Registered in turn (corio, raw, corio, raw) so drift hits both alike.
BENCHMARK(corio_tasks)->Name("io_uring_file/corio_tasks/32")->UseRealTime();
BENCHMARK(raw_liburing)->Name("io_uring_file/raw_liburing/32")->UseRealTime();
BENCHMARK(corio_fibers)->Name("io_uring_file/corio_fibers/32")->UseRealTime();
BENCHMARK(pread_loop)->Name("io_uring_file/pread_loop")->UseRealTime();
// Registered files, measured before corio uses them: the same loop with another thread alive,
// with and without the file registered.
BENCHMARK(raw_liburing_mt)->Name("io_uring_file/raw_liburing_mt/32")->UseRealTime();
BENCHMARK(raw_liburing_fixed_mt)->Name("io_uring_file/raw_liburing_fixed_mt/32")->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
