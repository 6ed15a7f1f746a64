// SPDX-License-Identifier: MIT
// I/O requests on IoUring: each call is an SQE on the ring of the worker that runs the waiter
// (or of a worker the submission is posted to), and the calls of a request made of several
// follow each other on that ring from its reap loop.
#include "backend/io_uring/impl.hpp"
#include "core/fault.hpp"
#include "io/io_call.hpp"

#include <corio/detail/io_request.hpp>
#include <corio/io_uring.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <array>
#include <iterator>
#include <new>
#include <type_traits>
#include <utility>

namespace corio {

namespace {

/// A request in flight on a ring (in the request's backend state).
struct RingIo final : detail::DriverRequest, detail::RingCompletion {
    RingIo(detail::IoRequest& r, detail::UringDriver* d) noexcept
        : DriverRequest(d), RingCompletion(&on_cqe), request(&r) {}

    struct SubmitNode : detail::Runnable {
        SubmitNode() noexcept : Runnable(&run_it) {}
        RingIo* io = nullptr;
        static void run_it(detail::Runnable* r) noexcept {
            static_cast<SubmitNode*>(r)->io->submit();
        }
    };

    detail::UringDriver& owner() const noexcept {
        return *static_cast<detail::UringDriver*>(driver);
    }

    detail::IoRequest* request;
    std::uint64_t user_data = 0;
    std::atomic<bool> cancel_requested{false};
    bool queued = false;  // an accept through its listener's queue, which `waiter` is in
    // Calls resubmitted in a row after an EAGAIN or EINTR completion.
    unsigned char retries = 0;
    // An injected completion result (-errno) the CQE of a NOP stands for; 0 when none.
    int injected = 0;
    SubmitNode node;
    detail::AcceptWaiter waiter;

    /// On the owner's thread: the request's next call becomes an SQE (through its opcode's
    /// hook), or the request ends cancelled when a cancel came first.
    void submit() noexcept {
        detail::IoRequest& r = *request;
        if (cancel_requested.load(std::memory_order_acquire)) {
            r.cancel_before_call();
            r.finish(r);
            return;
        }
        submit_hooks[static_cast<std::size_t>(r.opcode)](*this, r);
    }

    /// How an opcode's call becomes an SQE: the generic preparation, or the opcode's own.
    using SubmitHook = void (*)(RingIo&, detail::IoRequest&) noexcept;

    static void submit_call(RingIo& io, detail::IoRequest& r) noexcept {
        submit_sqe(io, r, nullptr);
    }

    /// recv_lend: into a buffer of the worker's provided-buffer ring; without one, into a
    /// buffer from the heap, lent the same way.
    static void submit_lent_recv(RingIo& io, detail::IoRequest& r) noexcept {
        detail::LendRing* lend = r.buf == nullptr ? io.owner().lend_ring() : nullptr;
        if (lend == nullptr && r.buf == nullptr) {
            if (r.len == 0) r.len = io.owner().lend_buffer_size();
            if (!detail::lend_from_heap(r)) {
                r.fail(ENOMEM);
                r.finish(r);
                return;
            }
        }
        submit_sqe(io, r, lend);
    }

    /// The call as an SQE: into `lend`'s buffers when given (an injected fault prepares the
    /// SQE itself).
    static void submit_sqe(RingIo& io, detail::IoRequest& r, detail::LendRing* lend) noexcept {
        io_uring_sqe* sqe = io.owner().get_sqe();
        if (!io.inject(sqe, r)) {
            if (lend != nullptr)
                prepare_lent_recv(sqe, r, *lend);
            else
                prepare(sqe, r);
        }
        io_uring_sqe_set_data64(sqe, io.user_data);
        io.owner().note_submitted();
    }

    static constexpr auto submit_hooks = [] {
        std::array<SubmitHook, std::size(detail::io_opcodes)> hooks{};
        hooks.fill(&submit_call);
        hooks[static_cast<std::size_t>(detail::IoOpcode::recv_lend)] = &submit_lent_recv;
        return hooks;
    }();

    /// A receive into a buffer the kernel picks from the ring when the bytes come (none is tied
    /// up meanwhile).
    static void prepare_lent_recv(io_uring_sqe* sqe, detail::IoRequest& r,
                                  detail::LendRing& lend) noexcept {
        const std::size_t most = r.len != 0 && r.len < lend.size() ? r.len : lend.size();
        io_uring_prep_recv(sqe, r.fd, nullptr, most, r.flags);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = detail::LendRing::group;
    }

    static void prepare(io_uring_sqe* sqe, detail::IoRequest& r) noexcept {
        using detail::IoOpcode;
        const auto offset = static_cast<__u64>(r.offset);  // -1: the file position
        const auto len = static_cast<unsigned>(r.len > 0x7ffff000 ? 0x7ffff000 : r.len);
        switch (r.opcode) {
            case IoOpcode::read: io_uring_prep_read(sqe, r.fd, r.buf, len, offset); break;
            case IoOpcode::write: io_uring_prep_write(sqe, r.fd, r.buf, len, offset); break;
            case IoOpcode::readv:
                io_uring_prep_readv(sqe, r.fd, static_cast<const iovec*>(r.buf), len, offset);
                break;
            case IoOpcode::writev:
                io_uring_prep_writev(sqe, r.fd, static_cast<const iovec*>(r.buf), len, offset);
                break;
            case IoOpcode::openat:
                io_uring_prep_openat(sqe, AT_FDCWD, r.args.open.path, r.flags | O_CLOEXEC,
                                     r.args.open.mode);
                break;
            case IoOpcode::close: io_uring_prep_close(sqe, r.fd); break;
            case IoOpcode::fsync:
                io_uring_prep_fsync(sqe, r.fd, r.flags != 0 ? IORING_FSYNC_DATASYNC : 0);
                break;
            case IoOpcode::statx:
                io_uring_prep_statx(sqe, r.fd, "", AT_EMPTY_PATH, r.args.stat.mask,
                                    static_cast<struct statx*>(r.args.stat.out));
                break;
            case IoOpcode::accept:
                io_uring_prep_accept(sqe, r.fd, r.args.accept.addr,
                                     r.args.accept.addr != nullptr ? &r.args.accept.addrlen
                                                                   : nullptr,
                                     r.flags | SOCK_CLOEXEC);
                break;
            case IoOpcode::connect:
                io_uring_prep_connect(sqe, r.fd, r.args.connect.addr, r.args.connect.addrlen);
                break;
            case IoOpcode::send:
                io_uring_prep_send(sqe, r.fd, r.buf, r.len, r.flags | MSG_NOSIGNAL);
                break;
            case IoOpcode::recv:
            case IoOpcode::recv_lend: io_uring_prep_recv(sqe, r.fd, r.buf, r.len, r.flags); break;
            case IoOpcode::sendmsg:
                io_uring_prep_sendmsg(sqe, r.fd, static_cast<const msghdr*>(r.buf),
                                      static_cast<unsigned>(r.flags | MSG_NOSIGNAL));
                break;
            case IoOpcode::recvmsg:
                io_uring_prep_recvmsg(sqe, r.fd, static_cast<msghdr*>(r.buf),
                                      static_cast<unsigned>(r.flags));
                break;
            case IoOpcode::shutdown: io_uring_prep_shutdown(sqe, r.fd, r.flags); break;
            case IoOpcode::nop: io_uring_prep_nop(sqe); break;
        }
    }

    /// With fault injection, prepares `sqe` for a fault and returns true: a failed completion
    /// is a NOP whose CQE stands for it (so no byte moves), and a short one is the call made
    /// for half the bytes.
    bool inject(io_uring_sqe* sqe, detail::IoRequest& r) noexcept {
        if (const int e = detail::fault_at(fault::Site::completion); e != 0) {
            io_uring_prep_nop(sqe);
            injected = -e;
            return true;
        }
        const detail::IoOpcodeInfo& op = detail::info(r.opcode);
        const bool transfer = op.partial && op.buffer == detail::IoBuffer::flat;
        if (transfer && r.len > 1 && r.buf != nullptr &&
            detail::fault_at(fault::Site::short_completion) != 0) {
            const std::size_t len = r.len;
            r.len = len / 2;
            prepare(sqe, r);
            r.len = len;
            return true;
        }
        return false;
    }

    /// Up to this many EAGAIN or EINTR completions in a row are calls made again; past it, the
    /// error is the request's (a descriptor that stays non-blocking and never ready).
    static constexpr unsigned char max_retries = 16;

    static void on_cqe(detail::RingCompletion* c, int res, unsigned flags) noexcept {
        auto* self = static_cast<RingIo*>(c);
        detail::IoRequest& r = *self->request;
        if (self->injected != 0) res = std::exchange(self->injected, 0);
        if ((res == -EAGAIN || res == -EINTR) && self->retries < max_retries &&
            !self->cancel_requested.load(std::memory_order_acquire)) {
            ++self->retries;
            self->submit();
            return;
        }
        self->retries = 0;
        if ((flags & IORING_CQE_F_BUFFER) != 0) {
            r.res = res;
            self->owner().lend_ring()->lend(r, flags >> IORING_CQE_BUFFER_SHIFT);
        }
        if (r.call_done(res)) {
            r.finish(r);  // the request may be gone from here on
            return;
        }
        self->submit();  // its next call, on this ring
    }
};
static_assert(sizeof(RingIo) <= sizeof(detail::IoRequest::backend_state));
static_assert(std::is_trivially_destructible_v<RingIo>);

RingIo& ring_io(detail::IoRequest& r) noexcept {
    return *std::launder(reinterpret_cast<RingIo*>(r.backend_state));
}

}  // namespace

namespace detail {

Runnable& UringDriver::prepare(IoRequest& r) noexcept {
    auto* io = new (r.backend_state) RingIo(r, this);
    // Tagged from the calling thread's count: the waiter runs on no worker of this backend
    // (one that does starts its request with start_here, tagged from the driver's count).
    io->user_data = make_user_data(io);
    io->node.io = io;
    return io->node;
}

void UringDriver::start_here(IoRequest& r) noexcept {
    auto* io = new (r.backend_state) RingIo(r, this);
    io->user_data = tag(io);
    io->submit();
}

void UringDriver::cancel(IoRequest& r) noexcept {
    // Before the submission, it sees the flag; after it, the cancel SQE follows the call's SQE
    // on the same ring (and a later call of the request sees the flag).
    RingIo& io = ring_io(r);
    io.cancel_requested.store(true, std::memory_order_release);
    request_cancel(io.user_data);
}

}  // namespace detail

bool IoUring::io_now(detail::IoRequest& /*r*/, const detail::OperationBase& /*op*/) {
    return false;
}

void IoUring::io_start(detail::IoRequest& r, const detail::ThreadState& /*ts*/) {
    // accept's hook: through its listener's queue (a multishot accept), when it keeps one.
    if (r.opcode == detail::IoOpcode::accept && r.args.accept.listener != nullptr) {
        auto* io = new (r.backend_state) RingIo(r, nullptr);
        io->waiter.request = &r;
        // The waiter stays in arm() meanwhile: the request is alive even if it completed.
        io->queued = detail::AcceptQueue::start(*this, impl_->accept_queues, impl_->scheduler,
                                                io->waiter);
        if (io->queued) return;
    }
    impl_->scheduler.io_start(r);
}

void IoUring::io_cancel(detail::IoRequest& r) noexcept {
    RingIo& io = ring_io(r);
    if (io.queued) {
        detail::AcceptQueue::cancel(impl_->accept_queues, io.waiter);
        return;
    }
    detail::Scheduler::io_cancel(r);
}

}  // namespace corio
