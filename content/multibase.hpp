// Multibase: a one-character prefix naming the text encoding of a byte string.
// Supported: base58btc 'z', base32 lower 'b' and upper 'B', base16 'f' (and
// 'F'), base64 'm', base64url 'u' (all unpadded, as the multibase table says).
#pragma once

#include <string>
#include <string_view>

#include "content/bytes.hpp"
#include "content/error.hpp"

namespace srcgate::content {

enum class Multibase : char {
  base58btc = 'z',
  base32 = 'b',
  base32upper = 'B',
  base16 = 'f',
  base16upper = 'F',
  base64 = 'm',
  base64url = 'u',
};

// Prefix + encoding of `data`.
std::string multibase_encode(Multibase base, ByteView data);
// Decodes a prefixed string. Errc::unsupported for an unknown prefix (naming it),
// Errc::malformed for bad characters in the body.
Result<Bytes> multibase_decode(std::string_view text);

}  // namespace srcgate::content
