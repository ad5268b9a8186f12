// The store's gauges in the Prometheus registry: files, blocks, logical bytes,
// bytes on disk, pinned bytes, the size cap, and the files and bytes evicted
// since the store was opened (srcgate_store_*), read from
// BlockStore::stats() at scrape time. One stats() call serves all six gauges
// of a scrape: the snapshot is reused for kStoreStatsMaxAge.
// Ownership: the callbacks hold a reference to the store, which must outlive
// the registry's scrapes (the server stops before the store closes).
// Thread-safety: the callbacks are safe from any scraping thread.
#pragma once

#include <chrono>

#include "server/metrics.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

inline constexpr std::chrono::milliseconds kStoreStatsMaxAge{500};

// Registers the gauges. Throws std::invalid_argument (start-up) when they are
// already registered.
void register_store_metrics(MetricsRegistry& registry, storage::BlockStore& store);

}  // namespace srcgate::server
