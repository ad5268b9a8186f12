// RocksDB's CRC-32C after install_rocksdb_hardware_crc32c(): the exported
// rocksdb::crc32c::Extend gives RFC 3720's values and the table-driven
// values at every length (so CRCs written before and after the patch agree),
// and a store written with it reads back with RocksDB's own checks on.
#include "storage/rocksdb_crc32c.hpp"

#include <dlfcn.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "content/bytes.hpp"
#include "storage/crc32c.hpp"
#include "storage/rocksdb_store.hpp"
#include "tests/support/test_support.hpp"

using namespace srcgate;

namespace {

using ExtendFn = std::uint32_t (*)(std::uint32_t, const char*, std::size_t);

ExtendFn rocksdb_extend() {
  return reinterpret_cast<ExtendFn>(dlsym(RTLD_DEFAULT, "_ZN7rocksdb6crc32c6ExtendEjPKcm"));
}

std::uint32_t extend(ExtendFn fn, std::uint32_t crc, content::ByteView v) {
  return fn(crc, reinterpret_cast<const char*>(v.data()), v.size());
}

// Opens the RocksDB store in `dir`, RocksDB's blob checks on or off.
std::unique_ptr<storage::BlockStore> open_store(const std::filesystem::path& dir,
                                                bool rocksdb_checks = false,
                                                std::uint64_t bulk_after_bytes = 64ull << 20) {
  storage::RocksDbOptions o;
  o.dir = dir;
  o.verify_checksums_on_read = rocksdb_checks;
  o.store.bulk_after_bytes = bulk_after_bytes;
  auto s = storage::open_rocksdb_store(o);
  INFO((s ? "" : s.error().message));
  REQUIRE(s.has_value());
  return std::move(*s);
}

// The whole file `root` (`size` bytes) as read back from `store`.
content::Bytes read_back(storage::BlockStore& store, const content::Cid& root, std::size_t size) {
  content::Bytes back;
  auto r = store.read_file(root, 0, size, [&](content::ByteView b) -> storage::Result<void> {
    content::append(back, b);
    return {};
  });
  INFO((r ? "" : r.error().message));
  REQUIRE(r.has_value());
  return back;
}

}  // namespace

TEST_CASE("opening a RocksDB store gives RocksDB the hardware CRC-32C, with the same values") {
  test::TempDir dir;
  open_store(dir.path());
  const storage::Crc32cPatch& patch = storage::install_rocksdb_hardware_crc32c();
  INFO("patch: " << (patch.installed ? "installed" : patch.reason));
  const char* off = std::getenv("SRCGATE_ROCKSDB_SOFTWARE_CRC32C");
  if (off && *off && std::string_view(off) != "0") {
    CHECK_FALSE(patch.installed);
  } else {
#if defined(__x86_64__)
    // Debian 12's librocksdb 7.8.3 on an SSE4.2 CPU: the case CI runs.
    if (__builtin_cpu_supports("sse4.2")) CHECK(patch.installed);
#endif
  }
  CHECK(&storage::install_rocksdb_hardware_crc32c() == &patch);  // once

  const ExtendFn fn = rocksdb_extend();
  REQUIRE(fn != nullptr);
  // RFC 3720 B.4 and the CRC catalogue's check value.
  CHECK(extend(fn, 0, content::as_bytes("123456789")) == 0xE3069283u);
  std::vector<std::uint8_t> zeros(32, 0), ones(32, 0xFF), up(32);
  for (int i = 0; i < 32; ++i) up[i] = static_cast<std::uint8_t>(i);
  CHECK(extend(fn, 0, zeros) == 0x8A9136AAu);
  CHECK(extend(fn, 0, ones) == 0x62A8AB43u);
  CHECK(extend(fn, 0, up) == 0x46DD794Eu);

  // The table-driven values (what the unpatched library computes) at every
  // length class and alignment, whole and chained.
  const auto data = test::deterministic_bytes("rocksdb-crc32c", 40000);
  for (std::size_t offset : {0u, 1u, 3u}) {
    for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 4096u, 12288u, 12289u, 39990u}) {
      const content::ByteView v(data.data() + offset, len);
      INFO("offset " << offset << " length " << len);
      const std::uint32_t table = storage::crc32c_portable(0, v);
      REQUIRE(extend(fn, 0, v) == table);
      REQUIRE(extend(fn, extend(fn, 0, v.subspan(0, len / 3)), v.subspan(len / 3)) == table);
    }
  }
}

TEST_CASE("a store written with the patched CRC reads back with RocksDB's blob checks on") {
  test::TempDir dir;
  const auto data = test::deterministic_bytes("rocksdb-crc32c-store", (5 << 20) + 123);
  std::optional<content::Cid> root;
  {
    // bulk_after_bytes 0: blob records written by a flush, without the WAL.
    auto s = open_store(dir.path(), false, 0);
    auto imp = s->begin_import(content::ImportProfile::v1_2025);
    REQUIRE(imp->write(data).has_value());
    auto summary = imp->finish();
    REQUIRE(summary.has_value());
    REQUIRE(imp->commit().has_value());
    root = summary->dag.root;
  }
  auto s = open_store(dir.path(), true);  // RocksDB checks each blob record's CRC
  CHECK(read_back(*s, *root, data.size()) == data);
  auto v = s->verify({});
  INFO((v ? "" : v.error().message));
  REQUIRE(v.has_value());
  CHECK(v->ok());
  CHECK(v->blocks_checked >= 6);
}

TEST_CASE("CRCs that the unpatched library wrote verify with the patched one") {
  // `srcgate import` with the patch disabled writes the blob records with the
  // library's table-driven CRC; this process, patched, checks them on read.
  test::TempDir dir;
  const auto data = test::deterministic_bytes("rocksdb-crc32c-cli", (3 << 20) + 5);
  const auto file = dir.path() / "file.bin";
  test::write_file(file, data);
  const test::CommandResult imported = test::run_command(
      {"env", "SRCGATE_ROCKSDB_SOFTWARE_CRC32C=1", test::srcgate_binary().string(), "import",
       "--data", (dir.path() / "store").string(), file.string()});
  INFO(imported.err);
  REQUIRE(imported.exit_code == 0);
  const std::string_view key = "\"cid\":\"";
  const auto at = imported.out.find(key);
  REQUIRE(at != std::string::npos);
  const auto begin = at + key.size();
  const auto root = content::Cid::parse(
      std::string_view(imported.out).substr(begin, imported.out.find('"', begin) - begin));
  REQUIRE(root.has_value());

  auto s = open_store(dir.path() / "store", true);
  CHECK(read_back(*s, *root, data.size()) == data);
}
