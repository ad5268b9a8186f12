// UnixFS Data messages against hand-encoded bytes from ipfs-gateway.md §2.2 and
// the conformance CARs (multiblock.txt's internal node, empty file, directory,
// file leaves, symlink, HAMT shard), plus malformed inputs.
#include "content/unixfs.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace srcgate::content;

namespace {

Bytes unhex(std::string_view s) {
  Bytes out;
  int hi = -1;
  for (char c : s) {
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) continue;
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

UnixfsData decode_ok(const Bytes& b) {
  auto r = decode_unixfs(b);
  INFO("input " << hex(b) << (r ? "" : " error: " + r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

void require_rejected(std::string_view hexbytes, Errc code, std::string_view needle) {
  Bytes b = unhex(hexbytes);
  auto r = decode_unixfs(b);
  INFO("input " << hexbytes);
  REQUIRE_FALSE(r.has_value());
  INFO("message: " << r.error().message);
  CHECK(r.error().code == code);
  CHECK(r.error().message.find(needle) != std::string::npos);
}

}  // namespace

TEST_CASE("multiblock.txt internal node: filesize 1026, five unpacked blocksizes") {
  Bytes b = unhex("0802 188208 208002 208002 208002 208002 2002");
  UnixfsData d = decode_ok(b);
  CHECK(d.type == UnixfsType::file);
  CHECK_FALSE(d.data);
  CHECK(d.filesize == std::optional<std::uint64_t>(1026));
  CHECK(d.blocksizes == std::vector<std::uint64_t>{256, 256, 256, 256, 2});
  CHECK_FALSE(d.hash_type);
  CHECK_FALSE(d.fanout);
  CHECK_FALSE(d.mode);
  CHECK_FALSE(d.mtime);

  UnixfsData e;
  e.type = UnixfsType::file;
  e.filesize = 1026;
  e.blocksizes = {256, 256, 256, 256, 2};
  CHECK(hex(encode_unixfs(e)) == hex(b));
}

TEST_CASE("empty file, directory, symlink and file leaves") {
  UnixfsData empty;
  empty.type = UnixfsType::file;
  empty.filesize = 0;
  CHECK(hex(encode_unixfs(empty)) == "08021800");
  UnixfsData de = decode_ok(unhex("08021800"));
  CHECK(de.type == UnixfsType::file);
  CHECK(de.filesize == std::optional<std::uint64_t>(0));
  CHECK_FALSE(de.data);
  CHECK(de.blocksizes.empty());

  UnixfsData dir;
  dir.type = UnixfsType::directory;
  CHECK(hex(encode_unixfs(dir)) == "0801");
  UnixfsData dd = decode_ok(unhex("0801"));
  CHECK(dd.type == UnixfsType::directory);
  CHECK_FALSE(dd.filesize);

  // symlink.car: "bar" -> "foo".
  Bytes link = unhex("0804 1203 666f6f");
  UnixfsData ds = decode_ok(link);
  CHECK(ds.type == UnixfsType::symlink);
  REQUIRE(ds.data);
  CHECK(as_chars(*ds.data) == "foo");
  CHECK(ds.data->data() == link.data() + 4);  // views the input
  CHECK(encode_unixfs(ds) == link);

  // "hello world\n" leaf (QmT78zSu...): 08 02 12 0c <text> 18 0c.
  const std::string text = "hello world\n";
  UnixfsData leaf;
  leaf.type = UnixfsType::file;
  leaf.data = as_bytes(text);
  leaf.filesize = text.size();
  Bytes want = unhex("0802 120c 68656c6c6f20776f726c640a 180c");
  CHECK(hex(encode_unixfs(leaf)) == hex(want));
  UnixfsData dl = decode_ok(want);
  REQUIRE(dl.data);
  CHECK(as_chars(*dl.data) == text);
  CHECK(dl.filesize == std::optional<std::uint64_t>(12));

  // symlink.car's "foo" file: "content\n".
  Bytes content = unhex("0802 1208 636f6e74656e740a 1808");
  UnixfsData c = decode_ok(content);
  CHECK(as_chars(*c.data) == "content\n");
}

TEST_CASE("HAMT shard fields") {
  // kubo HAMT root: Type 5, 32-byte bitfield, hashType 0x22, fanout 256.
  Bytes b = unhex("0805 1220");
  for (int i = 0; i < 32; ++i) b.push_back(static_cast<std::uint8_t>(i));
  append(b, unhex("2822 308002"));
  UnixfsData d = decode_ok(b);
  CHECK(d.type == UnixfsType::hamt_shard);
  REQUIRE(d.data);
  CHECK(d.data->size() == 32);
  CHECK(d.hash_type == std::optional<std::uint64_t>(0x22));
  CHECK(d.fanout == std::optional<std::uint64_t>(256));
  CHECK(encode_unixfs(d) == b);
}

TEST_CASE("mode and mtime, including negative seconds") {
  UnixfsData d;
  d.type = UnixfsType::file;
  d.filesize = 0;
  d.mode = 0644;
  d.mtime = UnixfsMtime{1, 5};
  // mode 420 = a4 03; mtime { 08 01, 15 05000000 }
  Bytes want = unhex("0802 1800 38a403 4207 0801 1505000000");
  CHECK(hex(encode_unixfs(d)) == hex(want));
  UnixfsData back = decode_ok(want);
  CHECK(back.mode == std::optional<std::uint32_t>(0644));
  REQUIRE(back.mtime);
  CHECK(*back.mtime == UnixfsMtime{1, 5});

  UnixfsData n;
  n.type = UnixfsType::directory;
  n.mtime = UnixfsMtime{-1, std::nullopt};
  Bytes neg = unhex("0801 420b 08ffffffffffffffffff01");
  CHECK(hex(encode_unixfs(n)) == hex(neg));
  UnixfsData nb = decode_ok(neg);
  REQUIRE(nb.mtime);
  CHECK(nb.mtime->seconds == -1);
  CHECK_FALSE(nb.mtime->nanos);
}

TEST_CASE("packed blocksizes are accepted and re-encoded unpacked") {
  UnixfsData d = decode_ok(unhex("0802 188202 2203 8002 02"));
  CHECK(d.blocksizes == std::vector<std::uint64_t>{256, 2});
  CHECK(hex(encode_unixfs(d)) ==
        "0802188202208002"
        "2002");
  // Mixed packed and unpacked entries append in order.
  UnixfsData m = decode_ok(unhex("0802 2001 2202 0203 2004"));
  CHECK(m.blocksizes == std::vector<std::uint64_t>{1, 2, 3, 4});
}

TEST_CASE("every Type value decodes; fields in any order") {
  for (int t = 0; t <= 5; ++t) {
    Bytes b{0x08, static_cast<std::uint8_t>(t)};
    CHECK(static_cast<int>(decode_ok(b).type) == t);
  }
  UnixfsData d = decode_ok(unhex("1805 0802"));
  CHECK(d.type == UnixfsType::file);
  CHECK(d.filesize == std::optional<std::uint64_t>(5));
}

TEST_CASE("malformed UnixFS data is rejected with an error value") {
  SECTION("empty message lacks Type") { require_rejected("", Errc::malformed, "Type is missing"); }
  SECTION("missing Type") { require_rejected("1800", Errc::malformed, "Type is missing"); }
  SECTION("unknown Type") { require_rejected("0806", Errc::malformed, "unknown Type 6"); }
  SECTION("Type as bytes") { require_rejected("0a00", Errc::malformed, "Type"); }
  SECTION("Data as varint") { require_rejected("0802 1001", Errc::malformed, "Data"); }
  SECTION("filesize as bytes") { require_rejected("0802 1a00", Errc::malformed, "filesize"); }
  SECTION("blocksizes as fixed32") {
    require_rejected("0802 2500000000", Errc::malformed, "blocksizes");
  }
  SECTION("unknown field 9") { require_rejected("0802 4801", Errc::malformed, "unknown field 9"); }
  SECTION("truncated Data") { require_rejected("0802 1205 61", Errc::truncated, "Data"); }
  SECTION("truncated varint") { require_rejected("0802 18ff", Errc::truncated, "filesize"); }
  SECTION("truncated tag") { require_rejected("0802 80", Errc::truncated, "tag"); }
  SECTION("truncated packed blocksizes") {
    require_rejected("0802 2201 80", Errc::truncated, "blocksizes");
  }
  SECTION("mode beyond 32 bits") {
    require_rejected("0802 388080808010", Errc::malformed, "uint32");
  }
  SECTION("unknown mtime field") { require_rejected("0802 4202 1801", Errc::malformed, "mtime"); }
  SECTION("truncated nanos") {
    require_rejected("0802 4203 150000", Errc::truncated, "Nanoseconds");
  }
  SECTION("varint too long") {
    require_rejected("0802 18ffffffffffffffffffff01", Errc::malformed, "filesize");
  }
}
