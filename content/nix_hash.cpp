#include "content/nix_hash.hpp"

#include "content/encoding.hpp"

namespace srcgate::content {
namespace {

std::string quoted(std::string_view text) {
  constexpr std::size_t kMax = 160;
  if (text.size() > kMax) return "'" + std::string(text.substr(0, kMax)) + "...'";
  return "'" + std::string(text) + "'";
}

std::size_t base64_length(std::size_t n) { return (n + 2) / 3 * 4; }

// How error messages name the text: "'<text>'", plus " (after the '<prefix>'
// prefix)" when the hash followed one. Built only when a message is, so that
// parsing a good hash allocates no text.
struct What {
  std::string_view text;
  std::size_t prefix = 0;  // length of "algo:" or "algo-", or 0
  std::string str() const {
    if (prefix == 0) return quoted(text);
    return quoted(text) + " (after the '" + std::string(text.substr(0, prefix)) + "' prefix)";
  }
};

// Decodes `body` as a hash of `algo` in the encoding its length selects.
// `what_text` names the text in error messages.
Result<ParsedHash> decode_by_length(std::string_view body, HashAlgo algo, bool sri,
                                    const What& what_text) {
  const std::size_t n = digest_size(algo);
  const std::string_view name_view = algo_name(algo);
  const auto name = [&] { return std::string(name_view); };
  const auto what = [&] { return what_text.str(); };
  Result<Bytes> bytes = Bytes{};
  HashEncoding enc;
  if (sri) {
    if (body.size() != base64_length(n)) {
      return make_error(Errc::malformed, "SRI " + name() + " hash " + what() + " has " +
                                             std::to_string(body.size()) + " base64 characters; " +
                                             name() + " needs " + std::to_string(base64_length(n)));
    }
    bytes = base64_decode(body, true);
    enc = HashEncoding::sri;
  } else if (body.size() == 2 * n) {
    bytes = hex_decode(body);
    enc = HashEncoding::hex;
  } else if (body.size() == nix32_length(n)) {
    bytes = nix32_decode(body);
    enc = HashEncoding::nix32;
  } else if (body.size() == base64_length(n)) {
    bytes = base64_decode(body, true);
    enc = HashEncoding::base64;
  } else {
    return make_error(Errc::malformed, name() + " hash " + what() + " has " +
                                           std::to_string(body.size()) + " characters; " + name() +
                                           " needs " + std::to_string(2 * n) + " (hex), " +
                                           std::to_string(nix32_length(n)) + " (nix32) or " +
                                           std::to_string(base64_length(n)) + " (base64)");
  }
  if (!bytes) {
    return make_error(Errc::malformed, name() + " hash " + what() + ": " + bytes.error().message);
  }
  // A base64 text of the right length can still hold a byte too many (44
  // characters without '=' are 33 bytes).
  if (bytes->size() != n) {
    return make_error(Errc::malformed, name() + " hash " + what() + " decodes to " +
                                           std::to_string(bytes->size()) + " bytes; " + name() +
                                           " needs " + std::to_string(n));
  }
  return ParsedHash{Digest(algo, *bytes), enc};
}

}  // namespace

Result<ParsedHash> parse_nix_hash(std::string_view text, std::optional<HashAlgo> algo) {
  std::size_t sep = text.find(':');
  bool sri = false;
  if (sep == std::string_view::npos) {
    sep = text.find('-');  // no hex, nix32 or standard base64 character is '-'
    sri = sep != std::string_view::npos;
  }
  if (sep == std::string_view::npos) {
    if (!algo) {
      return make_error(Errc::malformed,
                        "hash " + quoted(text) +
                            " does not name its algorithm; expected 'algo:<hash>' or SRI "
                            "'algo-<base64>'");
    }
    return decode_by_length(text, *algo, false, What{text});
  }
  const std::string_view prefix = text.substr(0, sep);
  const std::optional<HashAlgo> named = algo_from_name(prefix);
  if (!named) {
    return make_error(Errc::unsupported, "unknown hash algorithm " + quoted(prefix) + " in " +
                                             quoted(text) +
                                             "; expected md5, sha1, sha256 or sha512");
  }
  if (algo && *algo != *named) {
    return make_error(Errc::malformed, "hash " + quoted(text) + " is " +
                                           std::string(algo_name(*named)) + " but " +
                                           std::string(algo_name(*algo)) + " was expected");
  }
  return decode_by_length(text.substr(sep + 1), *named, sri, What{text, sep + 1});
}

std::string to_sri(const Digest& digest) {
  return std::string(algo_name(digest.algo)) + "-" + base64_encode(digest.bytes(), true);
}

std::string to_hex(const Digest& digest) { return hex_encode(digest.bytes()); }

std::string to_nix32(const Digest& digest) { return nix32_encode(digest.bytes()); }

}  // namespace srcgate::content
