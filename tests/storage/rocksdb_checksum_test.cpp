// The RocksDB store's block checksums: a byte flipped on disk, inside a blob
// file (blocks kept in RocksDB) or a block file (large blocks kept in files of
// their own), is found by the block's CRC-32C on the next read (an error,
// never the changed bytes), and `verify` reports the block.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "storage/rocksdb_store.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;

namespace {

storage::RocksDbOptions options(const std::filesystem::path& dir, bool block_files) {
  storage::RocksDbOptions o;
  o.dir = dir;
  if (!block_files) o.min_file_block_size = 0;
  return o;
}

// The largest regular file below `dir` whose path passes `wanted`.
std::filesystem::path largest(const std::filesystem::path& dir,
                              const std::function<bool(const std::filesystem::path&)>& wanted) {
  std::filesystem::path best;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && wanted(e.path()) &&
        (best.empty() || e.file_size() > std::filesystem::file_size(best))) {
      best = e.path();
    }
  }
  return best;
}

}  // namespace

TEST_CASE("a block changed on disk is an error on read, not wrong bytes") {
  const bool block_files = GENERATE(false, true);
  INFO((block_files ? "large blocks in block files" : "every block in RocksDB"));
  test::TempDir dir;
  const auto data = test::deterministic_bytes("rocksdb-checksum", 3 << 20);
  std::optional<content::Cid> root;
  {
    auto s = storage::open_rocksdb_store(options(dir.path(), block_files));
    INFO((s ? "" : s.error().message));
    REQUIRE(s.has_value());
    auto imp = (*s)->begin_import(content::ImportProfile::v1_2025);
    REQUIRE(imp->write(data).has_value());
    auto summary = imp->finish();
    REQUIRE(summary.has_value());
    REQUIRE(imp->commit().has_value());
    root = summary->dag.root;
    // Read back whole: the trailer is stripped, the bytes are the file's.
    content::Bytes back;
    REQUIRE((*s)->read_file(*root, 0, data.size(),
                            [&](content::ByteView b) -> storage::Result<void> {
                              content::append(back, b);
                              return {};
                            })
                .has_value());
    REQUIRE(back == data);
  }

  // Flip one byte in the middle of the largest blob file, or block file (the
  // file's 1 MiB leaves live there).
  const std::filesystem::path blob = largest(dir.path(), [&](const std::filesystem::path& p) {
    return block_files ? p.parent_path().parent_path().filename() == "blocks"
                       : p.extension() == ".blob";
  });
  INFO(blob);
  const auto size = std::filesystem::file_size(blob);
  REQUIRE(size >= (block_files ? (1u << 20) : (2u << 20)));
  {
    std::fstream f(blob, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size / 2));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5A);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.write(&c, 1);
  }

  auto s = storage::open_rocksdb_store(options(dir.path(), block_files));
  INFO((s ? "" : s.error().message));
  REQUIRE(s.has_value());
  std::uint64_t delivered = 0;
  auto r =
      (*s)->read_file(*root, 0, data.size(), [&](content::ByteView b) -> storage::Result<void> {
        // Whatever is delivered before the bad block is the file's own bytes.
        REQUIRE(
            std::equal(b.begin(), b.end(), data.begin() + static_cast<std::ptrdiff_t>(delivered)));
        delivered += b.size();
        return {};
      });
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == storage::Errc::corruption);
  CHECK_THAT(r.error().message, Catch::Contains("checksum mismatch"));
  CHECK(delivered < data.size());

  auto report = (*s)->verify({});
  REQUIRE(report.has_value());
  CHECK_FALSE(report->ok());
  CHECK(report->problems.size() == 1);

  if (block_files) {
    // Handing the file out for sendfile checks it too (once per process).
    std::string hex = blob.filename().string();
    auto key = content::hex_decode(hex);
    REQUIRE(key);
    const auto leaf = content::Cid::v1(static_cast<std::uint64_t>(content::Codec::raw), *key);
    auto file = (*s)->open_block_file(leaf);
    REQUIRE_FALSE(file.has_value());
    CHECK(file.error().code == storage::Errc::corruption);
    CHECK_THAT(file.error().message, Catch::Contains("checksum mismatch"));
  }
}
