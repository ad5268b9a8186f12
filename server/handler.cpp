#include "server/handler.hpp"

#include <algorithm>

#include "server/http_policy.hpp"

namespace srcgate::server {

Awaitable<content::Result<BodyPiece>> BodySource::next_piece() {
  auto bytes = co_await next();
  if (!bytes) co_return bytes.error();
  BodyPiece piece;
  piece.bytes = *bytes;
  co_return piece;
}

namespace {
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

std::string_view Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return lower(a) == lower(b);
        })) {
      return v;
    }
  }
  return {};
}

Response Response::text(unsigned status, std::string_view text) {
  Response r;
  r.status = status;
  r.body.reserve(text.size() + 1);
  r.body.append(text);
  r.body += '\n';
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return r;
}

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

}  // namespace srcgate::server
