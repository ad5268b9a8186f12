// Interim: the real client lands in the next commits; until then every send()
// fails with bad_url so that the tree links.
#include "server/http_client.hpp"

#include <algorithm>

namespace srcgate::server {

std::string_view to_string(ClientErrc code) {
  switch (code) {
    case ClientErrc::bad_url:
      return "bad_url";
    case ClientErrc::resolve:
      return "resolve";
    case ClientErrc::connect:
      return "connect";
    case ClientErrc::tls:
      return "tls";
    case ClientErrc::proxy:
      return "proxy";
    case ClientErrc::timeout:
      return "timeout";
    case ClientErrc::stall:
      return "stall";
    case ClientErrc::reset:
      return "reset";
    case ClientErrc::protocol:
      return "protocol";
    case ClientErrc::too_many_redirects:
      return "too_many_redirects";
    case ClientErrc::redirect_refused:
      return "redirect_refused";
  }
  return "unknown";
}

std::string_view ClientResponse::header(std::string_view name) const {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
  for (const auto& [n, v] : headers()) {
    if (n.size() == name.size() &&
        std::equal(n.begin(), n.end(), name.begin(),
                   [&](char a, char b) { return lower(a) == lower(b); })) {
      return v;
    }
  }
  return {};
}

class HttpClient::Impl {
 public:
  explicit Impl(HttpClientOptions o) : options(std::move(o)) {}
  HttpClientOptions options;
};

HttpClient::HttpClient(HttpClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

Awaitable<ClientResult<std::unique_ptr<ClientResponse>>> HttpClient::send(ClientRequest request) {
  co_return ClientError{ClientErrc::bad_url, request.url + ": the HTTP client is not built yet"};
}

const HttpClientOptions& HttpClient::options() const { return impl_->options; }

}  // namespace srcgate::server
