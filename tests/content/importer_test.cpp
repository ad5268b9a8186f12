// FileImporter against every file-import vector of ipfs-gateway.md §2.4 (the
// well-known empty and "hello world" CIDs, the IPIP-0499 ChaCha20 vectors up
// to 1 GiB, multiblock.txt rebuilt from the leaves in dir-with-files.car),
// against a separate top-down implementation of boxo's balanced builder for
// many tree shapes, and for streaming properties: slice-size independence,
// block order, block counts and self-verifying blocks.
#include "content/importer.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>

#include "content/dag_pb.hpp"
#include "content/unixfs.hpp"
#include "content/varint.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate::content;
namespace test = srcgate::test;

namespace {

std::string hex(ByteView b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

ImportProfile custom(int cid_version, bool raw_leaves, std::size_t chunk, std::size_t links) {
  ImportProfile p;
  p.name = "custom";
  p.cid_version = cid_version;
  p.raw_leaves = raw_leaves;
  p.chunk_size = chunk;
  p.max_links = links;
  return p;
}

struct Imported {
  ImportResult result;
  std::vector<Block> blocks;
};

// Imports `data` in one write, keeping every block.
Imported import_all(const ImportProfile& p, ByteView data) {
  std::vector<Block> blocks;
  FileImporter imp(p, [&](Block&& b) { blocks.push_back(std::move(b)); });
  imp.write(data);
  ImportResult r = imp.finish();
  return Imported{std::move(r), std::move(blocks)};
}

std::string root_of(const ImportProfile& p, std::string_view text) {
  return import_all(p, as_bytes(text)).result.root.to_string();
}

struct Streamed {
  ImportResult result;
  std::uint64_t sink_blocks = 0;
  std::uint64_t sink_bytes = 0;
  std::uint64_t leaves = 0;  // raw blocks seen
};

// Streams `size` bytes of kubo's deterministic data for `seed` through an
// importer in odd-sized slices, without holding the file in memory.
Streamed import_seeded(const ImportProfile& p, std::string_view seed, std::uint64_t size) {
  test::DeterministicStream stream(seed);
  Bytes buf(1 << 20);
  std::uint64_t blocks = 0, bytes = 0, leaves = 0;
  FileImporter imp(p, [&](Block&& b) {
    ++blocks;
    bytes += b.bytes.size();
    if (b.cid.codec() == static_cast<std::uint64_t>(Codec::raw)) ++leaves;  // raw leaves only
  });
  std::uint64_t left = size;
  std::size_t cut = 1;
  for (int guard = 0; left > 0 && guard < 100000; ++guard) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    stream.fill(std::span<std::uint8_t>(buf.data(), n));
    ByteView all(buf.data(), n);
    std::size_t first = std::min(cut, n);
    imp.write(all.first(first));
    imp.write(all.subspan(first, 0));
    imp.write(all.subspan(first));
    cut = (cut * 31 + 7919) % (1 << 20);
    left -= n;
  }
  REQUIRE(left == 0);
  ImportResult r = imp.finish();
  return Streamed{std::move(r), blocks, bytes, leaves};
}

// Reference: boxo's balanced builder written top-down and recursively, as in
// balanced/builder.go, independent of FileImporter's streaming bottom-up levels.
class ReferenceBuilder {
 public:
  ReferenceBuilder(const ImportProfile& p, ByteView data) : p_(p), data_(data) {}

  struct Node {
    Cid cid;
    std::uint64_t file_bytes;
    std::uint64_t tsize;
  };

  Cid build() {
    Node root = leaf();
    for (int depth = 1; off_ < data_.size(); ++depth) {
      std::vector<Node> children{root};
      root = fill(children, depth);
    }
    return root.cid;
  }

 private:
  Node leaf() {
    std::size_t n = std::min(p_.chunk_size, data_.size() - off_);
    ByteView chunk = data_.subspan(off_, n);
    off_ += n;
    if (p_.raw_leaves) {
      return Node{Cid::of_block(1, Codec::raw, chunk), n, n};
    }
    UnixfsData u;
    u.type = UnixfsType::file;
    if (n > 0) u.data = chunk;
    u.filesize = n;
    Bytes ufs = encode_unixfs(u);
    PbNode node;
    node.data = ByteView(ufs);
    Bytes block = encode_dag_pb(node);
    return Node{Cid::of_block(p_.cid_version, Codec::dag_pb, block), n, block.size()};
  }

  Node fill(std::vector<Node>& children, int depth) {
    while (children.size() < p_.max_links && off_ < data_.size()) {
      if (depth == 1) {
        children.push_back(leaf());
      } else {
        std::vector<Node> sub;
        children.push_back(fill(sub, depth - 1));
      }
    }
    UnixfsData u;
    u.type = UnixfsType::file;
    std::uint64_t total = 0, tsizes = 0;
    PbNode node;
    for (const Node& c : children) {
      u.blocksizes.push_back(c.file_bytes);
      total += c.file_bytes;
      tsizes += c.tsize;
      node.links.push_back(PbLink{c.cid, std::string(), c.tsize});
    }
    u.filesize = total;
    Bytes ufs = encode_unixfs(u);
    node.data = ByteView(ufs);
    Bytes block = encode_dag_pb(node);
    return Node{Cid::of_block(p_.cid_version, Codec::dag_pb, block), total, block.size() + tsizes};
  }

  const ImportProfile& p_;
  ByteView data_;
  std::size_t off_ = 0;
};

Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 131 + 17) ^ (i >> 8));
  return b;
}

// The blocks of a CARv1 file by CID (hand-rolled section walk, ipfs-gateway.md §3.1).
std::map<std::string, Bytes> car_blocks(const Bytes& car) {
  std::map<std::string, Bytes> out;
  ByteView in(car);
  auto hlen = read_uvarint(in);
  REQUIRE(hlen.has_value());
  REQUIRE(*hlen <= in.size());
  in = in.subspan(static_cast<std::size_t>(*hlen));
  for (int guard = 0; !in.empty() && guard < 10000; ++guard) {
    auto len = read_uvarint(in);
    REQUIRE(len.has_value());
    REQUIRE(*len <= in.size());
    ByteView section = in.first(static_cast<std::size_t>(*len));
    in = in.subspan(static_cast<std::size_t>(*len));
    auto cid = Cid::read(section);
    REQUIRE(cid.has_value());
    out[cid->to_string()] = Bytes(section.begin(), section.end());
  }
  REQUIRE(in.empty());
  return out;
}

}  // namespace

TEST_CASE("profiles") {
  CHECK(ImportProfile::v0_2015.cid_version == 0);
  CHECK_FALSE(ImportProfile::v0_2015.raw_leaves);
  CHECK(ImportProfile::v0_2015.chunk_size == 262144);
  CHECK(ImportProfile::v0_2015.max_links == 174);
  CHECK(ImportProfile::v1_2025.cid_version == 1);
  CHECK(ImportProfile::v1_2025.raw_leaves);
  CHECK(ImportProfile::v1_2025.chunk_size == 1048576);
  CHECK(ImportProfile::v1_2025.max_links == 1024);
  auto a = ImportProfile::by_name("unixfs-v1-2025");
  REQUIRE(a);
  CHECK(a->chunk_size == 1048576);
  auto b = ImportProfile::by_name("unixfs-v0-2015");
  REQUIRE(b);
  CHECK(b->max_links == 174);
  CHECK(ImportProfile::by_name("legacy-cid-v0").has_value());
  CHECK_FALSE(ImportProfile::by_name("unixfs-v2").has_value());
  CHECK_FALSE(ImportProfile::by_name("").has_value());
}

TEST_CASE("well-known small files") {
  const auto& v0 = ImportProfile::v0_2015;
  const auto& v1 = ImportProfile::v1_2025;
  CHECK(root_of(v0, "") == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  CHECK(root_of(v1, "") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  CHECK(root_of(v0, "hello world\n") == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
  CHECK(root_of(v1, "hello world\n") ==
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
  CHECK(root_of(v0, "hello world") == "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD");
  CHECK(root_of(v1, "hello world") ==
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e");
  // CIDv1 with dag-pb leaves: the well-known empty dag-pb file.
  CHECK(root_of(custom(1, false, 262144, 174), "") ==
        "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y");
}

TEST_CASE("single-block files emit exactly kubo's block bytes") {
  Imported e = import_all(ImportProfile::v0_2015, {});
  REQUIRE(e.blocks.size() == 1);
  CHECK(hex(e.blocks[0].bytes) == "0a0408021800");
  CHECK(e.result.size == 0);
  CHECK(e.result.dag_size == 6);
  CHECK(e.result.block_count == 1);

  Imported h = import_all(ImportProfile::v0_2015, as_bytes("hello world\n"));
  REQUIRE(h.blocks.size() == 1);
  CHECK(hex(h.blocks[0].bytes) ==
        "0a12"
        "0802"
        "120c"
        "68656c6c6f20776f726c640a"
        "180c");
  CHECK(h.result.size == 12);
  CHECK(h.result.dag_size == 20);
  CHECK(h.blocks[0].cid == h.result.root);

  Imported r = import_all(ImportProfile::v1_2025, as_bytes("hello world\n"));
  REQUIRE(r.blocks.size() == 1);
  CHECK(as_chars(r.blocks[0].bytes) == "hello world\n");
  CHECK(r.result.root.codec() == static_cast<std::uint64_t>(Codec::raw));
  CHECK(r.result.dag_size == 12);

  Imported r0 = import_all(ImportProfile::v1_2025, {});
  REQUIRE(r0.blocks.size() == 1);
  CHECK(r0.blocks[0].bytes.empty());
  CHECK(r0.result.dag_size == 0);
}

TEST_CASE("multiblock.txt rebuilt from the leaves in dir-with-files.car") {
  Bytes car = test::read_file(test::fixture("path_gateway_unixfs/dir-with-files.car"));
  std::map<std::string, Bytes> blocks = car_blocks(car);
  const char* leaves[] = {
      "bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm",
      "bafkreih4ephajybraj6wnxsbwjwa77fukurtpl7oj7t7pfq545duhot7cq",
      "bafkreigu7buvm3cfunb35766dn7tmqyh2um62zcio63en2btvxuybgcpue",
      "bafkreicll3huefkc3qnrzeony7zcfo7cr3nbx64hnxrqzsixpceg332fhe",
      "bafkreifst3pqztuvj57lycamoi7z34b4emf7gawxs74nwrc2c7jncmpaqm",
  };
  Bytes file;
  for (const char* l : leaves) {
    INFO(l);
    REQUIRE(blocks.count(l) == 1);
    append(file, blocks[l]);
  }
  REQUIRE(file.size() == 1026);
  const std::string root = "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa";
  REQUIRE(blocks.count(root) == 1);

  Imported im = import_all(custom(1, true, 256, 174), file);
  CHECK(im.result.root.to_string() == root);
  REQUIRE(im.blocks.size() == 6);
  for (std::size_t i = 0; i < 5; ++i) CHECK(im.blocks[i].cid.to_string() == leaves[i]);
  CHECK(hex(im.blocks[5].bytes) == hex(blocks[root]));
  CHECK(im.blocks[5].bytes.size() == 245);
  CHECK(im.result.dag_size == 245 + 1026);
  auto node = decode_dag_pb(im.blocks[5].bytes);
  REQUIRE(node.has_value());
  REQUIRE(node->data);
  CHECK(hex(*node->data) ==
        "0802188208208002208002208002208002"
        "2002");
}

TEST_CASE("tree shapes match a top-down balanced builder") {
  // Small chunks and fan-out make depth 1-4 trees cheap; sizes hit every edge.
  struct Shape {
    std::size_t chunk, links;
  };
  const Shape shapes[] = {{4, 2}, {7, 3}, {5, 4}};
  for (const Shape& sh : shapes) {
    std::vector<std::size_t> chunk_counts;
    std::size_t l = sh.links;
    for (std::size_t c :
         {std::size_t{0}, std::size_t{1}, std::size_t{2}, l - 1, l, l + 1, 2 * l, 2 * l + 1,
          l * l - 1, l * l, l * l + 1, l * l * l, l * l * l + 1, l * l * l + l + 1}) {
      chunk_counts.push_back(c);
    }
    for (std::size_t c : chunk_counts) {
      for (std::size_t extra : {std::size_t{0}, std::size_t{1}}) {
        std::size_t size = c * sh.chunk + extra;
        Bytes data = pattern(size);
        for (int version : {0, 1}) {
          for (bool raw : {false, true}) {
            if (version == 0 && raw) continue;
            ImportProfile p = custom(version, raw, sh.chunk, sh.links);
            INFO("chunk " << sh.chunk << " links " << sh.links << " size " << size << " v"
                          << version << (raw ? " raw" : " dag-pb") << " leaves");
            Cid want = ReferenceBuilder(p, data).build();
            Imported got = import_all(p, data);
            CHECK(got.result.root == want);
            CHECK(got.result.size == size);
            std::uint64_t total = 0;
            for (const Block& b : got.blocks) total += b.bytes.size();
            CHECK(got.result.dag_size == total);
            CHECK(got.result.block_count == got.blocks.size());
          }
        }
      }
    }
  }
}

TEST_CASE("root does not depend on how the input is sliced") {
  ImportProfile p = custom(0, false, 10, 3);
  Bytes data = pattern(337);  // 34 chunks: depth 4
  Imported whole = import_all(p, data);
  std::vector<Block> bytewise;
  FileImporter one(p, [&](Block&& b) { bytewise.push_back(std::move(b)); });
  for (std::size_t i = 0; i < data.size(); ++i) one.write(ByteView(data).subspan(i, 1));
  one.write({});
  ImportResult r = one.finish();
  CHECK(r.root == whole.result.root);
  CHECK(r.dag_size == whole.result.dag_size);
  REQUIRE(bytewise.size() == whole.blocks.size());
  for (std::size_t i = 0; i < bytewise.size(); ++i) {
    CHECK(bytewise[i].cid == whole.blocks[i].cid);
    CHECK(bytewise[i].bytes == whole.blocks[i].bytes);
  }
  // A no-sink importer (only hashing) computes the same root.
  FileImporter quiet(p, nullptr);
  quiet.write(ByteView(data).first(100));
  quiet.write(ByteView(data).subspan(100));
  ImportResult q = quiet.finish();
  CHECK(q.root == whole.result.root);
  CHECK(q.block_count == whole.result.block_count);
}

TEST_CASE("blocks come children before parents, leaves in file order, root last, all verified") {
  for (int version : {0, 1}) {
    ImportProfile p = custom(version, version == 1, 16, 4);
    Bytes data = pattern(16 * 21 + 5);  // 22 leaves -> 6 + 2 + 1 internal nodes
    Imported im = import_all(p, data);
    INFO("v" << version);
    REQUIRE(im.blocks.size() == 22 + 6 + 2 + 1);
    CHECK(im.result.block_count == 31);
    CHECK(im.blocks.back().cid == im.result.root);
    std::set<Cid> seen;
    std::size_t leaves = 0;
    std::uint64_t leaf_bytes = 0;
    for (const Block& b : im.blocks) {
      auto ok = b.cid.verify(b.bytes);
      REQUIRE(ok.has_value());
      CHECK(*ok);
      auto node = decode_dag_pb(b.bytes);
      bool is_leaf =
          b.cid.codec() == static_cast<std::uint64_t>(Codec::raw) || (node && node->links.empty());
      if (is_leaf) {
        ++leaves;
        if (version == 1) {
          CHECK(b.bytes ==
                Bytes(data.begin() + static_cast<std::ptrdiff_t>(leaf_bytes),
                      data.begin() + static_cast<std::ptrdiff_t>(leaf_bytes + b.bytes.size())));
          leaf_bytes += b.bytes.size();
        }
      } else {
        REQUIRE(node.has_value());
        CHECK(b.cid.version() == version);
        for (const PbLink& l : node->links) {
          CHECK(seen.count(l.hash) == 1);
          CHECK(l.name == std::optional<std::string>(""));
          CHECK(l.tsize.has_value());
        }
        auto u = decode_unixfs(*node->data);
        REQUIRE(u.has_value());
        CHECK(u->type == UnixfsType::file);
        CHECK_FALSE(u->data);
        CHECK(u->blocksizes.size() == node->links.size());
      }
      seen.insert(b.cid);
    }
    CHECK(leaves == 22);
    if (version == 1) CHECK(leaf_bytes == data.size());
  }
}

TEST_CASE("IPIP-0499 v0 vectors: 256 KiB chunks, 174 links") {
  const auto& v0 = ImportProfile::v0_2015;
  Streamed a = import_seeded(v0, "chunk-v0-seed", 262144);
  CHECK(a.result.root.to_string() == "QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE");
  CHECK(a.sink_blocks == 1);
  Streamed b = import_seeded(v0, "chunk-v0-seed", 262145);
  CHECK(b.result.root.to_string() == "QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ");
  CHECK(b.sink_blocks == 3);
  CHECK(b.result.dag_size == b.sink_bytes);
  Streamed c = import_seeded(v0, "v0-seed", 174ull * 262144);
  CHECK(c.result.root.to_string() == "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2");
  CHECK(c.sink_blocks == 175);
  CHECK(c.result.size == 174ull * 262144);
  Streamed d = import_seeded(v0, "v0-seed", 174ull * 262144 + 1);
  CHECK(d.result.root.to_string() == "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW");
  CHECK(d.sink_blocks == 175 + 2 + 1);
  CHECK(d.result.block_count == 178);
  CHECK(d.result.dag_size == d.sink_bytes);
}

TEST_CASE("IPIP-0499 v1-2025 vectors: 1 MiB chunks") {
  const auto& v1 = ImportProfile::v1_2025;
  Streamed a = import_seeded(v1, "chunk-v1-seed", 1048576);
  CHECK(a.result.root.to_string() == "bafkreiacndfy443ter6qr2tmbbdhadvxxheowwf75s6zehscklu6ezxmta");
  CHECK(a.sink_blocks == 1);
  Streamed b = import_seeded(v1, "chunk-v1-seed", 1048577);
  CHECK(b.result.root.to_string() == "bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64");
  CHECK(b.sink_blocks == 3);
  CHECK(b.leaves == 2);
}

TEST_CASE("IPIP-0499 v1-2025 vectors: 1 GiB, 1024 links", "[slow]") {
  const auto& v1 = ImportProfile::v1_2025;
  Streamed a = import_seeded(v1, "v1-2025-seed", 1024ull << 20);
  CHECK(a.result.root.to_string() == "bafybeihmf37wcuvtx4hpu7he5zl5qaf2ineo2lqlfrapokkm5zzw7zyhvm");
  CHECK(a.sink_blocks == 1025);
  CHECK(a.leaves == 1024);
  CHECK(a.result.size == 1024ull << 20);
  CHECK(a.result.dag_size == a.sink_bytes);
  Streamed b = import_seeded(v1, "v1-2025-seed", (1024ull << 20) + 1);
  CHECK(b.result.root.to_string() == "bafybeibdsi225ugbkmpbdohnxioyab6jsqrmkts3twhpvfnzp77xtzpyhe");
  CHECK(b.sink_blocks == 1025 + 2 + 1);
  CHECK(b.leaves == 1025);
  CHECK(b.result.dag_size == b.sink_bytes);
}
