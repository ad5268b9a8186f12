// UnixFS `Data` messages (the payload inside a dag-pb node's Data field), proto2
// wire format as kubo writes it: fields in number order, blocksizes NOT packed
// (ipfs-gateway.md §2.1-2.2). Decoded values view the bytes they came from.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "content/bytes.hpp"
#include "content/error.hpp"

namespace srcgate::content {

enum class UnixfsType : std::uint8_t {
  raw = 0,
  directory = 1,
  file = 2,
  metadata = 3,
  symlink = 4,
  hamt_shard = 5,
};

struct UnixfsMtime {
  std::int64_t seconds = 0;
  std::optional<std::uint32_t> nanos;
  friend bool operator==(const UnixfsMtime&, const UnixfsMtime&) = default;
};

struct UnixfsData {
  UnixfsType type = UnixfsType::file;
  std::optional<ByteView> data;  // file bytes, symlink target, or HAMT bitfield
  std::optional<std::uint64_t> filesize;
  std::vector<std::uint64_t> blocksizes;
  std::optional<std::uint64_t> hash_type;  // HAMT: 0x22 (murmur3-x64-64)
  std::optional<std::uint64_t> fanout;     // HAMT: power of two, <= 1024
  std::optional<std::uint32_t> mode;
  std::optional<UnixfsMtime> mtime;
};

// Decodes a UnixFS Data message. Accepts packed and unpacked blocksizes; rejects
// a missing Type, an unknown Type value, wrong wire types, truncation and
// unknown fields (Errc::malformed / Errc::truncated, naming the field).
Result<UnixfsData> decode_unixfs(ByteView bytes);

// Encodes in field-number order with unpacked blocksizes.
Bytes encode_unixfs(const UnixfsData& data);

}  // namespace srcgate::content
