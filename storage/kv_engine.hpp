// The ordered key-value backend under IndexedStore: a fixed set of tables
// (RocksDB column families, or std::maps), atomic multi-table write batches,
// ordered scans, and the space-reclaiming hooks that only the backend knows.
// Internal to storage/: product code sees BlockStore. Two engines exist:
// RocksDbEngine (rocksdb_store.cpp) and MemoryEngine (memory_store.cpp).
// Thread-safety: engines are internally synchronized; a KvBatch belongs to one
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "content/bytes.hpp"
#include "storage/block_file.hpp"
#include "storage/storage_error.hpp"

namespace srcgate::storage {

// Tables and what they map (the encodings are in store_codec.hpp).
enum class Table : std::uint8_t {
  meta,     // "counters" -> Counters, "max_size" -> u64
  blocks,   // multihash -> block bytes (RocksDB: integrated blob files)
  refs,     // multihash -> {reference count, block size}
  files,    // root CID -> FileRecord
  links,    // root CID -> the record's distinct block multihashes
  names,    // algo byte + digest -> root CID + file size
  lru,      // big-endian last access + root CID -> "" (unpinned records only)
  sources,  // algo byte + digest + URL -> ""
  pending,  // big-endian import id + multihash -> "": blocks not yet referenced
};
inline constexpr std::size_t kTableCount = 9;

// One atomic group of writes across tables.
class KvBatch {
 public:
  virtual ~KvBatch() = default;
  virtual void put(Table table, std::string_view key, content::ByteView value) = 0;
  virtual void del(Table table, std::string_view key) = 0;
  // Bytes of keys and values added so far.
  virtual std::size_t bytes() const = 0;
  virtual bool empty() const = 0;
};

// How a batch is written. `bulk` is for block data only (Table::blocks): the
// engine may skip its write-ahead log, and a bulk write is durable only after
// sync_bulk(). A crash may keep any subset of the unsynced bulk writes.
enum class WriteMode { logged, bulk };

// How hard compact() works.
enum class CompactMode {
  light,  // after an eviction: drop deleted keys, collect the oldest blob files
  full,   // gc: rewrite everything so that disk usage falls to the live data
};

class KvEngine {
 public:
  virtual ~KvEngine() = default;
  virtual std::string describe() const = 0;

  virtual std::unique_ptr<KvBatch> new_batch() = 0;
  [[nodiscard]] virtual Result<void> write(KvBatch& batch, WriteMode mode) = 0;
  // Makes every bulk write so far survive a crash.
  [[nodiscard]] virtual Result<void> sync_bulk() = 0;

  [[nodiscard]] virtual Result<std::optional<std::string>> get(Table table,
                                                               std::string_view key) = 0;
  // Reads a (large) value into `out`, replacing its contents; false when absent.
  [[nodiscard]] virtual Result<bool> get_into(Table table, std::string_view key,
                                              content::Bytes& out) = 0;
  // True when `key` is present, reading as little as the engine can.
  [[nodiscard]] virtual Result<bool> contains(Table table, std::string_view key) = 0;
  // The block `key` (Table::blocks) as an open file, when the engine keeps it
  // in a file of its own (RocksDbEngine: large blocks); nullopt when it is
  // absent or kept otherwise (read it with get_into).
  [[nodiscard]] virtual Result<std::optional<BlockFile>> open_block_file(std::string_view /*key*/) {
    return std::optional<BlockFile>();
  }

  // Visits keys >= `from` in byte order while `visit` returns true. Sees a
  // consistent snapshot. `visit` must not write to the engine.
  using Visitor = std::function<bool(std::string_view key, content::ByteView value)>;
  [[nodiscard]] virtual Result<void> scan(Table table, std::string_view from,
                                          const Visitor& visit) = 0;

  [[nodiscard]] virtual Result<void> compact(CompactMode mode) = 0;
  // Adapts buffer and file sizes to the store's cap (0 = unbounded), so that
  // space is reclaimed in pieces small compared to the cap.
  [[nodiscard]] virtual Result<void> tune(std::uint64_t /*max_size*/) { return {}; }
  // Bytes the engine occupies (files on disk, or keys and values in memory).
  [[nodiscard]] virtual Result<std::uint64_t> disk_bytes() = 0;
};

}  // namespace srcgate::storage
