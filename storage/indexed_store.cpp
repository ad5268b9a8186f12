#include "storage/indexed_store.hpp"

#include <algorithm>
#include <tuple>
#include <unordered_set>

#include "content/car.hpp"
#include "content/dag_pb.hpp"
#include "content/multihash.hpp"
#include "content/unixfs_reader.hpp"

namespace srcgate::storage {

using codec::Counters;
using codec::RefValue;
using content::Bytes;
using content::ByteView;
using content::Cid;

namespace {

std::string cid_key(const Cid& cid) { return std::string(content::as_chars(cid.bytes())); }

std::uint64_t read_be64(std::string_view key) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(key[i]);
  return v;
}

// The key right after `key` in byte order: where a paginated scan resumes.
std::string successor(std::string_view key) { return std::string(key) + '\0'; }

// Blocks go to the engine in batches of about this many bytes.
constexpr std::size_t kBlockBatchBytes = 4u << 20;
// Keys read per page when a scan is followed by writes.
constexpr std::size_t kScanPage = 1024;

}  // namespace

// Index changes made under mu_, written in one batch with the new counters.
// Reference counts read through the transaction see its own earlier changes.
class IndexedStore::Txn {
 public:
  explicit Txn(IndexedStore& s) : s_(s), batch_(s.engine_->new_batch()), next_(s.counters_) {}

  KvBatch& batch() { return *batch_; }
  Counters& counters() { return next_; }

  Result<std::optional<RefValue>> ref(const std::string& key) {
    if (auto it = refs_.find(key); it != refs_.end()) return it->second;
    auto v = s_.engine_->get(Table::refs, key);
    if (!v) return v.error();
    std::optional<RefValue> ref;
    if (*v) {
      auto decoded = codec::decode_ref(**v);
      if (!decoded) return decoded.error();
      ref = *decoded;
    }
    refs_.emplace(key, ref);
    return ref;
  }

  Result<void> add_ref(const std::string& key, std::uint64_t size) {
    auto r = ref(key);
    if (!r) return r.error();
    if (*r) {
      ++(*r)->count;
    } else {
      *r = RefValue{1, size};
      ++next_.blocks;
      next_.logical_bytes += size;
    }
    refs_[key] = *r;
    dirty_.insert(key);
    return {};
  }

  // Drops one reference; returns the block's size when that was the last one.
  Result<std::optional<std::uint64_t>> drop_ref(const std::string& key) {
    auto r = ref(key);
    if (!r) return r.error();
    if (!*r) return std::optional<std::uint64_t>();  // already gone; nothing to free
    dirty_.insert(key);
    if ((*r)->count > 1) {
      --(*r)->count;
      refs_[key] = *r;
      return std::optional<std::uint64_t>();
    }
    std::uint64_t size = (*r)->size;
    refs_[key] = std::nullopt;
    --next_.blocks;
    next_.logical_bytes -= std::min(next_.logical_bytes, size);
    return std::optional<std::uint64_t>(size);
  }

  Result<void> commit() {
    for (const auto& key : dirty_) {
      const auto& ref = refs_.at(key);
      if (ref) {
        batch_->put(Table::refs, key, content::as_bytes(codec::encode_ref(*ref)));
      } else {
        batch_->del(Table::refs, key);
      }
    }
    next_.access_clock = s_.clock_.load();
    batch_->put(Table::meta, codec::kCountersKey, content::as_bytes(codec::encode_counters(next_)));
    auto w = s_.engine_->write(*batch_, WriteMode::logged);
    if (!w) return w.error();
    s_.counters_ = next_;
    s_.names_generation_.fetch_add(1, std::memory_order_release);  // after the write is visible
    return {};
  }

 private:
  IndexedStore& s_;
  std::unique_ptr<KvBatch> batch_;
  Counters next_;
  std::unordered_map<std::string, std::optional<RefValue>> refs_;
  std::unordered_set<std::string> dirty_;
};

// The blocks one import has written or relies on, in first-seen order, and
// the batch that carries them to the engine. Every held block is in flight
// until release().
class BlockWriter {
 public:
  explicit BlockWriter(IndexedStore& s) : s_(s), id_(s.next_import_id_.fetch_add(1)) {
    std::lock_guard lock(s_.mu_);
    s_.live_imports_.insert(id_);
  }
  ~BlockWriter() { release(); }
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  // Adds a verified block: written unless a record already references it.
  Result<void> add(std::string key, ByteView bytes) {
    if (error_) return *error_;
    if (index_.contains(key)) return {};
    auto referenced = s_.claim(key);
    if (!referenced) return fail(referenced.error());
    hold(key, bytes.size());
    if (*referenced) return {};
    if (!batch_) batch_ = s_.engine_->new_batch();
    batch_->put(Table::blocks, key, bytes);
    unmarked_.push_back(written_.size());
    written_.push_back(std::move(key));
    if (batch_->bytes() >= kBlockBatchBytes) return flush_batch();
    return {};
  }

  // Holds a block that the store already has (CAR roots reaching outside the
  // CAR); returns its size, or nullopt when the store does not have it.
  Result<std::optional<std::uint64_t>> add_existing(const std::string& key) {
    if (auto it = index_.find(key); it != index_.end()) return std::optional(sizes_[it->second]);
    auto size = s_.claim_existing(key);
    if (!size) return size.error();
    if (*size) hold(key, **size);
    return size;
  }

  // Writes the last batch and makes every block durable.
  Result<void> sync() {
    if (error_) return *error_;
    if (auto f = flush_batch(); !f) return f;
    if (used_bulk_) {
      if (auto s = s_.engine_->sync_bulk(); !s) return fail(s.error());
    }
    return {};
  }

  void release() {
    if (released_) return;
    released_ = true;
    s_.release(id_, keys_, written_, cleared_);
  }

  bool has(const std::string& key) const { return index_.contains(key); }
  const std::optional<Error>& error() const { return error_; }
  const std::vector<std::string>& keys() const { return keys_; }
  const std::vector<std::string>& written() const { return written_; }
  // A commit deleted the pending markers of these written blocks (in its batch).
  void markers_cleared(const std::vector<std::string>& keys) {
    cleared_.insert(keys.begin(), keys.end());
  }
  const std::vector<std::uint64_t>& sizes() const { return sizes_; }
  std::uint64_t size_of(const std::string& key) const { return sizes_[index_.at(key)]; }
  std::uint64_t id() const { return id_; }

 private:
  void hold(const std::string& key, std::uint64_t size) {
    index_.emplace(key, keys_.size());
    keys_.push_back(key);
    sizes_.push_back(size);
  }

  Result<void> fail(Error e) {
    if (!error_) error_ = std::move(e);
    return *error_;
  }

  // Writes the pending blocks with a pending marker each. Logged: blocks and
  // markers in one batch. Bulk: the markers first, logged, then the blocks
  // unlogged, so that a crash can leave a marker without its block (harmless)
  // but never a block without its marker.
  Result<void> flush_batch() {
    if (!batch_ || batch_->empty()) return {};
    bytes_written_ += batch_->bytes();
    bool bulk = bytes_written_ > s_.bulk_after_bytes_;
    auto markers = bulk ? s_.engine_->new_batch() : nullptr;
    KvBatch& marker_batch = bulk ? *markers : *batch_;
    for (std::size_t i : unmarked_) {
      marker_batch.put(Table::pending, codec::pending_key(id_, written_[i]), {});
    }
    unmarked_.clear();
    Result<void> w;
    if (bulk) w = s_.engine_->write(*markers, WriteMode::logged);
    if (w) w = s_.engine_->write(*batch_, bulk ? WriteMode::bulk : WriteMode::logged);
    batch_.reset();
    if (!w) return fail(w.error());
    used_bulk_ = used_bulk_ || bulk;
    return {};
  }

  IndexedStore& s_;
  const std::uint64_t id_;
  std::unordered_map<std::string, std::size_t> index_;  // key -> position in keys_
  std::vector<std::string> keys_;
  std::vector<std::uint64_t> sizes_;
  std::vector<std::string> written_;
  std::vector<std::size_t> unmarked_;        // positions in written_ of blocks in batch_
  std::unordered_set<std::string> cleared_;  // written blocks whose markers a commit deleted
  std::unique_ptr<KvBatch> batch_;
  std::uint64_t bytes_written_ = 0;
  bool used_bulk_ = false;
  bool released_ = false;
  std::optional<Error> error_;
};

// --- FileImport ----------------------------------------------------------------

class FileImportImpl final : public FileImport {
 public:
  FileImportImpl(IndexedStore& s, const content::ImportProfile& profile)
      : store_(s), writer_(s), hasher_(profile, [this](content::Block&& b) {
          // FileHasher's sink cannot fail; the writer keeps the first error
          // and write()/finish() report it.
          std::ignore = writer_.add(codec::block_key(b.cid), b.bytes);
        }) {}

  ~FileImportImpl() override {
    if (state_ != State::committed) abort();
  }

  Result<void> write(ByteView data) override {
    if (state_ != State::writing) return make_error(Errc::failed, "import: write after finish");
    if (writer_.error()) return *writer_.error();
    hasher_.write(data);
    if (writer_.error()) return *writer_.error();
    return {};
  }

  Result<content::FileSummary> finish() override {
    if (state_ != State::writing) return make_error(Errc::failed, "import: finish called twice");
    state_ = State::finished;
    summary_ = hasher_.finish();
    if (auto s = writer_.sync(); !s) return s.error();
    return *summary_;
  }

  Result<ImportedFile> commit() override {
    if (state_ != State::finished || !summary_ || writer_.error()) {
      return make_error(Errc::failed, "import: commit needs a successful finish()");
    }
    auto r = store_.commit_file(writer_, *summary_);
    state_ = State::committed;
    writer_.release();
    if (!r) return r.error();
    return ImportedFile{*summary_, *r};
  }

  void abort() override {
    state_ = State::aborted;
    writer_.release();
  }

 private:
  enum class State { writing, finished, committed, aborted };
  IndexedStore& store_;
  BlockWriter writer_;  // before hasher_: the sink uses it
  content::FileHasher hasher_;
  std::optional<content::FileSummary> summary_;
  State state_ = State::writing;
};

// --- CarImport -----------------------------------------------------------------

class CarImportImpl final : public CarImport {
 public:
  explicit CarImportImpl(IndexedStore& s)
      : store_(s),
        writer_(s),
        reader_(content::CarReader::Handler{
            [this](const content::CarHeader& h) -> content::Result<void> {
              roots_ = h.roots;
              return {};
            },
            [this](const Cid& cid, ByteView block, std::uint64_t) -> content::Result<void> {
              if (cid.is_identity()) return {};  // inline; never stored
              auto r = writer_.add(codec::block_key(cid), block);
              if (!r) return to_content(r.error());
              return {};
            }}) {}

  ~CarImportImpl() override {
    if (!committed_) abort();
  }

  Result<void> write(ByteView data) override {
    if (failure_) return *failure_;
    if (committed_) return make_error(Errc::failed, "CAR import: write after commit");
    auto r = reader_.feed(data);
    if (!r) return fail(r.error());
    return {};
  }

  Result<ImportedCar> commit() override {
    if (failure_) return *failure_;
    if (committed_) return make_error(Errc::failed, "CAR import: commit called twice");
    if (auto r = reader_.finish(); !r) return fail(r.error());
    if (auto s = writer_.sync(); !s) return fail(s.error());
    const std::size_t car_blocks = writer_.keys().size();

    ImportedCar out;
    out.blocks = car_blocks;
    for (std::size_t i = 0; i < car_blocks; ++i) out.bytes += writer_.sizes()[i];

    std::vector<IndexedStore::RootPlan> plans;
    std::unordered_set<std::string> reached;
    std::unordered_set<std::string> seen_roots;
    for (const auto& root : roots_) {
      if (!seen_roots.insert(cid_key(root)).second) continue;
      CarRoot cr{root};
      IndexedStore::RootPlan plan{root};
      if (!root.is_identity()) {
        auto walked = walk(root, plan);
        if (!walked) return fail(walked.error());
        cr.present = *walked;
      }
      if (cr.present) {
        for (const auto& k : plan.keys) reached.insert(k);
        auto file = hash_file(root);
        if (!file) return fail(file.error());
        if (*file) {
          cr.complete_file = true;
          cr.size = (*file)->first;
          cr.digests = (*file)->second;
          plan.digests = cr.digests;
          plan.size = cr.size;
        }
        cr.block_count = plan.keys.size();
        plans.push_back(std::move(plan));
      }
      out.roots.push_back(std::move(cr));
    }
    // Blocks that no root reaches through dag-pb links (dag-cbor children,
    // extra blocks) stay with the first present root, so they are kept.
    if (!plans.empty()) {
      for (std::size_t i = 0; i < car_blocks; ++i) {
        const auto& key = writer_.keys()[i];
        if (!reached.contains(key)) {
          plans.front().keys.push_back(key);
          plans.front().sizes.push_back(writer_.sizes()[i]);
        }
      }
      for (auto& r : out.roots) {
        if (r.root == plans.front().root) r.block_count = plans.front().keys.size();
      }
    }
    auto c = store_.commit_car(writer_, plans);
    committed_ = true;
    writer_.release();
    if (!c) return c.error();
    return out;
  }

  void abort() override {
    committed_ = true;
    writer_.release();
  }

 private:
  Error fail(const content::Error& e) {
    return fail(writer_.error() ? *writer_.error() : from_content(e));
  }
  Error fail(Error e) {
    if (!failure_) failure_ = std::move(e);
    return *failure_;
  }

  // Collects the distinct blocks reachable from `root` through dag-pb links
  // that the CAR or the store holds; false when the root block is absent.
  Result<bool> walk(const Cid& root, IndexedStore::RootPlan& plan) {
    std::unordered_set<std::string> visited;
    std::vector<Cid> stack{root};
    bool root_present = false;
    while (!stack.empty()) {
      Cid cid = std::move(stack.back());
      stack.pop_back();
      if (cid.is_identity()) continue;
      std::string key = codec::block_key(cid);
      if (!visited.insert(key).second) continue;
      std::optional<std::uint64_t> size;
      if (writer_.has(key)) {
        size = writer_.size_of(key);
      } else {
        auto existing = writer_.add_existing(key);
        if (!existing) return existing.error();
        size = *existing;
      }
      if (!size) continue;  // not in the CAR nor the store: the DAG is incomplete
      if (cid == root) root_present = true;
      plan.keys.push_back(key);
      plan.sizes.push_back(*size);
      if (cid.codec() != static_cast<std::uint64_t>(content::Codec::dag_pb)) continue;
      auto bytes = store_.get_block(cid);
      if (!bytes) return bytes.error();
      if (!*bytes) continue;
      auto node = content::decode_dag_pb(**bytes);
      if (!node) continue;  // a malformed dag-pb block has no links to follow
      for (auto it = node->links.rbegin(); it != node->links.rend(); ++it) {
        stack.push_back(it->hash);
      }
    }
    return root_present;
  }

  // The size and digests of `root` when it is a UnixFS file (or raw block)
  // whose every block is present; nullopt otherwise.
  Result<std::optional<std::pair<std::uint64_t, content::FileDigests>>> hash_file(const Cid& root) {
    using Out = std::optional<std::pair<std::uint64_t, content::FileDigests>>;
    StoreBlockSource source(store_);
    content::UnixfsReader reader(source);
    auto info = reader.stat(root);
    if (!info) {
      if (source.last_error()) return *source.last_error();
      return Out();
    }
    if (info->kind != content::EntryKind::file && info->kind != content::EntryKind::raw_block) {
      return Out();
    }
    content::MultiDigester digester;
    std::uint64_t seen = 0;
    auto read = reader.read_range(root, 0, info->size, [&](ByteView b) -> content::Result<void> {
      digester.update(b);
      seen += b.size();
      return {};
    });
    if (!read) {
      if (source.last_error() && source.last_error()->code != Errc::not_found) {
        return *source.last_error();
      }
      return Out();  // a missing or malformed block: not a complete file
    }
    if (seen != info->size) return Out();
    return Out(std::pair{info->size, digester.finish()});
  }

  IndexedStore& store_;
  BlockWriter writer_;
  content::CarReader reader_;
  std::vector<Cid> roots_;
  std::optional<Error> failure_;
  bool committed_ = false;
};

// --- IndexedStore ------------------------------------------------------------------

IndexedStore::IndexedStore(std::unique_ptr<KvEngine> engine, StoreLimits limits)
    : engine_(std::move(engine)), limits_(limits) {}

Result<std::unique_ptr<IndexedStore>> IndexedStore::open(std::unique_ptr<KvEngine> engine,
                                                         const StoreOptions& options) {
  if (!(options.low_watermark > 0 && options.low_watermark <= options.high_watermark &&
        options.high_watermark <= 1)) {
    return make_error(Errc::invalid_input, "watermarks must satisfy 0 < low <= high <= 1 (low " +
                                               std::to_string(options.low_watermark) + ", high " +
                                               std::to_string(options.high_watermark) + ")");
  }
  StoreLimits limits{0, options.high_watermark, options.low_watermark};
  std::unique_ptr<IndexedStore> s(new IndexedStore(std::move(engine), limits));
  s->bulk_after_bytes_ = options.bulk_after_bytes;

  auto counters = s->engine_->get(Table::meta, codec::kCountersKey);
  if (!counters) return counters.error();
  if (*counters) {
    auto c = codec::decode_counters(**counters);
    if (!c) return c.error();
    s->counters_ = *c;
  }
  s->clock_ = s->counters_.access_clock;

  if (options.max_size) {
    s->limits_.max_size = *options.max_size;
    auto batch = s->engine_->new_batch();
    batch->put(Table::meta, codec::kMaxSizeKey,
               content::as_bytes(codec::encode_u64(*options.max_size)));
    if (auto w = s->engine_->write(*batch, WriteMode::logged); !w) return w.error();
  } else {
    auto stored = s->engine_->get(Table::meta, codec::kMaxSizeKey);
    if (!stored) return stored.error();
    if (*stored) {
      auto v = codec::decode_u64(**stored);
      if (!v) return v.error();
      s->limits_.max_size = *v;
    }
  }

  if (auto t = s->engine_->tune(s->limits_.max_size); !t) return t.error();

  std::lock_guard lock(s->mu_);
  if (auto p = s->collect_pending_locked(true); !p) return p.error();
  return s;
}

IndexedStore::~IndexedStore() {
  std::lock_guard lock(mu_);
  // Recency is best-effort: a failure here only makes files look older.
  std::ignore = flush_recency_locked();
}

Result<std::optional<Bytes>> IndexedStore::get_block(const Cid& cid) {
  if (cid.is_identity()) {
    auto d = cid.digest();
    return std::optional<Bytes>(Bytes(d.begin(), d.end()));
  }
  std::optional<Bytes> out(std::in_place);
  auto found = engine_->get_into(Table::blocks, codec::block_key(cid), *out);
  if (!found) return found.error();
  if (!*found) out.reset();
  return out;
}

Result<std::optional<BlockFile>> IndexedStore::open_block_file(const Cid& cid) {
  if (cid.is_identity()) return std::optional<BlockFile>();
  return engine_->open_block_file(codec::block_key(cid));
}

Result<bool> IndexedStore::has_block(const Cid& cid) {
  if (cid.is_identity()) return true;
  return engine_->contains(Table::blocks, codec::block_key(cid));
}

Result<std::optional<NameEntry>> IndexedStore::lookup(const content::Digest& digest) {
  auto v = engine_->get(Table::names, codec::name_key(digest));
  if (!v) return v.error();
  if (!*v) return std::optional<NameEntry>();
  auto entry = codec::decode_name(**v);
  if (!entry) return entry.error();
  return std::optional<NameEntry>(*entry);
}

Result<std::optional<FileRecord>> IndexedStore::record_locked(const Cid& root) {
  auto v = engine_->get(Table::files, cid_key(root));
  if (!v) return v.error();
  if (!*v) return std::optional<FileRecord>();
  auto r = codec::decode_record(root, **v);
  if (!r) return r.error();
  return std::optional<FileRecord>(*r);
}

Result<std::optional<FileRecord>> IndexedStore::record(const Cid& root) {
  return record_locked(root);  // one engine read: consistent without mu_
}

Result<void> IndexedStore::for_each_name(
    const std::function<bool(const content::Digest&, const NameEntry&)>& visit) {
  std::optional<Error> error;
  auto s = engine_->scan(Table::names, "", [&](std::string_view key, ByteView value) {
    auto digest = codec::decode_name_key(key);
    auto entry = codec::decode_name(content::as_chars(value));
    if (!digest || !entry) {
      error = !digest ? digest.error() : entry.error();
      return false;
    }
    return visit(*digest, *entry);
  });
  if (!s) return s;
  if (error) return *error;
  return {};
}

Result<void> IndexedStore::for_each_record(const std::function<bool(const FileRecord&)>& visit) {
  std::optional<Error> error;
  auto s = engine_->scan(Table::files, "", [&](std::string_view key, ByteView value) {
    auto root = Cid::from_bytes(content::as_bytes(key));
    if (!root) {
      error = make_error(Errc::corruption, "file record key is not a CID: " + root.error().message);
      return false;
    }
    auto r = codec::decode_record(*root, content::as_chars(value));
    if (!r) {
      error = r.error();
      return false;
    }
    return visit(*r);
  });
  if (!s) return s;
  if (error) return *error;
  return {};
}

void IndexedStore::touch(const Cid& root) {
  std::uint64_t access = next_access();
  std::size_t pending;
  {
    std::lock_guard lock(recency_mu_);
    auto& slot = touched_[cid_key(root)];
    slot = std::max(slot, access);
    pending = touched_.size();
  }
  if (pending >= kTouchFlushCount) {
    std::unique_lock lock(mu_, std::try_to_lock);
    // Best-effort: if the flush fails the accesses are lost, not the data.
    if (lock.owns_lock()) std::ignore = flush_recency_locked();
  }
}

Result<void> IndexedStore::flush() {
  std::lock_guard lock(mu_);
  return flush_recency_locked();
}

Result<void> IndexedStore::flush_recency_locked() {
  std::unordered_map<std::string, std::uint64_t> pending;
  {
    std::lock_guard lock(recency_mu_);
    pending.swap(touched_);
  }
  if (pending.empty()) return {};
  Txn txn(*this);
  for (const auto& [root_bytes, access] : pending) {
    auto root = Cid::from_bytes(content::as_bytes(root_bytes));
    if (!root) continue;
    auto rec = record_locked(*root);
    if (!rec) return rec.error();
    if (!*rec || access <= (*rec)->last_access) continue;
    if (!(*rec)->pinned) {
      txn.batch().del(Table::lru, codec::lru_key((*rec)->last_access, *root));
      txn.batch().put(Table::lru, codec::lru_key(access, *root), {});
    }
    (*rec)->last_access = access;
    txn.batch().put(Table::files, root_bytes, content::as_bytes(codec::encode_record(**rec)));
  }
  return txn.commit();
}

Result<void> IndexedStore::read_file(const Cid& root, std::uint64_t begin, std::uint64_t end,
                                     const Sink& sink) {
  touch(root);
  StoreBlockSource source(*this);
  content::UnixfsReader reader(source);
  std::optional<Error> sink_error;
  auto r = reader.read_range(root, begin, end, [&](ByteView b) -> content::Result<void> {
    auto s = sink(b);
    if (!s) {
      sink_error = s.error();
      return content::make_error(content::Errc::truncated, "sink: " + s.error().message);
    }
    return {};
  });
  if (r) return {};
  if (sink_error) return *sink_error;
  if (source.last_error()) return *source.last_error();
  if (r.error().code == content::Errc::not_found) {
    auto has_root = has_block(root);
    if (!has_root) return has_root.error();
    if (!*has_root) {
      return make_error(Errc::not_found, "no block for " + root.to_string() + " in the store");
    }
  }
  return make_error(Errc::corruption,
                    "stored DAG of " + root.to_string() + " cannot be read: " + r.error().message);
}

std::unique_ptr<FileImport> IndexedStore::begin_import(const content::ImportProfile& profile) {
  return std::make_unique<FileImportImpl>(*this, profile);
}

std::unique_ptr<CarImport> IndexedStore::begin_car_import() {
  return std::make_unique<CarImportImpl>(*this);
}

Result<bool> IndexedStore::claim(const std::string& key) {
  std::lock_guard lock(mu_);
  auto ref = engine_->get(Table::refs, key);
  if (!ref) return ref.error();
  ++in_flight_[key];
  return ref->has_value();
}

Result<std::optional<std::uint64_t>> IndexedStore::claim_existing(const std::string& key) {
  std::lock_guard lock(mu_);
  auto ref = engine_->get(Table::refs, key);
  if (!ref) return ref.error();
  std::optional<std::uint64_t> size;
  if (*ref) {
    auto r = codec::decode_ref(**ref);
    if (!r) return r.error();
    size = r->size;
  } else {
    Bytes bytes;
    auto found = engine_->get_into(Table::blocks, key, bytes);
    if (!found) return found.error();
    if (*found) size = bytes.size();
  }
  if (size) ++in_flight_[key];
  return size;
}

void IndexedStore::release(std::uint64_t import_id, const std::vector<std::string>& held,
                           const std::vector<std::string>& written,
                           const std::unordered_set<std::string>& cleared) {
  std::lock_guard lock(mu_);
  live_imports_.erase(import_id);
  for (const auto& key : held) {
    auto it = in_flight_.find(key);
    if (it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
  }
  std::unordered_set<std::string> wrote(written.begin(), written.end());
  auto batch = engine_->new_batch();
  for (const auto& key : held) {
    bool mine = wrote.contains(key);
    if (mine && !cleared.contains(key)) {
      batch->del(Table::pending, codec::pending_key(import_id, key));
    }
    if (in_flight_.contains(key)) continue;  // another import still needs it
    auto ref = engine_->get(Table::refs, key);
    if (!ref || *ref) continue;  // referenced (or cannot tell: leave it to gc)
    batch->del(Table::blocks, key);
    batch->del(Table::pending, codec::pending_key(0, key));
  }
  // Best-effort: leftover markers make gc() or the next open() collect the
  // blocks, so a failed cleanup loses space until then, never data.
  if (!batch->empty()) std::ignore = engine_->write(*batch, WriteMode::logged);
}

Result<IndexedStore::PutOutcome> IndexedStore::put_record_locked(
    Txn& txn, const Cid& root, const std::vector<std::string>& keys,
    const std::vector<std::uint64_t>& sizes, const std::optional<content::FileDigests>& digests,
    std::uint64_t file_size) {
  auto existing = record_locked(root);
  if (!existing) return existing.error();
  PutOutcome out{FileRecord{root}, false, 0};
  FileRecord& rec = out.record;
  std::vector<std::string> all_keys;
  std::unordered_set<std::string> have;
  if (*existing) {
    out.existed = true;
    rec = **existing;
    auto links = engine_->get(Table::links, cid_key(root));
    if (!links) return links.error();
    if (*links) {
      auto decoded = codec::decode_links(**links);
      if (!decoded) return decoded.error();
      all_keys = std::move(*decoded);
      have.insert(all_keys.begin(), all_keys.end());
    }
  }
  std::uint64_t added_bytes = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!have.insert(keys[i]).second) continue;
    if (auto a = txn.add_ref(keys[i], sizes[i]); !a) return a.error();
    all_keys.push_back(keys[i]);
    added_bytes += sizes[i];
    ++rec.block_count;
    ++out.added_blocks;
  }
  rec.stored_bytes += added_bytes;
  if (digests && !rec.digests) {
    rec.digests = digests;
    rec.size = file_size;
  }
  std::uint64_t old_access = rec.last_access;
  rec.last_access = next_access();
  auto& c = txn.counters();
  if (!out.existed) ++c.files;
  if (rec.pinned) {
    c.pinned_bytes += added_bytes;
  } else {
    if (out.existed) txn.batch().del(Table::lru, codec::lru_key(old_access, root));
    txn.batch().put(Table::lru, codec::lru_key(rec.last_access, root), {});
  }
  std::string rk = cid_key(root);
  txn.batch().put(Table::files, rk, content::as_bytes(codec::encode_record(rec)));
  if (!out.existed || out.added_blocks > 0) {
    txn.batch().put(Table::links, rk, content::as_bytes(codec::encode_links(all_keys)));
  }
  if (rec.digests) {
    std::string name = codec::encode_name(NameEntry{root, rec.size});
    for (auto algo : content::kAllHashAlgos) {
      txn.batch().put(Table::names, codec::name_key(rec.digests->get(algo)),
                      content::as_bytes(name));
    }
  }
  return out;
}

Result<bool> IndexedStore::commit_file(BlockWriter& writer, const content::FileSummary& summary) {
  bool already = false;
  bool evicted = false;
  {
    std::lock_guard lock(mu_);
    Txn txn(*this);
    auto put = put_record_locked(txn, summary.dag.root, writer.keys(), writer.sizes(),
                                 summary.digests, summary.dag.size);
    if (!put) return put.error();
    // Every block this import wrote is now referenced: its marker goes in the
    // same batch, which saves release() a write.
    for (const auto& key : writer.written()) {
      txn.batch().del(Table::pending, codec::pending_key(writer.id(), key));
    }
    if (auto c = txn.commit(); !c) return c.error();
    writer.markers_cleared(writer.written());
    already = put->existed && put->added_blocks == 0;
    auto e = maybe_evict_locked(summary.dag.root);
    if (!e) return e.error();
    evicted = *e;
  }
  // The file is committed; failing to reclaim space now is not an import error.
  if (evicted) std::ignore = engine_->compact(CompactMode::light);
  return already;
}

Result<void> IndexedStore::commit_car(BlockWriter& writer, const std::vector<RootPlan>& plans) {
  if (plans.empty()) return {};
  bool evicted = false;
  {
    std::lock_guard lock(mu_);
    Txn txn(*this);
    std::unordered_set<std::string> referenced;
    for (const auto& plan : plans) {
      auto put = put_record_locked(txn, plan.root, plan.keys, plan.sizes, plan.digests, plan.size);
      if (!put) return put.error();
      referenced.insert(plan.keys.begin(), plan.keys.end());
    }
    std::vector<std::string> cleared;
    for (const auto& key : writer.written()) {
      if (!referenced.contains(key)) continue;
      txn.batch().del(Table::pending, codec::pending_key(writer.id(), key));
      cleared.push_back(key);
    }
    if (auto c = txn.commit(); !c) return c.error();
    writer.markers_cleared(cleared);
    auto e = maybe_evict_locked(plans.front().root);
    if (!e) return e.error();
    evicted = *e;
  }
  if (evicted) std::ignore = engine_->compact(CompactMode::light);
  return {};
}

Result<bool> IndexedStore::maybe_evict_locked(const Cid& keep) {
  if (limits_.max_size == 0) return false;
  const auto cap = static_cast<double>(limits_.max_size);
  const auto high = static_cast<std::uint64_t>(cap * limits_.high_watermark);
  const auto low = static_cast<std::uint64_t>(cap * limits_.low_watermark);
  // The cap bounds the disk, not only the blocks: what the backend keeps on
  // top of the live blocks (blob garbage not yet collected, logs, metadata)
  // counts too. Below half the cap no eviction is due whatever it is.
  std::uint64_t overhead = 0;
  if (counters_.logical_bytes > limits_.max_size / 2) {
    auto disk = engine_->disk_bytes();
    if (!disk) return disk.error();
    if (*disk > counters_.logical_bytes) overhead = *disk - counters_.logical_bytes;
  }
  if (counters_.logical_bytes + overhead <= high) return false;
  auto r = evict_locked(low > overhead ? low - overhead : 0, keep);
  if (!r) return r.error();
  return r->files > 0;
}

Result<void> IndexedStore::evict_record_locked(Txn& txn, const Cid& root, EvictionReport& report) {
  auto rec = record_locked(root);
  if (!rec) return rec.error();
  if (!*rec || (*rec)->pinned) return {};
  std::string rk = cid_key(root);
  auto links = engine_->get(Table::links, rk);
  if (!links) return links.error();
  std::vector<std::string> keys;
  if (*links) {
    auto decoded = codec::decode_links(**links);
    if (!decoded) return decoded.error();
    keys = std::move(*decoded);
  }
  for (const auto& key : keys) {
    auto freed = txn.drop_ref(key);
    if (!freed) return freed.error();
    if (!*freed) continue;
    ++report.blocks;
    report.bytes += **freed;
    if (in_flight_.contains(key)) {
      // A running import relies on this block: keep it, and leave a marker
      // so that it is collected if that import never commits.
      txn.batch().put(Table::pending, codec::pending_key(0, key), {});
    } else {
      txn.batch().del(Table::blocks, key);
    }
  }
  if ((*rec)->digests) {
    for (auto algo : content::kAllHashAlgos) {
      std::string nk = codec::name_key((*rec)->digests->get(algo));
      auto name = engine_->get(Table::names, nk);
      if (!name) return name.error();
      if (!*name) continue;
      auto entry = codec::decode_name(**name);
      if (entry && entry->root == root) txn.batch().del(Table::names, nk);
    }
  }
  txn.batch().del(Table::files, rk);
  txn.batch().del(Table::links, rk);
  txn.batch().del(Table::lru, codec::lru_key((*rec)->last_access, root));
  --txn.counters().files;
  ++report.files;
  return {};
}

Result<EvictionReport> IndexedStore::evict_locked(std::uint64_t target,
                                                  const std::optional<Cid>& keep) {
  EvictionReport report;
  if (auto f = flush_recency_locked(); !f) return f.error();
  // Each round removes at least one LRU entry or stops, so the loop ends.
  while (counters_.logical_bytes > target) {
    std::vector<std::string> candidates;
    auto s = engine_->scan(Table::lru, "", [&](std::string_view key, ByteView) {
      candidates.emplace_back(key);
      return candidates.size() < 64;
    });
    if (!s) return s.error();
    bool progress = false;
    for (const auto& key : candidates) {
      Txn txn(*this);
      txn.batch().del(Table::lru, key);
      if (key.size() > 8) {
        auto root = Cid::from_bytes(content::as_bytes(std::string_view(key).substr(8)));
        if (root) {
          if (keep && *root == *keep) continue;
          if (auto e = evict_record_locked(txn, *root, report); !e) return e.error();
        }
      }
      if (auto c = txn.commit(); !c) return c.error();
      progress = true;
      if (counters_.logical_bytes <= target) break;
    }
    if (!progress) break;
  }
  evicted_since_open_.files += report.files;
  evicted_since_open_.bytes += report.bytes;
  return report;
}

Result<std::uint64_t> IndexedStore::collect_pending_locked(bool all_imports) {
  std::unordered_set<std::string> removed;
  std::string from;
  for (;;) {
    std::vector<std::string> keys;
    auto s = engine_->scan(Table::pending, from, [&](std::string_view key, ByteView) {
      keys.emplace_back(key);
      return keys.size() < kScanPage;
    });
    if (!s) return s.error();
    if (keys.empty()) break;
    from = successor(keys.back());
    auto batch = engine_->new_batch();
    for (const auto& key : keys) {
      if (key.size() <= 8) {
        batch->del(Table::pending, key);
        continue;
      }
      std::uint64_t id = read_be64(key);
      std::string block = key.substr(8);
      if (!all_imports && id != 0 && live_imports_.contains(id)) continue;
      if (in_flight_.contains(block)) continue;
      batch->del(Table::pending, key);
      auto ref = engine_->get(Table::refs, block);
      if (!ref) return ref.error();
      if (*ref) continue;
      batch->del(Table::blocks, block);
      removed.insert(block);
    }
    if (!batch->empty()) {
      if (auto w = engine_->write(*batch, WriteMode::logged); !w) return w.error();
    }
    if (keys.size() < kScanPage) break;
  }
  return removed.size();
}

Result<void> IndexedStore::pin(const Cid& root) {
  std::lock_guard lock(mu_);
  auto rec = record_locked(root);
  if (!rec) return rec.error();
  if (!*rec) return make_error(Errc::not_found, "no file record for " + root.to_string());
  if ((*rec)->pinned) return {};
  Txn txn(*this);
  txn.batch().del(Table::lru, codec::lru_key((*rec)->last_access, root));
  (*rec)->pinned = true;
  txn.batch().put(Table::files, cid_key(root), content::as_bytes(codec::encode_record(**rec)));
  txn.counters().pinned_bytes += (*rec)->stored_bytes;
  return txn.commit();
}

Result<void> IndexedStore::unpin(const Cid& root) {
  std::lock_guard lock(mu_);
  auto rec = record_locked(root);
  if (!rec) return rec.error();
  if (!*rec) return make_error(Errc::not_found, "no file record for " + root.to_string());
  if (!(*rec)->pinned) return {};
  Txn txn(*this);
  txn.batch().put(Table::lru, codec::lru_key((*rec)->last_access, root), {});
  (*rec)->pinned = false;
  txn.batch().put(Table::files, cid_key(root), content::as_bytes(codec::encode_record(**rec)));
  auto& c = txn.counters();
  c.pinned_bytes -= std::min(c.pinned_bytes, (*rec)->stored_bytes);
  return txn.commit();
}

Result<void> IndexedStore::add_source(const content::Digest& digest, std::string_view url) {
  if (url.empty()) return make_error(Errc::invalid_input, "source URL is empty");
  auto batch = engine_->new_batch();
  batch->put(Table::sources, codec::source_key(digest, url), {});
  return engine_->write(*batch, WriteMode::logged);
}

Result<void> IndexedStore::remove_source(const content::Digest& digest, std::string_view url) {
  auto batch = engine_->new_batch();
  batch->del(Table::sources, codec::source_key(digest, url));
  return engine_->write(*batch, WriteMode::logged);
}

Result<std::vector<std::string>> IndexedStore::sources(const content::Digest& digest,
                                                       std::size_t limit) {
  std::string prefix = codec::name_key(digest);
  std::vector<std::string> urls;
  if (limit == 0) return urls;
  auto s = engine_->scan(Table::sources, prefix, [&](std::string_view key, ByteView) {
    if (!key.starts_with(prefix)) return false;
    urls.emplace_back(key.substr(prefix.size()));
    return urls.size() < limit;
  });
  if (!s) return s.error();
  return urls;
}

Result<void> IndexedStore::for_each_source(
    const std::function<bool(const content::Digest&, const std::vector<std::string>&)>& visit) {
  // Keys of one digest are adjacent; a group is visited when the next digest
  // begins (or the scan ends).
  std::optional<content::Digest> current;
  std::vector<std::string> urls;
  std::optional<Error> error;
  bool stopped = false;
  auto s = engine_->scan(Table::sources, "", [&](std::string_view key, ByteView) {
    auto decoded = codec::decode_source_key(key);
    if (!decoded) {
      error = decoded.error();
      return false;
    }
    if (current && *current != decoded->digest) {
      if (!visit(*current, urls)) {
        stopped = true;
        return false;
      }
      urls.clear();
    }
    current = decoded->digest;
    urls.emplace_back(decoded->url);
    return true;
  });
  if (!s) return s;
  if (error) return *error;
  if (!stopped && current) visit(*current, urls);
  return {};
}

Result<StoreStats> IndexedStore::stats() {
  StoreStats st;
  {
    std::lock_guard lock(mu_);
    st.files = counters_.files;
    st.blocks = counters_.blocks;
    st.logical_bytes = counters_.logical_bytes;
    st.pinned_bytes = counters_.pinned_bytes;
    st.evicted_files = evicted_since_open_.files;
    st.evicted_bytes = evicted_since_open_.bytes;
  }
  st.max_size = limits_.max_size;
  auto disk = engine_->disk_bytes();
  if (!disk) return disk.error();
  st.disk_bytes = *disk;
  return st;
}

Result<EvictionReport> IndexedStore::evict_to(std::uint64_t target) {
  Result<EvictionReport> r = EvictionReport{};
  {
    std::lock_guard lock(mu_);
    r = evict_locked(target, std::nullopt);
  }
  if (r && r->files > 0) {
    if (auto c = engine_->compact(CompactMode::light); !c) return c.error();
  }
  return r;
}

Result<EvictionReport> IndexedStore::gc() {
  EvictionReport report;
  {
    std::lock_guard lock(mu_);
    auto orphans = collect_pending_locked(false);
    if (!orphans) return orphans.error();
    if (limits_.max_size > 0) {
      auto low =
          static_cast<std::uint64_t>(static_cast<double>(limits_.max_size) * limits_.low_watermark);
      auto r = evict_locked(low, std::nullopt);
      if (!r) return r.error();
      report = *r;
    } else if (auto f = flush_recency_locked(); !f) {
      return f.error();
    }
    report.orphan_blocks = *orphans;
  }
  if (auto c = engine_->compact(CompactMode::full); !c) return c.error();
  return report;
}

Result<VerifyReport> IndexedStore::verify(
    const std::function<void(const VerifyProblem&)>& on_problem) {
  VerifyReport rep;
  auto problem = [&](std::string key, std::string what) {
    VerifyProblem p{std::move(key), std::move(what)};
    if (on_problem) on_problem(p);
    rep.problems.push_back(std::move(p));
  };

  // 1. Every stored block against its multihash (the long part, without mu_).
  std::unordered_map<std::string, std::uint64_t> present;
  auto s = engine_->scan(Table::blocks, "", [&](std::string_view key, ByteView value) {
    present.emplace(key, value.size());
    ++rep.blocks_checked;
    rep.bytes_checked += value.size();
    ByteView in = content::as_bytes(key);
    auto mh = content::read_multihash(in);
    if (!mh || !in.empty()) {
      problem(codec::key_hex(key), "block key is not a multihash");
      return true;
    }
    auto ok = content::multihash_matches(*mh, value);
    if (!ok) {
      problem(codec::key_hex(key), "cannot re-hash: " + ok.error().message);
    } else if (!*ok) {
      problem(codec::key_hex(key),
              "bytes do not hash to the key (" + std::to_string(value.size()) + " bytes stored)");
    }
    return true;
  });
  if (!s) return s.error();

  // 2. The index against itself and against the blocks, under mu_ so that no
  // commit or eviction runs between the scans.
  std::lock_guard lock(mu_);
  std::unordered_map<std::string, std::uint64_t> expected_refs;
  std::unordered_set<std::string> roots;
  std::uint64_t files = 0, pinned_bytes = 0;
  s = engine_->scan(Table::files, "", [&](std::string_view key, ByteView value) {
    ++files;
    roots.emplace(key);
    auto root = Cid::from_bytes(content::as_bytes(key));
    if (!root) {
      problem(codec::key_hex(key), "file record key is not a CID");
      return true;
    }
    auto rec = codec::decode_record(*root, content::as_chars(value));
    if (!rec) {
      problem(root->to_string(), rec.error().message);
      return true;
    }
    if (rec->pinned) pinned_bytes += rec->stored_bytes;
    return true;
  });
  if (!s) return s.error();
  s = engine_->scan(Table::links, "", [&](std::string_view key, ByteView value) {
    auto keys = codec::decode_links(content::as_chars(value));
    if (!keys) {
      problem(codec::key_hex(key), keys.error().message);
      return true;
    }
    if (!roots.contains(std::string(key))) problem(codec::key_hex(key), "links without a record");
    for (auto& k : *keys) ++expected_refs[k];
    return true;
  });
  if (!s) return s.error();
  std::uint64_t blocks = 0, logical = 0;
  std::vector<std::string> missing;
  s = engine_->scan(Table::refs, "", [&](std::string_view key, ByteView value) {
    auto ref = codec::decode_ref(content::as_chars(value));
    std::string k(key);
    if (!ref) {
      problem(codec::key_hex(key), ref.error().message);
      return true;
    }
    ++blocks;
    logical += ref->size;
    auto exp = expected_refs.find(k);
    std::uint64_t want = exp == expected_refs.end() ? 0 : exp->second;
    if (exp != expected_refs.end()) expected_refs.erase(exp);
    if (want != ref->count) {
      problem(codec::key_hex(key), "reference count is " + std::to_string(ref->count) + " but " +
                                       std::to_string(want) + " records list the block");
    }
    auto p = present.find(k);
    if (p == present.end()) {
      missing.push_back(std::move(k));
    } else {
      if (p->second != ref->size) {
        problem(codec::key_hex(key), "block has " + std::to_string(p->second) +
                                         " bytes, its reference says " + std::to_string(ref->size));
      }
      present.erase(p);
    }
    return true;
  });
  if (!s) return s.error();
  for (const auto& [k, n] : expected_refs) {
    problem(codec::key_hex(k), "listed by " + std::to_string(n) + " records but has no reference");
  }
  for (const auto& k : missing) {
    // Written after step 1 by a commit that finished before mu_ was taken?
    auto there = engine_->contains(Table::blocks, k);
    if (!there) return there.error();
    if (!*there) problem(codec::key_hex(k), "referenced block is missing");
  }
  rep.unreferenced_blocks = present.size();
  s = engine_->scan(Table::names, "", [&](std::string_view key, ByteView value) {
    auto entry = codec::decode_name(content::as_chars(value));
    if (!entry) {
      problem(codec::key_hex(key), entry.error().message);
    } else if (!roots.contains(cid_key(entry->root))) {
      problem(codec::key_hex(key),
              "name points to " + entry->root.to_string() + ", which has no record");
    }
    return true;
  });
  if (!s) return s.error();
  auto check = [&](const char* what, std::uint64_t counter, std::uint64_t actual) {
    if (counter != actual) {
      problem("counters", std::string(what) + " counter says " + std::to_string(counter) +
                              ", the index has " + std::to_string(actual));
    }
  };
  check("files", counters_.files, files);
  check("blocks", counters_.blocks, blocks);
  check("logical bytes", counters_.logical_bytes, logical);
  check("pinned bytes", counters_.pinned_bytes, pinned_bytes);
  return rep;
}

Result<void> IndexedStore::overwrite_block_for_testing(const Cid& cid, ByteView bytes) {
  auto batch = engine_->new_batch();
  batch->put(Table::blocks, codec::block_key(cid), bytes);
  return engine_->write(*batch, WriteMode::logged);
}

}  // namespace srcgate::storage
