// SPDX-License-Identifier: MIT
// The library's side of fault injection (include/corio/fault.hpp): `fault_at(site)` at each
// injection site. Built without `-Dfault_injection`, it is a constant 0 and costs nothing.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include <corio/fault.hpp>

namespace corio::detail {

#if CORIO_FAULT_INJECTION
/// Counts an event at `site`; the errno to fail it with, or 0 to let it pass.
int fault_at(fault::Site site) noexcept;
#else
constexpr int fault_at(fault::Site) noexcept { return 0; }
#endif

}  // namespace corio::detail
