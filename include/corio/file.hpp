// SPDX-License-Identifier: MIT
// Files: descriptors owned by a File, and every operation on them an awaitable on any backend.
#pragma once

#include <corio/detail/io_ops.hpp>
#include <corio/export.hpp>
#include <corio/io.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace corio {

class File;

/// What `File::stat` reports.
struct FileStat {
    std::uint64_t size = 0;
    std::uint32_t mode = 0;  // the type and permission bits, as st_mode
    std::uint64_t inode = 0;
    std::uint32_t links = 0;
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::chrono::system_clock::time_point accessed{};
    std::chrono::system_clock::time_point modified{};
    std::chrono::system_clock::time_point changed{};

    [[nodiscard]] bool is_regular() const noexcept { return S_ISREG(mode); }
    [[nodiscard]] bool is_directory() const noexcept { return S_ISDIR(mode); }
};

/// How `File::open` opens an existing file.
enum class OpenMode : unsigned char { read_only, write_only, read_write };

/// How `File::create` creates (or truncates) a file.
struct CreateOptions {
    /// Empty an existing file (else writes go over its bytes from the start).
    bool truncate = true;
    /// Fail with `std::errc::file_exists` when the file exists.
    bool exclusive = false;
    /// Open for reading too.
    bool read = false;
    /// The permission bits of a new file, before the umask.
    std::uint32_t permissions = 0666;
};

namespace detail {

/// The open and create operations: the new File.
class [[nodiscard]] OpenOperation final : public IoOperation<OpenOperation> {
  public:
    OpenOperation(Backend& backend, const std::filesystem::path& p, int open_flags,
                  std::uint32_t permissions, std::error_code* ec = nullptr) noexcept
        : IoOperation(backend, ec) {
        opcode = IoOpcode::openat;
        args.open = {p.c_str(), permissions};
        flags = open_flags;
    }
    File take_result();
};

/// stat and size: one statx call on the descriptor.
template <class R>
class [[nodiscard]] StatOperation final : public IoOperation<StatOperation<R>> {
  public:
    StatOperation(Backend& backend, int fd_, std::error_code* ec = nullptr) noexcept
        : IoOperation<StatOperation<R>>(backend, ec) {
        this->opcode = IoOpcode::statx;
        this->fd = fd_;
        this->args.stat = {&stx_, std::is_same_v<R, std::uint64_t> ? STATX_SIZE
                                                                     : STATX_BASIC_STATS};
    }
    R take_result() {
        if (this->result() < 0) return R{};
        if constexpr (std::is_same_v<R, std::uint64_t>) {
            return stx_.stx_size;
        } else {
            return to_file_stat(stx_);
        }
    }

  private:
    static std::chrono::system_clock::time_point time_of(const statx_timestamp& t) noexcept {
        return std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec)));
    }
    static FileStat to_file_stat(const struct statx& s) noexcept {
        FileStat f;
        f.size = s.stx_size;
        f.mode = s.stx_mode;
        f.inode = s.stx_ino;
        f.links = s.stx_nlink;
        f.uid = s.stx_uid;
        f.gid = s.stx_gid;
        f.accessed = time_of(s.stx_atime);
        f.modified = time_of(s.stx_mtime);
        f.changed = time_of(s.stx_ctime);
        return f;
    }

    struct statx stx_ {};
};

/// read_file: open, size, reads to the end, close; the contents.
class [[nodiscard]] CORIO_EXPORT ReadFileOperation final : public IoOperation<ReadFileOperation> {
  public:
    ReadFileOperation(Backend& backend, const std::filesystem::path& p,
                      std::error_code* ec = nullptr);
    std::string take_result();

  private:
    static bool next(IoRequest& r) noexcept;
    bool start_read() noexcept;
    bool end(std::int64_t outcome) noexcept;

    enum class Stage : unsigned char { open, size, read } stage_ = Stage::open;
    struct statx stx_ {};
    std::string data_;
    std::size_t got_ = 0;
};

/// write_file: create (truncating), writes of every byte, close.
class [[nodiscard]] CORIO_EXPORT WriteFileOperation final : public IoOperation<WriteFileOperation> {
  public:
    WriteFileOperation(Backend& backend, const std::filesystem::path& p,
                       std::span<const std::byte> bytes, std::error_code* ec = nullptr) noexcept;
    void take_result();

  private:
    static bool next(IoRequest& r) noexcept;
    bool end(std::int64_t outcome) noexcept;

    bool opened_ = false;
    const std::byte* data_;
    std::size_t size_;
    std::size_t written_ = 0;
};

}  // namespace detail

/// An open file (or any descriptor read and written as a stream: a pipe, a terminal). Owns its
/// descriptor: the destructor closes it without waiting; `close(io)` waits and reports errors.
/// Every operation returns an awaitable (`.await()` in plain code, `co_await` in a Task); paths
/// and buffers are referred to, not copied, so await the operation in the expression that
/// creates it. Each operation has a non-throwing overload that takes a `std::error_code&`.
///
/// Errors: std::system_error with the system's code (`std::errc::no_such_file_or_directory`,
/// `permission_denied`, ...) and a message naming the call; an operation on a closed or
/// moved-from File throws UsageError (`std::errc::bad_file_descriptor`).
class CORIO_EXPORT File : public detail::Descriptor {
  public:
    using Descriptor::Descriptor;

    /// Opens an existing file.
    [[nodiscard]] static detail::OpenOperation open(Io io, const std::filesystem::path& path,
                                                    OpenMode mode = OpenMode::read_only) noexcept {
        return {io.backend(), path, open_flags(mode), 0};
    }
    [[nodiscard]] static detail::OpenOperation open(Io io, const std::filesystem::path& path,
                                                    OpenMode mode, std::error_code& ec) noexcept {
        return {io.backend(), path, open_flags(mode), 0, &ec};
    }
    /// Creates a file for writing (or truncates it; see CreateOptions).
    [[nodiscard]] static detail::OpenOperation create(Io io, const std::filesystem::path& path,
                                                      CreateOptions options = {}) noexcept {
        return {io.backend(), path, create_flags(options), options.permissions};
    }
    [[nodiscard]] static detail::OpenOperation create(Io io, const std::filesystem::path& path,
                                                      CreateOptions options,
                                                      std::error_code& ec) noexcept {
        return {io.backend(), path, create_flags(options), options.permissions, &ec};
    }
    /// A pipe: {read end, write end}. Throws std::system_error (EMFILE, ENFILE).
    static std::pair<File, File> pipe();

    /// Reads at the file position: the count, 0 at the end of the file.
    [[nodiscard]] detail::TransferOperation read(Io io, std::span<std::byte> buf) const noexcept {
        return {io.backend(), detail::IoOpcode::read, fd_, buf.data(), buf.size()};
    }
    [[nodiscard]] detail::TransferOperation read(Io io, std::span<std::byte> buf,
                                                 std::error_code& ec) const noexcept {
        return {io.backend(), detail::IoOpcode::read, fd_, buf.data(), buf.size(), -1, 0, &ec};
    }
    /// Writes at the file position: the count, which may be short.
    [[nodiscard]] detail::TransferOperation write(Io io,
                                                  std::span<const std::byte> buf) const noexcept {
        return {io.backend(), detail::IoOpcode::write, fd_, buf.data(), buf.size()};
    }
    [[nodiscard]] detail::TransferOperation write(Io io, std::span<const std::byte> buf,
                                                  std::error_code& ec) const noexcept {
        return {io.backend(), detail::IoOpcode::write, fd_, buf.data(), buf.size(), -1, 0, &ec};
    }
    /// Reads at `offset`, leaving the file position alone.
    [[nodiscard]] detail::TransferOperation pread(Io io, std::span<std::byte> buf,
                                                  std::uint64_t offset) const noexcept {
        return {io.backend(), detail::IoOpcode::read, fd_, buf.data(), buf.size(),
                static_cast<std::int64_t>(offset)};
    }
    [[nodiscard]] detail::TransferOperation pread(Io io, std::span<std::byte> buf,
                                                  std::uint64_t offset,
                                                  std::error_code& ec) const noexcept {
        return {io.backend(), detail::IoOpcode::read,           fd_, buf.data(), buf.size(),
                static_cast<std::int64_t>(offset), 0, &ec};
    }
    /// Writes at `offset`, leaving the file position alone.
    [[nodiscard]] detail::TransferOperation pwrite(Io io, std::span<const std::byte> buf,
                                                   std::uint64_t offset) const noexcept {
        return {io.backend(), detail::IoOpcode::write, fd_, buf.data(), buf.size(),
                static_cast<std::int64_t>(offset)};
    }
    [[nodiscard]] detail::TransferOperation pwrite(Io io, std::span<const std::byte> buf,
                                                   std::uint64_t offset,
                                                   std::error_code& ec) const noexcept {
        return {io.backend(), detail::IoOpcode::write,          fd_, buf.data(), buf.size(),
                static_cast<std::int64_t>(offset), 0, &ec};
    }
    /// Scatter and gather, at the file position, or at `offset` when given.
    [[nodiscard]] detail::TransferOperation readv(Io io, std::span<const iovec> bufs,
                                                  std::int64_t offset = -1) const noexcept {
        return {io.backend(), detail::IoOpcode::readv, fd_, bufs.data(), bufs.size(), offset};
    }
    [[nodiscard]] detail::TransferOperation writev(Io io, std::span<const iovec> bufs,
                                                   std::int64_t offset = -1) const noexcept {
        return {io.backend(), detail::IoOpcode::writev, fd_, bufs.data(), bufs.size(), offset};
    }
    [[nodiscard]] detail::TransferOperation readv(Io io, std::span<const iovec> bufs,
                                                  std::int64_t offset,
                                                  std::error_code& ec) const noexcept {
        return {io.backend(), detail::IoOpcode::readv, fd_, bufs.data(), bufs.size(), offset, 0, &ec};
    }
    [[nodiscard]] detail::TransferOperation writev(Io io, std::span<const iovec> bufs,
                                                   std::int64_t offset,
                                                   std::error_code& ec) const noexcept {
        return {io.backend(), detail::IoOpcode::writev, fd_, bufs.data(), bufs.size(), offset, 0, &ec};
    }
    /// Writes every byte (at `offset` when given): the count; IoError after a partial write.
    [[nodiscard]] detail::WriteAllOperation write_all(Io io, std::span<const std::byte> buf,
                                                      std::int64_t offset = -1) const noexcept {
        return {io.backend(), detail::IoOpcode::write, fd_, buf.data(), buf.size(), offset};
    }
    [[nodiscard]] detail::WriteAllOperation write_all(Io io, std::string_view text) const noexcept {
        return {io.backend(), detail::IoOpcode::write, fd_, text.data(), text.size()};
    }
    [[nodiscard]] detail::WriteAllOperation write_all(Io io, std::span<const std::byte> buf,
                                                      std::error_code& ec) const noexcept {
        return {io.backend(), detail::IoOpcode::write, fd_, buf.data(), buf.size(), -1, &ec};
    }
    /// Flushes the file's data and metadata to the device (`data_only`: as fdatasync).
    [[nodiscard]] detail::CallOperation sync(Io io, bool data_only = false) const noexcept {
        return {io.backend(), detail::IoOpcode::fsync, fd_, data_only ? 1 : 0};
    }
    [[nodiscard]] detail::CallOperation sync(Io io, bool data_only,
                                             std::error_code& ec) const noexcept {
        return {io.backend(), detail::IoOpcode::fsync, fd_, data_only ? 1 : 0, &ec};
    }
    [[nodiscard]] detail::StatOperation<FileStat> stat(Io io) const noexcept {
        return {io.backend(), fd_};
    }
    [[nodiscard]] detail::StatOperation<FileStat> stat(Io io, std::error_code& ec) const noexcept {
        return {io.backend(), fd_, &ec};
    }
    /// The size in bytes.
    [[nodiscard]] detail::StatOperation<std::uint64_t> size(Io io) const noexcept {
        return {io.backend(), fd_};
    }
    [[nodiscard]] detail::StatOperation<std::uint64_t> size(Io io,
                                                        std::error_code& ec) const noexcept {
        return {io.backend(), fd_, &ec};
    }
  private:
    static int open_flags(OpenMode mode) noexcept {
        return mode == OpenMode::read_only    ? O_RDONLY
               : mode == OpenMode::write_only ? O_WRONLY
                                              : O_RDWR;
    }
    static int create_flags(const CreateOptions& o) noexcept {
        return (o.read ? O_RDWR : O_WRONLY) | O_CREAT | (o.truncate ? O_TRUNC : 0) |
               (o.exclusive ? O_EXCL : 0);
    }
};

/// Reads a whole file: its bytes. The operation opens, reads and closes it; a read that fails
/// after some bytes throws IoError with their count.
[[nodiscard]] inline detail::ReadFileOperation read_file(Io io, const std::filesystem::path& path) {
    return {io.backend(), path};
}
[[nodiscard]] inline detail::ReadFileOperation read_file(Io io, const std::filesystem::path& path,
                                                        std::error_code& ec) {
    return {io.backend(), path, &ec};
}
/// Creates (or truncates) a file and writes `bytes` to it.
[[nodiscard]] inline detail::WriteFileOperation write_file(Io io, const std::filesystem::path& path,
                                                          std::span<const std::byte> bytes) noexcept {
    return {io.backend(), path, bytes};
}
[[nodiscard]] inline detail::WriteFileOperation write_file(Io io, const std::filesystem::path& path,
                                                          std::string_view text) noexcept {
    return {io.backend(), path, std::as_bytes(std::span(text.data(), text.size()))};
}
[[nodiscard]] inline detail::WriteFileOperation write_file(Io io, const std::filesystem::path& path,
                                                          std::span<const std::byte> bytes,
                                                          std::error_code& ec) noexcept {
    return {io.backend(), path, bytes, &ec};
}

inline File detail::OpenOperation::take_result() {
    const std::int64_t r = result();
    return r < 0 ? File() : File(static_cast<int>(r));
}

}  // namespace corio
