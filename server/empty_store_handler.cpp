#include "server/empty_store_handler.hpp"

#include "content/nix_hash.hpp"
#include "server/http_policy.hpp"

namespace srcgate::server {

std::optional<Response> require_get_or_head(const Request& request) {
  if (request.method == Method::get || request.method == Method::head) return std::nullopt;
  return std::move(Response::text(405, "method not allowed").header("Allow", "GET, HEAD"));
}

std::optional<Response> check_admin(const Request& request, const std::string& admin_token) {
  if (admin_token.empty()) {
    return Response::text(403, "admin API disabled: no admin token is configured");
  }
  if (!bearer_token_matches(request.header("Authorization"), admin_token)) {
    return std::move(Response::text(401, "admin API: missing or wrong bearer token")
                         .header("WWW-Authenticate", "Bearer realm=\"srcgate\""));
  }
  return std::nullopt;
}

Awaitable<Response> EmptyStoreHandler::handle(const Request& request) {
  const Route& route = *request.route;
  if (const auto* bad = std::get_if<BadRequest>(&route)) {
    co_return Response::text(400, bad->reason);
  }
  if (const auto* hash = std::get_if<HashRequest>(&route)) {
    if (auto refused = require_get_or_head(request)) co_return std::move(*refused);
    co_return Response::text(404, std::string(content::algo_name(hash->digest.algo)) + ":" +
                                      content::to_hex(hash->digest) + " is not in the store");
  }
  if (const auto* ipfs = std::get_if<IpfsRequest>(&route)) {
    if (auto refused = require_get_or_head(request)) co_return std::move(*refused);
    const Negotiation negotiated = negotiate_format(ipfs->query, request.header("Accept"));
    if (!negotiated.error.empty()) co_return Response::text(400, negotiated.error);
    if (has_only_if_cached(request.header("Cache-Control"))) {
      Response r;
      r.status = 412;
      co_return r;
    }
    co_return Response::text(404, ipfs->cid.to_string() + " is not in the store");
  }
  if (std::holds_alternative<ApiRequest>(route)) {
    if (auto refused = check_admin(request, admin_token_)) co_return std::move(*refused);
    co_return Response::text(501, "admin API: not implemented yet");
  }
  co_return Response::text(404, "not found");
}

}  // namespace srcgate::server
