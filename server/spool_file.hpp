// SpoolFile: an anonymous temporary file that an arriving upstream body spills
// to, so that memory stays bounded whatever the object size. It is created
// unlinked (O_TMPFILE, or mkstemp + unlink where the file system lacks it),
// so nothing is left behind by a crash, and it disappears when closed.
// One writer appends; any number of readers read at offsets below what has
// been appended (pread), concurrently with the writer.
// Thread-safety: append() from one thread at a time; read_at() from any
// thread, for offsets the caller knows were appended (the caller publishes
// the appended size to readers under its own lock).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "content/bytes.hpp"
#include "content/error.hpp"

namespace srcgate::server {

class SpoolFile {
 public:
  // Creates the file in `dir` (created if missing). Errors name the directory
  // and the system's reason.
  static content::Result<std::unique_ptr<SpoolFile>> create(const std::filesystem::path& dir);
  ~SpoolFile();
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;

  // Appends `data` at the end. Errors (disk full) say so.
  content::Result<void> append(content::ByteView data);
  // Reads up to out.size() bytes at `offset` into `out`; returns how many
  // (fewer only at the end of what was appended).
  content::Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) const;
  // Drops the contents (for the next upstream after a failure).
  content::Result<void> clear();
  std::uint64_t size() const { return size_; }

 private:
  explicit SpoolFile(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

}  // namespace srcgate::server
