// HAMT-sharded UnixFS directories (ipfs-gateway.md §2.5): murmur3 hashing of
// entry names and the bucket index at each level. Pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "content/bytes.hpp"

namespace srcgate::content {

// murmur3_x64_128 with seed 0; returns {h1, h2} as the reference does.
std::array<std::uint64_t, 2> murmur3_x64_128(ByteView data);

// The bucket of `name` at `depth` (0 = root shard) for `fanout` (a power of two,
// 8..1024): consumes log2(fanout) bits per level, MSB-first, from the
// big-endian h1 of murmur3_x64_128(name), as boxo's hamt/util.go does.
std::uint32_t hamt_bucket(std::string_view name, unsigned depth, unsigned fanout);

}  // namespace srcgate::content
