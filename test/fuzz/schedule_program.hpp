// SPDX-License-Identifier: MIT
// schedule_fuzz's programs: what the input bytes decode to, and how a program prints.
//
// Layout: 8 bytes of Simulated seed; a flags byte (bit 0: no inline async, bits 1-2: queue
// capacity, bit 3: the root group isolates); a byte of clock fault rates; the closer's time;
// the number of tasks; each task's script (a kind byte, an operation count, then code and
// argument bytes, each compound operation followed by its children's scripts); then the root's
// operations. A used-up input reads as zeros.
#pragma once

#include <corio/simulated.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace schedule_fuzz {

// ---- the program -------------------------------------------------------------------------------

enum class Code : std::uint8_t {
    // Leaf operations (any task).
    put,
    get,
    try_put,
    try_get,
    timed_get,
    sleep,
    yield,
    check_cancel,
    shielded_sleep,
    fail,
    // Compound operations (top-level tasks only): children, each with a leaf script.
    spawn,
    select,
    race,
    group,
};
constexpr unsigned leaf_codes = 10;
constexpr unsigned all_codes = 14;

/// How a task is started.
enum class Kind : std::uint8_t { async, concurrent, coroutine, group_async, group_concurrent };

struct Script;
struct Op {
    Code code;
    std::uint8_t arg;
    std::vector<Script> kids;  // compound operations
};
struct Script {
    Kind kind = Kind::async;
    bool swallow = false;  // goes on after Canceled instead of ending with it
    std::vector<Op> ops;
    [[nodiscard]] bool fails() const {
        for (const Op& op : ops)
            if (op.code == Code::fail) return true;
        return false;
    }
};

enum class RootCode : std::uint8_t {
    sleep,
    yield,
    cancel,
    cancel_and_wait,
    cancel_group,
    try_put,
    try_get
};
struct RootOp {
    RootCode code;
    std::uint8_t arg;
};

struct Program {
    std::uint64_t seed = 0;
    bool inline_async = true;
    bool isolate = false;  // the root group's policy
    std::size_t capacity = 1;
    unsigned close_after_ms = 0;
    corio::Simulated::Options::Faults faults{};  // the clock's (the programs do no I/O)
    std::vector<Script> tasks;
    std::vector<RootOp> root;
};

/// Reads the input byte by byte; zeros once it is used up.
class Bytes {
  public:
    Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    std::uint8_t next() { return pos_ < size_ ? data_[pos_++] : 0; }
    [[nodiscard]] bool done() const { return pos_ >= size_; }

  private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

constexpr unsigned max_tasks = 5;
constexpr unsigned max_ops = 6;
constexpr unsigned max_spawned = 12;  // children of every task together

inline Script decode_script(Bytes& in, bool top, unsigned& budget) {
    Script s;
    const std::uint8_t k = in.next();
    s.kind = static_cast<Kind>(k % (top ? 5 : 3));
    s.swallow = (k & 0x80) != 0;
    const unsigned n = in.next() % (max_ops + 1);
    for (unsigned i = 0; i < n && !in.done(); ++i) {
        Op op{static_cast<Code>(in.next() % (top ? all_codes : leaf_codes)), in.next(), {}};
        unsigned kids = 0;
        switch (op.code) {
            case Code::spawn:
                kids = 1;
                break;
            case Code::select:
                kids = 2 + op.arg % 2;
                break;
            case Code::race:
            case Code::group:
                kids = 2;
                break;
            default:
                break;
        }
        if (kids > budget) {
            op.code = Code::yield;
            kids = 0;
        }
        // A coroutine awaits one child at a time (co_await): no select, race or group.
        if (s.kind == Kind::coroutine && kids > 1) {
            op.code = Code::spawn;
            kids = 1;
        }
        budget -= kids;
        for (unsigned j = 0; j < kids; ++j) op.kids.push_back(decode_script(in, false, budget));
        s.ops.push_back(std::move(op));
    }
    return s;
}

inline Program decode(const std::uint8_t* data, std::size_t size) {
    Bytes in(data, size);
    Program p;
    for (int i = 0; i < 8; ++i) p.seed |= static_cast<std::uint64_t>(in.next()) << (8 * i);
    const std::uint8_t flags = in.next();
    p.inline_async = (flags & 1) == 0;
    p.capacity = (flags >> 1) & 3;
    p.isolate = (flags & 8) != 0;
    // Clock leaps let timers fire while tasks are still runnable; system clock jumps must not
    // matter at all.
    static constexpr double rates[] = {0, 0.05, 0.3, 0.8};
    const std::uint8_t faults = in.next();
    p.faults.clock_leap = rates[faults & 3];
    p.faults.max_clock_leap = std::chrono::milliseconds(1 + ((faults >> 2) & 7));
    p.faults.system_clock_jump = rates[(faults >> 5) & 3];
    p.close_after_ms = in.next() % 16;
    const unsigned tasks = 1 + in.next() % max_tasks;
    unsigned budget = max_spawned;
    for (unsigned i = 0; i < tasks; ++i) p.tasks.push_back(decode_script(in, true, budget));
    const unsigned n = in.next() % (max_ops + 1);
    for (unsigned i = 0; i < n && !in.done(); ++i)
        p.root.push_back({static_cast<RootCode>(in.next() % 7), in.next()});
    return p;
}

/// SCHEDULE_FUZZ_TRACE=1: prints each program and what its tasks did (to replay a finding).
inline bool tracing() {
    static const bool on = std::getenv("SCHEDULE_FUZZ_TRACE") != nullptr;
    return on;
}

// ---- printing ----------------------------------------------------------------------------------

inline void print_script(const Script& s, int depth) {
    static constexpr const char* codes[] = {
        "put",   "get",    "try_put",      "try_get",        "timed_get",
        "sleep", "yield",  "check_cancel", "shielded_sleep", "fail",
        "spawn", "select", "race",         "group"};
    static constexpr const char* kinds[] = {"async", "concurrent", "coroutine", "group.async",
                                            "group.concurrent"};
    std::fprintf(stderr, "%*s%s%s:", depth * 2, "", kinds[static_cast<int>(s.kind)],
                 s.swallow ? " (swallows Canceled)" : "");
    for (const Op& op : s.ops)
        std::fprintf(stderr, " %s(%u)", codes[static_cast<int>(op.code)], op.arg);
    std::fprintf(stderr, "\n");
    for (const Op& op : s.ops)
        for (const Script& kid : op.kids) print_script(kid, depth + 1);
}

inline void print_program(const Program& p) {
    static constexpr const char* codes[] = {"sleep",        "yield",   "cancel", "cancel_and_wait",
                                            "cancel_group", "try_put", "try_get"};
    std::fprintf(stderr,
                 "seed %llu, inline_async %d, capacity %zu, %s root group, close at %u ms, "
                 "clock leaps %.2f (up to %lld ns), system clock jumps %.2f\n",
                 static_cast<unsigned long long>(p.seed), p.inline_async, p.capacity,
                 p.isolate ? "isolating" : "cancel_siblings", p.close_after_ms, p.faults.clock_leap,
                 static_cast<long long>(p.faults.max_clock_leap.count()),
                 p.faults.system_clock_jump);
    for (const Script& s : p.tasks) print_script(s, 1);
    std::fprintf(stderr, "  root:");
    for (const RootOp& op : p.root)
        std::fprintf(stderr, " %s(%u)", codes[static_cast<int>(op.code)], op.arg);
    std::fprintf(stderr, "\n");
}

}  // namespace schedule_fuzz
