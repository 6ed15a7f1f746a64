// SPDX-License-Identifier: MIT
// What the example programs share: flags, and the backend a flag names.
#pragma once

#include <corio/corio.hpp>

#include <malloc.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace example {

/// `--name value` flags, and `--name` alone for a boolean.
class Flags {
  public:
    Flags(int argc, char** argv) : args_(argv + 1, argv + argc) {}

    [[nodiscard]] std::string get(std::string_view name, std::string fallback) const {
        for (std::size_t i = 0; i + 1 < args_.size(); ++i)
            if (args_[i] == name) return args_[i + 1];
        return fallback;
    }
    [[nodiscard]] long number(std::string_view name, long fallback) const {
        const std::string v = get(name, "");
        if (v.empty()) return fallback;
        char* end = nullptr;
        const long n = std::strtol(v.c_str(), &end, 10);
        if (*end != '\0') usage_error(std::string(name) + " wants a number, not '" + v + "'");
        return n;
    }
    [[nodiscard]] bool has(std::string_view name) const {
        for (const std::string& a : args_)
            if (a == name) return true;
        return false;
    }
    [[noreturn]] static void usage_error(const std::string& why) {
        std::fprintf(stderr, "error: %s\n", why.c_str());
        std::exit(2);
    }

  private:
    std::vector<std::string> args_;
};

/// The backend `--backend io_uring|threaded` names, with `--threads N` workers on IoUring and
/// pool threads that exit after `--thread-idle-ms` idle on Threaded.
inline std::unique_ptr<corio::Backend> make_backend(const Flags& flags) {
    const std::string name = flags.get("--backend", "io_uring");
    if (name == "threaded") {
        corio::Threaded::Options o;
        o.idle_timeout = std::chrono::milliseconds(
            flags.number("--thread-idle-ms", static_cast<long>(o.idle_timeout.count())));
        return std::make_unique<corio::Threaded>(o);
    }
    if (name != "io_uring") Flags::usage_error("--backend is io_uring or threaded, not " + name);
    corio::IoUring::Options o;
    o.threads = static_cast<unsigned>(flags.number("--threads", o.threads));
    o.turn_budget = static_cast<unsigned>(flags.number("--turn-budget", o.turn_budget));
    try {
        return std::make_unique<corio::IoUring>(o);
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "io_uring unavailable (%s): using threaded\n", e.what());
        return std::make_unique<corio::Threaded>();
    }
}

/// The signals a server blocks first thing in main (every thread started later inherits the
/// mask) and waits for with `wait_for_stop`.
inline void block_server_signals() { corio::block_signals({SIGINT, SIGTERM, SIGUSR2}); }

/// Waits for SIGINT or SIGTERM and returns it. A SIGUSR2 meanwhile gives the allocator's free
/// memory back to the system (malloc_trim), so a soak test can compare RSS between rounds.
inline int wait_for_stop(corio::Io io) {
    for (;;) {
        const int signo = io.wait_signal({SIGINT, SIGTERM, SIGUSR2}).await();
        if (signo != SIGUSR2) return signo;
        ::malloc_trim(0);
    }
}

}  // namespace example
