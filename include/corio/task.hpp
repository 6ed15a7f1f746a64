// SPDX-License-Identifier: MIT
// Task<R>: the lazy coroutine type. `co_await task` runs it as part of the awaiting task, with
// symmetric transfer; `io.async(coroutine_fn, ...)` makes it a task of its own.
#pragma once

#include <corio/detail/result.hpp>
#include <corio/export.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <type_traits>
#include <utility>

namespace corio {

template <class R = void>
class Task;

namespace detail {

// Task states and coroutine frames come from the same per-thread cache of freed blocks.
CORIO_EXPORT void* allocate_task_state(std::size_t size);
CORIO_EXPORT void free_task_state(void* p, std::size_t size) noexcept;

/// Called when a root coroutine (one driven by the runtime, not awaited by a parent) ends.
struct RootHook {
    void (*done)(void*) noexcept = nullptr;
    void* context = nullptr;
};

template <class R>
class PromiseBase {
  public:
    // The frame: from the thread's cache of small blocks (a steady stream of short coroutines
    // does not go through malloc).
    static void* operator new(std::size_t n) { return allocate_task_state(n); }
    static void operator delete(void* p, std::size_t n) noexcept { free_task_state(p, n); }

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct FinalAwaiter {
        bool await_ready() noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            PromiseBase& p = h.promise();
            if (p.continuation_) return p.continuation_;
            RootHook hook = p.root_;
            if (hook.done != nullptr) hook.done(hook.context);  // may destroy this frame
            return std::noop_coroutine();
        }
        void await_resume() noexcept {}
    };
    FinalAwaiter final_suspend() noexcept { return {}; }

    void unhandled_exception() noexcept { result_.set_exception(std::current_exception()); }

    void set_continuation(std::coroutine_handle<> c) noexcept { continuation_ = c; }
    void set_root(RootHook hook) noexcept { root_ = hook; }
    Result<R>& result() noexcept { return result_; }

  protected:
    Result<R> result_;

  private:
    std::coroutine_handle<> continuation_;
    RootHook root_;
};

template <class R>
class Promise : public PromiseBase<R> {
  public:
    Task<R> get_return_object() noexcept;
    template <class V>
        requires std::is_convertible_v<V&&, R>
    void return_value(V&& v) {
        this->result_.set_value(std::forward<V>(v));
    }
};

template <>
class Promise<void> : public PromiseBase<void> {
  public:
    Task<void> get_return_object() noexcept;
    void return_void() noexcept { this->result_.set_value(); }
};

template <class T>
struct IsTask : std::false_type {};
template <class R>
struct IsTask<Task<R>> : std::true_type {
    using value_type = R;
};

}  // namespace detail

/// A lazy coroutine returning `R`. Nothing runs until it is awaited (`co_await task`, which
/// makes it part of the awaiting task) or given to `io.async`/`io.concurrent`/a `Group`.
/// Exceptions propagate to the awaiter. Allocates nothing beyond its coroutine frame.
/// A Task owns its frame; the runtime never destroys a suspended frame while an operation it
/// awaits is in flight.
template <class R>
class [[nodiscard]] Task {
  public:
    using promise_type = detail::Promise<R>;
    using value_type = R;

    Task() noexcept = default;
    explicit Task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
    Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    Task& operator=(Task&& o) noexcept {
        if (this != &o) {
            if (h_) h_.destroy();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() {
        if (h_) h_.destroy();
    }

    [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(h_); }

    struct Awaiter {
        std::coroutine_handle<promise_type> h;
        bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> cont) noexcept {
            h.promise().set_continuation(cont);
            return h;
        }
        R await_resume() { return std::move(h.promise().result()).get(); }
    };

    /// Runs the task as part of the awaiting one; resumes the awaiter, with the task's result,
    /// on whatever thread the task finished on (the same executor).
    Awaiter operator co_await() && noexcept { return Awaiter{h_}; }
    Awaiter operator co_await() & noexcept { return Awaiter{h_}; }

    // For the runtime: drive the task as a root.
    std::coroutine_handle<promise_type> handle() const noexcept { return h_; }

  private:
    std::coroutine_handle<promise_type> h_;
};

namespace detail {
template <class R>
Task<R> Promise<R>::get_return_object() noexcept {
    return Task<R>{std::coroutine_handle<Promise<R>>::from_promise(*this)};
}
inline Task<void> Promise<void>::get_return_object() noexcept {
    return Task<void>{std::coroutine_handle<Promise<void>>::from_promise(*this)};
}
}  // namespace detail

}  // namespace corio
