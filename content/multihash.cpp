#include "content/multihash.hpp"

#include <algorithm>
#include <string>

#include "content/varint.hpp"

namespace srcgate::content {
namespace {

std::string hex_code(std::uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), d[v & 15]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

}  // namespace

std::optional<HashAlgo> multihash_algo(std::uint64_t code) {
  switch (static_cast<MultihashCode>(code)) {
    case MultihashCode::md5:
      return HashAlgo::md5;
    case MultihashCode::sha1:
      return HashAlgo::sha1;
    case MultihashCode::sha2_256:
      return HashAlgo::sha256;
    case MultihashCode::sha2_512:
      return HashAlgo::sha512;
    case MultihashCode::identity:
      break;
  }
  return std::nullopt;
}

MultihashCode multihash_code(HashAlgo algo) {
  switch (algo) {
    case HashAlgo::md5:
      return MultihashCode::md5;
    case HashAlgo::sha1:
      return MultihashCode::sha1;
    case HashAlgo::sha256:
      return MultihashCode::sha2_256;
    case HashAlgo::sha512:
      return MultihashCode::sha2_512;
  }
  return MultihashCode::sha2_256;
}

Result<MultihashView> read_multihash(ByteView& in) {
  ByteView p = in;
  auto code = read_uvarint(p);
  if (!code) {
    return make_error(code.error().code, "multihash code: " + code.error().message);
  }
  auto len = read_uvarint(p);
  if (!len) {
    return make_error(len.error().code, "multihash length: " + len.error().message);
  }
  const bool identity = *code == static_cast<std::uint64_t>(MultihashCode::identity);
  const std::size_t limit = identity ? kMaxIdentityDigest : kMaxDigestSize;
  if (*len > limit) {
    return make_error(Errc::too_large, std::string(identity ? "identity multihash" : "multihash") +
                                           " digest of " + std::to_string(*len) +
                                           " bytes exceeds the limit of " + std::to_string(limit));
  }
  if (auto algo = multihash_algo(*code); algo && *len != digest_size(*algo)) {
    return make_error(Errc::malformed, "multihash " + std::string(algo_name(*algo)) +
                                           " digest has length " + std::to_string(*len) +
                                           ", expected " + std::to_string(digest_size(*algo)));
  }
  if (p.size() < *len) {
    return make_error(Errc::truncated, "multihash digest of " + std::to_string(*len) +
                                           " bytes is truncated after " + std::to_string(p.size()));
  }
  MultihashView mh;
  mh.code = *code;
  mh.digest = p.first(*len);
  const std::size_t total = static_cast<std::size_t>(p.data() - in.data()) + *len;
  mh.bytes = in.first(total);
  in = in.subspan(total);
  return mh;
}

void put_multihash(Bytes& out, MultihashCode code, ByteView digest) {
  out.reserve(out.size() + 4 + digest.size());
  put_uvarint(out, static_cast<std::uint64_t>(code));
  put_uvarint(out, digest.size());
  append(out, digest);
}

Result<bool> multihash_matches(const MultihashView& mh, ByteView data) {
  if (mh.code == static_cast<std::uint64_t>(MultihashCode::identity)) {
    return std::equal(mh.digest.begin(), mh.digest.end(), data.begin(), data.end());
  }
  auto algo = multihash_algo(mh.code);
  if (!algo) {
    return make_error(
        Errc::unsupported,
        "cannot verify multihash with unsupported hash function code " + hex_code(mh.code));
  }
  const Digest got = digest_of(*algo, data);
  const ByteView g = got.bytes();
  return std::equal(mh.digest.begin(), mh.digest.end(), g.begin(), g.end());
}

}  // namespace srcgate::content
