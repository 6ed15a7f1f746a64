// SPDX-License-Identifier: MIT
// Internal pieces of the core shared by the backends. Never installed.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include <corio/detail/runtime.hpp>

#include <atomic>
#include <cstdint>

// corio's thread-locals live in the static TLS block (initial-exec): a read is one instruction
// instead of a call to __tls_get_addr, which matters on every await and spawn.
#define CORIO_TLS [[gnu::tls_model("initial-exec")]]

namespace corio::detail {

/// The default parker of a plain thread: a one-permit semaphore that spins briefly before
/// sleeping in the kernel (waking a parked thread costs ~20 us on these machines).
class ThreadParker final : public Parker {
  public:
    void park() noexcept override;
    void unpark() noexcept override;

  private:
    std::atomic<std::uint32_t> permit_{0};
};

/// The calling thread's own parker.
ThreadParker& this_thread_parker() noexcept;

/// A spin-wait step: a CPU pause, and after a while a yield of the thread.
void spin_pause(unsigned iteration) noexcept;

}  // namespace corio::detail
