// Size-capped eviction on a real RocksDB store: 200 MiB of files that share
// blocks go into a store capped at 64 MiB, some pinned, one read again and
// again. The files on disk take at most the cap plus 10%, after every commit
// and after gc()'s compaction; every pinned file and the file that kept being read are
// whole, the shared blocks of the files that remain are there, and the index
// verifies.
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "content/digest.hpp"
#include "storage/rocksdb_store.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
using content::Bytes;
using content::ByteView;
using content::Cid;

namespace {

constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kCap = 64 * kMiB;

// File i: 1 to 3 chunks of 1 MiB. Chunk 0 of every even file is one of 4
// shared chunks; the rest is the file's own.
Bytes file_bytes(int i, const std::vector<Bytes>& shared) {
  std::size_t chunks = 1 + static_cast<std::size_t>(i % 3);
  Bytes data = test::deterministic_bytes("evict-" + std::to_string(i), chunks * kMiB + 7 * i);
  if (i % 2 == 0) std::copy(shared[i / 2 % 4].begin(), shared[i / 2 % 4].end(), data.begin());
  return data;
}

Cid import(storage::BlockStore& s, ByteView data) {
  auto imp = s.begin_import(content::ImportProfile::v1_2025);
  REQUIRE(imp->write(data));
  REQUIRE(imp->finish());
  auto c = imp->commit();
  INFO((c ? "" : c.error().message));
  REQUIRE(c);
  return c->summary.dag.root;
}

bool reads_back(storage::BlockStore& s, const Cid& root, ByteView expected) {
  content::Digester sha(content::HashAlgo::sha256);
  std::uint64_t size = 0;
  auto r = s.read_file(root, 0, ~0ull, [&](ByteView b) -> storage::Result<void> {
    sha.update(b);
    size += b.size();
    return {};
  });
  return r && size == expected.size() &&
         sha.finish() == content::digest_of(content::HashAlgo::sha256, expected);
}

}  // namespace

TEST_CASE("a 64 MiB store fed 200 MiB keeps its cap, its pins and its recently read files",
          "[store][rocksdb][evict]") {
  test::TempDir tmp;
  storage::RocksDbOptions o;
  o.dir = tmp / "store";
  o.store.max_size = kCap;
  auto opened = storage::open_rocksdb_store(o);
  INFO((opened ? "" : opened.error().message));
  REQUIRE(opened);
  auto& s = **opened;

  std::vector<Bytes> shared;
  for (int i = 0; i < 4; ++i)
    shared.push_back(test::deterministic_bytes("shared-" + std::to_string(i), kMiB));

  const int kHot = 10;  // read after every import: must outlive its neighbours
  std::vector<Cid> roots;
  std::vector<int> pinned;
  std::uint64_t fed = 0, max_disk = 0;
  // Each loop step imports one file: bounded by the 200 MiB target.
  for (int i = 0; fed < 200 * kMiB; ++i) {
    Bytes data = file_bytes(i, shared);
    fed += data.size();
    roots.push_back(import(s, data));
    if (i < 6 && i % 2 == 1) {
      REQUIRE(s.pin(roots.back()));
      pinned.push_back(i);
    }
    if (i > kHot) {
      REQUIRE(s.read_file(roots[kHot], 0, 1, [](ByteView) -> storage::Result<void> { return {}; }));
    }
    auto st = s.stats();
    REQUIRE(st);
    CHECK(st->logical_bytes <= kCap * 95 / 100);
    max_disk = std::max(max_disk, st->disk_bytes);
  }

  auto gc = s.gc();
  INFO((gc ? "" : gc.error().message));
  REQUIRE(gc);
  auto st = s.stats();
  REQUIRE(st);
  std::printf(
      "eviction test: fed %.1f MiB in %zu files; after gc: %llu files, logical %.1f MiB, "
      "disk %.1f MiB (max during imports %.1f MiB), cap %.0f MiB\n",
      double(fed) / kMiB, roots.size(), static_cast<unsigned long long>(st->files),
      double(st->logical_bytes) / kMiB, double(st->disk_bytes) / kMiB, double(max_disk) / kMiB,
      double(kCap) / kMiB);
  CHECK(st->disk_bytes <= kCap * 11 / 10);
  CHECK(max_disk <= kCap * 11 / 10);  // the cap holds between commits too, not only after gc
  CHECK(st->logical_bytes <= kCap * 85 / 100);
  CHECK(st->logical_bytes >= kCap / 2);  // eviction stops at the low watermark

  for (int i : pinned) {
    INFO("pinned file " << i);
    CHECK(reads_back(s, roots[i], file_bytes(i, shared)));
  }
  CHECK(reads_back(s, roots[kHot], file_bytes(kHot, shared)));
  // Its unpinned neighbours, imported about when it was and never read again, are gone.
  for (int i = kHot - 3; i <= kHot + 3; ++i) {
    if (i == kHot || (i < 6 && i % 2 == 1)) continue;
    auto rec = s.record(roots[i]);
    REQUIRE(rec);
    CHECK_FALSE(rec->has_value());
  }
  // Every file that remains reads back whole, so the shared chunks it uses remain.
  std::size_t remaining = 0;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    auto rec = s.record(roots[i]);
    REQUIRE(rec);
    if (!rec->has_value()) continue;
    ++remaining;
    INFO("file " << i);
    CHECK(reads_back(s, roots[i], file_bytes(static_cast<int>(i), shared)));
  }
  CHECK(remaining == st->files);
  auto v = s.verify({});
  REQUIRE(v);
  CHECK(v->ok());
  CHECK(v->unreferenced_blocks == 0);
}
