// Original-URL misses (issue 6 item 2, Acceptance "Integration tests on
// loopback"): a hash that the store lacks is fetched from the URLs the store's
// source index holds for it, after the hashed mirrors, with the miss path's
// verification, failover, negative cache and metrics; and the SSRF guard
// refuses source URLs whose destination is not public unless
// allow_private_sources (--allow-private-upstreams), which is why every
// fetching test here (loopback origins) sets it.
//
// In process (MissGateway, tests/server/miss_test_support.hpp): an origin
// answering through the index with no mirror at all, a mirror that lacks the
// object before an origin that has it, every upstream 404 (remembered), a
// redirecting origin, an origin with wrong bytes before a good one, and the
// guard refusing a loopback, a localhost and a private destination (logged on
// stderr, counted with outcome "refused", never contacted). With the real
// binary: `srcgate sources add` then `srcgate serve` refuses the loopback
// origin by default and fetches from it with --allow-private-upstreams.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "tests/server/gateway_test_support.hpp"
#include "tests/server/miss_test_support.hpp"
#include "tests/support/test_upstream.hpp"

using namespace srcgate;
using content::Bytes;
using content::HashAlgo;
using test::check_good_or_cut_prefix;
using test::check_store_and_close;
using test::http;
using test::HttpResult;
using test::metrics_of;
using test::MissGateway;
using test::TestUpstream;
using test::wait_fetches_done;

namespace {

using Labels = std::map<std::string, std::string>;

// 1 MiB and a bit: several pieces, not aligned.
constexpr std::size_t kSize = (1 << 20) + 777;

Bytes object(const std::string& seed) { return test::deterministic_bytes(seed, kSize); }

std::string as_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

std::string hex(const content::Digest& d) { return content::hex_encode(d.bytes()); }

content::Digest sha256(const Bytes& b) { return content::digest_of(HashAlgo::sha256, b); }

// The object with its last byte inverted: what wrong_bytes_mirror sends.
Bytes inverted_last(Bytes b) {
  b.back() = static_cast<std::uint8_t>(~b.back());
  return b;
}

// Miss options with no mirror unless given; loopback origins allowed.
server::MissOptions origin_options(std::vector<std::string> mirrors = {},
                                   bool allow_private = true) {
  server::MissOptions m = test::test_miss_options(std::move(mirrors));
  m.allow_private_sources = allow_private;
  return m;
}

void add_source(MissGateway& gw, const content::Digest& d, const std::string& url) {
  auto added = gw.store().add_source(d, url);
  INFO((added ? "" : added.error().message));
  REQUIRE(added);
}

// Captures what this process writes to stderr (fd 2) while it lives.
class StderrCapture {
 public:
  StderrCapture() : path_(dir_ / "stderr") {
    std::fflush(stderr);
    saved_ = ::dup(2);
    REQUIRE(saved_ >= 0);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::dup2(fd, 2) == 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  // What was written so far.
  std::string text() {
    std::fflush(stderr);
    const Bytes b = test::read_file(path_);
    return std::string(b.begin(), b.end());
  }
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }

 private:
  test::TempDir dir_;
  std::filesystem::path path_;
  int saved_ = -1;
};

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size()))
    ++n;
  return n;
}

}  // namespace

TEST_CASE("origin: a hash miss with no mirror is answered through the source index",
          "[miss][origin]") {
  const Bytes good = object("origin-good");
  const std::string path = "/dist/pkg-1.0.tar.gz";
  TestUpstream origin(test::good_mirror({{path, good}}));
  MissGateway gw(origin_options());
  const content::Digest d = sha256(good);
  // Other schemes are not this path's: skipped, not counted. In byte order
  // the ftp URL comes before the origin, the ipfs one after it.
  add_source(gw, d, "ftp://ftp.example/pkg-1.0.tar.gz");
  add_source(gw, d, origin.url() + path);
  add_source(gw, d, "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy");

  // Asked in nix32, the index's digest is the same sha256.
  const std::string nix32 = "/sha256/" + content::nix32_encode(d.bytes());
  const HttpResult r = http(gw.url() + nix32);
  INFO("status " << r.status << ", curl " << r.curl_exit << " " << r.curl_err);
  REQUIRE(r.status == 200);
  CHECK(r.curl_exit == 0);
  CHECK(r.body.size() == kSize);
  CHECK(r.body == as_string(good));
  CHECK(origin.requests() == 1);
  CHECK(origin.requests(path) == 1);
  REQUIRE(origin.request_log().size() == 1);
  CHECK(origin.request_log()[0].method == "GET");
  wait_fetches_done(gw);
  {
    const auto m = metrics_of(gw);
    // The label is the origin (scheme://host:port), not the URL.
    CHECK(test::metric(m, "srcgate_upstream_requests_total",
                       Labels{{"upstream", origin.url()}, {"outcome", "ok"}}) == 1.0);
    CHECK(test::metric_sum(m, "srcgate_upstream_requests_total") == 1.0);
    CHECK(test::metric(m, "srcgate_upstream_bytes_total", Labels{{"upstream", origin.url()}}) ==
          double(kSize));
    CHECK(test::metric(m, "srcgate_upstream_first_byte_seconds_count",
                       Labels{{"upstream", origin.url()}}) == 1.0);
  }

  // A hit now, under its hex name too: no new origin request.
  const HttpResult hit = http(gw.url() + "/sha256/" + hex(d));
  CHECK(hit.status == 200);
  CHECK(hit.body == as_string(good));
  CHECK(hit.has("etag"));
  CHECK(origin.requests() == 1);

  // A hash with no mirror and no source URL: 404 at once, saying why.
  const Bytes other = object("origin-unindexed");
  const HttpResult none = http(gw.url() + "/sha256/" + hex(sha256(other)));
  CHECK(none.status == 404);
  CHECK_THAT(none.body, Catch::Matchers::Contains("source index has no http(s) URL"));
  CHECK(test::metric_sum(metrics_of(gw), "srcgate_upstream_requests_total") == 1.0);
  check_store_and_close(gw, &good);
}

TEST_CASE("origin: the mirrors are asked first; when all say 404 the miss is remembered",
          "[miss][origin]") {
  const Bytes good = object("origin-after-mirror");
  const Bytes absent = object("origin-nowhere");
  const std::string path = "/releases/good.tar.xz";
  TestUpstream mirror(test::good_mirror({}));  // 404 for everything
  TestUpstream origin(test::good_mirror({{path, good}}));
  MissGateway gw(origin_options({mirror.url()}));
  add_source(gw, sha256(good), origin.url() + path);
  add_source(gw, sha256(absent), origin.url() + "/releases/absent.tar.xz");

  const HttpResult r = http(gw.url() + "/sha256/" + hex(sha256(good)));
  INFO("status " << r.status << ", curl " << r.curl_exit << " " << r.curl_err);
  REQUIRE(r.status == 200);
  CHECK(r.curl_exit == 0);
  CHECK(r.body == as_string(good));
  CHECK(mirror.requests("/sha256/" + hex(sha256(good))) == 1);
  CHECK(origin.requests(path) == 1);

  // Every mirror and every source URL 404: a 404 naming both, remembered.
  const std::string absent_target = "/sha256/" + hex(sha256(absent));
  const HttpResult miss = http(gw.url() + absent_target);
  CHECK(miss.status == 404);
  CHECK_THAT(miss.body, Catch::Matchers::Contains(mirror.url() + absent_target + ": not_found"));
  CHECK_THAT(miss.body,
             Catch::Matchers::Contains(origin.url() + "/releases/absent.tar.xz: not_found"));
  const HttpResult again = http(gw.url() + absent_target);
  CHECK(again.status == 404);
  CHECK(mirror.requests(absent_target) == 1);
  CHECK(origin.requests("/releases/absent.tar.xz") == 1);
  wait_fetches_done(gw);
  const auto m = metrics_of(gw);
  CHECK(test::metric(m, "srcgate_upstream_requests_total",
                     Labels{{"upstream", mirror.url()}, {"outcome", "not_found"}}) == 2.0);
  CHECK(test::metric(m, "srcgate_upstream_requests_total",
                     Labels{{"upstream", origin.url()}, {"outcome", "ok"}}) == 1.0);
  CHECK(test::metric(m, "srcgate_upstream_requests_total",
                     Labels{{"upstream", origin.url()}, {"outcome", "not_found"}}) == 1.0);
  CHECK(test::metric(m, "srcgate_negative_cache_hits_total") == 1.0);
  check_store_and_close(gw, &good);
}

TEST_CASE("origin: a redirecting origin is followed to the bytes", "[miss][origin][redirect]") {
  const Bytes good = object("origin-redirected");
  const std::string path = "/download/v2/src.tgz";
  TestUpstream final_origin(test::good_mirror({{path, good}}));
  TestUpstream redirecting(test::redirect_to(final_origin.url()));
  MissGateway gw(origin_options());
  add_source(gw, sha256(good), redirecting.url() + path);

  const HttpResult r = http(gw.url() + "/sha256/" + hex(sha256(good)));
  INFO("status " << r.status << ", curl " << r.curl_exit << " " << r.curl_err);
  REQUIRE(r.status == 200);
  CHECK(r.curl_exit == 0);
  CHECK(r.body == as_string(good));
  CHECK(redirecting.requests(path) == 1);
  CHECK(final_origin.requests(path) == 1);
  wait_fetches_done(gw);
  const auto m = metrics_of(gw);
  // Counted under the indexed URL's origin.
  CHECK(test::metric(m, "srcgate_upstream_requests_total",
                     Labels{{"upstream", redirecting.url()}, {"outcome", "ok"}}) == 1.0);
  CHECK(test::metric_sum(m, "srcgate_upstream_requests_total") == 1.0);
  const HttpResult hit = http(gw.url() + "/sha256/" + hex(sha256(good)));
  CHECK(hit.status == 200);
  CHECK(hit.body == as_string(good));
  CHECK(final_origin.requests() == 1);
  check_store_and_close(gw, &good);
}

TEST_CASE("origin: wrong bytes from one origin, then a good one; never a complete wrong body",
          "[miss][origin][failover]") {
  const Bytes good = object("origin-failover");
  const Bytes wrong = inverted_last(good);
  REQUIRE(wrong != good);
  const std::string path = "/pkg.tar.gz";
  TestUpstream bad(test::wrong_bytes_mirror({{path, good}}));
  TestUpstream fine(test::good_mirror({{path, good}}));
  MissGateway gw(origin_options());
  const content::Digest d = sha256(good);
  // The index gives URLs in byte order: "http://127..." before "http://localhost...".
  const std::string bad_url = bad.url() + path;
  const std::string good_url = "http://localhost:" + std::to_string(fine.port()) + path;
  add_source(gw, d, good_url);
  add_source(gw, d, bad_url);
  auto listed = gw.store().sources(d);
  REQUIRE(listed);
  REQUIRE(*listed == std::vector<std::string>{bad_url, good_url});

  const HttpResult r = http(gw.url() + "/sha256/" + hex(d));
  INFO("status " << r.status << ", curl " << r.curl_exit << " " << r.curl_err << ", "
                 << r.body.size() << " bytes");
  check_good_or_cut_prefix(r, good);
  CHECK(r.body != as_string(wrong));
  wait_fetches_done(gw);
  CHECK(bad.requests(path) == 1);
  CHECK(fine.requests(path) == 1);
  {
    const auto m = metrics_of(gw);
    CHECK(test::metric(m, "srcgate_upstream_requests_total",
                       Labels{{"upstream", bad.url()}, {"outcome", "mismatch"}}) == 1.0);
    CHECK(test::metric(m, "srcgate_hash_mismatches_total", Labels{{"upstream", bad.url()}}) == 1.0);
    CHECK(test::metric(m, "srcgate_upstream_requests_total",
                       Labels{{"upstream", "http://localhost:" + std::to_string(fine.port())},
                              {"outcome", "ok"}}) == 1.0);
  }
  // The second request is a hit: complete, good, no upstream asked.
  const HttpResult next = http(gw.url() + "/sha256/" + hex(d));
  CHECK(next.status == 200);
  CHECK(next.curl_exit == 0);
  CHECK(next.body == as_string(good));
  CHECK(next.has("etag"));
  CHECK(bad.requests() == 1);
  CHECK(fine.requests() == 1);
  check_store_and_close(gw, &good);
}

TEST_CASE("origin: the SSRF guard refuses loopback, localhost and private sources",
          "[miss][origin][ssrf]") {
  const Bytes good = object("origin-ssrf");
  const std::string path = "/internal/secret.tar.gz";
  TestUpstream inside(test::good_mirror({{path, good}}));
  MissGateway gw(origin_options({}, /*allow_private=*/false));
  const content::Digest d = sha256(good);
  const std::string port = std::to_string(inside.port());
  const std::string loopback_url = inside.url() + path;  // http://127.0.0.1:PORT/...
  const std::string private_url = "http://10.255.255.1:" + port + path;
  const std::string localhost_url = "http://localhost:" + port + path;
  add_source(gw, d, loopback_url);
  add_source(gw, d, private_url);
  add_source(gw, d, localhost_url);

  StderrCapture err;
  const auto t0 = std::chrono::steady_clock::now();
  const HttpResult r = http(gw.url() + "/sha256/" + hex(d));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  wait_fetches_done(gw);
  const std::string log = err.text();
  err.restore();
  INFO("status " << r.status << ": " << r.body << "\nstderr:\n" << log);
  CHECK(r.status == 404);
  CHECK(seconds < 5.0);  // refused before any connect (10/8 would time out)
  CHECK_THAT(r.body, Catch::Matchers::Contains(loopback_url + ": refused (host 127.0.0.1 of " +
                                               loopback_url + " is a loopback address"));
  // One line each, in the server's warning form.
  CHECK(count_of(log, "srcgate: refused source URL ") == 3);
  CHECK_THAT(log, Catch::Matchers::Contains("srcgate: refused source URL " + loopback_url +
                                            ": host 127.0.0.1 of " + loopback_url +
                                            " is a loopback address; only public destinations "
                                            "are allowed\n"));
  CHECK_THAT(log, Catch::Matchers::Contains("srcgate: refused source URL " + private_url +
                                            ": host 10.255.255.1 of " + private_url +
                                            " is a private (10.0.0.0/8) address"));
  CHECK_THAT(log, Catch::Matchers::Contains("srcgate: refused source URL " + localhost_url +
                                            ": host localhost of " + localhost_url +
                                            " is a loopback name"));
  // The origin was never contacted.
  CHECK(inside.connections() == 0);
  CHECK(inside.requests() == 0);
  {
    const auto m = metrics_of(gw);
    CHECK(test::metric(m, "srcgate_upstream_requests_total",
                       Labels{{"upstream", inside.url()}, {"outcome", "refused"}}) == 1.0);
    CHECK(test::metric(
              m, "srcgate_upstream_requests_total",
              Labels{{"upstream", "http://10.255.255.1:" + port}, {"outcome", "refused"}}) == 1.0);
    CHECK(test::metric(m, "srcgate_upstream_requests_total",
                       Labels{{"upstream", "http://localhost:" + port}, {"outcome", "refused"}}) ==
          1.0);
    CHECK(test::metric_sum(m, "srcgate_upstream_requests_total") == 3.0);
    CHECK(test::metric_sum(m, "srcgate_upstream_bytes_total") == 0.0);
  }
  check_store_and_close(gw, nullptr);
}

TEST_CASE("origin: srcgate serve refuses a loopback source unless --allow-private-upstreams",
          "[miss][origin][ssrf][serve][curl]") {
  const Bytes good = object("origin-serve");
  const std::string path = "/src/hello-2.12.tar.gz";
  TestUpstream origin(test::good_mirror({{path, good}}));
  test::TempDir dir;
  const std::string bin = test::srcgate_binary().string();
  const std::string h = hex(sha256(good));
  const auto added = test::run_command({bin, "sources", "add", "--data", (dir / "data").string(),
                                        "--hash", "sha256:" + h, origin.url() + path});
  INFO("sources add: " << added.out << added.err);
  REQUIRE(added.exit_code == 0);

  // Serves once with the given extra flag ("" for none): GET the hash, then
  // /metrics; prints the status and the upstream-request samples.
  const std::string script =
      R"(
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
bin="$1"; err="$2/err-$5"
"$bin" serve --listen 127.0.0.1:0 --threads 2 --data "$2/data" --no-default-upstreams \
  --spool-dir "$2/spool" $4 2>"$err" &
)" + std::string(test::kShAwaitServe) +
      R"(curl -sS --max-time 20 -o "$2/body-$5" -w '%{http_code}\n' "$m/sha256/$3"
curl -sS --max-time 20 "$m/metrics" | grep '^srcgate_upstream_requests_total{' >&2
)" + std::string(test::kShStopServe);
  auto r =
      test::run_command({"sh", "-c", script, "sh", bin, dir.path().string(), h, "", "guarded"});
  INFO("guarded stdout:\n" << r.out << "stderr:\n" << r.err);
  CHECK(r.out == "404\nexit=0\n");
  CHECK_THAT(r.err, Catch::Matchers::Contains("srcgate serve: source-index URLs: tried after the "
                                              "mirrors, private destinations refused\n"));
  CHECK_THAT(r.err, Catch::Matchers::Contains("srcgate: refused source URL " + origin.url() + path +
                                              ": host 127.0.0.1 of " + origin.url() + path +
                                              " is a loopback address"));
  CHECK_THAT(r.err, Catch::Matchers::Contains("srcgate_upstream_requests_total{upstream=\"" +
                                              origin.url() + "\",outcome=\"refused\"} 1\n"));
  CHECK(origin.connections() == 0);

  r = test::run_command({"sh", "-c", script, "sh", bin, dir.path().string(), h,
                         "--allow-private-upstreams", "allowed"});
  INFO("allowed stdout:\n" << r.out << "stderr:\n" << r.err);
  CHECK(r.out == "200\nexit=0\n");
  const bool body_ok = test::read_file(dir / "body-allowed") == good;
  CHECK(body_ok);
  CHECK_THAT(r.err, Catch::Matchers::Contains("private destinations allowed\n"));
  CHECK_THAT(r.err, Catch::Matchers::Contains("srcgate_upstream_requests_total{upstream=\"" +
                                              origin.url() + "\",outcome=\"ok\"} 1\n"));
  CHECK(r.err.find("refused source URL") == std::string::npos);
  CHECK(origin.requests(path) == 1);
}
