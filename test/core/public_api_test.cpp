// SPDX-License-Identifier: MIT
// The umbrella header builds against the public dependency alone and pulls in no system header
// of a backend.
#include <corio/corio.hpp>

#include <gtest/gtest.h>

#ifdef LIBURING_H
#error "a public header included liburing"
#endif
#ifdef _SYS_EPOLL_H
#error "a public header included sys/epoll.h"
#endif
#ifdef BOOST_CONTEXT_DETAIL_CONFIG_H
#error "a public header included Boost.Context"
#endif
#ifdef CORIO_BUILDING_LIB
#error "public API tests must not see internal headers"
#endif

namespace {
template <class T>
concept complete = requires { sizeof(T); };
}  // namespace

// The scheduler's types are only named (pointers in the runtime's state), never defined, so
// changing them changes no public layout.
static_assert(!complete<corio::detail::RoutedWaits>);
static_assert(!complete<corio::detail::StopRouter>);
static_assert(!complete<corio::detail::Worker>);
static_assert(!complete<corio::detail::TaskRegistry>);

TEST(PublicApi, IoIsOneWordAndCopyable) {
    static_assert(sizeof(corio::Io) <= 2 * sizeof(void*));
    static_assert(std::is_trivially_copyable_v<corio::Io>);
    corio::Threaded pool;
    corio::Io a = pool.io();
    corio::Io b = a;
    EXPECT_EQ(a, b);
    EXPECT_EQ(&b.backend(), &pool);
}

TEST(PublicApi, FuturesAreMoveOnly) {
    static_assert(!std::is_copy_constructible_v<corio::Future<int>>);
    static_assert(std::is_nothrow_move_constructible_v<corio::Future<int>>);
    static_assert(!std::is_base_of_v<std::system_error, corio::Canceled>);  // not an I/O error
    static_assert(std::is_base_of_v<std::exception, corio::Canceled>);
    static_assert(std::is_base_of_v<std::system_error, corio::Timeout>);
    static_assert(std::is_base_of_v<std::system_error, corio::ConcurrencyUnavailable>);
    static_assert(std::is_base_of_v<std::system_error, corio::QueueClosed>);
}
