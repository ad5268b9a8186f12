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
// - concurrent cold requests share their upstream fetches;
// - a refused gateway and a gateway that flips a byte of A's CARs, listed
//   before A, are detected (metrics) and bypassed; B's store then passes
//   BlockStore::verify and `srcgate verify`;
// - the same with two `srcgate serve` processes: B started with
//   --ipfs-gateway http://A --no-default-upstreams.
// Expected bytes come from the fixture CARs read here and from
// deterministic_bytes(), never from B alone.
#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
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
  std::string ipfs(const std::string& rest) const { return url_ + "/ipfs/" + rest; }
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

  auto report = b.store().verify({});
  REQUIRE(report);
  CHECK(report->ok());
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
  // Three CARs: the root block (dag-scope=block); the range, i.e. the root,
  // the first of its two inner nodes (174 leaves of 256 KiB each) and leaves
  // 100 to 104; the head for sniffing, i.e. root, inner node and leaf 0.
  // 1 + 7 + 3 blocks of the file's 203.
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

  CHECK(corrupted >= 2);
  CHECK(b.metric("srcgate_ipfs_upstream_bad_blocks_total") == corrupted);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total",
                 {{"gateway", bad}, {"outcome", "bad_block"}}) == corrupted);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total",
                 {{"gateway", refused}, {"outcome", "connect"}}) >= 2);
  CHECK(b.metric("srcgate_ipfs_upstream_requests_total",
                 {{"gateway", a.gw.url()}, {"outcome", "ok"}}) >= 2);

  auto report = b.store().verify({});
  REQUIRE(report);
  CHECK(report->ok());
  const std::filesystem::path dir = b.store_dir();
  b.close();
  const test::CommandResult v =
      test::run_command({test::srcgate_binary().string(), "verify", "--data", dir.string()});
  INFO("srcgate verify: " << v.out << v.err);
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("\"problems\":0") != std::string::npos);
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
