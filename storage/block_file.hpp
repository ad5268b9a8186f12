// BlockFile: one stored block that the store keeps in a file of its own,
// opened for reading, so that a server can send it with sendfile(2) instead of
// copying it. The block's bytes are [0, size()) of fd(). The store checked
// them against their stored checksum at least once in this process before it
// handed the file out (storage/README.md, "Block files").
// Owns the descriptor (closed on destruction); move-only; one thread at a time.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <utility>

namespace srcgate::storage {

class BlockFile {
 public:
  BlockFile(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  BlockFile(BlockFile&& o) noexcept : fd_(std::exchange(o.fd_, -1)), size_(o.size_) {}
  BlockFile& operator=(BlockFile&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
      size_ = o.size_;
    }
    return *this;
  }
  BlockFile(const BlockFile&) = delete;
  BlockFile& operator=(const BlockFile&) = delete;
  ~BlockFile() { reset(); }

  int fd() const { return fd_; }
  std::uint64_t size() const { return size_; }

 private:
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_;
  std::uint64_t size_;
};

}  // namespace srcgate::storage
