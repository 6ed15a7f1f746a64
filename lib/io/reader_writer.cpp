// SPDX-License-Identifier: MIT
// Reader and Writer: the goals of their operations, checked against the buffer after each call,
// and the readers and writers over files, stream sockets and memory.
#include <corio/file.hpp>
#include <corio/net.hpp>
#include <corio/reader.hpp>
#include <corio/writer.hpp>

#include <algorithm>
#include <cstring>
#include <string>

namespace corio {

namespace detail {

namespace {

// A goal the buffer cannot hold: thrown, or stored in the error_code of a non-throwing overload.
void fail_too_long(std::error_code* ec, const char* what, std::size_t capacity) {
    const auto code = std::make_error_code(std::errc::message_size);
    if (ec != nullptr) {
        *ec = code;
        return;
    }
    throw std::system_error(code, std::string("corio: ") + what +
                                      ": more than the reader's buffer (" +
                                      std::to_string(capacity) + " bytes) holds");
}

// The end of the stream before the goal: thrown (with the count that came), or stored.
void fail_ended(std::error_code* ec, const char* what, std::size_t got, std::size_t wanted) {
    const auto code = std::make_error_code(std::errc::no_message_available);
    if (ec != nullptr) {
        *ec = code;
        return;
    }
    throw IoError(code,
                  std::string("corio: ") + what + ": the stream ended after " +
                      std::to_string(got) + " of " + std::to_string(wanted) + " bytes",
                  got);
}

}  // namespace

// ---- Reader ---------------------------------------------------------------------------------

ReadProgress::Outcome ReadProgress::run(IoRequest& r) noexcept {
    Reader& rd = *reader;
    std::byte* const base = rd.buffer_.data();
    const std::size_t capacity = rd.buffer_.size();
    for (;;) {
        const std::size_t avail = rd.end_ - rd.seek_;
        switch (goal) {
            case ReadGoal::peek:
            case ReadGoal::take:
                if (avail >= n) return Outcome::done;
                if (n > capacity && !rd.fixed_) {  // a fixed reader: the stream ends first
                    too_long = true;
                    return Outcome::ended;
                }
                break;
            case ReadGoal::take_until: {
                const std::byte* from = base + rd.seek_ + scanned;
                if (const void* hit = std::memchr(from, static_cast<int>(delimiter), avail - scanned)) {
                    found = static_cast<std::size_t>(static_cast<const std::byte*>(hit) -
                                                     (base + rd.seek_));
                    delimited = true;
                    return Outcome::done;
                }
                scanned = avail;
                if (avail == capacity) {
                    too_long = true;
                    return Outcome::ended;
                }
                break;
            }
            case ReadGoal::read_exact:
            case ReadGoal::discard:
                if (avail >= n - done) {
                    take_buffered(n - done);
                    return Outcome::done;
                }
                // A goal the buffer can hold takes nothing until it is met, so a call cut off
                // while it waits leaves every byte to the next one. A larger goal streams
                // through, taking as it goes.
                if (n > capacity) take_buffered(avail);
                break;
            case ReadGoal::read_some: {
                if (done != 0 || n == 0) return Outcome::done;  // a direct read got some
                if (avail != 0) {
                    const std::size_t k = std::min(avail, n);
                    std::memcpy(out, base + rd.seek_, k);
                    rd.seek_ += k;
                    done = k;
                    return Outcome::done;
                }
                break;
            }
        }
        if (end_of_stream || rd.fixed_) {
            end_of_stream = true;
            return Outcome::ended;
        }
        // More from the source. A large read with nothing buffered goes straight to `out`
        // (read_exact: only a goal larger than the buffer, which takes as it goes anyway).
        const std::size_t left = n - done;
        direct = (goal == ReadGoal::read_some || (goal == ReadGoal::read_exact && n > capacity)) &&
                 rd.seek_ == rd.end_ && left >= capacity;
        std::span<std::byte> into;
        if (direct) {
            into = {out + done, left};
        } else {
            if (rd.seek_ != 0) {  // keep the unread bytes at the front: the tail is free
                const std::size_t unread = rd.end_ - rd.seek_;
                std::memmove(base, base + rd.seek_, unread);
                rd.seek_ = 0;
                rd.end_ = unread;
            }
            into = rd.buffer_.subspan(rd.end_);
        }
        if (into.empty()) {  // a buffer of size 0, or full with a goal it cannot meet
            too_long = true;
            return Outcome::ended;
        }
        if (rd.prepare_read(r, into)) return Outcome::call;
        end_of_stream = true;
    }
}

void ReadProgress::take_buffered(std::size_t k) noexcept {
    Reader& rd = *reader;
    if (goal == ReadGoal::read_exact && k != 0)
        std::memcpy(out + done, rd.buffer_.data() + rd.seek_, k);
    rd.seek_ += k;
    done += k;
}

void ReadProgress::give_what_came() noexcept {
    take_buffered(std::min(reader->end_ - reader->seek_, n - done));
}

void ReadProgress::account(std::size_t got) noexcept {
    if (got == 0) {
        end_of_stream = true;
    } else if (direct) {
        done += got;
    } else {
        reader->end_ += got;
    }
}

std::span<const std::byte> ReadProgress::take_span(bool consume) {
    Reader& rd = *reader;
    const char* what = consume ? (n == 1 ? "take_byte" : "take") : "peek";
    if (too_long) {
        fail_too_long(ec, what, rd.buffer_.size());
        return {};
    }
    const std::size_t avail = rd.end_ - rd.seek_;
    if (avail < n) {
        fail_ended(ec, what, avail, n);
        return {};
    }
    std::span<const std::byte> s(rd.buffer_.data() + rd.seek_, n);
    if (consume) rd.seek_ += n;
    return s;
}

std::optional<std::span<const std::byte>> ReadProgress::take_line() {
    Reader& rd = *reader;
    if (too_long) {
        fail_too_long(ec, "take_until", rd.buffer_.size());
        return std::nullopt;
    }
    const std::byte* at = rd.buffer_.data() + rd.seek_;
    if (delimited) {
        rd.seek_ += found + 1;
        return std::span<const std::byte>(at, found);
    }
    const std::size_t avail = rd.end_ - rd.seek_;
    if (avail == 0) return std::nullopt;
    rd.seek_ = rd.end_;  // the last line, without its delimiter
    return std::span<const std::byte>(at, avail);
}

std::size_t ReadProgress::take_count(const char* what) {
    if (done < n) fail_ended(ec, what, done, n);
    return done;
}

// ---- stream_to ------------------------------------------------------------------------------

StreamToOperation::StreamToOperation(Backend& backend, Reader& r, Writer& w,
                                     std::error_code* ec) noexcept
    : IoOperation(backend, ec), reader_(&r), writer_(&w) {
    step = &next;
}

StreamToOperation::Next StreamToOperation::run() noexcept {
    Reader& rd = *reader_;
    Writer& wr = *writer_;
    for (;;) {
        // Buffered input goes into the writer's buffer while it has room.
        const std::size_t avail = rd.end_ - rd.seek_;
        const std::size_t room = wr.buffer_.size() - wr.end_;
        if (avail != 0 && room != 0) {
            const std::size_t k = std::min(avail, room);
            std::memcpy(wr.buffer_.data() + wr.end_, rd.buffer_.data() + rd.seek_, k);
            wr.end_ += k;
            rd.seek_ += k;
            moved_ += k;
            continue;
        }
        if (avail != 0) {  // the writer is full: drain it
            reading_ = false;
            if (!wr.prepare_write(*this, wr.buffered())) {
                error_ = ENOBUFS;
                refused_ = true;
                return Next::failed;
            }
            return Next::call;
        }
        if (end_of_stream_ || rd.fixed_) return Next::done;
        rd.seek_ = rd.end_ = 0;
        if (rd.buffer_.empty()) {
            error_ = EINVAL;
            return Next::failed;
        }
        reading_ = true;
        if (!rd.prepare_read(*this, rd.buffer_)) return Next::done;
        return Next::call;
    }
}

bool StreamToOperation::try_now() {
    const Next n = run();
    if (n == Next::done) finish_early(0);
    if (n == Next::failed) finish_early(-error_);
    return IoOperation::try_now();
}

bool StreamToOperation::next(IoRequest& r) noexcept {
    auto& self = static_cast<StreamToOperation&>(r);
    if (r.res < 0) return true;
    const auto got = static_cast<std::size_t>(r.res);
    if (self.reading_) {
        if (got == 0)
            self.end_of_stream_ = true;
        else
            self.reader_->end_ += got;
    } else {
        if (got == 0) {
            r.res = -ENOSPC;
            return true;
        }
        Writer& wr = *self.writer_;
        std::memmove(wr.buffer_.data(), wr.buffer_.data() + got, wr.end_ - got);
        wr.end_ -= got;
    }
    switch (self.run()) {
        case Next::call: return false;
        case Next::done: r.res = 0; return true;
        case Next::failed: r.res = -self.error_; return true;
    }
    return true;
}

std::uint64_t StreamToOperation::take_result() {
    if (status() != Status::canceled && res == -ENOBUFS && refused_ && !reports_to_error_code()) {
        const std::string who = writer_->fixed_ ? "the FixedWriter is full"
                                                : "the writer's sink takes no more bytes";
        throw IoError(io_error_code(ENOBUFS),
                      "corio: stream_to: " + who + " after " + std::to_string(moved_) + " bytes",
                      moved_);
    }
    if (status() != Status::canceled && res < 0 && moved_ != 0 && !reports_to_error_code())
        throw_partial_error(*this, static_cast<int>(-res), moved_);
    result();  // throws, or leaves the error in the error_code
    return moved_;
}

// ---- Writer ---------------------------------------------------------------------------------

WriteProgress::Outcome WriteProgress::run(IoRequest& r) noexcept {
    Writer& wr = *writer;
    const std::size_t capacity = wr.buffer_.size();
    for (;;) {
        if (remaining != 0) {
            const std::size_t room = capacity - wr.end_;
            if (remaining <= room) {
                std::memcpy(wr.buffer_.data() + wr.end_, data, remaining);
                wr.end_ += remaining;
                written += remaining;
                data += remaining;
                remaining = 0;
                continue;
            }
            if (wr.end_ == 0 && remaining >= capacity && !wr.fixed_) {  // skips the buffer
                direct = true;
                if (wr.prepare_write(r, {data, remaining})) return Outcome::call;
                // The sink takes nothing more: keep what fits, as below.
            }
            // Fill the buffer, then drain it. (No copy when there is no room: an empty buffer's
            // data() may be null, which memcpy must not be given.)
            if (room != 0) std::memcpy(wr.buffer_.data() + wr.end_, data, room);
            wr.end_ += room;
            written += room;
            data += room;
            remaining -= room;
        } else if (!flush || wr.end_ == 0 || wr.fixed_) {  // a fixed buffer is the destination
            return Outcome::done;
        }
        direct = false;
        if (!wr.prepare_write(r, wr.buffered())) break;
        return Outcome::call;
    }
    error = ENOBUFS;  // a sink that takes nothing more (a fixed buffer that is full)
    refused = true;
    return Outcome::failed;
}

void WriteProgress::throw_refused() const {
    std::string what = writer->fixed_ ? "corio: FixedWriter: "
                                      : "corio: Writer: the sink takes no more bytes: ";
    if (size == 0) {  // a flush
        what += std::to_string(writer->end_) + " bytes stay buffered";
    } else {
        what += size == 1 ? "1 byte does not fit" : std::to_string(size) + " bytes do not fit";
        what += ", " + std::to_string(written) + " kept";
    }
    throw IoError(io_error_code(ENOBUFS), what, written);
}

void WriteProgress::account(std::size_t n) noexcept {
    if (direct) {
        data += n;
        remaining -= n;
        written += n;
        return;
    }
    Writer& wr = *writer;
    std::memmove(wr.buffer_.data(), wr.buffer_.data() + n, wr.end_ - n);
    wr.end_ -= n;
}

WriterOperation::WriterOperation(Backend& backend, Writer& w, const void* data, std::size_t size,
                                 bool flush, std::error_code* ec) noexcept
    : IoOperation(backend, ec) {
    progress_.writer = &w;
    progress_.data = static_cast<const std::byte*>(data);
    progress_.remaining = size;
    progress_.size = size;
    progress_.flush = flush;
    step = &next;
    opcode = IoOpcode::write;
}

WriterOperation::WriterOperation(Backend& backend, Writer& w, fmt::memory_buffer&& text) noexcept
    : WriterOperation(backend, w, nullptr, 0, false) {
    scratch_ = std::move(text);
    progress_.data = reinterpret_cast<const std::byte*>(scratch_.data());
    progress_.remaining = scratch_.size();
    progress_.size = scratch_.size();
}

WriterOperation::WriterOperation(Backend& backend, Writer& w, std::size_t size) noexcept
    : WriterOperation(backend, w, nullptr, 0, false) {
    progress_.written = size;
    progress_.size = size;
}

bool WriterOperation::settle(WriteProgress::Outcome o) noexcept {
    if (o == WriteProgress::Outcome::done) finish_early(0);
    if (o == WriteProgress::Outcome::failed) finish_early(-progress_.error);
    return o == WriteProgress::Outcome::call;
}

bool WriterOperation::try_now() {
    settle(progress_.run(*this));
    return IoOperation::try_now();
}

bool WriterOperation::next(IoRequest& r) noexcept {
    auto& self = static_cast<WriterOperation&>(r);
    if (r.res < 0) return true;
    if (r.res == 0) {  // no progress: the device is full
        r.res = -ENOSPC;
        return true;
    }
    self.progress_.account(static_cast<std::size_t>(r.res));
    switch (self.progress_.run(r)) {
        case WriteProgress::Outcome::call: return false;
        case WriteProgress::Outcome::done: r.res = 0; return true;
        case WriteProgress::Outcome::failed: r.res = -self.progress_.error; return true;
    }
    return true;
}

std::size_t WriterOperation::take_result() {
    if (status() != Status::canceled && res == -ENOBUFS && progress_.refused &&
        !reports_to_error_code())
        progress_.throw_refused();
    if (status() != Status::canceled && res < 0 && progress_.written != 0 &&
        !reports_to_error_code())
        throw_partial_error(*this, static_cast<int>(-res), progress_.written);
    result();  // throws, or leaves the error in the error_code
    return progress_.written;
}

}  // namespace detail

// ---- readers and writers --------------------------------------------------------------------

namespace {

void prepare(detail::IoRequest& r, detail::IoOpcode op, int fd, const void* data,
             std::size_t size) noexcept {
    r.set(op, fd, data, size);
}

}  // namespace

FileReader::FileReader(const File& f, std::span<std::byte> buffer) noexcept
    : Reader(buffer), fd_(f.fd()) {}

bool FileReader::prepare_read(detail::IoRequest& r, std::span<std::byte> into) noexcept {
    prepare(r, detail::IoOpcode::read, fd_, into.data(), into.size());
    return true;
}

StreamReader::StreamReader(const detail::StreamSocket& s, std::span<std::byte> buffer) noexcept
    : Reader(buffer), fd_(s.fd()) {}

bool StreamReader::prepare_read(detail::IoRequest& r, std::span<std::byte> into) noexcept {
    prepare(r, detail::IoOpcode::recv, fd_, into.data(), into.size());
    return true;
}

FixedReader::FixedReader(std::span<const std::byte> data) noexcept
    : Reader(std::span(const_cast<std::byte*>(data.data()), data.size())) {
    make_fixed(data.size());  // never written: a fixed reader is never refilled or compacted
}

FileWriter::FileWriter(const File& f, std::span<std::byte> buffer) noexcept
    : Writer(buffer), fd_(f.fd()) {}

bool FileWriter::prepare_write(detail::IoRequest& r, std::span<const std::byte> data) noexcept {
    prepare(r, detail::IoOpcode::write, fd_, data.data(), data.size());
    return true;
}

StreamWriter::StreamWriter(const detail::StreamSocket& s, std::span<std::byte> buffer) noexcept
    : Writer(buffer), fd_(s.fd()) {}

bool StreamWriter::prepare_write(detail::IoRequest& r, std::span<const std::byte> data) noexcept {
    prepare(r, detail::IoOpcode::send, fd_, data.data(), data.size());
    return true;
}

}  // namespace corio
