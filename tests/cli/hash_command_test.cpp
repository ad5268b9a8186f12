// The `srcgate` command line and `srcgate hash`: help and version, exit
// statuses, error lines, standard input, JSON shape and file-name escaping.
// Expected digests and CIDs are independent vectors (coreutils *sum, kubo's
// well-known CIDs for "hello\n").
// Boost.JSON's compiled part, for this test executable only.
#include <boost/json/src.hpp>
// clang-format off
#include <catch2/catch.hpp>
// clang-format on
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/test_support.hpp"

namespace {

namespace test = srcgate::test;
namespace json = boost::json;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

json::object parse_object(const std::string& line) {
  INFO("JSON line: " << line);
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  REQUIRE_FALSE(ec);
  REQUIRE(v.is_object());
  return v.as_object();
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

test::CommandResult run_srcgate(std::vector<std::string> args) {
  args.insert(args.begin(), test::srcgate_binary().string());
  return test::run_command(args);
}

const std::string kHelloMd5 = "b1946ac92492d2347c6235b4d2611184";
const std::string kHelloSha1 = "f572d396fae9206628714fb2ce00f72e94f2258f";
const std::string kHelloSha256 = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
const std::string kHelloSha512 =
    "e7c22b994c59d9cf2b48e549b1e24666636045930d3da7c1acb299d1c3b7f931f94aae41edda2c2b207a36e10f8bcb"
    "8d45223e54878f5b316e7ce3b6bc019629";
const std::string kHelloCidV1 = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";
const std::string kHelloCidV0 = "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN";

}  // namespace

TEST_CASE("srcgate --help lists the commands and --version prints the version") {
  auto help = run_srcgate({"--help"});
  INFO(help.err);
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("Usage: srcgate <command>") != std::string::npos);
  CHECK(help.out.find("\n  hash ") != std::string::npos);

  auto version = run_srcgate({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(std::regex_match(version.out, std::regex("srcgate [0-9]+\\.[0-9]+\\.[0-9]+\n")));

  auto hash_help = run_srcgate({"hash", "--help"});
  CHECK(hash_help.exit_code == 0);
  CHECK(hash_help.out.find("Usage: srcgate hash") != std::string::npos);
  CHECK(hash_help.out.find("--profile") != std::string::npos);
  CHECK(hash_help.out.find("unixfs-v1-2025") != std::string::npos);
  CHECK(hash_help.out.find("unixfs-v0-2015") != std::string::npos);
}

TEST_CASE("srcgate without a known command is a usage error") {
  auto none = run_srcgate({});
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("Usage: srcgate") != std::string::npos);

  auto unknown = run_srcgate({"frobnicate"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("unknown command 'frobnicate'") != std::string::npos);
  CHECK(unknown.out.empty());
}

TEST_CASE("srcgate hash prints one JSON line per file with known digests and CIDs") {
  test::TempDir dir;
  const auto file = dir / "hello.txt";
  test::write_file(file, srcgate::content::as_bytes("hello\n"));

  for (const auto& [profile, cid] : {std::pair{std::string("unixfs-v1-2025"), kHelloCidV1},
                                     std::pair{std::string("unixfs-v0-2015"), kHelloCidV0}}) {
    INFO("profile " << profile);
    auto r = run_srcgate({"hash", "--profile", profile, file.string()});
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.empty());
    const auto lines = lines_of(r.out);
    REQUIRE(lines.size() == 1);
    CHECK(r.out.back() == '\n');
    const auto obj = parse_object(lines[0]);
    // Keys in the documented order, and no others.
    std::vector<std::string> keys;
    for (const auto& kv : obj) keys.emplace_back(kv.key());
    CHECK(keys == std::vector<std::string>{"file", "size", "cid", "md5", "sha1", "sha256", "sha512",
                                           "profile"});
    CHECK(str(obj, "file") == file.string());
    CHECK(num(obj, "size") == 6);
    CHECK(str(obj, "cid") == cid);
    CHECK(str(obj, "md5") == kHelloMd5);
    CHECK(str(obj, "sha1") == kHelloSha1);
    CHECK(str(obj, "sha256") == kHelloSha256);
    CHECK(str(obj, "sha512") == kHelloSha512);
    CHECK(str(obj, "profile") == profile);
  }

  SECTION("the default profile is unixfs-v1-2025") {
    auto r = run_srcgate({"hash", file.string()});
    REQUIRE(r.exit_code == 0);
    const auto obj = parse_object(lines_of(r.out).at(0));
    CHECK(str(obj, "cid") == kHelloCidV1);
    CHECK(str(obj, "profile") == "unixfs-v1-2025");
  }
}

TEST_CASE("srcgate hash names an unreadable file on stderr, goes on, and exits 1") {
  test::TempDir dir;
  const auto a = dir / "a";
  const auto b = dir / "b";
  const auto missing = dir / "missing";
  test::write_file(a, srcgate::content::as_bytes("hello\n"));
  test::write_file(b, srcgate::content::as_bytes(""));

  auto r = run_srcgate({"hash", a.string(), missing.string(), b.string(), dir.path().string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err == "srcgate hash: " + missing.string() + ": No such file or directory\n" +
                     "srcgate hash: " + dir.path().string() + ": Is a directory\n");
  const auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(str(parse_object(lines[0]), "file") == a.string());
  const auto empty = parse_object(lines[1]);
  CHECK(str(empty, "file") == b.string());
  CHECK(str(empty, "sha256") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(str(empty, "md5") == "d41d8cd98f00b204e9800998ecf8427e");
  // kubo/js-ipfs: an empty file with raw leaves is the empty raw block.
  CHECK(str(empty, "cid") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
}

TEST_CASE("srcgate hash usage errors exit 2 and say what is valid") {
  test::TempDir dir;
  const auto a = dir / "a";
  test::write_file(a, srcgate::content::as_bytes("x"));

  auto bad_profile = run_srcgate({"hash", "--profile", "unixfs-v2-2030", a.string()});
  CHECK(bad_profile.exit_code == 2);
  CHECK(bad_profile.out.empty());
  CHECK(bad_profile.err.find("unixfs-v2-2030") != std::string::npos);
  CHECK(bad_profile.err.find("unixfs-v1-2025") != std::string::npos);
  CHECK(bad_profile.err.find("unixfs-v0-2015") != std::string::npos);

  auto bad_option = run_srcgate({"hash", "--frobnicate", a.string()});
  CHECK(bad_option.exit_code == 2);
  CHECK(bad_option.err.find("frobnicate") != std::string::npos);
  CHECK(bad_option.out.empty());

  auto no_files = run_srcgate({"hash"});
  CHECK(no_files.exit_code == 2);
  CHECK(no_files.out.empty());
}

TEST_CASE("srcgate hash reads standard input for '-'") {
  test::TempDir dir;
  SECTION("a short pipe") {
    auto r = test::run_command(
        {"/bin/sh", "-c", "printf 'hello\\n' | '" + test::srcgate_binary().string() + "' hash -"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto obj = parse_object(lines_of(r.out).at(0));
    CHECK(str(obj, "file") == "-");
    CHECK(num(obj, "size") == 6);
    CHECK(str(obj, "cid") == kHelloCidV1);
    CHECK(str(obj, "sha512") == kHelloSha512);
  }
  SECTION("a pipe of several MiB gives what the file gives") {
    // 3.5 MiB: many 64 KiB pipe reads per slice, a partial last slice.
    const auto file = dir / "data";
    test::write_file(file, test::deterministic_bytes("stdin", 3 * 1024 * 1024 + 512 * 1024 + 7));
    auto from_file = run_srcgate({"hash", file.string()});
    auto from_pipe = test::run_command(
        {"/bin/sh", "-c",
         "cat '" + file.string() + "' | '" + test::srcgate_binary().string() + "' hash -"});
    INFO(from_pipe.err);
    REQUIRE(from_file.exit_code == 0);
    REQUIRE(from_pipe.exit_code == 0);
    auto a = parse_object(lines_of(from_file.out).at(0));
    auto b = parse_object(lines_of(from_pipe.out).at(0));
    CHECK(str(b, "file") == "-");
    a.erase("file");
    b.erase("file");
    CHECK(json::serialize(a) == json::serialize(b));
  }
}

TEST_CASE("srcgate hash prints file names as valid UTF-8 JSON") {
  test::TempDir dir;
  // 0xFF is never valid; 0xC3 is cut short by 'n'; ED A0 80 is a surrogate;
  // C0 AF is an overlong '/'.
  const std::string invalid = "bad\xff\xc3name\xed\xa0\x80\xc0\xaf";
  const std::string utf8 = "caf\xc3\xa9 \xf0\x9f\x93\xa6";  // "café 📦"
  const std::string quoted = "q\"uote\\back\nline\ttab";
  for (const auto& name : {invalid, utf8, quoted}) test::write_file(dir / name, {});

  auto r = run_srcgate(
      {"hash", (dir / invalid).string(), (dir / utf8).string(), (dir / quoted).string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 3);
  const std::string prefix = dir.path().string() + "/";
  const std::string fffd = "\xef\xbf\xbd";  // U+FFFD
  CHECK(str(parse_object(lines[0]), "file") ==
        prefix + "bad" + fffd + fffd + "name" + fffd + fffd + fffd + fffd + fffd);
  CHECK(str(parse_object(lines[1]), "file") == prefix + utf8);
  CHECK(str(parse_object(lines[2]), "file") == prefix + quoted);
}
