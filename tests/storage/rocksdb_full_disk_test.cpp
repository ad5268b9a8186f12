// A RocksDB store on a full disk: a small tmpfs, mounted by the test, is
// filled by imports until RocksDB reports no space. The failing import must
// say "store is full", reads of stored files must keep working, and once the
// tmpfs is made larger the same store (and, after a reopen, the store again)
// accepts imports, with every name still resolving to bytes that hash to it.
// Mounting needs root (CI runs the suite as root); elsewhere the test is
// skipped with a warning.
#include <sys/mount.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "content/digest.hpp"
#include "storage/rocksdb_store.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;
using content::Bytes;
using content::ByteView;

namespace {

constexpr std::size_t kMiB = 1 << 20;

// Unmounts on scope exit (lazily, so that open descriptors cannot block it).
class Mount {
 public:
  explicit Mount(std::filesystem::path where) : where_(std::move(where)) {}
  ~Mount() {
    if (mounted_) ::umount2(where_.c_str(), MNT_DETACH);
  }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  // 0 or errno.
  int mount_tmpfs(const std::string& size) {
    std::string opts = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", where_.c_str(), "tmpfs", 0, opts.c_str()) != 0) return errno;
    mounted_ = true;
    return 0;
  }
  int resize(const std::string& size) {
    std::string opts = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", where_.c_str(), "tmpfs", MS_REMOUNT, opts.c_str()) != 0) return errno;
    return 0;
  }

 private:
  std::filesystem::path where_;
  bool mounted_ = false;
};

storage::Result<content::FileSummary> try_import(storage::BlockStore& s, ByteView data) {
  auto imp = s.begin_import(content::ImportProfile::v1_2025);
  for (std::size_t at = 0; at < data.size(); at += kMiB) {
    if (auto w = imp->write(data.subspan(at, std::min(kMiB, data.size() - at))); !w) {
      return w.error();
    }
  }
  auto f = imp->finish();
  if (!f) return f.error();
  auto c = imp->commit();
  if (!c) return c.error();
  return c->summary;
}

bool reads_back(storage::BlockStore& s, const content::Cid& root, ByteView expected) {
  content::Digester sha(content::HashAlgo::sha256);
  std::uint64_t size = 0;
  auto r = s.read_file(root, 0, ~0ull, [&](ByteView b) -> storage::Result<void> {
    sha.update(b);
    size += b.size();
    return {};
  });
  INFO((r ? "" : r.error().message));
  return r && size == expected.size() &&
         sha.finish() == content::digest_of(content::HashAlgo::sha256, expected);
}

// Every name resolves to a file whose bytes hash to the name.
void check_names(storage::BlockStore& s) {
  std::vector<std::pair<content::Digest, storage::NameEntry>> names;
  REQUIRE(s.for_each_name([&](const content::Digest& d, const storage::NameEntry& e) {
    names.emplace_back(d, e);
    return true;
  }));
  for (const auto& [digest, entry] : names) {
    content::Digester h(digest.algo);
    auto r = s.read_file(entry.root, 0, ~0ull, [&](ByteView b) -> storage::Result<void> {
      h.update(b);
      return {};
    });
    INFO(entry.root.to_string());
    REQUIRE(r);
    CHECK(h.finish() == digest);
  }
  auto v = s.verify({});
  REQUIRE(v);
  CHECK(v->ok());
}

}  // namespace

TEST_CASE("a full disk fails imports with a clear error, keeps reads and corrupts nothing",
          "[store][rocksdb][full]") {
  test::TempDir tmp;
  const auto mountpoint = tmp / "tmpfs";
  std::filesystem::create_directories(mountpoint);
  Mount mount(mountpoint);
  if (int e = mount.mount_tmpfs("40m"); e != 0) {
    WARN("SKIPPED: cannot mount a tmpfs at " << mountpoint.string() << " (" << std::strerror(e)
                                             << "); the full-disk test needs root, as in CI");
    return;
  }
  storage::RocksDbOptions o;
  o.dir = mountpoint / "store";

  std::vector<std::pair<content::Cid, Bytes>> kept;
  {
    auto opened = storage::open_rocksdb_store(o);
    REQUIRE(opened);
    auto& s = **opened;
    for (int i = 0; i < 2; ++i) {
      Bytes data = test::deterministic_bytes("kept-" + std::to_string(i), 3 * kMiB + 1);
      auto r = try_import(s, data);
      REQUIRE(r);
      kept.emplace_back(r->dag.root, std::move(data));
    }

    std::optional<storage::Error> failure;
    // 40 MiB of tmpfs cannot take 20 files of 4 MiB: the loop ends with an error.
    for (int i = 0; i < 20 && !failure; ++i) {
      auto r = try_import(s, test::deterministic_bytes("fill-" + std::to_string(i), 4 * kMiB));
      if (!r) failure = r.error();
    }
    REQUIRE(failure);
    INFO(failure->message);
    CHECK(failure->code == storage::Errc::no_space);
    CHECK_THAT(failure->message, Catch::StartsWith("store is full"));

    // Reads keep working while the disk is full.
    for (const auto& [root, data] : kept) CHECK(reads_back(s, root, data));
    auto name = s.lookup(content::digest_of(content::HashAlgo::sha256, kept[0].second));
    REQUIRE(name);
    REQUIRE(name->has_value());
    CHECK((*name)->root == kept[0].first);

    // More space: the same open store recovers by itself and accepts an
    // import again. RocksDB's recovery polls the free space on its own timer
    // (about every 5 s) and the store exposes no event for it, so this waits
    // by retrying, at most 100 times 200 ms.
    REQUIRE(mount.resize("160m") == 0);
    Bytes after = test::deterministic_bytes("after-resize", 2 * kMiB);
    auto r = try_import(s, after);
    for (int attempt = 0; attempt < 100 && !r && r.error().code == storage::Errc::no_space;
         ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      r = try_import(s, after);
    }
    INFO((r ? "" : r.error().message));
    CHECK(r);
    check_names(s);
  }
  // And a reopened store is sound.
  auto reopened = storage::open_rocksdb_store(o);
  INFO((reopened ? "" : reopened.error().message));
  REQUIRE(reopened);
  for (const auto& [root, data] : kept) CHECK(reads_back(**reopened, root, data));
  check_names(**reopened);
}
