// SPDX-License-Identifier: MIT
// Fiber stacks: mmap, a PROT_NONE guard page, and a clear error at the kernel's map limit.
#include "fiber/sanitizers.hpp"
#include "fiber/stack.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>


#ifdef CORIO_ASAN
extern "C" void __asan_unpoison_memory_region(void const volatile* addr, std::size_t size);
#endif

#ifdef CORIO_TSAN
extern "C" {
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
}
#endif

namespace corio::detail {

namespace {

std::atomic<std::size_t> g_mapped{0};
std::atomic<std::size_t> g_guarded{0};

long read_max_map_count() noexcept {
    long v = -1;
    if (std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
        if (std::fscanf(f, "%ld", &v) != 1) v = -1;
        std::fclose(f);
    }
    return v;
}

[[noreturn]] void throw_map_failure(int err, std::size_t size, bool guarded) {
    std::string msg = "corio: cannot map a fiber stack of " + std::to_string(size) + " bytes (" +
                      std::to_string(g_mapped.load()) + " fiber stacks mapped, " +
                      std::to_string(g_guarded.load()) + " with a guard page)";
    if (guarded) {
        const long limit = read_max_map_count();
        msg += ": each guarded stack takes 2 of the kernel's memory maps, and vm.max_map_count is " +
               (limit > 0 ? std::to_string(limit) : std::string("unknown")) +
               ". Raise it (sysctl -w vm.max_map_count=1048576) or turn guard pages off "
               "(IoUring::Options::guard_pages = false)";
    } else {
        msg += ": out of memory or of memory maps (vm.max_map_count)";
    }
    throw std::system_error(err, std::generic_category(), msg);
}

}  // namespace

std::size_t page_size() noexcept {
    static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

Stack map_stack(std::size_t usable, bool guard) {
    const std::size_t page = page_size();
    const std::size_t mapped = usable + (guard ? page : 0);
    void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) throw_map_failure(errno, usable, guard);
    Stack s;
    s.base = static_cast<char*>(p);
    s.mapped = mapped;
    s.low = s.base + (guard ? page : 0);
    if (guard) {
        if (::mprotect(p, page, PROT_NONE) != 0) {
            const int err = errno;
            ::munmap(p, mapped);
            throw_map_failure(err, usable, true);
        }
        s.guarded = true;
        g_guarded.fetch_add(1, std::memory_order_relaxed);
    }
    g_mapped.fetch_add(1, std::memory_order_relaxed);
#ifdef CORIO_TSAN
    s.tsan_fiber = __tsan_create_fiber(0);
#endif
    return s;
}

void forget_stack_frames(Stack& s) noexcept {
#ifdef CORIO_ASAN
    __asan_unpoison_memory_region(s.bottom(), s.usable());
#else
    (void)s;
#endif
}

void unmap_stack(Stack& s) noexcept {
    forget_stack_frames(s);
#ifdef CORIO_TSAN
    if (s.tsan_fiber != nullptr) __tsan_destroy_fiber(s.tsan_fiber);
#endif
    ::munmap(s.base, s.mapped);
    g_mapped.fetch_sub(1, std::memory_order_relaxed);
    if (s.guarded) g_guarded.fetch_sub(1, std::memory_order_relaxed);
}

std::size_t mapped_stacks() noexcept { return g_mapped.load(std::memory_order_relaxed); }

}  // namespace corio::detail
