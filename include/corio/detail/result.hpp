// SPDX-License-Identifier: MIT
// The outcome of a task: nothing yet, a value, or an exception.
#pragma once

#include <exception>
#include <functional>
#include <type_traits>
#include <utility>
#include <variant>

namespace corio::detail {

struct Void {};

template <class R>
using Stored = std::conditional_t<std::is_void_v<R>, Void, R>;

template <class R>
class Result {
  public:
    [[nodiscard]] bool empty() const noexcept { return v_.index() == 0; }
    void reset() noexcept { v_.template emplace<0>(); }
    [[nodiscard]] bool has_exception() const noexcept { return v_.index() == 2; }

    /// Invokes `f` and stores what it returned or threw.
    template <class F>
    void capture(F&& f) noexcept {
        try {
            if constexpr (std::is_void_v<R>) {
                std::invoke(std::forward<F>(f));
                v_.template emplace<1>();
            } else {
                v_.template emplace<1>(std::invoke(std::forward<F>(f)));
            }
        } catch (...) {
            v_.template emplace<2>(std::current_exception());
        }
    }

    template <class... A>
    void set_value(A&&... a) {
        v_.template emplace<1>(std::forward<A>(a)...);
    }
    void set_exception(std::exception_ptr e) noexcept { v_.template emplace<2>(std::move(e)); }

    [[nodiscard]] const std::exception_ptr* exception() const noexcept {
        return std::get_if<2>(&v_);
    }

    std::add_lvalue_reference_t<R> get() & {
        if (v_.index() == 2) std::rethrow_exception(std::get<2>(v_));
        if constexpr (!std::is_void_v<R>) return std::get<1>(v_);
    }
    R get() && {
        if (v_.index() == 2) std::rethrow_exception(std::get<2>(v_));
        if constexpr (!std::is_void_v<R>) return std::move(std::get<1>(v_));
    }

  private:
    std::variant<std::monostate, Stored<R>, std::exception_ptr> v_;
};

}  // namespace corio::detail
