// UnixfsReader over the gateway-conformance fixtures (ipfs-gateway.md §1.6,
// §2.5, §4.5): file bytes and ranges checked against the leaf blocks and
// bytes read by an independent Python parse of the CARs, the blocks each
// request fetches (through a recording source), HAMT and plain directory
// resolution, symlinks, and hand-built DAGs for identity CIDs, Data.Data before
// children and deep trees.
#include "content/unixfs_reader.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "content/car.hpp"
#include "content/dag_pb.hpp"
#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "content/unixfs.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate::content;
using srcgate::test::fixture;
using srcgate::test::read_file;

namespace {

// Records every CID asked for, in order.
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
  INFO(path);
  INFO((r ? "" : r.error().message));
  REQUIRE(r);
}

Cid cid_of(std::string_view s) {
  auto c = Cid::parse(s);
  INFO(s);
  REQUIRE(c);
  return *c;
}

// Reads [begin, end) and also returns the size of each sink call.
Result<std::string> read(UnixfsReader& reader, const Cid& file, std::uint64_t begin,
                         std::uint64_t end, std::vector<std::size_t>* calls = nullptr) {
  std::string out;
  auto r = reader.read_range(file, begin, end, [&](ByteView b) -> Result<void> {
    out.append(as_chars(b));
    if (calls) calls->push_back(b.size());
    return {};
  });
  if (!r) return r.error();
  return out;
}

std::vector<std::string> strings(const std::vector<Cid>& cids) {
  std::vector<std::string> out;
  for (const Cid& c : cids) out.push_back(c.to_string());
  return out;
}

const char* kDirWithFiles = "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy";
const char* kMultiblock = "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa";
const char* kHelloTxt = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";
const char* kLeaves[] = {
    "bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm",
    "bafkreih4ephajybraj6wnxsbwjwa77fukurtpl7oj7t7pfq545duhot7cq",
    "bafkreigu7buvm3cfunb35766dn7tmqyh2um62zcio63en2btvxuybgcpue",
    "bafkreicll3huefkc3qnrzeony7zcfo7cr3nbx64hnxrqzsixpceg332fhe",
    "bafkreifst3pqztuvj57lycamoi7z34b4emf7gawxs74nwrc2c7jncmpaqm",
};
const char* kHamtRoot = "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i";

// A DAG built by hand in a memory source.
struct Built {
  MemoryBlockSource source;
  Cid put(Bytes block, Codec codec) {
    Cid cid = Cid::of_block(1, codec, block);
    source.put(cid, std::move(block));
    return cid;
  }
  Cid raw(std::string_view s) { return put(Bytes(s.begin(), s.end()), Codec::raw); }
  // A UnixFS file node with optional Data.Data and children of `sizes` bytes.
  Cid file(std::string_view data, const std::vector<std::pair<Cid, std::uint64_t>>& children,
           std::optional<std::uint64_t> filesize = std::nullopt) {
    UnixfsData fs;
    fs.type = UnixfsType::file;
    if (!data.empty()) fs.data = as_bytes(data);
    std::uint64_t total = data.size();
    PbNode node;
    for (const auto& [cid, size] : children) {
      fs.blocksizes.push_back(size);
      total += size;
      node.links.push_back(PbLink{cid, std::string(), size});
    }
    fs.filesize = filesize.value_or(total);
    Bytes inner = encode_unixfs(fs);
    node.data = ByteView(inner);
    return put(encode_dag_pb(node), Codec::dag_pb);
  }
};

}  // namespace

TEST_CASE("dir-with-files: stat, list, resolve and read hello.txt") {
  MemoryBlockSource mem;
  load_car(mem, "path_gateway_unixfs/dir-with-files.car");
  RecordingSource source(mem);
  UnixfsReader reader(source);
  const Cid root = cid_of(kDirWithFiles);

  auto info = reader.stat(root);
  INFO((info ? "" : info.error().message));
  REQUIRE(info);
  CHECK(info->kind == EntryKind::directory);
  CHECK_FALSE(info->hamt);

  source.requests.clear();
  auto entries = reader.list(root);
  REQUIRE(entries);
  CHECK(source.requests == std::vector<std::string>{kDirWithFiles});  // no child fetched
  REQUIRE(entries->size() == 4);
  const char* names[] = {"ascii-copy.txt", "ascii.txt", "hello.txt", "multiblock.txt"};
  const std::uint64_t tsizes[] = {31, 31, 12, 1271};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK((*entries)[i].name == names[i]);
    CHECK((*entries)[i].tsize == tsizes[i]);
  }
  CHECK((*entries)[2].cid.to_string() == kHelloTxt);
  CHECK((*entries)[3].cid.to_string() == kMultiblock);

  source.requests.clear();
  auto res = reader.resolve(root, {"hello.txt"});
  INFO((res ? "" : res.error().message));
  REQUIRE(res);
  CHECK(res->cid.to_string() == kHelloTxt);
  CHECK(strings(res->roots) == std::vector<std::string>{kDirWithFiles, kHelloTxt});
  CHECK(strings(res->visited) == std::vector<std::string>{kDirWithFiles});
  CHECK(source.requests == std::vector<std::string>{kDirWithFiles});

  auto hello_info = reader.stat(res->cid);
  REQUIRE(hello_info);
  CHECK(hello_info->kind == EntryKind::raw_block);
  CHECK(hello_info->size == 12);
  auto hello = read(reader, res->cid, 0, UINT64_MAX);
  REQUIRE(hello);
  CHECK(*hello == "hello world\n");
  auto part = read(reader, res->cid, 6, 11);
  REQUIRE(part);
  CHECK(*part == "world");

  auto empty_path = reader.resolve(root, {});
  REQUIRE(empty_path);
  CHECK(empty_path->cid == root);
  CHECK(strings(empty_path->roots) == std::vector<std::string>{kDirWithFiles});
  CHECK(empty_path->visited.empty());
}

TEST_CASE("dir-with-files: multiblock.txt whole and in ranges, fetching only covering leaves") {
  MemoryBlockSource mem;
  load_car(mem, "path_gateway_unixfs/dir-with-files.car");
  RecordingSource source(mem);
  UnixfsReader reader(source);
  const Cid root = cid_of(kDirWithFiles);

  auto res = reader.resolve(root, {"multiblock.txt"});
  REQUIRE(res);
  REQUIRE(res->cid.to_string() == kMultiblock);
  const Cid file = res->cid;

  auto info = reader.stat(file);
  REQUIRE(info);
  CHECK(info->kind == EntryKind::file);
  CHECK(info->size == 1026);

  // The leaf blocks concatenated, straight from the source.
  std::string leaves;
  std::vector<std::size_t> leaf_sizes;
  for (const char* leaf : kLeaves) {
    auto b = mem.get(cid_of(leaf));
    REQUIRE(b);
    REQUIRE(b->has_value());
    leaves.append(as_chars(**b));
    leaf_sizes.push_back((*b)->size());
  }
  CHECK(leaf_sizes == std::vector<std::size_t>{256, 256, 256, 256, 2});
  REQUIRE(leaves.size() == 1026);
  // sha256 of the file from an independent parse of the CAR.
  CHECK(hex_encode(digest_of(HashAlgo::sha256, as_bytes(leaves)).bytes()) ==
        "998785f13287a9aabc2d7048e4c2905d502ff13ef40f2d135f163b5a762701c5");

  source.requests.clear();
  std::vector<std::size_t> calls;
  auto full = read(reader, file, 0, UINT64_MAX, &calls);
  INFO((full ? "" : full.error().message));
  REQUIRE(full);
  CHECK(*full == leaves);
  CHECK(calls == std::vector<std::size_t>{256, 256, 256, 256, 2});
  CHECK(source.requests == std::vector<std::string>{kMultiblock, kLeaves[0], kLeaves[1], kLeaves[2],
                                                    kLeaves[3], kLeaves[4]});
  CHECK(full->substr(0, 40) == "Lorem ipsum dolor sit amet, consectetur ");

  struct Case {
    std::uint64_t begin, end;
    std::vector<std::string> fetched;
    std::vector<std::size_t> calls;
  };
  const Case cases[] = {
      {0, 1, {kMultiblock, kLeaves[0]}, {1}},
      {255, 257, {kMultiblock, kLeaves[0], kLeaves[1]}, {1, 1}},
      {1000, 1026, {kMultiblock, kLeaves[3], kLeaves[4]}, {24, 2}},
      {1024, 1026, {kMultiblock, kLeaves[4]}, {2}},
      {256, 512, {kMultiblock, kLeaves[1]}, {256}},
      {1000, 99999, {kMultiblock, kLeaves[3], kLeaves[4]}, {24, 2}},  // end clamped
      {0,
       1026,
       {kMultiblock, kLeaves[0], kLeaves[1], kLeaves[2], kLeaves[3], kLeaves[4]},
       {256, 256, 256, 256, 2}},
  };
  for (const auto& c : cases) {
    INFO("range [" << c.begin << "," << c.end << ")");
    source.requests.clear();
    calls.clear();
    auto got = read(reader, file, c.begin, c.end, &calls);
    INFO((got ? "" : got.error().message));
    REQUIRE(got);
    CHECK(*got == leaves.substr(c.begin, c.end - c.begin));
    CHECK(source.requests == c.fetched);
    CHECK(calls == c.calls);
  }
  auto r = read(reader, file, 255, 257);
  REQUIRE(r);
  CHECK(*r == " s");
  r = read(reader, file, 1000, 1026);
  REQUIRE(r);
  CHECK(*r == "ellentesque habitant amet.");

  SECTION("empty ranges fetch no leaf") {
    source.requests.clear();
    calls.clear();
    auto e = read(reader, file, 1026, 2000, &calls);
    REQUIRE(e);
    CHECK(e->empty());
    e = read(reader, file, 10, 10, &calls);
    REQUIRE(e);
    CHECK(e->empty());
    CHECK(calls.empty());
    CHECK(source.requests == std::vector<std::string>{kMultiblock, kMultiblock});
  }
  SECTION("a sink error stops the walk") {
    source.requests.clear();
    int n = 0;
    auto s = reader.read_range(file, 0, 1026, [&](ByteView) -> Result<void> {
      if (++n == 2) return make_error(Errc::too_large, "client went away");
      return {};
    });
    REQUIRE_FALSE(s);
    CHECK(s.error().message == "client went away");
    CHECK(n == 2);
    CHECK(source.requests.size() == 3);  // root + two leaves
  }
}

TEST_CASE("file-3k with its middle block missing: covered ranges work, the whole file does not") {
  MemoryBlockSource mem;
  load_car(mem, "trustless_gateway_car/file-3k-and-3-blocks-missing-block.car");
  REQUIRE(mem.size() == 3);
  RecordingSource source(mem);
  UnixfsReader reader(source);
  const Cid file = cid_of("QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk");
  const char* kMissing = "QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W";

  auto info = reader.stat(file);
  REQUIRE(info);
  CHECK(info->kind == EntryKind::file);
  CHECK(info->size == 3072);

  // bytes=997-1000 (inclusive)
  source.requests.clear();
  auto a = read(reader, file, 997, 1001);
  INFO((a ? "" : a.error().message));
  REQUIRE(a);
  CHECK(hex_encode(as_bytes(*a)) == "1b68dc33");
  CHECK(source.requests == std::vector<std::string>{
                               file.to_string(), "QmPKt7ptM2ZYSGPUc8PmPT2VBkLDK3iqpG9TBJY7PCE9rF"});
  // bytes=2200-2201
  auto b = read(reader, file, 2200, 2202);
  INFO((b ? "" : b.error().message));
  REQUIRE(b);
  CHECK(hex_encode(as_bytes(*b)) == "fe00");

  auto whole = read(reader, file, 0, 3072);
  REQUIRE_FALSE(whole);
  CHECK(whole.error().code == Errc::not_found);
  CHECK(whole.error().message.find(kMissing) != std::string::npos);
  auto middle = read(reader, file, 1023, 1025);
  REQUIRE_FALSE(middle);
  CHECK(middle.error().code == Errc::not_found);
}

TEST_CASE("HAMT directory: resolve, read and list") {
  MemoryBlockSource mem;
  load_car(mem, "trustless_gateway_car/single-layer-hamt-with-multi-block-files.car");
  RecordingSource source(mem);
  UnixfsReader reader(source);
  const Cid root = cid_of(kHamtRoot);

  auto info = reader.stat(root);
  REQUIRE(info);
  CHECK(info->kind == EntryKind::directory);
  CHECK(info->hamt);

  // 685.txt sits in bucket FD, then E3 inside that sub-shard.
  source.requests.clear();
  auto res = reader.resolve(root, {"685.txt"});
  INFO((res ? "" : res.error().message));
  REQUIRE(res);
  CHECK(res->cid.to_string() == kMultiblock);
  CHECK(strings(res->roots) == std::vector<std::string>{kHamtRoot, kMultiblock});
  CHECK(strings(res->visited) ==
        std::vector<std::string>{kHamtRoot,
                                 "bafybeifajm5xyg46n4hjxg7clq2f7vcn7eg7bn3yevylcemr6vd7mp6gta"});
  CHECK(source.requests == strings(res->visited));

  auto content = read(reader, res->cid, 0, UINT64_MAX);
  REQUIRE(content);
  CHECK(content->size() == 1026);
  CHECK(hex_encode(digest_of(HashAlgo::sha256, as_bytes(*content)).bytes()) ==
        "998785f13287a9aabc2d7048e4c2905d502ff13ef40f2d135f163b5a762701c5");

  // 470.txt: bucket 00, then 6E.
  auto r470 = reader.resolve(root, {"470.txt"});
  REQUIRE(r470);
  REQUIRE(r470->visited.size() == 2);
  CHECK(r470->visited[1].to_string() ==
        "bafybeiaebmuestgbpqhkkbrwl2qtjtvs3whkmp2trkbkimuod4yv7oygni");

  auto missing = reader.resolve(root, {"1001.txt"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
  CHECK(missing.error().message.find("1001.txt") != std::string::npos);
  auto zero = reader.resolve(root, {"0.txt"});
  REQUIRE_FALSE(zero);
  CHECK(zero.error().code == Errc::not_found);

  source.requests.clear();
  auto entries = reader.list(root);
  INFO((entries ? "" : entries.error().message));
  REQUIRE(entries);
  CHECK(source.requests.size() == 237);  // root + 236 sub-shards, no file blocks
  REQUIRE(entries->size() == 1000);
  // DFS link order, from an independent parse of the shards.
  CHECK((*entries)[0].name == "470.txt");
  CHECK((*entries)[1].name == "742.txt");
  CHECK((*entries)[2].name == "448.txt");
  CHECK((*entries)[3].name == "439.txt");
  CHECK((*entries)[999].name == "272.txt");
  std::set<std::string> names;
  for (const auto& e : *entries) {
    names.insert(e.name);
    CHECK(e.cid.to_string() == kMultiblock);
    CHECK(e.tsize == 1271);
  }
  std::set<std::string> expect;
  for (int i = 1; i <= 1000; ++i) expect.insert(std::to_string(i) + ".txt");
  CHECK(names == expect);

  // Every listed name resolves (its hash leads to the shard that holds it).
  for (const auto& e : *entries) {
    auto r = reader.resolve(root, {e.name});
    INFO(e.name);
    INFO((r ? "" : r.error().message));
    REQUIRE(r);
    CHECK(r->cid == e.cid);
  }
}

TEST_CASE("symlink.car: targets are returned, never followed") {
  MemoryBlockSource mem;
  load_car(mem, "path_gateway_unixfs/symlink.car");
  UnixfsReader reader(mem);
  const Cid root = cid_of("QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt");

  auto entries = reader.list(root);
  REQUIRE(entries);
  REQUIRE(entries->size() == 2);
  CHECK((*entries)[0].name == "bar");
  CHECK((*entries)[0].tsize == 9);
  CHECK((*entries)[1].name == "foo");

  auto bar = reader.resolve(root, {"bar"});
  REQUIRE(bar);
  CHECK(bar->cid.to_string() == "QmTB8BaCJdCH5H3k7GrxJsxgDNmNYGGR71C58ERkivXoj5");
  auto info = reader.stat(bar->cid);
  REQUIRE(info);
  CHECK(info->kind == EntryKind::symlink);
  CHECK(info->size == 3);
  auto target = reader.symlink_target(bar->cid);
  REQUIRE(target);
  CHECK(*target == "foo");

  auto foo = reader.resolve(root, {"foo"});
  REQUIRE(foo);
  CHECK(foo->cid.to_string() == "Qme2y5HA5kvo2jAx13UsnV5bQJVijiAJCPvaW3JGQWhvJZ");
  auto foo_info = reader.stat(foo->cid);
  REQUIRE(foo_info);
  CHECK(foo_info->kind == EntryKind::file);
  CHECK(foo_info->size == 8);
  auto text = read(reader, foo->cid, 0, 100);
  REQUIRE(text);
  CHECK(*text == "content\n");  // a dag-pb leaf with Data.Data
  CHECK_FALSE(reader.symlink_target(foo->cid));

  auto through = reader.resolve(root, {"bar", "x"});
  REQUIRE_FALSE(through);
  CHECK(through.error().code == Errc::not_found);
  CHECK(through.error().message.find("\"x\"") != std::string::npos);
  CHECK_FALSE(read(reader, bar->cid, 0, 3));
}

TEST_CASE("gateway-cache: a four-level path gives five roots") {
  MemoryBlockSource mem;
  load_car(mem, "gateway-cache/fixtures.car");
  UnixfsReader reader(mem);
  const Cid root = cid_of("bafybeib3ffl2teiqdncv3mkz4r23b5ctrwkzrrhctdbne6iboayxuxk5ui");
  auto res = reader.resolve(root, {"root2", "root3", "root4", "index.html"});
  INFO((res ? "" : res.error().message));
  REQUIRE(res);
  const std::vector<std::string> expect = {
      "bafybeib3ffl2teiqdncv3mkz4r23b5ctrwkzrrhctdbne6iboayxuxk5ui",
      "bafybeih2w7hjocxjg6g2ku25hvmd53zj7og4txpby3vsusfefw5rrg5sii",
      "bafybeiawdvhmjcz65x5egzx4iukxc72hg4woks6v6fvgyupiyt3oczk5ja",
      "bafybeifq2rzpqnqrsdupncmkmhs3ckxxjhuvdcbvydkgvch3ms24k5lo7q",
      "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am",
  };
  CHECK(strings(res->roots) == expect);
  CHECK(strings(res->visited) == std::vector<std::string>(expect.begin(), expect.end() - 1));
  CHECK(res->cid.to_string() == expect.back());
  auto body = read(reader, res->cid, 0, UINT64_MAX);
  REQUIRE(body);
  CHECK(*body == "hello\n");

  auto missing = reader.resolve(root, {"root2", "nope", "index.html"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
  CHECK(missing.error().message.find("\"nope\"") != std::string::npos);
}

TEST_CASE("dir_listing: UTF-8 path segments") {
  MemoryBlockSource mem;
  load_car(mem, "dir_listing/fixtures.car");
  UnixfsReader reader(mem);
  const Cid root = cid_of("bafybeig6ka5mlwkl4subqhaiatalkcleo4jgnr3hqwvpmsqfca27cijp3i");
  auto res = reader.resolve(root, {"\xc4\x85", "\xc4\x99", "file-\xc5\xba\xc5\x82.txt"});
  INFO((res ? "" : res.error().message));
  REQUIRE(res);
  CHECK(res->cid.to_string() == "bafkreialihlqnf5uwo4byh4n3cmwlntwqzxxs2fg5vanqdi3d7tb2l5xkm");
  CHECK(res->roots.size() == 4);
  auto body = read(reader, res->cid, 0, UINT64_MAX);
  REQUIRE(body);
  CHECK(*body == "I am a txt file on path with utf8\n");

  auto entries = reader.list(root);
  REQUIRE(entries);
  REQUIRE(entries->size() == 4);
  CHECK((*entries)[3].name == "\xc4\x85");
}

TEST_CASE("missing blocks and missing segments are not_found naming what is missing") {
  MemoryBlockSource mem;
  load_car(mem, "gateway-cache/fixtures.car");
  const Cid root3 = cid_of("bafybeiawdvhmjcz65x5egzx4iukxc72hg4woks6v6fvgyupiyt3oczk5ja");
  REQUIRE(mem.erase(root3));
  UnixfsReader reader(mem);
  const Cid root = cid_of("bafybeib3ffl2teiqdncv3mkz4r23b5ctrwkzrrhctdbne6iboayxuxk5ui");
  auto res = reader.resolve(root, {"root2", "root3", "root4"});
  REQUIRE_FALSE(res);
  CHECK(res.error().code == Errc::not_found);
  CHECK(res.error().message.find(root3.to_string()) != std::string::npos);
  // Resolving up to the missing block does not need it.
  CHECK(reader.resolve(root, {"root2", "root3"}));

  auto absent = reader.stat(root3);
  REQUIRE_FALSE(absent);
  CHECK(absent.error().code == Errc::not_found);

  auto not_dir = reader.list(cid_of("bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"));
  CHECK_FALSE(not_dir);
}

TEST_CASE("identity CIDs are resolved inline, never from the source") {
  MemoryBlockSource mem;
  RecordingSource source(mem);
  UnixfsReader reader(source);
  const Cid hello =
      Cid::v1(static_cast<std::uint64_t>(Codec::raw), MultihashCode::identity, as_bytes("hello"));
  auto got = read(reader, hello, 1, 4);
  INFO((got ? "" : got.error().message));
  REQUIRE(got);
  CHECK(*got == "ell");
  auto empty = reader.stat(cid_of("bafkqaaa"));
  REQUIRE(empty);
  CHECK(empty->kind == EntryKind::raw_block);
  CHECK(empty->size == 0);

  // A dag-pb file whose middle child is an identity raw leaf.
  Built b;
  RecordingSource built_source(b.source);
  UnixfsReader built_reader(built_source);
  const Cid first = b.raw("abc");
  const Cid file = b.file("", {{first, 3}, {hello, 5}, {b.raw("!"), 1}});
  auto all = read(built_reader, file, 0, 100);
  INFO((all ? "" : all.error().message));
  REQUIRE(all);
  CHECK(*all == "abchello!");
  CHECK(built_source.requests.size() == 3);  // root, "abc", "!"
  for (const auto& r : built_source.requests) CHECK(r != hello.to_string());
  CHECK(source.requests.empty());

  // An identity dag-pb directory linking to the file.
  PbNode dir;
  dir.links.push_back(PbLink{file, std::string("f.txt"), 0});
  Bytes dir_data = {0x08, 0x01};
  dir.data = ByteView(dir_data);
  Bytes dir_block = encode_dag_pb(dir);
  const Cid dir_cid =
      Cid::v1(static_cast<std::uint64_t>(Codec::dag_pb), MultihashCode::identity, dir_block);
  built_source.requests.clear();
  auto res = built_reader.resolve(dir_cid, {"f.txt"});
  INFO((res ? "" : res.error().message));
  REQUIRE(res);
  CHECK(res->cid == file);
  CHECK(built_source.requests.empty());
}

TEST_CASE("hand-built DAGs: Data.Data before children and deep trees") {
  Built b;
  RecordingSource source(b.source);
  UnixfsReader reader(source);

  SECTION("root Data.Data precedes the children") {
    const Cid c0 = b.raw("defg");
    const Cid c1 = b.raw("hi");
    const Cid file = b.file("abc", {{c0, 4}, {c1, 2}});
    auto info = reader.stat(file);
    REQUIRE(info);
    CHECK(info->size == 9);
    auto all = read(reader, file, 0, 9);
    REQUIRE(all);
    CHECK(*all == "abcdefghi");
    source.requests.clear();
    auto head = read(reader, file, 1, 3);
    REQUIRE(head);
    CHECK(*head == "bc");
    CHECK(source.requests.size() == 1);  // the root only
    source.requests.clear();
    auto tail = read(reader, file, 7, 9);
    REQUIRE(tail);
    CHECK(*tail == "hi");
    CHECK(source.requests == std::vector<std::string>{file.to_string(), c1.to_string()});
  }

  SECTION("a three-level tree fetches one path per covered leaf") {
    // Leaves of 10 bytes: "0000000000", "1111111111", ...
    std::vector<Cid> leaves;
    for (char c = '0'; c < '8'; ++c) leaves.push_back(b.raw(std::string(10, c)));
    std::vector<Cid> mids;
    for (int i = 0; i < 4; ++i)
      mids.push_back(b.file("", {{leaves[2 * i], 10}, {leaves[2 * i + 1], 10}}));
    const Cid left = b.file("", {{mids[0], 20}, {mids[1], 20}});
    const Cid right = b.file("", {{mids[2], 20}, {mids[3], 20}});
    const Cid root = b.file("", {{left, 40}, {right, 40}});
    std::string expect;
    for (char c = '0'; c < '8'; ++c) expect += std::string(10, c);

    auto all = read(reader, root, 0, 80);
    REQUIRE(all);
    CHECK(*all == expect);

    source.requests.clear();
    auto one = read(reader, root, 55, 58);  // inside leaf 5
    REQUIRE(one);
    CHECK(*one == "555");
    CHECK(source.requests == std::vector<std::string>{root.to_string(), right.to_string(),
                                                      mids[2].to_string(), leaves[5].to_string()});

    source.requests.clear();
    auto across = read(reader, root, 39, 41);  // last byte of leaf 3, first of leaf 4
    REQUIRE(across);
    CHECK(*across == "34");
    CHECK(source.requests == std::vector<std::string>{root.to_string(), left.to_string(),
                                                      mids[1].to_string(), leaves[3].to_string(),
                                                      right.to_string(), mids[2].to_string(),
                                                      leaves[4].to_string()});
  }

  SECTION("a child whose size disagrees with blocksizes is malformed") {
    const Cid c0 = b.raw("defg");
    const Cid file = b.file("", {{c0, 5}});
    auto r = read(reader, file, 0, 5);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed);
    CHECK(r.error().message.find(c0.to_string()) != std::string::npos);
  }

  SECTION("filesize that disagrees with blocksizes is malformed") {
    const Cid file = b.file("", {{b.raw("xy"), 2}}, 3);
    CHECK_FALSE(reader.stat(file));
    CHECK_FALSE(read(reader, file, 0, 3));
  }
}
