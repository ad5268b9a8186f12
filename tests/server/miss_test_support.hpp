// Test helpers for the miss-path suites (header-only; miss_path_test.cpp,
// coalescing_test.cpp): an in-process gateway whose hash routes fetch misses
// from given upstream mirrors (RocksDB store in a TempDir, GatewayHandler
// with GatewayOptions::miss, HttpServer on 127.0.0.1 port 0), a Prometheus
// text parser for /metrics, and bounded polling.
// Thread-safety: a MissGateway is driven by the test's thread; its server
// runs on its own threads.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/gateway_handler.hpp"
#include "server/http_server.hpp"
#include "server/metrics.hpp"
#include "storage/rocksdb_store.hpp"
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

}  // namespace srcgate::test
