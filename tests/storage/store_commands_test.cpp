// The store commands of the srcgate binary (import, import-car, export-car,
// pin, unpin, stats, gc, verify), run as a user runs them, each on a fresh
// data directory. Expected values are published vectors (ipfs-gateway.md),
// `openssl dgst` digests, and the fixture table of ipfs-gateway.md §4.4.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "content/car.hpp"
#include "content/cid.hpp"
#include "content/encoding.hpp"
#include "content/nix_hash.hpp"
#include "storage/rocksdb_store.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
using content::Bytes;
using content::ByteView;
using test::CommandResult;

namespace {

constexpr std::size_t kMiB = 1 << 20;

const char* const kHelloSha256 = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
const char* const kHelloCid = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";

CommandResult run_srcgate(std::vector<std::string> args) {
  args.insert(args.begin(), test::srcgate_binary().string());
  return test::run_command(args);
}

// Runs a command that must succeed.
std::string ok(std::vector<std::string> args) {
  auto r = run_srcgate(args);
  INFO("srcgate " << args[0] << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  // Bounded by the text's length.
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The value of "key":<number> in a JSON line.
std::uint64_t json_number(const std::string& line, const std::string& key) {
  std::smatch m;
  REQUIRE(std::regex_search(line, m, std::regex("\"" + key + "\":([0-9]+)")));
  return std::stoull(m[1]);
}

std::string json_string(const std::string& line, const std::string& key) {
  std::smatch m;
  REQUIRE(std::regex_search(line, m, std::regex("\"" + key + "\":\"([^\"]*)\"")));
  return m[1];
}

std::vector<std::filesystem::path> fixture_cars() {
  std::vector<std::filesystem::path> cars;
  for (const auto& e : std::filesystem::recursive_directory_iterator(test::fixture(""))) {
    if (e.path().extension() == ".car") cars.push_back(e.path());
  }
  std::sort(cars.begin(), cars.end());
  return cars;
}

}  // namespace

TEST_CASE("every store command has --help", "[cli][store]") {
  for (const char* cmd :
       {"import", "import-car", "export-car", "pin", "unpin", "stats", "gc", "verify"}) {
    INFO(cmd);
    auto r = run_srcgate({cmd, "--help"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::StartsWith(std::string("Usage: srcgate ") + cmd));
    CHECK_THAT(r.out, Catch::Contains("--data"));
  }
  auto top = run_srcgate({"--help"});
  for (const char* cmd :
       {"import", "import-car", "export-car", "pin", "unpin", "stats", "gc", "verify"}) {
    CHECK_THAT(top.out, Catch::Contains(std::string("  ") + cmd + " "));
  }
}

TEST_CASE("import prints the line that hash prints and stores the file", "[cli][store]") {
  test::TempDir tmp;
  auto data = tmp / "data";
  test::write_file(tmp / "hello", content::as_bytes("hello world"));
  auto big = test::deterministic_bytes("cli-import", 3 * kMiB + 17);
  test::write_file(tmp / "big.bin", big);

  auto imported =
      ok({"import", "--data", data.string(), (tmp / "hello").string(), (tmp / "big.bin").string()});
  auto hashed = ok({"hash", (tmp / "hello").string(), (tmp / "big.bin").string()});
  CHECK(imported == hashed);
  auto first = lines(imported).at(0);
  CHECK(json_string(first, "cid") == kHelloCid);
  CHECK(json_string(first, "sha256") == kHelloSha256);
  CHECK(json_number(first, "size") == 11);

  auto st = ok({"stats", "--data", data.string()});
  CHECK(json_number(st, "files") == 2);
  // 'hello world' is one raw block; 3 MiB + 17 bytes are 4 raw leaves and a root.
  CHECK(json_number(st, "blocks") == 6);

  // Importing again changes nothing.
  CHECK(ok({"import", "--data", data.string(), (tmp / "hello").string()}) ==
        lines(hashed)[0] + "\n");
  CHECK(json_number(ok({"stats", "--data", data.string()}), "files") == 2);

  auto missing = run_srcgate({"import", "--data", data.string(), (tmp / "nope").string()});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("nope") && Catch::Contains("No such file"));
  auto usage = run_srcgate({"import", "--data", data.string(), "--profile", "bogus", "x"});
  CHECK(usage.exit_code == 2);
}

TEST_CASE("stats reports files, blocks, logical, disk and pinned bytes", "[cli][store]") {
  test::TempDir tmp;
  auto data = (tmp / "data").string();
  test::write_file(tmp / "hello", content::as_bytes("hello world"));
  ok({"import", "--data", data, (tmp / "hello").string()});
  auto st = ok({"stats", "--data", data});
  INFO(st);
  CHECK(lines(st).size() == 1);
  CHECK(json_number(st, "files") == 1);
  CHECK(json_number(st, "blocks") == 1);
  CHECK(json_number(st, "logical_bytes") == 11);
  CHECK(json_number(st, "disk_bytes") > 11);
  CHECK(json_number(st, "pinned_bytes") == 0);
  CHECK(json_number(st, "max_size") == 0);
  CHECK(json_string(st, "data_dir") == data);

  CHECK(ok({"pin", "--data", data, std::string("sha256:") + kHelloSha256}) ==
        std::string("pinned ") + kHelloCid + "\n");
  CHECK(json_number(ok({"stats", "--data", data}), "pinned_bytes") == 11);
  CHECK(ok({"unpin", "--data", data, kHelloCid}) == std::string("unpinned ") + kHelloCid + "\n");
  CHECK(json_number(ok({"stats", "--data", data}), "pinned_bytes") == 0);

  auto unknown = run_srcgate({"pin", "--data", data, std::string(64, 'a')});
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.err, Catch::Contains("no file with sha256"));
  auto nostore = run_srcgate({"stats", "--data", (tmp / "elsewhere").string()});
  CHECK(nostore.exit_code == 1);
  CHECK_THAT(nostore.err, Catch::Contains("there is no store at"));
}

TEST_CASE("the data directory defaults to SRCGATE_DATA_DIR", "[cli][store]") {
  test::TempDir tmp;
  test::write_file(tmp / "hello", content::as_bytes("hello world"));
  ::setenv("SRCGATE_DATA_DIR", (tmp / "env-data").c_str(), 1);
  ok({"import", (tmp / "hello").string()});
  auto st = ok({"stats"});
  ::unsetenv("SRCGATE_DATA_DIR");
  CHECK(json_string(st, "data_dir") == (tmp / "env-data").string());
  CHECK(json_number(st, "files") == 1);
  CHECK(std::filesystem::exists(tmp / "env-data" / "CURRENT"));
}

TEST_CASE("import-car stores every conformance fixture and prints its roots", "[cli][store][car]") {
  test::TempDir tmp;
  auto data = (tmp / "data").string();
  auto cars = fixture_cars();
  REQUIRE(cars.size() == 26);
  std::vector<std::string> args = {"import-car", "--data", data};
  for (const auto& c : cars) args.push_back(c.string());
  auto out = ok(args);
  auto ls = lines(out);
  CHECK(ls.size() >= cars.size());
  std::set<std::string> roots;
  for (const auto& l : ls) roots.insert(json_string(l, "root"));
  // Roots from the fixture table (ipfs-gateway.md §4.4).
  for (const char* root : {"bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy",
                           "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt",
                           "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i",
                           "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk",
                           "bafyreibs4utpgbn7uqegmd2goqz4bkyflre2ek2iwv743fhvylwi4zeeim",
                           "QmQyqMY5vUBSbSxyitJqthgwZunCQjDVtNd8ggVCxzuPQ4"}) {
    CHECK(roots.count(root) == 1);
  }
  for (const auto& l : ls) {
    if (json_string(l, "root") == "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk") {
      CHECK_THAT(l, Catch::Contains("\"complete_file\":false"));  // its middle block is missing
    }
  }
  // Every block of every fixture is in the store and verifies.
  std::set<std::string> keys;
  for (const auto& c : cars) {
    auto bytes = test::read_file(c);
    REQUIRE(content::read_car(
        bytes, {[](const content::CarHeader&) -> content::Result<void> { return {}; },
                [&](const content::Cid& cid, ByteView, std::uint64_t) -> content::Result<void> {
                  if (!cid.is_identity())
                    keys.insert(std::string(content::as_chars(cid.multihash())));
                  return {};
                }}));
  }
  auto verify = ok({"verify", "--data", data});
  CHECK(json_number(verify, "blocks_checked") == keys.size());
  CHECK(json_number(verify, "problems") == 0);
  CHECK(json_number(verify, "unreferenced_blocks") == 0);
}

TEST_CASE("import-car rejects a CAR with a corrupted block whole, naming its offset",
          "[cli][store][car]") {
  test::TempDir tmp;
  auto data = (tmp / "data").string();
  auto car = test::read_file(test::fixture("path_gateway_unixfs/dir-with-files.car"));
  // The last section (varint 38, a 36-byte CIDv1, 2 data bytes) starts at
  // 1939 - 39 = 1900; flip its last data byte.
  REQUIRE(car.size() == 1939);
  car.back() ^= 0x01;
  test::write_file(tmp / "bad.car", car);
  auto r = run_srcgate({"import-car", "--data", data, (tmp / "bad.car").string()});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("bad.car") && Catch::Contains("nothing stored") &&
                        Catch::Contains("byte 1900"));
  CHECK(r.out.empty());
  auto st = ok({"stats", "--data", data});
  CHECK(json_number(st, "files") == 0);
  CHECK(json_number(st, "blocks") == 0);
  auto v = ok({"verify", "--data", data});
  CHECK(json_number(v, "blocks_checked") == 0);
}

TEST_CASE("export-car writes a CAR that imports back to the same file", "[cli][store][car]") {
  test::TempDir tmp;
  auto data = (tmp / "data").string();
  auto file = test::deterministic_bytes("export", 2 * kMiB + 5);
  test::write_file(tmp / "file", file);
  auto line = ok({"import", "--data", data, (tmp / "file").string()});
  auto root = json_string(line, "cid");
  auto sha256 = json_string(line, "sha256");

  for (const std::string& target : {root, sha256, "sha256:" + sha256}) {
    INFO(target);
    auto r = run_srcgate({"export-car", "--data", data, target});
    REQUIRE(r.exit_code == 0);
    Bytes car(r.out.begin(), r.out.end());
    // Independent reading: header root, then root first, three leaves after it.
    std::vector<content::Cid> roots, order;
    Bytes joined;
    REQUIRE(content::read_car(
        car, {[&](const content::CarHeader& h) -> content::Result<void> {
                roots = h.roots;
                return {};
              },
              [&](const content::Cid& cid, ByteView block, std::uint64_t) -> content::Result<void> {
                order.push_back(cid);
                if (cid.codec() == static_cast<std::uint64_t>(content::Codec::raw))
                  content::append(joined, block);
                return {};
              }}));
    REQUIRE(roots.size() == 1);
    CHECK(roots[0].to_string() == root);
    REQUIRE(order.size() == 4);
    CHECK(order[0].to_string() == root);
    CHECK(joined == file);  // leaves in file order
  }

  auto r = run_srcgate({"export-car", "--data", data, root});
  test::write_file(tmp / "out.car", content::as_bytes(r.out));
  auto other = (tmp / "other").string();
  auto imported = ok({"import-car", "--data", other, (tmp / "out.car").string()});
  CHECK(json_string(imported, "root") == root);
  CHECK_THAT(imported, Catch::Contains("\"complete_file\":true"));
  CHECK(json_string(imported, "sha256") == sha256);
  CHECK(json_number(imported, "size") == file.size());

  auto missing = run_srcgate({"export-car", "--data", data, std::string(64, '0')});
  CHECK(missing.exit_code == 1);
  auto usage = run_srcgate({"export-car", "--data", data});
  CHECK(usage.exit_code == 2);
}

TEST_CASE("verify detects a corrupted block and exits non-zero", "[cli][store][verify]") {
  test::TempDir tmp;
  auto data = tmp / "data";
  auto file = test::deterministic_bytes("verify-cli", kMiB + 1);
  test::write_file(tmp / "file", file);
  ok({"import", "--data", data.string(), (tmp / "file").string()});
  CHECK(json_number(ok({"verify", "--data", data.string()}), "problems") == 0);

  // Corrupt the first leaf through the store's test hook (nothing else may
  // write RocksDB's files).
  auto leaf = content::Cid::v1(
      static_cast<std::uint64_t>(content::Codec::raw), content::MultihashCode::sha2_256,
      content::digest_of(content::HashAlgo::sha256, ByteView(file).first(kMiB)).bytes());
  {
    storage::RocksDbOptions o;
    o.dir = data;
    o.create_if_missing = false;
    auto s = storage::open_rocksdb_store(o);
    REQUIRE(s);
    Bytes bad(file.begin(), file.begin() + kMiB);
    bad[777] ^= 0x80;
    REQUIRE((*s)->overwrite_block_for_testing(leaf, bad));
  }
  auto r = run_srcgate({"verify", "--data", data.string()});
  CHECK(r.exit_code == 1);
  auto ls = lines(r.out);
  REQUIRE(ls.size() == 2);
  CHECK(json_string(ls[0], "key") == content::hex_encode(leaf.multihash()));
  CHECK_THAT(ls[0], Catch::Contains("do not hash"));
  CHECK(json_number(ls[1], "problems") == 1);
  CHECK_THAT(r.err, Catch::Contains("1 problem"));
}

TEST_CASE("gc evicts to the low watermark of the cap it is given", "[cli][store][evict]") {
  test::TempDir tmp;
  auto data = (tmp / "data").string();
  std::vector<std::string> args = {"import", "--data", data};
  for (int i = 0; i < 4; ++i) {
    auto name = tmp / ("f" + std::to_string(i));
    test::write_file(name, test::deterministic_bytes("gc-" + std::to_string(i), kMiB));
    args.push_back(name.string());
  }
  ok(args);
  CHECK(json_number(ok({"stats", "--data", data}), "files") == 4);
  // 85% of 2.5 MiB leaves room for two 1 MiB files: the two oldest go.
  auto gc = ok({"gc", "--data", data, "--max-size", "2560K"});
  CHECK(json_number(gc, "evicted_files") == 2);
  CHECK(json_number(gc, "freed_bytes") == 2 * kMiB);
  auto st = ok({"stats", "--data", data});
  CHECK(json_number(st, "files") == 2);
  CHECK(json_number(st, "max_size") == 2560 * 1024);
  // The two newest remain.
  CHECK(ok({"export-car", "--data", data,
            content::to_hex(content::digest_of(content::HashAlgo::sha256,
                                               test::deterministic_bytes("gc-3", kMiB)))})
            .size() > kMiB);
  auto bad = run_srcgate({"gc", "--data", data, "--max-size", "lots"});
  CHECK(bad.exit_code == 2);
}

TEST_CASE("every store command says when the store is held by another process", "[cli][store]") {
  test::TempDir tmp;
  auto data = tmp / "data";
  test::write_file(tmp / "hello", content::as_bytes("hello world"));
  ok({"import", "--data", data.string(), (tmp / "hello").string()});
  storage::RocksDbOptions o;
  o.dir = data;
  auto held = storage::open_rocksdb_store(o);  // this test process plays the server
  REQUIRE(held);
  const std::vector<std::vector<std::string>> commands = {
      {"import", (tmp / "hello").string()},
      {"import-car", test::fixture("gateway-raw-block.car").string()},
      {"export-car", kHelloCid},
      {"pin", kHelloCid},
      {"unpin", kHelloCid},
      {"stats"},
      {"gc"},
      {"verify"}};
  for (auto args : commands) {
    INFO(args[0]);
    args.insert(args.begin() + 1, {"--data", data.string()});
    auto r = run_srcgate(args);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("the store at " + data.string() +
                                      " is in use by another process (is `srcgate serve` "
                                      "running?)") &&
                          Catch::Contains("admin API"));
  }
}
