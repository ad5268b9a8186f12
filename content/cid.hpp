// Content identifiers (CIDv0 and CIDv1): binary and text forms, and the check
// that a block's bytes match the CID that names it.
// A Cid is an immutable value that owns its binary form; copies are cheap
// enough for per-block use (one small allocation).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "content/bytes.hpp"
#include "content/error.hpp"
#include "content/multibase.hpp"
#include "content/multihash.hpp"

namespace srcgate::content {

// Multicodec codes of block formats the gateway knows.
enum class Codec : std::uint64_t {
  raw = 0x55,
  dag_pb = 0x70,
  dag_cbor = 0x71,
  libp2p_key = 0x72,
  dag_json = 0x0129,
  json = 0x0200,
  cbor = 0x51,
};

class Cid {
 public:
  // CIDv0: sha2-256 multihash of a dag-pb block. REQUIRES: digest.size() == 32.
  static Cid v0(ByteView sha256_digest);
  // CIDv1 of `codec` over an encoded multihash (REQUIRES: a valid multihash).
  static Cid v1(std::uint64_t codec, ByteView multihash);
  // CIDv1 of `codec` whose multihash is `code` over `digest`.
  static Cid v1(std::uint64_t codec, MultihashCode code, ByteView digest);
  // The sha2-256 CID of `block`: v0 (then codec must be dag_pb) or v1.
  static Cid of_block(int version, Codec codec, ByteView block);

  // Parses text: "Qm..." (46 chars, base58btc CIDv0) or a multibase CIDv1.
  // Errors name the problem: unknown multibase prefix, bad character, unknown
  // CID version, truncated varint, multihash length mismatch, identity > 128 B.
  static Result<Cid> parse(std::string_view text);
  // Parses exactly `bytes` (no trailing data allowed).
  static Result<Cid> from_bytes(ByteView bytes);
  // Reads one binary CID from the front of `in` and advances past it (CAR
  // sections, dag-pb links): 0x12 0x20 starts a CIDv0, else version varint.
  static Result<Cid> read(ByteView& in);

  int version() const { return version_; }
  std::uint64_t codec() const { return codec_; }
  std::uint64_t multihash_code() const { return mh_code_; }
  ByteView digest() const;
  ByteView multihash() const;
  // Binary form: the multihash for v0; 0x01 <codec> <multihash> for v1.
  ByteView bytes() const { return bytes_; }
  bool is_identity() const { return mh_code_ == 0; }

  // Canonical text: base58btc for v0, base32 lower ('b...') for v1.
  std::string to_string() const;
  // v1 in another multibase (v0 has only base58btc; it is returned for v0).
  std::string to_string(Multibase base) const;
  // The same multihash as CIDv1 (v0 -> v1 dag-pb); v1 returns itself.
  Cid to_v1() const;

  // True when `block` hashes to this CID's multihash (identity: equals it).
  // Errc::unsupported for a hash function we cannot compute.
  Result<bool> verify(ByteView block) const;

  friend bool operator==(const Cid& a, const Cid& b) { return a.bytes_ == b.bytes_; }
  friend std::strong_ordering operator<=>(const Cid& a, const Cid& b) {
    return a.bytes_ <=> b.bytes_;
  }

 private:
  Cid() = default;
  int version_ = 1;
  std::uint64_t codec_ = 0;
  std::uint64_t mh_code_ = 0;
  std::size_t mh_offset_ = 0;  // where the multihash starts in bytes_
  std::size_t digest_offset_ = 0;
  Bytes bytes_;
};

}  // namespace srcgate::content

template <>
struct std::hash<srcgate::content::Cid> {
  std::size_t operator()(const srcgate::content::Cid& c) const noexcept;
};
