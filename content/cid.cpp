#include "content/cid.hpp"

#include <cassert>

#include "content/encoding.hpp"
#include "content/varint.hpp"

namespace srcgate::content {
namespace {

constexpr std::uint8_t kSha256Code = static_cast<std::uint8_t>(MultihashCode::sha2_256);

Error with_context(const Error& e, std::string_view context) {
  return make_error(e.code, std::string(context) + e.message);
}

}  // namespace

Cid Cid::v0(ByteView sha256_digest) {
  assert(sha256_digest.size() == 32);
  Cid c;
  c.version_ = 0;
  c.codec_ = static_cast<std::uint64_t>(Codec::dag_pb);
  c.mh_code_ = kSha256Code;
  c.mh_offset_ = 0;
  c.digest_offset_ = 2;
  c.bytes_.reserve(2 + sha256_digest.size());
  c.bytes_.push_back(kSha256Code);
  c.bytes_.push_back(32);
  append(c.bytes_, sha256_digest);
  return c;
}

Cid Cid::v1(std::uint64_t codec, ByteView multihash) {
  Cid c;
  c.version_ = 1;
  c.codec_ = codec;
  c.bytes_.reserve(1 + uvarint_size(codec) + multihash.size());
  c.bytes_.push_back(1);
  put_uvarint(c.bytes_, codec);
  c.mh_offset_ = c.bytes_.size();
  append(c.bytes_, multihash);
  ByteView mh_in = ByteView(c.bytes_).subspan(c.mh_offset_);
  auto mh = read_multihash(mh_in);
  assert(mh && mh_in.empty());
  if (mh) {
    c.mh_code_ = mh->code;
    c.digest_offset_ = static_cast<std::size_t>(mh->digest.data() - c.bytes_.data());
  }
  return c;
}

Cid Cid::v1(std::uint64_t codec, MultihashCode code, ByteView digest) {
  Cid c;
  c.version_ = 1;
  c.codec_ = codec;
  c.mh_code_ = static_cast<std::uint64_t>(code);
  c.bytes_.reserve(1 + uvarint_size(codec) + uvarint_size(c.mh_code_) +
                   uvarint_size(digest.size()) + digest.size());
  c.bytes_.push_back(1);
  put_uvarint(c.bytes_, codec);
  c.mh_offset_ = c.bytes_.size();
  put_uvarint(c.bytes_, c.mh_code_);
  put_uvarint(c.bytes_, digest.size());
  c.digest_offset_ = c.bytes_.size();
  append(c.bytes_, digest);
  return c;
}

Cid Cid::of_block(int version, Codec codec, ByteView block) {
  const Digest d = digest_of(HashAlgo::sha256, block);
  if (version == 0) {
    assert(codec == Codec::dag_pb);
    return v0(d.bytes());
  }
  return v1(static_cast<std::uint64_t>(codec), MultihashCode::sha2_256, d.bytes());
}

Result<Cid> Cid::parse(std::string_view text) {
  if (text.size() == 46 && text[0] == 'Q' && text[1] == 'm') {
    auto raw = base58btc_decode(text);
    if (!raw) return with_context(raw.error(), "CIDv0: ");
    if (raw->size() != 34 || (*raw)[0] != kSha256Code || (*raw)[1] != 32) {
      return make_error(Errc::malformed, "CIDv0 '" + std::string(text) +
                                             "' does not decode to a 34-byte sha2-256 multihash");
    }
    return v0(ByteView(*raw).subspan(2));
  }
  if (text.empty()) return make_error(Errc::malformed, "empty CID");
  auto raw = multibase_decode(text);
  if (!raw) {
    if (raw.error().code == Errc::unsupported && text[0] == 'Q') {
      return make_error(Errc::malformed, "CID starting with 'Q' has " +
                                             std::to_string(text.size()) +
                                             " characters; a CIDv0 has 46");
    }
    return with_context(raw.error(), "CID: ");
  }
  ByteView in(*raw);
  ByteView version_in = in;
  auto version = read_uvarint(version_in);
  if (version && *version != 1) {
    // CIDv0 is only ever the bare base58btc "Qm..." form (and 0x12 reads as version 18).
    return make_error(Errc::unsupported, "unsupported CID version " + std::to_string(*version) +
                                             " in multibase CID text");
  }
  auto c = read(in);
  if (!c) return c;
  if (!in.empty()) {
    return make_error(Errc::malformed, "CID has " + std::to_string(in.size()) +
                                           " trailing bytes after its multihash");
  }
  return c;
}

Result<Cid> Cid::from_bytes(ByteView bytes) {
  ByteView in = bytes;
  auto c = read(in);
  if (!c) return c;
  if (!in.empty()) {
    return make_error(Errc::malformed, "CID has " + std::to_string(in.size()) +
                                           " trailing bytes after its multihash");
  }
  return c;
}

Result<Cid> Cid::read(ByteView& in) {
  if (in.size() >= 2 && in[0] == kSha256Code && in[1] == 32) {
    if (in.size() < 34) {
      return make_error(Errc::truncated, "CIDv0 multihash is truncated: " +
                                             std::to_string(in.size()) + " of 34 bytes");
    }
    Cid c = v0(in.subspan(2, 32));
    in = in.subspan(34);
    return c;
  }
  ByteView p = in;
  auto version = read_uvarint(p);
  if (!version) return with_context(version.error(), "CID version: ");
  if (*version != 1) {
    return make_error(Errc::unsupported, "unsupported CID version " + std::to_string(*version));
  }
  auto codec = read_uvarint(p);
  if (!codec) return with_context(codec.error(), "CID codec: ");
  const std::size_t mh_offset = static_cast<std::size_t>(p.data() - in.data());
  auto mh = read_multihash(p);
  if (!mh) return with_context(mh.error(), "CID: ");
  Cid c;
  c.version_ = 1;
  c.codec_ = *codec;
  c.mh_code_ = mh->code;
  c.mh_offset_ = mh_offset;
  c.digest_offset_ = static_cast<std::size_t>(mh->digest.data() - in.data());
  const std::size_t total = static_cast<std::size_t>(p.data() - in.data());
  c.bytes_.assign(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(total));
  in = in.subspan(total);
  return c;
}

ByteView Cid::digest() const { return ByteView(bytes_).subspan(digest_offset_); }

ByteView Cid::multihash() const { return ByteView(bytes_).subspan(mh_offset_); }

std::string Cid::to_string() const {
  if (version_ == 0) return base58btc_encode(bytes_);
  return multibase_encode(Multibase::base32, bytes_);
}

std::string Cid::to_string(Multibase base) const {
  if (version_ == 0) return base58btc_encode(bytes_);
  return multibase_encode(base, bytes_);
}

Cid Cid::to_v1() const {
  if (version_ == 1) return *this;
  return v1(static_cast<std::uint64_t>(Codec::dag_pb), multihash());
}

Result<bool> Cid::verify(ByteView block) const {
  MultihashView mh;
  mh.code = mh_code_;
  mh.digest = digest();
  mh.bytes = multihash();
  return multihash_matches(mh, block);
}

}  // namespace srcgate::content

std::size_t std::hash<srcgate::content::Cid>::operator()(
    const srcgate::content::Cid& c) const noexcept {
  return std::hash<std::string_view>()(srcgate::content::as_chars(c.bytes()));
}
