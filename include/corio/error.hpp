// SPDX-License-Identifier: MIT
// The exceptions every corio operation can throw.
#pragma once

#include <corio/export.hpp>

#include <cstddef>
#include <exception>
#include <string>
#include <system_error>

namespace corio {

/// Thrown by a cancellation point after the task (or the operation alone) was cancelled.
///
/// Not a `std::system_error`: cancellation is not an I/O failure, so the natural catch around
/// an operation (`catch (const std::system_error&)`) lets it through to the task's owner, which
/// asked for it. `code()` gives `std::errc::operation_canceled`, what the `std::error_code&`
/// overloads store in its place.
class CORIO_EXPORT Canceled : public std::exception {
  public:
    Canceled() noexcept = default;
    [[nodiscard]] const char* what() const noexcept override;
    [[nodiscard]] static std::error_code code() noexcept {
        return std::make_error_code(std::errc::operation_canceled);
    }
};

/// Thrown by `with_timeout` when its deadline passed first. A `std::system_error` with
/// `std::errc::timed_out`, as a system call that timed out reports it.
class CORIO_EXPORT Timeout : public std::system_error {
  public:
    Timeout();
};

/// Thrown by `io.concurrent` when the backend cannot give the function its own thread or fiber.
/// A `std::system_error` with `std::errc::resource_unavailable_try_again`.
class CORIO_EXPORT ConcurrencyUnavailable : public std::system_error {
  public:
    explicit ConcurrencyUnavailable(const std::string& why);
};

/// Thrown by `Queue::put` after `close()`, and by `Queue::get` once a closed queue is empty.
/// A `std::system_error` with `std::errc::broken_pipe`.
class CORIO_EXPORT QueueClosed : public std::system_error {
  public:
    QueueClosed();
};

/// Thrown on misuse that the type system cannot catch: awaiting a moved-from future, a second
/// concurrent waiter on one future. A `std::system_error` with `std::errc::invalid_argument` or
/// `std::errc::device_or_resource_busy`.
class CORIO_EXPORT UsageError : public std::system_error {
  public:
    UsageError(std::errc code, const std::string& what);
};

/// Thrown by an operation made of several calls (`write_all`, `read_exact`, `read_file`) that
/// failed after some of its bytes were transferred: the system error of the failing call, and
/// how many bytes had gone through before it. An end of stream in the middle of an exact read
/// is `std::errc::no_message_available` ("the stream ended first").
class CORIO_EXPORT IoError : public std::system_error {
  public:
    IoError(std::error_code code, const std::string& what, std::size_t transferred);
    /// Bytes written (or read) before the error.
    [[nodiscard]] std::size_t transferred() const noexcept { return transferred_; }

  private:
    std::size_t transferred_;
};

}  // namespace corio
