// SPDX-License-Identifier: MIT
// libFuzzer target: schedules of Simulated over small programs of tasks, queues and cancels.
//
// The input is a Simulated seed, rates of clock faults, and a program: tasks started with
// io.async, io.concurrent, as coroutines, or in a Group, each running a script of queue
// operations (put, get, try_put, try_get, a get under with_timeout), sleeps, yields,
// cancellation checks, shielded sleeps, a thrown error, and children (awaited, selected, raced
// or grouped); then what the root does (sleeps, yields, cancels) before it reaps everything. A
// closer task closes the queue at a virtual time the input picks, which ends every queue wait: the
// programs cannot deadlock, so a deadlock report (Simulated aborts) is a finding, as is any broken
// invariant of the conformance suite:
//  - every task that starts ends exactly once, and one that never starts was cancelled;
//  - a future gives its own task's value, or the exception the task ended with;
//  - every item put is got exactly once or is still in the queue after close; an item whose
//    put failed is never got;
//  - Canceled comes only to tasks that were cancelled, and a wait that cannot complete at once
//    in a cancelled task throws it; a shielded wait never does;
//  - select returns a valid winner, the first to finish, with every future ready;
//  - a group rethrows a member's error (or records it under isolate) and nothing else;
//  - no exception escapes that the program did not throw.
#include "schedule_program.hpp"

#include <corio/corio.hpp>
#include <corio/timeout.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <optional>
#include <variant>
#include <vector>

using namespace std::chrono_literals;

namespace {

using namespace schedule_fuzz;

// ---- the model ---------------------------------------------------------------------------------

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "schedule_fuzz: %s\n", what);
    std::abort();
}

/// The error a script throws on purpose.
struct Boom {};

enum class Outcome : std::uint8_t { none, value, canceled, boom };

/// One task of the program, as the model sees it.
struct Rec {
    int id = 0;
    bool may_cancel = false;  // someone may request its cancellation
    int started = 0;
    int ended = 0;
    Outcome outcome = Outcome::none;
    std::uint64_t end_seq = 0;  // when it ended, in the order of ends
};

struct Ctx {
    corio::Queue<int>& q;
    std::deque<Rec> recs;
    std::vector<bool> put_ok;  // by item
    std::vector<int> got;      // by item: times got
    std::uint64_t seq = 1;     // ends so far, plus one

    Rec& new_rec(bool may_cancel) {
        Rec& r = recs.emplace_back();
        r.id = static_cast<int>(recs.size());
        r.may_cancel = may_cancel;
        return r;
    }
    int new_item() {
        put_ok.push_back(false);
        got.push_back(0);
        return static_cast<int>(put_ok.size() - 1);
    }
    void got_item(int id) {
        if (id < 0 || static_cast<std::size_t>(id) >= got.size()) fail("got an item never put");
        if (++got[static_cast<std::size_t>(id)] > 1) fail("got an item twice");
    }
};

/// Marks the task started, and ended (exactly once) with its outcome.
class TaskScope {
  public:
    TaskScope(Ctx& ctx, Rec& rec) : ctx_(ctx), rec_(rec) {
        if (rec.started++ != 0) fail("a task started twice");
    }
    TaskScope(const TaskScope&) = delete;
    TaskScope& operator=(const TaskScope&) = delete;
    ~TaskScope() {
        if (rec_.ended++ != 0) fail("a task ended twice");
        rec_.end_seq = ctx_.seq++;
    }

  private:
    Ctx& ctx_;
    Rec& rec_;
};

void on_canceled(corio::Io io, const Rec& rec) {
    if (!rec.may_cancel) fail("Canceled in a task that nobody cancelled");
    if (!io.stop_token().stop_requested()) fail("Canceled, and the task's stop was not requested");
}

void check_queue(const corio::Queue<int>& q) {
    if (q.size() > q.capacity()) fail("the queue holds more than its capacity");
}

/// Checks what a child's future gave against what the child did. Returns nothing: the child's
/// Canceled and Boom are its own outcome, not its parent's.
void check_future(corio::Future<int>& f, const Rec& r) {
    try {
        const int v = f.await();
        if (v != r.id) fail("a future gave another task's value");
        if (r.started != 1 || r.outcome != Outcome::value)
            fail("a future gave a value its task did not return");
    } catch (const corio::Canceled&) {
        if (!r.may_cancel) fail("a future of a task nobody cancelled threw Canceled");
        if (r.started != 0 && r.outcome != Outcome::canceled)
            fail("a future threw Canceled for a task that ended otherwise");
    } catch (const Boom&) {
        if (r.outcome != Outcome::boom) fail("a future threw an error its task did not throw");
    }
    if (!f.ready()) fail("an awaited future is not ready");
    if (r.ended != r.started) fail("an awaited task has not ended");
}

// ---- leaf operations, plain and coroutine ------------------------------------------------------

void put_done(Ctx& ctx, int id) {
    ctx.put_ok[static_cast<std::size_t>(id)] = true;
}

void closed_put(const Ctx& ctx) {
    if (!ctx.q.closed()) fail("QueueClosed from put on an open queue");
}
void closed_get(const Ctx& ctx) {
    if (!ctx.q.closed()) fail("QueueClosed from get on an open queue");
    if (ctx.q.size() != 0) fail("QueueClosed from get while items remain");
}

void try_put(Ctx& ctx) {
    const int id = ctx.new_item();
    if (ctx.q.try_put(int{id}))
        put_done(ctx, id);
    else if (!ctx.q.closed() && ctx.q.size() < ctx.q.capacity())
        fail("try_put refused with room in an open queue");
    check_queue(ctx.q);
}

void try_get(Ctx& ctx) {
    if (std::optional<int> v = ctx.q.try_get())
        ctx.got_item(*v);
    else if (ctx.q.size() != 0)
        fail("try_get found nothing in a queue with items");
}

std::chrono::milliseconds sleep_time(std::uint8_t arg) {
    return std::chrono::milliseconds(arg % 8);
}

/// A wait that cannot complete at once in a task whose cancellation was requested throws.
void after_wait(bool stopped, bool must_wait) {
    if (stopped && must_wait) fail("a wait in a cancelled task did not throw Canceled");
}

int run_plain(corio::Io io, Ctx& ctx, Rec& rec, const Script& s);
corio::Task<int> run_coro(corio::Io io, Ctx* ctx, Rec* rec, const Script* s);

/// Starts a child as its script says (never in a group).
corio::Future<int> start(corio::Io io, Ctx& ctx, Rec& r, const Script& s) {
    switch (s.kind) {
        case Kind::concurrent:
            return io.concurrent([io, &ctx, &r, &s] { return run_plain(io, ctx, r, s); });
        case Kind::coroutine:
            return io.async(run_coro, io, &ctx, &r, &s);
        default:
            return io.async([io, &ctx, &r, &s] { return run_plain(io, ctx, r, s); });
    }
}

void leaf_plain(corio::Io io, Ctx& ctx, Rec& rec, const Op& op) {
    corio::Queue<int>& q = ctx.q;
    const bool stopped = io.cancel_requested();
    try {
        switch (op.code) {
            case Code::put: {
                const int id = ctx.new_item();
                try {
                    q.put(io, int{id}).await();
                    put_done(ctx, id);
                } catch (const corio::QueueClosed&) {
                    closed_put(ctx);
                }
                break;
            }
            case Code::get:
                try {
                    ctx.got_item(q.get(io).await());
                } catch (const corio::QueueClosed&) {
                    closed_get(ctx);
                }
                break;
            case Code::try_put:
                try_put(ctx);
                break;
            case Code::try_get:
                try_get(ctx);
                break;
            case Code::timed_get: {
                const auto t0 = io.now();
                try {
                    ctx.got_item(corio::with_timeout(io, sleep_time(op.arg), q.get(io)).await());
                } catch (const corio::QueueClosed&) {
                    closed_get(ctx);
                } catch (const corio::Timeout&) {
                    if (io.now() < t0 + sleep_time(op.arg)) fail("Timeout before the deadline");
                }
                break;
            }
            case Code::sleep: {
                const auto t0 = io.now();
                io.sleep(sleep_time(op.arg)).await();
                after_wait(stopped, sleep_time(op.arg).count() > 0);
                if (io.now() < t0 + sleep_time(op.arg)) fail("a sleep ended early");
                break;
            }
            case Code::yield:
                io.yield().await();
                after_wait(stopped, true);
                break;
            case Code::check_cancel:
                io.check_cancel();
                after_wait(stopped, true);
                break;
            case Code::shielded_sleep: {
                corio::CancelShield shield(io);
                if (io.cancel_requested()) fail("cancel_requested under a shield");
                try {
                    io.sleep(1ms + sleep_time(op.arg)).await();
                } catch (const corio::Canceled&) {
                    fail("a shielded sleep threw Canceled");
                }
                break;
            }
            case Code::fail:
                throw Boom{};
            default:
                fail("not a leaf operation");
        }
    } catch (const corio::Canceled&) {
        on_canceled(io, rec);
        throw;
    }
    check_queue(q);
}

corio::Task<void> leaf_coro(corio::Io io, Ctx* ctx, Rec* rec, const Op* op) {
    corio::Queue<int>& q = ctx->q;
    const bool stopped = io.cancel_requested();
    bool canceled = false;
    try {
        switch (op->code) {
            case Code::put: {
                const int id = ctx->new_item();
                try {
                    co_await q.put(io, int{id});
                    put_done(*ctx, id);
                } catch (const corio::QueueClosed&) {
                    closed_put(*ctx);
                }
                break;
            }
            case Code::get:
                try {
                    ctx->got_item(co_await q.get(io));
                } catch (const corio::QueueClosed&) {
                    closed_get(*ctx);
                }
                break;
            case Code::try_put:
                try_put(*ctx);
                break;
            case Code::try_get:
                try_get(*ctx);
                break;
            case Code::timed_get: {
                const auto t0 = io.now();
                try {
                    ctx->got_item(co_await corio::with_timeout(io, sleep_time(op->arg), q.get(io)));
                } catch (const corio::QueueClosed&) {
                    closed_get(*ctx);
                } catch (const corio::Timeout&) {
                    if (io.now() < t0 + sleep_time(op->arg)) fail("Timeout before the deadline");
                }
                break;
            }
            case Code::sleep: {
                const auto t0 = io.now();
                co_await io.sleep(sleep_time(op->arg));
                after_wait(stopped, sleep_time(op->arg).count() > 0);
                if (io.now() < t0 + sleep_time(op->arg)) fail("a sleep ended early");
                break;
            }
            case Code::yield:
                co_await io.yield();
                after_wait(stopped, true);
                break;
            case Code::check_cancel:
                io.check_cancel();
                after_wait(stopped, true);
                break;
            case Code::shielded_sleep: {
                corio::CancelShield shield(io);
                if (io.cancel_requested()) fail("cancel_requested under a shield");
                bool shield_canceled = false;
                try {
                    co_await io.sleep(1ms + sleep_time(op->arg));
                } catch (const corio::Canceled&) {
                    shield_canceled = true;
                }
                if (shield_canceled) fail("a shielded sleep threw Canceled");
                break;
            }
            case Code::fail:
                throw Boom{};
            case Code::spawn: {  // a coroutine's child: awaited with co_await
                const Script& kid = op->kids.front();
                Rec& r = ctx->new_rec(rec->may_cancel || (op->arg & 1) != 0);
                corio::Future<int> f = start(io, *ctx, r, kid);
                if ((op->arg & 1) != 0) f.request_cancel();
                try {
                    if (co_await f != r.id) fail("a future gave another task's value");
                } catch (const corio::Canceled&) {
                    if (!r.may_cancel) fail("a future of a task nobody cancelled threw Canceled");
                } catch (const Boom&) {
                    if (r.outcome != Outcome::boom)
                        fail("a future threw an error its task did not throw");
                }
                if (r.ended != r.started) fail("an awaited task has not ended");
                break;
            }
            default:
                fail("not an operation of a coroutine");
        }
    } catch (const corio::Canceled&) {
        on_canceled(io, *rec);
        canceled = true;
    }
    if (canceled) throw corio::Canceled();
    check_queue(q);
}

// ---- compound operations (plain tasks) ---------------------------------------------------------

template <std::size_t N>
void select_op(corio::Io io, Ctx& ctx, const Op& op, std::vector<corio::Future<int>>& fs,
               std::vector<Rec*>& rs) {
    const std::uint64_t before = ctx.seq;
    std::size_t w = 0;
    try {
        if constexpr (N == 2)
            w = corio::select(io, fs[0], fs[1]).await();
        else
            w = corio::select(io, fs[0], fs[1], fs[2]).await();
    } catch (...) {
        fail("select threw");
    }
    if (w >= N) fail("select returned no valid index");
    for (std::size_t i = 0; i < N; ++i)
        if (!fs[i].ready()) fail("select returned before every task was done");
    // The winner: the lowest index of those done before select began, else the first to end.
    std::size_t first_done = N;
    for (std::size_t i = 0; i < N; ++i)
        if (rs[i]->ended != 0 && rs[i]->end_seq < before) {
            first_done = i;
            break;
        }
    if (first_done == N) {
        // A task that never started ended nowhere: it cannot have won.
        for (std::size_t i = 0; i < N; ++i)
            if (rs[i]->started != 0 &&
                (first_done == N || rs[i]->end_seq < rs[first_done]->end_seq))
                first_done = i;
    }
    if (first_done != N && rs[w]->started != 0 && w != first_done)
        fail("select's winner is not the first task to finish");
    (void)op;
    for (std::size_t i = 0; i < N; ++i) check_future(fs[i], *rs[i]);
}

void compound_plain(corio::Io io, Ctx& ctx, Rec& rec, const Op& op) {
    switch (op.code) {
        case Code::spawn: {
            const bool cancel = (op.arg & 1) != 0;
            Rec& r = ctx.new_rec(rec.may_cancel || cancel);
            corio::Future<int> f = start(io, ctx, r, op.kids.front());
            if (cancel) f.request_cancel();
            check_future(f, r);
            break;
        }
        case Code::select: {
            std::vector<Rec*> rs;
            std::vector<corio::Future<int>> fs;
            for (std::size_t i = 0; i < op.kids.size(); ++i) {
                rs.push_back(&ctx.new_rec(true));
                fs.push_back(start(io, ctx, *rs.back(), op.kids[i]));
            }
            if (op.kids.size() == 2)
                select_op<2>(io, ctx, op, fs, rs);
            else
                select_op<3>(io, ctx, op, fs, rs);
            break;
        }
        case Code::race: {
            Rec& a = ctx.new_rec(true);
            Rec& b = ctx.new_rec(true);
            const Script& sa = op.kids[0];
            const Script& sb = op.kids[1];
            try {
                auto v = corio::race(
                             io, [io, &ctx, &a, &sa] { return run_plain(io, ctx, a, sa); },
                             [io, &ctx, &b, &sb] { return run_plain(io, ctx, b, sb); })
                             .await();
                if (v.index() > 1) fail("race returned no valid alternative");
                const Rec& w = v.index() == 0 ? a : b;
                if (std::visit([](int x) { return x; }, v) != w.id)
                    fail("race gave another task's value");
                if (w.outcome != Outcome::value)
                    fail("race gave a value its winner did not return");
            } catch (const corio::Canceled&) {
                // Only a cancelled caller's cancellation, forwarded, can end the winner so.
                if (!rec.may_cancel) fail("race threw Canceled in a task nobody cancelled");
                if (a.outcome != Outcome::canceled && b.outcome != Outcome::canceled)
                    fail("race threw Canceled, and neither task ended so");
            } catch (const Boom&) {
                if (a.outcome != Outcome::boom && b.outcome != Outcome::boom)
                    fail("race threw an error neither task threw");
            }
            if (a.ended != a.started || b.ended != b.started)
                fail("race returned before its tasks ended");
            break;
        }
        case Code::group: {
            const bool isolate = (op.arg & 1) != 0;
            const bool cancel = (op.arg & 2) != 0;
            bool any_fails = false;
            for (const Script& kid : op.kids) any_fails = any_fails || kid.fails();
            const bool may_cancel = rec.may_cancel || cancel || (!isolate && any_fails);
            std::vector<Rec*> rs;
            int booms = 0;
            bool threw = false;
            {
                corio::Group g{io, isolate ? corio::Group::isolate : corio::Group::cancel_siblings};
                for (const Script& kid : op.kids) {
                    Rec& r = ctx.new_rec(may_cancel);
                    rs.push_back(&r);
                    auto body = [io, &ctx, &r, &kid] { return run_plain(io, ctx, r, kid); };
                    if (kid.kind == Kind::concurrent)
                        g.concurrent(body);
                    else
                        g.async(body);
                }
                if (cancel) g.request_cancel();
                try {
                    g.wait();
                } catch (const Boom&) {
                    threw = true;
                } catch (...) {
                    fail("a group's wait threw what no member threw");
                }
                if (g.size() != 0) fail("a group's wait returned with members left");
                for (const Rec* r : rs) booms += r->outcome == Outcome::boom ? 1 : 0;
                if (isolate) {
                    if (threw) fail("an isolating group's wait threw");
                    if (g.take_errors().size() != static_cast<std::size_t>(booms))
                        fail("an isolating group recorded another number of errors");
                } else if (threw != (booms > 0)) {
                    fail("a group's wait did not rethrow exactly when a member threw");
                }
            }
            for (const Rec* r : rs) {
                if (r->ended != r->started) fail("a group member has not ended");
                if (r->started == 0 && !r->may_cancel) fail("a group member never started");
            }
            break;
        }
        default:
            leaf_plain(io, ctx, rec, op);
    }
}

// ---- tasks -------------------------------------------------------------------------------------

int run_plain(corio::Io io, Ctx& ctx, Rec& rec, const Script& s) {
    TaskScope scope(ctx, rec);
    try {
        for (const Op& op : s.ops) {
            try {
                if (op.kids.empty())
                    leaf_plain(io, ctx, rec, op);
                else
                    compound_plain(io, ctx, rec, op);
            } catch (const corio::Canceled&) {
                if (!s.swallow) throw;
            }
        }
    } catch (const corio::Canceled&) {
        rec.outcome = Outcome::canceled;
        throw;
    } catch (const Boom&) {
        rec.outcome = Outcome::boom;
        throw;
    }
    rec.outcome = Outcome::value;
    return rec.id;
}

corio::Task<int> run_coro(corio::Io io, Ctx* ctx, Rec* rec, const Script* s) {
    TaskScope scope(*ctx, *rec);
    Outcome out = Outcome::value;
    for (const Op& op : s->ops) {
        try {
            co_await leaf_coro(io, ctx, rec, &op);
        } catch (const corio::Canceled&) {
            if (!s->swallow) {
                out = Outcome::canceled;
                break;
            }
        } catch (const Boom&) {
            out = Outcome::boom;
            break;
        }
    }
    rec->outcome = out;
    if (out == Outcome::canceled) throw corio::Canceled();
    if (out == Outcome::boom) throw Boom{};
    co_return rec->id;
}

// ---- the root ----------------------------------------------------------------------------------

void run(const Program& p) {
    corio::Simulated::Options options;
    options.seed = p.seed;
    options.inline_async = p.inline_async;
    options.faults = p.faults;
    corio::Simulated sim(options);
    corio::Io io = sim.io();
    corio::Queue<int> q(p.capacity);
    Ctx ctx{q, {}, {}, {}, 1};

    // Who may be cancelled: by a root cancel, or by its group (a cancel, or a sibling's error).
    bool group_fails = false;
    for (const Script& s : p.tasks)
        if ((s.kind == Kind::group_async || s.kind == Kind::group_concurrent) && s.fails())
            group_fails = true;
    // (A root cancel of a member cancels its group: members have no futures.)
    bool group_cancel = false;
    std::vector<bool> cancelled(p.tasks.size(), false);
    for (const RootOp& op : p.root) {
        const Script& target = p.tasks[op.arg % p.tasks.size()];
        const bool member =
            target.kind == Kind::group_async || target.kind == Kind::group_concurrent;
        if (op.code == RootCode::cancel || op.code == RootCode::cancel_and_wait) {
            cancelled[op.arg % p.tasks.size()] = true;
            group_cancel = group_cancel || member;
        }
        if (op.code == RootCode::cancel_group) group_cancel = true;
    }

    // The closer ends every queue wait, whatever the tasks do.
    corio::Future<void> closer = io.concurrent([io, &q, after = p.close_after_ms] {
        corio::CancelShield shield(io);
        io.sleep(std::chrono::milliseconds(after)).await();
        q.close();
    });
    {
        corio::Group g{io, p.isolate ? corio::Group::isolate : corio::Group::cancel_siblings};
        std::vector<Rec*> rs;
        std::vector<std::optional<corio::Future<int>>> fs;
        std::vector<Rec*> members;
        for (std::size_t i = 0; i < p.tasks.size(); ++i) {
            const Script& s = p.tasks[i];
            const bool member = s.kind == Kind::group_async || s.kind == Kind::group_concurrent;
            Rec& r =
                ctx.new_rec(member ? cancelled[i] || group_cancel || (!p.isolate && group_fails)
                                   : cancelled[i]);
            rs.push_back(&r);
            fs.emplace_back();
            if (member) {
                members.push_back(&r);
                auto body = [io, &ctx, &r, &s] { return run_plain(io, ctx, r, s); };
                if (s.kind == Kind::group_concurrent)
                    g.concurrent(body);
                else
                    g.async(body);
            } else {
                fs.back().emplace(start(io, ctx, r, s));
            }
        }
        for (const RootOp& op : p.root) {
            const std::size_t i = op.arg % p.tasks.size();
            switch (op.code) {
                case RootCode::sleep:
                    io.sleep(sleep_time(op.arg)).await();
                    break;
                case RootCode::yield:
                    io.yield().await();
                    break;
                case RootCode::cancel:
                case RootCode::cancel_and_wait:
                    if (!fs[i]) {
                        g.request_cancel();  // a member: its cancel is its group's
                    } else if (op.code == RootCode::cancel) {
                        fs[i]->request_cancel();
                    } else {
                        fs[i]->request_cancel();  // as cancel(): request, then await
                        check_future(*fs[i], *rs[i]);
                    }
                    break;
                case RootCode::cancel_group:
                    g.request_cancel();
                    break;
                case RootCode::try_put:
                    try_put(ctx);
                    break;
                case RootCode::try_get:
                    try_get(ctx);
                    break;
            }
        }
        closer.await();
        if (!q.closed()) fail("the closer did not close the queue");
        for (std::size_t i = 0; i < p.tasks.size(); ++i)
            if (fs[i]) check_future(*fs[i], *rs[i]);
        bool threw = false;
        try {
            g.wait();
        } catch (const Boom&) {
            threw = true;
        }
        int booms = 0;
        for (const Rec* r : members) booms += r->outcome == Outcome::boom ? 1 : 0;
        if (p.isolate) {
            if (threw || g.take_errors().size() != static_cast<std::size_t>(booms))
                fail("the root group's errors do not match its members'");
        } else if (threw != (booms > 0)) {
            fail("the root group's wait did not rethrow exactly when a member threw");
        }
    }

    // Every item put is got once, or is still in the queue.
    while (std::optional<int> v = q.try_get()) {
        if (*v < 0 || static_cast<std::size_t>(*v) >= ctx.got.size())
            fail("an item never put is in the queue");
        if (!ctx.put_ok[static_cast<std::size_t>(*v)])
            fail("an item whose put failed is in the queue");
        ctx.got_item(*v);
    }
    for (std::size_t i = 0; i < ctx.got.size(); ++i) {
        if (ctx.put_ok[i] && ctx.got[i] != 1) fail("an item put was lost");
        if (!ctx.put_ok[i] && ctx.got[i] != 0) fail("an item whose put failed was got");
    }
    if (tracing()) {
        static constexpr const char* outcomes[] = {"none", "value", "Canceled", "Boom"};
        for (const Rec& r : ctx.recs)
            std::fprintf(stderr, "  task %d: started %d, ended %d (%s)%s\n", r.id, r.started,
                         r.ended, outcomes[static_cast<int>(r.outcome)],
                         r.may_cancel ? ", may be cancelled" : "");
        std::size_t put = 0;
        for (const bool ok : ctx.put_ok) put += ok ? 1 : 0;
        std::fprintf(stderr, "  items: %zu tried, %zu put; %llu steps\n", ctx.put_ok.size(), put,
                     static_cast<unsigned long long>(sim.steps()));
    }
    for (const Rec& r : ctx.recs) {
        if (r.started > 1 || r.ended != r.started) fail("a task did not end exactly once");
        if (r.started == 0 && !r.may_cancel) fail("a task nobody cancelled never started");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const Program p = decode(data, size);
    if (tracing()) print_program(p);
    try {
        run(p);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "schedule_fuzz: an exception escaped: %s\n", e.what());
        std::abort();
    } catch (...) {
        fail("an exception escaped");
    }
    return 0;
}
