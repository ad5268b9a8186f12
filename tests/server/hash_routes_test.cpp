// The Nix hashed-mirror routes end to end (issue 4 item 2, nix.md §1.2-1.3,
// §3): files imported into a RocksDB store, served by the gateway on
// 127.0.0.1 port 0, fetched with exactly the two curl commands of nixpkgs'
// fetchurl builder (HEAD probe, then GET with -C -) for every hash form:
// /sha256/<nix32>, <hex>, <base64 with '/'>, //sha256-<base64>, /sha512/,
// /sha1/, /md5/, with and without a base path. The bytes that arrive must be
// the bytes imported. Also: headers, Range/416/If-None-Match/If-Range, resume
// of a cut download, fast 404 for unknown hashes, 400 with the reason for
// malformed ones, and a store that no request changes.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "content/nix_hash.hpp"
#include "tests/server/gateway_test_support.hpp"

using namespace srcgate;
using content::Bytes;
using content::HashAlgo;
using test::http;
using test::HttpResult;
using test::TestGateway;

namespace {

std::string b64(const content::Digest& d) { return content::base64_encode(d.bytes()); }

// nixpkgs builder.sh tryHashedMirrors: the HEAD probe. Returns curl's exit code
// and what --write-out printed.
test::CommandResult nixpkgs_head(const std::string& url) {
  return test::run_command({"curl", "--location", "--max-redirs", "20", "--retry", "0",
                            "--connect-timeout", "15", "--fail", "--silent", "--show-error",
                            "--head", url, "--write-out", "%{http_code}", "--output", "/dev/null"});
}

// nixpkgs builder.sh tryDownload: the GET that resumes with -C -.
test::CommandResult nixpkgs_get(const std::string& url, const std::filesystem::path& out) {
  return test::run_command({"curl", "--location", "--max-redirs", "20", "--retry", "3",
                            "--retry-all-errors", "-C", "-", "--fail", url, "--output",
                            out.string()});
}

// Data of `size` bytes whose digest under `algo`, in base64, holds a '/'.
Bytes data_with_slash_in_base64(HashAlgo algo, std::size_t size) {
  for (int i = 0; i < 500; ++i) {
    Bytes data = test::deterministic_bytes("slash-" + std::to_string(i), size);
    if (b64(content::digest_of(algo, data)).find('/') != std::string::npos) return data;
  }
  FAIL("no seed gives a base64 digest with '/'");
  return {};
}

std::string as_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

struct StoreSnapshot {
  storage::StoreStats stats;
  std::size_t names = 0;
  bool operator==(const StoreSnapshot& o) const {
    return stats.files == o.stats.files && stats.blocks == o.stats.blocks &&
           stats.logical_bytes == o.stats.logical_bytes && names == o.names &&
           stats.pinned_bytes == o.stats.pinned_bytes;
  }
};

StoreSnapshot snapshot(storage::BlockStore& store) {
  StoreSnapshot s;
  auto st = store.stats();
  REQUIRE(st);
  s.stats = *st;
  auto r = store.for_each_name([&](const content::Digest&, const storage::NameEntry&) {
    ++s.names;
    return true;
  });
  REQUIRE(r);
  return s;
}

}  // namespace

TEST_CASE("nixpkgs curl commands fetch every hash form, with and without a base path",
          "[hash][curl]") {
  TestGateway gw("/cache");
  test::TempDir tmp;
  // 2.5 MiB + 17: three 1 MiB-chunk leaves under a dag-pb root.
  const Bytes big = test::deterministic_bytes("hash-routes-big", (5u << 19) + 17);
  const Bytes slash256 = data_with_slash_in_base64(HashAlgo::sha256, 1000);
  const Bytes slash512 = data_with_slash_in_base64(HashAlgo::sha512, 2000);
  const auto big_summary = gw.import(big);
  gw.import(slash256);
  gw.import(slash512);
  const StoreSnapshot before = snapshot(gw.store());
  CHECK(before.stats.files == 3);

  struct Case {
    std::string what;
    std::string algo_segment;  // $outputHashAlgo ("" for SRI)
    std::string hash;          // $outputHash as the Nix expression wrote it
    const Bytes* data;
  };
  const auto d256 = content::digest_of(HashAlgo::sha256, big);
  const auto d512 = content::digest_of(HashAlgo::sha512, big);
  const auto d1 = content::digest_of(HashAlgo::sha1, big);
  const auto d5 = content::digest_of(HashAlgo::md5, big);
  const auto s256 = content::digest_of(HashAlgo::sha256, slash256);
  const auto s512 = content::digest_of(HashAlgo::sha512, slash512);
  REQUIRE(b64(s256).find('/') != std::string::npos);
  const std::vector<Case> cases = {
      {"sha256 nix32", "sha256", content::nix32_encode(d256.bytes()), &big},
      {"sha256 hex", "sha256", content::hex_encode(d256.bytes()), &big},
      {"sha256 base64 with '/'", "sha256", b64(s256), &slash256},
      {"SRI sha256 (empty algo)", "", "sha256-" + b64(d256), &big},
      {"SRI sha256 with '/'", "", "sha256-" + b64(s256), &slash256},
      {"sha256 Nix-prefixed", "sha256", "sha256:" + content::nix32_encode(d256.bytes()), &big},
      {"sha512 base64 with '/'", "sha512", b64(s512), &slash512},
      {"sha512 nix32", "sha512", content::nix32_encode(d512.bytes()), &big},
      {"sha512 hex", "sha512", content::hex_encode(d512.bytes()), &big},
      {"sha1 hex", "sha1", content::hex_encode(d1.bytes()), &big},
      {"sha1 nix32", "sha1", content::nix32_encode(d1.bytes()), &big},
      {"md5 hex", "md5", content::hex_encode(d5.bytes()), &big},
  };
  int n = 0;
  for (const std::string& mirror : {gw.url(), gw.url() + "/cache", gw.url() + "/cache/"}) {
    for (const Case& c : cases) {
      // builder.sh: url="$mirror/$outputHashAlgo/$outputHash"
      const std::string url = mirror + "/" + c.algo_segment + "/" + c.hash;
      INFO(c.what << ": " << url);
      const auto head = nixpkgs_head(url);
      INFO("HEAD stderr: " << head.err);
      CHECK(head.exit_code == 0);
      CHECK(head.out == "200");
      const auto out = tmp / ("out" + std::to_string(++n));
      const auto get = nixpkgs_get(url, out);
      INFO("GET stderr: " << get.err);
      REQUIRE(get.exit_code == 0);
      const bool same_bytes = test::read_file(out) == *c.data;  // no MiB dump on failure
      CHECK(same_bytes);
    }
  }
  CHECK(snapshot(gw.store()) == before);
  (void)big_summary;
}

TEST_CASE("a cut download resumes with -C - from the 206 the gateway sends", "[hash][curl]") {
  TestGateway gw;
  test::TempDir tmp;
  const Bytes data = test::deterministic_bytes("hash-routes-resume", (3u << 20) + 5);
  gw.import(data);
  const std::string url = gw.url() + "/sha256/" +
                          content::nix32_encode(content::digest_of(HashAlgo::sha256, data).bytes());
  for (std::size_t have :
       {std::size_t{1}, std::size_t{1} << 20, (std::size_t{3} << 20) - 3, data.size() - 1}) {
    const auto out = tmp / ("partial" + std::to_string(have));
    test::write_file(out, content::ByteView(data).first(have));
    const auto get = nixpkgs_get(url, out);
    INFO("resume from " << have << ": " << get.err);
    REQUIRE(get.exit_code == 0);
    const bool same_bytes = test::read_file(out) == data;  // no MiB dump on failure
    CHECK(same_bytes);
  }
}

TEST_CASE("hash route headers, ranges, 416, If-None-Match and If-Range", "[hash][curl]") {
  TestGateway gw;
  const Bytes data = test::deterministic_bytes("hash-routes-headers", (1u << 20) + 4096);
  const auto summary = gw.import(data);
  const std::string root = summary.dag.root.to_string();
  const std::string url = gw.url() + "/sha256/" +
                          content::hex_encode(content::digest_of(HashAlgo::sha256, data).bytes());

  for (const char* method : {"HEAD", "GET"}) {
    INFO(method);
    HttpResult r = http(url, {}, method);
    CHECK(r.status == 200);
    CHECK(r.header("content-length") == std::to_string(data.size()));
    CHECK(r.header("content-type") == "application/octet-stream");
    CHECK(r.header("etag") == "\"" + root + "\"");
    CHECK(r.header("cache-control") == "public, max-age=29030400, immutable");
    CHECK(r.header("accept-ranges") == "bytes");
    CHECK(r.header("x-ipfs-path") == "/ipfs/" + root);
    if (std::string(method) == "GET") CHECK((r.body == as_string(data)));
  }

  // A range across the first leaf boundary.
  HttpResult part = http(url, {"-H", "Range: bytes=1048570-1048585"});
  CHECK(part.status == 206);
  CHECK(part.header("content-range") == "bytes 1048570-1048585/" + std::to_string(data.size()));
  CHECK(part.body == as_string(data).substr(1048570, 16));
  // Suffix range.
  HttpResult tail = http(url, {"-H", "Range: bytes=-10"});
  CHECK(tail.status == 206);
  CHECK(tail.body == as_string(data).substr(data.size() - 10));
  // Unsatisfiable.
  HttpResult past = http(url, {"-H", "Range: bytes=" + std::to_string(data.size()) + "-"});
  CHECK(past.status == 416);
  CHECK(past.header("content-range") == "bytes */" + std::to_string(data.size()));
  // If-None-Match with the ETag, weak or in a list: 304, no body.
  for (const std::string& inm :
       {"\"" + root + "\"", "W/\"" + root + "\"", "\"x\", \"" + root + "\"", std::string("*")}) {
    HttpResult nm = http(url, {"-H", "If-None-Match: " + inm});
    INFO(inm);
    CHECK(nm.status == 304);
    CHECK(nm.body.empty());
  }
  CHECK(http(url, {"-H", "If-None-Match: \"other\""}, "HEAD").status == 200);
  // If-Range with another tag: the whole file.
  HttpResult ifr = http(url, {"-H", "Range: bytes=0-9", "-H", "If-Range: \"other\""});
  CHECK(ifr.status == 200);
  CHECK(ifr.body.size() == data.size());
  HttpResult ifr_ok = http(url, {"-H", "Range: bytes=0-9", "-H", "If-Range: \"" + root + "\""});
  CHECK(ifr_ok.status == 206);
  CHECK(ifr_ok.body == as_string(data).substr(0, 10));
}

TEST_CASE(
    "unknown hashes are a fast 404, malformed ones a 400 with the reason; the store "
    "does not change",
    "[hash][curl]") {
  TestGateway gw("/cache");
  const Bytes data = test::deterministic_bytes("hash-routes-404", 5000);
  gw.import(data);
  const StoreSnapshot before = snapshot(gw.store());

  // sha256("") is not stored.
  const std::string empty_nix32 = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73";
  for (const std::string& url :
       {gw.url() + "/sha256/" + empty_nix32, gw.url() + "/cache/sha256/" + empty_nix32,
        gw.url() + "//sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        gw.url() + "/md5/d41d8cd98f00b204e9800998ecf8427e"}) {
    INFO(url);
    const auto start = std::chrono::steady_clock::now();
    const auto head = nixpkgs_head(url);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(head.exit_code == 22);  // --fail on an HTTP error
    CHECK(head.out == "404");
    // curl's own start-up included; the server answers from one index lookup.
    CHECK(elapsed < std::chrono::seconds(2));
    HttpResult get = http(url);
    CHECK(get.status == 404);
    CHECK_THAT(get.body, Catch::Matchers::Contains("is not in the store"));
  }
  const std::string reason =
      "sha256 hash 'abc' has 3 characters; sha256 needs 64 (hex), 52 (nix32) or 44 (base64)\n";
  HttpResult bad = http(gw.url() + "/sha256/abc");
  CHECK(bad.status == 400);
  CHECK(bad.body == reason);
  CHECK(http(gw.url() + "/cache/sha256/abc").body == reason);
  HttpResult bad_char = http(gw.url() + "/sha256/" + std::string(52, 'e'));  // 'e' is not nix32
  CHECK(bad_char.status == 400);
  CHECK_FALSE(bad_char.body.empty());
  CHECK(http(gw.url() + "/sha384/" + std::string(96, 'a')).status >= 400);
  // Methods other than GET and HEAD.
  HttpResult post = http(gw.url() + "/sha256/" + empty_nix32, {}, "POST");
  CHECK(post.status == 405);
  CHECK(post.header("allow") == "GET, HEAD");
  CHECK(snapshot(gw.store()) == before);
}
