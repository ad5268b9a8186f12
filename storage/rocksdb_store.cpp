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
// - index tables hold hashes and counters: no compression, bloom filters for
//   point lookups, small write buffers.
#include "storage/rocksdb_store.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_manager.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <system_error>

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
constexpr std::string_view kBlockFormat = "crc32c-trailer";
constexpr std::size_t kTrailerSize = 4;

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

class RocksDbBatch final : public KvBatch {
 public:
  explicit RocksDbBatch(const std::vector<rocksdb::ColumnFamilyHandle*>& cfs) : cfs_(cfs) {}
  void put(Table t, std::string_view key, content::ByteView value) override {
    // WriteBatch::Put fails only for keys or values over 4 GiB.
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
  }
  std::size_t bytes() const override { return batch_.GetDataSize(); }
  bool empty() const override { return batch_.Count() == 0; }
  rocksdb::WriteBatch& rep() { return batch_; }

 private:
  const std::vector<rocksdb::ColumnFamilyHandle*>& cfs_;
  rocksdb::WriteBatch batch_;
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

  std::unique_ptr<KvBatch> new_batch() override { return std::make_unique<RocksDbBatch>(cfs_); }

  Result<void> write(KvBatch& batch, WriteMode mode) override {
    resume_if_needed();
    rocksdb::WriteOptions wo;
    wo.disableWAL = mode == WriteMode::bulk && o_.bulk_without_wal;
    auto s = db_->Write(wo, &static_cast<RocksDbBatch&>(batch).rep());
    if (!s.ok()) return failed(s, "writing");
    if (wo.disableWAL) unsynced_bulk_ = true;
    return {};
  }

  Result<void> sync_bulk() override {
    if (!unsynced_bulk_.exchange(false)) return {};
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
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(t)));
    for (it->Seek(slice(from)); it->Valid(); it->Next()) {
      auto k = it->key();
      auto v = it->value();
      content::ByteView value(reinterpret_cast<const std::uint8_t*>(v.data()), v.size());
      // A block whose trailer does not match goes to the visitor with its
      // trailer stripped all the same: verify() re-hashes it and reports it.
      if (t == Table::blocks)
        value = value.first(value.size() - std::min(value.size(), kTrailerSize));
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
      return {};
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
    std::uint64_t total = 0;
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
    auto s = rocksdb::DB::Open(db, o_.dir.string(), descriptors, &cfs_, &db_);
    if (!s.ok()) {
      db_ = nullptr;
      return from_status(s, o_.dir, "opening");
    }
    return check_block_format();
  }

  // Marks a new store's block format, or refuses a store written before the
  // checksum trailers (see the note at the top).
  Result<void> check_block_format() {
    std::string format;
    auto s = db_->Get(rocksdb::ReadOptions(), cf(Table::meta), slice(kBlockFormatKey), &format);
    if (s.ok()) {
      if (format == kBlockFormat) return {};
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
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
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
