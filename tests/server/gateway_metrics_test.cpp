// /metrics of a gateway that serves a store (issue 4 item 4): the store
// gauges match the store's own stats after imports and an eviction, hits and
// misses and requests by route and status are counted, bytes served add up,
// the duration histogram has the requests, and `promtool check metrics`
// (Debian package prometheus) accepts the exposition.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <sstream>
#include <string>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "tests/server/gateway_test_support.hpp"

using namespace srcgate;
using test::http;
using test::TestGateway;

namespace {

// The value of the sample line that starts with `series` (name{labels}), or
// nullopt when absent.
std::optional<double> sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(series + " "))
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("/metrics reports the store, hits, misses and bytes, and promtool accepts it",
          "[metrics]") {
  // A 2 MiB cap with the default watermarks: the third 900 KiB file evicts older ones.
  TestGateway gw("", "", 2, std::uint64_t{2} << 20);
  const content::Bytes a = test::deterministic_bytes("metrics-a", 900 << 10);
  const content::Bytes b = test::deterministic_bytes("metrics-b", 900 << 10);
  const content::Bytes c = test::deterministic_bytes("metrics-c", 900 << 10);
  gw.import(a);
  gw.import(b);
  gw.import(c);
  auto st = gw.store().stats();
  REQUIRE(st);
  REQUIRE(st->evicted_files >= 1);

  const auto url_of = [&](const content::Bytes& data) {
    return gw.url() + "/sha256/" +
           content::hex_encode(content::digest_of(content::HashAlgo::sha256, data).bytes());
  };
  CHECK(http(url_of(c)).status == 200);                              // hit, 900 KiB
  CHECK(http(url_of(c), {"-H", "Range: bytes=0-9"}).status == 206);  // hit, 10 bytes
  CHECK(http(url_of(a)).status == 404);                              // evicted: miss
  CHECK(http(gw.url() + "/sha256/abc").status == 400);

  const test::HttpResult m = http(gw.url() + "/metrics");
  REQUIRE(m.status == 200);
  const std::string& text = m.body;
  INFO(text);
  st = gw.store().stats();
  REQUIRE(st);
  CHECK(sample(text, "srcgate_store_files") == static_cast<double>(st->files));
  CHECK(sample(text, "srcgate_store_blocks") == static_cast<double>(st->blocks));
  CHECK(sample(text, "srcgate_store_logical_bytes") == static_cast<double>(st->logical_bytes));
  CHECK(sample(text, "srcgate_store_pinned_bytes") == 0.0);
  CHECK(sample(text, "srcgate_store_max_size_bytes") == static_cast<double>(2 << 20));
  CHECK(sample(text, "srcgate_store_evicted_files") == static_cast<double>(st->evicted_files));
  CHECK(sample(text, "srcgate_store_evicted_bytes") == static_cast<double>(st->evicted_bytes));
  CHECK(sample(text, "srcgate_store_disk_bytes").value_or(0) > 0);
  CHECK(st->files >= 1);  // at least c, which was just served

  CHECK(sample(text, "srcgate_cache_requests_total{result=\"hit\"}") == 2.0);
  CHECK(sample(text, "srcgate_cache_requests_total{result=\"miss\"}") == 1.0);
  CHECK(sample(text, "srcgate_http_requests_total{route=\"hash\",method=\"GET\",status=\"200\"}") ==
        1.0);
  CHECK(sample(text, "srcgate_http_requests_total{route=\"hash\",method=\"GET\",status=\"206\"}") ==
        1.0);
  CHECK(sample(text, "srcgate_http_requests_total{route=\"hash\",method=\"GET\",status=\"404\"}") ==
        1.0);
  CHECK(
      sample(text,
             "srcgate_http_requests_total{route=\"bad_request\",method=\"GET\",status=\"400\"}") ==
      1.0);
  // 900 KiB + 10 bytes of file, plus the 404's text body.
  const double hash_bytes =
      sample(text, "srcgate_http_response_body_bytes_total{route=\"hash\"}").value_or(0);
  CHECK(hash_bytes >= (900 << 10) + 10);
  CHECK(hash_bytes < (900 << 10) + 10 + 200);
  CHECK(sample(text, "srcgate_http_request_duration_seconds_count{route=\"hash\"}") == 3.0);
  // c was served (900 KiB: its names only, no bytes); a was not in the store.
  CHECK(sample(text, "srcgate_hit_cache_entries") == 1.0);
  CHECK(sample(text, "srcgate_hit_cache_bytes").value_or(0) > 0);
  CHECK(sample(text, "srcgate_hit_cache_bytes").value_or(0) < 4096);

  const auto file = test::TempDir();
  const auto path = file / "metrics.txt";
  test::write_file(path, content::as_bytes(text));
  const auto r =
      test::run_command({"sh", "-c", "promtool check metrics < \"$1\"", "sh", path.string()});
  INFO("promtool: " << r.out << r.err);
  CHECK(r.exit_code == 0);
}
