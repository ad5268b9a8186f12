// Url: an absolute http:// or https:// URL split into the parts an HTTP
// client needs, and the resolution of a redirect's Location against it
// (RFC 3986 §5.2, the subset that Location uses: absolute, scheme-relative,
// absolute-path and relative-path references).
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "content/error.hpp"

namespace srcgate::server {

struct Url {
  std::string scheme;      // "http" or "https", lower case
  std::string host;        // lower case; an IPv6 literal without brackets
  std::uint16_t port = 0;  // the explicit port, else 80 / 443
  std::string target;      // path and query as sent on the request line; "/" at least; no fragment

  bool https() const { return scheme == "https"; }
  // "host" or "host:port" when the port is not the scheme's default; IPv6 in
  // brackets. The Host header field.
  std::string authority() const;
  // "host:port" always (IPv6 in brackets): CONNECT targets, pool keys, messages.
  std::string host_port() const;
  // scheme://authority + target.
  std::string to_string() const;
  friend bool operator==(const Url&, const Url&) = default;
};

// Parses an absolute http(s) URL. Errors (Errc::malformed / unsupported) for
// another scheme, userinfo ("user@"), an empty host, a bad port, spaces or
// control characters. The fragment is dropped; the target keeps the query.
content::Result<Url> parse_url(std::string_view text);

// The URL that `location` (a Location header value) names relative to `base`.
content::Result<Url> resolve_reference(const Url& base, std::string_view location);

}  // namespace srcgate::server
