// SPDX-License-Identifier: MIT
// The Simulated backend.
//
// Carriers are threads that run plain tasks; exactly one carrier (or the driving thread) holds
// the baton at a time, handed over through per-carrier semaphores, which also order memory for
// the sanitizers. The baton holder that parks runs the scheduler: it picks a random runnable
// entry (a carrier to hand the baton to, or a coroutine to resume on its own thread), and when
// nothing is runnable and no I/O call can move a byte it advances virtual time to the next timer.
// The faults of Options::faults are drawn from the same generator (io_faults.hpp).
#include "backend/simulated/io_faults.hpp"
#include "core/internal.hpp"
#include "core/local_loop.hpp"
#include "core/registry.hpp"
#include "io/io_call.hpp"

#include <corio/simulated.hpp>

#include <poll.h>
#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <semaphore>
#include <sstream>
#include <vector>

namespace corio {

using simulated::mix;
using simulated::Rng;

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

    Impl(Simulated& owner, Options o)
        : self(owner), options(o), rng(o.seed), faults(o, rng, injected) {}

    Simulated& self;
    Options options;
    Rng rng;
    Injected injected;
    simulated::IoFaults faults;
    std::uint64_t steps = 0;
    std::uint64_t trace = 0;
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
    std::chrono::system_clock::duration system_jumps{};  // the system clock's jumps, summed

    void post(detail::Runnable* r) noexcept override { runnable.push_back({nullptr, r}); }

    static bool later(const detail::TimerNode* a, const detail::TimerNode* b) noexcept {
        return a->deadline != b->deadline ? a->deadline > b->deadline : a->sequence > b->sequence;
    }

    [[noreturn]] void deadlock() noexcept {
        std::ostringstream msg;
        const Options::Faults& f = options.faults;
        const bool faulty = f.eintr > 0 || f.eagain > 0 || f.short_transfer > 0 || f.reorder > 0 ||
                            f.clock_leap > 0 || f.system_clock_jump > 0 || f.reset > 0 ||
                            f.epipe > 0 || f.enomem > 0 || f.emfile > 0;
        msg << "corio::Simulated: deadlock with seed " << options.seed
            << (faulty ? " (faults on)" : "") << " after " << steps
            << " steps: every task waits and no timer is pending. Tasks:\n";
        self.dump_tasks(msg);
        std::fputs(msg.str().c_str(), stderr);
        std::fflush(stderr);
        std::abort();
    }

    /// What advance_io did with a request.
    enum class Advance {
        done,     // its last call completed: the result is in `r.res`
        moved,    // calls completed (bytes moved) but the next one would block
        blocked,  // its next call would block and none completed
    };

    /// Makes the calls of `r` that can go on without blocking. An interrupted call is made
    /// again, as the kernel would restart it. An injected EAGAIN counts as a move: the
    /// descriptor may well be ready, so the next poll must look before time passes.
    Advance advance_io(detail::IoRequest& r) noexcept {
        bool moved = false;
        for (;;) {
            r.res = faults.call(r, moved);
            note(static_cast<std::uint64_t>(r.opcode) << 32 ^ traced_result(r));
            if (r.res == -EINTR) continue;
            if (r.res == -EAGAIN)
                return moved || faults.injected_wait() ? Advance::moved : Advance::blocked;
            if (r.call_done(r.res)) return Advance::done;
            moved = true;
        }
    }

    /// A call's result as the trace keeps it: a new descriptor only as a success (its number
    /// depends on what else the process has open).
    static std::uint64_t traced_result(const detail::IoRequest& r) noexcept {
        const bool fd =
            r.opcode == detail::IoOpcode::accept || r.opcode == detail::IoOpcode::openat;
        return static_cast<std::uint64_t>(fd && r.res >= 0 ? 0 : r.res);
    }

    void note(std::uint64_t v) noexcept { trace = mix(trace, v); }

    /// Makes the calls of the waiting requests whose descriptors are ready, and finishes the
    /// requests that are done. True when any call completed, done or not: progress, which
    /// may have made another descriptor ready. Waits up to `timeout_ms` for a descriptor to be
    /// ready (0: only looks).
    bool poll_io(int timeout_ms) noexcept {
        if (io_waiting.empty()) return false;
        std::vector<pollfd> fds;
        fds.reserve(io_waiting.size());
        for (detail::IoRequest* r : io_waiting) fds.push_back({r->fd, detail::ready_events(*r), 0});
        if (::poll(fds.data(), fds.size(), timeout_ms) <= 0) return false;
        // Oldest first, or in an order the seed shuffles.
        std::vector<std::size_t> order(fds.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        if (order.size() > 1 && rng.chance(options.faults.reorder)) {
            ++injected.reorder;
            for (std::size_t i = order.size() - 1; i > 0; --i)
                std::swap(order[i], order[rng.below(i + 1)]);
        }
        bool progress = false;
        std::vector<detail::IoRequest*> done;
        std::vector<bool> finished(fds.size());
        for (const std::size_t i : order) {
            detail::IoRequest* r = io_waiting[i];
            const Advance a = fds[i].revents != 0 ? advance_io(*r) : Advance::blocked;
            progress = progress || a != Advance::blocked;
            if (a == Advance::done) {
                done.push_back(r);
                finished[i] = true;
            }
        }
        std::vector<detail::IoRequest*> still;  // oldest first still
        for (std::size_t i = 0; i < fds.size(); ++i)
            if (!finished[i]) still.push_back(io_waiting[i]);
        io_waiting = std::move(still);
        for (detail::IoRequest* r : done) r->finish(*r);  // makes its waiter runnable
        return progress;
    }

    /// Picks the next entry. Virtual time advances only when nothing is runnable and no call
    /// can move a byte: a request whose calls move part of their bytes and would block again
    /// (a write_all into a full socket buffer that its reader drains) completes nothing yet,
    /// but it is progress, and its peer may be ready because of it.
    Entry pick() noexcept {
        clock_faults();
        fire_due();
        // Descriptors that became ready: always when nothing else can run, and now and then
        // (as the seed says) otherwise, so their completions interleave with other tasks.
        bool progress = false;
        if (!io_waiting.empty() && (runnable.empty() || rng.below(4) == 0)) progress = poll_io(0);
        while (runnable.empty()) {
            if (progress) {
                progress = poll_io(0);
                continue;
            }
            if (timers.empty() && !io_waiting.empty()) {
                // Only descriptors can end the wait now: a peer outside the simulation.
                progress = poll_io(10'000);
                if (progress) continue;
            }
            if (timers.empty()) deadlock();
            std::pop_heap(timers.begin(), timers.end(), later);
            detail::TimerNode* node = timers.back();
            timers.pop_back();
            node->heap_index = static_cast<std::size_t>(-1);
            if (node->deadline > clock) clock = node->deadline;
            note(static_cast<std::uint64_t>(clock.time_since_epoch().count()));
            node->fire(node);
        }
        ++steps;
        const std::size_t i = runnable.size() == 1 ? 0 : rng.below(runnable.size());
        note(runnable.size() << 32 ^ i);
        Entry e = runnable[i];
        runnable[i] = runnable.back();
        runnable.pop_back();
        return e;
    }

    /// The clock faults of a scheduling step: a leap of the steady clock toward (never past)
    /// the earliest deadline, and a jump of the system clock either way.
    void clock_faults() noexcept {
        using steady = std::chrono::steady_clock::duration;
        using system = std::chrono::system_clock::duration;
        const Options::Faults& f = options.faults;
        if (!timers.empty() && rng.chance(f.clock_leap)) {
            const steady most = std::min(timers.front()->deadline - clock,
                                         std::chrono::duration_cast<steady>(f.max_clock_leap));
            if (most.count() > 0) {
                ++injected.clock_leap;
                clock += steady(1 + static_cast<steady::rep>(
                                        rng.below(static_cast<std::size_t>(most.count()))));
                note(static_cast<std::uint64_t>(clock.time_since_epoch().count()));
            }
        }
        const system most = std::chrono::duration_cast<system>(f.max_system_clock_jump);
        if (most.count() > 0 && rng.chance(f.system_clock_jump)) {
            ++injected.system_clock_jump;
            const system jump(
                1 + static_cast<system::rep>(rng.below(static_cast<std::size_t>(most.count()))));
            system_jumps += (rng.next() & 1) != 0 ? jump : -jump;
        }
    }

    /// Fires the timers whose deadline the clock has reached (time moved by yields).
    void fire_due() noexcept {
        while (!timers.empty() && timers.front()->deadline <= clock) {
            std::pop_heap(timers.begin(), timers.end(), later);
            detail::TimerNode* node = timers.back();
            timers.pop_back();
            node->heap_index = static_cast<std::size_t>(-1);
            note(static_cast<std::uint64_t>(clock.time_since_epoch().count()));
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

Simulated::Options::Faults Simulated::Options::Faults::transparent(std::uint64_t vary) noexcept {
    Faults f;
    f.eintr = 0.05;
    f.eagain = 0.05;
    f.short_transfer = 0.25;
    f.reorder = 0.5;
    f.clock_leap = 0.02;
    f.system_clock_jump = 0.01;
    if (vary != 0) {
        Rng rng(vary ^ 0x5eed'fa17'0000'0000ULL);
        constexpr double factors[] = {0, 0.5, 1, 2, 4};
        for (double* rate : {&f.eintr, &f.eagain, &f.short_transfer, &f.reorder, &f.clock_leap,
                             &f.system_clock_jump})
            *rate = std::min(1.0, *rate * factors[rng.below(std::size(factors))]);
    }
    return f;
}

Simulated::Options::Faults Simulated::Options::Faults::all() noexcept {
    Faults f = transparent();
    f.reset = 0.01;
    f.epipe = 0.01;
    f.enomem = 0.03;
    f.emfile = 0.1;
    return f;
}

Simulated::Simulated() : Simulated(Options{}) {}

Simulated::Simulated(Options options) : impl_(std::make_unique<Impl>(*this, options)) {
    impl_->root.sim = impl_.get();
    detail::thread_state().parker = &impl_->root;
}

Simulated::~Simulated() {
    while (registry().orphans() != 0) yield_plain();
    registry().check_unreferenced();
    for (auto& c : impl_->carriers) {
        c->stop = true;
        c->baton.release();
        if (c->has_thread) pthread_join(c->thread, nullptr);
    }
    detail::thread_state().parker = &detail::this_thread_parker();
}

std::uint64_t Simulated::seed() const noexcept { return impl_->options.seed; }
std::uint64_t Simulated::steps() const noexcept { return impl_->steps; }
std::uint64_t Simulated::trace() const noexcept { return impl_->trace; }
Simulated::Injected Simulated::injected() const noexcept { return impl_->injected; }

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
    return impl_->system_start + impl_->system_jumps +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(impl_->clock -
                                                                            impl_->clock_start);
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

bool Simulated::io_now(detail::IoRequest& r, const detail::OperationBase& op) {
    if (op.wait_token().stop_requested()) {
        r.cancel_before_call();
        return true;
    }
    return impl_->advance_io(r) == Impl::Advance::done;
}

void Simulated::io_start(detail::IoRequest& r, const detail::ThreadState& /*ts*/) {
    impl_->io_waiting.push_back(&r);
}

int Simulated::socket_fault() noexcept { return impl_->faults.new_socket(); }

void Simulated::io_cancel(detail::IoRequest& r) noexcept {
    auto& w = impl_->io_waiting;
    auto it = std::find(w.begin(), w.end(), &r);
    if (it == w.end()) return;  // it completed
    w.erase(it);
    r.cancel_before_call();
    r.finish(r);
}

bool Simulated::try_claim(detail::TaskHeader& /*t*/) noexcept { return false; }

Backend& Simulated::blocking_backend() { return *this; }

bool Simulated::run_detached(detail::Runnable& /*job*/) noexcept { return false; }

std::string Simulated::schedule_failure() const { return "no task could be started"; }

int Simulated::interrupt_signal() const noexcept { return 0; }

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
