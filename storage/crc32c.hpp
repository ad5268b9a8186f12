// CRC-32C (Castagnoli, iSCSI; RFC 3720 §12.1): the checksum that the RocksDB
// store keeps beside every block so that the hit path verifies what it reads
// at memory speed. Debian's librocksdb computes its own crc32c in software
// (about 1 GB/s per core); this one uses the SSE4.2 crc32 instruction when
// the CPU has it (chosen once, at run time) and a table otherwise.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "content/bytes.hpp"

namespace srcgate::storage {

// The CRC-32C of `data`, continuing from `crc` (the CRC of the bytes before
// it; 0 to start). crc32c(crc32c(0, a), b) == crc32c(0, a + b).
std::uint32_t crc32c(std::uint32_t crc, content::ByteView data);

// The portable table version, for tests that compare the two.
std::uint32_t crc32c_portable(std::uint32_t crc, content::ByteView data);

}  // namespace srcgate::storage
