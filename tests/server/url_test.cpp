// Url parsing and redirect resolution. The resolution vectors are RFC 3986
// §5.4's own examples (base "http://a/b/c/d;p?q"), with the fragment dropped
// (the client never sends one) and "g:h" / "http:g" being references this
// http-only client cannot fetch.
#include "server/url.hpp"

#include <catch2/catch.hpp>

using namespace srcgate::server;
using srcgate::content::Errc;

namespace {

Url must_parse(std::string_view text) {
  auto url = parse_url(text);
  INFO(text << ": " << (url ? std::string() : url.error().message));
  REQUIRE(url.has_value());
  return *url;
}

std::string resolved(std::string_view location) {
  static const Url base = must_parse("http://a/b/c/d;p?q");
  auto url = resolve_reference(base, location);
  INFO(location << ": " << (url ? std::string() : url.error().message));
  REQUIRE(url.has_value());
  return url->to_string();
}

}  // namespace

TEST_CASE("an absolute URL splits into scheme, host, port and target", "[url]") {
  const Url u = must_parse("HTTPS://Tarballs.NixOS.org/sha256/0abc?x=1#frag");
  CHECK(u.scheme == "https");
  CHECK(u.host == "tarballs.nixos.org");
  CHECK(u.port == 443);
  CHECK(u.target == "/sha256/0abc?x=1");
  CHECK(u.https());
  CHECK(u.authority() == "tarballs.nixos.org");
  CHECK(u.host_port() == "tarballs.nixos.org:443");
  CHECK(u.to_string() == "https://tarballs.nixos.org/sha256/0abc?x=1");

  const Url p = must_parse("http://127.0.0.1:8080");
  CHECK(p.scheme == "http");
  CHECK(p.host == "127.0.0.1");
  CHECK(p.port == 8080);
  CHECK(p.target == "/");
  CHECK(p.authority() == "127.0.0.1:8080");
  CHECK(p.to_string() == "http://127.0.0.1:8080/");

  // An explicit default port is the default port; an empty port too (RFC 3986 §3.2.3).
  CHECK(must_parse("http://h:80/x").authority() == "h");
  CHECK(must_parse("http://h:/x").port == 80);
  CHECK(must_parse("https://h:80/").authority() == "h:80");
  CHECK(must_parse("http://h?q").target == "/?q");
  CHECK(must_parse("http://h/a/./b/../c").target == "/a/c");
}

TEST_CASE("IPv6 literals lose their brackets in host and keep them in authorities", "[url]") {
  const Url u = must_parse("http://[::1]:8080/x");
  CHECK(u.host == "::1");
  CHECK(u.port == 8080);
  CHECK(u.authority() == "[::1]:8080");
  CHECK(u.host_port() == "[::1]:8080");
  CHECK(u.to_string() == "http://[::1]:8080/x");
  const Url d = must_parse("https://[2001:DB8::1]/");
  CHECK(d.host == "2001:db8::1");
  CHECK(d.authority() == "[2001:db8::1]");
  CHECK(d.host_port() == "[2001:db8::1]:443");
}

TEST_CASE("URLs that are not fetchable http(s) URLs are errors", "[url]") {
  const std::pair<const char*, Errc> cases[] = {
      {"ftp://example.com/x", Errc::unsupported},
      {"mailto:a@b", Errc::unsupported},
      {"http://user:pw@example.com/", Errc::unsupported},
      {"http://user@example.com/", Errc::unsupported},
      {"/relative/path", Errc::malformed},
      {"example.com/x", Errc::malformed},
      {"http:example.com", Errc::malformed},
      {"http:///path", Errc::malformed},
      {"http://:80/", Errc::malformed},
      {"http://h:0/", Errc::malformed},
      {"http://h:65536/", Errc::malformed},
      {"http://h:99999999999999999999/", Errc::malformed},
      {"http://h:8x/", Errc::malformed},
      {"http://h/a b", Errc::malformed},
      {"http://h/a\tb", Errc::malformed},
      {"http://h/a\r\nHost: evil", Errc::malformed},
      {" http://h/", Errc::malformed},
      {"http://[::1/", Errc::malformed},
      {"http://[zz::1]/", Errc::malformed},
      {"http://[::1]x/", Errc::malformed},
      {"http://exa%6dple.com/", Errc::malformed},
      {"http://a:b:c/", Errc::malformed},
      {"", Errc::malformed},
  };
  for (const auto& [text, code] : cases) {
    auto url = parse_url(text);
    INFO(text);
    REQUIRE_FALSE(url.has_value());
    INFO(url.error().message);
    CHECK(url.error().code == code);
    CHECK_FALSE(url.error().message.empty());
  }
  auto del = parse_url(std::string_view("http://h/\x7f", 10));
  CHECK_FALSE(del.has_value());
}

TEST_CASE("RFC 3986 5.4.1: normal examples", "[url][rfc3986]") {
  CHECK(resolved("g") == "http://a/b/c/g");
  CHECK(resolved("./g") == "http://a/b/c/g");
  CHECK(resolved("g/") == "http://a/b/c/g/");
  CHECK(resolved("/g") == "http://a/g");
  CHECK(resolved("//g") == "http://g/");  // "http://g": the empty path is sent as "/"
  CHECK(resolved("?y") == "http://a/b/c/d;p?y");
  CHECK(resolved("g?y") == "http://a/b/c/g?y");
  CHECK(resolved("#s") == "http://a/b/c/d;p?q");
  CHECK(resolved("g#s") == "http://a/b/c/g");
  CHECK(resolved("g?y#s") == "http://a/b/c/g?y");
  CHECK(resolved(";x") == "http://a/b/c/;x");
  CHECK(resolved("g;x") == "http://a/b/c/g;x");
  CHECK(resolved("g;x?y#s") == "http://a/b/c/g;x?y");
  CHECK(resolved("") == "http://a/b/c/d;p?q");
  CHECK(resolved(".") == "http://a/b/c/");
  CHECK(resolved("./") == "http://a/b/c/");
  CHECK(resolved("..") == "http://a/b/");
  CHECK(resolved("../") == "http://a/b/");
  CHECK(resolved("../g") == "http://a/b/g");
  CHECK(resolved("../..") == "http://a/");
  CHECK(resolved("../../") == "http://a/");
  CHECK(resolved("../../g") == "http://a/g");
}

TEST_CASE("RFC 3986 5.4.2: abnormal examples", "[url][rfc3986]") {
  CHECK(resolved("../../../g") == "http://a/g");
  CHECK(resolved("../../../../g") == "http://a/g");
  CHECK(resolved("/./g") == "http://a/g");
  CHECK(resolved("/../g") == "http://a/g");
  CHECK(resolved("g.") == "http://a/b/c/g.");
  CHECK(resolved(".g") == "http://a/b/c/.g");
  CHECK(resolved("g..") == "http://a/b/c/g..");
  CHECK(resolved("..g") == "http://a/b/c/..g");
  CHECK(resolved("./../g") == "http://a/b/g");
  CHECK(resolved("./g/.") == "http://a/b/c/g/");
  CHECK(resolved("g/./h") == "http://a/b/c/g/h");
  CHECK(resolved("g/../h") == "http://a/b/c/h");
  CHECK(resolved("g;x=1/./y") == "http://a/b/c/g;x=1/y");
  CHECK(resolved("g;x=1/../y") == "http://a/b/c/y");
  CHECK(resolved("g?y/./x") == "http://a/b/c/g?y/./x");
  CHECK(resolved("g?y/../x") == "http://a/b/c/g?y/../x");
  CHECK(resolved("g#s/./x") == "http://a/b/c/g");
  CHECK(resolved("g#s/../x") == "http://a/b/c/g");
  // Strict parsers (the RFC's recommendation) read "http:g" as an absolute
  // URL without an authority, which cannot be fetched; "g:h" likewise.
  const Url base = must_parse("http://a/b/c/d;p?q");
  CHECK_FALSE(resolve_reference(base, "http:g").has_value());
  auto gh = resolve_reference(base, "g:h");
  REQUIRE_FALSE(gh.has_value());
  CHECK(gh.error().code == Errc::unsupported);
}

TEST_CASE("redirect Locations keep or replace the base's scheme and port", "[url]") {
  const Url base = must_parse("https://mirror.example:8443/sha256/abc");
  auto scheme_relative = resolve_reference(base, "//cdn.example/x");
  REQUIRE(scheme_relative.has_value());
  CHECK(scheme_relative->to_string() == "https://cdn.example/x");
  CHECK(scheme_relative->port == 443);
  auto absolute_path = resolve_reference(base, "/other?q=1");
  REQUIRE(absolute_path.has_value());
  CHECK(absolute_path->to_string() == "https://mirror.example:8443/other?q=1");
  auto absolute = resolve_reference(base, "HTTP://Plain.Example:81/y");
  REQUIRE(absolute.has_value());
  CHECK(absolute->to_string() == "http://plain.example:81/y");
  CHECK_FALSE(resolve_reference(base, "/a b").has_value());
  CHECK_FALSE(resolve_reference(base, "//user@host/").has_value());
}
