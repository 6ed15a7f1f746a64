// SPDX-License-Identifier: MIT
// What every backend shares: the task registry, orphans, and the destructor's check.
#include "core/fault.hpp"
#include "core/internal.hpp"
#include "fiber/sanitizers.hpp"

#include <corio/backend.hpp>
#include <corio/detail/task_header.hpp>
#include <corio/detail/task_state.hpp>

#include <pthread.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <new>
#include <sstream>
#include <thread>
#include <type_traits>

namespace corio {

namespace {

std::atomic<std::uint64_t> g_next_task_id{1};
std::atomic<unsigned> g_next_shard{0};

/// Task ids are handed to threads in blocks, so building a task takes no shared atomic.
struct IdBlock {
    std::uint64_t next = 0;
    std::uint64_t end = 0;
    unsigned shard = ~0u;  // the registry shard of this thread
};
CORIO_TLS thread_local IdBlock t_ids;
constexpr std::uint64_t id_block = 1024;

/// The shards' lock: one exchange when free (the usual case: a shard is a thread's own).
template <class Shard>
class ShardLock {
  public:
    explicit ShardLock(const Shard& s) noexcept : s_(s) {
        for (unsigned i = 0; s_.locked.exchange(true, std::memory_order_acquire); ++i)
            while (s_.locked.load(std::memory_order_relaxed)) detail::spin_pause(i++);
    }
    ShardLock(const ShardLock&) = delete;
    ShardLock& operator=(const ShardLock&) = delete;
    ~ShardLock() { s_.locked.store(false, std::memory_order_release); }

  private:
    const Shard& s_;
};

}  // namespace

Backend::Backend() {
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

bool Backend::try_claim(detail::TaskHeader&) noexcept { return false; }

std::string Backend::schedule_failure() const { return "no thread or fiber could be started"; }

std::chrono::steady_clock::time_point Backend::now() const noexcept {
    return std::chrono::steady_clock::now();
}

std::chrono::system_clock::time_point Backend::now_system() const noexcept {
    return std::chrono::system_clock::now();
}

void Backend::register_task(detail::TaskHeader& t) noexcept {
    t.stop.set_router(stop_router_);  // before any other thread can see the task
    IdBlock& ids = t_ids;
    if (ids.next == ids.end) [[unlikely]] {
        ids.next = g_next_task_id.fetch_add(id_block, std::memory_order_relaxed);
        ids.end = ids.next + id_block;
        if (ids.shard == ~0u)
            ids.shard = g_next_shard.fetch_add(1, std::memory_order_relaxed) % registry_shards;
    }
    t.id = ids.next++;
    t.registry_shard = static_cast<std::uint8_t>(ids.shard);
    RegistryShard& shard = shards_[ids.shard];
    ShardLock lock(shard);
    t.reg_prev = nullptr;
    t.reg_next = shard.tasks;
    if (shard.tasks != nullptr) shard.tasks->reg_prev = &t;
    shard.tasks = &t;
    ++shard.count;
}

void Backend::unregister_task(detail::TaskHeader& t) noexcept {
    RegistryShard& shard = shards_[t.registry_shard];
    ShardLock lock(shard);
    if (t.reg_prev != nullptr)
        t.reg_prev->reg_next = t.reg_next;
    else
        shard.tasks = t.reg_next;
    if (t.reg_next != nullptr) t.reg_next->reg_prev = t.reg_prev;
    --shard.count;
}

void Backend::adopt_orphan(detail::TaskHeader& t) noexcept {
    {
        std::lock_guard lock(orphan_mutex_);
        ++orphan_count_;
    }
    const std::uint32_t prev =
        t.completion.fetch_or(detail::TaskHeader::detached_bit, std::memory_order_acq_rel);
    if ((prev & detail::TaskHeader::done_bit) != 0) orphan_finished(t);
}

void Backend::orphan_finished(detail::TaskHeader& t) noexcept {
    t.vtable->destroy(&t);
    orphan_group_member_finished();
}

void Backend::orphan_group_members(std::size_t n) noexcept {
    std::lock_guard lock(orphan_mutex_);
    orphan_count_ += n;
}

void Backend::orphan_group_member_finished() noexcept {
    // Notified under the lock: a destructor that saw the count reach zero may free the
    // backend as soon as it has the lock again.
    std::lock_guard lock(orphan_mutex_);
    if (--orphan_count_ == 0) orphans_reaped_.notify_all();
}

std::size_t Backend::orphans() const noexcept {
    std::lock_guard lock(orphan_mutex_);
    return orphan_count_;
}

void Backend::wait_for_orphans() const noexcept {
    std::unique_lock lock(orphan_mutex_);
    orphans_reaped_.wait(lock, [this] { return orphan_count_ == 0; });
}

std::size_t Backend::live_tasks() const noexcept {
    std::size_t n = 0;
    for (const RegistryShard& shard : shards_) {
        ShardLock lock(shard);
        n += shard.count;
    }
    return n;
}

std::size_t Backend::unfinished_tasks() const noexcept {
    std::size_t n = 0;
    for (const RegistryShard& shard : shards_) {
        ShardLock lock(shard);
        for (const detail::TaskHeader* t = shard.tasks; t != nullptr; t = t->reg_next)
            if ((t->completion.load(std::memory_order_acquire) & detail::TaskHeader::done_bit) == 0)
                ++n;
    }
    return n;
}

void Backend::dump_tasks(std::ostream& out) const {
    for (const RegistryShard& shard : shards_) {
        ShardLock lock(shard);
        for (const detail::TaskHeader* t = shard.tasks; t != nullptr; t = t->reg_next) {
            const std::uint32_t c = t->completion.load(std::memory_order_relaxed);
            out << "  task " << t->id << (t->coroutine ? " (coroutine)" : " (plain)")
                << ((c & detail::TaskHeader::done_bit) != 0 ? " finished" : "")
                << ((c & detail::TaskHeader::detached_bit) != 0 ? " orphaned" : "")
                << (t->stop.stop_requested() ? " cancel-requested" : "");
            if ((c & detail::TaskHeader::done_bit) == 0)
                out << " waiting on "
                    << detail::to_string(t->wait_kind.load(std::memory_order_acquire));
            out << '\n';
        }
    }
}

void Backend::check_unreferenced() noexcept {
    const std::size_t tasks = live_tasks() - orphans();
    const std::size_t groups = groups_.load(std::memory_order_acquire);
    if (tasks == 0 && groups == 0) return;
    std::ostringstream msg;
    msg << "corio: a backend is being destroyed while " << tasks << " task(s) and " << groups
        << " group(s) still refer to it (destroy every Future and Group first):\n";
    dump_tasks(msg);
    std::fputs(msg.str().c_str(), stderr);
    std::fflush(stderr);
    std::abort();
}

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
