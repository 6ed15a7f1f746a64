// SPDX-License-Identifier: MIT
// IORING_OP_NOP as an awaitable: the smallest ring operation, for tests and benchmarks of the
// submission and completion path.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "backend/io_uring/uring_operation.hpp"

#include <corio/io.hpp>

namespace corio::detail {

class NopOperation final : public UringOperation<NopOperation> {
  public:
    /// `io` must be an IoUring's.
    explicit NopOperation(Io io) noexcept : UringOperation(io.backend()) {}

    void prepare(io_uring_sqe* sqe) noexcept { io_uring_prep_nop(sqe); }
    [[nodiscard]] WaitInfo wait_info() const noexcept { return {WaitKind::io, -1, {}}; }
    /// The CQE's result (0); throws Canceled when it was cancelled before it completed.
    int take_result() {
        throw_if_canceled();
        return result();
    }
};

}  // namespace corio::detail
