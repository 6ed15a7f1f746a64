// SPDX-License-Identifier: MIT
// Fault injection: one counter and one window of failing events per site, shared by every
// thread. The counts are atomics so that sites on any thread (workers, pool threads) can be
// hit while a test arms or clears them.
#include "core/fault.hpp"

#include <corio/error.hpp>

#include <atomic>
#include <system_error>

namespace corio {

namespace {

struct SiteState {
    std::atomic<std::uint64_t> seen{0};
    std::atomic<std::uint64_t> failed{0};
    // The window [first, last) of event numbers (1-based) that fail, and their errno. `armed`
    // is set last with release and read first with acquire, so a hit sees a whole window.
    std::atomic<std::uint64_t> first{0};
    std::atomic<std::uint64_t> last{0};
    std::atomic<int> err{0};
    std::atomic<bool> armed{false};
};

SiteState g_sites[fault::site_count];

SiteState& state(fault::Site site) noexcept { return g_sites[static_cast<unsigned>(site)]; }

}  // namespace

#if CORIO_FAULT_INJECTION
namespace detail {
int fault_at(fault::Site site) noexcept {
    SiteState& s = state(site);
    if (!s.armed.load(std::memory_order_acquire)) return 0;
    const std::uint64_t n = s.seen.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n < s.first.load(std::memory_order_relaxed) || n >= s.last.load(std::memory_order_relaxed))
        return 0;
    s.failed.fetch_add(1, std::memory_order_relaxed);
    return s.err.load(std::memory_order_relaxed);
}
}  // namespace detail
#endif

namespace fault {

bool available() noexcept { return CORIO_FAULT_INJECTION != 0; }

void inject(Site site, std::uint64_t after, int err, std::uint64_t times) {
    if (!available())
        throw UsageError(std::errc::function_not_supported,
                         "corio: fault injection needs a library built with -Dfault_injection=true");
    SiteState& s = state(site);
    s.armed.store(false, std::memory_order_relaxed);
    s.seen.store(0, std::memory_order_relaxed);
    s.failed.store(0, std::memory_order_relaxed);
    s.first.store(after + 1, std::memory_order_relaxed);
    s.last.store(after + 1 + times, std::memory_order_relaxed);
    s.err.store(err, std::memory_order_relaxed);
    s.armed.store(true, std::memory_order_release);
}

void clear(Site site) noexcept {
    SiteState& s = state(site);
    s.armed.store(false, std::memory_order_release);
    s.seen.store(0, std::memory_order_relaxed);
    s.failed.store(0, std::memory_order_relaxed);
}

void clear() noexcept {
    for (unsigned i = 0; i < site_count; ++i) clear(static_cast<Site>(i));
}

std::uint64_t seen(Site site) noexcept { return state(site).seen.load(std::memory_order_relaxed); }

std::uint64_t failed(Site site) noexcept {
    return state(site).failed.load(std::memory_order_relaxed);
}

}  // namespace fault
}  // namespace corio
