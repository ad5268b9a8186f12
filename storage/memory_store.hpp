// An in-memory BlockStore: the same index logic as the RocksDB store over
// std::maps instead of column families, for tests and for servers that need
// no persistence. Not for production use: it holds every block in RAM, and
// everything is lost when it is destroyed. An optional capacity makes writes
// fail with Errc::no_space once keys and values would exceed it, so that
// full-disk behaviour can be tested without a disk.
// Thread-safety: as BlockStore (internally synchronized).
#pragma once

#include <cstdint>
#include <memory>

#include "storage/block_store.hpp"

namespace srcgate::storage {

struct MemoryStoreOptions {
  StoreOptions store;
  std::uint64_t capacity = 0;  // bytes of keys and values; 0 = unlimited
};

// Creates an empty store. Fails only if options are invalid.
[[nodiscard]] Result<std::unique_ptr<BlockStore>> make_memory_store(
    const MemoryStoreOptions& options = {});

}  // namespace srcgate::storage
