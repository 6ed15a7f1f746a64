// SPDX-License-Identifier: MIT
// The parts of I/O requests a backend that makes calls itself needs.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include <corio/detail/io_request.hpp>

namespace corio::detail {

/// One call of `r`, as it is (a non-blocking descriptor returns -EAGAIN).
std::int64_t call_once(IoRequest& r) noexcept;
/// recv_lend without a buffer ring: a buffer of `r.len` bytes (0: heap_lend_size) from the
/// heap, lent to the request. False when memory ran out.
bool lend_from_heap(IoRequest& r) noexcept;

/// The poll events that tell when a call of `r` that returned -EAGAIN can go on (0: none).
short ready_events(const IoRequest& r) noexcept;

/// One call of `r` that never blocks: the descriptor is made non-blocking for the call (and
/// restored), and a connect under way waits for writability. -EAGAIN: not ready yet; poll for
/// ready_events(r) and call again.
std::int64_t call_without_blocking(IoRequest& r) noexcept;

}  // namespace corio::detail
