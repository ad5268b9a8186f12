// ProxySettings: which proxy, if any, an upstream request goes through, from
// the conventional environment variables: http_proxy / HTTP_PROXY for http://
// URLs, https_proxy / HTTPS_PROXY for https:// URLs (lower case wins, as in
// curl), no_proxy / NO_PROXY for exceptions: a comma-separated list of host
// names, domain suffixes (".example.com" or "example.com" both match
// "a.example.com" and "example.com"), IP literals, CIDR ranges
// ("10.0.0.0/8"), optionally with ":port", or "*" for everything. A proxy URL
// without a scheme is taken as http://; only http:// proxies are supported
// (https:// targets tunnel through them with CONNECT).
// Thread-safety: a value; const methods are pure.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "content/error.hpp"
#include "server/url.hpp"

namespace srcgate::server {

class ProxySettings {
 public:
  ProxySettings() = default;  // no proxy

  // Reads the variables above from `env` (e.g. config::environment_map()).
  // An unparsable proxy URL is an error naming the variable.
  static content::Result<ProxySettings> from_environment(
      const std::map<std::string, std::string>& env);

  // The proxy to use for `target`, or nullopt for a direct connection.
  std::optional<Url> proxy_for(const Url& target) const;

  std::optional<Url> http_proxy;
  std::optional<Url> https_proxy;
  std::vector<std::string> no_proxy;  // entries as written, trimmed, lower case
};

}  // namespace srcgate::server
