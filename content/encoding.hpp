// Text encodings of byte strings: hex, Nix's base32 ("nix32"), RFC 4648 base32
// and base64 (standard and URL alphabets), and base58btc. Pure functions.
// Decoders are strict: a character outside the alphabet, a wrong length or
// non-canonical padding/trailing bits is an Errc::malformed error whose message
// names the encoding and the offending character and offset.
#pragma once

#include <string>
#include <string_view>

#include "content/bytes.hpp"
#include "content/error.hpp"

namespace srcgate::content {

// Lowercase hex. Decoding accepts upper and lower case.
std::string hex_encode(ByteView data);
Result<Bytes> hex_decode(std::string_view text);

// Nix base32: alphabet "0123456789abcdfghijklmnpqrsvwxyz", length ceil(8n/5),
// characters emitted from the last 5-bit group to the first (nix.md §0.6,
// libutil/hash.cc printHash32). Decoding rejects bits set beyond 8n.
std::string nix32_encode(ByteView data);
Result<Bytes> nix32_decode(std::string_view text);
// Encoded length of n bytes in nix32.
std::size_t nix32_length(std::size_t n);

// RFC 4648 base32, no padding; `upper` picks the alphabet. Decoding of the
// unpadded form only (as multibase uses it); case must match `upper`.
std::string base32_encode(ByteView data, bool upper = false);
Result<Bytes> base32_decode(std::string_view text, bool upper = false);

// RFC 4648 base64. `pad` controls '=' padding on output; decoding accepts the
// padded form when `pad` and the unpadded form when not.
std::string base64_encode(ByteView data, bool pad = true);
Result<Bytes> base64_decode(std::string_view text, bool pad = true);
std::string base64url_encode(ByteView data, bool pad = false);
Result<Bytes> base64url_decode(std::string_view text, bool pad = false);

// Bitcoin base58 alphabet. Leading zero bytes map to leading '1's.
std::string base58btc_encode(ByteView data);
Result<Bytes> base58btc_decode(std::string_view text);

}  // namespace srcgate::content
