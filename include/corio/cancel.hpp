// SPDX-License-Identifier: MIT
// Cancellation: an in-place stop source (no allocation), corio's stop_token and stop_callback.
//
// These three mirror std::stop_source / std::stop_token / std::stop_callback, hence their
// std-style names; everything else in corio that is a type is PascalCase. The source lives in a
// task's header, so cancelling a task allocates nothing; callbacks are intrusive nodes.
#pragma once

#include <corio/export.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <utility>

namespace corio {

class inplace_stop_source;

namespace detail {

/// An intrusive callback registered on an `inplace_stop_source`.
struct StopCallbackBase {
    using Fn = void (*)(StopCallbackBase*) noexcept;
    explicit StopCallbackBase(Fn fn) noexcept : execute(fn) {}

    Fn execute;
    StopCallbackBase* next = nullptr;
    StopCallbackBase** prev_ptr = nullptr;  // null once removed from the list
    bool* removed_during_callback = nullptr;
    std::atomic<bool> callback_completed{false};
};

class RoutedWaits;
class StopRouter;

/// A wait whose cancellation the scheduler worker that runs it delivers, instead of a callback
/// registered on the stop source (no lock and no atomic read-modify-write per wait). Indexed
/// by its worker under its source, touched only on that worker's thread.
struct RoutedWait {
    StopCallbackBase* callback = nullptr;  // run on the worker once the source is stopped
    const inplace_stop_source* source = nullptr;
    RoutedWaits* list = nullptr;  // the worker's index that holds it; null once unlinked
    RoutedWait* next = nullptr;
    RoutedWait* prev = nullptr;
};

/// A scheduler worker's routed waits, by source: a hash index of chains, owner thread only.
/// Adding and removing are inline (the path of every wait on a worker); the rest is in the
/// library.
class RoutedWaits {
  public:
    CORIO_EXPORT explicit RoutedWaits(StopRouter* router);
    CORIO_EXPORT ~RoutedWaits();
    RoutedWaits(const RoutedWaits&) = delete;
    RoutedWaits& operator=(const RoutedWaits&) = delete;

    /// The router whose sources' waits this index takes.
    [[nodiscard]] StopRouter* router() const noexcept { return router_; }
    /// Indexes `w` (callback and source set); false when the index cannot grow (no memory).
    bool add(RoutedWait& w) noexcept {
        if (size_ > mask_ || (size_ * 8 < mask_ && mask_ >= min_shrink_mask)) [[unlikely]] {
            if (!resize()) return false;
        }
        RoutedWait*& head = buckets_[bucket_of(w.source)];
        w.prev = nullptr;
        w.next = head;
        if (head != nullptr) head->prev = &w;
        head = &w;
        w.list = this;
        ++size_;
        return true;
    }
    void remove(RoutedWait& w) noexcept {
        if (w.prev != nullptr)
            w.prev->next = w.next;
        else
            buckets_[bucket_of(w.source)] = w.next;
        if (w.next != nullptr) w.next->prev = w.prev;
        w.list = nullptr;
        --size_;
    }
    /// Unlinks the waits on `source` if it was stopped, and runs their callbacks. `source` is
    /// only compared until a wait on it is found: it may be gone.
    CORIO_EXPORT void run_stopped(const inplace_stop_source* source) noexcept;
    /// The same for every wait whose source was stopped.
    CORIO_EXPORT void run_all_stopped() noexcept;
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::size_t buckets() const noexcept { return mask_ + 1; }

  private:
    [[nodiscard]] std::size_t bucket_of(const inplace_stop_source* s) const noexcept {
        return static_cast<std::size_t>(
            (reinterpret_cast<std::uintptr_t>(s) * 0x9e3779b97f4a7c15ULL) >> shift_);
    }
    /// Doubles the buckets when full, or shrinks them to fit after a storm of waits ended (so
    /// a scan of every wait stays proportional to the waits); false if it could not allocate.
    CORIO_EXPORT bool resize() noexcept;
    static constexpr std::size_t min_shrink_mask = 1023;

    StopRouter* router_;
    RoutedWait** buckets_ = nullptr;
    std::size_t mask_ = 0;  // bucket count - 1
    std::size_t size_ = 0;
    unsigned shift_ = 0;    // 64 - log2(bucket count)
};

/// Routes the cancellation of waits on the sources of one backend's tasks through its
/// workers. A source that has one (set before the source is shared, and outlived by it) tells
/// it of every stop request; the workers look the stopped source up among their waits at
/// their next turn and run the callbacks of those waits there.
class StopRouter {
  public:
    /// `source` was stopped (any thread; `source` may be gone once this returns). Only waits
    /// of the task that owns the source are routed, so the worker that started the task
    /// (`route_hint`) is the only one that can hold them; with no hint, every worker is told.
    virtual void stop_requested(const inplace_stop_source& source) noexcept = 0;

  protected:
    ~StopRouter() = default;
};
}  // namespace detail

/// A stop source that lives in place (in a task header, an operation, a stack frame).
/// Thread-safe: any thread may request stop; callbacks run on the thread that requests it.
/// Not movable: tokens and callbacks point at it.
class CORIO_EXPORT inplace_stop_source {
  public:
    inplace_stop_source() noexcept = default;
    inplace_stop_source(const inplace_stop_source&) = delete;
    inplace_stop_source& operator=(const inplace_stop_source&) = delete;
    ~inplace_stop_source() = default;

    /// Requests stop and runs every registered callback on this thread. Returns true for the
    /// call that made the request; later calls return false and do nothing (requests are sticky).
    bool request_stop() noexcept;

    [[nodiscard]] bool stop_requested() const noexcept {
        return (state_.load(std::memory_order_acquire) & stop_requested_bit) != 0;
    }

    /// Registers `cb`; runs it inline and returns false when stop was already requested.
    bool try_add_callback(detail::StopCallbackBase* cb) noexcept;

    /// Unregisters `cb`. If it is running on another thread, waits until it returned, so its
    /// memory may be freed as soon as this returns.
    void remove_callback(detail::StopCallbackBase* cb) noexcept;

    /// Routes the cancellation of waits on this source through `r` (see detail::StopRouter).
    /// Only before the source is shared with another thread.
    void set_router(detail::StopRouter* r) noexcept { router_ = r; }
    [[nodiscard]] detail::StopRouter* router() const noexcept { return router_; }
    /// The router's hint of where waits on this source run (the worker that started the
    /// task), or nullptr. Set once, by that worker.
    void set_route_hint(void* hint) noexcept { route_hint_.store(hint, std::memory_order_release); }
    [[nodiscard]] void* route_hint() const noexcept {
        return route_hint_.load(std::memory_order_acquire);
    }

  private:
    static constexpr std::uint8_t stop_requested_bit = 1;
    static constexpr std::uint8_t locked_bit = 2;

    bool lock_unless_stopped(bool set_stop) noexcept;
    void lock() noexcept;
    void unlock(std::uint8_t keep) noexcept;

    std::atomic<std::uint8_t> state_{0};
    detail::StopCallbackBase* callbacks_ = nullptr;
    detail::StopRouter* router_ = nullptr;
    std::atomic<void*> route_hint_{nullptr};
    std::thread::id notifying_thread_;
};

/// A view of a stop source with the `std::stop_token` interface. A default-constructed token can
/// never be stopped (`stop_possible()` is false): shielded waits use one.
class stop_token {
  public:
    stop_token() noexcept = default;
    explicit stop_token(const inplace_stop_source* source) noexcept : source_(source) {}

    [[nodiscard]] bool stop_requested() const noexcept {
        return source_ != nullptr && source_->stop_requested();
    }
    [[nodiscard]] bool stop_possible() const noexcept { return source_ != nullptr; }

    friend bool operator==(const stop_token&, const stop_token&) noexcept = default;

  private:
    template <class F>
    friend class stop_callback;
    friend struct detail::StopCallbackBase;
    const inplace_stop_source* source_ = nullptr;

  public:
    /// The source this token reads (null for a token that can never be stopped).
    [[nodiscard]] inplace_stop_source* source() const noexcept {
        return const_cast<inplace_stop_source*>(source_);
    }
};

/// Runs `f` once when the token's source is stopped (at once, on this thread, if it already
/// was). The destructor unregisters it and waits if `f` is running on another thread.
template <class F>
class stop_callback : private detail::StopCallbackBase {
  public:
    template <class G>
        requires std::is_constructible_v<F, G>
    explicit stop_callback(stop_token token, G&& g) noexcept(std::is_nothrow_constructible_v<F, G>)
        : StopCallbackBase(&run), source_(token.source()), fn_(std::forward<G>(g)) {
        if (source_ != nullptr && !source_->try_add_callback(this)) source_ = nullptr;
    }
    stop_callback(const stop_callback&) = delete;
    stop_callback& operator=(const stop_callback&) = delete;
    ~stop_callback() {
        if (source_ != nullptr) source_->remove_callback(this);
    }

  private:
    static void run(StopCallbackBase* self) noexcept {
        static_cast<stop_callback*>(self)->fn_();
    }
    inplace_stop_source* source_;
    F fn_;
};

template <class F>
stop_callback(stop_token, F) -> stop_callback<F>;

}  // namespace corio
