// Multihash reading and writing against hand-assembled bytes (code varint,
// length varint, digest; multiformats multicodec table codes).
#include "content/multihash.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace srcgate::content;

namespace {

Bytes cat(Bytes a, ByteView b) {
  append(a, b);
  return a;
}

}  // namespace

TEST_CASE("codes and algos") {
  CHECK(multihash_algo(0x12) == HashAlgo::sha256);
  CHECK(multihash_algo(0x13) == HashAlgo::sha512);
  CHECK(multihash_algo(0x11) == HashAlgo::sha1);
  CHECK(multihash_algo(0xd5) == HashAlgo::md5);
  CHECK_FALSE(multihash_algo(0x00).has_value());
  CHECK_FALSE(multihash_algo(0x1e).has_value());  // blake3
  CHECK(multihash_code(HashAlgo::sha256) == MultihashCode::sha2_256);
  CHECK(multihash_code(HashAlgo::md5) == MultihashCode::md5);
  CHECK(static_cast<std::uint64_t>(multihash_code(HashAlgo::sha512)) == 0x13);
  CHECK(static_cast<std::uint64_t>(multihash_code(HashAlgo::sha1)) == 0x11);
}

TEST_CASE("put_multihash writes code, length, digest") {
  const Digest d = digest_of(HashAlgo::sha256, as_bytes(""));
  Bytes out{0xaa};
  put_multihash(out, MultihashCode::sha2_256, d.bytes());
  REQUIRE(out.size() == 35);
  CHECK(out[0] == 0xaa);
  CHECK(out[1] == 0x12);
  CHECK(out[2] == 0x20);
  CHECK(out[3] == 0xe3);  // sha256("") = e3b0c442...
  CHECK(out[34] == 0x55);
  Bytes md5;
  put_multihash(md5, MultihashCode::md5, digest_of(HashAlgo::md5, as_bytes("")).bytes());
  CHECK(md5.size() == 19);
  CHECK(md5[0] == 0xd5);  // 0xd5 = 213 needs two varint bytes: d5 01
  CHECK(md5[1] == 0x01);
  CHECK(md5[2] == 0x10);
  CHECK(md5[3] == 0xd4);  // md5("") = d41d8cd9...
}

TEST_CASE("read_multihash parses and advances") {
  const Digest d = digest_of(HashAlgo::sha256, as_bytes("abc"));
  Bytes data = cat(Bytes{0x12, 0x20}, d.bytes());
  data.push_back(0x99);
  ByteView in(data);
  auto r = read_multihash(in);
  INFO((r ? "" : r.error().message));
  REQUIRE(r.has_value());
  CHECK(r->code == 0x12);
  CHECK(r->digest.size() == 32);
  CHECK(r->digest.data() == data.data() + 2);
  CHECK(r->bytes.data() == data.data());
  CHECK(r->bytes.size() == 34);
  REQUIRE(in.size() == 1);
  CHECK(in[0] == 0x99);
  auto m = multihash_matches(*r, as_bytes("abc"));
  REQUIRE(m.has_value());
  CHECK(*m);
  m = multihash_matches(*r, as_bytes("abd"));
  REQUIRE(m.has_value());
  CHECK_FALSE(*m);
}

TEST_CASE("matches for every computable function") {
  for (HashAlgo a : kAllHashAlgos) {
    INFO(algo_name(a));
    Bytes mh;
    put_multihash(mh, multihash_code(a), digest_of(a, as_bytes("hello")).bytes());
    ByteView in(mh);
    auto r = read_multihash(in);
    REQUIRE(r.has_value());
    CHECK(in.empty());
    CHECK(multihash_algo(r->code) == a);
    CHECK(*multihash_matches(*r, as_bytes("hello")));
    CHECK_FALSE(*multihash_matches(*r, as_bytes("hellO")));
  }
}

TEST_CASE("identity: 128 bytes accepted, 129 rejected") {
  Bytes id128{0x00, 0x80, 0x01};  // length 128 = varint 80 01
  id128.resize(3 + 128, 0x41);
  ByteView in(id128);
  auto r = read_multihash(in);
  INFO((r ? "" : r.error().message));
  REQUIRE(r.has_value());
  CHECK(r->code == 0);
  CHECK(r->digest.size() == 128);
  CHECK(*multihash_matches(*r, Bytes(128, 0x41)));
  CHECK_FALSE(*multihash_matches(*r, Bytes(127, 0x41)));

  Bytes id129{0x00, 0x81, 0x01};
  id129.resize(3 + 129, 0x41);
  in = ByteView(id129);
  r = read_multihash(in);
  REQUIRE_FALSE(r.has_value());
  INFO(r.error().message);
  CHECK(r.error().code == Errc::too_large);
  CHECK(r.error().message.find("129") != std::string::npos);
  CHECK(in.size() == id129.size());

  const Bytes empty_id{0x00, 0x00};
  in = ByteView(empty_id);
  r = read_multihash(in);
  REQUIRE(r.has_value());
  CHECK(r->digest.empty());
  CHECK(*multihash_matches(*r, {}));
  CHECK_FALSE(*multihash_matches(*r, as_bytes("x")));
}

TEST_CASE("read_multihash errors") {
  SECTION("known code with wrong length") {
    Bytes b = cat(Bytes{0x12, 0x14}, Bytes(20, 1));
    ByteView in(b);
    auto r = read_multihash(in);
    REQUIRE_FALSE(r.has_value());
    INFO(r.error().message);
    CHECK(r.error().code == Errc::malformed);
    CHECK(r.error().message.find("20") != std::string::npos);
    CHECK(r.error().message.find("32") != std::string::npos);
  }
  SECTION("digest truncated") {
    Bytes b = cat(Bytes{0x12, 0x20}, Bytes(31, 1));
    ByteView in(b);
    auto r = read_multihash(in);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::truncated);
  }
  SECTION("varints truncated") {
    for (const Bytes& b : {Bytes{}, Bytes{0x12}, Bytes{0xd5}, Bytes{0xd5, 0x01, 0x80}}) {
      ByteView in(b);
      auto r = read_multihash(in);
      REQUIRE_FALSE(r.has_value());
      INFO(r.error().message);
      CHECK(r.error().code == Errc::truncated);
    }
  }
  SECTION("non-identity digest over 128 bytes") {
    Bytes b = cat(Bytes{0x1e, 0x81, 0x01}, Bytes(129, 1));  // blake3, 129 bytes
    ByteView in(b);
    auto r = read_multihash(in);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::too_large);
  }
  SECTION("unknown code accepted but not verifiable") {
    Bytes b = cat(Bytes{0x1e, 0x20}, Bytes(32, 7));  // blake3-256
    ByteView in(b);
    auto r = read_multihash(in);
    REQUIRE(r.has_value());
    CHECK(r->code == 0x1e);
    auto m = multihash_matches(*r, as_bytes(""));
    REQUIRE_FALSE(m.has_value());
    INFO(m.error().message);
    CHECK(m.error().code == Errc::unsupported);
    CHECK(m.error().message.find("0x1e") != std::string::npos);
  }
  SECTION("non-minimal code varint") {
    Bytes b = cat(Bytes{0x92, 0x00, 0x20}, Bytes(32, 7));
    ByteView in(b);
    auto r = read_multihash(in);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::malformed);
  }
}
