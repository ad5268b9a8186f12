// The miss path end to end (issue 5, Acceptance 1): a gateway whose hash
// routes fetch misses from upstream hashed mirrors that the test runs on
// 127.0.0.1 (tests/support/test_upstream.hpp): a good one, one that answers
// 200 with wrong bytes, one that cuts the body short, one that stalls after
// its headers, one that answers 500, one that resets the connection, and a
// redirect loop. For each, a GET through the gateway (curl) checks:
// - the client's outcome: the exact bytes for the good mirror; otherwise a 404
//   that names the mirror, or a 200 cut before its end (curl fails) carrying
//   only a true prefix of the object, never a complete 200 with wrong bytes;
// - the store: the four names of the good object and nothing else, or no name
//   at all; BlockStore::verify() and `srcgate verify --data DIR` pass;
// - /metrics: srcgate_upstream_requests_total{upstream,outcome} (one request
//   with the outcome of server/miss_fetcher.hpp), srcgate_hash_mismatches_total,
//   srcgate_upstream_bytes_total, srcgate_fetches_in_flight back to 0.
// Also: a mirror that redirects to another is followed, and a 404 from every
// mirror is remembered (negative cache). And failover: each bad kind listed before a good mirror
// gives the good bytes to a client that had received no body byte, transparently (one GET, 200,
// exact bytes); after wrong bytes (the client had received bytes and is cut)
// the next request gets the good bytes from the store.
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
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

using Clock = std::chrono::steady_clock;
using Labels = std::map<std::string, std::string>;

// 2 MiB and a bit: several 1 MiB chunks, not chunk-aligned.
constexpr std::size_t kSize = (2 << 20) + 4321;
// Bytes the cut-short mirror sends before closing.
constexpr std::uint64_t kCutAt = 1 << 20;

const Bytes& good_bytes() {
  static const Bytes b = test::deterministic_bytes("miss-path-good", kSize);
  return b;
}

// The good object with its last byte inverted (what wrong_bytes_mirror sends),
// built here independently.
const Bytes& wrong_bytes() {
  static const Bytes b = [] {
    Bytes w = good_bytes();
    w.back() = static_cast<std::uint8_t>(~w.back());
    return w;
  }();
  return b;
}

std::string as_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

std::string hex(const content::Digest& d) { return content::hex_encode(d.bytes()); }

// "/sha256/<hex>": what the gateway is asked, and what it asks the mirrors.
std::string target_of(const Bytes& b) {
  return "/sha256/" + hex(content::digest_of(HashAlgo::sha256, b));
}

// What a broken upstream looks like and what the gateway must make of it.
struct BadKind {
  std::string name;
  std::function<test::UpstreamHandler()> make;
  std::string outcome;  // srcgate_upstream_requests_total's outcome label
  // The gateway may have begun a 200 (the upstream sent a 200 header) before
  // the failure showed; the client then sees it cut.
  bool may_cut = false;
  std::uint64_t upstream_requests = 1;  // requests the upstream sees for one fetch
};

std::vector<BadKind> bad_kinds() {
  const std::string t = target_of(good_bytes());
  return {
      {"wrong bytes",
       [t] {
         return test::wrong_bytes_mirror({{t, good_bytes()}});
       },
       "mismatch", true},
      {"cut short",
       [t] {
         return test::cut_short_mirror({{t, good_bytes()}}, kCutAt);
       },
       "short_body", true},
      {"stall after headers",
       [t] {
         return test::stall_after_headers_mirror({{t, good_bytes()}});
       },
       "stall", true},
      {"500", [] { return test::fixed_status(500); }, "http_error"},
      {"reset", [] { return test::reset_after_request(); }, "reset"},
      // The first request and max_redirects (10) redirects followed.
      {"redirect loop", [] { return test::redirect_loop(); }, "too_many_redirects", false, 11},
  };
}

// The client's outcome of a GET through the gateway from a bad upstream.
void check_bad_outcome(const BadKind& kind, const HttpResult& r, const std::string& mirror) {
  INFO(kind.name << ": status " << r.status << ", curl exit " << r.curl_exit << " (" << r.curl_err
                 << "), " << r.body.size() << " body bytes"
                 << (r.status == 200 ? std::string() : ": " + r.body.substr(0, 500)));
  // Never a complete 200.
  CHECK_FALSE((r.status == 200 && r.curl_exit == 0));
  CHECK(r.body != as_string(wrong_bytes()));
  if (r.status == 200) {
    CHECK(kind.may_cut);
    CHECK(r.curl_exit != 0);
    CHECK(r.body.size() < kSize);
    CHECK(!r.has("accept-ranges"));  // Nix must not resume a miss with Range
    // What arrived is a true prefix of the object.
    const std::string prefix = as_string(good_bytes()).substr(0, r.body.size());
    CHECK(r.body == prefix);
    if (kind.outcome == "short_body") CHECK(r.body.size() <= kCutAt);
  } else {
    CHECK(r.status == 404);
    CHECK(r.body.find(mirror) != std::string::npos);  // says what the mirror answered
  }
}

void run_bad_kind(const BadKind& kind) {
  const Bytes& good = good_bytes();
  const std::string target = target_of(good);
  TestUpstream up(kind.make());
  MissGateway gw(test::test_miss_options({up.url()}));

  const auto t0 = Clock::now();
  const HttpResult r = http(gw.url() + target);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  check_bad_outcome(kind, r, up.url());
  CHECK(seconds < 10.0);  // client timeouts 1-3 s; deadline 15 s
  wait_fetches_done(gw);
  CHECK(up.requests() == kind.upstream_requests);
  if (kind.upstream_requests == 1) CHECK(up.requests(target) == 1);

  {
    const auto m = metrics_of(gw);
    INFO(kind.name);
    CHECK(test::metric(m, "srcgate_upstream_requests_total",
                       Labels{{"upstream", up.url()}, {"outcome", kind.outcome}}) == 1.0);
    CHECK(test::metric_sum(m, "srcgate_upstream_requests_total") == 1.0);
    CHECK(test::metric_sum(m, "srcgate_hash_mismatches_total") ==
          (kind.outcome == "mismatch" ? 1.0 : 0.0));
    if (kind.outcome == "mismatch")
      CHECK(test::metric(m, "srcgate_hash_mismatches_total", Labels{{"upstream", up.url()}}) ==
            1.0);
    if (kind.outcome == "mismatch")
      CHECK(test::metric_sum(m, "srcgate_upstream_bytes_total") == double(kSize));
    if (kind.outcome == "short_body")
      CHECK(test::metric_sum(m, "srcgate_upstream_bytes_total") == double(kCutAt));
    CHECK(test::metric_sum(m, "srcgate_negative_cache_hits_total") == 0.0);
  }

  // A failure other than 404 is not remembered: the next request asks again.
  const HttpResult again = http(gw.url() + target);
  check_bad_outcome(kind, again, up.url());
  wait_fetches_done(gw);
  CHECK(up.requests() == 2 * kind.upstream_requests);
  {
    const auto m = metrics_of(gw);
    CHECK(test::metric(m, "srcgate_upstream_requests_total",
                       Labels{{"upstream", up.url()}, {"outcome", kind.outcome}}) == 2.0);
    CHECK(test::metric_sum(m, "srcgate_negative_cache_hits_total") == 0.0);
  }
  check_store_and_close(gw, nullptr);
}

const BadKind& kind_named(const std::string& name) {
  static const std::vector<BadKind> kinds = bad_kinds();
  for (const auto& k : kinds)
    if (k.name == name) return k;
  FAIL("no bad kind " << name);
  return kinds[0];
}

}  // namespace

TEST_CASE("miss from a good mirror: the exact bytes streamed, verified, stored; then a hit",
          "[miss]") {
  const Bytes& good = good_bytes();
  const std::string target = target_of(good);
  TestUpstream up(test::good_mirror({{target, good}}));
  MissGateway gw(test::test_miss_options({up.url()}));

  const HttpResult r = http(gw.url() + target);
  INFO("status " << r.status << ", curl " << r.curl_exit << " " << r.curl_err);
  REQUIRE(r.status == 200);
  CHECK(r.curl_exit == 0);
  CHECK(r.body.size() == kSize);
  CHECK(r.body == as_string(good));
  CHECK(r.header("content-length") == std::to_string(kSize));
  CHECK(r.header("content-type") == "application/octet-stream");
  CHECK(!r.has("accept-ranges"));  // a streamed miss
  CHECK(!r.has("etag"));
  CHECK(up.requests() == 1);
  CHECK(up.requests(target) == 1);
  const auto log = up.request_log();
  REQUIRE(log.size() == 1);
  CHECK(log[0].method == "GET");

  wait_fetches_done(gw);
  {
    const auto m = metrics_of(gw);
    CHECK(test::metric(m, "srcgate_upstream_requests_total",
                       Labels{{"upstream", up.url()}, {"outcome", "ok"}}) == 1.0);
    CHECK(test::metric_sum(m, "srcgate_upstream_requests_total") == 1.0);
    CHECK(test::metric(m, "srcgate_upstream_bytes_total", Labels{{"upstream", up.url()}}) ==
          double(kSize));
    CHECK(test::metric(m, "srcgate_upstream_first_byte_seconds_count",
                       Labels{{"upstream", up.url()}}) == 1.0);
    CHECK(test::metric_sum(m, "srcgate_hash_mismatches_total") == 0.0);
    CHECK(test::metric(m, "srcgate_fetch_coalesced_total") == 0.0);
  }

  // Now a hit: from the store, no upstream request, with the hit's headers.
  const HttpResult hit = http(gw.url() + target);
  REQUIRE(hit.status == 200);
  CHECK(hit.body == as_string(good));
  CHECK(hit.has("etag"));
  CHECK(hit.header("accept-ranges") == "bytes");
  CHECK(up.requests() == 1);
  // Also under another of its names.
  const HttpResult by_sha512 =
      http(gw.url() + "/sha512/" + hex(content::digest_of(HashAlgo::sha512, good)));
  CHECK(by_sha512.status == 200);
  CHECK(by_sha512.body == as_string(good));
  CHECK(up.requests() == 1);

  check_store_and_close(gw, &good);
}

TEST_CASE("miss from a good mirror: HEAD answers the headers and the fetch fills the cache",
          "[miss]") {
  const Bytes& good = good_bytes();
  const std::string target = target_of(good);
  TestUpstream up(test::good_mirror({{target, good}}));
  MissGateway gw(test::test_miss_options({up.url()}));

  const HttpResult head = http(gw.url() + target, {}, "HEAD");
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == std::to_string(kSize));
  wait_fetches_done(gw);
  const HttpResult get = http(gw.url() + target);
  CHECK(get.status == 200);
  CHECK(get.body == as_string(good));
  CHECK(up.requests(target) == 1);
  check_store_and_close(gw, &good);
}

TEST_CASE("miss from a mirror that redirects to another: followed, the exact bytes", "[miss]") {
  const Bytes& good = good_bytes();
  const std::string target = target_of(good);
  TestUpstream up(test::good_mirror({{target, good}}));
  TestUpstream redirect(test::redirect_to(up.url()));
  MissGateway gw(test::test_miss_options({redirect.url()}));
  const HttpResult r = http(gw.url() + target);
  INFO("status " << r.status << ", curl " << r.curl_exit << " " << r.curl_err);
  CHECK(r.status == 200);
  CHECK(r.curl_exit == 0);
  CHECK(r.body == as_string(good));
  CHECK(redirect.requests(target) == 1);
  CHECK(up.requests(target) == 1);
  wait_fetches_done(gw);
  const auto m = metrics_of(gw);
  // Counted under the mirror as configured.
  CHECK(test::metric(m, "srcgate_upstream_requests_total",
                     Labels{{"upstream", redirect.url()}, {"outcome", "ok"}}) == 1.0);
  CHECK(test::metric_sum(m, "srcgate_upstream_requests_total") == 1.0);
  check_store_and_close(gw, &good);
}

TEST_CASE("miss from a mirror that lacks the object: 404, remembered", "[miss]") {
  const std::string target = target_of(good_bytes());
  TestUpstream up(test::good_mirror({}));
  MissGateway gw(test::test_miss_options({up.url()}));
  const HttpResult r = http(gw.url() + target);
  CHECK(r.status == 404);
  CHECK(r.body.find(up.url()) != std::string::npos);
  const HttpResult again = http(gw.url() + target);
  CHECK(again.status == 404);
  CHECK(up.requests() == 1);  // the negative cache answered the second
  const auto m = metrics_of(gw);
  CHECK(test::metric(m, "srcgate_upstream_requests_total",
                     Labels{{"upstream", up.url()}, {"outcome", "not_found"}}) == 1.0);
  CHECK(test::metric(m, "srcgate_negative_cache_hits_total") == 1.0);
  check_store_and_close(gw, nullptr);
}

TEST_CASE("miss from a mirror that sends wrong bytes: cut or 404, nothing stored", "[miss]") {
  run_bad_kind(kind_named("wrong bytes"));
}
TEST_CASE("miss from a mirror that cuts the body short: cut or 404, nothing stored", "[miss]") {
  run_bad_kind(kind_named("cut short"));
}
TEST_CASE("miss from a mirror that stalls after its headers: cut or 404, nothing stored",
          "[miss]") {
  run_bad_kind(kind_named("stall after headers"));
}
TEST_CASE("miss from a mirror that answers 500: 404, nothing stored", "[miss]") {
  run_bad_kind(kind_named("500"));
}
TEST_CASE("miss from a mirror that resets the connection: 404, nothing stored", "[miss]") {
  run_bad_kind(kind_named("reset"));
}
TEST_CASE("miss from a mirror in a redirect loop: 404, nothing stored", "[miss]") {
  run_bad_kind(kind_named("redirect loop"));
}

TEST_CASE("failover: a bad mirror before a good one gives a fresh client the good bytes",
          "[miss][failover]") {
  const Bytes& good = good_bytes();
  const std::string target = target_of(good);
  // Kinds where the client has received no body byte when the first mirror
  // fails (a cut after 0 bytes: same declared length as the good mirror's).
  struct Case {
    std::string name;
    test::UpstreamHandler handler;
    std::string outcome;
  };
  const std::vector<Case> cases = {
      {"cut before any byte", test::cut_short_mirror({{target, good}}, 0), "short_body"},
      {"stall after headers", test::stall_after_headers_mirror({{target, good}}), "stall"},
      {"500", test::fixed_status(500), "http_error"},
      {"reset", test::reset_after_request(), "reset"},
      {"redirect loop", test::redirect_loop(), "too_many_redirects"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      TestUpstream bad(c.handler);
      TestUpstream up(test::good_mirror({{target, good}}));
      MissGateway gw(test::test_miss_options({bad.url(), up.url()}));
      const HttpResult r = http(gw.url() + target);
      INFO(c.name << ": status " << r.status << ", curl " << r.curl_exit << " " << r.curl_err
                  << ", " << r.body.size() << " bytes");
      CHECK(r.status == 200);
      CHECK(r.curl_exit == 0);
      CHECK(r.body.size() == kSize);
      CHECK(r.body == as_string(good));
      wait_fetches_done(gw);
      CHECK(up.requests(target) == 1);
      const auto m = metrics_of(gw);
      CHECK(test::metric(m, "srcgate_upstream_requests_total",
                         Labels{{"upstream", bad.url()}, {"outcome", c.outcome}}) == 1.0);
      CHECK(test::metric(m, "srcgate_upstream_requests_total",
                         Labels{{"upstream", up.url()}, {"outcome", "ok"}}) == 1.0);
      check_store_and_close(gw, &good);
    }
  }
}

TEST_CASE("failover: wrong bytes before a good mirror never complete; the store gets the good ones",
          "[miss][failover]") {
  const Bytes& good = good_bytes();
  const std::string target = target_of(good);
  TestUpstream bad(test::wrong_bytes_mirror({{target, good}}));
  TestUpstream up(test::good_mirror({{target, good}}));
  MissGateway gw(test::test_miss_options({bad.url(), up.url()}));

  const HttpResult r = http(gw.url() + target);
  INFO("status " << r.status << ", curl " << r.curl_exit << " " << r.curl_err << ", "
                 << r.body.size() << " bytes");
  check_good_or_cut_prefix(r, good);
  CHECK(r.body != as_string(wrong_bytes()));
  wait_fetches_done(gw);
  const HttpResult next = http(gw.url() + target);
  CHECK(next.status == 200);
  CHECK(next.curl_exit == 0);
  CHECK(next.body == as_string(good));
  CHECK(bad.requests(target) == 1);
  CHECK(up.requests(target) == 1);
  const auto m = metrics_of(gw);
  CHECK(test::metric(m, "srcgate_upstream_requests_total",
                     Labels{{"upstream", bad.url()}, {"outcome", "mismatch"}}) == 1.0);
  CHECK(test::metric(m, "srcgate_hash_mismatches_total", Labels{{"upstream", bad.url()}}) == 1.0);
  CHECK(test::metric(m, "srcgate_upstream_requests_total",
                     Labels{{"upstream", up.url()}, {"outcome", "ok"}}) == 1.0);
  check_store_and_close(gw, &good);
}
