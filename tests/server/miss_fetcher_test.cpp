// The miss path's core through an in-process gateway (GatewayOptions::miss)
// and scripted upstreams on loopback: one fetch per digest whatever the
// number of clients, the last byte held back until the digest matched,
// failover, the negative cache, only-if-cached, HEAD and Range on a miss, and
// the deadline. Expected bytes and digests come from the test's own data and
// OpenSSL's digests, never from the gateway.
#include "server/miss_fetcher.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "content/digest.hpp"
#include "content/nix_hash.hpp"
#include "tests/server/gateway_test_support.hpp"
#include "tests/support/test_upstream.hpp"

namespace srcgate::server {
namespace {

using namespace std::chrono_literals;
using content::Bytes;
using content::ByteView;
using content::HashAlgo;
using test::HeaderList;
using test::TestGateway;
using test::TestUpstream;
using test::UpstreamConnection;
using test::UpstreamRequest;

std::string sha256_target(ByteView data) {
  return "/sha256/" + content::to_hex(content::digest_of(HashAlgo::sha256, data));
}

// Polls `ready` every 5 ms until it holds or `bound` has passed.
template <class F>
bool eventually(F ready, std::chrono::milliseconds bound = 10s) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// The value of one sample line of the gateway's /metrics text ("name{...}"
// exactly as exposed); 0 when the sample is absent.
double metric(TestGateway& gw, const std::string& sample) {
  const std::string text = gw.metrics().expose();
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line(text.data() + pos, end - pos);
    if (line.size() > sample.size() && line.starts_with(sample) && line[sample.size()] == ' ') {
      return std::stod(std::string(line.substr(sample.size() + 1)));
    }
    pos = end + 1;
  }
  return 0;
}

std::string upstream_sample(const std::string& name, const TestUpstream& up,
                            const std::string& outcome = "") {
  std::string s = name + "{upstream=\"" + up.url() + "\"";
  if (!outcome.empty()) s += ",outcome=\"" + outcome + "\"";
  return s + "}";
}

// Opens once; upstream handlers wait on it (bounded, and not past the
// upstream's stop).
class Gate {
 public:
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // True when opened; false when the upstream stops or 20 s pass first.
  bool wait(const UpstreamConnection& conn) {
    std::unique_lock lock(mu_);
    for (int i = 0; i < 200 && !open_; ++i) {
      if (conn.stopping()) return false;
      cv_.wait_for(lock, 100ms);
    }
    return open_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A hashed mirror of `objects` that sends the Content-Length and every byte
// but the last, waits for `gate`, then sends the last byte (inverted when
// `corrupt`): clients can be seen holding all but the last byte.
test::UpstreamHandler gated_mirror(test::ObjectMap objects, std::shared_ptr<Gate> gate,
                                   bool corrupt) {
  return [objects = std::move(objects), gate, corrupt](const UpstreamRequest& req,
                                                       UpstreamConnection& conn) {
    auto it = objects.find(req.target);
    if (it == objects.end() || it->second.empty()) {
      conn.respond(404, "not here\n");
      return;
    }
    const Bytes& body = it->second;
    if (!conn.send_head(200, {{"Content-Length", std::to_string(body.size())}})) return;
    if (!conn.write(ByteView(body).first(body.size() - 1))) return;
    if (!gate->wait(conn)) return;
    std::uint8_t last = body.back();
    if (corrupt) last = static_cast<std::uint8_t>(~last);
    conn.write(ByteView(&last, 1));
  };
}

// A mirror whose 200 declares no length: the body ends with the connection.
test::UpstreamHandler close_delimited_mirror(test::ObjectMap objects) {
  return [objects = std::move(objects)](const UpstreamRequest& req, UpstreamConnection& conn) {
    auto it = objects.find(req.target);
    if (it == objects.end()) {
      conn.respond(404, "not here\n");
      return;
    }
    if (!conn.send_head(200, {{"Connection", "close"}})) return;
    if (!conn.write(ByteView(it->second))) return;
    conn.close();
  };
}

// Reads the request and never answers (until the upstream stops).
test::UpstreamHandler silent_mirror() {
  return [](const UpstreamRequest&, UpstreamConnection& conn) {
    conn.stall(20s);
    conn.close();
  };
}

struct Fetched {
  int status = 0;
  std::multimap<std::string, std::string> headers;  // lower-case names
  std::string body;
  int curl_exit = -1;
  std::string curl_err;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  bool has(const std::string& name) const { return headers.count(name) > 0; }
};

// One curl run on its own thread, writing headers and body to files under
// `dir`, so that a test can watch the body grow and run many at once.
class BackgroundGet {
 public:
  BackgroundGet(const std::filesystem::path& dir, const std::string& name, std::string url,
                std::vector<std::string> extra = {})
      : head_(dir / (name + ".h")), body_(dir / (name + ".b")) {
    // -N: no output buffering, so that the body file shows what arrived.
    std::vector<std::string> argv = {"curl", "-sS", "-N",           "--path-as-is", "--max-time",
                                     "30",   "-D",  head_.string(), "-o",           body_.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(std::move(url));
    thread_ = std::thread([this, argv = std::move(argv)] { result_ = test::run_command(argv); });
  }
  ~BackgroundGet() {
    if (thread_.joinable()) thread_.join();
  }
  BackgroundGet(const BackgroundGet&) = delete;
  BackgroundGet& operator=(const BackgroundGet&) = delete;

  // Body bytes received so far.
  std::uint64_t body_bytes() const {
    std::error_code ec;
    const auto n = std::filesystem::file_size(body_, ec);
    return ec ? 0 : n;
  }

  Fetched wait() {
    if (thread_.joinable()) thread_.join();
    Fetched out;
    out.curl_exit = result_.exit_code;
    out.curl_err = result_.err;
    if (std::filesystem::exists(body_)) {
      const Bytes b = test::read_file(body_);
      out.body.assign(b.begin(), b.end());
    }
    if (!std::filesystem::exists(head_)) return out;
    const Bytes h = test::read_file(head_);
    std::string text(h.begin(), h.end());
    for (int i = 0; i < 4 && text.starts_with("HTTP/1.1 1"); ++i) {
      const std::size_t end = text.find("\r\n\r\n");
      if (end == std::string::npos) break;
      text = text.substr(end + 4);
    }
    std::size_t pos = text.find("\r\n");
    if (!text.starts_with("HTTP/") || pos == std::string::npos) return out;
    out.status = std::atoi(text.c_str() + text.find(' ') + 1);
    pos += 2;
    while (pos < text.size()) {
      const std::size_t end = text.find("\r\n", pos);
      if (end == std::string::npos || end == pos) break;
      const std::string line = text.substr(pos, end - pos);
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') ++v;
        out.headers.emplace(name, line.substr(v));
      }
      pos = end + 2;
    }
    return out;
  }

 private:
  std::filesystem::path head_;
  std::filesystem::path body_;
  test::CommandResult result_;
  std::thread thread_;
};

Fetched get(const std::filesystem::path& dir, const std::string& name, const std::string& url,
            std::vector<std::string> extra = {}) {
  BackgroundGet g(dir, name, url, std::move(extra));
  return g.wait();
}

MissOptions miss_options(std::vector<std::string> mirrors) {
  MissOptions o;
  o.mirrors = std::move(mirrors);
  o.deadline = 10s;
  return o;
}

HttpClientOptions client_options() {
  HttpClientOptions c;
  c.connect_timeout = 2s;
  c.first_byte_timeout = 5s;
  c.stall_timeout = 5s;
  return c;
}

bool stored(TestGateway& gw, ByteView data, HashAlgo algo) {
  auto entry = gw.store().lookup(content::digest_of(algo, data));
  return entry && *entry && (*entry)->size == data.size();
}

// A body equals `expected` (a function, so that Catch prints no binary).
bool same(const std::string& body, ByteView expected) {
  return body.size() == expected.size() &&
         (body.empty() || std::memcmp(body.data(), expected.data(), body.size()) == 0);
}

TEST_CASE("a miss from a good mirror streams the exact bytes, then is a hit") {
  const Bytes data = test::deterministic_bytes("miss good", (3 << 20) + 17);
  const std::string target = sha256_target(data);
  TestUpstream up(test::good_mirror({{target, data}}));
  TestGateway gw(miss_options({up.url()}), client_options());
  test::TempDir scratch;

  const Fetched miss = get(scratch.path(), "miss", gw.url() + target);
  INFO(miss.curl_err);
  CHECK(miss.curl_exit == 0);
  CHECK(miss.status == 200);
  CHECK(miss.header("content-length") == std::to_string(data.size()));
  CHECK(miss.header("content-type") == "application/octet-stream");
  CHECK(miss.header("cache-control") == "public, max-age=29030400, immutable");
  CHECK_FALSE(miss.has("accept-ranges"));  // a streamed miss never offers resumption
  CHECK_FALSE(miss.has("etag"));
  CHECK(same(miss.body, data));
  CHECK(up.requests(target) == 1);

  // Stored under all four digests.
  REQUIRE(eventually([&] { return stored(gw, data, HashAlgo::sha256); }));
  CHECK(stored(gw, data, HashAlgo::md5));
  CHECK(stored(gw, data, HashAlgo::sha1));
  CHECK(stored(gw, data, HashAlgo::sha512));

  const Fetched hit = get(scratch.path(), "hit", gw.url() + target);
  CHECK(hit.status == 200);
  CHECK(hit.header("accept-ranges") == "bytes");
  CHECK(hit.header("x-ipfs-path").starts_with("/ipfs/"));
  CHECK(same(hit.body, data));
  CHECK(up.requests() == 1);

  CHECK(metric(gw, upstream_sample("srcgate_upstream_requests_total", up, "ok")) == 1);
  CHECK(metric(gw, upstream_sample("srcgate_upstream_bytes_total", up)) == data.size());
  CHECK(metric(gw, upstream_sample("srcgate_upstream_first_byte_seconds_count", up)) == 1);
  CHECK(metric(gw, "srcgate_fetches_in_flight") == 0);
  CHECK(metric(gw, "srcgate_fetch_coalesced_total") == 0);
  auto verified = gw.store().verify({});
  REQUIRE(verified);
  CHECK(verified->ok());
}

TEST_CASE("concurrent clients of one miss share one upstream request; none sees the end early") {
  const Bytes data = test::deterministic_bytes("miss coalesced", (2 << 20) + 3);
  const std::string target = sha256_target(data);
  auto gate = std::make_shared<Gate>();
  TestUpstream up(gated_mirror({{target, data}}, gate, false));
  TestGateway gw(miss_options({up.url()}), client_options());
  test::TempDir scratch;

  constexpr int kClients = 10;
  std::vector<std::unique_ptr<BackgroundGet>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<BackgroundGet>(scratch.path(), "c" + std::to_string(i),
                                                      gw.url() + target));
  }
  // Every client holds every byte but the last, which has not even arrived.
  const bool all_waiting = eventually([&] {
    return std::all_of(clients.begin(), clients.end(),
                       [&](const auto& c) { return c->body_bytes() == data.size() - 1; });
  });
  if (!all_waiting) gate->open();
  REQUIRE(all_waiting);
  CHECK(metric(gw, "srcgate_fetch_coalesced_total") == kClients - 1);
  CHECK(metric(gw, "srcgate_fetches_in_flight") == 1);
  gate->open();

  for (int i = 0; i < kClients; ++i) {
    const Fetched f = clients[i]->wait();
    INFO("client " << i << ": " << f.curl_err);
    CHECK(f.curl_exit == 0);
    CHECK(f.status == 200);
    CHECK(same(f.body, data));
  }
  CHECK(up.requests() == 1);
  CHECK(metric(gw, "srcgate_fetches_in_flight") == 0);
  CHECK(stored(gw, data, HashAlgo::sha256));
}

TEST_CASE("a client that leaves does not cancel the fetch: it fills the cache") {
  const Bytes data = test::deterministic_bytes("miss leaver", (1 << 20) + 1);
  const std::string target = sha256_target(data);
  auto gate = std::make_shared<Gate>();
  TestUpstream up(gated_mirror({{target, data}}, gate, false));
  TestGateway gw(miss_options({up.url()}), client_options());
  test::TempDir scratch;

  // The only client gives up after 1 s, while the last byte is held upstream.
  const Fetched left = get(scratch.path(), "left", gw.url() + target, {"--max-time", "1"});
  gate->open();
  CHECK(left.curl_exit == 28);  // curl's "operation timed out"
  CHECK(left.status == 200);
  CHECK(left.body.size() < data.size());
  CHECK(eventually([&] { return stored(gw, data, HashAlgo::sha256); }));
  CHECK(eventually([&] { return metric(gw, "srcgate_fetches_in_flight") == 0; }));

  const Fetched hit = get(scratch.path(), "hit", gw.url() + target);
  CHECK(hit.header("accept-ranges") == "bytes");
  CHECK(same(hit.body, data));
  CHECK(up.requests() == 1);
}

TEST_CASE("HEAD on a miss answers the headers and the fetch fills the cache") {
  const Bytes data = test::deterministic_bytes("miss head", 1 << 20);
  const std::string target = sha256_target(data);
  TestUpstream up(test::good_mirror({{target, data}}));
  TestGateway gw(miss_options({up.url()}), client_options());

  const test::HttpResult head = test::http(gw.url() + target, {}, "HEAD");
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == std::to_string(data.size()));
  CHECK_FALSE(head.has("accept-ranges"));
  CHECK_FALSE(head.has("etag"));
  CHECK(eventually([&] { return stored(gw, data, HashAlgo::sha256); }));

  const test::HttpResult hit = test::http(gw.url() + target);
  CHECK(hit.status == 200);
  CHECK(hit.header("accept-ranges") == "bytes");
  CHECK(same(hit.body, data));
  REQUIRE(up.requests() == 1);
  CHECK(up.request_log()[0].method == "GET");
}

TEST_CASE("Range on a miss") {
  const Bytes data = test::deterministic_bytes("miss range", 1 << 20);
  const std::string target = sha256_target(data);
  const Bytes other = test::deterministic_bytes("miss range 416", 5000);
  const std::string other_target = sha256_target(other);

  SECTION("a declared length: 206 from the arriving body, 416 past its end") {
    TestUpstream up(test::good_mirror({{target, data}, {other_target, other}}));
    TestGateway gw(miss_options({up.url()}), client_options());
    const test::HttpResult part = test::http(gw.url() + target, {"-H", "Range: bytes=100-199"});
    CHECK(part.status == 206);
    CHECK(part.header("content-range") == "bytes 100-199/1048576");
    CHECK(part.header("content-length") == "100");
    CHECK_FALSE(part.has("accept-ranges"));
    CHECK(same(part.body, ByteView(data).subspan(100, 100)));
    REQUIRE(up.requests() == 1);
    CHECK_FALSE(up.request_log()[0].header("Range"));  // the fetch takes the whole object
    CHECK(eventually([&] { return stored(gw, data, HashAlgo::sha256); }));

    const test::HttpResult past = test::http(gw.url() + other_target, {"-H", "Range: bytes=5000-"});
    CHECK(past.status == 416);
    CHECK(past.header("content-range") == "bytes */5000");
    CHECK(eventually([&] { return stored(gw, other, HashAlgo::sha256); }));
  }

  SECTION("no declared length: served from the store once the fetch is done") {
    TestUpstream up(close_delimited_mirror({{target, data}}));
    TestGateway gw(miss_options({up.url()}), client_options());
    const test::HttpResult part = test::http(gw.url() + target, {"-H", "Range: bytes=1048000-"});
    CHECK(part.status == 206);
    CHECK(part.header("content-range") == "bytes 1048000-1048575/1048576");
    CHECK(part.header("accept-ranges") == "bytes");  // a hit by then
    CHECK(same(part.body, ByteView(data).subspan(1048000)));
    CHECK(up.requests() == 1);
  }
}

TEST_CASE("a miss without a declared length is sent chunked, whole") {
  const Bytes data = test::deterministic_bytes("miss chunked", (1 << 20) + 5);
  const std::string target = sha256_target(data);
  TestUpstream up(close_delimited_mirror({{target, data}}));
  TestGateway gw(miss_options({up.url()}), client_options());
  const test::HttpResult r = test::http(gw.url() + target);
  CHECK(r.curl_exit == 0);
  CHECK(r.status == 200);
  CHECK(r.header("transfer-encoding") == "chunked");
  CHECK_FALSE(r.has("accept-ranges"));
  CHECK(same(r.body, data));
  CHECK(eventually([&] { return stored(gw, data, HashAlgo::sha256); }));
}

TEST_CASE("only-if-cached on a miss is 412 without upstream I/O") {
  const Bytes data = test::deterministic_bytes("miss only-if-cached", 1000);
  const std::string target = sha256_target(data);
  TestUpstream up(test::good_mirror({{target, data}}));
  TestGateway gw(miss_options({up.url()}), client_options());
  const test::HttpResult r = test::http(gw.url() + target, {"-H", "Cache-Control: only-if-cached"});
  CHECK(r.status == 412);
  CHECK(up.requests() == 0);
  CHECK(up.connections() == 0);
  CHECK(metric(gw, upstream_sample("srcgate_upstream_first_byte_seconds_count", up)) == 0);
  CHECK_FALSE(stored(gw, data, HashAlgo::sha256));
}

TEST_CASE("a 404 from the first mirror moves on to the second") {
  const Bytes data = test::deterministic_bytes("miss failover", 70'000);
  const std::string target = sha256_target(data);
  TestUpstream missing(test::fixed_status(404));
  TestUpstream good(test::good_mirror({{target, data}}));
  TestGateway gw(miss_options({missing.url(), good.url()}), client_options());
  const test::HttpResult r = test::http(gw.url() + target);
  CHECK(r.status == 200);
  CHECK(same(r.body, data));
  CHECK(missing.requests(target) == 1);
  CHECK(good.requests(target) == 1);
  CHECK(metric(gw, upstream_sample("srcgate_upstream_requests_total", missing, "not_found")) == 1);
  CHECK(metric(gw, upstream_sample("srcgate_upstream_requests_total", good, "ok")) == 1);
}

TEST_CASE("a 200 that ends before its first byte is a 404, or the next mirror's bytes") {
  const Bytes data = test::deterministic_bytes("miss empty cut", 50'000);
  const std::string target = sha256_target(data);
  TestUpstream cut(test::cut_short_mirror({{target, data}}, 0));

  SECTION("alone: 404 naming the mirror and the short body") {
    TestGateway gw(miss_options({cut.url()}), client_options());
    const test::HttpResult r = test::http(gw.url() + target);
    CHECK(r.status == 404);
    CHECK_THAT(r.body, Catch::Matchers::Contains(cut.url() + target + ": short_body"));
    CHECK(metric(gw, upstream_sample("srcgate_upstream_requests_total", cut, "short_body")) == 1);
    CHECK(metric(gw, "srcgate_negative_cache_hits_total") == 0);
  }

  SECTION("before a good mirror: the client gets the good bytes, transparently") {
    TestUpstream good(test::good_mirror({{target, data}}));
    TestGateway gw(miss_options({cut.url(), good.url()}), client_options());
    const test::HttpResult r = test::http(gw.url() + target);
    CHECK(r.status == 200);
    CHECK(r.curl_exit == 0);
    CHECK(same(r.body, data));
    CHECK(cut.requests(target) == 1);
    CHECK(good.requests(target) == 1);
  }
}

TEST_CASE("wrong bytes: the client that received bytes is cut, nothing wrong is stored") {
  const Bytes data = test::deterministic_bytes("miss mismatch", (1 << 20) + 11);
  const std::string target = sha256_target(data);
  auto gate = std::make_shared<Gate>();
  TestUpstream wrong(gated_mirror({{target, data}}, gate, true));
  test::TempDir scratch;

  SECTION("a good second mirror serves the waiting clients and later ones") {
    TestUpstream good(test::good_mirror({{target, data}}));
    TestGateway gw(miss_options({wrong.url(), good.url()}), client_options());
    BackgroundGet first(scratch.path(), "first", gw.url() + target);
    // The first client holds everything but the last byte.
    const bool streaming = eventually([&] { return first.body_bytes() == data.size() - 1; });
    // A second one asks for the last byte alone: it has received nothing
    // when the first mirror fails (the last byte waits for the digest), so
    // it continues with the second mirror, transparently.
    BackgroundGet tail(scratch.path(), "tail", gw.url() + target, {"-H", "Range: bytes=-1"});
    const bool joined =
        eventually([&] { return metric(gw, "srcgate_fetch_coalesced_total") == 1; });
    gate->open();
    REQUIRE(streaming);
    REQUIRE(joined);

    const Fetched cut = first.wait();
    INFO(cut.curl_err);
    CHECK(cut.status == 200);
    CHECK(cut.curl_exit == 18);  // "transfer closed with 1 bytes remaining": Nix falls back
    CHECK(cut.body.size() == data.size() - 1);
    CHECK_FALSE(cut.has("accept-ranges"));

    const Fetched last = tail.wait();
    CHECK(last.curl_exit == 0);
    CHECK(last.status == 206);
    CHECK(last.header("content-range") == "bytes " + std::to_string(data.size() - 1) + "-" +
                                              std::to_string(data.size() - 1) + "/" +
                                              std::to_string(data.size()));
    CHECK(same(last.body, ByteView(data).last(1)));

    CHECK(wrong.requests(target) == 1);
    CHECK(good.requests(target) == 1);
    CHECK(metric(gw, upstream_sample("srcgate_hash_mismatches_total", wrong)) == 1);
    CHECK(metric(gw, upstream_sample("srcgate_upstream_requests_total", wrong, "mismatch")) == 1);
    CHECK(metric(gw, upstream_sample("srcgate_upstream_requests_total", good, "ok")) == 1);

    const Fetched later = get(scratch.path(), "later", gw.url() + target);
    CHECK(later.status == 200);
    CHECK(later.header("accept-ranges") == "bytes");
    CHECK(same(later.body, data));
    auto verified = gw.store().verify({});
    REQUIRE(verified);
    CHECK(verified->ok());
  }

  SECTION("the only mirror: cut, not stored, and tried again by the next request") {
    TestGateway gw(miss_options({wrong.url()}), client_options());
    BackgroundGet first(scratch.path(), "first", gw.url() + target);
    const bool streaming = eventually([&] { return first.body_bytes() == data.size() - 1; });
    gate->open();
    REQUIRE(streaming);
    const Fetched cut = first.wait();
    CHECK(cut.status == 200);
    CHECK(cut.curl_exit == 18);
    CHECK(cut.body.size() == data.size() - 1);
    CHECK(metric(gw, upstream_sample("srcgate_hash_mismatches_total", wrong)) == 1);
    CHECK_FALSE(stored(gw, data, HashAlgo::sha256));

    // Not remembered as missing: the next request asks again, and is never
    // a complete 200 (cut after bytes, or 404 before any).
    const Fetched again = get(scratch.path(), "again", gw.url() + target);
    CHECK(wrong.requests(target) == 2);
    CHECK((again.status == 404 || (again.status == 200 && again.curl_exit == 18)));
    CHECK(metric(gw, "srcgate_negative_cache_hits_total") == 0);
    CHECK_FALSE(stored(gw, data, HashAlgo::sha256));
    auto verified = gw.store().verify({});
    REQUIRE(verified);
    CHECK(verified->ok());
  }
}

TEST_CASE("a digest that every mirror lacks is remembered for negative_ttl") {
  const Bytes data = test::deterministic_bytes("miss negative", 100);
  const std::string target = sha256_target(data);
  TestUpstream m404(test::fixed_status(404));
  TestUpstream m410(test::fixed_status(410));

  SECTION("remembered") {
    TestGateway gw(miss_options({m404.url(), m410.url()}), client_options());
    const test::HttpResult first = test::http(gw.url() + target);
    CHECK(first.status == 404);
    CHECK_THAT(first.body, Catch::Matchers::Contains(m404.url() + target + ": not_found (404)"));
    CHECK_THAT(first.body, Catch::Matchers::Contains(m410.url() + target + ": not_found (410)"));
    const test::HttpResult second = test::http(gw.url() + target);
    CHECK(second.status == 404);
    CHECK(m404.requests() == 1);
    CHECK(m410.requests() == 1);
    CHECK(metric(gw, "srcgate_negative_cache_hits_total") == 1);
    CHECK(metric(gw, upstream_sample("srcgate_upstream_requests_total", m410, "not_found")) == 1);
  }

  SECTION("ttl 0: asked again") {
    MissOptions o = miss_options({m404.url()});
    o.negative_ttl = 0ms;
    TestGateway gw(o, client_options());
    CHECK(test::http(gw.url() + target).status == 404);
    CHECK(test::http(gw.url() + target).status == 404);
    CHECK(m404.requests() == 2);
    CHECK(metric(gw, "srcgate_negative_cache_hits_total") == 0);
  }

  SECTION("a 500 among the answers: not remembered") {
    TestUpstream m500(test::fixed_status(500));
    TestGateway gw(miss_options({m404.url(), m500.url()}), client_options());
    CHECK(test::http(gw.url() + target).status == 404);
    CHECK(test::http(gw.url() + target).status == 404);
    CHECK(m500.requests() == 2);
    CHECK(metric(gw, upstream_sample("srcgate_upstream_requests_total", m500, "http_error")) == 2);
  }
}

TEST_CASE("a miss that no mirror answers is a 404 within the deadline") {
  const Bytes data = test::deterministic_bytes("miss deadline", 100);
  const std::string target = sha256_target(data);
  TestUpstream silent(silent_mirror());
  MissOptions o = miss_options({silent.url()});
  o.deadline = 300ms;
  TestGateway gw(o, client_options());  // first-byte timeout 5 s: the deadline comes first
  const auto start = std::chrono::steady_clock::now();
  const test::HttpResult r = test::http(gw.url() + target);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(r.status == 404);
  CHECK_THAT(r.body, Catch::Matchers::Contains("no upstream answered within 300 ms"));
  CHECK(elapsed < 3s);
  CHECK(silent.requests() == 1);
  CHECK(metric(gw, "srcgate_fetches_in_flight") == 1);  // the fetch itself goes on
  silent.stop();  // ends the fetch, so that the gateway stops at once
}

}  // namespace
}  // namespace srcgate::server
