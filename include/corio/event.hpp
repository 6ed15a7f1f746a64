// SPDX-License-Identifier: MIT
// Event: a flag tasks can wait for.
#pragma once

#include <corio/detail/operation.hpp>
#include <corio/detail/wait_list.hpp>
#include <corio/export.hpp>
#include <corio/io.hpp>

#include <atomic>
#include <mutex>

namespace corio {

class Event;

namespace detail {

/// Awaitable of Event::wait: completes inline when the event is set (ignoring a pending
/// cancellation then), else waits until `set()`; Canceled when cancelled while waiting.
class CORIO_EXPORT EventWaitOperation : public Operation<EventWaitOperation> {
  public:
    explicit EventWaitOperation(Event& e) noexcept : event_(&e) {}

    bool try_now() const noexcept;
    void arm() noexcept;
    void try_cancel() noexcept;
    [[nodiscard]] WaitInfo wait_info() const noexcept { return {WaitKind::event, -1, {}}; }
    void take_result() const { throw_if_canceled(); }

    struct Node : WaitNode {
        EventWaitOperation* op;
    };
    void fire() noexcept { complete(Status::ok); }

  private:
    Event* event_;
    Node node_{{}, this};
};

}  // namespace detail

/// A manual-reset event. Thread-safety: every member may be called from any thread; a waiter
/// resumes on its own executor (coroutines) or thread.
class CORIO_EXPORT Event {
  public:
    explicit Event(bool set = false) noexcept : set_(set) {}
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    /// Sets the event and wakes every waiter.
    void set() noexcept;
    /// Clears the event; later waits wait again.
    void reset() noexcept { set_.store(false, std::memory_order_release); }
    [[nodiscard]] bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }
    /// Waits until the event is set (an awaitable).
    [[nodiscard]] detail::EventWaitOperation wait(Io) noexcept {
        return detail::EventWaitOperation(*this);
    }

  private:
    friend class detail::EventWaitOperation;
    std::atomic<bool> set_;
    std::mutex mutex_;
    detail::WaitList waiters_;
};

}  // namespace corio
