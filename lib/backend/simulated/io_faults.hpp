// SPDX-License-Identifier: MIT
// Simulated's seeded random numbers, its trace hash, and the faults it injects into I/O calls.
//
// Every decision draws from the one generator of the run, in the order the scheduler makes
// its calls, so a seed replays the faults with everything else. A rate of 0 draws nothing:
// with the faults off, a seed picks the same interleavings as it would without this code.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "io/io_call.hpp"

#include <corio/simulated.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <vector>

namespace corio::simulated {

/// splitmix64: small, fast, and the same on every platform (unlike std distributions).
class Rng {
  public:
    explicit Rng(std::uint64_t seed) noexcept : state_(seed) {}
    std::uint64_t next() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    std::size_t below(std::size_t n) noexcept { return static_cast<std::size_t>(next() % n); }
    /// True with probability `p`; draws nothing when `p` is 0 or less.
    bool chance(double p) noexcept {
        return p > 0 && static_cast<double>(next() >> 11) * 0x1.0p-53 < p;
    }

  private:
    std::uint64_t state_;
};

/// Folds `v` into the running hash `h`.
inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
    return Rng(h ^ (v * 0x9e3779b97f4a7c15ULL)).next();
}

/// The faults of I/O calls: decides, call by call, whether the call is made as asked, made with
/// a shorter length, or fails with an injected error without being made.
class IoFaults {
  public:
    IoFaults(const Simulated::Options& o, Rng& rng, Simulated::Injected& count) noexcept
        : f_(o.faults),
          short_rate_(std::max(o.faults.short_transfer, o.short_transfers ? 0.25 : 0.0)),
          rng_(rng),
          count_(count) {}

    /// One call of `r` without blocking, faults included: its result, or the -errno of an
    /// injected failure (the call was not made then). `continues` says the request's earlier
    /// calls just moved bytes: it gets no EAGAIN then, as a write into a socket with room
    /// moves whole in the kernel, so no one sees a short completion that its request's
    /// steps carry on at once.
    std::int64_t call(detail::IoRequest& r, bool continues) noexcept {
        injected_wait_ = false;
        const Dir d = direction(r.opcode);
        if (r.opcode == detail::IoOpcode::close) {
            forget(r.fd);  // (an interrupted close leaves the descriptor in doubt: never EINTR)
            return detail::call_without_blocking(r);
        }
        if (rng_.chance(f_.eintr)) {
            ++count_.eintr;
            return -EINTR;
        }
        if (d == Dir::none) return detail::call_without_blocking(r);
        const Socket s = socket_of(r);
        if (const Broken* b = broken(s); b != nullptr && (b->err == ECONNRESET || d == Dir::out))
            return -b->err;
        if (!continues && (storm_left_ > 0 || rng_.chance(f_.eagain)) && could_wait(r, d)) {
            if (storm_left_ > 0) {
                --storm_left_;
            } else {
                ++count_.eagain;
                storm_left_ = rng_.below(8);
            }
            injected_wait_ = true;
            return -EAGAIN;
        }
        if (const int err = visible(r, d, s); err != 0) return -err;
        return shortened(r, d, s);
    }

    /// Before a socket is made (bind, connect): EMFILE at the `emfile` rate, else 0.
    int new_socket() noexcept {
        if (!rng_.chance(f_.emfile)) return 0;
        ++count_.emfile;
        return EMFILE;
    }

    /// True when the last call's EAGAIN was injected: its descriptor may well be ready.
    [[nodiscard]] bool injected_wait() const noexcept { return injected_wait_; }

  private:
    /// Which way a call moves bytes: the calls that may fail with a transfer's errors.
    using Dir = detail::IoDirection;
    static Dir direction(detail::IoOpcode op) noexcept { return detail::info(op).direction; }

    /// True when the call could really fail with EAGAIN: its descriptor is open in the call's
    /// direction, so a wait for it ends. (A read of a bad descriptor fails at once.)
    static bool could_wait(const detail::IoRequest& r, Dir d) noexcept {
        const int fl = r.fd >= 0 ? ::fcntl(r.fd, F_GETFL) : -1;
        if (fl < 0) return false;
        const int mode = fl & O_ACCMODE;
        return d == Dir::accept || mode == O_RDWR || mode == (d == Dir::in ? O_RDONLY : O_WRONLY);
    }

    /// What a call's descriptor is, when a fault needs to know (fstat and getsockopt cost two
    /// system calls a call, so only then).
    struct Socket {
        bool known = false;
        bool stream = false;  // a stream socket
        dev_t dev = 0;
        ino_t ino = 0;
    };

    [[nodiscard]] bool needs_to_know() const noexcept {
        return !broken_.empty() || f_.reset > 0 || f_.epipe > 0 || short_rate_ > 0;
    }

    [[nodiscard]] Socket socket_of(const detail::IoRequest& r) const noexcept {
        Socket s;
        struct stat st {};
        if (!needs_to_know() || ::fstat(r.fd, &st) != 0) return s;
        s.known = true;
        s.dev = st.st_dev;
        s.ino = st.st_ino;
        int type = 0;
        socklen_t len = sizeof type;
        s.stream = S_ISSOCK(st.st_mode) &&
                   ::getsockopt(r.fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
                   type == SOCK_STREAM;
        return s;
    }

    /// A socket an injected fatal error broke: its later transfers fail with the same error.
    /// Known by device and inode, so a descriptor number reused by another socket is not.
    struct Broken {
        dev_t dev;
        ino_t ino;
        int err;
    };

    [[nodiscard]] const Broken* broken(const Socket& s) const noexcept {
        if (!s.known) return nullptr;
        for (const Broken& b : broken_)
            if (b.dev == s.dev && b.ino == s.ino) return &b;
        return nullptr;
    }

    void forget(int fd) noexcept {
        struct stat st {};
        if (broken_.empty() || ::fstat(fd, &st) != 0) return;
        std::erase_if(broken_,
                      [&](const Broken& b) { return b.dev == st.st_dev && b.ino == st.st_ino; });
    }

    /// The visible fault injected into this call, or 0.
    int visible(const detail::IoRequest& r, Dir d, const Socket& s) noexcept {
        using detail::IoOpcode;
        if (s.stream && d != Dir::accept) {
            if (rng_.chance(f_.reset)) return break_socket(r.fd, s, ECONNRESET, count_.reset);
            if (d == Dir::out && rng_.chance(f_.epipe))
                return break_socket(r.fd, s, EPIPE, count_.epipe);
        }
        if (rng_.chance(f_.enomem)) {
            ++count_.enomem;
            const bool buffers = d == Dir::accept || r.opcode == IoOpcode::send ||
                                 r.opcode == IoOpcode::sendmsg;
            return buffers ? ENOBUFS : ENOMEM;
        }
        if (d == Dir::accept && rng_.chance(f_.emfile)) {
            ++count_.emfile;
            return EMFILE;
        }
        return 0;
    }

    /// Fails the socket for good: shut down both ways, so its peer sees it too.
    int break_socket(int fd, const Socket& s, int err, std::uint64_t& counter) noexcept {
        ++counter;
        ::shutdown(fd, SHUT_RDWR);
        broken_.push_back({s.dev, s.ino, err});
        return err;
    }

    /// The call, offered fewer bytes (at least one) as the seed says when it is a transfer on a
    /// stream socket, as the kernel may move. (A pipe moves what it can: a write of up to
    /// PIPE_BUF bytes is whole, and a read takes what is there. A regular file's transfer is
    /// whole too.) The request's own steps account for what moved.
    std::int64_t shortened(detail::IoRequest& r, Dir d, const Socket& s) noexcept {
        const bool plain = detail::info(r.opcode).partial &&
                           detail::info(r.opcode).buffer == detail::IoBuffer::flat;
        if (d == Dir::accept || !plain || !s.stream || r.offset >= 0 || r.len < 2 ||
            !rng_.chance(short_rate_))
            return detail::call_without_blocking(r);
        ++count_.short_transfer;
        const std::size_t len = r.len;
        r.len = 1 + rng_.below(len - 1);
        const std::int64_t res = detail::call_without_blocking(r);
        r.len = len;
        return res;
    }

    Simulated::Options::Faults f_;
    double short_rate_;
    Rng& rng_;
    Simulated::Injected& count_;
    std::vector<Broken> broken_;
    std::size_t storm_left_ = 0;
    bool injected_wait_ = false;
};

}  // namespace corio::simulated
