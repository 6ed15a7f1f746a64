// SPDX-License-Identifier: MIT
// The async and concurrent limits of a backend that runs tasks elsewhere (Threaded, IoUring):
// lock-free reservation of a slot, so `reserve` (every io.async) takes no lock. Also the small
// pieces their queues share: a spin lock and two intrusive queues of Runnables.
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
#include <thread>

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

/// A lock for critical sections of a few instructions on hot paths (the queue of tasks not
/// started): one atomic exchange to take it when free, a yield of the thread when its holder
/// was preempted.
class SpinLock {
  public:
    void lock() noexcept {
        for (unsigned spins = 0;; ) {
            if (!locked_.exchange(true, std::memory_order_acquire)) return;
            while (locked_.load(std::memory_order_relaxed)) {
                if (++spins > 64) std::this_thread::yield();
            }
        }
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

  private:
    std::atomic<bool> locked_{false};
};

/// A FIFO of Runnables through their `next` links only (a ready queue). Not synchronized.
class RunnableQueue {
  public:
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] Runnable* front() const noexcept { return head_; }
    void push_back(Runnable* r) noexcept {
        r->next = nullptr;
        if (tail_ != nullptr)
            tail_->next = r;
        else
            head_ = r;
        tail_ = r;
    }
    Runnable* pop_front() noexcept {
        Runnable* r = head_;
        if (r != nullptr) {
            head_ = r->next;
            if (head_ == nullptr) tail_ = nullptr;
        }
        return r;
    }
    /// Empties the queue and returns its first Runnable (the rest follow through `next`).
    Runnable* take_all() noexcept {
        Runnable* r = head_;
        head_ = tail_ = nullptr;
        return r;
    }

  private:
    Runnable* head_ = nullptr;
    Runnable* tail_ = nullptr;
};

/// A queue of Runnables that can also unlink one from the middle (an awaiter taking back a
/// task that has not started). Not synchronized.
class RunnableList {
  public:
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] Runnable* front() const noexcept { return head_; }
    void push_back(Runnable* r) noexcept {
        r->next = nullptr;
        r->prev = tail_;
        if (tail_ != nullptr)
            tail_->next = r;
        else
            head_ = r;
        tail_ = r;
    }
    void unlink(Runnable* r) noexcept {
        if (r->prev != nullptr)
            r->prev->next = r->next;
        else
            head_ = r->next;
        if (r->next != nullptr)
            r->next->prev = r->prev;
        else
            tail_ = r->prev;
        r->next = r->prev = nullptr;
    }
    Runnable* pop_front() noexcept {
        Runnable* r = head_;
        if (r != nullptr) unlink(r);
        return r;
    }

  private:
    Runnable* head_ = nullptr;
    Runnable* tail_ = nullptr;
};

}  // namespace corio::detail
