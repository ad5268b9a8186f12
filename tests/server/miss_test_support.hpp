// Test helpers for the miss-path suites (header-only; miss_path_test.cpp,
// origin_miss_test.cpp, coalescing_test.cpp, ...): an in-process gateway whose
// hash routes fetch misses from given upstream mirrors (RocksDB store in a
// TempDir, GatewayHandler with GatewayOptions::miss, HttpServer on 127.0.0.1
// port 0), a Prometheus text parser for /metrics, bounded polling, and the
// checks that end a miss test (no fetch running; the store holds exactly the
// expected object and verifies, in process and with `srcgate verify`).
// Thread-safety: a MissGateway is driven by the test's thread; its server
// runs on its own threads.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "server/gateway_handler.hpp"
#include "server/http_server.hpp"
#include "server/metrics.hpp"
#include "storage/rocksdb_store.hpp"
#include "tests/server/gateway_test_support.hpp"
#include "tests/support/test_support.hpp"

namespace srcgate::test {

// Client timeouts short enough for tests: a stalled upstream is given up
// after a second.
inline server::HttpClientOptions test_client_options() {
  server::HttpClientOptions c;
  c.connect_timeout = std::chrono::milliseconds(2'000);
  c.first_byte_timeout = std::chrono::milliseconds(3'000);
  c.stall_timeout = std::chrono::milliseconds(1'000);
  return c;
}

inline server::MissOptions test_miss_options(std::vector<std::string> mirrors) {
  server::MissOptions m;
  m.mirrors = std::move(mirrors);
  m.deadline = std::chrono::milliseconds(15'000);
  m.negative_ttl = std::chrono::milliseconds(60'000);
  return m;
}

// A running gateway with the miss path on, over a fresh RocksDB store.
class MissGateway {
 public:
  explicit MissGateway(server::MissOptions miss,
                       server::HttpClientOptions client = test_client_options(),
                       unsigned threads = 2) {
    storage::RocksDbOptions o;
    o.dir = store_dir();
    auto s = storage::open_rocksdb_store(o);
    INFO((s ? "" : s.error().message));
    REQUIRE(s.has_value());
    store_ = std::move(*s);
    metrics_ = std::make_shared<server::MetricsRegistry>();
    miss.spool_dir = dir_ / "spool";
    server::GatewayOptions g;
    g.miss = std::move(miss);
    g.client = std::move(client);
    handler_ = std::make_shared<server::GatewayHandler>(*store_, g, metrics_.get());
    server::ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.threads = threads;
    so.write_timeout = std::chrono::milliseconds(10'000);
    so.shutdown_grace = std::chrono::milliseconds(2'000);
    server_ = std::make_unique<server::HttpServer>(so, handler_, metrics_, nullptr);
    server_->start();
    port_ = server_->port();
  }
  ~MissGateway() { close(); }
  MissGateway(const MissGateway&) = delete;
  MissGateway& operator=(const MissGateway&) = delete;

  // Stops the server, then drops the handler (and its fetches) and the
  // store, so that `srcgate verify --data store_dir()` can open it.
  void close() {
    if (server_) {
      server_->stop();
      server_->wait();
      server_.reset();
    }
    handler_.reset();
    store_.reset();
  }

  storage::BlockStore& store() { return *store_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::uint16_t port() const { return port_; }
  std::filesystem::path store_dir() const { return dir_ / "store"; }

 private:
  TempDir dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<storage::BlockStore> store_;
  std::shared_ptr<server::MetricsRegistry> metrics_;
  std::shared_ptr<server::GatewayHandler> handler_;
  std::unique_ptr<server::HttpServer> server_;
};

// One sample of a Prometheus text exposition.
struct MetricSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Parses the sample lines (comments skipped). Label values may hold escaped
// quotes and backslashes.
inline std::vector<MetricSample> parse_metrics(const std::string& text) {
  std::vector<MetricSample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    MetricSample s;
    std::size_t at = line.find_first_of("{ ");
    if (at == std::string::npos) continue;
    s.name = line.substr(0, at);
    if (line[at] == '{') {
      ++at;
      while (at < line.size() && line[at] != '}') {
        const std::size_t eq = line.find('=', at);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
        std::string key = line.substr(at, eq - at);
        std::string value;
        std::size_t i = eq + 2;
        for (; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value += line[i] == 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
        }
        s.labels.emplace(std::move(key), std::move(value));
        at = i + 1;
        if (at < line.size() && line[at] == ',') ++at;
      }
      at = line.find(' ', at);
      if (at == std::string::npos) continue;
    }
    s.value = std::strtod(line.c_str() + at + 1, nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

// The value of the sample `name` with exactly `labels`, nullopt when absent.
inline std::optional<double> metric(const std::vector<MetricSample>& samples,
                                    const std::string& name,
                                    const std::map<std::string, std::string>& labels = {}) {
  for (const auto& s : samples)
    if (s.name == name && s.labels == labels) return s.value;
  return std::nullopt;
}

// The sum of every sample `name` whose labels include `labels`.
inline double metric_sum(const std::vector<MetricSample>& samples, const std::string& name,
                         const std::map<std::string, std::string>& labels = {}) {
  double sum = 0;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      const auto it = s.labels.find(k);
      match = match && it != s.labels.end() && it->second == v;
    }
    if (match) sum += s.value;
  }
  return sum;
}

// Calls `done` every 20 ms until it returns true or `timeout` has passed;
// returns its last answer.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The gateway's /metrics, parsed.
inline std::vector<MetricSample> metrics_of(const MissGateway& gw) {
  const HttpResult m = http(gw.url() + "/metrics");
  REQUIRE(m.status == 200);
  return parse_metrics(m.body);
}

// Waits (bounded) until no fetch runs, so that the store and the counters are
// final.
inline void wait_fetches_done(const MissGateway& gw) {
  const bool done = eventually([&] {
    const auto v = metric(metrics_of(gw), "srcgate_fetches_in_flight");
    return v && *v == 0;
  });
  CHECK(done);
}

// A GET of `good` through a gateway whose first upstream sends wrong bytes:
// a 200 whose body is `good` whole, or (the client had received bytes of the
// wrong body) cut after a true prefix of it; never a complete wrong body.
inline void check_good_or_cut_prefix(const HttpResult& r, const content::Bytes& good) {
  REQUIRE(r.status == 200);
  const std::string expected(good.begin(), good.end());
  if (r.curl_exit == 0) {
    CHECK(r.body == expected);
  } else {
    CHECK(r.body.size() < expected.size());
    CHECK(r.body == expected.substr(0, r.body.size()));
  }
}

// The store holds exactly the four names of `stored` (or none when null) and
// one file (or none), and verifies; then the gateway closes and
// `srcgate verify` passes on its store.
inline void check_store_and_close(MissGateway& gw, const content::Bytes* stored) {
  const auto name_of = [](const content::Digest& d, std::uint64_t size) {
    return std::string(content::algo_name(d.algo)) + ":" + content::hex_encode(d.bytes()) +
           " size " + std::to_string(size);
  };
  std::set<std::string> names;
  auto visited =
      gw.store().for_each_name([&](const content::Digest& d, const storage::NameEntry& e) {
        names.insert(name_of(d, e.size));
        return true;
      });
  INFO((visited ? "" : visited.error().message));
  REQUIRE(visited);
  std::set<std::string> expected;
  if (stored) {
    for (content::HashAlgo a : content::kAllHashAlgos)
      expected.insert(name_of(content::digest_of(a, *stored), stored->size()));
  }
  CHECK(names == expected);
  auto stats = gw.store().stats();
  REQUIRE(stats);
  CHECK(stats->files == (stored ? 1u : 0u));

  std::vector<std::string> problems;
  auto report = gw.store().verify(
      [&](const storage::VerifyProblem& p) { problems.push_back(p.key + ": " + p.problem); });
  INFO((report ? "" : report.error().message));
  REQUIRE(report);
  INFO("problems: " << problems.size() << (problems.empty() ? "" : " first: " + problems[0]));
  CHECK(report->ok());

  const std::filesystem::path dir = gw.store_dir();
  gw.close();
  const CommandResult v =
      run_command({srcgate_binary().string(), "verify", "--data", dir.string()});
  INFO("srcgate verify: " << v.out << v.err);
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("\"problems\":0") != std::string::npos);
}

}  // namespace srcgate::test
