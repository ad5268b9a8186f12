#include "server/spool_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

namespace srcgate::server {

using content::Errc;
using content::make_error;
using content::Result;

namespace {

std::string system_reason(int err) { return std::generic_category().message(err); }

// O_TMPFILE where the file system supports it; otherwise mkstemp + unlink.
// Returns the descriptor, or -errno.
int open_unlinked(const std::filesystem::path& dir) {
  int fd = -1;
#ifdef O_TMPFILE
  fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  // EISDIR/EOPNOTSUPP/EINVAL: the kernel or the file system lacks O_TMPFILE.
  if (errno != EISDIR && errno != EOPNOTSUPP && errno != EINVAL) return -errno;
#endif
  std::string name = (dir / "srcgate-spool-XXXXXX").string();
  fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return -errno;
  if (::unlink(name.c_str()) != 0) {
    const int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<SpoolFile>> SpoolFile::create(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error(Errc::not_found,
                      "spool directory " + dir.string() + " cannot be created: " + ec.message());
  }
  const int fd = open_unlinked(dir);
  if (fd < 0) {
    return make_error(Errc::not_found,
                      "cannot create a spool file in " + dir.string() + ": " + system_reason(-fd));
  }
  return std::unique_ptr<SpoolFile>(new SpoolFile(fd));
}

SpoolFile::~SpoolFile() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> SpoolFile::append(content::ByteView data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(size_ + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      return make_error(Errc::too_large, "spool file: cannot write " +
                                             std::to_string(data.size() - done) + " bytes at " +
                                             std::to_string(size_ + done) + ": " +
                                             system_reason(err));
    }
    if (n == 0) {
      return make_error(Errc::too_large, "spool file: write at " + std::to_string(size_ + done) +
                                             " made no progress");
    }
    done += static_cast<std::size_t>(n);
  }
  size_ += data.size();
  return {};
}

Result<std::size_t> SpoolFile::read_at(std::uint64_t offset, std::span<std::uint8_t> out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      return make_error(Errc::truncated, "spool file: cannot read at " +
                                             std::to_string(offset + done) + ": " +
                                             system_reason(err));
    }
    if (n == 0) break;  // the end of what was appended
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Result<void> SpoolFile::clear() {
  if (::ftruncate(fd_, 0) != 0) {
    const int err = errno;
    return make_error(Errc::too_large, "spool file: cannot truncate: " + system_reason(err));
  }
  size_ = 0;
  return {};
}

}  // namespace srcgate::server
