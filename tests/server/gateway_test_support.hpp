// Test helpers for the gateway suites (header-only; included by
// tests/server/*_test.cpp): an in-process gateway (RocksDB store in a TempDir,
// GatewayHandler, HttpServer on 127.0.0.1 port 0), file and CAR imports into
// its store, and an HTTP client that runs curl and returns status, headers
// and body.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "content/bytes.hpp"
#include "content/car.hpp"
#include "server/gateway_handler.hpp"
#include "server/http_server.hpp"
#include "server/metrics.hpp"
#include "storage/rocksdb_store.hpp"
#include "tests/support/test_support.hpp"

namespace srcgate::test {

// A running gateway over a fresh RocksDB store. Members are destroyed in
// reverse order: the server stops before the handler and the store go.
class TestGateway {
 public:
  explicit TestGateway(std::string base_path = "", std::string admin_token = "",
                       unsigned threads = 2, std::optional<std::uint64_t> max_size = {}) {
    server::GatewayOptions g;
    g.base_path = base_path;
    g.admin_token = admin_token;
    start(std::move(g), threads, max_size);
  }
  // A gateway with the miss path on: `miss` (its mirrors) and `client` become
  // GatewayOptions::miss and ::client. The spool goes to dir()/spool unless
  // miss.spool_dir is set to something else than the default.
  explicit TestGateway(server::MissOptions miss, server::HttpClientOptions client = {},
                       unsigned threads = 2) {
    if (miss.spool_dir == server::MissOptions().spool_dir) miss.spool_dir = dir_ / "spool";
    server::GatewayOptions g;
    g.miss = std::move(miss);
    g.client = std::move(client);
    start(std::move(g), threads, {});
  }
  ~TestGateway() {
    server_->stop();
    server_->wait();
  }

 private:
  void start(server::GatewayOptions g, unsigned threads, std::optional<std::uint64_t> max_size) {
    const std::string base_path = g.base_path;
    storage::RocksDbOptions o;
    o.dir = dir_ / "store";
    o.store.max_size = max_size;
    auto s = storage::open_rocksdb_store(o);
    INFO((s ? "" : s.error().message));
    REQUIRE(s);
    store_ = std::move(*s);
    metrics_ = std::make_shared<server::MetricsRegistry>();
    handler_ = std::make_shared<server::GatewayHandler>(*store_, std::move(g), metrics_.get());
    server::ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.threads = threads;
    so.base_path = base_path;
    so.write_timeout = std::chrono::milliseconds(10'000);
    server_ = std::make_unique<server::HttpServer>(so, handler_, metrics_, nullptr);
    server_->start();
  }

 public:
  storage::BlockStore& store() { return *store_; }
  server::MetricsRegistry& metrics() { return *metrics_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  const std::filesystem::path& dir() const { return dir_.path(); }

  // Imports `data` as one file with `profile`; returns its summary.
  content::FileSummary import(content::ByteView data, const content::ImportProfile& profile =
                                                          content::ImportProfile::v1_2025) {
    auto imp = store_->begin_import(profile);
    for (std::size_t at = 0; at < data.size(); at += 1 << 20) {
      auto w = imp->write(data.subspan(at, std::min<std::size_t>(1 << 20, data.size() - at)));
      REQUIRE(w);
    }
    auto summary = imp->finish();
    INFO((summary ? "" : summary.error().message));
    REQUIRE(summary);
    auto committed = imp->commit();
    REQUIRE(committed);
    return *summary;
  }

  // Imports a conformance fixture CAR (shared/fixtures/gateway-conformance/...).
  storage::ImportedCar import_car(std::string_view fixture_path) {
    const content::Bytes car = read_file(fixture(fixture_path));
    auto imp = store_->begin_car_import();
    auto w = imp->write(car);
    INFO(fixture_path << ": " << (w ? "" : w.error().message));
    REQUIRE(w);
    auto r = imp->commit();
    INFO((r ? "" : r.error().message));
    REQUIRE(r);
    return *r;
  }

 private:
  TempDir dir_;
  std::unique_ptr<storage::BlockStore> store_;
  std::shared_ptr<server::MetricsRegistry> metrics_;
  std::shared_ptr<server::GatewayHandler> handler_;
  std::unique_ptr<server::HttpServer> server_;
};

struct HttpResult {
  int status = 0;
  std::multimap<std::string, std::string> headers;  // lower-case names
  std::string body;
  int curl_exit = 0;
  std::string curl_err;

  // The first value of header `name` (lower-case), "" when absent.
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  bool has(const std::string& name) const { return headers.count(name) > 0; }
};

// Runs `curl -sS --path-as-is [extra...] URL` (never following redirects) and
// parses the last response's status line and headers.
inline HttpResult http(const std::string& url, const std::vector<std::string>& extra = {},
                       const std::string& method = "") {
  static TempDir scratch;
  static int counter = 0;
  const std::string stem = (scratch / ("r" + std::to_string(++counter))).string();
  std::vector<std::string> argv = {"curl", "-sS",       "--path-as-is", "--max-time", "20",
                                   "-D",   stem + ".h", "-o",           stem + ".b"};
  if (method == "HEAD") {
    argv.push_back("--head");
  } else if (!method.empty()) {
    argv.push_back("-X");
    argv.push_back(method);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  const CommandResult r = run_command(argv);
  HttpResult out;
  out.curl_exit = r.exit_code;
  out.curl_err = r.err;
  const content::Bytes head =
      std::filesystem::exists(stem + ".h") ? read_file(stem + ".h") : content::Bytes{};
  // curl --head writes the header block to -o as well: a HEAD has no body.
  if (method != "HEAD" && std::filesystem::exists(stem + ".b")) {
    const content::Bytes body = read_file(stem + ".b");
    out.body.assign(body.begin(), body.end());
  }
  std::string text(head.begin(), head.end());
  // Redirects are not followed, so the dump holds one response, after any
  // interim 1xx responses (100 Continue).
  for (int i = 0; i < 8 && text.starts_with("HTTP/1.1 1"); ++i) {
    const std::size_t end = text.find("\r\n\r\n");
    if (end == std::string::npos) break;
    text = text.substr(end + 4);
  }
  if (!text.starts_with("HTTP/")) return out;
  std::size_t line_end = text.find("\r\n");
  const std::string status_line = text.substr(0, line_end);
  const std::size_t sp = status_line.find(' ');
  if (sp != std::string::npos) out.status = std::atoi(status_line.c_str() + sp + 1);
  std::size_t pos = line_end == std::string::npos ? text.size() : line_end + 2;
  while (pos < text.size()) {
    const std::size_t end = text.find("\r\n", pos);
    const std::string line =
        text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::size_t v = colon + 1;
      while (v < line.size() && line[v] == ' ') ++v;
      out.headers.emplace(name, line.substr(v));
    }
    if (end == std::string::npos) break;
    pos = end + 2;
  }
  return out;
}

// The CIDs of a CAR's sections, in order, and its header roots.
struct CarContents {
  std::vector<std::string> roots;
  std::vector<std::string> blocks;
};
inline CarContents parse_car(const std::string& body) {
  CarContents out;
  auto r = content::read_car(content::as_bytes(body),
                             {[&](const content::CarHeader& h) {
                                for (const auto& c : h.roots) out.roots.push_back(c.to_string());
                                return content::Result<void>();
                              },
                              [&](const content::Cid& cid, content::ByteView, std::uint64_t) {
                                out.blocks.push_back(cid.to_string());
                                return content::Result<void>();
                              }});
  INFO("CAR: " << (r ? "" : r.error().message));
  REQUIRE(r);
  return out;
}

}  // namespace srcgate::test
