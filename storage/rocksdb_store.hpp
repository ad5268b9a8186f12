// The production BlockStore: IndexedStore over RocksDB 7.8 in one directory.
// This header and rocksdb_store.cpp are the only places that know RocksDB;
// no RocksDB type appears here. The column families, options and the
// measurements behind them are described in rocksdb_store.cpp.
// Thread-safety: as BlockStore. One process at a time: RocksDB's LOCK file
// makes a second open fail with Errc::busy.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "storage/block_store.hpp"

namespace srcgate::storage {

enum class BlobCompression { none, lz4, zstd };

struct RocksDbOptions {
  std::filesystem::path dir;  // created (with parents) when missing and create_if_missing
  StoreOptions store;
  bool create_if_missing = true;

  // Tuning; the defaults are the measured choices (rocksdb_store.cpp).
  BlobCompression blob_compression = BlobCompression::none;
  std::uint64_t min_blob_size = 4096;  // smaller blocks stay in SST files
  // Blocks of this size or more are kept in files of their own (one file per
  // block, under <dir>/blocks/), which hits send with sendfile(2); smaller
  // ones in RocksDB. 0: every block in RocksDB. The default puts the full
  // chunks of both import profiles (1 MiB and 256 KiB) in files, and small
  // files and DAG nodes in RocksDB.
  std::uint64_t min_file_block_size = std::uint64_t{128} << 10;
  // Large imports write their blocks without the write-ahead log and flush
  // them before the commit (which is always logged), instead of writing
  // every byte twice. Crash safety is the same either way.
  bool bulk_without_wal = true;
  // Also check RocksDB's own CRC of every block read (blob records carry
  // one). Every block read is checked against the store's CRC-32C trailer
  // in any case (rocksdb_store.cpp); RocksDB's check covers the same bytes
  // again, in software in Debian's build (a portable build, no SSE4.2):
  // about 1 GB/s per core, which halves read throughput (bench/README.md,
  // "Store").
  bool verify_checksums_on_read = false;
};

// Opens (or creates) the store. Errors: Errc::busy when another process (or
// this one) holds the directory, Errc::not_found when it does not exist and
// create_if_missing is false, Errc::corruption, Errc::io_error.
[[nodiscard]] Result<std::unique_ptr<BlockStore>> open_rocksdb_store(const RocksDbOptions& options);

}  // namespace srcgate::storage
