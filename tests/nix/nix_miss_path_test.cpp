// A real Nix client against srcgate's miss path (issue 5 acceptance, nix.md
// §1.1 and §3.2). srcgate (the binary, --no-default-upstreams) is Nix's only
// hashed mirror and the original URL is unreachable, so a build succeeds only
// through srcgate; srcgate's own upstreams are loopback servers the test
// starts: a TestUpstream (tests/support/test_upstream.hpp) and a second
// `srcgate serve` (hierarchical caches: srcgate as another srcgate's mirror).
//   (a) a file that only the upstream mirror has is built through srcgate,
//       fetched upstream once; a second build (a fresh Nix store) comes from
//       srcgate's store.
//   (b) with a mirror that answers 200 with wrong bytes listed first and a
//       good one (the second srcgate) second, the build through srcgate never
//       ends in "hash mismatch": it succeeds, or Nix falls back to the
//       unreachable original URL and fails for that reason only. The fetch
//       goes on to the good mirror and fills srcgate's store, so a second
//       build succeeds from it without another upstream request.
// After each, `srcgate verify` passes on srcgate's store. Nothing here
// reaches the internet. Without nix-build the test fails when $CI is set and
// is skipped otherwise.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "tests/nix/nix_support.hpp"
#include "tests/support/test_support.hpp"
#include "tests/support/test_upstream.hpp"

using namespace srcgate;
using Catch::Matchers::Contains;
using content::HashAlgo;

namespace {

std::string hex(HashAlgo algo, const content::Bytes& data) {
  return content::hex_encode(content::digest_of(algo, data).bytes());
}

// curl without proxies: "<status>\n" and the body to `body_file` (or nowhere).
test::CommandResult curl(const std::string& url, const std::vector<std::string>& extra = {},
                         const std::string& body_file = "/dev/null") {
  std::vector<std::string> argv = {"env"};
  for (const std::string_view v : test::kProxyVariables)
    argv.insert(argv.end(), {"-u", std::string(v)});
  argv.insert(argv.end(),
              {"curl", "-sS", "--max-time", "30", "-o", body_file, "-w", "%{http_code}\n"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  return test::run_command(argv);
}

// Waits (bounded: 30 s) until `url` is answered from the store alone: 200 to
// a GET with Cache-Control: only-if-cached (412 while it is not stored).
bool wait_until_stored(const std::string& url) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int i = 0; i < 3000 && std::chrono::steady_clock::now() < deadline; ++i) {
    if (curl(url, {"-H", "Cache-Control: only-if-cached"}).out == "200\n") return true;
    ::usleep(20'000);
  }
  return false;
}

void check_verify(const std::filesystem::path& data_dir) {
  const auto verified =
      test::run_command({test::srcgate_binary().string(), "verify", "--data", data_dir.string()});
  INFO("srcgate verify: " << verified.out << verified.err);
  CHECK(verified.exit_code == 0);
}

}  // namespace

TEST_CASE("nix-build gets a file that only srcgate's upstream mirror has",
          "[nix][slow][upstreams]") {
  if (!test::nix_available()) return;
  test::TempDir t;
  const content::Bytes data = test::deterministic_bytes("nix-miss-only-upstream", (3u << 20) + 17);
  const std::string sha256 = hex(HashAlgo::sha256, data);
  const std::string target = "/sha256/" + sha256;
  test::TestUpstream upstream(test::good_mirror({{target, data}}));

  test::ServeProcess front({test::srcgate_binary().string(), "serve", "--listen", "127.0.0.1:0",
                            "--threads", "2", "--data", (t / "front").string(),
                            "--no-default-upstreams", "--mirror", upstream.url()});
  const std::string port = front.wait_for_port();
  CHECK_THAT(front.log(), Contains("srcgate serve: upstreams: " + upstream.url() + "\n"));
  const std::string mirror = "http://127.0.0.1:" + port + "/";

  // nix32, as most nixpkgs expressions write sha256; Nix asks for the hex.
  const std::string expr = test::fetchurl_expr(
      "only-upstream", "sha256",
      content::nix32_encode(content::digest_of(HashAlgo::sha256, data).bytes()));
  const test::NixClient first(t / "nix-1", mirror);
  const auto built = first.build(expr);
  INFO("nix-build stderr:\n" << built.err << "srcgate:\n" << front.drain());
  REQUIRE(built.exit_code == 0);
  const std::string out_path = test::NixClient::out_path(built);
  REQUIRE(out_path.starts_with(first.store().string() + "/"));
  const bool same_bytes = test::read_file(out_path) == data;
  CHECK(same_bytes);
  const std::string served = "method=GET target=" + target + " status=200";
  CHECK(front.wait_for(served, std::chrono::seconds(5)));
  CHECK(front.count(served) == 1);
  CHECK(upstream.requests(target) == 1);

  // A second Nix store: srcgate answers from its own store, no upstream request.
  REQUIRE(wait_until_stored(mirror + target.substr(1)));
  const test::NixClient second(t / "nix-2", mirror);
  const auto again = second.build(expr);
  INFO("second nix-build stderr:\n" << again.err);
  REQUIRE(again.exit_code == 0);
  const bool same_again = test::read_file(test::NixClient::out_path(again)) == data;
  CHECK(same_again);
  CHECK(front.wait_for_count(served, 2, std::chrono::seconds(5)));
  CHECK(upstream.requests() == 1);

  front.stop();
  check_verify(t / "front");
}

TEST_CASE("nix-build through srcgate with a wrong-bytes mirror first never ends in a hash mismatch",
          "[nix][slow][upstreams]") {
  if (!test::nix_available()) return;
  test::TempDir t;
  const content::Bytes data = test::deterministic_bytes("nix-miss-failover", (2u << 20) + 5);
  const std::string sha256 = hex(HashAlgo::sha256, data);
  const std::string target = "/sha256/" + sha256;

  // The wrong mirror: 200, the right length, the last byte inverted.
  test::TestUpstream wrong(test::wrong_bytes_mirror({{target, data}}));

  // The good mirror: another srcgate, with the file in its store, under a base path.
  const auto good_file = t / "good.bin";
  test::write_file(good_file, data);
  const auto imported = test::run_command({test::srcgate_binary().string(), "import", "--data",
                                           (t / "good").string(), good_file.string()});
  INFO("srcgate import: " << imported.err);
  REQUIRE(imported.exit_code == 0);
  REQUIRE_THAT(imported.out, Contains("\"sha256\":\"" + sha256 + "\""));
  test::ServeProcess good({test::srcgate_binary().string(), "serve", "--listen", "127.0.0.1:0",
                           "--threads", "1", "--data", (t / "good").string(), "--base-path",
                           "/cache", "--offline"});
  const std::string good_url = "http://127.0.0.1:" + good.wait_for_port() + "/cache";
  const std::string good_target = "method=GET target=/cache" + target;

  test::ServeProcess front({test::srcgate_binary().string(), "serve", "--listen", "127.0.0.1:0",
                            "--threads", "2", "--data", (t / "front").string(),
                            "--no-default-upstreams", "--mirror", wrong.url(), "--mirror",
                            good_url + "/"});
  const std::string port = front.wait_for_port();
  CHECK_THAT(front.log(),
             Contains("srcgate serve: upstreams: " + wrong.url() + ", " + good_url + "\n"));
  const std::string mirror = "http://127.0.0.1:" + port + "/";

  const std::string expr = test::fetchurl_expr("failover", "sha256", sha256);
  const test::NixClient first(t / "nix-1", mirror);
  const auto built = first.build(expr);
  INFO("nix-build exit " << built.exit_code << ", stderr:\n"
                         << built.err << "srcgate:\n"
                         << front.drain());
  CHECK_THAT(built.err, !Contains("hash mismatch"));
  if (built.exit_code == 0) {
    const bool same_bytes = test::read_file(test::NixClient::out_path(built)) == data;
    CHECK(same_bytes);
  } else {
    // srcgate cut the response before its end; Nix fell back to the original
    // URL, which is unreachable: that, and nothing else, failed the build.
    CHECK_THAT(built.err, Contains("http://127.0.0.1:9/unreachable"));
  }
  CHECK(wrong.requests(target) == 1);

  // The fetch goes on to the good mirror and fills srcgate's store.
  REQUIRE(wait_until_stored(mirror + target.substr(1)));
  CHECK(good.wait_for(good_target, std::chrono::seconds(5)));
  CHECK(good.count(good_target) == 1);
  const std::uint64_t wrong_requests = wrong.requests();
  const auto metrics = curl(mirror + "metrics", {}, (t / "metrics.txt").string());
  CHECK(metrics.out == "200\n");
  const content::Bytes metrics_bytes = test::read_file(t / "metrics.txt");
  const std::string metrics_text(metrics_bytes.begin(), metrics_bytes.end());
  CHECK_THAT(metrics_text,
             Contains("srcgate_hash_mismatches_total{upstream=\"" + wrong.url() + "\"} 1"));

  // A second build, in a fresh Nix store, succeeds from srcgate's store.
  const test::NixClient second(t / "nix-2", mirror);
  const auto again = second.build(expr);
  INFO("second nix-build stderr:\n" << again.err);
  REQUIRE(again.exit_code == 0);
  const bool same_again = test::read_file(test::NixClient::out_path(again)) == data;
  CHECK(same_again);
  CHECK(wrong.requests() == wrong_requests);
  CHECK(good.count(good_target) == 1);

  front.stop();
  good.stop();
  check_verify(t / "front");
}
