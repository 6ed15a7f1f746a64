// SPDX-License-Identifier: MIT
// Files: what is not inline (the multi-call operations read_file and write_file).
#include <corio/file.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <new>

namespace corio {

std::pair<File, File> File::pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::system_category(), "corio: pipe");
    return {File(fds[0]), File(fds[1])};
}

namespace detail {

void throw_partial_error(const IoRequest& r, int err, std::size_t transferred) {
    if (transferred == 0) throw_io_error(r, err);
    std::string what = "corio: ";
    what += to_string(r.opcode);
    what += " on fd " + std::to_string(r.fd) + " failed after " + std::to_string(transferred) +
            " bytes";
    throw IoError(io_error_code(err), what, transferred);
}

void Descriptor::reset() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

void CloseOperation::close_unawaited() noexcept {
    if (started_) return;
    if (state_ != nullptr) {
        state_->release(state_);
        if (fd >= 0) ::shutdown(fd, SHUT_RDWR);  // refused now, not when the ring saw it
    }
    if (fd >= 0) ::close(fd);
}

// ---- read_file ------------------------------------------------------------------------------

ReadFileOperation::ReadFileOperation(Backend& backend, const std::filesystem::path& p,
                                     std::error_code* ec)
    : IoOperation(backend, ec) {
    opcode = IoOpcode::openat;
    args.open = {p.c_str(), 0};
    flags = O_RDONLY;
    step = &next;
}

/// Ends the operation with `outcome` (the size read, or -errno), closing the file if open:
/// without waiting (closing a file that was only read does not block).
bool ReadFileOperation::end(std::int64_t outcome) noexcept {
    if (stage_ != Stage::open) ::close(fd);
    res = outcome;
    return true;
}

bool ReadFileOperation::start_read() noexcept {
    if (got_ == data_.size()) {
        try {
            data_.resize(data_.size() < 4096 ? 4096 : data_.size() * 2);
        } catch (const std::bad_alloc&) {
            return end(-ENOMEM);
        }
    }
    opcode = IoOpcode::read;
    buf = data_.data() + got_;
    len = data_.size() - got_;
    offset = static_cast<std::int64_t>(got_);
    stage_ = Stage::read;
    return false;
}

bool ReadFileOperation::next(IoRequest& r) noexcept {
    auto& self = static_cast<ReadFileOperation&>(r);
    if (r.res == -ECANCELED) return self.end(-ECANCELED);
    switch (self.stage_) {
        case Stage::open:
            if (r.res < 0) return true;
            r.fd = static_cast<int>(r.res);
            r.opcode = IoOpcode::statx;
            r.args.stat = {&self.stx_, STATX_SIZE};
            self.stage_ = Stage::size;
            return false;
        case Stage::size:
            if (r.res < 0) return self.end(r.res);
            try {
                // One more byte than the size, so a file that did not grow ends in one read.
                self.data_.resize(self.stx_.stx_size + 1);
            } catch (const std::bad_alloc&) {
                return self.end(-ENOMEM);
            }
            return self.start_read();
        case Stage::read:
            if (r.res < 0) return self.end(r.res);
            if (r.res == 0) return self.end(static_cast<std::int64_t>(self.got_));
            self.got_ += static_cast<std::size_t>(r.res);
            return self.start_read();
    }
    return true;
}

std::string ReadFileOperation::take_result() {
    if (status() != Status::canceled && res < 0 && res != -ECANCELED && got_ != 0 &&
        !reports_to_error_code())
        throw_partial_error(*this, static_cast<int>(-res), got_);
    if (result() < 0) return {};
    data_.resize(got_);
    return std::move(data_);
}

// ---- write_file -----------------------------------------------------------------------------

WriteFileOperation::WriteFileOperation(Backend& backend, const std::filesystem::path& p,
                                       std::span<const std::byte> bytes,
                                       std::error_code* ec) noexcept
    : IoOperation(backend, ec), data_(bytes.data()), size_(bytes.size()) {
    opcode = IoOpcode::openat;
    args.open = {p.c_str(), 0666};
    flags = O_WRONLY | O_CREAT | O_TRUNC;
    step = &next;
}

/// Ends the operation: closes the file (its error is the outcome's when the writes went).
bool WriteFileOperation::end(std::int64_t outcome) noexcept {
    if (opened_ && ::close(fd) != 0 && outcome >= 0) outcome = -errno;
    res = outcome;
    return true;
}

bool WriteFileOperation::next(IoRequest& r) noexcept {
    auto& self = static_cast<WriteFileOperation&>(r);
    if (r.res < 0) return self.end(r.res);
    if (!self.opened_) {
        self.opened_ = true;
        r.fd = static_cast<int>(r.res);
    } else if (r.res == 0) {
        return self.end(-ENOSPC);
    } else {
        self.written_ += static_cast<std::size_t>(r.res);
    }
    if (self.written_ == self.size_) return self.end(static_cast<std::int64_t>(self.written_));
    r.opcode = IoOpcode::write;
    r.buf = const_cast<std::byte*>(self.data_ + self.written_);
    r.len = self.size_ - self.written_;
    r.offset = static_cast<std::int64_t>(self.written_);
    return false;
}

void WriteFileOperation::take_result() {
    if (status() != Status::canceled && res < 0 && res != -ECANCELED && written_ != 0 &&
        !reports_to_error_code())
        throw_partial_error(*this, static_cast<int>(-res), written_);
    result();
}

}  // namespace detail

}  // namespace corio
