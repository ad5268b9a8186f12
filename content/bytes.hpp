// Byte buffers and views shared by every layer. Plain aliases; no ownership rules
// beyond those of std::vector and std::span.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace srcgate::content {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// Views the characters of `s` as bytes. The view lives as long as `s`'s storage.
inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Views bytes as characters. The view lives as long as `b`'s storage.
inline std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

inline void append(Bytes& out, ByteView b) { out.insert(out.end(), b.begin(), b.end()); }

}  // namespace srcgate::content
