#include "storage/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace srcgate::storage {

namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78;  // reflected 0x1EDC6F41

constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = make_table();

#if defined(__x86_64__)
// The register after feeding `n` bytes (n % 8 == 0 not required) to `c`,
// serially: one crc32 instruction per 8 bytes, bound by its 3-cycle latency.
__attribute__((target("sse4.2"))) std::uint64_t crc32c_serial(std::uint64_t c,
                                                              const std::uint8_t* p,
                                                              std::size_t n) {
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = _mm_crc32_u8(static_cast<std::uint32_t>(c), *p++);
    --n;
  }
  return c;
}

// Three streams of kStride bytes run in parallel (the instruction's
// throughput is one per cycle, its latency three), then are joined: the CRC
// register is linear, so feeding B after A equals shift(A) ^ feed(0, B),
// where shift() feeds kStride zero bytes; shift() is a lookup in 4 tables.
constexpr std::size_t kStride = 4096;

struct ShiftTables {
  std::array<std::array<std::uint32_t, 256>, 4> t{};
};

__attribute__((target("sse4.2"))) ShiftTables make_shift_tables() {
  static const std::array<std::uint8_t, kStride> zeros{};
  std::array<std::uint32_t, 32> basis{};
  for (int i = 0; i < 32; ++i) {
    basis[i] =
        static_cast<std::uint32_t>(crc32c_serial(std::uint64_t{1} << i, zeros.data(), kStride));
  }
  ShiftTables s;
  for (int k = 0; k < 4; ++k) {
    for (std::uint32_t b = 0; b < 256; ++b) {
      std::uint32_t v = 0;
      for (int i = 0; i < 8; ++i) {
        if (b & (1u << i)) v ^= basis[8 * k + i];
      }
      s.t[k][b] = v;
    }
  }
  return s;
}

std::uint32_t shift(const ShiftTables& s, std::uint32_t c) {
  return s.t[0][c & 0xFF] ^ s.t[1][(c >> 8) & 0xFF] ^ s.t[2][(c >> 16) & 0xFF] ^ s.t[3][c >> 24];
}

__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::uint32_t crc,
                                                             content::ByteView data) {
  static const ShiftTables tables = make_shift_tables();
  const std::uint8_t* p = data.data();
  std::size_t n = data.size();
  std::uint64_t c = ~crc;
  while (n >= 3 * kStride) {
    std::uint64_t a = c, b = 0, d = 0;
    const std::uint8_t* pb = p + kStride;
    const std::uint8_t* pd = p + 2 * kStride;
    for (std::size_t i = 0; i < kStride; i += 8) {
      std::uint64_t va, vb, vd;
      std::memcpy(&va, p + i, 8);
      std::memcpy(&vb, pb + i, 8);
      std::memcpy(&vd, pd + i, 8);
      a = _mm_crc32_u64(a, va);
      b = _mm_crc32_u64(b, vb);
      d = _mm_crc32_u64(d, vd);
    }
    const std::uint32_t ab =
        shift(tables, static_cast<std::uint32_t>(a)) ^ static_cast<std::uint32_t>(b);
    c = shift(tables, ab) ^ static_cast<std::uint32_t>(d);
    p += 3 * kStride;
    n -= 3 * kStride;
  }
  c = crc32c_serial(c, p, n);
  return ~static_cast<std::uint32_t>(c);
}

bool have_sse42() {
  static const bool yes = __builtin_cpu_supports("sse4.2");
  return yes;
}
#endif

}  // namespace

std::uint32_t crc32c_portable(std::uint32_t crc, content::ByteView data) {
  std::uint32_t c = ~crc;
  for (std::uint8_t b : data) c = kTable[(c ^ b) & 0xFF] ^ (c >> 8);
  return ~c;
}

std::uint32_t crc32c(std::uint32_t crc, content::ByteView data) {
#if defined(__x86_64__)
  if (have_sse42()) return crc32c_sse42(crc, data);
#endif
  return crc32c_portable(crc, data);
}

}  // namespace srcgate::storage
