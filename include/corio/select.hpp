// SPDX-License-Identifier: MIT
// select and race: wait for the first of several tasks, cancel the others, keep every result.
#pragma once

#include <corio/detail/operation.hpp>
#include <corio/future.hpp>
#include <corio/io.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace corio {

namespace detail {

/// Waits until every registered task is done; the first to finish is the winner, and its
/// notification requests cancellation of the others. Cancelling the waiter forwards to all
/// tasks and the wait goes on (an implicit shield).
class CORIO_EXPORT SelectWaitOperation : public Operation<SelectWaitOperation> {
  public:
    static constexpr bool forwards_cancel = true;
    static constexpr std::size_t none = static_cast<std::size_t>(-1);

    struct Arm : Listener {
        SelectWaitOperation* op;
        std::size_t index;
        TaskHeader* task;  // null: ready before select started
    };

    SelectWaitOperation(Arm* arms, std::size_t n) noexcept : arms_(arms), n_(n) {}

    bool try_now() noexcept;
    void arm() noexcept;
    void try_cancel() noexcept;
    [[nodiscard]] WaitInfo wait_info() const noexcept { return {WaitKind::select, -1, {}}; }
    std::size_t take_result() const;

  private:
    static void notify(Listener* l) noexcept;
    void on_done(std::size_t index) noexcept;
    void cancel_losers(std::size_t winner) noexcept;

    Arm* arms_;
    std::size_t n_;
    std::atomic<std::size_t> winner_{none};
    std::atomic<std::size_t> pending_{0};
    bool misuse_ = false;
};

}  // namespace detail

/// The awaitable `select` returns. `.await()` in plain code, `co_await` in a Task; converting it
/// to std::size_t waits too, so `std::size_t i = select(io, a, b);` reads as a plain call.
template <std::size_t N>
class [[nodiscard]] SelectOperation {
  public:
    template <class... Fs>
    explicit SelectOperation(Fs&... fs)
        : arms_{make_arm(fs)...}, op_(arms_.data(), N) {
        for (std::size_t i = 0; i < N; ++i) {
            arms_[i].op = &op_;
            arms_[i].index = i;
        }
    }
    SelectOperation(const SelectOperation&) = delete;
    SelectOperation& operator=(const SelectOperation&) = delete;

    std::size_t await() {
        if (detail::thread_state().executor != nullptr)
            detail::abort_blocking_in_coroutine("select");
        return op_.await();
    }
    operator std::size_t() && { return await(); }  // NOLINT: a plain call in disguise
    bool await_ready() { return op_.await_ready(); }
    bool await_suspend(std::coroutine_handle<> h) { return op_.await_suspend(h); }
    std::size_t await_resume() { return op_.await_resume(); }

  private:
    template <class F>
    static detail::SelectWaitOperation::Arm make_arm(F& f) {
        if (!f.valid()) detail::throw_moved_from_future();
        detail::SelectWaitOperation::Arm a{};
        a.task = f.task();
        return a;
    }

    std::array<detail::SelectWaitOperation::Arm, N> arms_;
    detail::SelectWaitOperation op_;
};

/// Waits for the first of `futures` to finish, requests cancellation of the others and waits for
/// them, and returns the winner's index. Every result stays in its future: the winner's
/// `await()` returns its value (or rethrows what it threw), a loser that finished before its
/// cancellation keeps its value, a loser cancelled in time throws Canceled. When several are
/// ready already, the lowest index wins. If the caller is cancelled while waiting, every task is
/// cancelled and select still returns the first to finish.
template <class... R>
    requires(sizeof...(R) >= 1)
SelectOperation<sizeof...(R)> select(Io, Future<R>&... futures) {
    return SelectOperation<sizeof...(R)>(futures...);
}

namespace detail {
template <class R>
using RaceAlternative = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
}

/// The awaitable `race` returns; converting it to its variant waits (a plain call).
template <class... Fut>
class [[nodiscard]] RaceOperation {
  public:
    using variant_type = std::variant<detail::RaceAlternative<typename Fut::value_type>...>;

    explicit RaceOperation(Fut&&... futures) : futures_(std::move(futures)...), select_(make_select()) {}

    variant_type await() { return result(select_.await()); }
    operator variant_type() && { return await(); }  // NOLINT: a plain call in disguise
    bool await_ready() { return select_.await_ready(); }
    bool await_suspend(std::coroutine_handle<> h) { return select_.await_suspend(h); }
    variant_type await_resume() { return result(select_.await_resume()); }

  private:
    SelectOperation<sizeof...(Fut)> make_select() {
        return std::apply([](auto&... f) { return SelectOperation<sizeof...(Fut)>(f...); },
                          futures_);
    }
    variant_type result(std::size_t winner) {
        return result_at(winner, std::make_index_sequence<sizeof...(Fut)>{});
    }
    template <std::size_t... I>
    variant_type result_at(std::size_t winner, std::index_sequence<I...>) {
        std::optional<variant_type> out;
        (void)((I == winner && (out.emplace(take<I>()), true)) || ...);
        return std::move(*out);
    }
    // The winner has finished once select returns: its result is read without a wait, which a
    // coroutine awaiting the race could not make.
    template <std::size_t I>
    variant_type take() {
        auto& f = std::get<I>(futures_);
        using R = typename std::remove_reference_t<decltype(f)>::value_type;
        if constexpr (std::is_void_v<R>) {
            std::move(f).take_ready();
            return variant_type(std::in_place_index<I>);
        } else {
            return variant_type(std::in_place_index<I>, std::move(f).take_ready());
        }
    }

    std::tuple<Fut...> futures_;
    SelectOperation<sizeof...(Fut)> select_;
};

/// Starts each callable with `io.concurrent`, waits for the first to finish, cancels and reaps
/// the others, and returns the winner's result as `std::variant<R1, ..., Rn>` (built with
/// in_place_index; std::monostate for void). Rethrows when the winner threw.
template <class... F>
    requires(sizeof...(F) >= 1)
auto race(Io io, F&&... fns) {
    return RaceOperation<decltype(io.concurrent(std::forward<F>(fns)))...>(
        io.concurrent(std::forward<F>(fns))...);
}

}  // namespace corio
