// Proxy selection from http_proxy / https_proxy / no_proxy, with the no_proxy
// forms curl documents: host names, domain suffixes with or without a leading
// dot, IP literals, CIDR ranges, ":port" and "*".
#include "server/proxy_settings.hpp"

#include <catch2/catch.hpp>

using namespace srcgate::server;
using srcgate::content::Errc;

namespace {

using Env = std::map<std::string, std::string>;

ProxySettings settings(const Env& env) {
  auto s = ProxySettings::from_environment(env);
  INFO((s ? std::string() : s.error().message));
  REQUIRE(s.has_value());
  return *s;
}

Url url(std::string_view text) {
  auto u = parse_url(text);
  REQUIRE(u.has_value());
  return *u;
}

// The proxy chosen for `target`, as "host:port", or "direct".
std::string route(const ProxySettings& s, std::string_view target) {
  const auto p = s.proxy_for(url(target));
  return p ? p->host_port() : "direct";
}

}  // namespace

TEST_CASE("no variables: every request is direct", "[proxy]") {
  const auto s = settings({});
  CHECK_FALSE(s.http_proxy);
  CHECK_FALSE(s.https_proxy);
  CHECK(s.no_proxy.empty());
  CHECK(route(s, "http://example.com/") == "direct");
  CHECK(route(s, "https://example.com/") == "direct");
  CHECK(route(ProxySettings{}, "https://example.com/") == "direct");
}

TEST_CASE("http_proxy serves http URLs and https_proxy https URLs", "[proxy]") {
  const auto s = settings({{"http_proxy", "http://proxy-a:3128"}, {"https_proxy", "proxy-b:8080"}});
  REQUIRE(s.http_proxy);
  CHECK(s.http_proxy->to_string() == "http://proxy-a:3128/");
  REQUIRE(s.https_proxy);
  CHECK(s.https_proxy->scheme == "http");  // no scheme: http://
  CHECK(route(s, "http://example.com/") == "proxy-a:3128");
  CHECK(route(s, "https://example.com/") == "proxy-b:8080");

  const auto only_http = settings({{"http_proxy", "http://proxy-a:3128/"}});
  CHECK(route(only_http, "https://example.com/") == "direct");
  CHECK(route(settings({{"http_proxy", "proxy"}}), "http://x/") == "proxy:80");
}

TEST_CASE("lower-case variables win over upper-case ones, empty ones do not count", "[proxy]") {
  const auto s = settings({{"http_proxy", "http://lower:1"},
                           {"HTTP_PROXY", "http://upper:2"},
                           {"https_proxy", ""},
                           {"HTTPS_PROXY", "http://upper:3"},
                           {"NO_PROXY", "internal.example"}});
  CHECK(route(s, "http://example.com/") == "lower:1");
  CHECK(route(s, "https://example.com/") == "upper:3");
  CHECK(s.no_proxy == std::vector<std::string>{"internal.example"});
  CHECK(route(s, "https://a.internal.example/") == "direct");
  const auto both =
      settings({{"http_proxy", "p:1"}, {"no_proxy", "a.example"}, {"NO_PROXY", "b.example"}});
  CHECK(route(both, "http://a.example/") == "direct");
  CHECK(route(both, "http://b.example/") == "p:1");
}

TEST_CASE("unusable proxy URLs are errors naming the variable", "[proxy]") {
  const std::pair<Env, std::string> cases[] = {
      {{{"http_proxy", "https://secure-proxy:443"}}, "http_proxy"},
      {{{"HTTPS_PROXY", "socks5://proxy:1080"}}, "HTTPS_PROXY"},
      {{{"https_proxy", "http://proxy:99999"}}, "https_proxy"},
      {{{"http_proxy", "http://user:secret@proxy:3128"}}, "http_proxy"},
  };
  for (const auto& [env, name] : cases) {
    auto s = ProxySettings::from_environment(env);
    INFO(name);
    REQUIRE_FALSE(s.has_value());
    INFO(s.error().message);
    CHECK(s.error().message.find(name) != std::string::npos);
  }
}

TEST_CASE("no_proxy: names, suffixes, IP literals, CIDR, ports and *", "[proxy]") {
  const auto s = settings({{"http_proxy", "http://p:3128"},
                           {"https_proxy", "http://p:3128"},
                           {"no_proxy",
                            " Example.COM , .internal.test,localhost,10.0.0.0/8,192.168.1.7,"
                            "::1,[fd00::]/8:8080,svc.local:8443,,2001:db8::/32"}});
  CHECK(s.no_proxy == std::vector<std::string>{
                          "example.com", ".internal.test", "localhost", "10.0.0.0/8", "192.168.1.7",
                          "::1", "[fd00::]/8:8080", "svc.local:8443", "2001:db8::/32"});
  // Domain names match themselves and every name below them, with or without a dot.
  CHECK(route(s, "http://example.com/") == "direct");
  CHECK(route(s, "https://www.example.com/") == "direct");
  CHECK(route(s, "http://notexample.com/") == "p:3128");
  CHECK(route(s, "http://example.com.evil/") == "p:3128");
  CHECK(route(s, "http://internal.test/") == "direct");
  CHECK(route(s, "http://a.b.internal.test/") == "direct");
  CHECK(route(s, "http://localhost:8080/") == "direct");
  // IP literals and CIDR ranges compare addresses, not text.
  CHECK(route(s, "http://10.1.2.3/") == "direct");
  CHECK(route(s, "http://11.0.0.1/") == "p:3128");
  CHECK(route(s, "http://192.168.1.7/") == "direct");
  CHECK(route(s, "http://192.168.1.8/") == "p:3128");
  CHECK(route(s, "http://[::1]:9/") == "direct");
  CHECK(route(s, "http://[0:0::1]/") == "direct");
  CHECK(route(s, "http://[2001:db8:ff::1]/") == "direct");
  CHECK(route(s, "http://[2001:db9::1]/") == "p:3128");
  // A port narrows the entry.
  CHECK(route(s, "http://[fd12::1]:8080/") == "direct");
  CHECK(route(s, "http://[fd12::1]:8081/") == "p:3128");
  CHECK(route(s, "https://svc.local:8443/") == "direct");
  CHECK(route(s, "https://svc.local/") == "p:3128");
  CHECK(route(s, "https://a.svc.local:8443/") == "direct");

  const auto all = settings({{"https_proxy", "p:1"}, {"no_proxy", "*"}});
  CHECK(route(all, "https://anything.example/") == "direct");
  const auto wildcard = settings({{"https_proxy", "p:1"}, {"no_proxy", "*.corp.example"}});
  CHECK(route(wildcard, "https://git.corp.example/") == "direct");
  CHECK(route(wildcard, "https://corp.example.org/") == "p:1");
}
