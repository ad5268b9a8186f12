// CIDs against published vectors (ipfs-gateway.md §2.4: specs unixfs.md
// "Well-Known UnixFS CIDs", ipld dag-pb spec) and hand-assembled bytes; every
// text form below was re-derived with python3 (hashlib.sha256, base64.b32encode,
// big-integer base58) from <version><codec><0x12 0x20 digest>.
#include "content/cid.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <unordered_set>

#include "content/encoding.hpp"

using namespace srcgate::content;

namespace {

const char* kEmptyRaw = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
const char* kEmptyDagPbV0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n";
const char* kEmptyDagPbV1 = "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
const char* kSha256EmptyHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

Cid parse_ok(std::string_view text) {
  auto r = Cid::parse(text);
  INFO(text << " -> " << (r ? "" : r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

Error parse_bad(std::string_view text) {
  auto r = Cid::parse(text);
  INFO(text);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

bool has(const std::string& s, std::string_view needle) {
  return s.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("well-known CIDs from block bytes") {
  CHECK(Cid::of_block(1, Codec::raw, {}).to_string() == kEmptyRaw);
  CHECK(Cid::of_block(0, Codec::dag_pb, {}).to_string() == kEmptyDagPbV0);
  CHECK(Cid::of_block(1, Codec::dag_pb, {}).to_string() == kEmptyDagPbV1);
  CHECK(Cid::of_block(0, Codec::dag_pb, {}).to_v1().to_string() == kEmptyDagPbV1);
  CHECK(Cid::of_block(1, Codec::raw, as_bytes("hello world\n")).to_string() ==
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
  // The empty UnixFS file node: Data { Type: File, filesize: 0 } = 0a 04 08 02 18 00.
  const Bytes empty_file{0x0a, 0x04, 0x08, 0x02, 0x18, 0x00};
  const Cid v0 = Cid::of_block(0, Codec::dag_pb, empty_file);
  CHECK(v0.to_string() == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  CHECK(v0.to_v1().to_string() == "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y");
}

TEST_CASE("accessors and binary form") {
  const Cid raw = parse_ok(kEmptyRaw);
  CHECK(raw.version() == 1);
  CHECK(raw.codec() == 0x55);
  CHECK(raw.multihash_code() == 0x12);
  CHECK_FALSE(raw.is_identity());
  CHECK(hex_encode(raw.digest()) == kSha256EmptyHex);
  CHECK(hex_encode(raw.multihash()) == std::string("1220") + kSha256EmptyHex);
  CHECK(hex_encode(raw.bytes()) == std::string("01551220") + kSha256EmptyHex);

  const Cid v0 = parse_ok(kEmptyDagPbV0);
  CHECK(v0.version() == 0);
  CHECK(v0.codec() == 0x70);
  CHECK(v0.multihash_code() == 0x12);
  CHECK(hex_encode(v0.bytes()) == std::string("1220") + kSha256EmptyHex);
  CHECK(hex_encode(v0.multihash()) == std::string("1220") + kSha256EmptyHex);
  CHECK(hex_encode(v0.digest()) == kSha256EmptyHex);
  CHECK(v0.to_string() == kEmptyDagPbV0);
  CHECK(v0.to_string(Multibase::base32) == kEmptyDagPbV0);  // v0 has only base58btc

  const Cid v1 = v0.to_v1();
  CHECK(v1.version() == 1);
  CHECK(v1.codec() == 0x70);
  CHECK(hex_encode(v1.bytes()) == std::string("01701220") + kSha256EmptyHex);
  CHECK(v1 == parse_ok(kEmptyDagPbV1));
  CHECK(v1.to_v1() == v1);
  CHECK_FALSE(v1 == v0);
}

TEST_CASE("constructors agree") {
  const Digest d = digest_of(HashAlgo::sha256, as_bytes(""));
  const Cid a = Cid::v0(d.bytes());
  CHECK(a.to_string() == kEmptyDagPbV0);
  Bytes mh;
  put_multihash(mh, MultihashCode::sha2_256, d.bytes());
  const Cid b = Cid::v1(0x55, mh);
  const Cid c = Cid::v1(0x55, MultihashCode::sha2_256, d.bytes());
  CHECK(b.to_string() == kEmptyRaw);
  CHECK(b == c);
  CHECK(hex_encode(b.digest()) == kSha256EmptyHex);
  CHECK(hex_encode(c.multihash()) == hex_encode(mh));
  // A two-byte codec varint: dag-json 0x0129 = a9 02 (python3 re-derived text).
  const Cid j = Cid::v1(static_cast<std::uint64_t>(Codec::dag_json), mh);
  CHECK(hex_encode(j.bytes()).substr(0, 10) == "01a9021220");
  CHECK(j.to_string() == "baguqeera4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq");
  CHECK(hex_encode(j.digest()) == kSha256EmptyHex);
  CHECK(parse_ok("baguqeera4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq").codec() ==
        0x0129);
}

TEST_CASE("other multibases and hash functions") {
  const Cid raw = parse_ok(kEmptyRaw);
  CHECK(raw.to_string(Multibase::base58btc) == "zb2rhmy65F3REf8SZp7De11gxtECBGgUKaLdiDj7MCGCHxbDW");
  CHECK(raw.to_string(Multibase::base16) == std::string("f01551220") + kSha256EmptyHex);
  CHECK(raw.to_string(Multibase::base64) == "mAVUSIOOwxEKY/BwUmvv0yJlvuSQnrkHkZJuTTKSVmRt4UrhV");
  CHECK(raw.to_string(Multibase::base64url) == "uAVUSIOOwxEKY_BwUmvv0yJlvuSQnrkHkZJuTTKSVmRt4UrhV");
  CHECK(raw.to_string(Multibase::base32upper) ==
        "BAFKREIHDWDCEFGH4DQKJV67UZCMW7OJEE6XEDZDETOJUZJEVTENXQUVYKU");
  for (const char* text :
       {"zb2rhmy65F3REf8SZp7De11gxtECBGgUKaLdiDj7MCGCHxbDW",
        "f01551220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "mAVUSIOOwxEKY/BwUmvv0yJlvuSQnrkHkZJuTTKSVmRt4UrhV",
        "uAVUSIOOwxEKY_BwUmvv0yJlvuSQnrkHkZJuTTKSVmRt4UrhV",
        "BAFKREIHDWDCEFGH4DQKJV67UZCMW7OJEE6XEDZDETOJUZJEVTENXQUVYKU"}) {
    CHECK(parse_ok(text) == raw);
  }
  // sha1 / sha2-512 / md5 raw CIDs of "abc".
  const Cid s1 = parse_ok("bafkrcffjte7dmrygqfvluprfof4fbqtmttinrhi");
  CHECK(s1.multihash_code() == 0x11);
  CHECK(*s1.verify(as_bytes("abc")));
  const Cid s5 = parse_ok(
      "bafkrgqg5v422de3bpk5myqltjgxcaqjrcltputujvf7kecu653tewvottiqzfgjke5h4dkbwxi6chi765o6uktkeens"
      "d"
      "z2aofknmst5fjssj6");
  CHECK(s5.multihash_code() == 0x13);
  CHECK(*s5.verify(as_bytes("abc")));
  CHECK_FALSE(*s5.verify(as_bytes("abd")));
  const Cid m5 = parse_ok("bafk5kaiqsaavbgb42jh3bvuwh56sryl7oi");
  CHECK(m5.multihash_code() == 0xd5);
  CHECK(*m5.verify(as_bytes("abc")));
}

TEST_CASE("verify") {
  const Cid raw = parse_ok(kEmptyRaw);
  CHECK(*raw.verify({}));
  CHECK_FALSE(*raw.verify(as_bytes(" ")));
  const Cid hw = parse_ok("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
  CHECK(*hw.verify(as_bytes("hello world\n")));
  CHECK_FALSE(*hw.verify(as_bytes("hello world")));
  CHECK(*parse_ok(kEmptyDagPbV0).verify({}));
  // Unknown hash function (blake3 0x1e): parses, cannot be verified.
  const Cid b3 = parse_ok("bafkr4iaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  CHECK(b3.multihash_code() == 0x1e);
  auto v = b3.verify({});
  REQUIRE_FALSE(v.has_value());
  CHECK(v.error().code == Errc::unsupported);
}

TEST_CASE("identity CIDs") {
  const Cid e = parse_ok("bafkqaaa");
  CHECK(e.is_identity());
  CHECK(e.codec() == 0x55);
  CHECK(e.digest().empty());
  CHECK(hex_encode(e.bytes()) == "01550000");
  CHECK(*e.verify({}));
  CHECK_FALSE(*e.verify(as_bytes("x")));
  const Cid hi = parse_ok("bafkqaatine");  // identity "hi"
  CHECK(hi.is_identity());
  CHECK(as_chars(hi.digest()) == "hi");
  CHECK(*hi.verify(as_bytes("hi")));
  CHECK(Cid::v1(0x55, MultihashCode::identity, as_bytes("hi")).to_string() == "bafkqaatine");

  Bytes b128{0x01, 0x55, 0x00, 0x80, 0x01};
  b128.resize(5 + 128, 0x61);
  auto ok = Cid::from_bytes(b128);
  REQUIRE(ok.has_value());
  CHECK(ok->digest().size() == 128);
  CHECK(parse_ok(ok->to_string()) == *ok);
  Bytes b129{0x01, 0x55, 0x00, 0x81, 0x01};
  b129.resize(5 + 129, 0x61);
  auto bad = Cid::from_bytes(b129);
  REQUIRE_FALSE(bad.has_value());
  INFO(bad.error().message);
  CHECK(bad.error().code == Errc::too_large);
  Error e129 = parse_bad(multibase_encode(Multibase::base32, b129));
  CHECK(e129.code == Errc::too_large);
  CHECK(has(e129.message, "129"));
}

TEST_CASE("binary round trips and read from a longer buffer") {
  const Cid a = parse_ok(kEmptyDagPbV0);
  const Cid b = parse_ok(kEmptyRaw);
  const Cid c = parse_ok("bafkqaatine");
  Bytes buf;
  for (const Cid* x : {&a, &b, &c}) append(buf, x->bytes());
  buf.push_back(0x0a);
  ByteView in(buf);
  for (const Cid* x : {&a, &b, &c}) {
    auto r = Cid::read(in);
    INFO((r ? "" : r.error().message));
    REQUIRE(r.has_value());
    CHECK(*r == *x);
    CHECK(r->version() == x->version());
    CHECK(r->to_string() == x->to_string());
  }
  REQUIRE(in.size() == 1);
  CHECK(in[0] == 0x0a);

  for (const Cid* x : {&a, &b, &c}) {
    auto r = Cid::from_bytes(x->bytes());
    REQUIRE(r.has_value());
    CHECK(*r == *x);
    CHECK(parse_ok(x->to_string()) == *x);
    Bytes extra(x->bytes().begin(), x->bytes().end());
    extra.push_back(0);
    auto t = Cid::from_bytes(extra);
    REQUIRE_FALSE(t.has_value());
    CHECK(has(t.error().message, "trailing"));
  }
  // A CIDv1 text with a trailing byte after the multihash.
  Bytes extra(b.bytes().begin(), b.bytes().end());
  extra.push_back(0);
  CHECK(has(parse_bad(multibase_encode(Multibase::base32, extra)).message, "trailing"));
}

TEST_CASE("ordering and hashing") {
  const Cid a = parse_ok(kEmptyDagPbV0);
  const Cid b = parse_ok(kEmptyRaw);
  const Cid b2 = Cid::of_block(1, Codec::raw, {});
  CHECK(b == b2);
  CHECK((a <=> b) != std::strong_ordering::equal);
  CHECK((b <=> b2) == std::strong_ordering::equal);
  CHECK(b < a);  // 0x01... sorts before 0x12...
  CHECK(std::hash<Cid>()(b) == std::hash<Cid>()(b2));
  std::unordered_set<Cid> set{a, b, b2, a.to_v1()};
  CHECK(set.size() == 3);
  CHECK(set.count(Cid::of_block(0, Codec::dag_pb, {})) == 1);
}

TEST_CASE("parse errors") {
  SECTION("unknown multibase prefix") {
    Error e = parse_bad("xafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
    INFO(e.message);
    CHECK(e.code == Errc::unsupported);
    CHECK(has(e.message, "'x'"));
    CHECK(has(e.message, "multibase"));
  }
  SECTION("empty") { parse_bad(""); }
  SECTION("Qm of the wrong length") {
    Error e = parse_bad("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1");
    INFO(e.message);
    CHECK(has(e.message, "46"));
  }
  SECTION("bad base58 characters") {
    for (char c : {'0', 'O', 'I', 'l'}) {
      std::string s = kEmptyDagPbV0;
      s[20] = c;
      Error e = parse_bad(s);
      INFO(e.message);
      CHECK(e.code == Errc::malformed);
      CHECK(has(e.message, "base58btc"));
      CHECK(has(e.message, std::string("'") + c + "'"));
      CHECK(has(e.message, "offset 20"));
    }
  }
  SECTION("bad base32 character") {
    std::string s = kEmptyRaw;
    s[10] = '1';
    Error e = parse_bad(s);
    INFO(e.message);
    CHECK(has(e.message, "'1'"));
  }
  SECTION("version 0 and version 2 in multibase form") {
    // python3: 'b' + b32(b'\x00\x55\x12\x20' + sha256(b'')) and with \x02.
    Error e = parse_bad("babkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
    INFO(e.message);
    CHECK(e.code == Errc::unsupported);
    CHECK(has(e.message, "version 0"));
    e = parse_bad("bajkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
    INFO(e.message);
    CHECK(e.code == Errc::unsupported);
    CHECK(has(e.message, "version 2"));
    // A CIDv0's bytes multibase-encoded ("zQm...") read as version 0x12 = 18.
    e = parse_bad("zQmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n");
    INFO(e.message);
    CHECK(has(e.message, "version 18"));
  }
  SECTION("binary version errors") {
    const Bytes v2{0x02, 0x55, 0x00, 0x00};
    auto r = Cid::from_bytes(v2);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::unsupported);
    CHECK(has(r.error().message, "version 2"));
    const Bytes v0{0x00, 0x55, 0x00, 0x00};
    r = Cid::from_bytes(v0);
    REQUIRE_FALSE(r.has_value());
    CHECK(has(r.error().message, "version 0"));
  }
  SECTION("truncated") {
    Error e =
        parse_bad("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvy");  // 31-byte digest
    INFO(e.message);
    CHECK(e.code == Errc::truncated);
    const Cid full = parse_ok(kEmptyRaw);
    for (std::size_t n : {0, 1, 2, 3, 10, 35}) {
      const Bytes raw(full.bytes().begin(), full.bytes().begin() + static_cast<std::ptrdiff_t>(n));
      ByteView in(raw);
      auto r = Cid::read(in);
      INFO(n);
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code == Errc::truncated);
      CHECK(in.size() == raw.size());
    }
    const Cid full_v0 = parse_ok(kEmptyDagPbV0);
    Bytes v0(full_v0.bytes().begin(), full_v0.bytes().end());
    v0.pop_back();
    auto r = Cid::from_bytes(v0);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::truncated);
  }
  SECTION("multihash length mismatch") {
    // 01 55 12 14 <20 bytes>: sha2-256 with a 20-byte digest.
    Bytes b{0x01, 0x55, 0x12, 0x14};
    b.resize(4 + 20, 0x11);
    Error e = parse_bad(multibase_encode(Multibase::base32, b));
    INFO(e.message);
    CHECK(e.code == Errc::malformed);
    CHECK(has(e.message, "32"));
  }
  SECTION("v0 text that is not a sha2-256 multihash") {
    // python3 big-integer base58: these 46-char "Qm" texts decode to 34 bytes
    // starting 12 1e and 12 22, so they are no sha2-256 multihash.
    for (const char* text : {"Qm11111111111111111111111111111111111111111111",
                             "Qmzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"}) {
      Error e = parse_bad(text);
      INFO(e.message);
      CHECK(e.code == Errc::malformed);
      CHECK(has(e.message, "sha2-256"));
    }
  }
}
