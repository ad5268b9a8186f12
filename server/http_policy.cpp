#include "server/http_policy.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <vector>

namespace srcgate::server {
namespace {

constexpr std::string_view kOws = " \t";

std::string_view trim(std::string_view s) {
  const std::size_t b = s.find_first_not_of(kOws);
  if (b == std::string_view::npos) return {};
  const std::size_t e = s.find_last_not_of(kOws);
  return s.substr(b, e - b + 1);
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

// Splits `s` on `sep` and calls f(piece) for each piece (pieces may be empty).
template <class F>
void split(std::string_view s, char sep, F&& f) {
  while (true) {
    const std::size_t at = s.find(sep);
    f(s.substr(0, at));
    if (at == std::string_view::npos) return;
    s.remove_prefix(at + 1);
  }
}

// Digits only; values beyond 2^64-1 saturate (they are past any size anyway).
std::optional<std::uint64_t> parse_digits(std::string_view s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return std::numeric_limits<std::uint64_t>::max();
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The opaque part of an entity tag: W/"x" and "x" both give x.
std::string_view opaque_tag(std::string_view etag) {
  etag = trim(etag);
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    return etag.substr(1, etag.size() - 2);
  }
  return etag;
}

struct MediaRange {
  std::string_view type;
  std::vector<std::pair<std::string_view, std::string_view>> params;  // without q
  double q = 1.0;
  std::string_view param(std::string_view name) const {
    for (const auto& [n, v] : params) {
      if (iequals(n, name)) return v;
    }
    return {};
  }
};

std::vector<MediaRange> parse_accept(std::string_view accept) {
  std::vector<MediaRange> ranges;
  split(accept, ',', [&](std::string_view entry) {
    entry = trim(entry);
    if (entry.empty()) return;
    MediaRange r;
    bool first = true;
    bool valid = true;
    split(entry, ';', [&](std::string_view part) {
      part = trim(part);
      if (first) {
        r.type = part;
        first = false;
        return;
      }
      if (part.empty()) return;
      const std::size_t eq = part.find('=');
      const std::string_view name = trim(part.substr(0, eq));
      std::string_view value =
          eq == std::string_view::npos ? std::string_view{} : trim(part.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      if (iequals(name, "q")) {
        double q = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), q);
        if (ec != std::errc() || end != value.data() + value.size() || q < 0 || q > 1) {
          valid = false;
        }
        r.q = q;
      } else {
        r.params.emplace_back(name, value);
      }
    });
    if (valid && r.q > 0 && !r.type.empty()) ranges.push_back(std::move(r));
  });
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const MediaRange& a, const MediaRange& b) { return a.q > b.q; });
  return ranges;
}

bool attr_char(unsigned char c) {
  // RFC 8187 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "."
  // / "^" / "_" / "`" / "|" / "~"
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace

RangeDecision evaluate_range(std::string_view header, std::uint64_t size) {
  header = trim(header);
  const std::size_t eq = header.find('=');
  if (eq == std::string_view::npos || !iequals(trim(header.substr(0, eq)), "bytes")) return {};
  std::optional<ByteRange> chosen;
  bool any = false;
  bool invalid = false;
  split(header.substr(eq + 1), ',', [&](std::string_view spec) {
    spec = trim(spec);
    if (spec.empty() || invalid) return;
    any = true;
    const std::size_t dash = spec.find('-');
    if (dash == std::string_view::npos) {
      invalid = true;
      return;
    }
    if (dash == 0) {  // suffix: the last n bytes
      const auto n = parse_digits(spec.substr(1));
      if (!n) {
        invalid = true;
        return;
      }
      if (*n == 0 || size == 0 || chosen) return;
      chosen = ByteRange{*n >= size ? 0 : size - *n, size - 1};
      return;
    }
    const auto first = parse_digits(spec.substr(0, dash));
    const std::string_view last_text = spec.substr(dash + 1);
    std::optional<std::uint64_t> last;
    if (!last_text.empty()) {
      last = parse_digits(last_text);
      if (!last) {
        invalid = true;
        return;
      }
    }
    if (!first || (last && *last < *first)) {
      invalid = true;
      return;
    }
    if (*first >= size || chosen) return;
    chosen = ByteRange{*first, last ? std::min(*last, size - 1) : size - 1};
  });
  if (invalid || !any) return {};
  if (!chosen) return {RangeDecision::unsatisfiable, {}};
  return {RangeDecision::partial, *chosen};
}

std::string content_range(ByteRange range, std::uint64_t size) {
  return "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
         std::to_string(size);
}

std::string unsatisfied_content_range(std::uint64_t size) {
  return "bytes */" + std::to_string(size);
}

bool if_range_allows(std::string_view if_range, std::string_view etag) {
  if_range = trim(if_range);
  if (if_range.empty()) return true;
  if (!if_range.starts_with('"') || etag.starts_with("W/")) return false;  // date or weak
  return if_range == trim(etag);
}

std::string make_etag(std::string_view opaque, bool weak) {
  std::string out;
  out.reserve(opaque.size() + 4);
  if (weak) out += "W/";
  out += '"';
  out += opaque;
  out += '"';
  return out;
}

bool if_none_match(std::string_view header, std::string_view etag) {
  const std::string_view want = opaque_tag(etag);
  std::string_view s = trim(header);
  if (s == "*") return true;
  while (true) {
    const std::size_t start = s.find_first_not_of(" \t,");
    if (start == std::string_view::npos) return false;
    s.remove_prefix(start);
    if (s.front() == '*') return true;
    if (s.starts_with("W/")) s.remove_prefix(2);
    if (s.empty() || s.front() != '"') return false;
    const std::size_t close = s.find('"', 1);
    if (close == std::string_view::npos) return false;
    if (s.substr(1, close - 1) == want) return true;
    s.remove_prefix(close + 1);
    const std::size_t next = s.find_first_not_of(kOws);
    if (next == std::string_view::npos) return false;
    if (s[next] != ',') return false;
    s.remove_prefix(next);
  }
}

Negotiation negotiate_format(const IpfsQuery& query, std::string_view accept) {
  Negotiation n;
  const std::vector<MediaRange> ranges = parse_accept(accept);
  const MediaRange* car_range = nullptr;
  for (const MediaRange& r : ranges) {
    const auto f = format_from_media_type(r.type);
    if (!f) continue;
    if (!n.format && !query.format) {
      n.format = f;
      n.from_accept = true;
    }
    if (*f == ResponseFormat::car && !car_range) car_range = &r;
  }
  if (query.format) n.format = query.format;
  if (n.format != ResponseFormat::car) return n;

  if (car_range != nullptr) {
    const std::string_view version = car_range->param("version");
    if (!version.empty() && version != "1" && !query.car_version) {
      n.error = "unsupported CAR version '" + std::string(version) +
                "' in Accept; only version=1 is supported";
      return n;
    }
    const std::string_view order = car_range->param("order");
    if (iequals(order, "unk")) {
      n.car_order = CarOrder::unk;
    } else if (!order.empty() && !iequals(order, "dfs")) {
      n.error = "unsupported CAR order '" + std::string(order) + "' in Accept; expected dfs or unk";
      return n;
    }
    const std::string_view dups = car_range->param("dups");
    if (iequals(dups, "y")) {
      n.car_dups = true;
    } else if (!dups.empty() && !iequals(dups, "n")) {
      n.error = "unsupported CAR dups '" + std::string(dups) + "' in Accept; expected y or n";
      return n;
    }
  }
  if (query.car_order) n.car_order = *query.car_order;
  if (query.car_dups) n.car_dups = *query.car_dups;
  return n;
}

std::string car_content_type(CarOrder order, bool dups) {
  std::string out = "application/vnd.ipld.car; version=1; order=";
  out += order == CarOrder::dfs ? "dfs" : "unk";
  out += dups ? "; dups=y" : "; dups=n";
  return out;
}

std::string content_disposition(bool attachment, std::string_view filename) {
  std::string out = attachment ? "attachment" : "inline";
  if (filename.empty()) return out;
  const bool printable_ascii = std::all_of(filename.begin(), filename.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
  out += "; filename=\"";
  for (const char c : filename) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      if ((u & 0xC0) != 0x80) out += '_';  // one '_' per UTF-8 sequence, at its lead byte
    } else if (u < 0x20 || u == 0x7f) {
      out += '_';
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
  }
  out += '"';
  if (printable_ascii) return out;
  out += "; filename*=UTF-8''";
  constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : filename) {
    const auto u = static_cast<unsigned char>(c);
    if (attr_char(u)) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

bool has_only_if_cached(std::string_view cache_control) {
  bool found = false;
  split(cache_control, ',', [&](std::string_view directive) {
    const std::string_view name = trim(directive.substr(0, directive.find('=')));
    found = found || iequals(name, "only-if-cached");
  });
  return found;
}

bool bearer_token_matches(std::string_view authorization, std::string_view token) {
  if (token.empty()) return false;
  authorization = trim(authorization);
  const std::size_t space = authorization.find(' ');
  if (space == std::string_view::npos || !iequals(authorization.substr(0, space), "bearer")) {
    return false;
  }
  const std::string_view given = trim(authorization.substr(space + 1));
  // Constant time in the contents; the length of the configured token is not secret enough
  // to protect at the cost of complexity.
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(token[i] ^ (i < given.size() ? given[i] : 0));
  }
  return diff == 0;
}

}  // namespace srcgate::server
