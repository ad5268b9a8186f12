#include "server/store_metrics.hpp"

#include <memory>
#include <mutex>
#include <optional>

namespace srcgate::server {
namespace {

// The last stats() snapshot and when it was taken. A failed stats() keeps the
// previous values (a scrape shows the last known state rather than zeros).
class StatsCache {
 public:
  explicit StatsCache(storage::BlockStore& store) : store_(store) {}

  storage::StoreStats get() {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (!taken_ || now - *taken_ > kStoreStatsMaxAge) {
      auto st = store_.stats();
      if (st) stats_ = *st;
      taken_ = now;
    }
    return stats_;
  }

 private:
  storage::BlockStore& store_;
  std::mutex mu_;
  std::optional<std::chrono::steady_clock::time_point> taken_;
  storage::StoreStats stats_;
};

}  // namespace

void register_store_metrics(MetricsRegistry& registry, storage::BlockStore& store) {
  auto cache = std::make_shared<StatsCache>(store);
  auto gauge = [&](const char* name, const char* help, std::uint64_t storage::StoreStats::*field) {
    registry.gauge_callback(name, help,
                            [cache, field] { return static_cast<double>(cache->get().*field); });
  };
  gauge("srcgate_store_files", "File records in the store.", &storage::StoreStats::files);
  gauge("srcgate_store_blocks", "Distinct referenced blocks in the store.",
        &storage::StoreStats::blocks);
  gauge("srcgate_store_logical_bytes",
        "Bytes of the distinct referenced blocks (what the size cap bounds).",
        &storage::StoreStats::logical_bytes);
  gauge("srcgate_store_disk_bytes", "Bytes the store's directory occupies on disk.",
        &storage::StoreStats::disk_bytes);
  gauge("srcgate_store_pinned_bytes", "Stored bytes of pinned records.",
        &storage::StoreStats::pinned_bytes);
  gauge("srcgate_store_max_size_bytes", "The store's size cap in bytes; 0 means unbounded.",
        &storage::StoreStats::max_size);
  gauge("srcgate_store_evicted_files",
        "Files evicted to keep the store under its cap since it was opened.",
        &storage::StoreStats::evicted_files);
  gauge("srcgate_store_evicted_bytes",
        "Logical bytes freed by evictions since the store was opened.",
        &storage::StoreStats::evicted_bytes);
}

}  // namespace srcgate::server
