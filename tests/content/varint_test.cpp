// Unsigned varints against hand-encoded LEB128 bytes (multiformats
// unsigned-varint spec examples: 1 = 01, 127 = 7f, 128 = 80 01, 255 = ff 01,
// 300 = ac 02, 16384 = 80 80 01).
#include "content/varint.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <limits>

using namespace srcgate::content;

namespace {

Bytes enc(std::uint64_t v) {
  Bytes out;
  put_uvarint(out, v);
  return out;
}

}  // namespace

TEST_CASE("encode known values") {
  CHECK(enc(0) == Bytes{0x00});
  CHECK(enc(1) == Bytes{0x01});
  CHECK(enc(127) == Bytes{0x7f});
  CHECK(enc(128) == Bytes{0x80, 0x01});
  CHECK(enc(255) == Bytes{0xff, 0x01});
  CHECK(enc(300) == Bytes{0xac, 0x02});
  CHECK(enc(16384) == Bytes{0x80, 0x80, 0x01});
  CHECK(enc(std::uint64_t{1} << 63) ==
        Bytes{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01});
  CHECK(enc(std::numeric_limits<std::uint64_t>::max()) ==
        Bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
  CHECK(uvarint_size(0) == 1);
  CHECK(uvarint_size(127) == 1);
  CHECK(uvarint_size(128) == 2);
  CHECK(uvarint_size(300) == 2);
  CHECK(uvarint_size((std::uint64_t{1} << 63) - 1) == 9);
  CHECK(uvarint_size(std::uint64_t{1} << 63) == 10);
  CHECK(uvarint_size(std::numeric_limits<std::uint64_t>::max()) == 10);
  Bytes two;
  put_uvarint(two, 1);
  put_uvarint(two, 300);
  CHECK(two == Bytes{0x01, 0xac, 0x02});  // appends
}

TEST_CASE("decode known values and advance") {
  const Bytes data{0x00, 0x7f, 0x80, 0x01, 0xac, 0x02, 0xff, 0x01, 0x80, 0x80, 0x01, 0x42};
  ByteView in(data);
  for (std::uint64_t want : {0u, 127u, 128u, 300u, 255u, 16384u}) {
    auto r = read_uvarint(in);
    INFO(want << " " << (r ? "" : r.error().message));
    REQUIRE(r.has_value());
    CHECK(*r == want);
  }
  REQUIRE(in.size() == 1);
  CHECK(in[0] == 0x42);
}

TEST_CASE("large values: 2^63 and max u64 are protobuf-only") {
  const Bytes big{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  const Bytes max{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  const Bytes max63{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
  ByteView in(big);
  auto r = read_uvarint(in, VarintRules::protobuf);
  REQUIRE(r.has_value());
  CHECK(*r == std::uint64_t{1} << 63);
  CHECK(in.empty());
  in = ByteView(max);
  r = read_uvarint(in, VarintRules::protobuf);
  REQUIRE(r.has_value());
  CHECK(*r == std::numeric_limits<std::uint64_t>::max());
  CHECK(in.empty());
  // multiformats: at most 9 bytes, i.e. up to 2^63-1.
  in = ByteView(max63);
  r = read_uvarint(in);
  REQUIRE(r.has_value());
  CHECK(*r == (std::uint64_t{1} << 63) - 1);
  for (const Bytes* b : {&big, &max}) {
    in = ByteView(*b);
    r = read_uvarint(in, VarintRules::multiformats);
    REQUIRE_FALSE(r.has_value());
    INFO(r.error().message);
    CHECK(r.error().code == Errc::malformed);
    CHECK(r.error().message.find("9 bytes") != std::string::npos);
    CHECK(in.size() == 10);  // not advanced on error
  }
}

TEST_CASE("protobuf rejects overflow and 11-byte varints") {
  const Bytes over{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
  ByteView in(over);
  auto r = read_uvarint(in, VarintRules::protobuf);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::malformed);
  CHECK(r.error().message.find("64 bits") != std::string::npos);
  const Bytes eleven{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  in = ByteView(eleven);
  r = read_uvarint(in, VarintRules::protobuf);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::malformed);
}

TEST_CASE("truncated") {
  for (const Bytes& b : {Bytes{}, Bytes{0x80}, Bytes{0xac}, Bytes{0xff, 0xff, 0xff}}) {
    for (VarintRules rules : {VarintRules::multiformats, VarintRules::protobuf}) {
      ByteView in(b);
      auto r = read_uvarint(in, rules);
      REQUIRE_FALSE(r.has_value());
      INFO(r.error().message);
      CHECK(r.error().code == Errc::truncated);
      CHECK(in.size() == b.size());
    }
  }
}

TEST_CASE("non-minimal encodings") {
  const Bytes nm{0x80, 0x00};
  const Bytes nm2{0x81, 0x80, 0x00};
  for (const Bytes* b : {&nm, &nm2}) {
    ByteView in(*b);
    auto r = read_uvarint(in);
    REQUIRE_FALSE(r.has_value());
    INFO(r.error().message);
    CHECK(r.error().code == Errc::malformed);
    CHECK(r.error().message.find("minimal") != std::string::npos);
    // protobuf accepts them.
    in = ByteView(*b);
    auto p = read_uvarint(in, VarintRules::protobuf);
    REQUIRE(p.has_value());
    CHECK(*p == (b == &nm ? 0u : 1u));
    CHECK(in.empty());
  }
}

TEST_CASE("round trip across byte-length boundaries") {
  for (unsigned bits = 0; bits < 64; ++bits) {
    for (std::uint64_t delta : {0ull, 1ull}) {
      const std::uint64_t v = (std::uint64_t{1} << bits) - delta;
      Bytes b = enc(v);
      CHECK(b.size() == uvarint_size(v));
      const unsigned bitlen = bits + 1 - static_cast<unsigned>(delta);  // bits of v
      CHECK(b.size() == std::max(1u, (bitlen + 6) / 7));
      ByteView in(b);
      auto r = read_uvarint(in, b.size() <= 9 ? VarintRules::multiformats : VarintRules::protobuf);
      INFO(v);
      REQUIRE(r.has_value());
      CHECK(*r == v);
      CHECK(in.empty());
    }
  }
}
