// SPDX-License-Identifier: MIT
// The Simulated backend.
//
// Carriers are threads that run plain tasks; exactly one carrier (or the driving thread) holds
// the baton at a time, handed over through per-carrier semaphores, which also order memory for
// the sanitizers. The baton holder that parks runs the scheduler: it picks a random runnable
// entry (a carrier to hand the baton to, or a coroutine to resume on its own thread), and when
// nothing is runnable it advances virtual time to the next timer.
#include "core/internal.hpp"
#include "core/local_loop.hpp"
#include "io/io_call.hpp"

#include <corio/simulated.hpp>

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <semaphore>
#include <sstream>
#include <vector>

namespace corio {

namespace {

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

  private:
    std::uint64_t state_;
};

}  // namespace

struct Simulated::Impl final : detail::Executor {
    struct Carrier final : detail::Parker {
        Impl* sim = nullptr;
        std::binary_semaphore baton{0};
        detail::TaskHeader* task = nullptr;
        pthread_t thread{};
        bool has_thread = false;
        bool stop = false;

        void park() noexcept override { sim->switch_from(this); }
        void unpark() noexcept override { sim->runnable.push_back({this, nullptr}); }
    };

    struct Entry {
        Carrier* carrier;
        detail::Runnable* runnable;
    };

    Impl(Simulated& owner, Options o) : self(owner), options(o), rng(o.seed) {}

    Simulated& self;
    Options options;
    Rng rng;
    std::uint64_t steps = 0;
    Carrier root;
    std::vector<std::unique_ptr<Carrier>> carriers;
    std::vector<Carrier*> idle;
    std::vector<Entry> runnable;
    std::vector<detail::TimerNode*> timers;  // a heap, earliest first
    std::vector<detail::IoRequest*> io_waiting;  // calls that would block, oldest first
    std::uint64_t timer_sequence = 0;
    std::chrono::steady_clock::time_point clock{std::chrono::hours(1)};
    std::chrono::system_clock::time_point system_start{std::chrono::seconds(1'790'000'000)};
    std::chrono::steady_clock::time_point clock_start{std::chrono::hours(1)};

    void post(detail::Runnable* r) noexcept override { runnable.push_back({nullptr, r}); }

    static bool later(const detail::TimerNode* a, const detail::TimerNode* b) noexcept {
        return a->deadline != b->deadline ? a->deadline > b->deadline : a->sequence > b->sequence;
    }

    [[noreturn]] void deadlock() noexcept {
        std::ostringstream msg;
        msg << "corio::Simulated: deadlock with seed " << options.seed << " after " << steps
            << " steps: every task waits and no timer is pending. Tasks:\n";
        self.dump_tasks(msg);
        std::fputs(msg.str().c_str(), stderr);
        std::fflush(stderr);
        std::abort();
    }

    /// Makes the calls of `r` that can go on without blocking: true when the request is done
    /// (its result in `r.res`), false when a call waits for its descriptor.
    bool advance_io(detail::IoRequest& r) noexcept {
        for (;;) {
            r.res = call(r);
            if (r.res == -EAGAIN) return false;
            if (r.advance()) return true;
        }
    }

    /// One call, without blocking. As the seed says (one call in four), a transfer on a stream
    /// socket is offered fewer bytes than asked, at least one, as the kernel may move: partial
    /// reads and writes are explored as interleavings are.
    std::int64_t call(detail::IoRequest& r) noexcept {
        if (!options.short_transfers || r.len < 2 || !is_stream_transfer(r) || rng.below(4) != 0)
            return detail::call_without_blocking(r);
        const std::size_t len = r.len;
        r.len = 1 + rng.below(len - 1);
        const std::int64_t res = detail::call_without_blocking(r);
        r.len = len;  // the request's own steps account for what moved
        return res;
    }

    /// A send or recv on a stream socket, or a read or write of one: a stream socket may move
    /// part of what it could. (A pipe moves what it can: a write of up to PIPE_BUF bytes is
    /// whole, and a read takes what is there. A regular file's transfer is whole too.)
    static bool is_stream_transfer(const detail::IoRequest& r) noexcept {
        using detail::IoOpcode;
        switch (r.opcode) {
            case IoOpcode::recv:
            case IoOpcode::send: return true;
            case IoOpcode::read:
            case IoOpcode::write: {
                struct stat st {};
                if (r.offset >= 0 || ::fstat(r.fd, &st) != 0) return false;
                int type = 0;
                socklen_t len = sizeof type;
                return S_ISSOCK(st.st_mode) &&
                       ::getsockopt(r.fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
                       type == SOCK_STREAM;
            }
            default: return false;
        }
    }

    /// Completes the waiting calls whose descriptors are ready; true if any was. Waits up to
    /// `timeout_ms` for one (0: only looks).
    bool poll_io(int timeout_ms) noexcept {
        if (io_waiting.empty()) return false;
        std::vector<pollfd> fds;
        fds.reserve(io_waiting.size());
        for (detail::IoRequest* r : io_waiting) fds.push_back({r->fd, detail::ready_events(*r), 0});
        if (::poll(fds.data(), fds.size(), timeout_ms) <= 0) return false;
        bool any = false;
        std::vector<detail::IoRequest*> still;
        std::vector<detail::IoRequest*> done;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            detail::IoRequest* r = io_waiting[i];
            if (fds[i].revents != 0 && advance_io(*r))
                done.push_back(r);
            else
                still.push_back(r);
        }
        io_waiting = std::move(still);
        for (detail::IoRequest* r : done) {
            any = true;
            r->finish(*r);  // makes its waiter runnable
        }
        return any;
    }

    /// Picks the next entry, advancing virtual time when nothing is runnable.
    Entry pick() noexcept {
        fire_due();
        // Descriptors that became ready: always when nothing else can run, and now and then
        // (as the seed says) otherwise, so their completions interleave with other tasks.
        if (!io_waiting.empty() && (runnable.empty() || rng.below(4) == 0)) poll_io(0);
        while (runnable.empty()) {
            if (timers.empty() && !io_waiting.empty()) {
                // Only descriptors can end the wait now: a peer outside the simulation.
                if (poll_io(10'000)) continue;
            }
            if (timers.empty()) deadlock();
            std::pop_heap(timers.begin(), timers.end(), later);
            detail::TimerNode* node = timers.back();
            timers.pop_back();
            node->heap_index = static_cast<std::size_t>(-1);
            if (node->deadline > clock) clock = node->deadline;
            node->fire(node);
        }
        ++steps;
        const std::size_t i = runnable.size() == 1 ? 0 : rng.below(runnable.size());
        Entry e = runnable[i];
        runnable[i] = runnable.back();
        runnable.pop_back();
        return e;
    }

    /// Fires the timers whose deadline the clock has reached (time moved by yields).
    void fire_due() noexcept {
        while (!timers.empty() && timers.front()->deadline <= clock) {
            std::pop_heap(timers.begin(), timers.end(), later);
            detail::TimerNode* node = timers.back();
            timers.pop_back();
            node->heap_index = static_cast<std::size_t>(-1);
            node->fire(node);
        }
    }

    static constexpr std::chrono::microseconds yield_cost{1};

    /// Runs the scheduler on the baton holder `self_carrier` until it is picked again (returns
    /// true) or, when `exiting`, until the baton went to another carrier (returns false).
    bool schedule_from(Carrier* me, bool exiting) noexcept {
        for (;;) {
            Entry e = pick();
            if (e.runnable != nullptr) {
                detail::ThreadState& ts = detail::thread_state();
                detail::ThreadState saved = ts;
                e.runnable->run(e.runnable);
                ts = saved;
                continue;
            }
            if (e.carrier == me) return true;
            e.carrier->baton.release();
            if (exiting) return false;
            me->baton.acquire();
            return true;
        }
    }

    void switch_from(Carrier* me) noexcept { schedule_from(me, false); }

    void carrier_main(Carrier* me) noexcept {
        detail::thread_state().parker = me;
        me->baton.acquire();
        while (!me->stop) {
            detail::TaskHeader* t = std::exchange(me->task, nullptr);
            detail::run_task_here(t);
            idle.push_back(me);
            if (!schedule_from(me, true)) me->baton.acquire();
        }
    }

    bool start_carrier(Carrier* c) noexcept {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, options.stack_size);
        const int rc = pthread_create(
            &c->thread, &attr,
            [](void* p) -> void* {
                auto* carrier = static_cast<Carrier*>(p);
                carrier->sim->carrier_main(carrier);
                return nullptr;
            },
            c);
        pthread_attr_destroy(&attr);
        c->has_thread = rc == 0;
        return rc == 0;
    }

    static void start_coroutine_task(detail::Runnable* r) noexcept {
        detail::run_task_here(static_cast<detail::TaskHeader*>(r));
    }
};

Simulated::Simulated() : Simulated(Options{}) {}

Simulated::Simulated(Options options) : impl_(std::make_unique<Impl>(*this, options)) {
    impl_->root.sim = impl_.get();
    detail::thread_state().parker = &impl_->root;
}

Simulated::~Simulated() {
    while (orphans() != 0) yield_plain();
    check_unreferenced();
    for (auto& c : impl_->carriers) {
        c->stop = true;
        c->baton.release();
        if (c->has_thread) pthread_join(c->thread, nullptr);
    }
    detail::thread_state().parker = &detail::this_thread_parker();
}

std::uint64_t Simulated::seed() const noexcept { return impl_->options.seed; }
std::uint64_t Simulated::steps() const noexcept { return impl_->steps; }

bool Simulated::reserve(SpawnKind kind) {
    if (kind == SpawnKind::concurrent) return true;
    if (detail::thread_state().executor != nullptr || !impl_->options.inline_async) return true;
    return (impl_->rng.next() & 1) != 0;
}

void Simulated::release(SpawnKind) noexcept {}

bool Simulated::schedule(detail::TaskHeader& t, SpawnKind) noexcept {
    t.executor = impl_.get();
    t.start_state.store(detail::TaskHeader::started, std::memory_order_relaxed);
    if (t.coroutine) {
        t.run = &Impl::start_coroutine_task;
        impl_->runnable.push_back({nullptr, &t});
        return true;
    }
    Impl::Carrier* c = nullptr;
    if (!impl_->idle.empty()) {
        c = impl_->idle.back();
        impl_->idle.pop_back();
    } else {
        auto owned = std::make_unique<Impl::Carrier>();
        owned->sim = impl_.get();
        if (!impl_->start_carrier(owned.get())) return false;
        c = owned.get();
        impl_->carriers.push_back(std::move(owned));
    }
    c->task = &t;
    impl_->runnable.push_back({c, nullptr});
    return true;
}

void Simulated::run_inline(detail::TaskHeader& t) {
    if (!t.coroutine) {
        t.executor = impl_.get();
        detail::run_task_here(&t);
        return;
    }
    const bool member = detail::begin_inline_member(t);
    schedule(t, SpawnKind::async);
    detail::FutureWaitOperation(&t).await();
    if (member) detail::group_member_finished(&t);
}

std::chrono::steady_clock::time_point Simulated::now() const noexcept { return impl_->clock; }

std::chrono::system_clock::time_point Simulated::now_system() const noexcept {
    return impl_->system_start + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                     impl_->clock - impl_->clock_start);
}

void Simulated::add_timer(detail::TimerNode& node) {
    node.sequence = impl_->timer_sequence++;
    node.heap_index = 0;
    impl_->timers.push_back(&node);
    std::push_heap(impl_->timers.begin(), impl_->timers.end(), Impl::later);
}

bool Simulated::cancel_timer(detail::TimerNode& node) noexcept {
    auto& h = impl_->timers;
    auto it = std::find(h.begin(), h.end(), &node);
    if (it == h.end()) return false;
    h.erase(it);
    std::make_heap(h.begin(), h.end(), Impl::later);
    node.heap_index = static_cast<std::size_t>(-1);
    return true;
}

bool Simulated::io_now(detail::IoRequest& r, stop_token token) {
    if (token.stop_requested()) {
        r.res = -ECANCELED;
        r.advance();
        return true;
    }
    return impl_->advance_io(r);
}

void Simulated::io_start(detail::IoRequest& r, const detail::ThreadState& /*ts*/) {
    impl_->io_waiting.push_back(&r);
}

void Simulated::io_cancel(detail::IoRequest& r) noexcept {
    auto& w = impl_->io_waiting;
    auto it = std::find(w.begin(), w.end(), &r);
    if (it == w.end()) return;  // it completed
    w.erase(it);
    r.res = -ECANCELED;
    r.advance();
    r.finish(r);
}

void Simulated::yield_coroutine(detail::Resumption& r) noexcept {
    impl_->clock += Impl::yield_cost;
    impl_->post(&r);
}

void Simulated::yield_plain() {
    impl_->clock += Impl::yield_cost;
    auto* me = static_cast<Impl::Carrier*>(detail::thread_state().parker);
    impl_->runnable.push_back({me, nullptr});
    impl_->switch_from(me);
}

}  // namespace corio
