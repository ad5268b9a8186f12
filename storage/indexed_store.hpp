// IndexedStore: the one implementation of BlockStore's logic (references,
// records, names, pins, recency, eviction, crash recovery, verification) over
// a KvEngine. The RocksDB and in-memory stores are this class over their
// engines, so the contract suite exercises the same logic on both backends
// and the backend-specific parts (durability, space reclaim, disk size) stay
// in the engines.
//
// Concurrency design: mu_ serializes every change to the index (commits,
// evictions, pins, recency flushes, cleanups); block writes of running imports
// happen outside it. A block that a running import wrote or relies on is
// "in flight" (a count in memory): eviction and cleanup never delete an
// in-flight block; if eviction drops its last reference it leaves a pending
// marker instead, so that the block is collected if the import dies.
// Crash recovery: every block write carries a pending marker (same batch);
// open() deletes the blocks of leftover markers that no record references.
// Thread-safety: as BlockStore.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "storage/block_store.hpp"
#include "storage/kv_engine.hpp"
#include "storage/store_codec.hpp"

namespace srcgate::storage {

class BlockWriter;

class IndexedStore final : public BlockStore {
 public:
  // Opens the index over `engine`: reads the counters and the recorded cap,
  // and removes the blocks of imports that died before committing.
  [[nodiscard]] static Result<std::unique_ptr<IndexedStore>> open(std::unique_ptr<KvEngine> engine,
                                                                  const StoreOptions& options);
  // Flushes pending accesses (errors ignored: recency is best-effort).
  ~IndexedStore() override;

  std::string describe() const override { return engine_->describe(); }
  Result<std::optional<content::Bytes>> get_block(const content::Cid& cid) override;
  Result<bool> has_block(const content::Cid& cid) override;
  Result<std::optional<BlockFile>> open_block_file(const content::Cid& cid) override;
  Result<std::optional<NameEntry>> lookup(const content::Digest& digest) override;
  Result<std::optional<FileRecord>> record(const content::Cid& root) override;
  Result<void> for_each_name(
      const std::function<bool(const content::Digest&, const NameEntry&)>& visit) override;
  Result<void> for_each_record(const std::function<bool(const FileRecord&)>& visit) override;
  void touch(const content::Cid& root) override;
  Result<void> flush() override;
  std::uint64_t names_generation() const override {
    return names_generation_.load(std::memory_order_acquire);
  }
  Result<void> read_file(const content::Cid& root, std::uint64_t begin, std::uint64_t end,
                         const Sink& sink) override;
  std::unique_ptr<FileImport> begin_import(const content::ImportProfile& profile) override;
  std::unique_ptr<CarImport> begin_car_import() override;
  Result<void> pin(const content::Cid& root) override;
  Result<void> unpin(const content::Cid& root) override;
  Result<void> add_source(const content::Digest& digest, std::string_view url) override;
  Result<void> remove_source(const content::Digest& digest, std::string_view url) override;
  Result<std::vector<std::string>> sources(const content::Digest& digest,
                                           std::size_t limit) override;
  Result<void> for_each_source(
      const std::function<bool(const content::Digest&, const std::vector<std::string>&)>& visit)
      override;
  Result<StoreStats> stats() override;
  StoreLimits limits() const override { return limits_; }
  Result<EvictionReport> evict_to(std::uint64_t target_logical_bytes) override;
  Result<EvictionReport> gc() override;
  Result<VerifyReport> verify(const std::function<void(const VerifyProblem&)>& on_problem) override;
  Result<void> overwrite_block_for_testing(const content::Cid& cid,
                                           content::ByteView bytes) override;

  // Pending accesses that trigger a flush from touch().
  static constexpr std::size_t kTouchFlushCount = 4096;

 private:
  friend class BlockWriter;
  friend class FileImportImpl;
  friend class CarImportImpl;
  class Txn;

  // What put_record_locked did.
  struct PutOutcome {
    FileRecord record;
    bool existed = false;            // the root had a record already
    std::uint64_t added_blocks = 0;  // blocks this call added to it
  };
  // One root of a CAR import, ready to commit.
  struct RootPlan {
    explicit RootPlan(content::Cid r) : root(std::move(r)) {}
    content::Cid root;
    std::vector<std::string> keys;  // distinct block multihashes
    std::vector<std::uint64_t> sizes;
    std::optional<content::FileDigests> digests;
    std::uint64_t size = 0;
  };

  IndexedStore(std::unique_ptr<KvEngine> engine, StoreLimits limits);

  // --- for BlockWriter (in-flight accounting) ---
  // Marks `key` in flight and says whether a record references it (then the
  // import need not write it). Takes mu_.
  Result<bool> claim(const std::string& key);
  // Marks an existing block in flight without writing it; returns its size,
  // or nullopt when the store does not have it. Takes mu_.
  Result<std::optional<std::uint64_t>> claim_existing(const std::string& key);
  // Ends in-flight status of `held`, and for `written` (a subset) deletes the
  // blocks no record references and the pending markers of `import_id` that
  // a commit did not delete already (`cleared`).
  void release(std::uint64_t import_id, const std::vector<std::string>& held,
               const std::vector<std::string>& written,
               const std::unordered_set<std::string>& cleared);

  // Commits a finished file import; true when the file was stored already.
  Result<bool> commit_file(BlockWriter& writer, const content::FileSummary& summary);
  // Commits the records of a CAR import in one batch.
  Result<void> commit_car(BlockWriter& writer, const std::vector<RootPlan>& plans);

  // --- under mu_ ---
  Result<std::optional<FileRecord>> record_locked(const content::Cid& root);
  // Adds (or merges into) the record of `root` the blocks `keys` (distinct,
  // sizes parallel), with digests and file size when known.
  Result<PutOutcome> put_record_locked(Txn& txn, const content::Cid& root,
                                       const std::vector<std::string>& keys,
                                       const std::vector<std::uint64_t>& sizes,
                                       const std::optional<content::FileDigests>& digests,
                                       std::uint64_t file_size);
  Result<void> evict_record_locked(Txn& txn, const content::Cid& root, EvictionReport& report);
  Result<EvictionReport> evict_locked(std::uint64_t target,
                                      const std::optional<content::Cid>& keep);
  Result<void> flush_recency_locked();
  Result<std::uint64_t> collect_pending_locked(bool all_imports);
  // Evicts to the low watermark when over the high one; says whether it did.
  Result<bool> maybe_evict_locked(const content::Cid& keep);
  std::uint64_t next_access() { return clock_.fetch_add(1) + 1; }

  std::unique_ptr<KvEngine> engine_;
  StoreLimits limits_;
  // Block batches of one import switch to WriteMode::bulk once the import has
  // written this many bytes (small imports stay in the logged path, which
  // needs no sync before commit).
  std::uint64_t bulk_after_bytes_ = 64ull << 20;

  std::mutex mu_;
  codec::Counters counters_;                                  // guarded by mu_
  EvictionReport evicted_since_open_;                         // guarded by mu_
  std::unordered_map<std::string, std::uint32_t> in_flight_;  // guarded by mu_
  std::unordered_set<std::uint64_t> live_imports_;            // guarded by mu_

  std::atomic<std::uint64_t> clock_{0};
  // Incremented after every index write (Txn::commit); see names_generation().
  std::atomic<std::uint64_t> names_generation_{0};
  std::atomic<std::uint64_t> next_import_id_{1};

  std::mutex recency_mu_;
  std::unordered_map<std::string, std::uint64_t> touched_;  // root CID bytes -> access; guarded
};

}  // namespace srcgate::storage
