// The content-addressed block store that every hit is served from: blocks keyed
// by multihash, files (UnixFS DAG roots) that reference blocks, the name index
// (md5/sha1/sha256/sha512 of a file -> root CID and size), the source index
// (a hash -> URLs it may be fetched from), pins, access recency and a size cap
// enforced by LRU eviction.
//
// Model. A *block* is stored once per multihash, whatever the CID codec. A
// *file record* is a root CID plus the distinct blocks of its DAG; every block
// of a record holds one reference, and a block is deleted only when no record
// references it (files share blocks). Records created by `begin_import` are
// complete UnixFS files with their four digests, and the name index points at
// them; records created by `begin_car_import` hold what a CAR brought for one
// root and carry digests only when the root is a complete UnixFS file.
// Blocks never become visible under a name before the record that references
// them: an import writes its blocks first and commits the record, its
// references and its names in one atomic batch. Blocks written by an import
// that never committed (crash, abort, bad CAR) are unreferenced; the store
// removes them on abort, at open and in gc(), and no name ever points at them.
//
// Size. Logical bytes = the bytes of all referenced blocks, each counted once.
// Overhead = what the backend occupies beyond them (uncollected garbage, logs,
// metadata). With max_size set, a commit that takes logical bytes + overhead
// over high_watermark * max_size evicts the least recently used unpinned
// records until logical bytes + overhead are at most low_watermark *
// max_size, then lets the backend collect the garbage. So the cap bounds the
// disk usage, up to what the backend needs beyond the live data between two
// commits. Counters (files, blocks, logical
// and pinned bytes) are updated in the same batch as the change, so opening a
// store reads them instead of scanning it.
//
// Recency. touch() (and read_file()) record an access in memory only; accesses
// reach the backend in one batch on flush(), before an eviction, when many are
// pending, and on destruction. A crash loses at most the unflushed accesses.
// Recency is a logical clock (a counter), not wall time.
//
// Thread-safety: a BlockStore is internally synchronized; any method may be
// called from any thread. FileImport and CarImport objects are used by one
// thread at a time, and must not outlive their store.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "content/block_source.hpp"
#include "content/bytes.hpp"
#include "content/cid.hpp"
#include "content/digest.hpp"
#include "content/file_hasher.hpp"
#include "content/importer.hpp"
#include "storage/block_file.hpp"
#include "storage/storage_error.hpp"

namespace srcgate::storage {

// How a store is opened (both backends).
struct StoreOptions {
  // The size cap. nullopt keeps the cap that this store recorded last (none:
  // unbounded); a value is recorded in the store, so later commands and the
  // server use it too. 0 means unbounded.
  std::optional<std::uint64_t> max_size;
  double high_watermark = 0.95;
  double low_watermark = 0.85;
  // An import sends its blocks through the logged path until they exceed
  // bulk_after_bytes (counted per batch of about 4 MiB); beyond that, in bulk
  // (RocksDB: without the WAL, flushed before the commit). Tests lower it to
  // exercise both paths with small files.
  std::uint64_t bulk_after_bytes = 64ull << 20;
};

// The cap and watermarks in force. max_size 0 means unbounded.
struct StoreLimits {
  std::uint64_t max_size = 0;    // bytes; bounds logical bytes, and so disk usage
  double high_watermark = 0.95;  // fraction of max_size that triggers eviction on commit
  double low_watermark = 0.85;   // fraction of max_size that eviction goes down to
};

// What the name index says about one digest.
struct NameEntry {
  content::Cid root;
  std::uint64_t size = 0;  // file bytes
};

struct FileRecord {
  explicit FileRecord(content::Cid r) : root(std::move(r)) {}
  content::Cid root;
  std::uint64_t size = 0;          // UnixFS file bytes; 0 when the root is not a complete file
  std::uint64_t stored_bytes = 0;  // bytes of the distinct blocks this record references
  std::uint64_t block_count = 0;   // distinct blocks this record references
  bool pinned = false;
  std::uint64_t last_access = 0;                // logical clock; larger is more recent
  std::optional<content::FileDigests> digests;  // set for complete UnixFS files
};

struct StoreStats {
  std::uint64_t files = 0;          // file records
  std::uint64_t blocks = 0;         // distinct referenced blocks
  std::uint64_t logical_bytes = 0;  // bytes of the distinct referenced blocks
  std::uint64_t disk_bytes = 0;     // bytes the backend occupies (RocksDB: its directory)
  std::uint64_t pinned_bytes = 0;   // sum of stored_bytes of pinned records (shared blocks count
                                    // once per pinned record)
  std::uint64_t max_size = 0;       // the cap in force; 0 = unbounded
  std::uint64_t evicted_files = 0;  // records evicted since this store was opened
  std::uint64_t evicted_bytes = 0;  // logical bytes those evictions freed
};

struct EvictionReport {
  std::uint64_t files = 0;          // records evicted
  std::uint64_t blocks = 0;         // blocks deleted
  std::uint64_t bytes = 0;          // logical bytes freed
  std::uint64_t orphan_blocks = 0;  // unreferenced blocks of dead imports removed (gc only)
};

struct VerifyProblem {
  std::string key;      // the block's multihash in hex, or the record's root CID
  std::string problem;  // "bytes do not hash to the key", "referenced block is missing", ...
};

struct VerifyReport {
  std::uint64_t blocks_checked = 0;
  std::uint64_t bytes_checked = 0;
  std::uint64_t unreferenced_blocks = 0;  // blocks of dead imports (gc removes them); not a problem
  std::vector<VerifyProblem> problems;
  bool ok() const { return problems.empty(); }
};

// What commit() made of a file import.
struct ImportedFile {
  content::FileSummary summary;
  bool already_stored = false;  // the root was stored before; nothing was written
};

// One streaming file import: bytes in, UnixFS blocks to the store as they are
// produced (memory stays bounded by one chunk plus one batch of blocks),
// digests and root at finish(), visibility at commit(). Destroying an import
// that was not committed aborts it.
class FileImport {
 public:
  virtual ~FileImport() = default;
  // Feeds the next slice of the file. After an error (disk full) the import is
  // dead: further calls return the same error; abort or destroy it.
  [[nodiscard]] virtual Result<void> write(content::ByteView data) = 0;
  // Finishes hashing, writes the last blocks and makes them durable. Nothing is
  // visible yet: the caller can compare the digests to what it expected and
  // abort on a mismatch.
  [[nodiscard]] virtual Result<content::FileSummary> finish() = 0;
  // Makes the file visible atomically (record, references, names), then evicts
  // if the store went over its high watermark. REQUIRES: finish() succeeded.
  [[nodiscard]] virtual Result<ImportedFile> commit() = 0;
  // Drops the blocks this import wrote that nothing else references.
  virtual void abort() = 0;
};

// What one root of an imported CAR became.
struct CarRoot {
  explicit CarRoot(content::Cid r) : root(std::move(r)) {}
  content::Cid root;
  bool present = false;        // the root block was in the CAR (or already stored)
  bool complete_file = false;  // a UnixFS file (or raw block) whose every block is present
  std::uint64_t size = 0;      // file bytes when complete_file
  std::optional<content::FileDigests> digests;  // when complete_file
  std::uint64_t block_count = 0;                // distinct blocks in the record
};

struct ImportedCar {
  std::vector<CarRoot> roots;
  std::uint64_t blocks = 0;  // distinct blocks in the CAR (identity CIDs excluded)
  std::uint64_t bytes = 0;   // their bytes
};

// One streaming CAR import. Every block is checked against its CID before it
// is written; a bad block or a malformed CAR fails the whole import with the
// section's byte offset in the message, and aborting then removes every block
// that this import wrote, so nothing of the CAR remains.
class CarImport {
 public:
  virtual ~CarImport() = default;
  [[nodiscard]] virtual Result<void> write(content::ByteView data) = 0;
  // Ends the stream, checks each root (present? complete UnixFS file? digests)
  // and commits one record per present root atomically. Blocks reachable from
  // no root through dag-pb links join the first root's record.
  [[nodiscard]] virtual Result<ImportedCar> commit() = 0;
  virtual void abort() = 0;
};

class BlockStore {
 public:
  virtual ~BlockStore() = default;

  // "rocksdb store at DIR" or "memory store": for messages.
  virtual std::string describe() const = 0;

  // --- blocks -------------------------------------------------------------
  // The block named by `cid`'s multihash; nullopt when absent. Bytes were
  // verified when stored (the backend's checksums guard them since; verify()
  // re-hashes). Identity CIDs return their inline digest.
  [[nodiscard]] virtual Result<std::optional<content::Bytes>> get_block(
      const content::Cid& cid) = 0;
  [[nodiscard]] virtual Result<bool> has_block(const content::Cid& cid) = 0;
  // The block as an open file, for sending without a copy, when the backend
  // keeps it in a file of its own (the RocksDB store: blocks of
  // RocksDbOptions::min_file_block_size bytes or more); nullopt when it is
  // absent or kept otherwise (read it with get_block). Errc::corruption when
  // the file is missing or its bytes changed.
  [[nodiscard]] virtual Result<std::optional<BlockFile>> open_block_file(const content::Cid& cid) {
    (void)cid;
    return std::optional<BlockFile>();
  }

  // --- names and records -----------------------------------------------------
  [[nodiscard]] virtual Result<std::optional<NameEntry>> lookup(const content::Digest& digest) = 0;
  [[nodiscard]] virtual Result<std::optional<FileRecord>> record(const content::Cid& root) = 0;
  // Visits every name entry in key order until `visit` returns false. The
  // visitor must not call back into the store.
  [[nodiscard]] virtual Result<void> for_each_name(
      const std::function<bool(const content::Digest&, const NameEntry&)>& visit) = 0;
  // Visits every file record in root-CID order; same rules as for_each_name.
  [[nodiscard]] virtual Result<void> for_each_record(
      const std::function<bool(const FileRecord&)>& visit) = 0;

  // Records an access to a stored root (memory only; see Recency above).
  // Unknown roots are ignored when accesses are flushed.
  virtual void touch(const content::Cid& root) = 0;
  // Writes pending accesses to the backend.
  [[nodiscard]] virtual Result<void> flush() = 0;
  // A number that changes after every change that may make lookup() of some
  // digest answer otherwise than before (a commit that writes names, an
  // eviction or gc that removes them), and is read with one atomic load. A
  // caller that keeps lookup() answers (the server's HitCache) reads it
  // before the lookup and may reuse the answer while it has not changed.
  // The default changes at every call, so nothing may be reused.
  virtual std::uint64_t names_generation() const {
    static std::atomic<std::uint64_t> calls{0};
    return calls.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  // Streams bytes [begin, end) of the UnixFS file `root` into `sink` (one
  // block's slice per call) and touches `root`. Errc::not_found when the root
  // block is absent; a missing inner block is Errc::corruption.
  using Sink = std::function<Result<void>(content::ByteView)>;
  [[nodiscard]] virtual Result<void> read_file(const content::Cid& root, std::uint64_t begin,
                                               std::uint64_t end, const Sink& sink) = 0;

  // --- import ------------------------------------------------------------------
  virtual std::unique_ptr<FileImport> begin_import(const content::ImportProfile& profile) = 0;
  virtual std::unique_ptr<CarImport> begin_car_import() = 0;

  // --- pins ----------------------------------------------------------------------
  // Pinned records are never evicted. Errc::not_found when `root` has no record.
  // Pinning a pinned record (or unpinning an unpinned one) is a no-op.
  [[nodiscard]] virtual Result<void> pin(const content::Cid& root) = 0;
  [[nodiscard]] virtual Result<void> unpin(const content::Cid& root) = 0;

  // --- source index -------------------------------------------------------------
  // URLs the miss path may fetch `digest` from; kept independently of whether
  // the file is stored. Adding an existing URL is a no-op.
  [[nodiscard]] virtual Result<void> add_source(const content::Digest& digest,
                                                std::string_view url) = 0;
  [[nodiscard]] virtual Result<void> remove_source(const content::Digest& digest,
                                                   std::string_view url) = 0;
  // At most `limit` URLs, in byte order.
  [[nodiscard]] virtual Result<std::vector<std::string>> sources(const content::Digest& digest,
                                                                 std::size_t limit = 64) = 0;
  // Visits every digest that has URLs, with all of its URLs (in byte order), in
  // key order: by multihash code byte (sha1 0x11 < sha256 0x12 < sha512 0x13 <
  // md5 0xd5), then by digest bytes; until `visit` returns false. Sees a
  // consistent snapshot. The visitor must not call back into the store.
  [[nodiscard]] virtual Result<void> for_each_source(
      const std::function<bool(const content::Digest&, const std::vector<std::string>&)>&
          visit) = 0;

  // --- size ------------------------------------------------------------------------
  [[nodiscard]] virtual Result<StoreStats> stats() = 0;
  virtual StoreLimits limits() const = 0;
  // Evicts least recently used unpinned records until logical bytes <= target
  // (or nothing evictable is left), then lets the backend reclaim the space.
  [[nodiscard]] virtual Result<EvictionReport> evict_to(std::uint64_t target_logical_bytes) = 0;
  // Removes blocks of dead imports, evicts down to the low watermark (when
  // max_size is set) and compacts fully so that disk usage drops to about
  // the logical bytes.
  [[nodiscard]] virtual Result<EvictionReport> gc() = 0;

  // Re-hashes every stored block against its multihash, checks that every
  // referenced block exists and that the counters match the references.
  // `on_problem` (may be empty) sees each problem as it is found.
  [[nodiscard]] virtual Result<VerifyReport> verify(
      const std::function<void(const VerifyProblem&)>& on_problem) = 0;

  // FOR TESTS ONLY: stores `bytes` under `cid`'s multihash without checking
  // them, to simulate on-disk corruption. Never call it from product code.
  [[nodiscard]] virtual Result<void> overwrite_block_for_testing(const content::Cid& cid,
                                                                 content::ByteView bytes) = 0;
};

// A content::BlockSource over a BlockStore (for UnixfsReader and CAR writers).
// Storage errors become content errors (see to_content); the last one is kept
// so that callers can recover the storage code. As thread-safe as the store for
// get(); last_error() belongs to the thread that called get().
class StoreBlockSource final : public content::BlockSource {
 public:
  explicit StoreBlockSource(BlockStore& store) : store_(store) {}
  content::Result<std::optional<content::Bytes>> get(const content::Cid& cid) override;
  const std::optional<Error>& last_error() const { return last_error_; }

 private:
  BlockStore& store_;
  std::optional<Error> last_error_;
};

// The root CID that `text` names: a CID, or a hash of a stored file given as
// "algo:hash", SRI "algo-base64", or bare hex whose length names the algorithm
// (32 md5, 40 sha1, 64 sha256, 128 sha512), looked up in the name index.
// Errc::invalid_input for text that is neither; Errc::not_found for a hash the
// store does not have. Used by the CLI and the admin API for pin/unpin/export.
[[nodiscard]] Result<content::Cid> resolve_root(BlockStore& store, std::string_view text);

}  // namespace srcgate::storage
