// SPDX-License-Identifier: MIT
// Benchmark support: a counting replacement of global operator new/delete, and thread control.
#include "bench_support.hpp"

#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>

#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define CORIO_BENCH_HAVE_SINGLE_THREADED 1
#endif

namespace {

// A plain thread-local counter: no atomic read-modify-write on the allocation path, so the
// counting itself does not distort what the benchmarks measure.
thread_local std::uint64_t t_allocations = 0;

void* counted_alloc(std::size_t n) {
    ++t_allocations;
    if (n == 0) n = 1;
    if (void* p = std::malloc(n)) return p;
    throw std::bad_alloc();
}

void* counted_alloc_aligned(std::size_t n, std::align_val_t al) {
    ++t_allocations;
    std::size_t a = static_cast<std::size_t>(al);
    if (a < sizeof(void*)) a = sizeof(void*);
    if (n == 0) n = 1;
    void* p = nullptr;
    if (::posix_memalign(&p, a, n) != 0) throw std::bad_alloc();
    return p;
}

}  // namespace

namespace corio::bench {

std::uint64_t thread_allocations() noexcept { return t_allocations; }

bool process_is_single_threaded() noexcept {
#ifdef CORIO_BENCH_HAVE_SINGLE_THREADED
    return __libc_single_threaded != 0;
#else
    return false;
#endif
}

void make_process_multithreaded() {
    static std::once_flag once;
    std::call_once(once, [] { std::thread([] {}).join(); });
}

}  // namespace corio::bench

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_alloc(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted_alloc(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new(std::size_t n, std::align_val_t al) { return counted_alloc_aligned(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return counted_alloc_aligned(n, al); }

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
