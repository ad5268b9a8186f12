// CARv1 reader and writer against the 26 gateway-conformance fixtures (block
// counts and roots from ipfs-gateway.md §4.4; section offsets of
// dir-with-files.car from an independent Python parse), hand-encoded headers
// (§3.1 byte layout) and damaged streams.
#include "content/car.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/support/test_support.hpp"

using namespace srcgate::content;
using srcgate::test::fixture;
using srcgate::test::read_file;

namespace {

struct FixtureCar {
  const char* path;
  std::size_t bytes;
  std::size_t blocks;
  const char* root;
};

// ipfs-gateway.md §4.4.
const FixtureCar kFixtures[] = {
    {"gateway-raw-block.car", 309, 3,
     "bafybeie72edlprgtlwwctzljf6gkn2wnlrddqjbkxo3jomh4n7omwblxly"},
    {"gateway-cache/fixtures.car", 468, 5,
     "bafybeib3ffl2teiqdncv3mkz4r23b5ctrwkzrrhctdbne6iboayxuxk5ui"},
    {"path_gateway_unixfs/dir-with-files.car", 1939, 9,
     "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"},
    {"path_gateway_unixfs/dir-with-percent-encoded-filename.car", 261, 2,
     "bafybeig675grnxcmshiuzdaz2xalm6ef4thxxds6o6ypakpghm5kghpc34"},
    {"path_gateway_unixfs/symlink.car", 282, 3, "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt"},
    {"trustless_gateway_car/subdir-with-two-single-block-files.car", 416, 4,
     "bafybeietjm63oynimmv5yyqay33nui4y4wx6u3peezwetxgiwvfmelutzu"},
    {"trustless_gateway_car/subdir-with-mixed-block-files.car", 1973, 10,
     "bafybeidh6k2vzukelqtrjsmd4p52cpmltd2ufqrdtdg6yigi73in672fwu"},
    {"trustless_gateway_car/dir-with-duplicate-files.car", 1939, 9,
     "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"},
    {"trustless_gateway_car/file-3k-and-3-blocks-missing-block.car", 2380, 3,
     "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk"},
    {"trustless_gateway_car/single-layer-hamt-with-multi-block-files.car", 84273, 243,
     "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i"},
    {"trustless_gateway_car/dir-with-dag-cbor-with-links.car", 1860, 9,
     "bafybeia264q44a3kmfc2otctzu4egp2k235o3t7mslz2yjraymp4nv6asi"},
    {"dir_listing/fixtures.car", 1053, 10,
     "bafybeig6ka5mlwkl4subqhaiatalkcleo4jgnr3hqwvpmsqfca27cijp3i"},
    {"path_gateway_tar/fixtures.car", 1053, 10,
     "bafybeig6ka5mlwkl4subqhaiatalkcleo4jgnr3hqwvpmsqfca27cijp3i"},
    {"path_gateway_tar/inside-root.car", 383, 4,
     "bafybeibfevfxlvxp5vxobr5oapczpf7resxnleb7tkqmdorc4gl5cdva3y"},
    {"path_gateway_tar/outside-root.car", 249, 2,
     "bafybeicaj7kvxpcv4neaqzwhrqqmdstu4dhrwfpknrgebq6nzcecfucvyu"},
    {"path_gateway_dag/dag-pb.car", 392, 4,
     "bafybeiegxwlgmoh2cny7qlolykdf7aq7g6dlommarldrbm7c4hbckhfcke"},
    {"path_gateway_dag/dag-cbor-traversal.car", 318, 3,
     "bafyreibs4utpgbn7uqegmd2goqz4bkyflre2ek2iwv743fhvylwi4zeeim"},
    {"path_gateway_dag/dag-json-traversal.car", 406, 3,
     "baguqeeram5ujjqrwheyaty3w5gdsmoz6vittchvhk723jjqxk7hakxkd47xq"},
    {"path_gateway_dag/gateway-json-cbor.car", 1179, 11,
     "bafybeiafyvqlazbbbtjnn6how5d6h6l6rxbqc4qgpbmteaiskjrffmyy4a"},
    {"path_gateway_dag/plain-cbor.car", 113, 1,
     "bafireif3aymeikgfbofx533yf5vlx4kimzq6zmzmpra2mnzfsfnmv4hchm"},
    {"path_gateway_dag/plain-cbor-that-can-be-dag-cbor.car", 140, 1,
     "bafireidluuxmsc4uzpqkcq547wavvod7rrq2v7yixuvdy2qu3eqkbvycsu"},
    {"path_gateway_dag/plain-cbor-that-can-be-dag-json.car", 150, 1,
     "bagaaieraonzu3mlwidrcjnpqd2ibmjiiycnfucdzotvjq5ajubwnkmlzomrq"},
    {"path_gateway_dag/plain-json.car", 124, 1,
     "bagaaierajjsnhsxqlgfrvknlt7z2heoljcgfv37cn45tu7mhmr23x3ekiboq"},
    {"redirects_file/redirects.car", 69257, 32, "QmQyqMY5vUBSbSxyitJqthgwZunCQjDVtNd8ggVCxzuPQ4"},
    {"redirects_file/redirects-spa.car", 360, 3,
     "bafybeib5lboymwd6p2eo4qb2lkueaine577flvsjjeuevmp2nlio72xv5q"},
    {"subdomain_gateway/fixtures.car", 1254, 11, "QmYiPNLU7Hc739sqcBH5DgVmk5mKTQVzKSqvJJeNGWTgrE"},
};

struct Section {
  std::string cid;
  Bytes block;
  std::uint64_t offset;
  bool operator==(const Section&) const = default;
};

struct Collected {
  std::vector<CarHeader> headers;
  std::vector<Section> sections;
  std::vector<Cid> cids;
};

CarReader::Handler collector(Collected& c) {
  return CarReader::Handler{
      [&c](const CarHeader& h) -> Result<void> {
        c.headers.push_back(h);
        return {};
      },
      [&c](const Cid& cid, ByteView block, std::uint64_t offset) -> Result<void> {
        c.sections.push_back({cid.to_string(), Bytes(block.begin(), block.end()), offset});
        c.cids.push_back(cid);
        return {};
      }};
}

// Feeds `car` in slices of `slice` bytes, then finishes; returns the first error.
Result<void> feed_sliced(ByteView car, std::size_t slice, Collected& c) {
  CarReader reader(collector(c));
  for (std::size_t pos = 0; pos < car.size(); pos += slice) {
    auto r = reader.feed(car.subspan(pos, std::min(slice, car.size() - pos)));
    if (!r) return r;
  }
  return reader.finish();
}

Bytes hex_bytes(std::string_view hex) {
  Bytes out;
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(nib(hex[i]) * 16 + nib(hex[i + 1])));
  }
  return out;
}

Cid parse_cid(std::string_view s) {
  auto c = Cid::parse(s);
  INFO(s);
  REQUIRE(c);
  return *c;
}

// varint length prefix (< 128) + CBOR body.
Bytes framed(const Bytes& body) {
  Bytes out{static_cast<std::uint8_t>(body.size())};
  append(out, body);
  return out;
}

// CBOR for bytes(0x00 + cid) under tag 42.
Bytes cbor_cid(const Cid& cid) {
  Bytes out = {0xd8, 0x2a, 0x58, static_cast<std::uint8_t>(cid.bytes().size() + 1), 0x00};
  append(out, cid.bytes());
  return out;
}

const Bytes kRootsKey = hex_bytes("65726f6f7473");        // text "roots"
const Bytes kVersionKey = hex_bytes("6776657273696f6e");  // text "version"

Result<void> read_header_only(const Bytes& body) {
  Collected c;
  return read_car(framed(body), collector(c));
}

}  // namespace

TEST_CASE("every conformance fixture CAR reads, verifies and matches the table") {
  std::size_t total_bytes = 0;
  for (const auto& f : kFixtures) {
    INFO(f.path);
    Bytes car = read_file(fixture(f.path));
    REQUIRE(car.size() == f.bytes);
    total_bytes += car.size();
    Collected c;
    CarReader reader(collector(c));
    auto r = reader.feed(car);
    INFO((r ? "" : r.error().message));
    REQUIRE(r);
    auto fin = reader.finish();
    INFO((fin ? "" : fin.error().message));
    REQUIRE(fin);
    CHECK(reader.offset() == car.size());
    REQUIRE(c.headers.size() == 1);
    REQUIRE(c.headers[0].roots.size() == 1);
    CHECK(c.headers[0].roots[0].to_string() == f.root);
    CHECK(c.headers[0].version == 1);
    CHECK(c.sections.size() == f.blocks);
    // Sections tile the stream after the one-byte-prefixed header.
    std::uint64_t expect_offset = 1 + car[0];
    for (const auto& s : c.sections) {
      CHECK(s.offset == expect_offset);
      const std::size_t len = c.cids[&s - c.sections.data()].bytes().size() + s.block.size();
      expect_offset += (len < 128 ? 1 : len < 16384 ? 2 : 3) + len;
    }
    CHECK(expect_offset == car.size());
  }
  CHECK(total_bytes == 172531);  // §4.4 total
}

TEST_CASE("fixtures read the same in slices of 1, 7 and 4096 bytes") {
  for (const auto& f : kFixtures) {
    INFO(f.path);
    Bytes car = read_file(fixture(f.path));
    Collected whole;
    REQUIRE(read_car(car, collector(whole)));
    REQUIRE(whole.sections.size() == f.blocks);
    for (std::size_t slice : {1, 7, 4096}) {
      INFO("slice " << slice);
      Collected c;
      auto r = feed_sliced(car, slice, c);
      INFO((r ? "" : r.error().message));
      REQUIRE(r);
      REQUIRE(c.headers.size() == 1);
      CHECK(c.headers[0].roots[0].to_string() == f.root);
      CHECK(c.sections == whole.sections);
    }
  }
}

TEST_CASE("dir-with-files.car sections at the offsets an independent parser finds") {
  Bytes car = read_file(fixture("path_gateway_unixfs/dir-with-files.car"));
  Collected c;
  auto r = read_car(car, collector(c));
  INFO((r ? "" : r.error().message));
  REQUIRE(r);
  struct Expect {
    std::uint64_t offset;
    const char* cid;
    std::size_t block_size;
  };
  const Expect expect[] = {
      {59, "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy", 227},
      {324, "bafkreifkam6ns4aoolg3wedr4uzrs3kvq66p4pecirz6y2vlrngla62mxm", 31},
      {392, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", 12},
      {441, "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa", 245},
      {724, "bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm", 256},
      {1018, "bafkreih4ephajybraj6wnxsbwjwa77fukurtpl7oj7t7pfq545duhot7cq", 256},
      {1312, "bafkreigu7buvm3cfunb35766dn7tmqyh2um62zcio63en2btvxuybgcpue", 256},
      {1606, "bafkreicll3huefkc3qnrzeony7zcfo7cr3nbx64hnxrqzsixpceg332fhe", 256},
      {1900, "bafkreifst3pqztuvj57lycamoi7z34b4emf7gawxs74nwrc2c7jncmpaqm", 2},
  };
  REQUIRE(c.sections.size() == std::size(expect));
  for (std::size_t i = 0; i < std::size(expect); ++i) {
    INFO("section " << i);
    CHECK(c.sections[i].offset == expect[i].offset);
    CHECK(c.sections[i].cid == expect[i].cid);
    CHECK(c.sections[i].block.size() == expect[i].block_size);
  }
  CHECK(std::string(as_chars(c.sections[2].block)) == "hello world\n");
  CHECK(std::string(as_chars(c.sections[1].block)) == "hello application/vnd.ipld.car\n");
}

TEST_CASE("a CAR cut off mid-block is truncated, naming the section offset") {
  Bytes car = read_file(fixture("path_gateway_unixfs/dir-with-files.car"));
  Bytes cut(car.begin(), car.begin() + 1000);  // inside the section at 724 (ends 1018)
  for (std::size_t slice : {1, 7, 4096}) {
    INFO("slice " << slice);
    Collected c;
    auto r = feed_sliced(cut, slice, c);
    REQUIRE_FALSE(r);
    INFO(r.error().message);
    CHECK(r.error().code == Errc::truncated);
    CHECK(r.error().message.find("724") != std::string::npos);
    CHECK(c.sections.size() == 4);  // the complete ones before the cut were delivered
  }
  SECTION("cut inside the length varint of a big section") {
    Bytes hamt =
        read_file(fixture("trustless_gateway_car/single-layer-hamt-with-multi-block-files.car"));
    Collected c;
    CarReader reader(collector(c));
    REQUIRE(reader.feed(ByteView(hamt).first(59)));
    REQUIRE(reader.feed(ByteView(hamt).subspan(59, 1)));  // first varint byte of section 1
    auto r = reader.finish();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::truncated);
    CHECK(r.error().message.find("59") != std::string::npos);
  }
  SECTION("cut inside the header") {
    Collected c;
    auto r = read_car(ByteView(car).first(30), collector(c));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::truncated);
    CHECK(c.headers.empty());
  }
  SECTION("empty stream") {
    Collected c;
    auto r = read_car(ByteView{}, collector(c));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::truncated);
  }
  SECTION("a cut on a section boundary is undetectable at the framing level") {
    Collected c;
    auto r = read_car(ByteView(car).first(724), collector(c));
    CHECK(r);
    CHECK(c.sections.size() == 4);
  }
}

TEST_CASE("a flipped byte in a block is a mismatch naming CID and offset") {
  Bytes car = read_file(fixture("path_gateway_unixfs/dir-with-files.car"));
  car[800] ^= 0x01;  // inside the block of the section at 724
  for (std::size_t slice : {1, 7, 4096}) {
    INFO("slice " << slice);
    Collected c;
    auto r = feed_sliced(car, slice, c);
    REQUIRE_FALSE(r);
    INFO(r.error().message);
    CHECK(r.error().code == Errc::mismatch);
    CHECK(r.error().message.find("724") != std::string::npos);
    CHECK(r.error().message.find("bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm") !=
          std::string::npos);
    CHECK(c.sections.size() == 4);
  }
  SECTION("the reader stays failed") {
    Collected c;
    CarReader reader(collector(c));
    REQUIRE_FALSE(reader.feed(car));
    CHECK_FALSE(reader.feed(ByteView(car).first(1)));
    CHECK_FALSE(reader.finish());
  }
}

TEST_CASE("encode_car_header reproduces every fixture header byte for byte") {
  for (const auto& f : kFixtures) {
    INFO(f.path);
    Bytes car = read_file(fixture(f.path));
    Bytes header = encode_car_header({parse_cid(f.root)});
    REQUIRE(car.size() > header.size());
    CHECK(Bytes(car.begin(), car.begin() + static_cast<std::ptrdiff_t>(header.size())) == header);
    CHECK(header.size() == std::size_t{1} + car[0]);
  }
}

TEST_CASE("encode_car_header hand-encoded layout (ipfs-gateway.md §3.1)") {
  Cid v1 = parse_cid("bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy");
  REQUIRE(v1.bytes().size() == 36);
  Bytes expect = hex_bytes("3aa265726f6f747381d82a582500");
  append(expect, v1.bytes());
  append(expect, hex_bytes("6776657273696f6e01"));
  Bytes got = encode_car_header({v1});
  CHECK(got.size() == 59);
  CHECK(got == expect);

  Cid v0 = parse_cid("QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt");
  Bytes expect0 = hex_bytes("38a265726f6f747381d82a582300");
  append(expect0, v0.bytes());
  append(expect0, hex_bytes("6776657273696f6e01"));
  CHECK(encode_car_header({v0}) == expect0);

  // No roots, two roots.
  CHECK(encode_car_header({}) == hex_bytes("11a265726f6f7473806776657273696f6e01"));
  Bytes two = encode_car_header({v1, v0});
  // Each root adds d8 2a, a 2-byte byte-string head, 0x00 and the CID.
  CHECK(two[0] == 0x11 + (2 + 2 + 1 + 36) + (2 + 2 + 1 + 34));
  Collected c;
  REQUIRE(read_car(two, collector(c)));
  REQUIRE(c.headers.size() == 1);
  REQUIRE(c.headers[0].roots.size() == 2);
  CHECK(c.headers[0].roots[0] == v1);
  CHECK(c.headers[0].roots[1] == v0);
}

TEST_CASE("writer roundtrip reproduces a fixture and reads back equal") {
  for (const char* path : {"trustless_gateway_car/single-layer-hamt-with-multi-block-files.car",
                           "path_gateway_unixfs/dir-with-files.car",
                           "trustless_gateway_car/file-3k-and-3-blocks-missing-block.car"}) {
    INFO(path);
    Bytes car = read_file(fixture(path));
    Collected c;
    REQUIRE(read_car(car, collector(c)));
    Bytes out = encode_car_header(c.headers[0].roots);
    Bytes streamed = out;
    for (std::size_t i = 0; i < c.cids.size(); ++i) {
      append_car_section(out, c.cids[i], c.sections[i].block);
      append(streamed, car_section_prefix(c.cids[i], c.sections[i].block.size()));
      append(streamed, c.sections[i].block);
    }
    CHECK(out == car);
    CHECK(streamed == car);
    Collected back;
    REQUIRE(read_car(out, collector(back)));
    CHECK(back.sections == c.sections);
  }
}

TEST_CASE("car_section_prefix bytes") {
  Cid hello = parse_cid("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
  Bytes expect = {36 + 12};
  append(expect, hello.bytes());
  CHECK(car_section_prefix(hello, 12) == expect);
  // 300 + 36 = 336 = 0xd0 0x02 as a varint.
  Bytes p = car_section_prefix(hello, 300);
  CHECK(p[0] == 0xd0);
  CHECK(p[1] == 0x02);
  CHECK(p.size() == 2 + 36);
}

TEST_CASE("header decoder is strict about the shape") {
  Cid root = parse_cid("bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy");
  Bytes roots_item = hex_bytes("81");
  append(roots_item, cbor_cid(root));
  auto body = [&](std::initializer_list<const Bytes*> parts) {
    Bytes b;
    for (const Bytes* p : parts) append(b, *p);
    return b;
  };
  const Bytes map2 = {0xa2}, map1 = {0xa1}, map3 = {0xa3}, v1 = {0x01}, v2 = {0x02};

  SECTION("canonical order") {
    Collected c;
    REQUIRE(
        read_car(framed(body({&map2, &kRootsKey, &roots_item, &kVersionKey, &v1})), collector(c)));
    CHECK(c.headers.at(0).roots.at(0) == root);
  }
  SECTION("version first is accepted") {
    Collected c;
    auto r =
        read_car(framed(body({&map2, &kVersionKey, &v1, &kRootsKey, &roots_item})), collector(c));
    INFO((r ? "" : r.error().message));
    REQUIRE(r);
    CHECK(c.headers.at(0).roots.at(0) == root);
  }
  SECTION("version 2") {
    auto r = read_header_only(body({&map2, &kRootsKey, &roots_item, &kVersionKey, &v2}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::unsupported);
  }
  SECTION("CARv2 pragma") {
    auto r = read_car(hex_bytes("0aa16776657273696f6e02"), {});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::unsupported);
    CHECK(r.error().message.find("CARv2") != std::string::npos);
  }
  SECTION("missing version") {
    auto r = read_header_only(body({&map1, &kRootsKey, &roots_item}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("missing roots") {
    auto r = read_header_only(body({&map1, &kVersionKey, &v1}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("three entries") {
    auto r = read_header_only(
        body({&map3, &kRootsKey, &roots_item, &kVersionKey, &v1, &kVersionKey, &v1}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("duplicate key") {
    auto r = read_header_only(body({&map2, &kVersionKey, &v1, &kVersionKey, &v1}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("unknown key") {
    Bytes other = hex_bytes("65726f6f7458");  // "rootX"
    auto r = read_header_only(body({&map2, &other, &roots_item, &kVersionKey, &v1}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
    CHECK(r.error().message.find("rootX") != std::string::npos);
  }
  SECTION("non-minimal version integer") {
    Bytes v = {0x18, 0x01};
    auto r = read_header_only(body({&map2, &kRootsKey, &roots_item, &kVersionKey, &v}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("indefinite-length roots array") {
    Bytes roots = {0x9f};
    append(roots, cbor_cid(root));
    roots.push_back(0xff);
    auto r = read_header_only(body({&map2, &kRootsKey, &roots, &kVersionKey, &v1}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("wrong tag") {
    Bytes roots = roots_item;
    roots[2] = 0x2b;  // tag 43
    auto r = read_header_only(body({&map2, &kRootsKey, &roots, &kVersionKey, &v1}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("CID bytes without the 0x00 prefix") {
    Bytes roots = roots_item;
    roots[5] = 0x01;
    auto r = read_header_only(body({&map2, &kRootsKey, &roots, &kVersionKey, &v1}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("trailing byte after the map") {
    auto r = read_header_only(body({&map2, &kRootsKey, &roots_item, &kVersionKey, &v1, &v1}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("byte string runs past the header") {
    Bytes roots = roots_item;
    roots[4] = 0x30;  // claims 48 bytes
    auto r = read_header_only(body({&map2, &kRootsKey, &roots}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("not a map") {
    auto r = read_header_only(hex_bytes("80"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
}

TEST_CASE("section framing limits") {
  Bytes header = encode_car_header({});
  SECTION("a section above kMaxBlockSize + 256 is rejected before its bytes arrive") {
    Bytes car = header;
    const std::uint64_t len = kMaxBlockSize + 257;  // 0x200101
    append(car, hex_bytes("81828001"));
    REQUIRE(len == 0x200101);
    Collected c;
    CarReader reader(collector(c));
    auto r = reader.feed(car);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::too_large);
    CHECK(r.error().message.find(std::to_string(header.size())) != std::string::npos);
  }
  SECTION("the same, fed a byte at a time") {
    Bytes car = header;
    append(car, hex_bytes("81828001"));
    Collected c;
    auto r = feed_sliced(car, 1, c);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::too_large);
  }
  SECTION("a zero-length section") {
    Bytes car = header;
    car.push_back(0x00);
    Collected c;
    auto r = read_car(car, collector(c));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("a section whose CID runs past its length") {
    Bytes car = header;
    append(car, hex_bytes("0401551220"));
    Collected c;
    auto r = read_car(car, collector(c));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
  SECTION("an over-long length varint") {
    Bytes car = header;
    append(car, hex_bytes("ffffffffffffffffff01"));
    Collected c;
    auto r = read_car(car, collector(c));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
  }
}

TEST_CASE("a handler error stops the reader and is returned") {
  Bytes car = read_file(fixture("path_gateway_unixfs/dir-with-files.car"));
  int calls = 0;
  CarReader::Handler h{nullptr, [&](const Cid&, ByteView, std::uint64_t) -> Result<void> {
                         if (++calls == 3) return make_error(Errc::not_found, "stop here");
                         return {};
                       }};
  auto r = read_car(car, h);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "stop here");
  CHECK(calls == 3);
}
