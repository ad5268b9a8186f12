// `srcgate hash` against independent implementations, for both IPIP-0499
// profiles: root CIDs against ipfs-unixfs-importer (the JavaScript importer
// that Helia uses; tests/npm/unixfs-cid.mjs) and digests against `nix-hash
// --flat`. Files sit on every chunk and tree boundary (0, 1, chunk-1, chunk,
// chunk+1, links*chunk, links*chunk+1, ...) plus random sizes up to 50 MiB.
// The unixfs-v1-2025 case writes two 1 GiB files, so this test is slow; CI's
// sanitizer build leaves it out by name (hash_oracle).
// Needs node with tests/npm/node_modules (`npm ci` in tests/npm) and nix-hash
// (Debian package nix-bin): without them it fails when CI is set and warns and
// skips otherwise.
// Boost.JSON's compiled part, for this test executable only.
#include <boost/json/src.hpp>
// clang-format off
#include <catch2/catch.hpp>
// clang-format on
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/test_support.hpp"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace test = srcgate::test;

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kRandomSeed = 20251126;
constexpr int kRandomFiles = 10;
constexpr std::uint64_t kRandomMax = 50 * kMiB;

struct Profile {
  std::string name;
  std::uint64_t chunk;
  std::uint64_t links;
};

struct TestFile {
  fs::path path;
  std::uint64_t size;
};

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    std::error_code ec;
    if (fs::is_regular_file(fs::path(dir) / program, ec)) return true;
  }
  return false;
}

// What is missing for this test to run, or "".
std::string missing_tools() {
  std::string missing;
  if (!on_path("node")) missing += " node (Debian package nodejs, >= 18);";
  if (!fs::exists(test::source_dir() / "tests/npm/node_modules/ipfs-unixfs-importer")) {
    missing += " tests/npm/node_modules (run `npm ci` in tests/npm);";
  }
  if (!on_path("nix-hash")) missing += " nix-hash (Debian package nix-bin);";
  return missing;
}

// Writes `size` bytes of the deterministic stream `seed` to `path`, streaming.
void write_deterministic(const fs::path& path, std::string_view seed, std::uint64_t size) {
  test::DeterministicStream stream(seed);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::vector<std::uint8_t> buf(4 * kMiB);
  for (std::uint64_t left = size; left > 0;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    stream.fill(std::span(buf.data(), n));
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(n));
    left -= n;
  }
  out.close();
  REQUIRE(out.good());
  REQUIRE(fs::file_size(path) == size);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<json::object> json_lines(const std::string& text, std::size_t expected) {
  std::vector<json::object> objects;
  for (const auto& line : lines_of(text)) {
    INFO("JSON line: " << line);
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(v.is_object());
    objects.push_back(v.as_object());
  }
  REQUIRE(objects.size() == expected);
  return objects;
}

std::string str(const json::object& o, const char* key) {
  INFO("key " << key);
  REQUIRE(o.contains(key));
  REQUIRE(o.at(key).is_string());
  return std::string(o.at(key).as_string());
}

std::uint64_t num(const json::object& o, const char* key) {
  INFO("key " << key);
  REQUIRE(o.contains(key));
  REQUIRE(o.at(key).is_number());
  return o.at(key).to_number<std::uint64_t>();
}

// The sizes to test for a profile: every boundary of its chunking and tree
// shape, then kRandomFiles uniform random sizes in [0, kRandomMax].
std::vector<std::uint64_t> sizes_for(const Profile& p) {
  const std::uint64_t c = p.chunk;
  const std::uint64_t full = p.links * c;  // bytes under one full node of leaves
  std::vector<std::uint64_t> sizes = {
      0, 1, 2, 1000, c - 1, c, c + 1, 2 * c - 1, 2 * c, 2 * c + 1, 3 * c + 12345, full, full + 1};
  if (full <= 64 * kMiB) {
    // Cheap for unixfs-v0-2015 (174 x 256 KiB): also one leaf short of a full
    // node, a leaf past it, and two full nodes (a third tree level).
    sizes.insert(sizes.end(), {full - 1, full - c, full + c, 2 * full, 2 * full + 1});
  }
  std::mt19937_64 rng(kRandomSeed);
  std::uniform_int_distribution<std::uint64_t> dist(0, kRandomMax);
  for (int i = 0; i < kRandomFiles; ++i) sizes.push_back(dist(rng));
  return sizes;
}

void check_profile(const Profile& profile) {
  const std::string missing = missing_tools();
  if (!missing.empty()) {
    const std::string message =
        "hash oracle test needs:" + missing + " (scripts/install-deps --test installs them)";
    if (std::getenv("CI")) FAIL(message);
    WARN("skipped: " << message);
    return;
  }

  test::TempDir dir;
  std::vector<TestFile> files;
  const auto sizes = sizes_for(profile);
  const auto t0 = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::cout << "hash oracle " << profile.name << ": " << sizes.size()
            << " files, random sizes from std::mt19937_64 seed " << kRandomSeed << "\n";
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string seed = "srcgate-hash-oracle-" + profile.name + "-" + std::to_string(i);
    const fs::path path = dir / (std::to_string(i) + "-" + std::to_string(sizes[i]) + ".bin");
    write_deterministic(path, seed, sizes[i]);
    files.push_back({path, sizes[i]});
  }
  std::cout << "  files written: " << elapsed() << " s\n";
  std::vector<std::string> paths;
  for (const auto& f : files) paths.push_back(f.path.string());

  std::vector<std::string> srcgate_argv = {test::srcgate_binary().string(), "hash", "--profile",
                                           profile.name};
  srcgate_argv.insert(srcgate_argv.end(), paths.begin(), paths.end());
  const auto ours = test::run_command(srcgate_argv);
  INFO("srcgate stderr: " << ours.err);
  REQUIRE(ours.exit_code == 0);
  const auto our_lines = json_lines(ours.out, files.size());
  std::cout << "  srcgate hash: " << elapsed() << " s\n";

  std::vector<std::string> node_argv = {"node",
                                        (test::source_dir() / "tests/npm/unixfs-cid.mjs").string(),
                                        "--profile", profile.name};
  node_argv.insert(node_argv.end(), paths.begin(), paths.end());
  const auto theirs = test::run_command(node_argv);
  INFO("node stderr: " << theirs.err);
  REQUIRE(theirs.exit_code == 0);
  const auto their_lines = json_lines(theirs.out, files.size());
  std::cout << "  node unixfs-cid.mjs: " << elapsed() << " s\n";

  std::vector<std::vector<std::string>> nix_digests;  // [algo][file]
  const std::vector<std::string> algos = {"md5", "sha1", "sha256", "sha512"};
  for (const auto& algo : algos) {
    std::vector<std::string> argv = {"nix-hash", "--type", algo, "--flat"};
    argv.insert(argv.end(), paths.begin(), paths.end());
    const auto r = test::run_command(argv);
    INFO("nix-hash --type " << algo << " stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    nix_digests.push_back(lines_of(r.out));
    REQUIRE(nix_digests.back().size() == files.size());
  }
  std::cout << "  nix-hash: " << elapsed() << " s\n";

  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& ours_i = our_lines[i];
    const auto& theirs_i = their_lines[i];
    INFO("file " << files[i].path.filename().string() << " (" << files[i].size
                 << " bytes), profile " << profile.name);
    CHECK(str(ours_i, "file") == paths[i]);
    CHECK(str(theirs_i, "file") == paths[i]);
    CHECK(num(ours_i, "size") == files[i].size);
    CHECK(num(theirs_i, "size") == files[i].size);
    CHECK(str(ours_i, "cid") == str(theirs_i, "cid"));
    for (std::size_t a = 0; a < algos.size(); ++a) {
      CHECK(str(ours_i, algos[a].c_str()) == nix_digests[a][i]);
    }
    CHECK(str(ours_i, "profile") == profile.name);
  }
}

}  // namespace

TEST_CASE("srcgate hash agrees with ipfs-unixfs-importer and nix-hash: unixfs-v0-2015") {
  check_profile({"unixfs-v0-2015", 256 * 1024, 174});
}

TEST_CASE("srcgate hash agrees with ipfs-unixfs-importer and nix-hash: unixfs-v1-2025") {
  check_profile({"unixfs-v1-2025", kMiB, 1024});
}
