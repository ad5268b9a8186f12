// The textual hash forms that Nix and nixpkgs put in hashed-mirror URLs and
// expressions (nix.md §1.2-1.3): lowercase hex, nix32, standard base64 (may hold
// '/' and '+'), "algo:<any of those>", and SRI "algo-<base64>". Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "content/digest.hpp"
#include "content/error.hpp"

namespace srcgate::content {

enum class HashEncoding { hex, nix32, base64, sri };

struct ParsedHash {
  Digest digest;
  HashEncoding encoding;  // the form the text used (sri for "algo-...")
};

// Parses `text` as a hash of `algo` (the algo named by the URL path segment or
// the Nix attribute), or, when `algo` is nullopt, as a self-describing SRI
// "algo-<base64>" or "algo:<hash>" string. The encoding is chosen by length as
// Nix does (hex 2n, nix32 ceil(8n/5), base64 4*ceil(n/3) characters). When both
// `algo` and an embedded algo are present they must agree.
// Errors (Errc::malformed or Errc::unsupported) say which: unknown algo, algo
// conflict, a length that fits no encoding for this algo (listing the lengths
// that would), or a character outside the encoding's alphabet (with its offset).
Result<ParsedHash> parse_nix_hash(std::string_view text, std::optional<HashAlgo> algo);

// "sha256-<standard base64 with padding>".
std::string to_sri(const Digest& digest);
// Lowercase hex of the digest bytes.
std::string to_hex(const Digest& digest);
// Nix base32 of the digest bytes.
std::string to_nix32(const Digest& digest);

}  // namespace srcgate::content
