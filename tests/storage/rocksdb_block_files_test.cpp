// Block files: the RocksDB store keeps blocks of min_file_block_size bytes or
// more in files of their own (storage/block_files.hpp). Their bytes come back
// through get_block and open_block_file, eviction unlinks them, the size
// counters include them, a missing file is reported rather than served, and
// files that no record names (a crash between writing and recording) are
// removed at open (tmp/) or by gc.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <optional>

#include "content/encoding.hpp"
#include "storage/rocksdb_store.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
namespace fs = std::filesystem;

namespace {

storage::RocksDbOptions options(const fs::path& dir) {
  storage::RocksDbOptions o;
  o.dir = dir;
  return o;
}

std::unique_ptr<storage::BlockStore> open(const fs::path& dir) {
  auto s = storage::open_rocksdb_store(options(dir));
  INFO((s ? "" : s.error().message));
  REQUIRE(s.has_value());
  return std::move(*s);
}

content::FileSummary import(storage::BlockStore& s, const content::Bytes& data) {
  auto imp = s.begin_import(content::ImportProfile::v1_2025);
  REQUIRE(imp->write(data).has_value());
  auto summary = imp->finish();
  REQUIRE(summary.has_value());
  REQUIRE(imp->commit().has_value());
  return *summary;
}

std::vector<fs::path> block_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir / "blocks")) {
    if (e.is_regular_file() && e.path().parent_path().filename() != "tmp") out.push_back(e.path());
  }
  return out;
}

content::Cid raw_cid_of_file(const fs::path& p) {
  auto key = content::hex_decode(p.filename().string());
  REQUIRE(key);
  return content::Cid::v1(static_cast<std::uint64_t>(content::Codec::raw), *key);
}

content::Bytes read_whole(storage::BlockStore& s, const content::Cid& root, std::uint64_t size) {
  content::Bytes back;
  auto r = s.read_file(root, 0, size, [&](content::ByteView b) -> storage::Result<void> {
    content::append(back, b);
    return {};
  });
  INFO((r ? "" : r.error().message));
  REQUIRE(r.has_value());
  return back;
}

content::Bytes read_fd(const storage::BlockFile& f) {
  content::Bytes out(f.size());
  std::uint64_t done = 0;
  for (int i = 0; i < 1000 && done < f.size(); ++i) {
    const ssize_t n = ::pread(f.fd(), out.data() + done, f.size() - done, static_cast<off_t>(done));
    REQUIRE(n > 0);
    done += static_cast<std::uint64_t>(n);
  }
  return out;
}

}  // namespace

TEST_CASE("large blocks live in block files, small ones in RocksDB") {
  test::TempDir dir;
  const auto big = test::deterministic_bytes("block-files-big", (3 << 20) + 1000);
  const auto small = test::deterministic_bytes("block-files-small", 4096);
  auto s = open(dir.path());
  const auto big_summary = import(*s, big);
  const auto small_summary = import(*s, small);

  // Three full 1 MiB leaves; the 1000-byte tail, the root and the small file
  // stay in RocksDB.
  const auto files = block_files(dir.path());
  REQUIRE(files.size() == 3);
  for (const auto& p : files) {
    CHECK(fs::file_size(p) == (1u << 20));
    const auto cid = raw_cid_of_file(p);
    auto f = s->open_block_file(cid);
    INFO((f ? "" : f.error().message));
    REQUIRE(f.has_value());
    REQUIRE(f->has_value());
    CHECK((*f)->size() == (1u << 20));
    auto bytes = s->get_block(cid);
    REQUIRE(bytes.has_value());
    REQUIRE(bytes->has_value());
    CHECK(read_fd(**f) == **bytes);
    // The leaf is one of the file's 1 MiB chunks.
    CHECK(std::search(big.begin(), big.end(), (*bytes)->begin(), (*bytes)->end()) != big.end());
  }
  auto small_file = s->open_block_file(small_summary.dag.root);
  REQUIRE(small_file.has_value());
  CHECK_FALSE(small_file->has_value());
  auto root_file = s->open_block_file(big_summary.dag.root);
  REQUIRE(root_file.has_value());
  CHECK_FALSE(root_file->has_value());

  // Reads of the whole file give its bytes.
  CHECK(read_whole(*s, big_summary.dag.root, big.size()) == big);

  // The disk figure counts the files.
  auto stats = s->stats();
  REQUIRE(stats.has_value());
  CHECK(stats->disk_bytes >= (3u << 20));
  auto report = s->verify({});
  REQUIRE(report.has_value());
  CHECK(report->ok());
  CHECK(report->blocks_checked == big_summary.dag.block_count + 1);

  // After a reopen the counters and files are the same.
  s.reset();
  s = open(dir.path());
  auto again = s->stats();
  REQUIRE(again.has_value());
  CHECK(again->disk_bytes >= (3u << 20));

  // Evicting the big file unlinks its block files.
  REQUIRE(s->evict_to(small.size()).has_value());
  CHECK(block_files(dir.path()).empty());
  auto after = s->stats();
  REQUIRE(after.has_value());
  CHECK(after->disk_bytes + (3u << 20) <= again->disk_bytes + (1u << 20));
  auto gone = s->lookup(big_summary.digests.sha256);
  REQUIRE(gone.has_value());
  CHECK_FALSE(gone->has_value());

  // Importing it again brings the files back.
  import(*s, big);
  CHECK(block_files(dir.path()).size() == 3);
}

TEST_CASE("a missing block file is an error, never short bytes, and verify names it") {
  test::TempDir dir;
  const auto big = test::deterministic_bytes("block-files-missing", 2 << 20);
  auto s = open(dir.path());
  const auto summary = import(*s, big);
  const auto files = block_files(dir.path());
  REQUIRE(files.size() == 2);
  fs::remove(files[1]);
  const auto cid = raw_cid_of_file(files[1]);
  auto got = s->get_block(cid);
  REQUIRE_FALSE(got.has_value());
  CHECK(got.error().code == storage::Errc::corruption);
  auto f = s->open_block_file(cid);
  REQUIRE_FALSE(f.has_value());
  CHECK(f.error().code == storage::Errc::corruption);
  CHECK_THAT(f.error().message, Catch::Contains("missing"));
  auto report = s->verify({});
  REQUIRE(report.has_value());
  REQUIRE_FALSE(report->ok());
  for (const auto& p : report->problems) {
    INFO(p.key << ": " << p.problem);
    CHECK(p.key == files[1].filename().string());
  }
  (void)summary;
}

TEST_CASE("files that no record names are removed: staged ones at open, others by gc") {
  test::TempDir dir;
  const auto big = test::deterministic_bytes("block-files-orphans", 2 << 20);
  {
    auto s = open(dir.path());
    import(*s, big);
  }
  // What a crash can leave: a staged file, and a renamed file whose record
  // was never written.
  const fs::path staged = dir.path() / "blocks" / "tmp" / "123.4";
  const fs::path stray = dir.path() / "blocks" / "ab" / ("1220" + std::string(62, '0') + "ab");
  fs::create_directories(stray.parent_path());
  for (const auto& p : {staged, stray}) {
    std::ofstream(p, std::ios::binary) << std::string(200000, 'x');
  }
  auto s = open(dir.path());
  CHECK_FALSE(fs::exists(staged));
  CHECK(fs::exists(stray));
  auto stray_block = s->get_block(raw_cid_of_file(stray));
  REQUIRE(stray_block.has_value());
  CHECK_FALSE(stray_block->has_value());  // never served: no record names it
  auto report = s->gc();
  REQUIRE(report.has_value());
  CHECK_FALSE(fs::exists(stray));
  CHECK(block_files(dir.path()).size() == 2);
  auto verified = s->verify({});
  REQUIRE(verified.has_value());
  CHECK(verified->ok());
}

TEST_CASE("a store written without block files is read, and then written with them") {
  test::TempDir dir;
  const auto first = test::deterministic_bytes("block-files-upgrade-1", 2 << 20);
  const auto second = test::deterministic_bytes("block-files-upgrade-2", 2 << 20);
  std::optional<content::FileSummary> a;
  {
    auto o = options(dir.path());
    o.min_file_block_size = 0;
    auto s = storage::open_rocksdb_store(o);
    REQUIRE(s.has_value());
    a = import(**s, first);
  }
  CHECK(block_files(dir.path()).empty());
  auto s = open(dir.path());
  const auto b = import(*s, second);
  CHECK(block_files(dir.path()).size() == 2);
  for (const auto& [summary, data] : {std::pair{*a, first}, std::pair{b, second}}) {
    CHECK(read_whole(*s, summary.dag.root, data.size()) == data);
  }
  auto report = s->verify({});
  REQUIRE(report.has_value());
  CHECK(report->ok());
}
