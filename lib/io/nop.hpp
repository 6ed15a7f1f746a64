// SPDX-License-Identifier: MIT
// IoOpcode::nop as an awaitable: a request with no call, which goes the whole way of every I/O
// request on its backend (on IoUring an IORING_OP_NOP SQE and its CQE). For the tests and
// benchmarks of that path.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include <corio/detail/io_request.hpp>
#include <corio/io.hpp>

namespace corio::detail {

class [[nodiscard]] NopOperation final : public IoOperation<NopOperation> {
  public:
    explicit NopOperation(Io io) noexcept : IoOperation(io.backend()) { opcode = IoOpcode::nop; }
    /// 0; throws Canceled when it was cancelled before it completed.
    int take_result() { return static_cast<int>(result()); }
};

}  // namespace corio::detail
