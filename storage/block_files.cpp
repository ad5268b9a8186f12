#include "storage/block_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>

#include "content/encoding.hpp"
#include "storage/crc32c.hpp"

namespace srcgate::storage {

namespace fs = std::filesystem;

namespace {

std::string errno_text(int e) { return std::system_category().message(e); }

Error io_failure(int e, std::string_view what, const fs::path& path) {
  const std::string text = std::string(what) + " " + path.string() + ": " + errno_text(e);
  if (e == ENOSPC || e == EDQUOT) return make_error(Errc::no_space, "store is full: " + text);
  return make_error(Errc::io_error, text);
}

// Closes a descriptor on every path out of a function.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

// Reads [0, size) of `fd` into `out`; the bytes read (fewer at end of file).
Result<std::uint64_t> read_all(int fd, std::uint64_t size, content::Bytes& out,
                               const fs::path& path) {
  out.resize(size);
  std::uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_failure(errno, "reading", path);
    }
    if (n == 0) break;
    done += static_cast<std::uint64_t>(n);
  }
  out.resize(done);
  return done;
}

Result<void> check(const content::Bytes& bytes, std::uint64_t size, std::uint32_t crc,
                   const fs::path& path) {
  if (bytes.size() != size) {
    return make_error(Errc::corruption, "block file " + path.string() + " holds " +
                                            std::to_string(bytes.size()) + " bytes, expected " +
                                            std::to_string(size) +
                                            " (`srcgate verify` lists every bad block)");
  }
  if (crc32c(0, bytes) != crc) {
    return make_error(Errc::corruption, "block file " + path.string() +
                                            " changed since it was written (checksum mismatch; "
                                            "`srcgate verify` lists every bad block)");
  }
  return {};
}

}  // namespace

fs::path BlockFiles::path_of(std::string_view key) const {
  const content::ByteView k = content::as_bytes(key);
  const std::string name = content::hex_encode(k);
  const std::string fan = k.empty() ? std::string("00") : content::hex_encode(k.last(1));
  return dir_ / fan / name;
}

Result<void> BlockFiles::open() {
  std::error_code ec;
  fs::create_directories(dir_ / "tmp", ec);
  if (ec) return make_error(Errc::io_error, "cannot create " + dir_.string() + ": " + ec.message());
  for (const auto& entry : fs::directory_iterator(dir_ / "tmp", ec)) {
    std::error_code rm;
    fs::remove(entry.path(), rm);
  }
  if (ec) return make_error(Errc::io_error, "listing " + dir_.string() + "/tmp: " + ec.message());
  return {};
}

Result<BlockFiles::Staged> BlockFiles::stage(std::string_view key, content::ByteView bytes) {
  static std::atomic<std::uint64_t> counter{0};
  Staged s;
  s.key = std::string(key);
  s.tmp = dir_ / "tmp" / (std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1)));
  s.size = bytes.size();
  s.crc = crc32c(0, bytes);
  // Whole 4 KiB blocks go around the page cache (see the header); the
  // bytes are copied to an aligned buffer first, as O_DIRECT requires.
  bool direct = direct_writes_.load(std::memory_order_relaxed) && !bytes.empty() &&
                bytes.size() % kDirectAlign == 0;
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  FdGuard fd{::open(s.tmp.c_str(), flags | (direct ? O_DIRECT : 0), 0644)};
  if (fd.fd < 0 && direct && errno == EINVAL) {  // tmpfs and others: no O_DIRECT
    direct_writes_ = false;
    direct = false;
    fd.fd = ::open(s.tmp.c_str(), flags, 0644);
  }
  if (fd.fd < 0) return io_failure(errno, "creating", s.tmp);
  content::ByteView from = bytes;
  if (direct) {
    thread_local std::unique_ptr<std::uint8_t, decltype(&std::free)> aligned(nullptr, &std::free);
    thread_local std::size_t capacity = 0;
    if (capacity < bytes.size()) {
      aligned.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kDirectAlign, bytes.size())));
      capacity = aligned ? bytes.size() : 0;
    }
    if (aligned) {
      std::memcpy(aligned.get(), bytes.data(), bytes.size());
      from = content::ByteView(aligned.get(), bytes.size());
    } else {
      direct = false;
      ::fcntl(fd.fd, F_SETFL, ::fcntl(fd.fd, F_GETFL) & ~O_DIRECT);
    }
  }
  std::uint64_t done = 0;
  while (done < from.size()) {
    const ssize_t n = ::write(fd.fd, from.data() + done, from.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL && direct) {
      // The file system refused the direct write: go on through the page cache.
      direct_writes_ = false;
      direct = false;
      ::fcntl(fd.fd, F_SETFL, ::fcntl(fd.fd, F_GETFL) & ~O_DIRECT);
      continue;
    }
    if (n <= 0) {
      const int e = n < 0 ? errno : ENOSPC;
      ::unlink(s.tmp.c_str());
      return io_failure(e, "writing", s.tmp);
    }
    done += static_cast<std::uint64_t>(n);
  }
  if (::close(fd.release()) != 0) {
    const int e = errno;
    ::unlink(s.tmp.c_str());
    return io_failure(e, "writing", s.tmp);
  }
  return s;
}

Result<void> BlockFiles::publish(const Staged& staged) {
  const fs::path to = path_of(staged.key);
  if (::rename(staged.tmp.c_str(), to.c_str()) == 0) return {};
  if (errno != ENOENT) return io_failure(errno, "renaming into", to);
  if (::mkdir(to.parent_path().c_str(), 0755) != 0 && errno != EEXIST) {
    return io_failure(errno, "creating", to.parent_path());
  }
  if (::rename(staged.tmp.c_str(), to.c_str()) != 0) return io_failure(errno, "renaming into", to);
  return {};
}

void BlockFiles::discard(const Staged& staged) noexcept { ::unlink(staged.tmp.c_str()); }

void BlockFiles::remove(std::string_view key) noexcept {
  ::unlink(path_of(key).c_str());
  forget_checked(key);
}

void BlockFiles::forget_checked(std::string_view key) {
  std::lock_guard lock(checked_mu_);
  checked_.erase(std::string(key));
}

Result<bool> BlockFiles::read(std::string_view key, std::uint64_t size, std::uint32_t crc,
                              content::Bytes& out) {
  const fs::path path = path_of(key);
  FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) {
    if (errno == ENOENT) return false;
    return io_failure(errno, "opening", path);
  }
  // One byte more than expected, so that a longer file is caught too.
  auto n = read_all(fd.fd, size + 1, out, path);
  if (!n) return n.error();
  if (auto c = check(out, size, crc, path); !c) return c.error();
  return true;
}

void BlockFiles::read_unchecked(std::string_view key, std::uint64_t size, content::Bytes& out) {
  const fs::path path = path_of(key);
  out.clear();
  FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) return;
  if (!read_all(fd.fd, size, out, path)) out.clear();
}

Result<BlockFile> BlockFiles::open_checked(std::string_view key, std::uint64_t size,
                                           std::uint32_t crc) {
  const fs::path path = path_of(key);
  FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) {
    if (errno == ENOENT) {
      return make_error(Errc::corruption, "block file " + path.string() +
                                              " is missing (`srcgate verify` lists every "
                                              "missing block)");
    }
    return io_failure(errno, "opening", path);
  }
  bool known;
  {
    std::lock_guard lock(checked_mu_);
    known = checked_.contains(std::string(key));
  }
  if (!known) {
    thread_local content::Bytes buffer;
    auto n = read_all(fd.fd, size + 1, buffer, path);
    if (!n) return n.error();
    if (auto c = check(buffer, size, crc, path); !c) return c.error();
    if (buffer.capacity() > (std::size_t{2} << 20)) content::Bytes().swap(buffer);
    std::lock_guard lock(checked_mu_);
    if (checked_.size() >= kCheckedKeys) checked_.clear();
    checked_.emplace(key);
  }
  return BlockFile(fd.release(), size);
}

Result<std::uint64_t> BlockFiles::sweep(const std::function<bool(std::string_view)>& known) {
  std::uint64_t removed = 0;
  std::error_code ec;
  for (const auto& fan : fs::directory_iterator(dir_, ec)) {
    if (fan.path().filename() == "tmp") continue;
    std::error_code fan_ec;
    if (!fan.is_directory(fan_ec)) continue;
    for (const auto& entry : fs::directory_iterator(fan.path(), fan_ec)) {
      auto key = content::hex_decode(entry.path().filename().string());
      if (key && known(content::as_chars(*key))) continue;
      std::error_code rm;
      if (fs::remove(entry.path(), rm)) {
        ++removed;
        if (key) forget_checked(content::as_chars(*key));
      }
    }
    if (fan_ec) {
      return make_error(Errc::io_error, "listing " + fan.path().string() + ": " + fan_ec.message());
    }
  }
  if (ec) return make_error(Errc::io_error, "listing " + dir_.string() + ": " + ec.message());
  return removed;
}

}  // namespace srcgate::storage
