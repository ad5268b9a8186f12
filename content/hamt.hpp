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
// REQUIRES: depth < hamt_max_depth(fanout) (beyond it boxo reports "sharded
// directory too deep"; this function then returns 0).
std::uint32_t hamt_bucket(std::string_view name, unsigned depth, unsigned fanout);

// How many levels the 64 hash bits of h1 can address for `fanout`
// (64 / log2(fanout)); 0 when `fanout` is not a power of two in 2..1024.
unsigned hamt_max_depth(unsigned fanout);

}  // namespace srcgate::content
