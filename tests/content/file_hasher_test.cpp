// FileHasher: the four digests equal one-shot digest_of(), the DAG equals a
// plain FileImporter's, for empty, tiny and multi-chunk inputs fed in odd and
// tiny slices, with and without a block sink.
#include "content/file_hasher.hpp"

#include <catch2/catch.hpp>
#include <string>

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

ImportResult plain_import(const ImportProfile& p, ByteView data) {
  FileImporter imp(p, nullptr);
  imp.write(data);
  return imp.finish();
}

// Feeds `data` in slices 1, 2, 5, 14, ... (x*3-1, wrapping), so sizes vary.
void feed_odd(FileHasher& h, ByteView data) {
  std::size_t off = 0, slice = 1;
  for (int guard = 0; off < data.size() && guard < 1000000; ++guard) {
    std::size_t n = std::min(slice, data.size() - off);
    h.write(data.subspan(off, n));
    off += n;
    slice = slice * 3 - 1;
    if (slice > 400000) slice = 1;
  }
  REQUIRE(off == data.size());
}

}  // namespace

TEST_CASE("digests and root match digest_of and FileImporter") {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{(1 << 20) + 3}}) {
    Bytes data = test::deterministic_bytes("file-hasher", size);
    for (const ImportProfile* p : {&ImportProfile::v0_2015, &ImportProfile::v1_2025}) {
      INFO("size " << size << " profile " << p->name);
      std::vector<Block> blocks;
      FileHasher h(*p, [&](Block&& b) { blocks.push_back(std::move(b)); });
      feed_odd(h, data);
      h.write({});
      FileSummary s = h.finish();
      for (HashAlgo a : kAllHashAlgos) {
        INFO(algo_name(a));
        CHECK(s.digests.get(a) == digest_of(a, data));
      }
      ImportResult want = plain_import(*p, data);
      CHECK(s.dag.root == want.root);
      CHECK(s.dag.size == size);
      CHECK(s.dag.dag_size == want.dag_size);
      CHECK(s.dag.block_count == want.block_count);
      REQUIRE(blocks.size() == want.block_count);
      CHECK(blocks.back().cid == want.root);
    }
  }
}

TEST_CASE("empty file: well-known digests and CIDs") {
  FileHasher h(ImportProfile::v0_2015, nullptr);
  FileSummary s = h.finish();
  CHECK(hex(s.digests.sha256.bytes()) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex(s.digests.md5.bytes()) == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(s.dag.root.to_string() == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  CHECK(s.dag.block_count == 1);
}

TEST_CASE("no-sink hasher over many one-byte writes") {
  Bytes data = test::deterministic_bytes("tiny-writes", 300000);
  FileHasher h(ImportProfile::v1_2025, nullptr);
  for (std::size_t i = 0; i < data.size(); ++i) h.write(ByteView(data).subspan(i, 1));
  FileSummary s = h.finish();
  CHECK(s.digests.sha1 == digest_of(HashAlgo::sha1, data));
  CHECK(s.digests.sha512 == digest_of(HashAlgo::sha512, data));
  CHECK(s.dag.root == plain_import(ImportProfile::v1_2025, data).root);
  CHECK(s.dag.root.codec() == static_cast<std::uint64_t>(Codec::raw));
}

TEST_CASE("large writes exercise buffer recycling") {
  // 9 MiB + 1 in 3 MiB slices: more hand-off buffers than the pool holds.
  const std::size_t size = (9u << 20) + 1;
  Bytes data = test::deterministic_bytes("recycle", size);
  std::uint64_t blocks = 0;
  FileHasher h(ImportProfile::v1_2025, [&](Block&&) { ++blocks; });
  for (std::size_t off = 0; off < size; off += 3u << 20) {
    h.write(ByteView(data).subspan(off, std::min<std::size_t>(3u << 20, size - off)));
  }
  FileSummary s = h.finish();
  CHECK(s.digests.sha256 == digest_of(HashAlgo::sha256, data));
  CHECK(s.digests.md5 == digest_of(HashAlgo::md5, data));
  CHECK(s.dag.root == plain_import(ImportProfile::v1_2025, data).root);
  CHECK(blocks == 10 + 1);
}

TEST_CASE("destroying an unfinished hasher joins its thread") {
  Bytes data = test::deterministic_bytes("abandon", 2 << 20);
  for (int i = 0; i < 3; ++i) {
    FileHasher h(ImportProfile::v0_2015, nullptr);
    h.write(data);
  }
  SUCCEED();
}
