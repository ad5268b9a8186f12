// FileHasher's threaded path (hand-off ring of 16 x 256 KiB buffers, four
// digest lanes shared by two workers and the driving thread): for files below,
// on and across the buffer and ring boundaries, fed in many slice sizes, the
// digests equal one-shot digest_of() and coreutils' md5sum/sha1sum/sha256sum/
// sha512sum of the same bytes, and the blocks and root equal a plain
// single-threaded FileImporter's. Also: tiny and empty files, hashers
// destroyed at any point, and several hashers on several threads at once.
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "content/file_hasher.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate::content;
namespace test = srcgate::test;

namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kSlot = 256 * kKiB;  // FileHasher's hand-off buffer
constexpr std::size_t kRing = 16 * kSlot;  // its ring

std::string hex(ByteView b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

struct Reference {
  FileDigests digests;
  std::optional<ImportResult> dag;
  std::vector<Cid> cids;  // blocks in sink order
};

// Single-threaded reference: one-shot digests, one FileImporter::write.
Reference reference(const ImportProfile& p, ByteView data) {
  Reference r;
  r.digests = FileDigests{digest_of(HashAlgo::md5, data), digest_of(HashAlgo::sha1, data),
                          digest_of(HashAlgo::sha256, data), digest_of(HashAlgo::sha512, data)};
  FileImporter imp(p, [&](Block&& b) { r.cids.push_back(b.cid); });
  imp.write(data);
  r.dag.emplace(imp.finish());
  return r;
}

struct Hashed {
  std::optional<FileSummary> summary;
  std::vector<Cid> cids;
  std::uint64_t sink_bytes = 0;
};

// Feeds `data` in slices of `slice` bytes (the last one shorter).
Hashed hash_sliced(const ImportProfile& p, ByteView data, std::size_t slice) {
  Hashed h;
  FileHasher hasher(p, [&](Block&& b) {
    h.cids.push_back(b.cid);
    h.sink_bytes += b.bytes.size();
  });
  std::size_t off = 0;
  for (std::size_t guard = 0; off < data.size() && guard <= data.size(); ++guard) {
    const std::size_t n = std::min(slice, data.size() - off);
    hasher.write(data.subspan(off, n));
    off += n;
  }
  REQUIRE(off == data.size());
  h.summary.emplace(hasher.finish());
  return h;
}

void check_same(const Hashed& got, const Reference& want) {
  REQUIRE(got.summary);
  for (HashAlgo a : kAllHashAlgos) {
    INFO(algo_name(a));
    CHECK(hex(got.summary->digests.get(a).bytes()) == hex(want.digests.get(a).bytes()));
  }
  CHECK(got.summary->dag.root == want.dag->root);
  CHECK(got.summary->dag.size == want.dag->size);
  CHECK(got.summary->dag.dag_size == want.dag->dag_size);
  CHECK(got.summary->dag.block_count == want.dag->block_count);
  CHECK(got.sink_bytes == want.dag->dag_size);
  CHECK(got.cids == want.cids);
}

}  // namespace

TEST_CASE("threaded digests and DAG equal the single-threaded ones for every size and slicing") {
  // Sizes on the hand-off buffer, ring and chunk boundaries.
  const std::size_t sizes[] = {0,
                               1,
                               63,
                               64,
                               65,
                               kSlot - 1,
                               kSlot,
                               kSlot + 1,
                               2 * kSlot + 17,
                               (1u << 20) - 1,
                               1u << 20,
                               (1u << 20) + 1,
                               kRing - 1,
                               kRing,
                               kRing + 1,
                               kRing + kSlot + 5,
                               2 * kRing + 3 * kSlot + 1};
  const std::size_t slices[] = {
      1, 7, 4096, 65537, kSlot - 1, kSlot, kSlot + 1, 3 * kSlot / 2, 1u << 20, 3u << 20, 10u << 20};
  const Bytes all = test::deterministic_bytes("file-hasher-threads", 2 * kRing + 3 * kSlot + 1);
  int cases = 0;
  for (std::size_t size : sizes) {
    const ByteView data = ByteView(all).first(size);
    for (const ImportProfile* p : {&ImportProfile::v0_2015, &ImportProfile::v1_2025}) {
      const Reference want = reference(*p, data);
      for (std::size_t slice : slices) {
        // One-byte slices only where they stay cheap.
        if (slice == 1 && size > 3 * kSlot) continue;
        INFO("size " << size << " slice " << slice << " profile " << p->name);
        check_same(hash_sliced(*p, data, slice), want);
        ++cases;
      }
    }
  }
  CHECK(cases == 2 * (17 * 11 - 8));
}

TEST_CASE("threaded digests of a 9 MiB + 3 file equal coreutils' and the IPIP-0499 root") {
  // Bytes: deterministic_bytes("chunk-v1-seed", 1048577) is the IPIP-0499
  // v1-2025 vector of importer_test; the digests of the larger file were
  // computed with coreutils (md5sum, sha1sum, sha256sum, sha512sum) over the
  // bytes written to a file.
  const Bytes v1 = test::deterministic_bytes("chunk-v1-seed", 1048577);
  for (std::size_t slice : {std::size_t{1000}, kSlot, std::size_t{1048577}}) {
    INFO("slice " << slice);
    Hashed h = hash_sliced(ImportProfile::v1_2025, v1, slice);
    CHECK(h.summary->dag.root.to_string() ==
          "bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64");
    CHECK(h.cids.size() == 3);
  }

  const Bytes big = test::deterministic_bytes("file-hasher-threads-vector", (9u << 20) + 3);
  for (std::size_t slice :
       {std::size_t{4096}, std::size_t{65536}, std::size_t{1u << 20}, big.size()}) {
    INFO("slice " << slice);
    Hashed h = hash_sliced(ImportProfile::v1_2025, big, slice);
    CHECK(hex(h.summary->digests.md5.bytes()) == "23e85bb126f0c66ae4fee33bfe2fa17d");
    CHECK(hex(h.summary->digests.sha1.bytes()) == "550a246b820e4a6c50ea178f9551abc53b655ffa");
    CHECK(hex(h.summary->digests.sha256.bytes()) ==
          "688c4fc406db9644a73ac615b15aaae9903149d029376477f8cfd8f062b561bb");
    CHECK(hex(h.summary->digests.sha512.bytes()) ==
          "613e5879476b5deaf4237ff1c973ff929474e6207e4f48c4c68bf63a7b7a2adfbf90aef7d3678938f5249059"
          "5932eea7bba03a8c28ad670d86bc3531dfb0a5bd");
    CHECK(h.cids.size() == 10 + 1);
  }
}

TEST_CASE("tiny files start no trouble: known vectors through the hasher") {
  // printf '%s' abc | openssl dgst -ALGO; `ipfs add` CIDs from importer_test.
  FileHasher h(ImportProfile::v0_2015, nullptr);
  h.write(as_bytes("ab"));
  h.write({});
  h.write(as_bytes("c"));
  FileSummary s = h.finish();
  CHECK(hex(s.digests.md5.bytes()) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(hex(s.digests.sha1.bytes()) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hex(s.digests.sha256.bytes()) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(
      hex(s.digests.sha512.bytes()) ==
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3f"
      "eebbd454d4423643ce80e2a9ac94fa54ca49f");

  FileHasher e(ImportProfile::v1_2025, nullptr);
  e.write({});
  FileSummary es = e.finish();
  CHECK(hex(es.digests.sha1.bytes()) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(hex(es.digests.md5.bytes()) == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(es.dag.root.to_string() == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  CHECK(es.dag.size == 0);

  FileHasher hw(ImportProfile::v0_2015, nullptr);
  hw.write(as_bytes("hello world\n"));
  CHECK(hw.finish().dag.root.to_string() == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
}

TEST_CASE("hashers destroyed at any point stop and join their threads") {
  const Bytes data = test::deterministic_bytes("abandon-threads", 2 * kRing + 1);
  const std::size_t stops[] = {0, 1, kSlot - 1, kSlot, kSlot + 1, kRing, kRing + 7, data.size()};
  for (std::size_t stop : stops) {
    for (std::size_t slice : {std::size_t{4096}, kSlot, data.size()}) {
      INFO("stop " << stop << " slice " << slice);
      std::uint64_t blocks = 0;
      {
        FileHasher h(ImportProfile::v1_2025, [&](Block&&) { ++blocks; });
        for (std::size_t off = 0; off < stop; off += slice) {
          h.write(ByteView(data).subspan(off, std::min(slice, stop - off)));
        }
      }
      CHECK(blocks == stop / (1u << 20));
    }
  }
  // Destroyed after finish(): nothing left to join twice.
  FileHasher done(ImportProfile::v1_2025, nullptr);
  done.write(data);
  CHECK(done.finish().digests.sha256 == digest_of(HashAlgo::sha256, data));
}

TEST_CASE("hashers on several threads at once are independent") {
  constexpr int kThreads = 4;
  std::vector<Bytes> inputs;
  std::vector<Reference> want;
  for (int i = 0; i < kThreads; ++i) {
    inputs.push_back(test::deterministic_bytes("parallel-" + std::to_string(i),
                                               kRing / 2 + static_cast<std::size_t>(i) * 777777));
    want.push_back(reference(ImportProfile::v1_2025, inputs.back()));
  }
  std::vector<Hashed> got(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      FileHasher h(ImportProfile::v1_2025, [&](Block&& b) {
        got[i].cids.push_back(b.cid);
        got[i].sink_bytes += b.bytes.size();
      });
      const ByteView data = inputs[i];
      for (std::size_t off = 0; off < data.size(); off += 100000) {
        h.write(data.subspan(off, std::min<std::size_t>(100000, data.size() - off)));
      }
      got[i].summary.emplace(h.finish());
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    INFO("thread " << i);
    check_same(got[i], want[i]);
  }
}
