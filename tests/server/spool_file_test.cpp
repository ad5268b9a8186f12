// SpoolFile: appends, positional reads (also while the writer goes on, from
// another thread), clear(), and that the file has no name in its directory.
#include "server/spool_file.hpp"

#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>
#include <vector>

#include "tests/support/test_support.hpp"

namespace srcgate::server {
namespace {

using content::Bytes;
using content::ByteView;

std::size_t entries_in(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(dir);
       it != std::filesystem::directory_iterator(); ++it) {
    ++n;
  }
  return n;
}

TEST_CASE("a spool file appends and reads back at any offset, and has no name") {
  test::TempDir dir;
  const auto spool_dir = dir / "spool" / "nested";  // created on demand
  auto created = SpoolFile::create(spool_dir);
  INFO((created ? "" : created.error().message));
  REQUIRE(created);
  SpoolFile& spool = **created;
  CHECK(entries_in(spool_dir) == 0);  // unlinked from the start

  const std::string hello = "hello, ";
  const std::string world = "spooled world";
  REQUIRE(spool.append(content::as_bytes(hello)));
  REQUIRE(spool.append(content::as_bytes(world)));
  REQUIRE(spool.append(ByteView{}));
  CHECK(spool.size() == 20);

  std::vector<std::uint8_t> out(32, 0xee);
  auto n = spool.read_at(0, out);
  REQUIRE(n);
  CHECK(*n == 20);
  CHECK(std::string(out.begin(), out.begin() + 20) == "hello, spooled world");

  n = spool.read_at(7, std::span<std::uint8_t>(out.data(), 7));
  REQUIRE(n);
  CHECK(*n == 7);
  CHECK(std::string(out.begin(), out.begin() + 7) == "spooled");

  n = spool.read_at(18, out);  // fewer only at the end
  REQUIRE(n);
  CHECK(*n == 2);
  CHECK(std::string(out.begin(), out.begin() + 2) == "ld");
  n = spool.read_at(20, out);
  REQUIRE(n);
  CHECK(*n == 0);

  REQUIRE(spool.clear());
  CHECK(spool.size() == 0);
  n = spool.read_at(0, out);
  REQUIRE(n);
  CHECK(*n == 0);
  REQUIRE(spool.append(content::as_bytes(world)));
  n = spool.read_at(0, out);
  REQUIRE(n);
  CHECK(*n == world.size());
  CHECK(std::string(out.begin(), out.begin() + world.size()) == world);
  CHECK(entries_in(spool_dir) == 0);
}

TEST_CASE("a spool file is readable by another thread while the writer appends") {
  test::TempDir dir;
  auto created = SpoolFile::create(dir.path());
  REQUIRE(created);
  SpoolFile& spool = **created;
  const Bytes data = test::deterministic_bytes("spool", 8 << 20);
  constexpr std::size_t kPiece = 100'003;  // odd, so pieces straddle pages

  std::atomic<std::uint64_t> published{0};
  std::atomic<bool> writer_failed{false};
  std::thread writer([&] {
    for (std::size_t at = 0; at < data.size(); at += kPiece) {
      const std::size_t len = std::min(kPiece, data.size() - at);
      if (!spool.append(ByteView(data).subspan(at, len))) {
        writer_failed = true;
        break;
      }
      published.store(at + len, std::memory_order_release);
    }
  });
  Bytes copy(data.size());
  std::uint64_t have = 0;
  std::string problem;
  // Bounded: each round either copies published bytes or yields; the writer
  // ends after data.size() / kPiece appends.
  for (std::size_t round = 0; round < 10'000'000 && have < data.size() && problem.empty();
       ++round) {
    const std::uint64_t upto = published.load(std::memory_order_acquire);
    if (upto == have) {
      if (writer_failed) break;
      std::this_thread::yield();
      continue;
    }
    auto n = spool.read_at(have, std::span<std::uint8_t>(copy.data() + have, upto - have));
    if (!n) {
      problem = n.error().message;
    } else if (*n != upto - have) {
      problem = "short read at " + std::to_string(have);
    } else {
      have = upto;
    }
  }
  writer.join();
  INFO(problem);
  REQUIRE(problem.empty());
  REQUIRE_FALSE(writer_failed);
  REQUIRE(have == data.size());
  CHECK(copy == data);
}

TEST_CASE("a spool file in a directory that cannot exist is an error that names it") {
  test::TempDir dir;
  test::write_file(dir / "file", content::as_bytes(std::string("x")));
  auto created = SpoolFile::create(dir / "file" / "sub");
  REQUIRE_FALSE(created);
  CHECK_THAT(created.error().message, Catch::Matchers::Contains((dir / "file" / "sub").string()));
}

}  // namespace
}  // namespace srcgate::server
