// SPDX-License-Identifier: MIT
// The example servers' accept loop, as plain code on fibers (http_server) and as a coroutine
// (echo_server): a connection it cannot serve is closed, and the loop goes on accepting.
//
// Starting a connection's task can fail: its state is not allocated (std::bad_alloc, under an
// address-space limit), no thread or fiber is left for it (ConcurrencyUnavailable). The loop
// then closes that one connection, says so on stderr (one line a second at most), waits a
// moment (10 ms, doubling while the failures go on, up to 200 ms) and accepts the next. Accept
// errors that concern one connection or a passing shortage (descriptors, memory) are treated
// the same way; only the loop's cancellation, or a listener that cannot accept at all, ends it.
//
// A connection task had better end its own errors than leave them to the group: recording one
// allocates, and under an address-space limit that allocation can fail where nothing can throw.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <corio/corio.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <system_error>
#include <utility>

namespace example {

/// Lines on stderr, one a second at most: the lines held back in between are counted in the
/// next one. Thread-safe and lock-free; never allocates (what it says may be that memory ran out).
class RateLimitedLog {
  public:
    /// `program` starts each line.
    explicit RateLimitedLog(const char* program) noexcept : program_(program) {}

    /// "program: what: why", unless a line went out less than a second ago.
    void say(const char* what, const char* why) noexcept {
        const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
        std::int64_t last = last_ms_.load(std::memory_order_relaxed);
        if ((last != 0 && now - last < 1000) ||
            !last_ms_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
            held_back_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        const std::uint64_t held = held_back_.exchange(0, std::memory_order_relaxed);
        if (held == 0)
            std::fprintf(stderr, "%s: %s: %s\n", program_, what, why);
        else
            std::fprintf(stderr, "%s: %s: %s (and %" PRIu64 " lines held back)\n", program_, what,
                         why, held);
    }

  private:
    const char* program_;
    std::atomic<std::int64_t> last_ms_{0};  // when the last line went out (0: never)
    std::atomic<std::uint64_t> held_back_{0};
};

/// What an accept loop tells about the connections it could not serve, and how long it waits
/// after one. Used by one accept loop at a time; `refused()` may be read from any thread.
class AcceptLog {
  public:
    /// What to do after an accept.
    enum class Next : unsigned char { serve, accept_again, pause, stop, fail };

    /// `server` names the program in its lines on stderr.
    explicit AcceptLog(const char* server) noexcept : log_(server) {}

    /// What `accept` ending with `ec` calls for: serve the connection, accept again at once (the
    /// error concerned that connection alone), pause first (descriptors or memory ran short),
    /// stop (cancelled), or fail (the listener cannot accept at all: logged).
    Next after_accept(const std::error_code& ec) noexcept {
        if (!ec) return Next::serve;
        if (ec == std::errc::operation_canceled) return Next::stop;
        switch (ec.value()) {
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM:
                log_.say("accept", std::strerror(ec.value()));
                return Next::pause;
            case ECONNABORTED:
            case EPROTO:
            case EPERM:
            case EINTR:
            case EAGAIN:
            case ENETDOWN:
            case ENOPROTOOPT:
            case EHOSTDOWN:
            case ENONET:
            case EHOSTUNREACH:
            case ENETUNREACH:
                return Next::accept_again;
            default:
                log_.say("accept failed, no more connections", std::strerror(ec.value()));
                return Next::fail;
        }
    }

    /// A connection whose task could not be started: counts and logs it.
    void refused(const char* why) noexcept {
        refused_.fetch_add(1, std::memory_order_relaxed);
        log_.say("could not serve a connection, closed it", why);
    }
    /// An exception the loop met outside a connection's start (an accept or a pause that could
    /// not be had): logs it.
    void trouble(const char* why) noexcept { log_.say("the accept loop goes on after", why); }
    /// A connection task's error (the group isolates them): logs it.
    void ended(const char* why) noexcept { log_.say("a connection ended", why); }
    /// A connection started: the next pause is short again.
    void served() noexcept { pause_ = std::chrono::milliseconds(0); }

    /// How long to wait before the next accept after a failure: 10 ms, doubling up to 200 ms.
    std::chrono::milliseconds pause() noexcept {
        using namespace std::chrono_literals;
        pause_ = pause_ < 10ms ? 10ms : pause_ * 2 > 200ms ? 200ms : pause_ * 2;
        return pause_;
    }

    /// Connections closed because their task could not be started.
    [[nodiscard]] std::uint64_t refused() const noexcept {
        return refused_.load(std::memory_order_relaxed);
    }

  private:
    RateLimitedLog log_;
    std::atomic<std::uint64_t> refused_{0};
    std::chrono::milliseconds pause_{0};
};

/// Starts `serve(io, conn)` as a concurrent member of `connections`: false, with the connection
/// closed and logged, when its task could not be started. Never waits.
template <class Serve>
bool start_connection(corio::Io io, corio::Group& connections, const Serve& serve,
                      corio::TcpStream& conn, AcceptLog& log) {
    try {
        conn.set_nodelay(true);
        connections.concurrent(serve, io, std::move(conn));
    } catch (const corio::Canceled&) {
        throw;
    } catch (const std::exception& e) {
        conn =
            corio::TcpStream();  // closes it, unless the failed task had taken it (and closed it)
        log.refused(e.what());
        return false;
    }
    log.served();
    for (const std::exception_ptr& e : connections.take_errors()) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            log.ended(x.what());
        } catch (...) {
            log.ended("an exception that is no std::exception");
        }
    }
    return true;
}

/// Accepts connections on `listener` until cancelled, and runs `serve(io, std::move(conn))`
/// for each as a concurrent member of `connections` (`Group::isolate`); plain code, for a
/// fiber or a thread. Returns when cancelled (or throws Canceled, when cancelled in a pause);
/// throws std::system_error only when the listener cannot accept at all. Anything else it meets
/// (std::bad_alloc from an accept or a timer, say) is logged and followed by a pause; when not
/// even the pause's timer can be had, it goes on without one.
template <class Serve>
void accept_fibers(corio::Io io, const corio::TcpListener& listener, corio::Group& connections,
                   Serve serve, AcceptLog& log) {
    using Next = AcceptLog::Next;
    for (;;) {
        Next next = Next::pause;
        std::error_code ec;
        try {
            corio::TcpStream conn = listener.accept(io, ec).await();
            next = log.after_accept(ec);
            if (next == Next::serve && !start_connection(io, connections, serve, conn, log))
                next = Next::pause;
        } catch (const corio::Canceled&) {
            throw;
        } catch (const corio::UsageError&) {
            throw;
        } catch (const std::exception& e) {
            log.trouble(e.what());
        }
        if (next == Next::stop) return;
        if (next == Next::fail) throw std::system_error(ec, "accept");
        if (next != Next::pause) continue;
        try {
            io.sleep(log.pause()).await();
        } catch (const corio::Canceled&) {
            throw;
        } catch (const std::exception& e) {
            log.trouble(e.what());
        }
    }
}

/// The same loop as a coroutine, for a server written as coroutines.
template <class Serve>
corio::Task<void> accept_tasks(corio::Io io, const corio::TcpListener& listener,
                               corio::Group& connections, Serve serve, AcceptLog& log) {
    using Next = AcceptLog::Next;
    for (;;) {
        Next next = Next::pause;
        std::error_code ec;
        try {
            corio::TcpStream conn = co_await listener.accept(io, ec);
            next = log.after_accept(ec);
            if (next == Next::serve && !start_connection(io, connections, serve, conn, log))
                next = Next::pause;
        } catch (const corio::Canceled&) {
            throw;
        } catch (const corio::UsageError&) {
            throw;
        } catch (const std::exception& e) {
            log.trouble(e.what());
        }
        if (next == Next::stop) co_return;
        if (next == Next::fail) throw std::system_error(ec, "accept");
        if (next != Next::pause) continue;
        try {
            co_await io.sleep(log.pause());
        } catch (const corio::Canceled&) {
            throw;
        } catch (const std::exception& e) {
            log.trouble(e.what());
        }
    }
}

/// The end of a server: cancels its accept loop and then its connections, and reports on
/// stderr what the loop ended with other than its cancellation, so that shutting down never
/// throws whatever the loop met.
inline void stop_serving(const char* server, corio::Future<void>& acceptor,
                         corio::Group& connections) {
    try {
        acceptor.cancel();
    } catch (const corio::Canceled&) {
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: the accept loop had ended: %s\n", server, e.what());
    }
    connections.cancel();
}

}  // namespace example
