// Fuzzes parse_nix_hash, the parser behind every /md5|sha1|sha256|sha512/<hash>
// URL. The first byte picks the algo the URL path would name (or none, for the
// SRI form); the rest is the hash text. A successful parse must print back to
// forms that parse to the same digest.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "content/nix_hash.hpp"

using namespace srcgate::content;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::optional<HashAlgo> algo;
  if (data[0] % 5 < 4) algo = kAllHashAlgos[data[0] % 5];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto parsed = parse_nix_hash(text, algo);
  if (!parsed) {
    if (parsed.error().message.empty()) std::abort();  // every error says what is wrong
    return 0;
  }
  const Digest& d = parsed->digest;
  if (algo && d.algo != *algo) std::abort();
  for (const auto& form : {to_hex(d), to_nix32(d)}) {
    auto again = parse_nix_hash(form, d.algo);
    if (!again || again->digest != d) std::abort();
  }
  auto sri = parse_nix_hash(to_sri(d), std::nullopt);
  if (!sri || sri->digest != d) std::abort();
  return 0;
}
