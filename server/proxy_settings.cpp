#include "server/proxy_settings.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/system/error_code.hpp>

namespace srcgate::server {

namespace {

namespace ip = boost::asio::ip;
using content::Errc;
using content::make_error;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The first non-empty value among `names` in `env`, with the name it came from.
std::optional<std::pair<std::string, std::string>> lookup(
    const std::map<std::string, std::string>& env, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const auto it = env.find(name);
    if (it != env.end() && !trim(it->second).empty()) {
      return std::pair<std::string, std::string>(name, std::string(trim(it->second)));
    }
  }
  return std::nullopt;
}

content::Result<std::optional<Url>> proxy_url(const std::map<std::string, std::string>& env,
                                              std::initializer_list<const char*> names) {
  const auto found = lookup(env, names);
  if (!found) return std::optional<Url>();
  const auto& [name, value] = *found;
  const std::string text =
      value.find("://") == std::string::npos ? "http://" + value : value;  // curl's default
  auto url = parse_url(text);
  if (!url) return make_error(url.error().code, name + ": " + url.error().message);
  if (url->https()) {
    return make_error(Errc::unsupported, name + "=" + value +
                                             ": only http:// proxies are supported (https:// "
                                             "targets tunnel through them with CONNECT)");
  }
  return std::optional<Url>(std::move(*url));
}

std::optional<ip::address> ip_literal(std::string_view host) {
  boost::system::error_code ec;
  const auto addr = ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  return addr;
}

// Whether the no_proxy entry `entry` (trimmed, lower case) covers `target`.
bool matches(std::string_view entry, const Url& target) {
  if (entry == "*") return true;
  // Split off ":port": "[v6]:port", "host:port"; a bare IPv6 literal has
  // several colons and no port.
  std::string_view host = entry;
  std::optional<std::string_view> port;
  std::string cidr_storage;
  if (host.starts_with('[')) {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    auto rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (rest.starts_with('/')) {  // "[fd00::]/8" or "[fd00::]/8:8080"
      const auto colon = rest.find(':');
      cidr_storage = std::string(host) + std::string(rest.substr(0, colon));
      host = cidr_storage;
      rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon);
    }
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      port = rest.substr(1);
    }
  } else if (const auto colon = host.find(':');
             colon != std::string_view::npos &&
             host.find(':', colon + 1) == std::string_view::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (port && *port != std::to_string(target.port)) return false;
  if (host.empty()) return false;

  if (const auto slash = host.find('/'); slash != std::string_view::npos) {  // CIDR
    const auto addr = ip_literal(target.host);
    const auto net_addr = ip_literal(host.substr(0, slash));
    if (!addr || !net_addr) return false;
    const auto bits_text = host.substr(slash + 1);
    unsigned bits = 0;
    if (bits_text.empty() || bits_text.size() > 3) return false;
    for (const char c : bits_text) {
      if (c < '0' || c > '9') return false;
      bits = bits * 10 + static_cast<unsigned>(c - '0');
    }
    if (net_addr->is_v4() && addr->is_v4()) {
      if (bits > 32) return false;
      const auto net = ip::make_network_v4(net_addr->to_v4(), static_cast<unsigned short>(bits));
      const auto host_net = ip::make_network_v4(addr->to_v4(), 32);
      return host_net.is_subnet_of(net) || host_net == net;
    }
    if (net_addr->is_v6() && addr->is_v6()) {
      if (bits > 128) return false;
      const auto net = ip::make_network_v6(net_addr->to_v6(), static_cast<unsigned short>(bits));
      const auto host_net = ip::make_network_v6(addr->to_v6(), 128);
      return host_net.is_subnet_of(net) || host_net == net;
    }
    return false;
  }
  if (const auto entry_addr = ip_literal(host)) {
    const auto addr = ip_literal(target.host);
    return addr && *addr == *entry_addr;
  }
  // A domain: "example.com", ".example.com" and "*.example.com" all cover
  // example.com and every name below it.
  if (host.starts_with("*.")) host.remove_prefix(2);
  while (host.starts_with('.')) host.remove_prefix(1);
  while (host.ends_with('.')) host.remove_suffix(1);
  if (host.empty()) return false;
  std::string_view name = target.host;
  while (name.ends_with('.')) name.remove_suffix(1);
  if (name == host) return true;
  return name.size() > host.size() && name.ends_with(host) &&
         name[name.size() - host.size() - 1] == '.';
}

}  // namespace

content::Result<ProxySettings> ProxySettings::from_environment(
    const std::map<std::string, std::string>& env) {
  ProxySettings out;
  auto http = proxy_url(env, {"http_proxy", "HTTP_PROXY"});
  if (!http) return http.error();
  out.http_proxy = std::move(*http);
  auto https = proxy_url(env, {"https_proxy", "HTTPS_PROXY"});
  if (!https) return https.error();
  out.https_proxy = std::move(*https);
  if (const auto no = lookup(env, {"no_proxy", "NO_PROXY"})) {
    std::string_view list = no->second;
    while (!list.empty()) {
      const auto comma = list.find(',');
      const auto item = trim(list.substr(0, comma));
      if (!item.empty()) {
        std::string entry(item);
        for (char& c : entry) c = lower(c);
        out.no_proxy.push_back(std::move(entry));
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return out;
}

std::optional<Url> ProxySettings::proxy_for(const Url& target) const {
  const auto& proxy = target.https() ? https_proxy : http_proxy;
  if (!proxy) return std::nullopt;
  for (const auto& entry : no_proxy) {
    if (matches(entry, target)) return std::nullopt;
  }
  return proxy;
}

}  // namespace srcgate::server
