// Multihash: <varint code><varint length><digest>. Codes we compute: identity,
// sha1, sha2-256, sha2-512, md5. Pure functions.
#pragma once

#include <cstdint>
#include <optional>

#include "content/bytes.hpp"
#include "content/digest.hpp"
#include "content/error.hpp"

namespace srcgate::content {

enum class MultihashCode : std::uint64_t {
  identity = 0x00,
  sha1 = 0x11,
  sha2_256 = 0x12,
  sha2_512 = 0x13,
  md5 = 0xd5,
};

// An identity multihash inlines its data; more than this is rejected (IPIP-0512).
inline constexpr std::size_t kMaxIdentityDigest = 128;
// Digest lengths above this are rejected for non-identity codes (boxo's limit).
inline constexpr std::size_t kMaxDigestSize = 128;

// A parsed multihash that views the bytes it was read from.
struct MultihashView {
  std::uint64_t code = 0;
  ByteView digest;
  ByteView bytes;  // the whole encoded multihash
};

// Reads one multihash from the front of `in`, advancing `in`. Checks the length
// bound (identity <= 128 bytes, others <= 128) and, for the codes we know, that
// the digest length matches the function's size. Unknown codes are accepted
// (they can still name blocks we pass through) but cannot be verified.
Result<MultihashView> read_multihash(ByteView& in);

// Appends a multihash of `digest` under `code`.
void put_multihash(Bytes& out, MultihashCode code, ByteView digest);

// The HashAlgo that computes `code`; nullopt for identity and unknown codes.
std::optional<HashAlgo> multihash_algo(std::uint64_t code);
MultihashCode multihash_code(HashAlgo algo);

// True when `data` hashes (or, for identity, is equal) to `mh`. Errc::unsupported
// when `mh.code` is a function we cannot compute.
Result<bool> multihash_matches(const MultihashView& mh, ByteView data);

}  // namespace srcgate::content
