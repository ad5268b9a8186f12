#include "storage/crc32c.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "content/bytes.hpp"
#include "tests/support/test_support.hpp"

using srcgate::content::as_bytes;
using srcgate::content::ByteView;
using srcgate::storage::crc32c;
using srcgate::storage::crc32c_portable;

TEST_CASE("crc32c matches the published check value and RFC 3720 B.4 vectors") {
  // The CRC catalogue's check value for CRC-32/ISCSI.
  CHECK(crc32c(0, as_bytes("123456789")) == 0xE3069283u);
  CHECK(crc32c_portable(0, as_bytes("123456789")) == 0xE3069283u);
  std::vector<std::uint8_t> zeros(32, 0), ones(32, 0xFF), up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<std::uint8_t>(i);
    down[i] = static_cast<std::uint8_t>(31 - i);
  }
  CHECK(crc32c(0, zeros) == 0x8A9136AAu);
  CHECK(crc32c(0, ones) == 0x62A8AB43u);
  CHECK(crc32c(0, up) == 0x46DD794Eu);
  CHECK(crc32c(0, down) == 0x113FDB5Cu);
  CHECK(crc32c(0, ByteView()) == 0u);
}

TEST_CASE("crc32c: the fast path equals the table, at every length and alignment, and chains") {
  // Lengths around multiples of 12 KiB take the three-stream path.
  const auto data = srcgate::test::deterministic_bytes("crc32c", 3 * 12288 + 64);
  for (std::size_t offset = 0; offset < 9; ++offset) {
    for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 15u, 63u, 64u, 65u, 1000u, 4096u, 12287u, 12288u,
                            12289u, 12295u, 24576u, 3u * 12288u + 55u}) {
      ByteView v(data.data() + offset, len);
      INFO("offset " << offset << " length " << len);
      REQUIRE(crc32c(0, v) == crc32c_portable(0, v));
      const std::size_t half = len / 3;
      REQUIRE(crc32c(crc32c(0, v.first(half)), v.subspan(half)) == crc32c(0, v));
    }
  }
}

TEST_CASE("crc32c throughput", "[.benchmark]") {
  const auto data = srcgate::test::deterministic_bytes("crc32c", std::size_t{64} << 20);
  std::uint32_t sink = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 16; ++i) sink += crc32c(0, data);
  const std::chrono::duration<double> s = std::chrono::steady_clock::now() - start;
  WARN("crc32c: " << (16.0 * data.size() / s.count() / 1e9) << " GB/s over 64 MiB (" << sink
                  << ")");
  // A block that is already in the cache, as on the read path.
  const ByteView block(data.data(), std::size_t{256} << 10);
  const auto start2 = std::chrono::steady_clock::now();
  for (int i = 0; i < 4096; ++i) sink += crc32c(0, block);
  const std::chrono::duration<double> s2 = std::chrono::steady_clock::now() - start2;
  WARN("crc32c: " << (4096.0 * block.size() / s2.count() / 1e9) << " GB/s over a cached 256 KiB ("
                  << sink << ")");
}
