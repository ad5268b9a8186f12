#include "server/metrics.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <thread>

#include "tests/support/test_support.hpp"

using srcgate::server::format_metric_value;
using srcgate::server::MetricsRegistry;

namespace {

// The exposition of a registry with one metric of each kind, written by hand
// from the text format 0.0.4 description.
constexpr std::string_view kExpected =
    "# HELP srcgate_http_requests_total HTTP requests by route and status.\n"
    "# TYPE srcgate_http_requests_total counter\n"
    "srcgate_http_requests_total{route=\"hash\",status=\"200\"} 3\n"
    "srcgate_http_requests_total{route=\"hash\",status=\"404\"} 1\n"
    "srcgate_http_requests_total{route=\"ipfs\",status=\"200\"} 2\n"
    "# HELP srcgate_connections_open Open client connections.\n"
    "# TYPE srcgate_connections_open gauge\n"
    "srcgate_connections_open 5\n"
    "# HELP srcgate_request_duration_seconds Request duration.\n"
    "# TYPE srcgate_request_duration_seconds histogram\n"
    "srcgate_request_duration_seconds_bucket{le=\"0.5\"} 2\n"
    "srcgate_request_duration_seconds_bucket{le=\"1\"} 3\n"
    "srcgate_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"
    "srcgate_request_duration_seconds_sum 5.5\n"
    "srcgate_request_duration_seconds_count 4\n"
    "# HELP srcgate_store_files Files in the store.\n"
    "# TYPE srcgate_store_files gauge\n"
    "srcgate_store_files 42\n";

void fill(MetricsRegistry& r) {
  auto& requests = r.counter_family("srcgate_http_requests_total",
                                    "HTTP requests by route and status.", {"route", "status"});
  requests.with({"ipfs", "200"}).inc(2);
  requests.with({"hash", "404"}).inc();
  requests.with({"hash", "200"}).inc(3);
  r.gauge("srcgate_connections_open", "Open client connections.").set(5);
  const double bounds[] = {0.5, 1};
  auto& h = r.histogram("srcgate_request_duration_seconds", "Request duration.", bounds);
  for (double v : {0.25, 0.5, 0.75, 4.0}) h.observe(v);  // 0.5 counts in le="0.5"
  r.gauge_callback("srcgate_store_files", "Files in the store.", [] { return 42.0; });
}

}  // namespace

TEST_CASE("the exposition of one metric of each kind is exactly the text format", "[metrics]") {
  MetricsRegistry r;
  fill(r);
  CHECK(r.expose() == kExpected);
}

TEST_CASE("Family::with returns the same child for the same label values", "[metrics]") {
  MetricsRegistry r;
  auto& f = r.counter_family("srcgate_x_total", "x", {"a"});
  auto& c1 = f.with({"v"});
  auto& c2 = f.with({"v"});
  CHECK(&c1 == &c2);
  CHECK(&f.with({"w"}) != &c1);
  CHECK_THROWS_AS(f.with({"v", "extra"}), std::invalid_argument);
}

TEST_CASE("label values and help text are escaped", "[metrics]") {
  MetricsRegistry r;
  r.counter_family("srcgate_esc_total", "line one\nback\\slash \"quoted\"", {"path"})
      .with({"a\\b\"c\nd"})
      .inc();
  CHECK(r.expose() ==
        "# HELP srcgate_esc_total line one\\nback\\\\slash \"quoted\"\n"
        "# TYPE srcgate_esc_total counter\n"
        "srcgate_esc_total{path=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST_CASE("sample values are formatted as Prometheus parses them", "[metrics]") {
  CHECK(format_metric_value(0) == "0");
  CHECK(format_metric_value(42) == "42");
  CHECK(format_metric_value(-3) == "-3");
  CHECK(format_metric_value(0.5) == "0.5");
  CHECK(format_metric_value(0.0005) == "0.0005");
  CHECK(format_metric_value(1e300) == "1e+300");
  CHECK(format_metric_value(1.0 / 0.0) == "+Inf");
  CHECK(format_metric_value(-1.0 / 0.0) == "-Inf");
  CHECK(format_metric_value(std::nan("")) == "NaN");
}

TEST_CASE("bad registrations are refused at start-up", "[metrics]") {
  MetricsRegistry r;
  const double ok[] = {1, 2};
  const double unsorted[] = {2, 1};
  CHECK_THROWS_AS(r.counter("requests_total", "no prefix"), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("srcgate_requests", "counter without _total"), std::invalid_argument);
  CHECK_THROWS_AS(r.gauge("srcgate_bad-name", "dash"), std::invalid_argument);
  CHECK_THROWS_AS(r.gauge("9srcgate_x", "leading digit"), std::invalid_argument);
  CHECK_THROWS_AS(r.gauge_family("srcgate_g", "bad label", {"__reserved"}), std::invalid_argument);
  CHECK_THROWS_AS(r.gauge_family("srcgate_g2", "dup label", {"a", "a"}), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram_family("srcgate_h", "le label", {"le"}, ok), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("srcgate_h2", "unsorted", unsorted), std::invalid_argument);
  r.gauge("srcgate_once", "first");
  CHECK_THROWS_AS(r.gauge("srcgate_once", "second"), std::invalid_argument);
}

TEST_CASE("concurrent increments are all counted", "[metrics]") {
  MetricsRegistry r;
  auto& family = r.counter_family("srcgate_hits_total", "hits", {"t"});
  const double bounds[] = {1};
  auto& h = r.histogram("srcgate_obs", "observations", bounds);
  constexpr int kThreads = 4;
  constexpr int kIncrements = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        family.with({"shared"}).inc();
        h.observe(i % 2 ? 0.5 : 2.0);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(family.with({"shared"}).value() == kThreads * kIncrements);
  const auto s = h.snapshot();
  REQUIRE(s.cumulative.size() == 2);
  CHECK(s.cumulative[0] == kThreads * kIncrements / 2);
  CHECK(s.cumulative[1] == kThreads * kIncrements);
  CHECK(s.sum == kThreads * (kIncrements / 2) * 2.5);
}

TEST_CASE("promtool check metrics accepts the exposition", "[metrics][promtool]") {
  const char* ci = std::getenv("CI");
  const bool have_promtool =
      srcgate::test::run_command({"sh", "-c", "command -v promtool"}).exit_code == 0;
  if (!have_promtool) {
    if (ci != nullptr && *ci != '\0')
      FAIL("promtool (Debian package prometheus) is required in CI");
    WARN("promtool not found (Debian package prometheus); skipping the exposition lint");
    return;
  }
  MetricsRegistry r;
  fill(r);
  r.gauge_family("srcgate_empty_family", "A labelled family with no children yet.", {"x"});
  srcgate::test::TempDir dir;
  const auto file = dir / "metrics.txt";
  srcgate::test::write_file(file, srcgate::content::as_bytes(r.expose()));
  const auto result =
      srcgate::test::run_command({"sh", "-c", "promtool check metrics < '" + file.string() + "'"});
  INFO(result.out << result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out.empty());
  CHECK(result.err.empty());
}
