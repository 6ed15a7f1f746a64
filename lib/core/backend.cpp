// SPDX-License-Identifier: MIT
// What every backend shares: SIGPIPE set to be ignored, the task registry's handle, the
// diagnostics, and the cache task states are allocated from.
#include "core/fault.hpp"
#include "core/internal.hpp"
#include "core/registry.hpp"

#include <corio/backend.hpp>
#include <corio/detail/task_header.hpp>
#include <corio/detail/task_state.hpp>

#include <pthread.h>

#include <csignal>
#include <new>
#include <type_traits>

namespace corio {

Backend::Backend() : registry_(std::make_unique<detail::TaskRegistry>()) {
    static const bool ignored = [] {
        struct sigaction old {};
        if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL &&
            (old.sa_flags & SA_SIGINFO) == 0)
            std::signal(SIGPIPE, SIG_IGN);
        return true;
    }();
    (void)ignored;
}

Backend::~Backend() = default;

void Backend::dump_tasks(std::ostream& out) const { registry_->dump(out); }

std::size_t Backend::live_tasks() const noexcept { return registry_->live(); }

}  // namespace corio

namespace corio::detail {

// Task states come from a small per-thread cache of freed blocks per size class, so a steady
// stream of tasks does not go through malloc; blocks freed on another thread join that thread's
// cache. Sanitizer builds use malloc for every state, so a use after free is seen as one.
namespace {
#if defined(CORIO_ASAN) || defined(CORIO_TSAN)
constexpr bool kCacheStates = false;
#else
constexpr bool kCacheStates = true;
#endif
constexpr std::size_t kClassSize = 64;
constexpr std::size_t kClasses = 8;  // up to 512 bytes
constexpr std::size_t kMaxCached = 256;

struct FreeBlock {
    FreeBlock* next;
};

// Trivially destructible, so that no thread registers a destructor for it (glibc allocates for
// that, and aborts when it cannot): a thread's cache is given back by a pthread key's
// destructor, registered when the thread first keeps a block.
struct StateCache {
    FreeBlock* heads[kClasses];
    std::size_t counts[kClasses];
    // Whether this thread has allocated a state of the class: only then does it keep freed
    // blocks of it. A thread that only frees (a pool thread whose tasks spawn nothing) would
    // otherwise fill its cache with blocks it never takes, on each of hundreds of threads.
    bool allocates[kClasses];
    bool registered;
};
static_assert(std::is_trivially_destructible_v<StateCache>);
CORIO_TLS constinit thread_local StateCache t_cache{};

void drain_cache(void* p) noexcept {
    auto& cache = *static_cast<StateCache*>(p);
    for (std::size_t c = 0; c < kClasses; ++c) {
        while (cache.heads[c] != nullptr) {
            FreeBlock* b = cache.heads[c];
            cache.heads[c] = b->next;
            ::operator delete(b);
        }
        cache.counts[c] = 0;
    }
    cache.registered = false;
}

/// Registers the calling thread's cache to be drained at its exit; false when that cannot be
/// done (no key, or no memory for a key past the first 32), and then nothing is kept.
bool register_cache(StateCache& cache) noexcept {
    static pthread_key_t key;
    static const bool have_key =
        pthread_key_create(&key, [](void* p) { drain_cache(p); }) == 0;
    cache.registered = have_key && pthread_setspecific(key, &cache) == 0;
    return cache.registered;
}
}  // namespace

void* allocate_task_state(std::size_t size) {
    if (fault_at(fault::Site::spawn) != 0) throw std::bad_alloc();
    const std::size_t c = (size + kClassSize - 1) / kClassSize - 1;
    if (kCacheStates && c < kClasses) {
        StateCache& cache = t_cache;
        if (FreeBlock* b = cache.heads[c]; b != nullptr) {
            cache.heads[c] = b->next;
            --cache.counts[c];
            return b;
        }
        cache.allocates[c] = true;  // (a thread with blocks cached has it set already)
        return ::operator new((c + 1) * kClassSize);
    }
    return ::operator new(size);
}

void free_task_state(void* p, std::size_t size) noexcept {
    const std::size_t c = (size + kClassSize - 1) / kClassSize - 1;
    if (kCacheStates && c < kClasses) {
        StateCache& cache = t_cache;
        if (cache.allocates[c] && cache.counts[c] < kMaxCached &&
            (cache.registered || register_cache(cache))) {
            auto* b = static_cast<FreeBlock*>(p);
            b->next = cache.heads[c];
            cache.heads[c] = b;
            ++cache.counts[c];
            return;
        }
    }
    ::operator delete(p);
}

}  // namespace corio::detail
