// The router: turns a request target ("/sha256/<hash>", "/ipfs/<cid>/a/b?format=car",
// "/metrics", ...) into a typed Route. Pure: no I/O, no store, no HTTP method
// (the handler decides what each method means); the same target always gives
// the same Route. Thread-safety: free functions over values.
//
// Target grammar (nix.md §1.2-1.3, ipfs-gateway.md §1.2):
//   [base_path] "/"+ algo "/" hash          hash runs to the end of the path (base64 may hold
//                                           '/'); hex, nix32, base64, "algo:<any>", "algo-<b64>"
//   [base_path] "/"+ algo "-" b64           SRI with an empty algo segment: nixpkgs' "//sha256-…"
//   [base_path] "/"+ algo ":" hash          the same, Nix-prefixed
//   [base_path] "/ipfs/" cid ["/" path] ["?" query]
//   [base_path] "/metrics" | "/healthz" | "/readyz" | "/api/v1" ["/" rest]
// Any number of leading slashes is accepted (a mirror URL that ends in '/' gives
// "//sha256/…"). A target that starts with base_path is routed with base_path
// removed; a target without it is routed as is, so a front proxy may strip the
// prefix or not. Percent-escapes are decoded in hashes, CIDs, path segments and
// query values; '+' means space in query values only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "content/cid.hpp"
#include "content/digest.hpp"
#include "content/nix_hash.hpp"

namespace srcgate::server {

// `/{md5,sha1,sha256,sha512}/<hash>` and the SRI forms.
struct HashRequest {
  content::Digest digest;  // digest.algo is the algorithm
  content::HashEncoding encoding;
  friend bool operator==(const HashRequest&, const HashRequest&) = default;
};

// Response formats of the path/trustless gateway (`?format=` and Accept).
enum class ResponseFormat {
  raw,          // application/vnd.ipld.raw
  car,          // application/vnd.ipld.car
  tar,          // application/x-tar
  dag_json,     // application/vnd.ipld.dag-json
  dag_cbor,     // application/vnd.ipld.dag-cbor
  json,         // application/json
  cbor,         // application/cbor
  ipns_record,  // application/vnd.ipfs.ipns-record
};
// The `format` query value ("raw", "dag-json", ...) and the media type.
std::string_view format_name(ResponseFormat f);
std::string_view format_media_type(ResponseFormat f);
std::optional<ResponseFormat> format_from_name(std::string_view name);
std::optional<ResponseFormat> format_from_media_type(std::string_view type);  // case-insensitive

enum class DagScope { block, entity, all };
enum class CarOrder { dfs, unk };

// `entity-bytes=from:to`: inclusive offsets; negative counts from the end;
// `to` absent means '*' (end of the entity).
struct EntityBytes {
  std::int64_t from = 0;
  std::optional<std::int64_t> to;
  friend bool operator==(const EntityBytes&, const EntityBytes&) = default;
};

// Query parameters of an /ipfs/ request; absent ones are nullopt/false.
struct IpfsQuery {
  std::optional<ResponseFormat> format;
  std::optional<std::string> filename;  // percent-decoded, UTF-8 kept
  bool download = false;                // download=true
  std::optional<DagScope> dag_scope;
  std::optional<EntityBytes> entity_bytes;
  std::optional<int> car_version;  // only 1 is accepted
  std::optional<CarOrder> car_order;
  std::optional<bool> car_dups;  // car-dups=y|n
  friend bool operator==(const IpfsQuery&, const IpfsQuery&) = default;
};

// `/ipfs/<cid>[/<path>]`.
struct IpfsRequest {
  content::Cid cid;
  std::vector<std::string> path;  // percent-decoded segments, never "", "." or ".." nor with '/'
  bool trailing_slash = false;    // the path (or the CID) was followed by '/'
  IpfsQuery query;
  friend bool operator==(const IpfsRequest&, const IpfsRequest&) = default;
};

struct MetricsRequest {
  friend bool operator==(const MetricsRequest&, const MetricsRequest&) = default;
};
struct HealthRequest {  // /healthz: the process is alive
  friend bool operator==(const HealthRequest&, const HealthRequest&) = default;
};
struct ReadyRequest {  // /readyz: the process wants traffic
  friend bool operator==(const ReadyRequest&, const ReadyRequest&) = default;
};
// `/api/v1[/rest]`: the admin API. `path` is the rest without its leading '/'
// (not decoded); `query` is the raw query string without '?'.
struct ApiRequest {
  std::string path;
  std::string query;
  friend bool operator==(const ApiRequest&, const ApiRequest&) = default;
};
// A target that names nothing we serve: 404.
struct NotFound {
  friend bool operator==(const NotFound&, const NotFound&) = default;
};
// A target for a route we serve, but malformed: 400 with `reason` as the body.
// `reason` is one line that says what is wrong ("sha256 hash 'abc' has 3
// characters; sha256 needs 64 (hex), 52 (nix32) or 44 (base64)").
struct BadRequest {
  std::string reason;
  friend bool operator==(const BadRequest&, const BadRequest&) = default;
};

using Route = std::variant<HashRequest, IpfsRequest, MetricsRequest, HealthRequest, ReadyRequest,
                           ApiRequest, NotFound, BadRequest>;

// A short, stable name for metrics labels and logs: "hash", "ipfs", "metrics",
// "healthz", "readyz", "api", "not_found", "bad_request".
std::string_view route_name(const Route& route);

// Routes `target` (origin-form: path and optional query). `base_path` is ""
// or a normalised prefix such as "/cache" (leading '/', no trailing '/').
Route route(std::string_view target, std::string_view base_path = {});

// Percent-decodes `text` ("%2F" -> '/'); '+' becomes ' ' when `plus_is_space`.
// nullopt when a '%' is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space = false);

}  // namespace srcgate::server
