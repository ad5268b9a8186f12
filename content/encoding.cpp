#include "content/encoding.hpp"

#include <array>
#include <cstring>

namespace srcgate::content {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kNix32Alphabet[] = "0123456789abcdfghijklmnpqrsvwxyz";
constexpr char kBase32Lower[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr char kBase32Upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr char kBase64Std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kBase58Alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

// Reverse lookup table: character -> digit value, 0xff for "not in alphabet".
struct Decoder {
  std::array<std::uint8_t, 256> v;
  constexpr explicit Decoder(const char* alphabet) : v() {
    for (auto& x : v) x = 0xff;
    for (std::uint8_t i = 0; alphabet[i] != '\0'; ++i) {
      v[static_cast<unsigned char>(alphabet[i])] = i;
    }
  }
  std::uint8_t operator[](char c) const { return v[static_cast<unsigned char>(c)]; }
};

constexpr Decoder kHexDecoder("0123456789abcdefABCDEF");  // A..F map to 16..21, fixed below
constexpr Decoder kNix32Decoder(kNix32Alphabet);
constexpr Decoder kBase32LowerDecoder(kBase32Lower);
constexpr Decoder kBase32UpperDecoder(kBase32Upper);
constexpr Decoder kBase64StdDecoder(kBase64Std);
constexpr Decoder kBase64UrlDecoder(kBase64Url);
constexpr Decoder kBase58Decoder(kBase58Alphabet);

std::string describe_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
  std::string s = "byte 0x";
  s += kHexDigits[u >> 4];
  s += kHexDigits[u & 15];
  return s;
}

Error bad_char(std::string_view encoding, std::string_view text, std::size_t offset) {
  return make_error(Errc::malformed, std::string(encoding) + " text has invalid character " +
                                         describe_char(text[offset]) + " at offset " +
                                         std::to_string(offset));
}

Error bad_length(std::string_view encoding, std::size_t length) {
  return make_error(Errc::malformed, std::string(encoding) + " text of " + std::to_string(length) +
                                         " characters is not a valid length");
}

// RFC 4648 base32 without padding.
std::string base32_encode_impl(ByteView data, const char* alphabet) {
  std::string out;
  out.reserve((data.size() * 8 + 4) / 5);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::uint8_t b : data) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += alphabet[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

Result<Bytes> base32_decode_impl(std::string_view text, const Decoder& dec, const char* name) {
  // Unpadded lengths mod 8 that end on a byte boundary: 0, 2, 4, 5, 7.
  switch (text.size() % 8) {
    case 1:
    case 3:
    case 6:
      return bad_length(name, text.size());
    default:
      break;
  }
  Bytes out;
  out.reserve(text.size() * 5 / 8);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::uint8_t d = dec[text[i]];
    if (d == 0xff) return bad_char(name, text, i);
    buffer = (buffer << 5) | d;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(buffer >> bits));
    }
  }
  if ((buffer & ((1u << bits) - 1)) != 0) {
    return make_error(Errc::malformed, std::string(name) +
                                           " text has non-zero trailing bits in its last "
                                           "character " +
                                           describe_char(text.back()) + " at offset " +
                                           std::to_string(text.size() - 1));
  }
  return out;
}

std::string base64_encode_impl(ByteView data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const std::size_t n = data.size();
  for (; i + 3 <= n; i += 3) {
    std::uint32_t v =
        (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (n - i == 1) {
    std::uint32_t v = std::uint32_t{data[i]} << 16;
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (n - i == 2) {
    std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

Result<Bytes> base64_decode_impl(std::string_view text, const Decoder& dec, bool pad,
                                 const char* name) {
  std::size_t body = text.size();
  if (pad) {
    if (text.size() % 4 != 0) return bad_length(name, text.size());
    // At most two '=' and only at the end.
    if (body > 0 && text[body - 1] == '=') --body;
    if (body > 0 && text[body - 1] == '=' && body % 4 == 3) --body;
  }
  if (body % 4 == 1) return bad_length(name, text.size());
  Bytes out;
  out.reserve(body * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < body; ++i) {
    std::uint8_t d = dec[text[i]];
    if (d == 0xff) return bad_char(name, text, i);
    buffer = (buffer << 6) | d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(buffer >> bits));
    }
  }
  if ((buffer & ((1u << bits) - 1)) != 0) {
    return make_error(Errc::malformed, std::string(name) +
                                           " text has non-zero trailing bits in its last "
                                           "character " +
                                           describe_char(text[body - 1]) + " at offset " +
                                           std::to_string(body - 1));
  }
  return out;
}

}  // namespace

std::string hex_encode(ByteView data) {
  std::string out(data.size() * 2, '\0');
  char* p = out.data();
  for (std::uint8_t b : data) {
    *p++ = kHexDigits[b >> 4];
    *p++ = kHexDigits[b & 15];
  }
  return out;
}

Result<Bytes> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) return bad_length("hex", text.size());
  Bytes out(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::uint8_t d = kHexDecoder[text[i]];
    if (d == 0xff) return bad_char("hex", text, i);
    if (d >= 16) d -= 6;  // 'A'..'F' were numbered 16..21
    out[i / 2] = static_cast<std::uint8_t>(out[i / 2] << 4 | d);
  }
  return out;
}

std::size_t nix32_length(std::size_t n) { return n == 0 ? 0 : (n * 8 - 1) / 5 + 1; }

std::string nix32_encode(ByteView data) {
  const std::size_t len = nix32_length(data.size());
  std::string out;
  out.reserve(len);
  for (std::size_t n = len; n-- > 0;) {
    const std::size_t b = n * 5;
    const std::size_t i = b / 8;
    const unsigned j = b % 8;
    unsigned c = data[i] >> j;
    if (i + 1 < data.size()) c |= static_cast<unsigned>(data[i + 1]) << (8 - j);
    out += kNix32Alphabet[c & 0x1f];
  }
  return out;
}

Result<Bytes> nix32_decode(std::string_view text) {
  const std::size_t size = text.size() * 5 / 8;
  if (nix32_length(size) != text.size()) return bad_length("nix32", text.size());
  Bytes out(size);
  for (std::size_t pos = 0; pos < text.size(); ++pos) {
    std::uint8_t d = kNix32Decoder[text[pos]];
    if (d == 0xff) return bad_char("nix32", text, pos);
    const std::size_t n = text.size() - 1 - pos;
    const std::size_t b = n * 5;
    const std::size_t i = b / 8;
    const unsigned j = b % 8;
    out[i] |= static_cast<std::uint8_t>(d << j);
    const unsigned carry = static_cast<unsigned>(d) >> (8 - j);
    if (i + 1 < size) {
      out[i + 1] |= static_cast<std::uint8_t>(carry);
    } else if (carry != 0) {
      return make_error(Errc::malformed, "nix32 text has bits set beyond " + std::to_string(size) +
                                             " bytes in character " + describe_char(text[pos]) +
                                             " at offset " + std::to_string(pos));
    }
  }
  return out;
}

std::string base32_encode(ByteView data, bool upper) {
  return base32_encode_impl(data, upper ? kBase32Upper : kBase32Lower);
}

Result<Bytes> base32_decode(std::string_view text, bool upper) {
  return upper ? base32_decode_impl(text, kBase32UpperDecoder, "base32upper")
               : base32_decode_impl(text, kBase32LowerDecoder, "base32");
}

std::string base64_encode(ByteView data, bool pad) {
  return base64_encode_impl(data, kBase64Std, pad);
}

Result<Bytes> base64_decode(std::string_view text, bool pad) {
  return base64_decode_impl(text, kBase64StdDecoder, pad, "base64");
}

std::string base64url_encode(ByteView data, bool pad) {
  return base64_encode_impl(data, kBase64Url, pad);
}

Result<Bytes> base64url_decode(std::string_view text, bool pad) {
  return base64_decode_impl(text, kBase64UrlDecoder, pad, "base64url");
}

// base58 works on limbs of several digits at once: 58^5 fits 32 bits, and a limb
// times 2^32 plus carry fits 64 bits, so the quadratic loop runs ~20x fewer steps.
namespace {
constexpr std::uint64_t kB58Limb = 58ull * 58 * 58 * 58 * 58;  // 656356768
}

std::string base58btc_encode(ByteView data) {
  std::size_t zeros = 0;
  while (zeros < data.size() && data[zeros] == 0) ++zeros;
  std::vector<std::uint32_t> limbs;  // little-endian, base 58^5
  limbs.reserve((data.size() - zeros) * 138 / 100 / 5 + 2);
  for (std::size_t pos = zeros; pos < data.size();) {
    const std::size_t k = std::min<std::size_t>(4, data.size() - pos);
    std::uint64_t carry = 0;
    for (std::size_t t = 0; t < k; ++t) carry = carry << 8 | data[pos + t];
    pos += k;
    const unsigned shift = static_cast<unsigned>(8 * k);
    for (auto& l : limbs) {
      std::uint64_t v = (static_cast<std::uint64_t>(l) << shift) + carry;
      l = static_cast<std::uint32_t>(v % kB58Limb);
      carry = v / kB58Limb;
    }
    while (carry != 0) {
      limbs.push_back(static_cast<std::uint32_t>(carry % kB58Limb));
      carry /= kB58Limb;
    }
  }
  std::string out(zeros, '1');
  out.reserve(zeros + limbs.size() * 5);
  for (std::size_t li = limbs.size(); li-- > 0;) {
    char digits[5];
    std::uint32_t v = limbs[li];
    for (int d = 4; d >= 0; --d) {
      digits[d] = kBase58Alphabet[v % 58];
      v /= 58;
    }
    int start = 0;
    if (li + 1 == limbs.size()) {
      while (start < 4 && digits[start] == '1') ++start;  // no leading zero digits
    }
    out.append(digits + start, digits + 5);
  }
  return out;
}

Result<Bytes> base58btc_decode(std::string_view text) {
  std::size_t zeros = 0;
  while (zeros < text.size() && text[zeros] == '1') ++zeros;
  std::vector<std::uint32_t> limbs;  // little-endian, base 2^32
  limbs.reserve((text.size() - zeros) * 733 / 1000 / 4 + 2);
  for (std::size_t pos = zeros; pos < text.size();) {
    const std::size_t k = std::min<std::size_t>(5, text.size() - pos);
    std::uint64_t carry = 0, mul = 1;
    for (std::size_t t = 0; t < k; ++t) {
      std::uint8_t d = kBase58Decoder[text[pos + t]];
      if (d == 0xff) return bad_char("base58btc", text, pos + t);
      carry = carry * 58 + d;
      mul *= 58;
    }
    pos += k;
    for (auto& l : limbs) {
      std::uint64_t v = l * mul + carry;
      l = static_cast<std::uint32_t>(v);
      carry = v >> 32;
    }
    while (carry != 0) {
      limbs.push_back(static_cast<std::uint32_t>(carry));
      carry >>= 32;
    }
  }
  Bytes out(zeros, 0);
  out.reserve(zeros + limbs.size() * 4);
  for (std::size_t li = limbs.size(); li-- > 0;) {
    const std::uint32_t v = limbs[li];
    int shift = 24;
    if (li + 1 == limbs.size()) {
      while (shift > 0 && (v >> shift) == 0) shift -= 8;  // no leading zero bytes
    }
    for (; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
  }
  return out;
}

}  // namespace srcgate::content
