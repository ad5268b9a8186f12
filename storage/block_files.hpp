// BlockFiles: the directory in which RocksDbEngine keeps large blocks, one
// file per block, so that hits can be sent with sendfile(2) (no copy out of
// RocksDB's blob files, no copy into the socket). Engine-internal: the engine
// records each file's size and CRC-32C in RocksDB and decides which blocks
// live here; this class only knows files.
//
// Layout: <dir>/<xx>/<hex of the key>, where xx is the key's last byte in hex
// (256 fan-out directories, made on first use), and <dir>/tmp/ for files
// being written. A file is written under tmp/ (stage), renamed to its final
// name when the batch that records it commits (publish), and unlinked after
// the batch that forgets it commits (remove). So a file under its final name
// is always whole; a crash leaves at most staged files (emptied by open())
// and files that no record names (removed by sweep(), in gc).
//
// Writes: a block whose size is a multiple of 4 KiB (every full chunk) is
// written with O_DIRECT, around the page cache. Measured on the development
// VM (bench/README.md, "Store"): buffered writes of new files cost about
// 1 CPU-second per GiB in the kernel's page-cache copy, direct ones about 0.1;
// the bytes go to the disk at once, so the sync before a bulk commit has
// little left to do, and the first hit reads them from the disk. Other sizes,
// and file systems without O_DIRECT (tmpfs), go through the page cache.
//
// Checked set: open_checked() verifies a file's CRC-32C the first time it
// hands the file out in this process and remembers the key (up to
// kCheckedKeys keys, then it starts over), so that a file is not read twice
// per request; read() checks every time.
//
// Thread-safety: every method may be called from any thread. The engine
// serializes publish/remove of a key with its RocksDB writes.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "content/bytes.hpp"
#include "storage/block_file.hpp"
#include "storage/storage_error.hpp"

namespace srcgate::storage {

class BlockFiles {
 public:
  static constexpr std::size_t kCheckedKeys = std::size_t{1} << 18;
  // Blocks whose size is a multiple of this are written with O_DIRECT.
  static constexpr std::size_t kDirectAlign = 4096;

  // A block written under tmp/, not yet under its name.
  struct Staged {
    std::string key;
    std::filesystem::path tmp;
    std::uint64_t size = 0;
    std::uint32_t crc = 0;
  };

  explicit BlockFiles(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Creates the directory and tmp/, and empties tmp/.
  [[nodiscard]] Result<void> open();

  // Writes `bytes` to a new file under tmp/. Errc::no_space when the disk is full.
  [[nodiscard]] Result<Staged> stage(std::string_view key, content::ByteView bytes);
  // Renames a staged file to its final name (replacing a file of the same key,
  // which holds the same bytes).
  [[nodiscard]] Result<void> publish(const Staged& staged);
  // Unlinks a staged file that will not be published.
  void discard(const Staged& staged) noexcept;
  // Unlinks the file of `key`, if any.
  void remove(std::string_view key) noexcept;

  // Reads the whole file of `key` into `out` and checks it against `size` and
  // `crc`. False when there is no file; Errc::corruption when it differs.
  [[nodiscard]] Result<bool> read(std::string_view key, std::uint64_t size, std::uint32_t crc,
                                  content::Bytes& out);
  // Reads as much of the file as there is (at most `size` bytes), unchecked,
  // for verify()'s re-hash, which names bad blocks itself.
  void read_unchecked(std::string_view key, std::uint64_t size, content::Bytes& out);
  // The file of `key`, opened, checked once per process (see above).
  // Errc::corruption when it is missing or differs from `size` and `crc`.
  [[nodiscard]] Result<BlockFile> open_checked(std::string_view key, std::uint64_t size,
                                               std::uint32_t crc);

  // Unlinks every final file whose key `known` says no record names; the
  // number removed.
  [[nodiscard]] Result<std::uint64_t> sweep(const std::function<bool(std::string_view)>& known);

  // Disk space that a file of `size` bytes takes (whole 4 KiB blocks).
  static std::uint64_t footprint(std::uint64_t size) { return (size + 4095) / 4096 * 4096; }

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path path_of(std::string_view key) const;
  void forget_checked(std::string_view key);

  const std::filesystem::path dir_;
  std::atomic<bool> direct_writes_{true};  // false once the file system refused O_DIRECT
  std::mutex checked_mu_;
  std::unordered_set<std::string> checked_;
};

}  // namespace srcgate::storage
