// SPDX-License-Identifier: MIT
// Fault injection: make the runtime's own failure paths run on demand, in tests.
#pragma once

#include <corio/export.hpp>

#include <cstdint>

namespace corio::fault {

/// A place in the runtime where a failure can be injected. Each site counts the events that
/// pass it; an injection fails a chosen run of them.
enum class Site : unsigned char {
    /// The allocation of a task's state (io.async, io.concurrent, Group::async/concurrent) or
    /// of a Task coroutine's frame: fails with std::bad_alloc, whatever errno is given.
    spawn,
    /// The start of a runtime thread (an IoUring worker, a Threaded pool or timer thread):
    /// fails as pthread_create would, with the errno given (EAGAIN is typical).
    thread_start,
    /// The creation of an io_uring (io_uring_queue_init_params): fails with the errno given
    /// (ENOMEM is typical).
    ring_setup,
    /// io_uring_submit on a worker's ring: returns -errno (EBUSY, EAGAIN are typical); the
    /// entries stay queued for the next submit.
    ring_submit,
    /// A system call an I/O request makes itself (Threaded, Simulated, and the probes of
    /// IoUring): fails with the errno given before it is made.
    io_call,
    /// A completion (CQE) of an I/O request on IoUring: its result becomes -errno (EAGAIN,
    /// EINTR are retried by the request; others are the request's error).
    completion,
    /// A completion of a read or write of more than one byte on IoUring: its result is halved,
    /// as a short transfer would be. The errno given is ignored.
    short_completion,
};
inline constexpr unsigned site_count = 7;

/// True when the library was built with `-Dfault_injection=true`; otherwise `inject` throws
/// and no site ever fails.
[[nodiscard]] CORIO_EXPORT bool available() noexcept;

/// Fails events at `site`: the `after`-th event from now is the last one that passes, and the
/// `times` events after it fail with `err`. Replaces an injection at that site. Thread-safe;
/// the count is shared by every thread and backend of the process.
/// Throws UsageError (`function_not_supported`) when the library was built without it.
CORIO_EXPORT void inject(Site site, std::uint64_t after, int err, std::uint64_t times = 1);
/// Ends the injection at `site` (every site with no argument); the counts start again at 0.
CORIO_EXPORT void clear(Site site) noexcept;
CORIO_EXPORT void clear() noexcept;
/// Events counted at `site` since its last `inject` (a site counts only while an injection
/// is armed there; 0 after `clear`).
[[nodiscard]] CORIO_EXPORT std::uint64_t seen(Site site) noexcept;
/// Events at `site` failed since its last `inject` or `clear`.
[[nodiscard]] CORIO_EXPORT std::uint64_t failed(Site site) noexcept;

/// An injection for one scope: `inject` at construction, `clear(site)` at destruction.
class Injection {
  public:
    Injection(Site site, std::uint64_t after, int err, std::uint64_t times = 1) : site_(site) {
        inject(site, after, err, times);
    }
    ~Injection() { clear(site_); }
    Injection(const Injection&) = delete;
    Injection& operator=(const Injection&) = delete;

  private:
    Site site_;
};

}  // namespace corio::fault
