#include "server/router.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace srcgate::server {
namespace {

using content::HashAlgo;

// Echoes client text in a reason without letting a 16 KiB target through.
std::string quoted(std::string_view text) {
  constexpr std::size_t kMax = 120;
  if (text.size() > kMax) return "'" + std::string(text.substr(0, kMax)) + "...'";
  return "'" + std::string(text) + "'";
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct FormatInfo {
  ResponseFormat format;
  std::string_view name;
  std::string_view media_type;
};
constexpr std::array<FormatInfo, 8> kFormats = {{
    {ResponseFormat::raw, "raw", "application/vnd.ipld.raw"},
    {ResponseFormat::car, "car", "application/vnd.ipld.car"},
    {ResponseFormat::tar, "tar", "application/x-tar"},
    {ResponseFormat::dag_json, "dag-json", "application/vnd.ipld.dag-json"},
    {ResponseFormat::dag_cbor, "dag-cbor", "application/vnd.ipld.dag-cbor"},
    {ResponseFormat::json, "json", "application/json"},
    {ResponseFormat::cbor, "cbor", "application/cbor"},
    {ResponseFormat::ipns_record, "ipns-record", "application/vnd.ipfs.ipns-record"},
}};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// A whole-string decimal integer with optional '-'.
std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  if (s.empty() || s.front() == '+') return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

Route route_hash(std::string_view algo_segment, std::string_view encoded) {
  const std::optional<HashAlgo> algo = content::algo_from_name(algo_segment);
  if (encoded.empty()) {
    return BadRequest{"missing hash after /" + std::string(algo_segment) + "/"};
  }
  // Hashes rarely hold a '%': parse those in place, without a decoded copy.
  std::optional<std::string> decoded;
  if (encoded.find('%') != std::string_view::npos) {
    decoded = percent_decode(encoded);
    if (!decoded) return BadRequest{"hash " + quoted(encoded) + " has a malformed percent-escape"};
  }
  auto parsed = content::parse_nix_hash(decoded ? std::string_view(*decoded) : encoded, algo);
  if (!parsed) return BadRequest{parsed.error().message};
  return HashRequest{parsed->digest, parsed->encoding};
}

Route route_self_describing_hash(std::string_view encoded) {
  const std::optional<std::string> text = percent_decode(encoded);
  if (!text) return BadRequest{"hash " + quoted(encoded) + " has a malformed percent-escape"};
  auto parsed = content::parse_nix_hash(*text, std::nullopt);
  if (!parsed) return BadRequest{parsed.error().message};
  return HashRequest{parsed->digest, parsed->encoding};
}

// Parses one key=value of an /ipfs/ query into `q`. Returns an error reason, or
// "" when the pair is fine or ignored.
std::string apply_query_param(std::string_view key, std::string_view value, IpfsQuery& q) {
  if (key == "format") {
    if (q.format) return {};
    q.format = format_from_name(value);
    if (!q.format) {
      return "unsupported format " + quoted(value) +
             "; expected raw, car, tar, dag-json, dag-cbor, json, cbor or ipns-record";
    }
  } else if (key == "filename") {
    if (!q.filename) q.filename = std::string(value);
  } else if (key == "download") {
    q.download = q.download || value == "true";
  } else if (key == "dag-scope") {
    if (q.dag_scope) return {};
    if (value == "block") {
      q.dag_scope = DagScope::block;
    } else if (value == "entity") {
      q.dag_scope = DagScope::entity;
    } else if (value == "all") {
      q.dag_scope = DagScope::all;
    } else {
      return "unsupported dag-scope " + quoted(value) + "; expected block, entity or all";
    }
  } else if (key == "entity-bytes") {
    if (q.entity_bytes) return {};
    const std::size_t colon = value.find(':');
    const std::string bad = "entity-bytes " + quoted(value) +
                            " is not FROM:TO (integers, negative from the end; TO may be '*')";
    if (colon == std::string_view::npos) return bad;
    const auto from = parse_int(value.substr(0, colon));
    const std::string_view to_text = value.substr(colon + 1);
    std::optional<std::int64_t> to;
    if (to_text != "*") {
      to = parse_int(to_text);
      if (!to) return bad;
    }
    if (!from) return bad;
    if (to && ((*from >= 0) == (*to >= 0)) && *from > *to) {
      return "entity-bytes " + quoted(value) + " has FROM after TO";
    }
    q.entity_bytes = EntityBytes{*from, to};
  } else if (key == "car-version") {
    if (q.car_version) return {};
    if (value != "1") return "unsupported car-version " + quoted(value) + "; only 1 is supported";
    q.car_version = 1;
  } else if (key == "car-order") {
    if (q.car_order) return {};
    if (value == "dfs") {
      q.car_order = CarOrder::dfs;
    } else if (value == "unk") {
      q.car_order = CarOrder::unk;
    } else {
      return "unsupported car-order " + quoted(value) + "; expected dfs or unk";
    }
  } else if (key == "car-dups") {
    if (q.car_dups) return {};
    if (value == "y") {
      q.car_dups = true;
    } else if (value == "n") {
      q.car_dups = false;
    } else {
      return "unsupported car-dups " + quoted(value) + "; expected y or n";
    }
  }
  return {};
}

Route route_ipfs(std::string_view rest, std::string_view query) {
  // rest is what follows "ipfs/"; it may be empty.
  const std::size_t slash = rest.find('/');
  const std::string_view cid_text = rest.substr(0, slash);
  if (cid_text.empty()) return BadRequest{"missing CID after /ipfs/"};
  const std::optional<std::string> cid_decoded = percent_decode(cid_text);
  if (!cid_decoded)
    return BadRequest{"CID " + quoted(cid_text) + " has a malformed percent-escape"};
  auto cid = content::Cid::parse(*cid_decoded);
  if (!cid) return BadRequest{"invalid CID " + quoted(cid_text) + ": " + cid.error().message};

  IpfsRequest req{*cid, {}, false, {}};
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash + 1);
    req.trailing_slash = path.empty() || path.back() == '/';
    while (!path.empty()) {
      const std::size_t end = path.find('/');
      const std::string_view raw = path.substr(0, end);
      path = end == std::string_view::npos ? std::string_view{} : path.substr(end + 1);
      if (raw.empty()) continue;  // "a//b" is "a/b"
      if (raw == "." || raw == "..") {
        return BadRequest{"path segment '" + std::string(raw) + "' is not allowed"};
      }
      std::optional<std::string> segment = percent_decode(raw);
      if (!segment) {
        return BadRequest{"path segment " + quoted(raw) + " has a malformed percent-escape"};
      }
      if (*segment == "." || *segment == "..") {
        return BadRequest{"path segment " + quoted(raw) + " decodes to '" + *segment +
                          "', which is not allowed"};
      }
      if (segment->find('/') != std::string::npos) {
        return BadRequest{"path segment " + quoted(raw) + " contains an encoded '/'"};
      }
      if (segment->find('\0') != std::string::npos) {
        return BadRequest{"path segment " + quoted(raw) + " contains an encoded NUL"};
      }
      req.path.push_back(std::move(*segment));
    }
  }

  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    const std::string_view raw_key = pair.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    const auto key = percent_decode(raw_key, true);
    const auto value = percent_decode(raw_value, true);
    if (!key || !value) {
      return BadRequest{"query parameter " + quoted(pair) + " has a malformed percent-escape"};
    }
    std::string error = apply_query_param(*key, *value, req.query);
    if (!error.empty()) return BadRequest{std::move(error)};
  }
  return req;
}

}  // namespace

std::string_view format_name(ResponseFormat f) {
  for (const auto& info : kFormats) {
    if (info.format == f) return info.name;
  }
  return {};
}

std::string_view format_media_type(ResponseFormat f) {
  for (const auto& info : kFormats) {
    if (info.format == f) return info.media_type;
  }
  return {};
}

std::optional<ResponseFormat> format_from_name(std::string_view name) {
  for (const auto& info : kFormats) {
    if (info.name == name) return info.format;
  }
  return std::nullopt;
}

std::optional<ResponseFormat> format_from_media_type(std::string_view type) {
  for (const auto& info : kFormats) {
    if (iequals(info.media_type, type)) return info.format;
  }
  return std::nullopt;
}

std::string_view route_name(const Route& r) {
  struct Visitor {
    std::string_view operator()(const HashRequest&) const { return "hash"; }
    std::string_view operator()(const IpfsRequest&) const { return "ipfs"; }
    std::string_view operator()(const MetricsRequest&) const { return "metrics"; }
    std::string_view operator()(const HealthRequest&) const { return "healthz"; }
    std::string_view operator()(const ReadyRequest&) const { return "readyz"; }
    std::string_view operator()(const ApiRequest&) const { return "api"; }
    std::string_view operator()(const NotFound&) const { return "not_found"; }
    std::string_view operator()(const BadRequest&) const { return "bad_request"; }
  };
  return std::visit(Visitor{}, r);
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

Route route(std::string_view target, std::string_view base_path) {
  std::string_view path = target;
  std::string_view query;
  if (const std::size_t hash = path.find('#'); hash != std::string_view::npos) {
    path = path.substr(0, hash);
  }
  if (const std::size_t q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  if (!base_path.empty() && path.starts_with(base_path) &&
      (path.size() == base_path.size() || path[base_path.size()] == '/')) {
    path.remove_prefix(base_path.size());
  }
  if (path.empty() || path.front() != '/') {
    if (path.empty() && !base_path.empty()) return NotFound{};
    return BadRequest{"request target " + quoted(target) + " does not start with '/'"};
  }
  const std::size_t first = path.find_first_not_of('/');
  if (first == std::string_view::npos) return NotFound{};
  const std::string_view rest = path.substr(first);
  const std::size_t slash = rest.find('/');
  const std::string_view segment = rest.substr(0, slash);
  const std::string_view after =
      slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);

  if (segment == "ipfs") return route_ipfs(after, query);
  if (slash == std::string_view::npos) {
    if (segment == "metrics") return MetricsRequest{};
    if (segment == "healthz") return HealthRequest{};
    if (segment == "readyz") return ReadyRequest{};
  }
  if (segment == "api" && (after == "v1" || after.starts_with("v1/"))) {
    return ApiRequest{std::string(after.substr(std::min<std::size_t>(after.size(), 3))),
                      std::string(query)};
  }
  if (content::algo_from_name(segment)) return route_hash(segment, after);
  if (segment == "blake3") {
    return BadRequest{
        "hash algorithm 'blake3' is not supported; expected md5, sha1, sha256 or "
        "sha512"};
  }
  // "sha256-<b64>" (SRI, nixpkgs' empty-algo form) or "sha256:<hash>". The
  // base64 may hold '/', so the hash is the whole rest of the path.
  const std::size_t sep = segment.find_first_of("-:");
  if (sep != std::string_view::npos) {
    const std::string_view algo = segment.substr(0, sep);
    if (content::algo_from_name(algo) || algo == "blake3") {
      return route_self_describing_hash(rest);
    }
  }
  return NotFound{};
}

}  // namespace srcgate::server
