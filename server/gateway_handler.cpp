#include "server/gateway_handler.hpp"

#include <variant>

#include "server/hash_handler.hpp"
#include "server/http_policy.hpp"
#include "server/store_metrics.hpp"

namespace srcgate::server {

namespace {
// How often an /ipfs/ answer is tried again when the first blocks of its
// streamed fetch vanished before it was built.
constexpr int kStreamRetries = 3;
}  // namespace

GatewayHandler::GatewayHandler(storage::BlockStore& store, GatewayOptions options,
                               MetricsRegistry* metrics)
    : store_(store),
      options_(std::move(options)),
      hit_cache_(options_.hit_cache),
      ipfs_(store, options_.base_path),
      admin_(store,
             AdminOptions{options_.admin_token, options_.import_profile, options_.mirror_table}) {
  if (metrics) {
    register_store_metrics(*metrics, store_);
    metrics->gauge_callback(
        "srcgate_hit_cache_bytes",
        "Memory the hit cache holds (hashes, names and the bytes of small files), bounded by "
        "--hit-cache-size.",
        [this] { return static_cast<double>(hit_cache_.use().bytes); });
    metrics->gauge_callback("srcgate_hit_cache_entries", "Hashes the hit cache holds.",
                            [this] { return static_cast<double>(hit_cache_.use().entries); });
  }
  if (options_.miss || !options_.ipfs_gateways.empty()) {
    client_ = std::make_unique<HttpClient>(options_.client);
  }
  if (options_.miss) {
    fetcher_ = std::make_unique<MissFetcher>(store_, *client_, *options_.miss, metrics);
  }
  if (!options_.ipfs_gateways.empty()) {
    IpfsFetcherOptions o;
    o.gateways = options_.ipfs_gateways;
    ipfs_fetcher_ = std::make_unique<IpfsFetcher>(store_, *client_, std::move(o), metrics);
  }
}

Awaitable<void> GatewayHandler::fetch_from_ipfs_sources(const content::Digest& digest) {
  constexpr std::string_view kScheme = "ipfs://";
  auto stored = store_.lookup(digest);
  if (!stored || *stored) co_return;  // a hit, or a storage error that serve_hash reports
  auto urls = store_.sources(digest);
  if (!urls) co_return;
  for (const std::string& url : *urls) {
    if (!url.starts_with(kScheme)) continue;
    std::string_view text = std::string_view(url).substr(kScheme.size());
    while (text.ends_with('/')) text.remove_suffix(1);
    auto cid = content::Cid::parse(text);
    if (!cid) continue;
    // The whole file under its own CID: once complete, CarImport indexes its
    // digests, and the request's digest resolves if the CID named that file.
    const FetchSpec spec{*cid, {}, DagScope::entity, std::nullopt};
    const bool fetched = co_await ipfs_fetcher_->fetch(spec);
    if (!fetched) continue;
    auto now = store_.lookup(digest);
    if (now && *now) co_return;
  }
}

Awaitable<Response> GatewayHandler::handle(const Request& request) {
  const Route& route = *request.route;
  if (const auto* hash = std::get_if<HashRequest>(&route)) {
    if (auto refused = require_get_or_head(request)) co_return std::move(*refused);
    if (auto cached = serve_cached_hash(store_, hit_cache_, request, *hash)) {
      co_return std::move(*cached);
    }
    if (ipfs_fetcher_ && !has_only_if_cached(request.header("Cache-Control"))) {
      co_await fetch_from_ipfs_sources(hash->digest);
    }
    co_return co_await serve_hash(store_, &hit_cache_, fetcher_.get(), request, *hash);
  }
  if (const auto* ipfs = std::get_if<IpfsRequest>(&route)) {
    if (auto refused = require_get_or_head(request)) co_return std::move(*refused);
    if (!ipfs_fetcher_ || has_only_if_cached(request.header("Cache-Control"))) {
      co_return ipfs_.serve(request, *ipfs);
    }
    IpfsFetcher::Outcome fetched = co_await ipfs_fetcher_->ensure(request, *ipfs);
    Response r = ipfs_.serve(request, *ipfs, fetched.fill);
    // A streamed answer whose first blocks went away between ensure() and
    // serve() (a gateway's answer failed later and its import was aborted,
    // the fetch goes on with the next gateway): wait for them again.
    for (int again = 0; again < kStreamRetries && r.status >= 400 && fetched.fill &&
                        !fetched.fill->ended.load(std::memory_order_acquire);
         ++again) {
      fetched = co_await ipfs_fetcher_->ensure(request, *ipfs);
      r = ipfs_.serve(request, *ipfs, fetched.fill);
    }
    if (fetched.fetched && r.cache == CacheStatus::hit) r.cache = CacheStatus::miss;
    if (r.status == 404 && !fetched.failure.empty() && !r.stream) {
      // Say why the upstream gateways did not help.
      while (!r.body.empty() && r.body.back() == '\n') r.body.pop_back();
      r.body += "; IPFS gateways: " + fetched.failure + "\n";
    }
    co_return r;
  }
  if (const auto* api = std::get_if<ApiRequest>(&route)) {
    co_return co_await admin_.handle(request, *api);
  }
  if (const auto* bad = std::get_if<BadRequest>(&route)) {
    co_return Response::text(400, bad->reason);
  }
  co_return Response::text(404, "not found");
}

}  // namespace srcgate::server
