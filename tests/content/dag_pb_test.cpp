// dag-pb decoding and canonical encoding against hand-encoded blocks: the root
// directory of the conformance fixture symlink.car (bytes copied from the CAR
// by hand), the empty directory and empty block of the dag-pb spec, and
// malformed blocks that a strict decoder must reject with an error value.
#include "content/dag_pb.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace srcgate::content;

namespace {

Bytes unhex(std::string_view s) {
  Bytes out;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  int hi = -1;
  for (char c : s) {
    int v = nib(c);
    if (v < 0) continue;  // spaces and separators
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

std::string hex(ByteView b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

Cid cid_hex(std::string_view h) {
  Bytes b = unhex(h);
  auto c = Cid::from_bytes(b);
  INFO(h);
  REQUIRE(c.has_value());
  return *c;
}

// Binary CIDv0s of the two entries of symlink.car's root directory.
constexpr std::string_view kBarHash =
    "1220 47d9b0e5086c1a7981760bf2c33b885b188e58104adab850efe7090b0b009560";
constexpr std::string_view kFooHash =
    "1220 e9334d3b1ef698a1085c400c24d307f8ad7793973959302bda9e6a9288584f1e";
// symlink.car root (QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt): two links then Data 08 01.
constexpr std::string_view kSymlinkRoot =
    "122b 0a22 1220 47d9b0e5086c1a7981760bf2c33b885b188e58104adab850efe7090b0b009560 1203 626172 "
    "1809"
    "122b 0a22 1220 e9334d3b1ef698a1085c400c24d307f8ad7793973959302bda9e6a9288584f1e 1203 666f6f "
    "1810"
    "0a02 0801";

void require_rejected(std::string_view hexbytes, Errc code, std::string_view needle) {
  Bytes b = unhex(hexbytes);
  auto r = decode_dag_pb(b);
  INFO("input " << hexbytes);
  REQUIRE_FALSE(r.has_value());
  INFO("message: " << r.error().message);
  CHECK(r.error().code == code);
  CHECK(r.error().message.find(needle) != std::string::npos);
}

}  // namespace

TEST_CASE("decodes kubo's directory block from symlink.car") {
  Bytes block = unhex(kSymlinkRoot);
  REQUIRE(block.size() == 2 + 0x2b + 2 + 0x2b + 4);
  auto node = decode_dag_pb(block);
  INFO((node ? "" : node.error().message));
  REQUIRE(node.has_value());
  REQUIRE(node->links.size() == 2);
  CHECK(node->links[0].hash == cid_hex(kBarHash));
  CHECK(node->links[0].hash.version() == 0);
  CHECK(node->links[0].name == std::optional<std::string>("bar"));
  CHECK(node->links[0].tsize == std::optional<std::uint64_t>(9));
  CHECK(node->links[1].hash == cid_hex(kFooHash));
  CHECK(node->links[1].name == std::optional<std::string>("foo"));
  CHECK(node->links[1].tsize == std::optional<std::uint64_t>(16));
  REQUIRE(node->data);
  CHECK(hex(*node->data) == "0801");
  // Data views the block itself.
  CHECK(node->data->data() == block.data() + block.size() - 2);
  // Canonical re-encoding reproduces kubo's bytes, and the CID matches the fixture.
  CHECK(hex(encode_dag_pb(*node)) == hex(block));
  CHECK(Cid::of_block(0, Codec::dag_pb, block).to_string() ==
        "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt");
}

TEST_CASE("single kubo directory entry link encodes as 12 2b 0a 22 <cid> 12 03 bar 18 09") {
  PbNode node;
  node.links.push_back(PbLink{cid_hex(kBarHash), std::string("bar"), 9});
  CHECK(hex(encode_dag_pb(node)) ==
        hex(unhex("122b 0a22 1220 47d9b0e5086c1a7981760bf2c33b885b188e58104adab850efe7090b0b009560 "
                  "1203 626172 1809")));
}

TEST_CASE("empty directory and the zero-length block") {
  Bytes dir = unhex("0a02 0801");
  auto node = decode_dag_pb(dir);
  REQUIRE(node.has_value());
  CHECK(node->links.empty());
  REQUIRE(node->data);
  CHECK(hex(*node->data) == "0801");
  CHECK(encode_dag_pb(*node) == dir);
  CHECK(Cid::of_block(0, Codec::dag_pb, dir).to_string() ==
        "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
  CHECK(Cid::of_block(1, Codec::dag_pb, dir).to_string() ==
        "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");

  auto empty = decode_dag_pb({});
  REQUIRE(empty.has_value());
  CHECK(empty->links.empty());
  CHECK_FALSE(empty->data);
  CHECK(encode_dag_pb(*empty).empty());
  CHECK(Cid::of_block(0, Codec::dag_pb, {}).to_string() ==
        "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n");

  // Present but empty Data is kept distinct from absent Data.
  Bytes empty_data = unhex("0a00");
  auto ed = decode_dag_pb(empty_data);
  REQUIRE(ed.has_value());
  REQUIRE(ed->data);
  CHECK(ed->data->empty());
  CHECK(encode_dag_pb(*ed) == empty_data);
}

TEST_CASE("empty Name is written as 12 00; absent Name and Tsize are omitted") {
  Cid c = cid_hex(kFooHash);
  Bytes ufs = unhex("0802 1800");
  PbNode node;
  node.links.push_back(PbLink{c, std::string(), 5});
  node.links.push_back(PbLink{c, std::nullopt, std::nullopt});
  node.data = ByteView(ufs);
  Bytes want = unhex(
      "1228 0a22 1220 e9334d3b1ef698a1085c400c24d307f8ad7793973959302bda9e6a9288584f1e 1200 1805"
      "1224 0a22 1220 e9334d3b1ef698a1085c400c24d307f8ad7793973959302bda9e6a9288584f1e"
      "0a04 0802 1800");
  Bytes got = encode_dag_pb(node);
  CHECK(hex(got) == hex(want));
  auto back = decode_dag_pb(got);
  REQUIRE(back.has_value());
  REQUIRE(back->links.size() == 2);
  CHECK(back->links[0].name == std::optional<std::string>(""));
  CHECK(back->links[0].tsize == std::optional<std::uint64_t>(5));
  CHECK_FALSE(back->links[1].name);
  CHECK_FALSE(back->links[1].tsize);
}

TEST_CASE("CIDv1 link hashes and multi-byte lengths") {
  // bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4 ("hello world\n", raw).
  auto c = Cid::parse("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
  REQUIRE(c.has_value());
  Bytes data(200, 0x61);
  PbNode node;
  node.links.push_back(PbLink{*c, std::string(), 300});
  node.data = ByteView(data);
  Bytes got = encode_dag_pb(node);
  // 12 2b | 0a 24 01 55 12 20 <32> | 12 00 | 18 ac 02 ; 0a c8 01 <200 x 61>
  Bytes want = unhex("122b 0a24 0155 1220");
  append(want, c->digest());
  append(want, unhex("1200 18ac02 0ac801"));
  append(want, data);
  CHECK(hex(got) == hex(want));
  auto back = decode_dag_pb(got);
  REQUIRE(back.has_value());
  CHECK(back->links.at(0).hash == *c);
  CHECK(back->links.at(0).tsize == std::optional<std::uint64_t>(300));
  CHECK(back->data->size() == 200);
}

TEST_CASE("Data before Links is accepted and re-encoded canonically") {
  Bytes block = unhex(
      "0a02 0801"
      "122b 0a22 1220 47d9b0e5086c1a7981760bf2c33b885b188e58104adab850efe7090b0b009560 1203 626172 "
      "1809");
  auto node = decode_dag_pb(block);
  INFO((node ? "" : node.error().message));
  REQUIRE(node.has_value());
  REQUIRE(node->links.size() == 1);
  CHECK(hex(encode_dag_pb(*node)) ==
        hex(unhex("122b 0a22 1220 47d9b0e5086c1a7981760bf2c33b885b188e58104adab850efe7090b0b009560 "
                  "1203 626172 1809 0a02 0801")));
}

TEST_CASE("strict decoder rejects malformed blocks with error values") {
  const std::string h(kFooHash);
  SECTION("unknown PBNode field") {
    require_rejected("1a00", Errc::malformed, "unknown PBNode field 3");
  }
  SECTION("unknown PBNode field after valid data") {
    require_rejected("0a020801 2001", Errc::malformed, "unknown PBNode field 4");
  }
  SECTION("unknown PBLink field") {
    require_rejected("1226 0a22" + h + "2200", Errc::malformed, "unknown PBLink field 4");
  }
  SECTION("Name before Hash") {
    require_rejected("1229 1203626172 0a22" + h, Errc::malformed, "out of order");
  }
  SECTION("Tsize before Name") {
    require_rejected("1229 0a22" + h + "1809 1201 61", Errc::malformed, "out of order");
  }
  SECTION("duplicate Hash") {
    require_rejected("1248 0a22" + h + "0a22" + h, Errc::malformed, "duplicated");
  }
  SECTION("link without Hash") { require_rejected("1202 1809", Errc::malformed, "no Hash"); }
  SECTION("empty link") { require_rejected("1200", Errc::malformed, "no Hash"); }
  SECTION("duplicate Data") { require_rejected("0a020801 0a020801", Errc::malformed, "duplicate"); }
  SECTION("Data as varint") { require_rejected("0801", Errc::malformed, "wire type 0"); }
  SECTION("Links as varint") { require_rejected("1001", Errc::malformed, "wire type 0"); }
  SECTION("Tsize as bytes") {
    require_rejected("1226 0a22" + h + "1a00", Errc::malformed, "PBLink.Tsize");
  }
  SECTION("Hash as varint") { require_rejected("1202 0801", Errc::malformed, "PBLink.Hash"); }
  SECTION("Hash is not a CID") {
    require_rejected("1204 0a02 1220", Errc::malformed, "not a valid CID");
  }
  SECTION("truncated Data") { require_rejected("0a05 0801", Errc::truncated, "PBNode.Data"); }
  SECTION("truncated link") { require_rejected("122b 0a22" + h, Errc::truncated, "PBNode.Links"); }
  SECTION("truncated hash inside link") {
    require_rejected("1224 0a23" + h + "00", Errc::truncated, "PBLink.Hash");
  }
  SECTION("truncated varint length") { require_rejected("0a", Errc::truncated, "PBNode.Data"); }
  SECTION("truncated tag") { require_rejected("0a020801 80", Errc::truncated, "tag"); }
  SECTION("trailing garbage") { require_rejected("0a020801 00", Errc::malformed, "at byte 4"); }
  SECTION("trailing garbage after links") {
    require_rejected(std::string(kSymlinkRoot) + "ff", Errc::truncated, "at byte 94");
  }
}
