// SPDX-License-Identifier: MIT
// Task states: the one allocation of a task, holding its header, callable, arguments and result.
#pragma once

#include <corio/backend.hpp>
#include <corio/detail/result.hpp>
#include <corio/detail/task_header.hpp>
#include <corio/task.hpp>

#include <functional>
#include <new>
#include <optional>
#include <stop_token>
#include <tuple>
#include <utility>

namespace corio::detail {

template <class R>
struct ResultTask : TaskHeader {
    Result<R> result;

    static const std::exception_ptr* exception_of(TaskHeader* h) noexcept {
        return static_cast<ResultTask*>(h)->result.exception();
    }
};

/// A task whose body is a plain function, run on a thread (later a fiber).
template <class R, class F, class... A>
struct PlainTask : ResultTask<R> {
    template <class G, class... B>
    explicit PlainTask(G&& g, B&&... b) : fn(std::forward<G>(g)), args(std::forward<B>(b)...) {}

    F fn;
    std::tuple<A...> args;

    static void run(TaskHeader* h) noexcept {
        auto* self = static_cast<PlainTask*>(h);
        self->result.capture([self]() -> decltype(auto) {
            return std::apply(std::move(self->fn), std::move(self->args));
        });
        finish_task(h);
    }
    static void destroy(TaskHeader* h) noexcept {
        auto* self = static_cast<PlainTask*>(h);
        unregister_task(*self);
        self->~PlainTask();
        free_task_state(self, sizeof(PlainTask));
    }
    static constexpr TaskVTable task_vtable{&run, &destroy, &ResultTask<R>::exception_of};

    void* operator new(std::size_t n) { return allocate_task_state(n); }
    void operator delete(void* p, std::size_t n) noexcept { free_task_state(p, n); }
};

/// A task whose body is a Task<R> coroutine: no stack of its own, driven by an executor.
/// The callable and arguments are kept so a coroutine that takes references stays valid.
template <class R, class F, class... A>
struct CoroutineTask : ResultTask<R> {
    template <class G, class... B>
    explicit CoroutineTask(G&& g, B&&... b)
        : fn(std::forward<G>(g)), args(std::forward<B>(b)...),
          body(start()) {
        this->coroutine = true;
    }

    /// Calls the coroutine function with the kept arguments: as rvalues when it takes them so
    /// (a parameter by value is moved into the frame, so move-only arguments work; one by
    /// const reference still binds the kept object), else as lvalues.
    Task<R> start() {
        if constexpr (std::is_invocable_v<F&, A&&...>)
            return std::apply(fn, std::move(args));
        else
            return std::apply(fn, args);
    }

    F fn;
    std::tuple<A...> args;
    Task<R> body;

    static void on_done(void* ctx) noexcept {
        auto* self = static_cast<CoroutineTask*>(ctx);
        self->result = std::move(self->body.handle().promise().result());
        finish_task(self);
    }
    static void run(TaskHeader* h) noexcept {
        auto* self = static_cast<CoroutineTask*>(h);
        auto handle = self->body.handle();
        handle.promise().set_root(RootHook{&on_done, self});
        handle.resume();
    }
    static void destroy(TaskHeader* h) noexcept {
        auto* self = static_cast<CoroutineTask*>(h);
        unregister_task(*self);
        self->~CoroutineTask();
        free_task_state(self, sizeof(CoroutineTask));
    }
    static constexpr TaskVTable task_vtable{&run, &destroy, &ResultTask<R>::exception_of};

    void* operator new(std::size_t n) { return allocate_task_state(n); }
    void operator delete(void* p, std::size_t n) noexcept { free_task_state(p, n); }
};

/// Links an external std::stop_token to a task's own stop source (io.async_with).
struct StopForward {
    inplace_stop_source* target;
    void operator()() const noexcept { target->request_stop(); }
};

template <class Base>
struct Linked final : Base {
    template <class... B>
    explicit Linked(std::stop_token token, B&&... b) : Base(std::forward<B>(b)...) {
        link.emplace(std::move(token), StopForward{&this->stop});
    }
    std::optional<std::stop_callback<StopForward>> link;

    static void destroy(TaskHeader* h) noexcept {
        auto* self = static_cast<Linked*>(h);
        unregister_task(*self);
        self->~Linked();
        free_task_state(self, sizeof(Linked));
    }
    static constexpr TaskVTable task_vtable{&Base::run, &destroy, Base::task_vtable.exception};

    void* operator new(std::size_t n) { return allocate_task_state(n); }
    void operator delete(void* p, std::size_t n) noexcept { free_task_state(p, n); }
};

template <class F, class... A>
using invoke_result = std::invoke_result_t<std::decay_t<F>&&, std::decay_t<A>&&...>;

/// The state type for `f(args...)`: a coroutine task when f returns Task<R>.
template <class F, class... A>
struct StateFor {
    using Ret = invoke_result<F, A...>;
    static constexpr bool is_coroutine = IsTask<Ret>::value;
    using type = std::conditional_t<
        is_coroutine,
        CoroutineTask<typename IsTask<std::conditional_t<is_coroutine, Ret, Task<void>>>::value_type,
                      std::decay_t<F>, std::decay_t<A>...>,
        PlainTask<std::remove_cvref_t<Ret>, std::decay_t<F>, std::decay_t<A>...>>;
    using value_type = std::conditional_t<
        is_coroutine, typename IsTask<std::conditional_t<is_coroutine, Ret, Task<void>>>::value_type,
        std::remove_cvref_t<Ret>>;
};

/// Builds and registers a task state (not yet started).
template <class State, class... B>
State* make_state(Backend& backend, B&&... b) {
    auto* s = new State(std::forward<B>(b)...);
    s->vtable = &State::task_vtable;
    s->backend = &backend;
    register_task(backend, *s);
    return s;
}

}  // namespace corio::detail
