// The BlockStore contract, run against every backend: the in-memory store and
// the RocksDB store in a fresh temporary directory. Expected CIDs and digests
// are published vectors (ipfs-gateway.md §2.5 table, `openssl dgst`), and the
// fixture CARs are the gateway-conformance ones (block counts from
// ipfs-gateway.md §4.4).
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "content/car.hpp"
#include "content/cid.hpp"
#include "content/encoding.hpp"
#include "content/importer.hpp"
#include "content/nix_hash.hpp"
#include "storage/block_store.hpp"
#include "storage/memory_store.hpp"
#include "storage/rocksdb_store.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
using content::Bytes;
using content::ByteView;
using content::Cid;
using content::HashAlgo;
using storage::BlockStore;
using storage::Errc;

namespace {

constexpr std::size_t kMiB = 1 << 20;

// A store of one backend, in its own temporary directory.
struct Backend {
  std::string name;
  test::TempDir dir;
  std::unique_ptr<BlockStore> store;

  explicit Backend(std::string backend, storage::StoreOptions options = {},
                   std::uint64_t memory_capacity = 0)
      : name(std::move(backend)) {
    if (name == "memory") {
      auto s = storage::make_memory_store({options, memory_capacity});
      INFO((s ? "" : s.error().message));
      REQUIRE(s);
      store = std::move(*s);
    } else {
      storage::RocksDbOptions o;
      o.dir = dir / "store";
      o.store = options;
      // "rocksdb-bulk" sends every block batch down the WAL-less bulk path.
      if (name == "rocksdb-bulk") o.store.bulk_after_bytes = 0;
      auto s = storage::open_rocksdb_store(o);
      INFO((s ? "" : s.error().message));
      REQUIRE(s);
      store = std::move(*s);
    }
  }
  BlockStore& operator*() { return *store; }
  BlockStore* operator->() { return store.get(); }
};

Cid cid(std::string_view text) {
  auto c = Cid::parse(text);
  INFO(text);
  REQUIRE(c);
  return *c;
}

content::Digest digest(HashAlgo algo, std::string_view hex) {
  auto b = content::hex_decode(hex);
  REQUIRE(b);
  return content::Digest(algo, *b);
}

storage::ImportedFile import(
    BlockStore& s, ByteView data,
    const content::ImportProfile& profile = content::ImportProfile::v1_2025) {
  auto imp = s.begin_import(profile);
  for (std::size_t at = 0; at < data.size(); at += 100000) {
    auto w = imp->write(data.subspan(at, std::min<std::size_t>(100000, data.size() - at)));
    INFO((w ? "" : w.error().message));
    REQUIRE(w);
  }
  auto f = imp->finish();
  INFO((f ? "" : f.error().message));
  REQUIRE(f);
  auto c = imp->commit();
  INFO((c ? "" : c.error().message));
  REQUIRE(c);
  return *c;
}

Bytes read_all(BlockStore& s, const Cid& root, std::uint64_t begin = 0, std::uint64_t end = ~0ull) {
  Bytes out;
  auto r = s.read_file(root, begin, end, [&](ByteView b) -> storage::Result<void> {
    content::append(out, b);
    return {};
  });
  INFO((r ? "" : r.error().message));
  REQUIRE(r);
  return out;
}

storage::StoreStats stats(BlockStore& s) {
  auto st = s.stats();
  INFO((st ? "" : st.error().message));
  REQUIRE(st);
  return *st;
}

bool has(BlockStore& s, const Cid& c) {
  auto h = s.has_block(c);
  REQUIRE(h);
  return *h;
}

bool has_record(BlockStore& s, const Cid& root) {
  auto r = s.record(root);
  REQUIRE(r);
  return r->has_value();
}

Cid raw_cid(ByteView bytes) {
  return Cid::v1(static_cast<std::uint64_t>(content::Codec::raw), content::MultihashCode::sha2_256,
                 content::digest_of(HashAlgo::sha256, bytes).bytes());
}

Bytes concat(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  content::append(out, b);
  return out;
}

std::vector<std::pair<Cid, Bytes>> car_blocks(const std::filesystem::path& path) {
  std::vector<std::pair<Cid, Bytes>> blocks;
  auto car = test::read_file(path);
  auto r = content::read_car(
      car, {[](const content::CarHeader&) -> content::Result<void> { return {}; },
            [&](const Cid& c, ByteView b, std::uint64_t) -> content::Result<void> {
              blocks.emplace_back(c, Bytes(b.begin(), b.end()));
              return {};
            }});
  INFO((r ? "" : r.error().message));
  REQUIRE(r);
  return blocks;
}

storage::Result<storage::ImportedCar> import_car(BlockStore& s, ByteView car) {
  auto imp = s.begin_car_import();
  // Odd slice sizes so that sections straddle writes.
  for (std::size_t at = 0; at < car.size(); at += 777) {
    auto w = imp->write(car.subspan(at, std::min<std::size_t>(777, car.size() - at)));
    if (!w) return w.error();
  }
  return imp->commit();
}

}  // namespace

TEST_CASE("an imported file is found under its four digests and reads back", "[store]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto hello = content::as_bytes("hello world");
  auto imported = import(*s, hello);
  // IPIP-0499 vector for "hello world" with unixfs-v1-2025.
  CHECK(imported.summary.dag.root ==
        cid("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"));
  CHECK_FALSE(imported.already_stored);

  // printf 'hello world' | openssl dgst -md5 / -sha1 / -sha256 / -sha512
  const std::pair<HashAlgo, const char*> names[] = {
      {HashAlgo::md5, "5eb63bbbe01eeed093cb22bb8f5acdc3"},
      {HashAlgo::sha1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"},
      {HashAlgo::sha256, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"},
      {HashAlgo::sha512,
       "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f989dd35bc5ff499670da34255b4"
       "5b0"
       "cfd830e81f605dcf7dc5542e93ae9cd76f"}};
  for (const auto& [algo, hex] : names) {
    auto entry = s->lookup(digest(algo, hex));
    REQUIRE(entry);
    REQUIRE(entry->has_value());
    CHECK((*entry)->root == imported.summary.dag.root);
    CHECK((*entry)->size == 11);
  }
  auto other = s->lookup(digest(HashAlgo::sha256, std::string(64, '0')));
  REQUIRE(other);
  CHECK_FALSE(other->has_value());

  CHECK(read_all(*s, imported.summary.dag.root) == Bytes(hello.begin(), hello.end()));
  CHECK(read_all(*s, imported.summary.dag.root, 6, 9) == Bytes{'w', 'o', 'r'});

  auto st = stats(*s);
  CHECK(st.files == 1);
  CHECK(st.blocks == 1);
  CHECK(st.logical_bytes == 11);
  CHECK(st.pinned_bytes == 0);
  CHECK(st.disk_bytes > 0);

  auto rec = s->record(imported.summary.dag.root);
  REQUIRE(rec);
  REQUIRE(rec->has_value());
  CHECK((*rec)->size == 11);
  CHECK((*rec)->stored_bytes == 11);
  CHECK((*rec)->block_count == 1);
  CHECK_FALSE((*rec)->pinned);
  REQUIRE((*rec)->digests);
  CHECK(content::to_hex((*rec)->digests->sha256) == names[2].second);

  std::size_t count = 0;
  auto each = s->for_each_name([&](const content::Digest&, const storage::NameEntry& e) {
    CHECK(e.root == imported.summary.dag.root);
    ++count;
    return true;
  });
  REQUIRE(each);
  CHECK(count == 4);
}

TEST_CASE("a multi-block file is stored block by block and read by range", "[store]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto data = test::deterministic_bytes("chunk-v1-seed", kMiB + 1);
  auto imported = import(*s, data);
  // IPIP-0499 vector: 1048577 B of seed chunk-v1-seed under unixfs-v1-2025.
  const Cid root = cid("bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64");
  CHECK(imported.summary.dag.root == root);
  auto root_block = s->get_block(root);
  REQUIRE(root_block);
  REQUIRE(root_block->has_value());
  auto st = stats(*s);
  CHECK(st.files == 1);
  CHECK(st.blocks == 3);
  CHECK(st.logical_bytes == kMiB + 1 + (*root_block)->size());
  CHECK(has(*s, raw_cid(ByteView(data).first(kMiB))));
  CHECK(has(*s, raw_cid(ByteView(data).last(1))));

  CHECK(read_all(*s, root) == data);
  auto tail = read_all(*s, root, kMiB - 3, kMiB + 1);
  CHECK(tail == Bytes(data.end() - 4, data.end()));
}

TEST_CASE("importing a stored file again writes nothing and counts nothing twice", "[store]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto data = test::deterministic_bytes("again", 2 * kMiB + 5);
  auto first = import(*s, data);
  auto before = stats(*s);
  auto second = import(*s, data);
  CHECK(second.already_stored);
  CHECK(second.summary.dag.root == first.summary.dag.root);
  auto after = stats(*s);
  CHECK(after.files == before.files);
  CHECK(after.blocks == before.blocks);
  CHECK(after.logical_bytes == before.logical_bytes);
  auto v = s->verify({});
  REQUIRE(v);
  CHECK(v->ok());
}

TEST_CASE("a block is stored once per multihash whatever the CID", "[store]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto imported = import(*s, content::as_bytes("hello world\n"), content::ImportProfile::v0_2015);
  const Cid v0 = cid("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
  CHECK(imported.summary.dag.root == v0);
  auto a = s->get_block(v0);
  auto b = s->get_block(v0.to_v1());
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->has_value());
  REQUIRE(b->has_value());
  CHECK(**a == **b);
  // The dag-pb leaf of ipfs-gateway.md §2.5: 0a 12 08 02 12 0c "hello world\n" 18 0c.
  Bytes expected = {0x0a, 0x12, 0x08, 0x02, 0x12, 0x0c};
  content::append(expected, content::as_bytes("hello world\n"));
  expected.push_back(0x18);
  expected.push_back(0x0c);
  CHECK(**a == expected);
  auto none = s->get_block(raw_cid(content::as_bytes("never stored")));
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
}

TEST_CASE("blocks shared by files survive until no file references them", "[store][evict]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto x = test::deterministic_bytes("x", kMiB);
  auto y = test::deterministic_bytes("y", kMiB);
  auto z = test::deterministic_bytes("z", kMiB);
  auto a = import(*s, concat(x, y)).summary.dag.root;
  auto b = import(*s, concat(x, z)).summary.dag.root;
  auto st = stats(*s);
  CHECK(st.files == 2);
  CHECK(st.blocks == 5);  // x, y, z, and two roots

  // a is the least recently used: evicting one file's worth removes a only.
  auto ev = s->evict_to(st.logical_bytes - 1);
  INFO((ev ? "" : ev.error().message));
  REQUIRE(ev);
  CHECK(ev->files == 1);
  CHECK(ev->blocks == 2);  // y and a's root; x is still b's
  CHECK_FALSE(has_record(*s, a));
  CHECK(has_record(*s, b));
  CHECK(has(*s, raw_cid(x)));
  CHECK_FALSE(has(*s, raw_cid(y)));
  CHECK_FALSE(has(*s, a));
  CHECK(read_all(*s, b) == concat(x, z));
  auto gone = s->lookup(content::digest_of(HashAlgo::sha256, concat(x, y)));
  REQUIRE(gone);
  CHECK_FALSE(gone->has_value());
  st = stats(*s);
  CHECK(st.files == 1);
  CHECK(st.blocks == 3);

  REQUIRE(s->evict_to(0));
  st = stats(*s);
  CHECK(st.files == 0);
  CHECK(st.blocks == 0);
  CHECK(st.logical_bytes == 0);
  CHECK_FALSE(has(*s, raw_cid(x)));
  auto v = s->verify({});
  REQUIRE(v);
  CHECK(v->ok());
}

TEST_CASE("eviction takes the least recently used file; reading refreshes a file",
          "[store][evict]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto a = import(*s, test::deterministic_bytes("a", kMiB)).summary.dag.root;
  auto b = import(*s, test::deterministic_bytes("b", kMiB)).summary.dag.root;
  auto c = import(*s, test::deterministic_bytes("c", kMiB)).summary.dag.root;
  read_all(*s, a, 0, 10);  // a is now the most recently used
  auto st = stats(*s);
  REQUIRE(s->evict_to(st.logical_bytes - 1));
  CHECK(has_record(*s, a));
  CHECK_FALSE(has_record(*s, b));
  CHECK(has_record(*s, c));
  s->touch(c);
  REQUIRE(s->flush());
  REQUIRE(s->evict_to(stats(*s).logical_bytes - 1));
  CHECK_FALSE(has_record(*s, a));
  CHECK(has_record(*s, c));
}

TEST_CASE("pinned files are never evicted; unpinned ones are again", "[store][pin]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto a = import(*s, test::deterministic_bytes("pin-a", kMiB)).summary.dag.root;
  auto b = import(*s, test::deterministic_bytes("pin-b", kMiB)).summary.dag.root;
  REQUIRE(s->pin(a));
  REQUIRE(s->pin(a));  // idempotent
  auto rec = s->record(a);
  REQUIRE(rec);
  REQUIRE(rec->has_value());
  CHECK((*rec)->pinned);
  CHECK(stats(*s).pinned_bytes == (*rec)->stored_bytes);

  REQUIRE(s->evict_to(0));
  CHECK(has_record(*s, a));
  CHECK_FALSE(has_record(*s, b));
  CHECK(read_all(*s, a) == test::deterministic_bytes("pin-a", kMiB));

  auto unknown = s->pin(raw_cid(content::as_bytes("not stored")));
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == Errc::not_found);

  REQUIRE(s->unpin(a));
  CHECK(stats(*s).pinned_bytes == 0);
  REQUIRE(s->evict_to(0));
  CHECK_FALSE(has_record(*s, a));
  CHECK(stats(*s).logical_bytes == 0);
}

TEST_CASE("a commit over the high watermark evicts down to the low watermark", "[store][evict]") {
  constexpr std::uint64_t kCap = 32 * kMiB;
  storage::StoreOptions options;
  options.max_size = kCap;
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"), options);
  INFO(s.name);
  CHECK(s->limits().max_size == kCap);
  std::vector<Cid> roots;
  for (int i = 0; i < 40; ++i) {
    roots.push_back(
        import(*s, test::deterministic_bytes("wm" + std::to_string(i), kMiB)).summary.dag.root);
    auto st = stats(*s);
    CHECK(st.logical_bytes <= kCap * 95 / 100);
  }
  // Crossing 95% evicted the oldest files down to 85%, less the backend's
  // own overhead (for RocksDB at this size: logs, metadata and uncollected
  // garbage of a few MiB; for memory: the index, a few KiB).
  CHECK(has_record(*s, roots.back()));
  CHECK_FALSE(has_record(*s, roots.front()));
  auto st = stats(*s);
  CHECK(st.logical_bytes <= kCap * 95 / 100);
  CHECK(st.logical_bytes >= kCap * 85 / 100 - 8 * kMiB);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    if (!has_record(*s, roots[i])) continue;
    // What is kept is the most recent files, without gaps.
    CHECK(i >= roots.size() - st.files);
    ++kept;
  }
  CHECK(kept == st.files);
}

TEST_CASE("an aborted import leaves nothing behind", "[store][import]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto kept = import(*s, test::deterministic_bytes("kept", kMiB + 3)).summary.dag.root;
  auto before = stats(*s);
  auto data = test::deterministic_bytes("aborted", 3 * kMiB);
  SECTION("abort while writing") {
    auto imp = s->begin_import(content::ImportProfile::v1_2025);
    REQUIRE(imp->write(data));
    imp->abort();
  }
  SECTION("abort after finish (a digest mismatch)") {
    auto imp = s->begin_import(content::ImportProfile::v1_2025);
    REQUIRE(imp->write(data));
    REQUIRE(imp->finish());
    imp->abort();
  }
  SECTION("destroyed without commit") {
    auto imp = s->begin_import(content::ImportProfile::v1_2025);
    REQUIRE(imp->write(data));
  }
  auto after = stats(*s);
  CHECK(after.files == before.files);
  CHECK(after.blocks == before.blocks);
  CHECK(after.logical_bytes == before.logical_bytes);
  CHECK_FALSE(has(*s, raw_cid(ByteView(data).first(kMiB))));
  auto none = s->lookup(content::digest_of(HashAlgo::sha256, data));
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  CHECK(read_all(*s, kept) == test::deterministic_bytes("kept", kMiB + 3));
  auto v = s->verify({});
  REQUIRE(v);
  CHECK(v->ok());
  CHECK(v->unreferenced_blocks == 0);
}

TEST_CASE("an import that shares blocks with a stored file keeps them when aborted",
          "[store][import]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto x = test::deterministic_bytes("shared-x", kMiB);
  auto stored = import(*s, concat(x, content::as_bytes("tail"))).summary.dag.root;
  {
    auto imp = s->begin_import(content::ImportProfile::v1_2025);
    REQUIRE(imp->write(concat(x, content::as_bytes("other tail"))));
    REQUIRE(imp->finish());
    imp->abort();
  }
  CHECK(has(*s, raw_cid(x)));
  CHECK(read_all(*s, stored) == concat(x, content::as_bytes("tail")));
}

TEST_CASE("the source index keeps URLs per digest", "[store][sources]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto d = content::digest_of(HashAlgo::sha256, content::as_bytes("a tarball"));
  auto other = content::digest_of(HashAlgo::sha1, content::as_bytes("a tarball"));
  REQUIRE(s->add_source(d, "https://b.example/x.tar.gz"));
  REQUIRE(s->add_source(d, "https://a.example/x.tar.gz"));
  REQUIRE(s->add_source(d, "https://a.example/x.tar.gz"));
  REQUIRE(s->add_source(other, "https://c.example/y"));
  auto urls = s->sources(d, 64);
  REQUIRE(urls);
  CHECK(*urls ==
        std::vector<std::string>{"https://a.example/x.tar.gz", "https://b.example/x.tar.gz"});
  auto one = s->sources(d, 1);
  REQUIRE(one);
  CHECK(one->size() == 1);
  REQUIRE(s->remove_source(d, "https://a.example/x.tar.gz"));
  urls = s->sources(d, 64);
  REQUIRE(urls);
  CHECK(*urls == std::vector<std::string>{"https://b.example/x.tar.gz"});
  auto none = s->sources(content::digest_of(HashAlgo::md5, content::as_bytes("a tarball")), 64);
  REQUIRE(none);
  CHECK(none->empty());
  auto empty = s->add_source(d, "");
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == Errc::invalid_input);
}

TEST_CASE("the source index is enumerated digest by digest in key order", "[store][sources]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  using Visit = std::pair<std::string, std::vector<std::string>>;  // "algo:hex", URLs
  const auto enumerate = [&](std::size_t stop_after) {
    std::vector<Visit> seen;
    auto r = s->for_each_source([&](const content::Digest& d,
                                    const std::vector<std::string>& urls) {
      seen.emplace_back(std::string(content::algo_name(d.algo)) + ":" + content::to_hex(d), urls);
      return seen.size() < stop_after;
    });
    INFO((r ? "" : r.error().message));
    REQUIRE(r);
    return seen;
  };
  CHECK(enumerate(100).empty());

  // Published digests of "abc" and "" (FIPS 180 / RFC 1321 test vectors).
  const auto sha1_abc = digest(HashAlgo::sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
  const auto sha256_abc =
      digest(HashAlgo::sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const auto sha256_empty =
      digest(HashAlgo::sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const auto md5_abc = digest(HashAlgo::md5, "900150983cd24fb0d6963f7d28e17f72");
  const auto md5_empty = digest(HashAlgo::md5, "d41d8cd98f00b204e9800998ecf8427e");
  REQUIRE(s->add_source(md5_abc, "https://m.example/abc"));
  REQUIRE(s->add_source(sha256_empty, "https://e.example/empty.tar.gz"));
  REQUIRE(s->add_source(sha256_abc, "https://b.example/abc.tar.gz"));
  REQUIRE(s->add_source(sha256_abc, "https://a.example/abc.tar"));
  REQUIRE(s->add_source(sha256_abc, "https://a.example/abc.tar.gz"));
  REQUIRE(s->add_source(sha1_abc, "http://s.example/abc"));
  REQUIRE(s->add_source(md5_empty, "https://gone.example/empty"));
  REQUIRE(s->remove_source(md5_empty, "https://gone.example/empty"));

  // Code bytes order the algorithms: sha1 0x11 < sha256 0x12 < md5 0xd5.
  const std::vector<Visit> expected = {
      {"sha1:a9993e364706816aba3e25717850c26c9cd0d89d", {"http://s.example/abc"}},
      {"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
       {"https://a.example/abc.tar", "https://a.example/abc.tar.gz",
        "https://b.example/abc.tar.gz"}},
      {"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       {"https://e.example/empty.tar.gz"}},
      {"md5:900150983cd24fb0d6963f7d28e17f72", {"https://m.example/abc"}},
  };
  CHECK(enumerate(100) == expected);
  // The visitor stops the walk: after the second group, and after the last.
  CHECK(enumerate(2) == std::vector<Visit>(expected.begin(), expected.begin() + 2));
  CHECK(enumerate(4) == expected);
  CHECK(enumerate(1) == std::vector<Visit>(expected.begin(), expected.begin() + 1));
}

TEST_CASE("verify re-hashes every block and reports a corrupted one", "[store][verify]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto data = test::deterministic_bytes("verify", 2 * kMiB);
  auto root = import(*s, data).summary.dag.root;
  auto clean = s->verify({});
  REQUIRE(clean);
  CHECK(clean->ok());
  CHECK(clean->blocks_checked == 3);
  CHECK(clean->bytes_checked == stats(*s).logical_bytes);

  auto leaf = raw_cid(ByteView(data).first(kMiB));
  auto bad = data;
  bad[12345] ^= 1;
  REQUIRE(s->overwrite_block_for_testing(leaf, ByteView(bad).first(kMiB)));
  std::vector<storage::VerifyProblem> seen;
  auto v = s->verify([&](const storage::VerifyProblem& p) { seen.push_back(p); });
  REQUIRE(v);
  REQUIRE(v->problems.size() == 1);
  CHECK(seen.size() == 1);
  CHECK(v->problems[0].key == content::hex_encode(leaf.multihash()));
  CHECK_THAT(v->problems[0].problem, Catch::Contains("do not hash"));
  (void)root;
}

TEST_CASE("a CAR is imported block by block with its roots checked", "[store][car]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto path = test::fixture("path_gateway_unixfs/dir-with-files.car");
  auto expected = car_blocks(path);
  std::set<Bytes> distinct;
  for (const auto& [c, b] : expected)
    distinct.insert(Bytes(c.multihash().begin(), c.multihash().end()));
  auto r = import_car(*s, test::read_file(path));
  INFO((r ? "" : r.error().message));
  REQUIRE(r);
  REQUIRE(r->roots.size() == 1);
  CHECK(r->roots[0].root == cid("bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"));
  CHECK(r->roots[0].present);
  CHECK_FALSE(r->roots[0].complete_file);  // a directory
  CHECK(r->blocks == distinct.size());
  for (const auto& [c, b] : expected) {
    auto got = s->get_block(c);
    REQUIRE(got);
    REQUIRE(got->has_value());
    CHECK(**got == b);
  }
  auto st = stats(*s);
  CHECK(st.files == 1);
  CHECK(st.blocks == distinct.size());
  auto v = s->verify({});
  REQUIRE(v);
  CHECK(v->ok());
  CHECK(v->unreferenced_blocks == 0);
  // hello.txt inside it is "hello world\n" (ipfs-gateway.md §2.5).
  CHECK(
      read_all(*s, cid("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")) ==
      Bytes(content::as_bytes("hello world\n").begin(), content::as_bytes("hello world\n").end()));
}

TEST_CASE("a CAR whose root is a complete file is indexed under its digests", "[store][car]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  // Build the CAR of a two-leaf file from the importer's blocks.
  auto data = test::deterministic_bytes("chunk-v1-seed", kMiB + 1);
  std::vector<content::Block> blocks;
  content::FileImporter importer(content::ImportProfile::v1_2025,
                                 [&](content::Block&& b) { blocks.push_back(std::move(b)); });
  importer.write(data);
  auto dag = importer.finish();
  Bytes car = content::encode_car_header({dag.root});
  for (const auto& b : blocks) content::append_car_section(car, b.cid, b.bytes);
  auto r = import_car(*s, car);
  INFO((r ? "" : r.error().message));
  REQUIRE(r);
  REQUIRE(r->roots.size() == 1);
  CHECK(r->roots[0].complete_file);
  CHECK(r->roots[0].size == kMiB + 1);
  auto entry = s->lookup(content::digest_of(HashAlgo::sha256, data));
  REQUIRE(entry);
  REQUIRE(entry->has_value());
  CHECK((*entry)->root == cid("bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64"));
  CHECK((*entry)->size == kMiB + 1);
  // The same file imported from bytes is already stored.
  CHECK(import(*s, data).already_stored);
}

TEST_CASE("a CAR with a missing block is stored but not indexed as a file", "[store][car]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto car = test::read_file(
      test::fixture("trustless_gateway_car/file-3k-and-3-blocks-missing-block.car"));
  auto r = import_car(*s, car);
  INFO((r ? "" : r.error().message));
  REQUIRE(r);
  REQUIRE(r->roots.size() == 1);
  CHECK(r->roots[0].root == cid("QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk"));
  CHECK(r->roots[0].present);
  CHECK_FALSE(r->roots[0].complete_file);
  std::size_t names = 0;
  REQUIRE(s->for_each_name([&](const content::Digest&, const storage::NameEntry&) {
    ++names;
    return true;
  }));
  CHECK(names == 0);
  CHECK(stats(*s).files == 1);
}

TEST_CASE("a CAR with a corrupted block is rejected whole, naming the offset", "[store][car]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto path = test::fixture("path_gateway_unixfs/dir-with-files.car");
  auto car = test::read_file(path);
  auto blocks = car_blocks(path);
  // Flip the last byte of the CAR: it belongs to the last block's data.
  car.back() ^= 0x01;
  auto before = stats(*s);
  auto r = import_car(*s, car);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::invalid_input);
  // The last section is varint(38) + a 36-byte CIDv1 + 2 bytes of data = 39
  // bytes, so it starts at 1939 - 39 = 1900.
  CHECK_THAT(r.error().message, Catch::Contains("byte 1900"));
  auto after = stats(*s);
  CHECK(after.files == before.files);
  CHECK(after.blocks == before.blocks);
  for (const auto& [c, b] : blocks) CHECK_FALSE(has(*s, c));
  auto v = s->verify({});
  REQUIRE(v);
  CHECK(v->unreferenced_blocks == 0);
}

TEST_CASE("every conformance fixture CAR imports and verifies", "[store][car]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  std::size_t cars = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(test::fixture(""))) {
    if (entry.path().extension() != ".car") continue;
    ++cars;
    INFO(entry.path());
    auto expected = car_blocks(entry.path());
    auto r = import_car(*s, test::read_file(entry.path()));
    INFO((r ? "" : r.error().message));
    REQUIRE(r);
    for (const auto& [c, b] : expected) {
      if (c.is_identity()) continue;
      auto got = s->get_block(c);
      REQUIRE(got);
      REQUIRE(got->has_value());
      CHECK(**got == b);
    }
  }
  CHECK(cars == 26);  // ipfs-gateway.md §4.4
  auto v = s->verify({});
  REQUIRE(v);
  CHECK(v->ok());
}

TEST_CASE("reading a root the store does not have is not_found", "[store]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  auto r = s->read_file(raw_cid(content::as_bytes("absent")), 0, 10,
                        [](ByteView) -> storage::Result<void> { return {}; });
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::not_found);
}

TEST_CASE("a full memory store fails imports clearly and keeps serving reads", "[store][full]") {
  Backend s("memory", {}, 3 * kMiB);
  auto kept = import(*s, test::deterministic_bytes("kept", kMiB)).summary.dag.root;
  auto imp = s->begin_import(content::ImportProfile::v1_2025);
  auto data = test::deterministic_bytes("too big", 4 * kMiB);
  storage::Result<void> w;
  for (std::size_t at = 0; at < data.size() && w; at += kMiB) {
    w = imp->write(ByteView(data).subspan(at, kMiB));
  }
  storage::Result<content::FileSummary> f = storage::Error{Errc::failed, ""};
  if (w) f = imp->finish();
  Errc code = w ? f.error().code : w.error().code;
  std::string message = w ? f.error().message : w.error().message;
  CHECK(code == Errc::no_space);
  CHECK_THAT(message, Catch::StartsWith("store is full"));
  imp.reset();
  CHECK(read_all(*s, kept) == test::deterministic_bytes("kept", kMiB));
  auto v = s->verify({});
  REQUIRE(v);
  CHECK(v->ok());
}

TEST_CASE("a RocksDB store keeps everything across reopen and is exclusive", "[store][rocksdb]") {
  test::TempDir dir;
  storage::RocksDbOptions o;
  o.dir = dir / "store";
  o.store.max_size = 100 * kMiB;
  Cid a = raw_cid(content::as_bytes("x")), b = a;
  storage::StoreStats before;
  {
    auto s = storage::open_rocksdb_store(o);
    REQUIRE(s);
    a = import(**s, test::deterministic_bytes("reopen-a", kMiB + 1)).summary.dag.root;
    b = import(**s, test::deterministic_bytes("reopen-b", 10)).summary.dag.root;
    REQUIRE((*s)->pin(b));
    (*s)->touch(a);
    before = stats(**s);

    auto second = storage::open_rocksdb_store(o);
    REQUIRE_FALSE(second);
    CHECK(second.error().code == Errc::busy);
    CHECK_THAT(second.error().message, Catch::Contains("in use by another process"));
  }
  o.store.max_size.reset();  // the recorded cap stays in force
  auto s = storage::open_rocksdb_store(o);
  INFO((s ? "" : s.error().message));
  REQUIRE(s);
  CHECK((*s)->limits().max_size == 100 * kMiB);
  auto after = stats(**s);
  CHECK(after.files == before.files);
  CHECK(after.blocks == before.blocks);
  CHECK(after.logical_bytes == before.logical_bytes);
  CHECK(after.pinned_bytes == before.pinned_bytes);
  CHECK(read_all(**s, a) == test::deterministic_bytes("reopen-a", kMiB + 1));
  auto rb = (*s)->record(b);
  REQUIRE(rb);
  REQUIRE(rb->has_value());
  CHECK((*rb)->pinned);
  // a was touched after b was imported: the access survived the close.
  auto ra = (*s)->record(a);
  REQUIRE(ra);
  REQUIRE(ra->has_value());
  CHECK((*ra)->last_access > (*rb)->last_access);
}

TEST_CASE("opening a missing RocksDB store without create is not_found", "[store][rocksdb]") {
  test::TempDir dir;
  storage::RocksDbOptions o;
  o.dir = dir / "nothing";
  o.create_if_missing = false;
  auto s = storage::open_rocksdb_store(o);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == Errc::not_found);
}

TEST_CASE("concurrent imports sharing blocks and evictions keep the index consistent",
          "[store][threads]") {
  Backend s(GENERATE(as<std::string>{}, "memory", "rocksdb", "rocksdb-bulk"));
  INFO(s.name);
  const Bytes shared = test::deterministic_bytes("threads-shared", kMiB);
  std::atomic<int> failures{0};
  std::atomic<bool> importing{true};
  auto importer = [&](int who) {
    for (int i = 0; i < 8; ++i) {
      Bytes data = concat(
          shared, test::deterministic_bytes("t" + std::to_string(who) + "-" + std::to_string(i),
                                            kMiB / 2 + static_cast<std::size_t>(i)));
      auto imp = s->begin_import(content::ImportProfile::v1_2025);
      if (!imp->write(data) || !imp->finish()) {
        ++failures;
        continue;
      }
      auto c = imp->commit();
      if (!c) {
        ++failures;
        continue;
      }
      // Either the file reads back whole, or an eviction took it in between.
      Bytes back;
      auto r =
          s->read_file(c->summary.dag.root, 0, ~0ull, [&](ByteView b) -> storage::Result<void> {
            content::append(back, b);
            return {};
          });
      if (r ? back != data
            : r.error().code != Errc::not_found && r.error().code != Errc::corruption) {
        ++failures;
      }
      if (!r) {
        auto rec = s->record(c->summary.dag.root);
        if (!rec || rec->has_value()) ++failures;  // a readable record must read
      }
    }
  };
  std::thread a(importer, 0), b(importer, 1);
  std::thread evictor([&] {
    // Bounded: stops after the importers or after 10,000 rounds.
    for (int round = 0; round < 10000 && importing; ++round) {
      auto st = s->stats();
      if (!st || !s->evict_to(st->logical_bytes / 2)) ++failures;
      std::this_thread::yield();
    }
  });
  a.join();
  b.join();
  importing = false;
  evictor.join();
  CHECK(failures == 0);
  auto v =
      s->verify([](const storage::VerifyProblem& p) { UNSCOPED_INFO(p.key << ": " << p.problem); });
  REQUIRE(v);
  CHECK(v->ok());
  CHECK(v->unreferenced_blocks == 0);
}
