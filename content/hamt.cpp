#include "content/hamt.hpp"

#include <bit>
#include <cstring>

namespace srcgate::content {
namespace {

inline std::uint64_t load_le64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

inline std::uint64_t fmix64(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// log2(fanout) for a power of two in 2..1024, else 0.
unsigned fanout_bits(unsigned fanout) {
  if (fanout < 2 || fanout > 1024 || !std::has_single_bit(fanout)) return 0;
  return static_cast<unsigned>(std::countr_zero(fanout));
}

}  // namespace

std::array<std::uint64_t, 2> murmur3_x64_128(ByteView data) {
  constexpr std::uint64_t c1 = 0x87c37b91114253d5ULL;
  constexpr std::uint64_t c2 = 0x4cf5ad432745937fULL;
  const std::size_t len = data.size();
  const std::size_t nblocks = len / 16;
  const std::uint8_t* p = data.data();
  std::uint64_t h1 = 0;
  std::uint64_t h2 = 0;

  for (std::size_t i = 0; i < nblocks; ++i) {
    std::uint64_t k1 = load_le64(p + i * 16);
    std::uint64_t k2 = load_le64(p + i * 16 + 8);
    k1 *= c1;
    k1 = std::rotl(k1, 31);
    k1 *= c2;
    h1 ^= k1;
    h1 = std::rotl(h1, 27);
    h1 += h2;
    h1 = h1 * 5 + 0x52dce729;
    k2 *= c2;
    k2 = std::rotl(k2, 33);
    k2 *= c1;
    h2 ^= k2;
    h2 = std::rotl(h2, 31);
    h2 += h1;
    h2 = h2 * 5 + 0x38495ab5;
  }

  const std::uint8_t* tail = p + nblocks * 16;
  const std::size_t rest = len & 15;
  std::uint64_t k1 = 0;
  std::uint64_t k2 = 0;
  for (std::size_t i = rest; i > 8; --i) k2 = (k2 << 8) | tail[i - 1];
  for (std::size_t i = rest < 8 ? rest : 8; i > 0; --i) k1 = (k1 << 8) | tail[i - 1];
  if (rest > 8) {
    k2 *= c2;
    k2 = std::rotl(k2, 33);
    k2 *= c1;
    h2 ^= k2;
  }
  if (rest > 0) {
    k1 *= c1;
    k1 = std::rotl(k1, 31);
    k1 *= c2;
    h1 ^= k1;
  }

  h1 ^= len;
  h2 ^= len;
  h1 += h2;
  h2 += h1;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  h1 += h2;
  h2 += h1;
  return {h1, h2};
}

unsigned hamt_max_depth(unsigned fanout) {
  unsigned bits = fanout_bits(fanout);
  return bits == 0 ? 0 : 64 / bits;
}

std::uint32_t hamt_bucket(std::string_view name, unsigned depth, unsigned fanout) {
  const unsigned bits = fanout_bits(fanout);
  if (bits == 0 || depth >= 64 / bits) return 0;
  const std::uint64_t h1 = murmur3_x64_128(as_bytes(name))[0];
  // h1 read big-endian is h1 itself as a number: bit 63 is the first bit consumed.
  const unsigned shift = 64 - bits * (depth + 1);
  return static_cast<std::uint32_t>((h1 >> shift) & ((std::uint64_t{1} << bits) - 1));
}

}  // namespace srcgate::content
