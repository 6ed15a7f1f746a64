// SPDX-License-Identifier: MIT
// Routed waits: an owner-thread hash index of waits by stop source, and a bounded report list
// other threads fill when a source stops. A report is a pointer the owner only compares: the
// source may be gone by the time it looks, and then no wait holds that address, or a wait of a
// new source does and that source's own flag says it was not stopped.
#include "core/routed_waits.hpp"

#include <bit>
#include <new>

namespace corio::detail {

namespace {
constexpr std::size_t initial_buckets = 64;
}  // namespace

RoutedWaits::RoutedWaits(StopRouter* router) : router_(router) {
    buckets_ = new RoutedWait*[initial_buckets]();
    mask_ = initial_buckets - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(initial_buckets));
}

RoutedWaits::~RoutedWaits() { delete[] buckets_; }

bool RoutedWaits::resize() noexcept {
    std::size_t n = (mask_ + 1) * 2;
    if (size_ <= mask_) {  // shrinking: to twice the waits, at least the initial size
        n = initial_buckets;
        while (n < size_ * 2) n *= 2;
    }
    auto* fresh = new (std::nothrow) RoutedWait*[n]();
    if (fresh == nullptr) return size_ <= mask_;  // a failed shrink leaves room enough
    RoutedWait** old = buckets_;
    const std::size_t old_n = mask_ + 1;
    buckets_ = fresh;
    mask_ = n - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(n));
    for (std::size_t i = 0; i < old_n; ++i) {
        RoutedWait* w = old[i];
        while (w != nullptr) {
            RoutedWait* next = w->next;
            RoutedWait*& head = buckets_[bucket_of(w->source)];
            w->prev = nullptr;
            w->next = head;
            if (head != nullptr) head->prev = w;
            head = w;
            w = next;
        }
    }
    delete[] old;
    return true;
}

namespace {

/// Runs the callbacks of waits unlinked into a list through `next`. In two phases (unlink
/// all, then run) because a callback may change the index: a forwarding cancel stops a child's
/// source, whose own callbacks may run a task inline that waits here.
void run_unlinked(RoutedWait* list) noexcept {
    while (list != nullptr) {
        RoutedWait* w = list;
        list = w->next;
        // The callback may complete the wait, and its waiter then end it: nothing of `w` is
        // read after this.
        w->callback->execute(w->callback);
    }
}

}  // namespace

void RoutedWaits::run_stopped(const inplace_stop_source* source) noexcept {
    RoutedWait* taken = nullptr;
    RoutedWait* w = buckets_[bucket_of(source)];
    while (w != nullptr) {
        RoutedWait* next = w->next;
        if (w->source == source && source->stop_requested()) {
            remove(*w);
            w->next = taken;
            taken = w;
        }
        w = next;
    }
    run_unlinked(taken);
}

void RoutedWaits::run_all_stopped() noexcept {
    RoutedWait* taken = nullptr;
    for (std::size_t i = 0; i <= mask_; ++i) {
        RoutedWait* w = buckets_[i];
        while (w != nullptr) {
            RoutedWait* next = w->next;
            if (w->source->stop_requested()) {
                remove(*w);
                w->next = taken;
                taken = w;
            }
            w = next;
        }
    }
    run_unlinked(taken);
}

StopReports::StopReports(StopRouter* router) : waits_(router) {
    reports_.reserve(max_reports);
    taking_.reserve(max_reports);
}

void StopReports::run_slow() noexcept {
    bool all = false;
    {
        std::lock_guard lock(mutex_);
        // Cleared under the lock: a report after this sets it again, and is seen next time.
        flag_.store(false, std::memory_order_relaxed);
        taking_.swap(reports_);
        all = overflow_;
        overflow_ = false;
    }
    if (all) {
        waits_.run_all_stopped();
    } else {
        for (const inplace_stop_source* s : taking_) waits_.run_stopped(s);
    }
    taking_.clear();
}

bool StopReports::report(const inplace_stop_source& source) noexcept {
    {
        std::lock_guard lock(mutex_);
        if (reports_.size() < max_reports)
            reports_.push_back(&source);
        else
            overflow_ = true;
    }
    return !flag_.exchange(true, std::memory_order_seq_cst);
}

}  // namespace corio::detail
