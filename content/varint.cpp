#include "content/varint.hpp"

#include <string>

namespace srcgate::content {

void put_uvarint(Bytes& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

std::size_t uvarint_size(std::uint64_t value) {
  std::size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

Result<std::uint64_t> read_uvarint(ByteView& in, VarintRules rules) {
  // Fast path: one byte.
  if (!in.empty() && in[0] < 0x80) {
    std::uint64_t v = in[0];
    in = in.subspan(1);
    return v;
  }
  const bool mf = rules == VarintRules::multiformats;
  const std::size_t max_len = mf ? 9 : 10;
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < max_len; ++i) {
    if (i == in.size()) {
      return make_error(Errc::truncated, "varint ends after " + std::to_string(i) +
                                             " bytes, in the middle of its encoding");
    }
    const std::uint8_t b = in[i];
    const unsigned shift = static_cast<unsigned>(7 * i);
    if (i == 9 && b > 1) {
      return make_error(Errc::malformed, "varint overflows 64 bits");
    }
    value |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (b < 0x80) {
      if (mf && b == 0 && i > 0) {
        return make_error(Errc::malformed, "varint is not minimally encoded (" +
                                               std::to_string(i + 1) + " bytes ending in 0x00)");
      }
      in = in.subspan(i + 1);
      return value;
    }
  }
  return make_error(Errc::malformed, "varint is longer than " + std::to_string(max_len) +
                                         " bytes (" + (mf ? "multiformats" : "protobuf") +
                                         " limit)");
}

}  // namespace srcgate::content
