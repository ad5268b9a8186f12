#include "storage/memory_store.hpp"

#include <array>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <variant>
#include <vector>

#include "storage/indexed_store.hpp"
#include "storage/kv_engine.hpp"

namespace srcgate::storage {

namespace {

class MemoryBatch final : public KvBatch {
 public:
  struct Op {
    Table table;
    bool erase;
    std::string key;
    std::string value;
  };

  void put(Table table, std::string_view key, content::ByteView value) override {
    bytes_ += key.size() + value.size();
    ops_.push_back(Op{table, false, std::string(key), std::string(content::as_chars(value))});
  }
  void del(Table table, std::string_view key) override {
    bytes_ += key.size();
    ops_.push_back(Op{table, true, std::string(key), {}});
  }
  std::size_t bytes() const override { return bytes_; }
  bool empty() const override { return ops_.empty(); }
  std::vector<Op>& ops() { return ops_; }

 private:
  std::vector<Op> ops_;
  std::size_t bytes_ = 0;
};

// std::map per table behind one reader-writer lock. A batch applies under the
// exclusive lock, so readers see all of it or none of it.
class MemoryEngine final : public KvEngine {
 public:
  explicit MemoryEngine(std::uint64_t capacity) : capacity_(capacity) {}

  std::string describe() const override { return "memory store"; }

  std::unique_ptr<KvBatch> new_batch() override { return std::make_unique<MemoryBatch>(); }

  Result<void> write(KvBatch& batch, WriteMode) override {
    auto& ops = static_cast<MemoryBatch&>(batch).ops();
    std::unique_lock lock(mu_);
    if (capacity_ > 0) {
      // Compute the size after the batch first: a failed batch changes nothing.
      std::int64_t delta = 0;
      for (const auto& op : ops) {
        const auto& map = tables_[static_cast<std::size_t>(op.table)];
        auto it = map.find(op.key);
        if (it != map.end())
          delta -= static_cast<std::int64_t>(it->first.size() + it->second.size());
        if (!op.erase) delta += static_cast<std::int64_t>(op.key.size() + op.value.size());
      }
      if (delta > 0 && used_ + static_cast<std::uint64_t>(delta) > capacity_) {
        return make_error(Errc::no_space, "store is full: memory store capacity is " +
                                              std::to_string(capacity_) + " bytes, " +
                                              std::to_string(used_) + " in use, the write needs " +
                                              std::to_string(delta) + " more");
      }
    }
    for (auto& op : ops) {
      auto& map = tables_[static_cast<std::size_t>(op.table)];
      auto it = map.find(op.key);
      if (it != map.end()) {
        used_ -= it->first.size() + it->second.size();
        if (op.erase) {
          map.erase(it);
        } else {
          used_ += it->first.size() + op.value.size();
          it->second = std::move(op.value);
        }
      } else if (!op.erase) {
        used_ += op.key.size() + op.value.size();
        map.emplace(std::move(op.key), std::move(op.value));
      }
    }
    ops.clear();
    return {};
  }

  Result<void> sync_bulk() override { return {}; }

  Result<std::optional<std::string>> get(Table table, std::string_view key) override {
    std::shared_lock lock(mu_);
    const auto& map = tables_[static_cast<std::size_t>(table)];
    auto it = map.find(key);
    if (it == map.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  Result<bool> get_into(Table table, std::string_view key, content::Bytes& out) override {
    std::shared_lock lock(mu_);
    const auto& map = tables_[static_cast<std::size_t>(table)];
    auto it = map.find(key);
    if (it == map.end()) return false;
    auto b = content::as_bytes(it->second);
    out.assign(b.begin(), b.end());
    return true;
  }

  Result<bool> contains(Table table, std::string_view key) override {
    std::shared_lock lock(mu_);
    const auto& map = tables_[static_cast<std::size_t>(table)];
    return map.find(key) != map.end();
  }

  Result<void> scan(Table table, std::string_view from, const Visitor& visit) override {
    std::shared_lock lock(mu_);
    const auto& map = tables_[static_cast<std::size_t>(table)];
    for (auto it = map.lower_bound(from); it != map.end(); ++it) {
      if (!visit(it->first, content::as_bytes(it->second))) break;
    }
    return {};
  }

  Result<void> compact(CompactMode) override { return {}; }

  Result<std::uint64_t> disk_bytes() override {
    std::shared_lock lock(mu_);
    return used_;
  }

 private:
  const std::uint64_t capacity_;
  mutable std::shared_mutex mu_;
  std::array<std::map<std::string, std::string, std::less<>>, kTableCount> tables_;
  std::uint64_t used_ = 0;
};

}  // namespace

Result<std::unique_ptr<BlockStore>> make_memory_store(const MemoryStoreOptions& options) {
  auto store = IndexedStore::open(std::make_unique<MemoryEngine>(options.capacity), options.store);
  if (!store) return store.error();
  return std::unique_ptr<BlockStore>(std::move(*store));
}

}  // namespace srcgate::storage
