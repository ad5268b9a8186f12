// The Handler of a gateway whose store is not wired in yet, which answers as
// the real one does for an empty store: every well-formed /<algo>/<hash> and
// /ipfs/<cid> request is a fast 404 "not in store" (Nix then falls back at
// once), `Cache-Control: only-if-cached` on /ipfs/ is 412, a malformed one is
// 400 with the router's reason, other methods than GET and HEAD are 405, and
// the admin API is 403 when no token is configured, 401 without the right
// bearer token, and 501 (not implemented yet) with it.
// Thread-safety: immutable after construction; handle() is safe from any thread.
#pragma once

#include <string>

#include "server/handler.hpp"

namespace srcgate::server {

class EmptyStoreHandler final : public Handler {
 public:
  // `admin_token` "" disables the admin API.
  explicit EmptyStoreHandler(std::string admin_token) : admin_token_(std::move(admin_token)) {}
  Awaitable<Response> handle(const Request& request) override;

 private:
  std::string admin_token_;
};

// Shared pieces for handlers: 405 with `Allow: GET, HEAD` unless the method is
// GET or HEAD; the admin API's authentication answer (nullopt: authorised).
std::optional<Response> require_get_or_head(const Request& request);
std::optional<Response> check_admin(const Request& request, const std::string& admin_token);

}  // namespace srcgate::server
