// FileCursor, the pull reader over a file's byte range: the bytes it yields
// equal the file's bytes (the fixture's leaf blocks, and deterministic data
// imported into 3-level trees), one slice per covering block, every block
// fetched once and only covering blocks fetched (the missing-block fixture of
// ipfs-gateway.md §1.6), and errors for missing inner blocks and non-files.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "content/car.hpp"
#include "content/importer.hpp"
#include "content/unixfs_reader.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate::content;
using srcgate::test::fixture;
using srcgate::test::read_file;

namespace {

class RecordingSource final : public BlockSource {
 public:
  explicit RecordingSource(BlockSource& inner) : inner_(inner) {}
  Result<std::optional<Bytes>> get(const Cid& cid) override {
    requests.push_back(cid.to_string());
    return inner_.get(cid);
  }
  std::vector<std::string> requests;

 private:
  BlockSource& inner_;
};

void load_car(MemoryBlockSource& source, const char* path) {
  Bytes car = read_file(fixture(path));
  auto r = read_car(car, {nullptr, [&](const Cid& cid, ByteView block, std::uint64_t) {
                            source.put(cid, Bytes(block.begin(), block.end()));
                            return Result<void>();
                          }});
  INFO(path << ": " << (r ? "" : r.error().message));
  REQUIRE(r);
}

Cid cid_of(std::string_view s) {
  auto c = Cid::parse(s);
  INFO(s);
  REQUIRE(c);
  return *c;
}

struct Pulled {
  std::string bytes;
  std::vector<std::size_t> slices;
};

// Pulls the whole range; at most `bound` calls.
Pulled pull(FileCursor& cursor, std::size_t bound = 100000) {
  Pulled out;
  for (std::size_t i = 0; i < bound; ++i) {
    auto piece = cursor.next();
    INFO((piece ? "" : piece.error().message));
    REQUIRE(piece);
    if (piece->empty()) return out;
    out.bytes.append(as_chars(*piece));
    out.slices.push_back(piece->size());
  }
  FAIL("cursor did not end within " << bound << " calls");
  return out;
}

// The bytes of multiblock.txt: its five raw leaves, named in ipfs-gateway.md §4.5.
std::string multiblock_bytes(MemoryBlockSource& src) {
  std::string out;
  for (const char* leaf : {"bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm",
                           "bafkreih4ephajybraj6wnxsbwjwa77fukurtpl7oj7t7pfq545duhot7cq",
                           "bafkreigu7buvm3cfunb35766dn7tmqyh2um62zcio63en2btvxuybgcpue",
                           "bafkreicll3huefkc3qnrzeony7zcfo7cr3nbx64hnxrqzsixpceg332fhe",
                           "bafkreifst3pqztuvj57lycamoi7z34b4emf7gawxs74nwrc2c7jncmpaqm"}) {
    auto b = src.get(cid_of(leaf));
    REQUIRE(b);
    REQUIRE(*b);
    out.append(as_chars(**b));
  }
  return out;
}

constexpr const char* kMultiblock = "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa";

// Imports `data` into `mem` as 1000-byte raw leaves, 4 links per node (for
// 40 chunks: leaves, 10 parents, 3 grandparents, root).
ImportResult import_tree(MemoryBlockSource& mem, const Bytes& data) {
  const ImportProfile profile{"test", 1, true, 1000, 4};
  FileImporter importer(profile, [&](Block&& b) { mem.put(b.cid, std::move(b.bytes)); });
  importer.write(data);
  const ImportResult r = importer.finish();
  REQUIRE(r.size == data.size());
  return r;
}

}  // namespace

TEST_CASE("FileCursor yields multiblock.txt leaf by leaf, fetching each block once") {
  MemoryBlockSource mem;
  load_car(mem, "path_gateway_unixfs/dir-with-files.car");
  const std::string expected = multiblock_bytes(mem);
  REQUIRE(expected.size() == 1026);

  RecordingSource rec(mem);
  auto cursor = FileCursor::open(rec, cid_of(kMultiblock), 0, UINT64_MAX);
  REQUIRE(cursor);
  CHECK(cursor->file_size() == 1026);
  CHECK(cursor->end() == 1026);
  Pulled p = pull(*cursor);
  CHECK(p.bytes == expected);
  CHECK(p.slices == std::vector<std::size_t>{256, 256, 256, 256, 2});
  CHECK(rec.requests ==
        std::vector<std::string>{kMultiblock,
                                 "bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm",
                                 "bafkreih4ephajybraj6wnxsbwjwa77fukurtpl7oj7t7pfq545duhot7cq",
                                 "bafkreigu7buvm3cfunb35766dn7tmqyh2um62zcio63en2btvxuybgcpue",
                                 "bafkreicll3huefkc3qnrzeony7zcfo7cr3nbx64hnxrqzsixpceg332fhe",
                                 "bafkreifst3pqztuvj57lycamoi7z34b4emf7gawxs74nwrc2c7jncmpaqm"});
  // Past the end: still empty.
  auto again = cursor->next();
  REQUIRE(again);
  CHECK(again->empty());
}

TEST_CASE("FileCursor ranges fetch only the covering leaves") {
  MemoryBlockSource mem;
  load_car(mem, "path_gateway_unixfs/dir-with-files.car");
  const std::string expected = multiblock_bytes(mem);

  struct Case {
    std::uint64_t begin, end;
    std::vector<std::size_t> slices;
    std::size_t fetched;  // root + covering leaves
  };
  const std::vector<Case> cases = {
      {0, 1, {1}, 2},       {255, 257, {1, 1}, 3},
      {256, 512, {256}, 2}, {300, 1026, {212, 256, 256, 2}, 5},
      {1025, 5000, {1}, 2}, {600, 600, {}, 1},
      {2000, 3000, {}, 1},
  };
  for (const Case& c : cases) {
    RecordingSource rec(mem);
    auto cursor = FileCursor::open(rec, cid_of(kMultiblock), c.begin, c.end);
    REQUIRE(cursor);
    Pulled p = pull(*cursor);
    INFO("range " << c.begin << "-" << c.end);
    const std::uint64_t end = std::min<std::uint64_t>(c.end, 1026);
    const std::uint64_t begin = std::min(c.begin, end);
    CHECK(p.bytes == expected.substr(begin, end - begin));
    CHECK(p.slices == c.slices);
    CHECK(rec.requests.size() == c.fetched);
  }
}

TEST_CASE("FileCursor serves ranges of a file whose middle block is missing") {
  MemoryBlockSource mem;
  load_car(mem, "trustless_gateway_car/file-3k-and-3-blocks-missing-block.car");
  const Cid root = cid_of("QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk");
  {
    auto cursor = FileCursor::open(mem, root, 997, 1001);
    REQUIRE(cursor);
    CHECK(cursor->file_size() == 3072);
    CHECK(pull(*cursor).bytes.size() == 4);
  }
  {
    auto cursor = FileCursor::open(mem, root, 2200, 2202);
    REQUIRE(cursor);
    CHECK(pull(*cursor).bytes.size() == 2);
  }
  {
    auto cursor = FileCursor::open(mem, root, 0, 3072);
    REQUIRE(cursor);
    auto first = cursor->next();
    REQUIRE(first);
    CHECK(first->size() == 1024);
    auto second = cursor->next();
    REQUIRE_FALSE(second);
    CHECK(second.error().code == Errc::not_found);
  }
}

TEST_CASE("FileCursor over a 3-level tree equals the imported bytes") {
  const Bytes data = srcgate::test::deterministic_bytes("cursor-seed", 40'000 - 7);
  MemoryBlockSource mem;
  const ImportResult r = import_tree(mem, data);
  const std::string whole(as_chars(data));

  for (auto [begin, end] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {0, 40'000}, {999, 1001}, {15'500, 33'333}, {39'990, 39'993}, {0, 1}}) {
    RecordingSource rec(mem);
    auto cursor = FileCursor::open(rec, r.root, begin, end);
    REQUIRE(cursor);
    Pulled p = pull(*cursor);
    end = std::min<std::uint64_t>(end, whole.size());
    INFO("range " << begin << "-" << end);
    CHECK(p.bytes == whole.substr(begin, end - begin));
    std::map<std::string, int> counts;
    for (const auto& c : rec.requests) ++counts[c];
    for (const auto& [cid, n] : counts) CHECK(n == 1);
  }
}

TEST_CASE("FileCursor refuses what is not a file and a missing root") {
  MemoryBlockSource mem;
  load_car(mem, "path_gateway_unixfs/dir-with-files.car");
  auto dir = FileCursor::open(
      mem, cid_of("bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"), 0, 10);
  REQUIRE_FALSE(dir);
  CHECK(dir.error().code == Errc::malformed);
  auto missing =
      FileCursor::open(mem, cid_of("QmYzfKSE55XCjD1MW128RfciAf2DViABhEiXfgVFMabSjN"), 0, 10);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
  // An identity CID holding raw bytes is a one-block file.
  auto id =
      Cid::v1(static_cast<std::uint64_t>(Codec::raw), MultihashCode::identity, as_bytes("hello"));
  auto cursor = FileCursor::open(mem, id, 1, 4);
  REQUIRE(cursor);
  CHECK(pull(*cursor).bytes == "ell");
}

TEST_CASE("FileCursor::next_slice names raw leaves instead of fetching them") {
  const Bytes data = srcgate::test::deterministic_bytes("slice-seed", 40'000 - 7);
  MemoryBlockSource mem;
  const ImportResult r = import_tree(mem, data);
  const std::string whole(as_chars(data));

  for (auto [begin, end] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {0, 40'000}, {999, 1001}, {15'500, 33'333}, {39'990, 39'993}, {0, 1}}) {
    RecordingSource rec(mem);
    auto cursor = FileCursor::open(rec, r.root, begin, end);
    REQUIRE(cursor);
    end = std::min<std::uint64_t>(end, whole.size());
    INFO("range " << begin << "-" << end);
    std::string got;
    std::size_t leaves = 0;
    for (int i = 0; i < 1000; ++i) {
      auto slice = cursor->next_slice(1000);
      REQUIRE(slice);
      if (slice->done()) break;
      // Every chunk is a 1000-byte raw leaf; the last one is shorter (993),
      // below the deferral size, so it comes as bytes.
      if (!slice->leaf) {
        got.append(as_chars(slice->bytes));
        continue;
      }
      ++leaves;
      CHECK(slice->leaf_size == 1000);
      REQUIRE(slice->length > 0);
      REQUIRE(slice->offset + slice->length <= slice->leaf_size);
      auto leaf = mem.get(*slice->leaf);
      REQUIRE(leaf);
      REQUIRE(*leaf);
      CHECK((*leaf)->size() == slice->leaf_size);
      got.append(as_chars(ByteView(**leaf).subspan(slice->offset, slice->length)));
    }
    CHECK(got == whole.substr(begin, end - begin));
    CHECK(cursor->position() == end);
    // No deferred leaf was fetched through the source; inner nodes and the
    // short last leaf were.
    for (const auto& c : rec.requests) {
      auto cid = Cid::parse(c);
      REQUIRE(cid);
      const bool short_leaf = cid->codec() == static_cast<std::uint64_t>(Codec::raw);
      if (short_leaf) CHECK(end > 39'000);
    }
    CHECK((leaves > 0) == (begin < 39'000));
  }
}
