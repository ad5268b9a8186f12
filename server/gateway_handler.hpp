// The gateway's Handler: answers every routed request from the block store.
// /<algo>/<hash> -> hash_handler.hpp (a miss goes to the MissFetcher when
// GatewayOptions::miss names mirrors), /ipfs/... -> ipfs_handler.hpp,
// /api/v1/... -> admin_api.hpp (bearer token; 403 when no token is set),
// a malformed target -> 400 with the router's reason, anything else -> 404.
// Only GET and HEAD reach the content routes (else 405 with Allow).
// /metrics, /healthz and /readyz are answered by the server itself.
//
// With GatewayOptions::ipfs_gateways, an /ipfs/ request first awaits
// IpfsFetcher::ensure() (ipfs_fetcher.hpp), which fetches the blocks the
// answer needs and the store lacks (a GET of a file starts once the first
// block it sends is stored and streams the rest as it arrives); and a hash miss whose source-index
// URLs include `ipfs://<cid>` first fetches that whole UnixFS file from the IPFS gateways (each
// such URL in order, until the requested digest resolves: a CID of another file does not answer
// it), then goes to the MissFetcher. `Cache-Control: only-if-cached` skips both.
//
// Ownership: holds a reference to the store, which must outlive the handler
// (and so the server). Owns the upstream HttpClient, the MissFetcher (when
// the miss path is on) and the IpfsFetcher (when IPFS gateways are given);
// the server's io_context must end before the handler
// (fetches run on it). Registers the store gauges, the hit cache's gauges and
// the miss-path metrics in `metrics` when given (the registry must not be
// scraped after the handler is gone).
// Thread-safety: immutable after construction; handle() is safe from any
// thread, as the store is.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "content/importer.hpp"
#include "server/admin_api.hpp"
#include "server/handler.hpp"
#include "server/hit_cache.hpp"
#include "server/http_client.hpp"
#include "server/ipfs_fetcher.hpp"
#include "server/ipfs_handler.hpp"
#include "server/metrics.hpp"
#include "server/mirror_table.hpp"
#include "server/miss_fetcher.hpp"
#include "storage/block_store.hpp"

namespace srcgate::server {

struct GatewayOptions {
  std::string base_path;    // as ServerOptions::base_path: "" or "/cache"
  std::string admin_token;  // "" disables the admin API (403)
  // Profile of files uploaded through PUT /api/v1/files.
  content::ImportProfile import_profile = content::ImportProfile::v1_2025;
  // The miss path of the hash routes; nullopt: offline, a miss is a 404 at
  // once. MissOptions::mirrors empty behaves the same.
  std::optional<MissOptions> miss;
  // The upstream client the miss path uses (owned by the handler).
  HttpClientOptions client;
  // Trustless IPFS gateways (base URLs such as "https://trustless-gateway.link"),
  // tried in order for /ipfs/ misses (issue 6 item 4). Empty: an /ipfs/ miss
  // is answered from the store alone, as before.
  std::vector<std::string> ipfs_gateways;
  // Expands the mirror:// URLs of PUT /api/v1/sources.
  MirrorTable mirror_table = MirrorTable::nixpkgs_defaults();
  // The cache of hashed-mirror hits (hit_cache.hpp); capacity_bytes 0 turns
  // it off.
  HitCacheOptions hit_cache;
};

class GatewayHandler final : public Handler {
 public:
  // `metrics` may be null (no store gauges). Throws std::runtime_error when
  // options.client.ca_file cannot be loaded (a start-up error).
  GatewayHandler(storage::BlockStore& store, GatewayOptions options,
                 MetricsRegistry* metrics = nullptr);
  Awaitable<Response> handle(const Request& request) override;

 private:
  // The ipfs:// sources of a digest the store lacks, fetched as whole files.
  Awaitable<void> fetch_from_ipfs_sources(const content::Digest& digest);

  storage::BlockStore& store_;
  GatewayOptions options_;
  HitCache hit_cache_;
  IpfsHandler ipfs_;
  AdminApi admin_;
  std::unique_ptr<HttpClient> client_;         // null when offline
  std::unique_ptr<MissFetcher> fetcher_;       // null when offline
  std::unique_ptr<IpfsFetcher> ipfs_fetcher_;  // null without ipfs_gateways
};

}  // namespace srcgate::server
