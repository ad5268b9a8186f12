// A stand-in Handler for tests of the HTTP server, which answers as the
// gateway does for an empty store but has no store: every well-formed
// /<algo>/<hash> and /ipfs/<cid> request is a 404 "not in the store",
// `Cache-Control: only-if-cached` on /ipfs/ is 412, a malformed one is 400
// with the router's reason, other methods than GET and HEAD are 405, and the
// admin API is 403 when no token is configured, 401 without the right bearer
// token, and 501 with it.
// Thread-safety: immutable after construction; handle() is safe from any thread.
#pragma once

#include <string>
#include <variant>

#include "content/digest.hpp"
#include "content/encoding.hpp"
#include "server/handler.hpp"
#include "server/http_policy.hpp"

namespace srcgate::server {

class EmptyStoreHandler final : public Handler {
 public:
  // `admin_token` "" disables the admin API.
  explicit EmptyStoreHandler(std::string admin_token) : admin_token_(std::move(admin_token)) {}
  Awaitable<Response> handle(const Request& request) override;

 private:
  std::string admin_token_;
};

inline Awaitable<Response> EmptyStoreHandler::handle(const Request& request) {
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
