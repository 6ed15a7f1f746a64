// SPDX-License-Identifier: MIT
// A tour of corio: the examples of the Zig 0.16 std.Io article, translated, on corio::Threaded.
#include <corio/corio.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

long long ms_since(corio::Io io, std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(io.now() - t0).count();
}

// ---- (a) io.async and await ------------------------------------------------------------------

int do_work(corio::Io io, int n) {  // a plain function: it waits without being a coroutine
    io.sleep(100ms).await();
    return n * 10;
}

void two_asyncs(corio::Io io, const char* backend) {
    const auto t0 = io.now();
    auto a = io.async(do_work, io, 1);  // may run on a pool thread, may run inline
    const bool a_inline = a.ready();    // a function that ran inline is ready at once
    auto b = io.async(do_work, io, 2);
    const bool b_inline = b.ready();
    const int sum = a.await() + b.await();
    std::printf("  %s: a ran %s, b ran %s; a + b = %d after %lld ms (%s)\n", backend,
                a_inline ? "inline" : "on a pool thread", b_inline ? "inline" : "on a pool thread",
                sum, ms_since(io, t0), a_inline && b_inline ? "one after the other" : "overlapped");
}

void section_async(corio::Io io) {
    std::printf("\n(a) two io.async calls, each sleeping 100 ms and returning n * 10\n");
    two_asyncs(io, "Threaded");
    corio::Threaded no_threads({.async_limit = 0});  // every io.async runs inline
    two_asyncs(no_threads.io(), "Threaded{.async_limit = 0}");
}

// ---- (b) a Group processes four files ----------------------------------------------------------

void process_file(corio::Io io, const fs::path& path) {  // read, transform, write
    std::string text = corio::read_file(io, path).await();
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    corio::write_file(io, fs::path(path) += ".out", text).await();
}

void section_group(corio::Io io) {
    std::printf("\n(b) a Group processes four files in parallel (where a thread is free)\n");
    const auto dir =
        fs::temp_directory_path() / ("corio-tour-" + std::to_string(std::random_device{}()));
    fs::create_directory(dir);
    const char* names[] = {"a.txt", "b.txt", "c.txt", "d.txt"};
    for (const char* name : names) std::ofstream(dir / name) << "hello from " << name;
    {
        corio::Group group{io};
        for (const char* name : names) group.async(process_file, io, dir / name);
        group.wait();  // rethrows the first error (after cancelling the other members)
    }
    for (const char* name : names) {
        std::ifstream out(dir / (std::string(name) + ".out"));
        std::string line;
        std::getline(out, line);
        std::printf("  %s.out: %s\n", name, line.c_str());
    }
    fs::remove_all(dir);
}

// ---- (c) select ------------------------------------------------------------------------------

void section_select(corio::Io io) {
    std::printf("\n(c) select between a slow task (1 s) and a timer (100 ms)\n");
    const auto t0 = io.now();
    auto slow = io.concurrent([io] {
        io.sleep(1s).await();
        return std::string("slow result");
    });
    auto timer = io.concurrent([io] { io.sleep(100ms).await(); });
    std::size_t winner = corio::select(io, slow, timer);  // cancels the loser and waits for it
    std::printf("  %s won after %lld ms\n", winner == 1 ? "the timer" : "the slow task",
                ms_since(io, t0));
    try {
        slow.await();
    } catch (const corio::Canceled&) {
        std::printf("  slow.await() threw corio::Canceled: select cancelled the loser\n");
    }
}

// ---- (d) producer and consumer with Mutex and Condition ----------------------------------------

struct Shared {
    corio::Mutex mutex;
    corio::Condition changed;
    std::deque<int> items;  // guarded by mutex
    bool done = false;      // guarded by mutex
};

void producer(corio::Io io, Shared& s) {
    for (int i = 1; i <= 5; ++i) {
        io.sleep(2ms).await();  // "produce" an item
        corio::MutexGuard lock = s.mutex.scoped_lock(io).await();
        s.items.push_back(i);
        s.changed.signal();
    }
    corio::MutexGuard lock = s.mutex.scoped_lock(io).await();
    s.done = true;
    s.changed.signal();
}

std::string consumer(corio::Io io, Shared& s) {
    std::string got;
    for (;;) {
        corio::MutexGuard lock = s.mutex.scoped_lock(io).await();
        while (s.items.empty() && !s.done) s.changed.wait(io, s.mutex).await();
        if (s.items.empty()) return got;
        got += ' ' + std::to_string(s.items.front());
        s.items.pop_front();
    }
}

void section_condition(corio::Io io) {
    std::printf("\n(d) producer and consumer with corio::Mutex and corio::Condition\n");
    std::printf(
        "  Why not io.async? It may run a task inline to its end before returning: fine for\n"
        "  the producer, but with no thread to spare the consumer would wait forever on a\n"
        "  condition nobody can signal. io.concurrent guarantees that both make progress, or\n"
        "  throws ConcurrencyUnavailable.\n");
    Shared s;
    auto consuming = io.concurrent(consumer, io, std::ref(s));
    auto producing = io.concurrent(producer, io, std::ref(s));
    producing.await();
    std::printf("  the consumer got:%s\n", consuming.await().c_str());
}

// ---- (e) producer and consumer with a Queue ----------------------------------------------------

void section_queue(corio::Io io) {
    std::printf("\n(e) producer and consumer with corio::Queue<int> q{4}\n");
    corio::Queue<int> q{4};
    auto producing = io.concurrent([io, &q] {
        for (int i = 1; i <= 10; ++i) q.put(io, i).await();  // waits while q is full
        q.close();
    });
    int count = 0, sum = 0;
    try {
        for (;;) {
            sum += q.get(io).await();
            ++count;
        }
    } catch (const corio::QueueClosed&) {
        std::printf("  got %d items (sum %d), then get() threw QueueClosed: q was closed\n", count,
                    sum);
    }
    producing.await();
}

// ---- (f) cancellation and timeouts -------------------------------------------------------------

void section_cancel(corio::Io io) {
    std::printf("\n(f) cancelling a running task, and with_timeout\n");
    auto ticker = io.concurrent([io] {
        int ticks = 0;
        try {
            for (;;) {
                io.sleep(10ms).await();  // every wait is a cancellation point
                ++ticks;
            }
        } catch (const corio::Canceled&) {
            std::printf("  ticker: caught corio::Canceled after %d ticks; cleaning up\n", ticks);
            throw;
        }
    });
    io.sleep(55ms).await();
    try {
        ticker.cancel();  // requests cancellation, waits, and rethrows what the task threw
    } catch (const corio::Canceled&) {
        std::printf("  ticker.cancel() rethrew Canceled: the task has ended\n");
    }

    corio::Event never_set;
    const auto t0 = io.now();
    try {
        corio::with_timeout(io, 50ms, never_set.wait(io)).await();
    } catch (const corio::Timeout&) {
        std::printf("  with_timeout(io, 50ms, event.wait(io)) threw Timeout after %lld ms;\n",
                    ms_since(io, t0));
        std::printf("  it cancelled the wait, not this task: io.cancel_requested() = %s\n",
                    io.cancel_requested() ? "true" : "false");
    }
}

// ---- (g) (a) again, as coroutines --------------------------------------------------------------

corio::Task<int> do_work_co(corio::Io io, int n) {
    co_await io.sleep(100ms);
    co_return n * 10;
}

corio::Task<int> three_tasks(corio::Io io) {
    auto a = io.async(do_work_co, io, 1);  // a coroutine task needs no thread of its own
    auto b = io.async(do_work_co, io, 2);
    auto c = io.async(do_work, io, 3);  // a plain function that waits gets a thread
    co_return co_await a + co_await b + co_await c;
}

void section_coroutines(corio::Io io) {
    std::printf("\n(g) (a) again with coroutines: corio::Task<int> and co_await\n");
    const auto t0 = io.now();
    const int sum = io.async(three_tasks, io).await();
    const long long ms = ms_since(io, t0);
    std::printf("  10 + 20 + 30 = %d after %lld ms (%s)\n", sum, ms,
                ms < 150 ? "the three overlapped" : "one after the other");
}

}  // namespace

int main() {
    corio::Threaded threaded;      // the portable backend: a pool of threads
    corio::Io io = threaded.io();  // a cheap handle, passed around like an allocator
    std::printf(
        "corio tour on corio::Threaded (async_limit = %zu; async tasks beyond it run inline)\n",
        threaded.options().async_limit);
    section_async(io);
    section_group(io);
    section_select(io);
    section_condition(io);
    section_queue(io);
    section_cancel(io);
    section_coroutines(io);
}
