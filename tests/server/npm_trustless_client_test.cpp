// srcgate's trustless CARs through an independent client: tests/npm/
// trustless-client.mjs, built only from the JavaScript reference libraries
// (@ipld/car reads the CAR, every block is re-hashed against its CID, and
// ipfs-unixfs-exporter walks the DAG from the path's CID and exports the
// file). A real `srcgate serve --offline` on 127.0.0.1 port 0 serves a store
// filled by `srcgate import` (a multi-block file, in both IPIP-0499
// profiles) and `srcgate import-car` (gateway-conformance fixtures); the
// client fetches whole files, entity-bytes ranges, a file in a directory and
// a file in a HAMT-sharded directory, and its bytes must equal the original
// bytes or the fixture contents known from notes/ipfs-gateway.md §4.5.
// Negative cases prove that the client can fail: a loopback upstream serves
// CARs with a flipped byte, an unlinked block, a missing block and a foreign
// header root, and the client must exit non-zero saying why.
// Needs node with tests/npm/node_modules (`npm ci` in tests/npm): without
// them it fails when $CI is set and warns and skips otherwise.
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "content/digest.hpp"
#include "tests/nix/nix_support.hpp"
#include "tests/server/gateway_test_support.hpp"
#include "tests/support/test_support.hpp"
#include "tests/support/test_upstream.hpp"

namespace {

namespace fs = std::filesystem;
namespace test = srcgate::test;
namespace content = srcgate::content;
using Catch::Matchers::Contains;

constexpr std::size_t kMiB = 1024 * 1024;
// 3 MiB + 12345: four 1 MiB raw leaves (unixfs-v1-2025) or thirteen 256 KiB
// dag-pb leaves (unixfs-v0-2015) under one root.
constexpr std::size_t kFileSize = 3 * kMiB + 12345;
constexpr std::size_t kV1Chunk = kMiB;
constexpr std::size_t kV0Chunk = 256 * 1024;

// notes/ipfs-gateway.md §4.4-4.5.
constexpr const char* kDirWithFiles = "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy";
constexpr const char* kHamt = "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i";
constexpr const char* kAsciiText = "hello application/vnd.ipld.car\n";
// multiblock.txt (1026 bytes): its raw leaves in order (256, 256, 256, 256, 2 bytes).
const std::vector<std::string> kMultiblockLeaves = {
    "bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm",
    "bafkreih4ephajybraj6wnxsbwjwa77fukurtpl7oj7t7pfq545duhot7cq",
    "bafkreigu7buvm3cfunb35766dn7tmqyh2um62zcio63en2btvxuybgcpue",
    "bafkreicll3huefkc3qnrzeony7zcfo7cr3nbx64hnxrqzsixpceg332fhe",
    "bafkreifst3pqztuvj57lycamoi7z34b4emf7gawxs74nwrc2c7jncmpaqm"};

fs::path npm_dir() { return test::source_dir() / "tests/npm"; }
fs::path client_script() { return npm_dir() / "trustless-client.mjs"; }

// What is missing for this test to run, or "".
std::string missing_tools() {
  std::string missing;
  if (!test::on_path("node")) missing += " node (Debian package nodejs, >= 18);";
  for (const char* package : {"@ipld/car", "@ipld/dag-pb", "ipfs-unixfs-exporter", "multiformats",
                              "ipfs-unixfs-importer"}) {
    if (!fs::exists(npm_dir() / "node_modules" / package)) {
      missing +=
          " tests/npm/node_modules/" + std::string(package) + " (run `npm ci` in tests/npm);";
      break;
    }
  }
  return missing;
}

// Skips (false) when node or the npm packages are missing; fails under $CI.
bool tools_available() {
  const std::string missing = missing_tools();
  if (missing.empty()) return true;
  if (std::getenv("CI") != nullptr) FAIL("missing under $CI:" << missing);
  WARN("skipping the npm trustless-client test; missing:" << missing);
  SUCCEED();
  return false;
}

// The raw-codec sha2-256 digest inside a base32 CIDv1 ("bafkrei..."),
// decoded by hand (RFC 4648 lower-case base32, no padding).
std::vector<std::uint8_t> raw_cid_digest(const std::string& cid) {
  REQUIRE(cid.size() > 1);
  REQUIRE(cid[0] == 'b');
  std::vector<std::uint8_t> bytes;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 1; i < cid.size(); ++i) {
    const char c = cid[i];
    int v = -1;
    if (c >= 'a' && c <= 'z') v = c - 'a';
    if (c >= '2' && c <= '7') v = 26 + (c - '2');
    if (v < 0) FAIL("not base32: '" << c << "' in " << cid);
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<std::uint8_t>((buffer >> bits) & 0xff));
    }
  }
  // CIDv1, raw (0x55), sha2-256 (0x12), 32 bytes.
  REQUIRE(bytes.size() == 36);
  REQUIRE(bytes[0] == 0x01);
  REQUIRE(bytes[1] == 0x55);
  REQUIRE(bytes[2] == 0x12);
  REQUIRE(bytes[3] == 0x20);
  return {bytes.begin() + 4, bytes.end()};
}

// Checks that `text` is multiblock.txt of the fixtures: 1026 bytes whose
// slices hash to the leaf CIDs that the notes list.
void check_multiblock_text(const std::string& text) {
  REQUIRE(text.size() == 1026);
  for (std::size_t i = 0; i < kMultiblockLeaves.size(); ++i) {
    INFO("leaf " << i << " " << kMultiblockLeaves[i]);
    const std::string slice = text.substr(i * 256, 256);
    const auto digest = content::digest_of(content::HashAlgo::sha256, content::as_bytes(slice));
    const std::vector<std::uint8_t> got(digest.bytes().begin(), digest.bytes().end());
    CHECK(got == raw_cid_digest(kMultiblockLeaves[i]));
  }
}

struct ClientRun {
  int exit_code = -1;
  std::string bytes;  // what the client exported (the --out file)
  std::string err;    // its summary or its error
};

// Runs the client: node trustless-client.mjs [extra...] --out FILE SOURCE PATH
// (SOURCE is a gateway URL, or "--car FILE"), without proxy variables.
ClientRun run_client(const std::vector<std::string>& source, const std::string& path,
                     const std::vector<std::string>& extra = {}) {
  static test::TempDir scratch;
  static int counter = 0;
  const fs::path out = scratch / ("out" + std::to_string(++counter));
  std::vector<std::string> argv = {"env"};
  for (const std::string_view v : test::kProxyVariables)
    argv.insert(argv.end(), {"-u", std::string(v)});
  argv.insert(argv.end(), {"node", client_script().string()});
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {"--out", out.string()});
  argv.insert(argv.end(), source.begin(), source.end());
  argv.push_back(path);
  const test::CommandResult r = test::run_command(argv);
  ClientRun run;
  run.exit_code = r.exit_code;
  run.err = r.err;
  if (fs::exists(out)) {
    const content::Bytes b = test::read_file(out);
    run.bytes.assign(b.begin(), b.end());
  }
  return run;
}

// The value of "key":"..." in a JSON line of srcgate import / import-car.
std::string json_field(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":\"";
  const std::size_t at = line.find(needle);
  REQUIRE(at != std::string::npos);
  const std::size_t start = at + needle.size();
  return line.substr(start, line.find('"', start) - start);
}

// A store with the test's files and fixtures, served by `srcgate serve
// --offline`; built once for the whole executable.
struct Served {
  test::TempDir dir;
  std::string original;  // the multi-block file's bytes
  std::string v1_root;   // its root CID, unixfs-v1-2025
  std::string v0_root;   // its root CID, unixfs-v0-2015
  std::optional<test::ServeProcess> serve;
  std::string url;

  Served() {
    const content::Bytes data = test::deterministic_bytes("npm-trustless-client", kFileSize);
    original.assign(data.begin(), data.end());
    const fs::path file = dir / "multi-block.bin";
    test::write_file(file, data);
    const std::string store = (dir / "store").string();
    const std::string bin = test::srcgate_binary().string();
    for (const char* profile : {"unixfs-v1-2025", "unixfs-v0-2015"}) {
      const auto imported =
          test::run_command({bin, "import", "--data", store, "--profile", profile, file.string()});
      INFO("srcgate import --profile " << profile << ": " << imported.err);
      REQUIRE(imported.exit_code == 0);
      // The root CID, checked against the JavaScript importer (an oracle
      // independent of srcgate), so that the client verifies against a
      // root that srcgate did not choose alone.
      const auto oracle = test::run_command(
          {"node", (npm_dir() / "unixfs-cid.mjs").string(), "--profile", profile, file.string()});
      INFO("unixfs-cid.mjs: " << oracle.err);
      REQUIRE(oracle.exit_code == 0);
      const std::string cid = json_field(imported.out, "cid");
      CHECK(cid == json_field(oracle.out, "cid"));
      (std::string(profile) == "unixfs-v1-2025" ? v1_root : v0_root) = cid;
    }
    CHECK(v1_root.starts_with("bafybei"));
    CHECK(v0_root.starts_with("Qm"));
    const auto cars = test::run_command(
        {bin, "import-car", "--data", store,
         test::fixture("path_gateway_unixfs/dir-with-files.car").string(),
         test::fixture("trustless_gateway_car/single-layer-hamt-with-multi-block-files.car")
             .string()});
    INFO("srcgate import-car: " << cars.err);
    REQUIRE(cars.exit_code == 0);
    CHECK_THAT(cars.out, Contains(kDirWithFiles));
    CHECK_THAT(cars.out, Contains(kHamt));
    serve.emplace(std::vector<std::string>{bin, "serve", "--offline", "--listen", "127.0.0.1:0",
                                           "--threads", "2", "--data", store});
    url = "http://127.0.0.1:" + serve->wait_for_port();
  }

  std::string slice(std::size_t from, std::size_t to_inclusive) const {
    return original.substr(from, to_inclusive - from + 1);
  }
  // Runs the client against the server and keeps the server's stderr pipe drained.
  ClientRun fetch(const std::string& path, const std::vector<std::string>& extra = {}) {
    ClientRun r = run_client({url}, path, extra);
    serve->drain();
    return r;
  }
};

Served& served() {
  static Served s;
  return s;
}

// Checks a successful run: exit 0, the bytes equal `expected` (without
// dumping MiBs on failure), and the summary names `blocks` verified blocks.
void check_ok(const ClientRun& r, const std::string& expected, int blocks) {
  INFO("client stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.bytes.size() == expected.size());
  const bool same_bytes = r.bytes == expected;
  CHECK(same_bytes);
  CHECK_THAT(r.err, Contains(": " + std::to_string(blocks) + " blocks verified"));
}

// A failed run: exit 1, nothing exported, and the reason on stderr.
void check_fails(const ClientRun& r, const std::string& reason) {
  INFO("client stderr: " << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Contains("trustless-client: FAILED: "));
  CHECK_THAT(r.err, Contains(reason));
  CHECK(r.bytes.empty());
}

// A CARv1 split by hand into its length-prefixed header and sections.
struct CarParts {
  std::string header;                 // varint + DAG-CBOR header
  std::vector<std::string> sections;  // varint + CID + block, each
};
CarParts split_car(const std::string& car) {
  CarParts parts;
  std::size_t at = 0;
  bool first = true;
  for (int guard = 0; at < car.size() && guard < 100'000; ++guard) {
    std::uint64_t length = 0;
    std::size_t pos = at;
    for (int shift = 0; shift < 64; shift += 7) {
      REQUIRE(pos < car.size());
      const auto byte = static_cast<std::uint8_t>(car[pos++]);
      length |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) break;
    }
    REQUIRE(length <= car.size() - pos);
    std::string part = car.substr(at, pos - at + length);
    if (first) {
      parts.header = std::move(part);
      first = false;
    } else {
      parts.sections.push_back(std::move(part));
    }
    at = pos + length;
  }
  REQUIRE(at == car.size());
  return parts;
}
std::string join(const CarParts& parts) {
  std::string out = parts.header;
  for (const auto& s : parts.sections) out += s;
  return out;
}

// A CAR section for the raw block `data`: varint(36 + size), CIDv1 raw
// sha2-256, data. REQUIRES: data.size() < 92 (a one-byte varint).
std::string raw_section(const std::string& data) {
  REQUIRE(36 + data.size() < 128);
  const auto digest = content::digest_of(content::HashAlgo::sha256, content::as_bytes(data));
  std::string out;
  out += static_cast<char>(36 + data.size());
  out += std::string("\x01\x55\x12\x20", 4);
  out.append(reinterpret_cast<const char*>(digest.bytes().data()), digest.bytes().size());
  out += data;
  return out;
}

// The CAR srcgate serves for `path` (dfs, no duplicates), as bytes.
std::string fetch_car(const std::string& path) {
  auto& s = served();
  const test::HttpResult r =
      test::http(s.url + path + "?format=car",
                 {"-H", "Accept: application/vnd.ipld.car; version=1; order=dfs; dups=n"});
  s.serve->drain();
  INFO(r.curl_err);
  REQUIRE(r.status == 200);
  REQUIRE(r.body.size() > 100);
  return r.body;
}

// A loopback upstream answering every request with 200 and `car`.
std::unique_ptr<test::TestUpstream> car_upstream(std::string car) {
  return std::make_unique<test::TestUpstream>(
      [car = std::move(car)](const test::UpstreamRequest&, test::UpstreamConnection& c) {
        c.respond(200, car,
                  {{"Content-Type", "application/vnd.ipld.car; version=1; order=dfs; dups=n"}});
      });
}

}  // namespace

TEST_CASE("npm trustless client: whole multi-block files", "[npm][trustless]") {
  if (!tools_available()) return;
  auto& s = served();
  // unixfs-v1-2025: root + 4 raw leaves; unixfs-v0-2015: root + 13 dag-pb leaves.
  check_ok(s.fetch("/ipfs/" + s.v1_root), s.original, 5);
  check_ok(s.fetch("/ipfs/" + s.v0_root), s.original, 14);
  // dag-scope=entity is the whole file too.
  check_ok(s.fetch("/ipfs/" + s.v1_root, {"--dag-scope", "entity"}), s.original, 5);
}

TEST_CASE("npm trustless client: entity-bytes ranges", "[npm][trustless]") {
  if (!tools_available()) return;
  auto& s = served();
  const std::string v1 = "/ipfs/" + s.v1_root;
  const std::string v0 = "/ipfs/" + s.v0_root;
  {
    INFO("across the boundary of raw leaves 0 and 1: root + 2 leaves");
    const std::size_t from = kV1Chunk - 1000, to = kV1Chunk + 999;
    check_ok(s.fetch(v1, {"--entity-bytes", std::to_string(from) + ":" + std::to_string(to)}),
             s.slice(from, to), 3);
  }
  {
    INFO("to the end with '*', from inside leaf 1: root + leaves 1, 2, 3");
    check_ok(s.fetch(v1, {"--entity-bytes", "2000000:*"}), s.slice(2'000'000, kFileSize - 1), 4);
  }
  {
    INFO("exactly raw leaf 0: root + 1 leaf");
    check_ok(s.fetch(v1, {"--entity-bytes", "0:" + std::to_string(kV1Chunk - 1)}),
             s.slice(0, kV1Chunk - 1), 2);
  }
  {
    INFO("the last 12345 bytes, from the end: root + the last leaf");
    check_ok(s.fetch(v1, {"--entity-bytes", "-12345:*"}), s.slice(kFileSize - 12345, kFileSize - 1),
             2);
  }
  {
    INFO("unixfs-v0-2015, across dag-pb leaves 0, 1 and 2: root + 3 leaves");
    const std::size_t from = kV0Chunk - 62144, to = 2 * kV0Chunk + 75712;
    check_ok(s.fetch(v0, {"--entity-bytes", std::to_string(from) + ":" + std::to_string(to)}),
             s.slice(from, to), 4);
  }
}

TEST_CASE("npm trustless client: a file inside a directory path", "[npm][trustless]") {
  if (!tools_available()) return;
  auto& s = served();
  const std::string dir = std::string("/ipfs/") + kDirWithFiles;
  // A one-block file: directory + raw block.
  check_ok(s.fetch(dir + "/ascii.txt"), kAsciiText, 2);
  // A multi-block file: directory + file root + 5 leaves.
  const ClientRun whole = s.fetch(dir + "/multiblock.txt");
  check_ok(whole, whole.bytes, 7);
  check_multiblock_text(whole.bytes);
  // A range inside it, across leaves 0-3: directory + file root + 4 leaves.
  const ClientRun range = s.fetch(dir + "/multiblock.txt", {"--entity-bytes", "250:800"});
  check_ok(range, whole.bytes.substr(250, 551), 6);
  // A path that does not exist is a 404, and the client says so.
  check_fails(s.fetch(dir + "/no-such-file.txt"), "status 404");
}

TEST_CASE("npm trustless client: a file inside a HAMT-sharded directory path", "[npm][trustless]") {
  if (!tools_available()) return;
  auto& s = served();
  // Root shard + the sub-shard holding 685.txt + file root + 5 leaves; the
  // file has the same bytes (and leaves) as multiblock.txt.
  const ClientRun r = s.fetch(std::string("/ipfs/") + kHamt + "/685.txt");
  check_ok(r, r.bytes, 8);
  check_multiblock_text(r.bytes);
  const ClientRun range =
      s.fetch(std::string("/ipfs/") + kHamt + "/685.txt", {"--entity-bytes", "1000:*"});
  check_ok(range, r.bytes.substr(1000), 5);
}

TEST_CASE("npm trustless client: tampered CARs make it fail", "[npm][trustless]") {
  if (!tools_available()) return;
  auto& s = served();
  const std::string path = "/ipfs/" + s.v1_root;
  const std::string good = fetch_car(path);
  const CarParts parts = split_car(good);
  REQUIRE(parts.sections.size() == 5);

  {
    INFO("control: the untampered CAR from the loopback upstream passes");
    auto up = car_upstream(good);
    check_ok(run_client({up->url()}, path), s.original, 5);
  }
  {
    INFO("one flipped byte, the last of the last leaf");
    std::string bad = good;
    bad.back() = static_cast<char>(bad.back() ^ 0x01);
    auto up = car_upstream(bad);
    check_fails(run_client({up->url()}, path), "hash mismatch");
    // The same CAR read from a file.
    test::TempDir t;
    test::write_file(t / "bad.car", content::as_bytes(bad));
    check_fails(run_client({"--car", (t / "bad.car").string()}, path), "hash mismatch");
  }
  {
    INFO("one flipped byte in the root block");
    CarParts p = parts;
    std::string& root = p.sections[0];
    root[root.size() - 3] = static_cast<char>(root[root.size() - 3] ^ 0x80);
    auto up = car_upstream(join(p));
    check_fails(run_client({up->url()}, path), "block 0 (" + s.v1_root + "): hash mismatch");
  }
  {
    INFO("a valid block that nothing links to");
    CarParts p = parts;
    p.sections.insert(p.sections.begin() + 2, raw_section("a block nobody asked for\n"));
    auto up = car_upstream(join(p));
    check_fails(run_client({up->url()}, path), "block 2 (bafkrei");
    check_fails(run_client({up->url()}, path), "unexpected block");
  }
  {
    INFO("a leaf sent twice although the response said dups=n");
    CarParts p = parts;
    p.sections.push_back(p.sections[1]);
    auto up = car_upstream(join(p));
    check_fails(run_client({up->url()}, path), "duplicate block");
  }
  {
    INFO("the last leaf missing");
    CarParts p = parts;
    p.sections.pop_back();
    auto up = car_upstream(join(p));
    check_fails(run_client({up->url()}, path), "which is not in the CAR");
  }
  {
    INFO("the header names another root (the v0 file's CID)");
    CarParts p = parts;
    p.header = split_car(fetch_car("/ipfs/" + s.v0_root)).header;
    auto up = car_upstream(join(p));
    check_fails(run_client({up->url()}, path), "header roots are [" + s.v0_root + "]");
  }
  {
    INFO("the right CAR for another request: its first block is not the path's CID");
    auto up = car_upstream(fetch_car("/ipfs/" + s.v0_root));
    check_fails(run_client({up->url()}, path), "block 0 (" + s.v0_root + "): unexpected block");
  }
  {
    INFO("the CAR cut short inside a block");
    auto up = car_upstream(good.substr(0, good.size() - 100));
    check_fails(run_client({up->url()}, path), "cannot read the CAR after 4 blocks");
  }
}
