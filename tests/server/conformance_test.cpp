// The gateway-conformance checks of ipfs-gateway.md §4.5, ported: the
// fixture CARs are loaded with the store's CAR import into a RocksDB store,
// the gateway serves them on 127.0.0.1 port 0, and curl asks. Expected values
// come from the notes (CIDs, byte counts) and from an independent walk of the
// fixture CARs in this file (Fixture: dag-pb links decoded directly), never
// from the gateway's own code paths.
// Groups: raw blocks (TrustlessRaw, GatewayBlock), cache headers and 304/412
// (GatewayCache), file ranges incl. the missing-block file
// (GatewayUnixFSFileRanges), CAR pathing / dag-scope / entity-bytes / order
// and dups / format precedence (TrustlessCar*), HAMT and symlink paths,
// percent-encoded and UTF-8 names, directory listings and redirects, codec
// blocks without conversion (406), identity CIDs, 404 and 400.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "content/car.hpp"
#include "content/dag_pb.hpp"
#include "content/unixfs.hpp"
#include "tests/server/gateway_test_support.hpp"

using namespace srcgate;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using content::Bytes;
using content::Cid;
using test::http;
using test::HttpResult;
using test::parse_car;
using test::TestGateway;

namespace {

// The blocks of one fixture CAR, read without the gateway, for expected values.
class Fixture {
 public:
  explicit Fixture(std::string_view path) {
    const Bytes car = test::read_file(test::fixture(path));
    auto r = content::read_car(car, {[&](const content::CarHeader& h) {
                                       REQUIRE(!h.roots.empty());
                                       roots_ = h.roots;
                                       return content::Result<void>();
                                     },
                                     [&](const Cid& cid, content::ByteView block, std::uint64_t) {
                                       blocks_.emplace(cid.to_string(),
                                                       Bytes(block.begin(), block.end()));
                                       return content::Result<void>();
                                     }});
    INFO(path);
    REQUIRE(r);
  }

  std::string root() const { return roots_.front().to_string(); }
  const Bytes& block(const std::string& cid) const {
    auto it = blocks_.find(cid);
    INFO("block " << cid);
    REQUIRE(it != blocks_.end());
    return it->second;
  }
  std::string raw(const std::string& cid) const {
    const Bytes& b = block(cid);
    return std::string(b.begin(), b.end());
  }

  // Follows names from the root through plain and HAMT directories; in a HAMT
  // an entry link is named <2 hex digits><name>, a sub-shard link <2 hex
  // digits>, and the search visits every sub-shard (no hashing needed).
  std::string at(const std::vector<std::string>& names) const {
    std::string cur = root();
    for (const std::string& name : names) {
      std::vector<std::string> shards;
      const std::string next = find(cur, name, shards);
      INFO("no '" << name << "' in " << cur);
      REQUIRE(!next.empty());
      cur = next;
    }
    return cur;
  }
  // The HAMT sub-shards between `dir` and its entry `name`, in order.
  std::vector<std::string> shards_to(const std::string& dir, const std::string& name) const {
    std::vector<std::string> shards;
    REQUIRE(!find(dir, name, shards).empty());
    return shards;
  }

  // Every block below `cid` (not `cid` itself) in DFS pre-order, repeats kept.
  std::vector<std::string> descendants(const std::string& cid) const {
    std::vector<std::string> out;
    walk(cid, out);
    out.erase(out.begin());
    return out;
  }
  // `cid` and its sub-shards (links named by two hex digits only), DFS pre-order.
  std::vector<std::string> hamt_shards(const std::string& cid) const {
    std::vector<std::string> out{cid};
    for (const auto& [name, child] : links(cid)) {
      if (name.size() == 2 && is_hex2(name)) {
        auto sub = hamt_shards(child);
        out.insert(out.end(), sub.begin(), sub.end());
      }
    }
    return out;
  }
  // A file's bytes: leaf data in DFS order (raw leaves whole, dag-pb Data.Data).
  std::string cat(const std::string& cid) const {
    auto c = Cid::parse(cid);
    REQUIRE(c);
    const Bytes& b = block(cid);
    if (c->codec() == static_cast<std::uint64_t>(content::Codec::raw)) {
      return std::string(b.begin(), b.end());
    }
    auto pb = content::decode_dag_pb(b);
    REQUIRE(pb);
    REQUIRE(pb->data);
    auto fs = content::decode_unixfs(*pb->data);
    REQUIRE(fs);
    std::string out = fs->data ? std::string(content::as_chars(*fs->data)) : std::string();
    for (const auto& link : pb->links) out += cat(link.hash.to_string());
    return out;
  }

 private:
  // The CID of entry `name` of directory `dir`; "" when absent. Appends the
  // sub-shards on the way to `shards`.
  std::string find(const std::string& dir, const std::string& name,
                   std::vector<std::string>& shards) const {
    for (const auto& [link_name, cid] : links(dir)) {
      if (link_name == name || (link_name.size() == name.size() + 2 && is_hex2(link_name) &&
                                link_name.substr(2) == name)) {
        return cid;
      }
    }
    for (const auto& [link_name, cid] : links(dir)) {
      if (link_name.size() != 2 || !is_hex2(link_name)) continue;
      shards.push_back(cid);
      std::string found = find(cid, name, shards);
      if (!found.empty()) return found;
      shards.pop_back();
    }
    return "";
  }
  static bool is_hex2(std::string_view s) {
    auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
    return s.size() >= 2 && hex(s[0]) && hex(s[1]);
  }
  std::vector<std::pair<std::string, std::string>> links(const std::string& cid) const {
    std::vector<std::pair<std::string, std::string>> out;
    auto c = Cid::parse(cid);
    REQUIRE(c);
    if (c->codec() != static_cast<std::uint64_t>(content::Codec::dag_pb)) return out;
    auto pb = content::decode_dag_pb(block(cid));
    REQUIRE(pb);
    for (const auto& l : pb->links) out.emplace_back(l.name.value_or(""), l.hash.to_string());
    return out;
  }
  void walk(const std::string& cid, std::vector<std::string>& out) const {
    out.push_back(cid);
    if (blocks_.count(cid) == 0) return;
    for (const auto& [name, child] : links(cid)) walk(child, out);
  }

  std::vector<Cid> roots_;
  std::map<std::string, Bytes> blocks_;
};

std::vector<std::string> concat(std::initializer_list<std::vector<std::string>> parts) {
  std::vector<std::string> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Loads every fixture the suite uses into one gateway.
class ConformanceGateway : public TestGateway {
 public:
  ConformanceGateway() {
    for (const char* car : {"gateway-raw-block.car", "gateway-cache/fixtures.car",
                            "path_gateway_unixfs/dir-with-files.car",
                            "path_gateway_unixfs/dir-with-percent-encoded-filename.car",
                            "path_gateway_unixfs/symlink.car",
                            "trustless_gateway_car/subdir-with-two-single-block-files.car",
                            "trustless_gateway_car/subdir-with-mixed-block-files.car",
                            "trustless_gateway_car/dir-with-duplicate-files.car",
                            "trustless_gateway_car/file-3k-and-3-blocks-missing-block.car",
                            "trustless_gateway_car/single-layer-hamt-with-multi-block-files.car",
                            "trustless_gateway_car/dir-with-dag-cbor-with-links.car",
                            "dir_listing/fixtures.car", "path_gateway_dag/dag-cbor-traversal.car",
                            "path_gateway_dag/plain-json.car", "path_gateway_dag/plain-cbor.car"}) {
      import_car(car);
    }
  }
  std::string ipfs(const std::string& rest) const { return url() + "/ipfs/" + rest; }
};

ConformanceGateway& gateway() {
  static ConformanceGateway gw;
  return gw;
}

const std::string kImmutable = "public, max-age=29030400, immutable";
const std::string kMissingRoot = "QmYzfKSE55XCjD1MW128RfciAf2DViABhEiXfgVFMabSjN";

std::vector<std::string> car_blocks(const HttpResult& r) {
  INFO("status " << r.status << " body " << r.body.substr(0, 200));
  REQUIRE(r.status == 200);
  return parse_car(r.body).blocks;
}

}  // namespace

TEST_CASE("raw blocks: body, headers, filename and ranges (TrustlessRaw, GatewayBlock)",
          "[conformance][raw]") {
  auto& gw = gateway();
  const Fixture f("gateway-raw-block.car");
  const std::string dir = f.root();
  CHECK(dir == "bafybeie72edlprgtlwwctzljf6gkn2wnlrddqjbkxo3jomh4n7omwblxly");

  HttpResult by_format = http(gw.ipfs(dir + "?format=raw"));
  CHECK(by_format.status == 200);
  CHECK((by_format.body == f.raw(dir)));
  HttpResult by_accept = http(gw.ipfs(dir), {"-H", "Accept: application/vnd.ipld.raw"});
  CHECK(by_accept.status == 200);
  CHECK((by_accept.body == f.raw(dir)));
  CHECK(by_accept.header("content-location") == "/ipfs/" + dir + "?format=raw");

  const std::string file = f.at({"dir", "ascii.txt"});
  const std::string block = f.raw(file);
  for (const char* method : {"HEAD", "GET"}) {
    INFO(method);
    HttpResult r = http(gw.ipfs(file + "?format=raw"), {}, method);
    CHECK(r.status == 200);
    CHECK(r.header("content-type") == "application/vnd.ipld.raw");
    CHECK(r.header("content-length") == std::to_string(block.size()));
    CHECK_THAT(r.header("content-disposition"), StartsWith("attachment;"));
    CHECK_THAT(r.header("content-disposition"), Contains("filename=\"" + file + ".bin\""));
    CHECK(r.header("x-content-type-options") == "nosniff");
    CHECK(r.header("etag") == "\"" + file + ".raw\"");
    CHECK(r.header("x-ipfs-path") == "/ipfs/" + file);
    CHECK_THAT(r.header("x-ipfs-roots"), Contains(file));
    CHECK(r.header("cache-control") == kImmutable);
    if (std::string(method) == "GET") CHECK((r.body == block));
  }
  HttpResult named = http(gw.ipfs(file + "?format=raw&filename=foobar.bin"));
  CHECK_THAT(named.header("content-disposition"), Contains("attachment;"));
  CHECK_THAT(named.header("content-disposition"), Contains("filename=\"foobar.bin"));

  // Single ranges of the raw block (TrustlessRawRanges).
  for (auto [a, b] : std::vector<std::pair<std::size_t, std::size_t>>{
           {0, 0}, {0, 4}, {6, 16}, {block.size() - 1, block.size() - 1}, {3, block.size() - 2}}) {
    const std::string range = std::to_string(a) + "-" + std::to_string(b);
    HttpResult r = http(gw.ipfs(file + "?format=raw"), {"-H", "Range: bytes=" + range});
    INFO(range);
    CHECK(r.status == 206);
    CHECK(r.header("content-range") == "bytes " + range + "/" + std::to_string(block.size()));
    CHECK(r.body == block.substr(a, b - a + 1));
  }
  // A raw request with a path returns the terminal block (path gateway).
  HttpResult pathed = http(gw.ipfs(dir + "/dir/ascii.txt?format=raw"));
  CHECK(pathed.status == 200);
  CHECK((pathed.body == block));
  CHECK(pathed.header("x-ipfs-roots") == dir + "," + f.at({"dir"}) + "," + file);
}

TEST_CASE(
    "cache headers, X-Ipfs-Path/Roots, Etags, 304 variants and only-if-cached 412 "
    "(GatewayCache)",
    "[conformance][cache]") {
  auto& gw = gateway();
  const Fixture f("gateway-cache/fixtures.car");
  const std::string root = f.root();
  const std::string root2 = f.at({"root2"});
  const std::string root3 = f.at({"root2", "root3"});
  const std::string root4 = f.at({"root2", "root3", "root4"});
  const std::string index = f.at({"root2", "root3", "root4", "index.html"});
  CHECK(root2 == "bafybeih2w7hjocxjg6g2ku25hvmd53zj7og4txpby3vsusfefw5rrg5sii");
  CHECK(root3 == "bafybeiawdvhmjcz65x5egzx4iukxc72hg4woks6v6fvgyupiyt3oczk5ja");
  CHECK(root4 == "bafybeifq2rzpqnqrsdupncmkmhs3ckxxjhuvdcbvydkgvch3ms24k5lo7q");
  CHECK(index == "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am");

  // Directory listing.
  HttpResult listing = http(gw.ipfs(root + "/root2/root3/"));
  CHECK(listing.status == 200);
  CHECK((listing.header("cache-control").empty() ||
         listing.header("cache-control") ==
             "public, max-age=604800, stale-while-revalidate=2678400"));
  CHECK(listing.header("x-ipfs-path") == "/ipfs/" + root + "/root2/root3/");
  CHECK(listing.header("x-ipfs-roots") == root + "," + root2 + "," + root3);
  CHECK_THAT(listing.header("etag"), StartsWith("\"DirIndex-"));
  CHECK_THAT(listing.header("etag"), Contains("_CID-" + root3));
  CHECK_THAT(listing.body, Contains("root4"));
  CHECK_THAT(listing.header("content-type"), StartsWith("text/html"));

  // Directory with index.html.
  HttpResult with_index = http(gw.ipfs(root + "/root2/root3/root4/"));
  CHECK(with_index.status == 200);
  CHECK(with_index.header("cache-control") == kImmutable);
  CHECK(with_index.header("x-ipfs-path") == "/ipfs/" + root + "/root2/root3/root4/");
  CHECK(with_index.header("x-ipfs-roots") == root + "," + root2 + "," + root3 + "," + root4);
  CHECK(with_index.header("etag") == "\"" + root4 + "\"");
  CHECK(with_index.body == "hello\n");
  CHECK_THAT(with_index.header("content-type"), StartsWith("text/html"));

  // The file itself.
  HttpResult file = http(gw.ipfs(root + "/root2/root3/root4/index.html"));
  CHECK(file.status == 200);
  CHECK(file.header("cache-control") == kImmutable);
  CHECK(file.header("x-ipfs-path") == "/ipfs/" + root + "/root2/root3/root4/index.html");
  CHECK(file.header("x-ipfs-roots") ==
        root + "," + root2 + "," + root3 + "," + root4 + "," + index);
  CHECK(file.header("etag") == "\"" + index + "\"");
  CHECK(file.body == "hello\n");

  // The raw block of a directory with a path.
  HttpResult raw4 = http(gw.ipfs(root + "/root2/root3/root4/?format=raw"));
  CHECK(raw4.status == 200);
  CHECK((raw4.body == f.raw(root4)));
  CHECK(raw4.header("cache-control") == kImmutable);

  // only-if-cached: 200 when local, 412 when not, for HEAD and GET.
  for (const char* method : {"HEAD", "GET"}) {
    INFO(method);
    CHECK(http(gw.ipfs(root + "/root2/root3/root4/?format=raw"),
               {"-H", "Cache-Control: only-if-cached"}, method)
              .status == 200);
    HttpResult miss = http(gw.ipfs(kMissingRoot), {"-H", "Cache-Control: only-if-cached"}, method);
    CHECK(miss.status == 412);
    CHECK(miss.body.empty());
  }
  CHECK(http(gw.ipfs(kMissingRoot)).status == 404);

  // If-None-Match.
  const std::string file_url = gw.ipfs(root + "/root2/root3/root4/index.html");
  for (const std::string& inm :
       {"\"" + index + "\"", "\"fakeEtag1\", \"fakeEtag2\", \"" + index + "\"",
        "W/\"" + index + "\"", std::string("*")}) {
    INFO("If-None-Match: " << inm);
    HttpResult r = http(file_url, {"-H", "If-None-Match: " + inm});
    CHECK(r.status == 304);
    CHECK(r.body.empty());
  }
  CHECK(http(file_url, {"-H", "If-None-Match: \"fakeEtag1\""}).status == 200);
  CHECK(http(gw.ipfs(root + "/root2/root3/root4/"), {"-H", "If-None-Match: \"" + root4 + "\""})
            .status == 304);
  CHECK(
      http(gw.ipfs(root + "/root2/root3/"), {"-H", "If-None-Match: W/\"" + root3 + "\""}).status ==
      304);
  const std::string dir_etag = listing.header("etag");
  CHECK(http(gw.ipfs(root + "/root2/root3/"), {"-H", "If-None-Match: " + dir_etag}).status == 304);
  CHECK(http(gw.ipfs(root + "/root2/root3/"), {"-H", "If-None-Match: W/" + dir_etag}).status ==
        304);
}

TEST_CASE(
    "file ranges, including a file whose middle block is missing "
    "(GatewayUnixFSFileRanges)",
    "[conformance][range]") {
  auto& gw = gateway();
  const Fixture f("path_gateway_unixfs/dir-with-files.car");
  const std::string url = gw.ipfs(f.root() + "/ascii.txt");
  const std::string ascii = "hello application/vnd.ipld.car\n";
  REQUIRE(f.cat(f.at({"ascii.txt"})) == ascii);

  HttpResult whole = http(url);
  CHECK(whole.status == 200);
  CHECK(whole.body == ascii);
  CHECK(whole.header("accept-ranges") == "bytes");
  CHECK_THAT(whole.header("content-type"), StartsWith("text/plain"));

  HttpResult single = http(url, {"-H", "Range: bytes=6-16"});
  CHECK(single.status == 206);
  CHECK_THAT(single.header("content-type"), Contains("text/plain"));
  CHECK(single.header("content-range") == "bytes 6-16/31");
  CHECK(single.body == ascii.substr(6, 11));

  HttpResult suffix = http(url, {"-H", "Range: bytes=-3"});
  CHECK(suffix.status == 206);
  CHECK(suffix.header("content-range") == "bytes 28-30/31");
  CHECK(suffix.body == ascii.substr(28));

  HttpResult multi = http(url, {"-H", "Range: bytes=6-16,0-4"});  // first range only
  CHECK(multi.status == 206);
  CHECK_THAT(multi.header("content-type"), Contains("text/plain"));
  CHECK(multi.header("content-range") == "bytes 6-16/31");
  CHECK(multi.body == ascii.substr(6, 11));

  CHECK(http(url, {"-H", "Range: bytes=31-"}).status == 416);

  // multiblock.txt across leaf boundaries.
  const std::string multiblock = f.cat(f.at({"multiblock.txt"}));
  REQUIRE(multiblock.size() == 1026);
  HttpResult across = http(gw.ipfs(f.root() + "/multiblock.txt"), {"-H", "Range: bytes=250-800"});
  CHECK(across.status == 206);
  CHECK(across.body == multiblock.substr(250, 551));
  CHECK(http(gw.ipfs(f.root() + "/multiblock.txt")).body == multiblock);

  // The 3 KiB file with its middle 1 KiB leaf absent from the CAR.
  const Fixture m("trustless_gateway_car/file-3k-and-3-blocks-missing-block.car");
  const std::string root = m.root();
  CHECK(root == "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk");
  const std::string first_leaf = m.cat("QmPKt7ptM2ZYSGPUc8PmPT2VBkLDK3iqpG9TBJY7PCE9rF");
  const std::string last_leaf = m.cat("QmWXY482zQdwecnfBsj78poUUuPXvyw2JAFAEMw4tzTavV");
  REQUIRE(first_leaf.size() == 1024);
  // Content-Type: the whole file's type (its first bytes are random, so
  // application/octet-stream); the Go suite expects text/plain here, which is
  // what Go's sniffing of the range's own bytes happens to give.
  HttpResult before = http(gw.ipfs(root), {"-H", "Range: bytes=997-1000"});
  CHECK(before.status == 206);
  CHECK(before.header("content-type") == "application/octet-stream");
  CHECK(before.header("content-range") == "bytes 997-1000/3072");
  CHECK(before.body == first_leaf.substr(997, 4));
  HttpResult after = http(gw.ipfs(root), {"-H", "Range: bytes=2200-2201"});
  CHECK(after.status == 206);
  CHECK(after.header("content-type") == "application/octet-stream");
  CHECK(after.header("content-range") == "bytes 2200-2201/3072");
  CHECK(after.body == last_leaf.substr(2200 - 2048, 2));
  // The whole file cannot be completed: the connection is cut, never a short 200.
  HttpResult cut = http(gw.ipfs(root));
  CHECK(cut.curl_exit != 0);
  CHECK(cut.body.size() < 3072);
}

TEST_CASE("CAR pathing and dag-scope=block|entity|all (TrustlessCarPathing, DagScope*)",
          "[conformance][car]") {
  auto& gw = gateway();
  const Fixture two("trustless_gateway_car/subdir-with-two-single-block-files.car");
  const Fixture mixed("trustless_gateway_car/subdir-with-mixed-block-files.car");
  const Fixture hamt("trustless_gateway_car/single-layer-hamt-with-multi-block-files.car");
  const Fixture cbor("trustless_gateway_car/dir-with-dag-cbor-with-links.car");
  CHECK(hamt.root() == "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i");

  // Pathing: the path's blocks, then the terminal entity recursively.
  CHECK(car_blocks(http(gw.ipfs(two.root() + "/subdir/ascii.txt?format=car"))) ==
        std::vector<std::string>{two.root(), two.at({"subdir"}), two.at({"subdir", "ascii.txt"})});
  const std::string f685 = hamt.at({"685.txt"});
  CHECK(
      car_blocks(http(gw.ipfs(hamt.root() + "/685.txt?format=car"))) ==
      concat(
          {{hamt.root()}, hamt.shards_to(hamt.root(), "685.txt"), {f685}, hamt.descendants(f685)}));
  // A missing path: 404 (allowed instead of a partial CAR).
  CHECK(http(gw.ipfs(two.root() + "/subdir/i-do-not-exist?format=car")).status == 404);

  // dag-scope=block.
  CHECK(car_blocks(http(gw.ipfs(two.root() + "/subdir?format=car&dag-scope=block"))) ==
        std::vector<std::string>{two.root(), two.at({"subdir"})});
  CHECK(car_blocks(http(gw.ipfs(two.root() + "/subdir/ascii.txt?format=car&dag-scope=block"))) ==
        std::vector<std::string>{two.root(), two.at({"subdir"}), two.at({"subdir", "ascii.txt"})});
  CHECK(car_blocks(http(gw.ipfs(hamt.root() + "/1.txt?format=car&dag-scope=block"))) ==
        concat({{hamt.root()}, hamt.shards_to(hamt.root(), "1.txt"), {hamt.at({"1.txt"})}}));

  // dag-scope=entity.
  CHECK(car_blocks(http(gw.ipfs(two.root() + "?format=car&dag-scope=entity"))) ==
        std::vector<std::string>{two.root()});
  CHECK(car_blocks(http(gw.ipfs(hamt.root() + "?format=car&dag-scope=entity"))) ==
        hamt.hamt_shards(hamt.root()));
  CHECK(car_blocks(http(gw.ipfs(mixed.root() + "/subdir/ascii.txt?format=car&dag-scope=entity"))) ==
        std::vector<std::string>{mixed.root(), mixed.at({"subdir"}),
                                 mixed.at({"subdir", "ascii.txt"})});
  const std::string mb = mixed.at({"subdir", "multiblock.txt"});
  const std::vector<std::string> mb_leaves = mixed.descendants(mb);
  CHECK(mb_leaves ==
        std::vector<std::string>{"bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm",
                                 "bafkreih4ephajybraj6wnxsbwjwa77fukurtpl7oj7t7pfq545duhot7cq",
                                 "bafkreigu7buvm3cfunb35766dn7tmqyh2um62zcio63en2btvxuybgcpue",
                                 "bafkreicll3huefkc3qnrzeony7zcfo7cr3nbx64hnxrqzsixpceg332fhe",
                                 "bafkreifst3pqztuvj57lycamoi7z34b4emf7gawxs74nwrc2c7jncmpaqm"});
  CHECK(car_blocks(
            http(gw.ipfs(mixed.root() + "/subdir/multiblock.txt?format=car&dag-scope=entity"))) ==
        concat({{mixed.root(), mixed.at({"subdir"}), mb}, mb_leaves}));
  // A DAG-CBOR document inside a UnixFS directory: the document alone.
  const std::string document = cbor.at({"document"});
  CHECK(car_blocks(http(gw.ipfs(cbor.root() + "/document?format=car&dag-scope=entity"))) ==
        std::vector<std::string>{cbor.root(), document});

  // dag-scope=all.
  CHECK(car_blocks(http(gw.ipfs(mixed.root() + "/subdir?format=car&dag-scope=all"))) ==
        concat({{mixed.root(), mixed.at({"subdir"})}, mixed.descendants(mixed.at({"subdir"}))}));
  CHECK(
      car_blocks(http(gw.ipfs(mixed.root() + "/subdir/multiblock.txt?format=car&dag-scope=all"))) ==
      concat({{mixed.root(), mixed.at({"subdir"}), mb}, mb_leaves}));

  // CAR response headers; the header's root is the terminal CID.
  HttpResult r = http(gw.ipfs(two.root() + "/subdir/ascii.txt?format=car"));
  CHECK(r.header("content-type") == "application/vnd.ipld.car; version=1; order=dfs; dups=n");
  CHECK(r.header("accept-ranges") == "none");
  CHECK_THAT(r.header("content-disposition"), StartsWith("attachment; filename=\""));
  CHECK_THAT(r.header("content-disposition"), Contains(".car\""));
  CHECK(r.header("x-content-type-options") == "nosniff");
  CHECK_THAT(r.header("etag"), StartsWith("W/\""));
  CHECK(r.header("cache-control") == kImmutable);
  CHECK(parse_car(r.body).roots == std::vector<std::string>{two.at({"subdir", "ascii.txt"})});
  // The Etag varies with the scope and is honoured by If-None-Match.
  HttpResult block_scope =
      http(gw.ipfs(two.root() + "/subdir/ascii.txt?format=car&dag-scope=block"));
  CHECK(block_scope.header("etag") != r.header("etag"));
  CHECK(http(gw.ipfs(two.root() + "/subdir/ascii.txt?format=car"),
             {"-H", "If-None-Match: " + r.header("etag")})
            .status == 304);
}

TEST_CASE("CAR entity-bytes (TrustlessCarEntityBytes)", "[conformance][car]") {
  auto& gw = gateway();
  const Fixture mixed("trustless_gateway_car/subdir-with-mixed-block-files.car");
  const Fixture hamt("trustless_gateway_car/single-layer-hamt-with-multi-block-files.car");
  const std::string missing = "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk";
  const std::string mb = mixed.at({"subdir", "multiblock.txt"});
  const std::vector<std::string> leaves = mixed.descendants(mb);
  REQUIRE(leaves.size() == 5);
  const auto scoped = [&](const std::string& path, const std::string& bytes) {
    return car_blocks(http(gw.ipfs(path + "?format=car&dag-scope=entity&entity-bytes=" + bytes)));
  };
  const auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  // Succeeds although a block after / before the range is missing.
  CHECK(sorted(scoped(missing, "0:1000")) ==
        sorted({missing, "QmPKt7ptM2ZYSGPUc8PmPT2VBkLDK3iqpG9TBJY7PCE9rF"}));
  CHECK(sorted(scoped(missing, "2200:*")) ==
        sorted({missing, "QmWXY482zQdwecnfBsj78poUUuPXvyw2JAFAEMw4tzTavV"}));
  // Whole file through a path; a directory ignores entity-bytes.
  CHECK(scoped(mixed.root() + "/subdir/multiblock.txt", "0:*") ==
        concat({{mixed.root(), mixed.at({"subdir"}), mb}, leaves}));
  CHECK(scoped(hamt.root(), "0:*") == hamt.hamt_shards(hamt.root()));
  // Minimal block sets for ranges (multiblock.txt: 256, 256, 256, 256, 2 bytes).
  CHECK(scoped(mb, "512:*") == std::vector<std::string>{mb, leaves[2], leaves[3], leaves[4]});
  CHECK(scoped(mb, "512:1023") == std::vector<std::string>{mb, leaves[2], leaves[3]});
  CHECK(scoped(mb, "512:-256") == std::vector<std::string>{mb, leaves[2], leaves[3]});
  CHECK(scoped(mb, "-5:*") == std::vector<std::string>{mb, leaves[3], leaves[4]});
  CHECK(scoped(mb, "-9999:*") == concat({{mb}, leaves}));
  CHECK(scoped(mb, "-9999:-3") ==
        std::vector<std::string>{mb, leaves[0], leaves[1], leaves[2], leaves[3]});
  CHECK(scoped(mb, "0:0") == std::vector<std::string>{mb, leaves[0]});
  // entity-bytes alone implies dag-scope=entity.
  CHECK(car_blocks(http(gw.ipfs(mb + "?format=car&entity-bytes=0:0"))) ==
        std::vector<std::string>{mb, leaves[0]});
  // Entirely outside the file: 400.
  CHECK(http(gw.ipfs(mb + "?format=car&entity-bytes=2000:3000")).status == 400);
}

TEST_CASE(
    "CAR order and duplicates, format precedence, identity CIDs "
    "(TrustlessCarOrderAndDuplicates, FormatPrecedence)",
    "[conformance][car]") {
  auto& gw = gateway();
  const Fixture dup("trustless_gateway_car/dir-with-duplicate-files.car");
  const std::string root = dup.root();
  const std::string ascii = dup.at({"ascii.txt"});
  CHECK(ascii == dup.at({"ascii-copy.txt"}));
  CHECK(ascii == "bafkreifkam6ns4aoolg3wedr4uzrs3kvq66p4pecirz6y2vlrngla62mxm");
  const std::string hello = dup.at({"hello.txt"});
  const std::string mb = dup.at({"multiblock.txt"});
  const std::vector<std::string> leaves = dup.descendants(mb);
  // Directory links are sorted by name: ascii-copy.txt, ascii.txt, hello.txt, multiblock.txt.
  const std::vector<std::string> with_dups = concat({{root, ascii, ascii, hello, mb}, leaves});
  const std::vector<std::string> without = concat({{root, ascii, hello, mb}, leaves});
  CHECK(dup.descendants(root) == std::vector<std::string>(with_dups.begin() + 1, with_dups.end()));

  HttpResult y =
      http(gw.ipfs(root), {"-H", "Accept: application/vnd.ipld.car; version=1; order=dfs; dups=y"});
  CHECK_THAT(y.header("content-type"), Contains("application/vnd.ipld.car"));
  CHECK_THAT(y.header("content-type"), Contains("order=dfs"));
  CHECK_THAT(y.header("content-type"), Contains("dups=y"));
  CHECK(car_blocks(y) == with_dups);
  CHECK(y.header("content-location") == "/ipfs/" + root + "?format=car");

  HttpResult n =
      http(gw.ipfs(root), {"-H", "Accept: application/vnd.ipld.car; version=1; order=dfs; dups=n"});
  CHECK_THAT(n.header("content-type"), Contains("dups=n"));
  CHECK(car_blocks(n) == without);
  // Default: dups=n.
  CHECK(car_blocks(http(gw.ipfs(root + "?format=car"))) == without);

  // order=unk: an explicit order in the answer, all blocks present.
  HttpResult unk =
      http(gw.ipfs(root), {"-H", "Accept: application/vnd.ipld.car; version=1; order=unk"});
  CHECK_THAT(unk.header("content-type"), Contains("order="));
  CHECK(car_blocks(unk) == without);

  // ?format=car with Accept params: Accept's dups=y is honoured.
  HttpResult both = http(gw.ipfs(root + "?format=car"),
                         {"-H", "Accept: application/vnd.ipld.car; version=1; order=dfs; dups=y"});
  CHECK_THAT(both.header("content-type"), Contains("dups=y"));
  CHECK(car_blocks(both) == with_dups);
  // Query parameters beat Accept's parameters; format beats Accept.
  HttpResult query_wins = http(gw.ipfs(root + "?format=car&car-dups=n"),
                               {"-H", "Accept: application/vnd.ipld.car; dups=y"});
  CHECK_THAT(query_wins.header("content-type"), Contains("dups=n"));
  CHECK(car_blocks(query_wins) == without);
  HttpResult format_wins =
      http(gw.ipfs(root + "?format=car"), {"-H", "Accept: application/vnd.ipld.raw"});
  CHECK_THAT(format_wins.header("content-type"), StartsWith("application/vnd.ipld.car"));
  HttpResult raw_wins =
      http(gw.ipfs(root + "?format=raw"), {"-H", "Accept: application/vnd.ipld.car"});
  CHECK(raw_wins.header("content-type") == "application/vnd.ipld.raw");
  CHECK((raw_wins.body == dup.raw(root)));
  CHECK(http(gw.ipfs(root), {"-H", "Accept: application/vnd.ipld.car; version=2"}).status == 400);

  // Identity CIDs never appear as CAR sections; bafkqaaa is the empty probe.
  HttpResult id = http(gw.ipfs("bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa"),
                       {"-H", "Accept: application/vnd.ipld.car; dups=y"});
  CHECK_THAT(id.header("content-type"), Contains("dups=y"));
  CHECK(car_blocks(id).empty());
  HttpResult probe = http(gw.ipfs("bafkqaaa?format=raw"));
  CHECK(probe.status == 200);
  CHECK(probe.body.empty());
  CHECK(probe.header("content-length") == "0");
  HttpResult probe_car = http(gw.ipfs("bafkqaaa?format=car"));
  CHECK(parse_car(probe_car.body).roots == std::vector<std::string>{"bafkqaaa"});
  CHECK(parse_car(probe_car.body).blocks.empty());
  HttpResult inline_text = http(gw.ipfs("bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa"));
  CHECK(inline_text.status == 200);
  CHECK_FALSE(inline_text.body.empty());
}

TEST_CASE("HAMT and symlink paths, percent-encoded and UTF-8 names, listings and redirects",
          "[conformance][unixfs]") {
  auto& gw = gateway();
  // HAMT: path resolution through the shard, and its listing.
  const Fixture hamt("trustless_gateway_car/single-layer-hamt-with-multi-block-files.car");
  HttpResult f685 = http(gw.ipfs(hamt.root() + "/685.txt"));
  CHECK(f685.status == 200);
  CHECK(f685.body == hamt.cat(hamt.at({"685.txt"})));
  CHECK(f685.header("x-ipfs-roots") == hamt.root() + "," + hamt.at({"685.txt"}));
  CHECK(hamt.shards_to(hamt.root(), "685.txt").size() == 1);  // 685.txt sits in shard FD
  HttpResult hamt_listing = http(gw.ipfs(hamt.root() + "/"));
  CHECK(hamt_listing.status == 200);
  CHECK_THAT(hamt_listing.body, Contains(">685.txt<"));
  CHECK_THAT(hamt_listing.body, Contains(">1.txt<"));

  // Symlinks are served as their target, never followed.
  const Fixture sym("path_gateway_unixfs/symlink.car");
  CHECK(sym.root() == "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt");
  HttpResult listing = http(gw.ipfs(sym.root() + "/"));
  CHECK_THAT(listing.body, Contains(">foo<"));
  CHECK_THAT(listing.body, Contains(">bar<"));
  HttpResult raw = http(gw.ipfs(sym.root() + "?format=raw"));
  CHECK(raw.status == 200);
  CHECK((raw.body == sym.raw(sym.root())));
  HttpResult link = http(gw.ipfs(sym.root() + "/bar"));
  CHECK(link.status == 200);
  CHECK(link.body == "foo");

  // A file name holding '%2C', '+', '=', spaces and UTF-8.
  const Fixture pct("path_gateway_unixfs/dir-with-percent-encoded-filename.car");
  const std::string name = "Portugal%2C+España=Peninsula Ibérica.txt";
  HttpResult p =
      http(gw.ipfs(pct.root() + "/Portugal%252C+Espa%C3%B1a=Peninsula%20Ib%C3%A9rica.txt"));
  CHECK(p.status == 200);
  CHECK(p.body == pct.cat(pct.at({name})));

  // UTF-8 directory names: 301 to the trailing slash, listing, file.
  const Fixture utf("dir_listing/fixtures.car");
  HttpResult moved = http(gw.ipfs(utf.root() + "/%C4%85/%C4%99"));
  CHECK(moved.status == 301);
  CHECK(moved.header("location") == "/ipfs/" + utf.root() + "/%C4%85/%C4%99/");
  HttpResult moved_q = http(gw.ipfs(utf.root() + "/%C4%85/%C4%99?filename=x"));
  CHECK(moved_q.header("location") == "/ipfs/" + utf.root() + "/%C4%85/%C4%99/?filename=x");
  HttpResult dir = http(gw.ipfs(utf.root() + "/%C4%85/%C4%99/"));
  CHECK(dir.status == 200);
  CHECK_THAT(dir.header("etag"), Contains("\"DirIndex-"));
  CHECK_THAT(dir.body, Contains("Index of"));
  CHECK_THAT(dir.body, Contains(">file-\xC5\xBA\xC5\x82.txt<"));
  CHECK_THAT(dir.body, Contains("href=\"./file-%C5%BA%C5%82.txt\""));
  CHECK_THAT(dir.body, Contains(">..<"));
  HttpResult top = http(gw.ipfs(utf.root() + "/"));
  CHECK_THAT(top.body, Contains("Index of"));
  CHECK_THAT(top.body, !Contains(">..<"));
  const std::string file_cid = utf.at({"\xC4\x85", "\xC4\x99", "file-\xC5\xBA\xC5\x82.txt"});
  HttpResult file = http(gw.ipfs(utf.root() + "/%C4%85/%C4%99/file-%C5%BA%C5%82.txt"));
  CHECK(file.status == 200);
  CHECK(file.body == utf.cat(file_cid));
  // Content-Disposition for ?filename= and ?download=true.
  HttpResult named = http(gw.ipfs(file_cid + "?filename=r%C3%A9sum%C3%A9.txt&download=true"));
  CHECK_THAT(named.header("content-disposition"), StartsWith("attachment;"));
  CHECK_THAT(named.header("content-disposition"),
             Contains("filename*=UTF-8''r%C3%A9sum%C3%A9.txt"));
}

TEST_CASE(
    "codec blocks are served as they are; a mismatched format is 406 "
    "(GatewayJsonCbor, CodecMismatchReturns406)",
    "[conformance][codec]") {
  auto& gw = gateway();
  const Fixture json("path_gateway_dag/plain-json.car");
  const Fixture cbor("path_gateway_dag/plain-cbor.car");
  const Fixture dagcbor("path_gateway_dag/dag-cbor-traversal.car");
  const Fixture unixfs("path_gateway_unixfs/dir-with-files.car");

  HttpResult j = http(gw.ipfs(json.root()));
  CHECK(j.status == 200);
  CHECK(j.header("content-type") == "application/json");
  CHECK((j.body == json.raw(json.root())));
  CHECK(j.header("cache-control") == kImmutable);
  CHECK(http(gw.ipfs(json.root() + "?format=json")).status == 200);
  CHECK(http(gw.ipfs(json.root() + "?format=cbor")).status == 406);
  CHECK(http(gw.ipfs(json.root() + "?format=dag-json")).status == 406);

  HttpResult c = http(gw.ipfs(cbor.root()));
  CHECK(c.status == 200);
  CHECK(c.header("content-type") == "application/cbor");
  CHECK((c.body == cbor.raw(cbor.root())));

  HttpResult d = http(gw.ipfs(dagcbor.root() + "?format=dag-cbor"));
  CHECK(d.status == 200);
  CHECK(d.header("content-type") == "application/vnd.ipld.dag-cbor");
  CHECK((d.body == dagcbor.raw(dagcbor.root())));
  CHECK(d.header("etag") == "\"" + dagcbor.root() + ".dag-cbor\"");
  CHECK(http(gw.ipfs(dagcbor.root() + "?format=dag-json")).status == 406);
  HttpResult d_raw = http(gw.ipfs(dagcbor.root() + "?format=raw"));
  CHECK((d_raw.body == dagcbor.raw(dagcbor.root())));

  CHECK(http(gw.ipfs(unixfs.root() + "/?format=dag-json")).status == 406);
  CHECK(http(gw.ipfs(json.root() + "?format=tar")).status == 406);
  CHECK(http(gw.ipfs(unixfs.root() + "/?format=tar")).status == 501);  // tar: not implemented
  CHECK(http(gw.ipfs(unixfs.root() + "/ascii.txt?format=json")).status == 406);
  CHECK(http(gw.ipfs(unixfs.root() + "/ascii.txt"), {"-H", "Accept: application/vnd.ipld.dag-json"})
            .status == 406);
}

TEST_CASE("404 for missing paths and roots, 400 for malformed CIDs and traversal, 405",
          "[conformance][errors]") {
  auto& gw = gateway();
  const Fixture f("dir_listing/fixtures.car");
  HttpResult missing = http(gw.ipfs(f.root() + "/i-do-not-exist"));
  CHECK(missing.status == 404);
  CHECK_THAT(missing.body, Contains("i-do-not-exist"));
  CHECK(http(gw.ipfs(f.root() + "/i-do-not-exist"), {}, "HEAD").status == 404);
  CHECK(http(gw.ipfs(f.root() + "/i-do-not-exist?format=raw")).status == 404);
  CHECK(http(gw.ipfs(kMissingRoot)).status == 404);
  CHECK(http(gw.ipfs(kMissingRoot + "?format=raw"), {}, "HEAD").status == 404);
  CHECK(http(gw.ipfs(kMissingRoot + "?format=car")).status == 404);
  // A path below a file.
  CHECK(http(gw.ipfs(f.root() + "/%C4%85/%C4%99/file-%C5%BA%C5%82.txt/more")).status == 404);

  CHECK(http(gw.ipfs("not-a-cid")).status == 400);
  CHECK(http(gw.ipfs("bafybeigarbage!")).status == 400);
  CHECK(http(gw.ipfs(f.root() + "/../etc/passwd")).status == 400);
  CHECK(http(gw.ipfs(f.root() + "/%2e%2e/x")).status == 400);
  CHECK(http(gw.ipfs(f.root() + "/a%2Fb")).status == 400);
  CHECK(http(gw.ipfs(f.root()), {"-H", "Service-Worker: script"}).status == 400);
  HttpResult post = http(gw.ipfs(f.root() + "/"), {}, "POST");
  CHECK(post.status == 405);
}
