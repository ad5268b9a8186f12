// PUT /api/v1/sources (issue 6 item 1) over real sockets: a find-tarballs
// list is indexed into the running server's store with nixpkgs' mirror
// table, the answer is the summary of `srcgate sources import` plus its
// problems, a body that is not a JSON array is 400 and indexes nothing, the
// route wants PUT and the token; `srcgate sources import --server` prints
// what the local command prints, and without --server the command names the
// server that holds the store.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "content/encoding.hpp"
#include "tests/server/gateway_test_support.hpp"

using namespace srcgate;
using Catch::Matchers::Contains;
using test::http;
using test::HttpResult;
using test::TestGateway;

namespace {

const std::string kToken = "sources-token";
const std::string kEmpty256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string kAbc256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

content::Digest sha256_from_hex(const std::string& hex) {
  auto bytes = content::hex_decode(hex);
  REQUIRE(bytes);
  return content::Digest(content::HashAlgo::sha256, *bytes);
}

std::vector<std::string> sources_of(TestGateway& gw, const std::string& hex) {
  auto urls = gw.store().sources(sha256_from_hex(hex), 100);
  REQUIRE(urls);
  return *urls;
}

// Elements: 0 SRI + mirror://kernel, 1 nix32 + ftp and https, 2 malformed,
// 3 a duplicate of 0's direct URL.
const std::string kList = R"([
  {"hash": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "type": null, "name": "e.tar.xz",
   "urls": ["mirror://kernel/linux/e.tar.xz", "https://example.org/e.tar.xz"]},
  {"hash": "1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", "type": "sha256",
   "urls": ["ftp://ftp.example.org/abc", "https://example.org/abc"]},
  {"hash": "zzz", "type": "sha256", "name": "bad", "urls": ["https://example.org/bad"]},
  {"hash": ")" + kEmpty256 +
                          R"(", "type": "sha256", "url": "https://example.org/e.tar.xz"}
])";

const std::string kSummary =
    "\"entries\":4,\"indexed\":3,\"sources_added\":4,\"duplicates\":1,"
    "\"skipped_malformed\":1,\"skipped_unknown_mirror_sites\":0,"
    "\"skipped_unsupported_urls\":1,\"skipped_without_url\":0,\"skipped_patches\":0";

}  // namespace

TEST_CASE("PUT /api/v1/sources indexes a find-tarballs list and answers its summary",
          "[admin][sources]") {
  TestGateway gw("", kToken);
  test::TempDir tmp;
  const auto file = tmp / "list.json";
  test::write_file(file, content::as_bytes(kList));
  const std::vector<std::string> auth = {"-H", "Authorization: Bearer " + kToken};

  HttpResult unauthorised = http(gw.url() + "/api/v1/sources", {"-T", file.string()});
  CHECK(unauthorised.status == 401);
  CHECK(sources_of(gw, kEmpty256).empty());

  std::vector<std::string> put = auth;
  put.insert(put.end(), {"-T", file.string(), "-H", "Expect:"});
  HttpResult r = http(gw.url() + "/api/v1/sources", put);
  INFO(r.curl_err << r.body);
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body ==
        "{" + kSummary +
            ",\"problems\":["
            "{\"index\":1,\"kind\":\"unsupported_url\",\"reason\":\"URL "
            "\\\"ftp://ftp.example.org/abc\\\": scheme \\\"ftp\\\" is not supported (only http "
            "and https); URL skipped\"},"
            "{\"index\":2,\"kind\":\"malformed\",\"name\":\"bad\",\"reason\":\"'hash': sha256 "
            "hash 'zzz' has 3 characters; sha256 needs 64 (hex), 52 (nix32) or 44 (base64); "
            "entry skipped\"}]}\n");
  // nixpkgs' kernel mirrors: https://cdn.kernel.org/pub/ and http://linux-kernel.uio.no/pub/.
  CHECK(sources_of(gw, kEmpty256) ==
        std::vector<std::string>{"http://linux-kernel.uio.no/pub/linux/e.tar.xz",
                                 "https://cdn.kernel.org/pub/linux/e.tar.xz",
                                 "https://example.org/e.tar.xz"});
  CHECK(sources_of(gw, kAbc256) == std::vector<std::string>{"https://example.org/abc"});

  // Again: everything is a duplicate.
  HttpResult again = http(gw.url() + "/api/v1/sources", put);
  REQUIRE(again.status == 200);
  CHECK_THAT(again.body, Contains("\"sources_added\":0,\"duplicates\":5"));

  // Not a JSON array: 400, nothing indexed; other methods: 405.
  const auto bad = tmp / "bad.json";
  test::write_file(bad, content::as_bytes(std::string("{\"hash\":\"") + kAbc256 + "\"}"));
  std::vector<std::string> put_bad = auth;
  put_bad.insert(put_bad.end(), {"-T", bad.string()});
  HttpResult rejected = http(gw.url() + "/api/v1/sources", put_bad);
  CHECK(rejected.status == 400);
  CHECK_THAT(rejected.body, Contains("expected a JSON array"));
  CHECK(http(gw.url() + "/api/v1/sources", auth, "POST").status == 405);
  // GET lists the index as find-tarballs JSON (what PUT accepts).
  HttpResult listed = http(gw.url() + "/api/v1/sources", auth);
  CHECK(listed.status == 200);
  CHECK_THAT(listed.body,
             Contains("{\"hash\":\"" + kAbc256 +
                      "\",\"type\":\"sha256\",\"urls\":[\"https://example.org/abc\"]}"));
  // An empty body is an empty document: not JSON.
  std::vector<std::string> empty = auth;
  empty.insert(empty.end(), {"-X", "PUT", "-H", "Content-Length: 0"});
  CHECK(http(gw.url() + "/api/v1/sources", empty).status == 400);
}

TEST_CASE("srcgate sources import --server prints what the local command prints",
          "[admin][sources][cli]") {
  TestGateway gw("/cache", kToken);
  const std::string bin = test::srcgate_binary().string();
  test::TempDir tmp;
  const auto file = tmp / "list.json";
  test::write_file(file, content::as_bytes(kList));

  const auto local =
      test::run_command({bin, "sources", "import", "--data", (tmp / "d").string(), file.string()});
  CHECK(local.exit_code == 1);
  ::setenv("SRCGATE_ADMIN_TOKEN", kToken.c_str(), 1);
  const auto remote =
      test::run_command({bin, "sources", "import", "--server", gw.url() + "/cache", file.string()});
  ::unsetenv("SRCGATE_ADMIN_TOKEN");
  INFO(remote.err);
  CHECK(remote.exit_code == 1);
  CHECK(remote.out == "{\"file\":\"" + file.string() + "\"," + kSummary + "}\n");
  CHECK(remote.out == local.out);
  CHECK(remote.err == local.err);
  CHECK(sources_of(gw, kAbc256) == std::vector<std::string>{"https://example.org/abc"});

  const auto refused =
      test::run_command({bin, "sources", "import", "--server", gw.url() + "/cache", file.string()});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Contains("server answered 401"));

  // The running server holds its store: the local command says so and names --server.
  const std::string held = (gw.dir() / "store").string();
  const auto busy = test::run_command({bin, "sources", "import", "--data", held, file.string()});
  CHECK(busy.exit_code == 1);
  CHECK(busy.out.empty());
  CHECK(busy.err == "srcgate sources import: the store at " + held +
                        " is in use by another process (is `srcgate serve` running?); use the "
                        "server's admin API instead (`srcgate sources import --server "
                        "http://HOST:PORT`)\n");
  const auto busy_list = test::run_command({bin, "sources", "list", "--data", held, kAbc256});
  CHECK(busy_list.exit_code == 1);
  CHECK_THAT(busy_list.err, Contains("is in use by another process"));
}
