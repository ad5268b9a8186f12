#include "server/url.hpp"

#include <boost/asio/ip/address_v6.hpp>
#include <optional>

namespace srcgate::server {

namespace {

using content::Errc;
using content::make_error;
using content::Result;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A reference split into its RFC 3986 components (§3); the fragment is
// dropped. `has_*` tell an absent component from an empty one.
struct Reference {
  bool has_scheme = false;
  std::string_view scheme;
  bool has_authority = false;
  std::string_view authority;
  std::string_view path;
  bool has_query = false;
  std::string_view query;  // without the '?'
};

// Splits per RFC 3986 appendix B: ^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?
// with the scheme also required to match ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
Reference split(std::string_view s) {
  Reference r;
  if (const auto hash = s.find('#'); hash != std::string_view::npos) s = s.substr(0, hash);
  const auto colon = s.find_first_of(":/?");
  if (colon != std::string_view::npos && s[colon] == ':' && colon > 0 && is_alpha(s[0])) {
    bool ok = true;
    for (std::size_t i = 1; i < colon; ++i) {
      const char c = s[i];
      ok = ok && (is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.');
    }
    if (ok) {
      r.has_scheme = true;
      r.scheme = s.substr(0, colon);
      s.remove_prefix(colon + 1);
    }
  }
  if (s.starts_with("//")) {
    s.remove_prefix(2);
    const auto end = s.find_first_of("/?");
    r.has_authority = true;
    r.authority = s.substr(0, end);
    s = end == std::string_view::npos ? std::string_view{} : s.substr(end);
  }
  const auto q = s.find('?');
  r.path = s.substr(0, q);
  if (q != std::string_view::npos) {
    r.has_query = true;
    r.query = s.substr(q + 1);
  }
  return r;
}

// RFC 3986 §5.2.4.
std::string remove_dot_segments(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../") || in == "/..") {
      in = in.size() == 3 ? std::string_view("/") : in.substr(3);
      const auto slash = out.rfind('/');
      out.resize(slash == std::string::npos ? 0 : slash);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      const auto next = in.find('/', 1);
      const auto segment = in.substr(0, next);
      out.append(segment);
      in.remove_prefix(segment.size());
    }
  }
  return out;
}

// Bytes that may not appear anywhere in a URL we accept.
std::optional<std::size_t> find_bad_char(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c <= 0x20 || c == 0x7f) return i;
  }
  return std::nullopt;
}

content::Error malformed(std::string_view text, std::string why) {
  return make_error(Errc::malformed, "URL \"" + std::string(text) + "\": " + why);
}

// Fills scheme, host and port of `url` from a scheme and an authority.
Result<void> set_origin(Url& url, std::string_view text, std::string_view scheme,
                        std::string_view authority) {
  url.scheme = lowered(scheme);
  if (url.scheme != "http" && url.scheme != "https") {
    return make_error(Errc::unsupported, "URL \"" + std::string(text) + "\": scheme \"" +
                                             std::string(scheme) +
                                             "\" is not supported (only http and https)");
  }
  if (authority.find('@') != std::string_view::npos) {
    return make_error(Errc::unsupported, "URL \"" + std::string(text) +
                                             "\": user information (\"user@\") is not supported");
  }
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return malformed(text, "IPv6 literal without ']'");
    host = authority.substr(1, close - 1);
    const auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return malformed(text, "unexpected characters after the IPv6 literal");
      has_port = true;
      port = rest.substr(1);
    }
    boost::system::error_code ec;
    boost::asio::ip::make_address_v6(std::string(host), ec);
    if (ec || host.find('%') != std::string_view::npos) {
      return malformed(text, "\"" + std::string(host) + "\" is not an IPv6 address");
    }
  } else {
    const auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(colon + 1);
    }
    for (const char c : host) {
      if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~')) {
        return malformed(text, "host \"" + std::string(host) + "\" has a character '" +
                                   std::string(1, c) + "' that a host name cannot have");
      }
    }
  }
  if (host.empty()) return malformed(text, "the host is empty");
  url.host = lowered(host);
  url.port = url.scheme == "https" ? 443 : 80;
  if (has_port && !port.empty()) {  // RFC 3986 §3.2.3: an empty port is the default
    unsigned value = 0;
    for (const char c : port) {
      if (!is_digit(c) || value > 65535) {
        return malformed(text,
                         "port \"" + std::string(port) + "\" is not a number from 1 to 65535");
      }
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) {
      return malformed(text, "port \"" + std::string(port) + "\" is not a number from 1 to 65535");
    }
    url.port = static_cast<std::uint16_t>(value);
  }
  return {};
}

std::string make_target(std::string path, bool has_query, std::string_view query) {
  if (path.empty()) path = "/";
  if (has_query) {
    path += '?';
    path += query;
  }
  return path;
}

}  // namespace

std::string Url::authority() const {
  const bool default_port = port == (https() ? 443 : 80);
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!default_port) out += ":" + std::to_string(port);
  return out;
}

std::string Url::host_port() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string Url::to_string() const { return scheme + "://" + authority() + target; }

content::Result<Url> parse_url(std::string_view text) {
  if (const auto bad = find_bad_char(text)) {
    return malformed(text, "space or control character at offset " + std::to_string(*bad));
  }
  const Reference r = split(text);
  if (!r.has_scheme) return malformed(text, "not an absolute URL (no scheme)");
  if (!r.has_authority) {
    // "mailto:x" and "http:x" alike: not a URL we can fetch.
    const auto s = lowered(r.scheme);
    if (s != "http" && s != "https") {
      return make_error(Errc::unsupported, "URL \"" + std::string(text) + "\": scheme \"" +
                                               std::string(r.scheme) +
                                               "\" is not supported (only http and https)");
    }
    return malformed(text, "no \"//\" and host after the scheme");
  }
  Url url;
  if (auto ok = set_origin(url, text, r.scheme, r.authority); !ok) return ok.error();
  url.target = make_target(remove_dot_segments(r.path), r.has_query, r.query);
  return url;
}

content::Result<Url> resolve_reference(const Url& base, std::string_view location) {
  if (const auto bad = find_bad_char(location)) {
    return make_error(Errc::malformed, "Location \"" + std::string(location) +
                                           "\": space or control character at offset " +
                                           std::to_string(*bad));
  }
  const Reference r = split(location);
  if (r.has_scheme) return parse_url(location);  // RFC 3986 §5.2.2, strict
  Url out;
  if (r.has_authority) {
    if (auto ok = set_origin(out, location, base.scheme, r.authority); !ok) return ok.error();
    out.target = make_target(remove_dot_segments(r.path), r.has_query, r.query);
    return out;
  }
  out = base;
  const std::string_view base_target = base.target;
  const auto q = base_target.find('?');
  const std::string_view base_path = base_target.substr(0, q);
  if (r.path.empty()) {
    if (r.has_query) {
      out.target = make_target(std::string(base_path), true, r.query);
    }  // else: the base's path and query
    return out;
  }
  std::string path;
  if (r.path.starts_with('/')) {
    path = remove_dot_segments(r.path);
  } else {
    // §5.2.3 merge: the base always has an authority and a path of at least "/".
    const auto slash = base_path.rfind('/');
    std::string merged(base_path.substr(0, slash == std::string_view::npos ? 0 : slash + 1));
    merged += r.path;
    path = remove_dot_segments(merged);
  }
  out.target = make_target(std::move(path), r.has_query, r.query);
  return out;
}

}  // namespace srcgate::server
