// RocksDbEngine: the KvEngine of the production store, one column family per
// Table. Design notes (measurements in bench/README.md, section "Store"):
//
// - blocks: integrated BlobDB (enable_blob_files). Values of min_blob_size
//   (4 KiB) and more live in blob files, so compactions move keys, not
//   megabytes. Blob compression: none. Measured (`srcgate_store_bench DIR
//   compression`, 270.6 MiB of .deb/.tgz/.gz/.xz archives of 64 KiB or more,
//   the shape of source tarballs): disk/input after gc 1.001 with none, 1.005
//   with LZ4 (larger), 1.001 with ZSTD, for 5% (LZ4) and 15% (ZSTD) more
//   import CPU. On small .gz man pages ZSTD saved 5.8%; tarballs are not that.
// - blob garbage: automatic compactions do not relocate blobs
//   (enable_blob_garbage_collection off): with GC on they kept copying the
//   live blobs of the oldest files before anything was deleted, which took
//   the eviction test's disk usage to 1.2x the cap. After an eviction,
//   compact(light) first compacts without GC (deletions meet their blob
//   references, all-garbage blob files are dropped, the others' garbage is
//   counted), then relocates the live blobs of the oldest blob files, as far
//   as they free at least as much garbage as they copy (age cutoff chosen
//   from the blob files' garbage counts; eviction is LRU, so garbage gathers
//   in the oldest files). gc() (CompactMode::full) forces GC with age cutoff
//   1.0, relocating every live blob, so disk usage falls to about the live
//   data. Without any blob GC, deleted blobs are never reclaimed
//   (proxies-perf.md §3.3 measured 2x space).
// - blob and write-buffer sizes scale with the cap (max_size / 16, between
//   4 and 64 MiB): space comes back in pieces small compared to the cap.
// - durability: small writes go through the WAL without fsync (a process
//   crash loses nothing; the OS keeps the WAL). Large imports write their
//   blocks without the WAL (bulk): the pending markers of a bulk batch are
//   written (logged) before it, and sync_bulk() flushes the blocks column
//   family before the logged commit, so crash recovery finds a marker for
//   every block a crash left behind. No atomic_flush: with it, concurrent
//   flushes of the same column families (two imports' sync_bulk(), a
//   compaction's flush) trip an assertion that Debian's build keeps
//   (`cfd->GetFlushReason() == cfds[0]->GetFlushReason()`, the race fixed
//   upstream by rocksdb#11111 in 8.x), and the contract suite's threads case
//   aborted on it. Manual flushes and compactions are serialized too.
// - block checksums: every value in the blocks column family carries a
//   4-byte CRC-32C trailer (little-endian, over the block's bytes), checked
//   on every read and stripped before the caller sees the value. RocksDB's
//   own checksums (verify_checksums_on_read) cover the same bytes but run in
//   software in Debian's build, at about 1 GB/s; ours use SSE4.2 (crc32c.hpp).
//   The meta key "block_format" = "crc32c-trailer" marks a store written this
//   way; a store with blocks and no marker predates it and is refused.
// - block files: blocks of min_file_block_size or more live in files of their
//   own (block_files.hpp), recorded with size and CRC-32C in the engine's
//   block_files column family, so that hits go out with sendfile(2). Reads
//   look in the blocks column family first (small blocks, the hot path of
//   small files), then at the records. Records, renames and unlinks happen
//   under files_mu_ in the order of the RocksDB writes (storage/README.md).
// - index tables hold hashes and counters: no compression, bloom filters for
//   point lookups, small write buffers.
#include "storage/rocksdb_store.hpp"

#include <fcntl.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_manager.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <system_error>

#include "content/encoding.hpp"
#include "storage/block_files.hpp"
#include "storage/crc32c.hpp"
#include "storage/indexed_store.hpp"
#include "storage/kv_engine.hpp"
#include "storage/rocksdb_crc32c.hpp"

namespace srcgate::storage {

namespace {

namespace fs = std::filesystem;

const std::array<std::string, kTableCount> kCfNames = {rocksdb::kDefaultColumnFamilyName,
                                                       "blocks",
                                                       "refs",
                                                       "files",
                                                       "links",
                                                       "names",
                                                       "lru",
                                                       "sources",
                                                       "pending"};

rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }
rocksdb::Slice slice(content::ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

constexpr std::string_view kBlockFormatKey = "block_format";
// Blocks in the blocks column family carry a CRC-32C trailer; large ones may
// live in block files instead. The marker of stores written before block
// files, which this srcgate reads and upgrades.
constexpr std::string_view kBlockFormat = "crc32c-trailer+files";
constexpr std::string_view kTrailerOnlyFormat = "crc32c-trailer";
constexpr std::size_t kTrailerSize = 4;

// The engine-internal column family that records block files: key -> size
// (u64) and CRC-32C (u32), little-endian; and kFileBytesKey -> the disk
// footprint of all recorded files (u64).
const std::string kFilesCfName = "block_files";
constexpr std::string_view kFileBytesKey = "";

struct FileEntry {
  std::uint64_t size = 0;
  std::uint32_t crc = 0;
};

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
std::uint64_t get_le(std::string_view in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= std::uint64_t{static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)])} << (8 * i);
  }
  return v;
}
std::string encode_file_entry(const FileEntry& e) {
  std::string out;
  put_le(out, e.size, 8);
  put_le(out, e.crc, 4);
  return out;
}
std::optional<FileEntry> decode_file_entry(std::string_view in) {
  if (in.size() != 12) return std::nullopt;
  return FileEntry{get_le(in, 0, 8), static_cast<std::uint32_t>(get_le(in, 8, 4))};
}

std::array<char, kTrailerSize> block_trailer(content::ByteView block) {
  const std::uint32_t crc = crc32c(0, block);
  return {static_cast<char>(crc), static_cast<char>(crc >> 8), static_cast<char>(crc >> 16),
          static_cast<char>(crc >> 24)};
}

// The block in a stored value, when its trailer matches; nullopt otherwise.
std::optional<content::ByteView> checked_block(content::ByteView stored) {
  if (stored.size() < kTrailerSize) return std::nullopt;
  const auto block = stored.first(stored.size() - kTrailerSize);
  const auto expected = block_trailer(block);
  if (std::memcmp(expected.data(), stored.data() + block.size(), kTrailerSize) != 0) {
    return std::nullopt;
  }
  return block;
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// Maps a RocksDB status to a storage error; `what` says what was being done.
Error from_status(const rocksdb::Status& s, const fs::path& dir, std::string_view what) {
  std::string text = s.ToString();
  if (s.IsNoSpace() || contains(text, "No space left on device")) {
    return make_error(Errc::no_space, "store is full: " + std::string(what) + " in " +
                                          dir.string() + " failed: " + text);
  }
  if (s.IsIOError() &&
      (contains(text, "lock file") || contains(text, "/LOCK") || contains(text, "lock hold"))) {
    return make_error(Errc::busy, "the store at " + dir.string() +
                                      " is in use by another process (" + text + ")");
  }
  if (s.IsCorruption()) {
    return make_error(Errc::corruption, std::string(what) + " in " + dir.string() + ": " + text);
  }
  if (s.IsInvalidArgument() && contains(text, "does not exist")) {
    return make_error(Errc::not_found, "no store at " + dir.string() + ": " + text);
  }
  return make_error(Errc::io_error, std::string(what) + " in " + dir.string() + ": " + text);
}

// A batch of RocksDB writes, plus the block files it stages (large blocks are
// written to tmp/ at put() and renamed into place by RocksDbEngine::write)
// and the blocks it deletes (their files are unlinked after the write).
class RocksDbBatch final : public KvBatch {
 public:
  RocksDbBatch(const std::vector<rocksdb::ColumnFamilyHandle*>& cfs, BlockFiles* files,
               std::uint64_t min_file_size)
      : cfs_(cfs), files_(files), min_file_size_(min_file_size) {}
  ~RocksDbBatch() override {
    if (!published_) {
      for (const auto& s : staged_) files_->discard(s);
    }
  }
  void put(Table t, std::string_view key, content::ByteView value) override {
    // WriteBatch::Put fails only for keys or values over 4 GiB.
    if (t == Table::blocks && files_ && min_file_size_ > 0 && value.size() >= min_file_size_) {
      if (error_) return;
      auto staged = files_->stage(key, value);
      if (!staged) {
        error_ = staged.error();
        return;
      }
      file_bytes_ += value.size();
      staged_.push_back(std::move(*staged));
      return;
    }
    if (t == Table::blocks) {
      const auto trailer = block_trailer(value);
      const rocksdb::Slice k = slice(key);
      const rocksdb::Slice parts[2] = {slice(value), {trailer.data(), trailer.size()}};
      std::ignore = batch_.Put(cfs_[static_cast<std::size_t>(t)], rocksdb::SliceParts(&k, 1),
                               rocksdb::SliceParts(parts, 2));
      return;
    }
    std::ignore = batch_.Put(cfs_[static_cast<std::size_t>(t)], slice(key), slice(value));
  }
  void del(Table t, std::string_view key) override {
    std::ignore = batch_.Delete(cfs_[static_cast<std::size_t>(t)], slice(key));
    if (t == Table::blocks && files_) deleted_blocks_.emplace_back(key);
  }
  std::size_t bytes() const override { return batch_.GetDataSize() + file_bytes_; }
  bool empty() const override { return batch_.Count() == 0 && staged_.empty(); }
  rocksdb::WriteBatch& rep() { return batch_; }

  const std::optional<Error>& error() const { return error_; }
  bool touches_files() const { return !staged_.empty() || !deleted_blocks_.empty(); }
  const std::vector<BlockFiles::Staged>& staged() const { return staged_; }
  const std::vector<std::string>& deleted_blocks() const { return deleted_blocks_; }
  // The staged files are under their names now (or gone): nothing to discard.
  void mark_published() { published_ = true; }

 private:
  const std::vector<rocksdb::ColumnFamilyHandle*>& cfs_;
  BlockFiles* files_;
  const std::uint64_t min_file_size_;
  rocksdb::WriteBatch batch_;
  std::vector<BlockFiles::Staged> staged_;
  std::vector<std::string> deleted_blocks_;
  std::uint64_t file_bytes_ = 0;
  bool published_ = false;
  std::optional<Error> error_;
};

class RocksDbEngine final : public KvEngine {
 public:
  static Result<std::unique_ptr<RocksDbEngine>> open(const RocksDbOptions& o) {
    install_rocksdb_hardware_crc32c();
    std::unique_ptr<RocksDbEngine> e(new RocksDbEngine(o));
    if (auto r = e->open_db(); !r) return r.error();
    return e;
  }

  ~RocksDbEngine() override {
    if (!db_) return;
    {
      // Flushed memtables leave no WAL to replay at the next open. Best
      // effort: on failure the WAL replays instead.
      std::lock_guard lock(manual_mu_);
      rocksdb::FlushOptions fo;
      fo.wait = true;
      std::ignore = db_->Flush(fo, cfs_);
    }
    for (auto* cf : cfs_) std::ignore = db_->DestroyColumnFamilyHandle(cf);
    // Close() reports background errors that we can no longer act on.
    std::ignore = db_->Close();
    delete db_;
  }

  std::string describe() const override { return "rocksdb store at " + o_.dir.string(); }

  std::unique_ptr<KvBatch> new_batch() override {
    return std::make_unique<RocksDbBatch>(cfs_, &files_, o_.min_file_block_size);
  }

  Result<void> write(KvBatch& kv, WriteMode mode) override {
    resume_if_needed();
    auto& batch = static_cast<RocksDbBatch&>(kv);
    if (batch.error()) return *batch.error();
    rocksdb::WriteOptions wo;
    wo.disableWAL = mode == WriteMode::bulk && o_.bulk_without_wal;
    if (!batch.touches_files()) {
      auto s = db_->Write(wo, &batch.rep());
      if (!s.ok()) return failed(s, "writing");
      if (wo.disableWAL) unsynced_bulk_ = true;
      return {};
    }
    // Records, renames and unlinks of block files happen under files_mu_, in
    // the same order as the RocksDB writes, so a file is under its name
    // exactly when a committed record names it (up to orphans of a crash).
    std::lock_guard lock(files_mu_);
    std::int64_t delta = 0;
    std::vector<std::string> fresh;  // staged keys that had no record
    for (const auto& staged : batch.staged()) {
      auto had = file_entry(staged.key);
      if (!had) return had.error();
      if (!*had && std::find(fresh.begin(), fresh.end(), staged.key) == fresh.end()) {
        delta += static_cast<std::int64_t>(BlockFiles::footprint(staged.size));
        fresh.push_back(staged.key);
      }
      std::ignore = batch.rep().Put(files_cf_, slice(staged.key),
                                    slice(encode_file_entry({staged.size, staged.crc})));
    }
    for (const auto& key : batch.deleted_blocks()) {
      auto had = file_entry(key);
      if (!had) return had.error();
      if (!*had) continue;
      delta -= static_cast<std::int64_t>(BlockFiles::footprint((*had)->size));
      std::ignore = batch.rep().Delete(files_cf_, slice(key));
    }
    const std::uint64_t total = static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, static_cast<std::int64_t>(file_bytes_.load()) + delta));
    if (delta != 0) {
      std::string value;
      put_le(value, total, 8);
      std::ignore = batch.rep().Put(files_cf_, slice(kFileBytesKey), slice(value));
    }
    auto unpublish = [&](std::size_t published) {
      for (std::size_t i = 0; i < published; ++i) {
        const auto& key = batch.staged()[i].key;
        if (std::find(fresh.begin(), fresh.end(), key) != fresh.end()) files_.remove(key);
      }
    };
    for (std::size_t i = 0; i < batch.staged().size(); ++i) {
      if (auto p = files_.publish(batch.staged()[i]); !p) {
        unpublish(i);
        return p.error();
      }
    }
    auto s = db_->Write(wo, &batch.rep());
    if (!s.ok()) {
      unpublish(batch.staged().size());
      batch.mark_published();
      return failed(s, "writing");
    }
    batch.mark_published();
    // Also the files of deleted blocks that had no record: blocks of a bulk
    // import that a crash cut before its records were flushed.
    for (const auto& key : batch.deleted_blocks()) files_.remove(key);
    file_bytes_ = total;
    if (wo.disableWAL) unsynced_bulk_ = true;
    if (!batch.staged().empty()) unsynced_files_ = true;
    return {};
  }

  Result<std::optional<BlockFile>> open_block_file(std::string_view key) override {
    auto entry = file_entry(key);
    if (!entry) return entry.error();
    if (!*entry) return std::optional<BlockFile>();
    auto file = files_.open_checked(key, (*entry)->size, (*entry)->crc);
    if (!file) return file.error();
    return std::optional<BlockFile>(std::move(*file));
  }

  Result<void> sync_bulk() override {
    if (!unsynced_bulk_.exchange(false)) return {};
    if (unsynced_files_.exchange(false)) {
      // Block files reach the disk before the commit that names them.
      const int fd = ::open(files_.dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      const bool synced = fd >= 0 && ::syncfs(fd) == 0;
      if (fd >= 0) ::close(fd);
      if (!synced) {
        unsynced_bulk_ = true;
        unsynced_files_ = true;
        return make_error(Errc::io_error, "syncing block files in " + files_.dir().string());
      }
    }
    rocksdb::FlushOptions fo;
    fo.wait = true;
    std::lock_guard lock(manual_mu_);
    // All column families, not only blocks: the WAL files that the import's
    // logged writes went to can then be deleted (each stays until every
    // column family with data in it has flushed).
    auto s = db_->Flush(fo, cfs_);
    if (!s.ok()) {
      unsynced_bulk_ = true;
      return failed(s, "flushing imported blocks");
    }
    return {};
  }

  Result<std::optional<std::string>> get(Table t, std::string_view key) override {
    rocksdb::PinnableSlice value;
    auto s = db_->Get(rocksdb::ReadOptions(), cf(t), slice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return from_status(s, o_.dir, "reading");
    return std::optional<std::string>(value.ToString());
  }

  Result<bool> get_into(Table t, std::string_view key, content::Bytes& out) override {
    rocksdb::PinnableSlice value;
    rocksdb::ReadOptions ro;
    ro.verify_checksums = o_.verify_checksums_on_read;
    auto s = db_->Get(ro, cf(t), slice(key), &value);
    if (s.IsNotFound() && t == Table::blocks) {
      auto entry = file_entry(key);
      if (!entry) return entry.error();
      if (!*entry) return false;
      auto found = files_.read(key, (*entry)->size, (*entry)->crc, out);
      if (!found) return found.error();
      if (!*found) {
        return make_error(Errc::corruption, "block file of " +
                                                content::hex_encode(content::as_bytes(key)) +
                                                " in " + o_.dir.string() + " is missing");
      }
      return true;
    }
    if (s.IsNotFound()) return false;
    if (!s.ok()) return from_status(s, o_.dir, "reading a block");
    content::ByteView stored(reinterpret_cast<const std::uint8_t*>(value.data()), value.size());
    if (t == Table::blocks) {
      auto block = checked_block(stored);
      if (!block) {
        return make_error(Errc::corruption, "block checksum mismatch in " + o_.dir.string() +
                                                " (the stored bytes changed since they were "
                                                "written; `srcgate verify` lists every bad block)");
      }
      stored = *block;
    }
    out.assign(stored.begin(), stored.end());
    return true;
  }

  Result<bool> contains(Table t, std::string_view key) override {
    // With blob files a point lookup reads the value too; RocksDB 7.8 has no
    // cheaper exact existence check (KeyMayExist can say yes wrongly). The
    // value is not used, so its checksum is not computed.
    rocksdb::PinnableSlice value;
    rocksdb::ReadOptions ro;
    ro.verify_checksums = false;
    auto s = db_->Get(ro, cf(t), slice(key), &value);
    if (s.IsNotFound() && t == Table::blocks) {
      auto entry = file_entry(key);
      if (!entry) return entry.error();
      return entry->has_value();
    }
    if (s.IsNotFound()) return false;
    if (!s.ok()) return from_status(s, o_.dir, "reading");
    return true;
  }

  Result<void> scan(Table t, std::string_view from, const Visitor& visit) override {
    rocksdb::ReadOptions ro;
    ro.fill_cache = t != Table::blocks;
    // Blocks are checked by their trailer and by verify()'s re-hash, which
    // names each bad block; RocksDB's check would end the scan at the first.
    ro.verify_checksums = t != Table::blocks;
    if (t == Table::blocks) return scan_blocks(ro, from, visit);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(t)));
    for (it->Seek(slice(from)); it->Valid(); it->Next()) {
      auto k = it->key();
      auto v = it->value();
      content::ByteView value(reinterpret_cast<const std::uint8_t*>(v.data()), v.size());
      if (!visit(std::string_view(k.data(), k.size()), value)) {
        break;
      }
    }
    if (!it->status().ok()) return from_status(it->status(), o_.dir, "scanning");
    return {};
  }

  Result<void> compact(CompactMode mode) override {
    resume_if_needed();
    std::lock_guard lock(manual_mu_);
    rocksdb::CompactRangeOptions cro;
    cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    cro.allow_write_stall = true;
    if (mode == CompactMode::full) {
      rocksdb::FlushOptions fo;
      fo.wait = true;
      auto s = db_->Flush(fo, cfs_);
      if (!s.ok()) return failed(s, "flushing before compaction");
      for (auto* handle : cfs_) {
        if (handle == cf(Table::blocks)) continue;
        s = db_->CompactRange(cro, handle, nullptr, nullptr);
        if (!s.ok()) return failed(s, "compacting the index");
      }
      cro.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
      cro.blob_garbage_collection_age_cutoff = 1.0;
      s = db_->CompactRange(cro, cf(Table::blocks), nullptr, nullptr);
      if (!s.ok()) return failed(s, "compacting blocks");
      return collect_block_files();
    }
    // Light: flush every column family, so that the WAL files kept alive by
    // the small index memtables go; then let the deletions meet the blob
    // references, which drops blob files that hold only garbage and counts
    // the garbage of the others.
    rocksdb::FlushOptions fo;
    fo.wait = true;
    auto s = db_->Flush(fo, cfs_);
    if (!s.ok()) return failed(s, "flushing before compaction");
    cro.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kDisable;
    s = db_->CompactRange(cro, cf(Table::blocks), nullptr, nullptr);
    if (!s.ok()) return failed(s, "compacting blocks");
    // Then relocate the live blobs of the oldest blob files, as many as free
    // at least as much garbage as they copy (eviction is LRU, so garbage
    // gathers in the oldest files).
    rocksdb::ColumnFamilyMetaData meta;
    db_->GetColumnFamilyMetaData(cf(Table::blocks), &meta);
    auto files = meta.blob_files;
    std::sort(files.begin(), files.end(),
              [](const auto& a, const auto& b) { return a.blob_file_number < b.blob_file_number; });
    std::size_t oldest = 0;
    std::uint64_t garbage = 0, live = 0;
    for (std::size_t i = 0; i < files.size(); ++i) {
      garbage += files[i].garbage_blob_bytes;
      live += files[i].total_blob_bytes -
              std::min(files[i].total_blob_bytes, files[i].garbage_blob_bytes);
      if (garbage > 0 && garbage >= live) oldest = i + 1;
    }
    if (oldest == 0) return {};
    cro.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
    // RocksDB takes floor(cutoff * files) oldest files; aim between two counts.
    cro.blob_garbage_collection_age_cutoff =
        std::min(1.0, (static_cast<double>(oldest) + 0.5) / static_cast<double>(files.size()));
    s = db_->CompactRange(cro, cf(Table::blocks), nullptr, nullptr);
    if (!s.ok()) return failed(s, "collecting blob garbage");
    return {};
  }

  Result<std::uint64_t> disk_bytes() override {
    std::uint64_t total = file_bytes_.load();
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(o_.dir, ec)) {
      std::error_code size_ec;
      if (entry.is_regular_file(size_ec)) {
        auto n = entry.file_size(size_ec);
        if (!size_ec) total += n;  // a file deleted while we list is simply gone
      }
    }
    if (ec) {
      return make_error(Errc::io_error, "listing " + o_.dir.string() + ": " + ec.message());
    }
    return total;
  }

  Result<void> tune(std::uint64_t max_size) override {
    std::uint64_t piece =
        max_size == 0 ? kMaxPiece : std::clamp(max_size / 16, kMinPiece, kMaxPiece);
    auto s = db_->SetOptions(cf(Table::blocks), {{"write_buffer_size", std::to_string(piece)},
                                                 {"blob_file_size", std::to_string(piece)}});
    if (!s.ok()) return from_status(s, o_.dir, "setting buffer sizes");
    // Logged writes of blocks sit in the WAL until every column family with
    // data in it has flushed; this bound makes RocksDB flush the small index
    // column families often enough that the WAL stays one piece.
    s = db_->SetDBOptions({{"max_total_wal_size", std::to_string(piece)}});
    if (!s.ok()) return from_status(s, o_.dir, "setting the WAL size");
    return {};
  }

 private:
  static constexpr std::uint64_t kMinPiece = 4ull << 20;
  static constexpr std::uint64_t kMaxPiece = 64ull << 20;

  explicit RocksDbEngine(const RocksDbOptions& o) : o_(o) {}

  rocksdb::ColumnFamilyHandle* cf(Table t) const { return cfs_[static_cast<std::size_t>(t)]; }

  // The record of `key`'s block file; nullopt when it has none.
  Result<std::optional<FileEntry>> file_entry(std::string_view key) {
    rocksdb::PinnableSlice value;
    auto s = db_->Get(rocksdb::ReadOptions(), files_cf_, slice(key), &value);
    if (s.IsNotFound()) return std::optional<FileEntry>();
    if (!s.ok()) return from_status(s, o_.dir, "reading a block file record");
    auto e = decode_file_entry(value.ToStringView());
    if (!e) {
      return make_error(Errc::corruption, "malformed block file record in " + o_.dir.string());
    }
    return e;
  }

  // Visits the blocks in both places, in key order: values in the blocks
  // column family (trailer stripped; a block whose trailer does not match
  // goes to the visitor all the same, verify() re-hashes and reports it), and
  // block files, read unchecked (a missing or short file gives fewer bytes,
  // which verify() reports as well).
  Result<void> scan_blocks(const rocksdb::ReadOptions& ro, std::string_view from,
                           const Visitor& visit) {
    std::unique_ptr<rocksdb::Iterator> in(db_->NewIterator(ro, cf(Table::blocks)));
    std::unique_ptr<rocksdb::Iterator> fi(db_->NewIterator(ro, files_cf_));
    in->Seek(slice(from));
    fi->Seek(slice(from));
    if (fi->Valid() && fi->key().empty()) fi->Next();  // kFileBytesKey
    content::Bytes buffer;
    while (in->Valid() || fi->Valid()) {
      const bool from_files = !in->Valid() || (fi->Valid() && fi->key().compare(in->key()) < 0);
      rocksdb::Iterator& it = from_files ? *fi : *in;
      const std::string_view key(it.key().data(), it.key().size());
      content::ByteView value;
      if (from_files) {
        const auto entry = decode_file_entry(it.value().ToStringView());
        files_.read_unchecked(key, entry ? entry->size : 0, buffer);
        value = buffer;
      } else {
        value = content::ByteView(reinterpret_cast<const std::uint8_t*>(it.value().data()),
                                  it.value().size());
        value = value.first(value.size() - std::min(value.size(), kTrailerSize));
      }
      if (!visit(key, value)) break;
      it.Next();
    }
    if (!in->status().ok()) return from_status(in->status(), o_.dir, "scanning");
    if (!fi->status().ok()) return from_status(fi->status(), o_.dir, "scanning");
    return {};
  }

  // gc: removes block files that no record names, and recounts the bytes of
  // the recorded ones.
  Result<void> collect_block_files() {
    std::lock_guard lock(files_mu_);
    auto swept = files_.sweep([&](std::string_view key) {
      auto e = file_entry(key);
      return !e || e->has_value();  // keep a file when its record cannot be read
    });
    if (!swept) return swept.error();
    std::uint64_t total = 0;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), files_cf_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().empty()) continue;
      if (auto e = decode_file_entry(it->value().ToStringView())) {
        total += BlockFiles::footprint(e->size);
      }
    }
    if (!it->status().ok()) return from_status(it->status(), o_.dir, "scanning block files");
    if (total != file_bytes_.load()) {
      std::string value;
      put_le(value, total, 8);
      auto s = db_->Put(rocksdb::WriteOptions(), files_cf_, slice(kFileBytesKey), slice(value));
      if (!s.ok()) return failed(s, "recording the block files' size");
      file_bytes_ = total;
    }
    return {};
  }

  Error failed(const rocksdb::Status& s, std::string_view what) {
    Error e = from_status(s, o_.dir, what);
    // After a background error RocksDB refuses writes until it recovers.
    // Errors it does not recover from by itself (soft ones) need Resume();
    // try it before the next write.
    if (e.code == Errc::no_space || e.code == Errc::io_error) needs_resume_ = true;
    return e;
  }

  void resume_if_needed() {
    if (!needs_resume_.exchange(false)) return;
    // Busy while RocksDB's own recovery runs; if space is still short, the
    // write that follows reports it. Either way the write tells the caller.
    std::ignore = db_->Resume();
  }

  Result<void> open_db() {
    std::error_code ec;
    if (o_.create_if_missing) {
      fs::create_directories(o_.dir, ec);
      if (ec) {
        return make_error(Errc::io_error, "cannot create " + o_.dir.string() + ": " + ec.message());
      }
    } else if (!fs::exists(o_.dir / "CURRENT", ec)) {
      return make_error(Errc::not_found, "no store at " + o_.dir.string());
    }

    rocksdb::DBOptions db;
    db.create_if_missing = o_.create_if_missing;
    db.create_missing_column_families = true;
    db.max_background_jobs = 2;
    db.max_total_wal_size = 64ull << 20;
    db.keep_log_file_num = 3;
    db.max_log_file_size = 1ull << 20;
    db.stats_dump_period_sec = 0;
    db.stats_persist_period_sec = 0;
    db.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
    // After a failed write (no space) RocksDB goes read-only and starts its
    // automatic recovery. Without an SstFileManager nothing carries that
    // recovery out and DB::Resume() answers Busy, so the store stays
    // read-only until reopened (measured with 7.8.3). With one, RocksDB polls
    // the free space and resumes by itself, about 5 s after space is free
    // (measured in the full-disk test). Turning automatic recovery off to
    // call Resume() ourselves is not an option: the next write then reuses
    // the failed WAL writer and trips an assertion in Debian's build.
    db.sst_file_manager.reset(rocksdb::NewSstFileManager(rocksdb::Env::Default()));

    auto cache = rocksdb::NewLRUCache(32ull << 20);
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;

    rocksdb::ColumnFamilyOptions index;
    index.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    index.compression = rocksdb::kNoCompression;
    index.write_buffer_size = 4ull << 20;
    index.target_file_size_base = 8ull << 20;
    index.max_bytes_for_level_base = 32ull << 20;

    rocksdb::ColumnFamilyOptions blocks = index;
    blocks.write_buffer_size = kMaxPiece;
    blocks.max_write_buffer_number = 4;
    blocks.enable_blob_files = true;
    blocks.min_blob_size = o_.min_blob_size;
    blocks.blob_file_size = kMaxPiece;
    switch (o_.blob_compression) {
      case BlobCompression::none:
        blocks.blob_compression_type = rocksdb::kNoCompression;
        break;
      case BlobCompression::lz4:
        blocks.blob_compression_type = rocksdb::kLZ4Compression;
        break;
      case BlobCompression::zstd:
        blocks.blob_compression_type = rocksdb::kZSTD;
        break;
    }
    // Automatic compactions do not relocate blobs (see the note at the top);
    // compact() forces collection after evictions.
    blocks.enable_blob_garbage_collection = false;
    blocks.blob_compaction_readahead_size = 2ull << 20;

    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (std::size_t i = 0; i < kTableCount; ++i) {
      descriptors.emplace_back(kCfNames[i],
                               static_cast<Table>(i) == Table::blocks ? blocks : index);
    }
    descriptors.emplace_back(kFilesCfName, index);
    auto s = rocksdb::DB::Open(db, o_.dir.string(), descriptors, &cfs_, &db_);
    if (!s.ok()) {
      db_ = nullptr;
      return from_status(s, o_.dir, "opening");
    }
    files_cf_ = cfs_.back();  // flushed and compacted with the tables
    if (auto f = files_.open(); !f) return f;
    std::string total;
    s = db_->Get(rocksdb::ReadOptions(), files_cf_, slice(kFileBytesKey), &total);
    if (s.ok() && total.size() == 8) file_bytes_ = get_le(total, 0, 8);
    if (!s.ok() && !s.IsNotFound()) return from_status(s, o_.dir, "reading the block files' size");
    return check_block_format();
  }

  // Marks a new store's block format, or refuses a store written before the
  // checksum trailers (see the note at the top).
  Result<void> check_block_format() {
    std::string format;
    auto s = db_->Get(rocksdb::ReadOptions(), cf(Table::meta), slice(kBlockFormatKey), &format);
    if (s.ok()) {
      if (format == kBlockFormat) return {};
      if (format == kTrailerOnlyFormat) {
        // Readable as it is; from now on it may hold block files, which an
        // older srcgate would not find, so it refuses the store from here on.
        s = db_->Put(rocksdb::WriteOptions(), cf(Table::meta), slice(kBlockFormatKey),
                     slice(kBlockFormat));
        if (!s.ok()) return from_status(s, o_.dir, "writing the block format");
        return {};
      }
      return make_error(Errc::corruption, "the store at " + o_.dir.string() +
                                              " has block format '" + format +
                                              "', which this srcgate does not know");
    }
    if (!s.IsNotFound()) return from_status(s, o_.dir, "reading the block format");
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cf(Table::blocks)));
    it->SeekToFirst();
    if (it->Valid()) {
      return make_error(Errc::corruption,
                        "the store at " + o_.dir.string() +
                            " was written by an older srcgate (blocks without checksums); "
                            "move it away and import its files again");
    }
    s = db_->Put(rocksdb::WriteOptions(), cf(Table::meta), slice(kBlockFormatKey),
                 slice(kBlockFormat));
    if (!s.ok()) return from_status(s, o_.dir, "writing the block format");
    return {};
  }

  RocksDbOptions o_;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;  // one per Table, then files_cf_
  rocksdb::ColumnFamilyHandle* files_cf_ = nullptr;
  BlockFiles files_{o_.dir / "blocks"};
  std::mutex files_mu_;                       // block file records, renames and unlinks
  std::atomic<std::uint64_t> file_bytes_{0};  // footprint of the recorded block files
  std::atomic<bool> unsynced_files_{false};
  std::atomic<bool> unsynced_bulk_{false};
  std::mutex manual_mu_;  // one manual flush or compaction at a time
  std::atomic<bool> needs_resume_{false};
};

}  // namespace

Result<std::unique_ptr<BlockStore>> open_rocksdb_store(const RocksDbOptions& options) {
  auto engine = RocksDbEngine::open(options);
  if (!engine) return engine.error();
  auto store = IndexedStore::open(std::move(*engine), options.store);
  if (!store) return store.error();
  return std::unique_ptr<BlockStore>(std::move(*store));
}

}  // namespace srcgate::storage
