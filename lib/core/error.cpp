// SPDX-License-Identifier: MIT
// corio's exception types.
#include <corio/error.hpp>

namespace corio {

const char* Canceled::what() const noexcept { return "corio: canceled"; }

Timeout::Timeout()
    : std::system_error(std::make_error_code(std::errc::timed_out), "corio: timed out") {}

ConcurrencyUnavailable::ConcurrencyUnavailable(const std::string& why)
    : std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                        "corio: concurrency unavailable: " + why) {}

QueueClosed::QueueClosed()
    : std::system_error(std::make_error_code(std::errc::broken_pipe), "corio: queue closed") {}

UsageError::UsageError(std::errc code, const std::string& what)
    : std::system_error(std::make_error_code(code), what) {}

IoError::IoError(std::error_code code, const std::string& what, std::size_t transferred)
    : std::system_error(code, what), transferred_(transferred) {}

}  // namespace corio
