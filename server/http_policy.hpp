// HTTP header rules of the gateway as pure functions, one header at a time:
// Range (RFC 9110 §14), If-None-Match / If-Range (§13.1), format negotiation
// between `?format=` and Accept (ipfs-gateway.md §1.2), Content-Disposition
// with an RFC 8187 filename*, the request Cache-Control `only-if-cached`, and
// the Cache-Control values the gateway sends. No I/O, no Beast; headers come in
// as the string_view of their field value ("" when absent).
// Thread-safety: free functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/router.hpp"

namespace srcgate::server {

// Every immutable /ipfs/ and /<algo>/ response (ipfs-gateway.md §1.4).
inline constexpr std::string_view kImmutableCacheControl = "public, max-age=29030400, immutable";
// Generated directory listings: the value the conformance suite accepts.
inline constexpr std::string_view kDirectoryListingCacheControl =
    "public, max-age=604800, stale-while-revalidate=2678400";

// ---- Range ----------------------------------------------------------------

// Inclusive byte offsets of a satisfiable range: first <= last < size.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const { return last - first + 1; }
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

struct RangeDecision {
  enum Kind {
    full,           // no usable Range header: 200 with the whole representation
    partial,        // 206 with `range` and Content-Range: content_range(range, size)
    unsatisfiable,  // 416 with Content-Range: unsatisfied_content_range(size)
  };
  Kind kind = full;
  ByteRange range;  // meaningful for `partial`
  friend bool operator==(const RangeDecision&, const RangeDecision&) = default;
};

// Evaluates a `Range` header value against a representation of `size` bytes.
// - Not "bytes=" (unit compared case-insensitively), or a syntax error in any
//   range spec: `full` (RFC 9110 allows ignoring an invalid Range).
// - Several ranges: the first satisfiable one is served alone (ipfs-gateway.md
//   §1.6 accepts "first range only"; no multipart/byteranges).
// - "a-b" with b past the end is clamped; "a-" runs to the end; "-n" is the
//   last n bytes (all of them when n >= size).
// - No satisfiable range (a >= size, "-0", or size == 0): `unsatisfiable`.
RangeDecision evaluate_range(std::string_view header, std::uint64_t size);

// "bytes 6-16/31".
std::string content_range(ByteRange range, std::uint64_t size);
// "bytes */31", sent with 416.
std::string unsatisfied_content_range(std::uint64_t size);

// If-Range (RFC 9110 §13.1.5): true when the Range header may be honoured,
// i.e. `if_range` is empty or is a strong entity tag equal to `etag` (a strong
// tag). A date, a weak tag or another tag means "send the whole thing".
bool if_range_allows(std::string_view if_range, std::string_view etag);

// ---- Entity tags ----------------------------------------------------------

// `"<opaque>"`, or `W/"<opaque>"` when weak. REQUIRES: opaque has no '"'.
std::string make_etag(std::string_view opaque, bool weak = false);

// If-None-Match (RFC 9110 §13.1.2): true when `header` matches `etag` by the
// weak comparison (W/ ignored on both sides), so the answer is 304. Handles
// "*", comma-separated lists, and ',' inside quoted tags. A list that stops
// parsing (an unquoted tag) matches only through the tags before the error.
// Empty header: false.
bool if_none_match(std::string_view header, std::string_view etag);

// ---- Format negotiation ---------------------------------------------------

struct Negotiation {
  // nullopt: the implicit (deserialized) response that the codec selects.
  std::optional<ResponseFormat> format;
  // The format came from Accept alone, not ?format=: send Content-Location so
  // that caches key the variants apart.
  bool from_accept = false;
  // CAR parameters: ?car-* wins over Accept's params; defaults dfs and n.
  CarOrder car_order = CarOrder::dfs;
  bool car_dups = false;
  // Non-empty: the request asks for something unsupported (e.g. Accept
  // application/vnd.ipld.car; version=2); answer 400 with this reason.
  std::string error;
  friend bool operator==(const Negotiation&, const Negotiation&) = default;
};

// Chooses the response format of an /ipfs/ request: `query.format` wins over
// Accept (IPIP-0523); otherwise the Accept media ranges are taken in order of
// q (highest first, q=0 never, ties in header order) and the first gateway
// media type (format_from_media_type) wins; other types (text/html, */*) are
// skipped. Type and parameter names compare case-insensitively.
Negotiation negotiate_format(const IpfsQuery& query, std::string_view accept);

// "application/vnd.ipld.car; version=1; order=dfs; dups=n".
std::string car_content_type(CarOrder order, bool dups);

// ---- Content-Disposition --------------------------------------------------

// `attachment` / `inline`, plus `; filename="<name>"` when filename is not
// empty. A filename of printable ASCII is sent quoted ('"' and '\' escaped).
// Otherwise the quoted form is an ASCII fallback (every non-ASCII character and
// control character replaced by '_') followed by
// `; filename*=UTF-8''<percent-encoded UTF-8>` (RFC 8187 attr-chars kept).
// The result never contains CR, LF or other control characters.
std::string content_disposition(bool attachment, std::string_view filename);

// ---- Request Cache-Control ------------------------------------------------

// True when the request's Cache-Control has the `only-if-cached` directive
// (case-insensitive, anywhere in the list): answer 412 unless the data is local.
bool has_only_if_cached(std::string_view cache_control);

// ---- Admin authentication ------------------------------------------------

// True when `authorization` is "Bearer <token>" (scheme case-insensitive, one
// or more spaces) and <token> equals `token`. Compares in time independent of
// where the tokens differ. An empty `token` never matches (admin disabled).
bool bearer_token_matches(std::string_view authorization, std::string_view token);

}  // namespace srcgate::server
