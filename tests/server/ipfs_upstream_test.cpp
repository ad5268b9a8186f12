// Issue 6 items 4 and 5, acceptance: srcgate B whose only IPFS upstream is
// srcgate A (trustless ?format=car answers, dag-scope, entity-bytes).
// A holds the gateway-conformance fixture CARs and a 50 MiB multi-block file
// (kubo's ChaCha20 stream, unixfs-v0-2015: 200 dag-pb leaves under a
// two-level tree); B starts empty, offline for hashes (no mirrors).
// - B answers /ipfs/ files, ranges, directory listings, index.html, HAMT
//   paths, symlinks, raw blocks and CARs with A's status, bytes and headers,
//   and answers them again from its store without asking A;
// - a 1 MiB Range in the middle of the 50 MiB file makes B fetch only the
//   blocks that cover it (and the head it sniffs the type from);
// - after B fetched the whole file, /sha256/<hex> of it is a hit on B;
// - a whole file streams: from a gateway that paces its CAR, B's first body
//   byte comes long before the CAR's end; a gateway that cuts its CAR
//   midway makes B cut its response before the Content-Length (alone), or
//   B's response goes on with the next gateway's blocks, exact; a client
//   that leaves early does not stop the fetch, which fills the cache;
// - concurrent cold requests share their upstream fetches;
// - a refused gateway and a gateway that flips a byte of A's CARs, listed
//   before A, are detected (metrics) and bypassed; B's store then passes
//   BlockStore::verify and `srcgate verify`;
// - the same with two `srcgate serve` processes: B started with
//   --ipfs-gateway http://A --no-default-upstreams.
// Expected bytes come from the fixture CARs read here and from
// deterministic_bytes(), never from B alone.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "server/ipfs_fetcher.hpp"
#include "tests/nix/nix_support.hpp"
#include "tests/server/gateway_test_support.hpp"
#include "tests/server/miss_test_support.hpp"
#include "tests/support/test_upstream.hpp"

using namespace srcgate;
using Catch::Matchers::Contains;
using test::http;
using test::HttpResult;

namespace {

constexpr std::size_t kBigSize = 50u << 20;
const std::string kCache = "bafybeib3ffl2teiqdncv3mkz4r23b5ctrwkzrrhctdbne6iboayxuxk5ui";
const std::string kHamt = "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i";
const std::string kSymlink = "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt";
const std::string kTwoFiles = "bafybeietjm63oynimmv5yyqay33nui4y4wx6u3peezwetxgiwvfmelutzu";
const std::string kMixed = "bafybeidh6k2vzukelqtrjsmd4p52cpmltd2ufqrdtdg6yigi73in672fwu";
const std::string kRawBlock = "bafybeie72edlprgtlwwctzljf6gkn2wnlrddqjbkxo3jomh4n7omwblxly";
const std::string kPercent = "bafybeig675grnxcmshiuzdaz2xalm6ef4thxxds6o6ypakpghm5kghpc34";
const std::string kUtf8 = "bafybeig6ka5mlwkl4subqhaiatalkcleo4jgnr3hqwvpmsqfca27cijp3i";
const std::string kDagCbor = "bafyreibs4utpgbn7uqegmd2goqz4bkyflre2ek2iwv743fhvylwi4zeeim";
const std::string kAbsent = "QmYzfKSE55XCjD1MW128RfciAf2DViABhEiXfgVFMabSjN";

// An in-process srcgate over a fresh RocksDB store with the given IPFS
// gateways (none: A). Stops its server before the handler and the store go.
class Gateway {
 public:
  explicit Gateway(std::vector<std::string> ipfs_gateways = {}) {
    storage::RocksDbOptions o;
    o.dir = store_dir();
    auto s = storage::open_rocksdb_store(o);
    INFO((s ? "" : s.error().message));
    REQUIRE(s);
    store_ = std::move(*s);
    metrics_ = std::make_shared<server::MetricsRegistry>();
    server::GatewayOptions g;
    g.ipfs_gateways = std::move(ipfs_gateways);
    g.client = test::test_client_options();
    handler_ = std::make_shared<server::GatewayHandler>(*store_, std::move(g), metrics_.get());
    server::ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.threads = 2;
    so.write_timeout = std::chrono::milliseconds(10'000);
    so.shutdown_grace = std::chrono::milliseconds(2'000);
    server_ = std::make_unique<server::HttpServer>(so, handler_, metrics_, nullptr);
    server_->start();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  ~Gateway() { close(); }

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
  const std::string& url() const { return url_; }
  std::filesystem::path store_dir() const { return dir_ / "store"; }
  // BlockStore::verify finds no problem in the store.
  void check_verifies() {
    auto report = store().verify({});
    INFO((report ? "" : report.error().message));
    REQUIRE(report);
    CHECK(report->ok());
  }
  // check_verifies(), then the gateway closes and `srcgate verify` passes too.
  void check_verifies_and_close() {
    check_verifies();
    close();
    const test::CommandResult v = test::run_command(
        {test::srcgate_binary().string(), "verify", "--data", store_dir().string()});
    INFO("srcgate verify: " << v.out << v.err);
    CHECK(v.exit_code == 0);
    CHECK(v.out.find("\"problems\":0") != std::string::npos);
  }
  std::string ipfs(const std::string& rest) const { return url_ + "/ipfs/" + rest; }
  std::uint16_t port() const { return server_->port(); }
  std::vector<test::MetricSample> metrics() const {
    return test::parse_metrics(metrics_->expose());
  }
  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    return test::metric_sum(metrics(), name, labels);
  }

  void import_car(std::string_view fixture_path) {
    const content::Bytes car = test::read_file(test::fixture(fixture_path));
    auto imp = store_->begin_car_import();
    auto w = imp->write(car);
    INFO(fixture_path << ": " << (w ? "" : w.error().message));
    REQUIRE(w);
    auto r = imp->commit();
    INFO((r ? "" : r.error().message));
    REQUIRE(r);
  }
  content::FileSummary import(content::ByteView data, const content::ImportProfile& profile) {
    auto imp = store_->begin_import(profile);
    for (std::size_t at = 0; at < data.size(); at += 1 << 20) {
      REQUIRE(imp->write(data.subspan(at, std::min<std::size_t>(1 << 20, data.size() - at))));
    }
    auto summary = imp->finish();
    REQUIRE(summary);
    REQUIRE(imp->commit());
    return *summary;
  }

 private:
  test::TempDir dir_;
  std::unique_ptr<storage::BlockStore> store_;
  std::shared_ptr<server::MetricsRegistry> metrics_;
  std::shared_ptr<server::GatewayHandler> handler_;
  std::unique_ptr<server::HttpServer> server_;
  std::string url_;
};

// A: every fixture and the big file; shared by the test cases.
struct Origin {
  Origin() : big(test::deterministic_bytes("ipfs-upstream", kBigSize)) {
    for (const char* car :
         {"gateway-raw-block.car", "gateway-cache/fixtures.car",
          "path_gateway_unixfs/dir-with-files.car",
          "path_gateway_unixfs/dir-with-percent-encoded-filename.car",
          "path_gateway_unixfs/symlink.car",
          "trustless_gateway_car/subdir-with-two-single-block-files.car",
          "trustless_gateway_car/subdir-with-mixed-block-files.car",
          "trustless_gateway_car/single-layer-hamt-with-multi-block-files.car",
          "dir_listing/fixtures.car", "path_gateway_dag/dag-cbor-traversal.car"}) {
      gw.import_car(car);
    }
    big_root = gw.import(big, content::ImportProfile::v0_2015).dag.root.to_string();
    sha256 = content::to_hex(content::digest_of(content::HashAlgo::sha256, big));
  }
  Gateway gw;
  content::Bytes big;
  std::string big_root;
  std::string sha256;
};

Origin& origin() {
  static Origin o;
  return o;
}

std::string slice(const content::Bytes& b, std::size_t first, std::size_t last) {
  return std::string(reinterpret_cast<const char*>(b.data()) + first, last - first + 1);
}

// The headers that must be the same on A and B.
const std::vector<std::string> kCompared = {
    "content-type", "content-length", "content-range", "etag",          "x-ipfs-path",
    "x-ipfs-roots", "cache-control",  "location",      "accept-ranges", "content-disposition"};

void require_same(const HttpResult& a, const HttpResult& b, const std::string& what) {
  INFO(what << ": A " << a.status << " B " << b.status << " B body " << b.body.substr(0, 300));
  REQUIRE(a.curl_exit == 0);
  CHECK(b.curl_exit == 0);
  CHECK(a.status == b.status);
  CHECK(a.body.size() == b.body.size());
  CHECK((a.body == b.body));
  for (const std::string& h : kCompared) {
    INFO("header " << h);
    CHECK(a.header(h) == b.header(h));
  }
}

// Waits (bounded) until B runs no IPFS fetch, so that streamed fetches have
// committed and the counters are final.
void wait_ipfs_idle(Gateway& b) {
  CHECK(test::eventually([&] { return b.metric("srcgate_ipfs_fetches_in_flight") == 0; }));
}

using Clock = std::chrono::steady_clock;

// A GET through a plain socket that notes when the first body byte arrived.
struct TimedGet {
  HttpResult result;  // curl_exit 0 when the body reached its Content-Length
  Clock::time_point start;
  std::optional<Clock::time_point> first_body_byte;
  Clock::time_point end;
};

// `leave_after`: the client closes the connection once it has that many body
// bytes.
TimedGet timed_get(std::uint16_t port, const std::string& target,
                   std::size_t leave_after = std::numeric_limits<std::size_t>::max()) {
  TimedGet t;
  t.result.curl_exit = 1;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  t.start = Clock::now();
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  const std::string request =
      "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string data;
  std::size_t head_end = std::string::npos;
  std::vector<char> buf(1 << 16);
  const Clock::time_point give_up = t.start + std::chrono::seconds(30);
  while (Clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;  // closed or reset
    data.append(buf.data(), static_cast<std::size_t>(n));
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) head_end += 4;
    }
    if (head_end != std::string::npos && data.size() > head_end && !t.first_body_byte) {
      t.first_body_byte = Clock::now();
    }
    if (head_end != std::string::npos && data.size() - head_end >= leave_after) break;
  }
  t.end = Clock::now();
  ::close(fd);
  if (head_end == std::string::npos) return t;
  const std::string head = data.substr(0, head_end);
  t.result.body = data.substr(head_end);
  const std::size_t sp = head.find(' ');
  if (sp != std::string::npos) t.result.status = std::atoi(head.c_str() + sp + 1);
  std::size_t pos = head.find("\r\n") + 2;
  while (pos + 2 < head.size()) {
    const std::size_t eol = head.find("\r\n", pos);
    const std::string line = head.substr(pos, eol - pos);
    pos = eol + 2;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::size_t v = colon + 1;
    while (v < line.size() && line[v] == ' ') ++v;
    t.result.headers.emplace(name, line.substr(v));
  }
  const std::string length = t.result.header("content-length");
  if (!length.empty() && std::stoull(length) == t.result.body.size()) t.result.curl_exit = 0;
  return t;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A gateway that forwards every request to `origin` and sends the answer
// paced at `bytes_per_second`, only its first `cut_after` bytes (then closes
// the connection before the Content-Length it announced) when given.
// preload() fetches an answer beforehand, so that its pace is all it costs.
class PacedProxy {
 public:
  PacedProxy(std::string origin, std::uint64_t bytes_per_second,
             std::optional<std::size_t> cut_after = std::nullopt)
      : origin_(std::move(origin)),
        upstream_([this, bytes_per_second, cut_after](const test::UpstreamRequest& req,
                                                      test::UpstreamConnection& conn) {
          const HttpResult r = answer(req.target);
          if (r.status != 200) {
            conn.respond(r.status, r.body);
            return;
          }
          conn.send_head(200, {{"Content-Type", r.header("content-type")},
                               {"Content-Length", std::to_string(r.body.size())}});
          const bool cut = cut_after && *cut_after < r.body.size();
          const std::string_view body =
              std::string_view(r.body).substr(0, cut ? *cut_after : r.body.size());
          conn.write(body, bytes_per_second);
          if (cut) conn.close();
          std::lock_guard lock(mu_);
          ended_ = Clock::now();
        }) {}

  std::string url() const { return upstream_.url(); }
  void preload(const std::string& target) {
    HttpResult r = fetch(target);
    REQUIRE(r.status == 200);
    std::lock_guard lock(mu_);
    answers_[target] = std::move(r);
  }
  // When the last answer's last byte was written.
  Clock::time_point ended() const {
    std::lock_guard lock(mu_);
    return ended_;
  }

 private:
  HttpResult fetch(const std::string& target) const {
    return http(origin_ + target, {"-H", "Accept: application/vnd.ipld.car"});
  }
  HttpResult answer(const std::string& target) const {
    {
      std::lock_guard lock(mu_);
      if (auto it = answers_.find(target); it != answers_.end()) return it->second;
    }
    return fetch(target);
  }

  const std::string origin_;
  mutable std::mutex mu_;
  std::map<std::string, HttpResult> answers_;
  Clock::time_point ended_{};
  test::TestUpstream upstream_;
};

// The CAR request for a whole file, as B sends it.
std::string whole_file_target(const std::string& cid) {
  auto c = content::Cid::parse(cid);
  REQUIRE(c);
  return server::FetchSpec{*c, {}, server::DagScope::entity, std::nullopt}.target();
}

// One request: path below /ipfs/ and extra curl arguments.
struct Probe {
  std::string rest;
  std::vector<std::string> args;
};

}  // namespace

TEST_CASE("B serves A's /ipfs/ files, ranges, directories and CARs byte for byte",
          "[ipfs-upstream]") {
  Origin& a = origin();
  Gateway b({a.gw.url()});

  const std::vector<Probe> probes = {
      {kCache + "/root2/root3/", {}},                     // listing
      {kCache + "/root2/root3/root4/", {}},               // index.html
      {kCache + "/root2/root3/root4/index.html", {}},     // file
      {kCache + "/root2/root3/root4/?format=raw", {}},    // raw block with a path
      {kHamt + "/685.txt", {}},                           // HAMT path, multi-block file
      {kHamt + "/", {}},                                  // HAMT listing
      {kHamt + "/1.txt?format=car&dag-scope=block", {}},  // CAR through a shard
      {kSymlink + "/bar", {}},                            // symlink target
      {kSymlink + "/", {}},                               // listing with a symlink
      {kTwoFiles + "/subdir/ascii.txt?format=car", {}},   // CAR pathing
      {kMixed + "/subdir/multiblock.txt", {"-H", "Range: bytes=300-700"}},
      {kMixed + "/subdir/multiblock.txt?format=car&entity-bytes=300:700", {}},
      {kMixed + "?format=car", {}},  // dag-scope=all
      {kRawBlock + "/dir/ascii.txt?format=raw", {}},
      {kPercent + "/Portugal%252C+Espa%C3%B1a=Peninsula%20Ib%C3%A9rica.txt", {}},
      {kUtf8 + "/%C4%85/%C4%99/", {}},
      {kUtf8 + "/%C4%85/%C4%99/file-%C5%BA%C5%82.txt", {}},
      {kUtf8 + "/%C4%85/%C4%99", {}},                // 301
      {kDagCbor, {}},                                // dag-cbor as is
      {kHamt + "?format=car&dag-scope=entity", {}},  // all the shards
  };
  // Cold on B: each probe is fetched from A.
  for (const Probe& p : probes) {
    HttpResult from_b = http(b.ipfs(p.rest), p.args);
    HttpResult from_a = http(a.gw.ipfs(p.rest), p.args);
    INFO(p.rest);
    CHECK(from_a.status / 100 != 4);
    require_same(from_a, from_b, "cold " + p.rest);
  }
  wait_ipfs_idle(b);
  const double upstream = b.metric("srcgate_ipfs_upstream_requests_total");
  CHECK(upstream > 0);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total", {{"outcome", "ok"}}) == upstream);
  CHECK(b.metric("srcgate_ipfs_upstream_blocks_total") > 0);
  // Warm: the same answers, from B's store alone.
  for (const Probe& p : probes) {
    require_same(http(a.gw.ipfs(p.rest), p.args), http(b.ipfs(p.rest), p.args), "warm " + p.rest);
  }
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total") == upstream);

  // Content that A lacks: 404 on both, B says which gateway it asked.
  HttpResult absent = http(b.ipfs(kAbsent));
  CHECK(absent.status == 404);
  CHECK(http(a.gw.ipfs(kAbsent)).status == 404);
  CHECK_THAT(absent.body, Contains(a.gw.url()));
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total", {{"outcome", "not_found"}}) == 1);
  // only-if-cached never goes upstream.
  const std::string dir_with_files = "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy";
  CHECK(http(a.gw.ipfs(dir_with_files + "/ascii.txt")).status == 200);
  CHECK(
      http(b.ipfs(dir_with_files + "/ascii.txt"), {"-H", "Cache-Control: only-if-cached"}).status ==
      412);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total") == upstream + 1);

  b.check_verifies();
}

TEST_CASE("a Range of a 50 MiB file fetches only its blocks; the whole file becomes a /sha256/ hit",
          "[ipfs-upstream]") {
  Origin& a = origin();
  Gateway b({a.gw.url()});
  const std::size_t first = 25u << 20 | 12345, last = first + (1u << 20) - 1;
  const std::string range = "Range: bytes=" + std::to_string(first) + "-" + std::to_string(last);

  HttpResult part = http(b.ipfs(a.big_root), {"-H", range});
  CHECK(part.status == 206);
  CHECK(part.header("content-range") == "bytes " + std::to_string(first) + "-" +
                                            std::to_string(last) + "/" + std::to_string(kBigSize));
  CHECK((part.body == slice(a.big, first, last)));
  require_same(http(a.gw.ipfs(a.big_root), {"-H", range}), part, "range");
  // Three CARs: the root block (dag-scope=block); the head for sniffing,
  // i.e. root, the first of its two inner nodes (174 leaves of 256 KiB each)
  // and leaf 0; the range, i.e. root, inner node and leaves 100 to 104.
  // 1 + 3 + 7 blocks of the file's 203.
  wait_ipfs_idle(b);
  const double blocks = b.metric("srcgate_ipfs_upstream_blocks_total");
  INFO("blocks fetched for the range: " << blocks);
  CHECK(blocks == 11);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total") == 3);
  CHECK(b.metric("srcgate_ipfs_upstream_bytes_total") < 2.0 * (1 << 20) + 64 * 1024);
  // Not a whole file yet: no name.
  CHECK(http(b.url() + "/sha256/" + a.sha256).status == 404);

  // The whole file: every byte right, then its digests are indexed.
  HttpResult whole = http(b.ipfs(a.big_root));
  CHECK(whole.status == 200);
  REQUIRE(whole.body.size() == kBigSize);
  CHECK(content::to_hex(content::digest_of(content::HashAlgo::sha256,
                                           content::as_bytes(whole.body))) == a.sha256);
  wait_ipfs_idle(b);
  const double after = b.metric("srcgate_ipfs_upstream_blocks_total");
  CHECK(after - blocks >= 200);
  HttpResult named = http(b.url() + "/sha256/" + a.sha256);
  CHECK(named.status == 200);
  CHECK(named.body.size() == kBigSize);
  CHECK((named.body == whole.body));
  auto entry = b.store().lookup(content::digest_of(content::HashAlgo::sha256, a.big));
  REQUIRE(entry);
  REQUIRE(*entry);
  CHECK((*entry)->root.to_string() == a.big_root);
  CHECK(b.metric("srcgate_ipfs_upstream_bad_blocks_total") == 0);
}

TEST_CASE("a whole file streams while a slow gateway sends it; then it is a /sha256/ hit",
          "[ipfs-upstream]") {
  Origin& a = origin();
  // About 3 s for the file's CAR.
  PacedProxy slow(a.gw.url(), 16u << 20);
  slow.preload(whole_file_target(a.big_root));
  Gateway b({slow.url()});
  const TimedGet got = timed_get(b.port(), "/ipfs/" + a.big_root);
  REQUIRE(got.first_body_byte);
  const double ttfb = seconds(*got.first_body_byte - got.start);
  const double total = seconds(got.end - got.start);
  const double upstream_left = seconds(slow.ended() - *got.first_body_byte);
  WARN("streamed 50 MiB: first body byte after " << ttfb << " s, whole body after " << total
                                                 << " s; the gateway sent its last byte "
                                                 << upstream_left << " s after that first byte");
  CHECK(got.result.status == 200);
  CHECK(got.result.curl_exit == 0);
  REQUIRE(got.result.body.size() == kBigSize);
  CHECK(content::to_hex(content::digest_of(content::HashAlgo::sha256,
                                           content::as_bytes(got.result.body))) == a.sha256);
  require_same(http(a.gw.ipfs(a.big_root)), got.result, "streamed");
  CHECK(ttfb < total / 2);
  CHECK(upstream_left > 1.0);
  // One CAR for the root block, one for the file.
  wait_ipfs_idle(b);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total") == 2);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total", {{"outcome", "ok"}}) == 2);
  // The streamed fetch committed the record with the file's digests.
  auto entry = b.store().lookup(content::digest_of(content::HashAlgo::sha256, a.big));
  REQUIRE(entry);
  REQUIRE(*entry);
  CHECK((*entry)->root.to_string() == a.big_root);
  HttpResult named = http(b.url() + "/sha256/" + a.sha256);
  CHECK(named.status == 200);
  CHECK((named.body == got.result.body));
  // A second GET is a hit: no upstream request.
  CHECK((http(b.ipfs(a.big_root)).body == got.result.body));
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total") == 2);
  b.check_verifies();
}

TEST_CASE("a client that leaves a streamed file early does not stop its fetch", "[ipfs-upstream]") {
  Origin& a = origin();
  PacedProxy slow(a.gw.url(), 48u << 20);
  slow.preload(whole_file_target(a.big_root));
  Gateway b({slow.url()});
  const TimedGet got = timed_get(b.port(), "/ipfs/" + a.big_root, 1u << 20);
  CHECK(got.result.status == 200);
  REQUIRE(got.result.body.size() >= (1u << 20));
  CHECK(got.result.body.size() < kBigSize);
  CHECK((got.result.body == slice(a.big, 0, got.result.body.size() - 1)));
  // The fetch goes on and fills the cache: the file gets its names.
  CHECK(test::eventually([&] {
    auto entry = b.store().lookup(content::digest_of(content::HashAlgo::sha256, a.big));
    return entry && entry->has_value();
  }));
  wait_ipfs_idle(b);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total", {{"outcome", "ok"}}) == 2);
  HttpResult named = http(b.url() + "/sha256/" + a.sha256);
  CHECK(named.status == 200);
  CHECK(named.body.size() == kBigSize);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total") == 2);
}

TEST_CASE("a gateway that cuts its CAR midway: B cuts its response, or goes on with the next",
          "[ipfs-upstream]") {
  Origin& a = origin();
  // Cuts the file's CAR after 24 MiB (about 0.8 s), keeps the small CARs whole.
  PacedProxy cutter(a.gw.url(), 30u << 20, std::size_t{24} << 20);
  cutter.preload(whole_file_target(a.big_root));
  const auto sha = content::digest_of(content::HashAlgo::sha256, a.big);

  SECTION("alone: the client never gets a complete body") {
    Gateway b({cutter.url()});
    const TimedGet got = timed_get(b.port(), "/ipfs/" + a.big_root);
    INFO("status " << got.result.status << ", " << got.result.body.size() << " body bytes");
    // The response had started from the verified blocks, then is cut.
    CHECK(got.result.status == 200);
    CHECK(got.result.header("content-length") == std::to_string(kBigSize));
    CHECK(got.result.curl_exit != 0);
    CHECK(!got.result.body.empty());
    CHECK(got.result.body.size() < kBigSize);
    CHECK(got.result.body.size() <= (std::size_t{24} << 20));
    CHECK((got.result.body == slice(a.big, 0, got.result.body.size() - 1)));
    wait_ipfs_idle(b);
    CHECK(b.metric("srcgate_ipfs_upstream_requests_total", {{"gateway", cutter.url()}}) == 2);
    CHECK(b.metric("srcgate_ipfs_upstream_requests_total", {{"outcome", "ok"}}) == 1);
    auto entry = b.store().lookup(sha);
    REQUIRE(entry);
    CHECK(!entry->has_value());
    b.check_verifies_and_close();
  }

  SECTION("before a good gateway: the whole file, exact") {
    Gateway b({cutter.url(), a.gw.url()});
    const TimedGet got = timed_get(b.port(), "/ipfs/" + a.big_root);
    CHECK(got.result.status == 200);
    CHECK(got.result.curl_exit == 0);
    // The response began with the first gateway's blocks, before its cut.
    REQUIRE(got.first_body_byte);
    CHECK(*got.first_body_byte < cutter.ended());
    REQUIRE(got.result.body.size() == kBigSize);
    CHECK(content::to_hex(content::digest_of(content::HashAlgo::sha256,
                                             content::as_bytes(got.result.body))) == a.sha256);
    wait_ipfs_idle(b);
    CHECK(b.metric("srcgate_ipfs_upstream_requests_total",
                   {{"gateway", a.gw.url()}, {"outcome", "ok"}}) == 1);
    CHECK(b.metric("srcgate_ipfs_upstream_requests_total", {{"outcome", "ok"}}) == 2);
    auto entry = b.store().lookup(sha);
    REQUIRE(entry);
    REQUIRE(*entry);
    CHECK((*entry)->root.to_string() == a.big_root);
    CHECK(http(b.url() + "/sha256/" + a.sha256).status == 200);
    b.check_verifies();
  }
}

TEST_CASE("concurrent cold requests share one upstream fetch per stage", "[ipfs-upstream]") {
  Origin& a = origin();
  Gateway b({a.gw.url()});
  const std::string target = kHamt + "/685.txt";
  const std::string expected = http(a.gw.ipfs(target)).body;
  REQUIRE(!expected.empty());
  std::vector<std::thread> clients;
  std::vector<HttpResult> results(8);
  for (std::size_t i = 0; i < results.size(); ++i) {
    clients.emplace_back([&, i] { results[i] = http(b.ipfs(target)); });
  }
  for (auto& t : clients) t.join();
  for (const HttpResult& r : results) {
    CHECK(r.status == 200);
    CHECK(r.body == expected);
  }
  // Stage 1 (path through the shard) and stage 2 (the file), once each.
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total") == 2);
}

TEST_CASE("a refused gateway and one serving a corrupted block are bypassed", "[ipfs-upstream]") {
  Origin& a = origin();
  // Forwards to A and flips the last byte of every CAR body (inside the last
  // block), keeping the length.
  std::atomic<int> corrupted{0};
  test::TestUpstream flipper([&](const test::UpstreamRequest& req, test::UpstreamConnection& conn) {
    HttpResult r = http(a.gw.url() + req.target, {"-H", "Accept: application/vnd.ipld.car"});
    if (r.status == 200 && !r.body.empty()) {
      r.body.back() = static_cast<char>(r.body.back() ^ 0x01);
      ++corrupted;
    }
    conn.respond(r.status, r.body, {{"Content-Type", r.header("content-type")}});
  });
  const std::string refused = "http://127.0.0.1:1";
  const std::string bad = flipper.url();
  Gateway b({refused, bad, a.gw.url()});

  const std::string target = kMixed + "/subdir/multiblock.txt";
  HttpResult from_b = http(b.ipfs(target));
  require_same(http(a.gw.ipfs(target)), from_b, "through bad gateways");
  HttpResult whole = http(b.ipfs(a.big_root), {"-H", "Range: bytes=0-99999"});
  CHECK(whole.status == 206);
  CHECK((whole.body == slice(a.big, 0, 99999)));
  wait_ipfs_idle(b);

  CHECK(corrupted >= 2);
  CHECK(b.metric("srcgate_ipfs_upstream_bad_blocks_total") == corrupted);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total",
                 {{"gateway", bad}, {"outcome", "bad_block"}}) == corrupted);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total",
                 {{"gateway", refused}, {"outcome", "connect"}}) >= 2);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total",
                 {{"gateway", a.gw.url()}, {"outcome", "ok"}}) >= 2);

  b.check_verifies_and_close();
}

TEST_CASE("a hash miss whose source index holds ipfs://<cid> is answered from IPFS",
          "[ipfs-upstream]") {
  Origin& a = origin();
  Gateway b({a.gw.url()});
  const content::Bytes other = test::deterministic_bytes("ipfs-source-other", 300'000);
  const std::string other_root =
      a.gw.import(other, content::ImportProfile::v1_2025).dag.root.to_string();
  auto sha = content::digest_of(content::HashAlgo::sha256, a.big);
  const std::string path = "/sha256/" + a.sha256;
  // Without a source: offline for hashes, a 404 and no IPFS request.
  CHECK(http(b.url() + path).status == 404);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total") == 0);
  // A CID of another file first: fetched, but it does not answer the digest.
  REQUIRE(b.store().add_source(sha, "ipfs://" + other_root));
  CHECK(http(b.url() + path).status == 404);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total", {{"outcome", "ok"}}) == 1);
  auto other_entry = b.store().lookup(content::digest_of(content::HashAlgo::sha256, other));
  REQUIRE(other_entry);
  CHECK(other_entry->has_value());
  // Then the right CID (sources are kept in byte order: "ipfs://Qm" sorts
  // before "ipfs://bafk", so the right one is asked first now).
  REQUIRE(b.store().add_source(sha, "ipfs://" + a.big_root));
  HttpResult hit = http(b.url() + path);
  CHECK(hit.status == 200);
  REQUIRE(hit.body.size() == kBigSize);
  CHECK(content::to_hex(content::digest_of(content::HashAlgo::sha256,
                                           content::as_bytes(hit.body))) == a.sha256);
  const double requests = b.metric("srcgate_ipfs_upstream_requests_total");
  // Now a plain hit, also by sha512; only-if-cached never goes upstream.
  CHECK(http(b.url() + path).status == 200);
  CHECK(http(b.url() + "/sha512/" +
             content::to_hex(content::digest_of(content::HashAlgo::sha512, a.big)))
            .status == 200);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total") == requests);
  const content::Digest absent =
      content::digest_of(content::HashAlgo::sha256, content::as_bytes(std::string_view("absent")));
  REQUIRE(b.store().add_source(absent, "ipfs://" + a.big_root));
  CHECK(
      http(b.url() + "/sha256/" + content::to_hex(absent), {"-H", "Cache-Control: only-if-cached"})
          .status == 412);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total") == requests);
}

TEST_CASE("srcgate serve --ipfs-gateway: one srcgate process feeds another", "[ipfs-upstream]") {
  test::TempDir dir;
  const std::string bin = test::srcgate_binary().string();
  const std::string store_a = (dir / "a").string(), store_b = (dir / "b").string();
  const content::Bytes data = test::deterministic_bytes("ipfs-upstream-serve", 3u << 20 | 777);
  test::write_file(dir / "file.bin", data);
  const auto imported = test::run_command({bin, "import", "--data", store_a, "--profile",
                                           "unixfs-v1-2025", (dir / "file.bin").string()});
  INFO("srcgate import: " << imported.err);
  REQUIRE(imported.exit_code == 0);
  const std::string key = "\"cid\":\"";
  const std::size_t at = imported.out.find(key);
  REQUIRE(at != std::string::npos);
  const std::string root = imported.out.substr(at + key.size(), 59);
  REQUIRE(root.starts_with("bafybei"));
  const auto cars = test::run_command(
      {bin, "import-car", "--data", store_a,
       test::fixture("trustless_gateway_car/single-layer-hamt-with-multi-block-files.car")
           .string()});
  INFO("srcgate import-car: " << cars.err);
  REQUIRE(cars.exit_code == 0);

  test::ServeProcess a(
      {bin, "serve", "--offline", "--listen", "127.0.0.1:0", "--threads", "2", "--data", store_a});
  const std::string url_a = "http://127.0.0.1:" + a.wait_for_port();
  std::optional<test::ServeProcess> b;
  b.emplace(std::vector<std::string>{bin, "serve", "--no-default-upstreams", "--ipfs-gateway",
                                     url_a, "--listen", "127.0.0.1:0", "--threads", "2", "--data",
                                     store_b});
  const std::string url_b = "http://127.0.0.1:" + b->wait_for_port();

  for (const Probe& p : std::vector<Probe>{{kHamt + "/685.txt", {}},
                                           {kHamt + "/", {}},
                                           {kHamt + "/685.txt?format=car", {}},
                                           {root, {"-H", "Range: bytes=1048000-2100000"}},
                                           {root + "?format=car&entity-bytes=-1000:*", {}},
                                           {root, {}}}) {
    require_same(http(url_a + "/ipfs/" + p.rest, p.args), http(url_b + "/ipfs/" + p.rest, p.args),
                 p.rest);
  }
  const std::string sha256 = content::to_hex(content::digest_of(content::HashAlgo::sha256, data));
  // The whole file streamed; its record is committed when B's fetch ends.
  CHECK(test::eventually([&] {
    const auto m = test::parse_metrics(http(url_b + "/metrics").body);
    return test::metric(m, "srcgate_ipfs_fetches_in_flight") == 0.0;
  }));
  HttpResult named = http(url_b + "/sha256/" + sha256);
  CHECK(named.status == 200);
  CHECK((named.body == std::string(data.begin(), data.end())));
  const auto metrics = test::parse_metrics(http(url_b + "/metrics").body);
  CHECK(test::metric_sum(metrics, "srcgate_ipfs_upstream_requests_total",
                         {{"gateway", url_a}, {"outcome", "ok"}}) > 0);
  CHECK(test::metric_sum(metrics, "srcgate_ipfs_upstream_requests_total") ==
        test::metric_sum(metrics, "srcgate_ipfs_upstream_requests_total", {{"outcome", "ok"}}));
  b.reset();
  const auto v = test::run_command({bin, "verify", "--data", store_b});
  INFO("srcgate verify: " << v.out << v.err);
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("\"problems\":0") != std::string::npos);
}
