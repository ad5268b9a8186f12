// Hits sent from block files with sendfile(2) (FileBody::next_piece and the
// session's send_file): whole files, ranges inside one leaf, across leaves
// and in a one-block file, under /sha256/ and /ipfs/, with both import
// profiles; and a block file changed on disk, which cuts the connection
// before the promised length rather than sending other bytes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "content/encoding.hpp"
#include "tests/server/gateway_test_support.hpp"

using namespace srcgate;
namespace fs = std::filesystem;

namespace {

std::size_t count_block_files(const fs::path& store) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(store / "blocks")) {
    if (e.is_regular_file() && e.path().parent_path().filename() != "tmp") ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("hits from block files are the file's bytes, whole and in ranges") {
  test::TestGateway gw;
  const auto big = test::deterministic_bytes("file-send-big", (5 << 20) + 12345);
  const auto one = test::deterministic_bytes("file-send-one", 1 << 20);  // a single raw block
  const auto v0 = test::deterministic_bytes("file-send-v0", (2 << 20) + 7);
  const auto big_s = gw.import(big);
  const auto one_s = gw.import(one);
  const auto v0_s = gw.import(v0, content::ImportProfile::v0_2015);
  // 5 + 1 leaves of 1 MiB, and the 256 KiB dag-pb leaves of v0 stay in RocksDB
  // (only raw leaves are sent from files; their files exist all the same).
  REQUIRE(count_block_files(gw.dir() / "store") >= 6);

  const std::string big_text(content::as_chars(big));
  const std::string one_text(content::as_chars(one));
  const std::string v0_text(content::as_chars(v0));
  struct File {
    std::string path;
    const std::string* bytes;
  };
  const std::vector<File> files = {
      {"/sha256/" + content::to_hex(big_s.digests.sha256), &big_text},
      {"/ipfs/" + big_s.dag.root.to_string(), &big_text},
      {"/sha256/" + content::to_hex(one_s.digests.sha256), &one_text},
      {"/sha512/" + content::to_hex(v0_s.digests.sha512), &v0_text},
  };
  for (const auto& f : files) {
    INFO(f.path);
    auto whole = test::http(gw.url() + f.path);
    CHECK(whole.status == 200);
    CHECK(whole.body == *f.bytes);
    const std::uint64_t size = f.bytes->size();
    for (auto [first, last] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
             {0, 0},
             {100, 70'000},                    // inside the first leaf, above the file-span size
             {(1 << 20) - 10, (1 << 20) + 9},  // across a leaf boundary, small
             {500'000, (3 << 20) + 5},         // across several leaves
             {size - 100'000, size - 1}}) {    // the tail
      if (last >= size) continue;
      INFO("range " << first << "-" << last);
      auto part = test::http(gw.url() + f.path, {"-H", "Range: bytes=" + std::to_string(first) +
                                                           "-" + std::to_string(last)});
      CHECK(part.status == 206);
      CHECK(part.body == f.bytes->substr(first, last - first + 1));
    }
  }
}

TEST_CASE("a block file changed on disk cuts the response short") {
  test::TestGateway gw;
  const auto one = test::deterministic_bytes("file-send-corrupt", 1 << 20);
  const auto s = gw.import(one);
  fs::path file;
  for (const auto& e : fs::recursive_directory_iterator(gw.dir() / "store" / "blocks")) {
    if (e.is_regular_file() && e.path().parent_path().filename() != "tmp") file = e.path();
  }
  REQUIRE(!file.empty());
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    f.put('\x5a');
  }
  // The first hand-out of the file in this process checks it: a 500 before
  // any byte, never the changed bytes.
  auto r = test::http(gw.url() + "/sha256/" + content::to_hex(s.digests.sha256));
  CHECK(r.status == 500);
  CHECK(r.body.find("checksum") != std::string::npos);
}

TEST_CASE("a client that leaves in the middle of a block file does not stop the server") {
  // Regression: sendfile(2) to a reset connection raised SIGPIPE, which
  // killed `srcgate serve` (found by bench/gateway-rss.sh, whose curl
  // clients stop at --max-time).
  test::TestGateway gw;
  const auto big = test::deterministic_bytes("file-send-leave", 8 << 20);
  const auto s = gw.import(big);
  const std::string url = gw.url() + "/sha256/" + content::to_hex(s.digests.sha256);
  const std::string request =
      "GET /sha256/" + content::to_hex(s.digests.sha256) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 3; ++i) {
    // Read the headers and a little of the body, then reset the connection
    // while the server is inside a file piece (SO_LINGER 0: close sends RST).
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port =
        htons(static_cast<std::uint16_t>(std::stoi(gw.url().substr(gw.url().rfind(':') + 1))));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
    char buf[65536];
    REQUIRE(::recv(fd, buf, sizeof buf, 0) > 0);
    const linger reset{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
  }
  auto whole = test::http(url);
  CHECK(whole.status == 200);
  CHECK(whole.body.size() == big.size());
}
