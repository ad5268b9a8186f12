// Text encodings against independent vectors: RFC 4648 §10 for base32/base64,
// python3's base64 module and a python big-integer base58 for the rest, and
// nix-hash 2.8 (nix.md §2.3) for nix32.
#include "content/encoding.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace srcgate::content;

namespace {

Bytes b(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes unhex(std::string_view h) {
  auto r = hex_decode(h);
  REQUIRE(r.has_value());
  return *r;
}

std::string err(const Result<Bytes>& r) {
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::malformed);
  return r.error().message;
}

Bytes counting(std::size_t n, std::size_t zeros) {
  Bytes v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i < zeros ? 0 : static_cast<std::uint8_t>(i * 37 + 11);
  return v;
}

}  // namespace

TEST_CASE("hex") {
  CHECK(hex_encode(b("")) == "");
  CHECK(hex_encode(Bytes{0x00, 0x0f, 0xa5, 0xff}) == "000fa5ff");
  auto r = hex_decode("000FA5ff");
  INFO((r ? "" : r.error().message));
  REQUIRE(r.has_value());
  CHECK(*r == Bytes{0x00, 0x0f, 0xa5, 0xff});
  CHECK(err(hex_decode("abc")).find("3 characters") != std::string::npos);
  std::string m = err(hex_decode("00g0"));
  CHECK(m.find("hex") != std::string::npos);
  CHECK(m.find("'g'") != std::string::npos);
  CHECK(m.find("offset 2") != std::string::npos);
  CHECK(err(hex_decode(std::string_view("0\x01", 2))).find("0x01") != std::string::npos);
}

TEST_CASE("nix32 vectors from nix-hash") {
  struct V {
    const char* hex;
    const char* nix32;
  };
  const V vs[] = {
      // nix.md §2.3 table (nix-hash 2.8): sha256(""), md5(""), sha1(""), sha256("abc").
      {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"},
      {"d41d8cd98f00b204e9800998ecf8427e", "3y8bwfr609h3lh9ch0izcqq7fl"},
      {"da39a3ee5e6b4b0d3255bfef95601890afd80709", "143xibwh31h9bvxzalr0sjvbbvpa6ffs"},
      {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
       "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"},
      // nix-hash --type sha1 --to-base32 a9993e364706816aba3e25717850c26c9cd0d89d
      {"a9993e364706816aba3e25717850c26c9cd0d89d", "kpcd173cq987hw957sx6m0868wv3x6d9"},
      // nix-hash --type md5 --to-base32 900150983cd24fb0d6963f7d28e17f72
      {"900150983cd24fb0d6963f7d28e17f72", "3jgzhjhz9zjvbb0kyj7jc500ch"},
      // printf abc > abc; nix-hash --type sha512 --flat --base32 abc
      {"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3f"
       "e"
       "ebbd454d4423643ce80e2a9ac94fa54ca49f",
       "2gs8k559z4rlahfx0y688s49m2vvszylcikrfinm30ly9rak69236nkam5ydvly1ai7xac99vxfc4ii84hawjbk876b"
       "l"
       "yk1jfhkbbyx"},
  };
  for (const V& v : vs) {
    INFO(v.hex);
    Bytes raw = unhex(v.hex);
    CHECK(nix32_length(raw.size()) == std::string_view(v.nix32).size());
    CHECK(nix32_encode(raw) == v.nix32);
    auto r = nix32_decode(v.nix32);
    INFO((r ? "" : r.error().message));
    REQUIRE(r.has_value());
    CHECK(*r == raw);
  }
  CHECK(nix32_length(16) == 26);
  CHECK(nix32_length(20) == 32);
  CHECK(nix32_length(32) == 52);
  CHECK(nix32_length(64) == 103);
  CHECK(nix32_length(0) == 0);
  CHECK(nix32_encode(b("")) == "");
}

TEST_CASE("nix32 rejects bad characters, lengths and overflow bits") {
  for (char c : {'e', 'o', 'u', 't', 'A', '-'}) {
    std::string s = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
    s[7] = c;
    std::string m = err(nix32_decode(s));
    INFO(m);
    CHECK(m.find("nix32") != std::string::npos);
    CHECK(m.find(std::string("'") + c + "'") != std::string::npos);
    CHECK(m.find("offset 7") != std::string::npos);
  }
  CHECK(err(nix32_decode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7"))
            .find("51 characters") != std::string::npos);
  // 52 characters carry 260 bits for 256: the first character may only be 0 or 1.
  // nix-hash --type sha256 --to-base16 2mdqa9w1p6...: "invalid base-32 hash".
  std::string m = err(nix32_decode("2mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"));
  INFO(m);
  CHECK(m.find("beyond 32 bytes") != std::string::npos);
  CHECK(m.find("'2'") != std::string::npos);
  CHECK(m.find("offset 0") != std::string::npos);
  // nix-hash --type sha256 --to-base16 1mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73
  auto one = nix32_decode("1mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
  REQUIRE(one.has_value());
  CHECK(hex_encode(*one) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8d5");
  // 26 characters for md5 hold 130 bits: the first character may only be 0..7.
  // nix-hash --type md5 --to-base16 4y8bwfr609h3lh9ch0izcqq7fl
  auto four = nix32_decode("4y8bwfr609h3lh9ch0izcqq7fl");
  REQUIRE(four.has_value());
  CHECK(hex_encode(*four) == "d41d8cd98f00b204e9800998ecf8429e");
  CHECK(err(nix32_decode("8y8bwfr609h3lh9ch0izcqq7fl")).find("beyond 16 bytes") !=
        std::string::npos);
}

TEST_CASE("base32 RFC 4648 vectors, unpadded") {
  // RFC 4648 §10, padding removed.
  const std::pair<const char*, const char*> vs[] = {
      {"", ""},
      {"f", "MY"},
      {"fo", "MZXQ"},
      {"foo", "MZXW6"},
      {"foob", "MZXW6YQ"},
      {"fooba", "MZXW6YTB"},
      {"foobar", "MZXW6YTBOI"},
  };
  for (auto [plain, enc] : vs) {
    INFO(plain);
    CHECK(base32_encode(b(plain), true) == enc);
    std::string lower(enc);
    for (char& c : lower) c = static_cast<char>(std::tolower(c));
    CHECK(base32_encode(b(plain)) == lower);
    auto r = base32_decode(enc, true);
    REQUIRE(r.has_value());
    CHECK(*r == b(plain));
    auto l = base32_decode(lower, false);
    REQUIRE(l.has_value());
    CHECK(*l == b(plain));
  }
  // Case must match the alphabet chosen.
  std::string m = err(base32_decode("mzxw6", true));
  CHECK(m.find("'m'") != std::string::npos);
  CHECK(m.find("offset 0") != std::string::npos);
  CHECK(err(base32_decode("MZXW6", false)).find("'M'") != std::string::npos);
  CHECK(err(base32_decode("mzxw1")).find("'1'") != std::string::npos);
  CHECK(err(base32_decode("my======")).find("'='") != std::string::npos);
  // Impossible lengths (1, 3, 6 mod 8) and non-zero trailing bits.
  CHECK(err(base32_decode("m")).find("length") != std::string::npos);
  CHECK(err(base32_decode("mzx")).find("length") != std::string::npos);
  CHECK(err(base32_decode("mz")).find("trailing bits") != std::string::npos);  // "MZ" != "MY"
}

TEST_CASE("base64 RFC 4648 vectors, padded and unpadded, std and url") {
  const std::pair<const char*, const char*> vs[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, enc] : vs) {
    INFO(plain);
    std::string unpadded(enc);
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    CHECK(base64_encode(b(plain)) == enc);
    CHECK(base64_encode(b(plain), false) == unpadded);
    CHECK(base64url_encode(b(plain)) == unpadded);
    CHECK(base64url_encode(b(plain), true) == enc);
    auto r = base64_decode(enc);
    REQUIRE(r.has_value());
    CHECK(*r == b(plain));
    auto u = base64url_decode(unpadded);
    REQUIRE(u.has_value());
    CHECK(*u == b(plain));
    auto p = base64url_decode(enc, true);
    REQUIRE(p.has_value());
    CHECK(*p == b(plain));
  }
  // The two alphabets differ in 62/63: python3 base64.b64encode(b'\xfb\xff\xbf').
  const Bytes odd{0xfb, 0xff, 0xbf};
  CHECK(base64_encode(odd) == "+/+/");
  CHECK(base64url_encode(odd) == "-_-_");
  CHECK(*base64_decode("+/+/") == odd);
  CHECK(*base64url_decode("-_-_") == odd);
  CHECK(err(base64_decode("-_-_")).find("'-'") != std::string::npos);
  CHECK(err(base64url_decode("+/+/")).find("'+'") != std::string::npos);
}

TEST_CASE("base64 strictness") {
  std::string m = err(base64_decode("Zg="));  // padded form must be a multiple of 4
  INFO(m);
  CHECK(m.find("base64") != std::string::npos);
  CHECK(m.find("3 characters") != std::string::npos);
  CHECK_FALSE(base64_decode("Zg").has_value());  // unpadded where padding required
  CHECK(err(base64_decode("Zg==", false)).find("'='") != std::string::npos);
  CHECK_FALSE(base64_decode("Z===").has_value());
  CHECK_FALSE(base64_decode("====").has_value());
  CHECK_FALSE(base64_decode("Zg=a").has_value());
  CHECK_FALSE(base64_decode("Z=g=").has_value());
  CHECK_FALSE(base64_decode("Zm9v=Zg=").has_value());
  // Non-canonical trailing bits: "Zh==" decodes the same byte as "Zg==" with bit set.
  m = err(base64_decode("Zh=="));
  CHECK(m.find("trailing bits") != std::string::npos);
  CHECK(m.find("'h'") != std::string::npos);
  CHECK(m.find("offset 1") != std::string::npos);
  CHECK(err(base64_decode("Zm9=")).find("trailing bits") != std::string::npos);
  CHECK(err(base64url_decode("Zm9")).find("trailing bits") != std::string::npos);
  CHECK_FALSE(base64url_decode("Zm9vY").has_value());  // 1 mod 4 is never valid
  m = err(base64_decode("Zm 9v"));
  CHECK(m.find("offset 2") == std::string::npos);  // wrong length caught first
  m = err(base64_decode("Zm\n9"));
  CHECK(m.find("0x0a") != std::string::npos);
  CHECK(m.find("offset 2") != std::string::npos);
}

TEST_CASE("base58btc vectors") {
  // python3 big-integer reference (divmod by 58, '1' per leading zero byte).
  const std::pair<Bytes, const char*> vs[] = {
      {b(""), ""},
      {Bytes{0}, "1"},
      {Bytes{0, 0}, "11"},
      {b("yes mani !"), "7paNL19xttacUY"},
      {b("Hello World!"), "2NEpo7TZRRrLZSi2U"},
      {Bytes{0, 0, 0x28, 0x7f, 0xb4, 0xcd}, "11233QC4"},
      {Bytes(40, 0xff), "Dim4mzb29eRsQ3xpMX5gQMZVuoZq3cJdytGuo3uFm75w8eWwCihZEdc"},
  };
  for (const auto& [raw, enc] : vs) {
    INFO(enc);
    CHECK(base58btc_encode(raw) == enc);
    auto r = base58btc_decode(enc);
    INFO((r ? "" : r.error().message));
    REQUIRE(r.has_value());
    CHECK(*r == raw);
  }
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  const char* all58 =
      "1cWB5HCBdLjAuqGGReWE3R3CguuwSjw6RHn39s2yuDRTS5NsBgNiFpWgAnEx6VQi8csexkgYw3mdYrMHr8x9i7aEwP8k"
      "Z"
      "7vccXWqKDvGv3u1GxFKPuAkn8JCPPGDMf3vMMnbzm6Nh9zh1gcNsMvH3ZNLmP5fSG6DGbbi2tuwMWPthr4boWwCxf7e"
      "wSgNQeacyozhKDDQQ1qL5fQFUW52QKUZDZ5fw3KXNQJMcNTcaB723LchjeKun7MuGW5qyCBZYzA1KjofN1gYBV3Nqyh"
      "QJ3Ns746GNuf9N2pQPmHz4xpnSrrfCvy6TVVz5d4PdrjeshsWQwpZsZGzvbdAdN8MKV5QsBDY";
  CHECK(base58btc_encode(all) == all58);
  auto r = base58btc_decode(all58);
  REQUIRE(r.has_value());
  CHECK(*r == all);
}

TEST_CASE("base58btc round trips across limb boundaries and rejects 0 O I l") {
  for (std::size_t n = 0; n < 80; ++n) {
    for (std::size_t zeros : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
      Bytes v = counting(n, std::min(zeros, n));
      std::string s = base58btc_encode(v);
      auto r = base58btc_decode(s);
      INFO(n << " " << zeros << " " << s);
      REQUIRE(r.has_value());
      CHECK(*r == v);
    }
  }
  for (char c : {'0', 'O', 'I', 'l', '+'}) {
    std::string s = "7paNL19xttacUY";
    s[4] = c;
    std::string m = err(base58btc_decode(s));
    INFO(m);
    CHECK(m.find("base58btc") != std::string::npos);
    CHECK(m.find(std::string("'") + c + "'") != std::string::npos);
    CHECK(m.find("offset 4") != std::string::npos);
  }
}
