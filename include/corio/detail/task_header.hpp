// SPDX-License-Identifier: MIT
// The header every task has: identity, state, what it waits on, its stop state, and the
// hand-off between the task finishing and whoever owns its result.
#pragma once

#include <corio/cancel.hpp>
#include <corio/detail/runtime.hpp>
#include <corio/export.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>

namespace corio {
class Backend;
}  // namespace corio

namespace corio::detail {

/// What a task is parked on, for dumps and the messages of aborts.
enum class WaitKind : std::uint8_t {
    none, sleep, yield, future, group, select, mutex, condition, semaphore, event,
    queue_put, queue_get, syscall, io,
};

CORIO_EXPORT const char* to_string(WaitKind kind) noexcept;

struct WaitInfo {
    WaitKind kind = WaitKind::none;
    int fd = -1;
    std::chrono::steady_clock::time_point deadline{};
};

/// Told when a task finishes; the future's waiter or a select arm.
struct Listener {
    using Fn = void (*)(Listener*) noexcept;
    Fn notify;
};

struct TaskHeader;
struct GroupCore;

struct TaskVTable {
    /// Runs a plain body to its end, or starts a coroutine body (which finishes later).
    void (*run)(TaskHeader*) noexcept;
    /// Destroys the state and returns its memory.
    void (*destroy)(TaskHeader*) noexcept;
    /// The exception the body ended with, if any (read by groups).
    const std::exception_ptr* (*exception)(TaskHeader*) noexcept;
};

struct TaskHeader : Runnable {
    // completion bits
    static constexpr std::uint32_t done_bit = 1;
    static constexpr std::uint32_t waiter_bit = 2;
    static constexpr std::uint32_t detached_bit = 4;
    // A group member driven inline by its spawner: it finishes like a task with a future (the
    // done bit, its waiter), and the spawner hands it to its group once it has stopped
    // watching it (the group frees a member as it takes it).
    static constexpr std::uint32_t inline_member_bit = 8;
    // Set with waiter_bit by a waiter on the worker that runs the task: until the task is done,
    // nothing but that thread writes the word, so the task finishes with a plain store.
    static constexpr std::uint32_t local_waiter_bit = 16;

    // start states (for an awaiter claiming a task that has not started)
    static constexpr std::uint8_t queued = 0;
    static constexpr std::uint8_t started = 1;

    TaskHeader() noexcept = default;
    TaskHeader(const TaskHeader&) = delete;
    TaskHeader& operator=(const TaskHeader&) = delete;

    const TaskVTable* vtable = nullptr;
    Backend* backend = nullptr;
    GroupCore* group = nullptr;            // owner, when a group started it
    std::uint64_t id = 0;
    inplace_stop_source stop;
    std::atomic<std::uint32_t> completion{0};
    std::atomic<std::uint8_t> start_state{queued};
    bool coroutine = false;
    bool concurrent = false;
    bool claimable = true;  // false: never run by an awaiter that takes it back (io.blocking)
    std::uint8_t registry_shard = 0;  // the backend registry's shard that records it
    std::uint32_t shield_depth = 0;
    // What the task is parked on. The kind is atomic: dumps and tests read it from other
    // threads; it is published only once the wait is registered with its source.
    std::atomic<WaitKind> wait_kind{WaitKind::none};
    int wait_fd = -1;
    std::chrono::steady_clock::time_point wait_deadline{};

    void set_waiting(const WaitInfo& w) noexcept {
        wait_fd = w.fd;
        wait_deadline = w.deadline;
        wait_kind.store(w.kind, std::memory_order_release);
    }
    void clear_waiting() noexcept { wait_kind.store(WaitKind::none, std::memory_order_relaxed); }
    std::atomic<Listener*> waiter{nullptr};  // claimed once (CAS from null) by the one waiter
    Executor* executor = nullptr;          // owner of a coroutine task's resumptions
    void* backend_data = nullptr;          // the backend's (a fiber reserved for the task)
    std::atomic<void*> run_queue{nullptr};  // the backend's queue that holds it while queued
    std::size_t stack_size = 0;            // SpawnOptions::stack_size (0: the backend's)
    TaskHeader* reg_prev = nullptr;        // backend registry / group membership links
    TaskHeader* reg_next = nullptr;
    TaskHeader* group_prev = nullptr;
    TaskHeader* group_next = nullptr;
};

/// Called by the runtime when a task's body has ended and its result is stored: hands the
/// result to its owner (future, orphan reaper, group). Touches nothing of `t` afterwards.
CORIO_EXPORT void finish_task(TaskHeader* t) noexcept;

/// Hands a finished group member to its group (records its error, frees its state).
CORIO_EXPORT void group_member_finished(TaskHeader* t) noexcept;

/// Starts a queued task on the calling thread (a worker, or an awaiter that claimed it).
CORIO_EXPORT void run_task_here(TaskHeader* t) noexcept;

/// The token waits of `t` read: its own, or none while a CancelShield is active.
inline stop_token wait_token_of(TaskHeader& t) noexcept {
    return t.shield_depth == 0 ? stop_token(&t.stop) : stop_token();
}

/// wait_token_of the current task.
CORIO_EXPORT stop_token current_wait_token() noexcept;

}  // namespace corio::detail
