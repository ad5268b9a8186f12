// Multibase against the multibase spec's "yes mani !" vectors, each re-checked
// with python3 (base64.b32encode / b16encode / b64encode / urlsafe_b64encode and
// a big-integer base58). Note: "mZXMgbWFuaSAh" is base64 of "es mani !", not of
// "yes mani !"; the right value is "meWVzIG1hbmkgIQ".
#include "content/multibase.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace srcgate::content;

namespace {

const Bytes kYes = [] {
  std::string_view s = "yes mani !";
  return Bytes(s.begin(), s.end());
}();

}  // namespace

TEST_CASE("yes mani ! in every supported base") {
  const std::pair<Multibase, const char*> vs[] = {
      {Multibase::base58btc, "z7paNL19xttacUY"},
      {Multibase::base32, "bpfsxgidnmfxgsibb"},
      {Multibase::base32upper, "BPFSXGIDNMFXGSIBB"},
      {Multibase::base16, "f796573206d616e692021"},
      {Multibase::base16upper, "F796573206D616E692021"},
      {Multibase::base64, "meWVzIG1hbmkgIQ"},
      {Multibase::base64url, "ueWVzIG1hbmkgIQ"},
  };
  for (auto [base, text] : vs) {
    INFO(text);
    CHECK(multibase_encode(base, kYes) == text);
    auto r = multibase_decode(text);
    INFO((r ? "" : r.error().message));
    REQUIRE(r.has_value());
    CHECK(*r == kYes);
  }
}

TEST_CASE("alphabet differences between base64 and base64url") {
  const Bytes odd{0xfb, 0xff};  // python3: base64.b64encode(b'\xfb\xff') == b'+/8='
  CHECK(multibase_encode(Multibase::base64, odd) == "m+/8");
  CHECK(multibase_encode(Multibase::base64url, odd) == "u-_8");
  CHECK(*multibase_decode("m+/8") == odd);
  CHECK(*multibase_decode("u-_8") == odd);
  CHECK_FALSE(multibase_decode("u+/8").has_value());
  CHECK_FALSE(multibase_decode("m+/8=").has_value());  // multibase is unpadded
}

TEST_CASE("empty data") {
  CHECK(multibase_encode(Multibase::base32, {}) == "b");
  CHECK(multibase_encode(Multibase::base58btc, {}) == "z");
  auto r = multibase_decode("b");
  REQUIRE(r.has_value());
  CHECK(r->empty());
}

TEST_CASE("multibase errors") {
  auto r = multibase_decode("");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::malformed);

  for (const char* text : {"Qmfoo", "9abc", "kzz"}) {
    r = multibase_decode(text);
    REQUIRE_FALSE(r.has_value());
    INFO(r.error().message);
    CHECK(r.error().code == Errc::unsupported);
    CHECK(r.error().message.find(std::string("'") + text[0] + "'") != std::string::npos);
  }
  r = multibase_decode("bpfsxgidnmfxgsib1");
  REQUIRE_FALSE(r.has_value());
  INFO(r.error().message);
  CHECK(r.error().code == Errc::malformed);
  CHECK(r.error().message.find("base32") != std::string::npos);
  CHECK(r.error().message.find("'1'") != std::string::npos);
  r = multibase_decode("z7paNL19xt0acUY");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("'0'") != std::string::npos);
  CHECK_FALSE(multibase_decode("BPFSXGIDNMFXgSIBB").has_value());  // mixed case
  CHECK(multibase_decode("F79657").has_value() == false);          // odd hex length
  CHECK(multibase_decode("f796g5").has_value() == false);          // 'g' is not hex
}
