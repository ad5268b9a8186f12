// murmur3_x64_128 against published vectors ("hello", the quick brown fox) and
// vectors from an independent re-implementation of the reference C++ code for
// every tail length class; HAMT buckets against ipfs-gateway.md §2.5 (470.txt,
// 685.txt as laid out in single-layer-hamt-with-multi-block-files.car).
#include "content/hamt.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

using namespace srcgate::content;

namespace {

Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 7 + 3);
  return b;
}

}  // namespace

TEST_CASE("murmur3_x64_128 published vectors") {
  auto h = murmur3_x64_128(as_bytes("hello"));
  CHECK(h[0] == 0xcbd8a7b341bd9b02ULL);
  CHECK(h[1] == 0x5b1e906a48ae1d19ULL);
  h = murmur3_x64_128(as_bytes("The quick brown fox jumps over the lazy dog"));
  CHECK(h[0] == 0xe34bbc7bbc071b6cULL);
  CHECK(h[1] == 0x7a433ca9c49a9347ULL);
  h = murmur3_x64_128(ByteView{});
  CHECK(h[0] == 0);
  CHECK(h[1] == 0);
}

TEST_CASE("murmur3_x64_128 every block/tail shape") {
  struct Vec {
    std::size_t len;
    std::uint64_t h1, h2;
  };
  // Bytes i*7+3, from a Python port of MurmurHash3.cpp written for this check.
  const Vec vecs[] = {
      {1, 0x726ac6dd306a3e59ULL, 0x4e711127c5b5a8e4ULL},
      {7, 0xbecbbf54236ce3a1ULL, 0x2b3ba492e39cef50ULL},
      {8, 0xa5ee2a9a9132d3bdULL, 0x259e7f3a617e003aULL},
      {9, 0x51ba2ea10afadbb6ULL, 0x1f8153c3131e0496ULL},
      {15, 0xba6a4b5e80ade4f4ULL, 0xe00e5a8ff7e8f26dULL},
      {16, 0xc4b099c52f8f4ea1ULL, 0x7d670219d92afe48ULL},
      {17, 0xd4ae4b39fe53b127ULL, 0x6602453b6681dbe9ULL},
      {31, 0x9d91fedff00436fbULL, 0x7ea851ba737ebfd0ULL},
      {32, 0x65bdb8dd080643ffULL, 0xbec31b8aa5f3910aULL},
      {33, 0xb16757d8c4f72f1aULL, 0x9171ee56072d60a6ULL},
  };
  for (const auto& v : vecs) {
    INFO("length " << v.len);
    Bytes data = pattern(v.len);
    auto h = murmur3_x64_128(data);
    CHECK(h[0] == v.h1);
    CHECK(h[1] == v.h2);
  }
}

TEST_CASE("murmur3 h1 of HAMT fixture names") {
  CHECK(murmur3_x64_128(as_bytes("470.txt"))[0] == 0x006e88df5847e67cULL);
  CHECK(murmur3_x64_128(as_bytes("685.txt"))[0] == 0xfde32207976bdd5aULL);
}

TEST_CASE("hamt_bucket fanout 256 takes bytes of big-endian h1") {
  CHECK(hamt_bucket("470.txt", 0, 256) == 0x00);
  CHECK(hamt_bucket("470.txt", 1, 256) == 0x6E);
  CHECK(hamt_bucket("470.txt", 2, 256) == 0x88);
  CHECK(hamt_bucket("470.txt", 3, 256) == 0xDF);
  CHECK(hamt_bucket("470.txt", 7, 256) == 0x7C);
  CHECK(hamt_bucket("685.txt", 0, 256) == 0xFD);
  CHECK(hamt_bucket("685.txt", 1, 256) == 0xE3);
}

TEST_CASE("hamt_bucket other fanouts consume bits MSB-first across bytes") {
  // 470.txt h1 = 0x006e88df...: nibbles 0,0,6,e,8,8,d,f.
  CHECK(hamt_bucket("470.txt", 0, 16) == 0x0);
  CHECK(hamt_bucket("470.txt", 2, 16) == 0x6);
  CHECK(hamt_bucket("470.txt", 3, 16) == 0xE);
  CHECK(hamt_bucket("470.txt", 6, 16) == 0xD);
  // 10 bits: 0000000001 | 1011101000 | ...
  CHECK(hamt_bucket("470.txt", 0, 1024) == 1);
  CHECK(hamt_bucket("470.txt", 1, 1024) == 0x2E8);
  // 3 bits of 685.txt's 0xfde3...: 111 111 011 110 0...
  CHECK(hamt_bucket("685.txt", 0, 8) == 7);
  CHECK(hamt_bucket("685.txt", 1, 8) == 7);
  CHECK(hamt_bucket("685.txt", 2, 8) == 3);
  CHECK(hamt_bucket("685.txt", 3, 8) == 6);
}

TEST_CASE("hamt_max_depth") {
  CHECK(hamt_max_depth(256) == 8);
  CHECK(hamt_max_depth(16) == 16);
  CHECK(hamt_max_depth(1024) == 6);
  CHECK(hamt_max_depth(8) == 21);
  CHECK(hamt_max_depth(0) == 0);
  CHECK(hamt_max_depth(300) == 0);
  CHECK(hamt_max_depth(2048) == 0);
  // Out of range depth is defined as 0, never reads past the 64 hash bits.
  CHECK(hamt_bucket("470.txt", 8, 256) == 0);
}
