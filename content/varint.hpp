// Unsigned LEB128 varints as multiformats (unsigned-varint) and protobuf use them.
// Pure functions.
#pragma once

#include <cstdint>

#include "content/bytes.hpp"
#include "content/error.hpp"

namespace srcgate::content {

// Appends the minimal encoding of `value` (1 to 10 bytes).
void put_uvarint(Bytes& out, std::uint64_t value);
// Encoded length of `value`.
std::size_t uvarint_size(std::uint64_t value);

enum class VarintRules {
  multiformats,  // at most 9 bytes, minimal encoding required (no trailing 0x80 0x00)
  protobuf,      // at most 10 bytes, value must fit 64 bits
};

// Reads one varint from the front of `in` and advances `in` past it.
// Errors: Errc::truncated when `in` ends inside the varint, Errc::malformed when
// it is too long, overflows 64 bits or (multiformats) is not minimal.
Result<std::uint64_t> read_uvarint(ByteView& in, VarintRules rules = VarintRules::multiformats);

}  // namespace srcgate::content
