// SPDX-License-Identifier: MIT
// What the IoUring tests share: sanitizer detection, sizes and deadlines per build, a ring that
// skips the test when the kernel refuses io_uring, and a watchdog that turns a hang into a
// failure.
#pragma once

#include <corio/corio.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#ifndef CORIO_STRESS_DIVISOR
#define CORIO_STRESS_DIVISOR 1
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CORIO_TEST_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define CORIO_TEST_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(CORIO_TEST_ASAN)
#define CORIO_TEST_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(CORIO_TEST_TSAN)
#define CORIO_TEST_TSAN 1
#endif
#endif

namespace corio::test {

constexpr std::size_t scaled(std::size_t n) {
    return n / CORIO_STRESS_DIVISOR > 0 ? n / CORIO_STRESS_DIVISOR : 1;
}

/// Sanitizer builds are many times slower: deadlines stretch with the divisor.
constexpr std::chrono::seconds patience(std::chrono::seconds s) {
    return s * (CORIO_STRESS_DIVISOR >= 20 ? 10 : CORIO_STRESS_DIVISOR >= 2 ? 3 : 1);
}

/// A ring, or nullptr with `why` set when the kernel refuses io_uring here.
inline std::unique_ptr<corio::IoUring> make_ring(const corio::IoUring::Options& options,
                                                 std::string& why) {
    try {
        return std::make_unique<corio::IoUring>(options);
    } catch (const std::system_error& e) {
        why = e.what();
        return nullptr;
    }
}

/// Turns a hang into a failure: aborts the process with a message when it is not destroyed
/// within `limit` (a thread blocked for good cannot be unwound, so nothing gentler would end
/// the test).
class Watchdog {
  public:
    Watchdog(std::string what, std::chrono::seconds limit)
        : what_(std::move(what)), thread_([this, limit] {
              std::unique_lock lock(mutex_);
              if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
                  std::fprintf(stderr, "watchdog: %s did not finish within %lld s\n",
                               what_.c_str(), static_cast<long long>(limit.count()));
                  std::fflush(stderr);
                  std::abort();
              }
          }) {}
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;
    ~Watchdog() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::string what_;
    std::thread thread_;
};

}  // namespace corio::test
