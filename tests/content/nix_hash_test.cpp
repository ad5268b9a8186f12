// Nix hash text forms against nix-hash 2.8 output (nix.md §2.3 and the commands
// named below) and python3's base64 module for SRI/base64.
#include "content/nix_hash.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "content/encoding.hpp"

using namespace srcgate::content;

namespace {

const char* kEmptyHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const char* kEmptyNix32 = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
const char* kEmptySri = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

ParsedHash ok(std::string_view text, std::optional<HashAlgo> algo) {
  auto r = parse_nix_hash(text, algo);
  INFO(text << " -> " << (r ? "" : r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

Error bad(std::string_view text, std::optional<HashAlgo> algo) {
  auto r = parse_nix_hash(text, algo);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

bool has(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("sha256 of the empty string in every form") {
  const Digest want = digest_of(HashAlgo::sha256, as_bytes(""));
  REQUIRE(hex_encode(want.bytes()) == kEmptyHex);
  CHECK(to_hex(want) == kEmptyHex);
  CHECK(to_nix32(want) == kEmptyNix32);
  CHECK(to_sri(want) == kEmptySri);

  ParsedHash h = ok(kEmptyHex, HashAlgo::sha256);
  CHECK(h.digest == want);
  CHECK(h.encoding == HashEncoding::hex);
  h = ok("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", HashAlgo::sha256);
  CHECK(h.digest == want);
  h = ok(kEmptyNix32, HashAlgo::sha256);
  CHECK(h.digest == want);
  CHECK(h.encoding == HashEncoding::nix32);
  h = ok("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", HashAlgo::sha256);  // '/' and '+'
  CHECK(h.digest == want);
  CHECK(h.encoding == HashEncoding::base64);
  h = ok(kEmptySri, std::nullopt);
  CHECK(h.digest == want);
  CHECK(h.encoding == HashEncoding::sri);
  h = ok(kEmptySri, HashAlgo::sha256);
  CHECK(h.digest == want);
  h = ok(std::string("sha256:") + kEmptyNix32, std::nullopt);
  CHECK(h.digest == want);
  CHECK(h.encoding == HashEncoding::nix32);
  h = ok(std::string("sha256:") + kEmptyHex, HashAlgo::sha256);
  CHECK(h.encoding == HashEncoding::hex);
  CHECK(h.digest == want);
  h = ok("sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", std::nullopt);
  CHECK(h.encoding == HashEncoding::base64);
  CHECK(h.digest == want);
}

TEST_CASE("md5, sha1, sha512 of 'hello world\\n' match nix-hash") {
  // printf 'hello world\n' > hw; nix-hash --type ALGO --flat hw; nix-hash --type ALGO --flat
  // --base32 hw. Base64 from python3 base64.b64encode(bytes.fromhex(hex)).
  struct V {
    HashAlgo algo;
    const char* hex;
    const char* nix32;
    const char* b64;
  };
  const V vs[] = {
      {HashAlgo::md5, "6f5902ac237024bdd0c176cb93063dc4", "647l397jvnq78bs93h4fn04nbg",
       "b1kCrCNwJL3QwXbLkwY9xA=="},
      {HashAlgo::sha1, "22596363b3de40b06f981fb85d82312e8c0ed511",
       "27ahx31f6615vf0zk1pv0h6yndin6n92", "IlljY7PeQLBvmB+4XYIxLowO1RE="},
      {HashAlgo::sha256, "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447",
       "0ix4jahrkll5zg01wandq78jw3ab30q4nscph67rniqg5x7r0j59",
       "qUiQTy8PR5uPgZdpSzAYSw0u0cHNKh7A+4XSmaGSpEc="},
      {HashAlgo::sha512,
       "db3974a97f2407b7cae1ae637c0030687a11913274d578492558e39c16c017de84eacdc8c62fe34ee4e12b4b142"
       "8817"
       "f09b6a2760c3f8a664ceae94d2434a593",
       "29sad149plylk36i8zhqxm2nq4pz0982i5jpqg49vijzin8rpm89phpq0b9rqsq4m4pimbl6a8i2yk86007qqxfw75b"
       "f1"
       "r4gylp8ffv",
       "2zl0qX8kB7fK4a5jfAAwaHoRkTJ01XhJJVjjnBbAF96E6s3Ixi/jTuThK0sUKIF/Cbaidgw/imZM6ulNJDSlkw=="},
  };
  for (const V& v : vs) {
    const std::string name(algo_name(v.algo));
    INFO(name);
    const Digest want = digest_of(v.algo, as_bytes("hello world\n"));
    CHECK(to_hex(want) == v.hex);
    CHECK(to_nix32(want) == v.nix32);
    CHECK(to_sri(want) == name + "-" + v.b64);
    for (const char* text : {v.hex, v.nix32, v.b64}) {
      CHECK(ok(text, v.algo).digest == want);
      CHECK(ok(name + ":" + text, std::nullopt).digest == want);
    }
    CHECK(ok(name + "-" + v.b64, std::nullopt).digest == want);  // md5-/sha1- SRI too (nix#8982)
  }
}

TEST_CASE("parse_nix_hash errors") {
  SECTION("wrong length lists the lengths that would fit") {
    Error e = bad("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7", HashAlgo::sha256);
    INFO(e.message);
    CHECK(e.code == Errc::malformed);
    CHECK(has(e.message, "51 characters"));
    CHECK(has(e.message, "64 (hex)"));
    CHECK(has(e.message, "52 (nix32)"));
    CHECK(has(e.message, "44 (base64)"));
    e = bad(kEmptyHex, HashAlgo::sha512);
    INFO(e.message);
    CHECK(has(e.message, "128 (hex)"));
    CHECK(has(e.message, "103 (nix32)"));
    CHECK(has(e.message, "88 (base64)"));
    e = bad("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", std::nullopt);
    INFO(e.message);
    CHECK(has(e.message, "43"));
    CHECK(has(e.message, "44"));
  }
  SECTION("messages name the text, and the prefix it followed") {
    CHECK(bad("0mdq", HashAlgo::sha256).message ==
          "sha256 hash '0mdq' has 4 characters; sha256 needs 64 (hex), 52 (nix32) or 44 (base64)");
    CHECK(bad("sha256:0mdq", std::nullopt).message ==
          "sha256 hash 'sha256:0mdq' (after the 'sha256:' prefix) has 4 characters; sha256 needs "
          "64 (hex), 52 (nix32) or 44 (base64)");
    CHECK(bad("sha256-AAAA", std::nullopt).message ==
          "SRI sha256 hash 'sha256-AAAA' (after the 'sha256-' prefix) has 4 base64 characters; "
          "sha256 needs 44");
  }
  SECTION("characters outside nix32") {
    for (char c : {'e', 'o', 'u', 't'}) {
      std::string s = kEmptyNix32;
      s[10] = c;
      Error e = bad(s, HashAlgo::sha256);
      INFO(e.message);
      CHECK(e.code == Errc::malformed);
      CHECK(has(e.message, "nix32"));
      CHECK(has(e.message, std::string("'") + c + "'"));
      CHECK(has(e.message, "offset 10"));
    }
  }
  SECTION("bad hex character") {
    std::string s = kEmptyHex;
    s[3] = 'g';
    Error e = bad(s, HashAlgo::sha256);
    INFO(e.message);
    CHECK(has(e.message, "hex"));
    CHECK(has(e.message, "'g'"));
    CHECK(has(e.message, "offset 3"));
  }
  SECTION("unknown algo") {
    Error e = bad("blake3-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", std::nullopt);
    INFO(e.message);
    CHECK(e.code == Errc::unsupported);
    CHECK(has(e.message, "'blake3'"));
    e = bad(std::string("SHA256:") + kEmptyHex, HashAlgo::sha256);
    CHECK(e.code == Errc::unsupported);
    CHECK(has(e.message, "'SHA256'"));
  }
  SECTION("algo conflict") {
    Error e = bad(kEmptySri, HashAlgo::sha512);
    INFO(e.message);
    CHECK(e.code == Errc::malformed);
    CHECK(has(e.message, "sha256"));
    CHECK(has(e.message, "sha512"));
    e = bad(std::string("sha1:") + kEmptyHex, HashAlgo::sha256);
    CHECK(has(e.message, "sha1"));
  }
  SECTION("bare hash without algo") {
    Error e = bad(kEmptyNix32, std::nullopt);
    INFO(e.message);
    CHECK(has(e.message, "does not name its algorithm"));
    bad(kEmptyHex, std::nullopt);
    bad("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", std::nullopt);
  }
  SECTION("SRI must be base64, not hex or nix32") {
    bad(std::string("sha256-") + kEmptyHex, std::nullopt);
    bad(std::string("sha256-") + kEmptyNix32, std::nullopt);
  }
  SECTION("non-canonical base64 padding bits") {
    // '=' replaced: 'U' -> 'V' sets a trailing bit beyond the 32 bytes.
    Error e = bad("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=", std::nullopt);
    INFO(e.message);
    CHECK(has(e.message, "trailing bits"));
  }
  SECTION("empty text") {
    bad("", HashAlgo::sha256);
    bad("", std::nullopt);
    bad("sha256:", std::nullopt);
  }
}

// Regression (fuzz/regressions/nix_hash/base64-unpadded-decodes-to-33-bytes):
// 44 base64 characters without '=' decode to 33 bytes, one more than sha256.
TEST_CASE("unpadded 44-character base64 is not a sha256 [regression]") {
  auto r = parse_nix_hash("e3b0c96fb92427ae41e4649b934ca495991b7852b855", HashAlgo::sha256);
  REQUIRE_FALSE(r.has_value());
  INFO(r.error().message);
  CHECK(r.error().message.find("decodes to 33 bytes") != std::string::npos);
  CHECK_FALSE(parse_nix_hash("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUA", std::nullopt)
                  .has_value());
}
