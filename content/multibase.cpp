#include "content/multibase.hpp"

#include "content/encoding.hpp"

namespace srcgate::content {

std::string multibase_encode(Multibase base, ByteView data) {
  std::string body;
  switch (base) {
    case Multibase::base58btc:
      body = base58btc_encode(data);
      break;
    case Multibase::base32:
      body = base32_encode(data, false);
      break;
    case Multibase::base32upper:
      body = base32_encode(data, true);
      break;
    case Multibase::base16:
      body = hex_encode(data);
      break;
    case Multibase::base16upper:
      body = hex_encode(data);
      for (char& c : body) {
        if (c >= 'a') c = static_cast<char>(c - 'a' + 'A');
      }
      break;
    case Multibase::base64:
      body = base64_encode(data, false);
      break;
    case Multibase::base64url:
      body = base64url_encode(data, false);
      break;
  }
  body.insert(body.begin(), static_cast<char>(base));
  return body;
}

Result<Bytes> multibase_decode(std::string_view text) {
  if (text.empty()) return make_error(Errc::malformed, "empty multibase string has no prefix");
  const std::string_view body = text.substr(1);
  Result<Bytes> r = Bytes{};
  switch (text[0]) {
    case 'z':
      r = base58btc_decode(body);
      break;
    case 'b':
      r = base32_decode(body, false);
      break;
    case 'B':
      r = base32_decode(body, true);
      break;
    case 'f':
    case 'F':
      r = hex_decode(body);
      break;
    case 'm':
      r = base64_decode(body, false);
      break;
    case 'u':
      r = base64url_decode(body, false);
      break;
    default: {
      const auto c = static_cast<unsigned char>(text[0]);
      std::string shown =
          c >= 0x21 && c < 0x7f ? std::string("'") + text[0] + "'" : "byte " + std::to_string(c);
      return make_error(Errc::unsupported,
                        "unknown multibase prefix " + shown +
                            "; supported: z (base58btc), b/B (base32), f/F (base16), m (base64), "
                            "u (base64url)");
    }
  }
  if (!r) {
    return make_error(r.error().code, r.error().message +
                                          " (offsets counted after the multibase "
                                          "prefix '" +
                                          text[0] + "')");
  }
  return r;
}

}  // namespace srcgate::content
