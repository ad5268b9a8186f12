#include "server/router.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace srcgate::server;
using Catch::Matchers::Contains;
using srcgate::content::Cid;
using srcgate::content::Digest;
using srcgate::content::HashAlgo;
using srcgate::content::HashEncoding;

namespace {

// Independent of content/encoding: the vectors below are written in hex.
Digest digest_from_hex(HashAlgo algo, std::string_view hex) {
  std::vector<std::uint8_t> bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(
        static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return Digest(algo, bytes);
}

// nix.md §2.3 vectors (nix-hash 2.8 output).
const std::string kSha256EmptyHex =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string kSha256EmptyNix32 = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
const std::string kSha256EmptyB64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
const std::string kSha256AbcHex =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const std::string kSha256AbcNix32 = "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";
const std::string kSha256AbcB64 = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
const std::string kSha1EmptyHex = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
const std::string kSha1EmptyNix32 = "143xibwh31h9bvxzalr0sjvbbvpa6ffs";
const std::string kSha1EmptyB64 = "2jmj7l5rSw0yVb/vlWAYkK/YBwk=";
const std::string kMd5EmptyHex = "d41d8cd98f00b204e9800998ecf8427e";
const std::string kMd5EmptyNix32 = "3y8bwfr609h3lh9ch0izcqq7fl";
const std::string kMd5EmptyB64 = "1B2M2Y8AsgTpgAmY7PhCfg==";
const std::string kSha512EmptyHex =
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
const std::string kSha512EmptyNix32 =
    "0zdl9zrg8r3i9c1g90lgg9ip5ijzv3yhz91i0zzn3r8ap9ws784gkp9dk9j3aglhgf1amqb0pj21mh7h1nxcl18akqvvf7"
    "g"
    "gqsy30yg";
const std::string kSha512EmptyB64 =
    "z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==";

HashRequest hash_of(HashAlgo algo, std::string_view hex, HashEncoding encoding) {
  return HashRequest{digest_from_hex(algo, hex), encoding};
}

void check_hash(std::string_view target, const HashRequest& expected,
                std::string_view base_path = {}) {
  INFO("target " << target << " base_path '" << base_path << "'");
  const Route r = route(target, base_path);
  const auto* bad = std::get_if<BadRequest>(&r);
  INFO("reason: " << (bad ? bad->reason : std::string("-")));
  REQUIRE(std::holds_alternative<HashRequest>(r));
  CHECK(std::get<HashRequest>(r) == expected);
}

std::string bad_reason(std::string_view target, std::string_view base_path = {}) {
  INFO("target " << target);
  const Route r = route(target, base_path);
  REQUIRE(std::holds_alternative<BadRequest>(r));
  return std::get<BadRequest>(r).reason;
}

IpfsRequest ipfs(std::string_view target) {
  INFO("target " << target);
  const Route r = route(target);
  const auto* bad = std::get_if<BadRequest>(&r);
  INFO("reason: " << (bad ? bad->reason : std::string("-")));
  REQUIRE(std::holds_alternative<IpfsRequest>(r));
  return std::get<IpfsRequest>(r);
}

Cid cid(std::string_view text) {
  auto c = Cid::parse(text);
  INFO(text << ": " << (c ? std::string("ok") : c.error().message));
  REQUIRE(c.has_value());
  return *c;
}

const std::string kHelloCid = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";
const std::string kCidV0 = "QmYzfKSE55XCjD1MW128RfciAf2DViABhEiXfgVFMabSjN";

}  // namespace

TEST_CASE("builtin:fetchurl URLs: /<algo>/<lowercase hex> for every algo", "[router][nix]") {
  check_hash("/sha256/" + kSha256EmptyHex,
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::hex));
  check_hash("/sha512/" + kSha512EmptyHex,
             hash_of(HashAlgo::sha512, kSha512EmptyHex, HashEncoding::hex));
  check_hash("/sha1/" + kSha1EmptyHex, hash_of(HashAlgo::sha1, kSha1EmptyHex, HashEncoding::hex));
  check_hash("/md5/" + kMd5EmptyHex, hash_of(HashAlgo::md5, kMd5EmptyHex, HashEncoding::hex));
}

TEST_CASE("pkgs.fetchurl URLs: every row of nix.md §1.2's table", "[router][nix]") {
  // sha256 = "<nix32>" (most legacy code)
  check_hash("/sha256/" + kSha256EmptyNix32,
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::nix32));
  check_hash("/sha256/" + kSha256AbcNix32,
             hash_of(HashAlgo::sha256, kSha256AbcHex, HashEncoding::nix32));
  // sha256 = "<hex>"
  check_hash("/sha256/" + kSha256AbcHex,
             hash_of(HashAlgo::sha256, kSha256AbcHex, HashEncoding::hex));
  // sha512 = "<base64>", which holds '/' and '+': the hash runs to the end.
  check_hash("/sha512/" + kSha512EmptyB64,
             hash_of(HashAlgo::sha512, kSha512EmptyHex, HashEncoding::base64));
  check_hash("/sha256/" + kSha256EmptyB64,
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::base64));
  // hash = "sha256-<b64>": outputHashAlgo is "", so the URL has an empty segment.
  check_hash("//sha256-" + kSha256EmptyB64,
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::sri));
  check_hash("//sha256-" + kSha256AbcB64,
             hash_of(HashAlgo::sha256, kSha256AbcHex, HashEncoding::sri));
  // outputHash = "sha256:<any>" with outputHashAlgo = sha256
  check_hash("/sha256/sha256:" + kSha256EmptyNix32,
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::nix32));
  check_hash("/sha256/sha256:" + kSha256EmptyHex,
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::hex));
  // sha1 = <any>
  check_hash("/sha1/" + kSha1EmptyNix32,
             hash_of(HashAlgo::sha1, kSha1EmptyHex, HashEncoding::nix32));
  check_hash("/sha1/" + kSha1EmptyB64,
             hash_of(HashAlgo::sha1, kSha1EmptyHex, HashEncoding::base64));
  // and the other algos in their other encodings
  check_hash("/md5/" + kMd5EmptyNix32, hash_of(HashAlgo::md5, kMd5EmptyHex, HashEncoding::nix32));
  check_hash("/md5/" + kMd5EmptyB64, hash_of(HashAlgo::md5, kMd5EmptyHex, HashEncoding::base64));
  check_hash("/sha512/" + kSha512EmptyNix32,
             hash_of(HashAlgo::sha512, kSha512EmptyHex, HashEncoding::nix32));
}

TEST_CASE("SRI forms with any number of leading slashes, and with an algo segment",
          "[router][nix]") {
  const auto expected = hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::sri);
  check_hash("/sha256-" + kSha256EmptyB64, expected);
  check_hash("//sha256-" + kSha256EmptyB64, expected);
  check_hash("///sha256-" + kSha256EmptyB64, expected);
  check_hash("/sha256/sha256-" + kSha256EmptyB64, expected);
  check_hash("//sha1-" + kSha1EmptyB64, hash_of(HashAlgo::sha1, kSha1EmptyHex, HashEncoding::sri));
  check_hash("//md5-" + kMd5EmptyB64, hash_of(HashAlgo::md5, kMd5EmptyHex, HashEncoding::sri));
  check_hash("//sha512-" + kSha512EmptyB64,
             hash_of(HashAlgo::sha512, kSha512EmptyHex, HashEncoding::sri));
  // "sha256:<hash>" with an empty algo segment
  check_hash("//sha256:" + kSha256EmptyNix32,
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::nix32));
}

TEST_CASE("a mirror URL with a trailing slash doubles the slash before the algo", "[router][nix]") {
  check_hash("//sha256/" + kSha256EmptyHex,
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::hex));
  check_hash("/cache//sha256/" + kSha256EmptyNix32,
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::nix32), "/cache");
}

TEST_CASE("percent-escaped base64 characters are decoded in the hash", "[router][nix]") {
  check_hash("/sha256/47DEQpj8HBSa%2B%2FTImW%2B5JCeuQeRkm5NMpJWZG3hSuFU%3D",
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::base64));
  check_hash("//sha256-47DEQpj8HBSa%2b%2fTImW%2b5JCeuQeRkm5NMpJWZG3hSuFU%3d",
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::sri));
}

TEST_CASE("a base path prefix is removed, and unprefixed targets still route", "[router]") {
  const auto nix32 = hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::nix32);
  check_hash("/cache/sha256/" + kSha256EmptyNix32, nix32, "/cache");
  check_hash("/sha256/" + kSha256EmptyNix32, nix32, "/cache");
  check_hash("/cache//sha256-" + kSha256EmptyB64,
             hash_of(HashAlgo::sha256, kSha256EmptyHex, HashEncoding::sri), "/cache");
  check_hash("/a/b/sha256/" + kSha256EmptyNix32, nix32, "/a/b");
  CHECK(route("/cache/metrics", "/cache") == Route{MetricsRequest{}});
  CHECK(route("/cache/ipfs/" + kHelloCid, "/cache") ==
        Route{IpfsRequest{cid(kHelloCid), {}, false, {}}});
  CHECK(route("/cache", "/cache") == Route{NotFound{}});
  CHECK(route("/cachex/sha256/" + kSha256EmptyNix32, "/cache") == Route{NotFound{}});
}

TEST_CASE("malformed hashes are 400 with a reason that says what is wrong", "[router][nix]") {
  CHECK_THAT(bad_reason("/sha256/abc"), Contains("3 characters") && Contains("64 (hex)") &&
                                            Contains("52 (nix32)") && Contains("44 (base64)"));
  CHECK_THAT(bad_reason("/sha256/"), Contains("missing hash after /sha256/"));
  CHECK_THAT(bad_reason("/sha256"), Contains("missing hash after /sha256/"));
  // 'e' is not in the nix32 alphabet; the reason names the character.
  CHECK_THAT(bad_reason("/sha256/" + std::string(51, '0') + "e"), Contains("'e'"));
  // hex digit 'g' at the right length
  CHECK_THAT(bad_reason("/sha256/" + std::string(63, '0') + "g"), Contains("'g'"));
  // an md5 URL with a sha256-length hash
  CHECK_THAT(bad_reason("/md5/" + kSha256EmptyHex), Contains("md5") && Contains("64 characters"));
  // the SRI algo disagrees with the URL's algo
  CHECK_THAT(bad_reason("/sha512/sha256-" + kSha256EmptyB64), Contains("sha512"));
  // SRI base64 of the wrong length
  CHECK_THAT(bad_reason("//sha256-" + kSha1EmptyB64), Contains("base64 characters"));
  CHECK_THAT(bad_reason("//blake3-" + kSha256EmptyB64), Contains("blake3"));
  CHECK_THAT(bad_reason("/blake3/" + kSha256EmptyHex), Contains("not supported"));
  CHECK_THAT(bad_reason("/sha256/%zz" + kSha256EmptyHex.substr(3)),
             Contains("malformed percent-escape"));
  CHECK_THAT(bad_reason("/sha256/" + kSha256EmptyHex + "/"), Contains("65 characters"));
}

TEST_CASE("the reason for a huge malformed hash is kept short", "[router]") {
  const std::string reason = bad_reason("/sha256/" + std::string(10000, 'a'));
  CHECK(reason.size() < 400);
}

TEST_CASE("/ipfs/<cid> with and without a trailing slash", "[router][ipfs]") {
  CHECK(ipfs("/ipfs/" + kHelloCid) == IpfsRequest{cid(kHelloCid), {}, false, {}});
  CHECK(ipfs("/ipfs/" + kHelloCid + "/") == IpfsRequest{cid(kHelloCid), {}, true, {}});
  CHECK(ipfs("/ipfs/" + kCidV0) == IpfsRequest{cid(kCidV0), {}, false, {}});
  CHECK(ipfs("/ipfs/bafkqaaa").cid.is_identity());
}

TEST_CASE("/ipfs/ path segments are percent-decoded and keep UTF-8", "[router][ipfs]") {
  const IpfsRequest r = ipfs("/ipfs/" + kCidV0 + "/a/b%20c/%E2%82%AC.txt");
  CHECK(r.path == std::vector<std::string>{"a", "b c", "\xE2\x82\xAC.txt"});
  CHECK_FALSE(r.trailing_slash);
  // UTF-8 sent unescaped is kept byte for byte; '+' is not a space in paths.
  CHECK(ipfs("/ipfs/" + kCidV0 + "/\xC3\xA9t\xC3\xA9/a+b/").path ==
        std::vector<std::string>{"\xC3\xA9t\xC3\xA9", "a+b"});
  CHECK(ipfs("/ipfs/" + kCidV0 + "/\xC3\xA9t\xC3\xA9/a+b/").trailing_slash);
  // empty segments collapse
  CHECK(ipfs("/ipfs/" + kCidV0 + "//a//b").path == std::vector<std::string>{"a", "b"});
  CHECK(ipfs("/ipfs/" + kCidV0 + "/root2/root3/root4/index.html").path ==
        std::vector<std::string>{"root2", "root3", "root4", "index.html"});
}

TEST_CASE("/ipfs/ traversal, encoded '/' and NUL are 400", "[router][ipfs]") {
  const std::string base = "/ipfs/" + kCidV0;
  CHECK_THAT(bad_reason(base + "/a/../b"), Contains("'..' is not allowed"));
  CHECK_THAT(bad_reason(base + "/.."), Contains("'..' is not allowed"));
  CHECK_THAT(bad_reason(base + "/./a"), Contains("'.' is not allowed"));
  CHECK_THAT(bad_reason(base + "/%2e%2e/etc"), Contains("decodes to '..'"));
  CHECK_THAT(bad_reason(base + "/%2E%2e"), Contains("decodes to '..'"));
  CHECK_THAT(bad_reason(base + "/.%2e"), Contains("decodes to '..'"));
  CHECK_THAT(bad_reason(base + "/%2e"), Contains("decodes to '.'"));
  CHECK_THAT(bad_reason(base + "/a%2Fb"), Contains("encoded '/'"));
  CHECK_THAT(bad_reason(base + "/a%2f..%2fb"), Contains("encoded '/'"));
  CHECK_THAT(bad_reason(base + "/a%00b"), Contains("NUL"));
  CHECK_THAT(bad_reason(base + "/a%2"), Contains("malformed percent-escape"));
  CHECK_THAT(bad_reason(base + "/a%g0"), Contains("malformed percent-escape"));
}

TEST_CASE("/ipfs/ with a missing or malformed CID is 400 naming the CID", "[router][ipfs]") {
  CHECK_THAT(bad_reason("/ipfs/"), Contains("missing CID"));
  CHECK_THAT(bad_reason("/ipfs"), Contains("missing CID"));
  CHECK_THAT(bad_reason("/ipfs/notacid"), Contains("invalid CID 'notacid'"));
  CHECK_THAT(bad_reason("/ipfs/QmYzfKSE55XCjD1MW128RfciAf2DViABhEiXfgVFMabSj"),
             Contains("invalid CID"));
  CHECK_THAT(bad_reason("/ipfs/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei"),
             Contains("invalid CID"));
}

TEST_CASE("/ipfs/ query parameters are typed", "[router][ipfs]") {
  IpfsQuery car;
  car.format = ResponseFormat::car;
  car.dag_scope = DagScope::entity;
  car.entity_bytes = EntityBytes{-1024, std::nullopt};
  car.car_version = 1;
  car.car_order = CarOrder::dfs;
  car.car_dups = true;
  CHECK(ipfs("/ipfs/" + kHelloCid +
             "?format=car&dag-scope=entity&entity-bytes=-1024:*&car-version=1&car-order=dfs&"
             "car-dups=y")
            .query == car);

  IpfsQuery named;
  named.filename = "foo bar \xC3\xA9.bin";
  named.download = true;
  CHECK(ipfs("/ipfs/" + kHelloCid + "?filename=foo+bar%20%C3%A9.bin&download=true").query == named);

  IpfsQuery raw;
  raw.format = ResponseFormat::raw;
  CHECK(ipfs("/ipfs/" + kHelloCid + "?format=raw&format=car&unknown=1&&x").query == raw);
  CHECK(ipfs("/ipfs/" + kHelloCid + "?download=false").query == IpfsQuery{});

  IpfsQuery range;
  range.entity_bytes = EntityBytes{0, 0};
  range.car_order = CarOrder::unk;
  range.car_dups = false;
  range.dag_scope = DagScope::block;
  CHECK(ipfs("/ipfs/" + kHelloCid + "?entity-bytes=0:0&car-order=unk&car-dups=n&dag-scope=block")
            .query == range);
  CHECK(ipfs("/ipfs/" + kHelloCid + "?entity-bytes=499:-1000").query.entity_bytes ==
        EntityBytes{499, -1000});
  CHECK(ipfs("/ipfs/" + kHelloCid + "?dag-scope=all").query.dag_scope == DagScope::all);
  for (auto f : {"raw", "car", "tar", "dag-json", "dag-cbor", "json", "cbor", "ipns-record"}) {
    INFO(f);
    const auto q = ipfs("/ipfs/" + kHelloCid + "?format=" + f).query;
    REQUIRE(q.format);
    CHECK(format_name(*q.format) == f);
  }
  // the path and the query together
  const IpfsRequest both = ipfs("/ipfs/" + kCidV0 + "/dir/?format=car");
  CHECK(both.path == std::vector<std::string>{"dir"});
  CHECK(both.trailing_slash);
  CHECK(both.query.format == ResponseFormat::car);
}

TEST_CASE("/ipfs/ bad query values are 400 naming the parameter", "[router][ipfs]") {
  const std::string base = "/ipfs/" + kHelloCid + "?";
  CHECK_THAT(bad_reason(base + "format=xyz"), Contains("unsupported format 'xyz'"));
  CHECK_THAT(bad_reason(base + "dag-scope=some"), Contains("dag-scope 'some'"));
  CHECK_THAT(bad_reason(base + "entity-bytes=10:5"), Contains("FROM after TO"));
  CHECK_THAT(bad_reason(base + "entity-bytes=-5:-10"), Contains("FROM after TO"));
  CHECK_THAT(bad_reason(base + "entity-bytes=abc"), Contains("entity-bytes 'abc'"));
  CHECK_THAT(bad_reason(base + "entity-bytes=1:"), Contains("entity-bytes '1:'"));
  CHECK_THAT(bad_reason(base + "entity-bytes=+1:2"), Contains("entity-bytes"));
  CHECK_THAT(bad_reason(base + "car-version=2"), Contains("car-version '2'"));
  CHECK_THAT(bad_reason(base + "car-order=bfs"), Contains("car-order 'bfs'"));
  CHECK_THAT(bad_reason(base + "car-dups=yes"), Contains("car-dups 'yes'"));
  CHECK_THAT(bad_reason(base + "filename=%zz"), Contains("malformed percent-escape"));
}

TEST_CASE("service routes, the admin API, and everything else", "[router]") {
  CHECK(route("/metrics") == Route{MetricsRequest{}});
  CHECK(route("/healthz") == Route{HealthRequest{}});
  CHECK(route("/readyz") == Route{ReadyRequest{}});
  CHECK(route("/metrics?x=1") == Route{MetricsRequest{}});
  CHECK(route("/metrics/") == Route{NotFound{}});
  CHECK(route("/api/v1") == Route{ApiRequest{"", ""}});
  CHECK(route("/api/v1/") == Route{ApiRequest{"", ""}});
  CHECK(route("/api/v1/files") == Route{ApiRequest{"files", ""}});
  CHECK(route("/api/v1/pins/" + kHelloCid + "?recursive=1") ==
        Route{ApiRequest{"pins/" + kHelloCid, "recursive=1"}});
  CHECK(route("/api/v2/files") == Route{NotFound{}});
  CHECK(route("/api/v1x") == Route{NotFound{}});
  CHECK(route("/") == Route{NotFound{}});
  CHECK(route("///") == Route{NotFound{}});
  CHECK(route("/favicon.ico") == Route{NotFound{}});
  CHECK(route("/SHA256/" + kSha256EmptyHex) == Route{NotFound{}});
  CHECK(route("/ipns/example.org") == Route{NotFound{}});
  CHECK(route("/sha3-256/abc") == Route{NotFound{}});
  CHECK_THAT(bad_reason("*"), Contains("does not start with '/'"));
  CHECK_THAT(bad_reason("http://example.org/sha256/" + kSha256EmptyHex),
             Contains("does not start with '/'"));
}

TEST_CASE("route names for metrics labels", "[router]") {
  CHECK(route_name(route("/sha256/" + kSha256EmptyHex)) == "hash");
  CHECK(route_name(route("/ipfs/" + kHelloCid)) == "ipfs");
  CHECK(route_name(route("/metrics")) == "metrics");
  CHECK(route_name(route("/healthz")) == "healthz");
  CHECK(route_name(route("/readyz")) == "readyz");
  CHECK(route_name(route("/api/v1/stats")) == "api");
  CHECK(route_name(route("/nope")) == "not_found");
  CHECK(route_name(route("/sha256/x")) == "bad_request");
}

TEST_CASE("percent_decode", "[router]") {
  CHECK(percent_decode("a%20b%2Fc%2f") == "a b/c/");
  CHECK(percent_decode("a+b") == "a+b");
  CHECK(percent_decode("a+b", true) == "a b");
  CHECK(percent_decode("%41%4a%4A") == "AJJ");
  CHECK_FALSE(percent_decode("%"));
  CHECK_FALSE(percent_decode("%4"));
  CHECK_FALSE(percent_decode("%4g"));
  CHECK(percent_decode("") == "");
}

TEST_CASE("format names and media types", "[router]") {
  CHECK(format_media_type(ResponseFormat::raw) == "application/vnd.ipld.raw");
  CHECK(format_media_type(ResponseFormat::car) == "application/vnd.ipld.car");
  CHECK(format_from_media_type("Application/VND.ipld.CAR") == ResponseFormat::car);
  CHECK(format_from_media_type("application/vnd.ipld.dag-json") == ResponseFormat::dag_json);
  CHECK_FALSE(format_from_media_type("text/html"));
  CHECK(format_from_name("ipns-record") == ResponseFormat::ipns_record);
  CHECK_FALSE(format_from_name("RAW"));
}
