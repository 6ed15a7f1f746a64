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

class RoutedWaits;  // a scheduler worker's index of its routed waits (in the library)
class StopRouter;   // routes a backend's stop requests to its workers (in the library)
class Worker;       // a scheduler worker

/// The storage of a wait whose cancellation the scheduler worker that runs it delivers,
/// instead of a callback registered on the stop source (no lock and no atomic
/// read-modify-write per wait): a node of that worker's index, touched only on its thread.
struct RoutedWait {
    StopCallbackBase* callback = nullptr;  // run on the worker once the source is stopped
    const inplace_stop_source* source = nullptr;
    RoutedWaits* list = nullptr;  // the worker's index that holds it; null once unlinked
    RoutedWait* next = nullptr;
    RoutedWait* prev = nullptr;
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

    // For the runtime: the cancellation of waits on this source may be routed through the
    // workers of its task's backend (set before the source is shared with another thread),
    // and the worker that started the task is where its waits run (set once, by that worker).
    void set_router(detail::StopRouter* r) noexcept { router_ = r; }
    [[nodiscard]] detail::StopRouter* router() const noexcept { return router_; }
    void set_route_hint(detail::Worker* w) noexcept {
        route_hint_.store(w, std::memory_order_release);
    }
    [[nodiscard]] detail::Worker* route_hint() const noexcept {
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
    std::atomic<detail::Worker*> route_hint_{nullptr};
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
