// SPDX-License-Identifier: MIT
// The async and concurrent limits of a backend that runs tasks elsewhere (Threaded, IoUring):
// lock-free reservation of a slot, so `reserve` (every io.async) takes no lock.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "core/internal.hpp"

#include <corio/backend.hpp>
#include <corio/error.hpp>

#include <atomic>
#include <cstddef>
#include <string>

namespace corio::detail {

class SpawnLimits {
  public:
    SpawnLimits(std::size_t async_limit, std::size_t concurrent_limit) noexcept
        : async_limit_(async_limit), concurrent_limit_(concurrent_limit) {}

    /// Backend::reserve: false when an async task should run inline; throws
    /// ConcurrencyUnavailable (naming `backend`) at the concurrent limit.
    bool reserve(SpawnKind kind, const char* backend) {
        if (kind == SpawnKind::async) {
            if (reserve_below(async_active_, async_limit_)) return true;
            // A coroutine must never run a plain function inline: it might wait and block its
            // worker. Beyond the limit, it still gets a thread or fiber.
            if (thread_state().executor == nullptr) return false;
            async_active_.fetch_add(1, std::memory_order_relaxed);  // limit < unlimited here
            return true;
        }
        if (!reserve_below(concurrent_active_, concurrent_limit_))
            throw ConcurrencyUnavailable(std::string(backend) + " concurrent_limit (" +
                                         std::to_string(concurrent_limit_) + ") reached");
        return true;
    }
    void release(bool concurrent) noexcept {
        if ((concurrent ? concurrent_limit_ : async_limit_) == unlimited) return;
        (concurrent ? concurrent_active_ : async_active_).fetch_sub(1, std::memory_order_relaxed);
    }

  private:
    static constexpr std::size_t unlimited = static_cast<std::size_t>(-1);

    static bool reserve_below(std::atomic<std::size_t>& active, std::size_t limit) noexcept {
        if (limit == unlimited) return true;  // nothing to count (the default): no atomic
        std::size_t n = active.load(std::memory_order_relaxed);
        while (n < limit) {
            if (active.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
        }
        return false;
    }

    std::size_t async_limit_;
    std::size_t concurrent_limit_;
    std::atomic<std::size_t> async_active_{0};
    std::atomic<std::size_t> concurrent_active_{0};
};

}  // namespace corio::detail
