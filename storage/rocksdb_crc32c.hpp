// Hardware CRC-32C for RocksDB. Debian's librocksdb 7.8.3 is a portable build:
// its rocksdb::crc32c::Extend, which checksums every blob record it writes
// and every block it verifies, dispatches through a function pointer that its
// start-up code sets to the table-driven loop (about 1 GB/s; an import of
// 1 GiB spends about 1 CPU-second in it, a sixth of the import's CPU).
// install_rocksdb_hardware_crc32c() points that dispatch at storage::crc32c,
// which computes the same function with the SSE4.2 instruction (8 GB/s).
//
// The patch is guarded so that it is a no-op unless everything is exactly as
// expected: x86-64 with SSE4.2; the exported Extend is `jmp *slot(%rip)`; the
// slot holds a function of librocksdb's own code that computes CRC-32C (the
// same values as ours on test vectors, with the same extend semantics); and
// after the store the exported Extend gives the same values again. CRCs
// written before and after are bit-identical, so stores are unaffected.
// SRCGATE_ROCKSDB_SOFTWARE_CRC32C=1 in the environment leaves RocksDB alone
// (an escape hatch, and the A/B switch of bench/store-bench.sh).
// Thread-safety: call before any RocksDB database is opened (RocksDbEngine
// calls it once, under std::call_once); the pointer is stored atomically.
#pragma once

#include <string>

namespace srcgate::storage {

struct Crc32cPatch {
  bool installed = false;  // RocksDB now uses the hardware CRC-32C
  std::string reason;      // why not, when not installed
};

// Idempotent; the result of the first call is returned again.
const Crc32cPatch& install_rocksdb_hardware_crc32c();

}  // namespace srcgate::storage
