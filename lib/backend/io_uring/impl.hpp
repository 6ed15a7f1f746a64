// SPDX-License-Identifier: MIT
// The state of an IoUring backend (its pimpl): the workers, the queue of tasks that have not
// started, the spawn limits, the accept queues; shared by the files that implement it.
#pragma once

#ifndef CORIO_BUILDING_LIB
#error "lib/ headers are internal to corio"
#endif

#include "backend/io_uring/accept_queue.hpp"
#include "backend/io_uring/ring_worker.hpp"
#include "core/internal.hpp"
#include "core/local_loop.hpp"
#include "core/routed_waits.hpp"
#include "core/runnable_queue.hpp"
#include "core/spawn_limits.hpp"
#include "core/spin_lock.hpp"
#include "scheduler/worker.hpp"

#include <corio/io_uring.hpp>
#include <corio/threaded.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace corio {

struct IoUring::Impl final : detail::RingHost {
    using RingWorker = detail::RingWorker;

    /// Starts a thread for each worker, which creates its ring; throws std::system_error naming
    /// what failed (a thread, a ring) after stopping and joining the threads that started.
    void start_workers();

    /// Drives worker 0 on the owning thread of a backend with no worker threads.
    class OwnerDriver final : public detail::Driver {
      public:
        explicit OwnerDriver(Impl& impl) noexcept : impl_(impl) {}
        void drive(detail::ThreadParker& parker) noexcept override;
        void wake() noexcept override;

      private:
        Impl& impl_;
    };

    /// Cancellation of a task's waits goes through the worker that runs them: no callback is
    /// registered on the task's stop source per wait.
    class Router final : public detail::StopRouter {
      public:
        explicit Router(Impl& impl) noexcept : impl_(impl) {}
        void stop_requested(const inplace_stop_source& source) noexcept override {
            // A task a worker started waits only there. One that has not started (or runs
            // inline on some worker's thread) may wait on any: each looks the source up in its
            // own index.
            if (detail::Worker* hint = source.route_hint()) {
                hint->report_stopped(source);
                return;
            }
            for (auto& w : impl_.workers) w->report_stopped(source);
        }

      private:
        Impl& impl_;
    };

    Impl(IoUring& owner, const Options& o)
        : self(owner), options(o), fibers(o.guard_pages, o.cached_fibers), driver(*this),
          router(*this) {}

    IoUring& self;
    Options options;
    detail::FiberPool fibers;
    std::vector<std::unique_ptr<RingWorker>> workers;
    OwnerDriver driver;
    Router router;

    // Tasks that have not started: a doubly linked list, so try_claim can unlink one.
    detail::SpinLock queue_mutex;
    detail::RunnableList queue;
    std::atomic<std::size_t> unstarted{0};

    // Listeners' multishot accepts.
    detail::AcceptQueues accept_queues;

    std::atomic<std::size_t> next_submitter{0};
    std::atomic<std::size_t> next_victim{0};
    detail::SpawnLimits limits{options.async_limit, options.concurrent_limit};

    // io.blocking's pool, started on first use; destroyed before the workers stop.
    std::mutex blocking_mutex;
    std::unique_ptr<Threaded> blocking;

    // threads = 0: the owning thread.
    std::mutex owner_mutex;
    std::atomic<bool> owned{false};
    std::thread::id owner_id;

    [[nodiscard]] bool has_unstarted() const noexcept override {
        return unstarted.load(std::memory_order_seq_cst) != 0;
    }
    void unreserve(bool concurrent) noexcept override { limits.release(concurrent); }

    void push_unstarted(detail::TaskHeader* t) noexcept {
        std::lock_guard lock(queue_mutex);
        queue.push_back(t);
        unstarted.fetch_add(1, std::memory_order_seq_cst);
    }
    detail::TaskHeader* take_unstarted() noexcept override {
        if (unstarted.load(std::memory_order_relaxed) == 0) return nullptr;
        detail::TaskHeader* t = nullptr;
        std::size_t left = 0;
        {
            std::lock_guard lock(queue_mutex);
            t = static_cast<detail::TaskHeader*>(queue.pop_front());
            if (t == nullptr) return nullptr;
            left = unstarted.fetch_sub(1, std::memory_order_relaxed) - 1;
            t->run_queue.store(nullptr, std::memory_order_relaxed);
            t->start_state.store(detail::TaskHeader::started, std::memory_order_relaxed);
        }
        // More are waiting while a worker sleeps: wake it too, so that a task this worker runs
        // for long does not hold up the ones behind it.
        if (left != 0 && idle_workers.load(std::memory_order_relaxed) != 0) wake_idle_worker();
        return t;
    }

    bool steal_for(RingWorker& thief) noexcept override {
        const std::size_t n = workers.size();
        if (n < 2) return false;
        // Start at a different victim each time, so thieves spread over the busy workers.
        const std::size_t first = next_victim.fetch_add(1, std::memory_order_relaxed);
        for (std::size_t i = 0; i < n; ++i) {
            RingWorker& victim = *workers[(first + i) % n];
            if (&victim != &thief && thief.steal_unstarted(victim)) return true;
        }
        return false;
    }

    /// The worker of this backend the calling thread runs, or nullptr.
    RingWorker* current_worker() const noexcept { return detail::current_ring_worker(&self); }
    /// The worker that prepares a submission from the calling thread: its own, when it runs
    /// one of the workers; else one chosen for it (the owner's, with no worker threads).
    RingWorker& submission_worker() override {
        if (RingWorker* w = current_worker()) return *w;
        if (options.threads == 0) {
            claim(false);
            return *workers.front();
        }
        const std::size_t i = next_submitter.fetch_add(1, std::memory_order_relaxed);
        return *workers[i % workers.size()];
    }

    /// Wakes an idle worker to take a task that was just queued in the shared queue (if none
    /// is idle, the busy ones take it at their next turn). A worker already being woken is not
    /// woken twice; when it takes a task and more wait, it wakes another in turn.
    void wake_idle_worker() noexcept override {
        RingWorker* me = current_worker();
        for (auto& w : workers) {
            if (w.get() != me && w->is_sleeping()) {
                w->wake();
                return;
            }
        }
    }

    detail::StopRouter* stop_router() noexcept override { return &router; }

    bool stealable_for(const RingWorker& me) const noexcept override {
        for (const auto& w : workers)
            if (w.get() != &me && w->unstarted_count() != 0) return true;
        return false;
    }

    void claim(bool must) {
        if (!workers.empty() && options.threads != 0) return;
        if (owned.load(std::memory_order_acquire)) {
            if (must && owner_id != std::this_thread::get_id())
                throw UsageError(std::errc::operation_not_permitted,
                                 "corio: IoUring{threads = 0} is driven by the thread that owns "
                                 "it; another thread cannot run it");
            return;
        }
        std::lock_guard lock(owner_mutex);
        if (owned.load(std::memory_order_relaxed)) return;
        RingWorker& w = *workers.front();
        w.attach();
        detail::this_thread_parker().set_driver(&driver);
        owner_id = std::this_thread::get_id();
        owned.store(true, std::memory_order_release);
    }
};

}  // namespace corio
