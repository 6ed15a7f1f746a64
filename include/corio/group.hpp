// SPDX-License-Identifier: MIT
// Group: a set of tasks waited for, and cancelled, together.
#pragma once

#include <corio/detail/operation.hpp>
#include <corio/detail/task_state.hpp>
#include <corio/error.hpp>
#include <corio/io.hpp>

#include <cstddef>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

namespace corio {

namespace detail {

/// The shared part of a group: outlives the Group object when it is dropped inside a coroutine
/// and its members are still running.
struct GroupCore {
    Backend* backend = nullptr;
    bool isolate = false;
    std::mutex mutex;
    TaskHeader* members = nullptr;
    std::size_t count = 0;
    bool canceled = false;
    bool detached = false;
    std::exception_ptr first_error;
    std::vector<std::exception_ptr> errors;
    std::size_t dropped_errors = 0;  // not recorded for lack of memory
    Listener* waiter = nullptr;
};

/// Adds a built member: links it, cancels it if the group is cancelled.
CORIO_EXPORT void group_link(GroupCore& core, TaskHeader& t) noexcept;
/// Removes a member that could not be started and destroys it.
CORIO_EXPORT void group_unlink_unstarted(GroupCore& core, TaskHeader& t) noexcept;
CORIO_EXPORT void group_request_cancel(GroupCore& core) noexcept;

/// Waits until a group has no members, forwarding the waiter's cancellation to every member
/// (the wait goes on: an implicit shield). Resumes the waiter on its own executor.
class CORIO_EXPORT GroupWaitOperation : public Operation<GroupWaitOperation> {
  public:
    static constexpr bool forwards_cancel = true;
    explicit GroupWaitOperation(GroupCore& core) noexcept : core_(&core) {}

    bool try_now() noexcept;
    void arm() noexcept;
    void try_cancel() noexcept { group_request_cancel(*core_); }
    [[nodiscard]] WaitInfo wait_info() const noexcept { return {WaitKind::group, -1, {}}; }
    void take_result() const;

  private:
    struct Node : Listener {
        GroupWaitOperation* op;
    };
    static void notify(Listener* l) noexcept { static_cast<Node*>(l)->op->complete(Status::ok); }

    GroupCore* core_;
    Node listener_{{&notify}, this};
    bool misuse_ = false;
};

}  // namespace detail

/// A set of tasks. `async` and `concurrent` add members (as io.async and io.concurrent do);
/// `wait()` waits for all of them. Default policy: the first member that throws (other than
/// Canceled) cancels its siblings, and `wait()` rethrows that exception once all have finished.
/// `Group g{io, Group::isolate}`: errors are recorded (`take_errors()`) and the others go on.
/// A member ending with Canceled is not an error. Members added to a cancelled group start
/// cancelled. Each member's state is freed as soon as it ends. The destructor cancels and waits
/// (inside a coroutine on a worker it cancels and leaves the members to the backend to reap).
///
/// Thread-safety: `async`, `concurrent`, `request_cancel` and `take_errors` may be called from
/// any thread; one waiter (`wait`, `cancel`, `co_await`) at a time.
class CORIO_EXPORT Group {
  public:
    enum class Policy : unsigned char { cancel_siblings, isolate };
    static constexpr Policy cancel_siblings = Policy::cancel_siblings;
    static constexpr Policy isolate = Policy::isolate;

    explicit Group(Io io, Policy policy = Policy::cancel_siblings);
    Group(const Group&) = delete;
    Group& operator=(const Group&) = delete;
    ~Group();

    /// Adds a member as `io.async` starts a task (may run it inline, to its end, before
    /// returning).
    template <class F, class... A>
    void async(F&& f, A&&... args) {
        spawn(SpawnKind::async, std::forward<F>(f), std::forward<A>(args)...);
    }
    /// Adds a member that runs concurrently; throws ConcurrencyUnavailable as io.concurrent does.
    template <class F, class... A>
    void concurrent(F&& f, A&&... args) {
        spawn(SpawnKind::concurrent, std::forward<F>(f), std::forward<A>(args)...);
    }

    /// Waits for every member; rethrows the first error (default policy). Plain code only: a
    /// coroutine writes `co_await group`.
    void wait();
    /// Requests cancellation of every member, then waits as `wait()` does. Plain code only: a
    /// coroutine writes `co_await corio::cancel(group)`.
    void cancel();
    /// Requests cancellation of every member (and of members added later) without waiting.
    void request_cancel() noexcept;
    /// The errors recorded under `Group::isolate`, oldest first; clears them.
    std::vector<std::exception_ptr> take_errors();
    /// Errors under `Group::isolate` that could not be recorded for lack of memory.
    [[nodiscard]] std::size_t dropped_errors() const noexcept;
    /// Members that have not ended.
    [[nodiscard]] std::size_t size() const noexcept;

    /// `co_await group` in a Task: waits for every member, rethrows as `wait()` does.
    class [[nodiscard]] WaitOperation {
      public:
        explicit WaitOperation(Group& g) noexcept : group_(g), op_(*g.core_) {}
        bool await_ready() { return op_.await_ready(); }
        bool await_suspend(std::coroutine_handle<> h) { return op_.await_suspend(h); }
        void await_resume() {
            op_.await_resume();
            group_.rethrow_first_error();
        }

      private:
        Group& group_;
        detail::GroupWaitOperation op_;
    };
    WaitOperation operator co_await() noexcept { return WaitOperation(*this); }

  private:
    template <class F, class... A>
    void spawn(SpawnKind kind, F&& f, A&&... args) {
        using SF = detail::StateFor<F, A...>;
        using State = typename SF::type;
        Backend& backend = io_.backend();
        const bool scheduled = backend.reserve(kind);
        State* s = nullptr;
        try {
            s = detail::make_state<State>(backend, std::forward<F>(f), std::forward<A>(args)...);
        } catch (...) {
            if (scheduled) backend.release(kind);
            throw;
        }
        s->concurrent = kind == SpawnKind::concurrent;
        detail::group_link(*core_, *s);
        if (scheduled && backend.schedule(*s, kind)) return;
        if (kind == SpawnKind::concurrent) {
            detail::group_unlink_unstarted(*core_, *s);
            throw ConcurrencyUnavailable("no thread or fiber could be started");
        }
        backend.run_inline(*s);
    }
    void rethrow_first_error();
    /// wait() and cancel(): aborts, naming `what`, inside a coroutine.
    void wait_plain(const char* what);

    Io io_;
    detail::GroupCore* core_;
};

/// Cancels every member of `group` and waits for them, as `group.cancel()` does, as an
/// awaitable: `co_await corio::cancel(group)` in a coroutine, `corio::cancel(group).await()` in
/// plain code.
class [[nodiscard]] CancelGroupOperation {
  public:
    explicit CancelGroupOperation(Group& g) noexcept : group_(g), wait_(g) {}

    void await() { group_.cancel(); }
    bool await_ready() {
        group_.request_cancel();
        return wait_.await_ready();
    }
    bool await_suspend(std::coroutine_handle<> h) { return wait_.await_suspend(h); }
    void await_resume() { wait_.await_resume(); }

  private:
    Group& group_;
    Group::WaitOperation wait_;
};

inline CancelGroupOperation cancel(Group& group) noexcept { return CancelGroupOperation(group); }

}  // namespace corio
