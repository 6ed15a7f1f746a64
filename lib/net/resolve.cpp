// SPDX-License-Identifier: MIT
// resolve: getaddrinfo off the event loop, in a state shared with the thread that runs it.
#include <corio/net.hpp>

#include <netdb.h>

#include <atomic>
#include <mutex>

namespace corio::detail {

/// Shared by the operation and the lookup: whichever lets go last frees it.
struct ResolveState {
    Runnable job{&run};
    std::string host;
    std::string service;
    std::vector<Address> result;
    int error = 0;
    int system_error = 0;
    std::atomic<int> refs{2};
    std::mutex mutex;
    ResolveOperation* waiter = nullptr;  // under mutex; null once it left
    bool done = false;                   // under mutex

    void lookup() noexcept {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_ADDRCONFIG;
        addrinfo* list = nullptr;
        error = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
        if (error == EAI_SYSTEM) system_error = errno;
        if (error == 0) {
            try {
                for (addrinfo* a = list; a != nullptr; a = a->ai_next)
                    if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
                        result.push_back(Address::from_sockaddr(a->ai_addr, a->ai_addrlen));
            } catch (...) {
                error = EAI_MEMORY;
            }
            ::freeaddrinfo(list);
        }
    }

    static void run(Runnable* r) noexcept {
        auto* self = reinterpret_cast<ResolveState*>(r);  // `job` is the first member
        self->lookup();
        ResolveOperation* w = nullptr;
        {
            std::lock_guard lock(self->mutex);
            self->done = true;
            w = self->waiter;
        }
        if (w != nullptr) w->finished();
        self->release();
    }

    void release() noexcept {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }
};

ResolveOperation::ResolveOperation(Backend& backend, std::string_view host,
                                   std::uint16_t port) noexcept
    : backend_(&backend), port_(port) {
    try {
        host_ = host;
    } catch (...) {
        system_error_ = ENOMEM;
    }
}

ResolveOperation::~ResolveOperation() {
    if (state_ != nullptr) state_->release();
}

bool ResolveOperation::try_now() {
    if (system_error_ != 0) return true;
    // A numeric address needs no lookup.
    const std::string text = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
    if (auto a = Address::try_parse(text + ":" + std::to_string(port_))) {
        result_.push_back(*a);
        return true;
    }
    return false;
}

void ResolveOperation::arm() {
    auto* s = new ResolveState;
    s->host = host_;
    s->service = std::to_string(port_);
    s->waiter = this;
    state_ = s;
    if (!backend_->run_detached(s->job)) {
        // No thread for it (Simulated): look it up here.
        s->lookup();
        s->done = true;
        s->waiter = nullptr;
        s->release();  // the job's reference
        complete(Status::ok);
    }
}

void ResolveOperation::try_cancel() noexcept {
    {
        std::lock_guard lock(state_->mutex);
        if (state_->done) return;  // its completion comes (or came) from the lookup
        state_->waiter = nullptr;  // the lookup goes on and frees the state
    }
    complete(Status::canceled);
}

std::vector<Address> ResolveOperation::take_result() {
    if (status() == Status::canceled) throw Canceled();
    if (state_ != nullptr) {  // the lookup finished: its results are ours now
        error_ = state_->error;
        system_error_ = state_->system_error;
        result_ = std::move(state_->result);
    }
    const std::string what = "corio: resolve \"" + host_ + "\"";
    if (system_error_ != 0) throw std::system_error(system_error_, std::system_category(), what);
    if (error_ != 0)
        throw std::system_error(std::make_error_code(std::errc::host_unreachable),
                                what + ": " + ::gai_strerror(error_));
    if (result_.empty())
        throw std::system_error(std::make_error_code(std::errc::host_unreachable),
                                what + ": no IPv4 or IPv6 address");
    return std::move(result_);
}

}  // namespace corio::detail
